/*
 * cli_help.c - verb names, --help texts and --version.
 */
#include <cJSON.h>
#include <curl/curl.h>
#include <libssh2.h>
#include <string.h>
#include <yaml.h>

#include "cli/cli.h"
#include "util/str.h"

#ifndef BS_VERSION
#define BS_VERSION "0.1.0"
#endif

struct verb_doc {
	const char *name;
	const char *usage;
	const char *text;
};

static const struct verb_doc verbs[BS_VERB_COUNT_] = {
	[BS_VERB_APPLY] =
		{"apply", "bootstrap [apply] [options] RECIPE",
		 "Converge: create or find the recipe's nodes, install Docker on them and\n"
		 "run its containers. A re-run with nothing changed only looks; drift is\n"
		 "converged: missing containers created, changed ones replaced one replica\n"
		 "at a time (health-checked, rolled back on failure), restart policy and\n"
		 "resources updated in place, stopped ones started, undeclared ones removed\n"
		 "with prune: true. Machines the recipe no longer names are destroyed.\n"
		 "Containers are compared by their labels (one list call per node); a\n"
		 "change made with docker update by hand is found by status, and by\n"
		 "  --refresh       inspect every container for its restart policy and limits\n"
		 "  --lock-wait D   wait for another run's lock instead of exit 75\n"},
	[BS_VERB_PLAN] = {"plan", "bootstrap plan [--detailed-exitcode] [options] RECIPE",
			  "Show every action apply would take, with its reason.\n"
			  "Changes nothing (Docker is only detected on the nodes).\n"
			  "  --detailed-exitcode   exit 0: no changes, 2: changes, 1: error\n"
			  "  --refresh             inspect every container (see apply)\n"},
	[BS_VERB_DESTROY] =
		{"destroy", "bootstrap destroy [--volumes] [options] RECIPE",
		 "Remove the recipe's containers and network (volumes only with\n"
		 "--volumes) on static hosts. Machines the provider created for the\n"
		 "project go with everything on them (local node containers with their\n"
		 "volumes, Hetzner servers, DigitalOcean droplets; only those labelled\n"
		 "with this project; --node N for one).\n"},
	[BS_VERB_PREPARE] =
		{"prepare",
		 "bootstrap prepare [--node N] [options] RECIPE | bootstrap -H ssh://USER@HOST[:PORT] prepare",
		 "Make each node a Docker host and stop there: wait for SSH (host key pinned\n"
		 "on first use), install Docker when missing (Debian and Ubuntu packages;\n"
		 "elsewhere docker.install: never with Docker already there), write\n"
		 "daemon.json from docker.daemon when it differs, reload or restart dockerd\n"
		 "only as the change needs (rolled back when dockerd fails), start it, and\n"
		 "check the engine answers through the endpoint (the SSH tunnel, or TLS when\n"
		 "docker.endpoint is tls). A converged node is only looked at. All of it\n"
		 "runs under the node lock that apply takes (exit 75 when another run\n"
		 "holds it; --lock-wait D waits).\n"
		 "With -H ssh://..., that one host with the default docker settings.\n"
		 "Nodes are worked on in parallel (--parallel). With provider local,\n"
		 "hetzner or digitalocean the machines are created first when missing\n"
		 "(found again by their labels or tags, never twice).\n"},
	[BS_VERB_STATUS] = {"status", "bootstrap status [options] RECIPE",
			    "Show nodes, engine versions, containers, health and drift. Changes\n"
			    "nothing.\n"},
	[BS_VERB_VALIDATE] =
		{"validate", "bootstrap validate [--json] RECIPE...",
		 "Parse and check recipes without touching any host. Every problem is\n"
		 "reported as FILE:LINE:COLUMN: key.path: what is wrong (how to fix it).\n"
		 "  --json   print one JSON object per recipe: the normalised model\n"
		 "           (defaults filled in, secrets as ***) and its diagnostics\n"
		 "Exit: 0 valid, 65 invalid, 66 unreadable.\n"},
	[BS_VERB_BUILD] =
		{"build",
		 "bootstrap [-H URL | -r RECIPE --node N] build [options] -t NAME DIR\n"
		 "       bootstrap [-H URL | -r RECIPE --node N] build [options] NAME GIT_URL",
		 "Build image NAME on the engine. From a local directory DIR: its files are\n"
		 "sent to the engine as the build context, without what DIR/.dockerignore\n"
		 "excludes (as docker build does; the image is labelled with the context's\n"
		 "hash, io.bootstrap.context-hash). From a git repository: the engine\n"
		 "clones it (GIT_URL#ref:subdir as docker does; without #ref, the branch\n"
		 "the repository's HEAD names, asked of an http(s):// or git:// server\n"
		 "first: the engine alone would take master). The build output streams as\n"
		 "it comes; a failing step fails the command.\n"
		 "  -t, --tag NAME        the image's name (NAME:TAG)\n"
		 "  -f, --file PATH       the Dockerfile, relative to the context\n"
		 "  --target STAGE        build this stage of a multi-stage Dockerfile\n"
		 "  --build-arg K=V       a build argument (--build-arg K takes K from here)\n"},
	[BS_VERB_CREATE] =
		{"create",
		 "bootstrap [-H URL] create IMAGE NAME [-e K=V]... [-p PORTS]... [--domain NAME\n"
		 "         [--expose PORT]] [-- COMMAND...]",
		 "Create a container and start it (the image is pulled when missing).\n"
		 "Secure defaults: no-new-privileges, at most 512 processes, logs rotated\n"
		 "at 10m x 3 files, restart unless-stopped, never privileged, no host\n"
		 "namespaces, no port published unless -p says so.\n"
		 "  -e, --env K=V         environment variable (-e K takes K from here)\n"
		 "  -p, --publish PORTS   [IP:]HOST:CONTAINER[/tcp|udp]; use 127.0.0.1:\n"
		 "                        to keep a port on the host's loopback\n"
		 "  --restart POLICY      no, always, on-failure[:N], unless-stopped\n"
		 "  --memory SIZE         memory limit (like 512m)\n"
		 "  --cpus N              CPU limit (like 0.5)\n"
		 "  --pids-limit N        process limit (default 512, -1: none)\n"
		 "  --user USER[:GROUP]   run as this user\n"
		 "  --read-only           read-only root filesystem\n"
		 "  --domain NAME         route NAME (HTTPS on 443, HTTP on 80) to the container\n"
		 "                        through the engine's domain proxy, bootstrap-proxy\n"
		 "                        (Caddy, made on first use, on the network\n"
		 "                        bootstrap-domains with the container); remove\n"
		 "                        takes the route away again\n"
		 "  --expose PORT         the container port NAME goes to (default: the only\n"
		 "                        -p container port)\n"
		 "  --domain-tls MODE     when the proxy is made: auto (public ACME\n"
		 "                        certificates, the default), internal (the proxy's\n"
		 "                        own CA), off (plain HTTP)\n"
		 "  --proxy-image IMAGE   when the proxy is made (default caddy:2)\n"
		 "  --domain-base BASE    route NAME.BASE to every container created (also\n"
		 "                        $BOOTSTRAP_DOMAIN_BASE, or the base the proxy was\n"
		 "                        made with); its URL is printed\n"
		 "  --no-domain           no domain for this one, whatever the base\n"},
	[BS_VERB_LIST] = {"list", "bootstrap [-H URL] list|ps [--json]",
			  "List containers, running or not; on a swarm manager, its services too\n"
			  "(with --json, as entries of kind \"service\").\n"},
	[BS_VERB_IMAGES] = {"images", "bootstrap [-H URL] images [--json]", "List images.\n"},
	[BS_VERB_PULL] = {"pull", "bootstrap [-H URL] pull IMAGE",
			  "Pull an image; a tag is always sent (latest when none is given).\n"
			  "Credentials come from the docker CLI's config.json ($DOCKER_CONFIG or\n"
			  "~/.docker); a refused password is an error, never an anonymous pull.\n"},
	[BS_VERB_REMOVE] =
		{"remove", "bootstrap [-H URL] remove|rm [-t SECONDS] NAME...",
		 "Stop each container (10 s grace, or -t), then remove it and its anonymous\n"
		 "volumes. On a swarm manager, a NAME that no container has removes that\n"
		 "service. Every NAME is tried; the exit code is the first failure's.\n"
		 "  -t, --time SECONDS    grace before the container is killed (0-3600)\n"},
	[BS_VERB_CLUSTER] =
		{"cluster",
		 "bootstrap [-H URL] cluster [list | nodes | inspect [ID] | create [ADDR] | destroy] "
		 "[--json]",
		 "The engine's Docker Swarm cluster (recipes make theirs with cluster:).\n"
		 "  list      the cluster the engine is in: ID, creation, nodes, managers\n"
		 "            (the default; with --json an array, empty outside a swarm)\n"
		 "  nodes     its nodes (on a manager): role, state, availability, address\n"
		 "  inspect   the cluster (on a manager) as one JSON object: ID, creation,\n"
		 "            version, its nodes; with ID, only if it is that cluster\n"
		 "  create    a new cluster with this engine as its manager, advertising\n"
		 "            ADDR (an address or interface; the engine picks when it can)\n"
		 "  destroy   this engine leaves its cluster (as the last manager, the\n"
		 "            cluster is gone); outside a cluster nothing happens\n"
		 "Join tokens are never printed: docker swarm join-token shows them.\n"},
	[BS_VERB_REGISTRY] =
		{"registry", "bootstrap registry tags REPO | inspect IMAGE | repos HOST [--json]",
		 "Browse a registry (any v2 registry, Docker Hub included) without an engine.\n"
		 "  tags REPO       the repository's tags, every page (like shop/app, or\n"
		 "                  registry.example.com:5000/shop/app)\n"
		 "  inspect IMAGE   what a tag or digest names: its digest and media type,\n"
		 "                  the platforms of a multi-platform index, and of this\n"
		 "                  machine's platform (else the first) the compressed size,\n"
		 "                  creation time and labels from its config\n"
		 "  repos HOST      the registry's repositories, where it lists them\n"
		 "Credentials come from the docker CLI's config.json, or from -r RECIPE's\n"
		 "registries:. Registries on loopback are spoken to over HTTP, all others\n"
		 "over HTTPS verified with the system's CAs.\n"},
	[BS_VERB_LOCATIONS] =
		{"locations",
		 "bootstrap locations -r RECIPE | --provider hetzner|digitalocean [--api-url URL]",
		 "What a cloud offers, asked of its API with the token the recipe (or the\n"
		 "provider's variable, HCLOUD_TOKEN or DIGITALOCEAN_TOKEN) gives: its\n"
		 "locations or regions, and its server types or sizes, cheapest first, with\n"
		 "cores, memory, disk, the monthly and hourly price (the lowest where offered)\n"
		 "and where each can be ordered now. The recipe's location and size are\n"
		 "marked with *. --json: one document {provider, locations, sizes}.\n"},
	[BS_VERB_INIT] =
		{"init", "bootstrap init COMPOSE [RECIPE]",
		 "Write a recipe that deploys a compose file's services to a local node\n"
		 "(a container of this computer's engine with its own sshd and Docker),\n"
		 "with a commented cloud example: bootstrap init compose.yaml && bootstrap\n"
		 "recipe.yaml is a whole first run. RECIPE defaults to recipe.yaml beside\n"
		 "the compose file and is never overwritten (exit 73). The compose file is\n"
		 "checked first: with errors, they are shown and nothing is written (65).\n"},
	[BS_VERB_CONTAINER_OP] =
		{"NAME/OP",
		 "bootstrap [-H URL] NAME/inspect|logs|diff|top|stats|start|stop|restart\n"
		 "       bootstrap [-H URL] OP NAME (stats, start, stop, restart: NAME...)",
		 "Act on one container, e.g. bootstrap web/restart (or, as docker has it,\n"
		 "bootstrap restart web; bootstrap help OP shows one operation).\n"
		 "  inspect               the engine's full description (JSON)\n"
		 "  logs                  stdout and stderr, each to its own stream\n"
		 "    --follow            keep reading until Ctrl-C\n"
		 "    --tail N            only the last N lines\n"
		 "    --timestamps        prefix each line with its time\n"
		 "  diff                  files changed in the container (A/C/D)\n"
		 "  top                   its processes\n"
		 "  stats                 CPU %, memory, network and block I/O, processes\n"
		 "    --follow            one sample a second until Ctrl-C\n"
		 "  start, stop, restart  already in that state is not an error\n"
		 "    -t, --time SECONDS  stop, restart: grace before the kill (default 10)\n"
		 "On a swarm manager, inspect and logs take a service's name too (its\n"
		 "spec and tasks; the logs of all its tasks).\n"},
	[BS_VERB_HELP] = {"help", "bootstrap help [VERB]",
			  "Show help for bootstrap or one verb.\n"},
	[BS_VERB_VERSION] = {"version", "bootstrap version",
			     "Print the version of bootstrap and of the libraries it runs with.\n"},
};

static const char common_options[] =
	"Common options:\n"
	"  --json              machine-readable output: a list is one JSON document,\n"
	"                      a stream (run events, logs, stats --follow) one\n"
	"                      object per line, a success without output a result\n"
	"                      object; on stderr, errors and warnings are objects\n"
	"                      too, an error with its exit_code\n"
	"  --parallel N        nodes worked on at once, and container actions at\n"
	"                      once on each node (unix/TLS engines); 1-256, default 8\n"
	"  --timeout D         bound for the whole run (like 10m, 90s)\n"
	"  --lock-wait D       wait this long for another run's lock\n"
	"  --profile NAME      a compose profile to deploy (repeatable; default\n"
	"                      $COMPOSE_PROFILES; * for all)\n"
	"  -H, --host URL      engine: unix:///var/run/docker.sock, tcp://HOST:2376\n"
	"                      (TLS: ca.pem, cert.pem, key.pem in $DOCKER_CERT_PATH\n"
	"                      or ~/.docker), ssh://USER@HOST[:PORT] (the node's\n"
	"                      docker.sock over SSH, no open port); default\n"
	"                      $DOCKER_HOST, else the local socket\n"
	"  -i, --identity FILE SSH private key for ssh:// (default ~/.ssh/id_ed25519\n"
	"                      or id_ecdsa, and ssh-agent); passphrase from\n"
	"                      $BOOTSTRAP_SSH_PASSPHRASE, password from\n"
	"                      $BOOTSTRAP_SSH_PASSWORD\n"
	"  --strict-host-keys  ssh:// only to hosts already in known_hosts\n"
	"                      ($BOOTSTRAP_DIR/known_hosts, default .bootstrap/)\n"
	"  --tls-skip-verify   do not verify the engine's certificate (unsafe)\n"
	"  -r, --recipe FILE   recipe whose registries: give pull and create their\n"
	"                      credentials, and whose ssh: settings ssh:// uses\n"
	"  -v, --verbose       more output (repeat for more)\n"
	"  -q, --quiet         errors only\n"
	"  -h, --help          help (bootstrap VERB --help for one verb)\n"
	"  -V, --version       versions of bootstrap and its libraries\n";

/* The operations of NAME/OP, each with its own help. */
static const struct verb_doc op_docs[] = {
	{"inspect", "bootstrap [-H URL] NAME/inspect | inspect NAME",
	 "The engine's full description of the container (JSON; --json: one line).\n"
	 "On a swarm manager, a service's spec and tasks.\n"},
	{"logs", "bootstrap [-H URL] NAME/logs | logs NAME [--follow] [--tail N] [--timestamps]",
	 "The container's stdout and stderr, each to its own stream.\n"
	 "  --follow            keep reading until Ctrl-C\n"
	 "  --tail N            only the last N lines\n"
	 "  --timestamps        prefix each line with its time\n"
	 "On a swarm manager, the logs of all a service's tasks.\n"},
	{"diff", "bootstrap [-H URL] NAME/diff | diff NAME",
	 "Files changed in the container's filesystem: A added, C changed, D deleted.\n"},
	{"top", "bootstrap [-H URL] NAME/top | top NAME", "The container's processes.\n"},
	{"stats", "bootstrap [-H URL] NAME/stats | stats NAME... [--follow] [--json]",
	 "The container's use of the machine, one sample (the engine measures the\n"
	 "CPU over about a second): CPU % (of one CPU: two busy CPUs are 200 %),\n"
	 "memory used (less the page cache) / its limit and %, network received /\n"
	 "sent, block I/O read / written, processes. Sizes in KiB, MiB, GiB.\n"
	 "  --follow            one sample a second until Ctrl-C (one NAME)\n"
	 "  --json              one object per sample per line (null: not known)\n"},
	{"start", "bootstrap [-H URL] NAME/start | start NAME...",
	 "Start containers; one already running is not an error.\n"},
	{"stop", "bootstrap [-H URL] NAME/stop | stop [-t SECONDS] NAME...",
	 "Stop containers: SIGTERM (or the image's stop signal), then SIGKILL after\n"
	 "the grace; one already stopped is not an error.\n"
	 "  -t, --time SECONDS  grace before the kill (0-3600, default 10)\n"},
	{"restart", "bootstrap [-H URL] NAME/restart | restart [-t SECONDS] NAME...",
	 "Stop, then start containers.\n"
	 "  -t, --time SECONDS  grace before the kill (0-3600, default 10)\n"},
};

const char *const bs_cli_container_ops[] = {"inspect", "logs", "diff",	  "top", "stats",
					    "start",   "stop", "restart", NULL};

/* Docker's names for two verbs. */
static const struct {
	const char *alias;
	enum bs_verb verb;
} aliases[] = {{"rm", BS_VERB_REMOVE}, {"ps", BS_VERB_LIST}};

const char *bs_cli_verb_name(enum bs_verb verb)
{
	return verbs[verb].name;
}

int bs_cli_verb_from_name(const char *name)
{
	int i;

	for (i = 0; i < BS_VERB_COUNT_; i++)
		if (i != BS_VERB_CONTAINER_OP && strcmp(verbs[i].name, name) == 0)
			return i;
	for (size_t k = 0; k < sizeof(aliases) / sizeof(aliases[0]); k++)
		if (strcmp(aliases[k].alias, name) == 0)
			return (int)aliases[k].verb;
	return -1;
}

bool bs_cli_is_container_op(const char *op)
{
	for (size_t i = 0; bs_cli_container_ops[i] != NULL; i++)
		if (strcmp(bs_cli_container_ops[i], op) == 0)
			return true;
	return false;
}

const char *bs_cli_suggest(const char *word, bool ops_only)
{
	const char *words[BS_VERB_COUNT_ + 16];
	size_t n = 0;

	for (size_t i = 0; bs_cli_container_ops[i] != NULL; i++)
		words[n++] = bs_cli_container_ops[i];
	if (!ops_only) {
		for (int i = 0; i < BS_VERB_COUNT_; i++)
			if (i != BS_VERB_CONTAINER_OP && !bs_cli_is_container_op(verbs[i].name))
				words[n++] = verbs[i].name;
		for (size_t k = 0; k < sizeof(aliases) / sizeof(aliases[0]); k++)
			words[n++] = aliases[k].alias;
	}
	words[n] = NULL;
	return bs_suggest(word, words);
}

void bs_cli_print_op_help(FILE *out, const char *op)
{
	for (size_t i = 0; i < sizeof(op_docs) / sizeof(op_docs[0]); i++)
		if (strcmp(op_docs[i].name, op) == 0)
			fprintf(out, "usage: %s\n\n%s\n%s", op_docs[i].usage, op_docs[i].text,
				common_options);
}

void bs_cli_print_help(FILE *out, enum bs_verb verb, bool verb_given)
{
	int i;

	if (verb_given && verb != BS_VERB_HELP) {
		fprintf(out, "usage: %s\n\n%s\n%s", verbs[verb].usage, verbs[verb].text,
			common_options);
		return;
	}
	fprintf(out, "bootstrap - from nothing to running containers with one YAML file\n\n"
		     "usage: bootstrap [options] [VERB] [ARGS]\n"
		     "       bootstrap RECIPE                 same as: bootstrap apply RECIPE\n\n"
		     "Verbs:\n");
	for (i = 0; i < BS_VERB_COUNT_; i++)
		fprintf(out, "  %-10s %s\n", verbs[i].name,
			strchr(verbs[i].usage, ' ') ? strchr(verbs[i].usage, ' ') + 1 : "");
	fprintf(out,
		"\n%s\n"
		"Exit codes: 0 ok, 1 failure, 2 changes (plan --detailed-exitcode),\n"
		"64 usage, 65 invalid recipe, 66 unreadable recipe, 69 not available,\n"
		"75 locked, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).\n",
		common_options);
}

void bs_cli_print_version(FILE *out)
{
	const char *ssh = libssh2_version(0);

	fprintf(out, "bootstrap %s\n", BS_VERSION);
	fprintf(out, "libssh2 %s\n", ssh ? ssh : "unknown");
	fprintf(out, "libcurl %s\n", curl_version_info(CURLVERSION_NOW)->version);
	fprintf(out, "cJSON %s\n", cJSON_Version());
	fprintf(out, "libyaml %s\n", yaml_get_version_string());
}
