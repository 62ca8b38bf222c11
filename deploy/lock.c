/*
 * lock.c - the local project lock. See lock.h.
 */
#include "deploy/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "provision/nodelock.h"
#include "util/clock.h"
#include "util/str.h"

#define POLL_MS 150
#define WAIT_MAX_MS (24L * 3600 * 1000)
#define PROJECT_MAX 128
#define OWNER_READ_MAX 1024

struct bs_local_lock {
	int fd;
	bool held;
	char *path;
};

static bool project_ok(const char *project)
{
	size_t i, n = strlen(project);

	if (n == 0 || n > PROJECT_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char c = project[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.'))
			return false;
	}
	return true;
}

/* mkdir -p, 0700 for what it makes (the state holds pinned keys and
 * certificates too). */
static int make_dirs(const char *dir, struct bs_err *err)
{
	char *copy = bs_xstrdup(dir);
	char *p;
	int rc = 0;

	for (p = copy + 1;; p++) {
		char saved = *p;

		if (saved != '/' && saved != '\0')
			continue;
		*p = '\0';
		if (mkdir(copy, 0700) != 0 && errno != EEXIST) {
			rc = bs_err_set(err, BS_ERR_IO, "cannot make the directory %s: %s", copy,
					strerror(errno));
			break;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	free(copy);
	return rc;
}

/* The holder's owner line, cleaned for a message; "" when there is none. */
static char *read_owner(int fd)
{
	char buf[OWNER_READ_MAX];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	size_t i;

	if (n < 0)
		n = 0;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	for (i = 0; buf[i] != '\0'; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = '?';
	return bs_xstrdup(buf);
}

static int write_owner(struct bs_local_lock *l, const char *what, struct bs_err *err)
{
	char *owner = bs_lock_owner_text(what);
	char *line = bs_xasprintf("%s\n", owner);
	size_t len = strlen(line);
	int rc = 0;

	if (ftruncate(l->fd, 0) != 0 || pwrite(l->fd, line, len, 0) != (ssize_t)len)
		rc = bs_err_set(err, BS_ERR_IO, "cannot write the lock file %s: %s", l->path,
				strerror(errno));
	free(owner);
	free(line);
	return rc;
}

static int held_error(const struct bs_local_lock *l, const char *project, long wait_ms,
		      struct bs_err *err)
{
	char *owner = read_owner(l->fd);
	const char *holder = owner[0] ? owner : "another run (its owner line is not written yet)";
	int rc;

	if (wait_ms <= 0)
		rc = bs_err_set(
			err, BS_ERR_LOCKED,
			"project %s is locked by %s; wait for it, or pass --lock-wait SECONDS (lock file %s)",
			project, holder, l->path);
	else
		rc = bs_err_set(
			err, BS_ERR_LOCKED,
			"project %s is still locked after %ld s, by %s; wait for it, or pass a longer --lock-wait SECONDS (lock file %s)",
			project, (wait_ms + 999) / 1000, holder, l->path);
	free(owner);
	return rc;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	/* a signal cuts it short: the caller looks at its cancel flag */
	nanosleep(&ts, NULL);
}

/* flock until it is ours, the wait is over, or cancel is set. */
static int take(struct bs_local_lock *l, const char *project, long wait_ms,
		volatile sig_atomic_t *cancel, struct bs_err *err)
{
	long long deadline;

	if (wait_ms > WAIT_MAX_MS)
		wait_ms = WAIT_MAX_MS; /* a day is forever here, and cannot overflow */
	deadline = bs_now_ms() + (wait_ms > 0 ? wait_ms : 0);

	for (;;) {
		long long left;

		if (flock(l->fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return bs_err_set(err, BS_ERR_IO, "cannot lock %s: %s", l->path,
					  strerror(errno));
		if (cancel != NULL && *cancel)
			return bs_err_set(err, BS_ERR_INTERRUPTED,
					  "interrupted while waiting for the lock of project %s",
					  project);
		left = deadline - bs_now_ms();
		if (left <= 0)
			return held_error(l, project, wait_ms, err);
		sleep_ms(left < POLL_MS ? (long)left : POLL_MS);
	}
}

int bs_local_lock_acquire(struct bs_local_lock **out, const char *state_dir, const char *project,
			  const char *what, long wait_ms, volatile sig_atomic_t *cancel,
			  struct bs_err *err)
{
	struct bs_local_lock *l = NULL;
	char *dir = NULL;
	int rc;

	*out = NULL;
	/* the recipe loader checks project names already; this one becomes a
	 * file name, so check again */
	if (project == NULL || !project_ok(project))
		return bs_err_set(
			err, BS_ERR_INVALID,
			"cannot lock project '%.60s': a project name for a lock file has only a-z, 0-9, '-', '_' and '.' (at most %d)",
			project ? project : "", PROJECT_MAX);
	if (state_dir == NULL || state_dir[0] == '\0')
		return bs_err_set(err, BS_ERR_INVALID, "cannot lock project %s: no state directory",
				  project);
	dir = bs_xasprintf("%s/locks", state_dir);
	rc = make_dirs(dir, err);
	if (rc != 0)
		goto out;
	l = bs_xcalloc(1, sizeof(*l));
	l->path = bs_xasprintf("%s/%s.lock", dir, project);
	l->fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (l->fd < 0) {
		rc = bs_err_set(err, BS_ERR_IO, "cannot open the lock file %s: %s", l->path,
				strerror(errno));
		goto out;
	}
	rc = take(l, project, wait_ms, cancel, err);
	l->held = rc == 0;
	if (rc == 0)
		rc = write_owner(l, what, err);
	if (rc == 0) {
		*out = l;
		l = NULL;
	}
out:
	bs_local_lock_release(l);
	free(dir);
	return rc;
}

void bs_local_lock_release(struct bs_local_lock *l)
{
	if (l == NULL)
		return;
	if (l->held) {
		/* best effort: a stale line misleads no one, since the file is
		 * only read while another run holds the lock and rewrote it */
		int unused = ftruncate(l->fd, 0);

		(void)unused;
	}
	if (l->fd >= 0)
		close(l->fd);
	free(l->path);
	free(l);
}
