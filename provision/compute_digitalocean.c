/*
 * compute_digitalocean.c - the DigitalOcean compute driver (API v2,
 * https://docs.digitalocean.com/reference/api/): droplets tagged
 * "bootstrap-project:<project>" and "bootstrap-node:<node>", found with
 * ?tag_name=, created with the project's SSH key.
 *
 * Traps handled here:
 *   - droplet names are NOT unique on DigitalOcean: a second POST makes a
 *     second droplet. So create first looks the name up (?name=, exact):
 *     a droplet carrying this node's tags is adopted, one without them is
 *     a conflict named with its fix; only when none exists is one created.
 *     The same lookup runs before a POST that failed with 5xx or timed out
 *     is tried again.
 *   - tags may hold letters, digits, ':', '-' and '_' only (at most 255):
 *     checked before anything is sent.
 *   - a create answers 202 with the droplet "new" and a create action in
 *     links.actions: wait_running polls that action too, so an "errored"
 *     create fails the node instead of timing out. DigitalOcean gives no
 *     reason for an errored action.
 *   - SSH keys are looked up by MD5 fingerprint (GET /account/keys/{fp}).
 *   - a deleted droplet is waited for until GET answers 404.
 *   - GET /droplets lists only non-GPU droplets unless type=gpus is asked,
 *     and type cannot be combined with tag_name: GPU droplets are listed
 *     apart and filtered by tag, else a GPU node would be created anew on
 *     every run.
 *   - the SHA256 fingerprint of the key a droplet was created with goes
 *     into its tag bootstrap-key:...; a droplet "off" is powered on by
 *     start() (a power_on action); DELETE removes it in any power state.
 *   - check() reads /regions, /sizes ("available", "regions") and the
 *     image before the first droplet is ordered.
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

#define DEFAULT_URL "https://api.digitalocean.com/v2"
#define GONE_WAIT_MS (2 * 60 * 1000)
#define CREATE_TRIES 3

struct pending_action {
	char *droplet_id;
	char *action_id;
};

struct digitalocean {
	struct bs_compute base; /* first: the driver is used as a struct bs_compute */
	struct bs_rest *rest;
	const char *project; /* the recipe's */
	char *project_tag;
	bool have_key;
	double key_id;
	struct pending_action *pending;
	size_t n_pending;
};

enum bs_node_state bs_digitalocean_state(const char *status)
{
	if (status == NULL)
		return BS_NODE_UNKNOWN;
	if (strcmp(status, "new") == 0)
		return BS_NODE_PENDING;
	if (strcmp(status, "active") == 0)
		return BS_NODE_RUNNING;
	if (strcmp(status, "off") == 0)
		return BS_NODE_STOPPED;
	if (strcmp(status, "archive") == 0)
		return BS_NODE_TERMINATED;
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

/* The value of the first tag starting with prefix, or NULL (borrowed). */
static const char *tag_value(const cJSON *droplet, const char *prefix)
{
	const cJSON *t;

	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(droplet, "tags"))
	{
		if (cJSON_IsString(t) && bs_str_starts_with(t->valuestring, prefix) &&
		    t->valuestring[strlen(prefix)] != '\0')
			return t->valuestring + strlen(prefix);
	}
	return NULL;
}

static const char *public_ipv4(const cJSON *droplet)
{
	const cJSON *nets = cJSON_GetObjectItemCaseSensitive(droplet, "networks"), *n;

	cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(nets, "v4"))
	{
		const char *type = str_at(n, "type");

		if (type != NULL && strcmp(type, "public") == 0 && str_at(n, "ip_address"))
			return str_at(n, "ip_address");
	}
	return NULL;
}

int bs_digitalocean_machine(struct bs_machine *out, const cJSON *droplet, struct bs_err *err)
{
	const char *status = str_at(droplet, "status");
	const char *node = tag_value(droplet, BS_DO_TAG_NODE);
	const cJSON *image = cJSON_GetObjectItemCaseSensitive(droplet, "image");
	const char *size = str_at(droplet, "size_slug");
	char *id = bs_rest_id_string(cJSON_GetObjectItemCaseSensitive(droplet, "id"));

	memset(out, 0, sizeof(*out));
	if (!cJSON_IsObject(droplet) || id == NULL || status == NULL) {
		free(id);
		return bs_err_set(err, BS_ERR_PROTOCOL,
				  "digitalocean: a droplet object lacks its id or status");
	}
	if (size == NULL)
		size = str_at(cJSON_GetObjectItemCaseSensitive(droplet, "size"), "slug");
	out->id = id;
	out->name = bs_xstrdup(node				 ? node
			       : str_at(droplet, "name") != NULL ? str_at(droplet, "name")
								 : id);
	out->project = bs_xstrdup_opt(tag_value(droplet, BS_DO_TAG_PROJECT));
	out->state = bs_digitalocean_state(status);
	out->ssh_host = bs_xstrdup_opt(public_ipv4(droplet));
	out->ssh_port = 22;
	out->size = bs_xstrdup_opt(size);
	out->image = bs_xstrdup_opt(str_at(image, "slug") ? str_at(image, "slug")
							  : str_at(image, "name"));
	out->region =
		bs_xstrdup_opt(str_at(cJSON_GetObjectItemCaseSensitive(droplet, "region"), "slug"));
	out->ssh_key = bs_compute_key_from_label(tag_value(droplet, BS_DO_TAG_KEY));
	return 0;
}

/* ---- helpers ------------------------------------------------------------------------ */

static bool cancelled(const struct digitalocean *d)
{
	return d->base.opts.cancel != NULL && *d->base.opts.cancel;
}

static bool nap(const struct digitalocean *d, long ms)
{
	long long end = bs_now_ms() + ms;

	while (!cancelled(d)) {
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

static void forget_actions(struct digitalocean *d, const char *droplet_id)
{
	size_t i = 0;

	while (i < d->n_pending) {
		if (strcmp(d->pending[i].droplet_id, droplet_id) == 0) {
			free(d->pending[i].droplet_id);
			free(d->pending[i].action_id);
			d->pending[i] = d->pending[--d->n_pending];
		} else {
			i++;
		}
	}
}

static void remember_action(struct digitalocean *d, const char *droplet_id, const cJSON *action)
{
	char *id = bs_rest_id_string(cJSON_GetObjectItemCaseSensitive(action, "id"));

	if (id == NULL)
		return;
	d->pending = bs_xrealloc(d->pending, (d->n_pending + 1) * sizeof(*d->pending));
	d->pending[d->n_pending].droplet_id = bs_xstrdup(droplet_id);
	d->pending[d->n_pending].action_id = id;
	d->n_pending++;
}

/* Poll the create actions of droplet_id: "errored" fails, "completed" is dropped. */
static int check_actions(struct digitalocean *d, const char *droplet_id, struct bs_err *err)
{
	size_t i = 0;
	int rc = 0;

	while (i < d->n_pending && rc == 0) {
		struct bs_rest_reply reply;
		bool finished = false;
		char *path;

		if (strcmp(d->pending[i].droplet_id, droplet_id) != 0) {
			i++;
			continue;
		}
		path = bs_xasprintf("/actions/%s", d->pending[i].action_id);
		rc = bs_rest_call(d->rest, "GET", path, NULL, BS_REST_IDEMPOTENT, &reply, err);
		if (rc == 0) {
			const cJSON *action =
				cJSON_GetObjectItemCaseSensitive(reply.json, "action");
			const char *status = str_at(action, "status");
			const char *type = str_at(action, "type");

			finished = status != NULL && strcmp(status, "in-progress") != 0;
			if (status != NULL && strcmp(status, "errored") == 0)
				rc = bs_err_set(
					err, BS_ERR_API,
					"digitalocean: droplet %s: action %s (%s) errored (DigitalOcean gives no reason: see the droplet's history in the control panel, then destroy it and run again)",
					droplet_id, d->pending[i].action_id,
					type ? type : "create");
		} else if (rc == BS_ERR_NOT_FOUND) {
			rc = 0;
			finished = true;
		}
		free(path);
		bs_rest_reply_free(&reply);
		if (rc == 0 && finished) {
			free(d->pending[i].droplet_id);
			free(d->pending[i].action_id);
			d->pending[i] = d->pending[--d->n_pending];
		} else {
			i++;
		}
	}
	return rc;
}

/* Every droplet named name (exact, case-insensitive, as the API compares). */
static int find_by_name(struct digitalocean *d, const char *name, cJSON **found, struct bs_err *err)
{
	char *esc = bs_rest_escape(name);
	char *path = bs_xasprintf("/droplets?name=%s", esc);
	char *gpus = bs_xasprintf("/droplets?name=%s&type=gpus", esc);
	cJSON *items = NULL, *it;
	int rc;

	*found = cJSON_CreateArray();
	rc = bs_rest_get_all(d->rest, path, "droplets", &items, err);
	if (rc == 0) /* GPU droplets are listed only when asked for: see do_list */
		rc = bs_rest_get_all(d->rest, gpus, "droplets", &items, err);
	cJSON_ArrayForEach(it, items)
	{
		const char *n = str_at(it, "name");

		if (rc == 0 && n != NULL && strcasecmp(n, name) == 0)
			cJSON_AddItemToArray(*found, cJSON_Duplicate(it, 1));
	}
	cJSON_Delete(items);
	free(gpus);
	free(path);
	free(esc);
	return rc;
}

static bool tags_are(const cJSON *droplet, const char *project, const char *node)
{
	const char *p = tag_value(droplet, BS_DO_TAG_PROJECT);
	const char *n = tag_value(droplet, BS_DO_TAG_NODE);

	return p != NULL && n != NULL && strcmp(p, project) == 0 && strcmp(n, node) == 0;
}

/*
 * The droplets named like node: 0 with *adopted filled when one is this
 * node's (and not archived), 0 with nothing when none is, BS_ERR_CONFLICT
 * when another droplet holds the name.
 */
static int settle_name(struct digitalocean *d, const struct bs_node *node,
		       struct bs_machine *adopted, bool *is_ours, struct bs_err *err)
{
	cJSON *found = NULL, *it;
	int rc;

	*is_ours = false;
	rc = find_by_name(d, node->name, &found, err);
	cJSON_ArrayForEach(it, found)
	{
		if (rc != 0 || *is_ours)
			break;
		if (tags_are(it, d->project, node->name)) {
			struct bs_machine m;

			rc = bs_digitalocean_machine(&m, it, err);
			if (rc == 0 && m.state != BS_NODE_TERMINATED) {
				*adopted = m;
				*is_ours = true;
			} else if (rc == 0) {
				bs_machine_free(&m);
			}
		}
	}
	cJSON_ArrayForEach(it, found)
	{
		const char *p, *n;
		char *id;

		if (rc != 0 || *is_ours || tags_are(it, d->project, node->name))
			continue;
		p = tag_value(it, BS_DO_TAG_PROJECT);
		n = tag_value(it, BS_DO_TAG_NODE);
		id = bs_rest_id_string(cJSON_GetObjectItemCaseSensitive(it, "id"));
		rc = bs_err_set(
			err, BS_ERR_CONFLICT,
			"digitalocean: a droplet named %s already exists (id %s) and is not node %s of project %s (its tags: %s%s, %s%s): rename the node in the recipe, or rename or destroy that droplet",
			node->name, id ? id : "?", node->name, d->project, BS_DO_TAG_PROJECT,
			p ? p : "(none)", BS_DO_TAG_NODE, n ? n : "(none)");
		free(id);
	}
	cJSON_Delete(found);
	return rc;
}

/* ---- SSH key ----------------------------------------------------------------------- */

static int take_key(struct digitalocean *d, const cJSON *root, const char *what, struct bs_err *err)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(root, "ssh_key"), "id");

	if (!cJSON_IsNumber(id))
		return bs_err_set(err, BS_ERR_PROTOCOL,
				  "digitalocean: %s: the answer has no ssh_key.id", what);
	d->key_id = id->valuedouble;
	d->have_key = true;
	return 0;
}

static int key_by_fingerprint(struct digitalocean *d, const char *fp, bool *found,
			      struct bs_err *err)
{
	char *path = bs_xasprintf("/account/keys/%s", fp);
	struct bs_rest_reply reply;
	int rc;

	*found = false;
	rc = bs_rest_call(d->rest, "GET", path, NULL, BS_REST_IDEMPOTENT, &reply, err);
	if (rc == BS_ERR_NOT_FOUND) {
		rc = 0;
	} else if (rc == 0) {
		rc = take_key(d, reply.json, path, err);
		*found = rc == 0;
	}
	bs_rest_reply_free(&reply);
	free(path);
	return rc;
}

static int ensure_key(struct digitalocean *d, struct bs_err *err)
{
	const char *pub = d->base.opts.ssh_public_key;
	char fp[BS_MD5_FINGERPRINT_LEN];
	struct bs_rest_reply reply;
	cJSON *body;
	char *clean, *name;
	bool found = false;
	int rc;

	if (d->have_key)
		return 0;
	if (pub == NULL)
		return bs_err_set(
			err, BS_ERR_INVALID,
			"digitalocean: no SSH public key to install on new droplets: set ssh.key to a private key with its .pub beside it");
	rc = bs_ssh_md5_fingerprint(fp, pub, err);
	if (rc == 0)
		rc = key_by_fingerprint(d, fp, &found, err);
	if (rc != 0 || found)
		return rc;
	clean = bs_ssh_public_key_clean(pub);
	name = bs_xasprintf("bootstrap-%s", d->project);
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "name", name);
	cJSON_AddStringToObject(body, "public_key", clean);
	rc = bs_rest_call(d->rest, "POST", "/account/keys", body, BS_REST_ONCE, &reply, err);
	if (rc == 0) {
		rc = take_key(d, reply.json, "POST /account/keys", err);
		if (rc == 0)
			bs_log(BS_LOG_INFO, "digitalocean: registered SSH key %s as %s", fp, name);
	} else if (reply.status == 422 || rc == BS_ERR_CONFLICT || reply.maybe_applied) {
		/* "SSH Key is already in use on your account": another run was first */
		struct bs_err again = BS_ERR_INIT;

		if (key_by_fingerprint(d, fp, &found, &again) == 0 && found)
			rc = 0;
	}
	if (rc != 0)
		bs_err_prefix(err, "registering the SSH key %s", fp);
	bs_rest_reply_free(&reply);
	cJSON_Delete(body);
	free(name);
	free(clean);
	return rc;
}

/* ---- operations -------------------------------------------------------------------- */

static bool tag_present(const cJSON *droplet, const char *tag)
{
	const cJSON *t;

	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(droplet, "tags"))
	{
		if (cJSON_IsString(t) && strcmp(t->valuestring, tag) == 0)
			return true;
	}
	return false;
}

static int do_list(struct bs_compute *c, struct bs_machine_list *out, struct bs_err *err)
{
	struct digitalocean *d = (struct digitalocean *)c;
	char *esc = bs_rest_escape(d->project_tag);
	char *path = bs_xasprintf("/droplets?tag_name=%s", esc);
	cJSON *items = NULL, *it;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = bs_rest_get_all(d->rest, path, "droplets", &items, err);
	/*
	 * "By default, only non-GPU Droplets are returned. To list only GPU
	 * Droplets, set the type query parameter to gpus", and type "can not be
	 * combined with tag_name" (OpenAPI document, GET /v2/droplets,
	 * droplets_list; github.com/digitalocean/openapi): GPU droplets are
	 * listed apart and filtered by tag here, or a GPU node would never be
	 * found again and every run would create another (billed) one.
	 */
	if (rc == 0)
		rc = bs_rest_get_all(d->rest, "/droplets?type=gpus", "droplets", &items, err);
	cJSON_ArrayForEach(it, items)
	{
		struct bs_machine m;

		if (rc != 0)
			break;
		if (!tag_present(it, d->project_tag))
			continue;
		rc = bs_digitalocean_machine(&m, it, err);
		if (rc != 0)
			break;
		/* never another project's, even if the tag filter were ignored */
		if (m.project != NULL && strcmp(m.project, d->project) == 0)
			bs_rest_machines_push(out, &m);
		else
			bs_machine_free(&m);
	}
	cJSON_Delete(items);
	free(path);
	free(esc);
	if (rc != 0)
		bs_machine_list_free(out);
	else
		bs_rest_machines_sort(out);
	return rc;
}

static cJSON *create_body(const struct digitalocean *d, const struct bs_node *node,
			  const char *node_tag)
{
	const struct bs_provider *p = &d->base.fleet.provider;
	cJSON *body = cJSON_CreateObject(), *tags, *keys;
	char *key = bs_compute_key_label(d->base.opts.ssh_key_fingerprint), *key_tag = NULL;
	long long image_id;

	cJSON_AddStringToObject(body, "name", node->name);
	if (p->region != NULL)
		cJSON_AddStringToObject(body, "region", p->region);
	cJSON_AddStringToObject(body, "size", node->size ? node->size : p->size);
	/* a private image is given by its number, a public one by its slug */
	if (bs_parse_int64(p->image, &image_id) == 0 && image_id > 0)
		cJSON_AddNumberToObject(body, "image", (double)image_id);
	else
		cJSON_AddStringToObject(body, "image", p->image);
	keys = cJSON_AddArrayToObject(body, "ssh_keys");
	cJSON_AddItemToArray(keys, cJSON_CreateNumber(d->key_id));
	tags = cJSON_AddArrayToObject(body, "tags");
	cJSON_AddItemToArray(tags, cJSON_CreateString(d->project_tag));
	cJSON_AddItemToArray(tags, cJSON_CreateString(node_tag));
	if (key != NULL)
		key_tag = bs_digitalocean_tag(BS_DO_TAG_KEY, key);
	if (key_tag != NULL)
		cJSON_AddItemToArray(tags, cJSON_CreateString(key_tag));
	free(key_tag);
	free(key);
	return body;
}

/* A create's answer: the droplet into *out; its actions (links.actions)
 * are remembered for wait_running. */
static int take_created(struct digitalocean *d, const cJSON *answer, struct bs_machine *out,
			struct bs_err *err)
{
	const cJSON *links = cJSON_GetObjectItemCaseSensitive(answer, "links");
	const cJSON *a;
	int rc;

	rc = bs_digitalocean_machine(out, cJSON_GetObjectItemCaseSensitive(answer, "droplet"), err);
	if (rc != 0)
		return rc;
	forget_actions(d, out->id);
	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(links, "actions"))
	{
		remember_action(d, out->id, a);
	}
	return 0;
}

static int do_create(struct bs_compute *c, const struct bs_node *node, struct bs_machine *out,
		     struct bs_err *err)
{
	struct digitalocean *d = (struct digitalocean *)c;
	char *node_tag = bs_digitalocean_tag(BS_DO_TAG_NODE, node->name);
	cJSON *body = NULL;
	bool ours = false;
	long backoff = 2000;
	int rc, attempt;

	memset(out, 0, sizeof(*out));
	if (node_tag == NULL) {
		rc = bs_err_set(
			err, BS_ERR_INVALID,
			"digitalocean: '%s%s' cannot be a tag (letters, digits, ':', '-', '_', at most 255): rename the node",
			BS_DO_TAG_NODE, node->name);
		goto out;
	}
	rc = settle_name(d, node, out, &ours, err);
	if (rc != 0 || ours) {
		if (ours)
			bs_log(BS_LOG_INFO,
			       "node %s: digitalocean: adopted droplet %s, which carries this project's tags",
			       node->name, out->id);
		goto out;
	}
	rc = ensure_key(d, err);
	if (rc != 0)
		goto out;
	body = create_body(d, node, node_tag);
	for (attempt = 1;; attempt++) {
		struct bs_rest_reply reply;
		struct bs_err settle = BS_ERR_INIT;
		bool maybe;

		rc = bs_rest_call(d->rest, "POST", "/droplets", body, BS_REST_ONCE, &reply, err);
		if (rc == 0) {
			rc = take_created(d, reply.json, out, err);
			if (rc == 0)
				bs_log(BS_LOG_INFO, "node %s: digitalocean: created droplet %s",
				       node->name, out->id);
			bs_rest_reply_free(&reply);
			break;
		}
		maybe = reply.maybe_applied;
		bs_rest_reply_free(&reply);
		if (!maybe)
			break;
		/* The POST may have made the droplet, and a second POST would make a
		 * second one: give a request still in flight time to land, then look
		 * by name. */
		if (!nap(d, backoff)) {
			rc = bs_err_set(err, BS_ERR_INTERRUPTED,
					"digitalocean: creating %s: interrupted", node->name);
			break;
		}
		backoff *= 2;
		if (settle_name(d, node, out, &ours, &settle) != 0) {
			rc = bs_err_set(err, settle.code, "%s", settle.msg);
			break;
		}
		if (ours) {
			bs_log(BS_LOG_INFO,
			       "node %s: digitalocean: the failed create made droplet %s; adopted",
			       node->name, out->id);
			rc = 0;
			break;
		}
		if (attempt >= CREATE_TRIES)
			break;
	}
out:
	cJSON_Delete(body);
	free(node_tag);
	if (rc != 0) {
		bs_machine_free(out);
		bs_err_prefix(err, "node %s", node->name);
	}
	return rc;
}

static int do_wait_running(struct bs_compute *c, struct bs_machine *m, struct bs_err *err)
{
	struct digitalocean *d = (struct digitalocean *)c;
	long timeout = c->opts.running_timeout_ms > 0 ? c->opts.running_timeout_ms : 600000;
	long long start = bs_now_ms(), deadline = start + timeout;
	char *path = bs_xasprintf("/droplets/%s", m->id);
	long interval = 1000;
	int rc;

	for (;;) {
		struct bs_rest_reply reply;
		struct bs_machine fresh;

		rc = check_actions(d, m->id, err);
		if (rc != 0)
			break;
		rc = bs_rest_call(d->rest, "GET", path, NULL, BS_REST_IDEMPOTENT, &reply, err);
		if (rc == 0)
			rc = bs_digitalocean_machine(
				&fresh, cJSON_GetObjectItemCaseSensitive(reply.json, "droplet"),
				err);
		bs_rest_reply_free(&reply);
		if (rc == BS_ERR_NOT_FOUND) {
			rc = bs_err_set(
				err, BS_ERR_NOT_FOUND,
				"digitalocean: droplet %s disappeared while starting: was it destroyed meanwhile?",
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
			rc = bs_err_set(
				err, BS_ERR_API,
				"digitalocean: droplet %s was archived while it should start",
				m->id);
			break;
		}
		if (bs_now_ms() + interval > deadline) {
			rc = bs_err_set(
				err, BS_ERR_TIMEOUT,
				"digitalocean: droplet %s is still %s%s after %lld s: look at it in the control panel",
				m->id, bs_node_state_name(m->state),
				m->state == BS_NODE_RUNNING ? " without a public IPv4" : "",
				(bs_now_ms() - start) / 1000);
			break;
		}
		if (!nap(d, interval)) {
			rc = bs_err_set(err, BS_ERR_INTERRUPTED,
					"digitalocean: waiting for droplet %s: interrupted", m->id);
			break;
		}
		interval = next_interval(interval);
	}
	if (rc == 0)
		forget_actions(d, m->id);
	free(path);
	if (rc != 0)
		bs_err_prefix(err, "node %s", m->name ? m->name : m->id);
	return rc;
}

static int do_destroy(struct bs_compute *c, const struct bs_machine *m, struct bs_err *err)
{
	struct digitalocean *d = (struct digitalocean *)c;
	char *path = bs_xasprintf("/droplets/%s", m->id);
	long long deadline = bs_now_ms() + GONE_WAIT_MS;
	struct bs_rest_reply reply;
	long interval = 1000;
	int rc;

	rc = bs_rest_call(d->rest, "DELETE", path, NULL, BS_REST_IDEMPOTENT, &reply, err);
	bs_rest_reply_free(&reply);
	if (rc == BS_ERR_NOT_FOUND) {
		bs_log(BS_LOG_INFO, "node %s: digitalocean: droplet %s was already gone", m->name,
		       m->id);
		rc = 0;
		goto out;
	}
	/* the DELETE is accepted (204) before the droplet is gone */
	while (rc == 0) {
		struct bs_machine now;

		rc = bs_rest_call(d->rest, "GET", path, NULL, BS_REST_IDEMPOTENT, &reply, err);
		if (rc == 0 &&
		    bs_digitalocean_machine(&now,
					    cJSON_GetObjectItemCaseSensitive(reply.json, "droplet"),
					    NULL) == 0) {
			bool archived = now.state == BS_NODE_TERMINATED;

			bs_machine_free(&now);
			if (archived) {
				bs_rest_reply_free(&reply);
				break;
			}
		}
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
				"digitalocean: droplet %s still exists %d s after it was destroyed: look at it in the control panel",
				m->id, GONE_WAIT_MS / 1000);
			break;
		}
		if (!nap(d, interval)) {
			rc = bs_err_set(err, BS_ERR_INTERRUPTED,
					"digitalocean: destroying droplet %s: interrupted", m->id);
			break;
		}
		interval = next_interval(interval);
	}
out:
	forget_actions(d, m->id);
	free(path);
	if (rc != 0)
		bs_err_prefix(err, "node %s", m->name ? m->name : m->id);
	return rc;
}

/* POST /droplets/{id}/actions {"type": "power_on"}: 201 {action} (OpenAPI
 * document, dropletActions_post). The action is remembered: wait_running
 * fails the node when it errors. */
static int do_start(struct bs_compute *c, struct bs_machine *m, struct bs_err *err)
{
	struct digitalocean *d = (struct digitalocean *)c;
	char *path = bs_xasprintf("/droplets/%s/actions", m->id);
	cJSON *body = cJSON_CreateObject();
	struct bs_rest_reply reply;
	int rc;

	cJSON_AddStringToObject(body, "type", "power_on");
	rc = bs_rest_call(d->rest, "POST", path, body, BS_REST_ONCE, &reply, err);
	if (rc == 0) {
		remember_action(d, m->id, cJSON_GetObjectItemCaseSensitive(reply.json, "action"));
		m->state = BS_NODE_STARTING;
		bs_log(BS_LOG_INFO, "node %s: digitalocean: droplet %s was off; powering it on",
		       m->name ? m->name : m->id, m->id);
	}
	bs_rest_reply_free(&reply);
	cJSON_Delete(body);
	free(path);
	if (rc != 0)
		bs_err_prefix(err, "node %s", m->name ? m->name : m->id);
	return rc;
}

/* ---- plan-time check --------------------------------------------------------------- */

static const cJSON *by_slug(const cJSON *items, const char *slug)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, items)
	{
		if (str_at(it, "slug") != NULL && strcmp(str_at(it, "slug"), slug) == 0)
			return it;
	}
	return NULL;
}

/* The slugs of the available objects of items (and offered in region,
 * when given: a size's "regions" list). */
static void available_slugs(const cJSON *items, const char *region, struct bs_strv *out)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, items)
	{
		const cJSON *regions = cJSON_GetObjectItemCaseSensitive(it, "regions"), *r;
		bool there = region == NULL || !cJSON_IsArray(regions);

		cJSON_ArrayForEach(r, regions)
		{
			there = there || (cJSON_IsString(r) && strcmp(r->valuestring, region) == 0);
		}
		if (str_at(it, "slug") != NULL &&
		    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "available")) && there)
			bs_strv_push(out, str_at(it, "slug"));
	}
}

static int check_size(struct digitalocean *d, const cJSON *sizes, const struct bs_node *node,
		      const char *size, struct bs_err *err)
{
	const char *region = d->base.fleet.provider.region;
	const cJSON *s = by_slug(sizes, size);
	struct bs_strv ok = BS_STRV_INIT;
	char at[600];
	char *valid;
	int rc = 0;

	bs_compute_where(&d->base, node, "size", at, sizeof(at));
	available_slugs(sizes, region, &ok);
	valid = bs_rest_closest(size, &ok, 5);
	if (s == NULL)
		rc = bs_err_set(err, BS_ERR_INVALID,
				"%s: digitalocean has no size '%s' (valid: %s)", at, size, valid);
	else if (!bs_strv_contains(&ok, size))
		rc = bs_err_set(
			err, BS_ERR_INVALID,
			"%s: digitalocean's size '%s' cannot be ordered%s%s now (\"available\": false, or not in the region's list): choose another (valid: %s)",
			at, size, region ? " in " : "", region ? region : "", valid);
	free(valid);
	bs_strv_free(&ok);
	return rc;
}

/*
 * GET /sizes ("available", "regions"), /regions ("available") and
 * /images/{id or slug} (OpenAPI document: sizes_list, regions_list,
 * images_get). An unknown or unavailable one is BS_ERR_INVALID, before
 * anything is created.
 */
static int do_check(struct bs_compute *c, struct bs_err *err)
{
	struct digitalocean *d = (struct digitalocean *)c;
	const struct bs_fleet *r = &c->fleet;
	cJSON *sizes = NULL, *regions = NULL;
	char at[600];
	size_t i;
	int rc = 0;

	/* the region first: a size "not in the region" says little when the
	 * region itself is wrong */
	if (r->provider.region != NULL)
		rc = bs_rest_get_all(d->rest, "/regions", "regions", &regions, err);
	if (rc == 0 && r->provider.region != NULL) {
		struct bs_strv ok = BS_STRV_INIT;

		available_slugs(regions, NULL, &ok);
		if (!bs_strv_contains(&ok, r->provider.region)) {
			char *valid = bs_rest_closest(r->provider.region, &ok, 5);

			bs_compute_where(&d->base, NULL, "region", at, sizeof(at));
			rc = bs_err_set(err, BS_ERR_INVALID,
					"%s: digitalocean has no region '%s'%s (valid: %s)", at,
					r->provider.region,
					by_slug(regions, r->provider.region)
						? " open for new droplets"
						: "",
					valid);
			free(valid);
		}
		bs_strv_free(&ok);
	}
	if (rc == 0)
		rc = bs_rest_get_all(d->rest, "/sizes", "sizes", &sizes, err);
	if (rc == 0 && r->provider.size != NULL)
		rc = check_size(d, sizes, NULL, r->provider.size, err);
	for (i = 0; rc == 0 && i < r->n_nodes; i++)
		if (r->nodes[i].size != NULL &&
		    (i == 0 || r->nodes[i - 1].entry != r->nodes[i].entry))
			rc = check_size(d, sizes, &r->nodes[i], r->nodes[i].size, err);
	if (rc == 0 && r->provider.image != NULL) {
		char *esc = bs_rest_escape(r->provider.image);
		char *path = bs_xasprintf("/images/%s", esc);
		struct bs_rest_reply reply;

		rc = bs_rest_call(d->rest, "GET", path, NULL, BS_REST_IDEMPOTENT, &reply, err);
		if (rc == BS_ERR_NOT_FOUND) {
			bs_compute_where(&d->base, NULL, "image", at, sizeof(at));
			rc = bs_err_set(
				err, BS_ERR_INVALID,
				"%s: digitalocean has no image '%s' (a public image's slug, such as debian-12-x64, or a private image's number)",
				at, r->provider.image);
		}
		bs_rest_reply_free(&reply);
		free(path);
		free(esc);
	}
	cJSON_Delete(sizes);
	cJSON_Delete(regions);
	return rc;
}

static void do_free(struct bs_compute *c)
{
	struct digitalocean *d = (struct digitalocean *)c;
	size_t i;

	if (d == NULL)
		return;
	for (i = 0; i < d->n_pending; i++) {
		free(d->pending[i].droplet_id);
		free(d->pending[i].action_id);
	}
	free(d->pending);
	free(d->project_tag);
	bs_rest_free(d->rest);
	free(d);
}

/*
 * GET /regions and /sizes (OpenAPI document: regions_list, with
 * "available"; sizes_list, with "price_monthly", "price_hourly" in US
 * dollars, "available" and "regions"). A size is orderable in the regions
 * it lists that are themselves available, while it is available.
 */
static int do_catalog(struct bs_compute *c, struct bs_catalog *out, struct bs_err *err)
{
	struct digitalocean *d = (struct digitalocean *)c;
	cJSON *sizes = NULL, *regions = NULL;
	struct bs_strv open = BS_STRV_INIT;
	const cJSON *it;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = bs_rest_get_all(d->rest, "/regions", "regions", &regions, err);
	if (rc == 0)
		rc = bs_rest_get_all(d->rest, "/sizes", "sizes", &sizes, err);
	if (rc == 0)
		available_slugs(regions, NULL, &open);
	cJSON_ArrayForEach(it, regions)
	{
		struct bs_catalog_location *l;

		if (str_at(it, "slug") == NULL)
			continue;
		out->locations = bs_xrealloc(out->locations,
					     (out->n_locations + 1) * sizeof(*out->locations));
		l = &out->locations[out->n_locations++];
		l->name = bs_xstrdup(str_at(it, "slug"));
		l->description = bs_xstrdup_opt(str_at(it, "name"));
		l->country = NULL;
		l->available = bs_strv_contains(&open, l->name);
	}
	cJSON_ArrayForEach(it, sizes)
	{
		const cJSON *r;
		struct bs_catalog_size *z;
		double m = num_at(it, "price_monthly"), hr = num_at(it, "price_hourly");

		if (str_at(it, "slug") == NULL)
			continue;
		out->sizes = bs_xrealloc(out->sizes, (out->n_sizes + 1) * sizeof(*out->sizes));
		z = &out->sizes[out->n_sizes++];
		memset(z, 0, sizeof(*z));
		z->name = bs_xstrdup(str_at(it, "slug"));
		z->arch = NULL;
		z->cores = (int)num_at(it, "vcpus");
		z->memory_gb = num_at(it, "memory") / 1024.0;
		z->disk_gb = (int)num_at(it, "disk");
		z->price_monthly = m >= 0 && m < 1e9 ? m : -1;
		z->price_hourly = hr >= 0 && hr < 1e9 ? hr : -1;
		z->currency = "USD";
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "available")))
			cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(it, "regions"))
			{
				if (cJSON_IsString(r) && bs_strv_contains(&open, r->valuestring))
					bs_strv_push(&z->where, r->valuestring);
			}
	}
	bs_strv_free(&open);
	cJSON_Delete(sizes);
	cJSON_Delete(regions);
	if (rc != 0)
		bs_catalog_free(out);
	return rc;
}

static const struct bs_compute_ops digitalocean_ops = {
	.name = "digitalocean",
	.list = do_list,
	.create = do_create,
	.destroy = do_destroy,
	.wait_running = do_wait_running,
	.start = do_start,
	.check = do_check,
	.catalog = do_catalog,
	.free = do_free,
};

int bs_compute_digitalocean_open(struct bs_compute **out, const struct bs_fleet *fleet,
				 const struct bs_compute_opts *opts, struct bs_err *err)
{
	const struct bs_provider *p = &fleet->provider;
	const char *env = p->token_env ? p->token_env : "DIGITALOCEAN_TOKEN";
	const char *token = p->token;
	struct bs_rest_opts ro = BS_REST_OPTS_INIT;
	struct digitalocean *d;
	char *project_tag;
	char source[160];
	int rc;

	*out = NULL;
	project_tag =
		fleet->project ? bs_digitalocean_tag(BS_DO_TAG_PROJECT, fleet->project) : NULL;
	if (project_tag == NULL)
		return bs_err_set(
			err, BS_ERR_INVALID,
			"digitalocean: '%s%s' cannot be a tag (letters, digits, ':', '-', '_', at most 255): rename the project",
			BS_DO_TAG_PROJECT, fleet->project ? fleet->project : "");
	if (token != NULL) {
		snprintf(source, sizeof(source), "provider.token");
	} else {
		token = getenv(env);
		snprintf(source, sizeof(source), "$%s", env);
		if (token == NULL || token[0] == '\0') {
			free(project_tag);
			return bs_err_set(
				err, BS_ERR_AUTH,
				"digitalocean: no API token: set %s to a DigitalOcean personal access token with read and write scope (control panel > API > Tokens)",
				env);
		}
	}
	ro.dialect = BS_REST_DIGITALOCEAN;
	ro.base_url = p->api_url ? p->api_url : DEFAULT_URL;
	ro.token = token;
	ro.token_source = source;
	ro.request_timeout_ms = opts->request_timeout_ms;
	ro.cancel = opts->cancel;
	d = bs_xcalloc(1, sizeof(*d));
	rc = bs_rest_open(&d->rest, &ro, err);
	if (rc != 0) {
		free(project_tag);
		free(d);
		return rc;
	}
	d->base.ops = &digitalocean_ops;
	d->base.fleet = *fleet;
	d->base.opts = *opts;
	d->base.creates = true;
	d->project = fleet->project;
	d->project_tag = project_tag;
	*out = &d->base;
	return 0;
}
