/*
 * str.c - allocation helpers, bs_buf and small string utilities.
 */
#include "util/str.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void out_of_memory(size_t size)
{
	fprintf(stderr, "bootstrap: out of memory (allocating %zu bytes)\n", size);
	abort();
}

void *bs_xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (p == NULL)
		out_of_memory(size);
	return p;
}

void *bs_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		out_of_memory(n * size);
	return p;
}

void *bs_xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);

	if (p == NULL)
		out_of_memory(size);
	return p;
}

void bs_xgrow(void **ptr, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 4;

	if (need <= *cap)
		return;
	while (n < need) {
		if (n > SIZE_MAX / 2 / elem)
			out_of_memory(SIZE_MAX);
		n *= 2;
	}
	*ptr = bs_xrealloc(*ptr, n * elem);
	*cap = n;
}

char *bs_xstrdup(const char *s)
{
	return bs_xstrndup(s, strlen(s));
}

char *bs_xstrdup_opt(const char *s)
{
	return s != NULL ? bs_xstrdup(s) : NULL;
}

char *bs_xstrndup(const char *s, size_t n)
{
	char *p = bs_xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *bs_xasprintf(const char *fmt, ...)
{
	struct bs_buf b = BS_BUF_INIT;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		out_of_memory(0);
	bs_xgrow((void **)&b.data, &b.cap, (size_t)n + 1, 1);
	va_start(ap, fmt);
	vsnprintf(b.data, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return b.data;
}

void bs_buf_append(struct bs_buf *b, const void *data, size_t len)
{
	bs_xgrow((void **)&b->data, &b->cap, b->len + len + 1, 1);
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void bs_buf_puts(struct bs_buf *b, const char *s)
{
	bs_buf_append(b, s, strlen(s));
}

void bs_buf_putc(struct bs_buf *b, char c)
{
	bs_buf_append(b, &c, 1);
}

void bs_buf_vprintf(struct bs_buf *b, const char *fmt, va_list ap)
{
	va_list copy;
	int n;

	va_copy(copy, ap);
	n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0)
		return;
	bs_xgrow((void **)&b->data, &b->cap, b->len + (size_t)n + 1, 1);
	va_copy(copy, ap);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, copy);
	va_end(copy);
	b->len += (size_t)n;
}

void bs_buf_printf(struct bs_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	bs_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void bs_buf_reset(struct bs_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

char *bs_buf_detach(struct bs_buf *b)
{
	char *s = b->data ? b->data : bs_xstrdup("");

	b->data = NULL;
	b->len = b->cap = 0;
	return s;
}

void bs_buf_free(struct bs_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void bs_buf_wipe_free(struct bs_buf *b)
{
	bs_secure_free(b->data, b->cap);
	b->data = NULL;
	b->len = b->cap = 0;
}

const char *bs_buf_str(const struct bs_buf *b)
{
	return b->data ? b->data : "";
}

void bs_secure_free(void *p, size_t len)
{
	volatile unsigned char *v = p;

	if (p == NULL)
		return;
	while (len--)
		*v++ = 0;
	free(p);
}

void bs_secure_free_str(char *s)
{
	if (s != NULL)
		bs_secure_free(s, strlen(s));
}

/* Optimal string alignment distance: Levenshtein plus transpositions of
 * neighbours ("wbe" is one edit from "web"), the commonest typo. */
size_t bs_edit_distance(const char *a, const char *b, size_t cap)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t *prev2, *prev, *cur, i, j, result;

	if (la > 64 || lb > 64)
		return cap + 1;
	if ((la > lb ? la - lb : lb - la) > cap)
		return cap + 1;
	prev2 = bs_xcalloc(lb + 1, sizeof(*prev2));
	prev = bs_xcalloc(lb + 1, sizeof(*prev));
	cur = bs_xcalloc(lb + 1, sizeof(*cur));
	for (j = 0; j <= lb; j++)
		prev[j] = j;
	for (i = 1; i <= la; i++) {
		size_t *tmp;

		cur[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t best = prev[j - 1] + cost;

			if (prev[j] + 1 < best)
				best = prev[j] + 1;
			if (cur[j - 1] + 1 < best)
				best = cur[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    prev2[j - 2] + 1 < best)
				best = prev2[j - 2] + 1;
			cur[j] = best;
		}
		tmp = prev2;
		prev2 = prev;
		prev = cur;
		cur = tmp;
	}
	result = prev[lb];
	free(prev2);
	free(prev);
	free(cur);
	return result > cap ? cap + 1 : result;
}

const char *bs_suggest(const char *word, const char *const *candidates)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX;
	size_t len = strlen(word);
	size_t cap = len <= 3 ? 1 : len <= 7 ? 2 : 3;
	size_t i;

	for (i = 0; candidates[i] != NULL; i++) {
		size_t d = bs_edit_distance(word, candidates[i], cap);

		if (d <= cap && d < best_d) {
			best = candidates[i];
			best_d = d;
		}
	}
	return best;
}

void bs_strv_push(struct bs_strv *sv, const char *s)
{
	bs_xgrow((void **)&sv->v, &sv->cap, sv->n + 1, sizeof(*sv->v));
	sv->v[sv->n++] = bs_xstrdup(s);
}

void bs_strv_add_unique(struct bs_strv *sv, const char *s)
{
	if (!bs_strv_contains(sv, s))
		bs_strv_push(sv, s);
}

bool bs_strv_contains(const struct bs_strv *sv, const char *s)
{
	size_t i;

	for (i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], s) == 0)
			return true;
	return false;
}

void bs_strv_free(struct bs_strv *sv)
{
	size_t i;

	for (i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = sv->cap = 0;
}

void bs_strv_wipe_free(struct bs_strv *sv)
{
	size_t i;

	for (i = 0; i < sv->n; i++)
		bs_secure_free_str(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = sv->cap = 0;
}

void bs_kvlist_push(struct bs_kvlist *l, const char *key, const char *value, bool secret)
{
	bs_xgrow((void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v));
	l->v[l->n].key = bs_xstrdup(key);
	l->v[l->n].value = value ? bs_xstrdup(value) : NULL; /* NULL: a key alone */
	l->v[l->n].secret = secret;
	l->n++;
}

const struct bs_kv *bs_kvlist_find(const struct bs_kvlist *l, const char *key)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].key, key) == 0)
			return &l->v[i];
	return NULL;
}

void bs_kvlist_free(struct bs_kvlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].key);
		if (l->v[i].secret)
			bs_secure_free_str(l->v[i].value);
		else
			free(l->v[i].value);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

size_t bs_mask_match(const char *text, const struct bs_strv *secrets)
{
	size_t best = 0, i;

	for (i = 0; secrets != NULL && i < secrets->n; i++) {
		size_t len;

		if (secrets->v[i][0] != text[0])
			continue;
		len = strlen(secrets->v[i]);
		if (len > best && strncmp(text, secrets->v[i], len) == 0)
			best = len;
	}
	return best;
}

/*
 * Every byte that lies inside any occurrence of any secret is covered, and
 * each maximal covered run becomes one "***". Replacing the leftmost match
 * and going on after it would leak the tail of a secret that overlaps it
 * ("ab12" and "12cd34" in "ab12cd34"). One pass suffices: a byte is covered
 * when the furthest end of the matches starting at or before it lies past it.
 */
void bs_mask_append(struct bs_buf *out, const char *text, const struct bs_strv *secrets)
{
	size_t n_secrets = secrets != NULL ? secrets->n : 0;
	size_t *lens = NULL, pos, i, covered_end = 0;
	bool first_byte[256] = {false};
	bool in_run = false;

	if (n_secrets > 0)
		lens = bs_xmalloc(n_secrets * sizeof(*lens));
	for (i = 0; i < n_secrets; i++) {
		lens[i] = strlen(secrets->v[i]);
		if (lens[i] > 0)
			first_byte[(unsigned char)secrets->v[i][0]] = true;
	}
	for (pos = 0; text[pos] != '\0'; pos++) {
		if (first_byte[(unsigned char)text[pos]]) {
			for (i = 0; i < n_secrets; i++) {
				if (lens[i] == 0 || secrets->v[i][0] != text[pos] ||
				    pos + lens[i] <= covered_end)
					continue;
				if (strncmp(text + pos, secrets->v[i], lens[i]) == 0)
					covered_end = pos + lens[i];
			}
		}
		if (pos < covered_end) {
			if (!in_run)
				bs_buf_puts(out, "***");
			in_run = true;
		} else {
			bs_buf_putc(out, text[pos]);
			in_run = false;
		}
	}
	free(lens);
	if (out->data == NULL)
		bs_buf_puts(out, "");
}

char *bs_base64_encode(const void *data, size_t len, bool url_safe)
{
	const char *alphabet =
		url_safe ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
			 : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *in = data;
	char *out = bs_xmalloc((len + 2) / 3 * 4 + 1);
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];

		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
		out[o++] = alphabet[v >> 6 & 63];
		out[o++] = alphabet[v & 63];
	}
	if (i < len) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0);

		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
		out[o++] = i + 1 < len ? alphabet[v >> 6 & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return out;
}

static int base64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

unsigned char *bs_base64_decode(const char *text, size_t *out_len)
{
	size_t len = strlen(text), o = 0, i;
	unsigned char *out;
	unsigned acc = 0;
	int bits = 0;

	while (len > 0 && text[len - 1] == '=')
		len--;
	out = bs_xmalloc(len * 3 / 4 + 1);
	for (i = 0; i < len; i++) {
		int v = base64_value(text[i]);

		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = acc << 6 | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits & 0xFF);
		}
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

bool bs_str_starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool bs_str_ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

int bs_parse_int64(const char *s, long long *out)
{
	char *end;
	long long v;
	const char *p = s;

	if (*p == '+' || *p == '-')
		p++;
	if (*p < '0' || *p > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

void bs_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	out[0] = '\0';
	if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return;
	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}
