/*
 * cluster.h - the recipe's cluster (cluster: {type: swarm}): membership
 * and services, after every node is a Docker host.
 *
 * Membership, from what each node's engine says (GET /info) and what the
 * leader lists (GET /nodes):
 *   - a node in another swarm, or in a swarm that none of the recipe's
 *     managers is in, is an error that names it, found before anything is
 *     changed;
 *   - no recipe manager in a swarm: the first manager inits one,
 *     advertising the interface of its default route;
 *   - the others join with the manager or the worker token (tokens are
 *     secrets: never reported); roles follow the recipe (promote, demote);
 *   - each node's labels: io.bootstrap.project, .node, .group, the
 *     recipe's node labels, and io.bootstrap.place.CONTAINER=true where
 *     a container's selectors choose the node (a service's constraint);
 *   - a node of the project that the recipe no longer names is drained and
 *     removed from the swarm; an unreachable manager is reported.
 * Services (one per container, PROJECT-NAME, on the leader): created when
 * missing, updated through the version-index protocol when the spec hash
 * (bs_service_spec_json and the image ID) or the replicas differ, removed
 * with prune: true. Swarm runs the rolling update (update: parallelism,
 * delay, failure_action, order, monitor); the run waits, bounded, until
 * every replica runs the new spec or the update failed.
 *
 * Runs on the calling thread, after phase 1, with every node's driver.
 */
#ifndef BS_DEPLOY_CLUSTER_H
#define BS_DEPLOY_CLUSTER_H

#include <signal.h>
#include <stdbool.h>

#include "container/driver.h"
#include "deploy/events.h"
#include "deploy/recipe.h"

struct bs_cluster_member_in {
	const struct bs_node *node;
	struct bs_cdriver *d;  /* NULL: not reached (a failed node, plan of a new machine) */
	const char *advertise; /* interface or address other nodes reach it at; NULL: unknown */
	bool ipvs;	       /* the kernel has IPVS */
	/* an audit line per action on this node (its node lock); may be NULL */
	int (*audit)(void *payload, const char *line);
	void *audit_payload;
};

struct bs_cluster_opts {
	const struct bs_recipe *recipe;
	struct bs_cluster_member_in *nodes;
	size_t n_nodes;
	bool apply; /* act; else plan (report what would be done) */
	bool report_planned;
	bool status;  /* report each service as observed */
	bool destroy; /* remove the project's services; nodes leave */
	bs_report_fn report;
	void *payload;
	long wait_ms; /* per service convergence; 0: 5 min */
	volatile sig_atomic_t *cancel;
};

/* Converge (or plan, status, destroy) the cluster; counts are added to. */
int bs_cluster_run(const struct bs_cluster_opts *o, struct bs_counts *counts, struct bs_err *err);

/* The service name of a container (PROJECT-NAME); caller frees. */
char *bs_service_name(const char *project, const char *container);

#endif
