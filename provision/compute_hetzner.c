/*
 * compute_hetzner.c - the Hetzner Cloud compute driver (API v1,
 * https://docs.hetzner.cloud): servers labelled
 * bootstrap.project=<project> and bootstrap.node=<node>, found with a
 * label_selector, created with the project's SSH key.
 *
 * Traps handled here:
 *   - server names are unique in a Hetzner project: a create answered 409
 *     uniqueness_error looks the server up by name and adopts it when its
 *     labels say it is this node of this project (a run that died after the
 *     POST), else fails naming the server and the fix. A server still being
 *     deleted is waited for, then created anew.
 *   - a create answered 5xx or timing out may still have made the server:
 *     the same lookup runs before the POST is tried again.
 *   - creating returns an action (and next_actions): they are remembered
 *     and polled by wait_running, so an action that ends in "error" fails
 *     the node with Hetzner's own message instead of a silent timeout.
 *   - SSH keys are found by MD5 fingerprint (GET /ssh_keys?fingerprint=);
 *     key names are unique too, so a name taken by another key gets the
 *     fingerprint as a suffix. The SHA256 fingerprint of the key a server
 *     was created with goes into its label bootstrap.ssh-key.
 *   - a server "off" is powered on by start() (POST .../actions/poweron);
 *     DELETE removes a server in any power state.
 *   - a read-only token is answered 401 token_readonly, maintenance and
 *     409 conflict are retried (cloud_rest.c).
 *   - check() reads /locations, /server_types (their "deprecation", per
 *     type and per location) and /images before the first server is
 *     ordered: a name Hetzner does not know, or no longer sells, is an
 *     error at its recipe line with the closest valid names.
 *
 * One driver instance (and its REST client) belongs to one thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "provision/cloud_rest.h"
#include "provision/compute.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/str.h"

#define DEFAULT_URL "https://api.hetzner.cloud/v1"
#define ACTION_WAIT_MS (5 * 60 * 1000) /* a delete takes seconds */
#define GONE_WAIT_MS (2 * 60 * 1000)   /* a server being deleted, before re-creating it */
#define CREATE_TRIES 3

struct pending_action {
	char *server_id;
	char *action_id;
};

struct hetzner {
	struct bs_compute base; /* first: the driver is used as a struct bs_compute */
	struct bs_rest *rest;
	const char *project; /* the recipe's */
	bool have_key;
	double key_id;
	struct pending_action *pending;
	size_t n_pending;
};

enum bs_node_state bs_hetzner_state(const char *status)
{
	static const struct {
		const char *name;
		enum bs_node_state state;
	} map[] = {
		{"running", BS_NODE_RUNNING},	{"initializing", BS_NODE_PENDING},
		{"starting", BS_NODE_STARTING}, {"stopping", BS_NODE_STOPPING},
		{"off", BS_NODE_STOPPED},	{"deleting", BS_NODE_TERMINATED},
		{"migrating", BS_NODE_PENDING}, {"rebuilding", BS_NODE_PENDING},
	};
	size_t i;

	for (i = 0; status != NULL && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(status, map[i].name) == 0)
			return map[i].state;
	return BS_NODE_UNKNOWN;
}

/* A number field, or -1 when absent or not a number. */
static double num_at(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static const char *str_at(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) && v->valuestring[0] != '\0' ? v->valuestring : NULL;
}

int bs_hetzner_machine(struct bs_machine *out, const cJSON *server, struct bs_err *err)
{
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(server, "labels");
	const cJSON *net = cJSON_GetObjectItemCaseSensitive(server, "public_net");
	const cJSON *ipv4 = cJSON_GetObjectItemCaseSensitive(net, "ipv4");
	const cJSON *loc = cJSON_GetObjectItemCaseSensitive(server, "location");
	const char *status = str_at(server, "status");
	const char *node = str_at(labels, BS_HETZNER_LABEL_NODE);
	char *id = bs_rest_id_string(cJSON_GetObjectItemCaseSensitive(server, "id"));

	memset(out, 0, sizeof(*out));
	if (!cJSON_IsObject(server) || id == NULL || status == NULL) {
		free(id);
		return bs_err_set(err, BS_ERR_PROTOCOL,
				  "hetzner: a server object lacks its id or status");
	}
	/* "location" is the current field; "datacenter" (with its location) is
	 * deprecated but still sent (docs.hetzner.cloud, Servers: the Server
	 * object; changelog "datacenter property of servers deprecated") */
	if (!cJSON_IsObject(loc))
		loc = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(server, "datacenter"), "location");
	out->id = id;
	out->name = bs_xstrdup(node ? node : str_at(server, "name") ? str_at(server, "name") : id);
	out->project = bs_xstrdup_opt(str_at(labels, BS_HETZNER_LABEL_PROJECT));
	out->state = bs_hetzner_state(status);
	out->ssh_host = bs_xstrdup_opt(str_at(ipv4, "ip"));
	out->ssh_port = 22;
	out->size = bs_xstrdup_opt(
		str_at(cJSON_GetObjectItemCaseSensitive(server, "server_type"), "name"));
	out->image =
		bs_xstrdup_opt(str_at(cJSON_GetObjectItemCaseSensitive(server, "image"), "name"));
	out->region = bs_xstrdup_opt(str_at(loc, "name"));
	out->ssh_key = bs_compute_key_from_label(str_at(labels, BS_HETZNER_LABEL_KEY));
	return 0;
}

/* ---- helpers ------------------------------------------------------------------------ */

static bool cancelled(const struct hetzner *h)
{
	return h->base.opts.cancel != NULL && *h->base.opts.cancel;
}

/* Sleep in 100 ms steps; false when cancelled. */
static bool nap(const struct hetzner *h, long ms)
{
	long long end = bs_now_ms() + ms;

	while (!cancelled(h)) {
		long long left = end - bs_now_ms();
		struct timespec ts = {0, 100 * 1000000L};

		if (left <= 0)
			return true;
		if (left < 100)
			ts.tv_nsec = (long)left * 1000000L;
		nanosleep(&ts, NULL);
	}
	return false;
}

static long next_interval(long ms)
{
	ms = ms * 3 / 2;
	return ms > 5000 ? 5000 : ms;
}

static bool labels_are(const cJSON *server, const char *project, const char *node)
{
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(server, "labels");
	const char *p = str_at(labels, BS_HETZNER_LABEL_PROJECT);
	const char *n = str_at(labels, BS_HETZNER_LABEL_NODE);

	return p != NULL && n != NULL && strcmp(p, project) == 0 && strcmp(n, node) == 0;
}

static void forget_actions(struct hetzner *h, const char *server_id)
{
	size_t i = 0;

	while (i < h->n_pending) {
		if (strcmp(h->pending[i].server_id, server_id) == 0) {
			free(h->pending[i].server_id);
			free(h->pending[i].action_id);
			h->pending[i] = h->pending[--h->n_pending];
		} else {
			i++;
		}
	}
}

static void remember_action(struct hetzner *h, const char *server_id, const cJSON *action)
{
	char *id = bs_rest_id_string(cJSON_GetObjectItemCaseSensitive(action, "id"));

	if (id == NULL)
		return;
	h->pending = bs_xrealloc(h->pending, (h->n_pending + 1) * sizeof(*h->pending));
	h->pending[h->n_pending].server_id = bs_xstrdup(server_id);
	h->pending[h->n_pending].action_id = id;
	h->n_pending++;
}

int bs_hetzner_action_outcome(const cJSON *action, const char *what, bool *done, struct bs_err *err)
{
	const char *status = str_at(action, "status");
	const cJSON *aerr = cJSON_GetObjectItemCaseSensitive(action, "error");
	const char *command = str_at(action, "command");

	*done = status != NULL && strcmp(status, "running") != 0;
	if (status == NULL || strcmp(status, "error") != 0)
		return 0;
	return bs_err_set(err, BS_ERR_API, "hetzner: %s: action %s failed: %s%s%s", what,
			  command ? command : "?", str_at(aerr, "code") ? str_at(aerr, "code") : "",
			  str_at(aerr, "code") ? ": " : "",
			  str_at(aerr, "message") ? str_at(aerr, "message")
						  : "(Hetzner gave no reason)");
}

/* Poll the actions started for server_id; the first that failed fails. */
static int check_actions(struct hetzner *h, const char *server_id, const char *what,
			 struct bs_err *err)
{
	size_t i = 0;
	int rc = 0;

	while (i < h->n_pending && rc == 0) {
		struct bs_rest_reply reply;
		char *path;
		bool done = false;

		if (strcmp(h->pending[i].server_id, server_id) != 0) {
			i++;
			continue;
		}
		path = bs_xasprintf("/actions/%s", h->pending[i].action_id);
		rc = bs_rest_call(h->rest, "GET", path, NULL, BS_REST_IDEMPOTENT, &reply, err);
		if (rc == BS_ERR_NOT_FOUND) {
			rc = 0;
			done = true;
		} else if (rc == 0) {
			rc = bs_hetzner_action_outcome(
				cJSON_GetObjectItemCaseSensitive(reply.json, "action"), what, &done,
				err);
		}
		free(path);
		bs_rest_reply_free(&reply);
		if (rc == 0 && done) {
			free(h->pending[i].server_id);
			free(h->pending[i].action_id);
			h->pending[i] = h->pending[--h->n_pending];
		} else {
			i++;
		}
	}
	return rc;
}

/* Wait for one action to finish (bounded). */
static int wait_action(struct hetzner *h, const cJSON *action, const char *what, struct bs_err *err)
{
	char *id = bs_rest_id_string(cJSON_GetObjectItemCaseSensitive(action, "id"));
	char *path = id ? bs_xasprintf("/actions/%s", id) : NULL;
	long long deadline = bs_now_ms() + ACTION_WAIT_MS;
	long interval = 1000;
	bool done = false;
	int rc;

	rc = bs_hetzner_action_outcome(action, what, &done, err);
	while (rc == 0 && !done && path != NULL) {
		struct bs_rest_reply reply;

		if (bs_now_ms() + interval > deadline) {
			rc = bs_err_set(
				err, BS_ERR_TIMEOUT,
				"hetzner: %s: action %s still runs after %d s: see the Hetzner Console",
				what, id, ACTION_WAIT_MS / 1000);
			break;
		}
		if (!nap(h, interval)) {
			rc = bs_err_set(err, BS_ERR_INTERRUPTED, "hetzner: %s: interrupted", what);
			break;
		}
		interval = next_interval(interval);
		rc = bs_rest_call(h->rest, "GET", path, NULL, BS_REST_IDEMPOTENT, &reply, err);
		if (rc == BS_ERR_NOT_FOUND) {
			rc = 0;
			done = true;
		} else if (rc == 0) {
			rc = bs_hetzner_action_outcome(
				cJSON_GetObjectItemCaseSensitive(reply.json, "action"), what, &done,
				err);
		}
		bs_rest_reply_free(&reply);
	}
	free(path);
	free(id);
	return rc;
}

/* The server named name, as JSON (caller deletes), or NULL when none. */
static int find_by_name(struct hetzner *h, const char *name, cJSON **found, struct bs_err *err)
{
	char *esc = bs_rest_escape(name);
	char *path = bs_xasprintf("/servers?name=%s", esc);
	cJSON *items = NULL, *it;
	int rc;

	*found = NULL;
	rc = bs_rest_get_all(h->rest, path, "servers", &items, err);
	cJSON_ArrayForEach(it, items)
	{
		const char *n = str_at(it, "name");

		/* the filter is exact; checked again in case a proxy ignored it */
		if (rc == 0 && n != NULL && strcasecmp(n, name) == 0) {
			*found = cJSON_Duplicate(it, 1);
			break;
		}
	}
	cJSON_Delete(items);
	free(path);
	free(esc);
	return rc;
}

/* Poll GET /servers/{id} until 404 (bounded). */
static int wait_gone(struct hetzner *h, const char *id, const char *what, struct bs_err *err)
{
	char *path = bs_xasprintf("/servers/%s", id);
	long long deadline = bs_now_ms() + GONE_WAIT_MS;
	long interval = 1000;
	int rc;

	for (;;) {
		struct bs_rest_reply reply;

		rc = bs_rest_call(h->rest, "GET", path, NULL, BS_REST_IDEMPOTENT, &reply, err);
		bs_rest_reply_free(&reply);
		if (rc == BS_ERR_NOT_FOUND) {
			rc = 0;
			break;
		}
		if (rc != 0)
			break;
		if (bs_now_ms() + interval > deadline) {
			rc = bs_err_set(
				err, BS_ERR_TIMEOUT,
				"hetzner: %s: server %s is still being deleted after %d s: run again later",
				what, id, GONE_WAIT_MS / 1000);
			break;
		}
		if (!nap(h, interval)) {
			rc = bs_err_set(err, BS_ERR_INTERRUPTED, "hetzner: %s: interrupted", what);
			break;
		}
		interval = next_interval(interval);
	}
	free(path);
	return rc;
}

/* ---- SSH key ----------------------------------------------------------------------- */

static int key_by_fingerprint(struct hetzner *h, const char *fp, bool *found, struct bs_err *err)
{
	char *esc = bs_rest_escape(fp);
	char *path = bs_xasprintf("/ssh_keys?fingerprint=%s", esc);
	cJSON *items = NULL, *it;
	int rc;

	*found = false;
	rc = bs_rest_get_all(h->rest, path, "ssh_keys", &items, err);
	cJSON_ArrayForEach(it, items)
	{
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
		const char *f = str_at(it, "fingerprint");

		if (rc == 0 && f != NULL && strcmp(f, fp) == 0 && cJSON_IsNumber(id)) {
			h->key_id = id->valuedouble;
			h->have_key = *found = true;
			break;
		}
	}
	cJSON_Delete(items);
	free(path);
	free(esc);
	return rc;
}

static int ensure_key(struct hetzner *h, struct bs_err *err)
{
	const char *pub = h->base.opts.ssh_public_key;
	char fp[BS_MD5_FINGERPRINT_LEN], hex8[9];
	char *clean = NULL;
	bool found = false;
	size_t i, o = 0;
	int rc, attempt;

	if (h->have_key)
		return 0;
	if (pub == NULL)
		return bs_err_set(
			err, BS_ERR_INVALID,
			"hetzner: no SSH public key to install on new servers: set ssh.key to a private key with its .pub beside it");
	rc = bs_ssh_md5_fingerprint(fp, pub, err);
	if (rc == 0)
		rc = key_by_fingerprint(h, fp, &found, err);
	if (rc != 0 || found)
		return rc;
	clean = bs_ssh_public_key_clean(pub);
	/* key names are unique: a name another key holds gets our fingerprint's start */
	for (i = 0; fp[i] != '\0' && o < 8; i++)
		if (fp[i] != ':')
			hex8[o++] = fp[i];
	hex8[o] = '\0';
	for (attempt = 0; attempt < 2 && !found; attempt++) {
		struct bs_rest_reply reply;
		cJSON *body = cJSON_CreateObject(), *labels;
		char *name;

		name = attempt == 0 ? bs_xasprintf("bootstrap-%s", h->project)
				    : bs_xasprintf("bootstrap-%s-%s", h->project, hex8);
		cJSON_AddStringToObject(body, "name", name);
		cJSON_AddStringToObject(body, "public_key", clean);
		labels = cJSON_AddObjectToObject(body, "labels");
		cJSON_AddStringToObject(labels, BS_HETZNER_LABEL_PROJECT, h->project);
		rc = bs_rest_call(h->rest, "POST", "/ssh_keys", body, BS_REST_ONCE, &reply, err);
		if (rc == 0) {
			const cJSON *id = cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(reply.json, "ssh_key"), "id");

			if (cJSON_IsNumber(id)) {
				h->key_id = id->valuedouble;
				h->have_key = found = true;
				bs_log(BS_LOG_INFO, "hetzner: registered SSH key %s as %s", fp,
				       name);
			} else {
				rc = bs_err_set(
					err, BS_ERR_PROTOCOL,
					"hetzner: POST /ssh_keys: the answer has no ssh_key.id");
			}
		} else if (rc == BS_ERR_CONFLICT || reply.maybe_applied) {
			/* another run registered it meanwhile, or the name is taken */
			struct bs_err again = BS_ERR_INIT;

			if (key_by_fingerprint(h, fp, &found, &again) == 0 && found)
				rc = 0;
		}
		bs_rest_reply_free(&reply);
		cJSON_Delete(body);
		free(name);
		if (rc != 0 && rc != BS_ERR_CONFLICT)
			break;
	}
	free(clean);
	if (rc == BS_ERR_CONFLICT)
		bs_err_prefix(err, "registering the SSH key %s", fp);
	return rc;
}

/* ---- operations -------------------------------------------------------------------- */

static int hz_list(struct bs_compute *c, struct bs_machine_list *out, struct bs_err *err)
{
	struct hetzner *h = (struct hetzner *)c;
	char *sel = bs_hetzner_label_selector(h->project);
	char *esc = bs_rest_escape(sel);
	char *path = bs_xasprintf("/servers?label_selector=%s", esc);
	cJSON *items = NULL, *it;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = bs_rest_get_all(h->rest, path, "servers", &items, err);
	cJSON_ArrayForEach(it, items)
	{
		struct bs_machine m;

		if (rc != 0)
			break;
		rc = bs_hetzner_machine(&m, it, err);
		if (rc != 0)
			break;
		/* never another project's, even if a selector were ignored */
		if (m.project != NULL && strcmp(m.project, h->project) == 0)
			bs_rest_machines_push(out, &m);
		else
			bs_machine_free(&m);
	}
	cJSON_Delete(items);
	free(path);
	free(esc);
	free(sel);
	if (rc != 0)
		bs_machine_list_free(out);
	else
		bs_rest_machines_sort(out);
	return rc;
}

static cJSON *create_body(const struct hetzner *h, const struct bs_node *node)
{
	const struct bs_provider *p = &h->base.fleet.provider;
	cJSON *body = cJSON_CreateObject(), *labels, *keys;
	char *key = bs_compute_key_label(h->base.opts.ssh_key_fingerprint);

	cJSON_AddStringToObject(body, "name", node->name);
	cJSON_AddStringToObject(body, "server_type", node->size ? node->size : p->size);
	cJSON_AddStringToObject(body, "image", p->image);
	if (p->region != NULL)
		cJSON_AddStringToObject(body, "location", p->region);
	keys = cJSON_AddArrayToObject(body, "ssh_keys");
	cJSON_AddItemToArray(keys, cJSON_CreateNumber(h->key_id));
	labels = cJSON_AddObjectToObject(body, "labels");
	cJSON_AddStringToObject(labels, BS_HETZNER_LABEL_PROJECT, h->project);
	cJSON_AddStringToObject(labels, BS_HETZNER_LABEL_NODE, node->name);
	if (key != NULL)
		cJSON_AddStringToObject(labels, BS_HETZNER_LABEL_KEY, key);
	cJSON_AddBoolToObject(body, "start_after_create", 1);
	free(key);
	return body;
}

/*
 * After a 409 or a create that may have happened: the server of that name.
 * Returns 0 with *adopted filled when it is ours, *retry when it is gone or
 * was being deleted (and now is), else the error.
 */
static int settle_name(struct hetzner *h, const struct bs_node *node, struct bs_machine *adopted,
		       bool *is_ours, bool *retry, struct bs_err *err)
{
	cJSON *server = NULL;
	const cJSON *labels;
	int rc;

	*is_ours = *retry = false;
	rc = find_by_name(h, node->name, &server, err);
	if (rc != 0)
		return rc;
	if (server == NULL) {
		*retry = true;
		return 0;
	}
	labels = cJSON_GetObjectItemCaseSensitive(server, "labels");
	if (labels_are(server, h->project, node->name)) {
		rc = bs_hetzner_machine(adopted, server, err);
		if (rc == 0 && adopted->state == BS_NODE_TERMINATED) {
			bs_log(BS_LOG_INFO,
			       "node %s: hetzner: server %s is being deleted; waiting to create it anew",
			       node->name, adopted->id);
			rc = wait_gone(h, adopted->id, node->name, err);
			bs_machine_free(adopted);
			*retry = rc == 0;
		} else if (rc == 0) {
			*is_ours = true;
		}
	} else {
		const char *p = str_at(labels, BS_HETZNER_LABEL_PROJECT);
		const char *n = str_at(labels, BS_HETZNER_LABEL_NODE);
		char *id = bs_rest_id_string(cJSON_GetObjectItemCaseSensitive(server, "id"));

		rc = bs_err_set(
			err, BS_ERR_CONFLICT,
			"hetzner: a server named %s already exists (id %s) and is not node %s of project %s (its labels: %s=%s, %s=%s): rename the node in the recipe, or rename or delete that server in the Hetzner Console",
			node->name, id ? id : "?", node->name, h->project, BS_HETZNER_LABEL_PROJECT,
			p ? p : "(none)", BS_HETZNER_LABEL_NODE, n ? n : "(none)");
		free(id);
	}
	cJSON_Delete(server);
	return rc;
}

/* A create's answer: the server into *out; its actions are remembered for
 * wait_running (an action already failed fails now). */
static int take_created(struct hetzner *h, const cJSON *answer, struct bs_machine *out,
			struct bs_err *err)
{
	const cJSON *action = cJSON_GetObjectItemCaseSensitive(answer, "action");
	const cJSON *a;
	char *what;
	bool done;
	int rc;

	rc = bs_hetzner_machine(out, cJSON_GetObjectItemCaseSensitive(answer, "server"), err);
	if (rc != 0)
		return rc;
	what = bs_xasprintf("server %s", out->id);
	rc = bs_hetzner_action_outcome(action, what, &done, err);
	free(what);
	forget_actions(h, out->id);
	remember_action(h, out->id, action);
	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(answer, "next_actions"))
	{
		remember_action(h, out->id, a);
	}
	return rc;
}

static int hz_create(struct bs_compute *c, const struct bs_node *node, struct bs_machine *out,
		     struct bs_err *err)
{
	struct hetzner *h = (struct hetzner *)c;
	cJSON *body = NULL;
	int rc, attempt;
	long backoff = 2000;

	memset(out, 0, sizeof(*out));
	if (!bs_hetzner_label_value_ok(node->name)) {
		rc = bs_err_set(
			err, BS_ERR_INVALID,
			"hetzner: '%s' cannot be a label value (at most 63 letters, digits, '.', '-', '_', starting and ending alphanumeric): rename the node",
			node->name);
		goto out;
	}
	rc = ensure_key(h, err);
	if (rc != 0)
		goto out;
	body = create_body(h, node);
	for (attempt = 1;; attempt++) {
		struct bs_rest_reply reply;
		bool ours = false, retry = false, maybe;
		struct bs_err settle = BS_ERR_INIT;

		rc = bs_rest_call(h->rest, "POST", "/servers", body, BS_REST_ONCE, &reply, err);
		if (rc == 0) {
			rc = take_created(h, reply.json, out, err);
			if (rc == 0)
				bs_log(BS_LOG_INFO, "node %s: hetzner: created server %s",
				       node->name, out->id);
			bs_rest_reply_free(&reply);
			break;
		}
		maybe = reply.maybe_applied;
		bs_rest_reply_free(&reply);
		if (rc != BS_ERR_CONFLICT && !maybe)
			break;
		/* The name is taken, or the POST may have made the server: give a
		 * request still in flight time to land, then look by name. */
		if (maybe && !nap(h, backoff)) {
			rc = bs_err_set(err, BS_ERR_INTERRUPTED,
					"hetzner: creating %s: interrupted", node->name);
			break;
		}
		backoff *= 2;
		if (settle_name(h, node, out, &ours, &retry, &settle) != 0) {
			rc = settle.code;
			bs_err_set(err, rc, "%s", settle.msg);
			break;
		}
		if (ours) {
			bs_log(BS_LOG_INFO,
			       "node %s: hetzner: adopted server %s, which carries this project's labels",
			       node->name, out->id);
			rc = 0;
			break;
		}
		if (!retry || attempt >= CREATE_TRIES)
			break;
	}
out:
	cJSON_Delete(body);
	if (rc != 0) {
		bs_machine_free(out);
		bs_err_prefix(err, "node %s", node->name);
	}
	return rc;
}

static int hz_wait_running(struct bs_compute *c, struct bs_machine *m, struct bs_err *err)
{
	struct hetzner *h = (struct hetzner *)c;
	long timeout = c->opts.running_timeout_ms > 0 ? c->opts.running_timeout_ms : 600000;
	long long start = bs_now_ms(), deadline = start + timeout;
	char *path = bs_xasprintf("/servers/%s", m->id);
	char *what = bs_xasprintf("server %s", m->id);
	long interval = 1000;
	int rc;

	for (;;) {
		struct bs_rest_reply reply;
		struct bs_machine fresh;

		rc = check_actions(h, m->id, what, err);
		if (rc != 0)
			break;
		rc = bs_rest_call(h->rest, "GET", path, NULL, BS_REST_IDEMPOTENT, &reply, err);
		if (rc == 0)
			rc = bs_hetzner_machine(
				&fresh, cJSON_GetObjectItemCaseSensitive(reply.json, "server"),
				err);
		bs_rest_reply_free(&reply);
		if (rc == BS_ERR_NOT_FOUND) {
			rc = bs_err_set(
				err, BS_ERR_NOT_FOUND,
				"hetzner: server %s disappeared while starting: was it deleted meanwhile?",
				m->id);
			break;
		}
		if (rc != 0)
			break;
		/* what bs_compute_ensure knows of it stays: made or powered on
		 * in this run */
		fresh.created = m->created;
		fresh.started = m->started;
		bs_machine_free(m);
		*m = fresh;
		if (m->state == BS_NODE_RUNNING && m->ssh_host != NULL)
			break;
		if (m->state == BS_NODE_TERMINATED) {
			rc = bs_err_set(err, BS_ERR_API,
					"hetzner: server %s is being deleted while it should start",
					m->id);
			break;
		}
		if (bs_now_ms() + interval > deadline) {
			rc = bs_err_set(
				err, BS_ERR_TIMEOUT,
				"hetzner: server %s is still %s%s after %lld s: look at it in the Hetzner Console",
				m->id, bs_node_state_name(m->state),
				m->state == BS_NODE_RUNNING ? " without a public IPv4" : "",
				(bs_now_ms() - start) / 1000);
			break;
		}
		if (!nap(h, interval)) {
			rc = bs_err_set(err, BS_ERR_INTERRUPTED,
					"hetzner: waiting for server %s: interrupted", m->id);
			break;
		}
		interval = next_interval(interval);
	}
	if (rc == 0)
		forget_actions(h, m->id);
	free(what);
	free(path);
	if (rc != 0)
		bs_err_prefix(err, "node %s", m->name ? m->name : m->id);
	return rc;
}

static int hz_destroy(struct bs_compute *c, const struct bs_machine *m, struct bs_err *err)
{
	struct hetzner *h = (struct hetzner *)c;
	char *path = bs_xasprintf("/servers/%s", m->id);
	struct bs_rest_reply reply;
	int rc;

	rc = bs_rest_call(h->rest, "DELETE", path, NULL, BS_REST_IDEMPOTENT, &reply, err);
	if (rc == BS_ERR_NOT_FOUND) {
		bs_log(BS_LOG_INFO, "node %s: hetzner: server %s was already gone", m->name, m->id);
		rc = 0;
	} else if (rc == 0) {
		char *what = bs_xasprintf("server %s", m->id);

		rc = wait_action(h, cJSON_GetObjectItemCaseSensitive(reply.json, "action"), what,
				 err);
		free(what);
	}
	bs_rest_reply_free(&reply);
	forget_actions(h, m->id);
	free(path);
	if (rc != 0)
		bs_err_prefix(err, "node %s", m->name ? m->name : m->id);
	return rc;
}

/* POST /servers/{id}/actions/poweron: 201 {action (command start_server)}
 * (docs.hetzner.cloud, Server Actions: "Power on a Server"). The action is
 * remembered: wait_running fails the node when it ends in error. */
static int hz_start(struct bs_compute *c, struct bs_machine *m, struct bs_err *err)
{
	struct hetzner *h = (struct hetzner *)c;
	char *path = bs_xasprintf("/servers/%s/actions/poweron", m->id);
	struct bs_rest_reply reply;
	int rc;

	rc = bs_rest_call(h->rest, "POST", path, NULL, BS_REST_ONCE, &reply, err);
	if (rc == 0) {
		const cJSON *action = cJSON_GetObjectItemCaseSensitive(reply.json, "action");
		char *what = bs_xasprintf("server %s", m->id);
		bool done;

		rc = bs_hetzner_action_outcome(action, what, &done, err);
		free(what);
		if (rc == 0 && !done)
			remember_action(h, m->id, action);
		if (rc == 0) {
			m->state = BS_NODE_STARTING;
			bs_log(BS_LOG_INFO, "node %s: hetzner: server %s was off; powering it on",
			       m->name ? m->name : m->id, m->id);
		}
	}
	bs_rest_reply_free(&reply);
	free(path);
	if (rc != 0)
		bs_err_prefix(err, "node %s", m->name ? m->name : m->id);
	return rc;
}

/* ---- plan-time check --------------------------------------------------------------- */

/* The names (key "name") of the objects in items. */
static void names_of(const cJSON *items, struct bs_strv *out)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, items)
	{
		if (str_at(it, "name") != NULL)
			bs_strv_push(out, str_at(it, "name"));
	}
}

static const cJSON *named(const cJSON *items, const char *name)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, items)
	{
		if (str_at(it, "name") != NULL && strcmp(str_at(it, "name"), name) == 0)
			return it;
	}
	return NULL;
}

/* An ISO-8601 time as the API writes it ("2023-09-01T00:00:00+00:00",
 * "...Z") in Unix seconds; -1 when it is not one. */
static long long iso_time(const char *text)
{
	struct tm tm;
	const char *rest;
	long long t;
	int sign = 1, hh = 0, mm = 0;

	if (text == NULL)
		return -1;
	memset(&tm, 0, sizeof(tm));
	rest = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
	if (rest == NULL)
		return -1;
	if (*rest == '.')
		rest += 1 + strspn(rest + 1, "0123456789");
	t = (long long)timegm(&tm);
	if (*rest == '+' || *rest == '-') {
		sign = *rest == '-' ? -1 : 1;
		if (sscanf(rest + 1, "%2d:%2d", &hh, &mm) < 1)
			return -1;
		t -= sign * (hh * 3600LL + mm * 60LL);
	}
	return t;
}

/*
 * Can no longer be ordered: a deprecation object {announced,
 * unavailable_after} (server types, their per-location entries) whose
 * unavailable_after has passed. Hetzner's reference: a deprecated type is
 * announced first and "can still be used until" unavailable_after, so an
 * announcement alone is no error. "until DATE" for the message.
 */
static bool deprecated(const cJSON *obj, char *when, size_t len)
{
	const cJSON *dep = cJSON_GetObjectItemCaseSensitive(obj, "deprecation");
	const char *after = str_at(dep, "unavailable_after");
	long long t;

	if (!cJSON_IsObject(dep)) {
		/* the older boolean, where no deprecation object is given */
		snprintf(when, len, "deprecated");
		return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, "deprecated"));
	}
	t = iso_time(after);
	snprintf(when, len, "unavailable after %.40s", after ? after : "?");
	return t >= 0 && t <= (long long)time(NULL);
}

static int check_type(struct hetzner *h, const cJSON *types, const struct bs_node *node,
		      const char *type, struct bs_err *err)
{
	const char *loc = h->base.fleet.provider.region;
	const cJSON *t = named(types, type);
	const cJSON *it;
	struct bs_strv ok = BS_STRV_INIT;
	char at[600], when[64];
	char *valid;
	int rc = 0;

	bs_compute_where(&h->base, node, "server_type", at, sizeof(at));
	cJSON_ArrayForEach(it, types)
	{
		if (str_at(it, "name") != NULL && !deprecated(it, when, sizeof(when)))
			bs_strv_push(&ok, str_at(it, "name"));
	}
	valid = bs_rest_closest(type, &ok, 5);
	if (t == NULL) {
		rc = bs_err_set(err, BS_ERR_INVALID,
				"%s: hetzner has no server type '%s' (valid: %s)", at, type, valid);
	} else if (deprecated(t, when, sizeof(when))) {
		rc = bs_err_set(
			err, BS_ERR_INVALID,
			"%s: hetzner's server type '%s' is deprecated (%s) and can no longer be ordered: choose another (valid: %s)",
			at, type, when, valid);
	} else if (loc != NULL && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(t, "locations"))) {
		/* per location: absent means not offered there */
		const cJSON *l = named(cJSON_GetObjectItemCaseSensitive(t, "locations"), loc);

		if (l == NULL)
			rc = bs_err_set(
				err, BS_ERR_INVALID,
				"%s: hetzner's server type '%s' is not offered in location %s: choose another type or location",
				at, type, loc);
		else if (deprecated(l, when, sizeof(when)))
			rc = bs_err_set(
				err, BS_ERR_INVALID,
				"%s: hetzner's server type '%s' is deprecated in location %s (%s): choose another (valid: %s)",
				at, type, loc, when, valid);
	}
	free(valid);
	bs_strv_free(&ok);
	return rc;
}

static int check_image(struct hetzner *h, struct bs_err *err)
{
	const char *image = h->base.fleet.provider.image;
	char *esc = bs_rest_escape(image);
	char *path = bs_xasprintf("/images?name=%s", esc);
	cJSON *items = NULL;
	long long id;
	char at[600];
	int rc;

	bs_compute_where(&h->base, NULL, "image", at, sizeof(at));
	if (bs_parse_int64(image, &id) == 0 && id > 0) {
		/* a snapshot or backup, by its id */
		struct bs_rest_reply reply;

		free(path);
		path = bs_xasprintf("/images/%lld", id);
		rc = bs_rest_call(h->rest, "GET", path, NULL, BS_REST_IDEMPOTENT, &reply, err);
		bs_rest_reply_free(&reply);
		if (rc == BS_ERR_NOT_FOUND)
			rc = bs_err_set(err, BS_ERR_INVALID,
					"%s: hetzner has no image with id %lld in this project", at,
					id);
		goto out;
	}
	rc = bs_rest_get_all(h->rest, path, "images", &items, err);
	if (rc == 0 && cJSON_GetArraySize(items) == 0) {
		/* none by that name: the system images, to say which exist */
		struct bs_strv names = BS_STRV_INIT;
		char *valid;

		cJSON_Delete(items);
		items = NULL;
		rc = bs_rest_get_all(h->rest, "/images?type=system", "images", &items, err);
		names_of(items, &names);
		valid = bs_rest_closest(image, &names, 5);
		if (rc == 0)
			rc = bs_err_set(err, BS_ERR_INVALID,
					"%s: hetzner has no image '%s' (valid: %s)", at, image,
					valid);
		free(valid);
		bs_strv_free(&names);
	} else if (rc == 0) {
		const cJSON *it;
		bool current = false;

		/* "deprecated": the time it is or was, null while current */
		cJSON_ArrayForEach(it, items)
		{
			const cJSON *dep = cJSON_GetObjectItemCaseSensitive(it, "deprecated");

			/* a deprecation in the future: still there until then */
			current = current || dep == NULL || cJSON_IsNull(dep) ||
				  (cJSON_IsString(dep) &&
				   iso_time(dep->valuestring) > (long long)time(NULL));
		}
		if (!current)
			rc = bs_err_set(
				err, BS_ERR_INVALID,
				"%s: hetzner's image '%s' is deprecated: choose a current one (GET /images?type=system)",
				at, image);
	}
out:
	cJSON_Delete(items);
	free(path);
	free(esc);
	return rc;
}

/*
 * GET /server_types, /images?name=, /locations (docs.hetzner.cloud: Server
 * Types, with "deprecation" {announced, unavailable_after} per type and per
 * location; Images, with "deprecated"; Locations).
 */
static int hz_check(struct bs_compute *c, struct bs_err *err)
{
	struct hetzner *h = (struct hetzner *)c;
	const struct bs_fleet *r = &c->fleet;
	cJSON *types = NULL, *locations = NULL;
	size_t i;
	int rc = 0;

	/* the location first: a type "not offered" there says little when
	 * the location itself is wrong */
	if (r->provider.region != NULL)
		rc = bs_rest_get_all(h->rest, "/locations", "locations", &locations, err);
	if (rc == 0 && r->provider.region != NULL && named(locations, r->provider.region) == NULL) {
		struct bs_strv names = BS_STRV_INIT;
		char at[600];
		char *valid;

		names_of(locations, &names);
		valid = bs_rest_closest(r->provider.region, &names, 5);
		bs_compute_where(&h->base, NULL, "location", at, sizeof(at));
		rc = bs_err_set(err, BS_ERR_INVALID, "%s: hetzner has no location '%s' (valid: %s)",
				at, r->provider.region, valid);
		free(valid);
		bs_strv_free(&names);
	}
	if (rc == 0)
		rc = bs_rest_get_all(h->rest, "/server_types", "server_types", &types, err);
	if (rc == 0 && r->provider.size != NULL)
		rc = check_type(h, types, NULL, r->provider.size, err);
	for (i = 0; rc == 0 && i < r->n_nodes; i++)
		if (r->nodes[i].size != NULL &&
		    (i == 0 || r->nodes[i - 1].entry != r->nodes[i].entry))
			rc = check_type(h, types, &r->nodes[i], r->nodes[i].size, err);
	if (rc == 0 && r->provider.image != NULL)
		rc = check_image(h, err);
	cJSON_Delete(types);
	cJSON_Delete(locations);
	return rc;
}

/* "4.5100": a price as the API writes it; -1 when it is none. */
static double price_of(const cJSON *price, const char *period)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(price, period);
	const char *gross = str_at(p, "gross");
	char *end;
	double v = gross ? strtod(gross, &end) : -1;

	return gross != NULL && end != gross && v >= 0 && v < 1e9 ? v : -1;
}

/*
 * GET /locations and /server_types (docs.hetzner.cloud: Locations; Server
 * Types, with "prices" per location {location, price_hourly, price_monthly
 * as {net, gross} strings} and "locations" with their own "deprecation").
 * A type is orderable where it is listed and not deprecated; its price is
 * the lowest gross (VAT included) of those locations, in euros.
 */
static int hz_catalog(struct bs_compute *c, struct bs_catalog *out, struct bs_err *err)
{
	struct hetzner *h = (struct hetzner *)c;
	cJSON *types = NULL, *locations = NULL;
	const cJSON *it;
	char when[64];
	int rc;

	memset(out, 0, sizeof(*out));
	rc = bs_rest_get_all(h->rest, "/locations", "locations", &locations, err);
	if (rc == 0)
		rc = bs_rest_get_all(h->rest, "/server_types", "server_types", &types, err);
	cJSON_ArrayForEach(it, locations)
	{
		struct bs_catalog_location *l;

		if (str_at(it, "name") == NULL)
			continue;
		out->locations = bs_xrealloc(out->locations,
					     (out->n_locations + 1) * sizeof(*out->locations));
		l = &out->locations[out->n_locations++];
		l->name = bs_xstrdup(str_at(it, "name"));
		l->description = bs_xstrdup_opt(str_at(it, "description"));
		l->country = bs_xstrdup_opt(str_at(it, "country"));
		l->available = true;
	}
	cJSON_ArrayForEach(it, types)
	{
		const cJSON *where = cJSON_GetObjectItemCaseSensitive(it, "locations"), *w, *pr;
		struct bs_catalog_size *z;
		double monthly = -1, hourly = -1;

		if (str_at(it, "name") == NULL)
			continue;
		out->sizes = bs_xrealloc(out->sizes, (out->n_sizes + 1) * sizeof(*out->sizes));
		z = &out->sizes[out->n_sizes++];
		memset(z, 0, sizeof(*z));
		z->name = bs_xstrdup(str_at(it, "name"));
		z->arch = bs_xstrdup_opt(str_at(it, "architecture"));
		z->cores = (int)num_at(it, "cores");
		z->memory_gb = num_at(it, "memory");
		z->disk_gb = (int)num_at(it, "disk");
		z->currency = "EUR";
		if (!deprecated(it, when, sizeof(when)))
			cJSON_ArrayForEach(w, where)
			{
				if (str_at(w, "name") != NULL && !deprecated(w, when, sizeof(when)))
					bs_strv_push(&z->where, str_at(w, "name"));
			}
		cJSON_ArrayForEach(pr, cJSON_GetObjectItemCaseSensitive(it, "prices"))
		{
			double m = price_of(pr, "price_monthly"), hr = price_of(pr, "price_hourly");

			if (str_at(pr, "location") == NULL ||
			    !bs_strv_contains(&z->where, str_at(pr, "location")))
				continue;
			if (m >= 0 && (monthly < 0 || m < monthly))
				monthly = m;
			if (hr >= 0 && (hourly < 0 || hr < hourly))
				hourly = hr;
		}
		z->price_monthly = monthly;
		z->price_hourly = hourly;
	}
	cJSON_Delete(types);
	cJSON_Delete(locations);
	if (rc != 0)
		bs_catalog_free(out);
	return rc;
}

static void hz_free(struct bs_compute *c)
{
	struct hetzner *h = (struct hetzner *)c;
	size_t i;

	if (h == NULL)
		return;
	for (i = 0; i < h->n_pending; i++) {
		free(h->pending[i].server_id);
		free(h->pending[i].action_id);
	}
	free(h->pending);
	bs_rest_free(h->rest);
	free(h);
}

static const struct bs_compute_ops hetzner_ops = {
	.name = "hetzner",
	.list = hz_list,
	.create = hz_create,
	.destroy = hz_destroy,
	.wait_running = hz_wait_running,
	.start = hz_start,
	.check = hz_check,
	.catalog = hz_catalog,
	.free = hz_free,
};

int bs_compute_hetzner_open(struct bs_compute **out, const struct bs_fleet *fleet,
			    const struct bs_compute_opts *opts, struct bs_err *err)
{
	const struct bs_provider *p = &fleet->provider;
	const char *env = p->token_env ? p->token_env : "HCLOUD_TOKEN";
	const char *token = p->token;
	struct bs_rest_opts ro = BS_REST_OPTS_INIT;
	struct hetzner *h;
	char source[160];
	int rc;

	*out = NULL;
	if (fleet->project == NULL || !bs_hetzner_label_value_ok(fleet->project))
		return bs_err_set(
			err, BS_ERR_INVALID,
			"hetzner: the project name '%s' cannot be a label value (at most 63 letters, digits, '.', '-', '_'): rename the project",
			fleet->project ? fleet->project : "");
	if (token != NULL) {
		snprintf(source, sizeof(source), "provider.token");
	} else {
		token = getenv(env);
		snprintf(source, sizeof(source), "$%s", env);
		if (token == NULL || token[0] == '\0')
			return bs_err_set(
				err, BS_ERR_AUTH,
				"hetzner: no API token: set %s to a Hetzner Cloud API token with Read & Write permission (Hetzner Console > your project > Security > API tokens)",
				env);
	}
	ro.dialect = BS_REST_HETZNER;
	ro.base_url = p->api_url ? p->api_url : DEFAULT_URL;
	ro.token = token;
	ro.token_source = source;
	ro.request_timeout_ms = opts->request_timeout_ms;
	ro.transient_wait_ms = opts->running_timeout_ms > 0 ? opts->running_timeout_ms : 600000;
	ro.cancel = opts->cancel;
	h = bs_xcalloc(1, sizeof(*h));
	rc = bs_rest_open(&h->rest, &ro, err);
	if (rc != 0) {
		free(h);
		return rc;
	}
	h->base.ops = &hetzner_ops;
	h->base.fleet = *fleet;
	h->base.opts = *opts;
	h->base.creates = true;
	h->project = fleet->project;
	*out = &h->base;
	return 0;
}
