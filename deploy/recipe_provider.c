/*
 * recipe_provider.c - the provider: and ssh: sections: where the machines
 * come from (local containers, static hosts, a cloud, or engines reached
 * directly) and how bootstrap logs in to them.
 *
 * A provider type takes its own keys; a key of another type is reported as
 * such, so a recipe moved from one cloud to another says what to change.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/recipe_priv.h"
#include "provision/tunnel.h"
#include "util/url.h"

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

static const char *const local_keys[] = {"type", "image", "engine", "init", NULL};
static const char *const static_keys[] = {"type", NULL};
static const char *const hetzner_keys[] = {"type",	  "token", "token_env", "location",
					   "server_type", "image", "api_url",	NULL};
static const char *const do_keys[] = {"type", "token", "token_env", "region",
				      "size", "image", "api_url",   NULL};
static const char *const engine_keys[] = {"type", NULL};
/* by enum bs_provider_type */
static const char *const *const keys_by_type[] = {local_keys, static_keys, hetzner_keys, do_keys,
						  engine_keys};

/* A key no provider type takes: the closest of this type's, or all of them. */
static void report_unknown_key(struct bs_rctx *ctx, const struct bs_ynode *key, int type)
{
	const char *const *mine = keys_by_type[type];
	const char *s = bs_suggest(key->value, mine);
	size_t saved = rctx_push_key(ctx, key->value);
	char list[256];

	rctx_join_names(list, sizeof(list), mine);
	if (s != NULL)
		rctx_error(ctx, key, "unknown key (did you mean '%s'?)", s);
	else
		rctx_error(ctx, key, "unknown key (provider %s takes: %s)",
			   bs_provider_type_names[type], list);
	rctx_pop(ctx, saved);
}

/* A key of another provider type gets a message that says so. */
static void check_provider_keys(struct bs_rctx *ctx, const struct bs_ynode *map, int type)
{
	const char *const *mine = keys_by_type[type];
	size_t i, j;
	int t;

	for (i = 0; i < map->n; i++) {
		const char *key = map->pairs[i].key->value;
		bool known = false, other = false;

		for (j = 0; mine[j] != NULL; j++)
			known = known || strcmp(mine[j], key) == 0;
		for (t = 0; t < 5 && !known && !other; t++)
			for (j = 0; keys_by_type[t][j] != NULL; j++)
				if (strcmp(keys_by_type[t][j], key) == 0) {
					size_t s2 = rctx_push_key(ctx, key);

					rctx_error(
						ctx, map->pairs[i].key,
						"'%s' is a key of provider type %s, not %s (remove it or change type)",
						key, bs_provider_type_names[t],
						bs_provider_type_names[type]);
					rctx_pop(ctx, s2);
					other = true;
					break;
				}
		if (!known && !other)
			report_unknown_key(ctx, map->pairs[i].key, type);
	}
}

static void parse_local(struct bs_rctx *ctx, const struct bs_ynode *map, struct bs_provider *p)
{
	if (!rctx_get_str(ctx, map, "image", NULL, &p->image))
		p->image = bs_xstrdup("bootstrap/node:bookworm");
	parse_node_init(ctx, map, &p->init);
	if (!rctx_get_str(ctx, map, "engine", NULL, &p->engine)) {
		p->engine = bs_xstrdup("unix:///var/run/docker.sock");
	} else if (!bs_str_starts_with(p->engine, "unix://") &&
		   !bs_str_starts_with(p->engine, "tcp://")) {
		size_t saved = rctx_push_key(ctx, "engine");

		rctx_error(
			ctx, bs_ynode_get(map, "engine"),
			"'%.200s' is not an engine URL (write unix:///var/run/docker.sock or tcp://HOST:2376)",
			p->engine);
		rctx_pop(ctx, saved);
	}
}

/* token or token_env (a variable's name, default the cloud CLI's). */
static void parse_token(struct bs_rctx *ctx, const struct bs_ynode *map, struct bs_provider *p,
			const char *default_env)
{
	const struct bs_ynode *at = bs_ynode_get(map, "token_env");
	size_t saved;
	bool ok;

	rctx_get_str(ctx, map, "token", NULL, &p->token);
	rctx_warn_literal_secret(ctx, map, "token");
	if (!rctx_get_str(ctx, map, "token_env", NULL, &p->token_env)) {
		p->token_env = bs_xstrdup(default_env);
		return;
	}
	ok = p->token_env[0] != '\0' && !isdigit((unsigned char)p->token_env[0]);
	for (const char *c = p->token_env; *c != '\0'; c++)
		ok = ok && (isalnum((unsigned char)*c) || *c == '_');
	saved = rctx_push_key(ctx, "token_env");
	if (!ok)
		rctx_error(ctx, at,
			   "'%.100s' is not an environment variable name (letters, digits, '_')",
			   p->token_env);
	if (p->token != NULL)
		rctx_error(ctx, at, "give token or token_env, not both");
	rctx_pop(ctx, saved);
}

/* What differs between the clouds: key names and defaults. */
struct cloud {
	const char *token_env;
	const char *region_key, *region_hint;
	const char *size_key, *size;
	const char *image;
	const char *api_url;
};

static const struct cloud hetzner = {
	"HCLOUD_TOKEN",
	"location",
	"location: fsn1, nbg1, hel1, ash, hil or sin",
	"server_type",
	"cx22",
	"debian-12",
	"https://api.hetzner.cloud/v1",
};
static const struct cloud digitalocean = {
	"DIGITALOCEAN_TOKEN", "region",	       "region: fra1, ams3, nyc3, sfo3, ...", "size",
	"s-1vcpu-1gb",	      "debian-12-x64", "https://api.digitalocean.com/v2",
};

static void parse_cloud(struct bs_rctx *ctx, const struct bs_ynode *map, struct bs_provider *p,
			const struct cloud *cloud)
{
	parse_token(ctx, map, p, cloud->token_env);
	rctx_get_str(ctx, map, cloud->region_key, cloud->region_hint, &p->region);
	if (!rctx_get_str(ctx, map, cloud->size_key, NULL, &p->size))
		p->size = bs_xstrdup(cloud->size);
	if (!rctx_get_str(ctx, map, "image", NULL, &p->image))
		p->image = bs_xstrdup(cloud->image);
	if (!rctx_get_str(ctx, map, "api_url", NULL, &p->api_url))
		p->api_url = bs_xstrdup(cloud->api_url);
	else
		check_api_url(ctx, bs_ynode_get(map, "api_url"), p->api_url);
}

void bs_recipe_parse_provider(struct bs_rctx *ctx, const struct bs_ynode *map)
{
	struct bs_provider *p = &ctx->recipe->provider;
	int type = BS_PROVIDER_LOCAL;
	size_t saved;

	p->loc = rctx_loc(map);
	if (map == NULL) {
		p->image = bs_xstrdup("bootstrap/node:bookworm");
		p->engine = bs_xstrdup("unix:///var/run/docker.sock");
		return;
	}
	saved = rctx_push_key(ctx, "provider");
	if (!rctx_want_map(ctx, map))
		goto out;
	if (!rctx_get_choice(ctx, map, "type", bs_provider_type_names, &type)) {
		if (rctx_absent(map, "type"))
			rctx_missing(ctx, map, "type",
				     "type: local, static, hetzner, digitalocean or engine");
		/* with no known type, its other keys cannot be judged */
		goto out;
	}
	p->type = (enum bs_provider_type)type;
	check_provider_keys(ctx, map, type);
	if (p->type == BS_PROVIDER_LOCAL)
		parse_local(ctx, map, p);
	else if (p->type == BS_PROVIDER_HETZNER)
		parse_cloud(ctx, map, p, &hetzner);
	else if (p->type == BS_PROVIDER_DIGITALOCEAN)
		parse_cloud(ctx, map, p, &digitalocean);
out:
	rctx_pop(ctx, saved);
}

/* host_keys: accept-new or strict; turning checking off is refused. */
static void read_host_keys(struct bs_rctx *ctx, const struct rkey *key, const struct bs_ynode *map,
			   void *section)
{
	static const char *const policies[] = {"accept-new", "strict", NULL};
	struct bs_ssh_conf *s = section;
	const struct bs_ynode *hk = bs_ynode_get(map, key->key);
	int policy;

	if (hk != NULL && hk->kind == BS_YNODE_SCALAR &&
	    (strcmp(hk->value, "no") == 0 || strcmp(hk->value, "off") == 0 ||
	     strcmp(hk->value, "false") == 0 || strcmp(hk->value, "ignore") == 0 ||
	     strcmp(hk->value, "insecure") == 0)) {
		size_t saved = rctx_push_key(ctx, key->key);

		rctx_error(
			ctx, hk,
			"host key checking cannot be turned off (use accept-new: trust on first use, then pinned)");
		rctx_pop(ctx, saved);
	} else if (rctx_get_choice(ctx, map, key->key, policies, &policy)) {
		s->host_keys = (enum bs_host_key_policy)policy;
	}
}

/*
 * jump: one [USER@]HOST[:PORT] or a list of them, the first hop first (as
 * OpenSSH's ProxyJump). Each is checked here, where its line is known.
 * True when the key is there (an empty list: no jump host).
 */
bool bs_recipe_read_jump(struct bs_rctx *ctx, const struct bs_ynode *map, struct bs_strv *out)
{
	const struct bs_ynode *v = bs_ynode_get(map, "jump");
	size_t saved, n;

	if (v == NULL || bs_ynode_is_null(v))
		return false;
	saved = rctx_push_key(ctx, "jump");
	n = v->kind == BS_YNODE_SEQ ? v->n : 1;
	if (v->kind == BS_YNODE_MAP) {
		rctx_error(ctx, v, "expected a jump host (USER@HOST[:PORT]) or a list of them");
		n = 0;
	}
	for (size_t i = 0; i < n; i++) {
		const struct bs_ynode *h = v->kind == BS_YNODE_SEQ ? v->items[i] : v;
		size_t s2 = v->kind == BS_YNODE_SEQ ? rctx_push_index(ctx, i) : 0;
		struct bs_ssh_url u;
		struct bs_err err = BS_ERR_INIT;
		char *url;

		if (h->kind != BS_YNODE_SCALAR || h->value[0] == '\0') {
			rctx_error(ctx, h, "expected a jump host, USER@HOST[:PORT]");
		} else if (strstr(h->value, "://") != NULL) {
			rctx_error(ctx, h,
				   "write the jump host as USER@HOST[:PORT], without a scheme");
		} else {
			url = bs_xasprintf("ssh://%s", h->value);
			if (bs_ssh_url_parse(url, &u, &err) != 0) {
				rctx_error(ctx, h,
					   "'%.200s' is not a jump host: write USER@HOST[:PORT] "
					   "(IPv6 as [::1])",
					   h->value);
			} else {
				bs_strv_push(out, h->value);
				bs_ssh_url_free(&u);
			}
			free(url);
		}
		if (v->kind == BS_YNODE_SEQ)
			rctx_pop(ctx, s2);
	}
	if (n > 16)
		rctx_error(ctx, v, "at most 16 jump hosts");
	rctx_pop(ctx, saved);
	return true;
}

static void read_jump(struct bs_rctx *ctx, const struct rkey *key, const struct bs_ynode *map,
		      void *section)
{
	struct bs_ssh_conf *s = section;

	(void)key;
	bs_recipe_read_jump(ctx, map, &s->jump);
}

#define SSH(field) offsetof(struct bs_ssh_conf, field)

/* clang-format off */
static const struct rkey ssh_keys[] = {
	{"user", RK_STR, .field = SSH(user)},
	{"port", RK_INT, .field = SSH(port), .lo = 1, .hi = 65535},
	{"key", RK_STR, .field = SSH(key)},
	{"agent", RK_BOOL, .field = SSH(agent)},
	{"passphrase", RK_STR, .field = SSH(passphrase)},
	{"password", RK_STR, .field = SSH(password)},
	{"passphrase", RK_FN, .check = rctx_check_literal_secret},
	{"password", RK_FN, .check = rctx_check_literal_secret},
	{"known_hosts", RK_STR, .field = SSH(known_hosts)},
	{"host_keys", RK_FN, .check = read_host_keys},
	{"connect_timeout", RK_DURATION, .field = SSH(connect_timeout_ms), .lo = 100},
	{"wait_timeout", RK_DURATION, .field = SSH(wait_timeout_ms), .lo = 1000},
	{"jump", RK_FN, .check = read_jump},
	{.key = NULL},
};
/* clang-format on */

void bs_recipe_parse_ssh(struct bs_rctx *ctx, const struct bs_ynode *map)
{
	struct bs_ssh_conf *s = &ctx->recipe->ssh;
	size_t saved;

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
	rctx_read_keys(ctx, map, NULL, ssh_keys, s);
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
