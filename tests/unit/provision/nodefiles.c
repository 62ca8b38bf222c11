/*
 * Unit tests for bs_nodefiles_read, the walk whose hash names a local
 * file's path on the nodes: what it reads from a real tree in a temporary
 * directory, the exact bytes it hashes (changing them re-copies every file
 * of every recipe), and what changes the hash.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "provision/nodefiles.h"
#include "tests/unit/helpers.h"

static char root[64];

static void write_file(const char *rel, const char *text, mode_t mode)
{
	test_put_file(root, rel, text, mode);
}

static int setup(void **state)
{
	static const char *const subdirs[] = {"sub", NULL};
	char *path;

	(void)state;
	if (!test_make_dirs(root, sizeof(root), "bs-nodefiles-test", 0755, subdirs))
		return -1;
	path = bs_xasprintf("%s/sub", root);
	chmod(path, 0750);
	free(path);
	write_file("b.conf", "bee\n", 0644);
	write_file("sub/x", "ex", 0600);
	path = bs_xasprintf("%s/a-link", root);
	if (symlink("b.conf", path) != 0)
		return -1;
	free(path);
	path = bs_xasprintf("%s/fifo", root);
	if (mkfifo(path, 0600) != 0)
		return -1;
	free(path);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	test_remove_tree(root);
	return 0;
}

static void hash_of(const char *rel, const char *salt, char out[65])
{
	char *path = bs_xasprintf("%s%s%s", root, rel[0] ? "/" : "", rel);
	struct bs_localtree t;
	struct bs_err err = BS_ERR_INIT;

	assert_int_equal(bs_nodefiles_read(&t, path, salt, &err), 0);
	memcpy(out, t.hash, 65);
	bs_localtree_free(&t);
	free(path);
}

static void test_tree_entries_and_bytes(void **state)
{
	const char expect[] = "D . 755\n"
			      "L ./a-link b.conf\n"
			      "F ./b.conf 644 4\nbee\n"
			      "D ./sub 750\n"
			      "F ./sub/x 600 2\nex";
	struct bs_localtree t;
	struct bs_err err = BS_ERR_INIT;
	char want[65];

	(void)state;
	assert_int_equal(bs_nodefiles_read(&t, root, NULL, &err), 0);
	/* the fifo is left out; entries in name order */
	assert_int_equal(t.n, 5);
	assert_int_equal(t.entries[0].kind, BS_TAR_DIR);
	assert_string_equal(t.entries[0].rel, ".");
	assert_int_equal(t.entries[1].kind, BS_TAR_SYMLINK);
	assert_string_equal(t.entries[1].link, "b.conf");
	assert_int_equal(t.entries[2].kind, BS_TAR_FILE);
	assert_string_equal(t.entries[2].rel, "./b.conf");
	assert_int_equal(t.entries[2].mode, 0644);
	assert_int_equal(t.entries[2].size, 4);
	assert_memory_equal(t.data.data + t.entries[2].offset, "bee\n", 4);
	assert_int_equal(t.entries[3].mode, 0750);
	assert_string_equal(t.entries[4].rel, "./sub/x");
	assert_memory_equal(t.data.data + t.entries[4].offset, "ex", 2);
	/* the hashed bytes, exactly: they define every node path */
	assert_int_equal(t.data.len, sizeof(expect) - 1);
	assert_memory_equal(t.data.data, expect, sizeof(expect) - 1);
	bs_sha256_hex(expect, sizeof(expect) - 1, want);
	assert_string_equal(t.hash, want);
	bs_localtree_free(&t);
}

static void test_what_changes_the_hash(void **state)
{
	char before[65], after[65], salted[65], file[65];
	char *link = bs_xasprintf("%s/a-link", root);

	(void)state;
	hash_of("", NULL, before);
	hash_of("", NULL, after);
	assert_string_equal(before, after); /* stable */
	hash_of("", "secret p /run/secrets/t\n", salted);
	assert_string_not_equal(before, salted);

	write_file("sub/x", "eX", 0600); /* content, same size */
	hash_of("", NULL, after);
	assert_string_not_equal(before, after);
	write_file("sub/x", "ex", 0600);
	hash_of("", NULL, after);
	assert_string_equal(before, after);

	write_file("sub/x", "ex", 0640); /* mode */
	hash_of("", NULL, after);
	assert_string_not_equal(before, after);
	write_file("sub/x", "ex", 0600);

	assert_int_equal(unlink(link), 0); /* a link's target */
	assert_int_equal(symlink("sub/x", link), 0);
	hash_of("", NULL, after);
	assert_string_not_equal(before, after);
	assert_int_equal(unlink(link), 0);
	assert_int_equal(symlink("b.conf", link), 0);
	hash_of("", NULL, after);
	assert_string_equal(before, after);

	hash_of("b.conf", NULL, file); /* one file: its own header only */
	bs_sha256_hex("F . 644 4\nbee\n", 14, after);
	assert_string_equal(file, after);
	free(link);
}

static void test_unreadable_is_named(void **state)
{
	struct bs_localtree t;
	struct bs_err err = BS_ERR_INIT;
	char *path = bs_xasprintf("%s/missing", root);

	(void)state;
	assert_int_equal(bs_nodefiles_read(&t, path, NULL, &err), BS_ERR_IO);
	assert_non_null(strstr(err.msg, path));
	bs_localtree_free(&t);
	free(path);
}

/* Unpack tar with the system's tar, as the node does, into a fresh
 * folder under root; returns the folder (caller frees). */
static char *untar(const struct bs_buf *tar, const char *name)
{
	char *file = bs_xasprintf("%s/%s.tar", root, name);
	char *out = bs_xasprintf("%s/%s.out", root, name);
	char *cmd = bs_xasprintf("mkdir '%s' && tar -x --no-same-owner -f '%s' -C '%s'", out, file,
				 out);
	FILE *f = fopen(file, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(tar->data, 1, tar->len, f), tar->len);
	fclose(f);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(file);
	return out;
}

static void expect_file(const char *dir, const char *rel, const char *text, unsigned mode)
{
	char *path = bs_xasprintf("%s/%s", dir, rel);
	char got[64] = "";
	struct stat st;
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	assert_non_null(fgets(got, sizeof(got), f) != NULL ? got : NULL);
	fclose(f);
	assert_string_equal(got, text);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, mode);
	free(path);
}

static void test_pack_what_the_node_unpacks(void **state)
{
	struct bs_nodefile f;
	struct bs_buf tar = BS_BUF_INIT;
	struct bs_err err = BS_ERR_INIT;
	char hash[65], link[64] = "";
	char *out, *path;
	struct stat st;

	(void)state;
	/* a directory: modes and links as they are; the root's name from the node path */
	hash_of("", NULL, hash);
	memset(&f, 0, sizeof(f));
	f.local_path = root;
	f.remote_path = "/var/lib/bootstrap/files/p/0123456789abcdef/site";
	f.content_hash = hash;
	f.is_dir = true;
	assert_int_equal(bs_nodefiles_pack(&tar, &f, "0", 1700000000, &err), 0);
	/* a secret file: the mode given, whatever the local one */
	hash_of("b.conf", "salt\n", hash);
	memset(&f, 0, sizeof(f));
	path = bs_xasprintf("%s/b.conf", root);
	f.local_path = path;
	f.remote_path = "/var/lib/bootstrap/files/p/fedcba9876543210/token";
	f.content_hash = hash;
	f.salt = "salt\n";
	f.secret = true;
	f.mode = 0600;
	assert_int_equal(bs_nodefiles_pack(&tar, &f, "1", 1700000000, &err), 0);
	bs_tar_end(&tar);
	out = untar(&tar, "pack");
	expect_file(out, "0/site/b.conf", "bee\n", 0644);
	expect_file(out, "0/site/sub/x", "ex", 0600);
	expect_file(out, "1/token", "bee\n", 0600);
	free(path);
	path = bs_xasprintf("%s/0/site/sub", out);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	free(path);
	path = bs_xasprintf("%s/0/site/a-link", out);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_true(readlink(path, link, sizeof(link) - 1) > 0);
	assert_string_equal(link, "b.conf");
	free(path);
	path = bs_xasprintf("%s/0/site/fifo", out);
	assert_int_not_equal(lstat(path, &st), 0); /* not copied */
	free(path);
	free(out);
	bs_buf_free(&tar);
}

static void test_pack_refuses_an_edited_file(void **state)
{
	struct bs_nodefile f;
	struct bs_buf tar = BS_BUF_INIT;
	struct bs_err err = BS_ERR_INIT;
	char hash[65];
	char *path = bs_xasprintf("%s/b.conf", root);

	(void)state;
	hash_of("b.conf", NULL, hash);
	write_file("b.conf", "wasp\n", 0644);
	memset(&f, 0, sizeof(f));
	f.local_path = path;
	f.remote_path = "/var/lib/bootstrap/files/p/0123456789abcdef/b.conf";
	f.content_hash = hash;
	f.mode = 0644;
	assert_int_equal(bs_nodefiles_pack(&tar, &f, "0", 0, &err), BS_ERR_IO);
	assert_non_null(strstr(err.msg, path));
	assert_non_null(strstr(err.msg, "edited during the run"));
	assert_null(strstr(err.msg, "wasp")); /* content is never told */
	assert_int_equal(tar.len, 0);
	write_file("b.conf", "bee\n", 0644);
	bs_buf_free(&tar);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree_entries_and_bytes),
		cmocka_unit_test(test_what_changes_the_hash),
		cmocka_unit_test(test_unreadable_is_named),
		cmocka_unit_test(test_pack_what_the_node_unpacks),
		cmocka_unit_test(test_pack_refuses_an_edited_file),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
