/*
 * str.h - allocation helpers, a growable string buffer and small string
 * utilities shared by every module.
 *
 * Allocation failure aborts the process (as git's xmalloc does): bootstrap
 * cannot do anything useful without memory, and checking every small
 * allocation would bury the logic. Everything else reports errors normally.
 *
 * struct bs_buf owns its bytes; it is always NUL-terminated once anything
 * was appended. Free with bs_buf_free(). Not shared between threads.
 */
#ifndef BS_UTIL_STR_H
#define BS_UTIL_STR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

void *bs_xmalloc(size_t size);
void *bs_xcalloc(size_t n, size_t size);
void *bs_xrealloc(void *ptr, size_t size);
/* Grow *ptr to hold at least need elements of elem bytes (amortised). */
void bs_xgrow(void **ptr, size_t *cap, size_t need, size_t elem);
char *bs_xstrdup(const char *s);
/* bs_xstrdup, NULL for NULL. */
char *bs_xstrdup_opt(const char *s);
char *bs_xstrndup(const char *s, size_t n);
char *bs_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct bs_buf {
	char *data;
	size_t len;
	size_t cap;
};

#define BS_BUF_INIT                                                                                \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

void bs_buf_append(struct bs_buf *b, const void *data, size_t len);
void bs_buf_puts(struct bs_buf *b, const char *s);
void bs_buf_putc(struct bs_buf *b, char c);
void bs_buf_printf(struct bs_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* bs_buf_printf with a va_list (ap is left unused: the caller ends it). */
void bs_buf_vprintf(struct bs_buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
void bs_buf_reset(struct bs_buf *b);
/* Return the contents ("" when empty) and leave b empty; caller frees. */
char *bs_buf_detach(struct bs_buf *b);
/* Free the contents; wipes them first when wipe is true (secrets). */
void bs_buf_free(struct bs_buf *b);
void bs_buf_wipe_free(struct bs_buf *b);
/* Contents as a C string ("" when empty); owned by b. */
const char *bs_buf_str(const struct bs_buf *b);

/* Zero memory in a way the compiler may not elide, then free. */
void bs_secure_free(void *p, size_t len);
void bs_secure_free_str(char *s);

/* Levenshtein distance, capped at cap+1 for speed. */
size_t bs_edit_distance(const char *a, const char *b, size_t cap);

/*
 * Pick the candidate closest to word (NULL-terminated list), or NULL when
 * none is close enough to be a plausible typo.
 */
const char *bs_suggest(const char *word, const char *const *candidates);

/* A growable, owning vector of C strings. */
struct bs_strv {
	char **v;
	size_t n;
	size_t cap;
};

#define BS_STRV_INIT                                                                               \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

void bs_strv_push(struct bs_strv *sv, const char *s);
/* Push s only if not already present. */
void bs_strv_add_unique(struct bs_strv *sv, const char *s);
bool bs_strv_contains(const struct bs_strv *sv, const char *s);
void bs_strv_free(struct bs_strv *sv);
/* Free each string after wiping it (secret values). */
void bs_strv_wipe_free(struct bs_strv *sv);

/* A key/value pair (environment, labels, build args); secret values are
 * wiped when freed and masked in output. */
struct bs_kv {
	char *key;
	char *value;
	bool secret;
};

/* A growable, owning list of key/value pairs, in insertion order. */
struct bs_kvlist {
	struct bs_kv *v;
	size_t n;
	size_t cap;
};

#define BS_KVLIST_INIT                                                                             \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

/* value NULL: the key alone (a label filter by key) */
void bs_kvlist_push(struct bs_kvlist *l, const char *key, const char *value, bool secret);
const struct bs_kv *bs_kvlist_find(const struct bs_kvlist *l, const char *key);
void bs_kvlist_free(struct bs_kvlist *l);

/*
 * Secret masking: the length of the longest entry of secrets that text
 * starts with, or 0. Output writers replace that many bytes by "***"
 * (longest first, so a secret containing another is masked whole).
 */
size_t bs_mask_match(const char *text, const struct bs_strv *secrets);

/* Append text to out with every entry of secrets replaced by "***": each
 * run of bytes covered by occurrences of secrets, overlapping or adjacent,
 * becomes one "***". O(text length * number of secrets). */
void bs_mask_append(struct bs_buf *out, const char *text, const struct bs_strv *secrets);

/* Base64 (RFC 4648); url_safe selects the "-_" alphabet, padding kept.
 * Caller frees. decode returns NULL on bad input, *out_len the length. */
char *bs_base64_encode(const void *data, size_t len, bool url_safe);
unsigned char *bs_base64_decode(const char *text, size_t *out_len);

/* Hex SHA-256 of len bytes; out has room for 65 ("" if hashing failed). */
void bs_sha256_hex(const void *data, size_t len, char out[65]);

bool bs_str_starts_with(const char *s, const char *prefix);
bool bs_str_ends_with(const char *s, const char *suffix);

/*
 * Strict integer parse of the whole string (decimal, optional sign, no
 * spaces). Returns 0 and sets *out, or -1 on syntax error or overflow.
 */
int bs_parse_int64(const char *s, long long *out);

#endif
