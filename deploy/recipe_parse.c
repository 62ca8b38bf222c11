/*
 * recipe_parse.c - the typed getters behind the recipe section parsers,
 * and the checks more than one section shares.
 */
#include "deploy/recipe_priv.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/units.h"

size_t rctx_push_key(struct bs_rctx *ctx, const char *key)
{
	size_t old = ctx->path_len;
	int n = snprintf(ctx->path + old, sizeof(ctx->path) - old, "%s%s", old ? "." : "", key);

	if (n > 0)
		ctx->path_len = old + (size_t)n < sizeof(ctx->path) ? old + (size_t)n
								    : sizeof(ctx->path) - 1;
	return old;
}

size_t rctx_push_index(struct bs_rctx *ctx, size_t index)
{
	size_t old = ctx->path_len;
	int n = snprintf(ctx->path + old, sizeof(ctx->path) - old, "[%zu]", index);

	if (n > 0)
		ctx->path_len = old + (size_t)n < sizeof(ctx->path) ? old + (size_t)n
								    : sizeof(ctx->path) - 1;
	return old;
}

void rctx_pop(struct bs_rctx *ctx, size_t len)
{
	ctx->path_len = len;
	ctx->path[len] = '\0';
}

struct bs_recipe_loc rctx_loc(const struct bs_ynode *node)
{
	struct bs_recipe_loc loc = {1, 1, NULL};

	if (node != NULL) {
		loc.line = node->line;
		loc.col = node->col;
		loc.file = node->file;
	}
	return loc;
}

static void vreport(struct bs_rctx *ctx, enum bs_diag_severity sev, struct bs_recipe_loc loc,
		    const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

static void vreport(struct bs_rctx *ctx, enum bs_diag_severity sev, struct bs_recipe_loc loc,
		    const char *fmt, va_list ap)
{
	struct bs_buf msg = BS_BUF_INIT;

	/* in full: the diagnostics mask secrets, and a value cut here first
	 * would leave half a secret they cannot recognise */
	bs_buf_vprintf(&msg, fmt, ap);
	if (msg.data == NULL)
		return;
	ctx->diags->at_file = loc.file != NULL ? loc.file : ctx->file;
	bs_diags_add(ctx->diags, sev, loc.line, loc.col, ctx->path, "%s", msg.data);
	ctx->diags->at_file = NULL;
	bs_buf_wipe_free(&msg);
}

void rctx_error(struct bs_rctx *ctx, const struct bs_ynode *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(ctx, BS_DIAG_ERROR, rctx_loc(at), fmt, ap);
	va_end(ap);
}

void rctx_warn(struct bs_rctx *ctx, const struct bs_ynode *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(ctx, BS_DIAG_WARNING, rctx_loc(at), fmt, ap);
	va_end(ap);
}

void rctx_error_loc(struct bs_rctx *ctx, struct bs_recipe_loc loc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(ctx, BS_DIAG_ERROR, loc, fmt, ap);
	va_end(ap);
}

void rctx_warn_loc(struct bs_rctx *ctx, struct bs_recipe_loc loc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(ctx, BS_DIAG_WARNING, loc, fmt, ap);
	va_end(ap);
}

void rctx_join_names(char *buf, size_t size, const char *const *names)
{
	size_t used = 0, i;

	buf[0] = '\0';
	for (i = 0; names[i] != NULL && used < size; i++) {
		int n = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", names[i]);

		if (n < 0)
			break;
		used += (size_t)n;
	}
}

void rctx_check_keys(struct bs_rctx *ctx, const struct bs_ynode *map, const char *const *allowed)
{
	size_t i, j;

	for (i = 0; i < map->n; i++) {
		const struct bs_ynode *key = map->pairs[i].key;
		const char *suggestion;
		bool known = key->bad;
		size_t saved;
		char list[512];

		for (j = 0; allowed[j] != NULL; j++)
			if (strcmp(allowed[j], key->value) == 0)
				known = true;
		if (known)
			continue;
		saved = rctx_push_key(ctx, key->value);
		suggestion = bs_suggest(key->value, allowed);
		if (suggestion != NULL) {
			rctx_error(ctx, key, "unknown key (did you mean '%s'?)", suggestion);
		} else {
			rctx_join_names(list, sizeof(list), allowed);
			rctx_error(ctx, key, "unknown key (valid keys here: %s)", list);
		}
		rctx_pop(ctx, saved);
	}
}

static bool want(struct bs_rctx *ctx, const struct bs_ynode *node, enum bs_ynode_kind kind,
		 const char *name)
{
	if (node->kind == kind)
		return true;
	rctx_error(ctx, node, "expected %s, found %s", name, bs_ynode_kind_name(node));
	return false;
}

bool rctx_want_map(struct bs_rctx *ctx, const struct bs_ynode *node)
{
	return want(ctx, node, BS_YNODE_MAP, "a mapping (key: value lines)");
}

bool rctx_want_seq(struct bs_rctx *ctx, const struct bs_ynode *node)
{
	return want(ctx, node, BS_YNODE_SEQ, "a list (lines starting with '- ')");
}

bool rctx_want_scalar(struct bs_rctx *ctx, const struct bs_ynode *node)
{
	return want(ctx, node, BS_YNODE_SCALAR, "a single value");
}

void rctx_missing(struct bs_rctx *ctx, const struct bs_ynode *map, const char *key,
		  const char *hint)
{
	size_t saved = rctx_push_key(ctx, key);

	rctx_error(ctx, map, "missing required key (%s)", hint);
	rctx_pop(ctx, saved);
}

/* map[key] unless absent, null, or already reported as bad. */
static const struct bs_ynode *present(const struct bs_ynode *map, const char *key)
{
	const struct bs_ynode *v = bs_ynode_get(map, key);

	return v == NULL || v->bad || bs_ynode_is_null(v) ? NULL : v;
}

bool rctx_absent(const struct bs_ynode *map, const char *key)
{
	const struct bs_ynode *v = bs_ynode_get(map, key);

	return v == NULL || (!v->bad && bs_ynode_is_null(v));
}

bool rctx_scalar_str(struct bs_rctx *ctx, const struct bs_ynode *node, char **out)
{
	if (!rctx_want_scalar(ctx, node))
		return false;
	*out = bs_xstrdup(node->value);
	return true;
}

bool rctx_get_str(struct bs_rctx *ctx, const struct bs_ynode *map, const char *key,
		  const char *hint, char **out)
{
	const struct bs_ynode *v = present(map, key);
	size_t saved;
	bool ok;

	if (v == NULL) {
		if (hint != NULL && rctx_absent(map, key))
			rctx_missing(ctx, map, key, hint);
		return false;
	}
	saved = rctx_push_key(ctx, key);
	ok = rctx_scalar_str(ctx, v, out);
	if (ok && (*out)[0] == '\0') {
		rctx_error(ctx, v, "empty value (%s)",
			   hint ? hint : "give a value or remove the key");
		free(*out);
		*out = NULL;
		ok = false;
	}
	rctx_pop(ctx, saved);
	return ok;
}

bool rctx_get_int64(struct bs_rctx *ctx, const struct bs_ynode *map, const char *key, long long lo,
		    long long hi, int64_t *out)
{
	const struct bs_ynode *v = present(map, key);
	long long n;
	size_t saved;
	bool ok = false;

	if (v == NULL)
		return false;
	saved = rctx_push_key(ctx, key);
	if (!rctx_want_scalar(ctx, v))
		goto out;
	if (bs_parse_int64(v->value, &n) != 0) {
		rctx_error(ctx, v, "expected a whole number, found '%.100s'", v->value);
		goto out;
	}
	if (n < lo || n > hi) {
		rctx_error(ctx, v, "%lld is out of range (allowed: %lld to %lld)", n, lo, hi);
		goto out;
	}
	*out = n;
	ok = true;
out:
	rctx_pop(ctx, saved);
	return ok;
}

bool rctx_get_int(struct bs_rctx *ctx, const struct bs_ynode *map, const char *key, long long lo,
		  long long hi, int *out)
{
	int64_t v;

	if (!rctx_get_int64(ctx, map, key, lo, hi, &v))
		return false;
	*out = (int)v;
	return true;
}

bool rctx_get_bool(struct bs_rctx *ctx, const struct bs_ynode *map, const char *key, bool *out)
{
	static const char *const truths[] = {"true", "True", "TRUE", NULL};
	static const char *const lies[] = {"false", "False", "FALSE", NULL};
	const struct bs_ynode *v = present(map, key);
	size_t saved, i;
	bool ok = false;

	if (v == NULL)
		return false;
	saved = rctx_push_key(ctx, key);
	if (!rctx_want_scalar(ctx, v))
		goto out;
	for (i = 0; truths[i] != NULL; i++) {
		if (strcmp(v->value, truths[i]) == 0) {
			*out = true;
			ok = true;
		} else if (strcmp(v->value, lies[i]) == 0) {
			*out = false;
			ok = true;
		}
	}
	if (!ok)
		rctx_error(ctx, v, "expected true or false, found '%.100s'", v->value);
out:
	rctx_pop(ctx, saved);
	return ok;
}

bool rctx_get_choice(struct bs_rctx *ctx, const struct bs_ynode *map, const char *key,
		     const char *const *names, int *out)
{
	const struct bs_ynode *v = present(map, key);
	const char *suggestion;
	char list[256];
	size_t saved;
	int i;
	bool ok = false;

	if (v == NULL)
		return false;
	saved = rctx_push_key(ctx, key);
	if (!rctx_want_scalar(ctx, v))
		goto out;
	for (i = 0; names[i] != NULL; i++) {
		if (strcmp(v->value, names[i]) == 0) {
			*out = i;
			ok = true;
			goto out;
		}
	}
	rctx_join_names(list, sizeof(list), names);
	suggestion = bs_suggest(v->value, names);
	if (suggestion != NULL)
		rctx_error(ctx, v, "'%.100s' is not one of %s (did you mean '%s'?)", v->value, list,
			   suggestion);
	else
		rctx_error(ctx, v, "'%.100s' is not one of %s", v->value, list);
out:
	rctx_pop(ctx, saved);
	return ok;
}

bool rctx_get_duration(struct bs_rctx *ctx, const struct bs_ynode *map, const char *key,
		       int64_t min_ms, int64_t *out)
{
	const struct bs_ynode *v = present(map, key);
	size_t saved;
	int64_t ms;
	bool ok = false;

	if (v == NULL)
		return false;
	saved = rctx_push_key(ctx, key);
	if (!rctx_want_scalar(ctx, v))
		goto out;
	if (bs_parse_duration_ms(v->value, &ms) != 0) {
		rctx_error(ctx, v,
			   "'%.100s' is not a duration (write for example 30s, 1m30s or 500ms)",
			   v->value);
		goto out;
	}
	if (ms < min_ms) {
		rctx_error(ctx, v, "'%.100s' is too short (at least %lldms)", v->value,
			   (long long)min_ms);
		goto out;
	}
	*out = ms;
	ok = true;
out:
	rctx_pop(ctx, saved);
	return ok;
}

static bool valid_kv_key(const char *key)
{
	const char *p;

	if (key[0] == '\0')
		return false;
	for (p = key; *p != '\0'; p++)
		if (*p == '=' || isspace((unsigned char)*p) || (unsigned char)*p < 0x20)
			return false;
	return true;
}

static void kv_add(struct bs_rctx *ctx, const struct bs_ynode *at, const char *what, bool from_env,
		   struct bs_kvlist *out, const char *key, const char *value, bool secret)
{
	if (!valid_kv_key(key)) {
		rctx_error(ctx, at,
			   "'%.100s' is not a valid %s name (no spaces, '=' or control characters)",
			   key, what);
		return;
	}
	if (bs_kvlist_find(out, key) != NULL) {
		rctx_error(ctx, at, "%s %.100s is given twice (keep one)", what, key);
		return;
	}
	if (value == NULL) {
		const char *env = from_env ? ctx->getenv_fn(key, ctx->payload) : NULL;

		if (!from_env) {
			rctx_error(ctx, at, "%s %.100s has no value (write %.100s: value)", what,
				   key, key);
			return;
		}
		if (env == NULL) {
			rctx_error(
				ctx, at,
				"%s %.100s takes its value from the environment, but %.100s is not set (export it, or write a value)",
				what, key, key);
			return;
		}
		value = env;
		/* a variable that a secret field uses is a secret here too */
		if (bs_strv_contains(&ctx->secret_vars, key)) {
			secret = true;
			bs_strv_add_unique(&ctx->recipe->secrets, value);
		}
	}
	bs_kvlist_push(out, key, value, secret);
}

void rctx_get_kvlist(struct bs_rctx *ctx, const struct bs_ynode *map, const char *key,
		     const char *what, bool from_env, struct bs_kvlist *out)
{
	const struct bs_ynode *v = present(map, key);
	size_t saved, i;

	if (v == NULL)
		return;
	saved = rctx_push_key(ctx, key);
	if (v->kind == BS_YNODE_MAP) {
		for (i = 0; i < v->n; i++) {
			const struct bs_ynode *val = v->pairs[i].value;
			size_t s2 = rctx_push_key(ctx, v->pairs[i].key->value);

			if (val->bad || v->pairs[i].key->bad)
				;
			else if (bs_ynode_is_null(val))
				kv_add(ctx, v->pairs[i].key, what, from_env, out,
				       v->pairs[i].key->value, NULL, val->secret);
			else if (val->kind != BS_YNODE_SCALAR)
				rctx_error(
					ctx, val,
					"expected a single value, found %s (quote it to pass text)",
					bs_ynode_kind_name(val));
			else
				kv_add(ctx, val, what, from_env, out, v->pairs[i].key->value,
				       val->value, val->secret);
			rctx_pop(ctx, s2);
		}
	} else if (v->kind == BS_YNODE_SEQ) {
		for (i = 0; i < v->n; i++) {
			const struct bs_ynode *item = v->items[i];
			size_t s2 = rctx_push_index(ctx, i);
			const char *eq;

			if (!item->bad && rctx_want_scalar(ctx, item)) {
				eq = strchr(item->value, '=');
				if (eq == NULL) {
					kv_add(ctx, item, what, from_env, out, item->value, NULL,
					       item->secret);
				} else {
					char *k = bs_xstrndup(item->value,
							      (size_t)(eq - item->value));

					kv_add(ctx, item, what, from_env, out, k, eq + 1,
					       item->secret);
					free(k);
				}
			}
			rctx_pop(ctx, s2);
		}
	} else {
		rctx_error(ctx, v,
			   "expected a mapping (KEY: value) or a list (- KEY=value), found %s",
			   bs_ynode_kind_name(v));
	}
	rctx_pop(ctx, saved);
}

void rctx_get_selectors(struct bs_rctx *ctx, const struct bs_ynode *map, const char *key,
			struct bs_selectors *out)
{
	const struct bs_ynode *v = present(map, key);
	size_t saved, i;

	if (v == NULL)
		return;
	saved = rctx_push_key(ctx, key);
	if (!rctx_want_seq(ctx, v))
		goto out;
	if (v->n == 0)
		rctx_error(ctx, v,
			   "empty list of nodes (name nodes, or remove the key to use every node)");
	for (i = 0; i < v->n; i++) {
		const struct bs_ynode *item = v->items[i];
		size_t s2 = rctx_push_index(ctx, i);
		const char *eq;

		if (!item->bad && rctx_want_scalar(ctx, item)) {
			struct bs_selector *sel;

			if (item->value[0] == '\0' || item->value[0] == '=') {
				rctx_error(ctx, item,
					   "empty node selector (write a node name or key=value)");
				rctx_pop(ctx, s2);
				continue;
			}
			bs_xgrow((void **)&out->v, &out->cap, out->n + 1, sizeof(*out->v));
			sel = &out->v[out->n++];
			eq = strchr(item->value, '=');
			if (eq != NULL) {
				sel->key = bs_xstrndup(item->value, (size_t)(eq - item->value));
				sel->value = bs_xstrdup(eq + 1);
			} else {
				sel->key = bs_xstrdup(item->value);
				sel->value = NULL;
			}
			sel->loc = rctx_loc(item);
		}
		rctx_pop(ctx, s2);
	}
out:
	rctx_pop(ctx, saved);
}

bool bs_recipe_is_dns_label(const char *s)
{
	size_t len = strlen(s), i;

	if (len == 0 || len > 63 || s[0] == '-' || s[len - 1] == '-')
		return false;
	for (i = 0; i < len; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
			return false;
	return true;
}

bool bs_recipe_is_hostname(const char *s)
{
	char label[64];
	const char *p = s, *dot;
	size_t len;

	if (strlen(s) > 253 || s[0] == '\0')
		return false;
	for (;;) {
		dot = strchr(p, '.');
		len = dot ? (size_t)(dot - p) : strlen(p);
		if (len == 0 || len >= sizeof(label))
			return false;
		memcpy(label, p, len);
		label[len] = '\0';
		if (!bs_recipe_is_dns_label(label))
			return false;
		if (dot == NULL)
			return true;
		p = dot + 1;
	}
}

/* ---- checks that sections share ------------------------------------- */

/* io.bootstrap.* labels are how bootstrap finds its own containers. */
void bs_recipe_check_reserved_labels(struct bs_rctx *ctx, const struct bs_ynode *labels)
{
	static const char reserved[] = "io.bootstrap.";
	size_t saved, s2, i;

	if (labels == NULL || labels->bad)
		return;
	saved = rctx_push_key(ctx, "labels");
	for (i = 0; i < labels->n; i++) {
		const struct bs_ynode *at = NULL;
		const char *key = NULL;

		if (labels->kind == BS_YNODE_MAP) {
			at = labels->pairs[i].key;
			key = at->value;
			s2 = rctx_push_key(ctx, key);
		} else if (labels->kind == BS_YNODE_SEQ &&
			   labels->items[i]->kind == BS_YNODE_SCALAR) {
			at = labels->items[i];
			key = at->value;
			s2 = rctx_push_index(ctx, i);
		} else {
			continue;
		}
		if (bs_str_starts_with(key, reserved))
			rctx_error(
				ctx, at,
				"the io.bootstrap. prefix is reserved: bootstrap labels its own containers and nodes with it (pick another name)");
		rctx_pop(ctx, s2);
	}
	rctx_pop(ctx, saved);
}

/* ---- cross references ------------------------------------------------- */

void rctx_set_path(struct bs_rctx *ctx, const char *fmt, ...);

/* A container from a compose file is services.NAME there. */
static void compose_path(struct bs_rctx *ctx)
{
	const struct bs_container *c;
	char rest[sizeof(ctx->path)];
	size_t index;
	int used = 0;

	if (sscanf(ctx->path, "containers[%zu]%n", &index, &used) != 1 || used == 0 ||
	    index >= ctx->recipe->n_containers)
		return;
	c = &ctx->recipe->containers[index];
	if (c->compose_file == NULL || c->name == NULL)
		return;
	snprintf(rest, sizeof(rest), "%s", ctx->path + used);
	rctx_set_path(ctx, "services.%.200s%s", c->name, rest);
}

void rctx_set_path(struct bs_rctx *ctx, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(ctx->path, sizeof(ctx->path), fmt, ap);
	va_end(ap);
	ctx->path_len = n < 0				? 0
			: (size_t)n < sizeof(ctx->path) ? (size_t)n
							: sizeof(ctx->path) - 1;
	compose_path(ctx);
}

void rctx_check_selectors(struct bs_rctx *ctx, const struct bs_selectors *sels, const char *section,
			  size_t index)
{
	const struct bs_recipe *r = ctx->recipe;
	size_t i, j;

	for (i = 0; i < sels->n; i++) {
		const struct bs_selector *sel = &sels->v[i];
		bool matched = false;

		rctx_set_path(ctx, "%s[%zu].nodes[%zu]", section, index, i);
		for (j = 0; j < r->n_nodes && !matched; j++)
			matched = bs_selector_matches(sel, &r->nodes[j]);
		if (matched)
			continue;
		if (sel->value != NULL) {
			rctx_error_loc(
				ctx, sel->loc,
				"no node has label %.100s=%.100s (add labels: {%.100s: %.100s} to a node, or fix the selector)",
				sel->key, sel->value, sel->key, sel->value);
		} else {
			const char **names = bs_xcalloc(r->n_nodes * 2 + 1, sizeof(*names));
			const char *s;

			for (j = 0; j < r->n_nodes; j++) {
				names[2 * j] = r->nodes[j].name;
				names[2 * j + 1] = r->nodes[j].group;
			}
			s = bs_suggest(sel->key, names);
			if (s != NULL)
				rctx_error_loc(ctx, sel->loc,
					       "no node is named %.100s (did you mean '%s'?)",
					       sel->key, s);
			else
				rctx_error_loc(
					ctx, sel->loc,
					"no node is named %.100s (name a node from nodes:, or select by label with key=value)",
					sel->key);
			free(names);
		}
	}
}

/* A secret written literally in the recipe ends up in version control. */
void rctx_warn_literal_secret(struct bs_rctx *ctx, const struct bs_ynode *map, const char *key)
{
	const struct bs_ynode *v = bs_ynode_get(map, key);
	size_t saved;

	if (v == NULL || v->kind != BS_YNODE_SCALAR || bs_ynode_is_null(v) || v->vars.n > 0)
		return;
	saved = rctx_push_key(ctx, key);
	rctx_warn(
		ctx, v,
		"secret written in the recipe itself (use ${VAR} so it stays out of version control)");
	rctx_pop(ctx, saved);
}

void rctx_check_literal_secret(struct bs_rctx *ctx, const struct rkey *key,
			       const struct bs_ynode *map, void *section)
{
	(void)section;
	rctx_warn_literal_secret(ctx, map, key->key);
}

void rctx_read_list(struct bs_rctx *ctx, const struct bs_ynode *seq, const char *key, void **items,
		    size_t size, void (*item)(struct bs_rctx *ctx, const struct bs_ynode *map))
{
	size_t saved;

	if (seq == NULL || bs_ynode_is_null(seq))
		return;
	saved = rctx_push_key(ctx, key);
	if (rctx_want_seq(ctx, seq)) {
		*items = bs_xcalloc(seq->n, size);
		for (size_t i = 0; i < seq->n; i++) {
			size_t s2 = rctx_push_index(ctx, i);

			if (rctx_want_map(ctx, seq->items[i]))
				item(ctx, seq->items[i]);
			rctx_pop(ctx, s2);
		}
	}
	rctx_pop(ctx, saved);
}

/* ---- sections as tables of keys ------------------------------------- */

#define RKEY_MAX 32 /* keys in a table that lists its own (allowed == NULL) */

static bool read_key(struct bs_rctx *ctx, const struct bs_ynode *map, const struct rkey *k,
		     void *field)
{
	int choice;

	switch (k->kind) {
	case RK_STR: return rctx_get_str(ctx, map, k->key, k->arg, field);
	case RK_INT: return rctx_get_int(ctx, map, k->key, k->lo, k->hi, field);
	case RK_INT64: return rctx_get_int64(ctx, map, k->key, k->lo, k->hi, field);
	case RK_BOOL: return rctx_get_bool(ctx, map, k->key, field);
	case RK_DURATION: return rctx_get_duration(ctx, map, k->key, k->lo, field);
	case RK_CHOICE:
		if (!rctx_get_choice(ctx, map, k->key, k->arg, &choice))
			return false;
		memcpy(field, &choice, sizeof(choice)); /* enums are int-sized */
		return true;
	case RK_KVLIST:
	case RK_ENV_KVLIST:
		rctx_get_kvlist(ctx, map, k->key, k->arg, k->kind == RK_ENV_KVLIST, field);
		return false;
	case RK_SELECTORS: rctx_get_selectors(ctx, map, k->key, field); return false;
	case RK_FN: break;
	}
	return false;
}

void rctx_read_keys(struct bs_rctx *ctx, const struct bs_ynode *map, const char *const *allowed,
		    const struct rkey *table, void *section)
{
	const char *names[RKEY_MAX + 1];
	size_t n = 0, i, j;

	for (i = 0; allowed == NULL && table[i].key != NULL; i++) {
		for (j = 0; j < n && strcmp(names[j], table[i].key) != 0; j++)
			;
		if (j == n && n < RKEY_MAX)
			names[n++] = table[i].key;
	}
	names[n] = NULL;
	rctx_check_keys(ctx, map, allowed ? allowed : names);
	for (i = 0; table[i].key != NULL; i++) {
		const struct rkey *k = &table[i];
		void *field = (char *)section + k->field;
		size_t saved;

		if (k->kind == RK_FN) {
			k->check(ctx, k, map, section);
			continue;
		}
		if (!read_key(ctx, map, k, field) || k->check == NULL)
			continue;
		saved = rctx_push_key(ctx, k->key);
		k->check(ctx, k, bs_ynode_get(map, k->key), section);
		rctx_pop(ctx, saved);
	}
}
