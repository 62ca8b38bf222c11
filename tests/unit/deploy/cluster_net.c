/*
 * Unit tests for the swarm overlay's network choices (deploy/cluster.c):
 * which addresses are public, what cluster.advertise resolves to on a
 * node, when cluster.encrypt: auto encrypts, the refusal on a kernel
 * without IPsec ESP, and how an existing overlay's options drift.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/cluster.h"
#include "util/str.h"

static void test_addr_is_public(void **state)
{
	static const char *const private_[] = {"10.0.0.2",
					       "10.255.255.255",
					       "172.16.0.1",
					       "172.31.255.254",
					       "192.168.1.1",
					       "100.64.0.1",
					       "100.127.255.1",
					       "127.0.0.1",
					       "169.254.1.1",
					       "0.0.0.0",
					       "224.0.0.1",
					       "::1",
					       "::",
					       "fd00::2",
					       "fc12::1",
					       "fe80::1",
					       "febf::1",
					       "ff02::1",
					       "::ffff:10.1.2.3",
					       "not-an-address",
					       "",
					       "eth0",
					       NULL};
	static const char *const public_[] = {"203.0.113.7", "8.8.8.8",	    "172.15.255.255",
					      "172.32.0.1",  "192.169.0.1", "100.63.255.1",
					      "100.128.0.1", "169.253.1.1", "2a01:4f8::1",
					      "2001:db8::1", "fec0::1",	    "::ffff:8.8.8.8",
					      NULL};

	(void)state;
	for (size_t i = 0; private_[i] != NULL; i++)
		assert_false(bs_cluster_addr_is_public(private_[i]));
	for (size_t i = 0; public_[i] != NULL; i++)
		assert_true(bs_cluster_addr_is_public(public_[i]));
	assert_false(bs_cluster_addr_is_public(NULL));
}

/* A cloud node: public eth0 (the default route), a private network on
 * enp7s0 at MTU 1450, Docker's own bridges. */
static const struct bs_dockerhost_addr cloud[] = {
	{"eth0", 1500, "203.0.113.7", false},
	{"docker0", 1500, "172.17.0.1", false},
	{"docker_gwbridge", 1500, "172.18.0.1", false},
	{"eth0", 1500, "2a01:4f8::1", false},
	{"enp7s0", 1450, "10.0.0.2", false},
};
#define N_CLOUD (sizeof(cloud) / sizeof(cloud[0]))

static void test_advertise_resolve(void **state)
{
	struct bs_cluster_advert a;
	struct bs_err err = BS_ERR_INIT;
	/* the lab: one interface, private, which is the default route's */
	static const struct bs_dockerhost_addr lab[] = {{"eth0", 1500, "172.17.0.3", false},
							{"docker0", 1500, "172.18.0.1", false}};
	static const struct bs_dockerhost_addr public_only[] = {
		{"eth0", 1500, "203.0.113.7", false}, {"docker0", 1500, "172.17.0.1", false}};

	(void)state;
	/* default: the default route's interface, its IPv4 address */
	assert_int_equal(
		bs_cluster_advertise_resolve(NULL, "web-1", "eth0", cloud, N_CLOUD, &a, &err), 0);
	assert_string_equal(a.value, "eth0");
	assert_string_equal(a.addr, "203.0.113.7");
	assert_int_equal(a.mtu, 1500);
	/* private: the private network's address, never docker0 */
	assert_int_equal(
		bs_cluster_advertise_resolve("private", "web-1", "eth0", cloud, N_CLOUD, &a, &err),
		0);
	assert_string_equal(a.value, "10.0.0.2");
	assert_string_equal(a.addr, "10.0.0.2");
	assert_int_equal(a.mtu, 1450);
	/* private where the default route's interface is the private one */
	assert_int_equal(
		bs_cluster_advertise_resolve("private", "node-1", "eth0", lab, 2, &a, &err), 0);
	assert_string_equal(a.value, "172.17.0.3");
	/* private, and none: an error naming the node and what it has */
	assert_int_equal(
		bs_cluster_advertise_resolve("private", "web-2", "eth0", public_only, 2, &a, &err),
		BS_ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, "node web-2: cluster.advertise: private, but the node has "
					"no private address (its addresses: eth0 203.0.113.7)"));
	/* an interface by name */
	assert_int_equal(
		bs_cluster_advertise_resolve("enp7s0", "web-1", "eth0", cloud, N_CLOUD, &a, &err),
		0);
	assert_string_equal(a.value, "enp7s0");
	assert_string_equal(a.addr, "10.0.0.2");
	assert_int_equal(
		bs_cluster_advertise_resolve("eth9", "web-1", "eth0", cloud, N_CLOUD, &a, &err),
		BS_ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, "node web-1: cluster.advertise: it has no interface eth9"));
	/* an address: one the node holds */
	assert_int_equal(
		bs_cluster_advertise_resolve("10.0.0.2", "web-1", "eth0", cloud, N_CLOUD, &a, &err),
		0);
	assert_int_equal(a.mtu, 1450);
	assert_int_equal(
		bs_cluster_advertise_resolve("10.9.9.9", "web-1", "eth0", cloud, N_CLOUD, &a, &err),
		BS_ERR_NOT_FOUND);
	/* no default route */
	assert_int_equal(bs_cluster_advertise_resolve(NULL, "web-3", NULL, NULL, 0, &a, &err),
			 BS_ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, "node web-3: no address to advertise"));
	/* no address listing (no ip on the node): the interface as is, address unknown */
	assert_int_equal(bs_cluster_advertise_resolve(NULL, "web-4", "eth0", NULL, 0, &a, &err), 0);
	assert_string_equal(a.value, "eth0");
	assert_string_equal(a.addr, "");
}

static void test_auto_decision(void **state)
{
	struct bs_cluster_netnode v[2] = {
		{"node-1", "172.17.0.3", 1500, BS_ESP_NO, "Error: Requested type not found.",
		 false},
		{"node-2", "10.0.0.3", 1450, BS_ESP_NO, NULL, false},
	};
	struct bs_cluster_net net;
	struct bs_err err = BS_ERR_INIT;

	(void)state;
	/* auto, private addresses only: plain, and ESP is not asked for */
	assert_int_equal(bs_cluster_net_decide(BS_ENCRYPT_AUTO, false, true, v, 2, &net, &err), 0);
	assert_false(net.encrypted);
	assert_int_equal(net.mtu, 1450);
	/* false: plain even on public addresses */
	v[1].addr = "203.0.113.8";
	assert_int_equal(bs_cluster_net_decide(BS_ENCRYPT_FALSE, false, true, v, 2, &net, &err), 0);
	assert_false(net.encrypted);
	/* auto with a public address: encrypted, so ESP is needed: refused */
	assert_int_equal(bs_cluster_net_decide(BS_ENCRYPT_AUTO, false, true, v, 2, &net, &err),
			 BS_ERR_UNSUPPORTED);
	assert_true(net.encrypted);
	assert_string_equal(net.why,
			    "cluster.encrypt: auto, and node node-2 advertises the public address "
			    "203.0.113.8");
	/* with ESP on both */
	v[0].esp = v[1].esp = BS_ESP_YES;
	assert_int_equal(bs_cluster_net_decide(BS_ENCRYPT_AUTO, false, true, v, 2, &net, &err), 0);
	assert_true(net.encrypted);
	/* an address the detection could not tell counts as public */
	v[1].addr = NULL;
	assert_int_equal(bs_cluster_net_decide(BS_ENCRYPT_AUTO, false, true, v, 2, &net, &err), 0);
	assert_true(net.encrypted);
	assert_non_null(strstr(net.why, "could not tell"));
	/* no MTU known: no option */
	v[0].mtu = v[1].mtu = 0;
	assert_int_equal(bs_cluster_net_decide(BS_ENCRYPT_FALSE, false, true, v, 2, &net, &err), 0);
	assert_int_equal(net.mtu, 0);
}

static void test_esp_refusal(void **state)
{
	struct bs_cluster_netnode v[2] = {
		{"node-1", "172.17.0.3", 1500, BS_ESP_YES, NULL, false},
		{"node-2", "172.17.0.4", 1500, BS_ESP_NO, "Error: Requested type not found.",
		 false},
	};
	struct bs_cluster_net net;
	struct bs_err err = BS_ERR_INIT;

	(void)state;
	assert_int_equal(bs_cluster_net_decide(BS_ENCRYPT_TRUE, false, true, v, 2, &net, &err),
			 BS_ERR_UNSUPPORTED);
	assert_string_equal(
		err.msg,
		"node node-2: the kernel has no IPsec ESP (Error: Requested type not found.), "
		"which an encrypted overlay network needs (cluster.encrypt: true): load the "
		"kernel modules esp4 and xfrm_user (esp6 for IPv6; modprobe esp4 xfrm_user) or "
		"use a kernel that has them; or set cluster.encrypt: false, and the containers' "
		"traffic between nodes crosses the network as plain VXLAN (4789/udp), readable "
		"and forgeable on the way: only on a private network (cluster.advertise: "
		"private) with 4789/udp firewalled. If the probe is wrong, "
		"BOOTSTRAP_ASSUME_ESP=1 skips it");
	/* the probe could not run: not supported, and said so */
	v[1].esp = BS_ESP_UNKNOWN;
	assert_int_equal(bs_cluster_net_decide(BS_ENCRYPT_TRUE, false, true, v, 2, &net, &err),
			 BS_ERR_UNSUPPORTED);
	assert_non_null(strstr(err.msg, "node node-2: the kernel has no IPsec ESP (it could not "
					"be probed: no unshare or ip on the node"));
	/* the override */
	assert_int_equal(bs_cluster_net_decide(BS_ENCRYPT_TRUE, true, true, v, 2, &net, &err), 0);
	assert_true(net.encrypted);
}

static void test_overlay_drift(void **state)
{
	struct bs_kvlist have = BS_KVLIST_INIT;
	struct bs_cluster_net net = {false, 0, "", false};
	char *d;

	(void)state;
	bs_kvlist_push(&have, "com.docker.network.driver.overlay.vxlanid_list", "4097", false);
	d = bs_cluster_overlay_drift(&have, &net); /* no option is Docker's 1500 */
	assert_string_equal(d, "");
	free(d);
	net.mtu = 1500;
	d = bs_cluster_overlay_drift(&have, &net);
	assert_string_equal(d, "");
	free(d);
	net.encrypted = true;
	net.mtu = 1450;
	d = bs_cluster_overlay_drift(&have, &net);
	assert_string_equal(d, "encrypted: no -> yes; mtu 1500 -> 1450");
	free(d);
	bs_kvlist_push(&have, "encrypted", "", false);
	bs_kvlist_push(&have, "com.docker.network.driver.mtu", "1450", false);
	d = bs_cluster_overlay_drift(&have, &net);
	assert_string_equal(d, "");
	free(d);
	net.encrypted = false;
	d = bs_cluster_overlay_drift(&have, &net);
	assert_string_equal(d, "encrypted: yes -> no");
	free(d);
	bs_kvlist_free(&have);
}

/* advertise: private takes a physical private interface first, never a
 * virtual one (libvirt, Tailscale, CNI, WireGuard...), and prefers the
 * default route's private interface over a non-physical one. */
static void test_advertise_private_physical(void **state)
{
	struct bs_cluster_advert a;
	struct bs_err err = BS_ERR_INIT;
	/* a public default route, virtual interfaces listed first, a physical private NIC */
	static const struct bs_dockerhost_addr host[] = {
		{"eth0", 1500, "203.0.113.7", true},
		{"virbr0", 1500, "192.168.122.1", false},
		{"tailscale0", 1280, "100.100.1.2", false},
		{"cni0", 1450, "10.244.0.1", false},
		{"flannel.1", 1450, "10.244.0.0", false},
		{"wg0", 1420, "10.8.0.1", false},
		{"podman0", 1500, "10.88.0.1", false},
		{"cali12ab", 1440, "192.168.3.1", false},
		{"vxlan.calico", 1450, "10.3.0.1", false},
		{"lxdbr0", 1500, "10.55.0.1", false},
		{"ens10", 1450, "10.0.0.5", true},
	};
	/* a private default route; a bridge of some other tool holds another private address */
	static const struct bs_dockerhost_addr routed[] = {
		{"mybr0", 1500, "10.9.0.1", false},
		{"eth0", 9001, "172.31.5.6", true},
	};
	/* only virtual private interfaces: refused, not virbr0 */
	static const struct bs_dockerhost_addr virt[] = {
		{"eth0", 1500, "203.0.113.7", true},
		{"virbr0", 1500, "192.168.122.1", false},
		{"docker0", 1500, "172.17.0.1", false},
	};

	(void)state;
	assert_int_equal(bs_cluster_advertise_resolve("private", "web-1", "eth0", host,
						      sizeof(host) / sizeof(host[0]), &a, &err),
			 0);
	assert_string_equal(a.value, "10.0.0.5");
	assert_int_equal(
		bs_cluster_advertise_resolve("private", "web-1", "eth0", routed, 2, &a, &err), 0);
	assert_string_equal(a.value, "172.31.5.6");
	assert_int_equal(
		bs_cluster_advertise_resolve("private", "web-1", "eth0", virt, 3, &a, &err),
		BS_ERR_NOT_FOUND);
	/* no physical flag known (an older detection): a plain private NIC still serves */
	assert_int_equal(
		bs_cluster_advertise_resolve("private", "web-1", "eth0", cloud, N_CLOUD, &a, &err),
		0);
	assert_string_equal(a.value, "10.0.0.2");
}

/* The MTU never goes above 1500 (AWS's 9001); ESP is not asked for when
 * nothing crosses the networks; a node not detected in this run is judged
 * by its address only. */
static void test_decide_mtu_need_unprobed(void **state)
{
	struct bs_cluster_netnode v[2] = {
		{"node-1", "172.31.5.6", 9001, BS_ESP_YES, NULL, false},
		{"node-2", "203.0.113.9", 0, BS_ESP_UNKNOWN, NULL, false},
	};
	struct bs_cluster_net net;
	struct bs_err err = BS_ERR_INIT;

	(void)state;
	assert_int_equal(bs_cluster_net_decide(BS_ENCRYPT_FALSE, false, true, v, 2, &net, &err), 0);
	assert_int_equal(net.mtu, 1500);
	assert_false(net.keep_encrypted);
	/* auto, a public address, a node without ESP, but nothing needs the networks */
	assert_int_equal(bs_cluster_net_decide(BS_ENCRYPT_AUTO, false, false, v, 2, &net, &err), 0);
	assert_false(net.encrypted);
	assert_true(net.keep_encrypted);
	/* ... needed: refused */
	assert_int_equal(bs_cluster_net_decide(BS_ENCRYPT_AUTO, false, true, v, 2, &net, &err),
			 BS_ERR_UNSUPPORTED);
	/* node-2 is a swarm node the run did not detect: its address counts, its ESP
	 * is not checked */
	v[1].unprobed = true;
	assert_int_equal(bs_cluster_net_decide(BS_ENCRYPT_AUTO, false, true, v, 2, &net, &err), 0);
	assert_true(net.encrypted);
	assert_non_null(strstr(net.why, "node node-2 advertises the public address 203.0.113.9"));
}

/* MTU drift only when the wanted MTU is known; auto keeps an encrypted
 * network; what happens to a network in use or not. */
static void test_net_action(void **state)
{
	struct bs_kvlist plain = BS_KVLIST_INIT, enc = BS_KVLIST_INIT;
	struct bs_cluster_net net = {false, 0, "", false};
	char *d;

	(void)state;
	bs_kvlist_push(&enc, "encrypted", "", false);
	/* no mtu option, wanted unknown or 1500: nothing */
	assert_int_equal(bs_cluster_net_action(&plain, &net, true, &d), BS_NET_KEEP);
	free(d);
	net.mtu = 1500;
	assert_int_equal(bs_cluster_net_action(&plain, &net, true, &d), BS_NET_KEEP);
	free(d);
	/* a lower MTU: recreated when unused, a warning in use */
	net.mtu = 1450;
	assert_int_equal(bs_cluster_net_action(&plain, &net, false, &d), BS_NET_RECREATE);
	assert_string_equal(d, "mtu 1500 -> 1450");
	free(d);
	assert_int_equal(bs_cluster_net_action(&plain, &net, true, &d), BS_NET_WARN);
	free(d);
	/* encryption missing: recreated when unused, refused in use */
	net.mtu = 0;
	net.encrypted = true;
	assert_int_equal(bs_cluster_net_action(&plain, &net, false, &d), BS_NET_RECREATE);
	assert_string_equal(d, "encrypted: no -> yes");
	free(d);
	assert_int_equal(bs_cluster_net_action(&plain, &net, true, &d), BS_NET_REFUSE);
	free(d);
	/* auto decided plain on what it saw: an encrypted network stays */
	net.encrypted = false;
	net.keep_encrypted = true;
	assert_int_equal(bs_cluster_net_action(&enc, &net, false, &d), BS_NET_KEEP);
	free(d);
	/* encrypt: false turns it plain (when unused) */
	net.keep_encrypted = false;
	assert_int_equal(bs_cluster_net_action(&enc, &net, false, &d), BS_NET_RECREATE);
	assert_string_equal(d, "encrypted: yes -> no");
	free(d);
	assert_int_equal(bs_cluster_net_action(&enc, &net, true, &d), BS_NET_WARN);
	free(d);
	bs_kvlist_free(&plain);
	bs_kvlist_free(&enc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_is_public),
		cmocka_unit_test(test_advertise_resolve),
		cmocka_unit_test(test_auto_decision),
		cmocka_unit_test(test_esp_refusal),
		cmocka_unit_test(test_overlay_drift),
		cmocka_unit_test(test_advertise_private_physical),
		cmocka_unit_test(test_decide_mtu_need_unprobed),
		cmocka_unit_test(test_net_action),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
