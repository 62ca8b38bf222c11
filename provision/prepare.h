/*
 * prepare.h - make a fleet's nodes Docker hosts, several at once: the
 * `prepare` verb's work (provision/node.h does one node).
 *
 * One worker thread per node, at most `parallel` at once; each worker owns
 * its node's SSH session, tunnel and engine client (libssh2 sessions are
 * not thread-safe) and closes them when the node is done. The caller hears
 * of each node on its own thread as the node finishes (on_done), in the
 * order they finish. After *interrupted is set, the workers finish the
 * node they are on and start no other.
 */
#ifndef BS_PROVISION_PREPARE_H
#define BS_PROVISION_PREPARE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "provision/fleet.h"
#include "provision/node.h"
#include "util/error.h"

/* What became of one node. */
struct bs_prepared {
	const struct bs_node *node;
	int rc; /* 0: ready */
	struct bs_err err;
	struct bs_dockerhost_report report;
	char endpoint[256]; /* how the engine was reached */
	char engine[64];    /* its version */
	int attempts;	    /* SSH connection attempts */
	long long ms_ssh, ms_docker, ms_endpoint;
};

typedef void (*bs_prepared_fn)(const struct bs_prepared *p, void *payload);

struct bs_prepare_opts {
	const char *only; /* a node or entry name; NULL: every node */
	int parallel;	  /* workers; <= 0: 8 */
	/* every node's settings, or per_node[i] for fleet->nodes[i] */
	const struct bs_node_prepare_opts *node_opts;
	const struct bs_node_prepare_opts *per_node;
	volatile sig_atomic_t *interrupted; /* NULL: never */
	bs_prepared_fn on_done;		    /* NULL: nobody listens */
	void *payload;
};

struct bs_prepare_result {
	size_t selected; /* nodes the run was for */
	size_t finished; /* of those, the ones that ended (ready or failed) */
	size_t failed;
	bool locked; /* a node was locked by another run */
};

/*
 * Prepare the fleet's nodes (those opts->only selects). Returns 0 once
 * every started node ended (out says how they did), BS_ERR_NOT_FOUND when
 * opts->only names no node (err says so), BS_ERR_IO when no thread
 * could be started.
 */
int bs_prepare_fleet(const struct bs_fleet *fleet, const struct bs_prepare_opts *opts,
		     struct bs_prepare_result *out, struct bs_err *err);

#endif
