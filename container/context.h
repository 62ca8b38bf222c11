/*
 * context.h - a local directory read into a build context for POST /build.
 *
 * The context is what `docker build DIR` sends: a tar of DIR without what
 * DIR/.dockerignore excludes (the Dockerfile and .dockerignore are sent
 * even when excluded, as the docker CLI does). The tar is deterministic:
 * entries sorted by path, owner root, every mtime 0, so its bytes, and
 * the SHA-256 of them (the context hash), depend only on the paths, types,
 * permission bits, link targets and contents. A rebuild is wanted exactly
 * when that hash changed.
 *
 * .dockerignore as Docker documents it (moby's patternmatcher): one
 * pattern a line; a line starting with '#' is a comment; blanks around a
 * pattern are trimmed and blank lines skipped; each pattern is cleaned
 * (Go's filepath.Clean: "./", "//", trailing '/' and ".." resolved) and a
 * leading '/' dropped; Go filepath.Match syntax ('*' and '?' never match
 * '/', "[a-z]" and "[^a-z]" classes, '\' escapes) plus "**", any number of
 * directories, zero included; "!PATTERN" is an exception. A path is
 * excluded when the last pattern that matches it, or one of its parent
 * directories, is not an exception.
 *
 * No global state: plain functions any thread may call; each result is
 * the caller's and freed with its own _free().
 */
#ifndef BS_CONTAINER_CONTEXT_H
#define BS_CONTAINER_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"
#include "util/str.h"

/* The label of an image built from a local context: the context's hash. */
#define BS_LABEL_CONTEXT_HASH "io.bootstrap.context-hash"

#define BS_CONTEXT_MAX_BYTES (1024UL * 1024 * 1024) /* the tar, 1 GiB */
#define BS_CONTEXT_MAX_ENTRIES 200000

/* The patterns of a .dockerignore, in file order. */
struct bs_ignore_pattern {
	char *text; /* cleaned, without the '!' */
	bool exception;
};

struct bs_ignore {
	struct bs_ignore_pattern *v;
	size_t n;
	size_t cap;
};

#define BS_IGNORE_INIT                                                                             \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

/*
 * Append the patterns of a .dockerignore's text (len bytes) to ig. A
 * malformed pattern (an unclosed '[', a trailing '\', a '!' alone) is
 * BS_ERR_INVALID naming its line; ig then holds the lines before it.
 */
int bs_ignore_parse(struct bs_ignore *ig, const char *text, size_t len, struct bs_err *err);

/* Whether ig excludes path (relative to the context, '/'-separated). */
bool bs_ignore_excludes(const struct bs_ignore *ig, const char *path);

void bs_ignore_free(struct bs_ignore *ig);

struct bs_context_opts {
	const char *dockerfile; /* path in the context; NULL: "Dockerfile" */
	size_t max_bytes;	/* 0: BS_CONTEXT_MAX_BYTES */
	size_t max_entries;	/* 0: BS_CONTEXT_MAX_ENTRIES */
};

#define BS_CONTEXT_OPTS_INIT                                                                       \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

struct bs_context {
	struct bs_buf tar; /* the archive, ended */
	char hash[65];	   /* SHA-256 hex of tar */
	size_t entries;
};

/*
 * Read directory dir into *out (zeroed first). Regular files,
 * directories and symbolic links (never followed) are sent; sockets,
 * fifos and devices are skipped. Errors, each naming dir and what to do:
 * dir not a directory or the Dockerfile missing (BS_ERR_NOT_FOUND); a file
 * or directory that cannot be read (BS_ERR_IO); more than max_bytes of tar
 * or max_entries entries (BS_ERR_INVALID, pointing at .dockerignore); a
 * bad .dockerignore (BS_ERR_INVALID). On error *out holds nothing.
 */
int bs_context_read(struct bs_context *out, const char *dir, const struct bs_context_opts *opts,
		    struct bs_err *err);

void bs_context_free(struct bs_context *c);

#endif
