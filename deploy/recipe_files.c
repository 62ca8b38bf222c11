/*
 * recipe_files.c - local files that containers mount: a bind source
 * written as a local path ("./nginx.conf:/etc/nginx/nginx.conf", "../x",
 * "~/x") in a recipe or a compose file, and compose secrets and configs
 * with file:.
 *
 * They are resolved, read and hashed when the recipe loads. Each gets a
 * content-addressed path on the node, BS_NODE_FILES_DIR/PROJECT/HASH/NAME:
 * an edited file is a new path, so a new spec hash, so a replaced
 * container, while the old container keeps reading the old copy until it
 * goes. A secret's hash is salted with the project and the target, like
 * the spec's secret values, and its content never leaves this module but
 * to be copied.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deploy/recipe_priv.h"

#define LOCAL_BYTES_MAX (64 * 1024 * 1024) /* one mount's files, in all */
#define LOCAL_ENTRIES_MAX 10000		   /* and its entries */

char *bs_recipe_dir_of(const struct bs_rctx *ctx, const struct bs_ynode *node)
{
	const char *file = node != NULL && node->file != NULL ? node->file : ctx->recipe->file;
	const char *slash = file != NULL ? strrchr(file, '/') : NULL;

	if (file == NULL || strcmp(file, "-") == 0 || slash == NULL)
		return bs_xstrdup(".");
	if (slash == file)
		return bs_xstrdup("/");
	return bs_xstrndup(file, (size_t)(slash - file));
}

struct walk {
	struct bs_buf data; /* what the hash covers: headers and contents */
	size_t entries;
	char problem[PATH_MAX + 128];
};

static int name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int skip_dots(const struct dirent *d)
{
	return strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0;
}

static int read_into(struct walk *w, const char *path, size_t size)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	char chunk[65536];
	size_t got = 0;

	if (fd < 0) {
		snprintf(w->problem, sizeof(w->problem), "cannot read %s: %s", path,
			 strerror(errno));
		return -1;
	}
	while (got < size) {
		size_t want = size - got < sizeof(chunk) ? size - got : sizeof(chunk);
		ssize_t n = read(fd, chunk, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(w->problem, sizeof(w->problem), "cannot read %s: %s", path,
				 n < 0 ? strerror(errno) : "it shrank while being read");
			close(fd);
			return -1;
		}
		bs_buf_append(&w->data, chunk, (size_t)n);
		got += (size_t)n;
	}
	explicit_bzero(chunk, sizeof(chunk));
	close(fd);
	return 0;
}

/* One entry, and below it for a directory: its header, then its content. */
static int walk(struct walk *w, const char *path, const char *rel)
{
	struct dirent **list = NULL;
	struct stat st;
	int n, i, rc = 0;

	if (++w->entries > LOCAL_ENTRIES_MAX) {
		snprintf(w->problem, sizeof(w->problem),
			 "more than %d files (mount a volume, or put them in an image)",
			 LOCAL_ENTRIES_MAX);
		return -1;
	}
	if (lstat(path, &st) != 0) {
		snprintf(w->problem, sizeof(w->problem), "cannot read %s: %s", path,
			 strerror(errno));
		return -1;
	}
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t len = readlink(path, target, sizeof(target) - 1);

		if (len < 0) {
			snprintf(w->problem, sizeof(w->problem), "cannot read the link %s: %s",
				 path, strerror(errno));
			return -1;
		}
		target[len] = '\0';
		bs_buf_printf(&w->data, "L %s %s\n", rel, target);
		return 0;
	}
	if (S_ISREG(st.st_mode)) {
		if (w->data.len + (size_t)st.st_size > LOCAL_BYTES_MAX) {
			snprintf(w->problem, sizeof(w->problem),
				 "more than %d MiB (mount a volume, or put them in an image)",
				 LOCAL_BYTES_MAX / (1024 * 1024));
			return -1;
		}
		bs_buf_printf(&w->data, "F %s %o %lld\n", rel, (unsigned)(st.st_mode & 07777),
			      (long long)st.st_size);
		return read_into(w, path, (size_t)st.st_size);
	}
	if (!S_ISDIR(st.st_mode))
		return 0; /* sockets, fifos, devices: not copied */
	bs_buf_printf(&w->data, "D %s %o\n", rel, (unsigned)(st.st_mode & 07777));
	n = scandir(path, &list, skip_dots, name_cmp);
	if (n < 0) {
		snprintf(w->problem, sizeof(w->problem), "cannot list %s: %s", path,
			 strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (rc == 0) {
			char *sub = bs_xasprintf("%s/%s", path, list[i]->d_name);
			char *subrel = bs_xasprintf("%s/%s", rel, list[i]->d_name);

			rc = walk(w, sub, subrel);
			free(sub);
			free(subrel);
		}
		free(list[i]);
	}
	free(list);
	return rc;
}

/* The local path as written, made absolute: ~/ from HOME, else against
 * the directory of the file it is written in. NULL when HOME is unset. */
static char *local_path_of(struct bs_rctx *ctx, const struct bs_ynode *at, const char *written)
{
	char *dir, *path;

	if (written[0] == '~') {
		const char *home = ctx->getenv_fn("HOME", ctx->payload);

		if (written[1] != '/' && written[1] != '\0')
			return NULL;
		return home ? bs_xasprintf("%s%s", home, written + 1) : NULL;
	}
	if (written[0] == '/')
		return bs_xstrdup(written);
	dir = bs_recipe_dir_of(ctx, at);
	while (written[0] == '.' && written[1] == '/')
		written += 2;
	path = strcmp(dir, ".") == 0 ? bs_xasprintf("./%s", written)
				     : bs_xasprintf("%s/%s", dir, written);
	free(dir);
	return path;
}

bool bs_recipe_local_mount(struct bs_rctx *ctx, const struct bs_ynode *at, struct bs_mount *m)
{
	const char *project = ctx->recipe->project ? ctx->recipe->project : "_";
	char *joined = local_path_of(ctx, at, m->source);
	char resolved[PATH_MAX], hash[65];
	struct walk w;
	struct stat st;
	const char *base;

	if (joined == NULL) {
		rctx_error(ctx, at,
			   "%.200s: ~ is the local user's home here, and HOME is not set (write "
			   "the path relative to the file, or absolute)",
			   m->source);
		return false;
	}
	if (realpath(joined, resolved) == NULL || stat(resolved, &st) != 0) {
		char *dir = bs_recipe_dir_of(ctx, at);

		rctx_error(ctx, at,
			   "%.200s: %s (a local path is relative to the directory of the file "
			   "that names it, %s: create it, or fix the path; an absolute path is "
			   "a path on the node)",
			   joined, strerror(errno), dir);
		free(dir);
		free(joined);
		return false;
	}
	free(joined);
	if (m->secret && !S_ISREG(st.st_mode)) {
		rctx_error(ctx, at, "%.200s is not a file (a secret is one file)", resolved);
		return false;
	}
	memset(&w, 0, sizeof(w));
	if (m->secret)
		bs_buf_printf(&w.data, "secret %s %s\n", project, m->target);
	if (walk(&w, resolved, ".") != 0) {
		rctx_error(ctx, at, "%.200s: %s", m->source, w.problem);
		bs_buf_wipe_free(&w.data);
		return false;
	}
	bs_sha256_hex(w.data.data, w.data.len, hash);
	bs_buf_wipe_free(&w.data);
	base = strrchr(resolved, '/');
	base = base != NULL && base[1] != '\0' ? base + 1 : "root";
	m->local_path = bs_xstrdup(resolved);
	m->content_hash = bs_xstrdup(hash);
	m->is_dir = S_ISDIR(st.st_mode);
	if (m->mode == 0)
		m->mode = m->secret ? 0600 : (int)(st.st_mode & 07777);
	free(m->source);
	m->source = bs_xasprintf("%s/%s/%.16s/%s", BS_NODE_FILES_DIR, project, hash, base);
	return true;
}
