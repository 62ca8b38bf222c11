/*
 * recipe_images.c - the images: section (images pulled, or built on the
 * nodes from git or from a local context directory, and where they are
 * prepared), image references and git build URLs, and the cross check of
 * images against the containers that use them.
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "container/context.h"
#include "deploy/recipe_priv.h"
#include "util/url.h"

/* ---- image references ------------------------------------------------- */

static bool repo_component_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[len - 1]))
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(islower(c) || isdigit(c) || c == '.' || c == '_' || c == '-'))
			return false;
		if (c == '.' && i + 1 < len && !isalnum((unsigned char)s[i + 1]))
			return false;
	}
	return true;
}

/*
 * Check "[registry/]path[:tag][@sha256:hex]". Returns NULL when valid, or
 * the explanation. *has_tag tells whether a tag or digest pins it.
 */
const char *bs_image_ref_problem(const char *ref, bool *has_tag)
{
	const char *at = strchr(ref, '@');
	const char *slash, *colon, *p, *comp;
	size_t name_len, i;

	*has_tag = false;
	if (ref[0] == '\0')
		return "empty image reference";
	if (at != NULL) {
		const char *hex = at + 1;

		if (!bs_str_starts_with(hex, "sha256:") || strlen(hex) != 71)
			return "a digest is @sha256: followed by 64 hex digits";
		for (i = 7; i < 71; i++)
			if (!isxdigit((unsigned char)hex[i]) || isupper((unsigned char)hex[i]))
				return "a digest is @sha256: followed by 64 lowercase hex digits";
		*has_tag = true;
		name_len = (size_t)(at - ref);
	} else {
		name_len = strlen(ref);
	}
	slash = NULL;
	for (p = ref; p < ref + name_len; p++)
		if (*p == '/')
			slash = p;
	colon = NULL;
	for (p = slash ? slash : ref; p < ref + name_len; p++)
		if (*p == ':')
			colon = p;
	if (colon != NULL) {
		size_t tag_len = (size_t)(ref + name_len - colon - 1);

		if (tag_len == 0 || tag_len > 128)
			return "a tag is 1 to 128 characters after ':'";
		if (!(isalnum((unsigned char)colon[1]) || colon[1] == '_'))
			return "a tag starts with a letter, digit or '_'";
		for (p = colon + 1; p < ref + name_len; p++)
			if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '.' || *p == '-'))
				return "a tag holds only letters, digits, '_', '.' and '-'";
		*has_tag = true;
		name_len = (size_t)(colon - ref);
	}
	comp = ref;
	/* a first component with '.' or ':' or "localhost" names a registry */
	slash = memchr(ref, '/', name_len);
	if (slash != NULL) {
		size_t len = (size_t)(slash - ref);

		if (memchr(ref, '.', len) || memchr(ref, ':', len) ||
		    (len == 9 && memcmp(ref, "localhost", 9) == 0)) {
			for (p = ref; p < slash; p++)
				if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '-' ||
				      *p == ':' || *p == '[' || *p == ']'))
					return "the registry part holds only a host name and port";
			comp = slash + 1;
		}
	}
	while (comp < ref + name_len) {
		const char *end = memchr(comp, '/', (size_t)(ref + name_len - comp));
		size_t len = end ? (size_t)(end - comp) : (size_t)(ref + name_len - comp);

		for (i = 0; i < len; i++)
			if (isupper((unsigned char)comp[i]))
				return "repository names are lowercase";
		if (!repo_component_ok(comp, len))
			return "repository names are lowercase letters and digits, separated by '.', '_', '-' or '/'";
		if (end == NULL)
			break;
		comp = end + 1;
		if (comp == ref + name_len)
			return "the name ends with '/'";
	}
	return NULL;
}

/* The repository part of a reference (without tag or digest); caller frees. */
static char *image_repo(const char *ref)
{
	const char *at = strchr(ref, '@');
	size_t len = at ? (size_t)(at - ref) : strlen(ref);
	const char *slash = NULL, *colon = NULL, *p;

	for (p = ref; p < ref + len; p++)
		if (*p == '/')
			slash = p;
	for (p = slash ? slash : ref; p < ref + len; p++)
		if (*p == ':')
			colon = p;
	if (colon != NULL)
		len = (size_t)(colon - ref);
	return bs_xstrndup(ref, len);
}

bool bs_recipe_check_image_ref(struct bs_rctx *ctx, const struct bs_ynode *at, const char *ref)
{
	bool has_tag;
	const char *problem = bs_image_ref_problem(ref, &has_tag);

	if (problem != NULL) {
		rctx_error(
			ctx, at,
			"'%.200s' is not a valid image reference: %s (like nginx:1.25 or registry.example.com/shop/app:1.4)",
			ref, problem);
		return false;
	}
	if (!has_tag)
		rctx_warn(
			ctx, at,
			"'%.200s' has no tag, so :latest is used and re-runs cannot tell versions apart (pin a tag, like %.200s:1.0)",
			ref, ref);
	return true;
}

/* A table check: the key's field (a char *) is an image reference; an
 * invalid one is reported and dropped, so that no later check repeats it. */
void bs_recipe_check_image_key(struct bs_rctx *ctx, const struct rkey *key,
			       const struct bs_ynode *at, void *section)
{
	char **ref = (char **)((char *)section + key->field);

	if (!bs_recipe_check_image_ref(ctx, at, *ref)) {
		free(*ref);
		*ref = NULL;
	}
}

/* ---- git build contexts ----------------------------------------------- */

static const char *git_url_problem(const char *url)
{
	const char *hash = strchr(url, '#');
	size_t len = hash ? (size_t)(hash - url) : strlen(url);

	if (bs_url_login_in_clear(url))
		return "its login would cross the network in clear text (use https:// or ssh://)";
	if (bs_str_starts_with(url, "git://") || bs_str_starts_with(url, "git@") ||
	    bs_str_starts_with(url, "ssh://"))
		return NULL;
	if (bs_str_starts_with(url, "https://") || bs_str_starts_with(url, "http://")) {
		if (len >= 4 && memcmp(url + len - 4, ".git", 4) == 0)
			return NULL;
		return "Docker treats an http(s) URL as a git repository only when its path ends in .git (add .git before any #ref)";
	}
	return "not a git URL (use https://HOST/PATH.git, git://, ssh:// or git@HOST:PATH, with #ref:subdir if needed)";
}

/* The git URL of a build (a login in it is a secret). */
static void read_git_url(struct bs_rctx *ctx, const struct bs_ynode *git, struct bs_image *img)
{
	const char *problem;
	char *login;

	if (git->bad || !rctx_want_scalar(ctx, git))
		return;
	login = bs_url_userinfo_secret(git->value);
	/* a token in the URL is a secret like any other */
	if (login != NULL)
		bs_strv_add_unique(&ctx->recipe->secrets, login);
	bs_secure_free_str(login);
	problem = git_url_problem(git->value);
	if (problem != NULL)
		rctx_error(ctx, git, "'%.200s': %s", git->value, problem);
	else
		img->build_git = bs_xstrdup(git->value);
}

/* ---- local build contexts --------------------------------------------- */

/* The context directory: absolute, a relative one from the recipe's
 * directory; NULL (reported) when it is not a directory. */
static char *context_dir(struct bs_rctx *ctx, const struct bs_ynode *at)
{
	const char *file = ctx->file ? ctx->file : ctx->recipe->file;
	const char *slash = file ? strrchr(file, '/') : NULL;
	char *joined, *resolved;
	struct stat st;

	if (at->value[0] == '/' || slash == NULL)
		joined = bs_xstrdup(at->value);
	else
		joined = bs_xasprintf("%.*s/%s", (int)(slash - file), file, at->value);
	resolved = realpath(joined, NULL);
	if (resolved == NULL || stat(resolved, &st) != 0 || !S_ISDIR(st.st_mode)) {
		const char *why = resolved != NULL  ? "is not a directory"
				  : errno == ENOENT ? "does not exist"
						    : strerror(errno);

		rctx_error(ctx, at,
			   "the build context '%.200s' (%.300s) %s (context: names the directory "
			   "that holds the Dockerfile, relative to the recipe's directory)",
			   at->value, resolved ? resolved : joined, why);
		free(resolved);
		resolved = NULL;
	}
	free(joined);
	return resolved;
}

/* context: DIR: the absolute directory, and the hash of the context it
 * sends now (read whole, .dockerignore honoured). */
static void read_context(struct bs_rctx *ctx, const struct bs_ynode *at, struct bs_image *img)
{
	struct bs_context_opts opts = BS_CONTEXT_OPTS_INIT;
	struct bs_context context;
	struct bs_err err = BS_ERR_INIT;
	char *dir;

	if (at->bad || !rctx_want_scalar(ctx, at))
		return;
	dir = context_dir(ctx, at);
	if (dir == NULL)
		return;
	opts.dockerfile = img->build_dockerfile;
	if (bs_context_read(&context, dir, &opts, &err) != 0) {
		rctx_error(ctx, at, "%s", err.msg);
		free(dir);
		return;
	}
	img->build_context = dir;
	img->context_hash = bs_xstrdup(context.hash);
	bs_context_free(&context);
}

/* build: {git: URL#ref:dir | context: DIR, dockerfile, target, args}, or
 * the git URL alone. */
static void read_build(struct bs_rctx *ctx, const struct rkey *key, const struct bs_ynode *map,
		       void *section)
{
	static const char *const build_keys[] = {"git",	   "context", "dockerfile",
						 "target", "args",    NULL};
	struct bs_image *img = section;
	const struct bs_ynode *build = bs_ynode_get(map, key->key);
	const struct bs_ynode *git = build, *context = NULL;
	size_t saved;

	if (build == NULL || bs_ynode_is_null(build))
		return;
	saved = rctx_push_key(ctx, key->key);
	if (build->kind == BS_YNODE_MAP) {
		rctx_check_keys(ctx, build, build_keys);
		git = bs_ynode_get(build, "git");
		context = bs_ynode_get(build, "context");
		if (git != NULL && bs_ynode_is_null(git))
			git = NULL;
		if (context != NULL && bs_ynode_is_null(context))
			context = NULL;
		rctx_get_str(ctx, build, "dockerfile", NULL, &img->build_dockerfile);
		rctx_get_str(ctx, build, "target", NULL, &img->build_target);
		rctx_get_kvlist(ctx, build, "args", "build argument", false, &img->build_args);
		if (git == NULL && context == NULL)
			rctx_missing(ctx, build, "git",
				     "git: https://HOST/PATH.git#ref, or context: ./DIR");
		if (git != NULL && context != NULL) {
			size_t s2 = rctx_push_key(ctx, "context");

			rctx_error(
				ctx, context,
				"a build has one context: a local directory or a git URL (remove "
				"context: or git:)");
			rctx_pop(ctx, s2);
			context = NULL;
		}
	}
	if (git != NULL) {
		size_t s2 = git != build ? rctx_push_key(ctx, "git") : ctx->path_len;

		read_git_url(ctx, git, img);
		rctx_pop(ctx, s2);
	}
	if (context != NULL) {
		size_t s2 = rctx_push_key(ctx, "context");

		read_context(ctx, context, img);
		rctx_pop(ctx, s2);
	}
	rctx_pop(ctx, saved);
	if (bs_ynode_get(map, "pull") != NULL) {
		saved = rctx_push_key(ctx, "pull");
		rctx_error(ctx, bs_ynode_get(map, "pull"),
			   "an image built from %s is not pulled (remove pull, or remove build)",
			   context != NULL ? "a local context" : "git");
		rctx_pop(ctx, saved);
	}
}

_Static_assert(sizeof(enum bs_pull_policy) == sizeof(int), "RK_CHOICE stores an int");

#define IMAGE(field) offsetof(struct bs_image, field)

/* clang-format off */
static const struct rkey image_keys[] = {
	{"name", RK_STR, .field = IMAGE(name), .arg = "name: REPOSITORY:TAG", .check = bs_recipe_check_image_key},
	{"pull", RK_CHOICE, .field = IMAGE(pull), .arg = bs_pull_policy_names},
	{"nodes", RK_SELECTORS, .field = IMAGE(nodes)},
	{"build", RK_FN, .check = read_build},
	{.key = NULL},
};
/* clang-format on */

static void parse_image(struct bs_rctx *ctx, const struct bs_ynode *map, struct bs_image *img)
{
	/* the order the message about an unknown key lists them in */
	static const char *const keys[] = {"name", "pull", "build", "nodes", NULL};

	img->loc = rctx_loc(map);
	rctx_read_keys(ctx, map, keys, image_keys, img);
}

/* One entry of images:, named once. */
static void parse_image_item(struct bs_rctx *ctx, const struct bs_ynode *map)
{
	struct bs_recipe *r = ctx->recipe;
	struct bs_image *img = &r->images[r->n_images++];

	parse_image(ctx, map, img);
	for (size_t j = 0; img->name && j + 1 < r->n_images; j++)
		if (r->images[j].name && strcmp(r->images[j].name, img->name) == 0) {
			size_t saved = rctx_push_key(ctx, "name");

			rctx_error(ctx, bs_ynode_get(map, "name"),
				   "image %.200s is defined twice (first at line %d); keep one",
				   img->name, r->images[j].loc.line);
			rctx_pop(ctx, saved);
		}
}

void bs_recipe_parse_images(struct bs_rctx *ctx, const struct bs_ynode *seq)
{
	rctx_read_list(ctx, seq, "images", (void **)&ctx->recipe->images, sizeof(struct bs_image),
		       parse_image_item);
}

/* Container j uses image i: is the image prepared on every node it runs on? */
static void check_prepared(struct bs_rctx *ctx, size_t i, size_t j)
{
	const struct bs_recipe *r = ctx->recipe;
	const struct bs_image *img = &r->images[i];
	const struct bs_container *c = &r->containers[j];

	for (size_t k = 0; k < r->n_nodes; k++) {
		bool prepared = false;

		if (!bs_container_selects(c, &r->nodes[k]))
			continue;
		for (size_t s = 0; s < img->nodes.n; s++)
			prepared = prepared || bs_selector_matches(&img->nodes.v[s], &r->nodes[k]);
		if (!prepared) {
			rctx_set_path(ctx, "containers[%zu].nodes", j);
			rctx_error_loc(
				ctx, c->nodes_loc,
				"container %s runs on node %s, but image %s is only prepared on the nodes of images[%zu] (add the node there, or narrow the container's nodes)",
				c->name ? c->name : "?", r->nodes[k].name, img->name, i);
			return;
		}
	}
}

/* Image i: its node selectors, a container that uses it, prepared where
 * they run. */
static void check_image_use(struct bs_rctx *ctx, size_t i)
{
	const struct bs_recipe *r = ctx->recipe;
	const struct bs_image *img = &r->images[i];
	bool used = false;
	size_t j;

	rctx_check_selectors(ctx, &img->nodes, "images", i);
	if (img->name == NULL)
		return;
	for (j = 0; j < r->n_containers; j++) {
		const struct bs_container *c = &r->containers[j];

		if (c->image == NULL || strcmp(c->image, img->name) != 0)
			continue;
		used = true;
		if (img->nodes.n > 0)
			check_prepared(ctx, i, j);
	}
	for (j = 0; j < r->n_containers && !used; j++) /* the domain proxy's */
		used = r->containers[j].domain != NULL && r->domains.proxy != NULL &&
		       strcmp(r->domains.proxy, img->name) == 0;
	rctx_set_path(ctx, "images[%zu]", i);
	if (!used)
		rctx_error_loc(
			ctx, img->loc,
			"image %s is defined but no container uses it (use it in a container's image, or remove it)",
			img->name);
}

/* A container image that misses a defined one by its tag or a typo. */
static void check_undefined_images(struct bs_rctx *ctx)
{
	const struct bs_recipe *r = ctx->recipe;
	size_t i, j;

	for (j = 0; j < r->n_containers; j++) {
		const struct bs_container *c = &r->containers[j];
		char *repo;
		bool defined = false;

		if (c->image == NULL || r->n_images == 0)
			continue;
		for (i = 0; i < r->n_images && !defined; i++)
			defined = r->images[i].name && strcmp(r->images[i].name, c->image) == 0;
		if (defined)
			continue;
		repo = image_repo(c->image);
		rctx_set_path(ctx, "containers[%zu].image", j);
		for (i = 0; i < r->n_images; i++) {
			const char *name = r->images[i].name;
			char *other;

			if (name == NULL)
				continue;
			other = image_repo(name);
			if (strcmp(other, repo) == 0 && r->images[i].build_git != NULL)
				rctx_error_loc(
					ctx, c->image_loc,
					"%s is not defined, but images[%zu] builds %s (did you mean '%s'?)",
					c->image, i, name, name);
			else if (bs_edit_distance(c->image, name, 2) <= 2)
				bs_diags_add(ctx->diags, BS_DIAG_WARNING, c->image_loc.line,
					     c->image_loc.col, ctx->path,
					     "%s is not in images: (did you mean '%s'?)", c->image,
					     name);
			free(other);
		}
		free(repo);
	}
}

void bs_recipe_check_images(struct bs_rctx *ctx)
{
	for (size_t i = 0; i < ctx->recipe->n_images; i++)
		check_image_use(ctx, i);
	check_undefined_images(ctx);
}
