/*
 * recipe_domains.c - the domains: section (the domain proxy: its TLS, the
 * ACME email, certificate files, its image) and the cross check of every
 * container's domain: a port to route to, the project network, and the
 * proxy's own ports and volume left alone.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "deploy/recipe_priv.h"

/* An address the proxy's ACME account is registered with: written into
 * the proxy's configuration, so only plain address characters. */
static bool email_ok(const char *s)
{
	const char *at = strchr(s, '@');

	if (at == NULL || at == s || strchr(at + 1, '@') != NULL || strchr(at, '.') == NULL ||
	    strlen(s) > 254)
		return false;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || strchr("@._%+-", *s) != NULL))
			return false;
	return true;
}

/* A PEM file the proxy gets (tls: files): read now, so that a missing or
 * wrong file is an error at its line before anything changes. */
static void read_pem(struct bs_rctx *ctx, const struct bs_ynode *map, const char *key,
		     const char *marker, char **path, char **pem)
{
	const struct bs_ynode *v = bs_ynode_get(map, key);
	size_t saved;
	const char *problem = NULL;
	char *full;
	FILE *f;
	struct stat st;

	if (!rctx_get_str(ctx, map, key, NULL, path))
		return;
	saved = rctx_push_key(ctx, key);
	if (bs_str_starts_with(*path, "~/") && ctx->getenv_fn("HOME", ctx->payload) != NULL)
		full = bs_xasprintf("%s%s", ctx->getenv_fn("HOME", ctx->payload), *path + 1);
	else
		full = bs_xstrdup(*path);
	f = fopen(full, "rb");
	if (f == NULL)
		problem = "cannot be read";
	else if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
		problem = "is not a regular file";
	else if (st.st_size > 1 << 20)
		problem = "is over 1 MiB";
	if (problem == NULL) {
		size_t n = (size_t)st.st_size;

		*pem = bs_xmalloc(n + 1);
		if (fread(*pem, 1, n, f) != n)
			problem = "cannot be read";
		(*pem)[n] = '\0';
		if (problem == NULL && (strlen(*pem) != n || strstr(*pem, marker) == NULL))
			problem = strcmp(key, "key") == 0 ? "holds no PEM private key"
							  : "holds no PEM certificate";
	}
	if (f != NULL)
		fclose(f);
	if (problem != NULL) {
		rctx_error(ctx, v, "'%.200s' %s (give a PEM file%s)", *path, problem,
			   strcmp(key, "key") == 0 ? ": -----BEGIN ... PRIVATE KEY-----"
						   : ": the certificate, then its chain");
		if (*pem != NULL)
			bs_secure_free_str(*pem);
		*pem = NULL;
	}
	free(full);
	rctx_pop(ctx, saved);
}

static void check_base(struct bs_rctx *ctx, const struct rkey *key, const struct bs_ynode *at,
		       void *section)
{
	struct bs_domains_conf *d = section;

	(void)key;
	if (bs_recipe_is_hostname(d->base) && strchr(d->base, '.') != NULL &&
	    strlen(d->base) <= 190)
		return;
	rctx_error(ctx, at,
		   "'%.200s' is not a domain (lowercase, like apps.example.com): each "
		   "container with expose: is served as CONTAINER.base",
		   d->base);
	free(d->base);
	d->base = NULL;
}

static void check_email(struct bs_rctx *ctx, const struct rkey *key, const struct bs_ynode *at,
			void *section)
{
	struct bs_domains_conf *d = section;

	(void)key;
	if (!email_ok(d->email))
		rctx_error(ctx, at,
			   "'%.200s' is not an email address (like ops@example.com): the "
			   "certificate authority writes to it about expiring certificates",
			   d->email);
}

static void warn_unused_email(struct bs_rctx *ctx, const struct rkey *key,
			      const struct bs_ynode *map, void *section)
{
	struct bs_domains_conf *d = section;

	if (d->email != NULL && d->tls != BS_TLS_AUTO)
		rctx_warn(ctx, bs_ynode_get(map, key->key),
			  "email is for the public certificate authority (tls: auto); with "
			  "tls: %s it is not used",
			  bs_tls_mode_name(d->tls));
}

/* cert and key: both with tls: files, neither otherwise. */
static void read_cert_key(struct bs_rctx *ctx, const struct rkey *key, const struct bs_ynode *map,
			  void *section)
{
	struct bs_domains_conf *d = section;

	(void)key;
	if (d->tls == BS_TLS_FILES) {
		read_pem(ctx, map, "cert", "-----BEGIN CERTIFICATE-----", &d->cert_file,
			 &d->cert_pem);
		read_pem(ctx, map, "key", "PRIVATE KEY-----", &d->key_file, &d->key_pem);
		if (d->key_pem != NULL)
			bs_strv_add_unique(&ctx->recipe->secrets, d->key_pem);
		if (bs_ynode_get(map, "cert") == NULL || bs_ynode_get(map, "key") == NULL)
			rctx_error(ctx, map,
				   "tls: files serves the certificate you give: add cert: FILE "
				   "(PEM, with its chain) and key: FILE");
	} else if (bs_ynode_get(map, "cert") != NULL || bs_ynode_get(map, "key") != NULL) {
		const char *k = bs_ynode_get(map, "cert") ? "cert" : "key";
		size_t saved = rctx_push_key(ctx, k);

		rctx_error(ctx, bs_ynode_get(map, k),
			   "cert and key are for tls: files (with tls: %s the proxy gets its "
			   "certificates itself): set tls: files, or remove them",
			   bs_tls_mode_name(d->tls));
		rctx_pop(ctx, saved);
	}
}

#define DOMAINS(field) offsetof(struct bs_domains_conf, field)

_Static_assert(sizeof(enum bs_tls_mode) == sizeof(int), "RK_CHOICE stores an int");

/* clang-format off */
static const struct rkey domains_keys[] = {
	{"base", RK_STR, .field = DOMAINS(base), .check = check_base},
	{"tls", RK_CHOICE, .field = DOMAINS(tls), .arg = bs_tls_mode_names},
	{"email", RK_STR, .field = DOMAINS(email), .check = check_email},
	{"email", RK_FN, .check = warn_unused_email},
	{"cert", RK_FN, .check = read_cert_key},
	{"proxy", RK_STR, .field = DOMAINS(proxy), .check = bs_recipe_check_image_key},
	{.key = NULL},
};
/* clang-format on */

/* domains: {base, tls: auto|internal|off|files, email, proxy: IMAGE, cert, key} */
void bs_recipe_parse_domains(struct bs_rctx *ctx, const struct bs_ynode *map)
{
	static const char *const keys[] = {"base", "tls", "email", "proxy", "cert", "key", NULL};
	struct bs_domains_conf *d = &ctx->recipe->domains;
	size_t saved;

	d->tls = BS_TLS_AUTO;
	if (map == NULL || bs_ynode_is_null(map))
		goto defaults;
	saved = rctx_push_key(ctx, "domains");
	d->loc = rctx_loc(map);
	if (rctx_want_map(ctx, map))
		rctx_read_keys(ctx, map, keys, domains_keys, d);
	rctx_pop(ctx, saved);
defaults:
	if (d->proxy == NULL)
		d->proxy = bs_xstrdup(BS_DOMAIN_PROXY_IMAGE);
}

static bool share_a_node(const struct bs_recipe *r, const struct bs_container *a,
			 const struct bs_container *b)
{
	for (size_t i = 0; i < r->n_nodes; i++)
		if (bs_recipe_placed(r, a, &r->nodes[i]) && bs_recipe_placed(r, b, &r->nodes[i]))
			return true;
	return false;
}

/* Two node entries that are one engine (the same static address, or the
 * same engine URL): one domain proxy there, so one of them has domains. */
static bool same_host(const struct bs_recipe *r, const struct bs_node *a, const struct bs_node *b)
{
	if (a->address != NULL && b->address != NULL)
		return strcmp(a->address, b->address) == 0;
	if (r->provider.type == BS_PROVIDER_ENGINE)
		return (a->engine == NULL && b->engine == NULL) ||
		       (a->engine != NULL && b->engine != NULL &&
			strcmp(a->engine, b->engine) == 0);
	return false;
}

static bool has_domains(const struct bs_recipe *r, const struct bs_node *n)
{
	for (size_t i = 0; i < r->n_containers; i++)
		if (r->containers[i].domain != NULL && bs_recipe_placed(r, &r->containers[i], n))
			return true;
	return false;
}

/* A container's domain: given, or CONTAINER.base with expose:; then it
 * needs a port to route to, and the project network. */
static void check_container_domain(struct bs_rctx *ctx, size_t i)
{
	struct bs_recipe *r = ctx->recipe;
	struct bs_container *c = &r->containers[i];

	if (c->domain == NULL && c->expose > 0 && r->domains.base != NULL) {
		char *d = bs_xasprintf("%s.%s", c->name, r->domains.base);

		rctx_set_path(ctx, "containers[%zu].expose", i);
		if (bs_recipe_is_hostname(d) && strlen(d) <= 253) {
			c->domain = d;
			c->domain_loc = c->expose_loc;
		} else {
			rctx_error_loc(ctx, c->expose_loc,
				       "container %s: %.200s is not a valid domain name (a name "
				       "with '_' or '.' cannot be one label): give domain: NAME",
				       c->name, d);
			free(d);
		}
	} else if (c->domain == NULL && c->expose > 0) {
		rctx_set_path(ctx, "containers[%zu].expose", i);
		rctx_error_loc(ctx, c->expose_loc,
			       "container %s: expose: is the port a domain is routed to, "
			       "and this container has none: give domain: NAME, or "
			       "domains: {base: apps.example.com} for %s.apps.example.com",
			       c->name, c->name);
	}
	if (c->domain == NULL)
		return;
	rctx_set_path(ctx, "containers[%zu].domain", i);
	if (strspn(c->domain, "0123456789.") == strlen(c->domain))
		rctx_error_loc(ctx, c->domain_loc,
			       "container %s: %s is an address, not a domain name (the "
			       "proxy serves names; give one, like shop.example.com)",
			       c->name, c->domain);
	else if (c->network != BS_NET_PROJECT)
		rctx_error_loc(ctx, c->domain_loc,
			       "container %s: the proxy reaches %s's container on the "
			       "project network, and this one is on network: %s (remove "
			       "network:, or the domain)",
			       c->name, c->domain, bs_net_mode_name(c->network));
	else if (bs_container_web_port(c) == 0)
		rctx_error_loc(ctx, c->domain_loc,
			       "container %s: which port serves %s? Give expose: PORT "
			       "(the port inside the container; it need not be published)",
			       c->name, c->domain);
}

/* Once any container has a domain, the proxy's volume is its own, and so
 * are ports 80 and 443 on the nodes it runs on. */
static void check_proxy_resources(struct bs_rctx *ctx, size_t i)
{
	const struct bs_recipe *r = ctx->recipe;
	const struct bs_container *c = &r->containers[i];
	bool any = false;
	size_t j;

	for (j = 0; j < r->n_containers; j++)
		any = any || r->containers[j].domain != NULL;
	for (size_t v = 0; any && v < c->n_volumes; v++)
		if (c->volumes[v].type == BS_MOUNT_VOLUME && c->volumes[v].source != NULL &&
		    strcmp(c->volumes[v].source, BS_DOMAIN_PROXY_VOLUME) == 0) {
			rctx_set_path(ctx, "containers[%zu].volumes[%zu]", i, v);
			rctx_error_loc(ctx, c->volumes[v].loc,
				       "the volume %s is the domain proxy's (its "
				       "certificates and keys): give yours another name",
				       BS_DOMAIN_PROXY_VOLUME);
		}
	for (size_t p = 0; p < c->n_ports; p++) {
		const struct bs_port *pt = &c->ports[p];
		int port = pt->host_start <= 80 && pt->host_end >= 80	  ? 80
			   : pt->host_start <= 443 && pt->host_end >= 443 ? 443
									  : 0;

		if (pt->proto != BS_PROTO_TCP || port == 0)
			continue;
		for (j = 0; j < r->n_containers; j++) {
			const struct bs_container *d = &r->containers[j];

			if (d->domain == NULL || !share_a_node(r, c, d))
				continue;
			rctx_set_path(ctx, "containers[%zu].ports[%zu]", i, p);
			rctx_error_loc(ctx, pt->loc,
				       "container %s publishes port %d, which the domain "
				       "proxy of a node it shares with %s holds (route it "
				       "through a domain instead, or publish another port)",
				       c->name ? c->name : "?", port, d->name);
			break;
		}
	}
}

/*
 * Domains: CONTAINER.base for containers with expose and no domain; each
 * domain needs a port to reach and the project network (where the proxy
 * finds the container by name); the proxy's ports 80 and 443 are its own.
 */
void bs_recipe_check_domains(struct bs_rctx *ctx)
{
	struct bs_recipe *r = ctx->recipe;
	size_t i, j;

	if (r->cluster.type != BS_CLUSTER_NONE) /* check_cluster refuses domains */
		return;
	for (i = 0; i < r->n_containers; i++)
		if (r->containers[i].name != NULL)
			check_container_domain(ctx, i);
	for (i = 0; i < r->n_containers; i++)
		check_proxy_resources(ctx, i);
	for (i = 0; i < r->n_nodes; i++)
		for (j = 0; j < i; j++)
			if (same_host(r, &r->nodes[i], &r->nodes[j]) &&
			    has_domains(r, &r->nodes[i]) && has_domains(r, &r->nodes[j])) {
				rctx_set_path(ctx, "nodes[%zu]", i);
				rctx_error_loc(
					ctx, r->nodes[i].loc,
					"nodes %s and %s are one host (%s): it has one "
					"domain proxy (ports 80 and 443), so only one of them "
					"can have containers with domains (narrow their nodes:)",
					r->nodes[j].name, r->nodes[i].name,
					r->nodes[i].address ? r->nodes[i].address
							    : "the same engine");
				break;
			}
}
