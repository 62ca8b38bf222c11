/*
 * recipe_containers.c - the containers: section, its value syntaxes
 * (ports, volumes, commands, healthcheck, resources, restart, update) and
 * the cross checks of containers: selectors, names, domains and host ports
 * used twice, and what a cluster service cannot be.
 *
 * Value syntaxes follow Docker Compose's short forms, so that users can
 * move a service over without relearning it.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deploy/recipe_priv.h"
#include "util/units.h"

/* ---- shell-like word splitting for string commands -------------------- */

static int split_words(const char *s, struct bs_strv *out, const char **problem)
{
	struct bs_buf word = BS_BUF_INIT;
	bool in_word = false;
	const char *p = s;

	while (*p != '\0') {
		if (isspace((unsigned char)*p)) {
			if (in_word) {
				bs_strv_push(out, bs_buf_str(&word));
				bs_buf_reset(&word);
				in_word = false;
			}
			p++;
		} else if (*p == '\'') {
			const char *end = strchr(p + 1, '\'');

			if (end == NULL)
				goto unterminated;
			bs_buf_append(&word, p + 1, (size_t)(end - p - 1));
			in_word = true;
			p = end + 1;
		} else if (*p == '"') {
			p++;
			while (*p != '"') {
				if (*p == '\0')
					goto unterminated;
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\' || p[1] == '$'))
					p++;
				bs_buf_putc(&word, *p++);
			}
			p++;
			in_word = true;
		} else if (*p == '\\' && p[1] != '\0') {
			bs_buf_putc(&word, p[1]);
			p += 2;
			in_word = true;
		} else {
			bs_buf_putc(&word, *p++);
			in_word = true;
		}
	}
	if (in_word)
		bs_strv_push(out, bs_buf_str(&word));
	bs_buf_free(&word);
	return 0;
unterminated:
	bs_buf_free(&word);
	*problem = "unterminated quote (close it, or write the command as a list)";
	return -1;
}

/* command / entrypoint: a string split like a shell, or a list. */
static bool get_argv(struct bs_rctx *ctx, const struct bs_ynode *map, const char *key,
		     struct bs_strv *out)
{
	const struct bs_ynode *v = bs_ynode_get(map, key);
	size_t saved, i;
	bool ok = true;

	if (v == NULL || v->bad || bs_ynode_is_null(v))
		return false;
	saved = rctx_push_key(ctx, key);
	if (v->kind == BS_YNODE_SCALAR) {
		const char *problem = NULL;

		if (split_words(v->value, out, &problem) != 0) {
			rctx_error(ctx, v, "%s", problem);
			ok = false;
		}
	} else if (v->kind == BS_YNODE_SEQ) {
		for (i = 0; i < v->n; i++) {
			size_t s2 = rctx_push_index(ctx, i);

			if (v->items[i]->bad)
				ok = false;
			else if (rctx_want_scalar(ctx, v->items[i]))
				bs_strv_push(out, v->items[i]->value);
			else
				ok = false;
			rctx_pop(ctx, s2);
		}
	} else {
		rctx_error(ctx, v, "expected a command line or a list of arguments, found %s",
			   bs_ynode_kind_name(v));
		ok = false;
	}
	rctx_pop(ctx, saved);
	return ok;
}

/* ---- ports ------------------------------------------------------------ */

static int parse_port_range(const char *s, size_t len, int *lo, int *hi)
{
	char buf[16];
	char *dash;
	long long a, b;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	dash = strchr(buf, '-');
	if (dash != NULL)
		*dash = '\0';
	if (bs_parse_int64(buf, &a) != 0 || buf[0] == '+' || buf[0] == '-')
		return -1;
	b = a;
	if (dash != NULL && (bs_parse_int64(dash + 1, &b) != 0 || dash[1] == '+' || dash[1] == '-'))
		return -1;
	if (a < 1 || a > 65535 || b < 1 || b > 65535 || b < a)
		return -2;
	*lo = (int)a;
	*hi = (int)b;
	return 0;
}

/* Split "[IP:]HOST:CONTAINER" (IPv6 in [ ]) in place; the address goes in
 * port->host_ip, *host is NULL without a host port. */
static const char *split_port_spec(char *rest, struct bs_port *port, char **host, char **container)
{
	unsigned char addr[16];
	char *c1, *c2;

	*host = NULL;
	if (rest[0] == '[') {
		char *close = strchr(rest, ']');

		if (close == NULL || close[1] != ':')
			return "an IPv6 address is written [ADDR]:HOST:CONTAINER";
		*close = '\0';
		port->host_ip = bs_xstrdup(rest + 1);
		if (inet_pton(AF_INET6, port->host_ip, addr) != 1)
			return "not a valid IPv6 address inside [ ]";
		*host = close + 2;
		*container = strchr(*host, ':');
		if (*container == NULL)
			return "expected [IP]:HOST:CONTAINER";
		*(*container)++ = '\0';
		return NULL;
	}
	c1 = strchr(rest, ':');
	c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (c2 != NULL && strchr(c2 + 1, ':') != NULL)
		return "too many ':' (put IPv6 addresses in [ ])";
	*container = rest;
	if (c2 != NULL) {
		*c1 = '\0';
		*c2 = '\0';
		port->host_ip = bs_xstrdup(rest);
		if (inet_pton(AF_INET, port->host_ip, addr) != 1)
			return "the part before the host port is not an IPv4 address";
		*host = c1 + 1;
		*container = c2 + 1;
	} else if (c1 != NULL) {
		*c1 = '\0';
		*host = rest;
		*container = c1 + 1;
	}
	return NULL;
}

const char *bs_port_parse(const char *spec, struct bs_port *port)
{
	char *copy = bs_xstrdup(spec);
	char *slash = strchr(copy, '/');
	char *host = NULL, *container = NULL;
	const char *problem = NULL;
	int rc;

	memset(port, 0, sizeof(*port));
	if (slash != NULL) {
		*slash = '\0';
		if (strcmp(slash + 1, "udp") == 0)
			port->proto = BS_PROTO_UDP;
		else if (strcmp(slash + 1, "tcp") != 0) {
			problem = "the protocol after '/' is tcp or udp";
			goto out;
		}
	}
	problem = split_port_spec(copy, port, &host, &container);
	if (problem != NULL)
		goto out;
	rc = parse_port_range(container, strlen(container), &port->container_start,
			      &port->container_end);
	if (rc != 0) {
		problem = rc == -2 ? "ports are 1 to 65535 (ranges low-high)"
				   : "the container port is not a number (like 80 or 8000-8005)";
		goto out;
	}
	if (host != NULL && host[0] != '\0') {
		rc = parse_port_range(host, strlen(host), &port->host_start, &port->host_end);
		if (rc != 0) {
			problem = rc == -2 ? "ports are 1 to 65535 (ranges low-high)"
					   : "the host port is not a number (like 8080)";
			goto out;
		}
		if (port->host_end - port->host_start !=
		    port->container_end - port->container_start)
			problem = "host and container ranges differ in length";
	}
out:
	free(copy);
	return problem;
}

static void parse_ports(struct bs_rctx *ctx, const struct rkey *key, const struct bs_ynode *map,
			void *section)
{
	struct bs_container *c = section;
	const struct bs_ynode *v = bs_ynode_get(map, key->key);
	size_t saved, i;

	if (v == NULL || bs_ynode_is_null(v))
		return;
	saved = rctx_push_key(ctx, key->key);
	if (!rctx_want_seq(ctx, v))
		goto out;
	c->ports = bs_xcalloc(v->n, sizeof(*c->ports));
	for (i = 0; i < v->n; i++) {
		const struct bs_ynode *item = v->items[i];
		size_t s2 = rctx_push_index(ctx, i);
		struct bs_port port;
		const char *problem;

		if (item->bad) {
			/* already reported */
		} else if (item->kind != BS_YNODE_SCALAR) {
			rctx_error(
				ctx, item,
				"expected a port like \"8080:80\" or \"127.0.0.1:8080:80/tcp\", found %s",
				bs_ynode_kind_name(item));
		} else if ((problem = bs_port_parse(item->value, &port)) != NULL) {
			rctx_error(
				ctx, item,
				"'%.100s' is not a port mapping: %s (write [IP:]HOST:CONTAINER[/tcp|udp], like \"8080:80\")",
				item->value, problem);
			free(port.host_ip);
		} else {
			port.loc = rctx_loc(item);
			c->ports[c->n_ports++] = port;
		}
		rctx_pop(ctx, s2);
	}
out:
	rctx_pop(ctx, saved);
}

/* ---- volumes ---------------------------------------------------------- */

static bool volume_name_ok(const char *s)
{
	const char *p;

	if (strlen(s) < 2 || !isalnum((unsigned char)s[0]))
		return false;
	for (p = s; *p != '\0'; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '.' || *p == '-'))
			return false;
	return true;
}

static const char *parse_volume(const char *spec, struct bs_mount *m)
{
	char *copy = bs_xstrdup(spec);
	char *parts[4] = {NULL};
	char *p = copy, *colon;
	const char *problem = NULL;
	int n = 0;

	memset(m, 0, sizeof(*m));
	while (n < 4) {
		parts[n++] = p;
		colon = strchr(p, ':');
		if (colon == NULL)
			break;
		*colon = '\0';
		p = colon + 1;
	}
	if (n == 4 || (n == 3 && strchr(parts[2], ':') != NULL)) {
		problem = "too many ':' (write SOURCE:TARGET[:ro])";
		goto out;
	}
	if (n == 1) {
		m->type = BS_MOUNT_ANONYMOUS;
		m->target = bs_xstrdup(parts[0]);
	} else {
		m->source = bs_xstrdup(parts[0]);
		m->target = bs_xstrdup(parts[1]);
		if (n == 3) {
			if (strcmp(parts[2], "ro") == 0)
				m->read_only = true;
			else if (strcmp(parts[2], "rw") != 0) {
				problem = "the mode after the target is ro or rw";
				goto out;
			}
		}
		if (m->source[0] == '/') {
			m->type = BS_MOUNT_BIND;
		} else if (m->source[0] == '.' || m->source[0] == '~') {
			/* copied to the node, where a write would be lost to the
			 * next copy (and pruned with the old one) */
			m->type = BS_MOUNT_LOCAL;
			if (n == 3 && !m->read_only) {
				problem =
					"a local path is copied to the node and mounted read-only: keep "
					"what the container writes in a named volume (like data:/path)";
				goto out;
			}
			m->read_only = true;
		} else if (!volume_name_ok(m->source)) {
			problem =
				"a volume name is 2 or more letters, digits, '_', '.' or '-', starting with a letter or digit";
			goto out;
		} else {
			m->type = BS_MOUNT_VOLUME;
		}
	}
	if (m->target[0] != '/') {
		problem = "the target is an absolute path in the container (like /data)";
		goto out;
	}
	if (strcmp(m->target, "/") == 0)
		problem = "the target cannot be / itself";
out:
	free(copy);
	return problem;
}

void bs_recipe_mount_free(struct bs_mount *m)
{
	free(m->source);
	free(m->target);
	free(m->tmpfs_options);
	free(m->local_path);
	free(m->content_hash);
}

/* Append m to c's mounts unless its target is taken (reported at item,
 * and m's strings freed). */
static void keep_mount(struct bs_rctx *ctx, const struct bs_ynode *item, struct bs_container *c,
		       struct bs_mount *m)
{
	for (size_t j = 0; j < c->n_volumes; j++)
		if (strcmp(c->volumes[j].target, m->target) == 0) {
			rctx_error(ctx, item,
				   "%.200s is mounted twice in this container (keep one)",
				   m->target);
			bs_recipe_mount_free(m);
			return;
		}
	m->loc = rctx_loc(item);
	c->volumes[c->n_volumes++] = *m;
}

static void parse_volumes(struct bs_rctx *ctx, const struct rkey *key, const struct bs_ynode *map,
			  void *section)
{
	struct bs_container *c = section;
	const struct bs_ynode *v = bs_ynode_get(map, key->key);
	size_t saved, i;

	if (v == NULL || bs_ynode_is_null(v))
		return;
	saved = rctx_push_key(ctx, key->key);
	if (!rctx_want_seq(ctx, v))
		goto out;
	c->volumes = bs_xcalloc(v->n, sizeof(*c->volumes));
	for (i = 0; i < v->n; i++) {
		const struct bs_ynode *item = v->items[i];
		size_t s2 = rctx_push_index(ctx, i);
		struct bs_mount m;
		const char *problem;

		if (item->bad) {
			/* already reported */
		} else if (item->kind != BS_YNODE_SCALAR) {
			rctx_error(
				ctx, item,
				"expected a volume like \"data:/var/lib/data\" or \"/srv/conf:/etc/app:ro\", found %s",
				bs_ynode_kind_name(item));
		} else if ((problem = parse_volume(item->value, &m)) != NULL) {
			rctx_error(ctx, item, "'%.200s' is not a volume: %s", item->value, problem);
			bs_recipe_mount_free(&m);
		} else if (m.type == BS_MOUNT_LOCAL && !bs_recipe_local_mount(ctx, item, &m)) {
			bs_recipe_mount_free(&m);
		} else {
			keep_mount(ctx, item, c, &m);
		}
		rctx_pop(ctx, s2);
	}
out:
	rctx_pop(ctx, saved);
}

/* ---- healthcheck, resources, restart ---------------------------------- */

/* test: a shell command, or [CMD, ...], [CMD-SHELL, "..."], [NONE]. */
static void read_test(struct bs_rctx *ctx, const struct rkey *key, const struct bs_ynode *map,
		      void *section)
{
	struct bs_healthcheck *h = section;
	const struct bs_ynode *test = bs_ynode_get(map, key->key);
	size_t saved, i;

	if (test == NULL || bs_ynode_is_null(test)) {
		if (!h->disable)
			rctx_missing(
				ctx, map, key->key,
				"test: [CMD, curl, -f, http://localhost/] or test: \"shell command\"");
		return;
	}
	saved = rctx_push_key(ctx, key->key);
	if (test->bad) {
		/* already reported */
	} else if (test->kind == BS_YNODE_SCALAR) {
		bs_strv_push(&h->test, "CMD-SHELL");
		bs_strv_push(&h->test, test->value);
	} else if (rctx_want_seq(ctx, test)) {
		for (i = 0; i < test->n; i++) {
			size_t s2 = rctx_push_index(ctx, i);

			if (rctx_want_scalar(ctx, test->items[i]))
				bs_strv_push(&h->test, test->items[i]->value);
			rctx_pop(ctx, s2);
		}
		if (h->test.n > 0 && test->n == h->test.n) {
			const char *first = h->test.v[0];

			if (strcmp(first, "NONE") == 0)
				h->disable = true;
			else if (strcmp(first, "CMD") != 0 && strcmp(first, "CMD-SHELL") != 0)
				rctx_error(
					ctx, test,
					"start the list with CMD (run the arguments) or CMD-SHELL (run a shell command), like [CMD, wget, -qO-, http://localhost/]");
			else if (h->test.n < 2)
				rctx_error(ctx, test, "%s needs a command after it", first);
		} else if (test->n == 0) {
			rctx_error(ctx, test, "empty test (give a command, or disable: true)");
		}
	}
	rctx_pop(ctx, saved);
}

#define HEALTH(field) offsetof(struct bs_healthcheck, field)

/* clang-format off */
static const struct rkey healthcheck_keys[] = {
	{"disable", RK_BOOL, .field = HEALTH(disable)},
	{"interval", RK_DURATION, .field = HEALTH(interval_ms), .lo = 1},
	{"timeout", RK_DURATION, .field = HEALTH(timeout_ms), .lo = 1},
	{"start_period", RK_DURATION, .field = HEALTH(start_period_ms)},
	{"retries", RK_INT, .field = HEALTH(retries), .lo = 1, .hi = 100},
	{"test", RK_FN, .check = read_test},
	{.key = NULL},
};
/* clang-format on */

static void parse_healthcheck(struct bs_rctx *ctx, const struct rkey *key,
			      const struct bs_ynode *map, void *section)
{
	/* the order the message about an unknown key lists them in */
	static const char *const keys[] = {"test",    "interval", "timeout", "start_period",
					   "retries", "disable",  NULL};
	struct bs_healthcheck *h = &((struct bs_container *)section)->healthcheck;
	const struct bs_ynode *v = bs_ynode_get(map, key->key);
	size_t saved;

	if (v == NULL || bs_ynode_is_null(v))
		return;
	saved = rctx_push_key(ctx, key->key);
	if (rctx_want_map(ctx, v)) {
		h->present = true;
		rctx_read_keys(ctx, v, keys, healthcheck_keys, h);
	}
	rctx_pop(ctx, saved);
}

/* "0.5" -> 500000000 nano CPUs. */
static int parse_cpus(const char *s, int64_t *nano)
{
	int64_t whole = 0, frac = 0, scale = 100000000;
	const char *p = s;

	if (!isdigit((unsigned char)*p) && *p != '.')
		return -1;
	while (isdigit((unsigned char)*p)) {
		whole = whole * 10 + (*p++ - '0');
		if (whole > 1024)
			return -1;
	}
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p)) {
			if (scale == 0)
				return -1;
			frac += (*p++ - '0') * scale;
			scale /= 10;
		}
	}
	if (*p != '\0')
		return -1;
	*nano = whole * 1000000000 + frac;
	return 0;
}

static void parse_resources(struct bs_rctx *ctx, const struct rkey *key, const struct bs_ynode *map,
			    void *section)
{
	struct bs_resources *res = &((struct bs_container *)section)->resources;
	static const char *const keys[] = {"memory", "cpus", "pids", NULL};
	const struct bs_ynode *v = bs_ynode_get(map, key->key);
	const struct bs_ynode *item;
	size_t saved, s2;

	if (v == NULL || bs_ynode_is_null(v))
		return;
	saved = rctx_push_key(ctx, key->key);
	if (!rctx_want_map(ctx, v))
		goto out;
	rctx_check_keys(ctx, v, keys);
	item = bs_ynode_get(v, "memory");
	if (item != NULL && !item->bad && !bs_ynode_is_null(item)) {
		s2 = rctx_push_key(ctx, "memory");
		if (rctx_want_scalar(ctx, item)) {
			if (bs_parse_bytes(item->value, &res->memory_bytes) != 0)
				rctx_error(ctx, item,
					   "'%.100s' is not a size (write for example 512m or 2g)",
					   item->value);
			else if (res->memory_bytes < 6 * 1024 * 1024)
				rctx_error(ctx, item, "%.100s is below Docker's minimum of 6m",
					   item->value);
		}
		rctx_pop(ctx, s2);
	}
	item = bs_ynode_get(v, "cpus");
	if (item != NULL && !item->bad && !bs_ynode_is_null(item)) {
		s2 = rctx_push_key(ctx, "cpus");
		if (rctx_want_scalar(ctx, item)) {
			if (parse_cpus(item->value, &res->nano_cpus) != 0 ||
			    res->nano_cpus < 10000000)
				rctx_error(
					ctx, item,
					"'%.100s' is not a CPU count from 0.01 to 1024 (like 0.5 or 2)",
					item->value);
		}
		rctx_pop(ctx, s2);
	}
	if (rctx_get_int64(ctx, v, "pids", -1, 4194304, &res->pids) && res->pids == 0) {
		s2 = rctx_push_key(ctx, "pids");
		rctx_error(ctx, bs_ynode_get(v, "pids"),
			   "pids is a process limit of at least 1 (or -1 for no limit)");
		rctx_pop(ctx, s2);
	}
out:
	rctx_pop(ctx, saved);
}

static void parse_restart(struct bs_rctx *ctx, const struct rkey *key, const struct bs_ynode *map,
			  void *section)
{
	struct bs_container *c = section;
	const struct bs_ynode *v = bs_ynode_get(map, key->key);
	size_t saved;
	int i;

	c->restart = BS_RESTART_UNLESS_STOPPED;
	if (v == NULL || v->bad || bs_ynode_is_null(v))
		return;
	saved = rctx_push_key(ctx, key->key);
	if (rctx_want_scalar(ctx, v)) {
		const char *s = v->value;
		bool ok = false;
		long long n;

		if (bs_str_starts_with(s, "on-failure:")) {
			if (bs_parse_int64(s + 11, &n) == 0 && n >= 1 && n <= 1000) {
				c->restart = BS_RESTART_ON_FAILURE;
				c->restart_max_retries = (int)n;
				ok = true;
			}
		} else {
			for (i = 0; bs_restart_policy_names[i] != NULL; i++)
				if (strcmp(s, bs_restart_policy_names[i]) == 0) {
					c->restart = (enum bs_restart_policy)i;
					ok = true;
				}
		}
		if (!ok) {
			const char *sug = bs_suggest(s, bs_restart_policy_names);

			rctx_error(
				ctx, v,
				"'%.100s' is not a restart policy (no, always, on-failure[:N], unless-stopped)%s%s%s",
				s, sug ? "; did you mean '" : "", sug ? sug : "", sug ? "'?" : "");
		}
	}
	rctx_pop(ctx, saved);
}

/* ---- the section: update, then the container as a table of keys ------ */

static bool container_name_ok(const char *s)
{
	const char *p;

	if (strlen(s) > 63 || !isalnum((unsigned char)s[0]))
		return false;
	for (p = s; *p != '\0'; p++)
		if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_' ||
		      *p == '.' || *p == '-'))
			return false;
	return true;
}

/* parallelism, delay and failure_action are a cluster service's. */
static void check_service_keys(struct bs_rctx *ctx, const struct rkey *key,
			       const struct bs_ynode *map, void *section)
{
	static const char *const service_keys[] = {"parallelism", "delay", "failure_action"};

	(void)key;
	(void)section;
	for (size_t k = 0; k < 3 && ctx->recipe->cluster.type == BS_CLUSTER_NONE; k++)
		if (bs_ynode_get(map, service_keys[k]) != NULL) {
			size_t saved = rctx_push_key(ctx, service_keys[k]);

			rctx_error(
				ctx, bs_ynode_get(map, service_keys[k]),
				"%s applies to cluster services (add cluster: {type: swarm}, or remove it: without a cluster, bootstrap replaces one replica at a time)",
				service_keys[k]);
			rctx_pop(ctx, saved);
		}
}

static void check_at_most_hour(struct bs_rctx *ctx, const struct rkey *key,
			       const struct bs_ynode *at, void *section)
{
	const int64_t *ms = (const int64_t *)((char *)section + key->field);

	if (*ms > 3600 * 1000)
		rctx_error(ctx, at, "%s is at most 1h", key->key);
}

/* the routing mesh holds a cluster's published ports, not the tasks */
static void check_start_first(struct bs_rctx *ctx, const struct bs_ynode *map,
			      const struct bs_container *c)
{
	bool mesh = ctx->recipe->cluster.type != BS_CLUSTER_NONE &&
		    ctx->recipe->cluster.publish == BS_PUBLISH_INGRESS;

	if (c->update.order != BS_ORDER_START_FIRST || mesh)
		return;
	for (size_t i = 0; i < c->n_ports; i++)
		if (c->ports[i].host_start != 0) {
			size_t saved = rctx_push_key(ctx, "order");

			rctx_error(
				ctx, bs_ynode_get(map, "order"),
				"start-first cannot work with the fixed host port %d: the new container could not bind it while the old one runs (use stop-first, or publish only the container port)",
				c->ports[i].host_start);
			rctx_pop(ctx, saved);
			return;
		}
}

_Static_assert(sizeof(enum bs_failure_action) == sizeof(int), "RK_CHOICE stores an int");
_Static_assert(sizeof(enum bs_update_order) == sizeof(int), "RK_CHOICE stores an int");

#define UPDATE(field) offsetof(struct bs_update_conf, field)

/* clang-format off */
static const struct rkey update_keys[] = {
	{"parallelism", RK_FN, .check = check_service_keys},
	{"parallelism", RK_INT, .field = UPDATE(parallelism), .lo = 0, .hi = 1000},
	{"delay", RK_DURATION, .field = UPDATE(delay_ms), .check = check_at_most_hour},
	{"failure_action", RK_CHOICE, .field = UPDATE(failure_action), .arg = bs_failure_action_names},
	{"order", RK_CHOICE, .field = UPDATE(order), .arg = bs_update_order_names},
	{"monitor", RK_DURATION, .field = UPDATE(monitor_ms), .check = check_at_most_hour},
	{"timeout", RK_DURATION, .field = UPDATE(timeout_ms), .check = check_at_most_hour},
	{"failure_logs", RK_INT, .field = UPDATE(failure_logs), .lo = 0, .hi = 1000},
	{.key = NULL},
};
/* clang-format on */

static void parse_update(struct bs_rctx *ctx, const struct rkey *key, const struct bs_ynode *map,
			 void *section)
{
	/* the order the message about an unknown key lists them in */
	static const char *const keys[] = {"order",	     "monitor",	    "timeout",
					   "failure_logs",   "parallelism", "delay",
					   "failure_action", NULL};
	struct bs_container *c = section;
	const struct bs_ynode *v = bs_ynode_get(map, key->key);
	size_t saved;

	c->update.monitor_ms = 1000;
	c->update.failure_logs = 20;
	c->update.parallelism = 1;
	if (v == NULL || bs_ynode_is_null(v))
		return;
	saved = rctx_push_key(ctx, key->key);
	if (rctx_want_map(ctx, v)) {
		rctx_read_keys(ctx, v, keys, update_keys, &c->update);
		check_start_first(ctx, v, c);
	}
	rctx_pop(ctx, saved);
}

static void check_container_name(struct bs_rctx *ctx, const struct rkey *key,
				 const struct bs_ynode *at, void *section)
{
	struct bs_container *c = section;

	(void)key;
	if (!container_name_ok(c->name))
		rctx_error(
			ctx, at,
			"'%.100s' is not a valid container name (lowercase letters, digits, '_', '.', '-', at most 63, starting with a letter or digit)",
			c->name);
}

static void read_command(struct bs_rctx *ctx, const struct rkey *key, const struct bs_ynode *map,
			 void *section)
{
	struct bs_container *c = section;

	c->has_command = get_argv(ctx, map, key->key, &c->command);
}

static void read_entrypoint(struct bs_rctx *ctx, const struct rkey *key, const struct bs_ynode *map,
			    void *section)
{
	struct bs_container *c = section;

	c->has_entrypoint = get_argv(ctx, map, key->key, &c->entrypoint);
}

/* Secrets are masked everywhere, and live in one place only. */
static void check_secrets(struct bs_rctx *ctx, const struct rkey *key, const struct bs_ynode *map,
			  void *section)
{
	struct bs_container *c = section;
	size_t i;

	for (i = 0; i < c->secrets.n; i++) {
		c->secrets.v[i].secret = true;
		bs_strv_add_unique(&ctx->recipe->secrets, c->secrets.v[i].value);
	}
	for (i = 0; i < c->secrets.n; i++)
		if (bs_kvlist_find(&c->environment, c->secrets.v[i].key) != NULL) {
			size_t saved = rctx_push_key(ctx, key->key);

			rctx_error(
				ctx, bs_ynode_get(map, key->key),
				"%s is both an environment variable and a secret (keep it in one place)",
				c->secrets.v[i].key);
			rctx_pop(ctx, saved);
		}
}

static void check_labels(struct bs_rctx *ctx, const struct rkey *key, const struct bs_ynode *map,
			 void *section)
{
	(void)section;
	bs_recipe_check_reserved_labels(ctx, bs_ynode_get(map, key->key));
}

static void check_working_dir(struct bs_rctx *ctx, const struct rkey *key,
			      const struct bs_ynode *at, void *section)
{
	struct bs_container *c = section;

	(void)key;
	if (c->working_dir[0] != '/')
		rctx_error(ctx, at, "working_dir is an absolute path in the container (like /app)");
}

static void check_stop_timeout(struct bs_rctx *ctx, const struct rkey *key,
			       const struct bs_ynode *at, void *section)
{
	struct bs_container *c = section;

	(void)key;
	if (c->stop_timeout_ms > 3600 * 1000)
		rctx_error(ctx, at,
			   "stop_timeout is at most 1h (it bounds how long a stop may take)");
}

static void check_network(struct bs_rctx *ctx, const struct rkey *key, const struct bs_ynode *at,
			  void *section)
{
	struct bs_container *c = section;

	(void)key;
	if ((c->network == BS_NET_HOST || c->network == BS_NET_NONE) && c->n_ports > 0)
		rctx_error(ctx, at,
			   "with network: %s nothing is published: remove ports (with "
			   "host, the container's ports are the node's own)",
			   bs_net_mode_names[c->network]);
}

static void check_domain(struct bs_rctx *ctx, const struct rkey *key, const struct bs_ynode *at,
			 void *section)
{
	struct bs_container *c = section;

	(void)key;
	if (!bs_recipe_is_hostname(c->domain) || strchr(c->domain, '.') == NULL) {
		rctx_error(
			ctx, at,
			"'%.200s' is not a fully qualified domain name (lowercase, like shop.example.com)",
			c->domain);
		free(c->domain); /* one error for it, not more from its checks */
		c->domain = NULL;
	}
}

/* ---- compose's service keys: capabilities, tmpfs, ulimits, hosts, logging */

static bool name_in(const char *s, const char *const *names)
{
	for (size_t i = 0; names[i] != NULL; i++)
		if (strcmp(s, names[i]) == 0)
			return true;
	return false;
}

/* "; did you mean 'X'?" or "" */
static const char *did_you_mean(char *buf, size_t size, const char *s, const char *const *names)
{
	const char *sug = bs_suggest(s, names);

	if (sug == NULL)
		return "";
	snprintf(buf, size, "; did you mean '%s'?", sug);
	return buf;
}

/* Linux capabilities as Docker knows them, without the CAP_ prefix. */
/* clang-format off */
static const char *const capability_names[] = {
	"ALL", "AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "BPF",
	"CHECKPOINT_RESTORE", "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID",
	"IPC_LOCK", "IPC_OWNER", "KILL", "LEASE", "LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE",
	"MKNOD", "NET_ADMIN", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_RAW", "PERFMON", "SETFCAP",
	"SETGID", "SETPCAP", "SETUID", "SYSLOG", "SYS_ADMIN", "SYS_BOOT", "SYS_CHROOT", "SYS_MODULE",
	"SYS_NICE", "SYS_PACCT", "SYS_PTRACE", "SYS_RAWIO", "SYS_RESOURCE", "SYS_TIME",
	"SYS_TTY_CONFIG", "WAKE_ALARM",
	NULL};
/* clang-format on */

/* cap_add, cap_drop: names in any case, with or without CAP_, stored
 * uppercase without it, as Docker compares them. */
static void parse_caps(struct bs_rctx *ctx, const struct rkey *key, const struct bs_ynode *map,
		       void *section)
{
	struct bs_container *c = section;
	struct bs_strv *out = strcmp(key->key, "cap_add") == 0 ? &c->cap_add : &c->cap_drop;
	const struct bs_ynode *v = bs_ynode_get(map, key->key);
	size_t saved, i;

	if (v == NULL || bs_ynode_is_null(v))
		return;
	saved = rctx_push_key(ctx, key->key);
	if (!rctx_want_seq(ctx, v))
		goto out;
	for (i = 0; i < v->n; i++) {
		const struct bs_ynode *item = v->items[i];
		size_t s2 = rctx_push_index(ctx, i);

		if (!item->bad && rctx_want_scalar(ctx, item)) {
			const char *s = item->value;
			char *name, *p, hint[64];

			if (strncasecmp(s, "CAP_", 4) == 0)
				s += 4;
			name = bs_xstrdup(s);
			for (p = name; *p != '\0'; p++)
				*p = (char)toupper((unsigned char)*p);
			if (!name_in(name, capability_names))
				rctx_error(
					ctx, item,
					"'%.100s' is not a Linux capability (like NET_ADMIN or SYS_PTRACE, or ALL)%s",
					item->value,
					did_you_mean(hint, sizeof(hint), name, capability_names));
			else if (bs_strv_contains(out, name))
				rctx_error(ctx, item, "%s is listed twice (keep one)", name);
			else
				bs_strv_push(out, name);
			free(name);
		}
		rctx_pop(ctx, s2);
	}
out:
	rctx_pop(ctx, saved);
}

/* What the engine accepts in a tmpfs's options (moby's tmpfs option
 * parser): mount flags, and KEY=VALUE data options. */
/* clang-format off */
static const char *const tmpfs_flags[] = {
	"ro", "rw", "exec", "noexec", "suid", "nosuid", "dev", "nodev", "sync", "async", "dirsync",
	"atime", "noatime", "diratime", "nodiratime", "relatime", "norelatime", "strictatime",
	"nostrictatime", "mand", "nomand", "tmpcopyup", "notmpcopyup",
	NULL};
/* clang-format on */
static const char *const tmpfs_data[] = {"size",      "mode",	   "uid",  "gid",
					 "nr_inodes", "nr_blocks", "mpol", NULL};

static bool all_digits(const char *s, const char *end, int base)
{
	if (s == end)
		return false;
	for (; s < end; s++)
		if (!(base == 8 ? (*s >= '0' && *s <= '7') : isdigit((unsigned char)*s)))
			return false;
	return true;
}

/* One option of "size=64m,mode=1777,noexec" into m; a problem, or NULL. */
static const char *tmpfs_option(const char *opt, size_t len, struct bs_mount *m, char *buf,
				size_t size)
{
	const char *eq = memchr(opt, '=', len), *end = opt + len;
	char *name = bs_xstrndup(opt, eq ? (size_t)(eq - opt) : len);
	const char *problem = NULL;
	char hint[64];

	if (eq == NULL) {
		if (!name_in(name, tmpfs_flags)) {
			snprintf(buf, size,
				 "'%.40s' is not a tmpfs option (size=, mode=, uid=, gid=, "
				 "nr_inodes=, noexec, nosuid, nodev, ro, ...)%s",
				 name, did_you_mean(hint, sizeof(hint), name, tmpfs_flags));
			problem = buf;
		}
	} else if (!name_in(name, tmpfs_data)) {
		snprintf(buf, size, "'%.40s' is not a tmpfs option with a value (%s)%s", name,
			 "size, mode, uid, gid, nr_inodes, nr_blocks, mpol",
			 did_you_mean(hint, sizeof(hint), name, tmpfs_data));
		problem = buf;
	} else if (strcmp(name, "size") == 0) {
		char *val = bs_xstrndup(eq + 1, (size_t)(end - eq - 1));

		if (len > 5 && end[-1] == '%' && all_digits(eq + 1, end - 1, 10))
			m->tmpfs_size = 0; /* a share of the memory: the engine's to size */
		else if (bs_parse_bytes(val, &m->tmpfs_size) != 0 || m->tmpfs_size <= 0)
			problem = "size is bytes with an optional unit, like size=64m (or a "
				  "share of memory, like size=10%)";
		free(val);
	} else if (strcmp(name, "mode") == 0) {
		if (!all_digits(eq + 1, end, 8) || end - eq - 1 > 4)
			problem = "mode is octal permission bits, like mode=1777";
		else
			m->tmpfs_mode = (int)strtol(eq + 1, NULL, 8);
	} else if (strcmp(name, "uid") == 0 || strcmp(name, "gid") == 0) {
		if (!all_digits(eq + 1, end, 10)) {
			snprintf(buf, size, "%s is a number, like %s=1000", name, name);
			problem = buf;
		}
	} else if (eq + 1 == end) {
		snprintf(buf, size, "%s= needs a value", name);
		problem = buf;
	}
	free(name);
	return problem;
}

/* "PATH" or "PATH:OPTIONS" into m; a problem, or NULL. */
static const char *parse_tmpfs(const char *spec, struct bs_mount *m, char *buf, size_t size)
{
	const char *colon = strchr(spec, ':');
	const char *opts = colon ? colon + 1 : "";
	const char *problem = NULL;

	memset(m, 0, sizeof(*m));
	m->type = BS_MOUNT_TMPFS;
	m->target = bs_xstrndup(spec, colon ? (size_t)(colon - spec) : strlen(spec));
	m->tmpfs_options = bs_xstrdup(opts);
	if (m->target[0] != '/')
		return "the path is absolute in the container (like /run)";
	if (strcmp(m->target, "/") == 0)
		return "the path cannot be / itself";
	while (*opts != '\0' && problem == NULL) {
		size_t len = strcspn(opts, ",");

		if (len == 0)
			problem =
				"an empty option (write OPTION,OPTION without spaces or extra commas)";
		else
			problem = tmpfs_option(opts, len, m, buf, size);
		opts += len;
		if (*opts == ',' && *++opts == '\0')
			problem = "an empty option after the last ','";
	}
	return problem;
}

/* tmpfs: a path or a list of paths, each "PATH[:OPTIONS]"; kept with the
 * volumes as BS_MOUNT_TMPFS mounts, after them. */
static void parse_tmpfs_key(struct bs_rctx *ctx, const struct rkey *key, const struct bs_ynode *map,
			    void *section)
{
	struct bs_container *c = section;
	const struct bs_ynode *v = bs_ynode_get(map, key->key);
	const struct bs_ynode *const *items;
	size_t saved, n, i;

	if (v == NULL || bs_ynode_is_null(v) || v->bad)
		return;
	saved = rctx_push_key(ctx, key->key);
	if (v->kind == BS_YNODE_SCALAR) {
		items = (const struct bs_ynode *const *)&v;
		n = 1;
	} else if (rctx_want_seq(ctx, v)) {
		items = (const struct bs_ynode *const *)v->items;
		n = v->n;
	} else {
		goto out;
	}
	if (n == 0)
		goto out;
	c->volumes = bs_xrealloc(c->volumes, (c->n_volumes + n) * sizeof(*c->volumes));
	for (i = 0; i < n; i++) {
		const struct bs_ynode *item = items[i];
		size_t s2 = v->kind == BS_YNODE_SEQ ? rctx_push_index(ctx, i) : ctx->path_len;
		struct bs_mount m;
		const char *problem;
		char buf[256];

		if (item->bad || !rctx_want_scalar(ctx, item)) {
			rctx_pop(ctx, s2);
			continue;
		}
		problem = parse_tmpfs(item->value, &m, buf, sizeof(buf));
		if (problem != NULL) {
			rctx_error(ctx, item,
				   "'%.200s' is not a tmpfs (write PATH[:OPTIONS], like "
				   "\"/run:size=64m,mode=1777\"): %s",
				   item->value, problem);
			bs_recipe_mount_free(&m);
		} else {
			keep_mount(ctx, item, c, &m);
		}
		rctx_pop(ctx, s2);
	}
out:
	rctx_pop(ctx, saved);
}

/* The resource limits Docker sets by name (moby's ulimit names). */
/* clang-format off */
static const char *const ulimit_names[] = {
	"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc",
	"rss", "rtprio", "rttime", "sigpending", "stack",
	NULL};
/* clang-format on */

static bool ulimit_value(struct bs_rctx *ctx, const struct bs_ynode *at, int64_t *out)
{
	long long n;

	if (bs_parse_int64(at->value, &n) != 0 || n < -1) {
		rctx_error(ctx, at, "'%.100s' is not a limit (a number, or -1 for unlimited)",
			   at->value);
		return false;
	}
	*out = n;
	return true;
}

/* ulimits: {NAME: N} (soft and hard) or {NAME: {soft: N, hard: N}}. */
static void parse_ulimits(struct bs_rctx *ctx, const struct rkey *key, const struct bs_ynode *map,
			  void *section)
{
	static const char *const pair_keys[] = {"soft", "hard", NULL};
	struct bs_container *c = section;
	const struct bs_ynode *v = bs_ynode_get(map, key->key);
	size_t saved, i;

	if (v == NULL || bs_ynode_is_null(v))
		return;
	saved = rctx_push_key(ctx, key->key);
	if (!rctx_want_map(ctx, v))
		goto out;
	c->ulimits = bs_xcalloc(v->n ? v->n : 1, sizeof(*c->ulimits));
	for (i = 0; i < v->n; i++) {
		const struct bs_ynode *k = v->pairs[i].key, *val = v->pairs[i].value;
		size_t s2 = rctx_push_key(ctx, k->value);
		struct bs_ulimit u = {NULL, 0, 0};
		bool ok = false;
		char hint[64];

		if (k->bad || val->bad) {
			/* already reported */
		} else if (!name_in(k->value, ulimit_names)) {
			rctx_error(
				ctx, k, "'%.100s' is not a ulimit (%s)%s", k->value,
				"core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, "
				"nproc, rss, rtprio, rttime, sigpending, stack",
				did_you_mean(hint, sizeof(hint), k->value, ulimit_names));
		} else if (val->kind == BS_YNODE_SCALAR && !bs_ynode_is_null(val)) {
			ok = ulimit_value(ctx, val, &u.soft);
			u.hard = u.soft;
		} else if (val->kind == BS_YNODE_MAP) {
			rctx_check_keys(ctx, val, pair_keys);
			/* both read, so that both are reported */
			bool soft_ok = rctx_get_int64(ctx, val, "soft", -1, INT64_MAX, &u.soft);
			bool hard_ok = rctx_get_int64(ctx, val, "hard", -1, INT64_MAX, &u.hard);

			ok = soft_ok && hard_ok;
			if (!ok && !rctx_absent(val, "soft") && rctx_absent(val, "hard"))
				rctx_missing(ctx, val, "hard", "hard: N");
			else if (!ok && rctx_absent(val, "soft"))
				rctx_missing(ctx, val, "soft", "soft: N");
			if (ok && u.hard != -1 && (u.soft == -1 || u.soft > u.hard)) {
				rctx_error(ctx, val,
					   "the soft limit %lld is above the hard limit %lld "
					   "(soft is at most hard; -1 is unlimited)",
					   (long long)u.soft, (long long)u.hard);
				ok = false;
			}
		} else {
			rctx_error(ctx, val, "expected a number or {soft: N, hard: N}, found %s",
				   bs_ynode_kind_name(val));
		}
		if (ok) {
			u.name = bs_xstrdup(k->value);
			c->ulimits[c->n_ulimits++] = u;
		}
		rctx_pop(ctx, s2);
	}
out:
	rctx_pop(ctx, saved);
}

/* One extra host: a host name (no spaces, ':' or '=') and an IPv4 or IPv6
 * address (brackets allowed around IPv6) or host-gateway. */
static void add_extra_host(struct bs_rctx *ctx, const struct bs_ynode *at, struct bs_container *c,
			   const char *host, size_t host_len, const char *addr)
{
	char *h = bs_xstrndup(host, host_len), *a;
	size_t alen = strlen(addr);
	unsigned char bin[16];

	if (alen >= 2 && addr[0] == '[' && addr[alen - 1] == ']')
		a = bs_xstrndup(addr + 1, alen - 2);
	else
		a = bs_xstrdup(addr);
	if (h[0] == '\0' || strpbrk(h, " \t:=[]") != NULL)
		rctx_error(ctx, at,
			   "'%.100s' is not a host name for extra_hosts (write HOST:ADDRESS, "
			   "like \"db.internal:10.0.0.5\")",
			   h);
	else if (strcmp(a, "host-gateway") != 0 && inet_pton(AF_INET, a, bin) != 1 &&
		 inet_pton(AF_INET6, a, bin) != 1)
		rctx_error(ctx, at,
			   "'%.100s' is not an IPv4 or IPv6 address (or host-gateway, the node's "
			   "own address) for %.100s",
			   a, h);
	else {
		for (size_t i = 0; i < c->extra_hosts.n; i++)
			if (strcmp(c->extra_hosts.v[i].key, h) == 0 &&
			    strcmp(c->extra_hosts.v[i].value, a) == 0) {
				rctx_error(ctx, at, "%.100s %.100s is given twice (keep one)", h,
					   a);
				goto out;
			}
		bs_kvlist_push(&c->extra_hosts, h, a, false);
	}
out:
	free(h);
	free(a);
}

/* extra_hosts: ["HOST:ADDRESS"], ["HOST=ADDRESS"] or {HOST: ADDRESS}. */
static void parse_extra_hosts(struct bs_rctx *ctx, const struct rkey *key,
			      const struct bs_ynode *map, void *section)
{
	struct bs_container *c = section;
	const struct bs_ynode *v = bs_ynode_get(map, key->key);
	size_t saved, i;

	if (v == NULL || bs_ynode_is_null(v) || v->bad)
		return;
	saved = rctx_push_key(ctx, key->key);
	if (v->kind == BS_YNODE_MAP) {
		for (i = 0; i < v->n; i++) {
			const struct bs_ynode *k = v->pairs[i].key, *val = v->pairs[i].value;
			size_t s2 = rctx_push_key(ctx, k->value);

			if (!k->bad && !val->bad && rctx_want_scalar(ctx, val))
				add_extra_host(ctx, val, c, k->value, strlen(k->value), val->value);
			rctx_pop(ctx, s2);
		}
	} else if (v->kind == BS_YNODE_SEQ) {
		for (i = 0; i < v->n; i++) {
			const struct bs_ynode *item = v->items[i];
			size_t s2 = rctx_push_index(ctx, i);
			const char *sep;

			if (!item->bad && rctx_want_scalar(ctx, item)) {
				sep = strchr(item->value, '=');
				if (sep == NULL)
					sep = strchr(item->value, ':');
				if (sep == NULL)
					rctx_error(ctx, item,
						   "'%.100s' has no address (write HOST:ADDRESS or "
						   "HOST=ADDRESS, like \"db.internal:10.0.0.5\")",
						   item->value);
				else
					add_extra_host(ctx, item, c, item->value,
						       (size_t)(sep - item->value), sep + 1);
			}
			rctx_pop(ctx, s2);
		}
	} else {
		rctx_error(
			ctx, v,
			"expected a list (- HOST:ADDRESS) or a mapping (HOST: ADDRESS), found %s",
			bs_ynode_kind_name(v));
	}
	rctx_pop(ctx, saved);
}

/* The log drivers that come with Docker; a plugin is named with a '/'. */
/* clang-format off */
static const char *const log_driver_names[] = {
	"json-file", "local", "syslog", "journald", "gelf", "fluentd", "awslogs", "splunk",
	"etwlogs", "gcplogs", "logentries", "none",
	NULL};
/* clang-format on */

/* logging: {driver: NAME, options: {KEY: VALUE}} */
static void parse_logging(struct bs_rctx *ctx, const struct rkey *key, const struct bs_ynode *map,
			  void *section)
{
	static const char *const keys[] = {"driver", "options", NULL};
	struct bs_logging *lg = &((struct bs_container *)section)->logging;
	const struct bs_ynode *v = bs_ynode_get(map, key->key);
	size_t saved, s2;
	char hint[64];

	if (v == NULL || bs_ynode_is_null(v))
		return;
	saved = rctx_push_key(ctx, key->key);
	if (!rctx_want_map(ctx, v))
		goto out;
	rctx_check_keys(ctx, v, keys);
	rctx_get_kvlist(ctx, v, "options", "log option", false, &lg->options);
	if (!rctx_get_str(ctx, v, "driver", NULL, &lg->driver))
		goto out;
	s2 = rctx_push_key(ctx, "driver");
	if (strchr(lg->driver, '/') == NULL && !name_in(lg->driver, log_driver_names)) {
		rctx_error(ctx, bs_ynode_get(v, "driver"),
			   "'%.100s' is not a log driver (json-file, local, syslog, journald, "
			   "gelf, fluentd, awslogs, splunk, gcplogs, none, or a plugin as "
			   "OWNER/NAME)%s",
			   lg->driver,
			   did_you_mean(hint, sizeof(hint), lg->driver, log_driver_names));
		free(lg->driver);
		lg->driver = NULL;
	} else if (strcmp(lg->driver, "none") == 0 && lg->options.n > 0) {
		rctx_error(ctx, bs_ynode_get(v, "driver"),
			   "the none driver keeps no logs and takes no options (remove options:)");
	}
	rctx_pop(ctx, s2);
out:
	rctx_pop(ctx, saved);
}

#define CONTAINER(field) offsetof(struct bs_container, field)

_Static_assert(sizeof(enum bs_net_mode) == sizeof(int), "RK_CHOICE stores an int");

/* clang-format off */
static const struct rkey container_keys[] = {
	{"name", RK_STR, .field = CONTAINER(name), .arg = "name: web", .check = check_container_name},
	{"image", RK_STR, .field = CONTAINER(image), .arg = "image: REPOSITORY:TAG, like nginx:1.25", .check = bs_recipe_check_image_key},
	{"command", RK_FN, .check = read_command},
	{"entrypoint", RK_FN, .check = read_entrypoint},
	{"environment", RK_ENV_KVLIST, .field = CONTAINER(environment), .arg = "variable"},
	{"secrets", RK_ENV_KVLIST, .field = CONTAINER(secrets), .arg = "secret"},
	{"secrets", RK_FN, .check = check_secrets},
	{"ports", RK_FN, .check = parse_ports},
	{"volumes", RK_FN, .check = parse_volumes},
	{"restart", RK_FN, .check = parse_restart},
	{"healthcheck", RK_FN, .check = parse_healthcheck},
	{"labels", RK_KVLIST, .field = CONTAINER(labels), .arg = "label"},
	{"labels", RK_FN, .check = check_labels},
	{"user", RK_STR, .field = CONTAINER(user)},
	{"working_dir", RK_STR, .field = CONTAINER(working_dir), .check = check_working_dir},
	{"replicas", RK_INT, .field = CONTAINER(replicas), .lo = 0, .hi = 100},
	{"nodes", RK_SELECTORS, .field = CONTAINER(nodes)},
	{"resources", RK_FN, .check = parse_resources},
	{"stop_timeout", RK_DURATION, .field = CONTAINER(stop_timeout_ms), .check = check_stop_timeout},
	{"update", RK_FN, .check = parse_update},
	{"network", RK_CHOICE, .field = CONTAINER(network), .arg = bs_net_mode_names, .check = check_network},
	{"domain", RK_STR, .field = CONTAINER(domain), .check = check_domain},
	{"expose", RK_INT, .field = CONTAINER(expose), .lo = 1, .hi = 65535},
	{"cap_add", RK_FN, .check = parse_caps},
	{"cap_drop", RK_FN, .check = parse_caps},
	{"read_only", RK_BOOL, .field = CONTAINER(read_only)},
	{"tmpfs", RK_FN, .check = parse_tmpfs_key},
	{"ulimits", RK_FN, .check = parse_ulimits},
	{"extra_hosts", RK_FN, .check = parse_extra_hosts},
	{"logging", RK_FN, .check = parse_logging},
	{"depends_on", RK_FN, .check = bs_recipe_parse_depends_on},
	{"container_name", RK_STR, .field = CONTAINER(container_name), .check = bs_recipe_check_container_name_key},
	{.key = NULL},
};
/* clang-format on */

void bs_recipe_parse_container(struct bs_rctx *ctx, const struct bs_ynode *map,
			       struct bs_container *c)
{
	/* the order the message about an unknown key lists them in */
	static const char *const keys[] = {
		"name",	     "image",	    "command",	    "entrypoint", "environment",
		"secrets",   "ports",	    "volumes",	    "restart",	  "healthcheck",
		"labels",    "user",	    "working_dir",  "replicas",	  "nodes",
		"resources", "domain",	    "stop_timeout", "update",	  "network",
		"expose",    "cap_add",	    "cap_drop",	    "read_only",  "tmpfs",
		"ulimits",   "extra_hosts", "logging",	    "depends_on", "container_name",
		NULL};

	c->loc = rctx_loc(map);
	c->name_loc = rctx_loc(bs_ynode_get(map, "name"));
	c->image_loc = rctx_loc(bs_ynode_get(map, "image"));
	c->domain_loc = rctx_loc(bs_ynode_get(map, "domain"));
	c->expose_loc = rctx_loc(bs_ynode_get(map, "expose"));
	c->replicas_loc =
		rctx_loc(bs_ynode_get(map, "replicas") ? bs_ynode_get(map, "replicas") : map);
	c->nodes_loc = rctx_loc(bs_ynode_get(map, "nodes") ? bs_ynode_get(map, "nodes") : map);
	c->replicas = 1;
	c->stop_timeout_ms = 10000;
	rctx_read_keys(ctx, map, keys, container_keys, c);
}

static void parse_container_item(struct bs_rctx *ctx, const struct bs_ynode *map)
{
	struct bs_recipe *r = ctx->recipe;

	bs_recipe_parse_container(ctx, map, &r->containers[r->n_containers++]);
}

void bs_recipe_parse_containers(struct bs_rctx *ctx, const struct bs_ynode *seq)
{
	rctx_read_list(ctx, seq, "containers", (void **)&ctx->recipe->containers,
		       sizeof(struct bs_container), parse_container_item);
}

/* ---- cross references ------------------------------------------------- */

static bool ports_clash(const struct bs_port *a, const struct bs_port *b)
{
	if (a->host_start == 0 || b->host_start == 0 || a->proto != b->proto)
		return false;
	if (a->host_ip != NULL && b->host_ip != NULL && strcmp(a->host_ip, b->host_ip) != 0)
		return false;
	return a->host_start <= b->host_end && b->host_start <= a->host_end;
}

static void check_ports(struct bs_rctx *ctx)
{
	const struct bs_recipe *r = ctx->recipe;
	/* a cluster's routing mesh publishes a port once, on every node */
	bool mesh = r->cluster.type != BS_CLUSTER_NONE && r->cluster.publish == BS_PUBLISH_INGRESS;
	size_t ci, pi, cj, pj, k;

	for (ci = 0; ci < r->n_containers; ci++) {
		const struct bs_container *c = &r->containers[ci];
		size_t n_nodes = 0;
		bool fixed = false;

		for (k = 0; k < r->n_nodes; k++)
			n_nodes += bs_container_selects(c, &r->nodes[k]);
		for (pi = 0; pi < c->n_ports; pi++)
			fixed = fixed || c->ports[pi].host_start != 0;
		rctx_set_path(ctx, "containers[%zu].replicas", ci);
		if (fixed && n_nodes > 0 && (size_t)c->replicas > n_nodes && !mesh)
			rctx_error_loc(
				ctx, c->replicas_loc,
				"%d replicas on %zu node%s cannot all publish the same host port (lower replicas to %zu, or publish only the container port)",
				c->replicas, n_nodes, n_nodes == 1 ? "" : "s", n_nodes);
		for (pi = 0; pi < c->n_ports; pi++) {
			const struct bs_port *p = &c->ports[pi];
			bool reported = false;

			for (cj = 0; cj <= ci && !reported; cj++) {
				const struct bs_container *d = &r->containers[cj];
				size_t limit = cj == ci ? pi : d->n_ports;

				for (pj = 0; pj < limit && !reported; pj++) {
					if (!ports_clash(p, &d->ports[pj]))
						continue;
					for (k = 0; k < r->n_nodes && !reported; k++) {
						if (!mesh &&
						    (!bs_container_selects(c, &r->nodes[k]) ||
						     !bs_container_selects(d, &r->nodes[k])))
							continue;
						rctx_set_path(ctx, "containers[%zu].ports[%zu]", ci,
							      pi);
						rctx_error_loc(
							ctx, p->loc,
							"host port %d/%s is also published by container %s on node %s (pick another host port)",
							p->host_start > d->ports[pj].host_start
								? p->host_start
								: d->ports[pj].host_start,
							p->proto == BS_PROTO_UDP ? "udp" : "tcp",
							d->name ? d->name : "?", r->nodes[k].name);
						reported = true;
					}
				}
			}
		}
	}
}

/* An option of a short tmpfs that a service's TmpfsOptions (API 1.41:
 * SizeBytes and Mode only) cannot carry, as "OPTION"; NULL if none. */
static char *tmpfs_unserviceable(const char *options)
{
	const char *p = options;

	while (*p != '\0') {
		size_t len = strcspn(p, ",");

		if (!(len > 5 && strncmp(p, "size=", 5) == 0 && p[len - 1] != '%') &&
		    !(len > 5 && strncmp(p, "mode=", 5) == 0))
			return bs_xstrndup(p, len);
		p += len;
		if (*p == ',')
			p++;
	}
	return NULL;
}

/* compose's keys a swarm service (API 1.41) has no field for. */
static void check_service_keys_cluster(struct bs_rctx *ctx, size_t ci)
{
	const struct bs_container *c = &ctx->recipe->containers[ci];
	const char *name = c->name ? c->name : "?";

	rctx_set_path(ctx, "containers[%zu].expose", ci);
	if (c->n_exposed > 0)
		rctx_error_loc(ctx, c->exposed[0].loc,
			       "container %s: a cluster service has no exposed ports (remove "
			       "expose:; the overlay network reaches every port of a task)",
			       name);
	for (size_t i = 0; i < c->extra_hosts.n; i++) {
		if (strcmp(c->extra_hosts.v[i].value, "host-gateway") != 0)
			continue;
		rctx_set_path(ctx, "containers[%zu].extra_hosts", ci);
		rctx_error_loc(
			ctx, c->loc,
			"container %s: host-gateway is resolved for containers only, not for "
			"cluster services (write the node's address for %s instead)",
			name, c->extra_hosts.v[i].key);
	}
	for (size_t i = 0; i < c->n_volumes; i++) {
		const struct bs_mount *m = &c->volumes[i];
		char *opt;

		if (m->type != BS_MOUNT_TMPFS || m->tmpfs_options == NULL)
			continue;
		opt = tmpfs_unserviceable(m->tmpfs_options);
		if (opt == NULL)
			continue;
		rctx_set_path(ctx, "containers[%zu].tmpfs", ci);
		rctx_error_loc(ctx, m->loc,
			       "container %s: a cluster service's tmpfs takes only size=BYTES and "
			       "mode=OCTAL, not %.100s (remove it from %.200s)",
			       name, opt, m->target);
		free(opt);
	}
}

/* What a cluster service cannot be. */
void bs_recipe_check_cluster(struct bs_rctx *ctx)
{
	const struct bs_recipe *r = ctx->recipe;

	if (r->cluster.type == BS_CLUSTER_NONE)
		return;
	if (r->domains.loc.line > 0) {
		rctx_set_path(ctx, "domains");
		rctx_error_loc(
			ctx, r->domains.loc,
			"domains are not routed to cluster services yet: remove domains:, or "
			"run the containers without cluster:");
	}
	for (size_t ci = 0; ci < r->n_containers; ci++) {
		const struct bs_container *c = &r->containers[ci];

		for (size_t pi = 0; pi < c->n_ports; pi++) {
			if (c->ports[pi].host_ip == NULL)
				continue;
			rctx_set_path(ctx, "containers[%zu].ports[%zu]", ci, pi);
			rctx_error_loc(
				ctx, c->ports[pi].loc,
				"a cluster publishes ports on every address of its nodes, so %.100s: cannot be chosen (remove it, and close the port with the node's firewall if it must not be reached)",
				c->ports[pi].host_ip);
		}
		rctx_set_path(ctx, "containers[%zu].name", ci);
		if (c->name != NULL && c->name[0] != '\0' && r->project != NULL &&
		    strlen(r->project) < 62 &&
		    (strchr(c->name, '.') != NULL || c->name[strlen(c->name) - 1] == '-' ||
		     c->name[strlen(c->name) - 1] == '_' ||
		     strlen(r->project) + 1 + strlen(c->name) > 63))
			rctx_error_loc(
				ctx, c->name_loc,
				"'%.100s' cannot name a swarm service (%s-%.100s): use letters, digits, '-' and '_', ending with a letter or digit, at most %zu characters",
				c->name, r->project, c->name, 63 - strlen(r->project) - 1);
		rctx_set_path(ctx, "containers[%zu].network", ci);
		if (c->network == BS_NET_BRIDGE || c->network == BS_NET_NONE)
			rctx_error_loc(
				ctx, c->loc,
				"container %s: a cluster service joins the project's overlay network (network: project) or the node's (network: host), not %s",
				c->name ? c->name : "?", bs_net_mode_name(c->network));
		rctx_set_path(ctx, "containers[%zu].domain", ci);
		if (c->domain != NULL)
			rctx_error_loc(
				ctx, c->domain_loc,
				"container %s: domains are not routed to cluster services yet (remove domain:, or run the container without cluster:)",
				c->name ? c->name : "?");
		rctx_set_path(ctx, "containers[%zu].expose", ci);
		if (c->domain == NULL && c->expose > 0)
			rctx_error_loc(
				ctx, c->expose_loc,
				"container %s: expose: is the port of a domain, and domains are not routed to cluster services yet (remove it)",
				c->name ? c->name : "?");
		check_service_keys_cluster(ctx, ci);
	}
}

void bs_recipe_check_containers(struct bs_rctx *ctx)
{
	const struct bs_recipe *r = ctx->recipe;
	size_t i, j;

	for (i = 0; i < r->n_containers; i++) {
		const struct bs_container *c = &r->containers[i];

		rctx_check_selectors(ctx, &c->nodes, "containers", i);
		for (j = 0; j < i; j++) {
			const struct bs_container *d = &r->containers[j];

			rctx_set_path(ctx, "containers[%zu].name", i);
			if (c->name && d->name && strcmp(c->name, d->name) == 0)
				rctx_error_loc(
					ctx, c->name_loc,
					"container name %s is used twice (first at line %d); rename one",
					c->name, d->loc.line);
			rctx_set_path(ctx, "containers[%zu].domain", i);
			if (c->domain && d->domain && strcmp(c->domain, d->domain) == 0)
				rctx_error_loc(
					ctx, c->domain_loc,
					"domain %s is already used by container %s (a domain routes to one container)",
					c->domain, d->name ? d->name : "?");
		}
	}
	check_ports(ctx);
	bs_recipe_check_depends(ctx);
}

void bs_recipe_free_containers(struct bs_recipe *r)
{
	size_t i, j;

	for (i = 0; i < r->n_images; i++) {
		struct bs_image *img = &r->images[i];

		free(img->name);
		free(img->build_git);
		free(img->build_dockerfile);
		free(img->build_context);
		free(img->build_target);
		free(img->context_hash);
		bs_kvlist_free(&img->build_args);
		for (j = 0; j < img->nodes.n; j++) {
			free(img->nodes.v[j].key);
			free(img->nodes.v[j].value);
		}
		free(img->nodes.v);
	}
	free(r->images);
	for (i = 0; i < r->n_containers; i++) {
		struct bs_container *c = &r->containers[i];

		free(c->name);
		free(c->image);
		bs_strv_free(&c->command);
		bs_strv_free(&c->entrypoint);
		bs_kvlist_free(&c->environment);
		bs_kvlist_free(&c->secrets);
		for (j = 0; j < c->n_ports; j++)
			free(c->ports[j].host_ip);
		free(c->ports);
		for (j = 0; j < c->n_volumes; j++) {
			bs_recipe_mount_free(&c->volumes[j]);
		}
		free(c->volumes);
		for (j = 0; j < c->n_exposed; j++)
			free(c->exposed[j].host_ip);
		free(c->exposed);
		free(c->container_name);
		for (j = 0; j < c->n_depends_on; j++)
			free(c->depends_on[j].container);
		free(c->depends_on);
		bs_strv_free(&c->profiles);
		bs_strv_free(&c->cap_add);
		bs_strv_free(&c->cap_drop);
		for (j = 0; j < c->n_ulimits; j++)
			free(c->ulimits[j].name);
		free(c->ulimits);
		bs_kvlist_free(&c->extra_hosts);
		free(c->logging.driver);
		bs_kvlist_free(&c->logging.options);
		free(c->compose_file);
		bs_strv_free(&c->healthcheck.test);
		bs_kvlist_free(&c->labels);
		free(c->user);
		free(c->working_dir);
		for (j = 0; j < c->nodes.n; j++) {
			free(c->nodes.v[j].key);
			free(c->nodes.v[j].value);
		}
		free(c->nodes.v);
		free(c->domain);
	}
	free(r->containers);
}
