/*
 * Unit tests for util/units.c: the duration and byte-size syntaxes recipes
 * use (healthcheck intervals, SSH timeouts, memory limits), and the compact
 * duration format.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdint.h>
#include <string.h>

#include "util/units.h"

struct duration_case {
	const char *text;
	int64_t ms;
};

static void test_duration_valid(void **state)
{
	static const struct duration_case cases[] = {
		{"90s", 90000},
		{"1m30s", 90000},
		{"250ms", 250},
		{"2h", 7200000},
		{"1h2m3s4ms", 3723004},
		{"0s", 0},
		{"0", 0},
		{"45", 45000}, /* a bare number is seconds */
		{"1m", 60000},
		{"1500ms", 1500},
		{"10m0s", 600000},
		{"007s", 7000},
		/* fractions of any unit */
		{"1.5s", 1500},
		{"1.5", 1500},
		{"0.5m", 30000},
		{"2.25h", 8100000},
		{"1m0.5s", 60500},
		{"0.001s", 1},
		{"1.0000000000001s", 1000},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t ms = -42;

		if (bs_parse_duration_ms(cases[i].text, &ms) != 0)
			fail_msg("'%s' should parse", cases[i].text);
		if (ms != cases[i].ms)
			fail_msg("'%s': got %lld ms, want %lld", cases[i].text, (long long)ms,
				 (long long)cases[i].ms);
	}
}

static void test_duration_invalid(void **state)
{
	static const char *const bad[] = {
		"",
		"s",
		"ms",
		"10 seconds",
		"1x",
		"-5s",
		"+5s",
		" 5s",
		".5s",
		"1.s",
		"1.5.5s",
		"1..5s",
		"1,5s",
		"1.5 s",
		"5s ",
		"5S",
		"1M",
		"5sec",
		"10s5",
		"1h 2m",
		"forever",
		"5 ",
		"1mss",
		"h1",
		/* overflow: bare seconds, and unit products past int64 */
		"9223372036854775807",
		"9223372036854776s",
		"99999999999999999999ms",
		"2562047788016h",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t ms = -42;

		if (bs_parse_duration_ms(bad[i], &ms) == 0)
			fail_msg("'%s' should be rejected, parsed as %lld ms", bad[i],
				 (long long)ms);
		assert_int_equal(ms, -42); /* untouched on error */
	}
}

/* Large values parse; a value past int64_t milliseconds is rejected, never
 * wrapped around. */
static void test_duration_large(void **state)
{
	int64_t ms;

	(void)state;
	assert_int_equal(bs_parse_duration_ms("9223372036854774s", &ms), 0);
	assert_true(ms == INT64_C(9223372036854774000));
	assert_int_equal(bs_parse_duration_ms("2562047788014h", &ms), 0);
	assert_true(ms == INT64_C(2562047788014) * 3600000);
	assert_int_equal(bs_parse_duration_ms("1000000000000000ms", &ms), 0);
	assert_true(ms == INT64_C(1000000000000000));
	assert_int_equal(bs_parse_duration_ms("2562047788014h59m", &ms), 0);
	assert_true(ms > 0);
	assert_int_equal(bs_parse_duration_ms("2562047788014h999999999999m", &ms), -1);
	assert_int_equal(bs_parse_duration_ms("9223372036854775807h", &ms), -1);
}

static void test_duration_format(void **state)
{
	static const struct duration_case cases[] = {
		{"90s", 90000}, {"1m", 60000},	  {"2h", 7200000},  {"250ms", 250},
		{"0ms", 0},	{"1500ms", 1500}, {"90m", 5400000}, {"1s", 1000},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[32];
		int64_t back;

		bs_format_duration_ms(cases[i].ms, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].text);
		/* what is printed parses back to the same value */
		assert_int_equal(bs_parse_duration_ms(buf, &back), 0);
		assert_true(back == cases[i].ms);
	}
}

static void test_duration_format_truncates(void **state)
{
	char buf[4];

	(void)state;
	memset(buf, 'x', sizeof(buf));
	bs_format_duration_ms(123456, buf, sizeof(buf));
	assert_string_equal(buf, "123");
}

struct bytes_case {
	const char *text;
	int64_t bytes;
};

/* Sizes carry the names of their 1024-based units (never MB for MiB). */
static void test_bytes_format(void **state)
{
	static const struct bytes_case cases[] = {
		{"0B", 0},
		{"1023B", 1023},
		{"1.00KiB", 1024},
		{"1.50KiB", 1536},
		{"12.3MiB", INT64_C(12899532)},
		{"640MiB", INT64_C(640) << 20},
		{"2.00GiB", INT64_C(2) << 30},
		{"1024PiB", INT64_C(1) << 60},
		{"-", -1},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[32];

		bs_format_bytes(cases[i].bytes, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].text);
	}
}

static void test_bytes_valid(void **state)
{
	static const struct bytes_case cases[] = {
		{"512m", INT64_C(512) << 20},
		{"1g", INT64_C(1) << 30},
		{"64MiB", INT64_C(64) << 20},
		{"64mib", INT64_C(64) << 20},
		{"64MB", INT64_C(64) << 20},
		{"1048576", 1048576},
		{"100b", 100},
		{"100B", 100},
		{"0", 0},
		{"1k", 1024},
		{"2kb", 2048},
		{"3KiB", 3072},
		{"2G", INT64_C(2) << 30},
		{"2gib", INT64_C(2) << 30},
		{"1t", INT64_C(1) << 40},
		{"1TiB", INT64_C(1) << 40},
		{"8388607t", INT64_C(8388607) << 40}, /* the largest whole t */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t n = -42;

		if (bs_parse_bytes(cases[i].text, &n) != 0)
			fail_msg("'%s' should parse", cases[i].text);
		if (n != cases[i].bytes)
			fail_msg("'%s': got %lld, want %lld", cases[i].text, (long long)n,
				 (long long)cases[i].bytes);
	}
}

static void test_bytes_invalid(void **state)
{
	static const char *const bad[] = {
		"",
		"m",
		"1.5g",
		"-1m",
		"+1m",
		"1 m",
		" 1m",
		"1m ",
		"1x",
		"1kibi",
		"1mbb",
		"1p",
		"lots",
		"0x10",
		"1e6",
		/* overflow */
		"8388608t",
		"8589934592g",
		"9223372036854775808",
		"99999999999999999999",
		"18446744073709551616b",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t n = -42;

		if (bs_parse_bytes(bad[i], &n) == 0)
			fail_msg("'%s' should be rejected, parsed as %lld", bad[i], (long long)n);
		assert_int_equal(n, -42);
	}
}

/* Every value of int64_t is a valid byte count, up to INT64_MAX itself. */
static void test_bytes_int64_max(void **state)
{
	int64_t n = 0;

	(void)state;
	assert_int_equal(bs_parse_bytes("9223372036854775807", &n), 0);
	assert_true(n == INT64_MAX);
	assert_int_equal(bs_parse_bytes("9223372036854775800b", &n), 0);
	assert_true(n == INT64_C(9223372036854775800));
	assert_int_equal(bs_parse_bytes("8589934591g", &n), 0);
	assert_true(n == INT64_C(8589934591) << 30);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_valid),
		cmocka_unit_test(test_duration_invalid),
		cmocka_unit_test(test_duration_large),
		cmocka_unit_test(test_duration_format),
		cmocka_unit_test(test_duration_format_truncates),
		cmocka_unit_test(test_bytes_format),
		cmocka_unit_test(test_bytes_valid),
		cmocka_unit_test(test_bytes_invalid),
		cmocka_unit_test(test_bytes_int64_max),
	};

	return cmocka_run_group_tests_name("util/units", tests, NULL, NULL);
}
