/*
 * pipeline.h - a recipe run end to end: apply, plan, status, destroy.
 *
 *   machines   the compute driver finds the recipe's machines by label
 *              and (apply) creates the missing ones
 *   phase 1    one worker per node, at most `parallel` at once: SSH,
 *              Docker installed and configured, the endpoint, the node
 *              lock, observe, plan; apply goes on with networks, volumes,
 *              images and every container action except replacements
 *   cluster    swarm membership and services (deploy/cluster.c), on the
 *              calling thread once phase 1 is over
 *   phase 2    rolling: replacements in waves; a wave holds at most one
 *              replica of each container, fleet-wide, so a service never
 *              loses more than one replica at a time. A failure stops the
 *              waves (the failed replica is rolled back by converge.c)
 *   machines   apply: machines of the project the recipe no longer names
 *              are destroyed, once everything else went well
 *
 * Node sessions stay open from phase 1 to the end: a node's SSH session,
 * tunnel and engine client are used by one thread at a time (the pool
 * hands a node to one worker), and closed by the calling thread at the end.
 *
 * The pipeline never prints: it tells what it does as events (events.h)
 * through opts->report, and returns the counts and an outcome. A problem
 * that stops the whole run (a provider that cannot list its machines, a
 * --node that names nothing) is a BS_EV_RUN_ERROR event.
 *
 * Interrupts: when *opts->interrupted becomes non-zero, no new action
 * starts and every wait ends within 200 ms; actions in flight end (a
 * replacement in flight is rolled back). *opts->aborted stops network
 * calls at once. Locks are released on every path.
 *
 * The machines and the nodes are reached through struct bs_pipeline_env:
 * the real compute drivers and node sessions by default, fakes in tests.
 */
#ifndef BS_DEPLOY_PIPELINE_H
#define BS_DEPLOY_PIPELINE_H

#include <signal.h>
#include <stdbool.h>

#include "deploy/events.h"
#include "deploy/recipe.h"
#include "provision/compute.h"
#include "provision/node.h"
#include "provision/nodefiles.h"

enum bs_pipeline_verb {
	BS_PIPELINE_APPLY,
	BS_PIPELINE_PLAN,
	BS_PIPELINE_STATUS,
	BS_PIPELINE_DESTROY,
};

/* What the pipeline does with a node's local files (provision/nodefiles.h). */
enum bs_pipeline_files_op {
	BS_FILES_SHIP,	 /* copy what is missing (dry_run: only find it) */
	BS_FILES_PRUNE,	 /* remove the stale copies the ship found */
	BS_FILES_REMOVE, /* remove the project's folder */
};

/* How the pipeline reaches machines and nodes. */
struct bs_pipeline_env {
	/* the recipe's compute driver (bs_compute_open) */
	int (*compute_open)(struct bs_compute **out, const struct bs_fleet *fleet,
			    const struct bs_compute_opts *opts, struct bs_err *err);
	/* one node up to a ready engine (bs_node_prepare); on failure the
	 * session holds nothing but its name */
	int (*node_prepare)(struct bs_node_session *out, const struct bs_fleet *fleet,
			    const struct bs_node *node, const struct bs_node_prepare_opts *opts,
			    struct bs_err *err);
	/* close a prepared session: engine, tunnel, node lock, SSH */
	void (*node_close)(struct bs_node_session *s);
	/* a line for the node's audit log (under its node lock) */
	int (*audit)(struct bs_node_session *s, const char *line, struct bs_err *err);
	/* the Docker API requests the session's engine client sent */
	unsigned long (*requests)(const struct bs_node_session *s);
	/* the node's local files; NULL: nothing is done with them */
	int (*node_files)(struct bs_node_session *s, enum bs_pipeline_files_op op,
			  const struct bs_nodefiles_opts *o, struct bs_nodefiles_state *state,
			  struct bs_err *err);
};

/* The real parts: compute drivers, SSH, Docker. */
extern const struct bs_pipeline_env bs_pipeline_env_real;

struct bs_pipeline_opts {
	enum bs_pipeline_verb verb;
	const char *node;	/* a node or entry name: only that one; NULL: all */
	int parallel;		/* nodes at once; <= 0: 8 */
	long long timeout_ms;	/* bounds engine waits and remote commands; 0: defaults */
	long long lock_wait_ms; /* wait for a node lock held by another run */
	bool refresh;		/* inspect every container */
	bool volumes;		/* destroy: named volumes too */
	bool strict_host_keys;	/* no trust on first use */
	bool assume_esp;	/* BOOTSTRAP_ASSUME_ESP: skip the kernel's IPsec check */
	const char *identity;	/* private key file overriding the recipe's */
	const char *owner;	/* who holds the node locks (bs_lock_owner_text) */
	volatile sig_atomic_t *interrupted; /* NULL: never */
	volatile sig_atomic_t *aborted;	    /* NULL: never */
	bs_report_fn report;		    /* every event; NULL: none */
	void *payload;
	const struct bs_pipeline_env *env; /* NULL: bs_pipeline_env_real */
};

enum bs_pipeline_outcome {
	BS_PIPELINE_OK,
	BS_PIPELINE_FAILED,	 /* something failed (told in events) */
	BS_PIPELINE_LOCKED,	 /* a node is locked by another run */
	BS_PIPELINE_INTERRUPTED, /* *interrupted was set */
	BS_PIPELINE_BAD_NODE,	 /* opts->node names no node of the recipe */
};

struct bs_pipeline_result {
	enum bs_pipeline_outcome outcome;
	struct bs_counts total; /* as in the summary event */
	unsigned long requests; /* Docker API requests, all nodes */
};

/* Run opts->verb over recipe. The caller holds the local project lock
 * (deploy/lock.h) for apply and destroy. */
void bs_pipeline_run(const struct bs_recipe *recipe, const struct bs_pipeline_opts *opts,
		     struct bs_pipeline_result *out);

/* Did the run (or plan) change anything, or would it? */
bool bs_counts_any_change(const struct bs_counts *c);

const char *bs_pipeline_verb_name(enum bs_pipeline_verb verb);

#endif
