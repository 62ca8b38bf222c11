/*
 * converge.h - one node's containers: observe, plan the difference, act.
 *
 * A struct bs_nodework holds what one node should run (the recipe's
 * containers placed on it), what it runs (containers labelled with the
 * project), and the actions between the two. Identity is by label
 * (spec.h): nothing about the fleet is kept in a local file.
 *
 * Placement: replica r of a container (1-based) runs on the ((r-1) mod N)th
 * of the N nodes its selectors choose, in recipe order. It depends only on
 * the recipe, so every run and every machine agrees on it.
 *
 * Actions, in the order apply does them on a node:
 *   networks, volumes          the project network, named volumes
 *   images                     pull, build from git on the node, or
 *                              transfer from the local engine
 *   remove                     duplicates, scaled-down replicas, replicas
 *                              placed elsewhere, undeclared (prune: true)
 *   rename, update, start      containers that are right but renamed by an
 *                              interrupted run, drifted in place, stopped
 *   create                     missing replicas
 *   replace                    spec or image changed; these wait for the
 *                              rolling phase (bs_nodework_roll), which the
 *                              caller runs one replica of a container at a
 *                              time across the fleet.
 * Every step is safe to interrupt: a run killed at any point leaves
 * containers whose labels let the next run finish the job (a replacement
 * in flight leaves two candidates for one replica; the next run keeps the
 * one that matches and removes the other).
 *
 * A nodework belongs to one thread at a time (its driver's rule).
 */
#ifndef BS_DEPLOY_CONVERGE_H
#define BS_DEPLOY_CONVERGE_H

#include <signal.h>
#include <stdbool.h>

#include "container/driver.h"
#include "deploy/events.h"
#include "deploy/recipe.h"

struct bs_nodework;

struct bs_converge_opts {
	const struct bs_recipe *recipe;
	const struct bs_node *node; /* the node, as the recipe names it */
	struct bs_cdriver *driver;  /* the node's engine; NULL: none yet (plan) */
	/* the engine bootstrap runs next to, for image transfer (URL, or NULL:
	 * DOCKER_HOST or the default socket); opened on first need */
	const char *local_engine;
	bs_report_fn report;
	void *payload;
	/* an audit line per action (the node lock's log); may be NULL */
	int (*audit)(void *audit_payload, const char *line);
	void *audit_payload;
	long health_timeout_ms; /* 0: from the healthcheck, at least 60 s */
	/* inspect every container for its in-place settings (restart, limits),
	 * even those whose label says they are as wanted: finds changes made
	 * with docker update by hand */
	bool refresh;
	/* the node's engine again, for further connections: actions on
	 * different containers run up to parallel at once (not over an SSH
	 * stream endpoint: its session belongs to one thread) */
	const struct bs_endpoint *ep;
	int parallel;
	/* set: start no new action, end the waits (health, pulls) */
	volatile sig_atomic_t *cancel;
	volatile sig_atomic_t *abort; /* set: stop network calls now */
};

int bs_nodework_new(struct bs_nodework **out, const struct bs_converge_opts *opts);
void bs_nodework_free(struct bs_nodework *w);

/* Look at the node: images and the project's containers. */
int bs_nodework_observe(struct bs_nodework *w, struct bs_err *err);

/* apply: networks, volumes and images (then observes image IDs again). */
int bs_nodework_prepare(struct bs_nodework *w, struct bs_err *err);

/* Compute the actions; with report, each is reported as planned. */
void bs_nodework_plan(struct bs_nodework *w, bool report);

/* apply: every action except replacements. Stops at the first failure. */
int bs_nodework_apply(struct bs_nodework *w, struct bs_err *err);

/*
 * Start order across nodes (depends_on), for the caller that runs every
 * node's level l before any node's level l + 1: apply in levels.
 * bs_nodework_apply_level(w, 0) does what apply does before its starts and
 * creates, then those of dependency level 0; each next level its own,
 * without waiting (the caller waited with bs_nodework_wait_dep on every
 * node that runs a dependency); the recipe's last level what apply does
 * after.
 */
int bs_nodework_apply_level(struct bs_nodework *w, int level, struct bs_err *err);
/* One wait: a container that is to start, and one of its dependencies. */
struct bs_dep_wait {
	const struct bs_container *dependent;
	const struct bs_dependency *dep;
};
/* The waits that this node's starts and creates of a level need, appended
 * to *v (grown; caller frees), one per dependency and condition
 * (service_started needs none: the order gives it). */
void bs_nodework_level_waits(const struct bs_nodework *w, int level, struct bs_dep_wait **v,
			     size_t *n);
/* Wait until this node's replicas of dep->container meet dep's condition
 * (bounded by the dependency's update.timeout or healthcheck; the cancel
 * flag ends it); dependent names the one waiting, in the error. */
int bs_nodework_wait_dep(struct bs_nodework *w, const char *dependent,
			 const struct bs_dependency *dep, struct bs_err *err);
/* Starts and creates of level and above that will not run: reported as
 * skipped, with why; returns how many. */
size_t bs_nodework_skip_from(struct bs_nodework *w, int level, const char *why);

/* Replacements waiting for the rolling phase, and the container each is
 * for (a replica of that container at a time, fleet-wide). */
size_t bs_nodework_n_rolling(const struct bs_nodework *w);
const char *bs_nodework_rolling_container(const struct bs_nodework *w, size_t i);
/* Do replacement i: start-first when the container publishes no fixed
 * host port, else stop-first; wait for health; roll back on failure (the
 * error then carries the new container's last log lines). */
int bs_nodework_roll(struct bs_nodework *w, size_t i, struct bs_err *err);

/* status: report each container as observed (state, health, drift). */
void bs_nodework_status(struct bs_nodework *w);

/* destroy: the project's containers on the node. */
int bs_nodework_destroy(struct bs_nodework *w, struct bs_err *err);
/* ... or only those of one depends_on level, for the caller that removes
 * every node's deepest level first (bs_recipe_dep_top down to 0). */
int bs_nodework_destroy_level(struct bs_nodework *w, int level, struct bs_err *err);
/* ... then, once every node's containers are gone (node entries may share
 * an engine, and with it the network and volumes): the project network,
 * and the recipe's volumes when asked. */
int bs_nodework_destroy_rest(struct bs_nodework *w, bool volumes, struct bs_err *err);

/* Docker API requests sent on the nodework's own connections (parallel
 * workers', the local engine's), not counting opts.driver's. */
unsigned long bs_nodework_requests(const struct bs_nodework *w);

/* What was done (apply) or would be done (plan). */
const struct bs_counts *bs_nodework_counts(const struct bs_nodework *w);

#endif
