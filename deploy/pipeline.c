/*
 * pipeline.c - apply, plan, status and destroy over a recipe's fleet
 * (pipeline.h): the machines, the pool of node workers, phase 1, the
 * cluster step, the rolling waves and the machines' count-down.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/cluster.h"
#include "deploy/converge.h"
#include "deploy/pipeline.h"
#include "provision/nodelock.h"
#include "util/clock.h"
#include "util/str.h"

struct nodejob {
	struct run *run;
	struct bs_node node; /* the recipe's, at the machine's address */
	struct bs_node_session s;
	bool session_open;
	struct bs_nodework *w;
	int rc;
	struct bs_err err;
	long long t0;
	bool missing;			  /* plan/status: the machine does not exist yet */
	bool off;			  /* plan/status: the machine is there, powered off */
	bool machine_planned;		  /* plan: create-machine or start-machine reported */
	const struct bs_machine *machine; /* its machine (the run's list), or NULL */
	size_t *tasks;			  /* phase 2: indexes of rolling replacements this wave */
	size_t n_tasks;
	struct bs_nodefiles_state files; /* what the node has of the project's files */
	size_t files_copied;		 /* copies made (apply) or planned (plan) */
};

struct run {
	const struct bs_pipeline_opts *o;
	const struct bs_pipeline_env *env;
	volatile sig_atomic_t *interrupted, *aborted; /* never NULL */
	const struct bs_recipe *recipe;
	struct bs_fleet fleet; /* what provisioning sees of recipe */
	bool apply, plan, status, destroy;
	bool locked; /* a node is locked by another run */
	/* apply with depends_on across nodes: phase 1 in dependency levels,
	 * each on every node before the next (level: the one running) */
	bool staged;
	int level;
	bool bad_node; /* opts->node names no node */
	struct nodejob *jobs;
	size_t n_jobs;
	const struct bs_compute *compute; /* the recipe's provider */
	unsigned long requests;		  /* Docker API requests, all nodes */
	/* pool */
	size_t next;
	pthread_mutex_t mu;
	void (*fn)(struct run *run, struct nodejob *j);
	bool *in_wave;
};

static void emit(struct run *run, const struct bs_event *ev)
{
	if (run->o->report != NULL)
		run->o->report(ev, run->o->payload);
}

static void node_event(struct run *run, enum bs_ev_kind kind, const char *node, const char *stage,
		       const char *action, const char *object, const char *reason)
{
	struct bs_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.node = node;
	ev.stage = stage;
	ev.action = action;
	ev.object = object;
	ev.reason = reason;
	emit(run, &ev);
}

static void message(struct run *run, const char *node, const char *level, const char *text)
{
	struct bs_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = BS_EV_MESSAGE;
	ev.node = node;
	ev.state = level;
	ev.reason = text;
	emit(run, &ev);
}

/* ---- the pool -------------------------------------------------------- */

static void *pool_worker(void *arg)
{
	struct run *run = arg;

	for (;;) {
		struct nodejob *j = NULL;

		pthread_mutex_lock(&run->mu);
		while (run->next < run->n_jobs && !*run->interrupted) {
			size_t i = run->next++;

			if (run->in_wave == NULL || run->in_wave[i]) {
				j = &run->jobs[i];
				break;
			}
		}
		pthread_mutex_unlock(&run->mu);
		if (j == NULL)
			return NULL;
		run->fn(run, j);
	}
}

/* Run fn over the jobs (those in in_wave, when given), --parallel at once. */
static void pool_run(struct run *run, void (*fn)(struct run *, struct nodejob *), bool *in_wave)
{
	pthread_t threads[256];
	size_t n = 0, i;
	size_t want = (size_t)(run->o->parallel > 0 ? run->o->parallel : 8);

	run->next = 0;
	run->fn = fn;
	run->in_wave = in_wave;
	for (i = 0; i < want && i < run->n_jobs && i < 256; i++)
		if (pthread_create(&threads[n], NULL, pool_worker, run) == 0)
			n++;
	if (n == 0) /* no thread to be had: do it here */
		pool_worker(run);
	for (i = 0; i < n; i++)
		pthread_join(threads[i], NULL);
}

/* ---- phase 1 --------------------------------------------------------- */

static int audit_line(void *payload, const char *line)
{
	struct nodejob *j = payload;
	struct bs_err err = BS_ERR_INIT;

	return j->run->env->audit(&j->s, line, &err);
}

static void report_docker(struct run *run, struct nodejob *j)
{
	const struct bs_dockerhost_report *r = &j->s.report;
	enum bs_ev_kind kind = run->apply ? BS_EV_ACTION_DONE : BS_EV_ACTION_PLANNED;
	char *why;

	if (run->status || run->destroy)
		return;
	if (r->installed)
		node_event(run, kind, j->node.name, NULL, "install-docker",
			   run->recipe->docker.package ? run->recipe->docker.package : "docker.io",
			   "no engine on the node");
	if (r->config_written) {
		why = bs_xasprintf("daemon.json differs (dockerd %s)",
				   bs_daemon_action_name(r->action));
		node_event(run, kind, j->node.name, NULL, "configure-docker", "daemon.json", why);
		free(why);
	}
	if (r->started && !r->installed)
		node_event(run, kind, j->node.name, NULL, "start-docker", "dockerd",
			   "the engine was not running");
}

/* The settings of a node's preparation and of its convergence. */
static void phase1_opts(struct run *run, struct nodejob *j, struct bs_node_prepare_opts *po,
			struct bs_converge_opts *co)
{
	memset(po, 0, sizeof(*po));
	po->strict_host_keys = run->o->strict_host_keys;
	po->key_override = run->o->identity;
	po->cancel = run->aborted;
	po->interrupt = run->interrupted;
	po->dry_run = !run->apply;
	/* encrypt: true needs ESP on every node whatever the addresses: refused
	 * right after this node's detection, before Docker is installed on it
	 * (auto depends on every node's address, and is decided by the cluster
	 * stage before the swarm or its networks change) */
	po->need_esp = run->recipe->cluster.type == BS_CLUSTER_SWARM &&
		       run->recipe->cluster.encrypt == BS_ENCRYPT_TRUE &&
		       bs_cluster_needs_networks(run->recipe) && !run->o->assume_esp;
	if (run->o->timeout_ms > 0)
		po->command_timeout_ms = (long)run->o->timeout_ms;
	memset(co, 0, sizeof(*co));
	co->recipe = run->recipe;
	co->node = &j->node;
	co->report = run->o->report;
	co->payload = run->o->payload;
	co->audit = audit_line;
	co->audit_payload = j;
	co->cancel = run->interrupted;
	co->abort = run->aborted;
	co->refresh = run->status || run->o->refresh;
	co->parallel = run->o->parallel > 0 ? run->o->parallel : 8;
}

/* A node without a running machine: apply fails it (the provider gave no
 * address); plan and status say what apply would do. True when handled. */
static bool phase1_absent(struct run *run, struct nodejob *j, const struct bs_converge_opts *co)
{
	if (j->missing && run->apply) {
		j->rc = bs_err_set(&j->err, BS_ERR_NOT_FOUND,
				   "node %s: the machine has no SSH address yet (the provider "
				   "reports it without one); run again when it has one",
				   j->node.name);
		return true;
	}
	if (j->off) {
		if (run->status) {
			message(run, j->node.name, "info",
				"the machine is off: apply powers it on, then looks at its containers");
		} else {
			node_event(run, BS_EV_ACTION_PLANNED, j->node.name, NULL, "start-machine",
				   j->node.name, "the machine is off");
			message(run, j->node.name, "info",
				"its containers are looked at once it runs (apply powers it on)");
			j->machine_planned = true;
		}
		return true;
	}
	if (!j->missing)
		return false;
	bs_nodework_new(&j->w, co);
	if (run->status) {
		message(run, j->node.name, "info", "the machine does not exist yet");
	} else {
		node_event(run, BS_EV_ACTION_PLANNED, j->node.name, NULL, "create-machine",
			   j->node.name, "missing");
		bs_nodework_plan(j->w, true);
		j->machine_planned = true;
	}
	return true;
}

/* Observe, then what the verb does with a node's containers. */
static int phase1_containers(struct run *run, struct nodejob *j)
{
	int rc = bs_nodework_observe(j->w, &j->err);

	if (rc != 0)
		return rc;
	if (run->destroy && run->staged)
		return bs_nodework_destroy_level(j->w, bs_recipe_dep_top(run->recipe), &j->err);
	if (run->destroy)
		return bs_nodework_destroy(j->w, &j->err);
	if (run->apply && (rc = bs_nodework_prepare(j->w, &j->err)) != 0)
		return rc;
	bs_nodework_plan(j->w, run->plan);
	if (run->status)
		bs_nodework_status(j->w);
	if (run->apply && run->staged)
		return bs_nodework_apply_level(j->w, 0, &j->err);
	return run->apply ? bs_nodework_apply(j->w, &j->err) : 0;
}

static void file_copied(const struct bs_nodefile *f, bool done, void *payload)
{
	struct nodejob *j = payload;
	char *to = bs_xasprintf("to %s", f->remote_path);

	j->files_copied++;
	if (done) /* the copies are made together: the start is told with the end */
		node_event(j->run, BS_EV_ACTION_STARTED, j->node.name, NULL, "copy", f->local_path,
			   to);
	node_event(j->run, done ? BS_EV_ACTION_DONE : BS_EV_ACTION_PLANNED, j->node.name, NULL,
		   "copy", f->local_path, to);
	if (done) {
		char *line = bs_xasprintf("%s: copy %s (%s)", j->run->recipe->project,
					  f->local_path, to);

		audit_line(j, line);
		free(line);
	}
	free(to);
}

/* The node's local files (the mounts of the containers placed on it):
 * shipped before its containers are created, the stale copies pruned
 * once they all converged, the project's folder removed by destroy. */
static int node_files(struct run *run, struct nodejob *j, enum bs_pipeline_files_op op)
{
	const struct bs_mount **mounts = NULL;
	struct bs_nodefile *files;
	struct bs_nodefiles_opts o;
	char *dir, **salts;
	size_t n = 0, i;
	int rc;

	if (run->env->node_files == NULL || !j->session_open)
		return 0;
	if (op != BS_FILES_REMOVE)
		n = bs_recipe_node_mounts(run->recipe, &j->node, &mounts);
	if (op == BS_FILES_SHIP && n == 0) {
		free(mounts);
		return 0;
	}
	files = bs_xcalloc(n ? n : 1, sizeof(*files));
	salts = bs_xcalloc(n ? n : 1, sizeof(*salts));
	for (i = 0; i < n; i++) {
		files[i].local_path = mounts[i]->local_path;
		files[i].remote_path = mounts[i]->source;
		files[i].content_hash = mounts[i]->content_hash;
		files[i].is_dir = mounts[i]->is_dir;
		files[i].secret = mounts[i]->secret;
		files[i].mode = (unsigned)mounts[i]->mode;
		salts[i] = bs_recipe_mount_salt(run->recipe, mounts[i]);
		files[i].salt = salts[i];
	}
	dir = bs_xasprintf("%s/%s", BS_NODE_FILES_DIR, run->recipe->project);
	memset(&o, 0, sizeof(o));
	o.dir = dir;
	o.files = files;
	o.n_files = n;
	o.dry_run = !run->apply;
	o.timeout_ms = run->o->timeout_ms > 0 ? (long)run->o->timeout_ms : 0;
	o.copied = file_copied;
	o.payload = j;
	rc = run->env->node_files(&j->s, op, &o, &j->files, &j->err);
	if (rc != 0)
		bs_err_prefix(&j->err, "node %s", j->node.name);
	for (i = 0; i < n; i++)
		free(salts[i]);
	free(salts);
	free(files);
	free(mounts);
	free(dir);
	return rc;
}

static void phase1(struct run *run, struct nodejob *j)
{
	struct bs_node_prepare_opts po;
	struct bs_nodelock_opts lo = BS_NODELOCK_OPTS_INIT;
	struct bs_converge_opts co;
	char *host_key_tag = NULL;

	j->t0 = bs_now_ms();
	phase1_opts(run, j, &po, &co);
	if (phase1_absent(run, j, &co))
		return;
	/* the node lock is taken as soon as SSH is up, before Docker is
	 * looked at (provider engine: no SSH, no node lock; the local lock
	 * guards) */
	if (run->apply || run->destroy) {
		lo.owner = run->o->owner;
		lo.wait_ms = (long)run->o->lock_wait_ms;
		lo.cancel = run->interrupted;
		po.lock = &lo;
	}
	node_event(run, BS_EV_NODE_STAGE, j->node.name, "ssh", NULL, NULL, NULL);
	if (j->machine != NULL)
		bs_node_machine_opts(&po, run->compute, j->machine, &host_key_tag);
	j->rc = run->env->node_prepare(&j->s, &run->fleet, &j->node, &po, &j->err);
	free(host_key_tag);
	j->session_open = j->rc == 0;
	if (j->rc != 0)
		return;
	report_docker(run, j);
	co.driver = j->s.driver;
	co.ep = &j->s.ep;
	bs_nodework_new(&j->w, &co);
	if (run->destroy && co.driver == NULL) {
		if (!j->s.report.installed) /* Docker is there, but stopped */
			j->rc = bs_err_set(
				&j->err, BS_ERR_UNSUPPORTED,
				"node %s: dockerd is not running, so its containers cannot "
				"be listed or removed: start it (bootstrap apply does), then "
				"run destroy again",
				j->node.name);
		return; /* no Docker at all: nothing to remove */
	}
	if (!run->destroy && !run->status) {
		j->rc = node_files(run, j, BS_FILES_SHIP);
		if (j->rc != 0)
			return;
	}
	j->rc = phase1_containers(run, j);
}

/* ---- phase 1 in dependency levels ------------------------------------- */

/*
 * depends_on across nodes. A dependent on one node waits for every replica
 * of its dependency fleet-wide, so phase 1 runs in levels: the pool does
 * every node's level l (level 0 with all that comes before the starts),
 * then this thread, with the pool idle and every node's session still
 * open, waits on each node that runs a dependency of level l + 1, then
 * the pool does level l + 1. No worker ever waits for another node's job,
 * so any --parallel works. When a wait fails, every node's starts of that
 * level and above are skipped, with the reason; nothing else is undone.
 * destroy goes the other way, the deepest level first on every node.
 */
static void phase1_level(struct run *run, struct nodejob *j)
{
	if (j->w != NULL && j->rc == 0 && run->destroy)
		j->rc = bs_nodework_destroy_level(j->w, run->level, &j->err);
	else if (j->w != NULL && j->rc == 0)
		j->rc = bs_nodework_apply_level(j->w, run->level, &j->err);
}

static bool runs_on(const struct run *run, const struct nodejob *j, const char *container)
{
	const struct bs_recipe *r = run->recipe;
	int *reps = NULL;
	size_t n = 0;

	for (size_t i = 0; i < r->n_containers && n == 0; i++)
		if (strcmp(r->containers[i].name, container) == 0)
			n = bs_placement(r, &r->containers[i], &j->node, &reps);
	free(reps);
	return n > 0;
}

/* One wait on every node that runs the dependency. */
static int fleet_wait(struct run *run, const struct bs_dep_wait *wt, struct bs_err *err)
{
	for (size_t i = 0; i < run->n_jobs; i++) {
		struct nodejob *j = &run->jobs[i];
		int rc;

		if (!runs_on(run, j, wt->dep->container))
			continue;
		if (j->w == NULL || j->rc != 0)
			return bs_err_set(err, BS_ERR_REMOTE,
					  "%s waits for %s on node %s, which failed",
					  wt->dependent->name, wt->dep->container, j->node.name);
		rc = bs_nodework_wait_dep(j->w, wt->dependent->name, wt->dep, err);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static void fleet_waits(struct run *run, int level)
{
	struct bs_dep_wait *v = NULL;
	struct bs_err err = BS_ERR_INIT;
	size_t n = 0;
	int rc = 0;

	for (size_t i = 0; i < run->n_jobs; i++)
		if (run->jobs[i].w != NULL && run->jobs[i].rc == 0)
			bs_nodework_level_waits(run->jobs[i].w, level, &v, &n);
	for (size_t k = 0; k < n && rc == 0; k++)
		rc = fleet_wait(run, &v[k], &err);
	for (size_t i = 0; i < run->n_jobs && rc != 0; i++) {
		struct nodejob *j = &run->jobs[i];

		if (j->w == NULL || j->rc != 0)
			continue;
		if (bs_nodework_skip_from(j->w, level, err.msg) > 0) {
			j->rc = err.code;
			bs_err_set(&j->err, err.code, "node %s: skipped: %s", j->node.name,
				   err.msg);
		}
	}
	free(v);
}

static void phase1_all(struct run *run)
{
	int top = run->staged ? bs_recipe_dep_top(run->recipe) : 0;

	pool_run(run, phase1, NULL);
	/* destroy: the deepest level went first, with the rest of phase 1 */
	for (int level = top - 1; run->destroy && level >= 0 && !*run->interrupted; level--) {
		run->level = level;
		pool_run(run, phase1_level, NULL);
	}
	if (run->destroy)
		return;
	for (int level = 1; level <= top && !*run->interrupted; level++) {
		fleet_waits(run, level);
		run->level = level;
		pool_run(run, phase1_level, NULL);
	}
}

/* destroy, once every node's containers are gone: networks and volumes
 * (node entries that share an engine share them too) */
static void destroy_rest(struct run *run, struct nodejob *j)
{
	if (j->rc == 0 && j->w != NULL && j->s.driver != NULL)
		j->rc = bs_nodework_destroy_rest(j->w, run->o->volumes, &j->err);
	if (j->rc == 0)
		j->rc = node_files(run, j, BS_FILES_REMOVE);
}

/* apply, once every container converged: copies no container uses now */
static void prune_files(struct run *run, struct nodejob *j)
{
	if (j->rc == 0 && j->files.stale.n > 0)
		j->rc = node_files(run, j, BS_FILES_PRUNE);
}

/* ---- phase 2: rolling ------------------------------------------------ */

static void phase2(struct run *run, struct nodejob *j)
{
	(void)run;
	for (size_t t = 0; t < j->n_tasks && j->rc == 0; t++)
		j->rc = bs_nodework_roll(j->w, j->tasks[t], &j->err);
}

static size_t name_index(const struct bs_strv *names, const char *name)
{
	size_t k = 0;

	while (k < names->n && strcmp(names->v[k], name) != 0)
		k++;
	return k;
}

/* The first wave of each replaced container (into first): after the last
 * wave of every replaced container it depends on, so that a dependency's
 * replacement goes before its dependents'. Without depends_on, all 0. */
static void dependencies_first(struct run *run, const struct bs_strv *names, size_t *first)
{
	const struct bs_recipe *r = run->recipe;
	size_t *count = bs_xcalloc(names->n + 1, sizeof(*count));
	int top = bs_recipe_dep_top(r);

	for (size_t i = 0; i < run->n_jobs && top > 0; i++) {
		struct nodejob *j = &run->jobs[i];
		size_t n = j->w && j->rc == 0 ? bs_nodework_n_rolling(j->w) : 0;

		for (size_t t = 0; t < n; t++)
			count[name_index(names, bs_nodework_rolling_container(j->w, t))]++;
	}
	for (int l = 1; l <= top; l++)
		for (size_t ci = 0; ci < r->n_containers; ci++) {
			const struct bs_container *c = &r->containers[ci];
			size_t k = name_index(names, c->name);

			if (k == names->n || bs_recipe_dep_level(r, c) != l)
				continue;
			for (size_t d = 0; d < c->n_depends_on; d++) {
				size_t m = name_index(names, c->depends_on[d].container);

				if (m < names->n && first[m] + count[m] > first[k])
					first[k] = first[m] + count[m];
			}
		}
	free(count);
}

/* Wave k of container C is its k-th replacement, in node order, after
 * the waves of the replaced containers it depends on. */
static void rolling(struct run *run)
{
	struct bs_strv names = BS_STRV_INIT;
	size_t *next_wave, total = 0, n_waves = 0, i, t;
	size_t **wave_of;
	bool *in_wave = bs_xcalloc(run->n_jobs, sizeof(*in_wave));

	wave_of = bs_xcalloc(run->n_jobs, sizeof(*wave_of));
	for (i = 0; i < run->n_jobs; i++) {
		struct nodejob *j = &run->jobs[i];

		if (j->w == NULL || j->rc != 0)
			continue;
		total += bs_nodework_n_rolling(j->w);
		for (t = 0; t < bs_nodework_n_rolling(j->w); t++)
			bs_strv_add_unique(&names, bs_nodework_rolling_container(j->w, t));
	}
	if (total == 0)
		goto out;
	next_wave = bs_xcalloc(names.n, sizeof(*next_wave));
	dependencies_first(run, &names, next_wave);
	for (i = 0; i < run->n_jobs; i++) {
		struct nodejob *j = &run->jobs[i];
		size_t n = j->w && j->rc == 0 ? bs_nodework_n_rolling(j->w) : 0;

		wave_of[i] = bs_xcalloc(n ? n : 1, sizeof(size_t));
		for (t = 0; t < n; t++) {
			const char *c = bs_nodework_rolling_container(j->w, t);
			size_t k = 0;

			while (strcmp(names.v[k], c) != 0)
				k++;
			wave_of[i][t] = next_wave[k]++;
			if (wave_of[i][t] + 1 > n_waves)
				n_waves = wave_of[i][t] + 1;
		}
	}
	free(next_wave);
	for (size_t wv = 0; wv < n_waves && !*run->interrupted; wv++) {
		bool failed = false;

		for (i = 0; i < run->n_jobs; i++) {
			struct nodejob *j = &run->jobs[i];
			size_t n = j->w && j->rc == 0 ? bs_nodework_n_rolling(j->w) : 0;

			free(j->tasks);
			j->tasks = bs_xcalloc(n ? n : 1, sizeof(size_t));
			j->n_tasks = 0;
			for (t = 0; t < n; t++)
				if (wave_of[i][t] == wv)
					j->tasks[j->n_tasks++] = t;
			in_wave[i] = j->n_tasks > 0;
		}
		pool_run(run, phase2, in_wave);
		for (i = 0; i < run->n_jobs; i++)
			failed = failed || (in_wave[i] && run->jobs[i].rc != 0);
		if (failed && !*run->interrupted)
			message(run, NULL, "warning",
				"a replacement failed: the rolling update stops here; replicas not "
				"yet replaced keep running the previous version");
		if (failed)
			break;
	}
out:
	for (i = 0; i < run->n_jobs; i++)
		free(wave_of[i]);
	free(wave_of);
	free(in_wave);
	bs_strv_free(&names);
}

/* ---- the cluster ----------------------------------------------------- */

/* After phase 1, on this thread: membership and services (deploy/cluster.c). */
static int cluster(struct run *run, struct bs_counts *total)
{
	struct bs_cluster_member_in *in = bs_xcalloc(run->n_jobs + 1, sizeof(*in));
	struct bs_cluster_opts o;
	struct bs_err err = BS_ERR_INIT;
	int rc, before;

	for (size_t i = 0; i < run->n_jobs; i++) {
		struct nodejob *j = &run->jobs[i];

		in[i].node = &j->node;
		in[i].d = j->session_open ? j->s.driver : NULL;
		/* a node whose detection ran (its engine may still be missing) */
		in[i].detected = j->s.report.route_if[0] != '\0' || j->s.report.n_addrs > 0 ||
				 j->s.report.esp != BS_ESP_UNKNOWN;
		in[i].route_if = j->s.report.route_if[0] ? j->s.report.route_if : NULL;
		in[i].ipvs = j->s.report.ipvs;
		in[i].esp = j->s.report.esp;
		in[i].esp_error = j->s.report.esp_error;
		in[i].addrs = j->s.report.addrs;
		in[i].n_addrs = j->s.report.n_addrs;
		in[i].audit = audit_line;
		in[i].audit_payload = j;
	}
	memset(&o, 0, sizeof(o));
	o.recipe = run->recipe;
	o.nodes = in;
	o.n_nodes = run->n_jobs;
	o.apply = run->apply || run->destroy;
	o.report_planned = run->plan;
	o.status = run->status;
	o.destroy = run->destroy;
	o.report = run->o->report;
	o.payload = run->o->payload;
	o.wait_ms = run->o->timeout_ms > 0 ? (long)run->o->timeout_ms : 0;
	o.cancel = run->interrupted;
	o.assume_esp = run->o->assume_esp;
	node_event(run, BS_EV_NODE_STAGE, NULL, "cluster", NULL, NULL, NULL);
	before = total->failed;
	rc = bs_cluster_run(&o, total, &err);
	if (rc != 0 && total->failed == before) { /* not an action's failure, told already */
		message(run, NULL, "error", err.msg);
		total->failed++;
	}
	free(in);
	return rc;
}

/* ---- machines -------------------------------------------------------- */

static bool selected_node(const struct run *run, const struct bs_node *n)
{
	return run->o->node == NULL || strcmp(run->o->node, n->name) == 0 ||
	       strcmp(run->o->node, n->group) == 0;
}

static const struct bs_machine *find_machine(const struct bs_machine_list *ml, const char *name);

/* The recipe's nodes (those --node selects) that have no machine yet. */
static size_t missing_machines(const struct run *run, const struct bs_machine_list *ml)
{
	size_t n = 0;

	for (size_t i = 0; i < run->recipe->n_nodes; i++)
		n += selected_node(run, &run->recipe->nodes[i]) &&
		     find_machine(ml, run->recipe->nodes[i].name) == NULL;
	return n;
}

static int machines(struct run *run, struct bs_compute **c, struct bs_machine_list *ml,
		    struct bs_err *err)
{
	struct bs_compute_opts copts;
	struct bs_compute_report rep;
	char *pub = NULL, *fingerprint = NULL;
	int rc;

	memset(&copts, 0, sizeof(copts));
	copts.state_dir = bs_state_dir();
	copts.cancel = run->interrupted; /* polls and waits end at the first signal */
	if (run->o->timeout_ms > 0)	 /* --timeout bounds the provider's waits too */
		copts.running_timeout_ms = (long)run->o->timeout_ms;
	if (run->apply && !bs_provider_existing(run->recipe->provider.type)) {
		pub = bs_node_public_key(&run->fleet, run->o->identity, err);
		if (pub == NULL)
			return err->code ? err->code : BS_ERR_INVALID;
		fingerprint = bs_ssh_key_fingerprint(pub);
	}
	copts.ssh_public_key = pub;
	copts.ssh_key_fingerprint = fingerprint;
	rc = run->env->compute_open(c, &run->fleet, &copts, err);
	if (rc == 0 && run->apply) {
		node_event(run, BS_EV_NODE_STAGE, NULL, "machine", NULL, NULL, NULL);
		rc = bs_compute_ensure(*c, run->o->node, ml, &rep, err);
		if (rc == 0 && (rep.created > 0 || rep.started > 0)) {
			char *text = bs_xasprintf(
				"%s: %d machine(s) created, %d powered on, %d found",
				(*c)->ops->name, rep.created, rep.started, rep.found - rep.started);

			message(run, NULL, "info", text);
			free(text);
		}
	} else if (rc == 0) {
		rc = (*c)->ops->list(*c, ml, err);
		if (rc == 0 && run->plan && (*c)->ops->check != NULL &&
		    missing_machines(run, ml) > 0)
			rc = (*c)->ops->check(*c, err);
	}
	free(fingerprint);
	free(pub);
	return rc;
}

static const struct bs_machine *find_machine(const struct bs_machine_list *ml, const char *name)
{
	for (size_t i = 0; i < ml->n; i++)
		if (ml->v[i].name != NULL && strcmp(ml->v[i].name, name) == 0 &&
		    ml->v[i].state != BS_NODE_TERMINATED)
			return &ml->v[i];
	return NULL;
}

/* A machine that is gone takes its pinned host keys with it: a new
 * machine that gets its address (clouds hand addresses out again) is
 * trusted on first use, as any new machine. */
static void forget_host_keys(struct run *run, const struct bs_compute *c,
			     const struct bs_machine *m)
{
	struct bs_node_ssh ns;
	struct bs_err err = BS_ERR_INIT;
	char *tag = bs_compute_host_key_tag(c, m);
	int removed = 0;

	bs_node_ssh_init(&ns, &run->recipe->ssh, m->ssh_host ? m->ssh_host : "", m->ssh_port, NULL,
			 NULL);
	if (ns.opts.known_hosts != NULL &&
	    bs_ssh_known_hosts_forget(ns.opts.known_hosts, m->ssh_host, ns.opts.port, tag, &removed,
				      &err) != 0) {
		char *text =
			bs_xasprintf("%s: its host keys are still pinned: %s", m->name, err.msg);

		message(run, m->name, "warning", text);
		free(text);
	}
	bs_node_ssh_free(&ns);
	free(tag);
}

/* One machine goes, reported and counted. */
static int destroy_machine(struct run *run, struct bs_compute *c, const struct bs_machine *m,
			   const char *why, struct bs_counts *total)
{
	struct bs_err err = BS_ERR_INIT;
	struct bs_event ev;
	long long t0 = bs_now_ms();
	int rc;

	node_event(run, BS_EV_ACTION_STARTED, m->name, NULL, "destroy-machine", m->name, why);
	rc = c->ops->destroy(c, m, &err);
	memset(&ev, 0, sizeof(ev));
	ev.kind = rc == 0 ? BS_EV_ACTION_DONE : BS_EV_ACTION_FAILED;
	ev.node = m->name;
	ev.action = "destroy-machine";
	ev.object = m->name;
	ev.reason = why;
	ev.error = rc == 0 ? NULL : err.msg;
	ev.ms = bs_now_ms() - t0;
	emit(run, &ev);
	if (rc == 0) {
		total->removed++;
		forget_host_keys(run, c, m);
	} else {
		total->failed++;
	}
	return rc;
}

/* Machines of the project that the recipe no longer names. */
static int extra_machines(struct run *run, struct bs_compute *c, struct bs_counts *total)
{
	struct bs_machine_list ml = {0};
	struct bs_err err = BS_ERR_INIT;
	int rc = c->ops->list(c, &ml, &err);

	for (size_t i = 0; rc == 0 && i < ml.n; i++) {
		const struct bs_machine *m = &ml.v[i];
		bool declared = false;

		for (size_t k = 0; k < run->recipe->n_nodes && !declared; k++)
			declared = strcmp(run->recipe->nodes[k].name, m->name) == 0;
		if (declared || m->state == BS_NODE_TERMINATED)
			continue;
		if (run->plan) {
			node_event(run, BS_EV_ACTION_PLANNED, m->name, NULL, "destroy-machine",
				   m->name, "no longer in the recipe");
			total->removed++;
			continue;
		}
		if (!run->apply && !run->destroy)
			continue;
		rc = destroy_machine(run, c, m, "no longer in the recipe", total);
	}
	bs_machine_list_free(&ml);
	return rc;
}

/* ---- the run --------------------------------------------------------- */

static void add_counts(struct bs_counts *to, const struct bs_counts *c)
{
	to->created += c->created;
	to->replaced += c->replaced;
	to->updated += c->updated;
	to->started += c->started;
	to->removed += c->removed;
	to->unchanged += c->unchanged;
	to->failed += c->failed;
	to->other += c->other;
}

bool bs_counts_any_change(const struct bs_counts *c)
{
	return c->created || c->replaced || c->updated || c->started || c->removed || c->other;
}

static void finish_node(struct run *run, struct nodejob *j, struct bs_counts *total)
{
	struct bs_event ev;
	struct bs_counts c;

	memset(&c, 0, sizeof(c));
	if (j->w != NULL)
		c = *bs_nodework_counts(j->w);
	if (j->s.report.installed || j->s.report.config_written ||
	    (j->s.report.started && !j->s.report.installed))
		c.other += !run->status && !run->destroy;
	if (j->rc != 0 && c.failed == 0)
		c.failed = 1;
	c.other += j->machine_planned + j->files_copied;
	add_counts(total, &c);
	memset(&ev, 0, sizeof(ev));
	ev.kind = BS_EV_NODE_DONE;
	ev.node = j->node.name;
	ev.counts = c;
	ev.ms = bs_now_ms() - j->t0;
	ev.error = j->rc != 0 ? j->err.msg : NULL;
	ev.engine = j->session_open && j->s.driver ? bs_docker_engine_version(j->s.driver) : NULL;
	ev.requests = (j->w ? bs_nodework_requests(j->w) : 0) +
		      (j->session_open && j->s.driver ? run->env->requests(&j->s) : 0);
	run->requests += ev.requests;
	emit(run, &ev);
	bs_nodework_free(j->w);
	j->w = NULL;
	if (j->session_open)
		run->env->node_close(&j->s);
	else
		free(j->s.name); /* what a failed bs_node_prepare leaves */
	j->s.name = NULL;
	j->session_open = false;
	free(j->tasks);
	bs_nodefiles_state_free(&j->files);
}

/* One job per node that opts->node selects, at its machine's address. */
static void make_jobs(struct run *run, const struct bs_machine_list *ml)
{
	const struct bs_recipe *r = run->recipe;

	run->jobs = bs_xcalloc(r->n_nodes ? r->n_nodes : 1, sizeof(*run->jobs));
	for (size_t i = 0; i < r->n_nodes; i++) {
		const struct bs_node *n = &r->nodes[i];
		const struct bs_machine *m = find_machine(ml, n->name);
		struct nodejob *j;

		if (!selected_node(run, n))
			continue;
		j = &run->jobs[run->n_jobs++];
		memset(j, 0, sizeof(*j));
		j->run = run;
		j->t0 = bs_now_ms();
		j->node = *n;
		j->err = (struct bs_err)BS_ERR_INIT;
		j->machine = m;
		if (m != NULL && m->state == BS_NODE_STOPPED && !run->apply) {
			j->off = true; /* plan/status: apply powers it on */
		} else if (m != NULL && m->ssh_host != NULL) {
			j->node.address = m->ssh_host;
			j->node.port = m->ssh_port;
		} else if (!bs_provider_existing(r->provider.type)) {
			j->missing = true; /* apply created every one: only plan/status */
		}
	}
}

/* Does opts->node name a node or an entry of the recipe? */
static bool node_known(const struct run *run)
{
	const struct bs_recipe *r = run->recipe;

	if (run->o->node == NULL)
		return true;
	for (size_t i = 0; i < r->n_nodes; i++)
		if (strcmp(run->o->node, r->nodes[i].name) == 0 ||
		    strcmp(run->o->node, r->nodes[i].group) == 0)
			return true;
	return false;
}

/* destroy on machines bootstrap made: the machines go, whatever their
 * power state, and all on them; no node is then worked on. */
static bool destroy_machines(struct run *run, struct bs_compute *c,
			     const struct bs_machine_list *ml, struct bs_counts *total)
{
	bool failed = false;

	for (size_t i = 0; i < run->n_jobs; i++) {
		const struct bs_machine *m = find_machine(ml, run->jobs[i].node.name);

		if (m != NULL && destroy_machine(run, c, m, "destroy", total) != 0)
			failed = true;
	}
	if (run->o->node == NULL && extra_machines(run, c, total) != 0)
		failed = true;
	run->n_jobs = 0;
	return failed;
}

/* apply after a failed phase 1: the replacements wait for a sound fleet. */
static void rolling_skipped(struct run *run)
{
	size_t skipped = 0;

	for (size_t i = 0; i < run->n_jobs; i++)
		if (run->jobs[i].w != NULL && run->jobs[i].rc == 0)
			skipped += bs_nodework_n_rolling(run->jobs[i].w);
	if (skipped > 0) {
		char *text = bs_xasprintf(
			"%zu replacement(s) not started: a node failed, and a rolling update "
			"waits until every node is sound; fix it and run again",
			skipped);

		message(run, NULL, "warning", text);
		free(text);
	}
}

/* After the machines: phase 1, the cluster, then destroy's networks and
 * volumes or apply's rolling waves. Returns whether something failed. */
static bool nodes(struct run *run, struct bs_counts *total, bool failed)
{
	const struct bs_recipe *r = run->recipe;
	bool stopped;

	run->staged = (run->apply || run->destroy) && run->n_jobs > 1 && bs_recipe_dep_top(r) > 0;
	phase1_all(run);
	for (size_t i = 0; i < run->n_jobs; i++)
		failed = failed || run->jobs[i].rc != 0;
	if (r->cluster.type != BS_CLUSTER_NONE && run->n_jobs > 0 && !*run->interrupted &&
	    (run->plan || run->status || !failed) && cluster(run, total) != 0)
		failed = true;
	stopped = failed || *run->interrupted;
	if (run->destroy && !stopped)
		pool_run(run, destroy_rest, NULL);
	if (run->apply && !stopped) {
		rolling(run);
		pool_run(run, prune_files, NULL);
	} else if (run->apply && !*run->interrupted)
		rolling_skipped(run);
	for (size_t i = 0; i < run->n_jobs; i++) {
		failed = failed || run->jobs[i].rc != 0;
		run->locked = run->locked || run->jobs[i].rc == BS_ERR_LOCKED;
		finish_node(run, &run->jobs[i], total);
	}
	return failed;
}

static void run_event(struct run *run, enum bs_ev_kind kind, const char *error)
{
	struct bs_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.verb = bs_pipeline_verb_name(run->o->verb);
	ev.project = run->recipe->project;
	ev.file = run->recipe->file;
	ev.n_nodes = (int)run->recipe->n_nodes;
	ev.error = error;
	emit(run, &ev);
}

/* The run from its first event to its last node; returns whether
 * something failed. */
static bool run_verb(struct run *run, struct bs_counts *total)
{
	struct bs_compute *c = NULL;
	struct bs_machine_list ml = {0};
	struct bs_err err = BS_ERR_INIT;
	bool failed = false;

	run_event(run, BS_EV_RUN_START, NULL);
	if ((run->apply && bs_node_tls_init(&run->fleet, &err) != 0) ||
	    machines(run, &c, &ml, &err) != 0) {
		run_event(run, BS_EV_RUN_ERROR, err.msg);
		failed = true;
		goto out;
	}
	run->compute = c;
	make_jobs(run, &ml);
	if (!node_known(run)) {
		char *text =
			bs_xasprintf("no node named '%s' in %s", run->o->node, run->recipe->file);

		run_event(run, BS_EV_RUN_ERROR, text);
		free(text);
		run->bad_node = true;
		goto out;
	}
	if (run->destroy && !bs_provider_existing(run->recipe->provider.type))
		failed = destroy_machines(run, c, &ml, total);
	failed = nodes(run, total, failed);
	if (c != NULL && c->creates && !failed && !*run->interrupted && run->o->node == NULL &&
	    (run->apply || run->plan) && extra_machines(run, c, total) != 0)
		failed = true;
out:
	free(run->jobs);
	bs_machine_list_free(&ml);
	if (c != NULL)
		c->ops->free(c);
	return failed;
}

void bs_pipeline_run(const struct bs_recipe *recipe, const struct bs_pipeline_opts *opts,
		     struct bs_pipeline_result *out)
{
	static volatile sig_atomic_t never;
	struct run run;
	struct bs_event ev;
	long long t0 = bs_now_ms();
	bool failed;

	memset(out, 0, sizeof(*out));
	memset(&run, 0, sizeof(run));
	run.o = opts;
	run.env = opts->env != NULL ? opts->env : &bs_pipeline_env_real;
	run.interrupted = opts->interrupted != NULL ? opts->interrupted : &never;
	run.aborted = opts->aborted != NULL ? opts->aborted : &never;
	run.recipe = recipe;
	bs_recipe_fleet(recipe, &run.fleet);
	run.apply = opts->verb == BS_PIPELINE_APPLY;
	run.plan = opts->verb == BS_PIPELINE_PLAN;
	run.status = opts->verb == BS_PIPELINE_STATUS;
	run.destroy = opts->verb == BS_PIPELINE_DESTROY;
	pthread_mutex_init(&run.mu, NULL);
	failed = run_verb(&run, &out->total);
	pthread_mutex_destroy(&run.mu);

	memset(&ev, 0, sizeof(ev));
	ev.kind = BS_EV_SUMMARY;
	ev.verb = bs_pipeline_verb_name(opts->verb);
	ev.counts = out->total;
	ev.ms = bs_now_ms() - t0;
	ev.requests = run.requests;
	emit(&run, &ev);
	out->requests = run.requests;
	if (*run.interrupted)
		out->outcome = BS_PIPELINE_INTERRUPTED;
	else if (run.bad_node)
		out->outcome = BS_PIPELINE_BAD_NODE;
	else if (failed)
		out->outcome = run.locked ? BS_PIPELINE_LOCKED : BS_PIPELINE_FAILED;
	else
		out->outcome = BS_PIPELINE_OK;
}

const char *bs_pipeline_verb_name(enum bs_pipeline_verb verb)
{
	static const char *const names[] = {"apply", "plan", "status", "destroy"};

	return names[verb];
}

/* ---- the real parts ---------------------------------------------------- */

static int real_audit(struct bs_node_session *s, const char *line, struct bs_err *err)
{
	return s->lock != NULL ? bs_nodelock_audit(s->lock, line, err) : 0;
}

static unsigned long real_requests(const struct bs_node_session *s)
{
	return bs_docker_request_count(s->driver);
}

static int real_files(struct bs_node_session *s, enum bs_pipeline_files_op op,
		      const struct bs_nodefiles_opts *o, struct bs_nodefiles_state *state,
		      struct bs_err *err)
{
	struct bs_nodefiles_opts with_sudo = *o;

	if (s->ssh == NULL) /* provider engine: the recipe has no local files */
		return 0;
	with_sudo.sudo = s->sudo;
	switch (op) {
	case BS_FILES_SHIP: return bs_nodefiles_ship(s->ssh, &with_sudo, state, err);
	case BS_FILES_PRUNE: return bs_nodefiles_prune(s->ssh, &with_sudo, state, err);
	case BS_FILES_REMOVE: return bs_nodefiles_remove(s->ssh, &with_sudo, err);
	}
	return 0;
}

const struct bs_pipeline_env bs_pipeline_env_real = {
	.compute_open = bs_compute_open,
	.node_prepare = bs_node_prepare,
	.node_close = bs_node_session_close,
	.audit = real_audit,
	.requests = real_requests,
	.node_files = real_files,
};
