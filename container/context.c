/*
 * context.c - .dockerignore patterns, and a local directory read into a
 * deterministic tar (container/tar.c writes the entries).
 *
 * Matching follows moby's patternmatcher, which compiles a pattern to a
 * regular expression: '*' is "[^/]" repeated, '?' is "[^/]", "**" (with
 * a '/' after it or not) is any prefix that ends in '/', or none, and "**"
 * at the end is ".*". The matcher below walks
 * the pattern and the path the same way, with a memo of (pattern offset,
 * path offset) results, so that patterns full of stars stay linear in
 * their product rather than exponential.
 *
 * The walk: a directory the patterns exclude is still entered when an
 * exception could match below it (a pattern whose literal start is
 * compatible with the directory's path, as the docker CLI checks), and
 * then sent only when something inside it is. The whole tree is listed
 * (paths, lstat data) before any content is read, so that the size and
 * entry limits refuse a huge context before reading it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container/context.h"
#include "container/tar.h"

/* ---- patterns ------------------------------------------------------------ */

/* Go's filepath.Clean, for '/'-separated paths; caller frees. */
static char *clean_path(const char *path)
{
	struct bs_buf out = BS_BUF_INIT;
	bool rooted = path[0] == '/';
	size_t base = rooted ? 1 : 0, dotdots = 0; /* leading ".." kept */
	const char *p = path;

	if (rooted)
		bs_buf_putc(&out, '/');
	while (*p != '\0') {
		size_t n = strcspn(p, "/");
		bool dotdot = n == 2 && p[0] == '.' && p[1] == '.';

		if (n == 0 || (n == 1 && p[0] == '.')) {
			/* an empty or "." part */
		} else if (dotdot && out.len > base + dotdots * 3 - (dotdots > 0)) {
			/* drop the last part (not a kept "..") */
			while (out.len > base && out.data[out.len - 1] != '/')
				out.len--;
			if (out.len > base)
				out.len--;
			out.data[out.len] = '\0';
		} else if (dotdot && rooted) {
			/* "/.." is "/" */
		} else {
			if (out.len > base)
				bs_buf_putc(&out, '/');
			bs_buf_append(&out, p, n);
			if (dotdot)
				dotdots++;
		}
		p += n;
		if (*p == '/')
			p++;
	}
	if (out.len == 0)
		bs_buf_putc(&out, '.');
	return bs_buf_detach(&out);
}

/*
 * One '[...]' class at *pp (just past '['), against c; *pp is left past
 * ']'. 1 matched, 0 not, -1 malformed (as Go's filepath.Match: no ']' or
 * '-' where a character is wanted, no closing ']').
 */
static int class_match(const char **pp, const char *end, unsigned char c)
{
	const char *p = *pp;
	bool negated = false, matched = false;
	int ranges = 0;

	if (p < end && *p == '^') {
		negated = true;
		p++;
	}
	for (;;) {
		unsigned char lo, hi;

		if (p < end && *p == ']' && ranges > 0) {
			p++;
			break;
		}
		if (p >= end || *p == '-' || *p == ']')
			return -1;
		if (*p == '\\' && ++p >= end)
			return -1;
		lo = (unsigned char)*p++;
		hi = lo;
		if (p < end && *p == '-') {
			p++;
			if (p >= end || *p == ']' || *p == '-')
				return -1;
			if (*p == '\\' && ++p >= end)
				return -1;
			hi = (unsigned char)*p++;
		}
		if (lo <= c && c <= hi)
			matched = true;
		ranges++;
	}
	*pp = p;
	/* '/' separates parts: no class matches it, as in filepath.Match */
	return c != '/' && matched != negated;
}

struct matcher {
	const char *pat;
	size_t plen;
	const char *path;
	size_t slen;
	unsigned char *memo; /* (plen+1) x (slen+1): 0 unknown, 1 no, 2 yes */
};

static bool match_from(struct matcher *m, size_t pi, size_t si)
{
	unsigned char *memo = &m->memo[pi * (m->slen + 1) + si];
	bool result = false;

	if (*memo != 0)
		return *memo == 2;
	while (pi < m->plen) {
		char pc = m->pat[pi];

		if (pc == '*' && pi + 1 < m->plen && m->pat[pi + 1] == '*') {
			pi += 2;
			if (pi < m->plen && m->pat[pi] == '/')
				pi++;
			if (pi == m->plen) {
				result = true; /* ".*" */
				goto out;
			}
			/* here, or after any '/' further on */
			result = match_from(m, pi, si);
			for (size_t k = si; !result && k < m->slen; k++)
				if (m->path[k] == '/')
					result = match_from(m, pi, k + 1);
			goto out;
		}
		if (pc == '*') {
			for (size_t k = si;; k++) {
				if (match_from(m, pi + 1, k)) {
					result = true;
					goto out;
				}
				if (k == m->slen || m->path[k] == '/')
					goto out;
			}
		}
		if (si == m->slen)
			goto out;
		if (pc == '?') {
			if (m->path[si] == '/')
				goto out;
		} else if (pc == '[') {
			const char *p = m->pat + pi + 1;

			if (class_match(&p, m->pat + m->plen, (unsigned char)m->path[si]) != 1)
				goto out;
			pi = (size_t)(p - m->pat);
			si++;
			continue;
		} else {
			if (pc == '\\' && pi + 1 < m->plen)
				pc = m->pat[++pi];
			if (pc != m->path[si])
				goto out;
		}
		pi++;
		si++;
	}
	result = si == m->slen;
out:
	*memo = result ? 2 : 1;
	return result;
}

/* Whether pattern matches the first slen bytes of path, whole. */
static bool pattern_matches(const char *pattern, const char *path, size_t slen)
{
	struct matcher m;
	unsigned char small[1024];
	bool result;

	m.pat = pattern;
	m.plen = strlen(pattern);
	m.path = path;
	m.slen = slen;
	if ((m.plen + 1) * (slen + 1) <= sizeof(small)) {
		memset(small, 0, (m.plen + 1) * (slen + 1));
		m.memo = small;
	} else {
		m.memo = bs_xcalloc((m.plen + 1) * (slen + 1), 1);
	}
	result = match_from(&m, 0, 0);
	if (m.memo != small)
		free(m.memo);
	return result;
}

/* Whether a pattern is well formed, as filepath.Match checks it. */
static bool pattern_valid(const char *pattern)
{
	const char *end = pattern + strlen(pattern);

	for (const char *p = pattern; p < end; p++) {
		if (*p == '\\') {
			if (++p >= end)
				return false;
		} else if (*p == '[') {
			const char *q = p + 1;

			if (class_match(&q, end, 'a') < 0)
				return false;
			p = q - 1;
		}
	}
	return true;
}

static void add_pattern(struct bs_ignore *ig, char *text, bool exception)
{
	bs_xgrow((void **)&ig->v, &ig->cap, ig->n + 1, sizeof(*ig->v));
	ig->v[ig->n].text = text;
	ig->v[ig->n].exception = exception;
	ig->n++;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* [*s, *e) without the blanks around it. */
static void trim(const char **s, const char **e)
{
	while (*s < *e && is_blank(**s))
		(*s)++;
	while (*e > *s && is_blank((*e)[-1]))
		(*e)--;
}

int bs_ignore_parse(struct bs_ignore *ig, const char *text, size_t len, struct bs_err *err)
{
	const char *p = text, *end = text + len;
	int line = 0;

	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) /* a UTF-8 BOM */
		p += 3;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *s = p, *e = nl ? nl : end;
		bool exception = false;
		char *raw, *clean;

		p = nl ? nl + 1 : end;
		line++;
		if (s < e && *s == '#')
			continue;
		trim(&s, &e);
		if (s == e)
			continue;
		if (*s == '!') {
			exception = true;
			s++;
			trim(&s, &e);
			if (s == e)
				return bs_err_set(err, BS_ERR_INVALID,
						  ".dockerignore line %d: '!' names no pattern "
						  "(write !PATTERN)",
						  line);
		}
		if (memchr(s, '\0', (size_t)(e - s)) != NULL)
			return bs_err_set(err, BS_ERR_INVALID,
					  ".dockerignore line %d: a NUL byte in a pattern", line);
		raw = bs_xstrndup(s, (size_t)(e - s));
		clean = clean_path(raw);
		free(raw);
		if (clean[0] == '/' && clean[1] != '\0')
			memmove(clean, clean + 1, strlen(clean));
		/* moby reads "/!x" as "!x" and only then looks for the '!': an
		 * exception too ("!/!x" stays the literal name "!x") */
		if (!exception && clean[0] == '!') {
			exception = true;
			memmove(clean, clean + 1, strlen(clean));
			if (clean[0] == '\0') {
				free(clean);
				return bs_err_set(err, BS_ERR_INVALID,
						  ".dockerignore line %d: '!' names no pattern "
						  "(write !PATTERN)",
						  line);
			}
		}
		if (!pattern_valid(clean)) {
			/* shown on one line: control characters as '?' */
			for (char *c = clean; *c != '\0'; c++)
				if ((unsigned char)*c < ' ' || *c == 0x7f)
					*c = '?';
			bs_err_set(err, BS_ERR_INVALID,
				   ".dockerignore line %d: '%.200s' is not a valid pattern (an "
				   "unclosed or empty [...] class, or a trailing \\)",
				   line, clean);
			free(clean);
			return err->code;
		}
		add_pattern(ig, clean, exception);
	}
	return 0;
}

bool bs_ignore_excludes(const struct bs_ignore *ig, const char *path)
{
	size_t len = strlen(path);
	bool excluded = false;

	for (size_t i = 0; i < ig->n; i++) {
		const struct bs_ignore_pattern *pat = &ig->v[i];
		bool match;

		/* an exclusion changes nothing once excluded, an exception
		 * nothing while included */
		if (pat->exception != excluded)
			continue;
		match = pattern_matches(pat->text, path, len);
		for (size_t k = 0; !match && k < len; k++)
			if (path[k] == '/')
				match = pattern_matches(pat->text, path, k);
		if (match)
			excluded = !pat->exception;
	}
	return excluded;
}

void bs_ignore_free(struct bs_ignore *ig)
{
	for (size_t i = 0; i < ig->n; i++)
		free(ig->v[i].text);
	free(ig->v);
	memset(ig, 0, sizeof(*ig));
}

/* Could an exception match something below directory dir? Compares the
 * literal start of each exception (up to its first wildcard) with dir/. */
static bool may_reinclude(const struct bs_ignore *ig, const char *dir)
{
	size_t dlen = strlen(dir);

	for (size_t i = 0; i < ig->n; i++) {
		const char *t = ig->v[i].text;
		size_t lit = strcspn(t, "*?[\\"), n = lit < dlen + 1 ? lit : dlen + 1;
		bool compatible = true;

		if (!ig->v[i].exception)
			continue;
		for (size_t k = 0; k < n && compatible; k++)
			compatible = t[k] == (k < dlen ? dir[k] : '/');
		if (compatible)
			return true;
	}
	return false;
}

/* ---- the walk ------------------------------------------------------------ */

struct entry {
	char *path; /* relative, '/'-separated */
	enum bs_tar_kind kind;
	unsigned mode;
	size_t size;
	char *link_name;
	bool sent;
};

struct walk {
	const char *root;
	const struct bs_ignore *ig;
	struct entry *v;
	size_t n, cap;
	size_t entries, bytes; /* of what is sent */
	size_t max_bytes, max_entries;
	struct bs_err *err;
};

static char *full_path(const struct walk *w, const char *rel)
{
	return rel[0] == '\0' ? bs_xstrdup(w->root) : bs_xasprintf("%s/%s", w->root, rel);
}

static int too_big(const struct walk *w)
{
	if (w->entries > w->max_entries)
		return bs_err_set(w->err, BS_ERR_INVALID,
				  "build context %s: more than %zu files and directories to send; "
				  "exclude what the build does not need in %s/.dockerignore",
				  w->root, w->max_entries, w->root);
	return bs_err_set(w->err, BS_ERR_INVALID,
			  "build context %s: more than %zu MiB to send; exclude what the build "
			  "does not need (dependencies, build output, .git) in %s/.dockerignore",
			  w->root, w->max_bytes >> 20, w->root);
}

/* Count entry i as sent: with its tar size against the limits. */
static int mark_sent(struct walk *w, size_t i)
{
	size_t need =
		BS_TAR_BLOCK + (w->v[i].size + BS_TAR_BLOCK - 1) / BS_TAR_BLOCK * BS_TAR_BLOCK;

	if (w->v[i].sent)
		return 0;
	w->v[i].sent = true;
	w->entries++;
	/* a long name or link target may cost a pax header and its records */
	if (strlen(w->v[i].path) >= BS_TAR_NAME_MAX || w->v[i].link_name != NULL)
		need += 2 * BS_TAR_BLOCK + strlen(w->v[i].path) +
			(w->v[i].link_name ? strlen(w->v[i].link_name) : 0);
	w->bytes += need;
	if (w->entries > w->max_entries || w->bytes + 2 * BS_TAR_BLOCK > w->max_bytes)
		return too_big(w);
	return 0;
}

static size_t push_entry(struct walk *w, const char *rel, enum bs_tar_kind kind,
			 const struct stat *st)
{
	struct entry *e;

	bs_xgrow((void **)&w->v, &w->cap, w->n + 1, sizeof(*w->v));
	e = &w->v[w->n];
	memset(e, 0, sizeof(*e));
	e->path = bs_xstrdup(rel);
	e->kind = kind;
	e->mode = (unsigned)(st->st_mode & 07777);
	e->size = kind == BS_TAR_FILE ? (size_t)st->st_size : 0;
	return w->n++;
}

static int read_link(struct walk *w, const char *rel, const struct stat *st, char **out)
{
	char *full = full_path(w, rel);
	size_t cap = st->st_size > 0 && st->st_size < PATH_MAX ? (size_t)st->st_size + 1 : PATH_MAX;
	char *buf = bs_xmalloc(cap);
	ssize_t n = readlink(full, buf, cap);
	int rc = 0;

	if (n < 0 || (size_t)n >= cap) {
		rc = bs_err_set(w->err, BS_ERR_IO,
				"build context %s: cannot read symbolic link %s: %s", w->root, full,
				n < 0 ? strerror(errno) : "its target grew while read");
		free(buf);
		buf = NULL;
	} else {
		buf[n] = '\0';
	}
	free(full);
	*out = buf;
	return rc;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in directory rel, sorted; *names is the caller's. */
static int list_dir(struct walk *w, const char *rel, char ***names, size_t *n)
{
	char *full = full_path(w, rel);
	DIR *d = opendir(full);
	struct dirent *de;
	size_t cap = 0;

	*names = NULL;
	*n = 0;
	if (d == NULL) {
		int rc = bs_err_set(w->err, errno == ENOENT ? BS_ERR_NOT_FOUND : BS_ERR_IO,
				    "build context %s: cannot read directory %s: %s", w->root, full,
				    strerror(errno));

		free(full);
		return rc;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (de == NULL)
			break;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		bs_xgrow((void **)names, &cap, *n + 1, sizeof(**names));
		(*names)[(*n)++] = bs_xstrdup(de->d_name);
	}
	if (errno != 0) {
		int rc = bs_err_set(w->err, BS_ERR_IO,
				    "build context %s: cannot read directory %s: %s", w->root, full,
				    strerror(errno));

		closedir(d);
		free(full);
		return rc;
	}
	closedir(d);
	free(full);
	if (*n > 1)
		qsort(*names, *n, sizeof(**names), cmp_names);
	return 0;
}

/* Walk directory rel ("" for the root); *any_sent: something below is sent. */
static int walk_dir(struct walk *w, const char *rel, bool *any_sent)
{
	char **names = NULL;
	size_t n = 0, i;
	int rc;

	*any_sent = false;
	rc = list_dir(w, rel, &names, &n);
	for (i = 0; rc == 0 && i < n; i++) {
		char *child = rel[0] ? bs_xasprintf("%s/%s", rel, names[i]) : bs_xstrdup(names[i]);
		char *full = full_path(w, child);
		bool excluded = bs_ignore_excludes(w->ig, child), below = false;
		struct stat st;
		size_t at;

		if (lstat(full, &st) != 0) {
			rc = bs_err_set(w->err, BS_ERR_IO, "build context %s: cannot read %s: %s",
					w->root, full, strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			at = push_entry(w, child, BS_TAR_DIR, &st);
			if (!excluded)
				rc = mark_sent(w, at);
			if (rc == 0 && (!excluded || may_reinclude(w->ig, child)))
				rc = walk_dir(w, child, &below);
			if (rc == 0 && below)
				rc = mark_sent(w, at);
			*any_sent = *any_sent || w->v[at].sent;
		} else if (!excluded && (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode))) {
			at = push_entry(w, child,
					S_ISREG(st.st_mode) ? BS_TAR_FILE : BS_TAR_SYMLINK, &st);
			if (S_ISLNK(st.st_mode))
				rc = read_link(w, child, &st, &w->v[at].link_name);
			if (rc == 0)
				rc = mark_sent(w, at);
			*any_sent = true;
		}
		/* sockets, fifos and devices are no part of a context */
		free(full);
		free(child);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* The contents of regular file rel, exactly size bytes as listed. */
static int read_file(struct walk *w, const struct entry *e, char **data)
{
	char *full = full_path(w, e->path);
	int fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	size_t got = 0;
	int rc = 0;

	*data = bs_xmalloc(e->size + 1);
	if (fd < 0)
		rc = bs_err_set(w->err, BS_ERR_IO, "build context %s: cannot read %s: %s", w->root,
				full, strerror(errno));
	while (rc == 0 && got < e->size) {
		ssize_t n = read(fd, *data + got, e->size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			rc = bs_err_set(w->err, BS_ERR_IO, "build context %s: cannot read %s: %s",
					w->root, full,
					n < 0 ? strerror(errno) : "it shrank while being read");
		else
			got += (size_t)n;
	}
	if (fd >= 0)
		close(fd);
	free(full);
	if (rc != 0) {
		free(*data);
		*data = NULL;
	}
	return rc;
}

static int cmp_entries(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

/* ig from dir/.dockerignore, with the Dockerfile and .dockerignore kept. */
static int read_ignore(struct walk *w, const char *dockerfile, struct bs_ignore *ig)
{
	char *path = bs_xasprintf("%s/.dockerignore", w->root);
	struct bs_buf text = BS_BUF_INIT;
	char chunk[4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
	char *df;

	if (fd < 0 && errno != ENOENT)
		rc = bs_err_set(w->err, BS_ERR_IO, "cannot read %s: %s", path, strerror(errno));
	while (rc == 0 && fd >= 0) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = bs_err_set(w->err, BS_ERR_IO, "cannot read %s: %s", path,
					strerror(errno));
		if (n <= 0)
			break;
		bs_buf_append(&text, chunk, (size_t)n);
	}
	if (fd >= 0)
		close(fd);
	if (rc == 0 && text.len > 0 && bs_ignore_parse(ig, text.data, text.len, w->err) != 0)
		rc = w->err->code;
	if (rc != 0 && rc != BS_ERR_IO)
		bs_err_prefix(w->err, "%s", path);
	bs_buf_free(&text);
	free(path);
	if (rc != 0)
		return rc;
	/* sent even when excluded: the builder needs them (docker CLI's
	 * TrimBuildFilesFromExcludes) */
	if (bs_ignore_excludes(ig, ".dockerignore"))
		add_pattern(ig, bs_xstrdup(".dockerignore"), true);
	df = clean_path(dockerfile);
	if (bs_ignore_excludes(ig, df))
		add_pattern(ig, df, true);
	else
		free(df);
	return 0;
}

static void free_entries(struct walk *w)
{
	for (size_t i = 0; i < w->n; i++) {
		free(w->v[i].path);
		free(w->v[i].link_name);
	}
	free(w->v);
}

int bs_context_read(struct bs_context *out, const char *dir, const struct bs_context_opts *opts,
		    struct bs_err *err)
{
	struct bs_ignore ig = BS_IGNORE_INIT;
	const char *dockerfile = opts && opts->dockerfile ? opts->dockerfile : "Dockerfile";
	struct walk w;
	struct stat st;
	char *df_path = NULL;
	bool any = false;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	memset(&w, 0, sizeof(w));
	w.root = dir;
	w.ig = &ig;
	w.err = err;
	w.max_bytes = opts && opts->max_bytes ? opts->max_bytes : BS_CONTEXT_MAX_BYTES;
	w.max_entries = opts && opts->max_entries ? opts->max_entries : BS_CONTEXT_MAX_ENTRIES;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		rc = bs_err_set(err, BS_ERR_NOT_FOUND,
				"build context %s: %s (name a directory that holds the Dockerfile)",
				dir, stat(dir, &st) != 0 ? strerror(errno) : "not a directory");
		goto out;
	}
	df_path = bs_xasprintf("%s/%s", dir, dockerfile);
	if (dockerfile[0] == '/' || stat(df_path, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = bs_err_set(err, BS_ERR_NOT_FOUND,
				"build context %s: no Dockerfile %s in it (add it, or name the "
				"one to use with dockerfile: / -f, relative to the context)",
				dir, dockerfile);
		goto out;
	}
	rc = read_ignore(&w, dockerfile, &ig);
	if (rc == 0)
		rc = walk_dir(&w, "", &any);
	if (rc != 0)
		goto out;
	qsort(w.v, w.n, sizeof(*w.v), cmp_entries);
	for (size_t i = 0; rc == 0 && i < w.n; i++) {
		struct bs_tar_item item;
		char *data = NULL;

		if (!w.v[i].sent)
			continue;
		memset(&item, 0, sizeof(item));
		item.kind = w.v[i].kind;
		item.name = w.v[i].path;
		item.link_name = w.v[i].link_name;
		item.mode = w.v[i].mode;
		item.size = w.v[i].size;
		if (item.kind == BS_TAR_FILE && item.size > 0)
			rc = read_file(&w, &w.v[i], &data);
		item.data = data;
		if (rc == 0)
			rc = bs_tar_add(&out->tar, &item, err);
		free(data);
	}
	if (rc != 0)
		goto out;
	bs_tar_end(&out->tar);
	out->entries = w.entries;
	bs_sha256_hex(out->tar.data, out->tar.len, out->hash);
out:
	if (rc != 0)
		bs_context_free(out);
	free(df_path);
	free_entries(&w);
	bs_ignore_free(&ig);
	return rc;
}

void bs_context_free(struct bs_context *c)
{
	if (c == NULL)
		return;
	bs_buf_free(&c->tar);
	memset(c, 0, sizeof(*c));
}
