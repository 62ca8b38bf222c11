/*
 * interp.c - ${VAR} interpolation (see interp.h for the grammar).
 *
 * A small recursive-descent expander: expand() copies text up to a stop
 * character ('}' inside a braced operand), handling each '$' form as it
 * goes. Nesting is bounded so that hostile input cannot exhaust the stack.
 */
#include "deploy/interp.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 8

struct expander {
	const char *start;
	const char *p;
	bs_getenv_fn getenv_fn;
	void *payload;
	struct bs_strv *vars;
	struct bs_interp_error *error;
	bool failed;
};

const char *bs_interp_getenv(const char *name, void *payload)
{
	(void)payload;
	return getenv(name);
}

static void fail_at(struct expander *x, const char *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail_at(struct expander *x, const char *at, const char *fmt, ...)
{
	va_list ap;

	if (x->failed)
		return;
	x->failed = true;
	x->error->offset = (size_t)(at - x->start);
	va_start(ap, fmt);
	vsnprintf(x->error->message, sizeof(x->error->message), fmt, ap);
	va_end(ap);
}

static bool name_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool name_char(char c)
{
	return name_start(c) || (c >= '0' && c <= '9');
}

static void expand(struct expander *x, struct bs_buf *out, bool in_braces, int depth, bool eval);

/* Is name unset, or (with colon) empty? */
static bool missing(const char *value, bool colon)
{
	return value == NULL || (colon && value[0] == '\0');
}

/*
 * Parse "{NAME[op operand]}" with x->p just past the '{'. As in the shell,
 * an operand is only evaluated when it is used (${A:-${B}} with A set does
 * not need B); an unused one is still parsed, and its variables recorded.
 * eval is false inside an unused operand: nothing is looked up there.
 */
static void expand_braced(struct expander *x, struct bs_buf *out, int depth, const char *dollar,
			  bool eval)
{
	const char *name_begin = x->p;
	struct bs_buf operand = BS_BUF_INIT;
	char *name;
	const char *value;
	char op = 0;
	bool colon = false;

	if (depth >= MAX_DEPTH) {
		fail_at(x, dollar, "%s",
			"interpolation nested too deeply (at most 8 levels of ${...})");
		return;
	}
	while (name_char(*x->p))
		x->p++;
	if (x->p == name_begin || !name_start(*name_begin)) {
		fail_at(x, dollar, "%s",
			"invalid variable name after '${' (names are letters, digits and '_', not starting with a digit; write $$ for a literal dollar sign)");
		return;
	}
	name = bs_xstrndup(name_begin, (size_t)(x->p - name_begin));
	if (x->vars != NULL)
		bs_strv_add_unique(x->vars, name);
	if (*x->p == ':') {
		colon = true;
		x->p++;
	}
	value = eval ? x->getenv_fn(name, x->payload) : NULL;
	if (*x->p == '-' || *x->p == '?' || *x->p == '+') {
		bool used;

		op = *x->p++;
		used = op == '+' ? !missing(value, colon) : missing(value, colon);
		expand(x, &operand, true, depth + 1, eval && used);
	} else if (colon) {
		fail_at(x, x->p - 1, "%s",
			"expected '-', '?' or '+' after ':' in ${...} (for example ${VAR:-default})");
	}
	if (x->failed)
		goto out;
	if (*x->p != '}') {
		fail_at(x, dollar, "unterminated ${%s (add the closing '}')", name);
		goto out;
	}
	x->p++;

	if (!eval)
		goto out;
	switch (op) {
	case 0:
		if (value == NULL) {
			fail_at(x, dollar,
				"environment variable %s is not set (export it, or give a default with ${VAR:-value})",
				name);
			goto out;
		}
		bs_buf_puts(out, value);
		break;
	case '-': bs_buf_puts(out, missing(value, colon) ? bs_buf_str(&operand) : value); break;
	case '+':
		if (!missing(value, colon))
			bs_buf_puts(out, bs_buf_str(&operand));
		break;
	case '?':
		if (missing(value, colon)) {
			char msg[400];

			snprintf(msg, sizeof(msg), "%s",
				 operand.len ? bs_buf_str(&operand) : "required");
			x->failed = true;
			x->error->offset = (size_t)(dollar - x->start);
			snprintf(x->error->message, sizeof(x->error->message),
				 "environment variable %s is %s: %s", name,
				 value == NULL ? "not set" : "empty", msg);
			goto out;
		}
		bs_buf_puts(out, value);
		break;
	}
out:
	bs_buf_wipe_free(&operand);
	free(name);
}

static void expand(struct expander *x, struct bs_buf *out, bool in_braces, int depth, bool eval)
{
	while (*x->p != '\0' && !x->failed) {
		const char *dollar;

		if (in_braces && *x->p == '}')
			return;
		if (*x->p != '$') {
			bs_buf_putc(out, *x->p++);
			continue;
		}
		dollar = x->p++;
		if (*x->p == '$') {
			bs_buf_putc(out, '$');
			x->p++;
		} else if (*x->p == '{') {
			x->p++;
			expand_braced(x, out, depth, dollar, eval);
		} else if (name_start(*x->p)) {
			const char *begin = x->p;
			const char *value;
			char *name;

			while (name_char(*x->p))
				x->p++;
			name = bs_xstrndup(begin, (size_t)(x->p - begin));
			if (x->vars != NULL)
				bs_strv_add_unique(x->vars, name);
			value = eval ? x->getenv_fn(name, x->payload) : "";
			if (value == NULL)
				fail_at(x, dollar,
					"environment variable %s is not set (export it, or give a default with ${VAR:-value})",
					name);
			else
				bs_buf_puts(out, value);
			free(name);
		} else {
			fail_at(x, dollar, "%s",
				"'$' must be followed by a variable name or '{' (write $$ for a literal dollar sign)");
		}
	}
}

int bs_interp_expand(char **out, const char *text, bs_getenv_fn getenv_fn, void *payload,
		     struct bs_strv *vars, struct bs_interp_error *error)
{
	struct bs_buf buf = BS_BUF_INIT;
	struct expander x;

	memset(&x, 0, sizeof(x));
	x.start = x.p = text;
	x.getenv_fn = getenv_fn ? getenv_fn : bs_interp_getenv;
	x.payload = payload;
	x.vars = vars;
	x.error = error;
	*out = NULL;
	expand(&x, &buf, false, 0, true);
	if (x.failed) {
		bs_buf_wipe_free(&buf);
		return -1;
	}
	*out = bs_buf_detach(&buf);
	return 0;
}
