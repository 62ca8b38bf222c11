/*
 * Unit tests for provision/dockerhost.c's pure parts: the daemon.json
 * merge, canonical text, validation and change classification; the
 * detection parser fed hostile and truncated output; the package checks
 * and the scripts' quoting (run through a real /bin/sh, locally: the
 * scripts must parse, and a hostile value must come out as data).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "provision/dockerhost.h"
#include "util/log.h"

/* ---- helpers ---- */

static char *canon(const char *text)
{
	struct bs_err err = BS_ERR_INIT;
	char *out = NULL;

	if (bs_daemon_json_canonical(text, strlen(text), &out, &err) != 0)
		fail_msg("canonical(%s): %s", text, err.msg);
	return out;
}

static char *merge(const char *current, const char *recipe)
{
	struct bs_err err = BS_ERR_INIT;
	char *out = NULL;

	if (bs_daemon_json_merge(current, current ? strlen(current) : 0, recipe, &out, &err) != 0)
		fail_msg("merge: %s", err.msg);
	return out;
}

static void expect_invalid_daemon(const char *json, const char *phrase)
{
	struct bs_err err = BS_ERR_INIT;

	if (bs_daemon_json_validate(json, &err) != BS_ERR_INVALID)
		fail_msg("expected %s to be refused", json);
	if (strstr(err.msg, phrase) == NULL)
		fail_msg("message for %s lacks \"%s\": %s", json, phrase, err.msg);
}

static void expect_valid_daemon(const char *json)
{
	struct bs_err err = BS_ERR_INIT;

	if (bs_daemon_json_validate(json, &err) != 0)
		fail_msg("expected %s to pass: %s", json, err.msg);
}

/* Run sh -c SCRIPT locally; its stdout. */
static char *run_sh(const char *script, int *status)
{
	char path[] = "/tmp/bs-dockerhost-test.XXXXXX";
	int fd = mkstemp(path);
	char *cmd;
	struct bs_buf out = BS_BUF_INIT;
	char buf[4096];
	size_t n;
	FILE *p;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, script, strlen(script)), (ssize_t)strlen(script));
	close(fd);
	cmd = bs_xasprintf("/bin/sh %s 2>/dev/null", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
		bs_buf_append(&out, buf, n);
	*status = pclose(p);
	unlink(path);
	free(cmd);
	return bs_buf_detach(&out);
}

/* sh -n: the script parses. */
static void expect_parses(const char *script)
{
	char path[] = "/tmp/bs-dockerhost-syntax.XXXXXX";
	int fd = mkstemp(path), status;
	char *cmd;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, script, strlen(script)), (ssize_t)strlen(script));
	close(fd);
	cmd = bs_xasprintf("/bin/sh -n %s", path);
	status = system(cmd);
	unlink(path);
	free(cmd);
	if (status != 0)
		fail_msg("sh -n refused the script:\n%s", script);
}

/* ---- canonical ---- */

static void test_canonical_form(void **state)
{
	char *out;

	(void)state;
	out = canon("{\"b\":1,\"a\":{\"z\":[1,\"x\",true,null],\"y\":{}},\"c\":[]}");
	assert_string_equal(out, "{\n"
				 "  \"a\": {\n"
				 "    \"y\": {},\n"
				 "    \"z\": [\n"
				 "      1,\n"
				 "      \"x\",\n"
				 "      true,\n"
				 "      null\n"
				 "    ]\n"
				 "  },\n"
				 "  \"b\": 1,\n"
				 "  \"c\": []\n"
				 "}\n");
	free(out);
	out = canon("  {}  \n");
	assert_string_equal(out, "{}\n");
	free(out);
	/* a duplicated key keeps its last value, as dockerd reads it */
	out = canon("{\"debug\":false,\"a\":1,\"debug\":true}");
	assert_string_equal(out, "{\n  \"a\": 1,\n  \"debug\": true\n}\n");
	free(out);
	/* numbers: integers plain, fractions round-trip */
	out = canon("{\"a\":1e3,\"b\":0.1,\"c\":-2,\"d\":1.5e-7,\"e\":123456789012}");
	assert_string_equal(
		out,
		"{\n  \"a\": 1000,\n  \"b\": 0.1,\n  \"c\": -2,\n  \"d\": 1.5e-07,\n  \"e\": 123456789012\n}\n");
	free(out);
	/* escapes, and UTF-8 kept as is */
	out = canon("{\"s\":\"q\\\"b\\\\n\\n\\t\\u0001\xc3\xa9\"}");
	assert_string_equal(out, "{\n  \"s\": \"q\\\"b\\\\n\\n\\t\\u0001\xc3\xa9\"\n}\n");
	free(out);
}

static void test_canonical_is_stable(void **state)
{
	const char *inputs[] = {
		"{\"z\":{\"b\":[{\"y\":1,\"x\":2}],\"a\":\"s\"},\"log-opts\":{\"max-size\":\"10m\"}}",
		"{\"labels\":[\"b=1\",\"a=2\"],\"debug\":true,\"n\":3.25}",
		"{}",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		char *once = canon(inputs[i]);
		char *twice = canon(once);

		assert_string_equal(once, twice);
		free(once);
		free(twice);
	}
}

static void test_canonical_refuses(void **state)
{
	struct bs_err err = BS_ERR_INIT;
	char *out = NULL;
	const char nul[] = "{\"a\":1}\0x";

	(void)state;
	assert_int_equal(bs_daemon_json_canonical("[1,2]", 5, &out, &err), BS_ERR_INVALID);
	assert_non_null(strstr(err.msg, "not a JSON object"));
	assert_null(out);
	assert_int_equal(bs_daemon_json_canonical("{\n  \"a\": tru\n}", 14, &out, &err),
			 BS_ERR_INVALID);
	assert_non_null(strstr(err.msg, "line 2"));
	assert_int_equal(bs_daemon_json_canonical("{} {}", 5, &out, &err), BS_ERR_INVALID);
	assert_non_null(strstr(err.msg, "text after"));
	assert_int_equal(bs_daemon_json_canonical("", 0, &out, &err), BS_ERR_INVALID);
	assert_int_equal(bs_daemon_json_canonical(nul, sizeof(nul) - 1, &out, &err),
			 BS_ERR_INVALID);
	assert_non_null(strstr(err.msg, "NUL"));
	assert_int_equal(bs_daemon_json_canonical("{\"a\":1e999}", 11, &out, &err), BS_ERR_INVALID);
	assert_null(out);
}

/* ---- merge ---- */

static void test_merge(void **state)
{
	char *out, *again;

	(void)state;
	/* no file on the node */
	out = merge(NULL, "{\"debug\":true}");
	assert_string_equal(out, "{\n  \"debug\": true\n}\n");
	free(out);
	/* the node's own keys stay; the recipe's replace whole values */
	out = merge("{\"log-opts\":{\"max-size\":\"1m\",\"max-file\":\"3\"},\"mtu\":1400}",
		    "{\"log-opts\":{\"max-size\":\"10m\"},\"debug\":true}");
	assert_string_equal(out, "{\n"
				 "  \"debug\": true,\n"
				 "  \"log-opts\": {\n"
				 "    \"max-size\": \"10m\"\n"
				 "  },\n"
				 "  \"mtu\": 1400\n"
				 "}\n");
	/* a second run over what we wrote: byte for byte the same */
	again = merge(out, "{\"log-opts\":{\"max-size\":\"10m\"},\"debug\":true}");
	assert_string_equal(out, again);
	free(again);
	free(out);
	/* null removes a key; duplicates on the node are all replaced */
	out = merge("{\"debug\":false,\"debug\":false,\"mtu\":1400}",
		    "{\"debug\":true,\"mtu\":null,\"gone\":null}");
	assert_string_equal(out, "{\n  \"debug\": true\n}\n");
	free(out);
	/* nothing to merge: the node's file, canonical */
	out = merge("{\"b\":1,  \"a\":2}", NULL);
	assert_string_equal(out, "{\n  \"a\": 2,\n  \"b\": 1\n}\n");
	free(out);
	/* an empty or blank file is an empty object */
	out = merge(" \n", "{}");
	assert_string_equal(out, "{}\n");
	free(out);
}

static void test_merge_refuses_broken_node_file(void **state)
{
	struct bs_err err = BS_ERR_INIT;
	char *out = NULL;
	const char *broken = "{\n  \"debug\": true,\n}\n";

	(void)state;
	assert_int_equal(
		bs_daemon_json_merge(broken, strlen(broken), "{\"debug\":true}", &out, &err),
		BS_ERR_INVALID);
	assert_null(out);
	assert_non_null(strstr(err.msg, "/etc/docker/daemon.json on the node"));
	assert_non_null(strstr(err.msg, "line 3"));
	assert_int_equal(bs_daemon_json_merge("[]", 2, NULL, &out, &err), BS_ERR_INVALID);
	assert_non_null(strstr(err.msg, "not a JSON object"));
}

/* ---- validation ---- */

static void test_validate_accepts(void **state)
{
	(void)state;
	expect_valid_daemon(NULL);
	expect_valid_daemon("{}");
	expect_valid_daemon(
		"{\"debug\":true,\"live-restore\":false,\"log-driver\":\"local\","
		"\"log-opts\":{\"max-size\":\"10m\",\"max-file\":\"3\"},"
		"\"labels\":[\"env=prod\"],\"data-root\":\"/srv/docker\","
		"\"registry-mirrors\":[\"https://mirror.example\"],\"mtu\":1400,"
		"\"default-address-pools\":[{\"base\":\"10.10.0.0/16\",\"size\":24}],"
		"\"runtimes\":{\"crun\":{\"path\":\"/usr/bin/crun\",\"runtimeArgs\":[\"--debug\"]}},"
		"\"features\":{\"buildkit\":true},\"log-level\":\"warn\",\"oom-score-adjust\":-500}");
	/* a key unlike any we know: a newer engine's, the daemon decides */
	expect_valid_daemon("{\"some-future-setting\":{\"x\":1}}");
	/* null: remove the key from the node's file */
	expect_valid_daemon("{\"debug\":null,\"hosts\":null}");
}

static void test_validate_refuses(void **state)
{
	(void)state;
	expect_invalid_daemon("[]", "not a JSON object");
	expect_invalid_daemon("{\"debug\":\"true\"}", "'debug' must be true or false");
	expect_invalid_daemon("{\"live-restore\":1}", "'live-restore' must be true or false");
	expect_invalid_daemon("{\"log-opts\":{\"max-file\":3}}",
			      "'log-opts.max-file' must be a string");
	expect_invalid_daemon("{\"log-opts\":[\"a\"]}", "'log-opts' must be a map");
	expect_invalid_daemon("{\"labels\":\"a=b\"}", "'labels' must be a list of strings");
	expect_invalid_daemon("{\"labels\":[\"a=b\",3]}", "'labels' must be a list of strings");
	expect_invalid_daemon("{\"labels\":[\"a=b\",\"nolabel\"]}", "key=value, not 'nolabel'");
	expect_invalid_daemon("{\"labels\":[\"=x\"]}", "key=value");
	expect_invalid_daemon("{\"registry-mirrors\":[\"mirror.example\"]}", "URLs like https://");
	expect_invalid_daemon("{\"hosts\":[\"tcp://0.0.0.0:2375\"]}", "SSH tunnel");
	expect_invalid_daemon("{\"hosts\":[]}", "docker.endpoint: tls");
	expect_invalid_daemon("{\"tlsverify\":true}", "bootstrap manages the TLS settings");
	expect_invalid_daemon("{\"tlscert\":\"/x\"}", "bootstrap manages the TLS settings");
	expect_invalid_daemon("{\"pidfile\":\"/run/d.pid\"}", "/var/run/docker.pid");
	expect_invalid_daemon("{\"data-root\":\"srv/docker\"}", "absolute path");
	expect_invalid_daemon("{\"data-root\":7}", "absolute path");
	expect_invalid_daemon("{\"mtu\":-1}", "non-negative whole number");
	expect_invalid_daemon("{\"mtu\":1.5}", "whole number");
	expect_invalid_daemon("{\"log-level\":\"verbose\"}", "debug, info, warn, error, fatal");
	expect_invalid_daemon("{\"log-driverr\":\"local\"}", "did you mean 'log-driver'");
	expect_invalid_daemon("{\"live_restore\":true}", "did you mean 'live-restore'");
	expect_invalid_daemon("{\"default-address-pools\":[{\"base\":\"10.0.0.0/8\"}]}",
			      "default-address-pools");
	expect_invalid_daemon("{\"runtimes\":{\"x\":{\"runtimeArgs\":[]}}}", "'runtimes'");
	expect_invalid_daemon("{\"features\":{\"buildkit\":\"yes\"}}",
			      "'features.buildkit' must be true or false");
	expect_invalid_daemon("{\"debug\":tru}", "not valid JSON");
}

/* ---- classify ---- */

static void test_classify(void **state)
{
	struct bs_strv changed = BS_STRV_INIT;

	(void)state;
	assert_int_equal(bs_daemon_json_classify("{\"debug\":true}", "{\"debug\":true}", NULL),
			 BS_DAEMON_NONE);
	/* formatting and order are not changes */
	assert_int_equal(bs_daemon_json_classify("{\"a\":1,\"debug\":true}",
						 "{\n  \"debug\": true,\n  \"a\": 1\n}\n", NULL),
			 BS_DAEMON_NONE);
	assert_int_equal(bs_daemon_json_classify(NULL, "{}", NULL), BS_DAEMON_NONE);
	assert_int_equal(bs_daemon_json_classify(NULL, "{\"debug\":true}", NULL), BS_DAEMON_RELOAD);
	assert_int_equal(bs_daemon_json_classify("{\"debug\":false}", "{\"debug\":true}", NULL),
			 BS_DAEMON_RELOAD);
	assert_int_equal(
		bs_daemon_json_classify("{\"labels\":[\"a\"]}",
					"{\"labels\":[\"a\",\"b\"],"
					"\"insecure-registries\":[\"r:5000\"],"
					"\"live-restore\":true,\"max-concurrent-downloads\":5}",
					NULL),
		BS_DAEMON_RELOAD);
	assert_int_equal(bs_daemon_json_classify("{}", "{\"log-driver\":\"local\"}", NULL),
			 BS_DAEMON_RESTART);
	assert_int_equal(bs_daemon_json_classify("{\"log-opts\":{\"max-size\":\"1m\"}}",
						 "{\"log-opts\":{\"max-size\":\"2m\"}}", NULL),
			 BS_DAEMON_RESTART);
	/* dockerd keeps a reloadable key's value when the key disappears */
	assert_int_equal(bs_daemon_json_classify("{\"debug\":true}", "{}", NULL),
			 BS_DAEMON_RESTART);
	/* one restart key among reloadable ones: restart; the changed keys, sorted */
	assert_int_equal(
		bs_daemon_json_classify("{\"debug\":false,\"mtu\":1500,\"x\":1}",
					"{\"x\":1,\"storage-driver\":\"vfs\",\"debug\":true,"
					"\"mtu\":1500}",
					&changed),
		BS_DAEMON_RESTART);
	assert_int_equal(changed.n, 2);
	assert_string_equal(changed.v[0], "debug");
	assert_string_equal(changed.v[1], "storage-driver");
	bs_strv_free(&changed);
	/* what we cannot read, we restart for */
	assert_int_equal(bs_daemon_json_classify("{broken", "{}", NULL), BS_DAEMON_RESTART);
	assert_true(bs_daemon_json_key_reloadable("registry-mirrors"));
	assert_false(bs_daemon_json_key_reloadable("features"));
	assert_false(bs_daemon_json_key_reloadable("data-root"));
	assert_string_equal(bs_daemon_action_name(BS_DAEMON_RELOAD), "reload");
}

/* ---- detection parser ---- */

static char *b64(const char *s)
{
	return bs_base64_encode(s, strlen(s), false);
}

static const char os_release_debian[] = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"
					"NAME=\"Debian GNU/Linux\"\n"
					"VERSION_ID=\"12\"\n"
					"VERSION=\"12 (bookworm)\"\n"
					"VERSION_CODENAME=bookworm\n"
					"ID=debian\n"
					"HOME_URL=\"https://www.debian.org/\"\n";

static void test_parse_facts_good(void **state)
{
	struct bs_dockerhost_facts f;
	struct bs_err err = BS_ERR_INIT;
	char *os = b64(os_release_debian), *dj = b64("{\n  \"debug\": true\n}\n");
	char *out = bs_xasprintf(
		"Welcome to the node!\n"
		"bs-detect=1\n"
		"uid=0\n"
		"user=alice\n"
		"sudo=1\n"
		"os-release=%s\n"
		"apt=1\n"
		"docker=/usr/bin/docker\n"
		"dockerd=/usr/sbin/dockerd\n"
		"pid=4242\n"
		"log=/var/log/dockerd.log\n"
		"version=20.10.24+dfsg1\n"
		"daemon-json=%s\n"
		"tls-ca=%s\n"
		"stray=77\n"
		"curl=1\n"
		"end=1\n"
		"pid=1\n",
		os, dj, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");

	(void)state;
	assert_int_equal(bs_dockerhost_parse_facts(out, strlen(out), &f, &err), 0);
	assert_int_equal(f.uid, 0);
	assert_string_equal(f.user, "alice");
	assert_int_equal(f.sudo, BS_SUDO_OK);
	assert_string_equal(f.os_id, "debian");
	assert_string_equal(f.os_version, "12");
	assert_string_equal(f.os_codename, "bookworm");
	assert_string_equal(f.os_name, "Debian GNU/Linux 12 (bookworm)");
	assert_true(f.apt);
	assert_false(f.systemd);
	assert_string_equal(f.docker_path, "/usr/bin/docker");
	assert_string_equal(f.dockerd_path, "/usr/sbin/dockerd");
	assert_int_equal(f.pid, 4242); /* what follows end= is not read */
	assert_string_equal(f.log_path, "/var/log/dockerd.log");
	assert_string_equal(f.engine_version, "20.10.24+dfsg1");
	assert_true(f.daemon_json_exists);
	assert_int_equal(f.daemon_json_len, strlen("{\n  \"debug\": true\n}\n"));
	assert_string_equal(f.daemon_json, "{\n  \"debug\": true\n}\n");
	assert_string_equal(f.tls_sha256[0],
			    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	assert_string_equal(f.tls_sha256[1], "");
	assert_int_equal(f.stray_pid, 77);
	assert_true(f.curl);
	assert_true(bs_dockerhost_os_supported(&f));
	bs_dockerhost_facts_free(&f);
	free(out);
	free(os);
	free(dj);
}

static void test_parse_facts_hostile(void **state)
{
	struct bs_dockerhost_facts f;
	struct bs_err err = BS_ERR_INIT;
	char *out;
	char big[3000];

	(void)state;
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	out = bs_xasprintf("bs-detect=1\r\n"
			   "uid=0\r\n"
			   "user=%s\n"
			   "docker=docker $(reboot)\n"
			   "dockerd=/usr/sbin/dockerd; rm -rf /\n"
			   "log=relative/path\n"
			   "version=20.10`id`\n"
			   "pid=\n"
			   "no equals sign here\n"
			   "=empty key\n"
			   "unknown-key=whatever\n"
			   "user2=\x01\x02\xff\n"
			   "end=1\n",
			   big);
	assert_int_equal(bs_dockerhost_parse_facts(out, strlen(out), &f, &err), 0);
	assert_int_equal(strlen(f.user), sizeof(f.user) - 1); /* bounded */
	assert_string_equal(f.docker_path, "");		      /* not an absolute path */
	assert_string_equal(f.dockerd_path, "");	      /* not a safe one */
	assert_string_equal(f.log_path, "");
	assert_string_equal(f.engine_version, "");
	assert_int_equal(f.pid, 0);
	assert_false(f.daemon_json_exists);
	assert_null(f.daemon_json);
	bs_dockerhost_facts_free(&f);
	free(out);

	/* non-printable bytes never reach our strings */
	out = bs_xasprintf("bs-detect=1\nuid=0\nuser=a\x1b[31mb\xc3\xa9\nend=1\n");
	assert_int_equal(bs_dockerhost_parse_facts(out, strlen(out), &f, &err), 0);
	assert_string_equal(f.user, "a?[31mb??");
	bs_dockerhost_facts_free(&f);
	free(out);
}

static void expect_protocol(const char *out, const char *phrase)
{
	struct bs_dockerhost_facts f;
	struct bs_err err = BS_ERR_INIT;

	if (bs_dockerhost_parse_facts(out, strlen(out), &f, &err) != BS_ERR_PROTOCOL)
		fail_msg("expected a protocol error for: %s", out);
	if (strstr(err.msg, phrase) == NULL)
		fail_msg("message lacks \"%s\": %s", phrase, err.msg);
	bs_dockerhost_facts_free(&f);
}

static void test_parse_facts_broken(void **state)
{
	(void)state;
	expect_protocol("", "nothing we recognise");
	expect_protocol("sh: 1: base64: not found\n", "nothing we recognise");
	expect_protocol("bs-detect=1\nuid=0\ndocker=/usr/bin/docker\n", "cut short");
	expect_protocol("bs-detect=1\nuid=0\ndaemon-json=eyJk", "cut short");
	expect_protocol("bs-detect=1\nuid=root\nend=1\n", "'uid'");
	expect_protocol("bs-detect=1\nuid=-1\nend=1\n", "'uid'");
	expect_protocol("bs-detect=1\nuid=99999999999999999999\nend=1\n", "'uid'");
	expect_protocol("bs-detect=1\nuid=0\npid=12x\nend=1\n", "'pid'");
	expect_protocol("bs-detect=1\nuid=0\npid=0\nend=1\n", "'pid'");
	expect_protocol("bs-detect=1\nuid=0\nstray=-3\nend=1\n", "'stray'");
	expect_protocol("bs-detect=1\nuid=0\ndaemon-json=not base64!\nend=1\n", "'daemon-json'");
	expect_protocol("bs-detect=1\nuid=0\nos-release=@@@@\nend=1\n", "'os-release'");
	expect_protocol("bs-detect=1\nuid=0\ntls-key=abc\nend=1\n", "'tls-key'");
	expect_protocol("bs-detect=1\nuid=0\ntls-dropin=x\nend=1\n", "'tls-dropin'");
	expect_protocol("bs-detect=1\nend=1\n", "uid");
	expect_protocol("bs-detect=2\nuid=0\nend=1\n", "nothing we recognise");
}

static void test_parse_facts_empty_daemon_json(void **state)
{
	struct bs_dockerhost_facts f;
	struct bs_err err = BS_ERR_INIT;
	const char *out = "bs-detect=1\nuid=0\ndaemon-json=\nend=1\n";

	(void)state;
	assert_int_equal(bs_dockerhost_parse_facts(out, strlen(out), &f, &err), 0);
	assert_true(f.daemon_json_exists);
	assert_int_equal(f.daemon_json_len, 0);
	bs_dockerhost_facts_free(&f);
}

static void expect_sudo(const char *message, enum bs_dockerhost_sudo kind)
{
	struct bs_dockerhost_facts f;
	struct bs_err err = BS_ERR_INIT;
	char *m = b64(message);
	char *out = bs_xasprintf("bs-sudo-failed=bob\nbs-sudo-error=%s\n", m);

	assert_int_equal(bs_dockerhost_parse_facts(out, strlen(out), &f, &err), 0);
	assert_int_equal(f.sudo, kind);
	assert_string_equal(f.user, "bob");
	assert_non_null(strstr(f.sudo_error, "sudo"));
	assert_null(strchr(f.sudo_error, '\n'));
	bs_dockerhost_facts_free(&f);
	free(out);
	free(m);
}

static void test_parse_sudo_failures(void **state)
{
	(void)state;
	expect_sudo("sudo: a password is required\n", BS_SUDO_PASSWORD);
	expect_sudo("bob is not in the sudoers file.  This incident will be reported.\n"
		    "sudo: no",
		    BS_SUDO_DENIED);
	expect_sudo("sh: 1: sudo: not found", BS_SUDO_MISSING);
	expect_sudo("sudo: unable to resolve host", BS_SUDO_FAILED);
}

static void test_os_release(void **state)
{
	struct bs_dockerhost_facts f;
	const char *ubuntu = "# comment\n"
			     "  ID=ubuntu\r\n"
			     "ID_LIKE=debian\r\n"
			     "VERSION_ID=\"22.04\"\r\n"
			     "UBUNTU_CODENAME=jammy\r\n"
			     "PRETTY_NAME='Ubuntu 22.04.3 LTS'\r\n";
	const char *mint = "ID=linuxmint\nID_LIKE=\"ubuntu debian\"\nVERSION_CODENAME=vera\n";
	const char *alpine = "ID=alpine\nVERSION_ID=3.19.0\nPRETTY_NAME=\"Alpine Linux v3.19\"\n";
	const char *fake = "ID=notdebian\nID_LIKE=\"debianish fedora\"\n";
	const char *escapes = "PRETTY_NAME=\"My \\\"quoted\\\" \\$OS\\\\ \x07\"\nID=x";

	(void)state;
	memset(&f, 0, sizeof(f));
	bs_dockerhost_parse_os_release(ubuntu, strlen(ubuntu), &f);
	assert_string_equal(f.os_id, "ubuntu");
	assert_string_equal(f.os_version, "22.04");
	assert_string_equal(f.os_codename, "jammy");
	assert_string_equal(f.os_name, "Ubuntu 22.04.3 LTS");
	assert_true(bs_dockerhost_os_supported(&f));
	memset(&f, 0, sizeof(f));
	bs_dockerhost_parse_os_release(mint, strlen(mint), &f);
	assert_true(bs_dockerhost_os_supported(&f));
	assert_string_equal(f.os_codename, "vera");
	memset(&f, 0, sizeof(f));
	bs_dockerhost_parse_os_release(alpine, strlen(alpine), &f);
	assert_false(bs_dockerhost_os_supported(&f));
	memset(&f, 0, sizeof(f));
	bs_dockerhost_parse_os_release(fake, strlen(fake), &f);
	assert_false(bs_dockerhost_os_supported(&f));
	memset(&f, 0, sizeof(f));
	bs_dockerhost_parse_os_release(escapes, strlen(escapes), &f);
	assert_string_equal(f.os_name, "My \"quoted\" $OS\\ ?");
	assert_string_equal(f.os_id, "x");
	/* truncated in the middle of a quoted value: what is there, bounded */
	memset(&f, 0, sizeof(f));
	bs_dockerhost_parse_os_release("ID=\"debi", 8, &f);
	assert_string_equal(f.os_id, "debi");
	memset(&f, 0, sizeof(f));
	bs_dockerhost_parse_os_release("", 0, &f);
	assert_string_equal(f.os_id, "");
	assert_false(bs_dockerhost_os_supported(&f));
}

/* ---- packages and scripts ---- */

static void test_check_package(void **state)
{
	struct bs_err err = BS_ERR_INIT;

	(void)state;
	assert_int_equal(bs_dockerhost_check_package("docker.io", NULL, &err), 0);
	assert_int_equal(
		bs_dockerhost_check_package("docker-ce", "5:24.0.7-1~debian.12~bookworm", &err), 0);
	assert_int_equal(
		bs_dockerhost_check_package("docker.io", "20.10.24+dfsg1-1+deb12u1+b6", &err), 0);
	assert_int_equal(bs_dockerhost_check_package("x'; touch /tmp/owned; '", NULL, &err),
			 BS_ERR_INVALID);
	assert_non_null(strstr(err.msg, "is not a Debian package name"));
	assert_int_equal(bs_dockerhost_check_package("Docker.io", NULL, &err), BS_ERR_INVALID);
	assert_int_equal(bs_dockerhost_check_package("d", NULL, &err), BS_ERR_INVALID);
	assert_int_equal(bs_dockerhost_check_package("-docker", NULL, &err), BS_ERR_INVALID);
	assert_int_equal(bs_dockerhost_check_package("", NULL, &err), BS_ERR_INVALID);
	assert_int_equal(bs_dockerhost_check_package("docker.io", "1.0; rm -rf /", &err),
			 BS_ERR_INVALID);
	assert_non_null(strstr(err.msg, "is not a Debian package version"));
	assert_non_null(strstr(err.msg, "apt-cache policy docker.io"));
	assert_int_equal(bs_dockerhost_check_package("docker.io", "latest", &err), BS_ERR_INVALID);
	assert_int_equal(bs_dockerhost_check_package("docker.io", "1:2:3", &err), BS_ERR_INVALID);
	assert_int_equal(bs_dockerhost_check_package("docker.io", ":1.0", &err), BS_ERR_INVALID);
	assert_int_equal(bs_dockerhost_check_package("docker.io", "a:1.0", &err), BS_ERR_INVALID);
	assert_int_equal(bs_dockerhost_check_package("docker.io", "1.0-", &err), BS_ERR_INVALID);
	assert_int_equal(bs_dockerhost_check_package("docker.io", "1.0$(id)", &err),
			 BS_ERR_INVALID);
}

static void test_install_script(void **state)
{
	struct bs_docker_conf conf;
	struct bs_err err = BS_ERR_INIT;
	char *script = NULL;

	(void)state;
	memset(&conf, 0, sizeof(conf));
	conf.package = (char *)"docker.io";
	conf.version = (char *)"20.10.24+dfsg1-1+deb12u1";
	assert_int_equal(bs_dockerhost_install_script(&conf, &script, &err), 0);
	assert_non_null(strstr(script, "pkg='docker.io=20.10.24+dfsg1-1+deb12u1'\n"));
	/* Debian 13's docker.io leaves its CLI to docker-cli, of the same version */
	assert_non_null(strstr(script, "cli='docker-cli=20.10.24+dfsg1-1+deb12u1'\n"));
	assert_non_null(strstr(script, "apt-get -q -o DPkg::Lock::Timeout=60"));
	assert_non_null(strstr(script, "--no-install-recommends \"$pkg\""));
	assert_non_null(strstr(script, "DEBIAN_FRONTEND=noninteractive"));
	assert_non_null(strstr(script, "printf 'bs-detect=1\\n'")); /* detection follows */
	expect_parses(script);
	free(script);
	/* default package */
	conf.package = NULL;
	conf.version = NULL;
	assert_int_equal(bs_dockerhost_install_script(&conf, &script, &err), 0);
	assert_non_null(strstr(script, "pkg='docker.io'\n"));
	assert_non_null(strstr(script, "cli='docker-cli'\n"));
	free(script);
	conf.package = (char *)"docker-ce";
	assert_int_equal(bs_dockerhost_install_script(&conf, &script, &err), 0);
	assert_non_null(strstr(script, "cli='docker-ce-cli'\n"));
	free(script);
	conf.package = (char *)"moby-engine";
	assert_int_equal(bs_dockerhost_install_script(&conf, &script, &err), 0);
	assert_non_null(strstr(script, "cli=''\n"));
	free(script);
	/* hostile values never make it into a script */
	conf.package = (char *)"x'; touch /tmp/owned; '";
	assert_int_equal(bs_dockerhost_install_script(&conf, &script, &err), BS_ERR_INVALID);
	assert_null(script);
	conf.package = (char *)"docker.io";
	conf.version = (char *)"1' ; touch /tmp/owned ; '";
	assert_int_equal(bs_dockerhost_install_script(&conf, &script, &err), BS_ERR_INVALID);
	assert_null(script);
}

static void test_wrap_runs_script_verbatim(void **state)
{
	const char *script = "printf '%s|' \"it's\" '$(touch /tmp/bs-owned)' \"`id`\"\n"
			     "printf '%s\\n' \"two\nlines\"";
	char *cmd = bs_dockerhost_wrap(script, false);
	char *out;
	int status;

	(void)state;
	unlink("/tmp/bs-owned");
	out = run_sh(cmd, &status);
	assert_int_equal(status, 0);
	assert_non_null(strstr(out, "it's|$(touch /tmp/bs-owned)|"));
	assert_non_null(strstr(out, "two\nlines\n"));
	assert_int_equal(access("/tmp/bs-owned", F_OK), -1);
	free(out);
	free(cmd);
	/* the sudo variant parses too */
	cmd = bs_dockerhost_wrap(script, true);
	expect_parses(cmd);
	free(cmd);
}

static void test_apply_script_quotes(void **state)
{
	struct bs_dockerhost_apply a;
	char *script;

	(void)state;
	memset(&a, 0, sizeof(a));
	a.dockerd = "/opt/it's here/dockerd";
	a.new_conf = "/tmp/.bootstrap-daemon-json-0011223344556677";
	a.step = BS_STEP_RESTART;
	a.ready_timeout_ms = 30000;
	a.stop_timeout_ms = 20000;
	script = bs_dockerhost_apply_script(&a);
	assert_non_null(strstr(script, "DOCKERD='/opt/it'\\''s here/dockerd'\n"));
	assert_non_null(strstr(script, "NEW='/tmp/.bootstrap-daemon-json-0011223344556677'\n"));
	assert_non_null(strstr(script, "STEP=restart\n"));
	assert_non_null(strstr(script, "READY_MS=30000\n"));
	assert_non_null(strstr(script, "STOP_MS=20000\n"));
	assert_non_null(strstr(script, "SYSTEMD=0\n"));
	assert_non_null(strstr(script, "ENABLE=0\n"));
	assert_non_null(strstr(script, "daemon.json.bootstrap-prev"));
	assert_non_null(strstr(script, "setsid nohup \"$DOCKERD\""));
	expect_parses(script);
	free(script);
	a.systemd = true;
	a.enable_unit = true;
	a.new_conf = NULL;
	a.step = BS_STEP_START;
	script = bs_dockerhost_apply_script(&a);
	assert_non_null(strstr(script, "NEW=''\n"));
	assert_non_null(strstr(script, "ENABLE=1\n"));
	assert_non_null(strstr(script, "systemctl enable --now docker"));
	expect_parses(script);
	free(script);
}

static void test_tls_listener(void **state)
{
	struct bs_dockerhost_apply a;
	char *json = bs_dockerhost_tls_daemon_json(2376), *canonical, *dropin, *script;

	(void)state;
	/* our keys go into daemon.json past the recipe's validation */
	canonical = canon(json);
	assert_non_null(strstr(canonical, "\"tcp://0.0.0.0:2376\""));
	assert_non_null(strstr(canonical, "\"unix:///var/run/docker.sock\""));
	assert_non_null(strstr(canonical, "\"tlsverify\": true"));
	assert_non_null(strstr(canonical, "\"tlskey\": \"/etc/docker/tls/key.pem\""));
	assert_int_equal(bs_daemon_json_classify(NULL, json, NULL), BS_DAEMON_RESTART);
	free(canonical);
	free(json);
	dropin = bs_dockerhost_tls_dropin("/usr/sbin/dockerd", 12376, true);
	assert_non_null(strstr(dropin,
			       "[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd -H fd:// "
			       "-H tcp://0.0.0.0:12376 --tlsverify"));
	assert_non_null(
		strstr(dropin, "--containerd=/run/containerd/containerd.sock $DOCKER_OPTS\n"));
	free(dropin);
	dropin = bs_dockerhost_tls_dropin("/usr/bin/dockerd", 2376, false);
	assert_null(strstr(dropin, "--containerd"));
	free(dropin);
	memset(&a, 0, sizeof(a));
	a.dockerd = "/usr/sbin/dockerd";
	a.systemd = true;
	a.step = BS_STEP_RESTART;
	a.tls_tmp[0] = "/tmp/.bootstrap-tls-00";
	a.tls_tmp[2] = "/tmp/.bootstrap-tls-key-'x";
	a.tls_dropin = "/tmp/.bootstrap-tls-dropin-01";
	script = bs_dockerhost_apply_script(&a);
	assert_non_null(strstr(script, "TLS_CA='/tmp/.bootstrap-tls-00'\n"));
	assert_non_null(strstr(script, "TLS_CERT=''\n"));
	assert_non_null(strstr(script, "TLS_KEY='/tmp/.bootstrap-tls-key-'\\''x'\n"));
	assert_non_null(strstr(script, "DROPIN='/tmp/.bootstrap-tls-dropin-01'\n"));
	assert_non_null(strstr(script, "/key.pem 0600"));
	expect_parses(script);
	free(script);
}

/* The detection script runs here as it would on a node, and its output
 * parses: this machine is a Debian with a dockerd, but the test only
 * relies on what every Linux has. */
static void test_detect_script_runs_locally(void **state)
{
	struct bs_dockerhost_facts f;
	struct bs_err err = BS_ERR_INIT;
	char *cmd = bs_dockerhost_wrap(bs_dockerhost_detect_script(true), false);
	char *out;
	int status;

	(void)state;
	expect_parses(bs_dockerhost_detect_script(true));
	expect_parses(bs_dockerhost_detect_script(false));
	out = run_sh(cmd, &status);
	assert_int_equal(status, 0);
	if (bs_dockerhost_parse_facts(out, strlen(out), &f, &err) != 0)
		fail_msg("%s\n%s", err.msg, out);
	assert_int_equal(f.uid, (long)geteuid());
	if (access("/etc/os-release", R_OK) == 0) {
		/* the shell's line-by-line reading gives what the C parser
		 * reads from the whole file */
		struct bs_dockerhost_facts whole;
		char text[16384];
		FILE *fp = fopen("/etc/os-release", "r");
		size_t n;

		assert_non_null(fp);
		n = fread(text, 1, sizeof(text), fp);
		fclose(fp);
		memset(&whole, 0, sizeof(whole));
		bs_dockerhost_parse_os_release(text, n, &whole);
		assert_true(f.os_release);
		assert_true(f.os_id[0] != '\0');
		assert_string_equal(f.os_id, whole.os_id);
		assert_string_equal(f.os_version, whole.os_version);
		assert_string_equal(f.os_codename, whole.os_codename);
		assert_string_equal(f.os_like, whole.os_like);
		assert_string_equal(f.os_name, whole.os_name);
	}
	{ /* the default route's interface, as /proc/net/route has it */
		FILE *rt = fopen("/proc/net/route", "r");
		char line[256], ifc[64], dst[64], want[64] = "";

		while (rt != NULL && fgets(line, sizeof(line), rt) != NULL && want[0] == '\0')
			if (sscanf(line, "%63s %63s", ifc, dst) == 2 &&
			    strcmp(dst, "00000000") == 0)
				snprintf(want, sizeof(want), "%s", ifc);
		if (rt != NULL)
			fclose(rt);
		assert_string_equal(f.route_if, want);
	}
	if (f.pid != 0) { /* a dockerd runs here: its socket is seen */
		struct stat st;

		assert_int_equal(f.socket,
				 stat("/var/run/docker.sock", &st) == 0 && S_ISSOCK(st.st_mode));
	}
	bs_dockerhost_facts_free(&f);
	free(out);
	free(cmd);
}

/* What the detection prints now: os-release line by line, the socket. */
static void test_parse_facts_lines(void **state)
{
	struct bs_dockerhost_facts f;
	struct bs_err err = BS_ERR_INIT;
	const char *out = "bs-detect=1\n"
			  "uid=1000\n"
			  "os=PRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\n"
			  "os=ID=ubuntu\n"
			  "os=ID_LIKE=debian\n"
			  "os=UBUNTU_CODENAME=jammy\n"
			  "os=VERSION_ID=\"22.04\"\n"
			  "os=VERSION_CODENAME=\n"
			  "pid=12\n"
			  "sock=1\n"
			  "route-if=ens3\n"
			  "ipvs=1\n"
			  "end=1\n";
	const char *odd = "bs-detect=1\nuid=0\nroute-if=eth0; rm -rf /\nipvs=yes\nend=1\n";

	(void)state;
	assert_int_equal(bs_dockerhost_parse_facts(out, strlen(out), &f, &err), 0);
	assert_int_equal(f.uid, 1000);
	assert_string_equal(f.os_id, "ubuntu");
	assert_string_equal(f.os_like, "debian");
	assert_string_equal(f.os_version, "22.04");
	assert_string_equal(f.os_codename, "jammy");
	assert_string_equal(f.os_name, "Ubuntu 22.04.4 LTS");
	assert_true(f.os_release);
	assert_true(f.socket);
	assert_string_equal(f.engine_version, "");
	assert_string_equal(f.route_if, "ens3");
	assert_true(f.ipvs);
	bs_dockerhost_facts_free(&f);
	/* an interface name that is not a plain one is dropped, not passed on */
	assert_int_equal(bs_dockerhost_parse_facts(odd, strlen(odd), &f, &err), 0);
	assert_string_equal(f.route_if, "");
	assert_false(f.ipvs);
	bs_dockerhost_facts_free(&f);
}

/* The ESP probe's answer and the addresses with their interfaces' MTU:
 * bounded, and a line that does not read as one is skipped. */
static void test_parse_facts_esp_addrs(void **state)
{
	struct bs_dockerhost_facts f;
	struct bs_err err = BS_ERR_INIT;
	struct bs_buf many = BS_BUF_INIT;
	/* "Error: Requested type not found." */
	const char *out = "bs-detect=1\nuid=0\nroute-if=eth0\n"
			  "esp=0\nesp-error=RXJyb3I6IFJlcXVlc3RlZCB0eXBlIG5vdCBmb3VuZC4K\n"
			  "addr=eth0 1500 203.0.113.7/24 1\n"
			  "addr=enp7s0 1450 10.0.0.2/32 0\n"
			  "addr=eth0 1500 2a01:4f8::1/64\n"
			  "addr=eth1;rm 1500 10.0.0.3/8\n" /* not a plain name */
			  "addr=eth2 huge 10.0.0.4/8\n"	   /* not a number */
			  "addr=eth3 1500 not-an-address\n"
			  "addr=eth4 1500\n"
			  "end=1\n";

	(void)state;
	assert_int_equal(bs_dockerhost_parse_facts(out, strlen(out), &f, &err), 0);
	assert_int_equal(f.esp, BS_ESP_NO);
	assert_string_equal(f.esp_error, "Error: Requested type not found. ");
	assert_int_equal(f.n_addrs, 3);
	assert_string_equal(f.addrs[0].ifname, "eth0");
	assert_int_equal(f.addrs[0].mtu, 1500);
	assert_string_equal(f.addrs[0].addr, "203.0.113.7");
	assert_true(f.addrs[0].phys);
	assert_false(f.addrs[1].phys);
	assert_false(f.addrs[2].phys); /* an older script: no field */
	assert_string_equal(f.addrs[1].ifname, "enp7s0");
	assert_int_equal(f.addrs[1].mtu, 1450);
	assert_string_equal(f.addrs[1].addr, "10.0.0.2");
	assert_string_equal(f.addrs[2].addr, "2a01:4f8::1");
	bs_dockerhost_facts_free(&f);

	out = "bs-detect=1\nuid=0\nesp=1\nend=1\n";
	assert_int_equal(bs_dockerhost_parse_facts(out, strlen(out), &f, &err), 0);
	assert_int_equal(f.esp, BS_ESP_YES);
	bs_dockerhost_facts_free(&f);
	/* no unshare or ip on the node, or an older script: unknown */
	out = "bs-detect=1\nuid=0\nesp=?\nend=1\n";
	assert_int_equal(bs_dockerhost_parse_facts(out, strlen(out), &f, &err), 0);
	assert_int_equal(f.esp, BS_ESP_UNKNOWN);
	bs_dockerhost_facts_free(&f);
	out = "bs-detect=1\nuid=0\nend=1\n";
	assert_int_equal(bs_dockerhost_parse_facts(out, strlen(out), &f, &err), 0);
	assert_int_equal(f.esp, BS_ESP_UNKNOWN);
	assert_int_equal(f.n_addrs, 0);
	bs_dockerhost_facts_free(&f);

	/* at most BS_DOCKERHOST_MAX_ADDRS kept */
	bs_buf_puts(&many, "bs-detect=1\nuid=0\n");
	for (int i = 0; i < 100; i++)
		bs_buf_printf(&many, "addr=veth%d 1500 10.1.%d.1/24\n", i, i);
	bs_buf_puts(&many, "end=1\n");
	assert_int_equal(bs_dockerhost_parse_facts(many.data, many.len, &f, &err), 0);
	assert_int_equal(f.n_addrs, BS_DOCKERHOST_MAX_ADDRS);
	bs_dockerhost_facts_free(&f);
	bs_buf_free(&many);
}

/* The detection script carries the ESP probe (in a namespace of its own)
 * and the address listing, run only for a recipe with a cluster; an ip
 * without xfrm is an unknown answer, not a kernel without ESP. */
static void test_detect_script_probes(void **state)
{
	const char *s = bs_dockerhost_detect_script(true);
	const char *plain = bs_dockerhost_detect_script(false);

	(void)state;
	assert_true(bs_str_starts_with(s, "bs_cl=1\n"));
	assert_false(bs_str_starts_with(plain, "bs_cl=1"));
	assert_non_null(strstr(s, "*'is unknown'*"));
	assert_non_null(strstr(s, "/sys/class/net/$i/device"));
	assert_non_null(strstr(s, "unshare --net ip xfrm state add"));
	assert_non_null(strstr(s, "rfc4106(gcm(aes))"));
	assert_non_null(strstr(s, "ip -o addr show scope global"));
	assert_non_null(strstr(s, "head -n 32"));
}

/* systemd's view of docker.service: whether it is known, its main process */
static void test_parse_facts_unit(void **state)
{
	struct bs_dockerhost_facts f;
	struct bs_err err = BS_ERR_INIT;
	const char *out = "bs-detect=1\nuid=0\nsystemd=1\nunit-enabled=1\n"
			  "unit-LoadState=loaded\nunit-MainPID=321\npid=321\nend=1\n";
	const char *gone = "bs-detect=1\nuid=0\nsystemd=1\nunit-LoadState=not-found\n"
			   "unit-MainPID=0\npid=99\nend=1\n";
	const char *bad = "bs-detect=1\nuid=0\nunit-MainPID=12; reboot\nend=1\n";

	(void)state;
	assert_int_equal(bs_dockerhost_parse_facts(out, strlen(out), &f, &err), 0);
	assert_true(f.systemd);
	assert_true(f.unit_enabled);
	assert_true(f.unit_loaded);
	assert_int_equal(f.unit_pid, 321);
	assert_int_equal(f.pid, 321);
	bs_dockerhost_facts_free(&f);
	assert_int_equal(bs_dockerhost_parse_facts(gone, strlen(gone), &f, &err), 0);
	assert_false(f.unit_loaded);
	assert_int_equal(f.unit_pid, 0);
	bs_dockerhost_facts_free(&f);
	assert_int_equal(bs_dockerhost_parse_facts(bad, strlen(bad), &f, &err), BS_ERR_PROTOCOL);
	bs_dockerhost_facts_free(&f);
}

static void test_log_excerpt(void **state)
{
	const char *log =
		"time=\"2024-01-01T00:00:00Z\" level=info msg=\"Starting up\"\n"
		"time=\"2024-01-01T00:00:01Z\" level=info msg=\"[graphdriver] trying configured driver\"\n"
		"\n"
		"failed to start daemon: error initializing graphdriver: driver not supported\n";
	const char *logrus =
		"time=\"t\" level=info msg=\"Got signal to reload configuration\"\n"
		"time=\"t\" level=error msg=\"unable to configure the Docker daemon with file /etc/docker/daemon.json: the following directives don't match any configuration option: \\\"nope\\\"\\n\"\n"
		"time=\"t\" level=error msg=\"Handler for GET failed\" error=\"token hunter2 refused\"\n";
	char *out;
	char big[4000];

	(void)state;
	out = bs_dockerhost_log_excerpt(log, 500);
	assert_string_equal(
		out,
		"failed to start daemon: error initializing graphdriver: driver not supported");
	free(out);
	bs_secret_add("hunter2");
	out = bs_dockerhost_log_excerpt(logrus, 500);
	assert_non_null(strstr(out, "unable to configure the Docker daemon with file "
				    "/etc/docker/daemon.json: the following directives don't "
				    "match any configuration option: \"nope\""));
	assert_non_null(strstr(out, " / Handler for GET failed: token *** refused"));
	assert_null(strstr(out, "hunter2"));
	assert_null(strstr(out, "level="));
	assert_null(strchr(out, '\n'));
	free(out);
	bs_secret_clear();
	/* no error lines: the last ones; bounded */
	out = bs_dockerhost_log_excerpt("a\nb\nc\nd\n", 500);
	assert_string_equal(out, "b / c / d");
	free(out);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	out = bs_dockerhost_log_excerpt(big, 100);
	assert_true(strlen(out) <= 100);
	free(out);
	out = bs_dockerhost_log_excerpt("", 100);
	assert_string_equal(out, "");
	free(out);
}

/* A secret across the excerpt's cuts (240 per line, max in all) is masked
 * whole: none of it shows, not even its start. */
static void test_log_excerpt_masks_before_cut(void **state)
{
	static const char secret[] = "Tok3n/with+odd&chars=and-length-40-ish";
	char line[400];
	size_t at, max;
	char *out;

	(void)state;
	bs_secret_add(secret);
	for (at = 200; at < 250; at += 3) {
		for (max = 180; max <= 300; max += 40) {
			memset(line, 'e', at);
			snprintf(line + at, sizeof(line) - at, "%s error\n", secret);
			out = bs_dockerhost_log_excerpt(line, max);
			assert_true(strlen(out) <= max);
			for (size_t i = 0; i + 8 <= sizeof(secret) - 1; i++) {
				char part[9];

				memcpy(part, secret + i, 8);
				part[8] = '\0';
				assert_null(strstr(out, part));
			}
			free(out);
		}
	}
	bs_secret_clear();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_facts_esp_addrs),
		cmocka_unit_test(test_detect_script_probes),
		cmocka_unit_test(test_canonical_form),
		cmocka_unit_test(test_canonical_is_stable),
		cmocka_unit_test(test_canonical_refuses),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_merge_refuses_broken_node_file),
		cmocka_unit_test(test_validate_accepts),
		cmocka_unit_test(test_validate_refuses),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_parse_facts_good),
		cmocka_unit_test(test_parse_facts_hostile),
		cmocka_unit_test(test_parse_facts_broken),
		cmocka_unit_test(test_parse_facts_empty_daemon_json),
		cmocka_unit_test(test_parse_sudo_failures),
		cmocka_unit_test(test_os_release),
		cmocka_unit_test(test_check_package),
		cmocka_unit_test(test_install_script),
		cmocka_unit_test(test_parse_facts_unit),
		cmocka_unit_test(test_wrap_runs_script_verbatim),
		cmocka_unit_test(test_apply_script_quotes),
		cmocka_unit_test(test_tls_listener),
		cmocka_unit_test(test_detect_script_runs_locally),
		cmocka_unit_test(test_parse_facts_lines),
		cmocka_unit_test(test_log_excerpt),
		cmocka_unit_test(test_log_excerpt_masks_before_cut),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
