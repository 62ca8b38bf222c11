/*
 * cli_output.c - what the tool prints on the terminal: the logger's sink
 * (levels, colour only on a TTY and never with NO_COLOR) and recipe
 * diagnostics.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "util/log.h"

static bool use_color;

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
	if (level == BS_LOG_INFO) {
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
	if (use_color)
		fprintf(stderr, "\033[1;31mbootstrap: error:\033[0m %s\n", line);
	else
		fprintf(stderr, "bootstrap: error: %s\n", line);
}

void bs_cli_print_diags(const struct bs_cli *cli, const struct bs_diags *diags)
{
	size_t i;

	if (cli->verbosity < 0 && diags->n_errors == 0)
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
