/*
 * auth.c - X-Registry-Auth encoding and docker config.json lookup.
 */
#include "container/auth.h"

#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

void bs_registry_cred_free(struct bs_registry_cred *cred)
{
	if (cred == NULL)
		return;
	free(cred->server);
	free(cred->username);
	bs_secure_free_str(cred->password);
	memset(cred, 0, sizeof(*cred));
}

char *bs_image_registry(const char *ref)
{
	const char *slash = strchr(ref, '/');
	size_t len;

	if (slash == NULL)
		return bs_xstrdup("docker.io");
	len = (size_t)(slash - ref);
	if (memchr(ref, '.', len) || memchr(ref, ':', len) ||
	    (len == 9 && memcmp(ref, "localhost", 9) == 0))
		return bs_xstrndup(ref, len);
	return bs_xstrdup("docker.io");
}

char *bs_registry_auth_header(const struct bs_registry_cred *cred)
{
	cJSON *o = cJSON_CreateObject();
	char *json, *b64, *header;

	if (cred != NULL && cred->username != NULL) {
		cJSON_AddStringToObject(o, "username", cred->username);
		cJSON_AddStringToObject(o, "password", cred->password ? cred->password : "");
		cJSON_AddStringToObject(o, "serveraddress", cred->server ? cred->server : "");
	}
	json = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	b64 = bs_base64_encode(json, strlen(json), true);
	header = bs_xasprintf("X-Registry-Auth: %s", b64);
	bs_secure_free_str(json);
	bs_secure_free_str(b64);
	return header;
}

/* "https://registry.example.com/v1/" -> "registry.example.com" */
static char *normalise_server(const char *s)
{
	const char *p = strstr(s, "://");
	const char *start = p ? p + 3 : s;
	const char *slash = strchr(start, '/');
	char *host = bs_xstrndup(start, slash ? (size_t)(slash - start) : strlen(start));

	if (strcmp(host, "index.docker.io") == 0 || strcmp(host, "registry-1.docker.io") == 0) {
		free(host);
		host = bs_xstrdup("docker.io");
	}
	return host;
}

int bs_docker_config_cred(struct bs_registry_cred *out, const char *server, struct bs_err *err)
{
	const char *dir = getenv("DOCKER_CONFIG");
	const char *home = getenv("HOME");
	struct bs_buf data = BS_BUF_INIT;
	char *path, *want = normalise_server(server);
	const cJSON *auths, *entry;
	cJSON *root = NULL;
	char chunk[4096];
	size_t n;
	FILE *f;
	int rc = BS_ERR_NOT_FOUND;

	memset(out, 0, sizeof(*out));
	if (dir != NULL && dir[0] != '\0')
		path = bs_xasprintf("%s/config.json", dir);
	else
		path = bs_xasprintf("%s/.docker/config.json", home ? home : ".");
	f = fopen(path, "rb");
	if (f == NULL) {
		if (errno != ENOENT)
			rc = bs_err_set(err, BS_ERR_IO, "cannot read %s: %s", path,
					strerror(errno));
		goto out;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && data.len < 1024 * 1024)
		bs_buf_append(&data, chunk, n);
	fclose(f);
	root = cJSON_ParseWithLength(data.data ? data.data : "", data.len);
	if (root == NULL) {
		rc = bs_err_set(err, BS_ERR_INVALID,
				"%s is not valid JSON (fix or move it; docker login writes it)",
				path);
		goto out;
	}
	auths = cJSON_GetObjectItemCaseSensitive(root, "auths");
	cJSON_ArrayForEach(entry, auths)
	{
		char *host = normalise_server(entry->string ? entry->string : "");
		const cJSON *auth = cJSON_GetObjectItemCaseSensitive(entry, "auth");
		const cJSON *user = cJSON_GetObjectItemCaseSensitive(entry, "username");
		const cJSON *pass = cJSON_GetObjectItemCaseSensitive(entry, "password");
		bool match = strcmp(host, want) == 0;

		free(host);
		if (!match)
			continue;
		if (cJSON_IsString(auth) && auth->valuestring[0] != '\0') {
			size_t len;
			unsigned char *raw = bs_base64_decode(auth->valuestring, &len);
			char *colon = raw ? memchr(raw, ':', len) : NULL;

			if (colon == NULL) {
				bs_secure_free(raw, raw ? len : 0);
				rc = bs_err_set(
					err, BS_ERR_INVALID,
					"%s: the auth entry for %s is not base64 of user:password (run docker login again)",
					path, want);
				goto out;
			}
			out->username = bs_xstrndup((char *)raw, (size_t)(colon - (char *)raw));
			out->password =
				bs_xstrndup(colon + 1, len - (size_t)(colon + 1 - (char *)raw));
			bs_secure_free(raw, len);
		} else if (cJSON_IsString(user) && cJSON_IsString(pass)) {
			out->username = bs_xstrdup(user->valuestring);
			out->password = bs_xstrdup(pass->valuestring);
		} else {
			continue;
		}
		out->server = bs_xstrdup(want);
		rc = 0;
		break;
	}
out:
	cJSON_Delete(root);
	bs_buf_wipe_free(&data);
	free(path);
	free(want);
	return rc;
}
