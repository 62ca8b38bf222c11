/*
 * cloud_fuzz.c - libFuzzer target for the cloud APIs' replies, Hetzner
 * Cloud and DigitalOcean (provision/cloud_rest.c, compute_hetzner.c,
 * compute_digitalocean.c): every input is a reply body, read as each
 * provider's driver reads it.
 *
 *   - the error body ({"error":{"code","message"}} / {"id","message"}),
 *     bs_rest_parse_error, and the sentence bs_rest_status_error makes of
 *     it for a few statuses;
 *   - pagination (meta.pagination.next_page / links.pages.next),
 *     bs_rest_next_page;
 *   - servers and droplets: the object of a create or get reply
 *     ("server", "droplet") and each item of a list ("servers",
 *     "droplets"), or the body itself, through bs_hetzner_machine and
 *     bs_digitalocean_machine, then sorted as a list is;
 *   - actions: Hetzner's outcome (bs_hetzner_action_outcome) and the ids
 *     both drivers keep to poll them (bs_rest_id_string);
 *   - the first line as the Retry-After and RateLimit-Reset headers of a
 *     429 (bs_rest_rate_limit_wait_ms).
 *
 * Checked: a machine read has an id; error codes and messages are cut
 * and free of control characters; waits are at least 100 ms; a next page
 * is positive, 0 or -1 (malformed); err always has a message when a code is returned.
 */
#include <cJSON.h>
#include <string.h>

#include "provision/cloud_rest.h"
#include "provision/compute.h"
#include "tests/fuzz/fuzz.h"

static void clean(const char *s, const char *what)
{
	if (s == NULL)
		return;
	fuzz_check(strlen(s) <= 300 + 3, "cloud", what);
	for (const char *p = s; *p != '\0'; p++)
		fuzz_check((unsigned char)*p >= 0x20 && *p != 0x7f, "cloud", what);
}

static void errors(enum bs_rest_dialect d, const uint8_t *data, size_t size)
{
	static const long statuses[] = {401, 403, 404, 409, 422, 429, 500, 503};
	char *code = NULL, *message = NULL;

	bs_rest_parse_error(d, (const char *)data, size, &code, &message);
	clean(code, "an error code is not cut or clean");
	clean(message, "an error message is not cut or clean");
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		struct bs_err err = BS_ERR_INIT;
		int rc = bs_rest_status_error(&err, d, "HCLOUD_TOKEN", "GET", "/v1/servers",
					      statuses[i], code, message);

		fuzz_check(rc < 0 && err.msg[0] != '\0', "cloud",
			   "a status error without a message");
		(void)bs_rest_transient(d, statuses[i], code);
	}
	free(code);
	free(message);
}

static void action(const cJSON *obj)
{
	struct bs_err err = BS_ERR_INIT;
	bool done = false;
	char *id = bs_rest_id_string(cJSON_GetObjectItemCaseSensitive(obj, "id"));
	int rc = bs_hetzner_action_outcome(obj, "creating server web-1", &done, &err);

	if (rc != 0)
		fuzz_check(rc == BS_ERR_API && done && err.msg[0] != '\0', "cloud",
			   "a failed action that is not BS_ERR_API, done, with a message");
	free(id);
}

static void machine(enum bs_rest_dialect d, const cJSON *obj, struct bs_machine_list *list)
{
	struct bs_err err = BS_ERR_INIT;
	struct bs_machine m;
	int rc;

	memset(&m, 0, sizeof(m));
	rc = d == BS_REST_HETZNER ? bs_hetzner_machine(&m, obj, &err)
				  : bs_digitalocean_machine(&m, obj, &err);
	if (rc != 0) {
		fuzz_check(err.msg[0] != '\0', "cloud", "a machine refused without a message");
		bs_machine_free(&m);
		return;
	}
	fuzz_check(m.id != NULL && m.id[0] != '\0', "cloud", "a machine without an id");
	bs_rest_machines_push(list, &m);
}

/* Actions: Hetzner's outcome (running, success, or an error with its
 * code and message), and the ids both drivers keep to poll them
 * (DigitalOcean's in links.actions). */
static void actions(const cJSON *root)
{
	const cJSON *links = cJSON_GetObjectItemCaseSensitive(root, "links");
	const cJSON *lists[] = {cJSON_GetObjectItemCaseSensitive(root, "actions"),
				cJSON_GetObjectItemCaseSensitive(links, "actions")};
	const cJSON *one = cJSON_GetObjectItemCaseSensitive(root, "action");
	const cJSON *item;

	for (size_t i = 0; i < 2; i++)
		cJSON_ArrayForEach(item, lists[i]) action(item);
	action(one);
	action(root);
}

static void machines(enum bs_rest_dialect d, const cJSON *root)
{
	const char *one = d == BS_REST_HETZNER ? "server" : "droplet";
	const char *many = d == BS_REST_HETZNER ? "servers" : "droplets";
	struct bs_machine_list list;
	const cJSON *item;

	memset(&list, 0, sizeof(list));
	if (cJSON_GetObjectItemCaseSensitive(root, one) != NULL)
		machine(d, cJSON_GetObjectItemCaseSensitive(root, one), &list);
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root, many))
		machine(d, item, &list);
	machine(d, root, &list);
	bs_rest_machines_sort(&list);
	bs_machine_list_free(&list);
	fuzz_check(bs_rest_next_page(d, root) >= -1, "cloud", "a next page under -1");
}

static void rate_limit(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t n = nl ? (size_t)(nl - data) : size;
	char *line = malloc(n + 1);
	char *comma;

	fuzz_check(line != NULL, "cloud", "out of memory");
	memcpy(line, data, n);
	line[n] = '\0';
	comma = strchr(line, ',');
	if (comma != NULL)
		*comma++ = '\0';
	fuzz_check(bs_rest_rate_limit_wait_ms(line, comma, 1765000000000LL, 1000) >= 100, "cloud",
		   "a 429 wait under 100 ms");
	fuzz_check(bs_rest_rate_limit_wait_ms(NULL, line, 1765000000000LL, 500) >= 100, "cloud",
		   "a 429 wait under 100 ms");
	free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *root = cJSON_ParseWithLength((const char *)data, size);

	errors(BS_REST_HETZNER, data, size);
	errors(BS_REST_DIGITALOCEAN, data, size);
	if (root != NULL) {
		machines(BS_REST_HETZNER, root);
		machines(BS_REST_DIGITALOCEAN, root);
		actions(root);
	}
	rate_limit(data, size);
	cJSON_Delete(root);
	return 0;
}
