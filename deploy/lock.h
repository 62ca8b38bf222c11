/*
 * lock.h - the local project lock: two runs of `bootstrap apply|plan|destroy`
 * from the same machine never work on the same fleet at once.
 *
 * The lock is flock(2) on STATE_DIR/locks/PROJECT.lock, held through a
 * descriptor kept open for the run (close-on-exec, so commands we start do
 * not inherit it). The kernel drops it when the process ends, however it
 * ends: a SIGKILL leaves no stale lock, and nothing has to be cleaned up.
 * While held, the file holds one owner line (bs_lock_owner_text):
 *
 *   pid 123 on HOST by USER since 2026-11-30T14:00:00Z (bootstrap apply recipe.yaml)
 *
 * which a refused run quotes. flock locks belong to the open file, so a
 * second acquire in the same process is refused too. The lock is local:
 * runs from other machines meet at the node lock (provision/nodelock.h).
 *
 * Threads: acquire and release from one thread (the coordinator's).
 */
#ifndef BS_DEPLOY_LOCK_H
#define BS_DEPLOY_LOCK_H

#include <signal.h>

#include "util/error.h"

struct bs_local_lock;

/*
 * Take STATE_DIR/locks/PROJECT.lock, making the directories (0700) as
 * needed. what says what the run does ("bootstrap apply recipe.yaml"),
 * for the owner line. wait_ms 0 tries once; more retries every 150 ms
 * until that much time has passed. cancel (may be NULL) is checked while
 * waiting.
 *
 * Errors: BS_ERR_INVALID (a project name other than [a-z0-9._-]),
 * BS_ERR_LOCKED (held by another run: the message names the holder and
 * the fix), BS_ERR_INTERRUPTED, BS_ERR_IO. On success *out is the
 * caller's, for bs_local_lock_release().
 */
int bs_local_lock_acquire(struct bs_local_lock **out, const char *state_dir, const char *project,
			  const char *what, long wait_ms, volatile sig_atomic_t *cancel,
			  struct bs_err *err);

/* Clear the owner line and drop the lock. NULL is fine. */
void bs_local_lock_release(struct bs_local_lock *l);

#endif
