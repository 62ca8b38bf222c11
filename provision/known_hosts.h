/*
 * known_hosts.h - OpenSSH known_hosts files, read by bootstrap itself.
 *
 * libssh2 1.10's reader stops at the first line it cannot parse (a typo
 * or a long line hides every later pin, and an unknown host is then
 * trusted on first use), ignores @revoked, and applies a bare host name to
 * every port. This reader follows sshd(8), "SSH_KNOWN_HOSTS FILE FORMAT":
 *
 *   [@revoked|@cert-authority] HOSTNAMES KEYTYPE BASE64-KEY [COMMENT]
 *
 * HOSTNAMES is a comma-separated list of patterns (`*`, `?`; a `!`
 * pattern that matches makes the whole line not match) compared, without
 * regard to case, with "host" for port 22 and "[host]:port" for any
 * other port; or one hashed name `|1|SALT|HASH`, HASH being the
 * HMAC-SHA1 of that same name keyed with SALT (both base64). A line that
 * cannot be parsed is skipped with a warning naming its file and line
 * (bs_log, once per file per process) and never hides the lines after it;
 * a NUL byte ends its line (as OpenSSH's fgets reads it).
 *
 * A struct bs_known_hosts holds the lines of any number of files, each
 * with its file and line number, so that a refusal can name the line that
 * decided it. It is built and used by one thread (one per SSH connection);
 * the warnings' once-per-file memory is process-wide and locked.
 */
#ifndef BS_PROVISION_KNOWN_HOSTS_H
#define BS_PROVISION_KNOWN_HOSTS_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

/* Files larger than this are refused (BS_ERR_INVALID) rather than read. */
#define BS_KNOWN_HOSTS_MAX (64u * 1024 * 1024)

enum bs_known_hosts_status {
	BS_KNOWN_HOSTS_UNKNOWN,	       /* no line speaks for the host */
	BS_KNOWN_HOSTS_MATCH,	       /* a plain line pins this very key */
	BS_KNOWN_HOSTS_CHANGED,	       /* plain lines pin other keys, of any type */
	BS_KNOWN_HOSTS_REVOKED,	       /* a @revoked line for the host holds this key */
	BS_KNOWN_HOSTS_CERT_AUTHORITY, /* only a @cert-authority line names the host */
	BS_KNOWN_HOSTS_BAD_LINE,       /* only a line that cannot be parsed names it */
};

/* The outcome of a lookup, and the line that decided it. */
struct bs_known_hosts_hit {
	enum bs_known_hosts_status status;
	const char *path; /* that line's file, owned by the set; NULL when UNKNOWN */
	long line;	  /* 1-based; 0 when UNKNOWN */
	const char *type; /* that line's key type, owned by the set; NULL when
			   * UNKNOWN or BAD_LINE */
};

struct bs_known_hosts;

/* An empty set. Free with bs_known_hosts_free (which accepts NULL). */
struct bs_known_hosts *bs_known_hosts_new(void);
void bs_known_hosts_free(struct bs_known_hosts *kh);

/*
 * Add the lines of the file at path. A missing file adds nothing and is
 * not an error; one that cannot be read is BS_ERR_IO, one larger than
 * BS_KNOWN_HOSTS_MAX BS_ERR_INVALID, both naming the file.
 */
int bs_known_hosts_read(struct bs_known_hosts *kh, const char *path, struct bs_err *err);

/*
 * Add the lines of data[0..len) (need not be NUL-terminated), named origin
 * in warnings and hits. Returns how many lines were skipped as unparseable.
 */
size_t bs_known_hosts_parse(struct bs_known_hosts *kh, const char *origin, const char *data,
			    size_t len);

/* How many lines were kept (comments, blank and skipped lines are not). */
size_t bs_known_hosts_count(const struct bs_known_hosts *kh);

/*
 * What the set says of key (an SSH public key blob, as the server sent it)
 * for host:port (port 0 is 22). Precedence, whatever the order of lines:
 * REVOKED, MATCH, CHANGED, CERT_AUTHORITY, BAD_LINE, UNKNOWN. CHANGED
 * names a pin of the key's own type when there is one, else a pin of
 * another type (OpenSSH's HOST_CHANGED: a host pinned only with, say, an
 * ssh-dss key is not new). BAD_LINE: the hostnames of a line that was
 * skipped as unparseable (the field after any marker) match the host,
 * literally, as a pattern or hashed; that line may be a pin OpenSSH reads,
 * so the host must not be trusted on first use.
 */
void bs_known_hosts_check(const struct bs_known_hosts *kh, const char *host, int port,
			  const void *key, size_t key_len, struct bs_known_hosts_hit *out);

/*
 * Does a plain line pin a key of type ("ssh-ed25519", ...) for host:port?
 * When it does and where is not NULL, *where names the first such line
 * (status MATCH).
 */
bool bs_known_hosts_pinned(const struct bs_known_hosts *kh, const char *host, int port,
			   const char *type, struct bs_known_hosts_hit *where);

/*
 * For forgetting a machine's pins: is line[0..len) a plain line whose
 * hostnames name host:port literally (one of its names without wildcards
 * or negation, or its hashed name), when host is not NULL, or whose
 * comment is tag, when tag is not NULL? The key is not decoded; marker
 * lines, comments and lines without the four fields are never for it.
 */
bool bs_known_hosts_line_is_for(const char *line, size_t len, const char *host, int port,
				const char *tag);

/*
 * Writers of a known_hosts file (first-use pins append, forgetting
 * rewrites) take an exclusive flock on PATH.lock beside it, so that no
 * append is lost to a rewrite and two first uses do not both pin. A
 * rewrite is a new file renamed over the old one, so a reader (which
 * takes no lock) sees the old pins or the new, never a partial file.
 * Returns the lock's descriptor (close it to unlock), or -1 (errno).
 */
int bs_known_hosts_lock(const char *path);

/*
 * Pin key (a blob, as the server sent it) for host:port on first use in
 * path, with comment. Under the lock, path's parent directories made
 * (0700), path and extra (when not NULL) are read again and the host
 * checked again: another run may have pinned it since the caller looked.
 * *hit is what they say now, and only when it is UNKNOWN is "NAME TYPE
 * KEY COMMENT" appended to path (a newline first when the file does not
 * end with one); MATCH appends nothing, any other status is the caller's
 * to refuse. *out is the set read, which *hit points into: the caller's,
 * NULL on error (BS_ERR_IO, naming the file).
 */
int bs_known_hosts_pin(struct bs_known_hosts **out, struct bs_known_hosts_hit *hit,
		       const char *path, const char *extra, const char *host, int port,
		       const void *key, size_t key_len, const char *comment, struct bs_err *err);

/* "host" for port 22 (or 0), else "[host]:port": the name a line is
 * written with. Caller frees. */
char *bs_known_hosts_name(const char *host, int port);

#endif
