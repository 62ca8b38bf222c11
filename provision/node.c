/*
 * node.c - one node from SSH to a ready engine endpoint. See node.h.
 */
#include "provision/node.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "provision/jump.h"
#include "provision/tlscerts.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/str.h"

void bs_node_session_close(struct bs_node_session *s)
{
	/*
	 * The lock first, waited for, when audit lines went through it: its
	 * holder on the node ends only once it has written every one (a
	 * hang-up could drop lines still in sshd's buffers). Then the session
	 * ends, and every other channel with it (and a lock that logged
	 * nothing): closing each one would cost a round trip apiece. Before
	 * the engine connections close, so the tunnel has nothing half done.
	 */
	if (bs_nodelock_audited(s->lock)) {
		bs_nodelock_release(s->lock);
		s->lock = NULL;
	}
	if (s->ssh != NULL) {
		struct bs_ssh_stats st;

		bs_ssh_get_stats(s->ssh, &st);
		bs_log(BS_LOG_DEBUG,
		       "%s: SSH: %lu round trips, %lu channel(s) to the engine, %llu bytes sent, %llu received",
		       s->name ? s->name : bs_ssh_display(s->ssh), st.round_trips,
		       s->tunnel ? bs_tunnel_channels(s->tunnel) : 0, st.bytes_out, st.bytes_in);
	}
	bs_ssh_hangup(s->ssh);
	if (s->driver != NULL)
		s->driver->ops->free(s->driver);
	bs_endpoint_free(&s->ep);
	bs_nodelock_release(s->lock); /* after the hang-up: only frees */
	bs_tunnel_close(s->tunnel);
	bs_ssh_close(s->ssh);
	free(s->name);
	memset(s, 0, sizeof(*s));
}

/* docker.endpoint: tls - the node's server certificate and the engine URL. */
static int tls_endpoint(struct bs_node_session *out, const struct bs_fleet *r,
			const struct bs_node *n, struct bs_tls_server *server, struct bs_err *err)
{
	char *dir = bs_xasprintf("%s/tls/%s", bs_state_dir(), r->project);
	const char *sans[2] = {n->address, "localhost"};
	char *url = NULL;
	int rc;

	rc = bs_tls_server_ensure(server, dir, n->name, sans, 1, err);
	if (rc == 0) {
		url = bs_xasprintf(strchr(n->address, ':') ? "tcp://[%s]:%d" : "tcp://%s:%d",
				   n->address, r->docker.tls_port);
		rc = bs_endpoint_parse(&out->ep, url, dir, err);
	}
	free(url);
	free(dir);
	return rc;
}

int bs_node_tls_init(const struct bs_fleet *r, struct bs_err *err)
{
	char *dir;
	bool fresh;
	int rc;

	if (r->docker.endpoint != BS_DOCKER_ENDPOINT_TLS)
		return 0;
	dir = bs_xasprintf("%s/tls/%s", bs_state_dir(), r->project);
	rc = bs_tls_ca_ensure(&fresh, dir, err);
	if (rc == 0)
		rc = bs_tls_client_ensure(&fresh, dir, err);
	free(dir);
	return rc;
}

/* provider engine: the engine as it is, by its URL (no SSH, no install). */
static int engine_direct(struct bs_node_session *out, const struct bs_node *n,
			 const struct bs_node_prepare_opts *po, struct bs_err *err)
{
	struct bs_cdriver_opts copts = BS_CDRIVER_OPTS_INIT;
	long long t0 = bs_now_ms();
	int rc;

	rc = bs_endpoint_parse(&out->ep, n->engine, NULL, err);
	if (rc == 0) {
		copts.cancel = po->cancel;
		copts.interrupt = po->interrupt;
		rc = bs_docker_open(&out->driver, &out->ep, &copts, err);
	}
	if (rc != 0) {
		bs_err_prefix(err, "node %s", n->name);
		bs_endpoint_free(&out->ep); /* out->name stays, as on every failure */
		return rc;
	}
	out->report.engine_ready = true;
	out->ms_endpoint = bs_now_ms() - t0;
	return 0;
}

/*
 * The engine through the tunnel. The node's detection only saw that dockerd
 * runs and its socket is there (asking the engine from the node would run
 * the docker CLI: a tenth of a second of CPU on every node, every run), so
 * a dockerd that is still starting gets its time here: a connection that
 * fails (BS_ERR_NETWORK: the socket does not take it yet) is tried again
 * with backoff until READY_WAIT_MS have passed. A timeout is not retried:
 * the attempt already waited its full request timeout for an engine that
 * took the connection and did not answer. Either flag ends the wait
 * (in pauses of 100 ms at most).
 */
#define READY_WAIT_MS 60000
#define READY_STEP_MS 100

static bool flag_set(volatile sig_atomic_t *flag)
{
	return flag != NULL && *flag;
}

static int open_engine(struct bs_node_session *out, const struct bs_cdriver_opts *copts,
		       struct bs_err *err)
{
	long long t0 = bs_now_ms(), deadline = t0 + READY_WAIT_MS, until;
	long pause_ms = 100;
	int rc, tries = 0;

	for (;;) {
		rc = bs_docker_open(&out->driver, &out->ep, copts, err);
		tries++;
		if (rc != BS_ERR_NETWORK)
			return rc;
		if (bs_now_ms() + pause_ms >= deadline)
			break;
		until = bs_now_ms() + pause_ms;
		while (!flag_set(copts->cancel) && !flag_set(copts->interrupt) &&
		       bs_now_ms() < until)
			usleep(READY_STEP_MS * 1000);
		if (flag_set(copts->cancel) || flag_set(copts->interrupt))
			return bs_err_set(err, BS_ERR_INTERRUPTED,
					  "interrupted while waiting for the engine to answer");
		if (pause_ms < 1000)
			pause_ms *= 2;
	}
	bs_err_prefix(err, "the engine did not answer (%d tries in %lld s)", tries,
		      (bs_now_ms() - t0 + 500) / 1000);
	return rc;
}

/* The node's docker.sock through its session: the default endpoint. */
static int open_tunnel(struct bs_node_session *out, const struct bs_dockerhost_opts *dopts,
		       struct bs_err *err)
{
	struct bs_tunnel_opts to;
	char *url = bs_xasprintf("ssh://%s", bs_ssh_display(out->ssh));
	int rc;

	memset(&to, 0, sizeof(to));
	to.url = url;
	to.sudo = dopts->sudo;
	rc = bs_tunnel_open(&out->tunnel, out->ssh, &to, err);
	free(url);
	if (rc == 0)
		bs_tunnel_endpoint(out->tunnel, &out->ep);
	return rc;
}

/* The key file SSH will offer is the one the machine was created with. */
static bool offers_machine_key(const struct bs_node_ssh *ns, const char *machine_key)
{
	char *fp;
	bool same;

	if (machine_key == NULL || ns->opts.key_path == NULL)
		return false;
	fp = bs_ssh_key_file_fingerprint(ns->opts.key_path);
	same = fp != NULL && strcmp(fp, machine_key) == 0;
	free(fp);
	return same;
}

int bs_node_prepare(struct bs_node_session *out, const struct bs_fleet *r, const struct bs_node *n,
		    const struct bs_node_prepare_opts *po, struct bs_err *err)
{
	struct bs_node_ssh ns;
	struct bs_dockerhost_opts dopts;
	struct bs_dockerhost_tls dtls;
	struct bs_tls_server server;
	struct bs_cdriver_opts copts = BS_CDRIVER_OPTS_INIT;
	struct bs_jump_route *route;
	struct bs_ssh_dialer dialer;
	/* plan/status look through the SSH tunnel even when the recipe asks for
	 * TLS: the listener may not be there yet, and looking issues nothing */
	bool tls = r->docker.endpoint == BS_DOCKER_ENDPOINT_TLS && !po->dry_run;
	long long t0 = bs_now_ms();
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&server, 0, sizeof(server));
	out->name = bs_xstrdup(n->name);
	if (r->provider.type == BS_PROVIDER_ENGINE)
		return engine_direct(out, n, po, err);
	bs_node_ssh_init(&ns, &r->ssh, n->address, n->port, n->user, po->key_override);
	if (po->strict_host_keys)
		ns.opts.policy = BS_HOSTKEY_STRICT;
	/* the SSH wait and connect end at the first signal */
	ns.opts.cancel = po->interrupt != NULL ? po->interrupt : po->cancel;
	ns.opts.expected_key = po->machine_key;
	ns.opts.known_hosts_comment = po->host_key_tag;
	/* behind jump hosts: each connection goes through them (jump.h) */
	route = bs_jump_route_new(&ns.opts, n->jump_set ? &n->jump : &r->ssh.jump);
	if (route != NULL) {
		bs_jump_route_dialer(route, &dialer);
		ns.opts.dialer = &dialer;
	}
	/* a refused key is final unless the machine was just created, or was
	 * created with the very key offered (a run that made it was stopped
	 * before cloud-init installed it); a machine that does not answer yet
	 * may be booting, and is waited for */
	rc = bs_ssh_wait(&out->ssh, &ns.opts, ns.wait_ms,
			 po->origin == BS_NODE_CREATED || offers_machine_key(&ns, po->machine_key),
			 &out->ssh_attempts, err);
	if (rc == 0) /* connected: what runs on it stops only when cancelled */
		bs_ssh_set_cancel(out->ssh, po->cancel);
	bs_node_ssh_free(&ns);
	bs_jump_route_free(route); /* the session keeps its own reference */
	if (rc != 0)
		goto fail;
	out->ms_ssh = bs_now_ms() - t0;

	t0 = bs_now_ms();
	memset(&dopts, 0, sizeof(dopts));
	dopts.conf = &r->docker;
	dopts.sudo = strcmp(n->user ? n->user : r->ssh.user ? r->ssh.user : "root", "root") != 0;
	out->sudo = dopts.sudo;
	dopts.command_timeout_ms = po->command_timeout_ms;
	dopts.node = n->name;
	dopts.dry_run = po->dry_run;
	dopts.need_esp = po->need_esp;
	dopts.cluster = r->cluster;
	if (tls) {
		rc = tls_endpoint(out, r, n, &server, err);
		if (rc != 0)
			goto fail;
		dtls.ca_pem = server.ca_pem;
		dtls.cert_pem = server.cert_pem;
		dtls.key_pem = server.key_pem;
		dtls.port = r->docker.tls_port;
		dopts.tls = &dtls;
	}
	if (!tls) { /* the tunnel first: its channel opens while the lock's answer comes */
		rc = open_tunnel(out, &dopts, err);
		if (rc != 0)
			goto fail;
		if (po->lock != NULL)
			bs_tunnel_warm(out->tunnel);
	}
	if (po->lock != NULL) { /* destroy too, which only detects */
		struct bs_nodelock_opts lo = *po->lock;

		/* the lock first, and the detection on its channel */
		lo.then = bs_dockerhost_detect_script(dopts.cluster);
		lo.sudo = dopts.sudo;
		rc = bs_nodelock_acquire(&out->lock, out->ssh, n->name, &lo, err);
		if (rc != 0)
			goto fail_named; /* its messages name the node */
		dopts.detected = bs_nodelock_then(out->lock, &dopts.detected_len);
	}
	rc = bs_dockerhost_ensure(out->ssh, &dopts, &out->report, err);
	bs_tls_server_free(&server);
	if (rc != 0)
		goto fail_named; /* its messages name the node */
	out->ms_docker = bs_now_ms() - t0;
	if (po->dry_run && !out->report.engine_ready)
		return 0; /* nothing to talk to yet: the plan says what comes */

	t0 = bs_now_ms();
	copts.cancel = po->cancel;
	copts.interrupt = po->interrupt;
	/* dockerd ran with its socket at the detection, untouched since */
	copts.no_ping = out->report.engine_up && !out->report.installed && !out->report.started &&
			out->report.action == BS_DAEMON_NONE;
	rc = open_engine(out, &copts, err);
	if (rc != 0)
		goto fail;
	out->ms_endpoint = bs_now_ms() - t0;
	return 0;
fail:
	bs_err_prefix(err, "node %s", n->name);
fail_named:
	bs_tls_server_free(&server);
	{
		char *name = out->name;

		out->name = NULL;
		bs_node_session_close(out);
		out->name = name;
	}
	return rc;
}

void bs_node_machine_opts(struct bs_node_prepare_opts *po, const struct bs_compute *c,
			  const struct bs_machine *m, char **tag)
{
	po->origin = m->created ? BS_NODE_CREATED : m->started ? BS_NODE_STARTED : BS_NODE_FOUND;
	po->machine_key = m->ssh_key;
	*tag = bs_compute_host_key_tag(c, m);
	po->host_key_tag = *tag;
}
