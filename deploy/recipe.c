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
 */
#include "deploy/recipe.h"

#include <arpa/inet.h>
#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "container/auth.h"
#include "deploy/recipe_parse.h"
#include "deploy/yamltree.h"
#include "provision/dockerhost.h"
#include "util/error.h"
#include "util/url.h"

static const char *const *const provider_names = bs_provider_type_names;
static const char *const order_names[] = {"auto", "start-first", "stop-first", NULL};
static const char *const net_names[] = {"project", "bridge", "host", "none", NULL};
static const char *const restart_names[] = {"no", "always", "on-failure", "unless-stopped", NULL};
static const char *const pull_names[] = {"missing", "always", "never", NULL};
static const char *const failure_names[] = {"rollback", "pause", "continue", NULL};
static const char *const publish_names[] = {"ingress", "host", NULL};
static const char *const encrypt_names[] = {"auto", "true", "false", NULL};

const char *bs_restart_policy_name(enum bs_restart_policy policy)
{
	return restart_names[policy];
}

const char *bs_pull_policy_name(enum bs_pull_policy policy)
{
	return pull_names[policy];
}

const char *bs_update_order_name(enum bs_update_order order)
{
	return order_names[order];
}

const char *bs_net_mode_name(enum bs_net_mode mode)
{
	return net_names[mode];
}

const char *bs_failure_action_name(enum bs_failure_action action)
{
	return failure_names[action];
}

const char *bs_publish_mode_name(enum bs_publish_mode mode)
{
	return publish_names[mode];
}

const char *bs_encrypt_mode_name(enum bs_encrypt_mode mode)
{
	return encrypt_names[mode];
}

const char *const bs_tls_mode_names[] = {"auto", "internal", "off", "files", NULL};

const char *bs_tls_mode_name(enum bs_tls_mode mode)
{
	return bs_tls_mode_names[mode];
}

int bs_container_web_port(const struct bs_container *c)
{
	if (c->expose > 0)
		return c->expose;
	if (c->n_ports == 1 && c->ports[0].container_start == c->ports[0].container_end &&
	    c->ports[0].proto == BS_PROTO_TCP)
		return c->ports[0].container_start;
	return 0;
}

const struct bs_registry *bs_recipe_registry_for(const struct bs_recipe *r, const char *ref)
{
	char *server = bs_image_registry(ref);
	const struct bs_registry *found = NULL;

	for (size_t i = 0; i < r->n_registries; i++)
		if (strcmp(r->registries[i].server, server) == 0 && r->registries[i].username)
			found = &r->registries[i];
	free(server);
	return found;
}

bool bs_cluster_is_manager(const struct bs_recipe *r, const struct bs_node *node)
{
	if (r->cluster.type == BS_CLUSTER_NONE)
		return false;
	if (r->cluster.managers.n == 0)
		return r->n_nodes > 0 && strcmp(r->nodes[0].name, node->name) == 0;
	for (size_t i = 0; i < r->cluster.managers.n; i++)
		if (bs_selector_matches(&r->cluster.managers.v[i], node))
			return true;
	return false;
}

bool bs_selector_matches(const struct bs_selector *sel, const struct bs_node *node)
{
	const struct bs_kv *label;

	if (sel->value == NULL)
		return strcmp(sel->key, node->name) == 0 || strcmp(sel->key, node->group) == 0;
	label = bs_kvlist_find(&node->labels, sel->key);
	return label != NULL && strcmp(label->value, sel->value) == 0;
}

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
				struct bs_recipe_loc loc = {node->line,
							    offset_col(node, err.offset)};

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

/* A secret written literally in the recipe ends up in version control. */
static void warn_literal_secret(struct bs_rctx *ctx, const struct bs_ynode *map, const char *key)
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

/* ---- step 4: sections ------------------------------------------------- */

/* provider.init of a local node: systemd (default) or none. */
static void parse_node_init(struct bs_rctx *ctx, const struct bs_ynode *map, enum bs_node_init *out)
{
	char *init = NULL;

	*out = BS_NODE_INIT_SYSTEMD;
	if (!rctx_get_str(ctx, map, "init", NULL, &init))
		return;
	if (strcmp(init, "none") == 0) {
		*out = BS_NODE_INIT_NONE;
	} else if (strcmp(init, "systemd") != 0) {
		size_t saved = rctx_push_key(ctx, "init");

		rctx_error(
			ctx, bs_ynode_get(map, "init"),
			"'%.100s' is not an init of a local node: write systemd (the node boots systemd, like a VM; the default) or none (sshd alone, like a host without an init)",
			init);
		rctx_pop(ctx, saved);
	}
	free(init);
}

/* provider.api_url: an http(s) URL, with no login in it (the token goes
 * in a header; a login there is masked like any secret), that sends the
 * token over TLS unless to this machine. */
static void check_api_url(struct bs_rctx *ctx, const struct bs_ynode *at, const char *url)
{
	const char *problem = NULL;
	char *login = bs_url_userinfo_secret(url);
	size_t saved;

	if (login != NULL) /* masked in the message below */
		bs_strv_add_unique(&ctx->recipe->secrets, login);
	bs_secure_free_str(login);
	if (bs_url_has_userinfo(url))
		problem = "carries a login (user:password@): the API token goes in a header; "
			  "remove it from the URL";
	else if (!bs_str_starts_with(url, "https://") && !bs_str_starts_with(url, "http://"))
		problem = "is not an http(s) URL";
	else if (bs_url_is_cleartext_remote(url))
		problem = "would send the API token in clear text: use https:// (plain http:// "
			  "only to a loopback address such as 127.0.0.1)";
	if (problem == NULL)
		return;
	saved = rctx_push_key(ctx, "api_url");
	rctx_error(ctx, at, "'%.200s' %s", url, problem);
	rctx_pop(ctx, saved);
}

static void parse_provider(struct bs_rctx *ctx, const struct bs_ynode *map)
{
	static const char *const local_keys[] = {"type", "image", "engine", "init", NULL};
	static const char *const static_keys[] = {"type", NULL};
	static const char *const hetzner_keys[] = {"type",	  "token", "token_env", "location",
						   "server_type", "image", "api_url",	NULL};
	static const char *const do_keys[] = {"type", "token", "token_env", "region",
					      "size", "image", "api_url",   NULL};
	static const char *const engine_keys[] = {"type", NULL};
	static const char *const *const keys_by_type[] = {local_keys, static_keys, hetzner_keys,
							  do_keys, engine_keys};
	struct bs_provider *p = &ctx->recipe->provider;
	int type = BS_PROVIDER_LOCAL;
	size_t i, saved;
	int t;

	p->loc = rctx_loc(map);
	if (map == NULL) {
		p->image = bs_xstrdup("bootstrap/node:bookworm");
		p->engine = bs_xstrdup("unix:///var/run/docker.sock");
		return;
	}
	saved = rctx_push_key(ctx, "provider");
	if (!rctx_want_map(ctx, map))
		goto out;
	if (!rctx_get_choice(ctx, map, "type", provider_names, &type)) {
		if (rctx_absent(map, "type"))
			rctx_missing(ctx, map, "type",
				     "type: local, static, hetzner, digitalocean or engine");
		/* with no known type, its other keys cannot be judged */
		goto out;
	}
	p->type = (enum bs_provider_type)type;

	/* A key of another provider type gets a message that says so. */
	for (i = 0; i < map->n; i++) {
		const char *key = map->pairs[i].key->value;
		const char *const *mine = keys_by_type[type];
		bool known = false, other = false;
		size_t j;

		for (j = 0; mine[j] != NULL; j++)
			known = known || strcmp(mine[j], key) == 0;
		for (t = 0; t < 5 && !known && !other; t++)
			for (j = 0; keys_by_type[t][j] != NULL; j++)
				if (strcmp(keys_by_type[t][j], key) == 0) {
					size_t s2 = rctx_push_key(ctx, key);

					rctx_error(
						ctx, map->pairs[i].key,
						"'%s' is a key of provider type %s, not %s (remove it or change type)",
						key, provider_names[t], provider_names[type]);
					rctx_pop(ctx, s2);
					other = true;
					break;
				}
		if (!known && !other) {
			const char *s = bs_suggest(key, mine);
			size_t s2 = rctx_push_key(ctx, key);
			char list[256] = "";
			size_t used = 0;

			for (j = 0; mine[j] != NULL && used < sizeof(list); j++) {
				int w = snprintf(list + used, sizeof(list) - used, "%s%s",
						 j ? ", " : "", mine[j]);

				used += w > 0 ? (size_t)w : 0;
			}
			if (s != NULL)
				rctx_error(ctx, map->pairs[i].key,
					   "unknown key (did you mean '%s'?)", s);
			else
				rctx_error(ctx, map->pairs[i].key,
					   "unknown key (provider %s takes: %s)",
					   provider_names[type], list);
			rctx_pop(ctx, s2);
		}
	}

	switch (p->type) {
	case BS_PROVIDER_LOCAL:
		if (!rctx_get_str(ctx, map, "image", NULL, &p->image))
			p->image = bs_xstrdup("bootstrap/node:bookworm");
		parse_node_init(ctx, map, &p->init);
		if (!rctx_get_str(ctx, map, "engine", NULL, &p->engine))
			p->engine = bs_xstrdup("unix:///var/run/docker.sock");
		else if (!bs_str_starts_with(p->engine, "unix://") &&
			 !bs_str_starts_with(p->engine, "tcp://")) {
			size_t s2 = rctx_push_key(ctx, "engine");

			rctx_error(
				ctx, bs_ynode_get(map, "engine"),
				"'%.200s' is not an engine URL (write unix:///var/run/docker.sock or tcp://HOST:2376)",
				p->engine);
			rctx_pop(ctx, s2);
		}
		break;
	case BS_PROVIDER_STATIC:
	case BS_PROVIDER_ENGINE: break;
	case BS_PROVIDER_HETZNER:
	case BS_PROVIDER_DIGITALOCEAN: {
		bool hz = p->type == BS_PROVIDER_HETZNER;

		rctx_get_str(ctx, map, "token", NULL, &p->token);
		warn_literal_secret(ctx, map, "token");
		if (rctx_get_str(ctx, map, "token_env", NULL, &p->token_env)) {
			const char *c;
			bool ok =
				p->token_env[0] != '\0' && !isdigit((unsigned char)p->token_env[0]);

			for (c = p->token_env; *c != '\0'; c++)
				ok = ok && (isalnum((unsigned char)*c) || *c == '_');
			if (!ok) {
				size_t s2 = rctx_push_key(ctx, "token_env");

				rctx_error(
					ctx, bs_ynode_get(map, "token_env"),
					"'%.100s' is not an environment variable name (letters, digits, '_')",
					p->token_env);
				rctx_pop(ctx, s2);
			}
			if (p->token != NULL) {
				size_t s2 = rctx_push_key(ctx, "token_env");

				rctx_error(ctx, bs_ynode_get(map, "token_env"),
					   "give token or token_env, not both");
				rctx_pop(ctx, s2);
			}
		} else {
			p->token_env = bs_xstrdup(hz ? "HCLOUD_TOKEN" : "DIGITALOCEAN_TOKEN");
		}
		rctx_get_str(ctx, map, hz ? "location" : "region",
			     hz ? "location: fsn1, nbg1, hel1, ash, hil or sin"
				: "region: fra1, ams3, nyc3, sfo3, ...",
			     &p->region);
		if (!rctx_get_str(ctx, map, hz ? "server_type" : "size", NULL, &p->size))
			p->size = bs_xstrdup(hz ? "cx22" : "s-1vcpu-1gb");
		if (!rctx_get_str(ctx, map, "image", NULL, &p->image))
			p->image = bs_xstrdup(hz ? "debian-12" : "debian-12-x64");
		if (!rctx_get_str(ctx, map, "api_url", NULL, &p->api_url))
			p->api_url = bs_xstrdup(hz ? "https://api.hetzner.cloud/v1"
						   : "https://api.digitalocean.com/v2");
		else
			check_api_url(ctx, bs_ynode_get(map, "api_url"), p->api_url);
		break;
	}
	}
out:
	rctx_pop(ctx, saved);
}

static void parse_ssh(struct bs_rctx *ctx, const struct bs_ynode *map)
{
	static const char *const keys[] = {"user",	   "port",	 "key",
					   "agent",	   "passphrase", "password",
					   "known_hosts",  "host_keys",	 "connect_timeout",
					   "wait_timeout", NULL};
	static const char *const policies[] = {"accept-new", "strict", NULL};
	struct bs_ssh_conf *s = &ctx->recipe->ssh;
	const struct bs_ynode *hk;
	size_t saved;
	int policy;

	s->port = 22;
	s->connect_timeout_ms = 10000;
	s->wait_timeout_ms = 300000;
	s->host_keys = BS_HOST_KEYS_ACCEPT_NEW;
	if (map == NULL)
		goto defaults;
	saved = rctx_push_key(ctx, "ssh");
	if (!rctx_want_map(ctx, map)) {
		rctx_pop(ctx, saved);
		goto defaults;
	}
	rctx_check_keys(ctx, map, keys);
	rctx_get_str(ctx, map, "user", NULL, &s->user);
	rctx_get_int(ctx, map, "port", 1, 65535, &s->port);
	rctx_get_str(ctx, map, "key", NULL, &s->key);
	rctx_get_bool(ctx, map, "agent", &s->agent);
	rctx_get_str(ctx, map, "passphrase", NULL, &s->passphrase);
	rctx_get_str(ctx, map, "password", NULL, &s->password);
	warn_literal_secret(ctx, map, "passphrase");
	warn_literal_secret(ctx, map, "password");
	rctx_get_str(ctx, map, "known_hosts", NULL, &s->known_hosts);
	hk = bs_ynode_get(map, "host_keys");
	if (hk != NULL && hk->kind == BS_YNODE_SCALAR &&
	    (strcmp(hk->value, "no") == 0 || strcmp(hk->value, "off") == 0 ||
	     strcmp(hk->value, "false") == 0 || strcmp(hk->value, "ignore") == 0 ||
	     strcmp(hk->value, "insecure") == 0)) {
		size_t s2 = rctx_push_key(ctx, "host_keys");

		rctx_error(
			ctx, hk,
			"host key checking cannot be turned off (use accept-new: trust on first use, then pinned)");
		rctx_pop(ctx, s2);
	} else if (rctx_get_choice(ctx, map, "host_keys", policies, &policy)) {
		s->host_keys = (enum bs_host_key_policy)policy;
	}
	rctx_get_duration(ctx, map, "connect_timeout", 100, &s->connect_timeout_ms);
	rctx_get_duration(ctx, map, "wait_timeout", 1000, &s->wait_timeout_ms);
	if (s->key != NULL && s->agent == false && s->password == NULL &&
	    bs_str_ends_with(s->key, ".pub")) {
		size_t s2 = rctx_push_key(ctx, "key");

		rctx_error(ctx, bs_ynode_get(map, "key"),
			   "'%.200s' is a public key; name the private key file (without .pub)",
			   s->key);
		rctx_pop(ctx, s2);
	}
	rctx_pop(ctx, saved);
defaults:
	if (s->user == NULL)
		s->user = bs_xstrdup("root");
}

static void add_node(struct bs_recipe *r, const char *name, const char *group, int index,
		     const struct bs_ynode *at, size_t entry)
{
	struct bs_node *n;

	r->nodes = bs_xrealloc(r->nodes, (r->n_nodes + 1) * sizeof(*r->nodes));
	n = &r->nodes[r->n_nodes++];
	memset(n, 0, sizeof(*n));
	n->name = bs_xstrdup(name);
	n->group = bs_xstrdup(group);
	n->index = index;
	n->entry = entry;
	n->loc = rctx_loc(at);
	n->name_loc = rctx_loc(bs_ynode_get(at, "name"));
}

#define BS_MAX_NODES 500

static void parse_node(struct bs_rctx *ctx, const struct bs_ynode *map, size_t entry)
{
	static const char *const keys[] = {"name", "count",	  "labels", "address", "port",
					   "user", "server_type", "size",   "engine",  NULL};
	struct bs_recipe *r = ctx->recipe;
	enum bs_provider_type type = r->provider.type;
	const char *size_key = type == BS_PROVIDER_HETZNER ? "server_type" : "size";
	char *name = NULL, *address = NULL, *user = NULL, *size = NULL, *engine = NULL;
	struct bs_kvlist labels = {0};
	const struct bs_ynode *v;
	int count = 0, port = 0, i;
	size_t first, k;
	bool has_count;

	if (!rctx_want_map(ctx, map))
		return;
	rctx_check_keys(ctx, map, keys);
	if (rctx_get_str(ctx, map, "name", "name: web", &name) && !bs_recipe_is_dns_label(name)) {
		size_t s2 = rctx_push_key(ctx, "name");

		rctx_error(
			ctx, bs_ynode_get(map, "name"),
			"'%.100s' is not a valid node name (lowercase letters, digits and '-', at most 63, like web or db-1)",
			name);
		rctx_pop(ctx, s2);
		free(name);
		name = NULL;
	}
	has_count = rctx_get_int(ctx, map, "count", 1, 100, &count);
	rctx_get_kvlist(ctx, map, "labels", "label", false, &labels);
	bs_recipe_check_reserved_labels(ctx, bs_ynode_get(map, "labels"));
	rctx_get_str(ctx, map, "address", NULL, &address);
	rctx_get_int(ctx, map, "port", 1, 65535, &port);
	rctx_get_str(ctx, map, "user", NULL, &user);

	v = bs_ynode_get(map, "engine");
	if (type == BS_PROVIDER_ENGINE) {
		if (rctx_get_str(ctx, map, "engine", NULL, &engine) &&
		    !bs_str_starts_with(engine, "unix:///") &&
		    !bs_str_starts_with(engine, "tcp://")) {
			size_t s2 = rctx_push_key(ctx, "engine");

			rctx_error(
				ctx, v,
				"'%.200s' is not an engine URL (write unix:///var/run/docker.sock, or tcp://HOST:2376 with TLS; reach an engine over SSH with provider static instead)",
				engine);
			rctx_pop(ctx, s2);
		}
		for (k = 0; k < 4; k++) {
			static const char *const ssh_keys[] = {"count", "address", "port", "user"};
			const struct bs_ynode *sv = bs_ynode_get(map, ssh_keys[k]);
			size_t s2;

			if (sv == NULL)
				continue;
			s2 = rctx_push_key(ctx, ssh_keys[k]);
			rctx_error(ctx, sv,
				   "provider engine reaches each engine by its URL: give each "
				   "engine its own entry with engine: URL (%s does not apply)",
				   ssh_keys[k]);
			rctx_pop(ctx, s2);
			has_count = k == 0 ? false : has_count;
		}
	} else if (v != NULL) {
		size_t s2 = rctx_push_key(ctx, "engine");

		rctx_error(ctx, v,
			   "engine is for provider type engine (engines reached directly); "
			   "provider %s reaches nodes over SSH",
			   provider_names[type]);
		rctx_pop(ctx, s2);
	}
	v = bs_ynode_get(map, "address");
	if (type == BS_PROVIDER_ENGINE) {
		/* reported above */
	} else if (type == BS_PROVIDER_STATIC) {
		if (v == NULL)
			rctx_missing(ctx, map, "address", "static hosts need address: HOST or IP");
		if (bs_ynode_get(map, "count") != NULL) {
			size_t s2 = rctx_push_key(ctx, "count");

			rctx_error(
				ctx, bs_ynode_get(map, "count"),
				"static hosts are listed one by one (give each host its own entry with its address)");
			rctx_pop(ctx, s2);
			has_count = false;
		}
	} else if (v != NULL) {
		size_t s2 = rctx_push_key(ctx, "address");

		rctx_error(
			ctx, v,
			"address is for existing hosts (provider type static); provider %s creates its nodes",
			provider_names[type]);
		rctx_pop(ctx, s2);
	}
	for (k = 0; k < 2; k++) {
		const char *key = k == 0 ? "server_type" : "size";
		const struct bs_ynode *sv = bs_ynode_get(map, key);

		if (sv == NULL)
			continue;
		if ((type == BS_PROVIDER_HETZNER || type == BS_PROVIDER_DIGITALOCEAN) &&
		    strcmp(key, size_key) == 0) {
			rctx_get_str(ctx, map, key, NULL, &size);
		} else {
			size_t s2 = rctx_push_key(ctx, key);

			rctx_error(ctx, sv, "'%s' does not apply to provider %s%s%s", key,
				   provider_names[type],
				   type == BS_PROVIDER_HETZNER || type == BS_PROVIDER_DIGITALOCEAN
					   ? " (use "
					   : "",
				   type == BS_PROVIDER_HETZNER	      ? "server_type)"
				   : type == BS_PROVIDER_DIGITALOCEAN ? "size)"
								      : "");
			rctx_pop(ctx, s2);
		}
	}

	if (name != NULL) {
		first = r->n_nodes;
		if (!has_count) {
			add_node(r, name, name, 0, map, entry);
		} else if (strlen(name) + 4 > 63) {
			size_t s2 = rctx_push_key(ctx, "name");

			rctx_error(
				ctx, bs_ynode_get(map, "name"),
				"name too long for numbered nodes (at most 59 characters with count)");
			rctx_pop(ctx, s2);
		} else if (r->n_nodes + (size_t)count > BS_MAX_NODES) {
			size_t s2 = rctx_push_key(ctx, "count");

			rctx_error(ctx, bs_ynode_get(map, "count"),
				   "a recipe may have at most %d nodes", BS_MAX_NODES);
			rctx_pop(ctx, s2);
		} else {
			for (i = 1; i <= count; i++) {
				char expanded[80];

				snprintf(expanded, sizeof(expanded), "%s-%d", name, i);
				add_node(r, expanded, name, i, map, entry);
			}
		}
		for (k = first; k < r->n_nodes; k++) {
			struct bs_node *n = &r->nodes[k];
			size_t j;

			for (j = 0; j < labels.n; j++)
				bs_kvlist_push(&n->labels, labels.v[j].key, labels.v[j].value,
					       false);
			n->address = address ? bs_xstrdup(address) : NULL;
			n->port = port;
			n->user = user ? bs_xstrdup(user) : NULL;
			n->size = size ? bs_xstrdup(size) : NULL;
			n->engine = engine ? bs_xstrdup(engine) : NULL;
		}
	}
	bs_kvlist_free(&labels);
	free(name);
	free(address);
	free(user);
	free(size);
	free(engine);
}

static void parse_nodes(struct bs_rctx *ctx, const struct bs_ynode *seq,
			const struct bs_ynode *root)
{
	struct bs_recipe *r = ctx->recipe;
	size_t saved, i, j;

	if (seq == NULL || bs_ynode_is_null(seq)) {
		rctx_missing(ctx, root, "nodes",
			     "list the machines, for example nodes: [{name: web, count: 2}]");
		return;
	}
	saved = rctx_push_key(ctx, "nodes");
	if (!rctx_want_seq(ctx, seq))
		goto out;
	if (seq->n == 0)
		rctx_error(ctx, seq, "no nodes (list at least one, for example - name: web)");
	for (i = 0; i < seq->n; i++) {
		size_t s2 = rctx_push_index(ctx, i);

		parse_node(ctx, seq->items[i], i);
		rctx_pop(ctx, s2);
	}
	/* duplicates after count expansion: "web" x2 and "web-1" collide */
	for (i = 0; i < r->n_nodes; i++)
		for (j = 0; j < i; j++)
			if (strcmp(r->nodes[i].name, r->nodes[j].name) == 0) {
				size_t s2 = rctx_push_index(ctx, r->nodes[i].entry);
				size_t s3 = rctx_push_key(ctx, "name");

				rctx_error_loc(
					ctx, r->nodes[i].name_loc,
					"node name '%s' is used twice (first declared at line %d); rename one",
					r->nodes[i].name, r->nodes[j].name_loc.line);
				rctx_pop(ctx, s3);
				rctx_pop(ctx, s2);
				break;
			}
out:
	rctx_pop(ctx, saved);
}

/* Convert a YAML subtree to JSON for daemon.json; log-opts values become
 * strings because dockerd rejects anything else there. */
static cJSON *yaml_to_json(struct bs_rctx *ctx, const struct bs_ynode *n, bool force_string)
{
	cJSON *obj;
	size_t i, saved;

	switch (n->kind) {
	case BS_YNODE_MAP:
		obj = cJSON_CreateObject();
		for (i = 0; i < n->n; i++) {
			const char *key = n->pairs[i].key->value;

			saved = rctx_push_key(ctx, key);
			cJSON_AddItemToObject(
				obj, key,
				yaml_to_json(ctx, n->pairs[i].value,
					     force_string || strcmp(key, "log-opts") == 0));
			rctx_pop(ctx, saved);
		}
		return obj;
	case BS_YNODE_SEQ:
		obj = cJSON_CreateArray();
		for (i = 0; i < n->n; i++)
			cJSON_AddItemToArray(obj, yaml_to_json(ctx, n->items[i], false));
		return obj;
	case BS_YNODE_SCALAR: break;
	}
	if (force_string)
		return cJSON_CreateString(n->value);
	if (n->plain) {
		long long iv;
		char *end;
		double d;

		if (bs_ynode_is_null(n))
			return cJSON_CreateNull();
		if (strcmp(n->value, "true") == 0)
			return cJSON_CreateTrue();
		if (strcmp(n->value, "false") == 0)
			return cJSON_CreateFalse();
		if (bs_parse_int64(n->value, &iv) == 0)
			return cJSON_CreateNumber((double)iv);
		errno = 0;
		d = strtod(n->value, &end);
		if (errno == 0 && *end == '\0' && end != n->value &&
		    (isdigit((unsigned char)n->value[0]) || n->value[0] == '-'))
			return cJSON_CreateNumber(d);
	}
	return cJSON_CreateString(n->value);
}

/*
 * The rules dockerd applies to daemon.json (provision/dockerhost.h), checked
 * here key by key, so that every bad value is reported at its own line
 * before any host is touched.
 */
static void check_daemon_json(struct bs_rctx *ctx, const struct bs_ynode *daemon, const char *json)
{
	cJSON *all = cJSON_Parse(json);
	size_t i;

	for (i = 0; all != NULL && i < daemon->n; i++) {
		const char *key = daemon->pairs[i].key->value;
		cJSON *one = cJSON_CreateObject();
		cJSON *value = cJSON_GetObjectItemCaseSensitive(all, key);
		struct bs_err err = BS_ERR_INIT;
		char *text;

		if (value == NULL) {
			cJSON_Delete(one);
			continue;
		}
		cJSON_AddItemReferenceToObject(one, key, value);
		text = cJSON_PrintUnformatted(one);
		if (bs_daemon_json_validate(text, &err) != 0) {
			size_t saved = rctx_push_key(ctx, key);
			const char *msg = err.msg;

			if (bs_str_starts_with(msg, "docker.daemon: "))
				msg += strlen("docker.daemon: ");
			rctx_error(ctx,
				   strstr(msg, "unknown key") ? daemon->pairs[i].key
							      : daemon->pairs[i].value,
				   "%s", msg);
			rctx_pop(ctx, saved);
		}
		free(text);
		cJSON_Delete(one);
	}
	cJSON_Delete(all);
}

static void parse_docker(struct bs_rctx *ctx, const struct bs_ynode *map)
{
	static const char *const keys[] = {"install",  "package",  "version", "daemon",
					   "endpoint", "tls_port", NULL};
	static const char *const installs[] = {"auto", "never", NULL};
	static const char *const endpoints[] = {"ssh", "tls", NULL};
	struct bs_docker_conf *d = &ctx->recipe->docker;
	const struct bs_ynode *daemon;
	size_t saved;
	int choice;

	d->tls_port = 2376;
	if (map == NULL)
		goto defaults;
	saved = rctx_push_key(ctx, "docker");
	if (!rctx_want_map(ctx, map)) {
		rctx_pop(ctx, saved);
		goto defaults;
	}
	rctx_check_keys(ctx, map, keys);
	if (rctx_get_choice(ctx, map, "install", installs, &choice))
		d->install = (enum bs_docker_install)choice;
	if (rctx_get_str(ctx, map, "package", NULL, &d->package)) {
		const char *c;
		bool ok = isalnum((unsigned char)d->package[0]);

		for (c = d->package; *c != '\0'; c++)
			ok = ok && (islower((unsigned char)*c) || isdigit((unsigned char)*c) ||
				    *c == '+' || *c == '-' || *c == '.');
		if (!ok) {
			size_t s2 = rctx_push_key(ctx, "package");

			rctx_error(ctx, bs_ynode_get(map, "package"),
				   "'%.100s' is not a package name (like docker.io or docker-ce)",
				   d->package);
			rctx_pop(ctx, s2);
		}
	}
	if (rctx_get_str(ctx, map, "version", NULL, &d->version)) {
		struct bs_err err = BS_ERR_INIT;

		/* the rule the node step applies: Debian's version syntax */
		if (bs_dockerhost_check_package("docker.io", d->version, &err) != 0) {
			size_t s2 = rctx_push_key(ctx, "version");

			rctx_error(ctx, bs_ynode_get(map, "version"), "%s",
				   bs_str_starts_with(err.msg, "docker.version ")
					   ? err.msg + strlen("docker.version ")
					   : err.msg);
			rctx_pop(ctx, s2);
		}
	}
	if (rctx_get_choice(ctx, map, "endpoint", endpoints, &choice))
		d->endpoint = (enum bs_docker_endpoint)choice;
	rctx_get_int(ctx, map, "tls_port", 1, 65535, &d->tls_port);
	daemon = bs_ynode_get(map, "daemon");
	if (daemon != NULL && !bs_ynode_is_null(daemon)) {
		size_t s2 = rctx_push_key(ctx, "daemon");

		if (rctx_want_map(ctx, daemon)) {
			bool managed = false;
			cJSON *json;
			size_t i;

			for (i = 0; i < daemon->n; i++) {
				const char *key = daemon->pairs[i].key->value;

				if (strcmp(key, "hosts") == 0 || bs_str_starts_with(key, "tls")) {
					size_t s3 = rctx_push_key(ctx, key);

					managed = true;
					rctx_error(
						ctx, daemon->pairs[i].key,
						"'%s' is managed by bootstrap (remove it; set docker.endpoint: tls to serve the API over TLS)",
						key);
					rctx_pop(ctx, s3);
				}
			}
			json = yaml_to_json(ctx, daemon, false);
			d->daemon_json = cJSON_PrintUnformatted(json);
			cJSON_Delete(json);
			if (!managed)
				check_daemon_json(ctx, daemon, d->daemon_json);
		}
		rctx_pop(ctx, s2);
	}
	rctx_pop(ctx, saved);
defaults:
	if (d->package == NULL)
		d->package = bs_xstrdup("docker.io");
}

static bool is_ip_address(const char *v)
{
	unsigned char addr[16];

	return inet_pton(AF_INET, v, addr) == 1 || inet_pton(AF_INET6, v, addr) == 1;
}

/* What cluster.advertise may name: "private", an interface (Linux: 1 to
 * 15 bytes, no '/', ':' or space), or an IPv4/IPv6 address. */
static bool advertise_ok(const char *v)
{
	size_t n = strlen(v);

	if (strcmp(v, "private") == 0)
		return true;
	if (is_ip_address(v))
		return true;
	if (n == 0 || n > 15 || strcmp(v, ".") == 0 || strcmp(v, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)v[i]) && strchr(".-_", v[i]) == NULL)
			return false;
	return true;
}

/* cluster: {type: swarm, managers: [...], publish: ingress|host,
 * encrypt: auto|true|false, advertise: IFACE|ADDRESS|private} */
static void parse_cluster(struct bs_rctx *ctx, const struct bs_ynode *map)
{
	static const char *const keys[] = {"type",    "managers",  "publish",
					   "encrypt", "advertise", NULL};
	static const char *const types[] = {"swarm", NULL};
	struct bs_recipe *r = ctx->recipe;
	struct bs_cluster_conf *c = &r->cluster;
	size_t saved, i, n_managers = 0;
	int choice;

	if (map == NULL || bs_ynode_is_null(map))
		return;
	saved = rctx_push_key(ctx, "cluster");
	c->loc = rctx_loc(map);
	if (!rctx_want_map(ctx, map))
		goto out;
	rctx_check_keys(ctx, map, keys);
	if (rctx_get_choice(ctx, map, "type", types, &choice))
		c->type = BS_CLUSTER_SWARM;
	else if (bs_ynode_get(map, "type") == NULL)
		rctx_missing(ctx, map, "type", "cluster: {type: swarm}");
	rctx_get_selectors(ctx, map, "managers", &c->managers);
	c->publish_loc =
		rctx_loc(bs_ynode_get(map, "publish") ? bs_ynode_get(map, "publish") : map);
	if (rctx_get_choice(ctx, map, "publish", publish_names, &choice))
		c->publish = (enum bs_publish_mode)choice;
	if (rctx_get_choice(ctx, map, "encrypt", encrypt_names, &choice))
		c->encrypt = (enum bs_encrypt_mode)choice;
	if (rctx_get_str(ctx, map, "advertise", NULL, &c->advertise) &&
	    !advertise_ok(c->advertise)) {
		size_t s2 = rctx_push_key(ctx, "advertise");

		rctx_error(ctx, bs_ynode_get(map, "advertise"),
			   "'%.100s' is not an interface name, an IP address or 'private' (for "
			   "example eth1, 10.0.0.2 or private)",
			   c->advertise);
		rctx_pop(ctx, s2);
		free(c->advertise);
		c->advertise = NULL;
	} else if (c->advertise != NULL && r->n_nodes > 1 && is_ip_address(c->advertise)) {
		size_t s2 = rctx_push_key(ctx, "advertise");

		rctx_error(ctx, bs_ynode_get(map, "advertise"),
			   "an address is one node's, and the recipe has %zu nodes: name the "
			   "interface (eth1), or use private",
			   r->n_nodes);
		rctx_pop(ctx, s2);
	}
	for (i = 0; i < c->managers.n; i++) {
		const struct bs_selector *sel = &c->managers.v[i];
		size_t hits = 0, s2 = rctx_push_key(ctx, "managers"), s3 = rctx_push_index(ctx, i);

		for (size_t k = 0; k < r->n_nodes; k++)
			hits += bs_selector_matches(sel, &r->nodes[k]);
		if (hits == 0 && r->n_nodes > 0)
			rctx_error_loc(
				ctx, sel->loc,
				"no node matches manager selector %.100s%s%.100s (name a node "
				"from nodes:, or select by label with key=value)",
				sel->key, sel->value ? "=" : "", sel->value ? sel->value : "");
		rctx_pop(ctx, s3);
		rctx_pop(ctx, s2);
	}
	for (i = 0; i < r->n_nodes; i++)
		n_managers += bs_cluster_is_manager(r, &r->nodes[i]);
	if (c->type == BS_CLUSTER_SWARM && n_managers > 0 && n_managers % 2 == 0)
		rctx_warn(ctx, bs_ynode_get(map, "managers") ? bs_ynode_get(map, "managers") : map,
			  "%zu managers tolerate no more failures than %zu: Raft needs a "
			  "majority, so use an odd number (1, 3 or 5)",
			  n_managers, n_managers - 1);
	if (c->type == BS_CLUSTER_SWARM && r->provider.type == BS_PROVIDER_ENGINE)
		rctx_error(ctx, map,
			   "a cluster is made over SSH (bootstrap finds each node's address and "
			   "joins it): use provider static, local or a cloud, not engine");
out:
	rctx_pop(ctx, saved);
}

static void parse_registries(struct bs_rctx *ctx, const struct bs_ynode *seq)
{
	static const char *const keys[] = {"server", "username", "password", NULL};
	struct bs_recipe *r = ctx->recipe;
	size_t saved, i, j;

	if (seq == NULL || bs_ynode_is_null(seq))
		return;
	saved = rctx_push_key(ctx, "registries");
	if (!rctx_want_seq(ctx, seq))
		goto out;
	r->registries = bs_xcalloc(seq->n, sizeof(*r->registries));
	for (i = 0; i < seq->n; i++) {
		const struct bs_ynode *map = seq->items[i];
		struct bs_registry *reg = &r->registries[r->n_registries];
		size_t s2 = rctx_push_index(ctx, i);

		if (!rctx_want_map(ctx, map)) {
			rctx_pop(ctx, s2);
			continue;
		}
		r->n_registries++;
		reg->loc = rctx_loc(map);
		rctx_check_keys(ctx, map, keys);
		if (rctx_get_str(ctx, map, "server", "server: registry.example.com",
				 &reg->server)) {
			const char *s = reg->server;
			bool ok = s[0] != '\0' && strcspn(s, "/@?#\\ ") == strlen(s);

			for (const char *c = s; ok && *c != '\0'; c++)
				ok = (unsigned char)*c > 0x20 && *c != 0x7f;
			size_t s3 = rctx_push_key(ctx, "server");

			if (!ok)
				rctx_error(
					ctx, bs_ynode_get(map, "server"),
					"'%.200s' is not a registry host (write host[:port] only, like registry.example.com:5000)",
					s);
			for (j = 0; j + 1 < r->n_registries; j++)
				if (r->registries[j].server != NULL &&
				    strcmp(r->registries[j].server, s) == 0)
					rctx_error(
						ctx, bs_ynode_get(map, "server"),
						"registry %.200s is listed twice (first at line %d); keep one",
						s, r->registries[j].loc.line);
			rctx_pop(ctx, s3);
		}
		rctx_get_str(ctx, map, "username", NULL, &reg->username);
		rctx_get_str(ctx, map, "password", NULL, &reg->password);
		warn_literal_secret(ctx, map, "password");
		if ((reg->username == NULL) != (reg->password == NULL))
			rctx_error(ctx, map,
				   "give both username and password, or neither (anonymous)");
		rctx_pop(ctx, s2);
	}
out:
	rctx_pop(ctx, saved);
}

/* Is host[:port] covered by an insecure-registries entry: the same text, or
 * an IPv4 CIDR holding its address? */
static bool insecure_entry_covers(const char *entry, const char *server)
{
	char host[64], net[64];
	const char *slash = strchr(entry, '/');
	const char *colon = server[0] == '[' ? strstr(server, "]:") : strchr(server, ':');
	struct in_addr a, n;
	unsigned char a6[16], n6[16];
	size_t hlen = colon ? (size_t)(colon - server) + (server[0] == '[') : strlen(server);
	long bits;
	uint32_t mask;

	if (strcmp(entry, server) == 0)
		return true;
	if (slash == NULL || (size_t)(slash - entry) >= sizeof(net) || hlen >= sizeof(host))
		return false;
	memcpy(net, entry, (size_t)(slash - entry));
	net[slash - entry] = '\0';
	memcpy(host, server, hlen);
	host[hlen] = '\0';
	if (strspn(slash + 1, "0123456789") != strlen(slash + 1) || slash[1] == '\0' ||
	    strlen(slash + 1) > 3)
		return false;
	bits = strtol(slash + 1, NULL, 10);
	if (inet_pton(AF_INET, net, &n) == 1) {
		if (bits > 32 || inet_pton(AF_INET, host, &a) != 1)
			return false;
		mask = bits == 0 ? 0 : htonl(0xffffffffu << (32 - bits));
		return (a.s_addr & mask) == (n.s_addr & mask);
	}
	if (inet_pton(AF_INET6, net, n6) == 1) {
		/* a v6 registry is written [addr]:port */
		if (bits > 128 || host[0] != '[')
			return false;
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = '\0';
		if (inet_pton(AF_INET6, host, a6) != 1)
			return false;
		for (long k = 0; k < bits; k++) {
			unsigned m = 0x80u >> (k % 8);

			if ((a6[k / 8] & m) != (n6[k / 8] & m))
				return false;
		}
		return true;
	}
	return false;
}

/* An address range in insecure-registries covers a registry given by name
 * when the name resolves into it, which only the engines know: say so. */
static bool is_cidr(const char *entry)
{
	return strchr(entry, '/') != NULL;
}

/* A registry the engines may speak plain HTTP to (docker.daemon's
 * insecure-registries) gets no credentials unless it is on loopback: the
 * engine would send them in clear text. */
static void check_insecure_credentials(struct bs_rctx *ctx, const struct bs_ynode *root)
{
	const struct bs_ynode *docker = bs_ynode_get(root, "docker");
	const struct bs_ynode *daemon = docker ? bs_ynode_get(docker, "daemon") : NULL;
	const struct bs_ynode *seq = daemon ? bs_ynode_get(daemon, "insecure-registries") : NULL;
	struct bs_recipe *r = ctx->recipe;
	size_t i, j;

	if (seq == NULL || seq->kind != BS_YNODE_SEQ)
		return;
	for (i = 0; i < r->n_registries; i++) {
		const struct bs_registry *reg = &r->registries[i];
		const struct bs_ynode *hit = NULL, *range = NULL;
		unsigned char ip[16];
		char bare[64];
		size_t blen = strcspn(reg->server ? reg->server : "", ":"), s1, s2;
		bool named;

		if (reg->server == NULL || reg->password == NULL ||
		    bs_host_is_loopback(reg->server))
			continue;
		snprintf(bare, sizeof(bare), "%.*s", (int)(blen < 63 ? blen : 63), reg->server);
		named = reg->server[0] != '[' && inet_pton(AF_INET, bare, ip) != 1;
		for (j = 0; j < seq->n && hit == NULL; j++) {
			const struct bs_ynode *e = seq->items[j];

			if (e->kind != BS_YNODE_SCALAR || e->value == NULL)
				continue;
			if (insecure_entry_covers(e->value, reg->server))
				hit = e;
			else if (named && is_cidr(e->value) && range == NULL)
				range = e;
		}
		if (hit == NULL && range == NULL)
			continue;
		s1 = rctx_push_key(ctx, "registries");
		s2 = rctx_push_index(ctx, i);
		if (hit != NULL)
			rctx_error_loc(
				ctx, reg->loc,
				"%.200s has credentials but docker.daemon.insecure-registries lists it "
				"(line %d): the engines would send them over plain HTTP; serve the "
				"registry over TLS and drop it from insecure-registries",
				reg->server, hit->line);
		else
			rctx_warn_loc(
				ctx, reg->loc,
				"%.200s has credentials, and docker.daemon.insecure-registries lists "
				"the range %.60s (line %d): if the name resolves into it, the engines "
				"send them over plain HTTP; serve the registry over TLS",
				reg->server, range->value, range->line);
		rctx_pop(ctx, s2);
		rctx_pop(ctx, s1);
	}
}

static void parse_root(struct bs_rctx *ctx, struct bs_ynode *root)
{
	static const char *const keys[] = {
		"version", "project",	 "provider", "ssh",	"nodes",   "docker", "registries",
		"images",  "containers", "prune",    "cluster", "domains", NULL};
	struct bs_recipe *r = ctx->recipe;
	const struct bs_ynode *v;
	size_t i;

	/* top-level x- keys are extension fields (anchors), as in Compose */
	for (i = 0; i < root->n; i++) {
		const struct bs_ynode *key = root->pairs[i].key;
		size_t j;
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
					"unknown key (top-level keys: version, project, provider, ssh, nodes, docker, cluster, domains, registries, images, containers, prune; x-* for your own anchors)");
			rctx_pop(ctx, saved);
		}
	}

	v = bs_ynode_get(root, "version");
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
	parse_provider(ctx, bs_ynode_get(root, "provider"));
	parse_ssh(ctx, bs_ynode_get(root, "ssh"));
	parse_nodes(ctx, bs_ynode_get(root, "nodes"), root);
	parse_docker(ctx, bs_ynode_get(root, "docker"));
	if (r->provider.type == BS_PROVIDER_ENGINE)
		for (i = 0; i < 2; i++) {
			const char *key = i == 0 ? "ssh" : "docker";
			const struct bs_ynode *at = NULL;
			size_t saved;

			for (size_t k = 0; k < root->n && at == NULL; k++)
				if (!root->pairs[k].key->bad &&
				    strcmp(root->pairs[k].key->value, key) == 0)
					at = root->pairs[k].key;
			if (at == NULL)
				continue;
			saved = rctx_push_key(ctx, key);
			rctx_error(
				ctx, at,
				"provider engine talks to running engines directly: bootstrap "
				"neither logs in to nor installs or configures them, so %s: does "
				"not apply (remove it, or use provider static to manage hosts "
				"over SSH)",
				key);
			rctx_pop(ctx, saved);
		}
	parse_cluster(ctx, bs_ynode_get(root, "cluster"));
	parse_registries(ctx, bs_ynode_get(root, "registries"));
	check_insecure_credentials(ctx, root);
	bs_recipe_parse_images(ctx, bs_ynode_get(root, "images"));
	bs_recipe_parse_domains(ctx, bs_ynode_get(root, "domains"));
	bs_recipe_parse_containers(ctx, bs_ynode_get(root, "containers"));
	rctx_get_bool(ctx, root, "prune", &r->prune);
	bs_recipe_check_containers(ctx, root);
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
	for (i = 0; i < r->n_nodes; i++) {
		free(r->nodes[i].name);
		free(r->nodes[i].group);
		bs_kvlist_free(&r->nodes[i].labels);
		free(r->nodes[i].address);
		free(r->nodes[i].user);
		free(r->nodes[i].size);
		free(r->nodes[i].engine);
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
	free(r);
}
