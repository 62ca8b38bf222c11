/*
 * tests/integration/driver.c - the container driver and registry client
 * against the lab's real engine and registries (tests/lab/lab.sh), for
 * what the CLI does not reach: the stream endpoint seam, idempotent
 * networks and volumes, update in place, rename, bounded events, image
 * save/load between engines, the registry v2 client with and without
 * credentials, the refusal of an engine older than API 1.41, and the
 * Docker Swarm entries (cluster, nodes, services, tasks, logs, overlay
 * networks) on a swarm of this one engine, always left at the end, and
 * files in and out of containers and exec.
 *
 * DRIVER_TEST_FILTER=test_swarm runs one test (a cmocka pattern); the
 * swarm test and test_files_and_exec need no lab, only local/busybox:1
 * (scripts/demo-image.sh).
 *
 * Run by tests/integration/container.sh with LAB_* in the environment.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "container/driver.h"
#include "container/registry.h"

#define SOCK "/var/run/docker.sock"

static char prefix[64];

static const char *env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL) {
		fprintf(stderr, "%s is not set: run through tests/integration/container.sh\n",
			name);
		exit(2);
	}
	return v;
}

/*
 * A test about to call skip() (which cmocka counts as a pass) asks here
 * first, as the shell suites ask tests/lab/skip.sh: NAME listed in
 * BS_EXPECTED_SKIPS (names separated by spaces), or CI unset, skips with a
 * line that says so; otherwise, in CI, the test fails with REASON and FIX.
 */
static bool skip_allowed(const char *name, const char *reason, const char *fix)
{
	const char *list = getenv("BS_EXPECTED_SKIPS");
	const char *ci = getenv("CI");
	size_t n = strlen(name);

	for (const char *p = list; p != NULL && *p != '\0';) {
		size_t len;

		p += strspn(p, " ");
		len = strcspn(p, " ");
		if (len == n && strncmp(p, name, n) == 0) {
			printf("skip (expected here) %s: %s\n", name, reason);
			return true;
		}
		p += len;
	}
	if (ci != NULL && *ci != '\0') {
		printf("FAILED: unexpected skip %s: %s. %s\n", name, reason, fix);
		return false;
	}
	printf("SKIP !!! %s: %s (not run; in CI this fails unless BS_EXPECTED_SKIPS lists %s). %s\n",
	       name, reason, name, fix);
	return true;
}

static struct bs_cdriver *open_local(struct bs_endpoint *ep)
{
	struct bs_err err = BS_ERR_INIT;
	struct bs_cdriver *d = NULL;

	assert_int_equal(bs_endpoint_parse(ep, "unix://" SOCK, NULL, &err), 0);
	if (bs_docker_open(&d, ep, NULL, &err) != 0)
		fail_msg("%s", err.msg);
	return d;
}

/* ---- a stream connector: connections bridged to the engine's socket ---- */

struct bridge {
	int client_fd; /* accepted from libcurl */
	int engine_fd; /* connected to the engine */
};

struct loop_connector {
	char dir[64];
	char path[108];
	int listen_fd;
	struct bridge bridges[8];
	int n;
	int accepted;
	/* its own thread moves the bytes, as the SSH tunnel's does */
	pthread_t thread;
	atomic_bool stop;
	char error[BS_ERR_MSG_MAX];
	pthread_mutex_t mu;
};

static int connect_engine(void)
{
	struct sockaddr_un sa;
	int e = socket(AF_UNIX, SOCK_STREAM, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, SOCK);
	if (connect(e, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(e);
		return -1;
	}
	fcntl(e, F_SETFL, O_NONBLOCK);
	return e;
}

/* Move bytes from one side to the other; false at EOF or error. */
static bool copy_some(int from, int to)
{
	char buf[16384];
	ssize_t n = read(from, buf, sizeof(buf));

	if (n == 0 || (n < 0 && errno != EAGAIN))
		return false;
	if (n > 0 && write(to, buf, (size_t)n) != n)
		return false;
	return true;
}

static int lc_pump(void *payload, struct bs_err *err)
{
	struct loop_connector *lc = payload;
	int c;

	while ((c = accept(lc->listen_fd, NULL, NULL)) >= 0) {
		int e = connect_engine();

		if (e < 0 || lc->n == 8) {
			close(c);
			return bs_err_set(err, BS_ERR_NETWORK, "cannot reach the engine");
		}
		fcntl(c, F_SETFL, O_NONBLOCK);
		lc->bridges[lc->n].client_fd = c;
		lc->bridges[lc->n].engine_fd = e;
		lc->n++;
		lc->accepted++;
	}
	for (int i = 0; i < lc->n; i++) {
		struct bridge *b = &lc->bridges[i];

		if (!copy_some(b->client_fd, b->engine_fd) ||
		    !copy_some(b->engine_fd, b->client_fd)) {
			close(b->client_fd);
			close(b->engine_fd);
			*b = lc->bridges[--lc->n];
			i--;
		}
	}
	return 0;
}

static int lc_wait_fds(struct loop_connector *lc, struct pollfd *fds, int max)
{
	int n = 0;

	fds[n].fd = lc->listen_fd;
	fds[n++].events = POLLIN;
	for (int i = 0; i < lc->n && n + 2 <= max; i++) {
		fds[n].fd = lc->bridges[i].client_fd;
		fds[n++].events = POLLIN;
		fds[n].fd = lc->bridges[i].engine_fd;
		fds[n++].events = POLLIN;
	}
	return n;
}

static void *lc_thread(void *arg)
{
	struct loop_connector *lc = arg;
	struct pollfd fds[17];

	while (!atomic_load(&lc->stop)) {
		struct bs_err err = BS_ERR_INIT;
		int n;

		pthread_mutex_lock(&lc->mu);
		if (lc_pump(lc, &err) != 0)
			snprintf(lc->error, sizeof(lc->error), "%s", err.msg);
		pthread_mutex_unlock(&lc->mu);
		n = lc_wait_fds(lc, fds, 17);
		poll(fds, (nfds_t)n, 50);
	}
	return NULL;
}

static int lc_failure(void *payload, struct bs_err *err)
{
	struct loop_connector *lc = payload;
	int rc = 0;

	pthread_mutex_lock(&lc->mu);
	if (lc->error[0] != '\0')
		rc = bs_err_set(err, BS_ERR_NETWORK, "%s", lc->error);
	pthread_mutex_unlock(&lc->mu);
	return rc;
}

static void lc_start(struct loop_connector *lc)
{
	struct sockaddr_un sa;

	memset(lc, 0, sizeof(*lc));
	snprintf(lc->dir, sizeof(lc->dir), "/tmp/bs-stream-XXXXXX");
	assert_non_null(mkdtemp(lc->dir));
	snprintf(lc->path, sizeof(lc->path), "%s/engine.sock", lc->dir);
	lc->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, lc->path);
	assert_int_equal(bind(lc->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lc->listen_fd, 8), 0);
	fcntl(lc->listen_fd, F_SETFL, O_NONBLOCK);
	pthread_mutex_init(&lc->mu, NULL);
	assert_int_equal(pthread_create(&lc->thread, NULL, lc_thread, lc), 0);
}

static void lc_stop(struct loop_connector *lc)
{
	atomic_store(&lc->stop, true);
	pthread_join(lc->thread, NULL);
	pthread_mutex_destroy(&lc->mu);
	for (int i = 0; i < lc->n; i++) {
		close(lc->bridges[i].client_fd);
		close(lc->bridges[i].engine_fd);
	}
	close(lc->listen_fd);
	unlink(lc->path);
	rmdir(lc->dir);
}

static void test_stream_endpoint(void **state)
{
	struct loop_connector lc;
	struct bs_endpoint ep;
	struct bs_cdriver *d = NULL;
	struct bs_err err = BS_ERR_INIT;
	struct bs_cinfo_list list;
	struct bs_iinfo img;
	char url[] = "stream://loopback";

	(void)state;
	lc_start(&lc);
	memset(&ep, 0, sizeof(ep));
	ep.kind = BS_ENDPOINT_STREAM;
	ep.url = url;
	ep.stream.socket_path = lc.path;
	ep.stream.failure = lc_failure;
	ep.stream.payload = &lc;
	if (bs_docker_open(&d, &ep, NULL, &err) != 0)
		fail_msg("%s", err.msg);
	assert_string_equal(d->info.api_version, "1.41");
	for (int i = 0; i < 5; i++) {
		assert_int_equal(d->ops->container_list(d, true, NULL, &list, &err), 0);
		bs_cinfo_list_free(&list);
	}
	assert_int_equal(d->ops->image_inspect(d, env("LAB_IMAGE"), &img, &err), 0);
	assert_true(bs_str_starts_with(img.id, "sha256:"));
	bs_iinfo_free(&img);
	/* keep-alive: seven requests, one connection (one channel over SSH) */
	pthread_mutex_lock(&lc.mu);
	assert_int_equal(lc.accepted, 1);
	pthread_mutex_unlock(&lc.mu);
	assert_int_equal(bs_docker_request_count(d), 7);
	d->ops->free(d);
	lc_stop(&lc);
}

/* ---- an engine that is too old --------------------------------------------- */

static char old_sock[108];

static void *old_engine(void *arg)
{
	int server = *(int *)arg, c;
	char buf[2048];
	static const char answer[] =
		"HTTP/1.1 200 OK\r\nApi-Version: 1.30\r\nServer: Docker/17.06.0-ce (linux)\r\n"
		"Content-Length: 2\r\nContent-Type: text/plain\r\n\r\nOK";

	c = accept(server, NULL, NULL);
	if (c >= 0) {
		if (read(c, buf, sizeof(buf)) > 0 && write(c, answer, sizeof(answer) - 1) < 0)
			perror("write");
		close(c);
	}
	return NULL;
}

static void test_old_engine_refused(void **state)
{
	struct sockaddr_un sa;
	struct bs_endpoint ep;
	struct bs_cdriver *d = NULL;
	struct bs_err err = BS_ERR_INIT;
	pthread_t t;
	char url[128];
	int server = socket(AF_UNIX, SOCK_STREAM, 0);

	(void)state;
	snprintf(old_sock, sizeof(old_sock), "/tmp/bs-old-engine-%d.sock", (int)getpid());
	unlink(old_sock);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, old_sock);
	assert_int_equal(bind(server, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(server, 1), 0);
	pthread_create(&t, NULL, old_engine, &server);
	snprintf(url, sizeof(url), "unix://%s", old_sock);
	assert_int_equal(bs_endpoint_parse(&ep, url, NULL, &err), 0);
	assert_int_equal(bs_docker_open(&d, &ep, NULL, &err), BS_ERR_UNSUPPORTED);
	assert_null(d);
	assert_non_null(strstr(err.msg, "speaks Docker API 1.30; bootstrap needs 1.41 or newer"));
	pthread_join(t, NULL);
	close(server);
	unlink(old_sock);
	bs_endpoint_free(&ep);
}

/* ---- networks, volumes ----------------------------------------------------- */

static void test_networks_and_volumes(void **state)
{
	struct bs_endpoint ep;
	struct bs_cdriver *d = open_local(&ep);
	struct bs_kvlist labels = BS_KVLIST_INIT;
	struct bs_err err = BS_ERR_INIT;
	char name[128], cmd[256], count[16] = "";
	bool created, removed;
	FILE *p;

	(void)state;
	bs_kvlist_push(&labels, "io.bootstrap.test", "lab", false);
	/* a network whose name contains ours exists first: the engine's name
	 * filter matches it, the driver must not take it for ours */
	snprintf(name, sizeof(name), "%s-net-x", prefix);
	assert_int_equal(d->ops->network_ensure(d, name, &labels, &created, &err), 0);
	assert_true(created);
	snprintf(name, sizeof(name), "%s-net", prefix);
	assert_int_equal(d->ops->network_ensure(d, name, &labels, &created, &err), 0);
	assert_true(created);
	assert_int_equal(d->ops->network_ensure(d, name, &labels, &created, &err), 0);
	assert_false(created);
	/* a network whose name contains ours must not count as ours */
	snprintf(cmd, sizeof(cmd), "docker network ls -q --filter name=^%s$ | wc -l", name);
	p = popen(cmd, "r");
	assert_non_null(fgets(count, sizeof(count), p));
	pclose(p);
	assert_int_equal(atoi(count), 1);
	assert_int_equal(d->ops->network_remove(d, name, &removed, &err), 0);
	assert_true(removed);
	assert_int_equal(d->ops->network_remove(d, name, &removed, &err), 0);
	assert_false(removed);
	snprintf(name, sizeof(name), "%s-net-x", prefix);
	assert_int_equal(d->ops->network_remove(d, name, &removed, &err), 0);
	assert_true(removed);

	snprintf(name, sizeof(name), "%s-vol", prefix);
	assert_int_equal(d->ops->volume_ensure(d, name, &labels, &created, &err), 0);
	assert_true(created);
	assert_int_equal(d->ops->volume_ensure(d, name, &labels, &created, &err), 0);
	assert_false(created);
	assert_int_equal(d->ops->volume_remove(d, name, &removed, &err), 0);
	assert_true(removed);
	bs_kvlist_free(&labels);
	d->ops->free(d);
	bs_endpoint_free(&ep);
}

/* ---- update, rename, events -------------------------------------------------- */

static int count_events(const char *json, void *payload)
{
	cJSON *o = cJSON_Parse(json);
	const cJSON *action = cJSON_GetObjectItem(o, "Action");

	if (cJSON_IsString(action) && strcmp(action->valuestring, "create") == 0)
		(*(int *)payload)++;
	cJSON_Delete(o);
	return 0;
}

static void test_update_rename_events(void **state)
{
	static const char *const cmd[] = {"sleep", "600", NULL};
	struct bs_endpoint ep;
	struct bs_cdriver *d = open_local(&ep);
	struct bs_kvlist labels = BS_KVLIST_INIT, filters = BS_KVLIST_INIT;
	struct bs_err err = BS_ERR_INIT;
	struct bs_cspec spec;
	struct bs_cupdate up;
	struct bs_cinfo info;
	char name[128], other[128], *id = NULL, *raw = NULL;
	long long t0 = (long long)time(NULL);
	int creates = 0;
	cJSON *o;

	(void)state;
	snprintf(name, sizeof(name), "%s-upd", prefix);
	snprintf(other, sizeof(other), "%s-other", prefix);
	bs_kvlist_push(&labels, "io.bootstrap.test", "lab", false);
	memset(&spec, 0, sizeof(spec));
	spec.name = name;
	spec.image = env("LAB_IMAGE");
	spec.cmd = cmd;
	spec.labels = &labels;
	spec.memory_bytes = 64 << 20;
	spec.restart = "no";
	assert_int_equal(d->ops->container_deploy(d, &spec, &id, &err), 0);
	free(id);
	spec.name = other;
	assert_int_equal(d->ops->container_deploy(d, &spec, &id, &err), 0);
	free(id);

	memset(&up, 0, sizeof(up));
	up.memory_bytes = 256 << 20; /* above the old swap limit: needs MemorySwap too */
	up.restart = "unless-stopped";
	if (d->ops->container_update(d, name, &up, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(d->ops->container_inspect(d, name, &info, &raw, &err), 0);
	assert_int_equal(info.state, BS_CSTATE_RUNNING);
	o = cJSON_Parse(raw);
	assert_int_equal(
		(long long)cJSON_GetObjectItem(cJSON_GetObjectItem(o, "HostConfig"), "Memory")
			->valuedouble,
		256LL << 20);
	assert_string_equal(
		cJSON_GetObjectItem(
			cJSON_GetObjectItem(cJSON_GetObjectItem(o, "HostConfig"), "RestartPolicy"),
			"Name")
			->valuestring,
		"unless-stopped");
	cJSON_Delete(o);
	free(raw);
	bs_cinfo_free(&info);

	assert_int_equal(d->ops->container_rename(d, name, other, &err), BS_ERR_CONFLICT);
	assert_non_null(strstr(err.msg, "is taken"));
	snprintf(name + strlen(name), sizeof(name) - strlen(name), "-renamed");
	{
		char old[128];

		snprintf(old, sizeof(old), "%s-upd", prefix);
		assert_int_equal(d->ops->container_rename(d, old, name, &err), 0);
		assert_int_equal(d->ops->container_inspect(d, old, &info, NULL, &err),
				 BS_ERR_NOT_FOUND);
	}

	/* bounded: until is in the past once both were created */
	bs_kvlist_push(&filters, "label", "io.bootstrap.test=lab", false);
	bs_kvlist_push(&filters, "type", "container", false);
	assert_int_equal(d->ops->events(d, t0 - 1, (long long)time(NULL) + 1, &filters,
					count_events, &creates, &err),
			 0);
	assert_true(creates >= 2);
	assert_int_equal(d->ops->events(d, 0, 0, NULL, count_events, &creates, &err),
			 BS_ERR_INVALID);

	assert_int_equal(d->ops->container_destroy(d, name, 0, &err), 0);
	assert_int_equal(d->ops->container_destroy(d, other, 0, &err), 0);
	bs_kvlist_free(&labels);
	bs_kvlist_free(&filters);
	d->ops->free(d);
	bs_endpoint_free(&ep);
}

/* ---- image transfer ------------------------------------------------------------ */

static void test_image_save_load(void **state)
{
	struct bs_endpoint ep1, ep2;
	struct bs_cdriver *a = open_local(&ep1), *b = open_local(&ep2);
	struct bs_err err = BS_ERR_INIT;
	struct bs_iinfo img;
	char ref[128], path[] = "/tmp/bs-it-image-XXXXXX", cmd[256];
	int fd = mkstemp(path);

	(void)state;
	unlink(path);
	snprintf(ref, sizeof(ref), "%s/transfer:1", prefix);
	snprintf(cmd, sizeof(cmd), "docker tag %s %s", env("LAB_IMAGE"), ref);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(a->ops->image_save(a, ref, fd, &err), 0);
	assert_true(lseek(fd, 0, SEEK_END) > 100000);
	assert_int_equal(a->ops->image_remove(a, ref, false, &err), 0);
	assert_int_equal(b->ops->image_inspect(b, ref, &img, &err), BS_ERR_NOT_FOUND);
	lseek(fd, 0, SEEK_SET);
	if (b->ops->image_load(b, fd, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(b->ops->image_inspect(b, ref, &img, &err), 0);
	bs_iinfo_free(&img);
	assert_int_equal(a->ops->image_save(a, "nope/none:1", fd, &err), BS_ERR_NOT_FOUND);
	close(fd);
	/* the transfer helper end to end: gone, transferred, there again */
	assert_int_equal(a->ops->image_remove(a, ref, false, &err), 0);
	assert_int_equal(bs_cdriver_image_transfer(a, b, env("LAB_IMAGE"), &err), 0);
	assert_int_equal(bs_cdriver_image_transfer(a, b, ref, &err), BS_ERR_NOT_FOUND);
	assert_int_equal(b->ops->image_inspect(b, env("LAB_IMAGE"), &img, &err), 0);
	bs_iinfo_free(&img);
	a->ops->free(a);
	b->ops->free(b);
	bs_endpoint_free(&ep1);
	bs_endpoint_free(&ep2);
}

/* ---- registry client --------------------------------------------------------------- */

static void test_registry_client(void **state)
{
	struct bs_registry_client *c = NULL;
	struct bs_registry_cred cred;
	struct bs_err err = BS_ERR_INIT;
	struct bs_strv tags = BS_STRV_INIT;
	struct bs_endpoint ep;
	struct bs_cdriver *d = open_local(&ep);
	struct bs_iinfo img;
	char ref[256], *digest = NULL, *want;
	char wrong[] = "wrong";

	(void)state;
	env("LAB_USER");
	env("LAB_PASSWORD");
	assert_int_equal(bs_registry_client_new(&c, env("LAB_REGISTRY"), NULL, NULL, &err), 0);
	assert_int_equal(bs_registry_tags(c, "lab/busybox", &tags, &err), 0);
	assert_true(bs_strv_contains(&tags, "1"));
	assert_int_equal(bs_registry_digest(c, "lab/busybox", "1", &digest, &err), 0);
	assert_true(bs_str_starts_with(digest, "sha256:"));
	/* the digest the engine records for a pull is the one the registry serves */
	snprintf(ref, sizeof(ref), "%s/lab/busybox:1", env("LAB_REGISTRY"));
	assert_int_equal(d->ops->image_pull(d, ref, NULL, NULL, NULL, &err), 0);
	assert_int_equal(d->ops->image_inspect(d, ref, &img, &err), 0);
	want = bs_xasprintf("%s/lab/busybox@%s", env("LAB_REGISTRY"), digest);
	assert_true(bs_strv_contains(&img.digests, want));
	free(want);
	bs_iinfo_free(&img);
	free(digest);
	assert_int_equal(bs_registry_digest(c, "lab/busybox", "nope", &digest, &err),
			 BS_ERR_NOT_FOUND);
	assert_int_equal(bs_registry_tags(c, "lab/none", &tags, &err), BS_ERR_NOT_FOUND);
	bs_registry_client_free(c);
	bs_strv_free(&tags);

	/* htpasswd registry: anonymous refused, wrong password refused, right one works */
	assert_int_equal(bs_registry_client_new(&c, env("LAB_AUTH_REGISTRY"), NULL, NULL, &err), 0);
	assert_int_equal(bs_registry_tags(c, "lab/busybox", &tags, &err), BS_ERR_AUTH);
	assert_non_null(strstr(err.msg, "authentication failed for"));
	bs_registry_client_free(c);
	cred.server = getenv("LAB_AUTH_REGISTRY");
	cred.username = getenv("LAB_USER");
	cred.password = wrong;
	assert_int_equal(bs_registry_client_new(&c, cred.server, &cred, NULL, &err), 0);
	assert_int_equal(bs_registry_tags(c, "lab/busybox", &tags, &err), BS_ERR_AUTH);
	assert_null(strstr(err.msg, "wrong"));
	bs_registry_client_free(c);
	cred.password = getenv("LAB_PASSWORD");
	assert_int_equal(bs_registry_client_new(&c, cred.server, &cred, NULL, &err), 0);
	assert_int_equal(bs_registry_tags(c, "lab/busybox", &tags, &err), 0);
	assert_true(bs_strv_contains(&tags, "1"));
	assert_int_equal(bs_registry_digest(c, "lab/busybox", "1", &digest, &err), 0);
	free(digest);
	bs_registry_client_free(c);
	bs_strv_free(&tags);
	d->ops->free(d);
	bs_endpoint_free(&ep);
}

/* The fake token registry's pid, killed at exit even when a test fails. */
static int fake_pid;

static void kill_fake(void)
{
	if (fake_pid > 0)
		kill(fake_pid, SIGTERM);
}

/* Bearer tokens, as Docker Hub issues them: tests/fakes/token_registry.py */
static void test_registry_bearer(void **state)
{
	struct bs_registry_client *c = NULL;
	struct bs_registry_cred cred;
	struct bs_err err = BS_ERR_INIT;
	struct bs_strv tags = BS_STRV_INIT;
	char server[64], user[] = "hubuser", good[] = "hubpass", bad[] = "nope", *digest = NULL;
	char line[64] = "";
	int port = 0, pid = 0;
	FILE *fake;

	(void)state;
	fake = popen("exec python3 tests/fakes/token_registry.py hubuser hubpass", "r");
	assert_non_null(fake);
	assert_non_null(fgets(line, sizeof(line), fake));
	assert_int_equal(sscanf(line, "%d %d", &port, &pid), 2);
	fake_pid = pid;
	snprintf(server, sizeof(server), "127.0.0.1:%d", port);
	cred.server = server;
	cred.username = user;
	cred.password = good;
	assert_int_equal(bs_registry_client_new(&c, server, &cred, NULL, &err), 0);
	if (bs_registry_tags(c, "lab/busybox", &tags, &err) != 0)
		fail_msg("%s", err.msg);
	assert_true(bs_strv_contains(&tags, "1") && bs_strv_contains(&tags, "2"));
	assert_int_equal(bs_registry_digest(c, "lab/busybox", "2", &digest, &err), 0);
	assert_string_equal(
		digest, "sha256:cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd");
	free(digest);
	assert_int_equal(bs_registry_digest(c, "lab/busybox", "9", &digest, &err),
			 BS_ERR_NOT_FOUND);
	bs_registry_client_free(c);
	bs_strv_free(&tags);

	cred.password = bad;
	assert_int_equal(bs_registry_client_new(&c, server, &cred, NULL, &err), 0);
	assert_int_equal(bs_registry_digest(c, "lab/busybox", "1", &digest, &err), BS_ERR_AUTH);
	assert_non_null(strstr(err.msg, "authentication failed for"));
	assert_null(strstr(err.msg, "nope"));
	bs_registry_client_free(c);
	assert_int_equal(bs_registry_client_new(&c, server, NULL, NULL, &err), 0);
	assert_int_equal(bs_registry_tags(c, "lab/busybox", &tags, &err), BS_ERR_AUTH);
	bs_registry_client_free(c);
	bs_strv_free(&tags);
	kill(fake_pid, SIGTERM);
	fake_pid = 0;
	pclose(fake);
}

/* ---- clusters (Docker Swarm) ------------------------------------------------------ */

/* Set once this run made the swarm: the teardown then always leaves it,
 * even after a failed assertion (other suites share this engine). */
static bool swarm_ours;

static const char *swarm_image(void)
{
	const char *v = getenv("LAB_IMAGE");

	return v != NULL ? v : "local/busybox:1";
}

/* The task containers of this run's services (labelled by the test). */
static size_t swarm_containers(struct bs_cdriver *d, bool destroy)
{
	struct bs_kvlist labels = BS_KVLIST_INIT;
	struct bs_err err = BS_ERR_INIT;
	struct bs_cinfo_list l;
	char value[128];
	size_t n = 0;

	snprintf(value, sizeof(value), "swarm-%s", prefix);
	bs_kvlist_push(&labels, "io.bootstrap.test", value, false);
	if (d->ops->container_list(d, true, &labels, &l, &err) == 0) {
		n = l.n;
		for (size_t i = 0; destroy && i < l.n; i++)
			d->ops->container_destroy(d, l.v[i].id, 0, &err);
		bs_cinfo_list_free(&l);
	}
	bs_kvlist_free(&labels);
	return n;
}

static int swarm_teardown(void **state)
{
	struct bs_endpoint ep;
	struct bs_cdriver *d;
	struct bs_err err = BS_ERR_INIT;
	bool removed;
	char name[128];

	(void)state;
	if (!swarm_ours)
		return 0;
	d = open_local(&ep);
	if (d->ops->cluster_leave(d, true, &err) != 0)
		fprintf(stderr, "swarm teardown: %s\n", err.msg);
	else
		swarm_ours = false;
	swarm_containers(d, true);
	snprintf(name, sizeof(name), "%s-br", prefix);
	d->ops->network_remove(d, name, &removed, &err);
	d->ops->free(d);
	bs_endpoint_free(&ep);
	return swarm_ours ? -1 : 0;
}

static void leave_at_exit(void)
{
	if (swarm_ours)
		swarm_teardown(NULL);
}

static int free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static size_t to_buf(char *data, size_t size, size_t n, void *payload)
{
	bs_buf_append(payload, data, size * n);
	return size * n;
}

/* GET http://127.0.0.1:PORT/i within 2 s: its body, or "" (caller frees). */
static char *http_get(int port)
{
	struct bs_buf body = BS_BUF_INIT;
	char url[64];
	CURL *c = curl_easy_init();
	long code = 0;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/i", port);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_buf);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	if (curl_easy_perform(c) != CURLE_OK ||
	    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK || code != 200)
		bs_buf_reset(&body);
	curl_easy_cleanup(c);
	bs_buf_putc(&body, '\0');
	return bs_buf_detach(&body);
}

/* Poll until the body of /i starts with want, at most seconds. */
static bool http_answers(int port, const char *want, int seconds)
{
	for (int i = 0; i < seconds * 4; i++) {
		char *got = http_get(port);
		bool ok = bs_str_starts_with(got, want);

		free(got);
		if (ok)
			return true;
		usleep(250000);
	}
	return false;
}

/* Tasks of service that run and should, after polling at most seconds. */
static int wait_running(struct bs_cdriver *d, const char *service, int want, int seconds)
{
	struct bs_err err = BS_ERR_INIT;
	int running = 0;

	for (int i = 0; i < seconds * 2; i++) {
		struct bs_task_list tl;

		running = 0;
		if (d->ops->task_list(d, service, &tl, &err) != 0)
			fail_msg("%s", err.msg);
		for (size_t k = 0; k < tl.n; k++) {
			const struct bs_task_info *t = &tl.v[k];

			if (t->state && strcmp(t->state, "running") == 0 && t->desired_state &&
			    strcmp(t->desired_state, "running") == 0) {
				assert_non_null(t->container_id);
				assert_non_null(t->service_id);
				assert_non_null(t->node_id);
				assert_true(t->slot >= 1);
				assert_true(t->service_version > 0);
				assert_true(t->updated > 0);
				running++;
			}
			if (t->error != NULL)
				fprintf(stderr, "task %s of %s: %s\n", t->id, service, t->error);
		}
		bs_task_list_free(&tl);
		if (running == want)
			break;
		usleep(500000);
	}
	return running;
}

struct logs_seen {
	struct bs_buf out, err;
};

static int collect_logs(enum bs_log_stream stream, const char *data, size_t len, void *payload)
{
	struct logs_seen *seen = payload;

	bs_buf_append(stream == BS_LOG_STDERR ? &seen->err : &seen->out, data, len);
	return 0;
}

static void test_swarm(void **state)
{
	static const char *const web_cmd[] = {
		"sh", "-c",
		"echo started $GREETING; echo warned >&2; echo $GREETING >/tmp/i && "
		"exec httpd -f -p 8080 -h /tmp",
		NULL};
	static const char *const sleep_cmd[] = {"sleep", "600", NULL};
	struct bs_endpoint ep;
	struct bs_cdriver *d = open_local(&ep);
	struct bs_err err = BS_ERR_INIT;
	struct bs_swarm_member m;
	struct bs_cluster cl;
	struct bs_cluster_node_list nodes;
	struct bs_cluster_node_spec nspec;
	struct bs_cluster_create cc = {NULL, "127.0.0.1"};
	struct bs_cluster_join cj;
	struct bs_kvlist node_labels = BS_KVLIST_INIT, svc_labels = BS_KVLIST_INIT;
	struct bs_kvlist task_labels = BS_KVLIST_INIT, env = BS_KVLIST_INIT;
	struct bs_kvlist filter = BS_KVLIST_INIT;
	struct bs_cspec task;
	struct bs_service_spec spec;
	struct bs_service_port port;
	struct bs_service_info si;
	struct bs_service_list sl;
	struct bs_task_list tl;
	struct bs_logs_opts lopts = {false, -1, false, 0};
	struct logs_seen seen = {BS_BUF_INIT, BS_BUF_INIT};
	char net[128], bridge[128], web[128], bg[128], test_label[128];
	const char *networks[2] = {net, NULL};
	char *node_id = NULL, *web_id = NULL, *bg_id = NULL;
	int64_t node_version, web_version;
	bool created, removed, completed = false;
	int http_port = free_port();

	(void)state;
	snprintf(net, sizeof(net), "%s-overlay", prefix);
	snprintf(bridge, sizeof(bridge), "%s-br", prefix);
	snprintf(web, sizeof(web), "%s-web", prefix);
	snprintf(bg, sizeof(bg), "%s-bg", prefix);
	snprintf(test_label, sizeof(test_label), "swarm-%s", prefix);

	/* outside a swarm: membership, refusals with the fix, leave is a no-op */
	if (d->ops->cluster_member(d, &m, &err) != 0)
		fail_msg("%s", err.msg);
	if (m.state != BS_SWARM_INACTIVE) {
		/* someone else's swarm, or one a killed run left: never touched */
		bool allowed = skip_allowed(
			"driver-swarm", "the engine at " SOCK " is already in a swarm",
			"If no one else uses that swarm (a killed run of this test leaves one, "
			"its services named bs-it-PID-*), leave it: docker swarm leave --force");

		bs_swarm_member_free(&m);
		d->ops->free(d);
		bs_endpoint_free(&ep);
		if (!allowed)
			fail_msg("unexpected skip driver-swarm: the engine is already in a swarm; "
				 "leave it (docker swarm leave --force) or list driver-swarm in "
				 "BS_EXPECTED_SKIPS");
		skip();
	}
	assert_null(m.node_id);
	assert_false(m.manager);
	assert_int_equal(m.remote_managers.n, 0);
	bs_swarm_member_free(&m);
	assert_int_equal(d->ops->cluster_inspect(d, &cl, &err), BS_ERR_UNSUPPORTED);
	assert_non_null(strstr(err.msg, "is not a swarm manager (reading the cluster)"));
	assert_non_null(strstr(err.msg, "create a cluster on it, or join it"));
	assert_int_equal(d->ops->service_list(d, NULL, &sl, &err), BS_ERR_UNSUPPORTED);
	assert_int_equal(d->ops->overlay_ensure(d, net, NULL, NULL, NULL, &created, &err),
			 BS_ERR_UNSUPPORTED);
	assert_non_null(strstr(err.msg, "is not a swarm manager (creating overlay network"));
	assert_int_equal(d->ops->cluster_leave(d, true, &err), 0);

	/* create: this engine is the first manager */
	swarm_ours = true;
	if (d->ops->cluster_create(d, &cc, &node_id, &err) != 0)
		fail_msg("%s", err.msg);
	assert_non_null(node_id);
	assert_int_equal(d->ops->cluster_create(d, &cc, NULL, &err), BS_ERR_CONFLICT);
	assert_non_null(strstr(err.msg, "already part of a swarm"));
	assert_int_equal(d->ops->cluster_member(d, &m, &err), 0);
	assert_int_equal(m.state, BS_SWARM_ACTIVE);
	assert_true(m.manager);
	assert_string_equal(m.node_id, node_id);
	assert_non_null(m.cluster_id);
	assert_string_equal(m.node_addr, "127.0.0.1");
	assert_true(bs_strv_contains(&m.remote_managers, "127.0.0.1:2377"));
	assert_null(m.error);
	assert_int_equal(d->ops->cluster_inspect(d, &cl, &err), 0);
	assert_string_equal(cl.id, m.cluster_id);
	assert_true(cl.version > 0);
	assert_true(cl.created > (long long)time(NULL) - 3600 &&
		    cl.created <= (long long)time(NULL) + 5);
	assert_true(bs_str_starts_with(cl.worker_token, "SWMTKN-"));
	assert_true(bs_str_starts_with(cl.manager_token, "SWMTKN-"));
	assert_string_not_equal(cl.worker_token, cl.manager_token);
	bs_swarm_member_free(&m);

	/* joining again: refused, and the token never shows */
	memset(&cj, 0, sizeof(cj));
	cj.advertise_addr = "127.0.0.1";
	cj.remote_addr = "127.0.0.1:2377";
	cj.token = cl.worker_token;
	assert_int_equal(d->ops->cluster_join(d, &cj, &err), BS_ERR_CONFLICT);
	assert_non_null(strstr(err.msg, "joining the cluster at 127.0.0.1:2377"));
	assert_null(strstr(err.msg, cl.worker_token));
	assert_null(strstr(err.msg, "SWMTKN"));
	bs_cluster_free(&cl);

	/* nodes: one, the leader; labels through the version protocol */
	assert_int_equal(d->ops->cluster_node_list(d, &nodes, &err), 0);
	assert_int_equal(nodes.n, 1);
	assert_string_equal(nodes.v[0].id, node_id);
	assert_true(nodes.v[0].leader);
	assert_string_equal(nodes.v[0].state, "ready");
	assert_string_equal(nodes.v[0].role, "manager");
	assert_string_equal(nodes.v[0].availability, "active");
	assert_string_equal(nodes.v[0].reachability, "reachable");
	assert_string_equal(nodes.v[0].addr, "127.0.0.1");
	assert_non_null(nodes.v[0].hostname);
	assert_non_null(nodes.v[0].engine_version);
	assert_int_equal(nodes.v[0].labels.n, 0);
	node_version = nodes.v[0].version;
	bs_cluster_node_list_free(&nodes);
	bs_kvlist_push(&node_labels, "io.bootstrap.test", test_label, false);
	memset(&nspec, 0, sizeof(nspec)); /* role, availability: the node's own */
	nspec.labels = &node_labels;
	if (d->ops->cluster_node_update(d, node_id, node_version, &nspec, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(d->ops->cluster_node_update(d, node_id, node_version, &nspec, &err),
			 BS_ERR_CONFLICT);
	assert_non_null(strstr(err.msg, "update out of sequence"));
	assert_int_equal(d->ops->cluster_node_update(d, "nosuchnode", 1, &nspec, &err),
			 BS_ERR_NOT_FOUND);
	assert_int_equal(d->ops->cluster_node_list(d, &nodes, &err), 0);
	assert_true(nodes.v[0].version > node_version);
	assert_string_equal(nodes.v[0].role, "manager");
	assert_string_equal(nodes.v[0].availability, "active");
	assert_non_null(bs_kvlist_find(&nodes.v[0].labels, "io.bootstrap.test"));
	assert_string_equal(bs_kvlist_find(&nodes.v[0].labels, "io.bootstrap.test")->value,
			    test_label);
	bs_cluster_node_list_free(&nodes);
	assert_int_equal(d->ops->cluster_node_remove(d, "nosuchnode", true, &err), 0);

	/* overlay networks: by exact name; a bridge of that name is not one */
	assert_int_equal(d->ops->overlay_ensure(d, net, &svc_labels, NULL, NULL, &created, &err),
			 0);
	assert_true(created);
	if (d->ops->overlay_ensure(d, net, &svc_labels, NULL, NULL, &created, &err) != 0)
		fail_msg("%s", err.msg);
	assert_false(created);
	/* driver options: made with them, listed back on the next call;
	 * created NULL only looks */
	{
		struct bs_kvlist opts = BS_KVLIST_INIT, have = BS_KVLIST_INIT;
		char enc[160];

		snprintf(enc, sizeof(enc), "%s-enc", net);
		bs_kvlist_push(&opts, "encrypted", "", false);
		bs_kvlist_push(&opts, "com.docker.network.driver.mtu", "1450", false);
		assert_int_equal(d->ops->overlay_ensure(d, enc, NULL, NULL, &have, NULL, &err),
				 BS_ERR_NOT_FOUND);
		if (d->ops->overlay_ensure(d, enc, NULL, &opts, NULL, &created, &err) != 0)
			fail_msg("%s", err.msg);
		assert_true(created);
		/* a swarm network the allocator has not reached yet lists no
		 * options: a bounded wait for them */
		for (int tries = 0; tries < 100; tries++) {
			struct timespec ts = {0, 100 * 1000000L};

			bs_kvlist_free(&have);
			if (d->ops->overlay_ensure(d, enc, NULL, NULL, &have, NULL, &err) != 0)
				fail_msg("%s", err.msg);
			if (bs_kvlist_find(&have, "encrypted") != NULL)
				break;
			nanosleep(&ts, NULL);
		}
		assert_non_null(bs_kvlist_find(&have, "encrypted"));
		assert_non_null(bs_kvlist_find(&have, "com.docker.network.driver.mtu"));
		assert_string_equal(bs_kvlist_find(&have, "com.docker.network.driver.mtu")->value,
				    "1450");
		assert_int_equal(d->ops->network_remove(d, enc, &removed, &err), 0);
		bs_kvlist_free(&opts);
		bs_kvlist_free(&have);
	}
	assert_int_equal(d->ops->network_ensure(d, bridge, NULL, &created, &err), 0);
	assert_int_equal(d->ops->overlay_ensure(d, bridge, NULL, NULL, NULL, &created, &err),
			 BS_ERR_CONFLICT);
	assert_non_null(strstr(err.msg, "exists with driver bridge, not overlay"));
	assert_int_equal(d->ops->network_remove(d, bridge, &removed, &err), 0);

	/* services: a web server on a host port, two sleepers without ports */
	bs_kvlist_push(&svc_labels, "io.bootstrap.test", test_label, false);
	bs_kvlist_push(&task_labels, "io.bootstrap.test", test_label, false);
	bs_kvlist_push(&env, "GREETING", "one", false);
	memset(&task, 0, sizeof(task));
	task.image = swarm_image();
	task.cmd = web_cmd;
	task.env = &env;
	task.labels = &task_labels;
	memset(&port, 0, sizeof(port));
	port.target = 8080;
	port.published = http_port;
	port.host_mode = true;
	memset(&spec, 0, sizeof(spec));
	spec.name = web;
	spec.labels = &svc_labels;
	spec.task = &task;
	spec.stop_grace_ns = 2000000000LL;
	spec.replicas = 1;
	spec.max_replicas_per_node = 1;
	spec.ports = &port;
	spec.n_ports = 1;
	spec.networks = networks;
	spec.restart = "any";
	spec.memory_bytes = 64 << 20;
	spec.pids_limit = 100;
	spec.update_parallelism = 1;
	spec.update_failure_action = "pause";
	spec.update_monitor_ns = 1000000000LL;
	spec.update_order = "stop-first";
	if (d->ops->service_create(d, &spec, &web_id, &err) != 0)
		fail_msg("%s", err.msg);
	assert_non_null(web_id);
	assert_int_equal(d->ops->service_create(d, &spec, NULL, &err), BS_ERR_CONFLICT);
	assert_non_null(strstr(err.msg, "is already in use"));
	{
		struct bs_cspec sleeper = task;
		struct bs_service_spec s2 = spec;

		sleeper.cmd = sleep_cmd;
		s2.name = bg;
		s2.task = &sleeper;
		s2.replicas = 2;
		s2.max_replicas_per_node = 0;
		s2.ports = NULL;
		s2.n_ports = 0;
		s2.update_parallelism = 0; /* all at once */
		if (d->ops->service_create(d, &s2, &bg_id, &err) != 0)
			fail_msg("%s", err.msg);
	}
	assert_int_equal(wait_running(d, web, 1, 60), 1);
	assert_int_equal(wait_running(d, bg, 2, 60), 2);
	assert_true(http_answers(http_port, "one", 30));

	assert_int_equal(d->ops->service_inspect(d, web, &si, &err), 0);
	assert_string_equal(si.id, web_id);
	assert_string_equal(si.name, web);
	assert_int_equal(si.replicas, 1);
	assert_true(bs_str_starts_with(si.image, swarm_image()));
	assert_string_equal(bs_kvlist_find(&si.labels, "io.bootstrap.test")->value, test_label);
	assert_null(si.update_state);
	assert_true(si.created > 0 && si.updated >= si.created);
	web_version = si.version;
	bs_service_info_free(&si);

	/* update through the version protocol; a stale version is a conflict */
	bs_kvlist_free(&env);
	bs_kvlist_push(&env, "GREETING", "two", false);
	if (d->ops->service_update(d, web_id, web_version, &spec, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(d->ops->service_update(d, web_id, web_version, &spec, &err),
			 BS_ERR_CONFLICT);
	assert_non_null(strstr(err.msg, "update out of sequence"));
	assert_int_equal(d->ops->service_update(d, "nosuchservice", 1, &spec, &err),
			 BS_ERR_NOT_FOUND);
	for (int i = 0; i < 120 && !completed; i++) {
		assert_int_equal(d->ops->service_inspect(d, web, &si, &err), 0);
		assert_true(si.version > web_version);
		completed = si.update_state && strcmp(si.update_state, "completed") == 0;
		if (si.update_state && strcmp(si.update_state, "paused") == 0)
			fail_msg("the update paused: %s", si.update_message);
		bs_service_info_free(&si);
		if (!completed)
			usleep(500000);
	}
	assert_true(completed);
	assert_int_equal(wait_running(d, web, 1, 60), 1);
	assert_true(http_answers(http_port, "two", 30));

	/* list by labels */
	bs_kvlist_push(&filter, "io.bootstrap.test", test_label, false);
	assert_int_equal(d->ops->service_list(d, &filter, &sl, &err), 0);
	assert_int_equal(sl.n, 2);
	for (size_t i = 0; i < sl.n; i++)
		assert_int_equal(sl.v[i].replicas, strcmp(sl.v[i].name, bg) == 0 ? 2 : 1);
	bs_service_list_free(&sl);
	bs_kvlist_free(&filter);
	bs_kvlist_push(&filter, "io.bootstrap.test", "nothing-has-this", false);
	assert_int_equal(d->ops->service_list(d, &filter, &sl, &err), 0);
	assert_int_equal(sl.n, 0);
	bs_service_list_free(&sl);

	/* logs: both streams, apart; the old task's and the new one's */
	for (int i = 0; i < 40; i++) {
		bs_buf_reset(&seen.out);
		bs_buf_reset(&seen.err);
		if (d->ops->service_logs(d, web, &lopts, collect_logs, &seen, &err) != 0)
			fail_msg("%s", err.msg);
		if (strstr(bs_buf_str(&seen.out), "started two") != NULL)
			break;
		usleep(500000);
	}
	assert_non_null(strstr(bs_buf_str(&seen.out), "started one"));
	assert_non_null(strstr(bs_buf_str(&seen.out), "started two"));
	assert_non_null(strstr(bs_buf_str(&seen.err), "warned"));
	assert_null(strstr(bs_buf_str(&seen.out), "warned"));

	/* missing services */
	assert_int_equal(d->ops->task_list(d, "nosuchservice", &tl, &err), BS_ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, "no service named nosuchservice"));
	assert_int_equal(d->ops->service_inspect(d, "nosuchservice", &si, &err), BS_ERR_NOT_FOUND);
	assert_int_equal(
		d->ops->service_logs(d, "nosuchservice", &lopts, collect_logs, &seen, &err),
		BS_ERR_NOT_FOUND);

	/* remove: absent already is success */
	assert_int_equal(d->ops->service_remove(d, web, &removed, &err), 0);
	assert_true(removed);
	assert_int_equal(d->ops->service_remove(d, web, &removed, &err), 0);
	assert_false(removed);
	assert_int_equal(d->ops->service_remove(d, bg_id, &removed, &err), 0);
	assert_true(removed);
	for (int i = 0; i < 120 && swarm_containers(d, false) > 0; i++)
		usleep(500000); /* the engine removes the tasks' containers */
	assert_int_equal(swarm_containers(d, false), 0);
	for (int i = 0; i < 60; i++) { /* their endpoints go, then the network can */
		if (d->ops->network_remove(d, net, &removed, &err) == 0)
			break;
		usleep(500000);
	}
	assert_true(removed);

	/* leave: a manager needs force; then nothing to leave is success */
	assert_int_equal(d->ops->cluster_leave(d, false, &err), BS_ERR_CONFLICT);
	assert_non_null(strstr(err.msg, "leave with force"));
	if (d->ops->cluster_leave(d, true, &err) != 0)
		fail_msg("%s", err.msg);
	swarm_ours = false;
	assert_int_equal(d->ops->cluster_member(d, &m, &err), 0);
	assert_int_equal(m.state, BS_SWARM_INACTIVE);
	bs_swarm_member_free(&m);
	assert_int_equal(d->ops->cluster_leave(d, true, &err), 0);

	bs_buf_free(&seen.out);
	bs_buf_free(&seen.err);
	bs_kvlist_free(&node_labels);
	bs_kvlist_free(&svc_labels);
	bs_kvlist_free(&task_labels);
	bs_kvlist_free(&env);
	bs_kvlist_free(&filter);
	free(node_id);
	free(web_id);
	free(bg_id);
	d->ops->free(d);
	bs_endpoint_free(&ep);
}

/* ---- files and exec ---------------------------------------------------------------- */

/* The containers of test_files_and_exec, removed by its teardown. */
static const char *const files_suffixes[] = {"-files", "-files-created", "-files-ro"};

static void files_name(char *buf, size_t size, size_t which)
{
	snprintf(buf, size, "%s%s", prefix, files_suffixes[which]);
}

static int files_teardown(void **state)
{
	struct bs_endpoint ep;
	struct bs_cdriver *d = open_local(&ep);
	struct bs_err err = BS_ERR_INIT;
	char name[128];

	(void)state;
	for (size_t i = 0; i < sizeof(files_suffixes) / sizeof(files_suffixes[0]); i++) {
		files_name(name, sizeof(name), i);
		d->ops->container_destroy(d, name, 0, &err);
	}
	d->ops->free(d);
	bs_endpoint_free(&ep);
	return 0;
}

static void test_files_and_exec(void **state)
{
	static const char content[] = "first line\nsecond\x01\x02\xfe\xff\x00tail\r\nend";
	static const char *const sleep_cmd[] = {"sleep", "300", NULL};
	static const char *const cat_cmd[] = {"cat", "/tmp/x.txt", NULL};
	static const char *const stat_cmd[] = {"busybox", "stat",	"-c",
					       "%a %u",	  "/tmp/x.txt", NULL};
	static const char *const fail_cmd[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
	static const char *const big_cmd[] = {"seq", "1", "100000", NULL};
	static const char *const slow_cmd[] = {"sleep", "30", NULL};
	static const char *const missing_cmd[] = {"no-such-command", NULL};
	const size_t content_len = sizeof(content) - 1;
	struct bs_endpoint ep;
	struct bs_cdriver *d = open_local(&ep);
	struct bs_err err = BS_ERR_INIT;
	struct bs_buf out = BS_BUF_INIT;
	struct bs_logs_opts lopts = {false, -1, false, 0};
	struct logs_seen seen = {BS_BUF_INIT, BS_BUF_INIT};
	struct bs_cspec spec;
	struct bs_cinfo info;
	char name[128], created[128], read_only[128], *id = NULL, *data = NULL;
	size_t len = 0;
	int exit_code = -1;
	long long t0;

	(void)state;
	files_name(name, sizeof(name), 0);
	files_name(created, sizeof(created), 1);
	files_name(read_only, sizeof(read_only), 2);
	memset(&spec, 0, sizeof(spec));
	spec.name = name;
	spec.image = swarm_image(); /* LAB_IMAGE, or local/busybox:1 */
	spec.cmd = sleep_cmd;
	spec.restart = "no";
	if (d->ops->container_deploy(d, &spec, &id, &err) != 0)
		fail_msg("%s", err.msg);
	free(id);

	/* a file in, the same bytes out */
	if (d->ops->container_put_file(d, name, "/tmp", "x.txt", content, content_len, 0640,
				       &err) != 0)
		fail_msg("%s", err.msg);
	if (d->ops->container_get_file(d, name, "/tmp/x.txt", 4096, &data, &len, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(len, content_len);
	assert_memory_equal(data, content, content_len);
	assert_int_equal(data[len], '\0');
	free(data);
	/* replaced in place; a limit of exactly its size is enough */
	assert_int_equal(
		d->ops->container_put_file(d, name, "/tmp/", "x.txt", content, 5, 0644, &err), 0);
	assert_int_equal(d->ops->container_get_file(d, name, "/tmp/x.txt", 5, &data, &len, &err),
			 0);
	assert_int_equal(len, 5);
	assert_memory_equal(data, content, 5);
	free(data);
	assert_int_equal(d->ops->container_get_file(d, name, "/tmp/x.txt", 4, &data, &len, &err),
			 BS_ERR_INVALID);
	assert_non_null(strstr(err.msg, "more than the 4"));
	assert_null(data);
	assert_int_equal(d->ops->container_put_file(d, name, "/tmp", "x.txt", content, content_len,
						    0640, &err),
			 0);
	assert_int_equal(d->ops->container_exec(d, name, stat_cmd, 10, &out, &exit_code, &err), 0);
	assert_string_equal(bs_buf_str(&out), "640 0\n");

	/* what is not there, or not a file */
	assert_int_equal(d->ops->container_get_file(d, name, "/tmp/none", 4096, &data, &len, &err),
			 BS_ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, "/tmp/none does not exist"));
	assert_int_equal(d->ops->container_get_file(d, "bs-it-no-such", "/etc/passwd", 4096, &data,
						    &len, &err),
			 BS_ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, "no container named bs-it-no-such"));
	assert_int_equal(d->ops->container_get_file(d, name, "/etc", 4096, &data, &len, &err),
			 BS_ERR_INVALID);
	assert_non_null(strstr(err.msg, "/etc is a directory"));
	/* a symbolic link is followed: /bin/sh is busybox, far over the limit
	 * (the read stops early instead of taking the whole binary) */
	assert_int_equal(d->ops->container_get_file(d, name, "/bin/sh", 4096, &data, &len, &err),
			 BS_ERR_INVALID);
	assert_non_null(strstr(err.msg, "/bin/sh (a link to /bin/busybox) is"));
	assert_int_equal(
		d->ops->container_put_file(d, name, "/nope/dir", "x.txt", "x", 1, 0644, &err),
		BS_ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, "/nope/dir does not exist"));
	assert_int_equal(
		d->ops->container_put_file(d, "bs-it-no-such", "/tmp", "x.txt", "x", 1, 0644, &err),
		BS_ERR_NOT_FOUND);
	assert_int_equal(
		d->ops->container_put_file(d, name, "/etc/passwd", "x.txt", "x", 1, 0644, &err),
		BS_ERR_INVALID);
	assert_non_null(strstr(err.msg, "not a directory"));
	assert_int_equal(d->ops->container_put_file(d, name, "/tmp", "a/b", "x", 1, 0644, &err),
			 BS_ERR_INVALID);
	/* a directory of the file's name stays */
	assert_int_equal(d->ops->container_put_file(d, name, "/", "tmp", "x", 1, 0644, &err),
			 BS_ERR_CONFLICT);
	assert_non_null(strstr(err.msg, "/tmp is a directory"));

	/* exec: output and exit codes */
	if (d->ops->container_exec(d, name, cat_cmd, 10, &out, &exit_code, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(exit_code, 0);
	assert_int_equal(out.len, content_len);
	assert_memory_equal(out.data, content, content_len);
	if (d->ops->container_exec(d, name, fail_cmd, 10, &out, &exit_code, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(exit_code, 3);
	assert_non_null(strstr(bs_buf_str(&out), "out\n"));
	assert_non_null(strstr(bs_buf_str(&out), "err\n"));
	assert_int_equal(d->ops->container_exec(d, name, fail_cmd, 10, NULL, &exit_code, &err), 0);
	assert_int_equal(exit_code, 3);
	/* 64 KiB kept of about 590 KB, all of it read */
	assert_int_equal(d->ops->container_exec(d, name, big_cmd, 30, &out, &exit_code, &err), 0);
	assert_int_equal(exit_code, 0);
	assert_int_equal(out.len, 64 * 1024);
	assert_true(bs_str_starts_with(bs_buf_str(&out), "1\n2\n3\n"));
	assert_int_equal(d->ops->container_exec(d, name, missing_cmd, 10, &out, &exit_code, &err),
			 0);
	assert_true(exit_code == 126 || exit_code == 127);
	assert_non_null(strstr(bs_buf_str(&out), "no-such-command"));
	t0 = (long long)time(NULL);
	assert_int_equal(d->ops->container_exec(d, name, slow_cmd, 1, &out, &exit_code, &err),
			 BS_ERR_TIMEOUT);
	assert_non_null(strstr(err.msg, "did not finish within 1 s"));
	assert_true((long long)time(NULL) - t0 < 10);
	assert_int_equal(d->ops->container_exec(d, name, cat_cmd, 0, &out, &exit_code, &err),
			 BS_ERR_INVALID);
	assert_int_equal(
		d->ops->container_exec(d, "bs-it-no-such", cat_cmd, 10, &out, &exit_code, &err),
		BS_ERR_NOT_FOUND);
	/* the same through a stream endpoint (the SSH tunnel's seam): the
	 * exec answer comes on a hijacked connection that the engine closes */
	{
		struct loop_connector lc;
		struct bs_endpoint sep;
		struct bs_cdriver *sd = NULL;
		char url[] = "stream://loopback";

		lc_start(&lc);
		memset(&sep, 0, sizeof(sep));
		sep.kind = BS_ENDPOINT_STREAM;
		sep.url = url;
		sep.stream.socket_path = lc.path;
		sep.stream.failure = lc_failure;
		sep.stream.payload = &lc;
		if (bs_docker_open(&sd, &sep, NULL, &err) != 0)
			fail_msg("%s", err.msg);
		for (int i = 0; i < 2; i++) {
			assert_int_equal(sd->ops->container_exec(sd, name, cat_cmd, 10, &out,
								 &exit_code, &err),
					 0);
			assert_int_equal(exit_code, 0);
			assert_int_equal(out.len, content_len);
			assert_memory_equal(out.data, content, content_len);
		}
		assert_int_equal(sd->ops->container_get_file(sd, name, "/tmp/x.txt", 4096, &data,
							     &len, &err),
				 0);
		assert_memory_equal(data, content, content_len);
		free(data);
		sd->ops->free(sd);
		lc_stop(&lc);
	}

	/* a stopped container: no exec, but its files can still be read */
	assert_int_equal(d->ops->container_stop(d, name, 0, NULL, &err), 0);
	assert_int_equal(d->ops->container_exec(d, name, cat_cmd, 10, &out, &exit_code, &err),
			 BS_ERR_CONFLICT);
	assert_non_null(strstr(err.msg, "is not running"));
	assert_int_equal(d->ops->container_get_file(d, name, "/tmp/x.txt", 4096, &data, &len, &err),
			 0);
	assert_memory_equal(data, content, content_len);
	free(data);

	/* a file put into a created container is there when it starts */
	spec.name = created;
	spec.cmd = cat_cmd;
	if (d->ops->container_create(d, &spec, &id, &err) != 0)
		fail_msg("%s", err.msg);
	free(id);
	assert_int_equal(d->ops->container_put_file(d, created, "/tmp", "x.txt", content,
						    content_len, 0644, &err),
			 0);
	assert_int_equal(
		d->ops->container_get_file(d, created, "/tmp/x.txt", 4096, &data, &len, &err), 0);
	assert_int_equal(len, content_len);
	assert_memory_equal(data, content, content_len);
	free(data);
	assert_int_equal(d->ops->container_start(d, created, NULL, &err), 0);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(d->ops->container_inspect(d, created, &info, NULL, &err), 0);
		if (info.state == BS_CSTATE_STOPPED)
			break;
		bs_cinfo_free(&info);
		usleep(100000);
	}
	assert_int_equal(info.state, BS_CSTATE_STOPPED);
	bs_cinfo_free(&info);
	assert_int_equal(d->ops->container_logs(d, created, &lopts, collect_logs, &seen, &err), 0);
	/* the json-file log driver keeps text: the bytes that are not UTF-8
	 * come back as U+FFFD, so only the text before them is compared */
	assert_true(seen.out.len > 19);
	assert_memory_equal(seen.out.data, content, 19);

	/* a read-only root filesystem says so */
	spec.name = read_only;
	spec.cmd = sleep_cmd;
	spec.read_only_rootfs = true;
	if (d->ops->container_create(d, &spec, &id, &err) != 0)
		fail_msg("%s", err.msg);
	free(id);
	assert_int_equal(
		d->ops->container_put_file(d, read_only, "/tmp", "x.txt", "x", 1, 0644, &err),
		BS_ERR_CONFLICT);
	assert_non_null(strstr(err.msg, "read-only"));

	bs_buf_free(&out);
	bs_buf_free(&seen.out);
	bs_buf_free(&seen.err);
	d->ops->free(d);
	bs_endpoint_free(&ep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_endpoint),
		cmocka_unit_test(test_old_engine_refused),
		cmocka_unit_test(test_networks_and_volumes),
		cmocka_unit_test(test_update_rename_events),
		cmocka_unit_test(test_image_save_load),
		cmocka_unit_test(test_registry_client),
		cmocka_unit_test(test_registry_bearer),
		cmocka_unit_test_teardown(test_swarm, swarm_teardown),
		cmocka_unit_test_teardown(test_files_and_exec, files_teardown),
	};
	const char *only = getenv("DRIVER_TEST_FILTER");
	int rc;

	snprintf(prefix, sizeof(prefix), "bs-it-%d", (int)getpid());
	atexit(kill_fake);
	atexit(leave_at_exit);
	if (only != NULL) /* DRIVER_TEST_FILTER=test_swarm: one test, no lab needed */
		cmocka_set_test_filter(only);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
