/*
 * Unit tests for deploy/lock.c, the local project lock: acquire, release
 * and acquire again; a lock held by another process (a forked child) is
 * refused with the holder's owner line; a wait outlasts a holder that
 * lets go; a holder killed by SIGKILL leaves nothing behind; bad project
 * names; cancel while waiting.
 *
 * Each test works in its own mkdtemp folder, removed afterwards. Children
 * talk to the parent over a pipe, one byte per step, and never use
 * CMocka's asserts: they report through their exit status.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "deploy/lock.h"
#include "util/str.h"
#include "tests/unit/helpers.h"

struct fixture {
	char root[64]; /* the mkdtemp folder */
	char *state;   /* root/state: not there yet, the lock makes it */
};

static int setup(void **state)
{
	struct fixture *f = bs_xcalloc(1, sizeof(*f));

	snprintf(f->root, sizeof(f->root), "/tmp/bs-lock-XXXXXX");
	if (mkdtemp(f->root) == NULL)
		return -1;
	f->state = bs_xasprintf("%s/state", f->root);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	test_remove_tree(f->root);
	free(f->state);
	free(f);
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *read_file(const char *path)
{
	struct bs_buf b = BS_BUF_INIT;
	char buf[512];
	size_t n;
	FILE *fp = fopen(path, "r");

	assert_non_null(fp);
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
		bs_buf_append(&b, buf, n);
	fclose(fp);
	return bs_buf_detach(&b);
}

/*
 * A child that takes the lock, writes 'L' to the parent, then waits for
 * a byte from it and releases (or holds until killed). hold_ms > 0:
 * release on its own after that long instead of waiting.
 */
struct holder {
	pid_t pid;
	int to_child;
	int from_child;
};

static void holder_start(struct holder *h, const char *state_dir, long hold_ms)
{
	int down[2], up[2];

	assert_int_equal(pipe(down), 0);
	assert_int_equal(pipe(up), 0);
	h->pid = fork();
	assert_true(h->pid >= 0);
	if (h->pid == 0) {
		struct bs_err err = BS_ERR_INIT;
		struct bs_local_lock *l = NULL;
		char c;

		close(down[1]);
		close(up[0]);
		if (bs_local_lock_acquire(&l, state_dir, "demo", "bootstrap apply child.yaml", 0,
					  NULL, &err) != 0) {
			fprintf(stderr, "child: %s\n", err.msg);
			_exit(1);
		}
		if (write(up[1], "L", 1) != 1)
			_exit(2);
		if (hold_ms > 0)
			usleep((useconds_t)hold_ms * 1000);
		else if (read(down[0], &c, 1) < 0)
			_exit(3);
		bs_local_lock_release(l);
		_exit(0);
	}
	close(down[0]);
	close(up[1]);
	h->to_child = down[1];
	h->from_child = up[0];
	{
		char c = 0;

		assert_int_equal(read(h->from_child, &c, 1), 1);
		assert_int_equal(c, 'L');
	}
}

/* Tell the child to release, and reap it. */
static void holder_finish(struct holder *h)
{
	int status = 0;

	assert_int_equal(write(h->to_child, "R", 1), 1);
	assert_int_equal(waitpid(h->pid, &status, 0), h->pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(h->to_child);
	close(h->from_child);
}

static void test_acquire_release_again(void **state)
{
	struct fixture *f = *state;
	struct bs_err err = BS_ERR_INIT;
	struct bs_local_lock *l = NULL, *second = NULL;
	char *path = bs_xasprintf("%s/locks/demo.lock", f->state);
	char *locks = bs_xasprintf("%s/locks", f->state);
	char *text, *want;
	struct stat st;

	if (bs_local_lock_acquire(&l, f->state, "demo", "bootstrap apply demo.yaml", 0, NULL,
				  &err) != 0)
		fail_msg("%s", err.msg);
	assert_non_null(l);
	/* the directories are private, the owner line says who and what */
	assert_int_equal(stat(f->state, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(stat(locks, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	text = read_file(path);
	want = bs_xasprintf("pid %d on ", (int)getpid());
	assert_true(bs_str_starts_with(text, want));
	assert_non_null(strstr(text, " since 20"));
	assert_non_null(strstr(text, "Z (bootstrap apply demo.yaml)\n"));
	free(text);
	free(want);

	/* flock locks belong to the open file: this process is refused too */
	assert_int_equal(
		bs_local_lock_acquire(&second, f->state, "demo", "bootstrap plan", 0, NULL, &err),
		BS_ERR_LOCKED);
	assert_null(second);
	/* another project is another lock */
	if (bs_local_lock_acquire(&second, f->state, "other", "bootstrap plan", 0, NULL, &err) != 0)
		fail_msg("%s", err.msg);
	bs_local_lock_release(second);

	bs_local_lock_release(l);
	text = read_file(path);
	assert_string_equal(text, ""); /* the owner line goes with the lock */
	free(text);
	l = NULL;
	if (bs_local_lock_acquire(&l, f->state, "demo", "bootstrap destroy demo.yaml", 0, NULL,
				  &err) != 0)
		fail_msg("%s", err.msg);
	bs_local_lock_release(l);
	bs_local_lock_release(NULL);
	free(path);
	free(locks);
}

static void test_held_by_another_process(void **state)
{
	struct fixture *f = *state;
	struct bs_err err = BS_ERR_INIT;
	struct bs_local_lock *l = NULL;
	struct holder h;
	char pid_text[32];

	holder_start(&h, f->state, 0);
	assert_int_equal(bs_local_lock_acquire(&l, f->state, "demo", "bootstrap apply demo.yaml", 0,
					       NULL, &err),
			 BS_ERR_LOCKED);
	assert_null(l);
	snprintf(pid_text, sizeof(pid_text), "pid %d on ", (int)h.pid);
	assert_non_null(strstr(err.msg, pid_text));
	assert_non_null(strstr(err.msg, "(bootstrap apply child.yaml)"));
	assert_non_null(strstr(err.msg, "--lock-wait SECONDS"));
	assert_non_null(strstr(err.msg, "project demo is locked by"));
	holder_finish(&h);
	if (bs_local_lock_acquire(&l, f->state, "demo", "bootstrap apply demo.yaml", 0, NULL,
				  &err) != 0)
		fail_msg("%s", err.msg);
	bs_local_lock_release(l);
}

static void test_wait_outlasts_the_holder(void **state)
{
	struct fixture *f = *state;
	struct bs_err err = BS_ERR_INIT;
	struct bs_local_lock *l = NULL;
	struct holder h;
	long long t0;
	int status = 0;

	holder_start(&h, f->state, 400);
	t0 = now_ms();
	if (bs_local_lock_acquire(&l, f->state, "demo", "bootstrap apply demo.yaml", 5000, NULL,
				  &err) != 0)
		fail_msg("%s", err.msg);
	assert_true(now_ms() - t0 < 4000);
	bs_local_lock_release(l);
	assert_int_equal(waitpid(h.pid, &status, 0), h.pid);
	assert_int_equal(WEXITSTATUS(status), 0);
	close(h.to_child);
	close(h.from_child);

	/* a wait that runs out says how long it waited */
	holder_start(&h, f->state, 0);
	t0 = now_ms();
	assert_int_equal(bs_local_lock_acquire(&l, f->state, "demo", "bootstrap apply demo.yaml",
					       300, NULL, &err),
			 BS_ERR_LOCKED);
	assert_true(now_ms() - t0 >= 300);
	assert_true(now_ms() - t0 < 2000);
	assert_non_null(strstr(err.msg, "still locked after 1 s"));
	holder_finish(&h);
}

static void test_sigkill_leaves_no_lock(void **state)
{
	struct fixture *f = *state;
	struct bs_err err = BS_ERR_INIT;
	struct bs_local_lock *l = NULL;
	struct holder h;
	int status = 0;

	holder_start(&h, f->state, 0);
	kill(h.pid, SIGKILL);
	assert_int_equal(waitpid(h.pid, &status, 0), h.pid);
	assert_true(WIFSIGNALED(status));
	close(h.to_child);
	close(h.from_child);
	if (bs_local_lock_acquire(&l, f->state, "demo", "bootstrap apply demo.yaml", 0, NULL,
				  &err) != 0)
		fail_msg("%s", err.msg);
	bs_local_lock_release(l);
}

static void test_bad_project_names(void **state)
{
	static const char *const bad[] = {
		"", "../x", "a/b", "Demo", "a b", "x\n", "x;rm", "caf\xc3\xa9",
	};
	struct fixture *f = *state;
	struct bs_err err = BS_ERR_INIT;
	struct bs_local_lock *l = NULL;
	char long_name[200];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(bs_local_lock_acquire(&l, f->state, bad[i], "bootstrap plan", 0,
						       NULL, &err),
				 BS_ERR_INVALID);
		assert_null(l);
		assert_non_null(strstr(err.msg, "a-z, 0-9"));
	}
	assert_int_equal(bs_local_lock_acquire(&l, f->state, NULL, "bootstrap plan", 0, NULL, &err),
			 BS_ERR_INVALID);
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(
		bs_local_lock_acquire(&l, f->state, long_name, "bootstrap plan", 0, NULL, &err),
		BS_ERR_INVALID);
	/* nothing was made for a refused name */
	assert_int_equal(access(f->state, F_OK), -1);
	/* what the recipe loader allows is fine */
	if (bs_local_lock_acquire(&l, f->state, "web-shop_2.0", "bootstrap plan", 0, NULL, &err) !=
	    0)
		fail_msg("%s", err.msg);
	bs_local_lock_release(l);
}

static volatile sig_atomic_t cancel_flag;

static void on_alarm(int sig)
{
	(void)sig;
	cancel_flag = 1;
}

static void test_cancel_while_waiting(void **state)
{
	struct fixture *f = *state;
	struct bs_err err = BS_ERR_INIT;
	struct bs_local_lock *l = NULL;
	struct itimerval timer;
	struct sigaction sa, old;
	struct holder h;
	long long t0;

	holder_start(&h, f->state, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, &old);
	memset(&timer, 0, sizeof(timer));
	timer.it_value.tv_usec = 300000;
	cancel_flag = 0;
	setitimer(ITIMER_REAL, &timer, NULL);
	t0 = now_ms();
	assert_int_equal(bs_local_lock_acquire(&l, f->state, "demo", "bootstrap apply demo.yaml",
					       10000, &cancel_flag, &err),
			 BS_ERR_INTERRUPTED);
	assert_true(now_ms() - t0 < 2000);
	assert_null(l);
	assert_non_null(strstr(err.msg, "interrupted"));
	sigaction(SIGALRM, &old, NULL);
	holder_finish(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_acquire_release_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_held_by_another_process, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_outlasts_the_holder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigkill_leaves_no_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_project_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_while_waiting, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
