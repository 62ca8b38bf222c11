/*
 * tests/integration/cloud.c - the cloud compute drivers
 * (provision/compute_hetzner.c, provision/compute_digitalocean.c) driven
 * from tests/integration/cloud.sh against the fake APIs of tests/fakes/,
 * whose machines are real node containers with sshd on 127.0.0.N:22.
 *
 *   cloud hetzner|digitalocean list             "NAME ID STATE HOST:PORT SIZE IMAGE REGION"
 *                                               per machine, then "count N"
 *   cloud hetzner|digitalocean create NODE...   create each: "created NAME ID STATE"
 *   cloud hetzner|digitalocean up NODE...       create each, then wait until each
 *                                               runs: "up NAME ID STATE HOST:PORT"
 *   cloud hetzner|digitalocean destroy [NODE...] destroy the project's machines of
 *                                               those names (all when none named):
 *                                               "destroyed NAME ID", then "count N"
 *   cloud hetzner|digitalocean check            the plan-time check: "check ok"
 *   cloud hetzner|digitalocean start NODE...    power on each machine found off,
 *                                               then wait: "up NAME ID STATE HOST:PORT"
 *   cloud hetzner|digitalocean pages PATH KEY PER_PAGE
 *                                               the REST client alone: every page of
 *                                               the list at PATH, PER_PAGE a page:
 *                                               "items N requests M"
 *
 * The environment says the rest: CLOUD_URL (the API base URL), CLOUD_PROJECT,
 * CLOUD_PUBKEY (an OpenSSH .pub file), CLOUD_REGION, CLOUD_REQUEST_TIMEOUT_MS,
 * CLOUD_RUNNING_TIMEOUT_MS, CLOUD_RATE_LIMIT_WAIT_MS (pages only),
 * CLOUD_SIZE, CLOUD_IMAGE (the provider's), CLOUD_NODE_SIZE (a size
 * override on every node), CLOUD_KEY_FP (the "SHA256:..." recorded on
 * new machines; list prints it last, "-" when none),
 * CLOUD_DEBUG=1 for every request; the token comes
 * from HCLOUD_TOKEN or DIGITALOCEAN_TOKEN as the drivers read it. The
 * drivers' log lines go to stderr as "log: ...", the time each step took as
 * "time: STEP MS ms". Exit status 0 on success; 1 with
 * "error [CODE NAME]: MESSAGE" on stderr; 2 on bad usage.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "provision/cloud_rest.h"
#include "provision/compute.h"
#include "provision/fleet.h"
#include "util/error.h"
#include "util/log.h"
#include "util/str.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void on_log(enum bs_log_level level, const char *line, void *payload)
{
	(void)payload;
	fprintf(stderr, "log: %s: %s\n", bs_log_level_name(level), line);
}

static long long ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long env_long(const char *name, long fallback)
{
	const char *v = getenv(name);
	long long n;

	return v != NULL && bs_parse_int64(v, &n) == 0 ? (long)n : fallback;
}

static char *read_line_file(const char *path)
{
	struct bs_buf b = BS_BUF_INIT;
	char chunk[512];
	size_t n;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return NULL;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		bs_buf_append(&b, chunk, n);
	fclose(f);
	return bs_buf_detach(&b);
}

static int fail(const struct bs_err *err)
{
	fprintf(stderr, "error [%d %s]: %s\n", err->code, bs_strerror(err->code), err->msg);
	return 1;
}

static void print_machine(const char *what, const struct bs_machine *m)
{
	printf("%s%s%s %s %s %s:%d %s %s %s %s\n", what, what[0] ? " " : "", m->name, m->id,
	       bs_node_state_name(m->state), m->ssh_host ? m->ssh_host : "-", m->ssh_port,
	       m->size ? m->size : "-", m->image ? m->image : "-", m->region ? m->region : "-",
	       m->ssh_key ? m->ssh_key : "-");
}

static int cmd_list(struct bs_compute *c)
{
	struct bs_err err = BS_ERR_INIT;
	struct bs_machine_list l;
	long long t0 = ms_now();
	size_t i;

	if (c->ops->list(c, &l, &err) != 0)
		return fail(&err);
	fprintf(stderr, "time: list %lld ms\n", ms_now() - t0);
	for (i = 0; i < l.n; i++)
		print_machine("", &l.v[i]);
	printf("count %zu\n", l.n);
	bs_machine_list_free(&l);
	return 0;
}

static int cmd_create(struct bs_compute *c, const struct bs_fleet *r, bool wait)
{
	struct bs_err err = BS_ERR_INIT;
	struct bs_machine *made = bs_xcalloc(r->n_nodes, sizeof(*made));
	size_t i, n = 0;
	int rc = 0;

	for (i = 0; i < r->n_nodes && rc == 0; i++) {
		long long t0 = ms_now();

		rc = c->ops->create(c, &r->nodes[i], &made[n], &err);
		if (rc == 0) {
			fprintf(stderr, "time: create %s %lld ms\n", r->nodes[i].name,
				ms_now() - t0);
			printf("created %s %s %s\n", made[n].name, made[n].id,
			       bs_node_state_name(made[n].state));
			n++;
		}
	}
	/* all are started before any is waited for: they boot together */
	for (i = 0; i < n && rc == 0 && wait; i++) {
		long long t0 = ms_now();

		rc = c->ops->wait_running(c, &made[i], &err);
		if (rc == 0) {
			fprintf(stderr, "time: wait_running %s %lld ms\n", made[i].name,
				ms_now() - t0);
			print_machine("up", &made[i]);
		}
	}
	for (i = 0; i < n; i++)
		bs_machine_free(&made[i]);
	free(made);
	fflush(stdout);
	return rc == 0 ? 0 : fail(&err);
}

static int cmd_destroy(struct bs_compute *c, char **names, int n_names)
{
	struct bs_err err = BS_ERR_INIT;
	struct bs_machine_list l;
	size_t i, count = 0;
	int rc = 0, j;

	if (c->ops->list(c, &l, &err) != 0)
		return fail(&err);
	for (i = 0; i < l.n && rc == 0; i++) {
		bool wanted = n_names == 0;
		long long t0 = ms_now();

		for (j = 0; j < n_names && !wanted; j++)
			wanted = strcmp(names[j], l.v[i].name) == 0;
		if (!wanted)
			continue;
		rc = c->ops->destroy(c, &l.v[i], &err);
		if (rc == 0) {
			fprintf(stderr, "time: destroy %s %lld ms\n", l.v[i].name, ms_now() - t0);
			printf("destroyed %s %s\n", l.v[i].name, l.v[i].id);
			count++;
		}
	}
	bs_machine_list_free(&l);
	if (rc != 0)
		return fail(&err);
	printf("count %zu\n", count);
	return 0;
}

static int cmd_check(struct bs_compute *c)
{
	struct bs_err err = BS_ERR_INIT;
	long long t0 = ms_now();

	if (c->ops->check(c, &err) != 0)
		return fail(&err);
	fprintf(stderr, "time: check %lld ms\n", ms_now() - t0);
	printf("check ok\n");
	return 0;
}

static int cmd_start(struct bs_compute *c, char **names, int n_names)
{
	struct bs_err err = BS_ERR_INIT;
	struct bs_machine_list l;
	size_t i;
	int rc = 0, j;

	if (c->ops->list(c, &l, &err) != 0)
		return fail(&err);
	for (i = 0; i < l.n && rc == 0; i++) {
		bool wanted = false;
		long long t0 = ms_now();

		for (j = 0; j < n_names && !wanted; j++)
			wanted = strcmp(names[j], l.v[i].name) == 0;
		if (!wanted)
			continue;
		printf("found %s %s %s\n", l.v[i].name, l.v[i].id,
		       bs_node_state_name(l.v[i].state));
		if (l.v[i].state == BS_NODE_STOPPED)
			rc = c->ops->start(c, &l.v[i], &err);
		if (rc == 0)
			rc = c->ops->wait_running(c, &l.v[i], &err);
		if (rc == 0) {
			fprintf(stderr, "time: start %s %lld ms\n", l.v[i].name, ms_now() - t0);
			print_machine("up", &l.v[i]);
		}
	}
	bs_machine_list_free(&l);
	fflush(stdout);
	return rc == 0 ? 0 : fail(&err);
}

static int cmd_pages(bool hetzner, const char *path, const char *key, const char *per_page)
{
	struct bs_rest_opts o = BS_REST_OPTS_INIT;
	struct bs_err err = BS_ERR_INIT;
	struct bs_rest *r = NULL;
	cJSON *items = NULL;
	long long n;
	int rc;

	o.dialect = hetzner ? BS_REST_HETZNER : BS_REST_DIGITALOCEAN;
	o.base_url = getenv("CLOUD_URL");
	o.token = getenv(hetzner ? "HCLOUD_TOKEN" : "DIGITALOCEAN_TOKEN");
	o.token_source = hetzner ? "$HCLOUD_TOKEN" : "$DIGITALOCEAN_TOKEN";
	o.per_page = bs_parse_int64(per_page, &n) == 0 ? (long)n : 0;
	o.rate_limit_wait_ms = env_long("CLOUD_RATE_LIMIT_WAIT_MS", 0);
	o.cancel = &stop_flag;
	rc = bs_rest_open(&r, &o, &err);
	if (rc == 0)
		rc = bs_rest_get_all(r, path, key, &items, &err);
	if (rc == 0)
		printf("items %d requests %lu\n", cJSON_GetArraySize(items),
		       bs_rest_request_count(r));
	cJSON_Delete(items);
	bs_rest_free(r);
	return rc == 0 ? 0 : fail(&err);
}

static int usage(void)
{
	fprintf(stderr,
		"usage: cloud hetzner|digitalocean list|create|up|destroy|check|start [NODE...]\n"
		"       cloud hetzner|digitalocean pages PATH KEY PER_PAGE\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct bs_compute_opts opts = {0};
	struct bs_err err = BS_ERR_INIT;
	struct bs_fleet fleet;
	struct bs_node *nodes = NULL;
	struct bs_compute *c = NULL;
	const char *cmd;
	char *pubkey = NULL;
	bool hetzner;
	int i, rc;

	if (argc < 3)
		return usage();
	if (strcmp(argv[1], "hetzner") != 0 && strcmp(argv[1], "digitalocean") != 0)
		return usage();
	hetzner = strcmp(argv[1], "hetzner") == 0;
	cmd = argv[2];
	if (strcmp(cmd, "pages") == 0) {
		if (argc != 6)
			return usage();
		curl_global_init(CURL_GLOBAL_DEFAULT);
		rc = cmd_pages(hetzner, argv[3], argv[4], argv[5]);
		bs_secret_clear();
		curl_global_cleanup();
		return rc;
	}
	if (strcmp(cmd, "list") != 0 && strcmp(cmd, "create") != 0 && strcmp(cmd, "up") != 0 &&
	    strcmp(cmd, "destroy") != 0 && strcmp(cmd, "check") != 0 && strcmp(cmd, "start") != 0)
		return usage();
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	bs_log_set_sink(on_log, NULL);
	bs_log_set_level(getenv("CLOUD_DEBUG") ? BS_LOG_DEBUG : BS_LOG_INFO);
	curl_global_init(CURL_GLOBAL_DEFAULT);

	memset(&fleet, 0, sizeof(fleet));
	fleet.file = "cloud-test";
	fleet.project = getenv("CLOUD_PROJECT") ? getenv("CLOUD_PROJECT") : "itest";
	fleet.provider.type = hetzner ? BS_PROVIDER_HETZNER : BS_PROVIDER_DIGITALOCEAN;
	fleet.provider.api_url = getenv("CLOUD_URL");
	fleet.provider.region = getenv("CLOUD_REGION");
	fleet.provider.size = getenv("CLOUD_SIZE") ? getenv("CLOUD_SIZE")
			      : hetzner		   ? "cx22"
						   : "s-1vcpu-1gb";
	fleet.provider.image = getenv("CLOUD_IMAGE") ? getenv("CLOUD_IMAGE")
			       : hetzner	     ? "debian-12"
						     : "debian-12-x64";
	fleet.provider.loc.line = 3; /* as if the provider block were there */
	fleet.provider.loc.col = 11;
	if (strcmp(cmd, "create") == 0 || strcmp(cmd, "up") == 0 || strcmp(cmd, "check") == 0) {
		fleet.n_nodes = (size_t)(argc - 3);
		nodes = bs_xcalloc(fleet.n_nodes ? fleet.n_nodes : 1, sizeof(*nodes));
		fleet.nodes = nodes;
		for (i = 3; i < argc; i++) {
			nodes[i - 3].name = argv[i];
			nodes[i - 3].group = argv[i];
			nodes[i - 3].entry = (size_t)(i - 3);
			nodes[i - 3].size = getenv("CLOUD_NODE_SIZE");
			nodes[i - 3].loc.line = 5 + (i - 3);
			nodes[i - 3].loc.col = 5;
		}
	}
	if (getenv("CLOUD_PUBKEY") != NULL) {
		pubkey = read_line_file(getenv("CLOUD_PUBKEY"));
		if (pubkey == NULL) {
			fprintf(stderr, "cannot read %s\n", getenv("CLOUD_PUBKEY"));
			return 2;
		}
	}
	opts.request_timeout_ms = env_long("CLOUD_REQUEST_TIMEOUT_MS", 0);
	opts.running_timeout_ms = env_long("CLOUD_RUNNING_TIMEOUT_MS", 0);
	opts.ssh_public_key = pubkey;
	opts.ssh_key_fingerprint = getenv("CLOUD_KEY_FP");
	opts.cancel = &stop_flag;

	rc = hetzner ? bs_compute_hetzner_open(&c, &fleet, &opts, &err)
		     : bs_compute_digitalocean_open(&c, &fleet, &opts, &err);
	if (rc != 0) {
		rc = fail(&err);
	} else if (strcmp(cmd, "list") == 0) {
		rc = cmd_list(c);
	} else if (strcmp(cmd, "destroy") == 0) {
		rc = cmd_destroy(c, argv + 3, argc - 3);
	} else if (strcmp(cmd, "check") == 0) {
		rc = cmd_check(c);
	} else if (strcmp(cmd, "start") == 0) {
		rc = cmd_start(c, argv + 3, argc - 3);
	} else {
		rc = cmd_create(c, &fleet, strcmp(cmd, "up") == 0);
	}
	if (c != NULL)
		c->ops->free(c);
	free(nodes);
	free(pubkey);
	bs_secret_clear();
	curl_global_cleanup();
	return rc;
}
