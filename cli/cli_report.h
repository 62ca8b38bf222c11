/*
 * cli_report.h - the run reporter: shows the struct bs_event stream of a
 * pipeline verb (apply, plan, destroy, status) to a person or a script.
 *
 * Three renderings of the same events:
 *   BS_REPORT_JSON   one compact JSON object per line, flushed per line
 *                    (--json; the schema is at the top of cli_report.c);
 *   BS_REPORT_TTY    a live block with one line per node, redrawn in place,
 *                    with permanent lines (plan, failures, notes) above it;
 *   BS_REPORT_PLAIN  timestamped lines, for CI logs and pipes.
 *
 * Every string of an event is masked (bs_secret_mask) before it is shown.
 *
 * Threads: bs_reporter_open and bs_reporter_close on the main thread;
 * bs_reporter_event from any thread at any time in between (one mutex).
 * In TTY mode the reporter runs its own ticker thread between open and
 * close. out stays the caller's; the reporter is freed by close.
 */
#ifndef BS_CLI_REPORT_H
#define BS_CLI_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "deploy/events.h"

enum bs_report_mode {
	BS_REPORT_JSON,
	BS_REPORT_TTY,
	BS_REPORT_PLAIN,
};

struct bs_reporter;

/* verbosity: <0 quiet, 0 normal, >0 verbose (ignored by JSON, which shows
 * every event). color: ANSI colours in TTY and PLAIN modes. Quiet TTY
 * output is rendered as PLAIN (no live block). Never returns NULL. */
struct bs_reporter *bs_reporter_open(enum bs_report_mode mode, FILE *out, int verbosity,
				     bool color);
/* A bs_report_fn: payload is the struct bs_reporter. */
void bs_reporter_event(const struct bs_event *ev, void *payload);
/* Stop the ticker, final redraw and summary, flush, free. Accepts NULL. */
void bs_reporter_close(struct bs_reporter *r);

#endif
