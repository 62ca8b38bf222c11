/*
 * Unit tests for secrets in recipes: which values are secret (secret
 * fields, and every value built from a variable a secret field uses),
 * that they are flagged and listed in recipe->secrets, and that no output
 * shows them: not the JSON model, not a diagnostic, not a warning.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/recipe.h"
#include "tests/unit/helpers.h"

static const struct test_var env[] = {
	{"PW", "s3cr3t-pw"},
	{"OTHER", "plain-value"},
	{"DB_PW", "db-pw-42"},
	{"API_KEY", "api-key-value"},
	{"LIST_PW", "list-pw-7"},
	{"BS_TEST_SECRET", "hunter2"},
	{"HZ_TOKEN", "hz-token-value"},
	{"KEY_PASS", "key-pass-value"},
	{NULL, NULL},
};

static void assert_secret_listed_at(const struct bs_recipe *r, const char *value, bool listed,
				    const char *file, int line)
{
	if (bs_strv_contains(&r->secrets, value) == listed)
		return;
	print_error("'%s' should%s be in recipe->secrets\n", value, listed ? "" : " not");
	_fail(file, line);
}

#define assert_secret_listed(r, value)                                                             \
	assert_secret_listed_at((r), (value), true, __FILE__, __LINE__)
#define assert_secret_not_listed(r, value)                                                         \
	assert_secret_listed_at((r), (value), false, __FILE__, __LINE__)

static void assert_kv_at(const struct bs_kvlist *l, const char *key, const char *value, bool secret,
			 const char *file, int line)
{
	const struct bs_kv *kv = bs_kvlist_find(l, key);

	if (kv == NULL) {
		print_error("no key %s\n", key);
		_fail(file, line);
	} else if (strcmp(kv->value, value) != 0) {
		print_error("%s is '%s', want '%s'\n", key, kv->value, value);
		_fail(file, line);
	} else if (kv->secret != secret) {
		print_error("%s=%s should%s be flagged secret\n", key, value, secret ? "" : " not");
		_fail(file, line);
	}
}

/* l[key] == value, flagged secret or not. */
#define assert_kv(l, key, value, secret)                                                           \
	assert_kv_at((l), (key), (value), (secret), __FILE__, __LINE__)

/* The JSON model as text; fails if it contains needle. */
static char *json_without(const struct bs_recipe *r, const char *needle)
{
	char *text = bs_recipe_to_json(r);

	assert_non_null(text);
	if (strstr(text, needle) != NULL) {
		print_error("the JSON model shows '%s':\n%s\n", needle, text);
		free(text);
		fail();
	}
	return text;
}

static const cJSON *jget(const cJSON *j, const char *const *path)
{
	for (; j != NULL && *path != NULL; path++) {
		if (cJSON_IsArray(j))
			j = cJSON_GetArrayItem(j, (int)strtol(*path, NULL, 10));
		else
			j = cJSON_GetObjectItemCaseSensitive(j, *path);
	}
	return j;
}

#define JPATH(...) ((const char *const[]){__VA_ARGS__, NULL})

static void assert_jstr(const cJSON *root, const char *const *path, const char *want)
{
	const cJSON *j = jget(root, path);

	if (!cJSON_IsString(j))
		fail_msg("JSON %s...: not a string", path[0]);
	assert_string_equal(j->valuestring, want);
}

/* ---- what is secret ---------------------------------------------------- */

static void test_registry_password_variable(void **state)
{
	struct loaded l;

	(void)state;
	load_text(&l,
		  RECIPE_HEAD "    environment:\n"
			      "      TOKEN: ${PW}\n"
			      "      BEARER: \"Bearer ${PW}\"\n"
			      "      MODE: production\n"
			      "      OTHER: ${OTHER}\n"
			      "registries:\n"
			      "  - server: registry.example.com\n"
			      "    username: deploy\n"
			      "    password: ${PW}\n",
		  env);
	expect_loaded(&l);
	expect_counts(&l.diags, 0, 0);
	assert_string_equal(l.recipe->registries[0].password, "s3cr3t-pw");
	assert_secret_listed(l.recipe, "s3cr3t-pw");
	/* the same variable elsewhere makes that value secret too */
	assert_kv(&l.recipe->containers[0].environment, "TOKEN", "s3cr3t-pw", true);
	assert_kv(&l.recipe->containers[0].environment, "BEARER", "Bearer s3cr3t-pw", true);
	assert_secret_listed(l.recipe, "Bearer s3cr3t-pw");
	assert_kv(&l.recipe->containers[0].environment, "MODE", "production", false);
	assert_kv(&l.recipe->containers[0].environment, "OTHER", "plain-value", false);
	assert_secret_not_listed(l.recipe, "plain-value");
	assert_secret_not_listed(l.recipe, "production");
	/* each value once */
	assert_int_equal(l.recipe->secrets.n, 2);
	loaded_free(&l);
}

/* Order does not matter: a variable used in a container before the secret
 * field that makes it secret is still secret. */
static void test_secret_variable_used_first(void **state)
{
	struct loaded l;

	(void)state;
	load_text(&l,
		  "version: 1\n"
		  "project: demo\n"
		  "provider: {type: hetzner, location: fsn1, token: \"${HZ_TOKEN}\"}\n"
		  "ssh:\n"
		  "  passphrase: ${KEY_PASS}\n"
		  "nodes:\n"
		  "  - name: web\n"
		  "containers:\n"
		  "  - name: app\n"
		  "    image: nginx:1.25\n"
		  "    command: [app, --token, \"${HZ_TOKEN}\", \"--pass=${KEY_PASS}\"]\n"
		  "    environment: [\"T=${HZ_TOKEN}\"]\n",
		  env);
	expect_loaded(&l);
	expect_counts(&l.diags, 0, 0);
	assert_string_equal(l.recipe->provider.token, "hz-token-value");
	assert_string_equal(l.recipe->ssh.passphrase, "key-pass-value");
	assert_secret_listed(l.recipe, "hz-token-value");
	assert_secret_listed(l.recipe, "key-pass-value");
	assert_secret_listed(l.recipe, "--pass=key-pass-value");
	assert_kv(&l.recipe->containers[0].environment, "T", "hz-token-value", true);
	loaded_free(&l);
}

static void test_container_secrets_map_and_list(void **state)
{
	struct loaded l;

	(void)state;
	load_text(&l,
		  RECIPE_HEAD "    secrets:\n"
			      "      DB_PASSWORD: ${DB_PW}\n"
			      "      API_KEY:\n"
			      "  - name: api\n"
			      "    image: nginx:1.25\n"
			      "    secrets:\n"
			      "      - LIST_PW\n"
			      "      - \"K=${DB_PW}\"\n"
			      "    environment:\n"
			      "      DB_URL: postgres://app:${DB_PW}@db/shop\n"
			      "      PLAIN: ${OTHER}\n",
		  env);
	expect_loaded(&l);
	expect_counts(&l.diags, 0, 0);
	assert_int_equal(l.recipe->containers[0].secrets.n, 2);
	assert_kv(&l.recipe->containers[0].secrets, "DB_PASSWORD", "db-pw-42", true);
	assert_kv(&l.recipe->containers[0].secrets, "API_KEY", "api-key-value", true);
	assert_int_equal(l.recipe->containers[1].secrets.n, 2);
	assert_kv(&l.recipe->containers[1].secrets, "LIST_PW", "list-pw-7", true);
	assert_kv(&l.recipe->containers[1].secrets, "K", "db-pw-42", true);
	assert_kv(&l.recipe->containers[1].environment, "DB_URL", "postgres://app:db-pw-42@db/shop",
		  true);
	assert_kv(&l.recipe->containers[1].environment, "PLAIN", "plain-value", false);
	assert_secret_listed(l.recipe, "db-pw-42");
	assert_secret_listed(l.recipe, "api-key-value");
	assert_secret_listed(l.recipe, "list-pw-7");
	assert_secret_listed(l.recipe, "postgres://app:db-pw-42@db/shop");
	assert_secret_not_listed(l.recipe, "plain-value");
	loaded_free(&l);
}

/* A literal in a container's secrets map is still a secret. */
static void test_container_secret_literal(void **state)
{
	struct loaded l;
	char *json;

	(void)state;
	load_text(&l, RECIPE_HEAD "    secrets: {LITERAL: literal-secret-value}\n", env);
	expect_loaded(&l);
	assert_kv(&l.recipe->containers[0].secrets, "LITERAL", "literal-secret-value", true);
	assert_secret_listed(l.recipe, "literal-secret-value");
	json = json_without(l.recipe, "literal-secret-value");
	free(json);
	loaded_free(&l);
}

/* A variable passed through by name (environment: [NAME]) carries the same
 * value as ${NAME}: when a secret field uses that variable, so is it. */
static void test_pass_through_of_secret_variable(void **state)
{
	struct loaded l;
	char *json;

	(void)state;
	load_text(&l,
		  RECIPE_HEAD "    environment:\n"
			      "      - BS_TEST_SECRET\n"
			      "  - name: api\n"
			      "    image: nginx:1.25\n"
			      "    environment:\n"
			      "      BS_TEST_SECRET:\n"
			      "registries:\n"
			      "  - server: registry.example.com\n"
			      "    username: deploy\n"
			      "    password: ${BS_TEST_SECRET}\n",
		  env);
	expect_loaded(&l);
	assert_kv(&l.recipe->containers[0].environment, "BS_TEST_SECRET", "hunter2", true);
	assert_kv(&l.recipe->containers[1].environment, "BS_TEST_SECRET", "hunter2", true);
	json = json_without(l.recipe, "hunter2");
	free(json);
	loaded_free(&l);
}

/* A container secret taken from the environment (API_KEY:) makes the
 * variable secret, so passing it as plain environment elsewhere is masked. */
static void test_pass_through_of_secret_from_env(void **state)
{
	struct loaded l;
	char *json;

	(void)state;
	load_text(&l,
		  RECIPE_HEAD "    secrets: [API_KEY]\n"
			      "  - name: api\n"
			      "    image: nginx:1.25\n"
			      "    environment: [API_KEY, \"COPY=${API_KEY}\"]\n",
		  env);
	expect_loaded(&l);
	assert_kv(&l.recipe->containers[0].secrets, "API_KEY", "api-key-value", true);
	assert_kv(&l.recipe->containers[1].environment, "API_KEY", "api-key-value", true);
	assert_kv(&l.recipe->containers[1].environment, "COPY", "api-key-value", true);
	json = json_without(l.recipe, "api-key-value");
	free(json);
	loaded_free(&l);
}

/* The name of a secret taken from the environment is not itself a secret:
 * only values are masked, or messages would hide what they are about. */
static void test_secret_names_are_not_secrets(void **state)
{
	struct loaded l;

	(void)state;
	load_text(&l, RECIPE_HEAD "    secrets: [LIST_PW, \"K=v\"]\n", env);
	expect_loaded(&l);
	assert_kv(&l.recipe->containers[0].secrets, "LIST_PW", "list-pw-7", true);
	assert_secret_listed(l.recipe, "list-pw-7");
	assert_secret_not_listed(l.recipe, "LIST_PW");
	assert_secret_listed(l.recipe, "v");
	loaded_free(&l);

	load_text(&l,
		  RECIPE_HEAD "    environment: {API_KEY: plain}\n" /* 8 */
			      "    secrets: [API_KEY]\n",	    /* 9 */
		  env);
	expect_invalid(&l);
	expect_error(&l.diags, 9, 14, "containers[0].secrets",
		     "API_KEY is both an environment variable and a secret (keep it in one place)");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);
}

/* ---- the JSON model ---------------------------------------------------- */

static void test_json_masks_every_secret(void **state)
{
	struct loaded l;
	cJSON *j;
	char *text;

	(void)state;
	load_text(&l,
		  "version: 1\n"
		  "project: vault\n"
		  "ssh:\n"
		  "  password: ${BS_TEST_SECRET}\n"
		  "nodes:\n"
		  "  - name: web\n"
		  "registries:\n"
		  "  - server: registry.example.com\n"
		  "    username: deploy\n"
		  "    password: ${BS_TEST_SECRET}\n"
		  "containers:\n"
		  "  - name: app\n"
		  "    image: registry.example.com/shop/app:1.4\n"
		  "    command: [app, --token, \"${BS_TEST_SECRET}\"]\n"
		  "    entrypoint: [\"/bin/${BS_TEST_SECRET}\"]\n"
		  "    environment:\n"
		  "      API_TOKEN: ${BS_TEST_SECRET}\n"
		  "      BEARER: \"Bearer ${BS_TEST_SECRET}\"\n"
		  "      MODE: production\n"
		  "    secrets:\n"
		  "      DB_PASSWORD: ${BS_TEST_SECRET}\n"
		  "      BS_TEST_SECRET:\n"
		  "    labels: {owner: \"${BS_TEST_SECRET}\"}\n"
		  "    healthcheck:\n"
		  "      test: [CMD, check, \"${BS_TEST_SECRET}\"]\n",
		  env);
	expect_loaded(&l);
	text = json_without(l.recipe, "hunter2");
	assert_non_null(strstr(text, "\"***\""));
	j = cJSON_Parse(text);
	assert_non_null(j);
	assert_jstr(j, JPATH("ssh", "password"), "***");
	assert_jstr(j, JPATH("registries", "0", "username"), "deploy");
	assert_jstr(j, JPATH("registries", "0", "password"), "***");
	assert_jstr(j, JPATH("containers", "0", "command", "0"), "app");
	assert_jstr(j, JPATH("containers", "0", "command", "2"), "***");
	assert_jstr(j, JPATH("containers", "0", "environment", "API_TOKEN"), "***");
	assert_jstr(j, JPATH("containers", "0", "environment", "BEARER"), "***");
	assert_jstr(j, JPATH("containers", "0", "environment", "MODE"), "production");
	assert_jstr(j, JPATH("containers", "0", "secrets", "DB_PASSWORD"), "***");
	assert_jstr(j, JPATH("containers", "0", "secrets", "BS_TEST_SECRET"), "***");
	assert_jstr(j, JPATH("containers", "0", "healthcheck", "test", "1"), "check");
	assert_jstr(j, JPATH("containers", "0", "healthcheck", "test", "2"), "***");
	cJSON_Delete(j);
	free(text);
	loaded_free(&l);
}

/* Plain string fields built from a secret variable are masked too, whole
 * or where the secret appears inside them. */
static void test_json_masks_secret_in_plain_fields(void **state)
{
	struct loaded l;
	char *text;

	(void)state;
	load_text(&l,
		  "version: 1\n"
		  "project: vault\n"
		  "nodes:\n"
		  "  - name: web\n"
		  "registries:\n"
		  "  - server: registry.example.com\n"
		  "    username: deploy\n"
		  "    password: ${BS_TEST_SECRET}\n"
		  "containers:\n"
		  "  - name: app\n"
		  "    image: registry.example.com/shop/app:1.4\n"
		  "    user: ${BS_TEST_SECRET}\n"
		  "    working_dir: /srv/${BS_TEST_SECRET}\n"
		  "    command: \"run --key=${BS_TEST_SECRET} now\"\n",
		  env);
	expect_loaded(&l);
	text = json_without(l.recipe, "hunter2");
	free(text);
	loaded_free(&l);
}

static void test_json_provider_token(void **state)
{
	struct loaded l;
	cJSON *j;
	char *text;

	(void)state;
	load_text(&l,
		  "version: 1\n"
		  "project: demo\n"
		  "provider:\n"
		  "  type: hetzner\n"
		  "  location: fsn1\n"
		  "  token: ${HZ_TOKEN}\n"
		  "nodes:\n"
		  "  - name: web\n",
		  env);
	expect_loaded(&l);
	expect_counts(&l.diags, 0, 0);
	text = json_without(l.recipe, "hz-token-value");
	j = cJSON_Parse(text);
	assert_jstr(j, JPATH("provider", "token"), "***");
	assert_jstr(j, JPATH("provider", "token_env"), "HCLOUD_TOKEN");
	cJSON_Delete(j);
	free(text);
	loaded_free(&l);
}

/* ---- diagnostics never show a secret ----------------------------------- */

static void test_diagnostics_mask_secrets(void **state)
{
	struct loaded l;

	(void)state;
	load_text(&l,
		  "version: 1\n"				   /* 1 */
		  "project: demo\n"				   /* 2 */
		  "nodes:\n"					   /* 3 */
		  "  - name: web\n"				   /* 4 */
		  "registries:\n"				   /* 5 */
		  "  - server: registry.example.com\n"		   /* 6 */
		  "    username: deploy\n"			   /* 7 */
		  "    password: ${PW}\n"			   /* 8 */
		  "containers:\n"				   /* 9 */
		  "  - name: app\n"				   /* 10 */
		  "    image: registry.example.com/shop/app:1.4\n" /* 11 */
		  "    restart: ${PW}\n"			   /* 12 */
		  "    domain: ${PW}\n"				   /* 13 */
		  "    ports: [\"${PW}\"]\n"			   /* 14 */
		  "    nodes: [\"${PW}\"]\n"			   /* 15 */
		  "    working_dir: ${PW}\n"			   /* 16 */
		  "    volumes: [\"x:${PW}\"]\n"		   /* 17 */
		  "    environment:\n"				   /* 18 */
		  "      API_KEY: plain\n"			   /* 19 */
		  "    secrets:\n"				   /* 20 */
		  "      API_KEY: ${PW}\n",			   /* 21 */
		  env);
	expect_invalid(&l);
	expect_no_diag_containing(&l.diags, "s3cr3t");
	expect_error(&l.diags, 12, 14, "containers[0].restart", "'***' is not a restart policy");
	expect_error(&l.diags, 13, 13, "containers[0].domain",
		     "'***' is not a fully qualified domain name");
	expect_error(&l.diags, 14, 13, "containers[0].ports[0]", "'***' is not a port mapping");
	expect_error(&l.diags, 15, 13, "containers[0].nodes[0]", "no node is named ***");
	expect_error(&l.diags, 16, 18, "containers[0].working_dir",
		     "working_dir is an absolute path");
	expect_error(&l.diags, 17, 15, "containers[0].volumes[0]", "is not a volume");
	expect_error(&l.diags, 21, 7, "containers[0].secrets",
		     "API_KEY is both an environment variable and a secret (keep it in one place)");
	expect_counts(&l.diags, 7, 0);
	loaded_free(&l);
}

/* A long secret quoted in messages that cut values ('%.100s', '%.200s') or
 * whole messages (1 KiB): no 8 characters of it in a row, anywhere. */
static void test_diagnostics_mask_cut_secrets(void **state)
{
	char secret[1600];
	struct test_var long_env[] = {{"LONG", secret}, {NULL, NULL}};
	struct loaded l;
	size_t i;

	(void)state;
	for (i = 0; i + 1 < sizeof(secret); i++)
		secret[i] = "0123456789abcdefghijklmnopqrstuvwxyz"[(i * 7 + i / 36) % 36];
	secret[sizeof(secret) - 1] = '\0';
	load_text(&l,
		  "version: 1\n"
		  "project: demo\n"
		  "nodes:\n"
		  "  - name: web\n"
		  "registries:\n"
		  "  - server: registry.example.com\n"
		  "    username: deploy\n"
		  "    password: ${LONG}\n"
		  "containers:\n"
		  "  - name: app\n"
		  "    image: \"${LONG}\"\n"
		  "    restart: ${LONG}\n"
		  "    domain: ${LONG}\n"
		  "    ports: [\"${LONG}\"]\n"
		  "    nodes: [\"${LONG}\"]\n"
		  "    stop_timeout: ${LONG}\n"
		  "    volumes: [\"x:${LONG}\"]\n",
		  long_env);
	expect_invalid(&l);
	for (i = 0; i + 8 <= strlen(secret); i++) {
		char part[9];

		memcpy(part, secret + i, 8);
		part[8] = '\0';
		expect_no_diag_containing(&l.diags, part);
	}
	expect_error(&l.diags, 14, 13, "containers[0].ports[0]", "'***' is not a port mapping");
	loaded_free(&l);
}

/* An interpolation error whose message is built from a secret variable. */
static void test_interpolation_message_masked(void **state)
{
	struct loaded l;

	(void)state;
	load_text(
		&l,
		RECIPE_HEAD
		"    environment:\n" /* 8 */
		"      TOKEN: ${BS_TEST_UNSET:?expected the same value as ${BS_TEST_SECRET}}\n" /* 9 */
		"registries:\n" /* 10 */
		"  - server: registry.example.com\n"
		"    username: deploy\n"
		"    password: ${BS_TEST_SECRET}\n",
		env);
	expect_invalid(&l);
	expect_no_diag_containing(&l.diags, "hunter2");
	expect_error(
		&l.diags, 9, 14, "containers[0].environment.TOKEN",
		"environment variable BS_TEST_UNSET is not set: expected the same value as ***");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);
}

static void test_literal_secret_warnings(void **state)
{
	struct loaded l;

	(void)state;
	load_text(&l,
		  "version: 1\n"			/* 1 */
		  "project: demo\n"			/* 2 */
		  "provider:\n"				/* 3 */
		  "  type: digitalocean\n"		/* 4 */
		  "  region: fra1\n"			/* 5 */
		  "  token: dop_v1_literal\n"		/* 6 */
		  "ssh:\n"				/* 7 */
		  "  user: deploy\n"			/* 8 */
		  "  password: correct-horse-battery\n" /* 9 */
		  "  passphrase: \"quoted phrase\"\n"	/* 10 */
		  "nodes:\n"				/* 11 */
		  "  - name: web\n"			/* 12 */
		  "registries:\n"			/* 13 */
		  "  - server: registry.example.com\n"	/* 14 */
		  "    username: deploy\n"		/* 15 */
		  "    password: registry-literal\n"	/* 16 */
		  "  - server: ghcr.io\n"		/* 17 */
		  "    username: deploy\n"		/* 18 */
		  "    password: ${PW}\n",		/* 19 */
		  env);
	expect_loaded(&l);
	expect_warning(
		&l.diags, 6, 10, "provider.token",
		"secret written in the recipe itself (use ${VAR} so it stays out of version control)");
	expect_warning(&l.diags, 9, 13, "ssh.password", "secret written in the recipe itself");
	expect_warning(&l.diags, 10, 15, "ssh.passphrase", "secret written in the recipe itself");
	expect_warning(&l.diags, 16, 15, "registries[0].password",
		       "secret written in the recipe itself");
	expect_counts(&l.diags, 0, 4);
	/* literals are secrets all the same */
	assert_secret_listed(l.recipe, "dop_v1_literal");
	assert_secret_listed(l.recipe, "correct-horse-battery");
	assert_secret_listed(l.recipe, "quoted phrase");
	assert_secret_listed(l.recipe, "registry-literal");
	assert_secret_listed(l.recipe, "s3cr3t-pw");
	expect_no_diag_containing(&l.diags, "correct-horse");
	loaded_free(&l);
}

/* A literal secret that appears elsewhere in the recipe is masked there. */
static void test_literal_secret_masked_elsewhere(void **state)
{
	struct loaded l;

	(void)state;
	load_text(&l,
		  "version: 1\n"			  /* 1 */
		  "project: demo\n"			  /* 2 */
		  "ssh:\n"				  /* 3 */
		  "  user: deploy\n"			  /* 4 */
		  "  password: correct-horse-battery\n"	  /* 5 */
		  "nodes:\n"				  /* 6 */
		  "  - name: web\n"			  /* 7 */
		  "containers:\n"			  /* 8 */
		  "  - name: app\n"			  /* 9 */
		  "    image: nginx:1.25\n"		  /* 10 */
		  "    nodes: [correct-horse-battery]\n", /* 11 */
		  env);
	expect_invalid(&l);
	expect_warning(&l.diags, 5, 13, "ssh.password", "secret written in the recipe itself");
	expect_error(
		&l.diags, 11, 13, "containers[0].nodes[0]",
		"no node is named *** (name a node from nodes:, or select by label with key=value)");
	expect_no_diag_containing(&l.diags, "correct-horse");
	expect_counts(&l.diags, 1, 1);
	loaded_free(&l);
}

/* ---- lifetime ---------------------------------------------------------- */

/* Secret values are the recipe's copies: they outlive the environment
 * table entries they came from, and are freed with the recipe. */
static void test_secret_values_owned(void **state)
{
	char value[] = "mutable-secret";
	struct test_var local_env[] = {{"PW", value}, {NULL, NULL}};
	struct loaded l;

	(void)state;
	load_text(&l,
		  RECIPE_HEAD "registries:\n"
			      "  - server: registry.example.com\n"
			      "    username: deploy\n"
			      "    password: ${PW}\n",
		  local_env);
	expect_loaded(&l);
	memset(value, 'x', sizeof(value) - 1);
	assert_string_equal(l.recipe->registries[0].password, "mutable-secret");
	assert_secret_listed(l.recipe, "mutable-secret");
	loaded_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry_password_variable),
		cmocka_unit_test(test_secret_variable_used_first),
		cmocka_unit_test(test_container_secrets_map_and_list),
		cmocka_unit_test(test_container_secret_literal),
		cmocka_unit_test(test_pass_through_of_secret_variable),
		cmocka_unit_test(test_pass_through_of_secret_from_env),
		cmocka_unit_test(test_secret_names_are_not_secrets),
		cmocka_unit_test(test_json_masks_every_secret),
		cmocka_unit_test(test_json_masks_secret_in_plain_fields),
		cmocka_unit_test(test_json_provider_token),
		cmocka_unit_test(test_diagnostics_mask_secrets),
		cmocka_unit_test(test_diagnostics_mask_cut_secrets),
		cmocka_unit_test(test_interpolation_message_masked),
		cmocka_unit_test(test_literal_secret_warnings),
		cmocka_unit_test(test_literal_secret_masked_elsewhere),
		cmocka_unit_test(test_secret_values_owned),
	};

	return cmocka_run_group_tests_name("deploy/recipe_secrets", tests, NULL, NULL);
}
