/*
 * gitref.h - which branch a git repository's HEAD names, asked of the git
 * server itself before a build of a URL without #ref.
 *
 * Docker's engine clones a remote build context at "master" when the URL
 * names no ref, which fails on every repository whose default branch is
 * another ("main"). The server's ref advertisement says what HEAD points
 * to (the symref=HEAD:refs/heads/NAME capability, git 1.8.4.3 and later):
 * over smart HTTP (GET URL/info/refs?service=git-upload-pack) and over
 * the git protocol (git://, port 9418). Bounded by a timeout; the caller
 * falls back to the engine's default when the server cannot be asked.
 */
#ifndef BS_CONTAINER_GITREF_H
#define BS_CONTAINER_GITREF_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

/*
 * The branch HEAD names ("main"), for an http://, https:// or git:// URL
 * (with no #fragment); *branch is then owned by the caller. Errors:
 * BS_ERR_INVALID for a URL it cannot ask (ssh, git@host:path),
 * BS_ERR_NOT_FOUND when HEAD names no branch (an empty repository, a
 * detached HEAD, an old server), others when the server cannot be reached
 * or answers something else. A URL's password never appears in err.
 */
int bs_git_default_branch(const char *url, long timeout_ms, char **branch, struct bs_err *err);

/*
 * Read a ref advertisement in pkt-lines: the git protocol's, or smart
 * HTTP's (which starts with "# service=git-upload-pack" and a flush).
 * 0 and *branch, or BS_ERR_NOT_FOUND (no symref for HEAD), or
 * BS_ERR_PROTOCOL (not pkt-lines; err says what).
 */
int bs_git_parse_advert(const char *data, size_t len, char **branch, struct bs_err *err);

#endif
