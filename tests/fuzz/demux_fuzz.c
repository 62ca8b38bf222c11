/*
 * demux_fuzz.c - libFuzzer target for the log demultiplexer (container/
 * stream.c, bs_demux_feed): the 8-byte frame headers [stream,0,0,0,size
 * BE] of `docker logs` and exec output on a non-TTY container, or raw
 * bytes for a TTY one.
 *
 * Input: one control byte (bit 0: raw; the rest seeds the piece sizes and,
 * when bit 1 is set, a stop after some bytes), then the engine's bytes,
 * fed in pieces split anywhere, as libcurl hands them over.
 *
 * Checked: every chunk names stdout, stderr or stdin; no byte is handed
 * on twice or invented (the chunks add up to at most the input, exactly
 * the frames' payload); a framing error stays an error; raw mode hands on
 * every byte unchanged; a stop request is honoured.
 */
#include <string.h>

#include "container/stream.h"
#include "tests/fuzz/fuzz.h"

struct seen {
	const uint8_t *in; /* raw mode: what must come out, in order */
	size_t total;
	size_t stop_at; /* 0: never stop */
	int stopped;
};

static int on_chunk(enum bs_log_stream stream, const char *data, size_t len, void *payload)
{
	struct seen *s = payload;

	fuzz_check(stream == BS_LOG_STDIN || stream == BS_LOG_STDOUT || stream == BS_LOG_STDERR,
		   "demux", "a chunk of an unknown stream");
	fuzz_check(s->stopped == 0, "demux", "a chunk after a stop");
	if (s->in != NULL)
		fuzz_check(memcmp(s->in + s->total, data, len) == 0, "demux",
			   "raw mode changed the bytes");
	s->total += len;
	if (s->stop_at != 0 && s->total >= s->stop_at) {
		s->stopped = 1;
		return 1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bs_demux d;
	struct seen s;
	uint32_t seed;
	size_t off = 0;
	int raw, rc = 0;

	if (size < 1)
		return 0;
	raw = data[0] & 1;
	seed = data[0];
	memset(&s, 0, sizeof(s));
	if (data[0] & 2)
		s.stop_at = (size_t)(data[0] >> 2) * 16 + 1;
	data++;
	size--;
	if (raw)
		s.in = data;
	bs_demux_init(&d, raw, on_chunk, &s);
	while (off < size) {
		size_t n = fuzz_piece(&seed, size - off);

		rc = bs_demux_feed(&d, (const char *)data + off, n);
		off += n;
		if (rc != 0)
			break;
	}
	fuzz_check(s.total <= size, "demux", "more bytes out than in");
	if (rc == -1) {
		fuzz_check(d.bad, "demux", "-1 without a framing error");
		fuzz_check(bs_demux_feed(&d, "\1\0\0\0\0\0\0\1x", 9) == -1, "demux",
			   "a framing error did not stick");
	} else if (rc == 0) {
		fuzz_check(!s.stopped, "demux", "a stop request was ignored");
		if (raw)
			fuzz_check(s.total == size, "demux", "raw mode lost bytes");
	}
	return 0;
}
