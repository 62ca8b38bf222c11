/*
 * tests/integration/nodelock.c - the node lock and audit log against a
 * real OpenSSH sshd on loopback (tests/lab/sshd.sh), run in phases by
 * tests/integration/nodelock.sh:
 *
 *   nodelock basic       two sessions: refusal, waiting (runs out, cancelled,
 *                        outlasts the holder), audit lines, hostile text,
 *                        sudo, a lock lost on the node
 *   nodelock hold        take the lock, say "held", wait to be SIGKILLed
 *   nodelock after-kill  the lock is free again within a few seconds
 *
 * The sshd runs on this machine as root, so "the node" is this machine:
 * the lock directory (NODELOCK_DIR, with a space and a quote in its name)
 * is read and checked directly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <libssh2.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "provision/nodelock.h"
#include "provision/ssh.h"
#include "util/str.h"

static struct bs_ssh *s1, *s2; /* two root sessions: two "machines" */
static char *lock_dir, *lock_path, *owner_path, *audit_path;
static volatile sig_atomic_t cancel_flag;

static const char *env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL) {
		fprintf(stderr, "%s is not set: run through tests/integration/nodelock.sh\n", name);
		exit(2);
	}
	return v;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct bs_ssh *connect_as(const char *user, const char *password)
{
	struct bs_ssh_opts o;
	struct bs_err err = BS_ERR_INIT;
	struct bs_ssh *s = NULL;

	memset(&o, 0, sizeof(o));
	o.host = "127.0.0.1";
	o.port = atoi(env("SSHD_PORT"));
	o.user = user;
	o.key_path = password ? NULL : env("SSHD_KEY_ED25519");
	o.password = password;
	o.known_hosts = env("SSHD_KNOWN_HOSTS");
	o.policy = BS_HOSTKEY_STRICT;
	o.connect_timeout_ms = 10000;
	o.cancel = &cancel_flag;
	if (bs_ssh_connect(&s, &o, &err) != 0)
		fail_msg("%s", err.msg);
	return s;
}

static struct bs_nodelock_opts lock_opts(const char *owner, long wait_ms)
{
	struct bs_nodelock_opts o = BS_NODELOCK_OPTS_INIT;

	o.owner = owner;
	o.wait_ms = wait_ms;
	o.dir = lock_dir;
	return o;
}

static struct bs_nodelock *must_lock(struct bs_ssh *s, const char *owner, long wait_ms)
{
	struct bs_nodelock_opts o = lock_opts(owner, wait_ms);
	struct bs_err err = BS_ERR_INIT;
	struct bs_nodelock *l = NULL;

	if (bs_nodelock_acquire(&l, s, "n1", &o, &err) != 0)
		fail_msg("%s", err.msg);
	assert_non_null(l);
	return l;
}

static void must_audit(struct bs_nodelock *l, const char *line)
{
	struct bs_err err = BS_ERR_INIT;

	if (bs_nodelock_audit(l, line, &err) != 0)
		fail_msg("%s", err.msg);
}

static char *read_file(const char *path)
{
	struct bs_buf b = BS_BUF_INIT;
	char buf[4096];
	size_t n;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return bs_xstrdup("");
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		bs_buf_append(&b, buf, n);
	fclose(f);
	return bs_buf_detach(&b);
}

static int group_setup(void **state)
{
	(void)state;
	s1 = connect_as("root", NULL);
	s2 = connect_as("root", NULL);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	bs_ssh_close(s1);
	bs_ssh_close(s2);
	return 0;
}

static void test_second_session_refused(void **state)
{
	struct bs_nodelock_opts o = lock_opts("owner-one (bootstrap apply one.yaml)", 0);
	struct bs_err err = BS_ERR_INIT;
	struct bs_nodelock *l1, *l2 = NULL;
	struct stat st;
	char *text;

	(void)state;
	/* the directory is made by the lock, private */
	assert_int_equal(access(lock_dir, F_OK), -1);
	l1 = must_lock(s1, "owner-one (bootstrap apply one.yaml)", 0);
	text = read_file(owner_path);
	assert_string_equal(text, "owner-one (bootstrap apply one.yaml)\n");
	free(text);
	assert_int_equal(stat(lock_dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(stat(lock_path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	o.owner = "owner-two";
	assert_int_equal(bs_nodelock_acquire(&l2, s2, "n1", &o, &err), BS_ERR_LOCKED);
	assert_null(l2);
	assert_string_equal(
		err.msg,
		"node n1 is locked by owner-one (bootstrap apply one.yaml); wait for it or pass --lock-wait SECONDS");
	/* the refused run did not touch the holder's line */
	text = read_file(owner_path);
	assert_string_equal(text, "owner-one (bootstrap apply one.yaml)\n");
	free(text);

	bs_nodelock_release(l1);
	l2 = must_lock(s2, "owner-two", 0);
	bs_nodelock_release(l2);
	bs_nodelock_release(NULL);
}

/* Whether process pid has path open. */
static bool has_open(long pid, const char *path)
{
	char fd_dir[64];
	DIR *fds;
	struct dirent *fd;
	bool found = false;

	snprintf(fd_dir, sizeof(fd_dir), "/proc/%ld/fd", pid);
	fds = opendir(fd_dir);
	if (fds == NULL)
		return false;
	while (!found && (fd = readdir(fds)) != NULL) {
		char link[96], target[1024];
		ssize_t n;

		if (fd->d_name[0] < '0' || fd->d_name[0] > '9')
			continue;
		snprintf(link, sizeof(link), "%s/%ld", fd_dir, strtol(fd->d_name, NULL, 10));
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		found = strcmp(target, path) == 0;
	}
	closedir(fds);
	return found;
}

/* The processes on this machine (but this one) that have path open, all
 * SIGKILLed when kill_them: the node side of a lock, or of a wait. */
static int openers(const char *path, bool kill_them)
{
	DIR *proc = opendir("/proc");
	struct dirent *p;
	int n = 0;

	if (proc == NULL)
		return -1;
	while ((p = readdir(proc)) != NULL) {
		long pid = strtol(p->d_name, NULL, 10);

		if (pid <= 0 || pid == (long)getpid() || !has_open(pid, path))
			continue;
		if (!kill_them || kill((pid_t)pid, SIGKILL) == 0)
			n++;
	}
	closedir(proc);
	return n;
}

/* Release the lock once the waiter is waiting for it on the node (its
 * shell and flock have the lock file open besides the holder's cat),
 * and a little longer. */
static void *release_later(void *payload)
{
	long long t0 = now_ms();

	while (openers(lock_path, false) < 2 && now_ms() - t0 < 10000)
		usleep(50 * 1000);
	usleep(500 * 1000);
	/* s1 is this thread's until it is joined */
	bs_nodelock_release(payload);
	return NULL;
}

static void on_alarm(int sig)
{
	(void)sig;
	cancel_flag = 1;
}

/* s2 waits for s1's lock: the wait runs out, is cancelled, and then
 * outlasts the holder (one holder throughout: every exec costs time). */
static void test_waiting(void **state)
{
	struct bs_nodelock_opts o = lock_opts("owner-two", 1000);
	struct bs_err err = BS_ERR_INIT;
	struct bs_nodelock *l1, *l2 = NULL;
	struct itimerval timer;
	struct sigaction sa, old;
	pthread_t t;
	long long t0;

	(void)state;
	l1 = must_lock(s1, "owner-one", 0);
	/* a wait that runs out says how long it waited, and who holds */
	t0 = now_ms();
	assert_int_equal(bs_nodelock_acquire(&l2, s2, "n1", &o, &err), BS_ERR_LOCKED);
	assert_true(now_ms() - t0 >= 900);
	assert_null(l2);
	assert_non_null(strstr(err.msg, "node n1 is still locked after 1 s, by owner-one"));

	/* Ctrl-C while waiting (the session's cancel flag) */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, &old);
	memset(&timer, 0, sizeof(timer));
	timer.it_value.tv_usec = 300000;
	cancel_flag = 0;
	setitimer(ITIMER_REAL, &timer, NULL);
	o.wait_ms = 20000;
	t0 = now_ms();
	assert_int_equal(bs_nodelock_acquire(&l2, s2, "n1", &o, &err), BS_ERR_INTERRUPTED);
	assert_true(now_ms() - t0 < 10000);
	assert_null(l2);
	assert_string_equal(err.msg, "node n1: taking the node lock: interrupted");
	sigaction(SIGALRM, &old, NULL);
	cancel_flag = 0;

	/* the holder lets go while the waiter waits: a 3 s wait gets the
	 * lock, on the same session that was interrupted */
	assert_int_equal(openers(lock_path, false), 1); /* the cancelled wait is gone */
	assert_int_equal(pthread_create(&t, NULL, release_later, l1), 0);
	t0 = now_ms();
	l2 = must_lock(s2, "owner-two", 3000);
	assert_true(now_ms() - t0 >= 500);
	assert_int_equal(pthread_join(t, NULL), 0);
	bs_nodelock_release(l2);
}

/* The lines of text, split at '\n' (the last one unterminated if so). */
static size_t split_lines(char *text, char **lines, size_t max)
{
	size_t n = 0;
	char *p = text;

	while (*p != '\0' && n < max) {
		char *nl = strchr(p, '\n');

		lines[n++] = p;
		if (nl == NULL)
			break;
		*nl = '\0';
		p = nl + 1;
	}
	return n;
}

/* "2026-11-30T14:00:00Z pid PID on HOST by root: " */
static void assert_audit_prefix(const char *line, const char *text)
{
	char host[256] = "", *want;
	const char *p;

	gethostname(host, sizeof(host) - 1);
	assert_true(strlen(line) > 21);
	assert_true(line[4] == '-' && line[7] == '-' && line[10] == 'T' && line[13] == ':' &&
		    line[19] == 'Z' && line[20] == ' ');
	for (p = line; p < line + 19; p++)
		assert_true((*p >= '0' && *p <= '9') || *p == '-' || *p == 'T' || *p == ':');
	want = bs_xasprintf("pid %d on %s by root: %s", (int)getpid(), host, text);
	assert_string_equal(line + 21, want);
	free(want);
}

static void test_audit_lines_in_order(void **state)
{
	char long_text[3000], *text, *lines[16];
	struct bs_nodelock *l;
	size_t n;
	FILE *f;

	(void)state;
	unlink(audit_path);
	/* a run killed in the middle of a line: the next starts afresh */
	f = fopen(audit_path, "w");
	assert_non_null(f);
	fputs("2026-01-01T00:00:00Z pid 1 on old by root: apply demo: cut he", f);
	fclose(f);
	memset(long_text, 'x', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';

	l = must_lock(s1, "owner-one", 0);
	must_audit(l, "apply demo: create demo-hello-1 (missing)");
	must_audit(l, "apply demo: replace demo-web-1 (image nginx:1.25 -> nginx:1.27)");
	must_audit(l, "tab\there, newline\nhere, escape \x1b[31mred");
	must_audit(l, long_text);
	must_audit(l, "apply demo: done");
	/* the node side ends on release: the file is complete after it */
	bs_nodelock_release(l);

	text = read_file(audit_path);
	n = split_lines(text, lines, 16);
	assert_int_equal(n, 6);
	assert_string_equal(lines[0],
			    "2026-01-01T00:00:00Z pid 1 on old by root: apply demo: cut he");
	assert_audit_prefix(lines[1], "apply demo: create demo-hello-1 (missing)");
	assert_audit_prefix(lines[2],
			    "apply demo: replace demo-web-1 (image nginx:1.25 -> nginx:1.27)");
	assert_audit_prefix(lines[3], "tab here, newline here, escape ?[31mred");
	/* long lines are cut, and say so */
	assert_true(strlen(lines[4]) < 2200);
	assert_true(bs_str_ends_with(lines[4], "xxx..."));
	assert_audit_prefix(lines[5], "apply demo: done");
	free(text);
}

/*
 * opts.then runs once the lock is held, on the lock's own channel: its
 * output (large, with lines that look like the lock's own answers) comes
 * back whole; its stdin is not the channel's, so the audit lines written
 * after it still reach the log; a second session that finds the lock held
 * never runs its then.
 */
static void test_then_runs_under_the_lock(void **state)
{
	struct bs_nodelock_opts o = lock_opts("owner-then", 0);
	struct bs_err err = BS_ERR_INIT;
	struct bs_nodelock *l = NULL, *l2 = NULL;
	char *marker = bs_xasprintf("%s/then-ran", lock_dir);
	char *qmarker = bs_shell_quote(marker);
	char *then = bs_xasprintf(
		"printf 'first=1\\nLOCKED\\nHELD\\n'\n"
		"i=0; while [ $i -lt 3000 ]; do printf 'line %%s of filler text\\n' $i; i=$((i+1)); done\n"
		"cat >/dev/null\n" /* stdin: must not be the channel */
		"flock -n \"$D/lock\" true && echo lock-free-in-then || echo lock-held-in-then\n"
		"touch %s\n"
		"printf 'last=1'", /* no final newline */
		qmarker);
	const char *out;
	size_t len;
	char *text;

	(void)state;
	unlink(audit_path);
	unlink(marker);
	o.then = then;
	if (bs_nodelock_acquire(&l, s1, "n1", &o, &err) != 0)
		fail_msg("%s", err.msg);
	out = bs_nodelock_then(l, &len);
	assert_non_null(out);
	assert_int_equal(strlen(out), len);
	assert_true(bs_str_starts_with(out, "first=1\nLOCKED\nHELD\n"));
	assert_non_null(strstr(out, "line 2999 of filler text\n"));
	/* a new open of the lock file cannot take it: then runs under it */
	assert_non_null(strstr(out, "lock-held-in-then\n"));
	assert_true(bs_str_ends_with(out, "\nlast=1"));
	assert_int_equal(access(marker, F_OK), 0);
	must_audit(l, "after then");

	/* held: the other session's then does not run */
	unlink(marker);
	if (bs_nodelock_acquire(&l2, s2, "n1", &o, &err) != BS_ERR_LOCKED)
		fail_msg("the second acquire should be refused: %s", err.msg);
	assert_null(l2);
	assert_int_equal(access(marker, F_OK), -1);

	bs_nodelock_release(l);
	text = read_file(audit_path);
	assert_non_null(strstr(text, ": after then\n"));
	free(text);
	/* without then, nothing */
	l = must_lock(s1, "owner-plain", 0);
	assert_null(bs_nodelock_then(l, &len));
	assert_int_equal(len, 0);
	bs_nodelock_release(l);
	free(then);
	free(qmarker);
	free(marker);
}

static void test_hostile_text_runs_nothing(void **state)
{
	struct bs_nodelock_opts o = lock_opts("other", 0);
	struct bs_err err = BS_ERR_INIT;
	struct bs_nodelock *l, *l2 = NULL;
	char canary[64], *owner, *want, *text;

	(void)state;
	snprintf(canary, sizeof(canary), "/tmp/bs-nodelock-canary-%d", (int)getpid());
	owner = bs_xasprintf(
		"x'; touch %s; ' $(touch %s) `touch %s` \"q\" \\ $HOME\nsecond; touch %s", canary,
		canary, canary, canary);
	want = bs_xasprintf(
		"x'; touch %s; ' $(touch %s) `touch %s` \"q\" \\ $HOME second; touch %s", canary,
		canary, canary, canary);
	l = must_lock(s1, owner, 0);
	must_audit(l, owner);
	text = read_file(owner_path);
	assert_true(bs_str_starts_with(text, want));
	assert_string_equal(text + strlen(want), "\n");
	free(text);
	/* the refused run quotes it, on one line */
	assert_int_equal(bs_nodelock_acquire(&l2, s2, "n1", &o, &err), BS_ERR_LOCKED);
	assert_non_null(strstr(err.msg, want));
	bs_nodelock_release(l);
	text = read_file(audit_path);
	assert_non_null(strstr(text, want));
	free(text);
	assert_int_equal(access(canary, F_OK), -1);
	free(owner);
	free(want);
}

static void test_sudo(void **state)
{
	struct bs_nodelock_opts o = lock_opts("sudo-user", 0);
	struct bs_err err = BS_ERR_INIT;
	struct bs_nodelock *l = NULL;
	struct bs_ssh *s;

	(void)state;
	/* passwordless sudo: the root-owned directory is fine */
	s = connect_as(env("SSHD_USER_NOPW"), env("SSHD_USER_PASSWORD"));
	o.sudo = true;
	if (bs_nodelock_acquire(&l, s, "n1", &o, &err) != 0)
		fail_msg("%s", err.msg);
	must_audit(l, "through sudo");
	bs_nodelock_release(l);
	l = NULL;
	/* without sudo the user may not make the lock: the node says why */
	o.sudo = false;
	assert_int_equal(bs_nodelock_acquire(&l, s, "n1", &o, &err), BS_ERR_REMOTE);
	assert_non_null(strstr(err.msg, "node n1: cannot make the lock"));
	assert_non_null(strstr(err.msg, "Permission denied"));
	assert_non_null(strstr(err.msg, "needs sudo"));
	bs_ssh_close(s);

	/* sudo that asks for a password is refused with the fix */
	s = connect_as(env("SSHD_USER_PW"), env("SSHD_USER_PASSWORD"));
	o.sudo = true;
	assert_int_equal(bs_nodelock_acquire(&l, s, "n1", &o, &err), BS_ERR_AUTH);
	assert_null(l);
	assert_non_null(strstr(err.msg, "password is required"));
	assert_non_null(strstr(err.msg, "NOPASSWD"));
	bs_ssh_close(s);
	{
		char *text = read_file(audit_path);

		assert_non_null(strstr(text, "by root: through sudo\n"));
		free(text);
	}
}

static void test_lock_lost_on_the_node(void **state)
{
	struct bs_err err = BS_ERR_INIT;
	struct bs_nodelock *l;
	long long t0;
	int rc = 0;

	(void)state;
	l = must_lock(s1, "owner-one", 0);
	must_audit(l, "before");
	assert_true(openers(lock_path, true) >= 1);
	/* the next audit line (or one soon after) says the lock is gone */
	t0 = now_ms();
	while (now_ms() - t0 < 5000) {
		rc = bs_nodelock_audit(l, "after", &err);
		if (rc != 0)
			break;
		usleep(100 * 1000);
	}
	assert_int_equal(rc, BS_ERR_LOCKED);
	assert_non_null(strstr(err.msg, "node n1: the lock on the node was lost"));
	/* releasing a lost lock is quick and harmless */
	t0 = now_ms();
	bs_nodelock_release(l);
	assert_true(now_ms() - t0 < 3000);
}

static int phase_hold(void)
{
	struct bs_ssh *s = connect_as("root", NULL);
	struct bs_nodelock *l = must_lock(s, "the-killed-holder", 0);

	must_audit(l, "holding until killed");
	printf("held\n");
	fflush(stdout);
	sleep(60);
	bs_nodelock_release(l);
	bs_ssh_close(s);
	return 1; /* should have been killed */
}

static int phase_after_kill(void)
{
	struct bs_ssh *s = connect_as("root", NULL);
	struct bs_nodelock_opts o = lock_opts("after-kill", 0);
	struct bs_err err = BS_ERR_INIT;
	struct bs_nodelock *l = NULL;
	long long t0 = now_ms();
	int rc;

	/* bounded poll: the node notices the dropped connection at once */
	while ((rc = bs_nodelock_acquire(&l, s, "n1", &o, &err)) == BS_ERR_LOCKED &&
	       now_ms() - t0 < 10000)
		usleep(200 * 1000);
	printf("after-kill: rc=%d after %lld ms: %s\n", rc, now_ms() - t0, rc ? err.msg : "free");
	bs_nodelock_release(l);
	bs_ssh_close(s);
	return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest basic[] = {
		cmocka_unit_test(test_second_session_refused),
		cmocka_unit_test(test_waiting),
		cmocka_unit_test(test_audit_lines_in_order),
		cmocka_unit_test(test_then_runs_under_the_lock),
		cmocka_unit_test(test_hostile_text_runs_nothing),
		cmocka_unit_test(test_sudo),
		cmocka_unit_test(test_lock_lost_on_the_node),
	};
	const char *phase = argc > 1 ? argv[1] : "basic";
	int rc;

	lock_dir = bs_xstrdup(env("NODELOCK_DIR"));
	lock_path = bs_xasprintf("%s/lock", lock_dir);
	owner_path = bs_xasprintf("%s/lock.owner", lock_dir);
	audit_path = bs_xasprintf("%s/audit.log", lock_dir);
	libssh2_init(0);
	if (strcmp(phase, "basic") == 0)
		rc = cmocka_run_group_tests(basic, group_setup, group_teardown);
	else if (strcmp(phase, "hold") == 0)
		rc = phase_hold();
	else if (strcmp(phase, "after-kill") == 0)
		rc = phase_after_kill();
	else
		rc = 2;
	libssh2_exit();
	free(lock_dir);
	free(lock_path);
	free(owner_path);
	free(audit_path);
	return rc;
}
