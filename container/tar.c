/*
 * tar.c - write ustar archives entry by entry, read the first entry of one.
 *
 * The layout is POSIX ustar (IEEE 1003.1, "pax" chapter): 512-byte
 * headers of fixed fields, numbers in octal text, the data padded to 512,
 * two zero blocks at the end. The engine's own archives (Go's archive/tar)
 * may put pax or GNU extension headers before an entry (long names,
 * extended attributes): those are skipped, not interpreted; a pax "size"
 * record only matters for files over 8 GiB, far past any limit a caller
 * of this module sets.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "container/tar.h"

/* Offsets and widths of the ustar header's fields. */
#define H_NAME 0
#define H_MODE 100
#define H_UID 108
#define H_GID 116
#define H_SIZE 124
#define H_MTIME 136
#define H_CHKSUM 148
#define H_TYPE 156
#define H_LINKNAME 157
#define H_MAGIC 257
#define H_VERSION 263
#define H_UNAME 265
#define H_GNAME 297
#define H_PREFIX 345

#define W_NAME 100
#define W_NUM 8	 /* mode, uid, gid, chksum */
#define W_BIG 12 /* size, mtime */
#define W_LINKNAME 100
#define W_PREFIX 155

/* Largest size an 11-digit octal field holds. */
#define USTAR_SIZE_MAX 077777777777ULL

/* width-1 octal digits, zero-padded, and a NUL; false when v does not fit. */
static bool put_octal(unsigned char *field, size_t width, unsigned long long v)
{
	size_t i = width - 1;

	field[i] = '\0';
	while (i > 0) {
		field[--i] = (unsigned char)('0' + (v & 7));
		v >>= 3;
	}
	return v == 0;
}

/* Sum of the header's bytes with the checksum field read as spaces, as an
 * unsigned and as a signed sum (old writers used signed chars). */
static void header_sums(const unsigned char *h, unsigned long *usum, long *ssum)
{
	size_t i;

	*usum = 0;
	*ssum = 0;
	for (i = 0; i < BS_TAR_BLOCK; i++) {
		unsigned char c = i >= H_CHKSUM && i < H_CHKSUM + W_NUM ? ' ' : h[i];

		*usum += c;
		*ssum += (signed char)c;
	}
}

/* Fill h with a ustar header of type type (the callers checked every number). */
static void put_header(unsigned char *h, char type, const char *name, const char *prefix,
		       const char *link_name, unsigned mode, unsigned long long size,
		       long long mtime)
{
	unsigned long usum;
	long ssum;

	memset(h, 0, BS_TAR_BLOCK);
	memcpy(h + H_NAME, name, strnlen(name, W_NAME));
	if (prefix != NULL)
		memcpy(h + H_PREFIX, prefix, strnlen(prefix, W_PREFIX));
	if (link_name != NULL)
		memcpy(h + H_LINKNAME, link_name, strnlen(link_name, W_LINKNAME));
	put_octal(h + H_MODE, W_NUM, mode);
	put_octal(h + H_UID, W_NUM, 0);
	put_octal(h + H_GID, W_NUM, 0);
	put_octal(h + H_SIZE, W_BIG, size);
	put_octal(h + H_MTIME, W_BIG, mtime > 0 ? (unsigned long long)mtime : 0);
	h[H_TYPE] = (unsigned char)type;
	memcpy(h + H_MAGIC, "ustar", 6); /* with its NUL */
	memcpy(h + H_VERSION, "00", 2);
	memcpy(h + H_UNAME, "root", 4);
	memcpy(h + H_GNAME, "root", 4);
	header_sums(h, &usum, &ssum);
	/* six digits, a NUL and a space: what tar(1) writes */
	put_octal(h + H_CHKSUM, 7, usum);
	h[H_CHKSUM + 7] = ' ';
}

static void pad_block(struct bs_buf *out, size_t len)
{
	static const unsigned char zeros[BS_TAR_BLOCK];

	if (len % BS_TAR_BLOCK != 0)
		bs_buf_append(out, zeros, BS_TAR_BLOCK - len % BS_TAR_BLOCK);
}

/* One pax record, "LEN KEY=VALUE\n", LEN counting the whole record. */
static void pax_record(struct bs_buf *rec, const char *key, const char *value)
{
	size_t body = 1 + strlen(key) + 1 + strlen(value) + 1; /* " key=value\n" */
	size_t len = body + 1, digits = 1;

	for (;;) {
		size_t d = 0;

		for (size_t v = len; v > 0; v /= 10)
			d++;
		if (d == digits)
			break;
		digits = d;
		len = body + digits;
	}
	bs_buf_printf(rec, "%zu %s=%s\n", len, key, value);
}

/* Split name into a ustar prefix and name at a '/'; false when it cannot. */
static bool split_name(const char *name, size_t len, size_t *cut)
{
	for (size_t i = len; i-- > 0;)
		if (name[i] == '/' && i <= W_PREFIX && len - i - 1 <= W_NAME && len - i - 1 > 0) {
			*cut = i;
			return true;
		}
	return false;
}

static bool bad_path(const char *name)
{
	const char *p = name;

	if (name[0] == '\0' || name[0] == '/')
		return true;
	while (*p != '\0') {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return true;
		p += n;
		if (*p == '/')
			p++;
	}
	return false;
}

int bs_tar_add(struct bs_buf *out, const struct bs_tar_item *item, struct bs_err *err)
{
	unsigned char h[BS_TAR_BLOCK];
	struct bs_buf path = BS_BUF_INIT, pax = BS_BUF_INIT;
	const char *link = item->kind == BS_TAR_SYMLINK ? item->link_name : NULL;
	char type, prefix[W_PREFIX + 1], *name_field;
	size_t cut = 0;
	bool use_prefix = false;

	if (bad_path(item->name))
		return bs_err_set(
			err, BS_ERR_INVALID,
			"\"%s\" is not a relative path (no leading '/', no empty, . or .. "
			"part)",
			item->name);
	if (item->mode > 07777)
		return bs_err_set(err, BS_ERR_INVALID,
				  "%s: mode %o is not a permission mode (07777 at most)",
				  item->name, item->mode);
	if ((unsigned long long)item->size > USTAR_SIZE_MAX)
		return bs_err_set(err, BS_ERR_INVALID,
				  "file %s: %zu bytes do not fit a ustar archive (8 GiB at most)",
				  item->name, item->size);
	switch (item->kind) {
	case BS_TAR_FILE: type = '0'; break;
	case BS_TAR_DIR: type = '5'; break;
	case BS_TAR_SYMLINK:
		type = '2';
		if (link == NULL || link[0] == '\0')
			return bs_err_set(err, BS_ERR_INVALID, "symbolic link %s has no target",
					  item->name);
		break;
	default:
		return bs_err_set(err, BS_ERR_INVALID,
				  "%s: only regular files, directories and symbolic links are "
				  "written",
				  item->name);
	}
	bs_buf_puts(&path, item->name);
	if (item->kind == BS_TAR_DIR)
		bs_buf_putc(&path, '/');
	if (path.len > W_NAME) {
		use_prefix = split_name(path.data, path.len, &cut);
		if (!use_prefix)
			pax_record(&pax, "path", path.data);
	}
	if (link != NULL && strlen(link) > W_LINKNAME)
		pax_record(&pax, "linkpath", link);
	if (pax.len > 0) {
		put_header(h, 'x', "PaxHeader", NULL, NULL, 0644, pax.len, item->mtime);
		bs_buf_append(out, h, sizeof(h));
		bs_buf_append(out, pax.data, pax.len);
		pad_block(out, pax.len);
	}
	name_field = path.data;
	if (use_prefix) {
		memcpy(prefix, path.data, cut);
		prefix[cut] = '\0';
		name_field = path.data + cut + 1;
	}
	/* a name the pax record carries is cut short here, as tar(1) does */
	put_header(h, type, name_field, use_prefix ? prefix : NULL, link, item->mode,
		   item->kind == BS_TAR_FILE ? item->size : 0, item->mtime);
	bs_buf_append(out, h, sizeof(h));
	if (item->kind == BS_TAR_FILE && item->size > 0) {
		bs_buf_append(out, item->data, item->size);
		pad_block(out, item->size);
	}
	bs_buf_free(&path);
	bs_buf_free(&pax);
	return 0;
}

void bs_tar_end(struct bs_buf *out)
{
	static const unsigned char zeros[2 * BS_TAR_BLOCK];

	bs_buf_append(out, zeros, sizeof(zeros));
}

int bs_tar_one_file(struct bs_buf *out, const char *name, const void *data, size_t len,
		    unsigned mode, long long mtime, struct bs_err *err)
{
	struct bs_tar_item item;
	size_t name_len = strlen(name);
	int rc;

	if (name_len == 0 || strchr(name, '/') != NULL || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return bs_err_set(err, BS_ERR_INVALID,
				  "\"%s\" is not a plain file name (no '/', not . or ..)", name);
	if (name_len > BS_TAR_NAME_MAX)
		return bs_err_set(err, BS_ERR_INVALID, "the file name %s is longer than %d bytes",
				  name, BS_TAR_NAME_MAX);
	memset(&item, 0, sizeof(item));
	item.kind = BS_TAR_FILE;
	item.name = name;
	item.mode = mode;
	item.mtime = mtime;
	item.data = data;
	item.size = len;
	rc = bs_tar_add(out, &item, err);
	if (rc == 0)
		bs_tar_end(out);
	return rc;
}

/*
 * A numeric field: octal digits (leading spaces allowed) ended by NUL or
 * spaces; or GNU's base-256 (first byte's high bit set) for big values.
 * -1 for anything else, or a value past unsigned long long.
 */
static int parse_number(const unsigned char *f, size_t width, unsigned long long *out)
{
	unsigned long long v = 0;
	size_t i = 0;

	if (f[0] & 0x80) {
		if (f[0] & 0x40)
			return -1; /* negative */
		v = f[0] & 0x3F;
		for (i = 1; i < width; i++) {
			if (v > (ULLONG_MAX >> 8))
				return -1;
			v = v << 8 | f[i];
		}
		*out = v;
		return 0;
	}
	while (i < width && f[i] == ' ')
		i++;
	for (; i < width && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v > (ULLONG_MAX >> 3))
			return -1;
		v = v << 3 | (unsigned)(f[i] - '0');
	}
	for (; i < width; i++)
		if (f[i] != '\0' && f[i] != ' ')
			return -1;
	*out = v;
	return 0;
}

static bool all_zero(const unsigned char *h)
{
	size_t i;

	for (i = 0; i < BS_TAR_BLOCK; i++)
		if (h[i] != 0)
			return false;
	return true;
}

/* A field that is NUL-terminated unless full, into dst (NUL-terminated). */
static void copy_field(char *dst, const unsigned char *f, size_t width)
{
	size_t n = strnlen((const char *)f, width);

	memcpy(dst, f, n);
	dst[n] = '\0';
}

static enum bs_tar_kind kind_of(char type, const char *name)
{
	switch (type) {
	case '\0': /* pre-POSIX: a directory is a name ending in '/' */
		return name[0] != '\0' && name[strlen(name) - 1] == '/' ? BS_TAR_DIR : BS_TAR_FILE;
	case '0':
	case '7': return BS_TAR_FILE; /* '7': contiguous file, a regular file */
	case '1': return BS_TAR_HARDLINK;
	case '2': return BS_TAR_SYMLINK;
	case '5': return BS_TAR_DIR;
	default: return BS_TAR_OTHER;
	}
}

static bool is_extension(char type)
{
	/* pax per-file and global records; GNU long name and long link name */
	return type == 'x' || type == 'g' || type == 'L' || type == 'K';
}

/* Whether the header's checksum field matches its bytes. */
static bool checksum_ok(const unsigned char *h)
{
	unsigned long long stored;
	unsigned long usum;
	long ssum;

	if (parse_number(h + H_CHKSUM, W_NUM, &stored) != 0)
		return false;
	header_sums(h, &usum, &ssum);
	return stored == usum || (ssum >= 0 && stored == (unsigned long long)ssum);
}

int bs_tar_first_entry(const void *tar, size_t len, struct bs_tar_entry *out, struct bs_err *err)
{
	const unsigned char *base = tar;
	size_t off = 0;

	memset(out, 0, sizeof(*out));
	for (;;) {
		const unsigned char *h = base + off;
		unsigned long long size, mode;
		char type;

		if (len == 0)
			return bs_err_set(err, BS_ERR_PROTOCOL, "the archive is empty");
		if (len - off < BS_TAR_BLOCK)
			return bs_err_set(err, BS_ERR_PROTOCOL,
					  "the archive is truncated (%zu bytes: a header cut short "
					  "at byte %zu)",
					  len, off);
		if (all_zero(h))
			return bs_err_set(err, BS_ERR_PROTOCOL, "the archive holds no entry");
		if (!checksum_ok(h))
			return bs_err_set(
				err, BS_ERR_PROTOCOL,
				"the archive is malformed: bad header checksum at byte %zu", off);
		if (parse_number(h + H_SIZE, W_BIG, &size) != 0 ||
		    parse_number(h + H_MODE, W_NUM, &mode) != 0)
			return bs_err_set(
				err, BS_ERR_PROTOCOL,
				"the archive is malformed: a bad size or mode field at byte %zu",
				off);
		type = (char)h[H_TYPE];
		off += BS_TAR_BLOCK;
		if (is_extension(type)) {
			size_t padded;

			if (size > len - off)
				return bs_err_set(
					err, BS_ERR_PROTOCOL,
					"the archive is truncated (an extension header of "
					"%llu bytes at byte %zu, %zu bytes left)",
					size, off, len - off);
			padded = ((size_t)size + BS_TAR_BLOCK - 1) / BS_TAR_BLOCK * BS_TAR_BLOCK;
			off += padded < len - off ? padded : len - off;
			continue;
		}
		if (memcmp(h + H_MAGIC, "ustar", 6) == 0 && h[H_PREFIX] != '\0') {
			char prefix[W_PREFIX + 1], name[W_NAME + 1];

			copy_field(prefix, h + H_PREFIX, W_PREFIX);
			copy_field(name, h + H_NAME, W_NAME);
			memcpy(out->name, prefix, strlen(prefix));
			out->name[strlen(prefix)] = '/';
			memcpy(out->name + strlen(prefix) + 1, name, strlen(name) + 1);
		} else {
			copy_field(out->name, h + H_NAME, W_NAME);
		}
		copy_field(out->link_name, h + H_LINKNAME, W_LINKNAME);
		out->kind = kind_of(type, out->name);
		out->mode = (unsigned)(mode & 07777);
		if (out->kind != BS_TAR_FILE)
			return 0;
		if (size > SIZE_MAX)
			size = SIZE_MAX;
		out->size = (size_t)size;
		if (out->size > len - off)
			return bs_err_set(err, BS_ERR_PROTOCOL,
					  "the archive is truncated (%s is %zu bytes, %zu arrived)",
					  out->name, out->size, len - off);
		out->data = (const char *)base + off;
		return 0;
	}
}

const char *bs_tar_kind_name(enum bs_tar_kind kind)
{
	switch (kind) {
	case BS_TAR_FILE: return "regular file";
	case BS_TAR_DIR: return "directory";
	case BS_TAR_SYMLINK: return "symbolic link";
	case BS_TAR_HARDLINK: return "hard link";
	case BS_TAR_OTHER: break;
	}
	return "special file";
}
