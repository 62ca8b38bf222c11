/*
 * events.h - what a pipeline run tells the outside world while it works.
 *
 * Node workers and the coordinator describe each step as a struct
 * bs_event and hand it to one reporter (cli/cli_report.c), which shows it
 * as a live per-node display on a terminal, as timestamped lines
 * otherwise, or as one JSON object per line with --json. Reporting is
 * thread-safe: any worker may report at any time; the reporter serialises.
 *
 * Strings in an event are borrowed for the duration of the call. They are
 * never shown raw: the reporter masks registered secrets (util/log.h) in
 * every field before printing, so a reason such as "environment.TOKEN:
 * *** -> ***" stays masked even when a caller forgot.
 */
#ifndef BS_DEPLOY_EVENTS_H
#define BS_DEPLOY_EVENTS_H

enum bs_ev_kind {
	BS_EV_RUN_START,	/* verb, project, recipe file, n nodes */
	BS_EV_NODE_STAGE,	/* a node enters a stage */
	BS_EV_ACTION_PLANNED,	/* plan: what would be done, and why */
	BS_EV_ACTION_STARTED,	/* apply: an action begins */
	BS_EV_ACTION_DONE,	/* ... and ended well (ms) */
	BS_EV_ACTION_FAILED,	/* ... or failed (error) */
	BS_EV_NODE_DONE,	/* a node's work is over (counts, error) */
	BS_EV_SUMMARY,		/* the run's totals (counts, ms) */
	BS_EV_MESSAGE,		/* a remark: warnings, notes (text in reason) */
	BS_EV_CONTAINER_STATUS, /* status verb: one container as observed */
	BS_EV_RUN_ERROR,	/* the run cannot go on (error): no machines, no such node */
};

/* What a node's run did (or, for plan, would do). */
struct bs_counts {
	int created;
	int replaced;
	int updated; /* in place */
	int started;
	int removed;
	int unchanged;
	int failed;
	int other; /* networks, volumes, images, machines */
};

struct bs_event {
	enum bs_ev_kind kind;
	const char *verb;    /* RUN_START: "apply", "plan", "destroy", "status" */
	const char *project; /* RUN_START */
	const char *file;    /* RUN_START: the recipe */
	int n_nodes;	     /* RUN_START */
	const char *node;    /* NULL for run-wide events */
	/* NODE_STAGE: "machine", "ssh" (connect, the node lock for apply and
	 * destroy, Docker, the endpoint), "observe", "networks", "images",
	 * "containers", "rolling", "done" */
	const char *stage;
	/* ACTION_*: "create", "replace", "update", "start", "remove", "rename",
	 * "pull", "build", "transfer", "create-network", "create-volume",
	 * "remove-network", "remove-volume", "create-machine",
	 * "destroy-machine", "keep" (reported, not acted on: prune off) */
	const char *action;
	const char *object;	 /* the container, image, network... it acts on */
	const char *reason;	 /* why: "missing", "environment.A: 1 -> 2", ... */
	const char *error;	 /* ACTION_FAILED, NODE_DONE on failure, MESSAGE */
	long long ms;		 /* ACTION_DONE/FAILED, NODE_DONE, SUMMARY: elapsed */
	unsigned long requests;	 /* NODE_DONE, SUMMARY: Docker API requests sent */
	struct bs_counts counts; /* NODE_DONE, SUMMARY */
	/* CONTAINER_STATUS (also engine in NODE_DONE for status) */
	const char *engine; /* engine version on the node */
	const char *state;  /* running, stopped, ... */
	const char *health; /* healthy, unhealthy, starting, or NULL */
	const char *drift;  /* NULL: as declared; else what differs */
			    /* MESSAGE: the text is in reason; state is "warning" or "info" */
};

typedef void (*bs_report_fn)(const struct bs_event *ev, void *payload);

#endif
