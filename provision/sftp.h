/*
 * sftp.h - upload a file to a node over the session's SFTP subsystem.
 *
 * SFTP cannot sudo: files go to a temporary path the login user may
 * write (under /tmp), and a remote command run as root moves them into
 * place with `install`. The upload creates its path exclusively (O_EXCL:
 * a planted file or symlink makes it fail instead of being followed).
 *
 * Same thread rule as ssh.h: the caller owns the session on this thread.
 * The session is left blocking, as bs_ssh_exec expects it, and usable for
 * the next command whether the upload worked or not (unless the
 * connection itself broke).
 */
#ifndef BS_PROVISION_SFTP_H
#define BS_PROVISION_SFTP_H

#include <stddef.h>

#include "provision/ssh.h"
#include "util/error.h"

/*
 * Create remote_path (which must not exist) with mode and write len bytes
 * of data to it, all within timeout_ms (0: 60 s). On failure after the
 * file was created, it is removed. Errors: BS_ERR_REMOTE (the server
 * refused: exists, permission, no space; the message names the path),
 * BS_ERR_TIMEOUT, BS_ERR_NETWORK, BS_ERR_INTERRUPTED.
 */
int bs_ssh_upload(struct bs_ssh *s, const char *remote_path, const void *data, size_t len, int mode,
		  long timeout_ms, struct bs_err *err);

/* A fresh temporary path on the node: /tmp/.bootstrap-<tag>-<16 hex>,
 * unpredictable (the hex comes from the OS's random source). Caller frees. */
char *bs_ssh_temp_path(const char *tag);

#endif
