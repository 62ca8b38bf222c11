/*
 * known_hosts_fuzz.c - libFuzzer target for the known_hosts reader
 * (provision/known_hosts.c): the input is one known_hosts file, handed to
 * bs_known_hosts_parse() byte for byte (not NUL-terminated). That drives
 * the line splitter (CRLF, NUL bytes, long lines, no final newline), the
 * fields and markers, base64 keys and the type inside the blob, hashed
 * names; then lookups drive the pattern matcher (`*`, `?`, `!`), the
 * hashed-name HMAC and the precedence of revoked, pinned, changed and
 * certificate-authority lines; each line on its own drives what forgetting
 * a machine's pins removes.
 *
 * Checked beyond "no crash, no leak, no UB": every line is kept or
 * skipped at most once; a hit names this input and a line that exists
 * (UNKNOWN names none), with its key type unless it is a skipped line
 * (BAD_LINE); a type reported pinned makes a key of that type known, never
 * UNKNOWN; a line that is for a tag carries the tag.
 *
 * Warnings go to util/log.c, which drops them (no sink): the target never
 * prints per input.
 */
#include <string.h>

#include "provision/known_hosts.h"
#include "tests/fuzz/fuzz.h"
#include "util/str.h"

#define ORIGIN "fuzz_known_hosts"
#define TAG "bootstrap:local:abc"

/* ssh-ed25519 and ecdsa-sha2-nistp256 public keys (ssh-keygen), as blobs */
static const char *const key_b64[] = {
	"AAAAC3NzaC1lZDI1NTE5AAAAIE4k/XJbJ3MOowwAZ96p3dAVb+C9llGSuyey/Ux1chwB",
	"AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBG011FZTekmhqQxDWJBDbJBGFl/BprXqdypJ7FApq8QmH+zJmutZLXyrHdQBnTOQtphvWyxYY7UM7piqJLn/OpM=",
};
static const char *const types[] = {"ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"};

static const struct {
	const char *host;
	int port;
} hosts[] = {
	{"127.0.0.1", 22},	   {"127.0.0.1", 2222}, {"web.example.com", 22},
	{"web.example.com", 2222}, {"::1", 22},		{"somehost", 0},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void check_hit(const struct bs_known_hosts_hit *hit, long lines)
{
	if (hit->status == BS_KNOWN_HOSTS_UNKNOWN) {
		fuzz_check(hit->path == NULL && hit->line == 0 && hit->type == NULL, "known_hosts",
			   "UNKNOWN names a line");
		return;
	}
	/* a skipped line has no type; every kept one has */
	fuzz_check((hit->status == BS_KNOWN_HOSTS_BAD_LINE) == (hit->type == NULL), "known_hosts",
		   "a hit's key type is missing, or given for a skipped line");
	fuzz_check(hit->path != NULL && strcmp(hit->path, ORIGIN) == 0, "known_hosts",
		   "a hit names another file");
	fuzz_check(hit->line >= 1 && hit->line <= lines, "known_hosts",
		   "a hit names a line that does not exist");
}

static void lookups(const struct bs_known_hosts *kh, const uint8_t *data, size_t size, long lines)
{
	unsigned char *keys[N(key_b64)];
	size_t key_len[N(key_b64)];
	struct bs_known_hosts_hit hit;

	for (size_t k = 0; k < N(key_b64); k++)
		keys[k] = bs_base64_decode(key_b64[k], &key_len[k]);
	for (size_t h = 0; h < N(hosts); h++) {
		for (size_t k = 0; k < N(key_b64); k++) {
			bs_known_hosts_check(kh, hosts[h].host, hosts[h].port, keys[k], key_len[k],
					     &hit);
			check_hit(&hit, lines);
			if (bs_known_hosts_pinned(kh, hosts[h].host, hosts[h].port, types[k], NULL))
				fuzz_check(hit.status != BS_KNOWN_HOSTS_UNKNOWN, "known_hosts",
					   "a pinned type, yet its key is unknown");
		}
		/* the input itself as the server's key blob */
		bs_known_hosts_check(kh, hosts[h].host, hosts[h].port, data, size, &hit);
		check_hit(&hit, lines);
		for (size_t t = 0; t < N(types); t++) {
			if (bs_known_hosts_pinned(kh, hosts[h].host, hosts[h].port, types[t], &hit))
				check_hit(&hit, lines);
		}
	}
	for (size_t k = 0; k < N(key_b64); k++)
		free(keys[k]);
}

static void each_line(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		if (bs_known_hosts_line_is_for(p, n, NULL, 0, TAG))
			fuzz_check(memmem(p, n, TAG, strlen(TAG)) != NULL, "known_hosts",
				   "a line is for a tag it does not carry");
		bs_known_hosts_line_is_for(p, n, "web.example.com", 2222, NULL);
		bs_known_hosts_line_is_for(p, n, "127.0.0.1", 22, TAG);
		p += n + (nl != NULL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bs_known_hosts *kh = bs_known_hosts_new();
	long lines = 0;
	size_t skipped;

	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	if (size > 0 && data[size - 1] != '\n')
		lines++;
	skipped = bs_known_hosts_parse(kh, ORIGIN, (const char *)data, size);
	fuzz_check(skipped + bs_known_hosts_count(kh) <= (size_t)lines, "known_hosts",
		   "more lines kept and skipped than the input has");
	lookups(kh, data, size, lines);
	each_line(data, size);
	bs_known_hosts_free(kh);
	return 0;
}
