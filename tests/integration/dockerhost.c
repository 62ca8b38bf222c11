/*
 * tests/integration/dockerhost.c - drive bs_dockerhost_ensure against a
 * real node (tests/lab/node.sh) for tests/integration/dockerhost.sh, which
 * changes the node between runs and checks what this program prints.
 *
 *   dockerhost --host H --port P --key FILE --known-hosts FILE
 *              [--user U] [--sudo] [--node NAME]
 *              [--install auto|never] [--package P] [--version V]
 *              [--daemon JSON] [--ready-ms N] [--command-ms N]
 *              [--tls-dir DIR [--tls-port N]]
 *
 * --tls-dir serves the API with mutual TLS: the project's CA, a client
 * certificate and the node's server certificate (for 127.0.0.1 and
 * localhost) are made or reused there by provision/tlscerts.c, as deploy
 * does, and the server material goes to bs_dockerhost_ensure.
 *
 * Prints the report as a JSON object, one member per line ("commands": 1),
 * with the time taken; on failure "ok": false, the error code's name and
 * the message. Exits 0 when ensure succeeded, 1 when it failed, 2 on bad
 * usage or when SSH itself failed.
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <libssh2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deploy/recipe.h"
#include "provision/dockerhost.h"
#include "provision/tlscerts.h"
#include "provision/ssh.h"
#include "util/error.h"
#include "util/str.h"

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(void)
{
	fprintf(stderr, "usage: dockerhost --host H --port P --key FILE --known-hosts FILE "
			"[--user U] [--sudo] [--node NAME] [--install auto|never] "
			"[--package P] [--version V] [--daemon JSON] [--ready-ms N] "
			"[--command-ms N] [--tls-dir DIR [--tls-port N]]\n");
	exit(2);
}

static void print_report(const struct bs_dockerhost_report *rep, int rc, const struct bs_err *err,
			 long long ms)
{
	cJSON *o = cJSON_CreateObject();
	struct bs_err perr = BS_ERR_INIT;
	char *compact, *text = NULL;

	cJSON_AddBoolToObject(o, "ok", rc == 0);
	if (rc != 0) {
		cJSON_AddStringToObject(o, "error", bs_strerror(rc));
		cJSON_AddStringToObject(o, "message", err->msg);
	}
	cJSON_AddStringToObject(o, "os_id", rep->os_id);
	cJSON_AddStringToObject(o, "os_version", rep->os_version);
	cJSON_AddStringToObject(o, "os_codename", rep->os_codename);
	cJSON_AddBoolToObject(o, "systemd", rep->systemd);
	cJSON_AddStringToObject(o, "engine_version", rep->engine_version);
	cJSON_AddBoolToObject(o, "installed", rep->installed);
	cJSON_AddBoolToObject(o, "started", rep->started);
	cJSON_AddBoolToObject(o, "config_written", rep->config_written);
	cJSON_AddStringToObject(o, "action", bs_daemon_action_name(rep->action));
	cJSON_AddNumberToObject(o, "pid", (double)rep->pid);
	cJSON_AddNumberToObject(o, "commands", rep->commands);
	cJSON_AddNumberToObject(o, "uploads", rep->uploads);
	cJSON_AddNumberToObject(o, "ms", (double)ms);
	compact = cJSON_PrintUnformatted(o);
	if (bs_daemon_json_canonical(compact, strlen(compact), &text, &perr) == 0)
		fputs(text, stdout);
	else
		printf("%s\n", compact);
	free(text);
	cJSON_free(compact);
	cJSON_Delete(o);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"host", required_argument, NULL, 'h'},
		{"port", required_argument, NULL, 'p'},
		{"user", required_argument, NULL, 'u'},
		{"key", required_argument, NULL, 'k'},
		{"known-hosts", required_argument, NULL, 'K'},
		{"sudo", no_argument, NULL, 's'},
		{"node", required_argument, NULL, 'n'},
		{"install", required_argument, NULL, 'i'},
		{"package", required_argument, NULL, 'P'},
		{"version", required_argument, NULL, 'V'},
		{"daemon", required_argument, NULL, 'd'},
		{"ready-ms", required_argument, NULL, 'r'},
		{"command-ms", required_argument, NULL, 'c'},
		{"tls-dir", required_argument, NULL, 't'},
		{"tls-port", required_argument, NULL, 'T'},
		{NULL, 0, NULL, 0},
	};
	struct bs_ssh_opts so;
	struct bs_docker_conf conf;
	struct bs_dockerhost_opts o;
	struct bs_dockerhost_report rep;
	struct bs_err err = BS_ERR_INIT;
	struct bs_ssh *s = NULL;
	struct bs_tls_server server;
	struct bs_dockerhost_tls tls;
	const char *tls_dir = NULL;
	long long t0, port = 0, n;
	int opt, rc;

	memset(&so, 0, sizeof(so));
	memset(&conf, 0, sizeof(conf));
	memset(&o, 0, sizeof(o));
	memset(&rep, 0, sizeof(rep));
	memset(&server, 0, sizeof(server));
	memset(&tls, 0, sizeof(tls));
	so.policy = BS_HOSTKEY_ACCEPT_NEW;
	so.connect_timeout_ms = 10000;
	conf.package = NULL;
	conf.tls_port = 2376;
	o.conf = &conf;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h': so.host = optarg; break;
		case 'p':
			if (bs_parse_int64(optarg, &port) != 0 || port < 1 || port > 65535)
				usage();
			so.port = (int)port;
			break;
		case 'u': so.user = optarg; break;
		case 'k': so.key_path = optarg; break;
		case 'K': so.known_hosts = optarg; break;
		case 's': o.sudo = true; break;
		case 'n': o.node = optarg; break;
		case 'i':
			if (strcmp(optarg, "never") == 0)
				conf.install = BS_DOCKER_INSTALL_NEVER;
			else if (strcmp(optarg, "auto") != 0)
				usage();
			break;
		case 'P': conf.package = optarg; break;
		case 'V': conf.version = optarg; break;
		case 'd': conf.daemon_json = optarg; break;
		case 'r':
			if (bs_parse_int64(optarg, &n) != 0)
				usage();
			o.ready_timeout_ms = (long)n;
			break;
		case 'c':
			if (bs_parse_int64(optarg, &n) != 0)
				usage();
			o.command_timeout_ms = (long)n;
			break;
		case 't': tls_dir = optarg; break;
		case 'T':
			if (bs_parse_int64(optarg, &n) != 0 || n < 1 || n > 65535)
				usage();
			tls.port = (int)n;
			break;
		default: usage();
		}
	}
	if (so.host == NULL || so.known_hosts == NULL || so.key_path == NULL || optind != argc)
		usage();
	if (tls_dir != NULL) {
		static const char *const sans[] = {"127.0.0.1", "localhost"};
		const char *node = o.node != NULL ? o.node : "node";

		if (bs_tls_ca_ensure(NULL, tls_dir, &err) != 0 ||
		    bs_tls_client_ensure(NULL, tls_dir, &err) != 0 ||
		    bs_tls_server_ensure(&server, tls_dir, node, sans, 2, &err) != 0) {
			fprintf(stderr, "tls: %s\n", err.msg);
			return 2;
		}
		tls.ca_pem = server.ca_pem;
		tls.cert_pem = server.cert_pem;
		tls.key_pem = server.key_pem;
		o.tls = &tls;
	}
	libssh2_init(0);
	t0 = now_ms();
	rc = bs_ssh_connect(&s, &so, &err);
	if (rc != 0) {
		fprintf(stderr, "ssh: %s\n", err.msg);
		bs_tls_server_free(&server);
		libssh2_exit();
		return 2;
	}
	rc = bs_dockerhost_ensure(s, &o, &rep, &err);
	print_report(&rep, rc, &err, now_ms() - t0);
	bs_ssh_close(s);
	bs_tls_server_free(&server);
	libssh2_exit();
	return rc == 0 ? 0 : 1;
}
