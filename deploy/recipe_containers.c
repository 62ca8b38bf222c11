/*
 * recipe_containers.c - the images: and containers: sections, their value
 * syntaxes (image references, ports, volumes, commands, resources) and the
 * cross references between containers, images and nodes.
 *
 * Value syntaxes follow Docker Compose's short forms, so that users can
 * move a service over without relearning it.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "deploy/recipe_parse.h"
#include "util/units.h"
#include "util/url.h"

/* ---- image references ------------------------------------------------- */

static bool repo_component_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[len - 1]))
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(islower(c) || isdigit(c) || c == '.' || c == '_' || c == '-'))
			return false;
		if (c == '.' && i + 1 < len && !isalnum((unsigned char)s[i + 1]))
			return false;
	}
	return true;
}

/*
 * Check "[registry/]path[:tag][@sha256:hex]". Returns NULL when valid, or
 * the explanation. *has_tag tells whether a tag or digest pins it.
 */
static const char *image_ref_problem(const char *ref, bool *has_tag)
{
	const char *at = strchr(ref, '@');
	const char *slash, *colon, *p, *comp;
	size_t name_len, i;

	*has_tag = false;
	if (ref[0] == '\0')
		return "empty image reference";
	if (at != NULL) {
		const char *hex = at + 1;

		if (!bs_str_starts_with(hex, "sha256:") || strlen(hex) != 71)
			return "a digest is @sha256: followed by 64 hex digits";
		for (i = 7; i < 71; i++)
			if (!isxdigit((unsigned char)hex[i]) || isupper((unsigned char)hex[i]))
				return "a digest is @sha256: followed by 64 lowercase hex digits";
		*has_tag = true;
		name_len = (size_t)(at - ref);
	} else {
		name_len = strlen(ref);
	}
	slash = NULL;
	for (p = ref; p < ref + name_len; p++)
		if (*p == '/')
			slash = p;
	colon = NULL;
	for (p = slash ? slash : ref; p < ref + name_len; p++)
		if (*p == ':')
			colon = p;
	if (colon != NULL) {
		size_t tag_len = (size_t)(ref + name_len - colon - 1);

		if (tag_len == 0 || tag_len > 128)
			return "a tag is 1 to 128 characters after ':'";
		if (!(isalnum((unsigned char)colon[1]) || colon[1] == '_'))
			return "a tag starts with a letter, digit or '_'";
		for (p = colon + 1; p < ref + name_len; p++)
			if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '.' || *p == '-'))
				return "a tag holds only letters, digits, '_', '.' and '-'";
		*has_tag = true;
		name_len = (size_t)(colon - ref);
	}
	comp = ref;
	/* a first component with '.' or ':' or "localhost" names a registry */
	slash = memchr(ref, '/', name_len);
	if (slash != NULL) {
		size_t len = (size_t)(slash - ref);

		if (memchr(ref, '.', len) || memchr(ref, ':', len) ||
		    (len == 9 && memcmp(ref, "localhost", 9) == 0)) {
			for (p = ref; p < slash; p++)
				if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '-' ||
				      *p == ':' || *p == '[' || *p == ']'))
					return "the registry part holds only a host name and port";
			comp = slash + 1;
		}
	}
	while (comp < ref + name_len) {
		const char *end = memchr(comp, '/', (size_t)(ref + name_len - comp));
		size_t len = end ? (size_t)(end - comp) : (size_t)(ref + name_len - comp);

		for (i = 0; i < len; i++)
			if (isupper((unsigned char)comp[i]))
				return "repository names are lowercase";
		if (!repo_component_ok(comp, len))
			return "repository names are lowercase letters and digits, separated by '.', '_', '-' or '/'";
		if (end == NULL)
			break;
		comp = end + 1;
		if (comp == ref + name_len)
			return "the name ends with '/'";
	}
	return NULL;
}

/* The repository part of a reference (without tag or digest); caller frees. */
static char *image_repo(const char *ref)
{
	const char *at = strchr(ref, '@');
	size_t len = at ? (size_t)(at - ref) : strlen(ref);
	const char *slash = NULL, *colon = NULL, *p;

	for (p = ref; p < ref + len; p++)
		if (*p == '/')
			slash = p;
	for (p = slash ? slash : ref; p < ref + len; p++)
		if (*p == ':')
			colon = p;
	if (colon != NULL)
		len = (size_t)(colon - ref);
	return bs_xstrndup(ref, len);
}

static bool check_image_ref(struct bs_rctx *ctx, const struct bs_ynode *at, const char *ref)
{
	bool has_tag;
	const char *problem = image_ref_problem(ref, &has_tag);

	if (problem != NULL) {
		rctx_error(
			ctx, at,
			"'%.200s' is not a valid image reference: %s (like nginx:1.25 or registry.example.com/shop/app:1.4)",
			ref, problem);
		return false;
	}
	if (!has_tag)
		rctx_warn(
			ctx, at,
			"'%.200s' has no tag, so :latest is used and re-runs cannot tell versions apart (pin a tag, like %.200s:1.0)",
			ref, ref);
	return true;
}

/* ---- git build contexts ----------------------------------------------- */

static const char *git_url_problem(const char *url)
{
	const char *hash = strchr(url, '#');
	size_t len = hash ? (size_t)(hash - url) : strlen(url);

	if (bs_url_login_in_clear(url))
		return "its login would cross the network in clear text (use https:// or ssh://)";
	if (bs_str_starts_with(url, "git://") || bs_str_starts_with(url, "git@") ||
	    bs_str_starts_with(url, "ssh://"))
		return NULL;
	if (bs_str_starts_with(url, "https://") || bs_str_starts_with(url, "http://")) {
		if (len >= 4 && memcmp(url + len - 4, ".git", 4) == 0)
			return NULL;
		return "Docker treats an http(s) URL as a git repository only when its path ends in .git (add .git before any #ref)";
	}
	return "not a git URL (use https://HOST/PATH.git, git://, ssh:// or git@HOST:PATH, with #ref:subdir if needed)";
}

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

const char *bs_port_parse(const char *spec, struct bs_port *port)
{
	char *copy = bs_xstrdup(spec);
	char *slash = strchr(copy, '/');
	char *rest = copy, *host = NULL, *container;
	const char *problem = NULL;
	unsigned char addr[16];
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
	if (rest[0] == '[') {
		char *close = strchr(rest, ']');

		if (close == NULL || close[1] != ':') {
			problem = "an IPv6 address is written [ADDR]:HOST:CONTAINER";
			goto out;
		}
		*close = '\0';
		port->host_ip = bs_xstrdup(rest + 1);
		if (inet_pton(AF_INET6, port->host_ip, addr) != 1) {
			problem = "not a valid IPv6 address inside [ ]";
			goto out;
		}
		rest = close + 2;
		host = rest;
		container = strchr(rest, ':');
		if (container == NULL) {
			problem = "expected [IP]:HOST:CONTAINER";
			goto out;
		}
		*container++ = '\0';
	} else {
		char *c1 = strchr(rest, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (c2 != NULL && strchr(c2 + 1, ':') != NULL) {
			problem = "too many ':' (put IPv6 addresses in [ ])";
			goto out;
		}
		if (c2 != NULL) {
			*c1 = '\0';
			*c2 = '\0';
			port->host_ip = bs_xstrdup(rest);
			if (inet_pton(AF_INET, port->host_ip, addr) != 1) {
				problem = "the part before the host port is not an IPv4 address";
				goto out;
			}
			host = c1 + 1;
			container = c2 + 1;
		} else if (c1 != NULL) {
			*c1 = '\0';
			host = rest;
			container = c1 + 1;
		} else {
			container = rest;
		}
	}
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
		    port->container_end - port->container_start) {
			problem = "host and container ranges differ in length";
			goto out;
		}
	}
out:
	free(copy);
	return problem;
}

static void parse_ports(struct bs_rctx *ctx, const struct bs_ynode *map, struct bs_container *c)
{
	const struct bs_ynode *v = bs_ynode_get(map, "ports");
	size_t saved, i;

	if (v == NULL || bs_ynode_is_null(v))
		return;
	saved = rctx_push_key(ctx, "ports");
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
			problem =
				"bind sources are absolute paths on the node (the node does not have the recipe's directory)";
			goto out;
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

static void parse_volumes(struct bs_rctx *ctx, const struct bs_ynode *map, struct bs_container *c)
{
	const struct bs_ynode *v = bs_ynode_get(map, "volumes");
	size_t saved, i, j;

	if (v == NULL || bs_ynode_is_null(v))
		return;
	saved = rctx_push_key(ctx, "volumes");
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
			free(m.source);
			free(m.target);
		} else {
			bool dup = false;

			for (j = 0; j < c->n_volumes; j++)
				dup = dup || strcmp(c->volumes[j].target, m.target) == 0;
			if (dup) {
				rctx_error(ctx, item,
					   "%.200s is mounted twice in this container (keep one)",
					   m.target);
				free(m.source);
				free(m.target);
			} else {
				m.loc = rctx_loc(item);
				c->volumes[c->n_volumes++] = m;
			}
		}
		rctx_pop(ctx, s2);
	}
out:
	rctx_pop(ctx, saved);
}

/* ---- healthcheck, resources, restart ---------------------------------- */

static void parse_healthcheck(struct bs_rctx *ctx, const struct bs_ynode *map,
			      struct bs_healthcheck *h)
{
	static const char *const keys[] = {"test",    "interval", "timeout", "start_period",
					   "retries", "disable",  NULL};
	const struct bs_ynode *v = bs_ynode_get(map, "healthcheck");
	const struct bs_ynode *test;
	size_t saved, i;

	if (v == NULL || bs_ynode_is_null(v))
		return;
	saved = rctx_push_key(ctx, "healthcheck");
	if (!rctx_want_map(ctx, v))
		goto out;
	h->present = true;
	rctx_check_keys(ctx, v, keys);
	rctx_get_bool(ctx, v, "disable", &h->disable);
	rctx_get_duration(ctx, v, "interval", 1, &h->interval_ms);
	rctx_get_duration(ctx, v, "timeout", 1, &h->timeout_ms);
	rctx_get_duration(ctx, v, "start_period", 0, &h->start_period_ms);
	rctx_get_int(ctx, v, "retries", 1, 100, &h->retries);
	test = bs_ynode_get(v, "test");
	if (test == NULL || bs_ynode_is_null(test)) {
		if (!h->disable)
			rctx_missing(
				ctx, v, "test",
				"test: [CMD, curl, -f, http://localhost/] or test: \"shell command\"");
		goto out;
	}
	{
		size_t s2 = rctx_push_key(ctx, "test");

		if (test->bad) {
			/* already reported */
		} else if (test->kind == BS_YNODE_SCALAR) {
			bs_strv_push(&h->test, "CMD-SHELL");
			bs_strv_push(&h->test, test->value);
		} else if (rctx_want_seq(ctx, test)) {
			for (i = 0; i < test->n; i++) {
				size_t s3 = rctx_push_index(ctx, i);

				if (rctx_want_scalar(ctx, test->items[i]))
					bs_strv_push(&h->test, test->items[i]->value);
				rctx_pop(ctx, s3);
			}
			if (h->test.n > 0 && test->n == h->test.n) {
				const char *first = h->test.v[0];

				if (strcmp(first, "NONE") == 0)
					h->disable = true;
				else if (strcmp(first, "CMD") != 0 &&
					 strcmp(first, "CMD-SHELL") != 0)
					rctx_error(
						ctx, test,
						"start the list with CMD (run the arguments) or CMD-SHELL (run a shell command), like [CMD, wget, -qO-, http://localhost/]");
				else if (h->test.n < 2)
					rctx_error(ctx, test, "%s needs a command after it", first);
			} else if (test->n == 0) {
				rctx_error(ctx, test,
					   "empty test (give a command, or disable: true)");
			}
		}
		rctx_pop(ctx, s2);
	}
out:
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

static void parse_resources(struct bs_rctx *ctx, const struct bs_ynode *map,
			    struct bs_resources *res)
{
	static const char *const keys[] = {"memory", "cpus", "pids", NULL};
	const struct bs_ynode *v = bs_ynode_get(map, "resources");
	const struct bs_ynode *item;
	size_t saved, s2;

	if (v == NULL || bs_ynode_is_null(v))
		return;
	saved = rctx_push_key(ctx, "resources");
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

static void parse_restart(struct bs_rctx *ctx, const struct bs_ynode *map, struct bs_container *c)
{
	static const char *const names[] = {"no", "always", "on-failure", "unless-stopped", NULL};
	const struct bs_ynode *v = bs_ynode_get(map, "restart");
	size_t saved;
	int i;

	c->restart = BS_RESTART_UNLESS_STOPPED;
	if (v == NULL || v->bad || bs_ynode_is_null(v))
		return;
	saved = rctx_push_key(ctx, "restart");
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
			for (i = 0; names[i] != NULL; i++)
				if (strcmp(s, names[i]) == 0) {
					c->restart = (enum bs_restart_policy)i;
					ok = true;
				}
		}
		if (!ok) {
			const char *sug = bs_suggest(s, names);

			rctx_error(
				ctx, v,
				"'%.100s' is not a restart policy (no, always, on-failure[:N], unless-stopped)%s%s%s",
				s, sug ? "; did you mean '" : "", sug ? sug : "", sug ? "'?" : "");
		}
	}
	rctx_pop(ctx, saved);
}

/* ---- sections --------------------------------------------------------- */

/* io.bootstrap.* labels are how bootstrap finds its own containers. */
void bs_recipe_check_reserved_labels(struct bs_rctx *ctx, const struct bs_ynode *labels)
{
	static const char reserved[] = "io.bootstrap.";
	size_t saved, s2, i;

	if (labels == NULL || labels->bad)
		return;
	saved = rctx_push_key(ctx, "labels");
	for (i = 0; i < labels->n; i++) {
		const struct bs_ynode *at = NULL;
		const char *key = NULL;

		if (labels->kind == BS_YNODE_MAP) {
			at = labels->pairs[i].key;
			key = at->value;
			s2 = rctx_push_key(ctx, key);
		} else if (labels->kind == BS_YNODE_SEQ &&
			   labels->items[i]->kind == BS_YNODE_SCALAR) {
			at = labels->items[i];
			key = at->value;
			s2 = rctx_push_index(ctx, i);
		} else {
			continue;
		}
		if (bs_str_starts_with(key, reserved))
			rctx_error(
				ctx, at,
				"the io.bootstrap. prefix is reserved: bootstrap labels its own containers and nodes with it (pick another name)");
		rctx_pop(ctx, s2);
	}
	rctx_pop(ctx, saved);
}

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

static void parse_image(struct bs_rctx *ctx, const struct bs_ynode *map, struct bs_image *img)
{
	static const char *const keys[] = {"name", "pull", "build", "nodes", NULL};
	static const char *const build_keys[] = {"git", "dockerfile", "args", NULL};
	static const char *const pulls[] = {"missing", "always", "never", NULL};
	const struct bs_ynode *build;
	int pull;

	img->loc = rctx_loc(map);
	rctx_check_keys(ctx, map, keys);
	if (rctx_get_str(ctx, map, "name", "name: REPOSITORY:TAG", &img->name)) {
		size_t s2 = rctx_push_key(ctx, "name");

		if (!check_image_ref(ctx, bs_ynode_get(map, "name"), img->name)) {
			free(img->name);
			img->name = NULL;
		}
		rctx_pop(ctx, s2);
	}
	if (rctx_get_choice(ctx, map, "pull", pulls, &pull))
		img->pull = (enum bs_pull_policy)pull;
	rctx_get_selectors(ctx, map, "nodes", &img->nodes);
	build = bs_ynode_get(map, "build");
	if (build != NULL && !bs_ynode_is_null(build)) {
		size_t s2 = rctx_push_key(ctx, "build");
		const struct bs_ynode *git = build;

		if (build->kind == BS_YNODE_MAP) {
			rctx_check_keys(ctx, build, build_keys);
			git = bs_ynode_get(build, "git");
			rctx_get_str(ctx, build, "dockerfile", NULL, &img->build_dockerfile);
			rctx_get_kvlist(ctx, build, "args", "build argument", false,
					&img->build_args);
			if (git == NULL || bs_ynode_is_null(git)) {
				rctx_missing(ctx, build, "git", "git: https://HOST/PATH.git#ref");
				git = NULL;
			}
		}
		if (git != NULL) {
			size_t s3 = git != build ? rctx_push_key(ctx, "git") : ctx->path_len;

			if (!git->bad && rctx_want_scalar(ctx, git)) {
				const char *problem;
				char *login = bs_url_userinfo_secret(git->value);

				/* a token in the URL is a secret like any other */
				if (login != NULL)
					bs_strv_add_unique(&ctx->recipe->secrets, login);
				bs_secure_free_str(login);
				problem = git_url_problem(git->value);
				if (problem != NULL)
					rctx_error(ctx, git, "'%.200s': %s", git->value, problem);
				else
					img->build_git = bs_xstrdup(git->value);
			}
			rctx_pop(ctx, s3);
		}
		rctx_pop(ctx, s2);
		if (bs_ynode_get(map, "pull") != NULL) {
			size_t s3 = rctx_push_key(ctx, "pull");

			rctx_error(
				ctx, bs_ynode_get(map, "pull"),
				"an image built from git is not pulled (remove pull, or remove build)");
			rctx_pop(ctx, s3);
		}
	}
}

void bs_recipe_parse_images(struct bs_rctx *ctx, const struct bs_ynode *seq)
{
	struct bs_recipe *r = ctx->recipe;
	size_t saved, i, j;

	if (seq == NULL || bs_ynode_is_null(seq))
		return;
	saved = rctx_push_key(ctx, "images");
	if (!rctx_want_seq(ctx, seq))
		goto out;
	r->images = bs_xcalloc(seq->n, sizeof(*r->images));
	for (i = 0; i < seq->n; i++) {
		size_t s2 = rctx_push_index(ctx, i);
		struct bs_image *img = &r->images[r->n_images];

		if (rctx_want_map(ctx, seq->items[i])) {
			r->n_images++;
			parse_image(ctx, seq->items[i], img);
			for (j = 0; img->name && j + 1 < r->n_images; j++)
				if (r->images[j].name &&
				    strcmp(r->images[j].name, img->name) == 0) {
					size_t s3 = rctx_push_key(ctx, "name");

					rctx_error(
						ctx, bs_ynode_get(seq->items[i], "name"),
						"image %.200s is defined twice (first at line %d); keep one",
						img->name, r->images[j].loc.line);
					rctx_pop(ctx, s3);
				}
		}
		rctx_pop(ctx, s2);
	}
out:
	rctx_pop(ctx, saved);
}

static void parse_update(struct bs_rctx *ctx, const struct bs_ynode *map, struct bs_container *c)
{
	static const char *const keys[] = {"order", "monitor",	      "parallelism",
					   "delay", "failure_action", NULL};
	static const char *const orders[] = {"auto", "start-first", "stop-first", NULL};
	static const char *const actions[] = {"rollback", "pause", "continue", NULL};
	static const char *const service_keys[] = {"parallelism", "delay", "failure_action"};
	const struct bs_ynode *v = bs_ynode_get(map, "update");
	bool cluster = ctx->recipe->cluster.type != BS_CLUSTER_NONE;
	int order = BS_ORDER_AUTO, choice;
	size_t saved;

	c->update.monitor_ms = 1000;
	c->update.parallelism = 1;
	if (v == NULL || bs_ynode_is_null(v))
		return;
	saved = rctx_push_key(ctx, "update");
	if (!rctx_want_map(ctx, v))
		goto out;
	rctx_check_keys(ctx, v, keys);
	for (size_t k = 0; k < 3 && !cluster; k++)
		if (bs_ynode_get(v, service_keys[k]) != NULL) {
			size_t s2 = rctx_push_key(ctx, service_keys[k]);

			rctx_error(
				ctx, bs_ynode_get(v, service_keys[k]),
				"%s applies to cluster services (add cluster: {type: swarm}, or remove it: without a cluster, bootstrap replaces one replica at a time)",
				service_keys[k]);
			rctx_pop(ctx, s2);
		}
	rctx_get_int(ctx, v, "parallelism", 0, 1000, &c->update.parallelism);
	if (rctx_get_duration(ctx, v, "delay", 0, &c->update.delay_ms) &&
	    c->update.delay_ms > 3600 * 1000) {
		size_t s2 = rctx_push_key(ctx, "delay");

		rctx_error(ctx, bs_ynode_get(v, "delay"), "delay is at most 1h");
		rctx_pop(ctx, s2);
	}
	if (rctx_get_choice(ctx, v, "failure_action", actions, &choice))
		c->update.failure_action = (enum bs_failure_action)choice;
	if (rctx_get_choice(ctx, v, "order", orders, &order))
		c->update.order = (enum bs_update_order)order;
	if (rctx_get_duration(ctx, v, "monitor", 0, &c->update.monitor_ms) &&
	    c->update.monitor_ms > 3600 * 1000) {
		size_t s2 = rctx_push_key(ctx, "monitor");

		rctx_error(ctx, bs_ynode_get(v, "monitor"), "monitor is at most 1h");
		rctx_pop(ctx, s2);
	}
	/* the routing mesh holds a cluster's published ports, not the tasks */
	if (c->update.order == BS_ORDER_START_FIRST &&
	    !(cluster && ctx->recipe->cluster.publish == BS_PUBLISH_INGRESS))
		for (size_t i = 0; i < c->n_ports; i++)
			if (c->ports[i].host_start != 0) {
				size_t s2 = rctx_push_key(ctx, "order");

				rctx_error(
					ctx, bs_ynode_get(v, "order"),
					"start-first cannot work with the fixed host port %d: the new container could not bind it while the old one runs (use stop-first, or publish only the container port)",
					c->ports[i].host_start);
				rctx_pop(ctx, s2);
				break;
			}
out:
	rctx_pop(ctx, saved);
}

static void parse_container(struct bs_rctx *ctx, const struct bs_ynode *map, struct bs_container *c)
{
	static const char *const keys[] = {
		"name",	       "image",	   "command", "entrypoint",  "environment", "secrets",
		"ports",       "volumes",  "restart", "healthcheck", "labels",	    "user",
		"working_dir", "replicas", "nodes",   "resources",   "domain",	    "stop_timeout",
		"update",      "network",  "expose",  NULL};
	size_t i;

	c->loc = rctx_loc(map);
	c->name_loc = rctx_loc(bs_ynode_get(map, "name"));
	c->image_loc = rctx_loc(bs_ynode_get(map, "image"));
	c->domain_loc = rctx_loc(bs_ynode_get(map, "domain"));
	c->expose_loc = rctx_loc(bs_ynode_get(map, "expose"));
	c->replicas_loc =
		rctx_loc(bs_ynode_get(map, "replicas") ? bs_ynode_get(map, "replicas") : map);
	c->nodes_loc = rctx_loc(bs_ynode_get(map, "nodes") ? bs_ynode_get(map, "nodes") : map);
	c->replicas = 1;
	rctx_check_keys(ctx, map, keys);
	if (rctx_get_str(ctx, map, "name", "name: web", &c->name) && !container_name_ok(c->name)) {
		size_t s2 = rctx_push_key(ctx, "name");

		rctx_error(
			ctx, bs_ynode_get(map, "name"),
			"'%.100s' is not a valid container name (lowercase letters, digits, '_', '.', '-', at most 63, starting with a letter or digit)",
			c->name);
		rctx_pop(ctx, s2);
	}
	if (rctx_get_str(ctx, map, "image", "image: REPOSITORY:TAG, like nginx:1.25", &c->image)) {
		size_t s2 = rctx_push_key(ctx, "image");

		if (!check_image_ref(ctx, bs_ynode_get(map, "image"), c->image)) {
			free(c->image);
			c->image = NULL;
		}
		rctx_pop(ctx, s2);
	}
	c->has_command = get_argv(ctx, map, "command", &c->command);
	c->has_entrypoint = get_argv(ctx, map, "entrypoint", &c->entrypoint);
	rctx_get_kvlist(ctx, map, "environment", "variable", true, &c->environment);
	rctx_get_kvlist(ctx, map, "secrets", "secret", true, &c->secrets);
	for (i = 0; i < c->secrets.n; i++) {
		c->secrets.v[i].secret = true;
		bs_strv_add_unique(&ctx->recipe->secrets, c->secrets.v[i].value);
	}
	for (i = 0; i < c->secrets.n; i++)
		if (bs_kvlist_find(&c->environment, c->secrets.v[i].key) != NULL) {
			size_t s2 = rctx_push_key(ctx, "secrets");

			rctx_error(
				ctx, bs_ynode_get(map, "secrets"),
				"%s is both an environment variable and a secret (keep it in one place)",
				c->secrets.v[i].key);
			rctx_pop(ctx, s2);
		}
	parse_ports(ctx, map, c);
	parse_volumes(ctx, map, c);
	parse_restart(ctx, map, c);
	parse_healthcheck(ctx, map, &c->healthcheck);
	rctx_get_kvlist(ctx, map, "labels", "label", false, &c->labels);
	bs_recipe_check_reserved_labels(ctx, bs_ynode_get(map, "labels"));
	rctx_get_str(ctx, map, "user", NULL, &c->user);
	if (rctx_get_str(ctx, map, "working_dir", NULL, &c->working_dir) &&
	    c->working_dir[0] != '/') {
		size_t s2 = rctx_push_key(ctx, "working_dir");

		rctx_error(ctx, bs_ynode_get(map, "working_dir"),
			   "working_dir is an absolute path in the container (like /app)");
		rctx_pop(ctx, s2);
	}
	rctx_get_int(ctx, map, "replicas", 0, 100, &c->replicas);
	rctx_get_selectors(ctx, map, "nodes", &c->nodes);
	parse_resources(ctx, map, &c->resources);
	c->stop_timeout_ms = 10000;
	if (rctx_get_duration(ctx, map, "stop_timeout", 0, &c->stop_timeout_ms) &&
	    c->stop_timeout_ms > 3600 * 1000) {
		size_t s2 = rctx_push_key(ctx, "stop_timeout");

		rctx_error(ctx, bs_ynode_get(map, "stop_timeout"),
			   "stop_timeout is at most 1h (it bounds how long a stop may take)");
		rctx_pop(ctx, s2);
	}
	parse_update(ctx, map, c);
	{
		static const char *const nets[] = {"project", "bridge", "host", "none", NULL};
		int net = BS_NET_PROJECT;

		if (rctx_get_choice(ctx, map, "network", nets, &net))
			c->network = (enum bs_net_mode)net;
		if ((c->network == BS_NET_HOST || c->network == BS_NET_NONE) && c->n_ports > 0) {
			size_t s2 = rctx_push_key(ctx, "network");

			rctx_error(ctx, bs_ynode_get(map, "network"),
				   "with network: %s nothing is published: remove ports (with "
				   "host, the container's ports are the node's own)",
				   nets[net]);
			rctx_pop(ctx, s2);
		}
	}
	if (rctx_get_str(ctx, map, "domain", NULL, &c->domain) &&
	    (!bs_recipe_is_hostname(c->domain) || strchr(c->domain, '.') == NULL)) {
		size_t s2 = rctx_push_key(ctx, "domain");

		rctx_error(
			ctx, bs_ynode_get(map, "domain"),
			"'%.200s' is not a fully qualified domain name (lowercase, like shop.example.com)",
			c->domain);
		free(c->domain); /* one error for it, not more from its checks */
		c->domain = NULL;
		rctx_pop(ctx, s2);
	}
	rctx_get_int(ctx, map, "expose", 1, 65535, &c->expose);
}

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

/* domains: {base, tls: auto|internal|off|files, email, proxy: IMAGE, cert, key} */
void bs_recipe_parse_domains(struct bs_rctx *ctx, const struct bs_ynode *map)
{
	static const char *const keys[] = {"base", "tls", "email", "proxy", "cert", "key", NULL};
	struct bs_domains_conf *d = &ctx->recipe->domains;
	size_t saved;
	int choice;

	d->tls = BS_TLS_AUTO;
	if (map == NULL || bs_ynode_is_null(map))
		goto defaults;
	saved = rctx_push_key(ctx, "domains");
	d->loc = rctx_loc(map);
	if (!rctx_want_map(ctx, map)) {
		rctx_pop(ctx, saved);
		goto defaults;
	}
	rctx_check_keys(ctx, map, keys);
	if (rctx_get_str(ctx, map, "base", NULL, &d->base) &&
	    (!bs_recipe_is_hostname(d->base) || strchr(d->base, '.') == NULL ||
	     strlen(d->base) > 190)) {
		size_t s2 = rctx_push_key(ctx, "base");

		rctx_error(ctx, bs_ynode_get(map, "base"),
			   "'%.200s' is not a domain (lowercase, like apps.example.com): each "
			   "container with expose: is served as CONTAINER.base",
			   d->base);
		free(d->base);
		d->base = NULL;
		rctx_pop(ctx, s2);
	}
	if (rctx_get_choice(ctx, map, "tls", bs_tls_mode_names, &choice))
		d->tls = (enum bs_tls_mode)choice;
	if (rctx_get_str(ctx, map, "email", NULL, &d->email) && !email_ok(d->email)) {
		size_t s2 = rctx_push_key(ctx, "email");

		rctx_error(ctx, bs_ynode_get(map, "email"),
			   "'%.200s' is not an email address (like ops@example.com): the "
			   "certificate authority writes to it about expiring certificates",
			   d->email);
		rctx_pop(ctx, s2);
	}
	if (d->email != NULL && d->tls != BS_TLS_AUTO)
		rctx_warn(ctx, bs_ynode_get(map, "email"),
			  "email is for the public certificate authority (tls: auto); with "
			  "tls: %s it is not used",
			  bs_tls_mode_name(d->tls));
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
		size_t s2 = rctx_push_key(ctx, k);

		rctx_error(ctx, bs_ynode_get(map, k),
			   "cert and key are for tls: files (with tls: %s the proxy gets its "
			   "certificates itself): set tls: files, or remove them",
			   bs_tls_mode_name(d->tls));
		rctx_pop(ctx, s2);
	}
	if (rctx_get_str(ctx, map, "proxy", NULL, &d->proxy)) {
		size_t s2 = rctx_push_key(ctx, "proxy");

		if (!check_image_ref(ctx, bs_ynode_get(map, "proxy"), d->proxy)) {
			free(d->proxy);
			d->proxy = NULL;
		}
		rctx_pop(ctx, s2);
	}
	rctx_pop(ctx, saved);
defaults:
	if (d->proxy == NULL)
		d->proxy = bs_xstrdup(BS_DOMAIN_PROXY_IMAGE);
}

void bs_recipe_parse_containers(struct bs_rctx *ctx, const struct bs_ynode *seq)
{
	struct bs_recipe *r = ctx->recipe;
	size_t saved, i;

	if (seq == NULL || bs_ynode_is_null(seq))
		return;
	saved = rctx_push_key(ctx, "containers");
	if (!rctx_want_seq(ctx, seq))
		goto out;
	r->containers = bs_xcalloc(seq->n, sizeof(*r->containers));
	for (i = 0; i < seq->n; i++) {
		size_t s2 = rctx_push_index(ctx, i);

		if (rctx_want_map(ctx, seq->items[i]))
			parse_container(ctx, seq->items[i], &r->containers[r->n_containers++]);
		rctx_pop(ctx, s2);
	}
out:
	rctx_pop(ctx, saved);
}

/* ---- cross references ------------------------------------------------- */

/* Cross checks run after parsing, at the root: each sets the full path of
 * the object it reports on. */
static void set_path(struct bs_rctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_path(struct bs_rctx *ctx, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(ctx->path, sizeof(ctx->path), fmt, ap);
	va_end(ap);
	ctx->path_len = n < 0				? 0
			: (size_t)n < sizeof(ctx->path) ? (size_t)n
							: sizeof(ctx->path) - 1;
}

static void check_selectors(struct bs_rctx *ctx, const struct bs_selectors *sels,
			    const char *section, size_t index)
{
	const struct bs_recipe *r = ctx->recipe;
	size_t i, j;

	for (i = 0; i < sels->n; i++) {
		const struct bs_selector *sel = &sels->v[i];
		bool matched = false;

		set_path(ctx, "%s[%zu].nodes[%zu]", section, index, i);
		for (j = 0; j < r->n_nodes && !matched; j++)
			matched = bs_selector_matches(sel, &r->nodes[j]);
		if (matched)
			continue;
		if (sel->value != NULL) {
			rctx_error_loc(
				ctx, sel->loc,
				"no node has label %.100s=%.100s (add labels: {%.100s: %.100s} to a node, or fix the selector)",
				sel->key, sel->value, sel->key, sel->value);
		} else {
			const char **names = bs_xcalloc(r->n_nodes * 2 + 1, sizeof(*names));
			const char *s;

			for (j = 0; j < r->n_nodes; j++) {
				names[2 * j] = r->nodes[j].name;
				names[2 * j + 1] = r->nodes[j].group;
			}
			s = bs_suggest(sel->key, names);
			if (s != NULL)
				rctx_error_loc(ctx, sel->loc,
					       "no node is named %.100s (did you mean '%s'?)",
					       sel->key, s);
			else
				rctx_error_loc(
					ctx, sel->loc,
					"no node is named %.100s (name a node from nodes:, or select by label with key=value)",
					sel->key);
			free(names);
		}
	}
}

/* Does container c run on node n? */
static bool runs_on(const struct bs_container *c, const struct bs_node *n)
{
	size_t i;

	if (c->nodes.n == 0)
		return true;
	for (i = 0; i < c->nodes.n; i++)
		if (bs_selector_matches(&c->nodes.v[i], n))
			return true;
	return false;
}

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
			n_nodes += runs_on(c, &r->nodes[k]);
		for (pi = 0; pi < c->n_ports; pi++)
			fixed = fixed || c->ports[pi].host_start != 0;
		set_path(ctx, "containers[%zu].replicas", ci);
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
						if (!mesh && (!runs_on(c, &r->nodes[k]) ||
							      !runs_on(d, &r->nodes[k])))
							continue;
						set_path(ctx, "containers[%zu].ports[%zu]", ci, pi);
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

static void check_images(struct bs_rctx *ctx)
{
	const struct bs_recipe *r = ctx->recipe;
	size_t i, j, k;

	for (i = 0; i < r->n_images; i++) {
		const struct bs_image *img = &r->images[i];
		bool used = false;

		check_selectors(ctx, &img->nodes, "images", i);
		if (img->name == NULL)
			continue;
		for (j = 0; j < r->n_containers; j++) {
			const struct bs_container *c = &r->containers[j];

			if (c->image == NULL || strcmp(c->image, img->name) != 0)
				continue;
			used = true;
			if (img->nodes.n == 0)
				continue;
			for (k = 0; k < r->n_nodes; k++) {
				size_t s;
				bool prepared = false;

				if (!runs_on(c, &r->nodes[k]))
					continue;
				for (s = 0; s < img->nodes.n; s++)
					prepared = prepared || bs_selector_matches(&img->nodes.v[s],
										   &r->nodes[k]);
				if (!prepared) {
					set_path(ctx, "containers[%zu].nodes", j);
					rctx_error_loc(
						ctx, c->nodes_loc,
						"container %s runs on node %s, but image %s is only prepared on the nodes of images[%zu] (add the node there, or narrow the container's nodes)",
						c->name ? c->name : "?", r->nodes[k].name,
						img->name, i);
					break;
				}
			}
		}
		for (j = 0; j < r->n_containers && !used; j++) /* the domain proxy's */
			used = r->containers[j].domain != NULL && r->domains.proxy != NULL &&
			       strcmp(r->domains.proxy, img->name) == 0;
		set_path(ctx, "images[%zu]", i);
		if (!used)
			rctx_error_loc(
				ctx, img->loc,
				"image %s is defined but no container uses it (use it in a container's image, or remove it)",
				img->name);
	}
	/* a container image that misses a defined one by its tag or a typo */
	for (j = 0; j < r->n_containers; j++) {
		const struct bs_container *c = &r->containers[j];
		char *repo;
		bool defined = false;

		if (c->image == NULL || r->n_images == 0)
			continue;
		for (i = 0; i < r->n_images && !defined; i++)
			defined = r->images[i].name && strcmp(r->images[i].name, c->image) == 0;
		if (defined)
			continue;
		repo = image_repo(c->image);
		set_path(ctx, "containers[%zu].image", j);
		for (i = 0; i < r->n_images; i++) {
			const char *name = r->images[i].name;
			char *other;

			if (name == NULL)
				continue;
			other = image_repo(name);
			if (strcmp(other, repo) == 0 && r->images[i].build_git != NULL)
				rctx_error_loc(
					ctx, c->image_loc,
					"%s is not defined, but images[%zu] builds %s (did you mean '%s'?)",
					c->image, i, name, name);
			else if (bs_edit_distance(c->image, name, 2) <= 2)
				bs_diags_add(ctx->diags, BS_DIAG_WARNING, c->image_loc.line,
					     c->image_loc.col, ctx->path,
					     "%s is not in images: (did you mean '%s'?)", c->image,
					     name);
			free(other);
		}
		free(repo);
	}
}

/* What a cluster service cannot be. */
static void check_cluster(struct bs_rctx *ctx)
{
	const struct bs_recipe *r = ctx->recipe;

	if (r->cluster.type == BS_CLUSTER_NONE)
		return;
	if (r->domains.loc.line > 0) {
		set_path(ctx, "domains");
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
			set_path(ctx, "containers[%zu].ports[%zu]", ci, pi);
			rctx_error_loc(
				ctx, c->ports[pi].loc,
				"a cluster publishes ports on every address of its nodes, so %.100s: cannot be chosen (remove it, and close the port with the node's firewall if it must not be reached)",
				c->ports[pi].host_ip);
		}
		set_path(ctx, "containers[%zu].name", ci);
		if (c->name != NULL && c->name[0] != '\0' && r->project != NULL &&
		    strlen(r->project) < 62 &&
		    (strchr(c->name, '.') != NULL || c->name[strlen(c->name) - 1] == '-' ||
		     c->name[strlen(c->name) - 1] == '_' ||
		     strlen(r->project) + 1 + strlen(c->name) > 63))
			rctx_error_loc(
				ctx, c->name_loc,
				"'%.100s' cannot name a swarm service (%s-%.100s): use letters, digits, '-' and '_', ending with a letter or digit, at most %zu characters",
				c->name, r->project, c->name, 63 - strlen(r->project) - 1);
		set_path(ctx, "containers[%zu].network", ci);
		if (c->network == BS_NET_BRIDGE || c->network == BS_NET_NONE)
			rctx_error_loc(
				ctx, c->loc,
				"container %s: a cluster service joins the project's overlay network (network: project) or the node's (network: host), not %s",
				c->name ? c->name : "?", bs_net_mode_name(c->network));
		set_path(ctx, "containers[%zu].domain", ci);
		if (c->domain != NULL)
			rctx_error_loc(
				ctx, c->domain_loc,
				"container %s: domains are not routed to cluster services yet (remove domain:, or run the container without cluster:)",
				c->name ? c->name : "?");
		set_path(ctx, "containers[%zu].expose", ci);
		if (c->domain == NULL && c->expose > 0)
			rctx_error_loc(
				ctx, c->expose_loc,
				"container %s: expose: is the port of a domain, and domains are not routed to cluster services yet (remove it)",
				c->name ? c->name : "?");
	}
}

static bool placed(const struct bs_recipe *r, const struct bs_container *c,
		   const struct bs_node *n);

static bool share_a_node(const struct bs_recipe *r, const struct bs_container *a,
			 const struct bs_container *b)
{
	for (size_t i = 0; i < r->n_nodes; i++)
		if (placed(r, a, &r->nodes[i]) && placed(r, b, &r->nodes[i]))
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

/* Does a replica of c run on n? Replica r runs on the ((r-1) mod N)th of
 * the N nodes c selects (as deploy places them): the ith gets one when
 * i < replicas. */
static bool placed(const struct bs_recipe *r, const struct bs_container *c, const struct bs_node *n)
{
	int idx = 0;

	if (!runs_on(c, n))
		return false;
	for (size_t i = 0; i < r->n_nodes && &r->nodes[i] != n; i++)
		idx += runs_on(c, &r->nodes[i]);
	return idx < c->replicas;
}

static bool has_domains(const struct bs_recipe *r, const struct bs_node *n)
{
	for (size_t i = 0; i < r->n_containers; i++)
		if (r->containers[i].domain != NULL && placed(r, &r->containers[i], n))
			return true;
	return false;
}

/*
 * Domains: CONTAINER.base for containers with expose and no domain; each
 * domain needs a port to reach and the project network (where the proxy
 * finds the container by name); the proxy's ports 80 and 443 are its own.
 */
static void check_domains(struct bs_rctx *ctx)
{
	struct bs_recipe *r = ctx->recipe;
	size_t i, j;

	if (r->cluster.type != BS_CLUSTER_NONE) /* check_cluster refuses domains */
		return;
	for (i = 0; i < r->n_containers; i++) {
		struct bs_container *c = &r->containers[i];

		if (c->name == NULL)
			continue;
		if (c->domain == NULL && c->expose > 0 && r->domains.base != NULL) {
			char *d = bs_xasprintf("%s.%s", c->name, r->domains.base);

			set_path(ctx, "containers[%zu].expose", i);
			if (bs_recipe_is_hostname(d) && strlen(d) <= 253) {
				c->domain = d;
				c->domain_loc = c->expose_loc;
			} else {
				rctx_error_loc(
					ctx, c->expose_loc,
					"container %s: %.200s is not a valid domain name (a name "
					"with '_' or '.' cannot be one label): give domain: NAME",
					c->name, d);
				free(d);
			}
		} else if (c->domain == NULL && c->expose > 0) {
			set_path(ctx, "containers[%zu].expose", i);
			rctx_error_loc(ctx, c->expose_loc,
				       "container %s: expose: is the port a domain is routed to, "
				       "and this container has none: give domain: NAME, or "
				       "domains: {base: apps.example.com} for %s.apps.example.com",
				       c->name, c->name);
		}
		if (c->domain == NULL)
			continue;
		set_path(ctx, "containers[%zu].domain", i);
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
	for (i = 0; i < r->n_containers; i++) {
		const struct bs_container *c = &r->containers[i];
		bool any = false;

		for (j = 0; j < r->n_containers; j++)
			any = any || r->containers[j].domain != NULL;
		for (size_t v = 0; any && v < c->n_volumes; v++)
			if (c->volumes[v].type == BS_MOUNT_VOLUME && c->volumes[v].source != NULL &&
			    strcmp(c->volumes[v].source, BS_DOMAIN_PROXY_VOLUME) == 0) {
				set_path(ctx, "containers[%zu].volumes[%zu]", i, v);
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
				set_path(ctx, "containers[%zu].ports[%zu]", i, p);
				rctx_error_loc(ctx, pt->loc,
					       "container %s publishes port %d, which the domain "
					       "proxy of a node it shares with %s holds (route it "
					       "through a domain instead, or publish another port)",
					       c->name ? c->name : "?", port, d->name);
				break;
			}
		}
	}
	for (i = 0; i < r->n_nodes; i++)
		for (j = 0; j < i; j++)
			if (same_host(r, &r->nodes[i], &r->nodes[j]) &&
			    has_domains(r, &r->nodes[i]) && has_domains(r, &r->nodes[j])) {
				set_path(ctx, "nodes[%zu]", i);
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

void bs_recipe_check_containers(struct bs_rctx *ctx, const struct bs_ynode *root)
{
	const struct bs_recipe *r = ctx->recipe;
	size_t i, j;

	(void)root;
	check_domains(ctx);
	for (i = 0; i < r->n_containers; i++) {
		const struct bs_container *c = &r->containers[i];

		check_selectors(ctx, &c->nodes, "containers", i);
		for (j = 0; j < i; j++) {
			const struct bs_container *d = &r->containers[j];

			set_path(ctx, "containers[%zu].name", i);
			if (c->name && d->name && strcmp(c->name, d->name) == 0)
				rctx_error_loc(
					ctx, c->name_loc,
					"container name %s is used twice (first at line %d); rename one",
					c->name, d->loc.line);
			set_path(ctx, "containers[%zu].domain", i);
			if (c->domain && d->domain && strcmp(c->domain, d->domain) == 0)
				rctx_error_loc(
					ctx, c->domain_loc,
					"domain %s is already used by container %s (a domain routes to one container)",
					c->domain, d->name ? d->name : "?");
		}
	}
	check_ports(ctx);
	check_images(ctx);
	check_cluster(ctx);
	rctx_pop(ctx, 0);
}

void bs_recipe_free_containers(struct bs_recipe *r)
{
	size_t i, j;

	for (i = 0; i < r->n_images; i++) {
		struct bs_image *img = &r->images[i];

		free(img->name);
		free(img->build_git);
		free(img->build_dockerfile);
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
			free(c->volumes[j].source);
			free(c->volumes[j].target);
		}
		free(c->volumes);
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
