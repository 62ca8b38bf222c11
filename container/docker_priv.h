/*
 * docker_priv.h - what the Docker driver's files share: the driver's
 * struct, the request helpers and the JSON readers of docker.c, used by
 * docker_swarm.c (clusters). Not a public header: only container/docker*.c
 * include it, and the fuzz targets of the answers' readers (tests/fuzz/).
 *
 * Same rules as the driver: one struct docker per thread; results are the
 * caller's; every function returns 0 or a negative bs_error and fills err
 * with a sentence that names the engine and the object.
 */
#ifndef BS_CONTAINER_DOCKER_PRIV_H
#define BS_CONTAINER_DOCKER_PRIV_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "container/driver.h"
#include "container/http.h"

struct docker {
	struct bs_cdriver base;
	struct bs_http *http;
	char prefix[16]; /* "/v1.41" */
};

static inline struct docker *as_docker(struct bs_cdriver *d)
{
	return (struct docker *)d;
}

/* ---- requests ------------------------------------------------------------ */

/* Run a request under the API version prefix (path "/containers/json"). */
int dk_api(struct docker *dk, const char *method, const char *path, const char *query,
	   const char *body, struct bs_http_response *resp, struct bs_err *err);
/* GET returning JSON (*out, the caller's); 404 is BS_ERR_NOT_FOUND naming what. */
/* What a call makes of a status it did not want (err filled, a bs_error). */
typedef int (*dk_status_fn)(struct docker *dk, const struct bs_http_response *resp,
			    const char *what, struct bs_err *err);
int dk_get_json_with(struct docker *dk, const char *path, const char *query, const char *what,
		     dk_status_fn on_error, cJSON **out, struct bs_err *err);
int dk_get_json(struct docker *dk, const char *path, const char *query, const char *what,
		cJSON **out, struct bs_err *err);
/* The engine's {"message": ...} of an error answer, on one line, in buf. */
const char *dk_error_message(const struct bs_http_response *resp, char *buf, size_t size);
/* An error answer as a bs_error ("ENGINE: what: message"), by HTTP status. */
int dk_status_error(struct docker *dk, const struct bs_http_response *resp, const char *what,
		    struct bs_err *err);
/* Escape a name or ID for a path segment (image: keep '/', ':', '@'); caller frees. */
char *dk_path_name(const char *name, bool image);
/* labels {k: v} as the URL-encoded filters {"label": ["k=v", ...]}; caller frees. */
char *dk_label_filters(const struct bs_kvlist *labels);

/* ---- JSON ---------------------------------------------------------------- */

const char *dk_json_str(const cJSON *obj, const char *key);
char *dk_json_strdup(const cJSON *obj, const char *key);
long long dk_json_num(const cJSON *obj, const char *key);
void dk_json_labels(const cJSON *obj, struct bs_kvlist *out);
void dk_json_strings(const cJSON *arr, struct bs_strv *out);
cJSON *dk_kv_object(const struct bs_kvlist *l);
cJSON *dk_string_array(const char *const *v);
cJSON *dk_ulimits(const struct bs_culimit *u, size_t n);

/* ---- readers of the engine's answers ------------------------------------- */

/* Each fills *out (zeroed by the caller; freed with the type's _free even
 * when fields are missing) from one object of an answer, whatever its
 * shape: the engine is untrusted input (tests/fuzz/docker_fuzz.c and
 * swarm_fuzz.c feed them anything). */
/* an item of GET /containers/json */
void dk_parse_container_item(const cJSON *o, struct bs_cinfo *out);
/* GET /containers/ID/json */
void dk_parse_container_inspect(const cJSON *o, struct bs_cinfo *out);
/* an item of GET /images/json, or GET /images/ID/json */
void dk_parse_image(const cJSON *o, struct bs_iinfo *out);
/* GET /swarm; the join tokens are moved out of o */
void dk_parse_swarm(cJSON *o, struct bs_cluster *out);
/* an item of GET /nodes, /services (or GET /services/ID), /tasks */
void dk_parse_node(const cJSON *o, struct bs_cluster_node *out);
void dk_parse_service(const cJSON *o, struct bs_service_info *out);
void dk_parse_task(const cJSON *o, struct bs_task_info *out);
/* GET /containers/{id}/stats, one sample: the docker CLI's figures. */
void dk_parse_stats(const cJSON *o, struct bs_cstats *out);

/* ---- shared pieces of the driver ------------------------------------------ */

/* The two APIs name a container's fields differently. */
enum dk_schema {
	DK_CONTAINER, /* POST /containers/create: Cmd, Entrypoint, WorkingDir, Tty */
	DK_SERVICE,   /* a service's ContainerSpec: Args, Command, Dir, TTY */
};

/*
 * Add what a container create body and a service's ContainerSpec share to
 * obj: Image, command and entrypoint, Env, Labels, User, working directory,
 * TTY, Healthcheck; Mounts go to mounts_parent (HostConfig, or the
 * ContainerSpec itself). DK_SERVICE leaves out what is empty, so that the
 * engine's defaults apply.
 */
void dk_container_fields(cJSON *obj, cJSON *mounts_parent, const struct bs_cspec *s,
			 enum dk_schema schema);

/* The bodies of POST /containers/create and of a service's create or
 * update (the ServiceSpec); the caller deletes them. */
cJSON *dk_create_body(const struct bs_cspec *s);
cJSON *dk_service_body(const struct bs_service_spec *s);

/* GET /{kind}/{name}/logs ("containers" or "services"), demultiplexed
 * unless tty (1.41 sends no content type: the caller says). */
int dk_logs(struct docker *dk, const char *kind, const char *name, bool tty,
	    const struct bs_logs_opts *opts, bs_log_fn fn, void *payload, struct bs_err *err);

/* Ensure a network of driver ("bridge", "overlay": attachable) by exact
 * name, created with options (NULL: none); an existing one's options go
 * to have (when not NULL); created NULL: look only (missing:
 * BS_ERR_NOT_FOUND). An overlay's name held by a network of another
 * driver is BS_ERR_CONFLICT. */
int dk_network_ensure(struct docker *dk, const char *name, const char *driver,
		      const struct bs_kvlist *labels, const struct bs_kvlist *options,
		      struct bs_kvlist *have, bool *created, struct bs_err *err);

/* ---- clusters (docker_swarm.c): the entries of the ops table --------------- */

int bs_docker_cluster_member(struct bs_cdriver *d, struct bs_swarm_member *out, struct bs_err *err);
int bs_docker_cluster_create(struct bs_cdriver *d, const struct bs_cluster_create *opts,
			     char **node_id, struct bs_err *err);
int bs_docker_cluster_join(struct bs_cdriver *d, const struct bs_cluster_join *opts,
			   struct bs_err *err);
int bs_docker_cluster_leave(struct bs_cdriver *d, bool force, struct bs_err *err);
int bs_docker_cluster_inspect(struct bs_cdriver *d, struct bs_cluster *out, struct bs_err *err);
int bs_docker_cluster_node_list(struct bs_cdriver *d, struct bs_cluster_node_list *out,
				struct bs_err *err);
int bs_docker_cluster_node_update(struct bs_cdriver *d, const char *id, int64_t version,
				  const struct bs_cluster_node_spec *spec, struct bs_err *err);
int bs_docker_cluster_node_remove(struct bs_cdriver *d, const char *id, bool force,
				  struct bs_err *err);
int bs_docker_service_list(struct bs_cdriver *d, const struct bs_kvlist *labels,
			   struct bs_service_list *out, struct bs_err *err);
int bs_docker_service_inspect(struct bs_cdriver *d, const char *name, struct bs_service_info *out,
			      struct bs_err *err);
int bs_docker_service_create(struct bs_cdriver *d, const struct bs_service_spec *spec, char **id,
			     struct bs_err *err);
int bs_docker_service_update(struct bs_cdriver *d, const char *id, int64_t version,
			     const struct bs_service_spec *spec, struct bs_err *err);
int bs_docker_service_remove(struct bs_cdriver *d, const char *name, bool *removed,
			     struct bs_err *err);
int bs_docker_task_list(struct bs_cdriver *d, const char *service, struct bs_task_list *out,
			struct bs_err *err);
int bs_docker_service_logs(struct bs_cdriver *d, const char *service,
			   const struct bs_logs_opts *opts, bs_log_fn fn, void *payload,
			   struct bs_err *err);
int bs_docker_overlay_ensure(struct bs_cdriver *d, const char *name, const struct bs_kvlist *labels,
			     const struct bs_kvlist *options, struct bs_kvlist *have, bool *created,
			     struct bs_err *err);

#endif
