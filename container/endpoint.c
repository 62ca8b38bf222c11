/*
 * endpoint.c - engine URLs to struct bs_endpoint.
 */
#include "container/endpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/str.h"

#define DEFAULT_SOCKET "/var/run/docker.sock"

void bs_endpoint_free(struct bs_endpoint *ep)
{
	if (ep == NULL)
		return;
	free(ep->url);
	free(ep->unix_path);
	free(ep->host);
	free(ep->ca_file);
	free(ep->cert_file);
	free(ep->key_file);
	memset(ep, 0, sizeof(*ep));
}

static int parse_tcp(struct bs_endpoint *out, const char *rest, const char *cert_dir,
		     struct bs_err *err)
{
	const char *colon, *end;
	const char *env = getenv("DOCKER_CERT_PATH");
	const char *home = getenv("HOME");
	char *dir;
	long long port = 2376;
	int rc = 0;

	if (rest[0] == '[') {
		end = strchr(rest, ']');
		if (end == NULL)
			return bs_err_set(err, BS_ERR_INVALID,
					  "engine URL tcp://%s: unclosed '[' in the address", rest);
		out->host = bs_xstrndup(rest + 1, (size_t)(end - rest - 1));
		colon = end[1] == ':' ? end + 1 : NULL;
	} else {
		colon = strchr(rest, ':');
		out->host = bs_xstrndup(rest, colon ? (size_t)(colon - rest) : strlen(rest));
	}
	if (out->host[0] == '\0')
		return bs_err_set(err, BS_ERR_INVALID,
				  "engine URL tcp://%s has no host (write tcp://HOST:2376)", rest);
	if (colon != NULL) {
		char *slash;
		char *p = bs_xstrdup(colon + 1);

		slash = strchr(p, '/');
		if (slash)
			*slash = '\0';
		if (bs_parse_int64(p, &port) != 0 || port < 1 || port > 65535)
			rc = bs_err_set(err, BS_ERR_INVALID,
					"engine URL tcp://%s: '%s' is not a port", rest, p);
		free(p);
		if (rc)
			return rc;
	}
	if (port == 2375)
		return bs_err_set(
			err, BS_ERR_INVALID,
			"engine URL tcp://%s: port 2375 is Docker's plaintext API, which gives root on the host to anyone on the network; bootstrap only speaks TLS (port 2376) or SSH (ssh://USER@HOST)",
			rest);
	out->port = (int)port;
	if (cert_dir != NULL)
		dir = bs_xstrdup(cert_dir);
	else if (env != NULL && env[0] != '\0')
		dir = bs_xstrdup(env);
	else
		dir = bs_xasprintf("%s/.docker", home ? home : ".");
	out->ca_file = bs_xasprintf("%s/ca.pem", dir);
	out->cert_file = bs_xasprintf("%s/cert.pem", dir);
	out->key_file = bs_xasprintf("%s/key.pem", dir);
	if (access(out->ca_file, R_OK) != 0 || access(out->cert_file, R_OK) != 0 ||
	    access(out->key_file, R_OK) != 0)
		rc = bs_err_set(
			err, BS_ERR_INVALID,
			"engine tcp://%s:%d needs TLS client material: ca.pem, cert.pem and key.pem in %s (set DOCKER_CERT_PATH to the folder that has them)",
			out->host, out->port, dir);
	free(dir);
	return rc;
}

int bs_endpoint_parse(struct bs_endpoint *out, const char *url, const char *cert_dir,
		      struct bs_err *err)
{
	const char *env = getenv("DOCKER_HOST");
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (url == NULL || url[0] == '\0')
		url = env != NULL && env[0] != '\0' ? env : "unix://" DEFAULT_SOCKET;
	out->url = bs_xstrdup(url);
	if (bs_str_starts_with(url, "unix://")) {
		struct sockaddr_un sa;

		out->kind = BS_ENDPOINT_UNIX;
		out->unix_path = bs_xstrdup(url + 7);
		if (out->unix_path[0] != '/')
			rc = bs_err_set(
				err, BS_ERR_INVALID,
				"engine URL %s: the socket path must be absolute (unix:///var/run/docker.sock)",
				url);
		else if (strlen(out->unix_path) >= sizeof(sa.sun_path))
			rc = bs_err_set(err, BS_ERR_INVALID,
					"engine URL %s: socket paths are limited to %zu bytes", url,
					sizeof(sa.sun_path) - 1);
	} else if (bs_str_starts_with(url, "tcp://")) {
		out->kind = BS_ENDPOINT_TLS;
		rc = parse_tcp(out, url + 6, cert_dir, err);
	} else if (bs_str_starts_with(url, "ssh://")) {
		rc = bs_err_set(
			err, BS_ERR_UNSUPPORTED,
			"engine URL %s: ssh:// endpoints are opened by the SSH layer (provision/tunnel.h), not here",
			url);
	} else if (bs_str_starts_with(url, "http://") || bs_str_starts_with(url, "https://")) {
		rc = bs_err_set(
			err, BS_ERR_INVALID,
			"engine URL %s: write tcp://HOST:2376 (TLS) or unix:///PATH, as the docker CLI does",
			url);
	} else {
		rc = bs_err_set(
			err, BS_ERR_INVALID,
			"'%s' is not an engine URL (unix:///var/run/docker.sock, tcp://HOST:2376 or ssh://USER@HOST)",
			url);
	}
	if (rc != 0)
		bs_endpoint_free(out);
	return rc;
}
