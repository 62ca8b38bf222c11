/*
 * diag.c - the diagnostics list.
 */
#include "deploy/diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bs_diags_init(struct bs_diags *d, const char *file)
{
	memset(d, 0, sizeof(*d));
	d->file = bs_xstrdup(file);
}

void bs_diags_free(struct bs_diags *d)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		free(d->items[i].path);
		free(d->items[i].message);
		free(d->items[i].file);
	}
	free(d->items);
	free(d->file);
	memset(d, 0, sizeof(*d));
}

/*
 * The start of a secret is masked like the whole secret: a value quoted cut
 * to a length ('%.100s') shows only the start of a long secret, which a
 * whole-value match misses. A start counts from 16 characters, or from 8
 * where the text ends (a message cut there); shorter ones would mask
 * ordinary words that a secret happens to begin with.
 */
#define CUT_SECRET_MIN 16
#define CUT_SECRET_MIN_AT_END 8

static size_t cut_secret_match(const char *text, const struct bs_strv *mask)
{
	size_t best = 0, i, n;

	for (i = 0; mask != NULL && i < mask->n; i++) {
		const char *s = mask->v[i];

		if (s[0] != text[0])
			continue;
		for (n = 0; s[n] != '\0' && text[n] == s[n]; n++)
			;
		if (n > best &&
		    (n >= CUT_SECRET_MIN || (n >= CUT_SECRET_MIN_AT_END && text[n] == '\0')))
			best = n;
	}
	return best;
}

/*
 * The message as stored: secrets (and the start of one cut short) replaced
 * by ***, and control characters
 * (a newline or an escape sequence quoted from a recipe value) written as
 * \n or \xHH, so that a diagnostic is always one line of plain text that
 * cannot drive the terminal.
 */
static char *clean_text(const struct bs_diags *d, const char *text)
{
	struct bs_buf out = BS_BUF_INIT;
	const char *p = text;
	const char *covered_end = text;
	bool in_run = false;

	/* as bs_mask_append(): each run covered by matches, overlapping or
	 * not, becomes one "***", so no tail of an overlapping secret shows */
	while (*p != '\0') {
		unsigned char c = (unsigned char)*p;
		size_t best = bs_mask_match(p, d->mask);
		size_t cut = cut_secret_match(p, d->mask);

		if (cut > best)
			best = cut;
		if (p + best > covered_end)
			covered_end = p + best;

		if (p < covered_end) {
			if (!in_run)
				bs_buf_puts(&out, "***");
			in_run = true;
			p++;
			continue;
		}
		in_run = false;
		if (c == '\n') {
			bs_buf_puts(&out, "\\n");
			p++;
		} else if (c == '\t') {
			bs_buf_puts(&out, "\\t");
			p++;
		} else if (c < 0x20 || c == 0x7f) {
			bs_buf_printf(&out, "\\x%02x", c);
			p++;
		} else {
			bs_buf_putc(&out, *p++);
		}
	}
	if (out.data == NULL)
		bs_buf_puts(&out, "");
	return bs_buf_detach(&out);
}

void bs_diags_add(struct bs_diags *d, enum bs_diag_severity severity, int line, int col,
		  const char *path, const char *fmt, ...)
{
	struct bs_diag *diag;
	char *raw;
	va_list ap;
	int n;

	if (severity == BS_DIAG_ERROR)
		d->n_errors++;
	else
		d->n_warnings++;
	if (d->n >= BS_DIAGS_MAX) {
		d->n_dropped++;
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	raw = bs_xmalloc(n > 0 ? (size_t)n + 1 : 1);
	va_start(ap, fmt);
	vsnprintf(raw, n > 0 ? (size_t)n + 1 : 1, fmt, ap);
	va_end(ap);

	bs_xgrow((void **)&d->items, &d->cap, d->n + 1, sizeof(*d->items));
	diag = &d->items[d->n++];
	diag->severity = severity;
	diag->line = line;
	diag->col = col;
	diag->file = d->at_file != NULL && (d->file == NULL || strcmp(d->at_file, d->file) != 0)
			     ? clean_text(d, d->at_file)
			     : NULL;
	diag->path = clean_text(d, path ? path : "");
	diag->message = clean_text(d, raw);
	bs_secure_free_str(raw);
}

/* The list's own file first, then others by name. */
static int file_order(const struct bs_diag *a, const struct bs_diag *b)
{
	if (a->file == NULL || b->file == NULL)
		return (a->file != NULL) - (b->file != NULL);
	return strcmp(a->file, b->file);
}

/* Insertion sort: stable, and the list holds at most BS_DIAGS_MAX items. */
void bs_diags_sort(struct bs_diags *d)
{
	size_t i, j;

	for (i = 1; i < d->n; i++) {
		struct bs_diag cur = d->items[i];

		for (j = i; j > 0; j--) {
			const struct bs_diag *prev = &d->items[j - 1];
			int f = file_order(prev, &cur);

			if (f < 0 || (f == 0 && (prev->line < cur.line ||
						 (prev->line == cur.line && prev->col <= cur.col))))
				break;
			d->items[j] = d->items[j - 1];
		}
		d->items[j] = cur;
	}
}

const char *bs_diag_file(const struct bs_diags *d, const struct bs_diag *diag)
{
	return diag->file != NULL ? diag->file : d->file;
}

char *bs_diag_format(const struct bs_diags *d, const struct bs_diag *diag)
{
	const char *sev = diag->severity == BS_DIAG_WARNING ? "warning: " : "";
	const char *file = bs_diag_file(d, diag);

	if (diag->line == 0)
		return bs_xasprintf("%s: %s%s", file, sev, diag->message);
	if (diag->path[0] == '\0')
		return bs_xasprintf("%s:%d:%d: %s%s", file, diag->line, diag->col, sev,
				    diag->message);
	return bs_xasprintf("%s:%d:%d: %s%s: %s", file, diag->line, diag->col, sev, diag->path,
			    diag->message);
}
