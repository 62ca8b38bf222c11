/*
 * Unit tests for util/log.c: the sink-based logger (levels, formatting) and
 * secret masking, which every line passes through before any sink sees it.
 *
 * The logger is process-global; each test starts from a clean state (no
 * sink, level info, no secrets) set by the group's per-test setup.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

struct captured {
	struct bs_strv lines;
	enum bs_log_level levels[32];
	int n_calls;
	void *payload_seen;
};

static void capture_sink(enum bs_log_level level, const char *line, void *payload)
{
	struct captured *c = payload;

	if (c->n_calls < 32)
		c->levels[c->n_calls] = level;
	c->n_calls++;
	c->payload_seen = payload;
	bs_strv_push(&c->lines, line);
}

static int reset_logger(void **state)
{
	(void)state;
	bs_log_set_sink(NULL, NULL);
	bs_log_set_level(BS_LOG_INFO);
	bs_secret_clear();
	return 0;
}

static char *masked(const char *text)
{
	struct bs_buf out = BS_BUF_INIT;

	bs_secret_mask(&out, text);
	return bs_buf_detach(&out);
}

static void test_no_sink_drops(void **state)
{
	(void)state;
	assert_false(bs_log_enabled(BS_LOG_ERROR));
	bs_log(BS_LOG_ERROR, "dropped %d", 1); /* no crash, nothing to see */
}

static void test_sink_receives_formatted(void **state)
{
	struct captured c;

	(void)state;
	memset(&c, 0, sizeof(c));
	bs_log_set_sink(capture_sink, &c);
	bs_log(BS_LOG_INFO, "node %s: ssh %s:%d", "web-2", "203.0.113.7", 22);
	bs_log(BS_LOG_ERROR, "%s", "");
	assert_int_equal(c.n_calls, 2);
	assert_string_equal(c.lines.v[0], "node web-2: ssh 203.0.113.7:22");
	assert_string_equal(c.lines.v[1], "");
	assert_int_equal(c.levels[0], BS_LOG_INFO);
	assert_int_equal(c.levels[1], BS_LOG_ERROR);
	assert_ptr_equal(c.payload_seen, &c);
	bs_strv_free(&c.lines);
}

static void test_level_filter(void **state)
{
	struct captured c;

	(void)state;
	memset(&c, 0, sizeof(c));
	bs_log_set_sink(capture_sink, &c);
	assert_int_equal(bs_log_get_level(), BS_LOG_INFO);
	assert_true(bs_log_enabled(BS_LOG_ERROR));
	assert_true(bs_log_enabled(BS_LOG_WARN));
	assert_true(bs_log_enabled(BS_LOG_INFO));
	assert_false(bs_log_enabled(BS_LOG_DEBUG));
	bs_log(BS_LOG_DEBUG, "debug");
	bs_log(BS_LOG_TRACE, "trace");
	bs_log(BS_LOG_WARN, "warn");
	assert_int_equal(c.n_calls, 1);
	assert_string_equal(c.lines.v[0], "warn");

	bs_log_set_level(BS_LOG_ERROR);
	bs_log(BS_LOG_WARN, "hidden");
	bs_log(BS_LOG_ERROR, "shown");
	assert_int_equal(c.n_calls, 2);
	assert_string_equal(c.lines.v[1], "shown");

	bs_log_set_level(BS_LOG_TRACE);
	bs_log(BS_LOG_TRACE, "trace %d", 2);
	assert_int_equal(c.n_calls, 3);
	assert_string_equal(c.lines.v[2], "trace 2");
	assert_int_equal(c.levels[2], BS_LOG_TRACE);

	bs_log_set_sink(NULL, NULL);
	bs_log(BS_LOG_ERROR, "after removal");
	assert_int_equal(c.n_calls, 3);
	bs_strv_free(&c.lines);
}

static void test_level_clamped(void **state)
{
	(void)state;
	bs_log_set_level((enum bs_log_level)99);
	assert_int_equal(bs_log_get_level(), BS_LOG_TRACE);
	bs_log_set_level((enum bs_log_level) - 3);
	assert_int_equal(bs_log_get_level(), BS_LOG_ERROR);
}

static void test_level_names(void **state)
{
	(void)state;
	assert_string_equal(bs_log_level_name(BS_LOG_ERROR), "error");
	assert_string_equal(bs_log_level_name(BS_LOG_WARN), "warning");
	assert_string_equal(bs_log_level_name(BS_LOG_INFO), "info");
	assert_string_equal(bs_log_level_name(BS_LOG_DEBUG), "debug");
	assert_string_equal(bs_log_level_name(BS_LOG_TRACE), "trace");
	assert_non_null(bs_log_level_name((enum bs_log_level)42));
}

static void test_sink_gets_masked_lines(void **state)
{
	struct captured c;

	(void)state;
	memset(&c, 0, sizeof(c));
	bs_secret_add("hunter2");
	bs_log_set_sink(capture_sink, &c);
	bs_log(BS_LOG_INFO, "login deploy:%s at %s", "hunter2", "registry.example.com");
	/* a secret that arrives split over format arguments is still caught */
	bs_log(BS_LOG_WARN, "echo: %s%s!", "hun", "ter2");
	bs_log(BS_LOG_INFO, "hunter2hunter2");
	assert_int_equal(c.n_calls, 3);
	assert_string_equal(c.lines.v[0], "login deploy:*** at registry.example.com");
	assert_string_equal(c.lines.v[1], "echo: ***!");
	assert_string_equal(c.lines.v[2], "***"); /* one covered run */
	bs_strv_free(&c.lines);
}

static void test_mask_longest_first(void **state)
{
	char *s;

	(void)state;
	/* registered short one first: the longer one must still win */
	bs_secret_add("abc");
	bs_secret_add("abcdef");
	s = masked("x abcdef y abc z abcde");
	assert_string_equal(s, "x *** y *** z ***de");
	free(s);
	bs_secret_clear();
	bs_secret_add("abcdef");
	bs_secret_add("abc");
	/* adjacent occurrences are one covered run */
	s = masked("abcdefabc");
	assert_string_equal(s, "***");
	free(s);
}

/* Overlapping secrets: every byte of every occurrence is covered, so no
 * tail of the second one shows after the first is replaced. */
static void test_mask_overlapping_secrets(void **state)
{
	char *s;

	(void)state;
	bs_secret_add("ab12");
	bs_secret_add("12cd34");
	s = masked("token=ab12cd34 and ab12 and 12cd34, 12cd3");
	assert_string_equal(s, "token=*** and *** and ***, 12cd3");
	free(s);
	bs_secret_clear();
	/* registered the other way round, and one inside another */
	bs_secret_add("12cd34");
	bs_secret_add("ab12");
	bs_secret_add("xcd3");
	s = masked("<ab12cd34>");
	assert_string_equal(s, "<***>");
	free(s);
	s = masked("-xcd34ab12-");
	assert_string_equal(s, "-***4***-");
	free(s);
}

static void test_mask_overlap_and_edges(void **state)
{
	char *s;

	(void)state;
	bs_secret_add("aa");
	s = masked("aaa");
	assert_string_equal(s, "***");
	free(s);
	s = masked("");
	assert_string_equal(s, "");
	free(s);
	s = masked("b");
	assert_string_equal(s, "b");
	free(s);
}

static void test_mask_appends(void **state)
{
	struct bs_buf out = BS_BUF_INIT;

	(void)state;
	bs_secret_add("pw");
	bs_buf_puts(&out, "prefix ");
	bs_secret_mask(&out, "pw and pw");
	assert_string_equal(bs_buf_str(&out), "prefix *** and ***");
	bs_buf_free(&out);
	/* masking empty text into an empty buffer still gives a C string */
	bs_secret_mask(&out, "");
	assert_non_null(out.data);
	assert_string_equal(out.data, "");
	bs_buf_free(&out);
}

static void test_secret_empty_and_duplicates(void **state)
{
	char *s;

	(void)state;
	bs_secret_add("");
	bs_secret_add(NULL);
	s = masked("nothing to hide");
	assert_string_equal(s, "nothing to hide");
	free(s);
	bs_secret_add("hide");
	bs_secret_add("hide");
	s = masked("nothing to hide");
	assert_string_equal(s, "nothing to ***");
	free(s);
}

static void test_secret_clear(void **state)
{
	char *s;

	(void)state;
	bs_secret_add("token-123");
	s = masked("token-123");
	assert_string_equal(s, "***");
	free(s);
	bs_secret_clear();
	s = masked("token-123");
	assert_string_equal(s, "token-123");
	free(s);
	bs_secret_clear(); /* twice is fine */
}

static void test_secret_copied(void **state)
{
	char value[] = "mutable-secret";
	char *s;

	(void)state;
	bs_secret_add(value);
	memset(value, 'x', sizeof(value) - 1);
	s = masked("a mutable-secret b");
	assert_string_equal(s, "a *** b");
	free(s);
}

static void test_long_line(void **state)
{
	struct captured c;
	char big[5000];

	(void)state;
	memset(&c, 0, sizeof(c));
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	bs_secret_add("yyyy");
	bs_log_set_sink(capture_sink, &c);
	bs_log(BS_LOG_INFO, "%s", big);
	assert_int_equal(c.n_calls, 1);
	/* 4999 y, all covered by overlapping occurrences: one run */
	assert_string_equal(c.lines.v[0], "***");
	bs_strv_free(&c.lines);
}

/* Mask, then cut: a secret across the cut is masked whole, never halved. */
static void test_mask_cut(void **state)
{
	const char *secret = "0123456789-abcdefghij";
	char text[64], out[16];
	size_t at;

	(void)state;
	bs_secret_add(secret);
	for (at = 0; at < 16; at++) {
		memset(text, '.', at);
		snprintf(text + at, sizeof(text) - at, "%s!", secret);
		bs_secret_mask_cut(out, sizeof(out), text);
		assert_true(strlen(out) < sizeof(out));
		assert_null(strstr(out, "01234567"));
		assert_null(strstr(out, "456789"));
		if (at + 3 < sizeof(out))
			assert_non_null(strstr(out, "***"));
	}
	/* in place */
	snprintf(text, sizeof(text), "k=%s", secret);
	bs_secret_mask_cut(text, sizeof(text), text);
	assert_string_equal(text, "k=***");
	/* size 1: the empty string; size 0: nothing written */
	bs_secret_mask_cut(out, 1, secret);
	assert_string_equal(out, "");
	out[0] = 'z';
	bs_secret_mask_cut(out, 0, secret);
	assert_int_equal(out[0], 'z');
}

static void format_into(char *dst, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void format_into(char *dst, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	bs_secret_vformat(dst, size, fmt, ap);
	va_end(ap);
}

static void test_vformat_masks_before_cut(void **state)
{
	char out[24];

	(void)state;
	bs_secret_add("correct horse battery staple");
	/* the secret arrives split over arguments, and runs past the cut */
	format_into(out, sizeof(out), "%d: %s%s", 401, "correct horse ", "battery staple!");
	assert_string_equal(out, "401: ***!");
	format_into(out, sizeof(out), "%s%s", "xxxxxxxxxxxxxxxxxxxx",
		    "correct horse battery staple");
	assert_string_equal(out, "xxxxxxxxxxxxxxxxxxxx***");
	format_into(out, sizeof(out), "%s%s", "xxxxxxxxxxxxxxxxxxxxxx",
		    "correct horse battery staple");
	assert_string_equal(out, "xxxxxxxxxxxxxxxxxxxxxx*");
}

/* The URL-encoded form of a secret is masked too; a secret that encoding
 * leaves as it is is registered once. */
static void test_secret_url_encoded(void **state)
{
	char *s;

	(void)state;
	bs_secret_add("p@ss w/rd:1");
	s = masked("https://u:p%40ss%20w%2Frd%3A1@registry/v2/ and p@ss w/rd:1");
	assert_string_equal(s, "https://u:***@registry/v2/ and ***");
	free(s);
	bs_secret_add("plain-Token_1.2~3");
	s = masked("plain-Token_1.2~3");
	assert_string_equal(s, "***");
	free(s);
}

/* Lower-case hex, and a form body's '+' for a space, are masked too. */
static void test_secret_form_encoded(void **state)
{
	char *s;

	(void)state;
	bs_secret_add("p@ss w/rd:1");
	s = masked("a=p%40ss%20w%2frd%3a1 b=p%40ss+w%2Frd%3A1 c=p%40ss+w%2frd%3a1 d=p@ss+w/rd:1");
	assert_string_equal(s, "a=*** b=*** c=*** d=p@ss+w/rd:1");
	free(s);
}

/* The UTF-8 back-off of a cut stops after 3 bytes: a run of continuation
 * bytes that is not UTF-8 does not cut the whole message away. */
static void test_mask_cut_utf8(void **state)
{
	char text[64], out[32];

	(void)state;
	/* a 3-byte character across the cut: backed off to before it */
	snprintf(text, sizeof(text), "%s", "0123456789012345678901234567\xe2\x82\xac!");
	bs_secret_mask_cut(out, 30, text);
	assert_string_equal(out, "0123456789012345678901234567");
	/* 40 continuation bytes: at most 3 given back */
	memset(text, 0x80, 40);
	text[40] = '\0';
	bs_secret_mask_cut(out, sizeof(out), text);
	assert_int_equal(strlen(out), sizeof(out) - 1 - 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_no_sink_drops, reset_logger, reset_logger),
		cmocka_unit_test_setup_teardown(test_sink_receives_formatted, reset_logger,
						reset_logger),
		cmocka_unit_test_setup_teardown(test_level_filter, reset_logger, reset_logger),
		cmocka_unit_test_setup_teardown(test_level_clamped, reset_logger, reset_logger),
		cmocka_unit_test_setup_teardown(test_level_names, reset_logger, reset_logger),
		cmocka_unit_test_setup_teardown(test_sink_gets_masked_lines, reset_logger,
						reset_logger),
		cmocka_unit_test_setup_teardown(test_mask_longest_first, reset_logger,
						reset_logger),
		cmocka_unit_test_setup_teardown(test_mask_overlap_and_edges, reset_logger,
						reset_logger),
		cmocka_unit_test_setup_teardown(test_mask_overlapping_secrets, reset_logger,
						reset_logger),
		cmocka_unit_test_setup_teardown(test_mask_appends, reset_logger, reset_logger),
		cmocka_unit_test_setup_teardown(test_secret_empty_and_duplicates, reset_logger,
						reset_logger),
		cmocka_unit_test_setup_teardown(test_secret_clear, reset_logger, reset_logger),
		cmocka_unit_test_setup_teardown(test_secret_copied, reset_logger, reset_logger),
		cmocka_unit_test_setup_teardown(test_long_line, reset_logger, reset_logger),
		cmocka_unit_test_setup_teardown(test_mask_cut, reset_logger, reset_logger),
		cmocka_unit_test_setup_teardown(test_vformat_masks_before_cut, reset_logger,
						reset_logger),
		cmocka_unit_test_setup_teardown(test_secret_url_encoded, reset_logger,
						reset_logger),
		cmocka_unit_test_setup_teardown(test_secret_form_encoded, reset_logger,
						reset_logger),
		cmocka_unit_test_setup_teardown(test_mask_cut_utf8, reset_logger, reset_logger),
	};

	return cmocka_run_group_tests_name("util/log", tests, NULL, NULL);
}
