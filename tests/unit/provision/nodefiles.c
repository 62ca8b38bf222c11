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

static char root[64];

static void write_file(const char *rel, const char *text, mode_t mode)
{
	char *path = bs_xasprintf("%s/%s", root, rel);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
	free(path);
}

static int setup(void **state)
{
	char *path;

	(void)state;
	snprintf(root, sizeof(root), "/tmp/bs-nodefiles-test.XXXXXX");
	if (mkdtemp(root) == NULL)
		return -1;
	chmod(root, 0755);
	path = bs_xasprintf("%s/sub", root);
	mkdir(path, 0750);
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
	char *cmd = bs_xasprintf("rm -rf '%s'", root);
	int rc = system(cmd);

	(void)state;
	free(cmd);
	return rc == 0 ? 0 : -1;
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree_entries_and_bytes),
		cmocka_unit_test(test_what_changes_the_hash),
		cmocka_unit_test(test_unreadable_is_named),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
