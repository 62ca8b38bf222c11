/*
 * tlscerts.c - the project CA and the client and server certificates for
 * docker.endpoint: tls, made with OpenSSL 3 libcrypto (the design is in
 * tlscerts.h).
 *
 * Every key passes through buffers that are wiped before they are freed:
 * files are read into one allocation of their exact size, PEM text is
 * written through a secure-memory BIO. OpenSSL's error queue is per
 * thread; each public function leaves it empty.
 */
#include "provision/tlscerts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "util/str.h"

#define PEM_FILE_MAX (64 * 1024)   /* far above any certificate or key written here */
#define BACKDATE_SECONDS (60 * 60) /* notBefore an hour back, for clocks a little behind */
#define NODE_NAME_MAX 63
#define DNS_NAME_MAX 253
#define DAY_SECONDS (24 * 60 * 60)

#define CA_FIX                                                                                     \
	"restore it from a backup, or move ca.pem and ca-key.pem out of %s to create a new CA on the next run (every node's certificate is then reissued)"

enum leaf_kind {
	LEAF_CLIENT,
	LEAF_SERVER,
};

/* The CA, loaded for signing. */
struct ca {
	X509 *cert;
	EVP_PKEY *key;
	char *cert_pem; /* the text of ca.pem */
};

/* A subjectAltName: GEN_IPADD (4 or 16 bytes) or GEN_DNS (lower case). */
struct san {
	int type;
	size_t len;
	unsigned char value[DNS_NAME_MAX + 1];
};

struct san_list {
	struct san *v;
	size_t n;
};

/* A file written under a temporary name, renamed into place on commit. */
struct staged {
	char *tmp;
	const char *path;
};

/* The reason of OpenSSL's latest error, for messages; empties the queue. */
static const char *crypto_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return reason != NULL ? reason : "no detail from OpenSSL";
}

static int crypto_fail(struct bs_err *err, const char *what)
{
	return bs_err_set(err, BS_ERR_UNSUPPORTED, "cannot %s with this OpenSSL (%s)", what,
			  crypto_reason());
}

/* ---- files ------------------------------------------------------------- */

static const char *file_error_text(int e)
{
	if (e == EFBIG)
		return "larger than 64 KiB, so not a PEM file bootstrap wrote";
	if (e == EINVAL)
		return "not a regular file";
	return strerror(e);
}

/*
 * Read a small file whole into one allocation of its size (never grown,
 * so a key leaves no stale copies), NUL-terminated. Returns 0, or an errno
 * value (EFBIG: too large, EINVAL: not a regular file).
 */
static int read_small_file(const char *path, char **out, size_t *out_len)
{
	struct stat st;
	char *data = NULL;
	size_t size, got = 0;
	int fd, e = 0;

	*out = NULL;
	*out_len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (fstat(fd, &st) != 0) {
		e = errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		e = EINVAL;
		goto out;
	}
	if (st.st_size > PEM_FILE_MAX) {
		e = EFBIG;
		goto out;
	}
	size = (size_t)st.st_size;
	data = bs_xmalloc(size + 1);
	while (got < size) {
		ssize_t n = read(fd, data + got, size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			bs_secure_free(data, size + 1);
			data = NULL;
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	data[got] = '\0';
	*out = data;
	*out_len = got;
out:
	close(fd);
	return e;
}

/* Wipe and free what read_small_file returned. */
static void free_file_text(char *text, size_t len)
{
	if (text != NULL)
		bs_secure_free(text, len + 1);
}

/*
 * Write data to a new file beside path, created with mode (0600 for a key,
 * so it is never readable by others, not even for a moment; the umask may
 * only narrow it) and flushed to disk. commit_files renames it into place.
 */
static int stage_file(struct staged *s, const char *path, const char *data, mode_t mode,
		      struct bs_err *err)
{
	size_t len = strlen(data), done = 0;
	int fd = -1, e, attempt;

	s->path = path;
	s->tmp = NULL;
	for (attempt = 0; attempt < 10 && fd < 0; attempt++) {
		unsigned char r[6];

		if (RAND_bytes(r, sizeof(r)) != 1)
			return crypto_fail(err, "make a temporary file name");
		free(s->tmp);
		s->tmp = bs_xasprintf("%s.tmp-%02x%02x%02x%02x%02x%02x", path, r[0], r[1], r[2],
				      r[3], r[4], r[5]);
		fd = open(s->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		e = errno;
		free(s->tmp);
		s->tmp = NULL;
		return bs_err_set(
			err, BS_ERR_IO,
			"cannot create a file beside %s: %s (check the folder's permissions)", path,
			strerror(e));
	}
	while (done < len) {
		ssize_t n = write(fd, data + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		done += (size_t)n;
	}
	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	unlink(s->tmp);
	free(s->tmp);
	s->tmp = NULL;
	return bs_err_set(err, BS_ERR_IO, "cannot write %s: %s (check free space)", path,
			  strerror(e));
}

static void discard_files(struct staged *files, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (files[i].tmp == NULL)
			continue;
		unlink(files[i].tmp);
		free(files[i].tmp);
		files[i].tmp = NULL;
	}
}

/* Rename staged files into place in order (the key before its
 * certificate), then flush the folder so the renames survive a crash. */
static int commit_files(struct staged *files, size_t n, const char *folder, struct bs_err *err)
{
	size_t i;
	int fd;

	for (i = 0; i < n; i++) {
		if (rename(files[i].tmp, files[i].path) != 0) {
			int e = errno;

			discard_files(files, n);
			return bs_err_set(err, BS_ERR_IO,
					  "cannot replace %s: %s (check the folder's permissions)",
					  files[i].path, strerror(e));
		}
		free(files[i].tmp);
		files[i].tmp = NULL;
	}
	fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return 0;
}

/*
 * mkdir -p path, each folder it creates 0700; then path must be a folder
 * no other user may enter, since it holds private keys.
 */
static int ensure_private_dir(const char *path, struct bs_err *err)
{
	char *copy = bs_xstrdup(path);
	struct stat st;
	char *p;
	int rc = 0;

	for (p = copy + 1;; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(copy, 0700) != 0 && errno != EEXIST) {
			rc = bs_err_set(
				err, BS_ERR_IO,
				"cannot create the folder %s: %s (check its parent's permissions)",
				copy, strerror(errno));
			goto out;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	if (stat(path, &st) != 0) {
		rc = bs_err_set(err, BS_ERR_IO, "cannot use the folder %s: %s", path,
				strerror(errno));
	} else if (!S_ISDIR(st.st_mode)) {
		rc = bs_err_set(err, BS_ERR_INVALID,
				"%s is not a folder (move it away: bootstrap keeps TLS keys there)",
				path);
	} else if ((st.st_mode & 077) != 0) {
		rc = bs_err_set(
			err, BS_ERR_INVALID,
			"the folder %s holds private keys but other users may open it (mode %03o): run chmod 700 %s",
			path, (unsigned)(st.st_mode & 0777), path);
	}
out:
	free(copy);
	return rc;
}

/* ---- names --------------------------------------------------------------- */

static bool is_alnum_ascii(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A node name is a path component here: no '/', never "." or "..". */
static bool node_name_ok(const char *node)
{
	size_t len = node != NULL ? strlen(node) : 0, i;

	if (len == 0 || len > NODE_NAME_MAX || node[0] == '.' || strstr(node, "..") != NULL)
		return false;
	for (i = 0; i < len; i++)
		if (!is_alnum_ascii(node[i]) && node[i] != '-' && node[i] != '_' && node[i] != '.')
			return false;
	return true;
}

/* A host name: dot-separated labels of letters, digits and inner '-'. */
static bool dns_name_ok(const char *name)
{
	size_t len = strlen(name), label = 0, i;

	if (len == 0 || len > DNS_NAME_MAX)
		return false;
	for (i = 0; i <= len; i++) {
		char c = name[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || name[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!is_alnum_ascii(c) && c != '-')
			return false;
		if ((c == '-' && label == 0) || ++label > 63)
			return false;
	}
	return true;
}

static bool san_equal(const struct san *a, const struct san *b)
{
	return a->type == b->type && a->len == b->len && memcmp(a->value, b->value, a->len) == 0;
}

static long san_find(const struct san_list *l, const struct san *s)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (san_equal(&l->v[i], s))
			return (long)i;
	return -1;
}

static void san_set_dns(struct san *s, const char *name, size_t len)
{
	size_t i;

	s->type = GEN_DNS;
	s->len = len;
	for (i = 0; i < len; i++)
		s->value[i] =
			(unsigned char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
}

/* The wanted names, each an address or a host name, without duplicates. */
static int parse_sans(struct san_list *out, const char *node, const char *const *sans, size_t nsans,
		      struct bs_err *err)
{
	size_t i;

	out->v = NULL;
	out->n = 0;
	if (sans == NULL || nsans == 0)
		return bs_err_set(
			err, BS_ERR_INVALID,
			"node %s: its server certificate needs at least one address or DNS name",
			node);
	out->v = bs_xcalloc(nsans, sizeof(*out->v));
	for (i = 0; i < nsans; i++) {
		const char *text = sans[i] != NULL ? sans[i] : "";
		struct san s;

		memset(&s, 0, sizeof(s));
		if (inet_pton(AF_INET, text, s.value) == 1) {
			s.type = GEN_IPADD;
			s.len = 4;
		} else if (inet_pton(AF_INET6, text, s.value) == 1) {
			s.type = GEN_IPADD;
			s.len = 16;
		} else if (dns_name_ok(text)) {
			san_set_dns(&s, text, strlen(text));
		} else {
			return bs_err_set(
				err, BS_ERR_INVALID,
				"node %s: '%.100s' is neither an IP address nor a DNS name, so it cannot name the node in its certificate (write it like 203.0.113.7, 2001:db8::7 or web.example.com)",
				node, text);
		}
		if (san_find(out, &s) < 0)
			out->v[out->n++] = s;
	}
	return 0;
}

/* A certificate's name in our form; false for any other kind of name. */
static bool san_from_general_name(struct san *s, const GENERAL_NAME *gn)
{
	const ASN1_STRING *str;
	int len;

	memset(s, 0, sizeof(*s));
	if (gn->type == GEN_IPADD) {
		str = gn->d.iPAddress;
		len = ASN1_STRING_length(str);
		if (len != 4 && len != 16)
			return false;
		s->type = GEN_IPADD;
		s->len = (size_t)len;
		memcpy(s->value, ASN1_STRING_get0_data(str), s->len);
		return true;
	}
	if (gn->type == GEN_DNS) {
		str = gn->d.dNSName;
		len = ASN1_STRING_length(str);
		if (len <= 0 || len > DNS_NAME_MAX)
			return false;
		san_set_dns(s, (const char *)ASN1_STRING_get0_data(str), (size_t)len);
		return true;
	}
	return false;
}

/* Whether cert's subjectAltName holds exactly the names in want. */
static bool sans_match(X509 *cert, const struct san_list *want)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	bool *seen = bs_xcalloc(want->n + 1, sizeof(*seen));
	bool ok = names != NULL;
	int i, n = ok ? sk_GENERAL_NAME_num(names) : 0;
	size_t j;

	for (i = 0; ok && i < n; i++) {
		struct san got;
		long at = -1;

		if (san_from_general_name(&got, sk_GENERAL_NAME_value(names, i)))
			at = san_find(want, &got);
		if (at < 0)
			ok = false;
		else
			seen[at] = true;
	}
	for (j = 0; ok && j < want->n; j++)
		ok = seen[j];
	GENERAL_NAMES_free(names);
	free(seen);
	return ok;
}

static int add_sans(X509 *cert, const struct san_list *sans)
{
	GENERAL_NAMES *names = GENERAL_NAMES_new();
	bool ok = names != NULL;
	size_t i;

	for (i = 0; ok && i < sans->n; i++) {
		const struct san *s = &sans->v[i];
		GENERAL_NAME *gn = GENERAL_NAME_new();
		ASN1_STRING *value = ASN1_STRING_type_new(s->type == GEN_IPADD ? V_ASN1_OCTET_STRING
									       : V_ASN1_IA5STRING);

		ok = gn != NULL && value != NULL &&
		     ASN1_STRING_set(value, s->value, (int)s->len) == 1;
		if (!ok) {
			ASN1_STRING_free(value);
			GENERAL_NAME_free(gn);
			break;
		}
		GENERAL_NAME_set0_value(gn, s->type, value);
		if (sk_GENERAL_NAME_push(names, gn) <= 0) {
			GENERAL_NAME_free(gn);
			ok = false;
		}
	}
	if (ok)
		ok = X509_add1_ext_i2d(cert, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) ==
		     1;
	GENERAL_NAMES_free(names);
	return ok ? 0 : -1;
}

/* ---- certificates ------------------------------------------------------ */

/* Never ask for a passphrase: bootstrap writes keys unencrypted, and
 * OpenSSL's default would prompt on the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *payload)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)payload;
	return -1;
}

static X509 *parse_cert(const char *text)
{
	BIO *b = BIO_new_mem_buf(text, -1);
	X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, no_passphrase, NULL) : NULL;

	BIO_free(b);
	return x;
}

static EVP_PKEY *parse_key(const char *text)
{
	BIO *b = BIO_new_mem_buf(text, -1);
	EVP_PKEY *k = b != NULL ? PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL) : NULL;

	BIO_free(b);
	return k;
}

static char *cert_to_pem(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data = NULL, *text = NULL;
	long len;

	if (b != NULL && PEM_write_bio_X509(b, x) == 1) {
		len = BIO_get_mem_data(b, &data);
		if (len > 0)
			text = bs_xstrndup(data, (size_t)len);
	}
	BIO_free(b);
	return text;
}

/* PKCS #8 PEM text of a private key; the caller wipes it. The BIO's own
 * buffer is secure memory, cleansed when freed. */
static char *key_to_pem(EVP_PKEY *key)
{
	BIO *b = BIO_new(BIO_s_secmem());
	char *data = NULL, *text = NULL;
	long len;

	if (b != NULL && PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) == 1) {
		len = BIO_get_mem_data(b, &data);
		if (len > 0)
			text = bs_xstrndup(data, (size_t)len);
	}
	BIO_free(b);
	return text;
}

static EVP_PKEY *new_key(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

/* 128 random bits, as a positive serial (DER adds a leading zero byte
 * when the top bit is set: 17 octets at most, within RFC 5280's 20). */
static int set_random_serial(X509 *x)
{
	unsigned char bytes[16];
	BIGNUM *bn = NULL;
	int ok;

	do {
		BN_free(bn);
		bn = NULL;
		if (RAND_bytes(bytes, sizeof(bytes)) != 1)
			return -1;
		bn = BN_bin2bn(bytes, sizeof(bytes), NULL);
	} while (bn != NULL && BN_is_zero(bn));
	ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok ? 0 : -1;
}

/*
 * A v3 certificate for key named CN=cn, unsigned: issued by issuer (NULL:
 * itself), valid from an hour ago for days, but never past its issuer.
 */
static X509 *new_cert(EVP_PKEY *key, const char *cn, X509 *issuer, int days)
{
	X509 *x = X509_new();
	bool ok;

	if (x == NULL)
		return NULL;
	ok = X509_set_version(x, X509_VERSION_3) == 1 && set_random_serial(x) == 0 &&
	     X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "O", MBSTRING_UTF8,
					(const unsigned char *)"bootstrap", -1, -1, 0) == 1 &&
	     X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
					(const unsigned char *)cn, -1, -1, 0) == 1 &&
	     X509_set_issuer_name(x, X509_get_subject_name(issuer != NULL ? issuer : x)) == 1 &&
	     X509_gmtime_adj(X509_getm_notBefore(x), -BACKDATE_SECONDS) != NULL &&
	     X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) != NULL &&
	     X509_set_pubkey(x, key) == 1;
	if (ok && issuer != NULL &&
	    ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(issuer)) > 0)
		ok = X509_set1_notAfter(x, X509_get0_notAfter(issuer)) == 1;
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	bool ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	ok = ext != NULL && X509_add_ext(cert, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* Whether t lies more than days from now. */
static bool lasts_beyond(const ASN1_TIME *t, int days)
{
	time_t limit = time(NULL) + (time_t)days * DAY_SECONDS;

	return X509_cmp_time(t, &limit) > 0;
}

static void format_date(const ASN1_TIME *t, char *buf, size_t size)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) == 1 && strftime(buf, size, "%Y-%m-%d", &tm) > 0)
		return;
	snprintf(buf, size, "an unreadable date");
}

/* Whether leaf chains to ca (trusted as the only root) for purpose, now. */
static bool chain_verifies(X509 *ca, X509 *leaf, int purpose)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	bool ok = store != NULL && ctx != NULL && X509_STORE_add_cert(store, ca) == 1 &&
		  X509_STORE_CTX_init(ctx, store, leaf, NULL) == 1 &&
		  X509_STORE_CTX_set_purpose(ctx, purpose) == 1 && X509_verify_cert(ctx) == 1;

	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ok;
}

static void ca_free(struct ca *ca)
{
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	free(ca->cert_pem);
	memset(ca, 0, sizeof(*ca));
}

/*
 * Load dir's CA and check it can sign: both files parse, the key is the
 * certificate's, it is a self-signed CA, and it has more than
 * BS_TLS_RENEW_DAYS left. BS_ERR_NOT_FOUND, with no message, when neither
 * file exists. Nothing is ever written here.
 */
static int ca_load(struct ca *ca, const char *dir, struct bs_err *err)
{
	char *cert_path = bs_xasprintf("%s/ca.pem", dir);
	char *key_path = bs_xasprintf("%s/ca-key.pem", dir);
	char *key_text = NULL, date[32];
	size_t cert_len = 0, key_len = 0;
	int rc = 0, cert_errno, key_errno;

	memset(ca, 0, sizeof(*ca));
	cert_errno = read_small_file(cert_path, &ca->cert_pem, &cert_len);
	key_errno = read_small_file(key_path, &key_text, &key_len);
	if (cert_errno == ENOENT && key_errno == ENOENT) {
		rc = BS_ERR_NOT_FOUND;
		goto out;
	}
	if (cert_errno == ENOENT || key_errno == ENOENT) {
		rc = bs_err_set(err, BS_ERR_INVALID, "%s is missing while %s exists: " CA_FIX,
				cert_errno == ENOENT ? cert_path : key_path,
				cert_errno == ENOENT ? key_path : cert_path, dir);
		goto out;
	}
	if (cert_errno != 0 || key_errno != 0) {
		rc = bs_err_set(err, BS_ERR_IO, "cannot read %s: %s (check its permissions)",
				cert_errno != 0 ? cert_path : key_path,
				file_error_text(cert_errno != 0 ? cert_errno : key_errno));
		goto out;
	}
	ca->cert = parse_cert(ca->cert_pem);
	if (ca->cert == NULL) {
		rc = bs_err_set(
			err, BS_ERR_INVALID,
			"%s is not a PEM certificate (%s); it is this project's CA: " CA_FIX,
			cert_path, crypto_reason(), dir);
		goto out;
	}
	ca->key = parse_key(key_text);
	if (ca->key == NULL) {
		rc = bs_err_set(
			err, BS_ERR_INVALID,
			"%s is not an unencrypted PEM private key (%s); it is this project's CA key: " CA_FIX,
			key_path, crypto_reason(), dir);
		goto out;
	}
	if (X509_check_private_key(ca->cert, ca->key) != 1) {
		ERR_clear_error();
		rc = bs_err_set(
			err, BS_ERR_INVALID,
			"%s is not the key of %s: restore the pair from a backup, or move both out of %s to create a new CA on the next run (every node's certificate is then reissued)",
			key_path, cert_path, dir);
		goto out;
	}
	if (X509_check_ca(ca->cert) < 1 || (X509_get_key_usage(ca->cert) & KU_KEY_CERT_SIGN) == 0 ||
	    X509_self_signed(ca->cert, 1) != 1) {
		ERR_clear_error();
		rc = bs_err_set(
			err, BS_ERR_INVALID,
			"%s is not a self-signed CA certificate that may sign certificates: " CA_FIX,
			cert_path, dir);
		goto out;
	}
	if (X509_cmp_current_time(X509_get0_notBefore(ca->cert)) >= 0) {
		format_date(X509_get0_notBefore(ca->cert), date, sizeof(date));
		rc = bs_err_set(err, BS_ERR_INVALID,
				"the CA in %s is valid only from %s: check this machine's clock",
				dir, date);
		goto out;
	}
	if (!lasts_beyond(X509_get0_notAfter(ca->cert), BS_TLS_RENEW_DAYS)) {
		format_date(X509_get0_notAfter(ca->cert), date, sizeof(date));
		rc = bs_err_set(
			err, BS_ERR_INVALID,
			"the CA in %s ends on %s (certificates are renewed %d days ahead): move ca.pem and ca-key.pem out of %s to create a new CA on the next run (every node's certificate is then reissued)",
			dir, date, BS_TLS_RENEW_DAYS, dir);
		goto out;
	}
out:
	free_file_text(key_text, key_len);
	free(cert_path);
	free(key_path);
	if (rc != 0)
		ca_free(ca);
	return rc;
}

/* The CA for client and server certificates, which never create it. */
static int ca_require(struct ca *ca, const char *dir, struct bs_err *err)
{
	int rc = ca_load(ca, dir, err);

	if (rc == BS_ERR_NOT_FOUND)
		return bs_err_set(err, BS_ERR_NOT_FOUND,
				  "there is no CA in %s yet (bs_tls_ca_ensure creates it first)",
				  dir);
	return rc;
}

/* The CA's common name: "bootstrap CA <project>", the project being the
 * folder's last component, with anything unusual dropped. */
static char *ca_common_name(const char *dir)
{
	struct bs_buf cn = BS_BUF_INIT;
	size_t end = strlen(dir), start, i;

	while (end > 1 && dir[end - 1] == '/')
		end--;
	start = end;
	while (start > 0 && dir[start - 1] != '/')
		start--;
	bs_buf_puts(&cn, "bootstrap CA");
	if (end > start)
		bs_buf_putc(&cn, ' ');
	for (i = start; i < end && cn.len < 52; i++)
		if (is_alnum_ascii(dir[i]) || dir[i] == '-' || dir[i] == '_' || dir[i] == '.')
			bs_buf_putc(&cn, dir[i]);
	return bs_buf_detach(&cn);
}

static int ca_create(const char *dir, struct bs_err *err)
{
	char *cert_path = bs_xasprintf("%s/ca.pem", dir);
	char *key_path = bs_xasprintf("%s/ca-key.pem", dir);
	char *cn = ca_common_name(dir), *cert_text = NULL, *key_text = NULL;
	struct staged files[2] = {{NULL, NULL}, {NULL, NULL}};
	EVP_PKEY *key = new_key();
	X509 *cert = key != NULL ? new_cert(key, cn, NULL, BS_TLS_CA_DAYS) : NULL;
	int rc;

	if (cert == NULL ||
	    add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") != 0 ||
	    add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign") != 0 ||
	    add_ext(cert, cert, NID_subject_key_identifier, "hash") != 0 ||
	    X509_sign(cert, key, EVP_sha256()) <= 0) {
		rc = crypto_fail(err, "create a CA");
		goto out;
	}
	cert_text = cert_to_pem(cert);
	key_text = key_to_pem(key);
	if (cert_text == NULL || key_text == NULL) {
		rc = crypto_fail(err, "write the CA as PEM");
		goto out;
	}
	rc = stage_file(&files[0], key_path, key_text, 0600, err);
	if (rc == 0)
		rc = stage_file(&files[1], cert_path, cert_text, 0644, err);
	if (rc == 0)
		rc = commit_files(files, 2, dir, err);
	discard_files(files, 2);
out:
	bs_secure_free_str(key_text);
	free(cert_text);
	X509_free(cert);
	EVP_PKEY_free(key);
	free(cn);
	free(cert_path);
	free(key_path);
	return rc;
}

/* A new key and certificate from ca, as PEM text (the key to be wiped). */
static int issue_leaf(const struct ca *ca, enum leaf_kind kind, const char *cn,
		      const struct san_list *sans, char **cert_text, char **key_text,
		      struct bs_err *err)
{
	EVP_PKEY *key = new_key();
	X509 *cert = key != NULL ? new_cert(key, cn, ca->cert, BS_TLS_LEAF_DAYS) : NULL;
	const char *eku = kind == LEAF_SERVER ? "serverAuth" : "clientAuth";
	int rc = 0;

	*cert_text = *key_text = NULL;
	if (cert == NULL ||
	    add_ext(cert, ca->cert, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
	    add_ext(cert, ca->cert, NID_key_usage, "critical,digitalSignature") != 0 ||
	    add_ext(cert, ca->cert, NID_ext_key_usage, eku) != 0 ||
	    add_ext(cert, ca->cert, NID_subject_key_identifier, "hash") != 0 ||
	    add_ext(cert, ca->cert, NID_authority_key_identifier, "keyid:always") != 0 ||
	    (kind == LEAF_SERVER && add_sans(cert, sans) != 0) ||
	    X509_sign(cert, ca->key, EVP_sha256()) <= 0) {
		rc = crypto_fail(err, "issue a certificate");
		goto out;
	}
	*cert_text = cert_to_pem(cert);
	*key_text = key_to_pem(key);
	if (*cert_text == NULL || *key_text == NULL) {
		free(*cert_text);
		bs_secure_free_str(*key_text);
		*cert_text = *key_text = NULL;
		rc = crypto_fail(err, "write a certificate as PEM");
	}
out:
	X509_free(cert);
	EVP_PKEY_free(key);
	if (rc != 0)
		bs_err_prefix(err, "%s", cn);
	return rc;
}

/* Whether an existing leaf may stay: see "Reuse" in tlscerts.h. */
static bool leaf_reusable(const struct ca *ca, enum leaf_kind kind, const struct san_list *sans,
			  const char *cert_text, const char *key_text)
{
	X509 *cert = parse_cert(cert_text);
	EVP_PKEY *key = cert != NULL ? parse_key(key_text) : NULL;
	uint32_t eku = kind == LEAF_SERVER ? XKU_SSL_SERVER : XKU_SSL_CLIENT;
	int purpose = kind == LEAF_SERVER ? X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT;
	bool ok = key != NULL && X509_check_private_key(cert, key) == 1 &&
		  chain_verifies(ca->cert, cert, purpose) &&
		  (X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) != 0 &&
		  (X509_get_extended_key_usage(cert) & eku) != 0 &&
		  lasts_beyond(X509_get0_notAfter(cert), BS_TLS_RENEW_DAYS) &&
		  (kind != LEAF_SERVER || sans_match(cert, sans));

	EVP_PKEY_free(key);
	X509_free(cert);
	ERR_clear_error();
	return ok;
}

/*
 * Keep or (re)issue the leaf folder/cert_name + folder/key_name. On
 * success *cert_out and *key_out (either may be NULL) receive the files'
 * text, and *issued whether they are new.
 */
static int leaf_ensure(const struct ca *ca, enum leaf_kind kind, const char *cn,
		       const struct san_list *sans, const char *folder, const char *cert_name,
		       const char *key_name, char **cert_out, char **key_out, bool *issued,
		       struct bs_err *err)
{
	char *cert_path = bs_xasprintf("%s/%s", folder, cert_name);
	char *key_path = bs_xasprintf("%s/%s", folder, key_name);
	char *cert_text = NULL, *key_text = NULL;
	size_t cert_len = 0, key_len = 0;
	struct staged files[2] = {{NULL, NULL}, {NULL, NULL}};
	int rc = 0, cert_errno, key_errno;

	*issued = false;
	cert_errno = read_small_file(cert_path, &cert_text, &cert_len);
	key_errno = read_small_file(key_path, &key_text, &key_len);
	if (cert_errno == 0 && key_errno == 0 && leaf_reusable(ca, kind, sans, cert_text, key_text))
		goto out;
	if ((cert_errno != 0 && cert_errno != ENOENT && cert_errno != EFBIG) ||
	    (key_errno != 0 && key_errno != ENOENT && key_errno != EFBIG)) {
		bool on_cert = cert_errno != 0 && cert_errno != ENOENT && cert_errno != EFBIG;

		rc = bs_err_set(
			err, BS_ERR_IO,
			"cannot read %s: %s (check its permissions, or remove it: bootstrap then issues a new one)",
			on_cert ? cert_path : key_path,
			file_error_text(on_cert ? cert_errno : key_errno));
		goto out;
	}
	free(cert_text);
	free_file_text(key_text, key_len);
	cert_text = key_text = NULL;
	rc = issue_leaf(ca, kind, cn, sans, &cert_text, &key_text, err);
	if (rc != 0)
		goto out;
	key_len = strlen(key_text);
	rc = stage_file(&files[0], key_path, key_text, 0600, err);
	if (rc == 0)
		rc = stage_file(&files[1], cert_path, cert_text, 0644, err);
	if (rc == 0)
		rc = commit_files(files, 2, folder, err);
	discard_files(files, 2);
	*issued = rc == 0;
out:
	if (rc == 0 && cert_out != NULL) {
		*cert_out = cert_text;
		cert_text = NULL;
	}
	if (rc == 0 && key_out != NULL) {
		*key_out = key_text;
		key_text = NULL;
	}
	free(cert_text);
	free_file_text(key_text, key_len);
	free(cert_path);
	free(key_path);
	return rc;
}

/* ---- public ------------------------------------------------------------ */

static int check_dir_arg(const char *dir, struct bs_err *err)
{
	if (dir == NULL || dir[0] == '\0')
		return bs_err_set(err, BS_ERR_INVALID,
				  "no folder given for the TLS certificates (a bug in the caller)");
	return ensure_private_dir(dir, err);
}

int bs_tls_ca_ensure(bool *created, const char *dir, struct bs_err *err)
{
	struct ca ca;
	int rc;

	if (created != NULL)
		*created = false;
	rc = check_dir_arg(dir, err);
	if (rc != 0)
		return rc;
	rc = ca_load(&ca, dir, err);
	if (rc == BS_ERR_NOT_FOUND) {
		rc = ca_create(dir, err);
		if (rc == 0 && created != NULL)
			*created = true;
	}
	ca_free(&ca);
	ERR_clear_error();
	return rc;
}

int bs_tls_client_ensure(bool *issued, const char *dir, struct bs_err *err)
{
	struct ca ca;
	bool fresh = false;
	int rc;

	if (issued != NULL)
		*issued = false;
	rc = check_dir_arg(dir, err);
	if (rc != 0)
		return rc;
	rc = ca_require(&ca, dir, err);
	if (rc == 0)
		rc = leaf_ensure(&ca, LEAF_CLIENT, "bootstrap client", NULL, dir, "cert.pem",
				 "key.pem", NULL, NULL, &fresh, err);
	if (rc == 0 && issued != NULL)
		*issued = fresh;
	ca_free(&ca);
	ERR_clear_error();
	return rc;
}

int bs_tls_server_ensure(struct bs_tls_server *out, const char *dir, const char *node,
			 const char *const *sans, size_t nsans, struct bs_err *err)
{
	struct san_list want = {NULL, 0};
	struct ca ca;
	char *folder = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&ca, 0, sizeof(ca));
	if (!node_name_ok(node))
		return bs_err_set(
			err, BS_ERR_INVALID,
			"'%.100s' cannot name a node's certificate folder (letters, digits, '-', '_' and '.', at most %d, not starting with '.', no '/' or '..')",
			node != NULL ? node : "(none)", NODE_NAME_MAX);
	rc = parse_sans(&want, node, sans, nsans, err);
	if (rc == 0)
		rc = check_dir_arg(dir, err);
	if (rc == 0)
		rc = ca_require(&ca, dir, err);
	if (rc != 0)
		goto out;
	folder = bs_xasprintf("%s/nodes/%s", dir, node);
	rc = ensure_private_dir(folder, err);
	if (rc == 0)
		rc = leaf_ensure(&ca, LEAF_SERVER, node, &want, folder, "server.pem",
				 "server-key.pem", &out->cert_pem, &out->key_pem, &out->reissued,
				 err);
	if (rc == 0) {
		out->ca_pem = ca.cert_pem;
		ca.cert_pem = NULL;
	}
out:
	free(folder);
	free(want.v);
	ca_free(&ca);
	ERR_clear_error();
	return rc;
}

void bs_tls_server_free(struct bs_tls_server *s)
{
	if (s == NULL)
		return;
	free(s->ca_pem);
	free(s->cert_pem);
	bs_secure_free_str(s->key_pem);
	memset(s, 0, sizeof(*s));
}
