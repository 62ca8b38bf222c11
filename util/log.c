/*
 * log.c - the sink-based logger and the secret mask list.
 *
 * Masking is a substring replacement, as CI systems do for their masked
 * variables: whatever path a secret takes into a message (an error from a
 * remote API echoing a header, a command line), it is caught here.
 * Masking always comes before any cut to a bounded length: a secret cut in
 * half is no longer recognised, and its first half would be printed.
 */
#include "util/log.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;
static bs_log_sink_fn log_sink;
static void *log_payload;
static enum bs_log_level log_level = BS_LOG_INFO;

static struct bs_strv secrets = BS_STRV_INIT;

void bs_log_set_sink(bs_log_sink_fn sink, void *payload)
{
	pthread_mutex_lock(&log_mutex);
	log_sink = sink;
	log_payload = payload;
	pthread_mutex_unlock(&log_mutex);
}

void bs_log_set_level(enum bs_log_level level)
{
	if ((int)level < BS_LOG_ERROR)
		level = BS_LOG_ERROR;
	if (level > BS_LOG_TRACE)
		level = BS_LOG_TRACE;
	log_level = level;
}

enum bs_log_level bs_log_get_level(void)
{
	return log_level;
}

int bs_log_enabled(enum bs_log_level level)
{
	return level <= log_level && log_sink != NULL;
}

const char *bs_log_level_name(enum bs_log_level level)
{
	switch (level) {
	case BS_LOG_ERROR: return "error";
	case BS_LOG_WARN: return "warning";
	case BS_LOG_INFO: return "info";
	case BS_LOG_DEBUG: return "debug";
	case BS_LOG_TRACE: return "trace";
	}
	return "log";
}

void bs_log(enum bs_log_level level, const char *fmt, ...)
{
	struct bs_buf raw = BS_BUF_INIT, masked = BS_BUF_INIT;
	va_list ap;
	int n;

	if (!bs_log_enabled(level))
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	bs_xgrow((void **)&raw.data, &raw.cap, (size_t)n + 1, 1);
	va_start(ap, fmt);
	vsnprintf(raw.data, (size_t)n + 1, fmt, ap);
	va_end(ap);
	raw.len = (size_t)n;
	bs_secret_mask(&masked, raw.data);
	pthread_mutex_lock(&log_mutex);
	if (log_sink != NULL)
		log_sink(level, bs_buf_str(&masked), log_payload);
	pthread_mutex_unlock(&log_mutex);
	bs_buf_wipe_free(&raw);
	bs_buf_wipe_free(&masked);
}

/*
 * RFC 3986 percent-encoding of everything but the unreserved characters:
 * upper-case hex as curl_easy_escape writes it, or lower-case hex as other
 * encoders do; with plus_for_space, a space is '+' as in a form body
 * (application/x-www-form-urlencoded).
 */
static char *url_encoded(const char *value, bool lower_hex, bool plus_for_space)
{
	const char *hex = lower_hex ? "0123456789abcdef" : "0123456789ABCDEF";
	struct bs_buf b = BS_BUF_INIT;
	const unsigned char *p;

	for (p = (const unsigned char *)value; *p != '\0'; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL) {
			bs_buf_putc(&b, (char)*p);
		} else if (*p == ' ' && plus_for_space) {
			bs_buf_putc(&b, '+');
		} else {
			bs_buf_putc(&b, '%');
			bs_buf_putc(&b, hex[*p >> 4]);
			bs_buf_putc(&b, hex[*p & 15]);
		}
	}
	return bs_buf_detach(&b);
}

void bs_secret_add(const char *value)
{
	int form;

	if (value == NULL || value[0] == '\0')
		return;
	bs_strv_add_unique(&secrets, value);
	/* bit 0: lower-case hex, bit 1: '+' for a space */
	for (form = 0; form < 4; form++) {
		char *encoded = url_encoded(value, (form & 1) != 0, (form & 2) != 0);

		if (strcmp(encoded, value) != 0)
			bs_strv_add_unique(&secrets, encoded);
		bs_secure_free_str(encoded);
	}
}

void bs_secret_clear(void)
{
	bs_strv_wipe_free(&secrets);
}

void bs_secret_mask(struct bs_buf *out, const char *text)
{
	bs_mask_append(out, text, &secrets);
}

void bs_secret_mask_cut(char *dst, size_t size, const char *text)
{
	struct bs_buf masked = BS_BUF_INIT;
	size_t n;

	if (size == 0)
		return;
	bs_secret_mask(&masked, text != NULL ? text : "");
	n = masked.len;
	if (n >= size) {
		size_t back = 0;

		n = size - 1;
		/* not inside a UTF-8 sequence: the message stays valid text. A
		 * sequence has at most 3 continuation bytes; a longer run is not
		 * UTF-8, and backing over all of it would cut the whole message. */
		while (n > 0 && back < 3 && ((unsigned char)masked.data[n] & 0xC0) == 0x80) {
			n--;
			back++;
		}
	}
	memcpy(dst, masked.data, n);
	dst[n] = '\0';
	bs_buf_wipe_free(&masked);
}

void bs_secret_vformat(char *dst, size_t size, const char *fmt, va_list ap)
{
	struct bs_buf raw = BS_BUF_INIT;

	/* formatted in full into its own buffer: an argument may be dst */
	bs_buf_vprintf(&raw, fmt, ap);
	bs_secret_mask_cut(dst, size, raw.data ? raw.data : "");
	bs_buf_wipe_free(&raw);
}
