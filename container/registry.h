/*
 * registry.h - a Docker registry HTTP API v2 client (any registry, not
 * only Docker Hub): list a repository's tags, resolve a tag to the digest
 * the registry serves (an index's for a multi-platform image: the HEAD
 * accepts index types first, as a pull does; offered only single-image
 * manifest types, a registry answers with one platform's manifest, or a
 * converted one, whose digest is not the tag's). The deploy pipeline asks
 * the node's engine instead (image_distribution in driver.h), which
 * reaches the registry from the node, with the node's CAs.
 *
 * Authentication follows the registry's challenge: a 401 with
 * "WWW-Authenticate: Basic" is answered with the credentials; "Bearer
 * realm=...,service=...,scope=..." sends them to the token service and
 * retries with the token. Registries on loopback are spoken to over plain
 * HTTP (as the engine allows them), all others over HTTPS verified with
 * the system's CA store (a private CA goes there: update-ca-certificates).
 *
 * One client per thread. Results are the caller's.
 */
#ifndef BS_CONTAINER_REGISTRY_H
#define BS_CONTAINER_REGISTRY_H

#include "container/auth.h"
#include "container/http.h"
#include "util/error.h"
#include "util/str.h"

struct bs_registry_client;

/* server: host[:port] ("docker.io" means Docker Hub); cred may be NULL. */
int bs_registry_client_new(struct bs_registry_client **out, const char *server,
			   const struct bs_registry_cred *cred, const struct bs_http_opts *opts,
			   struct bs_err *err);
void bs_registry_client_free(struct bs_registry_client *c);

/* Tags of repository ("shop/app"), following pagination (bounded). */
int bs_registry_tags(struct bs_registry_client *c, const char *repository, struct bs_strv *tags,
		     struct bs_err *err);

/* The digest ("sha256:...") the registry serves for repository:reference. */
int bs_registry_digest(struct bs_registry_client *c, const char *repository, const char *reference,
		       char **digest, struct bs_err *err);

/* What a reference names in the registry (registry inspect). */
struct bs_registry_image {
	char *digest;		  /* of what the reference names (an index's for an index) */
	char *media_type;	  /* its media type */
	struct bs_strv platforms; /* an index's images, "os/arch[/variant]" */
	char *platform;		  /* the image the figures below are of */
	long long size;		  /* compressed: config and layers; -1 unknown */
	char *created;		  /* from the config blob, RFC 3339 */
	struct bs_kvlist labels;
};
void bs_registry_image_free(struct bs_registry_image *im);

/* Inspect repository:reference (a tag or a digest): for an index, each
 * platform, and the figures of platform's image ("linux/amd64"; NULL or
 * absent: the first). */
int bs_registry_inspect(struct bs_registry_client *c, const char *repository, const char *reference,
			const char *platform, struct bs_registry_image *out, struct bs_err *err);

/* The registry's repositories (GET /v2/_catalog, paged, bounded);
 * BS_ERR_UNSUPPORTED where it lists none (Docker Hub). */
int bs_registry_catalog(struct bs_registry_client *c, struct bs_strv *repos, struct bs_err *err);

/* Readers of an image manifest (its compressed size and config digest)
 * and of a config blob (created, labels). Exposed for tests. */
struct cJSON;
void bs_registry_parse_manifest(const struct cJSON *o, struct bs_registry_image *out,
				char **config);
void bs_registry_parse_config(const struct cJSON *o, struct bs_registry_image *out);

/* Parse "Bearer realm=\"...\",service=\"...\"" into its parameters (lower-
 * case names). Returns the scheme ("basic", "bearer") or NULL. Exposed for
 * unit tests. Caller frees the result. */
char *bs_registry_parse_challenge(const char *header, struct bs_kvlist *params);

/* The token of a token service's answer ({"token": ...}, or OAuth2's
 * {"access_token": ...}), or NULL when it has none. Caller frees with
 * bs_secure_free_str. Exposed for tests. */
char *bs_registry_parse_token(const char *body, size_t len);

#endif
