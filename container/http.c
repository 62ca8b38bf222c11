/*
 * http.c - the libcurl multi loop behind every engine and registry call.
 *
 * Why the multi interface: a request can be stopped between any two
 * steps (a cancel, an interrupt, a stream that went quiet), which
 * curl_easy_perform() would not allow. A stream endpoint (an SSH tunnel)
 * is a unix socket here: its connector moves the bytes on its own thread.
 */
#include "container/http.h"
#include "util/clock.h"

#include <cJSON.h>
#include <ctype.h>
#include <curl/curl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The largest answer kept whole (streams are handed on, not kept): an
 * engine or registry never needs to send more at once; past it the
 * request fails with BS_ERR_PROTOCOL instead of growing memory. Header
 * lines are bounded by libcurl (100 KiB each, 300 KiB in all). */
#define BODY_MAX (256u << 20)

struct bs_http {
	CURL *easy;
	CURLM *multi;
	const struct bs_endpoint *ep; /* NULL for URL clients */
	char *base_url;
	char *display;
	struct bs_http_opts opts;
	unsigned long requests;
	char *server; /* the first answer's Server header */
	char curl_error[CURL_ERROR_SIZE];
};

struct transfer {
	struct bs_http *h;
	const struct bs_http_request *req;
	struct bs_http_response *resp;
	const char *body;
	size_t body_left;
	long long last_byte_ms;
	bool status_known;
	bool streaming; /* 2xx answer to a request with on_data */
	bool too_big;	/* the body passed BODY_MAX */
};

static int http_init(struct bs_http *h, const struct bs_http_opts *opts, struct bs_err *err)
{
	struct bs_http_opts defaults = BS_HTTP_OPTS_INIT;

	h->opts = opts ? *opts : defaults;
	if (h->opts.connect_timeout_ms <= 0)
		h->opts.connect_timeout_ms = defaults.connect_timeout_ms;
	if (h->opts.request_timeout_ms <= 0)
		h->opts.request_timeout_ms = defaults.request_timeout_ms;
	if (h->opts.stream_idle_ms <= 0)
		h->opts.stream_idle_ms = defaults.stream_idle_ms;
	h->easy = curl_easy_init();
	h->multi = curl_multi_init();
	if (h->easy == NULL || h->multi == NULL)
		return bs_err_set(err, BS_ERR_NOMEM, "cannot create a libcurl handle");
	return 0;
}

int bs_http_new(struct bs_http **out, const struct bs_endpoint *ep, const struct bs_http_opts *opts,
		struct bs_err *err)
{
	struct bs_http *h = bs_xcalloc(1, sizeof(*h));
	int rc;

	*out = NULL;
	h->ep = ep;
	h->display = bs_xstrdup(ep->url ? ep->url : "engine");
	rc = http_init(h, opts, err);
	if (rc != 0)
		goto fail;
	switch (ep->kind) {
	case BS_ENDPOINT_UNIX:
		/* the host part is ignored on a unix socket */
		h->base_url = bs_xstrdup("http://localhost");
		break;
	case BS_ENDPOINT_TLS:
		if (strchr(ep->host, ':') != NULL)
			h->base_url = bs_xasprintf("https://[%s]:%d", ep->host, ep->port);
		else
			h->base_url = bs_xasprintf("https://%s:%d", ep->host, ep->port);
		break;
	case BS_ENDPOINT_STREAM: h->base_url = bs_xstrdup("http://localhost"); break;
	}
	*out = h;
	return 0;
fail:
	bs_http_free(h);
	return rc;
}

int bs_http_new_url(struct bs_http **out, const char *base_url, const struct bs_http_opts *opts,
		    struct bs_err *err)
{
	struct bs_http *h = bs_xcalloc(1, sizeof(*h));
	size_t len = strlen(base_url);
	int rc;

	*out = NULL;
	h->base_url = bs_xstrdup(base_url);
	if (len > 0 && h->base_url[len - 1] == '/')
		h->base_url[len - 1] = '\0';
	h->display = bs_xstrdup(h->base_url);
	rc = http_init(h, opts, err);
	if (rc != 0) {
		bs_http_free(h);
		return rc;
	}
	*out = h;
	return 0;
}

void bs_http_free(struct bs_http *h)
{
	if (h == NULL)
		return;
	if (h->multi)
		curl_multi_cleanup(h->multi);
	if (h->easy)
		curl_easy_cleanup(h->easy);
	free(h->base_url);
	free(h->display);
	free(h->server);
	free(h);
}

const char *bs_http_server(const struct bs_http *h)
{
	return h->server;
}

void bs_http_response_free(struct bs_http_response *resp)
{
	bs_buf_free(&resp->body);
	bs_kvlist_free(&resp->headers);
	memset(resp, 0, sizeof(*resp));
}

const char *bs_http_header(const struct bs_http_response *resp, const char *name)
{
	const struct bs_kv *kv = bs_kvlist_find(&resp->headers, name);

	return kv ? kv->value : NULL;
}

unsigned long bs_http_request_count(const struct bs_http *h)
{
	return h->requests;
}

const char *bs_http_display(const struct bs_http *h)
{
	return h->display;
}

char *bs_http_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	struct bs_buf out = BS_BUF_INIT;
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
			bs_buf_putc(&out, (char)*p);
		} else {
			bs_buf_putc(&out, '%');
			bs_buf_putc(&out, hex[*p >> 4]);
			bs_buf_putc(&out, hex[*p & 15]);
		}
	}
	return bs_buf_detach(&out);
}

char *bs_http_filters(const struct bs_kvlist *filters)
{
	cJSON *o = cJSON_CreateObject();
	char *json, *escaped;
	size_t i;

	for (i = 0; filters != NULL && i < filters->n; i++) {
		cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, filters->v[i].key);

		if (arr == NULL)
			arr = cJSON_AddArrayToObject(o, filters->v[i].key);
		cJSON_AddItemToArray(arr, cJSON_CreateString(filters->v[i].value));
	}
	json = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	escaped = bs_http_escape(json);
	free(json);
	return escaped;
}

static size_t on_header(char *data, size_t size, size_t n, void *userp)
{
	struct transfer *t = userp;
	size_t len = size * n, i;
	const char *colon = memchr(data, ':', len);

	if (colon != NULL && len > 2) {
		char *name = bs_xstrndup(data, (size_t)(colon - data));
		const char *v = colon + 1;
		size_t vlen = len - (size_t)(v - data);
		char *value;

		for (i = 0; name[i] != '\0'; i++)
			name[i] = (char)tolower((unsigned char)name[i]);
		while (vlen > 0 && (*v == ' ' || *v == '\t')) {
			v++;
			vlen--;
		}
		while (vlen > 0 &&
		       (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
			vlen--;
		value = bs_xstrndup(v, vlen);
		if (bs_kvlist_find(&t->resp->headers, name) == NULL)
			bs_kvlist_push(&t->resp->headers, name, value, false);
		free(name);
		free(value);
	} else if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		/* a new response (after 100 Continue or a redirect) */
		bs_kvlist_free(&t->resp->headers);
	}
	return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *userp)
{
	struct transfer *t = userp;
	size_t len = size * n;

	t->last_byte_ms = bs_now_ms();
	if (!t->status_known) {
		curl_easy_getinfo(t->h->easy, CURLINFO_RESPONSE_CODE, &t->resp->status);
		t->status_known = true;
		t->streaming =
			t->req->on_data != NULL && t->resp->status >= 200 && t->resp->status < 300;
	}
	if (t->streaming) {
		if (t->req->on_data(data, len, t->req->payload) != 0) {
			t->resp->stopped = true;
			return 0;
		}
		return len;
	}
	/* bounded: an engine never needs to send us more than this at once */
	if (t->resp->body.len + len > BODY_MAX) {
		t->too_big = true;
		return 0;
	}
	bs_buf_append(&t->resp->body, data, len);
	return len;
}

static size_t on_upload(char *buf, size_t size, size_t n, void *userp)
{
	struct transfer *t = userp;
	size_t room = size * n, chunk;

	if (t->req->read_body != NULL) {
		t->last_byte_ms = bs_now_ms();
		chunk = t->req->read_body(buf, room, t->req->read_payload);
		return chunk == (size_t)-1 ? CURL_READFUNC_ABORT : chunk;
	}
	t->last_byte_ms = bs_now_ms();
	chunk = t->body_left < room ? t->body_left : room;
	memcpy(buf, t->body, chunk);
	t->body += chunk;
	t->body_left -= chunk;
	return chunk;
}

static void setup(struct bs_http *h, struct transfer *t, struct curl_slist **hdrs, char **url)
{
	const struct bs_http_request *req = t->req;
	CURL *e = h->easy;
	const char *const *hp;

	curl_easy_reset(e);
	*url = bs_xasprintf("%s%s%s%s", h->base_url, req->path, req->query ? "?" : "",
			    req->query ? req->query : "");
	curl_easy_setopt(e, CURLOPT_URL, *url);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->curl_error);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, h->opts.connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_USERAGENT,
			 h->opts.user_agent ? h->opts.user_agent : "bootstrap");
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	if (!req->stream)
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
				 req->timeout_ms > 0 ? req->timeout_ms
						     : h->opts.request_timeout_ms);
	if (h->ep != NULL) {
		switch (h->ep->kind) {
		case BS_ENDPOINT_UNIX:
			curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, h->ep->unix_path);
			break;
		case BS_ENDPOINT_TLS:
			curl_easy_setopt(e, CURLOPT_CAINFO, h->ep->ca_file);
			curl_easy_setopt(e, CURLOPT_SSLCERT, h->ep->cert_file);
			curl_easy_setopt(e, CURLOPT_SSLKEY, h->ep->key_file);
			curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER,
					 h->ep->tls_skip_verify ? 0L : 1L);
			curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST,
					 h->ep->tls_skip_verify ? 0L : 2L);
			break;
		case BS_ENDPOINT_STREAM:
			curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, h->ep->stream.socket_path);
			break;
		}
	}
	if (strcmp(req->method, "HEAD") == 0) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (strcmp(req->method, "GET") != 0) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
		if (req->body != NULL || req->read_body != NULL ||
		    strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0) {
			curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
			curl_easy_setopt(e, CURLOPT_READFUNCTION, on_upload);
			curl_easy_setopt(e, CURLOPT_READDATA, t);
			if (req->read_body == NULL)
				curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
						 (curl_off_t)(req->body ? req->body_len : 0));
		}
	}
	/* no "Expect: 100-continue" round trip for uploads */
	*hdrs = curl_slist_append(*hdrs, "Expect:");
	if (req->content_type != NULL) {
		char *ct = bs_xasprintf("Content-Type: %s", req->content_type);

		*hdrs = curl_slist_append(*hdrs, ct);
		free(ct);
	}
	for (hp = req->headers; hp != NULL && *hp != NULL; hp++)
		*hdrs = curl_slist_append(*hdrs, *hp);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, *hdrs);
}

/* Cancelled: every request but clean-up; interrupted: streams and
 * requests that only look. */
static bool stop_now(const struct bs_http *h, const struct bs_http_request *req)
{
	if (req->ignore_cancel)
		return false;
	if (h->opts.cancel != NULL && *h->opts.cancel)
		return true;
	return (req->stream || req->interruptible) && h->opts.interrupt != NULL &&
	       *h->opts.interrupt;
}

static int run_loop(struct bs_http *h, struct transfer *t, CURLcode *result, struct bs_err *err)
{
	int running = 1;

	while (running) {
		CURLMcode mc = curl_multi_perform(h->multi, &running);

		if (mc != CURLM_OK)
			return bs_err_set(err, BS_ERR_NETWORK, "%s: libcurl: %s", h->display,
					  curl_multi_strerror(mc));
		if (!running)
			break;
		if (stop_now(h, t->req))
			return bs_err_set(err, BS_ERR_INTERRUPTED, "%s: interrupted", h->display);
		if (t->req->stream && bs_now_ms() - t->last_byte_ms > h->opts.stream_idle_ms)
			return bs_err_set(
				err, BS_ERR_TIMEOUT,
				"%s: no data for %ld s on %s %s (the engine stopped answering)",
				h->display, h->opts.stream_idle_ms / 1000, t->req->method,
				t->req->path);
		mc = curl_multi_wait(h->multi, NULL, 0, 200, NULL);
		if (mc != CURLM_OK)
			return bs_err_set(err, BS_ERR_NETWORK, "%s: libcurl: %s", h->display,
					  curl_multi_strerror(mc));
	}
	for (;;) {
		int left;
		CURLMsg *msg = curl_multi_info_read(h->multi, &left);

		if (msg == NULL)
			break;
		if (msg->msg == CURLMSG_DONE)
			*result = msg->data.result;
	}
	return 0;
}

/* A connection the stream's connector closed: its reason, if it has one. */
static int stream_failure(const struct bs_http *h, CURLcode result, struct bs_err *err)
{
	const struct bs_stream_connector *sc;

	if (h->ep == NULL || h->ep->kind != BS_ENDPOINT_STREAM)
		return 0;
	sc = &h->ep->stream;
	if (sc->failure == NULL || (result != CURLE_GOT_NOTHING && result != CURLE_RECV_ERROR &&
				    result != CURLE_SEND_ERROR && result != CURLE_COULDNT_CONNECT &&
				    result != CURLE_PARTIAL_FILE))
		return 0;
	return sc->failure(sc->payload, err);
}

int bs_http_request(struct bs_http *h, const struct bs_http_request *req,
		    struct bs_http_response *resp, struct bs_err *err)
{
	struct curl_slist *hdrs = NULL;
	struct transfer t;
	CURLcode result = CURLE_OK;
	char *url = NULL;
	int rc;

	memset(resp, 0, sizeof(*resp));
	memset(&t, 0, sizeof(t));
	t.h = h;
	t.req = req;
	t.resp = resp;
	t.body = req->body;
	t.body_left = req->body ? req->body_len : 0;
	t.last_byte_ms = bs_now_ms();
	h->curl_error[0] = '\0';
	setup(h, &t, &hdrs, &url);
	h->requests++;
	curl_multi_add_handle(h->multi, h->easy);
	rc = run_loop(h, &t, &result, err);
	curl_multi_remove_handle(h->multi, h->easy);
	if (rc != 0)
		goto out;
	if (!t.status_known)
		curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &resp->status);
	if (result == CURLE_WRITE_ERROR && resp->stopped)
		goto out;
	if (result == CURLE_WRITE_ERROR && t.too_big) {
		rc = bs_err_set(err, BS_ERR_PROTOCOL,
				"%s: %s %s: the answer is over %u MiB; stopped reading it",
				h->display, req->method, req->path, BODY_MAX >> 20);
		goto out;
	}
	if (result != CURLE_OK) {
		int code = result == CURLE_OPERATION_TIMEDOUT ? BS_ERR_TIMEOUT : BS_ERR_NETWORK;
		const char *detail = h->curl_error[0] ? h->curl_error : curl_easy_strerror(result);

		if ((rc = stream_failure(h, result, err)) != 0)
			;
		else if (result == CURLE_COULDNT_CONNECT && h->ep &&
			 h->ep->kind == BS_ENDPOINT_UNIX)
			rc = bs_err_set(
				err, code,
				"cannot connect to the Docker engine at %s: %s (is dockerd running, and may this user use its socket?)",
				h->display,
				access(h->ep->unix_path, F_OK) != 0 ? "no such socket"
				: access(h->ep->unix_path, R_OK | W_OK) != 0
					? "permission denied"
					: "nobody answers on the socket");
		else
			rc = bs_err_set(err, code, "%s: %s %s: %s", h->display, req->method,
					req->path, detail);
	}
out:
	if (rc != 0)
		bs_http_response_free(resp);
	else if (h->server == NULL && bs_http_header(resp, "server") != NULL)
		h->server = bs_xstrdup(bs_http_header(resp, "server"));
	curl_slist_free_all(hdrs);
	free(url);
	return rc;
}
