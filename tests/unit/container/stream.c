/*
 * Unit tests for container/stream.c: the JSON-lines and log-frame parsers,
 * fed whole, one byte at a time and in random splits (the engine's bytes
 * reach libcurl's callback split anywhere).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "container/stream.h"

struct collected {
	struct bs_buf statuses; /* "status|" joined */
	int messages;
	int stop_after;
};

static int collect(const cJSON *msg, void *payload)
{
	struct collected *c = payload;
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(msg, "status");
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(msg, "stream");

	c->messages++;
	if (cJSON_IsString(s))
		bs_buf_printf(&c->statuses, "%s|", s->valuestring);
	if (cJSON_IsString(st))
		bs_buf_printf(&c->statuses, "%s|", st->valuestring);
	return c->stop_after && c->messages >= c->stop_after;
}

static const char pull_stream[] =
	"{\"status\":\"Pulling from lab/busybox\",\"id\":\"1\"}\r\n"
	"{\"status\":\"Downloading\",\"progressDetail\":{\"current\":10,\"total\":20},\"id\":\"abc\"}\r\n"
	"\r\n"
	"{\"status\":\"Digest: sha256:0123\"}\n"
	"{\"status\":\"Status: Downloaded newer image for x:1\"}\r\n";

static const char *const pull_expect =
	"Pulling from lab/busybox|Downloading|Digest: sha256:0123|Status: Downloaded newer image for x:1|";

/* Feed text in pieces of the given sizes (cycled), return the parser. */
static void feed_in_pieces(struct bs_jsonl *p, const char *text, const size_t *sizes,
			   size_t n_sizes)
{
	size_t len = strlen(text), off = 0, i = 0;

	while (off < len) {
		size_t take = sizes[i++ % n_sizes];

		if (take > len - off)
			take = len - off;
		bs_jsonl_feed(p, text + off, take);
		off += take;
	}
	bs_jsonl_finish(p);
}

static void test_jsonl_whole(void **state)
{
	struct collected c = {BS_BUF_INIT, 0, 0};
	struct bs_jsonl p;
	size_t all[] = {sizeof(pull_stream)};

	(void)state;
	bs_jsonl_init(&p, collect, &c);
	feed_in_pieces(&p, pull_stream, all, 1);
	assert_string_equal(bs_buf_str(&c.statuses), pull_expect);
	assert_int_equal(c.messages, 4);
	assert_null(p.error);
	bs_jsonl_free(&p);
	bs_buf_free(&c.statuses);
}

static void test_jsonl_byte_at_a_time(void **state)
{
	struct collected c = {BS_BUF_INIT, 0, 0};
	struct bs_jsonl p;
	size_t one[] = {1};

	(void)state;
	bs_jsonl_init(&p, collect, &c);
	feed_in_pieces(&p, pull_stream, one, 1);
	assert_string_equal(bs_buf_str(&c.statuses), pull_expect);
	bs_jsonl_free(&p);
	bs_buf_free(&c.statuses);
}

static void test_jsonl_random_splits(void **state)
{
	unsigned seed;

	(void)state;
	for (seed = 1; seed <= 200; seed++) {
		struct collected c = {BS_BUF_INIT, 0, 0};
		struct bs_jsonl p;
		size_t sizes[16], i;

		srand(seed);
		for (i = 0; i < 16; i++)
			sizes[i] = 1 + (size_t)(rand() % 40);
		bs_jsonl_init(&p, collect, &c);
		feed_in_pieces(&p, pull_stream, sizes, 16);
		assert_string_equal(bs_buf_str(&c.statuses), pull_expect);
		bs_jsonl_free(&p);
		bs_buf_free(&c.statuses);
	}
}

static void test_jsonl_error_detail_after_200(void **state)
{
	static const char build[] =
		"{\"stream\":\"Step 1/2 : FROM x\\n\"}\r\n"
		"{\"stream\":\"about to fail\\n\"}\r\n"
		"{\"errorDetail\":{\"code\":3,\"message\":\"The command '/bin/sh -c false' returned a non-zero code: 1\"},"
		"\"error\":\"The command '/bin/sh -c false' returned a non-zero code: 1\"}\r\n";
	size_t sizes[] = {7, 1, 13};
	struct collected c = {BS_BUF_INIT, 0, 0};
	struct bs_jsonl p;

	(void)state;
	bs_jsonl_init(&p, collect, &c);
	feed_in_pieces(&p, build, sizes, 3);
	assert_non_null(p.error);
	assert_string_equal(p.error, "The command '/bin/sh -c false' returned a non-zero code: 1");
	assert_int_equal(p.error_code, 3);
	assert_int_equal(c.messages, 3);
	bs_jsonl_free(&p);
	bs_buf_free(&c.statuses);
}

static void test_jsonl_error_without_detail(void **state)
{
	struct bs_jsonl p;

	(void)state;
	bs_jsonl_init(&p, NULL, NULL);
	bs_jsonl_feed(&p, "{\"error\":\"manifest unknown\"}", 28);
	bs_jsonl_finish(&p);
	assert_string_equal(p.error, "manifest unknown");
	bs_jsonl_free(&p);
}

/* An error code no long can hold (the fuzzer's find: converting it was
 * undefined behaviour) reads as no code; the message is kept. */
static void test_jsonl_error_code_out_of_range(void **state)
{
	static const char *lines[] = {
		"{\"errorDetail\":{\"code\":1e300,\"message\":\"huge\"}}\n",
		"{\"errorDetail\":{\"code\":-1e300,\"message\":\"tiny\"}}\n",
		"{\"errorDetail\":{\"code\":9.3e18,\"message\":\"edge\"}}\n",
		"{\"errorDetail\":{\"code\":-4,\"message\":\"negative\"}}\n",
	};
	static const long codes[] = {0, 0, 0, -4};

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct bs_jsonl p;

		bs_jsonl_init(&p, NULL, NULL);
		assert_int_equal(bs_jsonl_feed(&p, lines[i], strlen(lines[i])), 0);
		assert_non_null(p.error);
		assert_int_equal(p.error_code, codes[i]);
		bs_jsonl_free(&p);
	}
}

static void test_jsonl_garbage_and_stop(void **state)
{
	struct collected c = {BS_BUF_INIT, 0, 2};
	struct bs_jsonl p;
	static const char text[] =
		"not json\n{\"status\":\"a\"}\n{\"status\":\"b\"}\n{\"status\":\"c\"}\n";

	(void)state;
	bs_jsonl_init(&p, collect, &c);
	assert_int_not_equal(bs_jsonl_feed(&p, text, strlen(text)), 0);
	assert_int_equal(p.bad_lines, 1);
	assert_string_equal(bs_buf_str(&c.statuses), "a|b|");
	/* once stopped, further bytes are ignored */
	assert_int_not_equal(bs_jsonl_feed(&p, "{\"status\":\"d\"}\n", 15), 0);
	assert_int_equal(c.messages, 2);
	bs_jsonl_free(&p);
	bs_buf_free(&c.statuses);
}

/* An engine that streams without a newline: the line stops at
 * BS_JSONL_MAX_LINE with too_long set and the buffer freed, instead of
 * growing until malloc fails. A line of exactly the limit still parses. */
static void test_jsonl_line_limit(void **state)
{
	struct collected c = {BS_BUF_INIT, 0, 0};
	const size_t piece = 64 * 1024;
	char *big = malloc(BS_JSONL_MAX_LINE + 1);
	struct bs_jsonl p;
	size_t off;
	int rc = 0;

	(void)state;
	assert_non_null(big);
	/* {"status":"xxx...x"} of exactly BS_JSONL_MAX_LINE bytes, then "\n" */
	memset(big, 'x', BS_JSONL_MAX_LINE);
	memcpy(big, "{\"status\":\"", 11);
	memcpy(big + BS_JSONL_MAX_LINE - 2, "\"}", 2);
	big[BS_JSONL_MAX_LINE] = '\n';
	bs_jsonl_init(&p, collect, &c);
	assert_int_equal(p.max_line, BS_JSONL_MAX_LINE);
	for (off = 0; off < BS_JSONL_MAX_LINE + 1 && rc == 0; off += piece)
		rc = bs_jsonl_feed(&p, big + off,
				   BS_JSONL_MAX_LINE + 1 - off < piece ? BS_JSONL_MAX_LINE + 1 - off
								       : piece);
	assert_int_equal(rc, 0);
	assert_int_equal(c.messages, 1);
	assert_int_equal(p.too_long, 0);

	/* one byte more, without a newline: refused, in pieces or whole */
	for (off = 0; off < BS_JSONL_MAX_LINE && rc == 0; off += piece)
		rc = bs_jsonl_feed(&p, big + off, piece);
	assert_int_equal(rc, 0);
	assert_int_equal(bs_jsonl_feed(&p, "x", 1), BS_JSONL_TOO_LONG);
	assert_int_equal(p.too_long, 1);
	assert_int_equal(p.line.len, 0);
	/* stopped: what follows is ignored, even a good line */
	assert_int_equal(bs_jsonl_feed(&p, "{\"status\":\"a\"}\n", 15), BS_JSONL_TOO_LONG);
	assert_int_equal(bs_jsonl_finish(&p), 0);
	assert_int_equal(c.messages, 1);
	bs_jsonl_free(&p);

	bs_jsonl_init(&p, collect, &c);
	assert_int_equal(bs_jsonl_feed(&p, big, BS_JSONL_MAX_LINE + 1 - 1), 0);
	assert_int_equal(bs_jsonl_feed(&p, big, BS_JSONL_MAX_LINE), BS_JSONL_TOO_LONG);
	assert_int_equal(p.too_long, 1);
	bs_jsonl_free(&p);
	bs_buf_free(&c.statuses);
	free(big);
}

/* ---- log frames ----------------------------------------------------------- */

struct logs {
	struct bs_buf out;
	struct bs_buf err;
	struct bs_buf order; /* "1" or "2" per chunk, merged when adjacent */
	int stop_at_bytes;
	int seen;
};

static int on_chunk(enum bs_log_stream s, const char *data, size_t len, void *payload)
{
	struct logs *l = payload;

	bs_buf_append(s == BS_LOG_STDERR ? &l->err : &l->out, data, len);
	if (l->order.len == 0 || l->order.data[l->order.len - 1] != (char)('0' + s))
		bs_buf_putc(&l->order, (char)('0' + s));
	l->seen += (int)len;
	return l->stop_at_bytes && l->seen >= l->stop_at_bytes;
}

static size_t frame(char *buf, int stream, const char *text)
{
	size_t len = strlen(text);

	buf[0] = (char)stream;
	buf[1] = buf[2] = buf[3] = 0;
	buf[4] = (char)(len >> 24);
	buf[5] = (char)(len >> 16);
	buf[6] = (char)(len >> 8);
	buf[7] = (char)len;
	memcpy(buf + 8, text, len);
	return len + 8;
}

static size_t sample_frames(char *buf)
{
	size_t n = 0;

	n += frame(buf + n, 1, "out-1\n");
	n += frame(buf + n, 2, "err-1\n");
	n += frame(buf + n, 1, "");
	n += frame(buf + n, 1, "out-2 with a longer line\n");
	return n;
}

static void check_logs(const struct logs *l)
{
	assert_string_equal(bs_buf_str(&l->out), "out-1\nout-2 with a longer line\n");
	assert_string_equal(bs_buf_str(&l->err), "err-1\n");
	assert_string_equal(bs_buf_str(&l->order), "121");
}

static void free_logs(struct logs *l)
{
	bs_buf_free(&l->out);
	bs_buf_free(&l->err);
	bs_buf_free(&l->order);
}

static void test_demux_splits(void **state)
{
	char buf[256];
	size_t n = sample_frames(buf);
	unsigned seed;

	(void)state;
	for (seed = 0; seed <= 300; seed++) {
		struct logs l;
		struct bs_demux d;
		size_t off = 0;

		memset(&l, 0, sizeof(l));
		bs_demux_init(&d, 0, on_chunk, &l);
		srand(seed);
		while (off < n) {
			/* seed 0: one byte at a time; others: random pieces */
			size_t take = seed == 0 ? 1 : 1 + (size_t)(rand() % 12);

			if (take > n - off)
				take = n - off;
			assert_int_equal(bs_demux_feed(&d, buf + off, take), 0);
			off += take;
		}
		check_logs(&l);
		free_logs(&l);
	}
}

static void test_demux_raw_tty(void **state)
{
	struct logs l;
	struct bs_demux d;

	(void)state;
	memset(&l, 0, sizeof(l));
	bs_demux_init(&d, 1, on_chunk, &l);
	assert_int_equal(bs_demux_feed(&d, "\x01\x00raw", 5), 0);
	assert_int_equal(l.out.len, 5);
	free_logs(&l);
}

static void test_demux_bad_header_and_stop(void **state)
{
	struct logs l;
	struct bs_demux d;
	char buf[256];
	size_t n = sample_frames(buf);

	(void)state;
	memset(&l, 0, sizeof(l));
	bs_demux_init(&d, 0, on_chunk, &l);
	assert_int_equal(bs_demux_feed(&d, "\x07\x00\x00\x00\x00\x00\x00\x01x", 9), -1);
	assert_int_equal(bs_demux_feed(&d, buf, n), -1);
	free_logs(&l);

	memset(&l, 0, sizeof(l));
	l.stop_at_bytes = 3;
	bs_demux_init(&d, 0, on_chunk, &l);
	assert_int_not_equal(bs_demux_feed(&d, buf, n), 0);
	assert_string_equal(bs_buf_str(&l.out), "out-1\n");
	free_logs(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jsonl_whole),
		cmocka_unit_test(test_jsonl_byte_at_a_time),
		cmocka_unit_test(test_jsonl_random_splits),
		cmocka_unit_test(test_jsonl_error_detail_after_200),
		cmocka_unit_test(test_jsonl_error_without_detail),
		cmocka_unit_test(test_jsonl_error_code_out_of_range),
		cmocka_unit_test(test_jsonl_garbage_and_stop),
		cmocka_unit_test(test_jsonl_line_limit),
		cmocka_unit_test(test_demux_splits),
		cmocka_unit_test(test_demux_raw_tty),
		cmocka_unit_test(test_demux_bad_header_and_stop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
