/*
 * endpoint.h - how to reach a Docker engine: the hand-off between
 * provision/ (which produces endpoints) and container/ (which uses them).
 *
 * Three kinds:
 *   unix    a local socket path (unix:///var/run/docker.sock)
 *   tls     tcp://HOST:PORT with mutual TLS; CA verification is always on
 *           unless the user named --tls-skip-verify (never plaintext 2375)
 *   stream  connected byte streams opened by a connector, for example SSH
 *           channels to the node's docker.sock; the HTTP client pumps them
 *           on its own thread, so a connector never needs locks
 *
 * An endpoint owns its strings; the connector's payload is borrowed.
 */
#ifndef BS_CONTAINER_ENDPOINT_H
#define BS_CONTAINER_ENDPOINT_H

#include <stdbool.h>

#include "util/error.h"

enum bs_endpoint_kind {
	BS_ENDPOINT_UNIX,
	BS_ENDPOINT_TLS,
	BS_ENDPOINT_STREAM,
};

struct bs_waitfd {
	int fd;
	short events; /* POLLIN / POLLOUT */
};

/*
 * Opens and drives byte streams to the engine. Every call comes from the
 * thread that owns the HTTP client. Return 0 or a negative bs_error.
 */
struct bs_stream_connector {
	/* Open a new stream; *fd is the local end libcurl reads and writes
	 * (typically one end of a socketpair). */
	int (*open)(void *payload, int *fd, struct bs_err *err);
	/* Move whatever bytes are ready, both ways, without blocking. */
	int (*pump)(void *payload, struct bs_err *err);
	/* Descriptors to wait on besides libcurl's own; returns the count. */
	int (*wait_fds)(void *payload, struct bs_waitfd *fds, int max);
	/* libcurl is done with fd: close it and its remote end. */
	void (*close)(void *payload, int fd);
	void *payload;
};

struct bs_endpoint {
	enum bs_endpoint_kind kind;
	char *url;        /* as a user writes it, for messages */
	char *unix_path;  /* unix */
	char *host;       /* tls */
	int port;
	char *ca_file;
	char *cert_file;
	char *key_file;
	bool tls_skip_verify; /* only when the user asked for it by name */
	struct bs_stream_connector stream; /* stream */
};

/*
 * Parse an engine URL as the docker CLI does: unix://PATH, tcp://HOST:PORT
 * (TLS material from cert_dir, else $DOCKER_CERT_PATH, else ~/.docker).
 * ssh:// is handled by provision/ and refused here. Fills *out (free with
 * bs_endpoint_free). The URL NULL means $DOCKER_HOST, else the local socket.
 */
int bs_endpoint_parse(struct bs_endpoint *out, const char *url,
		      const char *cert_dir, struct bs_err *err);

void bs_endpoint_free(struct bs_endpoint *ep);

#endif
