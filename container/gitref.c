/*
 * gitref.c - which branch a git repository's HEAD names (gitref.h).
 *
 * The ref advertisement is read as git's protocol documents it
 * (gitprotocol-pack(5), gitprotocol-http(5), gitprotocol-capabilities(5)):
 * pkt-lines of four hex digits of length (the four included; "0000" is a
 * flush), the first ref line "OID SP refname NUL capabilities LF", and
 * among the capabilities "symref=HEAD:refs/heads/NAME". Smart HTTP puts
 * "# service=git-upload-pack" and a flush before it.
 */
#include "container/gitref.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "container/http.h"
#include "util/clock.h"
#include "util/str.h"
#include "util/url.h"

#define ADVERT_MAX (1 << 20) /* a HEAD line comes first: far less is read */
#define HEAD_PREFIX "symref=HEAD:refs/heads/"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A branch name as git allows it, enough for a URL fragment. */
static bool branch_ok(const char *s, size_t n)
{
	if (n == 0 || n > 255 || s[0] == '-' || s[0] == '/' || s[n - 1] == '/')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c == 0x7f || strchr("~^:?*[\\#", c) != NULL)
			return false;
		if (c == '.' && i + 1 < n && s[i + 1] == '.')
			return false;
	}
	return true;
}

/* The branch in the capabilities after the first ref line's NUL. */
static int branch_from_caps(const char *caps, size_t n, char **branch)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i;

		while (j < n && caps[j] != ' ' && caps[j] != '\n')
			j++;
		if (j - i > strlen(HEAD_PREFIX) &&
		    memcmp(caps + i, HEAD_PREFIX, strlen(HEAD_PREFIX)) == 0) {
			const char *b = caps + i + strlen(HEAD_PREFIX);
			size_t bn = j - i - strlen(HEAD_PREFIX);

			if (!branch_ok(b, bn))
				return BS_ERR_NOT_FOUND;
			*branch = bs_xstrndup(b, bn);
			return 0;
		}
		i = j + 1;
	}
	return BS_ERR_NOT_FOUND;
}

/* The advertisement so far: 0 and *branch, BS_ERR_NOT_FOUND, or
 * BS_ERR_PROTOCOL; *more when it ends before the answer is known. */
static int scan_advert(const char *data, size_t len, char **branch, bool *more, struct bs_err *err)
{
	size_t at = 0;
	bool service = false;

	*branch = NULL;
	*more = false;
	while (at + 4 <= len) {
		int h[4];
		size_t n;
		const char *line, *nul;

		for (int k = 0; k < 4; k++)
			h[k] = hexval(data[at + k]);
		if (h[0] < 0 || h[1] < 0 || h[2] < 0 || h[3] < 0)
			return bs_err_set(err, BS_ERR_PROTOCOL,
					  "the answer is not a git ref advertisement");
		n = (size_t)(h[0] << 12 | h[1] << 8 | h[2] << 4 | h[3]);
		if (n == 0) { /* flush: after the service line, the refs follow */
			at += 4;
			if (service) {
				service = false;
				continue;
			}
			return BS_ERR_NOT_FOUND;
		}
		if (n < 4)
			return BS_ERR_NOT_FOUND; /* a delimiter: protocol v2 */
		if (at + n > len)
			break;
		line = data + at + 4;
		n -= 4;
		at += n + 4;
		if (n >= 10 && memcmp(line, "# service=", 10) == 0) {
			service = true;
			continue;
		}
		if (n >= 4 && memcmp(line, "ERR ", 4) == 0) {
			char said[201];
			size_t k;

			/* its first line, at most 200 bytes, control bytes as '?' */
			for (k = 0; k + 4 < n && k < sizeof(said) - 1 && line[4 + k] != '\n'; k++)
				said[k] = (unsigned char)line[4 + k] < ' ' || line[4 + k] == 0x7f
						  ? '?'
						  : line[4 + k];
			said[k] = '\0';
			return bs_err_set(err, BS_ERR_NOT_FOUND, "the git server says: %s", said);
		}
		if (n >= 8 && memcmp(line, "version ", 8) == 0)
			continue;
		/* the first ref line carries the capabilities */
		nul = memchr(line, '\0', n);
		if (nul == NULL)
			return BS_ERR_NOT_FOUND;
		return branch_from_caps(nul + 1, n - (size_t)(nul + 1 - line), branch);
	}
	*more = true;
	return BS_ERR_NOT_FOUND;
}

int bs_git_parse_advert(const char *data, size_t len, char **branch, struct bs_err *err)
{
	bool more;
	int rc = scan_advert(data, len, branch, &more, err);

	if (more && len > 0)
		return bs_err_set(err, BS_ERR_PROTOCOL, "the git ref advertisement is cut short");
	return rc;
}

/* "scheme://[userinfo@]host[:port]/path": the parts, each owned. */
struct git_url {
	char *scheme, *userinfo, *host, *port, *path;
};

static void git_url_free(struct git_url *u)
{
	free(u->scheme);
	bs_secure_free_str(u->userinfo);
	free(u->host);
	free(u->port);
	free(u->path);
}

static bool split_url(const char *url, struct git_url *u)
{
	const char *p = strstr(url, "://"), *auth, *slash, *at, *colon, *bracket;

	memset(u, 0, sizeof(*u));
	if (p == NULL)
		return false;
	u->scheme = bs_xstrndup(url, (size_t)(p - url));
	auth = p + 3;
	slash = strchr(auth, '/');
	if (slash == NULL || slash == auth)
		return false;
	u->path = bs_xstrdup(slash);
	at = memrchr(auth, '@', (size_t)(slash - auth));
	if (at != NULL) {
		u->userinfo = bs_xstrndup(auth, (size_t)(at - auth));
		auth = at + 1;
	}
	bracket = auth[0] == '[' ? memchr(auth, ']', (size_t)(slash - auth)) : NULL;
	colon = memrchr(bracket ? bracket : auth, ':',
			(size_t)(slash - (bracket ? bracket : auth)));
	if (bracket != NULL) {
		u->host = bs_xstrndup(auth + 1, (size_t)(bracket - auth - 1));
	} else {
		u->host = bs_xstrndup(auth, (size_t)((colon ? colon : slash) - auth));
	}
	if (colon != NULL)
		u->port = bs_xstrndup(colon + 1, (size_t)(slash - colon - 1));
	return u->host[0] != '\0';
}

/* Smart HTTP: GET PATH/info/refs?service=git-upload-pack. */
static int ask_http(const struct git_url *u, const char *shown, long timeout_ms, char **branch,
		    struct bs_err *err)
{
	struct bs_http_opts opts = BS_HTTP_OPTS_INIT;
	struct bs_http_request req;
	struct bs_http_response resp;
	struct bs_http *h = NULL;
	char *base, *path, *auth = NULL;
	const char *headers[3] = {"Accept: application/x-git-upload-pack-advertisement", NULL,
				  NULL};
	int rc;

	opts.connect_timeout_ms = timeout_ms;
	opts.request_timeout_ms = timeout_ms;
	base = u->port ? bs_xasprintf("%s://%s%s%s:%s", u->scheme, strchr(u->host, ':') ? "[" : "",
				      u->host, strchr(u->host, ':') ? "]" : "", u->port)
		       : bs_xasprintf("%s://%s%s%s", u->scheme, strchr(u->host, ':') ? "[" : "",
				      u->host, strchr(u->host, ':') ? "]" : "");
	path = bs_xasprintf("%s%sinfo/refs", u->path,
			    u->path[strlen(u->path) - 1] == '/' ? "" : "/");
	if (u->userinfo != NULL) {
		char *b64 = bs_base64_encode(u->userinfo, strlen(u->userinfo), false);

		auth = bs_xasprintf("Authorization: Basic %s", b64);
		bs_secure_free_str(b64);
		headers[1] = auth;
	}
	rc = bs_http_new_url(&h, base, &opts, err);
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.path = path;
	req.query = "service=git-upload-pack";
	req.headers = headers;
	if (rc == 0)
		rc = bs_http_request(h, &req, &resp, err);
	if (rc == 0) {
		if (resp.status == 401 || resp.status == 403)
			rc = bs_err_set(err, BS_ERR_AUTH,
					"%s: the git server refused the login (HTTP %ld)", shown,
					resp.status);
		else if (resp.status != 200)
			rc = bs_err_set(err, resp.status == 404 ? BS_ERR_NOT_FOUND : BS_ERR_API,
					"%s: the git server answered HTTP %ld", shown, resp.status);
		else if (resp.body.len > ADVERT_MAX)
			rc = bs_err_set(err, BS_ERR_PROTOCOL,
					"%s: the ref advertisement is over %d MiB", shown,
					ADVERT_MAX >> 20);
		else
			rc = bs_git_parse_advert(resp.body.data ? resp.body.data : "",
						 resp.body.len, branch, err);
		bs_http_response_free(&resp);
	}
	bs_http_free(h);
	bs_secure_free_str(auth);
	free(base);
	free(path);
	return rc;
}

static int wait_fd(int fd, short events, long long deadline)
{
	struct pollfd p = {fd, events, 0};
	long long left = deadline - bs_now_ms();
	int n;

	if (left <= 0)
		return 0;
	do
		n = poll(&p, 1, (int)left);
	while (n < 0 && errno == EINTR);
	return n;
}

/* A TCP connection to host:port within the deadline, or -1. */
static int dial(const char *host, const char *port, long long deadline)
{
	struct addrinfo hints, *res = NULL, *ai;
	int fd = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno != EINPROGRESS || wait_fd(fd, POLLOUT, deadline) <= 0 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	return fd;
}

/* The git protocol: "git-upload-pack PATH\0host=HOST\0", then the refs. */
static int ask_git(const struct git_url *u, const char *shown, long timeout_ms, char **branch,
		   struct bs_err *err)
{
	long long deadline = bs_now_ms() + timeout_ms;
	struct bs_buf req = BS_BUF_INIT, in = BS_BUF_INIT;
	size_t sent = 0;
	int fd, rc = 0;

	fd = dial(u->host, u->port ? u->port : "9418", deadline);
	if (fd < 0)
		return bs_err_set(err, BS_ERR_IO, "%s: cannot connect to the git server", shown);
	{
		char *body =
			bs_xasprintf("git-upload-pack %s%chost=%s%c", u->path, '\0', u->host, '\0');
		size_t n = strlen(u->path) + strlen(u->host) + 23;

		bs_buf_printf(&req, "%04zx", n + 4);
		bs_buf_append(&req, body, n);
		free(body);
	}
	while (sent < req.len && rc == 0) {
		ssize_t w = send(fd, req.data + sent, req.len - sent, MSG_NOSIGNAL);

		if (w > 0)
			sent += (size_t)w;
		else if (w < 0 && (errno == EAGAIN || errno == EINTR) &&
			 wait_fd(fd, POLLOUT, deadline) > 0)
			continue;
		else
			rc = bs_err_set(err, BS_ERR_IO, "%s: the git server closed the connection",
					shown);
	}
	/* read until the advertisement's first ref line has come, or its end */
	while (rc == 0) {
		char buf[4096];
		ssize_t r = recv(fd, buf, sizeof(buf), 0);
		bool more;

		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(fd, POLLIN, deadline) <= 0)
				rc = bs_err_set(err, BS_ERR_TIMEOUT,
						"%s: the git server did not answer within %ld ms",
						shown, timeout_ms);
			continue;
		}
		if (r <= 0) {
			rc = in.len == 0 ? bs_err_set(err, BS_ERR_NOT_FOUND,
						      "%s: the git server closed the connection "
						      "without refs (no such repository?)",
						      shown)
					 : bs_git_parse_advert(in.data, in.len, branch, err);
			break;
		}
		bs_buf_append(&in, buf, (size_t)r);
		if (in.len > ADVERT_MAX) {
			rc = bs_err_set(err, BS_ERR_PROTOCOL,
					"%s: the ref advertisement is too long", shown);
			break;
		}
		rc = scan_advert(in.data, in.len, branch, &more, err);
		if (more) {
			bs_err_clear(err);
			rc = 0;
			continue;
		}
		if (rc != 0 && err->msg[0] != '\0')
			bs_err_prefix(err, "%s", shown);
		break;
	}
	/* a flush ends the exchange politely; the answer does not matter */
	if (send(fd, "0000", 4, MSG_NOSIGNAL) < 0) {
		/* closing anyway */
	}
	close(fd);
	bs_buf_free(&req);
	bs_buf_free(&in);
	return rc;
}

int bs_git_default_branch(const char *url, long timeout_ms, char **branch, struct bs_err *err)
{
	struct git_url u;
	char shown[512];
	int rc;

	*branch = NULL;
	if (!split_url(url, &u) || strchr(url, '#') != NULL) {
		git_url_free(&u);
		return bs_err_set(err, BS_ERR_INVALID, "not an http(s):// or git:// URL");
	}
	snprintf(shown, sizeof(shown), "%s://%s%s", u.scheme, u.host, u.path);
	if (strcmp(u.scheme, "https") == 0 || strcmp(u.scheme, "http") == 0)
		rc = ask_http(&u, shown, timeout_ms, branch, err);
	else if (strcmp(u.scheme, "git") == 0)
		rc = ask_git(&u, shown, timeout_ms, branch, err);
	else
		rc = bs_err_set(err, BS_ERR_INVALID, "%s: only http(s):// and git:// are asked",
				shown);
	if (rc == BS_ERR_NOT_FOUND && err->msg[0] == '\0')
		bs_err_set(err, rc, "%s: HEAD names no branch (an empty repository?)", shown);
	git_url_free(&u);
	return rc;
}
