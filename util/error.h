/*
 * error.h - the one error type of bootstrap.
 *
 * Every fallible function returns an int: 0 on success or a negative
 * bs_error code. Details go into a caller-owned struct bs_err (one per
 * context, for example one per node worker), so parallel workers never race
 * on a global "last error". bs_strerror() maps a code to a short phrase; the
 * error buffer carries the sentence that names the object and the fix.
 *
 * Thread safety: all functions are reentrant; a struct bs_err belongs to one
 * thread at a time.
 */
#ifndef BS_UTIL_ERROR_H
#define BS_UTIL_ERROR_H

#include <stddef.h>

enum bs_error {
	BS_OK = 0,
	BS_ERR_NOMEM = -1,	  /* allocation failed */
	BS_ERR_INVALID = -2,	  /* bad input: recipe, flag, argument */
	BS_ERR_IO = -3,		  /* local file or socket I/O */
	BS_ERR_NOT_FOUND = -4,	  /* object does not exist */
	BS_ERR_TIMEOUT = -5,	  /* a bounded wait ran out */
	BS_ERR_NETWORK = -6,	  /* connect, resolve, transport */
	BS_ERR_AUTH = -7,	  /* credentials refused */
	BS_ERR_HOSTKEY = -8,	  /* SSH host key unknown or changed */
	BS_ERR_CONFLICT = -9,	  /* name taken, state conflict */
	BS_ERR_API = -10,	  /* remote API answered an error */
	BS_ERR_PROTOCOL = -11,	  /* remote answer malformed */
	BS_ERR_UNSUPPORTED = -12, /* not available in this build or on this host */
	BS_ERR_INTERRUPTED = -13, /* stopped by a signal */
	BS_ERR_LOCKED = -14,	  /* another run holds the lock */
	BS_ERR_REMOTE = -15,	  /* a remote command failed */
};

#define BS_ERR_MSG_MAX 1024

/* A caller-owned error buffer. code mirrors the last bs_err_set() value. */
struct bs_err {
	int code;
	char msg[BS_ERR_MSG_MAX];
};

#define BS_ERR_INIT                                                                                \
	{                                                                                          \
		0,                                                                                 \
		{                                                                                  \
			0                                                                          \
		}                                                                                  \
	}

/* Short, static description of a code ("invalid input", ...). Never NULL. */
const char *bs_strerror(int code);

/*
 * Record an error: fills err->msg with the formatted sentence (truncated to
 * fit) and returns code, so callers can write `return bs_err_set(...)`.
 * err may be NULL (the message is dropped).
 */
int bs_err_set(struct bs_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix the current message with "prefix: " (for adding context upward). */
void bs_err_prefix(struct bs_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Clear the buffer. */
void bs_err_clear(struct bs_err *err);

#endif
