/*
 * Unit tests for container/tar.c: the one-file archive written and read
 * back; entries the engine's archives hold (extension headers, a prefix
 * field, directories, links); and what an untrusted answer can be: every
 * truncation of a good archive, flipped bytes, garbage, bad number fields.
 * None of them may crash (make asan runs these under ASan and UBSan).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "container/tar.h"

static const char content[] = "line one\n\x01\x02\xff\x00 binary\r\nend";
#define CONTENT_LEN (sizeof(content) - 1)

static struct bs_buf archive_of(const char *name, const char *data, size_t len, unsigned mode)
{
	struct bs_buf tar = BS_BUF_INIT;
	struct bs_err err = BS_ERR_INIT;

	if (bs_tar_one_file(&tar, name, data, len, mode, 1700000000, &err) != 0)
		fail_msg("%s", err.msg);
	return tar;
}

/* Recompute a header's checksum after a test changed a field. */
static void fix_checksum(unsigned char *h)
{
	unsigned long sum = 0;

	memset(h + 148, ' ', 8);
	for (size_t i = 0; i < BS_TAR_BLOCK; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06lo", sum);
	h[155] = ' ';
}

static void test_round_trip(void **state)
{
	struct bs_buf tar = archive_of("x.txt", content, CONTENT_LEN, 0640);
	struct bs_err err = BS_ERR_INIT;
	struct bs_tar_entry e;

	(void)state;
	/* header, data padded to a block, two zero blocks */
	assert_int_equal(tar.len, 3 * BS_TAR_BLOCK + BS_TAR_BLOCK);
	assert_memory_equal(tar.data + 257,
			    "ustar\0"
			    "00",
			    8);
	assert_int_equal(bs_tar_first_entry(tar.data, tar.len, &e, &err), 0);
	assert_int_equal(e.kind, BS_TAR_FILE);
	assert_string_equal(e.name, "x.txt");
	assert_int_equal(e.mode, 0640);
	assert_int_equal(e.size, CONTENT_LEN);
	assert_memory_equal(e.data, content, CONTENT_LEN);
	bs_buf_free(&tar);

	/* empty, exactly one block, a long name */
	tar = archive_of("empty", "", 0, 0600);
	assert_int_equal(tar.len, 3 * BS_TAR_BLOCK);
	assert_int_equal(bs_tar_first_entry(tar.data, tar.len, &e, &err), 0);
	assert_int_equal(e.size, 0);
	bs_buf_free(&tar);
	{
		char block[BS_TAR_BLOCK], name[BS_TAR_NAME_MAX + 1];

		memset(block, 'b', sizeof(block));
		memset(name, 'n', BS_TAR_NAME_MAX);
		name[BS_TAR_NAME_MAX] = '\0';
		tar = archive_of(name, block, sizeof(block), 0644);
		assert_int_equal(tar.len, 4 * BS_TAR_BLOCK);
		assert_int_equal(bs_tar_first_entry(tar.data, tar.len, &e, &err), 0);
		assert_string_equal(e.name, name);
		assert_int_equal(e.size, sizeof(block));
		bs_buf_free(&tar);
	}
}

static void test_bad_names_and_modes(void **state)
{
	static const char *const bad[] = {"", "a/b", "/x", ".", "..", "dir/"};
	struct bs_buf tar = BS_BUF_INIT;
	struct bs_err err = BS_ERR_INIT;
	char long_name[BS_TAR_NAME_MAX + 2];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(bs_tar_one_file(&tar, bad[i], "x", 1, 0644, 0, &err),
				 BS_ERR_INVALID);
		assert_non_null(strstr(err.msg, "plain file name"));
	}
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(bs_tar_one_file(&tar, long_name, "x", 1, 0644, 0, &err), BS_ERR_INVALID);
	assert_non_null(strstr(err.msg, "longer than 100"));
	assert_int_equal(bs_tar_one_file(&tar, "f", "x", 1, 010644, 0, &err), BS_ERR_INVALID);
	assert_non_null(strstr(err.msg, "mode"));
	assert_int_equal(tar.len, 0);
	bs_buf_free(&tar);
}

/* A pax header and a GNU long name before the file: skipped. */
static void test_extension_headers_skipped(void **state)
{
	static const char pax[] = "30 SCHILY.xattr.user.k=value\n";
	struct bs_buf ext1 = archive_of("PaxHeaders", pax, sizeof(pax) - 1, 0644);
	struct bs_buf ext2 = archive_of("LongLink", "a/long/name", 11, 0644);
	struct bs_buf file = archive_of("conf", content, CONTENT_LEN, 0600);
	struct bs_buf all = BS_BUF_INIT;
	struct bs_err err = BS_ERR_INIT;
	struct bs_tar_entry e;

	(void)state;
	ext1.data[156] = 'x';
	fix_checksum((unsigned char *)ext1.data);
	ext2.data[156] = 'L';
	fix_checksum((unsigned char *)ext2.data);
	/* each without its end-of-archive blocks */
	bs_buf_append(&all, ext1.data, ext1.len - 2 * BS_TAR_BLOCK);
	bs_buf_append(&all, ext2.data, ext2.len - 2 * BS_TAR_BLOCK);
	bs_buf_append(&all, file.data, file.len);
	assert_int_equal(bs_tar_first_entry(all.data, all.len, &e, &err), 0);
	assert_int_equal(e.kind, BS_TAR_FILE);
	assert_string_equal(e.name, "conf");
	assert_memory_equal(e.data, content, CONTENT_LEN);

	/* an extension whose data is cut short */
	assert_int_equal(bs_tar_first_entry(all.data, BS_TAR_BLOCK + 10, &e, &err),
			 BS_ERR_PROTOCOL);
	assert_non_null(strstr(err.msg, "truncated"));
	/* an extension and nothing after it */
	assert_int_equal(bs_tar_first_entry(all.data, 2 * BS_TAR_BLOCK, &e, &err), BS_ERR_PROTOCOL);
	bs_buf_free(&ext1);
	bs_buf_free(&ext2);
	bs_buf_free(&file);
	bs_buf_free(&all);
}

/* What GET archive answers for a directory, a link, a ustar prefix. */
static void test_other_entries(void **state)
{
	struct bs_buf tar = archive_of("etc", "", 0, 0755);
	struct bs_err err = BS_ERR_INIT;
	struct bs_tar_entry e;

	(void)state;
	tar.data[156] = '5';
	fix_checksum((unsigned char *)tar.data);
	assert_int_equal(bs_tar_first_entry(tar.data, tar.len, &e, &err), 0);
	assert_int_equal(e.kind, BS_TAR_DIR);
	assert_string_equal(bs_tar_kind_name(e.kind), "directory");
	assert_null(e.data);

	tar.data[156] = '2';
	memcpy(tar.data + 157, "busybox", 8);
	fix_checksum((unsigned char *)tar.data);
	assert_int_equal(bs_tar_first_entry(tar.data, tar.len, &e, &err), 0);
	assert_int_equal(e.kind, BS_TAR_SYMLINK);
	assert_string_equal(e.link_name, "busybox");

	tar.data[156] = '3'; /* a character device */
	fix_checksum((unsigned char *)tar.data);
	assert_int_equal(bs_tar_first_entry(tar.data, tar.len, &e, &err), 0);
	assert_int_equal(e.kind, BS_TAR_OTHER);

	/* pre-POSIX: type NUL and a trailing '/' is a directory */
	memcpy(tar.data, "old/", 5);
	tar.data[156] = '\0';
	fix_checksum((unsigned char *)tar.data);
	assert_int_equal(bs_tar_first_entry(tar.data, tar.len, &e, &err), 0);
	assert_int_equal(e.kind, BS_TAR_DIR);
	bs_buf_free(&tar);

	/* the prefix field joins the name */
	tar = archive_of("Caddyfile", content, CONTENT_LEN, 0644);
	memcpy(tar.data + 345, "etc/caddy", 10);
	fix_checksum((unsigned char *)tar.data);
	assert_int_equal(bs_tar_first_entry(tar.data, tar.len, &e, &err), 0);
	assert_string_equal(e.name, "etc/caddy/Caddyfile");
	/* a full name field and a full prefix field, neither NUL-terminated */
	memset(tar.data, 'n', 100);
	memset(tar.data + 345, 'p', 155);
	fix_checksum((unsigned char *)tar.data);
	assert_int_equal(bs_tar_first_entry(tar.data, tar.len, &e, &err), 0);
	assert_int_equal(strlen(e.name), 256);
	assert_int_equal(e.name[155], '/');
	bs_buf_free(&tar);
}

/* Every prefix of a good archive: an error until the data is whole. */
static void test_every_truncation(void **state)
{
	struct bs_buf tar = archive_of("x", content, CONTENT_LEN, 0644);
	struct bs_err err = BS_ERR_INIT;
	struct bs_tar_entry e;

	(void)state;
	for (size_t n = 0; n <= tar.len; n++) {
		/* a copy of exactly n bytes: ASan sees any read past them */
		char *cut = malloc(n ? n : 1);
		int rc;

		memcpy(cut, tar.data, n);
		rc = bs_tar_first_entry(cut, n, &e, &err);
		if (n < BS_TAR_BLOCK + CONTENT_LEN) {
			assert_int_equal(rc, BS_ERR_PROTOCOL);
			assert_non_null(strstr(err.msg, n == 0 ? "empty" : "truncated"));
		} else {
			assert_int_equal(rc, 0);
			assert_memory_equal(e.data, content, CONTENT_LEN);
		}
		/* the header was read: the declared size is known */
		if (n >= BS_TAR_BLOCK)
			assert_int_equal(e.size, CONTENT_LEN);
		free(cut);
	}
	bs_buf_free(&tar);
}

static void test_malformed(void **state)
{
	struct bs_buf tar = archive_of("x", content, CONTENT_LEN, 0644);
	struct bs_err err = BS_ERR_INIT;
	struct bs_tar_entry e;
	char zeros[2 * BS_TAR_BLOCK];
	unsigned seed = 12345;

	(void)state;
	memset(zeros, 0, sizeof(zeros));
	assert_int_equal(bs_tar_first_entry(zeros, sizeof(zeros), &e, &err), BS_ERR_PROTOCOL);
	assert_non_null(strstr(err.msg, "no entry"));
	assert_int_equal(bs_tar_first_entry("", 0, &e, &err), BS_ERR_PROTOCOL);

	/* a changed byte without a new checksum */
	tar.data[0] = 'y';
	assert_int_equal(bs_tar_first_entry(tar.data, tar.len, &e, &err), BS_ERR_PROTOCOL);
	assert_non_null(strstr(err.msg, "checksum"));

	/* a size that is not octal */
	memcpy(tar.data + 124, "0000000009a", 12);
	fix_checksum((unsigned char *)tar.data);
	assert_int_equal(bs_tar_first_entry(tar.data, tar.len, &e, &err), BS_ERR_PROTOCOL);
	assert_non_null(strstr(err.msg, "size or mode"));

	/* a huge size (base-256) against the bytes there: truncated, size known */
	memset(tar.data + 124, 0, 12);
	tar.data[124] = (char)0x80;
	tar.data[128] = 0x10;
	fix_checksum((unsigned char *)tar.data);
	assert_int_equal(bs_tar_first_entry(tar.data, tar.len, &e, &err), BS_ERR_PROTOCOL);
	assert_non_null(strstr(err.msg, "truncated"));
	assert_true(e.size > tar.len);
	/* base-256 past 64 bits, and a negative one */
	memset(tar.data + 124, 0xFF, 12);
	tar.data[124] = (char)0x80;
	fix_checksum((unsigned char *)tar.data);
	assert_int_equal(bs_tar_first_entry(tar.data, tar.len, &e, &err), BS_ERR_PROTOCOL);
	tar.data[124] = (char)0xFF;
	fix_checksum((unsigned char *)tar.data);
	assert_int_equal(bs_tar_first_entry(tar.data, tar.len, &e, &err), BS_ERR_PROTOCOL);
	bs_buf_free(&tar);

	/* garbage, and a good archive with one byte flipped: never a crash */
	for (int round = 0; round < 2000; round++) {
		char junk[3 * BS_TAR_BLOCK];
		size_t n = (size_t)rand_r(&seed) % sizeof(junk);

		for (size_t i = 0; i < n; i++)
			junk[i] = (char)rand_r(&seed);
		if (n >= BS_TAR_BLOCK && round % 2 == 0)
			fix_checksum((unsigned char *)junk); /* past the checksum */
		bs_tar_first_entry(junk, n, &e, &err);
	}
	tar = archive_of("x", content, CONTENT_LEN, 0644);
	for (size_t i = 0; i < BS_TAR_BLOCK; i++) {
		char *copy = malloc(tar.len);
		int rc;

		memcpy(copy, tar.data, tar.len);
		copy[i] ^= (char)0x5A;
		if (i < 148 || i >= 156)
			fix_checksum((unsigned char *)copy);
		rc = bs_tar_first_entry(copy, tar.len, &e, &err);
		assert_true(rc == 0 || rc == BS_ERR_PROTOCOL);
		free(copy);
	}
	bs_buf_free(&tar);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_bad_names_and_modes),
		cmocka_unit_test(test_extension_headers_skipped),
		cmocka_unit_test(test_other_entries),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
