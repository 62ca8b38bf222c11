/*
 * cli_container.c - the container commands against one engine (-H URL or
 * $DOCKER_HOST): build, create, list, images, pull, remove and NAME/OP.
 * On a swarm manager, list shows the services too, and inspect, logs and
 * remove take a service's name where no container has it.
 *
 * Human tables by default, --json for scripts. Every failure message names
 * the container and the engine (the driver's error text does).
 */
#include <cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "container/context.h"
#include "container/driver.h"
#include "container/registry.h"
#include "deploy/recipe.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/str.h"
#include "util/units.h"
#include "util/url.h"

int bs_cli_exit_for_error(int rc)
{
	if (rc == BS_ERR_INTERRUPTED)
		return BS_EXIT_INTERRUPTED;
	if (rc == BS_ERR_INVALID)
		return BS_EXIT_USAGE;
	return BS_EXIT_FAILURE;
}

static int open_engine(const struct bs_cli *cli, struct bs_endpoint *ep, struct bs_cdriver **d,
		       struct bs_cli_ssh *ssh)
{
	struct bs_cdriver_opts opts = BS_CDRIVER_OPTS_INIT;
	struct bs_err err = BS_ERR_INIT;
	const char *url = cli->host ? cli->host : getenv("DOCKER_HOST");
	int rc;

	if (url != NULL && bs_str_starts_with(url, "ssh://")) {
		int code = bs_cli_ssh_open(cli, url, &bs_cli_interrupted, ssh, ep);

		if (code != BS_EXIT_OK)
			return code;
		ssh->verbose = cli->verbosity > 0;
	} else {
		rc = bs_endpoint_parse(ep, url, NULL, &err);
		if (rc != 0) {
			bs_cli_error("%s", err.msg);
			return rc == BS_ERR_INVALID ? BS_EXIT_USAGE : BS_EXIT_UNAVAILABLE;
		}
	}
	ep->tls_skip_verify = cli->tls_skip_verify;
	/* one call at a time: the first signal stops it, wait or not */
	opts.cancel = &bs_cli_interrupted;
	opts.interrupt = &bs_cli_interrupted;
	if (cli->timeout_ms > 0) {
		opts.request_timeout_ms = (long)cli->timeout_ms;
		opts.stream_timeout_ms = (long)cli->timeout_ms;
	}
	rc = bs_docker_open(d, ep, &opts, &err);
	if (rc != 0) {
		bs_cli_error("%s", err.msg);
		bs_endpoint_free(ep);
		bs_cli_ssh_close(ssh);
		return bs_cli_exit_for_error(rc);
	}
	return BS_EXIT_OK;
}

static void print_json(cJSON *o)
{
	char *text = cJSON_PrintUnformatted(o);

	printf("%s\n", text);
	free(text);
}

static char *short_id(const char *id)
{
	const char *p = id && bs_str_starts_with(id, "sha256:") ? id + 7 : id;

	return bs_xstrndup(p ? p : "", 12);
}

static void format_ports(const struct bs_cinfo *c, struct bs_buf *out)
{
	for (size_t i = 0; i < c->n_ports; i++) {
		const struct bs_cport_binding *p = &c->ports[i];

		if (i)
			bs_buf_puts(out, ", ");
		if (p->host_port)
			bs_buf_printf(out, "%s:%d->%d/%s", p->host_ip ? p->host_ip : "*",
				      p->host_port, p->container_port, p->udp ? "udp" : "tcp");
		else
			bs_buf_printf(out, "%d/%s", p->container_port, p->udp ? "udp" : "tcp");
	}
}

static cJSON *cinfo_json(const struct bs_cinfo *c)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *labels = cJSON_AddObjectToObject(o, "labels");
	cJSON *ports = cJSON_AddArrayToObject(o, "ports");

	cJSON_AddStringToObject(o, "id", c->id ? c->id : "");
	cJSON_AddStringToObject(o, "name", c->name ? c->name : "");
	cJSON_AddStringToObject(o, "image", c->image ? c->image : "");
	cJSON_AddStringToObject(o, "state", bs_cstate_name(c->state));
	if (c->status)
		cJSON_AddStringToObject(o, "status", c->status);
	if (c->health)
		cJSON_AddStringToObject(o, "health", c->health);
	for (size_t i = 0; i < c->labels.n; i++)
		cJSON_AddStringToObject(labels, c->labels.v[i].key, c->labels.v[i].value);
	for (size_t i = 0; i < c->n_ports; i++) {
		cJSON *p = cJSON_CreateObject();

		if (c->ports[i].host_ip)
			cJSON_AddStringToObject(p, "host_ip", c->ports[i].host_ip);
		cJSON_AddNumberToObject(p, "host_port", c->ports[i].host_port);
		cJSON_AddNumberToObject(p, "container_port", c->ports[i].container_port);
		cJSON_AddStringToObject(p, "protocol", c->ports[i].udp ? "udp" : "tcp");
		cJSON_AddItemToArray(ports, p);
	}
	return o;
}

/* Is the engine a swarm manager? Then the service commands apply. */
static bool is_manager(struct bs_cdriver *d)
{
	struct bs_swarm_member m;
	struct bs_err err = BS_ERR_INIT;
	bool yes;

	memset(&m, 0, sizeof(m));
	yes = d->ops->cluster_member(d, &m, &err) == 0 && m.state == BS_SWARM_ACTIVE && m.manager;
	bs_swarm_member_free(&m);
	return yes;
}

static cJSON *service_json(const struct bs_service_info *s)
{
	cJSON *o = cJSON_CreateObject(), *labels = cJSON_AddObjectToObject(o, "labels");

	cJSON_AddStringToObject(o, "kind", "service");
	cJSON_AddStringToObject(o, "id", s->id ? s->id : "");
	cJSON_AddStringToObject(o, "name", s->name ? s->name : "");
	cJSON_AddStringToObject(o, "image", s->image ? s->image : "");
	cJSON_AddNumberToObject(o, "version", (double)s->version);
	cJSON_AddNumberToObject(o, "replicas", s->replicas);
	if (s->update_state)
		cJSON_AddStringToObject(o, "update_state", s->update_state);
	if (s->update_message)
		cJSON_AddStringToObject(o, "update_message", s->update_message);
	for (size_t i = 0; i < s->labels.n; i++)
		cJSON_AddStringToObject(labels, s->labels.v[i].key,
					s->labels.v[i].value ? s->labels.v[i].value : "");
	return o;
}

static int cmd_list(const struct bs_cli *cli, struct bs_cdriver *d)
{
	struct bs_cinfo_list list;
	struct bs_service_list services = {0};
	struct bs_err err = BS_ERR_INIT;
	int rc = d->ops->container_list(d, true, NULL, &list, &err);

	if (rc == 0 && is_manager(d))
		rc = d->ops->service_list(d, NULL, &services, &err);
	if (rc != 0) {
		bs_cli_error("%s", err.msg);
		bs_cinfo_list_free(&list);
		return bs_cli_exit_for_error(rc);
	}
	if (cli->json) {
		cJSON *arr = cJSON_CreateArray();

		for (size_t i = 0; i < list.n; i++) {
			cJSON *o = cinfo_json(&list.v[i]);

			cJSON_AddStringToObject(o, "kind", "container");
			cJSON_AddItemToArray(arr, o);
		}
		for (size_t i = 0; i < services.n; i++)
			cJSON_AddItemToArray(arr, service_json(&services.v[i]));
		print_json(arr);
		cJSON_Delete(arr);
	} else {
		printf("%-24s %-28s %-10s %-24s %s\n", "NAME", "IMAGE", "STATE", "STATUS", "PORTS");
		for (size_t i = 0; i < list.n; i++) {
			struct bs_buf ports = BS_BUF_INIT;

			format_ports(&list.v[i], &ports);
			printf("%-24s %-28s %-10s %-24s %s\n", list.v[i].name ? list.v[i].name : "",
			       list.v[i].image ? list.v[i].image : "",
			       bs_cstate_name(list.v[i].state),
			       list.v[i].status ? list.v[i].status : "", bs_buf_str(&ports));
			bs_buf_free(&ports);
		}
		if (services.n > 0)
			printf("\n%-24s %-28s %-10s %s\n", "SERVICE", "IMAGE", "REPLICAS",
			       "UPDATE");
		for (size_t i = 0; i < services.n; i++) {
			char replicas[24];

			if (services.v[i].replicas < 0)
				snprintf(replicas, sizeof(replicas), "global");
			else
				snprintf(replicas, sizeof(replicas), "%d", services.v[i].replicas);
			printf("%-24s %-28s %-10s %s\n",
			       services.v[i].name ? services.v[i].name : "",
			       services.v[i].image ? services.v[i].image : "", replicas,
			       services.v[i].update_state ? services.v[i].update_state : "");
		}
	}
	bs_cinfo_list_free(&list);
	bs_service_list_free(&services);
	return BS_EXIT_OK;
}

static int cmd_images(const struct bs_cli *cli, struct bs_cdriver *d)
{
	struct bs_iinfo_list list;
	struct bs_err err = BS_ERR_INIT;
	int rc = d->ops->image_list(d, &list, &err);

	if (rc != 0) {
		bs_cli_error("%s", err.msg);
		return bs_cli_exit_for_error(rc);
	}
	if (cli->json) {
		cJSON *arr = cJSON_CreateArray();

		for (size_t i = 0; i < list.n; i++) {
			cJSON *o = cJSON_CreateObject();
			cJSON *tags = cJSON_AddArrayToObject(o, "tags");
			cJSON *digests = cJSON_AddArrayToObject(o, "digests");

			cJSON_AddStringToObject(o, "id", list.v[i].id ? list.v[i].id : "");
			for (size_t j = 0; j < list.v[i].tags.n; j++)
				cJSON_AddItemToArray(tags, cJSON_CreateString(list.v[i].tags.v[j]));
			for (size_t j = 0; j < list.v[i].digests.n; j++)
				cJSON_AddItemToArray(digests,
						     cJSON_CreateString(list.v[i].digests.v[j]));
			cJSON_AddNumberToObject(o, "size", (double)list.v[i].size);
			cJSON_AddNumberToObject(o, "created", (double)list.v[i].created);
			cJSON_AddItemToArray(arr, o);
		}
		print_json(arr);
		cJSON_Delete(arr);
	} else {
		printf("%-44s %-12s %10s\n", "IMAGE", "ID", "SIZE");
		for (size_t i = 0; i < list.n; i++) {
			char *id = short_id(list.v[i].id);
			char size[16];

			bs_format_bytes(list.v[i].size, size, sizeof(size));
			if (list.v[i].tags.n == 0)
				printf("%-44s %-12s %10s\n", "<none>", id, size);
			for (size_t j = 0; j < list.v[i].tags.n; j++)
				printf("%-44s %-12s %10s\n", list.v[i].tags.v[j], id, size);
			free(id);
		}
	}
	bs_iinfo_list_free(&list);
	return BS_EXIT_OK;
}

struct progress_out {
	const struct bs_cli *cli;
	bool build;
};

static int show_progress(const struct bs_progress *ev, void *payload)
{
	struct progress_out *po = payload;

	if (po->cli->json) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "event", po->build ? "build" : "pull");
		if (ev->status)
			cJSON_AddStringToObject(o, "status", ev->status);
		if (ev->id)
			cJSON_AddStringToObject(o, "id", ev->id);
		if (ev->stream)
			cJSON_AddStringToObject(o, "stream", ev->stream);
		if (ev->total)
			cJSON_AddNumberToObject(o, "current", (double)ev->current);
		if (ev->total)
			cJSON_AddNumberToObject(o, "total", (double)ev->total);
		if (ev->aux_id)
			cJSON_AddStringToObject(o, "image_id", ev->aux_id);
		print_json(o);
		cJSON_Delete(o);
	} else if (ev->stream) {
		fputs(ev->stream, stdout);
	} else if (ev->status && ev->progress == NULL && po->cli->verbosity >= 0) {
		/* progress bars are noise outside a terminal: final states only */
		if (ev->id)
			printf("%s: %s\n", ev->id, ev->status);
		else
			printf("%s\n", ev->status);
	}
	fflush(stdout);
	return 0;
}

/* Credentials for ref from the docker CLI's config, if any. */
/*
 * Credentials for ref: the recipe's registries: (with -r RECIPE) first,
 * then the docker CLI's config.json. Returns BS_EXIT_OK (cred may stay
 * empty: anonymous) or an exit code after printing why.
 */
/* A bad image reference is a usage error (64) in every command, found
 * before the engine is asked. */
static bool image_ref_ok(const char *ref)
{
	bool has_tag;
	const char *problem = bs_image_ref_problem(ref, &has_tag);

	if (problem != NULL)
		bs_cli_error("'%.200s' is not a valid image reference: %s (like nginx:1.25 or "
			     "registry.example.com/shop/app:1.4)",
			     ref, problem);
	return problem == NULL;
}

static int find_cred(const struct bs_cli *cli, const char *ref, struct bs_registry_cred *cred)
{
	struct bs_err err = BS_ERR_INIT;
	char *registry = bs_image_registry(ref);
	int rc = BS_ERR_NOT_FOUND, code = BS_EXIT_OK;

	if (cli->recipe != NULL) {
		struct bs_recipe *recipe = NULL;
		struct bs_diags diags;
		size_t i;
		int lrc;

		bs_diags_init(&diags, cli->recipe);
		lrc = bs_cli_recipe_load(cli, &recipe, cli->recipe, &diags);
		if (lrc != 0) {
			bs_diags_sort(&diags);
			bs_cli_print_diags(cli, &diags);
			code = lrc == BS_ERR_IO ? BS_EXIT_NOINPUT : BS_EXIT_INVALID;
		}
		for (i = 0; recipe != NULL && i < recipe->n_registries; i++) {
			const struct bs_registry *r = &recipe->registries[i];

			if (strcmp(r->server, registry) != 0 || r->username == NULL)
				continue;
			cred->server = bs_xstrdup(r->server);
			cred->username = bs_xstrdup(r->username);
			cred->password = bs_xstrdup(r->password);
			rc = 0;
			break;
		}
		bs_recipe_free(recipe);
		bs_diags_free(&diags);
	}
	if (code == BS_EXIT_OK && rc == BS_ERR_NOT_FOUND) {
		rc = bs_docker_config_cred(cred, registry, &err);
		if (rc != 0 && rc != BS_ERR_NOT_FOUND) {
			bs_cli_error("%s", err.msg);
			code = BS_EXIT_FAILURE;
		}
	}
	if (rc == 0)
		bs_secret_add(cred->password);
	free(registry);
	return code;
}

static int pull(const struct bs_cli *cli, struct bs_cdriver *d, const char *ref)
{
	struct bs_registry_cred cred;
	struct progress_out po = {cli, false};
	struct bs_err err = BS_ERR_INIT;
	int rc, code;

	memset(&cred, 0, sizeof(cred));
	code = find_cred(cli, ref, &cred);
	if (code != BS_EXIT_OK) {
		bs_registry_cred_free(&cred);
		return code;
	}
	rc = d->ops->image_pull(d, ref, cred.username ? &cred : NULL, show_progress, &po, &err);
	bs_registry_cred_free(&cred);
	if (rc != 0) {
		if (rc != BS_ERR_INTERRUPTED)
			bs_cli_error("%s", err.msg);
		return bs_cli_exit_for_error(rc);
	}
	return BS_EXIT_OK;
}

/* --build-arg K=V, or K alone: the value from this environment, as docker
 * does (a K that is not set is left out). */
static int parse_build_args(const struct bs_cli *cli, struct bs_kvlist *args)
{
	for (size_t i = 0; i < cli->build_arg_args.n; i++) {
		const char *arg = cli->build_arg_args.v[i];
		const char *eq = strchr(arg, '=');
		char *key;

		if (eq == arg || arg[0] == '\0') {
			bs_cli_error(
				"--build-arg %s: the name is empty (write --build-arg NAME=VALUE)",
				arg);
			return BS_EXIT_USAGE;
		}
		key = bs_xstrndup(arg, eq ? (size_t)(eq - arg) : strlen(arg));
		if (eq != NULL)
			bs_kvlist_push(args, key, eq + 1, false);
		else if (getenv(key) != NULL)
			bs_kvlist_push(args, key, getenv(key), false);
		free(key);
	}
	return BS_EXIT_OK;
}

/* A context argument is a git URL when it says so (a scheme or git@),
 * else a local directory, as docker build decides. */
static bool is_git_context(const char *arg)
{
	return strstr(arg, "://") != NULL || bs_str_starts_with(arg, "git@");
}

static int cmd_build(const struct bs_cli *cli, struct bs_cdriver *d)
{
	struct bs_build_opts opts;
	struct progress_out po = {cli, true};
	struct bs_err err = BS_ERR_INIT;
	struct bs_kvlist build_args = BS_KVLIST_INIT, labels = BS_KVLIST_INIT;
	struct bs_context ctx;
	const char *source;
	char *image_id = NULL;
	int rc, code;

	memset(&opts, 0, sizeof(opts));
	memset(&ctx, 0, sizeof(ctx));
	opts.tag = cli->build_tag ? cli->build_tag : cli->args[0];
	source = cli->args[cli->n_args - 1];
	opts.dockerfile = cli->dockerfile;
	opts.target = cli->target;
	code = parse_build_args(cli, &build_args);
	if (code != BS_EXIT_OK)
		goto out;
	opts.build_args = &build_args;
	if (is_git_context(source)) {
		/* https://user:TOKEN@host/...: the engine's git errors echo the
		 * URL, so the token joins the masked secrets; and it crosses the
		 * network only over TLS */
		char *token = bs_url_userinfo_secret(source);

		bs_secret_add(token);
		bs_secure_free_str(token);
		if (bs_url_login_in_clear(source)) {
			bs_cli_error("the git URL's login would cross the network in clear text: "
				     "use https://");
			code = BS_EXIT_USAGE;
			goto out;
		}
		opts.git_url = source;
	} else {
		struct bs_context_opts co = BS_CONTEXT_OPTS_INIT;

		co.dockerfile = cli->dockerfile;
		rc = bs_context_read(&ctx, source, &co, &err);
		if (rc != 0) {
			bs_cli_error("%s", err.msg);
			code = bs_cli_exit_for_error(rc);
			goto out;
		}
		opts.context_tar = ctx.tar.data;
		opts.context_len = ctx.tar.len;
		bs_kvlist_push(&labels, BS_LABEL_CONTEXT_HASH, ctx.hash, false);
		opts.labels = &labels;
	}
	rc = d->ops->image_build(d, &opts, show_progress, &po, &image_id, &err);
	if (rc != 0) {
		if (rc != BS_ERR_INTERRUPTED)
			bs_cli_error("%s", err.msg);
		code = bs_cli_exit_for_error(rc);
		goto out;
	}
	if (!cli->json)
		printf("built %s (%s)\n", opts.tag, image_id);
	code = BS_EXIT_OK;
out:
	free(image_id);
	bs_context_free(&ctx);
	bs_kvlist_free(&labels);
	bs_kvlist_free(&build_args);
	return code;
}

static int parse_env_args(const struct bs_cli *cli, struct bs_kvlist *env)
{
	for (size_t i = 0; i < cli->env_args.n; i++) {
		const char *arg = cli->env_args.v[i];
		const char *eq = strchr(arg, '=');
		char *key;

		if (eq == arg) {
			bs_cli_error("-e %s: the variable name is empty (write -e NAME=VALUE)",
				     arg);
			return BS_EXIT_USAGE;
		}
		key = bs_xstrndup(arg, eq ? (size_t)(eq - arg) : strlen(arg));
		if (eq != NULL) {
			bs_kvlist_push(env, key, eq + 1, false);
		} else if (getenv(key) != NULL) {
			bs_kvlist_push(env, key, getenv(key), false);
		} else {
			bs_cli_error("-e %s: no value, and %s is not set here (write -e %s=VALUE)",
				     arg, key, key);
			free(key);
			return BS_EXIT_USAGE;
		}
		free(key);
	}
	return BS_EXIT_OK;
}

static int parse_port_args(const struct bs_cli *cli, struct bs_cport_binding **out, size_t *n)
{
	*out = bs_xcalloc(cli->port_args.n * 8 + 1, sizeof(**out));
	*n = 0;
	for (size_t i = 0; i < cli->port_args.n; i++) {
		struct bs_port p;
		const char *problem = bs_port_parse(cli->port_args.v[i], &p);

		if (problem != NULL) {
			bs_cli_error(
				"-p %s: %s (write [IP:]HOST:CONTAINER[/tcp|udp], like -p 127.0.0.1:8080:80)",
				cli->port_args.v[i], problem);
			free(p.host_ip);
			return BS_EXIT_USAGE;
		}
		if (p.container_end - p.container_start >= 8) {
			bs_cli_error("-p %s: at most 8 ports per range", cli->port_args.v[i]);
			free(p.host_ip);
			return BS_EXIT_USAGE;
		}
		for (int k = 0; k <= p.container_end - p.container_start; k++) {
			struct bs_cport_binding *b = &(*out)[(*n)++];

			b->host_ip = p.host_ip ? bs_xstrdup(p.host_ip) : NULL;
			b->host_port = p.host_start ? p.host_start + k : 0;
			b->container_port = p.container_start + k;
			b->udp = p.proto == BS_PROTO_UDP;
		}
		free(p.host_ip);
	}
	return BS_EXIT_OK;
}

/*
 * create's secure defaults (each can be changed with a flag):
 * no-new-privileges, a pids limit of 512, json-file logs rotated at 10m x 3,
 * restart unless-stopped, never privileged, no host namespaces, ports only
 * where -p puts them.
 */
/* How long create watches a new container before it says "started". */
#define SETTLE_MS 1000
#define SETTLE_STEP_MS 200

/*
 * A command that exits at once would be "started" and then restart in a
 * loop: create watches the container for a second (saying so on a
 * terminal) and reports one that exited or restarts, with its exit code
 * and where its logs are; exit 1, the container left for them.
 */
static int settled(const struct bs_cli *cli, struct bs_cdriver *d, const char *name, bool *finished)
{
	long long deadline = bs_now_ms() + SETTLE_MS;
	struct bs_cinfo c;
	struct bs_err err = BS_ERR_INIT;
	bool down = false;

	if (!cli->json && cli->verbosity >= 0 && isatty(STDOUT_FILENO)) {
		printf("%s: watching it start for %d s...\r", name, SETTLE_MS / 1000);
		fflush(stdout);
	}
	memset(&c, 0, sizeof(c));
	while (!down && bs_now_ms() < deadline && !bs_cli_interrupted) {
		struct timespec ts = {0, SETTLE_STEP_MS * 1000000L};

		nanosleep(&ts, NULL);
		bs_cinfo_free(&c);
		if (d->ops->container_inspect(d, name, &c, NULL, &err) != 0)
			break; /* the create said what it had to */
		down = c.state == BS_CSTATE_RESTARTING || c.state == BS_CSTATE_STOPPED ||
		       c.state == BS_CSTATE_TERMINATED || c.restart_count > 0;
	}
	if (!cli->json && cli->verbosity >= 0 && isatty(STDOUT_FILENO))
		printf("\033[2K");
	if (down && c.state == BS_CSTATE_RUNNING) {
		/* seen running again after a restart: its exit code is gone */
		bs_cli_error("%s was created, but its command exited at once and its restart "
			     "policy restarted it %d time%s within %d s: see bootstrap logs %s",
			     name, c.restart_count, c.restart_count == 1 ? "" : "s",
			     SETTLE_MS / 1000, name);
		bs_cinfo_free(&c);
		return BS_EXIT_FAILURE;
	}
	if (down && c.exit_code == 0 && c.state == BS_CSTATE_STOPPED && c.restart_count == 0) {
		/* a job that ran and ended well, with no policy to restart it */
		if (!cli->json)
			printf("%s started and finished (exit code 0)\n", name);
		*finished = true;
		bs_cinfo_free(&c);
		return BS_EXIT_OK;
	}
	if (down)
		bs_cli_error("%s was created, but its command exited at once (exit code %d)%s: see "
			     "bootstrap logs %s",
			     name, c.exit_code,
			     c.state == BS_CSTATE_RESTARTING || c.restart_count > 0
				     ? " and its restart policy keeps restarting it"
				     : "",
			     name);
	bs_cinfo_free(&c);
	return down ? BS_EXIT_FAILURE : BS_EXIT_OK;
}

/*
 * The domain a create without --domain gets, NAME.BASE, once a base is
 * configured (bs_cli_domain_base), unless --no-domain: set in eff. A name
 * that is no DNS label, or a container without a port to route to, gets
 * none, said in a note.
 */
static void auto_domain(const struct bs_cli *cli, struct bs_cdriver *d, size_t n_ports,
			struct bs_cli *eff, char **owned)
{
	char *stored = NULL;
	const char *where, *base;

	*owned = NULL;
	/* --domain names one; a bad --domain-base is bs_cli_domain_check's */
	if (cli->domain != NULL || cli->no_domain ||
	    (cli->domain_base != NULL && !bs_recipe_is_hostname(cli->domain_base)))
		return;
	base = bs_cli_domain_base(cli, d, &stored, &where);
	if (base != NULL) {
		char *name = bs_xasprintf("%s.%s", cli->args[1], base);

		if (!bs_recipe_is_hostname(name) || strlen(name) > 253)
			bs_log(BS_LOG_WARN,
			       "no domain for %s: %s is not a DNS name (base %s from %s); "
			       "--domain NAME names one",
			       cli->args[1], name, base, where);
		else if (cli->expose == 0 && n_ports != 1)
			bs_log(BS_LOG_WARN,
			       "no domain for %s: which container port serves %s? Give "
			       "--expose PORT (or one -p), or --no-domain",
			       cli->args[1], name);
		else
			*owned = name;
		if (*owned == NULL)
			free(name);
	}
	eff->domain = *owned;
	free(stored);
}

/* Where a domain answers: https://, or http:// with --domain-tls off. */
static char *domain_url(const struct bs_cli *cli, const char *domain)
{
	bool plain = cli->domain_tls != NULL && strcmp(cli->domain_tls, "off") == 0;

	return bs_xasprintf("%s://%s/", plain ? "http" : "https", domain);
}

static int cmd_create(const struct bs_cli *cli, struct bs_cdriver *d)
{
	static const char *const restart_names[] = {"no", "always", "on-failure", "unless-stopped",
						    NULL};
	struct bs_kvlist env = BS_KVLIST_INIT, labels = BS_KVLIST_INIT;
	struct bs_cport_binding *ports = NULL;
	struct bs_cspec spec;
	struct bs_err err = BS_ERR_INIT;
	size_t n_ports = 0, i;
	char *id = NULL;
	int code, rc, port = 0;
	bool known = false, finished = false;
	struct bs_cli eff = *cli; /* with the domain this create gets */
	char *auto_name = NULL, *url = NULL;

	if (cli->n_args < 2) {
		bs_cli_error(
			"create takes IMAGE NAME [COMMAND...], like: bootstrap create nginx:1.25 web -p 127.0.0.1:8080:80 (see bootstrap create --help)");
		return BS_EXIT_USAGE;
	}
	for (i = 0; restart_names[i] != NULL; i++)
		known = known || strcmp(cli->restart, restart_names[i]) == 0;
	if (!known && !bs_str_starts_with(cli->restart, "on-failure:")) {
		bs_cli_error("--restart %s: use no, always, on-failure[:N] or unless-stopped",
			     cli->restart);
		return BS_EXIT_USAGE;
	}
	code = parse_env_args(cli, &env);
	if (code == BS_EXIT_OK)
		code = parse_port_args(cli, &ports, &n_ports);
	if (code == BS_EXIT_OK) {
		auto_domain(cli, d, n_ports, &eff, &auto_name);
		code = bs_cli_domain_check(&eff, ports, n_ports, &port);
	}
	if (code != BS_EXIT_OK)
		goto out;
	bs_kvlist_push(&labels, "io.bootstrap.created-by", "bootstrap create", false);
	memset(&spec, 0, sizeof(spec));
	spec.name = cli->args[1];
	spec.image = cli->args[0];
	if (cli->n_args > 2)
		spec.cmd = (const char *const *)(cli->args + 2); /* argv ends in NULL */
	spec.env = &env;
	spec.labels = &labels;
	spec.ports = ports;
	spec.n_ports = n_ports;
	spec.restart =
		bs_str_starts_with(cli->restart, "on-failure:") ? "on-failure" : cli->restart;
	if (bs_str_starts_with(cli->restart, "on-failure:"))
		spec.restart_max_retries = atoi(cli->restart + 11);
	spec.no_new_privileges = true;
	spec.pids_limit = cli->pids_limit;
	spec.memory_bytes = cli->memory_bytes;
	spec.nano_cpus = cli->nano_cpus;
	spec.user = cli->user;
	spec.read_only_rootfs = cli->read_only;
	spec.log_max_size = "10m";
	spec.log_max_file = "3";
	/* like docker run: fetch a missing image, then create */
	code = bs_cli_ensure_image(cli, d, spec.image);
	if (code == BS_EXIT_OK)
		code = bs_cli_domain_prepare(&eff, d, port, &labels, &spec.network);
	if (code != BS_EXIT_OK)
		goto out;
	rc = d->ops->container_deploy(d, &spec, &id, &err);
	if (rc == 0 && eff.domain != NULL) {
		rc = bs_cli_domain_sync(&eff, d, spec.name, &err);
		if (rc != 0) { /* all or nothing: no container without its route */
			struct bs_err e2 = BS_ERR_INIT;

			bs_err_prefix(&err,
				      "%s: the route to %s failed, so the container was "
				      "removed again",
				      spec.name, eff.domain);
			d->ops->container_destroy(d, id, 0, &e2);
			bs_cli_domain_sync(&eff, d, NULL, &e2);
		}
	}
	if (rc != 0) {
		bs_cli_error("%s", err.msg);
		code = bs_cli_exit_for_error(rc);
		goto out;
	}
	code = settled(cli, d, spec.name, &finished);
	if (cli->json) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "id", id);
		cJSON_AddStringToObject(o, "name", spec.name);
		cJSON_AddStringToObject(o, "state",
					code != BS_EXIT_OK ? "failing"
					: finished	   ? "finished"
							   : "running");
		if (eff.domain != NULL) {
			url = domain_url(cli, eff.domain);
			cJSON_AddStringToObject(o, "domain", eff.domain);
			cJSON_AddStringToObject(o, "url", url);
		}
		print_json(o);
		cJSON_Delete(o);
	} else if (code != BS_EXIT_OK || finished) {
		/* settled() said what became of it */
	} else if (eff.domain != NULL) {
		url = domain_url(cli, eff.domain);
		printf("%s started (%.12s), %s routed to it: %s\n", spec.name, id, eff.domain, url);
	} else {
		printf("%s started (%.12s)\n", spec.name, id);
	}
out:
	free(id);
	free(url);
	free(auto_name);
	bs_kvlist_free(&env);
	bs_kvlist_free(&labels);
	for (i = 0; i < n_ports; i++)
		free(ports[i].host_ip);
	free(ports);
	return code;
}

int bs_cli_ensure_image(const struct bs_cli *cli, struct bs_cdriver *d, const char *ref)
{
	struct bs_iinfo img;
	struct bs_err err = BS_ERR_INIT;
	int rc = d->ops->image_inspect(d, ref, &img, &err);

	bs_iinfo_free(&img);
	return rc == BS_ERR_NOT_FOUND ? pull(cli, d, ref) : BS_EXIT_OK;
}

/* The grace of stop, restart and remove: -t, else docker's 10 s. */
static int grace_s(const struct bs_cli *cli)
{
	return cli->stop_timeout_s >= 0 ? cli->stop_timeout_s : 10;
}

/* A done action on one container: "NAME what", or with --json one object
 * per line, {"name", "action", "changed"}. */
static void print_done(const struct bs_cli *cli, const char *name, const char *action, bool changed,
		       const char *what)
{
	if (cli->json) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "name", name);
		cJSON_AddStringToObject(o, "action", action);
		cJSON_AddBoolToObject(o, "changed", changed);
		print_json(o);
		cJSON_Delete(o);
	} else {
		printf("%s %s\n", name, what);
		fflush(stdout);
	}
}

static int remove_one(const struct bs_cli *cli, struct bs_cdriver *d, const char *name,
		      struct bs_err *err)
{
	bool had_route = bs_cli_domain_routed(d, name);
	int rc = 0;

	/* with no grace there is no stop to find a missing one: the forced
	 * delete takes "already gone" for done */
	if (grace_s(cli) == 0) {
		struct bs_cinfo info;

		memset(&info, 0, sizeof(info));
		rc = d->ops->container_inspect(d, name, &info, NULL, err);
		bs_cinfo_free(&info);
	}
	if (rc == 0)
		rc = d->ops->container_destroy(d, name, grace_s(cli), err);

	if (rc == 0 && had_route) {
		rc = bs_cli_domain_sync(cli, d, NULL, err);
		if (rc != 0)
			bs_err_prefix(err, "%s removed, but its route is still there", name);
	}
	if (rc == BS_ERR_NOT_FOUND && is_manager(d)) { /* a swarm service of that name? */
		struct bs_err e2 = BS_ERR_INIT;
		bool removed = false;
		int r2 = d->ops->service_remove(d, name, &removed, &e2);

		if (r2 != 0 || removed) {
			rc = r2;
			*err = e2;
		}
	}
	return rc;
}

/* remove NAME...: every NAME is tried; the first failure's exit code. */
static int cmd_remove(const struct bs_cli *cli, struct bs_cdriver *d)
{
	int code = BS_EXIT_OK;

	for (int i = 0; i < cli->n_args; i++) {
		struct bs_err err = BS_ERR_INIT;
		int rc = remove_one(cli, d, cli->args[i], &err);

		if (rc != 0) {
			bs_cli_error("%s", err.msg);
			if (code == BS_EXIT_OK)
				code = bs_cli_exit_for_error(rc);
			continue;
		}
		print_done(cli, cli->args[i], "remove", true, "removed");
	}
	return code;
}

/* Log output: each stream to its own file, or with --json one object per
 * chunk the engine framed (a line, as a program writes them) on stdout,
 * {"stream": "stdout"|"stderr", "text": ...}. */
static int write_log(enum bs_log_stream stream, const char *data, size_t len, void *payload)
{
	const bool *json = payload;
	FILE *out = stream == BS_LOG_STDERR ? stderr : stdout;

	if (*json) {
		cJSON *o = cJSON_CreateObject();
		char *text = bs_xstrndup(data, len);

		cJSON_AddStringToObject(o, "stream", stream == BS_LOG_STDERR ? "stderr" : "stdout");
		cJSON_AddStringToObject(o, "text", text);
		print_json(o);
		cJSON_Delete(o);
		free(text);
		fflush(stdout);
		return 0;
	}
	/* the two streams go to two files: flush to keep their order */
	fwrite(data, 1, len, out);
	fflush(out);
	return 0;
}

/* start, stop, restart NAME...: every NAME is tried; the first failure's
 * exit code. */
static int cmd_state_op(const struct bs_cli *cli, struct bs_cdriver *d)
{
	const char *op = cli->op;
	int code = BS_EXIT_OK;

	for (int i = 0; i < cli->n_args; i++) {
		const char *name = cli->args[i];
		struct bs_err err = BS_ERR_INIT;
		bool changed = true;
		int rc;

		if (strcmp(op, "start") == 0)
			rc = d->ops->container_start(d, name, &changed, &err);
		else if (strcmp(op, "stop") == 0)
			rc = d->ops->container_stop(d, name, grace_s(cli), &changed, &err);
		else
			rc = d->ops->container_restart(d, name, grace_s(cli), &err);
		if (rc != 0) {
			bs_cli_error("%s", err.msg);
			if (code == BS_EXIT_OK)
				code = bs_cli_exit_for_error(rc);
			continue;
		}
		print_done(cli, name, op, changed,
			   strcmp(op, "restart") == 0 ? "restarted"
			   : strcmp(op, "start") == 0
				   ? (changed ? "started" : "was already running")
				   : (changed ? "stopped" : "was already stopped"));
	}
	return code;
}

/* ps options of top when none are given: docker's -ef, with each
 * process's share of CPU and memory and its resident size. */
#define TOP_PS_ARGS "-eo user,pid,ppid,pcpu,pmem,rss,stat,time,args"

/* top NAME [-- PS_OPTIONS...]: a table, or with --json one array of
 * objects keyed by the column titles. */
static int top(const struct bs_cli *cli, struct bs_cdriver *d, struct bs_err *err)
{
	struct bs_buf ps = BS_BUF_INIT;
	struct bs_table t;
	int rc;

	for (int i = 1; i < cli->n_args; i++)
		bs_buf_printf(&ps, "%s%s", i > 1 ? " " : "", cli->args[i]);
	rc = d->ops->container_top(d, cli->args[0], cli->n_args > 1 ? bs_buf_str(&ps) : TOP_PS_ARGS,
				   &t, err);
	bs_buf_free(&ps);
	if (rc != 0)
		return rc;
	if (cli->json) {
		cJSON *arr = cJSON_CreateArray();

		for (size_t r = 0; r < t.n_rows; r++) {
			cJSON *o = cJSON_CreateObject();

			for (size_t i = 0; i < t.rows[r].n && i < t.titles.n; i++)
				cJSON_AddStringToObject(o, t.titles.v[i], t.rows[r].v[i]);
			cJSON_AddItemToArray(arr, o);
		}
		print_json(arr);
		cJSON_Delete(arr);
	} else {
		for (size_t i = 0; i < t.titles.n; i++)
			printf("%s%s", i ? "\t" : "", t.titles.v[i]);
		printf("\n");
		for (size_t r = 0; r < t.n_rows; r++) {
			for (size_t i = 0; i < t.rows[r].n; i++)
				printf("%s%s", i ? "\t" : "", t.rows[r].v[i]);
			printf("\n");
		}
	}
	bs_table_free(&t);
	return 0;
}

struct stats_out {
	const struct bs_cli *cli;
	const char *name;
	bool header; /* printed */
};

static void add_figure(cJSON *o, const char *key, long long v)
{
	if (v < 0)
		cJSON_AddNullToObject(o, key);
	else
		cJSON_AddNumberToObject(o, key, (double)v);
}

static double mem_percent(const struct bs_cstats *s)
{
	return s->mem_used >= 0 && s->mem_limit > 0
		       ? 100.0 * (double)s->mem_used / (double)s->mem_limit
		       : -1;
}

static int show_stats(const struct bs_cstats *s, void *payload)
{
	struct stats_out *so = payload;
	double mp = mem_percent(s);

	if (so->cli->json) {
		cJSON *o = cJSON_CreateObject(), *m, *n, *b;

		cJSON_AddStringToObject(o, "name", so->name);
		if (s->cpu_percent < 0)
			cJSON_AddNullToObject(o, "cpu_percent");
		else
			cJSON_AddNumberToObject(o, "cpu_percent", s->cpu_percent);
		cJSON_AddNumberToObject(o, "online_cpus", s->online_cpus);
		m = cJSON_AddObjectToObject(o, "memory");
		add_figure(m, "used", s->mem_used);
		add_figure(m, "limit", s->mem_limit);
		if (mp < 0)
			cJSON_AddNullToObject(m, "percent");
		else
			cJSON_AddNumberToObject(m, "percent", mp);
		n = cJSON_AddObjectToObject(o, "net");
		add_figure(n, "rx", s->net_rx);
		add_figure(n, "tx", s->net_tx);
		b = cJSON_AddObjectToObject(o, "block");
		add_figure(b, "read", s->blk_read);
		add_figure(b, "write", s->blk_write);
		add_figure(o, "pids", s->pids);
		print_json(o);
		cJSON_Delete(o);
	} else {
		char cpu[16], mpc[16], used[16], limit[16], rx[16], tx[16], rd[16], wr[16],
			pids[16];
		char mem[40], net[40], blk[40];

		if (!so->header)
			printf("%-24s %8s %22s %7s %22s %22s %6s\n", "NAME", "CPU %",
			       "MEM USED / LIMIT", "MEM %", "NET RX / TX", "BLOCK READ / WRITE",
			       "PIDS");
		so->header = true;
		snprintf(cpu, sizeof(cpu), s->cpu_percent < 0 ? "-" : "%.2f%%", s->cpu_percent);
		snprintf(mpc, sizeof(mpc), mp < 0 ? "-" : "%.2f%%", mp);
		bs_format_bytes(s->mem_used, used, sizeof(used));
		bs_format_bytes(s->mem_limit, limit, sizeof(limit));
		bs_format_bytes(s->net_rx, rx, sizeof(rx));
		bs_format_bytes(s->net_tx, tx, sizeof(tx));
		bs_format_bytes(s->blk_read, rd, sizeof(rd));
		bs_format_bytes(s->blk_write, wr, sizeof(wr));
		snprintf(pids, sizeof(pids), s->pids < 0 ? "-" : "%lld", s->pids);
		snprintf(mem, sizeof(mem), "%s / %s", used, limit);
		snprintf(net, sizeof(net), "%s / %s", rx, tx);
		snprintf(blk, sizeof(blk), "%s / %s", rd, wr);
		printf("%-24s %8s %22s %7s %22s %22s %6s\n", so->name, cpu, mem, mpc, net, blk,
		       pids);
	}
	fflush(stdout);
	return 0;
}

/* stats NAME...: one sample each; --follow: one NAME, a sample a second
 * until Ctrl-C. Every NAME is tried; the first failure's exit code. */
static int cmd_stats(const struct bs_cli *cli, struct bs_cdriver *d)
{
	struct stats_out so = {cli, NULL, false};
	int code = BS_EXIT_OK;

	for (int i = 0; i < cli->n_args; i++) {
		struct bs_err err = BS_ERR_INIT;
		int rc;

		so.name = cli->args[i];
		rc = d->ops->container_stats(d, so.name, cli->follow, show_stats, &so, &err);
		if (rc == BS_ERR_INTERRUPTED && cli->follow)
			return BS_EXIT_INTERRUPTED; /* Ctrl-C is how --follow ends */
		if (rc != 0) {
			bs_cli_error("%s", err.msg);
			if (code == BS_EXIT_OK)
				code = bs_cli_exit_for_error(rc);
		}
	}
	return code;
}

static int cmd_container_op(const struct bs_cli *cli, struct bs_cdriver *d)
{
	const char *op = cli->op;
	const char *name = cli->args[0];
	struct bs_err err = BS_ERR_INIT;
	int rc = 0, code = BS_EXIT_OK;

	if (strcmp(op, "start") == 0 || strcmp(op, "stop") == 0 || strcmp(op, "restart") == 0)
		return cmd_state_op(cli, d);
	if (strcmp(op, "stats") == 0)
		return cmd_stats(cli, d);
	if (strcmp(op, "inspect") == 0) {
		char *raw = NULL;

		rc = d->ops->container_inspect(d, name, NULL, &raw, &err);
		if (rc == BS_ERR_NOT_FOUND && is_manager(d)) { /* a service, with its tasks */
			struct bs_service_info si;
			struct bs_task_list tl = {0};
			struct bs_err e2 = BS_ERR_INIT;

			memset(&si, 0, sizeof(si));
			if (d->ops->service_inspect(d, name, &si, &e2) == 0) {
				cJSON *o = service_json(&si),
				      *tasks = cJSON_AddArrayToObject(o, "tasks");

				rc = d->ops->task_list(d, name, &tl, &err);
				for (size_t i = 0; rc == 0 && i < tl.n; i++) {
					cJSON *t = cJSON_CreateObject();

					cJSON_AddStringToObject(t, "id",
								tl.v[i].id ? tl.v[i].id : "");
					cJSON_AddNumberToObject(t, "slot", tl.v[i].slot);
					cJSON_AddStringToObject(t, "node_id",
								tl.v[i].node_id ? tl.v[i].node_id
										: "");
					cJSON_AddStringToObject(t, "state",
								tl.v[i].state ? tl.v[i].state : "");
					cJSON_AddStringToObject(
						t, "desired_state",
						tl.v[i].desired_state ? tl.v[i].desired_state : "");
					if (tl.v[i].error)
						cJSON_AddStringToObject(t, "error", tl.v[i].error);
					cJSON_AddItemToArray(tasks, t);
				}
				raw = cJSON_PrintUnformatted(o);
				cJSON_Delete(o);
				bs_task_list_free(&tl);
				bs_service_info_free(&si);
			}
		}
		if (rc == 0) {
			cJSON *o = cJSON_Parse(raw);
			char *text = cli->json ? cJSON_PrintUnformatted(o) : cJSON_Print(o);

			printf("%s\n", text);
			free(text);
			cJSON_Delete(o);
		}
		free(raw);
	} else if (strcmp(op, "logs") == 0) {
		struct bs_logs_opts lo = {cli->follow, cli->tail, cli->timestamps, 0};

		bool json = cli->json;

		rc = d->ops->container_logs(d, name, &lo, write_log, &json, &err);
		if (rc == BS_ERR_NOT_FOUND && is_manager(d)) { /* a service: all its tasks' */
			struct bs_err e2 = BS_ERR_INIT;
			int r2 = d->ops->service_logs(d, name, &lo, write_log, &json, &e2);

			if (r2 != BS_ERR_NOT_FOUND) {
				rc = r2;
				err = e2;
			}
		}
		if (rc == BS_ERR_INTERRUPTED) /* Ctrl-C is how --follow ends */
			return BS_EXIT_INTERRUPTED;
	} else if (strcmp(op, "top") == 0) {
		rc = top(cli, d, &err);
	} else if (strcmp(op, "diff") == 0) {
		struct bs_change_list l;

		rc = d->ops->container_changes(d, name, &l, &err);
		if (rc == 0 && cli->json) {
			cJSON *arr = cJSON_CreateArray();

			for (size_t i = 0; i < l.n; i++) {
				cJSON *o = cJSON_CreateObject();
				char kind[2] = {l.v[i].kind, '\0'};

				cJSON_AddStringToObject(o, "kind", kind);
				cJSON_AddStringToObject(o, "path", l.v[i].path);
				cJSON_AddItemToArray(arr, o);
			}
			print_json(arr);
			cJSON_Delete(arr);
		} else if (rc == 0) {
			for (size_t i = 0; i < l.n; i++)
				printf("%c %s\n", l.v[i].kind, l.v[i].path);
		}
		if (rc == 0)
			bs_change_list_free(&l);
	}
	if (rc != 0) {
		bs_cli_error("%s", err.msg);
		code = bs_cli_exit_for_error(rc);
	}
	return code;
}

static void print_time(long long t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL)
		snprintf(buf, size, "-");
	else
		strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* cluster list: the cluster the engine is in (Libcloud's list_clusters). */
static int cluster_list(const struct bs_cli *cli, struct bs_cdriver *d, struct bs_err *err)
{
	struct bs_swarm_member m;
	struct bs_cluster cl;
	struct bs_cluster_node_list nodes = {0};
	int rc, managers = 0;
	char when[32];

	memset(&m, 0, sizeof(m));
	memset(&cl, 0, sizeof(cl));
	rc = d->ops->cluster_member(d, &m, err);
	if (rc == 0 && m.state == BS_SWARM_ACTIVE && m.manager)
		rc = d->ops->cluster_inspect(d, &cl, err);
	if (rc == 0 && m.state == BS_SWARM_ACTIVE && m.manager)
		rc = d->ops->cluster_node_list(d, &nodes, err);
	for (size_t i = 0; i < nodes.n; i++)
		managers += nodes.v[i].role != NULL && strcmp(nodes.v[i].role, "manager") == 0;
	print_time(cl.created, when, sizeof(when));
	if (rc == 0 && cli->json) {
		cJSON *arr = cJSON_CreateArray();

		if (m.state != BS_SWARM_INACTIVE) {
			cJSON *o = cJSON_CreateObject();

			cJSON_AddStringToObject(o, "id", cl.id ? cl.id : "");
			cJSON_AddStringToObject(o, "state",
						m.state == BS_SWARM_ACTIVE    ? "active"
						: m.state == BS_SWARM_PENDING ? "pending"
						: m.state == BS_SWARM_LOCKED  ? "locked"
									      : "error");
			cJSON_AddStringToObject(o, "node_id", m.node_id ? m.node_id : "");
			cJSON_AddBoolToObject(o, "manager", m.manager);
			if (cl.created > 0)
				cJSON_AddStringToObject(o, "created", when);
			if (m.manager) {
				cJSON_AddNumberToObject(o, "nodes", (double)nodes.n);
				cJSON_AddNumberToObject(o, "managers", managers);
			}
			cJSON_AddItemToArray(arr, o);
		}
		print_json(arr);
		cJSON_Delete(arr);
	} else if (rc == 0 && m.state == BS_SWARM_INACTIVE) {
		printf("%s is in no cluster (bootstrap cluster create makes one)\n", d->display);
	} else if (rc == 0 && !m.manager) {
		printf("%s is a worker of a cluster (node %s); ask a manager for more\n",
		       d->display, m.node_id ? m.node_id : "?");
	} else if (rc == 0) {
		printf("%-28s %-22s %-6s %s\n", "CLUSTER", "CREATED", "NODES", "MANAGERS");
		printf("%-28s %-22s %-6zu %d\n", cl.id ? cl.id : "", when, nodes.n, managers);
	}
	bs_swarm_member_free(&m);
	bs_cluster_free(&cl);
	bs_cluster_node_list_free(&nodes);
	return rc;
}

static int cluster_nodes(const struct bs_cli *cli, struct bs_cdriver *d, struct bs_err *err)
{
	struct bs_cluster_node_list nodes = {0};
	int rc = d->ops->cluster_node_list(d, &nodes, err);

	if (rc == 0 && cli->json) {
		cJSON *arr = cJSON_CreateArray();

		for (size_t i = 0; i < nodes.n; i++) {
			const struct bs_cluster_node *n = &nodes.v[i];
			cJSON *o = cJSON_CreateObject(), *labels;

			cJSON_AddStringToObject(o, "id", n->id ? n->id : "");
			cJSON_AddStringToObject(o, "hostname", n->hostname ? n->hostname : "");
			cJSON_AddStringToObject(o, "role", n->role ? n->role : "");
			cJSON_AddBoolToObject(o, "leader", n->leader);
			cJSON_AddStringToObject(o, "state", n->state ? n->state : "");
			cJSON_AddStringToObject(o, "availability",
						n->availability ? n->availability : "");
			if (n->reachability)
				cJSON_AddStringToObject(o, "reachability", n->reachability);
			cJSON_AddStringToObject(o, "addr", n->addr ? n->addr : "");
			cJSON_AddStringToObject(o, "engine",
						n->engine_version ? n->engine_version : "");
			labels = cJSON_AddObjectToObject(o, "labels");
			for (size_t k = 0; k < n->labels.n; k++)
				cJSON_AddStringToObject(labels, n->labels.v[k].key,
							n->labels.v[k].value ? n->labels.v[k].value
									     : "");
			cJSON_AddItemToArray(arr, o);
		}
		print_json(arr);
		cJSON_Delete(arr);
	} else if (rc == 0) {
		printf("%-26s %-16s %-8s %-8s %-12s %-16s %s\n", "ID", "HOSTNAME", "ROLE", "STATE",
		       "AVAILABILITY", "ADDRESS", "MANAGER");
		for (size_t i = 0; i < nodes.n; i++) {
			const struct bs_cluster_node *n = &nodes.v[i];

			printf("%-26s %-16s %-8s %-8s %-12s %-16s %s\n", n->id ? n->id : "",
			       n->hostname ? n->hostname : "", n->role ? n->role : "",
			       n->state ? n->state : "", n->availability ? n->availability : "",
			       n->addr ? n->addr : "",
			       n->leader	 ? "leader"
			       : n->reachability ? n->reachability
						 : "");
		}
	}
	bs_cluster_node_list_free(&nodes);
	return rc;
}

/* cluster [list | nodes | inspect [ID] | create [ADDR] | destroy], checked
 * before connecting */
static bool cluster_usage_ok(const struct bs_cli *cli)
{
	const char *sub = cli->n_args > 0 ? cli->args[0] : "list";
	bool arg = strcmp(sub, "create") == 0 || strcmp(sub, "inspect") == 0;

	if (cli->n_args <= (arg ? 2 : 1) &&
	    (arg || strcmp(sub, "list") == 0 || strcmp(sub, "nodes") == 0 ||
	     strcmp(sub, "destroy") == 0))
		return true;
	bs_cli_error("cluster takes list, nodes, inspect [ID], create [ADDR] or destroy, not '%s'",
		     cli->n_args > (arg ? 2 : 1) ? cli->args[cli->n_args - 1] : sub);
	return false;
}

/* cluster inspect [ID]: the cluster this engine manages, as one JSON
 * object (Libcloud's get_cluster): its ID, creation, version and nodes;
 * join tokens never. An ID (or its prefix) that is not this cluster's is
 * not found. */
static int cluster_inspect(const struct bs_cli *cli, struct bs_cdriver *d, struct bs_err *err)
{
	const char *want = cli->n_args == 2 ? cli->args[1] : NULL;
	struct bs_swarm_member m;
	struct bs_cluster cl;
	struct bs_cluster_node_list nodes = {0};
	int rc;

	memset(&m, 0, sizeof(m));
	memset(&cl, 0, sizeof(cl));
	rc = d->ops->cluster_member(d, &m, err);
	if (rc == 0 && m.state == BS_SWARM_INACTIVE)
		rc = bs_err_set(err, BS_ERR_NOT_FOUND,
				"%s is in no cluster (bootstrap cluster create makes one)",
				d->display);
	else if (rc == 0 && !m.manager)
		rc = bs_err_set(err, BS_ERR_UNSUPPORTED,
				"%s is a worker of a cluster (node %s): ask a manager", d->display,
				m.node_id ? m.node_id : "?");
	if (rc == 0)
		rc = d->ops->cluster_inspect(d, &cl, err);
	if (rc == 0 && want != NULL && (cl.id == NULL || !bs_str_starts_with(cl.id, want)))
		rc = bs_err_set(err, BS_ERR_NOT_FOUND,
				"%s manages no cluster %s (its cluster is %s)", d->display, want,
				cl.id ? cl.id : "?");
	if (rc == 0)
		rc = d->ops->cluster_node_list(d, &nodes, err);
	if (rc == 0) {
		cJSON *o = cJSON_CreateObject(), *arr;
		char when[32];
		int managers = 0;

		print_time(cl.created, when, sizeof(when));
		cJSON_AddStringToObject(o, "id", cl.id ? cl.id : "");
		cJSON_AddStringToObject(o, "created", when);
		cJSON_AddNumberToObject(o, "version", (double)cl.version);
		cJSON_AddStringToObject(o, "this_node", m.node_id ? m.node_id : "");
		arr = cJSON_AddArrayToObject(o, "nodes");
		for (size_t i = 0; i < nodes.n; i++) {
			const struct bs_cluster_node *n = &nodes.v[i];
			cJSON *j = cJSON_CreateObject();

			managers += n->role != NULL && strcmp(n->role, "manager") == 0;
			cJSON_AddStringToObject(j, "id", n->id ? n->id : "");
			cJSON_AddStringToObject(j, "hostname", n->hostname ? n->hostname : "");
			cJSON_AddStringToObject(j, "role", n->role ? n->role : "");
			cJSON_AddBoolToObject(j, "leader", n->leader);
			cJSON_AddStringToObject(j, "state", n->state ? n->state : "");
			cJSON_AddStringToObject(j, "availability",
						n->availability ? n->availability : "");
			cJSON_AddStringToObject(j, "addr", n->addr ? n->addr : "");
			cJSON_AddItemToArray(arr, j);
		}
		cJSON_AddNumberToObject(o, "managers", managers);
		if (cli->json) {
			print_json(o);
		} else {
			char *text = cJSON_Print(o);

			printf("%s\n", text);
			free(text);
		}
		cJSON_Delete(o);
	}
	bs_swarm_member_free(&m);
	bs_cluster_free(&cl);
	bs_cluster_node_list_free(&nodes);
	return rc;
}

static int cmd_cluster(const struct bs_cli *cli, struct bs_cdriver *d)
{
	const char *sub = cli->n_args > 0 ? cli->args[0] : "list";
	struct bs_err err = BS_ERR_INIT;
	bool create = strcmp(sub, "create") == 0;
	int rc;

	if (strcmp(sub, "list") == 0) {
		rc = cluster_list(cli, d, &err);
	} else if (strcmp(sub, "nodes") == 0) {
		rc = cluster_nodes(cli, d, &err);
	} else if (strcmp(sub, "inspect") == 0) {
		rc = cluster_inspect(cli, d, &err);
	} else if (create) {
		struct bs_cluster_create cc = {NULL, cli->n_args == 2 ? cli->args[1] : NULL};
		char *node_id = NULL;

		rc = d->ops->cluster_create(d, &cc, &node_id, &err);
		if (rc == 0 && cli->json) {
			cJSON *o = cJSON_CreateObject();

			cJSON_AddStringToObject(o, "node_id", node_id ? node_id : "");
			print_json(o);
			cJSON_Delete(o);
		} else if (rc == 0) {
			printf("cluster created on %s (node %s); join other engines with the tokens "
			       "that docker swarm join-token shows, or let a recipe's cluster: do it\n",
			       d->display, node_id ? node_id : "?");
		}
		free(node_id);
	} else {
		rc = d->ops->cluster_leave(d, true, &err);
		if (rc == 0 && !cli->json)
			printf("%s is in no cluster now\n", d->display);
	}
	if (rc != 0) {
		bs_cli_error("%s", err.msg);
		return bs_cli_exit_for_error(rc);
	}
	return BS_EXIT_OK;
}

/* ---- registry: browsing without an engine ------------------------------- */

/* REF's registry, repository and reference ("docker.io", "library/nginx",
 * "latest"); reference NULL when none may be given. */
static void split_image(const char *ref, bool with_reference, char **server, char **repo,
			char **reference)
{
	const char *at = strchr(ref, '@'), *slash, *colon, *path;
	size_t len;

	*server = bs_image_registry(ref);
	path = strcmp(*server, "docker.io") == 0 || !bs_str_starts_with(ref, *server)
		       ? ref
		       : ref + strlen(*server) + 1;
	if (bs_str_starts_with(path, "docker.io/"))
		path += 10;
	len = at ? (size_t)(at - path) : strlen(path);
	slash = memrchr(path, '/', len);
	colon = memchr(slash ? slash : path, ':', len - (size_t)((slash ? slash : path) - path));
	*reference = NULL;
	if (with_reference)
		*reference = at	     ? bs_xstrdup(at + 1)
			     : colon ? bs_xstrdup(colon + 1)
				     : bs_xstrdup("latest");
	if (colon != NULL && at == NULL)
		len = (size_t)(colon - path);
	/* Docker Hub's official images live under library/ */
	*repo = strcmp(*server, "docker.io") == 0 && memchr(path, '/', len) == NULL
			? bs_xasprintf("library/%.*s", (int)len, path)
			: bs_xstrndup(path, len);
}

static int registry_client(const struct bs_cli *cli, const char *server, const char *ref,
			   struct bs_registry_client **c)
{
	struct bs_registry_cred cred;
	struct bs_http_opts opts = BS_HTTP_OPTS_INIT;
	struct bs_err err = BS_ERR_INIT;
	int code, rc;

	memset(&cred, 0, sizeof(cred));
	code = find_cred(cli, ref, &cred);
	if (code != BS_EXIT_OK) {
		bs_registry_cred_free(&cred);
		return code;
	}
	opts.cancel = &bs_cli_interrupted;
	if (cli->timeout_ms > 0)
		opts.request_timeout_ms = (long)cli->timeout_ms;
	rc = bs_registry_client_new(c, server, cred.username ? &cred : NULL, &opts, &err);
	bs_registry_cred_free(&cred);
	if (rc != 0) {
		bs_cli_error("%s", err.msg);
		return bs_cli_exit_for_error(rc);
	}
	return BS_EXIT_OK;
}

static void print_list(const struct bs_cli *cli, const struct bs_strv *v)
{
	if (cli->json) {
		cJSON *arr = cJSON_CreateArray();

		for (size_t i = 0; i < v->n; i++)
			cJSON_AddItemToArray(arr, cJSON_CreateString(v->v[i]));
		print_json(arr);
		cJSON_Delete(arr);
		return;
	}
	for (size_t i = 0; i < v->n; i++)
		printf("%s\n", v->v[i]);
}

static void print_image(const struct bs_cli *cli, const char *ref,
			const struct bs_registry_image *im)
{
	char size[16];

	if (cli->json) {
		cJSON *o = cJSON_CreateObject(), *p, *l;

		cJSON_AddStringToObject(o, "image", ref);
		cJSON_AddStringToObject(o, "digest", im->digest ? im->digest : "");
		cJSON_AddStringToObject(o, "media_type", im->media_type ? im->media_type : "");
		p = cJSON_AddArrayToObject(o, "platforms");
		for (size_t i = 0; i < im->platforms.n; i++)
			cJSON_AddItemToArray(p, cJSON_CreateString(im->platforms.v[i]));
		if (im->platform)
			cJSON_AddStringToObject(o, "platform", im->platform);
		if (im->size >= 0)
			cJSON_AddNumberToObject(o, "size", (double)im->size);
		if (im->created)
			cJSON_AddStringToObject(o, "created", im->created);
		l = cJSON_AddObjectToObject(o, "labels");
		for (size_t i = 0; i < im->labels.n; i++)
			cJSON_AddStringToObject(l, im->labels.v[i].key,
						im->labels.v[i].value ? im->labels.v[i].value : "");
		print_json(o);
		cJSON_Delete(o);
		return;
	}
	bs_format_bytes(im->size, size, sizeof(size));
	printf("image       %s\n", ref);
	printf("digest      %s\n", im->digest ? im->digest : "-");
	printf("media type  %s\n", im->media_type ? im->media_type : "-");
	if (im->platforms.n > 0) {
		printf("platforms  ");
		for (size_t i = 0; i < im->platforms.n; i++)
			printf(" %s", im->platforms.v[i]);
		printf("\nof %s:\n", im->platform ? im->platform : "?");
	} else if (im->platform) {
		printf("platform    %s\n", im->platform);
	}
	printf("size        %s (compressed)\n", size);
	printf("created     %s\n", im->created ? im->created : "-");
	for (size_t i = 0; i < im->labels.n; i++)
		printf("%s %s=%s\n", i == 0 ? "labels     " : "           ", im->labels.v[i].key,
		       im->labels.v[i].value ? im->labels.v[i].value : "");
}

/* This machine's platform, as indexes name it. */
static const char *host_platform(void)
{
#if defined(__x86_64__)
	return "linux/amd64";
#elif defined(__aarch64__)
	return "linux/arm64/v8";
#else
	return NULL;
#endif
}

static int cmd_registry(const struct bs_cli *cli)
{
	const char *sub = cli->n_args > 0 ? cli->args[0] : "";
	struct bs_registry_client *c = NULL;
	struct bs_err err = BS_ERR_INIT;
	struct bs_strv list = BS_STRV_INIT;
	char *server = NULL, *repo = NULL, *reference = NULL, *probe = NULL;
	bool inspect = strcmp(sub, "inspect") == 0, repos = strcmp(sub, "repos") == 0;
	int code, rc = 0;

	if (cli->n_args != 2 || !(inspect || repos || strcmp(sub, "tags") == 0)) {
		bs_cli_error("registry takes tags REPO, inspect IMAGE or repos HOST, like: "
			     "bootstrap registry tags nginx");
		return BS_EXIT_USAGE;
	}
	if (repos) {
		server = bs_xstrdup(cli->args[1]);
		probe = bs_xasprintf("%s/x", server);
	} else {
		bool has_tag;
		const char *problem = bs_image_ref_problem(cli->args[1], &has_tag);

		if (problem != NULL || (!inspect && has_tag)) {
			bs_cli_error("'%.200s' is not a %s: %s", cli->args[1],
				     inspect ? "valid image reference" : "repository",
				     problem ? problem : "drop the tag or digest");
			return BS_EXIT_USAGE;
		}
		split_image(cli->args[1], inspect, &server, &repo, &reference);
		probe = bs_xstrdup(cli->args[1]);
	}
	code = registry_client(cli, server, probe, &c);
	if (code == BS_EXIT_OK) {
		if (repos) {
			rc = bs_registry_catalog(c, &list, &err);
			if (rc == 0)
				print_list(cli, &list);
		} else if (!inspect) {
			rc = bs_registry_tags(c, repo, &list, &err);
			if (rc == 0)
				print_list(cli, &list);
		} else {
			struct bs_registry_image im;

			rc = bs_registry_inspect(c, repo, reference, host_platform(), &im, &err);
			if (rc == 0)
				print_image(cli, cli->args[1], &im);
			bs_registry_image_free(&im);
		}
		if (rc != 0) {
			bs_cli_error("%s", err.msg);
			code = bs_cli_exit_for_error(rc);
		}
	}
	bs_registry_client_free(c);
	bs_strv_free(&list);
	free(server);
	free(repo);
	free(reference);
	free(probe);
	return code;
}

int bs_cli_container(const struct bs_cli *cli)
{
	struct bs_endpoint ep;
	struct bs_cli_ssh ssh;
	struct bs_cdriver *d = NULL;
	int code;

	memset(&ssh, 0, sizeof(ssh));
	bs_cli_signals_install(NULL);
	if (cli->verb == BS_VERB_REGISTRY) /* no engine */
		return cmd_registry(cli);
	if (cli->verb == BS_VERB_LIST || cli->verb == BS_VERB_IMAGES) {
		if (cli->n_args != 0) {
			bs_cli_error("%s takes no arguments", bs_cli_verb_name(cli->verb));
			return BS_EXIT_USAGE;
		}
	} else if (cli->verb == BS_VERB_CLUSTER && !cluster_usage_ok(cli)) {
		return BS_EXIT_USAGE;
	} else if (cli->verb == BS_VERB_PULL && cli->n_args != 1) {
		bs_cli_error("pull takes one IMAGE, like: bootstrap pull nginx:1.25");
		return BS_EXIT_USAGE;
	} else if (cli->verb == BS_VERB_BUILD &&
		   (cli->build_tag != NULL ? cli->n_args != 1 : cli->n_args != 2)) {
		bs_cli_error(
			"build takes -t NAME DIR or NAME GIT_URL, like: bootstrap build -t shop/app:1.4 ./app, or bootstrap build shop/app:1.4 https://git.example.com/shop/app.git#main (see bootstrap build --help)");
		return BS_EXIT_USAGE;
	} else if ((cli->verb == BS_VERB_PULL || cli->verb == BS_VERB_CREATE ||
		    (cli->verb == BS_VERB_BUILD && cli->build_tag == NULL)) &&
		   cli->n_args >= 1 && !image_ref_ok(cli->args[0])) {
		return BS_EXIT_USAGE;
	} else if (cli->verb == BS_VERB_BUILD && cli->build_tag != NULL &&
		   !image_ref_ok(cli->build_tag)) {
		return BS_EXIT_USAGE;
	} else if (cli->verb == BS_VERB_REMOVE && cli->n_args < 1) {
		bs_cli_error("remove takes container NAMEs (each is stopped first)");
		return BS_EXIT_USAGE;
	} else if (cli->verb == BS_VERB_CONTAINER_OP) {
		bool many = strcmp(cli->op, "start") == 0 || strcmp(cli->op, "stop") == 0 ||
			    strcmp(cli->op, "restart") == 0 ||
			    (strcmp(cli->op, "stats") == 0 && !cli->follow);

		if (cli->n_args < 1 || (!many && cli->n_args != 1 && strcmp(cli->op, "top") != 0)) {
			if (strcmp(cli->op, "stats") == 0) {
				bs_cli_error("stats --follow takes one container NAME");
				return BS_EXIT_USAGE;
			}
			bs_cli_error("%s takes %s, like: bootstrap %s web", cli->op,
				     many ? "container NAMEs" : "one container NAME", cli->op);
			return BS_EXIT_USAGE;
		}
	}
	code = open_engine(cli, &ep, &d, &ssh);
	if (code != BS_EXIT_OK)
		return code;
	switch (cli->verb) {
	case BS_VERB_LIST: code = cmd_list(cli, d); break;
	case BS_VERB_IMAGES: code = cmd_images(cli, d); break;
	case BS_VERB_PULL: code = pull(cli, d, cli->args[0]); break;
	case BS_VERB_BUILD: code = cmd_build(cli, d); break;
	case BS_VERB_CREATE: code = cmd_create(cli, d); break;
	case BS_VERB_REMOVE: code = cmd_remove(cli, d); break;
	case BS_VERB_CLUSTER: code = cmd_cluster(cli, d); break;
	default: code = cmd_container_op(cli, d); break;
	}
	if (cli->verbosity > 0)
		bs_log(BS_LOG_DEBUG, "%lu API requests to %s", bs_docker_request_count(d),
		       d->display);
	bs_cli_ssh_hangup(&ssh);
	d->ops->free(d);
	bs_endpoint_free(&ep);
	bs_cli_ssh_close(&ssh);
	return code;
}
