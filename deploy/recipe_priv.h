/*
 * recipe_priv.h - private to the recipe module (deploy/recipe*.c): what
 * the recipe's section parsers share. recipe.c runs the sections, each in a file of its own
 * (recipe_provider.c, recipe_nodes.c, recipe_docker.c, recipe_images.c,
 * recipe_domains.c, recipe_containers.c); they reach the context, the typed
 * getters (recipe_parse.c), the model's queries (recipe_model.c) and the
 * few checks one section lends another only through this header, and none
 * of them includes another's file or calls recipe.c.
 *
 * One thread: a context belongs to one bs_recipe_load() call.
 *
 * Every getter reports its own problems (wrong type, out of range, unknown
 * choice) at the value's position with the key path, and returns whether a
 * usable value was read, so a section parser goes on and finds every
 * problem in one pass.
 */
#ifndef BS_DEPLOY_RECIPE_PRIV_H
#define BS_DEPLOY_RECIPE_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "deploy/recipe.h"
#include "deploy/yamltree.h"

struct bs_rctx {
	struct bs_diags *diags;
	struct bs_recipe *recipe;
	bs_getenv_fn getenv_fn;
	void *payload;
	struct bs_strv secret_vars; /* variables that secret fields use */
	/* the file being read when not the recipe (a compose file: one of
	 * recipe->compose_files), for every diagnostic and location; NULL */
	const char *file;
	const struct bs_strv *profiles; /* --profile, or NULL */
	/* while compose files are read: their project directory (the first
	 * file's), against which every relative path in any of them resolves,
	 * as in Compose; NULL */
	const char *compose_dir;
	char path[512];
	size_t path_len;
};

/* Path building: push returns the length to restore with rctx_pop. */
size_t rctx_push_key(struct bs_rctx *ctx, const char *key);
size_t rctx_push_index(struct bs_rctx *ctx, size_t index);
void rctx_pop(struct bs_rctx *ctx, size_t len);

void rctx_error(struct bs_rctx *ctx, const struct bs_ynode *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void rctx_warn(struct bs_rctx *ctx, const struct bs_ynode *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* An error at a given place (for values inside a scalar). */
void rctx_error_loc(struct bs_rctx *ctx, struct bs_recipe_loc loc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void rctx_warn_loc(struct bs_rctx *ctx, struct bs_recipe_loc loc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

struct bs_recipe_loc rctx_loc(const struct bs_ynode *node);

/* names (NULL-terminated) as "a, b, c" into buf, cut at size. */
void rctx_join_names(char *buf, size_t size, const char *const *names);

/* Report keys of map not in allowed (NULL-terminated), with suggestions. */
void rctx_check_keys(struct bs_rctx *ctx, const struct bs_ynode *map, const char *const *allowed);

/* Type checks that report "expected X, found Y". */
bool rctx_want_map(struct bs_rctx *ctx, const struct bs_ynode *node);
bool rctx_want_seq(struct bs_rctx *ctx, const struct bs_ynode *node);
bool rctx_want_scalar(struct bs_rctx *ctx, const struct bs_ynode *node);

/* Is map[key] absent or null (and not a node already reported bad)? */
bool rctx_absent(const struct bs_ynode *map, const char *key);

/* Report a required key that map lacks: "missing (hint)". */
void rctx_missing(struct bs_rctx *ctx, const struct bs_ynode *map, const char *key,
		  const char *hint);

/*
 * Typed getters for map[key]. A null value counts as absent. Each returns
 * true when a valid value was stored, false when absent or invalid (invalid
 * values are reported). A required key that is absent is reported with hint.
 */
bool rctx_get_str(struct bs_rctx *ctx, const struct bs_ynode *map, const char *key,
		  const char *hint, char **out);
bool rctx_get_int(struct bs_rctx *ctx, const struct bs_ynode *map, const char *key, long long lo,
		  long long hi, int *out);
bool rctx_get_int64(struct bs_rctx *ctx, const struct bs_ynode *map, const char *key, long long lo,
		    long long hi, int64_t *out);
bool rctx_get_bool(struct bs_rctx *ctx, const struct bs_ynode *map, const char *key, bool *out);
/* Choice among names (NULL-terminated); *out is the index. */
bool rctx_get_choice(struct bs_rctx *ctx, const struct bs_ynode *map, const char *key,
		     const char *const *names, int *out);
bool rctx_get_duration(struct bs_rctx *ctx, const struct bs_ynode *map, const char *key,
		       int64_t min_ms, int64_t *out);

/* The same checks on a node already in hand (path already pushed). */
bool rctx_scalar_str(struct bs_rctx *ctx, const struct bs_ynode *node, char **out);

/*
 * A string -> string map written as a mapping {K: V} or a list ["K=V"].
 * what names the entries in messages ("label", "variable"). A value may be
 * null (mapping) or missing "=" (list) only when from_env is true: it is
 * then taken from the environment. Values from secret nodes are flagged.
 */
void rctx_get_kvlist(struct bs_rctx *ctx, const struct bs_ynode *map, const char *key,
		     const char *what, bool from_env, struct bs_kvlist *out);
/* A list of node selectors ("name" or "key=value"). */
void rctx_get_selectors(struct bs_rctx *ctx, const struct bs_ynode *map, const char *key,
			struct bs_selectors *out);

/*
 * A section read as one table of keys, like git's and curl's option tables:
 * each entry names a key, how its value is read and into which field of the
 * section's struct (by offset), and an optional check. The driver reports
 * unknown keys (against the table's keys, or an explicit list whose order
 * the message shows), then reads the entries in table order, so the table's
 * order is the order of the diagnostics.
 */
enum rkey_kind {
	RK_STR,	       /* char *; arg: the hint that makes the key required */
	RK_INT,	       /* int in lo..hi */
	RK_INT64,      /* int64_t in lo..hi */
	RK_BOOL,       /* bool */
	RK_CHOICE,     /* an enum (int-sized); arg: its names */
	RK_DURATION,   /* int64_t milliseconds, at least lo */
	RK_KVLIST,     /* struct bs_kvlist; arg: what an entry is ("label") */
	RK_ENV_KVLIST, /* the same, a value missing taken from the environment */
	RK_SELECTORS,  /* struct bs_selectors */
	RK_FN,	       /* check alone reads the key: at is the section's map */
};

struct rkey;
/* Runs after a value was read well, with the key's path pushed and at the
 * value; for RK_FN with the section's path and at the section's map. */
typedef void (*rkey_check_fn)(struct bs_rctx *ctx, const struct rkey *key,
			      const struct bs_ynode *at, void *section);

struct rkey {
	const char *key;
	enum rkey_kind kind;
	size_t field; /* offsetof() in the section's struct */
	const void *arg;
	long long lo, hi;
	rkey_check_fn check;
};

/* Check map's keys (against allowed, or the table's when NULL), then read
 * each entry of table (ended by a NULL key) into section. */
void rctx_read_keys(struct bs_rctx *ctx, const struct bs_ynode *map, const char *const *allowed,
		    const struct rkey *table, void *section);

/* A section that is a list of mappings (images, registries, containers):
 * *items gets room for every entry (size bytes each), then item() is called
 * for each mapping with its index on the path. */
void rctx_read_list(struct bs_rctx *ctx, const struct bs_ynode *seq, const char *key, void **items,
		    size_t size, void (*item)(struct bs_rctx *ctx, const struct bs_ynode *map));

/* A check for RK_FN entries: a literal secret in map[key->key] (below). */
void rctx_check_literal_secret(struct bs_rctx *ctx, const struct rkey *key,
			       const struct bs_ynode *map, void *section);

/* jump: (ssh: and a node entry): true when the key is there. */
bool bs_recipe_read_jump(struct bs_rctx *ctx, const struct bs_ynode *map, struct bs_strv *out);

/* labels: keys may not use the io.bootstrap. prefix (bootstrap's own). */
void bs_recipe_check_reserved_labels(struct bs_rctx *ctx, const struct bs_ynode *labels);
/* A secret written literally in the recipe (not from ${VAR}): a warning. */
void rctx_warn_literal_secret(struct bs_rctx *ctx, const struct bs_ynode *map, const char *key);

/* Cross checks run after parsing, at the root: each sets the full path of
 * the object it reports on (printf-style), and the root resets it. */
void rctx_set_path(struct bs_rctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Every selector of section[index].nodes names a node or a node's label. */
void rctx_check_selectors(struct bs_rctx *ctx, const struct bs_selectors *sels, const char *section,
			  size_t index);

/* Names of the model's enums, in enum order, NULL-terminated
 * (recipe_model.c; the provider types' in provision/fleet.h). */
extern const char *const bs_restart_policy_names[];
extern const char *const bs_pull_policy_names[];
extern const char *const bs_update_order_names[];
extern const char *const bs_net_mode_names[];
extern const char *const bs_failure_action_names[];
extern const char *const bs_publish_mode_names[];
extern const char *const bs_encrypt_mode_names[];
extern const char *const bs_tls_mode_names[];

/* Does a replica of c run on n, as deploy places them? */
bool bs_recipe_placed(const struct bs_recipe *r, const struct bs_container *c,
		      const struct bs_node *n);

/*
 * The sections, one file each; every parser gets its section's node (NULL
 * when absent) and fills its part of ctx->recipe. recipe.c calls them in
 * this order, each going on after errors.
 */
/* recipe_provider.c */
void bs_recipe_parse_provider(struct bs_rctx *ctx, const struct bs_ynode *map);
void bs_recipe_parse_ssh(struct bs_rctx *ctx, const struct bs_ynode *map);
/* recipe_nodes.c: nodes (root for its "missing" report) */
void bs_recipe_parse_nodes(struct bs_rctx *ctx, const struct bs_ynode *seq,
			   const struct bs_ynode *root);
/* recipe_docker.c */
void bs_recipe_parse_docker(struct bs_rctx *ctx, const struct bs_ynode *map);
/* recipe_nodes.c */
void bs_recipe_parse_cluster(struct bs_rctx *ctx, const struct bs_ynode *map);
/* recipe_docker.c: registries, then those with credentials that
 * docker.daemon lets the engines reach over plain HTTP */
void bs_recipe_parse_registries(struct bs_rctx *ctx, const struct bs_ynode *seq);
void bs_recipe_check_insecure_credentials(struct bs_rctx *ctx, const struct bs_ynode *root);
/* recipe_images.c, recipe_domains.c, recipe_containers.c */
void bs_recipe_parse_images(struct bs_rctx *ctx, const struct bs_ynode *seq);
void bs_recipe_parse_domains(struct bs_rctx *ctx, const struct bs_ynode *map);
void bs_recipe_parse_containers(struct bs_rctx *ctx, const struct bs_ynode *seq);
/* recipe_containers.c: one container from its mapping (compose services
 * come as a mapping of the same keys) */
void bs_recipe_parse_container(struct bs_rctx *ctx, const struct bs_ynode *map,
			       struct bs_container *c);
/* recipe_images.c: one more images: entry, from a mapping of its keys
 * (a compose service's build:); returns it */
struct bs_image *bs_recipe_add_image(struct bs_rctx *ctx, const struct bs_ynode *map);
/* recipe_compose.c: compose: and services: (root), after containers: */
void bs_recipe_parse_compose(struct bs_rctx *ctx, const struct bs_ynode *root);
/* recipe.c: interpolate a tree read from another file (a compose file),
 * and mask the values its secret variables give */
void bs_recipe_interpolate(struct bs_rctx *ctx, struct bs_ynode *root);
/* recipe_files.c: a bind source that is a local path (./conf, ../x, ~/x):
 * resolved against the directory of the file at is in (the recipe's or a
 * compose file's), hashed, and given its path on the node. False when it
 * is not usable (reported at at). m->source is the path as written on
 * entry and the node's path on return. */
bool bs_recipe_local_mount(struct bs_rctx *ctx, const struct bs_ynode *at, struct bs_mount *m);
/* recipe_containers.c: free what a mount holds (not m itself). */
void bs_recipe_mount_free(struct bs_mount *m);
/* The directory of the file node is in: "." for a recipe read from stdin. Caller frees. */
char *bs_recipe_dir_of(const struct bs_rctx *ctx, const struct bs_ynode *node);

/* An image reference: reported (error, or a warning when untagged) at at;
 * false when invalid (recipe_images.c). */
bool bs_recipe_check_image_ref(struct bs_rctx *ctx, const struct bs_ynode *at, const char *ref);
/* The same as a table check on a char * field, which an invalid one leaves NULL. */
void bs_recipe_check_image_key(struct bs_rctx *ctx, const struct rkey *key,
			       const struct bs_ynode *at, void *section);

/* Cross references, in this order, once every section is parsed: domains
 * (recipe_domains.c; fills CONTAINER.base domains), container selectors,
 * names and ports (recipe_containers.c), images (recipe_images.c), what a
 * cluster service cannot be (recipe_containers.c). */
void bs_recipe_check_domains(struct bs_rctx *ctx);
void bs_recipe_check_containers(struct bs_rctx *ctx);
void bs_recipe_check_images(struct bs_rctx *ctx);
void bs_recipe_check_cluster(struct bs_rctx *ctx);
void bs_recipe_free_containers(struct bs_recipe *r);

/* recipe_depends.c: depends_on (an RK_FN entry), container_name's value
 * (a check on the RK_STR entry), and their cross checks, which
 * bs_recipe_check_containers runs. */
void bs_recipe_parse_depends_on(struct bs_rctx *ctx, const struct rkey *key,
				const struct bs_ynode *map, void *section);
void bs_recipe_check_container_name_key(struct bs_rctx *ctx, const struct rkey *key,
					const struct bs_ynode *at, void *section);
void bs_recipe_check_depends(struct bs_rctx *ctx);

#endif
