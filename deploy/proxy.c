/*
 * proxy.c - the domain proxy's container and its Caddyfile (proxy.h).
 *
 * Every value written into the Caddyfile was checked by the recipe
 * parser: domains and email addresses are plain host and address
 * characters, upstreams are instance names and numbers, so nothing can
 * open a block or a directive of its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deploy/proxy.h"
#include "deploy/recipe.h"
#include "container/driver.h"
#include "deploy/spec.h"
#include "util/error.h"
#include "util/str.h"

/* How long the proxy keeps trying the instances of a domain for one
 * request (a container restarting, a stop-first replacement) before it
 * answers 502. */
#define PROXY_TRY_DURATION "5s"

bool bs_proxy_wanted(const struct bs_recipe *r, const struct bs_node *node)
{
	if (r->cluster.type != BS_CLUSTER_NONE)
		return false;
	for (size_t i = 0; i < r->n_containers; i++) {
		int *reps = NULL;
		size_t n;

		if (r->containers[i].domain == NULL)
			continue;
		n = bs_placement(r, &r->containers[i], node, &reps);
		free(reps);
		if (n > 0)
			return true;
	}
	return false;
}

char *bs_proxy_name(const char *project)
{
	return bs_xasprintf("%s-proxy", project);
}

char *bs_proxy_volume(const char *project)
{
	return bs_volume_name(project, BS_PROXY_VOLUME);
}

const char *const bs_proxy_entrypoint[] = {"caddy", NULL};
const char *const bs_proxy_cmd[] = {
	"run",	     "--config",  BS_PROXY_CONF_DIR "/" BS_PROXY_CONF_FILE,
	"--adapter", "caddyfile", NULL};

void bs_proxy_container(const struct bs_recipe *r, struct bs_container *c)
{
	memset(c, 0, sizeof(*c));
	c->name = bs_xstrdup(BS_PROXY_CNAME);
	c->image = bs_xstrdup(r->domains.proxy ? r->domains.proxy : BS_PROXY_IMAGE);
	c->has_entrypoint = true;
	for (size_t i = 0; bs_proxy_entrypoint[i] != NULL; i++)
		bs_strv_push(&c->entrypoint, bs_proxy_entrypoint[i]);
	c->has_command = true;
	for (size_t i = 0; bs_proxy_cmd[i] != NULL; i++)
		bs_strv_push(&c->command, bs_proxy_cmd[i]);
	bs_kvlist_push(&c->environment, "XDG_DATA_HOME", "/data", false);
	bs_kvlist_push(&c->environment, "XDG_CONFIG_HOME", "/config", false);
	bs_kvlist_push(&c->labels, BS_LABEL_ROLE, BS_PROXY_ROLE, false);
	c->n_ports = 2;
	c->ports = bs_xcalloc(2, sizeof(*c->ports));
	for (int i = 0; i < 2; i++) {
		int port = i == 0 ? 80 : 443;

		c->ports[i].host_start = c->ports[i].host_end = port;
		c->ports[i].container_start = c->ports[i].container_end = port;
		c->ports[i].proto = BS_PROTO_TCP;
	}
	/* certificates and the CA's keys outlive the container */
	c->n_volumes = 1;
	c->volumes = bs_xcalloc(1, sizeof(*c->volumes));
	c->volumes[0].type = BS_MOUNT_VOLUME;
	c->volumes[0].source = bs_xstrdup(BS_PROXY_VOLUME);
	c->volumes[0].target = bs_xstrdup("/data");
	c->restart = BS_RESTART_UNLESS_STOPPED;
	c->replicas = 1;
	c->stop_timeout_ms = 10000;
	c->network = BS_NET_PROJECT;
	c->update.order = BS_ORDER_STOP_FIRST; /* it holds fixed ports */
	c->update.monitor_ms = 1000;
	c->update.failure_logs = 20;
}

void bs_proxy_container_free(struct bs_container *c)
{
	free(c->name);
	free(c->image);
	bs_strv_free(&c->entrypoint);
	bs_strv_free(&c->command);
	bs_kvlist_free(&c->environment);
	bs_kvlist_free(&c->labels);
	free(c->ports);
	if (c->volumes != NULL) {
		free(c->volumes[0].source);
		free(c->volumes[0].target);
	}
	free(c->volumes);
	memset(c, 0, sizeof(*c));
}

char *bs_proxy_render(const char *header, enum bs_tls_mode tls, const char *email,
		      const struct bs_proxy_site *sites, size_t n)
{
	struct bs_buf b = BS_BUF_INIT;

	bs_buf_puts(&b, header);
	/* the admin API stays inside the container: bootstrap reloads
	 * through `caddy reload` run there */
	bs_buf_puts(&b, "{\n\tadmin localhost:2019\n");
	if (tls == BS_TLS_AUTO && email != NULL)
		bs_buf_printf(&b, "\temail %s\n", email);
	if (tls == BS_TLS_INTERNAL)
		bs_buf_puts(&b, "\tskip_install_trust\n");
	if (tls == BS_TLS_OFF)
		bs_buf_puts(&b, "\tauto_https off\n");
	bs_buf_puts(&b, "}\n");
	for (size_t i = 0; i < n; i++) {
		const struct bs_proxy_site *st = &sites[i];

		bs_buf_printf(&b, "\n%s%s {\n", tls == BS_TLS_OFF ? "http://" : "", st->domain);
		if (tls == BS_TLS_INTERNAL)
			bs_buf_puts(&b, "\ttls internal\n");
		if (tls == BS_TLS_FILES)
			bs_buf_puts(&b, "\ttls " BS_PROXY_CERT_DIR "/" BS_PROXY_CERT
					" " BS_PROXY_CERT_DIR "/" BS_PROXY_KEY "\n");
		bs_buf_puts(&b, "\treverse_proxy");
		for (size_t k = 0; k < st->upstreams.n; k++)
			bs_buf_printf(&b, " %s", st->upstreams.v[k]);
		bs_buf_puts(&b, " {\n\t\tlb_try_duration " PROXY_TRY_DURATION "\n\t}\n}\n");
	}
	return b.data;
}

char *bs_proxy_config(const struct bs_recipe *r, const struct bs_node *node,
		      const struct bs_route_override *ov)
{
	struct bs_proxy_site *sites = bs_xcalloc(r->n_containers + 1, sizeof(*sites));
	size_t n = 0;
	char *header, *conf;

	for (size_t i = 0; i < r->n_containers; i++) {
		const struct bs_container *c = &r->containers[i];
		int *reps = NULL;
		size_t k, nr;

		if (c->domain == NULL)
			continue;
		nr = bs_placement(r, c, node, &reps);
		for (k = 0; k < nr; k++) {
			char *inst = bs_replica_name(r->project, c, reps[k]);

			if (ov != NULL && strcmp(ov->instance, inst) == 0) {
				bs_strv_push(&sites[n].upstreams, ov->addr);
			} else {
				char *up = bs_xasprintf("%s:%d", inst, bs_container_web_port(c));

				bs_strv_push(&sites[n].upstreams, up);
				free(up);
			}
			free(inst);
		}
		free(reps);
		if (nr > 0)
			sites[n++].domain = c->domain;
	}
	{
		/* a new certificate changes the file, so it is loaded */
		char sha[65] = "";

		if (r->domains.tls == BS_TLS_FILES && r->domains.cert_pem != NULL)
			bs_sha256_hex(r->domains.cert_pem, strlen(r->domains.cert_pem), sha);
		header = bs_xasprintf(
			"# The routes of project %s on node %s, written by bootstrap on\n"
			"# each run that changes them: edit the recipe, not this file.\n%s%s%s",
			r->project, node->name, sha[0] ? "# certificate sha256:" : "", sha,
			sha[0] ? "\n" : "");
	}
	conf = bs_proxy_render(header, r->domains.tls, r->domains.email, sites, n);
	for (size_t i = 0; i < n; i++)
		bs_strv_free(&sites[i].upstreams);
	free(sites);
	free(header);
	return conf;
}

int bs_proxy_put_certs(struct bs_cdriver *d, const char *proxy, const struct bs_recipe *r,
		       struct bs_err *err)
{
	const struct bs_domains_conf *dc = &r->domains;
	int rc;

	if (dc->tls != BS_TLS_FILES)
		return 0;
	if (dc->cert_pem == NULL || dc->key_pem == NULL)
		return bs_err_set(err, BS_ERR_INVALID, "tls: files without a certificate and key");
	rc = d->ops->container_put_file(d, proxy, BS_PROXY_CERT_DIR, BS_PROXY_CERT, dc->cert_pem,
					strlen(dc->cert_pem), 0644, err);
	if (rc == 0)
		rc = d->ops->container_put_file(d, proxy, BS_PROXY_CERT_DIR, BS_PROXY_KEY,
						dc->key_pem, strlen(dc->key_pem), 0600, err);
	if (rc != 0)
		bs_err_prefix(err, "proxy %s: the certificate of tls: files", proxy);
	return rc;
}

/* Text from the proxy (Caddy's words, its file) made fit for one line of
 * output: control characters become spaces. */
static char *printable(const char *s, size_t max)
{
	size_t n = strlen(s);
	const char *from = n > max ? s + n - max : s;
	char *out = bs_xasprintf("%s%s", n > max ? "..." : "", from);

	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return out;
}

int bs_proxy_load(struct bs_cdriver *d, const char *proxy, const char *conf, bool keep_first,
		  struct bs_err *err)
{
	/* --force: Caddy skips a configuration equal to the running one, and
	 * a new certificate in the same files (tls: files) is one */
	static const char *const argv[] = {"caddy",
					   "reload",
					   "--force",
					   "--config",
					   BS_PROXY_CONF_DIR "/" BS_PROXY_CONF_NEXT,
					   "--adapter",
					   "caddyfile",
					   NULL};
	struct bs_buf out = BS_BUF_INIT;
	int code = -1, rc;

	rc = d->ops->container_put_file(d, proxy, BS_PROXY_CONF_DIR, BS_PROXY_CONF_NEXT, conf,
					strlen(conf), 0644, err);
	if (rc == 0 && keep_first)
		rc = d->ops->container_put_file(d, proxy, BS_PROXY_CONF_DIR, BS_PROXY_CONF_FILE,
						conf, strlen(conf), 0644, err);
	/* a proxy that just started may not listen on its admin port yet:
	 * a few tries, half a second apart */
	for (int tries = 0; rc == 0; tries++) {
		struct timespec ts = {0, 500 * 1000000L};

		rc = d->ops->container_exec(d, proxy, argv, 60, &out, &code, err);
		if (rc != 0 || code == 0 || tries >= 9 ||
		    strstr(bs_buf_str(&out), "connection refused") == NULL)
			break;
		nanosleep(&ts, NULL);
	}
	if (rc == 0 && code != 0) {
		char *text = printable(bs_buf_str(&out), 1500);

		rc = bs_err_set(err, BS_ERR_REMOTE,
				"proxy %s refused its new routes (caddy reload exited %d): %s",
				proxy, code, text);
		free(text);
	}
	if (rc == 0 && !keep_first)
		rc = d->ops->container_put_file(d, proxy, BS_PROXY_CONF_DIR, BS_PROXY_CONF_FILE,
						conf, strlen(conf), 0644, err);
	bs_buf_free(&out);
	return rc;
}

/* ---- diff -------------------------------------------------------------- */

struct block {
	char *addr; /* the site's domain, without http:// */
	char *text;
};

struct blocks {
	struct block *v;
	size_t n, cap;
	char *global; /* the options block and comments */
};

/* A site starts at a line with no indent that ends in " {" and is not the
 * global options' lone "{"; it ends at the next line "}". */
static void split(const char *conf, struct blocks *out)
{
	struct bs_buf global = BS_BUF_INIT;
	const char *p = conf ? conf : "";

	memset(out, 0, sizeof(*out));
	while (*p != '\0') {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);

		if (len > 2 && p[0] != '\t' && p[0] != ' ' && p[0] != '#' && p[0] != '{' &&
		    strncmp(p + len - 2, " {", 2) == 0) {
			struct bs_buf text = BS_BUF_INIT;
			const char *q = p, *addr = p;
			struct block *bl;

			if (strncmp(addr, "http://", 7) == 0)
				addr += 7;
			bs_xgrow((void **)&out->v, &out->cap, out->n + 1, sizeof(*out->v));
			bl = &out->v[out->n++];
			bl->addr = bs_xstrndup(addr, (size_t)(p + len - 2 - addr));
			/* to the closing line, included */
			for (;;) {
				const char *e = strchr(q, '\n');
				size_t l = e ? (size_t)(e - q) : strlen(q);
				bool end = l == 1 && q[0] == '}';

				bs_buf_printf(&text, "%.*s\n", (int)l, q);
				q = e ? e + 1 : q + l;
				if (end || e == NULL)
					break;
			}
			bl->text = text.data ? text.data : bs_xstrdup("");
			p = q;
			continue;
		}
		bs_buf_printf(&global, "%.*s\n", (int)len, p);
		p = eol ? eol + 1 : p + len;
	}
	out->global = global.data ? global.data : bs_xstrdup("");
}

static void blocks_free(struct blocks *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->v[i].addr);
		free(b->v[i].text);
	}
	free(b->v);
	free(b->global);
}

static const struct block *find(const struct blocks *b, const char *addr)
{
	for (size_t i = 0; i < b->n; i++)
		if (strcmp(b->v[i].addr, addr) == 0)
			return &b->v[i];
	return NULL;
}

char *bs_proxy_config_diff(const char *have, const char *want)
{
	struct blocks h, w;
	struct bs_buf out = BS_BUF_INIT;
	size_t i;

	if (have != NULL && want != NULL && strcmp(have, want) == 0)
		return NULL;
	if (have == NULL)
		return bs_xstrdup("the proxy has no routes yet");
	split(have, &h);
	split(want, &w);
	for (i = 0; i < h.n; i++) /* read from the proxy: shown only if a name */
		if (!bs_recipe_is_hostname(h.v[i].addr)) {
			free(h.v[i].addr);
			h.v[i].addr = bs_xstrdup("(a site the recipe does not name)");
		}
	for (i = 0; i < w.n; i++) {
		const struct block *o = find(&h, w.v[i].addr);

		if (o == NULL || strcmp(o->text, w.v[i].text) != 0)
			bs_buf_printf(&out, "%s%s %s", out.len ? "; " : "", o ? "change" : "add",
				      w.v[i].addr);
	}
	for (i = 0; i < h.n; i++)
		if (find(&w, h.v[i].addr) == NULL)
			bs_buf_printf(&out, "%sremove %s", out.len ? "; " : "", h.v[i].addr);
	if (out.len == 0)
		bs_buf_puts(&out, "the proxy's options");
	blocks_free(&h);
	blocks_free(&w);
	return out.data;
}
