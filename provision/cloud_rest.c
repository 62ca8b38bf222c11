/*
 * cloud_rest.c - the REST client of the cloud compute drivers (one libcurl
 * easy handle run in a multi handle, one thread), their error mapping,
 * retries and pagination, the SSH key fingerprint and the "valid: ..."
 * lists of the plan-time checks. See cloud_rest.h for the retry rules and what
 * happens to the token.
 */
#include "provision/cloud_rest.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "util/log.h"
#include "util/str.h"
#include "util/url.h"

#define BODY_MAX (16u << 20)	/* a list page is far smaller */
#define TEXT_MAX 300		/* provider messages quoted in errors */
#define PAGES_MAX 10000		/* a list that never ends is an error */
#define LIST_MAX (64u << 20)	/* all pages of one list, in bytes (a project's are < 1 MiB) */
#define RATE_BACKOFF_FIRST 1000 /* ms; Hetzner refills one request a second */

struct bs_rest {
	CURL *curl;
	CURLM *multi; /* runs each transfer, so that the cancel flag is seen every 100 ms */
	struct curl_slist *headers; /* holds the token: wiped on free */
	char *auth_header;
	char *base_url;
	char *token_source;
	struct bs_rest_opts opts; /* pointers not kept: base_url, token, token_source */
	unsigned long requests;
	char curl_error[CURL_ERROR_SIZE];
};

/* One attempt's raw answer. */
struct attempt {
	struct bs_buf body;
	bool too_big;
	long status;
	char *retry_after;
	char *ratelimit_reset;
};

/* ---- time ----------------------------------------------------------------- */

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool cancelled(const struct bs_rest *r)
{
	return r->opts.cancel != NULL && *r->opts.cancel;
}

/* Sleep ms in 100 ms steps; false when the cancel flag stopped it. */
static bool sleep_ms(const struct bs_rest *r, long ms)
{
	long long end = mono_ms() + ms;

	for (;;) {
		long long left = end - mono_ms();
		struct timespec ts;

		if (cancelled(r))
			return false;
		if (left <= 0)
			return true;
		if (left > 100)
			left = 100;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)left * 1000000L;
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			if (cancelled(r))
				return false;
	}
}

/* ---- pure helpers ----------------------------------------------------------- */

const char *bs_rest_provider_name(enum bs_rest_dialect d)
{
	return d == BS_REST_HETZNER ? "hetzner" : "digitalocean";
}

char *bs_rest_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	struct bs_buf b = BS_BUF_INIT;

	bs_buf_puts(&b, "");
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
			bs_buf_putc(&b, (char)c);
		} else {
			bs_buf_putc(&b, '%');
			bs_buf_putc(&b, hex[c >> 4]);
			bs_buf_putc(&b, hex[c & 15]);
		}
	}
	return bs_buf_detach(&b);
}

char *bs_rest_page_path(const char *path, long page, long per_page)
{
	return bs_xasprintf("%s%cpage=%ld&per_page=%ld", path, strchr(path, '?') ? '&' : '?', page,
			    per_page);
}

/* The page=N parameter of a URL's query: N > 0, or -1. */
static long url_page_param(const char *url)
{
	const char *q = strchr(url, '?');
	long long n;

	while (q != NULL) {
		q++;
		if (strncmp(q, "page=", 5) == 0) {
			char num[24];
			size_t len = strcspn(q + 5, "&#");

			if (len == 0 || len >= sizeof(num))
				return -1;
			memcpy(num, q + 5, len);
			num[len] = '\0';
			if (bs_parse_int64(num, &n) != 0 || n < 1 || n > 1000000000)
				return -1;
			return (long)n;
		}
		q = strchr(q, '&');
	}
	return -1;
}

long bs_rest_next_page(enum bs_rest_dialect d, const cJSON *root)
{
	const cJSON *next;

	if (d == BS_REST_HETZNER) {
		const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "meta");
		const cJSON *pag = cJSON_GetObjectItemCaseSensitive(meta, "pagination");

		if (meta == NULL || pag == NULL)
			return 0; /* lists without pagination are one page */
		if (!cJSON_IsObject(pag))
			return -1;
		next = cJSON_GetObjectItemCaseSensitive(pag, "next_page");
		if (next == NULL || cJSON_IsNull(next))
			return 0;
		if (!cJSON_IsNumber(next) || next->valuedouble < 1 || next->valuedouble > 1e9 ||
		    next->valuedouble != (double)(long)next->valuedouble)
			return -1;
		return (long)next->valuedouble;
	}
	{
		const cJSON *links = cJSON_GetObjectItemCaseSensitive(root, "links");
		const cJSON *pages = cJSON_GetObjectItemCaseSensitive(links, "pages");

		if (links == NULL || pages == NULL)
			return 0;
		if (!cJSON_IsObject(pages))
			return -1;
		next = cJSON_GetObjectItemCaseSensitive(pages, "next");
		if (next == NULL || cJSON_IsNull(next))
			return 0;
		if (!cJSON_IsString(next))
			return -1;
		return url_page_param(next->valuestring);
	}
}

/* A provider string made safe to quote: control characters become ' ',
 * cut at TEXT_MAX bytes (on a UTF-8 boundary) with "...". */
static char *sanitize(const char *text)
{
	struct bs_buf masked = BS_BUF_INIT;
	const char *s;
	size_t len, i;
	char *out;

	/* masked before the cut: an answer that quotes the token, cut in the
	 * middle of it, would show its start */
	bs_secret_mask(&masked, text);
	s = masked.data;
	len = strlen(s);
	if (len > TEXT_MAX) {
		len = TEXT_MAX;
		while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
			len--;
	}
	out = bs_xmalloc(len + 4);
	for (i = 0; i < len; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
	if (len < strlen(s)) {
		memcpy(out + len, "...", 3);
		len += 3;
	}
	out[len] = '\0';
	while (len > 0 && out[len - 1] == ' ')
		out[--len] = '\0';
	bs_buf_wipe_free(&masked);
	return out;
}

static char *json_string(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) && v->valuestring[0] != '\0' ? sanitize(v->valuestring) : NULL;
}

void bs_rest_parse_error(enum bs_rest_dialect d, const char *body, size_t len, char **code,
			 char **message)
{
	cJSON *root = body != NULL && len > 0 ? cJSON_ParseWithLength(body, len) : NULL;
	const cJSON *obj = root;

	*code = NULL;
	*message = NULL;
	if (d == BS_REST_HETZNER)
		obj = cJSON_GetObjectItemCaseSensitive(root, "error");
	if (cJSON_IsObject(obj)) {
		*code = json_string(obj, d == BS_REST_HETZNER ? "code" : "id");
		*message = json_string(obj, "message");
	}
	if (*message == NULL && root == NULL && body != NULL && len > 0) {
		/* not JSON (a proxy's page): its first line says most */
		char *text = bs_xstrndup(body, len);

		text[strcspn(text, "\r\n")] = '\0';
		if (text[0] != '\0' && text[0] != '<')
			*message = sanitize(text);
		free(text);
	}
	cJSON_Delete(root);
}

bool bs_rest_transient(enum bs_rest_dialect d, long status, const char *code)
{
	if (d != BS_REST_HETZNER || code == NULL)
		return false;
	return (status == 409 && strcmp(code, "conflict") == 0) ||
	       (status >= 400 && strcmp(code, "maintenance") == 0);
}

long bs_rest_rate_limit_wait_ms(const char *retry_after, const char *ratelimit_reset,
				long long now_ms, long backoff_ms)
{
	long long wait = backoff_ms, n;
	time_t date = retry_after != NULL ? curl_getdate(retry_after, NULL) : -1;

	if (retry_after != NULL && bs_parse_int64(retry_after, &n) == 0 && n >= 0) {
		wait = n > 86400 ? 86400000LL : n * 1000;
	} else if (date > 0 && (long long)date < 100000000000LL) {
		/* bounded like RateLimit-Reset: curl_getdate takes years far
		 * ahead, whose milliseconds overflow (found by tests/fuzz) */
		wait = (long long)date * 1000 - now_ms;
	} else if (ratelimit_reset != NULL && bs_parse_int64(ratelimit_reset, &n) == 0 && n > 0 &&
		   n < 100000000000LL) {
		long long until = n * 1000 - now_ms;

		if (until < wait)
			wait = until;
	}
	if (wait < 100)
		wait = 100;
	if (wait > 86400000LL)
		wait = 86400000LL;
	return (long)wait;
}

int bs_rest_status_error(struct bs_err *err, enum bs_rest_dialect d, const char *token_source,
			 const char *method, const char *path, long status, const char *code,
			 const char *message)
{
	const char *prov = bs_rest_provider_name(d);
	bool hz = d == BS_REST_HETZNER;
	char said[2 * TEXT_MAX + 64];
	int rc;

	snprintf(said, sizeof(said), "%ld%s%s%s%s", status, code ? " " : "", code ? code : "",
		 message ? ": " : "", message ? message : "");
	if (!token_source)
		token_source = "the recipe";
	/* Hetzner answers a write with a read-only token 401 token_readonly
	 * ("The token is only allowed to perform GET requests",
	 * https://docs.hetzner.cloud/#errors; hcloud-go ErrorCodeTokenReadonly) */
	if (hz && status == 401 && code && strcmp(code, "token_readonly") == 0)
		return bs_err_set(
			err, BS_ERR_AUTH,
			"%s: the token in %s may not do this (%s %s: %s): it is read-only: give bootstrap a token with Read & Write permission (Hetzner Console > Security > API tokens)",
			prov, token_source, method, path, said);
	if (hz && code && strcmp(code, "maintenance") == 0)
		return bs_err_set(
			err, BS_ERR_API,
			"%s: %s %s: %s: Hetzner is under maintenance and it outlasted the wait: run again later (status: https://status.hetzner.com)",
			prov, method, path, said);
	if (hz && status == 409 && code && strcmp(code, "conflict") == 0)
		return bs_err_set(
			err, BS_ERR_API,
			"%s: %s %s: %s: the resource kept changing while the request ran: run again",
			prov, method, path, said);
	if (status == 401)
		return bs_err_set(
			err, BS_ERR_AUTH,
			"%s: the API refused the token in %s (%s %s: %s): check that it is a current %s API token%s",
			prov, token_source, method, path, said,
			hz ? "Hetzner Cloud" : "DigitalOcean personal access",
			hz ? " of the project that should hold the servers" : "");
	if (status == 403 && !(code && (strcmp(code, "resource_limit_exceeded") == 0 ||
					strcmp(code, "limit_exceeded") == 0)))
		return bs_err_set(
			err, BS_ERR_AUTH, "%s: the token in %s may not do this (%s %s: %s): %s",
			prov, token_source, method, path, said,
			hz ? "give bootstrap a token with Read & Write permission (Hetzner Console > Security > API tokens)"
			   /* the custom scopes of the calls the driver makes, as the
			    * OpenAPI document names them for each operation
			    * (github.com/digitalocean/openapi, x-scopes): droplet
			    * create/read/update (power)/delete, SSH keys, tags, the
			    * image, actions, sizes and regions looked at */
			   : "give bootstrap a token with read and write scope, or a custom-scoped token with droplet:create, droplet:read, droplet:update, droplet:delete, ssh_key:create, ssh_key:read, tag:create, tag:read, image:read, actions:read, sizes:read and regions:read (control panel > API > Tokens)");
	switch (status) {
	case 400: rc = BS_ERR_INVALID; break;
	case 422:
		/* Hetzner's invalid_input (documented as 400, seen as 422) is the
		 * recipe's fault; DigitalOcean's 422 covers limits too */
		rc = code && (strcmp(code, "invalid_input") == 0 || strcmp(code, "json_error") == 0)
			     ? BS_ERR_INVALID
			     : BS_ERR_API;
		break;
	case 404: rc = BS_ERR_NOT_FOUND; break;
	case 409: rc = BS_ERR_CONFLICT; break;
	case 429:
		return bs_err_set(
			err, BS_ERR_API,
			"%s: %s %s: %s: the API rate limit stayed exhausted: try again later", prov,
			method, path, said);
	default: rc = BS_ERR_API; break;
	}
	if (status == 403 || (code && strcmp(code, "resource_limit_exceeded") == 0))
		return bs_err_set(
			err, BS_ERR_API,
			"%s: %s %s: %s: the account's limit is reached: remove machines or ask %s to raise the limit",
			prov, method, path, said, hz ? "Hetzner" : "DigitalOcean");
	return bs_err_set(err, rc, "%s: %s %s: %s", prov, method, path, said);
}

/* ---- SSH keys ------------------------------------------------------------------- */

char *bs_ssh_public_key_clean(const char *public_key)
{
	const char *p = public_key, *type, *b64;
	size_t tlen, blen;

	while (*p == ' ' || *p == '\t')
		p++;
	type = p;
	tlen = strcspn(p, " \t\r\n");
	p += tlen;
	while (*p == ' ' || *p == '\t')
		p++;
	b64 = p;
	blen = strcspn(p, " \t\r\n");
	if (tlen == 0 || blen == 0 || tlen > 64)
		return NULL;
	return bs_xasprintf("%.*s %.*s", (int)tlen, type, (int)blen, b64);
}

int bs_ssh_md5_fingerprint(char out[BS_MD5_FINGERPRINT_LEN], const char *public_key,
			   struct bs_err *err)
{
	char *clean = public_key ? bs_ssh_public_key_clean(public_key) : NULL;
	unsigned char digest[EVP_MAX_MD_SIZE], *blob = NULL;
	unsigned int dlen = 0, i;
	size_t blob_len = 0, tlen;
	uint32_t name_len;
	int rc = BS_ERR_INVALID;

	out[0] = '\0';
	if (clean == NULL)
		goto bad;
	tlen = strcspn(clean, " ");
	blob = bs_base64_decode(clean + tlen + 1, &blob_len);
	if (blob == NULL || blob_len < 4)
		goto bad;
	/* the blob starts with its own type name: string = uint32 length + bytes */
	name_len = (uint32_t)blob[0] << 24 | (uint32_t)blob[1] << 16 | (uint32_t)blob[2] << 8 |
		   blob[3];
	if (name_len != tlen || blob_len < 4 + (size_t)name_len ||
	    memcmp(blob + 4, clean, tlen) != 0)
		goto bad;
	if (!EVP_Digest(blob, blob_len, digest, &dlen, EVP_md5(), NULL) || dlen != 16) {
		rc = bs_err_set(
			err, BS_ERR_UNSUPPORTED,
			"MD5 is not available from libcrypto here (FIPS mode?): cloud providers name SSH keys by their MD5 fingerprint");
		goto out;
	}
	for (i = 0; i < dlen; i++)
		snprintf(out + 3 * i, 4, "%02x%s", digest[i], i + 1 < dlen ? ":" : "");
	rc = 0;
	goto out;
bad:
	rc = bs_err_set(
		err, BS_ERR_INVALID,
		"the SSH public key is not an OpenSSH one-line key (\"ssh-ed25519 AAAA... comment\"): check the .pub file next to ssh.key");
out:
	free(blob);
	free(clean);
	return rc;
}

/* ---- labels and tags ------------------------------------------------------------ */

bool bs_hetzner_label_value_ok(const char *v)
{
	size_t len = strlen(v), i;

	if (len == 0 || len > 63 || !isalnum((unsigned char)v[0]) ||
	    !isalnum((unsigned char)v[len - 1]))
		return false;
	for (i = 0; i < len; i++)
		if (!(isalnum((unsigned char)v[i]) || v[i] == '.' || v[i] == '-' || v[i] == '_'))
			return false;
	return true;
}

bool bs_digitalocean_tag_ok(const char *t)
{
	size_t len = strlen(t), i;

	if (len == 0 || len > 255)
		return false;
	for (i = 0; i < len; i++)
		if (!(isalnum((unsigned char)t[i]) || t[i] == ':' || t[i] == '-' || t[i] == '_'))
			return false;
	return true;
}

char *bs_hetzner_label_selector(const char *project)
{
	return bs_xasprintf("%s=%s", BS_HETZNER_LABEL_PROJECT, project);
}

char *bs_digitalocean_tag(const char *prefix, const char *value)
{
	char *tag = bs_xasprintf("%s%s", prefix, value);

	if (value[0] != '\0' && bs_digitalocean_tag_ok(tag))
		return tag;
	free(tag);
	return NULL;
}

/* ---- plan-time checks ------------------------------------------------------------ */

struct ranked {
	const char *name;
	size_t dist;
};

static int ranked_cmp(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;

	if (x->dist != y->dist)
		return x->dist < y->dist ? -1 : 1;
	return strcmp(x->name, y->name);
}

char *bs_rest_closest(const char *word, const struct bs_strv *names, size_t max)
{
	struct ranked *r = bs_xcalloc(names->n ? names->n : 1, sizeof(*r));
	struct bs_buf b = BS_BUF_INIT;
	size_t i, n = 0;

	for (i = 0; i < names->n; i++) {
		bool seen = false;

		for (size_t j = 0; j < n && !seen; j++)
			seen = strcmp(r[j].name, names->v[i]) == 0;
		if (seen)
			continue;
		r[n].name = names->v[i];
		r[n].dist = bs_edit_distance(word, names->v[i], 64);
		n++;
	}
	qsort(r, n, sizeof(*r), ranked_cmp);
	bs_buf_puts(&b, "");
	for (i = 0; i < n && i < max; i++)
		bs_buf_printf(&b, "%s%s", i ? ", " : "", r[i].name);
	if (n > max)
		bs_buf_puts(&b, ", ...");
	if (n == 0)
		bs_buf_puts(&b, "none");
	free(r);
	return bs_buf_detach(&b);
}

/* ---- machines ------------------------------------------------------------------- */

char *bs_rest_id_string(const cJSON *id)
{
	if (cJSON_IsString(id) && id->valuestring[0] != '\0') {
		const char *c;

		for (c = id->valuestring; *c; c++)
			if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_')
				return NULL;
		return bs_xstrdup(id->valuestring);
	}
	/* integral and exact in a double (cJSON keeps numbers as doubles) */
	if (cJSON_IsNumber(id) && id->valuedouble >= 0 && id->valuedouble <= 9007199254740992.0 &&
	    id->valuedouble == (double)(long long)id->valuedouble)
		return bs_xasprintf("%lld", (long long)id->valuedouble);
	return NULL;
}

void bs_rest_machines_push(struct bs_machine_list *l, struct bs_machine *m)
{
	l->v = bs_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = *m;
	memset(m, 0, sizeof(*m));
}

static int machine_cmp(const void *a, const void *b)
{
	const struct bs_machine *x = a, *y = b;
	int c;

	if (x->name == NULL || y->name == NULL)
		c = (x->name == NULL) - (y->name == NULL);
	else
		c = strcmp(x->name, y->name);
	if (c == 0 && x->id != NULL && y->id != NULL)
		c = strcmp(x->id, y->id);
	return c;
}

void bs_rest_machines_sort(struct bs_machine_list *l)
{
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), machine_cmp);
}

/* ---- the client ------------------------------------------------------------------- */

static bool token_ok(const char *t)
{
	if (t == NULL || t[0] == '\0')
		return false;
	for (; *t; t++)
		if ((unsigned char)*t <= 0x20 || *t == 0x7f)
			return false;
	return true;
}

int bs_rest_open(struct bs_rest **out, const struct bs_rest_opts *opts, struct bs_err *err)
{
	const char *prov = bs_rest_provider_name(opts->dialect);
	struct bs_rest *r;
	size_t len;

	*out = NULL;
	if (opts->base_url == NULL || (!bs_str_starts_with(opts->base_url, "https://") &&
				       !bs_str_starts_with(opts->base_url, "http://")))
		return bs_err_set(
			err, BS_ERR_INVALID,
			"%s: the API URL '%s' is not an http(s) URL: fix provider.api_url", prov,
			opts->base_url ? opts->base_url : "");
	if (bs_url_is_cleartext_remote(opts->base_url))
		return bs_err_set(
			err, BS_ERR_INVALID,
			"%s: the API URL '%s' would send the token in clear text: use https:// in provider.api_url (http:// only to a loopback address)",
			prov, opts->base_url);
	if (!token_ok(opts->token))
		return bs_err_set(
			err, BS_ERR_AUTH,
			"%s: the token in %s is empty or holds spaces or control characters: set it to the API token alone",
			prov, opts->token_source ? opts->token_source : "the recipe");
	r = bs_xcalloc(1, sizeof(*r));
	r->opts = *opts;
	r->opts.base_url = NULL;
	r->opts.token = NULL;
	r->opts.token_source = NULL;
	r->base_url = bs_xstrdup(opts->base_url);
	len = strlen(r->base_url);
	while (len > 0 && r->base_url[len - 1] == '/')
		r->base_url[--len] = '\0';
	r->token_source = bs_xstrdup(opts->token_source ? opts->token_source : "the recipe");
	if (r->opts.request_timeout_ms <= 0)
		r->opts.request_timeout_ms = 30000;
	if (r->opts.connect_timeout_ms <= 0)
		r->opts.connect_timeout_ms = 10000;
	if (r->opts.connect_timeout_ms > r->opts.request_timeout_ms)
		r->opts.connect_timeout_ms = r->opts.request_timeout_ms;
	if (r->opts.rate_limit_wait_ms <= 0)
		r->opts.rate_limit_wait_ms = 60000;
	if (r->opts.max_attempts <= 0)
		r->opts.max_attempts = 5;
	if (r->opts.backoff_first_ms <= 0)
		r->opts.backoff_first_ms = 500;
	if (r->opts.backoff_max_ms <= 0)
		r->opts.backoff_max_ms = 8000;
	if (r->opts.per_page <= 0)
		r->opts.per_page = opts->dialect == BS_REST_HETZNER ? 50 : 200;
	if (r->opts.transient_wait_ms <= 0)
		r->opts.transient_wait_ms = 60000;

	bs_secret_add(opts->token);
	r->auth_header = bs_xasprintf("Authorization: Bearer %s", opts->token);
	r->headers = curl_slist_append(r->headers, r->auth_header);
	r->headers = curl_slist_append(r->headers, "Accept: application/json");
	r->headers = curl_slist_append(r->headers, "Content-Type: application/json");
	r->headers = curl_slist_append(r->headers, "Expect:");
	r->curl = curl_easy_init();
	r->multi = curl_multi_init();
	if (r->curl == NULL || r->multi == NULL || r->headers == NULL) {
		bs_rest_free(r);
		return bs_err_set(err, BS_ERR_NOMEM, "%s: cannot set up libcurl", prov);
	}
	*out = r;
	return 0;
}

void bs_rest_free(struct bs_rest *r)
{
	if (r == NULL)
		return;
	if (r->curl != NULL)
		curl_easy_cleanup(r->curl);
	if (r->multi != NULL)
		curl_multi_cleanup(r->multi);
	curl_slist_free_all(r->headers); /* its copy of the token: see auth_header */
	bs_secure_free_str(r->auth_header);
	free(r->base_url);
	free(r->token_source);
	free(r);
}

unsigned long bs_rest_request_count(const struct bs_rest *r)
{
	return r->requests;
}

void bs_rest_reply_free(struct bs_rest_reply *reply)
{
	if (reply == NULL)
		return;
	cJSON_Delete(reply->json);
	free(reply->code);
	free(reply->message);
	memset(reply, 0, sizeof(*reply));
}

static size_t on_body(char *data, size_t size, size_t n, void *payload)
{
	struct attempt *a = payload;
	size_t len = size * n;

	if (a->body.len + len > BODY_MAX) {
		a->too_big = true;
		return 0;
	}
	bs_buf_append(&a->body, data, len);
	return len;
}

/* Keeps the two headers the retry logic reads (names are case-insensitive). */
static size_t on_header(char *data, size_t size, size_t n, void *payload)
{
	struct attempt *a = payload;
	size_t len = size * n, name_len;
	const char *colon = memchr(data, ':', len);
	char **slot = NULL;
	const char *v, *end = data + len;

	if (colon == NULL)
		return len;
	name_len = (size_t)(colon - data);
	if (name_len == 11 && strncasecmp(data, "retry-after", 11) == 0)
		slot = &a->retry_after;
	else if (name_len == 15 && strncasecmp(data, "ratelimit-reset", 15) == 0)
		slot = &a->ratelimit_reset;
	if (slot == NULL)
		return len;
	v = colon + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	free(*slot);
	*slot = bs_xstrndup(v, (size_t)(end - v));
	return len;
}

static int on_progress(void *payload, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	const struct bs_rest *r = payload;

	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return cancelled(r) ? 1 : 0;
}

static void attempt_reset(struct attempt *a)
{
	bs_buf_free(&a->body);
	free(a->retry_after);
	free(a->ratelimit_reset);
	memset(a, 0, sizeof(*a));
}

/* Run the easy handle to its end in the multi handle, looking at the
 * cancel flag every 100 ms (the progress callback alone may wait a second
 * while nothing moves): a cancelled transfer is abandoned. */
static CURLcode transfer(struct bs_rest *r)
{
	CURLcode cc = CURLE_OK;
	bool done = false;

	if (curl_multi_add_handle(r->multi, r->curl) != CURLM_OK)
		return CURLE_FAILED_INIT;
	while (!done) {
		int running = 0, fds = 0, left = 0;
		CURLMsg *msg;

		if (curl_multi_perform(r->multi, &running) != CURLM_OK) {
			cc = CURLE_FAILED_INIT;
			break;
		}
		msg = curl_multi_info_read(r->multi, &left);
		while (msg != NULL) {
			if (msg->msg == CURLMSG_DONE && msg->easy_handle == r->curl) {
				cc = msg->data.result;
				done = true;
			}
			msg = curl_multi_info_read(r->multi, &left);
		}
		if (done)
			break;
		if (cancelled(r)) {
			cc = CURLE_ABORTED_BY_CALLBACK;
			break;
		}
		if (running > 0 && curl_multi_poll(r->multi, NULL, 0, 100, &fds) != CURLM_OK) {
			cc = CURLE_FAILED_INIT;
			break;
		}
	}
	curl_multi_remove_handle(r->multi, r->curl);
	return cc;
}

/* One HTTP exchange; returns the CURLcode, a->status when an answer came. */
static CURLcode perform(struct bs_rest *r, const char *method, const char *url, const char *body,
			struct attempt *a, bool *sent)
{
	CURL *e = r->curl;
	CURLcode cc;
	long req_size = 0;

	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->curl_error);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, r->opts.request_timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, r->opts.connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "bootstrap/" BS_VERSION);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, a);
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(e, CURLOPT_XFERINFODATA, r);
	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	} else if (body != NULL) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	} else {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	}
	r->curl_error[0] = '\0';
	r->requests++;
	cc = transfer(r);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &a->status);
	curl_easy_getinfo(e, CURLINFO_REQUEST_SIZE, &req_size);
	*sent = req_size > 0;
	return cc;
}

static bool retryable_status(long status, const char *code)
{
	return status >= 500 || (status == 423 && code != NULL && strcmp(code, "locked") == 0);
}

static long next_backoff(const struct bs_rest *r, long cur)
{
	long n = cur * 2;

	return n > r->opts.backoff_max_ms ? r->opts.backoff_max_ms : n;
}

int bs_rest_call(struct bs_rest *r, const char *method, const char *path, const cJSON *body,
		 enum bs_rest_retry retry, struct bs_rest_reply *reply, struct bs_err *err)
{
	const char *prov = bs_rest_provider_name(r->opts.dialect);
	bool idempotent = retry == BS_REST_IDEMPOTENT;
	long backoff = r->opts.backoff_first_ms, rate_backoff = RATE_BACKOFF_FIRST;
	long rate_waited = 0;
	long long transient_since = 0;
	struct attempt a;
	char *url = bs_xasprintf("%s%s", r->base_url, path);
	char *text = body ? cJSON_PrintUnformatted(body) : NULL;
	int rc = 0;

	memset(&a, 0, sizeof(a));
	memset(reply, 0, sizeof(*reply));
	for (;;) {
		long long t0;
		CURLcode cc;
		bool sent = false;
		long wait;

		if (cancelled(r)) {
			rc = bs_err_set(err, BS_ERR_INTERRUPTED, "%s: %s %s: interrupted", prov,
					method, path);
			goto out;
		}
		attempt_reset(&a);
		reply->attempts++;
		t0 = mono_ms();
		cc = perform(r, method, url, text, &a, &sent);
		bs_log(BS_LOG_DEBUG, "%s: %s %s -> %ld in %lld ms%s%s", prov, method, path,
		       cc == CURLE_OK ? a.status : 0L, mono_ms() - t0, cc == CURLE_OK ? "" : ": ",
		       cc == CURLE_OK ? "" : curl_easy_strerror(cc));
		reply->status = cc == CURLE_OK ? a.status : 0;

		if (cc == CURLE_ABORTED_BY_CALLBACK && cancelled(r)) {
			rc = bs_err_set(err, BS_ERR_INTERRUPTED, "%s: %s %s: interrupted", prov,
					method, path);
			goto out;
		}
		if (cc == CURLE_WRITE_ERROR && a.too_big) {
			rc = bs_err_set(err, BS_ERR_PROTOCOL,
					"%s: %s %s: the answer is larger than %u MiB", prov, method,
					path, BODY_MAX >> 20);
			goto out;
		}
		if (cc != CURLE_OK) {
			bool timeout = cc == CURLE_OPERATION_TIMEDOUT;
			bool may_retry = idempotent || !sent;

			if (!may_retry || reply->attempts >= r->opts.max_attempts) {
				reply->maybe_applied = !idempotent && sent;
				rc = bs_err_set(
					err, timeout ? BS_ERR_TIMEOUT : BS_ERR_NETWORK,
					"%s: %s %s%s: %s%s (%d attempt%s): check the network and provider.api_url",
					prov, method, r->base_url, path,
					r->curl_error[0] ? r->curl_error : curl_easy_strerror(cc),
					timeout ? " (timeout)" : "", reply->attempts,
					reply->attempts == 1 ? "" : "s");
				goto out;
			}
			wait = backoff;
			backoff = next_backoff(r, backoff);
			bs_log(BS_LOG_INFO, "%s: %s %s: %s; retrying in %ld ms (attempt %d of %d)",
			       prov, method, path, curl_easy_strerror(cc), wait,
			       reply->attempts + 1, r->opts.max_attempts);
			goto sleep;
		}

		if (a.status >= 200 && a.status < 300) {
			if (a.body.len > 0) {
				reply->json = cJSON_ParseWithLength(a.body.data, a.body.len);
				reply->body_len = a.body.len;
				if (reply->json == NULL) {
					rc = bs_err_set(
						err, BS_ERR_PROTOCOL,
						"%s: %s %s: answer %ld is not JSON: is provider.api_url (%s) the %s API?",
						prov, method, path, a.status, r->base_url,
						r->opts.dialect == BS_REST_HETZNER
							? "Hetzner Cloud"
							: "DigitalOcean");
					goto out;
				}
			}
			rc = 0;
			goto out;
		}

		free(reply->code);
		free(reply->message);
		bs_rest_parse_error(r->opts.dialect, a.body.data, a.body.len, &reply->code,
				    &reply->message);
		if (a.status == 429) {
			long left = r->opts.rate_limit_wait_ms - rate_waited;

			wait = bs_rest_rate_limit_wait_ms(a.retry_after, a.ratelimit_reset,
							  unix_ms(), rate_backoff);
			rate_backoff = rate_backoff * 2 > 16000 ? 16000 : rate_backoff * 2;
			if (left <= 0) {
				long long reset = 0;

				if (a.ratelimit_reset &&
				    bs_parse_int64(a.ratelimit_reset, &reset) != 0)
					reset = 0;
				rc = bs_err_set(
					err, BS_ERR_API,
					"%s: %s %s: rate limited (429) for %ld s%s%lld%s: wait and run again, or spread runs out",
					prov, method, path, rate_waited / 1000,
					reset > 0 ? "; the limit resets in " : "",
					reset > 0 ? (reset * 1000 - unix_ms()) / 1000 : 0LL,
					reset > 0 ? " s" : "");
				goto out;
			}
			if (wait > left)
				wait = left;
			rate_waited += wait;
			bs_log(BS_LOG_INFO, "%s: %s %s: rate limited; waiting %ld ms", prov, method,
			       path, wait);
			goto sleep;
		}
		if (bs_rest_transient(r->opts.dialect, a.status, reply->code)) {
			long long now = mono_ms();

			if (transient_since == 0)
				transient_since = now;
			if (now - transient_since < r->opts.transient_wait_ms) {
				wait = backoff;
				backoff = next_backoff(r, backoff);
				if (wait > r->opts.transient_wait_ms - (now - transient_since))
					wait = (long)(r->opts.transient_wait_ms -
						      (now - transient_since));
				bs_log(BS_LOG_INFO, "%s: %s %s answered %ld %s; retrying in %ld ms",
				       prov, method, path, a.status, reply->code, wait);
				goto sleep;
			}
		}
		if (retryable_status(a.status, reply->code) && (idempotent || a.status == 423) &&
		    reply->attempts < r->opts.max_attempts) {
			wait = backoff;
			backoff = next_backoff(r, backoff);
			bs_log(BS_LOG_INFO,
			       "%s: %s %s answered %ld; retrying in %ld ms (attempt %d of %d)",
			       prov, method, path, a.status, wait, reply->attempts + 1,
			       r->opts.max_attempts);
			goto sleep;
		}
		reply->maybe_applied = !idempotent && a.status >= 500 &&
				       !bs_rest_transient(r->opts.dialect, a.status, reply->code);
		rc = bs_rest_status_error(err, r->opts.dialect, r->token_source, method, path,
					  a.status, reply->code, reply->message);
		if (a.status >= 500 && reply->attempts > 1) {
			size_t used = strlen(err ? err->msg : "");

			if (err != NULL && used + 32 < sizeof(err->msg))
				snprintf(err->msg + used, sizeof(err->msg) - used,
					 " (after %d attempts)", reply->attempts);
		}
		goto out;
	sleep:
		reply->waited_ms += wait;
		if (!sleep_ms(r, wait)) {
			rc = bs_err_set(err, BS_ERR_INTERRUPTED, "%s: %s %s: interrupted", prov,
					method, path);
			goto out;
		}
	}
out:
	attempt_reset(&a);
	if (text != NULL)
		cJSON_free(text);
	free(url);
	return rc;
}

int bs_rest_get_all(struct bs_rest *r, const char *path, const char *key, cJSON **items,
		    struct bs_err *err)
{
	const char *prov = bs_rest_provider_name(r->opts.dialect);
	long per_page = r->opts.per_page;
	long page = 1;
	size_t total = 0;
	int n, rc = 0;

	if (*items == NULL)
		*items = cJSON_CreateArray();
	for (n = 0; n < PAGES_MAX; n++) {
		struct bs_rest_reply reply;
		char *p = bs_rest_page_path(path, page, per_page);
		cJSON *arr;
		long next;

		rc = bs_rest_call(r, "GET", p, NULL, BS_REST_IDEMPOTENT, &reply, err);
		if (rc == 0) {
			arr = cJSON_GetObjectItemCaseSensitive(reply.json, key);
			total += reply.body_len;
			if (!cJSON_IsArray(arr)) {
				rc = bs_err_set(err, BS_ERR_PROTOCOL,
						"%s: GET %s: the answer has no \"%s\" list", prov,
						p, key);
			} else if (total > LIST_MAX) {
				rc = bs_err_set(
					err, BS_ERR_PROTOCOL,
					"%s: GET %s: the list passed %u MiB at page %ld; stopped reading it",
					prov, path, LIST_MAX >> 20, page);
			} else {
				cJSON *item;

				/* the first item each time: linear, whatever the page holds */
				while ((item = cJSON_DetachItemFromArray(arr, 0)) != NULL)
					cJSON_AddItemToArray(*items, item);
				next = bs_rest_next_page(r->opts.dialect, reply.json);
				if (next < 0 || (next > 0 && next <= page))
					rc = bs_err_set(
						err, BS_ERR_PROTOCOL,
						"%s: GET %s: the answer's pagination is malformed (next page after %ld: %ld)",
						prov, p, page, next);
				else
					page = next;
			}
		}
		free(p);
		bs_rest_reply_free(&reply);
		if (rc != 0 || page == 0)
			break;
	}
	if (rc == 0 && page != 0)
		rc = bs_err_set(err, BS_ERR_PROTOCOL, "%s: GET %s: more than %d pages", prov, path,
				PAGES_MAX);
	return rc;
}
