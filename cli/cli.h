/*
 * cli.h - the command-line tool: option parsing, verbs, terminal output.
 *
 * The CLI is the only part of bootstrap that talks to the terminal and
 * decides exit codes. Everything it does runs on the main thread; worker
 * threads (later) report through the logger's sink.
 */
#ifndef BS_CLI_H
#define BS_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include "deploy/diag.h"

/* Exit codes: documented in README.md; scripts depend on them. */
enum bs_exit {
	BS_EXIT_OK = 0,
	BS_EXIT_FAILURE = 1,	   /* the run failed (a node, an API, SSH...) */
	BS_EXIT_CHANGES = 2,	   /* plan --detailed-exitcode: changes pending */
	BS_EXIT_USAGE = 64,	   /* bad command line */
	BS_EXIT_INVALID = 65,	   /* the recipe is invalid */
	BS_EXIT_NOINPUT = 66,	   /* the recipe file cannot be read */
	BS_EXIT_UNAVAILABLE = 69,  /* the verb is not in this version yet */
	BS_EXIT_CANTCREAT = 73,	   /* init: the recipe file exists or cannot be made */
	BS_EXIT_LOCKED = 75,	   /* another run holds the lock */
	BS_EXIT_INTERRUPTED = 130, /* stopped by Ctrl-C (SIGINT) */
	BS_EXIT_TERMINATED = 143,  /* stopped by SIGTERM (timeout, CI, a service manager) */
};

enum bs_verb {
	BS_VERB_APPLY,
	BS_VERB_PLAN,
	BS_VERB_DESTROY,
	BS_VERB_STATUS,
	BS_VERB_VALIDATE,
	BS_VERB_PREPARE,
	BS_VERB_BUILD,
	BS_VERB_CREATE,
	BS_VERB_LIST,
	BS_VERB_IMAGES,
	BS_VERB_PULL,
	BS_VERB_REMOVE,
	BS_VERB_CLUSTER,      /* cluster [list|nodes|create [ADDR]|destroy] */
	BS_VERB_REGISTRY,     /* registry tags REPO | inspect IMAGE | repos HOST */
	BS_VERB_LOCATIONS,    /* locations -r RECIPE | --provider NAME */
	BS_VERB_INIT,	      /* init COMPOSE [RECIPE] */
	BS_VERB_CONTAINER_OP, /* NAME/OP */
	BS_VERB_HELP,
	BS_VERB_VERSION,
	BS_VERB_COUNT_,
};

struct bs_cli {
	enum bs_verb verb;
	bool verb_given;
	char **args; /* positional arguments after the verb */
	int n_args;
	bool json;
	bool detailed_exitcode;
	int parallel;
	long long timeout_ms;
	int verbosity;	    /* 0 normal, <0 quiet, >0 verbose */
	const char *host;   /* -H */
	const char *recipe; /* -r */
	const char *node;   /* --node */
	bool follow;
	long long tail; /* -1: all */
	bool timestamps;
	bool volumes; /* destroy --volumes */
	bool refresh; /* apply/plan --refresh: inspect every container */
	long long lock_wait_s;
	bool color; /* stderr is a TTY and NO_COLOR is unset */
	bool help;
	bool tls_skip_verify; /* --tls-skip-verify: only when asked by name */
	/* create */
	struct bs_strv env_args;  /* -e K=V */
	struct bs_strv port_args; /* -p [IP:]HOST:CONTAINER */
	const char *restart;	  /* default unless-stopped */
	long long memory_bytes;
	long long nano_cpus;
	long long pids_limit; /* default 512; -1: none */
	const char *user;
	bool read_only;
	const char *domain;	 /* --domain: routed by the engine's proxy */
	int expose;		 /* --expose: the port the domain goes to */
	const char *domain_tls;	 /* --domain-tls: auto, internal, off */
	const char *proxy_image; /* --proxy-image: default caddy:2 */
	const char *domain_base; /* --domain-base: NAME.BASE for every create */
	const char *provider;	 /* locations --provider NAME */
	const char *api_url;	 /* locations --api-url URL */
	bool no_domain;		 /* --no-domain: none, whatever the base */
	/* build */
	const char *build_tag;	       /* -t/--tag NAME: the context is the one argument */
	const char *dockerfile;	       /* -f/--file: path in the context */
	const char *target;	       /* --target STAGE */
	struct bs_strv build_arg_args; /* --build-arg K=V */
	struct bs_strv profiles;       /* --profile NAME...: compose profiles */
	/* NAME/OP, or docker's order OP NAME...: the operation; args are then
	 * the container names (op_target owns NAME of NAME/OP) */
	const char *op;
	char *op_target;
	char **op_argv;	    /* NAME, then what follows NAME/OP (top's ps options) */
	int stop_timeout_s; /* -t/--time: stop, restart, remove; -1: 10 s */
	/* ssh:// engines */
	const char *identity;  /* -i: private key file */
	bool strict_host_keys; /* --strict-host-keys: no trust on first use */
};

/*
 * cli_main.c: SIGINT and SIGTERM, one handler for every verb. The first
 * signal sets bs_cli_interrupted: no new action starts, every wait (SSH,
 * locks, health, image pulls, cloud polls, the engine's start) ends within
 * 200 ms, and an action in flight finishes or is rolled back. A second
 * sets bs_cli_aborted too: network calls stop at once. note (may be NULL)
 * is written to stderr on the first signal. A verb that ends after a
 * signal returns BS_EXIT_INTERRUPTED (any failing code will do); main()
 * turns it into 128 + the first signal's number (130, 143).
 */
extern volatile sig_atomic_t bs_cli_interrupted;
extern volatile sig_atomic_t bs_cli_aborted;
void bs_cli_signals_install(const char *note);

/* cli_help.c */
const char *bs_cli_verb_name(enum bs_verb verb);
/* A verb by its name or alias (rm, ps), or -1. */
int bs_cli_verb_from_name(const char *name);
/* The operations of NAME/OP (NULL-terminated), and whether op is one. */
extern const char *const bs_cli_container_ops[];
bool bs_cli_is_container_op(const char *op);
/* The closest verb, alias or operation to a mistyped word, or NULL. */
const char *bs_cli_suggest(const char *word, bool ops_only);
void bs_cli_print_help(FILE *out, enum bs_verb verb, bool verb_given);
/* Help for one operation of NAME/OP. */
void bs_cli_print_op_help(FILE *out, const char *op);
void bs_cli_print_version(FILE *out);

/* cli_output.c */
void bs_cli_output_init(const struct bs_cli *cli);
/* An error for the user: "bootstrap: error: ..." on stderr; with --json
 * an object {"level": "error", "error": ..., "exit_code": N} printed by
 * bs_cli_output_finish once the code is known. */
void bs_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* --json seen (before the options are parsed, for their own errors). */
void bs_cli_output_json(bool json);
/* The errors held for the exit code, under --json. */
void bs_cli_output_finish(int code);
void bs_cli_print_diags(const struct bs_cli *cli, const struct bs_diags *diags);

/* cli_cloud.c: locations */
int bs_cli_locations(const struct bs_cli *cli);

/* cli_container.c: build, create, list, images, pull, remove, NAME/OP */
int bs_cli_container(const struct bs_cli *cli);

/* cli_domain.c: create --domain / remove on one engine (its domain proxy) */
struct bs_cdriver;
struct bs_cport_binding;
struct bs_kvlist;
struct bs_err;
/* The flags checked; *port: the container port the domain goes to. */
int bs_cli_domain_check(const struct bs_cli *cli, const struct bs_cport_binding *ports,
			size_t n_ports, int *port);
/* Before the create: the domain free, the network there; the container's
 * labels and network set. An exit code. */
int bs_cli_domain_prepare(const struct bs_cli *cli, struct bs_cdriver *d, int port,
			  struct bs_kvlist *labels, const char **network);
/* The proxy's routes made again from the containers' labels (the proxy
 * made on first use, removed with the last route). claimant: the
 * container just created for --domain, which must hold it (else
 * BS_ERR_CONFLICT), or NULL. */
int bs_cli_domain_sync(const struct bs_cli *cli, struct bs_cdriver *d, const char *claimant,
		       struct bs_err *err);
/* The base domain of create (--domain-base, else BOOTSTRAP_DOMAIN_BASE,
 * else the one stored on the engine's proxy when it was made), or NULL;
 * *where says which. */
const char *bs_cli_domain_base(const struct bs_cli *cli, struct bs_cdriver *d, char **stored,
			       const char **where);
/* Does container name carry a route? */
bool bs_cli_domain_routed(struct bs_cdriver *d, const char *name);
/* cli_container.c: pull ref when the engine lacks it (an exit code). */
int bs_cli_exit_for_error(int rc); /* an error code's exit code */
int bs_cli_ensure_image(const struct bs_cli *cli, struct bs_cdriver *d, const char *ref);

/* cli_ssh.c: an ssh:// engine (session + tunnel) for the container commands */
struct bs_ssh;
struct bs_tunnel;
struct bs_endpoint;
struct bs_cli_ssh {
	struct bs_ssh *ssh;
	struct bs_tunnel *tunnel;
	bool verbose; /* log the channel count on close */
};
/* Returns an exit code (BS_EXIT_OK: *out and *ep are ready; free ep first,
 * then bs_cli_ssh_close). */
int bs_cli_ssh_open(const struct bs_cli *cli, const char *url, volatile sig_atomic_t *cancel,
		    struct bs_cli_ssh *out, struct bs_endpoint *ep);
/* End the SSH connection at once (bs_ssh_hangup): before the engine
 * connections close, so none costs a round trip. */
void bs_cli_ssh_hangup(struct bs_cli_ssh *c);
void bs_cli_ssh_close(struct bs_cli_ssh *c);

/* Load a recipe, print its diagnostics, register its secrets for masking.
 * NULL with *code set when it is invalid or unreadable; NULL with
 * BS_EXIT_OK when path is NULL. */
struct bs_recipe;
struct bs_recipe *bs_cli_load_recipe(const struct bs_cli *cli, const char *path, int *code);
/* bs_recipe_load with the command line's options (--profile). */
int bs_cli_recipe_load(const struct bs_cli *cli, struct bs_recipe **out, const char *path,
		       struct bs_diags *diags);

/* cli_prepare.c: prepare RECIPE | -H ssh://... prepare */
int bs_cli_prepare(const struct bs_cli *cli);

/* cli_run.c: apply (the default verb), plan, status, destroy */
int bs_cli_run(const struct bs_cli *cli);

/* cli_validate.c */
/* cli_init.c */
int bs_cli_init(const struct bs_cli *cli);
int bs_cli_validate(const struct bs_cli *cli);
/* Load the recipe for a pipeline verb; prints diagnostics. Returns an exit
 * code (BS_EXIT_OK when the recipe is valid). */
int bs_cli_check_recipe(const struct bs_cli *cli, const char *path);

#endif
