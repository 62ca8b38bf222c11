/*
 * interp.h - environment interpolation in recipe values, as Docker Compose
 * does it:
 *
 *   $$                 a literal "$"
 *   ${VAR} or $VAR     the value of VAR; an error when VAR is not set
 *   ${VAR:-default}    default when VAR is unset or empty (${VAR-d}: unset)
 *   ${VAR:?message}    an error with message when VAR is unset or empty
 *                      (${VAR?m}: only when unset)
 *   ${VAR:+other}      other when VAR is set and non-empty (${VAR+o}: set)
 *
 * Defaults, messages and alternatives may themselves contain ${...}, and
 * are evaluated only when used, as in the shell.
 * Unlike Compose, an unset variable without a default is an error, not an
 * empty string: a typo in a variable name must not deploy an empty password.
 *
 * Pure functions; the environment comes through a callback so that tests
 * and the fuzzer control it.
 */
#ifndef BS_DEPLOY_INTERP_H
#define BS_DEPLOY_INTERP_H

#include <stddef.h>

#include "util/str.h"

/* Returns the value of name, or NULL when it is not set. */
typedef const char *(*bs_getenv_fn)(const char *name, void *payload);

/* Looks names up with getenv(3). */
const char *bs_interp_getenv(const char *name, void *payload);

struct bs_interp_error {
	size_t offset; /* byte offset in the input where the problem starts */
	char message[512];
};

/*
 * Expand text. On success returns 0 and sets *out (caller frees with
 * bs_secure_free_str: it may hold a secret); every variable name the text
 * refers to is added to vars (may be NULL). On error returns -1 and fills
 * *error; *out is NULL.
 */
int bs_interp_expand(char **out, const char *text, bs_getenv_fn getenv_fn, void *payload,
		     struct bs_strv *vars, struct bs_interp_error *error);

#endif
