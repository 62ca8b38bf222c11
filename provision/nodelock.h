/*
 * nodelock.h - a lock on the node itself, and the node's audit log.
 *
 * Several machines (laptops, CI runners) may run bootstrap against the
 * same fleet, so a run holds a lock on each node it changes, and appends
 * one line per action to the node's audit log. Both ride ONE exec channel
 * on the node's existing SSH session, running a small script:
 *
 *   exec 9>>DIR/lock; flock [-n | -w SECONDS] 9 && echo LOCKED && exec cat >>DIR/audit.log
 *
 * (DIR defaults to /var/lib/bootstrap, made 0700; the files are 0600.)
 * The remote `cat` inherits the locked descriptor and lives as long as the
 * channel: when the run ends, or its process dies by any signal, the
 * connection drops, sshd ends the session, cat reads EOF, exits, and the
 * kernel releases the lock. Nothing is left to clean up after SIGKILL.
 * The lock outlives a connection that vanishes without a FIN or RST
 * (a network partition) until sshd notices: ClientAliveInterval, or TCP
 * keepalive.
 *
 * While the lock is held, the owner text ("pid 123 on HOST by USER since
 * 2026-11-30T14:00:00Z (bootstrap apply recipe.yaml)") is in DIR/lock.owner,
 * so a run that finds the node locked can say who holds it. Audit lines
 * written to the channel's stdin arrive in DIR/audit.log:
 *
 *   2026-11-30T14:00:00Z pid 123 on HOST by USER: apply demo: create demo-hello-1 (missing)
 *
 * Threads and the session: a struct bs_nodelock is used by one thread at
 * a time. Its calls hold the session's lock (ssh_priv.h) from start to
 * end; the same session carries the docker.sock tunnel (tunnel.c), whose
 * owner thread pumps under that lock and never lets go of it with a
 * channel open half done. So:
 *  - a half-sent packet left by the tunnel (or by a timed-out call here)
 *    must be finished by the same call before anything else is sent, so
 *    these functions refuse to send while libssh2 reports one pending
 *    (BS_ERR_CONFLICT) instead of corrupting the session;
 *  - like bs_ssh_exec, they expect the session blocking on entry, run it
 *    non-blocking with their own deadlines, and leave it blocking;
 *  - release the lock before bs_ssh_hangup() or bs_ssh_close() when an
 *    audit line was sent: the release waits for the node side's holder to
 *    end, which it does only once every line is written; a hang-up could
 *    drop the last ones. With none sent, a hang-up ends the holder just as
 *    well and saves the release's round trip.
 */
#ifndef BS_PROVISION_NODELOCK_H
#define BS_PROVISION_NODELOCK_H

#include <stdbool.h>

#include "provision/ssh.h"
#include "util/error.h"

#define BS_NODELOCK_DIR "/var/lib/bootstrap"

struct bs_nodelock_opts {
	const char *owner; /* what lock.owner says; NULL: bs_lock_owner_text(NULL) */
	long wait_ms;	   /* 0: fail at once when held; else wait this long for it */
	bool sudo;	   /* the SSH user is not root: run under sudo -n */
	const char *dir;   /* NULL: BS_NODELOCK_DIR (tests use a temp dir) */
	/* a script run under the lock, in a subshell, once it is taken; its
	 * stdout (up to 4 MiB) is bs_nodelock_then()'s. It rides the lock's
	 * command: one channel, one shell fewer on the node (the node's
	 * detection, so that nothing is looked at or changed before the lock
	 * is held). Its stdin is /dev/null; the lock is held while it runs,
	 * and its output ends where the lock's command prints a marker line
	 * after it (a line BS-THEN-END of its own would cut it short).
	 * NULL: none */
	const char *then;
	/* set by a signal handler: the wait for the lock ends within 100 ms
	 * (as with the session's own cancel flag); NULL: the session's only */
	volatile sig_atomic_t *cancel;
};

#define BS_NODELOCK_OPTS_INIT                                                                      \
	{                                                                                          \
		NULL, 0, false, NULL, NULL, NULL                                                   \
	}

struct bs_nodelock;

/*
 * Take the node's lock over s (borrowed: it must outlive the lock).
 * node_name names the node in messages. Errors: BS_ERR_LOCKED (held by
 * another run: the message names the holder and the fix), BS_ERR_AUTH
 * (sudo refused), BS_ERR_REMOTE (the node could not make the lock: the
 * message carries its stderr), BS_ERR_UNSUPPORTED (no flock(1) on the
 * node), BS_ERR_TIMEOUT, BS_ERR_INTERRUPTED (opts->cancel or the session's),
 * BS_ERR_NETWORK, BS_ERR_CONFLICT (the session has a send pending).
 * On success *out is the caller's; free it with bs_nodelock_release().
 */
int bs_nodelock_acquire(struct bs_nodelock **out, struct bs_ssh *s, const char *node_name,
			const struct bs_nodelock_opts *opts, struct bs_err *err);

/*
 * Append "TIME pid PID on HOST by USER: line" to the node's audit log.
 * line is one line: control characters are replaced, long lines cut.
 * Bounded (a few seconds). BS_ERR_LOCKED when the node side of the lock
 * has ended (the lock is lost: stop changing the node); BS_ERR_TIMEOUT
 * leaves the session unusable.
 */
int bs_nodelock_audit(struct bs_nodelock *l, const char *line, struct bs_err *err);

/* Was an audit line sent? Only then must a release be waited for before
 * the session hangs up (bs_nodelock_release, below). */
bool bs_nodelock_audited(const struct bs_nodelock *l);

/* What opts->then printed (NUL-terminated, *len bytes), or NULL. */
const char *bs_nodelock_then(const struct bs_nodelock *l, size_t *len);

/* Send EOF, wait (bounded) for the node side to end, free. NULL is fine. */
void bs_nodelock_release(struct bs_nodelock *l);

/*
 * "pid 123 on HOST by USER since 2026-11-30T14:00:00Z (what)", the owner
 * text of both the node lock and the local project lock (deploy/lock.h);
 * without " (what)" when what is NULL. Control characters become spaces.
 * Caller frees.
 */
char *bs_lock_owner_text(const char *what);

#endif
