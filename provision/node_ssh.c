/*
 * node_ssh.c - SSH settings for one host from the recipe's ssh: section,
 * the command line and the environment. See node.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <pwd.h>
#include <spawn.h>
#include <stdio.h>
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

/* The name of a user id, for a chown to copy: "alice", else "1000". */
static void user_name(uid_t uid, char *buf, size_t size)
{
	struct passwd pw, *res = NULL;
	char tmp[1024];

	if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) == 0 && res != NULL)
		snprintf(buf, size, "%s", res->pw_name);
	else
		snprintf(buf, size, "%u", (unsigned)uid);
}

/* One path of the state: absent is fine; otherwise owned by us (or root)
 * and not writable by others, or, for a private key (secret), open to
 * nobody else at all. */
static int check_state_path(const char *path, bool dir, bool secret, struct bs_err *err)
{
	mode_t bad = secret ? 077 : 022;
	uid_t me = geteuid();
	char owner[64], self[64];
	struct stat st;

	/* the directory may be a link the user made; a file in it may not (a
	 * checkout can hold links to anywhere) */
	if ((dir ? stat(path, &st) : lstat(path, &st)) != 0)
		return errno == ENOENT ? 0
				       : bs_err_set(err, BS_ERR_IO, "cannot read %s: %s", path,
						    strerror(errno));
	if (S_ISLNK(st.st_mode))
		return bs_err_set(err, BS_ERR_AUTH,
				  "%s is a symbolic link: bootstrap keeps its key and pinned host "
				  "keys in plain files (replace the link with the file it points "
				  "to, or remove it)",
				  path);
	if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
		return bs_err_set(err, BS_ERR_AUTH,
				  "%s is not a %s: bootstrap keeps its state there (move it away, "
				  "or point BOOTSTRAP_DIR elsewhere)",
				  path, dir ? "directory" : "regular file");
	if (st.st_uid != me && st.st_uid != 0) {
		user_name(st.st_uid, owner, sizeof(owner));
		user_name(me, self, sizeof(self));
		return bs_err_set(
			err, BS_ERR_AUTH,
			"%s belongs to %s, not to you (%s): another user could supply the %s; if it is "
			"yours, run chown %s %s; if it came from elsewhere (a checkout), remove it",
			path, owner, self,
			secret ? "SSH key put on new machines"
			       : "SSH key or the host keys bootstrap trusts",
			self, path);
	}
	if ((st.st_mode & bad) != 0) {
		if (secret)
			return bs_err_set(
				err, BS_ERR_AUTH,
				"%s is the private key bootstrap puts on new machines, but other users "
				"may open it (mode %04o): if you made it, run chmod 600 %s; if it came "
				"from elsewhere (a checkout), delete it and a new one is made",
				path, (unsigned)(st.st_mode & 0777), path);
		return bs_err_set(
			err, BS_ERR_AUTH,
			"%s may be written by other users (mode %04o), who could then supply the SSH "
			"key or the host keys bootstrap trusts: run chmod go-w %s",
			path, (unsigned)(st.st_mode & 0777), path);
	}
	return 0;
}

/* Does git track anything under dir? The state must never come with a
 * checkout: a key or pins there were chosen by whoever wrote the
 * repository. Only asked when a .git is found above dir; no git, no
 * answer (false). */
static bool tracked_by_git(const char *dir)
{
	char *abs = realpath(dir, NULL), *up;
	bool in_tree = false, tracked = false;
	struct stat st;

	if (abs == NULL)
		return false;
	for (up = abs; !in_tree;) {
		char *dot_git = bs_xasprintf("%s/.git", up[0] ? up : "");
		char *slash;

		in_tree = stat(dot_git, &st) == 0;
		free(dot_git);
		slash = strrchr(up, '/');
		if (in_tree || slash == NULL)
			break;
		*slash = '\0';
		if (up[0] == '\0')
			break;
	}
	free(abs);
	if (in_tree) {
		char *where = bs_xstrdup(dir);
		/* the repository's own config may name commands to run (an
		 * fsmonitor): overridden; and the system's config is not read */
		char *const argv[] = {(char *)"git",
				      (char *)"-c",
				      (char *)"core.fsmonitor=false",
				      (char *)"-c",
				      (char *)"core.hooksPath=/dev/null",
				      (char *)"-C",
				      where,
				      (char *)"ls-files",
				      (char *)"--",
				      (char *)".",
				      NULL};
		char *const envp[] = {(char *)"GIT_CONFIG_NOSYSTEM=1",
				      (char *)"GIT_TERMINAL_PROMPT=0",
				      (char *)"PATH=/usr/local/bin:/usr/bin:/bin", NULL};
		struct pollfd pfd;
		posix_spawn_file_actions_t fa;
		int fds[2];
		pid_t pid;
		char buf[64];
		int status;

		if (pipe2(fds, O_CLOEXEC) != 0) {
			free(where);
			return false;
		}
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
		posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
		posix_spawn_file_actions_addclose(&fa, fds[0]);
		/* any name printed is an answer; the rest is not read (git
		 * stops on the closed pipe) */
		if (posix_spawnp(&pid, "git", &fa, NULL, argv, envp) == 0) {
			close(fds[1]);
			fds[1] = -1;
			/* bounded: a git that hangs (a network file system) is
			 * stopped after 5 s, and the answer is "cannot tell" */
			pfd.fd = fds[0];
			pfd.events = POLLIN;
			if (poll(&pfd, 1, 5000) > 0)
				tracked = read(fds[0], buf, sizeof(buf)) > 0;
			close(fds[0]);
			fds[0] = -1;
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
		}
		posix_spawn_file_actions_destroy(&fa);
		free(where);
		if (fds[0] >= 0)
			close(fds[0]);
		if (fds[1] >= 0)
			close(fds[1]);
	}
	return tracked;
}

int bs_state_check(struct bs_err *err)
{
	const char *dir = bs_state_dir();
	char *ssh = bs_xasprintf("%s/ssh", dir);
	char *key = bs_xasprintf("%s/ssh/id_ed25519", dir);
	char *pub = bs_xasprintf("%s/ssh/id_ed25519.pub", dir); /* what goes on machines */
	char *kh = bs_xasprintf("%s/known_hosts", dir);
	int rc = check_state_path(dir, true, false, err);

	if (rc == 0)
		rc = check_state_path(ssh, true, false, err);
	if (rc == 0)
		rc = check_state_path(key, false, true, err);
	if (rc == 0)
		rc = check_state_path(pub, false, false, err);
	if (rc == 0)
		rc = check_state_path(kh, false, false, err);
	if (rc == 0 && tracked_by_git(dir))
		rc = bs_err_set(
			err, BS_ERR_AUTH,
			"%s is tracked by git: a key or pinned host keys that come with a "
			"checkout were chosen by whoever wrote the repository; run git rm -r "
			"--cached %s, add it to .gitignore, and remove the files you did not "
			"make yourself",
			dir, dir);
	free(ssh);
	free(key);
	free(pub);
	free(kh);
	return rc;
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
	rc = bs_state_check(err);
	if (rc != 0)
		goto out;
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

/* The user's public key, to put on machines the provider creates: the .pub
 * next to the private key SSH will use. NULL when there is none. */
char *bs_node_public_key(const struct bs_fleet *r, const char *identity, struct bs_err *err)
{
	struct bs_node_ssh ns;
	char *path, *text = NULL;
	FILE *f;

	bs_node_ssh_init(&ns, &r->ssh, "", 0, NULL, identity);
	if (ns.key == NULL && r->provider.type == BS_PROVIDER_LOCAL) {
		/* trying bootstrap out: a key of its own for its local nodes */
		if (bs_state_key(&ns.key, err) != 0) {
			bs_node_ssh_free(&ns);
			return NULL;
		}
	}
	if (ns.key == NULL) {
		bs_err_set(
			err, BS_ERR_INVALID,
			"%s: new machines need your SSH public key: set ssh.key (its .pub is read), or give -i FILE",
			r->file);
		bs_node_ssh_free(&ns);
		return NULL;
	}
	path = bs_xasprintf("%s.pub", ns.key);
	f = fopen(path, "r");
	if (f != NULL) {
		char line[16384];

		if (fgets(line, sizeof(line), f) != NULL) {
			line[strcspn(line, "\r\n")] = '\0';
			if (bs_str_starts_with(line, "ssh-") || bs_str_starts_with(line, "ecdsa-"))
				text = bs_xstrdup(line);
		}
		fclose(f);
	}
	if (text == NULL)
		bs_err_set(
			err, BS_ERR_INVALID,
			"cannot read an OpenSSH public key from %s (make it with ssh-keygen -y -f %s > %s)",
			path, ns.key, path);
	free(path);
	bs_node_ssh_free(&ns);
	return text;
}
