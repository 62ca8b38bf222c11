/*
 * Unit tests for the Docker driver's readers of the engine's answers
 * (container/docker.c, docker_priv.h): what the engine sends is untrusted,
 * and a field of an unexpected shape must leave the result empty, never
 * crash. Cases found by tests/fuzz/docker_fuzz.c are pinned here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "container/docker_priv.h"
#include "util/log.h"

static void test_container_item(void **state)
{
	static const char text[] =
		"{\"Id\":\"22de14fe05ca\",\"Names\":[\"/shop-web-1\"],\"Image\":\"local/busybox:1\","
		"\"State\":\"running\",\"Status\":\"Up 3 seconds (healthy)\","
		"\"Labels\":{\"io.bootstrap.project\":\"shop\"},"
		"\"Ports\":[{\"IP\":\"127.0.0.1\",\"PrivatePort\":80,\"PublicPort\":18931,\"Type\":\"tcp\"},"
		"{\"PrivatePort\":53,\"PublicPort\":18932,\"Type\":\"udp\"}]}";
	cJSON *o = cJSON_Parse(text);
	struct bs_cinfo c;

	(void)state;
	memset(&c, 0, sizeof(c));
	dk_parse_container_item(o, &c);
	assert_string_equal(c.name, "shop-web-1");
	assert_string_equal(c.health, "healthy");
	assert_string_equal(bs_kvlist_find(&c.labels, "io.bootstrap.project")->value, "shop");
	assert_int_equal(c.n_ports, 2);
	assert_int_equal(c.ports[0].host_port, 18931);
	assert_true(c.ports[1].udp);
	bs_cinfo_free(&c);
	cJSON_Delete(o);
}

/* "Labels" as a list: its items have no key; this crashed (strdup of a
 * NULL key) in the list, inspect and image readers alike. */
static void test_labels_not_an_object(void **state)
{
	static const char *const texts[] = {
		"{\"Id\":\"s80de62aca\",\"Labels\":[\"lolal/caddy:2\"],\"SharedSize\":-1}",
		"{\"Id\":\"a\",\"Config\":{\"Labels\":[\"x\",\"y\"]}}",
		"{\"Id\":\"a\",\"Labels\":\"io.bootstrap.project=shop\"}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		cJSON *o = cJSON_Parse(texts[i]);
		struct bs_cinfo c;
		struct bs_iinfo img;

		assert_non_null(o);
		memset(&c, 0, sizeof(c));
		dk_parse_container_item(o, &c);
		assert_int_equal(c.labels.n, 0);
		bs_cinfo_free(&c);
		memset(&c, 0, sizeof(c));
		dk_parse_container_inspect(o, &c);
		assert_int_equal(c.labels.n, 0);
		bs_cinfo_free(&c);
		memset(&img, 0, sizeof(img));
		dk_parse_image(o, &img);
		bs_iinfo_free(&img);
		cJSON_Delete(o);
	}
}

/* The engine's message is masked whole, then cut: a secret across the
 * cut (or across the 300-byte limit of a body that is not JSON) is never
 * half shown. */
static void test_error_message_masked_before_cut(void **state)
{
	const char *secret = "s3cr3t-registry-password-0123456789";
	struct bs_http_response resp;
	struct bs_buf body = BS_BUF_INIT;
	char msg[64], big[768];
	size_t at;

	(void)state;
	bs_secret_add(secret);
	for (at = 40; at < 64; at += 3) {
		memset(&resp, 0, sizeof(resp));
		resp.status = 500;
		bs_buf_printf(&resp.body, "{\"message\": \"%*s%s\\nmore\"}", (int)at, "x", secret);
		dk_error_message(&resp, msg, sizeof(msg));
		assert_null(strstr(msg, "s3cr3t"));
		assert_null(strstr(msg, "\n"));
		bs_http_response_free(&resp);
	}
	/* not JSON: shown up to 300 bytes, the secret across byte 300 */
	memset(&resp, 0, sizeof(resp));
	resp.status = 502;
	for (at = 0; at < 290; at++)
		bs_buf_putc(&body, '.');
	bs_buf_puts(&body, secret);
	bs_buf_append(&resp.body, body.data, body.len);
	dk_error_message(&resp, big, sizeof(big));
	assert_null(strstr(big, "s3cr3t"));
	assert_true(bs_str_ends_with(big, "***"));
	bs_http_response_free(&resp);
	bs_buf_free(&body);
	bs_secret_clear();
}

/* Ports published through the routing mesh (PublishMode absent is
 * ingress): the endpoint's when it is there, else the spec's. */
static void test_service_ingress_ports(void **state)
{
	static const char *const texts[] = {
		"{\"Spec\":{\"Name\":\"a\"},\"Endpoint\":{\"Ports\":[{\"PublishMode\":"
		"\"ingress\",\"PublishedPort\":80},{\"PublishMode\":\"host\",\"PublishedPort\":81}]}}",
		"{\"Spec\":{\"Name\":\"b\",\"EndpointSpec\":{\"Ports\":[{\"TargetPort\":80}]}}}",
		"{\"Spec\":{\"Name\":\"c\",\"EndpointSpec\":{\"Ports\":[{\"PublishMode\":\"host\"}]}}}",
		"{\"Spec\":{\"Name\":\"d\"},\"Endpoint\":{\"Ports\":\"not a list\"}}",
	};
	static const int want[] = {1, 1, 0, 0};

	(void)state;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		cJSON *o = cJSON_Parse(texts[i]);
		struct bs_service_info s;

		assert_non_null(o);
		memset(&s, 0, sizeof(s));
		dk_parse_service(o, &s);
		assert_int_equal(s.ingress_ports, want[i]);
		bs_service_info_free(&s);
		cJSON_Delete(o);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_container_item),
		cmocka_unit_test(test_labels_not_an_object),
		cmocka_unit_test(test_error_message_masked_before_cut),
		cmocka_unit_test(test_service_ingress_ports),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
