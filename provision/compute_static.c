/*
 * compute_static.c - provider: static. The machines exist already; the
 * recipe lists them by address. Never created, never destroyed: list()
 * reports the recipe's nodes as running, and create/destroy refuse.
 */
#include <stdlib.h>
#include <string.h>

#include "provision/compute.h"
#include "util/str.h"

static int static_list(struct bs_compute *c, struct bs_machine_list *out, struct bs_err *err)
{
	const struct bs_fleet *r = &c->fleet;

	(void)err;
	out->v = bs_xcalloc(r->n_nodes ? r->n_nodes : 1, sizeof(*out->v));
	out->n = r->n_nodes;
	for (size_t i = 0; i < r->n_nodes; i++) {
		const struct bs_node *n = &r->nodes[i];
		struct bs_machine *m = &out->v[i];

		m->id = bs_xstrdup(n->name);
		m->name = bs_xstrdup(n->name);
		m->project = bs_xstrdup(r->project);
		m->state = BS_NODE_RUNNING;
		m->ssh_host = n->address ? bs_xstrdup(n->address) : NULL; /* engine: none */
		m->ssh_port = n->port > 0 ? n->port : r->ssh.port > 0 ? r->ssh.port : 22;
	}
	return 0;
}

static int static_create(struct bs_compute *c, const struct bs_node *node, struct bs_machine *out,
			 struct bs_err *err)
{
	(void)out;
	return bs_err_set(
		err, BS_ERR_UNSUPPORTED,
		"%s: node %s: provider %s never creates machines; list the host with its address",
		c->fleet.file, node->name, bs_provider_type_name(c->fleet.provider.type));
}

static int static_destroy(struct bs_compute *c, const struct bs_machine *m, struct bs_err *err)
{
	return bs_err_set(err, BS_ERR_UNSUPPORTED,
			  "%s: node %s: provider %s never destroys machines", c->fleet.file,
			  m->name, bs_provider_type_name(c->fleet.provider.type));
}

static int static_wait(struct bs_compute *c, struct bs_machine *m, struct bs_err *err)
{
	(void)c;
	(void)m;
	(void)err;
	return 0; /* the machine is there; SSH says whether it answers */
}

static void static_free(struct bs_compute *c)
{
	free(c);
}

static const struct bs_compute_ops static_ops = {
	.name = "static",
	.list = static_list,
	.create = static_create,
	.destroy = static_destroy,
	.wait_running = static_wait,
	.free = static_free,
};

int bs_compute_static_open(struct bs_compute **out, const struct bs_fleet *fleet,
			   const struct bs_compute_opts *opts, struct bs_err *err)
{
	struct bs_compute *c = bs_xcalloc(1, sizeof(*c));

	(void)err;
	c->ops = &static_ops;
	c->fleet = *fleet;
	if (opts != NULL)
		c->opts = *opts;
	c->creates = false;
	*out = c;
	return 0;
}
