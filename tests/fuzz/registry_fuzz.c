/*
 * registry_fuzz.c - libFuzzer target for what a registry says about
 * authentication (container/registry.c): the WWW-Authenticate challenge
 * of a 401 (bs_registry_parse_challenge: scheme, then realm, service and
 * scope, quoted or not) and the token service's answer
 * (bs_registry_parse_token: "token" or OAuth2's "access_token").
 *
 * Input: the header value up to the first newline, then the token
 * service's body. The realm goes through bs_url_host and the loopback
 * check, as the client decides where credentials may go.
 *
 * Checked: a scheme is lower case and the parameter names too; a token is
 * a non-empty string; nothing leaks (the token is the caller's).
 */
#include <ctype.h>
#include <string.h>

#include "container/registry.h"
#include "util/url.h"
#include "tests/fuzz/fuzz.h"

static void challenge(const char *header)
{
	struct bs_kvlist params = BS_KVLIST_INIT;
	char *scheme = bs_registry_parse_challenge(header, &params);
	const struct bs_kv *realm;
	char host[256];

	if (scheme != NULL)
		for (const char *p = scheme; *p != '\0'; p++)
			fuzz_check(!isupper((unsigned char)*p), "registry",
				   "a scheme not lower case");
	for (size_t i = 0; i < params.n; i++)
		for (const char *p = params.v[i].key; *p != '\0'; p++)
			fuzz_check(!isupper((unsigned char)*p), "registry",
				   "a parameter name not lower case");
	realm = bs_kvlist_find(&params, "realm");
	if (realm != NULL && realm->value != NULL) {
		const char *h = bs_url_host(realm->value, host, sizeof(host));

		if (h != NULL) {
			fuzz_check(strlen(h) < sizeof(host), "registry", "a host past its buffer");
			(void)bs_host_is_loopback(h);
		}
	}
	free(scheme);
	bs_kvlist_free(&params);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t n = nl ? (size_t)(nl - data) : size;
	char *header = malloc(n + 1);
	char *token;

	fuzz_check(header != NULL, "registry", "out of memory");
	memcpy(header, data, n);
	header[n] = '\0';
	challenge(header);
	free(header);
	if (nl != NULL) {
		token = bs_registry_parse_token((const char *)nl + 1, size - n - 1);
		fuzz_check(token == NULL || token[0] != '\0', "registry", "an empty token");
		bs_secure_free_str(token);
	}
	return 0;
}
