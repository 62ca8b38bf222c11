/*
 * cloud_rest.h - what the cloud compute drivers (compute_hetzner.c,
 * compute_digitalocean.c) share: a small JSON REST client with a bearer
 * token, bounded retries and rate-limit handling, both pagination styles,
 * both error shapes, and the MD5 fingerprint both providers use to name an
 * SSH key.
 *
 * One struct bs_rest per driver instance: it owns one libcurl easy handle
 * and the multi handle it runs in (so one kept-alive connection serves the
 * whole run) and belongs to one thread. The program has called curl_global_init() once.
 *
 * Retries, per call:
 *   - 429: wait (Retry-After when given, else a backoff from 1 s that never
 *     waits past RateLimit-Reset), at most rate_limit_wait_ms in total per
 *     call, then fail with the time the limit resets;
 *   - 5xx, 423 "locked" and transport errors: exponential backoff from
 *     backoff_first_ms to backoff_max_ms, at most max_attempts attempts,
 *     but only for BS_REST_IDEMPOTENT calls (GET, DELETE). A BS_REST_ONCE
 *     call (a create) is repeated only when the request surely did nothing
 *     (429, 423, a connection that never opened); after a 5xx or a timeout
 *     it fails with reply->maybe_applied set, and the driver looks for the
 *     machine by name before it tries again, so a server is never made
 *     twice.
 *   - Hetzner's "the resource has changed during the request, please retry"
 *     (409 conflict) and "cannot perform operation due to maintenance"
 *     (maintenance) did nothing: any call (a create too) is tried again with
 *     the same backoff for up to transient_wait_ms (the run's timeout), then
 *     fails as BS_ERR_API (error codes: https://docs.hetzner.cloud/#errors;
 *     hcloud-go hcloud/error.go ErrorCodeConflict, ErrorCodeMaintenance);
 *   - the cancel flag is checked between attempts, during every wait (in
 *     100 ms steps) and during transfers: a request in flight runs in a
 *     libcurl multi loop that looks at the flag every 100 ms and abandons
 *     the transfer when it is set.
 *
 * The token is copied, registered with bs_secret_add() so that no log line
 * shows it, sent only in the Authorization header to the base URL (redirects
 * are not followed; a pagination link in an answer is reduced to its page
 * number, so the token never goes to a host an answer names), never put in
 * an error message, and wiped on free.
 *
 * Errors name the provider, the request and the fix; the provider's own
 * code and message are quoted (sanitised, shortened):
 *   401, 403 -> BS_ERR_AUTH (which variable held the token, and the scope it
 *   needs: Hetzner answers a read-only token 401 token_readonly, which gets
 *   the Read & Write advice; DigitalOcean's 403 lists the custom scopes),
 *   Hetzner's 403 resource_limit_exceeded -> BS_ERR_API (quota);
 *   404 -> BS_ERR_NOT_FOUND; 409 -> BS_ERR_CONFLICT; 400 -> BS_ERR_INVALID;
 *   422, other 4xx, 5xx after the retries -> BS_ERR_API; a 2xx answer that
 *   is not JSON -> BS_ERR_PROTOCOL; transport -> BS_ERR_NETWORK or
 *   BS_ERR_TIMEOUT; the cancel flag -> BS_ERR_INTERRUPTED.
 */
#ifndef BS_PROVISION_CLOUD_REST_H
#define BS_PROVISION_CLOUD_REST_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include <cJSON.h>

#include "provision/compute.h"
#include "util/error.h"

/* Which provider speaks: its error body, pagination and messages. */
enum bs_rest_dialect {
	BS_REST_HETZNER,      /* {"error":{"code","message"}}, meta.pagination.next_page */
	BS_REST_DIGITALOCEAN, /* {"id","message"}, links.pages.next */
};

struct bs_rest_opts {
	enum bs_rest_dialect dialect;
	const char *base_url;	  /* "https://api.hetzner.cloud/v1"; a trailing '/' is dropped */
	const char *token;	  /* the bearer token (copied) */
	const char *token_source; /* where it came from, for messages: "$HCLOUD_TOKEN" */
	long request_timeout_ms;  /* one attempt; 0: 30 s */
	long connect_timeout_ms;  /* 0: 10 s, never more than the request timeout */
	long rate_limit_wait_ms;  /* most time one call spends waiting out 429s; 0: 60 s */
	int max_attempts;	  /* for 5xx and transport errors; 0: 5 */
	long backoff_first_ms;	  /* 0: 500 */
	long backoff_max_ms;	  /* 0: 8000 */
	long per_page;		  /* list page size; 0: the most the provider gives (50, 200) */
	long transient_wait_ms;	  /* conflict/maintenance retried this long; 0: 60 s */
	volatile sig_atomic_t *cancel;
};

#define BS_REST_OPTS_INIT                                                                          \
	{                                                                                          \
		BS_REST_HETZNER, NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, 0, 0, NULL                    \
	}

struct bs_rest;

enum bs_rest_retry {
	BS_REST_IDEMPOTENT, /* GET, DELETE: retried on 429, 423, 5xx, transport errors */
	BS_REST_ONCE,	    /* POST create: retried only when it surely did nothing */
};

/* The outcome of one call. Free with bs_rest_reply_free (always safe). */
struct bs_rest_reply {
	long status;	    /* the last HTTP status, 0 when no answer came */
	cJSON *json;	    /* a 2xx answer's body; NULL when empty (204) */
	size_t body_len;    /* its length in bytes (at most 16 MiB) */
	char *code;	    /* an error answer's code ("uniqueness_error"), or NULL */
	char *message;	    /* an error answer's message (sanitised), or NULL */
	bool maybe_applied; /* failed, yet the provider may have acted on it */
	int attempts;
	long waited_ms; /* slept in backoff and rate-limit waits */
};

/* Open a client; the token is checked (non-empty, no spaces or control
 * characters) and registered as a secret. Free with bs_rest_free. */
int bs_rest_open(struct bs_rest **out, const struct bs_rest_opts *opts, struct bs_err *err);
void bs_rest_free(struct bs_rest *r);

/*
 * One call: method ("GET", "POST", "DELETE", "PUT") on path (starting with
 * '/', query included, below the base URL), with body as JSON when not
 * NULL. Returns 0 for a 2xx answer, else the mapped bs_error with err
 * filled ("hetzner: POST /servers: 409 uniqueness_error: ...") and reply
 * holding the status, the provider's code and message. reply is reset
 * first.
 */
int bs_rest_call(struct bs_rest *r, const char *method, const char *path, const cJSON *body,
		 enum bs_rest_retry retry, struct bs_rest_reply *reply, struct bs_err *err);
void bs_rest_reply_free(struct bs_rest_reply *reply);

/*
 * GET every page of a list (path may hold a query already) and move the
 * elements of each answer's array `key` into *items (a new array when
 * *items is NULL; the caller frees it with cJSON_Delete).
 */
int bs_rest_get_all(struct bs_rest *r, const char *path, const char *key, cJSON **items,
		    struct bs_err *err);

/* Requests sent (attempts included) since the client was opened. */
unsigned long bs_rest_request_count(const struct bs_rest *r);

/* ---- pure helpers (unit-tested) ---------------------------------------- */

/* "hetzner", "digitalocean" */
const char *bs_rest_provider_name(enum bs_rest_dialect d);

/* Percent-encode s for a query value (RFC 3986 unreserved kept). Caller frees. */
char *bs_rest_escape(const char *s);

/* path with "page=N&per_page=M" added ('?' or '&' as needed). Caller frees. */
char *bs_rest_page_path(const char *path, long page, long per_page);

/* The next page number of a list answer: > 0, 0 on the last page, -1 when
 * the pagination block is malformed. DigitalOcean's links.pages.next URL is
 * reduced to its page parameter. */
long bs_rest_next_page(enum bs_rest_dialect d, const cJSON *root);

/* The provider's error code and message from an error body (each NULL when
 * absent; control characters replaced, cut at 300 bytes). Caller frees. */
void bs_rest_parse_error(enum bs_rest_dialect d, const char *body, size_t len, char **code,
			 char **message);

/*
 * How long to wait after a 429: Retry-After (seconds, or an HTTP date) when
 * given, else backoff_ms but not past RateLimit-Reset (a Unix time; it can
 * lie an hour ahead, when the whole budget is back, while Hetzner refills
 * one request a second and DigitalOcean has a per-minute limit too). At
 * least 100 ms. now_ms is the Unix time in milliseconds. Headers may be NULL.
 */
long bs_rest_rate_limit_wait_ms(const char *retry_after, const char *ratelimit_reset,
				long long now_ms, long backoff_ms);

/* An answer that did nothing and says to try again (Hetzner's 409
 * conflict, maintenance): retried by bs_rest_call within transient_wait_ms. */
bool bs_rest_transient(enum bs_rest_dialect d, long status, const char *code);

/*
 * Fill err for an error answer and return its bs_error: the mapping and
 * the sentences described at the top of this file.
 */
int bs_rest_status_error(struct bs_err *err, enum bs_rest_dialect d, const char *token_source,
			 const char *method, const char *path, long status, const char *code,
			 const char *message);

/* ---- SSH keys ----------------------------------------------------------- */

#define BS_MD5_FINGERPRINT_LEN 48 /* "xx:" * 16, NUL instead of the last ':' */

/*
 * The MD5 fingerprint ("b7:2f:...", as `ssh-keygen -E md5 -l` prints it
 * after "MD5:") of an OpenSSH one-line public key "TYPE BASE64 [COMMENT]".
 * The key blob must decode and name TYPE. Returns 0 or BS_ERR_INVALID.
 */
int bs_ssh_md5_fingerprint(char out[BS_MD5_FINGERPRINT_LEN], const char *public_key,
			   struct bs_err *err);

/* "TYPE BASE64" of a public key line (options-free, comment dropped,
 * whitespace trimmed) or NULL when malformed. Caller frees. */
char *bs_ssh_public_key_clean(const char *public_key);

/* ---- identity labels and tags -------------------------------------------
 *
 * Hetzner labels: bootstrap.project=<project>, bootstrap.node=<node>; a
 * label value is at most 63 characters of [A-Za-z0-9._-], starting and
 * ending alphanumeric. DigitalOcean tags "bootstrap-project:<project>" and
 * "bootstrap-node:<node>": letters, digits, ':', '-', '_', at most 255.
 * Recipe names (DNS labels) always fit; these checks keep the drivers
 * honest when a name does not.
 */
#define BS_HETZNER_LABEL_PROJECT "bootstrap.project"
#define BS_HETZNER_LABEL_NODE "bootstrap.node"
#define BS_DO_TAG_PROJECT "bootstrap-project:"
#define BS_DO_TAG_NODE "bootstrap-node:"
/* the key a machine was created with, as bs_compute_key_label() gives it */
#define BS_HETZNER_LABEL_KEY "bootstrap.ssh-key"
#define BS_DO_TAG_KEY "bootstrap-key:"

bool bs_hetzner_label_value_ok(const char *value);
bool bs_digitalocean_tag_ok(const char *tag);
/* "bootstrap.project=<project>", to be escaped into ?label_selector=. Caller frees. */
char *bs_hetzner_label_selector(const char *project);
/* prefix + value when the result is a valid tag, else NULL. Caller frees. */
char *bs_digitalocean_tag(const char *prefix, const char *value);

/* ---- plan-time checks (the drivers' check op) -----------------------------
 *
 * The closest few of names to word, for "valid: ..." in an error: at most
 * max, by edit distance then name, duplicates once, ", ..." when there are
 * more, "none" when names is empty. Caller frees.
 */
char *bs_rest_closest(const char *word, const struct bs_strv *names, size_t max);

/* ---- provider objects -> struct bs_machine (the drivers' mappings) ------ */

/* Hetzner server status -> Libcloud state: initializing -> PENDING,
 * starting -> STARTING, running -> RUNNING, stopping -> STOPPING, off ->
 * STOPPED, deleting -> TERMINATED, migrating/rebuilding -> PENDING, else
 * UNKNOWN. */
enum bs_node_state bs_hetzner_state(const char *status);
/* DigitalOcean droplet status: new -> PENDING, active -> RUNNING, off ->
 * STOPPED, archive -> TERMINATED, else UNKNOWN. */
enum bs_node_state bs_digitalocean_state(const char *status);

/*
 * A Hetzner server or a DigitalOcean droplet object as a machine: id, the
 * node and project from its labels/tags (the provider's name when the node
 * label is missing), state, public IPv4 as ssh_host (NULL when none yet),
 * port 22, size, image, region (Hetzner: "location", else the deprecated
 * "datacenter.location"), ssh_key from the bootstrap.ssh-key label /
 * bootstrap-key: tag (NULL when absent or not a key label). *out is
 * filled on success (free with bs_machine_free). BS_ERR_PROTOCOL when the
 * object lacks id or status.
 */
int bs_hetzner_machine(struct bs_machine *out, const cJSON *server, struct bs_err *err);
int bs_digitalocean_machine(struct bs_machine *out, const cJSON *droplet, struct bs_err *err);

/* A Hetzner action object: *done once it is no longer "running"; an action
 * that ended in "error" is BS_ERR_API with its code and message, what
 * naming the step ("creating server web-1"). 0 otherwise. */
int bs_hetzner_action_outcome(const cJSON *action, const char *what, bool *done,
			      struct bs_err *err);

/* A JSON id (integral number, or string) as text; NULL when absent or not integral. Caller frees. */
char *bs_rest_id_string(const cJSON *id);

/* Move *m to the end of l (m is left zeroed). */
void bs_rest_machines_push(struct bs_machine_list *l, struct bs_machine *m);
/* Sort machines by name (NULL names last), then id. */
void bs_rest_machines_sort(struct bs_machine_list *l);

#endif
