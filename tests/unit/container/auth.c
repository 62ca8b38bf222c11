/*
 * Unit tests for container/auth.c, the registry challenge parser and the
 * query builders: X-Registry-Auth must be URL-safe base64 of the JSON the
 * engine expects (a header that does not decode is silently ignored by the
 * engine and the pull goes anonymous).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "container/auth.h"
#include "container/http.h"
#include "container/registry.h"

static void test_auth_header_url_safe(void **state)
{
	/* bytes chosen so that standard base64 would contain '+' and '/' */
	struct bs_registry_cred cred = {(char *)"reg.example.com:5000", (char *)"u>>?",
					(char *)"p?>~~~\xff\xfe"};
	char *h = bs_registry_auth_header(&cred);
	const char *b64 = h + strlen("X-Registry-Auth: ");
	unsigned char *raw;
	size_t len;
	cJSON *o;

	(void)state;
	assert_true(strncmp(h, "X-Registry-Auth: ", 17) == 0);
	assert_null(strchr(b64, '+'));
	assert_null(strchr(b64, '/'));
	raw = bs_base64_decode(b64, &len);
	assert_non_null(raw);
	o = cJSON_ParseWithLength((const char *)raw, len);
	assert_non_null(o);
	assert_string_equal(cJSON_GetObjectItem(o, "username")->valuestring, "u>>?");
	assert_string_equal(cJSON_GetObjectItem(o, "password")->valuestring, "p?>~~~\xff\xfe");
	assert_string_equal(cJSON_GetObjectItem(o, "serveraddress")->valuestring,
			    "reg.example.com:5000");
	cJSON_Delete(o);
	free(raw);
	bs_secure_free_str(h);
}

static void test_auth_header_anonymous(void **state)
{
	char *h = bs_registry_auth_header(NULL);

	(void)state;
	assert_string_equal(h, "X-Registry-Auth: e30="); /* "{}" */
	free(h);
}

static void test_image_registry(void **state)
{
	static const char *const cases[][2] = {
		{"nginx:1.25", "docker.io"},
		{"library/nginx", "docker.io"},
		{"registry.example.com/shop/app:1.4", "registry.example.com"},
		{"127.0.0.1:5000/lab/busybox:1", "127.0.0.1:5000"},
		{"localhost/x", "localhost"},
		{"ghcr.io/a/b@sha256:00", "ghcr.io"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *r = bs_image_registry(cases[i][0]);

		assert_string_equal(r, cases[i][1]);
		free(r);
	}
}

static char config_dir[64];

static void write_config(const char *json)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/config.json", config_dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(json, f);
	fclose(f);
}

static void test_docker_config(void **state)
{
	struct bs_registry_cred cred;
	struct bs_err err = BS_ERR_INIT;
	/* "tester:s3cret:with:colons" */
	char *auth = bs_base64_encode("tester:s3cret:with:colons", 25, false);
	char json[512];

	(void)state;
	snprintf(config_dir, sizeof(config_dir), "/tmp/bs-unit-dockercfg-XXXXXX");
	assert_non_null(mkdtemp(config_dir));
	setenv("DOCKER_CONFIG", config_dir, 1);

	assert_int_equal(bs_docker_config_cred(&cred, "reg.example.com", &err), BS_ERR_NOT_FOUND);

	snprintf(json, sizeof(json),
		 "{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"%s\"},"
		 "\"http://127.0.0.1:5001\":{\"username\":\"u2\",\"password\":\"p2\"}}}",
		 auth);
	write_config(json);
	assert_int_equal(bs_docker_config_cred(&cred, "docker.io", &err), 0);
	assert_string_equal(cred.username, "tester");
	assert_string_equal(cred.password, "s3cret:with:colons");
	bs_registry_cred_free(&cred);
	assert_int_equal(bs_docker_config_cred(&cred, "127.0.0.1:5001", &err), 0);
	assert_string_equal(cred.username, "u2");
	assert_string_equal(cred.password, "p2");
	bs_registry_cred_free(&cred);
	assert_int_equal(bs_docker_config_cred(&cred, "other.example.com", &err), BS_ERR_NOT_FOUND);

	write_config("{\"auths\":{\"reg.example.com\":{\"auth\":\"!!notbase64\"}}}");
	assert_int_equal(bs_docker_config_cred(&cred, "reg.example.com", &err), BS_ERR_INVALID);
	assert_non_null(strstr(err.msg, "docker login"));

	write_config("{not json");
	assert_int_equal(bs_docker_config_cred(&cred, "reg.example.com", &err), BS_ERR_INVALID);
	assert_non_null(strstr(err.msg, "not valid JSON"));

	snprintf(json, sizeof(json), "%s/config.json", config_dir);
	unlink(json);
	rmdir(config_dir);
	unsetenv("DOCKER_CONFIG");
	free(auth);
}

static void test_base64_roundtrip(void **state)
{
	unsigned char data[256];
	size_t n, len, i;

	(void)state;
	for (i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7 + 3);
	for (n = 0; n <= 10; n++) {
		char *enc = bs_base64_encode(data, n, n % 2);
		unsigned char *dec = bs_base64_decode(enc, &len);

		assert_non_null(dec);
		assert_int_equal(len, n);
		assert_memory_equal(dec, data, n);
		free(enc);
		free(dec);
	}
	assert_null(bs_base64_decode("ab$d", &len));
}

static void test_filters_query(void **state)
{
	struct bs_kvlist f = BS_KVLIST_INIT;
	char *q;

	(void)state;
	q = bs_http_filters(&f);
	assert_string_equal(q, "%7B%7D");
	free(q);
	bs_kvlist_push(&f, "label", "io.bootstrap.project=shop", false);
	bs_kvlist_push(&f, "label", "a b", false);
	bs_kvlist_push(&f, "name", "web", false);
	q = bs_http_filters(&f);
	/* {"label":["io.bootstrap.project=shop","a b"],"name":["web"]} */
	assert_string_equal(
		q, "%7B%22label%22%3A%5B%22io.bootstrap.project%3Dshop%22%2C%22a%20b%22%5D%2C"
		   "%22name%22%3A%5B%22web%22%5D%7D");
	free(q);
	bs_kvlist_free(&f);
	q = bs_http_escape("-ef x/y&z");
	assert_string_equal(q, "-ef%20x%2Fy%26z");
	free(q);
}

static void test_challenge(void **state)
{
	struct bs_kvlist p = BS_KVLIST_INIT;
	char *scheme;

	(void)state;
	scheme = bs_registry_parse_challenge(
		"Bearer realm=\"https://auth.example.com/token\",service=\"registry.example.com\",scope=\"repository:shop/app:pull\"",
		&p);
	assert_string_equal(scheme, "bearer");
	assert_string_equal(bs_kvlist_find(&p, "realm")->value, "https://auth.example.com/token");
	assert_string_equal(bs_kvlist_find(&p, "service")->value, "registry.example.com");
	assert_string_equal(bs_kvlist_find(&p, "scope")->value, "repository:shop/app:pull");
	free(scheme);
	bs_kvlist_free(&p);
	scheme = bs_registry_parse_challenge("Basic realm=\"bootstrap-lab\"", &p);
	assert_string_equal(scheme, "basic");
	assert_string_equal(bs_kvlist_find(&p, "realm")->value, "bootstrap-lab");
	free(scheme);
	bs_kvlist_free(&p);
	assert_null(bs_registry_parse_challenge("", &p));
}

/* The token service's answer: "token", or OAuth2's "access_token"; none,
 * an empty one or a body that is not JSON is no token. */
static void test_token_answer(void **state)
{
	static const char hub[] =
		"{\"token\": \"t1\", \"access_token\": \"t1\", \"expires_in\": 300}";
	char *t;

	(void)state;
	t = bs_registry_parse_token(hub, strlen(hub));
	assert_string_equal(t, "t1");
	bs_secure_free_str(t);
	t = bs_registry_parse_token("{\"access_token\":\"t2\"}", 21);
	assert_string_equal(t, "t2");
	bs_secure_free_str(t);
	assert_null(bs_registry_parse_token("{\"token\":\"\"}", 12));
	assert_null(bs_registry_parse_token("{\"token\":7}", 11));
	assert_null(bs_registry_parse_token("<html>", 6));
	assert_null(bs_registry_parse_token("", 0));
}

/* registry inspect's readers: an image manifest's compressed size (config
 * and layers) and config digest; a config blob's created time and labels.
 * Shapes from the distribution spec's image manifest v2 schema 2 and the
 * OCI image config. */
static void test_manifest_and_config(void **state)
{
	static const char manifest[] =
		"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
		"\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"size\":1469,"
		"\"digest\":\"sha256:6fd955f66c231c1a946653170d096a28ac2b2052a02080c0b84ec082a07f7d12\"},"
		"\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\",\"size\":772788,"
		"\"digest\":\"sha256:aa\"},{\"size\":100,\"digest\":\"sha256:bb\"},{\"size\":-5}]}";
	static const char config[] =
		"{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2026-12-07T18:00:00.5Z\","
		"\"config\":{\"Labels\":{\"org.opencontainers.image.version\":\"1.2\",\"n\":5}}}";
	static const char *const junk[] = {"[]", "{\"config\":7,\"layers\":{}}",
					   "{\"config\":{\"size\":1e300,\"digest\":\"md5:x\"}}"};
	struct bs_registry_image im;
	char *cfg = NULL;
	cJSON *o = cJSON_Parse(manifest);

	(void)state;
	memset(&im, 0, sizeof(im));
	bs_registry_parse_manifest(o, &im, &cfg);
	assert_int_equal(im.size, 1469 + 772788 + 100);
	assert_string_equal(
		cfg, "sha256:6fd955f66c231c1a946653170d096a28ac2b2052a02080c0b84ec082a07f7d12");
	free(cfg);
	cJSON_Delete(o);
	o = cJSON_Parse(config);
	bs_registry_parse_config(o, &im);
	assert_string_equal(im.created, "2026-12-07T18:00:00.5Z");
	assert_int_equal(im.labels.n, 1); /* a label that is no string is not one */
	assert_string_equal(bs_kvlist_find(&im.labels, "org.opencontainers.image.version")->value,
			    "1.2");
	cJSON_Delete(o);
	bs_registry_image_free(&im);
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		o = cJSON_Parse(junk[i]);
		bs_registry_parse_manifest(o, &im, &cfg);
		assert_null(cfg);
		assert_int_equal(im.size, 0);
		bs_registry_parse_config(o, &im);
		assert_null(im.created);
		bs_registry_image_free(&im);
		cJSON_Delete(o);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auth_header_url_safe),
		cmocka_unit_test(test_auth_header_anonymous),
		cmocka_unit_test(test_image_registry),
		cmocka_unit_test(test_docker_config),
		cmocka_unit_test(test_base64_roundtrip),
		cmocka_unit_test(test_filters_query),
		cmocka_unit_test(test_challenge),
		cmocka_unit_test(test_token_answer),
		cmocka_unit_test(test_manifest_and_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
