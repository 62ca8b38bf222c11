/*
 * spec.c - the canonical container spec, its hash and a readable diff.
 *
 * Canonical means: the same recipe gives the same bytes on every machine
 * and every run. Keys are written in a fixed order, maps sorted by key,
 * lists kept in the recipe's order (order matters for command, ports and
 * mounts), absent values left out rather than written as defaults.
 */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/spec.h"
#include "util/log.h"
#include "util/str.h"

/* Bump when the meaning of a spec field, or a default bootstrap applies at
 * create (hardening, log rotation), changes: every container is then
 * replaced once, visibly, with the reason "bootstrap's defaults". */
#define SPEC_DEFAULTS 1

static int kv_cmp(const void *a, const void *b)
{
	const struct bs_kv *x = *(const struct bs_kv *const *)a;
	const struct bs_kv *y = *(const struct bs_kv *const *)b;

	return strcmp(x->key, y->key);
}

/* A map sorted by key; secret values (and every value when all_secret)
 * replaced by a hash salted with the project and the key. */
static cJSON *sorted_map(const struct bs_recipe *r, const struct bs_kvlist *l, bool all_secret)
{
	const struct bs_kv **v;
	cJSON *o = cJSON_CreateObject();
	size_t i;

	if (l->n == 0)
		return o;
	v = bs_xcalloc(l->n, sizeof(*v));
	for (i = 0; i < l->n; i++)
		v[i] = &l->v[i];
	qsort(v, l->n, sizeof(*v), kv_cmp);
	for (i = 0; i < l->n; i++) {
		if (all_secret || v[i]->secret) {
			struct bs_buf b = BS_BUF_INIT;
			char hex[65], *shown;

			bs_buf_printf(&b, "%s%c%s%c%s", r->project, 0, v[i]->key, 0,
				      v[i]->value ? v[i]->value : "");
			bs_sha256_hex(b.data, b.len, hex);
			bs_buf_wipe_free(&b);
			shown = bs_xasprintf("secret:%.16s", hex);
			cJSON_AddStringToObject(o, v[i]->key, shown);
			free(shown);
		} else {
			cJSON_AddStringToObject(o, v[i]->key, v[i]->value ? v[i]->value : "");
		}
	}
	free(v);
	return o;
}

static cJSON *strv_array(const struct bs_strv *sv)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; i < sv->n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(sv->v[i]));
	return a;
}

static void add_port(cJSON *a, const struct bs_port *p)
{
	struct bs_buf b = BS_BUF_INIT;

	if (p->host_ip != NULL)
		bs_buf_printf(&b, "%s:", p->host_ip);
	if (p->host_start > 0) {
		bs_buf_printf(&b, "%d", p->host_start);
		if (p->host_end > p->host_start)
			bs_buf_printf(&b, "-%d", p->host_end);
		bs_buf_putc(&b, ':');
	} else if (p->host_ip != NULL) {
		bs_buf_putc(&b, ':');
	}
	bs_buf_printf(&b, "%d", p->container_start);
	if (p->container_end > p->container_start)
		bs_buf_printf(&b, "-%d", p->container_end);
	bs_buf_puts(&b, p->proto == BS_PROTO_UDP ? "/udp" : "/tcp");
	cJSON_AddItemToArray(a, cJSON_CreateString(b.data));
	bs_buf_free(&b);
}

static void add_mount(cJSON *a, const struct bs_mount *m)
{
	static const char *const types[] = {"volume", "bind", "anonymous", "local", "tmpfs"};
	char *s;

	if (m->type == BS_MOUNT_TMPFS && m->tmpfs_options != NULL) /* as written */
		s = bs_xasprintf("tmpfs::%s%s%s", m->target, m->tmpfs_options[0] ? ":" : "",
				 m->tmpfs_options);
	else if (m->type == BS_MOUNT_TMPFS)
		s = bs_xasprintf("tmpfs::%s:size=%lld,mode=%o%s", m->target,
				 (long long)m->tmpfs_size, (unsigned)m->tmpfs_mode,
				 m->read_only ? ":ro" : "");
	else
		s = bs_xasprintf("%s:%s:%s%s", types[m->type], m->source ? m->source : "",
				 m->target, m->read_only ? ":ro" : "");

	cJSON_AddItemToArray(a, cJSON_CreateString(s));
	free(s);
}

static cJSON *health_json(const struct bs_healthcheck *h)
{
	cJSON *o = cJSON_CreateObject();

	if (h->disable) {
		cJSON_AddBoolToObject(o, "disable", true);
		return o;
	}
	cJSON_AddItemToObject(o, "test", strv_array(&h->test));
	if (h->interval_ms)
		cJSON_AddNumberToObject(o, "interval_ms", (double)h->interval_ms);
	if (h->timeout_ms)
		cJSON_AddNumberToObject(o, "timeout_ms", (double)h->timeout_ms);
	if (h->start_period_ms)
		cJSON_AddNumberToObject(o, "start_period_ms", (double)h->start_period_ms);
	if (h->retries)
		cJSON_AddNumberToObject(o, "retries", h->retries);
	return o;
}

static int ulimit_cmp(const void *a, const void *b)
{
	return strcmp(((const struct bs_ulimit *)a)->name, ((const struct bs_ulimit *)b)->name);
}

/* "80/tcp" for each exposed port, ranges spread. */
static void exposed_ports(const struct bs_container *c, struct bs_strv *out)
{
	for (size_t i = 0; i < c->n_exposed; i++) {
		const struct bs_port *p = &c->exposed[i];

		for (int k = p->container_start; k <= p->container_end; k++) {
			char *s =
				bs_xasprintf("%d/%s", k, p->proto == BS_PROTO_UDP ? "udp" : "tcp");

			bs_strv_push(out, s);
			free(s);
		}
	}
}

/* compose's keys, each only when the recipe has it: capabilities and
 * extra hosts in the recipe's order, ulimits by name, log options sorted. */
static void service_keys_json(const struct bs_recipe *r, cJSON *o, const struct bs_container *c)
{
	size_t i;

	if (c->cap_add.n)
		cJSON_AddItemToObject(o, "cap_add", strv_array(&c->cap_add));
	if (c->cap_drop.n)
		cJSON_AddItemToObject(o, "cap_drop", strv_array(&c->cap_drop));
	if (c->read_only)
		cJSON_AddBoolToObject(o, "read_only", true);
	if (c->n_ulimits) {
		struct bs_ulimit *u = bs_xcalloc(c->n_ulimits, sizeof(*u));
		cJSON *lim = cJSON_AddObjectToObject(o, "ulimits");

		memcpy(u, c->ulimits, c->n_ulimits * sizeof(*u));
		qsort(u, c->n_ulimits, sizeof(*u), ulimit_cmp);
		for (i = 0; i < c->n_ulimits; i++) {
			char *v = bs_xasprintf("%lld:%lld", (long long)u[i].soft,
					       (long long)u[i].hard);

			cJSON_AddStringToObject(lim, u[i].name, v);
			free(v);
		}
		free(u);
	}
	if (c->extra_hosts.n) {
		cJSON *a = cJSON_AddArrayToObject(o, "extra_hosts");

		for (i = 0; i < c->extra_hosts.n; i++) {
			char *h = bs_xasprintf("%s:%s", c->extra_hosts.v[i].key,
					       c->extra_hosts.v[i].value);

			cJSON_AddItemToArray(a, cJSON_CreateString(h));
			free(h);
		}
	}
	if (c->logging.driver != NULL || c->logging.options.n) {
		cJSON *lg = cJSON_AddObjectToObject(o, "logging");

		if (c->logging.driver != NULL)
			cJSON_AddStringToObject(lg, "driver", c->logging.driver);
		if (c->logging.options.n)
			cJSON_AddItemToObject(lg, "options",
					      sorted_map(r, &c->logging.options, false));
	}
	if (c->n_exposed) {
		struct bs_strv ports = {0};

		exposed_ports(c, &ports);
		cJSON_AddItemToObject(o, "exposed", strv_array(&ports));
		bs_strv_free(&ports);
	}
}

char *bs_spec_json(const struct bs_recipe *r, const struct bs_container *c)
{
	cJSON *o = cJSON_CreateObject(), *a;
	char *text;
	size_t i;

	cJSON_AddNumberToObject(o, "defaults", SPEC_DEFAULTS);
	cJSON_AddStringToObject(o, "image", c->image);
	if (c->has_entrypoint)
		cJSON_AddItemToObject(o, "entrypoint", strv_array(&c->entrypoint));
	if (c->has_command)
		cJSON_AddItemToObject(o, "command", strv_array(&c->command));
	if (c->environment.n)
		cJSON_AddItemToObject(o, "environment", sorted_map(r, &c->environment, false));
	if (c->secrets.n)
		cJSON_AddItemToObject(o, "secrets", sorted_map(r, &c->secrets, true));
	if (c->n_ports) {
		a = cJSON_AddArrayToObject(o, "ports");
		for (i = 0; i < c->n_ports; i++)
			add_port(a, &c->ports[i]);
	}
	if (c->n_volumes) {
		a = cJSON_AddArrayToObject(o, "volumes");
		for (i = 0; i < c->n_volumes; i++)
			add_mount(a, &c->volumes[i]);
	}
	if (c->healthcheck.present)
		cJSON_AddItemToObject(o, "healthcheck", health_json(&c->healthcheck));
	if (c->labels.n)
		cJSON_AddItemToObject(o, "labels", sorted_map(r, &c->labels, false));
	if (c->user)
		cJSON_AddStringToObject(o, "user", c->user);
	if (c->working_dir)
		cJSON_AddStringToObject(o, "working_dir", c->working_dir);
	if (c->network != BS_NET_PROJECT) /* absent for the default: older hashes hold */
		cJSON_AddStringToObject(o, "network", bs_net_mode_name(c->network));
	service_keys_json(r, o, c);
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

static const char **argv_of(const struct bs_strv *sv)
{
	const char **v = bs_xcalloc(sv->n + 1, sizeof(*v));

	for (size_t i = 0; i < sv->n; i++)
		v[i] = sv->v[i];
	return v;
}

static const char **argv_or_null(const struct bs_strv *sv)
{
	return sv->n ? argv_of(sv) : NULL;
}

static void task_fill_service_keys(const struct bs_container *c, struct bs_task_store *st)
{
	struct bs_cspec *s = &st->spec;
	size_t i;

	s->cap_add = st->cap_add = argv_or_null(&c->cap_add);
	s->cap_drop = st->cap_drop = argv_or_null(&c->cap_drop);
	s->read_only_rootfs = c->read_only;
	if (c->n_ulimits) {
		st->ulimits = bs_xcalloc(c->n_ulimits, sizeof(*st->ulimits));
		for (i = 0; i < c->n_ulimits; i++) {
			st->ulimits[i].name = c->ulimits[i].name;
			st->ulimits[i].soft = c->ulimits[i].soft;
			st->ulimits[i].hard = c->ulimits[i].hard;
		}
		s->ulimits = st->ulimits;
		s->n_ulimits = c->n_ulimits;
	}
	for (i = 0; i < c->extra_hosts.n; i++) {
		char *h = bs_xasprintf("%s:%s", c->extra_hosts.v[i].key, c->extra_hosts.v[i].value);

		bs_strv_push(&st->extra_hosts, h);
		free(h);
	}
	exposed_ports(c, &st->exposed);
	s->extra_hosts = st->hosts_argv = argv_or_null(&st->extra_hosts);
	s->exposed = st->exposed_argv = argv_or_null(&st->exposed);
	s->log_driver = c->logging.driver;
	if (c->logging.driver != NULL || c->logging.options.n)
		s->log_options = &c->logging.options;
}

void bs_task_fill(const struct bs_recipe *r, const struct bs_container *c, struct bs_task_store *st)
{
	struct bs_cspec *s = &st->spec;
	size_t i;

	memset(st, 0, sizeof(*st));
	for (i = 0; i < c->environment.n; i++)
		bs_kvlist_push(&st->env, c->environment.v[i].key, c->environment.v[i].value,
			       c->environment.v[i].secret);
	for (i = 0; i < c->secrets.n; i++)
		bs_kvlist_push(&st->env, c->secrets.v[i].key, c->secrets.v[i].value, true);
	for (i = 0; i < c->labels.n; i++)
		bs_kvlist_push(&st->labels, c->labels.v[i].key, c->labels.v[i].value, false);
	st->mounts = bs_xcalloc(c->n_volumes ? c->n_volumes : 1, sizeof(*st->mounts));
	st->volume_names = bs_xcalloc(c->n_volumes ? c->n_volumes : 1, sizeof(char *));
	for (i = 0; i < c->n_volumes; i++) {
		const struct bs_mount *m = &c->volumes[i];

		/* a local file is a bind of its copy on the node */
		st->mounts[i].type = m->type == BS_MOUNT_BIND || m->type == BS_MOUNT_LOCAL ? "bind"
				     : m->type == BS_MOUNT_TMPFS			   ? "tmpfs"
								 : "volume";
		if (m->type == BS_MOUNT_VOLUME)
			st->volume_names[i] = bs_volume_name(r->project, m->source);
		st->mounts[i].source = m->type == BS_MOUNT_VOLUME ? st->volume_names[i] : m->source;
		st->mounts[i].target = m->target;
		st->mounts[i].read_only = m->read_only;
		st->mounts[i].tmpfs_size = m->tmpfs_size;
		st->mounts[i].tmpfs_mode = m->tmpfs_mode;
		st->mounts[i].tmpfs_options = m->tmpfs_options;
	}
	task_fill_service_keys(c, st);
	s->image = c->image;
	if (c->has_command)
		s->cmd = st->cmd = argv_of(&c->command);
	if (c->has_entrypoint)
		s->entrypoint = st->entrypoint = argv_of(&c->entrypoint);
	s->env = &st->env;
	s->labels = &st->labels;
	s->mounts = st->mounts;
	s->n_mounts = c->n_volumes;
	if (c->healthcheck.present) {
		static const char *const none[] = {"NONE", NULL};

		if (c->healthcheck.disable)
			s->health_test = none;
		else
			s->health_test = st->health = argv_of(&c->healthcheck.test);
		s->health_interval_ns = c->healthcheck.interval_ms * 1000000;
		s->health_timeout_ns = c->healthcheck.timeout_ms * 1000000;
		s->health_start_period_ns = c->healthcheck.start_period_ms * 1000000;
		s->health_retries = c->healthcheck.retries;
	}
	s->user = c->user;
	s->working_dir = c->working_dir;
}

void bs_task_store_free(struct bs_task_store *st)
{
	bs_kvlist_free(&st->env);
	bs_kvlist_free(&st->labels);
	for (size_t i = 0; i < st->spec.n_mounts; i++)
		free(st->volume_names[i]);
	free(st->volume_names);
	free(st->mounts);
	free(st->cmd);
	free(st->entrypoint);
	free(st->health);
	free(st->cap_add);
	free(st->cap_drop);
	free(st->ulimits);
	bs_strv_free(&st->extra_hosts);
	bs_strv_free(&st->exposed);
	free(st->hosts_argv);
	free(st->exposed_argv);
}

char *bs_service_spec_json(const struct bs_recipe *r, const struct bs_container *c)
{
	char *base = bs_spec_json(r, c), *text;
	cJSON *o = cJSON_Parse(base), *sv, *u;

	free(base);
	if (o == NULL)
		abort(); /* our own output */
	sv = cJSON_AddObjectToObject(o, "service");
	cJSON_AddStringToObject(sv, "restart", bs_restart_policy_name(c->restart));
	if (c->restart_max_retries)
		cJSON_AddNumberToObject(sv, "restart_max", c->restart_max_retries);
	if (c->resources.memory_bytes)
		cJSON_AddNumberToObject(sv, "memory", (double)c->resources.memory_bytes);
	if (c->resources.nano_cpus)
		cJSON_AddNumberToObject(sv, "nano_cpus", (double)c->resources.nano_cpus);
	if (c->resources.pids)
		cJSON_AddNumberToObject(sv, "pids", (double)c->resources.pids);
	cJSON_AddNumberToObject(sv, "stop_timeout_ms", (double)c->stop_timeout_ms);
	if (c->n_ports)
		cJSON_AddStringToObject(sv, "publish", bs_publish_mode_name(r->cluster.publish));
	u = cJSON_AddObjectToObject(sv, "update");
	cJSON_AddNumberToObject(u, "parallelism", c->update.parallelism);
	cJSON_AddNumberToObject(u, "delay_ms", (double)c->update.delay_ms);
	cJSON_AddStringToObject(u, "failure_action",
				bs_failure_action_name(c->update.failure_action));
	cJSON_AddStringToObject(u, "order", bs_update_order_name(c->update.order));
	cJSON_AddNumberToObject(u, "monitor_ms", (double)c->update.monitor_ms);
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

char *bs_spec_hash(const char *spec_json, const char *image_id)
{
	struct bs_buf b = BS_BUF_INIT;
	char hex[65];

	bs_buf_printf(&b, "%s\n%s", spec_json, image_id ? image_id : "");
	bs_sha256_hex(b.data, b.len, hex);
	bs_buf_free(&b);
	return bs_xstrdup(hex);
}

/* A value as a short readable text: strings bare, the rest as JSON. */
static void value_text(struct bs_buf *b, const cJSON *v)
{
	char *s;

	if (v == NULL) {
		bs_buf_puts(b, "(none)");
		return;
	}
	if (cJSON_IsString(v)) {
		s = bs_xstrdup(v->valuestring);
	} else {
		s = cJSON_PrintUnformatted(v);
	}
	{
		/* mask before cutting: half a secret would not be recognised */
		struct bs_buf m = BS_BUF_INIT;

		bs_secret_mask(&m, s);
		if (m.len > 120)
			bs_buf_printf(b, "%.117s...", m.data);
		else
			bs_buf_puts(b, bs_buf_str(&m));
		bs_buf_free(&m);
	}
	free(s);
}

/* A value the spec holds as a salted hash: only "changed" is shown. */
static bool secret_value(const cJSON *v)
{
	return cJSON_IsString(v) && bs_str_starts_with(v->valuestring, "secret:");
}

static void diff_item(struct bs_buf *out, const char *path, const cJSON *a, const cJSON *b)
{
	if (a != NULL && b != NULL && cJSON_Compare(a, b, true))
		return;
	if (out->len)
		bs_buf_puts(out, "; ");
	if (bs_str_starts_with(path, "secrets.") || secret_value(a) || secret_value(b)) {
		bs_buf_printf(out, "%s %s", path,
			      a == NULL	  ? "added"
			      : b == NULL ? "removed"
					  : "changed");
		return;
	}
	bs_buf_printf(out, "%s: ", path);
	value_text(out, a);
	bs_buf_puts(out, " -> ");
	value_text(out, b);
}

/* Keys of both objects, a's first, then b's new ones. */
static void diff_objects(struct bs_buf *out, const char *prefix, const cJSON *a, const cJSON *b)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, a)
	{
		char *path =
			prefix ? bs_xasprintf("%s.%s", prefix, it->string) : bs_xstrdup(it->string);
		const cJSON *other = cJSON_GetObjectItemCaseSensitive(b, it->string);

		if (prefix == NULL && cJSON_IsObject(it) && cJSON_IsObject(other) &&
		    strcmp(it->string, "healthcheck") != 0)
			diff_objects(out, path, it, other);
		else
			diff_item(out, path, it, other);
		free(path);
	}
	cJSON_ArrayForEach(it, b)
	{
		char *path;

		if (cJSON_GetObjectItemCaseSensitive(a, it->string) != NULL)
			continue;
		path = prefix ? bs_xasprintf("%s.%s", prefix, it->string) : bs_xstrdup(it->string);
		if (prefix == NULL && cJSON_IsObject(it) &&
		    strcmp(it->string, "healthcheck") != 0) {
			cJSON *empty = cJSON_CreateObject();

			diff_objects(out, path, empty, it);
			cJSON_Delete(empty);
		} else {
			diff_item(out, path, NULL, it);
		}
		free(path);
	}
}

char *bs_spec_diff(const char *old_json, const char *new_json)
{
	cJSON *a, *b;
	struct bs_buf out = BS_BUF_INIT;

	if (old_json != NULL && new_json != NULL && strcmp(old_json, new_json) == 0)
		return NULL;
	a = old_json ? cJSON_Parse(old_json) : NULL;
	b = new_json ? cJSON_Parse(new_json) : NULL;
	if (!cJSON_IsObject(a) || !cJSON_IsObject(b)) {
		bs_buf_puts(&out, "made without a readable io.bootstrap.spec label (by hand, or by "
				  "another tool)");
	} else {
		diff_objects(&out, NULL, a, b);
		if (out.len == 0)
			bs_buf_puts(&out, "spec written differently (same content)");
	}
	cJSON_Delete(a);
	cJSON_Delete(b);
	return bs_buf_detach(&out);
}

char *bs_instance_name(const char *project, const char *container, int replica)
{
	return bs_xasprintf("%s-%s-%d", project, container, replica);
}

char *bs_replica_name(const char *project, const struct bs_container *c, int replica)
{
	if (c->container_name != NULL)
		return bs_xstrdup(c->container_name);
	return bs_instance_name(project, c->name, replica);
}

char *bs_volume_name(const char *project, const char *volume)
{
	return bs_xasprintf("%s-%s", project, volume);
}

char *bs_network_name(const char *project)
{
	return bs_xasprintf("%s-net", project);
}

char *bs_image_repo_digest(const char *ref, const struct bs_strv *digests, const char *served)
{
	size_t len = strcspn(ref, "@");
	const char *slash = memrchr(ref, '/', len);
	const char *base = slash ? slash : ref;
	const char *colon = memrchr(base, ':', len - (size_t)(base - ref));
	const char *first = NULL;

	if (colon != NULL)
		len = (size_t)(colon - ref);
	for (size_t i = 0; i < digests->n; i++) {
		const char *d = digests->v[i];

		if (strncmp(d, ref, len) != 0 || d[len] != '@')
			continue;
		if (served != NULL && strcmp(d + len + 1, served) == 0)
			return bs_xstrdup(d);
		if (first == NULL)
			first = d;
	}
	return first ? bs_xstrdup(first) : NULL;
}
