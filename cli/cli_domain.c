/*
 * cli_domain.c - `create --domain` and `remove` on one engine: the
 * engine's domain proxy (Libcloud's "reserve a domain" for a container).
 *
 * Outside a recipe there is no project to hold the routes, so they live on
 * the containers themselves: a container created with --domain carries
 * io.bootstrap.domain (the name) and io.bootstrap.expose (the port), with
 * io.bootstrap.created-by, and sits on the network bootstrap-domains. A
 * route goes to the container's own name only, so a label (one an image
 * brings along, say) can never send a domain elsewhere; of two containers
 * claiming one domain the older keeps it. The proxy, bootstrap-proxy
 * (Caddy, ports 80 and 443, certificates in the volume
 * bootstrap-proxy-data), is made on first use; after each create or
 * remove its Caddyfile is computed again from those labels and reloaded
 * (deploy/proxy.c), so nothing else needs to remember the routes. The
 * proxy goes when the last route does (its volume stays).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "container/driver.h"
#include "deploy/proxy.h"
#include "deploy/recipe.h"
#include "deploy/recipe.h"
#include "deploy/spec.h"
#include "util/str.h"

#define ENGINE_PROXY "bootstrap-proxy"
#define ENGINE_NET "bootstrap-domains"
#define ENGINE_VOLUME "bootstrap-proxy-data"
#define LABEL_DOMAIN "io.bootstrap.domain"
#define LABEL_EXPOSE "io.bootstrap.expose"
#define LABEL_CREATED_BY "io.bootstrap.created-by"
#define CREATED_BY "bootstrap create"
#define LABEL_TLS "io.bootstrap.tls"
#define LABEL_BASE "io.bootstrap.domain-base"

/* A mode the CLI's proxy can have (files is for recipes): *out set. */
static bool cli_tls(const char *name, enum bs_tls_mode *out)
{
	for (int i = 0; name != NULL && i <= BS_TLS_OFF; i++)
		if (strcmp(name, bs_tls_mode_name((enum bs_tls_mode)i)) == 0) {
			*out = (enum bs_tls_mode)i;
			return true;
		}
	return false;
}

const char *bs_cli_domain_base(const struct bs_cli *cli, struct bs_cdriver *d, char **stored,
			       const char **where)
{
	const char *env = getenv("BOOTSTRAP_DOMAIN_BASE");
	struct bs_cinfo proxy;
	struct bs_err err = BS_ERR_INIT;

	*stored = NULL;
	if (cli->domain_base != NULL) {
		*where = "--domain-base";
		return cli->domain_base;
	}
	if (env != NULL && env[0] != '\0') {
		*where = "BOOTSTRAP_DOMAIN_BASE";
		return env;
	}
	memset(&proxy, 0, sizeof(proxy));
	if (d->ops->container_inspect(d, ENGINE_PROXY, &proxy, NULL, &err) == 0) {
		const struct bs_kv *b = bs_kvlist_find(&proxy.labels, LABEL_BASE);

		if (b != NULL && b->value != NULL && bs_recipe_is_hostname(b->value))
			*stored = bs_xstrdup(b->value);
	}
	bs_cinfo_free(&proxy);
	*where = "the engine's proxy";
	return *stored;
}

int bs_cli_domain_check(const struct bs_cli *cli, const struct bs_cport_binding *ports,
			size_t n_ports, int *port)
{
	enum bs_tls_mode tls;

	*port = 0;
	if (cli->domain_base != NULL &&
	    (!bs_recipe_is_hostname(cli->domain_base) || strchr(cli->domain_base, '.') == NULL ||
	     strlen(cli->domain_base) > 200)) {
		bs_cli_error("--domain-base %s: not a domain (lowercase, like apps.example.com)",
			     cli->domain_base);
		return BS_EXIT_USAGE;
	}
	if (cli->no_domain && (cli->domain != NULL || cli->domain_base != NULL)) {
		bs_cli_error("--no-domain and --domain/--domain-base contradict each other");
		return BS_EXIT_USAGE;
	}
	if (cli->domain == NULL) {
		if (cli->expose || cli->domain_tls || cli->proxy_image) {
			bs_cli_error(
				"--expose, --domain-tls and --proxy-image go with --domain NAME "
				"or a base domain");
			return BS_EXIT_USAGE;
		}
		return BS_EXIT_OK;
	}
	if (!bs_recipe_is_hostname(cli->domain) || strchr(cli->domain, '.') == NULL ||
	    strlen(cli->domain) > 253) {
		bs_cli_error("--domain %s: not a fully qualified domain name (lowercase, like "
			     "shop.example.com)",
			     cli->domain);
		return BS_EXIT_USAGE;
	}
	if (cli->domain_tls != NULL && !cli_tls(cli->domain_tls, &tls)) {
		bs_cli_error("--domain-tls %s: use auto, internal or off", cli->domain_tls);
		return BS_EXIT_USAGE;
	}
	*port = cli->expose;
	if (*port == 0 && n_ports == 1)
		*port = ports[0].container_port;
	if (*port == 0) {
		bs_cli_error("--domain %s: which container port serves it? Give --expose PORT "
			     "(it need not be published)",
			     cli->domain);
		return BS_EXIT_USAGE;
	}
	return BS_EXIT_OK;
}

/* The containers that carry a route, as the engine lists them. */
static int routed(struct bs_cdriver *d, struct bs_cinfo_list *out, struct bs_err *err)
{
	struct bs_kvlist filter = BS_KVLIST_INIT;
	int rc;

	bs_kvlist_push(&filter, LABEL_DOMAIN, NULL, false);
	bs_kvlist_push(&filter, LABEL_CREATED_BY, CREATED_BY, false);
	rc = d->ops->container_list(d, true, &filter, out, err);
	bs_kvlist_free(&filter);
	return rc;
}

struct route {
	const char *domain, *name;
	int port;
	long long created;
};

static int route_cmp(const void *a, const void *b)
{
	const struct route *x = a, *y = b;
	int c = strcmp(x->domain, y->domain);

	if (c == 0)
		c = x->created < y->created ? -1 : x->created > y->created;
	return c ? c : strcmp(x->name, y->name);
}

/* The engine's routes from its containers' labels, one per domain (the
 * oldest container's), sorted by domain; strings borrowed from list.
 * Labels anyone could set: only well-formed ones count. */
static size_t routes_of(const struct bs_cinfo_list *list, struct route **out)
{
	struct route *v = bs_xcalloc(list->n ? list->n : 1, sizeof(*v));
	size_t n = 0, k = 0;

	for (size_t i = 0; i < list->n; i++) {
		const struct bs_kv *dom = bs_kvlist_find(&list->v[i].labels, LABEL_DOMAIN);
		const struct bs_kv *port = bs_kvlist_find(&list->v[i].labels, LABEL_EXPOSE);
		const char *name = list->v[i].name;
		long long p = 0;

		if (dom == NULL || port == NULL || name == NULL || name[0] == '\0' ||
		    !bs_recipe_is_hostname(dom->value) || strchr(dom->value, '.') == NULL ||
		    bs_parse_int64(port->value, &p) != 0 || p < 1 || p > 65535 ||
		    strspn(name,
			   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
			    strlen(name))
			continue;
		v[n].domain = dom->value;
		v[n].name = name;
		v[n].port = (int)p;
		v[n].created = list->v[i].created;
		n++;
	}
	qsort(v, n, sizeof(*v), route_cmp);
	for (size_t i = 0; i < n; i++)
		if (k == 0 || strcmp(v[k - 1].domain, v[i].domain) != 0)
			v[k++] = v[i];
	*out = v;
	return k;
}

int bs_cli_domain_prepare(const struct bs_cli *cli, struct bs_cdriver *d, int port,
			  struct bs_kvlist *labels, const char **network)
{
	struct bs_cinfo_list list = {0};
	struct bs_err err = BS_ERR_INIT;
	bool created;
	int rc;

	if (strcmp(cli->args[1], ENGINE_PROXY) == 0) {
		bs_cli_error("%s is the name of the engine's domain proxy: choose another",
			     ENGINE_PROXY);
		return BS_EXIT_USAGE;
	}
	if (cli->domain == NULL)
		return BS_EXIT_OK;
	rc = routed(d, &list, &err);
	if (rc == 0) {
		struct route *v;
		size_t n = routes_of(&list, &v);

		for (size_t i = 0; i < n; i++)
			if (strcmp(v[i].domain, cli->domain) == 0)
				rc = bs_err_set(&err, BS_ERR_CONFLICT,
						"domain %s is routed to container %s already "
						"(remove it first: bootstrap remove %s)",
						cli->domain, v[i].name, v[i].name);
		free(v);
	}
	bs_cinfo_list_free(&list);
	if (rc == 0) {
		struct bs_kvlist nl = BS_KVLIST_INIT;

		bs_kvlist_push(&nl, BS_LABEL_ROLE, BS_PROXY_ROLE, false);
		rc = d->ops->network_ensure(d, ENGINE_NET, &nl, &created, &err);
		bs_kvlist_free(&nl);
	}
	if (rc != 0) {
		bs_cli_error("%s", err.msg);
		return bs_cli_exit_for_error(rc);
	}
	{
		char text[16];

		snprintf(text, sizeof(text), "%d", port);
		bs_kvlist_push(labels, LABEL_DOMAIN, cli->domain, false);
		bs_kvlist_push(labels, LABEL_EXPOSE, text, false);
	}
	*network = ENGINE_NET;
	return BS_EXIT_OK;
}

/* A new proxy with conf in place, started. */
static int make_proxy(const struct bs_cli *cli, struct bs_cdriver *d, enum bs_tls_mode tls,
		      const char *conf, struct bs_err *err)
{
	struct bs_kvlist env = BS_KVLIST_INIT, labels = BS_KVLIST_INIT;
	struct bs_cport_binding ports[2];
	struct bs_mount_spec mount = {.type = "volume", .source = ENGINE_VOLUME, .target = "/data"};
	struct bs_cspec spec;
	const char *image = cli->proxy_image ? cli->proxy_image : BS_PROXY_IMAGE;
	char *id = NULL;
	bool changed;
	int rc, code;

	code = bs_cli_ensure_image(cli, d, image);
	if (code != BS_EXIT_OK)
		return bs_err_set(err, BS_ERR_NOT_FOUND, "the proxy image %s is not there", image);
	memset(ports, 0, sizeof(ports));
	ports[0].host_port = ports[0].container_port = 80;
	ports[1].host_port = ports[1].container_port = 443;
	bs_kvlist_push(&env, "XDG_DATA_HOME", "/data", false);
	bs_kvlist_push(&env, "XDG_CONFIG_HOME", "/config", false);
	bs_kvlist_push(&labels, BS_LABEL_ROLE, BS_PROXY_ROLE, false);
	bs_kvlist_push(&labels, LABEL_TLS, bs_tls_mode_name(tls), false);
	if (cli->domain_base != NULL) /* the next creates' base, while the proxy is */
		bs_kvlist_push(&labels, LABEL_BASE, cli->domain_base, false);
	memset(&spec, 0, sizeof(spec));
	spec.name = ENGINE_PROXY;
	spec.image = image;
	spec.entrypoint = bs_proxy_entrypoint;
	spec.cmd = bs_proxy_cmd;
	spec.env = &env;
	spec.labels = &labels;
	spec.ports = ports;
	spec.n_ports = 2;
	spec.mounts = &mount;
	spec.n_mounts = 1;
	spec.restart = "unless-stopped";
	spec.network = ENGINE_NET;
	spec.no_new_privileges = true;
	spec.pids_limit = 512;
	spec.log_max_size = "10m";
	spec.log_max_file = "3";
	rc = d->ops->container_create(d, &spec, &id, err);
	if (rc == 0)
		rc = d->ops->container_put_file(d, id, BS_PROXY_CONF_DIR, BS_PROXY_CONF_FILE, conf,
						strlen(conf), 0644, err);
	if (rc == 0)
		rc = d->ops->container_start(d, id, &changed, err);
	if (rc != 0 && id != NULL) {
		struct bs_err e2 = BS_ERR_INIT;

		d->ops->container_destroy(d, id, 0, &e2);
	}
	free(id);
	bs_kvlist_free(&env);
	bs_kvlist_free(&labels);
	return rc;
}

int bs_cli_domain_sync(const struct bs_cli *cli, struct bs_cdriver *d, const char *claimant,
		       struct bs_err *err)
{
	struct bs_cinfo_list list = {0};
	struct bs_cinfo proxy;
	struct bs_proxy_site *sites = NULL;
	struct route *v = NULL;
	enum bs_tls_mode tls = BS_TLS_AUTO;
	size_t n = 0, i;
	char *conf = NULL, *have = NULL;
	bool exists = false;
	int rc, tries = 0;

again:
	memset(&proxy, 0, sizeof(proxy));
	rc = routed(d, &list, err);
	if (rc != 0)
		return rc;
	n = routes_of(&list, &v);
	sites = bs_xcalloc(n ? n : 1, sizeof(*sites));
	for (i = 0; i < n; i++) {
		char *up = bs_xasprintf("%s:%d", v[i].name, v[i].port);

		sites[i].domain = v[i].domain;
		bs_strv_push(&sites[i].upstreams, up);
		free(up);
		/* create: another container took the domain meanwhile */
		if (claimant != NULL && cli->domain != NULL &&
		    strcmp(v[i].domain, cli->domain) == 0 && strcmp(v[i].name, claimant) != 0)
			rc = bs_err_set(err, BS_ERR_CONFLICT,
					"domain %s was routed to container %s meanwhile",
					cli->domain, v[i].name);
	}
	if (rc == 0) {
		rc = d->ops->container_inspect(d, ENGINE_PROXY, &proxy, NULL, err);
		exists = rc == 0;
		if (rc == BS_ERR_NOT_FOUND) {
			bs_err_clear(err);
			rc = 0;
		}
	}
	if (rc == 0 && exists) {
		const struct bs_kv *role = bs_kvlist_find(&proxy.labels, BS_LABEL_ROLE);
		const struct bs_kv *t = bs_kvlist_find(&proxy.labels, LABEL_TLS);

		/* the CLI's own: not a recipe's proxy (a project named bootstrap) */
		if (role == NULL || strcmp(role->value, BS_PROXY_ROLE) != 0 || t == NULL ||
		    bs_kvlist_find(&proxy.labels, BS_LABEL_PROJECT) != NULL)
			rc = bs_err_set(err, BS_ERR_CONFLICT,
					"a container named %s that is not bootstrap's domain proxy "
					"is in the way (rename or remove it)",
					ENGINE_PROXY);
		if (t != NULL)
			cli_tls(t->value, &tls);
	} else if (rc == 0) {
		cli_tls(cli->domain_tls, &tls);
	}
	if (rc == 0 && n == 0 && exists) { /* the last route went: so does the proxy */
		rc = d->ops->container_destroy(d, ENGINE_PROXY, 10, err);
		if (rc == 0 && !cli->json)
			printf("%s removed (no domain left)\n", ENGINE_PROXY);
	} else if (rc == 0 && n > 0) {
		size_t len = 0;
		bool changed;

		conf = bs_proxy_render("# The domains of this engine, written by bootstrap create "
				       "--domain and remove\n# from its containers' labels: do not "
				       "edit.\n",
				       tls, NULL, sites, n);
		if (!exists) {
			rc = make_proxy(cli, d, tls, conf, err);
			if (rc == BS_ERR_CONFLICT && tries++ == 0) {
				/* another create made it meanwhile: load into that one */
				bs_err_clear(err);
				free(conf);
				conf = NULL;
				for (i = 0; i < n; i++)
					bs_strv_free(&sites[i].upstreams);
				free(sites);
				free(v);
				bs_cinfo_free(&proxy);
				bs_cinfo_list_free(&list);
				goto again;
			}
		} else if (proxy.state != BS_CSTATE_RUNNING) {
			/* stopped: it starts with its routes (its admin endpoint
			 * would not answer a reload at once) */
			rc = d->ops->container_put_file(d, ENGINE_PROXY, BS_PROXY_CONF_DIR,
							BS_PROXY_CONF_FILE, conf, strlen(conf),
							0644, err);
			if (rc == 0)
				rc = d->ops->container_start(d, ENGINE_PROXY, &changed, err);
			if (rc != 0)
				bs_err_prefix(err, "starting %s", ENGINE_PROXY);
		} else if (d->ops->container_get_file(d, ENGINE_PROXY,
						      BS_PROXY_CONF_DIR "/" BS_PROXY_CONF_FILE,
						      1 << 20, &have, &len, err) != 0 ||
			   strcmp(have, conf) != 0) {
			bs_err_clear(err);
			rc = bs_proxy_load(d, ENGINE_PROXY, conf, false, err);
		}
	}
	for (i = 0; i < n; i++)
		bs_strv_free(&sites[i].upstreams);
	free(sites);
	free(v);
	free(conf);
	free(have);
	bs_cinfo_free(&proxy);
	bs_cinfo_list_free(&list);
	return rc;
}

bool bs_cli_domain_routed(struct bs_cdriver *d, const char *name)
{
	struct bs_cinfo info;
	struct bs_err err = BS_ERR_INIT;
	bool yes = false;

	memset(&info, 0, sizeof(info));
	if (d->ops->container_inspect(d, name, &info, NULL, &err) == 0)
		yes = bs_kvlist_find(&info.labels, LABEL_DOMAIN) != NULL;
	bs_cinfo_free(&info);
	return yes;
}
