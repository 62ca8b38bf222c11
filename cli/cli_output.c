/*
 * cli_output.c - what the tool prints on the terminal: the logger's sink
 * (levels, colour only on a TTY and never with NO_COLOR) and recipe
 * diagnostics.
 */
#include <cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "util/log.h"
#include "util/str.h"

static bool use_color;
/* --json: stderr carries JSON objects too, one per line; the errors wait
 * for the exit code, which each then carries */
static bool use_json;
static struct bs_strv pending_errors;

static void json_line(cJSON *o)
{
	char *text = cJSON_PrintUnformatted(o);

	fprintf(stderr, "%s\n", text);
	free(text);
	cJSON_Delete(o);
}

static const char *level_color(enum bs_log_level level)
{
	switch (level) {
	case BS_LOG_ERROR: return "\033[1;31m";
	case BS_LOG_WARN: return "\033[1;33m";
	case BS_LOG_INFO: return "";
	case BS_LOG_DEBUG:
	case BS_LOG_TRACE: return "\033[2m";
	}
	return "";
}

static void stderr_sink(enum bs_log_level level, const char *line, void *payload)
{
	(void)payload;
	if (use_json) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "level", bs_log_level_name(level));
		cJSON_AddStringToObject(o, "message", line);
		json_line(o);
	} else if (level == BS_LOG_INFO) {
		fprintf(stderr, "%s\n", line);
	} else if (use_color) {
		fprintf(stderr, "%sbootstrap: %s:\033[0m %s\n", level_color(level),
			bs_log_level_name(level), line);
	} else {
		fprintf(stderr, "bootstrap: %s: %s\n", bs_log_level_name(level), line);
	}
}

void bs_cli_output_init(const struct bs_cli *cli)
{
	int level = BS_LOG_INFO + cli->verbosity;

	use_color = cli->color;
	use_json = cli->json;
	bs_log_set_level(level < BS_LOG_ERROR ? BS_LOG_ERROR : (enum bs_log_level)level);
	bs_log_set_sink(stderr_sink, NULL);
}

void bs_cli_error(const char *fmt, ...)
{
	va_list ap;
	char line[2048];

	/* masked before it is cut to the line (util/log.h) */
	va_start(ap, fmt);
	bs_secret_vformat(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (use_json)
		bs_strv_push(&pending_errors, line);
	else if (use_color)
		fprintf(stderr, "\033[1;31mbootstrap: error:\033[0m %s\n", line);
	else
		fprintf(stderr, "bootstrap: error: %s\n", line);
}

void bs_cli_output_json(bool json)
{
	use_json = json;
}

void bs_cli_output_finish(int code)
{
	for (size_t i = 0; i < pending_errors.n; i++) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "level", "error");
		cJSON_AddStringToObject(o, "error", pending_errors.v[i]);
		cJSON_AddNumberToObject(o, "exit_code", code);
		json_line(o);
	}
	/* a failure that said nothing still says its code */
	if (use_json && code != 0 && pending_errors.n == 0) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "level", "error");
		cJSON_AddNumberToObject(o, "exit_code", code);
		json_line(o);
	}
	bs_strv_free(&pending_errors);
}

void bs_cli_print_diags(const struct bs_cli *cli, const struct bs_diags *diags)
{
	size_t i;

	if (cli->verbosity < 0 && diags->n_errors == 0)
		return;
	for (i = 0; use_json && i < diags->n; i++) {
		const struct bs_diag *d = &diags->items[i];
		cJSON *o = cJSON_CreateObject();
		struct bs_buf masked = BS_BUF_INIT;

		bs_secret_mask(&masked, d->message);

		cJSON_AddStringToObject(o, "level",
					d->severity == BS_DIAG_ERROR ? "error" : "warning");
		cJSON_AddStringToObject(o, "file", bs_diag_file(diags, d));
		cJSON_AddNumberToObject(o, "line", d->line);
		cJSON_AddNumberToObject(o, "column", d->col);
		cJSON_AddStringToObject(o, "path", d->path ? d->path : "");
		cJSON_AddStringToObject(o, "message", bs_buf_str(&masked));
		json_line(o);
		bs_buf_free(&masked);
	}
	if (use_json)
		return;
	for (i = 0; i < diags->n; i++) {
		const struct bs_diag *d = &diags->items[i];
		char *text = bs_diag_format(diags, d);

		if (d->severity == BS_DIAG_WARNING && cli->verbosity < 0) {
			free(text);
			continue;
		}
		if (use_color)
			fprintf(stderr, "%s%s\033[0m\n",
				d->severity == BS_DIAG_ERROR ? "\033[31m" : "\033[33m", text);
		else
			fprintf(stderr, "%s\n", text);
		free(text);
	}
	if (diags->n_dropped > 0)
		fprintf(stderr, "%s: ... and %zu more problems not shown\n", diags->file,
			diags->n_dropped);
	if (diags->n_errors > 0)
		fprintf(stderr, "%s: %zu error%s, %zu warning%s; nothing was changed on any host\n",
			diags->file, diags->n_errors, diags->n_errors == 1 ? "" : "s",
			diags->n_warnings, diags->n_warnings == 1 ? "" : "s");
}
