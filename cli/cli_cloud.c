/*
 * cli_cloud.c - `bootstrap locations`: what a cloud offers, from its own
 * API (Libcloud's list_locations and list_sizes): its locations or
 * regions, and its server types or sizes with their price and where each
 * can be ordered now. The provider comes from -r RECIPE (its token,
 * api_url and current location and size marked) or --provider NAME (the
 * default API, or --api-url).
 */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "deploy/recipe.h"
#include "provision/compute.h"
#include "util/str.h"
#include "util/url.h"

static int size_cmp(const void *a, const void *b)
{
	const struct bs_catalog_size *x = a, *y = b;

	/* a size with no price (orderable nowhere) last */
	if ((x->price_monthly < 0) != (y->price_monthly < 0))
		return x->price_monthly < 0 ? 1 : -1;
	if (x->price_monthly != y->price_monthly)
		return x->price_monthly < y->price_monthly ? -1 : 1;
	return strcmp(x->name, y->name);
}

static void print_json_doc(cJSON *o)
{
	char *text = cJSON_PrintUnformatted(o);

	printf("%s\n", text);
	free(text);
	cJSON_Delete(o);
}

static void show(const struct bs_cli *cli, const char *provider, const struct bs_catalog *cat,
		 const char *region, const char *size)
{
	if (cli->json) {
		cJSON *o = cJSON_CreateObject(), *locs, *sizes;

		cJSON_AddStringToObject(o, "provider", provider);
		locs = cJSON_AddArrayToObject(o, "locations");
		for (size_t i = 0; i < cat->n_locations; i++) {
			const struct bs_catalog_location *l = &cat->locations[i];
			cJSON *j = cJSON_CreateObject();

			cJSON_AddStringToObject(j, "name", l->name);
			if (l->description)
				cJSON_AddStringToObject(j, "description", l->description);
			if (l->country)
				cJSON_AddStringToObject(j, "country", l->country);
			cJSON_AddBoolToObject(j, "available", l->available);
			cJSON_AddItemToArray(locs, j);
		}
		sizes = cJSON_AddArrayToObject(o, "sizes");
		for (size_t i = 0; i < cat->n_sizes; i++) {
			const struct bs_catalog_size *z = &cat->sizes[i];
			cJSON *j = cJSON_CreateObject(), *w;

			cJSON_AddStringToObject(j, "name", z->name);
			if (z->arch)
				cJSON_AddStringToObject(j, "arch", z->arch);
			cJSON_AddNumberToObject(j, "cores", z->cores);
			cJSON_AddNumberToObject(j, "memory_gb", z->memory_gb);
			cJSON_AddNumberToObject(j, "disk_gb", z->disk_gb);
			if (z->price_monthly >= 0)
				cJSON_AddNumberToObject(j, "price_monthly", z->price_monthly);
			else
				cJSON_AddNullToObject(j, "price_monthly");
			if (z->price_hourly >= 0)
				cJSON_AddNumberToObject(j, "price_hourly", z->price_hourly);
			else
				cJSON_AddNullToObject(j, "price_hourly");
			cJSON_AddStringToObject(j, "currency", z->currency);
			w = cJSON_AddArrayToObject(j, "available_in");
			for (size_t k = 0; k < z->where.n; k++)
				cJSON_AddItemToArray(w, cJSON_CreateString(z->where.v[k]));
			cJSON_AddItemToArray(sizes, j);
		}
		print_json_doc(o);
		return;
	}
	printf("%s locations%s:\n", provider, region ? " (* the recipe's)" : "");
	for (size_t i = 0; i < cat->n_locations; i++) {
		const struct bs_catalog_location *l = &cat->locations[i];

		printf("  %c %-8s %-32s %-3s %s\n",
		       region && strcmp(region, l->name) == 0 ? '*' : ' ', l->name,
		       l->description ? l->description : "", l->country ? l->country : "",
		       l->available ? "" : "(closed to new machines)");
	}
	printf("\n%s sizes, cheapest first%s (price: the lowest where offered, %s):\n", provider,
	       size ? " (* the recipe's)" : "", cat->n_sizes ? cat->sizes[0].currency : "");
	printf("    %-20s %5s %8s %6s %5s %10s %9s  %s\n", "NAME", "CORES", "MEMORY", "DISK",
	       "ARCH", "MONTHLY", "HOURLY", "AVAILABLE IN");
	for (size_t i = 0; i < cat->n_sizes; i++) {
		const struct bs_catalog_size *z = &cat->sizes[i];
		char monthly[24], hourly[24], mem[16];
		struct bs_buf where = BS_BUF_INIT;

		snprintf(monthly, sizeof(monthly), z->price_monthly >= 0 ? "%.2f" : "-",
			 z->price_monthly);
		snprintf(hourly, sizeof(hourly), z->price_hourly >= 0 ? "%.4f" : "-",
			 z->price_hourly);
		snprintf(mem, sizeof(mem), "%gGB", z->memory_gb);
		for (size_t k = 0; k < z->where.n; k++)
			bs_buf_printf(&where, "%s%s", k ? " " : "", z->where.v[k]);
		printf("  %c %-20s %5d %8s %4dGB %5s %10s %9s  %s\n",
		       size && strcmp(size, z->name) == 0 ? '*' : ' ', z->name, z->cores, mem,
		       z->disk_gb, z->arch ? z->arch : "-", monthly, hourly,
		       where.len ? bs_buf_str(&where) : "(not orderable now)");
		bs_buf_free(&where);
	}
}

int bs_cli_locations(const struct bs_cli *cli)
{
	struct bs_recipe *recipe = NULL;
	struct bs_fleet fleet;
	struct bs_compute_opts copts;
	struct bs_compute *c = NULL;
	struct bs_catalog cat;
	struct bs_err err = BS_ERR_INIT;
	char *api_url = NULL;
	int code = BS_EXIT_OK;

	memset(&fleet, 0, sizeof(fleet));
	memset(&cat, 0, sizeof(cat));
	if (cli->n_args != 0 || (cli->recipe == NULL) == (cli->provider == NULL)) {
		bs_cli_error("locations takes -r RECIPE or --provider hetzner|digitalocean, like: "
			     "bootstrap locations --provider hetzner");
		return BS_EXIT_USAGE;
	}
	if (cli->recipe != NULL) {
		recipe = bs_cli_load_recipe(cli, cli->recipe, &code);
		if (recipe == NULL)
			return code;
		bs_recipe_fleet(recipe, &fleet);
	} else {
		if (strcmp(cli->provider, "hetzner") == 0) {
			fleet.provider.type = BS_PROVIDER_HETZNER;
		} else if (strcmp(cli->provider, "digitalocean") == 0) {
			fleet.provider.type = BS_PROVIDER_DIGITALOCEAN;
		} else {
			bs_cli_error("--provider %s: locations knows hetzner and digitalocean",
				     cli->provider);
			return BS_EXIT_USAGE;
		}
		if (cli->api_url != NULL && bs_url_is_cleartext_remote(cli->api_url)) {
			bs_cli_error("--api-url %s: the token would cross the network in clear "
				     "text: use https:// (http:// only to a loopback address)",
				     cli->api_url);
			return BS_EXIT_USAGE;
		}
		fleet.file = "--provider";
		fleet.project = "bootstrap";
		api_url = cli->api_url ? bs_xstrdup(cli->api_url) : NULL;
		fleet.provider.api_url = api_url;
	}
	memset(&copts, 0, sizeof(copts));
	copts.cancel = &bs_cli_interrupted;
	if (cli->timeout_ms > 0)
		copts.request_timeout_ms = (long)cli->timeout_ms;
	if (bs_compute_open(&c, &fleet, &copts, &err) != 0) {
		code = bs_cli_exit_for_error(err.code);
	} else if (c->ops->catalog == NULL) {
		bs_err_set(&err, BS_ERR_UNSUPPORTED,
			   "provider %s has no locations or sizes to list: it makes no machines "
			   "of its own",
			   c->ops->name);
		code = BS_EXIT_UNAVAILABLE;
	} else if (c->ops->catalog(c, &cat, &err) != 0) {
		code = bs_cli_exit_for_error(err.code);
	} else {
		qsort(cat.sizes, cat.n_sizes, sizeof(*cat.sizes), size_cmp);
		show(cli, c->ops->name, &cat, fleet.provider.region, fleet.provider.size);
	}
	if (code != BS_EXIT_OK)
		bs_cli_error("%s", err.msg);
	bs_catalog_free(&cat);
	if (c != NULL)
		c->ops->free(c);
	bs_recipe_free(recipe);
	free(api_url);
	return code;
}
