/*
 * Unit tests for bs_ssh_url_parse: the ssh://USER@HOST[:PORT] engine URLs
 * of -H and DOCKER_HOST. Bad URLs are usage errors that say what to write.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "provision/tunnel.h"

static void parses(const char *url, const char *user, const char *host, int port)
{
	struct bs_ssh_url u;
	struct bs_err err = BS_ERR_INIT;

	if (bs_ssh_url_parse(url, &u, &err) != 0)
		fail_msg("%s: %s", url, err.msg);
	if (user == NULL)
		assert_null(u.user);
	else
		assert_string_equal(u.user, user);
	assert_string_equal(u.host, host);
	assert_int_equal(u.port, port);
	bs_ssh_url_free(&u);
}

static void refused(const char *url, const char *says)
{
	struct bs_ssh_url u;
	struct bs_err err = BS_ERR_INIT;

	assert_int_equal(bs_ssh_url_parse(url, &u, &err), BS_ERR_INVALID);
	if (strstr(err.msg, says) == NULL)
		fail_msg("%s: message '%s' lacks '%s'", url, err.msg, says);
	assert_null(u.host);
	assert_null(u.user);
}

static void test_good_urls(void **state)
{
	(void)state;
	parses("ssh://root@127.0.0.1:2222", "root", "127.0.0.1", 2222);
	parses("ssh://deploy@node-1.example.com", "deploy", "node-1.example.com", 0);
	parses("ssh://node-1", NULL, "node-1", 0);
	parses("ssh://node-1/", NULL, "node-1", 0);
	parses("ssh://ops@[::1]:22", "ops", "::1", 22);
	parses("ssh://[2001:db8::7]", NULL, "2001:db8::7", 0);
	parses("ssh://a@b:65535", "a", "b", 65535);
}

static void test_bad_urls(void **state)
{
	(void)state;
	refused("tcp://host:2376", "not an ssh:// URL");
	refused("ssh://", "expected ssh://USER@HOST");
	refused("ssh://root@", "expected ssh://USER@HOST");
	refused("ssh://@host", "user before '@' is empty");
	refused("ssh://root@host:0", "port must be a number from 1 to 65535");
	refused("ssh://root@host:65536", "port must be a number");
	refused("ssh://root@host:22x", "port must be a number");
	refused("ssh://root@host:", "port must be a number");
	refused("ssh://root@host/var/run/docker.sock", "nothing after the host");
	refused("ssh://root@host?x=1", "nothing after the host");
	refused("ssh://root@[::1", "expected ssh://USER@HOST");
	refused("ssh://root@[]:22", "expected ssh://USER@HOST");
	refused("ssh://root@[::1]x", "expected ssh://USER@HOST");
	refused("ssh://root@ho st", "bad host name");
	refused("ssh://a@b@c", "bad host name");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_urls),
		cmocka_unit_test(test_bad_urls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
