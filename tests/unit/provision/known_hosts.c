/*
 * Unit tests for provision/known_hosts.c, the OpenSSH known_hosts reader:
 * fields, markers, comments, CRLF; hashed names (a true vector: the lines
 * below are what `ssh-keygen -H` wrote for "[web.example.com]:2222" and
 * "web.example.com", and `ssh-keygen -F` found); patterns and negation; a
 * bare name for port 22 only; @revoked and @cert-authority; bad lines
 * skipped with a warning naming file and line, never hiding a later pin;
 * long lines; reading files; which lines forgetting a machine removes.
 *
 * Warnings go through util/log.c: each test installs a capturing sink, and
 * names its input uniquely (a file warns once per process).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "provision/known_hosts.h"
#include "provision/ssh.h"
#include "util/log.h"
#include "util/str.h"

/* ssh-keygen -t ed25519 (a, b) and -t ecdsa -b 256 (c) */
#define KEY_A "AAAAC3NzaC1lZDI1NTE5AAAAIE4k/XJbJ3MOowwAZ96p3dAVb+C9llGSuyey/Ux1chwB"
#define KEY_B "AAAAC3NzaC1lZDI1NTE5AAAAIE8Al4duaeGgt/I2Qf3pkyCyZ0rj4PlpHq5PhIFcl8g2"
#define KEY_C                                                                                      \
	"AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBG011FZTekmhqQxDWJBDbJBGFl/BprXqdypJ7FApq8QmH+zJmutZLXyrHdQBnTOQtphvWyxYY7UM7piqJLn/OpM="
#define ED "ssh-ed25519 "
#define EC "ecdsa-sha2-nistp256 "

/* ssh-keygen -H of "[web.example.com]:2222 KEY_A" and "web.example.com KEY_A" */
#define HASHED_2222 "|1|CW54YIkrMoPdLUZqj0NRfIB45VM=|mm6LL22Fr11HL+rkvzCupYAKEVY="
#define HASHED_22 "|1|sLQLQzpCxgZWXCc6aUQ6WjVddW4=|hvZN2lZDLFM4M76xjmDX/HHAzKg="

/* blobs of types bootstrap does not handle: the type, then 4 bytes */
#define DSS "ssh-dss AAAAB3NzaC1kc3MAAAAEYWJjZA=="
#define SK "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAABGFiY2Q="

struct blob {
	unsigned char *data;
	size_t len;
};

static struct blob key_a, key_b, key_c;
static struct bs_strv warnings;

static void capture(enum bs_log_level level, const char *line, void *payload)
{
	(void)payload;
	if (level == BS_LOG_WARN)
		bs_strv_push(&warnings, line);
}

static int setup(void **state)
{
	(void)state;
	key_a.data = bs_base64_decode(KEY_A, &key_a.len);
	key_b.data = bs_base64_decode(KEY_B, &key_b.len);
	key_c.data = bs_base64_decode(KEY_C, &key_c.len);
	bs_log_set_sink(capture, NULL);
	bs_log_set_level(BS_LOG_DEBUG);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(key_a.data);
	free(key_b.data);
	free(key_c.data);
	bs_log_set_sink(NULL, NULL);
	bs_strv_free(&warnings);
	return 0;
}

static struct bs_known_hosts *parse(const char *origin, const char *text, size_t *skipped)
{
	struct bs_known_hosts *kh = bs_known_hosts_new();
	size_t n = bs_known_hosts_parse(kh, origin, text, strlen(text));

	if (skipped != NULL)
		*skipped = n;
	return kh;
}

/* check host:port with key; the status and the deciding line */
static void expect(const struct bs_known_hosts *kh, const char *host, int port,
		   const struct blob *key, enum bs_known_hosts_status status, long line)
{
	struct bs_known_hosts_hit hit;

	bs_known_hosts_check(kh, host, port, key->data, key->len, &hit);
	if (hit.status != status || hit.line != line)
		print_error("%s:%d: status %d line %ld, wanted %d line %ld\n", host, port,
			    (int)hit.status, hit.line, (int)status, line);
	assert_int_equal(hit.status, status);
	assert_int_equal(hit.line, line);
}

static bool warned(const char *text)
{
	for (size_t i = 0; i < warnings.n; i++)
		if (strstr(warnings.v[i], text) != NULL)
			return true;
	return false;
}

static void test_fields(void **state)
{
	size_t skipped;
	struct bs_known_hosts *kh = parse("fields",
					  "# a comment\n"
					  "\n"
					  "   \t\n"
					  "  host1 " ED KEY_A " a comment with  spaces\r\n"
					  "host2\t" ED "\t" KEY_A "\n"
					  "host2 " EC KEY_C, /* no final newline */
					  &skipped);
	struct bs_known_hosts_hit hit;

	(void)state;
	assert_int_equal(skipped, 0);
	assert_int_equal(bs_known_hosts_count(kh), 3);
	expect(kh, "host1", 22, &key_a, BS_KNOWN_HOSTS_MATCH, 4);
	expect(kh, "host1", 0, &key_a, BS_KNOWN_HOSTS_MATCH, 4);
	/* another key of the pinned type: changed, and which line says so */
	expect(kh, "host1", 22, &key_b, BS_KNOWN_HOSTS_CHANGED, 4);
	/* a key of a type the host has no line for: still changed (OpenSSH's
	 * HOST_CHANGED), naming the pin and its type */
	expect(kh, "host1", 22, &key_c, BS_KNOWN_HOSTS_CHANGED, 4);
	bs_known_hosts_check(kh, "host1", 22, key_c.data, key_c.len, &hit);
	assert_string_equal(hit.type, "ssh-ed25519");
	expect(kh, "host2", 22, &key_c, BS_KNOWN_HOSTS_MATCH, 6);
	expect(kh, "host3", 22, &key_a, BS_KNOWN_HOSTS_UNKNOWN, 0);
	bs_known_hosts_check(kh, "host2", 22, key_a.data, key_a.len, &hit);
	assert_string_equal(hit.path, "fields");
	/* names compare without regard to case */
	expect(kh, "HOST1", 22, &key_a, BS_KNOWN_HOSTS_MATCH, 4);
	assert_true(bs_known_hosts_pinned(kh, "host2", 22, "ecdsa-sha2-nistp256", &hit));
	assert_int_equal(hit.line, 6);
	assert_true(bs_known_hosts_pinned(kh, "host2", 22, "ssh-ed25519", &hit));
	assert_int_equal(hit.line, 5);
	assert_false(bs_known_hosts_pinned(kh, "host2", 22, "ssh-rsa", NULL));
	assert_false(bs_known_hosts_pinned(kh, "host2", 2222, "ssh-ed25519", NULL));
	assert_int_equal(warnings.n, 0);
	bs_known_hosts_free(kh);
}

/* a host pinned only with keys of types bootstrap cannot use is no new
 * host: any other key is CHANGED, never trusted on first use */
static void test_other_type_pins(void **state)
{
	struct bs_known_hosts *kh = parse("other-types",
					  "dss.example.com " DSS "\n"
					  "[sk.example.com]:2222 " SK "\n"
					  "both.example.com " DSS "\n"
					  "both.example.com " ED KEY_A "\n"
					  "@revoked dss2.example.com " DSS "\n"
					  "@cert-authority ca.example.com " DSS "\n",
					  NULL);
	struct bs_known_hosts_hit hit;

	(void)state;
	assert_int_equal(bs_known_hosts_count(kh), 6);
	bs_known_hosts_check(kh, "dss.example.com", 22, key_a.data, key_a.len, &hit);
	assert_int_equal(hit.status, BS_KNOWN_HOSTS_CHANGED);
	assert_int_equal(hit.line, 1);
	assert_string_equal(hit.type, "ssh-dss");
	expect(kh, "dss.example.com", 22, &key_c, BS_KNOWN_HOSTS_CHANGED, 1);
	bs_known_hosts_check(kh, "sk.example.com", 2222, key_a.data, key_a.len, &hit);
	assert_int_equal(hit.status, BS_KNOWN_HOSTS_CHANGED);
	assert_string_equal(hit.type, "sk-ssh-ed25519@openssh.com");
	expect(kh, "sk.example.com", 22, &key_a, BS_KNOWN_HOSTS_UNKNOWN, 0);
	/* a pin of the key's own type is the one named, whatever the order */
	expect(kh, "both.example.com", 22, &key_b, BS_KNOWN_HOSTS_CHANGED, 4);
	expect(kh, "both.example.com", 22, &key_a, BS_KNOWN_HOSTS_MATCH, 4);
	/* marker lines pin nothing */
	expect(kh, "dss2.example.com", 22, &key_a, BS_KNOWN_HOSTS_UNKNOWN, 0);
	expect(kh, "ca.example.com", 22, &key_a, BS_KNOWN_HOSTS_CERT_AUTHORITY, 6);
	assert_false(bs_known_hosts_pinned(kh, "dss.example.com", 22, "ssh-ed25519", NULL));
	bs_known_hosts_free(kh);
}

/* OpenSSH reads a line up to a NUL byte: what comes before it pins */
static void test_nul_ends_line(void **state)
{
	static const char text[] = "[127.0.0.1]:2222 " ED KEY_A "\0 junk\n"
				   "h " ED KEY_B " comment\0\n";
	struct bs_known_hosts *kh = bs_known_hosts_new();

	(void)state;
	assert_int_equal(bs_known_hosts_parse(kh, "nul", text, sizeof(text) - 1), 0);
	assert_int_equal(bs_known_hosts_count(kh), 2);
	expect(kh, "127.0.0.1", 2222, &key_a, BS_KNOWN_HOSTS_MATCH, 1);
	expect(kh, "127.0.0.1", 2222, &key_b, BS_KNOWN_HOSTS_CHANGED, 1);
	expect(kh, "h", 22, &key_a, BS_KNOWN_HOSTS_CHANGED, 2);
	assert_true(bs_known_hosts_line_is_for(text, sizeof(text) - 1, "127.0.0.1", 2222, NULL));
	bs_known_hosts_free(kh);
}

/* a line that cannot be parsed but names the host may be a pin OpenSSH
 * reads: the host is not new, it is refused (BAD_LINE, naming the line) */
static void test_bad_line_names_host(void **state)
{
	struct bs_known_hosts *kh =
		parse("bad-names",
		      "web.example.com " ED "AAAA\n"
		      "# web.example.org " ED "AAAA\n" HASHED_2222 " " ED "AAAA\n"
		      "@revoked rev.example.com " ED "!!!\n"
		      "*.wild.example.com " ED "AAAA\n"
		      "pinned.example.com " ED "AAAA\n"
		      "pinned.example.com " ED KEY_A "\n"
		      "|1|notbase64!|xx " ED KEY_A "\n",
		      NULL);
	struct bs_known_hosts_hit hit;

	(void)state;
	bs_known_hosts_check(kh, "web.example.com", 22, key_a.data, key_a.len, &hit);
	assert_int_equal(hit.status, BS_KNOWN_HOSTS_BAD_LINE);
	assert_string_equal(hit.path, "bad-names");
	assert_int_equal(hit.line, 1);
	expect(kh, "WEB.example.com", 22, &key_a, BS_KNOWN_HOSTS_BAD_LINE, 1);
	/* the bare name is for port 22 only; comments name nothing */
	expect(kh, "web.example.com", 2200, &key_a, BS_KNOWN_HOSTS_UNKNOWN, 0);
	expect(kh, "web.example.org", 22, &key_a, BS_KNOWN_HOSTS_UNKNOWN, 0);
	/* hashed, after a marker, as a pattern */
	expect(kh, "web.example.com", 2222, &key_a, BS_KNOWN_HOSTS_BAD_LINE, 3);
	expect(kh, "rev.example.com", 22, &key_a, BS_KNOWN_HOSTS_BAD_LINE, 4);
	expect(kh, "a.wild.example.com", 22, &key_a, BS_KNOWN_HOSTS_BAD_LINE, 5);
	/* a good line for the host decides */
	expect(kh, "pinned.example.com", 22, &key_a, BS_KNOWN_HOSTS_MATCH, 7);
	expect(kh, "pinned.example.com", 22, &key_b, BS_KNOWN_HOSTS_CHANGED, 7);
	expect(kh, "other.example.com", 22, &key_a, BS_KNOWN_HOSTS_UNKNOWN, 0);
	assert_true(warned("bad-names:1: not a known_hosts line"));
	bs_strv_free(&warnings); /* the tests after count theirs */
	bs_known_hosts_free(kh);
}

static void test_hashed(void **state)
{
	struct bs_known_hosts *kh =
		parse("hashed", HASHED_2222 " " ED KEY_A "\n" HASHED_22 " " ED KEY_A "\n", NULL);

	(void)state;
	assert_int_equal(bs_known_hosts_count(kh), 2);
	expect(kh, "web.example.com", 2222, &key_a, BS_KNOWN_HOSTS_MATCH, 1);
	expect(kh, "web.example.com", 22, &key_a, BS_KNOWN_HOSTS_MATCH, 2);
	expect(kh, "Web.Example.COM", 2222, &key_a, BS_KNOWN_HOSTS_MATCH, 1);
	expect(kh, "web.example.com", 2222, &key_b, BS_KNOWN_HOSTS_CHANGED, 1);
	expect(kh, "web.example.com", 2223, &key_a, BS_KNOWN_HOSTS_UNKNOWN, 0);
	expect(kh, "web.example.org", 22, &key_a, BS_KNOWN_HOSTS_UNKNOWN, 0);
	assert_true(bs_known_hosts_pinned(kh, "web.example.com", 2222, "ssh-ed25519", NULL));
	bs_known_hosts_free(kh);
}

static void test_patterns(void **state)
{
	struct bs_known_hosts *kh = parse("patterns",
					  "*.example.com,!bad.example.com " ED KEY_A "\n"
					  "?eb.example.org " ED KEY_A "\n"
					  "[*.example.net]:2200 " ED KEY_A "\n"
					  "alpha,beta,[gamma]:2022,10.0.0.* " ED KEY_B "\n"
					  "!*.internal,*.internal " ED KEY_A "\n",
					  NULL);

	(void)state;
	expect(kh, "web.example.com", 22, &key_a, BS_KNOWN_HOSTS_MATCH, 1);
	/* a negated pattern that matches makes the whole line not match */
	expect(kh, "bad.example.com", 22, &key_a, BS_KNOWN_HOSTS_UNKNOWN, 0);
	expect(kh, "example.com", 22, &key_a, BS_KNOWN_HOSTS_UNKNOWN, 0);
	/* `*` and `?` also match "[host]:port": the name is the whole string */
	expect(kh, "web.example.com", 2222, &key_a, BS_KNOWN_HOSTS_UNKNOWN, 0);
	expect(kh, "web.example.org", 22, &key_a, BS_KNOWN_HOSTS_MATCH, 2);
	expect(kh, "wweb.example.org", 22, &key_a, BS_KNOWN_HOSTS_UNKNOWN, 0);
	expect(kh, "db.example.net", 2200, &key_a, BS_KNOWN_HOSTS_MATCH, 3);
	expect(kh, "db.example.net", 22, &key_a, BS_KNOWN_HOSTS_UNKNOWN, 0);
	expect(kh, "beta", 22, &key_b, BS_KNOWN_HOSTS_MATCH, 4);
	expect(kh, "gamma", 2022, &key_b, BS_KNOWN_HOSTS_MATCH, 4);
	expect(kh, "gamma", 22, &key_b, BS_KNOWN_HOSTS_UNKNOWN, 0);
	expect(kh, "10.0.0.7", 22, &key_a, BS_KNOWN_HOSTS_CHANGED, 4);
	expect(kh, "x.internal", 22, &key_a, BS_KNOWN_HOSTS_UNKNOWN, 0);
	bs_known_hosts_free(kh);
}

static void test_bare_name_is_port_22(void **state)
{
	struct bs_known_hosts *kh = parse("bare",
					  "127.0.0.1 " ED KEY_A "\n"
					  "[127.0.0.1]:2222 " ED KEY_B "\n",
					  NULL);

	(void)state;
	expect(kh, "127.0.0.1", 22, &key_a, BS_KNOWN_HOSTS_MATCH, 1);
	/* the bare pin says nothing of another port ... */
	expect(kh, "127.0.0.1", 2200, &key_a, BS_KNOWN_HOSTS_UNKNOWN, 0);
	assert_false(bs_known_hosts_pinned(kh, "127.0.0.1", 2200, "ssh-ed25519", NULL));
	/* ... and cannot vouch for a key that [host]:port pins otherwise */
	expect(kh, "127.0.0.1", 2222, &key_a, BS_KNOWN_HOSTS_CHANGED, 2);
	expect(kh, "127.0.0.1", 2222, &key_b, BS_KNOWN_HOSTS_MATCH, 2);
	bs_known_hosts_free(kh);
}

static void test_revoked(void **state)
{
	struct bs_known_hosts *kh = parse("revoked",
					  "[h]:2222 " ED KEY_A "\n"
					  "@revoked [h]:2222 " ED KEY_A "\n"
					  "@revoked other " ED KEY_B "\n"
					  "h " ED KEY_B "\n",
					  NULL);

	(void)state;
	/* revoked wins over a pin of the same key, whatever the order */
	expect(kh, "h", 2222, &key_a, BS_KNOWN_HOSTS_REVOKED, 2);
	/* a @revoked line for another host does not apply */
	expect(kh, "h", 22, &key_b, BS_KNOWN_HOSTS_MATCH, 4);
	/* an unknown host with a revoked key: refused, not trusted on first use */
	expect(kh, "other", 22, &key_b, BS_KNOWN_HOSTS_REVOKED, 3);
	/* marker lines are no pins */
	assert_false(bs_known_hosts_pinned(kh, "other", 22, "ssh-ed25519", NULL));
	bs_known_hosts_free(kh);
	kh = parse("revoked-first", "@revoked * " ED KEY_A "\nh " ED KEY_A "\n", NULL);
	expect(kh, "h", 22, &key_a, BS_KNOWN_HOSTS_REVOKED, 1);
	bs_known_hosts_free(kh);
}

static void test_cert_authority(void **state)
{
	struct bs_known_hosts *kh = parse("ca",
					  "@cert-authority *.example.com " EC KEY_C "\n"
					  "pinned.example.com " ED KEY_A "\n",
					  NULL);

	(void)state;
	expect(kh, "web.example.com", 22, &key_a, BS_KNOWN_HOSTS_CERT_AUTHORITY, 1);
	assert_false(bs_known_hosts_pinned(kh, "web.example.com", 22, "ssh-ed25519", NULL));
	/* a key pinned plainly beside the authority is fine */
	expect(kh, "pinned.example.com", 22, &key_a, BS_KNOWN_HOSTS_MATCH, 2);
	/* another key for it is a changed key */
	expect(kh, "pinned.example.com", 22, &key_b, BS_KNOWN_HOSTS_CHANGED, 2);
	expect(kh, "web.example.org", 22, &key_a, BS_KNOWN_HOSTS_UNKNOWN, 0);
	bs_known_hosts_free(kh);
}

static void test_bad_lines_hide_nothing(void **state)
{
	static const char text[] = "somehost " ED "AAAA\n"	     /* 1: a truncated key */
				   "@bogus h " ED KEY_A "\n"	     /* 2 */
				   "h " ED "\n"			     /* 3 */
				   "|1|notbase64!|xx " ED KEY_A "\n" /* 4 */
				   "|2|CW54YIkrMoPdLUZqj0NRfIB45VM=|x= " ED KEY_A "\n" /* 5 */
				   "h ssh-rsa " KEY_A "\n"	      /* 6: type mismatch */
				   "h " ED "!!!!\n"		      /* 7 */
				   "@revoked\n"			      /* 8 */
				   "h " ED "AAAA\0 x\n"		      /* 9: a NUL */
				   "[127.0.0.1]:2222 " ED KEY_A "\n"; /* 10 */
	struct bs_known_hosts *kh = bs_known_hosts_new();
	size_t skipped;

	(void)state;
	skipped = bs_known_hosts_parse(kh, "bad-lines", text, sizeof(text) - 1);
	assert_int_equal(skipped, 9);
	assert_int_equal(bs_known_hosts_count(kh), 1);
	expect(kh, "127.0.0.1", 2222, &key_a, BS_KNOWN_HOSTS_MATCH, 10);
	expect(kh, "127.0.0.1", 2222, &key_b, BS_KNOWN_HOSTS_CHANGED, 10);
	assert_int_equal(warnings.n, 9);
	assert_true(warned("bad-lines:1: "));
	assert_true(warned("bad-lines:2: not a known_hosts line (unknown marker"));
	assert_true(warned("bad-lines:9: "));
	assert_false(warned("bad-lines:10"));
	/* the same origin again: no second round of warnings */
	bs_known_hosts_parse(kh, "bad-lines", text, sizeof(text) - 1);
	assert_int_equal(warnings.n, 9);
	bs_known_hosts_free(kh);
}

static void test_long_lines(void **state)
{
	struct bs_buf text = BS_BUF_INIT;
	struct bs_known_hosts *kh = bs_known_hosts_new();

	(void)state;
	/* 300 aliases, about 5 KB, as ssh-keygen -F reads them */
	for (int i = 0; i < 300; i++)
		bs_buf_printf(&text, "alias-%03d.example.com,", i);
	bs_buf_puts(&text, "last.example.com " ED KEY_B "\n");
	assert_true(text.len > 5000);
	/* a 1 MB comment */
	bs_buf_puts(&text, "comment.example.com " ED KEY_B " ");
	for (int i = 0; i < 1024 * 1024; i++)
		bs_buf_putc(&text, 'x');
	bs_buf_puts(&text, "\n[127.0.0.1]:2222 " ED KEY_A "\n");
	assert_int_equal(bs_known_hosts_parse(kh, "long", text.data, text.len), 0);
	expect(kh, "alias-299.example.com", 22, &key_b, BS_KNOWN_HOSTS_MATCH, 1);
	expect(kh, "last.example.com", 22, &key_a, BS_KNOWN_HOSTS_CHANGED, 1);
	expect(kh, "comment.example.com", 22, &key_b, BS_KNOWN_HOSTS_MATCH, 2);
	expect(kh, "127.0.0.1", 2222, &key_b, BS_KNOWN_HOSTS_CHANGED, 3);
	bs_known_hosts_free(kh);
	bs_buf_free(&text);
}

static void test_read(void **state)
{
	char dir[] = "/tmp/bootstrap-kh-read.XXXXXX";
	struct bs_err err = BS_ERR_INIT;
	struct bs_known_hosts *kh = bs_known_hosts_new();
	struct bs_known_hosts_hit hit;
	char *path, *missing, *fifo;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	path = bs_xasprintf("%s/known_hosts", dir);
	missing = bs_xasprintf("%s/none/known_hosts", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("junk\n[127.0.0.1]:2222 " ED KEY_A "\n", f);
	fclose(f);
	assert_int_equal(bs_known_hosts_read(kh, missing, &err), 0);
	assert_int_equal(bs_known_hosts_read(kh, path, &err), 0);
	assert_int_equal(bs_known_hosts_count(kh), 1);
	bs_known_hosts_check(kh, "127.0.0.1", 2222, key_b.data, key_b.len, &hit);
	assert_int_equal(hit.status, BS_KNOWN_HOSTS_CHANGED);
	assert_string_equal(hit.path, path);
	assert_int_equal(hit.line, 2);
	{
		char *want = bs_xasprintf("%s:1: not a known_hosts line", path);

		assert_true(warned(want));
		free(want);
	}
	/* a directory cannot be read: an error naming it, not an empty file */
	assert_int_equal(bs_known_hosts_read(kh, dir, &err), BS_ERR_IO);
	assert_non_null(strstr(err.msg, dir));
	/* nor a FIFO, refused at once: its open must not wait for a writer */
	fifo = bs_xasprintf("%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	alarm(10);
	assert_int_equal(bs_known_hosts_read(kh, fifo, &err), BS_ERR_IO);
	alarm(0);
	assert_non_null(strstr(err.msg, fifo));
	assert_non_null(strstr(err.msg, "not a regular file"));
	unlink(fifo);
	free(fifo);
	unlink(path);
	rmdir(dir);
	free(path);
	free(missing);
	bs_known_hosts_free(kh);
}

/* the whole file at path, "" when missing; caller frees */
static char *slurp(const char *path)
{
	struct bs_buf text = BS_BUF_INIT;
	char chunk[4096];
	size_t n;
	FILE *f = fopen(path, "r");

	if (f != NULL) {
		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
			bs_buf_append(&text, chunk, n);
		fclose(f);
	}
	bs_buf_putc(&text, '\0');
	return bs_buf_detach(&text);
}

static void spew(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void expect_file(const char *path, const char *want)
{
	char *got = slurp(path);

	assert_string_equal(got, want);
	free(got);
}

/* pin, and the status the files had under the lock */
static enum bs_known_hosts_status pin(const char *path, const char *extra, const char *host,
				      int port, const struct blob *key, long *line)
{
	struct bs_err err = BS_ERR_INIT;
	struct bs_known_hosts *kh = NULL;
	struct bs_known_hosts_hit hit;
	int rc = bs_known_hosts_pin(&kh, &hit, path, extra, host, port, key->data, key->len,
				    "bootstrap", &err);

	if (rc != 0)
		print_error("%s\n", err.msg);
	assert_int_equal(rc, 0);
	assert_non_null(kh);
	if (line != NULL)
		*line = hit.line;
	bs_known_hosts_free(kh);
	return hit.status;
}

#define PIN_A "[127.0.0.1]:2222 " ED KEY_A " bootstrap\n"

static void test_pin(void **state)
{
	char dir[] = "/tmp/bootstrap-kh-pin.XXXXXX";
	char *path, *extra;
	struct stat st;
	long line;

	(void)state;
	assert_non_null(mkdtemp(dir));
	path = bs_xasprintf("%s/state/known_hosts", dir);
	extra = bs_xasprintf("%s/extra", dir);
	/* a new host: pinned, the directories made */
	assert_int_equal(pin(path, NULL, "127.0.0.1", 2222, &key_a, NULL), BS_KNOWN_HOSTS_UNKNOWN);
	expect_file(path, PIN_A);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* pinned meanwhile (another run): the same key adds nothing, another
	 * key is refused as changed, whatever its type, and adds nothing */
	assert_int_equal(pin(path, NULL, "127.0.0.1", 2222, &key_a, &line), BS_KNOWN_HOSTS_MATCH);
	assert_int_equal(line, 1);
	assert_int_equal(pin(path, NULL, "127.0.0.1", 2222, &key_b, &line), BS_KNOWN_HOSTS_CHANGED);
	assert_int_equal(line, 1);
	assert_int_equal(pin(path, NULL, "127.0.0.1", 2222, &key_c, NULL), BS_KNOWN_HOSTS_CHANGED);
	expect_file(path, PIN_A);
	/* the other file is read again too */
	spew(extra, "h " ED KEY_A "\n");
	assert_int_equal(pin(path, extra, "h", 22, &key_b, &line), BS_KNOWN_HOSTS_CHANGED);
	expect_file(path, PIN_A);
	/* a line that cannot be parsed but names the host: nothing pinned */
	spew(extra, "h " ED "AAAA\n");
	assert_int_equal(pin(path, extra, "h", 22, &key_b, &line), BS_KNOWN_HOSTS_BAD_LINE);
	expect_file(path, PIN_A);
	/* a file without a final newline: one comes first, no pin is lost */
	spew(path, "other.example.com " ED KEY_B);
	assert_int_equal(pin(path, NULL, "127.0.0.1", 2222, &key_a, NULL), BS_KNOWN_HOSTS_UNKNOWN);
	expect_file(path, "other.example.com " ED KEY_B "\n" PIN_A);
	assert_int_equal(pin(path, NULL, "other.example.com", 22, &key_b, NULL),
			 BS_KNOWN_HOSTS_MATCH);
	assert_int_equal(pin(path, NULL, "127.0.0.1", 2222, &key_a, NULL), BS_KNOWN_HOSTS_MATCH);
	/* an empty file gets no blank line */
	spew(path, "");
	assert_int_equal(pin(path, NULL, "127.0.0.1", 2222, &key_a, NULL), BS_KNOWN_HOSTS_UNKNOWN);
	expect_file(path, PIN_A);
	unlink(path);
	free(path);
	path = bs_xasprintf("%s/state/known_hosts.lock", dir);
	unlink(path);
	free(path);
	path = bs_xasprintf("%s/state", dir);
	rmdir(path);
	unlink(extra);
	rmdir(dir);
	free(path);
	free(extra);
}

/* runs side by side, first use of one host, each seeing another key:
 * exactly one pin, the others refused or matched under the lock */
static void test_pin_concurrent(void **state)
{
	char dir[] = "/tmp/bootstrap-kh-race.XXXXXX";
	char *path, *text, *lock;
	pid_t pids[8];
	int status, lines = 0, pinned = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	path = bs_xasprintf("%s/known_hosts", dir);
	lock = bs_xasprintf("%s.lock", path);
	for (int i = 0; i < 8; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			const struct blob *key = i % 2 ? &key_b : &key_a;
			struct bs_err err = BS_ERR_INIT;
			struct bs_known_hosts *kh = NULL;
			struct bs_known_hosts_hit hit;

			if (bs_known_hosts_pin(&kh, &hit, path, NULL, "h", 22, key->data, key->len,
					       "bootstrap", &err) != 0)
				_exit(2);
			_exit(hit.status == BS_KNOWN_HOSTS_UNKNOWN ? 0 : 1);
		}
	}
	for (int i = 0; i < 8; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) <= 1);
		pinned += WEXITSTATUS(status) == 0;
	}
	assert_int_equal(pinned, 1);
	text = slurp(path);
	for (char *c = text; *c != '\0'; c++)
		lines += *c == '\n';
	assert_int_equal(lines, 1);
	free(text);
	unlink(path);
	unlink(lock);
	rmdir(dir);
	free(path);
	free(lock);
}

/* forgetting: a symlink's target is rewritten, the link and the mode kept,
 * the new file made with mkstemp (a planted PATH.tmp symlink is not
 * followed); a read error rewrites nothing */
static void test_forget(void **state)
{
	char dir[] = "/tmp/bootstrap-kh-forget.XXXXXX";
	struct bs_err err = BS_ERR_INIT;
	char *target, *link, *victim, *planted, *lock, *memlink, *memlock;
	struct stat st;
	int removed;

	(void)state;
	assert_non_null(mkdtemp(dir));
	target = bs_xasprintf("%s/real_known_hosts", dir);
	link = bs_xasprintf("%s/known_hosts", dir);
	victim = bs_xasprintf("%s/victim", dir);
	planted = bs_xasprintf("%s/known_hosts.tmp", dir);
	lock = bs_xasprintf("%s/known_hosts.lock", dir);
	spew(target, "gone " ED KEY_A " bootstrap\nstays " ED KEY_B "\n");
	assert_int_equal(chmod(target, 0640), 0);
	spew(victim, "precious\n");
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(symlink(victim, planted), 0);
	assert_int_equal(bs_ssh_known_hosts_forget(link, "gone", 22, NULL, &removed, &err), 0);
	assert_int_equal(removed, 1);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	expect_file(target, "stays " ED KEY_B "\n");
	assert_int_equal(stat(target, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	expect_file(victim, "precious\n");
	/* nothing left beside it: target, link, victim, planted, lock */
	{
		char *cmd = bs_xasprintf("test $(ls -A %s | wc -l) -eq 5", dir);

		assert_int_equal(system(cmd), 0);
		free(cmd);
	}
	/* a file that fails to read (EIO from /proc/self/mem at offset 0):
	 * an error, and nothing rewritten */
	memlink = bs_xasprintf("%s/mem", dir);
	memlock = bs_xasprintf("%s/mem.lock", dir);
	assert_int_equal(symlink("/proc/self/mem", memlink), 0);
	assert_int_equal(bs_ssh_known_hosts_forget(memlink, "gone", 22, NULL, &removed, &err),
			 BS_ERR_IO);
	assert_int_equal(removed, 0);
	assert_non_null(strstr(err.msg, "cannot read"));
	unlink(memlink);
	unlink(memlock);
	unlink(lock);
	unlink(planted);
	unlink(link);
	unlink(victim);
	unlink(target);
	assert_int_equal(rmdir(dir), 0);
	free(target);
	free(link);
	free(victim);
	free(planted);
	free(lock);
	free(memlink);
	free(memlock);
}

static void test_line_is_for(void **state)
{
	(void)state;
#define FOR(line, host, port, tag) bs_known_hosts_line_is_for(line, strlen(line), host, port, tag)
	assert_true(FOR("203.0.113.7 ssh-ed25519 AAAA3 bootstrap", "203.0.113.7", 22, NULL));
	assert_true(FOR("203.0.113.7 ssh-ed25519 AAAA3", "203.0.113.7", 0, NULL));
	assert_false(FOR("[203.0.113.7]:2222 ssh-ed25519 AAAA3", "203.0.113.7", 22, NULL));
	assert_true(FOR("[203.0.113.7]:2222 ssh-ed25519 AAAA3", "203.0.113.7", 2222, NULL));
	assert_true(FOR("web,203.0.113.7 ssh-ed25519 AAAA3", "203.0.113.7", 22, NULL));
	/* patterns and negations name no machine in particular */
	assert_false(FOR("203.0.113.* ssh-ed25519 AAAA3", "203.0.113.7", 22, NULL));
	assert_false(FOR("!203.0.113.7 ssh-ed25519 AAAA3", "203.0.113.7", 22, NULL));
	assert_true(FOR(HASHED_22 " " ED KEY_A, "web.example.com", 22, NULL));
	assert_false(FOR(HASHED_22 " " ED KEY_A, "web.example.com", 2222, NULL));
	/* the tag is the whole comment, after a marker-less line's key */
	assert_true(
		FOR("x ssh-ed25519 AAAA bootstrap:local:aaa\r", NULL, 0, "bootstrap:local:aaa"));
	assert_false(
		FOR("x ssh-ed25519 AAAA bootstrap:local:aaa-not", NULL, 0, "bootstrap:local:aaa"));
	/* marker lines, comments and short lines are never a machine's pin */
	assert_false(FOR("@revoked x ssh-ed25519 AAAA bootstrap:local:aaa", "x", 22,
			 "bootstrap:local:aaa"));
	assert_false(FOR("# x ssh-ed25519 AAAA", "x", 22, NULL));
	assert_false(FOR("x ssh-ed25519", "x", 22, NULL));
#undef FOR
}

static void test_name(void **state)
{
	char *name;

	(void)state;
	name = bs_known_hosts_name("Web.Example.com", 22);
	assert_string_equal(name, "web.example.com");
	free(name);
	name = bs_known_hosts_name("::1", 2222);
	assert_string_equal(name, "[::1]:2222");
	free(name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_other_type_pins),
		cmocka_unit_test(test_nul_ends_line),
		cmocka_unit_test(test_bad_line_names_host),
		cmocka_unit_test(test_hashed),
		cmocka_unit_test(test_patterns),
		cmocka_unit_test(test_bare_name_is_port_22),
		cmocka_unit_test(test_revoked),
		cmocka_unit_test(test_cert_authority),
		cmocka_unit_test(test_bad_lines_hide_nothing),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_read),
		cmocka_unit_test(test_pin),
		cmocka_unit_test(test_pin_concurrent),
		cmocka_unit_test(test_forget),
		cmocka_unit_test(test_line_is_for),
		cmocka_unit_test(test_name),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
