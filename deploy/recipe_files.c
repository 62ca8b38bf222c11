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
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "deploy/recipe_priv.h"
#include "provision/nodefiles.h"

char *bs_recipe_dir_of(const struct bs_rctx *ctx, const struct bs_ynode *node)
{
	const char *file = node != NULL && node->file != NULL ? node->file : ctx->recipe->file;
	const char *slash = file != NULL ? strrchr(file, '/') : NULL;

	if (node != NULL && node->file != NULL && ctx->compose_dir != NULL)
		return bs_xstrdup(ctx->compose_dir);
	if (file == NULL || strcmp(file, "-") == 0 || slash == NULL)
		return bs_xstrdup(".");
	if (slash == file)
		return bs_xstrdup("/");
	return bs_xstrndup(file, (size_t)(slash - file));
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

char *bs_recipe_mount_salt(const struct bs_recipe *r, const struct bs_mount *m)
{
	if (!m->secret)
		return NULL;
	return bs_xasprintf("secret %s %s\n", r->project ? r->project : "_", m->target);
}

bool bs_recipe_local_mount(struct bs_rctx *ctx, const struct bs_ynode *at, struct bs_mount *m)
{
	const char *project = ctx->recipe->project ? ctx->recipe->project : "_";
	char *joined = local_path_of(ctx, at, m->source);
	char resolved[PATH_MAX];
	struct bs_localtree tree;
	struct bs_err err = BS_ERR_INIT;
	struct stat st;
	const char *base;
	char *salt;

	if (ctx->recipe->provider.type == BS_PROVIDER_ENGINE) {
		rctx_error(ctx, at,
			   "%.200s: a local file is copied to the nodes over SSH, and provider "
			   "engine has none (put the file in an image, mount a named volume, or "
			   "give an absolute path that exists where the engine runs)",
			   m->source);
		free(joined);
		return false;
	}
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
	salt = bs_recipe_mount_salt(ctx->recipe, m);
	if (bs_nodefiles_read(&tree, resolved, salt, &err) != 0) {
		rctx_error(ctx, at, "%.200s: %s", m->source, err.msg);
		bs_localtree_free(&tree);
		free(salt);
		return false;
	}
	free(salt);
	base = strrchr(resolved, '/');
	base = base != NULL && base[1] != '\0' ? base + 1 : "root";
	m->local_path = bs_xstrdup(resolved);
	m->content_hash = bs_xstrdup(tree.hash);
	m->is_dir = S_ISDIR(st.st_mode);
	if (m->mode == 0)
		m->mode = m->secret ? 0600 : (int)(st.st_mode & 07777);
	free(m->source);
	m->source = bs_xasprintf("%s/%s/%.16s/%s", BS_NODE_FILES_DIR, project, tree.hash, base);
	bs_localtree_free(&tree);
	return true;
}
