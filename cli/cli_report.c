/*
 * cli_report.c - the run reporter (cli_report.h): the events of a pipeline
 * run as JSON lines, as a live per-node display, or as timestamped lines.
 *
 * JSON schema (--json). One compact object per line, flushed per line;
 * scripts depend on it, so keys are only ever added:
 *   "event"    "run_start" | "node_stage" | "action_planned" |
 *              "action_started" | "action_done" | "action_failed" |
 *              "node_done" | "summary" | "message" | "container_status"
 *   "time"     when the reporter saw it, RFC 3339 UTC with milliseconds,
 *              e.g. "2024-05-01T12:00:03.042Z"
 *   "verb", "project", "file"   run_start ("apply", "plan", "destroy",
 *              "status")
 *   "nodes"    run_start: the number of nodes (always present there)
 *   "node"     the node; absent for run-wide events
 *   "stage"    node_stage ("machine", "ssh", "docker", ... "done")
 *   "action", "object", "reason"   action_*: what is (or would be) done,
 *              to which container/image/network/..., and why
 *   "error"    action_failed; node_done when the node failed
 *   "ms"       action_done, action_failed, node_done, summary: elapsed
 *              milliseconds (always present there)
 *   "requests" node_done, summary: Docker Engine API requests sent (to the
 *              node's engine, and the local one for image copies; always
 *              present there)
 *   "counts"   node_done, summary (always present there): {"created",
 *              "replaced", "updated", "started", "removed", "unchanged",
 *              "failed", "other"}, integers; for plan, what would be done
 *   "engine", "state", "health", "drift"   container_status (engine also
 *              in node_done for status); message: "state" is "warning" or
 *              "info" and the text is in "reason"
 * A string key is present only when the event sets it. Every string is
 * masked: a registered secret shows as "***". JSON ignores verbosity.
 *
 * TTY mode keeps one line per node (name, elapsed seconds, stage, current
 * action) at the bottom of the terminal and redraws it in place, at most
 * ten times a second, and once a second from a ticker thread so elapsed
 * times move. Permanent lines (plan, failures, messages) are printed above
 * it: clear the block, print, redraw. Live lines are cut to the terminal
 * width so that the cursor-up arithmetic stays right; permanent lines are
 * not (an error is worth a wrapped line).
 *
 * Everything runs under r->lock; strings are masked (and, for people,
 * stripped of control characters) before the lock is taken.
 */
#include "cli/cli_report.h"

#include <cJSON.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/log.h"
#include "util/str.h"

#define RED "\033[31m"
#define GREEN "\033[32m"
#define YELLOW "\033[33m"
#define REDRAW_MS 100

struct node_line {
	char *name, *stage, *action, *object, *error, *engine;
	long long start_ms, end_ms;
	bool done;
	struct bs_counts counts;
	int machine_removed, machine_failed; /* destroy-machine after node_done */
};

struct bs_reporter {
	pthread_mutex_t lock;
	pthread_cond_t wake; /* stops the ticker */
	pthread_t ticker;
	bool ticking, stopping;
	enum bs_report_mode mode;
	FILE *out;
	int verbosity;
	bool color;
	bool live; /* TTY mode until close: the block is on screen */
	int drawn; /* lines of the block now on screen */
	bool dirty;
	long long drawn_ms;
	char *verb;
	int n_declared; /* RUN_START's n_nodes */
	bool started, have_summary;
	bool run_error; /* the run failed as a whole (no token, no lock...) */
	struct bs_counts total;
	long long open_ms, total_ms;
	struct node_line *nodes;
	size_t n_nodes, cap_nodes;
	int name_width;
};

static const size_t string_fields[] = {
	offsetof(struct bs_event, verb),   offsetof(struct bs_event, project),
	offsetof(struct bs_event, file),   offsetof(struct bs_event, node),
	offsetof(struct bs_event, stage),  offsetof(struct bs_event, action),
	offsetof(struct bs_event, object), offsetof(struct bs_event, reason),
	offsetof(struct bs_event, error),  offsetof(struct bs_event, engine),
	offsetof(struct bs_event, state),  offsetof(struct bs_event, health),
	offsetof(struct bs_event, drift),
};
#define N_STRING_FIELDS (sizeof(string_fields) / sizeof(string_fields[0]))

/* An event whose strings are masked copies, owned here. */
struct masked_event {
	struct bs_event ev;
	char *owned[N_STRING_FIELDS];
};

static void mask_event(struct masked_event *m, const struct bs_event *in, bool one_line)
{
	size_t i;

	m->ev = *in;
	for (i = 0; i < N_STRING_FIELDS; i++) {
		const char **field = (const char **)((char *)&m->ev + string_fields[i]);
		struct bs_buf b = BS_BUF_INIT;
		char *p;

		m->owned[i] = NULL;
		if (*field == NULL)
			continue;
		bs_secret_mask(&b, *field);
		m->owned[i] = bs_buf_detach(&b);
		for (p = m->owned[i]; one_line && *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = ' ';
		*field = m->owned[i];
	}
}

static void masked_event_free(struct masked_event *m)
{
	size_t i;

	for (i = 0; i < N_STRING_FIELDS; i++)
		free(m->owned[i]);
}

static void set_str(char **dst, const char *src)
{
	free(*dst);
	*dst = src ? bs_xstrdup(src) : NULL;
}

static bool is_plan(const struct bs_reporter *r)
{
	return r->verb != NULL && strcmp(r->verb, "plan") == 0;
}

static struct node_line *find_node(struct bs_reporter *r, const char *name)
{
	struct node_line *n;
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < r->n_nodes; i++)
		if (strcmp(r->nodes[i].name, name) == 0)
			return &r->nodes[i];
	bs_xgrow((void **)&r->nodes, &r->cap_nodes, r->n_nodes + 1, sizeof(*r->nodes));
	n = &r->nodes[r->n_nodes++];
	memset(n, 0, sizeof(*n));
	n->name = bs_xstrdup(name);
	n->start_ms = bs_now_ms();
	if ((int)strlen(name) > r->name_width)
		r->name_width = (int)strlen(name);
	return n;
}

/* A node's counts with its machine, destroyed after its node_done. */
static struct bs_counts node_counts(const struct node_line *n)
{
	struct bs_counts c = n->counts;

	c.removed += n->machine_removed;
	c.failed += n->machine_failed;
	return c;
}

/* "1 created, 2 unchanged"; all: the core four even when zero. */
static void put_counts(struct bs_buf *b, const struct bs_counts *c, bool plan, bool all)
{
	const struct {
		int n;
		const char *past, *future;
		bool core;
	} f[] = {
		{c->created, "created", "to create", true},
		{c->replaced, "replaced", "to replace", true},
		{c->updated, "updated", "to update", true},
		{c->started, "started", "to start", false},
		{c->removed, "removed", "to remove", false},
		{c->unchanged, "unchanged", "unchanged", true},
		{c->failed, "failed", "failed", false},
		{c->other, "other", "other", false},
	};
	size_t i;
	int shown = 0;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (f[i].n == 0 && !(all && f[i].core))
			continue;
		bs_buf_printf(b, "%s%d %s", shown++ ? ", " : "", f[i].n,
			      plan ? f[i].future : f[i].past);
	}
	if (shown == 0)
		bs_buf_puts(b, "no changes");
}

static const char *on(const struct bs_reporter *r, const char *color)
{
	return r->color && color ? color : "";
}

static const char *off(const struct bs_reporter *r, const char *color)
{
	return r->color && color ? "\033[0m" : "";
}

static int term_width(FILE *out)
{
	struct winsize ws;

	if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 100;
}

/* Cut b to columns characters (UTF-8 aware; a character is one column). */
static void truncate_columns(struct bs_buf *b, int columns)
{
	size_t i;
	int col = 0;

	for (i = 0; i < b->len; i++) {
		if (((unsigned char)b->data[i] & 0xC0) == 0x80)
			continue;
		if (col++ == columns) {
			b->data[i] = '\0';
			b->len = i;
			return;
		}
	}
}

static void draw_block(struct bs_reporter *r)
{
	int width = term_width(r->out);
	long long now = bs_now_ms();
	size_t i;

	if (r->drawn > 0)
		fprintf(r->out, "\033[%dA", r->drawn);
	for (i = 0; i < r->n_nodes; i++) {
		const struct node_line *n = &r->nodes[i];
		struct bs_buf b = BS_BUF_INIT;
		const char *color = NULL;

		bs_buf_printf(&b, "%-*s %4llds  ", r->name_width, n->name,
			      ((n->done ? n->end_ms : now) - n->start_ms) / 1000);
		if (n->done && n->error) {
			bs_buf_printf(&b, "failed: %s", n->error);
			color = RED;
		} else if (n->done) {
			struct bs_counts c = node_counts(n);

			bs_buf_puts(&b, "done: ");
			put_counts(&b, &c, is_plan(r), false);
			color = GREEN;
		} else {
			bs_buf_puts(&b, n->stage ? n->stage : "starting");
			if (n->action)
				bs_buf_printf(&b, ": %s %s", n->action, n->object ? n->object : "");
		}
		if (n->engine)
			bs_buf_printf(&b, " (engine %s)", n->engine);
		truncate_columns(&b, width - 1);
		fprintf(r->out, "\r\033[2K%s%s%s\n", on(r, color), bs_buf_str(&b), off(r, color));
		bs_buf_free(&b);
	}
	r->drawn = (int)r->n_nodes;
	r->dirty = false;
	r->drawn_ms = now;
	fflush(r->out);
}

/* A permanent line; in TTY mode above the live block. */
static void put_line(struct bs_reporter *r, const char *color, struct bs_buf *line)
{
	if (r->live && r->drawn > 0) {
		fprintf(r->out, "\033[%dA\r\033[J", r->drawn);
		r->drawn = 0;
	}
	fprintf(r->out, "%s%s%s\n", on(r, color), bs_buf_str(line), off(r, color));
	bs_buf_reset(line);
	if (r->live)
		draw_block(r);
	else
		fflush(r->out);
}

/* "12:00:03 node-1  " in PLAIN mode, "node-1  " otherwise. */
static void put_prefix(struct bs_reporter *r, struct bs_buf *b, const char *node)
{
	if (r->mode == BS_REPORT_PLAIN) {
		time_t t = time(NULL);
		struct tm tm;
		char stamp[16];

		localtime_r(&t, &tm);
		strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
		bs_buf_printf(b, "%s ", stamp);
	}
	if (node)
		bs_buf_printf(b, "%-*s  ", r->name_width, node);
}

static const char *plan_symbol(const char *action)
{
	if (action == NULL)
		return "~";
	if (strcmp(action, "replace") == 0)
		return "-/+";
	if (strcmp(action, "keep") == 0)
		return "=";
	if (bs_str_starts_with(action, "create"))
		return "+";
	if (bs_str_starts_with(action, "remove") || bs_str_starts_with(action, "destroy"))
		return "-";
	return "~";
}

static void human_event(struct bs_reporter *r, const struct bs_event *ev)
{
	struct node_line *n = find_node(r, ev->node);
	const char *verb = r->verb ? r->verb : "run";
	const char *object = ev->object ? ev->object : "";
	bool plain = r->mode == BS_REPORT_PLAIN, normal = r->verbosity >= 0;
	struct bs_buf b = BS_BUF_INIT;

	switch (ev->kind) {
	case BS_EV_RUN_START:
		set_str(&r->verb, ev->verb);
		r->n_declared = ev->n_nodes;
		r->started = true;
		if (!normal)
			break;
		put_prefix(r, &b, NULL);
		bs_buf_printf(&b, "%s %s (%s): %d node%s", ev->verb ? ev->verb : "run",
			      ev->project ? ev->project : "", ev->file ? ev->file : "", ev->n_nodes,
			      ev->n_nodes == 1 ? "" : "s");
		put_line(r, NULL, &b);
		break;
	case BS_EV_NODE_STAGE:
		if (n)
			set_str(&n->stage, ev->stage);
		if (!plain || r->verbosity <= 0)
			break;
		put_prefix(r, &b, ev->node);
		bs_buf_printf(&b, "stage %s", ev->stage ? ev->stage : "");
		put_line(r, NULL, &b);
		break;
	case BS_EV_ACTION_PLANNED:
		if (!normal)
			break;
		bs_buf_printf(&b, "%s: %s %s %s", ev->node ? ev->node : verb,
			      plan_symbol(ev->action), ev->action ? ev->action : "", object);
		if (ev->reason)
			bs_buf_printf(&b, ": %s", ev->reason);
		put_line(r, ev->action && strcmp(ev->action, "keep") == 0 ? NULL : YELLOW, &b);
		break;
	case BS_EV_ACTION_STARTED:
		if (n) {
			set_str(&n->action, ev->action);
			set_str(&n->object, ev->object);
		}
		if (!plain || !normal)
			break;
		put_prefix(r, &b, ev->node);
		bs_buf_printf(&b, "%s: %s %s", verb, ev->action ? ev->action : "", object);
		if (ev->reason)
			bs_buf_printf(&b, " (%s)", ev->reason);
		put_line(r, NULL, &b);
		break;
	case BS_EV_ACTION_DONE:
	case BS_EV_ACTION_FAILED:
		if (n) {
			set_str(&n->action, NULL);
			set_str(&n->object, NULL);
		}
		/* a machine goes after its node's work is done: its line counts it,
		 * as the summary does */
		if (n && ev->action != NULL && strcmp(ev->action, "destroy-machine") == 0) {
			if (ev->kind == BS_EV_ACTION_DONE)
				n->machine_removed++;
			else
				n->machine_failed++;
		}
		if (ev->kind == BS_EV_ACTION_DONE && !(plain && r->verbosity > 0))
			break;
		put_prefix(r, &b, ev->node);
		if (ev->kind == BS_EV_ACTION_DONE)
			bs_buf_printf(&b, "%s: %s %s done in %.1f s", verb,
				      ev->action ? ev->action : "", object, ev->ms / 1000.0);
		else
			bs_buf_printf(&b, "error: %s %s failed: %s", ev->action ? ev->action : "",
				      object, ev->error ? ev->error : "unknown error");
		put_line(r, ev->kind == BS_EV_ACTION_FAILED ? RED : NULL, &b);
		break;
	case BS_EV_NODE_DONE:
		if (n) {
			n->done = true;
			n->end_ms = bs_now_ms();
			n->counts = ev->counts;
			set_str(&n->error, ev->error);
			set_str(&n->engine, ev->engine);
		}
		if (ev->error == NULL && !(plain && normal))
			break;
		put_prefix(r, &b, ev->node);
		if (ev->error) {
			bs_buf_printf(&b, "error: %s", ev->error);
		} else {
			struct bs_counts zero = {0};

			bs_buf_puts(&b, "done: ");
			/* destroy: the machine may go next, counted on its own line */
			if (r->verb != NULL && strcmp(r->verb, "destroy") == 0 &&
			    memcmp(&ev->counts, &zero, sizeof(zero)) == 0)
				bs_buf_puts(&b, "nothing on it to remove");
			else
				put_counts(&b, &ev->counts, is_plan(r), false);
			bs_buf_printf(&b, " in %.1f s", ev->ms / 1000.0);
			if (ev->engine)
				bs_buf_printf(&b, " (engine %s)", ev->engine);
		}
		put_line(r, ev->error ? RED : GREEN, &b);
		break;
	case BS_EV_SUMMARY:
		r->have_summary = true;
		r->total = ev->counts;
		r->total_ms = ev->ms;
		break;
	case BS_EV_MESSAGE:
		if (!normal)
			break;
		put_prefix(r, &b, ev->node);
		if (ev->object != NULL && ev->state != NULL && strcmp(ev->state, "output") == 0)
			bs_buf_printf(&b, "%s | %s", ev->object, ev->reason ? ev->reason : "");
		else if (ev->object != NULL)
			bs_buf_printf(&b, "%s %s: %s", ev->object, ev->state ? ev->state : "info",
				      ev->reason ? ev->reason : "");
		else
			bs_buf_printf(&b, "%s: %s", ev->state ? ev->state : "info",
				      ev->reason  ? ev->reason
				      : ev->error ? ev->error
						  : "");
		put_line(r, ev->state && strcmp(ev->state, "warning") == 0 ? YELLOW : NULL, &b);
		break;
	case BS_EV_RUN_ERROR: /* cli_run.c says it on stderr */ r->run_error = true; break;
	case BS_EV_CONTAINER_STATUS:
		if (!normal)
			break;
		put_prefix(r, &b, ev->node);
		bs_buf_printf(&b, "%s: %s", object, ev->state ? ev->state : "unknown");
		if (ev->health)
			bs_buf_printf(&b, ", %s", ev->health);
		if (ev->drift)
			bs_buf_printf(&b, "; drift: %s", ev->drift);
		put_line(r, ev->drift ? YELLOW : NULL, &b);
		break;
	}
	bs_buf_free(&b);
	r->dirty = true;
	if (r->live && bs_now_ms() - r->drawn_ms >= REDRAW_MS)
		draw_block(r);
}

static void put_summary(struct bs_reporter *r)
{
	bool plan = is_plan(r), all = r->verb == NULL || plan || strcmp(r->verb, "apply") == 0;
	int n_nodes = r->n_declared > 0 ? r->n_declared : (int)r->n_nodes;
	struct bs_buf b = BS_BUF_INIT;
	size_t i;

	if (!r->started && !r->have_summary)
		return;
	if (!r->have_summary) {
		memset(&r->total, 0, sizeof(r->total));
		for (i = 0; i < r->n_nodes; i++) {
			struct bs_counts nc = node_counts(&r->nodes[i]);
			const struct bs_counts *c = &nc;

			r->total.created += c->created;
			r->total.replaced += c->replaced;
			r->total.updated += c->updated;
			r->total.started += c->started;
			r->total.removed += c->removed;
			r->total.unchanged += c->unchanged;
			r->total.failed += c->failed;
			r->total.other += c->other;
		}
		r->total_ms = bs_now_ms() - r->open_ms;
	}
	for (i = 0; r->mode == BS_REPORT_PLAIN && r->verbosity >= 0 && i < r->n_nodes; i++) {
		struct bs_counts c = node_counts(&r->nodes[i]);

		bs_buf_printf(&b, "%s: ", r->nodes[i].name);
		put_counts(&b, &c, plan, all);
		put_line(r, NULL, &b);
	}
	if (r->run_error && r->n_nodes == 0) {
		/* nothing was looked at: no figures that look like a result */
		bs_buf_printf(&b, "%s: stopped before any node was looked at; nothing was %s",
			      plan ? "Plan" : (r->verb ? r->verb : "run"),
			      plan ? "planned" : "changed");
		put_line(r, RED, &b);
		bs_buf_free(&b);
		return;
	}
	if (plan) {
		bs_buf_puts(&b, "Plan: ");
		put_counts(&b, &r->total, true, true);
		bs_buf_printf(&b, " (%d node%s, %.1f s)", n_nodes, n_nodes == 1 ? "" : "s",
			      r->total_ms / 1000.0);
	} else {
		bs_buf_printf(&b, "%s: %d node%s, ", r->verb ? r->verb : "run", n_nodes,
			      n_nodes == 1 ? "" : "s");
		put_counts(&b, &r->total, false, all);
		bs_buf_printf(&b, " in %.1f s", r->total_ms / 1000.0);
	}
	put_line(r, r->total.failed > 0 ? RED : NULL, &b);
	bs_buf_free(&b);
}

static void json_add_str(cJSON *o, const char *key, const char *value)
{
	if (value != NULL)
		cJSON_AddStringToObject(o, key, value);
}

static void json_event(struct bs_reporter *r, const struct bs_event *ev)
{
	static const char *const names[] = {
		"run_start",   "node_stage",	   "action_planned", "action_started",
		"action_done", "action_failed",	   "node_done",	     "summary",
		"message",     "container_status", "run_error",
	};
	enum bs_ev_kind k = ev->kind;
	cJSON *o = cJSON_CreateObject(), *c;
	struct timespec ts;
	struct tm tm;
	char stamp[40], *text;
	size_t len;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	len = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + len, sizeof(stamp) - len, ".%03ldZ", ts.tv_nsec / 1000000);
	cJSON_AddStringToObject(
		o, "event", (size_t)k < sizeof(names) / sizeof(names[0]) ? names[k] : "unknown");
	cJSON_AddStringToObject(o, "time", stamp);
	json_add_str(o, "verb", ev->verb);
	json_add_str(o, "project", ev->project);
	json_add_str(o, "file", ev->file);
	if (k == BS_EV_RUN_START)
		cJSON_AddNumberToObject(o, "nodes", ev->n_nodes);
	json_add_str(o, "node", ev->node);
	json_add_str(o, "stage", ev->stage);
	json_add_str(o, "action", ev->action);
	json_add_str(o, "object", ev->object);
	json_add_str(o, "reason", ev->reason);
	json_add_str(o, "error", ev->error);
	json_add_str(o, "engine", ev->engine);
	json_add_str(o, "state", ev->state);
	json_add_str(o, "health", ev->health);
	json_add_str(o, "drift", ev->drift);
	if (k == BS_EV_ACTION_DONE || k == BS_EV_ACTION_FAILED || k == BS_EV_NODE_DONE ||
	    k == BS_EV_SUMMARY)
		cJSON_AddNumberToObject(o, "ms", (double)ev->ms);
	if (k == BS_EV_NODE_DONE || k == BS_EV_SUMMARY) {
		cJSON_AddNumberToObject(o, "requests", (double)ev->requests);
		c = cJSON_AddObjectToObject(o, "counts");
		cJSON_AddNumberToObject(c, "created", ev->counts.created);
		cJSON_AddNumberToObject(c, "replaced", ev->counts.replaced);
		cJSON_AddNumberToObject(c, "updated", ev->counts.updated);
		cJSON_AddNumberToObject(c, "started", ev->counts.started);
		cJSON_AddNumberToObject(c, "removed", ev->counts.removed);
		cJSON_AddNumberToObject(c, "unchanged", ev->counts.unchanged);
		cJSON_AddNumberToObject(c, "failed", ev->counts.failed);
		cJSON_AddNumberToObject(c, "other", ev->counts.other);
	}
	text = cJSON_PrintUnformatted(o);
	if (text != NULL) {
		fprintf(r->out, "%s\n", text);
		fflush(r->out);
	}
	free(text);
	cJSON_Delete(o);
}

void bs_reporter_event(const struct bs_event *ev, void *payload)
{
	struct bs_reporter *r = payload;
	struct masked_event m;

	if (r == NULL || ev == NULL)
		return;
	mask_event(&m, ev, r->mode != BS_REPORT_JSON);
	pthread_mutex_lock(&r->lock);
	if (r->mode == BS_REPORT_JSON)
		json_event(r, &m.ev);
	else
		human_event(r, &m.ev);
	pthread_mutex_unlock(&r->lock);
	masked_event_free(&m);
}

/* Redraws the block when an event left it stale, and every second. */
static void *ticker_main(void *arg)
{
	struct bs_reporter *r = arg;

	pthread_mutex_lock(&r->lock);
	while (!r->stopping) {
		struct timespec ts;
		long long now;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += REDRAW_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&r->wake, &r->lock, &ts);
		now = bs_now_ms();
		if (!r->stopping && r->n_nodes > 0 &&
		    ((r->dirty && now - r->drawn_ms >= REDRAW_MS) || now - r->drawn_ms >= 1000))
			draw_block(r);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

struct bs_reporter *bs_reporter_open(enum bs_report_mode mode, FILE *out, int verbosity, bool color)
{
	struct bs_reporter *r = bs_xcalloc(1, sizeof(*r));
	pthread_condattr_t attr;

	r->mode = mode == BS_REPORT_TTY && verbosity < 0 ? BS_REPORT_PLAIN : mode;
	r->out = out;
	r->verbosity = verbosity;
	r->color = color && mode != BS_REPORT_JSON;
	r->live = r->mode == BS_REPORT_TTY;
	r->open_ms = bs_now_ms();
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&r->wake, &attr);
	pthread_condattr_destroy(&attr);
	if (r->live)
		r->ticking = pthread_create(&r->ticker, NULL, ticker_main, r) == 0;
	return r;
}

void bs_reporter_close(struct bs_reporter *r)
{
	size_t i;

	if (r == NULL)
		return;
	if (r->ticking) {
		pthread_mutex_lock(&r->lock);
		r->stopping = true;
		pthread_cond_signal(&r->wake);
		pthread_mutex_unlock(&r->lock);
		pthread_join(r->ticker, NULL);
	}
	pthread_mutex_lock(&r->lock);
	if (r->live) {
		draw_block(r);
		r->live = false; /* the final block stays; the summary goes below */
	}
	if (r->mode != BS_REPORT_JSON)
		put_summary(r);
	fflush(r->out);
	pthread_mutex_unlock(&r->lock);
	for (i = 0; i < r->n_nodes; i++) {
		struct node_line *n = &r->nodes[i];

		free(n->name);
		free(n->stage);
		free(n->action);
		free(n->object);
		free(n->error);
		free(n->engine);
	}
	free(r->nodes);
	free(r->verb);
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->lock);
	free(r);
}
