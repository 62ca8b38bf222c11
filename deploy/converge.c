/*
 * converge.c - observe, plan and apply one node's containers (converge.h).
 */
#include <cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "container/auth.h"
#include "container/context.h"
#include "container/stream.h"
#include "deploy/converge.h"
#include "deploy/proxy.h"
#include "deploy/spec.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/str.h"

#define DEFAULT_PIDS 512
#define STOP_TIMEOUT_S 10

enum act_kind {
	A_REMOVE,
	A_RENAME,
	A_UPDATE,
	A_START,
	A_CREATE,
	A_REPLACE,
	A_KEEP, /* undeclared, prune off: reported only */
};

static const char *const act_names[] = {"remove", "rename",  "update", "start",
					"create", "replace", "keep"};

struct image {
	const char *ref;
	const struct bs_image *decl; /* the images: entry, or NULL */
	char *id;		     /* NULL: not on the node */
	char *digest;		     /* repo@sha256:..., or NULL */
	struct bs_strv digests;	     /* the image's RepoDigests */
	/* the digest the registry serves for ref (the index's for a
	 * multi-platform image), from this run's pull or plan's check */
	char *served;
	/* its BS_LABEL_CONTEXT_HASH ("" for none): built from which context */
	char context_hash[65];
};

struct want {
	const struct bs_container *c;
	int replica;
	char *name;
	char *spec;
	char *hash; /* NULL while the image is not on the node */
	struct image *img;
	int64_t pids;  /* as the engine reports it: 0 for none */
	char *inplace; /* the BS_LABEL_INPLACE text of the wanted settings */
};

struct have {
	struct bs_cinfo info;
	const char *cname; /* label values, borrowed from info */
	int replica;
	const char *spec;
	const char *hash;
	bool claimed;
	/* from inspect, or from the BS_LABEL_INPLACE label when that matches */
	char *restart;
	int restart_max;
	int64_t memory, nano_cpus, pids;
};

struct action {
	enum act_kind kind;
	struct want *want;
	struct have *have;
	/* A_REPLACE that finishes one an interrupted run left: the new
	 * container exists already (made from the wanted spec), unverified */
	struct have *fresh;
	char *reason;
	bool done;
};

struct bs_nodework {
	struct bs_converge_opts o;
	struct bs_cdriver *d;
	struct bs_cdriver *local; /* for transfers */
	struct bs_endpoint local_ep;
	bool local_tried;
	char *network;
	struct want *want;
	size_t n_want;
	struct have *have;
	size_t n_have;
	struct image *img;
	size_t n_img;
	struct action *act;
	size_t n_act, cap_act;
	size_t *rolling; /* indexes into act */
	size_t n_rolling;
	struct bs_counts counts;
	/* parallel actions: mu guards counts and the audit channel; extra
	 * holds the workers' own engine connections, opened on first need */
	pthread_mutex_t mu;
	struct bs_cdriver **extra;
	size_t n_extra;
	/* the domain proxy, when a container with a domain runs here */
	bool proxy;
	struct bs_container proxy_c;
	char *proxy_name;
	char *routes_have; /* its Caddyfile as observed, or NULL */
	char *routes_why;  /* planned: what a reload changes, or NULL */
	bool routes_done;
};

static bool cancelled(const struct bs_nodework *w)
{
	return w->o.cancel != NULL && *w->o.cancel;
}

/* Every event of this node goes out here, with the node's name. */
static void send(struct bs_nodework *w, struct bs_event *ev)
{
	ev->node = w->o.node->name;
	if (w->o.report != NULL)
		w->o.report(ev, w->o.payload);
}

/* A warning about this node; text is the caller's. */
static void warn(struct bs_nodework *w, const char *text)
{
	struct bs_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = BS_EV_MESSAGE;
	ev.state = "warning";
	ev.reason = text;
	send(w, &ev);
}

static void report(struct bs_nodework *w, enum bs_ev_kind kind, const char *action,
		   const char *object, const char *reason, const char *error, long long ms)
{
	struct bs_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.action = action;
	ev.object = object;
	ev.reason = reason;
	ev.error = error;
	ev.ms = ms;
	send(w, &ev);
}

static void stage(struct bs_nodework *w, const char *name)
{
	struct bs_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = BS_EV_NODE_STAGE;
	ev.stage = name;
	send(w, &ev);
}

static void audit(struct bs_nodework *w, const char *action, const char *object, const char *reason)
{
	struct bs_buf raw = BS_BUF_INIT, masked = BS_BUF_INIT;

	if (w->o.audit == NULL)
		return;
	bs_buf_printf(&raw, "%s: %s %s%s%s%s", w->o.recipe->project, action, object,
		      reason ? " (" : "", reason ? reason : "", reason ? ")" : "");
	bs_secret_mask(&masked, raw.data);
	pthread_mutex_lock(&w->mu); /* parallel actions share the node lock's channel */
	w->o.audit(w->o.audit_payload, masked.data);
	pthread_mutex_unlock(&w->mu);
	bs_buf_wipe_free(&raw);
	bs_buf_free(&masked);
}

/* ---- placement ------------------------------------------------------- */

/* ---- setup ----------------------------------------------------------- */

static struct image *image_for(struct bs_nodework *w, const char *ref)
{
	for (size_t i = 0; i < w->n_img; i++)
		if (strcmp(w->img[i].ref, ref) == 0)
			return &w->img[i];
	return NULL;
}

static struct image *add_image(struct bs_nodework *w, const char *ref, size_t *cap)
{
	struct image *im = image_for(w, ref);

	if (im != NULL)
		return im;
	bs_xgrow((void **)&w->img, cap, w->n_img + 1, sizeof(*w->img));
	im = &w->img[w->n_img++];
	memset(im, 0, sizeof(*im));
	im->ref = ref;
	for (size_t i = 0; i < w->o.recipe->n_images; i++)
		if (strcmp(w->o.recipe->images[i].name, ref) == 0)
			im->decl = &w->o.recipe->images[i];
	return im;
}

static int64_t pids_of(const struct bs_container *c)
{
	return c->resources.pids == 0  ? DEFAULT_PIDS
	       : c->resources.pids < 0 ? 0
				       : c->resources.pids;
}

static char *inplace_text(const struct bs_container *c, int64_t pids)
{
	return bs_xasprintf("restart=%s:%d;memory=%lld;cpus=%lld;pids=%lld",
			    bs_restart_policy_name(c->restart),
			    c->restart == BS_RESTART_ON_FAILURE ? c->restart_max_retries : 0,
			    (long long)c->resources.memory_bytes, (long long)c->resources.nano_cpus,
			    (long long)pids);
}

/* Seconds Docker waits between SIGTERM and SIGKILL for c (NULL: a container
 * the recipe no longer declares). */
static int stop_timeout_s(const struct bs_container *c)
{
	return c == NULL ? STOP_TIMEOUT_S : (int)((c->stop_timeout_ms + 999) / 1000);
}

int bs_nodework_new(struct bs_nodework **out, const struct bs_converge_opts *opts)
{
	const struct bs_recipe *r = opts->recipe;
	struct bs_nodework *w = bs_xcalloc(1, sizeof(*w));
	size_t cap_want = 0, cap_img = 0, i;

	w->o = *opts;
	w->d = opts->driver;
	pthread_mutex_init(&w->mu, NULL);
	w->network = bs_network_name(r->project);
	/* a cluster's containers are services (deploy/cluster.c): the node only
	 * gets their images, and its own project containers are leftovers */
	for (i = 0; i < r->n_containers && r->cluster.type != BS_CLUSTER_NONE; i++)
		if (bs_container_selects(&r->containers[i], opts->node))
			add_image(w, r->containers[i].image, &cap_img);
	for (i = 0; i < r->n_containers && r->cluster.type == BS_CLUSTER_NONE; i++) {
		const struct bs_container *c = &r->containers[i];
		int *reps;
		size_t n = bs_placement(r, c, opts->node, &reps);
		char *spec = n ? bs_spec_json(r, c) : NULL;

		for (size_t k = 0; k < n; k++) {
			struct want *x;

			bs_xgrow((void **)&w->want, &cap_want, w->n_want + 1, sizeof(*w->want));
			x = &w->want[w->n_want++];
			memset(x, 0, sizeof(*x));
			x->c = c;
			x->replica = reps[k];
			x->name = bs_replica_name(r->project, c, reps[k]);
			x->spec = bs_xstrdup(spec);
			x->pids = pids_of(c);
			x->inplace = inplace_text(c, x->pids);
		}
		free(spec);
		free(reps);
	}
	if (r->cluster.type == BS_CLUSTER_NONE && bs_proxy_wanted(r, opts->node)) {
		struct want *x;

		w->proxy = true;
		bs_proxy_container(r, &w->proxy_c);
		w->proxy_name = bs_proxy_name(r->project);
		bs_xgrow((void **)&w->want, &cap_want, w->n_want + 1, sizeof(*w->want));
		x = &w->want[w->n_want++];
		memset(x, 0, sizeof(*x));
		x->c = &w->proxy_c;
		x->replica = 0; /* never one of a recipe container's */
		x->name = bs_xstrdup(w->proxy_name);
		x->spec = bs_spec_json(r, &w->proxy_c);
		x->pids = pids_of(&w->proxy_c);
		x->inplace = inplace_text(&w->proxy_c, x->pids);
	}
	/* images: those the node's containers use, and builds aimed at it */
	for (i = 0; i < r->n_images; i++) {
		const struct bs_image *im = &r->images[i];
		bool here = false;

		for (size_t s = 0; s < im->nodes.n; s++)
			here = here || bs_selector_matches(&im->nodes.v[s], opts->node);
		if (here)
			add_image(w, im->name, &cap_img);
	}
	for (i = 0; i < w->n_want; i++) /* the array grows here: pointers after */
		add_image(w, w->want[i].c->image, &cap_img);
	for (i = 0; i < w->n_want; i++)
		w->want[i].img = image_for(w, w->want[i].c->image);
	*out = w;
	return 0;
}

static void have_free(struct have *h)
{
	bs_cinfo_free(&h->info);
	free(h->restart);
}

void bs_nodework_free(struct bs_nodework *w)
{
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < w->n_want; i++) {
		free(w->want[i].name);
		free(w->want[i].spec);
		free(w->want[i].hash);
		free(w->want[i].inplace);
	}
	for (i = 0; i < w->n_have; i++)
		have_free(&w->have[i]);
	for (i = 0; i < w->n_img; i++) {
		free(w->img[i].id);
		free(w->img[i].digest);
		bs_strv_free(&w->img[i].digests);
		free(w->img[i].served);
	}
	for (i = 0; i < w->n_act; i++)
		free(w->act[i].reason);
	for (i = 0; i < w->n_extra; i++)
		if (w->extra[i] != NULL)
			w->extra[i]->ops->free(w->extra[i]);
	free(w->extra);
	if (w->proxy)
		bs_proxy_container_free(&w->proxy_c);
	free(w->proxy_name);
	free(w->routes_have);
	free(w->routes_why);
	pthread_mutex_destroy(&w->mu);
	if (w->local != NULL)
		w->local->ops->free(w->local);
	if (w->local_tried)
		bs_endpoint_free(&w->local_ep);
	free(w->want);
	free(w->have);
	free(w->img);
	free(w->act);
	free(w->rolling);
	free(w->network);
	free(w);
}

unsigned long bs_nodework_requests(const struct bs_nodework *w)
{
	unsigned long n = w->local ? bs_docker_request_count(w->local) : 0;

	for (size_t i = 0; i < w->n_extra; i++)
		n += w->extra[i] ? bs_docker_request_count(w->extra[i]) : 0;
	return n;
}

const struct bs_counts *bs_nodework_counts(const struct bs_nodework *w)
{
	return &w->counts;
}

/* ---- observe --------------------------------------------------------- */

static int observe_image(struct bs_nodework *w, struct image *im, struct bs_err *err)
{
	struct bs_iinfo info;
	int rc;

	free(im->id);
	free(im->digest);
	im->id = im->digest = NULL;
	im->context_hash[0] = '\0';
	bs_strv_free(&im->digests);
	memset(&info, 0, sizeof(info));
	rc = w->d->ops->image_inspect(w->d, im->ref, &info, err);
	if (rc == BS_ERR_NOT_FOUND) {
		bs_err_clear(err);
		bs_iinfo_free(&info);
		return 0;
	}
	if (rc == 0) {
		const struct bs_kv *label = bs_kvlist_find(&info.labels, BS_LABEL_CONTEXT_HASH);

		if (label != NULL && label->value != NULL)
			snprintf(im->context_hash, sizeof(im->context_hash), "%s", label->value);
		im->id = bs_xstrdup(info.id);
		im->digests = info.digests;
		memset(&info.digests, 0, sizeof(info.digests));
		im->digest = bs_image_repo_digest(im->ref, &im->digests, im->served);
	}
	bs_iinfo_free(&info);
	return rc;
}

/* Does the registry serve another image for ref than the node has? Only
 * known when this run asked (plan with pull: always). The index digest is
 * compared with the RepoDigests, never with the image ID (the platform's
 * config digest) or a platform manifest's digest: those always differ. */
static bool image_stale(const struct image *im)
{
	const char *at = im->digest ? strchr(im->digest, '@') : NULL;

	return im->served != NULL && im->id != NULL &&
	       (at == NULL || strcmp(at + 1, im->served) != 0);
}

static void hashes(struct bs_nodework *w)
{
	for (size_t i = 0; i < w->n_want; i++) {
		struct want *x = &w->want[i];

		free(x->hash);
		x->hash = x->img->id ? bs_spec_hash(x->spec, x->img->id) : NULL;
	}
}

static int64_t json_int(const cJSON *o, const char *key)
{
	return (int64_t)bs_json_ll(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* What inspect says about the fields Docker updates in place. */
static int inspect_have(struct bs_nodework *w, struct have *h, struct bs_err *err)
{
	struct bs_cinfo info;
	char *raw = NULL;
	cJSON *root, *host, *rp;
	int rc;

	memset(&info, 0, sizeof(info));
	rc = w->d->ops->container_inspect(w->d, h->info.id, &info, &raw, err);
	if (rc != 0) {
		bs_cinfo_free(&info);
		free(raw);
		return rc;
	}
	/* the inspect view is the fresher one */
	free(h->info.health);
	h->info.health = info.health ? bs_xstrdup(info.health) : NULL;
	h->info.state = info.state;
	h->info.exit_code = info.exit_code;
	bs_cinfo_free(&info);
	root = cJSON_Parse(raw);
	free(raw);
	host = cJSON_GetObjectItemCaseSensitive(root, "HostConfig");
	rp = cJSON_GetObjectItemCaseSensitive(host, "RestartPolicy");
	{
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(rp, "Name");

		h->restart = bs_xstrdup(
			cJSON_IsString(name) && name->valuestring[0] ? name->valuestring : "no");
	}
	h->restart_max = (int)json_int(rp, "MaximumRetryCount");
	h->memory = json_int(host, "Memory");
	h->nano_cpus = json_int(host, "NanoCpus");
	h->pids = json_int(host, "PidsLimit");
	if (h->pids < 0)
		h->pids = 0;
	cJSON_Delete(root);
	return 0;
}

/* The in-place settings the BS_LABEL_INPLACE label records; false when
 * there is no usable label (a container made before the label existed). */
static bool inplace_from_label(struct have *h, const char **text)
{
	const struct bs_kv *kv = bs_kvlist_find(&h->info.labels, BS_LABEL_INPLACE);
	char restart[32];
	int max;
	long long mem, cpus, pids;

	if (kv == NULL || sscanf(kv->value, "restart=%31[a-z-]:%d;memory=%lld;cpus=%lld;pids=%lld",
				 restart, &max, &mem, &cpus, &pids) != 5)
		return false;
	h->restart = bs_xstrdup(restart);
	h->restart_max = max;
	h->memory = mem;
	h->nano_cpus = cpus;
	h->pids = pids;
	*text = kv->value;
	return true;
}

static const struct bs_container *declared(const struct bs_recipe *r, const char *name);

/* Does h need an inspect to know its in-place settings? Not when its label
 * records exactly what the recipe wants: nothing but Docker's own update
 * changes them, and a run with refresh (status, apply --refresh) looks. */
static bool needs_inspect(struct bs_nodework *w, struct have *h)
{
	const struct bs_container *c = declared(w->o.recipe, h->cname);
	const char *label = NULL;
	bool trust = !w->o.refresh && inplace_from_label(h, &label);

	if (trust && c != NULL) {
		char *want = inplace_text(c, pids_of(c));

		trust = strcmp(want, label) == 0;
		free(want);
	}
	if (!trust) {
		free(h->restart);
		h->restart = NULL;
	}
	return !trust;
}

static bool node_declared(const struct bs_recipe *r, const char *name)
{
	for (size_t i = 0; i < r->n_nodes; i++)
		if (strcmp(r->nodes[i].name, name) == 0)
			return true;
	return false;
}

static bool is_proxy(const struct have *h)
{
	const struct bs_kv *role = bs_kvlist_find(&h->info.labels, BS_LABEL_ROLE);

	return role != NULL && strcmp(role->value, BS_PROXY_ROLE) == 0;
}

/* The proxy's routes as they are: its Caddyfile (one request). */
static int observe_routes(struct bs_nodework *w, struct bs_err *err)
{
	char *path = bs_xasprintf("%s/%s", BS_PROXY_CONF_DIR, BS_PROXY_CONF_FILE);
	size_t len = 0;
	int rc = BS_ERR_NOT_FOUND;

	for (size_t i = 0; i < w->n_have; i++)
		if (is_proxy(&w->have[i]) && strcmp(w->have[i].info.name, w->proxy_name) == 0) {
			rc = w->d->ops->container_get_file(w->d, w->have[i].info.id, path, 1 << 20,
							   &w->routes_have, &len, err);
			break;
		}
	free(path);
	/* no proxy yet, one without routes, or a file that is not one (too
	 * big, not a regular file): the reload writes the recipe's */
	if (rc == BS_ERR_NOT_FOUND || rc == BS_ERR_INVALID || rc == BS_ERR_PROTOCOL) {
		bs_err_clear(err);
		rc = 0;
	}
	return rc;
}

int bs_nodework_observe(struct bs_nodework *w, struct bs_err *err)
{
	struct bs_kvlist filter = BS_KVLIST_INIT;
	struct bs_cinfo_list list = {0};
	size_t i;
	int rc = 0;

	stage(w, "observe");
	for (i = 0; i < w->n_have; i++)
		have_free(&w->have[i]);
	free(w->have);
	w->have = NULL;
	w->n_have = 0;
	if (w->d == NULL)
		return 0; /* plan for a node without an engine: nothing there */
	for (i = 0; i < w->n_img && rc == 0; i++)
		rc = observe_image(w, &w->img[i], err);
	hashes(w);
	if (rc != 0)
		return rc;
	bs_kvlist_push(&filter, BS_LABEL_PROJECT, w->o.recipe->project, false);
	rc = w->d->ops->container_list(w->d, true, &filter, &list, err);
	bs_kvlist_free(&filter);
	if (rc != 0)
		return rc;
	w->have = bs_xcalloc(list.n ? list.n : 1, sizeof(*w->have));
	for (i = 0; i < list.n; i++) {
		const struct bs_kv *cn = bs_kvlist_find(&list.v[i].labels, BS_LABEL_CONTAINER);
		const struct bs_kv *rep = bs_kvlist_find(&list.v[i].labels, BS_LABEL_REPLICA);
		struct have *h;

		if (cn == NULL) /* the project's, but not a container bootstrap deploys */
			continue;
		{
			/* two node entries at one address share an engine: each
			 * looks after the containers it made (those of a node no
			 * longer in the recipe are cleaned by whoever sees them) */
			const struct bs_kv *nd = bs_kvlist_find(&list.v[i].labels, BS_LABEL_NODE);

			if (nd != NULL && strcmp(nd->value, w->o.node->name) != 0 &&
			    node_declared(w->o.recipe, nd->value))
				continue;
		}
		h = &w->have[w->n_have++];
		h->info = list.v[i];
		memset(&list.v[i], 0, sizeof(list.v[i]));
		h->cname = cn->value;
		{
			long long v = 0;

			h->replica =
				rep && bs_parse_int64(rep->value, &v) == 0 && v > 0 && v < 100000
					? (int)v
					: 0;
		}
		{
			const struct bs_kv *s = bs_kvlist_find(&h->info.labels, BS_LABEL_SPEC);
			const struct bs_kv *hh = bs_kvlist_find(&h->info.labels, BS_LABEL_HASH);

			h->spec = s ? s->value : NULL;
			h->hash = hh ? hh->value : NULL;
		}
		rc = needs_inspect(w, h) ? inspect_have(w, h, err) : 0;
		if (rc == BS_ERR_NOT_FOUND) { /* removed meanwhile */
			bs_err_clear(err);
			have_free(h);
			memset(h, 0, sizeof(*h));
			w->n_have--;
			rc = 0;
		} else if (rc != 0) {
			break;
		}
	}
	bs_cinfo_list_free(&list);
	free(w->routes_have);
	w->routes_have = NULL;
	if (rc == 0 && w->proxy)
		rc = observe_routes(w, err);
	return rc;
}

/* ---- plan ------------------------------------------------------------ */

static void add_action(struct bs_nodework *w, enum act_kind kind, struct want *x, struct have *h,
		       char *reason)
{
	struct action *a;

	bs_xgrow((void **)&w->act, &w->cap_act, w->n_act + 1, sizeof(*w->act));
	a = &w->act[w->n_act++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->want = x;
	a->have = h;
	a->reason = reason;
}

static const struct bs_container *declared(const struct bs_recipe *r, const char *name)
{
	for (size_t i = 0; i < r->n_containers; i++)
		if (strcmp(r->containers[i].name, name) == 0)
			return &r->containers[i];
	return NULL;
}

static bool running(const struct have *h)
{
	return h->info.state == BS_CSTATE_RUNNING || h->info.state == BS_CSTATE_RESTARTING;
}

/* A job: a container another one waits for to complete (depends_on with
 * service_completed_successfully). */
static bool is_job(const struct bs_recipe *r, const struct bs_container *c)
{
	for (size_t i = 0; i < r->n_containers; i++)
		for (size_t k = 0; k < r->containers[i].n_depends_on; k++)
			if (r->containers[i].depends_on[k].condition == BS_DEP_COMPLETED &&
			    strcmp(r->containers[i].depends_on[k].container, c->name) == 0)
				return true;
	return false;
}

/* A job that exited 0: it is left so, not started again. */
/* It ran, and exited with 0 (a container only created has exit code 0
 * too, and so has one paused or being removed). */
static bool exited_ok(const struct bs_cinfo *info)
{
	return info->state == BS_CSTATE_STOPPED && info->exit_code == 0 && info->status != NULL &&
	       strncasecmp(info->status, "exited", 6) == 0;
}

static bool completed(const struct bs_recipe *r, const struct bs_container *c, const struct have *h)
{
	return exited_ok(&h->info) && is_job(r, c);
}

/* Of several containers for one replica: the best to keep. */
static struct have *pick(struct bs_nodework *w, const struct want *x, bool match_hash)
{
	struct have *best = NULL;
	int best_score = -1;

	for (size_t i = 0; i < w->n_have; i++) {
		struct have *h = &w->have[i];
		int score = 0;

		if (h->claimed || strcmp(h->cname, x->c->name) != 0 || h->replica != x->replica)
			continue;
		if (match_hash && (x->hash == NULL || h->hash == NULL || strcmp(h->hash, x->hash)))
			continue;
		score += running(h) ? 2 : 0;
		score += strcmp(h->info.name, x->name) == 0 ? 1 : 0;
		if (score > best_score) {
			best = h;
			best_score = score;
		}
	}
	return best;
}

static char *bytes_text(int64_t v)
{
	if (v == 0)
		return bs_xstrdup("none");
	if (v % (1024 * 1024) == 0)
		return bs_xasprintf("%lldm", (long long)(v / (1024 * 1024)));
	return bs_xasprintf("%lld", (long long)v);
}

/* In-place differences: "memory: 64m -> 128m; restart: no -> always".
 * *replace is set when a limit was removed (Docker cannot lift a limit in
 * place). NULL when nothing differs. */
static char *inplace_diff(const struct want *x, const struct have *h, bool *replace)
{
	const struct bs_container *c = x->c;
	const char *restart = bs_restart_policy_name(c->restart);
	struct bs_buf b = BS_BUF_INIT;

	*replace = false;
	if (strcmp(h->restart, restart) != 0 ||
	    (c->restart == BS_RESTART_ON_FAILURE && h->restart_max != c->restart_max_retries))
		bs_buf_printf(&b, "%srestart: %s -> %s", b.len ? "; " : "", h->restart, restart);
	if (h->memory != c->resources.memory_bytes) {
		char *o = bytes_text(h->memory), *n = bytes_text(c->resources.memory_bytes);

		bs_buf_printf(&b, "%smemory: %s -> %s", b.len ? "; " : "", o, n);
		*replace = *replace || c->resources.memory_bytes == 0;
		free(o);
		free(n);
	}
	if (h->nano_cpus != c->resources.nano_cpus) {
		bs_buf_printf(&b, "%scpus: %g -> %g", b.len ? "; " : "", (double)h->nano_cpus / 1e9,
			      (double)c->resources.nano_cpus / 1e9);
		*replace = *replace || c->resources.nano_cpus == 0;
	}
	if (h->pids != x->pids) {
		bs_buf_printf(&b, "%spids: %lld -> %lld", b.len ? "; " : "", (long long)h->pids,
			      (long long)x->pids);
		*replace = *replace || x->pids == 0;
	}
	if (b.len == 0) {
		bs_buf_free(&b);
		return NULL;
	}
	return bs_buf_detach(&b);
}

static void plan_want(struct bs_nodework *w, struct want *x)
{
	struct have *keep = pick(w, x, true);
	bool replace_limits = false;
	char *diff;

	if (keep == NULL) {
		struct have *cur = pick(w, x, false);

		if (cur == NULL) {
			add_action(w, A_CREATE, x, NULL,
				   bs_xstrdup(x->img->id ? "missing"
							 : "missing (its image comes first)"));
			return;
		}
		cur->claimed = true;
		if (x->hash == NULL)
			diff = bs_xasprintf("image %s is not on the node yet (it comes first)",
					    x->c->image);
		else if (cur->spec != NULL && strcmp(cur->spec, x->spec) == 0)
			diff = bs_xasprintf("image: %.19s -> %.19s", cur->info.image_id,
					    x->img->id);
		else
			diff = bs_spec_diff(cur->spec, x->spec);
		add_action(w, A_REPLACE, x, cur, diff);
		return;
	}
	keep->claimed = true;
	{
		/* another candidate besides the matching one: a replacement that
		 * an interrupted run left half done. Finish it in the rolling
		 * phase: the new one must prove healthy before the old goes. */
		struct have *prev = pick(w, x, false);

		if (prev != NULL) {
			prev->claimed = true;
			add_action(w, A_REPLACE, x, prev,
				   bs_xasprintf("finishing a replacement an interrupted run "
						"left: %s is new, %s the previous one",
						keep->info.name, prev->info.name));
			w->act[w->n_act - 1].fresh = keep;
			return;
		}
	}
	if (image_stale(x->img)) {
		/* apply pulls first; a new image for this platform gives a new
		 * hash (the index can also change for other platforms only:
		 * then apply finds the same image ID and keeps the container) */
		const struct bs_kv *made = bs_kvlist_find(&keep->info.labels, BS_LABEL_DIGEST);
		const char *at = made ? strchr(made->value, '@') : NULL;

		add_action(w, A_REPLACE, x, keep,
			   bs_xasprintf("image %s: the registry serves %.19s, the container "
					"was made from %.19s",
					x->c->image, x->img->served,
					at ? at + 1 : "another image"));
		return;
	}
	if (strcmp(keep->info.name, x->name) != 0)
		add_action(w, A_RENAME, x, keep,
			   bs_xasprintf("%s -> %s (left by an interrupted run)", keep->info.name,
					x->name));
	diff = inplace_diff(x, keep, &replace_limits);
	if (diff != NULL && replace_limits) {
		char *why = bs_xasprintf("%s (a limit is lifted only by a new container)", diff);

		free(diff);
		add_action(w, A_REPLACE, x, keep, why);
		return;
	}
	if (diff != NULL)
		add_action(w, A_UPDATE, x, keep, diff);
	if (!running(keep) && !completed(w->o.recipe, x->c, keep))
		add_action(w, A_START, x, keep,
			   bs_xasprintf("%s (exit code %d)", bs_cstate_name(keep->info.state),
					keep->info.exit_code));
	if (diff == NULL && (running(keep) || completed(w->o.recipe, x->c, keep)) &&
	    strcmp(keep->info.name, x->name) == 0)
		w->counts.unchanged++;
}

static void plan_leftovers(struct bs_nodework *w)
{
	for (size_t i = 0; i < w->n_have; i++) {
		struct have *h = &w->have[i];
		const struct bs_container *c;

		if (h->claimed)
			continue;
		if (is_proxy(h)) { /* bootstrap's own: no prune needed */
			add_action(w, A_REMOVE, NULL, h,
				   bs_xstrdup(w->proxy ? "a second domain proxy (left by an "
							 "interrupted run)"
						       : "no container with a domain runs on "
							 "this node any more"));
			continue;
		}
		c = declared(w->o.recipe, h->cname);
		if (c == NULL && !w->o.recipe->prune) {
			add_action(w, A_KEEP, NULL, h,
				   bs_xasprintf("%s is no longer in the recipe; prune: true would "
						"remove it",
						h->cname));
			continue;
		}
		if (c == NULL)
			add_action(w, A_REMOVE, NULL, h,
				   bs_xasprintf("%s is no longer in the recipe (prune: true)",
						h->cname));
		else if (w->o.recipe->cluster.type != BS_CLUSTER_NONE)
			add_action(w, A_REMOVE, NULL, h,
				   bs_xasprintf("%s runs as a cluster service now", h->cname));
		else if (h->replica > c->replicas)
			add_action(w, A_REMOVE, NULL, h,
				   bs_xasprintf("replica %d of %d", h->replica, c->replicas));
		else {
			int *reps;
			size_t n = bs_placement(w->o.recipe, c, w->o.node, &reps), k;
			bool mine = false;

			for (k = 0; k < n; k++)
				mine = mine || reps[k] == h->replica;
			free(reps);
			add_action(w, A_REMOVE, NULL, h,
				   mine ? bs_xstrdup("a second container for the same replica "
						     "(left by an interrupted run)")
					: bs_xasprintf("replica %d runs on another node now",
						       h->replica));
		}
	}
}

static void count(struct bs_nodework *w, enum act_kind kind)
{
	switch (kind) {
	case A_CREATE: w->counts.created++; break;
	case A_REPLACE: w->counts.replaced++; break;
	case A_UPDATE:
	case A_RENAME: w->counts.updated++; break;
	case A_START: w->counts.started++; break;
	case A_REMOVE: w->counts.removed++; break;
	case A_KEEP: w->counts.unchanged++; break;
	}
}

/* What an image needs on the node: "build", "pull", "transfer", or NULL
 * (nothing), and why. Plan and apply both decide here. */
static const char *image_action(const struct image *im, const char **why)
{
	enum bs_pull_policy policy = im->decl ? im->decl->pull : BS_PULL_MISSING;

	*why = "missing";
	if (im->decl != NULL && im->decl->build_context != NULL) {
		/* the label says which context the node's image was built from */
		if (im->id == NULL)
			return "build";
		*why = "context changed";
		return im->decl->context_hash == NULL ||
				       strcmp(im->context_hash, im->decl->context_hash) != 0
			       ? "build"
			       : NULL;
	}
	if (im->decl != NULL && im->decl->build_git != NULL) {
		if (im->id != NULL)
			*why = "pull: always (cached layers are reused)";
		return im->id == NULL || policy == BS_PULL_ALWAYS ? "build" : NULL;
	}
	if (im->id == NULL && policy == BS_PULL_NEVER) {
		*why = "missing, pull: never: copied from the local engine";
		return "transfer";
	}
	if (im->id == NULL)
		return "pull";
	*why = "pull: always (the engine downloads only a changed digest)";
	return policy == BS_PULL_ALWAYS ? "pull" : NULL;
}

/* plan: the images apply would fetch (before any container action). */
static void plan_images(struct bs_nodework *w)
{
	for (size_t i = 0; i < w->n_img; i++) {
		const struct image *im = &w->img[i];
		const char *why, *action = image_action(im, &why);

		if (action == NULL)
			continue;
		if (image_stale(im)) {
			char *text =
				bs_xasprintf("pull: always: the registry serves %.19s", im->served);

			report(w, BS_EV_ACTION_PLANNED, action, im->ref, text, NULL, 0);
			w->counts.other++;
			free(text);
			continue;
		}
		report(w, BS_EV_ACTION_PLANNED, action, im->ref, why, NULL, 0);
		/* a check of the registry is not a change; a changed context is */
		if (im->id == NULL || (im->decl != NULL && im->decl->build_context != NULL))
			w->counts.other++;
	}
}

static bool registry_cred(const struct bs_nodework *w, const char *ref,
			  struct bs_registry_cred *cred)
{
	const struct bs_registry *reg = bs_recipe_registry_for(w->o.recipe, ref);

	memset(cred, 0, sizeof(*cred));
	if (reg == NULL)
		return false;
	cred->server = reg->server;
	cred->username = reg->username;
	cred->password = reg->password;
	return true;
}

/* plan: what the registry serves now for the images apply would pull
 * again (pull: always), asked through the node's engine, so that a new
 * image shows as the replacements it brings. A registry that cannot be
 * asked is a warning: the plan then assumes the node's image. */
static void check_registry(struct bs_nodework *w)
{
	for (size_t i = 0; i < w->n_img && !cancelled(w); i++) {
		struct image *im = &w->img[i];
		struct bs_registry_cred cred;
		struct bs_err err = BS_ERR_INIT;
		const char *why, *action = image_action(im, &why);
		char *served = NULL;
		bool has_cred;

		if (action == NULL || strcmp(action, "pull") != 0 || im->id == NULL)
			continue;
		has_cred = registry_cred(w, im->ref, &cred);
		if (w->d->ops->image_distribution(w->d, im->ref, has_cred ? &cred : NULL, &served,
						  &err) != 0) {
			char *text = bs_xasprintf("%s; the plan assumes the node's image", err.msg);

			warn(w, text);
			free(text);
			continue;
		}
		free(im->served);
		im->served = served;
		free(im->digest);
		im->digest = bs_image_repo_digest(im->ref, &im->digests, im->served);
	}
}

/* The proxy's routes: a reload when its Caddyfile is not the recipe's
 * (a new or replaced proxy gets the recipe's before it starts). */
static void plan_routes(struct bs_nodework *w, bool report_planned)
{
	char *want;

	free(w->routes_why);
	w->routes_why = NULL;
	w->routes_done = false;
	if (!w->proxy)
		return;
	for (size_t i = 0; i < w->n_act; i++)
		if (w->act[i].want != NULL && w->act[i].want->c == &w->proxy_c &&
		    (w->act[i].kind == A_CREATE || w->act[i].kind == A_REPLACE))
			return; /* the new one starts with them (a replacement an
				   interrupted run left: the next run sees) */
	want = bs_proxy_config(w->o.recipe, w->o.node, NULL);
	w->routes_why = bs_proxy_config_diff(w->routes_have, want);
	free(want);
	if (w->routes_why != NULL && report_planned) {
		report(w, BS_EV_ACTION_PLANNED, "reload", w->proxy_name, w->routes_why, NULL, 0);
		w->counts.updated++;
	}
}

void bs_nodework_plan(struct bs_nodework *w, bool report_planned)
{
	size_t i;

	for (i = 0; i < w->n_act; i++)
		free(w->act[i].reason);
	w->n_act = 0;
	free(w->rolling);
	w->rolling = NULL;
	w->n_rolling = 0;
	{
		int other = w->counts.other; /* networks, volumes, images: prepare's */

		memset(&w->counts, 0, sizeof(w->counts));
		w->counts.other = other;
	}
	for (i = 0; i < w->n_have; i++)
		w->have[i].claimed = false;
	if (report_planned && w->d != NULL)
		check_registry(w);
	for (i = 0; i < w->n_want; i++)
		plan_want(w, &w->want[i]);
	plan_leftovers(w);
	/* by kind, stable: removals first (they free names and ports),
	 * replacements last */
	{
		struct action *sorted = bs_xcalloc(w->n_act ? w->n_act : 1, sizeof(*sorted));
		size_t k = 0;

		for (int kind = A_REMOVE; kind <= A_KEEP; kind++)
			for (i = 0; i < w->n_act; i++)
				if ((int)w->act[i].kind == kind)
					sorted[k++] = w->act[i];
		if (k > 0)
			memcpy(w->act, sorted, k * sizeof(*sorted));
		free(sorted);
	}
	if (report_planned && w->d != NULL)
		plan_images(w);
	w->rolling = bs_xcalloc(w->n_act ? w->n_act : 1, sizeof(*w->rolling));
	for (i = 0; i < w->n_act; i++) {
		struct action *a = &w->act[i];
		const char *object = a->want ? a->want->name : a->have->info.name;

		if (a->kind == A_REPLACE)
			w->rolling[w->n_rolling++] = i;
		if (!report_planned)
			continue;
		report(w, BS_EV_ACTION_PLANNED, act_names[a->kind], object, a->reason, NULL, 0);
		count(w, a->kind);
	}
	plan_routes(w, report_planned);
}

size_t bs_nodework_n_rolling(const struct bs_nodework *w)
{
	return w->n_rolling;
}

const char *bs_nodework_rolling_container(const struct bs_nodework *w, size_t i)
{
	return w->act[w->rolling[i]].want->c->name;
}

/* ---- images ---------------------------------------------------------- */

static int open_local(struct bs_nodework *w, struct bs_err *err)
{
	struct bs_cdriver_opts co = BS_CDRIVER_OPTS_INIT;
	const char *url = w->o.local_engine;

	if (w->local != NULL)
		return 0;
	if (w->local_tried)
		return BS_ERR_NOT_FOUND;
	w->local_tried = true;
	if (url == NULL)
		url = getenv("DOCKER_HOST");
	if (url == NULL || url[0] == '\0')
		url = "unix:///var/run/docker.sock";
	if (bs_endpoint_parse(&w->local_ep, url, NULL, err) != 0)
		return err->code;
	co.cancel = w->o.abort;
	co.interrupt = w->o.cancel; /* an image save is a wait */
	co.connect_timeout_ms = 5000;
	return bs_docker_open(&w->local, &w->local_ep, &co, err);
}

/* Does the local engine have ref? */
static bool local_has(struct bs_nodework *w, const char *ref)
{
	struct bs_err err = BS_ERR_INIT;
	struct bs_iinfo info;
	bool has;

	if (open_local(w, &err) != 0)
		return false;
	memset(&info, 0, sizeof(info));
	has = w->local->ops->image_inspect(w->local, ref, &info, &err) == 0;
	bs_iinfo_free(&info);
	return has;
}

/* The pull's "Digest: sha256:..." line: what the tag resolved to (the
 * index for a multi-platform image), as docker pull prints it. */
static int pull_progress(const struct bs_progress *ev, void *payload)
{
	struct image *im = payload;

	if (ev->status != NULL && bs_str_starts_with(ev->status, "Digest: sha256:")) {
		free(im->served);
		im->served = bs_xstrdup(ev->status + strlen("Digest: "));
	}
	return 0;
}

static int pull(struct bs_nodework *w, struct image *im, struct bs_err *err)
{
	struct bs_registry_cred cred;
	bool has_cred = registry_cred(w, im->ref, &cred);

	return w->d->ops->image_pull(w->d, im->ref, has_cred ? &cred : NULL, pull_progress, im,
				     err);
}

static int build(struct bs_nodework *w, struct image *im, struct bs_err *err)
{
	struct bs_build_opts bo;
	struct bs_kvlist labels = BS_KVLIST_INIT;
	struct bs_context ctx;
	char *id = NULL;
	int rc = 0;

	memset(&bo, 0, sizeof(bo));
	memset(&ctx, 0, sizeof(ctx));
	bs_kvlist_push(&labels, BS_LABEL_PROJECT, w->o.recipe->project, false);
	bo.tag = im->ref;
	bo.git_url = im->decl->build_git;
	bo.dockerfile = im->decl->build_dockerfile;
	bo.target = im->decl->build_target;
	bo.build_args = &im->decl->build_args;
	bo.labels = &labels;
	if (im->decl->build_context != NULL) {
		struct bs_context_opts co = BS_CONTEXT_OPTS_INIT;

		/* read again for each node that builds it, now: the tar is not
		 * kept between nodes (a context may be up to 1 GiB), and the
		 * label is the hash of what this node is sent */
		co.dockerfile = im->decl->build_dockerfile;
		rc = bs_context_read(&ctx, im->decl->build_context, &co, err);
		if (rc == 0) {
			bo.context_tar = ctx.tar.data;
			bo.context_len = ctx.tar.len;
			bs_kvlist_push(&labels, BS_LABEL_CONTEXT_HASH, ctx.hash, false);
		}
	}
	if (rc == 0)
		rc = w->d->ops->image_build(w->d, &bo, NULL, NULL, &id, err);
	free(id);
	bs_context_free(&ctx);
	bs_kvlist_free(&labels);
	return rc;
}

/* One image: what to do, done, reported. */
static int ensure_image(struct bs_nodework *w, struct image *im, struct bs_err *err)
{
	const char *why, *action = image_action(im, &why);
	char *old;
	long long t0 = bs_now_ms();
	int rc = 0;

	if (action == NULL)
		return 0;
	old = im->id ? bs_xstrdup(im->id) : NULL;
	report(w, BS_EV_ACTION_STARTED, action, im->ref, why, NULL, 0);
	if (strcmp(action, "build") == 0) {
		rc = build(w, im, err);
	} else if (strcmp(action, "pull") == 0) {
		rc = pull(w, im, err);
		if ((rc == BS_ERR_NOT_FOUND || rc == BS_ERR_NETWORK) && old == NULL &&
		    local_has(w, im->ref)) {
			/* no registry has it (or none answers): the engine next
			 * to bootstrap does. Not after refused credentials: that
			 * must be fixed, not worked around with another image */
			char *text = bs_xasprintf("%s; copying %s from the local engine instead",
						  err->msg, im->ref);

			warn(w, text);
			free(text);
			bs_err_clear(err);
			action = "transfer";
			why = "missing, the pull failed: copied from the local engine";
			rc = bs_cdriver_image_transfer(w->local, w->d, im->ref, err);
		}
	} else {
		rc = open_local(w, err);
		if (rc == 0 && !local_has(w, im->ref))
			rc = bs_err_set(
				err, BS_ERR_NOT_FOUND,
				"image %s is not on node %s, its pull policy is never, and the local engine (%s) does not have it either: load it there (docker load), or allow a pull",
				im->ref, w->o.node->name, w->local->display);
		else if (rc != 0)
			bs_err_prefix(err,
				      "image %s is not on node %s (pull: never) and the local "
				      "engine cannot be reached",
				      im->ref, w->o.node->name);
		if (rc == 0)
			rc = bs_cdriver_image_transfer(w->local, w->d, im->ref, err);
	}
	if (rc == 0)
		rc = observe_image(w, im, err);
	if (rc == 0 && im->id == NULL)
		rc = bs_err_set(err, BS_ERR_NOT_FOUND, "image %s: %s ended, but node %s has no %s",
				im->ref, action, w->o.node->name, im->ref);
	if (rc != 0) {
		report(w, BS_EV_ACTION_FAILED, action, im->ref, why, err->msg, bs_now_ms() - t0);
		free(old);
		return rc;
	}
	if (old == NULL || strcmp(old, im->id) != 0) {
		w->counts.other++;
		audit(w, action, im->ref, why);
		report(w, BS_EV_ACTION_DONE, action, im->ref,
		       old && !(im->decl && im->decl->build_context)
			       ? "the registry had a new image"
			       : why,
		       NULL, bs_now_ms() - t0);
	} else {
		report(w, BS_EV_ACTION_DONE, action, im->ref, "unchanged", NULL, bs_now_ms() - t0);
	}
	free(old);
	return 0;
}

static pthread_mutex_t ensure_mu = PTHREAD_MUTEX_INITIALIZER;

int bs_nodework_prepare(struct bs_nodework *w, struct bs_err *err)
{
	struct bs_kvlist labels = BS_KVLIST_INIT;
	bool created = false, need_net = false;
	size_t i;
	int rc;

	if (w->n_want == 0 && w->n_img == 0)
		return 0;
	stage(w, "networks");
	bs_kvlist_push(&labels, BS_LABEL_PROJECT, w->o.recipe->project, false);
	/* node entries may share an engine: Docker's duplicate-name check is
	 * only best effort, and two concurrent creates would make two networks
	 * of one name. One ensure at a time in this process. */
	for (i = 0; i < w->n_want && !need_net; i++)
		need_net = w->want[i].c->network == BS_NET_PROJECT;
	rc = 0;
	if (need_net) {
		pthread_mutex_lock(&ensure_mu);
		rc = w->d->ops->network_ensure(w->d, w->network, &labels, &created, err);
		pthread_mutex_unlock(&ensure_mu);
	}
	if (rc == 0 && created) {
		w->counts.other++;
		audit(w, "create-network", w->network, NULL);
		report(w, BS_EV_ACTION_DONE, "create-network", w->network, "missing", NULL, 0);
	}
	for (i = 0; rc == 0 && i < w->n_want; i++) {
		const struct bs_container *c = w->want[i].c;

		for (size_t m = 0; rc == 0 && m < c->n_volumes; m++) {
			char *name;

			if (c->volumes[m].type != BS_MOUNT_VOLUME)
				continue;
			name = bs_volume_name(w->o.recipe->project, c->volumes[m].source);
			rc = w->d->ops->volume_ensure(w->d, name, &labels, &created, err);
			if (rc == 0 && created) {
				w->counts.other++;
				audit(w, "create-volume", name, NULL);
				report(w, BS_EV_ACTION_DONE, "create-volume", name, "missing", NULL,
				       0);
			}
			free(name);
		}
	}
	bs_kvlist_free(&labels);
	if (rc != 0)
		return rc;
	stage(w, "images");
	for (i = 0; rc == 0 && i < w->n_img && !cancelled(w); i++)
		rc = ensure_image(w, &w->img[i], err);
	hashes(w);
	if (rc == 0 && cancelled(w))
		rc = bs_err_set(err, BS_ERR_INTERRUPTED, "interrupted");
	return rc;
}

/* ---- acting on containers ------------------------------------------- */

struct cspec_store {
	struct bs_task_store t; /* what a service's task shares */
	struct bs_cport_binding *ports;
	char replica[16];
};

static bool logs_configured(const struct bs_recipe *r)
{
	return r->docker.daemon_json != NULL && strstr(r->docker.daemon_json, "\"log-") != NULL;
}

static void make_spec(struct bs_nodework *w, const struct want *x, const char *name,
		      struct cspec_store *st)
{
	const struct bs_container *c = x->c;
	const struct bs_recipe *r = w->o.recipe;
	struct bs_cspec *s = &st->t.spec;
	struct bs_kvlist *labels = &st->t.labels;
	size_t i, n = 0;

	memset(st, 0, sizeof(*st));
	bs_task_fill(r, c, &st->t);
	snprintf(st->replica, sizeof(st->replica), "%d", x->replica);
	bs_kvlist_push(labels, BS_LABEL_PROJECT, r->project, false);
	bs_kvlist_push(labels, BS_LABEL_CONTAINER, c->name, false);
	bs_kvlist_push(labels, BS_LABEL_REPLICA, st->replica, false);
	bs_kvlist_push(labels, BS_LABEL_NODE, w->o.node->name, false);
	bs_kvlist_push(labels, BS_LABEL_SPEC, x->spec, false);
	bs_kvlist_push(labels, BS_LABEL_HASH, x->hash ? x->hash : "", false);
	bs_kvlist_push(labels, BS_LABEL_INPLACE, x->inplace, false);
	bs_kvlist_push(labels, BS_LABEL_DIGEST,
		       x->img->digest ? x->img->digest
		       : x->img->id   ? x->img->id
				      : "",
		       false);
	for (i = 0; i < c->n_ports; i++)
		n += (size_t)(c->ports[i].container_end - c->ports[i].container_start + 1);
	st->ports = bs_xcalloc(n ? n : 1, sizeof(*st->ports));
	n = 0;
	for (i = 0; i < c->n_ports; i++) {
		const struct bs_port *p = &c->ports[i];

		for (int k = 0; k <= p->container_end - p->container_start; k++) {
			struct bs_cport_binding *b = &st->ports[n++];

			b->host_ip = p->host_ip;
			b->host_port = p->host_start ? p->host_start + k : 0;
			b->container_port = p->container_start + k;
			b->udp = p->proto == BS_PROTO_UDP;
		}
	}
	s->name = name;
	s->hostname = NULL;
	s->ports = st->ports;
	s->n_ports = n;
	s->restart = bs_restart_policy_name(c->restart);
	s->restart_max_retries = c->restart_max_retries;
	s->memory_bytes = c->resources.memory_bytes;
	s->nano_cpus = c->resources.nano_cpus;
	s->pids_limit = x->pids;
	s->network = c->network == BS_NET_PROJECT ? w->network : bs_net_mode_name(c->network);
	/* on the project network a container answers to its recipe name too,
	 * as a compose service does (not the domain proxy: a container may be
	 * named proxy) */
	s->network_alias = c->network == BS_NET_PROJECT && c != &w->proxy_c ? c->name : NULL;
	s->no_new_privileges = true;
	if (!logs_configured(r)) {
		s->log_max_size = "10m";
		s->log_max_file = "3";
	}
}

static void spec_free(struct bs_nodework *w, struct cspec_store *st)
{
	(void)w;
	bs_task_store_free(&st->t);
	free(st->ports);
}

static int create(struct bs_nodework *w, struct bs_cdriver *d, const struct want *x,
		  const char *name, char **id, struct bs_err *err)
{
	struct cspec_store st;
	int rc;

	make_spec(w, x, name, &st);
	if (x->c != &w->proxy_c) {
		rc = d->ops->container_deploy(d, &st.t.spec, id, err);
		spec_free(w, &st);
		return rc;
	}
	/* the proxy starts with the recipe's routes */
	rc = d->ops->container_create(d, &st.t.spec, id, err);
	spec_free(w, &st);
	if (rc == 0) {
		char *conf = bs_proxy_config(w->o.recipe, w->o.node, NULL);
		bool changed;
		struct bs_err e2 = BS_ERR_INIT;

		rc = d->ops->container_put_file(d, *id, BS_PROXY_CONF_DIR, BS_PROXY_CONF_FILE, conf,
						strlen(conf), 0644, err);
		if (rc == BS_ERR_NOT_FOUND)
			bs_err_prefix(err,
				      "the proxy image %s has no %s (use an image of Caddy 2, "
				      "like caddy:2)",
				      x->c->image, BS_PROXY_CONF_DIR);
		if (rc == 0)
			rc = bs_proxy_put_certs(d, *id, w->o.recipe, err);
		if (rc == 0)
			rc = d->ops->container_start(d, *id, &changed, err);
		if (rc != 0) { /* not half made: the next run creates it again */
			d->ops->container_destroy(d, *id, 0, &e2);
			free(*id);
			*id = NULL;
		}
		free(conf);
	}
	return rc;
}

static long health_budget_ms(const struct bs_nodework *w, const struct bs_container *c)
{
	const struct bs_healthcheck *h = &c->healthcheck;
	long long interval = h->interval_ms ? h->interval_ms : 30000;
	long long timeout = h->timeout_ms ? h->timeout_ms : 30000;
	long long retries = h->retries ? h->retries : 3;
	long long budget = h->start_period_ms + (retries + 1) * (interval + timeout);

	if (w->o.health_timeout_ms > 0)
		return w->o.health_timeout_ms;
	if (c->update.timeout_ms > 0) /* the recipe's update.timeout */
		return (long)c->update.timeout_ms;
	if (budget < 60000)
		budget = 60000;
	if (budget > 900000)
		budget = 900000;
	return (long)budget;
}

static int collect_log(enum bs_log_stream stream, const char *data, size_t len, void *payload)
{
	(void)stream;
	bs_buf_append(payload, data, len);
	return 0;
}

/* One line of a failed container's story, as a message event: "output"
 * (a log line) or "healthcheck" (its last check), object the container. */
static void story(struct bs_nodework *w, const char *state, const char *object, const char *text)
{
	struct bs_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = BS_EV_MESSAGE;
	ev.state = state;
	ev.object = object;
	ev.reason = text;
	send(w, &ev);
}

/*
 * Why a new container failed, shown before the failure: its last
 * update.failure_logs lines of output (20 by default), one message each,
 * and its last health check's exit code and output; the error text (out)
 * gets the last three lines, for a reader of the error alone. Secrets are
 * masked before anything is cut or split.
 */
static void last_logs(struct bs_nodework *w, const struct bs_container *c, const char *id,
		      const char *name, struct bs_buf *out)
{
	int lines = c != NULL ? c->update.failure_logs : 20;
	struct bs_logs_opts lo = {false, lines > 3 ? lines : 3, false, 0};
	struct bs_buf raw = BS_BUF_INIT, m = BS_BUF_INIT, tail = BS_BUF_INIT;
	struct bs_strv all = BS_STRV_INIT;
	struct bs_err err = BS_ERR_INIT;
	struct bs_cinfo info;
	char *p, *save = NULL;

	if (w->d->ops->container_logs(w->d, id, &lo, collect_log, &raw, &err) == 0 && raw.len) {
		bs_buf_putc(&raw, '\0');
		bs_secret_mask(&m, raw.data);
		for (size_t i = 0; i < m.len; i++) /* control bytes would break lines */
			if ((unsigned char)m.data[i] < 0x20 && m.data[i] != '\n')
				m.data[i] = ' ';
		for (p = strtok_r(m.data, "\n", &save); p != NULL; p = strtok_r(NULL, "\n", &save))
			bs_strv_push(&all, p);
		for (size_t i = all.n > (size_t)lines ? all.n - (size_t)lines : 0; i < all.n; i++)
			story(w, "output", name, all.v[i]);
		for (size_t i = all.n > 3 ? all.n - 3 : 0; i < all.n; i++)
			bs_buf_printf(&tail, "%s%.300s", tail.len ? " | " : "", all.v[i]);
		if (tail.len)
			bs_buf_printf(out, "; its last output: %s", bs_buf_str(&tail));
	}
	memset(&info, 0, sizeof(info));
	bs_err_clear(&err);
	if (w->d->ops->container_inspect(w->d, id, &info, NULL, &err) == 0 &&
	    info.health_output != NULL) {
		struct bs_buf h = BS_BUF_INIT, hm = BS_BUF_INIT;

		bs_buf_printf(&h, "exit code %d: %s", info.health_exit, info.health_output);
		bs_secret_mask(&hm, bs_buf_str(&h));
		for (size_t i = 0; i < hm.len; i++)
			if ((unsigned char)hm.data[i] < 0x20)
				hm.data[i] = ' ';
		story(w, "healthcheck", name, bs_buf_str(&hm));
		bs_buf_printf(out, "; its last health check: %.300s", bs_buf_str(&hm));
		bs_buf_free(&h);
		bs_buf_free(&hm);
	}
	bs_cinfo_free(&info);
	bs_strv_free(&all);
	bs_buf_free(&raw);
	bs_buf_free(&m);
	bs_buf_free(&tail);
}

/* Wait until id is healthy (or, without a healthcheck, still running
 * update.monitor after the start, 1 s by default: a process that dies at
 * once is caught). The cancel flag (the first Ctrl-C) ends the wait; the
 * caller rolls back. */
#define HEALTH_POLL_MS 250
#define HEALTH_STEP_MS 50
/* Between two looks at a container: a look every 250 ms; an interrupt is
 * seen within 50 ("interrupted while waiting for NAME to WHAT"). */
static int poll_pause(struct bs_nodework *w, const char *name, const char *what, struct bs_err *err)
{
	for (int step = 0; step < HEALTH_POLL_MS / HEALTH_STEP_MS; step++) {
		struct timespec ts = {0, HEALTH_STEP_MS * 1000000L};

		if (cancelled(w))
			return bs_err_set(err, BS_ERR_INTERRUPTED,
					  "interrupted while waiting for %s to %s", name, what);
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* made_now: this run created the container, so any restart counts; else
 * the restarts before the first look are its past. */
static int wait_healthy(struct bs_nodework *w, const struct want *x, const char *id, bool made_now,
			struct bs_err *err)
{
	long long start = bs_now_ms(), end = start + health_budget_ms(w, x->c);
	int restarts = made_now ? 0 : -1;

	for (;;) {
		struct bs_cinfo info;
		int rc;

		memset(&info, 0, sizeof(info));
		rc = w->d->ops->container_inspect(w->d, id, &info, NULL, err);
		if (rc != 0) {
			bs_cinfo_free(&info);
			return rc;
		}
		if (restarts < 0)
			restarts = info.restart_count;
		/* a container that exits and is started again by its restart
		 * policy may be seen running at every look: it failed all the
		 * same */
		if (info.restart_count > restarts) {
			rc = bs_err_set(
				err, BS_ERR_REMOTE,
				"%s exited and was restarted %d time%s while it was watched "
				"(last exit code %d)",
				x->name, info.restart_count - restarts,
				info.restart_count - restarts == 1 ? "" : "s", info.exit_code);
		} else if (exited_ok(&info) && is_job(w->o.recipe, x->c)) {
			rc = 0; /* a job others wait for to complete: done */
		} else if (info.state != BS_CSTATE_RUNNING) {
			rc = bs_err_set(err, BS_ERR_REMOTE, "%s stopped (%s, exit code %d)",
					x->name, bs_cstate_name(info.state), info.exit_code);
		} else if (info.health == NULL) {
			rc = bs_now_ms() - start >= x->c->update.monitor_ms ? 0 : 1;
		} else if (strcmp(info.health, "healthy") == 0) {
			rc = 0;
		} else if (strcmp(info.health, "unhealthy") == 0) {
			rc = bs_err_set(err, BS_ERR_REMOTE,
					"%s is unhealthy (its healthcheck fails)", x->name);
		} else {
			rc = 1; /* starting */
		}
		bs_cinfo_free(&info);
		if (rc <= 0)
			return rc;
		if (cancelled(w))
			return bs_err_set(err, BS_ERR_INTERRUPTED,
					  "interrupted while waiting for %s to be healthy",
					  x->name);
		if (bs_now_ms() >= end)
			return bs_err_set(err, BS_ERR_TIMEOUT,
					  "%s did not become healthy within %ld s (update.timeout "
					  "sets the wait)",
					  x->name, health_budget_ms(w, x->c) / 1000);
		rc = poll_pause(w, x->name, "be healthy", err);
		if (rc != 0)
			return rc;
	}
}

static bool fixed_ports(const struct bs_container *c)
{
	for (size_t i = 0; i < c->n_ports; i++)
		if (c->ports[i].host_start > 0)
			return true;
	return false;
}

/* The container named name, if any, unless it is keep: removed (an
 * earlier interrupted replacement's leftover holding the name). */
static void clear_name(struct bs_nodework *w, const char *name, const struct have *keep)
{
	struct bs_err e = BS_ERR_INIT;

	if (keep != NULL && strcmp(keep->info.name, name) == 0)
		return;
	/* only one of the project's, as observed: never a container that is
	 * not ours (its create then fails with a name conflict instead), and
	 * no request when nothing holds the name */
	for (size_t i = 0; i < w->n_have; i++)
		if (&w->have[i] != keep && strcmp(w->have[i].info.name, name) == 0) {
			w->d->ops->container_destroy(w->d, w->have[i].info.id, 0, &e);
			return;
		}
}

/* IP:PORT of container id on the project network, or NULL (not there, or
 * no IPv4 address: the proxy keeps going by name then). */
static char *project_addr(struct bs_nodework *w, const char *id, int port)
{
	struct bs_cinfo info;
	struct bs_err e = BS_ERR_INIT;
	char *raw = NULL, *addr = NULL;
	cJSON *root, *ip;

	memset(&info, 0, sizeof(info));
	if (w->d->ops->container_inspect(w->d, id, &info, &raw, &e) != 0) {
		bs_cinfo_free(&info);
		return NULL;
	}
	root = cJSON_Parse(raw);
	ip = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(root, "NetworkSettings"),
				"Networks"),
			w->network),
		"IPAddress");
	if (cJSON_IsString(ip) && ip->valuestring[0] != '\0' &&
	    strspn(ip->valuestring, "0123456789.") == strlen(ip->valuestring))
		addr = bs_xasprintf("%s:%d", ip->valuestring, port);
	cJSON_Delete(root);
	free(raw);
	bs_cinfo_free(&info);
	return addr;
}

/* During a start-first replacement of a container with a domain: the
 * proxy sends the instance's requests to the new container by address
 * (to) before the old one stops, and by name again (to NULL) once the new
 * one carries it. */
static int route_instance(struct bs_nodework *w, const struct want *x, const char *to,
			  struct bs_err *err)
{
	struct bs_route_override ov = {x->name, to};
	char *conf = bs_proxy_config(w->o.recipe, w->o.node, to ? &ov : NULL);
	int rc = bs_proxy_load(w->d, w->proxy_name, conf, to != NULL, err);

	free(conf);
	if (rc != 0)
		bs_err_prefix(err, "%s: routing %s to %s", x->name, x->c->domain,
			      to ? "the new container" : "it by name again");
	return rc;
}

/*
 * Replace a->have (old) with a new container for a->want, or finish a
 * replacement an interrupted run left (a->fresh is the new one then).
 *   start-first: new as NAME.next, healthy, old removed, new renamed NAME
 *   stop-first:  old renamed NAME.prev and stopped, new as NAME, healthy,
 *                old removed
 * Until the old container is removed, any failure (or an interrupt)
 * removes the new one and puts the old one back as it was. After that,
 * the new one stays whatever happens: it is healthy, and the next run
 * renames it if the rename did not happen.
 */
static int replace(struct bs_nodework *w, struct action *a, struct bs_err *err)
{
	struct want *x = a->want;
	struct have *old = a->have;
	bool start_first = x->c->update.order == BS_ORDER_START_FIRST ||
			   (x->c->update.order == BS_ORDER_AUTO && !fixed_ports(x->c));
	bool restart_old = running(old) || bs_str_ends_with(old->info.name, ".prev");
	char *tmp = NULL, *id = NULL;
	struct bs_err e2 = BS_ERR_INIT;
	bool changed, old_gone = false, routed = false, healthy = false;
	int rc = 0;

	if (a->fresh != NULL) {
		id = bs_xstrdup(a->fresh->info.id);
	} else if (start_first) {
		tmp = bs_xasprintf("%s.%s", x->name,
				   bs_str_ends_with(old->info.name, ".next") ? "new" : "next");
		clear_name(w, tmp, old);
		rc = create(w, w->d, x, tmp, &id, err);
	} else {
		tmp = bs_xasprintf("%s.prev", x->name);
		if (strcmp(old->info.name, tmp) != 0) {
			clear_name(w, tmp, old);
			rc = w->d->ops->container_rename(w->d, old->info.id, tmp, err);
		}
		if (rc == 0)
			rc = w->d->ops->container_stop(w->d, old->info.id, stop_timeout_s(x->c),
						       &changed, err);
		if (rc == 0) {
			clear_name(w, x->name, old);
			rc = create(w, w->d, x, x->name, &id, err);
		}
	}
	if (rc == 0)
		rc = wait_healthy(w, x, id, a->fresh == NULL, err);
	healthy = rc == 0;
	if (rc == 0 && start_first && x->c->domain != NULL && w->proxy) {
		char *addr = project_addr(w, id, bs_container_web_port(x->c));

		if (addr != NULL) {
			/* routed even when this fails: the reload may have taken */
			routed = true;
			rc = route_instance(w, x, addr, err);
		}
		free(addr);
	}
	if (rc == 0) {
		rc = w->d->ops->container_destroy(w->d, old->info.id, stop_timeout_s(x->c), err);
		old_gone = rc == 0 || rc == BS_ERR_NOT_FOUND;
		if (rc == BS_ERR_NOT_FOUND) {
			bs_err_clear(err);
			rc = 0;
		}
	}
	if (old_gone) {
		/* past the point of no return: the new container stays */
		const char *now = a->fresh ? a->fresh->info.name : start_first ? tmp : x->name;

		if (strcmp(now, x->name) != 0)
			rc = w->d->ops->container_rename(w->d, id, x->name, err);
		if (rc != 0)
			bs_err_prefix(err,
				      "%s: the new container is healthy and the old one is gone, "
				      "but the rename failed (the next run finishes it)",
				      x->name);
		else if (routed)
			rc = route_instance(w, x, NULL, err);
	} else if (rc != 0 && routed) {
		/* start-first, the domain switched to the new container: the old
		 * one (it still holds the name) runs again first, then takes the
		 * domain back, and only then does the new one go. When the route
		 * back fails (or the run is interrupted), the new container stays
		 * and serves: the next run finishes the replacement. */
		struct bs_buf why = BS_BUF_INIT;
		int r2;

		bs_buf_puts(&why, err->msg);
		if (!running(old))
			w->d->ops->container_start(w->d, old->info.id, &changed, &e2);
		r2 = route_instance(w, x, NULL, &e2);
		if (r2 == 0) {
			w->d->ops->container_destroy(w->d, id, 0, &e2);
			bs_err_set(err, rc,
				   "the replacement was undone (the new container was healthy): "
				   "the previous one serves %s again: %s",
				   x->c->domain, bs_buf_str(&why));
		} else {
			bs_err_set(
				err, rc,
				"%s: the new container serves %s, but the previous one is still "
				"there (%s; the route back failed: %s); the next run finishes the "
				"replacement",
				x->name, x->c->domain, bs_buf_str(&why), e2.msg);
		}
		bs_buf_free(&why);
	} else if (rc != 0) {
		struct bs_buf why = BS_BUF_INIT;

		bs_buf_puts(&why, err->msg);
		if (id != NULL) {
			if (!healthy && rc != BS_ERR_INTERRUPTED)
				last_logs(w, x->c, id, x->name, &why);
			w->d->ops->container_destroy(w->d, id, 0, &e2);
		}
		/* the previous container back, as it was */
		if (strcmp(old->info.name, x->name) != 0 || tmp != NULL)
			w->d->ops->container_rename(w->d, old->info.id, x->name, &e2);
		if (restart_old)
			w->d->ops->container_start(w->d, old->info.id, &changed, &e2);
		bs_err_set(err, rc, "%s; the previous one %s: %s",
			   healthy ? "the replacement was undone (the new container was healthy)"
			   : rc == BS_ERR_INTERRUPTED ? "the new container was removed"
						      : "the new container failed and was removed",
			   restart_old ? "serves again" : "is back", bs_buf_str(&why));
		bs_buf_free(&why);
	}
	free(id);
	free(tmp);
	return rc;
}

/* One action, on driver d (w->d, or a parallel worker's own). */
static int act(struct bs_nodework *w, struct bs_cdriver *d, struct action *a, struct bs_err *err)
{
	struct want *x = a->want;
	struct have *h = a->have;
	char *id = NULL;
	bool changed;
	int rc = 0;

	switch (a->kind) {
	case A_REMOVE:
		rc = d->ops->container_destroy(
			d, h->info.id, stop_timeout_s(declared(w->o.recipe, h->cname)), err);
		if (rc == BS_ERR_NOT_FOUND) {
			bs_err_clear(err);
			rc = 0;
		}
		break;
	case A_RENAME:
		/* the name may still be held by a container being removed */
		rc = d->ops->container_rename(d, h->info.id, x->name, err);
		break;
	case A_UPDATE: {
		struct bs_cupdate u;

		memset(&u, 0, sizeof(u));
		u.restart = bs_restart_policy_name(x->c->restart);
		u.restart_max_retries = x->c->restart_max_retries;
		u.memory_bytes = x->c->resources.memory_bytes;
		u.nano_cpus = x->c->resources.nano_cpus;
		u.pids_limit = x->pids;
		rc = d->ops->container_update(d, h->info.id, &u, err);
		break;
	}
	case A_START: rc = d->ops->container_start(d, h->info.id, &changed, err); break;
	case A_CREATE:
		/* a leftover with the name but without our labels is not ours */
		rc = create(w, d, x, x->name, &id, err);
		free(id);
		break;
	case A_REPLACE: rc = replace(w, a, err); break;
	case A_KEEP: break;
	}
	return rc;
}

static int run_action(struct bs_nodework *w, struct bs_cdriver *d, struct action *a,
		      struct bs_err *err)
{
	const char *object = a->want ? a->want->name : a->have->info.name;
	long long t0 = bs_now_ms();
	int rc;

	if (a->kind == A_KEEP) {
		report(w, BS_EV_ACTION_PLANNED, "keep", object, a->reason, NULL, 0);
		pthread_mutex_lock(&w->mu);
		count(w, a->kind);
		pthread_mutex_unlock(&w->mu);
		a->done = true;
		return 0;
	}
	report(w, BS_EV_ACTION_STARTED, act_names[a->kind], object, a->reason, NULL, 0);
	rc = act(w, d, a, err);
	a->done = true;
	if (rc != 0) {
		pthread_mutex_lock(&w->mu);
		w->counts.failed++;
		pthread_mutex_unlock(&w->mu);
		bs_err_prefix(err, "node %s: %s %s", w->o.node->name, act_names[a->kind], object);
		report(w, BS_EV_ACTION_FAILED, act_names[a->kind], object, a->reason, err->msg,
		       bs_now_ms() - t0);
		audit(w, act_names[a->kind], object, "failed");
		return rc;
	}
	pthread_mutex_lock(&w->mu);
	count(w, a->kind);
	pthread_mutex_unlock(&w->mu);
	audit(w, act_names[a->kind], object, a->reason);
	report(w, BS_EV_ACTION_DONE, act_names[a->kind], object, a->reason, NULL, bs_now_ms() - t0);
	return 0;
}

/*
 * A batch of actions on different containers, up to o.parallel at once,
 * each worker on its own engine connection (the calling thread uses w->d);
 * over SSH each connection is a channel of the node's one session.
 * With parallel 1, one after the other.
 * After the first failure no further action starts; its error is the one
 * returned.
 */
struct batch {
	struct bs_nodework *w;
	struct action **acts;
	size_t n, next;
	pthread_mutex_t mu;
	int rc;
	struct bs_err err;
};

struct batch_worker {
	struct batch *b;
	struct bs_cdriver *d;
	size_t slot; /* in w->extra, for a worker that opens its own */
	pthread_t thread;
	bool started;
};

static void *batch_run(void *arg)
{
	struct batch_worker *bw = arg;
	struct batch *b = bw->b;
	struct bs_nodework *w = b->w;

	if (bw->d == NULL) { /* a worker thread: its own connection */
		struct bs_cdriver_opts co = BS_CDRIVER_OPTS_INIT;
		struct bs_err e = BS_ERR_INIT;

		co.cancel = w->o.abort;
		if (w->extra[bw->slot] == NULL &&
		    bs_docker_open(&w->extra[bw->slot], w->o.ep, &co, &e) != 0)
			return NULL; /* the others carry on without it */
		bw->d = w->extra[bw->slot];
	}
	for (;;) {
		struct action *a = NULL;
		struct bs_err e = BS_ERR_INIT;
		int rc;

		pthread_mutex_lock(&b->mu);
		if (b->rc == 0 && b->next < b->n && !cancelled(w))
			a = b->acts[b->next++];
		pthread_mutex_unlock(&b->mu);
		if (a == NULL)
			return NULL;
		rc = run_action(w, bw->d, a, &e);
		if (rc != 0) {
			pthread_mutex_lock(&b->mu);
			if (b->rc == 0) {
				b->rc = rc;
				b->err = e;
			}
			pthread_mutex_unlock(&b->mu);
		}
	}
}

static int run_batch(struct bs_nodework *w, struct action **acts, size_t n, struct bs_err *err)
{
	struct batch b;
	struct batch_worker *ws;
	size_t want = w->o.parallel > 1 ? (size_t)w->o.parallel : 1, i;

	if (w->o.ep == NULL)
		want = 1;
	if (want > n)
		want = n;
	memset(&b, 0, sizeof(b));
	b.w = w;
	b.acts = acts;
	b.n = n;
	b.err = (struct bs_err)BS_ERR_INIT;
	pthread_mutex_init(&b.mu, NULL);
	if (want > 1 && w->n_extra < want - 1) {
		w->extra = bs_xrealloc(w->extra, (want - 1) * sizeof(*w->extra));
		memset(w->extra + w->n_extra, 0, (want - 1 - w->n_extra) * sizeof(*w->extra));
		w->n_extra = want - 1;
	}
	ws = bs_xcalloc(want ? want : 1, sizeof(*ws));
	for (i = 0; i < want; i++) {
		ws[i].b = &b;
		ws[i].slot = i - 1;
		ws[i].d = i == 0 ? w->d : NULL;
	}
	for (i = 1; i < want; i++)
		ws[i].started = pthread_create(&ws[i].thread, NULL, batch_run, &ws[i]) == 0;
	batch_run(&ws[0]);
	for (i = 1; i < want; i++)
		if (ws[i].started)
			pthread_join(ws[i].thread, NULL);
	free(ws);
	pthread_mutex_destroy(&b.mu);
	if (b.rc != 0) {
		*err = b.err;
		return b.rc;
	}
	if (b.next < b.n && cancelled(w))
		return bs_err_set(err, BS_ERR_INTERRUPTED, "interrupted");
	return 0;
}

/* Actions of the kinds in [from, to], in plan order, as one batch. */
static int run_kinds(struct bs_nodework *w, enum act_kind from, enum act_kind to,
		     struct bs_err *err)
{
	struct action **acts = bs_xcalloc(w->n_act ? w->n_act : 1, sizeof(*acts));
	size_t n = 0;
	int rc;

	for (size_t i = 0; i < w->n_act; i++)
		if (w->act[i].kind >= from && w->act[i].kind <= to)
			acts[n++] = &w->act[i];
	rc = n ? run_batch(w, acts, n, err) : 0;
	free(acts);
	return rc;
}

/* ---- start order (depends_on) ----------------------------------------- */

/* Is the dependency's replica (just inspected) where the dependent may
 * start? 0: yes; 1: not yet; else the error, which names the dependent. */
static int dep_met(struct bs_nodework *w, const struct want *x, const struct bs_dependency *dep,
		   const char *dependent, const struct bs_cinfo *info, struct bs_err *err)
{
	bool up = info->state == BS_CSTATE_RUNNING || info->state == BS_CSTATE_RESTARTING;

	if (dep->condition == BS_DEP_COMPLETED) {
		struct bs_buf why = BS_BUF_INIT;
		int rc;

		if (up ||
		    (info->state == BS_CSTATE_STOPPED && info->exit_code == 0 && !exited_ok(info)))
			return 1; /* not started yet */
		if (exited_ok(info))
			return 0;
		last_logs(w, x->c, x->name, x->name, &why);
		rc = bs_err_set(err, BS_ERR_REMOTE,
				"%s waits for %s to complete, and it exited with code %d%s",
				dependent, x->name, info->exit_code, bs_buf_str(&why));
		bs_buf_free(&why);
		return rc;
	}
	if (!up)
		return bs_err_set(err, BS_ERR_REMOTE,
				  "%s waits for %s, which stopped (exit code %d)", dependent,
				  x->name, info->exit_code);
	if (info->health == NULL)
		return bs_err_set(
			err, BS_ERR_INVALID,
			"%s waits for %s to be healthy, but %s has no healthcheck (neither the recipe nor its image has one): give %s a healthcheck:, or depend on it with condition: service_started",
			dependent, x->name, x->c->name, x->c->name);
	if (strcmp(info->health, "unhealthy") == 0)
		return bs_err_set(err, BS_ERR_REMOTE,
				  "%s waits for %s to be healthy, and it is unhealthy", dependent,
				  x->name);
	return strcmp(info->health, "healthy") == 0 ? 0 : 1;
}

/* Wait, bounded like a replacement's health wait (update.timeout, else
 * from its healthcheck), until replica x meets dep. service_started asks
 * nothing: the order alone gives it. */
static int wait_dep(struct bs_nodework *w, const struct want *x, const struct bs_dependency *dep,
		    const char *dependent, struct bs_err *err)
{
	const char *what = dep->condition == BS_DEP_HEALTHY ? "be healthy" : "complete";
	long budget = health_budget_ms(w, x->c);
	long long end = bs_now_ms() + budget;

	if (dep->condition == BS_DEP_STARTED)
		return 0;
	for (;;) {
		struct bs_cinfo info;
		int rc;

		memset(&info, 0, sizeof(info));
		rc = w->d->ops->container_inspect(w->d, x->name, &info, NULL, err);
		if (rc == 0)
			rc = dep_met(w, x, dep, dependent, &info, err);
		bs_cinfo_free(&info);
		if (rc <= 0)
			return rc;
		if (bs_now_ms() >= end)
			return bs_err_set(err, BS_ERR_TIMEOUT,
					  "%s waited %ld s for %s to %s (%s's update.timeout sets "
					  "the wait)",
					  dependent, budget / 1000, x->name, what, x->c->name);
		rc = poll_pause(w, x->name, what, err);
		if (rc != 0)
			return rc;
	}
}

int bs_nodework_wait_dep(struct bs_nodework *w, const char *dependent,
			 const struct bs_dependency *dep, struct bs_err *err)
{
	int rc = 0;

	for (size_t j = 0; j < w->n_want && rc == 0; j++) {
		const struct want *x = &w->want[j];

		if (x->c != &w->proxy_c && strcmp(x->c->name, dep->container) == 0)
			rc = wait_dep(w, x, dep, dependent, err);
	}
	if (rc != 0)
		bs_err_prefix(err, "node %s", w->o.node->name);
	return rc;
}

static bool starts(const struct action *a)
{
	return a->kind >= A_START && a->kind <= A_CREATE && !a->done;
}

void bs_nodework_level_waits(const struct bs_nodework *w, int level, struct bs_dep_wait **v,
			     size_t *n)
{
	for (size_t i = 0; i < w->n_act; i++) {
		const struct bs_container *c = w->act[i].want ? w->act[i].want->c : NULL;

		if (!starts(&w->act[i]) || bs_recipe_dep_level(w->o.recipe, c) != level)
			continue;
		for (size_t k = 0; k < c->n_depends_on; k++) {
			const struct bs_dependency *dep = &c->depends_on[k];
			bool seen = dep->condition == BS_DEP_STARTED; /* the order is enough */

			for (size_t m = 0; m < *n && !seen; m++)
				seen = strcmp((*v)[m].dep->container, dep->container) == 0 &&
				       (*v)[m].dep->condition == dep->condition;
			if (seen || declared(w->o.recipe, dep->container) == NULL)
				continue;
			*v = bs_xrealloc(*v, (*n + 1) * sizeof(**v));
			(*v)[*n].dependent = c;
			(*v)[(*n)++].dep = dep;
		}
	}
}

size_t bs_nodework_skip_from(struct bs_nodework *w, int level, const char *why)
{
	size_t n = 0;

	for (size_t i = 0; i < w->n_act; i++)
		if (starts(&w->act[i]) &&
		    bs_recipe_dep_level(w->o.recipe, w->act[i].want->c) >= level) {
			char *text = bs_xasprintf("skipped: %s", why);

			story(w, "skipped", w->act[i].want->name, text);
			free(text);
			w->act[i].done = true;
			n++;
		}
	return n;
}

/* The starts and creates of one dependency level, as one batch; with
 * wait, first the waits for their dependencies on this node. */
static int run_level(struct bs_nodework *w, int level, bool wait, struct bs_err *err)
{
	struct action **acts = bs_xcalloc(w->n_act ? w->n_act : 1, sizeof(*acts));
	struct bs_dep_wait *waits = NULL;
	size_t n = 0, n_waits = 0;
	int rc = 0;

	if (wait && level > 0)
		bs_nodework_level_waits(w, level, &waits, &n_waits);
	for (size_t i = 0; i < n_waits && rc == 0; i++)
		rc = bs_nodework_wait_dep(w, waits[i].dependent->name, waits[i].dep, err);
	if (rc != 0) {
		w->counts.failed++;
		bs_nodework_skip_from(w, level, err->msg);
	}
	for (size_t i = 0; i < w->n_act && rc == 0; i++)
		if (starts(&w->act[i]) &&
		    bs_recipe_dep_level(w->o.recipe, w->act[i].want->c) == level)
			acts[n++] = &w->act[i];
	if (n > 0)
		rc = run_batch(w, acts, n, err);
	free(waits);
	free(acts);
	return rc;
}

/*
 * Starts and creates in dependency order: level 0 (no dependencies) as one
 * batch, then each next level once the dependencies its containers have
 * on this node meet their condition; within a level, in parallel. A
 * recipe without depends_on is one batch, with no look more.
 */
static int run_starts(struct bs_nodework *w, struct bs_err *err)
{
	int top = bs_recipe_dep_top(w->o.recipe), rc = 0;

	for (int l = 0; l <= top && rc == 0; l++)
		rc = run_level(w, l, true, err);
	return rc;
}

/*
 * The planned reload of the proxy's routes, as an action of its own. A
 * stopped proxy (stopped true) gets them as the file it starts with
 * instead: Caddy's admin endpoint would not answer a reload yet right
 * after the start.
 */
static int reload_routes(struct bs_nodework *w, bool stopped, struct bs_err *err)
{
	char *conf = bs_proxy_config(w->o.recipe, w->o.node, NULL);
	long long t0 = bs_now_ms();
	int rc;

	report(w, BS_EV_ACTION_STARTED, "reload", w->proxy_name, w->routes_why, NULL, 0);
	rc = bs_proxy_put_certs(w->d, w->proxy_name, w->o.recipe, err);
	if (rc == 0 && stopped)
		rc = w->d->ops->container_put_file(w->d, w->proxy_name, BS_PROXY_CONF_DIR,
						   BS_PROXY_CONF_FILE, conf, strlen(conf), 0644,
						   err);
	else if (rc == 0)
		rc = bs_proxy_load(w->d, w->proxy_name, conf, false, err);
	w->routes_done = true;
	free(conf);
	if (rc != 0) {
		w->counts.failed++;
		bs_err_prefix(err, "node %s: reload %s", w->o.node->name, w->proxy_name);
		report(w, BS_EV_ACTION_FAILED, "reload", w->proxy_name, w->routes_why, err->msg,
		       bs_now_ms() - t0);
		audit(w, "reload", w->proxy_name, "failed");
	} else {
		w->counts.updated++;
		audit(w, "reload", w->proxy_name, w->routes_why);
		report(w, BS_EV_ACTION_DONE, "reload", w->proxy_name, w->routes_why, NULL,
		       bs_now_ms() - t0);
	}
	return rc;
}

/* Does the proxy have an action of this kind this run? */
static bool proxy_has(const struct bs_nodework *w, enum act_kind kind)
{
	for (size_t i = 0; w->proxy && i < w->n_act; i++)
		if (w->act[i].want != NULL && w->act[i].want->c == &w->proxy_c &&
		    w->act[i].kind == kind)
			return true;
	return false;
}

/* What apply does before its starts and creates. */
static int apply_before(struct bs_nodework *w, struct bs_err *err)
{
	bool proxy_busy = proxy_has(w, A_RENAME) || proxy_has(w, A_START) ||
			  proxy_has(w, A_CREATE) || proxy_has(w, A_REPLACE);
	int rc = 0;

	stage(w, "containers");
	if (cancelled(w))
		return bs_err_set(err, BS_ERR_INTERRUPTED, "interrupted");
	/* a running proxy lets go of what leaves before it goes (a removed
	 * domain, a replica scaled down or moved): the reload comes first;
	 * what comes new is retried by the proxy until it answers */
	if (w->routes_why != NULL && !proxy_busy)
		rc = reload_routes(w, false, err);
	/* removals free names and ports first; a rename needs its name free;
	 * an update and a start may be for one container: update first */
	if (rc == 0)
		rc = run_kinds(w, A_REMOVE, A_REMOVE, err);
	if (rc == 0)
		rc = run_kinds(w, A_RENAME, A_RENAME, err);
	if (rc == 0)
		rc = run_kinds(w, A_UPDATE, A_UPDATE, err);
	if (rc == 0 && w->routes_why != NULL && !w->routes_done && proxy_has(w, A_START))
		rc = reload_routes(w, true, err);
	return rc;
}

/* What apply does after its starts and creates. */
static int apply_after(struct bs_nodework *w, struct bs_err *err)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < w->n_act; i++)
		if (w->act[i].kind == A_KEEP)
			rc = run_action(w, w->d, &w->act[i], err);
	/* a running proxy renamed now takes its routes now */
	if (rc == 0 && w->routes_why != NULL && !w->routes_done)
		rc = reload_routes(w, false, err);
	if (rc == 0 && proxy_has(w, A_CREATE)) {
		/* a proxy that cannot start (a port taken, an image without
		 * Caddy) restarts in a loop: say so now, not never */
		for (size_t i = 0; i < w->n_want; i++)
			if (w->want[i].c == &w->proxy_c) {
				rc = wait_healthy(w, &w->want[i], w->proxy_name, false, err);
				if (rc != 0) {
					struct bs_buf why = BS_BUF_INIT;

					bs_buf_printf(&why, "%s", err->msg);
					last_logs(w, &w->proxy_c, w->proxy_name, w->proxy_name,
						  &why);
					bs_err_set(err, rc,
						   "node %s: the domain proxy does not stay up: %s",
						   w->o.node->name, bs_buf_str(&why));
					bs_buf_free(&why);
				}
			}
	}
	return rc;
}

int bs_nodework_apply(struct bs_nodework *w, struct bs_err *err)
{
	int rc = apply_before(w, err);

	if (rc == 0)
		rc = run_starts(w, err);
	return rc == 0 ? apply_after(w, err) : rc;
}

int bs_nodework_apply_level(struct bs_nodework *w, int level, struct bs_err *err)
{
	int rc = level == 0 ? apply_before(w, err) : 0;

	if (rc == 0 && level > 0 && cancelled(w))
		rc = bs_err_set(err, BS_ERR_INTERRUPTED, "interrupted");
	if (rc == 0)
		rc = run_level(w, level, false, err);
	if (rc == 0 && level == bs_recipe_dep_top(w->o.recipe))
		rc = apply_after(w, err);
	return rc;
}

int bs_nodework_roll(struct bs_nodework *w, size_t i, struct bs_err *err)
{
	if (cancelled(w))
		return bs_err_set(err, BS_ERR_INTERRUPTED, "interrupted");
	stage(w, "rolling");
	return run_action(w, w->d, &w->act[w->rolling[i]], err);
}

/* ---- status and destroy ---------------------------------------------- */

void bs_nodework_status(struct bs_nodework *w)
{
	for (size_t i = 0; i < w->n_have; i++) {
		struct have *h = &w->have[i];
		struct bs_event ev;
		char *drift = NULL;

		struct bs_buf d = BS_BUF_INIT;

		for (size_t k = 0; k < w->n_act; k++)
			if (w->act[k].have == h)
				bs_buf_printf(&d, "%s%s: %s", d.len ? "; " : "",
					      act_names[w->act[k].kind], w->act[k].reason);
		drift = d.len ? bs_buf_detach(&d) : NULL;
		bs_buf_free(&d);
		memset(&ev, 0, sizeof(ev));
		ev.kind = BS_EV_CONTAINER_STATUS;
		ev.object = h->info.name;
		ev.state = bs_cstate_name(h->info.state);
		ev.health = h->info.health;
		ev.drift = drift;
		ev.reason = h->info.status;
		send(w, &ev);
		free(drift);
	}
	for (size_t k = 0; k < w->n_act; k++) {
		struct bs_event ev;

		if (w->act[k].kind != A_CREATE)
			continue;
		memset(&ev, 0, sizeof(ev));
		ev.kind = BS_EV_CONTAINER_STATUS;
		ev.object = w->act[k].want->name;
		ev.state = "missing";
		ev.drift = "create: missing";
		send(w, &ev);
	}
}

/* The removals of the containers of one depends_on level (-1: every
 * level, the deepest first: dependents go before what they depend on). */
static int destroy_levels(struct bs_nodework *w, int only, struct bs_err *err)
{
	struct action *a = bs_xcalloc(w->n_have ? w->n_have : 1, sizeof(*a));
	struct action **acts = bs_xcalloc(w->n_have ? w->n_have : 1, sizeof(*acts));
	int *levels = bs_xcalloc(w->n_have ? w->n_have : 1, sizeof(*levels));
	int top = 0, rc = 0;

	for (size_t i = 0; i < w->n_have; i++) {
		const struct bs_container *c = declared(w->o.recipe, w->have[i].cname);

		levels[i] = c != NULL ? bs_recipe_dep_level(w->o.recipe, c) : 0;
		top = levels[i] > top ? levels[i] : top;
		a[i].kind = A_REMOVE;
		a[i].have = &w->have[i];
		a[i].reason = (char *)"destroy";
	}
	for (int l = top; l >= 0 && rc == 0; l--) {
		size_t n = 0;

		for (size_t i = 0; i < w->n_have && (only < 0 || only == l); i++)
			if (levels[i] == l)
				acts[n++] = &a[i];
		rc = n ? run_batch(w, acts, n, err) : 0;
	}
	free(levels);
	free(acts);
	free(a);
	return rc;
}

int bs_nodework_destroy(struct bs_nodework *w, struct bs_err *err)
{
	stage(w, "containers");
	return destroy_levels(w, -1, err);
}

int bs_nodework_destroy_level(struct bs_nodework *w, int level, struct bs_err *err)
{
	if (level == bs_recipe_dep_top(w->o.recipe))
		stage(w, "containers");
	return destroy_levels(w, level, err);
}

int bs_nodework_destroy_rest(struct bs_nodework *w, bool volumes, struct bs_err *err)
{
	struct bs_strv vols = BS_STRV_INIT;
	bool removed;
	int rc;

	stage(w, "networks");
	rc = w->d->ops->network_remove(w->d, w->network, &removed, err);
	if (rc == 0 && removed) {
		w->counts.other++;
		audit(w, "remove-network", w->network, "destroy");
		report(w, BS_EV_ACTION_DONE, "remove-network", w->network, "destroy", NULL, 0);
	}
	if (!volumes || rc != 0)
		return rc;
	for (size_t i = 0; i < w->o.recipe->n_containers; i++) {
		const struct bs_container *c = &w->o.recipe->containers[i];

		for (size_t m = 0; m < c->n_volumes; m++)
			if (c->volumes[m].type == BS_MOUNT_VOLUME)
				bs_strv_add_unique(&vols, c->volumes[m].source);
	}
	/* the domain proxy's certificates, whether domains are left or not */
	bs_strv_add_unique(&vols, BS_PROXY_VOLUME);
	for (size_t i = 0; i < vols.n && rc == 0; i++) {
		char *name = bs_volume_name(w->o.recipe->project, vols.v[i]);

		rc = w->d->ops->volume_remove(w->d, name, &removed, err);
		if (rc == 0 && removed) {
			w->counts.other++;
			audit(w, "remove-volume", name, "destroy --volumes");
			report(w, BS_EV_ACTION_DONE, "remove-volume", name, "destroy --volumes",
			       NULL, 0);
		}
		free(name);
	}
	bs_strv_free(&vols);
	return rc;
}
