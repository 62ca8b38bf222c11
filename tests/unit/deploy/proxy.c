/*
 * Unit tests for deploy/proxy.c: which nodes need the domain proxy, the
 * Caddyfile it gets (sites, upstreams per node, TLS modes, an instance
 * routed by address during a replacement) and the route diff of a plan.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deploy/proxy.h"
#include "deploy/spec.h"
#include "tests/unit/helpers.h"

#define HEAD                                                                                       \
	"version: 1\nproject: shop\nprovider: {type: static}\nnodes:\n"                            \
	"  - {name: a, address: 127.0.0.1, labels: {role: web}}\n"                                 \
	"  - {name: b, address: 127.0.0.2, labels: {role: web}}\n"                                 \
	"  - {name: c, address: 127.0.0.3, labels: {role: db}}\n"

static void load(struct loaded *l, const char *rest)
{
	char *text = bs_xasprintf(HEAD "%s", rest);

	load_text(l, text, NULL);
	free(text);
	assert_non_null(l->recipe);
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

static void test_sites_per_node(void **state)
{
	struct loaded l;
	char *a, *c;

	(void)state;
	load(&l, "domains: {base: apps.example.com, tls: internal}\n"
		 "containers:\n"
		 "  - {name: web, image: nginx:1.25, replicas: 3, nodes: [role=web],"
		 " domain: shop.example.com, expose: 8080}\n"
		 "  - {name: api, image: nginx:1.25, nodes: [role=web], expose: 9000}\n"
		 "  - {name: db, image: postgres:16, nodes: [role=db]}\n");
	assert_string_equal(l.recipe->containers[1].domain, "api.apps.example.com");
	assert_null(l.recipe->containers[2].domain);
	assert_true(bs_proxy_wanted(l.recipe, &l.recipe->nodes[0]));
	assert_false(bs_proxy_wanted(l.recipe, &l.recipe->nodes[2]));
	a = bs_proxy_config(l.recipe, &l.recipe->nodes[0], NULL);
	/* node a runs replicas 1 and 3 of web, and api's only one */
	assert_non_null(strstr(a, "\nshop.example.com {\n\ttls internal\n"
				  "\treverse_proxy shop-web-1:8080 shop-web-3:8080 {\n"));
	assert_non_null(strstr(a, "\napi.apps.example.com {\n"));
	assert_non_null(strstr(a, "reverse_proxy shop-api-1:9000 {"));
	assert_non_null(strstr(a, "\tskip_install_trust\n"));
	assert_non_null(strstr(a, "admin localhost:2019"));
	assert_int_equal(count(a, "lb_try_duration"), 2);
	assert_null(strstr(a, "http://"));
	c = bs_proxy_config(l.recipe, &l.recipe->nodes[2], NULL);
	assert_int_equal(count(c, "reverse_proxy"), 0);
	free(a);
	free(c);
	loaded_free(&l);
}

static void test_tls_modes_and_override(void **state)
{
	struct loaded l;
	struct bs_route_override ov = {"shop-web-1", "10.0.0.7:8080"};
	char *s;

	(void)state;
	load(&l, "domains: {tls: off}\ncontainers:\n"
		 "  - {name: web, image: nginx:1.25, domain: shop.example.com, ports: ['8080']}\n");
	s = bs_proxy_config(l.recipe, &l.recipe->nodes[0], NULL);
	/* the only container port is the one routed to */
	assert_non_null(
		strstr(s, "\nhttp://shop.example.com {\n\treverse_proxy shop-web-1:8080 {"));
	assert_non_null(strstr(s, "\tauto_https off\n"));
	assert_null(strstr(s, "tls internal"));
	free(s);
	s = bs_proxy_config(l.recipe, &l.recipe->nodes[0], &ov);
	assert_non_null(strstr(s, "reverse_proxy 10.0.0.7:8080 {"));
	free(s);
	loaded_free(&l);

	load(&l, "domains: {email: ops@example.com}\ncontainers:\n"
		 "  - {name: web, image: nginx:1.25, domain: shop.example.com, expose: 80}\n");
	assert_int_equal(l.recipe->domains.tls, BS_TLS_AUTO);
	assert_string_equal(l.recipe->domains.proxy, "caddy:2");
	s = bs_proxy_config(l.recipe, &l.recipe->nodes[0], NULL);
	assert_non_null(strstr(s, "\temail ops@example.com\n"));
	assert_non_null(strstr(s, "\nshop.example.com {\n\treverse_proxy shop-web-1:80 {"));
	free(s);
	loaded_free(&l);
}

static void test_diff(void **state)
{
	const char *head = "# c\n{\n\tadmin localhost:2019\n}\n";
	char *have = bs_xasprintf("%s\na.example.com {\n\treverse_proxy x-a-1:80 {\n"
				  "\t\tlb_try_duration 5s\n\t}\n}\n"
				  "\nb.example.com {\n\treverse_proxy x-b-1:80 {\n\t}\n}\n",
				  head);
	char *want = bs_xasprintf("%s\na.example.com {\n\treverse_proxy x-a-1:81 {\n"
				  "\t\tlb_try_duration 5s\n\t}\n}\n"
				  "\nhttp://c.example.com {\n\treverse_proxy x-c-1:80 {\n\t}\n}\n",
				  head);
	char *d;

	(void)state;
	assert_null(bs_proxy_config_diff(have, have));
	d = bs_proxy_config_diff(have, want);
	assert_string_equal(d, "change a.example.com; add c.example.com; remove b.example.com");
	free(d);
	d = bs_proxy_config_diff(NULL, want);
	assert_string_equal(d, "the proxy has no routes yet");
	free(d);
	{
		/* only the options differ */
		char *opts = bs_xstrdup(have);

		opts[2] = 'C';
		d = bs_proxy_config_diff(have, opts);
		assert_string_equal(d, "the proxy's options");
		free(d);
		free(opts);
	}
	/* a truncated file (no closing line) is still compared, not read past */
	d = bs_proxy_config_diff("x.example.com {\n\treverse_proxy", want);
	assert_non_null(strstr(d, "remove x.example.com"));
	free(d);
	free(have);
	free(want);
}

static void test_proxy_container(void **state)
{
	struct loaded l;
	struct bs_container c;
	char *spec;

	(void)state;
	load(&l, "domains: {proxy: 'registry.example.com/caddy:2.8'}\ncontainers:\n"
		 "  - {name: web, image: nginx:1.25, domain: shop.example.com, expose: 80}\n");
	bs_proxy_container(l.recipe, &c);
	assert_string_equal(c.image, "registry.example.com/caddy:2.8");
	assert_int_equal(c.n_ports, 2);
	assert_int_equal(c.ports[0].host_start, 80);
	assert_int_equal(c.ports[1].container_start, 443);
	assert_string_equal(c.volumes[0].target, "/data");
	spec = bs_spec_json(l.recipe, &c);
	assert_non_null(strstr(spec, "io.bootstrap.role"));
	assert_non_null(strstr(spec, "Caddyfile"));
	free(spec);
	bs_proxy_container_free(&c);
	{
		char *n = bs_proxy_name("shop"), *v = bs_proxy_volume("shop");

		assert_string_equal(n, "shop-proxy");
		assert_string_equal(v, "shop-proxy-data");
		free(n);
		free(v);
	}
	loaded_free(&l);
}

static char *temp_file(const char *text)
{
	char *path = bs_xstrdup("/tmp/bs-proxy-test.XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_tls_files(void **state)
{
	char *cert = temp_file("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
	char *key = temp_file("-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n");
	char *text, *s, *json;
	struct loaded l;

	(void)state;
	text = bs_xasprintf(
		"domains: {tls: files, cert: %s, key: %s}\ncontainers:\n"
		"  - {name: web, image: nginx:1.25, domain: shop.example.com, expose: 80}\n",
		cert, key);
	load(&l, text);
	free(text);
	assert_non_null(l.recipe->domains.key_pem);
	s = bs_proxy_config(l.recipe, &l.recipe->nodes[0], NULL);
	assert_non_null(strstr(s, "\ttls /data/bootstrap-cert.pem /data/bootstrap-key.pem\n"));
	assert_non_null(strstr(s, "# certificate sha256:"));
	assert_null(strstr(s, "c2VjcmV0")); /* the key stays out of the file */
	free(s);
	json = bs_recipe_to_json(l.recipe);
	assert_null(strstr(json, "c2VjcmV0"));
	assert_non_null(strstr(json, key)); /* its path is shown */
	free(json);
	loaded_free(&l);

	/* the wrong file for the key, a missing certificate */
	text = bs_xasprintf(
		HEAD "domains: {tls: files, cert: %s.missing, key: %s}\ncontainers:\n"
		     "  - {name: web, image: nginx:1.25, domain: shop.example.com, expose: 80}\n",
		cert, cert);
	load_text(&l, text, NULL);
	free(text);
	assert_null(l.recipe);
	expect_error(&l.diags, 8, 29, "domains.cert", "cannot be read");
	expect_error(&l.diags, 8, 69, "domains.key", "holds no PEM private key");
	loaded_free(&l);

	/* cert without tls: files; tls: files without key */
	load_text(&l, HEAD "domains: {cert: /x.pem}\n", NULL);
	expect_error(&l.diags, 8, 17, "domains.cert", "cert and key are for tls: files");
	loaded_free(&l);
	text = bs_xasprintf(HEAD "domains: {tls: files, cert: %s}\n", cert);
	load_text(&l, text, NULL);
	free(text);
	expect_error(&l.diags, 8, 10, "domains", "add cert: FILE");
	loaded_free(&l);
	unlink(cert);
	unlink(key);
	free(cert);
	free(key);
}

/* The checks go by where replicas run, not by what selectors allow. */
static void test_checks_by_placement(void **state)
{
	struct loaded l;

	(void)state;
	/* web's only replica runs on a: legacy's port 80 on b is fine */
	load(&l, "containers:\n"
		 "  - {name: web, image: nginx:1.25, nodes: [role=web], domain: shop.example.com,"
		 " expose: 80}\n"
		 "  - {name: legacy, image: nginx:1.25, nodes: [b], ports: ['80:80']}\n");
	loaded_free(&l);
	/* with two replicas web runs on b too */
	load_text(&l,
		  HEAD "containers:\n"
		       "  - {name: web, image: nginx:1.25, nodes: [role=web], replicas: 2,"
		       " domain: shop.example.com, expose: 80}\n"
		       "  - {name: legacy, image: nginx:1.25, nodes: [b], ports: ['80:80']}\n",
		  NULL);
	expect_error(&l.diags, 10, 59, "containers[1].ports[0]", "publishes port 80");
	loaded_free(&l);
	/* a and a2 are one host: fine while only one of them runs a domain */
	load_text(&l,
		  "version: 1\nproject: shop\nprovider: {type: static}\nnodes:\n"
		  "  - {name: a, address: 127.0.0.1, labels: {role: web}}\n"
		  "  - {name: a2, address: 127.0.0.1, port: 2222, labels: {role: web}}\n"
		  "containers:\n"
		  "  - {name: web, image: nginx:1.25, nodes: [role=web], domain: shop.example.com,"
		  " expose: 80}\n",
		  NULL);
	assert_non_null(l.recipe);
	loaded_free(&l);
	load_text(&l,
		  "version: 1\nproject: shop\nprovider: {type: static}\nnodes:\n"
		  "  - {name: a, address: 127.0.0.1, labels: {role: web}}\n"
		  "  - {name: a2, address: 127.0.0.1, port: 2222, labels: {role: web}}\n"
		  "containers:\n"
		  "  - {name: web, image: nginx:1.25, nodes: [role=web], replicas: 2,"
		  " domain: shop.example.com, expose: 80}\n",
		  NULL);
	expect_error(&l.diags, 6, 5, "nodes[1]", "are one host (127.0.0.1)");
	loaded_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sites_per_node),
		cmocka_unit_test(test_tls_modes_and_override),
		cmocka_unit_test(test_diff),
		cmocka_unit_test(test_proxy_container),
		cmocka_unit_test(test_tls_files),
		cmocka_unit_test(test_checks_by_placement),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
