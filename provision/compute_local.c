/*
 * compute_local.c - provider: local. Nodes are containers of a local Docker
 * engine (provider.engine), kind-style: a Debian image with sshd (built by
 * `make node-image`), started through the container driver with the run
 * options of shared/reference/test-lab.md (every capability but
 * SYS_RESOURCE, no seccomp/AppArmor confinement, /proc and /sys unmasked,
 * the host's cgroup namespace and hierarchy), because --privileged fails
 * on hosts whose bounding set lacks CAP_SYS_RESOURCE.
 *
 * Each node: container PROJECT-NODE, labels io.bootstrap.project,
 * io.bootstrap.node and io.bootstrap.kind=node; its own volume
 * PROJECT-NODE-docker for /var/lib/docker (overlay2 inside needs a real
 * filesystem under it); its own host keys (made at first start); the
 * user's public key written to root's authorized_keys through the engine's
 * archive API before the container starts; sshd published on 127.0.0.1
 * only, on a port the engine picks. PID 1 is systemd (provider.init:
 * systemd, the default: tmpfs on /run, /run/lock and /tmp, stop signal
 * SIGRTMIN+3, as a VM boots) or sshd alone (init: none).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "container/driver.h"
#include "provision/compute.h"
#include "util/clock.h"
#include "util/str.h"

#define LABEL_PROJECT "io.bootstrap.project"
#define LABEL_NODE "io.bootstrap.node"
#define LABEL_KIND "io.bootstrap.kind"
#define LABEL_SSH_KEY "io.bootstrap.ssh-key"

/* init: systemd boots the node as a VM boots (its units make the host keys
 * and start sshd); init: none runs sshd alone, which needs /run/sshd and
 * host keys of its own first */
static const char *const systemd_cmd[] = {"/sbin/init", NULL};
static const char *const no_init_cmd[] = {
	"sh", "-c", "mkdir -p /run/sshd && ssh-keygen -A && exec /usr/sbin/sshd -D -e", NULL};
/* systemd in a container wants these fresh at every boot (docker run --tmpfs) */
static const char *const systemd_tmpfs[] = {"/run", "/run/lock", "/tmp", NULL};

struct local {
	struct bs_compute base;
	struct bs_endpoint ep;
	struct bs_cdriver *d;
};

static char *container_name(const struct bs_fleet *r, const char *node)
{
	return bs_xasprintf("%s-%s", r->project, node);
}

static enum bs_node_state node_state(enum bs_cstate s)
{
	switch (s) {
	case BS_CSTATE_RUNNING: return BS_NODE_RUNNING;
	case BS_CSTATE_STOPPED: return BS_NODE_STOPPED;
	case BS_CSTATE_PAUSED: return BS_NODE_STOPPED;
	case BS_CSTATE_RESTARTING: return BS_NODE_REBOOTING;
	case BS_CSTATE_TERMINATED: return BS_NODE_TERMINATED;
	default: return BS_NODE_UNKNOWN;
	}
}

static const char *label(const struct bs_kvlist *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].key, key) == 0)
			return l->v[i].value;
	return NULL;
}

/* A machine from what the engine says about a node container. */
static void fill_machine(struct bs_machine *m, const struct bs_cinfo *ci, const char *image)
{
	const char *node = label(&ci->labels, LABEL_NODE);
	const char *project = label(&ci->labels, LABEL_PROJECT);

	m->id = bs_xstrdup(ci->id);
	m->name = bs_xstrdup(node ? node : ci->name);
	m->project = project ? bs_xstrdup(project) : NULL;
	m->state = node_state(ci->state);
	m->image = bs_xstrdup(ci->image ? ci->image : image);
	m->region = bs_xstrdup("local");
	if (label(&ci->labels, LABEL_SSH_KEY) != NULL)
		m->ssh_key = bs_xstrdup(label(&ci->labels, LABEL_SSH_KEY));
	for (size_t i = 0; i < ci->n_ports; i++) {
		if (ci->ports[i].container_port == 22 && !ci->ports[i].udp &&
		    ci->ports[i].host_port > 0) {
			m->ssh_host = bs_xstrdup(ci->ports[i].host_ip && ci->ports[i].host_ip[0]
							 ? ci->ports[i].host_ip
							 : "127.0.0.1");
			m->ssh_port = ci->ports[i].host_port;
			break;
		}
	}
}

static int cmp_machine(const void *a, const void *b)
{
	return strcmp(((const struct bs_machine *)a)->name, ((const struct bs_machine *)b)->name);
}

static int local_list(struct bs_compute *c, struct bs_machine_list *out, struct bs_err *err)
{
	struct local *l = (struct local *)c;
	struct bs_kvlist filter = {0};
	struct bs_cinfo_list cl;
	int rc;

	memset(out, 0, sizeof(*out));
	bs_kvlist_push(&filter, LABEL_PROJECT, c->fleet.project, false);
	bs_kvlist_push(&filter, LABEL_KIND, "node", false);
	rc = l->d->ops->container_list(l->d, true, &filter, &cl, err);
	bs_kvlist_free(&filter);
	if (rc != 0)
		return rc;
	out->v = bs_xcalloc(cl.n ? cl.n : 1, sizeof(*out->v));
	for (size_t i = 0; i < cl.n; i++)
		fill_machine(&out->v[out->n++], &cl.v[i], c->fleet.provider.image);
	bs_cinfo_list_free(&cl);
	qsort(out->v, out->n, sizeof(*out->v), cmp_machine);
	return 0;
}

static int inspect_machine(struct local *l, const char *name, struct bs_machine *out,
			   struct bs_err *err)
{
	struct bs_cinfo ci;
	int rc = l->d->ops->container_inspect(l->d, name, &ci, NULL, err);

	if (rc != 0)
		return rc;
	bs_machine_free(out);
	fill_machine(out, &ci, l->base.fleet.provider.image);
	bs_cinfo_free(&ci);
	return 0;
}

/*
 * Create the node container, put the user's public key in root's
 * authorized_keys (the image has an empty /root/.ssh, 0700), then start
 * it: the key is in place before sshd or systemd starts, and never in the
 * container's command line or environment. A node that cannot get its key
 * or start is removed, so that no keyless node is found by the next run.
 */
static int create_with_key(struct local *l, const struct bs_cspec *spec, const char *public_key,
			   char **id, struct bs_err *err)
{
	struct bs_err cleanup = BS_ERR_INIT;
	char *line = bs_xasprintf("%s\n", public_key);
	int rc;

	rc = l->d->ops->container_create(l->d, spec, id, err);
	if (rc != 0)
		goto out;
	rc = l->d->ops->container_put_file(l->d, spec->name, "/root/.ssh", "authorized_keys", line,
					   strlen(line), 0600, err);
	if (rc == BS_ERR_NOT_FOUND)
		rc = bs_err_set(
			err, rc,
			"the image %s has no /root/.ssh for the authorized key: build the node image with `make node-image` (or make /root/.ssh, 0700, in your own image)",
			spec->image);
	if (rc == 0)
		rc = l->d->ops->container_start(l->d, spec->name, NULL, err);
	if (rc == 0)
		goto out;
	if (l->d->ops->container_destroy(l->d, *id, 0, &cleanup) == 0)
		bs_err_prefix(err,
			      "container %s was created but could not be set up, and was removed",
			      spec->name);
	else
		bs_err_prefix(
			err,
			"container %s was created but could not be set up; removing it failed too (%s)",
			spec->name, cleanup.msg);
	free(*id);
	*id = NULL;
out:
	free(line);
	return rc;
}

static int local_create(struct bs_compute *c, const struct bs_node *node, struct bs_machine *out,
			struct bs_err *err)
{
	struct local *l = (struct local *)c;
	const struct bs_fleet *r = &c->fleet;
	char *name = container_name(r, node->name);
	char *volume = bs_xasprintf("%s-docker", name);
	struct bs_kvlist labels = {0};
	struct bs_mount_spec mounts[2];
	struct bs_cport_binding port;
	static const char *const cap_add[] = {"ALL", NULL};
	static const char *const cap_drop[] = {"SYS_RESOURCE", NULL};
	static const char *const security[] = {"seccomp=unconfined", "apparmor=unconfined", NULL};
	struct bs_cspec spec;
	struct bs_cinfo existing;
	bool created;
	char *id = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (c->opts.ssh_public_key == NULL) {
		rc = bs_err_set(
			err, BS_ERR_INVALID,
			"node %s: no SSH public key to put on the node (ssh.key names the private key; its .pub must be next to it)",
			node->name);
		goto out;
	}
	/* one that a killed run left behind: adopt it, never a second one */
	if (l->d->ops->container_inspect(l->d, name, &existing, NULL, err) == 0) {
		const char *p = label(&existing.labels, LABEL_PROJECT);
		const char *n = label(&existing.labels, LABEL_NODE);
		bool ours = p && n && strcmp(p, r->project) == 0 && strcmp(n, node->name) == 0;

		bs_cinfo_free(&existing);
		if (!ours) {
			rc = bs_err_set(
				err, BS_ERR_CONFLICT,
				"node %s: a container named %s exists and is not this project's node; rename or remove it",
				node->name, name);
			goto out;
		}
		rc = l->d->ops->container_start(l->d, name, &created, err);
		if (rc == 0)
			rc = inspect_machine(l, name, out, err);
		goto out;
	}
	bs_kvlist_push(&labels, LABEL_PROJECT, r->project, false);
	bs_kvlist_push(&labels, LABEL_NODE, node->name, false);
	bs_kvlist_push(&labels, LABEL_KIND, "node", false);
	if (c->opts.ssh_key_fingerprint != NULL)
		bs_kvlist_push(&labels, LABEL_SSH_KEY, c->opts.ssh_key_fingerprint, false);
	rc = l->d->ops->volume_ensure(l->d, volume, &labels, &created, err);
	if (rc != 0)
		goto out;
	memset(mounts, 0, sizeof(mounts));
	mounts[0].type = "volume";
	mounts[0].source = volume;
	mounts[0].target = "/var/lib/docker";
	mounts[1].type = "bind";
	mounts[1].source = "/sys/fs/cgroup";
	mounts[1].target = "/sys/fs/cgroup";
	memset(&port, 0, sizeof(port));
	port.host_ip = (char *)"127.0.0.1";
	port.host_port = 0;
	port.container_port = 22;
	memset(&spec, 0, sizeof(spec));
	spec.name = name;
	spec.image = r->provider.image;
	spec.cmd = r->provider.init == BS_NODE_INIT_NONE ? no_init_cmd : systemd_cmd;
	spec.labels = &labels;
	spec.ports = &port;
	spec.n_ports = 1;
	spec.mounts = mounts;
	spec.n_mounts = 2;
	spec.restart = "unless-stopped";
	spec.cap_add = cap_add;
	spec.cap_drop = cap_drop;
	spec.security_opt = security;
	spec.unmask_paths = true;
	spec.cgroupns_mode = "host";
	spec.hostname = node->name;
	if (r->provider.init == BS_NODE_INIT_SYSTEMD) {
		spec.tmpfs = systemd_tmpfs;
		/* what systemd takes as "halt": docker stop shuts the node down cleanly */
		spec.stop_signal = "SIGRTMIN+3";
	}
	rc = create_with_key(l, &spec, c->opts.ssh_public_key, &id, err);
	if (rc == 0)
		rc = inspect_machine(l, name, out, err);
out:
	if (rc != 0)
		bs_err_prefix(err, "local node %s", node->name);
	free(id);
	bs_kvlist_free(&labels);
	free(volume);
	free(name);
	return rc;
}

static int local_destroy(struct bs_compute *c, const struct bs_machine *m, struct bs_err *err)
{
	struct local *l = (struct local *)c;
	char *name = container_name(&c->fleet, m->name);
	char *volume = bs_xasprintf("%s-docker", name);
	bool removed;
	int rc;

	if (m->project == NULL || strcmp(m->project, c->fleet.project) != 0) {
		rc = bs_err_set(err, BS_ERR_CONFLICT,
				"local node %s belongs to another project (%s): not touched",
				m->name, m->project ? m->project : "none");
		goto out;
	}
	rc = l->d->ops->container_destroy(l->d, m->id, 10, err);
	if (rc == BS_ERR_NOT_FOUND)
		rc = 0;
	if (rc == 0)
		rc = l->d->ops->volume_remove(l->d, volume, &removed, err);
out:
	free(volume);
	free(name);
	return rc;
}

static int local_start(struct bs_compute *c, struct bs_machine *m, struct bs_err *err)
{
	struct local *l = (struct local *)c;
	bool started;
	int rc = 0;

	/* a run killed between create and start left it without its key: put
	 * it in, when it is missing, and only the key the node was created
	 * with (another key must not take the node over; that run is told
	 * which key to use) */
	if (c->opts.ssh_public_key != NULL && c->opts.ssh_key_fingerprint != NULL &&
	    m->ssh_key != NULL && strcmp(m->ssh_key, c->opts.ssh_key_fingerprint) == 0) {
		char *data = NULL;
		size_t len = 0;

		rc = l->d->ops->container_get_file(l->d, m->id, "/root/.ssh/authorized_keys", 65536,
						   &data, &len, err);
		free(data);
		if (rc == BS_ERR_NOT_FOUND) {
			char *line = bs_xasprintf("%s\n", c->opts.ssh_public_key);

			bs_err_clear(err);
			rc = l->d->ops->container_put_file(l->d, m->id, "/root/.ssh",
							   "authorized_keys", line, strlen(line),
							   0600, err);
			free(line);
		} else if (rc != 0) { /* the key cannot be checked: start it as it is */
			bs_err_clear(err);
			rc = 0;
		}
	}
	if (rc == 0)
		rc = l->d->ops->container_start(l->d, m->id, &started, err);
	if (rc == 0) {
		char *id = bs_xstrdup(m->id);

		rc = inspect_machine(l, id, m, err);
		free(id);
	}
	if (rc != 0)
		bs_err_prefix(err, "local node %s: cannot start it", m->name);
	return rc;
}

static int local_wait(struct bs_compute *c, struct bs_machine *m, struct bs_err *err)
{
	struct local *l = (struct local *)c;
	long limit = c->opts.running_timeout_ms > 0 ? c->opts.running_timeout_ms : 60000;
	long long deadline = bs_now_ms() + limit;
	int rc;

	for (;;) {
		char *id = bs_xstrdup(m->id);

		rc = inspect_machine(l, id, m, err);
		free(id);
		if (rc != 0)
			return rc;
		if (m->state == BS_NODE_RUNNING && m->ssh_host != NULL)
			return 0;
		if (c->opts.cancel != NULL && *c->opts.cancel)
			return bs_err_set(err, BS_ERR_INTERRUPTED, "local node %s: interrupted",
					  m->name);
		if (bs_now_ms() > deadline)
			return bs_err_set(
				err, BS_ERR_TIMEOUT,
				"local node %s: not running after %ld s (state %s); see its log: docker logs %s-%s",
				m->name, limit / 1000, bs_node_state_name(m->state),
				c->fleet.project, m->name);
		usleep(200 * 1000);
	}
}

static void local_free(struct bs_compute *c)
{
	struct local *l = (struct local *)c;

	if (l->d != NULL)
		l->d->ops->free(l->d);
	bs_endpoint_free(&l->ep);
	free(l);
}

static const struct bs_compute_ops local_ops = {
	.name = "local",
	.list = local_list,
	.create = local_create,
	.destroy = local_destroy,
	.wait_running = local_wait,
	.start = local_start,
	.free = local_free,
};

int bs_compute_local_open(struct bs_compute **out, const struct bs_fleet *fleet,
			  const struct bs_compute_opts *opts, struct bs_err *err)
{
	struct local *l = bs_xcalloc(1, sizeof(*l));
	struct bs_cdriver_opts copts = BS_CDRIVER_OPTS_INIT;
	struct bs_iinfo img;
	int rc;

	*out = NULL;
	l->base.ops = &local_ops;
	l->base.fleet = *fleet;
	if (opts != NULL)
		l->base.opts = *opts;
	l->base.creates = true;
	rc = bs_endpoint_parse(&l->ep, fleet->provider.engine, NULL, err);
	if (rc == 0) {
		/* no cancel on the engine's requests: they are short, and a node
		 * created, given its key and started must not be cut half-way
		 * by a Ctrl-C (local_wait sees opts.cancel itself) */
		rc = bs_docker_open(&l->d, &l->ep, &copts, err);
	}
	if (rc == 0) {
		rc = l->d->ops->image_inspect(l->d, fleet->provider.image, &img, err);
		if (rc == 0)
			bs_iinfo_free(&img);
		else if (rc == BS_ERR_NOT_FOUND)
			rc = bs_err_set(
				err, BS_ERR_NOT_FOUND,
				"the node image %s is not on the engine %s: build it with `make node-image` (debootstrap, about a minute)",
				fleet->provider.image, l->ep.url);
	}
	if (rc != 0) {
		bs_err_prefix(err, "provider local");
		local_free(&l->base);
		return rc;
	}
	*out = &l->base;
	return 0;
}
