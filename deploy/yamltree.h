/*
 * yamltree.h - a recipe document as a tree of positioned YAML nodes.
 *
 * libyaml's event parser feeds a builder that keeps, for every node, the
 * line and column where it starts, so that every later check can point at
 * the exact place. The builder enforces what a recipe may be: one document,
 * string keys, no duplicate keys, bounded size, depth and alias expansion
 * ("billion laughs"). Merge keys ("<<: *anchor") are resolved here.
 *
 * Nodes reached through aliases are shared (reference counted); the tree is
 * read-only after bs_ytree_parse() except for the interpolation fields.
 * One tree per recipe load, one thread.
 */
#ifndef BS_DEPLOY_YAMLTREE_H
#define BS_DEPLOY_YAMLTREE_H

#include <stdbool.h>
#include <stddef.h>

#include "deploy/diag.h"
#include "util/str.h"

enum bs_ynode_kind {
	BS_YNODE_SCALAR,
	BS_YNODE_SEQ,
	BS_YNODE_MAP,
};

struct bs_ynode;

struct bs_ypair {
	struct bs_ynode *key; /* always a scalar */
	struct bs_ynode *value;
};

struct bs_ynode {
	enum bs_ynode_kind kind;
	int line;	  /* 1-based */
	int col;	  /* 1-based, in characters */
	const char *file; /* the file it is in when not the recipe (borrowed), or NULL */
	unsigned refs;
	size_t weight; /* nodes in this subtree, aliases expanded */
	/* scalars */
	char *value;	     /* NUL-terminated (after interpolation) */
	bool plain;	     /* plain style: may be null, bool or number */
	bool interpolated;   /* interpolation already ran on value */
	bool secret;	     /* value came from a secret */
	bool bad;	     /* already reported: a placeholder for an
				 * unusable node, or a failed ${...}; later
				 * checks skip it rather than pile on */
	struct bs_strv vars; /* variables value refers to */
	/* sequences */
	struct bs_ynode **items;
	/* mappings */
	struct bs_ypair *pairs;
	size_t n; /* items or pairs */
	size_t cap;
};

/* Limits on what a recipe may be. */
#define BS_RECIPE_MAX_BYTES (4u * 1024 * 1024)
#define BS_YAML_MAX_DEPTH 64
#define BS_YAML_MAX_NODES 200000

/*
 * Parse one YAML document. Returns the root, or NULL for an empty document
 * or a fatal error (syntax, limits). Errors that leave the tree usable
 * (duplicate keys, unknown aliases) are added to diags and parsing goes
 * on, so the caller can report further problems. Free with bs_ynode_unref().
 */
struct bs_ynode *bs_ytree_parse(const char *data, size_t len, struct bs_diags *diags);

void bs_ynode_unref(struct bs_ynode *node);

/*
 * Building trees (the compose loader's normalised services): new nodes at
 * a given place, one reference each. bs_ynode_put and bs_ynode_push take
 * over the caller's reference to value (bs_ynode_ref first to share one).
 */
struct bs_ynode *bs_ynode_ref(const struct bs_ynode *node);
struct bs_ynode *bs_ynode_new(enum bs_ynode_kind kind, int line, int col);
struct bs_ynode *bs_ynode_new_scalar(const char *value, int line, int col);
/* map[key] = value, replacing a value already there; key's place is
 * value's. */
void bs_ynode_put(struct bs_ynode *map, const char *key, struct bs_ynode *value);
/* The same with the key's own node (its place kept; reference taken). */
void bs_ynode_put_pair(struct bs_ynode *map, struct bs_ynode *key, struct bs_ynode *value);
void bs_ynode_push(struct bs_ynode *seq, struct bs_ynode *value);
/* Mark every node of the tree as being in file (borrowed). */
void bs_ynode_set_file(struct bs_ynode *node, const char *file);

/* The value of key in a mapping, or NULL. */
struct bs_ynode *bs_ynode_get(const struct bs_ynode *map, const char *key);

/* A plain scalar spelled as YAML's null: "", "~", "null". */
bool bs_ynode_is_null(const struct bs_ynode *node);

/* A human name for the node's kind ("a mapping", "a list", "a string"). */
const char *bs_ynode_kind_name(const struct bs_ynode *node);

#endif
