/*
 * recipe_docker.c - the docker: section (how Docker is installed and
 * configured on each node, daemon.json checked key by key with dockerd's
 * rules) and registries: (logins), with the check that no login goes to a
 * registry the engines reach over plain HTTP.
 */
#include <arpa/inet.h>
#include <cJSON.h>
#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/recipe_priv.h"
#include "provision/dockerhost.h"
#include "util/error.h"
#include "util/url.h"

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

static void check_package(struct bs_rctx *ctx, const struct rkey *key, const struct bs_ynode *at,
			  void *section)
{
	struct bs_docker_conf *d = section;
	bool ok = isalnum((unsigned char)d->package[0]);

	(void)key;
	for (const char *c = d->package; *c != '\0'; c++)
		ok = ok && (islower((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '+' ||
			    *c == '-' || *c == '.');
	if (!ok)
		rctx_error(ctx, at, "'%.100s' is not a package name (like docker.io or docker-ce)",
			   d->package);
}

/* the rule the node step applies: Debian's version syntax */
static void check_version(struct bs_rctx *ctx, const struct rkey *key, const struct bs_ynode *at,
			  void *section)
{
	struct bs_docker_conf *d = section;
	struct bs_err err = BS_ERR_INIT;

	(void)key;
	if (bs_dockerhost_check_package("docker.io", d->version, &err) != 0)
		rctx_error(ctx, at, "%s",
			   bs_str_starts_with(err.msg, "docker.version ")
				   ? err.msg + strlen("docker.version ")
				   : err.msg);
}

/* daemon: daemon.json as YAML, without what bootstrap manages itself. */
static void read_daemon(struct bs_rctx *ctx, const struct rkey *key, const struct bs_ynode *map,
			void *section)
{
	struct bs_docker_conf *d = section;
	const struct bs_ynode *daemon = bs_ynode_get(map, key->key);
	bool managed = false;
	cJSON *json;
	size_t saved;

	if (daemon == NULL || bs_ynode_is_null(daemon))
		return;
	saved = rctx_push_key(ctx, key->key);
	if (!rctx_want_map(ctx, daemon))
		goto out;
	for (size_t i = 0; i < daemon->n; i++) {
		const char *name = daemon->pairs[i].key->value;

		if (strcmp(name, "hosts") == 0 || bs_str_starts_with(name, "tls")) {
			size_t s2 = rctx_push_key(ctx, name);

			managed = true;
			rctx_error(
				ctx, daemon->pairs[i].key,
				"'%s' is managed by bootstrap (remove it; set docker.endpoint: tls to serve the API over TLS)",
				name);
			rctx_pop(ctx, s2);
		}
	}
	json = yaml_to_json(ctx, daemon, false);
	d->daemon_json = cJSON_PrintUnformatted(json);
	cJSON_Delete(json);
	if (!managed)
		check_daemon_json(ctx, daemon, d->daemon_json);
out:
	rctx_pop(ctx, saved);
}

static const char *const docker_installs[] = {"auto", "never", NULL};
static const char *const docker_endpoints[] = {"ssh", "tls", NULL};

#define DOCKER(field) offsetof(struct bs_docker_conf, field)

_Static_assert(sizeof(enum bs_docker_install) == sizeof(int), "RK_CHOICE stores an int");
_Static_assert(sizeof(enum bs_docker_endpoint) == sizeof(int), "RK_CHOICE stores an int");

/* clang-format off */
static const struct rkey docker_keys[] = {
	{"install", RK_CHOICE, .field = DOCKER(install), .arg = docker_installs},
	{"package", RK_STR, .field = DOCKER(package), .check = check_package},
	{"version", RK_STR, .field = DOCKER(version), .check = check_version},
	{"endpoint", RK_CHOICE, .field = DOCKER(endpoint), .arg = docker_endpoints},
	{"tls_port", RK_INT, .field = DOCKER(tls_port), .lo = 1, .hi = 65535},
	{"daemon", RK_FN, .check = read_daemon},
	{.key = NULL},
};
/* clang-format on */

/* Is some node reached through jump hosts? (ssh: and nodes: come first) */
static bool behind_jump(const struct bs_recipe *r)
{
	for (size_t i = 0; i < r->n_nodes; i++)
		if (r->nodes[i].jump_set ? r->nodes[i].jump.n > 0 : r->ssh.jump.n > 0)
			return true;
	return false;
}

void bs_recipe_parse_docker(struct bs_rctx *ctx, const struct bs_ynode *map)
{
	/* the order the message about an unknown key lists them in */
	static const char *const keys[] = {"install",  "package",  "version", "daemon",
					   "endpoint", "tls_port", NULL};
	struct bs_docker_conf *d = &ctx->recipe->docker;
	size_t saved;

	d->tls_port = 2376;
	if (map == NULL)
		goto defaults;
	saved = rctx_push_key(ctx, "docker");
	if (rctx_want_map(ctx, map))
		rctx_read_keys(ctx, map, keys, docker_keys, d);
	if (d->endpoint == BS_DOCKER_ENDPOINT_TLS && behind_jump(ctx->recipe)) {
		size_t s2 = rctx_push_key(ctx, "endpoint");

		rctx_error(ctx, bs_ynode_get(map, "endpoint"),
			   "endpoint: tls reaches each engine's TCP port at the node's address, "
			   "which nodes behind jump hosts do not answer; use endpoint: ssh (the "
			   "engine through the SSH session, carried through the jump hosts)");
		rctx_pop(ctx, s2);
	}
	rctx_pop(ctx, saved);
defaults:
	if (d->package == NULL)
		d->package = bs_xstrdup("docker.io");
}

/* server: host[:port], once in the list. */
static void check_registry_server(struct bs_rctx *ctx, const struct bs_ynode *map)
{
	const struct bs_recipe *r = ctx->recipe;
	const char *s = r->registries[r->n_registries - 1].server;
	bool ok = s[0] != '\0' && strcspn(s, "/@?#\\ ") == strlen(s);
	size_t saved = rctx_push_key(ctx, "server");

	for (const char *c = s; ok && *c != '\0'; c++)
		ok = (unsigned char)*c > 0x20 && *c != 0x7f;
	if (!ok)
		rctx_error(
			ctx, bs_ynode_get(map, "server"),
			"'%.200s' is not a registry host (write host[:port] only, like registry.example.com:5000)",
			s);
	for (size_t j = 0; j + 1 < r->n_registries; j++)
		if (r->registries[j].server != NULL && strcmp(r->registries[j].server, s) == 0)
			rctx_error(ctx, bs_ynode_get(map, "server"),
				   "registry %.200s is listed twice (first at line %d); keep one",
				   s, r->registries[j].loc.line);
	rctx_pop(ctx, saved);
}

static void parse_registry(struct bs_rctx *ctx, const struct bs_ynode *map)
{
	static const char *const keys[] = {"server", "username", "password", NULL};
	struct bs_recipe *r = ctx->recipe;
	struct bs_registry *reg = &r->registries[r->n_registries++];

	reg->loc = rctx_loc(map);
	rctx_check_keys(ctx, map, keys);
	if (rctx_get_str(ctx, map, "server", "server: registry.example.com", &reg->server))
		check_registry_server(ctx, map);
	rctx_get_str(ctx, map, "username", NULL, &reg->username);
	rctx_get_str(ctx, map, "password", NULL, &reg->password);
	rctx_warn_literal_secret(ctx, map, "password");
	if ((reg->username == NULL) != (reg->password == NULL))
		rctx_error(ctx, map, "give both username and password, or neither (anonymous)");
}

void bs_recipe_parse_registries(struct bs_rctx *ctx, const struct bs_ynode *seq)
{
	rctx_read_list(ctx, seq, "registries", (void **)&ctx->recipe->registries,
		       sizeof(struct bs_registry), parse_registry);
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
void bs_recipe_check_insecure_credentials(struct bs_rctx *ctx, const struct bs_ynode *root)
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
