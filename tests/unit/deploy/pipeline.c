/*
 * Unit tests for deploy/pipeline.c: bs_pipeline_run end to end over fakes
 * handed in through struct bs_pipeline_env, with no network.
 *
 *   the world     one test's engines, machines, call log and events. The
 *                 env functions take no payload, so the fakes reach it
 *                 through the file's `world` (one test at a time)
 *   fake compute  a provider that creates machines and keeps them
 *   fake nodes    node_prepare hands out the engine the entry names
 *                 (engine: unix:///fake/NAME); node_close gives it back
 *   fake engine   an in-memory Docker: containers with ids, names, labels
 *                 and states, images, networks and volumes. It refuses
 *                 what Docker refuses (a name taken, a network or volume
 *                 in use, a missing image), so a second look plans nothing
 *
 * Every fake call is appended, in order, to one log under the world's
 * mutex ("a" "container_deploy shop-web-1"), and every event is recorded
 * the same way. Worker threads never assert (no longjmp across threads):
 * a fake that sees something wrong (an engine call without an open node
 * session, an op it does not implement, an audit line without the node
 * lock) records a violation; tests check the list on their own thread,
 * and teardown fails a test whose runs left any.
 *
 * Replacements are tracked as they happen: one begins when a NAME.next
 * container is made and ends when it is renamed NAME or removed. The
 * fake can hold each one (sleep_ms) and make it wait for another to
 * begin (company_ms), so that what a wave lets overlap does overlap.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <cJSON.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "container/context.h"
#include "deploy/pipeline.h"
#include "deploy/spec.h"
#include "tests/unit/helpers.h"

#define MAX_ENGINES 4
#define MAX_FLIGHTS 8

struct call {
	char *who;  /* a node or engine name, or "compute" */
	char *what; /* "prepare", "lock", "container_deploy shop-web-1", ... */
};

struct seen { /* one event, copied */
	enum bs_ev_kind kind;
	char *node, *action, *object, *reason;
	char *text; /* error, else reason: what a failure or a message says */
	struct bs_counts counts;
	bool error;
	bool interrupted; /* the flag was set when it came */
};

struct flight { /* replacements of one container in flight, fleet-wide */
	char *container;
	int now, max;
};

struct fcontainer {
	char *id, *name, *image, *image_id, *network, *restart;
	enum bs_cstate state;
	int exit_code;
	struct bs_kvlist labels;
	struct bs_strv volumes; /* named volumes it mounts */
	int restart_max;
	int64_t memory, nano_cpus, pids;
};

struct fengine {
	struct bs_cdriver base; /* first: the driver converge.c sees */
	char name[16];
	pthread_mutex_t mu; /* guards what follows */
	struct fcontainer *c;
	size_t n_c, cap_c;
	struct bs_strv images, networks, volumes;
	struct bs_kvlist context_labels; /* image -> its context-hash label */
	unsigned long calls, next_id;
	int sessions; /* node sessions open on it */
};

struct world {
	pthread_mutex_t mu; /* guards the log, events, flights, machines, violations */
	struct call *log;
	size_t n_log, cap_log;
	struct seen *ev;
	size_t n_ev, cap_ev;
	struct bs_strv violations;
	struct flight flights[MAX_FLIGHTS];
	size_t n_flights;
	int in_flight, overlap_max; /* replacements at once, any container */
	unsigned long begun;	    /* replacements begun */
	struct fengine engines[MAX_ENGINES];
	struct bs_machine_list machines;
	unsigned long next_machine;
	/* knobs */
	const char *fail_create;  /* this container is made, but exits at once */
	const char *interrupt_on; /* its container_deploy sets the interrupted flag */
	long sleep_ms;		  /* each container_deploy takes this long */
	long company_ms;	  /* a replacement waits for another this long */
	bool volumes;		  /* destroy --volumes */
	bool files_stale;	  /* the node holds an old copy of a local file */
	bool files_fail;	  /* shipping local files fails */
	volatile sig_atomic_t interrupted;
	size_t interrupt_at; /* the log's length when the flag was set */
};

static struct world *world;

/* ---- the log --------------------------------------------------------- */

/* In a printf-like function: the text of fmt and its arguments into buf b. */
#define FORMAT_ARGS(b, fmt)                                                                        \
	do {                                                                                       \
		va_list ap_;                                                                       \
                                                                                                   \
		va_start(ap_, fmt);                                                                \
		bs_buf_vprintf(&(b), fmt, ap_);                                                    \
		va_end(ap_);                                                                       \
	} while (0)

static void note(const char *who, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(const char *who, const char *fmt, ...)
{
	struct bs_buf b = BS_BUF_INIT;

	FORMAT_ARGS(b, fmt);
	pthread_mutex_lock(&world->mu);
	bs_xgrow((void **)&world->log, &world->cap_log, world->n_log + 1, sizeof(*world->log));
	world->log[world->n_log].who = bs_xstrdup(who);
	world->log[world->n_log].what = bs_buf_detach(&b);
	world->n_log++;
	pthread_mutex_unlock(&world->mu);
}

static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void violation(const char *fmt, ...)
{
	struct bs_buf b = BS_BUF_INIT;

	FORMAT_ARGS(b, fmt);
	pthread_mutex_lock(&world->mu);
	bs_strv_push(&world->violations, bs_buf_str(&b));
	pthread_mutex_unlock(&world->mu);
	bs_buf_free(&b);
}

static void nap(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	if (ms > 0)
		nanosleep(&ts, NULL);
}

static bool replacement_name(const char *name)
{
	return bs_str_ends_with(name, ".next") || bs_str_ends_with(name, ".new");
}

/* A replacement of container cname begins (delta 1) or ends (-1).
 * Returns the number of replacements begun so far (this run); *company
 * (may be NULL) says whether another one is in flight now. */
static unsigned long flight(const char *cname, int delta, bool *company)
{
	struct flight *f = NULL;
	unsigned long begun;

	pthread_mutex_lock(&world->mu);
	for (size_t i = 0; i < world->n_flights && f == NULL; i++)
		if (strcmp(world->flights[i].container, cname) == 0)
			f = &world->flights[i];
	if (f == NULL && world->n_flights < MAX_FLIGHTS) {
		f = &world->flights[world->n_flights++];
		f->container = bs_xstrdup(cname);
	}
	if (f != NULL) {
		f->now += delta;
		f->max = f->now > f->max ? f->now : f->max;
	}
	world->in_flight += delta;
	world->begun += delta > 0;
	if (world->in_flight > world->overlap_max)
		world->overlap_max = world->in_flight;
	begun = world->begun;
	if (company != NULL)
		*company = world->in_flight >= 2;
	pthread_mutex_unlock(&world->mu);
	return begun;
}

/* Hold the replacement that began as number mine, alone, until another
 * one begins, at most ms: the overlap that a wave allows then shows for
 * certain, however the threads are scheduled. */
static void wait_for_company(unsigned long mine, long ms)
{
	for (long t = 0; t < ms; t++) {
		bool company;

		pthread_mutex_lock(&world->mu);
		company = world->begun > mine;
		pthread_mutex_unlock(&world->mu);
		if (company)
			return;
		nap(1);
	}
}

/* ---- the fake engine ------------------------------------------------- */

static struct fengine *engine_of(struct bs_cdriver *d)
{
	return (struct fengine *)d;
}

/* Every engine call: counted, logged, and only while a session is open. */
static void enter(struct fengine *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void enter(struct fengine *e, const char *fmt, ...)
{
	struct bs_buf b = BS_BUF_INIT;
	int sessions;

	FORMAT_ARGS(b, fmt);
	pthread_mutex_lock(&e->mu);
	e->calls++;
	sessions = e->sessions;
	pthread_mutex_unlock(&e->mu);
	note(e->name, "%s", bs_buf_str(&b));
	if (sessions == 0)
		violation("engine %s: %s with no node session open", e->name, bs_buf_str(&b));
	bs_buf_free(&b);
}

/* By id or name, under e->mu; -1 when absent. */
static long find(const struct fengine *e, const char *ref)
{
	for (size_t i = 0; i < e->n_c; i++)
		if (strcmp(e->c[i].id, ref) == 0 || strcmp(e->c[i].name, ref) == 0)
			return (long)i;
	return -1;
}

/* The start of every call on one container: logged with the container's
 * name, then e->mu is held (the caller unlocks). Its index, or -1 with
 * err set (no such container). */
static long begin_on(struct fengine *e, const char *op, const char *ref, const char *more,
		     struct bs_err *err)
{
	long i;
	char *name;

	pthread_mutex_lock(&e->mu);
	i = find(e, ref);
	name = bs_xstrdup(i >= 0 ? e->c[i].name : ref);
	pthread_mutex_unlock(&e->mu);
	enter(e, "%s %s%s%s", op, name, more ? " " : "", more ? more : "");
	free(name);
	pthread_mutex_lock(&e->mu);
	i = find(e, ref);
	if (i < 0)
		bs_err_set(err, BS_ERR_NOT_FOUND, "fake engine %s: no container %s", e->name, ref);
	return i;
}

static void kvlist_copy(struct bs_kvlist *to, const struct bs_kvlist *from)
{
	for (size_t i = 0; from != NULL && i < from->n; i++)
		bs_kvlist_push(to, from->v[i].key, from->v[i].value, from->v[i].secret);
}

static bool labels_match(const struct bs_kvlist *have, const struct bs_kvlist *filter)
{
	for (size_t i = 0; filter != NULL && i < filter->n; i++) {
		const struct bs_kv *kv = bs_kvlist_find(have, filter->v[i].key);

		if (kv == NULL ||
		    (filter->v[i].value != NULL && strcmp(kv->value, filter->v[i].value) != 0))
			return false;
	}
	return true;
}

static void fcontainer_free(struct fcontainer *c)
{
	free(c->id);
	free(c->name);
	free(c->image);
	free(c->image_id);
	free(c->network);
	free(c->restart);
	bs_kvlist_free(&c->labels);
	bs_strv_free(&c->volumes);
}

static char *image_id(const char *ref)
{
	char hex[65];

	bs_sha256_hex(ref, strlen(ref), hex);
	return bs_xasprintf("sha256:%s", hex);
}

static void cinfo_fill(struct bs_cinfo *out, const struct fcontainer *c)
{
	memset(out, 0, sizeof(*out));
	out->id = bs_xstrdup(c->id);
	out->name = bs_xstrdup(c->name);
	out->image = bs_xstrdup(c->image);
	out->image_id = bs_xstrdup(c->image_id);
	out->state = c->state;
	out->exit_code = c->exit_code;
	out->status = bs_xstrdup(c->state == BS_CSTATE_RUNNING ? "Up 1 second" : "Exited (1)");
	kvlist_copy(&out->labels, &c->labels);
}

static int fe_container_list(struct bs_cdriver *d, bool all, const struct bs_kvlist *labels,
			     struct bs_cinfo_list *out, struct bs_err *err)
{
	struct fengine *e = engine_of(d);

	(void)err;
	enter(e, "container_list");
	pthread_mutex_lock(&e->mu);
	out->n = 0;
	out->v = bs_xcalloc(e->n_c ? e->n_c : 1, sizeof(*out->v));
	for (size_t i = 0; i < e->n_c; i++)
		if ((all || e->c[i].state == BS_CSTATE_RUNNING) &&
		    labels_match(&e->c[i].labels, labels))
			cinfo_fill(&out->v[out->n++], &e->c[i]);
	pthread_mutex_unlock(&e->mu);
	return 0;
}

/* What converge.c reads of an inspect's JSON: the in-place settings and
 * the address on the project network. */
static char *inspect_json(const struct fcontainer *c)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *host = cJSON_AddObjectToObject(root, "HostConfig");
	cJSON *rp = cJSON_AddObjectToObject(host, "RestartPolicy");
	cJSON *nets = cJSON_AddObjectToObject(cJSON_AddObjectToObject(root, "NetworkSettings"),
					      "Networks");
	char *text;

	cJSON_AddStringToObject(rp, "Name", c->restart);
	cJSON_AddNumberToObject(rp, "MaximumRetryCount", c->restart_max);
	cJSON_AddNumberToObject(host, "Memory", (double)c->memory);
	cJSON_AddNumberToObject(host, "NanoCpus", (double)c->nano_cpus);
	cJSON_AddNumberToObject(host, "PidsLimit", (double)c->pids);
	cJSON_AddStringToObject(cJSON_AddObjectToObject(nets, c->network), "IPAddress", "10.0.0.2");
	text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return text;
}

static int fe_container_inspect(struct bs_cdriver *d, const char *ref, struct bs_cinfo *out,
				char **raw_json, struct bs_err *err)
{
	struct fengine *e = engine_of(d);
	long i = begin_on(e, "container_inspect", ref, NULL, err);

	if (i >= 0) {
		cinfo_fill(out, &e->c[i]);
		if (raw_json != NULL)
			*raw_json = inspect_json(&e->c[i]);
	}
	pthread_mutex_unlock(&e->mu);
	return i >= 0 ? 0 : err->code;
}

static bool builtin_network(const char *name)
{
	return strcmp(name, "bridge") == 0 || strcmp(name, "host") == 0 ||
	       strcmp(name, "none") == 0;
}

/* Make spec's container, under e->mu: refused as Docker refuses. */
static int make_container(struct fengine *e, const struct bs_cspec *spec, bool fails, char **id,
			  struct bs_err *err)
{
	struct fcontainer *c;

	if (!bs_strv_contains(&e->images, spec->image))
		return bs_err_set(err, BS_ERR_NOT_FOUND, "fake engine %s: no such image: %s",
				  e->name, spec->image);
	if (find(e, spec->name) >= 0)
		return bs_err_set(err, BS_ERR_CONFLICT, "fake engine %s: the name %s is in use",
				  e->name, spec->name);
	if (spec->network != NULL && !builtin_network(spec->network) &&
	    !bs_strv_contains(&e->networks, spec->network))
		return bs_err_set(err, BS_ERR_NOT_FOUND, "fake engine %s: network %s not found",
				  e->name, spec->network);
	bs_xgrow((void **)&e->c, &e->cap_c, e->n_c + 1, sizeof(*e->c));
	c = &e->c[e->n_c++];
	memset(c, 0, sizeof(*c));
	c->id = bs_xasprintf("%s%04lu", e->name, ++e->next_id);
	c->name = bs_xstrdup(spec->name);
	c->image = bs_xstrdup(spec->image);
	c->image_id = image_id(spec->image);
	c->network = bs_xstrdup(spec->network ? spec->network : "bridge");
	c->restart = bs_xstrdup(spec->restart ? spec->restart : "no");
	c->restart_max = spec->restart_max_retries;
	c->memory = spec->memory_bytes;
	c->nano_cpus = spec->nano_cpus;
	c->pids = spec->pids_limit;
	c->state = fails ? BS_CSTATE_STOPPED : BS_CSTATE_RUNNING;
	c->exit_code = fails ? 1 : 0;
	kvlist_copy(&c->labels, spec->labels);
	for (size_t m = 0; m < spec->n_mounts; m++)
		if (strcmp(spec->mounts[m].type, "volume") == 0 && spec->mounts[m].source != NULL)
			bs_strv_push(&c->volumes, spec->mounts[m].source);
	*id = bs_xstrdup(c->id);
	return 0;
}

static int fe_container_deploy(struct bs_cdriver *d, const struct bs_cspec *spec, char **id,
			       struct bs_err *err)
{
	struct fengine *e = engine_of(d);
	const struct bs_kv *cn = bs_kvlist_find(spec->labels, BS_LABEL_CONTAINER);
	bool fails = world->fail_create != NULL && strcmp(spec->name, world->fail_create) == 0;
	int rc;

	enter(e, "container_deploy %s", spec->name);
	pthread_mutex_lock(&e->mu);
	rc = make_container(e, spec, fails, id, err);
	pthread_mutex_unlock(&e->mu);
	if (rc != 0)
		return rc;
	if (replacement_name(spec->name)) {
		bool company;
		unsigned long mine = flight(cn ? cn->value : spec->name, 1, &company);

		if (!company)
			wait_for_company(mine, world->company_ms);
	}
	if (world->interrupt_on != NULL && strcmp(spec->name, world->interrupt_on) == 0) {
		pthread_mutex_lock(&world->mu);
		world->interrupted = 1;
		world->interrupt_at = world->n_log;
		pthread_mutex_unlock(&world->mu);
	}
	nap(world->sleep_ms);
	return 0;
}

/* Start (running true) or stop a container. */
static int set_running(struct fengine *e, const char *ref, bool running, bool *changed,
		       struct bs_err *err)
{
	enum bs_cstate want = running ? BS_CSTATE_RUNNING : BS_CSTATE_STOPPED;
	long i = begin_on(e, running ? "container_start" : "container_stop", ref, NULL, err);

	if (i >= 0) {
		*changed = e->c[i].state != want;
		e->c[i].state = want;
	}
	pthread_mutex_unlock(&e->mu);
	return i >= 0 ? 0 : err->code;
}

static int fe_container_start(struct bs_cdriver *d, const char *ref, bool *changed,
			      struct bs_err *err)
{
	return set_running(engine_of(d), ref, true, changed, err);
}

static int fe_container_stop(struct bs_cdriver *d, const char *ref, int timeout_s, bool *changed,
			     struct bs_err *err)
{
	(void)timeout_s;
	return set_running(engine_of(d), ref, false, changed, err);
}

/* The container of a replacement that ends (as it is removed or takes
 * its final name): its io.bootstrap.container, else NULL (caller frees). */
static char *flight_of(const struct fcontainer *c, const char *new_name)
{
	const struct bs_kv *cn = bs_kvlist_find(&c->labels, BS_LABEL_CONTAINER);

	if (cn == NULL || !replacement_name(c->name) ||
	    (new_name != NULL && replacement_name(new_name)))
		return NULL;
	return bs_xstrdup(cn->value);
}

static int fe_container_destroy(struct bs_cdriver *d, const char *ref, int timeout_s,
				struct bs_err *err)
{
	struct fengine *e = engine_of(d);
	long i = begin_on(e, "container_destroy", ref, NULL, err);
	char *cname = NULL;

	(void)timeout_s;
	if (i >= 0) {
		cname = flight_of(&e->c[i], NULL);
		fcontainer_free(&e->c[i]);
		memmove(&e->c[i], &e->c[i + 1], (e->n_c - (size_t)i - 1) * sizeof(*e->c));
		e->n_c--;
	}
	pthread_mutex_unlock(&e->mu);
	if (cname != NULL)
		flight(cname, -1, NULL);
	free(cname);
	return i >= 0 ? 0 : err->code;
}

static int fe_container_rename(struct bs_cdriver *d, const char *ref, const char *new_name,
			       struct bs_err *err)
{
	struct fengine *e = engine_of(d);
	long i = begin_on(e, "container_rename", ref, new_name, err), other = find(e, new_name);
	char *cname = NULL;
	int rc = i >= 0 ? 0 : err->code;

	if (i >= 0 && other >= 0 && other != i) {
		rc = bs_err_set(err, BS_ERR_CONFLICT, "fake engine %s: the name %s is in use",
				e->name, new_name);
	} else if (i >= 0) {
		cname = flight_of(&e->c[i], new_name);
		free(e->c[i].name);
		e->c[i].name = bs_xstrdup(new_name);
	}
	pthread_mutex_unlock(&e->mu);
	if (cname != NULL)
		flight(cname, -1, NULL);
	free(cname);
	return rc;
}

static int fe_container_update(struct bs_cdriver *d, const char *ref, const struct bs_cupdate *u,
			       struct bs_err *err)
{
	struct fengine *e = engine_of(d);
	long i = begin_on(e, "container_update", ref, NULL, err);

	if (i >= 0 && u->restart != NULL) {
		free(e->c[i].restart);
		e->c[i].restart = bs_xstrdup(u->restart);
		e->c[i].restart_max = u->restart_max_retries;
	}
	if (i >= 0) {
		e->c[i].memory = u->memory_bytes ? u->memory_bytes : e->c[i].memory;
		e->c[i].nano_cpus = u->nano_cpus ? u->nano_cpus : e->c[i].nano_cpus;
		e->c[i].pids = u->pids_limit ? u->pids_limit : e->c[i].pids;
	}
	pthread_mutex_unlock(&e->mu);
	return i >= 0 ? 0 : err->code;
}

static int fe_container_logs(struct bs_cdriver *d, const char *ref, const struct bs_logs_opts *opts,
			     bs_log_fn fn, void *payload, struct bs_err *err)
{
	static const char line[] = "fatal: no configuration found\n";

	long i = begin_on(engine_of(d), "container_logs", ref, NULL, err);

	(void)opts;
	pthread_mutex_unlock(&engine_of(d)->mu);
	return i >= 0 ? fn(BS_LOG_STDERR, line, sizeof(line) - 1, payload) : err->code;
}

static int fe_image_inspect(struct bs_cdriver *d, const char *ref, struct bs_iinfo *out,
			    struct bs_err *err)
{
	struct fengine *e = engine_of(d);
	int rc = 0;

	enter(e, "image_inspect %s", ref);
	pthread_mutex_lock(&e->mu);
	if (bs_strv_contains(&e->images, ref)) {
		const struct bs_kv *ctx = bs_kvlist_find(&e->context_labels, ref);

		out->id = image_id(ref);
		bs_strv_push(&out->tags, ref);
		if (ctx != NULL)
			bs_kvlist_push(&out->labels, BS_LABEL_CONTEXT_HASH, ctx->value, false);
	} else {
		rc = bs_err_set(err, BS_ERR_NOT_FOUND, "fake engine %s: no such image: %s", e->name,
				ref);
	}
	pthread_mutex_unlock(&e->mu);
	return rc;
}

static int fe_image_pull(struct bs_cdriver *d, const char *ref, const struct bs_registry_cred *cred,
			 bs_progress_fn fn, void *payload, struct bs_err *err)
{
	struct fengine *e = engine_of(d);

	(void)cred;
	(void)fn;
	(void)payload;
	(void)err;
	enter(e, "image_pull %s", ref);
	pthread_mutex_lock(&e->mu);
	bs_strv_add_unique(&e->images, ref);
	pthread_mutex_unlock(&e->mu);
	return 0;
}

/* networks and volumes: ensured by name, removed unless in use */
static int ensure_named(struct fengine *e, struct bs_strv *set, const char *what, const char *name,
			bool *created)
{
	pthread_mutex_lock(&e->mu);
	*created = !bs_strv_contains(set, name);
	bs_strv_add_unique(set, name);
	pthread_mutex_unlock(&e->mu);
	enter(e, "%s_ensure %s%s", what, name, *created ? "" : " (exists)");
	return 0;
}

static bool in_use(const struct fengine *e, bool network, const char *name)
{
	for (size_t i = 0; i < e->n_c; i++)
		if (network ? strcmp(e->c[i].network, name) == 0
			    : bs_strv_contains(&e->c[i].volumes, name))
			return true;
	return false;
}

static int remove_named(struct fengine *e, struct bs_strv *set, bool network, const char *name,
			bool *removed, struct bs_err *err)
{
	int rc = 0;

	enter(e, "%s_remove %s", network ? "network" : "volume", name);
	pthread_mutex_lock(&e->mu);
	*removed = false;
	if (in_use(e, network, name)) {
		rc = bs_err_set(err, BS_ERR_CONFLICT, "fake engine %s: %s %s is in use", e->name,
				network ? "network" : "volume", name);
	} else {
		for (size_t i = 0; i < set->n && !*removed; i++)
			if (strcmp(set->v[i], name) == 0) {
				free(set->v[i]);
				set->v[i] = set->v[--set->n];
				*removed = true;
			}
	}
	pthread_mutex_unlock(&e->mu);
	return rc;
}

static int fe_network_ensure(struct bs_cdriver *d, const char *name, const struct bs_kvlist *labels,
			     bool *created, struct bs_err *err)
{
	(void)labels;
	(void)err;
	return ensure_named(engine_of(d), &engine_of(d)->networks, "network", name, created);
}

static int fe_volume_ensure(struct bs_cdriver *d, const char *name, const struct bs_kvlist *labels,
			    bool *created, struct bs_err *err)
{
	(void)labels;
	(void)err;
	return ensure_named(engine_of(d), &engine_of(d)->volumes, "volume", name, created);
}

static int fe_network_remove(struct bs_cdriver *d, const char *name, bool *removed,
			     struct bs_err *err)
{
	return remove_named(engine_of(d), &engine_of(d)->networks, true, name, removed, err);
}

static int fe_volume_remove(struct bs_cdriver *d, const char *name, bool *removed,
			    struct bs_err *err)
{
	return remove_named(engine_of(d), &engine_of(d)->volumes, false, name, removed, err);
}

/* Ops converge.c may call that these recipes never need (the proxy's
 * files, builds, transfers, the registry check of pull: always): a call
 * fails the test, naming the op. Ops converge.c never calls (swarm,
 * services, events) stay NULL. */
static int unexpected(struct bs_cdriver *d, const char *op, struct bs_err *err)
{
	violation("engine %s: %s called, which the fake does not implement", engine_of(d)->name,
		  op);
	return bs_err_set(err, BS_ERR_UNSUPPORTED, "fake engine: %s", op);
}

static int fe_container_create(struct bs_cdriver *d, const struct bs_cspec *spec, char **id,
			       struct bs_err *err)
{
	(void)spec;
	(void)id;
	return unexpected(d, "container_create", err);
}

static int fe_container_put_file(struct bs_cdriver *d, const char *name, const char *dir,
				 const char *file, const char *data, size_t len, unsigned mode,
				 struct bs_err *err)
{
	(void)name;
	(void)dir;
	(void)file;
	(void)data;
	(void)len;
	(void)mode;
	return unexpected(d, "container_put_file", err);
}

static int fe_container_get_file(struct bs_cdriver *d, const char *name, const char *path,
				 size_t max, char **data, size_t *len, struct bs_err *err)
{
	(void)name;
	(void)path;
	(void)max;
	(void)data;
	(void)len;
	return unexpected(d, "container_get_file", err);
}

static int fe_container_exec(struct bs_cdriver *d, const char *name, const char *const *argv,
			     int timeout_s, struct bs_buf *out, int *exit_code, struct bs_err *err)
{
	(void)name;
	(void)argv;
	(void)timeout_s;
	(void)out;
	(void)exit_code;
	return unexpected(d, "container_exec", err);
}

static int fe_image_distribution(struct bs_cdriver *d, const char *ref,
				 const struct bs_registry_cred *cred, char **digest,
				 struct bs_err *err)
{
	(void)ref;
	(void)cred;
	(void)digest;
	return unexpected(d, "image_distribution", err);
}

/* A build from a local context: the tar arrives, the image is made with
 * its labels (the context hash kept for image_inspect); a git build is
 * not expected. */
static int fe_image_build(struct bs_cdriver *d, const struct bs_build_opts *opts, bs_progress_fn fn,
			  void *payload, char **id, struct bs_err *err)
{
	struct fengine *e = engine_of(d);
	const struct bs_kv *hash =
		opts->labels ? bs_kvlist_find(opts->labels, BS_LABEL_CONTEXT_HASH) : NULL;
	struct bs_kv *old = NULL;

	(void)fn;
	(void)payload;
	if (opts->context_tar == NULL)
		return unexpected(d, "image_build from git", err);
	enter(e, "image_build %s target=%s tar=%s hash=%s", opts->tag,
	      opts->target ? opts->target : "-",
	      opts->context_len > 0 && opts->context_len % 512 == 0 ? "yes" : "bad",
	      hash ? hash->value : "-");
	pthread_mutex_lock(&e->mu);
	bs_strv_add_unique(&e->images, opts->tag);
	for (size_t i = 0; i < e->context_labels.n; i++)
		if (strcmp(e->context_labels.v[i].key, opts->tag) == 0)
			old = &e->context_labels.v[i];
	if (old != NULL) {
		free(old->value);
		old->value = bs_xstrdup(hash ? hash->value : "");
	} else {
		bs_kvlist_push(&e->context_labels, opts->tag, hash ? hash->value : "", false);
	}
	pthread_mutex_unlock(&e->mu);
	*id = image_id(opts->tag);
	return 0;
}

static int fe_image_save(struct bs_cdriver *d, const char *ref, int fd, struct bs_err *err)
{
	(void)ref;
	(void)fd;
	return unexpected(d, "image_save", err);
}

static int fe_image_load(struct bs_cdriver *d, int fd, struct bs_err *err)
{
	(void)fd;
	return unexpected(d, "image_load", err);
}

static void fe_free(struct bs_cdriver *d)
{
	violation("engine %s: freed, but it belongs to the world", engine_of(d)->name);
}

static const struct bs_cdriver_ops fake_engine_ops = {
	.name = "fake",
	.free = fe_free,
	.container_list = fe_container_list,
	.container_inspect = fe_container_inspect,
	.container_deploy = fe_container_deploy,
	.container_create = fe_container_create,
	.container_start = fe_container_start,
	.container_stop = fe_container_stop,
	.container_destroy = fe_container_destroy,
	.container_logs = fe_container_logs,
	.container_update = fe_container_update,
	.container_rename = fe_container_rename,
	.container_put_file = fe_container_put_file,
	.container_get_file = fe_container_get_file,
	.container_exec = fe_container_exec,
	.image_inspect = fe_image_inspect,
	.image_pull = fe_image_pull,
	.image_distribution = fe_image_distribution,
	.image_build = fe_image_build,
	.image_save = fe_image_save,
	.image_load = fe_image_load,
	.network_ensure = fe_network_ensure,
	.volume_ensure = fe_volume_ensure,
	.network_remove = fe_network_remove,
	.volume_remove = fe_volume_remove,
};

/* ---- the fake compute: machines it creates stay ------------------------ */

static void machine_copy(struct bs_machine *to, const struct bs_machine *from)
{
	memset(to, 0, sizeof(*to));
	to->id = bs_xstrdup(from->id);
	to->name = bs_xstrdup(from->name);
	to->project = bs_xstrdup(from->project);
	to->state = from->state;
	to->ssh_host = bs_xstrdup(from->ssh_host);
	to->ssh_port = from->ssh_port;
}

/* A running machine of project shop named name (under world->mu). */
static const struct bs_machine *add_machine(const char *name)
{
	struct bs_machine *m;
	size_t cap = world->machines.n;

	bs_xgrow((void **)&world->machines.v, &cap, world->machines.n + 1,
		 sizeof(*world->machines.v));
	m = &world->machines.v[world->machines.n++];
	memset(m, 0, sizeof(*m));
	world->next_machine++;
	m->id = bs_xasprintf("m%lu", world->next_machine);
	m->name = bs_xstrdup(name);
	m->project = bs_xstrdup("shop");
	m->state = BS_NODE_RUNNING;
	m->ssh_host = bs_xasprintf("192.0.2.%lu", world->next_machine);
	m->ssh_port = 22;
	return m;
}

static bool machine_exists(const char *name)
{
	bool found = false;

	pthread_mutex_lock(&world->mu);
	for (size_t i = 0; i < world->machines.n; i++)
		found = found || strcmp(world->machines.v[i].name, name) == 0;
	pthread_mutex_unlock(&world->mu);
	return found;
}

static int fc_list(struct bs_compute *c, struct bs_machine_list *out, struct bs_err *err)
{
	(void)c;
	(void)err;
	note("compute", "list");
	pthread_mutex_lock(&world->mu);
	out->n = world->machines.n;
	out->v = bs_xcalloc(out->n ? out->n : 1, sizeof(*out->v));
	for (size_t i = 0; i < out->n; i++)
		machine_copy(&out->v[i], &world->machines.v[i]);
	pthread_mutex_unlock(&world->mu);
	return 0;
}

static int fc_create(struct bs_compute *c, const struct bs_node *node, struct bs_machine *out,
		     struct bs_err *err)
{
	(void)c;
	(void)err;
	note("compute", "create %s", node->name);
	pthread_mutex_lock(&world->mu);
	machine_copy(out, add_machine(node->name));
	pthread_mutex_unlock(&world->mu);
	return 0;
}

static int fc_destroy(struct bs_compute *c, const struct bs_machine *m, struct bs_err *err)
{
	struct bs_machine_list *ml = &world->machines;
	int rc = BS_ERR_NOT_FOUND;

	(void)c;
	note("compute", "destroy %s", m->name);
	pthread_mutex_lock(&world->mu);
	for (size_t i = 0; i < ml->n && rc != 0; i++)
		if (strcmp(ml->v[i].id, m->id) == 0) {
			bs_machine_free(&ml->v[i]);
			ml->v[i] = ml->v[--ml->n];
			rc = 0;
		}
	pthread_mutex_unlock(&world->mu);
	return rc ? bs_err_set(err, rc, "fake compute: no machine %s", m->id) : 0;
}

static int fc_wait_running(struct bs_compute *c, struct bs_machine *m, struct bs_err *err)
{
	(void)c;
	(void)err;
	m->state = BS_NODE_RUNNING;
	return 0;
}

static void fc_free(struct bs_compute *c)
{
	free(c);
}

static const struct bs_compute_ops fake_compute_ops = {
	.name = "fake",
	.list = fc_list,
	.create = fc_create,
	.destroy = fc_destroy,
	.wait_running = fc_wait_running,
	.start = fc_wait_running,
	.free = fc_free,
};

static int fake_compute_open(struct bs_compute **out, const struct bs_fleet *fleet,
			     const struct bs_compute_opts *opts, struct bs_err *err)
{
	struct bs_compute *c = bs_xcalloc(1, sizeof(*c));

	(void)err;
	c->ops = &fake_compute_ops;
	c->fleet = *fleet;
	c->opts = *opts;
	c->creates = true; /* it makes machines, so it also counts extra ones down */
	*out = c;
	return 0;
}

/* ---- fake node sessions ------------------------------------------------ */

static char held_lock; /* a node lock, as far as the pipeline can tell */

static struct fengine *engine_at(const char *url)
{
	const char *prefix = "unix:///fake/";

	for (size_t i = 0; url != NULL && i < MAX_ENGINES; i++)
		if (bs_str_starts_with(url, prefix) &&
		    strcmp(url + strlen(prefix), world->engines[i].name) == 0)
			return &world->engines[i];
	return NULL;
}

static int fn_prepare(struct bs_node_session *out, const struct bs_fleet *fleet,
		      const struct bs_node *node, const struct bs_node_prepare_opts *opts,
		      struct bs_err *err)
{
	struct fengine *e = engine_at(node->engine);

	(void)fleet;
	memset(out, 0, sizeof(*out));
	out->name = bs_xstrdup(node->name);
	note(node->name, "prepare%s", opts->dry_run ? " dry-run" : "");
	if (opts->lock != NULL) {
		note(node->name, "lock");
		out->lock = (struct bs_nodelock *)(void *)&held_lock;
	}
	if (e == NULL)
		return bs_err_set(err, BS_ERR_NOT_FOUND, "node %s: no fake engine at %s",
				  node->name, node->engine ? node->engine : "(none)");
	pthread_mutex_lock(&e->mu);
	e->sessions++;
	pthread_mutex_unlock(&e->mu);
	out->driver = &e->base;
	/* one connection per node: converge.c opens no others on a stream */
	out->ep.kind = BS_ENDPOINT_STREAM;
	return 0;
}

static void fn_close(struct bs_node_session *s)
{
	struct fengine *e = engine_of(s->driver);

	note(s->name, "close");
	pthread_mutex_lock(&e->mu);
	e->sessions--;
	pthread_mutex_unlock(&e->mu);
	free(s->name);
	memset(s, 0, sizeof(*s));
}

static int fn_audit(struct bs_node_session *s, const char *line, struct bs_err *err)
{
	(void)err;
	note(s->name, "audit %s", line);
	if (s->lock == NULL)
		violation("node %s: audit line without its node lock: %s", s->name, line);
	return 0;
}

static unsigned long fn_requests(const struct bs_node_session *s)
{
	struct fengine *e = engine_of(s->driver);
	unsigned long n;

	pthread_mutex_lock(&e->mu);
	n = e->calls;
	pthread_mutex_unlock(&e->mu);
	return n;
}

/* Local files: noted ("files ship 1 dry-run"); every file is missing, and
 * the node holds an old copy with files_stale. */
static int fn_files(struct bs_node_session *s, enum bs_pipeline_files_op op,
		    const struct bs_nodefiles_opts *o, struct bs_nodefiles_state *state,
		    struct bs_err *err)
{
	static const char *const ops[] = {"ship", "prune", "remove"};

	note(s->name, "files %s %zu%s", ops[op], o->n_files, o->dry_run ? " dry-run" : "");
	if (op != BS_FILES_SHIP)
		return 0;
	if (world->files_fail)
		return bs_err_set(err, BS_ERR_IO, "%s was edited during the run: run again",
				  o->files[0].local_path);
	if (world->files_stale)
		bs_strv_push(&state->stale, "0123456789abcdef");
	for (size_t i = 0; i < o->n_files; i++)
		o->copied(&o->files[i], !o->dry_run, o->payload);
	return 0;
}

static const struct bs_pipeline_env fake_env = {
	.compute_open = fake_compute_open,
	.node_prepare = fn_prepare,
	.node_close = fn_close,
	.audit = fn_audit,
	.requests = fn_requests,
	.node_files = fn_files,
};

/* ---- events ------------------------------------------------------------ */

static char *dup_or_null(const char *s)
{
	return s ? bs_xstrdup(s) : NULL;
}

static void record(const struct bs_event *ev, void *payload)
{
	struct world *w = payload;
	struct seen *s;

	pthread_mutex_lock(&w->mu);
	bs_xgrow((void **)&w->ev, &w->cap_ev, w->n_ev + 1, sizeof(*w->ev));
	s = &w->ev[w->n_ev++];
	s->kind = ev->kind;
	s->node = dup_or_null(ev->node);
	s->action = dup_or_null(ev->action);
	s->object = dup_or_null(ev->object);
	s->reason = dup_or_null(ev->reason);
	s->text = dup_or_null(ev->error ? ev->error : ev->reason);
	s->counts = ev->counts;
	s->error = ev->error != NULL;
	s->interrupted = w->interrupted != 0;
	pthread_mutex_unlock(&w->mu);
}

/* ---- the world ------------------------------------------------------- */

/* Forget the last run's log, events and flights (engines and machines stay). */
static void forget(struct world *w)
{
	for (size_t i = 0; i < w->n_log; i++) {
		free(w->log[i].who);
		free(w->log[i].what);
	}
	w->n_log = 0;
	for (size_t i = 0; i < w->n_ev; i++) {
		free(w->ev[i].node);
		free(w->ev[i].action);
		free(w->ev[i].object);
		free(w->ev[i].reason);
		free(w->ev[i].text);
	}
	w->n_ev = 0;
	for (size_t i = 0; i < w->n_flights; i++)
		free(w->flights[i].container);
	w->n_flights = 0;
	w->in_flight = w->overlap_max = 0;
	w->begun = 0;
}

static int setup(void **state)
{
	static const char *const names[MAX_ENGINES] = {"a", "b", "c", "shared"};
	struct world *w = bs_xcalloc(1, sizeof(*w));

	pthread_mutex_init(&w->mu, NULL);
	for (size_t i = 0; i < MAX_ENGINES; i++) {
		struct fengine *e = &w->engines[i];

		e->base.ops = &fake_engine_ops;
		e->base.info.version = bs_xstrdup("24.0-fake");
		snprintf(e->name, sizeof(e->name), "%s", names[i]);
		e->base.display = e->name;
		pthread_mutex_init(&e->mu, NULL);
	}
	world = w;
	*state = w;
	return 0;
}

/* A violation any run recorded, even after the test's last look, fails it. */
static int teardown(void **state)
{
	struct world *w = *state;
	int rc = w->violations.n > 0;

	for (size_t i = 0; i < w->violations.n; i++)
		print_error("%s\n", w->violations.v[i]);
	forget(w);
	free(w->log);
	free(w->ev);
	bs_strv_free(&w->violations);
	for (size_t i = 0; i < MAX_ENGINES; i++) {
		struct fengine *e = &w->engines[i];

		for (size_t k = 0; k < e->n_c; k++)
			fcontainer_free(&e->c[k]);
		free(e->c);
		bs_strv_free(&e->images);
		bs_kvlist_free(&e->context_labels);
		bs_strv_free(&e->networks);
		bs_strv_free(&e->volumes);
		free(e->base.info.version);
		pthread_mutex_destroy(&e->mu);
	}
	bs_machine_list_free(&w->machines);
	pthread_mutex_destroy(&w->mu);
	free(w);
	world = NULL;
	return rc;
}

static enum bs_pipeline_outcome run(const struct bs_recipe *r, enum bs_pipeline_verb verb,
				    int parallel, struct bs_pipeline_result *res)
{
	struct bs_pipeline_opts o;

	forget(world);
	memset(&o, 0, sizeof(o));
	o.verb = verb;
	o.parallel = parallel;
	o.owner = "unit test";
	o.volumes = world->volumes;
	o.interrupted = &world->interrupted;
	o.report = record;
	o.payload = world;
	o.env = &fake_env;
	bs_pipeline_run(r, &o, res);
	return res->outcome;
}

/* ---- what the tests look at (on the test's own thread) ----------------- */

static void expect_no_violations_at(const char *file, int line)
{
	if (world->violations.n == 0)
		return;
	for (size_t i = 0; i < world->violations.n; i++)
		print_error("%s\n", world->violations.v[i]);
	bs_strv_free(&world->violations); /* told: teardown need not again */
	_fail(file, line);
}

#define expect_no_violations() expect_no_violations_at(__FILE__, __LINE__)

static void load(struct loaded *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void load(struct loaded *l, const char *fmt, ...)
{
	struct bs_buf b = BS_BUF_INIT;

	FORMAT_ARGS(b, fmt);
	load_text(l, bs_buf_str(&b), NULL);
	bs_buf_free(&b);
	expect_loaded(l);
}

/* The first log entry from index from on by who (NULL: anyone) whose
 * text starts with prefix; -1 when none. */
static long find_call(size_t from, const char *who, const char *prefix)
{
	for (size_t i = from; i < world->n_log; i++)
		if ((who == NULL || strcmp(world->log[i].who, who) == 0) &&
		    bs_str_starts_with(world->log[i].what, prefix))
			return (long)i;
	return -1;
}

static long last_call(const char *who, const char *prefix)
{
	long last = -1;

	for (long i = find_call(0, who, prefix); i >= 0; i = find_call((size_t)i + 1, who, prefix))
		last = i;
	return last;
}

static bool engine_call(const struct call *c)
{
	static const char *const prefixes[] = {"container_", "image_", "network_", "volume_"};

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (bs_str_starts_with(c->what, prefixes[i]))
			return true;
	return false;
}

/* Does the call change an engine? (An ensure of what exists does not.) */
static bool change_call(const struct call *c)
{
	return engine_call(c) && !bs_str_ends_with(c->what, " (exists)") &&
	       !bs_str_starts_with(c->what, "container_list") &&
	       !bs_str_starts_with(c->what, "container_inspect") &&
	       !bs_str_starts_with(c->what, "container_logs") &&
	       !bs_str_starts_with(c->what, "image_inspect");
}

static size_t changes_from(size_t from)
{
	size_t n = 0;

	for (size_t i = from; i < world->n_log; i++)
		n += change_call(&world->log[i]);
	return n;
}

static long first_engine_call(const char *who)
{
	for (size_t i = 0; i < world->n_log; i++)
		if (strcmp(world->log[i].who, who) == 0 && engine_call(&world->log[i]))
			return (long)i;
	return -1;
}

static bool same(const char *a, const char *b)
{
	return a == NULL || (b != NULL && strcmp(a, b) == 0);
}

/* Events of kind (node, action, object NULL: any). */
static size_t count_events(enum bs_ev_kind kind, const char *node, const char *action,
			   const char *object)
{
	size_t n = 0;

	for (size_t i = 0; i < world->n_ev; i++)
		n += world->ev[i].kind == kind && same(node, world->ev[i].node) &&
		     same(action, world->ev[i].action) && same(object, world->ev[i].object);
	return n;
}

static struct fengine *engine(const char *name)
{
	for (size_t i = 0; i < MAX_ENGINES; i++)
		if (strcmp(world->engines[i].name, name) == 0)
			return &world->engines[i];
	fail_msg("no engine %s", name);
	return NULL;
}

static const struct fcontainer *holds(const char *engine_name, const char *container)
{
	struct fengine *e = engine(engine_name);
	long i = find(e, container);

	return i >= 0 ? &e->c[i] : NULL;
}

static size_t containers_held(void)
{
	size_t n = 0;

	for (size_t i = 0; i < MAX_ENGINES; i++)
		n += world->engines[i].n_c;
	return n;
}

static const char *label(const struct fcontainer *c, const char *key)
{
	const struct bs_kv *kv = bs_kvlist_find(&c->labels, key);

	return kv ? kv->value : "";
}

/* The run's events: RUN_START first, SUMMARY last, and every action
 * that started ended (done or failed). */
static void expect_events_whole(void)
{
	assert_true(world->n_ev >= 2);
	assert_int_equal(world->ev[0].kind, BS_EV_RUN_START);
	assert_int_equal(world->ev[world->n_ev - 1].kind, BS_EV_SUMMARY);
	assert_int_equal(count_events(BS_EV_SUMMARY, NULL, NULL, NULL), 1);
	for (size_t i = 0; i < world->n_ev; i++) {
		const struct seen *s = &world->ev[i];

		if (s->kind != BS_EV_ACTION_STARTED)
			continue;
		if (count_events(BS_EV_ACTION_DONE, s->node, s->action, s->object) +
			    count_events(BS_EV_ACTION_FAILED, s->node, s->action, s->object) ==
		    0)
			fail_msg("%s: %s %s started and never ended", s->node, s->action,
				 s->object);
	}
}

/* No action started once the interrupted flag was set. */
static void expect_nothing_started_late(void)
{
	assert_true(world->interrupted);
	for (size_t i = 0; i < world->n_ev; i++)
		if (world->ev[i].kind == BS_EV_ACTION_STARTED && world->ev[i].interrupted)
			fail_msg("%s: %s %s started after the interrupt", world->ev[i].node,
				 world->ev[i].action, world->ev[i].object);
}

/* ---- recipes ------------------------------------------------------------- */

#define HEAD "version: 1\nproject: shop\nprovider: {type: engine}\nnodes:\n"
#define NODE(name, engine) "  - {name: " name ", engine: 'unix:///fake/" engine "'}\n"
#define THREE NODE("a", "a") NODE("b", "b") NODE("c", "c")
/* monitor: 0s: a replacement without a healthcheck is watched for
 * update.monitor (1 s by default) before the old container goes */
#define CONTAINER(name, image, replicas, extra)                                                    \
	"  - name: " name "\n    image: " image "\n    replicas: " replicas "\n"                   \
	"    update: {monitor: 0s}\n" extra

/* web: a replica on each node, api: two on b and c; %s twice: their
 * VERSION. Waves of a rolling update: 0 = web-1 (a), api-1 (b);
 * 1 = web-2 (b), api-2 (c); 2 = web-3 (c). */
#define FLEET                                                                                      \
	HEAD THREE "containers:\n" CONTAINER("web", "nginx:1.25", "3",                             \
					     "    environment: {VERSION: '%s'}\n")                 \
		CONTAINER("api", "busybox:1", "2",                                                 \
			  "    nodes: [b, c]\n    environment: {VERSION: '%s'}\n")

/* ---- the tests ----------------------------------------------------------- */

/* images: build: {context: DIR}: plan says build (missing); apply sends
 * the context's tar with the target and labels the image with the
 * context hash; a second apply builds nothing; a changed file in the
 * context is planned as "context changed" and rebuilt. */
static void test_build_context(void **state)
{
	char dir[] = "/tmp/bs-pipeline-ctx-XXXXXX";
	char *dockerfile, *app, *call;
	struct bs_pipeline_result res;
	struct loaded l;

	(void)state;
	assert_non_null(mkdtemp(dir));
	dockerfile = bs_xasprintf("%s/Dockerfile", dir);
	app = bs_xasprintf("%s/app.txt", dir);
	test_write_file(dockerfile, "FROM busybox:1 AS prod\nCOPY app.txt /\n");
	test_write_file(app, "one\n");
#define BUILT                                                                                      \
	HEAD NODE("a", "a") "images:\n  - name: shop/app:1\n    build: {context: '%s', "           \
			    "target: prod}\n"                                                      \
			    "containers:\n" CONTAINER("web", "shop/app:1", "1", "")
	load(&l, BUILT, dir);
	assert_int_equal(run(l.recipe, BS_PIPELINE_PLAN, 1, &res), BS_PIPELINE_OK);
	expect_no_violations();
	assert_int_equal(count_events(BS_EV_ACTION_PLANNED, "a", "build", "shop/app:1"), 1);
	assert_true(world->n_ev > 0);
	for (size_t i = 0; i < world->n_ev; i++)
		if (world->ev[i].kind == BS_EV_ACTION_PLANNED && same("build", world->ev[i].action))
			assert_string_equal(world->ev[i].reason, "missing");
	assert_int_equal(find_call(0, "a", "image_build"), -1);

	assert_int_equal(run(l.recipe, BS_PIPELINE_APPLY, 1, &res), BS_PIPELINE_OK);
	expect_no_violations();
	call = bs_xasprintf("image_build shop/app:1 target=prod tar=yes hash=%s",
			    l.recipe->images[0].context_hash);
	assert_true(find_call(0, "a", call) >= 0);
	free(call);
	assert_non_null(holds("a", "shop-web-1"));

	assert_int_equal(run(l.recipe, BS_PIPELINE_APPLY, 1, &res), BS_PIPELINE_OK);
	expect_no_violations();
	assert_int_equal(find_call(0, "a", "image_build"), -1);
	loaded_free(&l);

	test_write_file(app, "two\n");
	load(&l, BUILT, dir);
	assert_int_equal(run(l.recipe, BS_PIPELINE_PLAN, 1, &res), BS_PIPELINE_OK);
	assert_int_equal(count_events(BS_EV_ACTION_PLANNED, "a", "build", "shop/app:1"), 1);
	for (size_t i = 0; i < world->n_ev; i++)
		if (world->ev[i].kind == BS_EV_ACTION_PLANNED && same("build", world->ev[i].action))
			assert_string_equal(world->ev[i].reason, "context changed");
	assert_true(bs_counts_any_change(&res.total)); /* plan --detailed-exitcode: 2 */
	assert_int_equal(run(l.recipe, BS_PIPELINE_APPLY, 1, &res), BS_PIPELINE_OK);
	expect_no_violations();
	assert_true(find_call(0, "a", "image_build shop/app:1") >= 0);
#undef BUILT
	loaded_free(&l);
	unlink(app);
	unlink(dockerfile);
	rmdir(dir);
	free(app);
	free(dockerfile);
}

/* An apply tells its run as events (one NODE_DONE per node, totals that
 * match what the engines now hold); a second apply and a plan find
 * nothing to do. */
static void test_apply_then_nothing_to_do(void **state)
{
	struct loaded l;
	struct bs_pipeline_result res;
	static const char *const nodes[] = {"a", "b", "c"};
	int created = 0;

	(void)state;
	load(&l, FLEET, "1", "1");
	assert_int_equal(run(l.recipe, BS_PIPELINE_APPLY, 2, &res), BS_PIPELINE_OK);
	expect_no_violations();
	expect_events_whole();
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(count_events(BS_EV_NODE_DONE, nodes[i], NULL, NULL), 1);
		for (size_t k = 0; k < world->n_ev; k++)
			if (world->ev[k].kind == BS_EV_NODE_DONE &&
			    strcmp(world->ev[k].node, nodes[i]) == 0) {
				assert_false(world->ev[k].error);
				created += world->ev[k].counts.created;
			}
	}
	assert_int_equal(res.total.created, 5);
	assert_int_equal(created, 5);
	assert_int_equal(world->ev[world->n_ev - 1].counts.created, 5);
	assert_int_equal(res.total.failed, 0);
	assert_int_equal(containers_held(), 5);
	assert_non_null(holds("a", "shop-web-1"));
	assert_non_null(holds("b", "shop-web-2"));
	assert_non_null(holds("c", "shop-web-3"));
	assert_non_null(holds("b", "shop-api-1"));
	assert_non_null(holds("c", "shop-api-2"));
	assert_string_equal(label(holds("b", "shop-api-1"), BS_LABEL_NODE), "b");
	assert_true(machine_exists("a") && machine_exists("b") && machine_exists("c"));

	assert_int_equal(run(l.recipe, BS_PIPELINE_APPLY, 2, &res), BS_PIPELINE_OK);
	expect_no_violations();
	expect_events_whole();
	assert_int_equal(changes_from(0), 0);
	assert_false(bs_counts_any_change(&res.total));
	assert_int_equal(res.total.unchanged, 5);
	assert_int_equal(find_call(0, "compute", "create"), -1);

	assert_int_equal(run(l.recipe, BS_PIPELINE_PLAN, 2, &res), BS_PIPELINE_OK);
	expect_no_violations();
	assert_int_equal(count_events(BS_EV_ACTION_PLANNED, NULL, NULL, NULL), 0);
	assert_false(bs_counts_any_change(&res.total));
	assert_int_equal(changes_from(0), 0);
	loaded_free(&l);
}

/* apply and destroy: each node's lock is taken (opts->lock) when it is
 * prepared, before any call on its engine; plan takes no lock and changes
 * nothing. */
static void expect_locked_first(const char *node)
{
	long prepare = find_call(0, node, "prepare"), lock = find_call(0, node, "lock");
	long first = first_engine_call(node);

	if (prepare < 0 || lock < 0 || first < 0 || first < lock || first < prepare)
		fail_msg("node %s: prepare at %ld, lock at %ld, first engine call at %ld", node,
			 prepare, lock, first);
}

static void test_lock_before_engine(void **state)
{
	struct loaded l;
	struct bs_pipeline_result res;

	(void)state;
	load(&l, FLEET, "1", "1");
	assert_int_equal(run(l.recipe, BS_PIPELINE_PLAN, 3, &res), BS_PIPELINE_OK);
	expect_no_violations();
	assert_int_equal(find_call(0, NULL, "lock"), -1);
	assert_int_equal(changes_from(0), 0);
	assert_int_equal(find_call(0, "compute", "create"), -1);
	for (long i = find_call(0, NULL, "prepare"); i >= 0;
	     i = find_call((size_t)i + 1, NULL, "prepare"))
		assert_string_equal(world->log[i].what, "prepare dry-run");
	assert_int_equal(count_events(BS_EV_ACTION_PLANNED, NULL, "create", NULL), 5);
	assert_int_equal(count_events(BS_EV_ACTION_STARTED, NULL, NULL, NULL), 0);

	assert_int_equal(run(l.recipe, BS_PIPELINE_APPLY, 3, &res), BS_PIPELINE_OK);
	expect_no_violations();
	expect_locked_first("a");
	expect_locked_first("b");
	expect_locked_first("c");
	assert_int_equal(containers_held(), 5);

	assert_int_equal(run(l.recipe, BS_PIPELINE_DESTROY, 3, &res), BS_PIPELINE_OK);
	expect_no_violations();
	expect_locked_first("a");
	expect_locked_first("b");
	expect_locked_first("c");
	assert_int_equal(containers_held(), 0);
	loaded_free(&l);
}

/* A changed spec replaces every replica in waves: never two replicas of
 * one container at once, while replicas of different containers do
 * overlap (each replacement waits for company and takes 20 ms in the
 * fake, so an overlap of one container's replicas would show too). */
static void test_one_replica_per_wave(void **state)
{
	struct loaded v1, v2;
	struct bs_pipeline_result res;

	(void)state;
	load(&v1, FLEET, "1", "1");
	load(&v2, FLEET, "2", "2");
	assert_int_equal(run(v1.recipe, BS_PIPELINE_APPLY, 3, &res), BS_PIPELINE_OK);
	world->sleep_ms = 20;
	world->company_ms = 100;
	assert_int_equal(run(v2.recipe, BS_PIPELINE_APPLY, 3, &res), BS_PIPELINE_OK);
	expect_no_violations();
	expect_events_whole();
	assert_int_equal(res.total.replaced, 5);
	assert_int_equal(world->n_flights, 2); /* web and api were replaced */
	for (size_t i = 0; i < world->n_flights; i++)
		if (world->flights[i].max != 1 || world->flights[i].now != 0)
			fail_msg("%s: %d replicas replaced at once (%d left in flight)",
				 world->flights[i].container, world->flights[i].max,
				 world->flights[i].now);
	assert_int_equal(world->overlap_max, 2);
	assert_int_equal(containers_held(), 5);
	assert_string_equal(label(holds("a", "shop-web-1"), BS_LABEL_SPEC),
			    label(holds("c", "shop-web-3"), BS_LABEL_SPEC));

	world->sleep_ms = 0;
	assert_int_equal(run(v2.recipe, BS_PIPELINE_PLAN, 3, &res), BS_PIPELINE_OK);
	assert_false(bs_counts_any_change(&res.total));
	loaded_free(&v1);
	loaded_free(&v2);
}

/* A replacement that fails stops the waves (web-3's, in the next wave,
 * never starts) and the count-down of machines: the project's extra
 * machine stays, until a run goes well. */
static void test_failure_stops_waves(void **state)
{
	struct loaded v1, v2;
	struct bs_pipeline_result res;
	const struct fcontainer *web1, *web2, *web3;

	(void)state;
	load(&v1, FLEET, "1", "1");
	load(&v2, FLEET, "2", "2");
	assert_int_equal(run(v1.recipe, BS_PIPELINE_APPLY, 3, &res), BS_PIPELINE_OK);
	pthread_mutex_lock(&world->mu);
	add_machine("old"); /* a node the recipe no longer names */
	pthread_mutex_unlock(&world->mu);
	world->fail_create = "shop-web-2.next";

	assert_int_equal(run(v2.recipe, BS_PIPELINE_APPLY, 3, &res), BS_PIPELINE_FAILED);
	expect_no_violations();
	expect_events_whole();
	assert_true(find_call(0, "b", "container_deploy shop-web-2.next") >= 0);
	assert_int_equal(count_events(BS_EV_ACTION_FAILED, "b", "replace", "shop-web-2"), 1);
	assert_int_equal(find_call(0, NULL, "container_deploy shop-web-3.next"), -1);
	assert_int_equal(count_events(BS_EV_ACTION_STARTED, NULL, "replace", "shop-web-3"), 0);
	assert_int_equal(find_call(0, "compute", "destroy"), -1);
	assert_true(machine_exists("old"));
	/* web-1 is new, web-2 was rolled back, web-3 was left alone */
	web1 = holds("a", "shop-web-1");
	web2 = holds("b", "shop-web-2");
	web3 = holds("c", "shop-web-3");
	assert_true(web1 != NULL && web2 != NULL && web3 != NULL);
	assert_null(holds("b", "shop-web-2.next"));
	assert_int_equal(web2->state, BS_CSTATE_RUNNING);
	assert_string_equal(label(web2, BS_LABEL_HASH), label(web3, BS_LABEL_HASH));
	assert_string_not_equal(label(web1, BS_LABEL_SPEC), label(web3, BS_LABEL_SPEC));

	world->fail_create = NULL;
	assert_int_equal(run(v2.recipe, BS_PIPELINE_APPLY, 3, &res), BS_PIPELINE_OK);
	expect_no_violations();
	assert_true(find_call(0, "compute", "destroy old") >= 0);
	assert_false(machine_exists("old"));
	assert_true(machine_exists("a"));
	loaded_free(&v1);
	loaded_free(&v2);
}

/* Interrupted while node a creates web-1: that create ends, nothing new
 * starts (not api-1 on a, not nodes b and c), and the events still end
 * with the summary, every action that started having ended. */
static void test_interrupted_run(void **state)
{
	struct loaded l;
	struct bs_pipeline_result res;

	(void)state;
	load(&l, HEAD THREE "containers:\n" CONTAINER("web", "nginx:1.25", "3", "")
			 CONTAINER("api", "busybox:1", "1", "    nodes: [a]\n"));
	world->interrupt_on = "shop-web-1";
	assert_int_equal(run(l.recipe, BS_PIPELINE_APPLY, 1, &res), BS_PIPELINE_INTERRUPTED);
	expect_no_violations();
	assert_true(world->interrupted && world->interrupt_at > 0);
	assert_int_equal(find_call(world->interrupt_at, NULL, "prepare"), -1);
	assert_int_equal(changes_from(world->interrupt_at), 0);
	expect_nothing_started_late();
	expect_events_whole();
	assert_int_equal(count_events(BS_EV_ACTION_DONE, "a", "create", "shop-web-1"), 1);
	assert_non_null(holds("a", "shop-web-1"));
	assert_null(holds("a", "shop-api-1"));
	assert_int_equal(containers_held(), 1);
	loaded_free(&l);
}

/* Interrupted in the rolling update while web-2 is replaced (wave 1,
 * with api-2 on c, whose replacement is made to be in flight too): both
 * end, the next wave (web-3) never starts, and the events end with the
 * summary. */
static void test_interrupted_rolling(void **state)
{
	struct loaded v1, v2;
	struct bs_pipeline_result res;
	const char *old_spec, *new_spec;

	(void)state;
	load(&v1, FLEET, "1", "1");
	load(&v2, FLEET, "2", "2");
	assert_int_equal(run(v1.recipe, BS_PIPELINE_APPLY, 3, &res), BS_PIPELINE_OK);
	world->company_ms = 100;
	world->interrupt_on = "shop-web-2.next";
	assert_int_equal(run(v2.recipe, BS_PIPELINE_APPLY, 3, &res), BS_PIPELINE_INTERRUPTED);
	expect_no_violations();
	expect_nothing_started_late();
	expect_events_whole();
	assert_int_equal(count_events(BS_EV_ACTION_DONE, "b", "replace", "shop-web-2"), 1);
	assert_int_equal(find_call(0, NULL, "container_deploy shop-web-3.next"), -1);
	assert_int_equal(containers_held(), 5);
	assert_null(holds("b", "shop-web-2.next"));
	new_spec = label(holds("a", "shop-web-1"), BS_LABEL_SPEC);
	old_spec = label(holds("c", "shop-web-3"), BS_LABEL_SPEC);
	assert_string_not_equal(new_spec, old_spec);
	assert_string_equal(label(holds("b", "shop-web-2"), BS_LABEL_SPEC), new_spec);
	loaded_free(&v1);
	loaded_free(&v2);
}

/* Two node entries on one engine: destroy removes the containers of
 * both before the network and volumes they share. */
static void test_destroy_shared_engine(void **state)
{
	struct loaded l;
	struct bs_pipeline_result res;
	struct fengine *e = engine("shared");
	enum bs_pipeline_outcome outcome;
	long last_container, first_rest;

	(void)state;
	load(&l, HEAD NODE("a", "shared") NODE("b", "shared") "containers:\n" CONTAINER(
			 "web", "nginx:1.25", "2", "    volumes: ['data:/data']\n"));
	world->volumes = true;
	assert_int_equal(run(l.recipe, BS_PIPELINE_APPLY, 2, &res), BS_PIPELINE_OK);
	assert_int_equal(e->n_c, 2);
	assert_string_equal(label(holds("shared", "shop-web-2"), BS_LABEL_NODE), "b");
	assert_true(bs_strv_contains(&e->networks, "shop-net"));
	assert_true(bs_strv_contains(&e->volumes, "shop-data"));

	outcome = run(l.recipe, BS_PIPELINE_DESTROY, 1, &res);
	last_container = last_call("shared", "container_destroy");
	first_rest = find_call(0, "shared", "network_remove");
	assert_true(last_container >= 0 && first_rest >= 0);
	if (find_call(0, "shared", "volume_remove") < first_rest)
		first_rest = find_call(0, "shared", "volume_remove");
	if (first_rest < last_container)
		fail_msg("network or volume removed (log %ld) before the last container (log %ld)",
			 first_rest, last_container);
	assert_int_equal(outcome, BS_PIPELINE_OK);
	expect_no_violations();
	expect_events_whole();
	assert_int_equal(e->n_c, 0);
	assert_int_equal(e->networks.n, 0);
	assert_int_equal(e->volumes.n, 0);
	loaded_free(&l);
}

/* ---- start order (depends_on) and container_name -------------------------- */

/* Events of kind about object whose text holds phrase. */
static size_t events_saying(enum bs_ev_kind kind, const char *object, const char *phrase)
{
	size_t n = 0;

	for (size_t i = 0; i < world->n_ev; i++)
		n += world->ev[i].kind == kind && same(object, world->ev[i].object) &&
		     world->ev[i].text != NULL && strstr(world->ev[i].text, phrase) != NULL;
	return n;
}

/* app comes first in the recipe and depends on db, which depends on
 * cache: created cache, db, app, even with 8 at once; destroy goes the
 * other way; a second apply only looks. */
static void test_depends_order(void **state)
{
	struct loaded l;
	struct bs_pipeline_result res;
	long cache, db, app;

	(void)state;
	load(&l, HEAD NODE("a", "a") "containers:\n" CONTAINER("app", "nginx:1.25", "1",
							       "    depends_on: [db]\n")
			 CONTAINER("db", "busybox:1", "1", "    depends_on: [cache]\n")
				 CONTAINER("cache", "busybox:1", "1", ""));
	assert_int_equal(run(l.recipe, BS_PIPELINE_APPLY, 8, &res), BS_PIPELINE_OK);
	expect_no_violations();
	expect_events_whole();
	cache = find_call(0, "a", "container_deploy shop-cache-1");
	db = find_call(0, "a", "container_deploy shop-db-1");
	app = find_call(0, "a", "container_deploy shop-app-1");
	if (cache < 0 || db < cache || app < db)
		fail_msg("created cache at %ld, db at %ld, app at %ld", cache, db, app);

	assert_int_equal(run(l.recipe, BS_PIPELINE_APPLY, 8, &res), BS_PIPELINE_OK);
	assert_int_equal(changes_from(0), 0);
	assert_int_equal(find_call(0, NULL, "container_inspect"), -1);

	assert_int_equal(run(l.recipe, BS_PIPELINE_DESTROY, 1, &res), BS_PIPELINE_OK);
	expect_no_violations();
	cache = find_call(0, "a", "container_destroy shop-cache-1");
	db = find_call(0, "a", "container_destroy shop-db-1");
	app = find_call(0, "a", "container_destroy shop-app-1");
	if (app < 0 || db < app || cache < db)
		fail_msg("removed app at %ld, db at %ld, cache at %ld", app, db, cache);
	loaded_free(&l);
}

/* Apply text (with fail_create, the fake container that exits 1, or
 * NULL): the run fails, app is never created, and an event of kind about
 * object (NULL: any) says phrase. */
static void expect_app_refused(const char *text, const char *fail_create, enum bs_ev_kind kind,
			       const char *object, const char *phrase)
{
	struct loaded l;
	struct bs_pipeline_result res;

	load(&l, "%s", text);
	world->fail_create = fail_create;
	assert_int_equal(run(l.recipe, BS_PIPELINE_APPLY, 2, &res), BS_PIPELINE_FAILED);
	world->fail_create = NULL;
	expect_no_violations();
	expect_events_whole();
	assert_int_equal(find_call(0, NULL, "container_deploy shop-app-1"), -1);
	if (events_saying(kind, object, phrase) != 1)
		fail_msg("no event says \"%s\"", phrase);
	loaded_free(&l);
}

#define APP_WAITS(cond, extra)                                                                     \
	CONTAINER("app", "nginx:1.25", "1",                                                        \
		  extra "    depends_on: {migrate: {condition: " cond "}}\n")

/* A job app waits for exits with code 1: app is not created, and is
 * reported skipped with the job's exit code. */
static void test_depends_job_fails(void **state)
{
	(void)state;
	expect_app_refused(
		HEAD NODE("a", "a") "containers:\n" APP_WAITS("service_completed_successfully", "")
			CONTAINER("migrate", "busybox:1", "1", "    restart: 'no'\n"),
		"shop-migrate-1", BS_EV_MESSAGE, "shop-app-1",
		"skipped: node a: app waits for shop-migrate-1 to complete, and it "
		"exited with code 1");
}

/* The same across nodes: app's node says why it skipped app. */
static void test_depends_job_fails_across_nodes(void **state)
{
	(void)state;
	expect_app_refused(HEAD NODE("a", "a") NODE("b", "b") "containers:\n" APP_WAITS(
				   "service_completed_successfully", "    nodes: [b]\n")
				   CONTAINER("migrate", "busybox:1", "1",
					     "    nodes: [a]\n    restart: 'no'\n"),
			   "shop-migrate-1", BS_EV_NODE_DONE, NULL,
			   "node b: skipped: node a: app waits for shop-migrate-1 to complete, "
			   "and it exited with code 1");
}

/* service_healthy on a container without any healthcheck (the fake's
 * have none): an error that names it and the fix. */
static void test_depends_healthy_needs_healthcheck(void **state)
{
	(void)state;
	expect_app_refused(HEAD NODE("a", "a") "containers:\n" APP_WAITS("service_healthy", "")
				   CONTAINER("migrate", "busybox:1", "1", ""),
			   NULL, BS_EV_NODE_DONE, NULL,
			   "but migrate has no healthcheck (neither the recipe nor its image "
			   "has one): give migrate a healthcheck:");
}

/* container_name is the engine's name of the one replica; found again by
 * its labels (a second apply only looks), replaced under the same name. */
static void test_container_name(void **state)
{
	struct loaded v1, v2;
	struct bs_pipeline_result res;

	(void)state;
	load(&v1,
	     HEAD NODE("a", "a") "containers:\n" CONTAINER(
		     "db", "busybox:1", "1",
		     "    container_name: the-db\n    environment: {V: '%s'}\n"),
	     "1");
	load(&v2,
	     HEAD NODE("a", "a") "containers:\n" CONTAINER(
		     "db", "busybox:1", "1",
		     "    container_name: the-db\n    environment: {V: '%s'}\n"),
	     "2");
	assert_int_equal(run(v1.recipe, BS_PIPELINE_APPLY, 2, &res), BS_PIPELINE_OK);
	assert_non_null(holds("a", "the-db"));
	assert_string_equal(label(holds("a", "the-db"), BS_LABEL_CONTAINER), "db");
	assert_int_equal(engine("a")->n_c, 1);
	assert_int_equal(run(v1.recipe, BS_PIPELINE_APPLY, 2, &res), BS_PIPELINE_OK);
	assert_int_equal(changes_from(0), 0);
	assert_int_equal(run(v2.recipe, BS_PIPELINE_APPLY, 2, &res), BS_PIPELINE_OK);
	expect_no_violations();
	assert_int_equal(res.total.replaced, 1);
	assert_true(find_call(0, "a", "container_deploy the-db.next") >= 0);
	assert_int_equal(engine("a")->n_c, 1);
	assert_non_null(strstr(label(holds("a", "the-db"), BS_LABEL_SPEC), "\"V\":\"2\""));
	loaded_free(&v1);
	loaded_free(&v2);
}

/* db runs on a, app on b depends on it, and b comes first with one node
 * at a time: phase 1 goes in levels across the fleet, so db is made
 * before app, without a deadlock; a second apply only looks. */
/* app on b depends on db on a; the nodes in the order given */
#define ACROSS(first, second)                                                                      \
	HEAD first second "containers:\n" CONTAINER("app", "nginx:1.25", "1",                      \
						    "    nodes: [b]\n    depends_on: [db]\n")      \
		CONTAINER("db", "busybox:1", "1", "    nodes: [a]\n")

/* The first call on engine who1 that starts with first came before the
 * first on who2 that starts with then. */
static void expect_before(const char *who1, const char *first, const char *who2, const char *then)
{
	long a = find_call(0, who1, first), b = find_call(0, who2, then);

	if (a < 0 || b < a)
		fail_msg("%s at %ld, %s at %ld", first, a, then, b);
}

static void test_depends_across_nodes(void **state)
{
	struct loaded l;
	struct bs_pipeline_result res;

	(void)state;
	load(&l, ACROSS(NODE("b", "b"), NODE("a", "a")));
	assert_int_equal(run(l.recipe, BS_PIPELINE_APPLY, 1, &res), BS_PIPELINE_OK);
	expect_no_violations();
	expect_events_whole();
	expect_before("a", "container_deploy shop-db-1", "b", "container_deploy shop-app-1");
	assert_int_equal(run(l.recipe, BS_PIPELINE_APPLY, 1, &res), BS_PIPELINE_OK);
	assert_int_equal(changes_from(0), 0);
	assert_int_equal(find_call(0, NULL, "container_inspect"), -1);
	/* destroy goes the other way: app on b before db on a, a first */
	loaded_free(&l);
	load(&l, ACROSS(NODE("a", "a"), NODE("b", "b")));
	assert_int_equal(run(l.recipe, BS_PIPELINE_DESTROY, 1, &res), BS_PIPELINE_OK);
	expect_no_violations();
	expect_events_whole();
	expect_before("b", "container_destroy shop-app-1", "a", "container_destroy shop-db-1");
	assert_int_equal(containers_held(), 0);
	loaded_free(&l);
}

/* app depends on db, both change: every replacement of db (its waves)
 * ends before the first of app begins. */
static void test_depends_waves(void **state)
{
	struct loaded v1, v2;
	struct bs_pipeline_result res;
	long last_db, first_app;

	(void)state;
#define DEPS_FLEET                                                                                 \
	HEAD THREE "containers:\n" CONTAINER("app", "nginx:1.25", "3",                             \
					     "    depends_on: [db]\n    environment: {V: '%s'}\n") \
		CONTAINER("db", "busybox:1", "3", "    environment: {V: '%s'}\n")
	load(&v1, DEPS_FLEET, "1", "1");
	load(&v2, DEPS_FLEET, "2", "2");
#undef DEPS_FLEET
	assert_int_equal(run(v1.recipe, BS_PIPELINE_APPLY, 3, &res), BS_PIPELINE_OK);
	assert_int_equal(run(v2.recipe, BS_PIPELINE_APPLY, 3, &res), BS_PIPELINE_OK);
	expect_no_violations();
	assert_int_equal(res.total.replaced, 6);
	last_db = last_call(NULL, "container_rename shop-db-");
	first_app = find_call(0, NULL, "container_deploy shop-app-");
	if (last_db < 0 || first_app < last_db)
		fail_msg("last db replacement ended at %ld, first app began at %ld", last_db,
			 first_app);
	loaded_free(&v1);
	loaded_free(&v2);
}

/* Local files: shipped to the nodes whose containers mount them, before
 * those containers are made; plan only looks; old copies pruned once the
 * node converged; a failed copy stops the node before its containers;
 * destroy removes the project's files after the containers. (Provider
 * engine refuses local files when the recipe loads: the mount is turned
 * into one after loading, as an SSH provider's recipe would have it.) */
static void make_local(struct bs_container *c)
{
	struct bs_mount *m = &c->volumes[0];

	m->type = BS_MOUNT_LOCAL;
	m->local_path = bs_xstrdup("/home/u/app.conf");
	m->content_hash =
		bs_xstrdup("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	m->mode = 0644;
}

static void test_local_files(void **state)
{
	struct loaded l;
	struct bs_pipeline_result res;
	long ship, deploy;

	(void)state;
	load(&l, HEAD THREE
	     "containers:\n" CONTAINER("web", "nginx:1.25", "1",
				       "    volumes: ['" BS_NODE_FILES_DIR
				       "/shop/0123456789abcdef/app.conf:/etc/app.conf:ro']\n")
		     CONTAINER("api", "busybox:1", "2", "    nodes: [b, c]\n"));
	make_local(&l.recipe->containers[0]);

	assert_int_equal(run(l.recipe, BS_PIPELINE_PLAN, 2, &res), BS_PIPELINE_OK);
	assert_true(find_call(0, "a", "files ship 1 dry-run") >= 0);
	assert_int_equal(find_call(0, "b", "files"), -1); /* nothing mounted there */
	assert_int_equal(count_events(BS_EV_ACTION_PLANNED, "a", "copy", "/home/u/app.conf"), 1);
	assert_true(bs_counts_any_change(&res.total));
	assert_int_equal(find_call(0, "a", "files prune"), -1);

	assert_int_equal(run(l.recipe, BS_PIPELINE_APPLY, 2, &res), BS_PIPELINE_OK);
	expect_no_violations();
	ship = find_call(0, "a", "files ship 1");
	deploy = find_call(0, "a", "container_deploy shop-web-1");
	assert_true(ship >= 0 && deploy > ship);
	assert_string_equal(world->log[ship].what, "files ship 1");
	assert_int_equal(count_events(BS_EV_ACTION_DONE, "a", "copy", "/home/u/app.conf"), 1);
	assert_true(find_call(0, "a", "audit shop: copy /home/u/app.conf") >= 0);
	assert_int_equal(find_call(0, "a", "files prune"), -1); /* nothing old there */
	assert_int_equal(find_call(0, "b", "files"), -1);

	/* the file edited: a new path, a rolling replacement, and the old
	 * copy pruned only once the replacement is done */
	free(l.recipe->containers[0].volumes[0].source);
	l.recipe->containers[0].volumes[0].source =
		bs_xstrdup(BS_NODE_FILES_DIR "/shop/fedcba9876543210/app.conf");
	world->files_stale = true;
	assert_int_equal(run(l.recipe, BS_PIPELINE_APPLY, 2, &res), BS_PIPELINE_OK);
	expect_no_violations();
	assert_int_equal(res.total.replaced, 1);
	assert_true(find_call(0, "a", "files ship 1") < find_call(0, "a", "container_deploy"));
	assert_true(find_call(0, "a", "files prune 1") > last_call("a", "container_"));

	assert_int_equal(run(l.recipe, BS_PIPELINE_STATUS, 2, &res), BS_PIPELINE_OK);
	assert_int_equal(find_call(0, NULL, "files"), -1);

	/* a replacement that fails: the old container runs on with the old
	 * copy, which must stay */
	free(l.recipe->containers[0].volumes[0].source);
	l.recipe->containers[0].volumes[0].source =
		bs_xstrdup(BS_NODE_FILES_DIR "/shop/0011223344556677/app.conf");
	world->fail_create = "shop-web-1.next";
	assert_int_equal(run(l.recipe, BS_PIPELINE_APPLY, 2, &res), BS_PIPELINE_FAILED);
	assert_true(find_call(0, "a", "files ship 1") >= 0);
	assert_int_equal(find_call(0, "a", "files prune"), -1);
	world->fail_create = NULL;

	/* a copy that fails: no container is touched there, nothing pruned */
	world->files_fail = true;
	assert_int_equal(run(l.recipe, BS_PIPELINE_APPLY, 2, &res), BS_PIPELINE_FAILED);
	assert_true(find_call(0, "a", "files ship") >= 0);
	assert_int_equal(find_call(0, "a", "container_deploy"), -1);
	assert_int_equal(find_call(0, "a", "files prune"), -1);
	assert_true(count_events(BS_EV_NODE_DONE, "a", NULL, NULL) == 1);
	world->files_fail = false;

	assert_int_equal(run(l.recipe, BS_PIPELINE_DESTROY, 2, &res), BS_PIPELINE_OK);
	expect_no_violations();
	for (size_t i = 0; i < 3; i++) {
		const char *n = (const char *[]){"a", "b", "c"}[i];

		assert_true(find_call(0, n, "files remove") > last_call(n, "container_destroy"));
	}
	loaded_free(&l);
}

int main(void)
{
	char dir[] = "/tmp/bs-pipeline-XXXXXX";
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_apply_then_nothing_to_do, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_before_engine, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_replica_per_wave, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_stops_waves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupted_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupted_rolling, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_shared_engine, setup, teardown),
		cmocka_unit_test_setup_teardown(test_build_context, setup, teardown),
		cmocka_unit_test_setup_teardown(test_depends_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_depends_job_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_depends_job_fails_across_nodes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_depends_healthy_needs_healthcheck, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_container_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_depends_across_nodes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_depends_waves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_local_files, setup, teardown),
	};
	int rc;

	/* a destroyed machine's host keys are forgotten in the state folder */
	if (mkdtemp(dir) == NULL)
		return 1;
	setenv("BOOTSTRAP_DIR", dir, 1);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	test_remove_tree(dir);
	return rc;
}
