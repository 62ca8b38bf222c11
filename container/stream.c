/*
 * stream.c - JSON-lines and log-frame state machines (see stream.h; the
 * JSON line buffer is bounded by max_line).
 */
#include "container/stream.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

long long bs_json_ll(const cJSON *v)
{
	return cJSON_IsNumber(v) && v->valuedouble > -9.2e18 && v->valuedouble < 9.2e18
		       ? (long long)v->valuedouble
		       : 0;
}

void bs_jsonl_init(struct bs_jsonl *p, bs_jsonl_fn on_message, void *payload)
{
	memset(p, 0, sizeof(*p));
	p->on_message = on_message;
	p->payload = payload;
	p->max_line = BS_JSONL_MAX_LINE;
}

void bs_jsonl_free(struct bs_jsonl *p)
{
	bs_buf_free(&p->line);
	free(p->error);
	p->error = NULL;
}

static int handle_line(struct bs_jsonl *p, const char *text, size_t len)
{
	const cJSON *detail, *message, *error;
	cJSON *msg;
	int rc = 0;

	while (len > 0 && (text[len - 1] == '\r' || text[len - 1] == ' '))
		len--;
	if (len == 0)
		return 0;
	msg = cJSON_ParseWithLength(text, len);
	if (msg == NULL) {
		p->bad_lines++;
		return 0;
	}
	detail = cJSON_GetObjectItemCaseSensitive(msg, "errorDetail");
	error = cJSON_GetObjectItemCaseSensitive(msg, "error");
	if (p->error == NULL && (detail != NULL || cJSON_IsString(error))) {
		const cJSON *code = cJSON_GetObjectItemCaseSensitive(detail, "code");

		message = cJSON_GetObjectItemCaseSensitive(detail, "message");
		if (!cJSON_IsString(message))
			message = error;
		p->error = bs_xstrdup(cJSON_IsString(message) ? message->valuestring
							      : "the engine reported an error");
		p->error_code = (long)bs_json_ll(code);
	}
	if (p->on_message != NULL)
		rc = p->on_message(msg, p->payload);
	cJSON_Delete(msg);
	return rc;
}

int bs_jsonl_feed(struct bs_jsonl *p, const char *data, size_t len)
{
	const char *end = data + len;

	if (p->stopped)
		return p->stopped;
	while (data < end) {
		const char *nl = memchr(data, '\n', (size_t)(end - data));
		int rc;

		size_t piece = (size_t)((nl != NULL ? nl : end) - data);

		if (piece > p->max_line || p->line.len > p->max_line - piece) {
			bs_buf_free(&p->line);
			p->too_long = 1;
			p->stopped = BS_JSONL_TOO_LONG;
			return p->stopped;
		}
		if (nl == NULL) {
			bs_buf_append(&p->line, data, piece);
			break;
		}
		if (p->line.len > 0) {
			bs_buf_append(&p->line, data, (size_t)(nl - data));
			rc = handle_line(p, p->line.data, p->line.len);
			bs_buf_reset(&p->line);
		} else {
			rc = handle_line(p, data, (size_t)(nl - data));
		}
		data = nl + 1;
		if (rc != 0) {
			p->stopped = rc;
			return rc;
		}
	}
	return 0;
}

int bs_jsonl_finish(struct bs_jsonl *p)
{
	int rc = 0;

	if (p->line.len > 0 && !p->stopped)
		rc = handle_line(p, p->line.data, p->line.len);
	bs_buf_reset(&p->line);
	return rc;
}

void bs_demux_init(struct bs_demux *d, int raw, bs_demux_fn on_chunk, void *payload)
{
	memset(d, 0, sizeof(*d));
	d->raw = raw;
	d->on_chunk = on_chunk;
	d->payload = payload;
}

int bs_demux_feed(struct bs_demux *d, const char *data, size_t len)
{
	const char *end = data + len;

	if (d->bad)
		return -1;
	if (d->raw)
		return len ? d->on_chunk(BS_LOG_STDOUT, data, len, d->payload) : 0;
	while (data < end) {
		if (d->frame_left == 0) {
			d->header[d->header_len++] = (unsigned char)*data++;
			if (d->header_len < 8)
				continue;
			d->header_len = 0;
			if (d->header[0] > 2 || d->header[1] || d->header[2] || d->header[3]) {
				d->bad = 1;
				return -1;
			}
			d->stream = (enum bs_log_stream)d->header[0];
			d->frame_left = (uint32_t)d->header[4] << 24 |
					(uint32_t)d->header[5] << 16 | (uint32_t)d->header[6] << 8 |
					(uint32_t)d->header[7];
			continue;
		}
		{
			size_t take = (size_t)(end - data);
			int rc;

			if (take > d->frame_left)
				take = d->frame_left;
			rc = d->on_chunk(d->stream, data, take, d->payload);
			d->frame_left -= (uint32_t)take;
			data += take;
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}
