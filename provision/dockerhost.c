/*
 * dockerhost.c - converge a node into a Docker host over its SSH session:
 * detect, install, configure daemon.json, start/reload/restart, wait,
 * roll back.
 *
 * The remote side is three small POSIX sh scripts built here (detection,
 * install, apply), each run as ONE remote command: every round trip
 * costs latency, so a script does a whole step, waits included, and
 * prints its findings as key=value lines (binary or free text in base64)
 * that the parsers below read as untrusted input. Values put into the
 * scripts are quoted with bs_shell_quote; package names and versions are
 * also checked against Debian's syntax first.
 *
 * The daemon.json logic is pure (merge, canonical text, validation,
 * change classification) so the unit tests cover it without a node. The
 * canonical text (sorted keys, two-space indent, final newline) makes a
 * converged node's file byte-identical to what we would write: comparing
 * bytes is then enough to skip the upload and leave the daemon alone.
 *
 * Thread: the caller's worker thread, which owns the SSH session.
 */
#include "provision/dockerhost.h"
#include "provision/sftp.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#define DAEMON_JSON "/etc/docker/daemon.json"
#define DAEMON_JSON_MAX (1024 * 1024)
#define TLS_DIR "/etc/docker/tls"
#define TLS_DROPIN "/etc/systemd/system/docker.service.d/bootstrap-tls.conf"
#define SUDO_FAILED_EXIT 97

const char *bs_daemon_action_name(enum bs_daemon_action action)
{
	switch (action) {
	case BS_DAEMON_NONE: return "none";
	case BS_DAEMON_RELOAD: return "reload";
	case BS_DAEMON_RESTART: return "restart";
	}
	return "?";
}

/* ---- JSON helpers --------------------------------------------------------- */

static void pos_of(const char *text, const char *at, int *line, int *col)
{
	const char *p;

	*line = 1;
	*col = 1;
	for (p = text; p < at; p++) {
		if (*p == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

static bool all_space(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!isspace((unsigned char)p[i]))
			return false;
	return true;
}

/* Parse exactly one JSON object from text (whitespace around allowed).
 * what names the text in messages. */
static int parse_object(const char *text, size_t len, const char *what, cJSON **out,
			struct bs_err *err)
{
	const char *end = NULL;
	cJSON *json;
	int line, col;

	*out = NULL;
	if (memchr(text, '\0', len) != NULL)
		return bs_err_set(err, BS_ERR_INVALID, "%s holds a NUL byte: not JSON", what);
	json = cJSON_ParseWithLengthOpts(text, len, &end, false);
	if (json == NULL) {
		/* end points at the error (cJSON's thread-safe error position) */
		if (end == NULL || end < text || end > text + len)
			end = text;
		pos_of(text, end, &line, &col);
		return bs_err_set(err, BS_ERR_INVALID, "%s is not valid JSON (line %d, column %d)",
				  what, line, col);
	}
	if (!all_space(end, len - (size_t)(end - text))) {
		pos_of(text, end, &line, &col);
		cJSON_Delete(json);
		return bs_err_set(err, BS_ERR_INVALID,
				  "%s has text after its JSON value (line %d, column %d)", what,
				  line, col);
	}
	if (!cJSON_IsObject(json)) {
		cJSON_Delete(json);
		return bs_err_set(err, BS_ERR_INVALID, "%s is not a JSON object", what);
	}
	*out = json;
	return 0;
}

/* The last member named key (dockerd reads a duplicated key's last value). */
static cJSON *last_member(const cJSON *obj, const char *key)
{
	cJSON *c, *found = NULL;

	for (c = obj->child; c != NULL; c = c->next)
		if (c->string != NULL && strcmp(c->string, key) == 0)
			found = c;
	return found;
}

static void put_json_string(struct bs_buf *b, const char *s)
{
	const unsigned char *p;

	bs_buf_putc(b, '"');
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		switch (*p) {
		case '"': bs_buf_puts(b, "\\\""); break;
		case '\\': bs_buf_puts(b, "\\\\"); break;
		case '\b': bs_buf_puts(b, "\\b"); break;
		case '\f': bs_buf_puts(b, "\\f"); break;
		case '\n': bs_buf_puts(b, "\\n"); break;
		case '\r': bs_buf_puts(b, "\\r"); break;
		case '\t': bs_buf_puts(b, "\\t"); break;
		default:
			if (*p < 0x20)
				bs_buf_printf(b, "\\u%04x", *p);
			else
				bs_buf_putc(b, (char)*p);
		}
	}
	bs_buf_putc(b, '"');
}

static int put_json_number(struct bs_buf *b, double d, struct bs_err *err)
{
	char tmp[64];

	if (!isfinite(d))
		return bs_err_set(err, BS_ERR_INVALID, "a number is out of range");
	if (d == floor(d) && fabs(d) < 1e15) {
		bs_buf_printf(b, "%.0f", d);
		return 0;
	}
	/* the shortest of %.15g / %.17g that reads back as the same double */
	snprintf(tmp, sizeof(tmp), "%.15g", d);
	if (strtod(tmp, NULL) != d)
		snprintf(tmp, sizeof(tmp), "%.17g", d);
	bs_buf_puts(b, tmp);
	return 0;
}

static void put_indent(struct bs_buf *b, int depth)
{
	int i;

	for (i = 0; i < depth; i++)
		bs_buf_puts(b, "  ");
}

struct member_ref {
	const cJSON *item;
	size_t order;
};

static int member_cmp(const void *a, const void *b)
{
	const struct member_ref *x = a, *y = b;
	int c = strcmp(x->item->string, y->item->string);

	if (c != 0)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int put_json_value(struct bs_buf *b, const cJSON *v, int depth, struct bs_err *err);

static int put_json_object(struct bs_buf *b, const cJSON *v, int depth, struct bs_err *err)
{
	struct member_ref *refs = NULL;
	size_t n = 0, cap = 0, i;
	bool first = true;
	const cJSON *c;
	int rc = 0;

	for (c = v->child; c != NULL; c = c->next) {
		bs_xgrow((void **)&refs, &cap, n + 1, sizeof(*refs));
		refs[n].item = c;
		refs[n].order = n;
		n++;
	}
	if (n == 0) {
		bs_buf_puts(b, "{}");
		return 0;
	}
	qsort(refs, n, sizeof(*refs), member_cmp);
	bs_buf_puts(b, "{\n");
	for (i = 0; i < n; i++) {
		/* a duplicated key: only its last occurrence counts */
		if (i + 1 < n && strcmp(refs[i].item->string, refs[i + 1].item->string) == 0)
			continue;
		if (!first)
			bs_buf_puts(b, ",\n");
		first = false;
		put_indent(b, depth + 1);
		put_json_string(b, refs[i].item->string);
		bs_buf_puts(b, ": ");
		rc = put_json_value(b, refs[i].item, depth + 1, err);
		if (rc != 0)
			break;
	}
	free(refs);
	if (rc != 0)
		return rc;
	bs_buf_putc(b, '\n');
	put_indent(b, depth);
	bs_buf_putc(b, '}');
	return 0;
}

static int put_json_value(struct bs_buf *b, const cJSON *v, int depth, struct bs_err *err)
{
	const cJSON *c;
	int rc;

	if (cJSON_IsNull(v)) {
		bs_buf_puts(b, "null");
	} else if (cJSON_IsTrue(v)) {
		bs_buf_puts(b, "true");
	} else if (cJSON_IsFalse(v)) {
		bs_buf_puts(b, "false");
	} else if (cJSON_IsNumber(v)) {
		return put_json_number(b, v->valuedouble, err);
	} else if (cJSON_IsString(v)) {
		put_json_string(b, v->valuestring);
	} else if (cJSON_IsArray(v)) {
		if (v->child == NULL) {
			bs_buf_puts(b, "[]");
			return 0;
		}
		bs_buf_puts(b, "[\n");
		for (c = v->child; c != NULL; c = c->next) {
			put_indent(b, depth + 1);
			rc = put_json_value(b, c, depth + 1, err);
			if (rc != 0)
				return rc;
			bs_buf_puts(b, c->next != NULL ? ",\n" : "\n");
		}
		put_indent(b, depth);
		bs_buf_putc(b, ']');
	} else if (cJSON_IsObject(v)) {
		return put_json_object(b, v, depth, err);
	} else {
		return bs_err_set(err, BS_ERR_INVALID, "unsupported JSON value");
	}
	return 0;
}

static int canonical_of(const cJSON *obj, char **out, struct bs_err *err)
{
	struct bs_buf b = BS_BUF_INIT;
	int rc = put_json_value(&b, obj, 0, err);

	if (rc != 0) {
		bs_buf_free(&b);
		return rc;
	}
	bs_buf_putc(&b, '\n');
	*out = bs_buf_detach(&b);
	return 0;
}

int bs_daemon_json_canonical(const char *text, size_t len, char **out, struct bs_err *err)
{
	cJSON *json;
	int rc;

	*out = NULL;
	rc = parse_object(text, len, "daemon.json", &json, err);
	if (rc != 0)
		return rc;
	rc = canonical_of(json, out, err);
	cJSON_Delete(json);
	return rc;
}

int bs_daemon_json_merge(const char *current, size_t current_len, const char *recipe_json,
			 char **out, struct bs_err *err)
{
	cJSON *merged = NULL, *recipe = NULL;
	const cJSON *c;
	int rc;

	*out = NULL;
	if (current == NULL || all_space(current, current_len)) {
		merged = cJSON_CreateObject();
	} else {
		rc = parse_object(current, current_len, DAEMON_JSON " on the node", &merged, err);
		if (rc != 0)
			return rc;
	}
	if (recipe_json != NULL) {
		rc = parse_object(recipe_json, strlen(recipe_json), "docker.daemon", &recipe, err);
		if (rc != 0)
			goto out;
		for (c = recipe->child; c != NULL; c = c->next) {
			/* every occurrence: the recipe's value replaces the node's */
			while (cJSON_GetObjectItemCaseSensitive(merged, c->string) != NULL)
				cJSON_DeleteItemFromObjectCaseSensitive(merged, c->string);
			if (cJSON_IsNull(c))
				continue;
			cJSON_AddItemToObject(merged, c->string, cJSON_Duplicate(c, true));
		}
	}
	rc = canonical_of(merged, out, err);
out:
	cJSON_Delete(recipe);
	cJSON_Delete(merged);
	return rc;
}

/*
 * Keys dockerd applies on SIGHUP (daemon/reload.go: Reload and
 * reloadPlatform, and cmd/dockerd's reloadConfig for the authorization
 * plugins). `features` is updated on reload too, but some features (the
 * containerd image store) only take effect at start: restart for it.
 */
static const char *const reloadable_keys[] = {
	"allow-nondistributable-artifacts",
	"authorization-plugins",
	"debug",
	"default-runtime",
	"insecure-registries",
	"labels",
	"live-restore",
	"max-concurrent-downloads",
	"max-concurrent-uploads",
	"max-download-attempts",
	"network-diagnostic-port",
	"registry-mirrors",
	"runtimes",
	"shutdown-timeout",
	NULL,
};

bool bs_daemon_json_key_reloadable(const char *key)
{
	size_t i;

	for (i = 0; reloadable_keys[i] != NULL; i++)
		if (strcmp(reloadable_keys[i], key) == 0)
			return true;
	return false;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

enum bs_daemon_action bs_daemon_json_classify(const char *old_json, const char *new_json,
					      struct bs_strv *changed)
{
	struct bs_strv keys = BS_STRV_INIT;
	cJSON *old_obj = NULL, *new_obj = NULL;
	enum bs_daemon_action action = BS_DAEMON_NONE;
	const cJSON *c;
	size_t i;

	if (old_json == NULL || all_space(old_json, strlen(old_json)))
		old_json = "{}";
	if (new_json == NULL || all_space(new_json, strlen(new_json)))
		new_json = "{}";
	if (parse_object(old_json, strlen(old_json), "old", &old_obj, NULL) != 0 ||
	    parse_object(new_json, strlen(new_json), "new", &new_obj, NULL) != 0) {
		action = BS_DAEMON_RESTART;
		goto out;
	}
	for (c = old_obj->child; c != NULL; c = c->next)
		bs_strv_add_unique(&keys, c->string);
	for (c = new_obj->child; c != NULL; c = c->next)
		bs_strv_add_unique(&keys, c->string);
	if (keys.n > 1)
		qsort(keys.v, keys.n, sizeof(*keys.v), str_cmp);
	for (i = 0; i < keys.n; i++) {
		const cJSON *a = last_member(old_obj, keys.v[i]);
		const cJSON *b = last_member(new_obj, keys.v[i]);
		enum bs_daemon_action need;

		if (a != NULL && b != NULL && cJSON_Compare(a, b, true))
			continue;
		/* removed: a reload keeps the running value of an absent key */
		need = b != NULL && bs_daemon_json_key_reloadable(keys.v[i]) ? BS_DAEMON_RELOAD
									     : BS_DAEMON_RESTART;
		if (need > action)
			action = need;
		if (changed != NULL)
			bs_strv_push(changed, keys.v[i]);
	}
out:
	bs_strv_free(&keys);
	cJSON_Delete(old_obj);
	cJSON_Delete(new_obj);
	return action;
}

/* ---- validation ----------------------------------------------------------- */

enum key_type {
	K_ANY,
	K_BOOL,
	K_STRING,
	K_PATH,	      /* absolute path */
	K_INT,	      /* any integer */
	K_UINT,	      /* integer >= 0 */
	K_STRINGS,    /* array of strings */
	K_LABELS,     /* array of "key=value" strings */
	K_URLS,	      /* array of http(s) URLs */
	K_STRING_MAP, /* object of strings */
	K_BOOL_MAP,   /* object of booleans */
	K_OBJECT,
	K_POOLS,    /* default-address-pools: [{base: string, size: int}] */
	K_RUNTIMES, /* object of {path: string, runtimeArgs: [string]} */
	K_LOG_LEVEL,
	K_MANAGED, /* refused: bootstrap manages it */
};

static const struct {
	const char *key;
	enum key_type type;
} daemon_keys[] = {
	{"allow-nondistributable-artifacts", K_STRINGS},
	{"api-cors-header", K_STRING},
	{"authorization-plugins", K_STRINGS},
	{"bip", K_STRING},
	{"bridge", K_STRING},
	{"builder", K_OBJECT},
	{"cdi-spec-dirs", K_STRINGS},
	{"cgroup-parent", K_STRING},
	{"containerd", K_PATH},
	{"containerd-namespace", K_STRING},
	{"containerd-plugins-namespace", K_STRING},
	{"cpu-rt-period", K_INT},
	{"cpu-rt-runtime", K_INT},
	{"cri-containerd", K_BOOL},
	{"data-root", K_PATH},
	{"debug", K_BOOL},
	{"default-address-pools", K_POOLS},
	{"default-cgroupns-mode", K_STRING},
	{"default-gateway", K_STRING},
	{"default-gateway-v6", K_STRING},
	{"default-ipc-mode", K_STRING},
	{"default-network-opts", K_OBJECT},
	{"default-runtime", K_STRING},
	{"default-shm-size", K_STRING},
	{"default-ulimits", K_OBJECT},
	{"dns", K_STRINGS},
	{"dns-opts", K_STRINGS},
	{"dns-search", K_STRINGS},
	{"exec-opts", K_STRINGS},
	{"exec-root", K_PATH},
	{"experimental", K_BOOL},
	{"features", K_BOOL_MAP},
	{"fixed-cidr", K_STRING},
	{"fixed-cidr-v6", K_STRING},
	{"group", K_STRING},
	{"host-gateway-ip", K_STRING},
	{"hosts", K_MANAGED},
	{"icc", K_BOOL},
	{"init", K_BOOL},
	{"init-path", K_PATH},
	{"insecure-registries", K_STRINGS},
	{"ip", K_STRING},
	{"ip-forward", K_BOOL},
	{"ip-masq", K_BOOL},
	{"ip6tables", K_BOOL},
	{"iptables", K_BOOL},
	{"ipv6", K_BOOL},
	{"labels", K_LABELS},
	{"live-restore", K_BOOL},
	{"log-driver", K_STRING},
	{"log-format", K_STRING},
	{"log-level", K_LOG_LEVEL},
	{"log-opts", K_STRING_MAP},
	{"max-concurrent-downloads", K_UINT},
	{"max-concurrent-uploads", K_UINT},
	{"max-download-attempts", K_UINT},
	{"mtu", K_UINT},
	{"network-control-plane-mtu", K_UINT},
	{"network-diagnostic-port", K_UINT},
	{"no-new-privileges", K_BOOL},
	{"node-generic-resources", K_STRINGS},
	{"oom-score-adjust", K_INT},
	{"pidfile", K_MANAGED},
	{"proxies", K_STRING_MAP},
	{"raw-logs", K_BOOL},
	{"registry-mirrors", K_URLS},
	{"runtimes", K_RUNTIMES},
	{"seccomp-profile", K_STRING},
	{"selinux-enabled", K_BOOL},
	{"shutdown-timeout", K_UINT},
	{"storage-driver", K_STRING},
	{"storage-opts", K_STRINGS},
	{"swarm-default-advertise-addr", K_STRING},
	{"tls", K_MANAGED},
	{"tlscacert", K_MANAGED},
	{"tlscert", K_MANAGED},
	{"tlskey", K_MANAGED},
	{"tlsverify", K_MANAGED},
	{"userland-proxy", K_BOOL},
	{"userland-proxy-path", K_PATH},
	{"userns-remap", K_STRING},
};

#define N_DAEMON_KEYS (sizeof(daemon_keys) / sizeof(daemon_keys[0]))

static bool is_integer(const cJSON *v)
{
	return cJSON_IsNumber(v) && isfinite(v->valuedouble) &&
	       v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 9e15;
}

static bool all_strings(const cJSON *arr)
{
	const cJSON *c;

	for (c = arr->child; c != NULL; c = c->next)
		if (!cJSON_IsString(c))
			return false;
	return true;
}

static int refuse_managed(const char *key, struct bs_err *err)
{
	if (strcmp(key, "hosts") == 0)
		return bs_err_set(
			err, BS_ERR_INVALID,
			"'hosts' cannot be set: with systemd the docker unit starts dockerd with -H fd://, and hosts in daemon.json then stops it from starting. Remove it: bootstrap reaches the engine through the SSH tunnel (docker.endpoint: ssh), or serves the API with mutual TLS itself (docker.endpoint: tls)");
	if (strcmp(key, "pidfile") == 0)
		return bs_err_set(
			err, BS_ERR_INVALID,
			"'pidfile' cannot be set: bootstrap finds the running dockerd through /var/run/docker.pid (remove it)");
	return bs_err_set(
		err, BS_ERR_INVALID,
		"'%s' cannot be set: bootstrap manages the TLS settings (remove it; set docker.endpoint: tls to serve the API with mutual TLS)",
		key);
}

static int check_pools(const cJSON *v, struct bs_err *err)
{
	const cJSON *pool;

	if (!cJSON_IsArray(v))
		goto bad;
	for (pool = v->child; pool != NULL; pool = pool->next) {
		const cJSON *base = cJSON_GetObjectItemCaseSensitive(pool, "base");
		const cJSON *size = cJSON_GetObjectItemCaseSensitive(pool, "size");

		if (!cJSON_IsObject(pool) || !cJSON_IsString(base) || !is_integer(size) ||
		    size->valuedouble < 0 || size->valuedouble > 128)
			goto bad;
	}
	return 0;
bad:
	return bs_err_set(
		err, BS_ERR_INVALID,
		"'default-address-pools' must be a list of {base: \"CIDR\", size: prefix length}, like [{\"base\": \"10.10.0.0/16\", \"size\": 24}]");
}

static int check_runtimes(const cJSON *v, struct bs_err *err)
{
	const cJSON *rt;

	if (!cJSON_IsObject(v))
		goto bad;
	for (rt = v->child; rt != NULL; rt = rt->next) {
		const cJSON *path = cJSON_GetObjectItemCaseSensitive(rt, "path");
		const cJSON *args = cJSON_GetObjectItemCaseSensitive(rt, "runtimeArgs");

		if (!cJSON_IsObject(rt) || !cJSON_IsString(path) || path->valuestring[0] == '\0')
			goto bad;
		if (args != NULL && (!cJSON_IsArray(args) || !all_strings(args)))
			goto bad;
	}
	return 0;
bad:
	return bs_err_set(
		err, BS_ERR_INVALID,
		"'runtimes' must map names to {path: \"/usr/bin/runc\", runtimeArgs: [strings]}");
}

static int check_key(const char *key, enum key_type type, const cJSON *v, struct bs_err *err)
{
	static const char *const levels[] = {"debug", "info", "warn", "error", "fatal", NULL};
	const cJSON *c;
	size_t i;

	switch (type) {
	case K_ANY:
	case K_OBJECT:
		if (type == K_OBJECT && !cJSON_IsObject(v))
			return bs_err_set(err, BS_ERR_INVALID, "'%s' must be a map", key);
		return 0;
	case K_BOOL:
		if (!cJSON_IsBool(v))
			return bs_err_set(err, BS_ERR_INVALID, "'%s' must be true or false%s", key,
					  cJSON_IsString(v) ? " (not quoted)" : "");
		return 0;
	case K_STRING:
		if (!cJSON_IsString(v))
			return bs_err_set(err, BS_ERR_INVALID, "'%s' must be a string", key);
		return 0;
	case K_PATH:
		if (!cJSON_IsString(v) || v->valuestring[0] != '/')
			return bs_err_set(err, BS_ERR_INVALID,
					  "'%s' must be an absolute path (starting with /)", key);
		return 0;
	case K_INT:
	case K_UINT:
		if (!is_integer(v) || (type == K_UINT && v->valuedouble < 0))
			return bs_err_set(err, BS_ERR_INVALID, "'%s' must be a%s whole number", key,
					  type == K_UINT ? " non-negative" : "");
		return 0;
	case K_STRINGS:
		if (!cJSON_IsArray(v) || !all_strings(v))
			return bs_err_set(
				err, BS_ERR_INVALID,
				"'%s' must be a list of strings (like [\"a=b\"]; dockerd refuses anything else)",
				key);
		return 0;
	case K_LABELS:
	case K_URLS:
		if (!cJSON_IsArray(v) || !all_strings(v))
			return bs_err_set(err, BS_ERR_INVALID, "'%s' must be a list of strings",
					  key);
		for (c = v->child; c != NULL; c = c->next) {
			const char *text = c->valuestring;

			if (type == K_LABELS && (text[0] == '=' || strchr(text, '=') == NULL))
				return bs_err_set(
					err, BS_ERR_INVALID,
					"'%s' entries are key=value, not '%.60s' (dockerd refuses it)",
					key, text);
			if (type == K_URLS && !bs_str_starts_with(text, "http://") &&
			    !bs_str_starts_with(text, "https://"))
				return bs_err_set(
					err, BS_ERR_INVALID,
					"'%s' entries are URLs like https://mirror.example.com, not '%.60s'",
					key, text);
		}
		return 0;
	case K_STRING_MAP:
	case K_BOOL_MAP:
		if (!cJSON_IsObject(v))
			return bs_err_set(err, BS_ERR_INVALID, "'%s' must be a map", key);
		for (c = v->child; c != NULL; c = c->next) {
			if (type == K_STRING_MAP && !cJSON_IsString(c))
				return bs_err_set(
					err, BS_ERR_INVALID,
					"'%s.%s' must be a string (dockerd refuses numbers and booleans here: quote it, like \"%s\")",
					key, c->string,
					cJSON_IsTrue(c)	   ? "true"
					: cJSON_IsFalse(c) ? "false"
							   : "10");
			if (type == K_BOOL_MAP && !cJSON_IsBool(c))
				return bs_err_set(err, BS_ERR_INVALID,
						  "'%s.%s' must be true or false", key, c->string);
		}
		return 0;
	case K_POOLS: return check_pools(v, err);
	case K_RUNTIMES: return check_runtimes(v, err);
	case K_LOG_LEVEL:
		if (cJSON_IsString(v))
			for (i = 0; levels[i] != NULL; i++)
				if (strcmp(levels[i], v->valuestring) == 0)
					return 0;
		return bs_err_set(err, BS_ERR_INVALID,
				  "'log-level' must be one of debug, info, warn, error, fatal");
	case K_MANAGED: return refuse_managed(key, err);
	}
	return 0;
}

int bs_daemon_json_validate(const char *recipe_json, struct bs_err *err)
{
	const char *names[N_DAEMON_KEYS + 1];
	cJSON *obj;
	const cJSON *c;
	size_t i;
	int rc;

	if (recipe_json == NULL)
		return 0;
	rc = parse_object(recipe_json, strlen(recipe_json), "docker.daemon", &obj, err);
	if (rc != 0)
		return rc;
	for (i = 0; i < N_DAEMON_KEYS; i++)
		names[i] = daemon_keys[i].key;
	names[N_DAEMON_KEYS] = NULL;
	for (c = obj->child; c != NULL && rc == 0; c = c->next) {
		bool known = false;

		if (cJSON_IsNull(c)) {
			/* null removes the key from the node's file */
			continue;
		}
		for (i = 0; i < N_DAEMON_KEYS && !known; i++) {
			if (strcmp(daemon_keys[i].key, c->string) != 0)
				continue;
			known = true;
			rc = check_key(c->string, daemon_keys[i].type, c, err);
		}
		if (!known) {
			const char *hint = bs_suggest(c->string, names);

			if (hint != NULL)
				rc = bs_err_set(
					err, BS_ERR_INVALID,
					"unknown key '%s' (did you mean '%s'?); dockerd refuses keys it does not know and would not start",
					c->string, hint);
		}
	}
	cJSON_Delete(obj);
	return rc;
}

/* ---- detection parsing ---------------------------------------------------- */

void bs_dockerhost_facts_free(struct bs_dockerhost_facts *f)
{
	free(f->daemon_json);
	f->daemon_json = NULL;
	f->daemon_json_len = 0;
}

/* Copy at most size-1 bytes of value, printable ASCII only. */
static void copy_clean(char *dst, size_t size, const char *src, size_t len)
{
	size_t i, n = len < size - 1 ? len : size - 1;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	dst[n] = '\0';
}

static bool all_in(const char *s, size_t len, const char *set)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && strchr(set, s[i]) == NULL)
			return false;
	return true;
}

/* An os-release value, unquoted: "..." with \-escapes, '...', or bare. */
static size_t os_release_value(const char *p, const char *end, char *dst, size_t size)
{
	size_t n = 0;
	char quote = 0;

	if (p < end && (*p == '"' || *p == '\'')) {
		quote = *p;
		p++;
	}
	for (; p < end; p++) {
		char c = *p;

		if (quote != 0 && c == quote)
			break;
		if (quote == 0 && (c == ' ' || c == '\t' || c == '#'))
			break;
		if (quote == '"' && c == '\\' && p + 1 < end && strchr("\"\\$`", p[1]) != NULL)
			c = *++p;
		if (n + 1 < size)
			dst[n++] = (unsigned char)c >= 0x20 && (unsigned char)c < 0x7f ? c : '?';
	}
	dst[n] = '\0';
	return n;
}

void bs_dockerhost_parse_os_release(const char *text, size_t len, struct bs_dockerhost_facts *f)
{
	const char *p = text, *end = text + len;
	char ubuntu_codename[32] = "";

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = eol ? eol : end, *eq;
		size_t klen;

		while (p < line_end && (*p == ' ' || *p == '\t'))
			p++;
		eq = memchr(p, '=', (size_t)(line_end - p));
		if (eq != NULL && *p != '#') {
			const char *v = eq + 1;

			klen = (size_t)(eq - p);
			if (line_end > v && line_end[-1] == '\r')
				line_end--;
#define OS_KEY(name, field)                                                                        \
	if (klen == strlen(name) && memcmp(p, name, klen) == 0)                                    \
		os_release_value(v, line_end, field, sizeof(field));
			OS_KEY("ID", f->os_id)
			OS_KEY("VERSION_ID", f->os_version)
			OS_KEY("VERSION_CODENAME", f->os_codename)
			OS_KEY("UBUNTU_CODENAME", ubuntu_codename)
			OS_KEY("ID_LIKE", f->os_like)
			OS_KEY("PRETTY_NAME", f->os_name)
#undef OS_KEY
		}
		p = eol ? eol + 1 : end;
	}
	if (f->os_codename[0] == '\0')
		snprintf(f->os_codename, sizeof(f->os_codename), "%s", ubuntu_codename);
	f->os_release = true;
}

static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p = list;

	while ((p = strstr(p, word)) != NULL) {
		bool start = p == list || p[-1] == ' ';
		bool stop = p[n] == '\0' || p[n] == ' ';

		if (start && stop)
			return true;
		p += n;
	}
	return false;
}

bool bs_dockerhost_os_supported(const struct bs_dockerhost_facts *f)
{
	return strcmp(f->os_id, "debian") == 0 || strcmp(f->os_id, "ubuntu") == 0 ||
	       has_word(f->os_like, "debian") || has_word(f->os_like, "ubuntu");
}

static enum bs_dockerhost_sudo sudo_kind(const char *msg)
{
	if (strstr(msg, "password is required") != NULL ||
	    strstr(msg, "a terminal is required") != NULL)
		return BS_SUDO_PASSWORD;
	if (strstr(msg, "not in the sudoers") != NULL || strstr(msg, "not allowed") != NULL ||
	    strstr(msg, "may not run sudo") != NULL)
		return BS_SUDO_DENIED;
	if (strstr(msg, "not found") != NULL)
		return BS_SUDO_MISSING;
	return BS_SUDO_FAILED;
}

/* Decode a base64 value; NULL when it is not base64. */
static unsigned char *decode_value(const char *v, size_t vlen, size_t max, size_t *out_len)
{
	char *copy;
	unsigned char *raw;

	if (vlen > (max + 2) / 3 * 4 + 4 || !all_in(v, vlen, "+/="))
		return NULL;
	copy = bs_xstrndup(v, vlen);
	raw = bs_base64_decode(copy, out_len);
	free(copy);
	if (raw != NULL && *out_len > max) {
		free(raw);
		raw = NULL;
	}
	return raw;
}

static int bad_value(struct bs_err *err, const char *key)
{
	return bs_err_set(err, BS_ERR_PROTOCOL,
			  "the node's detection output has a malformed '%s' value", key);
}

/* "addr=IFACE MTU ADDRESS[/PREFIX] [PHYS]": a line that does not read so
 * is skipped (a newer ip, an odd name); more than the bound are dropped. */
static int parse_addr(struct bs_dockerhost_facts *f, const char *v, size_t vlen)
{
	struct bs_dockerhost_addr a;
	const char *sp1 = memchr(v, ' ', vlen), *sp2, *sp3, *slash, *end = v + vlen;
	char num[8];
	unsigned char bin[16];
	long long mtu;

	memset(&a, 0, sizeof(a));
	if (f->n_addrs >= BS_DOCKERHOST_MAX_ADDRS || sp1 == NULL)
		return 0;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1));
	if (sp2 == NULL)
		return 0;
	sp3 = memchr(sp2 + 1, ' ', (size_t)(end - sp2 - 1));
	if (sp3 != NULL) {
		a.phys = end - sp3 == 2 && sp3[1] == '1';
		end = sp3;
	}
	slash = memchr(sp2 + 1, '/', (size_t)(end - sp2 - 1));
	if (slash == NULL)
		slash = end;
	if (sp1 == v || (size_t)(sp1 - v) >= sizeof(a.ifname) ||
	    !all_in(v, (size_t)(sp1 - v), ".-_") || (size_t)(sp2 - sp1 - 1) >= sizeof(num) ||
	    (size_t)(slash - sp2 - 1) >= sizeof(a.addr) || slash == sp2 + 1)
		return 0;
	copy_clean(a.ifname, sizeof(a.ifname), v, (size_t)(sp1 - v));
	copy_clean(num, sizeof(num), sp1 + 1, (size_t)(sp2 - sp1 - 1));
	if (bs_parse_int64(num, &mtu) != 0 || mtu < 0 || mtu > 65535)
		return 0;
	a.mtu = (int)mtu;
	copy_clean(a.addr, sizeof(a.addr), sp2 + 1, (size_t)(slash - sp2 - 1));
	if (inet_pton(AF_INET, a.addr, bin) != 1 && inet_pton(AF_INET6, a.addr, bin) != 1)
		return 0;
	f->addrs[f->n_addrs++] = a;
	return 0;
}

/* One key=value of the detection section. */
static int fact(struct bs_dockerhost_facts *f, const char *k, size_t klen, const char *v,
		size_t vlen, struct bs_err *err)
{
	char key[32];
	long long n;

	copy_clean(key, sizeof(key), k, klen);
	if (strcmp(key, "uid") == 0 || strcmp(key, "pid") == 0) {
		char num[24];

		if (vlen == 0 && strcmp(key, "pid") == 0)
			return 0;
		copy_clean(num, sizeof(num), v, vlen);
		if (vlen >= sizeof(num) || bs_parse_int64(num, &n) != 0 || n < 0 ||
		    n > 0x7fffffff || (strcmp(key, "pid") == 0 && n == 0))
			return bad_value(err, key);
		if (strcmp(key, "uid") == 0)
			f->uid = (long)n;
		else
			f->pid = (long)n;
	} else if (strcmp(key, "user") == 0) {
		copy_clean(f->user, sizeof(f->user), v, vlen);
	} else if (strcmp(key, "sudo") == 0) {
		f->sudo = vlen == 1 && v[0] == '1' ? BS_SUDO_OK : BS_SUDO_UNUSED;
	} else if (strcmp(key, "os-release") == 0) {
		size_t raw_len;
		unsigned char *raw = decode_value(v, vlen, 65536, &raw_len);

		if (raw == NULL)
			return bad_value(err, key);
		bs_dockerhost_parse_os_release((const char *)raw, raw_len, f);
		free(raw);
	} else if (strcmp(key, "systemd") == 0) {
		f->systemd = vlen == 1 && v[0] == '1';
	} else if (strcmp(key, "unit-enabled") == 0) {
		f->unit_enabled = vlen == 1 && v[0] == '1';
	} else if (strcmp(key, "unit-LoadState") == 0) {
		f->unit_loaded = vlen == 6 && memcmp(v, "loaded", 6) == 0;
	} else if (strcmp(key, "unit-MainPID") == 0) {
		char num[24];

		copy_clean(num, sizeof(num), v, vlen);
		if (vlen >= sizeof(num) || bs_parse_int64(num, &n) != 0 || n < 0 || n > 0x7fffffff)
			return bad_value(err, key);
		f->unit_pid = (long)n;
	} else if (strcmp(key, "apt") == 0) {
		f->apt = vlen == 1 && v[0] == '1';
	} else if (strcmp(key, "docker") == 0 || strcmp(key, "dockerd") == 0 ||
		   strcmp(key, "log") == 0) {
		char *dst = strcmp(key, "docker") == 0	  ? f->docker_path
			    : strcmp(key, "dockerd") == 0 ? f->dockerd_path
							  : f->log_path;

		/* an absolute path we can quote, or nothing (an alias, a
		 * function, a name with a newline...) */
		if (vlen > 0 && vlen < 256 && v[0] == '/' && all_in(v, vlen, "/._+-@:,"))
			copy_clean(dst, 256, v, vlen);
		else
			dst[0] = '\0';
	} else if (strcmp(key, "sock") == 0) {
		f->socket = vlen == 1 && v[0] == '1';
	} else if (strcmp(key, "version") == 0) {
		if (vlen > 0 && vlen < sizeof(f->engine_version) && all_in(v, vlen, ".+~:_-"))
			copy_clean(f->engine_version, sizeof(f->engine_version), v, vlen);
		else
			f->engine_version[0] = '\0';
	} else if (strcmp(key, "daemon-json") == 0) {
		size_t raw_len;
		unsigned char *raw = decode_value(v, vlen, DAEMON_JSON_MAX, &raw_len);

		if (raw == NULL)
			return bad_value(err, key);
		free(f->daemon_json);
		f->daemon_json = (char *)raw;
		f->daemon_json_len = raw_len;
		f->daemon_json_exists = true;
	} else if (strcmp(key, "stray") == 0) {
		char num[24];

		copy_clean(num, sizeof(num), v, vlen);
		if (vlen >= sizeof(num) || bs_parse_int64(num, &n) != 0 || n <= 0 || n > 0x7fffffff)
			return bad_value(err, key);
		f->stray_pid = (long)n;
	} else if (strcmp(key, "curl") == 0) {
		f->curl = vlen == 1 && v[0] == '1';
	} else if (strcmp(key, "route-if") == 0) {
		/* an interface name: Linux allows 15 bytes, no '/' or spaces */
		if (vlen > 0 && vlen < sizeof(f->route_if) && all_in(v, vlen, ".-_"))
			copy_clean(f->route_if, sizeof(f->route_if), v, vlen);
		else
			f->route_if[0] = '\0';
	} else if (strcmp(key, "ipvs") == 0) {
		f->ipvs = vlen == 1 && v[0] == '1';
	} else if (strcmp(key, "esp") == 0) {
		f->esp = vlen == 1 && v[0] == '1'   ? BS_ESP_YES
			 : vlen == 1 && v[0] == '0' ? BS_ESP_NO
						    : BS_ESP_UNKNOWN;
	} else if (strcmp(key, "esp-error") == 0) {
		size_t raw_len = 0;
		unsigned char *raw = decode_value(v, vlen, 512, &raw_len);

		copy_clean(f->esp_error, sizeof(f->esp_error), raw ? (const char *)raw : "",
			   raw ? raw_len : 0);
		for (size_t i = 0; f->esp_error[i] != '\0'; i++) /* one line */
			if (f->esp_error[i] == '?')
				f->esp_error[i] = ' ';
		free(raw);
	} else if (strcmp(key, "addr") == 0) {
		return parse_addr(f, v, vlen);
	} else if (strcmp(key, "containerd-sock") == 0) {
		f->containerd_socket = vlen == 1 && v[0] == '1';
	} else if (strcmp(key, "tls-ca") == 0 || strcmp(key, "tls-cert") == 0 ||
		   strcmp(key, "tls-key") == 0 || strcmp(key, "tls-dropin") == 0) {
		char *dst = strcmp(key, "tls-ca") == 0	   ? f->tls_sha256[0]
			    : strcmp(key, "tls-cert") == 0 ? f->tls_sha256[1]
			    : strcmp(key, "tls-key") == 0  ? f->tls_sha256[2]
							   : f->tls_dropin_sha256;

		if (vlen == 0)
			return 0;
		if (vlen != 64 || !all_in(v, vlen, ""))
			return bad_value(err, key);
		copy_clean(dst, 65, v, vlen);
	}
	/* anything else: a newer script's key, or noise; ignored */
	return 0;
}

int bs_dockerhost_parse_facts(const char *out, size_t len, struct bs_dockerhost_facts *f,
			      struct bs_err *err)
{
	const char *p = out, *end = out + len;
	bool in = false, done = false, sudo_failed = false;
	char sudo_b64[600] = "";
	struct bs_buf os = BS_BUF_INIT;

	memset(f, 0, sizeof(*f));
	f->uid = -1;
	while (p < end && !done) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = eol ? eol : end, *eq;
		size_t klen, vlen;
		int rc;

		if (line_end > p && line_end[-1] == '\r')
			line_end--;
		eq = memchr(p, '=', (size_t)(line_end - p));
		if (eq == NULL)
			goto next;
		klen = (size_t)(eq - p);
		vlen = (size_t)(line_end - eq - 1);
		if (!in) {
			if (klen == 9 && memcmp(p, "bs-detect", 9) == 0 && vlen == 1 &&
			    eq[1] == '1') {
				in = true;
			} else if (klen == 14 && memcmp(p, "bs-sudo-failed", 14) == 0) {
				sudo_failed = true;
				copy_clean(f->user, sizeof(f->user), eq + 1, vlen);
			} else if (klen == 13 && memcmp(p, "bs-sudo-error", 13) == 0) {
				copy_clean(sudo_b64, sizeof(sudo_b64), eq + 1, vlen);
			}
			goto next;
		}
		if (klen == 3 && memcmp(p, "end", 3) == 0) {
			done = true;
			goto next;
		}
		if (klen == 2 && memcmp(p, "os", 2) == 0) {
			/* a line of os-release, as the shell read it (no fork):
			 * parsed with the others at the end, as the file is */
			if (os.len < 65536) {
				bs_buf_append(&os, eq + 1, vlen);
				bs_buf_putc(&os, '\n');
			}
			goto next;
		}
		rc = fact(f, p, klen, eq + 1, vlen, err);
		if (rc != 0) {
			bs_buf_free(&os);
			return rc;
		}
	next:
		p = eol ? eol + 1 : end;
	}
	if (os.len > 0)
		bs_dockerhost_parse_os_release(bs_buf_str(&os), os.len, f);
	bs_buf_free(&os);
	if (sudo_failed && !in) {
		size_t n = 0;
		unsigned char *msg = decode_value(sudo_b64, strlen(sudo_b64), 512, &n);

		copy_clean(f->sudo_error, sizeof(f->sudo_error), msg ? (const char *)msg : "",
			   msg ? n : 0);
		/* the message is one line or two: keep it on one */
		for (n = 0; f->sudo_error[n] != '\0'; n++)
			if (f->sudo_error[n] == '?')
				f->sudo_error[n] = ' ';
		free(msg);
		f->sudo = sudo_kind(f->sudo_error);
		return 0;
	}
	if (!in)
		return bs_err_set(err, BS_ERR_PROTOCOL,
				  "the node's detection printed nothing we recognise");
	if (!done)
		return bs_err_set(err, BS_ERR_PROTOCOL,
				  "the node's detection output was cut short");
	if (f->uid < 0)
		return bs_err_set(err, BS_ERR_PROTOCOL, "the node's detection did not give a uid");
	return 0;
}

/* ---- package syntax ------------------------------------------------------- */

int bs_dockerhost_check_package(const char *package, const char *version, struct bs_err *err)
{
	size_t i, n;
	const char *colon, *upstream;

	if (package == NULL || package[0] == '\0')
		return bs_err_set(err, BS_ERR_INVALID, "docker.package is empty");
	n = strlen(package);
	if (n < 2 || n > 100 ||
	    !(islower((unsigned char)package[0]) || isdigit((unsigned char)package[0])))
		goto bad_package;
	for (i = 0; i < n; i++)
		if (!islower((unsigned char)package[i]) && !isdigit((unsigned char)package[i]) &&
		    strchr("+-.", package[i]) == NULL)
			goto bad_package;
	if (version == NULL)
		return 0;
	n = strlen(version);
	if (n == 0 || n > 100)
		goto bad_version;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)version[i]) && strchr(".+~:-", version[i]) == NULL)
			goto bad_version;
	/* [epoch:]upstream[-revision]: the epoch is a number, the upstream
	 * version starts with a digit */
	colon = strchr(version, ':');
	upstream = version;
	if (colon != NULL) {
		if (colon == version || strchr(colon + 1, ':') != NULL)
			goto bad_version;
		for (i = 0; version + i < colon; i++)
			if (!isdigit((unsigned char)version[i]))
				goto bad_version;
		upstream = colon + 1;
	}
	if (!isdigit((unsigned char)upstream[0]) || version[n - 1] == '-')
		goto bad_version;
	return 0;
bad_package:
	return bs_err_set(
		err, BS_ERR_INVALID,
		"docker.package '%.60s' is not a Debian package name (lowercase letters, digits, + - and ., like docker.io or docker-ce)",
		package);
bad_version:
	return bs_err_set(
		err, BS_ERR_INVALID,
		"docker.version '%.60s' is not a Debian package version ([epoch:]upstream[-revision], like 20.10.24+dfsg1-1+deb12u1; `apt-cache policy %s` on the node lists them)",
		version, package);
}

/* ---- scripts -------------------------------------------------------------- */

char *bs_dockerhost_wrap(const char *script, bool sudo)
{
	char *q = bs_shell_quote(script);
	char *inner, *outer;

	if (!sudo) {
		/* the login is root: the script as is, one shell, no id(1) */
		outer = bs_xasprintf("sh -c %s", q);
		free(q);
		return outer;
	}

	/* another user (uid 0 aside) through sudo -n, which fails rather
	 * than prompts; its refusal is reported as such */
	inner = bs_xasprintf(
		"S=%s\n"
		"if [ \"$(id -u)\" = 0 ]; then exec sh -c \"$S\"; fi\n"
		"if e=$(sudo -n true 2>&1 </dev/null); then exec sudo -n sh -c \"$S\"; fi\n"
		"printf 'bs-sudo-failed=%%s\\n' \"$(id -un)\"\n"
		"printf 'bs-sudo-error=%%s\\n' \"$(printf %%s \"$e\" | head -c 400 | base64 | tr -d '\\n')\"\n"
		"exit %d",
		q, SUDO_FAILED_EXIT);
	outer = bs_shell_quote(inner);
	free(q);
	free(inner);
	q = bs_xasprintf("sh -c %s", outer);
	free(outer);
	return q;
}

/* Shared by every script: PATH (sudo and non-login shells may lack the
 * sbin directories), and the helpers that find and ask dockerd. */
#define PRELUDE                                                                                       \
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH\n"                   \
	"b64() { base64 | tr -d '\\n'; }\n"                                                           \
	"to() { if command -v timeout >/dev/null 2>&1; then timeout \"$@\"; else shift; \"$@\"; "     \
	"fi; }\n"                                                                                     \
	"alive_pid() { kill -0 \"$1\" 2>/dev/null && ! grep -q '^State:[[:space:]]*Z' "               \
	"\"/proc/$1/status\" 2>/dev/null; }\n"                                                        \
	"dpid() { p=; { read -r p || [ -n \"$p\" ]; } 2>/dev/null </var/run/docker.pid || return 1; " \
	"case $p in ''|*[!0-9]*) return 1;; esac; { read -r c </proc/$p/comm && read -r _ _ z _ "     \
	"</proc/$p/stat; } 2>/dev/null || return 1; [ \"$c\" = dockerd ] && [ \"$z\" != Z ] && "      \
	"printf '%s\\n' \"$p\"; }\n"                                                                  \
	"engine_version() { if command -v docker >/dev/null 2>&1; then to 10 docker version "         \
	"--format '{{.Server.Version}}' 2>/dev/null; elif command -v curl >/dev/null 2>&1; then "     \
	"to 10 curl -sf --unix-socket /var/run/docker.sock http://localhost/version 2>/dev/null | "   \
	"sed -n 's/.*\"Version\":\"\\([^\"]*\\)\".*/\\1/p'; else return 1; fi; }\n"                   \
	"logfile_of() { l=$(readlink \"/proc/$1/fd/2\" 2>/dev/null); [ -f \"$l\" ] && printf "        \
	"'%s\\n' \"$l\"; }\n"

/* IPsec ESP as Docker's encrypted overlays use it: an SA with the same
 * AEAD, added in a network namespace of its own that dies with the
 * command: no SA or namespace is left, but as root the kernel may load
 * the esp4/xfrm/crypto modules on demand (as Docker would). "Requested
 * type not found" or "...algorithm not found" when the kernel lacks
 * esp4/xfrm or the cipher. Without unshare, ip, an ip that knows xfrm
 * (busybox's does not), or the right to a new namespace: unknown. */
#define ESP_PROBE                                                                                    \
	"if command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 && to 10 unshare "   \
	"--net true >/dev/null 2>&1; then\n"                                                         \
	"  if e=$(to 10 unshare --net ip xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi "  \
	"0x100 reqid 1 mode transport aead 'rfc4106(gcm(aes))' "                                     \
	"0x0102030405060708090a0b0c0d0e0f1011121314 128 2>&1 </dev/null); then printf "              \
	"'esp=1\\n'\n"                                                                               \
	"  else case $e in *'is unknown'*|*'nknown command'*|*'invalid argument'*|*sage:*) printf "  \
	"'esp=?\\n';;\n"                                                                             \
	"  *) printf 'esp=0\\nesp-error=%s\\n' \"$(printf %s \"$e\" | head -c 200 | b64)\";; esac; " \
	"fi\n"                                                                                       \
	"else printf 'esp=?\\n'; fi\n"

/* The global addresses with their interface, its MTU and whether a
 * device is behind it (phys 1: not a bridge, tunnel or veth), bounded:
 * what cluster.advertise chooses from and the overlay's MTU comes from. */
#define ADDRS_BODY                                                                                     \
	"if command -v ip >/dev/null 2>&1; then ip -o addr show scope global 2>/dev/null | head -n "   \
	"32 | while read -r _ i _ a _; do i=${i%%@*}; m=0; { read -r m <\"/sys/class/net/$i/mtu\"; } " \
	"2>/dev/null; p=0; [ -e \"/sys/class/net/$i/device\" ] && p=1; printf 'addr=%s %s %s "         \
	"%s\\n' \"$i\" \"${m:-0}\" \"$a\" \"$p\"; done; fi\n"

/* Only for a recipe with a cluster (bs_cl set before the body). */
#define CLUSTER_BODY "if [ -n \"${bs_cl:-}\" ]; then\n" ESP_PROBE ADDRS_BODY "fi\n"

#define DETECT_BODY                                                                                \
	"printf 'bs-detect=1\\n'\n"                                                                \
	"u=; while read -r k _ e _; do [ \"$k\" = Uid: ] && { u=$e; break; }; done 2>/dev/null "   \
	"</proc/self/status\n"                                                                     \
	"printf 'uid=%s\\n' \"${u:-$(id -u)}\"\n"                                                  \
	"printf 'user=%s\\n' \"${SUDO_USER:-${USER:-$(id -un)}}\"\n"                               \
	"[ -n \"${SUDO_USER:-}\" ] && printf 'sudo=1\\n'\n"                                        \
	"for f in /etc/os-release /usr/lib/os-release; do\n"                                       \
	"  [ -r $f ] || continue; n=0\n"                                                           \
	"  while [ $n -lt 200 ] && { IFS= read -r l || [ -n \"$l\" ]; }; do n=$((n+1))\n"          \
	"    case $l in ID=*|VERSION_ID=*|VERSION_CODENAME=*|UBUNTU_CODENAME=*|ID_LIKE=*|"         \
	"PRETTY_NAME=*) printf 'os=%s\\n' \"$l\";; esac; l=\n"                                     \
	"  done <$f; break\n"                                                                      \
	"done\n"                                                                                   \
	"if [ -d /run/systemd/system ]; then\n"                                                    \
	"  printf 'systemd=1\\n'\n"                                                                \
	"  systemctl is-enabled docker >/dev/null 2>&1 && printf 'unit-enabled=1\\n'\n"            \
	"  systemctl show -p LoadState -p MainPID docker 2>/dev/null | while IFS== read -r k v; "  \
	"do printf 'unit-%s=%s\\n' \"$k\" \"$v\"; done\n"                                          \
	"  s=$(sha256sum <" TLS_DROPIN " 2>/dev/null | cut -c1-64) && [ -n \"$s\" ] && printf "    \
	"'tls-dropin=%s\\n' \"$s\"\n"                                                              \
	"fi\n"                                                                                     \
	"command -v apt-get >/dev/null 2>&1 && printf 'apt=1\\n'\n"                                \
	"[ -S /run/containerd/containerd.sock ] && printf 'containerd-sock=1\\n'\n"                \
	"printf 'docker=%s\\n' \"$(command -v docker)\"\n"                                         \
	"printf 'dockerd=%s\\n' \"$(command -v dockerd)\"\n"                                       \
	"if p=$(dpid); then\n"                                                                     \
	"  printf 'pid=%s\\n' \"$p\"\n"                                                            \
	"  [ -S /var/run/docker.sock ] && printf 'sock=1\\n'\n"                                    \
	"else\n"                                                                                   \
	"  for d in /proc/[0-9]*; do\n"                                                            \
	"    read -r c <\"$d/comm\" 2>/dev/null && [ \"$c\" = dockerd ] && { printf "              \
	"'stray=%s\\n' \"${d#/proc/}\"; break; }\n"                                                \
	"  done\n"                                                                                 \
	"fi\n"                                                                                     \
	"command -v curl >/dev/null 2>&1 && printf 'curl=1\\n'\n"                                  \
	"while read -r i d _; do [ \"$d\" = 00000000 ] && { printf 'route-if=%s\\n' \"$i\"; "      \
	"break; }; done 2>/dev/null </proc/net/route\n"                                            \
	"k=; read -r k </proc/sys/kernel/osrelease 2>/dev/null\n"                                  \
	"{ [ -e /proc/net/ip_vs ] || [ -d /sys/module/ip_vs ] || grep -qs '/ip_vs\\.ko' "          \
	"\"/lib/modules/$k/modules.dep\" \"/lib/modules/$k/modules.builtin\"; } && "               \
	"printf 'ipvs=1\\n'\n" CLUSTER_BODY "[ -f " DAEMON_JSON                                    \
	" ] && printf 'daemon-json=%s\\n' \"$(head -c 1048577 " DAEMON_JSON " | b64)\"\n"          \
	"for f in ca cert key; do\n"                                                               \
	"  [ -f " TLS_DIR "/$f.pem ] && s=$(sha256sum <" TLS_DIR                                   \
	"/$f.pem 2>/dev/null | cut -c1-64) && [ -n \"$s\" ] && printf "                            \
	"'tls-%s=%s\\n' $f \"$s\"\n"                                                               \
	"done\n"                                                                                   \
	"printf 'end=1\\n'\n"

const char *bs_dockerhost_detect_script(bool cluster)
{
	return cluster ? "bs_cl=1\n" PRELUDE DETECT_BODY : PRELUDE DETECT_BODY;
}

/*
 * apt-get, retried while another apt or dpkg holds the lock (a fresh
 * cloud machine often runs unattended-upgrades at boot): apt's own lock
 * timeout first (apt >= 1.9.11), then a bounded retry for older ones.
 * The lists are fetched first when there are none (images ship without
 * them), or when the install fails for want of them.
 */
#define INSTALL_BODY                                                                                  \
	"export DEBIAN_FRONTEND=noninteractive\n"                                                     \
	"alog=$(mktemp /tmp/.bootstrap-apt.XXXXXXXX) || { printf 'install-failed=mktemp\\n'; exit "   \
	"1; }\n"                                                                                      \
	"apt_run() {\n"                                                                               \
	"  n=0\n"                                                                                     \
	"  while :; do\n"                                                                             \
	"    apt-get -q -o DPkg::Lock::Timeout=60 \"$@\" >\"$alog\" 2>&1 </dev/null && return 0\n"    \
	"    rc=$?\n"                                                                                 \
	"    grep -q -e 'Could not get lock' -e 'Unable to acquire the dpkg frontend lock' -e "       \
	"'Unable to lock' \"$alog\" || return $rc\n"                                                  \
	"    n=$((n + 1)); [ $n -ge 5 ] && return $rc\n"                                              \
	"    sleep 5\n"                                                                               \
	"  done\n"                                                                                    \
	"}\n"                                                                                         \
	"fail() {\n"                                                                                  \
	"  printf 'install-failed=%s\\n' \"$1\"\n"                                                    \
	"  printf 'install-log=%s\\n' \"$(grep -v '^[[:space:]]*$' \"$alog\" | tail -n 20 | b64)\"\n" \
	"  rm -f \"$alog\"; exit 1\n"                                                                 \
	"}\n"                                                                                         \
	"updated=0\n"                                                                                 \
	"lists() { ls /var/lib/apt/lists/ 2>/dev/null | grep -q '_Packages'; }\n"                     \
	"if ! lists; then\n"                                                                          \
	"  apt_run update && lists || fail update; updated=1\n"                                       \
	"fi\n"                                                                                        \
	"if ! apt_run install -y --no-install-recommends \"$pkg\"; then\n"                            \
	"  if [ $updated = 0 ] && grep -q -e 'Unable to locate package' -e 'has no installation "     \
	"candidate' -e 'was not found' -e 'Failed to fetch' \"$alog\"; then\n"                        \
	"    apt_run update || fail update\n"                                                         \
	"    apt_run install -y --no-install-recommends \"$pkg\" || fail install\n"                   \
	"  else\n"                                                                                    \
	"    fail install\n"                                                                          \
	"  fi\n"                                                                                      \
	"fi\n"                                                                                        \
	"if [ -n \"$cli\" ] && ! command -v docker >/dev/null 2>&1 && ! command -v curl >/dev/null "  \
	"2>&1; then\n"                                                                                \
	"  apt_run install -y --no-install-recommends \"$cli\" || fail install\n"                     \
	"fi\n"                                                                                        \
	"rm -f \"$alog\"\n"                                                                           \
	"printf 'installed=1\\n'\n"

/*
 * The package of the docker CLI that goes with an engine package, when it
 * is a separate one that apt may leave out: Debian 13 split docker-cli out
 * of docker.io and only recommends it (installs run without recommends),
 * Docker's docker-ce only recommends docker-ce-cli. Both are built from
 * the engine's source, so a version pin applies to them too. Without a
 * client (or curl) nothing on the node can tell that dockerd answers.
 */
static const char *cli_package(const char *package)
{
	if (strcmp(package, "docker.io") == 0)
		return "docker-cli";
	if (strcmp(package, "docker-ce") == 0)
		return "docker-ce-cli";
	return NULL;
}

int bs_dockerhost_install_script(const struct bs_docker_conf *conf, char **out, struct bs_err *err)
{
	const char *package = conf->package != NULL ? conf->package : "docker.io";
	const char *cli = cli_package(package);
	char *spec, *cli_spec, *q, *qcli;
	int rc;

	*out = NULL;
	rc = bs_dockerhost_check_package(package, conf->version, err);
	if (rc != 0)
		return rc;
	spec = conf->version != NULL ? bs_xasprintf("%s=%s", package, conf->version)
				     : bs_xstrdup(package);
	cli_spec = cli == NULL		   ? bs_xstrdup("")
		   : conf->version != NULL ? bs_xasprintf("%s=%s", cli, conf->version)
					   : bs_xstrdup(cli);
	q = bs_shell_quote(spec);
	qcli = bs_shell_quote(cli_spec);
	*out = bs_xasprintf("%spkg=%s\ncli=%s\n%s%s", PRELUDE, q, qcli, INSTALL_BODY, DETECT_BODY);
	free(q);
	free(qcli);
	free(cli_spec);
	free(spec);
	return 0;
}

/*
 * The apply script: put the new daemon.json in place (keeping the old one
 * as daemon.json.bootstrap-prev), act on the daemon, wait until it
 * answers, and when it does not, put the old file back, bring the daemon
 * back on it and print what dockerd logged. The log is cut at the point
 * where the action began (a byte offset in the log file, or a journal
 * timestamp with systemd), so only this attempt's lines are shown.
 */
/*
 * A reload is confirmed by dockerd's own words, read from the log written
 * since the signal: "Reloaded configuration" (info), or the daemon's
 * "reload" event for a log level that hides it; one of the reload's own
 * error lines ("Error reconfiguring the daemon: ...", "file configuration
 * validation failed: ...") means dockerd refused the file and kept its
 * settings. Other errors a busy daemon logs meanwhile do not count.
 */
#define APPLY_FUNCS                                                                                    \
	"say() { printf '%s=%s\\n' \"$1\" \"$2\"; }\n"                                                 \
	"conf=" DAEMON_JSON " prev=" DAEMON_JSON ".bootstrap-prev\n"                                   \
	"STARTED= LOG= OFF=0 TS= HADPREV=0\n"                                                          \
	"mark_log() {\n"                                                                               \
	"  if [ $SYSTEMD = 1 ]; then TS=$(date '+%Y-%m-%d %H:%M:%S'); return; fi\n"                    \
	"  OFF=0; [ -n \"$LOG\" ] && [ -f \"$LOG\" ] && OFF=$(wc -c <\"$LOG\")\n"                      \
	"}\n"                                                                                          \
	"new_log() {\n"                                                                                \
	"  if [ $SYSTEMD = 1 ]; then journalctl -u docker --since \"$TS\" --no-pager -q "              \
	"2>/dev/null\n"                                                                                \
	"  elif [ -n \"$LOG\" ] && [ -f \"$LOG\" ]; then tail -c \"+$((OFF + 1))\" \"$LOG\"; fi\n"     \
	"}\n"                                                                                          \
	"log_tail() {\n"                                                                               \
	"  t=$(new_log | grep -v '^[[:space:]]*$' | tail -n 30)\n"                                     \
	"  if [ -z \"$t\" ] && [ $SYSTEMD = 1 ]; then t=$(journalctl -u docker -n 30 --no-pager "      \
	"2>&1); fi\n"                                                                                  \
	"  printf '%s\\n' \"$t\"\n"                                                                    \
	"}\n"                                                                                          \
	"put_conf() {\n"                                                                               \
	"  mkdir -p /etc/docker || return 1\n"                                                         \
	"  if [ -f \"$conf\" ]; then cp -p \"$conf\" \"$prev\" || return 1; HADPREV=1; else rm -f "    \
	"\"$prev\"; HADPREV=0; fi\n"                                                                   \
	"  install -m 0644 \"$NEW\" \"$conf\" || return 1\n"                                           \
	"  rm -f \"$NEW\"\n"                                                                           \
	"}\n"                                                                                          \
	"restore_conf() { if [ $HADPREV = 1 ]; then cp -p \"$prev\" \"$conf\"; else rm -f "            \
	"\"$conf\"; fi; }\n"                                                                           \
	"start() {\n"                                                                                  \
	"  if [ $SYSTEMD = 1 ]; then mark_log; systemctl reset-failed docker >/dev/null 2>&1; "        \
	"systemctl enable --now docker >/dev/null 2>&1; return 0; fi\n"                                \
	"  LOG=/var/log/dockerd.log; mark_log\n"                                                       \
	"  if command -v setsid >/dev/null 2>&1; then (trap - PIPE INT TERM; exec setsid nohup "       \
	"\"$DOCKERD\" >>\"$LOG\" 2>&1 </dev/null) &\n"                                                 \
	"  else (trap - PIPE INT TERM; exec nohup \"$DOCKERD\" >>\"$LOG\" 2>&1 </dev/null) & fi\n"     \
	"  STARTED=$!\n"                                                                               \
	"}\n"                                                                                          \
	"stop() {\n"                                                                                   \
	"  p=$(dpid) || return 0\n"                                                                    \
	"  kill -TERM \"$p\" 2>/dev/null\n"                                                            \
	"  t=0; while alive_pid \"$p\"; do [ $t -ge $STOP_MS ] && return 1; sleep 0.1; t=$((t + "      \
	"100)); done\n"                                                                                \
	"}\n"                                                                                          \
	"restart() {\n"                                                                                \
	"  if [ $SYSTEMD = 1 ]; then mark_log; systemctl reset-failed docker >/dev/null 2>&1; "        \
	"systemctl restart docker >/dev/null 2>&1; return 0; fi\n"                                     \
	"  p=$(dpid) && LOG=$(logfile_of \"$p\")\n"                                                    \
	"  stop || return 3\n"                                                                         \
	"  start\n"                                                                                    \
	"}\n"                                                                                          \
	"alive() {\n"                                                                                  \
	"  if [ $SYSTEMD = 1 ]; then\n"                                                                \
	"    [ \"$(systemctl show -p SubState --value docker 2>/dev/null)\" = auto-restart ] && "      \
	"return 1\n"                                                                                   \
	"    case $(systemctl is-active docker 2>/dev/null) in active|activating|reloading) "          \
	"return 0;; esac; return 1\n"                                                                  \
	"  fi\n"                                                                                       \
	"  if [ -n \"$STARTED\" ]; then alive_pid \"$STARTED\"; else dpid >/dev/null; fi\n"            \
	"}\n"                                                                                          \
	"ready() {\n"                                                                                  \
	"  d=100 t=0 end=$(( $(date +%s) + READY_MS / 1000 + 1 ))\n"                                   \
	"  while :; do\n"                                                                              \
	"    if v=$(engine_version) && [ -n \"$v\" ]; then say version \"$v\"; p=$(dpid) && say "      \
	"pid \"$p\"; return 0; fi\n"                                                                   \
	"    alive || return 2\n"                                                                      \
	"    if [ $t -ge $READY_MS ] || [ \"$(date +%s)\" -ge $end ]; then return 1; fi\n"             \
	"    sleep \"$((d / 1000)).$((d % 1000 / 100))\"\n"                                            \
	"    t=$((t + d)); d=$((d * 2)); [ $d -gt 2000 ] && d=2000\n"                                  \
	"  done\n"                                                                                     \
	"}\n"                                                                                          \
	"reload() {\n"                                                                                 \
	"  p=$(dpid) || return 2\n"                                                                    \
	"  [ $SYSTEMD = 1 ] || LOG=$(logfile_of \"$p\")\n"                                             \
	"  mark_log; since=$(date +%s)\n"                                                              \
	"  if [ $SYSTEMD = 1 ]; then systemctl reload docker >/dev/null 2>&1 || kill -HUP \"$p\"; "    \
	"else kill -HUP \"$p\"; fi\n"                                                                  \
	"  t=0\n"                                                                                      \
	"  while [ $t -lt 15000 ]; do\n"                                                               \
	"    sleep 0.2; t=$((t + 200))\n"                                                              \
	"    l=$(new_log)\n"                                                                           \
	"    case $l in *'Reloaded configuration'*) return 0;; esac\n"                                 \
	"    case $l in *'Error reconfiguring'*|*'validation failed'*|"                                \
	"*'unable to configure the Docker daemon'*) return 1;; esac\n"                                 \
	"    if [ $((t % 1000)) = 0 ] && command -v docker >/dev/null 2>&1 && [ -n \"$(to 5 "          \
	"docker events --since \"$since\" --until \"$(date +%s)\" --filter type=daemon --filter "      \
	"event=reload --format x 2>/dev/null)\" ]; then return 0; fi\n"                                \
	"    alive_pid \"$p\" || return 2\n"                                                           \
	"  done\n"                                                                                     \
	"  return 1\n"                                                                                 \
	"}\n"                                                                                          \
	"tls_put() {\n"                                                                                \
	"  [ -z \"$1\" ] && return 0\n"                                                                \
	"  if [ -f \"$2\" ]; then cp -p \"$2\" \"$2.bootstrap-prev\" || return 1; TLSPREV=\"$TLSPREV " \
	"$2\"; else TLSNEW=\"$TLSNEW $2\"; fi\n"                                                       \
	"  install -m \"$3\" \"$1\" \"$2\" && rm -f \"$1\"\n"                                          \
	"}\n"                                                                                          \
	"tls_restore() {\n"                                                                            \
	"  for f in $TLSPREV; do cp -p \"$f.bootstrap-prev\" \"$f\"; done\n"                           \
	"  for f in $TLSNEW; do rm -f \"$f\"; done\n"                                                  \
	"  rm -f \"$TLS_CA\" \"$TLS_CERT\" \"$TLS_KEY\" \"$DROPIN\"\n"                                 \
	"  if [ $DROPIN_CHANGED = 1 ]; then\n"                                                         \
	"    if [ $DROPIN_HADPREV = 1 ]; then cp -p \"$DROPIN_PATH.bootstrap-prev\" "                  \
	"\"$DROPIN_PATH\"; else rm -f \"$DROPIN_PATH\"; fi\n"                                          \
	"    systemctl daemon-reload\n"                                                                \
	"  fi\n"                                                                                       \
	"}\n"

#define APPLY_MAIN                                                                                    \
	"say bs-apply 1\n"                                                                            \
	"CHANGED=0 CONF_PUT=0 TLSPREV= TLSNEW= DROPIN_CHANGED=0 DROPIN_HADPREV=0\n"                   \
	"[ -n \"$NEW$TLS_CA$TLS_CERT$TLS_KEY$DROPIN\" ] || [ $DROPIN_REMOVE = 1 ] && CHANGED=1\n"     \
	"if [ -n \"$TLS_CA$TLS_CERT$TLS_KEY\" ]; then\n"                                              \
	"  { mkdir -p " TLS_DIR " && chmod 0755 " TLS_DIR " && tls_put \"$TLS_CA\" " TLS_DIR          \
	"/ca.pem 0644 && tls_put \"$TLS_CERT\" " TLS_DIR                                              \
	"/cert.pem 0644 && tls_put \"$TLS_KEY\" " TLS_DIR                                             \
	"/key.pem 0600; } || { tls_restore; say result tls-failed; say end 1; exit 1; "               \
	"}\n"                                                                                         \
	"fi\n"                                                                                        \
	"if [ -n \"$DROPIN\" ] || [ $DROPIN_REMOVE = 1 ]; then\n"                                     \
	"  DROPIN_CHANGED=1\n"                                                                        \
	"  if [ -f \"$DROPIN_PATH\" ]; then cp -p \"$DROPIN_PATH\" \"$DROPIN_PATH.bootstrap-prev\"; " \
	"DROPIN_HADPREV=1; fi\n"                                                                      \
	"  if [ -n \"$DROPIN\" ]; then { mkdir -p \"${DROPIN_PATH%/*}\" && install -m 0644 "          \
	"\"$DROPIN\" \"$DROPIN_PATH\" && rm -f \"$DROPIN\"; } || { tls_restore; say result "          \
	"tls-failed; say end 1; exit 1; }; else rm -f \"$DROPIN_PATH\"; fi\n"                         \
	"  systemctl daemon-reload\n"                                                                 \
	"fi\n"                                                                                        \
	"if [ -n \"$NEW\" ]; then put_conf || { rm -f \"$NEW\"; tls_restore; say result "             \
	"conf-failed; say end 1; exit 1; }; CONF_PUT=1; say conf written; fi\n"                       \
	"[ $ENABLE = 1 ] && systemctl enable docker >/dev/null 2>&1\n"                                \
	"rc=0\n"                                                                                      \
	"case $STEP in\n"                                                                             \
	"  start) start; ready; rc=$? ;;\n"                                                           \
	"  wait) p=$(dpid) && LOG=$(logfile_of \"$p\"); mark_log; ready; rc=$? ;;\n"                  \
	"  reload) reload; rc=$?; [ $rc = 0 ] && { ready; rc=$?; } ;;\n"                              \
	"  restart) restart; rc=$?; [ $rc = 0 ] && { ready; rc=$?; } ;;\n"                            \
	"esac\n"                                                                                      \
	"if [ $rc = 0 ]; then say result ok; say end 1; exit 0; fi\n"                                 \
	"say result failed\n"                                                                         \
	"say failed-rc $rc\n"                                                                         \
	"say log \"$(log_tail | b64)\"\n"                                                             \
	"if [ $CHANGED = 1 ]; then\n"                                                                 \
	"  [ $CONF_PUT = 1 ] && restore_conf\n"                                                       \
	"  tls_restore\n"                                                                             \
	"  say restored 1\n"                                                                          \
	"fi\n"                                                                                        \
	"if [ $CHANGED = 1 ] && [ $rc != 3 ]; then\n"                                                 \
	"  STARTED=\n"                                                                                \
	"  if [ $STEP = reload ] && p=$(dpid); then\n"                                                \
	"    if [ $SYSTEMD = 1 ]; then systemctl reload docker >/dev/null 2>&1 || kill -HUP "         \
	"\"$p\"; else kill -HUP \"$p\"; fi\n"                                                         \
	"  elif [ $SYSTEMD = 1 ]; then mark_log; systemctl reset-failed docker >/dev/null 2>&1; "     \
	"systemctl restart docker >/dev/null 2>&1\n"                                                  \
	"  else stop; start; fi\n"                                                                    \
	"  if ready; then say rollback ok; else say rollback failed; say rollback-log "               \
	"\"$(log_tail | b64)\"; fi\n"                                                                 \
	"elif [ $CHANGED = 1 ]; then\n"                                                               \
	"  say rollback ok\n"                                                                         \
	"fi\n"                                                                                        \
	"say end 1\n"                                                                                 \
	"exit 3\n"

static const char *step_name(enum bs_daemon_step step)
{
	switch (step) {
	case BS_STEP_NONE: return "none";
	case BS_STEP_START: return "start";
	case BS_STEP_RELOAD: return "reload";
	case BS_STEP_RESTART: return "restart";
	case BS_STEP_WAIT: return "wait";
	}
	return "none";
}

static void put_var(struct bs_buf *b, const char *name, const char *value)
{
	char *q = bs_shell_quote(value != NULL ? value : "");

	bs_buf_printf(b, "%s=%s\n", name, q);
	free(q);
}

char *bs_dockerhost_apply_script(const struct bs_dockerhost_apply *a)
{
	struct bs_buf b = BS_BUF_INIT;

	bs_buf_puts(&b, PRELUDE);
	bs_buf_printf(&b, "SYSTEMD=%d\n", a->systemd ? 1 : 0);
	put_var(&b, "DOCKERD", a->dockerd);
	put_var(&b, "NEW", a->new_conf);
	bs_buf_printf(&b, "STEP=%s\n", step_name(a->step));
	bs_buf_printf(&b, "ENABLE=%d\n", a->enable_unit && a->systemd ? 1 : 0);
	bs_buf_printf(&b, "READY_MS=%ld\n", a->ready_timeout_ms > 0 ? a->ready_timeout_ms : 60000);
	bs_buf_printf(&b, "STOP_MS=%ld\n", a->stop_timeout_ms > 0 ? a->stop_timeout_ms : 60000);
	put_var(&b, "TLS_CA", a->tls_tmp[0]);
	put_var(&b, "TLS_CERT", a->tls_tmp[1]);
	put_var(&b, "TLS_KEY", a->tls_tmp[2]);
	put_var(&b, "DROPIN", a->tls_dropin);
	bs_buf_printf(&b, "DROPIN_REMOVE=%d\n", a->tls_remove_dropin ? 1 : 0);
	/* a client that goes away (Ctrl-C, a dropped connection) must not
	 * stop this half-way: the restore and restart on failure still run;
	 * the uploaded temp files (a TLS key among them) go in every case */
	bs_buf_puts(
		&b,
		"trap '' PIPE HUP INT TERM\n"
		"trap 'for f in \"$NEW\" \"$TLS_CA\" \"$TLS_CERT\" \"$TLS_KEY\" \"$DROPIN\"; do "
		"[ -z \"$f\" ] || rm -f \"$f\"; done' EXIT\n");
	bs_buf_puts(&b, "DROPIN_PATH=" TLS_DROPIN "\n");
	bs_buf_puts(&b, APPLY_FUNCS);
	bs_buf_puts(&b, APPLY_MAIN);
	return bs_buf_detach(&b);
}

/* ---- error text from logs ------------------------------------------------- */

/* The value of a logrus field (msg="..." or error="..."), unescaped. */
static bool logrus_field(const char *line, const char *name, struct bs_buf *out)
{
	char pat[16];
	const char *p;

	snprintf(pat, sizeof(pat), "%s=\"", name);
	p = strstr(line, pat);
	if (p == NULL || (p != line && p[-1] != ' '))
		return false;
	for (p += strlen(pat); *p != '\0' && *p != '"'; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		bs_buf_putc(out, *p);
	}
	return true;
}

static int log_weight(const char *line)
{
	/* apt's and dockerd's own verdicts first */
	if (bs_str_starts_with(line, "E: ") || strstr(line, "level=fatal") != NULL ||
	    strstr(line, "failed to start daemon") != NULL)
		return 2;
	if (strstr(line, "level=error") != NULL || strstr(line, "Error") != NULL ||
	    strstr(line, "error") != NULL)
		return 1;
	return 0;
}

char *bs_dockerhost_log_excerpt(const char *log, size_t max)
{
	struct bs_strv lines = BS_STRV_INIT, picked = BS_STRV_INIT;
	struct bs_buf out = BS_BUF_INIT, masked = BS_BUF_INIT;
	const char *p;
	int best = 0;
	size_t i;

	/* masked before lines are cut: half a secret would not be recognised */
	bs_secret_mask(&masked, log != NULL ? log : "");
	p = masked.data;
	while (p != NULL && *p != '\0') {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		char *line = bs_xstrndup(p, n);
		char *s = line, *e;

		while (isspace((unsigned char)*s))
			s++;
		e = s + strlen(s);
		while (e > s && isspace((unsigned char)e[-1]))
			*--e = '\0';
		if (*s != '\0')
			bs_strv_push(&lines, s);
		free(line);
		p = eol ? eol + 1 : NULL;
	}
	for (i = 0; i < lines.n; i++)
		if (log_weight(lines.v[i]) > best)
			best = log_weight(lines.v[i]);
	/* the strongest kind of line there is; the last three of them */
	for (i = 0; i < lines.n; i++) {
		struct bs_buf text = BS_BUF_INIT;
		const char *shown;

		if (log_weight(lines.v[i]) < best)
			continue;
		if (logrus_field(lines.v[i], "msg", &text)) {
			struct bs_buf e = BS_BUF_INIT;

			if (logrus_field(lines.v[i], "error", &e))
				bs_buf_printf(&text, ": %s", bs_buf_str(&e));
			bs_buf_free(&e);
		} else {
			bs_buf_puts(&text, lines.v[i]);
		}
		shown = bs_buf_str(&text);
		if (!bs_strv_contains(&picked, shown))
			bs_strv_push(&picked, shown);
		bs_buf_free(&text);
	}
	for (i = picked.n > 3 ? picked.n - 3 : 0; i < picked.n; i++) {
		size_t room = max > out.len + 4 ? max - out.len - 4 : 0;
		size_t n = strlen(picked.v[i]);

		if (room < 16)
			break;
		if (out.len > 0)
			bs_buf_puts(&out, " / ");
		if (n > 240)
			n = 240;
		if (n > room)
			n = room;
		bs_buf_append(&out, picked.v[i], n);
	}
	bs_strv_free(&lines);
	bs_strv_free(&picked);
	bs_buf_wipe_free(&masked);
	if (out.data == NULL)
		bs_buf_puts(&out, "");
	for (i = 0; i < out.len; i++)
		if ((unsigned char)out.data[i] < 0x20)
			out.data[i] = ' ';
	return bs_buf_detach(&out);
}

/* ---- converging ----------------------------------------------------------- */

struct ctx {
	struct bs_ssh *s;
	const struct bs_dockerhost_opts *o;
	struct bs_dockerhost_report *rep;
	struct bs_err *err;
	const char *label;
	long cmd_timeout;
};

/* The first line of stderr, for messages about a script that broke:
 * masked whole before it is cut to size, so no part of a secret is left. */
static void first_stderr_line(const struct bs_ssh_result *r, char *dst, size_t size)
{
	struct bs_buf masked = BS_BUF_INIT;

	bs_secret_mask(&masked, bs_buf_str(&r->err));
	copy_clean(dst, size, masked.data, strcspn(masked.data, "\n"));
	bs_buf_wipe_free(&masked);
}

static int sudo_error(struct ctx *c, const struct bs_dockerhost_facts *f)
{
	const char *user = f->user[0] != '\0' ? f->user : "the login user";

	switch (f->sudo) {
	case BS_SUDO_PASSWORD:
		return bs_err_set(
			c->err, BS_ERR_AUTH,
			"node %s: %s is not root, and `sudo -n` asks for a password (sudo: a password is required). Give %s passwordless sudo (a line `%s ALL=(ALL) NOPASSWD: ALL` in /etc/sudoers.d/%s on the node), or log in as root (ssh.user: root)",
			c->label, user, user, user, user);
	case BS_SUDO_DENIED:
		return bs_err_set(
			c->err, BS_ERR_AUTH,
			"node %s: %s is not root and may not use sudo (%s). Add a rule `%s ALL=(ALL) NOPASSWD: ALL` in /etc/sudoers.d/%s on the node, or log in as root (ssh.user: root)",
			c->label, user, f->sudo_error, user, user);
	case BS_SUDO_MISSING:
		return bs_err_set(
			c->err, BS_ERR_AUTH,
			"node %s: %s is not root and the node has no sudo: install sudo and give %s a NOPASSWD rule, or log in as root (ssh.user: root)",
			c->label, user, user);
	default:
		return bs_err_set(
			c->err, BS_ERR_AUTH,
			"node %s: %s is not root and `sudo -n` failed (%s): give %s passwordless sudo, or log in as root (ssh.user: root)",
			c->label, user, f->sudo_error[0] ? f->sudo_error : "no message", user);
	}
}

/* One remote command; counts it, and turns transport problems and a
 * refused sudo into errors. */
static int run(struct ctx *c, const char *what, const char *script, long timeout_ms,
	       struct bs_ssh_result *r)
{
	char *cmd = bs_dockerhost_wrap(script, c->o->sudo);
	int rc;

	c->rep->commands++;
	rc = bs_ssh_exec(c->s, cmd, timeout_ms, r, c->err);
	free(cmd);
	if (rc != 0) {
		bs_err_prefix(c->err, "node %s: %s", c->label, what);
		return rc;
	}
	if (r->signal != NULL)
		return bs_err_set(c->err, BS_ERR_REMOTE,
				  "node %s: %s: the remote shell was killed (SIG%s)", c->label,
				  what, r->signal);
	if (r->exit_status == SUDO_FAILED_EXIT &&
	    strstr(bs_buf_str(&r->out), "bs-sudo-failed=") != NULL) {
		struct bs_dockerhost_facts f;

		bs_dockerhost_parse_facts(r->out.data, r->out.len, &f, NULL);
		rc = sudo_error(c, &f);
		bs_dockerhost_facts_free(&f);
		return rc;
	}
	return 0;
}

static int read_facts(struct ctx *c, const char *what, const struct bs_ssh_result *r,
		      struct bs_dockerhost_facts *f)
{
	char line[200];
	int rc = bs_dockerhost_parse_facts(r->out.data ? r->out.data : "", r->out.len, f, c->err);

	if (rc != 0) {
		first_stderr_line(r, line, sizeof(line));
		bs_err_prefix(c->err, "node %s: %s", c->label, what);
		/* through bs_err_set: formatted in full, masked, then cut */
		if (line[0] != '\0')
			bs_err_set(c->err, c->err->code, "%s (stderr: %s)", c->err->msg, line);
		return rc;
	}
	if (f->sudo != BS_SUDO_UNUSED && f->sudo != BS_SUDO_OK)
		return sudo_error(c, f);
	if (f->uid != 0) {
		return bs_err_set(
			c->err, BS_ERR_AUTH,
			"node %s: %s is not root (uid %ld), and installing and configuring Docker needs root: log in as root (ssh.user: root) or let bootstrap use sudo",
			c->label, f->user[0] ? f->user : "the login user", f->uid);
	}
	return 0;
}

static void fill_report_os(struct bs_dockerhost_report *rep, const struct bs_dockerhost_facts *f)
{
	snprintf(rep->os_id, sizeof(rep->os_id), "%s", f->os_id);
	snprintf(rep->os_version, sizeof(rep->os_version), "%s", f->os_version);
	snprintf(rep->os_codename, sizeof(rep->os_codename), "%s", f->os_codename);
	rep->systemd = f->systemd;
	snprintf(rep->engine_version, sizeof(rep->engine_version), "%s", f->engine_version);
	rep->pid = f->pid;
	snprintf(rep->route_if, sizeof(rep->route_if), "%s", f->route_if);
	rep->ipvs = f->ipvs;
	rep->esp = f->esp;
	snprintf(rep->esp_error, sizeof(rep->esp_error), "%s", f->esp_error);
	memcpy(rep->addrs, f->addrs, sizeof(rep->addrs));
	rep->n_addrs = f->n_addrs;
}

/* Value of key in a key=value section that starts at marker; NULL when
 * absent. The last occurrence wins. Returns a copy. */
static char *section_value(const char *out, const char *marker, const char *key)
{
	const char *p = strstr(out, marker);
	char *found = NULL;
	size_t klen = strlen(key);

	if (p == NULL)
		return NULL;
	while (p != NULL && *p != '\0') {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);

		if (n > klen && memcmp(p, key, klen) == 0 && p[klen] == '=') {
			free(found);
			found = bs_xstrndup(p + klen + 1, n - klen - 1);
		}
		p = eol ? eol + 1 : NULL;
	}
	return found;
}

/* A base64 value of a section, decoded as text ("" when absent or bad). */
static char *section_text(const char *out, const char *marker, const char *key)
{
	char *v = section_value(out, marker, key);
	unsigned char *raw = NULL;
	size_t n = 0;

	if (v != NULL)
		raw = decode_value(v, strlen(v), 1024 * 1024, &n);
	free(v);
	if (raw == NULL)
		return bs_xstrdup("");
	return (char *)raw;
}

static int install_engine(struct ctx *c, struct bs_dockerhost_facts *f)
{
	const struct bs_docker_conf *conf = c->o->conf;
	const char *package = conf->package != NULL ? conf->package : "docker.io";
	struct bs_ssh_result r;
	char *script = NULL, *what;
	int rc;

	if (conf->install == BS_DOCKER_INSTALL_NEVER)
		return bs_err_set(
			c->err, BS_ERR_NOT_FOUND,
			"node %s: Docker is not installed (no dockerd on the node) and docker.install is never: install Docker on the node, or set docker.install: auto to let bootstrap install %s",
			c->label, package);
	if (!bs_dockerhost_os_supported(f))
		return bs_err_set(
			c->err, BS_ERR_UNSUPPORTED,
			"node %s: Docker is not installed, and bootstrap installs it on Debian and Ubuntu (and their derivatives) only; this node runs %s (ID=%s%s%s). Install Docker on it yourself and set docker.install: never",
			c->label, f->os_name[0] ? f->os_name : "an unknown system",
			f->os_id[0] ? f->os_id : "?", f->os_like[0] ? ", ID_LIKE=" : "",
			f->os_like);
	if (!f->apt)
		return bs_err_set(
			c->err, BS_ERR_UNSUPPORTED,
			"node %s: %s has no apt-get: install Docker on it yourself and set docker.install: never",
			c->label, f->os_name[0] ? f->os_name : f->os_id);
	rc = bs_dockerhost_install_script(conf, &script, c->err);
	if (rc != 0) {
		bs_err_prefix(c->err, "node %s", c->label);
		return rc;
	}
	if (c->o->cluster) { /* its detection too probes what a cluster needs */
		char *with = bs_xasprintf("bs_cl=1\n%s", script);

		free(script);
		script = with;
	}
	what = bs_xasprintf("installing %s", package);
	rc = run(c, what, script, c->cmd_timeout, &r);
	free(script);
	if (rc != 0)
		goto out;
	if (strstr(bs_buf_str(&r.out), "install-failed=") != NULL || r.exit_status != 0) {
		char *step = section_value(bs_buf_str(&r.out), "install-failed=", "install-failed");
		char *log = section_text(bs_buf_str(&r.out), "install-failed=", "install-log");
		char *excerpt, line[200];

		/* apt's own "E:" lines say it best */
		excerpt = bs_dockerhost_log_excerpt(log, 500);
		first_stderr_line(&r, line, sizeof(line));
		rc = bs_err_set(
			c->err, BS_ERR_REMOTE,
			"node %s: apt-get %s failed for %s%s%s: %s (check docker.package and docker.version; `apt-cache policy %s` on the node lists what it can install)",
			c->label, step && strcmp(step, "update") == 0 ? "update" : "install",
			package, conf->version ? "=" : "", conf->version ? conf->version : "",
			excerpt[0] ? excerpt
			: line[0]  ? line
				   : "no output",
			package);
		free(excerpt);
		free(step);
		free(log);
		goto out;
	}
	bs_dockerhost_facts_free(f);
	rc = read_facts(c, what, &r, f);
	if (rc != 0)
		goto out;
	c->rep->installed = true;
	if (f->dockerd_path[0] == '\0')
		rc = bs_err_set(
			c->err, BS_ERR_REMOTE,
			"node %s: %s was installed but the node still has no dockerd: that package holds no engine (docker.package: docker.io on Debian and Ubuntu, or docker-ce from Docker's repository)",
			c->label, package);
out:
	free(what);
	bs_ssh_result_free(&r);
	return rc;
}

static void append(char *msg, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void append(char *msg, size_t size, const char *fmt, ...)
{
	size_t n = strlen(msg);
	va_list ap;

	if (n + 1 >= size)
		return;
	va_start(ap, fmt);
	vsnprintf(msg + n, size - n, fmt, ap);
	va_end(ap);
}

static const char *step_verb(enum bs_daemon_step step)
{
	switch (step) {
	case BS_STEP_START: return "start";
	case BS_STEP_RELOAD: return "reload";
	case BS_STEP_RESTART: return "restart";
	case BS_STEP_WAIT: return "answer";
	case BS_STEP_NONE: break;
	}
	return "change";
}

static int apply_failed(struct ctx *c, const char *out, const struct bs_dockerhost_apply *a,
			const struct bs_strv *changed)
{
	char *failed_rc = section_value(out, "bs-apply=1", "failed-rc");
	char *rollback = section_value(out, "bs-apply=1", "rollback");
	char *log = section_text(out, "bs-apply=1", "log");
	char *rollback_log = section_text(out, "bs-apply=1", "rollback-log");
	char *excerpt, *rb_excerpt;
	long ready_s = (a->ready_timeout_ms + 999) / 1000,
	     stop_s = (a->stop_timeout_ms + 999) / 1000;
	char keys[200] = "";
	size_t i;
	int rc;

	for (i = 0; changed != NULL && i < changed->n; i++)
		append(keys, sizeof(keys), "%s%s", i ? ", " : "", changed->v[i]);
	rc = bs_err_set(c->err, BS_ERR_REMOTE, "node %s: dockerd did not %s", c->label,
			step_verb(a->step));
	if (a->new_conf != NULL && keys[0] != '\0')
		append(c->err->msg, sizeof(c->err->msg), " after the daemon.json change (%s)",
		       keys);
	if (failed_rc != NULL && strcmp(failed_rc, "3") == 0)
		append(c->err->msg, sizeof(c->err->msg), ": it did not stop within %ld s", stop_s);
	else if (failed_rc != NULL && strcmp(failed_rc, "2") == 0)
		append(c->err->msg, sizeof(c->err->msg), ": it exited");
	else if (a->step == BS_STEP_RELOAD)
		append(c->err->msg, sizeof(c->err->msg), ": it refused the new configuration");
	else
		append(c->err->msg, sizeof(c->err->msg), ": it did not answer within %ld s",
		       ready_s);
	if (a->new_conf != NULL && rollback != NULL && strcmp(rollback, "ok") == 0)
		append(c->err->msg, sizeof(c->err->msg),
		       ". The previous daemon.json is back and dockerd runs with it");
	else if (a->new_conf != NULL && rollback != NULL)
		append(c->err->msg, sizeof(c->err->msg),
		       ". The previous daemon.json is back, but dockerd did not come back with it either");
	excerpt = bs_dockerhost_log_excerpt(log, 520);
	append(c->err->msg, sizeof(c->err->msg), ". dockerd said: %s",
	       excerpt[0]   ? excerpt
	       : a->systemd ? "nothing (see journalctl -u docker on the node)"
			    : "nothing (see /var/log/dockerd.log on the node)");
	if (rollback != NULL && strcmp(rollback, "failed") == 0) {
		rb_excerpt = bs_dockerhost_log_excerpt(rollback_log, 200);
		if (rb_excerpt[0] != '\0' && strcmp(rb_excerpt, excerpt) != 0)
			append(c->err->msg, sizeof(c->err->msg), "; then: %s", rb_excerpt);
		free(rb_excerpt);
	}
	free(excerpt);
	free(failed_rc);
	free(rollback);
	free(log);
	free(rollback_log);
	return rc;
}

static int apply(struct ctx *c, const struct bs_dockerhost_apply *a, const struct bs_strv *changed)
{
	struct bs_ssh_result r;
	char *script = bs_dockerhost_apply_script(a);
	const char *out;
	char *result = NULL, *v;
	long timeout = 2 * (a->ready_timeout_ms + a->stop_timeout_ms) + 90000;
	bool complete;
	int rc;

	rc = run(c, "configuring dockerd", script, timeout, &r);
	free(script);
	if (rc != 0)
		goto out;
	out = bs_buf_str(&r.out);
	result = section_value(out, "bs-apply=1", "result");
	v = section_value(out, "bs-apply=1", "end");
	complete = v != NULL;
	free(v);
	if (result == NULL || !complete) {
		char line[200];

		first_stderr_line(&r, line, sizeof(line));
		rc = bs_err_set(
			c->err, BS_ERR_PROTOCOL,
			"node %s: configuring dockerd: the script's output was cut short%s%s",
			c->label, line[0] ? ": " : "", line);
		goto out;
	}
	if (strcmp(result, "ok") != 0 && strcmp(result, "failed") != 0) {
		char line[200];

		first_stderr_line(&r, line, sizeof(line));
		rc = bs_err_set(c->err, BS_ERR_REMOTE,
				"node %s: could not put the new %s in place: %s", c->label,
				strcmp(result, "tls-failed") == 0 ? "TLS files" : DAEMON_JSON,
				line[0] ? line : "no message");
		goto out;
	}
	v = section_value(out, "bs-apply=1", "version");
	if (v != NULL && v[0] != '\0' && strlen(v) < sizeof(c->rep->engine_version) &&
	    all_in(v, strlen(v), ".+~:_-"))
		snprintf(c->rep->engine_version, sizeof(c->rep->engine_version), "%s", v);
	free(v);
	v = section_value(out, "bs-apply=1", "pid");
	if (v != NULL) {
		long long pid;

		if (bs_parse_int64(v, &pid) == 0 && pid > 0 && pid <= 0x7fffffff)
			c->rep->pid = (long)pid;
	}
	free(v);
	if (strcmp(result, "failed") == 0) {
		rc = apply_failed(c, out, a, changed);
		goto out;
	}
	c->rep->config_written = a->new_conf != NULL;
out:
	free(result);
	bs_ssh_result_free(&r);
	return rc;
}

/* ---- TLS listener --------------------------------------------------------- */

static const char *const tls_file_names[3] = {"ca.pem", "cert.pem", "key.pem"};

char *bs_dockerhost_tls_daemon_json(int port)
{
	return bs_xasprintf("{\"hosts\":[\"unix:///var/run/docker.sock\",\"tcp://0.0.0.0:%d\"],"
			    "\"tlsverify\":true,\"tlscacert\":\"" TLS_DIR "/ca.pem\","
			    "\"tlscert\":\"" TLS_DIR "/cert.pem\",\"tlskey\":\"" TLS_DIR
			    "/key.pem\"}",
			    port);
}

char *bs_dockerhost_tls_dropin(const char *dockerd, int port, bool containerd_socket)
{
	/* ExecStart= empties the unit's list first (a second ExecStart would
	 * be an error); -H fd:// keeps the socket activation of the unit */
	return bs_xasprintf(
		"# Written by bootstrap (docker.endpoint: tls): dockerd also listens on\n"
		"# TCP with mutual TLS. Remove this file and run `systemctl daemon-reload`\n"
		"# and `systemctl restart docker` to undo.\n"
		"[Service]\n"
		"ExecStart=\n"
		"ExecStart=%s -H fd:// -H tcp://0.0.0.0:%d --tlsverify --tlscacert=" TLS_DIR
		"/ca.pem --tlscert=" TLS_DIR "/cert.pem --tlskey=" TLS_DIR
		"/key.pem%s $DOCKER_OPTS\n",
		dockerd, port,
		containerd_socket ? " --containerd=/run/containerd/containerd.sock" : "");
}

/* Whether the node's daemon.json holds the TCP listener we configure. */
static bool has_our_tls_keys(const struct bs_dockerhost_facts *f)
{
	cJSON *obj = NULL;
	const cJSON *ca;
	bool ours = false;

	if (f->daemon_json == NULL ||
	    parse_object(f->daemon_json, f->daemon_json_len, "daemon.json", &obj, NULL) != 0)
		return false;
	ca = last_member(obj, "tlscacert");
	ours = cJSON_IsString(ca) && strcmp(ca->valuestring, TLS_DIR "/ca.pem") == 0;
	cJSON_Delete(obj);
	return ours;
}

static int check_tls(const struct bs_dockerhost_tls *t, const char *label, struct bs_err *err)
{
	const char *pem[3] = {t->ca_pem, t->cert_pem, t->key_pem};
	int i;

	for (i = 0; i < 3; i++)
		if (pem[i] == NULL || strstr(pem[i], "-----BEGIN ") == NULL ||
		    strlen(pem[i]) > 65536)
			return bs_err_set(err, BS_ERR_INVALID,
					  "node %s: the TLS %s given is not PEM text", label,
					  tls_file_names[i]);
	if (t->port < 0 || t->port > 65535)
		return bs_err_set(err, BS_ERR_INVALID, "node %s: TLS port %d is out of range",
				  label, t->port);
	return 0;
}

static int upload(struct ctx *c, const char *tag, const char *data, char **tmp)
{
	int rc;

	*tmp = bs_ssh_temp_path(tag);
	rc = bs_ssh_upload(c->s, *tmp, data, strlen(data), 0600, 60000, c->err);
	c->rep->uploads++;
	if (rc != 0) {
		bs_err_prefix(c->err, "node %s: uploading %s", c->label, tag);
		free(*tmp);
		*tmp = NULL;
	}
	return rc;
}

/* Whether the node's daemon.json names listeners or TLS files at all. */
static bool has_listener_keys(const struct bs_dockerhost_facts *f)
{
	static const char *const keys[] = {"hosts",	"tls",	   "tlsverify",
					   "tlscacert", "tlscert", "tlskey"};
	cJSON *obj = NULL;
	bool found = false;
	size_t i;

	if (f->daemon_json == NULL ||
	    parse_object(f->daemon_json, f->daemon_json_len, "daemon.json", &obj, NULL) != 0)
		return false;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]) && !found; i++)
		found = last_member(obj, keys[i]) != NULL;
	cJSON_Delete(obj);
	return found;
}

/* The daemon.json to have on the node, or NULL when it is not ours to
 * manage: the node's file, the recipe's keys over it, then the TCP
 * listener's keys (no systemd) or their removal (no TLS any more; or TLS
 * through the systemd drop-in, whose -H and --tls flags dockerd refuses
 * to see a second time in daemon.json: "specified both as a flag and in
 * the configuration file"). */
static int wanted_daemon_json(struct ctx *c, const struct bs_dockerhost_facts *f, char **out)
{
	const struct bs_dockerhost_tls *tls = c->o->tls;
	bool ours = has_our_tls_keys(f) || (tls != NULL && f->systemd && has_listener_keys(f));
	char *step = NULL, *overlay = NULL;
	int rc;

	*out = NULL;
	if (c->o->conf->daemon_json == NULL && !(tls != NULL && !f->systemd) && !ours)
		return 0;
	rc = bs_daemon_json_merge(f->daemon_json, f->daemon_json_len, c->o->conf->daemon_json,
				  &step, c->err);
	if (rc != 0) {
		bs_err_prefix(c->err, "node %s", c->label);
		append(c->err->msg, sizeof(c->err->msg),
		       ": fix or remove the file on the node (bootstrap does not overwrite a file it cannot read)");
		return rc;
	}
	if (tls != NULL && !f->systemd)
		overlay = bs_dockerhost_tls_daemon_json(tls->port ? tls->port : 2376);
	else if (ours)
		overlay = bs_xstrdup("{\"hosts\":null,\"tls\":null,\"tlsverify\":null,"
				     "\"tlscacert\":null,\"tlscert\":null,\"tlskey\":null}");
	if (overlay == NULL) {
		*out = step;
		return 0;
	}
	rc = bs_daemon_json_merge(step, strlen(step), overlay, out, c->err);
	free(step);
	free(overlay);
	return rc;
}

/* The temporary files uploaded for one apply; freed after it. */
struct temps {
	char *conf;
	char *tls[3];
	char *dropin;
};

/* Upload what the TCP listener needs that the node does not have yet;
 * true in *changed when dockerd must restart for it. */
static int prepare_tls(struct ctx *c, const struct bs_dockerhost_facts *f,
		       struct bs_dockerhost_apply *a, struct temps *t, bool *changed)
{
	const struct bs_dockerhost_tls *tls = c->o->tls;
	const char *pem[3];
	char sha[65], *dropin;
	int i, rc;

	*changed = false;
	if (tls == NULL) {
		/* our listener goes: the drop-in (daemon.json's keys go with
		 * the merge); the files in /etc/docker/tls stay, unused */
		a->tls_remove_dropin = f->systemd && f->tls_dropin_sha256[0] != '\0';
		*changed = a->tls_remove_dropin;
		return 0;
	}
	pem[0] = tls->ca_pem;
	pem[1] = tls->cert_pem;
	pem[2] = tls->key_pem;
	for (i = 0; i < 3; i++) {
		bs_sha256_hex(pem[i], strlen(pem[i]), sha);
		if (strcmp(sha, f->tls_sha256[i]) == 0)
			continue;
		rc = upload(c, i == 2 ? "tls-key" : "tls", pem[i], &t->tls[i]);
		if (rc != 0)
			return rc;
		a->tls_tmp[i] = t->tls[i];
		*changed = true;
	}
	if (!f->systemd)
		return 0;
	dropin = bs_dockerhost_tls_dropin(f->dockerd_path, tls->port ? tls->port : 2376,
					  f->containerd_socket);
	bs_sha256_hex(dropin, strlen(dropin), sha);
	rc = 0;
	if (strcmp(sha, f->tls_dropin_sha256) != 0) {
		rc = upload(c, "tls-dropin", dropin, &t->dropin);
		a->tls_dropin = t->dropin;
		*changed = rc == 0;
	}
	free(dropin);
	return rc;
}

static void free_temps(struct temps *t)
{
	int i;

	free(t->conf);
	for (i = 0; i < 3; i++)
		free(t->tls[i]);
	free(t->dropin);
}

/*
 * A dockerd that systemd did not start, on a node whose docker.service
 * systemd knows: reloads and restarts through systemctl would reach the
 * unit, not that process, and a start would race it for the pidfile and
 * the socket. Reported, never fought.
 */
static int check_hand_started(struct ctx *c, const struct bs_dockerhost_facts *f)
{
	if (!f->systemd || !f->unit_loaded || f->pid == 0 || f->unit_pid == f->pid)
		return 0;
	return bs_err_set(
		c->err, BS_ERR_CONFLICT,
		"node %s: a dockerd (pid %ld) runs outside systemd's docker.service (%s), started by hand or by another tool: bootstrap leaves it alone rather than run a second one. Stop it (kill %ld) and let systemd run Docker (systemctl enable --now docker), then run bootstrap again",
		c->label, f->pid,
		f->unit_pid != 0 ? "which runs another process" : "which is not running", f->pid);
}

int bs_dockerhost_ensure(struct bs_ssh *s, const struct bs_dockerhost_opts *opts,
			 struct bs_dockerhost_report *report, struct bs_err *err)
{
	struct bs_dockerhost_facts f;
	struct bs_dockerhost_apply a;
	struct bs_strv changed = BS_STRV_INIT;
	struct bs_ssh_result r;
	const struct bs_docker_conf *conf = opts->conf;
	enum bs_daemon_action action = BS_DAEMON_NONE;
	struct temps t;
	char *merged = NULL;
	bool write = false, tls_changed = false, starting = false;
	struct ctx c;
	int rc;

	memset(report, 0, sizeof(*report));
	memset(&f, 0, sizeof(f));
	memset(&a, 0, sizeof(a));
	memset(&t, 0, sizeof(t));
	c.s = s;
	c.o = opts;
	c.rep = report;
	c.err = err;
	c.label = opts->node != NULL ? opts->node : bs_ssh_display(s);
	c.cmd_timeout = opts->command_timeout_ms > 0 ? opts->command_timeout_ms : 600000;
	if (conf == NULL)
		return bs_err_set(err, BS_ERR_INVALID, "node %s: no docker settings given",
				  c.label);
	/* everything that can be checked here is, before the first command */
	rc = bs_daemon_json_validate(conf->daemon_json, err);
	if (rc == 0 && conf->install == BS_DOCKER_INSTALL_AUTO)
		rc = bs_dockerhost_check_package(conf->package ? conf->package : "docker.io",
						 conf->version, err);
	if (rc != 0) {
		bs_err_prefix(err, "node %s: docker%s", c.label,
			      bs_str_starts_with(err->msg, "docker.") ? "" : ".daemon");
		return rc;
	}
	if (opts->tls != NULL) {
		rc = check_tls(opts->tls, c.label, err);
		if (rc != 0)
			return rc;
	}

	if (opts->detected != NULL) {
		c.rep->commands++; /* the node lock's, which carried it */
		memset(&r, 0, sizeof(r));
		bs_buf_append(&r.out, opts->detected, opts->detected_len);
		rc = 0;
	} else {
		rc = run(&c, "detecting the engine", bs_dockerhost_detect_script(opts->cluster),
			 c.cmd_timeout < 120000 ? c.cmd_timeout : 120000, &r);
	}
	if (rc == 0)
		rc = read_facts(&c, "detecting the engine", &r, &f);
	bs_ssh_result_free(&r);
	/* docker.service's own dockerd, started a moment ago (systemd restarts
	 * it after a crash or a kill) and not yet at its pidfile: the engine,
	 * starting, not a stray; it is waited for like one without a socket */
	if (rc == 0 && f.pid == 0 && f.stray_pid != 0 && f.systemd && f.unit_loaded &&
	    f.unit_pid == f.stray_pid) {
		f.pid = f.stray_pid;
		starting = true;
	}
	if (rc == 0)
		rc = check_hand_started(&c, &f);
	if (rc != 0)
		goto out;
	fill_report_os(report, &f);
	report->engine_up = f.pid != 0 && f.socket && !starting;
	if (opts->need_esp && !opts->dry_run && f.esp != BS_ESP_YES) {
		rc = bs_err_set(
			err, BS_ERR_UNSUPPORTED,
			"node %s: the kernel has no IPsec ESP (%s), which cluster.encrypt: true needs "
			"for the encrypted overlay network: load the kernel modules esp4 and "
			"xfrm_user (esp6 for IPv6; modprobe esp4 xfrm_user) or use a kernel that has "
			"them; or set cluster.encrypt: false, and the containers' traffic between "
			"nodes crosses the network as plain VXLAN (4789/udp), readable and forgeable "
			"on the way: only on a private network (cluster.advertise: private) with "
			"4789/udp firewalled. If the probe is wrong, BOOTSTRAP_ASSUME_ESP=1 skips it",
			c.label,
			f.esp == BS_ESP_UNKNOWN ? "it could not be probed: no unshare or ip on the "
						  "node, or no new network namespace allowed"
			: f.esp_error[0] != '\0'
				? f.esp_error
				: "ip xfrm refused an ESP state with rfc4106(gcm(aes))");
		goto out;
	}
	if (opts->dry_run) {
		/* plan and status: say what a run would do, change nothing */
		report->installed = f.dockerd_path[0] == '\0';
		report->started = f.pid == 0;
		report->engine_ready = f.pid != 0 && (f.socket || f.engine_version[0] != '\0');
		if (!report->installed)
			rc = wanted_daemon_json(&c, &f, &merged);
		if (rc == 0 && merged != NULL &&
		    (!f.daemon_json_exists || f.daemon_json_len != strlen(merged) ||
		     memcmp(f.daemon_json, merged, f.daemon_json_len) != 0)) {
			report->config_written = true;
			report->action = bs_daemon_json_classify(f.daemon_json, merged, &changed);
		}
		goto out;
	}
	if (f.dockerd_path[0] == '\0') {
		rc = install_engine(&c, &f);
		if (rc == 0)
			rc = check_hand_started(&c, &f);
		if (rc != 0)
			goto out;
		fill_report_os(report, &f);
	}

	rc = wanted_daemon_json(&c, &f, &merged);
	if (rc != 0)
		goto out;
	if (merged != NULL) {
		write = !f.daemon_json_exists || f.daemon_json_len != strlen(merged) ||
			memcmp(f.daemon_json, merged, f.daemon_json_len) != 0;
		if (write)
			action = bs_daemon_json_classify(f.daemon_json, merged, &changed);
	}
	rc = prepare_tls(&c, &f, &a, &t, &tls_changed);
	if (rc != 0)
		goto out;
	if (tls_changed) {
		/* dockerd reads its certificates and listeners at start only */
		action = BS_DAEMON_RESTART;
		bs_strv_push(&changed, "TLS listener");
	}

	if (f.pid == 0 && f.stray_pid != 0) {
		rc = bs_err_set(
			err, BS_ERR_CONFLICT,
			"node %s: a dockerd (pid %ld) runs without /var/run/docker.pid (started with another --pidfile?): bootstrap will not start a second one. Stop it, or run it with the default pidfile",
			c.label, f.stray_pid);
		goto out;
	}
	if (f.docker_path[0] == '\0' && !f.curl) {
		rc = bs_err_set(
			err, BS_ERR_UNSUPPORTED,
			"node %s: the node has dockerd but neither the docker CLI nor curl, so bootstrap cannot check that the engine answers: install the docker CLI (docker-cli with docker.io on Debian 13, docker-ce-cli with docker-ce) or curl",
			c.label);
		goto out;
	}
	a.systemd = f.systemd;
	a.dockerd = f.dockerd_path;
	a.ready_timeout_ms = opts->ready_timeout_ms > 0 ? opts->ready_timeout_ms : 60000;
	a.stop_timeout_ms = 60000;
	a.enable_unit = f.systemd && !f.unit_enabled;
	if (f.pid == 0)
		a.step = BS_STEP_START;
	else if (action == BS_DAEMON_RELOAD)
		a.step = BS_STEP_RELOAD;
	else if (action == BS_DAEMON_RESTART)
		a.step = BS_STEP_RESTART;
	else if (starting || (!f.socket && f.engine_version[0] == '\0'))
		a.step = BS_STEP_WAIT; /* running, but not answering yet */
	if (!write && !tls_changed && a.step == BS_STEP_NONE && !a.enable_unit)
		goto out; /* converged: one command, nothing touched */

	if (write) {
		rc = upload(&c, "daemon-json", merged, &t.conf);
		if (rc != 0)
			goto out;
		a.new_conf = t.conf;
	}
	rc = apply(&c, &a, &changed);
	if (rc != 0)
		goto out;
	report->started = a.step == BS_STEP_START;
	report->action = a.step == BS_STEP_RELOAD    ? BS_DAEMON_RELOAD
			 : a.step == BS_STEP_RESTART ? BS_DAEMON_RESTART
						     : BS_DAEMON_NONE;
out:
	free_temps(&t);
	free(merged);
	bs_strv_free(&changed);
	bs_dockerhost_facts_free(&f);
	return rc;
}
