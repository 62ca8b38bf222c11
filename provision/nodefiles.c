/*
 * nodefiles.c - local files copied to a node (nodefiles.h): the walk that
 * reads and hashes them, the one command that finds what the node has,
 * the archive upload and the root command that renames copies into place.
 *
 * The remote scripts run with sh as root (bs_dockerhost_wrap); every value
 * in them is quoted with bs_shell_quote, and none is file content.
 */
#include "provision/nodefiles.h"
#include "provision/dockerhost.h"
#include "provision/sftp.h"
#include "provision/ssh_priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define COMMAND_MS 60000L
#define SUDO_FAILED_EXIT 97 /* bs_dockerhost_wrap's */

/* ---- the local walk ---------------------------------------------------- */

static struct bs_localtree_entry *add_entry(struct bs_localtree *t, enum bs_tar_kind kind,
					    const char *rel, unsigned mode)
{
	struct bs_localtree_entry *e;

	bs_xgrow((void **)&t->entries, &t->cap, t->n + 1, sizeof(*t->entries));
	e = &t->entries[t->n++];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->rel = bs_xstrdup(rel);
	e->mode = mode;
	return e;
}

static int read_content(struct bs_localtree *t, const char *path, size_t size, struct bs_err *err)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	char chunk[65536];
	size_t got = 0;
	int rc = 0;

	if (fd < 0)
		return bs_err_set(err, BS_ERR_IO, "cannot read %s: %s", path, strerror(errno));
	while (got < size) {
		size_t want = size - got < sizeof(chunk) ? size - got : sizeof(chunk);
		ssize_t n = read(fd, chunk, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = bs_err_set(err, BS_ERR_IO, "cannot read %s: %s", path,
					n < 0 ? strerror(errno) : "it shrank while being read");
			break;
		}
		bs_buf_append(&t->data, chunk, (size_t)n);
		got += (size_t)n;
	}
	explicit_bzero(chunk, sizeof(chunk));
	close(fd);
	return rc;
}

static int name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int skip_dots(const struct dirent *d)
{
	return strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0;
}

/* One entry, and below it for a directory: its header line, then its
 * content. The header formats are the content hash's definition: changing
 * them changes every node path. */
static int walk(struct bs_localtree *t, const char *path, const char *rel, struct bs_err *err)
{
	struct dirent **list = NULL;
	struct stat st;
	int n, i, rc = 0;

	if (t->n + 1 > BS_NODEFILES_ENTRIES_MAX)
		return bs_err_set(err, BS_ERR_IO,
				  "more than %d files (mount a volume, or put them in an image)",
				  BS_NODEFILES_ENTRIES_MAX);
	if (lstat(path, &st) != 0)
		return bs_err_set(err, BS_ERR_IO, "cannot read %s: %s", path, strerror(errno));
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t len = readlink(path, target, sizeof(target) - 1);

		if (len < 0)
			return bs_err_set(err, BS_ERR_IO, "cannot read the link %s: %s", path,
					  strerror(errno));
		target[len] = '\0';
		add_entry(t, BS_TAR_SYMLINK, rel, 0777)->link = bs_xstrdup(target);
		bs_buf_printf(&t->data, "L %s %s\n", rel, target);
		return 0;
	}
	if (S_ISREG(st.st_mode)) {
		struct bs_localtree_entry *e;

		if (t->data.len + (size_t)st.st_size > BS_NODEFILES_BYTES_MAX)
			return bs_err_set(
				err, BS_ERR_IO,
				"more than %d MiB (mount a volume, or put them in an image)",
				BS_NODEFILES_BYTES_MAX / (1024 * 1024));
		e = add_entry(t, BS_TAR_FILE, rel, (unsigned)(st.st_mode & 07777));
		bs_buf_printf(&t->data, "F %s %o %lld\n", rel, (unsigned)(st.st_mode & 07777),
			      (long long)st.st_size);
		e->offset = t->data.len;
		e->size = (size_t)st.st_size;
		return read_content(t, path, (size_t)st.st_size, err);
	}
	if (!S_ISDIR(st.st_mode))
		return 0; /* sockets, fifos, devices: not copied */
	add_entry(t, BS_TAR_DIR, rel, (unsigned)(st.st_mode & 07777));
	bs_buf_printf(&t->data, "D %s %o\n", rel, (unsigned)(st.st_mode & 07777));
	n = scandir(path, &list, skip_dots, name_cmp);
	if (n < 0)
		return bs_err_set(err, BS_ERR_IO, "cannot list %s: %s", path, strerror(errno));
	for (i = 0; i < n; i++) {
		if (rc == 0) {
			char *sub = bs_xasprintf("%s/%s", path, list[i]->d_name);
			char *subrel = bs_xasprintf("%s/%s", rel, list[i]->d_name);

			rc = walk(t, sub, subrel, err);
			free(sub);
			free(subrel);
		}
		free(list[i]);
	}
	free(list);
	return rc;
}

int bs_nodefiles_read(struct bs_localtree *out, const char *path, const char *salt,
		      struct bs_err *err)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (salt != NULL)
		bs_buf_puts(&out->data, salt);
	rc = walk(out, path, ".", err);
	if (rc == 0)
		bs_sha256_hex(out->data.data, out->data.len, out->hash);
	return rc;
}

void bs_localtree_free(struct bs_localtree *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->entries[i].rel);
		free(t->entries[i].link);
	}
	free(t->entries);
	bs_buf_wipe_free(&t->data);
	memset(t, 0, sizeof(*t));
}

/* ---- remote commands ----------------------------------------------------- */

static bool good_component(const char *s, size_t len)
{
	if (len == 0 || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	return memchr(s, '/', len) == NULL && memchr(s, '\n', len) == NULL;
}

/* remote_path must be DIR/HASH/NAME; *hash and *name point into it. */
static int split_remote(const char *dir, const char *remote, const char **hash, size_t *hash_len,
			const char **name, struct bs_err *err)
{
	size_t dlen = strlen(dir);
	const char *slash;

	if (strncmp(remote, dir, dlen) != 0 || remote[dlen] != '/')
		goto bad;
	*hash = remote + dlen + 1;
	slash = strchr(*hash, '/');
	if (slash == NULL)
		goto bad;
	*hash_len = (size_t)(slash - *hash);
	*name = slash + 1;
	if (!good_component(*hash, *hash_len) || (*hash)[0] == '.' ||
	    !good_component(*name, strlen(*name)))
		goto bad;
	return 0;
bad:
	return bs_err_set(err, BS_ERR_INVALID, "%s is not a path of the form %s/HASH/NAME", remote,
			  dir);
}

/* Run script as root; a non-zero exit is BS_ERR_REMOTE naming what. */
static int run_root(struct bs_ssh *s, const struct bs_nodefiles_opts *o, const char *script,
		    const char *what, long timeout_ms, struct bs_ssh_result *r, struct bs_err *err)
{
	char *cmd = bs_dockerhost_wrap(script, o->sudo);
	volatile sig_atomic_t *cancel = bs_ssh_cancel(s);
	int rc;

	memset(r, 0, sizeof(*r));
	if (cancel != NULL && *cancel) {
		free(cmd);
		return bs_err_set(err, BS_ERR_INTERRUPTED, "%s: interrupted", what);
	}
	rc = bs_ssh_exec(s, cmd, timeout_ms, r, err);
	free(cmd);
	if (rc != 0) {
		bs_err_prefix(err, "%s", what);
		return rc;
	}
	if (r->signal == NULL && r->exit_status == SUDO_FAILED_EXIT &&
	    strstr(bs_buf_str(&r->out), "bs-sudo-failed=") != NULL)
		return bs_err_set(err, BS_ERR_AUTH,
				  "%s: `sudo -n` was refused (give the SSH user passwordless sudo, "
				  "or log in as root)",
				  what);
	if (r->signal != NULL || r->exit_status != 0) {
		const char *e = bs_buf_str(&r->err);
		size_t len = strcspn(e, "\n");

		return bs_err_set(err, BS_ERR_REMOTE, "%s failed (%s %d): %.*s", what,
				  r->signal ? "signal" : "exit", r->signal ? 0 : r->exit_status,
				  (int)(len > 300 ? 300 : len), e);
	}
	return 0;
}

static void append_quoted(struct bs_buf *b, const char *s)
{
	char *q = bs_shell_quote(s);

	bs_buf_puts(b, q);
	free(q);
}

static long command_ms(const struct bs_nodefiles_opts *o)
{
	return o->timeout_ms > 0 ? o->timeout_ms : COMMAND_MS;
}

/* The check: "have I" for each file that exists, "entry NAME" for each
 * folder of DIR. */
static char *check_script(const struct bs_nodefiles_opts *o)
{
	struct bs_buf b = BS_BUF_INIT;

	bs_buf_puts(&b, "d=");
	append_quoted(&b, o->dir);
	bs_buf_puts(&b, "\ni=0\nfor p in");
	for (size_t i = 0; i < o->n_files; i++) {
		bs_buf_putc(&b, ' ');
		append_quoted(&b, o->files[i].remote_path);
	}
	bs_buf_puts(&b, "; do\n"
			"  if [ -e \"$p\" ] || [ -h \"$p\" ]; then echo \"have $i\"; fi\n"
			"  i=$((i+1))\n"
			"done\n"
			"[ -d \"$d\" ] || exit 0\n"
			"for e in \"$d\"/* \"$d\"/.[!.]*; do\n"
			"  if [ -e \"$e\" ] || [ -h \"$e\" ]; then echo \"entry ${e##*/}\"; fi\n"
			"done\n");
	return bs_buf_detach(&b);
}

static bool used_hash(const struct bs_nodefiles_opts *o, const char *name, size_t len)
{
	for (size_t i = 0; i < o->n_files; i++) {
		const char *h, *n;
		size_t hl;
		struct bs_err ignored = BS_ERR_INIT;

		if (split_remote(o->dir, o->files[i].remote_path, &h, &hl, &n, &ignored) == 0 &&
		    hl == len && memcmp(h, name, len) == 0)
			return true;
	}
	return false;
}

static void parse_check(const struct bs_nodefiles_opts *o, const char *out, bool *have,
			struct bs_nodefiles_state *state)
{
	const char *p = out;

	while (*p != '\0') {
		size_t len = strcspn(p, "\n");

		if (len > 5 && strncmp(p, "have ", 5) == 0) {
			char *end;
			unsigned long i = strtoul(p + 5, &end, 10);

			if (end == p + len && i < o->n_files)
				have[i] = true;
		} else if (len > 6 && strncmp(p, "entry ", 6) == 0 &&
			   good_component(p + 6, len - 6) && !used_hash(o, p + 6, len - 6)) {
			char *name = bs_xstrndup(p + 6, len - 6);

			bs_strv_add_unique(&state->stale, name);
			free(name);
		}
		p += len;
		if (*p == '\n')
			p++;
	}
}

int bs_nodefiles_pack(struct bs_buf *tar, const struct bs_nodefile *f, const char *prefix,
		      long long mtime, struct bs_err *err)
{
	const char *name = strrchr(f->remote_path, '/');
	struct bs_localtree t;
	int rc;

	name = name != NULL ? name + 1 : f->remote_path;
	rc = bs_nodefiles_read(&t, f->local_path, f->salt, err);
	if (rc != 0) {
		bs_err_prefix(err, "%s", f->local_path);
		goto out;
	}
	if (strcmp(t.hash, f->content_hash) != 0) {
		rc = bs_err_set(err, BS_ERR_IO,
				"%s was edited during the run (its content differs from when the "
				"recipe was read): run again",
				f->local_path);
		goto out;
	}
	if (t.n == 0 || t.entries[0].kind != (f->is_dir ? BS_TAR_DIR : BS_TAR_FILE)) {
		rc = bs_err_set(err, BS_ERR_IO, "%s is no longer a %s: run again", f->local_path,
				f->is_dir ? "directory" : "file");
		goto out;
	}
	for (size_t k = 0; k < t.n && rc == 0; k++) {
		const struct bs_localtree_entry *e = &t.entries[k];
		char *path = bs_xasprintf("%s/%s%s", prefix, name, e->rel + 1);
		struct bs_tar_item item;

		memset(&item, 0, sizeof(item));
		item.kind = e->kind;
		item.name = path;
		item.link_name = e->link;
		item.mode = k == 0 && !f->is_dir ? f->mode : e->mode;
		item.mtime = mtime;
		if (e->kind == BS_TAR_FILE) {
			item.data = t.data.data + e->offset;
			item.size = e->size;
		}
		rc = bs_tar_add(tar, &item, err);
		if (rc != 0)
			bs_err_prefix(err, "%s", f->local_path);
		free(path);
	}
out:
	bs_localtree_free(&t);
	return rc;
}

/* Unpack the archive in a staging folder of DIR, then rename each copy
 * into its hash folder; the staging folder and the upload go in any case. */
static char *install_script(const struct bs_nodefiles_opts *o, const char *upload, const bool *have)
{
	struct bs_buf b = BS_BUF_INIT;

	bs_buf_puts(&b, "set -e\numask 077\n"
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH\n"
			"u=");
	append_quoted(&b, upload);
	bs_buf_puts(&b, "\nd=");
	append_quoted(&b, o->dir);
	bs_buf_puts(&b, "\nt=\n"
			"trap 'rm -f \"$u\"; [ -z \"$t\" ] || rm -rf \"$t\"' EXIT\n"
			/* a hang-up (the channel closed on a timeout) or a signal
			 * runs the clean-up too: dash runs EXIT traps only on exit */
			"trap 'exit 129' HUP INT TERM\n"
			"mkdir -p \"$d\"\nchmod 0700 \"$d\"\n"
			"t=$(mktemp -d \"$d/.partial.XXXXXX\")\n"
			"tar -x --no-same-owner -f \"$u\" -C \"$t\"\n");
	for (size_t i = 0; i < o->n_files; i++) {
		const char *h, *n;
		size_t hl;
		struct bs_err ignored = BS_ERR_INIT;
		char *hash;

		if (have[i])
			continue;
		split_remote(o->dir, o->files[i].remote_path, &h, &hl, &n, &ignored);
		hash = bs_xstrndup(h, hl);
		bs_buf_puts(&b, "mkdir -p \"$d\"/");
		append_quoted(&b, hash);
		bs_buf_printf(&b, "\nchmod 0700 \"$d\"/");
		append_quoted(&b, hash);
		bs_buf_printf(&b, "\nmv -T \"$t\"/%zu/", i);
		append_quoted(&b, n);
		bs_buf_putc(&b, ' ');
		append_quoted(&b, o->files[i].remote_path);
		bs_buf_putc(&b, '\n');
		free(hash);
	}
	return bs_buf_detach(&b);
}

/* The same remote path twice is copied once: the first one stands for it. */
static void mark_duplicates(const struct bs_nodefiles_opts *o, bool *have)
{
	for (size_t i = 0; i < o->n_files; i++)
		for (size_t k = 0; k < i && !have[i]; k++)
			if (strcmp(o->files[k].remote_path, o->files[i].remote_path) == 0)
				have[i] = true;
}

int bs_nodefiles_ship(struct bs_ssh *s, const struct bs_nodefiles_opts *o,
		      struct bs_nodefiles_state *state, struct bs_err *err)
{
	struct bs_ssh_result r;
	struct bs_buf tar = BS_BUF_INIT;
	bool *have = NULL;
	char *script = NULL, *upload = NULL, *what, *prefix;
	size_t missing = 0, i;
	long upload_ms;
	int rc = 0;

	memset(state, 0, sizeof(*state));
	memset(&r, 0, sizeof(r));
	what = bs_xasprintf("ssh %s: copying local files", bs_ssh_display(s));
	if (o->dir == NULL || o->dir[0] != '/' || strstr(o->dir, "/..") != NULL) {
		rc = bs_err_set(err, BS_ERR_INVALID, "%s: %s is not an absolute folder", what,
				o->dir ? o->dir : "(none)");
		goto out;
	}
	for (i = 0; i < o->n_files; i++) {
		const char *h, *n;
		size_t hl;

		rc = split_remote(o->dir, o->files[i].remote_path, &h, &hl, &n, err);
		if (rc != 0)
			goto out;
	}
	have = bs_xcalloc(o->n_files ? o->n_files : 1, sizeof(*have));
	script = check_script(o);
	rc = run_root(s, o, script, what, command_ms(o), &r, err);
	if (rc != 0)
		goto out;
	parse_check(o, bs_buf_str(&r.out), have, state);
	mark_duplicates(o, have);
	for (i = 0; i < o->n_files; i++) {
		if (have[i])
			continue;
		missing++;
		if (o->dry_run) {
			if (o->copied != NULL)
				o->copied(&o->files[i], false, o->payload);
			continue;
		}
		prefix = bs_xasprintf("%zu", i);
		rc = bs_nodefiles_pack(&tar, &o->files[i], prefix, (long long)time(NULL), err);
		free(prefix);
		if (rc != 0)
			goto out;
	}
	if (o->dry_run || missing == 0)
		goto out;
	bs_tar_end(&tar);
	upload = bs_ssh_temp_path("files");
	upload_ms = command_ms(o) + (long)(tar.len / (1024 * 1024)) * 1000;
	rc = bs_ssh_upload(s, upload, tar.data, tar.len, 0600, upload_ms, err);
	if (rc != 0) {
		bs_err_prefix(err, "%s: upload", what);
		goto out;
	}
	free(script);
	script = install_script(o, upload, have);
	bs_ssh_result_free(&r);
	rc = run_root(s, o, script, what, upload_ms, &r, err);
	if (rc != 0)
		goto out;
	for (i = 0; i < o->n_files; i++) {
		if (have[i])
			continue;
		state->copied++;
		if (o->copied != NULL)
			o->copied(&o->files[i], true, o->payload);
	}
out:
	bs_ssh_result_free(&r);
	bs_buf_wipe_free(&tar);
	free(have);
	free(script);
	free(upload);
	free(what);
	return rc;
}

int bs_nodefiles_prune(struct bs_ssh *s, const struct bs_nodefiles_opts *o,
		       const struct bs_nodefiles_state *state, struct bs_err *err)
{
	struct bs_buf b = BS_BUF_INIT;
	struct bs_ssh_result r;
	char *what;
	int rc;

	if (state->stale.n == 0)
		return 0;
	bs_buf_puts(&b, "set -e\nd=");
	append_quoted(&b, o->dir);
	bs_buf_puts(&b, "\nfor e in");
	for (size_t i = 0; i < state->stale.n; i++) {
		bs_buf_putc(&b, ' ');
		append_quoted(&b, state->stale.v[i]);
	}
	bs_buf_puts(&b, "; do rm -rf -- \"$d/$e\"; done\n");
	what = bs_xasprintf("ssh %s: removing old copies of local files", bs_ssh_display(s));
	rc = run_root(s, o, bs_buf_str(&b), what, command_ms(o), &r, err);
	bs_ssh_result_free(&r);
	bs_buf_free(&b);
	free(what);
	return rc;
}

int bs_nodefiles_remove(struct bs_ssh *s, const struct bs_nodefiles_opts *o, struct bs_err *err)
{
	struct bs_ssh_result r;
	char *q = bs_shell_quote(o->dir);
	char *script = bs_xasprintf("rm -rf -- %s", q);
	char *what = bs_xasprintf("ssh %s: removing %s", bs_ssh_display(s), o->dir);
	int rc;

	rc = run_root(s, o, script, what, command_ms(o), &r, err);
	bs_ssh_result_free(&r);
	free(q);
	free(script);
	free(what);
	return rc;
}

void bs_nodefiles_state_free(struct bs_nodefiles_state *state)
{
	bs_strv_free(&state->stale);
	memset(state, 0, sizeof(*state));
}
