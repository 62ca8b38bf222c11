/*
 * endpoint.h - how to reach a Docker engine: the hand-off between
 * provision/ (which produces endpoints) and container/ (which uses them).
 *
 * Three kinds:
 *   unix    a local socket path (unix:///var/run/docker.sock)
 *   tls     tcp://HOST:PORT with mutual TLS; CA verification is always on
 *           unless the user named --tls-skip-verify (never plaintext 2375)
 *   stream  connections carried by a connector, for example over SSH
 *           channels to the node's docker.sock; the connector moves the
 *           bytes on its own thread
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

/*
 * Carries the engine's HTTP connections over something libcurl cannot
 * drive itself, such as SSH channels to the node's docker.sock.
 *
 * The connector listens on a unix socket in a private directory (mode
 * 0700, so no other local user can ride the tunnel); libcurl connects
 * there as to any engine socket, from any thread and as many times as it
 * likes. The connector moves the bytes on its own thread.
 *
 * (libcurl's "already connected" socket callback would avoid the listening
 * socket, but libcurl 7.88, Debian 12's, ignores it and calls connect().)
 */
struct bs_stream_connector {
	const char *socket_path; /* where the connector listens */
	/* Why the connector closed a connection, if it knows: nonzero with
	 * err set, 0 when it has nothing to say. Thread-safe. */
	int (*failure)(void *payload, struct bs_err *err);
	void *payload;
};

struct bs_endpoint {
	enum bs_endpoint_kind kind;
	char *url;	 /* as a user writes it, for messages */
	char *unix_path; /* unix */
	char *host;	 /* tls */
	int port;
	char *ca_file;
	char *cert_file;
	char *key_file;
	bool tls_skip_verify;		   /* only when the user asked for it by name */
	struct bs_stream_connector stream; /* stream */
};

/*
 * Parse an engine URL as the docker CLI does: unix://PATH, tcp://HOST:PORT
 * (TLS material from cert_dir, else $DOCKER_CERT_PATH, else ~/.docker).
 * ssh:// is handled by provision/ and refused here. Fills *out (free with
 * bs_endpoint_free). The URL NULL means $DOCKER_HOST, else the local socket.
 */
int bs_endpoint_parse(struct bs_endpoint *out, const char *url, const char *cert_dir,
		      struct bs_err *err);

void bs_endpoint_free(struct bs_endpoint *ep);

#endif
