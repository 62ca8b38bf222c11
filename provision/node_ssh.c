/*
 * node_ssh.c - SSH settings for one host from the recipe's ssh: section,
 * the command line and the environment. See node.h.
 */
#include <errno.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "provision/node.h"
#include "util/str.h"

const char *bs_state_dir(void)
{
	const char *dir = getenv("BOOTSTRAP_DIR");

	return dir != NULL && dir[0] != '\0' ? dir : ".bootstrap";
}

static char *home_path(const char *rest)
{
	const char *home = getenv("HOME");

	if (home == NULL || home[0] == '\0')
		return NULL;
	return bs_xasprintf("%s/%s", home, rest);
}

/* "~/x" -> "$HOME/x"; other paths as they are. */
static char *expand_home(const char *path)
{
	char *p;

	if (strncmp(path, "~/", 2) == 0 && (p = home_path(path + 2)) != NULL)
		return p;
	return bs_xstrdup(path);
}

static char *default_key(void)
{
	static const char *const names[] = {".ssh/id_ed25519", ".ssh/id_ecdsa"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *p = home_path(names[i]);

		if (p != NULL && access(p, R_OK) == 0)
			return p;
		free(p);
	}
	/* the key bootstrap made for machines it creates (bs_state_key) */
	{
		char *p = bs_xasprintf("%s/ssh/id_ed25519", bs_state_dir());

		if (access(p, R_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

int bs_state_key(char **path, struct bs_err *err)
{
	char *dir = bs_xasprintf("%s/ssh", bs_state_dir());
	char *key = bs_xasprintf("%s/id_ed25519", dir);
	char *const argv[] = {(char *)"ssh-keygen", (char *)"-q", (char *)"-t", (char *)"ed25519",
			      (char *)"-N",	    (char *)"",	  (char *)"-C", (char *)"bootstrap",
			      (char *)"-f",	    key,	  NULL};
	pid_t pid;
	int status = 0, rc = 0;

	*path = NULL;
	if (access(key, R_OK) == 0) {
		*path = key;
		free(dir);
		return 0;
	}
	if ((mkdir(bs_state_dir(), 0700) != 0 && errno != EEXIST) ||
	    (mkdir(dir, 0700) != 0 && errno != EEXIST)) {
		rc = bs_err_set(err, BS_ERR_IO, "cannot make %s: %s", dir, strerror(errno));
		goto out;
	}
	/* no shell: ssh-keygen with its arguments, from PATH */
	if (posix_spawnp(&pid, "ssh-keygen", NULL, NULL, argv, environ) != 0 ||
	    waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		rc = bs_err_set(
			err, BS_ERR_IO,
			"no SSH key for new machines, and ssh-keygen could not make %s (install openssh-client, or set ssh.key)",
			key);
		goto out;
	}
	*path = key;
	key = NULL;
out:
	free(key);
	free(dir);
	return rc;
}

void bs_node_ssh_init(struct bs_node_ssh *out, const struct bs_ssh_conf *conf, const char *host,
		      int port, const char *user, const char *key_override)
{
	struct bs_ssh_opts *o = &out->opts;

	memset(out, 0, sizeof(*out));
	o->host = host;
	o->port = port > 0 ? port : conf && conf->port > 0 ? conf->port : 22;
	o->user = user ? user : conf && conf->user ? conf->user : "root";
	if (key_override != NULL)
		out->key = bs_xstrdup(key_override);
	else if (conf != NULL && conf->key != NULL)
		out->key = expand_home(conf->key);
	else
		out->key = default_key();
	o->key_path = out->key;
	/* the recipe decides (ssh.agent); without one, an agent that runs */
	o->agent = conf != NULL ? conf->agent : getenv("SSH_AUTH_SOCK") != NULL;
	o->passphrase =
		conf && conf->passphrase ? conf->passphrase : getenv("BOOTSTRAP_SSH_PASSPHRASE");
	o->password = conf && conf->password ? conf->password : getenv("BOOTSTRAP_SSH_PASSWORD");
	if (conf != NULL && conf->known_hosts != NULL)
		out->known_hosts = expand_home(conf->known_hosts);
	else
		out->known_hosts = bs_xasprintf("%s/known_hosts", bs_state_dir());
	out->extra_known_hosts = home_path(".ssh/known_hosts");
	o->known_hosts = out->known_hosts;
	o->extra_known_hosts = out->extra_known_hosts;
	o->policy = conf && conf->host_keys == BS_HOST_KEYS_STRICT ? BS_HOSTKEY_STRICT
								   : BS_HOSTKEY_ACCEPT_NEW;
	o->connect_timeout_ms =
		conf && conf->connect_timeout_ms > 0 ? (long)conf->connect_timeout_ms : 10000;
	out->wait_ms = conf && conf->wait_timeout_ms > 0 ? (long)conf->wait_timeout_ms : 300000;
}

void bs_node_ssh_free(struct bs_node_ssh *n)
{
	free(n->key);
	free(n->known_hosts);
	free(n->extra_known_hosts);
	memset(n, 0, sizeof(*n));
}
