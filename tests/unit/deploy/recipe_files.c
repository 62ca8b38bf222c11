/*
 * Unit tests for deploy/recipe_files.c against provision/nodefiles.c: the
 * hash a local mount gets when the recipe loads must be the one the copy
 * computes again (bs_nodefiles_read with bs_recipe_mount_salt), else every
 * apply would stop with "edited during the run". Real files in a
 * temporary directory, a recipe and a compose file beside them.
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

static char dir[64];

static void write_at(const char *rel, const char *text)
{
	test_put_file(dir, rel, text, 0644);
}

static int setup(void **state)
{
	static const char *const subdirs[] = {"site", NULL};

	(void)state;
	if (!test_make_dirs(dir, sizeof(dir), "bs-recipe-files-test", 0755, subdirs))
		return -1;
	write_at("app.conf", "listen 80;\n");
	write_at("site/index.html", "hi\n");
	write_at("recipe.yaml", "version: 1\n"
				"project: shop\n"
				"provider: {type: static}\n"
				"nodes:\n"
				"  - {name: web, address: 192.0.2.1}\n"
				"compose: compose.yaml\n");
	write_at("compose.yaml", "services:\n"
				 "  app:\n"
				 "    image: nginx:1.25\n"
				 "    volumes:\n"
				 "      - ./app.conf:/etc/app.conf:ro\n"
				 "      - ./site:/srv/site\n"
				 "    secrets: [conf]\n"
				 "secrets:\n"
				 "  conf: {file: ./app.conf}\n");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	test_remove_tree(dir);
	return 0;
}

static void test_load_hash_is_the_copy_hash(void **state)
{
	struct loaded l;
	char *path = bs_xasprintf("%s/recipe.yaml", dir);
	const struct bs_container *c;
	const struct bs_mount *secret = NULL, *plain = NULL;
	size_t n_local = 0;

	(void)state;
	load_file(&l, path, NULL);
	expect_loaded(&l);
	assert_int_equal(l.recipe->n_containers, 1);
	c = &l.recipe->containers[0];
	for (size_t i = 0; i < c->n_volumes; i++) {
		const struct bs_mount *m = &c->volumes[i];
		struct bs_localtree t;
		struct bs_err err = BS_ERR_INIT;
		char *salt, *want;
		const char *base;

		if (m->type != BS_MOUNT_LOCAL)
			continue;
		n_local++;
		salt = bs_recipe_mount_salt(l.recipe, m);
		assert_int_equal(bs_nodefiles_read(&t, m->local_path, salt, &err), 0);
		assert_string_equal(t.hash, m->content_hash);
		base = strrchr(m->local_path, '/') + 1;
		want = bs_xasprintf("%s/shop/%.16s/%s", BS_NODE_FILES_DIR, t.hash, base);
		assert_string_equal(m->source, want);
		if (m->secret)
			secret = m;
		else if (!m->is_dir)
			plain = m;
		bs_localtree_free(&t);
		free(salt);
		free(want);
	}
	assert_int_equal(n_local, 3);
	assert_non_null(secret);
	assert_non_null(plain);
	/* the same file as a secret: salted, so another path, and 0600 */
	assert_string_not_equal(secret->content_hash, plain->content_hash);
	assert_int_equal(secret->mode, 0600);
	loaded_free(&l);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_hash_is_the_copy_hash),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
