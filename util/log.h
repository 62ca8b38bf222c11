/*
 * log.h - levelled logging through a sink the program installs, with secret
 * masking.
 *
 * Library modules (deploy/, provision/, container/) never write to the
 * terminal: they call bs_log(), which formats the line, replaces every
 * registered secret with "***" and hands it to the sink. Only the CLI
 * installs a sink that prints. With no sink installed, lines are dropped.
 *
 * Secrets are registered once (bs_secret_add) before worker threads start;
 * after that the list is read-only, so bs_log() and bs_secret_mask() may be
 * called from any thread. The sink itself is called under a mutex, so lines
 * from parallel workers never interleave.
 */
#ifndef BS_UTIL_LOG_H
#define BS_UTIL_LOG_H

#include <stdarg.h>
#include <stddef.h>

#include "util/str.h"

enum bs_log_level {
	BS_LOG_ERROR = 0,
	BS_LOG_WARN = 1,
	BS_LOG_INFO = 2,
	BS_LOG_DEBUG = 3,
	BS_LOG_TRACE = 4,
};

/* Receives a finished, masked line (no trailing newline). */
typedef void (*bs_log_sink_fn)(enum bs_log_level level, const char *line, void *payload);

void bs_log_set_sink(bs_log_sink_fn sink, void *payload);
void bs_log_set_level(enum bs_log_level level);
enum bs_log_level bs_log_get_level(void);
int bs_log_enabled(enum bs_log_level level);
void bs_log(enum bs_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *bs_log_level_name(enum bs_log_level level);

/*
 * Register a secret value: from now on it is replaced by "***" in every log
 * line and in bs_secret_mask(), and so are its URL-encoded forms (a
 * password in a URL or a form body an error message quotes): percent-
 * encoding with upper- and lower-case hex, each with a space as %20 and as
 * '+'. Empty strings are ignored. The value is copied; bs_secret_clear()
 * wipes and frees all copies.
 *
 * Only before worker threads start: the list is not locked, and is
 * read-only from then on, so that masking needs no lock on any thread.
 *
 * Related: deploy/diag.c also masks the first 16 characters of a secret
 * (8 at the end of a text), because a value quoted cut short shows only its
 * start. That rule errs on the side of masking: text that merely shares a
 * secret's first 16 characters is masked too (every JWT with the same
 * header, "eyJhbGciOiJIUzI1NiIs...", for example).
 */
void bs_secret_add(const char *value);
void bs_secret_clear(void);
/* Append text to out with every registered secret replaced by "***". */
void bs_secret_mask(struct bs_buf *out, const char *text);

/*
 * Mask, then cut: text with every registered secret replaced by "***",
 * written into dst (size bytes, NUL included), cut at a character boundary
 * when it does not fit. Every bounded buffer that may hold a secret is
 * filled this way: a secret cut first would be half there, and half a
 * secret is not recognised by the mask. dst may be text itself.
 */
void bs_secret_mask_cut(char *dst, size_t size, const char *text);
/* bs_secret_mask_cut() of the formatted text, formatted in full first. */
void bs_secret_vformat(char *dst, size_t size, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

#endif
