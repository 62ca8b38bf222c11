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
 * A machine also records the SSH public key it was created with, by its
 * fingerprint (Hetzner label bootstrap.ssh-key, DigitalOcean tag
 * "bootstrap-key:...", both in the form bs_compute_key_label() gives; local
 * nodes: container label io.bootstrap.ssh-key, "SHA256:..."), so that a run
 * whose key a found machine refuses can say which key it wants.
 *
 * Power: a stopped machine is found by list() like any other and powered
 * on by start() (Hetzner poweron, DigitalOcean power_on, docker start);
 * destroy() removes a machine in any power state.
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

#include "provision/fleet.h"
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
	char *ssh_key; /* fingerprint ("SHA256:...") of the public key it was
			* created with, from its label/tag; NULL when not recorded */
	bool created;  /* bs_compute_ensure created it in this run */
	bool started;  /* bs_compute_ensure powered it on in this run */
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
	/* "SHA256:..." of ssh_public_key, recorded on each machine created
	 * (see the top of this file); NULL: nothing recorded */
	const char *ssh_key_fingerprint;
	const char *state_dir; /* $BOOTSTRAP_DIR */
	/* set by the first Ctrl-C or SIGTERM: every wait and poll returns
	 * BS_ERR_INTERRUPTED within 200 ms, requests in flight are abandoned */
	volatile sig_atomic_t *cancel;
};

struct bs_compute;

/* What a cloud offers (bootstrap locations): its locations or regions,
 * and its server types or sizes with their price and where each can be
 * ordered now. */
struct bs_catalog_location {
	char *name;	   /* "fsn1", "ams3" */
	char *description; /* "Falkenstein DC Park 1", "Amsterdam 3" */
	char *country;	   /* "DE", or NULL */
	bool available;	   /* new machines can be made there */
};
struct bs_catalog_size {
	char *name; /* "cx22", "s-1vcpu-1gb" */
	char *arch; /* "x86", "arm", or NULL */
	int cores;
	double memory_gb;
	int disk_gb;
	double price_monthly, price_hourly; /* the lowest where offered; -1: unknown */
	const char *currency;		    /* "EUR", "USD" */
	struct bs_strv where;		    /* the locations it can be ordered in */
};
struct bs_catalog {
	struct bs_catalog_location *locations;
	size_t n_locations;
	struct bs_catalog_size *sizes;
	size_t n_sizes;
};
void bs_catalog_free(struct bs_catalog *c);

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
	/* power on a stopped machine; returns once the provider took the
	 * request (wait_running follows). NULL: the provider has no power state */
	int (*start)(struct bs_compute *c, struct bs_machine *m, struct bs_err *err);
	/* before anything is created (plan and apply): the recipe's server
	 * types/sizes, image and location/region exist at the provider and can
	 * still be ordered. An unknown or deprecated one is BS_ERR_INVALID, the
	 * message names the recipe key (with FILE:LINE:COL) and lists valid
	 * names. NULL: nothing to check */
	int (*check)(struct bs_compute *c, struct bs_err *err);
	/* the provider's locations and sizes (bootstrap locations); NULL:
	 * it has none (local, static) */
	int (*catalog)(struct bs_compute *c, struct bs_catalog *out, struct bs_err *err);
	void (*free)(struct bs_compute *c);
};

struct bs_compute {
	const struct bs_compute_ops *ops;
	struct bs_fleet fleet; /* a copy of the caller's view; strings borrowed */
	struct bs_compute_opts opts;
	bool creates; /* false for static: never creates or destroys */
};

/* The driver for fleet->provider.type (the fleet's strings and nodes must
 * outlive the driver). */
int bs_compute_open(struct bs_compute **out, const struct bs_fleet *fleet,
		    const struct bs_compute_opts *opts, struct bs_err *err);

struct bs_compute_report {
	int found;   /* machines already there (adopted) */
	int created; /* machines created by this call */
	int started; /* stopped machines powered on by this call */
	int extra;   /* machines of the project that the recipe no longer names */
};

/*
 * The machines for the recipe's nodes (only the node or entry named only,
 * when not NULL), in recipe order: found again by label, created when
 * missing (never twice: a machine a killed run created is found and
 * adopted), powered on when stopped, then waited for until each runs with
 * an SSH address. Extra machines are counted, not touched.
 */
int bs_compute_ensure(struct bs_compute *c, const char *only, struct bs_machine_list *out,
		      struct bs_compute_report *report, struct bs_err *err);

/*
 * Key identity. bs_compute_key_label: the label/tag-safe form of a
 * fingerprint "SHA256:<base64>": "SHA256_<base64url>" (50 characters: a
 * valid Hetzner label value, since the last base64 character of a 32-byte
 * digest is always alphanumeric, and a valid DigitalOcean tag part).
 * bs_compute_key_from_label: back to "SHA256:<base64>"; NULL when label is
 * not one. Both return NULL on bad input; the caller frees.
 */
char *bs_compute_key_label(const char *fingerprint);
char *bs_compute_key_from_label(const char *label);

/* The comment a machine's host keys are pinned with in known_hosts,
 * "bootstrap:PROVIDER:ID", so that they can be forgotten when it goes even
 * when its address is no longer known (a stopped local node publishes no
 * port). NULL for machines bootstrap does not make (static). Caller frees. */
char *bs_compute_host_key_tag(const struct bs_compute *c, const struct bs_machine *m);

/* "FILE:LINE:COL: provider.KEY", or the node entry's place and
 * "nodes (NAME): KEY" when node is not NULL: where the recipe sets what a
 * check() refuses. */
void bs_compute_where(const struct bs_compute *c, const struct bs_node *node, const char *key,
		      char *out, size_t len);

/* One constructor per driver file. */
int bs_compute_static_open(struct bs_compute **out, const struct bs_fleet *fleet,
			   const struct bs_compute_opts *opts, struct bs_err *err);
int bs_compute_local_open(struct bs_compute **out, const struct bs_fleet *fleet,
			  const struct bs_compute_opts *opts, struct bs_err *err);
int bs_compute_hetzner_open(struct bs_compute **out, const struct bs_fleet *fleet,
			    const struct bs_compute_opts *opts, struct bs_err *err);
int bs_compute_digitalocean_open(struct bs_compute **out, const struct bs_fleet *fleet,
				 const struct bs_compute_opts *opts, struct bs_err *err);

#endif
