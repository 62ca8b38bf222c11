/*
 * nodefiles.h - local files and directories placed on a node, for the
 * containers that mount them.
 *
 * Each file has a content-addressed path on the node, DIR/HASH/NAME (DIR
 * is the project's folder, HASH names the content): a complete copy never
 * changes, so one that exists is done. bs_nodefiles_ship asks the node in
 * one command which paths exist; what is missing is read again, checked
 * against the hash the recipe loaded, packed into one tar, uploaded over
 * SFTP to a temporary path and unpacked by root in a staging folder of DIR,
 * from where each one is renamed into place: an interrupted copy never
 * leaves a partial file at a final path. DIR and the hash folders are
 * 0700 (dockerd, root, reads them), a file keeps the given mode, the files
 * of a directory their own, and symbolic links stay links.
 *
 * The content of what is copied (secrets among it) travels only inside
 * the uploaded archive: never in a command line, a message or an event.
 *
 * bs_nodefiles_read is the walk that defines the hash; the recipe loader
 * uses it too, so both hash the same bytes.
 *
 * Same thread rule as ssh.h: the caller owns the session on this thread.
 */
#ifndef BS_PROVISION_NODEFILES_H
#define BS_PROVISION_NODEFILES_H

#include <stdbool.h>
#include <stddef.h>

#include "container/tar.h"
#include "provision/ssh.h"
#include "util/error.h"
#include "util/str.h"

/* What one local mount may hold, in all. */
#define BS_NODEFILES_BYTES_MAX (64 * 1024 * 1024)
#define BS_NODEFILES_ENTRIES_MAX 10000

/* One entry of a local tree; rel is "." for the root, "./a/b" below it. */
struct bs_localtree_entry {
	enum bs_tar_kind kind; /* FILE, DIR or SYMLINK */
	char *rel;
	unsigned mode;
	char *link;    /* SYMLINK: its target */
	size_t offset; /* FILE: its content, in the tree's data */
	size_t size;
};

/* A local file or directory read whole: the entries and the hashed bytes
 * (a header line per entry, each file's content after its own). */
struct bs_localtree {
	struct bs_localtree_entry *entries;
	size_t n, cap;
	struct bs_buf data;
	char hash[65]; /* SHA-256 hex of data */
};

/*
 * Read path (a file, a directory walked in name order, or a link) into
 * *out; salt, when not NULL, is hashed first (a secret's project and
 * target). Sockets, fifos and devices are left out. More than
 * BS_NODEFILES_BYTES_MAX bytes or BS_NODEFILES_ENTRIES_MAX entries, or a
 * file that cannot be read, is BS_ERR_IO with err naming it. Free with
 * bs_localtree_free (which wipes the data) in every case.
 */
int bs_nodefiles_read(struct bs_localtree *out, const char *path, const char *salt,
		      struct bs_err *err);
void bs_localtree_free(struct bs_localtree *t);

/* One file or directory to place; the caller owns the strings. */
struct bs_nodefile {
	const char *local_path;	  /* absolute */
	const char *remote_path;  /* DIR/HASH/NAME */
	const char *content_hash; /* what bs_nodefiles_read gave when the recipe loaded */
	const char *salt;	  /* passed to bs_nodefiles_read again, or NULL */
	bool is_dir;
	bool secret;   /* its content is never shown (it never is anyway) */
	unsigned mode; /* a file's permission bits on the node */
};

struct bs_nodefiles_opts {
	const char *dir; /* the project's folder on the node, absolute */
	const struct bs_nodefile *files;
	size_t n_files;
	bool sudo;	 /* the login user is not root: commands go through sudo -n */
	bool dry_run;	 /* only find what is missing */
	long timeout_ms; /* one command; 0: 60 s (an upload: plus 1 s per MiB) */
	/* each file found missing (done false: dry_run) or copied (true) */
	void (*copied)(const struct bs_nodefile *f, bool done, void *payload);
	void *payload;
};

/* What bs_nodefiles_ship found in DIR besides the files it was given:
 * the names of folders no file of the list uses (hash folders of older
 * copies, an interrupted copy's staging folder). */
struct bs_nodefiles_state {
	struct bs_strv stale;
	size_t copied;
};

/*
 * Append f, read again and checked against its content_hash, to the tar
 * archive being built in tar: under PREFIX/NAME (NAME: the last part of
 * its remote path), a file with f's mode, a directory's entries with
 * their own modes, links as links, owner root. BS_ERR_IO naming the file
 * when it cannot be read, or differs from what the recipe loaded ("edited
 * during the run: run again").
 */
int bs_nodefiles_pack(struct bs_buf *tar, const struct bs_nodefile *f, const char *prefix,
		      long long mtime, struct bs_err *err);

/*
 * Make every file of o exist on the node with its content. One command
 * when nothing is missing. Errors name the node and the file: BS_ERR_IO
 * (a local file unreadable, or edited since the recipe loaded),
 * BS_ERR_INVALID (a remote path outside DIR), BS_ERR_REMOTE (the node's
 * command failed), BS_ERR_AUTH (sudo refused), BS_ERR_TIMEOUT,
 * BS_ERR_INTERRUPTED, BS_ERR_NETWORK. *state is filled as far as known;
 * free it with bs_nodefiles_state_free.
 */
int bs_nodefiles_ship(struct bs_ssh *s, const struct bs_nodefiles_opts *o,
		      struct bs_nodefiles_state *state, struct bs_err *err);

/* Remove state->stale's folders from DIR (one command; none when there is
 * nothing stale). */
int bs_nodefiles_prune(struct bs_ssh *s, const struct bs_nodefiles_opts *o,
		       const struct bs_nodefiles_state *state, struct bs_err *err);

/* Remove DIR and all in it (destroy). */
int bs_nodefiles_remove(struct bs_ssh *s, const struct bs_nodefiles_opts *o, struct bs_err *err);

void bs_nodefiles_state_free(struct bs_nodefiles_state *state);

#endif
