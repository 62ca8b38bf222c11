/*
 * ssh_priv.h - for provision/ files that drive the session themselves
 * (SFTP, the docker.sock tunnel). Not for the rest of the program.
 *
 * One thread at a time drives a session: hold bs_ssh_lock from the start
 * of an operation to its end (bs_ssh_exec does). The tunnel's owner thread
 * pumps under the same lock. Functions that leave the session non-blocking
 * must say so; bs_ssh_exec and the others expect it blocking on entry.
 */
#ifndef BS_PROVISION_SSH_PRIV_H
#define BS_PROVISION_SSH_PRIV_H

#include <libssh2.h>
#include <signal.h>

#include "provision/ssh.h"

LIBSSH2_SESSION *bs_ssh_session(struct bs_ssh *s);

/* Take and give back the session (recursive). bs_ssh_unlock also wakes
 * the waker; the owner thread itself lets go with bs_ssh_unlock_quiet. */
void bs_ssh_lock(struct bs_ssh *s);
void bs_ssh_unlock(struct bs_ssh *s);
void bs_ssh_unlock_quiet(struct bs_ssh *s);

/* A non-blocking descriptor written to whenever an operation lets go of
 * the session; -1 for none. */
void bs_ssh_set_waker(struct bs_ssh *s, int fd);
int bs_ssh_socket(const struct bs_ssh *s);
volatile sig_atomic_t *bs_ssh_cancel(const struct bs_ssh *s);

/* Poll the session's socket in the direction libssh2 is blocked on, at
 * most timeout_ms. poll()'s return value. */
int bs_ssh_wait_socket(struct bs_ssh *s, int timeout_ms);

/* libssh2's last error message for the session, or "unknown error". */
const char *bs_ssh_last_error(struct bs_ssh *s);

#endif
