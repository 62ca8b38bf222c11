/*
 * auth.h - registry credentials for pulls, pushes and the registry client.
 *
 * Sources, in order: credentials the caller passes (the recipe's
 * registries:), then the docker CLI's config.json "auths" ($DOCKER_CONFIG,
 * else ~/.docker). Credential helpers (credsStore) are not run.
 *
 * The engine takes credentials in an X-Registry-Auth header: base64 of a
 * JSON object, in the URL-SAFE alphabet. A header that does not decode is
 * silently ignored by the engine and the pull goes anonymous, which turns a
 * typo into a confusing "not found": so the encoding is unit-tested.
 */
#ifndef BS_CONTAINER_AUTH_H
#define BS_CONTAINER_AUTH_H

#include "util/error.h"

struct bs_registry_cred {
	char *server; /* host[:port], "docker.io" for Docker Hub */
	char *username;
	char *password; /* secret: wiped on free */
};

/* The registry host an image reference pulls from ("docker.io" when the
 * first component is not a host). Caller frees. */
char *bs_image_registry(const char *ref);

/* "X-Registry-Auth: ..." for cred (anonymous when cred is NULL); caller
 * frees with bs_secure_free_str (it encodes the password). */
char *bs_registry_auth_header(const struct bs_registry_cred *cred);

/*
 * Find credentials for server in the docker CLI's config.json. Returns 0
 * and fills *out, BS_ERR_NOT_FOUND when there are none, or another error
 * when the file exists but is unreadable or malformed (err says where).
 */
int bs_docker_config_cred(struct bs_registry_cred *out, const char *server, struct bs_err *err);

void bs_registry_cred_free(struct bs_registry_cred *cred);

#endif
