/*
 * swarm_fuzz.c - libFuzzer target for the swarm answers the driver reads
 * (container/docker_swarm.c): the cluster (GET /swarm, join tokens
 * included), its nodes (GET /nodes), services (GET /services and
 * /services/ID) and tasks (GET /tasks).
 *
 * Every input is one answer body: a JSON list goes through the node,
 * service and task readers item by item, an object through all four, as
 * the driver does after its request.
 *
 * Checked: every result frees cleanly (the join tokens move out of the
 * JSON tree, once); nothing else: these readers take what is there and
 * leave the rest empty.
 */
#include <string.h>

#include "container/docker_priv.h"
#include "tests/fuzz/fuzz.h"

static void one(const cJSON *o)
{
	struct bs_cluster_node_list nodes;
	struct bs_service_info service;
	struct bs_task_list tasks;

	memset(&nodes, 0, sizeof(nodes));
	nodes.v = calloc(1, sizeof(*nodes.v));
	fuzz_check(nodes.v != NULL, "swarm", "out of memory");
	dk_parse_node(o, &nodes.v[nodes.n++]);
	bs_cluster_node_list_free(&nodes);

	memset(&service, 0, sizeof(service));
	dk_parse_service(o, &service);
	bs_service_info_free(&service);

	memset(&tasks, 0, sizeof(tasks));
	tasks.v = calloc(1, sizeof(*tasks.v));
	fuzz_check(tasks.v != NULL, "swarm", "out of memory");
	dk_parse_task(o, &tasks.v[tasks.n++]);
	bs_task_list_free(&tasks);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *root = cJSON_ParseWithLength((const char *)data, size);
	const cJSON *item;

	if (cJSON_IsArray(root)) {
		cJSON_ArrayForEach(item, root) one(item);
	} else if (root != NULL) {
		struct bs_cluster cluster;

		one(root);
		memset(&cluster, 0, sizeof(cluster));
		dk_parse_swarm(root, &cluster);
		bs_cluster_free(&cluster);
	}
	cJSON_Delete(root);
	return 0;
}
