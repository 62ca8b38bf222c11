/*
 * detect_fuzz.c - libFuzzer target for the parser of the node detection's
 * output (provision/dockerhost.c, bs_dockerhost_parse_facts): the key=value
 * lines the detection script prints over SSH between "bs-detect=1" and
 * "end=1", with os-release lines, base64 values (daemon.json, sudo's
 * error) and numbers, or the "bs-sudo-failed=" lines of a refused sudo.
 * The node is untrusted: whatever it prints must give bounded, printable
 * facts or a clear error.
 *
 * Then what the facts feed: the node's daemon.json is made canonical,
 * merged with a recipe's daemon object, and the change classified
 * (bs_daemon_json_canonical, _merge, _classify), as bs_dockerhost_ensure
 * does.
 *
 * Checked: a success has a uid; every string field is NUL-terminated in
 * its array and printable ASCII; daemon_json_len is the decoded length; a
 * failure fills err.
 */
#include <string.h>

#include "provision/dockerhost.h"
#include "tests/fuzz/fuzz.h"

static void printable(const char *field, size_t size, const char *what)
{
	const char *nul = memchr(field, '\0', size);

	fuzz_check(nul != NULL, "detect", what);
	for (const char *p = field; p < nul; p++)
		fuzz_check((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f, "detect", what);
}

#define PRINTABLE(f, name) printable((f), sizeof(f), name " is not printable ASCII")

static void check_facts(const struct bs_dockerhost_facts *f)
{
	PRINTABLE(f->user, "user");
	PRINTABLE(f->sudo_error, "sudo_error");
	PRINTABLE(f->os_id, "os_id");
	PRINTABLE(f->os_version, "os_version");
	PRINTABLE(f->os_codename, "os_codename");
	PRINTABLE(f->os_like, "os_like");
	PRINTABLE(f->os_name, "os_name");
	PRINTABLE(f->docker_path, "docker_path");
	PRINTABLE(f->dockerd_path, "dockerd_path");
	PRINTABLE(f->route_if, "route_if");
	PRINTABLE(f->engine_version, "engine_version");
	PRINTABLE(f->log_path, "log_path");
	PRINTABLE(f->tls_dropin_sha256, "tls_dropin_sha256");
	for (int i = 0; i < 3; i++)
		PRINTABLE(f->tls_sha256[i], "tls_sha256");
	if (f->daemon_json != NULL)
		fuzz_check(f->daemon_json[f->daemon_json_len] == '\0', "detect",
			   "daemon_json_len is not its length");
}

static void daemon_json(const struct bs_dockerhost_facts *f)
{
	struct bs_strv changed = BS_STRV_INIT;
	struct bs_err err = BS_ERR_INIT;
	char *canonical = NULL, *merged = NULL;

	if (bs_daemon_json_canonical(f->daemon_json, f->daemon_json_len, &canonical, &err) == 0)
		fuzz_check(canonical != NULL, "detect", "canonical text missing");
	if (bs_daemon_json_merge(f->daemon_json, f->daemon_json_len,
				 "{\"log-level\":\"warn\",\"debug\":null,\"labels\":[\"a=b\"]}",
				 &merged, &err) == 0) {
		fuzz_check(merged != NULL, "detect", "merged text missing");
		(void)bs_daemon_json_classify(f->daemon_json, merged, &changed);
	}
	free(canonical);
	free(merged);
	bs_strv_free(&changed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bs_dockerhost_facts f;
	struct bs_err err = BS_ERR_INIT;
	int rc;

	rc = bs_dockerhost_parse_facts((const char *)data, size, &f, &err);
	check_facts(&f);
	if (rc == 0) {
		fuzz_check(f.uid >= 0 || f.sudo != BS_SUDO_UNUSED, "detect",
			   "success without a uid");
		(void)bs_dockerhost_os_supported(&f);
		if (f.daemon_json != NULL)
			daemon_json(&f);
	} else {
		fuzz_check(err.msg[0] != '\0', "detect", "a failure without a message");
	}
	bs_dockerhost_facts_free(&f);
	return 0;
}
