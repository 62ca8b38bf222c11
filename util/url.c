/*
 * url.c - where a credential may go (see url.h).
 */
#include "util/url.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Nothing, or ":" and a port number: what may follow a host. */
static bool port_suffix_ok(const char *s)
{
	size_t digits;

	if (*s == '\0')
		return true;
	if (*s != ':')
		return false;
	digits = strspn(s + 1, "0123456789");
	return digits >= 1 && digits <= 5 && s[1 + digits] == '\0';
}

bool bs_host_is_loopback(const char *hostport)
{
	unsigned char addr[16];
	char host[256];
	const char *start = hostport, *end, *rest;
	size_t len;

	if (start[0] == '[') {
		end = strchr(start, ']');
		if (end == NULL)
			return false;
		start++;
		rest = end + 1;
	} else {
		end = strchr(start, ':');
		if (end == NULL)
			end = start + strlen(start);
		rest = end;
	}
	/* "127.0.0.1:5000@evil.example" is not loopback: the host is strict */
	if (!port_suffix_ok(rest))
		return false;
	len = (size_t)(end - start);
	if (len == 0 || len >= sizeof(host))
		return false;
	memcpy(host, start, len);
	host[len] = '\0';
	if (strcmp(host, "localhost") == 0)
		return hostport[0] != '[';
	if (hostport[0] != '[' && inet_pton(AF_INET, host, addr) == 1)
		return addr[0] == 127;
	if (hostport[0] == '[' && inet_pton(AF_INET6, host, addr) == 1) {
		static const unsigned char one[16] = {[15] = 1};

		return memcmp(addr, one, sizeof(one)) == 0;
	}
	return false;
}

/* The authority of a URL: after "://", up to the path, query or fragment. */
static const char *authority(const char *url, size_t *len)
{
	const char *start = strstr(url, "://");

	start = start ? start + 3 : url;
	*len = strcspn(start, "/?#");
	return start;
}

const char *bs_url_host(const char *url, char *buf, size_t size)
{
	size_t len;
	const char *start = authority(url, &len);
	const char *at = memrchr(start, '@', len);

	if (at != NULL) {
		len -= (size_t)(at + 1 - start);
		start = at + 1;
	}
	if (size == 0)
		return buf;
	if (len >= size)
		len = size - 1;
	memcpy(buf, start, len);
	buf[len] = '\0';
	return buf;
}

bool bs_url_has_userinfo(const char *url)
{
	size_t len;
	const char *start = authority(url, &len);

	return strstr(url, "://") != NULL && memchr(start, '@', len) != NULL;
}

char *bs_url_userinfo_secret(const char *url)
{
	size_t len, n;
	const char *start = authority(url, &len);
	const char *at, *colon;
	char *out;

	if (strstr(url, "://") == NULL)
		return NULL;
	at = memrchr(start, '@', len);
	if (at == NULL || at == start)
		return NULL;
	colon = memchr(start, ':', (size_t)(at - start));
	if (colon != NULL)
		start = colon + 1;
	n = (size_t)(at - start);
	if (n == 0 || (colon == NULL && n < 16))
		return NULL;
	out = malloc(n + 1);
	if (out == NULL)
		abort();
	memcpy(out, start, n);
	out[n] = '\0';
	return out;
}

bool bs_url_is_cleartext_remote(const char *url)
{
	char host[300];
	size_t len;

	/* fail closed: only https://, or http:// to this machine, is safe */
	if (strncasecmp(url, "https://", 8) == 0)
		return false;
	if (strncasecmp(url, "http://", 7) != 0)
		return true;
	authority(url, &len);
	if (len >= sizeof(host))
		return true; /* too long to be one of ours: not loopback */
	return !bs_host_is_loopback(bs_url_host(url, host, sizeof(host)));
}

bool bs_url_login_in_clear(const char *url)
{
	if (!bs_url_has_userinfo(url))
		return false;
	if (strncasecmp(url, "git://", 6) == 0)
		return true;
	return strncasecmp(url, "http://", 7) == 0 && bs_url_is_cleartext_remote(url);
}
