/*
 * cli_prepare.c - `bootstrap prepare RECIPE` and `bootstrap -H ssh://...
 * prepare`: make nodes Docker hosts (provision/node.h) and report, per
 * node, what was found and what was done.
 *
 * provision/prepare.c prepares the nodes, at most --parallel at once;
 * this file prints each node's result as it finishes, one line (or one
 * JSON object with --json) per node, and the exit code.
 *
 * Interrupts (cli.h): the first SIGINT or SIGTERM ends the waits (SSH, the
 * node lock, cloud polls, the engine's start) and starts no other node; an
 * install or configuration in flight finishes. A second aborts it.
 */
#include <cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "deploy/recipe.h"
#include "provision/compute.h"
#include "provision/node.h"
#include "provision/prepare.h"
#include "util/log.h"
#include "util/str.h"

static const char *did_text(const struct bs_dockerhost_report *r, char *buf, size_t size)
{
	struct bs_buf b = BS_BUF_INIT;

	if (r->installed)
		bs_buf_puts(&b, "Docker installed, ");
	if (r->config_written)
		bs_buf_puts(&b, "daemon.json written, ");
	if (r->action == BS_DAEMON_RELOAD)
		bs_buf_puts(&b, "dockerd reloaded, ");
	else if (r->action == BS_DAEMON_RESTART)
		bs_buf_puts(&b, "dockerd restarted, ");
	if (r->started)
		bs_buf_puts(&b, "dockerd started, ");
	if (b.len == 0)
		bs_buf_puts(&b, "no change, ");
	b.data[b.len - 2] = '\0';
	snprintf(buf, size, "%s", b.data);
	bs_buf_free(&b);
	return buf;
}

struct printer {
	const struct bs_cli *cli;
};

static void print_job(const struct bs_prepared *j, void *payload)
{
	const struct bs_cli *cli = ((struct printer *)payload)->cli;
	const struct bs_dockerhost_report *r = &j->report;
	char did[160];

	if (cli->json) {
		cJSON *o = cJSON_CreateObject();
		char *text;

		cJSON_AddStringToObject(o, "event", "node");
		cJSON_AddStringToObject(o, "node", j->node->name);
		cJSON_AddBoolToObject(o, "ok", j->rc == 0);
		if (j->rc != 0) {
			struct bs_buf masked = BS_BUF_INIT;

			bs_secret_mask(&masked, j->err.msg);
			cJSON_AddStringToObject(o, "error", bs_buf_str(&masked));
			bs_buf_free(&masked);
		} else {
			cJSON_AddStringToObject(o, "os", r->os_id);
			cJSON_AddStringToObject(o, "os_version", r->os_version);
			cJSON_AddBoolToObject(o, "systemd", r->systemd);
			cJSON_AddStringToObject(o, "engine", j->engine);
			cJSON_AddStringToObject(o, "endpoint", j->endpoint);
			cJSON_AddBoolToObject(o, "installed", r->installed);
			cJSON_AddBoolToObject(o, "started", r->started);
			cJSON_AddBoolToObject(o, "config_written", r->config_written);
			cJSON_AddStringToObject(o, "daemon", bs_daemon_action_name(r->action));
			cJSON_AddNumberToObject(o, "commands", r->commands);
			cJSON_AddNumberToObject(o, "uploads", r->uploads);
			cJSON_AddNumberToObject(o, "ssh_attempts", j->attempts);
			cJSON_AddNumberToObject(o, "ms_ssh", (double)j->ms_ssh);
			cJSON_AddNumberToObject(o, "ms_docker", (double)j->ms_docker);
			cJSON_AddNumberToObject(o, "ms_endpoint", (double)j->ms_endpoint);
		}
		text = cJSON_PrintUnformatted(o);
		printf("%s\n", text);
		free(text);
		cJSON_Delete(o);
	} else if (j->rc != 0) {
		bs_cli_error("%s", j->err.msg);
	} else if (cli->verbosity >= 0) {
		printf("%s: ready: %s %s%s, Docker %s over %s; %s (%d commands, %d uploads, %.1f s)\n",
		       j->node->name, r->os_id, r->os_version, r->systemd ? " (systemd)" : "",
		       j->engine, j->endpoint, did_text(r, did, sizeof(did)), r->commands,
		       r->uploads, (double)(j->ms_ssh + j->ms_docker + j->ms_endpoint) / 1000);
	}
	fflush(stdout);
}

/* opts for every node, or per_node[i] for fleet->nodes[i] when given */
static int run_pool(const struct bs_cli *cli, const struct bs_fleet *fleet,
		    const struct bs_node_prepare_opts *opts,
		    const struct bs_node_prepare_opts *per_node)
{
	struct bs_prepare_opts po;
	struct bs_prepare_result res;
	struct bs_err err = BS_ERR_INIT;
	struct printer pr = {cli};
	int rc;

	memset(&po, 0, sizeof(po));
	po.only = cli->node;
	po.parallel = cli->parallel;
	po.node_opts = opts;
	po.per_node = per_node;
	po.interrupted = &bs_cli_interrupted;
	po.on_done = print_job;
	po.payload = &pr;
	rc = bs_prepare_fleet(fleet, &po, &res, &err);
	if (rc != 0) {
		bs_cli_error("%s", err.msg);
		return rc == BS_ERR_NOT_FOUND ? BS_EXIT_USAGE : BS_EXIT_FAILURE;
	}
	if (!cli->json && cli->verbosity >= 0 && res.selected > 1)
		printf("%zu of %zu nodes ready\n",
		       res.selected - res.failed - (res.selected - res.finished), res.selected);
	if (bs_cli_interrupted)
		return BS_EXIT_INTERRUPTED;
	if (res.failed > 0)
		return res.locked ? BS_EXIT_LOCKED : BS_EXIT_FAILURE; /* as apply */
	return BS_EXIT_OK;
}

/* -H ssh://USER@HOST[:PORT] prepare: that host, the default settings. */
static int prepare_url(const struct bs_cli *cli, const char *url,
		       const struct bs_node_prepare_opts *opts)
{
	struct bs_fleet r;
	struct bs_node n;
	struct bs_ssh_url u;
	struct bs_err err = BS_ERR_INIT;
	int code;

	if (bs_ssh_url_parse(url, &u, &err) != 0) {
		bs_cli_error("%s", err.msg);
		return BS_EXIT_USAGE;
	}
	memset(&r, 0, sizeof(r));
	memset(&n, 0, sizeof(n));
	r.file = url;
	r.project = "default";
	r.provider.type = BS_PROVIDER_STATIC;
	r.ssh.connect_timeout_ms = 10000;
	r.ssh.wait_timeout_ms = 60000;
	r.ssh.host_keys = BS_HOST_KEYS_ACCEPT_NEW;
	r.docker.install = BS_DOCKER_INSTALL_AUTO;
	r.docker.package = (char *)"docker.io";
	r.docker.endpoint = BS_DOCKER_ENDPOINT_SSH;
	r.docker.tls_port = 2376;
	n.name = u.host;
	n.group = u.host;
	n.address = u.host;
	n.port = u.port;
	n.user = u.user;
	r.nodes = &n;
	r.n_nodes = 1;
	code = run_pool(cli, &r, opts, NULL);
	bs_ssh_url_free(&u);
	return code;
}

/* provider local (and the clouds): find or create the machines, then
 * prepare each at the address the provider gives it. */
static int prepare_machines(const struct bs_cli *cli, const struct bs_recipe *recipe,
			    const struct bs_node_prepare_opts *opts)
{
	struct bs_compute_opts copts;
	struct bs_compute *c = NULL;
	struct bs_compute_report rep;
	struct bs_machine_list ml = {0};
	struct bs_err err = BS_ERR_INIT;
	struct bs_fleet fleet, view;
	struct bs_node *nodes = NULL;
	struct bs_node_prepare_opts *per_node = NULL;
	char **tags = NULL;
	char *pub, *fingerprint;
	int code = BS_EXIT_FAILURE;

	bs_recipe_fleet(recipe, &fleet);
	pub = bs_node_public_key(&fleet, cli->identity, &err);
	if (pub == NULL) {
		bs_cli_error("%s", err.msg);
		return BS_EXIT_USAGE;
	}
	memset(&copts, 0, sizeof(copts));
	fingerprint = bs_ssh_key_fingerprint(pub);
	copts.ssh_public_key = pub;
	copts.ssh_key_fingerprint = fingerprint;
	copts.state_dir = bs_state_dir();
	copts.cancel = &bs_cli_interrupted;
	if (bs_compute_open(&c, &fleet, &copts, &err) != 0 ||
	    bs_compute_ensure(c, cli->node, &ml, &rep, &err) != 0) {
		bs_cli_error("%s", err.msg);
		code = err.code == BS_ERR_UNSUPPORTED ? BS_EXIT_UNAVAILABLE : BS_EXIT_FAILURE;
		goto out;
	}
	if (!cli->json && cli->verbosity >= 0)
		printf("%s: %d machine(s) found, %d created%s\n", c->ops->name, rep.found,
		       rep.created,
		       rep.extra ? " (some machines of this project are no longer in the recipe)"
				 : "");
	/* the recipe's nodes, at the addresses the machines have */
	view = fleet;
	nodes = bs_xcalloc(ml.n ? ml.n : 1, sizeof(*nodes));
	per_node = bs_xcalloc(ml.n ? ml.n : 1, sizeof(*per_node));
	tags = bs_xcalloc(ml.n ? ml.n : 1, sizeof(*tags));
	view.n_nodes = 0;
	for (size_t i = 0; i < ml.n; i++) {
		for (size_t j = 0; j < recipe->n_nodes; j++) {
			struct bs_node_prepare_opts *o = &per_node[view.n_nodes];

			if (strcmp(recipe->nodes[j].name, ml.v[i].name) != 0)
				continue;
			nodes[view.n_nodes] = recipe->nodes[j];
			nodes[view.n_nodes].address = ml.v[i].ssh_host;
			nodes[view.n_nodes].port = ml.v[i].ssh_port;
			/* only a machine just made or powered on is waited for */
			*o = *opts;
			bs_node_machine_opts(o, c, &ml.v[i], &tags[view.n_nodes]);
			view.n_nodes++;
		}
	}
	view.nodes = nodes;
	code = view.n_nodes > 0 ? run_pool(cli, &view, opts, per_node) : BS_EXIT_OK;
out:
	for (size_t i = 0; tags != NULL && i < ml.n; i++)
		free(tags[i]);
	free(tags);
	free(per_node);
	free(nodes);
	bs_machine_list_free(&ml);
	if (c != NULL)
		c->ops->free(c);
	free(fingerprint);
	free(pub);
	return code;
}

static int prepare_main(const struct bs_cli *cli, const struct bs_node_prepare_opts *popts)
{
	struct bs_node_prepare_opts opts = *popts;
	struct bs_recipe *recipe;
	struct bs_fleet fleet;
	struct bs_err err = BS_ERR_INIT;
	const char *url = cli->host;
	int code;

	if (cli->n_args == 0 && url != NULL) {
		if (!bs_str_starts_with(url, "ssh://")) {
			bs_cli_error("prepare works over SSH: write -H ssh://USER@HOST[:PORT]");
			return BS_EXIT_USAGE;
		}
		return prepare_url(cli, url, &opts);
	}
	if (cli->n_args != 1) {
		bs_cli_error(
			"prepare takes one recipe (bootstrap prepare recipes/static.yaml), or -H ssh://USER@HOST without one");
		return BS_EXIT_USAGE;
	}
	if (url != NULL) {
		bs_cli_error("prepare takes a recipe or -H ssh://..., not both");
		return BS_EXIT_USAGE;
	}
	recipe = bs_cli_load_recipe(cli, cli->args[0], &code);
	if (recipe == NULL)
		return code;
	bs_recipe_fleet(recipe, &fleet);
	if (bs_node_tls_init(&fleet, &err) != 0) {
		bs_cli_error("%s", err.msg);
		bs_recipe_free(recipe);
		return BS_EXIT_FAILURE;
	}
	if (recipe->provider.type == BS_PROVIDER_ENGINE) {
		bs_cli_error("%s: prepare makes SSH hosts Docker hosts; provider engine's engines "
			     "are used as they are (run bootstrap apply)",
			     recipe->file);
		code = BS_EXIT_USAGE;
	} else if (recipe->provider.type == BS_PROVIDER_STATIC)
		code = run_pool(cli, &fleet, &opts, NULL);
	else
		code = prepare_machines(cli, recipe, &opts);
	bs_recipe_free(recipe);
	return code;
}

int bs_cli_prepare(const struct bs_cli *cli)
{
	struct bs_node_prepare_opts opts;
	struct bs_nodelock_opts lock = BS_NODELOCK_OPTS_INIT;
	char *owner;
	int code;

	bs_cli_signals_install(
		"\nbootstrap: stopping: waits end now, a node's install or configuration in "
		"flight finishes (a second signal aborts it)\n");
	memset(&opts, 0, sizeof(opts));
	opts.strict_host_keys = cli->strict_host_keys;
	opts.key_override = cli->identity;
	opts.cancel = &bs_cli_aborted;
	opts.interrupt = &bs_cli_interrupted;
	if (cli->timeout_ms > 0)
		opts.command_timeout_ms = (long)cli->timeout_ms;
	/* Docker is installed and configured under the node lock */
	owner = bs_lock_owner_text("bootstrap prepare");
	lock.owner = owner;
	lock.wait_ms = (long)cli->lock_wait_s * 1000;
	lock.cancel = &bs_cli_interrupted;
	opts.lock = &lock;
	code = prepare_main(cli, &opts);
	free(owner);
	return code;
}
