/*
 * tunnel.h - the node's Docker socket over the node's SSH session: the
 * default endpoint, which opens no port on the node.
 *
 * A tunnel listens on a unix socket in a private directory (0700) and is
 * handed to the container driver as a stream endpoint. Each connection
 * libcurl makes there becomes one SSH channel to the node's
 * /var/run/docker.sock: a "direct-streamlocal@openssh.com" channel (what
 * `ssh -L local.sock:/var/run/docker.sock` uses), or, where the node's sshd
 * forbids unix-socket forwarding, an exec channel running
 * `docker system dial-stdio` (what `docker -H ssh://` uses). libcurl keeps
 * its connection alive, so many requests ride one channel of one session.
 *
 * Everything runs on the thread that owns the SSH session: the HTTP
 * client pumps the tunnel from its request loop. Between requests nothing
 * moves and nothing needs to.
 */
#ifndef BS_PROVISION_TUNNEL_H
#define BS_PROVISION_TUNNEL_H

#include <stdbool.h>

#include "container/endpoint.h"
#include "provision/fleet.h"
#include "provision/ssh.h"
#include "util/error.h"

enum bs_tunnel_mode {
	BS_TUNNEL_AUTO,	       /* streamlocal, then dial-stdio if refused */
	BS_TUNNEL_STREAMLOCAL, /* direct-streamlocal only */
	BS_TUNNEL_DIAL_STDIO,  /* docker system dial-stdio only */
};

struct bs_tunnel_opts {
	const char *remote_socket; /* NULL: /var/run/docker.sock */
	enum bs_tunnel_mode mode;
	const char *url; /* how the user wrote it, for messages (ssh://...) */
	bool sudo;	 /* the SSH user is not root: dial-stdio runs under sudo -n */
};

struct bs_tunnel;

/* Listen locally; channels open when connections arrive. The tunnel
 * borrows s, which must outlive it. */
int bs_tunnel_open(struct bs_tunnel **out, struct bs_ssh *s, const struct bs_tunnel_opts *opts,
		   struct bs_err *err);

/* Fill ep as a stream endpoint through the tunnel (free it with
 * bs_endpoint_free before closing the tunnel). */
void bs_tunnel_endpoint(struct bs_tunnel *t, struct bs_endpoint *ep);

/* Open one channel ahead at the next pump, for the first connection to
 * take: started while another operation waits on the node (the node
 * lock's answer), its round trip is hidden in that wait. A channel that
 * cannot be opened ahead is dropped quietly; the connection tries again. */
void bs_tunnel_warm(struct bs_tunnel *t);

/* "direct-streamlocal", "dial-stdio", or "none" before the first channel. */
const char *bs_tunnel_mode_name(const struct bs_tunnel *t);

/* Channels opened so far (each is one HTTP connection). */
unsigned long bs_tunnel_channels(const struct bs_tunnel *t);

void bs_tunnel_close(struct bs_tunnel *t);

/* ---- a jump host: TCP connections onwards through direct-tcpip channels ---- */

/* A tunnel that listens nowhere: bs_tunnel_dial makes its connections.
 * The same owner thread moves their bytes. */
int bs_tunnel_open_dialer(struct bs_tunnel **out, struct bs_ssh *s, struct bs_err *err);

/* A connected stream socket to host:port as the jump host's sshd reaches
 * it (a socket pair whose other end is a direct-tcpip channel), in *fd;
 * the channel closes when *fd is closed. Waits at most timeout_ms. */
int bs_tunnel_dial(struct bs_tunnel *t, const char *host, int port, long timeout_ms,
		   volatile sig_atomic_t *cancel, int *fd, struct bs_err *err);

/* ---- ssh://USER@HOST[:PORT] engine URLs ---- */

struct bs_ssh_url {
	char *user; /* NULL when the URL names none */
	char *host; /* brackets removed from [IPv6] */
	int port;   /* 0 when the URL names none */
};

/* Parse an ssh:// URL; a path other than "/" or "", a query or bad port
 * is an error naming the URL and the fix. */
int bs_ssh_url_parse(const char *url, struct bs_ssh_url *out, struct bs_err *err);
void bs_ssh_url_free(struct bs_ssh_url *u);

#endif
