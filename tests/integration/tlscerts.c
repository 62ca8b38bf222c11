/*
 * tests/integration/tlscerts.c - provision/tlscerts.c driven from
 * tests/integration/tls_certs.sh, which checks the material with real TLS
 * peers (openssl s_server, curl, a second dockerd with --tlsverify):
 *
 *   tlscerts ensure DIR NODE SAN...   CA, client and NODE's server
 *                                     certificate; one line each: "ca
 *                                     created|kept", "client issued|kept",
 *                                     "server issued|kept"
 *   tlscerts engine DIR URL           bootstrap's own Docker driver over
 *                                     mutual TLS with DIR's client material:
 *                                     prints "engine VERSION api VERSION"
 *
 * Exit status 0 on success, 1 with the error on stderr, 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "container/driver.h"
#include "container/endpoint.h"
#include "provision/tlscerts.h"

static int ensure(const char *dir, const char *node, const char *const *sans, size_t nsans)
{
	struct bs_err err = BS_ERR_INIT;
	struct bs_tls_server srv;
	bool created = false, issued = false;

	if (bs_tls_ca_ensure(&created, dir, &err) != 0 ||
	    bs_tls_client_ensure(&issued, dir, &err) != 0 ||
	    bs_tls_server_ensure(&srv, dir, node, sans, nsans, &err) != 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	printf("ca %s\nclient %s\nserver %s\n", created ? "created" : "kept",
	       issued ? "issued" : "kept", srv.reissued ? "issued" : "kept");
	bs_tls_server_free(&srv);
	return 0;
}

static int engine(const char *dir, const char *url)
{
	struct bs_err err = BS_ERR_INIT;
	struct bs_cdriver_opts opts = BS_CDRIVER_OPTS_INIT;
	struct bs_endpoint ep;
	struct bs_cdriver *d = NULL;
	int rc;

	memset(&ep, 0, sizeof(ep));
	opts.request_timeout_ms = 10000;
	rc = bs_endpoint_parse(&ep, url, dir, &err);
	if (rc == 0)
		rc = bs_docker_open(&d, &ep, &opts, &err);
	if (rc == 0) {
		printf("engine %s api %s\n", d->info.version, d->info.api_version);
		d->ops->free(d);
	} else {
		fprintf(stderr, "%s\n", err.msg);
	}
	bs_endpoint_free(&ep);
	return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	int rc = 2;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (argc >= 5 && strcmp(argv[1], "ensure") == 0)
		rc = ensure(argv[2], argv[3], (const char *const *)(argv + 4), (size_t)(argc - 4));
	else if (argc == 4 && strcmp(argv[1], "engine") == 0)
		rc = engine(argv[2], argv[3]);
	else
		fprintf(stderr, "usage: tlscerts ensure DIR NODE SAN... | engine DIR URL\n");
	curl_global_cleanup();
	return rc;
}
