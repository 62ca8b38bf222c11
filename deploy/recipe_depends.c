/*
 * recipe_depends.c - a container's start order (depends_on, in Compose's
 * two forms: a list of names, or a map NAME: {condition, restart,
 * required}) and its fixed engine name (container_name), and their cross
 * checks once every container is read: the dependency exists, is not the
 * container itself, runs somewhere, can meet its condition, and the
 * dependencies form no cycle; a container_name names one replica, is a
 * valid engine name and clashes with no other container's instance name.
 *
 * One thread: a context belongs to one bs_recipe_load() call. What is read
 * is owned by the container (bs_recipe_free_containers frees it).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/recipe_priv.h"
#include "deploy/spec.h"
#include "util/str.h"

static const char *const condition_names[] = {"service_started", "service_healthy",
					      "service_completed_successfully", NULL};

static void add_dependency(struct bs_container *c, const char *name, const struct bs_ynode *at)
{
	struct bs_dependency *d;

	c->depends_on = bs_xrealloc(c->depends_on, (c->n_depends_on + 1) * sizeof(*d));
	d = &c->depends_on[c->n_depends_on++];
	memset(d, 0, sizeof(*d));
	d->container = bs_xstrdup(name);
	d->condition = BS_DEP_STARTED;
	d->loc = rctx_loc(at);
}

static void read_short(struct bs_rctx *ctx, const struct bs_ynode *seq, struct bs_container *c)
{
	for (size_t i = 0; i < seq->n; i++) {
		size_t saved = rctx_push_index(ctx, i);

		if (rctx_want_scalar(ctx, seq->items[i]))
			add_dependency(c, seq->items[i]->value, seq->items[i]);
		rctx_pop(ctx, saved);
	}
}

static void read_long(struct bs_rctx *ctx, const struct bs_ynode *map, struct bs_container *c)
{
	static const char *const keys[] = {"condition", "restart", "required", NULL};

	for (size_t i = 0; i < map->n; i++) {
		const struct bs_ynode *v = map->pairs[i].value;
		size_t saved = rctx_push_key(ctx, map->pairs[i].key->value);
		struct bs_dependency *d;
		bool required = true;
		int cond = BS_DEP_STARTED;

		add_dependency(c, map->pairs[i].key->value, map->pairs[i].key);
		d = &c->depends_on[c->n_depends_on - 1];
		if (!bs_ynode_is_null(v) && rctx_want_map(ctx, v)) {
			rctx_check_keys(ctx, v, keys);
			if (rctx_get_choice(ctx, v, "condition", condition_names, &cond))
				d->condition = (enum bs_dep_condition)cond;
			rctx_get_bool(ctx, v, "restart", &d->restart);
			if (rctx_get_bool(ctx, v, "required", &required))
				d->optional = !required;
		}
		rctx_pop(ctx, saved);
	}
}

void bs_recipe_parse_depends_on(struct bs_rctx *ctx, const struct rkey *key,
				const struct bs_ynode *map, void *section)
{
	struct bs_container *c = section;
	const struct bs_ynode *v = bs_ynode_get(map, key->key);
	size_t saved;

	if (v == NULL || v->bad || bs_ynode_is_null(v))
		return;
	saved = rctx_push_key(ctx, key->key);
	if (v->kind == BS_YNODE_SEQ)
		read_short(ctx, v, c);
	else if (v->kind == BS_YNODE_MAP)
		read_long(ctx, v, c);
	else
		rctx_error(ctx, v,
			   "depends_on is a list of container names, or a map NAME: {condition: "
			   "service_started|service_healthy|service_completed_successfully}");
	rctx_pop(ctx, saved);
}

/* The engine's rule for a name: [a-zA-Z0-9][a-zA-Z0-9_.-]*; a dot-suffix
 * of ours (.next, .prev) must still fit in 63 characters. */
void bs_recipe_check_container_name_key(struct bs_rctx *ctx, const struct rkey *key,
					const struct bs_ynode *at, void *section)
{
	struct bs_container *c = section;
	const char *p = c->container_name;
	bool ok = isalnum((unsigned char)p[0]) && strlen(p) <= 58;

	(void)key;
	for (; ok && *p != '\0'; p++)
		ok = isalnum((unsigned char)*p) || *p == '_' || *p == '.' || *p == '-';
	if (!ok) {
		rctx_error(
			ctx, at,
			"'%.100s' is not a valid container_name (letters, digits, '_', '.', '-', at most 58, starting with a letter or digit)",
			c->container_name);
		free(c->container_name); /* one error for it */
		c->container_name = NULL;
	}
}

/* ---- levels ------------------------------------------------------------ */

/* Its level: 0 without dependencies, else one more than its deepest
 * dependency's; memo[i] < 0 while unknown (-2 while being worked out: a
 * cycle, reported by the checks, counts 0 there). Each is worked out once. */
static int level_of(const struct bs_recipe *r, size_t i, int *memo)
{
	const struct bs_container *c = &r->containers[i];
	int level = 0;

	if (memo[i] != -1)
		return memo[i] < 0 ? 0 : memo[i];
	memo[i] = -2;
	for (size_t k = 0; k < c->n_depends_on; k++)
		for (size_t j = 0; j < r->n_containers; j++) {
			const struct bs_container *d = &r->containers[j];
			int l;

			if (d->name == NULL || strcmp(d->name, c->depends_on[k].container) != 0)
				continue;
			l = 1 + level_of(r, j, memo);
			level = l > level ? l : level;
		}
	memo[i] = level;
	return level;
}

/* Every container's level, once, when the recipe loads. */
static void set_levels(struct bs_recipe *r)
{
	int *memo = bs_xcalloc(r->n_containers + 1, sizeof(*memo));

	for (size_t i = 0; i < r->n_containers; i++)
		memo[i] = -1;
	for (size_t i = 0; i < r->n_containers; i++)
		r->containers[i].dep_level = level_of(r, i, memo);
	free(memo);
}

int bs_recipe_dep_level(const struct bs_recipe *r, const struct bs_container *c)
{
	(void)r;
	return c->dep_level;
}

int bs_recipe_dep_top(const struct bs_recipe *r)
{
	int top = 0;

	for (size_t i = 0; i < r->n_containers; i++) {
		int l = bs_recipe_dep_level(r, &r->containers[i]);

		top = l > top ? l : top;
	}
	return top;
}

/* ---- cross checks ------------------------------------------------------ */

static long find_container(const struct bs_recipe *r, const char *name)
{
	for (size_t i = 0; i < r->n_containers; i++)
		if (r->containers[i].name != NULL && strcmp(r->containers[i].name, name) == 0)
			return (long)i;
	return -1;
}

static void no_such_container(struct bs_rctx *ctx, const struct bs_dependency *d)
{
	const struct bs_recipe *r = ctx->recipe;
	const char **names = bs_xcalloc(r->n_containers + 1, sizeof(*names));
	const char *sug;

	for (size_t i = 0; i < r->n_containers; i++)
		names[i] = r->containers[i].name ? r->containers[i].name : "";
	sug = bs_suggest(d->container, names);
	if (d->optional)
		rctx_warn_loc(ctx, d->loc,
			      "no container %.100s (required: false: it is not waited for)",
			      d->container);
	else
		rctx_error_loc(ctx, d->loc, "no container %.100s in the recipe%s%s%s", d->container,
			       sug ? "; did you mean '" : "", sug ? sug : "", sug ? "'?" : "");
	free(names);
}

static bool placed_somewhere(const struct bs_recipe *r, const struct bs_container *c)
{
	for (size_t k = 0; k < r->n_nodes; k++)
		if (bs_container_selects(c, &r->nodes[k]))
			return true;
	return false;
}

/* What a dependency cannot be, besides part of a cycle. */
static void check_dependency(struct bs_rctx *ctx, const struct bs_container *c,
			     const struct bs_dependency *d)
{
	const struct bs_recipe *r = ctx->recipe;
	long j = find_container(r, d->container);
	const struct bs_container *dep;

	if (j < 0) {
		no_such_container(ctx, d);
		return;
	}
	dep = &r->containers[j];
	if (dep == c) {
		rctx_error_loc(ctx, d->loc, "container %s depends on itself (remove the entry)",
			       c->name);
		return;
	}
	if (dep->replicas == 0 || !placed_somewhere(r, dep))
		rctx_error_loc(
			ctx, d->loc,
			"%s depends on %s, which runs nowhere (%s): give %s replicas and nodes, or remove the dependency",
			c->name, dep->name,
			dep->replicas == 0 ? "replicas: 0" : "its nodes match none", dep->name);
	if (d->condition == BS_DEP_COMPLETED &&
	    (dep->restart == BS_RESTART_ALWAYS || dep->restart == BS_RESTART_UNLESS_STOPPED))
		rctx_error_loc(
			ctx, d->loc,
			"%s waits for %s to complete, but its restart policy %s starts it again after it exits: give %s restart: \"no\" or on-failure",
			c->name, dep->name, bs_restart_policy_names[dep->restart], dep->name);
}

/* Depth-first search from container i; state: 0 new, 1 on the path, 2
 * done. path holds the indexes on the current path. Reports the first
 * cycle found at the dependency entry that closes it. */
static bool find_cycle(struct bs_rctx *ctx, size_t i, char *state, size_t *path, size_t depth)
{
	const struct bs_recipe *r = ctx->recipe;
	const struct bs_container *c = &r->containers[i];

	state[i] = 1;
	path[depth] = i;
	for (size_t k = 0; k < c->n_depends_on; k++) {
		long j = find_container(r, c->depends_on[k].container);

		if (j < 0 || (size_t)j == i || state[j] == 2)
			continue;
		if (state[j] == 1) {
			struct bs_buf cyc = BS_BUF_INIT;
			size_t from = 0;

			while (path[from] != (size_t)j)
				from++;
			for (size_t p = from; p <= depth; p++)
				bs_buf_printf(&cyc, "%s -> ", r->containers[path[p]].name);
			bs_buf_printf(&cyc, "%s", r->containers[j].name);
			rctx_set_path(ctx, "containers[%zu].depends_on", i);
			rctx_error_loc(ctx, c->depends_on[k].loc,
				       "depends_on makes a cycle: %s (remove one of these entries)",
				       bs_buf_str(&cyc));
			bs_buf_free(&cyc);
			return true;
		}
		if (find_cycle(ctx, (size_t)j, state, path, depth + 1))
			return true;
	}
	state[i] = 2;
	return false;
}

static void check_names(struct bs_rctx *ctx, size_t i)
{
	const struct bs_recipe *r = ctx->recipe;
	const struct bs_container *c = &r->containers[i];

	if (c->container_name == NULL)
		return;
	rctx_set_path(ctx, "containers[%zu].container_name", i);
	if (r->cluster.type != BS_CLUSTER_NONE)
		rctx_error_loc(
			ctx, c->loc,
			"container_name names a container, and in a cluster %s runs as the service %s-%s (remove container_name)",
			c->name, r->project ? r->project : "PROJECT", c->name);
	else if (c->replicas > 1)
		rctx_error_loc(
			ctx, c->replicas_loc,
			"container_name names one container, and %s has %d replicas (remove container_name, or set replicas: 1)",
			c->name, c->replicas);
	for (size_t j = 0; j < r->n_containers; j++) {
		const struct bs_container *d = &r->containers[j];

		if (j == i || d->name == NULL)
			continue;
		if (j < i && d->container_name != NULL &&
		    strcmp(d->container_name, c->container_name) == 0)
			rctx_error_loc(ctx, c->loc,
				       "container_name %s is also %s's (one name, one container)",
				       c->container_name, d->name);
		for (int rep = 1; d->container_name == NULL && rep <= d->replicas; rep++) {
			char *inst = bs_instance_name(r->project ? r->project : "", d->name, rep);

			if (strcmp(inst, c->container_name) == 0)
				rctx_error_loc(
					ctx, c->loc,
					"container_name %s is the name of %s's replica %d (pick another name)",
					c->container_name, d->name, rep);
			free(inst);
		}
	}
}

void bs_recipe_check_depends(struct bs_rctx *ctx)
{
	const struct bs_recipe *r = ctx->recipe;
	char *state = bs_xcalloc(r->n_containers + 1, 1);
	size_t *path = bs_xcalloc(r->n_containers + 1, sizeof(*path));

	for (size_t i = 0; i < r->n_containers; i++) {
		const struct bs_container *c = &r->containers[i];

		check_names(ctx, i);
		for (size_t k = 0; k < c->n_depends_on && c->name != NULL; k++) {
			rctx_set_path(ctx, "containers[%zu].depends_on", i);
			check_dependency(ctx, c, &c->depends_on[k]);
		}
		rctx_set_path(ctx, "containers[%zu].depends_on", i);
		if (c->n_depends_on > 0 && r->cluster.type != BS_CLUSTER_NONE)
			rctx_warn_loc(
				ctx, c->depends_on[0].loc,
				"a cluster starts its services without an order: depends_on is not applied (the service must wait for its dependencies itself)");
	}
	for (size_t i = 0; i < r->n_containers; i++)
		if (state[i] == 0 && r->containers[i].name != NULL &&
		    find_cycle(ctx, i, state, path, 0))
			break;
	free(path);
	free(state);
	set_levels(ctx->recipe);
}
