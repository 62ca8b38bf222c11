/*
 * dockerignore_fuzz.c - libFuzzer target: container/context.c's
 * .dockerignore patterns (a file in a build context, written by anyone
 * whose directory is built). The input is the .dockerignore text, a NUL,
 * then paths one a line. Invariants: no crash, leak or runaway match time
 * (the matcher is memoised); a parse error names its line on one line of
 * text; an exclusion "**" appended excludes every path, an exception "!**"
 * appended sends every path, whatever came before.
 */
#include <string.h>

#include "container/context.h"
#include "tests/fuzz/fuzz.h"

#define MAX_INPUT 8192

static void check_paths(const struct bs_ignore *ig, const char *paths, size_t len)
{
	struct bs_ignore all = BS_IGNORE_INIT, none = BS_IGNORE_INIT;
	struct bs_err err = BS_ERR_INIT;
	const char *p = paths, *end = paths + len;

	for (size_t i = 0; i < ig->n; i++) {
		/* the same patterns, then "**" or "!**" */
		bs_xgrow((void **)&all.v, &all.cap, all.n + 1, sizeof(*all.v));
		bs_xgrow((void **)&none.v, &none.cap, none.n + 1, sizeof(*none.v));
		all.v[all.n].text = bs_xstrdup(ig->v[i].text);
		all.v[all.n++].exception = ig->v[i].exception;
		none.v[none.n].text = bs_xstrdup(ig->v[i].text);
		none.v[none.n++].exception = ig->v[i].exception;
	}
	fuzz_check(bs_ignore_parse(&all, "**\n", 3, &err) == 0, "dockerignore", "** refused");
	fuzz_check(bs_ignore_parse(&none, "!**\n", 4, &err) == 0, "dockerignore", "!** refused");
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		char *path = bs_xstrndup(p, nl ? (size_t)(nl - p) : (size_t)(end - p));

		p = nl ? nl + 1 : end;
		if (path[0] != '\0') {
			bool first = bs_ignore_excludes(ig, path);

			fuzz_check(first == bs_ignore_excludes(ig, path), "dockerignore",
				   "two answers for one path");
			fuzz_check(bs_ignore_excludes(&all, path), "dockerignore",
				   "a path that ** does not exclude");
			fuzz_check(!bs_ignore_excludes(&none, path), "dockerignore",
				   "a path that !** does not send");
		}
		free(path);
	}
	bs_ignore_free(&all);
	bs_ignore_free(&none);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bs_ignore ig = BS_IGNORE_INIT;
	struct bs_err err = BS_ERR_INIT;
	const char *text = (const char *)data;
	const char *nul;
	size_t text_len;
	int rc;

	if (size > MAX_INPUT)
		return 0;
	nul = memchr(text, '\0', size);
	text_len = nul ? (size_t)(nul - text) : size;
	rc = bs_ignore_parse(&ig, text, text_len, &err);
	if (rc != 0) {
		fuzz_check(strstr(err.msg, "line ") != NULL, "dockerignore",
			   "a parse error without its line");
		fuzz_check(strpbrk(err.msg, "\r\n") == NULL, "dockerignore",
			   "an error message of two lines");
	} else if (nul != NULL) {
		check_paths(&ig, nul + 1, size - text_len - 1);
	}
	bs_ignore_free(&ig);
	return 0;
}
