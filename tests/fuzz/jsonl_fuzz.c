/*
 * jsonl_fuzz.c - libFuzzer target for the JSON-lines stream parser
 * (container/stream.c, bs_jsonl_feed/finish): the progress streams of
 * pull, build, push and load, and the event stream.
 *
 * Input: one control byte (bits 0-5 seed the piece sizes; bit 6 lowers
 * the line limit to 64..4096 bytes so that the fuzzer reaches it; bit 7
 * stops after the third message), then the engine's bytes, fed in pieces
 * as libcurl hands them over, then the final flush. Each message is read
 * as the driver reads a progress line (status, id, progress, stream,
 * progressDetail.current/total, aux.ID) and printed back as the event
 * stream does.
 *
 * Checked: the kept line never exceeds the limit (the bound that keeps an
 * engine streaming without newlines from growing memory); an over-long
 * line stops the parser with too_long and BS_JSONL_TOO_LONG, and nothing
 * is parsed after a stop; the flush leaves no line behind.
 */
#include <cJSON.h>
#include <string.h>

#include "container/stream.h"
#include "tests/fuzz/fuzz.h"

struct seen {
	int messages;
	int stop_after;
	int stopped;
};

static const char *str_at(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int on_message(const cJSON *msg, void *payload)
{
	struct seen *s = payload;
	const cJSON *detail = cJSON_GetObjectItemCaseSensitive(msg, "progressDetail");
	const cJSON *aux = cJSON_GetObjectItemCaseSensitive(msg, "aux");
	char *printed;

	fuzz_check(!s->stopped, "jsonl", "a message after a stop");
	(void)str_at(msg, "status");
	(void)str_at(msg, "id");
	(void)str_at(msg, "progress");
	(void)str_at(msg, "stream");
	(void)cJSON_GetObjectItemCaseSensitive(detail, "current");
	(void)cJSON_GetObjectItemCaseSensitive(detail, "total");
	(void)str_at(aux, "ID");
	printed = cJSON_PrintUnformatted(msg);
	fuzz_check(printed != NULL, "jsonl", "a parsed message does not print");
	free(printed);
	s->messages++;
	if (s->stop_after && s->messages >= s->stop_after) {
		s->stopped = 1;
		return 1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bs_jsonl p;
	struct seen s;
	uint32_t seed;
	size_t off = 0;
	int rc = 0;

	if (size < 1)
		return 0;
	memset(&s, 0, sizeof(s));
	seed = data[0] & 0x3f;
	if (data[0] & 0x80)
		s.stop_after = 3;
	bs_jsonl_init(&p, on_message, &s);
	if (data[0] & 0x40)
		p.max_line = 64 + (size_t)(data[0] & 0x3f) * 64;
	data++;
	size--;
	while (off < size) {
		size_t n = fuzz_piece(&seed, size - off);

		rc = bs_jsonl_feed(&p, (const char *)data + off, n);
		off += n;
		fuzz_check(p.line.len <= p.max_line, "jsonl", "the kept line passed the limit");
		if (rc != 0)
			break;
	}
	if (rc == BS_JSONL_TOO_LONG)
		fuzz_check(p.too_long && p.stopped == BS_JSONL_TOO_LONG, "jsonl",
			   "BS_JSONL_TOO_LONG without too_long");
	if (p.too_long) {
		fuzz_check(rc == BS_JSONL_TOO_LONG, "jsonl", "too_long without BS_JSONL_TOO_LONG");
		fuzz_check(bs_jsonl_feed(&p, "{}\n", 3) == BS_JSONL_TOO_LONG, "jsonl",
			   "a stopped parser took more");
	}
	if (rc == 1)
		fuzz_check(s.stopped, "jsonl", "a stop nobody asked for");
	bs_jsonl_finish(&p);
	fuzz_check(p.line.len == 0, "jsonl", "finish kept a line");
	bs_jsonl_free(&p);
	return 0;
}
