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
	char *status; /* engine's human status: "Up 2 minutes" */
	char *health; /* healthy, unhealthy, starting, or NULL */
	int exit_code;
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
	const char *type;   /* "volume", "bind" */
	const char *source; /* NULL: anonymous volume */
	const char *target;
	bool read_only;
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
/* An engine event (JSON text of one message); non-zero stops. */
typedef int (*bs_event_fn)(const char *json, void *payload);

struct bs_build_opts {
	const char *tag;	/* name:tag */
	const char *git_url;	/* remote context: URL[#ref[:subdir]] */
	const char *dockerfile; /* path in the context, or NULL */
	const struct bs_kvlist *build_args;
	const struct bs_kvlist *labels;
	bool pull; /* always pull the base image */
	bool no_cache;
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
	int (*container_update)(struct bs_cdriver *d, const char *name,
				const struct bs_cupdate *update, struct bs_err *err);
	int (*container_rename)(struct bs_cdriver *d, const char *name, const char *new_name,
				struct bs_err *err);

	int (*image_list)(struct bs_cdriver *d, struct bs_iinfo_list *out, struct bs_err *err);
	int (*image_inspect)(struct bs_cdriver *d, const char *ref, struct bs_iinfo *out,
			     struct bs_err *err);
	/* Libcloud's install_image: pull ref (a tag is always sent). */
	int (*image_pull)(struct bs_cdriver *d, const char *ref,
			  const struct bs_registry_cred *cred, bs_progress_fn fn, void *payload,
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
	/* Clusters (Swarm) arrive here as further entries. */
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
};

#define BS_CDRIVER_OPTS_INIT                                                                       \
	{                                                                                          \
		0, 0, 0, NULL                                                                      \
	}

/*
 * Connect to the Docker engine at ep (borrowed: it must outlive the
 * driver), negotiate the API version with /_ping and refuse engines older
 * than BS_DOCKER_MIN_API. Free with d->ops->free(d).
 */
int bs_docker_open(struct bs_cdriver **out, const struct bs_endpoint *ep,
		   const struct bs_cdriver_opts *opts, struct bs_err *err);

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

/* Copy an image between two engines through a temporary file. */
int bs_cdriver_image_transfer(struct bs_cdriver *from, struct bs_cdriver *to, const char *ref,
			      struct bs_err *err);

#endif
