/*
 * driver.h - the container driver interface, in the shape of Apache
 * Libcloud's Container API: containers, images, networks, volumes, events.
 *
 * A driver is a vtable plus its state; struct bs_cdriver is the first member
 * of every driver's own struct. Adding an engine is adding one file that
 * fills struct bs_cdriver_ops (Docker is docker.c). Callers use the table:
 * d->ops->container_start(d, "web", &err).
 *
 * A driver instance owns one connection to one engine and belongs to one
 * thread. Results returned through out-parameters are the caller's and are
 * freed with the matching *_free(). Every call returns 0 or a negative
 * bs_error and fills err with a sentence that names the engine and object.
 */
#ifndef BS_CONTAINER_DRIVER_H
#define BS_CONTAINER_DRIVER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "container/auth.h"
#include "container/endpoint.h"
#include "container/stream.h"
#include "util/error.h"
#include "util/str.h"

/* Oldest Docker Engine API bootstrap speaks. */
#define BS_DOCKER_MIN_API "1.41"

struct bs_cdriver;

/* ---- containers -------------------------------------------------------- */

enum bs_cstate { /* Libcloud's ContainerState vocabulary */
	BS_CSTATE_RUNNING,
	BS_CSTATE_STOPPED, /* exited, created */
	BS_CSTATE_PAUSED,
	BS_CSTATE_RESTARTING,
	BS_CSTATE_TERMINATED, /* removing, dead */
	BS_CSTATE_UNKNOWN,
};

struct bs_cport_binding {
	char *host_ip; /* NULL: every address */
	int host_port; /* 0: ephemeral */
	int container_port;
	bool udp;
};

/* A container as list and inspect see it. */
struct bs_cinfo {
	char *id;
	char *name;	/* without the leading '/' */
	char *image;	/* as created (reference) */
	char *image_id; /* sha256:... */
	enum bs_cstate state;
	char *status;	     /* engine's human status: "Up 2 minutes" */
	char *health;	     /* healthy, unhealthy, starting, or NULL */
	char *health_output; /* the last health check's output (inspect), or NULL */
	int health_exit;     /* and its exit code */
	int exit_code;
	int restart_count; /* restarts by its restart policy (inspect only) */
	long long created; /* unix seconds */
	struct bs_kvlist labels;
	struct bs_cport_binding *ports;
	size_t n_ports;
};

struct bs_cinfo_list {
	struct bs_cinfo *v;
	size_t n;
};

struct bs_mount_spec {
	const char *type;   /* "volume", "bind", "tmpfs" */
	const char *source; /* NULL: anonymous volume, tmpfs */
	const char *target;
	bool read_only;
	/* "tmpfs": a container gets HostConfig.Tmpfs[target] = tmpfs_options
	 * when they are set, else a Mounts entry with TmpfsOptions; a service
	 * always the latter (it has no options string) */
	int64_t tmpfs_size; /* bytes; 0: the engine's default */
	int tmpfs_mode;	    /* 0: the engine's default */
	const char *tmpfs_options;
};

struct bs_culimit { /* HostConfig.Ulimits, ContainerSpec.Ulimits */
	const char *name;
	int64_t soft, hard;
};

/* What to create. Strings are borrowed for the duration of the call. */
struct bs_cspec {
	const char *name;
	const char *image;
	const char *const *cmd;	       /* NULL-terminated, or NULL: image's */
	const char *const *entrypoint; /* NULL-terminated, or NULL */
	const struct bs_kvlist *env;
	const struct bs_kvlist *labels;
	const struct bs_cport_binding *ports;
	size_t n_ports;
	const struct bs_mount_spec *mounts;
	size_t n_mounts;
	const char *restart; /* no, always, on-failure, unless-stopped */
	int restart_max_retries;
	const char *const *health_test; /* ["CMD", ...], NULL: image's */
	int64_t health_interval_ns;
	int64_t health_timeout_ns;
	int64_t health_start_period_ns;
	int health_retries;
	const char *user;
	const char *working_dir;
	int64_t memory_bytes;
	int64_t nano_cpus;
	int64_t pids_limit;  /* 0: none */
	const char *network; /* attach at create */
	/* another name the container answers to on that network (the
	 * recipe's container or compose service name: its replicas share it,
	 * as Compose's services do), or NULL */
	const char *network_alias;
	bool tty;
	/* Hardening (create's secure defaults set these) */
	bool no_new_privileges;
	bool read_only_rootfs;
	const char *const *cap_add;
	const char *const *cap_drop;
	const char *const *security_opt;
	bool privileged;
	const char *log_max_size; /* json-file rotation: "10m" */
	const char *log_max_file; /* "3" */
	/* Node containers (local provider): */
	bool unmask_paths;	   /* MaskedPaths/ReadonlyPaths empty */
	const char *cgroupns_mode; /* "host" */
	const char *hostname;
	const char *const *tmpfs; /* NULL-terminated mount points, each a fresh tmpfs */
	const char *stop_signal;  /* "SIGRTMIN+3" for systemd; NULL: the image's */
	/* What a recipe's container may add (compose's keys): */
	const struct bs_culimit *ulimits;
	size_t n_ulimits;
	const char *const *extra_hosts; /* "HOST:ADDRESS", NULL-terminated, or NULL */
	const char *const *exposed;	/* "PORT/tcp" not published, NULL-terminated */
	/* log_driver or log_options set: LogConfig is exactly these (driver
	 * NULL: the engine's default driver); else json-file with
	 * log_max_size/log_max_file when those are set */
	const char *log_driver;
	const struct bs_kvlist *log_options;
};

struct bs_cupdate {	     /* in-place: no recreate */
	const char *restart; /* NULL: unchanged */
	int restart_max_retries;
	int64_t memory_bytes; /* 0: unchanged */
	int64_t nano_cpus;
	int64_t pids_limit;
};

struct bs_logs_opts {
	bool follow;
	long long tail; /* -1: all */
	bool timestamps;
	long long since; /* unix seconds, 0: beginning */
};

struct bs_table { /* top: titles and rows of strings */
	struct bs_strv titles;
	struct bs_strv *rows;
	size_t n_rows;
};

struct bs_change { /* diff */
	char *path;
	char kind; /* 'C' changed, 'A' added, 'D' deleted */
};

struct bs_change_list {
	struct bs_change *v;
	size_t n;
};

/* ---- images ------------------------------------------------------------ */

struct bs_iinfo {
	char *id;		/* sha256:... */
	struct bs_strv tags;	/* repo:tag */
	struct bs_strv digests; /* repo@sha256:... */
	long long size;
	long long created;
	struct bs_kvlist labels;
};

struct bs_iinfo_list {
	struct bs_iinfo *v;
	size_t n;
};

/* One progress event of a pull, build, push or load. */
struct bs_progress {
	const char *status;   /* "Downloading", "Pull complete", ... */
	const char *id;	      /* layer id */
	const char *progress; /* the engine's progress bar text */
	const char *stream;   /* build output text */
	long long current;
	long long total;
	const char *aux_id; /* build: the image ID at the end */
};

typedef int (*bs_progress_fn)(const struct bs_progress *ev, void *payload);
typedef int (*bs_log_fn)(enum bs_log_stream stream, const char *data, size_t len, void *payload);
/* One sample of a container's use of the machine (stats). A figure the
 * engine did not give is -1 (cpu_percent: no previous sample yet). */
struct bs_cstats {
	double cpu_percent; /* of one CPU: 2 busy CPUs are 200 */
	int online_cpus;
	long long mem_used;	       /* bytes: usage less the inactive page cache */
	long long mem_limit;	       /* bytes: the container's limit, or the machine's */
	long long net_rx, net_tx;      /* bytes, all interfaces */
	long long blk_read, blk_write; /* bytes */
	long long pids;
};
/* A stats sample; non-zero stops. */
typedef int (*bs_stats_fn)(const struct bs_cstats *s, void *payload);
/* An engine event (JSON text of one message); non-zero stops. */
typedef int (*bs_event_fn)(const char *json, void *payload);

/* A build from git_url, or from the tar of a local context
 * (container/context.c); exactly one of the two. */
struct bs_build_opts {
	const char *tag;	 /* name:tag */
	const char *git_url;	 /* remote context: URL[#ref[:subdir]] */
	const void *context_tar; /* or the context itself, context_len bytes */
	size_t context_len;
	const char *dockerfile; /* path in the context, or NULL */
	const char *target;	/* the Dockerfile stage to build, or NULL: the last */
	const struct bs_kvlist *build_args;
	const struct bs_kvlist *labels;
	bool pull; /* always pull the base image */
	bool no_cache;
};

/* ---- clusters (Docker Swarm) ------------------------------------------- */

enum bs_swarm_state { /* this engine's membership, from /info */
	BS_SWARM_INACTIVE,
	BS_SWARM_PENDING,
	BS_SWARM_ACTIVE,
	BS_SWARM_ERROR,
	BS_SWARM_LOCKED,
};

/* What an engine says of its own membership (GET /info, Swarm). */
struct bs_swarm_member {
	enum bs_swarm_state state;
	char *node_id;			/* NULL when inactive */
	char *node_addr;		/* the address it advertises */
	char *cluster_id;		/* Cluster.ID; NULL unless a manager */
	bool manager;			/* ControlAvailable */
	char *error;			/* the engine's error text, or NULL */
	struct bs_strv remote_managers; /* "addr:port" */
};

/* Libcloud's ContainerCluster: the swarm as a manager sees it (GET /swarm). */
struct bs_cluster {
	char *id;
	int64_t version;
	long long created;   /* unix seconds */
	char *worker_token;  /* secret: never logged */
	char *manager_token; /* secret: never logged */
};

struct bs_cluster_create {	    /* POST /swarm/init */
	const char *listen_addr;    /* NULL: 0.0.0.0:2377 */
	const char *advertise_addr; /* address or interface[:port] */
};

struct bs_cluster_join {	 /* POST /swarm/join */
	const char *listen_addr; /* NULL: 0.0.0.0:2377 */
	const char *advertise_addr;
	const char *remote_addr; /* a manager's "addr:2377" */
	const char *token;	 /* worker or manager token: decides the role */
};

/* A node of the cluster (GET /nodes on a manager). */
struct bs_cluster_node {
	char *id;
	int64_t version;
	char *hostname;
	char *addr;	    /* Status.Addr; a manager's raft address if that is 0.0.0.0 */
	char *state;	    /* ready, down, unknown, disconnected */
	char *availability; /* active, pause, drain (Spec) */
	char *role;	    /* worker, manager (Spec) */
	bool leader;
	char *reachability;	 /* managers: reachable, unreachable, unknown */
	struct bs_kvlist labels; /* Spec.Labels */
	char *engine_version;
};

struct bs_cluster_node_list {
	struct bs_cluster_node *v;
	size_t n;
};

/* The node's whole Spec: POST /nodes/ID/update?version=N replaces it. */
struct bs_cluster_node_spec {
	const char *role;		/* worker, manager; NULL: the node's current one */
	const char *availability;	/* active, pause, drain; NULL: the node's current one */
	const struct bs_kvlist *labels; /* replaces them all; NULL: none */
};

struct bs_service_port {
	int target;
	int published; /* 0: none given (ingress picks one) */
	bool udp;
	bool host_mode; /* PublishMode host, else ingress */
};

/* A service to create or update: the task's container comes from a
 * bs_cspec (its ports, network, restart, resources and hardening fields
 * are ignored: the service fields below say those). */
struct bs_service_spec {
	const char *name;
	const struct bs_kvlist *labels; /* the service's labels */
	const struct bs_cspec *task;	/* image, cmd, entrypoint, env, labels, mounts,
					   healthcheck, user, working_dir, tty,
					   stop timeout via stop_grace_ns */
	int64_t stop_grace_ns;		/* -1: engine default (10 s) */
	int replicas;			/* 0 is none; < 0: global mode (one per node) */
	const char *const *constraints; /* "node.labels.k==v", NULL-terminated or NULL */
	int max_replicas_per_node;	/* 0: no limit */
	const struct bs_service_port *ports;
	size_t n_ports;
	const char *const *networks; /* names or IDs, NULL-terminated or NULL */
	const char *restart;	     /* none, on-failure, any */
	int restart_max_attempts;
	int64_t memory_bytes; /* Resources.Limits */
	int64_t nano_cpus;
	int64_t pids_limit;
	/* UpdateConfig (also used as RollbackConfig) */
	int update_parallelism; /* 0: all at once; the engine's default is 1 */
	int64_t update_delay_ns;
	const char *update_failure_action; /* pause, continue, rollback */
	int64_t update_monitor_ns;
	const char *update_order;	     /* stop-first, start-first */
	const struct bs_registry_cred *cred; /* X-Registry-Auth, or NULL */
};

struct bs_service_info {
	char *id;
	char *name;
	int64_t version;
	struct bs_kvlist labels;
	char *image;
	int replicas;	    /* -1: global mode */
	char *update_state; /* updating, paused, completed, rollback_started,
			       rollback_paused, rollback_completed; NULL: none */
	char *update_message;
	long long created;
	long long updated;
	int ingress_ports; /* ports published through the routing mesh */
};

struct bs_service_list {
	struct bs_service_info *v;
	size_t n;
};

struct bs_task_info {
	char *id;
	char *service_id;
	char *node_id;
	int slot;
	char *state;	     /* Status.State: new ... running, complete, failed, rejected, ... */
	char *desired_state; /* running, shutdown, ... */
	char *message;	     /* Status.Message */
	char *error;	     /* Status.Err, or NULL */
	char *container_id;
	/* the task object's own Version.Index; not the service's version (1.41
	 * does not say which service spec a task runs) */
	int64_t service_version;
	long long updated;
	struct bs_kvlist labels; /* Spec.ContainerSpec.Labels: which spec it runs */
};

struct bs_task_list {
	struct bs_task_info *v;
	size_t n;
};

/* ---- the table --------------------------------------------------------- */

struct bs_cdriver_ops {
	const char *name;
	void (*free)(struct bs_cdriver *d);

	int (*container_list)(struct bs_cdriver *d, bool all, const struct bs_kvlist *labels,
			      struct bs_cinfo_list *out, struct bs_err *err);
	/* raw_json (may be NULL) receives the engine's full answer. */
	int (*container_inspect)(struct bs_cdriver *d, const char *name, struct bs_cinfo *out,
				 char **raw_json, struct bs_err *err);
	/* Libcloud's deploy_container: create, then start. */
	int (*container_deploy)(struct bs_cdriver *d, const struct bs_cspec *spec, char **id,
				struct bs_err *err);
	int (*container_create)(struct bs_cdriver *d, const struct bs_cspec *spec, char **id,
				struct bs_err *err);
	/* start/stop: already in that state is success; *changed says which. */
	int (*container_start)(struct bs_cdriver *d, const char *name, bool *changed,
			       struct bs_err *err);
	int (*container_stop)(struct bs_cdriver *d, const char *name, int timeout_s, bool *changed,
			      struct bs_err *err);
	int (*container_restart)(struct bs_cdriver *d, const char *name, int timeout_s,
				 struct bs_err *err);
	/* destroy: stop (timeout_s > 0), then remove (forced, anonymous volumes too). */
	int (*container_destroy)(struct bs_cdriver *d, const char *name, int timeout_s,
				 struct bs_err *err);
	int (*container_logs)(struct bs_cdriver *d, const char *name,
			      const struct bs_logs_opts *opts, bs_log_fn fn, void *payload,
			      struct bs_err *err);
	int (*container_top)(struct bs_cdriver *d, const char *name, const char *ps_args,
			     struct bs_table *out, struct bs_err *err);
	int (*container_changes)(struct bs_cdriver *d, const char *name, struct bs_change_list *out,
				 struct bs_err *err);
	/* One sample (the engine takes two, a second apart, for the CPU), or
	 * with follow one a second until fn stops or Ctrl-C. */
	int (*container_stats)(struct bs_cdriver *d, const char *name, bool follow, bs_stats_fn fn,
			       void *payload, struct bs_err *err);
	int (*container_update)(struct bs_cdriver *d, const char *name,
				const struct bs_cupdate *update, struct bs_err *err);
	int (*container_rename)(struct bs_cdriver *d, const char *name, const char *new_name,
				struct bs_err *err);
	/* A file into a container, created or running (PUT /containers/{id}/archive
	 * with a one-file tar): file (a plain name) in dir, which must exist; mode
	 * like 0644, owner root; an existing file is replaced. Missing container or
	 * dir: BS_ERR_NOT_FOUND; dir not a directory: BS_ERR_INVALID; a directory
	 * named file, or a read-only root filesystem: BS_ERR_CONFLICT. */
	int (*container_put_file)(struct bs_cdriver *d, const char *name, const char *dir,
				  const char *file, const char *data, size_t len, unsigned mode,
				  struct bs_err *err);
	/* A regular file's content (GET /containers/{id}/archive?path=...; a
	 * symbolic link is followed once, as docker cp -L does). Absent file or
	 * container: BS_ERR_NOT_FOUND; a directory or bigger than max bytes:
	 * BS_ERR_INVALID. *data (NUL-terminated, *len bytes) is the caller's. */
	int (*container_get_file)(struct bs_cdriver *d, const char *name, const char *path,
				  size_t max, char **data, size_t *len, struct bs_err *err);
	/* Run argv (NULL-terminated) in a running container, no tty, and wait for
	 * it at most timeout_s (> 0) seconds: exec create, start attached, inspect.
	 * out (reset first; may be NULL) gets stdout and stderr interleaved, the
	 * first 64 KiB; *exit_code the command's (126/127: it could not start).
	 * A stopped container: BS_ERR_CONFLICT; past the timeout: BS_ERR_TIMEOUT,
	 * and the command may still run (the API cannot stop an exec). */
	int (*container_exec)(struct bs_cdriver *d, const char *name, const char *const *argv,
			      int timeout_s, struct bs_buf *out, int *exit_code,
			      struct bs_err *err);

	int (*image_list)(struct bs_cdriver *d, struct bs_iinfo_list *out, struct bs_err *err);
	int (*image_inspect)(struct bs_cdriver *d, const char *ref, struct bs_iinfo *out,
			     struct bs_err *err);
	/* Libcloud's install_image: pull ref (a tag is always sent). */
	int (*image_pull)(struct bs_cdriver *d, const char *ref,
			  const struct bs_registry_cred *cred, bs_progress_fn fn, void *payload,
			  struct bs_err *err);
	/* The digest the registry serves for ref now, asked through the engine
	 * (GET /distribution/{ref}/json), which uses its own TLS settings
	 * (certs.d CAs) and cred: for a multi-platform image the digest of the
	 * index, which is what a pull by tag records in RepoDigests, not the
	 * platform manifest's. *digest ("sha256:...") is the caller's. */
	int (*image_distribution)(struct bs_cdriver *d, const char *ref,
				  const struct bs_registry_cred *cred, char **digest,
				  struct bs_err *err);
	int (*image_build)(struct bs_cdriver *d, const struct bs_build_opts *opts,
			   bs_progress_fn fn, void *payload, char **image_id, struct bs_err *err);
	int (*image_remove)(struct bs_cdriver *d, const char *ref, bool force, struct bs_err *err);
	/* Image transfer between engines (no registry): save to a file, load it. */
	int (*image_save)(struct bs_cdriver *d, const char *ref, int fd, struct bs_err *err);
	int (*image_load)(struct bs_cdriver *d, int fd, struct bs_err *err);

	/* Ensure by exact name, owned by labels: created when missing. */
	int (*network_ensure)(struct bs_cdriver *d, const char *name,
			      const struct bs_kvlist *labels, bool *created, struct bs_err *err);
	int (*volume_ensure)(struct bs_cdriver *d, const char *name, const struct bs_kvlist *labels,
			     bool *created, struct bs_err *err);
	/* Remove by exact name; absent already is success (*removed false). */
	int (*network_remove)(struct bs_cdriver *d, const char *name, bool *removed,
			      struct bs_err *err);
	int (*volume_remove)(struct bs_cdriver *d, const char *name, bool *removed,
			     struct bs_err *err);

	/* Events in [since, until] (unix seconds): always bounded. */
	int (*events)(struct bs_cdriver *d, long long since, long long until,
		      const struct bs_kvlist *filters, bs_event_fn fn, void *payload,
		      struct bs_err *err);
	/* ---- clusters (Swarm): Libcloud's list/create/destroy_cluster ---- */
	/* This engine's membership (GET /info). */
	int (*cluster_member)(struct bs_cdriver *d, struct bs_swarm_member *out,
			      struct bs_err *err);
	/* A new cluster with this engine as its first manager; *node_id may be NULL. */
	int (*cluster_create)(struct bs_cdriver *d, const struct bs_cluster_create *opts,
			      char **node_id, struct bs_err *err);
	int (*cluster_join)(struct bs_cdriver *d, const struct bs_cluster_join *opts,
			    struct bs_err *err);
	/* Leave (force: even the last manager); not in a cluster is success. */
	int (*cluster_leave)(struct bs_cdriver *d, bool force, struct bs_err *err);
	/* On a manager: the cluster, with its join tokens. */
	int (*cluster_inspect)(struct bs_cdriver *d, struct bs_cluster *out, struct bs_err *err);
	int (*cluster_node_list)(struct bs_cdriver *d, struct bs_cluster_node_list *out,
				 struct bs_err *err);
	int (*cluster_node_update)(struct bs_cdriver *d, const char *id, int64_t version,
				   const struct bs_cluster_node_spec *spec, struct bs_err *err);
	/* Remove a node from the cluster's list; absent is success. */
	int (*cluster_node_remove)(struct bs_cdriver *d, const char *id, bool force,
				   struct bs_err *err);
	/* Services with all these labels (NULL: all). */
	int (*service_list)(struct bs_cdriver *d, const struct bs_kvlist *labels,
			    struct bs_service_list *out, struct bs_err *err);
	int (*service_inspect)(struct bs_cdriver *d, const char *name, struct bs_service_info *out,
			       struct bs_err *err);
	/* id may be NULL. */
	int (*service_create)(struct bs_cdriver *d, const struct bs_service_spec *spec, char **id,
			      struct bs_err *err);
	/* version: the Version.Index read last; a stale one is BS_ERR_CONFLICT. */
	int (*service_update)(struct bs_cdriver *d, const char *id, int64_t version,
			      const struct bs_service_spec *spec, struct bs_err *err);
	/* Absent already is success (*removed false). */
	int (*service_remove)(struct bs_cdriver *d, const char *name, bool *removed,
			      struct bs_err *err);
	/* Tasks of one service (name or ID). */
	int (*task_list)(struct bs_cdriver *d, const char *service, struct bs_task_list *out,
			 struct bs_err *err);
	int (*service_logs)(struct bs_cdriver *d, const char *service,
			    const struct bs_logs_opts *opts, bs_log_fn fn, void *payload,
			    struct bs_err *err);
	/* An attachable overlay network, by exact name (swarm scope), created
	 * with the driver options given ("encrypted", the MTU; NULL: none).
	 * One that exists is left as it is (an engine cannot change a
	 * network's options): *created false, and have (when not NULL) gets
	 * its options as the engine lists them, for the caller to compare.
	 * created NULL: look only; a missing network is BS_ERR_NOT_FOUND.
	 * "ingress" is the routing mesh's: created with Ingress, not attachable. */
	int (*overlay_ensure)(struct bs_cdriver *d, const char *name,
			      const struct bs_kvlist *labels, const struct bs_kvlist *options,
			      struct bs_kvlist *have, bool *created, struct bs_err *err);
};

struct bs_engine_info {
	char *version;	   /* 20.10.24 */
	char *api_version; /* negotiated: min(ours, engine's) */
	char *os;
	char *arch;
};

struct bs_cdriver {
	const struct bs_cdriver_ops *ops;
	struct bs_engine_info info;
	const char *display; /* the endpoint as users write it */
};

struct bs_cdriver_opts {
	long connect_timeout_ms;
	long request_timeout_ms;       /* one ordinary call */
	long stream_timeout_ms;	       /* a whole pull, build, save, load; 0: none */
	volatile sig_atomic_t *cancel; /* set from a signal handler: stop now */
	/* set from a signal handler (the first Ctrl-C): the calls that only
	 * wait or fetch (pull, build, save, load, logs --follow) stop now;
	 * the others (create, stop, remove...) finish. NULL: only cancel */
	volatile sig_atomic_t *interrupt;
	/* The caller saw dockerd run with its socket just now (the node's
	 * detection): open sends no /_ping, and the version comes from the
	 * first answer's Server header. */
	bool no_ping;
};

#define BS_CDRIVER_OPTS_INIT                                                                       \
	{                                                                                          \
		0, 0, 0, NULL, NULL, false                                                         \
	}

/*
 * Connect to the Docker engine at ep (borrowed: it must outlive the
 * driver), negotiate the API version with /_ping and refuse engines older
 * than BS_DOCKER_MIN_API. With opts->no_ping, no ping (a round trip less
 * on a remote node): an engine too old for the API then refuses the first
 * call with its own message. Free with d->ops->free(d).
 */
int bs_docker_open(struct bs_cdriver **out, const struct bs_endpoint *ep,
		   const struct bs_cdriver_opts *opts, struct bs_err *err);

/* The engine's version ("20.10.24+dfsg1"): from the ping, else from an
 * answer's Server header, else pinged now; "unknown" if it cannot say. */
const char *bs_docker_engine_version(struct bs_cdriver *d);

/* API requests sent so far (benchmarks and --json stats). */
unsigned long bs_docker_request_count(const struct bs_cdriver *d);

const char *bs_cstate_name(enum bs_cstate state);

void bs_cinfo_free(struct bs_cinfo *c);
void bs_cinfo_list_free(struct bs_cinfo_list *l);
void bs_iinfo_free(struct bs_iinfo *i);
void bs_iinfo_list_free(struct bs_iinfo_list *l);
void bs_table_free(struct bs_table *t);
void bs_change_list_free(struct bs_change_list *l);
void bs_engine_info_free(struct bs_engine_info *info);
void bs_swarm_member_free(struct bs_swarm_member *m);
void bs_cluster_free(struct bs_cluster *c);
void bs_cluster_node_list_free(struct bs_cluster_node_list *l);
void bs_service_info_free(struct bs_service_info *s);
void bs_service_list_free(struct bs_service_list *l);
void bs_task_list_free(struct bs_task_list *l);

/* Copy an image between two engines through a temporary file. */
int bs_cdriver_image_transfer(struct bs_cdriver *from, struct bs_cdriver *to, const char *ref,
			      struct bs_err *err);

#endif
