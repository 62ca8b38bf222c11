/*
 * docker.c - the Docker Engine API driver (API 1.41, Debian 12's engine).
 *
 * Every call is one or two HTTP requests through container/http.c; answers
 * are read with cJSON into the driver's typed results, ignoring fields we
 * do not know (the engine's schema is open). Traps of the API that shape
 * this file, all observed on a real engine:
 *   - start/stop answer 304 when already in that state: success, no change;
 *   - the container "name" filter is a substring match: names are compared
 *     exactly here;
 *   - a pull with an empty tag pulls every tag: a tag is always sent;
 *   - errors may come after a 200 inside a stream (errorDetail);
 *   - POST /networks/create makes duplicates without CheckDuplicate;
 *   - logs have no Content-Type in 1.41: Config.Tty says whether frames
 *     are multiplexed;
 *   - a PUT of an archive must say Content-Type application/x-tar: a
 *     form-typed body is read as parameters, and the empty archive left
 *     "succeeds" with nothing written;
 *   - the archive endpoints answer 404 for a missing container and a
 *     missing path alike, and 500 (not the documented 400 or 403) for a
 *     path that is not a directory or a read-only root filesystem;
 *   - an attached exec start answers on a hijacked connection, framed like
 *     logs though its type says raw-stream, and the exit code can be
 *     recorded a moment after the output ends.
 * Clusters (Swarm) are docker_swarm.c; docker_priv.h is what both share.
 */
#include <cJSON.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "container/docker_priv.h"
#include "container/gitref.h"
#include "container/stream.h"
#include "container/tar.h"
#include "util/clock.h"
#include "util/log.h"

static const struct bs_cdriver_ops docker_ops;

/* How long a build asks the git server which branch HEAD names. */
#define GIT_ASK_MS 10000

/* ---- small helpers ------------------------------------------------------ */

const char *bs_cstate_name(enum bs_cstate state)
{
	static const char *const names[] = {"running",	  "stopped",	"paused",
					    "restarting", "terminated", "unknown"};

	return names[state];
}

static enum bs_cstate state_from(const char *s)
{
	if (s == NULL)
		return BS_CSTATE_UNKNOWN;
	if (strcmp(s, "running") == 0)
		return BS_CSTATE_RUNNING;
	if (strcmp(s, "exited") == 0 || strcmp(s, "created") == 0)
		return BS_CSTATE_STOPPED;
	if (strcmp(s, "paused") == 0)
		return BS_CSTATE_PAUSED;
	if (strcmp(s, "restarting") == 0)
		return BS_CSTATE_RESTARTING;
	if (strcmp(s, "removing") == 0 || strcmp(s, "dead") == 0)
		return BS_CSTATE_TERMINATED;
	return BS_CSTATE_UNKNOWN;
}

const char *dk_json_str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

char *dk_json_strdup(const cJSON *obj, const char *key)
{
	const char *s = dk_json_str(obj, key);

	return s ? bs_xstrdup(s) : NULL;
}

long long dk_json_num(const cJSON *obj, const char *key)
{
	return bs_json_ll(cJSON_GetObjectItemCaseSensitive(obj, key));
}

void dk_json_labels(const cJSON *obj, struct bs_kvlist *out)
{
	const cJSON *item;

	/* an object of strings; a list ("Labels": ["a"]) has items without a
	 * key, which crashed here (found by tests/fuzz/docker_fuzz.c) */
	if (!cJSON_IsObject(obj))
		return;
	cJSON_ArrayForEach(item, obj) if (cJSON_IsString(item) && item->string != NULL)
		bs_kvlist_push(out, item->string, item->valuestring, false);
}

void dk_json_strings(const cJSON *arr, struct bs_strv *out)
{
	const cJSON *item;

	cJSON_ArrayForEach(item, arr) if (cJSON_IsString(item))
		bs_strv_push(out, item->valuestring);
}

cJSON *dk_kv_object(const struct bs_kvlist *l)
{
	cJSON *o = cJSON_CreateObject();
	size_t i;

	for (i = 0; l != NULL && i < l->n; i++)
		cJSON_AddStringToObject(o, l->v[i].key, l->v[i].value);
	return o;
}

cJSON *dk_string_array(const char *const *v)
{
	cJSON *a = cJSON_CreateArray();

	for (; v != NULL && *v != NULL; v++)
		cJSON_AddItemToArray(a, cJSON_CreateString(*v));
	return a;
}

/* Escape a name or ID for a path segment. Image references keep '/', ':'
 * and '@', which the engine's router expects literally. */
char *dk_path_name(const char *name, bool image)
{
	struct bs_buf out = BS_BUF_INIT;
	const char *p;

	for (p = name; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' ||
		    (image && (c == '/' || c == ':' || c == '@')))
			bs_buf_putc(&out, (char)c);
		else
			bs_buf_printf(&out, "%%%02X", c);
	}
	return bs_buf_detach(&out);
}

/* "fromImage" and "tag" of a reference; a digest goes in tag, as the
 * docker CLI does. Never an empty tag (that pulls every tag). */
static void split_ref(const char *ref, char **repo, char **tag)
{
	const char *at = strchr(ref, '@');
	const char *slash = strrchr(ref, '/');
	const char *colon = strrchr(slash ? slash : ref, ':');

	if (at != NULL) {
		*repo = bs_xstrndup(ref, (size_t)(at - ref));
		*tag = bs_xstrdup(at + 1);
	} else if (colon != NULL) {
		*repo = bs_xstrndup(ref, (size_t)(colon - ref));
		*tag = bs_xstrdup(colon + 1);
	} else {
		*repo = bs_xstrdup(ref);
		*tag = bs_xstrdup("latest");
	}
}

/* Run a request with the API version prefix. */
int dk_api(struct docker *dk, const char *method, const char *path, const char *query,
	   const char *body, struct bs_http_response *resp, struct bs_err *err)
{
	struct bs_http_request req;
	char *full = bs_xasprintf("%s%s", dk->prefix, path);
	int rc;

	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = full;
	req.query = query;
	req.body = body;
	req.body_len = body ? strlen(body) : 0;
	req.content_type = body ? "application/json" : NULL;
	rc = bs_http_request(dk->http, &req, resp, err);
	free(full);
	return rc;
}

/* The engine's {"message": ...} from an error answer, masked whole before
 * it is cut to size (a message may quote a registry password). A body
 * that is not JSON is shown up to 300 bytes. */
const char *dk_error_message(const struct bs_http_response *resp, char *buf, size_t size)
{
	cJSON *o = cJSON_ParseWithLength(bs_buf_str(&resp->body), resp->body.len);
	const char *m = dk_json_str(o, "message");
	char status[32];

	if (m != NULL) {
		bs_secret_mask_cut(buf, size, m);
	} else if (resp->body.len > 0) {
		bs_secret_mask_cut(buf, size < 301 ? size : 301, bs_buf_str(&resp->body));
	} else {
		snprintf(status, sizeof(status), "HTTP %ld", resp->status);
		bs_secret_mask_cut(buf, size, status);
	}
	cJSON_Delete(o);
	/* one line, all of it: a git or build error goes on after a newline
	 * ("unable to connect to 127.0.0.1:\n127.0.0.1[0: ...]: errno=...");
	 * each run of line breaks (and the blanks around it) becomes one space,
	 * and a trailing one goes */
	{
		size_t r = 0, w = 0;

		while (buf[r] != '\0') {
			if (buf[r] != '\r' && buf[r] != '\n') {
				buf[w++] = buf[r++];
				continue;
			}
			while (w > 0 && (buf[w - 1] == ' ' || buf[w - 1] == '\t'))
				w--;
			while (buf[r] == '\r' || buf[r] == '\n' || buf[r] == ' ' || buf[r] == '\t')
				r++;
			if (w > 0 && buf[r] != '\0')
				buf[w++] = ' ';
		}
		buf[w] = '\0';
	}
	return buf;
}

int dk_status_error(struct docker *dk, const struct bs_http_response *resp, const char *what,
		    struct bs_err *err)
{
	char msg[768];
	int code;

	dk_error_message(resp, msg, sizeof(msg));
	switch (resp->status) {
	case 400: code = BS_ERR_INVALID; break;
	case 401:
	case 403: code = BS_ERR_AUTH; break;
	case 404: code = BS_ERR_NOT_FOUND; break;
	case 409: code = BS_ERR_CONFLICT; break;
	default: code = BS_ERR_API; break;
	}
	return bs_err_set(err, code, "%s: %s: %s", dk->base.display, what, msg);
}

/* ---- results ------------------------------------------------------------- */

void bs_cinfo_free(struct bs_cinfo *c)
{
	if (c == NULL)
		return;
	free(c->id);
	free(c->name);
	free(c->image);
	free(c->image_id);
	free(c->status);
	free(c->health);
	free(c->health_output);
	bs_kvlist_free(&c->labels);
	for (size_t i = 0; i < c->n_ports; i++)
		free(c->ports[i].host_ip);
	free(c->ports);
	memset(c, 0, sizeof(*c));
}

void bs_cinfo_list_free(struct bs_cinfo_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		bs_cinfo_free(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void bs_iinfo_free(struct bs_iinfo *i)
{
	if (i == NULL)
		return;
	free(i->id);
	bs_strv_free(&i->tags);
	bs_strv_free(&i->digests);
	bs_kvlist_free(&i->labels);
	memset(i, 0, sizeof(*i));
}

void bs_iinfo_list_free(struct bs_iinfo_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		bs_iinfo_free(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void bs_table_free(struct bs_table *t)
{
	bs_strv_free(&t->titles);
	for (size_t i = 0; i < t->n_rows; i++)
		bs_strv_free(&t->rows[i]);
	free(t->rows);
	memset(t, 0, sizeof(*t));
}

void bs_change_list_free(struct bs_change_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].path);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void bs_engine_info_free(struct bs_engine_info *info)
{
	free(info->version);
	free(info->api_version);
	free(info->os);
	free(info->arch);
	memset(info, 0, sizeof(*info));
}

/* "Up 3 minutes (healthy)" -> "healthy" */
static char *health_from_status(const char *status)
{
	if (status == NULL)
		return NULL;
	if (strstr(status, "(healthy)"))
		return bs_xstrdup("healthy");
	if (strstr(status, "(unhealthy)"))
		return bs_xstrdup("unhealthy");
	if (strstr(status, "(health: starting)"))
		return bs_xstrdup("starting");
	return NULL;
}

void dk_parse_container_item(const cJSON *o, struct bs_cinfo *c)
{
	const cJSON *names = cJSON_GetObjectItemCaseSensitive(o, "Names");
	const cJSON *first = cJSON_GetArrayItem(names, 0);
	const cJSON *ports = cJSON_GetObjectItemCaseSensitive(o, "Ports");
	const cJSON *p;

	c->id = dk_json_strdup(o, "Id");
	if (cJSON_IsString(first))
		c->name = bs_xstrdup(first->valuestring + (first->valuestring[0] == '/'));
	c->image = dk_json_strdup(o, "Image");
	c->image_id = dk_json_strdup(o, "ImageID");
	c->state = state_from(dk_json_str(o, "State"));
	c->status = dk_json_strdup(o, "Status");
	c->health = health_from_status(c->status);
	if (c->status != NULL && strncmp(c->status, "Exited (", 8) == 0)
		c->exit_code = atoi(c->status + 8); /* "Exited (137) 2 minutes ago" */
	c->created = dk_json_num(o, "Created");
	dk_json_labels(cJSON_GetObjectItemCaseSensitive(o, "Labels"), &c->labels);
	c->ports = bs_xcalloc((size_t)cJSON_GetArraySize(ports) + 1, sizeof(*c->ports));
	cJSON_ArrayForEach(p, ports)
	{
		struct bs_cport_binding *b = &c->ports[c->n_ports++];
		const char *ip = dk_json_str(p, "IP");
		const char *type = dk_json_str(p, "Type");

		b->host_ip = ip ? bs_xstrdup(ip) : NULL;
		b->host_port = (int)dk_json_num(p, "PublicPort");
		b->container_port = (int)dk_json_num(p, "PrivatePort");
		b->udp = type && strcmp(type, "udp") == 0;
	}
}

/* ---- containers ---------------------------------------------------------- */

/* labels {k: v} become label filters "k=v" ("k" alone when v is NULL). */
char *dk_label_filters(const struct bs_kvlist *labels)
{
	struct bs_kvlist f = BS_KVLIST_INIT;
	char *query;
	size_t i;

	for (i = 0; labels != NULL && i < labels->n; i++) {
		char *kv = labels->v[i].value
				   ? bs_xasprintf("%s=%s", labels->v[i].key, labels->v[i].value)
				   : bs_xstrdup(labels->v[i].key);

		bs_kvlist_push(&f, "label", kv, false);
		free(kv);
	}
	query = bs_http_filters(&f);
	bs_kvlist_free(&f);
	return query;
}

static int docker_container_list(struct bs_cdriver *d, bool all, const struct bs_kvlist *labels,
				 struct bs_cinfo_list *out, struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	struct bs_http_response resp;
	char *filters = dk_label_filters(labels);
	char *query = bs_xasprintf("all=%d&filters=%s", all ? 1 : 0, filters);
	cJSON *arr = NULL;
	const cJSON *item;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = dk_api(dk, "GET", "/containers/json", query, NULL, &resp, err);
	if (rc != 0)
		goto out;
	if (resp.status != 200) {
		rc = dk_status_error(dk, &resp, "listing containers", err);
		goto out;
	}
	arr = cJSON_ParseWithLength(bs_buf_str(&resp.body), resp.body.len);
	if (!cJSON_IsArray(arr)) {
		rc = bs_err_set(err, BS_ERR_PROTOCOL,
				"%s: listing containers: the answer is not a JSON list",
				d->display);
		goto out;
	}
	out->v = bs_xcalloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(*out->v));
	cJSON_ArrayForEach(item, arr) dk_parse_container_item(item, &out->v[out->n++]);
out:
	cJSON_Delete(arr);
	bs_http_response_free(&resp);
	free(filters);
	free(query);
	return rc;
}

void dk_parse_container_inspect(const cJSON *o, struct bs_cinfo *out)
{
	const cJSON *state, *config, *health, *ports, *port;

	state = cJSON_GetObjectItemCaseSensitive(o, "State");
	config = cJSON_GetObjectItemCaseSensitive(o, "Config");
	health = cJSON_GetObjectItemCaseSensitive(state, "Health");
	out->id = dk_json_strdup(o, "Id");
	out->name = dk_json_strdup(o, "Name");
	if (out->name && out->name[0] == '/')
		memmove(out->name, out->name + 1, strlen(out->name));
	out->image = dk_json_strdup(config, "Image");
	out->image_id = dk_json_strdup(o, "Image");
	out->state = state_from(dk_json_str(state, "Status"));
	out->status = dk_json_strdup(state, "Status");
	out->health = dk_json_strdup(health, "Status");
	{
		/* State.Health.Log: the last few checks, the newest last */
		const cJSON *log = cJSON_GetObjectItemCaseSensitive(health, "Log");
		int n = cJSON_IsArray(log) ? cJSON_GetArraySize(log) : 0;
		const cJSON *last = n > 0 ? cJSON_GetArrayItem(log, n - 1) : NULL;

		out->health_output = dk_json_strdup(last, "Output");
		out->health_exit = (int)dk_json_num(last, "ExitCode");
	}
	out->exit_code = (int)dk_json_num(state, "ExitCode");
	out->restart_count = (int)dk_json_num(o, "RestartCount");
	dk_json_labels(cJSON_GetObjectItemCaseSensitive(config, "Labels"), &out->labels);
	ports = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(o, "NetworkSettings"), "Ports");
	{
		size_t total = 0;

		cJSON_ArrayForEach(port, ports) total += (size_t)cJSON_GetArraySize(port);
		out->ports = bs_xcalloc(total + 1, sizeof(*out->ports));
	}
	cJSON_ArrayForEach(port, ports)
	{
		const cJSON *b;
		int cport = atoi(port->string ? port->string : "0");
		bool udp = port->string && strstr(port->string, "/udp") != NULL;

		cJSON_ArrayForEach(b, port)
		{
			const char *ip = dk_json_str(b, "HostIp");
			const char *hp = dk_json_str(b, "HostPort");
			struct bs_cport_binding *pb = &out->ports[out->n_ports++];

			pb->host_ip = ip && ip[0] ? bs_xstrdup(ip) : NULL;
			pb->host_port = hp ? atoi(hp) : 0;
			pb->container_port = cport;
			pb->udp = udp;
		}
	}
}

static int docker_container_inspect(struct bs_cdriver *d, const char *name, struct bs_cinfo *out,
				    char **raw_json, struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	struct bs_http_response resp;
	char *seg = dk_path_name(name, false);
	char *path = bs_xasprintf("/containers/%s/json", seg);
	cJSON *o = NULL;
	int rc;

	if (out)
		memset(out, 0, sizeof(*out));
	if (raw_json)
		*raw_json = NULL;
	rc = dk_api(dk, "GET", path, NULL, NULL, &resp, err);
	if (rc != 0)
		goto out;
	if (resp.status == 404) {
		rc = bs_err_set(err, BS_ERR_NOT_FOUND, "%s: no container named %s", d->display,
				name);
		goto out;
	}
	if (resp.status != 200) {
		rc = dk_status_error(dk, &resp, name, err);
		goto out;
	}
	o = cJSON_ParseWithLength(bs_buf_str(&resp.body), resp.body.len);
	if (o == NULL) {
		rc = bs_err_set(err, BS_ERR_PROTOCOL, "%s: inspect %s: the answer is not JSON",
				d->display, name);
		goto out;
	}
	if (raw_json)
		*raw_json = bs_xstrdup(bs_buf_str(&resp.body));
	if (out != NULL)
		dk_parse_container_inspect(o, out);
out:
	cJSON_Delete(o);
	bs_http_response_free(&resp);
	free(seg);
	free(path);
	return rc;
}

void dk_container_fields(cJSON *obj, cJSON *mounts_parent, const struct bs_cspec *s,
			 enum dk_schema schema)
{
	bool service = schema == DK_SERVICE;
	cJSON *env, *mounts;
	size_t i;

	cJSON_AddStringToObject(obj, "Image", s->image);
	if (s->cmd)
		cJSON_AddItemToObject(obj, service ? "Args" : "Cmd", dk_string_array(s->cmd));
	if (s->entrypoint)
		cJSON_AddItemToObject(obj, service ? "Command" : "Entrypoint",
				      dk_string_array(s->entrypoint));
	if (!service || (s->env && s->env->n > 0)) {
		env = cJSON_AddArrayToObject(obj, "Env");
		for (i = 0; s->env && i < s->env->n; i++) {
			char *kv = bs_xasprintf("%s=%s", s->env->v[i].key, s->env->v[i].value);

			cJSON_AddItemToArray(env, cJSON_CreateString(kv));
			bs_secure_free_str(kv);
		}
	}
	if (!service || (s->labels && s->labels->n > 0))
		cJSON_AddItemToObject(obj, "Labels", dk_kv_object(s->labels));
	if (s->user)
		cJSON_AddStringToObject(obj, "User", s->user);
	if (s->working_dir)
		cJSON_AddStringToObject(obj, service ? "Dir" : "WorkingDir", s->working_dir);
	if (s->tty)
		cJSON_AddBoolToObject(obj, service ? "TTY" : "Tty", true);
	if (s->health_test) {
		cJSON *h = cJSON_AddObjectToObject(obj, "Healthcheck");

		cJSON_AddItemToObject(h, "Test", dk_string_array(s->health_test));
		if (s->health_interval_ns)
			cJSON_AddNumberToObject(h, "Interval", (double)s->health_interval_ns);
		if (s->health_timeout_ns)
			cJSON_AddNumberToObject(h, "Timeout", (double)s->health_timeout_ns);
		if (s->health_start_period_ns)
			cJSON_AddNumberToObject(h, "StartPeriod",
						(double)s->health_start_period_ns);
		if (s->health_retries)
			cJSON_AddNumberToObject(h, "Retries", s->health_retries);
	}
	if (service && s->n_mounts == 0)
		return;
	mounts = cJSON_AddArrayToObject(mounts_parent, "Mounts");
	for (i = 0; i < s->n_mounts; i++) {
		const struct bs_mount_spec *ms = &s->mounts[i];
		bool tmpfs = strcmp(ms->type, "tmpfs") == 0;
		cJSON *m;

		if (tmpfs && !service && ms->tmpfs_options != NULL)
			continue; /* HostConfig.Tmpfs (dk_create_body) */
		m = cJSON_CreateObject();
		cJSON_AddStringToObject(m, "Type", ms->type);
		if (ms->source)
			cJSON_AddStringToObject(m, "Source", ms->source);
		cJSON_AddStringToObject(m, "Target", ms->target);
		cJSON_AddBoolToObject(m, "ReadOnly", ms->read_only);
		if (tmpfs && (ms->tmpfs_size || ms->tmpfs_mode)) {
			cJSON *to = cJSON_AddObjectToObject(m, "TmpfsOptions");

			if (ms->tmpfs_size)
				cJSON_AddNumberToObject(to, "SizeBytes", (double)ms->tmpfs_size);
			if (ms->tmpfs_mode)
				cJSON_AddNumberToObject(to, "Mode", ms->tmpfs_mode);
		}
		cJSON_AddItemToArray(mounts, m);
	}
}

/* HostConfig.Ulimits or ContainerSpec.Ulimits */
cJSON *dk_ulimits(const struct bs_culimit *u, size_t n)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "Name", u[i].name);
		cJSON_AddNumberToObject(o, "Soft", (double)u[i].soft);
		cJSON_AddNumberToObject(o, "Hard", (double)u[i].hard);
		cJSON_AddItemToArray(a, o);
	}
	return a;
}

/* HostConfig.Tmpfs: node containers' mount points, and the short form's */
static void tmpfs_object(cJSON *host, const struct bs_cspec *s)
{
	cJSON *tmpfs = NULL;
	size_t i;

	/* "": the engine's default options, as docker run --tmpfs PATH */
	for (i = 0; s->tmpfs != NULL && s->tmpfs[i] != NULL; i++) {
		if (tmpfs == NULL)
			tmpfs = cJSON_AddObjectToObject(host, "Tmpfs");
		cJSON_AddStringToObject(tmpfs, s->tmpfs[i], "");
	}
	for (i = 0; i < s->n_mounts; i++) {
		if (strcmp(s->mounts[i].type, "tmpfs") != 0 || s->mounts[i].tmpfs_options == NULL)
			continue;
		if (tmpfs == NULL)
			tmpfs = cJSON_AddObjectToObject(host, "Tmpfs");
		cJSON_AddStringToObject(tmpfs, s->mounts[i].target, s->mounts[i].tmpfs_options);
	}
}

static void log_config(cJSON *host, const struct bs_cspec *s)
{
	cJSON *log, *cfg;

	if (s->log_driver == NULL && s->log_options == NULL && s->log_max_size == NULL &&
	    s->log_max_file == NULL)
		return;
	log = cJSON_AddObjectToObject(host, "LogConfig");
	if (s->log_driver != NULL || s->log_options != NULL) {
		cJSON_AddStringToObject(log, "Type", s->log_driver ? s->log_driver : "");
		cJSON_AddItemToObject(log, "Config", dk_kv_object(s->log_options));
		return;
	}
	cJSON_AddStringToObject(log, "Type", "json-file");
	cfg = cJSON_AddObjectToObject(log, "Config");
	if (s->log_max_size)
		cJSON_AddStringToObject(cfg, "max-size", s->log_max_size);
	if (s->log_max_file)
		cJSON_AddStringToObject(cfg, "max-file", s->log_max_file);
}

cJSON *dk_create_body(const struct bs_cspec *s)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *host = cJSON_AddObjectToObject(root, "HostConfig");
	cJSON *exposed, *bindings;
	size_t i;

	dk_container_fields(root, host, s, DK_CONTAINER);
	if (s->hostname)
		cJSON_AddStringToObject(root, "Hostname", s->hostname);
	exposed = cJSON_AddObjectToObject(root, "ExposedPorts");
	for (i = 0; s->exposed != NULL && s->exposed[i] != NULL; i++)
		if (!cJSON_HasObjectItem(exposed, s->exposed[i]))
			cJSON_AddObjectToObject(exposed, s->exposed[i]);
	bindings = cJSON_AddObjectToObject(host, "PortBindings");
	for (i = 0; i < s->n_ports; i++) {
		const struct bs_cport_binding *p = &s->ports[i];
		char key[32], hp[16];
		cJSON *list, *b;

		snprintf(key, sizeof(key), "%d/%s", p->container_port, p->udp ? "udp" : "tcp");
		if (!cJSON_HasObjectItem(exposed, key))
			cJSON_AddObjectToObject(exposed, key);
		list = cJSON_GetObjectItemCaseSensitive(bindings, key);
		if (list == NULL)
			list = cJSON_AddArrayToObject(bindings, key);
		b = cJSON_CreateObject();
		cJSON_AddStringToObject(b, "HostIp", p->host_ip ? p->host_ip : "");
		snprintf(hp, sizeof(hp), "%d", p->host_port);
		cJSON_AddStringToObject(b, "HostPort", p->host_port ? hp : "");
		cJSON_AddItemToArray(list, b);
	}
	if (s->restart) {
		cJSON *rp = cJSON_AddObjectToObject(host, "RestartPolicy");

		cJSON_AddStringToObject(rp, "Name", s->restart);
		if (s->restart_max_retries)
			cJSON_AddNumberToObject(rp, "MaximumRetryCount", s->restart_max_retries);
	}
	if (s->memory_bytes)
		cJSON_AddNumberToObject(host, "Memory", (double)s->memory_bytes);
	if (s->nano_cpus)
		cJSON_AddNumberToObject(host, "NanoCpus", (double)s->nano_cpus);
	if (s->pids_limit)
		cJSON_AddNumberToObject(host, "PidsLimit", (double)s->pids_limit);
	if (s->privileged)
		cJSON_AddBoolToObject(host, "Privileged", true);
	if (s->read_only_rootfs)
		cJSON_AddBoolToObject(host, "ReadonlyRootfs", true);
	if (s->cap_add)
		cJSON_AddItemToObject(host, "CapAdd", dk_string_array(s->cap_add));
	if (s->cap_drop)
		cJSON_AddItemToObject(host, "CapDrop", dk_string_array(s->cap_drop));
	{
		cJSON *sec = dk_string_array(s->security_opt);

		if (s->no_new_privileges)
			cJSON_AddItemToArray(sec, cJSON_CreateString("no-new-privileges:true"));
		if (cJSON_GetArraySize(sec) > 0)
			cJSON_AddItemToObject(host, "SecurityOpt", sec);
		else
			cJSON_Delete(sec);
	}
	if (s->unmask_paths) {
		cJSON_AddArrayToObject(host, "MaskedPaths");
		cJSON_AddArrayToObject(host, "ReadonlyPaths");
	}
	if (s->cgroupns_mode)
		cJSON_AddStringToObject(host, "CgroupnsMode", s->cgroupns_mode);
	tmpfs_object(host, s);
	if (s->n_ulimits)
		cJSON_AddItemToObject(host, "Ulimits", dk_ulimits(s->ulimits, s->n_ulimits));
	if (s->extra_hosts)
		cJSON_AddItemToObject(host, "ExtraHosts", dk_string_array(s->extra_hosts));
	if (s->stop_signal)
		cJSON_AddStringToObject(root, "StopSignal", s->stop_signal);
	log_config(host, s);
	if (s->network) {
		cJSON *nc = cJSON_AddObjectToObject(root, "NetworkingConfig");
		cJSON *eps = cJSON_AddObjectToObject(nc, "EndpointsConfig");

		cJSON *ep = cJSON_AddObjectToObject(eps, s->network);

		if (s->network_alias) {
			const char *aliases[] = {s->network_alias, NULL};

			cJSON_AddItemToObject(ep, "Aliases", dk_string_array(aliases));
		}
		cJSON_AddStringToObject(host, "NetworkMode", s->network);
	}
	return root;
}

static int docker_container_create(struct bs_cdriver *d, const struct bs_cspec *spec, char **id,
				   struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	struct bs_http_response resp;
	cJSON *body = dk_create_body(spec), *answer = NULL;
	char *json = cJSON_PrintUnformatted(body);
	char *name = dk_path_name(spec->name, false);
	char *query = bs_xasprintf("name=%s", name);
	int rc;

	*id = NULL;
	cJSON_Delete(body);
	rc = dk_api(dk, "POST", "/containers/create", query, json, &resp, err);
	bs_secure_free_str(json); /* environment values may be secrets */
	if (rc != 0)
		goto out;
	if (resp.status == 404) {
		struct bs_iinfo img;
		struct bs_err ignored = BS_ERR_INIT;

		/* 404 is a missing image, or a missing network: ask which */
		if (d->ops->image_inspect(d, spec->image, &img, &ignored) == BS_ERR_NOT_FOUND) {
			rc = bs_err_set(
				err, BS_ERR_NOT_FOUND,
				"%s: cannot create container %s: image %s is not on this engine (pull or build it first)",
				d->display, spec->name, spec->image);
		} else {
			char what[320];

			snprintf(what, sizeof(what), "creating container %s", spec->name);
			rc = dk_status_error(dk, &resp, what, err);
		}
		bs_iinfo_free(&img);
		goto out;
	}
	if (resp.status == 409) {
		rc = bs_err_set(
			err, BS_ERR_CONFLICT,
			"%s: container name %s is already in use (remove that container, or pick another name)",
			d->display, spec->name);
		goto out;
	}
	if (resp.status != 201) {
		char what[320];

		snprintf(what, sizeof(what), "creating container %s", spec->name);
		rc = dk_status_error(dk, &resp, what, err);
		goto out;
	}
	answer = cJSON_ParseWithLength(bs_buf_str(&resp.body), resp.body.len);
	*id = dk_json_strdup(answer, "Id");
	if (*id == NULL)
		rc = bs_err_set(err, BS_ERR_PROTOCOL, "%s: creating %s: no Id in the answer",
				d->display, spec->name);
out:
	cJSON_Delete(answer);
	bs_http_response_free(&resp);
	free(name);
	free(query);
	return rc;
}

/* POST /containers/{name}/{verb}: 204 done, 304 already so. */
static int container_action(struct docker *dk, const char *name, const char *verb,
			    const char *query, long timeout_ms, bool *changed, struct bs_err *err)
{
	struct bs_http_request req;
	struct bs_http_response resp;
	char *seg = dk_path_name(name, false);
	char *path = bs_xasprintf("%s/containers/%s/%s", dk->prefix, seg, verb);
	int rc;

	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.path = path;
	req.query = query;
	req.timeout_ms = timeout_ms;
	if (changed)
		*changed = false;
	rc = bs_http_request(dk->http, &req, &resp, err);
	if (rc != 0)
		goto out;
	if (resp.status == 204 || resp.status == 200) {
		if (changed)
			*changed = true;
	} else if (resp.status == 304) {
		/* already in that state */
	} else if (resp.status == 404) {
		rc = bs_err_set(err, BS_ERR_NOT_FOUND, "%s: no container named %s",
				dk->base.display, name);
	} else {
		char what[320];

		snprintf(what, sizeof(what), "%s %s", verb, name);
		rc = dk_status_error(dk, &resp, what, err);
	}
out:
	bs_http_response_free(&resp);
	free(seg);
	free(path);
	return rc;
}

static int docker_container_start(struct bs_cdriver *d, const char *name, bool *changed,
				  struct bs_err *err)
{
	return container_action(as_docker(d), name, "start", NULL, 0, changed, err);
}

static int docker_container_stop(struct bs_cdriver *d, const char *name, int timeout_s,
				 bool *changed, struct bs_err *err)
{
	char query[32];

	snprintf(query, sizeof(query), "t=%d", timeout_s);
	/* the engine waits t seconds before SIGKILL: give it room */
	return container_action(as_docker(d), name, "stop", query, (long)(timeout_s + 60) * 1000,
				changed, err);
}

static int docker_container_restart(struct bs_cdriver *d, const char *name, int timeout_s,
				    struct bs_err *err)
{
	char query[32];

	snprintf(query, sizeof(query), "t=%d", timeout_s);
	return container_action(as_docker(d), name, "restart", query, (long)(timeout_s + 60) * 1000,
				NULL, err);
}

/* DELETE /containers/{id}?force=1&v=1; clean-up still runs after Ctrl-C.
 * Returns 0 when the container is gone (204, or 404: already). */
static int force_remove(struct docker *dk, const char *name, struct bs_err *err)
{
	struct bs_http_request req;
	struct bs_http_response resp;
	char *seg = dk_path_name(name, false);
	char *path = bs_xasprintf("%s/containers/%s", dk->prefix, seg);
	int rc;

	memset(&req, 0, sizeof(req));
	req.method = "DELETE";
	req.path = path;
	req.query = "force=1&v=1";
	req.ignore_cancel = true;
	req.timeout_ms = 30000;
	rc = bs_http_request(dk->http, &req, &resp, err);
	if (rc == 0 && resp.status != 204 && resp.status != 200 && resp.status != 404) {
		char what[320];

		snprintf(what, sizeof(what), "removing %s", name);
		rc = dk_status_error(dk, &resp, what, err);
	}
	bs_http_response_free(&resp);
	free(seg);
	free(path);
	return rc;
}

static int docker_container_deploy(struct bs_cdriver *d, const struct bs_cspec *spec, char **id,
				   struct bs_err *err)
{
	struct bs_err cleanup = BS_ERR_INIT;
	int rc = docker_container_create(d, spec, id, err);

	if (rc != 0)
		return rc;
	rc = docker_container_start(d, *id, NULL, err);
	if (rc == 0)
		return 0;
	/* a container that cannot start is removed: no half-made state */
	if (force_remove(as_docker(d), *id, &cleanup) == 0)
		bs_err_prefix(err, "container %s was created but did not start, and was removed",
			      spec->name);
	else
		bs_err_prefix(
			err,
			"container %s was created but did not start; removing it failed too (%s)",
			spec->name, cleanup.msg);
	free(*id);
	*id = NULL;
	return rc;
}

static int docker_container_destroy(struct bs_cdriver *d, const char *name, int timeout_s,
				    struct bs_err *err)
{
	struct bs_err stop_err = BS_ERR_INIT;
	int rc;

	/* stop first, for a graceful end; whatever else stop says (a dead
	 * container, one already being removed), the forced delete decides.
	 * With no grace at all, the forced delete's SIGKILL is the stop. */
	if (timeout_s > 0) {
		rc = docker_container_stop(d, name, timeout_s, NULL, &stop_err);
		if (rc == BS_ERR_NOT_FOUND || rc == BS_ERR_INTERRUPTED) {
			bs_err_set(err, rc, "%s", stop_err.msg);
			return rc;
		}
	}
	rc = force_remove(as_docker(d), name, err);
	return rc;
}

struct log_ctx {
	struct bs_demux demux;
	bs_log_fn fn;
	void *payload;
};

static int log_chunk(enum bs_log_stream stream, const char *data, size_t len, void *payload)
{
	struct log_ctx *lc = payload;

	return lc->fn(stream, data, len, lc->payload);
}

static int log_bytes(const char *data, size_t len, void *payload)
{
	struct log_ctx *lc = payload;

	/* a callback's stop, or a framing error (-1): stop reading */
	return bs_demux_feed(&lc->demux, data, len) != 0;
}

int dk_logs(struct docker *dk, const char *kind, const char *name, bool tty,
	    const struct bs_logs_opts *opts, bs_log_fn fn, void *payload, struct bs_err *err)
{
	struct bs_http_request req;
	struct bs_http_response resp;
	struct log_ctx lc;
	char *seg, *path, *query;
	char tail[32];
	int rc;

	memset(&lc, 0, sizeof(lc));
	lc.fn = fn;
	lc.payload = payload;
	bs_demux_init(&lc.demux, tty, log_chunk, &lc);
	if (opts->tail >= 0)
		snprintf(tail, sizeof(tail), "%lld", opts->tail);
	else
		snprintf(tail, sizeof(tail), "all");
	seg = dk_path_name(name, false);
	path = bs_xasprintf("%s/%s/%s/logs", dk->prefix, kind, seg);
	query = bs_xasprintf("stdout=1&stderr=1&follow=%d&timestamps=%d&tail=%s&since=%lld",
			     opts->follow, opts->timestamps, tail, opts->since);
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.path = path;
	req.query = query;
	req.on_data = log_bytes;
	req.payload = &lc;
	req.stream = opts->follow;
	rc = bs_http_request(dk->http, &req, &resp, err);
	if (rc == 0 && resp.status != 200) {
		char what[320];

		snprintf(what, sizeof(what), "logs of %s", name);
		rc = dk_status_error(dk, &resp, what, err);
	} else if (rc == 0 && lc.demux.bad) {
		rc = bs_err_set(err, BS_ERR_PROTOCOL,
				"%s: logs of %s: the log stream is not framed as expected",
				dk->base.display, name);
	}
	bs_http_response_free(&resp);
	free(seg);
	free(path);
	free(query);
	return rc;
}

static int docker_container_logs(struct bs_cdriver *d, const char *name,
				 const struct bs_logs_opts *opts, bs_log_fn fn, void *payload,
				 struct bs_err *err)
{
	char *raw = NULL;
	cJSON *o;
	bool tty;
	int rc;

	/* 1.41 sends no Content-Type for logs: Tty decides the framing */
	rc = docker_container_inspect(d, name, NULL, &raw, err);
	if (rc != 0)
		return rc;
	o = cJSON_Parse(raw);
	tty = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(o, "Config"), "Tty"));
	rc = dk_logs(as_docker(d), "containers", name, tty, opts, fn, payload, err);
	cJSON_Delete(o);
	free(raw);
	return rc;
}

/* GET returning JSON; any other status than 200 goes to on_error. */
int dk_get_json_with(struct docker *dk, const char *path, const char *query, const char *what,
		     dk_status_fn on_error, cJSON **out, struct bs_err *err)
{
	struct bs_http_response resp;
	int rc;

	*out = NULL;
	rc = dk_api(dk, "GET", path, query, NULL, &resp, err);
	if (rc != 0)
		return rc;
	if (resp.status != 200)
		rc = on_error(dk, &resp, what, err);
	else if ((*out = cJSON_ParseWithLength(bs_buf_str(&resp.body), resp.body.len)) == NULL)
		rc = bs_err_set(err, BS_ERR_PROTOCOL, "%s: %s: the answer is not JSON",
				dk->base.display, what);
	bs_http_response_free(&resp);
	return rc;
}

static int get_error(struct docker *dk, const struct bs_http_response *resp, const char *what,
		     struct bs_err *err)
{
	if (resp->status == 404)
		return bs_err_set(err, BS_ERR_NOT_FOUND, "%s: %s: not found", dk->base.display,
				  what);
	return dk_status_error(dk, resp, what, err);
}

/* GET returning JSON, with a 404 message naming the object. */
int dk_get_json(struct docker *dk, const char *path, const char *query, const char *what,
		cJSON **out, struct bs_err *err)
{
	return dk_get_json_with(dk, path, query, what, get_error, out, err);
}

static int docker_container_top(struct bs_cdriver *d, const char *name, const char *ps_args,
				struct bs_table *out, struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	char *seg = dk_path_name(name, false);
	char *path = bs_xasprintf("/containers/%s/top", seg);
	char *args = bs_http_escape(ps_args ? ps_args : "-ef");
	char *query = bs_xasprintf("ps_args=%s", args);
	char what[320];
	const cJSON *row;
	cJSON *o;
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(what, sizeof(what), "processes of %s", name);
	rc = dk_get_json(dk, path, query, what, &o, err);
	if (rc == 0) {
		const cJSON *procs = cJSON_GetObjectItemCaseSensitive(o, "Processes");

		dk_json_strings(cJSON_GetObjectItemCaseSensitive(o, "Titles"), &out->titles);
		out->rows = bs_xcalloc((size_t)cJSON_GetArraySize(procs) + 1, sizeof(*out->rows));
		cJSON_ArrayForEach(row, procs) dk_json_strings(row, &out->rows[out->n_rows++]);
	}
	cJSON_Delete(o);
	free(seg);
	free(path);
	free(args);
	free(query);
	return rc;
}

static int docker_container_changes(struct bs_cdriver *d, const char *name,
				    struct bs_change_list *out, struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	char *seg = dk_path_name(name, false);
	char *path = bs_xasprintf("/containers/%s/changes", seg);
	char what[320];
	const cJSON *item;
	cJSON *o;
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(what, sizeof(what), "changes of %s", name);
	rc = dk_get_json(dk, path, NULL, what, &o, err);
	if (rc == 0) {
		out->v = bs_xcalloc((size_t)cJSON_GetArraySize(o) + 1, sizeof(*out->v));
		cJSON_ArrayForEach(item, o)
		{
			long long kind = dk_json_num(item, "Kind");

			out->v[out->n].path = dk_json_strdup(item, "Path");
			out->v[out->n].kind = kind == 1 ? 'A' : kind == 2 ? 'D' : 'C';
			out->n++;
		}
	}
	cJSON_Delete(o);
	free(seg);
	free(path);
	return rc;
}

/* A non-negative integer field, or -1. */
static long long stat_num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	/* up to 2^62: no engine counts more, and the sums stay in range */
	return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 4.6e18
		       ? (long long)v->valuedouble
		       : -1;
}

/* sum + v, where -1 is unknown; saturated at 2^62. */
static long long stat_add(long long sum, long long v)
{
	const long long top = 1LL << 62;

	if (v < 0)
		return sum;
	if (sum < 0)
		sum = 0;
	return v > top - sum ? top : sum + v;
}

/*
 * The figures of `docker stats`, as the Engine API (v1.41, GET
 * /containers/{id}/stats) defines them: CPU % = (cpu_stats.cpu_usage.
 * total_usage - precpu_stats's) / (cpu_stats.system_cpu_usage -
 * precpu_stats's) x online_cpus x 100 (the length of percpu_usage on old
 * engines); memory used = memory_stats.usage less the inactive page cache
 * (stats.inactive_file on cgroup v2, total_inactive_file or cache on v1);
 * network and block I/O summed over interfaces and devices.
 */
void dk_parse_stats(const cJSON *o, struct bs_cstats *out)
{
	const cJSON *cpu = cJSON_GetObjectItemCaseSensitive(o, "cpu_stats");
	const cJSON *pre = cJSON_GetObjectItemCaseSensitive(o, "precpu_stats");
	const cJSON *usage = cJSON_GetObjectItemCaseSensitive(cpu, "cpu_usage");
	const cJSON *pre_usage = cJSON_GetObjectItemCaseSensitive(pre, "cpu_usage");
	const cJSON *mem = cJSON_GetObjectItemCaseSensitive(o, "memory_stats");
	const cJSON *mstats = cJSON_GetObjectItemCaseSensitive(mem, "stats");
	const cJSON *nets = cJSON_GetObjectItemCaseSensitive(o, "networks");
	const cJSON *blk = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(o, "blkio_stats"), "io_service_bytes_recursive");
	const cJSON *it;
	long long total = stat_num(usage, "total_usage"),
		  pre_total = stat_num(pre_usage, "total_usage");
	long long sys = stat_num(cpu, "system_cpu_usage"),
		  pre_sys = stat_num(pre, "system_cpu_usage");
	long long cpus = stat_num(cpu, "online_cpus"), cache;

	out->cpu_percent = -1;
	if (cpus <= 0 && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(usage, "percpu_usage")))
		cpus = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(usage, "percpu_usage"));
	out->online_cpus = cpus > 0 && cpus < 1 << 20 ? (int)cpus : 0;
	if (total >= 0 && pre_total >= 0 && sys > pre_sys && pre_sys >= 0 && total >= pre_total &&
	    out->online_cpus > 0)
		out->cpu_percent = (double)(total - pre_total) / (double)(sys - pre_sys) *
				   out->online_cpus * 100.0;
	out->mem_used = stat_num(mem, "usage");
	out->mem_limit = stat_num(mem, "limit");
	cache = stat_num(mstats, "inactive_file");
	if (cache < 0)
		cache = stat_num(mstats, "total_inactive_file");
	if (cache < 0)
		cache = stat_num(mstats, "cache");
	if (out->mem_used >= 0 && cache > 0 && cache < out->mem_used)
		out->mem_used -= cache;
	out->net_rx = out->net_tx = -1;
	if (!cJSON_IsObject(nets))
		nets = NULL;
	if (!cJSON_IsArray(blk))
		blk = NULL;
	cJSON_ArrayForEach(it, nets)
	{
		out->net_rx = stat_add(out->net_rx, stat_num(it, "rx_bytes"));
		out->net_tx = stat_add(out->net_tx, stat_num(it, "tx_bytes"));
	}
	out->blk_read = out->blk_write = -1;
	cJSON_ArrayForEach(it, blk)
	{
		const char *op = dk_json_str(it, "op");

		if (op != NULL && strcasecmp(op, "read") == 0)
			out->blk_read = stat_add(out->blk_read, stat_num(it, "value"));
		else if (op != NULL && strcasecmp(op, "write") == 0)
			out->blk_write = stat_add(out->blk_write, stat_num(it, "value"));
	}
	if (blk != NULL && out->blk_read < 0)
		out->blk_read = 0;
	if (blk != NULL && out->blk_write < 0)
		out->blk_write = 0;
	out->pids = stat_num(cJSON_GetObjectItemCaseSensitive(o, "pids_stats"), "current");
}

struct stats_ctx {
	struct bs_jsonl parser;
	bs_stats_fn fn;
	void *payload;
};

static int on_stats_message(const cJSON *msg, void *payload)
{
	struct stats_ctx *sc = payload;
	struct bs_cstats s;

	dk_parse_stats(msg, &s);
	return sc->fn(&s, sc->payload);
}

static int stats_bytes(const char *data, size_t len, void *payload)
{
	struct stats_ctx *sc = payload;

	return bs_jsonl_feed(&sc->parser, data, len) != 0;
}

static int docker_container_stats(struct bs_cdriver *d, const char *name, bool follow,
				  bs_stats_fn fn, void *payload, struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	struct bs_http_request req;
	struct bs_http_response resp;
	struct stats_ctx sc;
	char *seg = dk_path_name(name, false);
	char *path = bs_xasprintf("%s/containers/%s/stats", dk->prefix, seg);
	int rc;

	memset(&sc, 0, sizeof(sc));
	bs_jsonl_init(&sc.parser, on_stats_message, &sc);
	sc.fn = fn;
	sc.payload = payload;
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.path = path;
	req.query = follow ? "stream=1" : "stream=0";
	req.on_data = stats_bytes;
	req.payload = &sc;
	req.stream = follow;
	rc = bs_http_request(dk->http, &req, &resp, err);
	if (rc == 0 && resp.status == 404) {
		rc = bs_err_set(err, BS_ERR_NOT_FOUND, "%s: no container named %s",
				dk->base.display, name);
	} else if (rc == 0 && resp.status != 200) {
		char what[320];

		snprintf(what, sizeof(what), "stats of %s", name);
		rc = dk_status_error(dk, &resp, what, err);
	} else if (rc == 0 && resp.stopped && sc.parser.too_long) {
		rc = bs_err_set(err, BS_ERR_PROTOCOL,
				"%s: stats of %s: a sample over %u MiB without a newline; stopped "
				"reading",
				dk->base.display, name, (unsigned)(sc.parser.max_line >> 20));
	} else if (rc == 0) {
		bs_jsonl_finish(&sc.parser);
	}
	bs_http_response_free(&resp);
	bs_jsonl_free(&sc.parser);
	free(seg);
	free(path);
	return rc;
}

static int docker_container_update(struct bs_cdriver *d, const char *name,
				   const struct bs_cupdate *u, struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	struct bs_http_response resp;
	cJSON *body = cJSON_CreateObject();
	char *seg = dk_path_name(name, false);
	char *path = bs_xasprintf("/containers/%s/update", seg);
	char *json;
	int rc;

	if (u->restart) {
		cJSON *rp = cJSON_AddObjectToObject(body, "RestartPolicy");

		cJSON_AddStringToObject(rp, "Name", u->restart);
		if (u->restart_max_retries)
			cJSON_AddNumberToObject(rp, "MaximumRetryCount", u->restart_max_retries);
	}
	if (u->memory_bytes) {
		cJSON_AddNumberToObject(body, "Memory", (double)u->memory_bytes);
		/* as at create: swap limit twice the memory, or raising memory
		 * above the old swap limit is refused */
		cJSON_AddNumberToObject(body, "MemorySwap", (double)u->memory_bytes * 2);
	}
	if (u->nano_cpus)
		cJSON_AddNumberToObject(body, "NanoCpus", (double)u->nano_cpus);
	if (u->pids_limit)
		cJSON_AddNumberToObject(body, "PidsLimit", (double)u->pids_limit);
	json = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	rc = dk_api(dk, "POST", path, NULL, json, &resp, err);
	if (rc == 0 && resp.status == 404)
		rc = bs_err_set(err, BS_ERR_NOT_FOUND, "%s: no container named %s", d->display,
				name);
	else if (rc == 0 && resp.status != 200) {
		char what[320];

		snprintf(what, sizeof(what), "updating %s", name);
		rc = dk_status_error(dk, &resp, what, err);
	}
	bs_http_response_free(&resp);
	free(json);
	free(seg);
	free(path);
	return rc;
}

static int docker_container_rename(struct bs_cdriver *d, const char *name, const char *new_name,
				   struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	char *escaped = bs_http_escape(new_name);
	char *query = bs_xasprintf("name=%s", escaped);
	int rc;

	rc = container_action(dk, name, "rename", query, 0, NULL, err);
	if (rc == BS_ERR_CONFLICT)
		bs_err_set(err, rc, "%s: cannot rename %s: the name %s is taken", d->display, name,
			   new_name);
	free(escaped);
	free(query);
	return rc;
}

/* ---- files and exec -------------------------------------------------------- */

/* A single file's archive is its data and a few blocks of headers; pax
 * records (extended attributes, long names) make it a little longer. */
#define ARCHIVE_OVERHEAD (64 * 1024)
/* What container_exec keeps of a command's output. */
#define EXEC_OUTPUT_MAX (64 * 1024)

/* dir and file as one path for messages ("/etc/caddy" "Caddyfile"); caller frees. */
static char *join_path(const char *dir, const char *file)
{
	return bs_xasprintf("%s%s%s", dir, bs_str_ends_with(dir, "/") ? "" : "/", file);
}

/* The archive endpoint of a container and its path query; caller frees both. */
static void archive_target(char **url_path, char **query, struct docker *dk, const char *name,
			   const char *path, const char *extra)
{
	char *seg = dk_path_name(name, false);
	char *esc = bs_http_escape(path);

	*url_path = bs_xasprintf("%s/containers/%s/archive", dk->prefix, seg);
	*query = bs_xasprintf("path=%s%s", esc, extra);
	free(seg);
	free(esc);
}

/*
 * The archive endpoints answer 404 for a missing container and for a
 * missing path alike; the engine's message tells them apart ("No such
 * container: X", "Could not find the file P in container X").
 */
static int archive_not_found(struct docker *dk, const struct bs_http_response *resp,
			     const char *name, const char *path, bool dir, struct bs_err *err)
{
	char msg[768];

	dk_error_message(resp, msg, sizeof(msg));
	if (bs_str_starts_with(msg, "No such container"))
		return bs_err_set(err, BS_ERR_NOT_FOUND, "%s: no container named %s",
				  dk->base.display, name);
	if (strstr(msg, "Could not find the file") != NULL)
		return bs_err_set(err, BS_ERR_NOT_FOUND, "%s: container %s: %s does not exist%s",
				  dk->base.display, name, path,
				  dir ? " (make it in the image, or mount a volume there)" : "");
	return bs_err_set(err, BS_ERR_NOT_FOUND,
			  "%s: container %s: no such container or directory %s (%s)",
			  dk->base.display, name, path, msg);
}

static int docker_container_put_file(struct bs_cdriver *d, const char *name, const char *dir,
				     const char *file, const char *data, size_t len, unsigned mode,
				     struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	struct bs_buf tar = BS_BUF_INIT;
	struct bs_http_request req;
	struct bs_http_response resp;
	char *url_path = NULL, *query = NULL, *full = NULL;
	char msg[768];
	int rc;

	memset(&resp, 0, sizeof(resp));
	if (dir == NULL || dir[0] == '\0')
		return bs_err_set(err, BS_ERR_INVALID,
				  "%s: container %s: no directory to put %s in", d->display, name,
				  file);
	rc = bs_tar_one_file(&tar, file, data, len, mode, (long long)time(NULL), err);
	if (rc != 0) {
		bs_err_prefix(err, "%s: container %s", d->display, name);
		goto out;
	}
	full = join_path(dir, file);
	/* noOverwriteDirNonDir: a directory of the file's name is an error, not replaced */
	archive_target(&url_path, &query, dk, name, dir, "&noOverwriteDirNonDir=1");
	memset(&req, 0, sizeof(req));
	req.method = "PUT";
	req.path = url_path;
	req.query = query;
	/* The engine parses a form-encoded body as parameters (Go's ParseForm):
	 * a body without its type can be swallowed, leaving an empty archive
	 * that "succeeds" with nothing written. Always say what it is. */
	req.content_type = "application/x-tar";
	req.body = tar.data;
	req.body_len = tar.len;
	rc = bs_http_request(dk->http, &req, &resp, err);
	if (rc != 0 || resp.status == 200)
		goto out;
	if (resp.status == 404) {
		rc = archive_not_found(dk, &resp, name, dir, true, err);
		goto out;
	}
	/* 1.41 answers 500 for these, not the 400 and 403 it documents */
	dk_error_message(&resp, msg, sizeof(msg));
	if (strstr(msg, "extraction point is not a directory") != NULL)
		rc = bs_err_set(err, BS_ERR_INVALID, "%s: container %s: %s is not a directory",
				d->display, name, dir);
	else if (strstr(msg, "cannot overwrite directory") != NULL)
		rc = bs_err_set(err, BS_ERR_CONFLICT,
				"%s: container %s: %s is a directory: a file cannot replace it",
				d->display, name, full);
	else if (strstr(msg, "read-only") != NULL)
		rc = bs_err_set(
			err, BS_ERR_CONFLICT,
			"%s: container %s: cannot write %s: %s (mount a writable volume at %s)",
			d->display, name, full, msg, dir);
	else {
		char what[512];

		snprintf(what, sizeof(what), "container %s: writing %s", name, full);
		rc = dk_status_error(dk, &resp, what, err);
	}
out:
	bs_http_response_free(&resp);
	bs_buf_free(&tar);
	free(url_path);
	free(query);
	free(full);
	return rc;
}

/* The archive of a path as it arrives, cut at limit bytes. */
struct archive_sink {
	struct bs_buf tar;
	size_t limit;
	bool over; /* more was coming: the read stopped at limit */
};

static int archive_bytes(const char *data, size_t len, void *payload)
{
	struct archive_sink *as = payload;

	if (len > as->limit - as->tar.len) {
		bs_buf_append(&as->tar, data, as->limit - as->tar.len);
		as->over = true;
		return 1;
	}
	bs_buf_append(&as->tar, data, len);
	return 0;
}

/* The resolved target of a symbolic link from the answer's path stat
 * header (base64 JSON {"name", "size", "mode", "mtime", "linkTarget"}),
 * or NULL; caller frees. */
static char *stat_link_target(const struct bs_http_response *resp)
{
	const char *b64 = bs_http_header(resp, "x-docker-container-path-stat");
	unsigned char *json;
	char *target = NULL;
	size_t n;
	cJSON *o;

	if (b64 == NULL)
		return NULL;
	json = bs_base64_decode(b64, &n);
	if (json == NULL)
		return NULL;
	o = cJSON_ParseWithLength((const char *)json, n);
	if (dk_json_str(o, "linkTarget") != NULL && dk_json_str(o, "linkTarget")[0] == '/')
		target = dk_json_strdup(o, "linkTarget");
	cJSON_Delete(o);
	free(json);
	return target;
}

/* GET the archive of path into as (reset first); *link_target: see above.
 * shown is the path as messages give it. */
static int fetch_archive(struct docker *dk, const char *name, const char *path, const char *shown,
			 struct archive_sink *as, char **link_target, struct bs_err *err)
{
	struct bs_http_request req;
	struct bs_http_response resp;
	char *url_path, *query;
	int rc;

	bs_buf_reset(&as->tar);
	as->over = false;
	*link_target = NULL;
	archive_target(&url_path, &query, dk, name, path, "");
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.path = url_path;
	req.query = query;
	req.on_data = archive_bytes;
	req.payload = as;
	rc = bs_http_request(dk->http, &req, &resp, err);
	if (rc == 0 && resp.status == 404)
		rc = archive_not_found(dk, &resp, name, shown, false, err);
	else if (rc == 0 && resp.status != 200) {
		char what[512];

		snprintf(what, sizeof(what), "container %s: reading %s", name, shown);
		rc = dk_status_error(dk, &resp, what, err);
	} else if (rc == 0)
		*link_target = stat_link_target(&resp);
	bs_http_response_free(&resp);
	free(url_path);
	free(query);
	return rc;
}

static int docker_container_get_file(struct bs_cdriver *d, const char *name, const char *path,
				     size_t max, char **data, size_t *len, struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	struct archive_sink as;
	struct bs_tar_entry entry;
	struct bs_err tar_err = BS_ERR_INIT;
	const char *want = path, *shown = path;
	char *link_target = NULL, *followed = NULL, *followed_shown = NULL;
	int rc, tar_rc;

	*data = NULL;
	*len = 0;
	memset(&as, 0, sizeof(as));
	as.limit = max > SIZE_MAX - ARCHIVE_OVERHEAD ? SIZE_MAX : max + ARCHIVE_OVERHEAD;
	if (path == NULL || path[0] == '\0')
		return bs_err_set(err, BS_ERR_INVALID, "%s: container %s: no file path to read",
				  d->display, name);
	/* The engine archives a symbolic link itself; its stat header gives
	 * the resolved target, read once in the link's place (docker cp -L). */
	for (int hop = 0;; hop++) {
		rc = fetch_archive(dk, name, want, shown, &as, &link_target, err);
		if (rc != 0)
			goto out;
		tar_rc = bs_tar_first_entry(as.tar.data, as.tar.len, &entry, &tar_err);
		if (tar_rc != 0 || entry.kind != BS_TAR_SYMLINK || hop > 0 || link_target == NULL)
			break;
		followed = link_target;
		link_target = NULL;
		followed_shown = bs_xasprintf("%s (a link to %s)", path, followed);
		want = followed;
		shown = followed_shown;
	}
	if (entry.kind == BS_TAR_FILE && entry.size > max)
		rc = bs_err_set(
			err, BS_ERR_INVALID,
			"%s: container %s: %s is %zu bytes, more than the %zu this read takes",
			d->display, name, shown, entry.size, max);
	else if (tar_rc != 0 && as.over)
		rc = bs_err_set(
			err, BS_ERR_PROTOCOL,
			"%s: container %s: reading %s: the archive is bigger than a file of %zu bytes needs (%s)",
			d->display, name, shown, max, tar_err.msg);
	else if (tar_rc != 0)
		rc = bs_err_set(err, tar_rc, "%s: container %s: reading %s: %s", d->display, name,
				shown, tar_err.msg);
	else if (entry.kind == BS_TAR_SYMLINK)
		rc = bs_err_set(err, BS_ERR_INVALID,
				"%s: container %s: %s is a symbolic link to %s, not a regular file",
				d->display, name, shown, entry.link_name);
	else if (entry.kind != BS_TAR_FILE)
		rc = bs_err_set(err, BS_ERR_INVALID,
				"%s: container %s: %s is a %s, not a regular file", d->display,
				name, shown, bs_tar_kind_name(entry.kind));
	else {
		*data = bs_xmalloc(entry.size + 1);
		memcpy(*data, entry.data, entry.size);
		(*data)[entry.size] = '\0';
		*len = entry.size;
	}
out:
	bs_buf_free(&as.tar);
	free(link_target);
	free(followed);
	free(followed_shown);
	return rc;
}

struct exec_ctx {
	struct bs_demux demux;
	struct bs_buf *out; /* or NULL */
	size_t kept;
};

static int exec_chunk(enum bs_log_stream stream, const char *data, size_t len, void *payload)
{
	struct exec_ctx *ec = payload;
	size_t room = EXEC_OUTPUT_MAX - ec->kept;

	(void)stream;
	if (ec->out == NULL)
		return 0;
	if (len > room)
		len = room;
	/* past the cap the bytes are still read, or the command would block
	 * on a full pipe */
	bs_buf_append(ec->out, data, len);
	ec->kept += len;
	return 0;
}

static int exec_bytes(const char *data, size_t len, void *payload)
{
	struct exec_ctx *ec = payload;

	return bs_demux_feed(&ec->demux, data, len) != 0;
}

/* argv as one line for messages, masked whole, then cut to fit: a
 * command may carry a secret (sh -c "echo $TOKEN | ..."). */
static void argv_text(char *buf, size_t size, const char *const *argv)
{
	struct bs_buf line = BS_BUF_INIT;

	for (; *argv != NULL; argv++) {
		if (line.len > 0)
			bs_buf_putc(&line, ' ');
		bs_buf_puts(&line, *argv);
	}
	bs_secret_mask_cut(buf, size, bs_buf_str(&line));
	bs_buf_wipe_free(&line);
}

/* "container NAME: exec CMD" for an exec's error messages, formatted in
 * full and masked before it is cut to size. */
static void exec_what(char *dst, size_t size, const char *name, const char *cmd_text)
{
	char *what = bs_xasprintf("container %s: exec %s", name, cmd_text);

	bs_secret_mask_cut(dst, size, what);
	bs_secure_free_str(what);
}

/* POST /containers/{name}/exec: the exec instance's ID, escaped for a
 * path (caller frees). */
static int exec_create(struct docker *dk, const char *name, const char *const *argv,
		       const char *cmd_text, char **exec_id, struct bs_err *err)
{
	struct bs_http_response resp;
	cJSON *body = cJSON_CreateObject(), *answer = NULL;
	char *seg = dk_path_name(name, false);
	char *path = bs_xasprintf("/containers/%s/exec", seg);
	char *json;
	int rc;

	*exec_id = NULL;
	cJSON_AddBoolToObject(body, "AttachStdin", false);
	cJSON_AddBoolToObject(body, "AttachStdout", true);
	cJSON_AddBoolToObject(body, "AttachStderr", true);
	cJSON_AddBoolToObject(body, "Tty", false);
	cJSON_AddItemToObject(body, "Cmd", dk_string_array(argv));
	json = cJSON_PrintUnformatted(body);
	rc = dk_api(dk, "POST", path, NULL, json, &resp, err);
	if (rc != 0)
		goto out;
	if (resp.status == 404) {
		rc = bs_err_set(err, BS_ERR_NOT_FOUND, "%s: no container named %s",
				dk->base.display, name);
	} else if (resp.status == 409) {
		rc = bs_err_set(
			err, BS_ERR_CONFLICT,
			"%s: container %s is not running: cannot run %s in it (start it first)",
			dk->base.display, name, cmd_text);
	} else if (resp.status != 201) {
		char what[512];

		exec_what(what, sizeof(what), name, cmd_text);
		rc = dk_status_error(dk, &resp, what, err);
	} else {
		const char *id;

		answer = cJSON_ParseWithLength(bs_buf_str(&resp.body), resp.body.len);
		id = dk_json_str(answer, "Id");
		/* escaped: it goes into the next requests' paths */
		*exec_id = id != NULL && id[0] != '\0' ? dk_path_name(id, false) : NULL;
		if (*exec_id == NULL)
			rc = bs_err_set(err, BS_ERR_PROTOCOL,
					"%s: container %s: exec %s: the answer has no Id",
					dk->base.display, name, cmd_text);
	}
out:
	bs_http_response_free(&resp);
	cJSON_Delete(body);
	cJSON_Delete(answer);
	free(json);
	free(seg);
	free(path);
	return rc;
}

/* POST /exec/{id}/start, attached: the answer's body is the command's
 * output, multiplexed (Tty false) on a hijacked connection that the engine
 * closes when the command ends; 1.41 calls it raw-stream all the same. */
static int exec_start(struct docker *dk, const char *name, const char *exec_id,
		      const char *cmd_text, long long deadline_ms, int timeout_s,
		      struct bs_buf *out, struct bs_err *err)
{
	static const char body[] = "{\"Detach\":false,\"Tty\":false}";
	struct bs_http_request req;
	struct bs_http_response resp;
	struct exec_ctx ec;
	char *path = bs_xasprintf("%s/exec/%s/start", dk->prefix, exec_id);
	int rc;

	memset(&ec, 0, sizeof(ec));
	ec.out = out;
	bs_demux_init(&ec.demux, 0, exec_chunk, &ec);
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.path = path;
	req.content_type = "application/json";
	req.body = body;
	req.body_len = sizeof(body) - 1;
	req.on_data = exec_bytes;
	req.payload = &ec;
	/* the whole command's time: the creation took its share already */
	req.timeout_ms = (long)(deadline_ms - bs_now_ms());
	if (req.timeout_ms < 1000)
		req.timeout_ms = 1000;
	rc = bs_http_request(dk->http, &req, &resp, err);
	if (rc == BS_ERR_TIMEOUT)
		rc = bs_err_set(
			err, rc,
			"%s: container %s: %s did not finish within %d s (it may still run there)",
			dk->base.display, name, cmd_text, timeout_s);
	else if (rc == 0 && resp.status != 200) {
		char what[512];

		exec_what(what, sizeof(what), name, cmd_text);
		rc = dk_status_error(dk, &resp, what, err);
	} else if (rc == 0 && ec.demux.bad)
		rc = bs_err_set(
			err, BS_ERR_PROTOCOL,
			"%s: container %s: exec %s: the output stream is not framed as expected",
			dk->base.display, name, cmd_text);
	bs_http_response_free(&resp);
	free(path);
	return rc;
}

/* GET /exec/{id}/json until the command is seen ended: its output can
 * close a moment before the engine records the exit code. */
static int exec_wait_exit(struct docker *dk, const char *name, const char *exec_id,
			  const char *cmd_text, long long deadline_ms, int *exit_code,
			  struct bs_err *err)
{
	char *path = bs_xasprintf("/exec/%s/json", exec_id);
	char what[512];
	int rc;

	exec_what(what, sizeof(what), name, cmd_text);
	for (;;) {
		cJSON *o;
		const cJSON *code;
		bool ended;

		rc = dk_get_json(dk, path, NULL, what, &o, err);
		if (rc != 0)
			break;
		code = cJSON_GetObjectItemCaseSensitive(o, "ExitCode");
		ended = !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "Running")) &&
			cJSON_IsNumber(code);
		if (ended) /* an engine's number: kept in range before the cast */
			*exit_code = code->valuedouble >= 0 && code->valuedouble <= 255
					     ? (int)code->valuedouble
					     : 255;
		cJSON_Delete(o);
		if (ended)
			break;
		if (bs_now_ms() >= deadline_ms) {
			rc = bs_err_set(
				err, BS_ERR_TIMEOUT,
				"%s: container %s: %s: the engine did not report an exit code in time",
				dk->base.display, name, cmd_text);
			break;
		}
		nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
	}
	free(path);
	return rc;
}

static int docker_container_exec(struct bs_cdriver *d, const char *name, const char *const *argv,
				 int timeout_s, struct bs_buf *out, int *exit_code,
				 struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	long long deadline_ms = bs_now_ms() + (long long)timeout_s * 1000;
	char cmd_text[160], *exec_id = NULL;
	int rc;

	*exit_code = -1;
	if (out != NULL)
		bs_buf_reset(out);
	if (argv == NULL || argv[0] == NULL)
		return bs_err_set(err, BS_ERR_INVALID, "%s: container %s: exec needs a command",
				  d->display, name);
	argv_text(cmd_text, sizeof(cmd_text), argv);
	if (timeout_s <= 0)
		return bs_err_set(err, BS_ERR_INVALID,
				  "%s: container %s: exec %s needs a timeout (seconds, above 0)",
				  d->display, name, cmd_text);
	rc = exec_create(dk, name, argv, cmd_text, &exec_id, err);
	if (rc != 0)
		goto out;
	rc = exec_start(dk, name, exec_id, cmd_text, deadline_ms, timeout_s, out, err);
	if (rc != 0)
		goto out;
	/* a little grace past the deadline: the output already ended */
	rc = exec_wait_exit(dk, name, exec_id, cmd_text, deadline_ms + 2000, exit_code, err);
out:
	free(exec_id);
	return rc;
}

/* ---- images -------------------------------------------------------------- */

void dk_parse_image(const cJSON *o, struct bs_iinfo *img)
{
	const cJSON *config = cJSON_GetObjectItemCaseSensitive(o, "Config");
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(o, "Labels");

	img->id = dk_json_strdup(o, "Id");
	dk_json_strings(cJSON_GetObjectItemCaseSensitive(o, "RepoTags"), &img->tags);
	dk_json_strings(cJSON_GetObjectItemCaseSensitive(o, "RepoDigests"), &img->digests);
	img->size = dk_json_num(o, "Size");
	img->created = dk_json_num(o, "Created");
	dk_json_labels(labels ? labels : cJSON_GetObjectItemCaseSensitive(config, "Labels"),
		       &img->labels);
}

static int docker_image_list(struct bs_cdriver *d, struct bs_iinfo_list *out, struct bs_err *err)
{
	const cJSON *item;
	cJSON *arr;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = dk_get_json(as_docker(d), "/images/json", NULL, "listing images", &arr, err);
	if (rc != 0)
		return rc;
	out->v = bs_xcalloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(*out->v));
	cJSON_ArrayForEach(item, arr) dk_parse_image(item, &out->v[out->n++]);
	cJSON_Delete(arr);
	return 0;
}

static int docker_image_inspect(struct bs_cdriver *d, const char *ref, struct bs_iinfo *out,
				struct bs_err *err)
{
	char *seg = dk_path_name(ref, true);
	char *path = bs_xasprintf("/images/%s/json", seg);
	char what[320];
	cJSON *o;
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(what, sizeof(what), "image %s", ref);
	rc = dk_get_json(as_docker(d), path, NULL, what, &o, err);
	if (rc == 0) {
		dk_parse_image(o, out);
		out->created = 0; /* a timestamp string here; list has the number */
	}
	cJSON_Delete(o);
	free(seg);
	free(path);
	return rc;
}

struct progress_ctx {
	struct bs_jsonl parser;
	bs_progress_fn fn;
	void *payload;
	char *aux_id;
};

static int on_progress_message(const cJSON *msg, void *payload)
{
	struct progress_ctx *pc = payload;
	const cJSON *detail = cJSON_GetObjectItemCaseSensitive(msg, "progressDetail");
	const cJSON *aux = cJSON_GetObjectItemCaseSensitive(msg, "aux");
	struct bs_progress ev;

	memset(&ev, 0, sizeof(ev));
	ev.status = dk_json_str(msg, "status");
	ev.id = dk_json_str(msg, "id");
	ev.progress = dk_json_str(msg, "progress");
	ev.stream = dk_json_str(msg, "stream");
	ev.current = dk_json_num(detail, "current");
	ev.total = dk_json_num(detail, "total");
	ev.aux_id = dk_json_str(aux, "ID");
	if (ev.aux_id != NULL) {
		free(pc->aux_id);
		pc->aux_id = bs_xstrdup(ev.aux_id);
	}
	return pc->fn ? pc->fn(&ev, pc->payload) : 0;
}

static int progress_bytes(const char *data, size_t len, void *payload)
{
	struct progress_ctx *pc = payload;

	return bs_jsonl_feed(&pc->parser, data, len);
}

/* A streamed request whose answer is JSON lines of progress; errors inside
 * the stream (errorDetail after a 200) fail the call. */
static int progress_request(struct docker *dk, struct bs_http_request *req, struct progress_ctx *pc,
			    const char *what, struct bs_err *err)
{
	struct bs_http_response resp;
	char *full = bs_xasprintf("%s%s", dk->prefix, req->path);
	int rc;

	req->path = full;
	req->on_data = progress_bytes;
	req->payload = pc;
	req->stream = true;
	rc = bs_http_request(dk->http, req, &resp, err);
	if (rc == BS_ERR_INTERRUPTED) /* say what stopped */
		bs_err_set(err, rc, "%s: %s: interrupted", dk->base.display, what);
	if (rc != 0)
		goto out;
	if (resp.status < 200 || resp.status >= 300) {
		rc = dk_status_error(dk, &resp, what, err);
		goto out;
	}
	if (resp.stopped && pc->parser.too_long) {
		rc = bs_err_set(
			err, BS_ERR_PROTOCOL,
			"%s: %s: the engine's progress stream sent a line over %u MiB without a newline; stopped reading it",
			dk->base.display, what, (unsigned)(pc->parser.max_line >> 20));
		goto out;
	}
	if (resp.stopped) {
		rc = bs_err_set(err, BS_ERR_INTERRUPTED, "%s: %s: stopped before the end",
				dk->base.display, what);
		goto out;
	}
	bs_jsonl_finish(&pc->parser);
	if (pc->parser.error != NULL)
		rc = bs_err_set(err, BS_ERR_API, "%s: %s: %s", dk->base.display, what,
				pc->parser.error);
out:
	bs_http_response_free(&resp);
	free(full);
	return rc;
}

static bool looks_like_auth_failure(const char *msg)
{
	return strstr(msg, "unauthorized") || strstr(msg, "authentication required") ||
	       strstr(msg, "denied") || strstr(msg, "no basic auth credentials");
}

static int docker_image_pull(struct bs_cdriver *d, const char *ref,
			     const struct bs_registry_cred *cred, bs_progress_fn fn, void *payload,
			     struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	struct bs_http_request req;
	struct progress_ctx pc;
	char *repo, *tag, *erepo, *etag, *query, *auth, *registry;
	const char *headers[2];
	char what[320];
	int rc;

	split_ref(ref, &repo, &tag);
	erepo = bs_http_escape(repo);
	etag = bs_http_escape(tag);
	query = bs_xasprintf("fromImage=%s&tag=%s", erepo, etag);
	auth = bs_registry_auth_header(cred);
	registry = bs_image_registry(ref);
	headers[0] = auth;
	headers[1] = NULL;
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.path = "/images/create";
	req.query = query;
	req.headers = headers;
	memset(&pc, 0, sizeof(pc));
	bs_jsonl_init(&pc.parser, on_progress_message, &pc);
	pc.fn = fn;
	pc.payload = payload;
	snprintf(what, sizeof(what), "pulling %s", ref);
	rc = progress_request(dk, &req, &pc, what, err);
	if (rc == BS_ERR_NOT_FOUND || (rc != 0 && strstr(err->msg, "not found") != NULL &&
				       !looks_like_auth_failure(err->msg)))
		rc = bs_err_set(
			err, BS_ERR_NOT_FOUND,
			"%s: pulling %s: %s has no such image or tag (check the name and tag)",
			d->display, ref, registry);
	else if (rc != 0 && rc != BS_ERR_TIMEOUT && rc != BS_ERR_INTERRUPTED &&
		 looks_like_auth_failure(err->msg))
		rc = bs_err_set(
			err, BS_ERR_AUTH, "%s: pulling %s: authentication failed for %s (%s)",
			d->display, ref, registry,
			cred && cred->username
				? "check the username and password given for it"
				: "no credentials were given for it: add it to registries: or run docker login");
	bs_jsonl_free(&pc.parser);
	free(pc.aux_id);
	bs_secure_free_str(auth);
	free(registry);
	free(repo);
	free(tag);
	free(erepo);
	free(etag);
	free(query);
	return rc;
}

static int docker_image_distribution(struct bs_cdriver *d, const char *ref,
				     const struct bs_registry_cred *cred, char **digest,
				     struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	struct bs_http_request req;
	struct bs_http_response resp;
	char *seg = dk_path_name(ref, true);
	char *path = bs_xasprintf("%s/distribution/%s/json", dk->prefix, seg);
	char *auth = bs_registry_auth_header(cred);
	char *registry = bs_image_registry(ref);
	const char *headers[2] = {auth, NULL};
	const char *value;
	char msg[768];
	cJSON *o = NULL;
	int rc;

	*digest = NULL;
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.path = path;
	req.headers = headers;
	req.interruptible = true; /* only looks, and may wait on a slow registry */
	rc = bs_http_request(dk->http, &req, &resp, err);
	if (rc != 0)
		goto out;
	if (resp.status != 200) {
		dk_error_message(&resp, msg, sizeof(msg));
		if (looks_like_auth_failure(msg))
			rc = bs_err_set(
				err, BS_ERR_AUTH,
				"%s: asking %s for %s: authentication failed (%s)", d->display,
				registry, ref,
				cred && cred->username
					? "check the username and password given for it"
					: "no credentials were given for it: add it to registries: or run docker login");
		else if (resp.status == 404 || strstr(msg, "not found") || strstr(msg, "unknown"))
			rc = bs_err_set(err, BS_ERR_NOT_FOUND, "%s: %s has no %s (%s)", d->display,
					registry, ref, msg);
		else
			rc = bs_err_set(err, BS_ERR_API, "%s: asking %s for %s: %s", d->display,
					registry, ref, msg);
		goto out;
	}
	o = cJSON_ParseWithLength(bs_buf_str(&resp.body), resp.body.len);
	value = dk_json_str(cJSON_GetObjectItemCaseSensitive(o, "Descriptor"), "digest");
	if (value == NULL || !bs_str_starts_with(value, "sha256:"))
		rc = bs_err_set(err, BS_ERR_PROTOCOL, "%s: %s sent no digest for %s", d->display,
				registry, ref);
	else
		*digest = bs_xstrdup(value);
out:
	cJSON_Delete(o);
	bs_http_response_free(&resp);
	bs_secure_free_str(auth);
	free(registry);
	free(path);
	free(seg);
	return rc;
}

static void add_json_param(struct bs_buf *q, const char *name, const struct bs_kvlist *kv)
{
	cJSON *o;
	char *json, *esc;

	if (kv == NULL || kv->n == 0)
		return;
	o = dk_kv_object(kv);
	json = cJSON_PrintUnformatted(o);
	esc = bs_http_escape(json);
	bs_buf_printf(q, "&%s=%s", name, esc);
	cJSON_Delete(o);
	bs_secure_free_str(json);
	bs_secure_free_str(esc);
}

/* A URL for messages, with any user:password@ part shown as ***@. */
static char *url_without_credentials(const char *url)
{
	const char *scheme = strstr(url, "://");
	const char *host, *at;
	size_t authority;

	if (scheme == NULL)
		return bs_xstrdup(url);
	host = scheme + 3;
	authority = strcspn(host, "/?#");
	at = memchr(host, '@', authority);
	if (at == NULL)
		return bs_xstrdup(url);
	return bs_xasprintf("%.*s***%s", (int)(host - url), url, at);
}

static int docker_image_build(struct bs_cdriver *d, const struct bs_build_opts *opts,
			      bs_progress_fn fn, void *payload, char **image_id, struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	struct bs_http_request req;
	struct progress_ctx pc;
	struct bs_buf query = BS_BUF_INIT;
	char *url = NULL, *branch = NULL, *remote = NULL, *tag = bs_http_escape(opts->tag);
	char what[600], *shown_url = NULL;
	struct bs_err why = BS_ERR_INIT;
	bool local = opts->git_url == NULL;
	int rc;

	*image_id = NULL;
	/* without #ref the engine clones "master": ask the server what HEAD
	 * names, and build that branch (the engine's default if it cannot say) */
	if (!local && strchr(opts->git_url, '#') == NULL &&
	    bs_git_default_branch(opts->git_url, GIT_ASK_MS, &branch, &why) == 0) {
		url = bs_xasprintf("%s#%s", opts->git_url, branch);
		if (fn != NULL) {
			struct bs_progress ev;
			char *status =
				bs_xasprintf("default branch %s (the repository's HEAD)", branch);

			memset(&ev, 0, sizeof(ev));
			ev.status = status;
			fn(&ev, payload);
			free(status);
		}
	}
	if (!local) {
		remote = bs_http_escape(url ? url : opts->git_url);
		bs_buf_printf(&query, "remote=%s&", remote);
	}
	bs_buf_printf(&query, "t=%s&rm=1&forcerm=1", tag);
	if (opts->dockerfile) {
		char *df = bs_http_escape(opts->dockerfile);

		bs_buf_printf(&query, "&dockerfile=%s", df);
		free(df);
	}
	if (opts->target) {
		char *target = bs_http_escape(opts->target);

		bs_buf_printf(&query, "&target=%s", target);
		free(target);
	}
	if (opts->pull)
		bs_buf_puts(&query, "&pull=1");
	if (opts->no_cache)
		bs_buf_puts(&query, "&nocache=1");
	add_json_param(&query, "buildargs", opts->build_args);
	add_json_param(&query, "labels", opts->labels);
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.path = "/build";
	req.query = bs_buf_str(&query);
	req.content_type = "application/x-tar";
	if (local) {
		/* the context is the body (Engine API v1.41, POST /build) */
		req.body = opts->context_tar;
		req.body_len = opts->context_len;
	}
	memset(&pc, 0, sizeof(pc));
	bs_jsonl_init(&pc.parser, on_progress_message, &pc);
	pc.fn = fn;
	pc.payload = payload;
	if (local) {
		snprintf(what, sizeof(what), "building %s from a local context (%zu KiB)",
			 opts->tag, opts->context_len >> 10);
	} else {
		shown_url = url_without_credentials(url ? url : opts->git_url);
		snprintf(what, sizeof(what), "building %s from %s", opts->tag, shown_url);
	}
	rc = progress_request(dk, &req, &pc, what, err);
	if (rc != 0 && !local && branch == NULL && strchr(opts->git_url, '#') == NULL &&
	    strstr(err->msg, "remote ref") != NULL)
		bs_err_set(err, rc,
			   "%s (without #ref the engine builds branch master, which this "
			   "repository lacks; name its branch: %s#main, say%s%s)",
			   err->msg, shown_url, why.msg[0] ? "; asking the server failed: " : "",
			   why.msg);
	free(shown_url);
	if (rc == 0 && pc.aux_id == NULL)
		rc = bs_err_set(err, BS_ERR_PROTOCOL, "%s: %s: the build ended without an image ID",
				d->display, what);
	if (rc == 0) {
		*image_id = pc.aux_id;
		pc.aux_id = NULL;
	}
	bs_jsonl_free(&pc.parser);
	free(pc.aux_id);
	bs_buf_wipe_free(&query);
	bs_secure_free_str(url);
	free(branch);
	free(remote);
	free(tag);
	return rc;
}

static int docker_image_remove(struct bs_cdriver *d, const char *ref, bool force,
			       struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	struct bs_http_response resp;
	char *seg = dk_path_name(ref, true);
	char *path = bs_xasprintf("/images/%s", seg);
	int rc;

	rc = dk_api(dk, "DELETE", path, force ? "force=1" : NULL, NULL, &resp, err);
	if (rc == 0 && resp.status == 404)
		rc = bs_err_set(err, BS_ERR_NOT_FOUND, "%s: no image %s", d->display, ref);
	else if (rc == 0 && resp.status != 200) {
		char what[320];

		snprintf(what, sizeof(what), "removing image %s", ref);
		rc = dk_status_error(dk, &resp, what, err);
	}
	bs_http_response_free(&resp);
	free(seg);
	free(path);
	return rc;
}

static int write_fd(const char *data, size_t len, void *payload)
{
	int fd = *(int *)payload;

	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n <= 0)
			return 1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static size_t read_fd(char *buf, size_t size, void *payload)
{
	ssize_t n = read(*(int *)payload, buf, size);

	return n < 0 ? (size_t)-1 : (size_t)n;
}

static int docker_image_save(struct bs_cdriver *d, const char *ref, int fd, struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	struct bs_http_request req;
	struct bs_http_response resp;
	char *seg = dk_path_name(ref, true);
	char *path = bs_xasprintf("%s/images/%s/get", dk->prefix, seg);
	int rc;

	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.path = path;
	req.on_data = write_fd;
	req.payload = &fd;
	req.stream = true;
	rc = bs_http_request(dk->http, &req, &resp, err);
	if (rc == 0 && resp.stopped)
		rc = bs_err_set(err, BS_ERR_IO, "saving image %s: cannot write the local copy",
				ref);
	else if (rc == 0 && resp.status == 404)
		rc = bs_err_set(err, BS_ERR_NOT_FOUND, "%s: no image %s", d->display, ref);
	else if (rc == 0 && resp.status != 200) {
		char what[320];

		snprintf(what, sizeof(what), "saving image %s", ref);
		rc = dk_status_error(dk, &resp, what, err);
	}
	bs_http_response_free(&resp);
	free(seg);
	free(path);
	return rc;
}

static int docker_image_load(struct bs_cdriver *d, int fd, struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	struct bs_http_request req;
	struct progress_ctx pc;
	int rc;

	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.path = "/images/load";
	req.query = "quiet=1";
	req.content_type = "application/x-tar";
	req.read_body = read_fd;
	req.read_payload = &fd;
	memset(&pc, 0, sizeof(pc));
	bs_jsonl_init(&pc.parser, on_progress_message, &pc);
	rc = progress_request(dk, &req, &pc, "loading an image", err);
	bs_jsonl_free(&pc.parser);
	free(pc.aux_id);
	return rc;
}

int bs_cdriver_image_transfer(struct bs_cdriver *from, struct bs_cdriver *to, const char *ref,
			      struct bs_err *err)
{
	char path[] = "/tmp/bootstrap-image-XXXXXX";
	int fd = mkstemp(path);
	int rc;

	if (fd < 0)
		return bs_err_set(err, BS_ERR_IO,
				  "image transfer of %s: cannot create a temporary file", ref);
	unlink(path);
	rc = from->ops->image_save(from, ref, fd, err);
	if (rc == 0 && lseek(fd, 0, SEEK_SET) != 0)
		rc = bs_err_set(err, BS_ERR_IO,
				"image transfer of %s: cannot rewind the temporary file", ref);
	if (rc == 0)
		rc = to->ops->image_load(to, fd, err);
	close(fd);
	return rc;
}

/* ---- networks, volumes, events ------------------------------------------- */

int dk_network_ensure(struct docker *dk, const char *name, const char *driver,
		      const struct bs_kvlist *labels, const struct bs_kvlist *options,
		      struct bs_kvlist *have, bool *created, struct bs_err *err)
{
	struct bs_http_response resp;
	struct bs_kvlist by_name = BS_KVLIST_INIT;
	bool overlay = strcmp(driver, "overlay") == 0;
	char *filters, *query;
	const cJSON *item;
	cJSON *arr = NULL, *body;
	char *json = NULL;
	char what[320];
	int rc;

	if (created != NULL)
		*created = false;
	bs_kvlist_push(&by_name, "name", name, false);
	filters = bs_http_filters(&by_name);
	bs_kvlist_free(&by_name);
	query = bs_xasprintf("filters=%s", filters);
	rc = dk_get_json(dk, "/networks", query, "listing networks", &arr, err);
	if (rc != 0)
		goto out;
	/* the name filter matches substrings: compare exactly */
	cJSON_ArrayForEach(item, arr)
	{
		const char *n = dk_json_str(item, "Name");
		const char *has = dk_json_str(item, "Driver");

		if (n == NULL || strcmp(n, name) != 0)
			continue;
		/* a swarm network the allocator has not reached yet lists Driver "" */
		if (overlay && has != NULL && has[0] != '\0' && strcmp(has, driver) != 0)
			rc = bs_err_set(
				err, BS_ERR_CONFLICT,
				"%s: network %s exists with driver %s, not %s (remove it, or pick another name)",
				dk->base.display, name, has, driver);
		if (rc == 0 && have != NULL) {
			const cJSON *opts = cJSON_GetObjectItemCaseSensitive(item, "Options");
			const cJSON *opt;

			cJSON_ArrayForEach(opt, opts)
			{
				if (cJSON_IsString(opt) && opt->string != NULL) /* as labels */
					bs_kvlist_push(have, opt->string, opt->valuestring, false);
			}
		}
		goto out;
	}
	if (created == NULL) { /* look only */
		rc = bs_err_set(err, BS_ERR_NOT_FOUND, "%s: no network %s", dk->base.display, name);
		goto out;
	}
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "Name", name);
	cJSON_AddBoolToObject(body, "CheckDuplicate", true);
	cJSON_AddStringToObject(body, "Driver", driver);
	/* the routing mesh's network: Ingress, and never attachable */
	if (overlay && strcmp(name, "ingress") == 0)
		cJSON_AddBoolToObject(body, "Ingress", true);
	else if (overlay)
		cJSON_AddBoolToObject(body, "Attachable", true);
	if (options != NULL && options->n > 0)
		cJSON_AddItemToObject(body, "Options", dk_kv_object(options));
	cJSON_AddItemToObject(body, "Labels", dk_kv_object(labels));
	json = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	rc = dk_api(dk, "POST", "/networks/create", NULL, json, &resp, err);
	if (rc != 0)
		goto out;
	snprintf(what, sizeof(what), "creating network %s", name);
	if (resp.status == 201)
		*created = true;
	else if (resp.status != 409) /* 409: made meanwhile by someone else */
		rc = dk_status_error(dk, &resp, what, err);
	bs_http_response_free(&resp);
	/* made meanwhile: its options are what the caller compares */
	if (rc == 0 && !*created && have != NULL)
		rc = dk_network_ensure(dk, name, driver, labels, options, have, NULL, err);
out:
	cJSON_Delete(arr);
	free(json);
	free(filters);
	free(query);
	return rc;
}

static int docker_network_ensure(struct bs_cdriver *d, const char *name,
				 const struct bs_kvlist *labels, bool *created, struct bs_err *err)
{
	return dk_network_ensure(as_docker(d), name, "bridge", labels, NULL, NULL, created, err);
}

static int docker_volume_ensure(struct bs_cdriver *d, const char *name,
				const struct bs_kvlist *labels, bool *created, struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	struct bs_http_response resp;
	char *seg = dk_path_name(name, false);
	char *path = bs_xasprintf("/volumes/%s", seg);
	cJSON *body;
	char *json = NULL;
	int rc;

	*created = false;
	rc = dk_api(dk, "GET", path, NULL, NULL, &resp, err);
	if (rc != 0)
		goto out;
	if (resp.status == 200) {
		bs_http_response_free(&resp);
		goto out;
	}
	if (resp.status != 404) {
		rc = dk_status_error(dk, &resp, "looking up a volume", err);
		bs_http_response_free(&resp);
		goto out;
	}
	bs_http_response_free(&resp);
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "Name", name);
	cJSON_AddItemToObject(body, "Labels", dk_kv_object(labels));
	json = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	rc = dk_api(dk, "POST", "/volumes/create", NULL, json, &resp, err);
	if (rc == 0 && resp.status == 201)
		*created = true;
	else if (rc == 0)
		rc = dk_status_error(dk, &resp, "creating a volume", err);
	bs_http_response_free(&resp);
out:
	free(json);
	free(seg);
	free(path);
	return rc;
}

/* DELETE /networks/{name} or /volumes/{name}: 404 means already gone. */
static int remove_named(struct docker *dk, const char *kind, const char *singular, const char *name,
			bool *removed, struct bs_err *err)
{
	struct bs_http_response resp;
	char *seg = dk_path_name(name, false);
	char *path = bs_xasprintf("/%s/%s", kind, seg);
	int rc;

	*removed = false;
	rc = dk_api(dk, "DELETE", path, NULL, NULL, &resp, err);
	if (rc == 0) {
		if (resp.status == 204 || resp.status == 200) {
			*removed = true;
		} else if (resp.status != 404) {
			char what[320];

			snprintf(what, sizeof(what), "removing %s %s", singular, name);
			rc = dk_status_error(dk, &resp, what, err);
		}
	}
	bs_http_response_free(&resp);
	free(seg);
	free(path);
	return rc;
}

/* Whether a container of that ID or name exists (a 404 says it does not). */
static int container_exists(struct docker *dk, const char *ref, bool *exists, struct bs_err *err)
{
	struct bs_http_response resp;
	char *seg = dk_path_name(ref, false);
	char *path = bs_xasprintf("/containers/%s/json", seg);
	int rc;

	rc = dk_api(dk, "GET", path, NULL, NULL, &resp, err);
	if (rc == 0 && resp.status != 200 && resp.status != 404)
		rc = dk_status_error(dk, &resp, "looking a network's endpoint up", err);
	*exists = rc != 0 || resp.status == 200;
	bs_http_response_free(&resp);
	free(seg);
	free(path);
	return rc;
}

/*
 * Docker 20.10 now and then keeps a removed container's endpoint in its
 * network (moby#42119, moby#43286: about one "compose down" in 30 fails on
 * it) and then refuses to remove the network until it restarts. In a
 * network of this engine's own (scope local: an overlay also lists other
 * nodes' endpoints), the endpoint of a container that no longer exists is
 * dropped by name with a forced disconnect, as `docker network disconnect
 * -f NET NAME` does. An endpoint whose container still exists is never
 * touched: its name goes to *holder. Returns how many were dropped.
 */
static int drop_stale_endpoints(struct docker *dk, const char *net, char **holder,
				struct bs_err *err)
{
	char *seg = dk_path_name(net, false);
	char *path = bs_xasprintf("/networks/%s", seg);
	char *disconnect = bs_xasprintf("/networks/%s/disconnect", seg);
	const char *scope;
	const cJSON *ep;
	cJSON *o = NULL;
	int rc, dropped = 0;

	rc = dk_get_json(dk, path, NULL, "inspecting the network", &o, err);
	scope = dk_json_str(o, "Scope");
	if (rc != 0 || scope == NULL || strcmp(scope, "local") != 0)
		goto out;
	cJSON_ArrayForEach(ep, cJSON_GetObjectItemCaseSensitive(o, "Containers"))
	{
		const char *name = dk_json_str(ep, "Name");
		struct bs_http_response resp;
		bool exists = false;
		cJSON *body;
		char *json;

		if (name == NULL || name[0] == '\0')
			continue;
		/* the key is the container's ID, or "ep-ID" once its sandbox went */
		if (ep->string != NULL && strncmp(ep->string, "ep-", 3) != 0)
			rc = container_exists(dk, ep->string, &exists, err);
		if (rc == 0 && !exists)
			rc = container_exists(dk, name, &exists, err);
		if (rc != 0)
			break;
		if (exists) {
			if (*holder == NULL)
				*holder = bs_xstrdup(name);
			continue;
		}
		body = cJSON_CreateObject();
		cJSON_AddStringToObject(body, "Container", name);
		cJSON_AddBoolToObject(body, "Force", true);
		json = cJSON_PrintUnformatted(body);
		cJSON_Delete(body);
		rc = dk_api(dk, "POST", disconnect, NULL, json, &resp, err);
		free(json);
		if (rc == 0 && resp.status != 200 && resp.status != 404)
			rc = dk_status_error(dk, &resp, "dropping a removed container's endpoint",
					     err);
		bs_http_response_free(&resp);
		if (rc != 0)
			break;
		dropped++;
	}
out:
	cJSON_Delete(o);
	free(disconnect);
	free(path);
	free(seg);
	return dropped;
}

/* DELETE /networks/{name}; a network held only by endpoints of removed
 * containers is freed of them first, and one a container still uses
 * names it. */
static int docker_network_remove(struct bs_cdriver *d, const char *name, bool *removed,
				 struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	struct bs_err why = BS_ERR_INIT;
	char *holder = NULL;
	int rc = remove_named(dk, "networks", "network", name, removed, err);

	if (rc == 0 || strstr(err->msg, "active endpoints") == NULL)
		return rc;
	if (drop_stale_endpoints(dk, name, &holder, &why) > 0 && holder == NULL) {
		bs_err_clear(err);
		rc = remove_named(dk, "networks", "network", name, removed, err);
	} else if (holder != NULL) {
		char *msg = bs_xasprintf("%s (container %s still uses it: remove it, or run "
					 "`docker network disconnect %s %s`)",
					 err->msg, holder, name, holder);

		bs_err_set(err, err->code, "%s", msg);
		free(msg);
	}
	free(holder);
	return rc;
}

static int docker_volume_remove(struct bs_cdriver *d, const char *name, bool *removed,
				struct bs_err *err)
{
	return remove_named(as_docker(d), "volumes", "volume", name, removed, err);
}

struct event_ctx {
	struct bs_jsonl parser;
	bs_event_fn fn;
	void *payload;
};

static int on_event_message(const cJSON *msg, void *payload)
{
	struct event_ctx *ec = payload;
	char *json = cJSON_PrintUnformatted(msg);
	int rc = ec->fn(json, ec->payload);

	free(json);
	return rc;
}

static int event_bytes(const char *data, size_t len, void *payload)
{
	struct event_ctx *ec = payload;

	return bs_jsonl_feed(&ec->parser, data, len);
}

static int docker_events(struct bs_cdriver *d, long long since, long long until,
			 const struct bs_kvlist *filters, bs_event_fn fn, void *payload,
			 struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	struct bs_http_request req;
	struct bs_http_response resp;
	struct event_ctx ec;
	struct bs_buf query = BS_BUF_INIT;
	char *path = bs_xasprintf("%s/events", dk->prefix);
	long long wait_s = until - (long long)time(NULL);
	int rc;

	if (until <= 0 || until < since) {
		free(path);
		return bs_err_set(
			err, BS_ERR_INVALID,
			"events need an end time after their start (reads are always bounded)");
	}
	bs_buf_printf(&query, "since=%lld&until=%lld", since, until);
	if (filters != NULL && filters->n > 0) {
		char *esc = bs_http_filters(filters);

		bs_buf_printf(&query, "&filters=%s", esc);
		free(esc);
	}
	memset(&ec, 0, sizeof(ec));
	bs_jsonl_init(&ec.parser, on_event_message, &ec);
	ec.fn = fn;
	ec.payload = payload;
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.path = path;
	req.query = bs_buf_str(&query);
	req.on_data = event_bytes;
	req.payload = &ec;
	req.timeout_ms = (wait_s > 0 ? wait_s : 0) * 1000 + 30000;
	rc = bs_http_request(dk->http, &req, &resp, err);
	if (rc == 0 && resp.stopped && ec.parser.too_long)
		rc = bs_err_set(
			err, BS_ERR_PROTOCOL,
			"%s: reading events: the engine's event stream sent a line over %u MiB without a newline; stopped reading it",
			d->display, (unsigned)(ec.parser.max_line >> 20));
	if (rc == 0 && resp.status != 200)
		rc = dk_status_error(dk, &resp, "reading events", err);
	if (rc == 0)
		bs_jsonl_finish(&ec.parser);
	bs_http_response_free(&resp);
	bs_jsonl_free(&ec.parser);
	bs_buf_free(&query);
	free(path);
	return rc;
}

/* ---- open / free --------------------------------------------------------- */

static void docker_free(struct bs_cdriver *d)
{
	struct docker *dk = as_docker(d);

	if (d == NULL)
		return;
	bs_http_free(dk->http);
	bs_engine_info_free(&d->info);
	free(dk);
}

unsigned long bs_docker_request_count(const struct bs_cdriver *d)
{
	return bs_http_request_count(((const struct docker *)d)->http);
}

/* Compare "1.41" style versions. */
static int api_cmp(const char *a, const char *b)
{
	int amaj = atoi(a), bmaj = atoi(b);
	const char *ad = strchr(a, '.'), *bd = strchr(b, '.');
	int amin = ad ? atoi(ad + 1) : 0, bmin = bd ? atoi(bd + 1) : 0;

	if (amaj != bmaj)
		return amaj < bmaj ? -1 : 1;
	return amin < bmin ? -1 : amin > bmin;
}

/* "Docker/20.10.24+dfsg1 (linux)": the version and the OS into info. */
static void take_server_header(struct docker *dk, const char *server)
{
	const char *v, *os;

	if (server == NULL || !bs_str_starts_with(server, "Docker/"))
		return;
	v = server + 7;
	if (dk->base.info.version == NULL)
		dk->base.info.version = bs_xstrndup(v, strcspn(v, " "));
	os = strchr(v, '(');
	if (dk->base.info.os == NULL && os != NULL)
		dk->base.info.os = bs_xstrndup(os + 1, strcspn(os + 1, ")"));
}

/* GET /_ping: is it a Docker engine, and does it speak our API? */
static int ping(struct docker *dk, struct bs_err *err)
{
	struct bs_http_request req;
	struct bs_http_response resp;
	const char *api_version;
	int rc;

	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.path = "/_ping";
	req.interruptible = true; /* the engine-ready wait ends on Ctrl-C */
	rc = bs_http_request(dk->http, &req, &resp, err);
	if (rc != 0)
		return rc;
	api_version = bs_http_header(&resp, "api-version");
	if (resp.status != 200 || api_version == NULL) {
		rc = bs_err_set(err, BS_ERR_PROTOCOL,
				"%s does not answer like a Docker engine (GET /_ping: HTTP %ld)",
				dk->base.display, resp.status);
	} else if (api_cmp(api_version, BS_DOCKER_MIN_API) < 0) {
		rc = bs_err_set(
			err, BS_ERR_UNSUPPORTED,
			"%s speaks Docker API %s; bootstrap needs %s or newer (Docker 20.10 or later: upgrade the engine)",
			dk->base.display, api_version, BS_DOCKER_MIN_API);
	} else {
		take_server_header(dk, bs_http_header(&resp, "server"));
		if (dk->base.info.os == NULL && bs_http_header(&resp, "ostype"))
			dk->base.info.os = bs_xstrdup(bs_http_header(&resp, "ostype"));
	}
	bs_http_response_free(&resp);
	return rc;
}

int bs_docker_open(struct bs_cdriver **out, const struct bs_endpoint *ep,
		   const struct bs_cdriver_opts *opts, struct bs_err *err)
{
	struct bs_http_opts hopts = BS_HTTP_OPTS_INIT;
	struct docker *dk = bs_xcalloc(1, sizeof(*dk));
	int rc;

	*out = NULL;
	dk->base.ops = &docker_ops;
	dk->base.display = ep->url ? ep->url : "engine";
	if (opts != NULL) {
		if (opts->connect_timeout_ms > 0)
			hopts.connect_timeout_ms = opts->connect_timeout_ms;
		if (opts->request_timeout_ms > 0)
			hopts.request_timeout_ms = opts->request_timeout_ms;
		hopts.stream_total_ms = opts->stream_timeout_ms;
		hopts.cancel = opts->cancel;
		hopts.interrupt = opts->interrupt;
	}
	rc = bs_http_new(&dk->http, ep, &hopts, err);
	if (rc == 0 && (opts == NULL || !opts->no_ping))
		rc = ping(dk, err);
	if (rc != 0) {
		docker_free(&dk->base);
		return rc;
	}
	/* min(ours, theirs): with the floor above, ours */
	dk->base.info.api_version = bs_xstrdup(BS_DOCKER_MIN_API);
	snprintf(dk->prefix, sizeof(dk->prefix), "/v%s", BS_DOCKER_MIN_API);
	*out = &dk->base;
	return 0;
}

const char *bs_docker_engine_version(struct bs_cdriver *d)
{
	struct docker *dk = (struct docker *)d;
	struct bs_err err = BS_ERR_INIT;

	if (d->info.version == NULL && d->ops == &docker_ops) { /* not a test's fake */
		take_server_header(dk, bs_http_server(dk->http));
		if (d->info.version == NULL)
			ping(dk, &err);
	}
	return d->info.version ? d->info.version : "unknown";
}

static const struct bs_cdriver_ops docker_ops = {
	.name = "docker",
	.free = docker_free,
	.container_list = docker_container_list,
	.container_inspect = docker_container_inspect,
	.container_deploy = docker_container_deploy,
	.container_create = docker_container_create,
	.container_start = docker_container_start,
	.container_stop = docker_container_stop,
	.container_restart = docker_container_restart,
	.container_destroy = docker_container_destroy,
	.container_logs = docker_container_logs,
	.container_top = docker_container_top,
	.container_stats = docker_container_stats,
	.container_changes = docker_container_changes,
	.container_update = docker_container_update,
	.container_rename = docker_container_rename,
	.container_put_file = docker_container_put_file,
	.container_get_file = docker_container_get_file,
	.container_exec = docker_container_exec,
	.image_list = docker_image_list,
	.image_inspect = docker_image_inspect,
	.image_pull = docker_image_pull,
	.image_distribution = docker_image_distribution,
	.image_build = docker_image_build,
	.image_remove = docker_image_remove,
	.image_save = docker_image_save,
	.image_load = docker_image_load,
	.network_ensure = docker_network_ensure,
	.volume_ensure = docker_volume_ensure,
	.network_remove = docker_network_remove,
	.volume_remove = docker_volume_remove,
	.events = docker_events,
	.cluster_member = bs_docker_cluster_member,
	.cluster_create = bs_docker_cluster_create,
	.cluster_join = bs_docker_cluster_join,
	.cluster_leave = bs_docker_cluster_leave,
	.cluster_inspect = bs_docker_cluster_inspect,
	.cluster_node_list = bs_docker_cluster_node_list,
	.cluster_node_update = bs_docker_cluster_node_update,
	.cluster_node_remove = bs_docker_cluster_node_remove,
	.service_list = bs_docker_service_list,
	.service_inspect = bs_docker_service_inspect,
	.service_create = bs_docker_service_create,
	.service_update = bs_docker_service_update,
	.service_remove = bs_docker_service_remove,
	.task_list = bs_docker_task_list,
	.service_logs = bs_docker_service_logs,
	.overlay_ensure = bs_docker_overlay_ensure,
};
