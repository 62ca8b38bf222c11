/*
 * Unit tests for depends_on and container_name (deploy/recipe_depends.c):
 * both Compose forms are read into the model, and every mistake is
 * reported at its entry's line and column with the fix.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/recipe.h"
#include "tests/unit/helpers.h"

static void test_both_forms(void **state)
{
	struct loaded l;
	const struct bs_container *app;

	(void)state;
	load_text(&l,
		  RECIPE_HEAD "    depends_on:\n"				    /* 8 */
			      "      db: {condition: service_healthy}\n"	    /* 9 */
			      "      migrate:\n"				    /* 10 */
			      "        condition: service_completed_successfully\n" /* 11 */
			      "        restart: true\n"				    /* 12 */
			      "  - name: db\n"					    /* 13 */
			      "    image: postgres:16\n"			    /* 14 */
			      "    container_name: the-db\n"			    /* 15 */
			      "  - name: migrate\n"				    /* 16 */
			      "    image: postgres:16\n"			    /* 17 */
			      "    restart: \"no\"\n"				    /* 18 */
			      "    depends_on: [db]\n",				    /* 19 */
		  NULL);
	expect_loaded(&l);
	expect_counts(&l.diags, 0, 0);
	app = &l.recipe->containers[0];
	assert_int_equal(app->n_depends_on, 2);
	assert_string_equal(app->depends_on[0].container, "db");
	assert_int_equal(app->depends_on[0].condition, BS_DEP_HEALTHY);
	assert_false(app->depends_on[0].restart);
	assert_int_equal(app->depends_on[0].loc.line, 9);
	assert_int_equal(app->depends_on[0].loc.col, 7);
	assert_string_equal(app->depends_on[1].container, "migrate");
	assert_int_equal(app->depends_on[1].condition, BS_DEP_COMPLETED);
	assert_true(app->depends_on[1].restart);
	assert_string_equal(l.recipe->containers[1].container_name, "the-db");
	assert_int_equal(l.recipe->containers[2].n_depends_on, 1);
	assert_int_equal(l.recipe->containers[2].depends_on[0].condition, BS_DEP_STARTED);
	loaded_free(&l);
}

static void test_bad_values(void **state)
{
	struct loaded l;

	(void)state;
	load_text(&l,
		  RECIPE_HEAD "    depends_on:\n"			/* 8 */
			      "      dbb: {condition: service_ready}\n" /* 9 */
			      "      app:\n"				/* 10 */
			      "      cache: {required: false}\n"	/* 11 */
			      "      db: {wait: 1}\n"			/* 12 */
			      "  - name: db\n"				/* 13 */
			      "    image: postgres:16\n"		/* 14 */
			      "    depends_on: db\n"			/* 15 */
			      "    container_name: -db\n",		/* 16 */
		  NULL);
	expect_invalid(&l);
	expect_error(&l.diags, 9, 24, "containers[0].depends_on.dbb.condition", "service_ready");
	expect_error(&l.diags, 9, 7, "containers[0].depends_on",
		     "no container dbb in the recipe; did you mean 'db'?");
	expect_error(&l.diags, 10, 7, "containers[0].depends_on",
		     "container app depends on itself");
	expect_warning(&l.diags, 11, 7, "containers[0].depends_on",
		       "no container cache (required: false");
	expect_error(&l.diags, 12, 12, "containers[0].depends_on.db.wait", "unknown key");
	expect_error(&l.diags, 15, 17, "containers[1].depends_on",
		     "is a list of container names, or a map");
	expect_error(&l.diags, 16, 21, "containers[1].container_name",
		     "'-db' is not a valid container_name");
	expect_counts(&l.diags, 6, 1);
	loaded_free(&l);
}

static void test_cycle(void **state)
{
	struct loaded l;

	(void)state;
	load_text(&l,
		  RECIPE_HEAD "    depends_on: [db]\n"	  /* 8 */
			      "  - name: db\n"		  /* 9 */
			      "    image: postgres:16\n"  /* 10 */
			      "    depends_on: [cache]\n" /* 11 */
			      "  - name: cache\n"	  /* 12 */
			      "    image: redis:7\n"	  /* 13 */
			      "    depends_on:\n"	  /* 14 */
			      "      - app\n",		  /* 15 */
		  NULL);
	expect_invalid(&l);
	expect_error(&l.diags, 15, 9, "containers[2].depends_on",
		     "depends_on makes a cycle: app -> db -> cache -> app");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);
}

static void test_dependency_runs_nowhere_or_restarts(void **state)
{
	struct loaded l;

	(void)state;
	load_text(&l,
		  RECIPE_HEAD "    depends_on:\n"				    /* 8 */
			      "      db: {condition: service_started}\n"	    /* 9 */
			      "      gone: {condition: service_started}\n"	    /* 10 */
			      "      migrate:\n"				    /* 11 */
			      "        condition: service_completed_successfully\n" /* 12 */
			      "  - name: db\n"					    /* 13 */
			      "    image: postgres:16\n"			    /* 14 */
			      "    replicas: 0\n"				    /* 15 */
			      "  - name: gone\n"				    /* 16 */
			      "    image: redis:7\n"				    /* 17 */
			      "    nodes: [role=none]\n"			    /* 18 */
			      "  - name: migrate\n"				    /* 19 */
			      "    image: postgres:16\n",			    /* 20 */
		  NULL);
	expect_invalid(&l);
	expect_error(&l.diags, 9, 7, "containers[0].depends_on", "runs nowhere (replicas: 0)");
	expect_error(&l.diags, 10, 7, "containers[0].depends_on",
		     "runs nowhere (its nodes match none)");
	expect_error(
		&l.diags, 11, 7, "containers[0].depends_on",
		"its restart policy unless-stopped starts it again after it exits: give migrate restart: \"no\" or on-failure");
	loaded_free(&l);
}

static void test_container_name_clashes(void **state)
{
	struct loaded l;

	(void)state;
	load_text(&l,
		  RECIPE_HEAD "    container_name: demo-cache-1\n" /* 8 */
			      "  - name: db\n"			   /* 9 */
			      "    image: postgres:16\n"	   /* 10 */
			      "    replicas: 2\n"		   /* 11 */
			      "    container_name: db\n"	   /* 12 */
			      "  - name: cache\n"		   /* 13 */
			      "    image: redis:7\n"		   /* 14 */
			      "  - name: worker\n"		   /* 15 */
			      "    image: redis:7\n"		   /* 16 */
			      "    container_name: db\n",	   /* 17 */
		  NULL);
	expect_invalid(&l);
	expect_error(&l.diags, 6, 5, "containers[0].container_name",
		     "container_name demo-cache-1 is the name of cache's replica 1");
	expect_error(&l.diags, 11, 15, "containers[1].container_name",
		     "container_name names one container, and db has 2 replicas");
	expect_error(&l.diags, 15, 5, "containers[3].container_name",
		     "container_name db is also db's");
	expect_counts(&l.diags, 3, 0);
	loaded_free(&l);
}

/* A cluster's services have no start order and no container names. */
static void test_cluster(void **state)
{
	struct loaded l;

	(void)state;
	load_text(&l,
		  "version: 1\n"			  /* 1 */
		  "project: demo\n"			  /* 2 */
		  "nodes:\n"				  /* 3 */
		  "  - {name: web}\n"			  /* 4 */
		  "cluster: {type: swarm}\n"		  /* 5 */
		  "containers:\n"			  /* 6 */
		  "  - name: app\n"			  /* 7 */
		  "    image: nginx:1.25\n"		  /* 8 */
		  "    container_name: the-app\n"	  /* 9 */
		  "    depends_on: [db]\n"		  /* 10 */
		  "  - {name: db, image: postgres:16}\n", /* 11 */
		  NULL);
	expect_invalid(&l);
	expect_error(&l.diags, 7, 5, "containers[0].container_name",
		     "in a cluster app runs as the service demo-app (remove container_name)");
	expect_warning(&l.diags, 10, 18, "containers[0].depends_on",
		       "a cluster starts its services without an order");
	expect_counts(&l.diags, 1, 1);
	loaded_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_both_forms),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_cycle),
		cmocka_unit_test(test_dependency_runs_nowhere_or_restarts),
		cmocka_unit_test(test_container_name_clashes),
		cmocka_unit_test(test_cluster),
	};

	return cmocka_run_group_tests_name("deploy/recipe_depends", tests, NULL, NULL);
}
