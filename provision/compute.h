/*
 * compute.h - compute drivers: start or find the machines a recipe asks
 * for. One file per provider fills struct bs_compute_ops (Libcloud's
 * NodeDriver shape): list the project's nodes, create one, destroy one,
 * wait until one runs with an address.
 *
 * Identity lives with the provider, never in a local state file: every
 * machine bootstrap creates carries the labels/tags
 *   bootstrap.project=<recipe project>   bootstrap.node=<recipe node name>
 * (Hetzner labels; DigitalOcean tags "bootstrap-project:<p>" and
 * "bootstrap-node:<n>"; local nodes: container labels io.bootstrap.project
 * and io.bootstrap.node). list() returns only machines with this project's
 * label, so a run from another machine with an empty disk sees the same
 * fleet, and nothing of another project is ever touched.
 *
 * A driver instance belongs to one thread. Drivers never print; errors
 * name the provider, the node and the fix (BS_ERR_AUTH for 401/403,
 * BS_ERR_NOT_FOUND, BS_ERR_CONFLICT for a name taken, BS_ERR_API for a
 * quota or an action that ended in error, BS_ERR_TIMEOUT, BS_ERR_NETWORK;
 * 429 and 5xx are retried inside the driver with bounded backoff, honouring
 * the rate-limit headers, before they become errors).
 */
#ifndef BS_PROVISION_COMPUTE_H
#define BS_PROVISION_COMPUTE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "deploy/recipe.h"
#include "util/error.h"

/* Libcloud's NodeState vocabulary. */
enum bs_node_state {
	BS_NODE_RUNNING,
	BS_NODE_STARTING,
	BS_NODE_PENDING,
	BS_NODE_REBOOTING,
	BS_NODE_STOPPING,
	BS_NODE_STOPPED,
	BS_NODE_TERMINATED,
	BS_NODE_ERROR,
	BS_NODE_UNKNOWN,
};

const char *bs_node_state_name(enum bs_node_state s);

/* A machine as the provider reports it. All strings owned. */
struct bs_machine {
	char *id;      /* the provider's id */
	char *name;    /* the recipe node name (from its label/tag) */
	char *project; /* from its label/tag */
	enum bs_node_state state;
	char *ssh_host; /* where SSH answers (public IPv4; local: 127.0.0.1), NULL until known */
	int ssh_port;	/* 22 on clouds; local: the published port */
	char *size;	/* server type / droplet size, as the provider says */
	char *image;
	char *region;
};

void bs_machine_free(struct bs_machine *m);

struct bs_machine_list {
	struct bs_machine *v;
	size_t n;
};

void bs_machine_list_free(struct bs_machine_list *l);

struct bs_compute_opts {
	long request_timeout_ms;    /* one API call; 0: 30 s */
	long running_timeout_ms;    /* create -> running with an address; 0: 10 min */
	const char *ssh_public_key; /* OpenSSH one-line public key to install */
	const char *state_dir;	    /* $BOOTSTRAP_DIR */
	volatile sig_atomic_t *cancel;
};

struct bs_compute;

struct bs_compute_ops {
	const char *name; /* "local", "static", "hetzner", "digitalocean" */
	/* every machine of the recipe's project (any state), sorted by name */
	int (*list)(struct bs_compute *c, struct bs_machine_list *out, struct bs_err *err);
	/* start the machine for node (labelled with project and node name);
	 * returns at once with what the provider said (often not running) */
	int (*create)(struct bs_compute *c, const struct bs_node *node, struct bs_machine *out,
		      struct bs_err *err);
	/* remove the machine and what the driver made for it (volumes) */
	int (*destroy)(struct bs_compute *c, const struct bs_machine *m, struct bs_err *err);
	/* poll until m runs and has an SSH address, updating *m */
	int (*wait_running)(struct bs_compute *c, struct bs_machine *m, struct bs_err *err);
	void (*free)(struct bs_compute *c);
};

struct bs_compute {
	const struct bs_compute_ops *ops;
	const struct bs_recipe *recipe; /* borrowed, read-only */
	struct bs_compute_opts opts;
	bool creates; /* false for static: never creates or destroys */
};

/* The driver for recipe->provider.type. */
int bs_compute_open(struct bs_compute **out, const struct bs_recipe *recipe,
		    const struct bs_compute_opts *opts, struct bs_err *err);

struct bs_compute_report {
	int found;   /* machines already there (adopted) */
	int created; /* machines created by this call */
	int extra;   /* machines of the project that the recipe no longer names */
};

/*
 * The machines for the recipe's nodes (only the node or entry named only,
 * when not NULL), in recipe order: found again by label, created when
 * missing (never twice: a machine a killed run created is found and
 * adopted), then waited for until each runs with an SSH address. Extra
 * machines are counted, not touched.
 */
int bs_compute_ensure(struct bs_compute *c, const char *only, struct bs_machine_list *out,
		      struct bs_compute_report *report, struct bs_err *err);

/* One constructor per driver file. */
int bs_compute_static_open(struct bs_compute **out, const struct bs_recipe *recipe,
			   const struct bs_compute_opts *opts, struct bs_err *err);
int bs_compute_local_open(struct bs_compute **out, const struct bs_recipe *recipe,
			  const struct bs_compute_opts *opts, struct bs_err *err);
int bs_compute_hetzner_open(struct bs_compute **out, const struct bs_recipe *recipe,
			    const struct bs_compute_opts *opts, struct bs_err *err);
int bs_compute_digitalocean_open(struct bs_compute **out, const struct bs_recipe *recipe,
				 const struct bs_compute_opts *opts, struct bs_err *err);

#endif
