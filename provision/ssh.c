/*
 * ssh.c - libssh2 sessions: connect, host keys, authentication, exec.
 */
#include "provision/ssh.h"
#include "provision/known_hosts.h"
#include "provision/ssh_priv.h"
#include "util/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <libssh2.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct bs_ssh {
	int sock;
	LIBSSH2_SESSION *session;
	char *display;
	char fingerprint[64];
	volatile sig_atomic_t *cancel;
	/*
	 * One thread at a time drives the session: an operation (exec, SFTP,
	 * the node lock) holds mu from start to end, and the tunnel's owner
	 * thread holds it while it pumps. Recursive: an operation may call
	 * another. waker, when set, is written to as an operation lets go, so
	 * the owner thread pumps what arrived meanwhile.
	 */
	pthread_mutex_t mu;
	int waker;
	/* the session's abstract points here: the counters (under mu), and
	 * the password for keyboard-interactive while it is asked */
	struct bs_ssh_stats stats;
	bool sending; /* sent since the last bytes came in */
	const char *kbd_password;
	struct bs_ssh_dialer dialer; /* how sock was made, when not by us */
	bool dialed;
};

void bs_ssh_lock(struct bs_ssh *s)
{
	pthread_mutex_lock(&s->mu);
}

void bs_ssh_unlock(struct bs_ssh *s)
{
	/* still held: the waker cannot be closed (and its number reused) meanwhile */
	if (s->waker >= 0) {
		char one = 1;
		ssize_t n = write(s->waker, &one, 1); /* non-blocking: full means woken */

		(void)n;
	}
	pthread_mutex_unlock(&s->mu);
}

void bs_ssh_unlock_quiet(struct bs_ssh *s)
{
	pthread_mutex_unlock(&s->mu);
}

void bs_ssh_set_waker(struct bs_ssh *s, int fd)
{
	pthread_mutex_lock(&s->mu);
	s->waker = fd;
	pthread_mutex_unlock(&s->mu);
}

char *bs_shell_quote(const char *s)
{
	struct bs_buf out = BS_BUF_INIT;

	bs_buf_putc(&out, '\'');
	for (; *s != '\0'; s++) {
		if (*s == '\'')
			bs_buf_puts(&out, "'\\''");
		else
			bs_buf_putc(&out, *s);
	}
	bs_buf_putc(&out, '\'');
	return bs_buf_detach(&out);
}

const char *bs_ssh_display(const struct bs_ssh *s)
{
	return s->display;
}

LIBSSH2_SESSION *bs_ssh_session(struct bs_ssh *s)
{
	return s->session;
}

int bs_ssh_socket(const struct bs_ssh *s)
{
	return s->sock;
}

void bs_ssh_set_cancel(struct bs_ssh *s, volatile sig_atomic_t *cancel)
{
	s->cancel = cancel;
}

volatile sig_atomic_t *bs_ssh_cancel(const struct bs_ssh *s)
{
	return s->cancel;
}

const char *bs_ssh_fingerprint(const struct bs_ssh *s)
{
	return s->fingerprint;
}

static const char *session_error(LIBSSH2_SESSION *session);

const char *bs_ssh_last_error(struct bs_ssh *s)
{
	return session_error(s->session);
}

static const char *session_error(LIBSSH2_SESSION *session)
{
	char *msg = NULL;

	libssh2_session_last_error(session, &msg, NULL, 0);
	return msg ? msg : "unknown error";
}

static bool cancelled(volatile sig_atomic_t *cancel)
{
	return cancel != NULL && *cancel;
}

/* poll() in slices of at most 100 ms, so that cancel is seen promptly:
 * like poll(), or -2 when cancelled. */
static int poll_cancellable(struct pollfd *pfd, long timeout_ms, volatile sig_atomic_t *cancel)
{
	long long deadline = bs_now_ms() + timeout_ms;

	for (;;) {
		long long left = deadline - bs_now_ms();
		int rc;

		if (cancelled(cancel))
			return -2;
		if (left < 0)
			left = 0;
		rc = poll(pfd, 1, (int)(left < 100 ? left : 100));
		if (rc != 0 || left <= 100)
			return rc;
	}
}

/* Non-blocking connect bounded by timeout_ms, trying each address. */
static int tcp_connect(const char *host, int port, long timeout_ms, const char *display,
		       volatile sig_atomic_t *cancel, int *out, struct bs_err *err)
{
	struct addrinfo hints, *res = NULL, *ai;
	char service[16];
	int rc, last_errno = 0;
	bool timed_out = false;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(service, sizeof(service), "%d", port);
	rc = getaddrinfo(host, service, &hints, &res);
	if (rc != 0)
		return bs_err_set(err, BS_ERR_NETWORK,
				  "ssh %s: cannot resolve %s: %s (check the address)", display,
				  host, gai_strerror(rc));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		int one = 1;
		struct pollfd pfd;
		int so_error = 0;
		socklen_t len = sizeof(so_error);

		if (fd < 0)
			continue;
		/* no Nagle: requests on parallel channels would each wait for the
		 * one before it to be acknowledged, a round trip apiece */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
		if (rc != 0 && errno != EINPROGRESS) {
			last_errno = errno;
			close(fd);
			continue;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		rc = rc == 0 ? 1 : poll_cancellable(&pfd, timeout_ms, cancel);
		if (rc == -2) {
			close(fd);
			freeaddrinfo(res);
			return bs_err_set(err, BS_ERR_INTERRUPTED, "ssh %s: interrupted", display);
		}
		if (rc == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) == 0 &&
		    so_error == 0) {
			/* libssh2 runs this socket in blocking mode with its own timeout */
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
			freeaddrinfo(res);
			*out = fd;
			return 0;
		}
		if (rc == 0)
			timed_out = true;
		last_errno = so_error ? so_error : errno;
		close(fd);
	}
	freeaddrinfo(res);
	if (timed_out)
		return bs_err_set(
			err, BS_ERR_TIMEOUT,
			"ssh %s: no answer within %ld ms (is the machine up, and port %d open?)",
			display, timeout_ms, port);
	return bs_err_set(err, BS_ERR_NETWORK, "ssh %s: %s (is sshd running on port %d?)", display,
			  strerror(last_errno), port);
}

/* Host key types in the order we prefer them, with libssh2's names. */
static const struct {
	int hostkey_type;
	const char *method;
} key_types[] = {
	{LIBSSH2_HOSTKEY_TYPE_ED25519, "ssh-ed25519"},
	{LIBSSH2_HOSTKEY_TYPE_ECDSA_256, "ecdsa-sha2-nistp256"},
	{LIBSSH2_HOSTKEY_TYPE_ECDSA_384, "ecdsa-sha2-nistp384"},
	{LIBSSH2_HOSTKEY_TYPE_ECDSA_521, "ecdsa-sha2-nistp521"},
	{LIBSSH2_HOSTKEY_TYPE_RSA, "ssh-rsa"},
};

#define N_KEY_TYPES (sizeof(key_types) / sizeof(key_types[0]))

static bool hostkey_type_known(const char *method)
{
	for (size_t i = 0; i < N_KEY_TYPES; i++)
		if (strcmp(key_types[i].method, method) == 0)
			return true;
	return false;
}

/*
 * The host key methods to offer: the types known_hosts pins for the host,
 * in our order (no downgrade to a type it does not pin), and *first the
 * line of the first; a new host: every type, ed25519 first, as OpenSSH
 * clients record it. Caller frees.
 */
static char *hostkey_methods(const struct bs_known_hosts *kh, const char *host, int port,
			     struct bs_known_hosts_hit *first)
{
	struct bs_buf methods = BS_BUF_INIT;
	struct bs_known_hosts_hit where;

	memset(first, 0, sizeof(*first));
	for (size_t i = 0; i < N_KEY_TYPES; i++) {
		if (!bs_known_hosts_pinned(kh, host, port, key_types[i].method, &where))
			continue;
		if (methods.len == 0)
			*first = where;
		bs_buf_printf(&methods, "%s%s", methods.len ? "," : "", key_types[i].method);
	}
	if (methods.len > 0)
		return bs_buf_detach(&methods);
	for (size_t i = 0; i < N_KEY_TYPES; i++)
		bs_buf_printf(&methods, "%s%s", i ? "," : "", key_types[i].method);
	return bs_buf_detach(&methods);
}

static void compute_fingerprint(struct bs_ssh *s)
{
	const char *hash = libssh2_hostkey_hash(s->session, LIBSSH2_HOSTKEY_HASH_SHA256);
	char *b64;
	size_t n;

	if (hash == NULL) {
		snprintf(s->fingerprint, sizeof(s->fingerprint), "SHA256:?");
		return;
	}
	b64 = bs_base64_encode(hash, 32, false);
	n = strlen(b64);
	while (n > 0 && b64[n - 1] == '=')
		b64[--n] = '\0';
	snprintf(s->fingerprint, sizeof(s->fingerprint), "SHA256:%s", b64);
	free(b64);
}

/* "SHA256:<base64 without padding>" of a public key blob. Caller frees. */
static char *blob_fingerprint(const void *blob, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	char *b64, *out;
	size_t n;

	if (EVP_Digest(blob, len, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32)
		return NULL;
	b64 = bs_base64_encode(md, md_len, false);
	n = strlen(b64);
	while (n > 0 && b64[n - 1] == '=')
		b64[--n] = '\0';
	out = bs_xasprintf("SHA256:%s", b64);
	free(b64);
	return out;
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

char *bs_ssh_key_fingerprint(const char *public_key)
{
	const char *p = public_key, *type, *b64;
	size_t type_len, b64_len, blob_len;
	unsigned char *blob;
	char *text, *fp = NULL;

	if (p == NULL)
		return NULL;
	p += strspn(p, " \t");
	type = p;
	type_len = strcspn(p, " \t\r\n");
	p += type_len;
	p += strspn(p, " \t");
	b64 = p;
	b64_len = strcspn(p, " \t\r\n");
	if (type_len == 0 || b64_len == 0)
		return NULL;
	text = bs_xstrndup(b64, b64_len);
	blob = bs_base64_decode(text, &blob_len);
	free(text);
	/* the blob starts with its own type name: string TYPE */
	if (blob != NULL && blob_len > 4 && get_u32(blob) == type_len && blob_len >= 4 + type_len &&
	    memcmp(blob + 4, type, type_len) == 0)
		fp = blob_fingerprint(blob, blob_len);
	free(blob);
	return fp;
}

/*
 * The fingerprint of a private key file's public half: from KEY.pub when
 * it is there, else from the OpenSSH private key format's header, which
 * carries the public key in clear even when the key is encrypted
 * (PROTOCOL.key: "openssh-key-v1\0", cipher, kdf, kdf options, number of
 * keys, then the public key). NULL when neither says.
 */
char *bs_ssh_key_file_fingerprint(const char *path)
{
	static const char magic[] = "openssh-key-v1";
	char *pub = bs_xasprintf("%s.pub", path);
	struct bs_buf b64 = BS_BUF_INIT;
	char line[4096], *fp = NULL;
	unsigned char *raw = NULL;
	size_t n = 0, off;
	bool body = false;
	FILE *f = fopen(pub, "r");

	free(pub);
	if (f != NULL) {
		if (fgets(line, sizeof(line), f) != NULL)
			fp = bs_ssh_key_fingerprint(line);
		fclose(f);
		if (fp != NULL)
			return fp;
	}
	f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, "BEGIN OPENSSH PRIVATE KEY") != NULL) {
			body = true;
			continue;
		}
		if (strstr(line, "END OPENSSH PRIVATE KEY") != NULL)
			break;
		if (body)
			bs_buf_append(&b64, line, strcspn(line, "\r\n"));
	}
	fclose(f);
	if (b64.len > 0)
		raw = bs_base64_decode(bs_buf_str(&b64), &n);
	bs_buf_wipe_free(&b64);
	if (raw == NULL || n < sizeof(magic) || memcmp(raw, magic, sizeof(magic)) != 0)
		goto out;
	off = sizeof(magic);
	for (int field = 0; field < 3; field++) { /* cipher, kdf, kdf options */
		if (off + 4 > n || get_u32(raw + off) > n - off - 4)
			goto out;
		off += 4 + get_u32(raw + off);
	}
	if (off + 8 > n || get_u32(raw + off) < 1)
		goto out;
	off += 4;
	if (get_u32(raw + off) > n - off - 4)
		goto out;
	fp = blob_fingerprint(raw + off + 4, get_u32(raw + off));
out:
	if (raw != NULL)
		bs_secure_free(raw, n);
	return fp;
}

/* known_hosts' word on the host's key: 0 when it is pinned or new (see
 * hit->status), else the refusal, naming the line that decided it. */
static int hostkey_verdict(const struct bs_ssh *s, const struct bs_ssh_opts *o, int port,
			   const char *method, const struct bs_known_hosts_hit *hit,
			   struct bs_err *err)
{
	switch (hit->status) {
	case BS_KNOWN_HOSTS_MATCH:
	case BS_KNOWN_HOSTS_UNKNOWN: return 0;
	case BS_KNOWN_HOSTS_REVOKED:
		return bs_err_set(
			err, BS_ERR_HOSTKEY,
			"ssh %s: the host key %s is revoked (@revoked in %s:%ld): refused. Someone may be intercepting the connection; if the host has a new key, pin that one",
			s->display, s->fingerprint, hit->path, hit->line);
	case BS_KNOWN_HOSTS_CHANGED:
		if (strcmp(hit->type, method) != 0)
			return bs_err_set(
				err, BS_ERR_HOSTKEY,
				"ssh %s: HOST KEY CHANGED: it presents the %s key %s, but %s:%ld pinned it with a %s key%s: remove that line if the host really changed keys, or add the host's own %s key beside it once checked on the host (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub). Someone may be intercepting the connection",
				s->display, method, s->fingerprint, hit->path, hit->line, hit->type,
				hostkey_type_known(hit->type) ? "" : ", which bootstrap cannot use",
				method);
		return bs_err_set(
			err, BS_ERR_HOSTKEY,
			"ssh %s: HOST KEY CHANGED: it now presents %s, not the key pinned in %s:%ld. Someone may be intercepting the connection; if the machine was rebuilt, remove its line from %s and run again",
			s->display, s->fingerprint, hit->path, hit->line, hit->path);
	case BS_KNOWN_HOSTS_CERT_AUTHORITY: {
		char *name = bs_known_hosts_name(o->host, port);
		int rc = bs_err_set(
			err, BS_ERR_HOSTKEY,
			"ssh %s: %s:%ld trusts a certificate authority for this host, and bootstrap does not verify host certificates: refused. Pin the host's own key: check that %s is its %s key (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub on the host), then add the line \"%s %s KEY\" to %s (ssh-keyscan prints KEY)",
			s->display, hit->path, hit->line, s->fingerprint, method, name, method,
			o->known_hosts);

		free(name);
		return rc;
	}
	case BS_KNOWN_HOSTS_BAD_LINE:
		return bs_err_set(
			err, BS_ERR_HOSTKEY,
			"ssh %s: %s:%ld names this host, and bootstrap cannot parse the line that pins this host: fix it (or remove it), then run again. Not trusted on first use: that line may pin another key (the host presents %s)",
			s->display, hit->path, hit->line, s->fingerprint);
	}
	return bs_err_set(err, BS_ERR_HOSTKEY, "ssh %s: host key check failed", s->display);
}

/* Every known_hosts file into a new set (*out, caller frees). */
static int known_hosts_load(struct bs_known_hosts **out, const struct bs_ssh_opts *o,
			    struct bs_err *err)
{
	struct bs_known_hosts *kh = bs_known_hosts_new();
	int rc;

	rc = bs_known_hosts_read(kh, o->known_hosts, err);
	if (rc == 0 && o->extra_known_hosts != NULL)
		rc = bs_known_hosts_read(kh, o->extra_known_hosts, err);
	if (rc != 0) {
		bs_known_hosts_free(kh);
		kh = NULL;
	}
	*out = kh;
	return rc;
}

/* Record a first-seen host key. The files are read and the host checked
 * again under the lock (bs_known_hosts_pin): a run beside this one may
 * have pinned it since, and its verdict then stands. */
static int append_known_host(const struct bs_ssh *s, const struct bs_ssh_opts *o, int port,
			     const char *method, const char *key, size_t len, struct bs_err *err)
{
	struct bs_known_hosts *kh = NULL;
	struct bs_known_hosts_hit hit;
	int rc;

	rc = bs_known_hosts_pin(&kh, &hit, o->known_hosts, o->extra_known_hosts, o->host, port, key,
				len, o->known_hosts_comment ? o->known_hosts_comment : "bootstrap",
				err);
	if (rc != 0)
		bs_err_prefix(err, "ssh %s", s->display);
	else
		rc = hostkey_verdict(s, o, port, method, &hit, err);
	bs_known_hosts_free(kh);
	return rc;
}

static int verify_host(struct bs_ssh *s, const struct bs_known_hosts *kh,
		       const struct bs_ssh_opts *o, int port, struct bs_err *err)
{
	const char *method = NULL;
	struct bs_known_hosts_hit hit;
	size_t len = 0, i;
	int type = 0, rc;
	const char *key = libssh2_session_hostkey(s->session, &len, &type);

	if (key == NULL)
		return bs_err_set(err, BS_ERR_HOSTKEY, "ssh %s: the server sent no host key",
				  s->display);
	for (i = 0; i < N_KEY_TYPES; i++)
		if (key_types[i].hostkey_type == type)
			method = key_types[i].method;
	compute_fingerprint(s);
	if (method == NULL)
		return bs_err_set(
			err, BS_ERR_HOSTKEY,
			"ssh %s: the server's host key (%s) is of a type bootstrap does not know",
			s->display, s->fingerprint);
	bs_known_hosts_check(kh, o->host, port, key, len, &hit);
	rc = hostkey_verdict(s, o, port, method, &hit, err);
	if (rc != 0 || hit.status == BS_KNOWN_HOSTS_MATCH)
		return rc;
	if (o->policy == BS_HOSTKEY_STRICT)
		return bs_err_set(
			err, BS_ERR_HOSTKEY,
			"ssh %s: unknown host (key %s) and host_keys is strict: add its key to %s, or use host_keys: accept-new",
			s->display, s->fingerprint, o->known_hosts);
	return append_known_host(s, o, port, method, key, len, err);
}

/*
 * Rewriting: the lines kept go to a new file made with mkstemp beside the
 * file (never a fixed name that a symlink could redirect), with the old
 * file's mode, renamed over it. A known_hosts that is a symlink keeps its
 * link: the file it points to is rewritten.
 */
int bs_ssh_known_hosts_forget(const char *path, const char *host, int port, const char *tag,
			      int *removed, struct bs_err *err)
{
	struct bs_buf keep = BS_BUF_INIT;
	char *line = NULL, *target = NULL, *tmp = NULL;
	size_t cap = 0;
	ssize_t n;
	struct stat st;
	FILE *f = NULL, *out = NULL;
	int lock, fd, rc = 0;

	*removed = 0;
	if (access(path, F_OK) != 0 && errno == ENOENT)
		return 0;
	lock = bs_known_hosts_lock(path);
	if (lock < 0)
		return bs_err_set(err, BS_ERR_IO, "cannot lock %s.lock: %s", path, strerror(errno));
	target = realpath(path, NULL);
	if (target == NULL) {
		if (errno != ENOENT)
			rc = bs_err_set(err, BS_ERR_IO, "cannot open %s: %s", path,
					strerror(errno));
		goto out;
	}
	f = fopen(target, "re");
	if (f == NULL) {
		if (errno != ENOENT)
			rc = bs_err_set(err, BS_ERR_IO, "cannot open %s: %s", path,
					strerror(errno));
		goto out;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = bs_err_set(err, BS_ERR_IO, "cannot rewrite %s: not a regular file", path);
		goto out;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		size_t len = (size_t)n - (line[n - 1] == '\n');

		if (bs_known_hosts_line_is_for(line, len, host, port, tag))
			(*removed)++;
		else
			bs_buf_append(&keep, line, (size_t)n);
	}
	/* a read error ends the loop like the end of the file: rewriting
	 * then would drop every line after it */
	if (ferror(f)) {
		rc = bs_err_set(err, BS_ERR_IO, "cannot read %s: %s", path, strerror(errno));
		*removed = 0;
		goto out;
	}
	if (*removed == 0)
		goto out;
	tmp = bs_xasprintf("%s.XXXXXX", target);
	fd = mkstemp(tmp);
	if (fd < 0) {
		rc = bs_err_set(err, BS_ERR_IO, "cannot write beside %s: %s", target,
				strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	out = fdopen(fd, "w");
	if (out == NULL) {
		rc = bs_err_set(err, BS_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
		close(fd);
		goto out;
	}
	if (fchmod(fd, st.st_mode & 07777) != 0 ||
	    (keep.len > 0 && fwrite(keep.data, 1, keep.len, out) != keep.len) || fflush(out) != 0 ||
	    fsync(fd) != 0) {
		rc = bs_err_set(err, BS_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	rc = fclose(out);
	out = NULL;
	if (rc != 0 || rename(tmp, target) != 0)
		rc = bs_err_set(err, BS_ERR_IO, "cannot replace %s: %s", target, strerror(errno));
out:
	if (out != NULL)
		fclose(out);
	if (rc != 0 && tmp != NULL)
		unlink(tmp);
	if (f != NULL)
		fclose(f);
	close(lock);
	free(tmp);
	free(target);
	free(line);
	bs_buf_free(&keep);
	return rc;
}

/* The key type of a private key file, from its .pub beside it or its
 * header; "" when unknown. */
static void key_file_type(const char *path, char *type, size_t size)
{
	char *pub = bs_xasprintf("%s.pub", path);
	char line[512] = "";
	FILE *f = fopen(pub, "r");

	type[0] = '\0';
	if (f != NULL) {
		if (fgets(line, sizeof(line), f) != NULL)
			snprintf(type, size, "%.*s", (int)strcspn(line, " \n"), line);
		fclose(f);
	}
	free(pub);
	if (type[0] != '\0')
		return;
	f = fopen(path, "r");
	if (f == NULL)
		return;
	if (fgets(line, sizeof(line), f) != NULL && strstr(line, "BEGIN RSA PRIVATE KEY"))
		snprintf(type, size, "ssh-rsa");
	else if (strstr(line, "BEGIN OPENSSH PRIVATE KEY")) {
		/* the unencrypted header names the public key's type within
		 * its first few base64 lines */
		struct bs_buf b64 = BS_BUF_INIT;
		unsigned char *raw;
		size_t n;
		int i;

		for (i = 0; i < 4 && fgets(line, sizeof(line), f) != NULL; i++)
			bs_buf_append(&b64, line, strcspn(line, "\r\n"));
		b64.len -= b64.len % 4;
		if (b64.data != NULL)
			b64.data[b64.len] = '\0';
		raw = bs_base64_decode(bs_buf_str(&b64), &n);
		if (raw != NULL) {
			if (memmem(raw, n, "ssh-rsa", 7))
				snprintf(type, size, "ssh-rsa");
			else if (memmem(raw, n, "ssh-ed25519", 11))
				snprintf(type, size, "ssh-ed25519");
			else if (memmem(raw, n, "ecdsa-sha2", 10))
				snprintf(type, size, "ecdsa-sha2");
			free(raw);
		}
		bs_buf_free(&b64);
	}
	fclose(f);
}

/*
 * libssh2's socket I/O, counted: bytes each way, and round trips as the
 * times bytes came in after we had sent something (what a reply costs;
 * replies that overlap count once). Errors as libssh2's own: -errno.
 */
static ssize_t counted_send(libssh2_socket_t fd, const void *buf, size_t len, int flags,
			    void **abstract)
{
	struct bs_ssh *s = *abstract;
	ssize_t n = send(fd, buf, len, flags);

	if (n < 0)
		return -errno;
	s->stats.bytes_out += (unsigned long long)n;
	s->sending = s->sending || n > 0;
	return n;
}

static ssize_t counted_recv(libssh2_socket_t fd, void *buf, size_t len, int flags, void **abstract)
{
	struct bs_ssh *s = *abstract;
	ssize_t n = recv(fd, buf, len, flags);

	if (n < 0)
		return -errno;
	s->stats.bytes_in += (unsigned long long)n;
	if (n > 0 && s->sending) {
		s->stats.round_trips++;
		s->sending = false;
	}
	return n;
}

void bs_ssh_get_stats(struct bs_ssh *s, struct bs_ssh_stats *out)
{
	bs_ssh_lock(s);
	*out = s->stats;
	bs_ssh_unlock_quiet(s);
}

static bool rsa_supported(void)
{
	/* rsa-sha2-256/512 arrived in libssh2 1.11 */
	return libssh2_version(0x010b00) != NULL;
}

static void kbd_callback(const char *name, int name_len, const char *instruction,
			 int instruction_len, int num_prompts,
			 const LIBSSH2_USERAUTH_KBDINT_PROMPT *prompts,
			 LIBSSH2_USERAUTH_KBDINT_RESPONSE *responses, void **abstract)
{
	const struct bs_ssh *s = *abstract; /* the session's abstract */
	const char *password = s->kbd_password;
	int i;

	(void)name;
	(void)name_len;
	(void)instruction;
	(void)instruction_len;
	(void)prompts;
	for (i = 0; i < num_prompts; i++) {
		/* libssh2 frees these */
		responses[i].text = bs_xstrdup(password ? password : "");
		responses[i].length = (unsigned int)strlen(responses[i].text);
	}
}

/* "SHA256:... (WHERE)" appended to a comma-separated list */
static void offered_add(struct bs_buf *offered, char *fingerprint, const char *where)
{
	bs_buf_printf(offered, "%s%s (%s)", offered->len ? ", " : "",
		      fingerprint ? fingerprint : "a key", where);
	free(fingerprint);
}

static int try_agent(struct bs_ssh *s, const char *user, struct bs_buf *offered, bool *authed)
{
	LIBSSH2_AGENT *agent = libssh2_agent_init(s->session);
	struct libssh2_agent_publickey *id = NULL, *prev = NULL;

	*authed = false;
	if (agent == NULL)
		return 0;
	if (libssh2_agent_connect(agent) != 0 || libssh2_agent_list_identities(agent) != 0) {
		libssh2_agent_free(agent);
		return 0;
	}
	while (!*authed && libssh2_agent_get_identity(agent, &id, prev) == 0) {
		prev = id;
		/* ssh-rsa signs with SHA-1 on libssh2 1.10: OpenSSH refuses it */
		if (id->blob_len > 11 && memmem(id->blob, id->blob_len, "ssh-rsa", 7) &&
		    !rsa_supported())
			continue;
		offered_add(offered, blob_fingerprint(id->blob, id->blob_len), "ssh-agent");
		if (libssh2_agent_userauth(agent, user, id) == 0)
			*authed = true;
	}
	libssh2_agent_disconnect(agent);
	libssh2_agent_free(agent);
	return 0;
}

/* The key file: 0, a libssh2 error, or BS_ERR_INVALID (err set) for a key
 * that cannot be used at all. */
static int key_auth(struct bs_ssh *s, const struct bs_ssh_opts *o, const char *user,
		    struct bs_buf *offered, struct bs_err *err)
{
	int rc;

	offered_add(offered, bs_ssh_key_file_fingerprint(o->key_path), o->key_path);
	rc = libssh2_userauth_publickey_fromfile_ex(s->session, user, (unsigned)strlen(user), NULL,
						    o->key_path, o->passphrase);
	if (rc == LIBSSH2_ERROR_FILE || rc == LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED || rc == -48)
		return bs_err_set(
			err, BS_ERR_INVALID,
			"ssh %s: cannot use the key %s: %s (check the file, and its passphrase)",
			s->display, o->key_path, session_error(s->session));
	return rc;
}

static int authenticate(struct bs_ssh *s, const struct bs_ssh_opts *o, struct bs_err *err)
{
	const char *user = o->user ? o->user : "root";
	char *methods;
	struct bs_buf offered = BS_BUF_INIT;
	bool authed = false, tried = false, key_tried = false;
	int rc;

	/*
	 * A key and no agent: the key straight away. Asking for the methods
	 * first ("none") costs a round trip that the usual case, a server that
	 * takes keys, does not need; they are asked only if the key is refused.
	 */
	if (o->key_path != NULL && !o->agent) {
		key_tried = true;
		rc = key_auth(s, o, user, &offered, err);
		if (rc == 0 || rc == BS_ERR_INVALID) {
			bs_buf_free(&offered);
			return rc;
		}
	}
	methods = libssh2_userauth_list(s->session, user, (unsigned)strlen(user));
	if (methods == NULL && libssh2_userauth_authenticated(s->session)) {
		bs_buf_free(&offered);
		return 0;
	}
	if (methods == NULL) {
		bs_buf_free(&offered);
		return bs_err_set(err, BS_ERR_AUTH,
				  "ssh %s: the server offers no authentication: %s", s->display,
				  session_error(s->session));
	}
	if (key_tried && strstr(methods, "publickey") != NULL)
		tried = true;
	else if (key_tried)
		bs_buf_reset(&offered); /* it does not take keys at all */
	if (o->agent && strstr(methods, "publickey")) {
		tried = true;
		try_agent(s, user, &offered, &authed);
	}
	if (!authed && o->key_path != NULL && !key_tried && strstr(methods, "publickey")) {
		tried = true;
		rc = key_auth(s, o, user, &offered, err);
		if (rc == 0)
			authed = true;
		else if (rc == BS_ERR_INVALID) {
			bs_buf_free(&offered);
			return rc;
		}
	}
	if (!authed && o->password != NULL && strstr(methods, "password")) {
		tried = true;
		authed = libssh2_userauth_password_ex(s->session, user, (unsigned)strlen(user),
						      o->password, (unsigned)strlen(o->password),
						      NULL) == 0;
	}
	if (!authed && o->password != NULL && strstr(methods, "keyboard-interactive")) {
		tried = true;
		s->kbd_password = o->password;
		authed = libssh2_userauth_keyboard_interactive_ex(
				 s->session, user, (unsigned)strlen(user), kbd_callback) == 0;
		s->kbd_password = NULL;
	}
	if (authed) {
		bs_buf_free(&offered);
		return 0;
	}
	if (!tried)
		rc = bs_err_set(
			err, BS_ERR_AUTH,
			"ssh %s: no way to log in as %s: the server offers %s, and the recipe gives %s (set ssh.key, ssh.agent or ssh.password)",
			s->display, user, methods,
			o->key_path || o->agent ? "no matching credential" : "no credential");
	else if (o->expected_key != NULL && offered.len > 0 &&
		 strstr(bs_buf_str(&offered), o->expected_key) == NULL &&
		 strstr(bs_buf_str(&offered), "a key (") == NULL)
		rc = bs_err_set(
			err, BS_ERR_AUTH,
			"ssh %s: %s was refused: the machine was created with the key %s, and this run offered %s. Use that key: point ssh.key at it, add it to ssh-agent, or run with BOOTSTRAP_DIR set to the directory of the run that created the machine (its ssh/id_ed25519)",
			s->display, user, o->expected_key, bs_buf_str(&offered));
	else
		rc = bs_err_set(
			err, BS_ERR_AUTH,
			"ssh %s: %s was refused (%s%s%s%s%s); check that the key is in ~%s/.ssh/authorized_keys on the machine",
			s->display, user, offered.len ? "offered " : "",
			offered.len   ? bs_buf_str(&offered)
			: o->key_path ? o->key_path
			: o->agent    ? "agent keys"
				      : "password",
			o->password && offered.len ? " and a password" : "",
			o->expected_key ? "; it was created with " : "",
			o->expected_key ? o->expected_key : "", user);
	bs_buf_free(&offered);
	return rc;
}

/*
 * The key exchange, non-blocking so that a server that takes the
 * connection and never answers (or a Ctrl-C) does not hold us for the
 * whole timeout: 0, BS_ERR_TIMEOUT, BS_ERR_INTERRUPTED, or -1 for
 * libssh2's own error (last_errno says which).
 */
static int handshake(struct bs_ssh *s, long timeout_ms)
{
	long long deadline = bs_now_ms() + timeout_ms;
	int rc;

	libssh2_session_set_blocking(s->session, 0);
	while ((rc = libssh2_session_handshake(s->session, s->sock)) == LIBSSH2_ERROR_EAGAIN) {
		if (cancelled(s->cancel)) {
			libssh2_session_set_blocking(s->session, 1);
			return BS_ERR_INTERRUPTED;
		}
		if (bs_now_ms() > deadline) {
			libssh2_session_set_blocking(s->session, 1);
			return BS_ERR_TIMEOUT;
		}
		bs_ssh_wait_socket(s, 100);
	}
	libssh2_session_set_blocking(s->session, 1);
	return rc == 0 ? 0 : -1; /* libssh2's codes overlap ours: last_errno says */
}

int bs_ssh_connect(struct bs_ssh **out, const struct bs_ssh_opts *o, struct bs_err *err)
{
	struct bs_ssh *s = bs_xcalloc(1, sizeof(*s));
	struct bs_known_hosts *kh = NULL;
	struct bs_known_hosts_hit pinned = {BS_KNOWN_HOSTS_UNKNOWN, NULL, 0, NULL};
	char *methods = NULL;
	int port = o->port ? o->port : 22;
	long timeout = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000;
	int rc;

	*out = NULL;
	s->sock = -1;
	s->waker = -1;
	{
		pthread_mutexattr_t a;

		pthread_mutexattr_init(&a);
		pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
		pthread_mutex_init(&s->mu, &a);
		pthread_mutexattr_destroy(&a);
	}
	s->cancel = o->cancel;
	s->display = bs_xasprintf("%s@%s:%d", o->user ? o->user : "root", o->host, port);
	if (o->known_hosts == NULL) {
		rc = bs_err_set(err, BS_ERR_INVALID, "ssh %s: no known_hosts file given",
				s->display);
		goto fail;
	}
	if (o->key_path != NULL) {
		char type[64];

		if (access(o->key_path, R_OK) != 0) {
			rc = bs_err_set(err, BS_ERR_INVALID, "ssh %s: cannot read the key %s: %s",
					s->display, o->key_path, strerror(errno));
			goto fail;
		}
		key_file_type(o->key_path, type, sizeof(type));
		if (strcmp(type, "ssh-rsa") == 0 && !rsa_supported()) {
			rc = bs_err_set(
				err, BS_ERR_UNSUPPORTED,
				"ssh %s: %s is an RSA key, which this libssh2 (%s) can only sign with SHA-1, refused by OpenSSH 8.8 and later. Use an ed25519 key (ssh-keygen -t ed25519), or build with libssh2 1.11 or newer",
				s->display, o->key_path, libssh2_version(0));
			goto fail;
		}
	}
	/* every known_hosts file before the network: a file that cannot be
	 * read is an error, never an empty file (its pins would be lost) */
	rc = known_hosts_load(&kh, o, err);
	if (rc != 0) {
		bs_err_prefix(err, "ssh %s", s->display);
		goto fail;
	}
	if (o->dialer != NULL) {
		rc = o->dialer->dial(o->dialer->payload, o->host, port, timeout, o->cancel,
				     &s->sock, err);
		if (rc == 0) {
			s->dialer = *o->dialer;
			s->dialed = true;
		}
	} else {
		rc = tcp_connect(o->host, port, timeout, s->display, o->cancel, &s->sock, err);
	}
	if (rc != 0)
		goto fail;
	s->stats.round_trips = 1; /* TCP's handshake */
	s->session = libssh2_session_init_ex(NULL, NULL, NULL, s);
	if (s->session == NULL) {
		rc = bs_err_set(err, BS_ERR_NOMEM, "ssh %s: cannot create a session", s->display);
		goto fail;
	}
	libssh2_session_callback_set(s->session, LIBSSH2_CALLBACK_SEND, (void *)counted_send);
	libssh2_session_callback_set(s->session, LIBSSH2_CALLBACK_RECV, (void *)counted_recv);
	methods = hostkey_methods(kh, o->host, port, &pinned);
	libssh2_session_method_pref(s->session, LIBSSH2_METHOD_HOSTKEY, methods);
	libssh2_session_set_timeout(s->session, timeout);
	rc = handshake(s, timeout);
	if (rc == BS_ERR_INTERRUPTED) {
		rc = bs_err_set(err, rc, "ssh %s: interrupted", s->display);
		goto fail;
	}
	if (rc != 0) {
		int last = libssh2_session_last_errno(s->session);

		if (last == LIBSSH2_ERROR_TIMEOUT || rc == BS_ERR_TIMEOUT)
			rc = bs_err_set(err, BS_ERR_TIMEOUT,
					"ssh %s: the handshake did not finish within %ld ms",
					s->display, timeout);
		else if (last == LIBSSH2_ERROR_KEX_FAILURE && pinned.path != NULL)
			/* no common host key type: it no longer has the pinned one */
			rc = bs_err_set(
				err, BS_ERR_HOSTKEY,
				"ssh %s: handshake failed: %s (it offers none of the host key types pinned for it, %s, the first at %s:%ld; if it was rebuilt, remove its lines)",
				s->display, session_error(s->session), methods, pinned.path,
				pinned.line);
		else
			rc = bs_err_set(err, BS_ERR_NETWORK, "ssh %s: handshake failed: %s",
					s->display, session_error(s->session));
		goto fail;
	}
	rc = verify_host(s, kh, o, port, err);
	if (rc != 0)
		goto fail;
	rc = authenticate(s, o, err);
	if (rc != 0)
		goto fail;
	/* only now: configured before the handshake, libssh2 1.10 breaks the
	 * key exchange ("Unable to exchange encryption keys") */
	libssh2_keepalive_config(s->session, 1, 15);
	bs_known_hosts_free(kh);
	free(methods);
	*out = s;
	return 0;
fail:
	bs_known_hosts_free(kh);
	free(methods);
	bs_ssh_close(s);
	return rc;
}

int bs_ssh_wait(struct bs_ssh **out, const struct bs_ssh_opts *o, long wait_ms, bool retry_auth,
		int *attempts, struct bs_err *err)
{
	long long deadline = bs_now_ms() + wait_ms;
	long pause = 500;
	int rc;

	*attempts = 0;
	for (;;) {
		long long until;

		(*attempts)++;
		rc = bs_ssh_connect(out, o, err);
		if (rc == 0 || rc == BS_ERR_HOSTKEY || rc == BS_ERR_INVALID ||
		    rc == BS_ERR_UNSUPPORTED || rc == BS_ERR_NOMEM || rc == BS_ERR_IO ||
		    rc == BS_ERR_INTERRUPTED || (rc == BS_ERR_AUTH && !retry_auth))
			return rc;
		if (bs_now_ms() + pause >= deadline) {
			if (*attempts > 1)
				bs_err_prefix(err, "gave up after %d attempts in %ld s", *attempts,
					      wait_ms / 1000);
			return rc == BS_ERR_AUTH ? rc : BS_ERR_TIMEOUT;
		}
		/* the pause in small steps: a Ctrl-C ends it at once */
		until = bs_now_ms() + pause;
		while (bs_now_ms() < until) {
			if (cancelled(o->cancel))
				return bs_err_set(err, BS_ERR_INTERRUPTED,
						  "waiting for ssh: interrupted");
			usleep(50 * 1000);
		}
		pause = pause * 2 > 5000 ? 5000 : pause * 2;
	}
}

void bs_ssh_result_free(struct bs_ssh_result *r)
{
	bs_buf_free(&r->out);
	bs_buf_free(&r->err);
	free(r->signal);
	memset(r, 0, sizeof(*r));
}

/* Read what is there from one stream; false at EOF or error (rc set). */
static void drain(LIBSSH2_CHANNEL *ch, int stream, struct bs_buf *keep, size_t *total, int *rc)
{
	char buf[32768];

	for (;;) {
		ssize_t n = libssh2_channel_read_ex(ch, stream, buf, sizeof(buf));

		if (n == LIBSSH2_ERROR_EAGAIN || n == 0)
			return;
		if (n < 0) {
			*rc = (int)n;
			return;
		}
		*total += (size_t)n;
		if (keep->len < BS_SSH_OUTPUT_MAX)
			bs_buf_append(keep, buf,
				      (size_t)n < BS_SSH_OUTPUT_MAX - keep->len
					      ? (size_t)n
					      : BS_SSH_OUTPUT_MAX - keep->len);
	}
}

int bs_ssh_wait_socket(struct bs_ssh *s, int timeout_ms)
{
	struct pollfd pfd;
	int dir = libssh2_session_block_directions(s->session);

	pfd.fd = s->sock;
	pfd.events = (short)((dir & LIBSSH2_SESSION_BLOCK_INBOUND ? POLLIN : 0) |
			     (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND ? POLLOUT : 0));
	if (pfd.events == 0)
		pfd.events = POLLIN;
	return poll(&pfd, 1, timeout_ms);
}

static int exec_locked(struct bs_ssh *s, const char *command, long timeout_ms,
		       struct bs_ssh_result *r, struct bs_err *err)
{
	long long deadline = bs_now_ms() + (timeout_ms > 0 ? timeout_ms : 600000);
	LIBSSH2_CHANNEL *ch = NULL;
	int rc = 0, next_keepalive = 0;

	memset(r, 0, sizeof(*r));
	libssh2_session_set_blocking(s->session, 0);
	while ((ch = libssh2_channel_open_session(s->session)) == NULL &&
	       libssh2_session_last_errno(s->session) == LIBSSH2_ERROR_EAGAIN) {
		if (bs_now_ms() > deadline)
			goto timeout;
		bs_ssh_wait_socket(s, 100);
	}
	if (ch == NULL) {
		rc = bs_err_set(err, BS_ERR_NETWORK, "ssh %s: cannot open a channel: %s",
				s->display, session_error(s->session));
		goto out;
	}
	while ((rc = libssh2_channel_exec(ch, command)) == LIBSSH2_ERROR_EAGAIN) {
		if (bs_now_ms() > deadline)
			goto timeout;
		bs_ssh_wait_socket(s, 100);
	}
	if (rc != 0) {
		rc = bs_err_set(err, BS_ERR_NETWORK, "ssh %s: cannot start a command: %s",
				s->display, session_error(s->session));
		goto out;
	}
	/* both streams in one loop: either may fill the window */
	while (!libssh2_channel_eof(ch)) {
		int read_rc = 0;

		drain(ch, 0, &r->out, &r->out_total, &read_rc);
		drain(ch, SSH_EXTENDED_DATA_STDERR, &r->err, &r->err_total, &read_rc);
		if (read_rc != 0) {
			rc = bs_err_set(err, BS_ERR_NETWORK,
					"ssh %s: the connection broke during the command: %s",
					s->display, session_error(s->session));
			goto out;
		}
		if (libssh2_channel_eof(ch))
			break;
		if (bs_now_ms() > deadline)
			goto timeout;
		if (s->cancel != NULL && *s->cancel) {
			rc = bs_err_set(err, BS_ERR_INTERRUPTED, "ssh %s: interrupted", s->display);
			goto out;
		}
		if (libssh2_keepalive_send(s->session, &next_keepalive) ==
		    LIBSSH2_ERROR_SOCKET_SEND) {
			rc = bs_err_set(err, BS_ERR_NETWORK,
					"ssh %s: the connection broke during the command",
					s->display);
			goto out;
		}
		if (bs_ssh_wait_socket(s, 200) < 0 && errno != EINTR) {
			rc = bs_err_set(err, BS_ERR_NETWORK, "ssh %s: %s", s->display,
					strerror(errno));
			goto out;
		}
		if (libssh2_session_last_errno(s->session) == LIBSSH2_ERROR_SOCKET_RECV ||
		    libssh2_session_last_errno(s->session) == LIBSSH2_ERROR_SOCKET_DISCONNECT) {
			rc = bs_err_set(err, BS_ERR_NETWORK,
					"ssh %s: the connection broke during the command",
					s->display);
			goto out;
		}
	}
	{
		int read_rc = 0;

		drain(ch, 0, &r->out, &r->out_total, &read_rc);
		drain(ch, SSH_EXTENDED_DATA_STDERR, &r->err, &r->err_total, &read_rc);
	}
	while (libssh2_channel_close(ch) == LIBSSH2_ERROR_EAGAIN && bs_now_ms() < deadline)
		bs_ssh_wait_socket(s, 100);
	while (libssh2_channel_wait_closed(ch) == LIBSSH2_ERROR_EAGAIN && bs_now_ms() < deadline)
		bs_ssh_wait_socket(s, 100);
	{
		char *sig = NULL;
		size_t sig_len = 0;

		r->exit_status = libssh2_channel_get_exit_status(ch);
		if (libssh2_channel_get_exit_signal(ch, &sig, &sig_len, NULL, NULL, NULL, NULL) ==
			    0 &&
		    sig != NULL) {
			r->signal = bs_xstrndup(sig, sig_len);
			libssh2_free(s->session, sig);
		}
	}
	rc = 0;
	goto out;
timeout:
	rc = bs_err_set(err, BS_ERR_TIMEOUT, "ssh %s: the command did not finish within %ld s",
			s->display, timeout_ms / 1000);
out:
	if (ch != NULL) {
		/* a channel that did not close cleanly is dropped with the session */
		libssh2_channel_free(ch);
	}
	libssh2_session_set_blocking(s->session, 1);
	return rc;
}

int bs_ssh_exec(struct bs_ssh *s, const char *command, long timeout_ms, struct bs_ssh_result *r,
		struct bs_err *err)
{
	int rc;

	bs_ssh_lock(s);
	rc = exec_locked(s, command, timeout_ms, r, err);
	bs_ssh_unlock(s);
	return rc;
}

void bs_ssh_hangup(struct bs_ssh *s)
{
	if (s == NULL || s->session == NULL || s->sock < 0)
		return;
	bs_ssh_lock(s);
	/* one try, not waited on: a full socket buffer means a dead link */
	libssh2_session_set_blocking(s->session, 0);
	libssh2_session_disconnect(s->session, "bootstrap done");
	libssh2_session_set_blocking(s->session, 1);
	shutdown(s->sock, SHUT_RDWR);
	bs_ssh_unlock_quiet(s);
}

void bs_ssh_close(struct bs_ssh *s)
{
	if (s == NULL)
		return;
	pthread_mutex_destroy(&s->mu);
	if (s->session != NULL) {
		libssh2_session_set_blocking(s->session, 1);
		libssh2_session_set_timeout(s->session, 2000);
		libssh2_session_disconnect(s->session, "bootstrap done");
		libssh2_session_free(s->session);
	}
	if (s->sock >= 0)
		close(s->sock);
	if (s->dialed && s->dialer.release != NULL)
		s->dialer.release(s->dialer.payload);
	free(s->display);
	free(s);
}
