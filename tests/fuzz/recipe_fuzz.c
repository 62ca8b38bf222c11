/*
 * recipe_fuzz.c - libFuzzer target for the recipe loader.
 *
 * Every input is one recipe file, handed to bs_recipe_load_buffer() byte for
 * byte (not NUL-terminated: the loader must honour len). That drives the
 * whole front end: libyaml's event parser and the positioned tree builder
 * (anchors, aliases, merge keys, the size/depth/alias-expansion limits,
 * duplicate keys, UTF-8 and column counting), environment interpolation
 * (${VAR}, $VAR, $$, ${VAR:-d}, ${VAR-d}, ${VAR:?m}, ${VAR:+o}, nesting),
 * secret detection and spreading, every section parser (provider, ssh,
 * nodes and count expansion, docker and its daemon map, registries, images,
 * containers: ports, volumes, durations, sizes, healthchecks, selectors) and
 * the cross checks. Then every diagnostic is formatted with bs_diag_format()
 * (with the secret mask that was applied) after bs_diags_sort(), and a
 * recipe that loads is serialised with bs_recipe_to_json().
 *
 * The environment is a fixed table (hermetic_getenv): results never depend
 * on the machine the fuzzer runs on, and a crash reproduces anywhere. One
 * of the variables, BS_TEST_SECRET, is the one the seed corpus and the bad
 * recipe tests use for secrets.
 *
 * Nothing here touches process-wide state that grows from run to run (no
 * bs_secret_add(), no logging setup): everything allocated for an input is
 * freed before returning, so LeakSanitizer reports any leak in the loader
 * itself.
 *
 * Checked beyond "no crash, no leak, no UB":
 *   - the return code agrees with the diagnostics (0 iff no error was added,
 *     and a recipe is returned iff the code is 0);
 *   - every formatted diagnostic starts with the file name (messages quote
 *     recipe text verbatim, newlines included, so "one line" is not
 *     checked here);
 *   - the JSON model is produced for every recipe that loads, and is valid
 *     JSON (cJSON parses it back).
 * A violation aborts, which libFuzzer reports as a crash with the input.
 *
 * Built and run by `make fuzz` (tests/fuzz/run.sh).
 */
#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/diag.h"
#include "deploy/recipe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_FILE "fuzz.yaml"

static const char *const fuzz_env[][2] = {
	{"BS_TEST_SECRET", "hunter2"},
	{"GREETING", "hello from bootstrap"},
	{"LOG_LEVEL", "debug"},
	{"EMPTY", ""},
	{"PORT", "8080"},
	{"HOST_PORT", "127.0.0.1:8080"},
	{"IMAGE_TAG", "1.25"},
	{"REGISTRY_PASSWORD", "s3cr3t"},
	{"DATABASE_PASSWORD", "correct horse"},
	{"HCLOUD_TOKEN", "token-hcloud"},
	{"DOLLAR", "$HOME ${NOT_EXPANDED_AGAIN} $$"},
	{"HOME", "/root"},
	{"A", "a"},
	{"B", "b"},
};

static const char *hermetic_getenv(const char *name, void *payload)
{
	size_t i;

	(void)payload;
	for (i = 0; i < sizeof(fuzz_env) / sizeof(fuzz_env[0]); i++)
		if (strcmp(name, fuzz_env[i][0]) == 0)
			return fuzz_env[i][1];
	return NULL;
}

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "recipe_fuzz: invariant violated: %s\n", what);
		abort();
	}
}

static void format_all(const struct bs_diags *diags)
{
	size_t i;

	for (i = 0; i < diags->n; i++) {
		char *line = bs_diag_format(diags, &diags->items[i]);

		check(line != NULL, "bs_diag_format returned NULL");
		check(strncmp(line, FUZZ_FILE, strlen(FUZZ_FILE)) == 0,
		      "a diagnostic does not start with the file name");
		for (const char *p = line; *p != '\0'; p++)
			check((unsigned char)*p >= 0x20 && *p != 0x7f,
			      "a diagnostic holds a control character (newline, escape)");
		free(line);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bs_recipe_load_opts opts = BS_RECIPE_LOAD_OPTS_INIT;
	struct bs_recipe *recipe = NULL;
	struct bs_diags diags;
	cJSON *parsed;
	char *json;
	int rc;

	opts.getenv_fn = hermetic_getenv;
	opts.payload = NULL;
	bs_diags_init(&diags, FUZZ_FILE);
	rc = bs_recipe_load_buffer(&recipe, (const char *)data, size, FUZZ_FILE, &opts, &diags);
	check((rc == 0) == (diags.n_errors == 0), "return code disagrees with the errors");
	check((rc == 0) == (recipe != NULL), "recipe returned with an error (or none on success)");
	check(diags.n <= BS_DIAGS_MAX, "more diagnostics stored than BS_DIAGS_MAX");

	bs_diags_sort(&diags);
	format_all(&diags);

	if (recipe != NULL) {
		json = bs_recipe_to_json(recipe);
		check(json != NULL, "bs_recipe_to_json returned NULL");
		parsed = cJSON_Parse(json);
		check(parsed != NULL, "bs_recipe_to_json produced invalid JSON");
		cJSON_Delete(parsed);
		free(json);
	}
	bs_recipe_free(recipe);
	bs_diags_free(&diags);
	return 0;
}
