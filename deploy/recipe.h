/*
 * recipe.h - the recipe: one YAML file that describes a fleet, as typed
 * structs.
 *
 * bs_recipe_load() reads the file, expands ${VAR} references, checks every
 * section and every cross reference, and either returns a complete model or
 * reports every problem it found (not only the first) as diagnostics with
 * FILE:LINE:COLUMN. Nothing in the rest of the program sees YAML: the
 * provisioner and the container driver receive these structs (or values
 * taken from them), never generic maps.
 *
 * Secrets: a value is secret when it sits in a secret field (registry and
 * SSH passwords, key passphrases, provider tokens, a container's secrets
 * map) or was built from an environment variable that some secret field
 * uses. Secret values are flagged (struct bs_kv.secret) and listed in
 * recipe->secrets, so that every output can mask them.
 *
 * Ownership: the recipe owns every string and array reachable from it;
 * bs_recipe_free() releases them all (wiping secrets). A loaded recipe is
 * read-only and may be shared by worker threads.
 */
#ifndef BS_DEPLOY_RECIPE_H
#define BS_DEPLOY_RECIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deploy/diag.h"
#include "deploy/interp.h"
#include "provision/fleet.h"
#include "util/str.h"

struct bs_registry {
	char *server; /* host[:port] */
	char *username;
	char *password; /* secret */
	struct bs_recipe_loc loc;
};

enum bs_pull_policy {
	BS_PULL_MISSING, /* pull when the node lacks the image (default) */
	BS_PULL_ALWAYS,	 /* re-pull when the registry digest changed */
	BS_PULL_NEVER,	 /* the image must be on the node (or be built) */
};

/* A node selector: a node or node-entry name, or a key=value label. */
struct bs_selector {
	char *key;   /* name, or label key */
	char *value; /* NULL for a name selector */
	struct bs_recipe_loc loc;
};

struct bs_selectors {
	struct bs_selector *v;
	size_t n;
	size_t cap;
};

struct bs_image {
	char *name; /* reference: [registry/]repo[:tag][@digest] */
	enum bs_pull_policy pull;
	char *build_git;	/* git URL, "#ref:subdir" allowed; NULL: pulled */
	char *build_dockerfile; /* path inside the context, or NULL */
	struct bs_kvlist build_args;
	struct bs_selectors nodes; /* where to prepare it; empty: where used */
	/* a local build context (compose build:): the directory, read when
	 * the recipe loads, sent to the node's engine as a tar that honours
	 * its .dockerignore; name is REPO:ctx-<12 hex of context_hash>, so an
	 * unchanged context is never rebuilt */
	char *build_context; /* absolute local directory, or NULL */
	char *build_target;  /* the Dockerfile stage to build, or NULL */
	char *context_hash;  /* SHA-256 hex of the context as sent */
	struct bs_recipe_loc loc;
};

enum bs_port_proto {
	BS_PROTO_TCP,
	BS_PROTO_UDP,
};

/* "[IP:][HOST:]CONTAINER[/proto]", ranges as "8000-8001:80-81". */
struct bs_port {
	char *host_ip;	/* NULL: all addresses */
	int host_start; /* 0: an ephemeral port chosen by Docker */
	int host_end;
	int container_start;
	int container_end;
	enum bs_port_proto proto;
	struct bs_recipe_loc loc;
};

/* Where local files (BS_MOUNT_LOCAL) live on a node:
 * BS_NODE_FILES_DIR/PROJECT/<16 hex of their hash>/NAME */
#define BS_NODE_FILES_DIR "/var/lib/bootstrap/files"

enum bs_mount_type {
	BS_MOUNT_VOLUME,    /* named volume "data:/path" */
	BS_MOUNT_BIND,	    /* host path "/srv/data:/path" */
	BS_MOUNT_ANONYMOUS, /* "/path" */
	BS_MOUNT_LOCAL,	    /* a local file or directory beside the recipe or compose
			     * file, copied to every node that runs the container */
	BS_MOUNT_TMPFS,	    /* a fresh tmpfs (compose tmpfs: or type: tmpfs) */
};

struct bs_mount {
	enum bs_mount_type type;
	char *source; /* volume name or absolute host path (for LOCAL: its path on
		       * the node, content-addressed); NULL: anonymous, tmpfs */
	char *target; /* absolute path in the container */
	bool read_only;
	/* BS_MOUNT_LOCAL: the local path (absolute), what it holds, and
	 * whether it is a secret (0600 on the node, its content never shown) */
	char *local_path;
	char *content_hash; /* SHA-256 hex over paths, modes and contents */
	bool is_dir;
	bool secret;
	int mode; /* a file's permission bits on the node; 0: as the local file */
	/* BS_MOUNT_TMPFS: size and mode from either form; tmpfs_options is
	 * the short form's (tmpfs: "PATH:OPTIONS", "" without), given to the
	 * engine as written (HostConfig.Tmpfs); NULL: the long form (Mounts) */
	int64_t tmpfs_size; /* bytes; 0: the engine's default */
	int tmpfs_mode;	    /* permission bits; 0: the engine's default (1777) */
	char *tmpfs_options;
	struct bs_recipe_loc loc;
};

/* depends_on: what must be true of another container before this one starts */
enum bs_dep_condition {
	BS_DEP_STARTED,	  /* service_started: it was started */
	BS_DEP_HEALTHY,	  /* service_healthy: its healthcheck passes */
	BS_DEP_COMPLETED, /* service_completed_successfully: it exited 0 */
};

struct bs_dependency {
	char *container; /* a container of the recipe */
	enum bs_dep_condition condition;
	bool restart;  /* restart: true (compose): recorded, not acted on */
	bool optional; /* required: false: a missing container is a warning */
	struct bs_recipe_loc loc;
};

struct bs_ulimit {
	char *name; /* nofile, nproc, ... */
	int64_t soft;
	int64_t hard;
};

/* logging: the engine's log driver (NULL: the node's default) */
struct bs_logging {
	char *driver;
	struct bs_kvlist options;
};

enum bs_restart_policy {
	BS_RESTART_NO,
	BS_RESTART_ALWAYS,
	BS_RESTART_ON_FAILURE,
	BS_RESTART_UNLESS_STOPPED,
};

struct bs_healthcheck {
	bool present;
	bool disable;	     /* test: [NONE] or disable: true */
	struct bs_strv test; /* ["CMD", ...] or ["CMD-SHELL", "..."] */
	int64_t interval_ms; /* 0: Docker's default */
	int64_t timeout_ms;
	int64_t start_period_ms;
	int retries; /* 0: Docker's default */
};

struct bs_resources {
	int64_t memory_bytes; /* 0: unlimited */
	int64_t nano_cpus;    /* 0: unlimited */
	int64_t pids;	      /* 0: bootstrap's default limit */
};

enum bs_update_order {
	BS_ORDER_AUTO,	      /* start-first unless a fixed host port is published */
	BS_ORDER_START_FIRST, /* the new container runs before the old one goes */
	BS_ORDER_STOP_FIRST,  /* the old container stops first */
};

/* Which network a container joins. */
enum bs_net_mode {
	BS_NET_PROJECT, /* PROJECT-net, made per node: containers reach each other by name */
	BS_NET_BRIDGE,	/* Docker's default bridge: no name resolution between containers */
	BS_NET_HOST,	/* the node's own network stack */
	BS_NET_NONE,	/* loopback only */
};

enum bs_failure_action {  /* a cluster service's failed update */
	BS_FAIL_ROLLBACK, /* back to the previous spec (the default) */
	BS_FAIL_PAUSE,	  /* stop there, as it is */
	BS_FAIL_CONTINUE, /* go on with the next tasks */
};

/* How a replacement goes (update: in the recipe). */
struct bs_update_conf {
	enum bs_update_order order;
	int64_t monitor_ms; /* without a healthcheck: how long the new one must keep running */
	int64_t timeout_ms; /* how long a new one may take to be healthy; 0: from its healthcheck */
	int failure_logs;   /* lines of a failed new one's output shown; default 20 */
	/* cluster services only */
	int parallelism;  /* tasks replaced at once; default 1 */
	int64_t delay_ms; /* between batches */
	enum bs_failure_action failure_action;
};

enum bs_cluster_type {
	BS_CLUSTER_NONE,
	BS_CLUSTER_SWARM,
};

enum bs_publish_mode {
	BS_PUBLISH_INGRESS, /* the routing mesh: every node answers (needs IPVS) */
	BS_PUBLISH_HOST,    /* only the nodes that run a task answer */
};

/* cluster.encrypt: the overlay network's IPsec (ESP) encryption */
enum bs_encrypt_mode {
	BS_ENCRYPT_AUTO,  /* encrypted when any node advertises a public address */
	BS_ENCRYPT_TRUE,  /* always (every node's kernel must have ESP) */
	BS_ENCRYPT_FALSE, /* plain VXLAN (keep the nodes on a private network) */
};

/* cluster: the recipe's nodes form one cluster; containers are services. */
struct bs_cluster_conf {
	enum bs_cluster_type type;
	struct bs_selectors managers; /* empty: the first node */
	enum bs_publish_mode publish;
	enum bs_encrypt_mode encrypt;
	/* what each node advertises to the others: an interface name, an
	 * address, "private" (the interface of its private network); NULL:
	 * the default route's interface */
	char *advertise;
	struct bs_recipe_loc loc;
	struct bs_recipe_loc publish_loc;
};

/* domains: how the per-node reverse proxy (Caddy) serves containers' domains */
enum bs_tls_mode {
	BS_TLS_AUTO,	 /* certificates from a public ACME CA (real DNS needed) */
	BS_TLS_INTERNAL, /* the proxy's own local CA (tests, private networks) */
	BS_TLS_OFF,	 /* plain HTTP on port 80 (TLS ends in front of the node) */
	BS_TLS_FILES,	 /* a certificate and key the recipe names (PEM files) */
};

/* The recipe volume name of the domain proxy's data (PROJECT-proxy-data):
 * a container's volume of that name is refused. */
#define BS_DOMAIN_PROXY_VOLUME "proxy-data"
#define BS_DOMAIN_PROXY_IMAGE "caddy:2" /* domains.proxy's default */

struct bs_domains_conf {
	char *base; /* CONTAINER.base for containers with expose:, or NULL */
	enum bs_tls_mode tls;
	char *email; /* ACME account contact, or NULL */
	char *proxy; /* the proxy's image; default caddy:2 */
	/* tls: files: the paths as written, and what they hold */
	char *cert_file, *key_file;
	char *cert_pem, *key_pem; /* key_pem is a secret */
	struct bs_recipe_loc loc;
};

struct bs_container {
	char *name;
	char *image;
	bool has_command;
	struct bs_strv command;
	bool has_entrypoint;
	struct bs_strv entrypoint;
	struct bs_kvlist environment;
	struct bs_kvlist secrets; /* delivered like environment, never shown */
	struct bs_port *ports;
	size_t n_ports;
	struct bs_mount *volumes;
	size_t n_volumes;
	enum bs_restart_policy restart;
	int restart_max_retries; /* on-failure:N */
	struct bs_healthcheck healthcheck;
	struct bs_kvlist labels;
	char *user;
	char *working_dir;
	int replicas;		   /* default 1 */
	struct bs_selectors nodes; /* empty: every node */
	struct bs_resources resources;
	int64_t stop_timeout_ms; /* SIGTERM to SIGKILL when bootstrap stops it; default 10 s */
	enum bs_net_mode network;
	struct bs_update_conf update;
	char *domain; /* given, or CONTAINER.domains.base with expose */
	int expose;   /* the port the proxy sends a domain's requests to; 0: unset */
	/* compose's expose: ports the container listens on, published to no
	 * host (Config.ExposedPorts; only the container side of each is set) */
	struct bs_port *exposed;
	size_t n_exposed;
	char *container_name; /* compose container_name: its one replica's engine name */
	struct bs_dependency *depends_on;
	size_t n_depends_on;
	int dep_level; /* 0 without depends_on, else 1 + its deepest dependency's (at load) */
	struct bs_strv profiles; /* compose profiles: deployed only when one is active */
	struct bs_strv cap_add, cap_drop;
	bool read_only; /* the root filesystem */
	struct bs_ulimit *ulimits;
	size_t n_ulimits;
	struct bs_kvlist extra_hosts; /* host name -> address */
	struct bs_logging logging;
	char *compose_file; /* the compose file it came from, or NULL */
	struct bs_recipe_loc loc;
	struct bs_recipe_loc name_loc; /* of the name, image, domain values */
	struct bs_recipe_loc image_loc;
	struct bs_recipe_loc domain_loc; /* of domain (or expose, when derived) */
	struct bs_recipe_loc expose_loc;
	struct bs_recipe_loc replicas_loc; /* of replicas (or the entry) */
	struct bs_recipe_loc nodes_loc;	   /* of nodes (or the entry) */
};

struct bs_recipe {
	char *file; /* path as given */
	int version;
	char *project;
	struct bs_provider provider;
	struct bs_ssh_conf ssh;
	struct bs_node *nodes; /* expanded: one per machine */
	size_t n_nodes;
	struct bs_docker_conf docker;
	struct bs_registry *registries;
	size_t n_registries;
	struct bs_image *images;
	size_t n_images;
	struct bs_container *containers;
	size_t n_containers;
	bool prune;
	struct bs_cluster_conf cluster;
	struct bs_domains_conf domains;
	struct bs_strv secrets;	      /* every secret value, for masking output */
	struct bs_strv compose_files; /* compose: files, as the recipe names them */
	struct bs_strv profiles;      /* the compose profiles active in this load */
};

struct bs_recipe_load_opts {
	bs_getenv_fn getenv_fn; /* NULL: getenv(3) */
	void *payload;
	/* compose profiles to activate (--profile); NULL: COMPOSE_PROFILES */
	const struct bs_strv *profiles;
};

#define BS_RECIPE_LOAD_OPTS_INIT                                                                   \
	{                                                                                          \
		NULL, NULL, NULL                                                                   \
	}

/*
 * Load and check a recipe file. On success returns 0 and sets *out (free
 * with bs_recipe_free). Every problem found is added to diags (which the
 * caller initialises with the file name and frees); warnings may be added
 * on success too. Returns BS_ERR_INVALID when the recipe has errors,
 * BS_ERR_IO when the file cannot be read (diags says why).
 */
int bs_recipe_load(struct bs_recipe **out, const char *path, const struct bs_recipe_load_opts *opts,
		   struct bs_diags *diags);

/* The same from memory; name is the file name shown in diagnostics. */
int bs_recipe_load_buffer(struct bs_recipe **out, const char *data, size_t len, const char *name,
			  const struct bs_recipe_load_opts *opts, struct bs_diags *diags);

void bs_recipe_free(struct bs_recipe *recipe);

/*
 * Parse a Compose short-syntax port ("[IP:][HOST:]CONTAINER[/proto]").
 * Returns NULL and fills *port (free port->host_ip), or the explanation of
 * what is wrong.
 */
const char *bs_port_parse(const char *spec, struct bs_port *port);

/*
 * Check an image reference, "[registry/]path[:tag][@sha256:hex]". NULL
 * when valid, or what is wrong; *has_tag tells whether a tag or digest
 * pins it.
 */
const char *bs_image_ref_problem(const char *ref, bool *has_tag);

/* compose: the keys of a compose service, and what bootstrap does with
 * one: "supported", "ignored" (a warning) or "refused" (an error); NULL
 * for a key that is not one. docs/compose.md is the same table. */
const char *bs_compose_key_status(const char *key);
/* Every key, NULL-terminated (static); returns how many. */
size_t bs_compose_keys(const char *const **names);

/* Does node match selector? */
bool bs_selector_matches(const struct bs_selector *sel, const struct bs_node *node);
/* Does c's nodes: list select node (no list: every node)? */
bool bs_container_selects(const struct bs_container *c, const struct bs_node *node);
/* Replicas of c that run on node (1-based numbers into *out, caller frees);
 * returns how many. */
size_t bs_placement(const struct bs_recipe *r, const struct bs_container *c,
		    const struct bs_node *node, int **out);
/* The local mounts (BS_MOUNT_LOCAL) of the containers that run on node (in
 * a cluster: that may run there), one per node path; *out is an array the
 * caller frees, of mounts the recipe owns. Returns how many. */
size_t bs_recipe_node_mounts(const struct bs_recipe *r, const struct bs_node *node,
			     const struct bs_mount ***out);
/* What a local mount's content hash starts with (bs_nodefiles_read's
 * salt): a secret's project and target, so that equal secrets of two
 * projects get unrelated paths; NULL for other mounts. Caller frees. */
char *bs_recipe_mount_salt(const struct bs_recipe *r, const struct bs_mount *m);

/* depends_on: how deep c sits (0 without dependencies, else one more than
 * its deepest dependency), and the deepest of the recipe's containers
 * (recipe_depends.c; the load refused cycles). */
int bs_recipe_dep_level(const struct bs_recipe *r, const struct bs_container *c);
int bs_recipe_dep_top(const struct bs_recipe *r);

/* Recipe key names of enum values ("local", "unless-stopped", ...). */
const char *bs_restart_policy_name(enum bs_restart_policy policy);
const char *bs_pull_policy_name(enum bs_pull_policy policy);
const char *bs_update_order_name(enum bs_update_order order);
const char *bs_net_mode_name(enum bs_net_mode mode);
const char *bs_failure_action_name(enum bs_failure_action action);
const char *bs_publish_mode_name(enum bs_publish_mode mode);

/* The registries: entry with credentials for an image reference, or NULL. */
const struct bs_registry *bs_recipe_registry_for(const struct bs_recipe *r, const char *ref);

const char *bs_tls_mode_name(enum bs_tls_mode mode);

/* Lowercase letters, digits and '-', not at the ends: DNS labels, names. */
bool bs_recipe_is_dns_label(const char *s);
/* A host name: dot-separated DNS labels, at most 253 characters. */
bool bs_recipe_is_hostname(const char *s);

/* The port a container's domain is routed to: expose:, else its only
 * container port; 0 when neither says. */
int bs_container_web_port(const struct bs_container *c);

/* Is node a manager of the recipe's cluster? */
bool bs_cluster_is_manager(const struct bs_recipe *r, const struct bs_node *node);

/* "auto", "true", "false". */
const char *bs_encrypt_mode_name(enum bs_encrypt_mode mode);

/* What provisioning needs of the recipe (provision/fleet.h): its file,
 * project, provider, SSH and Docker settings and nodes, borrowed from r
 * (valid while r is). */
void bs_recipe_fleet(const struct bs_recipe *r, struct bs_fleet *out);

/*
 * The normalised model as JSON text (defaults filled in, counts expanded,
 * secrets as "***"); caller frees. Used by `bootstrap validate --json`.
 */
char *bs_recipe_to_json(const struct bs_recipe *recipe);

#endif
