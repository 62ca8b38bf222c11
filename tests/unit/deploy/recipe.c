/*
 * Unit tests for deploy/recipe*.c, the model side: every example recipe
 * loads cleanly, recipes/local.yaml maps to the expected structs, defaults
 * are filled in, value syntaxes (ports, volumes, commands, durations, sizes)
 * are parsed, and the JSON model matches. Diagnostics are tested in
 * recipe_diags.c, secrets in recipe_secrets.c.
 *
 * Every load uses a test environment table, never the process environment.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <cJSON.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/recipe.h"
#include "tests/unit/helpers.h"

/* The environment tests/e2e/run.sh gives the examples: nothing but a test
 * secret, so an example must not need the user's variables. */
static const struct test_var example_env[] = {{"BS_TEST_SECRET", "hunter2"}, {NULL, NULL}};

static cJSON *json_of(const struct bs_recipe *r)
{
	char *text = bs_recipe_to_json(r);
	cJSON *json;

	assert_non_null(text);
	json = cJSON_Parse(text);
	free(text);
	assert_non_null(json);
	return json;
}

/* cJSON item at a path of object keys and array indexes ("containers", "0"). */
static const cJSON *jget(const cJSON *j, const char *const *path)
{
	for (; j != NULL && *path != NULL; path++) {
		if (cJSON_IsArray(j))
			j = cJSON_GetArrayItem(j, (int)strtol(*path, NULL, 10));
		else
			j = cJSON_GetObjectItemCaseSensitive(j, *path);
	}
	return j;
}

#define JPATH(...) ((const char *const[]){__VA_ARGS__, NULL})

static void assert_jstr(const cJSON *root, const char *const *path, const char *want)
{
	const cJSON *j = jget(root, path);

	if (!cJSON_IsString(j))
		fail_msg("JSON %s...: not a string", path[0]);
	assert_string_equal(j->valuestring, want);
}

static void assert_jnum(const cJSON *root, const char *const *path, double want)
{
	const cJSON *j = jget(root, path);

	if (!cJSON_IsNumber(j))
		fail_msg("JSON %s...: not a number", path[0]);
	assert_true(j->valuedouble == want);
}

/* ---- the examples ------------------------------------------------------ */

static void test_examples_load(void **state)
{
	glob_t g;
	size_t i;

	(void)state;
	assert_int_equal(glob("recipes/*.yaml", 0, NULL, &g), 0);
	assert_true(g.gl_pathc >= 4);
	for (i = 0; i < g.gl_pathc; i++) {
		struct loaded l;
		cJSON *json;

		load_file(&l, g.gl_pathv[i], example_env);
		if (l.rc != 0 || l.diags.n_errors != 0) {
			print_error("%s does not load\n", g.gl_pathv[i]);
			print_diags(&l.diags);
			fail();
		}
		assert_non_null(l.recipe);
		assert_true(l.recipe->n_nodes > 0);
		assert_string_equal(l.recipe->file, g.gl_pathv[i]);
		json = json_of(l.recipe);
		assert_non_null(jget(json, JPATH("project")));
		cJSON_Delete(json);
		loaded_free(&l);
	}
	globfree(&g);
}

static void test_local_example(void **state)
{
	const struct bs_container *c;
	const struct bs_node *n;
	const struct bs_port *p;
	struct loaded l;
	cJSON *daemon;
	size_t i;

	(void)state;
	load_file(&l, "recipes/local.yaml", NULL);
	expect_loaded(&l);
	expect_counts(&l.diags, 0, 0);
	assert_int_equal(l.recipe->version, 1);
	assert_string_equal(l.recipe->project, "demo");
	assert_int_equal(l.recipe->provider.type, BS_PROVIDER_LOCAL);
	assert_string_equal(l.recipe->provider.image, "bootstrap/node:bookworm");
	assert_string_equal(l.recipe->provider.engine, "unix:///var/run/docker.sock");
	assert_string_equal(l.recipe->ssh.user, "root");
	assert_int_equal(l.recipe->ssh.host_keys, BS_HOST_KEYS_ACCEPT_NEW);
	assert_null(l.recipe->ssh.known_hosts); /* $BOOTSTRAP_DIR/known_hosts */

	/* nodes: count 2 expands to node-1, node-2, each labelled role=web */
	assert_int_equal(l.recipe->n_nodes, 2);
	for (i = 0; i < 2; i++) {
		n = &l.recipe->nodes[i];
		assert_string_equal(n->name, i == 0 ? "node-1" : "node-2");
		assert_string_equal(n->group, "node");
		assert_int_equal(n->index, (int)i + 1);
		assert_int_equal(n->labels.n, 1);
		assert_non_null(bs_kvlist_find(&n->labels, "role"));
		assert_string_equal(bs_kvlist_find(&n->labels, "role")->value, "web");
	}

	/* docker.daemon as JSON; log-opts values are strings for dockerd */
	assert_int_equal(l.recipe->docker.install, BS_DOCKER_INSTALL_AUTO);
	assert_non_null(l.recipe->docker.daemon_json);
	assert_non_null(strstr(l.recipe->docker.daemon_json, "\"max-file\":\"3\""));
	daemon = cJSON_Parse(l.recipe->docker.daemon_json);
	assert_non_null(daemon);
	assert_jstr(daemon, JPATH("log-driver"), "json-file");
	assert_jstr(daemon, JPATH("log-opts", "max-size"), "10m");
	assert_jstr(daemon, JPATH("log-opts", "max-file"), "3");
	cJSON_Delete(daemon);

	assert_int_equal(l.recipe->n_images, 1);
	assert_string_equal(l.recipe->images[0].name, "local/busybox:1");
	assert_int_equal(l.recipe->images[0].pull, BS_PULL_NEVER);

	assert_int_equal(l.recipe->n_containers, 1);
	c = &l.recipe->containers[0];
	assert_string_equal(c->name, "hello");
	assert_string_equal(c->image, "local/busybox:1");
	assert_true(c->has_command);
	assert_int_equal(c->command.n, 3);
	assert_string_equal(c->command.v[0], "sh");
	assert_string_equal(c->command.v[2],
			    "echo \"$GREETING\" >/www/index.html && exec httpd -f -p 8080 -h /www");
	assert_false(c->has_entrypoint);
	assert_int_equal(c->replicas, 2);
	assert_int_equal(c->nodes.n, 1);
	assert_string_equal(c->nodes.v[0].key, "role");
	assert_string_equal(c->nodes.v[0].value, "web");
	assert_string_equal(bs_kvlist_find(&c->environment, "GREETING")->value,
			    "hello from bootstrap");
	assert_false(bs_kvlist_find(&c->environment, "GREETING")->secret);
	assert_int_equal(c->restart, BS_RESTART_UNLESS_STOPPED);

	/* ports: "127.0.0.1:8080:8080" */
	assert_int_equal(c->n_ports, 1);
	p = &c->ports[0];
	assert_string_equal(p->host_ip, "127.0.0.1");
	assert_int_equal(p->host_start, 8080);
	assert_int_equal(p->host_end, 8080);
	assert_int_equal(p->container_start, 8080);
	assert_int_equal(p->container_end, 8080);
	assert_int_equal(p->proto, BS_PROTO_TCP);

	/* healthcheck */
	assert_true(c->healthcheck.present);
	assert_false(c->healthcheck.disable);
	assert_int_equal(c->healthcheck.test.n, 4);
	assert_string_equal(c->healthcheck.test.v[0], "CMD");
	assert_string_equal(c->healthcheck.test.v[1], "wget");
	assert_string_equal(c->healthcheck.test.v[3], "http://127.0.0.1:8080/");
	assert_int_equal(c->healthcheck.interval_ms, 5000);
	assert_int_equal(c->healthcheck.retries, 3);
	assert_int_equal(c->healthcheck.timeout_ms, 0);

	/* resources: {memory: 64m, cpus: 0.5, pids: 64} */
	assert_int_equal(c->resources.memory_bytes, 64 * 1024 * 1024);
	assert_int_equal(c->resources.nano_cpus, 500000000);
	assert_int_equal(c->resources.pids, 64);

	assert_true(l.recipe->prune);
	assert_int_equal(l.recipe->secrets.n, 0);
	loaded_free(&l);
}

static void test_local_example_env_override(void **state)
{
	static const struct test_var env[] = {{"GREETING", "hi from the test"}, {NULL, NULL}};
	struct loaded l;

	(void)state;
	load_file(&l, "recipes/local.yaml", env);
	expect_loaded(&l);
	assert_string_equal(bs_kvlist_find(&l.recipe->containers[0].environment, "GREETING")->value,
			    "hi from the test");
	loaded_free(&l);
}

static void test_local_example_json(void **state)
{
	struct loaded l;
	cJSON *j;

	(void)state;
	load_file(&l, "recipes/local.yaml", NULL);
	expect_loaded(&l);
	j = json_of(l.recipe);
	assert_jnum(j, JPATH("version"), 1);
	assert_jstr(j, JPATH("project"), "demo");
	assert_jstr(j, JPATH("provider", "type"), "local");
	assert_jstr(j, JPATH("nodes", "1", "name"), "node-2");
	assert_jstr(j, JPATH("nodes", "1", "group"), "node");
	assert_jnum(j, JPATH("nodes", "1", "index"), 2);
	assert_jstr(j, JPATH("nodes", "1", "labels", "role"), "web");
	assert_jstr(j, JPATH("docker", "daemon", "log-opts", "max-file"), "3");
	assert_jstr(j, JPATH("images", "0", "pull"), "never");
	assert_jstr(j, JPATH("containers", "0", "ports", "0", "host_ip"), "127.0.0.1");
	assert_jnum(j, JPATH("containers", "0", "ports", "0", "host_start"), 8080);
	assert_jnum(j, JPATH("containers", "0", "ports", "0", "container_end"), 8080);
	assert_jstr(j, JPATH("containers", "0", "ports", "0", "protocol"), "tcp");
	assert_jnum(j, JPATH("containers", "0", "healthcheck", "interval_ms"), 5000);
	assert_jstr(j, JPATH("containers", "0", "healthcheck", "test", "0"), "CMD");
	assert_jnum(j, JPATH("containers", "0", "resources", "memory_bytes"), 67108864);
	assert_jnum(j, JPATH("containers", "0", "resources", "nano_cpus"), 500000000);
	assert_jnum(j, JPATH("containers", "0", "resources", "pids"), 64);
	assert_jstr(j, JPATH("containers", "0", "restart"), "unless-stopped");
	assert_jstr(j, JPATH("containers", "0", "nodes", "0"), "role=web");
	assert_jnum(j, JPATH("containers", "0", "replicas"), 2);
	assert_true(cJSON_IsTrue(jget(j, JPATH("prune"))));
	cJSON_Delete(j);
	loaded_free(&l);
}

/* ---- loading ----------------------------------------------------------- */

static void test_load_missing_file(void **state)
{
	struct loaded l;

	(void)state;
	load_file(&l, "tests/unit/deploy/no-such-recipe.yaml", NULL);
	assert_int_equal(l.rc, BS_ERR_IO);
	assert_null(l.recipe);
	expect_error(&l.diags, 0, 0, "", "cannot open the recipe");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);
}

static void test_load_directory(void **state)
{
	struct loaded l;

	(void)state;
	load_file(&l, "recipes", NULL);
	assert_true(l.rc == BS_ERR_IO || l.rc == BS_ERR_INVALID);
	assert_null(l.recipe);
	assert_true(l.diags.n_errors >= 1);
	loaded_free(&l);
}

/* provider.init: systemd unless none is asked; local nodes only */
static void test_provider_init(void **state)
{
	struct loaded l;

	(void)state;
	load_text(&l, RECIPE_HEAD "provider: {type: local, init: none}\n", NULL);
	expect_loaded(&l);
	expect_counts(&l.diags, 0, 0);
	assert_int_equal(l.recipe->provider.init, BS_NODE_INIT_NONE);
	loaded_free(&l);
	load_text(&l, RECIPE_HEAD "provider: {type: local, init: systemd}\n", NULL);
	expect_loaded(&l);
	assert_int_equal(l.recipe->provider.init, BS_NODE_INIT_SYSTEMD);
	loaded_free(&l);
	load_text(&l, RECIPE_HEAD "provider: {type: local, init: runit}\n", NULL);
	assert_null(l.recipe);
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);
}

static void test_defaults(void **state)
{
	const struct bs_container *c;
	struct loaded l;

	(void)state;
	load_text(&l, RECIPE_HEAD, NULL);
	expect_loaded(&l);
	expect_counts(&l.diags, 0, 0);
	assert_string_equal(l.recipe->file, "test.yaml");
	assert_int_equal(l.recipe->provider.type, BS_PROVIDER_LOCAL);
	assert_string_equal(l.recipe->provider.image, "bootstrap/node:bookworm");
	assert_int_equal(l.recipe->provider.init, BS_NODE_INIT_SYSTEMD);
	assert_string_equal(l.recipe->provider.engine, "unix:///var/run/docker.sock");
	assert_string_equal(l.recipe->ssh.user, "root");
	assert_int_equal(l.recipe->ssh.port, 22);
	assert_null(l.recipe->ssh.known_hosts); /* $BOOTSTRAP_DIR/known_hosts */
	assert_int_equal(l.recipe->ssh.host_keys, BS_HOST_KEYS_ACCEPT_NEW);
	assert_int_equal(l.recipe->ssh.connect_timeout_ms, 10000);
	assert_int_equal(l.recipe->ssh.wait_timeout_ms, 300000);
	assert_false(l.recipe->ssh.agent);
	assert_null(l.recipe->ssh.password);
	assert_int_equal(l.recipe->docker.install, BS_DOCKER_INSTALL_AUTO);
	assert_string_equal(l.recipe->docker.package, "docker.io");
	assert_null(l.recipe->docker.version);
	assert_null(l.recipe->docker.daemon_json);
	assert_int_equal(l.recipe->docker.endpoint, BS_DOCKER_ENDPOINT_SSH);
	assert_int_equal(l.recipe->docker.tls_port, 2376);
	assert_false(l.recipe->prune);
	assert_int_equal(l.recipe->n_registries, 0);
	assert_int_equal(l.recipe->n_images, 0);

	assert_int_equal(l.recipe->n_nodes, 1);
	assert_string_equal(l.recipe->nodes[0].name, "web");
	assert_string_equal(l.recipe->nodes[0].group, "web");
	assert_int_equal(l.recipe->nodes[0].index, 0);
	assert_int_equal(l.recipe->nodes[0].loc.line, 4);
	assert_int_equal(l.recipe->nodes[0].loc.col, 5);
	assert_int_equal(l.recipe->nodes[0].name_loc.line, 4);
	assert_int_equal(l.recipe->nodes[0].name_loc.col, 11);

	c = &l.recipe->containers[0];
	assert_int_equal(c->replicas, 1);
	assert_int_equal(c->restart, BS_RESTART_UNLESS_STOPPED);
	assert_false(c->has_command);
	assert_false(c->healthcheck.present);
	assert_int_equal(c->nodes.n, 0);
	assert_int_equal(c->n_ports, 0);
	assert_int_equal(c->resources.memory_bytes, 0);
	assert_int_equal(c->loc.line, 6);
	assert_int_equal(c->name_loc.line, 6);
	assert_int_equal(c->name_loc.col, 11);
	assert_int_equal(c->image_loc.line, 7);
	assert_int_equal(c->image_loc.col, 12);
	loaded_free(&l);
}

static void test_minimal_json(void **state)
{
	struct loaded l;
	cJSON *j;

	(void)state;
	load_text(&l, RECIPE_HEAD, NULL);
	expect_loaded(&l);
	j = json_of(l.recipe);
	assert_jstr(j, JPATH("provider", "type"), "local");
	assert_jstr(j, JPATH("provider", "engine"), "unix:///var/run/docker.sock");
	assert_jstr(j, JPATH("ssh", "user"), "root");
	assert_jnum(j, JPATH("ssh", "port"), 22);
	assert_jstr(j, JPATH("ssh", "host_keys"), "accept-new");
	assert_jnum(j, JPATH("ssh", "connect_timeout_ms"), 10000);
	assert_null(jget(j, JPATH("ssh", "password")));
	assert_jstr(j, JPATH("docker", "package"), "docker.io");
	assert_jstr(j, JPATH("docker", "endpoint"), "ssh");
	assert_null(jget(j, JPATH("docker", "tls_port")));
	assert_jstr(j, JPATH("nodes", "0", "name"), "web");
	assert_null(jget(j, JPATH("nodes", "0", "index")));
	assert_jstr(j, JPATH("containers", "0", "name"), "app");
	assert_jstr(j, JPATH("containers", "0", "image"), "nginx:1.25");
	assert_jstr(j, JPATH("containers", "0", "restart"), "unless-stopped");
	assert_jnum(j, JPATH("containers", "0", "replicas"), 1);
	assert_null(jget(j, JPATH("containers", "0", "command")));
	assert_null(jget(j, JPATH("containers", "0", "healthcheck")));
	assert_int_equal(cJSON_GetArraySize(jget(j, JPATH("registries"))), 0);
	assert_true(cJSON_IsFalse(jget(j, JPATH("prune"))));
	cJSON_Delete(j);
	loaded_free(&l);
}

/* cluster.encrypt and cluster.advertise: defaults, values, JSON */
static void test_cluster_network_json(void **state)
{
	static const char *const head = "version: 1\nproject: demo\nprovider: {type: local}\n"
					"nodes:\n  - name: web\n"
					"containers:\n  - {name: app, image: nginx:1.25}\n";
	static const struct {
		const char *cluster, *encrypt, *advertise;
	} cases[] = {
		{"cluster: {type: swarm}\n", "auto", NULL},
		{"cluster: {type: swarm, encrypt: true, advertise: private}\n", "true", "private"},
		{"cluster: {type: swarm, encrypt: false, advertise: enp7s0}\n", "false", "enp7s0"},
		{"cluster: {type: swarm, encrypt: auto, advertise: \"10.0.0.2\"}\n", "auto",
		 "10.0.0.2"},
		{"cluster: {type: swarm, advertise: \"fd00::2\"}\n", "auto", "fd00::2"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct loaded l;
		char *text = bs_xasprintf("%s%s", head, cases[i].cluster);
		cJSON *j;

		load_text(&l, text, NULL);
		free(text);
		expect_loaded(&l);
		assert_string_equal(bs_encrypt_mode_name(l.recipe->cluster.encrypt),
				    cases[i].encrypt);
		j = json_of(l.recipe);
		assert_jstr(j, JPATH("cluster", "encrypt"), cases[i].encrypt);
		if (cases[i].advertise == NULL) {
			assert_null(l.recipe->cluster.advertise);
			assert_true(cJSON_IsNull(jget(j, JPATH("cluster", "advertise"))));
		} else {
			assert_string_equal(l.recipe->cluster.advertise, cases[i].advertise);
			assert_jstr(j, JPATH("cluster", "advertise"), cases[i].advertise);
		}
		cJSON_Delete(j);
		loaded_free(&l);
	}
}

/* ---- sections ---------------------------------------------------------- */

static void test_node_expansion(void **state)
{
	struct loaded l;
	const struct bs_node *n;

	(void)state;
	load_text(&l,
		  "version: 1\n"
		  "project: demo\n"
		  "nodes:\n"
		  "  - name: db\n"
		  "  - name: web\n"
		  "    count: 3\n"
		  "    labels: {role: web, tier: front}\n"
		  "    user: deploy\n"
		  "    port: 2200\n"
		  "containers:\n"
		  "  - name: app\n"
		  "    image: nginx:1.25\n",
		  NULL);
	expect_loaded(&l);
	assert_int_equal(l.recipe->n_nodes, 4);
	assert_string_equal(l.recipe->nodes[0].name, "db");
	assert_int_equal(l.recipe->nodes[0].entry, 0);
	assert_int_equal(l.recipe->nodes[0].labels.n, 0);
	n = &l.recipe->nodes[3];
	assert_string_equal(n->name, "web-3");
	assert_string_equal(n->group, "web");
	assert_int_equal(n->index, 3);
	assert_int_equal(n->entry, 1);
	assert_int_equal(n->labels.n, 2);
	assert_string_equal(bs_kvlist_find(&n->labels, "tier")->value, "front");
	assert_string_equal(n->user, "deploy");
	assert_int_equal(n->port, 2200);
	assert_int_equal(n->loc.line, 5);
	assert_int_equal(n->name_loc.line, 5);
	assert_int_equal(n->name_loc.col, 11);
	assert_string_equal(l.recipe->nodes[1].name, "web-1");
	assert_string_equal(l.recipe->nodes[2].name, "web-2");
	loaded_free(&l);
}

static void test_providers(void **state)
{
	struct loaded l;

	(void)state;
	load_text(&l,
		  "version: 1\n"
		  "project: demo\n"
		  "provider: {type: hetzner, location: nbg1}\n"
		  "nodes:\n"
		  "  - name: web\n"
		  "    server_type: cx32\n"
		  "containers:\n"
		  "  - name: app\n"
		  "    image: nginx:1.25\n",
		  NULL);
	expect_loaded(&l);
	assert_int_equal(l.recipe->provider.type, BS_PROVIDER_HETZNER);
	assert_string_equal(l.recipe->provider.region, "nbg1");
	assert_string_equal(l.recipe->provider.size, "cx22");
	assert_string_equal(l.recipe->provider.image, "debian-12");
	assert_string_equal(l.recipe->provider.token_env, "HCLOUD_TOKEN");
	assert_null(l.recipe->provider.token);
	assert_string_equal(l.recipe->provider.api_url, "https://api.hetzner.cloud/v1");
	assert_string_equal(l.recipe->nodes[0].size, "cx32");
	loaded_free(&l);

	load_text(&l,
		  "version: 1\n"
		  "project: demo\n"
		  "provider:\n"
		  "  type: digitalocean\n"
		  "  region: fra1\n"
		  "  size: s-2vcpu-4gb\n"
		  "  token_env: MY_DO_TOKEN\n"
		  "  api_url: http://127.0.0.1:8080/v2\n"
		  "nodes:\n"
		  "  - name: web\n"
		  "    size: s-4vcpu-8gb\n"
		  "containers:\n"
		  "  - name: app\n"
		  "    image: nginx:1.25\n",
		  NULL);
	expect_loaded(&l);
	assert_int_equal(l.recipe->provider.type, BS_PROVIDER_DIGITALOCEAN);
	assert_string_equal(l.recipe->provider.region, "fra1");
	assert_string_equal(l.recipe->provider.size, "s-2vcpu-4gb");
	assert_string_equal(l.recipe->provider.image, "debian-12-x64");
	assert_string_equal(l.recipe->provider.token_env, "MY_DO_TOKEN");
	assert_string_equal(l.recipe->provider.api_url, "http://127.0.0.1:8080/v2");
	assert_string_equal(l.recipe->nodes[0].size, "s-4vcpu-8gb");
	assert_string_equal(bs_provider_type_name(l.recipe->provider.type), "digitalocean");
	loaded_free(&l);

	load_text(&l,
		  "version: 1\n"
		  "project: demo\n"
		  "provider: {type: static}\n"
		  "nodes:\n"
		  "  - name: web\n"
		  "    address: 203.0.113.10\n"
		  "  - name: db\n"
		  "    address: db.example.com\n"
		  "    port: 2222\n"
		  "containers:\n"
		  "  - name: app\n"
		  "    image: nginx:1.25\n",
		  NULL);
	expect_loaded(&l);
	assert_int_equal(l.recipe->provider.type, BS_PROVIDER_STATIC);
	assert_string_equal(l.recipe->nodes[0].address, "203.0.113.10");
	assert_int_equal(l.recipe->nodes[0].port, 0);
	assert_string_equal(l.recipe->nodes[1].address, "db.example.com");
	assert_int_equal(l.recipe->nodes[1].port, 2222);
	loaded_free(&l);
}

static void test_ssh_section(void **state)
{
	struct loaded l;

	(void)state;
	load_text(&l,
		  "version: 1\n"
		  "project: demo\n"
		  "ssh:\n"
		  "  user: deploy\n"
		  "  port: 2222\n"
		  "  key: ~/.ssh/id_ed25519\n"
		  "  agent: true\n"
		  "  known_hosts: ~/.ssh/known_hosts\n"
		  "  host_keys: strict\n"
		  "  connect_timeout: 1m30s\n"
		  "  wait_timeout: 5m\n"
		  "nodes:\n"
		  "  - name: web\n",
		  NULL);
	expect_loaded(&l);
	assert_string_equal(l.recipe->ssh.user, "deploy");
	assert_int_equal(l.recipe->ssh.port, 2222);
	assert_string_equal(l.recipe->ssh.key, "~/.ssh/id_ed25519");
	assert_true(l.recipe->ssh.agent);
	assert_string_equal(l.recipe->ssh.known_hosts, "~/.ssh/known_hosts");
	assert_int_equal(l.recipe->ssh.host_keys, BS_HOST_KEYS_STRICT);
	assert_int_equal(l.recipe->ssh.connect_timeout_ms, 90000);
	assert_int_equal(l.recipe->ssh.wait_timeout_ms, 300000);
	assert_int_equal(l.recipe->n_containers, 0); /* containers: is optional */
	loaded_free(&l);
}

static void test_docker_section(void **state)
{
	struct loaded l;
	cJSON *d;

	(void)state;
	load_text(&l,
		  RECIPE_HEAD "docker:\n"
			      "  install: never\n"
			      "  package: docker-ce\n"
			      "  version: 5:24.0.7-1~debian.12~bookworm\n"
			      "  endpoint: tls\n"
			      "  tls_port: 2377\n"
			      "  daemon:\n"
			      "    live-restore: true\n"
			      "    debug: false\n"
			      "    max-concurrent-downloads: 3\n"
			      "    future-number-option: 1450.5\n"
			      "    registry-mirrors: [\"https://mirror.example.com\"]\n"
			      "    default-address-pools: [{base: 10.10.0.0/16, size: 24}]\n"
			      "    future-text-option: \"123\"\n"
			      "    nothing: ~\n"
			      "    log-opts: {max-size: 10m, max-file: 3, compress: true}\n",
		  NULL);
	expect_loaded(&l);
	assert_int_equal(l.recipe->docker.install, BS_DOCKER_INSTALL_NEVER);
	assert_string_equal(l.recipe->docker.package, "docker-ce");
	assert_string_equal(l.recipe->docker.version, "5:24.0.7-1~debian.12~bookworm");
	assert_int_equal(l.recipe->docker.endpoint, BS_DOCKER_ENDPOINT_TLS);
	assert_int_equal(l.recipe->docker.tls_port, 2377);
	d = cJSON_Parse(l.recipe->docker.daemon_json);
	assert_non_null(d);
	assert_true(cJSON_IsTrue(jget(d, JPATH("live-restore"))));
	assert_true(cJSON_IsFalse(jget(d, JPATH("debug"))));
	assert_jnum(d, JPATH("max-concurrent-downloads"), 3);
	assert_jnum(d, JPATH("future-number-option"), 1450.5); /* keys newer engines know */
	assert_jstr(d, JPATH("registry-mirrors", "0"), "https://mirror.example.com");
	assert_jstr(d, JPATH("default-address-pools", "0", "base"), "10.10.0.0/16");
	assert_jnum(d, JPATH("default-address-pools", "0", "size"), 24);
	assert_jstr(d, JPATH("future-text-option"), "123"); /* quoted: stays text */
	assert_true(cJSON_IsNull(jget(d, JPATH("nothing"))));
	/* everything under log-opts is a string */
	assert_jstr(d, JPATH("log-opts", "max-file"), "3");
	assert_jstr(d, JPATH("log-opts", "compress"), "true");
	cJSON_Delete(d);
	loaded_free(&l);
}

static void test_registries_and_images(void **state)
{
	static const struct test_var env[] = {{"REG_PW", "pw-1"}, {NULL, NULL}};
	const struct bs_image *img;
	struct loaded l;

	(void)state;
	load_text(
		&l,
		"version: 1\n"
		"project: demo\n"
		"nodes:\n"
		"  - name: web\n"
		"    labels: {tier: app}\n"
		"registries:\n"
		"  - server: registry.example.com:5000\n"
		"    username: deploy\n"
		"    password: ${REG_PW}\n"
		"  - server: ghcr.io\n"
		"images:\n"
		"  - name: shop/app:1.4\n"
		"    build:\n"
		"      git: https://git.example.com/shop/app.git#v1.4:docker\n"
		"      dockerfile: Dockerfile.prod\n"
		"      args: {NODE_ENV: production, EMPTY: \"\"}\n"
		"    nodes: [tier=app]\n"
		"  - name: redis:7.2\n"
		"    pull: always\n"
		"  - name: ghcr.io/example/tool@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
		"  - name: git-ssh/app:1\n"
		"    build: git@github.com:example/app.git\n"
		"containers:\n"
		"  - name: app\n"
		"    image: shop/app:1.4\n"
		"  - name: redis\n"
		"    image: redis:7.2\n"
		"  - name: tool\n"
		"    image: ghcr.io/example/tool@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
		"  - name: ssh-built\n"
		"    image: git-ssh/app:1\n",
		env);
	expect_loaded(&l);
	expect_counts(&l.diags, 0, 0);
	assert_int_equal(l.recipe->n_registries, 2);
	assert_string_equal(l.recipe->registries[0].server, "registry.example.com:5000");
	assert_string_equal(l.recipe->registries[0].username, "deploy");
	assert_string_equal(l.recipe->registries[0].password, "pw-1");
	assert_null(l.recipe->registries[1].username);
	assert_null(l.recipe->registries[1].password);
	assert_int_equal(l.recipe->registries[1].loc.line, 10);

	assert_int_equal(l.recipe->n_images, 4);
	img = &l.recipe->images[0];
	assert_string_equal(img->build_git, "https://git.example.com/shop/app.git#v1.4:docker");
	assert_string_equal(img->build_dockerfile, "Dockerfile.prod");
	assert_int_equal(img->build_args.n, 2);
	assert_string_equal(bs_kvlist_find(&img->build_args, "NODE_ENV")->value, "production");
	assert_string_equal(bs_kvlist_find(&img->build_args, "EMPTY")->value, "");
	assert_int_equal(img->nodes.n, 1);
	assert_int_equal(img->pull, BS_PULL_MISSING);
	assert_int_equal(l.recipe->images[1].pull, BS_PULL_ALWAYS);
	assert_null(l.recipe->images[1].build_git);
	assert_string_equal(l.recipe->images[3].build_git, "git@github.com:example/app.git");
	assert_string_equal(bs_pull_policy_name(BS_PULL_ALWAYS), "always");
	assert_string_equal(bs_pull_policy_name(BS_PULL_NEVER), "never");
	loaded_free(&l);
}

static void test_container_fields(void **state)
{
	static const struct test_var env[] = {
		{"FROM_ENV", "env-value"}, {"LISTED", "listed"}, {NULL, NULL}};
	const struct bs_container *c;
	struct loaded l;

	(void)state;
	load_text(&l,
		  "version: 1\n"
		  "project: demo\n"
		  "nodes:\n"
		  "  - name: web\n"
		  "    labels: {role: web}\n"
		  "  - name: db\n"
		  "containers:\n"
		  "  - name: app\n"
		  "    image: registry.example.com/shop/app:1.4\n"
		  "    command: sh -c 'echo hi there' \"a \\\"b\\\"\" c\\ d\n"
		  "    entrypoint: [/bin/tini, --]\n"
		  "    environment:\n"
		  "      PORT: 8080\n"
		  "      EMPTY: \"\"\n"
		  "      FROM_ENV:\n"
		  "      FLAG: true\n"
		  "    labels: {com.example.team: shop}\n"
		  "    user: \"1000:1000\"\n"
		  "    working_dir: /srv/app\n"
		  "    replicas: 0\n"
		  "    nodes: [role=web, db]\n"
		  "    domain: shop.example.com\n"
		  "    expose: 8080\n"
		  "  - name: worker\n"
		  "    image: nginx:1.25\n"
		  "    environment: [MODE=batch, \"EQ=a=b\", LISTED, \"BLANK=\"]\n"
		  "    command: []\n",
		  env);
	expect_loaded(&l);
	expect_counts(&l.diags, 0, 0);
	c = &l.recipe->containers[0];
	assert_int_equal(c->command.n, 5);
	assert_string_equal(c->command.v[0], "sh");
	assert_string_equal(c->command.v[1], "-c");
	assert_string_equal(c->command.v[2], "echo hi there");
	assert_string_equal(c->command.v[3], "a \"b\"");
	assert_string_equal(c->command.v[4], "c d");
	assert_true(c->has_entrypoint);
	assert_int_equal(c->entrypoint.n, 2);
	assert_string_equal(c->entrypoint.v[1], "--");
	assert_int_equal(c->environment.n, 4);
	assert_string_equal(c->environment.v[0].key, "PORT");
	assert_string_equal(c->environment.v[0].value, "8080");
	assert_string_equal(bs_kvlist_find(&c->environment, "EMPTY")->value, "");
	assert_string_equal(bs_kvlist_find(&c->environment, "FROM_ENV")->value, "env-value");
	assert_string_equal(bs_kvlist_find(&c->environment, "FLAG")->value, "true");
	assert_string_equal(bs_kvlist_find(&c->labels, "com.example.team")->value, "shop");
	assert_string_equal(c->user, "1000:1000");
	assert_string_equal(c->working_dir, "/srv/app");
	assert_int_equal(c->replicas, 0);
	assert_int_equal(c->nodes.n, 2);
	assert_string_equal(c->nodes.v[0].key, "role");
	assert_string_equal(c->nodes.v[0].value, "web");
	assert_string_equal(c->nodes.v[1].key, "db");
	assert_null(c->nodes.v[1].value);
	assert_int_equal(c->nodes.v[1].loc.line, 21);
	assert_int_equal(c->nodes.v[1].loc.col, 23);
	assert_string_equal(c->domain, "shop.example.com");
	assert_int_equal(c->domain_loc.line, 22);
	assert_int_equal(c->expose, 8080);
	assert_int_equal(bs_container_web_port(c), 8080);

	c = &l.recipe->containers[1];
	assert_int_equal(c->environment.n, 4);
	assert_string_equal(bs_kvlist_find(&c->environment, "MODE")->value, "batch");
	assert_string_equal(bs_kvlist_find(&c->environment, "EQ")->value, "a=b");
	assert_string_equal(bs_kvlist_find(&c->environment, "LISTED")->value, "listed");
	assert_string_equal(bs_kvlist_find(&c->environment, "BLANK")->value, "");
	assert_true(c->has_command);
	assert_int_equal(c->command.n, 0);
	loaded_free(&l);
}

static void test_ports(void **state)
{
	const struct bs_container *c;
	struct loaded l;

	(void)state;
	load_text(&l,
		  RECIPE_HEAD "    ports:\n"
			      "      - \"80\"\n"
			      "      - 8080:80\n"
			      "      - \"127.0.0.1:5353:53/udp\"\n"
			      "      - \"8000-8001:9000-9001\"\n"
			      "      - \"[::1]:8443:443/tcp\"\n"
			      "      - \"127.0.0.1::9090\"\n"
			      "      - \"7000-7002\"\n",
		  NULL);
	expect_loaded(&l);
	c = &l.recipe->containers[0];
	assert_int_equal(c->n_ports, 7);
	assert_null(c->ports[0].host_ip);
	assert_int_equal(c->ports[0].host_start, 0);
	assert_int_equal(c->ports[0].container_start, 80);
	assert_int_equal(c->ports[0].container_end, 80);
	assert_int_equal(c->ports[0].loc.line, 9);
	assert_int_equal(c->ports[0].loc.col, 9);
	assert_int_equal(c->ports[1].host_start, 8080);
	assert_int_equal(c->ports[1].container_start, 80);
	assert_string_equal(c->ports[2].host_ip, "127.0.0.1");
	assert_int_equal(c->ports[2].proto, BS_PROTO_UDP);
	assert_int_equal(c->ports[2].host_start, 5353);
	assert_int_equal(c->ports[3].host_start, 8000);
	assert_int_equal(c->ports[3].host_end, 8001);
	assert_int_equal(c->ports[3].container_start, 9000);
	assert_int_equal(c->ports[3].container_end, 9001);
	assert_string_equal(c->ports[4].host_ip, "::1");
	assert_int_equal(c->ports[4].host_start, 8443);
	assert_int_equal(c->ports[4].proto, BS_PROTO_TCP);
	assert_string_equal(c->ports[5].host_ip, "127.0.0.1");
	assert_int_equal(c->ports[5].host_start, 0);
	assert_int_equal(c->ports[5].container_start, 9090);
	assert_int_equal(c->ports[6].container_start, 7000);
	assert_int_equal(c->ports[6].container_end, 7002);
	loaded_free(&l);
}

static void test_port_parse_direct(void **state)
{
	static const char *const bad[] = {"",
					  "http",
					  "80/sctp",
					  "0",
					  "65536",
					  "-1",
					  "+80",
					  "8080:",
					  "8080:80:90:100",
					  "300.1.2.3:80:80",
					  "[::1:80:80",
					  "[zz]:1:2",
					  "[::1]:80",
					  "81-80",
					  "8000-8002:80-81",
					  "a:80",
					  "1.2.3.4:a:80",
					  "80/",
					  "80-",
					  "-80",
					  "12345678901234567890"};
	struct bs_port p;
	size_t i;

	(void)state;
	assert_null(bs_port_parse("65535:1/udp", &p));
	assert_int_equal(p.host_start, 65535);
	assert_int_equal(p.container_start, 1);
	assert_int_equal(p.proto, BS_PROTO_UDP);
	assert_null(p.host_ip);
	assert_null(bs_port_parse("0.0.0.0:80:80", &p));
	assert_string_equal(p.host_ip, "0.0.0.0");
	free(p.host_ip);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *problem = bs_port_parse(bad[i], &p);

		if (problem == NULL)
			fail_msg("'%s' should be rejected", bad[i]);
		free(p.host_ip);
	}
	assert_string_equal(bs_port_parse("70000:80", &p),
			    "ports are 1 to 65535 (ranges low-high)");
	free(p.host_ip);
	assert_string_equal(bs_port_parse("80/sctp", &p), "the protocol after '/' is tcp or udp");
	free(p.host_ip);
}

static void test_volumes(void **state)
{
	const struct bs_container *c;
	struct loaded l;

	(void)state;
	load_text(&l,
		  RECIPE_HEAD "    volumes:\n"
			      "      - data:/var/lib/data\n"
			      "      - /srv/conf:/etc/app:ro\n"
			      "      - /srv/logs:/var/log/app:rw\n"
			      "      - /cache\n"
			      "      - my_vol.2:/v2\n",
		  NULL);
	expect_loaded(&l);
	c = &l.recipe->containers[0];
	assert_int_equal(c->n_volumes, 5);
	assert_int_equal(c->volumes[0].type, BS_MOUNT_VOLUME);
	assert_string_equal(c->volumes[0].source, "data");
	assert_string_equal(c->volumes[0].target, "/var/lib/data");
	assert_false(c->volumes[0].read_only);
	assert_int_equal(c->volumes[1].type, BS_MOUNT_BIND);
	assert_string_equal(c->volumes[1].source, "/srv/conf");
	assert_true(c->volumes[1].read_only);
	assert_false(c->volumes[2].read_only);
	assert_int_equal(c->volumes[3].type, BS_MOUNT_ANONYMOUS);
	assert_null(c->volumes[3].source);
	assert_string_equal(c->volumes[3].target, "/cache");
	assert_int_equal(c->volumes[4].type, BS_MOUNT_VOLUME);
	assert_int_equal(c->volumes[4].loc.line, 13);
	loaded_free(&l);
}

static void test_restart_policies(void **state)
{
	static const char *const policies[] = {"no", "always", "on-failure", "unless-stopped"};
	struct loaded l;
	char text[512];
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		snprintf(text, sizeof(text), "%s    restart: \"%s\"\n", RECIPE_HEAD, policies[i]);
		load_text(&l, text, NULL);
		expect_loaded(&l);
		assert_int_equal(l.recipe->containers[0].restart, (int)i);
		assert_string_equal(bs_restart_policy_name(l.recipe->containers[0].restart),
				    policies[i]);
		loaded_free(&l);
	}
	load_text(&l, RECIPE_HEAD "    restart: on-failure:5\n", NULL);
	expect_loaded(&l);
	assert_int_equal(l.recipe->containers[0].restart, BS_RESTART_ON_FAILURE);
	assert_int_equal(l.recipe->containers[0].restart_max_retries, 5);
	loaded_free(&l);
}

static void test_healthchecks(void **state)
{
	const struct bs_healthcheck *h;
	struct loaded l;

	(void)state;
	load_text(
		&l,
		"version: 1\n"
		"project: demo\n"
		"nodes: [{name: web}]\n"
		"containers:\n"
		"  - name: shell\n"
		"    image: nginx:1.25\n"
		"    healthcheck:\n"
		"      test: wget -qO- http://127.0.0.1/ >/dev/null\n"
		"      interval: 1m30s\n"
		"      timeout: 250ms\n"
		"      start_period: 0s\n"
		"      retries: 5\n"
		"  - name: none\n"
		"    image: nginx:1.25\n"
		"    healthcheck: {test: [NONE]}\n"
		"  - name: off\n"
		"    image: nginx:1.25\n"
		"    healthcheck: {disable: true}\n"
		"  - name: cmdshell\n"
		"    image: nginx:1.25\n"
		"    healthcheck: {test: [CMD-SHELL, \"curl -f http://x/\"], interval: 45, timeout: 2.5s}\n",
		NULL);
	expect_loaded(&l);
	h = &l.recipe->containers[0].healthcheck;
	assert_true(h->present);
	assert_false(h->disable);
	assert_int_equal(h->test.n, 2);
	assert_string_equal(h->test.v[0], "CMD-SHELL");
	assert_string_equal(h->test.v[1], "wget -qO- http://127.0.0.1/ >/dev/null");
	assert_int_equal(h->interval_ms, 90000);
	assert_int_equal(h->timeout_ms, 250);
	assert_int_equal(h->start_period_ms, 0);
	assert_int_equal(h->retries, 5);
	assert_true(l.recipe->containers[1].healthcheck.disable);
	assert_true(l.recipe->containers[2].healthcheck.disable);
	assert_true(l.recipe->containers[2].healthcheck.present);
	h = &l.recipe->containers[3].healthcheck;
	assert_string_equal(h->test.v[0], "CMD-SHELL");
	assert_int_equal(h->interval_ms, 45000);
	assert_int_equal(h->timeout_ms, 2500);
	loaded_free(&l);
}

static void test_resources(void **state)
{
	const struct bs_container *c;
	struct loaded l;

	(void)state;
	load_text(&l,
		  "version: 1\n"
		  "project: demo\n"
		  "nodes: [{name: web}]\n"
		  "containers:\n"
		  "  - name: a\n"
		  "    image: nginx:1.25\n"
		  "    resources: {memory: 1g, cpus: 2, pids: -1}\n"
		  "  - name: b\n"
		  "    image: nginx:1.25\n"
		  "    resources: {memory: 6m, cpus: .25}\n"
		  "  - name: c\n"
		  "    image: nginx:1.25\n"
		  "    resources: {memory: 512MiB, cpus: 1024, pids: 4194304}\n"
		  "  - name: d\n"
		  "    image: nginx:1.25\n"
		  "    resources: {cpus: 0.01}\n",
		  NULL);
	expect_loaded(&l);
	c = l.recipe->containers;
	assert_true(c[0].resources.memory_bytes == INT64_C(1) << 30);
	assert_true(c[0].resources.nano_cpus == INT64_C(2000000000));
	assert_int_equal(c[0].resources.pids, -1);
	assert_int_equal(c[1].resources.memory_bytes, 6 * 1024 * 1024);
	assert_int_equal(c[1].resources.nano_cpus, 250000000);
	assert_int_equal(c[1].resources.pids, 0);
	assert_int_equal(c[2].resources.memory_bytes, 512 * 1024 * 1024);
	assert_true(c[2].resources.nano_cpus == INT64_C(1024000000000));
	assert_int_equal(c[2].resources.pids, 4194304);
	assert_int_equal(c[3].resources.nano_cpus, 10000000);
	loaded_free(&l);
}

/* compose's service keys, in their short and long forms. */
static void test_service_keys(void **state)
{
	const struct bs_container *c;
	struct loaded l;
	cJSON *json;

	(void)state;
	load_text(
		&l,
		"version: 1\n"
		"project: demo\n"
		"nodes: [{name: web}]\n"
		"containers:\n"
		"  - name: a\n"
		"    image: nginx:1.25\n"
		"    volumes: [data:/data]\n"
		"    cap_add: [net_admin, CAP_SYS_PTRACE, Cap_Chown]\n"
		"    cap_drop: [ALL]\n"
		"    read_only: true\n"
		"    tmpfs: [\"/run:size=64m,mode=1777,noexec\", /tmp, \"/x:size=10%\"]\n"
		"    ulimits: {nproc: 512, nofile: {soft: 1024, hard: 2048}, "
		"memlock: {soft: -1, hard: -1}}\n"
		"    extra_hosts: [\"db:10.0.0.5\", \"v6=[::1]\", \"v6b:::2\", \"gw:host-gateway\"]\n"
		"    logging: {driver: syslog, options: {tag: web, syslog-facility: daemon}}\n"
		"  - name: b\n"
		"    image: nginx:1.25\n"
		"    tmpfs: /run\n"
		"    extra_hosts: {db: 10.0.0.7}\n"
		"    logging: {options: {max-size: 1m}}\n"
		"  - name: c\n"
		"    image: nginx:1.25\n",
		NULL);
	expect_loaded(&l);
	c = l.recipe->containers;
	assert_int_equal(c[0].cap_add.n, 3);
	assert_string_equal(c[0].cap_add.v[0], "NET_ADMIN");
	assert_string_equal(c[0].cap_add.v[1], "SYS_PTRACE");
	assert_string_equal(c[0].cap_add.v[2], "CHOWN");
	assert_string_equal(c[0].cap_drop.v[0], "ALL");
	assert_true(c[0].read_only);
	assert_int_equal(c[0].n_volumes, 4); /* the volume, then the three tmpfs */
	assert_int_equal(c[0].volumes[0].type, BS_MOUNT_VOLUME);
	assert_int_equal(c[0].volumes[1].type, BS_MOUNT_TMPFS);
	assert_string_equal(c[0].volumes[1].target, "/run");
	assert_null(c[0].volumes[1].source);
	assert_string_equal(c[0].volumes[1].tmpfs_options, "size=64m,mode=1777,noexec");
	assert_int_equal(c[0].volumes[1].tmpfs_size, 64 * 1024 * 1024);
	assert_int_equal(c[0].volumes[1].tmpfs_mode, 01777);
	assert_string_equal(c[0].volumes[2].target, "/tmp");
	assert_string_equal(c[0].volumes[2].tmpfs_options, "");
	assert_int_equal(c[0].volumes[2].tmpfs_size, 0);
	assert_string_equal(c[0].volumes[3].tmpfs_options, "size=10%");
	assert_int_equal(c[0].n_ulimits, 3);
	assert_string_equal(c[0].ulimits[0].name, "nproc");
	assert_int_equal(c[0].ulimits[0].soft, 512);
	assert_int_equal(c[0].ulimits[0].hard, 512);
	assert_string_equal(c[0].ulimits[1].name, "nofile");
	assert_int_equal(c[0].ulimits[1].soft, 1024);
	assert_int_equal(c[0].ulimits[1].hard, 2048);
	assert_int_equal(c[0].ulimits[2].soft, -1);
	assert_int_equal(c[0].extra_hosts.n, 4);
	assert_string_equal(c[0].extra_hosts.v[0].key, "db");
	assert_string_equal(c[0].extra_hosts.v[0].value, "10.0.0.5");
	assert_string_equal(c[0].extra_hosts.v[1].key, "v6");
	assert_string_equal(c[0].extra_hosts.v[1].value, "::1");
	assert_string_equal(c[0].extra_hosts.v[2].key, "v6b");
	assert_string_equal(c[0].extra_hosts.v[2].value, "::2");
	assert_string_equal(c[0].extra_hosts.v[3].value, "host-gateway");
	assert_string_equal(c[0].logging.driver, "syslog");
	assert_string_equal(bs_kvlist_find(&c[0].logging.options, "tag")->value, "web");
	assert_int_equal(c[1].n_volumes, 1);
	assert_string_equal(c[1].volumes[0].target, "/run");
	assert_string_equal(c[1].extra_hosts.v[0].value, "10.0.0.7");
	assert_null(c[1].logging.driver);
	assert_int_equal(c[1].logging.options.n, 1);
	assert_int_equal(c[2].cap_add.n, 0);
	assert_false(c[2].read_only);
	assert_int_equal(c[2].n_ulimits, 0);
	assert_int_equal(c[2].n_volumes, 0);
	assert_null(c[2].logging.driver);
	json = json_of(l.recipe);
	assert_jstr(json, JPATH("containers", "0", "cap_add", "1"), "SYS_PTRACE");
	assert_true(cJSON_IsTrue(jget(json, JPATH("containers", "0", "read_only"))));
	assert_jstr(json, JPATH("containers", "0", "volumes", "1", "type"), "tmpfs");
	assert_jstr(json, JPATH("containers", "0", "volumes", "1", "tmpfs_options"),
		    "size=64m,mode=1777,noexec");
	assert_jstr(json, JPATH("containers", "0", "volumes", "1", "tmpfs_mode"), "1777");
	assert_jnum(json, JPATH("containers", "0", "ulimits", "nofile", "hard"), 2048);
	assert_jstr(json, JPATH("containers", "0", "extra_hosts", "1"), "v6:::1");
	assert_jstr(json, JPATH("containers", "0", "logging", "driver"), "syslog");
	assert_jstr(json, JPATH("containers", "0", "logging", "options", "tag"), "web");
	assert_true(cJSON_IsNull(jget(json, JPATH("containers", "2", "logging"))));
	assert_int_equal(cJSON_GetArraySize(jget(json, JPATH("containers", "2", "cap_add"))), 0);
	cJSON_Delete(json);
	loaded_free(&l);
}

static void test_anchors_and_extension_keys(void **state)
{
	struct loaded l;

	(void)state;
	/* x- keys hold anchors; they are neither checked nor interpolated */
	load_text(&l,
		  "version: 1\n"
		  "project: demo\n"
		  "x-unused: ${NOT_SET_ANYWHERE}\n"
		  "x-service: &service\n"
		  "  restart: always\n"
		  "  resources: {memory: 256m}\n"
		  "  environment: {MODE: production}\n"
		  "nodes:\n"
		  "  - name: web\n"
		  "containers:\n"
		  "  - <<: *service\n"
		  "    name: one\n"
		  "    image: nginx:1.25\n"
		  "  - <<: *service\n"
		  "    name: two\n"
		  "    image: nginx:1.25\n"
		  "    restart: \"no\"\n",
		  NULL);
	expect_loaded(&l);
	expect_counts(&l.diags, 0, 0);
	assert_int_equal(l.recipe->containers[0].restart, BS_RESTART_ALWAYS);
	assert_int_equal(l.recipe->containers[0].resources.memory_bytes, 256 * 1024 * 1024);
	assert_string_equal(bs_kvlist_find(&l.recipe->containers[1].environment, "MODE")->value,
			    "production");
	assert_int_equal(l.recipe->containers[1].restart, BS_RESTART_NO);
	loaded_free(&l);
}

static void test_interpolated_values(void **state)
{
	static const struct test_var env[] = {{"PROJECT", "shop"}, {"REPLICAS", "3"},
					      {"PRUNE", "true"},   {"TAG", "1.25"},
					      {"PORT", "8080"},	   {NULL, NULL}};
	struct loaded l;

	(void)state;
	load_text(
		&l,
		"version: 1\n"
		"project: ${PROJECT}\n"
		"nodes:\n"
		"  - name: web\n"
		"    count: ${REPLICAS}\n"
		"containers:\n"
		"  - name: app\n"
		"    image: nginx:${TAG}\n"
		"    replicas: $REPLICAS\n"
		"    ports: [\"${PORT}:80\"]\n"
		"    environment: {PRICE: 5$$, HOME_DIR: \"$${HOME}\", LEVEL: \"${LEVEL:-info}\"}\n"
		"prune: ${PRUNE}\n",
		env);
	expect_loaded(&l);
	assert_string_equal(l.recipe->project, "shop");
	assert_int_equal(l.recipe->n_nodes, 3);
	assert_string_equal(l.recipe->containers[0].image, "nginx:1.25");
	assert_int_equal(l.recipe->containers[0].replicas, 3);
	assert_int_equal(l.recipe->containers[0].ports[0].host_start, 8080);
	assert_string_equal(bs_kvlist_find(&l.recipe->containers[0].environment, "PRICE")->value,
			    "5$");
	assert_string_equal(bs_kvlist_find(&l.recipe->containers[0].environment, "HOME_DIR")->value,
			    "${HOME}");
	assert_string_equal(bs_kvlist_find(&l.recipe->containers[0].environment, "LEVEL")->value,
			    "info");
	assert_true(l.recipe->prune);
	assert_int_equal(l.recipe->secrets.n, 0);
	loaded_free(&l);
}

/* ---- selectors --------------------------------------------------------- */

static void test_selector_matches(void **state)
{
	struct bs_node node;
	struct bs_selector by_name = {(char *)"web-2", NULL, {1, 1, NULL}};
	struct bs_selector by_group = {(char *)"web", NULL, {1, 1, NULL}};
	struct bs_selector other = {(char *)"web-1", NULL, {1, 1, NULL}};
	struct bs_selector by_label = {(char *)"role", (char *)"front", {1, 1, NULL}};
	struct bs_selector wrong_value = {(char *)"role", (char *)"back", {1, 1, NULL}};
	struct bs_selector no_label = {(char *)"tier", (char *)"front", {1, 1, NULL}};
	struct bs_selector empty_value = {(char *)"empty", (char *)"", {1, 1, NULL}};

	(void)state;
	memset(&node, 0, sizeof(node));
	node.name = (char *)"web-2";
	node.group = (char *)"web";
	node.index = 2;
	bs_kvlist_push(&node.labels, "role", "front", false);
	bs_kvlist_push(&node.labels, "empty", "", false);
	assert_true(bs_selector_matches(&by_name, &node));
	assert_true(bs_selector_matches(&by_group, &node));
	assert_false(bs_selector_matches(&other, &node));
	assert_true(bs_selector_matches(&by_label, &node));
	assert_false(bs_selector_matches(&wrong_value, &node));
	assert_false(bs_selector_matches(&no_label, &node));
	assert_true(bs_selector_matches(&empty_value, &node));
	/* a name selector never matches a label key */
	by_name.key = (char *)"role";
	assert_false(bs_selector_matches(&by_name, &node));
	bs_kvlist_free(&node.labels);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_examples_load),
		cmocka_unit_test(test_local_example),
		cmocka_unit_test(test_local_example_env_override),
		cmocka_unit_test(test_local_example_json),
		cmocka_unit_test(test_load_missing_file),
		cmocka_unit_test(test_load_directory),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_provider_init),
		cmocka_unit_test(test_minimal_json),
		cmocka_unit_test(test_cluster_network_json),
		cmocka_unit_test(test_node_expansion),
		cmocka_unit_test(test_providers),
		cmocka_unit_test(test_ssh_section),
		cmocka_unit_test(test_docker_section),
		cmocka_unit_test(test_registries_and_images),
		cmocka_unit_test(test_container_fields),
		cmocka_unit_test(test_ports),
		cmocka_unit_test(test_port_parse_direct),
		cmocka_unit_test(test_volumes),
		cmocka_unit_test(test_restart_policies),
		cmocka_unit_test(test_healthchecks),
		cmocka_unit_test(test_resources),
		cmocka_unit_test(test_service_keys),
		cmocka_unit_test(test_anchors_and_extension_keys),
		cmocka_unit_test(test_interpolated_values),
		cmocka_unit_test(test_selector_matches),
	};

	return cmocka_run_group_tests_name("deploy/recipe", tests, NULL, NULL);
}
