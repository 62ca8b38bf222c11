/*
 * dockerhost.h - make a node that answers SSH a Docker host, idempotently:
 * detect the OS, the init system and an existing engine; install the
 * engine when missing (Debian and Ubuntu packages); merge the recipe's
 * daemon.json over the node's, write it only when it changes, reload
 * (SIGHUP) or restart only as the changed keys require, roll back when the
 * daemon does not come back; start the daemon with or without systemd and
 * wait until it answers.
 *
 * Runs on the node's worker thread, over the worker's SSH session. Every
 * remote command is built with bs_shell_quote for the values it carries.
 * A second call on a converged node uploads nothing and touches no daemon:
 * the report counts what was done so tests can prove it.
 *
 * Round trips (each one remote command, counted in report->commands):
 *   1. detection: OS, init, engine, pid, version, daemon.json, privileges,
 *      the kernel's IPVS, and only for a cluster (opts->cluster) IPsec
 *      ESP (probed in a throwaway network namespace: nothing is left, but
 *      as root the kernel may load its esp4/xfrm modules) and the global
 *      addresses with their interfaces' MTU and whether they are physical
 *      (at most BS_DOCKERHOST_MAX_ADDRS);
 *   2. only when the engine is missing: the install, then detection again,
 *      in the same command;
 *   3. only when something must change: the new daemon.json (uploaded
 *      before, over SFTP) put in place, the daemon started, reloaded or
 *      restarted, the wait until it answers and the rollback when it does
 *      not, all in one shell script.
 * A converged node costs one command and no upload; a fresh one three
 * commands and one upload (plus three for the TLS material).
 *
 * The TCP listener (opts->tls): the CA, certificate and key go to
 * /etc/docker/tls (compared by SHA-256 first, the key 0600); with systemd
 * a drop-in resets ExecStart= to add -H tcp://0.0.0.0:PORT --tlsverify
 * (hosts in daemon.json would clash with the unit's -H fd://), without
 * systemd hosts and the tls keys go into daemon.json. With opts->tls NULL,
 * a listener bootstrap set up before is taken away again (the files in
 * /etc/docker/tls stay). Either way dockerd restarts for it.
 *
 * Without systemd (containers, minimal VMs) dockerd is started detached
 * (setsid nohup, log in /var/log/dockerd.log) and found again through
 * /var/run/docker.pid; a dockerd running with another pidfile is refused
 * rather than doubled.
 *
 * The pure parts (daemon.json merge, canonical form, validation, change
 * classification, the detection parser, the command builders) are
 * exported for the unit tests; nothing but bs_dockerhost_ensure touches
 * the network.
 */
#ifndef BS_PROVISION_DOCKERHOST_H
#define BS_PROVISION_DOCKERHOST_H

#include <stdbool.h>
#include <stddef.h>

#include "provision/fleet.h"
#include "provision/ssh.h"
#include "util/error.h"
#include "util/str.h"

/* An address the node holds, with its interface (what cluster.advertise
 * chooses from). */
#define BS_DOCKERHOST_MAX_ADDRS 32
struct bs_dockerhost_addr {
	char ifname[16]; /* "eth1" */
	int mtu;	 /* the interface's MTU; 0 unknown */
	char addr[46];	 /* "10.0.0.2", "2a01:4f8::1" (no prefix length) */
	bool phys;	 /* a device behind it (/sys/class/net/IFACE/device): not virtual */
};

/* The kernel's IPsec ESP, as the detection's probe found it. */
enum bs_esp {
	BS_ESP_UNKNOWN, /* no probe (no unshare or ip, or no new network namespace) */
	BS_ESP_YES,
	BS_ESP_NO,
};

enum bs_daemon_action {
	BS_DAEMON_NONE,	   /* configuration unchanged: daemon untouched */
	BS_DAEMON_RELOAD,  /* only keys dockerd reloads on SIGHUP changed */
	BS_DAEMON_RESTART, /* some changed key needs a restart */
};

/* Server-side TLS material for docker.endpoint: tls (PEM text). */
struct bs_dockerhost_tls {
	const char *ca_pem;
	const char *cert_pem;
	const char *key_pem; /* secret: never logged */
	int port;	     /* 2376 */
};

struct bs_dockerhost_opts {
	const struct bs_docker_conf *conf;   /* install policy, package, version, daemon */
	const struct bs_dockerhost_tls *tls; /* NULL: no TCP listener at all */
	const char *node;		     /* name for messages; NULL: user@host:port */
	/* a login user other than root runs privileged commands through
	 * `sudo -n` (docs/recipe.md, ssh.user); false: such a user is refused */
	bool sudo;
	long command_timeout_ms; /* one remote command (apt may be slow); 0: 600 s */
	long ready_timeout_ms;	 /* daemon answering after a start; 0: 60 s */
	/* plan/status: detect only (one command) and fill the report with
	 * what a real run would do; TLS material is not compared */
	bool dry_run;
	/* the detection script's output when the caller ran it already (under
	 * the node lock, on the lock's channel: nodelock.h, opts.then); NULL:
	 * run it here */
	const char *detected;
	size_t detected_len;
	/* the recipe has a cluster: probe IPsec ESP (which may load the
	 * kernel's esp4/xfrm modules when root) and list the addresses */
	bool cluster;
	/* a cluster's overlay is to be encrypted (cluster.encrypt: true):
	 * a kernel without IPsec ESP is refused right after the detection,
	 * before anything is installed or changed (dry_run: not checked) */
	bool need_esp;
};

struct bs_dockerhost_report {
	char os_id[32];	      /* "debian" */
	char os_version[32];  /* "12" */
	char os_codename[32]; /* "bookworm" */
	bool systemd;	      /* systemd is the running init */
	char engine_version[32];
	bool installed; /* the engine was installed by this call */
	bool started;	/* the daemon was started (it was not running) */
	bool config_written;
	enum bs_daemon_action action; /* what was done to a running daemon */
	long pid;		      /* dockerd's pid at the end, 0 when unknown */
	int commands;		      /* remote commands run */
	int uploads;		      /* files uploaded */
	bool engine_ready;	      /* dry_run: dockerd runs and answers */
	bool engine_up;		      /* detected: dockerd's pid alive, its socket there */
	char route_if[16];	      /* the default route's interface, "" unknown */
	bool ipvs;		      /* the kernel has IPVS */
	enum bs_esp esp;	      /* the kernel has IPsec ESP (rfc4106(gcm(aes))) */
	char esp_error[128];	      /* the probe's error when not, "" none */
	struct bs_dockerhost_addr addrs[BS_DOCKERHOST_MAX_ADDRS]; /* global-scope addresses */
	size_t n_addrs;
};

/* Converge the node. On failure err names the node, the step and the fix,
 * with the daemon's own log lines when the daemon is what failed. */
int bs_dockerhost_ensure(struct bs_ssh *s, const struct bs_dockerhost_opts *opts,
			 struct bs_dockerhost_report *report, struct bs_err *err);

/* "none", "reload", "restart". */
const char *bs_daemon_action_name(enum bs_daemon_action action);

/* ---- daemon.json: pure functions ---------------------------------------- */

/*
 * Check the recipe's docker.daemon object (compact JSON) before anything
 * is written: an object; known keys have their types (booleans for debug
 * and live-restore, strings for log-opts values, labels an array of
 * strings, absolute paths for data-root...); `hosts`, `tls*` and
 * `pidfile` are refused with the reason; an unknown key that looks like a
 * typo of a known one is refused with the suggestion (dockerd refuses
 * unknown keys and would not start). Unknown keys that resemble nothing
 * pass: newer engines know more. NULL is valid (nothing to manage).
 */
int bs_daemon_json_validate(const char *recipe_json, struct bs_err *err);

/*
 * The canonical text of a JSON object: keys sorted (bytewise) at every
 * level, a duplicated key keeping its last value (as dockerd reads it),
 * two-space indentation, one trailing newline; "{}\n" for an empty object.
 * *out is the caller's. BS_ERR_INVALID when text is not one JSON object.
 */
int bs_daemon_json_canonical(const char *text, size_t len, char **out, struct bs_err *err);

/*
 * Merge the recipe's object over the node's file, key by key at the top
 * level (a recipe key replaces the node's whole value; a recipe null
 * removes the key), and return the canonical text. current may be NULL
 * or empty (no file). An unchanged merge gives back byte for byte the
 * text the previous run wrote. BS_ERR_INVALID when the node's file is
 * not a JSON object (the message says where it breaks).
 */
int bs_daemon_json_merge(const char *current, size_t current_len, const char *recipe_json,
			 char **out, struct bs_err *err);

/*
 * What moving from old_json to new_json asks of a running dockerd (NULL
 * or "" is an empty object). Keys dockerd applies on SIGHUP give RELOAD;
 * any other key added, changed or removed gives RESTART, and so does
 * removing a reloadable key (dockerd keeps the old value on reload when
 * the key is absent). Texts that do not parse give RESTART. When changed
 * is not NULL, the changed keys are appended to it, sorted.
 */
enum bs_daemon_action bs_daemon_json_classify(const char *old_json, const char *new_json,
					      struct bs_strv *changed);

/* True when dockerd reloads key on SIGHUP. */
bool bs_daemon_json_key_reloadable(const char *key);

/* ---- detection ---------------------------------------------------------- */

enum bs_dockerhost_sudo {
	BS_SUDO_UNUSED,	  /* the login user is root */
	BS_SUDO_OK,	  /* commands ran through sudo -n */
	BS_SUDO_PASSWORD, /* sudo -n: a password is required */
	BS_SUDO_DENIED,	  /* the user may not run commands through sudo */
	BS_SUDO_MISSING,  /* no sudo on the node */
	BS_SUDO_FAILED,	  /* some other sudo error (sudo_error says which) */
};

/* What the detection command found. Every string is bounded and holds
 * printable ASCII only: the node's output is untrusted. */
struct bs_dockerhost_facts {
	long uid;      /* of the commands (0 under sudo); -1 unknown */
	char user[64]; /* the login user */
	enum bs_dockerhost_sudo sudo;
	char sudo_error[256];
	char os_id[32];
	char os_version[32];
	char os_codename[32];
	char os_like[64];  /* ID_LIKE */
	char os_name[64];  /* PRETTY_NAME */
	bool os_release;   /* /etc/os-release was read */
	bool systemd;	   /* [ -d /run/systemd/system ] */
	bool unit_enabled; /* systemctl is-enabled docker */
	bool unit_loaded;  /* systemd knows docker.service (LoadState=loaded) */
	long unit_pid;	   /* docker.service's main process, 0 when it runs none */
	bool apt;	   /* apt-get present */
	char docker_path[256];
	char dockerd_path[256];
	long pid;	   /* running dockerd, 0 when none */
	long stray_pid;	   /* a dockerd without /var/run/docker.pid, 0 when none */
	bool curl;	   /* curl present (asks the engine when the CLI is missing) */
	bool socket;	   /* dockerd runs and /var/run/docker.sock is there */
	char route_if[16]; /* the default route's interface ("eth0"), "" unknown */
	bool ipvs;	   /* the kernel has IPVS (the swarm routing mesh needs it) */
	/* IPsec ESP, probed by adding an SA in a throwaway network namespace
	 * (unshare --net ip xfrm state add ... aead 'rfc4106(gcm(aes))'):
	 * what Docker's encrypted overlays use */
	enum bs_esp esp;
	char esp_error[128]; /* ip's answer when the probe failed */
	/* the global-scope addresses (ip -o addr), at most BS_DOCKERHOST_MAX_ADDRS */
	struct bs_dockerhost_addr addrs[BS_DOCKERHOST_MAX_ADDRS];
	size_t n_addrs;
	char engine_version[32]; /* from a step's wait; detection leaves it "" */
	char log_path[256];	 /* where the running dockerd's stderr goes, if a file */
	bool daemon_json_exists;
	char *daemon_json; /* its content (NUL-terminated), owned; NULL when absent */
	size_t daemon_json_len;
	bool containerd_socket;	    /* /run/containerd/containerd.sock exists */
	char tls_dropin_sha256[65]; /* our systemd drop-in for the TLS listener, "" when absent */
	char tls_sha256[3][65];	    /* ca, cert, key under /etc/docker/tls, "" when absent */
};

void bs_dockerhost_facts_free(struct bs_dockerhost_facts *f);

/*
 * Parse the detection command's output (the lines between "bs-detect=1"
 * and "end=1"; anything else is ignored). Values are bounded, checked and
 * sanitised; malformed base64 or numbers are errors. BS_ERR_PROTOCOL when
 * the output is cut short or has no detection at all. *f is reset first;
 * free it with bs_dockerhost_facts_free even on error.
 */
int bs_dockerhost_parse_facts(const char *out, size_t len, struct bs_dockerhost_facts *f,
			      struct bs_err *err);

/* Parse /etc/os-release text (KEY=value, values optionally quoted, with
 * shell escapes) into f's os_* fields. */
void bs_dockerhost_parse_os_release(const char *text, size_t len, struct bs_dockerhost_facts *f);

/* Debian or Ubuntu, by ID or ID_LIKE. */
bool bs_dockerhost_os_supported(const struct bs_dockerhost_facts *f);

/* ---- commands ----------------------------------------------------------- */

/*
 * Debian policy syntax: a package name is [a-z0-9][a-z0-9+.-]+; a version
 * is [epoch:]upstream[-revision] of [A-Za-z0-9.+~:-] starting with a digit
 * (apt-get install PACKAGE=VERSION). Anything else is refused with the
 * reason, before it can reach a shell. version may be NULL.
 */
int bs_dockerhost_check_package(const char *package, const char *version, struct bs_err *err);

/* The command line around script: runs it with sh, through `sudo -n`
 * when the login user is not root and sudo is true; a sudo that fails
 * prints bs-sudo-failed= and exits 97. Caller frees. */
char *bs_dockerhost_wrap(const char *script, bool sudo);

/* The detection script (run it through bs_dockerhost_wrap). */
const char *bs_dockerhost_detect_script(bool cluster);

/* The install script for conf's package and version, followed by the
 * detection script. Checks the package first. *out is the caller's. */
int bs_dockerhost_install_script(const struct bs_docker_conf *conf, char **out, struct bs_err *err);

enum bs_daemon_step {
	BS_STEP_NONE,	 /* only put the file in place (no daemon change needed) */
	BS_STEP_START,	 /* the daemon is not running: start it */
	BS_STEP_RELOAD,	 /* SIGHUP, then check dockerd took it */
	BS_STEP_RESTART, /* stop, start */
	BS_STEP_WAIT,	 /* running but not answering: wait for it */
};

/* One apply command: what to put in place and what to do to the daemon. */
struct bs_dockerhost_apply {
	bool systemd;
	const char *dockerd;  /* absolute path */
	const char *new_conf; /* uploaded temp file to install as daemon.json, or NULL */
	enum bs_daemon_step step;
	bool enable_unit; /* systemctl enable docker (systemd) */
	long ready_timeout_ms;
	long stop_timeout_ms;
	/* TLS material uploaded to temp files, installed under /etc/docker/tls */
	const char *tls_tmp[3]; /* ca, cert, key; NULL: leave as is */
	const char *tls_dropin; /* temp file with the systemd drop-in, or NULL */
	bool tls_remove_dropin; /* remove our drop-in */
};

/* The apply script. Values are quoted; paths must be absolute. */
char *bs_dockerhost_apply_script(const struct bs_dockerhost_apply *a);

/* The daemon.json keys of the TCP listener without systemd (compact JSON):
 * hosts (the socket and tcp://0.0.0.0:port) and the tls* keys pointing
 * under /etc/docker/tls. Caller frees. */
char *bs_dockerhost_tls_daemon_json(int port);

/* The systemd drop-in of the TCP listener with systemd: resets ExecStart
 * and starts dockerd with -H fd:// and the TCP listener. Caller frees. */
char *bs_dockerhost_tls_dropin(const char *dockerd, int port, bool containerd_socket);

/*
 * What is worth showing of a daemon log in one error line: dockerd's own
 * error and fatal lines (the msg="..." part of logrus lines), else the
 * last lines; at most three, each trimmed, registered secrets masked,
 * the whole at most max bytes. Caller frees.
 */
char *bs_dockerhost_log_excerpt(const char *log, size_t max);

#endif
