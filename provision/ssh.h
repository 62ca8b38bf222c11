/*
 * ssh.h - SSH sessions to nodes over libssh2: connect with a timeout,
 * verify the host key (trust on first use, then pinned), authenticate,
 * run commands with their exit status and both output streams.
 *
 * A struct bs_ssh owns its socket and libssh2 session. libssh2 sessions
 * are not thread-safe: every call here holds the session's lock
 * (ssh_priv.h) from start to end, so the tunnel's owner thread and one
 * caller may share a session. libssh2_init() must have
 * run in main() before any thread. Nothing here prints: problems come back
 * as bs_error codes with a sentence in the caller's struct bs_err that
 * names the host and the fix.
 *
 * libssh2 1.10 (Debian 12) limits that shape this file, from
 * shared/reference/ssh-and-docker-install.md:
 *  - no rsa-sha2 signatures: RSA user keys fail against OpenSSH >= 8.8, so
 *    they are refused up front with the fix, and agent RSA keys skipped;
 *  - libssh2 prefers ecdsa host keys while OpenSSH clients record ed25519:
 *    the host key method is pinned to the types known_hosts holds;
 *  - its known_hosts reader stops at the first line it cannot parse and
 *    knows no @revoked: known_hosts.c reads the files instead;
 *  - no read timeout: commands run in non-blocking mode with our own
 *    deadline, reading stdout and stderr together (one filling the shared
 *    window while we wait on the other would deadlock).
 */
#ifndef BS_PROVISION_SSH_H
#define BS_PROVISION_SSH_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"
#include "util/str.h"

enum bs_hostkey_policy {
	BS_HOSTKEY_ACCEPT_NEW, /* unknown host: record its key (trust on first use) */
	BS_HOSTKEY_STRICT,     /* unknown host: refuse */
};

/* Another way to reach host:port than a TCP connection of our own: a jump
 * host's direct-tcpip channel (jump.h). */
struct bs_ssh_dialer {
	/* a connected stream socket to host:port in *fd, or an error */
	int (*dial)(void *payload, const char *host, int port, long timeout_ms,
		    volatile sig_atomic_t *cancel, int *fd, struct bs_err *err);
	/* once, when the session that dialed is closed */
	void (*release)(void *payload);
	void *payload;
};

struct bs_ssh_opts {
	const char *host;
	int port;		       /* 0: 22 */
	const char *user;	       /* NULL: root */
	const char *key_path;	       /* private key file, or NULL */
	const char *passphrase;	       /* for key_path, or NULL */
	bool agent;		       /* try ssh-agent identities */
	const char *password;	       /* password / keyboard-interactive */
	const char *known_hosts;       /* pinned keys; new ones are appended here */
	const char *extra_known_hosts; /* read too, never written (~/.ssh/known_hosts) */
	enum bs_hostkey_policy policy;
	long connect_timeout_ms; /* 0: 10 s */
	/* the fingerprint ("SHA256:...") of the key the machine was created
	 * with, when known: a refusal then says whether it was offered */
	const char *expected_key;
	/* the comment a first-seen host key is recorded with; NULL: "bootstrap" */
	const char *known_hosts_comment;
	/* connect, handshake and waits end within 200 ms once it is set */
	volatile sig_atomic_t *cancel;
	const struct bs_ssh_dialer *dialer; /* NULL: TCP to host:port */
};

struct bs_ssh;

struct bs_ssh_result {
	int exit_status;   /* valid when signal is NULL */
	char *signal;	   /* "KILL", ... when the command died by a signal */
	struct bs_buf out; /* stdout, at most BS_SSH_OUTPUT_MAX bytes kept */
	struct bs_buf err; /* stderr, same */
	size_t out_total;  /* bytes received, kept or not */
	size_t err_total;
};

#define BS_SSH_OUTPUT_MAX (4u * 1024 * 1024)

/* Connect once. Returns 0 and *out, or an error: BS_ERR_NETWORK (refused,
 * unreachable), BS_ERR_TIMEOUT, BS_ERR_HOSTKEY, BS_ERR_AUTH, BS_ERR_INVALID
 * (a key file that cannot be used), BS_ERR_UNSUPPORTED (RSA on 1.10). */
int bs_ssh_connect(struct bs_ssh **out, const struct bs_ssh_opts *opts, struct bs_err *err);

/*
 * Wait for a machine's SSH: retry refused connections and timeouts with a
 * growing pause until wait_ms has passed; refused keys too with retry_auth
 * (a machine just created: cloud-init may not have installed the key yet).
 * Host key problems and unusable key files fail at once: waiting cannot
 * fix them. *attempts counts tries.
 */
int bs_ssh_wait(struct bs_ssh **out, const struct bs_ssh_opts *opts, long wait_ms, bool retry_auth,
		int *attempts, struct bs_err *err);

/*
 * Forget the host keys pinned in known_hosts for a machine that is gone:
 * every line recorded with the comment tag (when not NULL), and every
 * line for host:port (the "[host]:port" form, or "host" for port 22; when
 * host is not NULL). A new file is renamed over the old one (readers see
 * the old pins or the new), under the lock PATH.lock that first-use
 * pinning takes too. *removed counts the lines dropped. A missing file is
 * nothing to forget.
 */
int bs_ssh_known_hosts_forget(const char *path, const char *host, int port, const char *tag,
			      int *removed, struct bs_err *err);

/* The same for a private key file's public half: from KEY.pub, else from
 * the OpenSSH private key format's header (in clear even when the key is
 * encrypted). NULL when neither says. Caller frees. */
char *bs_ssh_key_file_fingerprint(const char *path);

/* "SHA256:<base64>" (as ssh-keygen -l prints it) of an OpenSSH one-line
 * public key "TYPE BASE64 [COMMENT]"; NULL when malformed. Caller frees. */
char *bs_ssh_key_fingerprint(const char *public_key);

/* Run command (a shell command line: quote every value with
 * bs_shell_quote). Returns 0 when it ran, whatever its exit status; an
 * error for transport failures and BS_ERR_TIMEOUT after timeout_ms. */
int bs_ssh_exec(struct bs_ssh *s, const char *command, long timeout_ms,
		struct bs_ssh_result *result, struct bs_err *err);

void bs_ssh_result_free(struct bs_ssh_result *result);

/* What the connection cost so far: round trips (TCP's handshake, then each
 * time an answer came after we sent; answers in flight together count
 * once) and bytes each way. For -v and the benchmarks. */
struct bs_ssh_stats {
	unsigned long round_trips;
	unsigned long long bytes_out;
	unsigned long long bytes_in;
};
void bs_ssh_get_stats(struct bs_ssh *s, struct bs_ssh_stats *out);

/* End the connection now: a disconnect is sent, not waited on, and the
 * socket shut, so the channels still open (the tunnel's) are freed without
 * a round trip each; the node side sees every channel end, as after a
 * crash, and data it had not handed on may be dropped (release the node
 * lock first). Only bs_ssh_close and frees may follow. */
void bs_ssh_hangup(struct bs_ssh *s);
void bs_ssh_close(struct bs_ssh *s);

/* The flag that stops commands and waits on this session from now on. */
void bs_ssh_set_cancel(struct bs_ssh *s, volatile sig_atomic_t *cancel);

/* "user@host:port" for messages. */
const char *bs_ssh_display(const struct bs_ssh *s);

/* The host key's SHA256 fingerprint as OpenSSH prints it ("SHA256:..."). */
const char *bs_ssh_fingerprint(const struct bs_ssh *s);

/* Quote s for a POSIX shell: 'it'\''s'. Caller frees. */
char *bs_shell_quote(const char *s);

#endif
