/*
 * spec.h - a container's identity: the canonical desired spec and its hash.
 *
 * Every container bootstrap deploys carries labels that say what it is
 * (project, container, replica) and what it was made from:
 *   io.bootstrap.spec       the canonical spec as compact JSON
 *   io.bootstrap.spec-hash  SHA-256 of the spec and the resolved image ID
 * A later run computes the same two values from the recipe and the node's
 * image, and compares: equal hash means nothing to replace. Only what the
 * recipe declares enters the spec, never what the engine or the image adds
 * (defaults, image environment, generated names), so engine defaults can
 * never cause a replacement. Left out on purpose: replicas (a count, not a
 * property of one container) and the fields Docker updates in place
 * (restart policy, memory, CPUs, pids), which are compared with what the
 * engine reports instead.
 *
 * Secret values never enter the spec: each appears as a salted SHA-256, so
 * a changed secret still changes the hash without being readable from
 * the label.
 */
#ifndef BS_DEPLOY_SPEC_H
#define BS_DEPLOY_SPEC_H

#include "container/driver.h"
#include "deploy/recipe.h"

#define BS_LABEL_PROJECT "io.bootstrap.project"
#define BS_LABEL_CONTAINER "io.bootstrap.container"
#define BS_LABEL_REPLICA "io.bootstrap.replica"
#define BS_LABEL_NODE "io.bootstrap.node"
#define BS_LABEL_SPEC "io.bootstrap.spec"
#define BS_LABEL_HASH "io.bootstrap.spec-hash"
#define BS_LABEL_DIGEST "io.bootstrap.image-digest"
/* The in-place settings (restart, memory, cpus, pids) a container was
 * created with, so that a run can compare them without an inspect: Docker
 * lists labels, not these. An in-place update cannot change a label, so a
 * value that differs from the recipe's is checked by inspect. */
#define BS_LABEL_INPLACE "io.bootstrap.inplace"
/* cluster: a swarm node's group, and where a service may run */
#define BS_LABEL_GROUP "io.bootstrap.group"
#define BS_LABEL_PLACE "io.bootstrap.place."

/* The canonical spec of c in recipe r as compact JSON; caller frees. */
char *bs_spec_json(const struct bs_recipe *r, const struct bs_container *c);

/* SHA-256 (hex) of spec_json and image_id; caller frees. */
/*
 * What a container's create spec and a service's task share, from the
 * recipe: image, command, entrypoint, environment (secrets flagged), the
 * container's own labels, mounts (named volumes as PROJECT-NAME; tmpfs),
 * healthcheck, user, working directory, and compose's keys (capabilities,
 * read-only root, ulimits, extra hosts, exposed ports, the log driver and
 * its options: exactly the recipe's). The rest of st->spec is zero for
 * the caller to fill. Strings are the recipe's or the store's; free with
 * bs_task_store_free.
 */
struct bs_task_store {
	struct bs_cspec spec;
	struct bs_kvlist env, labels;
	struct bs_mount_spec *mounts;
	char **volume_names;
	const char **cmd, **entrypoint, **health;
	const char **cap_add, **cap_drop;
	struct bs_culimit *ulimits;
	struct bs_strv extra_hosts, exposed; /* "HOST:ADDRESS", "PORT/PROTO" */
	const char **hosts_argv, **exposed_argv;
};

void bs_task_fill(const struct bs_recipe *r, const struct bs_container *c,
		  struct bs_task_store *st);
void bs_task_store_free(struct bs_task_store *st);

/* A cluster service's spec: the container's, plus what the service
 * carries (restart, limits, stop timeout, publish mode, update config);
 * replicas are compared on their own. Caller frees. */
char *bs_service_spec_json(const struct bs_recipe *r, const struct bs_container *c);

char *bs_spec_hash(const char *spec_json, const char *image_id);

/*
 * What differs from old_json to new_json, for people: "environment.MODE:
 * dev -> prod; ports: [\"8080:80\"] -> [\"8081:80\"]". Long values are cut.
 * NULL when both are equal. A missing or unreadable old spec (a container
 * made by hand and labelled, or by an older bootstrap) says so.
 */
char *bs_spec_diff(const char *old_json, const char *new_json);

/*
 * The digest to record for an image pulled as ref: the "REPO@sha256:..."
 * among its RepoDigests whose repository is ref's. An image can hold
 * several for one repository (pulled by two tags, or a tag whose index
 * changed only for other platforms): served, the digest the registry
 * serves for ref now (the index's for a multi-platform image), picks
 * among them; without it (or when it is not there) the first. NULL if
 * none. Caller frees.
 */
char *bs_image_repo_digest(const char *ref, const struct bs_strv *digests, const char *served);

/* "PROJECT-CONTAINER-REPLICA"; caller frees. */
char *bs_instance_name(const char *project, const char *container, int replica);
/* The engine's name of c's replica: its container_name when it has one
 * (one replica only), else bs_instance_name's; caller frees. */
char *bs_replica_name(const char *project, const struct bs_container *c, int replica);

/* The engine's name of the recipe's volume NAME: "PROJECT-NAME". */
char *bs_volume_name(const char *project, const char *volume);

/* The project's network on every node: "PROJECT-net". */
char *bs_network_name(const char *project);

#endif
