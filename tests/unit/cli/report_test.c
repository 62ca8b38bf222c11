/*
 * Unit tests for cli/cli_report.c: the run reporter's three renderings
 * (JSON lines, plain lines, the live TTY block), secret masking in every
 * field and mode, and whole lines under concurrent reporting.
 *
 * The CLI sources are not in libbootstrap.a, so the reporter is compiled into this
 * program directly. Output goes to an open_memstream, which has no
 * terminal: the TTY width falls back to 100 columns.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_report.c"

#define SECRET "s3cr3t-T0KEN"

struct capture {
	FILE *f;
	char *text;
	size_t len;
};

static struct bs_reporter *capture_open(struct capture *c, enum bs_report_mode mode, int verbosity,
					bool color)
{
	c->text = NULL;
	c->len = 0;
	c->f = open_memstream(&c->text, &c->len);
	assert_non_null(c->f);
	return bs_reporter_open(mode, c->f, verbosity, color);
}

/* Close the reporter and the stream; the output stays in c->text. */
static const char *capture_close(struct capture *c, struct bs_reporter *r)
{
	bs_reporter_close(r);
	fclose(c->f);
	return c->text;
}

static int reset_secrets(void **state)
{
	(void)state;
	bs_secret_clear();
	return 0;
}

static void run_start(struct bs_reporter *r, const char *verb, int n_nodes)
{
	struct bs_event ev = {.kind = BS_EV_RUN_START,
			      .verb = verb,
			      .project = "demo",
			      .file = "recipe.yaml",
			      .n_nodes = n_nodes};

	bs_reporter_event(&ev, r);
}

static void action(struct bs_reporter *r, enum bs_ev_kind kind, const char *node, const char *act,
		   const char *object, const char *reason)
{
	struct bs_event ev = {
		.kind = kind, .node = node, .action = act, .object = object, .reason = reason};

	if (kind == BS_EV_ACTION_FAILED)
		ev.error = reason;
	ev.ms = 1500;
	bs_reporter_event(&ev, r);
}

static void node_done(struct bs_reporter *r, const char *node, struct bs_counts counts,
		      const char *error)
{
	struct bs_event ev = {.kind = BS_EV_NODE_DONE,
			      .node = node,
			      .counts = counts,
			      .error = error,
			      .ms = 3400};

	bs_reporter_event(&ev, r);
}

static void summary(struct bs_reporter *r, struct bs_counts counts, long long ms)
{
	struct bs_event ev = {.kind = BS_EV_SUMMARY, .counts = counts, .ms = ms};

	bs_reporter_event(&ev, r);
}

/* The lines of text, each parsed as JSON; fails on any invalid line. */
static size_t parse_lines(const char *text, cJSON **out, size_t max)
{
	size_t n = 0;
	const char *p = text;

	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		char *line;

		assert_non_null(nl);
		assert_true(n < max);
		line = bs_xstrndup(p, (size_t)(nl - p));
		out[n] = cJSON_Parse(line);
		if (out[n] == NULL)
			fail_msg("not JSON: %s", line);
		free(line);
		n++;
		p = nl + 1;
	}
	return n;
}

static const char *str_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool has(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key) != NULL;
}

static void test_json_fields(void **state)
{
	struct capture c;
	struct bs_reporter *r = capture_open(&c, BS_REPORT_JSON, 0, true);
	struct bs_event stage = {.kind = BS_EV_NODE_STAGE, .node = "node-1", .stage = "ssh"};
	struct bs_event msg = {.kind = BS_EV_MESSAGE, .state = "warning", .reason = "prune is off"};
	struct bs_event st = {.kind = BS_EV_CONTAINER_STATUS,
			      .node = "node-1",
			      .object = "demo-hello-1",
			      .state = "running",
			      .health = "healthy"};
	struct bs_counts counts = {.created = 1, .unchanged = 2};
	cJSON *lines[16], *cnt;
	const char *stamp;
	size_t n, i;

	(void)state;
	run_start(r, "apply", 2);
	bs_reporter_event(&stage, r);
	action(r, BS_EV_ACTION_PLANNED, "node-1", "create", "demo-hello-1", "missing");
	action(r, BS_EV_ACTION_DONE, "node-1", "create", "demo-hello-1", NULL);
	node_done(r, "node-1", counts, NULL);
	summary(r, counts, 12300);
	bs_reporter_event(&msg, r);
	bs_reporter_event(&st, r);
	n = parse_lines(capture_close(&c, r), lines, 16);
	assert_int_equal(n, 8);
	assert_null(strchr(c.text, '\033'));

	assert_string_equal(str_of(lines[0], "event"), "run_start");
	assert_string_equal(str_of(lines[0], "verb"), "apply");
	assert_string_equal(str_of(lines[0], "project"), "demo");
	assert_string_equal(str_of(lines[0], "file"), "recipe.yaml");
	assert_int_equal(cJSON_GetObjectItem(lines[0], "nodes")->valueint, 2);
	assert_false(has(lines[0], "node"));
	assert_false(has(lines[0], "ms"));
	stamp = str_of(lines[0], "time");
	assert_non_null(stamp);
	assert_int_equal(strlen(stamp), 24); /* 2024-05-01T12:00:03.042Z */
	assert_true(stamp[10] == 'T' && stamp[19] == '.' && stamp[23] == 'Z');

	assert_string_equal(str_of(lines[1], "event"), "node_stage");
	assert_string_equal(str_of(lines[1], "stage"), "ssh");
	assert_false(has(lines[1], "action") || has(lines[1], "error") || has(lines[1], "nodes"));

	assert_string_equal(str_of(lines[2], "event"), "action_planned");
	assert_string_equal(str_of(lines[2], "reason"), "missing");
	assert_false(has(lines[2], "ms") || has(lines[2], "counts"));

	assert_string_equal(str_of(lines[3], "event"), "action_done");
	assert_int_equal(cJSON_GetObjectItem(lines[3], "ms")->valueint, 1500);
	assert_false(has(lines[3], "reason"));

	assert_string_equal(str_of(lines[4], "event"), "node_done");
	cnt = cJSON_GetObjectItem(lines[4], "counts");
	assert_non_null(cnt);
	assert_int_equal(cJSON_GetArraySize(cnt), 8);
	assert_int_equal(cJSON_GetObjectItem(cnt, "created")->valueint, 1);
	assert_int_equal(cJSON_GetObjectItem(cnt, "unchanged")->valueint, 2);
	assert_int_equal(cJSON_GetObjectItem(cnt, "other")->valueint, 0);
	assert_false(has(lines[4], "error"));

	assert_string_equal(str_of(lines[5], "event"), "summary");
	assert_int_equal(cJSON_GetObjectItem(lines[5], "ms")->valueint, 12300);
	assert_true(has(lines[5], "counts"));
	assert_false(has(lines[5], "node"));

	assert_string_equal(str_of(lines[6], "event"), "message");
	assert_string_equal(str_of(lines[6], "state"), "warning");
	assert_string_equal(str_of(lines[6], "reason"), "prune is off");

	assert_string_equal(str_of(lines[7], "event"), "container_status");
	assert_string_equal(str_of(lines[7], "health"), "healthy");
	assert_false(has(lines[7], "drift"));
	for (i = 0; i < n; i++)
		cJSON_Delete(lines[i]);
	free(c.text);
}

/* Every mode, a secret in every kind of field: never shown. */
static void test_secrets_masked(void **state)
{
	const enum bs_report_mode modes[] = {BS_REPORT_JSON, BS_REPORT_PLAIN, BS_REPORT_TTY};
	struct bs_event st = {.kind = BS_EV_CONTAINER_STATUS,
			      .node = "node-1",
			      .object = "c-" SECRET,
			      .state = "running",
			      .drift = "environment.TOKEN: " SECRET " -> ***"};
	struct bs_event msg = {.kind = BS_EV_MESSAGE, .state = "info", .reason = "note " SECRET};
	struct bs_counts none = {0};
	size_t m;

	(void)state;
	bs_secret_add(SECRET);
	for (m = 0; m < 3; m++) {
		struct capture c;
		struct bs_reporter *r = capture_open(&c, modes[m], 1, false);
		struct bs_event start = {.kind = BS_EV_RUN_START,
					 .verb = "plan",
					 .project = "p" SECRET,
					 .file = SECRET ".yaml",
					 .n_nodes = 1};

		bs_reporter_event(&start, r);
		action(r, BS_EV_ACTION_PLANNED, "node-1", "update", "app-" SECRET,
		       "environment.TOKEN: " SECRET " -> x" SECRET "y");
		action(r, BS_EV_ACTION_STARTED, "node-1", "replace", SECRET, "why " SECRET);
		action(r, BS_EV_ACTION_FAILED, "node-1", "replace", SECRET, "401 for " SECRET);
		bs_reporter_event(&st, r);
		bs_reporter_event(&msg, r);
		node_done(r, "node-1", none, "token " SECRET " rejected");
		capture_close(&c, r);
		if (strstr(c.text, SECRET) != NULL)
			fail_msg("mode %zu leaked the secret:\n%s", m, c.text);
		assert_non_null(strstr(c.text, "***"));
		free(c.text);
	}
}

static void test_plain_plan(void **state)
{
	struct capture c;
	struct bs_reporter *r = capture_open(&c, BS_REPORT_PLAIN, 0, false);
	struct bs_counts counts = {
		.created = 1, .replaced = 1, .updated = 1, .removed = 1, .unchanged = 3};

	(void)state;
	run_start(r, "plan", 1);
	action(r, BS_EV_ACTION_PLANNED, "node-1", "create", "demo-hello-1", "missing");
	action(r, BS_EV_ACTION_PLANNED, "node-1", "update", "demo-hello-2", "memory: 64m -> 128m");
	action(r, BS_EV_ACTION_PLANNED, "node-1", "replace", "demo-hello-3",
	       "environment.GREETING: a -> b");
	action(r, BS_EV_ACTION_PLANNED, "node-1", "remove", "demo-old", NULL);
	node_done(r, "node-1", counts, NULL);
	summary(r, counts, 400);
	capture_close(&c, r);
	assert_non_null(strstr(c.text, "\nnode-1: + create demo-hello-1: missing\n"));
	assert_non_null(strstr(c.text, "\nnode-1: ~ update demo-hello-2: memory: 64m -> 128m\n"));
	assert_non_null(strstr(c.text, "\nnode-1: -/+ replace demo-hello-3: "
				       "environment.GREETING: a -> b\n"));
	assert_non_null(strstr(c.text, "\nnode-1: - remove demo-old\n"));
	assert_non_null(strstr(c.text, "\nnode-1: 1 to create, 1 to replace, 1 to update, "
				       "1 to remove, 3 unchanged\n"));
	assert_true(bs_str_ends_with(c.text, "\nPlan: 1 to create, 1 to replace, 1 to update, "
					     "1 to remove, 3 unchanged (1 node, 0.4 s)\n"));
	assert_null(strchr(c.text, '\033'));
	free(c.text);
}

static const char *apply_run(struct capture *c, int verbosity)
{
	struct bs_reporter *r = capture_open(c, BS_REPORT_PLAIN, verbosity, false);
	struct bs_event stage = {.kind = BS_EV_NODE_STAGE, .node = "node-1", .stage = "docker"};
	struct bs_event msg = {.kind = BS_EV_MESSAGE, .state = "warning", .reason = "heads up"};
	struct bs_counts one = {.created = 1, .replaced = 1, .unchanged = 3};
	struct bs_counts two = {.created = 1, .failed = 1};
	struct bs_counts total = {.created = 2, .replaced = 1, .unchanged = 3, .failed = 1};

	run_start(r, "apply", 2);
	bs_reporter_event(&stage, r);
	bs_reporter_event(&msg, r);
	action(r, BS_EV_ACTION_STARTED, "node-1", "create", "demo-hello-1", "missing");
	action(r, BS_EV_ACTION_DONE, "node-1", "create", "demo-hello-1", NULL);
	action(r, BS_EV_ACTION_FAILED, "node-2", "pull", "nginx:1.25", "manifest unknown");
	node_done(r, "node-1", one, NULL);
	node_done(r, "node-2", two, "1 action failed");
	summary(r, total, 12300);
	return capture_close(c, r);
}

static size_t count_lines(const char *text)
{
	size_t n = 0;

	for (; *text != '\0'; text++)
		n += *text == '\n';
	return n;
}

static void test_plain_apply(void **state)
{
	struct capture c;
	const char *text = apply_run(&c, 0);
	const char *line = strstr(text, "node-1  apply: create demo-hello-1 (missing)\n");

	(void)state;
	/* "HH:MM:SS node-1  apply: ..." */
	assert_non_null(line);
	assert_true(line - text >= 9 && line[-1] == ' ' && line[-4] == ':' && line[-7] == ':');
	assert_null(strstr(text, "stage docker"));
	assert_null(strstr(text, "done in"));
	assert_non_null(strstr(text, "warning: heads up\n"));
	assert_non_null(strstr(text, "node-2  error: pull nginx:1.25 failed: manifest unknown\n"));
	assert_non_null(strstr(text, "node-2  error: 1 action failed\n"));
	assert_non_null(
		strstr(text, "node-1  done: 1 created, 1 replaced, 3 unchanged in 3.4 s\n"));
	assert_non_null(strstr(text, "\nnode-1: 1 created, 1 replaced, 0 updated, 3 unchanged\n"));
	assert_non_null(strstr(
		text, "\nnode-2: 1 created, 0 replaced, 0 updated, 0 unchanged, 1 failed\n"));
	assert_true(bs_str_ends_with(text, "\napply: 2 nodes, 2 created, 1 replaced, 0 updated, "
					   "3 unchanged, 1 failed in 12.3 s\n"));
	free(c.text);

	text = apply_run(&c, 1);
	assert_non_null(strstr(text, "node-1  stage docker\n"));
	assert_non_null(strstr(text, "node-1  apply: create demo-hello-1 done in 1.5 s\n"));
	free(c.text);
}

/* destroy: a machine goes after its node's work is done, and its node's
 * line counts it as the summary does (never "no changes", then "1 removed") */
static void test_plain_destroy_machine(void **state)
{
	struct capture c;
	struct bs_reporter *r = capture_open(&c, BS_REPORT_PLAIN, 0, false);
	struct bs_counts none = {0}, total = {.removed = 1};
	const char *text;

	(void)state;
	run_start(r, "destroy", 1);
	node_done(r, "node-1", none, NULL);
	action(r, BS_EV_ACTION_STARTED, "node-1", "destroy-machine", "node-1", "destroy");
	action(r, BS_EV_ACTION_DONE, "node-1", "destroy-machine", "node-1", "destroy");
	summary(r, total, 2000);
	text = capture_close(&c, r);
	assert_null(strstr(text, "no changes"));
	assert_non_null(strstr(text, "node-1  done: nothing on it to remove in 3.4 s\n"));
	assert_non_null(strstr(text, "\nnode-1: 1 removed\n"));
	assert_true(bs_str_ends_with(text, "\ndestroy: 1 node, 1 removed in 2.0 s\n"));
	free(c.text);
}

/* A run that failed as a whole (a cloud without its token) prints no
 * figures that look like a plan. */
static void test_plain_run_error(void **state)
{
	struct capture c;
	struct bs_reporter *r = capture_open(&c, BS_REPORT_PLAIN, 0, false);
	struct bs_event err = {.kind = BS_EV_RUN_ERROR, .error = "hetzner: no API token"};
	struct bs_counts none = {0};
	const char *text;

	(void)state;
	run_start(r, "plan", 3);
	bs_reporter_event(&err, r);
	summary(r, none, 0);
	text = capture_close(&c, r);
	assert_null(strstr(text, "0 to create"));
	assert_true(bs_str_ends_with(
		text, "\nPlan: stopped before any node was looked at; nothing was planned\n"));
	free(c.text);
}

static void test_plain_quiet(void **state)
{
	struct capture c;
	const char *text = apply_run(&c, -1);

	(void)state;
	assert_int_equal(count_lines(text), 3);
	assert_non_null(strstr(text, "node-2  error: pull nginx:1.25 failed: manifest unknown\n"));
	assert_non_null(strstr(text, "node-2  error: 1 action failed\n"));
	assert_true(bs_str_ends_with(text, "\napply: 2 nodes, 2 created, 1 replaced, 0 updated, "
					   "3 unchanged, 1 failed in 12.3 s\n"));
	free(c.text);
}

/* The last line drawn for node (after the last "\r\033[2K" naming it). */
static char *last_live_line(const char *text, const char *node)
{
	const char *p = text, *found = NULL;

	while ((p = strstr(p, "\r\033[2K")) != NULL) {
		p += 5;
		if (strncmp(p, node, strlen(node)) == 0)
			found = p;
	}
	if (found == NULL)
		return NULL;
	return bs_xstrndup(found, strcspn(found, "\n"));
}

static void test_tty(void **state)
{
	struct capture c;
	struct bs_reporter *r = capture_open(&c, BS_REPORT_TTY, 0, true);
	struct bs_counts one = {.created = 1, .unchanged = 2};
	char long_object[300], *line;
	size_t redraws = 0;
	const char *p;

	(void)state;
	memset(long_object, 'x', sizeof(long_object) - 1);
	long_object[sizeof(long_object) - 1] = '\0';
	run_start(r, "apply", 2);
	action(r, BS_EV_ACTION_STARTED, "node-1", "create", "demo-hello-1", "missing");
	action(r, BS_EV_ACTION_STARTED, "node-2", "create", long_object, "missing");
	usleep(1200 * 1000); /* the ticker redraws at least once */
	action(r, BS_EV_ACTION_FAILED, "node-2", "create", long_object, "boom");
	node_done(r, "node-1", one, NULL);
	node_done(r, "node-2", (struct bs_counts){.failed = 1}, "boom");
	summary(r, (struct bs_counts){.created = 1, .unchanged = 2, .failed = 1}, 1300);
	capture_close(&c, r);

	assert_non_null(strstr(c.text, "\033[2K"));
	assert_non_null(strstr(c.text, "\033[2A"));
	for (p = c.text; (p = strstr(p, "\r\033[2K")) != NULL; p++) {
		const char *end = strchr(p, '\n');
		const char *text = p + 5;

		redraws++;
		if (strncmp(text, "\033[", 2) == 0) /* a colour */
			text += 5;
		assert_true(end - text <= 99 + 4); /* width - 1, plus a colour reset */
	}
	assert_true(redraws >= 6); /* first draws, the ticker, the permanent lines, close */

	line = last_live_line(c.text, "\033[32mnode-1");
	assert_non_null(line);
	assert_non_null(strstr(line, "done: 1 created, 2 unchanged"));
	free(line);
	line = last_live_line(c.text, "\033[31mnode-2");
	assert_non_null(line);
	assert_non_null(strstr(line, "failed: boom"));
	free(line);
	assert_true(bs_str_ends_with(c.text, "apply: 2 nodes, 1 created, 0 replaced, 0 updated, "
					     "2 unchanged, 1 failed in 1.3 s\033[0m\n"));
	free(c.text);
}

static void test_tty_quiet_is_plain(void **state)
{
	struct capture c;
	struct bs_reporter *r = capture_open(&c, BS_REPORT_TTY, -1, false);

	(void)state;
	run_start(r, "destroy", 1);
	action(r, BS_EV_ACTION_STARTED, "node-1", "remove", "demo-hello-1", NULL);
	node_done(r, "node-1", (struct bs_counts){.removed = 1}, NULL);
	capture_close(&c, r);
	assert_null(strchr(c.text, '\033'));
	assert_int_equal(count_lines(c.text), 1);
	assert_true(bs_str_starts_with(c.text, "destroy: 1 node, 1 removed in "));
	free(c.text);
}

struct worker {
	struct bs_reporter *r;
	int id;
};

static void *worker_main(void *arg)
{
	const struct worker *w = arg;
	char node[16], object[32], reason[600];
	int i;

	snprintf(node, sizeof(node), "node-%d", w->id);
	memset(reason, 'a' + w->id, sizeof(reason) - 1);
	reason[sizeof(reason) - 1] = '\0';
	for (i = 0; i < 200; i++) {
		snprintf(object, sizeof(object), "c-%d", i);
		action(w->r, BS_EV_ACTION_STARTED, node, "create", object, reason);
	}
	return NULL;
}

static void test_json_concurrent(void **state)
{
	struct capture c;
	struct bs_reporter *r = capture_open(&c, BS_REPORT_JSON, 0, false);
	struct worker w[4];
	pthread_t t[4];
	cJSON **lines = bs_xcalloc(1000, sizeof(*lines));
	int per_node[4] = {0};
	size_t n, i;

	(void)state;
	for (i = 0; i < 4; i++) {
		w[i].r = r;
		w[i].id = (int)i;
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	n = parse_lines(capture_close(&c, r), lines, 1000);
	assert_int_equal(n, 800);
	for (i = 0; i < n; i++) {
		const char *node = str_of(lines[i], "node");
		const char *reason = str_of(lines[i], "reason");
		int id;

		assert_non_null(node);
		id = node[5] - '0';
		assert_true(id >= 0 && id < 4);
		assert_int_equal(strlen(reason), 599);
		assert_true(reason[0] == 'a' + id && reason[598] == 'a' + id);
		per_node[id]++;
		cJSON_Delete(lines[i]);
	}
	for (i = 0; i < 4; i++)
		assert_int_equal(per_node[i], 200);
	free(lines);
	free(c.text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_fields),
		cmocka_unit_test_teardown(test_secrets_masked, reset_secrets),
		cmocka_unit_test(test_plain_plan),
		cmocka_unit_test(test_plain_apply),
		cmocka_unit_test(test_plain_destroy_machine),
		cmocka_unit_test(test_plain_run_error),
		cmocka_unit_test(test_plain_quiet),
		cmocka_unit_test(test_tty),
		cmocka_unit_test(test_tty_quiet_is_plain),
		cmocka_unit_test(test_json_concurrent),
	};

	return cmocka_run_group_tests_name("cli/report", tests, NULL, NULL);
}
