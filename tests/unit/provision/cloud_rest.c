/*
 * Unit tests for the pure parts of provision/cloud_rest.c: SSH key
 * fingerprints (checked against `ssh-keygen -E md5 -lf`), query escaping,
 * both pagination styles, both error shapes, the 429 wait, the status ->
 * bs_error mapping and its messages, and the identity labels and tags.
 * No network: bs_rest_open is only used to see the token checks and masking.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "provision/cloud_rest.h"
#include "util/log.h"

#define expect_contains(text, part)                                                                \
	do {                                                                                       \
		if (strstr((text), (part)) == NULL)                                                \
			fail_msg("'%s' lacks '%s'", (text), (part));                               \
	} while (0)

/* Made with `ssh-keygen -t ed25519 -C ci@bootstrap` and `-t ecdsa -b 256`;
 * the fingerprints are what `ssh-keygen -E md5 -lf KEY.pub` printed. */
static const char ed25519_pub[] =
	"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEvcqYIpyupYOmqNTgYX3UZW3+hHMulezMJUJdPAcnMW ci@bootstrap";
static const char ed25519_md5[] = "50:44:fc:bc:a8:5e:73:6c:79:32:03:48:fb:d5:f4:5c";
static const char ecdsa_pub[] =
	"ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBF7bq6k7OkLd5DtZUCdmW9cJ2Q90v+Gk9lko0ABoOJIS3EVCIC2stMz6ea80WXiiWRukrYEoQWv6TKI2rFbJ/9E= ";
static const char ecdsa_md5[] = "f2:67:e0:32:ef:8f:12:59:e8:a3:fa:d4:43:27:a7:6a";

static void test_fingerprint(void **state)
{
	char fp[BS_MD5_FINGERPRINT_LEN];
	struct bs_err err = BS_ERR_INIT;
	char *with_newline = bs_xasprintf("  %s\n", ed25519_pub);

	(void)state;
	assert_int_equal(bs_ssh_md5_fingerprint(fp, ed25519_pub, &err), 0);
	assert_string_equal(fp, ed25519_md5);
	assert_int_equal(bs_ssh_md5_fingerprint(fp, ecdsa_pub, &err), 0);
	assert_string_equal(fp, ecdsa_md5);
	/* surrounding whitespace and the trailing newline of a .pub file */
	assert_int_equal(bs_ssh_md5_fingerprint(fp, with_newline, &err), 0);
	assert_string_equal(fp, ed25519_md5);
	free(with_newline);
}

static void test_fingerprint_refuses(void **state)
{
	static const char *const bad[] = {
		"",
		"ssh-ed25519",
		"ssh-ed25519 !!!notbase64",
		/* the blob says ssh-ed25519, the line says ssh-rsa */
		"ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIEvcqYIpyupYOmqNTgYX3UZW3+hHMulezMJUJdPAcnMW",
		"ssh-ed25519 AAAA",
		"-----BEGIN OPENSSH PRIVATE KEY-----",
		NULL,
	};
	char fp[BS_MD5_FINGERPRINT_LEN];
	size_t i;

	(void)state;
	for (i = 0; bad[i] != NULL; i++) {
		struct bs_err err = BS_ERR_INIT;

		if (bs_ssh_md5_fingerprint(fp, bad[i], &err) != BS_ERR_INVALID)
			fail_msg("accepted '%s'", bad[i]);
		expect_contains(err.msg, "not an OpenSSH one-line key");
		assert_string_equal(fp, "");
	}
}

static void test_public_key_clean(void **state)
{
	char *k;

	(void)state;
	k = bs_ssh_public_key_clean("\tssh-ed25519   AAAAxyz  my comment here\n");
	assert_string_equal(k, "ssh-ed25519 AAAAxyz");
	free(k);
	assert_null(bs_ssh_public_key_clean("ssh-ed25519"));
	assert_null(bs_ssh_public_key_clean("   \n"));
}

static void test_escape_and_pages(void **state)
{
	char *s;

	(void)state;
	s = bs_rest_escape("bootstrap.project=shop");
	assert_string_equal(s, "bootstrap.project%3Dshop");
	free(s);
	s = bs_rest_escape("bootstrap-project:shop a/b&c?~_");
	assert_string_equal(s, "bootstrap-project%3Ashop%20a%2Fb%26c%3F~_");
	free(s);
	s = bs_rest_escape("50:44:fc");
	assert_string_equal(s, "50%3A44%3Afc");
	free(s);
	s = bs_rest_page_path("/servers", 1, 50);
	assert_string_equal(s, "/servers?page=1&per_page=50");
	free(s);
	s = bs_rest_page_path("/droplets?tag_name=x", 3, 200);
	assert_string_equal(s, "/droplets?tag_name=x&page=3&per_page=200");
	free(s);
}

static long next_of(enum bs_rest_dialect d, const char *json)
{
	cJSON *root = cJSON_Parse(json);
	long n;

	assert_non_null(root);
	n = bs_rest_next_page(d, root);
	cJSON_Delete(root);
	return n;
}

static void test_next_page_hetzner(void **state)
{
	(void)state;
	/* the documented block, on the first of three pages */
	assert_int_equal(
		next_of(BS_REST_HETZNER,
			"{\"servers\":[],\"meta\":{\"pagination\":{\"page\":1,\"per_page\":25,\"previous_page\":null,\"next_page\":2,\"last_page\":3,\"total_entries\":62}}}"),
		2);
	assert_int_equal(
		next_of(BS_REST_HETZNER,
			"{\"servers\":[],\"meta\":{\"pagination\":{\"page\":3,\"per_page\":25,\"previous_page\":2,\"next_page\":null,\"last_page\":3,\"total_entries\":62}}}"),
		0);
	assert_int_equal(next_of(BS_REST_HETZNER, "{\"servers\":[]}"), 0);
	assert_int_equal(
		next_of(BS_REST_HETZNER, "{\"meta\":{\"pagination\":{\"next_page\":\"2\"}}}"), -1);
	assert_int_equal(
		next_of(BS_REST_HETZNER, "{\"meta\":{\"pagination\":{\"next_page\":1.5}}}"), -1);
	assert_int_equal(next_of(BS_REST_HETZNER, "{\"meta\":{\"pagination\":[]}}"), -1);
}

static void test_next_page_digitalocean(void **state)
{
	(void)state;
	assert_int_equal(
		next_of(BS_REST_DIGITALOCEAN,
			"{\"droplets\":[],\"links\":{\"pages\":{\"first\":\"https://api.digitalocean.com/v2/droplets?page=1&per_page=1\",\"prev\":\"https://api.digitalocean.com/v2/droplets?page=1&per_page=1\",\"next\":\"https://api.digitalocean.com/v2/droplets?page=3&per_page=1\",\"last\":\"https://api.digitalocean.com/v2/droplets?page=3&per_page=1\"}},\"meta\":{\"total\":3}}"),
		3);
	/* the page number may come after other parameters */
	assert_int_equal(
		next_of(BS_REST_DIGITALOCEAN,
			"{\"links\":{\"pages\":{\"next\":\"https://evil.example/v2/droplets?tag_name=a&per_page=200&page=7\"}}}"),
		7);
	assert_int_equal(next_of(BS_REST_DIGITALOCEAN,
				 "{\"droplets\":[],\"links\":{},\"meta\":{\"total\":0}}"),
			 0);
	assert_int_equal(
		next_of(BS_REST_DIGITALOCEAN,
			"{\"links\":{\"pages\":{\"last\":\"https://x/v2/droplets?page=1\"}}}"),
		0);
	assert_int_equal(
		next_of(BS_REST_DIGITALOCEAN,
			"{\"links\":{\"pages\":{\"next\":\"https://x/v2/droplets?per_page=2\"}}}"),
		-1);
	assert_int_equal(
		next_of(BS_REST_DIGITALOCEAN,
			"{\"links\":{\"pages\":{\"next\":\"https://x/v2/droplets?page=0\"}}}"),
		-1);
	assert_int_equal(next_of(BS_REST_DIGITALOCEAN, "{\"links\":{\"pages\":{\"next\":5}}}"), -1);
}

static void parse_err(enum bs_rest_dialect d, const char *body, const char *code, const char *msg)
{
	char *c, *m;

	bs_rest_parse_error(d, body, body ? strlen(body) : 0, &c, &m);
	if (code == NULL)
		assert_null(c);
	else
		assert_string_equal(c, code);
	if (msg == NULL)
		assert_null(m);
	else
		assert_string_equal(m, msg);
	free(c);
	free(m);
}

static void test_error_shapes(void **state)
{
	char *c, *m, big[1000];

	(void)state;
	parse_err(
		BS_REST_HETZNER,
		"{\"error\":{\"code\":\"uniqueness_error\",\"message\":\"server name is already used\",\"details\":{\"fields\":[{\"name\":\"name\"}]}}}",
		"uniqueness_error", "server name is already used");
	parse_err(
		BS_REST_HETZNER,
		"{\"error\":{\"code\":\"unauthorized\",\"message\":\"unable to authenticate\",\"details\":null}}",
		"unauthorized", "unable to authenticate");
	parse_err(
		BS_REST_DIGITALOCEAN,
		"{\"id\":\"not_found\",\"message\":\"The resource you were accessing could not be found.\",\"request_id\":\"4d9d8375\"}",
		"not_found", "The resource you were accessing could not be found.");
	/* the other provider's shape, empty bodies, HTML from a proxy */
	parse_err(BS_REST_HETZNER, "{\"id\":\"x\",\"message\":\"y\"}", NULL, NULL);
	parse_err(BS_REST_HETZNER, "", NULL, NULL);
	parse_err(BS_REST_HETZNER, NULL, NULL, NULL);
	parse_err(BS_REST_DIGITALOCEAN, "<html><body>502 Bad Gateway</body></html>", NULL, NULL);
	parse_err(BS_REST_DIGITALOCEAN, "upstream connect error\r\nmore", NULL,
		  "upstream connect error");
	/* control characters go, long messages are cut */
	parse_err(BS_REST_DIGITALOCEAN, "{\"id\":\"a\\u001b[31m\",\"message\":\"line1\\nline2\"}",
		  "a [31m", "line1 line2");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	{
		char *body = bs_xasprintf("{\"id\":\"x\",\"message\":\"%s\"}", big);

		bs_rest_parse_error(BS_REST_DIGITALOCEAN, body, strlen(body), &c, &m);
		assert_int_equal(strlen(m), 303);
		assert_string_equal(m + 300, "...");
		free(c);
		free(m);
		free(body);
	}
}

/* An answer that quotes the token across the 300-byte cut: masked whole
 * before the cut, so not even its start shows. */
static void test_error_masks_token_before_cut(void **state)
{
	static const char token[] = "hz-Tok3n/0123456789abcdefghijklmnopqrstuv";
	char filler[300];
	size_t at;

	(void)state;
	bs_secret_add(token);
	for (at = 300 - sizeof(token); at < 300; at += 2) {
		char *body, *c = NULL, *m = NULL;

		memset(filler, 'f', at);
		filler[at] = '\0';
		body = bs_xasprintf("{\"error\":{\"code\":\"unauthorized\",\"message\":\"%s%s "
				    "is not a valid token\"}}",
				    filler, token);
		bs_rest_parse_error(BS_REST_HETZNER, body, strlen(body), &c, &m);
		assert_non_null(m);
		assert_null(strstr(m, "hz-Tok3n"));
		assert_null(strstr(m, "abcdefgh"));
		free(c);
		free(m);
		free(body);
	}
	bs_secret_clear();
}

static void test_rate_limit_wait(void **state)
{
	const long long now = 1700000000000LL; /* ms */

	(void)state;
	/* Retry-After in seconds wins */
	assert_int_equal(bs_rest_rate_limit_wait_ms("3", "1700000060", now, 1000), 3000);
	assert_int_equal(bs_rest_rate_limit_wait_ms("0", NULL, now, 1000), 100);
	/* Retry-After as an HTTP date: 2023-11-14 22:13:25 GMT is now + 5 s */
	assert_int_equal(
		bs_rest_rate_limit_wait_ms("Tue, 14 Nov 2023 22:13:25 GMT", NULL, now, 1000), 5000);
	/* RateLimit-Reset caps the backoff, never extends it */
	assert_int_equal(bs_rest_rate_limit_wait_ms(NULL, "1700000002", now, 4000), 2000);
	assert_int_equal(bs_rest_rate_limit_wait_ms(NULL, "1700003600", now, 4000), 4000);
	/* a reset in the past, or 429 without headers */
	assert_int_equal(bs_rest_rate_limit_wait_ms(NULL, "1699999990", now, 4000), 100);
	assert_int_equal(bs_rest_rate_limit_wait_ms(NULL, NULL, now, 1000), 1000);
	/* garbage is ignored */
	assert_int_equal(bs_rest_rate_limit_wait_ms("soon", "later", now, 2000), 2000);
	assert_int_equal(bs_rest_rate_limit_wait_ms("-4", NULL, now, 2000), 2000);
	/* a date curl reads as a year far ahead: its milliseconds overflowed
	 * (found by tests/fuzz/cloud_fuzz.c); ignored, and a far date that
	 * fits waits the day at most */
	assert_int_equal(bs_rest_rate_limit_wait_ms("Dec 2 1796617970", NULL, now, 2000), 2000);
	assert_int_equal(
		bs_rest_rate_limit_wait_ms("Tue, 01 Jan 2999 00:00:00 GMT", NULL, now, 2000),
		86400000);
}

static int status_err(struct bs_err *err, enum bs_rest_dialect d, long status, const char *code,
		      const char *msg)
{
	bs_err_clear(err);
	return bs_rest_status_error(err, d,
				    d == BS_REST_HETZNER ? "$HCLOUD_TOKEN" : "$DIGITALOCEAN_TOKEN",
				    "POST", "/servers", status, code, msg);
}

static void test_status_mapping(void **state)
{
	struct bs_err err = BS_ERR_INIT;

	(void)state;
	assert_int_equal(
		status_err(&err, BS_REST_HETZNER, 401, "unauthorized", "unable to authenticate"),
		BS_ERR_AUTH);
	expect_contains(err.msg, "hetzner: the API refused the token in $HCLOUD_TOKEN");
	expect_contains(err.msg, "401 unauthorized: unable to authenticate");
	assert_int_equal(
		status_err(&err, BS_REST_HETZNER, 403, "forbidden", "insufficient permissions"),
		BS_ERR_AUTH);
	expect_contains(err.msg, "the token in $HCLOUD_TOKEN may not do this");
	expect_contains(err.msg, "Read & Write");
	assert_int_equal(status_err(&err, BS_REST_DIGITALOCEAN, 403, "forbidden",
				    "You are not authorized to perform this operation"),
			 BS_ERR_AUTH);
	expect_contains(err.msg, "$DIGITALOCEAN_TOKEN");
	expect_contains(err.msg, "write scope");
	/* Hetzner's quota is a 403 too, but not an authentication problem */
	assert_int_equal(status_err(&err, BS_REST_HETZNER, 403, "resource_limit_exceeded",
				    "server limit exceeded"),
			 BS_ERR_API);
	expect_contains(err.msg, "server limit exceeded");
	expect_contains(err.msg, "limit is reached");
	assert_int_equal(status_err(&err, BS_REST_HETZNER, 404, "not_found", "server not found"),
			 BS_ERR_NOT_FOUND);
	assert_string_equal(err.msg, "hetzner: POST /servers: 404 not_found: server not found");
	assert_int_equal(status_err(&err, BS_REST_HETZNER, 409, "uniqueness_error",
				    "server name is already used"),
			 BS_ERR_CONFLICT);
	assert_int_equal(status_err(&err, BS_REST_HETZNER, 400, "invalid_input",
				    "invalid input in field 'server_type'"),
			 BS_ERR_INVALID);
	expect_contains(err.msg, "invalid input in field 'server_type'");
	assert_int_equal(status_err(&err, BS_REST_HETZNER, 422, "invalid_input",
				    "invalid input in field 'image'"),
			 BS_ERR_INVALID);
	assert_int_equal(status_err(&err, BS_REST_DIGITALOCEAN, 422, "unprocessable_entity",
				    "You specified an invalid size for Droplet creation."),
			 BS_ERR_API);
	expect_contains(err.msg,
			"digitalocean: POST /servers: 422 unprocessable_entity: You specified");
	assert_int_equal(status_err(&err, BS_REST_HETZNER, 503, NULL, NULL), BS_ERR_API);
	assert_string_equal(err.msg, "hetzner: POST /servers: 503");
	assert_int_equal(status_err(&err, BS_REST_HETZNER, 429, "rate_limit_exceeded", "limit"),
			 BS_ERR_API);
	expect_contains(err.msg, "try again later");
	/* a read-only token: 401 token_readonly, with the Read & Write advice */
	assert_int_equal(status_err(&err, BS_REST_HETZNER, 401, "token_readonly",
				    "The token is only allowed to perform GET requests"),
			 BS_ERR_AUTH);
	expect_contains(err.msg, "401 token_readonly");
	expect_contains(err.msg, "read-only: give bootstrap a token with Read & Write permission");
	/* DigitalOcean's 403 names the custom scopes, image:read and actions:read too */
	assert_int_equal(status_err(&err, BS_REST_DIGITALOCEAN, 403, "forbidden", "no"),
			 BS_ERR_AUTH);
	expect_contains(err.msg, "image:read");
	expect_contains(err.msg, "actions:read");
	expect_contains(err.msg, "droplet:update");
	/* maintenance and conflict once their retries ran out: not permission,
	 * not a name taken */
	assert_int_equal(status_err(&err, BS_REST_HETZNER, 403, "maintenance",
				    "Cannot perform operation due to maintenance"),
			 BS_ERR_API);
	expect_contains(err.msg, "under maintenance");
	assert_int_equal(status_err(&err, BS_REST_HETZNER, 409, "conflict", "changed"), BS_ERR_API);
	expect_contains(err.msg, "kept changing");
}

static void test_transient(void **state)
{
	(void)state;
	assert_true(bs_rest_transient(BS_REST_HETZNER, 409, "conflict"));
	assert_true(bs_rest_transient(BS_REST_HETZNER, 403, "maintenance"));
	assert_true(bs_rest_transient(BS_REST_HETZNER, 503, "maintenance"));
	assert_false(bs_rest_transient(BS_REST_HETZNER, 409, "uniqueness_error"));
	assert_false(bs_rest_transient(BS_REST_HETZNER, 403, "forbidden"));
	assert_false(bs_rest_transient(BS_REST_HETZNER, 409, NULL));
	assert_false(bs_rest_transient(BS_REST_DIGITALOCEAN, 409, "conflict"));
}

static void test_closest(void **state)
{
	struct bs_strv names = BS_STRV_INIT;
	const char *const all[] = {"cx22",  "cx32",  "cx42",  "cx52",
				   "cpx11", "cpx21", "cax11", "cx22"};
	char *s;

	(void)state;
	s = bs_rest_closest("cx23", &names, 3);
	assert_string_equal(s, "none");
	free(s);
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		bs_strv_push(&names, all[i]);
	s = bs_rest_closest("cx23", &names, 3);
	assert_string_equal(s, "cx22, cx32, cpx21, ...");
	free(s);
	s = bs_rest_closest("cpx12", &names, 10);
	assert_string_equal(s, "cpx11, cpx21, cax11, cx22, cx32, cx42, cx52");
	free(s);
	bs_strv_free(&names);
}

static void test_token_checks_and_masking(void **state)
{
	struct bs_rest_opts o = BS_REST_OPTS_INIT;
	struct bs_err err = BS_ERR_INIT;
	struct bs_buf masked = BS_BUF_INIT;
	struct bs_rest *r = NULL;

	(void)state;
	o.base_url = "http://127.0.0.1:1/v1/";
	o.token_source = "$HCLOUD_TOKEN";
	o.token = "secret with space";
	assert_int_equal(bs_rest_open(&r, &o, &err), BS_ERR_AUTH);
	assert_null(r);
	expect_contains(err.msg, "$HCLOUD_TOKEN");
	assert_null(strstr(err.msg, "secret"));
	o.token = "tok\r\nX-Evil: 1";
	assert_int_equal(bs_rest_open(&r, &o, &err), BS_ERR_AUTH);
	o.token = "";
	assert_int_equal(bs_rest_open(&r, &o, &err), BS_ERR_AUTH);
	o.token = "Zq8sTokenValue123";
	o.base_url = "ftp://example.com";
	assert_int_equal(bs_rest_open(&r, &o, &err), BS_ERR_INVALID);
	/* the token crosses a network only over TLS */
	o.base_url = "http://api.example.com/v1";
	assert_int_equal(bs_rest_open(&r, &o, &err), BS_ERR_INVALID);
	assert_null(r);
	expect_contains(err.msg, "clear text");
	o.base_url = "http://127.0.0.1.example.com/v1";
	assert_int_equal(bs_rest_open(&r, &o, &err), BS_ERR_INVALID);
	o.base_url = "http://127.0.0.1:1/v1/";
	assert_int_equal(bs_rest_open(&r, &o, &err), 0);
	assert_non_null(r);
	bs_secret_mask(&masked, "Authorization: Bearer Zq8sTokenValue123");
	assert_string_equal(bs_buf_str(&masked), "Authorization: Bearer ***");
	assert_int_equal(bs_rest_request_count(r), 0);
	bs_buf_free(&masked);
	bs_rest_free(r);
	bs_rest_free(NULL);
	bs_secret_clear();
}

static void test_labels_and_tags(void **state)
{
	char *s;

	(void)state;
	assert_true(bs_hetzner_label_value_ok("shop"));
	assert_true(bs_hetzner_label_value_ok("web-1"));
	assert_true(bs_hetzner_label_value_ok("a.b_c-d"));
	assert_true(bs_hetzner_label_value_ok(
		"a23456789012345678901234567890123456789012345678901234567890123"));
	assert_false(bs_hetzner_label_value_ok(
		"a234567890123456789012345678901234567890123456789012345678901234"));
	assert_false(bs_hetzner_label_value_ok(""));
	assert_false(bs_hetzner_label_value_ok("-web"));
	assert_false(bs_hetzner_label_value_ok("web-"));
	assert_false(bs_hetzner_label_value_ok("web 1"));
	assert_false(bs_hetzner_label_value_ok("web=1"));
	assert_false(bs_hetzner_label_value_ok("wéb"));

	s = bs_hetzner_label_selector("shop");
	assert_string_equal(s, "bootstrap.project=shop");
	free(s);

	assert_true(bs_digitalocean_tag_ok("bootstrap-project:shop"));
	assert_true(bs_digitalocean_tag_ok("a_b:C-9"));
	assert_false(bs_digitalocean_tag_ok("bootstrap.project:shop"));
	assert_false(bs_digitalocean_tag_ok("with space"));
	assert_false(bs_digitalocean_tag_ok(""));
	s = bs_digitalocean_tag(BS_DO_TAG_PROJECT, "shop");
	assert_string_equal(s, "bootstrap-project:shop");
	free(s);
	s = bs_digitalocean_tag(BS_DO_TAG_NODE, "web-1");
	assert_string_equal(s, "bootstrap-node:web-1");
	free(s);
	assert_null(bs_digitalocean_tag(BS_DO_TAG_NODE, "web.1"));
	assert_null(bs_digitalocean_tag(BS_DO_TAG_NODE, ""));
	{
		char long_name[300];

		memset(long_name, 'a', sizeof(long_name) - 1);
		long_name[sizeof(long_name) - 1] = '\0';
		assert_null(bs_digitalocean_tag(BS_DO_TAG_NODE, long_name));
		long_name[255 - strlen(BS_DO_TAG_NODE)] = '\0';
		s = bs_digitalocean_tag(BS_DO_TAG_NODE, long_name);
		assert_non_null(s);
		assert_int_equal(strlen(s), 255);
		free(s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_fingerprint_refuses),
		cmocka_unit_test(test_public_key_clean),
		cmocka_unit_test(test_escape_and_pages),
		cmocka_unit_test(test_next_page_hetzner),
		cmocka_unit_test(test_next_page_digitalocean),
		cmocka_unit_test(test_error_shapes),
		cmocka_unit_test(test_error_masks_token_before_cut),
		cmocka_unit_test(test_rate_limit_wait),
		cmocka_unit_test(test_status_mapping),
		cmocka_unit_test(test_token_checks_and_masking),
		cmocka_unit_test(test_labels_and_tags),
		cmocka_unit_test(test_transient),
		cmocka_unit_test(test_closest),
	};
	int failed;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return failed;
}
