/*
 * Unit tests for deploy/spec.c (the canonical spec, its hash, the diff for
 * people, the image digest recorded) and bs_placement (which replicas run
 * where).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/converge.h"
#include "deploy/spec.h"
#include "tests/unit/helpers.h"

static const struct test_var env[] = {{"TOKEN", "s3cr3t-value"}, {NULL, NULL}};

#define HEAD                                                                                       \
	"version: 1\nproject: shop\nprovider: {type: static}\nnodes:\n"                            \
	"  - {name: a, address: 127.0.0.1, labels: {role: web}}\n"                                 \
	"  - {name: b, address: 127.0.0.2, labels: {role: web}}\n"                                 \
	"  - {name: c, address: 127.0.0.3, labels: {role: db}}\n"

static char *spec_of(const char *containers, const struct bs_container **c, struct loaded *l)
{
	char *text = bs_xasprintf(HEAD "containers:\n%s", containers);

	load_text(l, text, env);
	free(text);
	assert_non_null(l->recipe);
	*c = &l->recipe->containers[0];
	return bs_spec_json(l->recipe, *c);
}

/* The same declaration written differently gives the same bytes. */
static void test_canonical(void **state)
{
	struct loaded a, b;
	const struct bs_container *ca, *cb;
	char *sa, *sb;

	(void)state;
	sa = spec_of("  - name: web\n    image: nginx:1.25\n    environment: {B: \"2\", A: \"1\"}\n"
		     "    labels: {z: 1, a: 2}\n    replicas: 1\n",
		     &ca, &a);
	sb = spec_of("  - name: web\n    environment:\n      A: \"1\"\n      B: \"2\"\n"
		     "    image: nginx:1.25\n    replicas: 3\n    labels: {a: 2, z: 1}\n",
		     &cb, &b);
	assert_string_equal(sa, sb); /* key order and replicas do not matter */
	assert_non_null(strstr(sa, "\"environment\":{\"A\":\"1\",\"B\":\"2\"}"));
	free(sa);
	free(sb);
	loaded_free(&a);
	loaded_free(&b);
}

/* Restart policy and resources are updated in place: not in the spec. */
static void test_inplace_fields_excluded(void **state)
{
	struct loaded a, b;
	const struct bs_container *ca, *cb;
	char *sa, *sb;

	(void)state;
	sa = spec_of("  - {name: web, image: nginx:1.25, restart: always, "
		     "resources: {memory: 64m, cpus: 0.5}}\n",
		     &ca, &a);
	sb = spec_of("  - {name: web, image: nginx:1.25, restart: \"no\", "
		     "resources: {memory: 128m, pids: 10}}\n",
		     &cb, &b);
	assert_string_equal(sa, sb);
	free(sa);
	free(sb);
	loaded_free(&a);
	loaded_free(&b);
}

/* How bootstrap acts (stop_timeout, update) is not in the spec; the
 * default network is absent from it (specs made before the key existed
 * keep their hash), another network is in it. */
static void test_behaviour_and_network(void **state)
{
	struct loaded a, b, c, d;
	const struct bs_container *ca, *cb, *cc, *cd;
	char *sa, *sb, *sc, *sd;

	(void)state;
	sa = spec_of("  - {name: web, image: nginx:1.25}\n", &ca, &a);
	sb = spec_of("  - {name: web, image: nginx:1.25, stop_timeout: 0s, network: project, "
		     "update: {order: stop-first, monitor: 5s, timeout: 90s, failure_logs: 0}}\n",
		     &cb, &b);
	sc = spec_of("  - {name: web, image: nginx:1.25, network: bridge}\n", &cc, &c);
	sd = spec_of("  - {name: web, image: nginx:1.25, network: none}\n", &cd, &d);
	assert_string_equal(sa, sb);
	assert_null(strstr(sa, "network"));
	assert_non_null(strstr(sc, "\"network\":\"bridge\""));
	assert_string_not_equal(sc, sd);
	assert_int_equal(cb->stop_timeout_ms, 0);
	assert_int_equal(ca->stop_timeout_ms, 10000);
	assert_int_equal(cb->update.order, BS_ORDER_STOP_FIRST);
	assert_int_equal(cb->update.monitor_ms, 5000);
	assert_int_equal(ca->update.monitor_ms, 1000);
	/* how a failed rollout waits and what it shows: behaviour, not spec */
	assert_int_equal(cb->update.timeout_ms, 90000);
	assert_int_equal(cb->update.failure_logs, 0);
	assert_int_equal(ca->update.timeout_ms, 0);
	assert_int_equal(ca->update.failure_logs, 20);
	free(sa);
	free(sb);
	free(sc);
	free(sd);
	loaded_free(&a);
	loaded_free(&b);
	loaded_free(&c);
	loaded_free(&d);
}

/* A secret changes the spec, but its value is never in it. */
static void test_secret_hashed(void **state)
{
	struct loaded a;
	const struct bs_container *c;
	char *s;

	(void)state;
	s = spec_of("  - name: web\n    image: nginx:1.25\n    secrets: {API_TOKEN: \"${TOKEN}\"}\n"
		    "    environment: {DERIVED: \"x-${TOKEN}\"}\n",
		    &c, &a);
	assert_null(strstr(s, "s3cr3t"));
	assert_non_null(strstr(s, "\"API_TOKEN\":\"secret:"));
	assert_non_null(strstr(s, "\"DERIVED\":\"secret:"));
	free(s);
	loaded_free(&a);
}

static void test_hash(void **state)
{
	char *h1 = bs_spec_hash("{\"image\":\"x\"}", "sha256:aa");
	char *h2 = bs_spec_hash("{\"image\":\"x\"}", "sha256:aa");
	char *h3 = bs_spec_hash("{\"image\":\"x\"}", "sha256:bb");
	char *h4 = bs_spec_hash("{\"image\":\"y\"}", "sha256:aa");

	(void)state;
	assert_int_equal(strlen(h1), 64);
	assert_string_equal(h1, h2);
	assert_string_not_equal(h1, h3); /* a new image ID is a new container */
	assert_string_not_equal(h1, h4);
	free(h1);
	free(h2);
	free(h3);
	free(h4);
}

static void test_diff(void **state)
{
	char *d;

	(void)state;
	assert_null(bs_spec_diff("{\"a\":1}", "{\"a\":1}"));
	d = bs_spec_diff("{\"image\":\"x:1\",\"environment\":{\"MODE\":\"dev\",\"OLD\":\"1\"}}",
			 "{\"image\":\"x:2\",\"environment\":{\"MODE\":\"prod\",\"NEW\":\"2\"}}");
	assert_string_equal(d, "image: x:1 -> x:2; environment.MODE: dev -> prod; "
			       "environment.OLD: 1 -> (none); environment.NEW: (none) -> 2");
	free(d);
	d = bs_spec_diff("{\"secrets\":{\"K\":\"secret:aa\"}}",
			 "{\"secrets\":{\"K\":\"secret:bb\"}}");
	assert_string_equal(d, "secrets.K changed");
	free(d);
	d = bs_spec_diff(NULL, "{\"a\":1}");
	assert_non_null(strstr(d, "without a readable io.bootstrap.spec label"));
	free(d);
	d = bs_spec_diff("{\"ports\":[\"80/tcp\"]}", "{\"ports\":[\"81/tcp\"]}");
	assert_string_equal(d, "ports: [\"80/tcp\"] -> [\"81/tcp\"]");
	free(d);
}

/* Replica r runs on the ((r-1) mod N)th selected node. */
/* compose's keys: absent when not declared (older hashes hold), written
 * canonically when they are, and each change changes the hash and shows
 * in the diff; bs_task_fill hands exactly them to the driver. */
#define KEYS_BASE "  - name: web\n    image: nginx:1.25\n"
#define KEYS_ALL                                                                                   \
	KEYS_BASE "    cap_add: [net_admin, CAP_SYS_PTRACE]\n    cap_drop: [ALL]\n"                \
		  "    read_only: true\n    tmpfs: [\"/run:size=64m,mode=1777\", /tmp]\n"          \
		  "    ulimits: {nproc: 512, nofile: {soft: 1024, hard: 2048}}\n"                  \
		  "    extra_hosts: [\"db:10.0.0.5\", \"v6=[::1]\"]\n"                             \
		  "    logging: {driver: json-file, options: {max-size: 1m, max-file: 2}}\n"

static void test_service_keys(void **state)
{
	static const struct {
		const char *from, *to, *diff;
	} changes[] = {
		{"net_admin, CAP_SYS_PTRACE", "net_admin",
		 "cap_add: [\"NET_ADMIN\",\"SYS_PTRACE\"] -> [\"NET_ADMIN\"]"},
		{"cap_drop: [ALL]", "cap_drop: [MKNOD]", "cap_drop: [\"ALL\"] -> [\"MKNOD\"]"},
		{"read_only: true", "read_only: false", "read_only: true -> (none)"},
		{"size=64m", "size=32m", "volumes:"},
		{"nproc: 512", "nproc: 513", "ulimits.nproc: 512:512 -> 513:513"},
		{"10.0.0.5", "10.0.0.6", "extra_hosts:"},
		{"max-size: 1m", "max-size: 2m",
		 "logging.options: {\"max-file\":\"2\",\"max-size\":\"1m\"} -> {\"max-file\":\"2\",\"max-size\":\"2m\"}"},
		{"driver: json-file", "driver: local", "logging.driver: json-file -> local"},
	};
	struct loaded a, b, plain;
	const struct bs_container *ca, *cb, *cp;
	struct bs_task_store st;
	char *sa, *sb, *sp, *ha, *hb, *diff;
	size_t i;

	(void)state;
	sp = spec_of(KEYS_BASE, &cp, &plain);
	sa = spec_of(KEYS_ALL, &ca, &a);
	assert_null(strstr(sp, "cap_add"));
	assert_null(strstr(sp, "read_only"));
	assert_null(strstr(sp, "ulimits"));
	assert_null(strstr(sp, "logging"));
	assert_null(strstr(sp, "extra_hosts"));
	assert_non_null(
		strstr(sa, "\"cap_add\":[\"NET_ADMIN\",\"SYS_PTRACE\"],\"cap_drop\":[\"ALL\"]"));
	assert_non_null(strstr(sa, "\"read_only\":true"));
	assert_non_null(strstr(sa, "\"ulimits\":{\"nofile\":\"1024:2048\",\"nproc\":\"512:512\"}"));
	assert_non_null(strstr(sa, "\"extra_hosts\":[\"db:10.0.0.5\",\"v6:::1\"]"));
	assert_non_null(
		strstr(sa, "\"logging\":{\"driver\":\"json-file\",\"options\":{\"max-file\":\"2\","
			   "\"max-size\":\"1m\"}}"));
	assert_non_null(strstr(sa, "\"tmpfs::/run:size=64m,mode=1777\",\"tmpfs::/tmp\""));
	ha = bs_spec_hash(sa, "sha256:1");
	for (i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
		char *text = bs_xstrdup(KEYS_ALL), *at = strstr(text, changes[i].from);
		char *changed;

		assert_non_null(at);
		*at = '\0';
		changed = bs_xasprintf("%s%s%s", text, changes[i].to, at + strlen(changes[i].from));
		sb = spec_of(changed, &cb, &b);
		hb = bs_spec_hash(sb, "sha256:1");
		assert_string_not_equal(ha, hb);
		diff = bs_spec_diff(sa, sb);
		assert_non_null(diff);
		if (strstr(diff, changes[i].diff) == NULL)
			fail_msg("change %zu: diff '%s' lacks '%s'", i, diff, changes[i].diff);
		free(diff);
		free(hb);
		free(sb);
		free(changed);
		free(text);
		loaded_free(&b);
	}
	free(ha);

	bs_task_fill(a.recipe, ca, &st);
	assert_string_equal(st.spec.cap_add[0], "NET_ADMIN");
	assert_string_equal(st.spec.cap_add[1], "SYS_PTRACE");
	assert_null(st.spec.cap_add[2]);
	assert_string_equal(st.spec.cap_drop[0], "ALL");
	assert_true(st.spec.read_only_rootfs);
	assert_int_equal(st.spec.n_ulimits, 2);
	assert_string_equal(st.spec.ulimits[1].name, "nofile");
	assert_int_equal(st.spec.ulimits[1].soft, 1024);
	assert_int_equal(st.spec.ulimits[1].hard, 2048);
	assert_string_equal(st.spec.extra_hosts[1], "v6:::1");
	assert_null(st.spec.extra_hosts[2]);
	assert_string_equal(st.spec.log_driver, "json-file");
	assert_int_equal(st.spec.log_options->n, 2);
	assert_int_equal(st.spec.n_mounts, 2);
	assert_string_equal(st.spec.mounts[0].type, "tmpfs");
	assert_string_equal(st.spec.mounts[0].tmpfs_options, "size=64m,mode=1777");
	assert_int_equal(st.spec.mounts[0].tmpfs_size, 64 * 1024 * 1024);
	assert_int_equal(st.spec.mounts[0].tmpfs_mode, 01777);
	assert_string_equal(st.spec.mounts[1].tmpfs_options, "");
	bs_task_store_free(&st);
	/* nothing declared: nothing handed over */
	bs_task_fill(plain.recipe, cp, &st);
	assert_null(st.spec.cap_add);
	assert_null(st.spec.cap_drop);
	assert_false(st.spec.read_only_rootfs);
	assert_int_equal(st.spec.n_ulimits, 0);
	assert_null(st.spec.extra_hosts);
	assert_null(st.spec.exposed);
	assert_null(st.spec.log_driver);
	assert_null(st.spec.log_options);
	bs_task_store_free(&st);
	free(sa);
	free(sp);
	loaded_free(&a);
	loaded_free(&plain);
}

/* compose's expose: (the loader fills c->exposed): in the spec and the
 * driver's ExposedPorts, ranges spread. */
static void test_exposed_ports(void **state)
{
	struct loaded a;
	const struct bs_container *ca;
	struct bs_container *c;
	struct bs_task_store st;
	char *before, *after;

	(void)state;
	before = spec_of(KEYS_BASE, &ca, &a);
	c = &a.recipe->containers[0];
	c->exposed = bs_xcalloc(2, sizeof(*c->exposed));
	c->exposed[0].container_start = c->exposed[0].container_end = 9000;
	c->exposed[1].container_start = 53;
	c->exposed[1].container_end = 54;
	c->exposed[1].proto = BS_PROTO_UDP;
	c->n_exposed = 2;
	after = bs_spec_json(a.recipe, c);
	assert_non_null(strstr(after, "\"exposed\":[\"9000/tcp\",\"53/udp\",\"54/udp\"]"));
	assert_string_not_equal(before, after);
	bs_task_fill(a.recipe, c, &st);
	assert_string_equal(st.spec.exposed[0], "9000/tcp");
	assert_string_equal(st.spec.exposed[2], "54/udp");
	assert_null(st.spec.exposed[3]);
	bs_task_store_free(&st);
	free(before);
	free(after);
	loaded_free(&a);
}

static void test_placement(void **state)
{
	struct loaded l;
	const struct bs_container *c;
	int *reps;
	size_t n;
	char *s;

	(void)state;
	s = spec_of("  - {name: web, image: nginx:1.25, replicas: 5, nodes: [role=web]}\n", &c, &l);
	free(s);
	n = bs_placement(l.recipe, c, &l.recipe->nodes[0], &reps);
	assert_int_equal(n, 3);
	assert_int_equal(reps[0], 1);
	assert_int_equal(reps[1], 3);
	assert_int_equal(reps[2], 5);
	free(reps);
	n = bs_placement(l.recipe, c, &l.recipe->nodes[1], &reps);
	assert_int_equal(n, 2);
	assert_int_equal(reps[0], 2);
	assert_int_equal(reps[1], 4);
	free(reps);
	n = bs_placement(l.recipe, c, &l.recipe->nodes[2], &reps); /* role=db: none */
	assert_int_equal(n, 0);
	assert_null(reps);
	loaded_free(&l);
}

static void test_names(void **state)
{
	char *a = bs_instance_name("shop", "web", 2), *b = bs_volume_name("shop", "data");
	char *c = bs_network_name("shop");

	(void)state;
	assert_string_equal(a, "shop-web-2");
	assert_string_equal(b, "shop-data");
	assert_string_equal(c, "shop-net");
	free(a);
	free(b);
	free(c);
}

#define INDEX "sha256:ee0a58d60a92e6fcc72b7ff7c1ca5dfced088c9e136f0dd51fbea6dd718ba729"
#define PLATFORM "sha256:375050ad60233b386389f3d457a97ffab984a498e06fb35e0f6349d091a95ec0"

/* The digest recorded for an image: its repository's, and among several
 * for one repository (a multi-platform tag's index and the platform's
 * manifest, say) the one the registry serves for the tag. */
static void test_repo_digest(void **state)
{
	struct bs_strv d = BS_STRV_INIT;
	char *got;

	(void)state;
	bs_strv_push(&d, "127.0.0.1:5000/other@" INDEX);
	assert_null(bs_image_repo_digest("127.0.0.1:5000/multi:1", &d, NULL));
	/* the registry's port is not a tag; a repository that only starts
	 * like ours is not ours */
	bs_strv_push(&d, "127.0.0.1:5000/multi-x@" INDEX);
	bs_strv_push(&d, "127.0.0.1:5000/multi@" PLATFORM);
	bs_strv_push(&d, "127.0.0.1:5000/multi@" INDEX);
	got = bs_image_repo_digest("127.0.0.1:5000/multi:1", &d, NULL);
	assert_string_equal(got, "127.0.0.1:5000/multi@" PLATFORM); /* nothing known: the first */
	free(got);
	got = bs_image_repo_digest("127.0.0.1:5000/multi:1", &d, INDEX);
	assert_string_equal(got, "127.0.0.1:5000/multi@" INDEX);
	free(got);
	got = bs_image_repo_digest("127.0.0.1:5000/multi", &d, INDEX); /* no tag */
	assert_string_equal(got, "127.0.0.1:5000/multi@" INDEX);
	free(got);
	got = bs_image_repo_digest("127.0.0.1:5000/multi@" PLATFORM, &d, NULL);
	assert_string_equal(got, "127.0.0.1:5000/multi@" PLATFORM);
	free(got);
	/* served but not among them (the registry has a newer index) */
	got = bs_image_repo_digest("127.0.0.1:5000/multi:1", &d, "sha256:0123");
	assert_string_equal(got, "127.0.0.1:5000/multi@" PLATFORM);
	free(got);
	bs_strv_free(&d);
	bs_strv_push(&d, "nginx@" INDEX);
	got = bs_image_repo_digest("nginx:1.25", &d, INDEX);
	assert_string_equal(got, "nginx@" INDEX);
	free(got);
	bs_strv_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canonical),
		cmocka_unit_test(test_inplace_fields_excluded),
		cmocka_unit_test(test_behaviour_and_network),
		cmocka_unit_test(test_secret_hashed),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_diff),
		cmocka_unit_test(test_service_keys),
		cmocka_unit_test(test_exposed_ports),
		cmocka_unit_test(test_placement),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_repo_digest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
