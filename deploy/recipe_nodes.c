/*
 * recipe_nodes.c - the nodes: and cluster: sections: the machines (an entry
 * with count: N is N nodes, NAME-1 to NAME-N), what each provider type lets
 * an entry say, and the swarm the nodes may form.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deploy/recipe_priv.h"

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

static void read_node_name(struct bs_rctx *ctx, const struct bs_ynode *map, char **name)
{
	size_t saved;

	if (!rctx_get_str(ctx, map, "name", "name: web", name) || bs_recipe_is_dns_label(*name))
		return;
	saved = rctx_push_key(ctx, "name");
	rctx_error(
		ctx, bs_ynode_get(map, "name"),
		"'%.100s' is not a valid node name (lowercase letters, digits and '-', at most 63, like web or db-1)",
		*name);
	rctx_pop(ctx, saved);
	free(*name);
	*name = NULL;
}

/* engine: is provider engine's, which reaches engines by URL, not SSH. */
static void read_node_engine(struct bs_rctx *ctx, const struct bs_ynode *map, struct bs_node *n,
			     bool *has_count)
{
	static const char *const ssh_keys[] = {"count", "address", "port", "user"};
	enum bs_provider_type type = ctx->recipe->provider.type;
	const struct bs_ynode *v = bs_ynode_get(map, "engine");
	size_t saved, k;

	if (type != BS_PROVIDER_ENGINE) {
		if (v == NULL)
			return;
		saved = rctx_push_key(ctx, "engine");
		rctx_error(ctx, v,
			   "engine is for provider type engine (engines reached directly); "
			   "provider %s reaches nodes over SSH",
			   bs_provider_type_names[type]);
		rctx_pop(ctx, saved);
		return;
	}
	if (rctx_get_str(ctx, map, "engine", NULL, &n->engine) &&
	    !bs_str_starts_with(n->engine, "unix:///") &&
	    !bs_str_starts_with(n->engine, "tcp://")) {
		saved = rctx_push_key(ctx, "engine");
		rctx_error(
			ctx, v,
			"'%.200s' is not an engine URL (write unix:///var/run/docker.sock, or tcp://HOST:2376 with TLS; reach an engine over SSH with provider static instead)",
			n->engine);
		rctx_pop(ctx, saved);
	}
	for (k = 0; k < 4; k++) {
		const struct bs_ynode *sv = bs_ynode_get(map, ssh_keys[k]);

		if (sv == NULL)
			continue;
		saved = rctx_push_key(ctx, ssh_keys[k]);
		rctx_error(ctx, sv,
			   "provider engine reaches each engine by its URL: give each "
			   "engine its own entry with engine: URL (%s does not apply)",
			   ssh_keys[k]);
		rctx_pop(ctx, saved);
		*has_count = k == 0 ? false : *has_count;
	}
}

/* address: is for static hosts, which are listed one by one. */
static void check_node_address(struct bs_rctx *ctx, const struct bs_ynode *map, bool *has_count)
{
	enum bs_provider_type type = ctx->recipe->provider.type;
	const struct bs_ynode *v = bs_ynode_get(map, "address");
	size_t saved;

	if (type == BS_PROVIDER_ENGINE)
		return; /* reported with engine */
	if (type != BS_PROVIDER_STATIC) {
		if (v == NULL)
			return;
		saved = rctx_push_key(ctx, "address");
		rctx_error(
			ctx, v,
			"address is for existing hosts (provider type static); provider %s creates its nodes",
			bs_provider_type_names[type]);
		rctx_pop(ctx, saved);
		return;
	}
	if (v == NULL)
		rctx_missing(ctx, map, "address", "static hosts need address: HOST or IP");
	if (bs_ynode_get(map, "count") != NULL) {
		saved = rctx_push_key(ctx, "count");
		rctx_error(
			ctx, bs_ynode_get(map, "count"),
			"static hosts are listed one by one (give each host its own entry with its address)");
		rctx_pop(ctx, saved);
		*has_count = false;
	}
}

/* server_type (hetzner) or size (digitalocean): the cloud's own word. */
static void read_node_size(struct bs_rctx *ctx, const struct bs_ynode *map, char **size)
{
	enum bs_provider_type type = ctx->recipe->provider.type;
	bool cloud = type == BS_PROVIDER_HETZNER || type == BS_PROVIDER_DIGITALOCEAN;
	const char *size_key = type == BS_PROVIDER_HETZNER ? "server_type" : "size";

	for (size_t k = 0; k < 2; k++) {
		const char *key = k == 0 ? "server_type" : "size";
		const struct bs_ynode *sv = bs_ynode_get(map, key);
		size_t saved;

		if (sv == NULL)
			continue;
		if (cloud && strcmp(key, size_key) == 0) {
			rctx_get_str(ctx, map, key, NULL, size);
			continue;
		}
		saved = rctx_push_key(ctx, key);
		rctx_error(ctx, sv, "'%s' does not apply to provider %s%s%s", key,
			   bs_provider_type_names[type], cloud ? " (use " : "",
			   type == BS_PROVIDER_HETZNER	      ? "server_type)"
			   : type == BS_PROVIDER_DIGITALOCEAN ? "size)"
							      : "");
		rctx_pop(ctx, saved);
	}
}

/* The nodes of one entry: itself, or NAME-1 to NAME-count, each with a
 * copy of the entry's values. */
static void add_nodes(struct bs_rctx *ctx, const struct bs_ynode *map, size_t entry,
		      const struct bs_node *e, int count)
{
	struct bs_recipe *r = ctx->recipe;
	size_t first = r->n_nodes, saved;

	if (count == 0) {
		add_node(r, e->name, e->name, 0, map, entry);
	} else if (strlen(e->name) + 4 > 63) {
		saved = rctx_push_key(ctx, "name");
		rctx_error(ctx, bs_ynode_get(map, "name"),
			   "name too long for numbered nodes (at most 59 characters with count)");
		rctx_pop(ctx, saved);
	} else if (r->n_nodes + (size_t)count > BS_MAX_NODES) {
		saved = rctx_push_key(ctx, "count");
		rctx_error(ctx, bs_ynode_get(map, "count"), "a recipe may have at most %d nodes",
			   BS_MAX_NODES);
		rctx_pop(ctx, saved);
	} else {
		for (int i = 1; i <= count; i++) {
			char expanded[80];

			snprintf(expanded, sizeof(expanded), "%s-%d", e->name, i);
			add_node(r, expanded, e->name, i, map, entry);
		}
	}
	for (size_t k = first; k < r->n_nodes; k++) {
		struct bs_node *n = &r->nodes[k];

		for (size_t j = 0; j < e->labels.n; j++)
			bs_kvlist_push(&n->labels, e->labels.v[j].key, e->labels.v[j].value, false);
		n->address = e->address ? bs_xstrdup(e->address) : NULL;
		n->port = e->port;
		n->user = e->user ? bs_xstrdup(e->user) : NULL;
		n->size = e->size ? bs_xstrdup(e->size) : NULL;
		n->engine = e->engine ? bs_xstrdup(e->engine) : NULL;
		n->jump_set = e->jump_set;
		for (size_t j = 0; j < e->jump.n; j++)
			bs_strv_push(&n->jump, e->jump.v[j]);
	}
}

/* One entry of nodes:, read into e (its values), then made into nodes. */
static void parse_node(struct bs_rctx *ctx, const struct bs_ynode *map, size_t entry)
{
	static const char *const keys[] = {"name",   "count", "labels",	     "address",
					   "port",   "user",  "server_type", "size",
					   "engine", "jump",  NULL};
	struct bs_node e = {0};
	int count = 0;
	bool has_count;

	if (!rctx_want_map(ctx, map))
		return;
	rctx_check_keys(ctx, map, keys);
	read_node_name(ctx, map, &e.name);
	has_count = rctx_get_int(ctx, map, "count", 1, 100, &count);
	rctx_get_kvlist(ctx, map, "labels", "label", false, &e.labels);
	bs_recipe_check_reserved_labels(ctx, bs_ynode_get(map, "labels"));
	rctx_get_str(ctx, map, "address", NULL, &e.address);
	rctx_get_int(ctx, map, "port", 1, 65535, &e.port);
	rctx_get_str(ctx, map, "user", NULL, &e.user);
	read_node_engine(ctx, map, &e, &has_count);
	check_node_address(ctx, map, &has_count);
	read_node_size(ctx, map, &e.size);
	e.jump_set = bs_recipe_read_jump(ctx, map, &e.jump);
	if (e.name != NULL)
		add_nodes(ctx, map, entry, &e, has_count ? count : 0);
	bs_kvlist_free(&e.labels);
	free(e.name);
	free(e.address);
	free(e.user);
	free(e.size);
	free(e.engine);
	bs_strv_free(&e.jump);
}

static bool same_strv(const struct bs_strv *a, const struct bs_strv *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcasecmp(a->v[i], b->v[i]) != 0)
			return false;
	return true;
}

/* Two static hosts at one address and port (through the same jump hosts)
 * are one machine: each run would find the other's node lock and stop. */
static void check_same_machine(struct bs_rctx *ctx, const struct bs_ynode *seq)
{
	const struct bs_recipe *r = ctx->recipe;
	int ssh_port = r->ssh.port > 0 ? r->ssh.port : 22;

	for (size_t i = 0; i < r->n_nodes; i++) {
		const struct bs_node *a = &r->nodes[i];

		if (a->address == NULL)
			continue;
		for (size_t j = 0; j < i; j++) {
			const struct bs_node *b = &r->nodes[j];
			int pa = a->port > 0 ? a->port : ssh_port,
			    pb = b->port > 0 ? b->port : ssh_port;
			const struct bs_ynode *map, *at;
			size_t s2, s3;

			if (b->address == NULL || strcasecmp(a->address, b->address) != 0 ||
			    pa != pb ||
			    !same_strv(a->jump_set ? &a->jump : &r->ssh.jump,
				       b->jump_set ? &b->jump : &r->ssh.jump))
				continue;
			map = a->entry < seq->n ? seq->items[a->entry] : NULL;
			at = map ? bs_ynode_get(map, "address") : NULL;
			s2 = rctx_push_index(ctx, a->entry);
			s3 = rctx_push_key(ctx, "address");
			rctx_error(ctx, at ? at : seq,
				   "node '%s' is the machine of node '%s' (line %d), %s port %d: "
				   "their runs would lock each other out (remove one entry; for "
				   "more containers there, raise their replicas)",
				   a->name, b->name, b->name_loc.line, a->address, pa);
			rctx_pop(ctx, s3);
			rctx_pop(ctx, s2);
			break;
		}
	}
}

void bs_recipe_parse_nodes(struct bs_rctx *ctx, const struct bs_ynode *seq,
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
	check_same_machine(ctx, seq);
out:
	rctx_pop(ctx, saved);
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

static void read_cluster_type(struct bs_rctx *ctx, const struct rkey *key,
			      const struct bs_ynode *map, void *section)
{
	static const char *const types[] = {"swarm", NULL};
	struct bs_cluster_conf *c = section;
	int choice;

	if (rctx_get_choice(ctx, map, key->key, types, &choice))
		c->type = BS_CLUSTER_SWARM;
	else if (bs_ynode_get(map, key->key) == NULL)
		rctx_missing(ctx, map, key->key, "cluster: {type: swarm}");
}

static void check_advertise(struct bs_rctx *ctx, const struct rkey *key, const struct bs_ynode *at,
			    void *section)
{
	struct bs_cluster_conf *c = section;
	size_t n_nodes = ctx->recipe->n_nodes;

	(void)key;
	if (!advertise_ok(c->advertise)) {
		rctx_error(ctx, at,
			   "'%.100s' is not an interface name, an IP address or 'private' (for "
			   "example eth1, 10.0.0.2 or private)",
			   c->advertise);
		free(c->advertise);
		c->advertise = NULL;
	} else if (n_nodes > 1 && is_ip_address(c->advertise)) {
		rctx_error(ctx, at,
			   "an address is one node's, and the recipe has %zu nodes: name the "
			   "interface (eth1), or use private",
			   n_nodes);
	}
}

/* Each manager selector names a node; Raft wants an odd number of them. */
static void check_managers(struct bs_rctx *ctx, const struct bs_ynode *map)
{
	struct bs_recipe *r = ctx->recipe;
	struct bs_cluster_conf *c = &r->cluster;
	size_t i, n_managers = 0;

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
}

#define CLUSTER(field) offsetof(struct bs_cluster_conf, field)

_Static_assert(sizeof(enum bs_publish_mode) == sizeof(int), "RK_CHOICE stores an int");
_Static_assert(sizeof(enum bs_encrypt_mode) == sizeof(int), "RK_CHOICE stores an int");

/* clang-format off */
static const struct rkey cluster_keys[] = {
	{"type", RK_FN, .check = read_cluster_type},
	{"managers", RK_SELECTORS, .field = CLUSTER(managers)},
	{"publish", RK_CHOICE, .field = CLUSTER(publish), .arg = bs_publish_mode_names},
	{"encrypt", RK_CHOICE, .field = CLUSTER(encrypt), .arg = bs_encrypt_mode_names},
	{"advertise", RK_STR, .field = CLUSTER(advertise), .check = check_advertise},
	{.key = NULL},
};
/* clang-format on */

/* cluster: {type: swarm, managers: [...], publish: ingress|host,
 * encrypt: auto|true|false, advertise: IFACE|ADDRESS|private} */
void bs_recipe_parse_cluster(struct bs_rctx *ctx, const struct bs_ynode *map)
{
	struct bs_cluster_conf *c = &ctx->recipe->cluster;
	size_t saved;

	if (map == NULL || bs_ynode_is_null(map))
		return;
	saved = rctx_push_key(ctx, "cluster");
	c->loc = rctx_loc(map);
	if (!rctx_want_map(ctx, map))
		goto out;
	c->publish_loc =
		rctx_loc(bs_ynode_get(map, "publish") ? bs_ynode_get(map, "publish") : map);
	rctx_read_keys(ctx, map, NULL, cluster_keys, c);
	check_managers(ctx, map);
	if (c->type == BS_CLUSTER_SWARM && ctx->recipe->provider.type == BS_PROVIDER_ENGINE)
		rctx_error(ctx, map,
			   "a cluster is made over SSH (bootstrap finds each node's address and "
			   "joins it): use provider static, local or a cloud, not engine");
out:
	rctx_pop(ctx, saved);
}
