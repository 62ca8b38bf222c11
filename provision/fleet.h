/*
 * fleet.h - what provisioning knows of a fleet: the provider that makes or
 * finds the machines, the nodes, and the SSH and Docker settings that
 * prepare them.
 *
 * provision/ takes these, never the recipe: deploy/ reads the recipe and
 * fills a struct bs_fleet (bs_recipe_fleet), so that the provisioning
 * layer stands alone below deploy/. The types are the recipe's own
 * sections (deploy/recipe.h embeds them): every string is owned by
 * whoever filled them (the recipe), and provision/ only reads them.
 */
#ifndef BS_PROVISION_FLEET_H
#define BS_PROVISION_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/str.h"

/* Where an object was declared in the recipe (1-based). */
struct bs_recipe_loc {
	int line;
	int col;
	const char *file; /* NULL: the recipe; else a file it names (compose:),
			   * owned by the recipe */
};

enum bs_provider_type {
	BS_PROVIDER_LOCAL,
	BS_PROVIDER_STATIC,
	BS_PROVIDER_HETZNER,
	BS_PROVIDER_DIGITALOCEAN,
	BS_PROVIDER_ENGINE, /* Docker engines reached directly: no SSH, no install */
};

/* Providers whose machines exist already (listed in the recipe, never
 * created or destroyed). */
static inline bool bs_provider_existing(enum bs_provider_type type)
{
	return type == BS_PROVIDER_STATIC || type == BS_PROVIDER_ENGINE;
}

/* What runs as PID 1 in a local node: systemd, as on a real VM (the
 * default), or sshd alone, as on a host without an init. */
enum bs_node_init {
	BS_NODE_INIT_SYSTEMD,
	BS_NODE_INIT_NONE,
};

struct bs_provider {
	enum bs_provider_type type;
	enum bs_node_init init; /* local only */
	char *image;		/* local: node image; clouds: OS image */
	char *engine;		/* local: URL of the Docker engine hosting the nodes */
	char *region;		/* hetzner "location", digitalocean "region" */
	char *size;		/* hetzner "server_type", digitalocean "size" */
	char *token;		/* secret; NULL: read token_env when the driver runs */
	char *token_env;	/* HCLOUD_TOKEN, DIGITALOCEAN_TOKEN by default */
	char *api_url;		/* API base URL (default: the provider's) */
	struct bs_recipe_loc loc;
};

enum bs_host_key_policy {
	BS_HOST_KEYS_ACCEPT_NEW, /* trust on first use, then pinned */
	BS_HOST_KEYS_STRICT,	 /* only hosts already in known_hosts */
};

struct bs_ssh_conf {
	char *user;	   /* default "root" */
	int port;	   /* default 22 */
	char *key;	   /* private key path as written (~ allowed) */
	bool agent;	   /* try ssh-agent identities */
	char *passphrase;  /* secret: the key's passphrase */
	char *password;	   /* secret: password authentication */
	char *known_hosts; /* NULL: $BOOTSTRAP_DIR/known_hosts (.bootstrap/) */
	enum bs_host_key_policy host_keys;
	int64_t connect_timeout_ms; /* one connection attempt */
	int64_t wait_timeout_ms;    /* waiting for a new machine's SSH */
	struct bs_strv jump;	    /* jump hosts, [USER@]HOST[:PORT], first hop first */
};

struct bs_node {
	char *name;  /* expanded: "web-1" (or "db" without count) */
	char *group; /* the entry's name: "web" */
	int index;   /* 1..count; 0 when the entry has no count */
	struct bs_kvlist labels;
	char *address;		       /* static: host name or IP */
	int port;		       /* SSH port; 0: ssh.port */
	char *user;		       /* SSH user; NULL: ssh.user */
	char *size;		       /* cloud: server type / size override */
	char *engine;		       /* engine: URL; NULL: $DOCKER_HOST, else the local socket */
	struct bs_strv jump;	       /* its own jump hosts (jump_set), else ssh.jump */
	bool jump_set;		       /* jump: given for it ([] reaches it directly) */
	size_t entry;		       /* index of its entry in the recipe's nodes: list */
	struct bs_recipe_loc loc;      /* of the entry */
	struct bs_recipe_loc name_loc; /* of its name value */
};

enum bs_docker_install {
	BS_DOCKER_INSTALL_AUTO,	 /* install when missing */
	BS_DOCKER_INSTALL_NEVER, /* must already be there */
};

enum bs_docker_endpoint {
	BS_DOCKER_ENDPOINT_SSH, /* tunnel to the node's socket: no open port */
	BS_DOCKER_ENDPOINT_TLS, /* dockerd on tcp with mutual TLS */
};

struct bs_docker_conf {
	enum bs_docker_install install;
	char *package;	   /* default "docker.io" */
	char *version;	   /* package version pin, or NULL */
	char *daemon_json; /* the docker.daemon map as compact JSON, or NULL */
	enum bs_docker_endpoint endpoint;
	int tls_port; /* default 2376 */
};

/* The recipe key names of the provider types, in enum order, NULL-ended;
 * bs_provider_type_name: one of them ("local", "hetzner", ...). */
extern const char *const bs_provider_type_names[];
const char *bs_provider_type_name(enum bs_provider_type type);

/* One fleet: borrowed views of the recipe's sections. */
struct bs_fleet {
	const char *file;    /* the recipe's path as given, for messages */
	const char *project; /* labels every machine */
	struct bs_provider provider;
	struct bs_ssh_conf ssh;
	struct bs_docker_conf docker;
	const struct bs_node *nodes; /* one per machine */
	size_t n_nodes;
	bool cluster; /* the nodes form a swarm (its ports are opened) */
};

#endif
