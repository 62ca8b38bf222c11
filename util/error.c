/*
 * error.c - strerror for enum bs_error and the caller-owned error buffer.
 */
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

void bs_err_prefix(struct bs_err *err, const char *fmt, ...)
{
	char old[BS_ERR_MSG_MAX];
	size_t used;
	va_list ap;
	int n;

	if (err == NULL)
		return;
	memcpy(old, err->msg, sizeof(old));
	va_start(ap, fmt);
	n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	used = n < 0 ? 0 : (size_t)n;
	if (used + 2 >= sizeof(err->msg))
		return;
	memcpy(err->msg + used, ": ", 2);
	used += 2;
	memcpy(err->msg + used, old, sizeof(err->msg) - used - 1);
	err->msg[sizeof(err->msg) - 1] = '\0';
}

void bs_err_clear(struct bs_err *err)
{
	if (err == NULL)
		return;
	err->code = BS_OK;
	err->msg[0] = '\0';
}
