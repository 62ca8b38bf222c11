/*
 * docker_fuzz.c - libFuzzer target for the Docker Engine API answers the
 * driver reads (container/docker.c): the container list
 * (GET /containers/json), a container's inspect (/containers/ID/json),
 * the image list and inspect (/images/json, /images/ID/json), and the
 * {"message": ...} of an error answer (dk_error_message).
 *
 * Every input is one answer body. A JSON list goes through the list
 * readers item by item, an object through the inspect readers, as the
 * driver does after its request; the error reader takes any body with
 * any status.
 *
 * Checked: the port bindings stay within what was allocated for them (the
 * counts come from the same JSON); names lose their leading '/'; an error
 * message is one line; every result frees cleanly.
 */
#include <string.h>

#include "container/docker_priv.h"
#include "tests/fuzz/fuzz.h"

static void container(const cJSON *o, bool inspect)
{
	struct bs_cinfo c;

	memset(&c, 0, sizeof(c));
	if (inspect)
		dk_parse_container_inspect(o, &c);
	else
		dk_parse_container_item(o, &c);
	fuzz_check(c.ports != NULL, "docker", "no port array");
	for (size_t i = 0; i < c.n_ports; i++)
		(void)c.ports[i].host_port;
	fuzz_check(c.ports[c.n_ports].host_ip == NULL, "docker",
		   "the port array's terminator was written");
	if (inspect && c.name != NULL)
		fuzz_check(c.name[0] != '/', "docker", "a name kept its '/'");
	bs_cinfo_free(&c);
}

static void image(const cJSON *o)
{
	struct bs_iinfo img;

	memset(&img, 0, sizeof(img));
	dk_parse_image(o, &img);
	bs_iinfo_free(&img);
}

/* A stats sample: figures are -1 (unknown) or not negative, never NaN. */
static void stats(const cJSON *o)
{
	struct bs_cstats s;

	dk_parse_stats(o, &s);
	fuzz_check(s.cpu_percent == s.cpu_percent, "docker", "a CPU percentage that is NaN");
	fuzz_check(s.mem_used >= -1 && s.mem_limit >= -1 && s.net_rx >= -1 && s.net_tx >= -1 &&
			   s.blk_read >= -1 && s.blk_write >= -1 && s.pids >= -1 &&
			   s.online_cpus >= 0,
		   "docker", "a negative stats figure other than -1");
}

static void error_message(const uint8_t *data, size_t size)
{
	struct bs_http_response resp;
	char msg[768];

	memset(&resp, 0, sizeof(resp));
	resp.status = 500;
	bs_buf_append(&resp.body, data, size);
	dk_error_message(&resp, msg, sizeof(msg));
	fuzz_check(strpbrk(msg, "\r\n") == NULL, "docker", "an error message of two lines");
	bs_http_response_free(&resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *root = cJSON_ParseWithLength((const char *)data, size);
	const cJSON *item;

	if (cJSON_IsArray(root)) {
		cJSON_ArrayForEach(item, root)
		{
			container(item, false);
			image(item);
		}
	} else if (root != NULL) {
		container(root, true);
		container(root, false);
		image(root);
		stats(root);
	}
	cJSON_Delete(root);
	error_message(data, size);
	return 0;
}
