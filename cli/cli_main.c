/*
 * cli_main.c - main(): global initialisation, option parsing, dispatch.
 *
 * Options may come before or after the verb (GNU getopt permutes); the
 * first positional argument is the verb, NAME/OP, or a recipe (apply is
 * the default verb). Options that only some verbs take are checked here,
 * so a misplaced flag is a usage error, never silently ignored.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <libssh2.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "deploy/recipe.h"
#include "provision/node.h"
#include "util/log.h"
#include "util/str.h"
#include "util/units.h"

enum {
	OPT_JSON = 256,
	OPT_PARALLEL,
	OPT_TIMEOUT,
	OPT_DETAILED,
	OPT_NODE,
	OPT_FOLLOW,
	OPT_TAIL,
	OPT_TIMESTAMPS,
	OPT_VOLUMES,
	OPT_LOCK_WAIT,
	OPT_RESTART,
	OPT_MEMORY,
	OPT_CPUS,
	OPT_PIDS,
	OPT_USER,
	OPT_READ_ONLY,
	OPT_TLS_SKIP_VERIFY,
	OPT_ENV,
	OPT_PUBLISH,
	OPT_STRICT_HOST_KEYS,
	OPT_REFRESH,
	OPT_DOMAIN,
	OPT_EXPOSE,
	OPT_DOMAIN_TLS,
	OPT_PROXY_IMAGE,
	OPT_DOMAIN_BASE,
	OPT_NO_DOMAIN,
	OPT_PROVIDER,
	OPT_API_URL,
	OPT_TARGET,
	OPT_BUILD_ARG,
	OPT_FILE,
	OPT_PROFILE,
	OPT_LAST_,
};

static const struct option long_options[] = {
	{"json", no_argument, NULL, OPT_JSON},
	{"parallel", required_argument, NULL, OPT_PARALLEL},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"detailed-exitcode", no_argument, NULL, OPT_DETAILED},
	{"host", required_argument, NULL, 'H'},
	{"recipe", required_argument, NULL, 'r'},
	{"node", required_argument, NULL, OPT_NODE},
	{"follow", no_argument, NULL, OPT_FOLLOW},
	{"tail", required_argument, NULL, OPT_TAIL},
	{"timestamps", no_argument, NULL, OPT_TIMESTAMPS},
	{"volumes", no_argument, NULL, OPT_VOLUMES},
	{"refresh", no_argument, NULL, OPT_REFRESH},
	{"lock-wait", required_argument, NULL, OPT_LOCK_WAIT},
	{"env", required_argument, NULL, 'e'},
	{"publish", required_argument, NULL, 'p'},
	{"restart", required_argument, NULL, OPT_RESTART},
	{"memory", required_argument, NULL, OPT_MEMORY},
	{"cpus", required_argument, NULL, OPT_CPUS},
	{"pids-limit", required_argument, NULL, OPT_PIDS},
	{"user", required_argument, NULL, OPT_USER},
	{"read-only", no_argument, NULL, OPT_READ_ONLY},
	{"domain", required_argument, NULL, OPT_DOMAIN},
	{"expose", required_argument, NULL, OPT_EXPOSE},
	{"domain-tls", required_argument, NULL, OPT_DOMAIN_TLS},
	{"proxy-image", required_argument, NULL, OPT_PROXY_IMAGE},
	{"domain-base", required_argument, NULL, OPT_DOMAIN_BASE},
	{"no-domain", no_argument, NULL, OPT_NO_DOMAIN},
	{"provider", required_argument, NULL, OPT_PROVIDER},
	{"api-url", required_argument, NULL, OPT_API_URL},
	{"profile", required_argument, NULL, OPT_PROFILE},
	{"tls-skip-verify", no_argument, NULL, OPT_TLS_SKIP_VERIFY},
	{"identity", required_argument, NULL, 'i'},
	{"strict-host-keys", no_argument, NULL, OPT_STRICT_HOST_KEYS},
	{"time", required_argument, NULL, 't'},
	{"tag", required_argument, NULL, 't'},
	{"file", required_argument, NULL, 'f'},
	{"target", required_argument, NULL, OPT_TARGET},
	{"build-arg", required_argument, NULL, OPT_BUILD_ARG},
	{"verbose", no_argument, NULL, 'v'},
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	bs_cli_error("%s (see bootstrap --help)", msg);
	return BS_EXIT_USAGE;
}

/* NAME/OP (a file of that name is a recipe). */
static bool is_container_op(const char *arg)
{
	const char *slash = strrchr(arg, '/');

	return slash != NULL && slash != arg && access(arg, F_OK) != 0 &&
	       bs_cli_is_container_op(slash + 1);
}

static bool is_word(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || *s == '-' || *s == '_'))
			return false;
	return true;
}

/*
 * The first argument is no verb, no NAME/OP and no file: a word is a
 * mistyped verb, NAME/WORD a mistyped operation (exit 64, with the closest
 * name). A path-like argument (a dot, or more than one slash) stays a
 * recipe, whose "cannot open" error (66) says more.
 */
static int unknown_first(const char *arg)
{
	const char *slash = strrchr(arg, '/');
	const char *hint;

	if (access(arg, F_OK) == 0 || strchr(arg, '.') != NULL)
		return 0;
	if (slash == NULL && is_word(arg)) {
		hint = bs_cli_suggest(arg, false);
		if (hint != NULL)
			return usage_error("unknown verb '%s' (did you mean '%s'?)", arg, hint);
		return usage_error("'%s' is neither a verb nor a recipe file (bootstrap --help "
				   "lists the verbs)",
				   arg);
	}
	if (slash != NULL && slash != arg && strchr(arg, '/') == slash && is_word(slash + 1)) {
		hint = bs_cli_suggest(slash + 1, true);
		if (hint != NULL)
			return usage_error("unknown operation '%s' in %s (did you mean %.*s/%s?)",
					   slash + 1, arg, (int)(slash - arg), arg, hint);
		return usage_error("unknown operation '%s' in %s (NAME/OP takes inspect, logs, "
				   "diff, top, start, stop or restart), and no recipe file is "
				   "named so",
				   slash + 1, arg);
	}
	return 0;
}

/* The first argument names the verb: a verb or alias, docker's OP NAME...,
 * NAME/OP, or else a recipe for apply. */
static int parse_first(struct bs_cli *cli, int argc, char **argv, int first)
{
	const char *a = argv[first];
	int v = bs_cli_verb_from_name(a), rc;

	cli->verb_given = true;
	if (v >= 0) {
		cli->verb = (enum bs_verb)v;
		first++;
	} else if (bs_cli_is_container_op(a)) {
		cli->verb = BS_VERB_CONTAINER_OP;
		cli->op = a;
		first++;
	} else if (is_container_op(a)) {
		const char *slash = strrchr(a, '/');

		if (first + 1 < argc && strcmp(slash + 1, "top") != 0)
			return usage_error("%s takes no further arguments", a);
		cli->verb = BS_VERB_CONTAINER_OP;
		cli->op = slash + 1;
		cli->op_target = bs_xstrndup(a, (size_t)(slash - a));
		cli->op_argv = bs_xcalloc((size_t)(argc - first) + 1, sizeof(*cli->op_argv));
		cli->op_argv[0] = cli->op_target;
		for (int i = first + 1; i < argc; i++)
			cli->op_argv[i - first] = argv[i];
		cli->args = cli->op_argv;
		cli->n_args = argc - first;
		return 0;
	} else {
		if ((rc = unknown_first(a)) != 0)
			return rc;
		cli->verb = BS_VERB_APPLY;
		cli->verb_given = false;
	}
	cli->args = argv + first;
	cli->n_args = argc - first;
	return 0;
}

static int parse_count(const char *arg, long long lo, long long hi, const char *what,
		       long long *out)
{
	if (bs_parse_int64(arg, out) != 0 || *out < lo || *out > hi)
		return usage_error("%s wants a number from %lld to %lld, not '%s'", what, lo, hi,
				   arg);
	return 0;
}

static int parse_duration_opt(const char *arg, const char *what, long long *out_ms)
{
	int64_t ms;

	if (bs_parse_duration_ms(arg, &ms) != 0 || ms <= 0)
		return usage_error("%s wants a duration like 90s or 10m, not '%s'", what, arg);
	*out_ms = ms;
	return 0;
}

/* Which verbs accept which verb-specific flags. */
static int check_flags(const struct bs_cli *cli, const bool *seen)
{
	static const struct {
		int opt;
		const char *name;
		unsigned verbs;
	} rules[] = {
		{OPT_DETAILED, "--detailed-exitcode", 1u << BS_VERB_PLAN},
		{OPT_VOLUMES, "--volumes", 1u << BS_VERB_DESTROY},
		{OPT_REFRESH, "--refresh", (1u << BS_VERB_APPLY) | (1u << BS_VERB_PLAN)},
		{OPT_FOLLOW, "--follow", 1u << BS_VERB_CONTAINER_OP},
		{OPT_TAIL, "--tail", 1u << BS_VERB_CONTAINER_OP},
		{OPT_TIMESTAMPS, "--timestamps", 1u << BS_VERB_CONTAINER_OP},
		{OPT_ENV, "-e/--env", 1u << BS_VERB_CREATE},
		{OPT_PUBLISH, "-p/--publish", 1u << BS_VERB_CREATE},
		{OPT_RESTART, "--restart", 1u << BS_VERB_CREATE},
		{OPT_MEMORY, "--memory", 1u << BS_VERB_CREATE},
		{OPT_CPUS, "--cpus", 1u << BS_VERB_CREATE},
		{OPT_PIDS, "--pids-limit", 1u << BS_VERB_CREATE},
		{OPT_USER, "--user", 1u << BS_VERB_CREATE},
		{OPT_READ_ONLY, "--read-only", 1u << BS_VERB_CREATE},
		{OPT_DOMAIN, "--domain", 1u << BS_VERB_CREATE},
		{OPT_EXPOSE, "--expose", 1u << BS_VERB_CREATE},
		{OPT_DOMAIN_TLS, "--domain-tls", 1u << BS_VERB_CREATE},
		{OPT_PROXY_IMAGE, "--proxy-image", 1u << BS_VERB_CREATE},
		{OPT_DOMAIN_BASE, "--domain-base", 1u << BS_VERB_CREATE},
		{OPT_NO_DOMAIN, "--no-domain", 1u << BS_VERB_CREATE},
		{OPT_PROVIDER, "--provider", 1u << BS_VERB_LOCATIONS},
		{OPT_API_URL, "--api-url", 1u << BS_VERB_LOCATIONS},
		{OPT_TARGET, "--target", 1u << BS_VERB_BUILD},
		{OPT_BUILD_ARG, "--build-arg", 1u << BS_VERB_BUILD},
		{OPT_FILE, "-f/--file", 1u << BS_VERB_BUILD},
	};
	size_t i;

	for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (seen[rules[i].opt - OPT_JSON] && !(rules[i].verbs & (1u << cli->verb)))
			return usage_error("%s does not apply to '%s'", rules[i].name,
					   cli->op ? cli->op : bs_cli_verb_name(cli->verb));
	if (cli->op != NULL && (seen[OPT_TAIL - OPT_JSON] || seen[OPT_TIMESTAMPS - OPT_JSON]) &&
	    strcmp(cli->op, "logs") != 0)
		return usage_error("--tail and --timestamps are for logs, not '%s'", cli->op);
	if (cli->op != NULL && seen[OPT_FOLLOW - OPT_JSON] && strcmp(cli->op, "logs") != 0 &&
	    strcmp(cli->op, "stats") != 0)
		return usage_error("--follow is for logs and stats, not '%s'", cli->op);
	if (cli->stop_timeout_s >= 0 && cli->verb != BS_VERB_REMOVE &&
	    (cli->op == NULL || (strcmp(cli->op, "stop") != 0 && strcmp(cli->op, "restart") != 0)))
		return usage_error("-t/--time is for stop, restart and remove, not '%s'",
				   cli->op ? cli->op : bs_cli_verb_name(cli->verb));
	return 0;
}

static int parse_args(struct bs_cli *cli, int argc, char **argv)
{
	bool seen[OPT_LAST_ - OPT_JSON] = {false};
	const char *t_arg = NULL; /* -t: --time, or build's --tag */
	long long n;
	int c, rc, first;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":H:r:e:p:i:t:f:vqhV", long_options, NULL)) != -1) {
		if (c >= OPT_JSON && c < OPT_LAST_)
			seen[c - OPT_JSON] = true;
		switch (c) {
		case 'e':
			seen[OPT_ENV - OPT_JSON] = true;
			bs_strv_push(&cli->env_args, optarg);
			break;
		case 'p':
			seen[OPT_PUBLISH - OPT_JSON] = true;
			bs_strv_push(&cli->port_args, optarg);
			break;
		case OPT_RESTART: cli->restart = optarg; break;
		case OPT_MEMORY: {
			int64_t bytes;

			if (bs_parse_bytes(optarg, &bytes) != 0 || bytes < 6 * 1024 * 1024)
				return usage_error(
					"--memory wants a size of at least 6m, like 512m, not '%s'",
					optarg);
			cli->memory_bytes = bytes;
			break;
		}
		case OPT_CPUS: {
			char *end;
			double cpus = strtod(optarg, &end);

			if (*end != '\0' || end == optarg || cpus < 0.01 || cpus > 1024)
				return usage_error(
					"--cpus wants a number from 0.01 to 1024, like 0.5, not '%s'",
					optarg);
			cli->nano_cpus = (long long)(cpus * 1e9 + 0.5);
			break;
		}
		case OPT_PIDS:
			if ((rc = parse_count(optarg, -1, 4194304, "--pids-limit",
					      &cli->pids_limit)) != 0)
				return rc;
			if (cli->pids_limit == 0)
				return usage_error(
					"--pids-limit wants at least 1, or -1 for no limit, not '%s'",
					optarg);
			break;
		case OPT_USER: cli->user = optarg; break;
		case OPT_READ_ONLY: cli->read_only = true; break;
		case OPT_DOMAIN: cli->domain = optarg; break;
		case OPT_EXPOSE:
			if ((rc = parse_count(optarg, 1, 65535, "--expose", &n)) != 0)
				return rc;
			cli->expose = (int)n;
			break;
		case OPT_DOMAIN_TLS: cli->domain_tls = optarg; break;
		case OPT_PROXY_IMAGE: cli->proxy_image = optarg; break;
		case OPT_DOMAIN_BASE: cli->domain_base = optarg; break;
		case OPT_NO_DOMAIN: cli->no_domain = true; break;
		case OPT_PROVIDER: cli->provider = optarg; break;
		case OPT_API_URL: cli->api_url = optarg; break;
		case OPT_PROFILE: bs_strv_push(&cli->profiles, optarg); break;
		case OPT_TLS_SKIP_VERIFY: cli->tls_skip_verify = true; break;
		case 'i': cli->identity = optarg; break;
		case 't': t_arg = optarg; break;
		case 'f':
			seen[OPT_FILE - OPT_JSON] = true;
			cli->dockerfile = optarg;
			break;
		case OPT_TARGET: cli->target = optarg; break;
		case OPT_BUILD_ARG: bs_strv_push(&cli->build_arg_args, optarg); break;
		case OPT_STRICT_HOST_KEYS: cli->strict_host_keys = true; break;
		case OPT_JSON: cli->json = true; break;
		case OPT_PARALLEL:
			if ((rc = parse_count(optarg, 1, 256, "--parallel", &n)) != 0)
				return rc;
			cli->parallel = (int)n;
			break;
		case OPT_TIMEOUT:
			if ((rc = parse_duration_opt(optarg, "--timeout", &cli->timeout_ms)) != 0)
				return rc;
			break;
		case OPT_LOCK_WAIT:
			if ((rc = parse_duration_opt(optarg, "--lock-wait", &n)) != 0)
				return rc;
			cli->lock_wait_s = n / 1000;
			break;
		case OPT_DETAILED: cli->detailed_exitcode = true; break;
		case 'H': cli->host = optarg; break;
		case 'r': cli->recipe = optarg; break;
		case OPT_NODE: cli->node = optarg; break;
		case OPT_FOLLOW: cli->follow = true; break;
		case OPT_TAIL:
			if (strcmp(optarg, "all") == 0)
				cli->tail = -1;
			else if ((rc = parse_count(optarg, 0, 100000000, "--tail", &cli->tail)) !=
				 0)
				return rc;
			break;
		case OPT_TIMESTAMPS: cli->timestamps = true; break;
		case OPT_VOLUMES: cli->volumes = true; break;
		case OPT_REFRESH: cli->refresh = true; break;
		case 'v': cli->verbosity++; break;
		case 'q': cli->verbosity--; break;
		case 'h': cli->help = true; break;
		case 'V':
			cli->verb = BS_VERB_VERSION;
			cli->verb_given = true;
			break;
		case ':': return usage_error("option %s needs a value", argv[optind - 1]);
		default: return usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	first = optind;
	if (cli->verb == BS_VERB_VERSION)
		return 0;
	if (first < argc) {
		if ((rc = parse_first(cli, argc, argv, first)) != 0)
			return rc;
	} else {
		cli->verb = cli->help ? BS_VERB_HELP : BS_VERB_APPLY;
		cli->args = argv + first;
		cli->n_args = 0;
	}
	/* -t is build's tag, as docker build's; any other verb's --time */
	if (t_arg != NULL && cli->verb == BS_VERB_BUILD) {
		cli->build_tag = t_arg;
	} else if (t_arg != NULL) {
		if ((rc = parse_count(t_arg, 0, 3600, "-t/--time", &n)) != 0)
			return rc;
		cli->stop_timeout_s = (int)n;
	}
	return check_flags(cli, seen);
}

/* ---- signals (cli.h) ---- */

volatile sig_atomic_t bs_cli_interrupted;
volatile sig_atomic_t bs_cli_aborted;
static volatile sig_atomic_t first_signal; /* its number, 0 before any */
static const char *signal_note;		   /* set before the handler is */
static size_t signal_note_len;

static void on_signal(int sig)
{
	if (bs_cli_interrupted) {
		bs_cli_aborted = 1;
		return;
	}
	first_signal = sig;
	bs_cli_interrupted = 1;
	if (signal_note != NULL && write(STDERR_FILENO, signal_note, signal_note_len) < 0) {
		/* nothing to do: the run stops anyway */
	}
}

void bs_cli_signals_install(const char *note)
{
	struct sigaction sa;

	signal_note = note;
	signal_note_len = note ? strlen(note) : 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* bs_state_check() for the verbs that read the state directory. */
static int state_checked(void)
{
	struct bs_err err = BS_ERR_INIT;

	if (bs_state_check(&err) == 0)
		return BS_EXIT_OK;
	bs_cli_error("%s", err.msg);
	return BS_EXIT_FAILURE;
}

/*
 * A node's session holds about a dozen descriptors (its socket, the
 * tunnel's listener, wake pipe and engine connections) until the run ends,
 * so a fleet needs more than a shell's usual soft limit of 1024: take the
 * hard limit, as a server would.
 */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	struct bs_cli cli;
	const char *no_color = getenv("NO_COLOR");
	int code;

	/* The environment's SSH secrets, whichever verb and path reads them
	 * (provision/node_ssh.c): masked from the start, in every output. */
	bs_secret_add(getenv("BOOTSTRAP_SSH_PASSWORD"));
	bs_secret_add(getenv("BOOTSTRAP_SSH_PASSPHRASE"));
	raise_fd_limit();
	memset(&cli, 0, sizeof(cli));
	cli.tail = -1;
	cli.parallel = 8;
	cli.restart = "unless-stopped";
	cli.pids_limit = 512;
	cli.stop_timeout_s = -1;
	cli.color = isatty(STDERR_FILENO) && (no_color == NULL || no_color[0] == '\0');
	/* --json anywhere (before "--") makes the option errors JSON too */
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--json") == 0)
			bs_cli_output_json(true);
	code = parse_args(&cli, argc, argv);
	if (code != 0) {
		bs_cli_output_finish(code);
		bs_strv_free(&cli.env_args);
		bs_strv_free(&cli.port_args);
		bs_strv_free(&cli.build_arg_args);
		free(cli.op_target);
		bs_strv_free(&cli.profiles);
		free(cli.op_argv);
		return code;
	}
	bs_cli_output_init(&cli);
	if (cli.help) {
		if (cli.op != NULL)
			bs_cli_print_op_help(stdout, cli.op);
		else
			bs_cli_print_help(stdout, cli.verb, cli.verb_given);
		free(cli.op_target);
		bs_strv_free(&cli.build_arg_args);
		bs_strv_free(&cli.profiles);
		free(cli.op_argv);
		return BS_EXIT_OK;
	}
	/* a peer that closed (libcurl's side of the SSH tunnel, a pipe) is an
	 * error to report, not a reason to die silently */
	signal(SIGPIPE, SIG_IGN);
	/* Libraries are initialised once, before any worker thread exists. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || libssh2_init(0) != 0) {
		bs_cli_error("cannot initialise libcurl or libssh2");
		bs_cli_output_finish(BS_EXIT_FAILURE);
		return BS_EXIT_FAILURE;
	}
	switch (cli.verb) {
	case BS_VERB_HELP:
		if (cli.n_args > 0) {
			const char *what = cli.args[0], *slash = strrchr(what, '/');
			int v = bs_cli_verb_from_name(what);
			const char *hint;

			if (slash != NULL && bs_cli_is_container_op(slash + 1))
				what = slash + 1; /* help NAME/OP */
			if (bs_cli_is_container_op(what)) {
				bs_cli_print_op_help(stdout, what);
				break;
			}
			if (v < 0) {
				hint = bs_cli_suggest(what, false);
				code = hint ? usage_error(
						      "no verb or operation named '%s' (did you "
						      "mean '%s'?)",
						      what, hint)
					    : usage_error("no verb or operation named '%s'", what);
				break;
			}
			bs_cli_print_help(stdout, (enum bs_verb)v, true);
		} else {
			bs_cli_print_help(stdout, BS_VERB_HELP, false);
		}
		code = code ? code : BS_EXIT_OK;
		break;
	case BS_VERB_VERSION:
		bs_cli_print_version(stdout);
		code = BS_EXIT_OK;
		break;
	case BS_VERB_VALIDATE: code = bs_cli_validate(&cli); break;
	case BS_VERB_INIT: code = bs_cli_init(&cli); break;
	case BS_VERB_LOCATIONS:
		bs_cli_signals_install(NULL);
		code = bs_cli_locations(&cli);
		break;
	case BS_VERB_PREPARE:
	case BS_VERB_APPLY:
	case BS_VERB_PLAN:
	case BS_VERB_DESTROY:
	case BS_VERB_STATUS:
		/* the key and the pins they use are checked before any is read */
		code = state_checked();
		if (code == BS_EXIT_OK)
			code = cli.verb == BS_VERB_PREPARE ? bs_cli_prepare(&cli)
							   : bs_cli_run(&cli);
		break;
	default: code = bs_cli_container(&cli); break;
	}
	/* a run a signal ended says which: 130 for Ctrl-C, 143 for SIGTERM */
	if (first_signal != 0 && code != BS_EXIT_OK)
		code = 128 + first_signal;
	bs_cli_output_finish(code);
	bs_strv_free(&cli.env_args);
	bs_strv_free(&cli.port_args);
	bs_strv_free(&cli.build_arg_args);
	free(cli.op_target);
	bs_strv_free(&cli.profiles);
	free(cli.op_argv);
	bs_secret_clear();
	libssh2_exit();
	curl_global_cleanup();
	return code;
}
