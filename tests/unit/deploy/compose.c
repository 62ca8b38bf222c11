/*
 * compose.c - compose: in a recipe (deploy/recipe_compose.c): services as
 * containers, files merged, placement from x-bootstrap and services:,
 * local files hashed into node paths, profiles, .env and env_file, and
 * every diagnostic at its place in the compose file. Recipes and compose
 * files are written to a fresh directory per test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/unit/helpers.h"

static char dir[256];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/bs-compose-XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	test_remove_tree(dir);
	return 0;
}

static void write_file(const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	for (const char *slash = strchr(name, '/'); slash; slash = strchr(slash + 1, '/')) {
		char sub[512];

		snprintf(sub, sizeof(sub), "%s/%.*s", dir, (int)(slash - name), name);
		mkdir(sub, 0755);
	}
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

#define RECIPE                                                                                     \
	"version: 1\nproject: shop\nprovider: {type: local}\nnodes:\n  - name: node\n    count: 2\n"

static void load_recipe(struct loaded *l, const char *text, const struct test_var *env)
{
	char path[512];

	write_file("recipe.yaml", text);
	snprintf(path, sizeof(path), "%s/recipe.yaml", dir);
	load_file(l, path, env);
}

static const struct bs_container *find_c(const struct bs_recipe *r, const char *name)
{
	for (size_t i = 0; r != NULL && i < r->n_containers; i++)
		if (strcmp(r->containers[i].name, name) == 0)
			return &r->containers[i];
	return NULL;
}

static const struct bs_mount *find_m(const struct bs_container *c, const char *target)
{
	for (size_t i = 0; c != NULL && i < c->n_volumes; i++)
		if (strcmp(c->volumes[i].target, target) == 0)
			return &c->volumes[i];
	return NULL;
}

/* A diagnostic in file (by its base name) at line:col with path and phrase. */
static void expect_in(const struct bs_diags *d, enum bs_diag_severity sev, const char *file,
		      int line, int col, const char *path, const char *phrase)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct bs_diag *g = &d->items[i];
		const char *f = bs_diag_file(d, g), *base = strrchr(f, '/');

		if (g->severity == sev && strcmp(base ? base + 1 : f, file) == 0 &&
		    g->line == line && g->col == col && strcmp(g->path, path) == 0 &&
		    strstr(g->message, phrase) != NULL)
			return;
	}
	print_message("  expected %s:%d:%d: %s: ...%s...\n", file, line, col, path, phrase);
	print_diags(d);
	fail();
}

static void test_services_become_containers(void **state)
{
	struct loaded l;
	const struct bs_container *web, *db;
	const struct bs_mount *m;

	(void)state;
	write_file("nginx.conf", "server { listen 80; }\n");
	write_file("db/password.txt", "s3cret\n");
	write_file("db.env", "# the database\nPOSTGRES_USER=app\nexport POSTGRES_DB=\"shop\"\n"
			     "POSTGRES_PASSWORD_FILE=overridden\n");
	write_file("compose.yaml",
		   "services:\n"
		   "  web:\n"
		   "    image: nginx:1.25\n"
		   "    ports:\n"
		   "      - \"8080:80\"\n"
		   "      - target: 443\n"
		   "        published: 8443\n"
		   "        host_ip: 127.0.0.1\n"
		   "    volumes:\n"
		   "      - ./nginx.conf:/etc/nginx/conf.d/default.conf:ro\n"
		   "      - type: volume\n"
		   "        source: cache\n"
		   "        target: /var/cache/nginx\n"
		   "    expose: [\"3000\", 9000-9001/udp]\n"
		   "    stop_grace_period: 20s\n"
		   "    x-bootstrap: {nodes: [node-1], domain: shop.example.com, expose: 80}\n"
		   "  db:\n"
		   "    image: postgres:16\n"
		   "    environment:\n"
		   "      POSTGRES_PASSWORD_FILE: /run/secrets/db-password\n"
		   "    env_file: db.env\n"
		   "    secrets: [db-password]\n"
		   "    configs:\n"
		   "      - source: initdb\n"
		   "        target: /docker-entrypoint-initdb.d/init.sql\n"
		   "    volumes: [db-data:/var/lib/postgresql/data]\n"
		   "    mem_limit: 1g\n"
		   "    deploy:\n"
		   "      resources: {limits: {memory: 512m, cpus: \"0.5\"}}\n"
		   "      restart_policy: {condition: on-failure, max_attempts: 3}\n"
		   "volumes:\n"
		   "  db-data: {}\n"
		   "  cache:\n"
		   "secrets:\n"
		   "  db-password: {file: db/password.txt}\n"
		   "configs:\n"
		   "  initdb: {file: ./nginx.conf}\n");
	load_recipe(&l, RECIPE "compose: compose.yaml\nservices:\n  db: {replicas: 2}\n", NULL);
	if (l.rc != 0)
		print_diags(&l.diags);
	assert_int_equal(l.rc, 0);
	assert_int_equal(l.recipe->n_containers, 2);
	web = find_c(l.recipe, "web");
	db = find_c(l.recipe, "db");
	assert_non_null(web);
	assert_non_null(db);
	/* ports, both syntaxes */
	assert_int_equal(web->n_ports, 2);
	assert_int_equal(web->ports[1].host_start, 8443);
	assert_int_equal(web->ports[1].container_start, 443);
	assert_string_equal(web->ports[1].host_ip, "127.0.0.1");
	/* a local file: read, hashed, given its content-addressed node path */
	m = find_m(web, "/etc/nginx/conf.d/default.conf");
	assert_non_null(m);
	assert_int_equal(m->type, BS_MOUNT_LOCAL);
	assert_true(m->read_only);
	assert_false(m->secret);
	assert_non_null(strstr(m->local_path, "/nginx.conf"));
	assert_int_equal(strlen(m->content_hash), 64);
	assert_true(bs_str_starts_with(m->source, BS_NODE_FILES_DIR "/shop/"));
	assert_non_null(strstr(m->source, "/nginx.conf"));
	assert_int_equal(
		strncmp(m->source + strlen(BS_NODE_FILES_DIR "/shop/"), m->content_hash, 16), 0);
	m = find_m(web, "/var/cache/nginx");
	assert_non_null(m);
	assert_int_equal(m->type, BS_MOUNT_VOLUME);
	assert_string_equal(m->source, "cache");
	assert_int_equal(web->n_exposed, 2);
	assert_int_equal(web->exposed[1].container_start, 9000);
	assert_int_equal(web->exposed[1].container_end, 9001);
	assert_int_equal(web->exposed[1].proto, BS_PROTO_UDP);
	assert_int_equal(web->stop_timeout_ms, 20000);
	assert_int_equal(web->nodes.n, 1);
	assert_string_equal(web->nodes.v[0].key, "node-1");
	assert_string_equal(web->domain, "shop.example.com");
	assert_non_null(web->compose_file);
	/* secrets: 0600 at /run/secrets/NAME, salted hash */
	m = find_m(db, "/run/secrets/db-password");
	assert_non_null(m);
	assert_true(m->secret);
	assert_int_equal(m->mode, 0600);
	assert_true(m->read_only);
	m = find_m(db, "/docker-entrypoint-initdb.d/init.sql");
	assert_non_null(m);
	assert_false(m->secret);
	assert_int_equal(m->mode, 0444);
	/* the same content as web's nginx.conf, so the same node path */
	assert_string_equal(m->content_hash,
			    find_m(web, "/etc/nginx/conf.d/default.conf")->content_hash);
	/* env_file under environment */
	assert_string_equal(bs_kvlist_find(&db->environment, "POSTGRES_USER")->value, "app");
	assert_string_equal(bs_kvlist_find(&db->environment, "POSTGRES_DB")->value, "shop");
	assert_string_equal(bs_kvlist_find(&db->environment, "POSTGRES_PASSWORD_FILE")->value,
			    "/run/secrets/db-password");
	/* deploy limits win over mem_limit; restart_policy as restart */
	assert_int_equal(db->resources.memory_bytes, 512 * 1024 * 1024);
	assert_int_equal(db->resources.nano_cpus, 500000000);
	assert_int_equal(db->restart, BS_RESTART_ON_FAILURE);
	assert_int_equal(db->restart_max_retries, 3);
	/* the recipe's services: */
	assert_int_equal(db->replicas, 2);
	assert_int_equal(l.recipe->compose_files.n, 1);
	loaded_free(&l);
}

/* An edited file is a new node path; a secret's hash is salted. */
static void test_hash_follows_content(void **state)
{
	struct loaded l;
	char *first, *secret_hash;

	(void)state;
	write_file("app.conf", "a=1\n");
	write_file("compose.yaml", "services:\n"
				   "  app:\n"
				   "    image: busybox:1.36\n"
				   "    volumes: [./app.conf:/etc/app.conf]\n"
				   "    secrets: [token]\n"
				   "secrets:\n"
				   "  token: {file: ./app.conf}\n");
	load_recipe(&l, RECIPE "compose: compose.yaml\n", NULL);
	assert_int_equal(l.rc, 0);
	first = bs_xstrdup(find_m(find_c(l.recipe, "app"), "/etc/app.conf")->source);
	secret_hash =
		bs_xstrdup(find_m(find_c(l.recipe, "app"), "/run/secrets/token")->content_hash);
	assert_string_not_equal(secret_hash,
				find_m(find_c(l.recipe, "app"), "/etc/app.conf")->content_hash);
	loaded_free(&l);
	write_file("app.conf", "a=2\n");
	load_recipe(&l, RECIPE "compose: compose.yaml\n", NULL);
	assert_int_equal(l.rc, 0);
	assert_string_not_equal(first, find_m(find_c(l.recipe, "app"), "/etc/app.conf")->source);
	assert_string_not_equal(
		secret_hash, find_m(find_c(l.recipe, "app"), "/run/secrets/token")->content_hash);
	loaded_free(&l);
	free(first);
	free(secret_hash);
}

static void test_files_merge_as_compose(void **state)
{
	struct loaded l;
	const struct bs_container *app;

	(void)state;
	write_file("compose.yaml", "services:\n"
				   "  app:\n"
				   "    image: busybox:1.36\n"
				   "    command: [sleep, \"1\"]\n"
				   "    environment: [A=1, B=2]\n"
				   "    ports: [\"8080:80\"]\n"
				   "    volumes: [data:/data, logs:/logs]\n"
				   "    healthcheck: {test: [CMD, a, b], retries: 3}\n"
				   "  test:\n"
				   "    image: busybox:1.36\n"
				   "    environment: [A=1]\n"
				   "volumes: {data: {}, logs: {}, other: {}}\n");
	write_file("compose.prod.yaml", "services:\n"
					"  app:\n"
					"    command: [sleep, \"2\"]\n"
					"    environment: {B: \"3\", C: \"4\"}\n"
					"    ports: [\"8443:443\"]\n"
					"    volumes: [other:/data]\n"
					"    healthcheck: {test: [CMD, c]}\n"
					"  test:\n"
					"    environment: [B=2]\n"
					"  extra:\n"
					"    image: busybox:1.36\n");
	load_recipe(&l, RECIPE "compose: [compose.yaml, compose.prod.yaml]\n", NULL);
	if (l.rc != 0)
		print_diags(&l.diags);
	assert_int_equal(l.rc, 0);
	assert_int_equal(l.recipe->n_containers, 3);
	assert_int_equal(l.recipe->compose_files.n, 2);
	app = find_c(l.recipe, "app");
	assert_int_equal(app->command.n, 2);
	assert_string_equal(app->command.v[1], "2");
	assert_string_equal(bs_kvlist_find(&app->environment, "A")->value, "1");
	assert_string_equal(bs_kvlist_find(&app->environment, "B")->value, "3");
	assert_string_equal(bs_kvlist_find(&app->environment, "C")->value, "4");
	assert_int_equal(app->n_ports, 2);
	assert_int_equal(app->n_volumes, 2);
	assert_string_equal(find_m(app, "/data")->source, "other");
	assert_string_equal(find_m(app, "/logs")->source, "logs");
	assert_non_null(find_c(l.recipe, "extra"));
	/* a healthcheck's test is replaced, its other keys kept */
	assert_int_equal(app->healthcheck.test.n, 2);
	assert_string_equal(app->healthcheck.test.v[1], "c");
	assert_int_equal(app->healthcheck.retries, 3);
	/* a service named test merges like any other */
	assert_string_equal(find_c(l.recipe, "test")->image, "busybox:1.36");
	assert_string_equal(bs_kvlist_find(&find_c(l.recipe, "test")->environment, "A")->value,
			    "1");
	assert_string_equal(bs_kvlist_find(&find_c(l.recipe, "test")->environment, "B")->value,
			    "2");
	loaded_free(&l);
}

static void test_profiles_and_dotenv(void **state)
{
	static const struct test_var debug[] = {{"COMPOSE_PROFILES", "debug,other"}, {NULL, NULL}};
	struct bs_recipe_load_opts opts = BS_RECIPE_LOAD_OPTS_INIT;
	struct bs_strv profiles = BS_STRV_INIT;
	struct loaded l;
	char path[512];

	(void)state;
	write_file(".env", "TAG=1.36\n");
	write_file("compose.yaml", "services:\n"
				   "  app:\n"
				   "    image: busybox:${TAG}\n"
				   "  tools:\n"
				   "    image: busybox:1.36\n"
				   "    profiles: [debug]\n");
	load_recipe(&l, RECIPE "compose: compose.yaml\n", NULL);
	assert_int_equal(l.rc, 0);
	assert_int_equal(l.recipe->n_containers, 1);
	assert_string_equal(l.recipe->containers[0].image, "busybox:1.36");
	loaded_free(&l);
	load_recipe(&l, RECIPE "compose: compose.yaml\n", debug);
	assert_int_equal(l.rc, 0);
	assert_int_equal(l.recipe->n_containers, 2);
	assert_string_equal(find_c(l.recipe, "tools")->profiles.v[0], "debug");
	loaded_free(&l);
	/* --profile wins over COMPOSE_PROFILES */
	bs_strv_push(&profiles, "nothing");
	opts.getenv_fn = test_getenv;
	opts.payload = test_env_payload(debug);
	opts.profiles = &profiles;
	snprintf(path, sizeof(path), "%s/recipe.yaml", dir);
	bs_diags_init(&l.diags, path);
	l.rc = bs_recipe_load(&l.recipe, path, &opts, &l.diags);
	assert_int_equal(l.rc, 0);
	assert_int_equal(l.recipe->n_containers, 1);
	loaded_free(&l);
	bs_strv_free(&profiles);
}

static void test_diagnostics_in_the_compose_file(void **state)
{
	struct loaded l;

	(void)state;
	write_file("compose.yaml", "services:\n"		 /* 1 */
				   "  web:\n"			 /* 2 */
				   "    image: nginx:1.25\n"	 /* 3 */
				   "    portz: [\"80:80\"]\n"	 /* 4 */
				   "    privileged: true\n"	 /* 5 */
				   "    tty: true\n"		 /* 6 */
				   "    volumes: [data:/data]\n" /* 7 */
				   "    secrets: [nope]\n"	 /* 8 */
				   "    restart: sometimes\n"	 /* 9 */
				   "    ports:\n"		 /* 10 */
				   "      - published: 80\n"	 /* 11 */
				   "include: [other.yaml]\n");	 /* 12 */
	load_recipe(&l, RECIPE "compose: compose.yaml\nservices:\n  wbe: {replicas: 2}\n", NULL);
	assert_int_equal(l.rc, BS_ERR_INVALID);
	expect_in(&l.diags, BS_DIAG_ERROR, "compose.yaml", 4, 5, "services.web.portz",
		  "not a compose service key (did you mean 'ports'?)");
	expect_in(&l.diags, BS_DIAG_ERROR, "compose.yaml", 5, 5, "services.web.privileged",
		  "not supported: privileged containers are not deployed (remove privileged:");
	expect_in(&l.diags, BS_DIAG_WARNING, "compose.yaml", 6, 5, "services.web.tty",
		  "tty is not used by bootstrap");
	expect_in(&l.diags, BS_DIAG_ERROR, "compose.yaml", 7, 15, "services.web.volumes[0]",
		  "volume data is not declared");
	expect_in(&l.diags, BS_DIAG_ERROR, "compose.yaml", 8, 15, "services.web.secrets[0]",
		  "nope is not defined under the top-level secrets:");
	expect_in(&l.diags, BS_DIAG_ERROR, "compose.yaml", 9, 14, "services.web.restart",
		  "'sometimes' is not a restart policy");
	expect_in(&l.diags, BS_DIAG_ERROR, "compose.yaml", 11, 9, "services.web.ports[0].target",
		  "missing required key (target: 80");
	expect_in(&l.diags, BS_DIAG_ERROR, "compose.yaml", 12, 1, "include",
		  "not supported yet (list the files in the recipe's compose:");
	expect_in(&l.diags, BS_DIAG_ERROR, "recipe.yaml", 9, 3, "services.wbe",
		  "no service wbe in the compose files (did you mean 'web'?)");
	loaded_free(&l);
}

static void test_bad_compose_references(void **state)
{
	struct loaded l;

	(void)state;
	load_recipe(&l, RECIPE "compose: missing.yaml\n", NULL);
	assert_int_equal(l.rc, BS_ERR_INVALID);
	expect_in(&l.diags, BS_DIAG_ERROR, "recipe.yaml", 7, 10, "compose",
		  "cannot read the compose file");
	loaded_free(&l);
	load_recipe(&l, RECIPE "services:\n  web: {replicas: 2}\n", NULL);
	assert_int_equal(l.rc, BS_ERR_INVALID);
	expect_in(&l.diags, BS_DIAG_ERROR, "recipe.yaml", 8, 3, "services",
		  "name them with compose: compose.yaml");
	loaded_free(&l);
	write_file("compose.yaml", "services:\n  web:\n    image: [nginx\n");
	load_recipe(&l, RECIPE "compose: compose.yaml\n", NULL);
	assert_int_equal(l.rc, BS_ERR_INVALID);
	assert_string_equal(bs_diag_file(&l.diags, &l.diags.items[0]) +
				    strlen(bs_diag_file(&l.diags, &l.diags.items[0])) - 12,
			    "compose.yaml");
	loaded_free(&l);
}

/* build: an images: entry built from the local context, named from its hash. */
static void test_build_context(void **state)
{
	struct loaded l;
	const struct bs_container *api, *web;
	char first[65];

	(void)state;
	write_file("api/Dockerfile", "FROM scratch\nCOPY app.txt /\n");
	write_file("api/app.txt", "v1\n");
	write_file("compose.yaml", "services:\n"
				   "  api:\n"
				   "    build: ./api\n"
				   "  web:\n"
				   "    image: shop/web:2\n"
				   "    build:\n"
				   "      context: api\n"
				   "      target: final\n"
				   "      args: {MODE: prod}\n"
				   "      cache_from: [shop/web:1]\n"
				   "  remote:\n"
				   "    build: https://git.example.com/shop/app.git#main\n");
	load_recipe(&l, RECIPE "compose: compose.yaml\n", NULL);
	if (l.rc != 0)
		print_diags(&l.diags);
	assert_int_equal(l.rc, 0);
	assert_int_equal(l.recipe->n_images, 3);
	/* a git URL is a remote context, built by the node's engine */
	assert_string_equal(find_c(l.recipe, "remote")->image, "shop-remote:git");
	assert_string_equal(l.recipe->images[2].build_git,
			    "https://git.example.com/shop/app.git#main");
	assert_null(l.recipe->images[2].build_context);
	api = find_c(l.recipe, "api");
	web = find_c(l.recipe, "web");
	assert_true(bs_str_starts_with(api->image, "shop-api:ctx-"));
	assert_int_equal(strlen(api->image), strlen("shop-api:ctx-") + 12);
	assert_string_equal(l.recipe->images[0].name, api->image);
	assert_int_equal(strncmp(api->image + 13, l.recipe->images[0].context_hash, 12), 0);
	assert_non_null(strstr(l.recipe->images[0].build_context, "/api"));
	snprintf(first, sizeof(first), "%s", l.recipe->images[0].context_hash);
	assert_string_equal(web->image, "shop/web:2");
	assert_string_equal(l.recipe->images[1].name, "shop/web:2");
	assert_string_equal(l.recipe->images[1].build_target, "final");
	assert_string_equal(bs_kvlist_find(&l.recipe->images[1].build_args, "MODE")->value, "prod");
	expect_in(&l.diags, BS_DIAG_WARNING, "compose.yaml", 10, 7, "services.web.build.cache_from",
		  "cache_from is not used by bootstrap");
	loaded_free(&l);
	/* an edited context is another tag */
	write_file("api/app.txt", "v2\n");
	load_recipe(&l, RECIPE "compose: compose.yaml\n", NULL);
	assert_int_equal(l.rc, 0);
	assert_string_not_equal(l.recipe->images[0].context_hash, first);
	assert_int_equal(
		strncmp(find_c(l.recipe, "api")->image + 13, l.recipe->images[0].context_hash, 12),
		0);
	loaded_free(&l);
}

/* What the review of the first version found, each pinned. */
static void test_merge_places_and_precedence(void **state)
{
	static const struct test_var env[] = {{"TAG", "1.36"}, {NULL, NULL}};
	struct loaded l;
	const struct bs_container *app;

	(void)state;
	write_file("conf/app.conf", "a=1\n");
	write_file("deploy/conf/app.conf", "the wrong one\n");
	write_file("one.env", "A=1\nB=1\nB=2\n");
	write_file("two.env", "A=3\n");
	write_file("compose.yaml", "services:\n"
				   "  app:\n"
				   "    image: busybox:${TAG}\n"
				   "    extra_hosts: [\"db:10.0.0.5\"]\n");
	write_file("deploy/prod.yaml", "services:\n"					/* 1 */
				       "  app:\n"					/* 2 */
				       "    env_file: [one.env, two.env]\n"		/* 3 */
				       "    extra_hosts: [\"cache:10.0.0.6\"]\n"	/* 4 */
				       "    volumes: [./conf/app.conf:/etc/app.conf]\n" /* 5 */
				       "    portz: []\n");				/* 6 */
	load_recipe(&l, RECIPE "compose: [compose.yaml, deploy/prod.yaml]\n", env);
	assert_int_equal(l.rc, BS_ERR_INVALID);
	/* a key from the second file keeps its own place */
	expect_in(&l.diags, BS_DIAG_ERROR, "prod.yaml", 6, 5, "services.app.portz",
		  "not a compose service key");
	loaded_free(&l);
	write_file("deploy/prod.yaml", "services:\n"
				       "  app:\n"
				       "    env_file: [one.env, two.env]\n"
				       "    extra_hosts: [\"cache:10.0.0.6\"]\n"
				       "    volumes: [./conf/app.conf:/etc/app.conf]\n");
	load_recipe(&l, RECIPE "compose: [compose.yaml, deploy/prod.yaml]\n", env);
	if (l.rc != 0)
		print_diags(&l.diags);
	assert_int_equal(l.rc, 0);
	app = find_c(l.recipe, "app");
	/* later env files and lines win */
	assert_string_equal(bs_kvlist_find(&app->environment, "A")->value, "3");
	assert_string_equal(bs_kvlist_find(&app->environment, "B")->value, "2");
	/* extra_hosts lists of both files, merged by host */
	assert_int_equal(app->extra_hosts.n, 2);
	/* relative to the project directory (the first file's), as Compose */
	assert_null(strstr(find_m(app, "/etc/app.conf")->local_path, "/deploy/"));
	/* a local path is mounted read-only */
	assert_true(find_m(app, "/etc/app.conf")->read_only);
	loaded_free(&l);
}

static void test_bad_local_files_and_secrets(void **state)
{
	struct loaded l;

	(void)state;
	write_file("conf/app.conf", "a=1\n");
	write_file("token.txt", "t\n");
	write_file("compose.yaml", "services:\n"				       /* 1 */
				   "  app:\n"					       /* 2 */
				   "    image: busybox:${NOPE:?set NOPE}\n"	       /* 3 */
				   "    user: app\n"				       /* 4 */
				   "    volumes: [./conf/app.conf:/etc/app.conf:rw]\n" /* 5 */
				   "    secrets:\n"				       /* 6 */
				   "      - source: token\n"			       /* 7 */
				   "        mode: 0o440\n"			       /* 8 */
				   "      - source: token\n"			       /* 9 */
				   "        target: other\n"			       /* 10 */
				   "        uid: \"1000\"\n"			       /* 11 */
				   "      - source: token\n"			       /* 12 */
				   "        target: third\n"			       /* 13 */
				   "secrets:\n"					       /* 14 */
				   "  token: {file: token.txt}\n");		       /* 15 */
	load_recipe(&l, RECIPE "compose: compose.yaml\n", NULL);
	assert_int_equal(l.rc, BS_ERR_INVALID);
	/* an interpolation error is in the compose file */
	expect_in(&l.diags, BS_DIAG_ERROR, "compose.yaml", 3, 20, "services.app.image", "set NOPE");
	expect_in(&l.diags, BS_DIAG_ERROR, "compose.yaml", 5, 15, "services.app.volumes[0]",
		  "mounted read-only");
	expect_in(&l.diags, BS_DIAG_ERROR, "compose.yaml", 8, 15, "services.app.secrets[0].mode",
		  "'0o440' is not a file mode");
	expect_in(&l.diags, BS_DIAG_ERROR, "compose.yaml", 11, 14, "services.app.secrets[1].uid",
		  "uid is not supported yet");
	expect_in(&l.diags, BS_DIAG_WARNING, "compose.yaml", 12, 9, "services.app.secrets[2]",
		  "this service runs as app, which cannot read it: give mode: 0444");
	loaded_free(&l);
}

/* Levels are worked out once: forty services each depending on all the
 * earlier ones load at once (the first version took 2^n steps). */
static void test_dense_depends_on(void **state)
{
	struct bs_buf b = BS_BUF_INIT;
	struct loaded l;

	(void)state;
	bs_buf_puts(&b, "services:\n");
	for (int i = 0; i < 40; i++) {
		bs_buf_printf(&b, "  s%d:\n    image: busybox:1.36\n", i);
		if (i > 0)
			bs_buf_puts(&b, "    depends_on: [");
		for (int j = 0; j < i; j++)
			bs_buf_printf(&b, "%ss%d", j ? ", " : "", j);
		if (i > 0)
			bs_buf_puts(&b, "]\n");
	}
	write_file("compose.yaml", bs_buf_str(&b));
	bs_buf_free(&b);
	load_recipe(&l, RECIPE "compose: compose.yaml\n", NULL);
	if (l.rc != 0)
		print_diags(&l.diags);
	assert_int_equal(l.rc, 0);
	assert_int_equal(bs_recipe_dep_level(l.recipe, find_c(l.recipe, "s39")), 39);
	assert_int_equal(bs_recipe_dep_top(l.recipe), 39);
	loaded_free(&l);
}

/* docs/compose.md lists every key with what bootstrap does with it. */
static void test_docs_list_every_key(void **state)
{
	const char *const *names;
	size_t n = bs_compose_keys(&names), rows = 0;
	char line[2048];
	FILE *f = fopen("docs/compose.md", "r");

	(void)state;
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		char key[128], status[64];

		if (sscanf(line, "| `%127[^`]` | %63[a-z]", key, status) != 2)
			continue;
		rows++;
		if (bs_compose_key_status(key) == NULL ||
		    strcmp(bs_compose_key_status(key), status) != 0) {
			print_message(
				"docs/compose.md: %s is '%s', the loader says '%s'\n", key, status,
				bs_compose_key_status(key) ? bs_compose_key_status(key) : "no key");
			fail();
		}
	}
	fclose(f);
	assert_int_equal(rows, n);
	assert_true(n > 90);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_services_become_containers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hash_follows_content, setup, teardown),
		cmocka_unit_test_setup_teardown(test_files_merge_as_compose, setup, teardown),
		cmocka_unit_test_setup_teardown(test_profiles_and_dotenv, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diagnostics_in_the_compose_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_compose_references, setup, teardown),
		cmocka_unit_test_setup_teardown(test_build_context, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge_places_and_precedence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_local_files_and_secrets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dense_depends_on, setup, teardown),
		cmocka_unit_test(test_docs_list_every_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
