/*
 * recipe_model.c - what the loaded model answers: the names of its enums,
 * which nodes a selector or a container picks, a container's web port, the
 * registry login for an image. Pure functions of struct bs_recipe, no
 * diagnostics; any thread may call them on a loaded recipe.
 */
#include <stdlib.h>
#include <string.h>

#include "container/auth.h"
#include "deploy/recipe_priv.h"

const char *const bs_update_order_names[] = {"auto", "start-first", "stop-first", NULL};
const char *const bs_net_mode_names[] = {"project", "bridge", "host", "none", NULL};
const char *const bs_restart_policy_names[] = {"no", "always", "on-failure", "unless-stopped",
					       NULL};
const char *const bs_pull_policy_names[] = {"missing", "always", "never", NULL};
const char *const bs_failure_action_names[] = {"rollback", "pause", "continue", NULL};
const char *const bs_publish_mode_names[] = {"ingress", "host", NULL};
const char *const bs_encrypt_mode_names[] = {"auto", "true", "false", NULL};

const char *bs_restart_policy_name(enum bs_restart_policy policy)
{
	return bs_restart_policy_names[policy];
}

const char *bs_pull_policy_name(enum bs_pull_policy policy)
{
	return bs_pull_policy_names[policy];
}

const char *bs_update_order_name(enum bs_update_order order)
{
	return bs_update_order_names[order];
}

const char *bs_net_mode_name(enum bs_net_mode mode)
{
	return bs_net_mode_names[mode];
}

const char *bs_failure_action_name(enum bs_failure_action action)
{
	return bs_failure_action_names[action];
}

const char *bs_publish_mode_name(enum bs_publish_mode mode)
{
	return bs_publish_mode_names[mode];
}

const char *bs_encrypt_mode_name(enum bs_encrypt_mode mode)
{
	return bs_encrypt_mode_names[mode];
}

const char *const bs_tls_mode_names[] = {"auto", "internal", "off", "files", NULL};

const char *bs_tls_mode_name(enum bs_tls_mode mode)
{
	return bs_tls_mode_names[mode];
}

int bs_container_web_port(const struct bs_container *c)
{
	if (c->expose > 0)
		return c->expose;
	if (c->n_ports == 1 && c->ports[0].container_start == c->ports[0].container_end &&
	    c->ports[0].proto == BS_PROTO_TCP)
		return c->ports[0].container_start;
	return 0;
}

const struct bs_registry *bs_recipe_registry_for(const struct bs_recipe *r, const char *ref)
{
	char *server = bs_image_registry(ref);
	const struct bs_registry *found = NULL;

	for (size_t i = 0; i < r->n_registries; i++)
		if (strcmp(r->registries[i].server, server) == 0 && r->registries[i].username)
			found = &r->registries[i];
	free(server);
	return found;
}

bool bs_cluster_is_manager(const struct bs_recipe *r, const struct bs_node *node)
{
	if (r->cluster.type == BS_CLUSTER_NONE)
		return false;
	if (r->cluster.managers.n == 0)
		return r->n_nodes > 0 && strcmp(r->nodes[0].name, node->name) == 0;
	for (size_t i = 0; i < r->cluster.managers.n; i++)
		if (bs_selector_matches(&r->cluster.managers.v[i], node))
			return true;
	return false;
}

bool bs_selector_matches(const struct bs_selector *sel, const struct bs_node *node)
{
	const struct bs_kv *label;

	if (sel->value == NULL)
		return strcmp(sel->key, node->name) == 0 || strcmp(sel->key, node->group) == 0;
	label = bs_kvlist_find(&node->labels, sel->key);
	return label != NULL && strcmp(label->value, sel->value) == 0;
}

bool bs_container_selects(const struct bs_container *c, const struct bs_node *n)
{
	size_t i;

	if (c->nodes.n == 0)
		return true;
	for (i = 0; i < c->nodes.n; i++)
		if (bs_selector_matches(&c->nodes.v[i], n))
			return true;
	return false;
}

/* Replica r of c runs on the ((r-1) mod N)th of the N nodes c selects. */
size_t bs_placement(const struct bs_recipe *r, const struct bs_container *c,
		    const struct bs_node *node, int **out)
{
	size_t n_sel = 0, mine = (size_t)-1, i, k = 0;

	*out = NULL;
	for (i = 0; i < r->n_nodes; i++) {
		if (!bs_container_selects(c, &r->nodes[i]))
			continue;
		if (strcmp(r->nodes[i].name, node->name) == 0)
			mine = n_sel;
		n_sel++;
	}
	if (mine == (size_t)-1 || c->replicas <= 0)
		return 0;
	*out = bs_xcalloc((size_t)c->replicas, sizeof(**out));
	for (int rep = 1; rep <= c->replicas; rep++)
		if ((size_t)(rep - 1) % n_sel == mine)
			(*out)[k++] = rep;
	return k;
}

bool bs_recipe_placed(const struct bs_recipe *r, const struct bs_container *c,
		      const struct bs_node *n)
{
	int *reps;
	size_t k = bs_placement(r, c, n, &reps);

	free(reps);
	return k > 0;
}

size_t bs_recipe_node_mounts(const struct bs_recipe *r, const struct bs_node *n,
			     const struct bs_mount ***out)
{
	size_t count = 0, cap = 0;

	*out = NULL;
	for (size_t i = 0; i < r->n_containers; i++) {
		const struct bs_container *c = &r->containers[i];
		/* a swarm may run a service's task on any node it selects */
		bool here = r->cluster.type != BS_CLUSTER_NONE ? bs_container_selects(c, n)
							       : bs_recipe_placed(r, c, n);

		for (size_t v = 0; here && v < c->n_volumes; v++) {
			const struct bs_mount *m = &c->volumes[v];
			bool seen = false;

			if (m->type != BS_MOUNT_LOCAL)
				continue;
			for (size_t k = 0; k < count && !seen; k++)
				seen = strcmp((*out)[k]->source, m->source) == 0;
			if (seen)
				continue;
			bs_xgrow((void **)out, &cap, count + 1, sizeof(**out));
			(*out)[count++] = m;
		}
	}
	return count;
}
