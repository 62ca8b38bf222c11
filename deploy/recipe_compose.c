/*
 * recipe_compose.c - compose: in a recipe. The services of one or more
 * Docker Compose files become the recipe's containers, so that a project's
 * compose.yaml stays its one description and `docker compose` still reads
 * it.
 *
 * Each file is parsed like the recipe (positions kept: every diagnostic is
 * FILE:LINE:COL in the compose file), interpolated (the environment, then
 * the .env beside the first file), and merged in order as Compose merges
 * files: mappings key by key; environment, labels and extra_hosts by name;
 * volumes, secrets and configs by target; command, entrypoint and a
 * healthcheck's test replaced; other lists appended.
 *
 * A service is then rewritten into the mapping of a recipe container
 * (nodes shared, positions kept) and read by the same code as containers:
 * compose's syntax is the recipe's. What compose says differently is
 * translated here: deploy:, stop_grace_period, network_mode, the long
 * syntax of ports and volumes, expose, env_file, secrets and configs with
 * file: (local files copied to the nodes, recipe_files.c), profiles.
 * Where to run a service and how many comes from its x-bootstrap: mapping,
 * and from the recipe's services: map, which wins.
 *
 * Every key of a compose service is in one table below, as supported,
 * ignored with a warning, or refused with the reason; docs/compose.md is
 * that table for people, and a unit test keeps the two the same.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/recipe_priv.h"

#define COMPOSE_FILES_MAX 16

/* ---- the keys of a compose service ------------------------------------ */

enum ckind {
	CK_NATIVE,  /* the recipe's key, same syntax */
	CK_RENAMED, /* the recipe's key arg, same syntax */
	CK_OWN,	    /* translated here */
	CK_IGNORED, /* a warning: arg says why */
	CK_REFUSED, /* an error: arg says why and what to do */
};

struct ckey {
	const char *key;
	enum ckind kind;
	const char *arg;
};

#define NOT_YET "bootstrap does not set it yet"

/* clang-format off */
static const struct ckey compose_keys[] = {
	{"annotations", CK_IGNORED, "container annotations are not set"},
	{"attach", CK_IGNORED, "bootstrap never attaches to output (use bootstrap logs)"},
	{"blkio_config", CK_REFUSED, NOT_YET},
	{"build", CK_OWN, NULL},
	{"cap_add", CK_NATIVE, NULL},
	{"cap_drop", CK_NATIVE, NULL},
	{"cgroup", CK_REFUSED, NOT_YET},
	{"cgroup_parent", CK_REFUSED, NOT_YET},
	{"command", CK_NATIVE, NULL},
	{"configs", CK_OWN, NULL},
	{"container_name", CK_NATIVE, NULL},
	{"cpu_count", CK_REFUSED, "use cpus (or deploy.resources.limits.cpus)"},
	{"cpu_percent", CK_REFUSED, "use cpus (or deploy.resources.limits.cpus)"},
	{"cpu_period", CK_REFUSED, "use cpus (or deploy.resources.limits.cpus)"},
	{"cpu_quota", CK_REFUSED, "use cpus (or deploy.resources.limits.cpus)"},
	{"cpu_rt_period", CK_REFUSED, NOT_YET},
	{"cpu_rt_runtime", CK_REFUSED, NOT_YET},
	{"cpu_shares", CK_REFUSED, "use cpus (or deploy.resources.limits.cpus)"},
	{"cpus", CK_OWN, NULL},
	{"cpuset", CK_REFUSED, NOT_YET},
	{"credential_spec", CK_REFUSED, "Windows containers are not supported"},
	{"depends_on", CK_NATIVE, NULL},
	{"deploy", CK_OWN, NULL},
	{"develop", CK_IGNORED, "compose watch is for local development"},
	{"device_cgroup_rules", CK_REFUSED, NOT_YET},
	{"devices", CK_REFUSED, "a node's devices are not given to containers"},
	{"dns", CK_REFUSED, NOT_YET},
	{"dns_opt", CK_REFUSED, NOT_YET},
	{"dns_search", CK_REFUSED, NOT_YET},
	{"domainname", CK_REFUSED, NOT_YET},
	{"driver_opts", CK_REFUSED, NOT_YET},
	{"entrypoint", CK_NATIVE, NULL},
	{"env_file", CK_OWN, NULL},
	{"environment", CK_NATIVE, NULL},
	{"expose", CK_OWN, NULL},
	{"extends", CK_REFUSED, "list the files in the recipe's compose: instead; they are merged in order"},
	{"external_links", CK_REFUSED, "containers outside the project are not linked"},
	{"extra_hosts", CK_NATIVE, NULL},
	{"gpus", CK_REFUSED, NOT_YET},
	{"group_add", CK_REFUSED, NOT_YET},
	{"healthcheck", CK_OWN, NULL},
	{"hostname", CK_REFUSED, NOT_YET},
	{"image", CK_NATIVE, NULL},
	{"init", CK_REFUSED, NOT_YET},
	{"ipc", CK_REFUSED, "containers do not share IPC namespaces"},
	{"isolation", CK_REFUSED, "Windows containers are not supported"},
	{"label_file", CK_REFUSED, "write the labels under labels:"},
	{"labels", CK_NATIVE, NULL},
	{"links", CK_IGNORED, "services reach each other by name on the project network"},
	{"logging", CK_NATIVE, NULL},
	{"mac_address", CK_REFUSED, NOT_YET},
	{"mem_limit", CK_OWN, NULL},
	{"mem_reservation", CK_IGNORED, "reservations are not enforced"},
	{"mem_swappiness", CK_REFUSED, NOT_YET},
	{"models", CK_REFUSED, NOT_YET},
	{"memswap_limit", CK_REFUSED, NOT_YET},
	{"network_mode", CK_OWN, NULL},
	{"networks", CK_OWN, NULL},
	{"oom_kill_disable", CK_REFUSED, NOT_YET},
	{"oom_score_adj", CK_REFUSED, NOT_YET},
	{"pid", CK_REFUSED, "containers do not share the node's process namespace"},
	{"pids_limit", CK_OWN, NULL},
	{"platform", CK_IGNORED, "each node's engine pulls the image for its own platform"},
	{"ports", CK_OWN, NULL},
	{"post_start", CK_REFUSED, NOT_YET},
	{"pre_start", CK_REFUSED, NOT_YET},
	{"pre_stop", CK_REFUSED, NOT_YET},
	{"privileged", CK_REFUSED, "privileged containers are not deployed"},
	{"profiles", CK_OWN, NULL},
	{"provider", CK_REFUSED, NOT_YET},
	{"pull_policy", CK_IGNORED, "set pull: in the recipe's images: entry for the image"},
	{"read_only", CK_NATIVE, NULL},
	{"restart", CK_NATIVE, NULL},
	{"runtime", CK_REFUSED, NOT_YET},
	{"scale", CK_OWN, NULL},
	{"secrets", CK_OWN, NULL},
	{"security_opt", CK_REFUSED, "security options are not changed"},
	{"shm_size", CK_REFUSED, NOT_YET},
	{"stdin_open", CK_IGNORED, "bootstrap never attaches to input"},
	{"stop_grace_period", CK_RENAMED, "stop_timeout"},
	{"stop_signal", CK_REFUSED, NOT_YET},
	{"storage_opt", CK_REFUSED, NOT_YET},
	{"sysctls", CK_REFUSED, NOT_YET},
	{"tmpfs", CK_NATIVE, NULL},
	{"tty", CK_IGNORED, "bootstrap never attaches to a terminal"},
	{"ulimits", CK_NATIVE, NULL},
	{"use_api_socket", CK_REFUSED, "the node's Docker socket is not given to containers"},
	{"user", CK_NATIVE, NULL},
	{"userns_mode", CK_REFUSED, NOT_YET},
	{"uts", CK_REFUSED, NOT_YET},
	{"volume_driver", CK_REFUSED, "only the local volume driver is used"},
	{"volumes", CK_OWN, NULL},
	{"volumes_from", CK_REFUSED, "mount the same named volume in both services"},
	{"working_dir", CK_NATIVE, NULL},
	{"x-bootstrap", CK_OWN, NULL},
	{NULL, CK_REFUSED, NULL},
};
/* clang-format on */

static const struct ckey *find_key(const char *key)
{
	for (const struct ckey *k = compose_keys; k->key != NULL; k++)
		if (strcmp(k->key, key) == 0)
			return k;
	return NULL;
}

const char *bs_compose_key_status(const char *key)
{
	const struct ckey *k = find_key(key);

	if (k == NULL)
		return NULL;
	return k->kind == CK_IGNORED ? "ignored" : k->kind == CK_REFUSED ? "refused" : "supported";
}

size_t bs_compose_keys(const char *const **names)
{
	static const char *list[sizeof(compose_keys) / sizeof(compose_keys[0])];
	size_t n = 0;

	for (const struct ckey *k = compose_keys; k->key != NULL; k++)
		list[n++] = k->key;
	list[n] = NULL;
	*names = list;
	return n;
}

/* ---- files ------------------------------------------------------------ */

static int read_file(const char *path, struct bs_buf *out, char *problem, size_t size)
{
	FILE *f = fopen(path, "rb");
	char chunk[65536];
	size_t n;

	if (f == NULL) {
		snprintf(problem, size, "%s", strerror(errno));
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		bs_buf_append(out, chunk, n);
		if (out->len > BS_RECIPE_MAX_BYTES) {
			snprintf(problem, size, "it is over %u bytes", BS_RECIPE_MAX_BYTES);
			fclose(f);
			return -1;
		}
	}
	if (ferror(f)) {
		snprintf(problem, size, "%s", strerror(errno));
		fclose(f);
		return -1;
	}
	fclose(f);
	return 0;
}

/* l[key] = value: a later value replaces an earlier one, as in Compose. */
static void kv_set(struct bs_kvlist *l, const char *key, const char *value)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].key, key) == 0) {
			bs_secure_free_str(l->v[i].value);
			l->v[i].value = bs_xstrdup(value);
			return;
		}
	bs_kvlist_push(l, key, value, false);
}

/* A .env or env_file: KEY=VALUE lines ('#' comments, optional "export ",
 * '...' taken as is, "..." with \n \t \" \\ escapes, an unquoted value cut
 * at " #"). A KEY alone takes KEY from the environment when it is set. */
static void parse_dotenv(struct bs_rctx *ctx, const char *text, struct bs_kvlist *out)
{
	const char *p = text;

	while (*p != '\0') {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		char *line = bs_xstrndup(p, len), *s = line, *eq, *v;
		struct bs_buf val = BS_BUF_INIT;

		p += len + (eol != NULL);
		while (*s == ' ' || *s == '\t')
			s++;
		if (bs_str_starts_with(s, "export "))
			s += 7;
		len = strlen(s);
		while (len > 0 && (s[len - 1] == '\r' || s[len - 1] == ' ' || s[len - 1] == '\t'))
			s[--len] = '\0';
		if (*s == '\0' || *s == '#') {
			free(line);
			continue;
		}
		eq = strchr(s, '=');
		if (eq == NULL) {
			const char *env = ctx->getenv_fn(s, ctx->payload);

			if (env != NULL)
				kv_set(out, s, env);
			free(line);
			continue;
		}
		*eq = '\0';
		v = eq + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		if (*v == '\'' && strchr(v + 1, '\'') != NULL) {
			bs_buf_append(&val, v + 1, (size_t)(strchr(v + 1, '\'') - v - 1));
		} else if (*v == '"') {
			for (v++; *v != '\0' && *v != '"'; v++) {
				if (*v == '\\' && v[1] != '\0') {
					v++;
					bs_buf_putc(&val, *v == 'n' ? '\n' : *v == 't' ? '\t' : *v);
				} else {
					bs_buf_putc(&val, *v);
				}
			}
		} else {
			char *hash = strstr(v, " #");

			if (hash != NULL)
				*hash = '\0';
			len = strlen(v);
			while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
				v[--len] = '\0';
			bs_buf_puts(&val, v);
		}
		len = strlen(s);
		while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			s[--len] = '\0';
		kv_set(out, s, bs_buf_str(&val));
		bs_buf_wipe_free(&val);
		bs_secure_free_str(line);
	}
}

/* ---- merging files, as Compose does ----------------------------------- */

/* "K=V" list items and mappings alike, as a mapping K: V ("HOST:IP" too
 * with colon: extra_hosts). */
static struct bs_ynode *as_map(const struct bs_ynode *n, bool colon)
{
	struct bs_ynode *map;

	if (n->kind == BS_YNODE_MAP)
		return bs_ynode_ref(n);
	map = bs_ynode_new(BS_YNODE_MAP, n->line, n->col);
	map->file = n->file;
	for (size_t i = 0; n->kind == BS_YNODE_SEQ && i < n->n; i++) {
		const struct bs_ynode *item = n->items[i];
		const char *eq;
		struct bs_ynode *v;
		char *key;

		if (item->kind != BS_YNODE_SCALAR)
			continue;
		eq = strchr(item->value, '=');
		if (eq == NULL && colon)
			eq = strchr(item->value, ':');
		key = eq ? bs_xstrndup(item->value, (size_t)(eq - item->value))
			 : bs_xstrdup(item->value);
		if (eq != NULL) {
			v = bs_ynode_new_scalar(eq + 1, item->line, item->col);
		} else {
			v = bs_ynode_new(BS_YNODE_SCALAR, item->line, item->col);
			v->plain = true; /* null: from the environment */
		}
		v->file = item->file;
		v->secret = item->secret;
		bs_ynode_put(map, key, v);
		free(key);
	}
	return map;
}

/* The container path a volumes/secrets/configs entry mounts at. */
static const char *target_of(const struct bs_ynode *item, char *buf, size_t size)
{
	const struct bs_ynode *t;

	if (item->kind == BS_YNODE_MAP) {
		t = bs_ynode_get(item, "target");
		if (t == NULL)
			t = bs_ynode_get(item, "source");
		return t != NULL && t->kind == BS_YNODE_SCALAR ? t->value : "";
	}
	if (item->kind != BS_YNODE_SCALAR)
		return "";
	{
		const char *c1 = strchr(item->value, ':');
		const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (c1 == NULL)
			return item->value;
		snprintf(buf, size, "%.*s", (int)(c2 ? c2 - c1 - 1 : (long)strlen(c1 + 1)), c1 + 1);
		return buf;
	}
}

static bool in_list(const char *key, const char *const *list)
{
	for (size_t i = 0; key != NULL && list[i] != NULL; i++)
		if (strcmp(list[i], key) == 0)
			return true;
	return false;
}

/* Where a key sits decides how it merges: a service's attributes by the
 * rules of Compose, anything else (a service named test, say) as data. */
enum mlevel {
	M_TOP,	    /* the file: services, volumes, ... */
	M_SERVICES, /* services: the service names */
	M_SERVICE,  /* one service's keys */
	M_HEALTH,   /* a service's healthcheck's keys */
	M_DATA,	    /* below: mappings merged key by key, lists appended */
};

static enum mlevel child_level(enum mlevel level, const char *key)
{
	if (level == M_TOP && strcmp(key, "services") == 0)
		return M_SERVICES;
	if (level == M_SERVICES)
		return M_SERVICE;
	if (level == M_SERVICE && strcmp(key, "healthcheck") == 0)
		return M_HEALTH;
	return M_DATA;
}

static struct bs_ynode *merge(const struct bs_ynode *base, const struct bs_ynode *over,
			      const char *key, enum mlevel level);

/* base and over merged key by key; level is where their keys sit. */
static struct bs_ynode *merge_maps(const struct bs_ynode *base, const struct bs_ynode *over,
				   enum mlevel level)
{
	struct bs_ynode *out = bs_ynode_new(BS_YNODE_MAP, base->line, base->col);

	out->file = base->file;
	for (size_t i = 0; i < base->n; i++)
		bs_ynode_put_pair(out, bs_ynode_ref(base->pairs[i].key),
				  bs_ynode_ref(base->pairs[i].value));
	for (size_t i = 0; i < over->n; i++) {
		const struct bs_ypair *p = &over->pairs[i];

		/* the later file's key: where the value now comes from */
		bs_ynode_put_pair(
			out, bs_ynode_ref(p->key),
			merge(bs_ynode_get(out, p->key->value), p->value, p->key->value, level));
	}
	return out;
}

/* Lists: over's items appended, replacing base's with the same target
 * (by_target) or the same text. */
static struct bs_ynode *merge_seqs(const struct bs_ynode *base, const struct bs_ynode *over,
				   bool by_target)
{
	struct bs_ynode *out = bs_ynode_new(BS_YNODE_SEQ, base->line, base->col);
	char b1[512], b2[512];
	size_t i, j;

	out->file = base->file;
	for (i = 0; i < base->n; i++) {
		bool replaced = false;

		for (j = 0; j < over->n && !replaced; j++) {
			if (by_target)
				replaced = strcmp(target_of(base->items[i], b1, sizeof(b1)),
						  target_of(over->items[j], b2, sizeof(b2))) == 0;
			else
				replaced =
					base->items[i]->kind == BS_YNODE_SCALAR &&
					over->items[j]->kind == BS_YNODE_SCALAR &&
					strcmp(base->items[i]->value, over->items[j]->value) == 0;
		}
		if (!replaced)
			bs_ynode_push(out, bs_ynode_ref(base->items[i]));
	}
	for (j = 0; j < over->n; j++)
		bs_ynode_push(out, bs_ynode_ref(over->items[j]));
	return out;
}

/* base[key] and over[key], key sitting at level. */
static struct bs_ynode *merge(const struct bs_ynode *base, const struct bs_ynode *over,
			      const char *key, enum mlevel level)
{
	static const char *const by_name[] = {"environment", "labels", "extra_hosts", "sysctls",
					      NULL};
	static const char *const by_target[] = {"volumes", "secrets", "configs", NULL};
	static const char *const replaced[] = {"command", "entrypoint", NULL};
	bool service = level == M_SERVICE;

	if (base == NULL || base->bad || over->bad || (service && in_list(key, replaced)) ||
	    (level == M_HEALTH && strcmp(key, "test") == 0))
		return bs_ynode_ref(over);
	if (service && in_list(key, by_name) && base->kind != BS_YNODE_SCALAR &&
	    over->kind != BS_YNODE_SCALAR) {
		bool colon = strcmp(key, "extra_hosts") == 0;
		struct bs_ynode *a = as_map(base, colon), *b = as_map(over, colon);
		struct bs_ynode *m = merge_maps(a, b, M_DATA);

		bs_ynode_unref(a);
		bs_ynode_unref(b);
		return m;
	}
	if (base->kind == BS_YNODE_MAP && over->kind == BS_YNODE_MAP)
		return merge_maps(base, over, child_level(level, key));
	if (base->kind == BS_YNODE_SEQ && over->kind == BS_YNODE_SEQ)
		return merge_seqs(base, over, service && in_list(key, by_target));
	return bs_ynode_ref(over);
}

/* ---- one load --------------------------------------------------------- */

struct compose {
	struct bs_rctx *ctx;
	struct bs_ynode *root;	   /* the files merged */
	const char *first;	   /* the first file */
	char *dir;		   /* its directory: the project's */
	struct bs_strv active;	   /* profiles */
	struct bs_kvlist dotenv;   /* the .env beside the first file */
	bs_getenv_fn outer_getenv; /* the recipe's environment */
	void *outer_payload;
	const struct bs_ynode *over; /* the recipe's services: */
};

/* The recipe's environment first, then the project's .env. */
static const char *compose_getenv(const char *name, void *payload)
{
	struct compose *cp = payload;
	const char *v = cp->outer_getenv(name, cp->outer_payload);
	const struct bs_kv *kv;

	if (v != NULL)
		return v;
	kv = bs_kvlist_find(&cp->dotenv, name);
	return kv != NULL ? kv->value : NULL;
}

static void read_dotenv(struct compose *cp, const char *dir)
{
	char *path = bs_xasprintf("%s/.env", dir);
	struct bs_buf data = BS_BUF_INIT;
	char problem[256];

	if (read_file(path, &data, problem, sizeof(problem)) == 0)
		parse_dotenv(cp->ctx, bs_buf_str(&data), &cp->dotenv);
	bs_buf_wipe_free(&data);
	free(path);
}

static void check_top_keys(struct bs_rctx *ctx, const struct bs_ynode *root)
{
	static const char *const keys[] = {"services", "volumes", "secrets", "configs",
					   "networks", "version", "name",    NULL};

	for (size_t i = 0; i < root->n; i++) {
		const struct bs_ynode *key = root->pairs[i].key;
		size_t saved;

		if (key->bad || in_list(key->value, keys) || bs_str_starts_with(key->value, "x-"))
			continue;
		saved = rctx_push_key(ctx, key->value);
		if (strcmp(key->value, "include") == 0)
			rctx_error(
				ctx, key,
				"not supported yet (list the files in the recipe's compose: instead; they are merged in order)");
		else
			rctx_error(
				ctx, key,
				"not a top-level key of a compose file (services, volumes, secrets, configs, networks; x-* for your own)");
		rctx_pop(ctx, saved);
	}
}

/* Parse, interpolate and merge one file into cp->root. */
static void load_file(struct compose *cp, const struct bs_ynode *at, const char *path)
{
	struct bs_rctx *ctx = cp->ctx;
	struct bs_buf data = BS_BUF_INIT;
	struct bs_ynode *root, *merged;
	char problem[256], saved_path[sizeof(ctx->path)];
	size_t saved_len;

	if (read_file(path, &data, problem, sizeof(problem)) != 0) {
		rctx_error(
			ctx, at,
			"cannot read the compose file %s: %s (check the path; it is relative to the recipe)",
			path, problem);
		bs_buf_free(&data);
		return;
	}
	ctx->diags->at_file = path;
	root = bs_ytree_parse(data.data ? data.data : "", data.len, ctx->diags);
	ctx->diags->at_file = NULL;
	bs_buf_free(&data);
	if (root == NULL)
		return; /* syntax errors were reported; an empty file adds nothing */
	bs_ynode_set_file(root, path);
	if (root->kind != BS_YNODE_MAP) {
		rctx_error(ctx, root,
			   "a compose file is a mapping (services:, volumes:, ...), found %s",
			   bs_ynode_kind_name(root));
		bs_ynode_unref(root);
		return;
	}
	if (cp->first == NULL) {
		cp->first = path;
		cp->dir = bs_recipe_dir_of(ctx, root);
		ctx->compose_dir = cp->dir;
		read_dotenv(cp, cp->dir);
	}
	/* paths in a compose file start at its root */
	memcpy(saved_path, ctx->path, sizeof(saved_path));
	saved_len = ctx->path_len;
	rctx_pop(ctx, 0);
	ctx->getenv_fn = compose_getenv;
	ctx->payload = cp;
	bs_recipe_interpolate(ctx, root);
	ctx->getenv_fn = cp->outer_getenv;
	ctx->payload = cp->outer_payload;
	check_top_keys(ctx, root);
	memcpy(ctx->path, saved_path, sizeof(saved_path));
	ctx->path_len = saved_len;
	merged = cp->root ? merge_maps(cp->root, root, M_TOP) : bs_ynode_ref(root);
	bs_ynode_unref(cp->root);
	cp->root = merged;
	bs_ynode_unref(root);
}

/* compose: a path or a list of paths, relative to the recipe. */
static void load_files(struct compose *cp, const struct bs_ynode *v)
{
	struct bs_rctx *ctx = cp->ctx;
	struct bs_strv *files = &ctx->recipe->compose_files;
	size_t saved = rctx_push_key(ctx, "compose");
	size_t n = v->kind == BS_YNODE_SEQ ? v->n : 1;

	if (v->kind == BS_YNODE_MAP || n == 0 || n > COMPOSE_FILES_MAX) {
		rctx_error(
			ctx, v,
			"compose: is a file (compose.yaml) or a list of up to %d files, merged in order",
			COMPOSE_FILES_MAX);
		rctx_pop(ctx, saved);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct bs_ynode *item = v->kind == BS_YNODE_SEQ ? v->items[i] : v;
		size_t s2 = v->kind == BS_YNODE_SEQ ? rctx_push_index(ctx, i) : ctx->path_len;

		if (!item->bad && rctx_want_scalar(ctx, item) && item->value[0] != '\0') {
			char *dir = bs_recipe_dir_of(ctx, item);
			char *full = item->value[0] == '/' || strcmp(dir, ".") == 0
					     ? bs_xstrdup(item->value)
					     : bs_xasprintf("%s/%s", dir, item->value);

			/* the list's strings stay where they are as it grows */
			bs_strv_push(files, full);
			load_file(cp, item, files->v[files->n - 1]);
			free(full);
			free(dir);
		}
		rctx_pop(ctx, s2);
	}
	rctx_pop(ctx, saved);
}

/* ---- a service as a recipe container ---------------------------------- */

struct svc {
	struct compose *cp;
	const struct bs_ynode *key; /* its name in the file */
	const struct bs_ynode *map;
	struct bs_ynode *out;	    /* the container's mapping */
	struct bs_ynode *resources; /* from cpus, mem_limit, pids_limit, deploy */
	struct bs_ynode *tmpfs;	    /* tmpfs: and volumes of type tmpfs */
	bool global;		    /* deploy.mode: global */
};

static struct bs_ynode *scalar_at(const char *value, const struct bs_ynode *at)
{
	struct bs_ynode *n = bs_ynode_new_scalar(value, at->line, at->col);

	n->file = at->file;
	return n;
}

static struct bs_ynode *new_at(enum bs_ynode_kind kind, const struct bs_ynode *at)
{
	struct bs_ynode *n = bs_ynode_new(kind, at->line, at->col);

	n->file = at->file;
	return n;
}

static void put(struct bs_ynode *map, const char *key, const struct bs_ynode *v)
{
	bs_ynode_put(map, key, bs_ynode_ref(v));
}

static void res_put(struct svc *sv, const char *key, const struct bs_ynode *v)
{
	if (sv->resources == NULL)
		sv->resources = new_at(BS_YNODE_MAP, v);
	put(sv->resources, key, v);
}

static const char *scalar_or_null(const struct bs_ynode *map, const char *key)
{
	const struct bs_ynode *v = bs_ynode_get(map, key);

	return v != NULL && v->kind == BS_YNODE_SCALAR && !v->bad && !bs_ynode_is_null(v) ? v->value
											  : NULL;
}

/* ports: in the long syntax, as the short one. */
static struct bs_ynode *port_string(struct bs_rctx *ctx, const struct bs_ynode *item)
{
	static const char *const keys[] = {"target", "published", "host_ip",	  "protocol",
					   "mode",   "name",	  "app_protocol", NULL};
	const char *target, *published, *ip, *proto;
	struct bs_buf buf = BS_BUF_INIT;
	struct bs_ynode *n;

	rctx_check_keys(ctx, item, keys);
	target = scalar_or_null(item, "target");
	if (target == NULL) {
		rctx_missing(ctx, item, "target", "target: 80, the container's port");
		return NULL;
	}
	published = scalar_or_null(item, "published");
	ip = scalar_or_null(item, "host_ip");
	proto = scalar_or_null(item, "protocol");
	if (ip != NULL)
		bs_buf_printf(&buf, strchr(ip, ':') ? "[%s]:" : "%s:", ip);
	if (published != NULL)
		bs_buf_printf(&buf, "%s:", published);
	else if (ip != NULL)
		bs_buf_putc(&buf, ':');
	bs_buf_puts(&buf, target);
	if (proto != NULL)
		bs_buf_printf(&buf, "/%s", proto);
	n = scalar_at(bs_buf_str(&buf), item);
	bs_buf_free(&buf);
	return n;
}

static void tmpfs_add(struct svc *sv, struct bs_ynode *entry)
{
	if (sv->tmpfs == NULL)
		sv->tmpfs = new_at(BS_YNODE_SEQ, entry);
	bs_ynode_push(sv->tmpfs, entry);
}

/* volumes: in the long syntax, as the short one (tmpfs ones to tmpfs:). */
static struct bs_ynode *volume_string(struct svc *sv, const struct bs_ynode *item)
{
	static const char *const keys[] = {"type",   "source", "target",      "read_only", "bind",
					   "volume", "tmpfs",  "consistency", NULL};
	static const char *const types[] = {"volume", "bind", "tmpfs", NULL};
	struct bs_rctx *ctx = sv->cp->ctx;
	const char *type, *source, *target, *ro;
	char buf[4200];

	rctx_check_keys(ctx, item, keys);
	type = scalar_or_null(item, "type");
	target = scalar_or_null(item, "target");
	source = scalar_or_null(item, "source");
	ro = scalar_or_null(item, "read_only");
	if (type == NULL || !in_list(type, types)) {
		size_t saved = rctx_push_key(ctx, "type");

		if (type == NULL)
			rctx_missing(ctx, item, "type", "type: volume, bind or tmpfs");
		else
			rctx_error(
				ctx, bs_ynode_get(item, "type"),
				"'%.40s' volumes are not supported (type: volume, bind or tmpfs)",
				type);
		rctx_pop(ctx, saved);
		return NULL;
	}
	if (target == NULL) {
		rctx_missing(ctx, item, "target", "target: /path/in/the/container");
		return NULL;
	}
	if (strcmp(type, "tmpfs") == 0) {
		const char *size = scalar_or_null(bs_ynode_get(item, "tmpfs"), "size");

		snprintf(buf, sizeof(buf), "%.2000s%s%.40s", target, size ? ":size=" : "",
			 size ? size : "");
		tmpfs_add(sv, scalar_at(buf, item));
		return NULL;
	}
	if (strcmp(type, "bind") == 0 && source == NULL) {
		rctx_missing(ctx, item, "source", "source: ./local/path or /path/on/the/node");
		return NULL;
	}
	snprintf(buf, sizeof(buf), "%.2000s%s%.2000s%s", source ? source : "", source ? ":" : "",
		 target,
		 ro == NULL					     ? ""
		 : strcmp(ro, "true") == 0 || strcmp(ro, "yes") == 0 ? ":ro"
								     : ":rw");
	return scalar_at(buf, item);
}

/* A list whose long-syntax items (mappings) are rewritten by fn. */
static void put_list(struct svc *sv, const char *key, const struct bs_ynode *v,
		     struct bs_ynode *(*fn)(struct svc *sv, const struct bs_ynode *item))
{
	struct bs_rctx *ctx = sv->cp->ctx;
	struct bs_ynode *seq;
	size_t saved;

	if (v->kind != BS_YNODE_SEQ) {
		put(sv->out, key, v); /* the recipe's parser says what is wrong */
		return;
	}
	saved = rctx_push_key(ctx, key);
	seq = new_at(BS_YNODE_SEQ, v);
	for (size_t i = 0; i < v->n; i++) {
		size_t s2 = rctx_push_index(ctx, i);

		if (v->items[i]->kind == BS_YNODE_MAP) {
			struct bs_ynode *s = fn(sv, v->items[i]);

			if (s != NULL)
				bs_ynode_push(seq, s);
		} else {
			bs_ynode_push(seq, bs_ynode_ref(v->items[i]));
		}
		rctx_pop(ctx, s2);
	}
	rctx_pop(ctx, saved);
	if (strcmp(key, "volumes") != 0 || seq->n > 0)
		bs_ynode_put(sv->out, key, seq);
	else
		bs_ynode_unref(seq);
}

static struct bs_ynode *port_item(struct svc *sv, const struct bs_ynode *item)
{
	return port_string(sv->cp->ctx, item);
}

static void warn_ignored(struct bs_rctx *ctx, const struct bs_ynode *key, const char *why)
{
	size_t saved = rctx_push_key(ctx, key->value);

	rctx_warn(ctx, key, "%s is not used by bootstrap: %s", key->value, why);
	rctx_pop(ctx, saved);
}

static const struct bs_ynode *key_of(const struct bs_ynode *map, const char *key)
{
	for (size_t i = 0; map != NULL && map->kind == BS_YNODE_MAP && i < map->n; i++)
		if (strcmp(map->pairs[i].key->value, key) == 0)
			return map->pairs[i].key;
	return NULL;
}

/* deploy.update_config as update: (the keys both have). */
static void read_update_config(struct svc *sv, const struct bs_ynode *u)
{
	static const char *const keys[] = {"parallelism", "delay", "failure_action",
					   "monitor",	  "order", "max_failure_ratio",
					   NULL};
	struct bs_rctx *ctx = sv->cp->ctx;
	struct bs_ynode *out;
	size_t saved = rctx_push_key(ctx, "update_config");

	if (rctx_want_map(ctx, u)) {
		rctx_check_keys(ctx, u, keys);
		out = new_at(BS_YNODE_MAP, u);
		for (size_t i = 0; i < u->n; i++) {
			if (strcmp(u->pairs[i].key->value, "max_failure_ratio") == 0)
				warn_ignored(ctx, u->pairs[i].key,
					     "a failed replacement stops the rollout at once");
			else if (in_list(u->pairs[i].key->value, keys))
				put(out, u->pairs[i].key->value, u->pairs[i].value);
		}
		bs_ynode_put(sv->out, "update", out);
	}
	rctx_pop(ctx, saved);
}

/* deploy.restart_policy as restart:, unless the service says restart:. */
static void read_restart_policy(struct svc *sv, const struct bs_ynode *rp)
{
	struct bs_rctx *ctx = sv->cp->ctx;
	const char *cond = scalar_or_null(rp, "condition");
	const char *max = scalar_or_null(rp, "max_attempts");
	size_t saved = rctx_push_key(ctx, "restart_policy");
	char buf[64];

	if (rctx_want_map(ctx, rp) && bs_ynode_get(sv->map, "restart") == NULL) {
		if (cond == NULL || strcmp(cond, "any") == 0)
			snprintf(buf, sizeof(buf), "always");
		else if (strcmp(cond, "none") == 0)
			snprintf(buf, sizeof(buf), "no");
		else
			snprintf(buf, sizeof(buf), "%.20s%s%.20s", cond,
				 max && strcmp(cond, "on-failure") == 0 ? ":" : "",
				 max && strcmp(cond, "on-failure") == 0 ? max : "");
		bs_ynode_put(sv->out, "restart",
			     scalar_at(buf, bs_ynode_get(rp, "condition") ?: rp));
		if (bs_ynode_get(rp, "delay") || bs_ynode_get(rp, "window"))
			rctx_warn(
				ctx, rp,
				"delay and window are not used: the engine restarts with its own back-off");
	}
	rctx_pop(ctx, saved);
}

static void read_limits(struct svc *sv, const struct bs_ynode *res)
{
	static const char *const keys[] = {"limits", "reservations", NULL};
	static const char *const limit_keys[] = {"cpus", "memory", "pids", NULL};
	struct bs_rctx *ctx = sv->cp->ctx;
	const struct bs_ynode *limits = bs_ynode_get(res, "limits");
	size_t saved = rctx_push_key(ctx, "resources");

	if (rctx_want_map(ctx, res)) {
		rctx_check_keys(ctx, res, keys);
		if (key_of(res, "reservations") != NULL)
			warn_ignored(ctx, key_of(res, "reservations"),
				     "reservations are not enforced (limits are)");
		if (limits != NULL && !bs_ynode_is_null(limits)) {
			size_t s2 = rctx_push_key(ctx, "limits");

			if (rctx_want_map(ctx, limits)) {
				rctx_check_keys(ctx, limits, limit_keys);
				for (size_t i = 0; i < limits->n; i++)
					if (in_list(limits->pairs[i].key->value, limit_keys))
						res_put(sv, limits->pairs[i].key->value,
							limits->pairs[i].value);
			}
			rctx_pop(ctx, s2);
		}
	}
	rctx_pop(ctx, saved);
}

static void read_deploy(struct svc *sv, const struct bs_ynode *d)
{
	static const char *const keys[] = {
		"mode",		  "replicas",  "resources", "update_config", "rollback_config",
		"restart_policy", "placement", "labels",    "endpoint_mode", NULL};
	struct bs_rctx *ctx = sv->cp->ctx;
	const char *mode = scalar_or_null(d, "mode");
	size_t saved = rctx_push_key(ctx, "deploy");

	if (!rctx_want_map(ctx, d))
		goto out;
	rctx_check_keys(ctx, d, keys);
	if (mode != NULL && strcmp(mode, "global") == 0) {
		sv->global = true;
	} else if (mode != NULL && strcmp(mode, "replicated") != 0) {
		size_t s2 = rctx_push_key(ctx, "mode");

		rctx_error(ctx, bs_ynode_get(d, "mode"),
			   "'%.40s' is not a mode (replicated, or global: one on every node)",
			   mode);
		rctx_pop(ctx, s2);
	}
	if (bs_ynode_get(d, "replicas") != NULL)
		put(sv->out, "replicas", bs_ynode_get(d, "replicas"));
	if (bs_ynode_get(d, "resources") != NULL)
		read_limits(sv, bs_ynode_get(d, "resources"));
	if (bs_ynode_get(d, "update_config") != NULL)
		read_update_config(sv, bs_ynode_get(d, "update_config"));
	if (bs_ynode_get(d, "restart_policy") != NULL)
		read_restart_policy(sv, bs_ynode_get(d, "restart_policy"));
	if (key_of(d, "rollback_config"))
		warn_ignored(ctx, key_of(d, "rollback_config"),
			     "a failed replacement goes back to the old container");
	if (key_of(d, "placement"))
		warn_ignored(ctx, key_of(d, "placement"),
			     "say where it runs with x-bootstrap: {nodes: [...]}");
	if (key_of(d, "labels"))
		warn_ignored(ctx, key_of(d, "labels"), "service labels are a swarm's; use labels:");
	if (key_of(d, "endpoint_mode"))
		warn_ignored(ctx, key_of(d, "endpoint_mode"), "services are reached by name");
out:
	rctx_pop(ctx, saved);
}

/* x-bootstrap: in the service, or its entry in the recipe's services:. */
static void read_placement(struct svc *sv, const struct bs_ynode *x, const char *key)
{
	static const char *const keys[] = {"nodes", "replicas", "domain", "expose", "update", NULL};
	struct bs_rctx *ctx = sv->cp->ctx;
	size_t saved = rctx_push_key(ctx, key);

	if (!bs_ynode_is_null(x) && rctx_want_map(ctx, x)) {
		rctx_check_keys(ctx, x, keys);
		for (size_t i = 0; i < x->n; i++)
			if (in_list(x->pairs[i].key->value, keys))
				put(sv->out, x->pairs[i].key->value, x->pairs[i].value);
	}
	rctx_pop(ctx, saved);
}

static void read_healthcheck(struct svc *sv, const struct bs_ynode *h)
{
	struct bs_ynode *out;

	if (h->kind != BS_YNODE_MAP) {
		put(sv->out, "healthcheck", h);
		return;
	}
	out = new_at(BS_YNODE_MAP, h);
	for (size_t i = 0; i < h->n; i++) {
		if (strcmp(h->pairs[i].key->value, "start_interval") == 0) {
			size_t saved = rctx_push_key(sv->cp->ctx, "healthcheck");

			warn_ignored(sv->cp->ctx, h->pairs[i].key,
				     "checks run every interval from the start");
			rctx_pop(sv->cp->ctx, saved);
		} else {
			put(out, h->pairs[i].key->value, h->pairs[i].value);
		}
	}
	bs_ynode_put(sv->out, "healthcheck", out);
}

static void read_network_mode(struct svc *sv, const struct bs_ynode *key, const struct bs_ynode *v)
{
	static const char *const modes[] = {"host", "none", "bridge", NULL};
	struct bs_rctx *ctx = sv->cp->ctx;

	if (v->kind == BS_YNODE_SCALAR && in_list(v->value, modes)) {
		put(sv->out, "network", v);
	} else {
		size_t saved = rctx_push_key(ctx, key->value);

		rctx_error(
			ctx, v,
			"network_mode is host, none or bridge here (services share the project network; another container's namespace cannot be joined)");
		rctx_pop(ctx, saved);
	}
}

static void read_networks(struct svc *sv, const struct bs_ynode *key, const struct bs_ynode *v)
{
	bool other = false;

	for (size_t i = 0; v->kind == BS_YNODE_SEQ && i < v->n; i++)
		other = other || v->items[i]->kind != BS_YNODE_SCALAR ||
			strcmp(v->items[i]->value, "default") != 0;
	for (size_t i = 0; v->kind == BS_YNODE_MAP && i < v->n; i++)
		other = other || strcmp(v->pairs[i].key->value, "default") != 0 ||
			!bs_ynode_is_null(v->pairs[i].value);
	if (other)
		warn_ignored(
			sv->cp->ctx, key,
			"every service joins the project's one network and reaches the others by their names; separate networks and aliases are not made");
}

/* One key of the service: to the recipe's mapping, or remembered. */
static void read_key(struct svc *sv, const struct bs_ypair *pair)
{
	struct bs_rctx *ctx = sv->cp->ctx;
	const char *name = pair->key->value;
	const struct ckey *k = find_key(name);
	size_t saved;

	if (pair->key->bad || (k == NULL && bs_str_starts_with(name, "x-")))
		return;
	if (k == NULL) {
		const char *const *names;
		const char *sug;

		bs_compose_keys(&names);
		sug = bs_suggest(name, names);
		saved = rctx_push_key(ctx, name);
		rctx_error(ctx, pair->key, "not a compose service key%s%s%s",
			   sug ? " (did you mean '" : "", sug ? sug : "",
			   sug ? "'?)" : " (see docs/compose.md)");
		rctx_pop(ctx, saved);
		return;
	}
	switch (k->kind) {
	case CK_NATIVE: put(sv->out, name, pair->value); return;
	case CK_RENAMED: put(sv->out, k->arg, pair->value); return;
	case CK_IGNORED: warn_ignored(ctx, pair->key, k->arg); return;
	case CK_REFUSED:
		saved = rctx_push_key(ctx, name);
		rctx_error(ctx, pair->key, "not supported: %s (remove %s: to deploy this service)",
			   k->arg, name);
		rctx_pop(ctx, saved);
		return;
	case CK_OWN: break;
	}
	if (strcmp(name, "ports") == 0)
		put_list(sv, name, pair->value, port_item);
	else if (strcmp(name, "volumes") == 0)
		put_list(sv, name, pair->value, volume_string);
	else if (strcmp(name, "cpus") == 0 || strcmp(name, "mem_limit") == 0 ||
		 strcmp(name, "pids_limit") == 0)
		res_put(sv,
			name[0] == 'c'	 ? "cpus"
			: name[0] == 'm' ? "memory"
					 : "pids",
			pair->value);
	else if (strcmp(name, "scale") == 0)
		put(sv->out, "replicas", pair->value);
	else if (strcmp(name, "healthcheck") == 0)
		read_healthcheck(sv, pair->value);
	else if (strcmp(name, "network_mode") == 0)
		read_network_mode(sv, pair->key, pair->value);
	else if (strcmp(name, "networks") == 0)
		read_networks(sv, pair->key, pair->value);
	/* deploy, x-bootstrap, build, expose, env_file, secrets, configs and
	 * profiles are read once the rest is (read_service) */
}

/* expose: container ports, published nowhere. */
static void read_expose(struct svc *sv, struct bs_container *c, const struct bs_ynode *v)
{
	struct bs_rctx *ctx = sv->cp->ctx;
	size_t saved = rctx_push_key(ctx, "expose");

	if (rctx_want_seq(ctx, v)) {
		c->exposed = bs_xcalloc(v->n ? v->n : 1, sizeof(*c->exposed));
		for (size_t i = 0; i < v->n; i++) {
			const struct bs_ynode *item = v->items[i];
			size_t s2 = rctx_push_index(ctx, i);
			struct bs_port port;
			const char *problem = NULL;

			if (item->bad || !rctx_want_scalar(ctx, item)) {
				rctx_pop(ctx, s2);
				continue;
			}
			if (strchr(item->value, ':') != NULL)
				problem =
					"expose: takes container ports only (publish with ports:)";
			else
				problem = bs_port_parse(item->value, &port);
			if (problem != NULL) {
				rctx_error(
					ctx, item,
					"'%.40s' is not a port to expose: %s (like 3000 or 8000-8010/udp)",
					item->value, problem);
			} else {
				port.loc = rctx_loc(item);
				c->exposed[c->n_exposed++] = port;
			}
			rctx_pop(ctx, s2);
		}
	}
	rctx_pop(ctx, saved);
}

/* env_file: files of KEY=VALUE lines; environment: wins over them. */
static void read_env_file(struct svc *sv, struct bs_container *c, const struct bs_ynode *v)
{
	struct bs_rctx *ctx = sv->cp->ctx;
	size_t saved = rctx_push_key(ctx, "env_file");
	size_t n = v->kind == BS_YNODE_SEQ ? v->n : 1;
	struct bs_kvlist vars = BS_KVLIST_INIT; /* the files in order, later wins */

	for (size_t i = 0; i < n; i++) {
		const struct bs_ynode *item = v->kind == BS_YNODE_SEQ ? v->items[i] : v;
		const struct bs_ynode *pathn =
			item->kind == BS_YNODE_MAP ? bs_ynode_get(item, "path") : item;
		const char *req =
			item->kind == BS_YNODE_MAP ? scalar_or_null(item, "required") : NULL;
		size_t s2 = v->kind == BS_YNODE_SEQ ? rctx_push_index(ctx, i) : ctx->path_len;
		struct bs_buf data = BS_BUF_INIT;
		char problem[256], *dir, *path;

		if (pathn == NULL || pathn->bad || !rctx_want_scalar(ctx, pathn)) {
			rctx_pop(ctx, s2);
			continue;
		}
		dir = bs_recipe_dir_of(ctx, pathn);
		path = pathn->value[0] == '/' ? bs_xstrdup(pathn->value)
					      : bs_xasprintf("%s/%s", dir, pathn->value);
		if (read_file(path, &data, problem, sizeof(problem)) != 0) {
			if (req == NULL || strcmp(req, "false") != 0)
				rctx_error(
					ctx, pathn,
					"cannot read %s: %s (the path is relative to %s; or say required: false)",
					path, problem, dir);
		} else {
			parse_dotenv(ctx, bs_buf_str(&data), &vars);
		}
		bs_buf_wipe_free(&data);
		free(path);
		free(dir);
		rctx_pop(ctx, s2);
	}
	for (size_t k = 0; k < vars.n; k++)
		if (bs_kvlist_find(&c->environment, vars.v[k].key) == NULL &&
		    bs_kvlist_find(&c->secrets, vars.v[k].key) == NULL)
			bs_kvlist_push(&c->environment, vars.v[k].key, vars.v[k].value, false);
	bs_kvlist_free(&vars);
	rctx_pop(ctx, saved);
}

static void add_mount(struct bs_container *c, struct bs_mount *m)
{
	c->volumes = bs_xrealloc(c->volumes, (c->n_volumes + 1) * sizeof(*c->volumes));
	c->volumes[c->n_volumes++] = *m;
}

/* The long syntax's keys: mode in octal, at most 0777; uid and gid are
 * refused (the copy on the node is root's). */
static bool read_ref_keys(struct bs_rctx *ctx, const struct bs_ynode *item, const char *mode,
			  long *bits)
{
	static const char *const keys[] = {"source", "target", "uid", "gid", "mode", NULL};
	const struct bs_ynode *at;
	char *end = NULL;
	size_t saved;

	rctx_check_keys(ctx, item, keys);
	for (int k = 2; k <= 3; k++) {
		if ((at = bs_ynode_get(item, keys[k])) == NULL)
			continue;
		saved = rctx_push_key(ctx, keys[k]);
		rctx_error(ctx, at,
			   "%s is not supported yet: the copy on the node is root's (remove it, "
			   "and give mode: 0444 when the service runs as another user)",
			   keys[k]);
		rctx_pop(ctx, saved);
		return false;
	}
	if (mode == NULL)
		return true;
	errno = 0;
	*bits = strtol(mode, &end, 8);
	if (errno != 0 || end == mode || *end != '\0' || *bits <= 0 || *bits > 0777) {
		saved = rctx_push_key(ctx, "mode");
		rctx_error(ctx, bs_ynode_get(item, "mode"),
			   "'%.40s' is not a file mode (octal permission bits, like 0440)", mode);
		rctx_pop(ctx, saved);
		return false;
	}
	return true;
}

/* One secrets: or configs: entry of a service: the file its top-level
 * definition names, copied to the node and mounted read-only. */
static void read_file_ref(struct svc *sv, struct bs_container *c, const struct bs_ynode *item,
			  bool secret)
{
	struct bs_rctx *ctx = sv->cp->ctx;
	const char *what = secret ? "secrets" : "configs";
	const struct bs_ynode *defs = bs_ynode_get(sv->cp->root, what);
	const char *source =
		item->kind == BS_YNODE_MAP ? scalar_or_null(item, "source") : item->value;
	const char *target = item->kind == BS_YNODE_MAP ? scalar_or_null(item, "target") : NULL;
	const char *mode = item->kind == BS_YNODE_MAP ? scalar_or_null(item, "mode") : NULL;
	const struct bs_ynode *def, *file;
	struct bs_mount m;
	long bits = 0;

	if (item->kind == BS_YNODE_MAP && !read_ref_keys(ctx, item, mode, &bits))
		return;
	if (source == NULL) {
		rctx_missing(ctx, item, "source",
			     secret ? "source: NAME, a secret under the top-level secrets:"
				    : "source: NAME, a config under the top-level configs:");
		return;
	}
	def = bs_ynode_get(defs, source);
	if (def == NULL || def->kind != BS_YNODE_MAP) {
		rctx_error(
			ctx, item,
			"%s is not defined under the top-level %s: (add %s: {%s: {file: ./PATH}})",
			source, what, what, source);
		return;
	}
	file = bs_ynode_get(def, "file");
	if (file == NULL || file->kind != BS_YNODE_SCALAR || file->bad) {
		rctx_error(
			ctx, def,
			"%s %s: only file: is supported (environment:, content: and external: are not yet; write the value to a file)",
			secret ? "secret" : "config", source);
		return;
	}
	memset(&m, 0, sizeof(m));
	m.type = BS_MOUNT_LOCAL;
	m.read_only = true;
	m.secret = secret;
	m.mode = mode != NULL ? (int)bits : secret ? 0600 : 0444;
	if (target == NULL)
		m.target = bs_xasprintf(secret ? "/run/secrets/%s" : "/%s", source);
	else
		m.target = target[0] == '/' ? bs_xstrdup(target)
			   : secret	    ? bs_xasprintf("/run/secrets/%s", target)
					    : bs_xasprintf("/%s", target);
	m.source = bs_xstrdup(file->value);
	for (size_t i = 0; i < c->n_volumes; i++)
		if (strcmp(c->volumes[i].target, m.target) == 0) {
			rctx_error(ctx, item, "%s is mounted twice in this service (keep one)",
				   m.target);
			bs_recipe_mount_free(&m);
			return;
		}
	if (!bs_recipe_local_mount(ctx, file, &m)) {
		bs_recipe_mount_free(&m);
		return;
	}
	m.loc = rctx_loc(item);
	if (secret && mode == NULL && c->user != NULL && strcmp(c->user, "root") != 0 &&
	    strcmp(c->user, "0") != 0 && !bs_str_starts_with(c->user, "0:") &&
	    !bs_str_starts_with(c->user, "root:"))
		rctx_warn(ctx, item,
			  "the secret is root's, mode 0600, and this service runs as %.60s, which "
			  "cannot read it: give mode: 0444 (the node's copy stays in a folder only "
			  "root can enter)",
			  c->user);
	add_mount(c, &m);
}

static void read_file_refs(struct svc *sv, struct bs_container *c, const char *key, bool secret)
{
	const struct bs_ynode *v = bs_ynode_get(sv->map, key);
	struct bs_rctx *ctx = sv->cp->ctx;
	size_t saved;

	if (v == NULL || bs_ynode_is_null(v))
		return;
	saved = rctx_push_key(ctx, key);
	for (size_t i = 0; rctx_want_seq(ctx, v) && i < v->n; i++) {
		size_t s2 = rctx_push_index(ctx, i);

		if (!v->items[i]->bad &&
		    (v->items[i]->kind == BS_YNODE_MAP || rctx_want_scalar(ctx, v->items[i])))
			read_file_ref(sv, c, v->items[i], secret);
		rctx_pop(ctx, s2);
		if (i + 1 == v->n)
			break;
	}
	rctx_pop(ctx, saved);
}

/* A named volume must be declared at the top level, as Compose says. */
static void check_named_volumes(struct svc *sv, const struct bs_container *c)
{
	const struct bs_ynode *decl = bs_ynode_get(sv->cp->root, "volumes");

	for (size_t i = 0; i < c->n_volumes; i++) {
		const struct bs_mount *m = &c->volumes[i];

		size_t saved;

		if (m->type != BS_MOUNT_VOLUME || bs_ynode_get(decl, m->source) != NULL)
			continue;
		saved = rctx_push_key(sv->cp->ctx, "volumes");
		rctx_push_index(sv->cp->ctx, i);
		rctx_error_loc(
			sv->cp->ctx, m->loc,
			"volume %s is not declared (add it under the compose file's top-level volumes:, as %s: {})",
			m->source, m->source);
		rctx_pop(sv->cp->ctx, saved);
	}
}

static bool profile_active(const struct compose *cp, const struct bs_ynode *svc,
			   struct bs_strv *profiles)
{
	const struct bs_ynode *p = bs_ynode_get(svc, "profiles");
	bool active = false;

	if (p == NULL || p->kind != BS_YNODE_SEQ || p->n == 0)
		return true;
	for (size_t i = 0; i < p->n; i++) {
		if (p->items[i]->kind != BS_YNODE_SCALAR)
			continue;
		bs_strv_push(profiles, p->items[i]->value);
		active = active || bs_strv_contains(&cp->active, p->items[i]->value) ||
			 bs_strv_contains(&cp->active, "*");
	}
	return active;
}

/* A context that is a git repository's URL, as Compose takes one. */
static bool is_git_url(const struct bs_ynode *v)
{
	return v->kind == BS_YNODE_SCALAR &&
	       (strstr(v->value, "://") != NULL || bs_str_starts_with(v->value, "git@"));
}

/* build: a context directory, or {context, dockerfile, target, args}: an
 * images: entry built on the nodes that run the service. Its name is the
 * service's image:, else PROJECT-SERVICE:ctx-<12 hex of the context's
 * hash>, so that an unchanged context is never built again. The image
 * goes in the service's mapping before it is read. */
static void read_build(struct svc *sv, const struct bs_ynode *b)
{
	static const char *const used[] = {"context", "dockerfile", "target", "args", NULL};
	struct bs_rctx *ctx = sv->cp->ctx;
	const char *project = ctx->recipe->project ? ctx->recipe->project : "app";
	const struct bs_ynode *given = bs_ynode_get(sv->map, "image");
	struct bs_ynode *entry, *bmap;
	struct bs_image *img;
	size_t saved = rctx_push_key(ctx, "build");
	char *name;

	entry = new_at(BS_YNODE_MAP, b);
	bmap = new_at(BS_YNODE_MAP, b);
	if (b->kind == BS_YNODE_SCALAR) {
		put(bmap, is_git_url(b) ? "git" : "context", b);
	} else if (rctx_want_map(ctx, b)) {
		for (size_t i = 0; i < b->n; i++) {
			const struct bs_ypair *p = &b->pairs[i];

			if (strcmp(p->key->value, "context") == 0 && is_git_url(p->value))
				put(bmap, "git", p->value); /* a remote context */
			else if (in_list(p->key->value, used))
				put(bmap, p->key->value, p->value);
			else if (!p->key->bad && !bs_str_starts_with(p->key->value, "x-"))
				warn_ignored(
					ctx, p->key,
					"a build here takes context, dockerfile, target and args");
		}
		if (bs_ynode_get(b, "context") == NULL)
			bs_ynode_put(bmap, "context", scalar_at(".", b));
	}
	bs_ynode_put(entry, "name",
		     scalar_at(given && given->kind == BS_YNODE_SCALAR ? given->value
								       : "placeholder:ctx",
			       given ? given : b));
	bs_ynode_put(entry, "build", bmap);
	rctx_pop(ctx, saved);
	saved = rctx_push_key(ctx, "build");
	img = bs_recipe_add_image(ctx, entry);
	rctx_pop(ctx, saved);
	if (given == NULL) {
		/* a git context has no hash here: it is built when missing (or
		 * with the recipe's pull: always, as images: builds from git) */
		name = img->context_hash != NULL
			       ? bs_xasprintf("%s-%s:ctx-%.12s", project, sv->key->value,
					      img->context_hash)
			       : bs_xasprintf("%s-%s:git", project, sv->key->value);
		free(img->name);
		img->name = bs_xstrdup(name);
		bs_ynode_put(sv->out, "image", scalar_at(name, b));
		free(name);
	}
	bs_ynode_unref(entry);
}

static void read_service(struct compose *cp, const struct bs_ypair *pair, struct bs_container *c)
{
	struct bs_rctx *ctx = cp->ctx;
	struct svc sv;
	const struct bs_ynode *v;

	memset(&sv, 0, sizeof(sv));
	sv.cp = cp;
	sv.key = pair->key;
	sv.map = pair->value;
	sv.out = new_at(BS_YNODE_MAP, pair->value);
	bs_ynode_put(sv.out, "name", scalar_at(pair->key->value, pair->key));
	for (size_t i = 0; i < sv.map->n; i++)
		read_key(&sv, &sv.map->pairs[i]);
	if ((v = bs_ynode_get(sv.map, "tmpfs")) != NULL && sv.tmpfs != NULL) {
		struct bs_ynode *all = new_at(BS_YNODE_SEQ, v);

		for (size_t i = 0; v->kind == BS_YNODE_SEQ && i < v->n; i++)
			bs_ynode_push(all, bs_ynode_ref(v->items[i]));
		if (v->kind == BS_YNODE_SCALAR)
			bs_ynode_push(all, bs_ynode_ref(v));
		for (size_t i = 0; i < sv.tmpfs->n; i++)
			bs_ynode_push(all, bs_ynode_ref(sv.tmpfs->items[i]));
		bs_ynode_put(sv.out, "tmpfs", all);
	} else if (sv.tmpfs != NULL) {
		put(sv.out, "tmpfs", sv.tmpfs);
	}
	if ((v = bs_ynode_get(sv.map, "deploy")) != NULL && !bs_ynode_is_null(v))
		read_deploy(&sv, v);
	if ((v = bs_ynode_get(sv.map, "build")) != NULL && !bs_ynode_is_null(v))
		read_build(&sv, v);
	if (sv.resources != NULL)
		put(sv.out, "resources", sv.resources);
	if ((v = bs_ynode_get(sv.map, "x-bootstrap")) != NULL)
		read_placement(&sv, v, "x-bootstrap");
	if (cp->over != NULL && (v = bs_ynode_get(cp->over, pair->key->value)) != NULL) {
		char saved_path[sizeof(ctx->path)];
		size_t saved_len = ctx->path_len;

		memcpy(saved_path, ctx->path, sizeof(saved_path));
		rctx_pop(ctx, 0);
		rctx_push_key(ctx, "services");
		read_placement(&sv, v, pair->key->value);
		memcpy(ctx->path, saved_path, sizeof(saved_path));
		ctx->path_len = saved_len;
	}
	bs_recipe_parse_container(ctx, sv.out, c);
	c->compose_file = bs_xstrdup_opt(pair->key->file);
	if ((v = bs_ynode_get(sv.map, "expose")) != NULL && !bs_ynode_is_null(v))
		read_expose(&sv, c, v);
	if ((v = bs_ynode_get(sv.map, "env_file")) != NULL && !bs_ynode_is_null(v))
		read_env_file(&sv, c, v);
	read_file_refs(&sv, c, "secrets", true);
	read_file_refs(&sv, c, "configs", false);
	check_named_volumes(&sv, c);
	if (sv.global) {
		c->replicas = 0;
		for (size_t i = 0; i < ctx->recipe->n_nodes; i++)
			c->replicas += bs_container_selects(c, &ctx->recipe->nodes[i]);
	}
	bs_ynode_unref(sv.out);
	bs_ynode_unref(sv.resources);
	bs_ynode_unref(sv.tmpfs);
}

/* The top-level volumes: of the compose files: engine volumes named
 * PROJECT-NAME on each node, made with the local driver. */
static void check_volume_defs(struct compose *cp)
{
	static const char *const keys[] = {"driver", "driver_opts", "external",
					   "labels", "name",	    NULL};
	const struct bs_ynode *vols = bs_ynode_get(cp->root, "volumes");
	struct bs_rctx *ctx = cp->ctx;
	size_t saved;

	if (vols == NULL || bs_ynode_is_null(vols))
		return;
	saved = rctx_push_key(ctx, "volumes");
	for (size_t i = 0; rctx_want_map(ctx, vols) && i < vols->n; i++) {
		const struct bs_ynode *def = vols->pairs[i].value;
		const char *driver = scalar_or_null(def, "driver");
		size_t s2 = rctx_push_key(ctx, vols->pairs[i].key->value);

		if (!bs_ynode_is_null(def) && rctx_want_map(ctx, def)) {
			rctx_check_keys(ctx, def, keys);
			if (driver != NULL && strcmp(driver, "local") != 0)
				rctx_error(ctx, bs_ynode_get(def, "driver"),
					   "only the local driver is supported (remove driver:)");
			for (size_t k = 0; k < def->n; k++) {
				const char *key = def->pairs[k].key->value;

				if (strcmp(key, "driver_opts") == 0 ||
				    strcmp(key, "external") == 0 || strcmp(key, "name") == 0)
					rctx_error(
						ctx, def->pairs[k].key,
						"%s: is not supported yet: bootstrap makes the volume %s-%s on each node (remove %s:)",
						key,
						ctx->recipe->project ? ctx->recipe->project
								     : "PROJECT",
						vols->pairs[i].key->value, key);
				else if (strcmp(key, "labels") == 0)
					warn_ignored(ctx, def->pairs[k].key,
						     "volumes carry bootstrap's labels");
			}
		}
		rctx_pop(ctx, s2);
	}
	rctx_pop(ctx, saved);
}

/* The recipe's services: names services of the compose files. */
static void check_overrides(struct compose *cp, const struct bs_ynode *services)
{
	struct bs_rctx *ctx = cp->ctx;
	const char *names[256];
	size_t n = 0, saved;

	if (cp->over == NULL || bs_ynode_is_null(cp->over))
		return;
	saved = rctx_push_key(ctx, "services");
	if (!rctx_want_map(ctx, cp->over)) {
		rctx_pop(ctx, saved);
		return;
	}
	for (size_t i = 0; i < services->n && n + 1 < 256; i++)
		names[n++] = services->pairs[i].key->value;
	names[n] = NULL;
	for (size_t i = 0; i < cp->over->n; i++) {
		const struct bs_ynode *key = cp->over->pairs[i].key;
		const char *sug;
		size_t s2;

		if (key->bad || bs_ynode_get(services, key->value) != NULL)
			continue;
		sug = bs_suggest(key->value, names);
		s2 = rctx_push_key(ctx, key->value);
		rctx_error(ctx, key, "no service %s in the compose files%s%s%s", key->value,
			   sug ? " (did you mean '" : "", sug ? sug : "", sug ? "'?)" : "");
		rctx_pop(ctx, s2);
	}
	rctx_pop(ctx, saved);
}

static void read_services(struct compose *cp)
{
	struct bs_rctx *ctx = cp->ctx;
	struct bs_recipe *r = ctx->recipe;
	const struct bs_ynode *services = bs_ynode_get(cp->root, "services");
	size_t saved;

	if (services == NULL || bs_ynode_is_null(services)) {
		rctx_missing(ctx, cp->root, "services", "services: {web: {image: nginx:1.25}}");
		return;
	}
	check_volume_defs(cp);
	check_overrides(cp, services);
	saved = rctx_push_key(ctx, "services");
	if (rctx_want_map(ctx, services)) {
		r->containers = bs_xrealloc(r->containers, (r->n_containers + services->n) *
								   sizeof(*r->containers));
		memset(r->containers + r->n_containers, 0, services->n * sizeof(*r->containers));
		for (size_t i = 0; i < services->n; i++) {
			const struct bs_ypair *pair = &services->pairs[i];
			struct bs_strv profiles = BS_STRV_INIT;
			size_t s2 = rctx_push_key(ctx, pair->key->value);

			if (!pair->key->bad && rctx_want_map(ctx, pair->value)) {
				if (profile_active(cp, pair->value, &profiles)) {
					struct bs_container *c = &r->containers[r->n_containers++];

					read_service(cp, pair, c);
					c->profiles = profiles;
					memset(&profiles, 0, sizeof(profiles));
				}
			}
			bs_strv_free(&profiles);
			rctx_pop(ctx, s2);
		}
	}
	rctx_pop(ctx, saved);
}

void bs_recipe_parse_compose(struct bs_rctx *ctx, const struct bs_ynode *root)
{
	const struct bs_ynode *v = bs_ynode_get(root, "compose");
	struct compose cp;

	memset(&cp, 0, sizeof(cp));
	cp.over = bs_ynode_get(root, "services");
	if (v == NULL || bs_ynode_is_null(v)) {
		if (cp.over != NULL) {
			size_t saved = rctx_push_key(ctx, "services");

			rctx_error(
				ctx, cp.over,
				"services: adds to the services of compose files: name them with compose: compose.yaml");
			rctx_pop(ctx, saved);
		}
		return;
	}
	cp.ctx = ctx;
	cp.outer_getenv = ctx->getenv_fn;
	cp.outer_payload = ctx->payload;
	if (ctx->profiles != NULL) {
		for (size_t i = 0; i < ctx->profiles->n; i++)
			bs_strv_push(&cp.active, ctx->profiles->v[i]);
	} else {
		const char *env = ctx->getenv_fn("COMPOSE_PROFILES", ctx->payload);
		char *copy = bs_xstrdup(env ? env : ""), *save = NULL;

		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
			if (t[0] != '\0')
				bs_strv_push(&cp.active, t);
		free(copy);
	}
	for (size_t i = 0; i < cp.active.n; i++)
		bs_strv_push(&ctx->recipe->profiles, cp.active.v[i]);
	load_files(&cp, v);
	if (cp.root != NULL)
		read_services(&cp);
	bs_ynode_unref(cp.root);
	ctx->compose_dir = NULL;
	free(cp.dir);
	bs_strv_free(&cp.active);
	for (size_t i = 0; i < cp.dotenv.n; i++) {
		bs_secure_free_str(cp.dotenv.v[i].value);
		cp.dotenv.v[i].value = NULL;
	}
	bs_kvlist_free(&cp.dotenv);
}
