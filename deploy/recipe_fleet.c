/*
 * recipe_fleet.c - the recipe as provisioning sees it (recipe.h,
 * bs_recipe_fleet; provision/fleet.h).
 */
#include <string.h>

#include "deploy/recipe.h"

void bs_recipe_fleet(const struct bs_recipe *r, struct bs_fleet *out)
{
	memset(out, 0, sizeof(*out));
	out->file = r->file;
	out->project = r->project;
	out->provider = r->provider;
	out->ssh = r->ssh;
	out->docker = r->docker;
	out->nodes = r->nodes;
	out->n_nodes = r->n_nodes;
	out->cluster = r->cluster.type != BS_CLUSTER_NONE;
}
