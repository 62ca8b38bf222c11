/*
 * recipe.c - loading a recipe: read, parse, interpolate, mark secrets, map
 * the top-level sections into struct bs_recipe and check them.
 *
 * Order of work, and why:
 *  1. yamltree builds a positioned tree (syntax, duplicates, limits);
 *  2. interpolation runs over every value once, recording which variables
 *     each value used;
 *  3. secret fields are found and the variables they use marked secret, so
 *     that the same variable used elsewhere (an environment value) is
 *     masked too; their values are collected for masking every message;
 *  4. sections are mapped into structs, each reporting its own problems;
 *  5. cross references (selectors, image use, ports) are checked.
 * Every step goes on after an error, so one run reports everything.
 *
 * Steps 4 and 5 live in a file per section (recipe_provider.c for provider
 * and ssh, recipe_nodes.c for nodes and cluster, recipe_docker.c for docker
 * and registries, recipe_images.c, recipe_domains.c, recipe_containers.c),
 * behind the private recipe_priv.h; this file runs them in order.
 */
#include "deploy/recipe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "deploy/recipe_priv.h"
#include "deploy/yamltree.h"
#include "util/error.h"

/* ---- step 2: interpolation ------------------------------------------- */

/* Column of byte offset within a plain one-line scalar. */
static int offset_col(const struct bs_ynode *node, size_t offset)
{
	size_t i;
	int col = node->col;

	if (!node->plain || strchr(node->value, '\n') != NULL)
		return node->col;
	for (i = 0; i < offset && node->value[i] != '\0'; i++)
		if (((unsigned char)node->value[i] & 0xC0) != 0x80)
			col++;
	return col;
}

static void interpolate(struct bs_rctx *ctx, struct bs_ynode *node, bool root)
{
	size_t i, saved;

	switch (node->kind) {
	case BS_YNODE_SCALAR:
		if (node->interpolated)
			return;
		node->interpolated = true;
		if (strchr(node->value, '$') != NULL) {
			struct bs_interp_error err;
			char *expanded;

			if (bs_interp_expand(&expanded, node->value, ctx->getenv_fn, ctx->payload,
					     &node->vars, &err) != 0) {
				struct bs_recipe_loc loc = {
					node->line, offset_col(node, err.offset), node->file};

				rctx_error_loc(ctx, loc, "%s", err.message);
				node->bad = true;
				return;
			}
			free(node->value);
			node->value = expanded;
			/* an expanded value is text, never null/bool by spelling */
			node->plain = false;
		}
		return;
	case BS_YNODE_SEQ:
		for (i = 0; i < node->n; i++) {
			saved = rctx_push_index(ctx, i);
			interpolate(ctx, node->items[i], false);
			rctx_pop(ctx, saved);
		}
		return;
	case BS_YNODE_MAP:
		for (i = 0; i < node->n; i++) {
			/* x- keys hold YAML anchors for reuse, as in Compose */
			if (root && bs_str_starts_with(node->pairs[i].key->value, "x-"))
				continue;
			saved = rctx_push_key(ctx, node->pairs[i].key->value);
			interpolate(ctx, node->pairs[i].value, false);
			rctx_pop(ctx, saved);
		}
		return;
	}
}

/* ---- step 3: secrets -------------------------------------------------- */

static void mark_secret_node(struct bs_ynode *node, struct bs_strv *secret_vars)
{
	size_t i;

	if (node == NULL || node->kind != BS_YNODE_SCALAR)
		return;
	node->secret = true;
	for (i = 0; i < node->vars.n; i++)
		bs_strv_add_unique(secret_vars, node->vars.v[i]);
}

static void find_secret_fields(struct bs_ynode *root, struct bs_strv *vars)
{
	struct bs_ynode *sec, *ssh, *provider;
	size_t i, j;

	provider = bs_ynode_get(root, "provider");
	mark_secret_node(bs_ynode_get(provider, "token"), vars);
	ssh = bs_ynode_get(root, "ssh");
	mark_secret_node(bs_ynode_get(ssh, "password"), vars);
	mark_secret_node(bs_ynode_get(ssh, "passphrase"), vars);
	sec = bs_ynode_get(root, "registries");
	if (sec != NULL && sec->kind == BS_YNODE_SEQ)
		for (i = 0; i < sec->n; i++)
			mark_secret_node(bs_ynode_get(sec->items[i], "password"), vars);
	sec = bs_ynode_get(root, "containers");
	if (sec == NULL || sec->kind != BS_YNODE_SEQ)
		return;
	for (i = 0; i < sec->n; i++) {
		struct bs_ynode *s = bs_ynode_get(sec->items[i], "secrets");

		if (s == NULL)
			continue;
		if (s->kind == BS_YNODE_MAP) {
			for (j = 0; j < s->n; j++) {
				/* "KEY:" with no value takes KEY from the environment */
				if (bs_ynode_is_null(s->pairs[j].value))
					bs_strv_add_unique(vars, s->pairs[j].key->value);
				else
					mark_secret_node(s->pairs[j].value, vars);
			}
		} else if (s->kind == BS_YNODE_SEQ) {
			for (j = 0; j < s->n; j++) {
				struct bs_ynode *item = s->items[j];
				size_t k;

				if (item->kind != BS_YNODE_SCALAR)
					continue;
				/* "- KEY" names a variable; "- KEY=value" holds one:
				 * the item's text is not itself the secret */
				if (strchr(item->value, '=') == NULL)
					bs_strv_add_unique(vars, item->value);
				for (k = 0; k < item->vars.n; k++)
					bs_strv_add_unique(vars, item->vars.v[k]);
			}
		}
	}
}

/* Mark every scalar built from a secret variable, collect secret values. */
static void spread_secrets(struct bs_ynode *node, const struct bs_strv *vars,
			   struct bs_strv *values)
{
	size_t i;

	switch (node->kind) {
	case BS_YNODE_SCALAR:
		for (i = 0; i < node->vars.n && !node->secret; i++)
			if (bs_strv_contains(vars, node->vars.v[i]))
				node->secret = true;
		if (node->secret && node->value[0] != '\0' && !bs_ynode_is_null(node))
			bs_strv_add_unique(values, node->value);
		return;
	case BS_YNODE_SEQ:
		for (i = 0; i < node->n; i++)
			spread_secrets(node->items[i], vars, values);
		return;
	case BS_YNODE_MAP:
		for (i = 0; i < node->n; i++)
			spread_secrets(node->pairs[i].value, vars, values);
		return;
	}
}

void bs_recipe_interpolate(struct bs_rctx *ctx, struct bs_ynode *root)
{
	interpolate(ctx, root, true);
	spread_secrets(root, &ctx->secret_vars, &ctx->recipe->secrets);
}

/* ---- steps 4 and 5: sections, cross references ---------------------- */

/* top-level x- keys are extension fields (anchors), as in Compose */
static void check_root_keys(struct bs_rctx *ctx, const struct bs_ynode *root)
{
	static const char *const keys[] = {"version",	 "project",  "provider",   "ssh",
					   "nodes",	 "docker",   "registries", "images",
					   "containers", "prune",    "cluster",	   "domains",
					   "compose",	 "services", NULL};
	size_t i, j;

	for (i = 0; i < root->n; i++) {
		const struct bs_ynode *key = root->pairs[i].key;
		bool known = key->bad || bs_str_starts_with(key->value, "x-");

		for (j = 0; keys[j] != NULL && !known; j++)
			known = strcmp(keys[j], key->value) == 0;
		if (!known) {
			const char *s = bs_suggest(key->value, keys);
			size_t saved = rctx_push_key(ctx, key->value);

			if (s != NULL)
				rctx_error(ctx, key, "unknown key (did you mean '%s'?)", s);
			else
				rctx_error(
					ctx, key,
					"unknown key (top-level keys: version, project, provider, ssh, nodes, docker, cluster, domains, registries, images, containers, compose, services, prune; x-* for your own anchors)");
			rctx_pop(ctx, saved);
		}
	}
}

static void parse_version_project(struct bs_rctx *ctx, const struct bs_ynode *root)
{
	struct bs_recipe *r = ctx->recipe;
	const struct bs_ynode *v = bs_ynode_get(root, "version");

	if (v == NULL) {
		rctx_missing(ctx, root, "version", "start the recipe with version: 1");
	} else if (rctx_get_int(ctx, root, "version", 0, 1000000, &r->version) && r->version != 1) {
		size_t saved = rctx_push_key(ctx, "version");

		rctx_error(ctx, v,
			   "recipe version %d is not supported (this bootstrap reads version 1)",
			   r->version);
		rctx_pop(ctx, saved);
	}
	if (rctx_get_str(ctx, root, "project",
			 "project: NAME, which tags everything bootstrap creates", &r->project) &&
	    (!bs_recipe_is_dns_label(r->project) || strlen(r->project) > 40)) {
		size_t saved = rctx_push_key(ctx, "project");

		rctx_error(
			ctx, bs_ynode_get(root, "project"),
			"'%.100s' is not a valid project name (lowercase letters, digits and '-', at most 40, like shop)",
			r->project);
		rctx_pop(ctx, saved);
	}
}

/* Provider engine talks to engines directly: ssh: and docker: do not apply. */
static void check_engine_sections(struct bs_rctx *ctx, const struct bs_ynode *root)
{
	static const char *const keys[] = {"ssh", "docker"};

	if (ctx->recipe->provider.type != BS_PROVIDER_ENGINE)
		return;
	for (size_t i = 0; i < 2; i++) {
		const struct bs_ynode *at = NULL;
		size_t saved;

		for (size_t k = 0; k < root->n && at == NULL; k++)
			if (!root->pairs[k].key->bad &&
			    strcmp(root->pairs[k].key->value, keys[i]) == 0)
				at = root->pairs[k].key;
		if (at == NULL)
			continue;
		saved = rctx_push_key(ctx, keys[i]);
		rctx_error(ctx, at,
			   "provider engine talks to running engines directly: bootstrap "
			   "neither logs in to nor installs or configures them, so %s: does "
			   "not apply (remove it, or use provider static to manage hosts "
			   "over SSH)",
			   keys[i]);
		rctx_pop(ctx, saved);
	}
}

static void parse_root(struct bs_rctx *ctx, struct bs_ynode *root)
{
	check_root_keys(ctx, root);
	parse_version_project(ctx, root);
	bs_recipe_parse_provider(ctx, bs_ynode_get(root, "provider"));
	bs_recipe_parse_ssh(ctx, bs_ynode_get(root, "ssh"));
	bs_recipe_parse_nodes(ctx, bs_ynode_get(root, "nodes"), root);
	bs_recipe_parse_docker(ctx, bs_ynode_get(root, "docker"));
	check_engine_sections(ctx, root);
	bs_recipe_parse_cluster(ctx, bs_ynode_get(root, "cluster"));
	bs_recipe_parse_registries(ctx, bs_ynode_get(root, "registries"));
	bs_recipe_check_insecure_credentials(ctx, root);
	bs_recipe_parse_images(ctx, bs_ynode_get(root, "images"));
	bs_recipe_parse_domains(ctx, bs_ynode_get(root, "domains"));
	bs_recipe_parse_containers(ctx, bs_ynode_get(root, "containers"));
	bs_recipe_parse_compose(ctx, root);
	rctx_get_bool(ctx, root, "prune", &ctx->recipe->prune);
	bs_recipe_check_domains(ctx);
	bs_recipe_check_containers(ctx);
	bs_recipe_check_images(ctx);
	bs_recipe_check_cluster(ctx);
	rctx_pop(ctx, 0);
}

/* ---- load / free ------------------------------------------------------ */

int bs_recipe_load_buffer(struct bs_recipe **out, const char *data, size_t len, const char *name,
			  const struct bs_recipe_load_opts *opts, struct bs_diags *diags)
{
	struct bs_recipe *r;
	struct bs_ynode *root;
	struct bs_diags deferred;
	struct bs_rctx ctx;
	size_t errors_before = diags->n_errors, i;

	*out = NULL;
	memset(&deferred, 0, sizeof(deferred));
	r = bs_xcalloc(1, sizeof(*r));
	r->file = bs_xstrdup(name);
	memset(&ctx, 0, sizeof(ctx));
	ctx.diags = diags;
	ctx.recipe = r;
	ctx.getenv_fn = opts && opts->getenv_fn ? opts->getenv_fn : bs_interp_getenv;
	ctx.payload = opts ? opts->payload : NULL;
	ctx.profiles = opts ? opts->profiles : NULL;

	root = bs_ytree_parse(data, len, diags);
	if (root == NULL) {
		if (diags->n_errors == errors_before)
			bs_diags_add(
				diags, BS_DIAG_ERROR, 1, 1, "",
				"the recipe is empty (start with version: 1, then project:, nodes: and containers:)");
		goto out;
	}
	if (root->kind != BS_YNODE_MAP) {
		rctx_error(
			&ctx, root,
			"a recipe is a mapping of sections (version:, project:, nodes:, ...), found %s",
			bs_ynode_is_null(root) ? "an empty document" : bs_ynode_kind_name(root));
		goto out;
	}
	/* Interpolation errors wait in a list of their own until the secrets
	 * are known, so that their text (a ${VAR:?...} message, say) is
	 * masked like every other message. */
	bs_diags_init(&deferred, name);
	ctx.diags = &deferred;
	interpolate(&ctx, root, true);
	ctx.diags = diags;
	find_secret_fields(root, &ctx.secret_vars);
	spread_secrets(root, &ctx.secret_vars, &r->secrets);
	diags->mask = &r->secrets;
	for (i = 0; i < deferred.n; i++)
		bs_diags_add(diags, BS_DIAG_ERROR, deferred.items[i].line, deferred.items[i].col,
			     deferred.items[i].path, "%s", deferred.items[i].message);
	parse_root(&ctx, root);
	diags->mask = NULL;
out:
	bs_diags_free(&deferred);
	bs_strv_free(&ctx.secret_vars);
	bs_ynode_unref(root);
	if (diags->n_errors > errors_before) {
		bs_recipe_free(r);
		return BS_ERR_INVALID;
	}
	*out = r;
	return 0;
}

int bs_recipe_load(struct bs_recipe **out, const char *path, const struct bs_recipe_load_opts *opts,
		   struct bs_diags *diags)
{
	struct bs_buf data = BS_BUF_INIT;
	char chunk[65536];
	struct stat st;
	FILE *f;
	size_t n;
	int rc;

	*out = NULL;
	f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (f == NULL) {
		bs_diags_add(diags, BS_DIAG_ERROR, 0, 0, "",
			     "cannot open the recipe: %s (check the path)", strerror(errno));
		return BS_ERR_IO;
	}
	if (f != stdin && fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size > (off_t)BS_RECIPE_MAX_BYTES) {
		bs_diags_add(
			diags, BS_DIAG_ERROR, 1, 1, "",
			"file is %lld bytes; a recipe may be at most %u bytes (is this the right file?)",
			(long long)st.st_size, BS_RECIPE_MAX_BYTES);
		fclose(f);
		return BS_ERR_INVALID;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		bs_buf_append(&data, chunk, n);
		if (data.len > BS_RECIPE_MAX_BYTES)
			break;
	}
	if (ferror(f)) {
		bs_diags_add(diags, BS_DIAG_ERROR, 0, 0, "", "cannot read the recipe: %s",
			     strerror(errno));
		if (f != stdin)
			fclose(f);
		bs_buf_free(&data);
		return BS_ERR_IO;
	}
	if (f != stdin)
		fclose(f);
	rc = bs_recipe_load_buffer(out, data.data ? data.data : "", data.len, path, opts, diags);
	bs_buf_free(&data);
	return rc;
}

void bs_recipe_free(struct bs_recipe *r)
{
	size_t i;

	if (r == NULL)
		return;
	free(r->file);
	free(r->project);
	free(r->provider.image);
	free(r->provider.engine);
	free(r->provider.region);
	free(r->provider.size);
	bs_secure_free_str(r->provider.token);
	free(r->provider.token_env);
	free(r->provider.api_url);
	free(r->ssh.user);
	free(r->ssh.key);
	bs_secure_free_str(r->ssh.passphrase);
	bs_secure_free_str(r->ssh.password);
	free(r->ssh.known_hosts);
	bs_strv_free(&r->ssh.jump);
	for (i = 0; i < r->n_nodes; i++) {
		free(r->nodes[i].name);
		free(r->nodes[i].group);
		bs_kvlist_free(&r->nodes[i].labels);
		free(r->nodes[i].address);
		free(r->nodes[i].user);
		free(r->nodes[i].size);
		free(r->nodes[i].engine);
		bs_strv_free(&r->nodes[i].jump);
	}
	free(r->nodes);
	free(r->docker.package);
	free(r->docker.version);
	free(r->docker.daemon_json);
	for (i = 0; i < r->n_registries; i++) {
		free(r->registries[i].server);
		free(r->registries[i].username);
		bs_secure_free_str(r->registries[i].password);
	}
	free(r->registries);
	bs_recipe_free_containers(r);
	for (i = 0; i < r->cluster.managers.n; i++) {
		free(r->cluster.managers.v[i].key);
		free(r->cluster.managers.v[i].value);
	}
	free(r->cluster.managers.v);
	free(r->cluster.advertise);
	free(r->domains.base);
	free(r->domains.email);
	free(r->domains.proxy);
	free(r->domains.cert_file);
	free(r->domains.key_file);
	free(r->domains.cert_pem);
	if (r->domains.key_pem != NULL)
		bs_secure_free_str(r->domains.key_pem);
	bs_strv_wipe_free(&r->secrets);
	bs_strv_free(&r->compose_files);
	bs_strv_free(&r->profiles);
	free(r);
}
