/*
 * registry.c - the registry v2 client.
 */
#include "container/registry.h"

#include <cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/url.h"

#define MAX_PAGES 50

/* What a HEAD of a manifest must accept so that the registry answers with
 * the digest the engine pulls (lists and OCI indexes first). */
static const char accept_manifests[] =
	"Accept: application/vnd.docker.distribution.manifest.list.v2+json, "
	"application/vnd.oci.image.index.v1+json, "
	"application/vnd.docker.distribution.manifest.v2+json, "
	"application/vnd.oci.image.manifest.v1+json";

struct bs_registry_client {
	struct bs_http *http;
	struct bs_http_opts opts;
	char *server;
	char *username;
	char *password;	     /* secret */
	char *authorization; /* "Authorization: ..." once a challenge was met */
};

int bs_registry_client_new(struct bs_registry_client **out, const char *server,
			   const struct bs_registry_cred *cred, const struct bs_http_opts *opts,
			   struct bs_err *err)
{
	struct bs_registry_client *c = bs_xcalloc(1, sizeof(*c));
	struct bs_http_opts defaults = BS_HTTP_OPTS_INIT;
	const char *host = strcmp(server, "docker.io") == 0 ? "registry-1.docker.io" : server;
	char *base = bs_xasprintf("%s://%s", bs_host_is_loopback(host) ? "http" : "https", host);
	int rc;

	*out = NULL;
	c->opts = opts ? *opts : defaults;
	c->server = bs_xstrdup(server);
	if (cred != NULL && cred->username != NULL) {
		c->username = bs_xstrdup(cred->username);
		c->password = bs_xstrdup(cred->password ? cred->password : "");
	}
	rc = bs_http_new_url(&c->http, base, &c->opts, err);
	free(base);
	if (rc != 0) {
		bs_registry_client_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void bs_registry_client_free(struct bs_registry_client *c)
{
	if (c == NULL)
		return;
	bs_http_free(c->http);
	free(c->server);
	free(c->username);
	bs_secure_free_str(c->password);
	bs_secure_free_str(c->authorization);
	free(c);
}

char *bs_registry_parse_challenge(const char *header, struct bs_kvlist *params)
{
	const char *p = header;
	char *scheme;
	size_t i, n = 0;

	while (*p == ' ')
		p++;
	while (p[n] != '\0' && p[n] != ' ')
		n++;
	if (n == 0)
		return NULL;
	scheme = bs_xstrndup(p, n);
	for (i = 0; i < n; i++)
		scheme[i] = (char)tolower((unsigned char)scheme[i]);
	p += n;
	while (*p != '\0') {
		const char *kstart, *eq;
		struct bs_buf value = BS_BUF_INIT;
		char *key;

		while (*p == ' ' || *p == ',')
			p++;
		kstart = p;
		eq = strchr(p, '=');
		if (eq == NULL)
			break;
		key = bs_xstrndup(kstart, (size_t)(eq - kstart));
		for (i = 0; key[i] != '\0'; i++)
			key[i] = (char)tolower((unsigned char)key[i]);
		p = eq + 1;
		if (*p == '"') {
			p++;
			while (*p != '\0' && *p != '"') {
				if (*p == '\\' && p[1] != '\0')
					p++;
				bs_buf_putc(&value, *p++);
			}
			if (*p == '"')
				p++;
		} else {
			while (*p != '\0' && *p != ',')
				bs_buf_putc(&value, *p++);
		}
		bs_kvlist_push(params, key, bs_buf_str(&value), false);
		free(key);
		bs_buf_free(&value);
	}
	return scheme;
}

char *bs_registry_parse_token(const char *body, size_t len)
{
	cJSON *o = cJSON_ParseWithLength(body, len);
	const cJSON *tok = cJSON_GetObjectItemCaseSensitive(o, "token");
	char *token = NULL;

	if (!cJSON_IsString(tok))
		tok = cJSON_GetObjectItemCaseSensitive(o, "access_token");
	if (cJSON_IsString(tok) && tok->valuestring[0] != '\0')
		token = bs_xstrdup(tok->valuestring);
	if (cJSON_IsString(tok))
		explicit_bzero(tok->valuestring, strlen(tok->valuestring));
	cJSON_Delete(o);
	return token;
}

static char *basic_header(const struct bs_registry_client *c)
{
	char *pair = bs_xasprintf("%s:%s", c->username, c->password);
	char *b64 = bs_base64_encode(pair, strlen(pair), false);
	char *h = bs_xasprintf("Authorization: Basic %s", b64);

	bs_secure_free_str(pair);
	bs_secure_free_str(b64);
	return h;
}

/* Ask the token service named by a Bearer challenge for a token. */
static int fetch_token(struct bs_registry_client *c, const struct bs_kvlist *params,
		       struct bs_err *err)
{
	const struct bs_kv *realm = bs_kvlist_find(params, "realm");
	char realm_host[256];
	const struct bs_kv *service = bs_kvlist_find(params, "service");
	const struct bs_kv *scope = bs_kvlist_find(params, "scope");
	struct bs_http *tokens = NULL;
	struct bs_http_request req;
	struct bs_http_response resp;
	struct bs_buf query = BS_BUF_INIT;
	const char *headers[2] = {NULL, NULL};
	char *basic = NULL, *esc, *token = NULL;
	int rc;

	if (realm == NULL || !(bs_str_starts_with(realm->value, "https://") ||
			       bs_str_starts_with(realm->value, "http://")))
		return bs_err_set(err, BS_ERR_PROTOCOL,
				  "registry %s: its token challenge names no usable realm",
				  c->server);
	/* credentials go to a token service over TLS, or on this machine */
	if (bs_str_starts_with(realm->value, "http://") &&
	    !bs_host_is_loopback(bs_url_host(realm->value, realm_host, sizeof(realm_host))))
		return bs_err_set(
			err, BS_ERR_AUTH,
			"registry %s sends its credentials to %s over plain HTTP; refused (the token service must use https)",
			c->server, realm_host);
	if (service != NULL) {
		esc = bs_http_escape(service->value);
		bs_buf_printf(&query, "service=%s", esc);
		free(esc);
	}
	if (scope != NULL) {
		esc = bs_http_escape(scope->value);
		bs_buf_printf(&query, "%sscope=%s", query.len ? "&" : "", esc);
		free(esc);
	}
	rc = bs_http_new_url(&tokens, realm->value, &c->opts, err);
	if (rc != 0)
		goto out;
	if (c->username != NULL) {
		basic = basic_header(c);
		headers[0] = basic;
	}
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.path = "";
	req.query = query.len ? bs_buf_str(&query) : NULL;
	req.headers = headers;
	rc = bs_http_request(tokens, &req, &resp, err);
	if (rc != 0)
		goto out;
	if (resp.status == 401 || resp.status == 403)
		rc = bs_err_set(
			err, BS_ERR_AUTH,
			"authentication failed for %s (the token service refused the credentials)",
			c->server);
	else if (resp.status != 200)
		rc = bs_err_set(err, BS_ERR_API, "registry %s: token service answered HTTP %ld",
				c->server, resp.status);
	else {
		token = bs_registry_parse_token(bs_buf_str(&resp.body), resp.body.len);
		if (token == NULL)
			rc = bs_err_set(err, BS_ERR_PROTOCOL,
					"registry %s: the token service sent no token", c->server);
		else {
			bs_secure_free_str(c->authorization);
			c->authorization = bs_xasprintf("Authorization: Bearer %s", token);
		}
	}
	bs_buf_wipe_free(&resp.body);
	bs_http_response_free(&resp);
out:
	bs_secure_free_str(token);
	bs_http_free(tokens);
	bs_secure_free_str(basic);
	bs_buf_free(&query);
	return rc;
}

/* A request that meets the registry's auth challenge once, then retries. */
static int registry_request(struct bs_registry_client *c, const char *method, const char *path,
			    const char *query, const char *accept, struct bs_http_response *resp,
			    struct bs_err *err)
{
	struct bs_http_request req;
	const char *headers[3];
	int attempt, rc = 0;

	for (attempt = 0; attempt < 2; attempt++) {
		const char *challenge;
		struct bs_kvlist params = BS_KVLIST_INIT;
		char *scheme;
		int n = 0;

		if (c->authorization)
			headers[n++] = c->authorization;
		if (accept)
			headers[n++] = accept;
		headers[n] = NULL;
		memset(&req, 0, sizeof(req));
		req.method = method;
		req.path = path;
		req.query = query;
		req.headers = headers;
		rc = bs_http_request(c->http, &req, resp, err);
		if (rc != 0 || resp->status != 401 || attempt == 1)
			break;
		challenge = bs_http_header(resp, "www-authenticate");
		scheme = challenge ? bs_registry_parse_challenge(challenge, &params) : NULL;
		if (scheme != NULL && strcmp(scheme, "basic") == 0 && c->username != NULL) {
			bs_secure_free_str(c->authorization);
			c->authorization = basic_header(c);
		} else if (scheme != NULL && strcmp(scheme, "bearer") == 0) {
			rc = fetch_token(c, &params, err);
		} else {
			free(scheme);
			bs_kvlist_free(&params);
			break;
		}
		free(scheme);
		bs_kvlist_free(&params);
		if (rc != 0)
			break;
		bs_http_response_free(resp);
	}
	if (rc == 0 && (resp->status == 401 || resp->status == 403))
		rc = bs_err_set(
			err, BS_ERR_AUTH, "authentication failed for %s (%s)", c->server,
			c->username
				? "check the username and password"
				: "it wants credentials: add them to registries: or run docker login");
	return rc;
}

/* The query of the next page a paged answer names, or NULL at the last:
 * Link: </v2/x/tags/list?n=1000&last=abc>; rel="next" */
static char *next_page(const struct bs_http_response *resp)
{
	const char *link = bs_http_header(resp, "link");
	const char *q = link ? strchr(link, '?') : NULL;
	const char *end = q ? strchr(q, '>') : NULL;

	return q != NULL && end != NULL ? bs_xstrndup(q + 1, (size_t)(end - q - 1)) : NULL;
}

int bs_registry_tags(struct bs_registry_client *c, const char *repository, struct bs_strv *tags,
		     struct bs_err *err)
{
	char *path = bs_xasprintf("/v2/%s/tags/list", repository);
	char *query = bs_xstrdup("n=1000");
	int page, rc = 0;

	for (page = 0; page < MAX_PAGES; page++) {
		struct bs_http_response resp;
		const cJSON *list, *t;
		cJSON *o;

		rc = registry_request(c, "GET", path, query, NULL, &resp, err);
		if (rc != 0) {
			bs_http_response_free(&resp);
			break;
		}
		if (resp.status == 404) {
			rc = bs_err_set(err, BS_ERR_NOT_FOUND, "registry %s has no repository %s",
					c->server, repository);
			bs_http_response_free(&resp);
			break;
		}
		if (resp.status != 200) {
			rc = bs_err_set(err, BS_ERR_API,
					"registry %s: listing tags of %s: HTTP %ld", c->server,
					repository, resp.status);
			bs_http_response_free(&resp);
			break;
		}
		o = cJSON_ParseWithLength(bs_buf_str(&resp.body), resp.body.len);
		list = cJSON_GetObjectItemCaseSensitive(o, "tags");
		cJSON_ArrayForEach(t, list) if (cJSON_IsString(t))
			bs_strv_push(tags, t->valuestring);
		cJSON_Delete(o);
		free(query);
		query = next_page(&resp);
		bs_http_response_free(&resp);
		if (query == NULL)
			break;
	}
	free(query);
	free(path);
	return rc;
}

int bs_registry_digest(struct bs_registry_client *c, const char *repository, const char *reference,
		       char **digest, struct bs_err *err)
{
	struct bs_http_response resp;
	char *path = bs_xasprintf("/v2/%s/manifests/%s", repository, reference);
	const char *d;
	int rc;

	*digest = NULL;
	rc = registry_request(c, "HEAD", path, NULL, accept_manifests, &resp, err);
	if (rc == 0) {
		d = bs_http_header(&resp, "docker-content-digest");
		if (resp.status == 404)
			rc = bs_err_set(err, BS_ERR_NOT_FOUND, "registry %s has no %s:%s",
					c->server, repository, reference);
		else if (resp.status != 200)
			rc = bs_err_set(err, BS_ERR_API, "registry %s: %s:%s: HTTP %ld", c->server,
					repository, reference, resp.status);
		else if (d == NULL || !bs_str_starts_with(d, "sha256:"))
			rc = bs_err_set(err, BS_ERR_PROTOCOL,
					"registry %s sent no digest for %s:%s", c->server,
					repository, reference);
		else
			*digest = bs_xstrdup(d);
	}
	bs_http_response_free(&resp);
	free(path);
	return rc;
}

/* ---- catalog, manifests, config blobs ---------------------------------- */

void bs_registry_image_free(struct bs_registry_image *im)
{
	free(im->digest);
	free(im->media_type);
	free(im->platform);
	free(im->created);
	bs_strv_free(&im->platforms);
	bs_kvlist_free(&im->labels);
	memset(im, 0, sizeof(*im));
}

static bool is_index(const char *media_type)
{
	return media_type != NULL &&
	       (strcmp(media_type, "application/vnd.docker.distribution.manifest.list.v2+json") ==
			0 ||
		strcmp(media_type, "application/vnd.oci.image.index.v1+json") == 0);
}

/* GET a JSON document (a manifest or a blob); *o and, for a manifest, its
 * digest and media type. 404 names what is missing. */
static int get_json(struct bs_registry_client *c, const char *path, const char *accept,
		    const char *what, cJSON **o, char **digest, char **media_type,
		    struct bs_err *err)
{
	struct bs_http_response resp;
	int rc = registry_request(c, "GET", path, NULL, accept, &resp, err);

	*o = NULL;
	if (rc == 0 && resp.status == 404)
		rc = bs_err_set(err, BS_ERR_NOT_FOUND, "registry %s has no %s", c->server, what);
	else if (rc == 0 && resp.status != 200)
		rc = bs_err_set(err, BS_ERR_API, "registry %s: %s: HTTP %ld", c->server, what,
				resp.status);
	else if (rc == 0 &&
		 (*o = cJSON_ParseWithLength(bs_buf_str(&resp.body), resp.body.len)) == NULL)
		rc = bs_err_set(err, BS_ERR_PROTOCOL, "registry %s: %s: the answer is not JSON",
				c->server, what);
	if (rc == 0 && digest != NULL) {
		const char *d = bs_http_header(&resp, "docker-content-digest");
		char hex[65];

		/* what the registry says, else what the bytes hash to */
		if (d != NULL && bs_str_starts_with(d, "sha256:")) {
			*digest = bs_xstrdup(d);
		} else {
			bs_sha256_hex(bs_buf_str(&resp.body), resp.body.len, hex);
			*digest = bs_xasprintf("sha256:%s", hex);
		}
	}
	if (rc == 0 && media_type != NULL) {
		const cJSON *mt = cJSON_GetObjectItemCaseSensitive(*o, "mediaType");
		const char *ct = bs_http_header(&resp, "content-type");

		*media_type = cJSON_IsString(mt) ? bs_xstrdup(mt->valuestring)
			      : ct != NULL	 ? bs_xstrndup(ct, strcspn(ct, "; "))
						 : bs_xstrdup("");
	}
	bs_http_response_free(&resp);
	return rc;
}

/* "os/arch[/variant]" of an index entry's platform, or NULL. */
static char *platform_of(const cJSON *entry)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(entry, "platform");
	const cJSON *os = cJSON_GetObjectItemCaseSensitive(p, "os");
	const cJSON *arch = cJSON_GetObjectItemCaseSensitive(p, "architecture");
	const cJSON *variant = cJSON_GetObjectItemCaseSensitive(p, "variant");

	if (!cJSON_IsString(os) || !cJSON_IsString(arch))
		return NULL;
	return cJSON_IsString(variant) && variant->valuestring[0] != '\0'
		       ? bs_xasprintf("%s/%s/%s", os->valuestring, arch->valuestring,
				      variant->valuestring)
		       : bs_xasprintf("%s/%s", os->valuestring, arch->valuestring);
}

void bs_registry_parse_manifest(const cJSON *o, struct bs_registry_image *out, char **config)
{
	const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(o, "config");
	const cJSON *layers = cJSON_GetObjectItemCaseSensitive(o, "layers"), *l;
	const cJSON *size = cJSON_GetObjectItemCaseSensitive(cfg, "size");
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(cfg, "digest");
	double total = cJSON_IsNumber(size) && size->valuedouble > 0 && size->valuedouble < 1e15
			       ? size->valuedouble
			       : 0;

	if (!cJSON_IsArray(layers))
		layers = NULL;
	cJSON_ArrayForEach(l, layers)
	{
		const cJSON *ls = cJSON_GetObjectItemCaseSensitive(l, "size");

		if (cJSON_IsNumber(ls) && ls->valuedouble > 0 && ls->valuedouble < 1e15)
			total += ls->valuedouble;
	}
	out->size = total < 9e15 ? (long long)total : -1;
	*config = cJSON_IsString(d) && bs_str_starts_with(d->valuestring, "sha256:")
			  ? bs_xstrdup(d->valuestring)
			  : NULL;
}

void bs_registry_parse_config(const cJSON *o, struct bs_registry_image *out)
{
	const cJSON *created = cJSON_GetObjectItemCaseSensitive(o, "created");
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(o, "config"), "Labels");
	const cJSON *l;

	out->created = cJSON_IsString(created) ? bs_xstrdup(created->valuestring) : NULL;
	if (!cJSON_IsObject(labels))
		labels = NULL;
	cJSON_ArrayForEach(l, labels)
	{
		if (cJSON_IsString(l) && l->string != NULL)
			bs_kvlist_push(&out->labels, l->string, l->valuestring, false);
	}
}

int bs_registry_inspect(struct bs_registry_client *c, const char *repository, const char *reference,
			const char *platform, struct bs_registry_image *out, struct bs_err *err)
{
	char *path = bs_xasprintf("/v2/%s/manifests/%s", repository, reference);
	char *what = bs_xasprintf(
		"%s%s%s", repository,
		reference[0] == 's' && bs_str_starts_with(reference, "sha256:") ? "@" : ":",
		reference);
	char *config = NULL, *chosen = NULL, *chosen_digest = NULL;
	cJSON *o = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = get_json(c, path, accept_manifests, what, &o, &out->digest, &out->media_type, err);
	if (rc == 0 && is_index(out->media_type)) {
		const cJSON *m;

		/* each platform; the wanted one's manifest (else the first) */
		cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(o, "manifests"))
		{
			char *p = platform_of(m);
			const cJSON *d = cJSON_GetObjectItemCaseSensitive(m, "digest");

			if (p == NULL || strcmp(p, "unknown/unknown") == 0 || !cJSON_IsString(d)) {
				free(p); /* an attestation, not an image */
				continue;
			}
			bs_strv_push(&out->platforms, p);
			if (chosen == NULL || (platform != NULL && strcmp(p, platform) == 0 &&
					       strcmp(chosen, platform) != 0)) {
				free(chosen);
				free(chosen_digest);
				chosen = bs_xstrdup(p);
				chosen_digest = bs_xstrdup(d->valuestring);
			}
			free(p);
		}
		cJSON_Delete(o);
		o = NULL;
		if (chosen_digest == NULL) {
			rc = bs_err_set(err, BS_ERR_NOT_FOUND, "registry %s: %s lists no image",
					c->server, what);
		} else {
			free(path);
			path = bs_xasprintf("/v2/%s/manifests/%s", repository, chosen_digest);
			rc = get_json(c, path, accept_manifests, what, &o, NULL, NULL, err);
			out->platform = chosen;
			chosen = NULL;
		}
	}
	if (rc == 0)
		bs_registry_parse_manifest(o, out, &config);
	cJSON_Delete(o);
	o = NULL;
	if (rc == 0 && config != NULL) {
		free(path);
		path = bs_xasprintf("/v2/%s/blobs/%s", repository, config);
		rc = get_json(c, path, NULL, "the image's config", &o, NULL, NULL, err);
		if (rc == 0) {
			bs_registry_parse_config(o, out);
			if (out->platform == NULL) {
				const cJSON *os = cJSON_GetObjectItemCaseSensitive(o, "os");
				const cJSON *arch =
					cJSON_GetObjectItemCaseSensitive(o, "architecture");

				if (cJSON_IsString(os) && cJSON_IsString(arch))
					out->platform = bs_xasprintf("%s/%s", os->valuestring,
								     arch->valuestring);
			}
		}
	}
	if (rc != 0)
		bs_registry_image_free(out);
	cJSON_Delete(o);
	free(config);
	free(chosen);
	free(chosen_digest);
	free(what);
	free(path);
	return rc;
}

int bs_registry_catalog(struct bs_registry_client *c, struct bs_strv *repos, struct bs_err *err)
{
	char *query = bs_xstrdup("n=1000");
	int page, rc = 0;

	for (page = 0; page < MAX_PAGES && query != NULL && rc == 0; page++) {
		struct bs_http_response resp;
		const cJSON *list, *t;
		cJSON *o;

		rc = registry_request(c, "GET", "/v2/_catalog", query, NULL, &resp, err);
		free(query);
		query = NULL;
		if (rc == 0 && (resp.status == 404 || resp.status == 405))
			rc = bs_err_set(err, BS_ERR_UNSUPPORTED,
					"registry %s does not list its repositories (no catalog; "
					"Docker Hub has none either): name a repository, like "
					"bootstrap registry tags %s/REPO",
					c->server, c->server);
		else if (rc == 0 && resp.status != 200)
			rc = bs_err_set(err, BS_ERR_API, "registry %s: the catalog: HTTP %ld",
					c->server, resp.status);
		if (rc == 0) {
			o = cJSON_ParseWithLength(bs_buf_str(&resp.body), resp.body.len);
			list = cJSON_GetObjectItemCaseSensitive(o, "repositories");
			cJSON_ArrayForEach(t, list) if (cJSON_IsString(t))
				bs_strv_push(repos, t->valuestring);
			cJSON_Delete(o);
			query = next_page(&resp);
		}
		bs_http_response_free(&resp);
	}
	free(query);
	return rc;
}
