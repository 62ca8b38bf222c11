/*
 * error.c - strerror for enum bs_error and the caller-owned error buffer.
 *
 * A message is formatted in full, masked (util/log.h), and only then cut
 * to the buffer: an API's answer or a remote command's output quoted in a
 * message may hold a secret anywhere, also across the cut.
 */
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/log.h"
#include "util/str.h"

const char *bs_strerror(int code)
{
	switch (code) {
	case BS_OK: return "success";
	case BS_ERR_NOMEM: return "out of memory";
	case BS_ERR_INVALID: return "invalid input";
	case BS_ERR_IO: return "input/output error";
	case BS_ERR_NOT_FOUND: return "not found";
	case BS_ERR_TIMEOUT: return "timed out";
	case BS_ERR_NETWORK: return "network error";
	case BS_ERR_AUTH: return "authentication failed";
	case BS_ERR_HOSTKEY: return "host key verification failed";
	case BS_ERR_CONFLICT: return "conflict";
	case BS_ERR_API: return "remote API error";
	case BS_ERR_PROTOCOL: return "protocol error";
	case BS_ERR_UNSUPPORTED: return "not supported";
	case BS_ERR_INTERRUPTED: return "interrupted";
	case BS_ERR_LOCKED: return "locked by another run";
	case BS_ERR_REMOTE: return "remote command failed";
	}
	return "unknown error";
}

int bs_err_set(struct bs_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	err->code = code;
	va_start(ap, fmt);
	bs_secret_vformat(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

void bs_err_prefix(struct bs_err *err, const char *fmt, ...)
{
	struct bs_buf text = BS_BUF_INIT;
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	bs_buf_vprintf(&text, fmt, ap);
	va_end(ap);
	if (text.data == NULL)
		return;
	bs_buf_puts(&text, ": ");
	bs_buf_puts(&text, err->msg);
	bs_secret_mask_cut(err->msg, sizeof(err->msg), text.data);
	bs_buf_wipe_free(&text);
}

void bs_err_clear(struct bs_err *err)
{
	if (err == NULL)
		return;
	err->code = BS_OK;
	err->msg[0] = '\0';
}
