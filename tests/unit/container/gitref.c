/*
 * Unit tests for container/gitref.c's reading of a git ref advertisement
 * (gitprotocol-pack(5), gitprotocol-http(5)): what HEAD names, from the
 * git protocol's answer and from smart HTTP's, and answers that name no
 * branch or are no advertisement at all.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "container/gitref.h"
#include "util/str.h"

#define OID "4b825dc642cb6eb9a060e54bf8d69288fbee4904"

/* One pkt-line: four hex digits of length (themselves included), then the
 * payload, which may hold NULs. */
static void pkt(struct bs_buf *b, const char *payload, size_t n)
{
	bs_buf_printf(b, "%04zx", n + 4);
	bs_buf_append(b, payload, n);
}

static void ref_lines(struct bs_buf *b, const char *caps)
{
	char first[512];
	int n = snprintf(first, sizeof(first), "%s HEAD%c%s\n", OID, '\0', caps);

	pkt(b, first, (size_t)n);
	pkt(b, OID " refs/heads/main\n", strlen(OID) + 17);
	bs_buf_puts(b, "0000");
}

static void test_git_protocol(void **state)
{
	struct bs_buf b = BS_BUF_INIT;
	struct bs_err err = BS_ERR_INIT;
	char *branch = NULL;

	(void)state;
	ref_lines(&b, "multi_ack thin-pack side-band symref=HEAD:refs/heads/main agent=git/2.39.5");
	assert_int_equal(bs_git_parse_advert(b.data, b.len, &branch, &err), 0);
	assert_string_equal(branch, "main");
	free(branch);
	bs_buf_free(&b);
}

/* Smart HTTP: "# service=git-upload-pack", a flush, then the refs; a
 * branch with a slash; the symref capability last. */
static void test_smart_http(void **state)
{
	struct bs_buf b = BS_BUF_INIT;
	struct bs_err err = BS_ERR_INIT;
	char *branch = NULL;

	(void)state;
	pkt(&b, "# service=git-upload-pack\n", 26);
	bs_buf_puts(&b, "0000");
	ref_lines(&b, "ofs-delta agent=git/2.43.0 symref=HEAD:refs/heads/release/2.x");
	assert_int_equal(bs_git_parse_advert(b.data, b.len, &branch, &err), 0);
	assert_string_equal(branch, "release/2.x");
	free(branch);
	bs_buf_free(&b);
}

/* No branch to name: HEAD unborn or detached (no symref), an empty
 * repository (a flush alone), protocol v2's capability list; a symref
 * that is no safe branch name is not taken. */
static void test_no_branch(void **state)
{
	static const char *const caps[] = {
		"multi_ack thin-pack agent=git/2.39.5",
		"symref=HEAD:refs/tags/v1",
		"symref=HEAD:refs/heads/",
		"symref=HEAD:refs/heads/a..b",
		"symref=HEAD:refs/heads/-rf",
	};
	struct bs_err err = BS_ERR_INIT;
	char *branch = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		struct bs_buf b = BS_BUF_INIT;

		ref_lines(&b, caps[i]);
		assert_int_equal(bs_git_parse_advert(b.data, b.len, &branch, &err),
				 BS_ERR_NOT_FOUND);
		assert_null(branch);
		bs_buf_free(&b);
	}
	assert_int_equal(bs_git_parse_advert("0000", 4, &branch, &err), BS_ERR_NOT_FOUND);
	assert_int_equal(bs_git_parse_advert("000eversion 2\n0001", 18, &branch, &err),
			 BS_ERR_NOT_FOUND);
	assert_null(branch);
}

/* Not an advertisement: HTML from a login page, a length past the end,
 * and the server's own refusal ("ERR ..."), said in the error. */
static void test_not_an_advert(void **state)
{
	struct bs_buf b = BS_BUF_INIT;
	struct bs_err err = BS_ERR_INIT;
	char *branch = NULL;

	(void)state;
	assert_int_equal(bs_git_parse_advert("<html>", 6, &branch, &err), BS_ERR_PROTOCOL);
	bs_err_clear(&err);
	assert_int_equal(bs_git_parse_advert("00ff" OID " HEAD", 49, &branch, &err),
			 BS_ERR_PROTOCOL);
	assert_non_null(strstr(err.msg, "cut short"));
	bs_err_clear(&err);
	pkt(&b, "ERR access denied or repository not exported: /x.git\n", 53);
	assert_int_equal(bs_git_parse_advert(b.data, b.len, &branch, &err), BS_ERR_NOT_FOUND);
	assert_string_equal(
		err.msg, "the git server says: access denied or repository not exported: /x.git");
	assert_null(branch);
	bs_buf_free(&b);
}

/* URLs it cannot ask are refused before any connection. */
static void test_urls_not_asked(void **state)
{
	static const char *const urls[] = {
		"git@example.test:shop/app.git",
		"ssh://git@example.test/shop/app.git",
		"https://example.test/shop/app.git#main",
		"example.test/shop/app.git",
		"https://",
	};
	char *branch = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		struct bs_err err = BS_ERR_INIT;

		assert_int_equal(bs_git_default_branch(urls[i], 1000, &branch, &err),
				 BS_ERR_INVALID);
		assert_null(branch);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_git_protocol),   cmocka_unit_test(test_smart_http),
		cmocka_unit_test(test_no_branch),      cmocka_unit_test(test_not_an_advert),
		cmocka_unit_test(test_urls_not_asked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
