/*
 * Unit tests for provision/tlscerts.c: the project CA, the client and the
 * node server certificates for docker.endpoint: tls. Everything is checked
 * with libcrypto itself, not by reading back what the code wrote: chains
 * verify with X509_verify_cert in strict mode, SANs and EKUs are decoded,
 * keys are matched to their certificates, modes come from stat().
 *
 * Each test works in its own mkdtemp folder, removed afterwards.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "provision/tlscerts.h"
#include "util/str.h"
#include "tests/unit/helpers.h"

struct fixture {
	char root[64]; /* the mkdtemp folder */
	char *dir;     /* root/tls/demo: not there yet, the code makes it */
};

static int setup(void **state)
{
	struct fixture *f = bs_xcalloc(1, sizeof(*f));

	snprintf(f->root, sizeof(f->root), "/tmp/bs-tlscerts-XXXXXX");
	if (mkdtemp(f->root) == NULL)
		return -1;
	f->dir = bs_xasprintf("%s/tls/demo", f->root);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	chmod(f->root, 0700);
	test_remove_tree(f->root);
	free(f->dir);
	free(f);
	return 0;
}

/* ---- helpers ------------------------------------------------------------- */

static char *path_in(const char *dir, const char *name)
{
	return bs_xasprintf("%s/%s", dir, name);
}

static char *read_text(const char *path)
{
	struct bs_buf b = BS_BUF_INIT;
	char chunk[4096];
	size_t n;
	FILE *fp = fopen(path, "r");

	if (fp == NULL)
		fail_msg("cannot open %s", path);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		bs_buf_append(&b, chunk, n);
	fclose(fp);
	return bs_buf_detach(&b);
}

static void write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

static unsigned file_mode(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (unsigned)(st.st_mode & 07777);
}

static X509 *cert_from_text(const char *text)
{
	BIO *b = BIO_new_mem_buf(text, -1);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);

	BIO_free(b);
	assert_non_null(x);
	return x;
}

static X509 *cert_from_file(const char *path)
{
	char *text = read_text(path);
	X509 *x = cert_from_text(text);

	free(text);
	return x;
}

static EVP_PKEY *key_from_text(const char *text)
{
	BIO *b = BIO_new_mem_buf(text, -1);
	EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);

	BIO_free(b);
	assert_non_null(k);
	return k;
}

static EVP_PKEY *key_from_file(const char *path)
{
	char *text = read_text(path);
	EVP_PKEY *k = key_from_text(text);

	bs_secure_free_str(text);
	return k;
}

/* X509_V_OK, or why leaf does not chain to ca for purpose (strict mode:
 * RFC 5280 rules such as key identifiers and critical basicConstraints). */
static int verify_chain(X509 *ca, X509 *leaf, int purpose)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int rc;

	assert_int_equal(X509_STORE_add_cert(store, ca), 1);
	assert_int_equal(X509_STORE_set_flags(store, X509_V_FLAG_X509_STRICT), 1);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
	assert_int_equal(X509_STORE_CTX_set_purpose(ctx, purpose), 1);
	rc = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	ERR_clear_error();
	return rc;
}

/* The serial as hex text, to compare certificates. */
static char *serial_hex(X509 *x)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = BN_bn2hex(bn);
	char *copy = bs_xstrdup(hex);

	OPENSSL_free(hex);
	BN_free(bn);
	return copy;
}

/* Whole days from now to t. */
static int days_left(const ASN1_TIME *t)
{
	int days = 0, secs = 0;

	assert_int_equal(ASN1_TIME_diff(&days, &secs, NULL, t), 1);
	return days;
}

static void assert_p256(EVP_PKEY *k)
{
	char group[64];
	size_t len = 0;

	assert_int_equal(EVP_PKEY_get_base_id(k), EVP_PKEY_EC);
	assert_int_equal(EVP_PKEY_get_group_name(k, group, sizeof(group), &len), 1);
	assert_string_equal(group, "prime256v1");
}

/* Exactly these names, in this form: an IP as an iPAddress of 4 or 16
 * bytes (never as text), a DNS name as a dNSName. */
struct want_san {
	int type;
	const char *text; /* DNS name, or the address as inet_pton reads it */
};

static void assert_sans(X509 *x, const struct want_san *want, size_t n)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	size_t i;
	int j;

	assert_non_null(names);
	assert_int_equal(sk_GENERAL_NAME_num(names), (int)n);
	for (i = 0; i < n; i++) {
		bool found = false;

		for (j = 0; j < sk_GENERAL_NAME_num(names) && !found; j++) {
			GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, j);
			unsigned char addr[16];
			int len;

			if (gn->type != want[i].type)
				continue;
			if (gn->type == GEN_DNS) {
				found = (size_t)ASN1_STRING_length(gn->d.dNSName) ==
						strlen(want[i].text) &&
					memcmp(ASN1_STRING_get0_data(gn->d.dNSName), want[i].text,
					       strlen(want[i].text)) == 0;
				continue;
			}
			len = strchr(want[i].text, ':') != NULL ? 16 : 4;
			assert_int_equal(
				inet_pton(len == 16 ? AF_INET6 : AF_INET, want[i].text, addr), 1);
			found = ASN1_STRING_length(gn->d.iPAddress) == len &&
				memcmp(ASN1_STRING_get0_data(gn->d.iPAddress), addr, (size_t)len) ==
					0;
		}
		if (!found)
			fail_msg("SAN %s (%s) is missing", want[i].text,
				 want[i].type == GEN_DNS ? "DNS" : "IP");
	}
	GENERAL_NAMES_free(names);
}

/* The folder holds exactly these files (no temporary leftovers). */
static void assert_files(const char *dir, const char *const *names, size_t n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t seen = 0, i;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		bool known = false;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		for (i = 0; i < n; i++)
			known = known || strcmp(e->d_name, names[i]) == 0;
		if (!known)
			fail_msg("unexpected file %s/%s", dir, e->d_name);
		seen++;
	}
	closedir(d);
	assert_int_equal(seen, n);
}

static void ensure_ca_and_client(const struct fixture *f)
{
	struct bs_err err = BS_ERR_INIT;

	if (bs_tls_ca_ensure(NULL, f->dir, &err) != 0 ||
	    bs_tls_client_ensure(NULL, f->dir, &err) != 0)
		fail_msg("%s", err.msg);
}

static void server_ok(struct bs_tls_server *out, const struct fixture *f, const char *node,
		      const char *const *sans, size_t n)
{
	struct bs_err err = BS_ERR_INIT;

	if (bs_tls_server_ensure(out, f->dir, node, sans, n, &err) != 0)
		fail_msg("%s", err.msg);
}

/*
 * Write a server certificate for node by hand, signed by the CA in
 * ca_dir, valid for days, naming san_conf ("IP:192.0.2.10,DNS:x"), with
 * extendedKeyUsage eku (NULL: none): a
 * certificate bootstrap did not make, to see whether it keeps it.
 */
static void craft_server(const struct fixture *f, const char *ca_dir, const char *node, int days,
			 const char *san_conf, const char *eku)
{
	char *ca_cert_path = path_in(ca_dir, "ca.pem"),
	     *ca_key_path = path_in(ca_dir, "ca-key.pem");
	char *node_dir = bs_xasprintf("%s/nodes/%s", f->dir, node);
	char *cert_path = path_in(node_dir, "server.pem");
	char *key_path = path_in(node_dir, "server-key.pem");
	X509 *ca = cert_from_file(ca_cert_path);
	EVP_PKEY *ca_key = key_from_file(ca_key_path);
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	X509V3_CTX ctx;
	const char *exts[][2] = {
		{"basicConstraints", "critical,CA:FALSE"},
		{"subjectAltName", san_conf},
		{"extendedKeyUsage", eku},
		{"authorityKeyIdentifier", "keyid:always"},
	};
	FILE *fp;
	size_t i;

	assert_non_null(key);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 4242), 1);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
				   (const unsigned char *)node, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(ca));
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL);
	X509_set_pubkey(x, key);
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
	for (i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		X509_EXTENSION *ext;

		if (exts[i][1] == NULL)
			continue;
		ext = X509V3_EXT_conf(NULL, &ctx, exts[i][0], exts[i][1]);
		assert_non_null(ext);
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	assert_true(X509_sign(x, ca_key, EVP_sha256()) > 0);
	fp = fopen(cert_path, "w");
	assert_non_null(fp);
	PEM_write_X509(fp, x);
	fclose(fp);
	fp = fopen(key_path, "w");
	assert_non_null(fp);
	PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL);
	fclose(fp);
	X509_free(x);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	X509_free(ca);
	free(ca_cert_path);
	free(ca_key_path);
	free(node_dir);
	free(cert_path);
	free(key_path);
}

/* ---- the CA -------------------------------------------------------------- */

static void test_ca_created_private_and_reused(void **state)
{
	const struct fixture *f = *state;
	const char *const files[] = {"ca.pem", "ca-key.pem"};
	struct bs_err err = BS_ERR_INIT;
	char *cert_path = path_in(f->dir, "ca.pem"), *key_path = path_in(f->dir, "ca-key.pem");
	char *first_cert, *first_key, *again_cert, *again_key, *serial;
	bool created = false;
	mode_t old_umask;
	EVP_PKEY *key;
	X509 *ca;

	/* with no umask at all, keys still come out 0600 and folders 0700 */
	old_umask = umask(0);
	assert_int_equal(bs_tls_ca_ensure(&created, f->dir, &err), 0);
	umask(old_umask);
	assert_true(created);
	assert_int_equal(file_mode(f->dir), 0700);
	assert_int_equal(file_mode(key_path), 0600);
	assert_int_equal(file_mode(cert_path), 0644);
	assert_files(f->dir, files, 2);

	ca = cert_from_file(cert_path);
	key = key_from_file(key_path);
	assert_int_equal(X509_check_private_key(ca, key), 1);
	assert_p256(key);
	assert_int_equal(X509_check_ca(ca), 1);
	assert_true((X509_get_key_usage(ca) & KU_KEY_CERT_SIGN) != 0);
	assert_int_equal(X509_self_signed(ca, 1), 1);
	assert_int_equal(X509_get_signature_nid(ca), NID_ecdsa_with_SHA256);
	assert_in_range(days_left(X509_get0_notAfter(ca)), BS_TLS_CA_DAYS - 1, BS_TLS_CA_DAYS);
	serial = serial_hex(ca);
	assert_true(strlen(serial) >= 24); /* 128 random bits: not a small counter */
	free(serial);
	X509_free(ca);
	EVP_PKEY_free(key);

	first_cert = read_text(cert_path);
	first_key = read_text(key_path);
	assert_int_equal(bs_tls_ca_ensure(&created, f->dir, &err), 0);
	assert_false(created);
	again_cert = read_text(cert_path);
	again_key = read_text(key_path);
	assert_string_equal(again_cert, first_cert);
	assert_string_equal(again_key, first_key);
	assert_files(f->dir, files, 2);

	free(first_cert);
	bs_secure_free_str(first_key);
	free(again_cert);
	bs_secure_free_str(again_key);
	free(cert_path);
	free(key_path);
}

/* A CA file that cannot be used is an error naming it and the fix, and
 * is left exactly as it was: never silently replaced. */
static void test_corrupt_ca_refused_untouched(void **state)
{
	const struct fixture *f = *state;
	struct bs_err err = BS_ERR_INIT;
	struct bs_tls_server srv;
	const char *sans[] = {"192.0.2.10"};
	char *cert_path = path_in(f->dir, "ca.pem"), *key_path = path_in(f->dir, "ca-key.pem");
	char *key_before, *after, *other_dir = bs_xasprintf("%s/other", f->root);
	char *other_key_path = path_in(other_dir, "ca-key.pem"), *other_key;
	char *nodes = path_in(f->dir, "nodes");
	bool created = false;

	assert_int_equal(bs_tls_ca_ensure(NULL, f->dir, &err), 0);
	key_before = read_text(key_path);

	/* ca.pem garbled */
	write_text(cert_path, "this is not a certificate\n");
	assert_int_equal(bs_tls_ca_ensure(NULL, f->dir, &err), BS_ERR_INVALID);
	assert_non_null(strstr(err.msg, cert_path));
	assert_non_null(strstr(err.msg, "not a PEM certificate"));
	assert_non_null(strstr(err.msg, "restore it from a backup"));
	assert_non_null(strstr(err.msg, "move ca.pem and ca-key.pem out of"));
	after = read_text(cert_path);
	assert_string_equal(after, "this is not a certificate\n");
	free(after);
	after = read_text(key_path);
	assert_string_equal(after, key_before);
	bs_secure_free_str(after);
	assert_null(strstr(err.msg, "PRIVATE KEY"));
	/* the other ensures refuse too, and write nothing */
	assert_int_equal(bs_tls_client_ensure(NULL, f->dir, &err), BS_ERR_INVALID);
	assert_non_null(strstr(err.msg, cert_path));
	assert_int_equal(bs_tls_server_ensure(&srv, f->dir, "web", sans, 1, &err), BS_ERR_INVALID);
	assert_null(srv.cert_pem);
	assert_null(srv.key_pem);
	assert_int_equal(access(nodes, F_OK), -1);
	after = path_in(f->dir, "cert.pem");
	assert_int_equal(access(after, F_OK), -1);
	free(after);

	/* ca.pem gone, its key still there */
	assert_int_equal(unlink(cert_path), 0);
	assert_int_equal(bs_tls_ca_ensure(NULL, f->dir, &err), BS_ERR_INVALID);
	assert_non_null(strstr(err.msg, "ca.pem is missing while"));
	assert_int_equal(access(cert_path, F_OK), -1);

	/* both gone: a new CA */
	assert_int_equal(unlink(key_path), 0);
	assert_int_equal(bs_tls_ca_ensure(&created, f->dir, &err), 0);
	assert_true(created);

	/* a key from another CA, not this certificate's */
	assert_int_equal(bs_tls_ca_ensure(NULL, other_dir, &err), 0);
	other_key = read_text(other_key_path);
	write_text(key_path, other_key);
	assert_int_equal(bs_tls_ca_ensure(NULL, f->dir, &err), BS_ERR_INVALID);
	assert_non_null(strstr(err.msg, "is not the key of"));
	assert_non_null(strstr(err.msg, key_path));
	assert_null(strstr(err.msg, "PRIVATE KEY"));
	after = read_text(key_path);
	assert_string_equal(after, other_key);
	bs_secure_free_str(after);

	/* a garbled key: named, never quoted */
	write_text(key_path, "-----BEGIN PRIVATE KEY-----\nc2VjcmV0IHNlY3JldA==\n-----END PRIVATE "
			     "KEY-----\n");
	assert_int_equal(bs_tls_ca_ensure(NULL, f->dir, &err), BS_ERR_INVALID);
	assert_non_null(strstr(err.msg, key_path));
	assert_non_null(strstr(err.msg, "not an unencrypted PEM private key"));
	assert_null(strstr(err.msg, "c2VjcmV0"));

	bs_secure_free_str(key_before);
	bs_secure_free_str(other_key);
	free(other_key_path);
	free(other_dir);
	free(cert_path);
	free(key_path);
	free(nodes);
}

static void test_open_folder_and_missing_ca_refused(void **state)
{
	const struct fixture *f = *state;
	struct bs_err err = BS_ERR_INIT;
	struct bs_tls_server srv;
	const char *sans[] = {"192.0.2.10"};

	assert_int_equal(bs_tls_client_ensure(NULL, f->dir, &err), BS_ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, "there is no CA in"));
	assert_int_equal(bs_tls_server_ensure(&srv, f->dir, "web", sans, 1, &err),
			 BS_ERR_NOT_FOUND);
	assert_int_equal(chmod(f->dir, 0755), 0);
	assert_int_equal(bs_tls_ca_ensure(NULL, f->dir, &err), BS_ERR_INVALID);
	assert_non_null(strstr(err.msg, "other users may open it (mode 755): run chmod 700"));
	assert_int_equal(bs_tls_ca_ensure(NULL, "", &err), BS_ERR_INVALID);
}

/* ---- the client ---------------------------------------------------------- */

static void test_client_chain_eku_and_reuse(void **state)
{
	const struct fixture *f = *state;
	const char *const files[] = {"ca.pem", "ca-key.pem", "cert.pem", "key.pem"};
	struct bs_err err = BS_ERR_INIT;
	char *ca_path = path_in(f->dir, "ca.pem"), *cert_path = path_in(f->dir, "cert.pem");
	char *key_path = path_in(f->dir, "key.pem"), *before, *after;
	bool issued = false;
	X509 *ca, *cert;
	EVP_PKEY *key;

	assert_int_equal(bs_tls_ca_ensure(NULL, f->dir, &err), 0);
	assert_int_equal(bs_tls_client_ensure(&issued, f->dir, &err), 0);
	assert_true(issued);
	assert_int_equal(file_mode(key_path), 0600);
	assert_files(f->dir, files, 4);

	ca = cert_from_file(ca_path);
	cert = cert_from_file(cert_path);
	key = key_from_file(key_path);
	assert_int_equal(verify_chain(ca, cert, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
	assert_int_equal(verify_chain(ca, cert, X509_PURPOSE_SSL_SERVER),
			 X509_V_ERR_INVALID_PURPOSE);
	assert_int_equal(X509_get_extended_key_usage(cert), XKU_SSL_CLIENT);
	assert_int_equal(X509_check_ca(cert), 0);
	assert_int_equal(X509_check_private_key(cert, key), 1);
	assert_p256(key);
	assert_in_range(days_left(X509_get0_notAfter(cert)), BS_TLS_LEAF_DAYS - 1,
			BS_TLS_LEAF_DAYS);
	X509_free(ca);
	X509_free(cert);
	EVP_PKEY_free(key);

	before = read_text(cert_path);
	assert_int_equal(bs_tls_client_ensure(&issued, f->dir, &err), 0);
	assert_false(issued);
	after = read_text(cert_path);
	assert_string_equal(after, before);
	free(after);

	/* a key.pem that is not cert.pem's: the pair is reissued */
	write_text(key_path, "garbage\n");
	assert_int_equal(bs_tls_client_ensure(&issued, f->dir, &err), 0);
	assert_true(issued);
	assert_int_equal(file_mode(key_path), 0600);
	cert = cert_from_file(cert_path);
	key = key_from_file(key_path);
	assert_int_equal(X509_check_private_key(cert, key), 1);
	X509_free(cert);
	EVP_PKEY_free(key);

	free(before);
	free(ca_path);
	free(cert_path);
	free(key_path);
}

/* ---- servers ------------------------------------------------------------- */

static void test_server_sans_eku_and_files(void **state)
{
	const struct fixture *f = *state;
	const char *sans[] = {"192.0.2.10", "2001:db8::7", "Web.Example.com", "192.0.2.10",
			      "localhost"};
	const struct want_san want[] = {
		{GEN_IPADD, "192.0.2.10"},
		{GEN_IPADD, "2001:db8::7"},
		{GEN_DNS, "web.example.com"},
		{GEN_DNS, "localhost"},
	};
	const char *const files[] = {"server.pem", "server-key.pem"};
	struct bs_tls_server srv;
	char *node_dir = bs_xasprintf("%s/nodes/web-1", f->dir);
	char *cert_path = path_in(node_dir, "server.pem");
	char *key_path = path_in(node_dir, "server-key.pem");
	char *ca_path = path_in(f->dir, "ca.pem"), *text;
	X509 *ca, *cert;
	EVP_PKEY *key;

	ensure_ca_and_client(f);
	server_ok(&srv, f, "web-1", sans, 5);
	assert_true(srv.reissued);
	assert_int_equal(file_mode(node_dir), 0700);
	assert_int_equal(file_mode(key_path), 0600);
	assert_files(node_dir, files, 2);
	/* what is handed back is what the files hold */
	text = read_text(cert_path);
	assert_string_equal(srv.cert_pem, text);
	free(text);
	text = read_text(key_path);
	assert_string_equal(srv.key_pem, text);
	bs_secure_free_str(text);
	text = read_text(ca_path);
	assert_string_equal(srv.ca_pem, text);
	free(text);

	ca = cert_from_text(srv.ca_pem);
	cert = cert_from_text(srv.cert_pem);
	key = key_from_text(srv.key_pem);
	assert_int_equal(verify_chain(ca, cert, X509_PURPOSE_SSL_SERVER), X509_V_OK);
	assert_int_equal(verify_chain(ca, cert, X509_PURPOSE_SSL_CLIENT),
			 X509_V_ERR_INVALID_PURPOSE);
	assert_int_equal(X509_get_extended_key_usage(cert), XKU_SSL_SERVER);
	assert_int_equal(X509_check_private_key(cert, key), 1);
	assert_p256(key);
	assert_sans(cert, want, 4);
	/* as a TLS client checks them */
	assert_int_equal(X509_check_ip_asc(cert, "192.0.2.10", 0), 1);
	assert_int_equal(X509_check_ip_asc(cert, "2001:db8::7", 0), 1);
	assert_int_equal(X509_check_host(cert, "web.example.com", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(cert, "192.0.2.10", 0, 0, NULL), 0);
	assert_int_equal(X509_check_ip_asc(cert, "192.0.2.11", 0), 0);
	assert_int_equal(X509_check_host(cert, "db.example.com", 0, 0, NULL), 0);
	assert_in_range(days_left(X509_get0_notAfter(cert)), BS_TLS_LEAF_DAYS - 1,
			BS_TLS_LEAF_DAYS);
	X509_free(ca);
	X509_free(cert);
	EVP_PKEY_free(key);
	bs_tls_server_free(&srv);
	bs_tls_server_free(&srv);
	bs_tls_server_free(NULL);

	free(node_dir);
	free(cert_path);
	free(key_path);
	free(ca_path);
}

static void test_server_reused_then_reissued_on_san_change(void **state)
{
	const struct fixture *f = *state;
	const char *sans[] = {"192.0.2.10", "web.example.com"};
	const char *same[] = {"WEB.example.com", "192.0.2.10", "web.example.com"};
	const char *moved[] = {"192.0.2.99", "web.example.com"};
	const struct want_san want_moved[] = {{GEN_IPADD, "192.0.2.99"},
					      {GEN_DNS, "web.example.com"}};
	struct bs_tls_server first, again, changed;
	char *serial_first, *serial_again, *serial_changed;
	X509 *a, *b, *c, *ca;

	ensure_ca_and_client(f);
	server_ok(&first, f, "web", sans, 2);
	assert_true(first.reissued);
	/* the same names, in another order, with a duplicate: kept */
	server_ok(&again, f, "web", same, 3);
	assert_false(again.reissued);
	assert_string_equal(again.cert_pem, first.cert_pem);
	assert_string_equal(again.key_pem, first.key_pem);
	a = cert_from_text(first.cert_pem);
	b = cert_from_text(again.cert_pem);
	serial_first = serial_hex(a);
	serial_again = serial_hex(b);
	assert_string_equal(serial_first, serial_again);

	/* an address changed: a new key and certificate with the new names */
	server_ok(&changed, f, "web", moved, 2);
	assert_true(changed.reissued);
	assert_string_not_equal(changed.key_pem, first.key_pem);
	c = cert_from_text(changed.cert_pem);
	serial_changed = serial_hex(c);
	assert_string_not_equal(serial_changed, serial_first);
	assert_sans(c, want_moved, 2);
	ca = cert_from_text(changed.ca_pem);
	assert_int_equal(verify_chain(ca, c, X509_PURPOSE_SSL_SERVER), X509_V_OK);
	/* dropping a name reissues too */
	bs_tls_server_free(&again);
	server_ok(&again, f, "web", moved, 1);
	assert_true(again.reissued);

	X509_free(a);
	X509_free(b);
	X509_free(c);
	X509_free(ca);
	free(serial_first);
	free(serial_again);
	free(serial_changed);
	bs_tls_server_free(&first);
	bs_tls_server_free(&again);
	bs_tls_server_free(&changed);
}

/* Certificates bootstrap did not make: kept only while they verify
 * against this CA with more than BS_TLS_RENEW_DAYS left. */
static void test_server_renewal_and_foreign_ca(void **state)
{
	const struct fixture *f = *state;
	const char *sans[] = {"192.0.2.10", "web.example.com"};
	char *other = bs_xasprintf("%s/other", f->root);
	char *cert_path = bs_xasprintf("%s/nodes/web/server.pem", f->dir), *text;
	struct bs_tls_server srv;
	X509 *x;

	ensure_ca_and_client(f);
	server_ok(&srv, f, "web", sans, 2);
	bs_tls_server_free(&srv);

	/* 60 days left: kept as it is */
	craft_server(f, f->dir, "web", 60, "IP:192.0.2.10,DNS:web.example.com", "serverAuth");
	text = read_text(cert_path);
	server_ok(&srv, f, "web", sans, 2);
	assert_false(srv.reissued);
	assert_string_equal(srv.cert_pem, text);
	free(text);
	bs_tls_server_free(&srv);

	/* 10 days left: renewed, for two years */
	craft_server(f, f->dir, "web", 10, "IP:192.0.2.10,DNS:web.example.com", "serverAuth");
	server_ok(&srv, f, "web", sans, 2);
	assert_true(srv.reissued);
	x = cert_from_text(srv.cert_pem);
	assert_in_range(days_left(X509_get0_notAfter(x)), BS_TLS_LEAF_DAYS - 1, BS_TLS_LEAF_DAYS);
	X509_free(x);
	bs_tls_server_free(&srv);

	/* signed by another CA: replaced by one from ours */
	assert_int_equal(bs_tls_ca_ensure(NULL, other, NULL), 0);
	craft_server(f, other, "web", 365, "IP:192.0.2.10,DNS:web.example.com", "serverAuth");
	server_ok(&srv, f, "web", sans, 2);
	assert_true(srv.reissued);
	bs_tls_server_free(&srv);

	/* the same names but one given as a DNS name instead of an address */
	craft_server(f, f->dir, "web", 365, "DNS:192.0.2.10,DNS:web.example.com", "serverAuth");
	server_ok(&srv, f, "web", sans, 2);
	assert_true(srv.reissued);
	bs_tls_server_free(&srv);

	/* no extendedKeyUsage, or the client's: not a server certificate of ours */
	craft_server(f, f->dir, "web", 365, "IP:192.0.2.10,DNS:web.example.com", NULL);
	server_ok(&srv, f, "web", sans, 2);
	assert_true(srv.reissued);
	bs_tls_server_free(&srv);
	craft_server(f, f->dir, "web", 365, "IP:192.0.2.10,DNS:web.example.com", "clientAuth");
	server_ok(&srv, f, "web", sans, 2);
	assert_true(srv.reissued);
	bs_tls_server_free(&srv);

	/* a garbled leaf: simply reissued (the CA can always make another) */
	write_text(cert_path, "garbage\n");
	server_ok(&srv, f, "web", sans, 2);
	assert_true(srv.reissued);
	bs_tls_server_free(&srv);

	free(other);
	free(cert_path);
}

static void test_server_names_refused(void **state)
{
	const struct fixture *f = *state;
	const char *bad_nodes[] = {"a/b",     "../etc", "..",	 ".",	 "",
				   ".hidden", "a..b",	"web 1", "web\n"};
	const char *bad_sans[] = {"not a name!",      "[::1]", "fe80::1%eth0",
				  "-web.example.com", "",      "web..example.com",
				  "1.2.3.4/24"};
	const char *sans[] = {"192.0.2.10"};
	char long_name[80], *nodes = path_in(f->dir, "nodes"), *escape;
	struct bs_err err = BS_ERR_INIT;
	struct bs_tls_server srv;
	size_t i;

	ensure_ca_and_client(f);
	for (i = 0; i < sizeof(bad_nodes) / sizeof(bad_nodes[0]); i++) {
		assert_int_equal(bs_tls_server_ensure(&srv, f->dir, bad_nodes[i], sans, 1, &err),
				 BS_ERR_INVALID);
		assert_non_null(strstr(err.msg, "cannot name a node's certificate folder"));
		assert_null(srv.cert_pem);
	}
	assert_int_equal(bs_tls_server_ensure(&srv, f->dir, NULL, sans, 1, &err), BS_ERR_INVALID);
	memset(long_name, 'a', 64);
	long_name[64] = '\0';
	assert_int_equal(bs_tls_server_ensure(&srv, f->dir, long_name, sans, 1, &err),
			 BS_ERR_INVALID);
	/* nothing was created, inside the folder or beside it */
	assert_int_equal(access(nodes, F_OK), -1);
	escape = bs_xasprintf("%s/tls/etc", f->root);
	assert_int_equal(access(escape, F_OK), -1);
	free(escape);

	for (i = 0; i < sizeof(bad_sans) / sizeof(bad_sans[0]); i++) {
		assert_int_equal(bs_tls_server_ensure(&srv, f->dir, "web", &bad_sans[i], 1, &err),
				 BS_ERR_INVALID);
		assert_non_null(strstr(err.msg, "node web: '"));
		assert_non_null(strstr(err.msg, "is neither an IP address nor a DNS name"));
	}
	assert_int_equal(bs_tls_server_ensure(&srv, f->dir, "web", sans, 0, &err), BS_ERR_INVALID);
	assert_non_null(strstr(err.msg, "at least one address or DNS name"));
	assert_int_equal(access(nodes, F_OK), -1);

	/* the longest allowed name works */
	long_name[63] = '\0';
	server_ok(&srv, f, long_name, sans, 1);
	assert_true(srv.reissued);
	bs_tls_server_free(&srv);
	free(nodes);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ca_created_private_and_reused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_ca_refused_untouched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_folder_and_missing_ca_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_client_chain_eku_and_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_sans_eku_and_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_reused_then_reissued_on_san_change,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_renewal_and_foreign_ca, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_server_names_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
