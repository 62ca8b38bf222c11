/*
 * tlscerts.h - the certificates for docker.endpoint: tls: a private CA
 * per project, a client certificate for bootstrap itself and one server
 * certificate per node, so that dockerd listens on TCP 2376 with
 * --tlsverify and only this project's client gets in (mutual TLS).
 *
 * Everything lives in one folder per project (for example
 * .bootstrap/tls/<project>, created 0700), in the docker CLI's layout, so
 * DOCKER_CERT_PATH=<dir> works for docker and for bs_endpoint_parse:
 *
 *   ca.pem  ca-key.pem          the CA (10 years)
 *   cert.pem  key.pem           the client (2 years, clientAuth)
 *   nodes/<node>/server.pem     a node's server certificate (2 years,
 *   nodes/<node>/server-key.pem   serverAuth, its addresses as SANs)
 *
 * Keys are ECDSA P-256, serials 128 random bits, signatures SHA-256. Key
 * files are created 0600 (never widened, never chmod-ed afterwards),
 * certificates 0644; each file is written to a temporary name and renamed,
 * so a reader never sees half a file. Leaf certificates end no later than
 * the CA does.
 *
 * Reuse: a certificate is kept while it verifies against the current CA
 * for its purpose, matches its key, has more than BS_TLS_RENEW_DAYS left
 * and (for a server) carries exactly the wanted SANs; otherwise a new key
 * and certificate replace it. A leaf file that does not parse is simply
 * reissued: the CA can always make another. The CA is never replaced
 * behind the user's back: a missing half, a file that does not parse, a
 * key that does not match, or a CA within BS_TLS_RENEW_DAYS of its end is
 * an error naming the file and the fix, and the files are left untouched.
 *
 * Threads: bs_tls_ca_ensure and bs_tls_client_ensure run once, on one
 * thread, before the node workers start (two threads creating the CA at
 * once could pair one's certificate with the other's key). After that,
 * bs_tls_server_ensure may run on every node's worker at the same time:
 * it only reads the CA and writes under its own node's folder. Across
 * processes, the run lock keeps two runs of a project apart.
 *
 * Nothing here prints, and no error message carries key material.
 */
#ifndef BS_PROVISION_TLSCERTS_H
#define BS_PROVISION_TLSCERTS_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

#define BS_TLS_CA_DAYS 3650  /* CA validity: 10 years */
#define BS_TLS_LEAF_DAYS 730 /* client and server certificates: 2 years */
#define BS_TLS_RENEW_DAYS 30 /* reissue a leaf with this little left */

/*
 * Load the CA in dir, or create it (and dir, 0700) when neither ca.pem
 * nor ca-key.pem exists. *created (may be NULL) tells whether a new CA was
 * made: the caller should say so, since every node then trusts a new CA.
 * Errors: BS_ERR_INVALID (a CA file that cannot be used, or dir open to
 * other users), BS_ERR_IO.
 */
int bs_tls_ca_ensure(bool *created, const char *dir, struct bs_err *err);

/*
 * Make sure cert.pem and key.pem in dir are a client certificate from the
 * CA (which must exist: bs_tls_ca_ensure first). *issued (may be NULL)
 * tells whether they were (re)issued.
 */
int bs_tls_client_ensure(bool *issued, const char *dir, struct bs_err *err);

/* A node's server material, as PEM text, for upload to the node. */
struct bs_tls_server {
	char *ca_pem;	/* the CA certificate (dockerd --tlscacert) */
	char *cert_pem; /* the node's certificate (--tlscert) */
	char *key_pem;	/* its private key (--tlskey): secret, wiped on free */
	bool reissued;	/* false: the files were already right, nothing to upload */
};

/*
 * Make sure node's server certificate under dir/nodes/<node>/ is valid
 * and names exactly sans[0..nsans-1]: each an IPv4 or IPv6 address
 * (stored as an iPAddress SAN) or a DNS name (a dNSName, compared without
 * case); order and duplicates do not matter. node is a name of letters,
 * digits, '-', '_' and '.' (no '/', not starting with '.', no ".."), at
 * most 63 characters. The CA must exist (bs_tls_ca_ensure first).
 * Fills *out (free with bs_tls_server_free; left empty on error).
 */
int bs_tls_server_ensure(struct bs_tls_server *out, const char *dir, const char *node,
			 const char *const *sans, size_t nsans, struct bs_err *err);

/* Free the strings (the key wiped first); accepts NULL and an empty one. */
void bs_tls_server_free(struct bs_tls_server *s);

#endif
