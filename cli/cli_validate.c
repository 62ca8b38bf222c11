/*
 * cli_validate.c - `bootstrap validate`: check recipes, print diagnostics
 * or the normalised model.
 */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "deploy/recipe.h"
#include "util/error.h"
#include "util/log.h"

static cJSON *diags_json(const struct bs_diags *diags)
{
	cJSON *arr = cJSON_CreateArray();
	size_t i;

	for (i = 0; i < diags->n; i++) {
		const struct bs_diag *d = &diags->items[i];
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "severity",
					d->severity == BS_DIAG_ERROR ? "error" : "warning");
		cJSON_AddStringToObject(o, "file", bs_diag_file(diags, d));
		cJSON_AddNumberToObject(o, "line", d->line);
		cJSON_AddNumberToObject(o, "column", d->col);
		cJSON_AddStringToObject(o, "path", d->path);
		cJSON_AddStringToObject(o, "message", d->message);
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

static int exit_for(int rc)
{
	if (rc == 0)
		return BS_EXIT_OK;
	return rc == BS_ERR_IO ? BS_EXIT_NOINPUT : BS_EXIT_INVALID;
}

static int validate_one(const struct bs_cli *cli, const char *path)
{
	struct bs_recipe *recipe = NULL;
	struct bs_diags diags;
	int rc;

	bs_diags_init(&diags, path);
	rc = bs_cli_recipe_load(cli, &recipe, path, &diags);
	bs_diags_sort(&diags);
	if (cli->json) {
		cJSON *o = cJSON_CreateObject();
		char *text;

		cJSON_AddStringToObject(o, "file", path);
		cJSON_AddBoolToObject(o, "valid", rc == 0);
		cJSON_AddNumberToObject(o, "errors", (double)diags.n_errors);
		cJSON_AddNumberToObject(o, "warnings", (double)diags.n_warnings);
		cJSON_AddItemToObject(o, "diagnostics", diags_json(&diags));
		if (recipe != NULL) {
			char *model = bs_recipe_to_json(recipe);

			cJSON_AddItemToObject(o, "recipe", cJSON_Parse(model));
			free(model);
		}
		text = cJSON_PrintUnformatted(o);
		printf("%s\n", text);
		free(text);
		cJSON_Delete(o);
	} else {
		bs_cli_print_diags(cli, &diags);
		if (rc == 0 && cli->verbosity >= 0)
			printf("%s: valid (%zu node%s, %zu container%s, %zu image%s)\n", path,
			       recipe->n_nodes, recipe->n_nodes == 1 ? "" : "s",
			       recipe->n_containers, recipe->n_containers == 1 ? "" : "s",
			       recipe->n_images, recipe->n_images == 1 ? "" : "s");
	}
	bs_recipe_free(recipe);
	bs_diags_free(&diags);
	return exit_for(rc);
}

int bs_cli_validate(const struct bs_cli *cli)
{
	int worst = BS_EXIT_OK, i;

	if (cli->n_args == 0) {
		bs_cli_error("validate needs a recipe file (bootstrap validate recipe.yaml)");
		return BS_EXIT_USAGE;
	}
	for (i = 0; i < cli->n_args; i++) {
		int code = validate_one(cli, cli->args[i]);

		if (code > worst)
			worst = code;
	}
	fflush(stdout);
	return worst;
}

int bs_cli_check_recipe(const struct bs_cli *cli, const char *path)
{
	struct bs_recipe *recipe = NULL;
	struct bs_diags diags;
	size_t i;
	int rc;

	bs_diags_init(&diags, path);
	rc = bs_cli_recipe_load(cli, &recipe, path, &diags);
	bs_diags_sort(&diags);
	bs_cli_print_diags(cli, &diags);
	if (recipe != NULL)
		for (i = 0; i < recipe->secrets.n; i++)
			bs_secret_add(recipe->secrets.v[i]);
	bs_recipe_free(recipe);
	bs_diags_free(&diags);
	return exit_for(rc);
}
