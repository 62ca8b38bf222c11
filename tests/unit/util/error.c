/*
 * Unit tests for util/error.c: the one strerror and the caller-owned error
 * buffer (set, prefix with context, truncation, clear).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "util/error.h"

static void test_strerror(void **state)
{
	int code;

	(void)state;
	assert_string_equal(bs_strerror(BS_OK), "success");
	assert_string_equal(bs_strerror(BS_ERR_INVALID), "invalid input");
	assert_string_equal(bs_strerror(BS_ERR_HOSTKEY), "host key verification failed");
	assert_string_equal(bs_strerror(12345), "unknown error");
	/* every code has its own phrase */
	for (code = BS_ERR_NOMEM; code >= BS_ERR_REMOTE; code--) {
		int other;

		assert_string_not_equal(bs_strerror(code), "unknown error");
		for (other = code - 1; other >= BS_ERR_REMOTE; other--)
			assert_string_not_equal(bs_strerror(code), bs_strerror(other));
	}
}

static void test_err_set(void **state)
{
	struct bs_err err = BS_ERR_INIT;

	(void)state;
	assert_int_equal(bs_err_set(&err, BS_ERR_AUTH, "registry %s: %d", "ghcr.io", 401),
			 BS_ERR_AUTH);
	assert_int_equal(err.code, BS_ERR_AUTH);
	assert_string_equal(err.msg, "registry ghcr.io: 401");
	assert_int_equal(bs_err_set(NULL, BS_ERR_IO, "dropped"), BS_ERR_IO);
	bs_err_clear(&err);
	assert_int_equal(err.code, BS_OK);
	assert_string_equal(err.msg, "");
	bs_err_clear(NULL);
}

static void test_err_prefix(void **state)
{
	struct bs_err err = BS_ERR_INIT;

	(void)state;
	bs_err_set(&err, BS_ERR_NETWORK, "connection refused");
	bs_err_prefix(&err, "node %s", "web-2");
	assert_string_equal(err.msg, "node web-2: connection refused");
	assert_int_equal(err.code, BS_ERR_NETWORK);
	bs_err_prefix(&err, "apply");
	assert_string_equal(err.msg, "apply: node web-2: connection refused");
	bs_err_prefix(NULL, "ignored");
}

static void test_err_truncates(void **state)
{
	struct bs_err err = BS_ERR_INIT;
	char big[BS_ERR_MSG_MAX * 2];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	bs_err_set(&err, BS_ERR_API, "%s", big);
	assert_int_equal(strlen(err.msg), BS_ERR_MSG_MAX - 1);
	bs_err_prefix(&err, "ctx");
	assert_int_equal(strlen(err.msg), BS_ERR_MSG_MAX - 1);
	assert_true(strncmp(err.msg, "ctx: xxx", 8) == 0);
	/* a prefix that fills the buffer by itself */
	bs_err_set(&err, BS_ERR_API, "tail");
	bs_err_prefix(&err, "%s", big);
	assert_int_equal(strlen(err.msg), BS_ERR_MSG_MAX - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_err_set),
		cmocka_unit_test(test_err_prefix),
		cmocka_unit_test(test_err_truncates),
	};

	return cmocka_run_group_tests_name("util/error", tests, NULL, NULL);
}
