/*
 * cli_run.c - the pipeline verbs on the command line: apply (the default),
 * plan, status, destroy.
 *
 * It loads the recipe, takes the local project lock (apply and destroy),
 * runs deploy/pipeline.c with the command's options and renders its
 * events (cli_report.c: a live display on a terminal, lines otherwise, one
 * JSON object per line with --json); the pipeline's outcome becomes the
 * exit code. Interrupts (SIGINT, SIGTERM; cli.h) set the flags the
 * pipeline watches.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_report.h"
#include "deploy/lock.h"
#include "deploy/pipeline.h"
#include "deploy/recipe.h"
#include "provision/nodelock.h"
#include "util/log.h"
#include "util/str.h"

static enum bs_report_mode report_mode(const struct bs_cli *cli)
{
	if (cli->json)
		return BS_REPORT_JSON;
	return isatty(STDOUT_FILENO) ? BS_REPORT_TTY : BS_REPORT_PLAIN;
}

/* Events go to the reporter; a run-wide error to stderr, as every
 * command's errors. */
static void on_event(const struct bs_event *ev, void *payload)
{
	/* a run error goes to stderr, and to the reporter too: the summary
	 * then says that nothing was looked at, and --json has the event */
	if (ev->kind == BS_EV_RUN_ERROR)
		bs_cli_error("%s", ev->error);
	bs_reporter_event(ev, payload);
}

/* BOOTSTRAP_ASSUME_ESP=1 (true, yes): skip the kernel check for IPsec ESP
 * (README). */
static bool assume_esp(void)
{
	const char *v = getenv("BOOTSTRAP_ASSUME_ESP");

	return v != NULL &&
	       (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0);
}

static int run_pipeline(const struct bs_cli *cli, const struct bs_recipe *recipe, const char *owner)
{
	static const enum bs_pipeline_verb verbs[] = {
		[BS_VERB_APPLY] = BS_PIPELINE_APPLY,
		[BS_VERB_PLAN] = BS_PIPELINE_PLAN,
		[BS_VERB_STATUS] = BS_PIPELINE_STATUS,
		[BS_VERB_DESTROY] = BS_PIPELINE_DESTROY,
	};
	struct bs_pipeline_opts o;
	struct bs_pipeline_result res;

	memset(&o, 0, sizeof(o));
	o.verb = verbs[cli->verb];
	o.node = cli->node;
	o.parallel = cli->parallel;
	o.timeout_ms = cli->timeout_ms;
	o.lock_wait_ms = cli->lock_wait_s * 1000;
	o.refresh = cli->refresh;
	o.volumes = cli->volumes;
	o.strict_host_keys = cli->strict_host_keys;
	o.assume_esp = assume_esp();
	o.identity = cli->identity;
	o.owner = owner;
	o.interrupted = &bs_cli_interrupted;
	o.aborted = &bs_cli_aborted;
	o.report = on_event;
	o.payload = bs_reporter_open(report_mode(cli), stdout, cli->verbosity, cli->color);
	bs_pipeline_run(recipe, &o, &res);
	bs_reporter_close(o.payload);
	switch (res.outcome) {
	case BS_PIPELINE_INTERRUPTED: return BS_EXIT_INTERRUPTED;
	case BS_PIPELINE_BAD_NODE: return BS_EXIT_USAGE;
	case BS_PIPELINE_LOCKED: return BS_EXIT_LOCKED;
	case BS_PIPELINE_FAILED: return BS_EXIT_FAILURE;
	case BS_PIPELINE_OK: break;
	}
	return cli->verb == BS_VERB_PLAN && cli->detailed_exitcode &&
			       bs_counts_any_change(&res.total)
		       ? BS_EXIT_CHANGES
		       : BS_EXIT_OK;
}

int bs_cli_run(const struct bs_cli *cli)
{
	struct bs_local_lock *lock = NULL;
	struct bs_recipe *recipe;
	struct bs_err err = BS_ERR_INIT;
	char *what, *owner;
	int code;

	if (cli->n_args != 1) {
		bs_cli_error(cli->n_args == 0
				     ? "%s needs a recipe (for example recipes/local.yaml)"
				     : "%s takes one recipe; for several, run it once per recipe",
			     bs_cli_verb_name(cli->verb));
		return BS_EXIT_USAGE;
	}
	recipe = bs_cli_load_recipe(cli, cli->args[0], &code);
	if (recipe == NULL)
		return code;
	what = bs_xasprintf("bootstrap %s %s", bs_cli_verb_name(cli->verb), cli->args[0]);
	owner = bs_lock_owner_text(what);
	bs_cli_signals_install(
		"\nbootstrap: stopping: waits end now, actions in flight finish or roll back "
		"(a second signal aborts them)\n");
	/* plan and status only look: they take no lock */
	if (cli->verb == BS_VERB_APPLY || cli->verb == BS_VERB_DESTROY) {
		int rc = bs_local_lock_acquire(&lock, bs_state_dir(), recipe->project, what, 0,
					       &bs_cli_interrupted, &err);

		if (rc == BS_ERR_LOCKED && cli->lock_wait_s > 0) {
			/* say why nothing happens yet: a wait may be long */
			bs_log(BS_LOG_INFO,
			       "project %s is locked by another run: waiting up to %lld s",
			       recipe->project, cli->lock_wait_s);
			bs_err_clear(&err);
			rc = bs_local_lock_acquire(&lock, bs_state_dir(), recipe->project, what,
						   (long)cli->lock_wait_s * 1000,
						   &bs_cli_interrupted, &err);
		}
		if (rc != 0) {
			bs_cli_error("%s", err.msg);
			code = rc == BS_ERR_LOCKED	  ? BS_EXIT_LOCKED
			       : rc == BS_ERR_INTERRUPTED ? BS_EXIT_INTERRUPTED
							  : BS_EXIT_FAILURE;
			goto out;
		}
	}
	code = run_pipeline(cli, recipe, owner);
out:
	bs_local_lock_release(lock);
	free(owner);
	free(what);
	bs_recipe_free(recipe);
	return code;
}
