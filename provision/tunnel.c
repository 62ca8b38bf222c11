/*
 * tunnel.c - bridge libcurl's connections to the node's docker.sock over
 * SSH channels. See tunnel.h.
 *
 * libssh2 1.10 has no libssh2_channel_direct_streamlocal_ex (that is 1.11),
 * so the channel is opened raw with libssh2_channel_open_ex and the
 * request-specific part of the open message: string socket path, string
 * reserved (empty), uint32 reserved (0), as OpenSSH's PROTOCOL file
 * describes it.
 *
 * One owner thread per tunnel pumps: it accepts libcurl's connections,
 * opens their channels and moves bytes, for any number of engine clients
 * on any threads. It holds the session's lock while it pumps and lets go
 * while it waits, so exec, SFTP and the node lock on the same session run
 * in between (their end wakes it). The session runs non-blocking only
 * inside pump() and is put back to blocking before the lock is let go.
 */
#include "provision/tunnel.h"

#include <errno.h>
#include <fcntl.h>
#include <libssh2.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "provision/ssh_priv.h"
#include "util/clock.h"
#include "util/str.h"

#define DEFAULT_REMOTE_SOCKET "/var/run/docker.sock"
#define STREAMLOCAL "direct-streamlocal@openssh.com"
#define BRIDGE_BUF 65536
#define MAX_BRIDGES 256 /* a jump host carries a session per node behind it */
#define LISTEN_BACKLOG 16
#define STDERR_KEEP 2048

enum bridge_state {
	B_WAIT_OPEN, /* accepted; its channel is not open yet */
	B_EXEC,	     /* dial-stdio: session channel open, command not started */
	B_OPEN,
	B_CLOSING, /* channel close in progress */
};

/* A dial waiting for its channel (bs_tunnel_dial): under the tunnel's emu,
 * the owner fills result and why and signals; whoever comes last frees. */
struct dial_wait {
	int result; /* 0 waiting, 1 open, -1 failed */
	char *why;
	bool gone; /* the dialer gave up: the owner frees */
};

struct bridge {
	int fd;		/* libcurl's side (or the dialer's socket pair), non-blocking */
	char *tcp_host; /* direct-tcpip to tcp_host:tcp_port (a jump host) */
	int tcp_port;
	struct dial_wait *waiter; /* the dial, until the channel opened or failed */
	LIBSSH2_CHANNEL *ch;
	enum bridge_state state;
	bool client_eof;
	bool remote_eof;
	bool dial;	   /* this bridge uses docker system dial-stdio */
	bool warm;	   /* opened ahead (bs_tunnel_warm): the first connection takes it */
	size_t down_total; /* bytes from the node */
	size_t up_len, up_off;
	size_t down_len, down_off;
	char up[BRIDGE_BUF];	/* libcurl -> node */
	char down[BRIDGE_BUF];	/* node -> libcurl */
	struct bs_buf err_text; /* dial-stdio's stderr, first bytes */
};

struct bs_tunnel {
	struct bs_ssh *ssh;
	char *remote_socket;
	char *url;
	char dir[80];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd;
	enum bs_tunnel_mode mode;   /* as asked */
	enum bs_tunnel_mode active; /* AUTO until a channel opened; then what worked */
	bool sudo;		    /* dial-stdio through sudo -n */
	char *streamlocal_refusal;  /* why streamlocal failed, for messages */
	/*
	 * libssh2 1.10 must be called again with the same arguments after
	 * EAGAIN before any other call that sends on the session (otherwise it
	 * resends or drops a half-sent packet). An open, write or close that
	 * would block is recorded here, and the next pump starts with it and
	 * does nothing else until it completes.
	 */
	struct bridge *busy;
	struct bridge *bridges[MAX_BRIDGES];
	int n;
	atomic_ulong channels;
	/* the owner thread */
	pthread_t owner;
	bool started;
	atomic_bool stop;
	int wake[2];		 /* read end polled by the owner, write end the session's waker */
	bool broken;		 /* the session is gone: every connection is refused */
	atomic_bool warm_wanted; /* open a channel ahead, at the next pump */
	pthread_mutex_t emu;
	char *error;	       /* the last failure, for the request that sees it */
	pthread_cond_t dialed; /* a dial's channel opened or failed */
};

static int tunnel_pump(struct bs_tunnel *t, struct bs_err *err);
static int start_owner(struct bs_tunnel *t, struct bs_err *err);
static void *tunnel_owner(void *arg);
static int tunnel_failure(void *payload, struct bs_err *err);
static void record_failure(struct bs_tunnel *t, const char *msg);

static void put_u32(struct bs_buf *b, uint32_t v)
{
	unsigned char x[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
			      (unsigned char)(v >> 8), (unsigned char)v};

	bs_buf_append(b, x, 4);
}

/* Tell b's dialer how its channel went. */
static void dial_done(struct bs_tunnel *t, struct bridge *b, bool ok, const char *why)
{
	struct dial_wait *w = b->waiter;

	b->waiter = NULL;
	pthread_mutex_lock(&t->emu);
	if (w->gone) {
		free(w);
	} else {
		w->result = ok ? 1 : -1;
		w->why = why ? bs_xstrdup(why) : NULL;
		pthread_cond_broadcast(&t->dialed);
	}
	pthread_mutex_unlock(&t->emu);
}

static void bridge_free(struct bs_tunnel *t, struct bridge *b)
{
	if (b->ch != NULL) {
		/* best effort: a session that is going away drops it anyway */
		libssh2_channel_free(b->ch);
	}
	if (b->fd >= 0)
		close(b->fd);
	if (b->waiter != NULL)
		dial_done(t, b, false, "the jump host's connection closed");
	bs_buf_free(&b->err_text);
	free(b->tcp_host);
	free(b);
}

static void bridge_remove(struct bs_tunnel *t, int i)
{
	bridge_free(t, t->bridges[i]);
	t->bridges[i] = t->bridges[--t->n];
}

/* A tunnel on s with nothing open yet (bs_tunnel_close frees it). */
static struct bs_tunnel *tunnel_new(struct bs_ssh *s)
{
	struct bs_tunnel *t = bs_xcalloc(1, sizeof(*t));

	t->ssh = s;
	t->listen_fd = -1;
	t->wake[0] = t->wake[1] = -1;
	pthread_mutex_init(&t->emu, NULL);
	pthread_cond_init(&t->dialed, NULL);
	return t;
}

int bs_tunnel_open(struct bs_tunnel **out, struct bs_ssh *s, const struct bs_tunnel_opts *o,
		   struct bs_err *err)
{
	struct bs_tunnel *t = tunnel_new(s);
	struct sockaddr_un sa;
	const char *tmp = getenv("TMPDIR");
	int rc;

	*out = NULL;
	t->mode = o->mode;
	t->active = o->mode;
	t->sudo = o->sudo;
	t->remote_socket = bs_xstrdup(o->remote_socket ? o->remote_socket : DEFAULT_REMOTE_SOCKET);
	t->url = bs_xstrdup(o->url ? o->url : bs_ssh_display(s));
	if (tmp == NULL || tmp[0] != '/' || strlen(tmp) > 50)
		tmp = "/tmp";
	snprintf(t->dir, sizeof(t->dir), "%s/bootstrap-tunnel-XXXXXX", tmp);
	/* mkdtemp makes the directory 0700: no other local user can connect */
	if (mkdtemp(t->dir) == NULL) {
		rc = bs_err_set(err, BS_ERR_IO, "%s: cannot make a private directory in %s: %s",
				t->url, tmp, strerror(errno));
		t->dir[0] = '\0';
		goto fail;
	}
	snprintf(t->path, sizeof(t->path), "%s/docker.sock", t->dir);
	t->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, t->path, strlen(t->path) + 1);
	if (t->listen_fd < 0 || bind(t->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(t->listen_fd, LISTEN_BACKLOG) != 0) {
		rc = bs_err_set(err, BS_ERR_IO, "%s: cannot listen on %s: %s", t->url, t->path,
				strerror(errno));
		goto fail;
	}
	rc = start_owner(t, err);
	if (rc != 0)
		goto fail;
	*out = t;
	return 0;
fail:
	bs_tunnel_close(t);
	return rc;
}

int bs_tunnel_open_dialer(struct bs_tunnel **out, struct bs_ssh *s, struct bs_err *err)
{
	struct bs_tunnel *t = tunnel_new(s);
	int rc;

	*out = NULL;
	t->remote_socket = bs_xstrdup("");
	t->url = bs_xasprintf("ssh://%s", bs_ssh_display(s));
	rc = start_owner(t, err);
	if (rc != 0) {
		bs_tunnel_close(t);
		return rc;
	}
	*out = t;
	return 0;
}

/* Wake the owner now (a dial to add, the end). */
static void wake_owner(struct bs_tunnel *t)
{
	char one = 1;
	ssize_t n = write(t->wake[1], &one, 1);

	(void)n;
}

int bs_tunnel_dial(struct bs_tunnel *t, const char *host, int port, long timeout_ms,
		   volatile sig_atomic_t *cancel, int *fd, struct bs_err *err)
{
	struct dial_wait *w = bs_xcalloc(1, sizeof(*w));
	struct bridge *b;
	long long deadline = bs_now_ms() + (timeout_ms > 0 ? timeout_ms : 10000);
	int sv[2], rc = 0;

	*fd = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		free(w);
		return bs_err_set(err, BS_ERR_IO, "socketpair: %s", strerror(errno));
	}
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	b = bs_xcalloc(1, sizeof(*b));
	b->fd = sv[0];
	b->state = B_WAIT_OPEN;
	b->tcp_host = bs_xstrdup(host);
	b->tcp_port = port;
	b->waiter = w;
	bs_ssh_lock(t->ssh); /* the owner's list */
	if (t->broken || t->n >= MAX_BRIDGES) {
		rc = bs_err_set(err, BS_ERR_NETWORK, "the jump host %s: %s", t->url,
				t->broken ? "its connection was lost"
					  : "too many connections through it at once");
		b->waiter = NULL;
		bridge_free(t, b);
		free(w);
		w = NULL;
	} else {
		t->bridges[t->n++] = b;
	}
	bs_ssh_unlock_quiet(t->ssh);
	if (rc != 0) {
		close(sv[1]);
		return rc;
	}
	wake_owner(t);
	pthread_mutex_lock(&t->emu);
	while (w->result == 0 && bs_now_ms() < deadline && !(cancel != NULL && *cancel)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000L; /* a tenth of a second: the cancel flag */
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&t->dialed, &t->emu, &ts);
	}
	if (w->result == 1) {
		*fd = sv[1];
	} else if (w->result == -1) {
		rc = bs_err_set(err, BS_ERR_NETWORK, "%s", w->why ? w->why : "jump host failed");
	} else if (cancel != NULL && *cancel) {
		rc = bs_err_set(err, BS_ERR_INTERRUPTED, "interrupted");
	} else {
		rc = bs_err_set(err, BS_ERR_TIMEOUT,
				"the jump host %s did not connect to %s:%d within %ld ms", t->url,
				host, port, timeout_ms);
	}
	if (w->result == 0) {
		w->gone = true; /* the owner frees it */
	} else {
		free(w->why);
		free(w);
	}
	pthread_mutex_unlock(&t->emu);
	if (rc != 0)
		close(sv[1]); /* the owner closes its channel when it sees the end */
	return rc;
}

static int start_owner(struct bs_tunnel *t, struct bs_err *err)
{
	if (pipe2(t->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		t->wake[0] = t->wake[1] = -1;
		return bs_err_set(err, BS_ERR_IO, "%s: pipe: %s", t->url, strerror(errno));
	}
	bs_ssh_set_waker(t->ssh, t->wake[1]);
	if (pthread_create(&t->owner, NULL, tunnel_owner, t) != 0)
		return bs_err_set(err, BS_ERR_IO, "%s: cannot start the tunnel's thread", t->url);
	t->started = true;
	return 0;
}

void bs_tunnel_endpoint(struct bs_tunnel *t, struct bs_endpoint *ep)
{
	memset(ep, 0, sizeof(*ep));
	ep->kind = BS_ENDPOINT_STREAM;
	ep->url = bs_xstrdup(t->url);
	ep->stream.socket_path = t->path;
	ep->stream.failure = tunnel_failure;
	ep->stream.payload = t;
}

const char *bs_tunnel_mode_name(const struct bs_tunnel *t)
{
	switch (t->active) {
	case BS_TUNNEL_STREAMLOCAL: return "direct-streamlocal";
	case BS_TUNNEL_DIAL_STDIO: return "dial-stdio";
	default: return "none";
	}
}

void bs_tunnel_warm(struct bs_tunnel *t)
{
	atomic_store(&t->warm_wanted, true); /* no wake: the next pump does it */
}

unsigned long bs_tunnel_channels(const struct bs_tunnel *t)
{
	return t->channels;
}

void bs_tunnel_close(struct bs_tunnel *t)
{
	if (t == NULL)
		return;
	if (t->started) {
		atomic_store(&t->stop, true);
		wake_owner(t);
		pthread_join(t->owner, NULL);
	}
	if (t->wake[1] >= 0)
		bs_ssh_set_waker(t->ssh, -1);
	bs_ssh_lock(t->ssh);
	while (t->n > 0)
		bridge_remove(t, t->n - 1);
	bs_ssh_unlock_quiet(t->ssh);
	for (int i = 0; i < 2; i++)
		if (t->wake[i] >= 0)
			close(t->wake[i]);
	if (t->listen_fd >= 0)
		close(t->listen_fd);
	if (t->path[0] != '\0')
		unlink(t->path);
	if (t->dir[0] != '\0')
		rmdir(t->dir);
	free(t->remote_socket);
	free(t->url);
	free(t->streamlocal_refusal);
	free(t->error);
	pthread_cond_destroy(&t->dialed);
	pthread_mutex_destroy(&t->emu);
	free(t);
}

/* ---- opening channels ---- */

static bool would_block(LIBSSH2_SESSION *session)
{
	return libssh2_session_last_errno(session) == LIBSSH2_ERROR_EAGAIN;
}

/* What to do about a dial-stdio failure, from what docker printed. */
static const char *dial_stdio_fix(const char *why)
{
	if (strcasestr(why, "password is required") != NULL)
		return "sudo -n wants a password for this user: give it a NOPASSWD sudo rule, add it to the docker group (usermod -aG docker USER), or connect as root";
	if (strcasestr(why, "permission denied") != NULL)
		return "The SSH user may not use the Docker socket: add it to the docker group (usermod -aG docker USER) or connect as root";
	if (strcasestr(why, "not found") != NULL || strcasestr(why, "no such file") != NULL)
		return "Is Docker installed and running on the node?";
	if (strcasestr(why, "Cannot connect") != NULL || strcasestr(why, "connection refused"))
		return "Is the Docker daemon running on the node?";
	return "Check that Docker runs on the node and that the SSH user may use it";
}

static int dial_stdio_failed(struct bs_tunnel *t, const char *why, struct bs_err *err)
{
	if (t->streamlocal_refusal != NULL)
		return bs_err_set(
			err, BS_ERR_NETWORK,
			"%s: cannot reach %s on the node: the SSH server would not forward it (%s), and `docker system dial-stdio` failed too: %s. %s",
			t->url, t->remote_socket, t->streamlocal_refusal, why, dial_stdio_fix(why));
	return bs_err_set(err, BS_ERR_NETWORK,
			  "%s: `docker system dial-stdio` failed on the node: %s. %s", t->url, why,
			  dial_stdio_fix(why));
}

/* Advance the opening of b; 0 with b->state B_OPEN when done, 0 with the
 * state unchanged while libssh2 would block, an error otherwise. */
static int open_step(struct bs_tunnel *t, struct bridge *b, struct bs_err *err)
{
	LIBSSH2_SESSION *session = bs_ssh_session(t->ssh);

	if (b->tcp_host != NULL) { /* a jump host's connection onwards */
		b->ch = libssh2_channel_direct_tcpip_ex(session, b->tcp_host, b->tcp_port,
							"127.0.0.1", 22);
		if (b->ch == NULL && would_block(session))
			return 0;
		if (b->ch == NULL)
			return bs_err_set(err, BS_ERR_NETWORK,
					  "the jump host %s could not connect to %s:%d: %s", t->url,
					  b->tcp_host, b->tcp_port, bs_ssh_last_error(t->ssh));
		b->state = B_OPEN;
		t->channels++;
		return 0;
	}
	if (b->state == B_WAIT_OPEN && !b->dial && t->active != BS_TUNNEL_DIAL_STDIO) {
		struct bs_buf msg = BS_BUF_INIT;

		put_u32(&msg, (uint32_t)strlen(t->remote_socket));
		bs_buf_puts(&msg, t->remote_socket);
		put_u32(&msg, 0); /* reserved string */
		put_u32(&msg, 0); /* reserved uint32 */
		b->ch = libssh2_channel_open_ex(session, STREAMLOCAL, sizeof(STREAMLOCAL) - 1,
						LIBSSH2_CHANNEL_WINDOW_DEFAULT,
						LIBSSH2_CHANNEL_PACKET_DEFAULT, msg.data,
						(unsigned int)msg.len);
		bs_buf_free(&msg);
		if (b->ch == NULL && would_block(session))
			return 0;
		if (b->ch != NULL) {
			t->active = BS_TUNNEL_STREAMLOCAL;
			b->state = B_OPEN;
			t->channels++;
			return 0;
		}
		if (b->warm && b->fd < 0) /* ahead of any connection: no fallback decided */
			return bs_err_set(err, BS_ERR_NETWORK, "%s: no channel ahead", t->url);
		if (libssh2_session_last_errno(session) != LIBSSH2_ERROR_CHANNEL_FAILURE)
			return bs_err_set(err, BS_ERR_NETWORK,
					  "%s: cannot open a channel to %s on the node: %s", t->url,
					  t->remote_socket, bs_ssh_last_error(t->ssh));
		/*
		 * sshd says "connect failed" alike when forwarding is off and
		 * when it cannot reach the socket (missing, not ours): try
		 * dial-stdio for this connection; it becomes the way for the
		 * session only once it works.
		 */
		free(t->streamlocal_refusal);
		t->streamlocal_refusal = bs_xstrdup(bs_ssh_last_error(t->ssh));
		if (t->mode == BS_TUNNEL_STREAMLOCAL)
			return bs_err_set(
				err, BS_ERR_NETWORK,
				"%s: the SSH server could not forward %s (%s): forwarding is off (AllowStreamLocalForwarding), or the socket is missing or not open to the SSH user",
				t->url, t->remote_socket, t->streamlocal_refusal);
		b->dial = true;
	}
	if (b->state == B_WAIT_OPEN) {
		b->dial = true;
		b->ch = libssh2_channel_open_session(session);
		if (b->ch == NULL && would_block(session))
			return 0;
		if (b->ch == NULL)
			return dial_stdio_failed(t, bs_ssh_last_error(t->ssh), err);
		b->state = B_EXEC;
	}
	if (b->state == B_EXEC) {
		int rc = libssh2_channel_exec(b->ch, t->sudo ? "sudo -n docker system dial-stdio"
							     : "docker system dial-stdio");

		if (rc == LIBSSH2_ERROR_EAGAIN)
			return 0;
		if (rc != 0)
			return dial_stdio_failed(t, bs_ssh_last_error(t->ssh), err);
		b->state = B_OPEN;
		t->channels++;
		/* the command runs; whether it reached dockerd shows in its
		 * first bytes (or its stderr), see tunnel_pump */
	}
	return 0;
}

/* ---- moving bytes ---- */

#define STEP_MOVED 1
#define STEP_IDLE 0
#define STEP_DONE (-1)	 /* either side closed: close the bridge */
#define STEP_BUSY (-100) /* a channel write would block: retry it first */

/* Send what is in b->up; STEP_BUSY when libssh2 would block. */
static int flush_up(struct bridge *b, int *moved)
{
	while (b->up_off < b->up_len) {
		ssize_t n = libssh2_channel_write(b->ch, b->up + b->up_off, b->up_len - b->up_off);

		if (n == LIBSSH2_ERROR_EAGAIN)
			return STEP_BUSY;
		if (n < 0)
			return (int)n < STEP_DONE ? (int)n : -2;
		b->up_off += (size_t)n;
		*moved = 1;
	}
	b->up_len = b->up_off = 0;
	return 0;
}

/* Move what can move without blocking: STEP_MOVED, STEP_IDLE, STEP_DONE,
 * STEP_BUSY, or a libssh2 error (below -1, above STEP_BUSY) for a broken
 * session. */
static int bridge_step(struct bridge *b)
{
	int moved = 0, rc;
	ssize_t n;

	/* libcurl -> node */
	if (b->up_len == 0 && !b->client_eof) {
		n = read(b->fd, b->up, sizeof(b->up));
		if (n > 0) {
			b->up_len = (size_t)n;
			b->up_off = 0;
			moved = 1;
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			b->client_eof = true;
		}
	}
	rc = flush_up(b, &moved);
	if (rc != 0)
		return rc;
	/* libcurl closed its connection: nothing more goes its way */
	if (b->client_eof)
		return STEP_DONE;

	/* node -> libcurl */
	if (b->down_len == 0 && !b->remote_eof) {
		n = libssh2_channel_read(b->ch, b->down, sizeof(b->down));
		if (n > 0) {
			b->down_len = (size_t)n;
			b->down_off = 0;
			b->down_total += (size_t)n;
			moved = 1;
		} else if (n == 0 || n == LIBSSH2_ERROR_EAGAIN) {
			if (libssh2_channel_eof(b->ch))
				b->remote_eof = true;
		} else {
			return (int)n < STEP_DONE ? (int)n : -2;
		}
	}
	if (b->dial) {
		char ebuf[1024];

		while ((n = libssh2_channel_read_stderr(b->ch, ebuf, sizeof(ebuf))) > 0) {
			if (b->err_text.len < STDERR_KEEP)
				bs_buf_append(&b->err_text, ebuf, (size_t)n);
			moved = 1;
		}
	}
	while (b->down_off < b->down_len) {
		/* MSG_NOSIGNAL: libcurl may have closed; no SIGPIPE for that */
		n = send(b->fd, b->down + b->down_off, b->down_len - b->down_off, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n < 0) {
			b->client_eof = true; /* libcurl went away */
			return STEP_DONE;
		}
		b->down_off += (size_t)n;
		moved = 1;
	}
	if (b->down_off == b->down_len)
		b->down_len = b->down_off = 0;
	if (b->remote_eof && b->down_len == 0)
		return STEP_DONE;
	return moved ? STEP_MOVED : STEP_IDLE;
}

static bool session_broken(int rc)
{
	return rc == LIBSSH2_ERROR_SOCKET_SEND || rc == LIBSSH2_ERROR_SOCKET_RECV ||
	       rc == LIBSSH2_ERROR_SOCKET_DISCONNECT || rc == LIBSSH2_ERROR_SOCKET_TIMEOUT ||
	       rc == LIBSSH2_ERROR_TIMEOUT;
}

/* Begin closing b's channel; the bridge goes when the close is sent.
 * Returns true when it is gone, false when the close would block. */
static bool close_bridge(struct bs_tunnel *t, int i)
{
	struct bridge *b = t->bridges[i];

	if (b->fd >= 0) {
		close(b->fd);
		b->fd = -1;
	}
	b->state = B_CLOSING;
	if (libssh2_channel_close(b->ch) == LIBSSH2_ERROR_EAGAIN) {
		t->busy = b;
		return false;
	}
	if (t->busy == b)
		t->busy = NULL;
	bridge_remove(t, i);
	return true;
}

static int bridge_index(const struct bs_tunnel *t, const struct bridge *b)
{
	for (int i = 0; i < t->n; i++)
		if (t->bridges[i] == b)
			return i;
	return -1;
}

/* dial-stdio ran but reached nothing: its stderr says why */
static int dial_stdio_ended(struct bs_tunnel *t, struct bridge *b, struct bs_err *err)
{
	char *why = bs_xstrndup(b->err_text.data, b->err_text.len);
	size_t len = strlen(why);
	int rc;

	while (len > 0 && (why[len - 1] == '\n' || why[len - 1] == '\r' || why[len - 1] == ' '))
		why[--len] = '\0';
	rc = dial_stdio_failed(t, why, err);
	free(why);
	return rc;
}

/* A channel opened ahead that no connection took yet, or NULL. */
static struct bridge *waiting_warm(struct bs_tunnel *t)
{
	for (int i = 0; i < t->n; i++)
		if (t->bridges[i]->warm && t->bridges[i]->fd < 0 &&
		    t->bridges[i]->state != B_CLOSING)
			return t->bridges[i];
	return NULL;
}

static int tunnel_pump(struct bs_tunnel *t, struct bs_err *err)
{
	LIBSSH2_SESSION *session = bs_ssh_session(t->ssh);
	int c, rc = 0, i;

	while (t->listen_fd >= 0 && t->n < MAX_BRIDGES &&
	       (c = accept4(t->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		struct bridge *b = waiting_warm(t);

		if (b == NULL) {
			b = bs_xcalloc(1, sizeof(*b));
			b->state = B_WAIT_OPEN;
			t->bridges[t->n++] = b;
		}
		b->fd = c;
		b->warm = false; /* taken: an ordinary bridge from now on (its close sets fd -1) */
	}
	if (atomic_exchange(&t->warm_wanted, false) && t->n < MAX_BRIDGES &&
	    t->mode != BS_TUNNEL_DIAL_STDIO && t->active != BS_TUNNEL_DIAL_STDIO) {
		struct bridge *b = bs_xcalloc(1, sizeof(*b));

		b->fd = -1;
		b->warm = true;
		b->state = B_WAIT_OPEN;
		t->bridges[t->n++] = b;
	}
	libssh2_session_set_blocking(session, 0);
	/* first, the call that would have blocked last time */
	if (t->busy != NULL && t->busy->state == B_CLOSING) {
		i = bridge_index(t, t->busy);
		if (i < 0 || !close_bridge(t, i))
			goto out;
	} else if (t->busy != NULL && t->busy->state == B_OPEN) {
		int moved = 0;

		rc = flush_up(t->busy, &moved);
		if (rc == STEP_BUSY) {
			rc = 0;
			goto out;
		}
		t->busy = NULL;
		if (rc != 0)
			goto broken;
	}
	/* libssh2 opens one channel at a time: the first waiting one goes on */
	for (i = 0; i < t->n; i++) {
		struct bridge *b = t->bridges[i];

		if (b->state != B_WAIT_OPEN && b->state != B_EXEC)
			continue;
		rc = open_step(t, b, err);
		if (rc != 0 && b->warm && b->fd < 0) {
			/* opened ahead, for nobody yet: the first connection tries again */
			bridge_remove(t, i);
			t->busy = NULL;
			rc = 0;
			i--;
			continue;
		}
		if (rc != 0) {
			if (b->waiter != NULL)
				dial_done(t, b, false, err->msg);
			/* the reason first: the request asks for it once it sees the close */
			record_failure(t, err->msg);
			bridge_remove(t, i); /* libcurl sees its connection close */
			t->busy = NULL;
			goto out;
		}
		if (b->state != B_OPEN) {
			t->busy = b; /* an open in progress: nothing else until it is done */
			goto out;
		}
		if (b->waiter != NULL)
			dial_done(t, b, true, NULL);
		t->busy = NULL;
	}
	for (i = 0; i < t->n; i++) {
		struct bridge *b = t->bridges[i];
		int step = STEP_MOVED, rounds = 0;

		if (b->state == B_CLOSING) {
			if (!close_bridge(t, i))
				goto out;
			i--;
			continue;
		}
		if (b->state != B_OPEN || b->fd < 0) /* open ahead, no connection yet */
			continue;
		while (step == STEP_MOVED && rounds++ < 64)
			step = bridge_step(b);
		if (step == STEP_BUSY) {
			t->busy = b;
			goto out;
		}
		if (step < STEP_DONE) {
			rc = step;
			goto broken;
		}
		if (b->dial && b->down_total > 0 && t->active != BS_TUNNEL_DIAL_STDIO)
			t->active = BS_TUNNEL_DIAL_STDIO; /* it answered: the way from now on */
		if (step == STEP_DONE) {
			if (b->dial && b->down_total == 0 && b->err_text.len > 0) {
				rc = dial_stdio_ended(t, b, err);
				record_failure(t, err->msg);
				bridge_remove(t, i);
				goto out;
			}
			/* libcurl closed, or the engine did: close the channel */
			if (!close_bridge(t, i))
				goto out;
			i--;
		}
	}
	goto out;
broken:
	t->broken = true;
	rc = bs_err_set(
		err, BS_ERR_NETWORK,
		"%s: the SSH connection to the node was lost in the middle of a request (%s); nothing more was sent",
		t->url, session_broken(rc) ? bs_ssh_last_error(t->ssh) : "channel error");
out:
	libssh2_session_set_blocking(session, 1);
	return rc;
}

/* What to wait on: the session's socket, the listening socket, each
 * open bridge's side, and the wake pipe. Called with the session held. */
static int tunnel_wait_fds(struct bs_tunnel *t, struct pollfd *fds, int max)
{
	LIBSSH2_SESSION *session = bs_ssh_session(t->ssh);
	int n = 0, dir = libssh2_session_block_directions(session);

	fds[n].fd = t->wake[0];
	fds[n++].events = POLLIN;
	if (t->listen_fd >= 0) {
		fds[n].fd = t->listen_fd;
		fds[n++].events = POLLIN;
	}
	/* the session's socket only for our channels: with none open, what
	 * arrives is for another user's, which reads it (watching it here
	 * would only spin) */
	if (t->n > 0) {
		fds[n].fd = bs_ssh_socket(t->ssh);
		fds[n++].events =
			(short)(POLLIN | (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND ? POLLOUT : 0));
	}
	for (int i = 0; i < t->n && n < max; i++) {
		struct bridge *b = t->bridges[i];
		short ev = 0;

		if (b->state != B_OPEN || b->fd < 0)
			continue;
		if (b->up_len == 0 && !b->client_eof)
			ev |= POLLIN;
		if (b->down_len > b->down_off)
			ev |= POLLOUT;
		if (ev != 0) {
			fds[n].fd = b->fd;
			fds[n++].events = ev;
		}
	}
	return n;
}

static void record_failure(struct bs_tunnel *t, const char *msg)
{
	pthread_mutex_lock(&t->emu);
	free(t->error);
	t->error = bs_xstrdup(msg);
	pthread_mutex_unlock(&t->emu);
}

/* The tunnel's failure, for a request whose connection it closed. */
static int tunnel_failure(void *payload, struct bs_err *err)
{
	struct bs_tunnel *t = payload;
	int rc = 0;

	pthread_mutex_lock(&t->emu);
	if (t->error != NULL)
		rc = bs_err_set(err, BS_ERR_NETWORK, "%s", t->error);
	pthread_mutex_unlock(&t->emu);
	return rc;
}

/* A broken session: every bridge goes, and new connections are closed
 * as they come, so no request waits on a channel that cannot answer. */
static void refuse_all(struct bs_tunnel *t)
{
	int c;

	while (t->n > 0)
		bridge_remove(t, t->n - 1);
	t->busy = NULL;
	while (t->listen_fd >= 0 && (c = accept4(t->listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		close(c);
}

/*
 * The owner: pump with the session held; let go of it while waiting,
 * unless a libssh2 call is half done (t->busy), which nothing else may
 * interleave with. Waits are bounded (a second), and the loop ends when
 * bs_tunnel_close says so.
 */
static void *tunnel_owner(void *arg)
{
	struct bs_tunnel *t = arg;
	struct pollfd fds[3 + MAX_BRIDGES];
	bool held = false;

	while (!atomic_load(&t->stop)) {
		struct bs_err err = BS_ERR_INIT;
		char drain[64];
		int n;

		if (!held)
			bs_ssh_lock(t->ssh);
		held = true;
		if (t->broken) {
			refuse_all(t);
		} else if (tunnel_pump(t, &err) != 0) {
			record_failure(t, err.msg);
			if (t->broken)
				refuse_all(t);
		}
		n = tunnel_wait_fds(t, fds, (int)(sizeof(fds) / sizeof(fds[0])));
		if (t->busy == NULL) {
			bs_ssh_unlock_quiet(t->ssh);
			held = false;
		}
		if (poll(fds, (nfds_t)n, t->busy != NULL ? 50 : 1000) > 0 &&
		    (fds[0].revents & POLLIN))
			while (read(t->wake[0], drain, sizeof(drain)) > 0)
				;
	}
	if (held)
		bs_ssh_unlock_quiet(t->ssh);
	return NULL;
}

/* ---- ssh:// URLs ---- */

void bs_ssh_url_free(struct bs_ssh_url *u)
{
	free(u->user);
	free(u->host);
	memset(u, 0, sizeof(*u));
}

int bs_ssh_url_parse(const char *url, struct bs_ssh_url *out, struct bs_err *err)
{
	const char *p, *at, *end, *host_end;
	long long port = 0;

	memset(out, 0, sizeof(*out));
	if (!bs_str_starts_with(url, "ssh://"))
		return bs_err_set(err, BS_ERR_INVALID, "'%s' is not an ssh:// URL", url);
	p = url + 6;
	end = p + strcspn(p, "/?#");
	if (*end != '\0' && strcmp(end, "/") != 0)
		return bs_err_set(
			err, BS_ERR_INVALID,
			"engine URL %s: write ssh://USER@HOST[:PORT] with nothing after the host (the node's socket is /var/run/docker.sock)",
			url);
	at = memchr(p, '@', (size_t)(end - p));
	if (at != NULL) {
		if (at == p)
			return bs_err_set(err, BS_ERR_INVALID,
					  "engine URL %s: the user before '@' is empty", url);
		if (memchr(p, ':', (size_t)(at - p)) != NULL)
			return bs_err_set(
				err, BS_ERR_INVALID,
				"engine URL: a password in an ssh:// URL would show in process lists and logs; write ssh://USER@HOST and set BOOTSTRAP_SSH_PASSWORD");
		out->user = bs_xstrndup(p, (size_t)(at - p));
		p = at + 1;
	}
	if (*p == '[') {
		host_end = memchr(p, ']', (size_t)(end - p));
		if (host_end == NULL || host_end == p + 1)
			goto bad_host;
		out->host = bs_xstrndup(p + 1, (size_t)(host_end - p - 1));
		p = host_end + 1;
	} else {
		host_end = memchr(p, ':', (size_t)(end - p));
		if (host_end == NULL)
			host_end = end;
		if (host_end == p)
			goto bad_host;
		out->host = bs_xstrndup(p, (size_t)(host_end - p));
		p = host_end;
	}
	if (p < end) {
		char *digits;
		int rc;

		if (*p != ':')
			goto bad_host;
		digits = bs_xstrndup(p + 1, (size_t)(end - p - 1));
		rc = bs_parse_int64(digits, &port);
		free(digits);
		if (rc != 0 || port < 1 || port > 65535) {
			bs_ssh_url_free(out);
			return bs_err_set(
				err, BS_ERR_INVALID,
				"engine URL %s: the port must be a number from 1 to 65535", url);
		}
	}
	out->port = (int)port;
	for (const char *c = out->host; *c; c++) {
		if (*c <= ' ' || *c == '/' || *c == '@' || *c == '\\') {
			bs_ssh_url_free(out);
			return bs_err_set(err, BS_ERR_INVALID, "engine URL %s: bad host name", url);
		}
	}
	return 0;
bad_host:
	bs_ssh_url_free(out);
	return bs_err_set(err, BS_ERR_INVALID,
			  "engine URL %s: expected ssh://USER@HOST[:PORT] (IPv6 as [::1])", url);
}
