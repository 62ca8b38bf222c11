/*
 * helpers.h - shared helpers for the unit tests (tests/unit/<area>/<topic>.c).
 *
 * Recipes are loaded from memory with a test-controlled environment: a
 * table of NAME=value pairs handed to the loader as its getenv callback, so
 * no test depends on (or changes) the process environment. A name absent
 * from the table is unset; a name with value "" is set and empty.
 *
 * Diagnostics are checked by place (line, column, key path) and by a key
 * phrase of the message. When an expectation fails, every diagnostic the
 * loader produced is printed, so a failing test explains itself.
 *
 * Include after <cmocka.h>. Everything here is static inline, so a test
 * program that uses only part of it builds without warnings.
 */
#ifndef BS_TESTS_UNIT_HELPERS_H
#define BS_TESTS_UNIT_HELPERS_H

#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "deploy/diag.h"
#include "deploy/recipe.h"
#include "util/error.h"
#include "util/str.h"

/* One variable of a test environment; a table ends with {NULL, NULL}. */
struct test_var {
	const char *name;
	const char *value;
};

static inline const char *test_getenv(const char *name, void *payload)
{
	const struct test_var *v = payload;

	for (; v != NULL && v->name != NULL; v++)
		if (strcmp(v->name, name) == 0)
			return v->value;
	return NULL;
}

/* The loader's payload: the table itself (an empty one for NULL). */
static inline void *test_env_payload(const struct test_var *env)
{
	static const struct test_var empty[] = {{NULL, NULL}};

	return (void *)(uintptr_t)(env ? env : empty);
}

/* A recipe load: its result code, model (NULL on error) and diagnostics. */
struct loaded {
	int rc;
	struct bs_recipe *recipe;
	struct bs_diags diags;
};

static inline void load_text(struct loaded *l, const char *text, const struct test_var *env)
{
	struct bs_recipe_load_opts opts = BS_RECIPE_LOAD_OPTS_INIT;

	opts.getenv_fn = test_getenv;
	opts.payload = test_env_payload(env);
	bs_diags_init(&l->diags, "test.yaml");
	l->recipe = NULL;
	l->rc = bs_recipe_load_buffer(&l->recipe, text, strlen(text), "test.yaml", &opts,
				      &l->diags);
	bs_diags_sort(&l->diags);
}

static inline void load_file(struct loaded *l, const char *path, const struct test_var *env)
{
	struct bs_recipe_load_opts opts = BS_RECIPE_LOAD_OPTS_INIT;

	opts.getenv_fn = test_getenv;
	opts.payload = test_env_payload(env);
	bs_diags_init(&l->diags, path);
	l->recipe = NULL;
	l->rc = bs_recipe_load(&l->recipe, path, &opts, &l->diags);
	bs_diags_sort(&l->diags);
}

static inline void loaded_free(struct loaded *l)
{
	bs_recipe_free(l->recipe);
	l->recipe = NULL;
	bs_diags_free(&l->diags);
}

static inline void print_diags(const struct bs_diags *d)
{
	size_t i;

	print_message("  %zu diagnostic(s) (%zu errors, %zu warnings, %zu dropped):\n", d->n,
		      d->n_errors, d->n_warnings, d->n_dropped);
	for (i = 0; i < d->n; i++) {
		char *text = bs_diag_format(d, &d->items[i]);

		print_message("    %s\n", text);
		free(text);
	}
}

/* The diagnostic at exactly (line, col, path) whose message holds phrase. */
static inline const struct bs_diag *find_diag(const struct bs_diags *d, enum bs_diag_severity sev,
					      int line, int col, const char *path,
					      const char *phrase)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		const struct bs_diag *g = &d->items[i];

		if (g->severity == sev && g->line == line && g->col == col &&
		    strcmp(g->path, path) == 0 && strstr(g->message, phrase) != NULL)
			return g;
	}
	return NULL;
}

static inline void expect_diag_at(const struct bs_diags *d, enum bs_diag_severity sev, int line,
				  int col, const char *path, const char *phrase, const char *file,
				  int at_line)
{
	if (find_diag(d, sev, line, col, path, phrase) != NULL)
		return;
	print_error("expected %s at %d:%d, path '%s', containing \"%s\"\n",
		    sev == BS_DIAG_ERROR ? "an error" : "a warning", line, col, path, phrase);
	print_diags(d);
	_fail(file, at_line);
}

static inline void expect_counts_at(const struct bs_diags *d, size_t errors, size_t warnings,
				    const char *file, int at_line)
{
	if (d->n_errors == errors && d->n_warnings == warnings)
		return;
	print_error("expected %zu error(s) and %zu warning(s)\n", errors, warnings);
	print_diags(d);
	_fail(file, at_line);
}

static inline void expect_no_diag_containing_at(const struct bs_diags *d, const char *text,
						const char *file, int at_line)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		if (strstr(d->items[i].message, text) == NULL &&
		    strstr(d->items[i].path, text) == NULL)
			continue;
		print_error("no diagnostic may contain \"%s\"\n", text);
		print_diags(d);
		_fail(file, at_line);
	}
}

/* An error (or warning) at LINE:COL with key path PATH mentioning PHRASE. */
#define expect_error(d, line, col, path, phrase)                                                   \
	expect_diag_at((d), BS_DIAG_ERROR, (line), (col), (path), (phrase), __FILE__, __LINE__)
#define expect_warning(d, line, col, path, phrase)                                                 \
	expect_diag_at((d), BS_DIAG_WARNING, (line), (col), (path), (phrase), __FILE__, __LINE__)
/* Exactly this many errors and warnings were reported. */
#define expect_counts(d, errors, warnings)                                                         \
	expect_counts_at((d), (errors), (warnings), __FILE__, __LINE__)
#define expect_no_diag_containing(d, text)                                                         \
	expect_no_diag_containing_at((d), (text), __FILE__, __LINE__)

/* The load succeeded without errors (warnings allowed). */
#define expect_loaded(l)                                                                           \
	do {                                                                                       \
		if ((l)->rc != 0 || (l)->recipe == NULL) {                                         \
			print_error("recipe did not load (rc %d)\n", (l)->rc);                     \
			print_diags(&(l)->diags);                                                  \
			fail();                                                                    \
		}                                                                                  \
	} while (0)

/* The load failed with BS_ERR_INVALID and no model. */
#define expect_invalid(l)                                                                          \
	do {                                                                                       \
		if ((l)->rc != BS_ERR_INVALID || (l)->recipe != NULL) {                            \
			print_error("expected an invalid recipe, got rc %d\n", (l)->rc);           \
			print_diags(&(l)->diags);                                                  \
			fail();                                                                    \
		}                                                                                  \
	} while (0)

/* The smallest valid recipe's first seven lines; tests append to it. */
#define RECIPE_HEAD                                                                                \
	"version: 1\n"		  /* 1 */                                                          \
	"project: demo\n"	  /* 2 */                                                          \
	"nodes:\n"		  /* 3 */                                                          \
	"  - name: web\n"	  /* 4 */                                                          \
	"containers:\n"		  /* 5 */                                                          \
	"  - name: app\n"	  /* 6 */                                                          \
	"    image: nginx:1.25\n" /* 7 */

/* Write text to the file at path (made or emptied). */
static inline void test_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static inline int test_remove_entry(const char *path, const struct stat *st, int flag,
				    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Remove a test's temporary folder and everything under it. */
static inline void test_remove_tree(const char *root)
{
	nftw(root, test_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A new folder /tmp/NAME.XXXXXX (mode mode) into out; false on failure.
 * Its subfolders subdirs (NULL-terminated, relative) are made too. */
static inline bool test_make_dirs(char *out, size_t size, const char *name, unsigned mode,
				  const char *const *subdirs)
{
	snprintf(out, size, "/tmp/%s.XXXXXX", name);
	if (mkdtemp(out) == NULL || chmod(out, mode) != 0)
		return false;
	for (size_t i = 0; subdirs != NULL && subdirs[i] != NULL; i++) {
		char *path = bs_xasprintf("%s/%s", out, subdirs[i]);
		bool ok = mkdir(path, mode) == 0 && chmod(path, mode) == 0;

		free(path);
		if (!ok)
			return false;
	}
	return true;
}

/* test_write_file to dir/rel, then its permission bits set to mode. */
static inline void test_put_file(const char *dir, const char *rel, const char *text, unsigned mode)
{
	char *path = bs_xasprintf("%s/%s", dir, rel);

	test_write_file(path, text);
	assert_int_equal(chmod(path, mode), 0);
	free(path);
}

#endif
