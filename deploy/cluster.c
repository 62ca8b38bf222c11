/*
 * cluster.c - the recipe's swarm: membership, node labels, services.
 * See cluster.h for the rules.
 */
#include <arpa/inet.h>
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deploy/cluster.h"
#include "deploy/spec.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/str.h"

#define SWARM_PORT 2377
#define BS_LABEL_NODE_LABELS "io.bootstrap.labels" /* the recipe's label keys */
#define BS_LABEL_TASK_HASH "io.bootstrap.task-hash"
#define POLL_MS 500
#define DEFAULT_PIDS 512 /* as containers get (converge.c) */
#define PENDING_MS 60000 /* how long a node may take to rejoin its swarm */

struct mem {
	struct bs_cluster_member_in *in;
	struct bs_cluster_advert adv; /* what it advertises (plan_network) */
	bool adv_ok;
	struct bs_swarm_member m;
	bool have;	   /* m was read */
	bool want_manager; /* the recipe says so */
	bool failed;
};

struct cw {
	const struct bs_cluster_opts *o;
	const struct bs_recipe *r;
	struct mem *v;
	size_t n;
	struct mem *leader;
	struct bs_cluster cl;
	struct bs_cluster_node_list nodes;
	struct bs_counts *counts;
	bool moved;		   /* membership changed: services may move, wait for them */
	struct bs_strv promoted;   /* node IDs promoted by this run */
	struct bs_cluster_net net; /* the overlay's options (plan_network) */
	bool inited;		   /* this run made the swarm */
};

char *bs_service_name(const char *project, const char *container)
{
	return bs_xasprintf("%s-%s", project, container);
}

/* ---- reporting ------------------------------------------------------- */

static void event(struct cw *w, enum bs_ev_kind kind, const char *node, const char *action,
		  const char *object, const char *reason, const char *error, long long ms)
{
	struct bs_event ev;

	if (w->o->report == NULL)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.node = node;
	ev.action = action;
	ev.object = object;
	ev.reason = reason;
	ev.error = error;
	ev.ms = ms;
	w->o->report(&ev, w->o->payload);
}

static void message(struct cw *w, const char *node, const char *level, const char *text)
{
	struct bs_event ev;

	if (w->o->report == NULL)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.kind = BS_EV_MESSAGE;
	ev.node = node;
	ev.state = level;
	ev.reason = text;
	w->o->report(&ev, w->o->payload);
}

static void audit(struct mem *m, const char *project, const char *action, const char *object,
		  const char *reason)
{
	struct bs_buf raw = BS_BUF_INIT, masked = BS_BUF_INIT;

	if (m == NULL || m->in->audit == NULL)
		return;
	bs_buf_printf(&raw, "%s: %s %s%s%s%s", project, action, object, reason ? " (" : "",
		      reason ? reason : "", reason ? ")" : "");
	bs_secret_mask(&masked, raw.data);
	m->in->audit(m->in->audit_payload, masked.data);
	bs_buf_wipe_free(&raw);
	bs_buf_free(&masked);
}

static void nap(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static bool cancelled(const struct cw *w)
{
	return w->o->cancel != NULL && *w->o->cancel;
}

/* counted: 'c' created, 'u' updated, 'r' removed, 'o' other */
static void count(struct cw *w, char what)
{
	switch (what) {
	case 'c': w->counts->created++; break;
	case 'u': w->counts->updated++; break;
	case 'r': w->counts->removed++; break;
	default: w->counts->other++; break;
	}
}

struct step {
	long long t0;
	const char *node, *action, *object, *reason;
};

/* plan: report it and return false; apply: report the start, return true */
static bool begin(struct cw *w, struct step *s, const char *node, const char *action,
		  const char *object, const char *reason, char what)
{
	s->t0 = bs_now_ms();
	s->node = node;
	s->action = action;
	s->object = object;
	s->reason = reason;
	if (!w->o->apply) {
		if (w->o->report_planned)
			event(w, BS_EV_ACTION_PLANNED, node, action, object, reason, NULL, 0);
		count(w, what);
		return false;
	}
	event(w, BS_EV_ACTION_STARTED, node, action, object, reason, NULL, 0);
	return true;
}

static int end(struct cw *w, struct step *s, struct mem *m, int rc, const struct bs_err *err,
	       char what)
{
	event(w, rc == 0 ? BS_EV_ACTION_DONE : BS_EV_ACTION_FAILED, s->node, s->action, s->object,
	      s->reason, rc == 0 ? NULL : err->msg, bs_now_ms() - s->t0);
	if (rc == 0) {
		count(w, what);
		audit(m, w->r->project, s->action, s->object, s->reason);
	} else {
		w->counts->failed++;
	}
	return rc;
}

/* ---- the overlay network: encryption, advertise, MTU ----------------- */

#define MTU_OPTION "com.docker.network.driver.mtu"

bool bs_cluster_addr_is_public(const char *addr)
{
	unsigned char a[16];

	if (addr == NULL)
		return false;
	if (inet_pton(AF_INET, addr, a) == 1)
		return !(a[0] == 10 || a[0] == 127 || a[0] == 0 || a[0] >= 224 ||
			 (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168) ||
			 (a[0] == 169 && a[1] == 254) || (a[0] == 100 && (a[1] & 0xc0) == 64));
	if (inet_pton(AF_INET6, addr, a) == 1) {
		static const unsigned char zero[16];
		static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

		if (memcmp(a, mapped, 12) == 0) { /* ::ffff:a.b.c.d */
			char v4[INET_ADDRSTRLEN];

			return inet_ntop(AF_INET, a + 12, v4, sizeof(v4)) != NULL &&
			       bs_cluster_addr_is_public(v4);
		}
		return !(memcmp(a, zero, 15) == 0 ||		    /* :: and ::1 */
			 (a[0] & 0xfe) == 0xfc ||		    /* ULA fc00::/7 */
			 (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) || /* link-local fe80::/10 */
			 a[0] == 0xff);				    /* multicast */
	}
	return false;
}

static bool is_address(const char *s)
{
	unsigned char a[16];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

/* Interfaces Docker makes on a node, and the virtual ones of other tools
 * (libvirt, Tailscale, LXD, CNI/Flannel/Calico, WireGuard, Podman): never
 * what it advertises. */
static bool docker_made(const char *ifname)
{
	static const char *const virtual_[] = {
		"docker", "br-",    "veth",    "vx-", "virbr", "tailscale", "lxdbr",
		"lxcbr",  "cni",    "flannel", "wg",  "cali",  "vxlan",	    "podman",
		"kube-",  "cilium", "weave",   "tun", "zt",    NULL,
	};

	if (strcmp(ifname, "lo") == 0)
		return true;
	for (size_t i = 0; virtual_[i] != NULL; i++)
		if (bs_str_starts_with(ifname, virtual_[i]))
			return true;
	return false;
}

/* The first address of ifname (IPv4 before IPv6), or NULL. */
static const struct bs_dockerhost_addr *addr_of(const struct bs_dockerhost_addr *v, size_t n,
						const char *ifname)
{
	const struct bs_dockerhost_addr *v6 = NULL;

	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].ifname, ifname) != 0)
			continue;
		if (strchr(v[i].addr, ':') == NULL)
			return &v[i];
		if (v6 == NULL)
			v6 = &v[i];
	}
	return v6;
}

static void list_addrs(struct bs_buf *b, const struct bs_dockerhost_addr *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!docker_made(v[i].ifname))
			bs_buf_printf(b, "%s%s %s", b->len ? ", " : "", v[i].ifname, v[i].addr);
	if (b->len == 0)
		bs_buf_puts(b, "none found");
}

static void advert_set(struct bs_cluster_advert *out, const char *value,
		       const struct bs_dockerhost_addr *a)
{
	snprintf(out->value, sizeof(out->value), "%s", value);
	snprintf(out->addr, sizeof(out->addr), "%s", a ? a->addr : "");
	out->mtu = a ? a->mtu : 0;
}

int bs_cluster_advertise_resolve(const char *want, const char *node, const char *route_if,
				 const struct bs_dockerhost_addr *addrs, size_t n_addrs,
				 struct bs_cluster_advert *out, struct bs_err *err)
{
	const struct bs_dockerhost_addr *a = NULL;
	struct bs_buf have = BS_BUF_INIT;
	bool by_addr;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (want == NULL) {
		if (route_if == NULL || route_if[0] == '\0')
			return bs_err_set(
				err, BS_ERR_NOT_FOUND,
				"node %s: no address to advertise to the other nodes (no "
				"default route, or its interface name is not a plain one): "
				"set cluster.advertise to an interface or address",
				node);
		advert_set(out, route_if, addr_of(addrs, n_addrs, route_if));
		return 0;
	}
	if (strcmp(want, "private") == 0) {
		/* a physical private network, then the default route's
		 * interface when private, then any other private interface */
		for (size_t i = 0; i < n_addrs && a == NULL; i++)
			if (addrs[i].phys && !docker_made(addrs[i].ifname) &&
			    (route_if == NULL || strcmp(addrs[i].ifname, route_if) != 0) &&
			    !bs_cluster_addr_is_public(addrs[i].addr))
				a = &addrs[i];
		if (a == NULL && route_if != NULL && route_if[0] != '\0') {
			a = addr_of(addrs, n_addrs, route_if);
			if (a != NULL && bs_cluster_addr_is_public(a->addr))
				a = NULL;
		}
		for (size_t i = 0; i < n_addrs && a == NULL; i++)
			if (!docker_made(addrs[i].ifname) &&
			    !bs_cluster_addr_is_public(addrs[i].addr))
				a = &addrs[i];
		if (a != NULL) {
			advert_set(out, a->addr, a);
			return 0;
		}
		list_addrs(&have, addrs, n_addrs);
		rc = bs_err_set(err, BS_ERR_NOT_FOUND,
				"node %s: cluster.advertise: private, but the node has no private "
				"address (its addresses: %s): attach it to a private network (a "
				"cloud network, a VLAN), or set cluster.advertise to an interface "
				"or address",
				node, have.data);
		bs_buf_free(&have);
		return rc;
	}
	by_addr = is_address(want);
	if (by_addr) {
		for (size_t i = 0; i < n_addrs && a == NULL; i++)
			if (strcmp(addrs[i].addr, want) == 0)
				a = &addrs[i];
	} else {
		a = addr_of(addrs, n_addrs, want);
	}
	/* no addresses detected: taken on trust, as before the detection */
	if (a == NULL && n_addrs > 0) {
		list_addrs(&have, addrs, n_addrs);
		rc = bs_err_set(err, BS_ERR_NOT_FOUND,
				by_addr ? "node %s: cluster.advertise: %s is not one of its "
					  "addresses (%s)"
					: "node %s: cluster.advertise: it has no interface %s with "
					  "an address (its addresses: %s)",
				node, want, have.data);
		bs_buf_free(&have);
		return rc;
	}
	advert_set(out, want, a);
	if (a == NULL && by_addr)
		snprintf(out->addr, sizeof(out->addr), "%s", want);
	return 0;
}

int bs_cluster_net_decide(enum bs_encrypt_mode mode, bool assume_esp, bool need,
			  const struct bs_cluster_netnode *v, size_t n, struct bs_cluster_net *out,
			  struct bs_err *err)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++)
		if (v[i].mtu > 0 && (out->mtu == 0 || v[i].mtu < out->mtu))
			out->mtu = v[i].mtu;
	/* jumbo frames (AWS's 9001) may not cross every path: Docker's default */
	if (out->mtu > 1500)
		out->mtu = 1500;
	out->keep_encrypted = mode == BS_ENCRYPT_AUTO;
	if (mode == BS_ENCRYPT_TRUE) {
		out->encrypted = true;
		snprintf(out->why, sizeof(out->why), "cluster.encrypt: true");
	}
	for (size_t i = 0; i < n && mode == BS_ENCRYPT_AUTO && !out->encrypted; i++) {
		bool unknown = v[i].addr == NULL || v[i].addr[0] == '\0';

		if (unknown || bs_cluster_addr_is_public(v[i].addr)) {
			out->encrypted = true;
			if (unknown)
				snprintf(
					out->why, sizeof(out->why),
					"cluster.encrypt: auto, and node %.40s advertises an address "
					"the detection could not tell",
					v[i].name);
			else
				snprintf(
					out->why, sizeof(out->why),
					"cluster.encrypt: auto, and node %.40s advertises the public "
					"address %s",
					v[i].name, v[i].addr);
		}
	}
	if (!out->encrypted || assume_esp)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i].esp == BS_ESP_YES || v[i].unprobed)
			continue;
		if (!need) { /* nothing crosses the networks: no reason to refuse,
			      * and no reason to turn an encrypted one plain */
			out->encrypted = false;
			out->keep_encrypted = true;
			return 0;
		}
		return bs_err_set(
			err, BS_ERR_UNSUPPORTED,
			"node %s: the kernel has no IPsec ESP (%s), which an encrypted overlay "
			"network needs (%s): load the kernel modules esp4 and xfrm_user (esp6 for "
			"IPv6; modprobe esp4 xfrm_user) or use a kernel that has them; or set "
			"cluster.encrypt: false, and the containers' traffic between nodes crosses "
			"the network as plain VXLAN (4789/udp), readable and forgeable on the way: "
			"only on a private network (cluster.advertise: private) with 4789/udp "
			"firewalled. If the probe is wrong, BOOTSTRAP_ASSUME_ESP=1 skips it",
			v[i].name,
			v[i].esp == BS_ESP_UNKNOWN
				? "it could not be probed: no unshare or ip on the node, or no new "
				  "network namespace allowed"
			: v[i].esp_error != NULL && v[i].esp_error[0] != '\0'
				? v[i].esp_error
				: "ip xfrm refused an ESP state with rfc4106(gcm(aes))",
			out->why);
	}
	return 0;
}

char *bs_cluster_overlay_drift(const struct bs_kvlist *have, const struct bs_cluster_net *net)
{
	const struct bs_kv *mtu = bs_kvlist_find(have, MTU_OPTION);
	bool encrypted = bs_kvlist_find(have, "encrypted") != NULL;
	long long has_mtu = 1500;
	struct bs_buf b = BS_BUF_INIT;

	if (mtu != NULL && mtu->value != NULL && bs_parse_int64(mtu->value, &has_mtu) != 0)
		has_mtu = 0;
	if (encrypted != net->encrypted && !(encrypted && net->keep_encrypted))
		bs_buf_printf(&b, "encrypted: %s -> %s", encrypted ? "yes" : "no",
			      net->encrypted ? "yes" : "no");
	/* an unknown MTU changes nothing: no churn */
	if (net->mtu > 0 && has_mtu != net->mtu)
		bs_buf_printf(&b, "%smtu %lld -> %d", b.len ? "; " : "", has_mtu, net->mtu);
	if (b.len == 0)
		return bs_xstrdup("");
	return bs_buf_detach(&b);
}

enum bs_net_action bs_cluster_net_action(const struct bs_kvlist *have,
					 const struct bs_cluster_net *net, bool used, char **drift)
{
	*drift = bs_cluster_overlay_drift(have, net);
	if ((*drift)[0] == '\0')
		return BS_NET_KEEP;
	if (!used)
		return BS_NET_RECREATE;
	if (net->encrypted && bs_kvlist_find(have, "encrypted") == NULL)
		return BS_NET_REFUSE;
	return BS_NET_WARN;
}

/* A container on the project network: the overlay carries its traffic. */
static bool needs_overlay(const struct bs_recipe *r)
{
	for (size_t i = 0; i < r->n_containers; i++)
		if (r->containers[i].network == BS_NET_PROJECT)
			return true;
	return false;
}

/* Ports published through the routing mesh: ingress carries them. */
static bool needs_ingress(const struct bs_recipe *r)
{
	if (r->cluster.publish != BS_PUBLISH_INGRESS)
		return false;
	for (size_t i = 0; i < r->n_containers; i++)
		if (r->containers[i].n_ports > 0)
			return true;
	return false;
}

bool bs_cluster_needs_networks(const struct bs_recipe *r)
{
	return needs_overlay(r) || needs_ingress(r);
}

static bool is_member_node(const struct cw *w, const char *id)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->v[i].in->detected && w->v[i].m.node_id != NULL &&
		    strcmp(w->v[i].m.node_id, id) == 0)
			return true;
	return false;
}

/* Every detected node's advertise resolved, then the overlay's options
 * decided: before the swarm or a network changes. A node already in the
 * swarm is judged by the address it advertises there; one the run did not
 * detect (--node, a failed SSH) by the address the leader lists. */
static int plan_network(struct cw *w, struct bs_err *err)
{
	struct bs_cluster_netnode *v = bs_xcalloc(w->n + w->nodes.n + 1, sizeof(*v));
	size_t k = 0;
	int rc = 0;

	for (size_t i = 0; i < w->n && rc == 0; i++) {
		struct mem *m = &w->v[i];
		bool in_swarm = m->have && m->m.state == BS_SWARM_ACTIVE && m->m.node_addr != NULL;

		if (!m->in->detected)
			continue;
		rc = bs_cluster_advertise_resolve(w->r->cluster.advertise, m->in->node->name,
						  m->in->route_if, m->in->addrs, m->in->n_addrs,
						  &m->adv, err);
		if (rc != 0) {
			/* in the swarm already, or not reached: only joins need it */
			if (in_swarm || m->in->d == NULL) {
				rc = 0;
				bs_err_clear(err);
			} else {
				break;
			}
		}
		m->adv_ok = rc == 0 && m->adv.value[0] != '\0';
		v[k].name = m->in->node->name;
		v[k].addr = in_swarm ? m->m.node_addr : m->adv.addr;
		v[k].mtu = m->adv.mtu;
		v[k].esp = m->in->esp;
		v[k].esp_error = m->in->esp_error;
		k++;
	}
	for (size_t i = 0; i < w->nodes.n && rc == 0; i++) {
		const struct bs_cluster_node *cn = &w->nodes.v[i];

		if (cn->id == NULL || is_member_node(w, cn->id))
			continue;
		v[k].name = cn->hostname != NULL ? cn->hostname : cn->id;
		v[k].addr = cn->addr;
		v[k].unprobed = true;
		k++;
	}
	if (rc == 0)
		rc = bs_cluster_net_decide(w->r->cluster.encrypt, w->o->assume_esp,
					   bs_cluster_needs_networks(w->r), v, k, &w->net, err);
	free(v);
	return rc;
}

/* ---- membership ------------------------------------------------------ */

static const char *state_name(enum bs_swarm_state s)
{
	static const char *const names[] = {"inactive", "pending", "active", "error", "locked"};

	return names[s];
}

static const struct bs_cluster_node *listed(const struct cw *w, const char *id)
{
	for (size_t i = 0; id != NULL && i < w->nodes.n; i++)
		if (w->nodes.v[i].id != NULL && strcmp(w->nodes.v[i].id, id) == 0)
			return &w->nodes.v[i];
	return NULL;
}

static bool declared_node(const struct bs_recipe *r, const char *name)
{
	for (size_t i = 0; name != NULL && i < r->n_nodes; i++)
		if (strcmp(r->nodes[i].name, name) == 0)
			return true;
	return false;
}

/* Is key one of the labels bootstrap set on the node (its own prefix, or
 * a recipe label listed in io.bootstrap.labels)? */
static bool managed_label(const struct bs_kvlist *have, const char *key)
{
	const struct bs_kv *list = bs_kvlist_find(have, BS_LABEL_NODE_LABELS);
	const char *p = list && list->value ? list->value : "";
	size_t len = strlen(key);

	if (bs_str_starts_with(key, "io.bootstrap."))
		return true;
	for (; *p != '\0'; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ',')) {
		if (strncmp(p, key, len) == 0 && (p[len] == ',' || p[len] == '\0'))
			return true;
	}
	return false;
}

/* The labels a node of the recipe carries in the swarm: the ones others
 * set (docker node update --label-add) are kept, bootstrap's are the
 * recipe's. */
static void node_labels(const struct cw *w, const struct bs_node *n, const struct bs_kvlist *have,
			struct bs_kvlist *out)
{
	struct bs_buf keys = BS_BUF_INIT;

	for (size_t i = 0; i < have->n; i++)
		if (!managed_label(have, have->v[i].key))
			bs_kvlist_push(out, have->v[i].key, have->v[i].value, false);
	for (size_t i = 0; i < n->labels.n; i++) {
		if (bs_kvlist_find(out, n->labels.v[i].key) == NULL)
			bs_kvlist_push(out, n->labels.v[i].key, n->labels.v[i].value, false);
		bs_buf_printf(&keys, "%s%s", i ? "," : "", n->labels.v[i].key);
	}
	if (keys.len > 0)
		bs_kvlist_push(out, BS_LABEL_NODE_LABELS, keys.data, false);
	bs_buf_free(&keys);
	bs_kvlist_push(out, BS_LABEL_PROJECT, w->r->project, false);
	bs_kvlist_push(out, BS_LABEL_NODE, n->name, false);
	bs_kvlist_push(out, BS_LABEL_GROUP, n->group, false);
	for (size_t i = 0; i < w->r->n_containers; i++) {
		const struct bs_container *c = &w->r->containers[i];

		if (c->nodes.n > 0 && bs_container_selects(c, n)) {
			char *key = bs_xasprintf("%s%s", BS_LABEL_PLACE, c->name);

			bs_kvlist_push(out, key, "true", false);
			free(key);
		}
	}
}

static bool same_labels(const struct bs_kvlist *a, const struct bs_kvlist *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct bs_kv *kv = bs_kvlist_find(b, a->v[i].key);

		if (kv == NULL ||
		    strcmp(kv->value ? kv->value : "", a->v[i].value ? a->v[i].value : "") != 0)
			return false;
	}
	return true;
}

static const char *label_of(const struct bs_kvlist *l, const char *key)
{
	const struct bs_kv *kv = bs_kvlist_find(l, key);

	return kv ? kv->value : NULL;
}

/* Every node's own view. plan and status go on without a node that
 * cannot be asked; apply stops (it would leave it out of the swarm). */
static int read_members(struct cw *w, struct bs_err *out)
{
	long long deadline = bs_now_ms() + PENDING_MS;
	int rc;

	for (size_t i = 0; i < w->n; i++) {
		struct mem *m = &w->v[i];
		struct bs_err err = BS_ERR_INIT;

		if (m->in->d == NULL)
			continue;
		bs_swarm_member_free(&m->m);
		rc = m->in->d->ops->cluster_member(m->in->d, &m->m, &err);
		/* a restarted engine rejoins its swarm: pending for a while */
		while (rc == 0 && m->m.state == BS_SWARM_PENDING && bs_now_ms() < deadline &&
		       !cancelled(w)) {
			nap(1000);
			bs_swarm_member_free(&m->m);
			rc = m->in->d->ops->cluster_member(m->in->d, &m->m, &err);
		}
		if (rc == 0) {
			m->have = true;
		} else if (w->o->apply && !w->o->destroy) {
			*out = err;
			return rc;
		} else {
			m->failed = true;
			message(w, m->in->node->name, "warning", err.msg);
		}
	}
	return 0;
}

static int refresh_leader(struct cw *w, struct bs_err *err)
{
	struct bs_cdriver *d = w->leader->in->d;
	int rc;

	bs_cluster_free(&w->cl);
	bs_cluster_node_list_free(&w->nodes);
	rc = d->ops->cluster_inspect(d, &w->cl, err);
	if (rc == 0)
		rc = d->ops->cluster_node_list(d, &w->nodes, err);
	return rc;
}

/* Conflicts that stop the run before anything changes. */
static int check_members(struct cw *w, struct bs_err *err)
{
	for (size_t i = 0; i < w->n; i++) {
		struct mem *m = &w->v[i];
		const char *name = m->in->node->name;

		if (!m->have || m == w->leader)
			continue;
		if (m->m.state == BS_SWARM_PENDING || m->m.state == BS_SWARM_ERROR ||
		    m->m.state == BS_SWARM_LOCKED)
			return bs_err_set(
				err, BS_ERR_CONFLICT,
				"node %s: its swarm membership is %s%s%s: fix it on the node "
				"(docker swarm leave --force, or unlock it), then run again",
				name, state_name(m->m.state), m->m.error ? ": " : "",
				m->m.error ? m->m.error : "");
		if (m->m.state != BS_SWARM_ACTIVE)
			continue;
		if (w->leader == NULL || listed(w, m->m.node_id) == NULL)
			return bs_err_set(
				err, BS_ERR_CONFLICT,
				"node %s is in another swarm%s%s%s, not in the one of this recipe's "
				"managers: make it leave (on %s: docker swarm leave --force), or remove "
				"it from the recipe",
				name, m->m.remote_managers.n ? " (managed at " : "",
				m->m.remote_managers.n ? m->m.remote_managers.v[0] : "",
				m->m.remote_managers.n ? ")" : "", name);
	}
	return 0;
}

/* The manager to talk to: a recipe manager that is one, else (managers:
 * changed) any node of the recipe that manages the swarm; without
 * active, the manager that would init one. */
static struct mem *pick_leader(struct cw *w, bool active)
{
	for (int any = 0; any < (active ? 2 : 1); any++)
		for (size_t i = 0; i < w->n; i++) {
			struct mem *m = &w->v[i];

			if ((!m->want_manager && !any) || (!m->have && (active || w->o->apply)))
				continue;
			if (!active || (m->m.state == BS_SWARM_ACTIVE && m->m.manager))
				return m;
		}
	return NULL;
}

static int init_swarm(struct cw *w, struct mem *m, struct bs_err *err)
{
	struct bs_cluster_create cc = {NULL, m->adv.value};
	struct step s;
	int rc;

	if (!begin(w, &s, m->in->node->name, "init-swarm", m->in->node->name, "no swarm yet", 'o'))
		return 0;
	if (!m->adv_ok)
		rc = bs_err_set(err, BS_ERR_NOT_FOUND,
				"node %s: no address to advertise to the other nodes (no default "
				"route, or its interface name is not a plain one)",
				m->in->node->name);
	else
		rc = m->in->d->ops->cluster_create(m->in->d, &cc, NULL, err);
	end(w, &s, m, rc, err, 'o');
	if (rc == 0) {
		w->inited = true;
		bs_swarm_member_free(&m->m);
		rc = m->in->d->ops->cluster_member(m->in->d, &m->m, err);
	}
	return rc;
}

static int join(struct cw *w, struct mem *m, struct bs_err *err)
{
	struct bs_cluster_join cj;
	char *remote = NULL, *at;
	struct step s;
	int rc;

	if (!begin(w, &s, m->in->node->name, "join-swarm", m->in->node->name,
		   m->want_manager ? "as a manager" : "as a worker", 'o'))
		return 0;
	memset(&cj, 0, sizeof(cj));
	at = w->leader->m.node_addr;
	if (at != NULL && strchr(at, ':') != strrchr(at, ':') && at[0] != '[')
		remote = bs_xasprintf("[%s]:%d", at, SWARM_PORT); /* IPv6 */
	else if (at != NULL)
		remote = strchr(at, ':') ? bs_xstrdup(at) : bs_xasprintf("%s:%d", at, SWARM_PORT);
	cj.advertise_addr = m->adv.value;
	cj.remote_addr = remote;
	cj.token = m->want_manager ? w->cl.manager_token : w->cl.worker_token;
	if (!m->adv_ok || remote == NULL || cj.token == NULL)
		rc = bs_err_set(err, BS_ERR_NOT_FOUND, "node %s: cannot join: %s",
				m->in->node->name,
				!m->adv_ok	 ? "no address to advertise (no default route)"
				: remote == NULL ? "the manager advertises no address"
						 : "the manager gave no join token");
	else
		rc = m->in->d->ops->cluster_join(m->in->d, &cj, err);
	free(remote);
	return end(w, &s, m, rc, err, 'o');
}

/* Role and labels of a recipe node, as the leader lists it. */
static bool is_manager(const struct bs_cluster_node *cn)
{
	return cn->role != NULL && strcmp(cn->role, "manager") == 0;
}

static bool reachable(const struct bs_cluster_node *cn)
{
	return cn->reachability != NULL && strcmp(cn->reachability, "reachable") == 0;
}

/* Would demoting cn leave a majority of the managers reachable? */
static int check_quorum(const struct cw *w, const struct bs_cluster_node *cn, const char *name,
			struct bs_err *err)
{
	int managers = 0, up = 0;

	for (size_t i = 0; i < w->nodes.n; i++)
		if (is_manager(&w->nodes.v[i]) && &w->nodes.v[i] != cn) {
			managers++;
			up += reachable(&w->nodes.v[i]);
		}
	if (!reachable(cn) || up > managers / 2)
		return 0;
	return bs_err_set(
		err, BS_ERR_CONFLICT,
		"demoting swarm manager %s would leave %d of %d managers reachable, not a "
		"majority: bring the unreachable managers back (or remove them from the "
		"recipe), then run again",
		name, up, managers);
}

/* Raft removes a demoted manager after the update returns: the next
 * demotion waits for it, or Raft refuses it for the quorum. */
static int wait_demoted(struct cw *w, const char *id, const char *name, struct bs_err *err)
{
	long long deadline = bs_now_ms() + PENDING_MS;
	int rc = 0;

	for (;;) {
		const struct bs_cluster_node *cn;

		rc = refresh_leader(w, err);
		cn = rc == 0 ? listed(w, id) : NULL;
		if (rc != 0 || cn == NULL || (!is_manager(cn) && cn->reachability == NULL))
			return rc;
		if (bs_now_ms() >= deadline)
			return bs_err_set(
				err, BS_ERR_TIMEOUT,
				"swarm node %s: still a member of the managers' Raft %d s after "
				"its demotion; run again once the swarm settled",
				name, PENDING_MS / 1000);
		if (cancelled(w))
			return bs_err_set(err, BS_ERR_INTERRUPTED, "interrupted");
		nap(POLL_MS);
	}
}

/* Role and labels of a recipe node, as the leader lists it. pass 0: all
 * but demotions; 1: demotions of unreachable managers; 2: the others. */
static int update_node(struct cw *w, struct mem *m, int pass, struct bs_err *err)
{
	const struct bs_cluster_node *cn = listed(w, m->m.node_id);
	struct bs_kvlist labels = BS_KVLIST_INIT;
	const char *role = m->want_manager ? "manager" : "worker";
	struct bs_buf why = BS_BUF_INIT;
	int rc = 0;

	if (cn == NULL)
		return 0;
	if (!(is_manager(cn) && !m->want_manager) ? pass != 0 : pass != (reachable(cn) ? 2 : 1))
		return 0;
	if (pass == 2 && (rc = check_quorum(w, cn, m->in->node->name, err)) != 0)
		return rc;
	node_labels(w, m->in->node, &cn->labels, &labels);
	if (cn->role == NULL || strcmp(cn->role, role) != 0)
		bs_buf_printf(&why, "role %s -> %s", cn->role ? cn->role : "?", role);
	if (!same_labels(&labels, &cn->labels))
		bs_buf_printf(&why, "%slabels", why.len ? "; " : "");
	if (why.len > 0) {
		struct bs_cluster_node_spec spec = {role, cn->availability, &labels};
		struct step s;

		if (begin(w, &s, m->in->node->name, "update-node", m->in->node->name, why.data,
			  'o')) {
			struct bs_cdriver *d = w->leader->in->d;

			rc = d->ops->cluster_node_update(d, cn->id, cn->version, &spec, err);
			end(w, &s, m, rc, err, 'o');
			if (rc == 0 && m->want_manager && !is_manager(cn))
				bs_strv_push(&w->promoted, cn->id);
			if (rc == 0 && pass > 0)
				rc = wait_demoted(w, m->m.node_id, m->in->node->name, err);
		}
	}
	bs_buf_free(&why);
	bs_kvlist_free(&labels);
	return rc;
}

static const struct mem *member_named(const struct cw *w, const char *name)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->v[i].have && strcmp(w->v[i].in->node->name, name) == 0)
			return &w->v[i];
	return NULL;
}

/* A promotion ends when the node is a reachable member of Raft: wait for
 * it (bounded), so that the run leaves the managers it says it made. */
static int wait_promoted(struct cw *w, struct bs_err *err)
{
	long long deadline = bs_now_ms() + PENDING_MS;
	size_t done = 0;
	int rc = 0;

	while (w->promoted.n > 0 && rc == 0) {
		done = 0;
		for (size_t i = 0; i < w->promoted.n; i++) {
			const struct bs_cluster_node *cn = listed(w, w->promoted.v[i]);

			done += cn != NULL && is_manager(cn) && reachable(cn);
		}
		if (done == w->promoted.n || bs_now_ms() >= deadline || cancelled(w))
			break;
		nap(POLL_MS);
		rc = refresh_leader(w, err);
	}
	if (rc == 0 && done < w->promoted.n)
		message(w, NULL, "warning",
			"a promoted manager is not a reachable member of the swarm's Raft yet; "
			"run again to check it");
	return rc;
}

/* Is the project's work off node id: no task of its services running
 * there, and none of their tasks on the way to running elsewhere (one
 * that cannot be placed, pending, is not waited for)? */
static int drained(struct cw *w, const char *id, bool *done, struct bs_err *err)
{
	static const char *const starting[] = {"new",	    "allocated", "assigned", "accepted",
					       "preparing", "ready",	 "starting", NULL};
	struct bs_cdriver *d = w->leader->in->d;
	struct bs_kvlist filter = BS_KVLIST_INIT;
	struct bs_service_list l = {0};
	int rc;

	*done = true;
	bs_kvlist_push(&filter, BS_LABEL_PROJECT, w->r->project, false);
	rc = d->ops->service_list(d, &filter, &l, err);
	bs_kvlist_free(&filter);
	for (size_t i = 0; rc == 0 && i < l.n && *done; i++) {
		struct bs_task_list tl = {0};

		rc = d->ops->task_list(d, l.v[i].id, &tl, err);
		for (size_t k = 0; rc == 0 && k < tl.n; k++) {
			const struct bs_task_info *t = &tl.v[k];
			bool here = t->node_id != NULL && strcmp(t->node_id, id) == 0;

			if (t->state == NULL)
				continue;
			if (here && strcmp(t->state, "running") == 0)
				*done = false;
			for (size_t s = 0; starting[s] != NULL && t->desired_state != NULL &&
					   strcmp(t->desired_state, "running") == 0;
			     s++)
				if (strcmp(t->state, starting[s]) == 0)
					*done = false;
		}
		bs_task_list_free(&tl);
	}
	bs_service_list_free(&l);
	return rc;
}

/* A node that still answers is drained before it goes: Swarm starts its
 * tasks elsewhere first (bounded: when they cannot be placed, the node
 * goes anyway, with a warning). */
static int drain_first(struct cw *w, const struct bs_cluster_node *cn, const char *id,
		       const char *shown, struct bs_err *err)
{
	long long deadline = bs_now_ms() + PENDING_MS;
	bool done = false;
	int rc = 0;

	if (cn->state == NULL || strcmp(cn->state, "ready") != 0)
		return 0; /* down: its tasks are rescheduled already */
	if (cn->availability == NULL || strcmp(cn->availability, "drain") != 0) {
		struct bs_cluster_node_spec spec = {cn->role ? cn->role : "worker", "drain",
						    &cn->labels};

		rc = w->leader->in->d->ops->cluster_node_update(w->leader->in->d, id, cn->version,
								&spec, err);
	}
	while (rc == 0 && (rc = drained(w, id, &done, err)) == 0 && !done) {
		if (cancelled(w))
			return bs_err_set(err, BS_ERR_INTERRUPTED, "interrupted");
		if (bs_now_ms() >= deadline) {
			char *text = bs_xasprintf(
				"swarm node %s: its tasks did not all stop or start elsewhere within "
				"%d s of draining; it leaves anyway",
				shown, PENDING_MS / 1000);

			message(w, shown, "warning", text);
			free(text);
			return 0;
		}
		nap(POLL_MS);
	}
	return rc;
}

/* A node entry leaves the swarm's list: a manager is demoted first (one
 * that is reachable only while the others keep a majority) and Raft lets
 * it go; a node that answers is drained, its tasks started elsewhere;
 * then it is removed. The list is read again after. */
static int remove_node(struct cw *w, struct step *s, const char *id_in, const char *shown_in,
		       char what, struct bs_err *err)
{
	struct bs_cdriver *d = w->leader->in->d;
	const struct bs_cluster_node *cn = listed(w, id_in);
	char *id = bs_xstrdup(id_in), *shown = bs_xstrdup(shown_in);
	int rc = 0;

	s->object = shown;
	if (cn != NULL && is_manager(cn)) {
		struct bs_cluster_node_spec spec = {"worker", "drain", &cn->labels};

		rc = check_quorum(w, cn, shown, err);
		if (rc == 0)
			rc = d->ops->cluster_node_update(d, id, cn->version, &spec, err);
		if (rc == 0)
			rc = wait_demoted(w, id, shown, err);
		cn = rc == 0 ? listed(w, id) : NULL; /* the list was read again */
	}
	if (rc == 0 && cn != NULL && what == 'r')
		rc = drain_first(w, cn, id, shown, err);
	if (rc == 0)
		rc = d->ops->cluster_node_remove(d, id, true, err);
	end(w, s, w->leader, rc, err, what);
	if (rc == 0)
		rc = refresh_leader(w, err);
	free(id);
	free(shown);
	return rc;
}

/* Should this entry go? 'd': a node the recipe no longer names; 's': a
 * node's old entry after it left and joined again (its ID is not the one
 * the node has now); 0: no. */
static char to_drop(const struct cw *w, const struct bs_cluster_node *cn)
{
	const char *project = label_of(&cn->labels, BS_LABEL_PROJECT);
	const char *name = label_of(&cn->labels, BS_LABEL_NODE);
	const struct mem *m;

	if (project == NULL || strcmp(project, w->r->project) != 0)
		return 0;
	if (!declared_node(w->r, name))
		return 'd';
	m = member_named(w, name);
	return m != NULL && m->m.node_id != NULL && strcmp(m->m.node_id, cn->id) != 0 ? 's' : 0;
}

static int drop_one(struct cw *w, const struct bs_cluster_node *cn, char kind, struct bs_err *err)
{
	const char *name = label_of(&cn->labels, BS_LABEL_NODE);
	const char *shown = name ? name : cn->hostname ? cn->hostname : cn->id;
	struct step s;

	if (kind == 's') {
		if (begin(w, &s, name, "remove-node", cn->id,
			  "a stale entry: the node joined again", 'o'))
			return remove_node(w, &s, cn->id, cn->id, 'o', err);
	} else if (begin(w, &s, NULL, "leave-swarm", shown, "no longer in the recipe", 'r')) {
		return remove_node(w, &s, cn->id, shown, 'r', err);
	}
	return 0;
}

static int drop_nodes(struct cw *w, struct bs_err *err)
{
	int rc = 0;

	if (!w->o->apply) { /* plan: report each */
		for (size_t i = 0; i < w->nodes.n; i++) {
			char kind = to_drop(w, &w->nodes.v[i]);

			if (kind != 0)
				drop_one(w, &w->nodes.v[i], kind, err);
		}
		return 0;
	}
	/* each removal reads the list again: start over, bounded */
	for (int guard = 0; rc == 0 && guard < 256; guard++) {
		const struct bs_cluster_node *cn = NULL;
		char kind = 0;

		for (size_t i = 0; i < w->nodes.n && kind == 0; i++)
			kind = to_drop(w, cn = &w->nodes.v[i]);
		if (kind == 0)
			break;
		rc = drop_one(w, cn, kind, err);
	}
	return rc;
}

static void report_managers(struct cw *w)
{
	for (size_t i = 0; i < w->nodes.n; i++) {
		const struct bs_cluster_node *cn = &w->nodes.v[i];
		const char *name = label_of(&cn->labels, BS_LABEL_NODE);
		char *text;

		if (cn->role == NULL || strcmp(cn->role, "manager") != 0 ||
		    (cn->reachability != NULL && strcmp(cn->reachability, "reachable") == 0))
			continue;
		text = bs_xasprintf(
			"swarm manager %s is %s (state %s): the swarm goes on while a "
			"majority of its managers is reachable; bring it back, or remove "
			"it from cluster.managers",
			name	       ? name
			: cn->hostname ? cn->hostname
				       : cn->id,
			cn->reachability ? cn->reachability : "unknown",
			cn->state ? cn->state : "unknown");
		message(w, name, "warning", text);
		free(text);
	}
}

/* The node we talk to is about to be demoted: go on with a recipe
 * manager (they were promoted and waited for above). */
static int switch_leader(struct cw *w, struct bs_err *err)
{
	for (size_t i = 0; i < w->n; i++) {
		struct mem *m = &w->v[i];
		struct bs_swarm_member fresh;
		struct bs_err e2 = BS_ERR_INIT;

		if (!m->have || !m->want_manager)
			continue;
		memset(&fresh, 0, sizeof(fresh));
		if (m->in->d->ops->cluster_member(m->in->d, &fresh, &e2) == 0 && fresh.manager &&
		    fresh.state == BS_SWARM_ACTIVE) {
			bs_swarm_member_free(&m->m);
			m->m = fresh;
			w->leader = m;
			return refresh_leader(w, err);
		}
		bs_swarm_member_free(&fresh);
	}
	return 0; /* none yet: the demotion's quorum check has the last word */
}

/* Managers that their own engine says are back (a restarted dockerd)
 * while the leader still lists them unreachable: wait, bounded, so that
 * the demotions' quorum count is right. */
static int settle_managers(struct cw *w, struct bs_err *err)
{
	long long deadline = bs_now_ms() + PENDING_MS;
	int rc = refresh_leader(w, err);

	while (rc == 0 && bs_now_ms() < deadline && !cancelled(w)) {
		bool waiting = false;

		for (size_t i = 0; i < w->n && !waiting; i++) {
			const struct mem *m = &w->v[i];
			const struct bs_cluster_node *cn = m->have ? listed(w, m->m.node_id) : NULL;

			waiting = cn != NULL && m->m.state == BS_SWARM_ACTIVE && m->m.manager &&
				  is_manager(cn) && !reachable(cn);
		}
		if (!waiting)
			break;
		nap(POLL_MS);
		rc = refresh_leader(w, err);
	}
	return rc;
}

static int membership(struct cw *w, struct bs_err *err)
{
	int before = w->counts->other + w->counts->removed, rc;

	if ((rc = read_members(w, err)) != 0)
		return rc;
	w->leader = pick_leader(w, true);
	if (w->leader != NULL && (rc = refresh_leader(w, err)) != 0)
		return rc;
	if ((rc = check_members(w, err)) != 0)
		return rc;
	if ((rc = plan_network(w, err)) != 0)
		return rc;
	if (w->leader == NULL) {
		struct mem *first = pick_leader(w, false);

		if (first == NULL)
			return bs_err_set(err, BS_ERR_NOT_FOUND,
					  "no manager of the cluster could be reached: check the "
					  "nodes named in cluster.managers");
		rc = init_swarm(w, first, err);
		if (rc != 0 || !w->o->apply) {
			if (rc == 0) /* plan: every other node would join */
				for (size_t i = 0; i < w->n; i++)
					if (&w->v[i] != first)
						rc = join(w, &w->v[i], err);
			return rc;
		}
		w->leader = first;
		if ((rc = refresh_leader(w, err)) != 0)
			return rc;
	}
	for (size_t i = 0; i < w->n && rc == 0 && !cancelled(w); i++) {
		struct mem *m = &w->v[i];

		if (!w->o->apply && m->in->d == NULL) { /* plan: a machine still to be made */
			rc = join(w, m, err);
		} else if (m->have && m != w->leader && m->m.state == BS_SWARM_INACTIVE) {
			rc = join(w, m, err);
			if (rc == 0 && w->o->apply) {
				bs_swarm_member_free(&m->m);
				rc = m->in->d->ops->cluster_member(m->in->d, &m->m, err);
			}
		}
	}
	if (rc == 0 && w->o->apply)
		rc = refresh_leader(w, err);
	/* promotions and labels, then nodes that went (demoted first when
	 * managers), then demotions: the managers keep their majority */
	for (size_t i = 0; i < w->n && rc == 0; i++)
		if (w->v[i].have)
			rc = update_node(w, &w->v[i], 0, err);
	if (rc == 0 && w->o->apply)
		rc = refresh_leader(w, err);
	if (rc == 0 && w->o->apply)
		rc = wait_promoted(w, err);
	if (rc == 0 && w->o->apply && !w->leader->want_manager)
		rc = switch_leader(w, err);
	if (rc == 0)
		rc = drop_nodes(w, err);
	if (rc == 0 && w->o->apply)
		rc = settle_managers(w, err);
	for (int pass = 1; pass <= 2; pass++)
		for (size_t i = 0; i < w->n && rc == 0; i++)
			if (w->v[i].have)
				rc = update_node(w, &w->v[i], pass, err);
	if (rc == 0 && w->o->apply)
		rc = refresh_leader(w, err);
	if (rc == 0)
		report_managers(w);
	w->moved = w->o->apply && w->counts->other + w->counts->removed != before;
	return rc;
}

/* ---- services -------------------------------------------------------- */

struct svc {
	const struct bs_container *c;
	char *name;
	char *spec_json;
	char *hash;
	char *task_hash; /* what the tasks run: the spec without update settings */
	char *image_id;
	const struct bs_service_info *have;
	char *why;    /* of an update */
	bool changed; /* created or updated: wait for it */
	bool settle;  /* unchanged, but the nodes changed: wait for it too */
	bool updated;
	long long t0;
	struct step s;
};

struct sstore { /* what a bs_service_spec borrows */
	struct bs_service_spec spec;
	struct bs_task_store t;
	struct bs_kvlist labels;
	struct bs_service_port *ports;
	const char *constraints[3];
	char *constraint[2];
	const char *networks[2];
	char *network;
	struct bs_registry_cred cred;
};

static bool fixed_port(const struct bs_container *c)
{
	for (size_t i = 0; i < c->n_ports; i++)
		if (c->ports[i].host_start != 0)
			return true;
	return false;
}

static void make_service(const struct cw *w, const struct svc *v, struct sstore *st)
{
	const struct bs_container *c = v->c;
	const struct bs_recipe *r = w->r;
	struct bs_service_spec *s = &st->spec;
	const struct bs_registry *reg = bs_recipe_registry_for(r, c->image);
	bool host = r->cluster.publish == BS_PUBLISH_HOST;
	size_t i, n = 0, k = 0;

	memset(st, 0, sizeof(*st));
	bs_task_fill(r, c, &st->t);
	bs_kvlist_push(&st->t.labels, BS_LABEL_CONTAINER, c->name, false);
	bs_kvlist_push(&st->t.labels, BS_LABEL_DIGEST, v->image_id ? v->image_id : "", false);
	bs_kvlist_push(&st->t.labels, BS_LABEL_TASK_HASH, v->task_hash, false);
	bs_kvlist_push(&st->labels, BS_LABEL_PROJECT, r->project, false);
	bs_kvlist_push(&st->labels, BS_LABEL_CONTAINER, c->name, false);
	bs_kvlist_push(&st->labels, BS_LABEL_SPEC, v->spec_json, false);
	bs_kvlist_push(&st->labels, BS_LABEL_HASH, v->hash, false);
	for (i = 0; i < c->n_ports; i++)
		n += (size_t)(c->ports[i].container_end - c->ports[i].container_start + 1);
	st->ports = bs_xcalloc(n ? n : 1, sizeof(*st->ports));
	for (i = 0; i < c->n_ports; i++) {
		const struct bs_port *p = &c->ports[i];

		for (int j = 0; j <= p->container_end - p->container_start; j++) {
			struct bs_service_port *sp = &st->ports[k++];

			sp->target = p->container_start + j;
			sp->published = p->host_start ? p->host_start + j : 0;
			sp->udp = p->proto == BS_PROTO_UDP;
			sp->host_mode = host;
		}
	}
	s->name = v->name;
	s->labels = &st->labels;
	s->task = &st->t.spec;
	s->stop_grace_ns = c->stop_timeout_ms * 1000000;
	if (r->docker.daemon_json == NULL || strstr(r->docker.daemon_json, "\"log-") == NULL) {
		st->t.spec.log_max_size =
			"10m"; /* as containers: rotated unless docker.daemon says */
		st->t.spec.log_max_file = "3";
	}
	s->replicas = c->replicas;
	st->constraint[0] = bs_xasprintf("node.labels.%s==%s", BS_LABEL_PROJECT, r->project);
	st->constraints[0] = st->constraint[0];
	if (c->nodes.n > 0) {
		st->constraint[1] = bs_xasprintf("node.labels.%s%s==true", BS_LABEL_PLACE, c->name);
		st->constraints[1] = st->constraint[1];
	}
	s->constraints = st->constraints;
	s->max_replicas_per_node = host && fixed_port(c) ? 1 : 0;
	s->ports = st->ports;
	s->n_ports = n;
	if (c->network == BS_NET_PROJECT) {
		st->network = bs_xasprintf("%s-swarm", r->project);
		st->networks[0] = st->network;
	} else {
		st->networks[0] = "host";
	}
	s->networks = st->networks;
	s->restart = c->restart == BS_RESTART_NO	   ? "none"
		     : c->restart == BS_RESTART_ON_FAILURE ? "on-failure"
							   : "any";
	s->restart_max_attempts = c->restart_max_retries;
	s->memory_bytes = c->resources.memory_bytes;
	s->nano_cpus = c->resources.nano_cpus;
	s->pids_limit = c->resources.pids == 0	? DEFAULT_PIDS
			: c->resources.pids < 0 ? 0
						: c->resources.pids;
	s->update_parallelism = c->update.parallelism;
	s->update_delay_ns = c->update.delay_ms * 1000000;
	s->update_failure_action = bs_failure_action_name(c->update.failure_action);
	s->update_monitor_ns = c->update.monitor_ms * 1000000;
	s->update_order = c->update.order == BS_ORDER_START_FIRST  ? "start-first"
			  : c->update.order == BS_ORDER_STOP_FIRST ? "stop-first"
			  : host && fixed_port(c)		   ? "stop-first"
								   : "start-first";
	if (reg != NULL) {
		st->cred.server = reg->server;
		st->cred.username = reg->username;
		st->cred.password = reg->password;
		s->cred = &st->cred;
	}
}

static void sstore_free(struct sstore *st)
{
	bs_task_store_free(&st->t);
	bs_kvlist_free(&st->labels);
	free(st->ports);
	free(st->constraint[0]);
	free(st->constraint[1]);
	free(st->network);
}

/* The image ID on a node where the service may run (the hash includes
 * it, so a new image under the same tag rolls the service). */
static char *image_id(struct cw *w, const struct bs_container *c)
{
	for (size_t i = 0; i < w->n; i++) {
		struct mem *m = &w->v[i];
		struct bs_iinfo info;
		struct bs_err err = BS_ERR_INIT;
		char *id;

		if (m->in->d == NULL || !bs_container_selects(c, m->in->node))
			continue;
		memset(&info, 0, sizeof(info));
		if (m->in->d->ops->image_inspect(m->in->d, c->image, &info, &err) != 0)
			continue;
		id = info.id ? bs_xstrdup(info.id) : NULL;
		bs_iinfo_free(&info);
		if (id != NULL)
			return id;
	}
	return NULL;
}

static int check_ipvs(struct cw *w, struct bs_err *err)
{
	const struct bs_container *c = NULL;

	if (w->r->cluster.publish != BS_PUBLISH_INGRESS)
		return 0;
	for (size_t i = 0; i < w->r->n_containers && c == NULL; i++)
		if (w->r->containers[i].n_ports > 0)
			c = &w->r->containers[i];
	if (c == NULL)
		return 0;
	for (size_t i = 0; i < w->n; i++)
		if (w->v[i].in->d != NULL && !w->v[i].in->ipvs)
			return bs_err_set(
				err, BS_ERR_UNSUPPORTED,
				"node %s: the kernel has no IPVS (ip_vs), which the swarm routing mesh "
				"needs to publish container %s's ports (they would accept nothing): "
				"set cluster.publish: host to publish on the nodes that run a replica, "
				"or load ip_vs on every node (modprobe ip_vs)",
				w->v[i].in->node->name, c->name);
	return 0;
}

static const struct bs_service_info *find_service(const struct bs_service_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].name != NULL && strcmp(l->v[i].name, name) == 0)
			return &l->v[i];
	return NULL;
}

static bool declared_container(const struct bs_recipe *r, const char *name)
{
	for (size_t i = 0; name != NULL && i < r->n_containers; i++)
		if (strcmp(r->containers[i].name, name) == 0)
			return true;
	return false;
}

/* Tasks wanted running and running, and the last task error seen. */
static int running_tasks(struct bs_cdriver *d, const char *service, const char *task_hash,
			 char **last_error, struct bs_err *err)
{
	struct bs_task_list tl = {0};
	long long newest = -1;
	int n = 0, rc = d->ops->task_list(d, service, &tl, err);

	for (size_t i = 0; rc == 0 && i < tl.n; i++) {
		const struct bs_task_info *t = &tl.v[i];
		const char *why = t->error ? t->error : NULL;

		const char *runs = label_of(&t->labels, BS_LABEL_TASK_HASH);

		if (t->desired_state && strcmp(t->desired_state, "running") == 0 && t->state &&
		    strcmp(t->state, "running") == 0 &&
		    (task_hash == NULL || (runs != NULL && strcmp(runs, task_hash) == 0)))
			n++;
		if (why != NULL && t->updated >= newest) {
			newest = t->updated;
			free(*last_error);
			*last_error = bs_xstrdup(why);
		}
	}
	bs_task_list_free(&tl);
	return rc == 0 ? n : rc;
}

/* Wait until the service runs its replicas on the new spec, or failed. */
static int wait_service(struct cw *w, struct svc *v, struct bs_err *err)
{
	struct bs_cdriver *d = w->leader->in->d;
	long budget = w->o->wait_ms > 0 ? w->o->wait_ms : 300000;
	long long deadline = bs_now_ms() + budget;
	char *last_error = NULL;
	int running = 0, rc = 0;

	for (;;) {
		struct bs_service_info si;
		const char *st;
		bool settled;

		memset(&si, 0, sizeof(si));
		rc = d->ops->service_inspect(d, v->name, &si, err);
		if (rc != 0)
			break;
		st = si.update_state;
		/* a settle wait (nothing sent) takes an earlier update's end as it is */
		if (st != NULL && v->changed &&
		    (strcmp(st, "paused") == 0 || strcmp(st, "rollback_completed") == 0 ||
		     strcmp(st, "rollback_paused") == 0)) {
			rc = bs_err_set(err, BS_ERR_REMOTE,
					"service %s: the rolling update %s%s%s%s%s", v->name,
					strcmp(st, "paused") == 0 ? "paused"
								  : "failed and was rolled back",
					si.update_message ? ": " : "",
					si.update_message ? si.update_message : "",
					last_error ? "; last task error: " : "",
					last_error ? last_error : "");
			bs_service_info_free(&si);
			break;
		}
		settled = st == NULL ||
			  (strcmp(st, "updating") != 0 && strcmp(st, "rollback_started") != 0);
		bs_service_info_free(&si);
		running = running_tasks(d, v->name, v->task_hash, &last_error, err);
		if (running < 0) {
			rc = running;
			break;
		}
		if (settled && running == v->c->replicas)
			break;
		if (cancelled(w)) {
			rc = bs_err_set(err, BS_ERR_INTERRUPTED, "service %s: interrupted",
					v->name);
			break;
		}
		if (bs_now_ms() >= deadline) {
			rc = bs_err_set(err, BS_ERR_TIMEOUT,
					"service %s: %d of %d replicas running after %ld s%s%s%s",
					v->name, running, v->c->replicas, budget / 1000,
					last_error ? " (last task error: " : "",
					last_error ? last_error : "", last_error ? ")" : "");
			break;
		}
		nap(POLL_MS);
	}
	free(last_error);
	return rc;
}

/* The tasks' part of a service spec: without the update settings, which
 * change how Swarm rolls, not what runs. */
static char *task_hash(const char *spec_json, const char *image_id)
{
	cJSON *o = cJSON_Parse(spec_json);
	char *text, *hash;

	cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "service"),
						"update");
	text = cJSON_PrintUnformatted(o);
	hash = bs_spec_hash(text ? text : spec_json, image_id);
	cJSON_free(text);
	cJSON_Delete(o);
	return hash;
}

static char *change_reason(const struct svc *v)
{
	const char *old_spec = label_of(&v->have->labels, BS_LABEL_SPEC);
	const char *old_hash = label_of(&v->have->labels, BS_LABEL_HASH);
	struct bs_buf b = BS_BUF_INIT;

	if (old_hash == NULL || strcmp(old_hash, v->hash) != 0) {
		char *diff = old_spec ? bs_spec_diff(old_spec, v->spec_json) : NULL;

		bs_buf_puts(&b, diff && diff[0] ? diff : "image or spec changed");
		free(diff);
	}
	if (v->have->replicas != v->c->replicas)
		bs_buf_printf(&b, "%sreplicas %d -> %d", b.len ? "; " : "", v->have->replicas,
			      v->c->replicas);
	return bs_buf_detach(&b);
}

static int converge_service(struct cw *w, struct svc *v, struct bs_err *err)
{
	struct bs_cdriver *d = w->leader->in->d;
	struct sstore st;
	char *why = NULL;
	int rc = 0;

	if (v->have == NULL) {
		if (!begin(w, &v->s, NULL, "create", v->c->name, "missing", 'c'))
			return 0;
		make_service(w, v, &st);
		rc = d->ops->service_create(d, &st.spec, NULL, err);
		sstore_free(&st);
		v->changed = rc == 0;
		if (rc != 0)
			end(w, &v->s, w->leader, rc, err, 'c');
		return rc;
	}
	why = change_reason(v);
	if (why[0] == '\0') {
		const char *st_ = v->have->update_state;

		free(why);
		if (st_ != NULL &&
		    (strcmp(st_, "paused") == 0 || strcmp(st_, "rollback_paused") == 0)) {
			w->counts->failed++;
			return bs_err_set(
				err, BS_ERR_REMOTE,
				"service %s: its last update is %s%s%s, with some replicas on "
				"the previous spec: fix the cause, then change the recipe or "
				"resume it (docker service update --force %s)",
				v->name, st_, v->have->update_message ? ": " : "",
				v->have->update_message ? v->have->update_message : "", v->name);
		}
		w->counts->unchanged++;
		/* the nodes moved, or a run was interrupted during an update */
		v->settle = w->moved || (st_ != NULL && (strcmp(st_, "updating") == 0 ||
							 strcmp(st_, "rollback_started") == 0));
		return 0;
	}
	v->why = why; /* the step's reason until it ends */
	if (begin(w, &v->s, NULL, "update", v->c->name, why, 'u')) {
		make_service(w, v, &st);
		rc = d->ops->service_update(d, v->have->id, v->have->version, &st.spec, err);
		sstore_free(&st);
		v->changed = v->updated = rc == 0;
		if (rc != 0)
			end(w, &v->s, w->leader, rc, err, 'u');
	}
	return rc;
}

static int prune_services(struct cw *w, const struct bs_service_list *l, struct bs_err *err)
{
	struct bs_cdriver *d = w->leader->in->d;
	int rc = 0;

	for (size_t i = 0; i < l->n && rc == 0; i++) {
		const char *c = label_of(&l->v[i].labels, BS_LABEL_CONTAINER);
		struct step s;
		bool removed = false;

		if (declared_container(w->r, c))
			continue;
		if (!w->r->prune && !w->o->destroy) {
			event(w, w->o->apply ? BS_EV_ACTION_DONE : BS_EV_ACTION_PLANNED, NULL,
			      "keep", c ? c : l->v[i].name, "not in the recipe (prune: false)",
			      NULL, 0);
			continue;
		}
		if (!begin(w, &s, NULL, "remove", c ? c : l->v[i].name,
			   w->o->destroy ? "destroy" : "no longer in the recipe", 'r'))
			continue;
		rc = d->ops->service_remove(d, l->v[i].name, &removed, err);
		end(w, &s, w->leader, rc, err, 'r');
	}
	return rc;
}

static void status_service(struct cw *w, struct svc *v)
{
	struct bs_event ev;
	char *last = NULL, *state, *drift = NULL;
	struct bs_err err = BS_ERR_INIT;
	int running = 0;

	if (v->have == NULL) {
		state = bs_xstrdup("missing");
	} else {
		running = running_tasks(w->leader->in->d, v->name, v->task_hash, &last, &err);
		state = bs_xasprintf("%d/%d running%s%s", running < 0 ? 0 : running, v->c->replicas,
				     v->have->update_state ? ", update " : "",
				     v->have->update_state ? v->have->update_state : "");
		drift = change_reason(v);
		if (drift[0] == '\0') {
			free(drift);
			drift = NULL;
		}
	}
	memset(&ev, 0, sizeof(ev));
	ev.kind = BS_EV_CONTAINER_STATUS;
	ev.object = v->c->name;
	ev.state = state;
	ev.drift = drift;
	if (w->o->report)
		w->o->report(&ev, w->o->payload);
	free(state);
	free(drift);
	free(last);
}

static void overlay_options(const struct cw *w, struct bs_kvlist *opts)
{
	if (w->net.encrypted)
		bs_kvlist_push(opts, "encrypted", "", false);
	if (w->net.mtu > 0) {
		char mtu[16];

		snprintf(mtu, sizeof(mtu), "%d", w->net.mtu);
		bs_kvlist_push(opts, MTU_OPTION, mtu, false);
	}
}

/* A network of the swarm: the project's overlay or the routing mesh's. */
struct swarm_net {
	const char *name;
	bool ingress;		/* the routing mesh's ("ingress") */
	bool exists;		/* read from the leader */
	bool created;		/* made by this run */
	enum bs_net_action act; /* for one that exists */
	char *drift;		/* how it differs; NULL or "" */
};

/* Removing a network fails for a moment while the tasks of services
 * removed lately still hold it; anything else will not pass by waiting. */
static bool remove_may_pass(const char *msg)
{
	return strstr(msg, "active endpoints") != NULL || strstr(msg, "in use") != NULL ||
	       strstr(msg, "timed out") != NULL;
}

/* Look at the network (created when missing and applying, except
 * ingress, which the swarm makes) and decide what it needs. */
static int read_net(struct cw *w, struct swarm_net *n, bool used, struct bs_err *err)
{
	struct bs_cdriver *d = w->leader->in->d;
	struct bs_kvlist labels = BS_KVLIST_INIT, opts = BS_KVLIST_INIT, have = BS_KVLIST_INIT;
	bool create = w->o->apply && !n->ingress;
	long long deadline;
	int rc;

	if (!n->ingress)
		bs_kvlist_push(&labels, BS_LABEL_PROJECT, w->r->project, false);
	overlay_options(w, &opts);
	rc = d->ops->overlay_ensure(d, n->name, &labels, &opts, &have, create ? &n->created : NULL,
				    err);
	/* a swarm made moments ago may not list its ingress yet: a short wait */
	deadline = bs_now_ms() + 10000;
	while (rc == BS_ERR_NOT_FOUND && n->ingress && w->inited && w->o->apply &&
	       bs_now_ms() < deadline && !cancelled(w)) {
		nap(POLL_MS);
		bs_err_clear(err);
		rc = d->ops->overlay_ensure(d, n->name, &labels, &opts, &have, NULL, err);
	}
	/* plan: the overlay is made with the services; a swarm without ingress
	 * (removed by its owner) is left so */
	if (rc == BS_ERR_NOT_FOUND && !create) {
		bs_err_clear(err);
		rc = 0;
	} else if (rc == 0 && !n->created) {
		/* ingress is the whole swarm's, which other projects may share:
		 * this recipe may encrypt it, never turn it plain */
		struct bs_cluster_net want = w->net;

		want.keep_encrypted = want.keep_encrypted || n->ingress;
		n->exists = true;
		n->act = bs_cluster_net_action(&have, &want, used, &n->drift);
	}
	bs_kvlist_free(&labels);
	bs_kvlist_free(&opts);
	bs_kvlist_free(&have);
	return rc;
}

/* Recreate a network nothing uses: removed (retried, bounded, while tasks
 * let go of it), then created with the options plan_network chose. */
static int recreate_net(struct cw *w, struct swarm_net *n, struct bs_err *err)
{
	struct bs_cdriver *d = w->leader->in->d;
	struct bs_kvlist labels = BS_KVLIST_INIT, opts = BS_KVLIST_INIT;
	bool removed = false, created = false;
	long long deadline = bs_now_ms() + PENDING_MS;
	struct step s;
	int rc;

	if (!begin(w, &s, NULL, "recreate-network", n->name, n->drift, 'o'))
		return 0;
	if (!n->ingress)
		bs_kvlist_push(&labels, BS_LABEL_PROJECT, w->r->project, false);
	overlay_options(w, &opts);
	for (;;) {
		rc = d->ops->network_remove(d, n->name, &removed, err);
		if (rc == 0 || !remove_may_pass(err->msg) || bs_now_ms() >= deadline ||
		    cancelled(w))
			break;
		nap(POLL_MS);
	}
	if (rc != 0) {
		char msg[BS_ERR_MSG_MAX];

		snprintf(msg, sizeof(msg), "%s", err->msg);
		rc = bs_err_set(
			err, rc,
			"network %s: cannot be removed to recreate it with its new options (%s): "
			"%s",
			n->name, msg,
			n->ingress
				? "remove the services that publish ports through the routing mesh "
				  "(docker service ls on a manager), or remove and create it yourself "
				  "(docker network rm ingress; docker network create --ingress "
				  "--driver overlay ingress), and apply again"
				: "disconnect or remove the containers still attached to it on each "
				  "node (docker network inspect on the node; docker network "
				  "disconnect), or remove it yourself (docker network rm), and apply "
				  "again");
	}
	/* the swarm's list may show the removed network for a moment */
	for (deadline = bs_now_ms() + PENDING_MS; rc == 0;) {
		rc = d->ops->overlay_ensure(d, n->name, &labels, &opts, NULL, &created, err);
		if (rc != 0 || created)
			break;
		if (bs_now_ms() >= deadline || cancelled(w))
			rc = bs_err_set(err, BS_ERR_TIMEOUT,
					"network %s: still listed %d s after its removal: run "
					"again, or remove it yourself (docker network rm %s on a "
					"manager) and run again",
					n->name, PENDING_MS / 1000, n->name);
		else
			nap(POLL_MS / 5);
	}
	end(w, &s, w->leader, rc, err, 'o');
	bs_kvlist_free(&labels);
	bs_kvlist_free(&opts);
	return rc;
}

/* An engine cannot change a network's options. Both networks are read
 * first; one that should be encrypted and is not while in use stops the
 * run before anything changes (naming the fix); an MTU that differs in
 * use is a warning; one nothing uses is recreated. plan only looks. */
static int ensure_networks(struct cw *w, bool need_net, bool project_used, bool ingress_used,
			   struct bs_err *err)
{
	struct swarm_net nets[2];
	char *overlay = bs_xasprintf("%s-swarm", w->r->project);
	size_t n = 0;
	int rc = 0;

	memset(nets, 0, sizeof(nets));
	/* the routing mesh too, whether or not this recipe publishes through
	 * it (another project on the swarm may): encrypted, never made plain */
	nets[n++] = (struct swarm_net){.name = "ingress", .ingress = true};
	if (need_net)
		nets[n++] = (struct swarm_net){.name = overlay};
	/* ingress first: when it refuses, the overlay is not even created */
	for (size_t i = 0; i < n && rc == 0 && (i == 0 || nets[i - 1].act != BS_NET_REFUSE); i++)
		rc = read_net(w, &nets[i], nets[i].ingress ? ingress_used : project_used, err);
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct swarm_net *sn = &nets[i];
		char *why;

		if (!sn->exists || (sn->act != BS_NET_REFUSE && sn->act != BS_NET_WARN))
			continue;
		why = bs_xasprintf(
			"network %s: %s (%s), but a network's options cannot change while services "
			"use it: %s, and apply again, which creates the network anew (the services "
			"stop meanwhile)",
			sn->name, sn->drift,
			w->net.encrypted ? w->net.why : "the recipe's cluster settings",
			sn->ingress
				? "remove the services that publish ports through the routing "
				  "mesh (docker service ls; docker service rm on a manager)"
				: "remove the project's services (docker service rm on a manager, "
				  "or bootstrap destroy)");
		if (sn->act == BS_NET_REFUSE)
			rc = bs_err_set(err, BS_ERR_CONFLICT, "%s", why);
		else
			message(w, NULL, "warning", why);
		free(why);
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct swarm_net *sn = &nets[i];

		if (sn->created) {
			char *why =
				bs_xasprintf("missing%s%s", w->net.encrypted ? "; encrypted: " : "",
					     w->net.encrypted ? w->net.why : "");

			count(w, 'o');
			audit(w->leader, w->r->project, "create-network", sn->name, why);
			event(w, BS_EV_ACTION_DONE, NULL, "create-network", sn->name, why, NULL, 0);
			free(why);
		} else if (sn->exists && sn->act == BS_NET_RECREATE && !cancelled(w)) {
			rc = recreate_net(w, sn, err);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(nets[i].drift);
	free(overlay);
	return rc;
}

static int services(struct cw *w, struct bs_err *err)
{
	struct bs_cdriver *d = w->leader->in->d;
	struct bs_kvlist filter = BS_KVLIST_INIT;
	struct bs_service_list have = {0};
	struct svc *v = bs_xcalloc(w->r->n_containers + 1, sizeof(*v));
	size_t i;
	int rc = 0;

	bs_kvlist_push(&filter, BS_LABEL_PROJECT, w->r->project, false);
	rc = d->ops->service_list(d, &filter, &have, err);
	bs_kvlist_free(&filter);
	if (rc == 0 && w->o->destroy) {
		rc = prune_services(w, &have, err);
		goto out;
	}
	if (rc == 0 && !w->o->status) {
		struct bs_service_list all = {0}; /* every service: who publishes via ingress */
		bool ingress_used = false;

		rc = d->ops->service_list(d, NULL, &all, err);
		for (i = 0; rc == 0 && i < all.n; i++)
			ingress_used = ingress_used || all.v[i].ingress_ports > 0;
		if (rc == 0)
			rc = ensure_networks(w, needs_overlay(w->r), have.n > 0, ingress_used, err);
		bs_service_list_free(&all);
	}
	for (i = 0; rc == 0 && i < w->r->n_containers && !cancelled(w); i++) {
		struct svc *s = &v[i];

		s->c = &w->r->containers[i];
		s->name = bs_service_name(w->r->project, s->c->name);
		s->spec_json = bs_service_spec_json(w->r, s->c);
		s->image_id = image_id(w, s->c);
		s->hash = bs_spec_hash(s->spec_json, s->image_id);
		s->task_hash = task_hash(s->spec_json, s->image_id);
		s->have = find_service(&have, s->name);
		if (w->o->status)
			status_service(w, s);
		else
			rc = converge_service(w, s, err);
	}
	if (rc == 0 && !w->o->status)
		rc = prune_services(w, &have, err);
	/* then wait for every change at once: swarm rolls them in parallel */
	for (i = 0; i < w->r->n_containers; i++) {
		struct svc *s = &v[i];
		struct bs_err e2 = BS_ERR_INIT;
		int r2;

		if (!s->changed && !s->settle)
			continue;
		r2 = wait_service(w, s, &e2);
		if (s->changed)
			end(w, &s->s, w->leader, r2, &e2, s->updated ? 'u' : 'c');
		if (r2 != 0 && rc == 0) {
			rc = r2;
			*err = e2;
		}
	}
out:
	for (i = 0; i < w->r->n_containers; i++) {
		free(v[i].name);
		free(v[i].spec_json);
		free(v[i].hash);
		free(v[i].task_hash);
		free(v[i].image_id);
		free(v[i].why);
	}
	free(v);
	bs_service_list_free(&have);
	return rc;
}

/* destroy: the overlay goes once the removed services' tasks are gone
 * (Swarm stops them after the removal returns): retried, bounded. */
static int remove_overlay(struct cw *w, struct bs_err *err)
{
	struct bs_cdriver *d = w->leader->in->d;
	char *net = bs_xasprintf("%s-swarm", w->r->project);
	long long deadline = bs_now_ms() + PENDING_MS;
	bool removed = false;
	int rc;

	while ((rc = d->ops->network_remove(d, net, &removed, err)) != 0 &&
	       bs_now_ms() < deadline && !cancelled(w))
		nap(POLL_MS);
	if (rc == 0 && removed) {
		count(w, 'r');
		audit(w->leader, w->r->project, "remove-network", net, NULL);
		event(w, BS_EV_ACTION_DONE, NULL, "remove-network", net, "destroy", NULL, 0);
	}
	free(net);
	return rc;
}

/* destroy: services gone, then workers leave, then managers. */
static int leave_all(struct cw *w, struct bs_err *err)
{
	int rc = 0;

	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < w->n; i++) {
			struct mem *m = &w->v[i];
			struct step s;
			int r2;

			if (!m->have || m->m.state != BS_SWARM_ACTIVE ||
			    m->m.manager != (pass == 1))
				continue;
			if (!begin(w, &s, m->in->node->name, "leave-swarm", m->in->node->name,
				   "destroy", 'r'))
				continue;
			r2 = m->in->d->ops->cluster_leave(m->in->d, true, err);
			end(w, &s, m, r2, err, 'r');
			if (r2 != 0 && rc == 0)
				rc = r2;
		}
	return rc;
}

int bs_cluster_run(const struct bs_cluster_opts *o, struct bs_counts *counts, struct bs_err *err)
{
	struct cw w;
	int rc;

	memset(&w, 0, sizeof(w));
	w.o = o;
	w.r = o->recipe;
	w.counts = counts;
	w.n = o->n_nodes;
	w.v = bs_xcalloc(w.n ? w.n : 1, sizeof(*w.v));
	for (size_t i = 0; i < w.n; i++) {
		w.v[i].in = &o->nodes[i];
		w.v[i].want_manager = bs_cluster_is_manager(w.r, o->nodes[i].node);
	}
	if (o->destroy || o->status) {
		rc = read_members(&w, err);
		if (rc != 0)
			goto out;
		w.leader = pick_leader(&w, true);
		rc = 0;
		if (w.leader != NULL) {
			if (o->status && refresh_leader(&w, err) == 0)
				report_managers(&w);
			rc = services(&w, err);
			if (rc == 0 && o->destroy)
				rc = remove_overlay(&w, err);
		} else if (o->status) {
			message(&w, NULL, "info", "the swarm does not exist yet");
		}
		if (rc == 0 && o->destroy)
			rc = leave_all(&w, err);
		goto out;
	}
	rc = check_ipvs(&w, err);
	if (rc == 0)
		rc = membership(&w, err);
	if (rc == 0 && w.leader != NULL && !cancelled(&w)) {
		rc = services(&w, err);
	} else if (rc == 0 && !o->apply) { /* plan, no swarm yet */
		for (size_t i = 0; i < w.r->n_containers; i++) {
			struct step s;

			begin(&w, &s, NULL, "create", w.r->containers[i].name, "missing", 'c');
		}
	}
out:
	for (size_t i = 0; i < w.n; i++)
		bs_swarm_member_free(&w.v[i].m);
	free(w.v);
	bs_cluster_free(&w.cl);
	bs_cluster_node_list_free(&w.nodes);
	bs_strv_free(&w.promoted);
	return rc;
}
