/*
 * Unit tests for util/str.c: the growable buffer, string vectors, key/value
 * lists, edit distance and "did you mean" suggestions, base64, and the
 * small parsing helpers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

/* ---- bs_buf ------------------------------------------------------------ */

static void test_buf_empty(void **state)
{
	struct bs_buf b = BS_BUF_INIT;
	char *s;

	(void)state;
	assert_string_equal(bs_buf_str(&b), "");
	bs_buf_reset(&b); /* on an empty buffer: no crash */
	s = bs_buf_detach(&b);
	assert_string_equal(s, "");
	free(s);
	assert_null(b.data);
	bs_buf_free(&b);
	bs_buf_wipe_free(&b);
}

static void test_buf_append_grows(void **state)
{
	struct bs_buf b = BS_BUF_INIT;
	char expect[2001];
	size_t i;

	(void)state;
	for (i = 0; i < 2000; i++) {
		bs_buf_putc(&b, (char)('a' + i % 26));
		expect[i] = (char)('a' + i % 26);
	}
	expect[2000] = '\0';
	assert_int_equal(b.len, 2000);
	assert_true(b.cap > b.len);
	assert_string_equal(bs_buf_str(&b), expect);
	bs_buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
}

static void test_buf_puts_printf(void **state)
{
	struct bs_buf b = BS_BUF_INIT;
	char big[300];

	(void)state;
	bs_buf_puts(&b, "host ");
	bs_buf_printf(&b, "%s:%d", "203.0.113.7", 22);
	bs_buf_puts(&b, "");
	assert_string_equal(bs_buf_str(&b), "host 203.0.113.7:22");
	assert_int_equal(b.len, strlen("host 203.0.113.7:22"));
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	bs_buf_printf(&b, "[%s]", big);
	assert_int_equal(b.len, strlen("host 203.0.113.7:22") + 301);
	assert_int_equal(b.data[b.len], '\0');
	assert_int_equal(b.data[b.len - 1], ']');
	bs_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(bs_buf_str(&b), "");
	bs_buf_puts(&b, "again");
	assert_string_equal(bs_buf_str(&b), "again");
	bs_buf_free(&b);
}

static void test_buf_binary(void **state)
{
	struct bs_buf b = BS_BUF_INIT;

	(void)state;
	bs_buf_append(&b, "a\0b", 3);
	bs_buf_append(&b, "", 0);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "a\0b", 4); /* NUL-terminated after it */
	bs_buf_wipe_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
}

static void test_buf_detach(void **state)
{
	struct bs_buf b = BS_BUF_INIT;
	char *s;

	(void)state;
	bs_buf_puts(&b, "owned");
	s = bs_buf_detach(&b);
	assert_string_equal(s, "owned");
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	free(s);
}

static void test_xasprintf(void **state)
{
	char *s;

	(void)state;
	s = bs_xasprintf("%s-%d", "web", 2);
	assert_string_equal(s, "web-2");
	free(s);
	s = bs_xasprintf("%s", "");
	assert_string_equal(s, "");
	free(s);
	s = bs_xstrndup("abcdef", 3);
	assert_string_equal(s, "abc");
	free(s);
}

/* ---- bs_strv, bs_kvlist ------------------------------------------------ */

static void test_strv(void **state)
{
	struct bs_strv sv = BS_STRV_INIT;
	char word[16];
	size_t i;

	(void)state;
	assert_false(bs_strv_contains(&sv, "a"));
	bs_strv_push(&sv, "a");
	bs_strv_push(&sv, "b");
	bs_strv_push(&sv, "a"); /* push keeps duplicates */
	assert_int_equal(sv.n, 3);
	bs_strv_add_unique(&sv, "a");
	bs_strv_add_unique(&sv, "c");
	assert_int_equal(sv.n, 4);
	assert_string_equal(sv.v[0], "a");
	assert_string_equal(sv.v[3], "c");
	assert_true(bs_strv_contains(&sv, "b"));
	assert_false(bs_strv_contains(&sv, "B"));
	assert_false(bs_strv_contains(&sv, ""));
	for (i = 0; i < 100; i++) {
		snprintf(word, sizeof(word), "w%zu", i);
		bs_strv_push(&sv, word);
	}
	assert_int_equal(sv.n, 104);
	assert_string_equal(sv.v[103], "w99");
	bs_strv_free(&sv);
	assert_null(sv.v);
	assert_int_equal(sv.n, 0);
	bs_strv_push(&sv, "secret");
	bs_strv_wipe_free(&sv);
	assert_null(sv.v);
	assert_int_equal(sv.n, 0);
}

static void test_strv_copies(void **state)
{
	struct bs_strv sv = BS_STRV_INIT;
	char text[] = "mutable";

	(void)state;
	bs_strv_push(&sv, text);
	text[0] = 'X';
	assert_string_equal(sv.v[0], "mutable");
	bs_strv_free(&sv);
}

static void test_kvlist(void **state)
{
	struct bs_kvlist l = BS_KVLIST_INIT;
	const struct bs_kv *kv;

	(void)state;
	assert_null(bs_kvlist_find(&l, "MODE"));
	bs_kvlist_push(&l, "MODE", "production", false);
	bs_kvlist_push(&l, "TOKEN", "s3cr3t", true);
	bs_kvlist_push(&l, "EMPTY", "", false);
	assert_int_equal(l.n, 3);
	kv = bs_kvlist_find(&l, "TOKEN");
	assert_non_null(kv);
	assert_string_equal(kv->value, "s3cr3t");
	assert_true(kv->secret);
	kv = bs_kvlist_find(&l, "MODE");
	assert_non_null(kv);
	assert_false(kv->secret);
	assert_string_equal(bs_kvlist_find(&l, "EMPTY")->value, "");
	assert_null(bs_kvlist_find(&l, "mode"));
	/* insertion order is kept */
	assert_string_equal(l.v[0].key, "MODE");
	assert_string_equal(l.v[2].key, "EMPTY");
	bs_kvlist_free(&l);
	assert_null(l.v);
	assert_int_equal(l.n, 0);
}

/* ---- edit distance, suggestions ---------------------------------------- */

static void test_edit_distance(void **state)
{
	char long_a[80], long_b[80];

	(void)state;
	assert_int_equal(bs_edit_distance("kitten", "sitting", 10), 3);
	assert_int_equal(bs_edit_distance("", "abc", 5), 3);
	assert_int_equal(bs_edit_distance("abc", "", 5), 3);
	assert_int_equal(bs_edit_distance("", "", 0), 0);
	assert_int_equal(bs_edit_distance("image", "image", 0), 0);
	/* a swap of neighbours is one edit (optimal string alignment) */
	assert_int_equal(bs_edit_distance("imgae", "image", 3), 1);
	assert_int_equal(bs_edit_distance("wbe", "web", 3), 1);
	assert_int_equal(bs_edit_distance("ab", "ba", 3), 1);
	assert_int_equal(bs_edit_distance("ca", "abc", 5), 3);
	assert_int_equal(bs_edit_distance("contaners", "containers", 3), 1);
	assert_int_equal(bs_edit_distance("flaw", "lawn", 5), 2);
	/* capped: anything beyond cap comes back as cap + 1 */
	assert_int_equal(bs_edit_distance("abcdef", "uvwxyz", 2), 3);
	assert_int_equal(bs_edit_distance("a", "abcdefgh", 3), 4);
	/* long words are not compared (cost bound) */
	memset(long_a, 'a', 70);
	long_a[70] = '\0';
	memcpy(long_b, long_a, sizeof(long_a));
	assert_int_equal(bs_edit_distance(long_a, long_b, 3), 4);
}

static void test_suggest(void **state)
{
	static const char *const top[] = {"version",	"project", "provider",	 "ssh",
					  "nodes",	"docker",  "registries", "images",
					  "containers", "prune",   NULL};
	static const char *const hc[] = {"health", "healthcheck", NULL};
	static const char *const pair[] = {"abcd", "abce", NULL};
	static const char *const none[] = {NULL};

	(void)state;
	assert_string_equal(bs_suggest("contaners", top), "containers");
	assert_string_equal(bs_suggest("projetc", top), "project");
	assert_string_equal(bs_suggest("verison", top), "version");
	assert_string_equal(bs_suggest("sh", top), "ssh");
	assert_string_equal(bs_suggest("node", top), "nodes");
	assert_string_equal(bs_suggest("healthchek", hc), "healthcheck");
	/* the first of equally close candidates */
	assert_string_equal(bs_suggest("abcf", pair), "abcd");
	/* not plausible typos */
	assert_null(bs_suggest("flavour", top));
	assert_null(bs_suggest("xyz", top));
	assert_null(bs_suggest("ab", top));
	assert_null(bs_suggest("anything", none));
	/* short words allow one edit only */
	assert_null(bs_suggest("sxx", top));
}

/* ---- base64 ------------------------------------------------------------ */

static void test_base64_vectors(void **state)
{
	/* RFC 4648 section 10 */
	static const char *const vec[][2] = {
		{"", ""},
		{"f", "Zg=="},
		{"fo", "Zm8="},
		{"foo", "Zm9v"},
		{"foob", "Zm9vYg=="},
		{"fooba", "Zm9vYmE="},
		{"foobar", "Zm9vYmFy"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		char *enc = bs_base64_encode(vec[i][0], strlen(vec[i][0]), false);
		unsigned char *dec;
		size_t len;

		assert_string_equal(enc, vec[i][1]);
		dec = bs_base64_decode(enc, &len);
		assert_non_null(dec);
		assert_int_equal(len, strlen(vec[i][0]));
		assert_memory_equal(dec, vec[i][0], len);
		free(dec);
		free(enc);
	}
}

static void test_base64_url_safe(void **state)
{
	static const unsigned char raw[] = {0xfb, 0xff, 0xfe, 0x3e, 0x3f};
	char *std = bs_base64_encode(raw, sizeof(raw), false);
	char *url = bs_base64_encode(raw, sizeof(raw), true);
	unsigned char *dec;
	size_t len;

	(void)state;
	assert_string_equal(std, "+//+Pj8=");
	assert_string_equal(url, "-__-Pj8=");
	dec = bs_base64_decode(url, &len);
	assert_non_null(dec);
	assert_int_equal(len, sizeof(raw));
	assert_memory_equal(dec, raw, sizeof(raw));
	free(dec);
	free(std);
	free(url);
}

static void test_base64_bad(void **state)
{
	size_t len = 99;

	(void)state;
	assert_null(bs_base64_decode("Zm9v!", &len));
	assert_null(bs_base64_decode("Zm 9v", &len));
	assert_null(bs_base64_decode("Zm==9v", &len));
}

/* ---- small helpers ----------------------------------------------------- */

static void test_starts_ends_with(void **state)
{
	(void)state;
	assert_true(bs_str_starts_with("io.bootstrap.project", "io.bootstrap."));
	assert_true(bs_str_starts_with("abc", ""));
	assert_false(bs_str_starts_with("io", "io.bootstrap."));
	assert_true(bs_str_ends_with("id_ed25519.pub", ".pub"));
	assert_true(bs_str_ends_with("abc", ""));
	assert_false(bs_str_ends_with("pub", ".pub"));
	assert_false(bs_str_ends_with("id.pub.bak", ".pub"));
}

static void test_parse_int64(void **state)
{
	static const char *const bad[] = {"",
					  " 1",
					  "1 ",
					  "1x",
					  "x1",
					  "+",
					  "-",
					  "0x10",
					  "1.0",
					  "9223372036854775808",
					  "-9223372036854775809",
					  "--1",
					  "+-1"};
	long long v = 0;
	size_t i;

	(void)state;
	assert_int_equal(bs_parse_int64("42", &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(bs_parse_int64("-7", &v), 0);
	assert_int_equal(v, -7);
	assert_int_equal(bs_parse_int64("+5", &v), 0);
	assert_int_equal(v, 5);
	assert_int_equal(bs_parse_int64("007", &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(bs_parse_int64("9223372036854775807", &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(bs_parse_int64("-9223372036854775808", &v), 0);
	assert_true(v == INT64_MIN);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 99;
		if (bs_parse_int64(bad[i], &v) == 0)
			fail_msg("'%s' should be rejected, parsed as %lld", bad[i], v);
		assert_int_equal(v, 99);
	}
}

static void test_xgrow(void **state)
{
	int *v = NULL;
	size_t cap = 0;

	(void)state;
	bs_xgrow((void **)&v, &cap, 1, sizeof(*v));
	assert_true(cap >= 1);
	bs_xgrow((void **)&v, &cap, 1000, sizeof(*v));
	assert_true(cap >= 1000);
	v[999] = 7;
	bs_xgrow((void **)&v, &cap, 10, sizeof(*v)); /* never shrinks */
	assert_true(cap >= 1000);
	assert_int_equal(v[999], 7);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_empty),
		cmocka_unit_test(test_buf_append_grows),
		cmocka_unit_test(test_buf_puts_printf),
		cmocka_unit_test(test_buf_binary),
		cmocka_unit_test(test_buf_detach),
		cmocka_unit_test(test_xasprintf),
		cmocka_unit_test(test_strv),
		cmocka_unit_test(test_strv_copies),
		cmocka_unit_test(test_kvlist),
		cmocka_unit_test(test_edit_distance),
		cmocka_unit_test(test_suggest),
		cmocka_unit_test(test_base64_vectors),
		cmocka_unit_test(test_base64_url_safe),
		cmocka_unit_test(test_base64_bad),
		cmocka_unit_test(test_starts_ends_with),
		cmocka_unit_test(test_parse_int64),
		cmocka_unit_test(test_xgrow),
	};

	return cmocka_run_group_tests_name("util/str", tests, NULL, NULL);
}
