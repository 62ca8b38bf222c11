/*
 * Unit tests for bs_shell_quote: every value bootstrap puts into a remote
 * command goes through it. Checked against a real /bin/sh on this machine:
 * the shell must print the value back unchanged and run nothing else.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "provision/ssh.h"

static char canary[64];

/* Run: sh -c "printf %s QUOTED" and return what it printed. */
static char *echo_through_shell(const char *value)
{
	char *q = bs_shell_quote(value);
	char *cmd = bs_xasprintf("printf %%s %s", q);
	char *argv_cmd = bs_shell_quote(cmd);
	char *line = bs_xasprintf("/bin/sh -c %s", argv_cmd);
	struct bs_buf out = BS_BUF_INIT;
	char buf[4096];
	size_t n;
	FILE *p = popen(line, "r");

	assert_non_null(p);
	while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
		bs_buf_append(&out, buf, n);
	assert_int_equal(pclose(p), 0);
	free(q);
	free(cmd);
	free(argv_cmd);
	free(line);
	return bs_buf_detach(&out);
}

static void test_quote_forms(void **state)
{
	char *q;

	(void)state;
	q = bs_shell_quote("plain");
	assert_string_equal(q, "'plain'");
	free(q);
	q = bs_shell_quote("it's");
	assert_string_equal(q, "'it'\\''s'");
	free(q);
	q = bs_shell_quote("");
	assert_string_equal(q, "''");
	free(q);
}

static void test_hostile_values_run_nothing(void **state)
{
	const char *templates[] = {
		"x'; touch CANARY; '",	   "$(touch CANARY)",
		"`touch CANARY`",	   "a\nb; touch CANARY",
		"'\"'\"; touch CANARY #",  "\\'; touch CANARY; echo \\",
		"${IFS}touch${IFS}CANARY", "* ? [a-z] {a,b} ~ ! && || ; | < > >> &",
	};
	size_t i;

	(void)state;
	snprintf(canary, sizeof(canary), "/tmp/bs-quote-canary-%d", (int)getpid());
	for (i = 0; i < sizeof(templates) / sizeof(templates[0]); i++) {
		struct bs_buf v = BS_BUF_INIT;
		const char *t = templates[i], *at;
		char *out;

		while ((at = strstr(t, "CANARY")) != NULL) {
			bs_buf_append(&v, t, (size_t)(at - t));
			bs_buf_puts(&v, canary);
			t = at + 6;
		}
		bs_buf_puts(&v, t);
		out = echo_through_shell(bs_buf_str(&v));
		assert_string_equal(out, bs_buf_str(&v));
		assert_int_equal(access(canary, F_OK), -1);
		free(out);
		bs_buf_free(&v);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quote_forms),
		cmocka_unit_test(test_hostile_values_run_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
