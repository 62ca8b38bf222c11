/*
 * docker_swarm.c - clusters: the Docker Swarm entries of the Docker driver
 * (Engine API 1.41): membership (/info, /swarm/init, join, leave), the
 * cluster and its nodes, services, their tasks and logs, and overlay
 * networks. docker.c fills the ops table with these; both share
 * docker_priv.h.
 *
 * Traps of the API, all observed on Docker 20.10:
 *   - every manager call on an engine outside a swarm, or on a worker,
 *     answers "This node is not a swarm manager" (503; a 500 when creating
 *     an overlay network): one message here, with the fix;
 *   - leave answers 503 "not part of a swarm" when there is nothing to
 *     leave: success;
 *   - a stale version index is a 500 "update out of sequence", not a 409:
 *     BS_ERR_CONFLICT, found by the message;
 *   - a node update replaces the whole Spec, and Role and Availability are
 *     required (400 "invalid Role"): missing ones are read from the node;
 *   - an UpdateConfig sent without Parallelism means all at once (0), not
 *     the engine's default of 1: it is always sent;
 *   - swarm init answers the new node's ID as a bare JSON string.
 * Join tokens are secrets: the bodies that carry them are wiped, and no
 * error message shows one (anything shaped like a token is masked).
 *
 * Same threading and ownership as docker.c: one driver per thread, results
 * are the caller's and freed with the matching *_free().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "container/docker_priv.h"

/* ---- results --------------------------------------------------------------- */

void bs_swarm_member_free(struct bs_swarm_member *m)
{
	if (m == NULL)
		return;
	free(m->node_id);
	free(m->node_addr);
	free(m->cluster_id);
	free(m->error);
	bs_strv_free(&m->remote_managers);
	memset(m, 0, sizeof(*m));
}

void bs_cluster_free(struct bs_cluster *c)
{
	if (c == NULL)
		return;
	free(c->id);
	bs_secure_free_str(c->worker_token);
	bs_secure_free_str(c->manager_token);
	memset(c, 0, sizeof(*c));
}

static void cluster_node_free(struct bs_cluster_node *n)
{
	free(n->id);
	free(n->hostname);
	free(n->addr);
	free(n->state);
	free(n->availability);
	free(n->role);
	free(n->reachability);
	bs_kvlist_free(&n->labels);
	free(n->engine_version);
}

void bs_cluster_node_list_free(struct bs_cluster_node_list *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		cluster_node_free(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void bs_service_info_free(struct bs_service_info *s)
{
	if (s == NULL)
		return;
	free(s->id);
	free(s->name);
	bs_kvlist_free(&s->labels);
	free(s->image);
	free(s->update_state);
	free(s->update_message);
	memset(s, 0, sizeof(*s));
}

void bs_service_list_free(struct bs_service_list *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		bs_service_info_free(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void task_free(struct bs_task_info *t)
{
	free(t->id);
	free(t->service_id);
	free(t->node_id);
	free(t->state);
	free(t->desired_state);
	free(t->message);
	free(t->error);
	free(t->container_id);
	bs_kvlist_free(&t->labels);
}

void bs_task_list_free(struct bs_task_list *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		task_free(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* ---- helpers ------------------------------------------------------------------ */

static const cJSON *item(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* A string field, NULL when absent or empty (the engine sends "" for none). */
static char *json_nonempty(const cJSON *obj, const char *key)
{
	const char *s = dk_json_str(obj, key);

	return s != NULL && s[0] != '\0' ? bs_xstrdup(s) : NULL;
}

/* An RFC 3339 time ("2026-12-01T03:02:10.032937263Z") as unix seconds;
 * 0 when absent, malformed, or Go's zero time. */
static long long json_time(const cJSON *obj, const char *key)
{
	const char *s = dk_json_str(obj, key);
	const char *p;
	struct tm tm;
	long long t;
	int hh, mm;

	if (s == NULL)
		return 0;
	memset(&tm, 0, sizeof(tm));
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (p == NULL)
		return 0;
	if (*p == '.')
		p += 1 + strspn(p + 1, "0123456789");
	t = (long long)timegm(&tm);
	if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &hh, &mm) == 2)
		t += (*p == '+' ? -1 : 1) * (long long)(hh * 3600 + mm * 60);
	return t > 0 ? t : 0;
}

static int64_t json_version(const cJSON *obj)
{
	return (int64_t)dk_json_num(item(obj, "Version"), "Index");
}

/* Zero a string of a JSON tree that carries a secret, before it is freed. */
static void wipe_string(cJSON *v)
{
	if (cJSON_IsString(v))
		memset(v->valuestring, 0, strlen(v->valuestring));
}

/* Swarm join tokens ("SWMTKN-1-...") in an error message become "***". */
static void mask_tokens(struct bs_err *err)
{
	char *p = err != NULL ? strstr(err->msg, "SWMTKN-") : NULL;

	while (p != NULL) {
		size_t n = strspn(
			p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-");

		memmove(p + 3, p + n, strlen(p + n) + 1);
		memcpy(p, "***", 3);
		p = strstr(p + 3, "SWMTKN-");
	}
}

/* The engine refused a manager's call: the fix depends on what it is. */
static int not_manager(struct docker *dk, const char *msg, const char *what, struct bs_err *err)
{
	if (strstr(msg, "Worker nodes") != NULL || strstr(msg, "worker node") != NULL)
		return bs_err_set(err, BS_ERR_UNSUPPORTED,
				  "%s is a swarm worker, not a manager (%s): run this on a manager "
				  "of its cluster, or promote this node to a manager",
				  dk->base.display, what);
	return bs_err_set(err, BS_ERR_UNSUPPORTED,
			  "%s is not a swarm manager (%s): run this on a manager, or make it one: "
			  "create a cluster on it, or join it to one with the manager token",
			  dk->base.display, what);
}

static bool is_not_manager(const char *msg)
{
	return strstr(msg, "not a swarm manager") != NULL ||
	       strstr(msg, "from a worker node") != NULL;
}

/* An error answer of a swarm call, as a bs_error with the fix. */
static int swarm_error(struct docker *dk, const struct bs_http_response *resp, const char *what,
		       struct bs_err *err)
{
	char msg[768];
	int rc;

	dk_error_message(resp, msg, sizeof(msg));
	if (is_not_manager(msg))
		rc = not_manager(dk, msg, what, err);
	else if (strstr(msg, "update out of sequence") != NULL)
		rc = bs_err_set(err, BS_ERR_CONFLICT,
				"%s: %s: it changed since its version was read (update out of "
				"sequence): read it again, then retry with its new version",
				dk->base.display, what);
	else if (strstr(msg, "already part of a swarm") != NULL)
		rc = bs_err_set(err, BS_ERR_CONFLICT,
				"%s: %s: this engine is already part of a swarm: make it leave "
				"first, or use the swarm it is in",
				dk->base.display, what);
	else if (strstr(msg, "not part of a swarm") != NULL)
		rc = bs_err_set(err, BS_ERR_UNSUPPORTED,
				"%s: %s: this engine is not part of a swarm: create a cluster on "
				"it, or join it to one",
				dk->base.display, what);
	else
		rc = dk_status_error(dk, resp, what, err);
	mask_tokens(err);
	return rc;
}

static int swarm_get_error(struct docker *dk, const struct bs_http_response *resp, const char *what,
			   struct bs_err *err)
{
	if (resp->status == 404)
		return bs_err_set(err, BS_ERR_NOT_FOUND, "%s: no %s", dk->base.display, what);
	return swarm_error(dk, resp, what, err);
}

/* GET returning JSON; 404 is BS_ERR_NOT_FOUND with "ENGINE: no WHAT". */
static int swarm_get(struct docker *dk, const char *path, const char *query, const char *what,
		     cJSON **out, struct bs_err *err)
{
	return dk_get_json_with(dk, path, query, what, swarm_get_error, out, err);
}

/* POST a JSON body (wiped after: it may carry secrets), with the
 * X-Registry-Auth header of cred when given. */
static int post_json(struct docker *dk, const char *path, const char *query, cJSON *body,
		     const struct bs_registry_cred *cred, struct bs_http_response *resp,
		     struct bs_err *err)
{
	struct bs_http_request req;
	char *json = cJSON_PrintUnformatted(body);
	char *full = bs_xasprintf("%s%s", dk->prefix, path);
	char *auth = cred != NULL ? bs_registry_auth_header(cred) : NULL;
	const char *headers[2] = {auth, NULL};
	int rc;

	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.path = full;
	req.query = query;
	req.body = json;
	req.body_len = strlen(json);
	req.content_type = "application/json";
	req.headers = headers;
	rc = bs_http_request(dk->http, &req, resp, err);
	bs_secure_free_str(json);
	bs_secure_free_str(auth);
	free(full);
	return rc;
}

/* ---- membership ---------------------------------------------------------------- */

static enum bs_swarm_state swarm_state(const char *s)
{
	if (strcmp(s, "inactive") == 0)
		return BS_SWARM_INACTIVE;
	if (strcmp(s, "pending") == 0)
		return BS_SWARM_PENDING;
	if (strcmp(s, "active") == 0)
		return BS_SWARM_ACTIVE;
	if (strcmp(s, "locked") == 0)
		return BS_SWARM_LOCKED;
	return BS_SWARM_ERROR;
}

int bs_docker_cluster_member(struct bs_cdriver *d, struct bs_swarm_member *out, struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	const cJSON *swarm, *m;
	const char *state;
	cJSON *info;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = dk_get_json(dk, "/info", NULL, "reading its swarm membership", &info, err);
	if (rc != 0)
		return rc;
	swarm = item(info, "Swarm");
	state = dk_json_str(swarm, "LocalNodeState");
	if (state == NULL) {
		rc = bs_err_set(err, BS_ERR_PROTOCOL,
				"%s: /info tells no swarm membership (Swarm.LocalNodeState)",
				d->display);
		goto out;
	}
	out->state = swarm_state(state);
	out->node_id = json_nonempty(swarm, "NodeID");
	out->node_addr = json_nonempty(swarm, "NodeAddr");
	out->cluster_id = json_nonempty(item(swarm, "Cluster"), "ID");
	out->manager = cJSON_IsTrue(item(swarm, "ControlAvailable"));
	out->error = json_nonempty(swarm, "Error");
	if (out->state == BS_SWARM_ERROR && out->error == NULL && strcmp(state, "error") != 0)
		out->error = bs_xasprintf("unknown swarm state %s", state);
	cJSON_ArrayForEach(m, item(swarm, "RemoteManagers"))
	{
		const char *addr = dk_json_str(m, "Addr");

		if (addr != NULL && addr[0] != '\0')
			bs_strv_push(&out->remote_managers, addr);
	}
out:
	cJSON_Delete(info);
	return rc;
}

int bs_docker_cluster_create(struct bs_cdriver *d, const struct bs_cluster_create *opts,
			     char **node_id, struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	struct bs_http_response resp;
	cJSON *body = cJSON_CreateObject(), *answer = NULL;
	char msg[768];
	int rc;

	if (node_id != NULL)
		*node_id = NULL;
	cJSON_AddStringToObject(body, "ListenAddr",
				opts->listen_addr ? opts->listen_addr : "0.0.0.0:2377");
	if (opts->advertise_addr != NULL)
		cJSON_AddStringToObject(body, "AdvertiseAddr", opts->advertise_addr);
	rc = post_json(dk, "/swarm/init", NULL, body, NULL, &resp, err);
	cJSON_Delete(body);
	if (rc != 0)
		return rc;
	if (resp.status != 200) {
		dk_error_message(&resp, msg, sizeof(msg));
		if (resp.status == 400 && strstr(msg, "advertise") != NULL)
			rc = bs_err_set(err, BS_ERR_INVALID,
					"%s: creating a cluster: %s (give the address the other "
					"nodes reach this engine at to advertise)",
					d->display, msg);
		else
			rc = swarm_error(dk, &resp, "creating a cluster", err);
		goto out;
	}
	answer = cJSON_ParseWithLength(bs_buf_str(&resp.body), resp.body.len);
	if (!cJSON_IsString(answer)) {
		rc = bs_err_set(err, BS_ERR_PROTOCOL,
				"%s: creating a cluster: the answer is not the new node's ID",
				d->display);
		goto out;
	}
	if (node_id != NULL)
		*node_id = bs_xstrdup(answer->valuestring);
out:
	cJSON_Delete(answer);
	bs_http_response_free(&resp);
	return rc;
}

int bs_docker_cluster_join(struct bs_cdriver *d, const struct bs_cluster_join *opts,
			   struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	struct bs_http_response resp;
	cJSON *body, *remotes;
	char what[320], msg[768];
	int rc;

	if (opts->remote_addr == NULL || opts->token == NULL)
		return bs_err_set(
			err, BS_ERR_INVALID,
			"%s: joining a cluster needs a manager's address and a join token",
			d->display);
	snprintf(what, sizeof(what), "joining the cluster at %s", opts->remote_addr);
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "ListenAddr",
				opts->listen_addr ? opts->listen_addr : "0.0.0.0:2377");
	if (opts->advertise_addr != NULL)
		cJSON_AddStringToObject(body, "AdvertiseAddr", opts->advertise_addr);
	remotes = cJSON_AddArrayToObject(body, "RemoteAddrs");
	cJSON_AddItemToArray(remotes, cJSON_CreateString(opts->remote_addr));
	cJSON_AddStringToObject(body, "JoinToken", opts->token);
	rc = post_json(dk, "/swarm/join", NULL, body, NULL, &resp, err);
	wipe_string(cJSON_GetObjectItemCaseSensitive(body, "JoinToken"));
	cJSON_Delete(body);
	if (rc != 0) {
		mask_tokens(err);
		return rc;
	}
	if (resp.status != 200) {
		dk_error_message(&resp, msg, sizeof(msg));
		if (strstr(msg, "Timeout was reached") != NULL)
			rc = bs_err_set(
				err, BS_ERR_TIMEOUT,
				"%s: %s: no answer in time; the engine goes on trying in "
				"the background (read its membership again before retrying)",
				d->display, what);
		else if (strstr(msg, "join token") != NULL || strstr(msg, "JoinToken") != NULL)
			rc = bs_err_set(err, BS_ERR_AUTH,
					"%s: %s: the join token was refused (a token of another "
					"cluster, or rotated: read it again from a manager)",
					d->display, what);
		else
			rc = swarm_error(dk, &resp, what, err);
		mask_tokens(err);
	}
	bs_http_response_free(&resp);
	return rc;
}

int bs_docker_cluster_leave(struct bs_cdriver *d, bool force, struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	struct bs_http_response resp;
	char msg[768];
	int rc;

	rc = dk_api(dk, "POST", "/swarm/leave", force ? "force=1" : "force=0", NULL, &resp, err);
	if (rc != 0)
		return rc;
	if (resp.status != 200) {
		dk_error_message(&resp, msg, sizeof(msg));
		if (strstr(msg, "not part of a swarm") != NULL)
			rc = 0; /* nothing to leave */
		else if (strstr(msg, "participating as a manager") != NULL)
			rc = bs_err_set(err, BS_ERR_CONFLICT,
					"%s: leaving the cluster: this engine is a manager, and "
					"leaving could cost the cluster its quorum or its state: "
					"demote it first, or leave with force",
					d->display);
		else
			rc = swarm_error(dk, &resp, "leaving the cluster", err);
	}
	bs_http_response_free(&resp);
	return rc;
}

/* ---- the cluster and its nodes ------------------------------------------------------ */

/* The token's string, taken from the tree (no copy to wipe). */
static char *take_token(cJSON *tokens, const char *key)
{
	cJSON *t = cJSON_GetObjectItemCaseSensitive(tokens, key);
	char *s;

	if (!cJSON_IsString(t))
		return NULL;
	s = t->valuestring;
	t->valuestring = NULL;
	return s;
}

void dk_parse_swarm(cJSON *o, struct bs_cluster *out)
{
	cJSON *tokens = cJSON_GetObjectItemCaseSensitive(o, "JoinTokens");

	out->id = dk_json_strdup(o, "ID");
	out->version = json_version(o);
	out->created = json_time(o, "CreatedAt");
	out->worker_token = take_token(tokens, "Worker");
	out->manager_token = take_token(tokens, "Manager");
}

int bs_docker_cluster_inspect(struct bs_cdriver *d, struct bs_cluster *out, struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	struct bs_http_response resp;
	cJSON *o = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = dk_api(dk, "GET", "/swarm", NULL, NULL, &resp, err);
	if (rc != 0)
		return rc;
	if (resp.status != 200) {
		rc = swarm_error(dk, &resp, "reading the cluster", err);
		goto out;
	}
	o = cJSON_ParseWithLength(bs_buf_str(&resp.body), resp.body.len);
	if (o == NULL) {
		rc = bs_err_set(err, BS_ERR_PROTOCOL,
				"%s: reading the cluster: the answer is not JSON", d->display);
		goto out;
	}
	dk_parse_swarm(o, out);
out:
	cJSON_Delete(o);
	bs_buf_wipe_free(&resp.body); /* it holds the join tokens */
	bs_http_response_free(&resp);
	return rc;
}

/* "127.0.0.1:2377" or "[::1]:2377" -> the host part. */
static char *addr_host(const char *addr)
{
	const char *colon = strrchr(addr, ':');
	size_t n = colon ? (size_t)(colon - addr) : strlen(addr);

	if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']')
		return bs_xstrndup(addr + 1, n - 2);
	return bs_xstrndup(addr, n);
}

void dk_parse_node(const cJSON *o, struct bs_cluster_node *n)
{
	const cJSON *spec = item(o, "Spec"), *desc = item(o, "Description");
	const cJSON *status = item(o, "Status"), *ms = item(o, "ManagerStatus");
	const char *manager_addr = dk_json_str(ms, "Addr");

	n->id = dk_json_strdup(o, "ID");
	n->version = json_version(o);
	n->hostname = json_nonempty(desc, "Hostname");
	n->addr = json_nonempty(status, "Addr");
	/* a manager may report 0.0.0.0 here; its raft address says where it is */
	if ((n->addr == NULL || strcmp(n->addr, "0.0.0.0") == 0) && manager_addr != NULL &&
	    manager_addr[0] != '\0') {
		free(n->addr);
		n->addr = addr_host(manager_addr);
	}
	n->state = json_nonempty(status, "State");
	n->availability = json_nonempty(spec, "Availability");
	n->role = json_nonempty(spec, "Role");
	n->leader = cJSON_IsTrue(item(ms, "Leader"));
	n->reachability = json_nonempty(ms, "Reachability");
	dk_json_labels(item(spec, "Labels"), &n->labels);
	n->engine_version = json_nonempty(item(desc, "Engine"), "EngineVersion");
}

int bs_docker_cluster_node_list(struct bs_cdriver *d, struct bs_cluster_node_list *out,
				struct bs_err *err)
{
	const cJSON *o;
	cJSON *arr;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = swarm_get(as_docker(d), "/nodes", NULL, "listing the cluster's nodes", &arr, err);
	if (rc != 0)
		return rc;
	out->v = bs_xcalloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(*out->v));
	cJSON_ArrayForEach(o, arr) dk_parse_node(o, &out->v[out->n++]);
	cJSON_Delete(arr);
	return 0;
}

int bs_docker_cluster_node_update(struct bs_cdriver *d, const char *id, int64_t version,
				  const struct bs_cluster_node_spec *spec, struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	struct bs_http_response resp;
	char *seg = dk_path_name(id, false);
	char *path = bs_xasprintf("/nodes/%s/update", seg);
	char *query = bs_xasprintf("version=%lld", (long long)version);
	char what[320];
	cJSON *body = cJSON_CreateObject(), *node = NULL;
	const char *role = spec->role, *availability = spec->availability;
	int rc = 0;

	snprintf(what, sizeof(what), "node %s", id);
	if (role == NULL || availability == NULL) {
		/* the Spec is replaced whole, and both are required: keep the node's */
		char *get = bs_xasprintf("/nodes/%s", seg);

		rc = swarm_get(dk, get, NULL, what, &node, err);
		free(get);
		if (rc != 0)
			goto out;
		if (role == NULL)
			role = dk_json_str(item(node, "Spec"), "Role");
		if (availability == NULL)
			availability = dk_json_str(item(node, "Spec"), "Availability");
	}
	if (role != NULL)
		cJSON_AddStringToObject(body, "Role", role);
	if (availability != NULL)
		cJSON_AddStringToObject(body, "Availability", availability);
	cJSON_AddItemToObject(body, "Labels", dk_kv_object(spec->labels));
	rc = post_json(dk, path, query, body, NULL, &resp, err);
	if (rc != 0)
		goto out;
	if (resp.status == 404) {
		rc = bs_err_set(err, BS_ERR_NOT_FOUND, "%s: no node %s in the cluster", d->display,
				id);
	} else if (resp.status != 200) {
		snprintf(what, sizeof(what), "updating node %s", id);
		rc = swarm_error(dk, &resp, what, err);
	}
	bs_http_response_free(&resp);
out:
	cJSON_Delete(body);
	cJSON_Delete(node);
	free(seg);
	free(path);
	free(query);
	return rc;
}

int bs_docker_cluster_node_remove(struct bs_cdriver *d, const char *id, bool force,
				  struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	struct bs_http_response resp;
	char *seg = dk_path_name(id, false);
	char *path = bs_xasprintf("/nodes/%s", seg);
	char what[320], msg[768];
	int rc;

	rc = dk_api(dk, "DELETE", path, force ? "force=1" : NULL, NULL, &resp, err);
	if (rc == 0 && resp.status != 200 && resp.status != 404) {
		dk_error_message(&resp, msg, sizeof(msg));
		snprintf(what, sizeof(what), "removing node %s", id);
		if (strstr(msg, "is not down") != NULL)
			rc = bs_err_set(err, BS_ERR_CONFLICT,
					"%s: %s: it is not down: make it leave the cluster first, "
					"or remove it with force",
					d->display, what);
		else
			rc = swarm_error(dk, &resp, what, err);
	}
	bs_http_response_free(&resp);
	free(seg);
	free(path);
	return rc;
}

/* ---- services ---------------------------------------------------------------------- */

void dk_parse_service(const cJSON *o, struct bs_service_info *s)
{
	const cJSON *spec = item(o, "Spec"), *mode = item(spec, "Mode");
	const cJSON *status = item(o, "UpdateStatus");
	const cJSON *replicated = item(mode, "Replicated");
	const cJSON *ports, *p;

	s->id = dk_json_strdup(o, "ID");
	s->name = dk_json_strdup(spec, "Name");
	s->version = json_version(o);
	dk_json_labels(item(spec, "Labels"), &s->labels);
	s->image = json_nonempty(item(item(spec, "TaskTemplate"), "ContainerSpec"), "Image");
	s->replicas = replicated != NULL ? (int)dk_json_num(replicated, "Replicas") : -1;
	s->update_state = json_nonempty(status, "State");
	s->update_message = json_nonempty(status, "Message");
	s->created = json_time(o, "CreatedAt");
	s->updated = json_time(o, "UpdatedAt");
	s->ingress_ports = 0;
	/* PublishMode defaults to ingress; the spec when the endpoint is not there yet */
	ports = item(item(o, "Endpoint"), "Ports");
	if (ports == NULL)
		ports = item(item(spec, "EndpointSpec"), "Ports");
	cJSON_ArrayForEach(p, ports)
	{
		const char *publish = dk_json_str(p, "PublishMode");

		if (publish == NULL || strcmp(publish, "ingress") == 0)
			s->ingress_ports++;
	}
}

int bs_docker_service_list(struct bs_cdriver *d, const struct bs_kvlist *labels,
			   struct bs_service_list *out, struct bs_err *err)
{
	char *filters = NULL, *query = NULL;
	const cJSON *o;
	cJSON *arr;
	int rc;

	memset(out, 0, sizeof(*out));
	if (labels != NULL && labels->n > 0) {
		filters = dk_label_filters(labels);
		query = bs_xasprintf("filters=%s", filters);
	}
	rc = swarm_get(as_docker(d), "/services", query, "listing services", &arr, err);
	free(filters);
	free(query);
	if (rc != 0)
		return rc;
	out->v = bs_xcalloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(*out->v));
	cJSON_ArrayForEach(o, arr) dk_parse_service(o, &out->v[out->n++]);
	cJSON_Delete(arr);
	return 0;
}

/* GET /services/{name}: the engine's whole answer. */
static int get_service(struct docker *dk, const char *name, cJSON **out, struct bs_err *err)
{
	char *seg = dk_path_name(name, false);
	char *path = bs_xasprintf("/services/%s", seg);
	char what[320];
	int rc;

	snprintf(what, sizeof(what), "service named %s", name);
	rc = swarm_get(dk, path, NULL, what, out, err);
	free(seg);
	free(path);
	return rc;
}

int bs_docker_service_inspect(struct bs_cdriver *d, const char *name, struct bs_service_info *out,
			      struct bs_err *err)
{
	cJSON *o;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = get_service(as_docker(d), name, &o, err);
	if (rc == 0)
		dk_parse_service(o, out);
	cJSON_Delete(o);
	return rc;
}

/* UpdateConfig, or RollbackConfig (which cannot roll back: pause). */
static void update_config(cJSON *root, const char *key, const struct bs_service_spec *s,
			  bool rollback)
{
	cJSON *u = cJSON_AddObjectToObject(root, key);
	const char *action = s->update_failure_action;

	/* always sent: left out, it would be 0 (all at once), not the default */
	cJSON_AddNumberToObject(u, "Parallelism", s->update_parallelism);
	if (s->update_delay_ns)
		cJSON_AddNumberToObject(u, "Delay", (double)s->update_delay_ns);
	if (rollback)
		action = action != NULL && strcmp(action, "continue") == 0 ? "continue" : "pause";
	if (action != NULL)
		cJSON_AddStringToObject(u, "FailureAction", action);
	if (s->update_monitor_ns)
		cJSON_AddNumberToObject(u, "Monitor", (double)s->update_monitor_ns);
	if (s->update_order != NULL)
		cJSON_AddStringToObject(u, "Order", s->update_order);
}

/* A task's capabilities, read-only root, hosts and ulimits (API 1.41's
 * ContainerSpec): Hosts are written as /etc/hosts lines, "ADDRESS HOST". */
static void task_hardening(cJSON *cs, const struct bs_cspec *t)
{
	size_t i;

	if (t->cap_add)
		cJSON_AddItemToObject(cs, "CapabilityAdd", dk_string_array(t->cap_add));
	if (t->cap_drop)
		cJSON_AddItemToObject(cs, "CapabilityDrop", dk_string_array(t->cap_drop));
	if (t->read_only_rootfs)
		cJSON_AddBoolToObject(cs, "ReadOnly", true);
	if (t->extra_hosts) {
		cJSON *hosts = cJSON_AddArrayToObject(cs, "Hosts");

		for (i = 0; t->extra_hosts[i] != NULL; i++) {
			const char *colon = strchr(t->extra_hosts[i], ':');
			char *line;

			if (colon == NULL)
				continue;
			line = bs_xasprintf("%s %.*s", colon + 1, (int)(colon - t->extra_hosts[i]),
					    t->extra_hosts[i]);
			cJSON_AddItemToArray(hosts, cJSON_CreateString(line));
			free(line);
		}
	}
	if (t->n_ulimits)
		cJSON_AddItemToObject(cs, "Ulimits", dk_ulimits(t->ulimits, t->n_ulimits));
}

/* The ServiceSpec of POST /services/create and /services/{id}/update. */
cJSON *dk_service_body(const struct bs_service_spec *s)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *task = cJSON_AddObjectToObject(root, "TaskTemplate");
	cJSON *cs = cJSON_AddObjectToObject(task, "ContainerSpec");
	cJSON *mode = cJSON_AddObjectToObject(root, "Mode");
	size_t i;

	cJSON_AddStringToObject(root, "Name", s->name);
	if (s->labels != NULL && s->labels->n > 0)
		cJSON_AddItemToObject(root, "Labels", dk_kv_object(s->labels));
	dk_container_fields(cs, cs, s->task, DK_SERVICE);
	if (s->stop_grace_ns >= 0)
		cJSON_AddNumberToObject(cs, "StopGracePeriod", (double)s->stop_grace_ns);
	task_hardening(cs, s->task);
	if (s->task->log_driver != NULL || s->task->log_options != NULL) {
		cJSON *ld = cJSON_AddObjectToObject(task, "LogDriver");

		/* no name: the engine's default driver, as for a container */
		if (s->task->log_driver != NULL)
			cJSON_AddStringToObject(ld, "Name", s->task->log_driver);
		cJSON_AddItemToObject(ld, "Options", dk_kv_object(s->task->log_options));
	} else if (s->task->log_max_size != NULL || s->task->log_max_file != NULL) {
		cJSON *ld = cJSON_AddObjectToObject(task, "LogDriver");
		cJSON *lo = cJSON_AddObjectToObject(ld, "Options");

		cJSON_AddStringToObject(ld, "Name", "json-file");
		if (s->task->log_max_size != NULL)
			cJSON_AddStringToObject(lo, "max-size", s->task->log_max_size);
		if (s->task->log_max_file != NULL)
			cJSON_AddStringToObject(lo, "max-file", s->task->log_max_file);
	}
	if (s->memory_bytes || s->nano_cpus || s->pids_limit) {
		cJSON *limits = cJSON_AddObjectToObject(cJSON_AddObjectToObject(task, "Resources"),
							"Limits");

		if (s->nano_cpus)
			cJSON_AddNumberToObject(limits, "NanoCPUs", (double)s->nano_cpus);
		if (s->memory_bytes)
			cJSON_AddNumberToObject(limits, "MemoryBytes", (double)s->memory_bytes);
		if (s->pids_limit)
			cJSON_AddNumberToObject(limits, "Pids", (double)s->pids_limit);
	}
	if (s->restart || s->restart_max_attempts) {
		cJSON *rp = cJSON_AddObjectToObject(task, "RestartPolicy");

		if (s->restart)
			cJSON_AddStringToObject(rp, "Condition", s->restart);
		if (s->restart_max_attempts)
			cJSON_AddNumberToObject(rp, "MaxAttempts", s->restart_max_attempts);
	}
	if ((s->constraints && s->constraints[0]) || s->max_replicas_per_node) {
		cJSON *pl = cJSON_AddObjectToObject(task, "Placement");

		if (s->constraints && s->constraints[0])
			cJSON_AddItemToObject(pl, "Constraints", dk_string_array(s->constraints));
		if (s->max_replicas_per_node)
			cJSON_AddNumberToObject(pl, "MaxReplicas", s->max_replicas_per_node);
	}
	if (s->networks && s->networks[0]) {
		cJSON *nets = cJSON_AddArrayToObject(task, "Networks");

		for (i = 0; s->networks[i] != NULL; i++) {
			cJSON *n = cJSON_CreateObject();

			cJSON_AddStringToObject(n, "Target", s->networks[i]);
			cJSON_AddItemToArray(nets, n);
		}
	}
	if (s->replicas < 0)
		cJSON_AddObjectToObject(mode, "Global");
	else
		cJSON_AddNumberToObject(cJSON_AddObjectToObject(mode, "Replicated"), "Replicas",
					s->replicas);
	update_config(root, "UpdateConfig", s, false);
	update_config(root, "RollbackConfig", s, true);
	if (s->n_ports > 0) {
		cJSON *ports = cJSON_AddArrayToObject(cJSON_AddObjectToObject(root, "EndpointSpec"),
						      "Ports");

		for (i = 0; i < s->n_ports; i++) {
			cJSON *p = cJSON_CreateObject();

			cJSON_AddStringToObject(p, "Protocol", s->ports[i].udp ? "udp" : "tcp");
			cJSON_AddNumberToObject(p, "TargetPort", s->ports[i].target);
			if (s->ports[i].published)
				cJSON_AddNumberToObject(p, "PublishedPort", s->ports[i].published);
			cJSON_AddStringToObject(p, "PublishMode",
						s->ports[i].host_mode ? "host" : "ingress");
			cJSON_AddItemToArray(ports, p);
		}
	}
	return root;
}

/* Secrets of the body (Env) are wiped before the tree is freed. */
static void body_free(cJSON *body)
{
	cJSON *env = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(body, "TaskTemplate"), "ContainerSpec"),
		"Env");
	cJSON *e;

	cJSON_ArrayForEach(e, env) wipe_string(e);
	cJSON_Delete(body);
}

int bs_docker_service_create(struct bs_cdriver *d, const struct bs_service_spec *spec, char **id,
			     struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	struct bs_http_response resp;
	cJSON *body = dk_service_body(spec), *answer = NULL;
	char what[320];
	int rc;

	if (id != NULL)
		*id = NULL;
	snprintf(what, sizeof(what), "creating service %s", spec->name);
	rc = post_json(dk, "/services/create", NULL, body, spec->cred, &resp, err);
	body_free(body);
	if (rc != 0)
		return rc;
	if (resp.status == 409) {
		rc = bs_err_set(err, BS_ERR_CONFLICT,
				"%s: service name %s is already in use (update that service, or "
				"remove it first)",
				d->display, spec->name);
		goto out;
	}
	if (resp.status != 201 && resp.status != 200) {
		rc = swarm_error(dk, &resp, what, err);
		goto out;
	}
	answer = cJSON_ParseWithLength(bs_buf_str(&resp.body), resp.body.len);
	if (dk_json_str(answer, "ID") == NULL)
		rc = bs_err_set(err, BS_ERR_PROTOCOL, "%s: %s: no ID in the answer", d->display,
				what);
	else if (id != NULL)
		*id = dk_json_strdup(answer, "ID");
out:
	cJSON_Delete(answer);
	bs_http_response_free(&resp);
	return rc;
}

int bs_docker_service_update(struct bs_cdriver *d, const char *id, int64_t version,
			     const struct bs_service_spec *spec, struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	struct bs_http_response resp;
	cJSON *body = dk_service_body(spec);
	char *seg = dk_path_name(id, false);
	char *path = bs_xasprintf("/services/%s/update", seg);
	char *query = bs_xasprintf("version=%lld", (long long)version);
	char what[320];
	int rc;

	rc = post_json(dk, path, query, body, spec->cred, &resp, err);
	body_free(body);
	if (rc == 0 && resp.status == 404) {
		rc = bs_err_set(err, BS_ERR_NOT_FOUND, "%s: no service named %s", d->display, id);
	} else if (rc == 0 && resp.status != 200) {
		snprintf(what, sizeof(what), "updating service %s", spec->name ? spec->name : id);
		rc = swarm_error(dk, &resp, what, err);
	}
	bs_http_response_free(&resp);
	free(seg);
	free(path);
	free(query);
	return rc;
}

int bs_docker_service_remove(struct bs_cdriver *d, const char *name, bool *removed,
			     struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	struct bs_http_response resp;
	char *seg = dk_path_name(name, false);
	char *path = bs_xasprintf("/services/%s", seg);
	char what[320];
	int rc;

	*removed = false;
	rc = dk_api(dk, "DELETE", path, NULL, NULL, &resp, err);
	if (rc == 0 && resp.status == 200) {
		*removed = true;
	} else if (rc == 0 && resp.status != 404) {
		snprintf(what, sizeof(what), "removing service %s", name);
		rc = swarm_error(dk, &resp, what, err);
	}
	bs_http_response_free(&resp);
	free(seg);
	free(path);
	return rc;
}

/* ---- tasks, logs, networks ------------------------------------------------------------ */

void dk_parse_task(const cJSON *o, struct bs_task_info *t)
{
	const cJSON *status = item(o, "Status");

	t->id = dk_json_strdup(o, "ID");
	t->service_id = json_nonempty(o, "ServiceID");
	t->node_id = json_nonempty(o, "NodeID");
	t->slot = (int)dk_json_num(o, "Slot");
	t->state = json_nonempty(status, "State");
	t->desired_state = json_nonempty(o, "DesiredState");
	t->message = json_nonempty(status, "Message");
	t->error = json_nonempty(status, "Err");
	t->container_id = json_nonempty(item(status, "ContainerStatus"), "ContainerID");
	t->service_version = json_version(o);
	t->updated = json_time(o, "UpdatedAt");
	dk_json_labels(item(item(item(o, "Spec"), "ContainerSpec"), "Labels"), &t->labels);
}

int bs_docker_task_list(struct bs_cdriver *d, const char *service, struct bs_task_list *out,
			struct bs_err *err)
{
	struct bs_kvlist by_service = BS_KVLIST_INIT;
	char *filters, *query, what[320];
	const cJSON *o;
	cJSON *arr;
	int rc;

	memset(out, 0, sizeof(*out));
	bs_kvlist_push(&by_service, "service", service, false);
	filters = bs_http_filters(&by_service);
	bs_kvlist_free(&by_service);
	query = bs_xasprintf("filters=%s", filters);
	/* the engine resolves the name first: a missing service is a 404 */
	snprintf(what, sizeof(what), "service named %s", service);
	rc = swarm_get(as_docker(d), "/tasks", query, what, &arr, err);
	free(filters);
	free(query);
	if (rc != 0)
		return rc;
	out->v = bs_xcalloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(*out->v));
	cJSON_ArrayForEach(o, arr) dk_parse_task(o, &out->v[out->n++]);
	cJSON_Delete(arr);
	return 0;
}

int bs_docker_service_logs(struct bs_cdriver *d, const char *service,
			   const struct bs_logs_opts *opts, bs_log_fn fn, void *payload,
			   struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	const cJSON *cs;
	cJSON *o;
	int rc;

	/* as for containers, 1.41 sends no Content-Type: TTY decides the framing */
	rc = get_service(dk, service, &o, err);
	if (rc != 0)
		return rc;
	cs = item(item(item(o, "Spec"), "TaskTemplate"), "ContainerSpec");
	rc = dk_logs(dk, "services", service, cJSON_IsTrue(item(cs, "TTY")), opts, fn, payload,
		     err);
	cJSON_Delete(o);
	return rc;
}

int bs_docker_overlay_ensure(struct bs_cdriver *d, const char *name, const struct bs_kvlist *labels,
			     const struct bs_kvlist *options, struct bs_kvlist *have, bool *created,
			     struct bs_err *err)
{
	struct docker *dk = as_docker(d);
	char what[320];
	int rc = dk_network_ensure(dk, name, "overlay", labels, options, have, created, err);

	if (rc != 0 && err != NULL && is_not_manager(err->msg)) {
		char msg[BS_ERR_MSG_MAX];

		snprintf(msg, sizeof(msg), "%s", err->msg);
		snprintf(what, sizeof(what), "creating overlay network %s", name);
		rc = not_manager(dk, msg, what, err);
	}
	return rc;
}
