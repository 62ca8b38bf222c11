/*
 * cluster.h - the recipe's cluster (cluster: {type: swarm}): membership
 * and services, after every node is a Docker host.
 *
 * Membership, from what each node's engine says (GET /info) and what the
 * leader lists (GET /nodes):
 *   - a node in another swarm, or in a swarm that none of the recipe's
 *     managers is in, is an error that names it, found before anything is
 *     changed;
 *   - no recipe manager in a swarm: the first manager inits one; each
 *     node advertises cluster.advertise resolved against its detection
 *     (default: the interface of its default route);
 *   - the others join with the manager or the worker token (tokens are
 *     secrets: never reported); roles follow the recipe (promote, demote);
 *   - each node's labels: io.bootstrap.project, .node, .group, the
 *     recipe's node labels, and io.bootstrap.place.CONTAINER=true where
 *     a container's selectors choose the node (a service's constraint);
 *   - a node of the project that the recipe no longer names is drained and
 *     removed from the swarm; an unreachable manager is reported.
 * The overlay (PROJECT-swarm, when a container uses the project network)
 * and the routing mesh's "ingress" are encrypted (IPsec ESP) for
 * cluster.encrypt: true, or auto with a node advertising a public address
 * (every node of the recipe detected in this run, by its detection, and
 * the swarm's other nodes by the address the leader lists). When one of
 * them carries the project's traffic (a container on the project
 * network, or ports published through the routing mesh), a node whose
 * kernel has no ESP is an error. encrypt: true is refused per node right
 * after its detection, before Docker is installed on it; auto is decided
 * here, before the swarm or the networks are touched. Their MTU option
 * is the smallest advertised interface's, never above 1500 (Docker
 * subtracts the VXLAN and ESP overheads). A network whose options differ
 * is recreated while nothing uses it (no service of the project for the
 * overlay; no service publishing through the routing mesh for ingress);
 * otherwise apply refuses, before any service changes, when it should be
 * encrypted and is not, and warns for the MTU, naming the fix. auto never
 * turns an encrypted network plain (the run may not see every node).
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
#include "provision/dockerhost.h"

struct bs_cluster_member_in {
	const struct bs_node *node;
	struct bs_cdriver *d;  /* NULL: not reached (a failed node, plan of a new machine) */
	bool detected;	       /* the fields below are its detection's (d may be NULL) */
	const char *route_if;  /* the default route's interface; NULL: unknown */
	bool ipvs;	       /* the kernel has IPVS */
	enum bs_esp esp;       /* the kernel has IPsec ESP (encrypted overlays) */
	const char *esp_error; /* the probe's answer when not; may be NULL */
	const struct bs_dockerhost_addr *addrs; /* its global addresses (detection) */
	size_t n_addrs;
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
	/* skip the ESP check (BOOTSTRAP_ASSUME_ESP=1: the probe is wrong) */
	bool assume_esp;
	volatile sig_atomic_t *cancel;
};

/* ---- the overlay network: pure parts, for the tests ---------------------- */

/* Is addr (IPv4 or IPv6 text) an address of the public internet: not
 * RFC 1918, 100.64.0.0/10 (CGNAT), loopback, link-local, IPv6 ULA
 * (fc00::/7) or link-local (fe80::/10), unspecified or multicast? Text
 * that is not an address is not public. */
bool bs_cluster_addr_is_public(const char *addr);

/* Does the project's traffic cross a swarm network: a container on the
 * project network (the overlay), or ports published through the routing
 * mesh (ingress)? Only then is a kernel without IPsec ESP refused. */
bool bs_cluster_needs_networks(const struct bs_recipe *r);

/* What a node advertises to the others (cluster.advertise resolved). */
struct bs_cluster_advert {
	char value[64]; /* sent as AdvertiseAddr: an interface name or an address */
	char addr[46];	/* the address it stands for, "" unknown */
	int mtu;	/* its interface's MTU, 0 unknown */
};

/*
 * Resolve want (cluster.advertise: NULL for the default route's
 * interface, an interface name, an address, or "private") against a
 * node's detection. "private" takes a private address: of a physical
 * interface (phys) before others, other than the default route's, then
 * the default route's when its address is private, then any other;
 * Docker's bridges and known virtual interfaces (virbr, tailscale, lxdbr,
 * cni, flannel, wg, podman, cali, vxlan) are never chosen. Errors name
 * the node and what it has.
 */
int bs_cluster_advertise_resolve(const char *want, const char *node, const char *route_if,
				 const struct bs_dockerhost_addr *addrs, size_t n_addrs,
				 struct bs_cluster_advert *out, struct bs_err *err);

/* One node as the overlay's decision sees it. */
struct bs_cluster_netnode {
	const char *name;
	const char *addr; /* advertised address; NULL or "": unknown (counts as public) */
	int mtu;	  /* 0 unknown */
	enum bs_esp esp;
	const char *esp_error;
	bool unprobed; /* not detected in this run (a swarm node only): ESP not checked */
};

struct bs_cluster_net {
	bool encrypted;
	int mtu;	     /* of the underlay (com.docker.network.driver.mtu): the smallest known,
		  * at most 1500; 0 none */
	char why[160];	     /* why encrypted ("node web-1 advertises the public address ...") */
	bool keep_encrypted; /* auto: an encrypted network is never turned plain */
};

/*
 * Decide the overlay's options: encrypted for encrypt: true, or for auto
 * when a node advertises a public (or unknown) address. Then, when need
 * (a network carries the project's traffic), every probed node must have
 * ESP (unless assume_esp): BS_ERR_UNSUPPORTED naming the first that has
 * not, the missing kernel support and the fixes. Without need a missing
 * ESP leaves the networks plain: nothing would cross them.
 */
int bs_cluster_net_decide(enum bs_encrypt_mode mode, bool assume_esp, bool need,
			  const struct bs_cluster_netnode *v, size_t n, struct bs_cluster_net *out,
			  struct bs_err *err);

/* How an existing overlay's options (as the engine lists them) differ from
 * net: "encrypted: no -> yes; mtu 1500 -> 1450", "" when they do not. No
 * mtu option is Docker's 1500; an unknown wanted MTU (0) is no drift, nor
 * is an encrypted network that net->keep_encrypted keeps. Caller frees. */
char *bs_cluster_overlay_drift(const struct bs_kvlist *have, const struct bs_cluster_net *net);

/* What to do with an existing network whose options were read into have. */
enum bs_net_action {
	BS_NET_KEEP,	 /* as wanted */
	BS_NET_RECREATE, /* differs, and nothing uses it: remove, create again */
	BS_NET_REFUSE,	 /* should be encrypted and is not, and in use: stop the run */
	BS_NET_WARN,	 /* differs otherwise (the MTU), in use: a warning */
};

/* The action for a network in use (used) or not; *drift (caller frees)
 * says how it differs, "" for BS_NET_KEEP. */
enum bs_net_action bs_cluster_net_action(const struct bs_kvlist *have,
					 const struct bs_cluster_net *net, bool used, char **drift);

/* Converge (or plan, status, destroy) the cluster; counts are added to. */
int bs_cluster_run(const struct bs_cluster_opts *o, struct bs_counts *counts, struct bs_err *err);

/* The service name of a container (PROJECT-NAME); caller frees. */
char *bs_service_name(const char *project, const char *container);

#endif
