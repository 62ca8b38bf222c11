/*
 * cli_init.c - bootstrap init COMPOSE [RECIPE]: a recipe that deploys a
 * compose file to local nodes (and, commented, to a cloud), so that
 * `bootstrap init compose.yaml && bootstrap recipe.yaml` is a first run.
 *
 * The recipe is written beside the compose file (recipe.yaml) unless
 * RECIPE names it, never over an existing file, and is checked before it
 * is written: a compose file with errors gets its diagnostics and no
 * recipe.
 */
#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "deploy/recipe.h"
#include "util/str.h"

/* The directory's name as a project name: lowercase letters, digits and
 * '-', at most 40; "app" when nothing is left. */
static char *project_from(const char *compose)
{
	char *abs = realpath(compose, NULL), *slash, *out, *p;
	const char *base;

	if (abs == NULL)
		return bs_xstrdup("app");
	slash = strrchr(abs, '/');
	*slash = '\0';
	base = strrchr(abs, '/') ? strrchr(abs, '/') + 1 : abs;
	out = bs_xstrndup(base, 40);
	for (p = out; *p != '\0'; p++)
		*p = isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p) : '-';
	while (out[0] == '-')
		memmove(out, out + 1, strlen(out));
	while (out[0] != '\0' && out[strlen(out) - 1] == '-')
		out[strlen(out) - 1] = '\0';
	free(abs);
	if (out[0] == '\0') {
		free(out);
		return bs_xstrdup("app");
	}
	return out;
}

/* The compose file's path as the recipe names it: relative to the recipe's
 * directory when both are in the same one, else absolute. */
static char *compose_ref(const char *compose, const char *recipe)
{
	const char *cs = strrchr(compose, '/'), *rs = strrchr(recipe, '/');
	size_t cl = cs ? (size_t)(cs - compose) : 0, rl = rs ? (size_t)(rs - recipe) : 0;
	char *abs;

	if (cl == rl && strncmp(compose, recipe, cl) == 0)
		return bs_xstrdup(cs ? cs + 1 : compose);
	abs = realpath(compose, NULL);
	return abs ? abs : bs_xstrdup(compose);
}

/* s as a YAML double-quoted scalar (no control characters: refused before). */
static char *yaml_quoted(const char *s)
{
	struct bs_buf b = BS_BUF_INIT;

	bs_buf_putc(&b, '"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			bs_buf_putc(&b, '\\');
		bs_buf_putc(&b, *s);
	}
	bs_buf_putc(&b, '"');
	return bs_buf_detach(&b);
}

static bool has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static void recipe_text(struct bs_buf *b, const char *project, const char *ref, const char *recipe,
			const struct bs_recipe *loaded)
{
	const char *name = strrchr(recipe, '/') ? strrchr(recipe, '/') + 1 : recipe;
	char *quoted = yaml_quoted(ref);

	bs_buf_printf(b,
		      "# Written by `bootstrap init %s`: deploys its services to a local node,\n"
		      "# a container of this computer's Docker engine with its own sshd and\n"
		      "# Docker (nothing leaves this computer). Run it with:\n"
		      "#   bootstrap %s   (bootstrap plan %s shows what it would do first)\n"
		      "# The compose file stays the one description of the services: edit it,\n"
		      "# run again, and only what changed is replaced.\n"
		      "version: 1\n"
		      "project: %s\n"
		      "\n"
		      "provider:\n"
		      "  type: local\n"
		      "  image: bootstrap/node:bookworm   # built offline by `make node-image`\n"
		      "\n"
		      "ssh:\n"
		      "  user: root\n"
		      "  host_keys: accept-new            # trust on first use, then pinned\n"
		      "\n"
		      "nodes:\n"
		      "  - name: node\n"
		      "    count: 1                       # node-1\n"
		      "\n"
		      "compose: %s\n",
		      ref, name, name, project, quoted);
	free(quoted);
	bs_buf_puts(b, "\n# Where each service runs and how many (this wins over x-bootstrap: in\n"
		       "# the compose file); without it, one replica on every node.\n"
		       "# services:\n");
	for (size_t i = 0; loaded != NULL && i < loaded->n_containers; i++)
		if (loaded->containers[i].compose_file != NULL)
			bs_buf_printf(b, "#   %s: {nodes: [node-1], replicas: %d}\n",
				      loaded->containers[i].name, loaded->containers[i].replicas);
	bs_buf_puts(
		b,
		"\n"
		"# On a cloud instead: replace provider:, ssh: and nodes: with, for Hetzner\n"
		"# (the token from $HCLOUD_TOKEN):\n"
		"# provider:\n"
		"#   type: hetzner\n"
		"#   location: fsn1\n"
		"#   server_type: cx22\n"
		"#   image: debian-12\n"
		"# ssh:\n"
		"#   user: root\n"
		"#   key: ~/.ssh/id_ed25519\n"
		"#   host_keys: accept-new\n"
		"#   wait_timeout: 5m\n"
		"# nodes:\n"
		"#   - name: app\n"
		"#     count: 2\n"
		"# Images the services name must be reachable from the nodes: in a\n"
		"# registry (registries: for credentials), built from build: contexts, or\n"
		"# copied from this computer's engine (images: [{name: IMAGE, pull: never}]).\n");
}

static int write_new(const char *path, const struct bs_buf *b)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	size_t done = 0;

	if (fd < 0) {
		if (errno == EEXIST)
			bs_cli_error("%s already exists: it was left as it is (remove it, or name "
				     "another file: bootstrap init COMPOSE RECIPE)",
				     path);
		else
			bs_cli_error("cannot create %s: %s", path, strerror(errno));
		return BS_EXIT_CANTCREAT;
	}
	while (done < b->len) {
		ssize_t n = write(fd, b->data + done, b->len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			bs_cli_error("cannot write %s: %s", path, strerror(errno));
			close(fd);
			unlink(path);
			return BS_EXIT_CANTCREAT;
		}
		done += (size_t)n;
	}
	if (close(fd) != 0) {
		bs_cli_error("cannot write %s: %s", path, strerror(errno));
		unlink(path);
		return BS_EXIT_CANTCREAT;
	}
	return BS_EXIT_OK;
}

int bs_cli_init(const struct bs_cli *cli)
{
	const char *compose, *slash;
	char *recipe_path, *project, *ref;
	struct bs_recipe_load_opts opts = BS_RECIPE_LOAD_OPTS_INIT;
	struct bs_recipe *loaded = NULL;
	struct bs_buf text = BS_BUF_INIT;
	struct bs_diags diags;
	int rc, code;

	if (cli->n_args < 1 || cli->n_args > 2) {
		bs_cli_error(
			"init takes a compose file, and where to write the recipe "
			"(bootstrap init compose.yaml [recipe.yaml]) (see bootstrap help init)");
		return BS_EXIT_USAGE;
	}
	compose = cli->args[0];
	if (has_control(compose) || (cli->n_args == 2 && has_control(cli->args[1]))) {
		bs_cli_error("a file name with control characters (a newline, say) cannot be "
			     "written into a recipe: rename it");
		return BS_EXIT_USAGE;
	}
	if (access(compose, R_OK) != 0) {
		bs_cli_error("cannot read %s: %s", compose, strerror(errno));
		return BS_EXIT_NOINPUT;
	}
	slash = strrchr(compose, '/');
	recipe_path = cli->n_args == 2 ? bs_xstrdup(cli->args[1])
		      : slash != NULL
			      ? bs_xasprintf("%.*s/recipe.yaml", (int)(slash - compose), compose)
			      : bs_xstrdup("recipe.yaml");
	project = project_from(compose);
	ref = compose_ref(compose, recipe_path);
	/* checked as it will be read: from where it will be */
	recipe_text(&text, project, ref, recipe_path, NULL);
	opts.profiles = cli->profiles.n > 0 ? &cli->profiles : NULL;
	bs_diags_init(&diags, recipe_path);
	rc = bs_recipe_load_buffer(&loaded, bs_buf_str(&text), text.len, recipe_path, &opts,
				   &diags);
	bs_diags_sort(&diags);
	bs_cli_print_diags(cli, &diags);
	if (rc != 0) {
		bs_cli_error("%s has problems (above): no recipe was written", compose);
		code = BS_EXIT_INVALID;
	} else {
		bs_buf_reset(&text);
		recipe_text(&text, project, ref, recipe_path, loaded);
		code = write_new(recipe_path, &text);
		if (code == BS_EXIT_OK && cli->json) {
			cJSON *o = cJSON_CreateObject();
			char *j;

			cJSON_AddStringToObject(o, "recipe", recipe_path);
			cJSON_AddStringToObject(o, "project", project);
			cJSON_AddNumberToObject(o, "services", (double)loaded->n_containers);
			j = cJSON_PrintUnformatted(o);
			printf("%s\n", j);
			free(j);
			cJSON_Delete(o);
		} else if (code == BS_EXIT_OK && cli->verbosity >= 0)
			printf("wrote %s: %zu service%s of %s on a local node (project %s)\n"
			       "next: bootstrap %s\n",
			       recipe_path, loaded->n_containers,
			       loaded->n_containers == 1 ? "" : "s", compose, project, recipe_path);
	}
	bs_recipe_free(loaded);
	bs_diags_free(&diags);
	bs_buf_free(&text);
	free(recipe_path);
	free(project);
	free(ref);
	return code;
}
