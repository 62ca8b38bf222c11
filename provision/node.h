/*
 * node.h - one node from "answers SSH" to "a Docker endpoint the container
 * driver can use": the SSH session (wait for it, verify the host key,
 * authenticate), the engine (dockerhost.h), and the endpoint hand-off (the
 * SSH tunnel by default, mutual TLS when the recipe asks for it).
 *
 * A struct bs_node_session is used by one worker thread at a time. Its SSH
 * session carries the tunnel, whose own thread moves the bytes of every
 * engine connection, so drivers opened on its endpoint may run on other
 * threads too (converge's parallel workers).
 */
#ifndef BS_PROVISION_NODE_H
#define BS_PROVISION_NODE_H

#include <signal.h>
#include <stdbool.h>

#include "container/driver.h"
#include "container/endpoint.h"
#include "provision/compute.h"
#include "provision/fleet.h"
#include "provision/dockerhost.h"
#include "provision/nodelock.h"
#include "provision/ssh.h"
#include "provision/tunnel.h"

/*
 * SSH settings for one host from a recipe's ssh: section (conf may be
 * NULL: defaults). Precedence: the arguments (from a URL or a node entry),
 * then conf, then defaults (root, port 22, ~/.ssh/id_ed25519 or id_ecdsa,
 * ssh-agent when SSH_AUTH_SOCK is set, $BOOTSTRAP_SSH_PASSPHRASE,
 * $BOOTSTRAP_SSH_PASSWORD, known_hosts in $BOOTSTRAP_DIR or .bootstrap/,
 * ~/.ssh/known_hosts read too). Strings the options point to are owned by
 * *out or borrowed from conf and the arguments.
 */
struct bs_node_ssh {
	struct bs_ssh_opts opts;
	long wait_ms; /* how long to wait for a new machine's SSH */
	char *key;
	char *known_hosts;
	char *extra_known_hosts;
};

void bs_node_ssh_init(struct bs_node_ssh *out, const struct bs_ssh_conf *conf, const char *host,
		      int port, const char *user, const char *key_override);
void bs_node_ssh_free(struct bs_node_ssh *n);

/* The state directory: $BOOTSTRAP_DIR, else ".bootstrap". */
const char *bs_state_dir(void);

/*
 * Is the state directory safe to trust, as OpenSSH's StrictModes judges
 * ~/.ssh? It holds the key put on new machines and the pinned host keys,
 * so a directory or file that another user owns or may write (a cloned
 * repository's .bootstrap/, a world-writable folder) could supply either.
 * Refused, with the chmod or chown that fixes it, when:
 *  - the directory, its ssh/ or its known_hosts is owned by another user
 *    (neither us nor root) or writable by group or others;
 *  - ssh/id_ed25519 is owned by another user or open to group or others at
 *    all (as ssh(1) refuses an unprotected private key).
 * What does not exist yet is fine: it is made 0700/0600. The TLS folder is
 * checked where it is read (tlscerts.h). BS_ERR_AUTH on refusal.
 */
int bs_state_check(struct bs_err *err);

/* For machines bootstrap creates when the user has no key (no ssh.key,
 * no ~/.ssh/id_ed25519 or id_ecdsa): $BOOTSTRAP_DIR/ssh/id_ed25519, made
 * with ssh-keygen on first use (0600 in a 0700 directory), and found
 * afterwards as the default key. *path is owned by the caller. */
int bs_state_key(char **path, struct bs_err *err);

/* How a node's machine came to be in this run. SSH is waited for (up to
 * ssh.wait_timeout) in every case, since a machine may be booting; but
 * only one just created, or one created with the very key file offered
 * (its run was stopped before cloud-init installed it), may refuse the key
 * for a while: for the others a refused key fails at once, naming the key
 * the machine was created with. */
enum bs_node_origin {
	BS_NODE_FOUND,	 /* there already */
	BS_NODE_CREATED, /* created by this run */
	BS_NODE_STARTED, /* powered on by this run */
};

struct bs_node_prepare_opts {
	enum bs_node_origin origin;
	/* "SHA256:..." of the key the machine was created with (its label or
	 * tag), or NULL: named in the error when the key is refused */
	const char *machine_key;
	/* the comment its host key is pinned with in known_hosts (see
	 * bs_ssh_known_hosts_forget), or NULL: "bootstrap" */
	const char *host_key_tag;
	bool strict_host_keys;	  /* on top of the recipe's policy */
	const char *key_override; /* -i */
	long command_timeout_ms;  /* one remote command; 0: dockerhost's default */
	/* set by a signal handler: every SSH command and engine call stops */
	volatile sig_atomic_t *cancel;
	/* set by the first signal (cancel by a second): the waits end within
	 * 200 ms (the engine's start here, the SSH wait) and the engine
	 * client's streams (pulls, builds) stop; what changes things runs
	 * on. NULL: only cancel */
	volatile sig_atomic_t *interrupt;
	/* plan/status: change nothing on the node; when its engine is not
	 * installed or not running, return 0 with driver NULL */
	bool dry_run;
	/* refuse a kernel without IPsec ESP before anything changes (a
	 * cluster whose overlay is to be encrypted; bs_dockerhost_opts) */
	bool need_esp;
	/* apply/destroy: take the node lock (nodelock.h) as soon as SSH is up,
	 * before Docker is looked at, installed or configured; the detection
	 * rides the lock's command; its sudo follows the node's user. NULL:
	 * no lock (plan, status) */
	const struct bs_nodelock_opts *lock;
};

struct bs_node_session {
	char *name; /* the node's name, or the URL's host */
	struct bs_ssh *ssh;
	struct bs_nodelock *lock; /* held with opts.lock; released by close */
	struct bs_tunnel *tunnel; /* endpoint: ssh */
	struct bs_endpoint ep;
	struct bs_cdriver *driver; /* open on ep, version negotiated */
	struct bs_dockerhost_report report;
	bool sudo; /* the login user is not root: root's commands go through sudo -n */
	int ssh_attempts;
	long long ms_ssh, ms_docker, ms_endpoint; /* time per stage */
};

/* docker.endpoint: tls: make the project's CA and client certificate in
 * $BOOTSTRAP_DIR/tls/PROJECT once, on the main thread, before workers run
 * bs_node_prepare (which issues each node's server certificate). */
int bs_node_tls_init(const struct bs_fleet *fleet, struct bs_err *err);

/*
 * Bring one node of the recipe to a ready engine. On failure err says
 * which stage failed on which node and why; whatever was opened is closed.
 */
int bs_node_prepare(struct bs_node_session *out, const struct bs_fleet *fleet,
		    const struct bs_node *node, const struct bs_node_prepare_opts *opts,
		    struct bs_err *err);

void bs_node_session_close(struct bs_node_session *s);

/* The user's OpenSSH public key for machines the provider creates (the
 * .pub next to the key SSH uses: identity, else the fleet's ssh.key;
 * provider local makes one when there is none). NULL with err set when
 * there is none. Caller frees. */
char *bs_node_public_key(const struct bs_fleet *fleet, const char *identity, struct bs_err *err);

/* What preparing a node needs to know of its machine: how it came to be in
 * this run (created, powered on, found), the key it was created with, and
 * the comment its host keys are pinned with (*tag: the caller frees it once
 * the node is prepared). */
void bs_node_machine_opts(struct bs_node_prepare_opts *po, const struct bs_compute *c,
			  const struct bs_machine *m, char **tag);

#endif
