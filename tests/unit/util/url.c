/*
 * Unit tests for util/url.c: which URLs may carry a credential in clear
 * text (only to this machine), and the host part of a URL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>

#include "util/url.h"

static void test_loopback(void **state)
{
	(void)state;
	assert_true(bs_host_is_loopback("127.0.0.1"));
	assert_true(bs_host_is_loopback("127.0.0.1:5000"));
	assert_true(bs_host_is_loopback("127.3.4.5:80"));
	assert_true(bs_host_is_loopback("localhost:8080"));
	assert_true(bs_host_is_loopback("[::1]:5000"));
	assert_true(bs_host_is_loopback("[0:0:0:0:0:0:0:1]:5000"));
	assert_false(bs_host_is_loopback("127.evil.example"));
	assert_false(bs_host_is_loopback("127.0.0.1.evil.example:80"));
	assert_false(bs_host_is_loopback("localhost.evil.example"));
	assert_false(bs_host_is_loopback("10.0.0.1"));
	assert_false(bs_host_is_loopback("[::2]:80"));
	assert_false(bs_host_is_loopback("[::1"));
	assert_false(bs_host_is_loopback(""));
	assert_false(bs_host_is_loopback(":80"));
	/* strict: nothing but a port may follow the host */
	assert_false(bs_host_is_loopback("127.0.0.1:5000@evil.example"));
	assert_false(bs_host_is_loopback("[::1]@evil.example"));
	assert_false(bs_host_is_loopback("[::1]evil.example"));
	assert_false(bs_host_is_loopback("127.0.0.1:"));
	assert_false(bs_host_is_loopback("127.0.0.1:123456"));
	assert_false(bs_host_is_loopback("127.0.0.1:80:80"));
	assert_false(bs_host_is_loopback("[127.0.0.1]:80"));
	assert_false(bs_host_is_loopback("::1"));
	assert_true(bs_host_is_loopback("[::1]"));
}

static void test_url_host(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(bs_url_host("https://api.example.com/v1", buf, sizeof(buf)),
			    "api.example.com");
	assert_string_equal(bs_url_host("http://u:p@127.0.0.1:8080/v2?x#y", buf, sizeof(buf)),
			    "127.0.0.1:8080");
	assert_string_equal(bs_url_host("http://[::1]:80", buf, sizeof(buf)), "[::1]:80");
	assert_string_equal(bs_url_host("registry.example.com:5000", buf, sizeof(buf)),
			    "registry.example.com:5000");
	/* cut to the buffer, still terminated */
	assert_string_equal(bs_url_host("https://a-very-long-host-name.example.com/", buf, 8),
			    "a-very-");
	/* an '@' after the authority is not userinfo */
	assert_string_equal(bs_url_host("http://h/p@q", buf, sizeof(buf)), "h");
}

static void test_userinfo(void **state)
{
	(void)state;
	assert_true(bs_url_has_userinfo("https://user:tok@git.example.com/a.git"));
	assert_true(bs_url_has_userinfo("http://tok@git.example.com/a.git"));
	assert_false(bs_url_has_userinfo("https://git.example.com/a@b.git"));
	assert_false(bs_url_has_userinfo("git@github.example:a/b.git"));
}

static void check_secret(const char *url, const char *want)
{
	char *got = bs_url_userinfo_secret(url);

	if (want == NULL)
		assert_null(got);
	else
		assert_string_equal(got, want);
	free(got);
}

static void test_userinfo_secret(void **state)
{
	(void)state;
	check_secret("https://deploy:s3cr@t@git.example.com/a.git", "s3cr@t");
	check_secret("https://ghp_0123456789abcdefXYZ@git.example.com/a.git",
		     "ghp_0123456789abcdefXYZ");
	/* a user name alone is not a secret */
	check_secret("https://git@git.example.com/a.git", NULL);
	check_secret("https://alice@git.example.com/a.git", NULL);
	check_secret("https://user:@git.example.com/a.git", NULL);
	check_secret("https://git.example.com/a.git#main", NULL);
	check_secret("https://@git.example.com/a.git", NULL);
	check_secret("git@github.example:a/b.git", NULL);
}

static void test_cleartext_remote(void **state)
{
	(void)state;
	assert_true(bs_url_is_cleartext_remote("http://api.example.com/v1"));
	assert_true(bs_url_is_cleartext_remote("http://10.0.0.1:8080/v1"));
	assert_true(bs_url_is_cleartext_remote("HTTP://api.example.com/v1"));
	assert_true(bs_url_is_cleartext_remote("http://127.0.0.1.evil.example/v1"));
	/* the host is what counts, not a user name that looks like loopback */
	assert_true(bs_url_is_cleartext_remote("http://127.0.0.1@evil.example/v1"));
	assert_false(bs_url_is_cleartext_remote("http://127.0.0.1:8080/v1"));
	assert_false(bs_url_is_cleartext_remote("http://localhost/v1"));
	assert_false(bs_url_is_cleartext_remote("http://[::1]:9000/"));
	assert_false(bs_url_is_cleartext_remote("https://api.example.com/v1"));
	assert_false(bs_url_is_cleartext_remote("HTTPS://api.example.com/v1"));
	/* fail closed: what curl might still read as http to a remote host */
	assert_true(bs_url_is_cleartext_remote("http:/evil.example/v1"));
	assert_true(bs_url_is_cleartext_remote("evil.example/v1"));
	assert_true(bs_url_is_cleartext_remote("http://127.0.0.1:80@evil.example/v1"));
}

static void test_login_in_clear(void **state)
{
	(void)state;
	assert_true(bs_url_login_in_clear("http://u:tok@git.example.com/a.git"));
	assert_true(bs_url_login_in_clear("git://u:tok@git.example.com/a.git"));
	assert_false(bs_url_login_in_clear("http://u:tok@127.0.0.1:3000/a.git"));
	assert_false(bs_url_login_in_clear("https://u:tok@git.example.com/a.git"));
	assert_false(bs_url_login_in_clear("ssh://git:pw@git.example.com/a.git"));
	assert_false(bs_url_login_in_clear("http://git.example.com/a.git"));
	assert_false(bs_url_login_in_clear("git@git.example.com:a/b.git"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loopback),	 cmocka_unit_test(test_url_host),
		cmocka_unit_test(test_userinfo),	 cmocka_unit_test(test_userinfo_secret),
		cmocka_unit_test(test_cleartext_remote), cmocka_unit_test(test_login_in_clear),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
