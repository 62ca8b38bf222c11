/*
 * cli_run.c - the pipeline verbs: apply (the default), plan, status,
 * destroy.
 *
 *   machines   the compute driver finds the recipe's machines by label
 *              and (apply) creates the missing ones
 *   phase 1    one worker per node, at most --parallel at once: SSH,
 *              Docker installed and configured, the endpoint, the node
 *              lock, observe, plan; apply goes on with networks, volumes,
 *              images and every container action except replacements
 *   phase 2    rolling: replacements in waves; a wave holds at most one
 *              replica of each container, fleet-wide, so a service never
 *              loses more than one replica at a time. A failure stops the
 *              waves (the failed replica is rolled back by converge.c)
 *   machines   apply: machines of the project the recipe no longer names
 *              are destroyed, once everything else went well
 *
 * Node sessions stay open from phase 1 to the end: a node's SSH session,
 * tunnel and engine client are used by one thread at a time (the pool
 * hands a node to one worker), and closed by the main thread at the end.
 *
 * Interrupts (SIGINT, SIGTERM; cli.h): the first stops new actions and
 * ends every wait within 200 ms (bs_cli_interrupted: the SSH wait, both
 * locks, health waits, pulls, cloud polls); the actions in flight end (a
 * replacement in flight is rolled back); the second aborts network calls
 * at once (bs_cli_aborted). Locks are released on every path; a SIGKILL
 * releases them too (the local lock is a flock, the node lock lives with
 * the SSH connection).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_report.h"
#include "deploy/cluster.h"
#include "deploy/converge.h"
#include "deploy/lock.h"
#include "deploy/recipe.h"
#include "provision/compute.h"
#include "provision/node.h"
#include "provision/nodelock.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/str.h"

struct nodejob {
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
};

struct run {
	const struct bs_cli *cli;
	const struct bs_recipe *recipe;
	struct bs_fleet fleet; /* what provisioning sees of recipe */
	const char *verb;
	bool apply, plan, status, destroy;
	bool locked; /* a node is locked by another run: exit 75 */
	struct bs_reporter *rep;
	struct nodejob *jobs;
	size_t n_jobs;
	char *owner;
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
	bs_reporter_event(ev, run->rep);
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
		while (run->next < run->n_jobs && !bs_cli_interrupted) {
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
	size_t want = (size_t)(run->cli->parallel > 0 ? run->cli->parallel : 8);

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

	if (j->s.lock == NULL)
		return 0;
	return bs_nodelock_audit(j->s.lock, line, &err);
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

/* BOOTSTRAP_ASSUME_ESP=1 (true, yes): skip the kernel check for IPsec ESP
 * (README). */
static bool assume_esp(void)
{
	const char *v = getenv("BOOTSTRAP_ASSUME_ESP");

	return v != NULL &&
	       (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0);
}

static void phase1(struct run *run, struct nodejob *j)
{
	struct bs_node_prepare_opts po;
	struct bs_nodelock_opts lo = BS_NODELOCK_OPTS_INIT;
	struct bs_converge_opts co;
	char *host_key_tag = NULL;
	int rc;

	j->t0 = bs_now_ms();
	memset(&po, 0, sizeof(po));
	po.strict_host_keys = run->cli->strict_host_keys;
	po.key_override = run->cli->identity;
	po.cancel = &bs_cli_aborted;
	po.interrupt = &bs_cli_interrupted;
	po.dry_run = !run->apply;
	/* encrypt: true needs ESP on every node whatever the addresses: refused
	 * right after this node's detection, before Docker is installed on it
	 * (auto depends on every node's address, and is decided by the cluster
	 * stage before the swarm or its networks change) */
	po.need_esp = run->recipe->cluster.type == BS_CLUSTER_SWARM &&
		      run->recipe->cluster.encrypt == BS_ENCRYPT_TRUE &&
		      bs_cluster_needs_networks(run->recipe) && !assume_esp();
	if (run->cli->timeout_ms > 0)
		po.command_timeout_ms = (long)run->cli->timeout_ms;
	memset(&co, 0, sizeof(co));
	co.recipe = run->recipe;
	co.node = &j->node;
	co.report = bs_reporter_event;
	co.payload = run->rep;
	co.audit = audit_line;
	co.audit_payload = j;
	co.cancel = &bs_cli_interrupted;
	co.abort = &bs_cli_aborted;
	co.refresh = run->status || run->cli->refresh;
	co.parallel = run->cli->parallel > 0 ? run->cli->parallel : 8;
	if (j->missing && run->apply) { /* the provider gave no address */
		j->rc = bs_err_set(&j->err, BS_ERR_NOT_FOUND,
				   "node %s: the machine has no SSH address yet (the provider "
				   "reports it without one); run again when it has one",
				   j->node.name);
		return;
	}
	if (j->off) { /* plan/status: a machine powered off */
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
		return;
	}
	if (j->missing) { /* plan/status: a machine still to be made */
		bs_nodework_new(&j->w, &co);
		if (run->status) {
			message(run, j->node.name, "info", "the machine does not exist yet");
		} else {
			node_event(run, BS_EV_ACTION_PLANNED, j->node.name, NULL, "create-machine",
				   j->node.name, "missing");
			bs_nodework_plan(j->w, true);
			j->machine_planned = true;
		}
		return;
	}
	/* the node lock is taken as soon as SSH is up, before Docker is
	 * looked at (provider engine: no SSH, no node lock; the local lock
	 * guards) */
	if (run->apply || run->destroy) {
		lo.owner = run->owner;
		lo.wait_ms = (long)run->cli->lock_wait_s * 1000;
		lo.cancel = &bs_cli_interrupted;
		po.lock = &lo;
	}
	node_event(run, BS_EV_NODE_STAGE, j->node.name, "ssh", NULL, NULL, NULL);
	if (j->machine != NULL)
		bs_cli_machine_opts(&po, run->compute, j->machine, &host_key_tag);
	rc = bs_node_prepare(&j->s, &run->fleet, &j->node, &po, &j->err);
	free(host_key_tag);
	j->session_open = rc == 0;
	if (rc != 0)
		goto fail;
	report_docker(run, j);
	co.driver = j->s.driver;
	co.ep = &j->s.ep;
	bs_nodework_new(&j->w, &co);
	if (run->destroy && co.driver == NULL) {
		if (!j->s.report.installed) /* Docker is there, but stopped */
			rc = bs_err_set(
				&j->err, BS_ERR_UNSUPPORTED,
				"node %s: dockerd is not running, so its containers cannot "
				"be listed or removed: start it (bootstrap apply does), then "
				"run destroy again",
				j->node.name);
		goto out; /* no Docker at all: nothing to remove */
	}
	rc = bs_nodework_observe(j->w, &j->err);
	if (rc != 0)
		goto fail;
	if (run->destroy) {
		rc = bs_nodework_destroy(j->w, &j->err);
		goto out;
	}
	if (run->apply) {
		rc = bs_nodework_prepare(j->w, &j->err);
		if (rc != 0)
			goto fail;
	}
	bs_nodework_plan(j->w, run->plan);
	if (run->status)
		bs_nodework_status(j->w);
	if (run->apply)
		rc = bs_nodework_apply(j->w, &j->err);
out:
	j->rc = rc;
	return;
fail:
	j->rc = rc;
}

/* destroy, once every node's containers are gone: networks and volumes
 * (node entries that share an engine share them too) */
static void destroy_rest(struct run *run, struct nodejob *j)
{
	if (j->rc == 0 && j->w != NULL && j->s.driver != NULL)
		j->rc = bs_nodework_destroy_rest(j->w, run->cli->volumes, &j->err);
}

/* ---- phase 2: rolling ------------------------------------------------ */

static void phase2(struct run *run, struct nodejob *j)
{
	(void)run;
	for (size_t t = 0; t < j->n_tasks && j->rc == 0; t++)
		j->rc = bs_nodework_roll(j->w, j->tasks[t], &j->err);
}

/* Wave k of container C is its k-th replacement, in node order. */
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
	for (size_t wv = 0; wv < n_waves && !bs_cli_interrupted; wv++) {
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
		if (failed && !bs_cli_interrupted)
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
	o.report = bs_reporter_event;
	o.payload = run->rep;
	o.wait_ms = run->cli->timeout_ms > 0 ? (long)run->cli->timeout_ms : 0;
	o.cancel = &bs_cli_interrupted;
	o.assume_esp = assume_esp();
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
	return run->cli->node == NULL || strcmp(run->cli->node, n->name) == 0 ||
	       strcmp(run->cli->node, n->group) == 0;
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
	copts.cancel = &bs_cli_interrupted; /* polls and waits end at the first signal */
	if (run->cli->timeout_ms > 0)	    /* --timeout bounds the provider's waits too */
		copts.running_timeout_ms = (long)run->cli->timeout_ms;
	if (run->apply && !bs_provider_existing(run->recipe->provider.type)) {
		pub = bs_cli_public_key(run->cli, run->recipe, err);
		if (pub == NULL)
			return err->code ? err->code : BS_ERR_INVALID;
		fingerprint = bs_ssh_key_fingerprint(pub);
	}
	copts.ssh_public_key = pub;
	copts.ssh_key_fingerprint = fingerprint;
	rc = bs_compute_open(c, &run->fleet, &copts, err);
	if (rc == 0 && run->apply) {
		node_event(run, BS_EV_NODE_STAGE, NULL, "machine", NULL, NULL, NULL);
		rc = bs_compute_ensure(*c, run->cli->node, ml, &rep, err);
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

static bool any_change(const struct bs_counts *c)
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
	c.other += j->machine_planned;
	add_counts(total, &c);
	memset(&ev, 0, sizeof(ev));
	ev.kind = BS_EV_NODE_DONE;
	ev.node = j->node.name;
	ev.counts = c;
	ev.ms = bs_now_ms() - j->t0;
	ev.error = j->rc != 0 ? j->err.msg : NULL;
	ev.engine = j->session_open && j->s.driver ? j->s.driver->info.version : NULL;
	ev.requests = (j->w ? bs_nodework_requests(j->w) : 0) +
		      (j->session_open && j->s.driver ? bs_docker_request_count(j->s.driver) : 0);
	run->requests += ev.requests;
	emit(run, &ev);
	bs_nodework_free(j->w);
	j->w = NULL;
	if (j->session_open)
		bs_node_session_close(&j->s);
	else
		free(j->s.name); /* what a failed bs_node_prepare leaves */
	j->s.name = NULL;
	j->session_open = false;
	free(j->tasks);
}

static enum bs_report_mode report_mode(const struct bs_cli *cli)
{
	if (cli->json)
		return BS_REPORT_JSON;
	return isatty(STDOUT_FILENO) ? BS_REPORT_TTY : BS_REPORT_PLAIN;
}

static int run_verb(struct run *run)
{
	const struct bs_recipe *r = run->recipe;
	struct bs_compute *c = NULL;
	struct bs_machine_list ml = {0};
	struct bs_err err = BS_ERR_INIT;
	struct bs_counts total;
	struct bs_event ev;
	long long t0 = bs_now_ms();
	size_t i;
	int code = BS_EXIT_OK, rc;
	bool failed = false;

	memset(&total, 0, sizeof(total));
	memset(&ev, 0, sizeof(ev));
	ev.kind = BS_EV_RUN_START;
	ev.verb = run->verb;
	ev.project = r->project;
	ev.file = r->file;
	ev.n_nodes = (int)r->n_nodes;
	emit(run, &ev);

	if (run->apply && (rc = bs_node_tls_init(&run->fleet, &err)) != 0)
		goto fail;
	rc = machines(run, &c, &ml, &err);
	if (rc != 0)
		goto fail;
	run->compute = c;
	run->jobs = bs_xcalloc(r->n_nodes ? r->n_nodes : 1, sizeof(*run->jobs));
	for (i = 0; i < r->n_nodes; i++) {
		const struct bs_node *n = &r->nodes[i];
		const struct bs_machine *m = find_machine(&ml, n->name);
		struct nodejob *j;

		if (!selected_node(run, n))
			continue;
		j = &run->jobs[run->n_jobs++];
		memset(j, 0, sizeof(*j));
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
	if (run->cli->node != NULL) {
		bool known = false;

		for (i = 0; i < r->n_nodes && !known; i++)
			known = strcmp(run->cli->node, r->nodes[i].name) == 0 ||
				strcmp(run->cli->node, r->nodes[i].group) == 0;
		if (!known) {
			bs_cli_error("no node named '%s' in %s", run->cli->node, r->file);
			code = BS_EXIT_USAGE;
			goto out;
		}
	}
	/* destroy on machines bootstrap made: the machines go, whatever their
	 * power state, and all on them */
	if (run->destroy && !bs_provider_existing(r->provider.type)) {
		for (i = 0; i < run->n_jobs; i++) {
			const struct bs_machine *m = find_machine(&ml, run->jobs[i].node.name);

			if (m != NULL && destroy_machine(run, c, m, "destroy", &total) != 0)
				failed = true;
		}
		if (run->cli->node == NULL && extra_machines(run, c, &total) != 0)
			failed = true;
		run->n_jobs = 0;
	}
	pool_run(run, phase1, NULL);
	for (i = 0; i < run->n_jobs; i++)
		failed = failed || run->jobs[i].rc != 0;
	if (r->cluster.type != BS_CLUSTER_NONE && run->n_jobs > 0 && !bs_cli_interrupted &&
	    (run->plan || run->status || !failed) && cluster(run, &total) != 0)
		failed = true;
	if (run->destroy && !failed && !bs_cli_interrupted)
		pool_run(run, destroy_rest, NULL);
	if (run->apply && !failed && !bs_cli_interrupted) {
		rolling(run);
	} else if (run->apply && !bs_cli_interrupted) {
		size_t skipped = 0;

		for (i = 0; i < run->n_jobs; i++)
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
	for (i = 0; i < run->n_jobs; i++) {
		failed = failed || run->jobs[i].rc != 0;
		run->locked = run->locked || run->jobs[i].rc == BS_ERR_LOCKED;
		finish_node(run, &run->jobs[i], &total);
	}
	if (c != NULL && c->creates && !failed && !bs_cli_interrupted && run->cli->node == NULL &&
	    (run->apply || run->plan) && extra_machines(run, c, &total) != 0)
		failed = true;
	goto out;
fail:
	bs_cli_error("%s", err.msg);
	failed = true;
out:
	memset(&ev, 0, sizeof(ev));
	ev.kind = BS_EV_SUMMARY;
	ev.verb = run->verb;
	ev.counts = total;
	ev.ms = bs_now_ms() - t0;
	ev.requests = run->requests;
	emit(run, &ev);
	if (bs_cli_interrupted)
		code = BS_EXIT_INTERRUPTED;
	else if (code == BS_EXIT_OK && failed)
		code = run->locked ? BS_EXIT_LOCKED : BS_EXIT_FAILURE;
	else if (code == BS_EXIT_OK && run->plan && run->cli->detailed_exitcode &&
		 any_change(&total))
		code = BS_EXIT_CHANGES;
	free(run->jobs);
	bs_machine_list_free(&ml);
	if (c != NULL)
		c->ops->free(c);
	return code;
}

int bs_cli_run(const struct bs_cli *cli)
{
	struct bs_local_lock *lock = NULL;
	struct bs_recipe *recipe;
	struct bs_err err = BS_ERR_INIT;
	struct run run;
	char *what;
	int code;

	if (cli->n_args != 1) {
		bs_cli_error(cli->n_args == 0
				     ? "%s needs a recipe (for example recipes/local.yaml)"
				     : "%s takes one recipe; for several, run it once per recipe",
			     bs_cli_verb_name(cli->verb));
		return BS_EXIT_USAGE;
	}
	recipe = bs_cli_load_recipe(cli, cli->args[0], &code);
	if (recipe == NULL)
		return code;
	memset(&run, 0, sizeof(run));
	run.cli = cli;
	run.recipe = recipe;
	bs_recipe_fleet(recipe, &run.fleet);
	run.verb = bs_cli_verb_name(cli->verb);
	run.apply = cli->verb == BS_VERB_APPLY;
	run.plan = cli->verb == BS_VERB_PLAN;
	run.status = cli->verb == BS_VERB_STATUS;
	run.destroy = cli->verb == BS_VERB_DESTROY;
	pthread_mutex_init(&run.mu, NULL);
	what = bs_xasprintf("bootstrap %s %s", run.verb, cli->args[0]);
	run.owner = bs_lock_owner_text(what);
	bs_cli_signals_install(
		"\nbootstrap: stopping: waits end now, actions in flight finish or roll back "
		"(a second signal aborts them)\n");
	/* plan and status only look: they take no lock */
	if (run.apply || run.destroy) {
		int rc = bs_local_lock_acquire(&lock, bs_state_dir(), recipe->project, what, 0,
					       &bs_cli_interrupted, &err);

		if (rc == BS_ERR_LOCKED && cli->lock_wait_s > 0) {
			/* say why nothing happens yet: a wait may be long */
			bs_log(BS_LOG_INFO,
			       "project %s is locked by another run: waiting up to %lld s",
			       recipe->project, cli->lock_wait_s);
			bs_err_clear(&err);
			rc = bs_local_lock_acquire(&lock, bs_state_dir(), recipe->project, what,
						   (long)cli->lock_wait_s * 1000,
						   &bs_cli_interrupted, &err);
		}
		if (rc != 0) {
			bs_cli_error("%s", err.msg);
			code = rc == BS_ERR_LOCKED	  ? BS_EXIT_LOCKED
			       : rc == BS_ERR_INTERRUPTED ? BS_EXIT_INTERRUPTED
							  : BS_EXIT_FAILURE;
			goto out;
		}
	}
	run.rep = bs_reporter_open(report_mode(cli), stdout, cli->verbosity, cli->color);
	code = run_verb(&run);
	bs_reporter_close(run.rep);
out:
	bs_local_lock_release(lock);
	pthread_mutex_destroy(&run.mu);
	free(run.owner);
	free(what);
	bs_recipe_free(recipe);
	return code;
}
