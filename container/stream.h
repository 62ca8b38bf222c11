/*
 * stream.h - incremental parsers for the engine's streamed answers.
 *
 * libcurl hands over body bytes in pieces split anywhere. These parsers
 * keep their state across pieces:
 *   - JSON lines (pull, build, push, load, events): one object per line,
 *     "\r\n" or "\n" separated; a line with "errorDetail" or "error" is a
 *     failure even though the HTTP status was 200.
 *   - multiplexed logs (Tty=false): 8-byte headers [stream,0,0,0,size BE]
 *     followed by size bytes; or raw bytes for Tty=true containers.
 * Both are plain state machines with no I/O: unit tests feed them one byte
 * at a time and in random splits; tests/fuzz/ feeds them anything.
 *
 * The engine is a remote party: a JSON line is kept only up to
 * BS_JSONL_MAX_LINE bytes. A longer line (an engine that streams without
 * newlines) stops the parser with too_long set, and the caller reports it
 * by the stream's name; memory never grows past the limit. The log frames
 * are handed on as they arrive and need no buffer.
 */
#ifndef BS_CONTAINER_STREAM_H
#define BS_CONTAINER_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "util/str.h"

struct cJSON;

/* The longest JSON line kept (a progress or event line is under 1 KiB). */
#define BS_JSONL_MAX_LINE (1u << 20)
/* What bs_jsonl_feed returns for a line over the limit. */
#define BS_JSONL_TOO_LONG (-2)

/* Called with each parsed line; return non-zero to stop. */
typedef int (*bs_jsonl_fn)(const struct cJSON *msg, void *payload);

struct bs_jsonl {
	struct bs_buf line;
	bs_jsonl_fn on_message;
	void *payload;
	char *error;	  /* first errorDetail message, owned */
	long error_code;  /* errorDetail.code, 0 if none */
	size_t bad_lines; /* lines that were not JSON */
	size_t max_line;  /* BS_JSONL_MAX_LINE; tests may lower it */
	int stopped;
	int too_long; /* a line passed max_line: stopped with BS_JSONL_TOO_LONG */
};

/* A JSON number as a long long: 0 when V is no number, NaN, or outside
 * long long's range (converting such a double is undefined behaviour). */
long long bs_json_ll(const struct cJSON *v);

void bs_jsonl_init(struct bs_jsonl *p, bs_jsonl_fn on_message, void *payload);
/* Feed bytes; returns non-zero when the callback asked to stop (its
 * value), BS_JSONL_TOO_LONG when a line passed max_line. Once stopped,
 * it returns the same value and ignores the bytes. */
int bs_jsonl_feed(struct bs_jsonl *p, const char *data, size_t len);
/* Flush a last line without newline (nothing once stopped). */
int bs_jsonl_finish(struct bs_jsonl *p);
void bs_jsonl_free(struct bs_jsonl *p);

enum bs_log_stream {
	BS_LOG_STDIN = 0,
	BS_LOG_STDOUT = 1,
	BS_LOG_STDERR = 2,
};

/* Called with each run of bytes from one stream; non-zero stops. */
typedef int (*bs_demux_fn)(enum bs_log_stream stream, const char *data, size_t len, void *payload);

struct bs_demux {
	int raw; /* Tty=true: no framing */
	unsigned char header[8];
	size_t header_len;
	uint32_t frame_left;
	enum bs_log_stream stream;
	bs_demux_fn on_chunk;
	void *payload;
	int bad; /* framing error seen */
};

void bs_demux_init(struct bs_demux *d, int raw, bs_demux_fn on_chunk, void *payload);
/* Feed bytes; returns non-zero when the callback asked to stop, -1 on a
 * framing error (unknown stream byte). */
int bs_demux_feed(struct bs_demux *d, const char *data, size_t len);

#endif
