/*
 * http.h - HTTP/1.1 to a Docker engine or a registry over libcurl.
 *
 * One struct bs_http per thread, reused for every request so that
 * keep-alive connections are reused (one SSH channel, one TLS handshake).
 * Requests run through libcurl's multi interface in a loop owned by this
 * module: it waits on libcurl's sockets and on a stream connector's, pumps
 * the connector, checks the cancel flags (Ctrl-C) every 200 ms at most
 * and enforces the timeouts.
 * Every request is bounded: a total timeout for ordinary calls, a
 * low-speed limit for streams (pulls, builds, logs --follow).
 */
#ifndef BS_CONTAINER_HTTP_H
#define BS_CONTAINER_HTTP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "container/endpoint.h"
#include "util/error.h"
#include "util/str.h"

struct bs_http;

/* Receives response body bytes. Return 0 to go on, non-zero to stop the
 * transfer (the request then ends with BS_ERR_INTERRUPTED unless the
 * callback set *stop_ok in the request). */
typedef int (*bs_http_write_fn)(const char *data, size_t len, void *payload);
/* Supplies request body bytes; returns bytes written to buf, 0 at the end,
 * or (size_t)-1 on error. */
typedef size_t (*bs_http_read_fn)(char *buf, size_t size, void *payload);

struct bs_http_request {
	const char *method;	  /* GET, HEAD, POST, PUT, DELETE */
	const char *path;	  /* "/v1.41/containers/json" */
	const char *query;	  /* encoded, without '?'; or NULL */
	const char *content_type; /* for body */
	const char *body;	  /* or NULL */
	size_t body_len;
	bs_http_read_fn read_body; /* streamed upload instead of body */
	void *read_payload;
	const char *const *headers; /* "Name: value", NULL-terminated */
	bs_http_write_fn on_data;   /* stream the body of a 2xx answer */
	void *payload;
	bool stream;	    /* bounded by the stream limits below */
	long timeout_ms;    /* 0: the client's default */
	bool ignore_cancel; /* clean-up that must run after Ctrl-C */
	bool interruptible; /* only looks: stops on opts.interrupt, as streams do */
};

struct bs_http_response {
	long status;
	struct bs_buf body;	  /* whole body, or the error body of a stream */
	struct bs_kvlist headers; /* names lower-cased */
	bool stopped;		  /* on_data asked to stop */
};

struct bs_http_opts {
	long connect_timeout_ms; /* default 10 s */
	long request_timeout_ms; /* default 120 s */
	long stream_idle_ms;  /* streams: abort after this long with no byte either way (300 s) */
	long stream_total_ms; /* streams: overall bound, 0 for none */
	volatile sig_atomic_t *cancel; /* set by a signal handler: stop now */
	const char *user_agent;
	/* set by a signal handler: streams (pulls, builds, loads, logs
	 * --follow) and interruptible requests stop now, the other requests
	 * run on; NULL: only cancel */
	volatile sig_atomic_t *interrupt;
};

#define BS_HTTP_OPTS_INIT                                                                          \
	{                                                                                          \
		10000, 120000, 300000, 0, NULL, NULL, NULL                                         \
	}

/* Client for an engine endpoint (borrowed: must outlive the client). */
int bs_http_new(struct bs_http **out, const struct bs_endpoint *ep, const struct bs_http_opts *opts,
		struct bs_err *err);
/* Client for an http(s) base URL such as a registry's, CA-verified. */
int bs_http_new_url(struct bs_http **out, const char *base_url, const struct bs_http_opts *opts,
		    struct bs_err *err);
void bs_http_free(struct bs_http *h);

/*
 * Run a request. Returns 0 when a response arrived (any status: check
 * resp->status), or a negative bs_error for transport failures, timeouts
 * and cancellation, with err naming the endpoint; resp is then empty.
 * resp is reset first; free it with bs_http_response_free (always safe).
 */
int bs_http_request(struct bs_http *h, const struct bs_http_request *req,
		    struct bs_http_response *resp, struct bs_err *err);
void bs_http_response_free(struct bs_http_response *resp);
/* A response header by lower-case name, or NULL. */
const char *bs_http_header(const struct bs_http_response *resp, const char *name);

/* The Server header of the first answer that had one, or NULL. */
const char *bs_http_server(const struct bs_http *h);

/* Requests sent since the client was made (for --json stats, benchmarks). */
unsigned long bs_http_request_count(const struct bs_http *h);
/* The endpoint as users write it, for messages. */
const char *bs_http_display(const struct bs_http *h);

/*
 * The engine's "filters" parameter, URL-encoded: each pair of filters
 * (key = filter name such as "label" or "name", value = its argument) goes
 * into {"NAME": ["VALUE", ...]}. Caller frees.
 */
char *bs_http_filters(const struct bs_kvlist *filters);

/* Percent-encode s for a query string; caller frees. */
char *bs_http_escape(const char *s);

#endif
