/*
 * Unit tests for deploy/interp.c: ${VAR} interpolation as Docker Compose
 * does it, except that an unset variable without a default is an error.
 * The environment is a table handed in through the getenv callback.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/interp.h"
#include "tests/unit/helpers.h"

/* SET=value, EMPTY="" (set but empty); UNSET and any other name unset. */
static const struct test_var env[] = {
	{"SET", "value"}, {"EMPTY", ""}, {"A", "a"},	      {"B", "b"},	   {"A_B", "ab"},
	{"X1", "x1"},	  {"_U", "u"},	 {"DOLLAR", "$HOME"}, {"BRACE", "${SET}"}, {NULL, NULL},
};

static void expand_ok_at(const char *text, const char *want, const char *file, int line)
{
	struct bs_interp_error err;
	char *out = (char *)"not touched";

	memset(&err, 0, sizeof(err));
	if (bs_interp_expand(&out, text, test_getenv, test_env_payload(env), NULL, &err) != 0) {
		print_error("'%s' failed at offset %zu: %s\n", text, err.offset, err.message);
		_fail(file, line);
	}
	if (strcmp(out, want) != 0) {
		print_error("'%s' expanded to '%s', want '%s'\n", text, out, want);
		bs_secure_free_str(out);
		_fail(file, line);
	}
	bs_secure_free_str(out);
}

static void expand_err_at(const char *text, size_t offset, const char *phrase, const char *file,
			  int line)
{
	struct bs_interp_error err;
	char *out = (char *)"not touched";

	memset(&err, 0, sizeof(err));
	if (bs_interp_expand(&out, text, test_getenv, test_env_payload(env), NULL, &err) == 0) {
		print_error("'%s' should fail, expanded to '%s'\n", text, out);
		bs_secure_free_str(out);
		_fail(file, line);
	}
	if (out != NULL) {
		print_error("'%s': *out must be NULL on error\n", text);
		_fail(file, line);
	}
	if (err.offset != offset || strstr(err.message, phrase) == NULL) {
		print_error("'%s': error at offset %zu \"%s\"; want offset %zu containing \"%s\"\n",
			    text, err.offset, err.message, offset, phrase);
		_fail(file, line);
	}
}

#define expand_ok(text, want) expand_ok_at((text), (want), __FILE__, __LINE__)
#define expand_err(text, offset, phrase)                                                           \
	expand_err_at((text), (offset), (phrase), __FILE__, __LINE__)

static void test_plain_text(void **state)
{
	(void)state;
	expand_ok("", "");
	expand_ok("no dollar here", "no dollar here");
	expand_ok("{SET} and }", "{SET} and }");
}

static void test_dollar_dollar(void **state)
{
	(void)state;
	expand_ok("$$", "$");
	expand_ok("cost: 5$$", "cost: 5$");
	expand_ok("$$$$", "$$");
	expand_ok("$$SET", "$SET");
	expand_ok("$${SET}", "${SET}");
	expand_ok("$$$SET", "$value");
}

static void test_simple_and_braced(void **state)
{
	(void)state;
	expand_ok("$SET", "value");
	expand_ok("${SET}", "value");
	expand_ok("pre-${SET}-post", "pre-value-post");
	expand_ok("$A$B", "ab");
	expand_ok("${A}${B}", "ab");
	expand_ok("$A_B", "ab");  /* '_' is part of a name */
	expand_ok("$A-B", "a-B"); /* '-' is not */
	expand_ok("$A.b", "a.b");
	expand_ok("$X1", "x1"); /* digits after the first character */
	expand_ok("$_U", "u");
	expand_ok("${EMPTY}", "");
	expand_ok("[$EMPTY]", "[]");
	/* values are inserted as they are, never expanded again */
	expand_ok("$DOLLAR", "$HOME");
	expand_ok("${BRACE}", "${SET}");
}

static void test_unset_is_error(void **state)
{
	(void)state;
	expand_err("$UNSET", 0, "environment variable UNSET is not set");
	expand_err("${UNSET}", 0, "environment variable UNSET is not set");
	expand_err("prefix-$UNSET-suffix", 7, "UNSET is not set");
	expand_err("ok ${SET} then ${UNSET}", 15, "give a default with ${VAR:-value}");
	/* names are case-sensitive */
	expand_err("$set", 0, "set is not set");
}

static void test_default(void **state)
{
	(void)state;
	/* :- replaces unset and empty */
	expand_ok("${UNSET:-d}", "d");
	expand_ok("${EMPTY:-d}", "d");
	expand_ok("${SET:-d}", "value");
	/* - replaces unset only */
	expand_ok("${UNSET-d}", "d");
	expand_ok("${EMPTY-d}", "");
	expand_ok("${SET-d}", "value");
	/* empty defaults, and defaults with spaces and punctuation */
	expand_ok("${UNSET:-}", "");
	expand_ok("${UNSET-}", "");
	expand_ok("${UNSET:-hello from bootstrap}", "hello from bootstrap");
	expand_ok("${UNSET:-a:b-c?d+e{f}", "a:b-c?d+e{f");
	expand_ok("${UNSET:-$$}", "$");
}

static void test_required(void **state)
{
	(void)state;
	expand_ok("${SET:?msg}", "value");
	expand_ok("${SET?msg}", "value");
	/* ? accepts empty, :? does not */
	expand_ok("${EMPTY?msg}", "");
	expand_err("${EMPTY:?set EMPTY to a name}", 0,
		   "environment variable EMPTY is empty: set EMPTY to a name");
	expand_err("${UNSET:?set UNSET}", 0, "environment variable UNSET is not set: set UNSET");
	expand_err("${UNSET?set UNSET}", 0, "environment variable UNSET is not set: set UNSET");
	expand_err("db/${UNSET:?}", 3, "environment variable UNSET is not set: required");
	expand_err("${UNSET?}", 0, "is not set: required");
	/* the message may use other variables */
	expand_err("${UNSET:?need $A and ${B}}", 0, "is not set: need a and b");
}

static void test_alternative(void **state)
{
	(void)state;
	/* :+ when set and non-empty */
	expand_ok("${SET:+alt}", "alt");
	expand_ok("${EMPTY:+alt}", "");
	expand_ok("${UNSET:+alt}", "");
	/* + when set, even empty */
	expand_ok("${SET+alt}", "alt");
	expand_ok("${EMPTY+alt}", "alt");
	expand_ok("${UNSET+alt}", "");
	expand_ok("--flag${SET:+=$SET}", "--flag=value");
}

static void test_nested_defaults(void **state)
{
	(void)state;
	expand_ok("${UNSET:-${B:-c}}", "b");
	expand_ok("${UNSET:-${UNSET2:-c}}", "c");
	expand_ok("${A:-${B:-c}}", "a");
	expand_ok("${UNSET:-x${EMPTY:-y}z}", "xyz");
	expand_ok("${UNSET:-${UNSET2-${UNSET3:-deep}}}", "deep");
	expand_ok("${UNSET:-$A/$B}", "a/b");
}

/*
 * A default that is not used is not evaluated, as in the shell and Compose:
 * ${TAG:-${DEFAULT_TAG}} with TAG set must not need DEFAULT_TAG.
 */
static void test_unused_operand_not_evaluated(void **state)
{
	(void)state;
	expand_ok("${A:-${UNSET}}", "a");
	expand_ok("${A-$UNSET}", "a");
	expand_ok("${UNSET:+${UNSET2}}", "");
	expand_ok("${SET:?${UNSET}}", "value");
}

static char *nest(int levels)
{
	struct bs_buf b = BS_BUF_INIT;
	int i;

	for (i = 0; i < levels; i++)
		bs_buf_puts(&b, "${UNSET:-");
	bs_buf_puts(&b, "end");
	for (i = 0; i < levels; i++)
		bs_buf_putc(&b, '}');
	return bs_buf_detach(&b);
}

static void test_nesting_limit(void **state)
{
	char *ok = nest(8), *deep = nest(9), *huge = nest(10000);

	(void)state;
	expand_ok(ok, "end");
	/* the error points at the ${ that is one level too deep */
	expand_err(deep, 8 * strlen("${UNSET:-"), "nested too deeply");
	expand_err(huge, 8 * strlen("${UNSET:-"), "nested too deeply");
	free(ok);
	free(deep);
	free(huge);
}

static void test_unterminated(void **state)
{
	(void)state;
	expand_err("${SET", 0, "unterminated ${SET");
	expand_err("abc ${SET", 4, "add the closing '}'");
	expand_err("${UNSET:-abc", 0, "unterminated ${UNSET");
	expand_err("${SET:-${A}", 0, "unterminated ${SET");
	expand_err("x ${SET:-${A", 9, "unterminated ${A");
	expand_err("${SET x}", 0, "unterminated");
}

static void test_invalid_names(void **state)
{
	(void)state;
	expand_err("${1X}", 0, "invalid variable name after '${'");
	expand_err("${}", 0, "invalid variable name");
	expand_err("ab${-x}", 2, "invalid variable name");
	expand_err("${ SET}", 0, "invalid variable name");
	expand_err("${", 0, "invalid variable name");
	expand_err("${SET:x}", 5, "expected '-', '?' or '+' after ':'");
	expand_err("${SET:}", 5, "expected '-', '?' or '+' after ':'");
}

static void test_lone_dollar(void **state)
{
	(void)state;
	expand_err("$", 0, "'$' must be followed by a variable name or '{'");
	expand_err("costs 5 $", 8, "write $$ for a literal dollar sign");
	expand_err("5$ today", 1, "must be followed by a variable name");
	expand_err("$1", 0, "must be followed by a variable name");
	expand_err("$-x", 0, "must be followed by a variable name");
	expand_err("a $ b", 2, "must be followed by a variable name");
}

static void test_first_error_wins(void **state)
{
	(void)state;
	expand_err("$UNSET $", 0, "UNSET is not set");
	expand_err("$ ${1}", 0, "must be followed by a variable name");
}

static void test_vars_recorded(void **state)
{
	struct bs_strv vars = BS_STRV_INIT;
	struct bs_interp_error err;
	char *out;

	(void)state;
	assert_int_equal(bs_interp_expand(&out, "$A ${B} ${UNSET:-$SET} ${EMPTY:+x} $$NOTVAR $A",
					  test_getenv, test_env_payload(env), &vars, &err),
			 0);
	assert_string_equal(out, "a b value  $NOTVAR a");
	bs_secure_free_str(out);
	assert_int_equal(vars.n, 5); /* A once, and never NOTVAR */
	assert_string_equal(vars.v[0], "A");
	assert_string_equal(vars.v[1], "B");
	assert_string_equal(vars.v[2], "UNSET");
	assert_string_equal(vars.v[3], "SET");
	assert_string_equal(vars.v[4], "EMPTY");
	bs_strv_free(&vars);

	/* names seen before an error are recorded too */
	assert_int_equal(bs_interp_expand(&out, "${A} ${MISSING}", test_getenv,
					  test_env_payload(env), &vars, &err),
			 -1);
	assert_null(out);
	assert_true(bs_strv_contains(&vars, "A"));
	assert_true(bs_strv_contains(&vars, "MISSING"));
	bs_strv_free(&vars);

	/* an operand that is not used still names its variables */
	assert_int_equal(bs_interp_expand(&out, "${SET:-$B}", test_getenv, test_env_payload(env),
					  &vars, &err),
			 0);
	bs_secure_free_str(out);
	assert_true(bs_strv_contains(&vars, "SET"));
	assert_true(bs_strv_contains(&vars, "B"));
	bs_strv_free(&vars);
}

static const char *counting_getenv(const char *name, void *payload)
{
	int *calls = payload;

	(*calls)++;
	return strcmp(name, "ONLY") == 0 ? "1" : NULL;
}

static void test_callback_payload(void **state)
{
	struct bs_interp_error err;
	int calls = 0;
	char *out;

	(void)state;
	assert_int_equal(
		bs_interp_expand(&out, "$ONLY${ONLY}${NO:-0}", counting_getenv, &calls, NULL, &err),
		0);
	assert_string_equal(out, "110");
	assert_int_equal(calls, 3);
	bs_secure_free_str(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_text),
		cmocka_unit_test(test_dollar_dollar),
		cmocka_unit_test(test_simple_and_braced),
		cmocka_unit_test(test_unset_is_error),
		cmocka_unit_test(test_default),
		cmocka_unit_test(test_required),
		cmocka_unit_test(test_alternative),
		cmocka_unit_test(test_nested_defaults),
		cmocka_unit_test(test_unused_operand_not_evaluated),
		cmocka_unit_test(test_nesting_limit),
		cmocka_unit_test(test_unterminated),
		cmocka_unit_test(test_invalid_names),
		cmocka_unit_test(test_lone_dollar),
		cmocka_unit_test(test_first_error_wins),
		cmocka_unit_test(test_vars_recorded),
		cmocka_unit_test(test_callback_payload),
	};

	return cmocka_run_group_tests_name("deploy/interp", tests, NULL, NULL);
}
