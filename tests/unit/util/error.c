/*
 * Unit tests for util/error.c: the one strerror and the caller-owned error
 * buffer (set, prefix with context, truncation, clear), and the masking of
 * registered secrets before the message is cut to the buffer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "util/error.h"
#include "util/log.h"

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

/* A secret with characters that URL encoding changes, long enough to be
 * unique: no 8 of its characters in a row may appear in a message. */
static const char secret[] = "S3cr3t/Pa$$:w0rd+with&odd=chars%41 and spaces!";

static void assert_no_part_of_secret(const char *text)
{
	size_t i, n = strlen(secret);
	char part[9];

	for (i = 0; i + 8 <= n; i++) {
		memcpy(part, secret + i, 8);
		part[8] = '\0';
		if (strstr(text, part) != NULL)
			fail_msg("'%s' of the secret is in: %s", part, text);
	}
}

static int clear_secrets(void **state)
{
	(void)state;
	bs_secret_clear();
	return 0;
}

/* The secret at every offset across the cut of bs_err_set: never in part. */
static void test_err_set_masks_before_cut(void **state)
{
	struct bs_err err = BS_ERR_INIT;
	char filler[BS_ERR_MSG_MAX];
	size_t n = strlen(secret), at;

	(void)state;
	bs_secret_add(secret);
	memset(filler, 'f', sizeof(filler));
	for (at = BS_ERR_MSG_MAX - n - 2; at < BS_ERR_MSG_MAX; at++) {
		filler[at] = '\0';
		bs_err_set(&err, BS_ERR_API, "%s%s tail", filler, secret);
		filler[at] = 'f';
		assert_no_part_of_secret(err.msg);
		assert_true(strlen(err.msg) < BS_ERR_MSG_MAX);
		if (at + 3 < BS_ERR_MSG_MAX)
			assert_non_null(strstr(err.msg, "***"));
	}
	/* the URL-encoded form too (a password in a URL an answer quotes) */
	bs_err_set(&err, BS_ERR_API, "GET https://u:%s@h/ failed",
		   "S3cr3t%2FPa%24%24%3Aw0rd%2Bwith%26odd%3Dchars%2541%20and%20spaces%21");
	assert_string_equal(err.msg, "GET https://u:***@h/ failed");
	/* a message that quotes its own buffer still works */
	bs_err_set(&err, BS_ERR_API, "short %s", secret);
	bs_err_set(&err, BS_ERR_API, "again: %s", err.msg);
	assert_string_equal(err.msg, "again: short ***");
}

/* Prefixes push the old message past the cut: the secret never splits. */
static void test_err_prefix_masks_before_cut(void **state)
{
	struct bs_err err = BS_ERR_INIT;
	char filler[BS_ERR_MSG_MAX];
	size_t n = strlen(secret), at;

	(void)state;
	memset(filler, 'p', sizeof(filler));
	for (at = BS_ERR_MSG_MAX - n - 6; at < BS_ERR_MSG_MAX; at++) {
		/* set before the secret is known: the prefix masks the whole */
		bs_secret_clear();
		bs_err_set(&err, BS_ERR_API, "%s end", secret);
		bs_secret_add(secret);
		filler[at] = '\0';
		bs_err_prefix(&err, "%s", filler);
		filler[at] = 'p';
		assert_no_part_of_secret(err.msg);
		/* a secret in the prefix itself, at the cut */
		bs_err_set(&err, BS_ERR_API, "old message");
		filler[at - n] = '\0';
		bs_err_prefix(&err, "%s%s", filler, secret);
		filler[at - n] = 'p';
		assert_no_part_of_secret(err.msg);
	}
}

/* A cut never splits a UTF-8 character. */
static void test_err_cut_on_character(void **state)
{
	struct bs_err err = BS_ERR_INIT;
	char big[BS_ERR_MSG_MAX * 2];
	size_t i;

	(void)state;
	for (i = 0; i + 2 < sizeof(big); i += 2) {
		big[i] = (char)0xC3; /* e acute */
		big[i + 1] = (char)0xA9;
	}
	big[i] = '\0';
	/* byte 1023 would be the second half of a character */
	bs_err_set(&err, BS_ERR_API, "%s", big);
	assert_int_equal(strlen(err.msg), BS_ERR_MSG_MAX - 2);
	assert_int_equal((unsigned char)err.msg[strlen(err.msg) - 1], 0xA9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_err_set),
		cmocka_unit_test(test_err_prefix),
		cmocka_unit_test(test_err_truncates),
		cmocka_unit_test_setup_teardown(test_err_set_masks_before_cut, clear_secrets,
						clear_secrets),
		cmocka_unit_test_setup_teardown(test_err_prefix_masks_before_cut, clear_secrets,
						clear_secrets),
		cmocka_unit_test(test_err_cut_on_character),
	};

	return cmocka_run_group_tests_name("util/error", tests, NULL, NULL);
}
