/*
 * proxy.h - the domain proxy: one Caddy container per node that serves
 * the recipe's domains (ports 80 and 443), and its routes.
 *
 * The proxy is deployed like a container of the recipe (converge.c makes
 * it from bs_proxy_container), labelled io.bootstrap.role=proxy. Its
 * routes live in one generated Caddyfile: written into the container
 * before its first start, and changed later with a graceful reload (the
 * proxy keeps running; requests in flight finish on the old routes).
 */
#ifndef BS_DEPLOY_PROXY_H
#define BS_DEPLOY_PROXY_H

#include <stdbool.h>

#include "deploy/recipe.h"

#define BS_LABEL_ROLE "io.bootstrap.role"
#define BS_PROXY_ROLE "proxy"
#define BS_PROXY_CNAME "proxy" /* its io.bootstrap.container label */
#define BS_PROXY_CONF_DIR "/etc/caddy"
#define BS_PROXY_CONF_FILE "Caddyfile"
#define BS_PROXY_CONF_NEXT "Caddyfile.next"
/* tls: files: the recipe's certificate and key, in the proxy's volume */
#define BS_PROXY_CERT_DIR "/data"
#define BS_PROXY_CERT "bootstrap-cert.pem"
#define BS_PROXY_KEY "bootstrap-key.pem"
#define BS_PROXY_VOLUME BS_DOMAIN_PROXY_VOLUME /* a recipe volume name: PROJECT-proxy-data */

struct bs_cdriver;
struct bs_err;

#define BS_PROXY_IMAGE BS_DOMAIN_PROXY_IMAGE

/* How the proxy runs (NULL-terminated): caddy run with the Caddyfile, the
 * same on the official image and on any image with caddy on its PATH. */
extern const char *const bs_proxy_entrypoint[];
extern const char *const bs_proxy_cmd[];

/* Does a container with a domain run on node? Then the node needs a proxy. */
bool bs_proxy_wanted(const struct bs_recipe *r, const struct bs_node *node);

/* The proxy as a container (caller frees with bs_proxy_container_free). */
void bs_proxy_container(const struct bs_recipe *r, struct bs_container *out);
void bs_proxy_container_free(struct bs_container *c);

/* PROJECT-proxy; the proxy's data volume (certificates) is PROJECT-proxy-data */
char *bs_proxy_name(const char *project);
char *bs_proxy_volume(const char *project);

/* During a replacement: one instance's requests go to addr (IP:PORT of the
 * new container) instead of its name. */
struct bs_route_override {
	const char *instance;
	const char *addr;
};

/* The node's Caddyfile: a site per domain served on node, each to its
 * instances there by name (ov: one instance to an address instead). */
char *bs_proxy_config(const struct bs_recipe *r, const struct bs_node *node,
		      const struct bs_route_override *ov);

/* A site: a domain and the addresses its requests go to (name:port). */
struct bs_proxy_site {
	const char *domain;
	struct bs_strv upstreams;
};

/* A Caddyfile from sites (header: the comment it starts with). */
char *bs_proxy_render(const char *header, enum bs_tls_mode tls, const char *email,
		      const struct bs_proxy_site *sites, size_t n);

/*
 * Make conf the live routes of the running proxy container named proxy:
 * written as Caddyfile.next, loaded with `caddy reload` (graceful: the
 * proxy keeps its connections, requests in flight finish on the routes
 * they started with), then kept as the Caddyfile the proxy starts with.
 * A configuration Caddy refuses changes nothing (BS_ERR_REMOTE, with
 * Caddy's words). keep_first: the Caddyfile is kept before the reload
 * (a temporary configuration: whatever happens, the next run sees that
 * the file is not the recipe's, and loads the recipe's).
 */
int bs_proxy_load(struct bs_cdriver *d, const char *proxy, const char *conf, bool keep_first,
		  struct bs_err *err);

/* tls: files: the recipe's certificate and key into the proxy (the key
 * readable by its owner only); nothing for other modes. */
int bs_proxy_put_certs(struct bs_cdriver *d, const char *proxy, const struct bs_recipe *r,
		       struct bs_err *err);

/* What changes between two configurations, by domain: "add a.example.com;
 * change b.example.com; remove c.example.com", or NULL when they are the
 * same. have may be NULL (no configuration yet). */
char *bs_proxy_config_diff(const char *have, const char *want);

#endif
