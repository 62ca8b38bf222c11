/*
 * url.h - the few facts about a URL that decide where a credential may go.
 *
 * A credential (a cloud token, a registry password, a git login) travels
 * over TLS, or in clear text only to this machine: a loopback address
 * (127.0.0.0/8, ::1) or the name "localhost". A name that merely starts
 * like one ("127.evil.example") is not loopback.
 */
#ifndef BS_UTIL_URL_H
#define BS_UTIL_URL_H

#include <stdbool.h>
#include <stddef.h>

/* Is "host", "host:port", "[v6]" or "[v6]:port" a loopback address?
 * Strict: anything else after the host ("127.0.0.1:5000@evil.example",
 * "[::1]evil") is not. */
bool bs_host_is_loopback(const char *hostport);

/* The host[:port] of "scheme://[userinfo@]host[:port]/path" into buf (cut
 * to size - 1 bytes; without userinfo); the whole text when there is no
 * "://". Returns buf. */
const char *bs_url_host(const char *url, char *buf, size_t size);

/* Does the URL carry a user name or password ("scheme://user:pw@host")? */
bool bs_url_has_userinfo(const char *url);

/* The secret in a URL's userinfo: the password of "user:password@", or
 * "token@" when it is long enough to be a token (16 characters or more: a
 * user name like "git@" is not masked); NULL when the URL has none. Free
 * with free(). */
char *bs_url_userinfo_secret(const char *url);

/* Would a credential sent to this URL cross a network in clear text? Fails
 * closed: false only for https:// and for http:// to a loopback host. */
bool bs_url_is_cleartext_remote(const char *url);

/* Does the URL carry a login that would cross a network in clear text:
 * userinfo in an http:// URL to a host that is not loopback, or in a
 * git:// URL (the git protocol has no encryption and no logins)? ssh://
 * and https:// are fine. */
bool bs_url_login_in_clear(const char *url);

#endif
