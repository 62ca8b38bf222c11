/*
 * Unit tests for what the Docker driver sends (container/docker.c,
 * docker_swarm.c, docker_priv.h): the create body of a container and the
 * ServiceSpec of a service, for the settings a recipe's container may add
 * (capabilities, read-only root, tmpfs, ulimits, extra hosts, exposed
 * ports, the log driver), and that what is not set is not sent.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "container/docker_priv.h"

static const char *const cap_add[] = {"NET_ADMIN", NULL};
static const char *const cap_drop[] = {"ALL", NULL};
static const char *const hosts[] = {"db:10.0.0.5", "v6:::1", NULL};
static const char *const exposed[] = {"9000/tcp", "53/udp", NULL};
static const char *const node_tmpfs[] = {"/run/lock", NULL};
static const struct bs_culimit ulimits[] = {{"nofile", 1024, 2048}, {"nproc", 512, 512}};

/* Compact JSON of o[path...] (NULL-terminated keys); caller frees. */
static char *at(const cJSON *o, ...)
{
	va_list ap;
	const char *key;

	va_start(ap, o);
	while (o != NULL && (key = va_arg(ap, const char *)) != NULL)
		o = cJSON_GetObjectItemCaseSensitive(o, key);
	va_end(ap);
	return o ? cJSON_PrintUnformatted(o) : strdup("(absent)");
}

#define assert_at(want, ...)                                                                       \
	do {                                                                                       \
		char *got_ = at(__VA_ARGS__, NULL);                                                \
		if (strcmp(got_, (want)) != 0)                                                     \
			fail_msg("%s: got %s, want %s", #__VA_ARGS__, got_, (want));               \
		free(got_);                                                                        \
	} while (0)

static void fill(struct bs_cspec *s, struct bs_mount_spec *mounts, struct bs_kvlist *log_opts)
{
	memset(s, 0, sizeof(*s));
	memset(log_opts, 0, sizeof(*log_opts));
	bs_kvlist_push(log_opts, "tag", "web", false);
	/* the short form (options: HostConfig.Tmpfs), the long form (Mounts) */
	mounts[0] = (struct bs_mount_spec){.type = "tmpfs",
					   .target = "/run",
					   .tmpfs_size = 64 << 20,
					   .tmpfs_mode = 01777,
					   .tmpfs_options = "size=64m,mode=1777"};
	mounts[1] = (struct bs_mount_spec){
		.type = "tmpfs", .target = "/cache", .tmpfs_size = 1 << 20, .tmpfs_mode = 0700};
	mounts[2] = (struct bs_mount_spec){.type = "volume", .source = "p-data", .target = "/d"};
	s->name = "p-web-1";
	s->image = "nginx:1.25";
	s->mounts = mounts;
	s->n_mounts = 3;
	s->cap_add = cap_add;
	s->cap_drop = cap_drop;
	s->read_only_rootfs = true;
	s->ulimits = ulimits;
	s->n_ulimits = 2;
	s->extra_hosts = hosts;
	s->exposed = exposed;
	s->log_driver = "syslog";
	s->log_options = log_opts;
	s->log_max_size = "10m"; /* bootstrap's rotation: the recipe's driver wins */
	s->log_max_file = "3";
}

static void test_create_body(void **state)
{
	struct bs_mount_spec mounts[3];
	struct bs_kvlist log_opts;
	struct bs_cspec s;
	cJSON *b;

	(void)state;
	fill(&s, mounts, &log_opts);
	s.tmpfs = node_tmpfs;
	b = dk_create_body(&s);
	assert_at("[\"NET_ADMIN\"]", b, "HostConfig", "CapAdd");
	assert_at("[\"ALL\"]", b, "HostConfig", "CapDrop");
	assert_at("true", b, "HostConfig", "ReadonlyRootfs");
	assert_at("{\"/run/lock\":\"\",\"/run\":\"size=64m,mode=1777\"}", b, "HostConfig", "Tmpfs");
	assert_at(
		"[{\"Type\":\"tmpfs\",\"Target\":\"/cache\",\"ReadOnly\":false,\"TmpfsOptions\":"
		"{\"SizeBytes\":1048576,\"Mode\":448}},{\"Type\":\"volume\",\"Source\":\"p-data\","
		"\"Target\":\"/d\",\"ReadOnly\":false}]",
		b, "HostConfig", "Mounts");
	assert_at("[{\"Name\":\"nofile\",\"Soft\":1024,\"Hard\":2048},{\"Name\":\"nproc\","
		  "\"Soft\":512,\"Hard\":512}]",
		  b, "HostConfig", "Ulimits");
	assert_at("[\"db:10.0.0.5\",\"v6:::1\"]", b, "HostConfig", "ExtraHosts");
	assert_at("{\"9000/tcp\":{},\"53/udp\":{}}", b, "ExposedPorts");
	assert_at("{\"Type\":\"syslog\",\"Config\":{\"tag\":\"web\"}}", b, "HostConfig",
		  "LogConfig");
	cJSON_Delete(b);

	/* options without a driver: the engine's default driver with them */
	s.log_driver = NULL;
	b = dk_create_body(&s);
	assert_at("{\"Type\":\"\",\"Config\":{\"tag\":\"web\"}}", b, "HostConfig", "LogConfig");
	cJSON_Delete(b);

	/* none of it set: none of it sent, bootstrap's rotation kept */
	memset(&s, 0, sizeof(s));
	s.name = "p-web-1";
	s.image = "nginx:1.25";
	s.log_max_size = "10m";
	b = dk_create_body(&s);
	assert_at("(absent)", b, "HostConfig", "CapAdd");
	assert_at("(absent)", b, "HostConfig", "ReadonlyRootfs");
	assert_at("(absent)", b, "HostConfig", "Tmpfs");
	assert_at("(absent)", b, "HostConfig", "Ulimits");
	assert_at("(absent)", b, "HostConfig", "ExtraHosts");
	assert_at("{}", b, "ExposedPorts");
	assert_at("{\"Type\":\"json-file\",\"Config\":{\"max-size\":\"10m\"}}", b, "HostConfig",
		  "LogConfig");
	assert_at("(absent)", b, "NetworkingConfig");
	cJSON_Delete(b);

	/* on a network: its endpoint, with the alias when one is given */
	s.network = "p-net";
	b = dk_create_body(&s);
	assert_at("{\"p-net\":{}}", b, "NetworkingConfig", "EndpointsConfig");
	cJSON_Delete(b);
	s.network_alias = "web";
	b = dk_create_body(&s);
	assert_at("{\"p-net\":{\"Aliases\":[\"web\"]}}", b, "NetworkingConfig", "EndpointsConfig");
	assert_at("\"p-net\"", b, "HostConfig", "NetworkMode");
	cJSON_Delete(b);
	bs_kvlist_free(&log_opts);
}

static void test_service_body(void **state)
{
	struct bs_mount_spec mounts[3];
	struct bs_kvlist log_opts;
	struct bs_cspec task;
	struct bs_service_spec s;
	cJSON *b;

	(void)state;
	fill(&task, mounts, &log_opts);
	task.exposed = NULL; /* refused for services at validate */
	memset(&s, 0, sizeof(s));
	s.name = "p-web";
	s.task = &task;
	s.stop_grace_ns = -1;
	b = dk_service_body(&s);
	assert_at("[\"NET_ADMIN\"]", b, "TaskTemplate", "ContainerSpec", "CapabilityAdd");
	assert_at("[\"ALL\"]", b, "TaskTemplate", "ContainerSpec", "CapabilityDrop");
	assert_at("true", b, "TaskTemplate", "ContainerSpec", "ReadOnly");
	assert_at("[\"10.0.0.5 db\",\"::1 v6\"]", b, "TaskTemplate", "ContainerSpec", "Hosts");
	assert_at("[{\"Name\":\"nofile\",\"Soft\":1024,\"Hard\":2048},{\"Name\":\"nproc\","
		  "\"Soft\":512,\"Hard\":512}]",
		  b, "TaskTemplate", "ContainerSpec", "Ulimits");
	/* a service has no options string: both forms as Mounts */
	assert_at(
		"[{\"Type\":\"tmpfs\",\"Target\":\"/run\",\"ReadOnly\":false,\"TmpfsOptions\":"
		"{\"SizeBytes\":67108864,\"Mode\":1023}},{\"Type\":\"tmpfs\",\"Target\":\"/cache\","
		"\"ReadOnly\":false,\"TmpfsOptions\":{\"SizeBytes\":1048576,\"Mode\":448}},"
		"{\"Type\":\"volume\",\"Source\":\"p-data\",\"Target\":\"/d\",\"ReadOnly\":false}]",
		b, "TaskTemplate", "ContainerSpec", "Mounts");
	assert_at("{\"Name\":\"syslog\",\"Options\":{\"tag\":\"web\"}}", b, "TaskTemplate",
		  "LogDriver");
	cJSON_Delete(b);

	memset(&task, 0, sizeof(task));
	task.image = "nginx:1.25";
	task.log_max_size = "10m";
	b = dk_service_body(&s);
	assert_at("(absent)", b, "TaskTemplate", "ContainerSpec", "CapabilityAdd");
	assert_at("(absent)", b, "TaskTemplate", "ContainerSpec", "ReadOnly");
	assert_at("(absent)", b, "TaskTemplate", "ContainerSpec", "Hosts");
	assert_at("(absent)", b, "TaskTemplate", "ContainerSpec", "Ulimits");
	assert_at("{\"Options\":{\"max-size\":\"10m\"},\"Name\":\"json-file\"}", b, "TaskTemplate",
		  "LogDriver");
	cJSON_Delete(b);
	bs_kvlist_free(&log_opts);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_body),
		cmocka_unit_test(test_service_body),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
