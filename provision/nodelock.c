/*
 * nodelock.c - the node lock and audit log over one exec channel. See
 * nodelock.h for the design and the rules about the shared session.
 *
 * Every call runs the session non-blocking under its own deadline
 * (libssh2 1.10 has no read timeout), and keeps libssh2's rule that a call
 * which returned EAGAIN is repeated with the same arguments before anything
 * else is sent: a send still pending at a deadline is never followed by
 * another one, the channel is left to the session instead.
 *
 * What the node prints is untrusted: it reaches messages as printable
 * ASCII only, bounded.
 */
#include "provision/nodelock.h"

#include <libssh2.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "provision/dockerhost.h"
#include "provision/ssh_priv.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/str.h"

#define START_MARGIN_MS 15000 /* channel, sudo and mkdir, on top of the wait */
#define WAIT_MAX_MS (24L * 3600 * 1000)
#define TAIL_MS 3000 /* the rest of a refusal once its first line is in */
#define AUDIT_TIMEOUT_MS 5000
#define RELEASE_TIMEOUT_MS 5000
#define AUDIT_LINE_MAX 2000 /* bytes of the caller's text per line */
#define OWNER_MAX 600
#define ANSWER_MAX 4096
#define THEN_MAX (4 * 1024 * 1024) /* what opts->then prints */
#define THEN_END "BS-THEN-END"
#define THEN_MARGIN_MS 120000 /* for opts->then, as for a command of its own */
#define STDERR_KEEP 2048
#define SHOWN_MAX 300 /* bytes of node output quoted in a message */

/* Exit codes of the lock script; 97 is bs_dockerhost_wrap's refused sudo. */
#define EXIT_NO_DIR 3
#define EXIT_HELD 4
#define EXIT_NO_FLOCK 5
#define EXIT_FLOCK_FAILED 6
#define EXIT_SUDO_FAILED 97

struct bs_nodelock {
	struct bs_ssh *ssh;
	LIBSSH2_CHANNEL *ch;	/* NULL once ended, or left to the session */
	char *node;		/* for messages */
	char *who;		/* "pid 123 on HOST by USER": the audit lines' author */
	struct bs_buf err_text; /* the node side's stderr, first bytes */
	struct bs_buf then;	/* what opts->then printed */
	size_t answer_max;	/* stdout kept while acquiring */
	bool want_then;		/* the answer is complete at THEN_END */
	bool audited;		/* an audit line was sent */
	/* opts->cancel: ends the wait for the lock */
	volatile sig_atomic_t *interrupt;
};

/* One bounded step: its deadline, and what it is for messages. */
struct op {
	long long deadline;
	long budget_ms;
	const char *doing;
	bool cancellable; /* stopping half-way leaves nothing pending */
};

static struct op op_start(const char *doing, long budget_ms, bool cancellable)
{
	struct op o = {bs_now_ms() + budget_ms, budget_ms, doing, cancellable};

	return o;
}

static bool op_over(const struct op *o)
{
	return bs_now_ms() > o->deadline;
}

/* ---- text ---- */

/*
 * Append at most max bytes of s to b, one line: tabs and line breaks
 * become spaces, other control characters '?'; ascii_only also turns
 * bytes above 0x7e into '?' (text from the node, which may carry
 * terminal escapes in any encoding).
 */
static void put_clean(struct bs_buf *b, const char *s, size_t max, bool ascii_only)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i < max; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\t' || c == '\n' || c == '\r')
			bs_buf_putc(b, ' ');
		else if (c < 0x20 || c == 0x7f || (ascii_only && c > 0x7e))
			bs_buf_putc(b, '?');
		else
			bs_buf_putc(b, (char)c);
	}
	if (s[i] != '\0')
		bs_buf_puts(b, "...");
}

/* Node output for a message: masked, cleaned, bounded (in that order: half
 * a secret is not recognised), without trailing blanks. */
static char *shown(const char *text)
{
	struct bs_buf b = BS_BUF_INIT, masked = BS_BUF_INIT;

	bs_secret_mask(&masked, text);
	put_clean(&b, masked.data, SHOWN_MAX, true);
	bs_buf_wipe_free(&masked);
	while (b.len > 0 && b.data[b.len - 1] == ' ')
		b.data[--b.len] = '\0';
	return bs_buf_detach(&b);
}

static void utc_now(char *buf, size_t size)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void user_name(char *buf, size_t size)
{
	struct passwd pw, *found = NULL;
	char scratch[4096];
	const char *env = getenv("USER");

	/* getpwuid_r: node workers may ask from several threads */
	if (getpwuid_r(geteuid(), &pw, scratch, sizeof(scratch), &found) == 0 && found != NULL &&
	    found->pw_name[0] != '\0')
		snprintf(buf, size, "%s", found->pw_name);
	else if (env != NULL && env[0] != '\0')
		snprintf(buf, size, "%s", env);
	else
		snprintf(buf, size, "uid %ld", (long)geteuid());
}

/* "pid 123 on HOST by USER" */
static char *who_am_i(void)
{
	struct bs_buf b = BS_BUF_INIT;
	char host[256] = "", user[128];

	if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "unknown-host");
	user_name(user, sizeof(user));
	bs_buf_printf(&b, "pid %ld on ", (long)getpid());
	put_clean(&b, host, 255, false);
	bs_buf_puts(&b, " by ");
	put_clean(&b, user, 127, false);
	return bs_buf_detach(&b);
}

char *bs_lock_owner_text(const char *what)
{
	struct bs_buf b = BS_BUF_INIT;
	char *who = who_am_i();
	char now[32];

	utc_now(now, sizeof(now));
	bs_buf_printf(&b, "%s since %s", who, now);
	if (what != NULL) {
		bs_buf_puts(&b, " (");
		put_clean(&b, what, 400, false);
		bs_buf_putc(&b, ')');
	}
	free(who);
	return bs_buf_detach(&b);
}

/* ---- the remote script ---- */

/*
 * The descriptor 9 that flock locks is inherited by cat, which replaces
 * the shell: the lock lives exactly as long as cat's stdin, the channel.
 * The owner line is written before LOCKED, so a run told "locked" by the
 * node finds the right holder there.
 *
 * While flock waits, a watcher reads stdin: nothing comes there before
 * LOCKED, so EOF means the run stopped waiting (cancelled, timed out,
 * killed) and the watcher ends the wait at once, rather than leaving a
 * waiter on the node that would take the lock for nobody. The watcher's
 * read is the shell's builtin, so killing it leaves no reader behind to
 * take the audit lines that follow LOCKED.
 */
static char *lock_command(const char *dir, const char *owner, long wait_ms, bool sudo,
			  const char *then)
{
	char *qdir = bs_shell_quote(dir);
	char *qowner = bs_shell_quote(owner);
	char how[48], *script, *cmd;

	if (wait_ms <= 0)
		snprintf(how, sizeof(how), "-n");
	else
		snprintf(how, sizeof(how), "-w %ld.%03ld", wait_ms / 1000, wait_ms % 1000);
	script = bs_xasprintf(
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH\n"
		"umask 077\n"
		"D=%s\n"
		"command -v flock >/dev/null 2>&1 || exit %d\n"
		"{ [ -d \"$D\" ] || mkdir -p -- \"$D\"; } && command exec 9>>\"$D/lock\" || exit %d\n"
		/* a background list's stdin is /dev/null before its own
		 * redirections: hand it ours as 8 */
		"exec 8<&0\n"
		"flock %s 9 &\n"
		"f=$!\n"
		"(read -r _ <&8; kill $f 2>/dev/null) &\n"
		"w=$!\n"
		"exec 8<&-\n"
		"wait $f\n"
		"rc=$?\n"
		"kill $w 2>/dev/null\n"
		"wait $w 2>/dev/null\n"
		"if [ $rc = 0 ]; then\n"
		"\tprintf '%%s\\n' %s >\"$D/lock.owner\"\n"
		/* a run killed in the middle of a line left no newline */
		"\tif [ -s \"$D/audit.log\" ] && [ -n \"$(tail -c 1 \"$D/audit.log\")\" ]; then\n"
		"\t\techo >>\"$D/audit.log\"\n"
		"\tfi\n"
		"\techo LOCKED\n"
		"%s%s%s"
		"\texec cat >>\"$D/audit.log\"\n"
		"fi\n"
		"[ $rc = 1 ] || { echo \"flock failed (exit $rc)\" >&2; exit %d; }\n"
		"echo HELD\n"
		"cat \"$D/lock.owner\" 2>/dev/null\n"
		"exit %d\n",
		qdir, EXIT_NO_FLOCK, EXIT_NO_DIR, how, qowner, then ? "(\n" : "", then ? then : "",
		/* the marker on a line of its own even when then's output
		 * has no final newline: keep_then drops the one added here */
		then ? "\n) </dev/null\nprintf '\\n%s\\n' " THEN_END "\n" : "", EXIT_FLOCK_FAILED,
		EXIT_HELD);
	cmd = bs_dockerhost_wrap(script, sudo);
	free(script);
	free(qdir);
	free(qowner);
	return cmd;
}

/* ---- the channel ---- */

/*
 * libssh2 keeps a packet that could only be sent in part until the call
 * that began it is repeated; any other send before that corrupts the
 * stream (1.10 sends the old packet in place of the new one). The
 * outbound block flag is set from that EAGAIN until the packet is out.
 */
static bool send_pending(struct bs_ssh *s)
{
	return (libssh2_session_block_directions(bs_ssh_session(s)) &
		LIBSSH2_SESSION_BLOCK_OUTBOUND) != 0;
}

static int pending_error(const char *node, const char *doing, struct bs_err *err)
{
	return bs_err_set(
		err, BS_ERR_CONFLICT,
		"node %s: %s: the SSH session is in the middle of sending something else (a docker request that did not finish?); the lock can only be used between container requests",
		node, doing);
}

/* Keepalives only when the socket takes them at once: one that would
 * block stays pending in libssh2 and would swallow the next send. */
static void keepalive(struct bs_nodelock *l, int *next)
{
	struct pollfd pfd = {bs_ssh_socket(l->ssh), POLLOUT, 0};

	if (send_pending(l->ssh) || poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLOUT))
		return;
	libssh2_keepalive_send(bs_ssh_session(l->ssh), next);
}

static int op_timeout(const struct bs_nodelock *l, const struct op *o, struct bs_err *err)
{
	return bs_err_set(err, BS_ERR_TIMEOUT,
			  "node %s: %s: no answer within %ld s (is the connection stalled?)",
			  l->node, o->doing, (o->budget_ms + 999) / 1000);
}

/* Time to stop? At the deadline, or on cancel, the session's or the
 * lock's own (when o allows): nonzero with err set. */
static int pause_due(struct bs_nodelock *l, const struct op *o, struct bs_err *err)
{
	volatile sig_atomic_t *cancel = bs_ssh_cancel(l->ssh);

	if (o->cancellable &&
	    ((cancel != NULL && *cancel) || (l->interrupt != NULL && *l->interrupt)))
		return bs_err_set(err, BS_ERR_INTERRUPTED, "node %s: %s: interrupted", l->node,
				  o->doing);
	if (op_over(o))
		return op_timeout(l, o, err);
	return 0;
}

/* Between two tries: unless it is time to stop, wait for the socket, at
 * most 100 ms. */
static int pause_op(struct bs_nodelock *l, const struct op *o, struct bs_err *err)
{
	int rc = pause_due(l, o, err);

	if (rc == 0)
		bs_ssh_wait_socket(l->ssh, 100);
	return rc;
}

/* Read what is there on both streams: stdout into out (up to ANSWER_MAX;
 * NULL drops it), stderr into l->err_text. 0, or a libssh2 error. */
static int read_both(struct bs_nodelock *l, struct bs_buf *out)
{
	char buf[4096];
	ssize_t n;

	while ((n = libssh2_channel_read(l->ch, buf, sizeof(buf))) > 0)
		if (out != NULL && out->len < l->answer_max)
			bs_buf_append(out, buf, (size_t)n);
	if (n < 0 && n != LIBSSH2_ERROR_EAGAIN)
		return (int)n;
	while ((n = libssh2_channel_read_stderr(l->ch, buf, sizeof(buf))) > 0)
		if (l->err_text.len < STDERR_KEEP)
			bs_buf_append(&l->err_text, buf, (size_t)n);
	if (n < 0 && n != LIBSSH2_ERROR_EAGAIN)
		return (int)n;
	return 0;
}

/* Open the channel and start command. Not cancellable: an open or exec
 * left half done would be taken over by the session's next one. */
static int channel_start(struct bs_nodelock *l, const char *command, const struct op *o,
			 struct bs_err *err)
{
	LIBSSH2_SESSION *session = bs_ssh_session(l->ssh);
	int rc;

	while ((l->ch = libssh2_channel_open_session(session)) == NULL &&
	       libssh2_session_last_errno(session) == LIBSSH2_ERROR_EAGAIN) {
		if (op_over(o))
			return op_timeout(l, o, err);
		bs_ssh_wait_socket(l->ssh, 100);
	}
	if (l->ch == NULL)
		return bs_err_set(err, BS_ERR_NETWORK, "node %s: %s: cannot open a channel: %s",
				  l->node, o->doing, bs_ssh_last_error(l->ssh));
	while ((rc = libssh2_channel_exec(l->ch, command)) == LIBSSH2_ERROR_EAGAIN) {
		if (op_over(o))
			return op_timeout(l, o, err);
		bs_ssh_wait_socket(l->ssh, 100);
	}
	if (rc != 0)
		return bs_err_set(err, BS_ERR_NETWORK, "node %s: %s: cannot start a command: %s",
				  l->node, o->doing, bs_ssh_last_error(l->ssh));
	return 0;
}

/* The start of the line of text that is exactly line, or NULL. */
static const char *find_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p;

	for (p = text; p != NULL;) {
		if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			return p;
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return NULL;
}

/* Whether stdout holds the script's answer yet (a login shell's startup
 * files may print lines of their own before it). */
static bool answered(const struct bs_buf *answer)
{
	const char *text = bs_buf_str(answer);

	return find_line(text, "LOCKED") != NULL || find_line(text, "HELD") != NULL ||
	       strstr(text, "bs-sudo-failed=") != NULL;
}

/* With opts->then: LOCKED is there, and then's end (or the cap). */
static bool then_done(const struct bs_nodelock *l, const struct bs_buf *answer)
{
	return answer->len >= l->answer_max || find_line(bs_buf_str(answer), THEN_END) != NULL;
}

/* Read until the script answered or the node side ended. */
/*
 * pause_op for a wait that only reads: the session is let go meanwhile, so
 * its other user (the tunnel's owner thread, opening the engine's channel)
 * gets a round trip done while the node side answers. In steps of 10 ms:
 * the owner may read what arrives for us, which our poll would not see.
 */
static int pause_reading(struct bs_nodelock *l, const struct op *o, struct bs_err *err)
{
	LIBSSH2_SESSION *session = bs_ssh_session(l->ssh);
	struct pollfd pfd = {bs_ssh_socket(l->ssh), POLLIN, 0};
	int rc;

	if (send_pending(l->ssh))
		return pause_op(l, o, err);
	rc = pause_due(l, o, err);
	if (rc != 0)
		return rc;
	libssh2_session_set_blocking(session, 1);
	bs_ssh_unlock(l->ssh);
	poll(&pfd, 1, 10);
	bs_ssh_lock(l->ssh);
	libssh2_session_set_blocking(session, 0);
	return 0;
}

static int read_answer(struct bs_nodelock *l, struct bs_buf *answer, const struct op *o,
		       struct bs_err *err)
{
	int next_keepalive = 0, rc;

	for (;;) {
		rc = read_both(l, answer);
		if (rc != 0)
			return bs_err_set(err, BS_ERR_NETWORK,
					  "node %s: %s: the SSH connection broke: %s", l->node,
					  o->doing, bs_ssh_last_error(l->ssh));
		if (libssh2_channel_eof(l->ch))
			return 0;
		if (answered(answer) &&
		    (!l->want_then || find_line(bs_buf_str(answer), "LOCKED") == NULL ||
		     then_done(l, answer)))
			return 0;
		rc = pause_reading(l, o, err);
		if (rc != 0)
			return rc;
		keepalive(l, &next_keepalive); /* a long --lock-wait sends nothing else */
	}
}

/*
 * End the channel within o's deadline: EOF to the node side (its cat
 * ends and the lock goes), the rest of its output (stdout into out, or
 * dropped) when wait_exit, close, free. Returns the exit status, -1 when
 * unknown. A send still pending at the deadline leaves the channel to the
 * session, which frees it.
 */
static int channel_end(struct bs_nodelock *l, const struct op *o, bool wait_exit,
		       struct bs_buf *out)
{
	int rc, status = -1;

	while ((rc = libssh2_channel_send_eof(l->ch)) == LIBSSH2_ERROR_EAGAIN && !op_over(o))
		bs_ssh_wait_socket(l->ssh, 100);
	if (rc == LIBSSH2_ERROR_EAGAIN)
		goto abandon;
	while (wait_exit && !libssh2_channel_eof(l->ch) && !op_over(o)) {
		if (read_both(l, out) != 0)
			break;
		if (libssh2_channel_eof(l->ch))
			break;
		bs_ssh_wait_socket(l->ssh, 100);
	}
	read_both(l, out);
	while ((rc = libssh2_channel_close(l->ch)) == LIBSSH2_ERROR_EAGAIN && !op_over(o))
		bs_ssh_wait_socket(l->ssh, 100);
	if (rc == LIBSSH2_ERROR_EAGAIN)
		goto abandon;
	/* (1.10 refuses to wait before the node side's EOF) */
	while ((rc = libssh2_channel_wait_closed(l->ch)) == LIBSSH2_ERROR_EAGAIN && !op_over(o))
		bs_ssh_wait_socket(l->ssh, 100);
	/* sshd sends exit-status before its close; without one 1.10 says 0 */
	if (rc == 0)
		status = libssh2_channel_get_exit_status(l->ch);
	/* the close is sent: free sends nothing more */
	while (libssh2_channel_free(l->ch) == LIBSSH2_ERROR_EAGAIN && !op_over(o))
		bs_ssh_wait_socket(l->ssh, 100);
abandon:
	l->ch = NULL;
	return status;
}

/* ---- acquire ---- */

/* The value of "KEY=value" on a line of text, or NULL. Caller frees. */
static char *line_value(const char *text, const char *key)
{
	const char *p = strstr(text, key);

	if (p == NULL)
		return NULL;
	p += strlen(key);
	return bs_xstrndup(p, strcspn(p, "\n"));
}

/* bs_dockerhost_wrap's report of a sudo that refused. */
static int sudo_refused(struct bs_nodelock *l, const char *answer, struct bs_err *err)
{
	char *user_raw = line_value(answer, "bs-sudo-failed=");
	char *b64 = line_value(answer, "bs-sudo-error=");
	size_t n = 0;
	unsigned char *why_raw = b64 ? bs_base64_decode(b64, &n) : NULL;
	char *why_text = why_raw ? bs_xstrndup((const char *)why_raw, n) : bs_xstrdup("");
	char *user = shown(user_raw ? user_raw : "the SSH user");
	char *why = shown(why_text);
	int rc;

	rc = bs_err_set(
		err, BS_ERR_AUTH,
		"node %s: %s is not root and `sudo -n` failed (%s); the node lock needs root: give %s passwordless sudo (a line `%s ALL=(ALL) NOPASSWD: ALL` in /etc/sudoers.d/%s on the node), or log in as root (ssh.user: root)",
		l->node, user, why[0] ? why : "no message", user, user, user);
	free(user_raw);
	free(b64);
	free(why_raw);
	free(why_text);
	free(user);
	free(why);
	return rc;
}

/* The node said HELD, then the holder's owner line. */
static int held(struct bs_nodelock *l, const char *answer, long wait_ms, struct bs_err *err)
{
	const char *rest = strchr(find_line(answer, "HELD"), '\n');
	char *holder = shown(rest != NULL ? rest + 1 : "");
	int rc;

	if (holder[0] == '\0') {
		free(holder);
		holder = bs_xstrdup("another run (its owner line is not written yet)");
	}
	if (wait_ms <= 0)
		rc = bs_err_set(err, BS_ERR_LOCKED,
				"node %s is locked by %s; wait for it or pass --lock-wait SECONDS",
				l->node, holder);
	else
		rc = bs_err_set(
			err, BS_ERR_LOCKED,
			"node %s is still locked after %ld s, by %s; wait for it or pass a longer --lock-wait SECONDS",
			l->node, (wait_ms + 999) / 1000, holder);
	free(holder);
	return rc;
}

/* Anything but LOCKED: read the rest, end the channel, say why. */
static int refused(struct bs_nodelock *l, struct bs_buf *answer, const char *dir, long wait_ms,
		   struct bs_err *err)
{
	struct op tail = op_start("reading the lock's answer", TAIL_MS, false);
	int status = channel_end(l, &tail, true, answer);
	const char *text = bs_buf_str(answer);
	char *why;
	int rc;

	if (find_line(text, "HELD") != NULL)
		return held(l, text, wait_ms, err);
	if (strstr(text, "bs-sudo-failed=") != NULL || status == EXIT_SUDO_FAILED)
		return sudo_refused(l, text, err);
	if (status == EXIT_NO_FLOCK)
		return bs_err_set(
			err, BS_ERR_UNSUPPORTED,
			"node %s: flock(1) is missing on the node, which the node lock needs: install util-linux there",
			l->node);
	why = shown(l->err_text.len > 0 ? bs_buf_str(&l->err_text) : text);
	if (status == EXIT_NO_DIR)
		rc = bs_err_set(err, BS_ERR_REMOTE,
				"node %s: cannot make the lock %s/lock on the node: %s%s", l->node,
				dir, why[0] ? why : "no message",
				why[0] && strstr(why, "ermission")
					? " (a user other than root needs sudo)"
					: "");
	else if (status >= 0)
		rc = bs_err_set(err, BS_ERR_REMOTE,
				"node %s: the lock command failed (exit %d): %s", l->node, status,
				why[0] ? why : "no message");
	else
		rc = bs_err_set(
			err, BS_ERR_NETWORK,
			"node %s: the lock command ended without an answer (the connection was lost?)%s%s",
			l->node, why[0] ? ": " : "", why);
	free(why);
	return rc;
}

static struct bs_nodelock *lock_new(struct bs_ssh *s, const char *node_name)
{
	struct bs_nodelock *l = bs_xcalloc(1, sizeof(*l));

	l->ssh = s;
	l->node = bs_xstrdup(node_name ? node_name : bs_ssh_display(s));
	l->who = who_am_i();
	l->answer_max = ANSWER_MAX;
	return l;
}

static void lock_free(struct bs_nodelock *l)
{
	free(l->node);
	free(l->who);
	bs_buf_free(&l->err_text);
	bs_buf_free(&l->then);
	free(l);
}

/* then's output: from the line after LOCKED to THEN_END (or all of it:
 * its reader finds it cut short) */
static void keep_then(struct bs_nodelock *l, const struct bs_buf *answer)
{
	const char *text = bs_buf_str(answer);
	const char *start = strchr(find_line(text, "LOCKED"), '\n');
	const char *end;

	start = start != NULL ? start + 1 : text + answer->len;
	end = find_line(start, THEN_END);
	if (end != NULL && end > start)
		end--; /* the newline printed before the marker */
	bs_buf_append(&l->then, start, (size_t)((end != NULL ? end : text + answer->len) - start));
	bs_buf_putc(&l->then, '\0');
	l->then.len--;
}

bool bs_nodelock_audited(const struct bs_nodelock *l)
{
	return l != NULL && l->audited;
}

const char *bs_nodelock_then(const struct bs_nodelock *l, size_t *len)
{
	if (l == NULL || !l->want_then) {
		*len = 0;
		return NULL;
	}
	*len = l->then.len;
	return bs_buf_str(&l->then);
}

int bs_nodelock_acquire(struct bs_nodelock **out, struct bs_ssh *s, const char *node_name,
			const struct bs_nodelock_opts *opts, struct bs_err *err)
{
	struct bs_nodelock_opts none = BS_NODELOCK_OPTS_INIT;
	const struct bs_nodelock_opts *o = opts ? opts : &none;
	/* a day is forever here, and cannot overflow the deadline */
	long wait_ms = o->wait_ms > WAIT_MAX_MS ? WAIT_MAX_MS : o->wait_ms > 0 ? o->wait_ms : 0;
	const char *dir = o->dir ? o->dir : BS_NODELOCK_DIR;
	struct bs_nodelock *l = lock_new(s, node_name);
	struct bs_buf owner = BS_BUF_INIT, answer = BS_BUF_INIT;
	struct op op = op_start("taking the node lock",
				wait_ms + START_MARGIN_MS + (o->then ? THEN_MARGIN_MS : 0), true);
	char *command = NULL, *default_owner = NULL;
	int rc;

	*out = NULL;
	l->interrupt = o->cancel;
	bs_ssh_lock(s);
	if (send_pending(s)) {
		rc = pending_error(l->node, op.doing, err);
		goto out;
	}
	if (o->owner == NULL)
		default_owner = bs_lock_owner_text(NULL);
	put_clean(&owner, o->owner ? o->owner : default_owner, OWNER_MAX, false);
	command = lock_command(dir, bs_buf_str(&owner), wait_ms, o->sudo, o->then);
	if (o->then != NULL) {
		l->want_then = true;
		l->answer_max = THEN_MAX;
	}
	libssh2_session_set_blocking(bs_ssh_session(s), 0);
	rc = channel_start(l, command, &op, err);
	if (rc == 0)
		rc = read_answer(l, &answer, &op, err);
	if (rc == 0 && find_line(bs_buf_str(&answer), "LOCKED") != NULL) {
		if (l->want_then)
			keep_then(l, &answer);
		bs_buf_reset(&l->err_text); /* from now on, only what cat says */
		*out = l;
		l = NULL;
	} else if (rc == 0) {
		rc = refused(l, &answer, dir, wait_ms, err);
	}
out:
	if (l != NULL && l->ch != NULL && !send_pending(s)) {
		/* interrupted or timed out: our EOF ends the node side's wait */
		struct op end = op_start("ending the lock command", 2000, false);

		channel_end(l, &end, true, NULL);
	}
	if (l != NULL)
		lock_free(l);
	libssh2_session_set_blocking(bs_ssh_session(s), 1);
	bs_ssh_unlock(s);
	free(command);
	free(default_owner);
	bs_buf_free(&owner);
	bs_buf_free(&answer);
	return rc;
}

/* ---- audit and release ---- */

/* The node side still holds the lock: its cat has not ended. */
static int check_held(struct bs_nodelock *l, struct bs_err *err)
{
	char *why;
	int rc;

	if (l->ch != NULL && read_both(l, NULL) != 0)
		return bs_err_set(err, BS_ERR_NETWORK, "node %s: the SSH connection broke: %s",
				  l->node, bs_ssh_last_error(l->ssh));
	if (l->ch != NULL && !libssh2_channel_eof(l->ch))
		return 0;
	why = shown(bs_buf_str(&l->err_text));
	rc = bs_err_set(
		err, BS_ERR_LOCKED,
		"node %s: the lock on the node was lost: its holder on the node ended (%s); stop changing the node and run again",
		l->node, why[0] ? why : "no message");
	free(why);
	return rc;
}

int bs_nodelock_audit(struct bs_nodelock *l, const char *line, struct bs_err *err)
{
	/* not cancellable: a line cut half-way would leave a send pending */
	struct op op = op_start("writing the audit log", AUDIT_TIMEOUT_MS, false);
	LIBSSH2_SESSION *session = bs_ssh_session(l->ssh);
	struct bs_buf text = BS_BUF_INIT, masked = BS_BUF_INIT;
	char now[32];
	size_t off = 0;
	int rc;

	bs_ssh_lock(l->ssh);
	if (send_pending(l->ssh)) {
		bs_ssh_unlock(l->ssh);
		return pending_error(l->node, op.doing, err);
	}
	utc_now(now, sizeof(now));
	bs_buf_printf(&text, "%s %s: ", now, l->who);
	/* masked here too, whoever wrote the line, and before it is cut */
	bs_secret_mask(&masked, line ? line : "");
	put_clean(&text, masked.data, AUDIT_LINE_MAX, false);
	bs_buf_wipe_free(&masked);
	bs_buf_putc(&text, '\n');
	libssh2_session_set_blocking(session, 0);
	rc = check_held(l, err);
	l->audited = l->audited || rc == 0;
	while (rc == 0 && off < text.len) {
		/* after EAGAIN, the same call again: same pointer, same length */
		ssize_t n = libssh2_channel_write(l->ch, text.data + off, text.len - off);

		if (n >= 0)
			off += (size_t)n;
		else if (n == LIBSSH2_ERROR_EAGAIN)
			rc = pause_op(l, &op, err);
		else
			rc = bs_err_set(err, BS_ERR_NETWORK,
					"node %s: cannot write the audit log: %s", l->node,
					bs_ssh_last_error(l->ssh));
	}
	libssh2_session_set_blocking(session, 1);
	bs_ssh_unlock(l->ssh);
	bs_buf_free(&text);
	return rc;
}

void bs_nodelock_release(struct bs_nodelock *l)
{
	LIBSSH2_SESSION *session;

	if (l == NULL)
		return;
	session = bs_ssh_session(l->ssh);
	bs_ssh_lock(l->ssh);
	/* with another send pending nothing may be sent: the lock then ends
	 * with the session (bs_ssh_close), as after a crash */
	if (l->ch != NULL && !send_pending(l->ssh)) {
		struct op op = op_start("releasing the node lock", RELEASE_TIMEOUT_MS, false);

		libssh2_session_set_blocking(session, 0);
		channel_end(l, &op, true, NULL);
		libssh2_session_set_blocking(session, 1);
	}
	bs_ssh_unlock(l->ssh);
	lock_free(l);
}
