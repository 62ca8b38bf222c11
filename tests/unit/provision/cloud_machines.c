/*
 * Unit tests for the provider object -> struct bs_machine mappings of
 * provision/compute_hetzner.c and provision/compute_digitalocean.c, from
 * the sample answers of the providers' API documentation (trimmed, with
 * bootstrap's labels and tags): identity from labels/tags, the state
 * vocabulary, public IPv4 only, missing addresses and unknown states, and
 * objects too broken to use. Plus the sort every list() applies.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "provision/cloud_rest.h"

/* Hetzner's documented server object, trimmed. */
static const char hetzner_server[] =
	"{\"id\":42,\"name\":\"web-1\",\"status\":\"running\","
	"\"created\":\"2016-01-30T23:55:00+00:00\","
	"\"public_net\":{\"ipv4\":{\"id\":42,\"ip\":\"1.2.3.4\",\"blocked\":false,"
	"\"dns_ptr\":\"server01.example.com\"},"
	"\"ipv6\":{\"id\":42,\"ip\":\"2001:db8::/64\",\"blocked\":false,"
	"\"dns_ptr\":[{\"ip\":\"2001:db8::1\",\"dns_ptr\":\"server.example.com\"}]},"
	"\"floating_ips\":[478],\"firewalls\":[{\"id\":42,\"status\":\"applied\"}]},"
	"\"private_net\":[{\"network\":4711,\"ip\":\"10.0.0.2\",\"alias_ips\":[],"
	"\"mac_address\":\"86:00:ff:2a:7d:e1\"}],"
	"\"server_type\":{\"id\":1,\"name\":\"cpx11\",\"description\":\"CPX11\",\"cores\":2},"
	"\"datacenter\":{\"id\":1,\"name\":\"fsn1-dc8\","
	"\"location\":{\"id\":1,\"name\":\"fsn1\",\"city\":\"Falkenstein\"}},"
	"\"image\":{\"id\":42,\"type\":\"system\",\"name\":\"debian-12\"},"
	"\"labels\":{\"bootstrap.project\":\"shop\",\"bootstrap.node\":\"web-1\"},"
	"\"locked\":false,\"primary_disk_size\":50}";

/* DigitalOcean's documented droplet object, trimmed. */
static const char do_droplet[] =
	"{\"id\":3164444,\"name\":\"web-1\",\"memory\":1024,\"vcpus\":1,\"disk\":25,"
	"\"locked\":false,\"status\":\"active\",\"created_at\":\"2020-07-21T18:37:44Z\","
	"\"image\":{\"id\":63663980,\"name\":\"20.04 (LTS) x64\",\"distribution\":\"Ubuntu\","
	"\"slug\":\"ubuntu-20-04-x64\",\"public\":true},"
	"\"size\":{\"slug\":\"s-1vcpu-1gb\",\"memory\":1024},\"size_slug\":\"s-1vcpu-1gb\","
	"\"networks\":{\"v4\":[{\"ip_address\":\"10.128.192.124\",\"netmask\":\"255.255.0.0\","
	"\"gateway\":\"nil\",\"type\":\"private\"},"
	"{\"ip_address\":\"192.241.165.154\",\"netmask\":\"255.255.255.0\","
	"\"gateway\":\"192.241.165.1\",\"type\":\"public\"}],"
	"\"v6\":[{\"ip_address\":\"2604:a880:0:1010::18a:a001\",\"netmask\":64,"
	"\"gateway\":\"2604:a880:0:1010::1\",\"type\":\"public\"}]},"
	"\"region\":{\"name\":\"New York 3\",\"slug\":\"nyc3\"},"
	"\"tags\":[\"web\",\"bootstrap-project:shop\",\"bootstrap-node:web-1\"],"
	"\"vpc_uuid\":\"760e09ef-dc84-11e8-981e-3cfdfeaae000\"}";

typedef int (*map_fn)(struct bs_machine *, const cJSON *, struct bs_err *);

static int map_text(map_fn fn, const char *json, struct bs_machine *m, struct bs_err *err)
{
	cJSON *root = cJSON_Parse(json);
	int rc;

	if (root == NULL)
		fail_msg("bad test JSON: %s", json);
	rc = fn(m, root, err);
	cJSON_Delete(root);
	return rc;
}

/* json with the first occurrence of from replaced by to. */
static char *edit(const char *json, const char *from, const char *to)
{
	const char *at = strstr(json, from);

	if (at == NULL)
		fail_msg("'%s' not in the sample", from);
	return bs_xasprintf("%.*s%s%s", (int)(at - json), json, to, at + strlen(from));
}

static void test_hetzner_server(void **state)
{
	struct bs_err err = BS_ERR_INIT;
	struct bs_machine m;

	(void)state;
	assert_int_equal(map_text(bs_hetzner_machine, hetzner_server, &m, &err), 0);
	assert_string_equal(m.id, "42");
	assert_string_equal(m.name, "web-1");
	assert_string_equal(m.project, "shop");
	assert_int_equal(m.state, BS_NODE_RUNNING);
	assert_string_equal(m.ssh_host, "1.2.3.4");
	assert_int_equal(m.ssh_port, 22);
	assert_string_equal(m.size, "cpx11");
	assert_string_equal(m.image, "debian-12");
	assert_string_equal(m.region, "fsn1");
	bs_machine_free(&m);
}

static void test_hetzner_variants(void **state)
{
	struct bs_err err = BS_ERR_INIT;
	struct bs_machine m;
	char *j, *k;

	(void)state;
	/* created without a public IPv4, still initializing */
	j = edit(hetzner_server,
		 "\"ipv4\":{\"id\":42,\"ip\":\"1.2.3.4\",\"blocked\":false,"
		 "\"dns_ptr\":\"server01.example.com\"}",
		 "\"ipv4\":null");
	k = edit(j, "\"status\":\"running\"", "\"status\":\"initializing\"");
	assert_int_equal(map_text(bs_hetzner_machine, k, &m, &err), 0);
	assert_null(m.ssh_host);
	assert_int_equal(m.state, BS_NODE_PENDING);
	bs_machine_free(&m);
	free(j);
	free(k);

	/* the node label names the machine, not the server name; an image
	 * deleted since is null; an unknown status */
	j = edit(hetzner_server, "\"bootstrap.node\":\"web-1\"", "\"bootstrap.node\":\"db\"");
	k = edit(j, "\"image\":{\"id\":42,\"type\":\"system\",\"name\":\"debian-12\"}",
		 "\"image\":null");
	free(j);
	j = edit(k, "\"status\":\"running\"", "\"status\":\"hibernating\"");
	assert_int_equal(map_text(bs_hetzner_machine, j, &m, &err), 0);
	assert_string_equal(m.name, "db");
	assert_null(m.image);
	assert_int_equal(m.state, BS_NODE_UNKNOWN);
	bs_machine_free(&m);
	free(j);
	free(k);

	/* no labels at all: the server's name, no project */
	j = edit(hetzner_server,
		 "\"labels\":{\"bootstrap.project\":\"shop\",\"bootstrap.node\":\"web-1\"}",
		 "\"labels\":{}");
	assert_int_equal(map_text(bs_hetzner_machine, j, &m, &err), 0);
	assert_string_equal(m.name, "web-1");
	assert_null(m.project);
	bs_machine_free(&m);
	free(j);

	/* the key it was created with, from its label; a label that is not a
	 * key's is ignored */
	j = edit(hetzner_server, "\"bootstrap.node\":\"web-1\"",
		 "\"bootstrap.node\":\"web-1\","
		 "\"bootstrap.ssh-key\":\"SHA256_nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8\"");
	assert_int_equal(map_text(bs_hetzner_machine, j, &m, &err), 0);
	assert_string_equal(m.ssh_key, "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8");
	bs_machine_free(&m);
	free(j);
	assert_int_equal(map_text(bs_hetzner_machine, hetzner_server, &m, &err), 0);
	assert_null(m.ssh_key);
	bs_machine_free(&m);
	j = edit(hetzner_server, "\"bootstrap.node\":\"web-1\"",
		 "\"bootstrap.node\":\"web-1\",\"bootstrap.ssh-key\":\"md5-aa-bb\"");
	assert_int_equal(map_text(bs_hetzner_machine, j, &m, &err), 0);
	assert_null(m.ssh_key);
	bs_machine_free(&m);
	free(j);

	/* only the current top-level location (no datacenter) */
	j = edit(hetzner_server,
		 "\"datacenter\":{\"id\":1,\"name\":\"fsn1-dc8\","
		 "\"location\":{\"id\":1,\"name\":\"fsn1\",\"city\":\"Falkenstein\"}},",
		 "\"location\":{\"id\":2,\"name\":\"nbg1\"},");
	assert_int_equal(map_text(bs_hetzner_machine, j, &m, &err), 0);
	assert_string_equal(m.region, "nbg1");
	bs_machine_free(&m);
	free(j);

	/* the newer top-level location wins over the datacenter's */
	j = edit(hetzner_server, "\"labels\"",
		 "\"location\":{\"id\":3,\"name\":\"hel1\"},\"labels\"");
	assert_int_equal(map_text(bs_hetzner_machine, j, &m, &err), 0);
	assert_string_equal(m.region, "hel1");
	bs_machine_free(&m);
	free(j);
}

static void test_hetzner_broken(void **state)
{
	struct bs_err err = BS_ERR_INIT;
	struct bs_machine m;
	char *j;

	(void)state;
	j = edit(hetzner_server, "\"id\":42,\"name\"", "\"name\"");
	assert_int_equal(map_text(bs_hetzner_machine, j, &m, &err), BS_ERR_PROTOCOL);
	assert_null(m.id);
	assert_non_null(strstr(err.msg, "lacks its id or status"));
	free(j);
	j = edit(hetzner_server, "\"status\":\"running\",", "");
	assert_int_equal(map_text(bs_hetzner_machine, j, &m, &err), BS_ERR_PROTOCOL);
	free(j);
	j = edit(hetzner_server, "\"id\":42,", "\"id\":4.5,");
	assert_int_equal(map_text(bs_hetzner_machine, j, &m, &err), BS_ERR_PROTOCOL);
	free(j);
	assert_int_equal(map_text(bs_hetzner_machine, "[]", &m, &err), BS_ERR_PROTOCOL);
}

static void test_hetzner_states(void **state)
{
	(void)state;
	assert_int_equal(bs_hetzner_state("running"), BS_NODE_RUNNING);
	assert_int_equal(bs_hetzner_state("initializing"), BS_NODE_PENDING);
	assert_int_equal(bs_hetzner_state("starting"), BS_NODE_STARTING);
	assert_int_equal(bs_hetzner_state("stopping"), BS_NODE_STOPPING);
	assert_int_equal(bs_hetzner_state("off"), BS_NODE_STOPPED);
	assert_int_equal(bs_hetzner_state("deleting"), BS_NODE_TERMINATED);
	assert_int_equal(bs_hetzner_state("migrating"), BS_NODE_PENDING);
	assert_int_equal(bs_hetzner_state("rebuilding"), BS_NODE_PENDING);
	assert_int_equal(bs_hetzner_state("unknown"), BS_NODE_UNKNOWN);
	assert_int_equal(bs_hetzner_state("Running"), BS_NODE_UNKNOWN);
	assert_int_equal(bs_hetzner_state(NULL), BS_NODE_UNKNOWN);
}

static void test_digitalocean_droplet(void **state)
{
	struct bs_err err = BS_ERR_INIT;
	struct bs_machine m;

	(void)state;
	assert_int_equal(map_text(bs_digitalocean_machine, do_droplet, &m, &err), 0);
	assert_string_equal(m.id, "3164444");
	assert_string_equal(m.name, "web-1");
	assert_string_equal(m.project, "shop");
	assert_int_equal(m.state, BS_NODE_RUNNING);
	/* the public address, not the private one listed first */
	assert_string_equal(m.ssh_host, "192.241.165.154");
	assert_int_equal(m.ssh_port, 22);
	assert_string_equal(m.size, "s-1vcpu-1gb");
	assert_string_equal(m.image, "ubuntu-20-04-x64");
	assert_string_equal(m.region, "nyc3");
	bs_machine_free(&m);
}

static void test_digitalocean_variants(void **state)
{
	struct bs_err err = BS_ERR_INIT;
	struct bs_machine m;
	char *j, *k;

	(void)state;
	/* the key it was created with, from its tag; an "off" droplet keeps its address */
	j = edit(do_droplet, "\"bootstrap-node:web-1\"",
		 "\"bootstrap-node:web-1\","
		 "\"bootstrap-key:SHA256_nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8\"");
	k = edit(j, "\"status\":\"active\"", "\"status\":\"off\"");
	assert_int_equal(map_text(bs_digitalocean_machine, k, &m, &err), 0);
	assert_string_equal(m.ssh_key, "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8");
	assert_int_equal(m.state, BS_NODE_STOPPED);
	assert_string_equal(m.ssh_host, "192.241.165.154");
	bs_machine_free(&m);
	free(j);
	free(k);
	assert_int_equal(map_text(bs_digitalocean_machine, do_droplet, &m, &err), 0);
	assert_null(m.ssh_key);
	bs_machine_free(&m);

	/* a new droplet has no addresses yet */
	j = edit(do_droplet, "\"status\":\"active\"", "\"status\":\"new\"");
	k = edit(j, "\"networks\":{\"v4\":[", "\"networks\":{\"v0\":[");
	assert_int_equal(map_text(bs_digitalocean_machine, k, &m, &err), 0);
	assert_int_equal(m.state, BS_NODE_PENDING);
	assert_null(m.ssh_host);
	bs_machine_free(&m);
	free(j);
	free(k);

	/* only a private address: still no SSH host */
	j = edit(do_droplet, "\"type\":\"public\"}],\"v6\"", "\"type\":\"private\"}],\"v6\"");
	assert_int_equal(map_text(bs_digitalocean_machine, j, &m, &err), 0);
	assert_null(m.ssh_host);
	bs_machine_free(&m);
	free(j);

	/* a custom image has no slug; a status from the future */
	j = edit(do_droplet, "\"slug\":\"ubuntu-20-04-x64\",", "\"slug\":null,");
	k = edit(j, "\"status\":\"active\"", "\"status\":\"resizing\"");
	assert_int_equal(map_text(bs_digitalocean_machine, k, &m, &err), 0);
	assert_string_equal(m.image, "20.04 (LTS) x64");
	assert_int_equal(m.state, BS_NODE_UNKNOWN);
	bs_machine_free(&m);
	free(j);
	free(k);

	/* the node tag names the machine; tags without a value are ignored */
	j = edit(do_droplet, "\"bootstrap-node:web-1\"",
		 "\"bootstrap-node:\",\"bootstrap-node:db\"");
	assert_int_equal(map_text(bs_digitalocean_machine, j, &m, &err), 0);
	assert_string_equal(m.name, "db");
	bs_machine_free(&m);
	free(j);

	/* no bootstrap tags: the droplet's name, no project */
	j = edit(do_droplet,
		 "\"tags\":[\"web\",\"bootstrap-project:shop\",\"bootstrap-node:web-1\"]",
		 "\"tags\":[]");
	assert_int_equal(map_text(bs_digitalocean_machine, j, &m, &err), 0);
	assert_string_equal(m.name, "web-1");
	assert_null(m.project);
	bs_machine_free(&m);
	free(j);

	j = edit(do_droplet, "\"status\":\"active\",", "");
	assert_int_equal(map_text(bs_digitalocean_machine, j, &m, &err), BS_ERR_PROTOCOL);
	free(j);
	j = edit(do_droplet, "\"id\":3164444,", "\"id\":\"3164444\",");
	assert_int_equal(map_text(bs_digitalocean_machine, j, &m, &err), 0);
	assert_string_equal(m.id, "3164444");
	bs_machine_free(&m);
	free(j);
}

static void test_digitalocean_states(void **state)
{
	(void)state;
	assert_int_equal(bs_digitalocean_state("new"), BS_NODE_PENDING);
	assert_int_equal(bs_digitalocean_state("active"), BS_NODE_RUNNING);
	assert_int_equal(bs_digitalocean_state("off"), BS_NODE_STOPPED);
	assert_int_equal(bs_digitalocean_state("archive"), BS_NODE_TERMINATED);
	assert_int_equal(bs_digitalocean_state("weird"), BS_NODE_UNKNOWN);
	assert_int_equal(bs_digitalocean_state(NULL), BS_NODE_UNKNOWN);
}

static void test_ids(void **state)
{
	static const struct {
		const char *json;
		const char *want;
	} cases[] = {
		{"42", "42"},
		{"9007199254740992", "9007199254740992"},
		{"\"abc-12\"", "abc-12"},
		{"4.5", NULL},
		{"-1", NULL},
		{"1e300", NULL},
		{"\"../x\"", NULL},
		{"\"\"", NULL},
		{"null", NULL},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *v = cJSON_Parse(cases[i].json);
		char *id = bs_rest_id_string(v);

		if (cases[i].want == NULL && id != NULL)
			fail_msg("%s gave '%s'", cases[i].json, id);
		if (cases[i].want != NULL)
			assert_string_equal(id, cases[i].want);
		free(id);
		cJSON_Delete(v);
	}
}

static void test_sort(void **state)
{
	static const char *const names[] = {"web-2", "db", "web-10", "web-1"};
	struct bs_machine_list l = {NULL, 0};
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		struct bs_machine m;

		memset(&m, 0, sizeof(m));
		m.id = bs_xasprintf("%zu", i);
		m.name = bs_xstrdup(names[i]);
		bs_rest_machines_push(&l, &m);
		assert_null(m.name);
	}
	bs_rest_machines_sort(&l);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.v[0].name, "db");
	assert_string_equal(l.v[1].name, "web-1");
	assert_string_equal(l.v[2].name, "web-10");
	assert_string_equal(l.v[3].name, "web-2");
	bs_machine_list_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hetzner_server),
		cmocka_unit_test(test_hetzner_variants),
		cmocka_unit_test(test_hetzner_broken),
		cmocka_unit_test(test_hetzner_states),
		cmocka_unit_test(test_digitalocean_droplet),
		cmocka_unit_test(test_digitalocean_variants),
		cmocka_unit_test(test_digitalocean_states),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_sort),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
