/*
 * known_hosts.c - OpenSSH known_hosts files: parse, match, check.
 *
 * Every line is split into its fields (split_fields), then checked and
 * decoded (parse_line): the key's base64 and the type inside the blob,
 * a hashed name's salt and hash. A line that fails either is skipped with
 * a warning; nothing about one line changes how the next is read, and no
 * line is too long (the whole file is in memory, up to BS_KNOWN_HOSTS_MAX).
 * Lookups scan every line, so the order of lines never decides between a
 * revoked key and a pin. A skipped line still keeps its hostnames (in
 * `bad`): a host that only such a line names is BAD_LINE, never new, as
 * OpenSSH may read that line as its pin.
 *
 * Writing is first-use pins only (bs_known_hosts_pin: under the lock, the
 * files read and the host checked again, then one line appended);
 * forgetting a machine (ssh.c) rewrites the file under the same lock.
 */
#include "provision/known_hosts.h"
#include "util/log.h"
#include "util/str.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHA1_LEN 20
#define HASH_MAGIC "|1|"
/* warnings per file; the rest are counted */
#define WARN_MAX 20

enum marker {
	MARKER_NONE,
	MARKER_REVOKED,
	MARKER_CERT_AUTHORITY,
};

struct entry {
	enum marker marker;
	bool hashed;
	char *hosts; /* the patterns; NULL when hashed */
	unsigned char salt[SHA1_LEN];
	unsigned char hash[SHA1_LEN];
	char *type; /* NULL for an unparseable line */
	unsigned char *blob;
	size_t blob_len;
	const char *path; /* owned by the set's origins */
	long line;
};

struct bs_known_hosts {
	struct entry *v;
	size_t n;
	size_t cap;
	/* the lines that could not be parsed, by their hostnames alone: an
	 * unknown host that one of them names is refused, not trusted */
	struct entry *bad;
	size_t n_bad;
	size_t cap_bad;
	struct bs_strv origins;
};

/* A line's fields, pointing into the line. */
struct fields {
	enum marker marker;
	const char *hosts, *type, *key, *comment;
	size_t hosts_len, type_len, key_len, comment_len;
};

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

/* The next field of p[0..end), blanks before it skipped; false when none. */
static bool next_field(const char **p, const char *end, const char **field, size_t *len)
{
	const char *s = *p;

	while (s < end && blank(*s))
		s++;
	if (s == end)
		return false;
	*field = s;
	while (s < end && !blank(*s))
		s++;
	*len = (size_t)(s - *field);
	*p = s;
	return true;
}

static bool field_is(const char *field, size_t len, const char *word)
{
	return len == strlen(word) && memcmp(field, word, len) == 0;
}

/*
 * Split line[0..len) (no newline). 1: blank or a comment; 0: *f is set;
 * -1: not a known_hosts line (*why says why).
 */
static int split_fields(const char *line, size_t len, struct fields *f, const char **why)
{
	const char *p = line, *end = line + len, *first, *nul;
	size_t first_len;

	memset(f, 0, sizeof(*f));
	/* OpenSSH reads lines with fgets: a NUL ends the line there, and what
	 * comes before it is a pin like any other */
	nul = memchr(line, '\0', len);
	if (nul != NULL)
		end = nul;
	while (end > p && (blank(end[-1]) || end[-1] == '\r'))
		end--;
	if (!next_field(&p, end, &first, &first_len) || *first == '#')
		return 1;
	if (*first == '@') {
		if (field_is(first, first_len, "@revoked"))
			f->marker = MARKER_REVOKED;
		else if (field_is(first, first_len, "@cert-authority"))
			f->marker = MARKER_CERT_AUTHORITY;
		else {
			*why = "unknown marker (only @revoked and @cert-authority exist)";
			return -1;
		}
		if (!next_field(&p, end, &first, &first_len)) {
			*why = "a marker and nothing else";
			return -1;
		}
	}
	f->hosts = first;
	f->hosts_len = first_len;
	if (!next_field(&p, end, &f->type, &f->type_len) ||
	    !next_field(&p, end, &f->key, &f->key_len)) {
		*why = "expected HOSTNAMES KEYTYPE KEY [COMMENT]";
		return -1;
	}
	while (p < end && blank(*p))
		p++;
	f->comment = p;
	f->comment_len = (size_t)(end - p);
	return 0;
}

/* base64 of text[0..len), NULL when it is not; *out_len its length. */
static unsigned char *decode_base64(const char *text, size_t len, size_t *out_len)
{
	char *copy = bs_xstrndup(text, len);
	unsigned char *raw = len > 0 ? bs_base64_decode(copy, out_len) : NULL;

	free(copy);
	return raw;
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The key type a public key blob starts with (an SSH string), or false. */
static bool blob_type(const unsigned char *blob, size_t len, const char **type, size_t *type_len)
{
	if (len < 4 || get_u32(blob) == 0 || get_u32(blob) > len - 4)
		return false;
	*type = (const char *)blob + 4;
	*type_len = get_u32(blob);
	return true;
}

/* |1|SALT|HASH: both base64 of SHA1_LEN bytes. */
static bool parse_hashed(const char *hosts, size_t len, unsigned char salt[SHA1_LEN],
			 unsigned char hash[SHA1_LEN])
{
	const char *p = hosts + strlen(HASH_MAGIC), *end = hosts + len, *bar;
	unsigned char *raw_salt = NULL, *raw_hash = NULL;
	size_t salt_len = 0, hash_len = 0;
	bool ok = false;

	bar = memchr(p, '|', (size_t)(end - p));
	if (bar == NULL)
		return false;
	raw_salt = decode_base64(p, (size_t)(bar - p), &salt_len);
	raw_hash = decode_base64(bar + 1, (size_t)(end - bar - 1), &hash_len);
	if (raw_salt != NULL && raw_hash != NULL && salt_len == SHA1_LEN && hash_len == SHA1_LEN) {
		memcpy(salt, raw_salt, SHA1_LEN);
		memcpy(hash, raw_hash, SHA1_LEN);
		ok = true;
	}
	free(raw_salt);
	free(raw_hash);
	return ok;
}

static bool is_hashed(const char *hosts, size_t len)
{
	return len > 0 && hosts[0] == '|';
}

/* A checked line into *e (which then owns its strings); false and *why. */
static bool parse_line(const struct fields *f, struct entry *e, const char **why)
{
	const char *inner;
	size_t inner_len;

	memset(e, 0, sizeof(*e));
	e->marker = f->marker;
	if (is_hashed(f->hosts, f->hosts_len)) {
		if (f->hosts_len < strlen(HASH_MAGIC) ||
		    memcmp(f->hosts, HASH_MAGIC, strlen(HASH_MAGIC)) != 0 ||
		    !parse_hashed(f->hosts, f->hosts_len, e->salt, e->hash)) {
			*why = "a hashed name that is not |1|SALT|HASH (base64 of 20 bytes each)";
			return false;
		}
		e->hashed = true;
	}
	e->blob = decode_base64(f->key, f->key_len, &e->blob_len);
	if (e->blob == NULL) {
		*why = "the key is not base64";
		return false;
	}
	if (!blob_type(e->blob, e->blob_len, &inner, &inner_len) || inner_len != f->type_len ||
	    memcmp(inner, f->type, inner_len) != 0) {
		free(e->blob);
		e->blob = NULL;
		*why = "the key is truncated, or not of the type the line names";
		return false;
	}
	e->type = bs_xstrndup(f->type, f->type_len);
	if (!e->hashed)
		e->hosts = bs_xstrndup(f->hosts, f->hosts_len);
	return true;
}

static void entry_free(struct entry *e)
{
	free(e->hosts);
	free(e->type);
	free(e->blob);
}

/*
 * The hostnames of a line that cannot be parsed (the field after a
 * marker, if any) into *e, which then owns them; false when the line has
 * no usable hostnames field (none, or a hashed name that is not one).
 */
static bool bad_line_hosts(const char *line, size_t len, struct entry *e)
{
	const char *p = line, *end = line + len, *nul = memchr(line, '\0', len), *hosts;
	size_t hosts_len;

	memset(e, 0, sizeof(*e));
	if (nul != NULL)
		end = nul;
	if (!next_field(&p, end, &hosts, &hosts_len))
		return false;
	if (*hosts == '@' && !next_field(&p, end, &hosts, &hosts_len))
		return false;
	if (is_hashed(hosts, hosts_len)) {
		if (hosts_len < strlen(HASH_MAGIC) ||
		    memcmp(hosts, HASH_MAGIC, strlen(HASH_MAGIC)) != 0 ||
		    !parse_hashed(hosts, hosts_len, e->salt, e->hash))
			return false;
		e->hashed = true;
	} else
		e->hosts = bs_xstrndup(hosts, hosts_len);
	return true;
}

struct bs_known_hosts *bs_known_hosts_new(void)
{
	return bs_xcalloc(1, sizeof(struct bs_known_hosts));
}

void bs_known_hosts_free(struct bs_known_hosts *kh)
{
	if (kh == NULL)
		return;
	for (size_t i = 0; i < kh->n; i++)
		entry_free(&kh->v[i]);
	free(kh->v);
	for (size_t i = 0; i < kh->n_bad; i++)
		entry_free(&kh->bad[i]);
	free(kh->bad);
	bs_strv_free(&kh->origins);
	free(kh);
}

size_t bs_known_hosts_count(const struct bs_known_hosts *kh)
{
	return kh->n;
}

/* Warnings are given the first time a file is read with bad lines: one
 * connection per node, and retries, read the same files again. */
static pthread_mutex_t warned_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct bs_strv warned = BS_STRV_INIT;

static bool first_warning(const char *origin)
{
	bool first;

	pthread_mutex_lock(&warned_mutex);
	first = !bs_strv_contains(&warned, origin);
	if (first)
		bs_strv_push(&warned, origin);
	pthread_mutex_unlock(&warned_mutex);
	return first;
}

size_t bs_known_hosts_parse(struct bs_known_hosts *kh, const char *origin, const char *data,
			    size_t len)
{
	const char *p = data, *end = data + len, *path;
	size_t skipped = 0;
	bool warn = false;
	long line = 0;

	bs_strv_add_unique(&kh->origins, origin);
	path = NULL;
	for (size_t i = 0; i < kh->origins.n && path == NULL; i++)
		if (strcmp(kh->origins.v[i], origin) == 0)
			path = kh->origins.v[i];
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		const char *why = NULL, *line_start = p;
		struct fields f;
		struct entry e;
		int rc;

		line++;
		rc = split_fields(p, n, &f, &why);
		p += n + (nl != NULL);
		if (rc == 1)
			continue;
		if (rc == 0 && parse_line(&f, &e, &why)) {
			e.path = path;
			e.line = line;
			bs_xgrow((void **)&kh->v, &kh->cap, kh->n + 1, sizeof(*kh->v));
			kh->v[kh->n++] = e;
			continue;
		}
		if (rc == 0)
			entry_free(&e);
		if (bad_line_hosts(line_start, n, &e)) {
			e.path = path;
			e.line = line;
			bs_xgrow((void **)&kh->bad, &kh->cap_bad, kh->n_bad + 1, sizeof(*kh->bad));
			kh->bad[kh->n_bad++] = e;
		}
		skipped++;
		if (skipped == 1)
			warn = first_warning(origin);
		if (warn && skipped <= WARN_MAX)
			bs_log(BS_LOG_WARN, "%s:%ld: not a known_hosts line (%s); skipped", origin,
			       line, why);
	}
	if (warn && skipped > WARN_MAX)
		bs_log(BS_LOG_WARN, "%s: %zu more lines skipped", origin, skipped - WARN_MAX);
	return skipped;
}

int bs_known_hosts_read(struct bs_known_hosts *kh, const char *path, struct bs_err *err)
{
	struct bs_buf text = BS_BUF_INIT;
	char chunk[65536];
	struct stat st;
	ssize_t n;
	int fd, rc = 0;

	/* O_NONBLOCK: a FIFO named as the file must not block the open; it
	 * is refused below, and reads of a regular file never block anyway */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && (errno == ENOENT || errno == ENOTDIR))
		return 0;
	if (fd < 0)
		return bs_err_set(err, BS_ERR_IO,
				  "cannot read %s: %s (the host keys pinned there must be checked)",
				  path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		rc = bs_err_set(err, BS_ERR_IO, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = bs_err_set(
			err, BS_ERR_IO,
			"cannot read %s: it is %s, not a regular file (known_hosts must be a file of host key lines)",
			path, S_ISDIR(st.st_mode) ? "a directory" : "a FIFO, socket or device");
		goto out;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
		rc = bs_err_set(err, BS_ERR_IO, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = bs_err_set(err, BS_ERR_IO, "cannot read %s: %s", path,
					strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (text.len + (size_t)n > BS_KNOWN_HOSTS_MAX) {
			rc = bs_err_set(
				err, BS_ERR_INVALID,
				"%s is larger than %u MiB: not read as a known_hosts file (remove the lines of hosts you no longer use)",
				path, BS_KNOWN_HOSTS_MAX >> 20);
			goto out;
		}
		bs_buf_append(&text, chunk, (size_t)n);
	}
	bs_known_hosts_parse(kh, path, text.data != NULL ? text.data : "", text.len);
out:
	close(fd);
	bs_buf_free(&text);
	return rc;
}

char *bs_known_hosts_name(const char *host, int port)
{
	char *name =
		port == 22 || port == 0 ? bs_xstrdup(host) : bs_xasprintf("[%s]:%d", host, port);

	for (char *c = name; *c != '\0'; c++)
		*c = (char)tolower((unsigned char)*c);
	return name;
}

static bool same_char(char a, char b)
{
	return tolower((unsigned char)a) == tolower((unsigned char)b);
}

/* Glob with `*` and `?`, without regard to case; backtracks to the last
 * `*` only, so time is at most pattern length times name length. */
static bool glob_match(const char *pat, size_t plen, const char *s)
{
	size_t pi = 0, si = 0, star = SIZE_MAX, star_s = 0, slen = strlen(s);

	while (si < slen) {
		if (pi < plen && pat[pi] == '*') {
			star = pi++;
			star_s = si;
		} else if (pi < plen && (pat[pi] == '?' || same_char(pat[pi], s[si]))) {
			pi++;
			si++;
		} else if (star != SIZE_MAX) {
			pi = star + 1;
			si = ++star_s;
		} else
			return false;
	}
	while (pi < plen && pat[pi] == '*')
		pi++;
	return pi == plen;
}

static bool hashed_match(const unsigned char salt[SHA1_LEN], const unsigned char hash[SHA1_LEN],
			 const char *name)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	if (HMAC(EVP_sha1(), salt, SHA1_LEN, (const unsigned char *)name, strlen(name), md,
		 &md_len) == NULL)
		return false;
	return md_len == SHA1_LEN && memcmp(md, hash, SHA1_LEN) == 0;
}

/* The patterns of hosts[0..len) against name: a negated match wins. */
static bool patterns_match(const char *hosts, size_t len, const char *name)
{
	const char *p = hosts, *end = hosts + len;
	bool positive = false;

	while (p <= end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		size_t n = comma != NULL ? (size_t)(comma - p) : (size_t)(end - p);

		if (n > 0 && *p == '!') {
			if (glob_match(p + 1, n - 1, name))
				return false;
		} else if (n > 0 && glob_match(p, n, name))
			positive = true;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return positive;
}

static bool entry_matches(const struct entry *e, const char *name)
{
	if (e->hashed)
		return hashed_match(e->salt, e->hash, name);
	return patterns_match(e->hosts, strlen(e->hosts), name);
}

static bool same_key(const struct entry *e, const void *key, size_t key_len)
{
	return e->blob_len == key_len && memcmp(e->blob, key, key_len) == 0;
}

static void set_hit(struct bs_known_hosts_hit *hit, enum bs_known_hosts_status status,
		    const struct entry *e)
{
	hit->status = status;
	hit->path = e != NULL ? e->path : NULL;
	hit->line = e != NULL ? e->line : 0;
	hit->type = e != NULL ? e->type : NULL;
}

void bs_known_hosts_check(const struct bs_known_hosts *kh, const char *host, int port,
			  const void *key, size_t key_len, struct bs_known_hosts_hit *out)
{
	const struct entry *revoked = NULL, *match = NULL, *changed = NULL, *other_type = NULL;
	const struct entry *ca = NULL, *bad = NULL;
	char *name = bs_known_hosts_name(host, port);
	const char *type = "";
	size_t type_len = 0;

	if (!blob_type(key, key_len, &type, &type_len))
		type_len = 0;
	for (size_t i = 0; i < kh->n && revoked == NULL; i++) {
		const struct entry *e = &kh->v[i];

		if (!entry_matches(e, name))
			continue;
		switch (e->marker) {
		case MARKER_REVOKED:
			if (same_key(e, key, key_len))
				revoked = e;
			break;
		case MARKER_CERT_AUTHORITY:
			if (ca == NULL)
				ca = e;
			break;
		case MARKER_NONE:
			if (same_key(e, key, key_len)) {
				if (match == NULL)
					match = e;
			} else if (strlen(e->type) == type_len &&
				   memcmp(e->type, type, type_len) == 0) {
				if (changed == NULL)
					changed = e;
			} else if (other_type == NULL)
				/* as OpenSSH's check_hostkeys_by_key_or_type: a pin of
				 * any other type (one bootstrap may not even handle)
				 * still says the host is known, and this is not its key */
				other_type = e;
			break;
		}
	}
	if (changed == NULL)
		changed = other_type;
	for (size_t i = 0; i < kh->n_bad && bad == NULL; i++)
		if (entry_matches(&kh->bad[i], name))
			bad = &kh->bad[i];
	free(name);
	if (revoked != NULL)
		set_hit(out, BS_KNOWN_HOSTS_REVOKED, revoked);
	else if (match != NULL)
		set_hit(out, BS_KNOWN_HOSTS_MATCH, match);
	else if (changed != NULL)
		set_hit(out, BS_KNOWN_HOSTS_CHANGED, changed);
	else if (ca != NULL)
		set_hit(out, BS_KNOWN_HOSTS_CERT_AUTHORITY, ca);
	else if (bad != NULL)
		set_hit(out, BS_KNOWN_HOSTS_BAD_LINE, bad);
	else
		set_hit(out, BS_KNOWN_HOSTS_UNKNOWN, NULL);
}

bool bs_known_hosts_pinned(const struct bs_known_hosts *kh, const char *host, int port,
			   const char *type, struct bs_known_hosts_hit *where)
{
	char *name = bs_known_hosts_name(host, port);
	const struct entry *found = NULL;

	for (size_t i = 0; i < kh->n && found == NULL; i++) {
		const struct entry *e = &kh->v[i];

		if (e->marker == MARKER_NONE && strcmp(e->type, type) == 0 &&
		    entry_matches(e, name))
			found = e;
	}
	free(name);
	if (found != NULL && where != NULL)
		set_hit(where, BS_KNOWN_HOSTS_MATCH, found);
	return found != NULL;
}

/* One of the names of hosts[0..len) is name itself: no pattern, no
 * negation. */
static bool names_literally(const char *hosts, size_t len, const char *name)
{
	const char *p = hosts, *end = hosts + len;
	size_t name_len = strlen(name);

	while (p <= end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		size_t n = comma != NULL ? (size_t)(comma - p) : (size_t)(end - p);

		if (n == name_len && memchr(p, '*', n) == NULL && memchr(p, '?', n) == NULL &&
		    *p != '!' && strncasecmp(p, name, n) == 0)
			return true;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return false;
}

bool bs_known_hosts_line_is_for(const char *line, size_t len, const char *host, int port,
				const char *tag)
{
	const char *why = NULL;
	struct fields f;
	bool is_for = false;

	if (split_fields(line, len, &f, &why) != 0 || f.marker != MARKER_NONE)
		return false;
	if (tag != NULL && field_is(f.comment, f.comment_len, tag))
		return true;
	if (host != NULL) {
		char *name = bs_known_hosts_name(host, port);
		unsigned char salt[SHA1_LEN], hash[SHA1_LEN];

		if (!is_hashed(f.hosts, f.hosts_len))
			is_for = names_literally(f.hosts, f.hosts_len, name);
		else if (f.hosts_len > strlen(HASH_MAGIC) &&
			 memcmp(f.hosts, HASH_MAGIC, strlen(HASH_MAGIC)) == 0 &&
			 parse_hashed(f.hosts, f.hosts_len, salt, hash))
			is_for = hashed_match(salt, hash, name);
		free(name);
	}
	return is_for;
}

/* mkdir -p for the directory of path, 0700 (it holds pinned keys). */
static void make_parent_dirs(const char *path)
{
	char *copy = bs_xstrdup(path);
	char *p;

	for (p = copy + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(copy, 0700);
		*p = '/';
	}
	free(copy);
}

int bs_known_hosts_lock(const char *path)
{
	char *lock_path = bs_xasprintf("%s.lock", path);
	int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	free(lock_path);
	if (fd >= 0 && flock(fd, LOCK_EX) != 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* data[0..len) to fd, whole; -1 (errno) when it cannot. */
static int write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* "NAME TYPE KEY COMMENT\n" to path, after a newline when its last byte
 * is not one (else the pin would be glued to that line, and both lost).
 * The caller holds the lock. */
static int append_line(const char *path, const char *line, struct bs_err *err)
{
	struct stat st;
	char last = '\n';
	int fd, rc = 0;

	fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return bs_err_set(err, BS_ERR_IO, "cannot write %s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || (st.st_size > 0 && pread(fd, &last, 1, st.st_size - 1) != 1)) {
		rc = bs_err_set(err, BS_ERR_IO, "cannot read the end of %s: %s", path,
				strerror(errno));
		goto out;
	}
	fchmod(fd, 0600);
	if ((last != '\n' && write_all(fd, "\n", 1) != 0) || write_all(fd, line, strlen(line)) != 0)
		rc = bs_err_set(err, BS_ERR_IO, "cannot write %s: %s", path, strerror(errno));
out:
	if (close(fd) != 0 && rc == 0)
		rc = bs_err_set(err, BS_ERR_IO, "cannot write %s: %s", path, strerror(errno));
	return rc;
}

int bs_known_hosts_pin(struct bs_known_hosts **out, struct bs_known_hosts_hit *hit,
		       const char *path, const char *extra, const char *host, int port,
		       const void *key, size_t key_len, const char *comment, struct bs_err *err)
{
	struct bs_known_hosts *kh = bs_known_hosts_new();
	const char *type = NULL;
	char *line = NULL;
	size_t type_len = 0;
	int lock, rc = 0;

	*out = NULL;
	memset(hit, 0, sizeof(*hit));
	if (!blob_type(key, key_len, &type, &type_len)) {
		bs_known_hosts_free(kh);
		return bs_err_set(err, BS_ERR_INVALID, "the host key is not an SSH public key");
	}
	make_parent_dirs(path);
	lock = bs_known_hosts_lock(path);
	if (lock < 0) {
		bs_known_hosts_free(kh);
		return bs_err_set(err, BS_ERR_IO, "cannot lock %s.lock: %s", path, strerror(errno));
	}
	rc = bs_known_hosts_read(kh, path, err);
	if (rc == 0 && extra != NULL)
		rc = bs_known_hosts_read(kh, extra, err);
	if (rc != 0)
		goto out;
	bs_known_hosts_check(kh, host, port, key, key_len, hit);
	if (hit->status == BS_KNOWN_HOSTS_UNKNOWN) {
		char *name = bs_known_hosts_name(host, port);
		char *b64 = bs_base64_encode(key, key_len, false);

		line = bs_xasprintf("%s %.*s %s %s\n", name, (int)type_len, type, b64, comment);
		free(name);
		free(b64);
		rc = append_line(path, line, err);
	}
out:
	close(lock);
	free(line);
	if (rc != 0) {
		/* hit may point into kh: it goes with it */
		memset(hit, 0, sizeof(*hit));
		bs_known_hosts_free(kh);
		kh = NULL;
	}
	*out = kh;
	return rc;
}
