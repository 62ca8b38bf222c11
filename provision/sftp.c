/*
 * sftp.c - one-file uploads over libssh2's SFTP, in non-blocking mode with
 * our own deadline (libssh2 1.10 has no read timeout, and a blocking SFTP
 * call on a dead link would hang), then back to blocking for bs_ssh_exec.
 *
 * Each upload opens the SFTP subsystem on its own channel and shuts it
 * down afterwards: bootstrap uploads a handful of small files per node,
 * and keeping no SFTP state in struct bs_ssh keeps ssh.c unaware of it.
 */
#include "provision/sftp.h"
#include "provision/ssh_priv.h"
#include "util/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <libssh2.h>
#include <libssh2_sftp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* Time allowed to close things cleanly after a failure. */
#define CLEANUP_MS 2000

struct upload {
	struct bs_ssh *s;
	LIBSSH2_SESSION *session;
	long long deadline;
	const char *path;
	struct bs_err *err;
};

/* Wait for the socket after EAGAIN; an error code when the deadline
 * passed or the run was cancelled, 0 to try again. */
static int wait_again(struct upload *u, long long deadline)
{
	volatile sig_atomic_t *cancel = bs_ssh_cancel(u->s);

	if (cancel != NULL && *cancel)
		return bs_err_set(u->err, BS_ERR_INTERRUPTED, "ssh %s: upload of %s interrupted",
				  bs_ssh_display(u->s), u->path);
	if (bs_now_ms() > deadline)
		return bs_err_set(u->err, BS_ERR_TIMEOUT,
				  "ssh %s: the upload of %s did not finish in time",
				  bs_ssh_display(u->s), u->path);
	if (bs_ssh_wait_socket(u->s, 100) < 0 && errno != EINTR)
		return bs_err_set(u->err, BS_ERR_NETWORK, "ssh %s: %s", bs_ssh_display(u->s),
				  strerror(errno));
	return 0;
}

static const char *sftp_status(unsigned long code)
{
	switch (code) {
	case LIBSSH2_FX_NO_SUCH_FILE: return "no such file or directory";
	case LIBSSH2_FX_PERMISSION_DENIED: return "permission denied";
	case LIBSSH2_FX_FILE_ALREADY_EXISTS: return "the file already exists";
	case LIBSSH2_FX_NO_SPACE_ON_FILESYSTEM: return "no space left on the device";
	case LIBSSH2_FX_QUOTA_EXCEEDED: return "quota exceeded";
	case LIBSSH2_FX_NO_CONNECTION:
	case LIBSSH2_FX_CONNECTION_LOST: return "connection lost";
	case LIBSSH2_FX_OP_UNSUPPORTED: return "operation not supported";
	default: return "failure (an existing file, or the file system refused it)";
	}
}

/* Describe the libssh2 error rc for a step. */
static int step_error(struct upload *u, LIBSSH2_SFTP *sftp, int rc, const char *step)
{
	if (rc == LIBSSH2_ERROR_SFTP_PROTOCOL && sftp != NULL)
		return bs_err_set(u->err, BS_ERR_REMOTE, "ssh %s: cannot %s %s over SFTP: %s",
				  bs_ssh_display(u->s), step, u->path,
				  sftp_status(libssh2_sftp_last_error(sftp)));
	if (rc == LIBSSH2_ERROR_CHANNEL_FAILURE || rc == LIBSSH2_ERROR_CHANNEL_REQUEST_DENIED)
		return bs_err_set(
			u->err, BS_ERR_REMOTE,
			"ssh %s: the server refused the SFTP subsystem (enable `Subsystem sftp` in its sshd_config)",
			bs_ssh_display(u->s));
	return bs_err_set(u->err, BS_ERR_NETWORK, "ssh %s: cannot %s %s over SFTP: %s",
			  bs_ssh_display(u->s), step, u->path, bs_ssh_last_error(u->s));
}

static void close_handle(struct upload *u, LIBSSH2_SFTP_HANDLE *h)
{
	long long deadline = bs_now_ms() + CLEANUP_MS;

	while (libssh2_sftp_close_handle(h) == LIBSSH2_ERROR_EAGAIN && bs_now_ms() < deadline)
		bs_ssh_wait_socket(u->s, 100);
}

static void remove_file(struct upload *u, LIBSSH2_SFTP *sftp)
{
	long long deadline = bs_now_ms() + CLEANUP_MS;

	while (libssh2_sftp_unlink_ex(sftp, u->path, (unsigned)strlen(u->path)) ==
		       LIBSSH2_ERROR_EAGAIN &&
	       bs_now_ms() < deadline)
		bs_ssh_wait_socket(u->s, 100);
}

static void shutdown_sftp(struct upload *u, LIBSSH2_SFTP *sftp)
{
	long long deadline = bs_now_ms() + CLEANUP_MS;

	while (libssh2_sftp_shutdown(sftp) == LIBSSH2_ERROR_EAGAIN && bs_now_ms() < deadline)
		bs_ssh_wait_socket(u->s, 100);
}

int bs_ssh_upload(struct bs_ssh *s, const char *remote_path, const void *data, size_t len, int mode,
		  long timeout_ms, struct bs_err *err)
{
	struct upload u;
	LIBSSH2_SFTP *sftp = NULL;
	LIBSSH2_SFTP_HANDLE *h = NULL;
	const char *p = data;
	size_t off = 0;
	bool created = false;
	int rc = 0;

	u.s = s;
	u.session = bs_ssh_session(s);
	u.deadline = bs_now_ms() + (timeout_ms > 0 ? timeout_ms : 60000);
	u.path = remote_path;
	u.err = err;
	bs_ssh_lock(s);
	libssh2_session_set_blocking(u.session, 0);
	while ((sftp = libssh2_sftp_init(u.session)) == NULL) {
		int last = libssh2_session_last_errno(u.session);

		if (last != LIBSSH2_ERROR_EAGAIN) {
			rc = step_error(&u, NULL, last, "start SFTP for");
			goto out;
		}
		rc = wait_again(&u, u.deadline);
		if (rc != 0)
			goto out;
	}
	while ((h = libssh2_sftp_open_ex(sftp, remote_path, (unsigned)strlen(remote_path),
					 LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_EXCL,
					 mode, LIBSSH2_SFTP_OPENFILE)) == NULL) {
		int last = libssh2_session_last_errno(u.session);

		if (last != LIBSSH2_ERROR_EAGAIN) {
			rc = step_error(&u, sftp, last, "create");
			goto out;
		}
		rc = wait_again(&u, u.deadline);
		if (rc != 0)
			goto out;
	}
	created = true;
	while (off < len) {
		ssize_t n = libssh2_sftp_write(h, p + off, len - off);

		if (n == LIBSSH2_ERROR_EAGAIN) {
			/* non-blocking write: call again with the same buffer */
			rc = wait_again(&u, u.deadline);
			if (rc != 0)
				goto out;
			continue;
		}
		if (n < 0) {
			rc = step_error(&u, sftp, (int)n, "write");
			goto out;
		}
		off += (size_t)n;
	}
	for (;;) {
		int c = libssh2_sftp_close_handle(h);

		if (c == 0)
			break;
		if (c != LIBSSH2_ERROR_EAGAIN) {
			h = NULL; /* freed by libssh2 even on error */
			rc = step_error(&u, sftp, c, "finish writing");
			goto out;
		}
		rc = wait_again(&u, u.deadline);
		if (rc != 0)
			goto out;
	}
	h = NULL;
	created = false; /* complete: keep it */
out:
	if (h != NULL)
		close_handle(&u, h);
	if (created && sftp != NULL)
		remove_file(&u, sftp);
	if (sftp != NULL)
		shutdown_sftp(&u, sftp);
	libssh2_session_set_blocking(u.session, 1);
	bs_ssh_unlock(s);
	return rc;
}

char *bs_ssh_temp_path(const char *tag)
{
	unsigned char rnd[8];
	char hex[17];
	size_t got = 0, i;

	while (got < sizeof(rnd)) {
		ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			abort(); /* no randomness at all: nothing sane to do */
		got += (size_t)n;
	}
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	return bs_xasprintf("/tmp/.bootstrap-%s-%s", tag, hex);
}
