/*
 * jump.c - nodes behind jump hosts. See jump.h.
 *
 * The hops of every route live in one process-wide pool, keyed by the
 * chain that reaches them ("root@a:22" or "root@a:22 > root@b:22"), under
 * one recursive mutex: a hop's first user connects it while the others
 * behind it wait, then every one dials through its tunnel at once. A hop's
 * refs count the live sessions dialed through it; the last one's close
 * closes the hop, which gives back its own reference on the hop before it.
 */
#include "provision/jump.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provision/tunnel.h"

struct hop {
	char *key; /* the chain to it */
	char *display;
	struct bs_ssh *ssh;
	struct bs_tunnel *dialer;
	struct hop *parent; /* the hop it was reached through, or NULL */
	int refs;	    /* live sessions dialed through it */
	struct hop *next;
};

struct bs_jump_route {
	int refs; /* the caller's, and one per live session dialed */
	struct bs_ssh_url *hops;
	size_t n;
	char *display;
	struct hop *dialed; /* the last hop the node's session went through */
	/* what each hop is connected with: the node's */
	char *user, *key_path, *passphrase, *password, *known_hosts, *extra_known_hosts,
		*known_hosts_comment;
	bool agent;
	enum bs_hostkey_policy policy;
	long connect_timeout_ms;
	volatile sig_atomic_t *cancel;
};

static pthread_mutex_t pool_mu;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static struct hop *pool;

static void pool_init(void)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&pool_mu, &a);
	pthread_mutexattr_destroy(&a);
}

static void pool_lock(void)
{
	pthread_once(&pool_once, pool_init);
	pthread_mutex_lock(&pool_mu);
}

/* ---- hops ---- */

static void hop_unref(struct hop *h)
{
	struct hop **pp;

	pool_lock();
	if (--h->refs > 0) {
		pthread_mutex_unlock(&pool_mu);
		return;
	}
	for (pp = &pool; *pp != NULL; pp = &(*pp)->next)
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	bs_ssh_hangup(h->ssh);
	bs_tunnel_close(h->dialer);
	bs_ssh_close(h->ssh); /* gives back its reference on h->parent */
	free(h->key);
	free(h->display);
	free(h);
	pthread_mutex_unlock(&pool_mu);
}

/* The dialer of a session reached through hop h. */
static int hop_dial(void *payload, const char *host, int port, long timeout_ms,
		    volatile sig_atomic_t *cancel, int *fd, struct bs_err *err)
{
	struct hop *h = payload;
	int rc = bs_tunnel_dial(h->dialer, host, port, timeout_ms, cancel, fd, err);

	if (rc == 0) {
		pool_lock();
		h->refs++;
		pthread_mutex_unlock(&pool_mu);
	}
	return rc;
}

static void hop_release(void *payload)
{
	hop_unref(payload);
}

/* The route's hop i (and those before it), connected if need be, with a
 * reference for the caller. With the pool held. */
static int hop_get(struct bs_jump_route *r, size_t i, struct hop **out, struct bs_err *err)
{
	const struct bs_ssh_url *u = &r->hops[i];
	const char *user = u->user ? u->user : r->user;
	struct hop *parent = NULL, *h;
	struct bs_ssh_dialer via;
	struct bs_ssh_opts o;
	char *key;
	int rc;

	if (i > 0 && (rc = hop_get(r, i - 1, &parent, err)) != 0)
		return rc;
	key = bs_xasprintf("%s%s%s@%s:%d", parent ? parent->key : "", parent ? " > " : "",
			   user ? user : "root", u->host, u->port ? u->port : 22);
	for (h = pool; h != NULL; h = h->next)
		if (strcmp(h->key, key) == 0)
			break;
	if (h != NULL) {
		free(key);
		h->refs++;
		*out = h;
		if (parent != NULL)
			hop_unref(parent);
		return 0;
	}
	memset(&o, 0, sizeof(o));
	o.host = u->host;
	o.port = u->port;
	o.user = user;
	o.key_path = r->key_path;
	o.passphrase = r->passphrase;
	o.agent = r->agent;
	o.password = r->password;
	o.known_hosts = r->known_hosts;
	o.extra_known_hosts = r->extra_known_hosts;
	o.policy = r->policy;
	o.connect_timeout_ms = r->connect_timeout_ms;
	o.known_hosts_comment = r->known_hosts_comment;
	o.cancel = r->cancel;
	if (parent != NULL) {
		via.dial = hop_dial;
		via.release = hop_release;
		via.payload = parent;
		o.dialer = &via;
	}
	h = bs_xcalloc(1, sizeof(*h));
	h->key = key;
	h->parent = parent;
	h->refs = 1;
	rc = bs_ssh_connect(&h->ssh, &o, err); /* its dial holds parent while it lives */
	if (rc == 0)
		rc = bs_tunnel_open_dialer(&h->dialer, h->ssh, err);
	if (parent != NULL)
		hop_unref(parent); /* ours; the session's own stays */
	if (rc != 0) {
		bs_err_prefix(err, "jump host %s", key);
		bs_tunnel_close(h->dialer);
		bs_ssh_close(h->ssh);
		free(h->key);
		free(h);
		return rc;
	}
	h->next = pool;
	pool = h;
	*out = h;
	return 0;
}

/* ---- routes ---- */

static void route_unref(struct bs_jump_route *r)
{
	bool last;

	pool_lock();
	last = --r->refs == 0;
	pthread_mutex_unlock(&pool_mu);
	if (!last)
		return;
	for (size_t i = 0; i < r->n; i++)
		bs_ssh_url_free(&r->hops[i]);
	free(r->hops);
	free(r->display);
	free(r->user);
	free(r->key_path);
	bs_secure_free_str(r->passphrase);
	bs_secure_free_str(r->password);
	free(r->known_hosts);
	free(r->extra_known_hosts);
	free(r->known_hosts_comment);
	free(r);
}

static int route_dial(void *payload, const char *host, int port, long timeout_ms,
		      volatile sig_atomic_t *cancel, int *fd, struct bs_err *err)
{
	struct bs_jump_route *r = payload;
	struct hop *last = NULL;
	int rc;

	pool_lock();
	rc = hop_get(r, r->n - 1, &last, err);
	if (rc == 0) {
		rc = bs_tunnel_dial(last->dialer, host, port, timeout_ms, cancel, fd, err);
		if (rc == 0) { /* the reference is the node's session's now */
			r->refs++;
			r->dialed = last;
		} else {
			bs_err_prefix(err, "through %s", r->display);
			hop_unref(last); /* closed if nothing else goes through it */
		}
	}
	pthread_mutex_unlock(&pool_mu);
	return rc;
}

static void route_release(void *payload)
{
	struct bs_jump_route *r = payload;
	struct hop *h;

	pool_lock();
	h = r->dialed;
	r->dialed = NULL;
	pthread_mutex_unlock(&pool_mu);
	if (h != NULL)
		hop_unref(h);
	route_unref(r);
}

struct bs_jump_route *bs_jump_route_new(const struct bs_ssh_opts *base, const struct bs_strv *hops)
{
	struct bs_jump_route *r;
	struct bs_buf d = BS_BUF_INIT;

	if (hops == NULL || hops->n == 0)
		return NULL;
	r = bs_xcalloc(1, sizeof(*r));
	r->refs = 1;
	r->hops = bs_xcalloc(hops->n, sizeof(*r->hops));
	for (size_t i = 0; i < hops->n; i++) {
		char *url = bs_xasprintf("ssh://%s", hops->v[i]);
		struct bs_err err = BS_ERR_INIT;

		/* checked by the recipe already; one that fails here has no host */
		if (bs_ssh_url_parse(url, &r->hops[r->n], &err) == 0) {
			bs_buf_printf(&d, "%s%s", r->n ? " > " : "", hops->v[i]);
			r->n++;
		}
		free(url);
	}
	r->display = bs_buf_detach(&d);
	r->user = bs_xstrdup_opt(base->user);
	r->key_path = bs_xstrdup_opt(base->key_path);
	r->passphrase = bs_xstrdup_opt(base->passphrase);
	r->password = bs_xstrdup_opt(base->password);
	r->agent = base->agent;
	r->known_hosts = bs_xstrdup_opt(base->known_hosts);
	r->extra_known_hosts = bs_xstrdup_opt(base->extra_known_hosts);
	/* no machine's tag on a hop's pin: forgetting the machine keeps it */
	r->policy = base->policy;
	r->connect_timeout_ms = base->connect_timeout_ms;
	r->cancel = base->cancel;
	if (r->n == 0) {
		route_unref(r);
		return NULL;
	}
	return r;
}

void bs_jump_route_dialer(struct bs_jump_route *r, struct bs_ssh_dialer *out)
{
	out->dial = route_dial;
	out->release = route_release;
	out->payload = r;
}

void bs_jump_route_free(struct bs_jump_route *r)
{
	if (r != NULL)
		route_unref(r);
}

const char *bs_jump_route_display(const struct bs_jump_route *r)
{
	return r->display;
}
