/*
 * tar.h - the one-file tar archives of the engine's archive endpoints.
 *
 * PUT /containers/{id}/archive takes a tar to extract in a directory, and
 * GET /containers/{id}/archive answers with a tar of a path; POST /build
 * takes a build context as a tar. The driver moves single files (a
 * configuration, a certificate) with an archive of one regular file, and
 * container/context.c writes a context entry by entry (bs_tar_add, then
 * bs_tar_end); this module reads only the first entry of an archive. The archive read is the engine's answer, untrusted input:
 * every size is checked against the bytes that arrived, and a truncated or
 * malformed archive is an error that says so.
 *
 * No I/O and no state: plain functions any thread may call.
 */
#ifndef BS_CONTAINER_TAR_H
#define BS_CONTAINER_TAR_H

#include <stddef.h>

#include "util/error.h"
#include "util/str.h"

#define BS_TAR_BLOCK 512
#define BS_TAR_NAME_MAX 100 /* a ustar name field, without the prefix field */

/*
 * Append to out a ustar archive of one regular file: name (a plain file
 * name: no '/', not "." or "..", at most BS_TAR_NAME_MAX bytes), len bytes
 * of data, permission bits mode (at most 07777), owner root (uid and gid
 * 0), modification time mtime (unix seconds). A bad name or mode is
 * BS_ERR_INVALID, with err saying which.
 */
int bs_tar_one_file(struct bs_buf *out, const char *name, const void *data, size_t len,
		    unsigned mode, long long mtime, struct bs_err *err);

enum bs_tar_kind {
	BS_TAR_FILE, /* regular file */
	BS_TAR_DIR,
	BS_TAR_SYMLINK,
	BS_TAR_HARDLINK,
	BS_TAR_OTHER, /* device, fifo, or an unknown type */
};

/* One entry to write; the caller owns every pointer. */
struct bs_tar_item {
	enum bs_tar_kind kind; /* BS_TAR_FILE, BS_TAR_DIR or BS_TAR_SYMLINK */
	const char *name;      /* relative path: no leading '/', no "." or ".." part */
	const char *link_name; /* BS_TAR_SYMLINK: the target, as readlink gives it */
	unsigned mode;	       /* permission bits, at most 07777 */
	long long mtime;       /* unix seconds; 0 or less writes 0 */
	const void *data;      /* BS_TAR_FILE: size bytes */
	size_t size;
};

/*
 * Append one entry to out: its ustar header (owner root, uid and gid 0; a
 * directory's name ends in '/'), then its data padded to a block. A name
 * that fits no ustar name and prefix field, or a link target over 100
 * bytes, is carried by a pax extended header ('x', "path" and "linkpath"
 * records) before it. A bad name, kind or mode is BS_ERR_INVALID, with
 * err saying which; out is then unchanged. Finish with bs_tar_end().
 */
int bs_tar_add(struct bs_buf *out, const struct bs_tar_item *item, struct bs_err *err);

/* Append the two zero blocks that end an archive. */
void bs_tar_end(struct bs_buf *out);

/* One entry of an archive; data points into the archive read. */
struct bs_tar_entry {
	enum bs_tar_kind kind;
	char name[257];	     /* ustar prefix "/" name */
	char link_name[101]; /* symlinks and hard links */
	unsigned mode;	     /* permission bits */
	const char *data;    /* size bytes; regular files only */
	size_t size;
};

/*
 * The first entry of the tar archive of len bytes at tar, extension
 * headers (pax 'x' and 'g', GNU long names 'L' and 'K') skipped. Returns 0
 * with *out filled; BS_ERR_PROTOCOL when the archive is truncated (a
 * header, an extension or the entry's data goes past len), malformed (a
 * bad checksum or number field) or holds no entry, with err saying which.
 * The trailing end-of-archive blocks are not required. Once the entry's
 * header was read, out->kind, name and size are set even when its data is
 * cut short: a caller that stopped reading early can tell a file bigger
 * than it wanted from a broken archive.
 */
int bs_tar_first_entry(const void *tar, size_t len, struct bs_tar_entry *out, struct bs_err *err);

/* "directory", "symbolic link", ... for messages. */
const char *bs_tar_kind_name(enum bs_tar_kind kind);

#endif
