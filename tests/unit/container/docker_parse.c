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
	/* a message of several lines (the engine's git errors) is kept whole,
	 * on one line */
	memset(&resp, 0, sizeof(resp));
	resp.status = 500;
	bs_buf_puts(
		&resp.body,
		"{\"message\": \"error fetching: fatal: unable to connect to 127.0.0.1: \\n"
		"127.0.0.1[0: 127.0.0.1]: errno=Connection refused\\r\\n\\n: exit status 128\\n\"}");
	dk_error_message(&resp, big, sizeof(big));
	assert_string_equal(big,
			    "error fetching: fatal: unable to connect to 127.0.0.1: 127.0.0.1[0: "
			    "127.0.0.1]: errno=Connection refused : exit status 128");
	bs_http_response_free(&resp);
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

/* Stats: the docker CLI's formulas (Engine API, GET /containers/{id}/stats). */
static void test_stats_cgroup_v2(void **state)
{
	static const char text[] =
		"{\"read\":\"2026-12-07T18:00:01Z\",\"pids_stats\":{\"current\":3},"
		"\"networks\":{\"eth0\":{\"rx_bytes\":5338,\"tx_bytes\":648},"
		"\"eth1\":{\"rx_bytes\":4641,\"tx_bytes\":690}},"
		"\"memory_stats\":{\"usage\":10485760,\"limit\":67108864,"
		"\"stats\":{\"inactive_file\":2097152,\"anon\":8388608}},"
		"\"blkio_stats\":{\"io_service_bytes_recursive\":[{\"major\":8,\"minor\":0,"
		"\"op\":\"read\",\"value\":4096},{\"major\":8,\"minor\":0,\"op\":\"write\","
		"\"value\":8192},{\"major\":8,\"minor\":16,\"op\":\"read\",\"value\":1024}]},"
		"\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":300000000},"
		"\"system_cpu_usage\":20000000000,\"online_cpus\":2},"
		"\"precpu_stats\":{\"cpu_usage\":{\"total_usage\":100000000},"
		"\"system_cpu_usage\":18000000000,\"online_cpus\":2}}";
	cJSON *o = cJSON_Parse(text);
	struct bs_cstats s;

	(void)state;
	dk_parse_stats(o, &s);
	/* 0.2 s of CPU over 2 s of the machine's 2 CPUs: 20 % of one CPU */
	assert_true(s.cpu_percent > 19.99 && s.cpu_percent < 20.01);
	assert_int_equal(s.online_cpus, 2);
	assert_int_equal(s.mem_used, 10485760 - 2097152);
	assert_int_equal(s.mem_limit, 67108864);
	assert_int_equal(s.net_rx, 5338 + 4641);
	assert_int_equal(s.net_tx, 648 + 690);
	assert_int_equal(s.blk_read, 4096 + 1024);
	assert_int_equal(s.blk_write, 8192);
	assert_int_equal(s.pids, 3);
	cJSON_Delete(o);
}

/* cgroup v1, an old engine without online_cpus (percpu_usage's length),
 * "Read" capitalised, no network: the first sample has no previous one. */
static void test_stats_cgroup_v1_and_gaps(void **state)
{
	static const char v1[] =
		"{\"memory_stats\":{\"usage\":6537216,\"limit\":67108864,"
		"\"stats\":{\"total_inactive_file\":1048576,\"cache\":2097152}},"
		"\"blkio_stats\":{\"io_service_bytes_recursive\":[{\"op\":\"Read\",\"value\":7},"
		"{\"op\":\"Total\",\"value\":7}]},"
		"\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":100,\"percpu_usage\":[1,2,3,4]},"
		"\"system_cpu_usage\":1000},"
		"\"precpu_stats\":{\"cpu_usage\":{\"total_usage\":50},\"system_cpu_usage\":500}}";
	static const char first[] =
		"{\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":100},\"system_cpu_usage\":1000,"
		"\"online_cpus\":1},\"precpu_stats\":{\"cpu_usage\":{}},"
		"\"memory_stats\":{},\"pids_stats\":{}}";
	static const char *const junk[] = {"[]",
					   "{\"cpu_stats\":7,\"networks\":[1],"
					   "\"blkio_stats\":{\"io_service_bytes_recursive\":{}}}",
					   "{\"memory_stats\":{\"usage\":-5,\"limit\":\"x\"}}"};
	cJSON *o = cJSON_Parse(v1);
	struct bs_cstats s;

	(void)state;
	dk_parse_stats(o, &s);
	assert_int_equal(s.online_cpus, 4);
	assert_true(s.cpu_percent > 39.99 && s.cpu_percent < 40.01);
	assert_int_equal(s.mem_used, 6537216 - 1048576);
	assert_int_equal(s.blk_read, 7);
	assert_int_equal(s.blk_write, 0);
	assert_int_equal(s.net_rx, -1);
	assert_int_equal(s.pids, -1);
	cJSON_Delete(o);
	o = cJSON_Parse(first);
	dk_parse_stats(o, &s);
	assert_true(s.cpu_percent < 0);
	assert_int_equal(s.mem_used, -1);
	assert_int_equal(s.mem_limit, -1);
	cJSON_Delete(o);
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		o = cJSON_Parse(junk[i]);
		dk_parse_stats(o, &s);
		assert_true(s.cpu_percent < 0);
		assert_int_equal(s.mem_used, -1);
		assert_int_equal(s.mem_limit, -1);
		assert_int_equal(s.net_rx, -1);
		assert_int_equal(s.blk_read, -1);
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
		cmocka_unit_test(test_stats_cgroup_v2),
		cmocka_unit_test(test_stats_cgroup_v1_and_gaps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
