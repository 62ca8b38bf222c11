/*
 * cli_ssh.c - ssh://USER@HOST[:PORT] engines for the container commands:
 * one SSH session, the tunnel to the node's docker.sock on it, and the
 * stream endpoint the container driver uses.
 *
 * Where the settings come from, first match wins:
 *   key         -i FILE; the recipe's ssh.key (-r); ~/.ssh/id_ed25519,
 *               ~/.ssh/id_ecdsa; ssh-agent identities when SSH_AUTH_SOCK
 *               is set
 *   passphrase  the recipe's ssh.passphrase; $BOOTSTRAP_SSH_PASSPHRASE
 *   password    the recipe's ssh.password; $BOOTSTRAP_SSH_PASSWORD
 *   host keys   pinned in the recipe's ssh.known_hosts, else
 *               $BOOTSTRAP_DIR/known_hosts (BOOTSTRAP_DIR defaults to
 *               .bootstrap); ~/.ssh/known_hosts is read too;
 *               unknown hosts are trusted on first use unless
 *               --strict-host-keys (or ssh.host_keys: strict) is given
 * Secrets come from the environment or the recipe, never from argv.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "deploy/recipe.h"
#include "provision/node.h"
#include "provision/ssh.h"
#include "provision/tunnel.h"
#include "util/log.h"
#include "util/str.h"

int bs_cli_recipe_load(const struct bs_cli *cli, struct bs_recipe **out, const char *path,
		       struct bs_diags *diags)
{
	struct bs_recipe_load_opts opts = BS_RECIPE_LOAD_OPTS_INIT;

	opts.profiles = cli->profiles.n > 0 ? &cli->profiles : NULL;
	return bs_recipe_load(out, path, &opts, diags);
}

struct bs_recipe *bs_cli_load_recipe(const struct bs_cli *cli, const char *path, int *code)
{
	struct bs_recipe *recipe = NULL;
	struct bs_diags diags;
	int rc;

	*code = BS_EXIT_OK;
	if (path == NULL)
		return NULL;
	bs_diags_init(&diags, path);
	rc = bs_cli_recipe_load(cli, &recipe, path, &diags);
	if (rc != 0) {
		bs_diags_sort(&diags);
		bs_cli_print_diags(cli, &diags);
		*code = rc == BS_ERR_IO ? BS_EXIT_NOINPUT : BS_EXIT_INVALID;
	} else {
		for (size_t i = 0; i < recipe->secrets.n; i++)
			bs_secret_add(recipe->secrets.v[i]);
	}
	bs_diags_free(&diags);
	return recipe;
}

int bs_cli_ssh_open(const struct bs_cli *cli, const char *url, volatile sig_atomic_t *cancel,
		    struct bs_cli_ssh *out, struct bs_endpoint *ep)
{
	struct bs_ssh_url u;
	struct bs_node_ssh ns;
	const struct bs_ssh_opts *o;
	struct bs_tunnel_opts to;
	struct bs_err err = BS_ERR_INIT;
	struct bs_recipe *recipe;
	const struct bs_ssh_conf *conf = NULL;
	int rc, code;

	memset(out, 0, sizeof(*out));
	memset(ep, 0, sizeof(*ep));
	if (bs_ssh_url_parse(url, &u, &err) != 0) {
		bs_cli_error("%s", err.msg);
		return BS_EXIT_USAGE;
	}
	if (bs_state_check(&err) != 0) {
		bs_cli_error("%s", err.msg);
		bs_ssh_url_free(&u);
		return BS_EXIT_FAILURE;
	}
	recipe = bs_cli_load_recipe(cli, cli->recipe, &code);
	if (code != BS_EXIT_OK) {
		bs_ssh_url_free(&u);
		return code;
	}
	if (recipe != NULL)
		conf = &recipe->ssh;
	bs_node_ssh_init(&ns, conf, u.host, u.port, u.user, cli->identity);
	if (cli->strict_host_keys)
		ns.opts.policy = BS_HOSTKEY_STRICT;
	if (conf == NULL && cli->timeout_ms > 0 && cli->timeout_ms < 10000)
		ns.opts.connect_timeout_ms = (long)cli->timeout_ms;
	ns.opts.cancel = cancel;
	/* o's passphrase and password are the recipe's secrets or the
	 * environment's, both registered for masking already (main) */
	o = &ns.opts;
	if (o->key_path == NULL && !o->agent && o->password == NULL) {
		bs_cli_error(
			"%s: no SSH credentials: give a key with -i FILE (or ssh.key in a recipe with -r), start ssh-agent, or set BOOTSTRAP_SSH_PASSWORD",
			url);
		code = BS_EXIT_USAGE;
		goto out;
	}
	rc = bs_ssh_connect(&out->ssh, o, &err);
	if (rc != 0) {
		bs_cli_error("%s", err.msg);
		code = rc == BS_ERR_INTERRUPTED ? BS_EXIT_INTERRUPTED
		       : rc == BS_ERR_INVALID	? BS_EXIT_USAGE
						: BS_EXIT_FAILURE;
		goto out;
	}
	memset(&to, 0, sizeof(to));
	to.url = url;
	to.mode = BS_TUNNEL_AUTO;
	/* not root and not in the docker group: dial-stdio through sudo -n */
	to.sudo = strcmp(o->user, "root") != 0;
	rc = bs_tunnel_open(&out->tunnel, out->ssh, &to, &err);
	if (rc != 0) {
		bs_cli_error("%s", err.msg);
		bs_cli_ssh_close(out);
		code = BS_EXIT_FAILURE;
		goto out;
	}
	bs_tunnel_endpoint(out->tunnel, ep);
	code = BS_EXIT_OK;
out:
	bs_node_ssh_free(&ns);
	bs_ssh_url_free(&u);
	bs_recipe_free(recipe);
	return code;
}

void bs_cli_ssh_hangup(struct bs_cli_ssh *c)
{
	bs_ssh_hangup(c->ssh);
}

void bs_cli_ssh_close(struct bs_cli_ssh *c)
{
	if (c->tunnel != NULL && c->verbose)
		bs_log(BS_LOG_DEBUG, "%lu SSH channel(s) over %s", bs_tunnel_channels(c->tunnel),
		       bs_tunnel_mode_name(c->tunnel));
	bs_ssh_hangup(c->ssh); /* every channel ends with the session */
	bs_tunnel_close(c->tunnel);
	bs_ssh_close(c->ssh);
	memset(c, 0, sizeof(*c));
}
