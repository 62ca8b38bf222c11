/*
 * Unit tests for deploy/diag.c: the diagnostics list (counting, the cap on
 * stored entries, ordering), the one-line format, and masking of secret
 * values in every message added.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/diag.h"

static void test_format(void **state)
{
	struct bs_diags d;
	char *s;

	(void)state;
	bs_diags_init(&d, "shop.yaml");
	bs_diags_add(&d, BS_DIAG_ERROR, 3, 10, "project", "'%s' is not valid", "Demo");
	bs_diags_add(&d, BS_DIAG_WARNING, 5, 13, "ssh.password", "secret written in the recipe");
	bs_diags_add(&d, BS_DIAG_ERROR, 1, 1, "", "the recipe is empty");
	bs_diags_add(&d, BS_DIAG_ERROR, 0, 0, "", "cannot open the recipe");
	bs_diags_add(&d, BS_DIAG_ERROR, 2, 1, NULL, "no path");
	assert_int_equal(d.n, 5);
	assert_int_equal(d.n_errors, 4);
	assert_int_equal(d.n_warnings, 1);

	s = bs_diag_format(&d, &d.items[0]);
	assert_string_equal(s, "shop.yaml:3:10: project: 'Demo' is not valid");
	free(s);
	s = bs_diag_format(&d, &d.items[1]);
	assert_string_equal(s,
			    "shop.yaml:5:13: warning: ssh.password: secret written in the recipe");
	free(s);
	s = bs_diag_format(&d, &d.items[2]);
	assert_string_equal(s, "shop.yaml:1:1: the recipe is empty");
	free(s);
	s = bs_diag_format(&d, &d.items[3]);
	assert_string_equal(s, "shop.yaml: cannot open the recipe");
	free(s);
	assert_string_equal(d.items[4].path, "");
	bs_diags_free(&d);
}

static void test_sort_stable(void **state)
{
	struct bs_diags d;

	(void)state;
	bs_diags_init(&d, "f");
	bs_diags_add(&d, BS_DIAG_ERROR, 9, 1, "", "c");
	bs_diags_add(&d, BS_DIAG_ERROR, 2, 5, "", "b1");
	bs_diags_add(&d, BS_DIAG_ERROR, 2, 3, "", "a");
	bs_diags_add(&d, BS_DIAG_WARNING, 2, 5, "", "b2");
	bs_diags_add(&d, BS_DIAG_ERROR, 2, 5, "", "b3");
	bs_diags_add(&d, BS_DIAG_ERROR, 0, 0, "", "first");
	bs_diags_sort(&d);
	assert_string_equal(d.items[0].message, "first");
	assert_string_equal(d.items[1].message, "a");
	assert_string_equal(d.items[2].message, "b1");
	assert_string_equal(d.items[3].message, "b2");
	assert_string_equal(d.items[4].message, "b3");
	assert_string_equal(d.items[5].message, "c");
	bs_diags_free(&d);
}

static void test_cap(void **state)
{
	struct bs_diags d;
	int i;

	(void)state;
	bs_diags_init(&d, "f");
	for (i = 0; i < BS_DIAGS_MAX + 5; i++)
		bs_diags_add(&d, BS_DIAG_ERROR, i + 1, 1, "p", "error %d", i);
	bs_diags_add(&d, BS_DIAG_WARNING, 1, 1, "p", "late warning");
	assert_int_equal(d.n, BS_DIAGS_MAX);
	assert_int_equal(d.n_errors, BS_DIAGS_MAX + 5);
	assert_int_equal(d.n_warnings, 1);
	assert_int_equal(d.n_dropped, 6);
	assert_string_equal(d.items[BS_DIAGS_MAX - 1].message, "error 99");
	bs_diags_free(&d);
	assert_null(d.items);
	assert_int_equal(d.n, 0);
}

static void test_mask(void **state)
{
	struct bs_strv secrets = BS_STRV_INIT;
	struct bs_diags d;

	(void)state;
	bs_strv_push(&secrets, "abc");
	bs_strv_push(&secrets, "abcdef");
	bs_diags_init(&d, "f");
	bs_diags_add(&d, BS_DIAG_ERROR, 1, 1, "x", "before mask abcdef");
	d.mask = &secrets;
	bs_diags_add(&d, BS_DIAG_ERROR, 1, 1, "x", "'%s' and %s, abcde", "abcdef", "abc");
	d.mask = NULL;
	assert_string_equal(d.items[0].message, "before mask abcdef");
	/* the longest secret first, so no tail of it shows */
	assert_string_equal(d.items[1].message, "'***' and ***, ***de");
	bs_diags_free(&d);
	bs_strv_free(&secrets);
}

/* Overlapping secrets leave no tail: "ab12" then "12cd34" in "ab12cd34". */
static void test_mask_overlapping(void **state)
{
	struct bs_strv secrets = BS_STRV_INIT;
	struct bs_diags d;

	(void)state;
	bs_strv_push(&secrets, "ab12");
	bs_strv_push(&secrets, "12cd34");
	bs_diags_init(&d, "f");
	d.mask = &secrets;
	bs_diags_add(&d, BS_DIAG_ERROR, 1, 1, "x", "token=%s\n", "ab12cd34");
	d.mask = NULL;
	assert_string_equal(d.items[0].message, "token=***\\n");
	bs_diags_free(&d);
	bs_strv_free(&secrets);
}

static void test_empty_message(void **state)
{
	struct bs_diags d;

	(void)state;
	bs_diags_init(&d, "f");
	bs_diags_add(&d, BS_DIAG_ERROR, 1, 1, "p", "%s", "");
	assert_string_equal(d.items[0].message, "");
	bs_diags_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_sort_stable),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_mask),
		cmocka_unit_test(test_mask_overlapping),
		cmocka_unit_test(test_empty_message),
	};

	return cmocka_run_group_tests_name("deploy/diag", tests, NULL, NULL);
}
