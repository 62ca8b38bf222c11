/*
 * Unit tests for a machine's key identity and the pins that go with it:
 * bs_ssh_key_fingerprint (checked against what ssh-keygen -l printed for
 * the same key), the label/tag form of a fingerprint both ways
 * (bs_compute_key_label, bs_compute_key_from_label: within Hetzner's label
 * value rules), and bs_ssh_known_hosts_forget on a known_hosts file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "provision/cloud_rest.h"
#include "provision/compute.h"
#include "provision/ssh.h"

/* made with ssh-keygen -t ed25519 -C c; `ssh-keygen -lf` printed the
 * fingerprint below */
static const char pub[] =
	"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFWw5Rs6nOCTt7tMWQZ+eCFUQvlL94zeso3x9zpTtwF4 c";
static const char pub_fp[] = "SHA256:eEcu2Bzp7pnl7soBIOSzkx/th1vyITmTA2ygn6Y8ygc";

static void test_fingerprint(void **state)
{
	char *fp;

	(void)state;
	fp = bs_ssh_key_fingerprint(pub);
	assert_non_null(fp);
	assert_string_equal(fp, pub_fp);
	free(fp);
	/* no comment, surrounding blanks */
	fp = bs_ssh_key_fingerprint(
		"  ssh-ed25519 "
		"AAAAC3NzaC1lZDI1NTE5AAAAIFWw5Rs6nOCTt7tMWQZ+eCFUQvlL94zeso3x9zpTtwF4\n");
	assert_non_null(fp);
	assert_string_equal(fp, pub_fp);
	free(fp);
	/* the blob names another type than the line */
	assert_null(bs_ssh_key_fingerprint(
		"ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIFWw5Rs6nOCTt7tMWQZ+eCFUQvlL94zeso3x9zpTtwF4"));
	assert_null(bs_ssh_key_fingerprint("ssh-ed25519"));
	assert_null(bs_ssh_key_fingerprint("ssh-ed25519 !!!!"));
	assert_null(bs_ssh_key_fingerprint(""));
	assert_null(bs_ssh_key_fingerprint(NULL));
}

static void test_key_label(void **state)
{
	char *label, *back;

	(void)state;
	label = bs_compute_key_label(pub_fp);
	assert_non_null(label);
	assert_string_equal(label, "SHA256_eEcu2Bzp7pnl7soBIOSzkx_th1vyITmTA2ygn6Y8ygc");
	assert_true(bs_hetzner_label_value_ok(label));
	assert_true(bs_digitalocean_tag_ok(label));
	back = bs_compute_key_from_label(label);
	assert_non_null(back);
	assert_string_equal(back, pub_fp);
	free(back);
	free(label);
	/* '+' and '/' both ways */
	label = bs_compute_key_label("SHA256:+/cu2Bzp7pnl7soBIOSzkx/th1vyITmTA2ygn6Y8ygc");
	assert_string_equal(label, "SHA256_-_cu2Bzp7pnl7soBIOSzkx_th1vyITmTA2ygn6Y8ygc");
	back = bs_compute_key_from_label(label);
	assert_string_equal(back, "SHA256:+/cu2Bzp7pnl7soBIOSzkx/th1vyITmTA2ygn6Y8ygc");
	free(back);
	free(label);
	assert_null(bs_compute_key_label("MD5:aa:bb"));
	assert_null(bs_compute_key_label("SHA256:short"));
	assert_null(bs_compute_key_label("SHA256:eEcu2Bzp7pnl7soBIOSzkx/th1vyITmTA2ygn6Y8yg="));
	assert_null(bs_compute_key_label(NULL));
	assert_null(bs_compute_key_from_label("bootstrap"));
	assert_null(
		bs_compute_key_from_label("SHA256_eEcu2Bzp7pnl7soBIOSzkx.th1vyITmTA2ygn6Y8ygc"));
	assert_null(bs_compute_key_from_label(NULL));
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = calloc(1, 8192);
	size_t n;

	assert_non_null(f);
	n = fread(text, 1, 8191, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

static void test_forget(void **state)
{
	char path[] = "/tmp/bootstrap-kh-test.XXXXXX";
	struct bs_err err = BS_ERR_INIT;
	int fd, removed = -1;
	char *text;
	FILE *f;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("# a comment\n"
	      "[127.0.0.1]:2201 ssh-ed25519 AAAA1 bootstrap:local:aaa\n"
	      "[127.0.0.1]:2202 ssh-ed25519 AAAA2 bootstrap:local:bbb\n"
	      "203.0.113.7 ssh-ed25519 AAAA3 bootstrap\n"
	      "[203.0.113.7]:2222 ssh-ed25519 AAAA4 bootstrap\n"
	      "203.0.113.8 ssh-ed25519 AAAA5 bootstrap:hetzner:42\n"
	      "other ssh-ed25519 AAAA6 bootstrap:local:aaa-not\n",
	      f);
	fclose(f);

	/* by tag only: the address of a stopped local node is not known */
	assert_int_equal(
		bs_ssh_known_hosts_forget(path, NULL, 0, "bootstrap:local:aaa", &removed, &err), 0);
	assert_int_equal(removed, 1);
	/* by address: port 22 is the bare form, others [host]:port */
	assert_int_equal(bs_ssh_known_hosts_forget(path, "203.0.113.7", 22, NULL, &removed, &err),
			 0);
	assert_int_equal(removed, 1);
	/* both: the tag and the address of one machine */
	assert_int_equal(bs_ssh_known_hosts_forget(path, "203.0.113.9", 22, "bootstrap:hetzner:42",
						   &removed, &err),
			 0);
	assert_int_equal(removed, 1);
	/* nothing matches: the file stays */
	assert_int_equal(bs_ssh_known_hosts_forget(path, "198.51.100.1", 2200, "bootstrap:x:y",
						   &removed, &err),
			 0);
	assert_int_equal(removed, 0);
	text = slurp(path);
	assert_string_equal(text, "# a comment\n"
				  "[127.0.0.1]:2202 ssh-ed25519 AAAA2 bootstrap:local:bbb\n"
				  "[203.0.113.7]:2222 ssh-ed25519 AAAA4 bootstrap\n"
				  "other ssh-ed25519 AAAA6 bootstrap:local:aaa-not\n");
	free(text);
	unlink(path);
	{
		char lock[sizeof(path) + 5];

		snprintf(lock, sizeof(lock), "%s.lock", path);
		unlink(lock);
	}
	/* no file: nothing to forget */
	assert_int_equal(bs_ssh_known_hosts_forget(path, "203.0.113.7", 22, "t", &removed, &err),
			 0);
	assert_int_equal(removed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_key_label),
		cmocka_unit_test(test_forget),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
