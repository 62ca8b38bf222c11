/*
 * recipe_json.c - the normalised recipe as JSON (bootstrap validate --json):
 * defaults filled in, node counts expanded, durations in milliseconds,
 * sizes in bytes, and every secret replaced by "***".
 */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/recipe.h"

#define REDACTED "***"

/* The secrets of the recipe being written; every string passes through
 * mask() so that a secret inside any value (a path, a user, a command)
 * shows as ***. Set for the duration of bs_recipe_to_json. */
struct writer {
	const struct bs_strv *secrets;
};

static cJSON *masked(const struct writer *w, const char *value)
{
	struct bs_buf out = BS_BUF_INIT;
	cJSON *s;

	bs_mask_append(&out, value, w->secrets);
	s = cJSON_CreateString(bs_buf_str(&out));
	bs_buf_free(&out);
	return s;
}

static void add_str(const struct writer *w, cJSON *obj, const char *key, const char *value)
{
	if (value != NULL)
		cJSON_AddItemToObject(obj, key, masked(w, value));
}

static void add_strv(const struct writer *w, cJSON *obj, const char *key, const struct bs_strv *sv)
{
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; i < sv->n; i++)
		cJSON_AddItemToArray(arr, masked(w, sv->v[i]));
	cJSON_AddItemToObject(obj, key, arr);
}

static void add_secret(const struct writer *w, cJSON *obj, const char *key, const char *value)
{
	(void)w;
	if (value != NULL)
		cJSON_AddStringToObject(obj, key, REDACTED);
}

static cJSON *kv_object(const struct writer *w, const struct bs_kvlist *l)
{
	cJSON *obj = cJSON_CreateObject();
	size_t i;

	for (i = 0; i < l->n; i++)
		cJSON_AddItemToObject(obj, l->v[i].key,
				      l->v[i].secret ? cJSON_CreateString(REDACTED)
						     : masked(w, l->v[i].value));
	return obj;
}

static cJSON *argv_array(const struct writer *w, const struct bs_strv *sv)
{
	cJSON *arr = cJSON_CreateArray();
	size_t i;

	for (i = 0; i < sv->n; i++)
		cJSON_AddItemToArray(arr, masked(w, sv->v[i]));
	return arr;
}

static cJSON *selectors_array(const struct writer *w, const struct bs_selectors *s)
{
	cJSON *arr = cJSON_CreateArray();
	size_t i;

	for (i = 0; i < s->n; i++) {
		char *text = s->v[i].value ? bs_xasprintf("%s=%s", s->v[i].key, s->v[i].value)
					   : bs_xstrdup(s->v[i].key);

		cJSON_AddItemToArray(arr, masked(w, text));
		free(text);
	}
	return arr;
}

static cJSON *provider_json(const struct writer *w, const struct bs_provider *p)
{
	cJSON *o = cJSON_CreateObject();
	bool hz = p->type == BS_PROVIDER_HETZNER;

	add_str(w, o, "type", bs_provider_type_name(p->type));
	switch (p->type) {
	case BS_PROVIDER_LOCAL:
		add_str(w, o, "image", p->image);
		add_str(w, o, "init", p->init == BS_NODE_INIT_NONE ? "none" : "systemd");
		add_str(w, o, "engine", p->engine);
		break;
	case BS_PROVIDER_STATIC:
	case BS_PROVIDER_ENGINE: break;
	case BS_PROVIDER_HETZNER:
	case BS_PROVIDER_DIGITALOCEAN:
		add_secret(w, o, "token", p->token);
		add_str(w, o, "token_env", p->token_env);
		add_str(w, o, hz ? "location" : "region", p->region);
		add_str(w, o, hz ? "server_type" : "size", p->size);
		add_str(w, o, "image", p->image);
		add_str(w, o, "api_url", p->api_url);
		break;
	}
	return o;
}

static cJSON *ssh_json(const struct writer *w, const struct bs_ssh_conf *s)
{
	cJSON *o = cJSON_CreateObject();

	add_str(w, o, "user", s->user);
	cJSON_AddNumberToObject(o, "port", s->port);
	add_str(w, o, "key", s->key);
	cJSON_AddBoolToObject(o, "agent", s->agent);
	add_secret(w, o, "passphrase", s->passphrase);
	add_secret(w, o, "password", s->password);
	if (s->known_hosts != NULL)
		add_str(w, o, "known_hosts", s->known_hosts);
	else /* the state directory's, at run time */
		add_str(w, o, "known_hosts", "$BOOTSTRAP_DIR/known_hosts");
	add_str(w, o, "host_keys", s->host_keys == BS_HOST_KEYS_STRICT ? "strict" : "accept-new");
	cJSON_AddNumberToObject(o, "connect_timeout_ms", (double)s->connect_timeout_ms);
	cJSON_AddNumberToObject(o, "wait_timeout_ms", (double)s->wait_timeout_ms);
	add_strv(w, o, "jump", &s->jump);
	return o;
}

static cJSON *nodes_json(const struct writer *w, const struct bs_recipe *r)
{
	cJSON *arr = cJSON_CreateArray();
	size_t i;

	for (i = 0; i < r->n_nodes; i++) {
		const struct bs_node *n = &r->nodes[i];
		cJSON *o = cJSON_CreateObject();

		add_str(w, o, "name", n->name);
		add_str(w, o, "group", n->group);
		if (n->index)
			cJSON_AddNumberToObject(o, "index", n->index);
		cJSON_AddItemToObject(o, "labels", kv_object(w, &n->labels));
		add_str(w, o, "address", n->address);
		if (n->port)
			cJSON_AddNumberToObject(o, "port", n->port);
		add_str(w, o, "user", n->user);
		add_str(w, o, "size", n->size);
		add_str(w, o, "engine", n->engine);
		if (n->jump_set)
			add_strv(w, o, "jump", &n->jump);
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

static cJSON *docker_json(const struct writer *w, const struct bs_docker_conf *d)
{
	cJSON *o = cJSON_CreateObject();

	add_str(w, o, "install", d->install == BS_DOCKER_INSTALL_NEVER ? "never" : "auto");
	add_str(w, o, "package", d->package);
	add_str(w, o, "version", d->version);
	add_str(w, o, "endpoint", d->endpoint == BS_DOCKER_ENDPOINT_TLS ? "tls" : "ssh");
	if (d->endpoint == BS_DOCKER_ENDPOINT_TLS)
		cJSON_AddNumberToObject(o, "tls_port", d->tls_port);
	if (d->daemon_json != NULL)
		cJSON_AddItemToObject(o, "daemon", cJSON_Parse(d->daemon_json));
	return o;
}

static cJSON *port_json(const struct writer *w, const struct bs_port *p)
{
	cJSON *o = cJSON_CreateObject();

	add_str(w, o, "host_ip", p->host_ip);
	if (p->host_start) {
		cJSON_AddNumberToObject(o, "host_start", p->host_start);
		cJSON_AddNumberToObject(o, "host_end", p->host_end);
	}
	cJSON_AddNumberToObject(o, "container_start", p->container_start);
	cJSON_AddNumberToObject(o, "container_end", p->container_end);
	add_str(w, o, "protocol", p->proto == BS_PROTO_UDP ? "udp" : "tcp");
	return o;
}

static cJSON *mount_json(const struct writer *w, const struct bs_mount *m)
{
	static const char *const types[] = {"volume", "bind", "anonymous", "local", "tmpfs"};
	cJSON *o = cJSON_CreateObject();

	add_str(w, o, "type", types[m->type]);
	add_str(w, o, "source", m->source);
	add_str(w, o, "target", m->target);
	cJSON_AddBoolToObject(o, "read_only", m->read_only);
	if (m->type == BS_MOUNT_TMPFS) {
		if (m->tmpfs_size)
			cJSON_AddNumberToObject(o, "tmpfs_size", (double)m->tmpfs_size);
		if (m->tmpfs_mode) {
			char mode[16];

			snprintf(mode, sizeof(mode), "%o", (unsigned)m->tmpfs_mode);
			cJSON_AddStringToObject(o, "tmpfs_mode", mode);
		}
		add_str(w, o, "tmpfs_options", m->tmpfs_options);
	}
	return o;
}

/* depends_on as Compose's long form: NAME: {condition, restart, required} */
static cJSON *depends_json(const struct writer *w, const struct bs_container *c)
{
	static const char *const conditions[] = {"service_started", "service_healthy",
						 "service_completed_successfully"};
	cJSON *o = cJSON_CreateObject();

	for (size_t i = 0; i < c->n_depends_on; i++) {
		const struct bs_dependency *d = &c->depends_on[i];
		cJSON *e = cJSON_CreateObject();

		add_str(w, e, "condition", conditions[d->condition]);
		cJSON_AddBoolToObject(e, "restart", d->restart);
		cJSON_AddBoolToObject(e, "required", !d->optional);
		cJSON_AddItemToObject(o, d->container, e);
	}
	return o;
}

/* compose's keys: capabilities, read_only, ulimits, extra_hosts, logging,
 * and the exposed ports (container side) */
static void service_keys_json(const struct writer *w, cJSON *o, const struct bs_container *c)
{
	cJSON *arr, *lim;
	size_t i;

	add_strv(w, o, "cap_add", &c->cap_add);
	add_strv(w, o, "cap_drop", &c->cap_drop);
	cJSON_AddBoolToObject(o, "read_only", c->read_only);
	lim = cJSON_AddObjectToObject(o, "ulimits");
	for (i = 0; i < c->n_ulimits; i++) {
		cJSON *u = cJSON_AddObjectToObject(lim, c->ulimits[i].name);

		cJSON_AddNumberToObject(u, "soft", (double)c->ulimits[i].soft);
		cJSON_AddNumberToObject(u, "hard", (double)c->ulimits[i].hard);
	}
	arr = cJSON_AddArrayToObject(o, "extra_hosts");
	for (i = 0; i < c->extra_hosts.n; i++) {
		char *h = bs_xasprintf("%s:%s", c->extra_hosts.v[i].key, c->extra_hosts.v[i].value);

		cJSON_AddItemToArray(arr, masked(w, h));
		free(h);
	}
	if (c->logging.driver != NULL || c->logging.options.n > 0) {
		cJSON *lg = cJSON_AddObjectToObject(o, "logging");

		add_str(w, lg, "driver", c->logging.driver);
		cJSON_AddItemToObject(lg, "options", kv_object(w, &c->logging.options));
	} else {
		cJSON_AddNullToObject(o, "logging");
	}
	arr = cJSON_AddArrayToObject(o, "exposed");
	for (i = 0; i < c->n_exposed; i++)
		cJSON_AddItemToArray(arr, port_json(w, &c->exposed[i]));
}

static cJSON *container_json(const struct writer *w, const struct bs_container *c)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *arr;
	size_t i;

	add_str(w, o, "name", c->name);
	add_str(w, o, "image", c->image);
	if (c->has_command)
		cJSON_AddItemToObject(o, "command", argv_array(w, &c->command));
	if (c->has_entrypoint)
		cJSON_AddItemToObject(o, "entrypoint", argv_array(w, &c->entrypoint));
	cJSON_AddItemToObject(o, "environment", kv_object(w, &c->environment));
	cJSON_AddItemToObject(o, "secrets", kv_object(w, &c->secrets));
	arr = cJSON_AddArrayToObject(o, "ports");
	for (i = 0; i < c->n_ports; i++)
		cJSON_AddItemToArray(arr, port_json(w, &c->ports[i]));
	arr = cJSON_AddArrayToObject(o, "volumes");
	for (i = 0; i < c->n_volumes; i++)
		cJSON_AddItemToArray(arr, mount_json(w, &c->volumes[i]));
	add_str(w, o, "restart", bs_restart_policy_name(c->restart));
	if (c->restart == BS_RESTART_ON_FAILURE && c->restart_max_retries)
		cJSON_AddNumberToObject(o, "restart_max_retries", c->restart_max_retries);
	if (c->healthcheck.present) {
		cJSON *h = cJSON_AddObjectToObject(o, "healthcheck");

		cJSON_AddBoolToObject(h, "disable", c->healthcheck.disable);
		cJSON_AddItemToObject(h, "test", argv_array(w, &c->healthcheck.test));
		cJSON_AddNumberToObject(h, "interval_ms", (double)c->healthcheck.interval_ms);
		cJSON_AddNumberToObject(h, "timeout_ms", (double)c->healthcheck.timeout_ms);
		cJSON_AddNumberToObject(h, "start_period_ms",
					(double)c->healthcheck.start_period_ms);
		cJSON_AddNumberToObject(h, "retries", c->healthcheck.retries);
	}
	cJSON_AddItemToObject(o, "labels", kv_object(w, &c->labels));
	add_str(w, o, "user", c->user);
	add_str(w, o, "working_dir", c->working_dir);
	cJSON_AddNumberToObject(o, "replicas", c->replicas);
	cJSON_AddItemToObject(o, "nodes", selectors_array(w, &c->nodes));
	{
		cJSON *res = cJSON_AddObjectToObject(o, "resources");

		if (c->resources.memory_bytes)
			cJSON_AddNumberToObject(res, "memory_bytes",
						(double)c->resources.memory_bytes);
		if (c->resources.nano_cpus)
			cJSON_AddNumberToObject(res, "nano_cpus", (double)c->resources.nano_cpus);
		if (c->resources.pids)
			cJSON_AddNumberToObject(res, "pids", (double)c->resources.pids);
	}
	cJSON_AddNumberToObject(o, "stop_timeout_ms", (double)c->stop_timeout_ms);
	add_str(w, o, "network", bs_net_mode_name(c->network));
	{
		cJSON *u = cJSON_AddObjectToObject(o, "update");

		add_str(w, u, "order", bs_update_order_name(c->update.order));
		cJSON_AddNumberToObject(u, "monitor_ms", (double)c->update.monitor_ms);
		cJSON_AddNumberToObject(u, "timeout_ms", (double)c->update.timeout_ms);
		cJSON_AddNumberToObject(u, "failure_logs", c->update.failure_logs);
		cJSON_AddNumberToObject(u, "parallelism", c->update.parallelism);
		cJSON_AddNumberToObject(u, "delay_ms", (double)c->update.delay_ms);
		add_str(w, u, "failure_action", bs_failure_action_name(c->update.failure_action));
	}
	add_str(w, o, "domain", c->domain);
	if (c->expose > 0)
		cJSON_AddNumberToObject(o, "expose", c->expose);
	else
		cJSON_AddNullToObject(o, "expose");
	service_keys_json(w, o, c);
	add_str(w, o, "container_name", c->container_name);
	cJSON_AddItemToObject(o, "depends_on", depends_json(w, c));
	return o;
}

char *bs_recipe_to_json(const struct bs_recipe *r)
{
	struct writer writer = {&r->secrets};
	const struct writer *w = &writer;
	cJSON *root = cJSON_CreateObject();
	cJSON *arr;
	char *text;
	size_t i;

	cJSON_AddNumberToObject(root, "version", r->version);
	add_str(w, root, "project", r->project);
	cJSON_AddItemToObject(root, "provider", provider_json(w, &r->provider));
	cJSON_AddItemToObject(root, "ssh", ssh_json(w, &r->ssh));
	cJSON_AddItemToObject(root, "nodes", nodes_json(w, r));
	cJSON_AddItemToObject(root, "docker", docker_json(w, &r->docker));
	if (r->cluster.type == BS_CLUSTER_SWARM) {
		cJSON *c = cJSON_AddObjectToObject(root, "cluster");

		add_str(w, c, "type", "swarm");
		cJSON_AddItemToObject(c, "managers", selectors_array(w, &r->cluster.managers));
		add_str(w, c, "publish", bs_publish_mode_name(r->cluster.publish));
		add_str(w, c, "encrypt", bs_encrypt_mode_name(r->cluster.encrypt));
		if (r->cluster.advertise != NULL)
			add_str(w, c, "advertise", r->cluster.advertise);
		else
			cJSON_AddNullToObject(c, "advertise");
	} else {
		cJSON_AddNullToObject(root, "cluster");
	}
	{
		cJSON *d = cJSON_AddObjectToObject(root, "domains");

		add_str(w, d, "base", r->domains.base);
		add_str(w, d, "tls", bs_tls_mode_name(r->domains.tls));
		add_str(w, d, "email", r->domains.email);
		add_str(w, d, "proxy", r->domains.proxy);
		add_str(w, d, "cert", r->domains.cert_file);
		add_str(w, d, "key", r->domains.key_file);
	}
	arr = cJSON_AddArrayToObject(root, "registries");
	for (i = 0; i < r->n_registries; i++) {
		cJSON *o = cJSON_CreateObject();

		add_str(w, o, "server", r->registries[i].server);
		add_str(w, o, "username", r->registries[i].username);
		add_secret(w, o, "password", r->registries[i].password);
		cJSON_AddItemToArray(arr, o);
	}
	arr = cJSON_AddArrayToObject(root, "images");
	for (i = 0; i < r->n_images; i++) {
		const struct bs_image *img = &r->images[i];
		cJSON *o = cJSON_CreateObject();

		add_str(w, o, "name", img->name);
		add_str(w, o, "pull", bs_pull_policy_name(img->pull));
		if (img->build_git != NULL || img->build_context != NULL) {
			cJSON *b = cJSON_AddObjectToObject(o, "build");

			if (img->build_git != NULL)
				add_str(w, b, "git", img->build_git);
			if (img->build_context != NULL) {
				add_str(w, b, "context", img->build_context);
				add_str(w, b, "context_hash", img->context_hash);
			}
			add_str(w, b, "dockerfile", img->build_dockerfile);
			if (img->build_target != NULL)
				add_str(w, b, "target", img->build_target);
			cJSON_AddItemToObject(b, "args", kv_object(w, &img->build_args));
		}
		cJSON_AddItemToObject(o, "nodes", selectors_array(w, &img->nodes));
		cJSON_AddItemToArray(arr, o);
	}
	arr = cJSON_AddArrayToObject(root, "containers");
	for (i = 0; i < r->n_containers; i++)
		cJSON_AddItemToArray(arr, container_json(w, &r->containers[i]));
	cJSON_AddBoolToObject(root, "prune", r->prune);
	text = cJSON_Print(root);
	cJSON_Delete(root);
	return text;
}
