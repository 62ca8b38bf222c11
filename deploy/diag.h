/*
 * diag.h - recipe diagnostics: every problem found in a recipe, with its
 * place, so that one run reports all of them.
 *
 * A diagnostic reads "FILE:LINE:COLUMN: key.path: what is wrong (how to fix
 * it)"; warnings put "warning: " before the path. Lines and columns are
 * 1-based; columns count characters, as editors do.
 *
 * struct bs_diags owns its entries. One list per recipe load, one thread.
 */
#ifndef BS_DEPLOY_DIAG_H
#define BS_DEPLOY_DIAG_H

#include <stdbool.h>
#include <stddef.h>

#include "util/str.h"

enum bs_diag_severity {
	BS_DIAG_ERROR,
	BS_DIAG_WARNING,
};

struct bs_diag {
	enum bs_diag_severity severity;
	int line;
	int col;
	char *file;    /* another file than the list's (a compose file), or NULL */
	char *path;    /* key path, "" for the document itself */
	char *message; /* what is wrong (how to fix it) */
};

/* Past this many, further diagnostics are counted, not stored. */
#define BS_DIAGS_MAX 100

struct bs_diags {
	char *file; /* name shown in messages */
	struct bs_diag *items;
	size_t n;
	size_t cap;
	size_t n_errors;
	size_t n_warnings;
	size_t n_dropped;
	/* Values masked as *** in every message added (borrowed). */
	const struct bs_strv *mask;
	/* The file the next diagnostics are in, when not d->file (borrowed;
	 * a compose file the recipe names); NULL: d->file. */
	const char *at_file;
};

void bs_diags_init(struct bs_diags *d, const char *file);
void bs_diags_free(struct bs_diags *d);
void bs_diags_add(struct bs_diags *d, enum bs_diag_severity severity, int line, int col,
		  const char *path, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Order by file (the list's own first), line, then column (stable for
 * equal places). */
void bs_diags_sort(struct bs_diags *d);
/* The file a diagnostic is in. */
const char *bs_diag_file(const struct bs_diags *d, const struct bs_diag *diag);
/* Format one diagnostic as its single-line text; caller frees. */
char *bs_diag_format(const struct bs_diags *d, const struct bs_diag *diag);

#endif
