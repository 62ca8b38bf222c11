/*
 * Unit tests for the recipe's diagnostics: every class of mistake is
 * reported at its value's line and column, with the key path and a message
 * that says what is wrong and how to fix it; one load reports all of them,
 * and one mistake gives one diagnostic (no cascades).
 *
 * Recipes are written inline, one line per string literal, so the expected
 * line numbers can be read off the source. Most start with RECIPE_HEAD
 * (lines 1-7: version, project, one node "web", one container "app").
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deploy/recipe.h"
#include "tests/unit/helpers.h"

/* Load text that must be rejected; the caller checks the diagnostics. */
static void load_bad(struct loaded *l, const char *text, const struct test_var *env)
{
	load_text(l, text, env);
	expect_invalid(l);
}

static void assert_no_suggestion(const struct bs_diags *d, int line, int col, const char *path,
				 const char *phrase)
{
	const struct bs_diag *g = find_diag(d, BS_DIAG_ERROR, line, col, path, phrase);

	assert_non_null(g);
	assert_null(strstr(g->message, "did you mean"));
}

/* ---- document shape ---------------------------------------------------- */

static void test_empty_recipes(void **state)
{
	static const char *const empties[] = {"", "\n", "# nothing\n\n   # indented\n"};
	struct loaded l;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
		load_bad(&l, empties[i], NULL);
		expect_error(
			&l.diags, 1, 1, "",
			"the recipe is empty (start with version: 1, then project:, nodes: and containers:)");
		expect_counts(&l.diags, 1, 0);
		loaded_free(&l);
	}
	load_bad(&l, "---\n", NULL);
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);
}

static void test_root_not_mapping(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l, "- version: 1\n- project: demo\n", NULL);
	expect_error(
		&l.diags, 1, 1, "",
		"a recipe is a mapping of sections (version:, project:, nodes:, ...), found a list");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);
	load_bad(&l, "just text\n", NULL);
	expect_error(&l.diags, 1, 1, "", "found a string");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);
}

static void test_missing_required(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "provider:\n"		   /* 1 */
		 "  type: local\n"	   /* 2 */
		 "containers:\n"	   /* 3 */
		 "  - image: nginx:1.25\n" /* 4 */
		 "  - name: api\n",	   /* 5 */
		 NULL);
	expect_error(&l.diags, 1, 1, "version",
		     "missing required key (start the recipe with version: 1)");
	expect_error(
		&l.diags, 1, 1, "project",
		"missing required key (project: NAME, which tags everything bootstrap creates)");
	expect_error(
		&l.diags, 1, 1, "nodes",
		"missing required key (list the machines, for example nodes: [{name: web, count: 2}])");
	expect_error(&l.diags, 4, 5, "containers[0].name", "missing required key (name: web)");
	expect_error(&l.diags, 5, 5, "containers[1].image",
		     "missing required key (image: REPOSITORY:TAG, like nginx:1.25)");
	expect_counts(&l.diags, 5, 0);
	loaded_free(&l);
}

static void test_empty_sections(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"
		 "project: \"\"\n"
		 "nodes: []\n",
		 NULL);
	expect_error(&l.diags, 2, 10, "project", "empty value (project: NAME");
	expect_error(&l.diags, 3, 8, "nodes",
		     "no nodes (list at least one, for example - name: web)");
	expect_counts(&l.diags, 2, 0);
	loaded_free(&l);
}

static void test_version(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 2\n"
		 "project: demo\n"
		 "nodes: [{name: web}]\n",
		 NULL);
	expect_error(&l.diags, 1, 10, "version",
		     "recipe version 2 is not supported (this bootstrap reads version 1)");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);
	load_bad(&l,
		 "version: one\n"
		 "project: demo\n"
		 "nodes: [{name: web}]\n",
		 NULL);
	expect_error(&l.diags, 1, 10, "version", "expected a whole number, found 'one'");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);
}

/* ---- unknown keys ------------------------------------------------------ */

static void test_unknown_key_top(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"	   /* 1 */
		 "project: demo\n" /* 2 */
		 "nodes:\n"	   /* 3 */
		 "  - name: web\n" /* 4 */
		 "contaners:\n"	   /* 5 */
		 "  - name: app\n" /* 6 */
		 "    image: nginx:1.25\n"
		 "imagess: []\n" /* 8 */
		 "flavour: x\n", /* 9 */
		 NULL);
	expect_error(&l.diags, 5, 1, "contaners", "unknown key (did you mean 'containers'?)");
	expect_error(&l.diags, 8, 1, "imagess", "unknown key (did you mean 'images'?)");
	expect_error(
		&l.diags, 9, 1, "flavour",
		"unknown key (top-level keys: version, project, provider, ssh, nodes, docker, cluster, domains, registries, images, containers, compose, services, prune; x-* for your own anchors)");
	expect_counts(&l.diags, 3, 0);
	loaded_free(&l);
}

static void test_unknown_key_nested(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"			       /* 1 */
		 "project: demo\n"		       /* 2 */
		 "ssh:\n"			       /* 3 */
		 "  usr: deploy\n"		       /* 4 */
		 "nodes:\n"			       /* 5 */
		 "  - name: web\n"		       /* 6 */
		 "    lables: {role: web}\n"	       /* 7 */
		 "containers:\n"		       /* 8 */
		 "  - name: app\n"		       /* 9 */
		 "    imgae: nginx:1.25\n"	       /* 10 */
		 "    healthcheck:\n"		       /* 11 */
		 "      test: [CMD, \"true\"]\n"       /* 12 */
		 "      intervall: 5s\n"	       /* 13 */
		 "    flavour: vanilla\n"	       /* 14 */
		 "docker: {instal: auto}\n"	       /* 15 */
		 "provider: {type: local, imag: x}\n", /* 16 */
		 NULL);
	expect_error(&l.diags, 4, 3, "ssh.usr", "unknown key (did you mean 'user'?)");
	expect_error(&l.diags, 7, 5, "nodes[0].lables", "unknown key (did you mean 'labels'?)");
	expect_error(&l.diags, 9, 5, "containers[0].image",
		     "missing required key (image: REPOSITORY:TAG, like nginx:1.25)");
	expect_error(&l.diags, 10, 5, "containers[0].imgae", "unknown key (did you mean 'image'?)");
	expect_error(&l.diags, 13, 7, "containers[0].healthcheck.intervall",
		     "unknown key (did you mean 'interval'?)");
	expect_error(
		&l.diags, 14, 5, "containers[0].flavour",
		"unknown key (valid keys here: name, image, command, entrypoint, environment, secrets, ports, volumes, restart, healthcheck, labels, user, working_dir, replicas, nodes, resources, domain, stop_timeout, update, network, expose, cap_add, cap_drop, read_only, tmpfs, ulimits, extra_hosts, logging, depends_on, container_name)");
	expect_error(&l.diags, 15, 10, "docker.instal", "unknown key (did you mean 'install'?)");
	expect_error(&l.diags, 16, 25, "provider.imag", "unknown key (did you mean 'image'?)");
	expect_counts(&l.diags, 8, 0);
	loaded_free(&l);
}

/* ---- types, numbers, choices ------------------------------------------- */

static void test_wrong_types(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"			       /* 1 */
		 "project: {name: demo}\n"	       /* 2 */
		 "ssh: [root, 22]\n"		       /* 3 */
		 "nodes:\n"			       /* 4 */
		 "  - name: web\n"		       /* 5 */
		 "    labels: web\n"		       /* 6 */
		 "containers:\n"		       /* 7 */
		 "  - [app, nginx:1.25]\n"	       /* 8 */
		 "  - name: app\n"		       /* 9 */
		 "    image: nginx:1.25\n"	       /* 10 */
		 "    environment: production\n"       /* 11 */
		 "    command: {sh: x}\n"	       /* 12 */
		 "    ports: \"80:80\"\n"	       /* 13 */
		 "    healthcheck: {test: {cmd: x}}\n" /* 14 */
		 "docker: yes\n"		       /* 15 */
		 "registries: {server: x}\n",	       /* 16 */
		 NULL);
	expect_error(&l.diags, 2, 10, "project", "expected a single value, found a mapping");
	expect_error(&l.diags, 3, 6, "ssh", "expected a mapping (key: value lines), found a list");
	expect_error(&l.diags, 6, 13, "nodes[0].labels",
		     "expected a mapping (KEY: value) or a list (- KEY=value), found a string");
	expect_error(&l.diags, 8, 5, "containers[0]",
		     "expected a mapping (key: value lines), found a list");
	expect_error(&l.diags, 11, 18, "containers[1].environment",
		     "expected a mapping (KEY: value) or a list (- KEY=value), found a string");
	expect_error(&l.diags, 12, 14, "containers[1].command",
		     "expected a command line or a list of arguments, found a mapping");
	expect_error(&l.diags, 13, 12, "containers[1].ports",
		     "expected a list (lines starting with '- '), found a string");
	expect_error(&l.diags, 14, 25, "containers[1].healthcheck.test",
		     "expected a list (lines starting with '- '), found a mapping");
	expect_error(&l.diags, 15, 9, "docker",
		     "expected a mapping (key: value lines), found a string");
	expect_error(&l.diags, 16, 13, "registries",
		     "expected a list (lines starting with '- '), found a mapping");
	expect_counts(&l.diags, 10, 0);
	loaded_free(&l);
}

static void test_nested_value_types(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 RECIPE_HEAD "    environment: {A: [1, 2]}\n" /* 8 */
			     "    nodes: [[web]]\n"	      /* 9 */
			     "    ports: [{published: 80}]\n" /* 10 */
			     "    volumes: [[a]]\n"	      /* 11 */
			     "    command: [sh, [x]]\n",      /* 12 */
		 NULL);
	expect_error(&l.diags, 8, 22, "containers[0].environment.A",
		     "expected a single value, found a list (quote it to pass text)");
	expect_error(&l.diags, 9, 13, "containers[0].nodes[0]",
		     "expected a single value, found a list");
	expect_error(
		&l.diags, 10, 13, "containers[0].ports[0]",
		"expected a port like \"8080:80\" or \"127.0.0.1:8080:80/tcp\", found a mapping");
	expect_error(
		&l.diags, 11, 15, "containers[0].volumes[0]",
		"expected a volume like \"data:/var/lib/data\" or \"/srv/conf:/etc/app:ro\", found a list");
	expect_error(&l.diags, 12, 19, "containers[0].command[1]",
		     "expected a single value, found a list");
	expect_counts(&l.diags, 5, 0);
	loaded_free(&l);
}

static void test_out_of_range(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"					      /* 1 */
		 "project: demo\n"				      /* 2 */
		 "ssh: {port: 70000}\n"				      /* 3 */
		 "nodes:\n"					      /* 4 */
		 "  - name: web\n"				      /* 5 */
		 "    count: two\n"				      /* 6 */
		 "  - name: db\n"				      /* 7 */
		 "    count: 0\n"				      /* 8 */
		 "  - name: worker\n"				      /* 9 */
		 "    count: 101\n"				      /* 10 */
		 "docker: {tls_port: 0}\n"			      /* 11 */
		 "containers:\n"				      /* 12 */
		 "  - name: app\n"				      /* 13 */
		 "    image: nginx:1.25\n"			      /* 14 */
		 "    replicas: \"1.5\"\n"			      /* 15 */
		 "  - name: api\n"				      /* 16 */
		 "    image: nginx:1.25\n"			      /* 17 */
		 "    replicas: -1\n"				      /* 18 */
		 "    healthcheck: {test: [CMD, x], retries: 1000}\n" /* 19 */
		 "    resources: {pids: 99999999999999999999}\n",     /* 20 */
		 NULL);
	expect_error(&l.diags, 3, 13, "ssh.port", "70000 is out of range (allowed: 1 to 65535)");
	expect_error(&l.diags, 6, 12, "nodes[0].count", "expected a whole number, found 'two'");
	expect_error(&l.diags, 8, 12, "nodes[1].count", "0 is out of range (allowed: 1 to 100)");
	expect_error(&l.diags, 10, 12, "nodes[2].count", "101 is out of range (allowed: 1 to 100)");
	expect_error(&l.diags, 11, 20, "docker.tls_port",
		     "0 is out of range (allowed: 1 to 65535)");
	expect_error(&l.diags, 15, 15, "containers[0].replicas",
		     "expected a whole number, found '1.5'");
	expect_error(&l.diags, 18, 15, "containers[1].replicas",
		     "-1 is out of range (allowed: 0 to 100)");
	expect_error(&l.diags, 19, 44, "containers[1].healthcheck.retries",
		     "1000 is out of range (allowed: 1 to 100)");
	expect_error(&l.diags, 20, 23, "containers[1].resources.pids",
		     "expected a whole number, found '99999999999999999999'");
	expect_counts(&l.diags, 9, 0);
	loaded_free(&l);
}

static void test_bools(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 RECIPE_HEAD "    healthcheck: {disable: 1}\n" /* 8 */
			     "ssh: {agent: yes}\n"	       /* 9 */
			     "prune: maybe\n",		       /* 10 */
		 NULL);
	expect_error(&l.diags, 8, 28, "containers[0].healthcheck.disable",
		     "expected true or false, found '1'");
	expect_error(&l.diags, 8, 18, "containers[0].healthcheck.test", "missing required key");
	expect_error(&l.diags, 9, 14, "ssh.agent", "expected true or false, found 'yes'");
	expect_error(&l.diags, 10, 8, "prune", "expected true or false, found 'maybe'");
	expect_counts(&l.diags, 4, 0);
	loaded_free(&l);
}

static void test_bad_choices(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"		    /* 1 */
		 "project: demo\n"	    /* 2 */
		 "provider:\n"		    /* 3 */
		 "  type: hetzne\n"	    /* 4 */
		 "ssh:\n"		    /* 5 */
		 "  host_keys: strictt\n"   /* 6 */
		 "nodes:\n"		    /* 7 */
		 "  - name: web\n"	    /* 8 */
		 "docker:\n"		    /* 9 */
		 "  install: sometimes\n"   /* 10 */
		 "  endpoint: tl\n"	    /* 11 */
		 "images:\n"		    /* 12 */
		 "  - name: nginx:1.25\n"   /* 13 */
		 "    pull: alway\n"	    /* 14 */
		 "containers:\n"	    /* 15 */
		 "  - name: app\n"	    /* 16 */
		 "    image: nginx:1.25\n", /* 17 */
		 NULL);
	expect_error(
		&l.diags, 4, 9, "provider.type",
		"'hetzne' is not one of local, static, hetzner, digitalocean, engine (did you mean 'hetzner'?)");
	expect_error(&l.diags, 6, 14, "ssh.host_keys",
		     "'strictt' is not one of accept-new, strict (did you mean 'strict'?)");
	expect_error(&l.diags, 10, 12, "docker.install", "'sometimes' is not one of auto, never");
	assert_no_suggestion(&l.diags, 10, 12, "docker.install", "sometimes");
	expect_error(&l.diags, 11, 13, "docker.endpoint",
		     "'tl' is not one of ssh, tls (did you mean 'tls'?)");
	expect_error(&l.diags, 14, 11, "images[0].pull",
		     "'alway' is not one of missing, always, never (did you mean 'always'?)");
	expect_counts(&l.diags, 5, 0);
	loaded_free(&l);
}

/* cluster.encrypt and cluster.advertise: bad values at their place */
static void test_cluster_network(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"				 /* 1 */
		 "project: demo\n"			 /* 2 */
		 "provider: {type: local}\n"		 /* 3 */
		 "nodes:\n"				 /* 4 */
		 "  - name: web\n"			 /* 5 */
		 "cluster:\n"				 /* 6 */
		 "  type: swarm\n"			 /* 7 */
		 "  encrypt: yes\n"			 /* 8 */
		 "  advertise: \"eth0; rm -rf /\"\n"	 /* 9 */
		 "containers:\n"			 /* 10 */
		 "  - {name: app, image: nginx:1.25}\n", /* 11 */
		 NULL);
	expect_error(&l.diags, 8, 12, "cluster.encrypt", "'yes' is not one of auto, true, false");
	expect_error(&l.diags, 9, 14, "cluster.advertise",
		     "'eth0; rm -rf /' is not an interface name, an IP address or 'private'");
	expect_counts(&l.diags, 2, 0);
	loaded_free(&l);
	load_bad(&l,
		 "version: 1\nproject: demo\nprovider: {type: local}\nnodes:\n  - name: web\n"
		 "cluster: {type: swarm, encrypt: tru, advertise: [eth1]}\n" /* 6 */
		 "containers:\n  - {name: app, image: nginx:1.25}\n",
		 NULL);
	expect_error(&l.diags, 6, 33, "cluster.encrypt",
		     "'tru' is not one of auto, true, false (did you mean 'true'?)");
	expect_error(&l.diags, 6, 49, "cluster.advertise", "expected a single value, found a list");
	expect_counts(&l.diags, 2, 0);
	loaded_free(&l);
	/* an address fits one node */
	load_bad(&l,
		 "version: 1\nproject: demo\nprovider: {type: local}\nnodes:\n"
		 "  - {name: web, count: 2}\n"
		 "cluster: {type: swarm, advertise: 10.0.0.2}\n" /* 6 */
		 "containers:\n  - {name: app, image: nginx:1.25}\n",
		 NULL);
	expect_error(&l.diags, 6, 35, "cluster.advertise",
		     "an address is one node's, and the recipe has 2 nodes: name the interface "
		     "(eth1), or use private");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);
}

/* compose's service keys: each mistake at its value, with the fix or a
 * suggestion; a cluster service refuses what its spec cannot carry. */
static void test_service_key_errors(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 RECIPE_HEAD
		 "    cap_add: [net_admn, NET_ADMIN, net_admin]\n"		      /* 8 */
		 "    cap_drop: ALL\n"						      /* 9 */
		 "    read_only: maybe\n"					      /* 10 */
		 "    tmpfs: [run, \"/a:size=64q\", \"/b:mod=1777\", \"/c:noexe\"]\n" /* 11 */
		 "    ulimits:\n"						      /* 12 */
		 "      nofiles: 10\n"						      /* 13 */
		 "      nproc: {soft: 10, hard: 5}\n"				      /* 14 */
		 "      core: {soft: 1}\n"					      /* 15 */
		 "      stack: lots\n"						      /* 16 */
		 "    extra_hosts: [\"db:10.0.0.500\", noaddr, \"a b:1.2.3.4\"]\n"    /* 17 */
		 "    logging: {driver: json-fil, option: {}}\n",		      /* 18 */
		 NULL);
	expect_error(&l.diags, 8, 15, "containers[0].cap_add[0]",
		     "'net_admn' is not a Linux capability (like NET_ADMIN or SYS_PTRACE, or ALL); "
		     "did you mean 'NET_ADMIN'?");
	expect_error(&l.diags, 8, 36, "containers[0].cap_add[2]",
		     "NET_ADMIN is listed twice (keep one)");
	expect_error(&l.diags, 9, 15, "containers[0].cap_drop", "expected a list");
	expect_error(&l.diags, 10, 16, "containers[0].read_only", "maybe");
	expect_error(
		&l.diags, 11, 13, "containers[0].tmpfs[0]",
		"'run' is not a tmpfs (write PATH[:OPTIONS], like \"/run:size=64m,mode=1777\"): "
		"the path is absolute in the container (like /run)");
	expect_error(&l.diags, 11, 18, "containers[0].tmpfs[1]",
		     "size is bytes with an optional unit, like size=64m");
	expect_error(&l.diags, 11, 33, "containers[0].tmpfs[2]",
		     "'mod' is not a tmpfs option with a value (size, mode, uid, gid, nr_inodes, "
		     "nr_blocks, mpol); did you mean 'mode'?");
	expect_error(&l.diags, 11, 48, "containers[0].tmpfs[3]",
		     "'noexe' is not a tmpfs option (size=, mode=, uid=, gid=, nr_inodes=, noexec, "
		     "nosuid, nodev, ro, ...); did you mean 'noexec'?");
	expect_error(&l.diags, 13, 7, "containers[0].ulimits.nofiles",
		     "'nofiles' is not a ulimit (core, cpu, data");
	expect_error(&l.diags, 13, 7, "containers[0].ulimits.nofiles", "did you mean 'nofile'?");
	expect_error(&l.diags, 14, 14, "containers[0].ulimits.nproc",
		     "the soft limit 10 is above the hard limit 5");
	expect_error(&l.diags, 15, 13, "containers[0].ulimits.core.hard", "missing");
	expect_error(&l.diags, 16, 14, "containers[0].ulimits.stack",
		     "'lots' is not a limit (a number, or -1 for unlimited)");
	expect_error(&l.diags, 17, 19, "containers[0].extra_hosts[0]",
		     "'10.0.0.500' is not an IPv4 or IPv6 address (or host-gateway");
	expect_error(&l.diags, 17, 36, "containers[0].extra_hosts[1]",
		     "'noaddr' has no address (write HOST:ADDRESS or HOST=ADDRESS");
	expect_error(&l.diags, 17, 44, "containers[0].extra_hosts[2]",
		     "'a b' is not a host name for extra_hosts");
	expect_error(&l.diags, 18, 23, "containers[0].logging.driver",
		     "'json-fil' is not a log driver (json-file, local, syslog");
	expect_error(&l.diags, 18, 23, "containers[0].logging.driver", "did you mean 'json-file'?");
	expect_error(&l.diags, 18, 33, "containers[0].logging.option", "did you mean 'options'?");
	expect_counts(&l.diags, 17, 0);
	loaded_free(&l);
	/* the same target twice, with volumes: */
	load_bad(&l,
		 RECIPE_HEAD "    volumes: [data:/run]\n"		       /* 8 */
			     "    tmpfs: /run\n"			       /* 9 */
			     "    logging: {driver: none, options: {a: b}}\n", /* 10 */
		 NULL);
	expect_error(&l.diags, 9, 12, "containers[0].tmpfs",
		     "/run is mounted twice in this container (keep one)");
	expect_error(&l.diags, 10, 23, "containers[0].logging.driver",
		     "the none driver keeps no logs and takes no options (remove options:)");
	expect_counts(&l.diags, 2, 0);
	loaded_free(&l);
	/* a cluster service: host-gateway and tmpfs options beyond size and
	 * mode are refused; capabilities, read_only, ulimits, logging are not */
	load_bad(&l,
		 "version: 1\nproject: demo\nprovider: {type: local}\nnodes:\n  - name: web\n"
		 "cluster: {type: swarm}\n"				     /* 6 */
		 "containers:\n"					     /* 7 */
		 "  - name: app\n"					     /* 8 */
		 "    image: nginx:1.25\n"				     /* 9 */
		 "    cap_add: [NET_ADMIN]\n"				     /* 10 */
		 "    read_only: true\n"				     /* 11 */
		 "    ulimits: {nofile: 100}\n"				     /* 12 */
		 "    logging: {driver: local}\n"			     /* 13 */
		 "    tmpfs: [\"/run:size=1m,mode=700\", \"/tmp:noexec\"]\n" /* 14 */
		 "    extra_hosts: [\"a:10.0.0.1\", \"gw:host-gateway\"]\n", /* 15 */
		 NULL);
	expect_error(
		&l.diags, 14, 38, "containers[0].tmpfs",
		"container app: a cluster service's tmpfs takes only size=BYTES and mode=OCTAL, "
		"not noexec (remove it from /tmp)");
	expect_error(&l.diags, 8, 5, "containers[0].extra_hosts",
		     "container app: host-gateway is resolved for containers only, not for cluster "
		     "services (write the node's address for gw instead)");
	expect_counts(&l.diags, 2, 0);
	loaded_free(&l);
}

static void test_host_keys_cannot_be_off(void **state)
{
	static const char *const offs[] = {"no", "off", "false", "ignore", "insecure"};
	struct loaded l;
	char text[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		snprintf(text, sizeof(text), "%sssh:\n  host_keys: %s\n", RECIPE_HEAD, offs[i]);
		load_bad(&l, text, NULL);
		expect_error(
			&l.diags, 9, 14, "ssh.host_keys",
			"host key checking cannot be turned off (use accept-new: trust on first use, then pinned)");
		expect_counts(&l.diags, 1, 0);
		loaded_free(&l);
	}
}

/* ssh.jump: each hop checked where it is written; TLS engines cannot be
 * reached behind jump hosts. */
static void test_ssh_jump(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 RECIPE_HEAD "ssh:\n"							   /* 8 */
			     "  jump: [\"ops@bastion:2222\", \"ftp://x\", \"bad host\"]\n" /* 9 */
			     "docker:\n"						   /* 10 */
			     "  endpoint: tls\n",					   /* 11 */
		 NULL);
	expect_error(&l.diags, 9, 30, "ssh.jump[1]",
		     "write the jump host as USER@HOST[:PORT], without a scheme");
	expect_error(&l.diags, 9, 41, "ssh.jump[2]",
		     "'bad host' is not a jump host: write USER@HOST[:PORT] (IPv6 as [::1])");
	expect_error(&l.diags, 11, 13, "docker.endpoint",
		     "endpoint: tls reaches each engine's TCP port at the node's address, which "
		     "nodes behind jump hosts do not answer; use endpoint: ssh (the engine through "
		     "the SSH session, carried through the jump hosts)");
	expect_counts(&l.diags, 3, 0);
	loaded_free(&l);
}

/* Two static hosts at one address and port are one machine (reported at
 * the second's address); the same address behind another jump host, or
 * on another port, is another machine. */
static void test_same_machine_twice(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"							  /* 1 */
		 "project: demo\n"						  /* 2 */
		 "provider: {type: static}\n"					  /* 3 */
		 "ssh: {port: 2222}\n"						  /* 4 */
		 "nodes:\n"							  /* 5 */
		 "  - {name: a, address: web.example.test}\n"			  /* 6 */
		 "  - {name: b, address: WEB.example.test, port: 2222}\n"	  /* 7 */
		 "  - {name: c, address: web.example.test, port: 22}\n"		  /* 8 */
		 "  - {name: d, address: web.example.test, jump: [\"ops@gw\"]}\n" /* 9 */
		 "containers:\n"						  /* 10 */
		 "  - {name: app, image: nginx:1.25}\n",			  /* 11 */
		 NULL);
	expect_error(&l.diags, 7, 24, "nodes[1].address",
		     "node 'b' is the machine of node 'a' (line 6), WEB.example.test port 2222: "
		     "their runs would lock each other out (remove one entry; for more containers "
		     "there, raise their replicas)");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);
}

/* ---- providers --------------------------------------------------------- */

/* An unknown type is one mistake: the keys of the intended type are not
 * reported as foreign on top of it. */
static void test_provider_bad_type_no_cascade(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"	      /* 1 */
		 "project: demo\n"    /* 2 */
		 "provider:\n"	      /* 3 */
		 "  type: hetzne\n"   /* 4 */
		 "  location: fsn1\n" /* 5 */
		 "nodes:\n"
		 "  - name: web\n",
		 NULL);
	expect_error(&l.diags, 4, 9, "provider.type", "did you mean 'hetzner'?");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);
}

static void test_provider_keys_per_type(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"				   /* 1 */
		 "project: demo\n"			   /* 2 */
		 "provider:\n"				   /* 3 */
		 "  type: hetzner\n"			   /* 4 */
		 "  region: fra1\n"			   /* 5 */
		 "  location: fsn1\n"			   /* 6 */
		 "  size: cx22\n"			   /* 7 */
		 "  engine: unix:///var/run/docker.sock\n" /* 8 */
		 "  tokn: abc\n"			   /* 9 */
		 "nodes:\n"
		 "  - name: web\n",
		 NULL);
	expect_error(
		&l.diags, 5, 3, "provider.region",
		"'region' is a key of provider type digitalocean, not hetzner (remove it or change type)");
	expect_error(&l.diags, 7, 3, "provider.size",
		     "'size' is a key of provider type digitalocean, not hetzner");
	expect_error(&l.diags, 8, 3, "provider.engine",
		     "'engine' is a key of provider type local, not hetzner");
	expect_error(&l.diags, 9, 3, "provider.tokn", "unknown key (did you mean 'token'?)");
	expect_counts(&l.diags, 4, 0);
	loaded_free(&l);

	load_bad(&l,
		 "version: 1\n"		/* 1 */
		 "project: demo\n"	/* 2 */
		 "provider:\n"		/* 3 */
		 "  type: static\n"	/* 4 */
		 "  image: debian-12\n" /* 5 */
		 "  zone: z\n"		/* 6 */
		 "nodes:\n"
		 "  - name: web\n"
		 "    address: 203.0.113.1\n",
		 NULL);
	expect_error(&l.diags, 5, 3, "provider.image",
		     "'image' is a key of provider type local, not static");
	expect_error(&l.diags, 6, 3, "provider.zone", "unknown key (provider static takes: type)");
	expect_counts(&l.diags, 2, 0);
	loaded_free(&l);

	load_bad(&l,
		 "version: 1\n"
		 "project: demo\n"
		 "provider: {type: local, token_env: X}\n" /* 3 */
		 "nodes:\n"
		 "  - name: web\n",
		 NULL);
	expect_error(&l.diags, 3, 25, "provider.token_env",
		     "'token_env' is a key of provider type hetzner, not local");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);
}

static void test_provider_values(void **state)
{
	static const struct test_var env[] = {{"DO_TOKEN", "tok-123"}, {NULL, NULL}};
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"			      /* 1 */
		 "project: demo\n"		      /* 2 */
		 "provider:\n"			      /* 3 */
		 "  type: digitalocean\n"	      /* 4 */
		 "  token: ${DO_TOKEN}\n"	      /* 5 */
		 "  token_env: 1DO-TOKEN\n"	      /* 6 */
		 "  api_url: ftp://api.example.com\n" /* 7 */
		 "nodes:\n"
		 "  - name: web\n",
		 env);
	expect_error(&l.diags, 4, 3, "provider.region",
		     "missing required key (region: fra1, ams3, nyc3, sfo3, ...)");
	expect_error(&l.diags, 6, 14, "provider.token_env",
		     "'1DO-TOKEN' is not an environment variable name (letters, digits, '_')");
	expect_error(&l.diags, 6, 14, "provider.token_env", "give token or token_env, not both");
	expect_error(&l.diags, 7, 12, "provider.api_url",
		     "'ftp://api.example.com' is not an http(s) URL");
	expect_counts(&l.diags, 4, 0);
	loaded_free(&l);

	/* the token goes in clear text only to this machine */
	load_bad(&l,
		 "version: 1\n"				  /* 1 */
		 "project: demo\n"			  /* 2 */
		 "provider:\n"				  /* 3 */
		 "  type: hetzner\n"			  /* 4 */
		 "  location: fsn1\n"			  /* 5 */
		 "  token: ${DO_TOKEN}\n"		  /* 6 */
		 "  api_url: http://api.example.com/v1\n" /* 7 */
		 "nodes:\n"
		 "  - name: web\n",
		 env);
	expect_error(&l.diags, 7, 12, "provider.api_url",
		     "'http://api.example.com/v1' would send the API token in clear text: use "
		     "https:// (plain http:// only to a loopback address such as 127.0.0.1)");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);

	load_bad(&l,
		 "version: 1\n"
		 "project: demo\n"
		 "provider: {engine: /var/run/docker.sock}\n" /* 3 */
		 "nodes:\n"
		 "  - name: web\n",
		 NULL);
	/* without a type, the other keys cannot be judged: one error */
	expect_error(&l.diags, 3, 11, "provider.type",
		     "missing required key (type: local, static, hetzner, digitalocean or engine)");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);

	load_bad(&l,
		 "version: 1\n"
		 "project: demo\n"
		 "provider: {type: local, engine: /var/run/docker.sock}\n" /* 3 */
		 "nodes:\n"
		 "  - name: web\n",
		 NULL);
	expect_error(
		&l.diags, 3, 33, "provider.engine",
		"'/var/run/docker.sock' is not an engine URL (write unix:///var/run/docker.sock or tcp://HOST:2376)");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);
}

/* ---- nodes ------------------------------------------------------------- */

static void test_static_address_rules(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"		       /* 1 */
		 "project: demo\n"	       /* 2 */
		 "provider:\n"		       /* 3 */
		 "  type: static\n"	       /* 4 */
		 "nodes:\n"		       /* 5 */
		 "  - name: web\n"	       /* 6 */
		 "    address: 203.0.113.10\n" /* 7 */
		 "  - name: db\n"	       /* 8 */
		 "    port: 2222\n"	       /* 9 */
		 "  - name: cache\n"	       /* 10 */
		 "    count: 2\n"	       /* 11 */
		 "    address: 203.0.113.12\n" /* 12 */
		 "  - name: big\n"	       /* 13 */
		 "    address: 203.0.113.13\n" /* 14 */
		 "    server_type: cx32\n",    /* 15 */
		 NULL);
	expect_error(&l.diags, 8, 5, "nodes[1].address",
		     "missing required key (static hosts need address: HOST or IP)");
	expect_error(
		&l.diags, 11, 12, "nodes[2].count",
		"static hosts are listed one by one (give each host its own entry with its address)");
	expect_error(&l.diags, 15, 18, "nodes[3].server_type",
		     "'server_type' does not apply to provider static");
	expect_counts(&l.diags, 3, 0);
	loaded_free(&l);
}

static void test_address_with_created_nodes(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"		       /* 1 */
		 "project: demo\n"	       /* 2 */
		 "provider:\n"		       /* 3 */
		 "  type: hetzner\n"	       /* 4 */
		 "  location: fsn1\n"	       /* 5 */
		 "nodes:\n"		       /* 6 */
		 "  - name: web\n"	       /* 7 */
		 "    address: 203.0.113.10\n" /* 8 */
		 "  - name: db\n"	       /* 9 */
		 "    size: s-2vcpu-4gb\n",    /* 10 */
		 NULL);
	expect_error(
		&l.diags, 8, 14, "nodes[0].address",
		"address is for existing hosts (provider type static); provider hetzner creates its nodes");
	expect_error(&l.diags, 10, 11, "nodes[1].size",
		     "'size' does not apply to provider hetzner (use server_type)");
	expect_counts(&l.diags, 2, 0);
	loaded_free(&l);

	load_bad(&l,
		 "version: 1\n"
		 "project: demo\n"
		 "nodes:\n"
		 "  - name: web\n"	      /* 4 */
		 "    address: 203.0.113.1\n" /* 5 */
		 "    size: big\n",	      /* 6 */
		 NULL);
	expect_error(&l.diags, 5, 14, "nodes[0].address", "provider local creates its nodes");
	expect_error(&l.diags, 6, 11, "nodes[0].size", "'size' does not apply to provider local");
	assert_no_suggestion(&l.diags, 6, 11, "nodes[0].size", "does not apply");
	expect_counts(&l.diags, 2, 0);
	loaded_free(&l);
}

static void test_invalid_names(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"		      /* 1 */
		 "project: My_Shop\n"	      /* 2 */
		 "nodes:\n"		      /* 3 */
		 "  - name: Web\n"	      /* 4 */
		 "  - name: db-\n"	      /* 5 */
		 "  - name: cache\n"	      /* 6 */
		 "    count: 3\n"	      /* 7 */
		 "containers:\n"	      /* 8 */
		 "  - name: -app\n"	      /* 9 */
		 "    image: nginx:1.25\n"    /* 10 */
		 "  - name: \"web server\"\n" /* 11 */
		 "    image: nginx:1.25\n",   /* 12 */
		 NULL);
	expect_error(
		&l.diags, 2, 10, "project",
		"'My_Shop' is not a valid project name (lowercase letters, digits and '-', at most 40, like shop)");
	expect_error(
		&l.diags, 4, 11, "nodes[0].name",
		"'Web' is not a valid node name (lowercase letters, digits and '-', at most 63, like web or db-1)");
	expect_error(&l.diags, 5, 11, "nodes[1].name", "'db-' is not a valid node name");
	expect_error(&l.diags, 9, 11, "containers[0].name", "'-app' is not a valid container name");
	expect_error(&l.diags, 11, 11, "containers[1].name",
		     "'web server' is not a valid container name");
	expect_counts(&l.diags, 5, 0);
	loaded_free(&l);
}

static void test_node_count_limits(void **state)
{
	struct bs_buf text = BS_BUF_INIT;
	struct loaded l;
	int i;

	(void)state;
	/* 59 characters and a count fit a DNS label ("-100"), 60 do not */
	load_bad(&l,
		 "version: 1\n"
		 "project: demo\n"
		 "nodes:\n"
		 "  - name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n" /* 4 */
		 "    count: 2\n"
		 "  - name: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n" /* 6 */
		 "    count: 2\n",
		 NULL);
	expect_error(&l.diags, 6, 11, "nodes[1].name",
		     "name too long for numbered nodes (at most 59 characters with count)");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);

	/* at most 500 nodes: five entries of 100 fit, one more does not */
	bs_buf_puts(&text, "version: 1\nproject: demo\nnodes:\n");
	for (i = 0; i < 6; i++)
		bs_buf_printf(&text, "  - name: g%d\n    count: %d\n", i, i < 5 ? 100 : 1);
	load_bad(&l, bs_buf_str(&text), NULL);
	expect_error(&l.diags, 15, 12, "nodes[5].count", "a recipe may have at most 500 nodes");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);
	bs_buf_free(&text);
}

/* ---- duplicates -------------------------------------------------------- */

static void test_duplicate_nodes(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"		    /* 1 */
		 "project: demo\n"	    /* 2 */
		 "nodes:\n"		    /* 3 */
		 "  - name: db\n"	    /* 4 */
		 "    labels: {role: db}\n" /* 5 */
		 "  - name: web\n"	    /* 6 */
		 "  - name: db\n",	    /* 7 */
		 NULL);
	expect_error(&l.diags, 7, 11, "nodes[2].name",
		     "node name 'db' is used twice (first declared at line 4); rename one");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);
}

static void test_count_collisions(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"		       /* 1 */
		 "project: demo\n"	       /* 2 */
		 "nodes:\n"		       /* 3 */
		 "  - name: web\n"	       /* 4 */
		 "    count: 2\n"	       /* 5 */
		 "  - labels: {role: extra}\n" /* 6 */
		 "    name: web-1\n",	       /* 7 */
		 NULL);
	expect_error(&l.diags, 7, 11, "nodes[1].name",
		     "node name 'web-1' is used twice (first declared at line 4); rename one");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);

	load_bad(&l,
		 "version: 1\n"	     /* 1 */
		 "project: demo\n"   /* 2 */
		 "nodes:\n"	     /* 3 */
		 "  - name: web-2\n" /* 4 */
		 "  - name: web\n"   /* 5 */
		 "    count: 3\n",   /* 6 */
		 NULL);
	expect_error(&l.diags, 5, 11, "nodes[1].name",
		     "node name 'web-2' is used twice (first declared at line 4); rename one");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);

	/* two counted entries of the same name collide on every number, but
	 * the entry is one mistake */
	load_bad(&l,
		 "version: 1\n"
		 "project: demo\n"
		 "nodes:\n"
		 "  - name: web\n" /* 4 */
		 "    count: 2\n"
		 "  - name: web\n" /* 6 */
		 "    count: 2\n",
		 NULL);
	expect_error(&l.diags, 6, 11, "nodes[1].name",
		     "node name 'web-1' is used twice (first declared at line 4)");
	assert_true(l.diags.n_errors >= 1);
	loaded_free(&l);
}

static void test_duplicate_containers_and_domains(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 RECIPE_HEAD "    domain: shop.example.com\n"  /* 8 */
			     "  - image: redis:7.2\n"	       /* 9 */
			     "    name: app\n"		       /* 10 */
			     "  - name: app2\n"		       /* 11 */
			     "    image: nginx:1.25\n"	       /* 12 */
			     "    domain: shop.example.com\n", /* 13 */
		 NULL);
	expect_error(&l.diags, 10, 11, "containers[1].name",
		     "container name app is used twice (first at line 6); rename one");
	/* app has no port for its domain (nor app2) */
	expect_error(&l.diags, 8, 13, "containers[0].domain",
		     "container app: which port serves shop.example.com? Give expose: PORT (the "
		     "port inside the container; it need not be published)");
	expect_error(
		&l.diags, 13, 13, "containers[2].domain",
		"domain shop.example.com is already used by container app (a domain routes to one container)");
	expect_counts(&l.diags, 4, 0);
	loaded_free(&l);
}

static void test_duplicate_images(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"							/* 1 */
		 "project: demo\n"						/* 2 */
		 "nodes:\n"							/* 3 */
		 "  - name: web\n"						/* 4 */
		 "images:\n"							/* 5 */
		 "  - name: shop/app:1.4\n"					/* 6 */
		 "    build: {git: \"https://git.example.com/shop/app.git\"}\n" /* 7 */
		 "  - pull: never\n"						/* 8 */
		 "    name: shop/app:1.4\n"					/* 9 */
		 "containers:\n"						/* 10 */
		 "  - name: app\n"						/* 11 */
		 "    image: shop/app:1.4\n",					/* 12 */
		 NULL);
	expect_error(&l.diags, 9, 11, "images[1].name",
		     "image shop/app:1.4 is defined twice (first at line 6); keep one");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);
}

static void test_duplicate_registries(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 RECIPE_HEAD "registries:\n"			   /* 8 */
			     "  - server: registry.example.com\n"  /* 9 */
			     "  - server: registry.example.com\n", /* 10 */
		 NULL);
	expect_error(&l.diags, 10, 13, "registries[1].server",
		     "registry registry.example.com is listed twice (first at line 9); keep one");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);
}

static void test_duplicate_yaml_keys(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 RECIPE_HEAD "    environment:\n"	/* 8 */
			     "      MODE: production\n" /* 9 */
			     "      DEBUG: \"0\"\n"	/* 10 */
			     "      MODE: staging\n"	/* 11 */
			     "project: other\n",	/* 12 */
		 NULL);
	expect_error(&l.diags, 11, 7, "",
		     "duplicate key 'MODE' (first at line 9, column 7); remove one of them");
	expect_error(&l.diags, 12, 1, "",
		     "duplicate key 'project' (first at line 2, column 1); remove one of them");
	expect_counts(&l.diags, 2, 0);
	loaded_free(&l);
}

/* ---- key/value lists --------------------------------------------------- */

static void test_kv_lists(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"		     /* 1 */
		 "project: demo\n"	     /* 2 */
		 "nodes:\n"		     /* 3 */
		 "  - name: web\n"	     /* 4 */
		 "    labels: {role: }\n"    /* 5 */
		 "containers:\n"	     /* 6 */
		 "  - name: app\n"	     /* 7 */
		 "    image: nginx:1.25\n"   /* 8 */
		 "    environment:\n"	     /* 9 */
		 "      - \"BAD KEY=1\"\n"   /* 10 */
		 "      - MODE=production\n" /* 11 */
		 "      - MODE=staging\n"    /* 12 */
		 "      - =empty\n"	     /* 13 */
		 "    labels: [team]\n",     /* 14 */
		 NULL);
	expect_error(&l.diags, 5, 14, "nodes[0].labels.role",
		     "label role has no value (write role: value)");
	expect_error(
		&l.diags, 10, 9, "containers[0].environment[0]",
		"'BAD KEY' is not a valid variable name (no spaces, '=' or control characters)");
	expect_error(&l.diags, 12, 9, "containers[0].environment[2]",
		     "variable MODE is given twice (keep one)");
	expect_error(&l.diags, 13, 9, "containers[0].environment[3]",
		     "'' is not a valid variable name");
	expect_error(&l.diags, 14, 14, "containers[0].labels[0]",
		     "label team has no value (write team: value)");
	expect_counts(&l.diags, 5, 0);
	loaded_free(&l);
}

/* ---- selectors --------------------------------------------------------- */

static void test_dangling_name_selectors(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"					      /* 1 */
		 "project: demo\n"				      /* 2 */
		 "nodes:\n"					      /* 3 */
		 "  - name: web\n"				      /* 4 */
		 "    count: 2\n"				      /* 5 */
		 "  - name: db\n"				      /* 6 */
		 "containers:\n"				      /* 7 */
		 "  - name: app\n"				      /* 8 */
		 "    image: nginx:1.25\n"			      /* 9 */
		 "    nodes: [webb, web-3, cache, web, web-2, db]\n", /* 10 */
		 NULL);
	expect_error(&l.diags, 10, 13, "containers[0].nodes[0]",
		     "no node is named webb (did you mean 'web'?)");
	expect_error(&l.diags, 10, 19, "containers[0].nodes[1]",
		     "no node is named web-3 (did you mean 'web-1'?)");
	expect_error(
		&l.diags, 10, 26, "containers[0].nodes[2]",
		"no node is named cache (name a node from nodes:, or select by label with key=value)");
	expect_counts(&l.diags, 3, 0);
	loaded_free(&l);
}

static void test_dangling_label_selectors(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"							     /* 1 */
		 "project: demo\n"						     /* 2 */
		 "nodes:\n"							     /* 3 */
		 "  - name: web\n"						     /* 4 */
		 "    labels: {role: web}\n"					     /* 5 */
		 "images:\n"							     /* 6 */
		 "  - name: shop/app:1.4\n"					     /* 7 */
		 "    build: {git: \"https://git.example.com/shop/app.git#main\"}\n" /* 8 */
		 "    nodes: [tier=app, role=web]\n"				     /* 9 */
		 "containers:\n"						     /* 10 */
		 "  - name: app\n"						     /* 11 */
		 "    image: shop/app:1.4\n"					     /* 12 */
		 "    nodes:\n"							     /* 13 */
		 "      - role=web\n"						     /* 14 */
		 "      - role=db\n"						     /* 15 */
		 "      - role=\n"						     /* 16 */
		 "      - =web\n",						     /* 17 */
		 NULL);
	expect_error(
		&l.diags, 9, 13, "images[0].nodes[0]",
		"no node has label tier=app (add labels: {tier: app} to a node, or fix the selector)");
	expect_error(
		&l.diags, 15, 9, "containers[0].nodes[1]",
		"no node has label role=db (add labels: {role: db} to a node, or fix the selector)");
	expect_error(&l.diags, 16, 9, "containers[0].nodes[2]", "no node has label role=");
	expect_error(&l.diags, 17, 9, "containers[0].nodes[3]",
		     "empty node selector (write a node name or key=value)");
	expect_counts(&l.diags, 4, 0);
	loaded_free(&l);
}

static void test_empty_selector_list(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l, RECIPE_HEAD "    nodes: []\n", NULL);
	expect_error(&l.diags, 8, 12, "containers[0].nodes",
		     "empty list of nodes (name nodes, or remove the key to use every node)");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);
}

/* ---- images ------------------------------------------------------------ */

static void test_unused_images(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"					     /* 1 */
		 "project: demo\n"				     /* 2 */
		 "nodes:\n"					     /* 3 */
		 "  - name: web\n"				     /* 4 */
		 "images:\n"					     /* 5 */
		 "  - name: shop/app:1.4\n"			     /* 6 */
		 "    build:\n"					     /* 7 */
		 "      git: https://git.example.com/shop/app.git\n" /* 8 */
		 "  - name: redis:7.2\n"			     /* 9 */
		 "    pull: always\n"				     /* 10 */
		 "containers:\n"				     /* 11 */
		 "  - name: app\n"				     /* 12 */
		 "    image: nginx:1.25\n",			     /* 13 */
		 NULL);
	expect_error(
		&l.diags, 6, 5, "images[0]",
		"image shop/app:1.4 is defined but no container uses it (use it in a container's image, or remove it)");
	expect_error(&l.diags, 9, 5, "images[1]",
		     "image redis:7.2 is defined but no container uses it");
	expect_counts(&l.diags, 2, 0);
	loaded_free(&l);
}

static void test_image_near_misses(void **state)
{
	struct loaded l;

	(void)state;
	/* a built image used with another tag: an error that names it */
	load_bad(&l,
		 "version: 1\n"							     /* 1 */
		 "project: demo\n"						     /* 2 */
		 "nodes:\n"							     /* 3 */
		 "  - name: web\n"						     /* 4 */
		 "images:\n"							     /* 5 */
		 "  - name: shop/app:1.4\n"					     /* 6 */
		 "    build: {git: \"https://git.example.com/shop/app.git#v1.4\"}\n" /* 7 */
		 "containers:\n"						     /* 8 */
		 "  - name: app\n"						     /* 9 */
		 "    image: shop/app:1.3\n",					     /* 10 */
		 NULL);
	expect_error(&l.diags, 6, 5, "images[0]",
		     "image shop/app:1.4 is defined but no container uses it");
	expect_error(
		&l.diags, 10, 12, "containers[0].image",
		"shop/app:1.3 is not defined, but images[0] builds shop/app:1.4 (did you mean 'shop/app:1.4'?)");
	expect_counts(&l.diags, 2, 0);
	loaded_free(&l);

	/* a pulled image with a near name: a warning on the container */
	load_bad(&l,
		 "version: 1\n"		   /* 1 */
		 "project: demo\n"	   /* 2 */
		 "nodes:\n"		   /* 3 */
		 "  - name: web\n"	   /* 4 */
		 "images:\n"		   /* 5 */
		 "  - name: redis:7.2\n"   /* 6 */
		 "    pull: always\n"	   /* 7 */
		 "containers:\n"	   /* 8 */
		 "  - name: cache\n"	   /* 9 */
		 "    image: redis:7.1\n", /* 10 */
		 NULL);
	expect_error(&l.diags, 6, 5, "images[0]",
		     "image redis:7.2 is defined but no container uses it");
	expect_warning(&l.diags, 10, 12, "containers[0].image",
		       "redis:7.1 is not in images: (did you mean 'redis:7.2'?)");
	expect_counts(&l.diags, 1, 1);
	loaded_free(&l);
}

static void test_image_not_prepared(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"							     /* 1 */
		 "project: demo\n"						     /* 2 */
		 "nodes:\n"							     /* 3 */
		 "  - name: web\n"						     /* 4 */
		 "    labels: {role: web}\n"					     /* 5 */
		 "  - name: db\n"						     /* 6 */
		 "images:\n"							     /* 7 */
		 "  - name: shop/app:1.4\n"					     /* 8 */
		 "    build: {git: \"https://git.example.com/shop/app.git#main\"}\n" /* 9 */
		 "    nodes: [web]\n"						     /* 10 */
		 "containers:\n"						     /* 11 */
		 "  - name: app\n"						     /* 12 */
		 "    image: shop/app:1.4\n"					     /* 13 */
		 "    nodes:\n"							     /* 14 */
		 "      - web\n"						     /* 15 */
		 "      - db\n",						     /* 16 */
		 NULL);
	expect_error(
		&l.diags, 15, 7, "containers[0].nodes",
		"container app runs on node db, but image shop/app:1.4 is only prepared on the nodes of images[0] (add the node there, or narrow the container's nodes)");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);
}

static void test_image_references(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"			     /* 1 */
		 "project: demo\n"		     /* 2 */
		 "nodes:\n"			     /* 3 */
		 "  - name: web\n"		     /* 4 */
		 "containers:\n"		     /* 5 */
		 "  - name: app\n"		     /* 6 */
		 "    image: \"nginx:\"\n"	     /* 7 */
		 "  - name: api\n"		     /* 8 */
		 "    image: shop//api:1.0\n"	     /* 9 */
		 "  - name: db\n"		     /* 10 */
		 "    image: postgres@sha256:1234\n" /* 11 */
		 "  - name: cache\n"		     /* 12 */
		 "    image: redis\n"		     /* 13 */
		 "  - name: big\n"		     /* 14 */
		 "    image: Nginx:1.25\n"	     /* 15 */
		 "  - name: tag\n"		     /* 16 */
		 "    image: nginx:-bad\n",	     /* 17 */
		 NULL);
	expect_error(
		&l.diags, 7, 12, "containers[0].image",
		"'nginx:' is not a valid image reference: a tag is 1 to 128 characters after ':' (like nginx:1.25 or registry.example.com/shop/app:1.4)");
	expect_error(
		&l.diags, 9, 12, "containers[1].image",
		"'shop//api:1.0' is not a valid image reference: repository names are lowercase letters and digits, separated by '.', '_', '-' or '/'");
	expect_error(
		&l.diags, 11, 12, "containers[2].image",
		"'postgres@sha256:1234' is not a valid image reference: a digest is @sha256: followed by 64 hex digits");
	expect_warning(
		&l.diags, 13, 12, "containers[3].image",
		"'redis' has no tag, so :latest is used and re-runs cannot tell versions apart (pin a tag, like redis:1.0)");
	expect_error(&l.diags, 15, 12, "containers[4].image", "repository names are lowercase");
	expect_error(&l.diags, 17, 12, "containers[5].image",
		     "a tag starts with a letter, digit or '_'");
	expect_counts(&l.diags, 5, 1);
	loaded_free(&l);
}

static void test_image_builds(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"							/* 1 */
		 "project: demo\n"						/* 2 */
		 "nodes:\n"							/* 3 */
		 "  - name: web\n"						/* 4 */
		 "images:\n"							/* 5 */
		 "  - name: shop/app:1.4\n"					/* 6 */
		 "    build: {git: \"https://github.com/example/shop#main\"}\n" /* 7 */
		 "  - name: shop/worker:1.4\n"					/* 8 */
		 "    build: ftp://example.com/worker.git\n"			/* 9 */
		 "  - name: shop/cron:1.4\n"					/* 10 */
		 "    build: {dockerfile: Dockerfile}\n"			/* 11 */
		 "containers:\n"						/* 12 */
		 "  - name: app\n"
		 "    image: shop/app:1.4\n"
		 "  - name: worker\n"
		 "    image: shop/worker:1.4\n"
		 "  - name: cron\n"
		 "    image: shop/cron:1.4\n",
		 NULL);
	expect_error(
		&l.diags, 7, 18, "images[0].build.git",
		"'https://github.com/example/shop#main': Docker treats an http(s) URL as a git repository only when its path ends in .git (add .git before any #ref)");
	expect_error(
		&l.diags, 9, 12, "images[1].build",
		"'ftp://example.com/worker.git': not a git URL (use https://HOST/PATH.git, git://, ssh:// or git@HOST:PATH, with #ref:subdir if needed)");
	expect_error(&l.diags, 11, 12, "images[2].build.git",
		     "missing required key (git: https://HOST/PATH.git#ref, or context: ./DIR)");
	expect_counts(&l.diags, 3, 0);
	loaded_free(&l);
}

static void test_image_build_and_pull(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"					     /* 1 */
		 "project: demo\n"				     /* 2 */
		 "nodes:\n"					     /* 3 */
		 "  - name: web\n"				     /* 4 */
		 "images:\n"					     /* 5 */
		 "  - name: shop/app:1.4\n"			     /* 6 */
		 "    pull: always\n"				     /* 7 */
		 "    build:\n"					     /* 8 */
		 "      git: https://git.example.com/shop/app.git\n" /* 9 */
		 "      dockerfile: docker/Dockerfile\n"	     /* 10 */
		 "containers:\n"				     /* 11 */
		 "  - name: app\n"				     /* 12 */
		 "    image: shop/app:1.4\n",			     /* 13 */
		 NULL);
	expect_error(&l.diags, 7, 11, "images[0].pull",
		     "an image built from git is not pulled (remove pull, or remove build)");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);
}

/* build: {context: DIR}: relative to the recipe's directory, resolved,
 * hashed at load; a missing directory or Dockerfile is an error at the
 * key; context and git together are one context too many. */
static void test_image_build_context(void **state)
{
	char tmpl[] = "/tmp/bs-recipe-ctx-XXXXXX";
	char *recipe, *app, *dockerfile, *real;
	struct loaded l;

	(void)state;
	assert_non_null(mkdtemp(tmpl));
	app = bs_xasprintf("%s/app", tmpl);
	assert_int_equal(mkdir(app, 0755), 0);
	dockerfile = bs_xasprintf("%s/Dockerfile.prod", app);
	test_write_file(dockerfile, "FROM scratch AS prod\n");
	recipe = bs_xasprintf("%s/recipe.yaml", tmpl);
	test_write_file(recipe, "version: 1\n"			      /* 1 */
				"project: demo\n"		      /* 2 */
				"nodes:\n"			      /* 3 */
				"  - name: web\n"		      /* 4 */
				"images:\n"			      /* 5 */
				"  - name: shop/app:1.4\n"	      /* 6 */
				"    build:\n"			      /* 7 */
				"      context: ./app\n"	      /* 8 */
				"      dockerfile: Dockerfile.prod\n" /* 9 */
				"      target: prod\n"		      /* 10 */
				"      args: {VERSION: \"1.4\"}\n"    /* 11 */
				"containers:\n"			      /* 12 */
				"  - name: app\n"		      /* 13 */
				"    image: shop/app:1.4\n");	      /* 14 */
	load_file(&l, recipe, NULL);
	expect_loaded(&l);
	real = realpath(app, NULL);
	assert_string_equal(l.recipe->images[0].build_context, real);
	assert_string_equal(l.recipe->images[0].build_target, "prod");
	assert_string_equal(l.recipe->images[0].build_dockerfile, "Dockerfile.prod");
	assert_non_null(l.recipe->images[0].context_hash);
	assert_int_equal(strlen(l.recipe->images[0].context_hash), 64);
	assert_null(l.recipe->images[0].build_git);
	loaded_free(&l);
	free(real);

	/* relative to the recipe's directory, not the working directory */
	load_bad(&l,
		 "version: 1\n"						       /* 1 */
		 "project: demo\n"					       /* 2 */
		 "nodes:\n"						       /* 3 */
		 "  - name: web\n"					       /* 4 */
		 "images:\n"						       /* 5 */
		 "  - name: shop/app:1.4\n"				       /* 6 */
		 "    build: {context: ./no-such-dir}\n"		       /* 7 */
		 "  - name: shop/two:1.4\n"				       /* 8 */
		 "    build: {context: /, git: \"https://h.example/a.git\"}\n" /* 9 */
		 "containers:\n"					       /* 10 */
		 "  - name: app\n"
		 "    image: shop/app:1.4\n"
		 "  - name: two\n"
		 "    image: shop/two:1.4\n",
		 NULL);
	expect_error(&l.diags, 7, 22, "images[0].build.context",
		     "the build context './no-such-dir' (./no-such-dir) does not exist");
	expect_error(&l.diags, 7, 22, "images[0].build.context",
		     "relative to the file that names it");
	expect_error(&l.diags, 9, 22, "images[1].build.context", "a build has one context");
	expect_counts(&l.diags, 2, 0);
	loaded_free(&l);

	/* a context without the Dockerfile named */
	unlink(dockerfile);
	load_file(&l, recipe, NULL);
	expect_invalid(&l);
	expect_error(&l.diags, 8, 16, "images[0].build.context", "no Dockerfile Dockerfile.prod");
	loaded_free(&l);
	unlink(recipe);
	rmdir(app);
	rmdir(tmpl);
	free(app);
	free(dockerfile);
	free(recipe);
}

/* ---- ports ------------------------------------------------------------- */

static void test_bad_ports(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 RECIPE_HEAD "    ports:\n"			  /* 8 */
			     "      - \"300.1.2.3:8080:80\"\n"	  /* 9 */
			     "      - \"[::1::2]:8443:443\"\n"	  /* 10 */
			     "      - 8080:80/sctp\n"		  /* 11 */
			     "      - \"70000:80\"\n"		  /* 12 */
			     "      - \"8080:0\"\n"		  /* 13 */
			     "      - \"8000-8002:80-81\"\n"	  /* 14 */
			     "      - \"127.0.0.1:8080:80:90\"\n" /* 15 */
			     "      - \"http:80\"\n"		  /* 16 */
			     "      - \"web\"\n",		  /* 17 */
		 NULL);
	expect_error(
		&l.diags, 9, 9, "containers[0].ports[0]",
		"'300.1.2.3:8080:80' is not a port mapping: the part before the host port is not an IPv4 address (write [IP:]HOST:CONTAINER[/tcp|udp], like \"8080:80\")");
	expect_error(
		&l.diags, 10, 9, "containers[0].ports[1]",
		"'[::1::2]:8443:443' is not a port mapping: not a valid IPv6 address inside [ ]");
	expect_error(&l.diags, 11, 9, "containers[0].ports[2]",
		     "'8080:80/sctp' is not a port mapping: the protocol after '/' is tcp or udp");
	expect_error(&l.diags, 12, 9, "containers[0].ports[3]",
		     "'70000:80' is not a port mapping: ports are 1 to 65535 (ranges low-high)");
	expect_error(&l.diags, 13, 9, "containers[0].ports[4]",
		     "'8080:0' is not a port mapping: ports are 1 to 65535");
	expect_error(
		&l.diags, 14, 9, "containers[0].ports[5]",
		"'8000-8002:80-81' is not a port mapping: host and container ranges differ in length");
	expect_error(&l.diags, 15, 9, "containers[0].ports[6]",
		     "'127.0.0.1:8080:80:90' is not a port mapping: too many ':'");
	expect_error(&l.diags, 16, 9, "containers[0].ports[7]",
		     "'http:80' is not a port mapping: the host port is not a number (like 8080)");
	expect_error(
		&l.diags, 17, 9, "containers[0].ports[8]",
		"'web' is not a port mapping: the container port is not a number (like 80 or 8000-8005)");
	expect_counts(&l.diags, 9, 0);
	loaded_free(&l);
}

static void test_port_clashes(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"						 /* 1 */
		 "project: demo\n"					 /* 2 */
		 "nodes:\n"						 /* 3 */
		 "  - name: web\n"					 /* 4 */
		 "    labels: {role: web}\n"				 /* 5 */
		 "  - name: db\n"					 /* 6 */
		 "containers:\n"					 /* 7 */
		 "  - name: app\n"					 /* 8 */
		 "    image: nginx:1.25\n"				 /* 9 */
		 "    nodes: [role=web]\n"				 /* 10 */
		 "    ports: [\"8080:80\", \"127.0.0.1:5353:53/udp\"]\n" /* 11 */
		 "  - name: api\n"					 /* 12 */
		 "    image: nginx:1.25\n"				 /* 13 */
		 "    ports:\n"						 /* 14 */
		 "      - \"5353:53/tcp\"\n"				 /* 15 */
		 "      - 8080:8080\n"					 /* 16 */
		 "  - name: dns\n"					 /* 17 */
		 "    image: nginx:1.25\n"				 /* 18 */
		 "    nodes: [db]\n"					 /* 19 */
		 "    ports: [\"5353:53/udp\"]\n",			 /* 20 */
		 NULL);
	expect_error(
		&l.diags, 16, 9, "containers[1].ports[1]",
		"host port 8080/tcp is also published by container app on node web (pick another host port)");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);

	/* within one container, and on different addresses of the host */
	load_bad(
		&l,
		RECIPE_HEAD
		"    ports: [\"80:80\", \"80:81\", \"127.0.0.1:90:90\", \"127.0.0.2:90:91\", \"9000:53/udp\", \"9000:53\"]\n", /* 8 */
		NULL);
	expect_error(&l.diags, 8, 22, "containers[0].ports[1]",
		     "host port 80/tcp is also published by container app on node web");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);
}

/* A range that overlaps a single port names the port they share. */
static void test_port_clash_range(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 RECIPE_HEAD "    ports: [\"8080:80\"]\n"	       /* 8 */
			     "  - name: api\n"			       /* 9 */
			     "    image: nginx:1.25\n"		       /* 10 */
			     "    ports: [\"8000-8080:8000-8080\"]\n", /* 11 */
		 NULL);
	expect_error(
		&l.diags, 11, 13, "containers[1].ports[0]",
		"host port 8080/tcp is also published by container app on node web (pick another host port)");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);
}

/* Reported at the replicas value, which is what to change. */
static void test_replicas_fixed_port(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"		    /* 1 */
		 "project: demo\n"	    /* 2 */
		 "nodes:\n"		    /* 3 */
		 "  - name: web\n"	    /* 4 */
		 "    count: 2\n"	    /* 5 */
		 "containers:\n"	    /* 6 */
		 "  - name: app\n"	    /* 7 */
		 "    image: nginx:1.25\n"  /* 8 */
		 "    ports: [\"80:80\"]\n" /* 9 */
		 "    replicas: 3\n",	    /* 10 */
		 NULL);
	expect_error(
		&l.diags, 10, 15, "containers[0].replicas",
		"3 replicas on 2 nodes cannot all publish the same host port (lower replicas to 2, or publish only the container port)");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);
}

/* ---- volumes ----------------------------------------------------------- */

static void test_bad_volumes(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 RECIPE_HEAD "    volumes:\n"					 /* 8 */
			     "      - /srv/www:/usr/share/nginx/html:readonly\n" /* 9 */
			     "      - ./html:/usr/share/nginx/html:ro\n"	 /* 10 */
			     "      - ~/conf:/etc/nginx/conf.d\n"		 /* 11 */
			     "      - data:var/lib/data\n"			 /* 12 */
			     "      - logs\n"					 /* 13 */
			     "      - data:/\n"					 /* 14 */
			     "      - a:/a\n"					 /* 15 */
			     "      - a:b:c:d\n"				 /* 16 */
			     "      - data:/data\n"				 /* 17 */
			     "      - /srv/data:/data:ro\n",			 /* 18 */
		 NULL);
	expect_error(
		&l.diags, 9, 9, "containers[0].volumes[0]",
		"'/srv/www:/usr/share/nginx/html:readonly' is not a volume: the mode after the target is ro or rw");
	expect_error(
		&l.diags, 10, 9, "containers[0].volumes[1]",
		"./html: No such file or directory (a local path is relative to the directory of the file that names it, .: create it, or fix the path; an absolute path is a path on the node)");
	expect_error(&l.diags, 11, 9, "containers[0].volumes[2]", "HOME is not set");
	expect_error(
		&l.diags, 12, 9, "containers[0].volumes[3]",
		"'data:var/lib/data' is not a volume: the target is an absolute path in the container (like /data)");
	expect_error(&l.diags, 13, 9, "containers[0].volumes[4]",
		     "'logs' is not a volume: the target is an absolute path in the container");
	expect_error(&l.diags, 14, 9, "containers[0].volumes[5]", "the target cannot be / itself");
	expect_error(
		&l.diags, 15, 9, "containers[0].volumes[6]",
		"a volume name is 2 or more letters, digits, '_', '.' or '-', starting with a letter or digit");
	expect_error(&l.diags, 16, 9, "containers[0].volumes[7]",
		     "too many ':' (write SOURCE:TARGET[:ro])");
	expect_error(&l.diags, 18, 9, "containers[0].volumes[9]",
		     "/data is mounted twice in this container (keep one)");
	expect_counts(&l.diags, 9, 0);
	loaded_free(&l);
}

/* ---- restart, healthcheck, resources, durations ------------------------ */

static void test_bad_restart(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 RECIPE_HEAD "    restart: unless-stoped\n" /* 8 */
			     "  - name: worker\n"	    /* 9 */
			     "    image: nginx:1.25\n"	    /* 10 */
			     "    restart: on-failure:0\n"  /* 11 */
			     "  - name: cron\n"		    /* 12 */
			     "    image: nginx:1.25\n"	    /* 13 */
			     "    restart: sometimes\n"	    /* 14 */
			     "  - name: list\n"		    /* 15 */
			     "    image: nginx:1.25\n"	    /* 16 */
			     "    restart: [always]\n",	    /* 17 */
		 NULL);
	expect_error(
		&l.diags, 8, 14, "containers[0].restart",
		"'unless-stoped' is not a restart policy (no, always, on-failure[:N], unless-stopped); did you mean 'unless-stopped'?");
	expect_error(
		&l.diags, 11, 14, "containers[1].restart",
		"'on-failure:0' is not a restart policy (no, always, on-failure[:N], unless-stopped); did you mean 'on-failure'?");
	expect_error(
		&l.diags, 14, 14, "containers[2].restart",
		"'sometimes' is not a restart policy (no, always, on-failure[:N], unless-stopped)");
	assert_no_suggestion(&l.diags, 14, 14, "containers[2].restart", "sometimes");
	expect_error(&l.diags, 17, 14, "containers[3].restart",
		     "expected a single value, found a list");
	expect_counts(&l.diags, 4, 0);
	loaded_free(&l);
}

static void test_bad_healthchecks(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"					    /* 1 */
		 "project: demo\n"				    /* 2 */
		 "nodes:\n"					    /* 3 */
		 "  - name: web\n"				    /* 4 */
		 "containers:\n"				    /* 5 */
		 "  - name: app\n"				    /* 6 */
		 "    image: nginx:1.25\n"			    /* 7 */
		 "    healthcheck:\n"				    /* 8 */
		 "      test: [RUN, curl, -f, http://localhost/]\n" /* 9 */
		 "      retries: 0\n"				    /* 10 */
		 "  - name: api\n"				    /* 11 */
		 "    image: nginx:1.25\n"			    /* 12 */
		 "    healthcheck:\n"				    /* 13 */
		 "      test: [CMD]\n"				    /* 14 */
		 "  - name: worker\n"				    /* 15 */
		 "    image: nginx:1.25\n"			    /* 16 */
		 "    healthcheck:\n"				    /* 17 */
		 "      interval: 5s\n"				    /* 18 */
		 "  - name: cron\n"				    /* 19 */
		 "    image: nginx:1.25\n"			    /* 20 */
		 "    healthcheck: curl -f http://localhost/\n"	    /* 21 */
		 "  - name: empty\n"				    /* 22 */
		 "    image: nginx:1.25\n"			    /* 23 */
		 "    healthcheck: {test: []}\n",		    /* 24 */
		 NULL);
	expect_error(
		&l.diags, 9, 13, "containers[0].healthcheck.test",
		"start the list with CMD (run the arguments) or CMD-SHELL (run a shell command), like [CMD, wget, -qO-, http://localhost/]");
	expect_error(&l.diags, 10, 16, "containers[0].healthcheck.retries",
		     "0 is out of range (allowed: 1 to 100)");
	expect_error(&l.diags, 14, 13, "containers[1].healthcheck.test",
		     "CMD needs a command after it");
	expect_error(
		&l.diags, 18, 7, "containers[2].healthcheck.test",
		"missing required key (test: [CMD, curl, -f, http://localhost/] or test: \"shell command\")");
	expect_error(&l.diags, 21, 18, "containers[3].healthcheck",
		     "expected a mapping (key: value lines), found a string");
	expect_error(&l.diags, 24, 25, "containers[4].healthcheck.test",
		     "empty test (give a command, or disable: true)");
	expect_counts(&l.diags, 6, 0);
	loaded_free(&l);
}

static void test_bad_resources(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 RECIPE_HEAD
		 "    resources:\n"						  /* 8 */
		 "      memory: 1m\n"						  /* 9 */
		 "      cpus: 0.001\n"						  /* 10 */
		 "      pids: 0\n"						  /* 11 */
		 "  - name: api\n"						  /* 12 */
		 "    image: nginx:1.25\n"					  /* 13 */
		 "    resources: {memory: lots, cpus: two, pid: 10}\n"		  /* 14 */
		 "  - name: big\n"						  /* 15 */
		 "    image: nginx:1.25\n"					  /* 16 */
		 "    resources: {memory: 99999999999t, cpus: 1025, pids: -2}\n", /* 17 */
		 NULL);
	expect_error(&l.diags, 9, 15, "containers[0].resources.memory",
		     "1m is below Docker's minimum of 6m");
	expect_error(&l.diags, 10, 13, "containers[0].resources.cpus",
		     "'0.001' is not a CPU count from 0.01 to 1024 (like 0.5 or 2)");
	expect_error(&l.diags, 11, 13, "containers[0].resources.pids",
		     "pids is a process limit of at least 1 (or -1 for no limit)");
	expect_error(&l.diags, 14, 25, "containers[1].resources.memory",
		     "'lots' is not a size (write for example 512m or 2g)");
	expect_error(&l.diags, 14, 37, "containers[1].resources.cpus",
		     "'two' is not a CPU count from 0.01 to 1024");
	expect_error(&l.diags, 14, 42, "containers[1].resources.pid",
		     "unknown key (did you mean 'pids'?)");
	expect_error(&l.diags, 17, 25, "containers[2].resources.memory",
		     "'99999999999t' is not a size");
	expect_error(&l.diags, 17, 45, "containers[2].resources.cpus", "'1025' is not a CPU count");
	expect_error(&l.diags, 17, 57, "containers[2].resources.pids",
		     "-2 is out of range (allowed: -1 to 4194304)");
	expect_counts(&l.diags, 9, 0);
	loaded_free(&l);
}

static void test_bad_durations(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"							     /* 1 */
		 "project: demo\n"						     /* 2 */
		 "ssh:\n"							     /* 3 */
		 "  connect_timeout: 10 seconds\n"				     /* 4 */
		 "  wait_timeout: 500ms\n"					     /* 5 */
		 "nodes:\n"							     /* 6 */
		 "  - name: web\n"						     /* 7 */
		 "containers:\n"						     /* 8 */
		 "  - name: app\n"						     /* 9 */
		 "    image: nginx:1.25\n"					     /* 10 */
		 "    healthcheck:\n"						     /* 11 */
		 "      test: [CMD, \"true\"]\n"				     /* 12 */
		 "      interval: 1x\n"						     /* 13 */
		 "      timeout: -5s\n"						     /* 14 */
		 "      start_period: forever\n"				     /* 15 */
		 "  - name: api\n"						     /* 16 */
		 "    image: nginx:1.25\n"					     /* 17 */
		 "    healthcheck: {test: [CMD, x], interval: 0s, timeout: [1s]}\n", /* 18 */
		 NULL);
	expect_error(&l.diags, 4, 20, "ssh.connect_timeout",
		     "'10 seconds' is not a duration (write for example 30s, 1m30s or 500ms)");
	expect_error(&l.diags, 5, 17, "ssh.wait_timeout", "'500ms' is too short (at least 1000ms)");
	expect_error(&l.diags, 13, 17, "containers[0].healthcheck.interval",
		     "'1x' is not a duration");
	expect_error(&l.diags, 14, 16, "containers[0].healthcheck.timeout",
		     "'-5s' is not a duration");
	expect_error(&l.diags, 15, 21, "containers[0].healthcheck.start_period",
		     "'forever' is not a duration");
	expect_error(&l.diags, 18, 45, "containers[1].healthcheck.interval",
		     "'0s' is too short (at least 1ms)");
	expect_error(&l.diags, 18, 58, "containers[1].healthcheck.timeout",
		     "expected a single value, found a list");
	expect_counts(&l.diags, 7, 0);
	loaded_free(&l);
}

/* ---- other container values ------------------------------------------- */

static void test_container_values(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 RECIPE_HEAD "    command: \"sh -c 'echo hi\"\n" /* 8 */
			     "    working_dir: app\n"		 /* 9 */
			     "    domain: localhost\n"		 /* 10 */
			     "  - name: api\n"			 /* 11 */
			     "    image: nginx:1.25\n"		 /* 12 */
			     "    domain: Shop.Example.com\n"	 /* 13 */
			     "    entrypoint: 'sh -c \"x'\n",	 /* 14 */
		 NULL);
	expect_error(&l.diags, 8, 14, "containers[0].command",
		     "unterminated quote (close it, or write the command as a list)");
	expect_error(&l.diags, 9, 18, "containers[0].working_dir",
		     "working_dir is an absolute path in the container (like /app)");
	expect_error(
		&l.diags, 10, 13, "containers[0].domain",
		"'localhost' is not a fully qualified domain name (lowercase, like shop.example.com)");
	expect_error(&l.diags, 13, 13, "containers[1].domain",
		     "'Shop.Example.com' is not a fully qualified domain name");
	expect_error(&l.diags, 14, 17, "containers[1].entrypoint", "unterminated quote");
	expect_counts(&l.diags, 5, 0);
	loaded_free(&l);
}

static void test_reserved_labels(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 RECIPE_HEAD "    labels:\n"			    /* 8 */
			     "      com.example.team: shop\n"	    /* 9 */
			     "      io.bootstrap.project: other\n", /* 10 */
		 NULL);
	expect_error(&l.diags, 10, 7, "containers[0].labels.io.bootstrap.project",
		     "the io.bootstrap. prefix is reserved");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);

	/* the list form points at the item */
	load_bad(&l, RECIPE_HEAD "    labels: [a=b, io.bootstrap.node=x]\n", /* 8 */
		 NULL);
	expect_error(&l.diags, 8, 19, "containers[0].labels[1]",
		     "the io.bootstrap. prefix is reserved");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);
}

/* ---- docker, ssh, registries ------------------------------------------- */

static void test_docker_values(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 RECIPE_HEAD "docker:\n"			     /* 8 */
			     "  package: Docker.IO\n"		     /* 9 */
			     "  version: \"1.0 beta\"\n"	     /* 10 */
			     "  daemon:\n"			     /* 11 */
			     "    hosts: [\"tcp://0.0.0.0:2375\"]\n" /* 12 */
			     "    tlsverify: true\n"		     /* 13 */
			     "    log-driver: json-file\n",	     /* 14 */
		 NULL);
	expect_error(&l.diags, 9, 12, "docker.package",
		     "'Docker.IO' is not a package name (like docker.io or docker-ce)");
	expect_error(&l.diags, 10, 12, "docker.version",
		     "'1.0 beta' is not a Debian package version");
	expect_error(
		&l.diags, 12, 5, "docker.daemon.hosts",
		"'hosts' is managed by bootstrap (remove it; set docker.endpoint: tls to serve the API over TLS)");
	expect_error(&l.diags, 13, 5, "docker.daemon.tlsverify",
		     "'tlsverify' is managed by bootstrap");
	expect_counts(&l.diags, 4, 0);
	loaded_free(&l);
}

static void test_ssh_values(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 RECIPE_HEAD "ssh:\n"			      /* 8 */
			     "  key: ~/.ssh/id_ed25519.pub\n" /* 9 */
			     "  user: \"\"\n",		      /* 10 */
		 NULL);
	expect_error(
		&l.diags, 9, 8, "ssh.key",
		"'~/.ssh/id_ed25519.pub' is a public key; name the private key file (without .pub)");
	expect_error(&l.diags, 10, 9, "ssh.user", "empty value (give a value or remove the key)");
	expect_counts(&l.diags, 2, 0);
	loaded_free(&l);
}

static void test_registry_values(void **state)
{
	static const struct test_var env[] = {{"PW", "registry-pw"}, {NULL, NULL}};
	struct loaded l;

	(void)state;
	load_bad(&l,
		 RECIPE_HEAD "registries:\n"				  /* 8 */
			     "  - server: https://registry.example.com\n" /* 9 */
			     "    username: deploy\n"			  /* 10 */
			     "    password: ${PW}\n"			  /* 11 */
			     "  - server: registry.example.com/v2\n"	  /* 12 */
			     "  - server: one.example.com\n"		  /* 13 */
			     "    username: deploy\n"			  /* 14 */
			     "  - server: two.example.com\n"		  /* 15 */
			     "    password: ${PW}\n"			  /* 16 */
			     "  - username: x\n"			  /* 17 */
			     "    password: ${PW}\n",			  /* 18 */
		 env);
	expect_error(
		&l.diags, 9, 13, "registries[0].server",
		"'https://registry.example.com' is not a registry host (write host[:port] only, like registry.example.com:5000)");
	expect_error(&l.diags, 12, 13, "registries[1].server",
		     "'registry.example.com/v2' is not a registry host");
	expect_error(&l.diags, 13, 5, "registries[2]",
		     "give both username and password, or neither (anonymous)");
	expect_error(&l.diags, 15, 5, "registries[3]",
		     "give both username and password, or neither (anonymous)");
	expect_error(&l.diags, 17, 5, "registries[4].server",
		     "missing required key (server: registry.example.com)");
	expect_counts(&l.diags, 5, 0);
	loaded_free(&l);
}

/* ---- interpolation inside a recipe ------------------------------------- */

static void test_interpolation_errors(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(
		&l,
		RECIPE_HEAD
		"    command: [\"sh\", \"-c\", \"echo ${GREETING}\"]\n" /* 8 */
		"    environment:\n"					/* 9 */
		"      USER_NAME: prefix-$BS_TEST_USER-suffix\n"	/* 10 */
		"      FROM_ENV:\n"					/* 11 */
		"      PRICE: 5$\n"					/* 12 */
		"      BRACE: ${1ST}\n"					/* 13 */
		"      OK: $$HOME\n"					/* 14 */
		"      DB: postgres://app@db/${DB_NAME:?set DB_NAME to the database name}\n" /* 15 */
		"      EMPTY_OK: ${BS_TEST_EMPTY?}\n", /* 16 */
		NULL);
	/* a quoted value reports at its start; a plain one at the '$' */
	expect_error(
		&l.diags, 8, 27, "containers[0].command[2]",
		"environment variable GREETING is not set (export it, or give a default with ${VAR:-value})");
	expect_error(&l.diags, 10, 25, "containers[0].environment.USER_NAME",
		     "environment variable BS_TEST_USER is not set");
	expect_error(
		&l.diags, 11, 7, "containers[0].environment.FROM_ENV",
		"variable FROM_ENV takes its value from the environment, but FROM_ENV is not set (export it, or write a value)");
	expect_error(
		&l.diags, 12, 15, "containers[0].environment.PRICE",
		"'$' must be followed by a variable name or '{' (write $$ for a literal dollar sign)");
	expect_error(&l.diags, 13, 14, "containers[0].environment.BRACE",
		     "invalid variable name after '${'");
	expect_error(&l.diags, 15, 29, "containers[0].environment.DB",
		     "environment variable DB_NAME is not set: set DB_NAME to the database name");
	expect_error(&l.diags, 16, 17, "containers[0].environment.EMPTY_OK",
		     "environment variable BS_TEST_EMPTY is not set: required");
	expect_counts(&l.diags, 7, 0);
	loaded_free(&l);
}

/* A value whose ${...} failed is reported once: the checks of the field do
 * not report the unexpanded text as well. */
static void test_interpolation_no_cascade(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"			    /* 1 */
		 "project: ${PROJECT_NAME}\n"	    /* 2 */
		 "nodes:\n"			    /* 3 */
		 "  - name: web\n"		    /* 4 */
		 "    count: ${COUNT}\n"	    /* 5 */
		 "containers:\n"		    /* 6 */
		 "  - name: app\n"		    /* 7 */
		 "    image: nginx:${NGINX_TAG}\n"  /* 8 */
		 "    restart: ${RESTART_POLICY}\n" /* 9 */
		 "    ports: [\"${PORT}:80\"]\n",   /* 10 */
		 NULL);
	expect_error(&l.diags, 2, 10, "project", "environment variable PROJECT_NAME is not set");
	expect_error(&l.diags, 5, 12, "nodes[0].count", "environment variable COUNT is not set");
	expect_error(&l.diags, 8, 18, "containers[0].image",
		     "environment variable NGINX_TAG is not set");
	expect_error(&l.diags, 9, 14, "containers[0].restart",
		     "environment variable RESTART_POLICY is not set");
	expect_error(&l.diags, 10, 13, "containers[0].ports[0]",
		     "environment variable PORT is not set");
	expect_counts(&l.diags, 5, 0);
	loaded_free(&l);
}

/* Columns inside a value count characters, not bytes. */
static void test_interpolation_error_column_utf8(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 RECIPE_HEAD "    environment:\n"	  /* 8 */
			     "      G: h\xc3\xa9llo $\n", /* 9 */
		 NULL);
	expect_error(&l.diags, 9, 16, "containers[0].environment.G",
		     "'$' must be followed by a variable name");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);
}

/* A YAML-level mistake is reported once, not again by the recipe checks. */
static void test_yaml_errors_no_cascade(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"	   /* 1 */
		 "project: demo\n" /* 2 */
		 "? [web, db]\n"   /* 3 */
		 ": nodes\n"	   /* 4 */
		 "nodes:\n"	   /* 5 */
		 "  - name: web\n",
		 NULL);
	expect_error(&l.diags, 3, 3, "",
		     "mapping keys must be plain strings, not lists or mappings");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);

	load_bad(&l,
		 "version: 1\n"			    /* 1 */
		 "project: demo\n"		    /* 2 */
		 "x-env: &env {MODE: production}\n" /* 3 */
		 "nodes:\n"			    /* 4 */
		 "  - name: web\n"		    /* 5 */
		 "containers:\n"		    /* 6 */
		 "  - name: app\n"		    /* 7 */
		 "    environment: *enviroment\n"   /* 8 */
		 "    image: nginx:1.25\n"	    /* 9 */
		 "    restart: always\n"	    /* 10 */
		 "    user: app\n",		    /* 11 */
		 NULL);
	expect_error(&l.diags, 8, 18, "",
		     "alias *enviroment refers to no anchor defined before it");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);

	load_bad(&l, RECIPE_HEAD "    <<: just-a-string\n", /* 8 */
		 NULL);
	expect_error(&l.diags, 8, 9, "", "a merge key '<<' takes a mapping or a list of mappings");
	expect_counts(&l.diags, 1, 0);
	loaded_free(&l);
}

/* ---- all at once ------------------------------------------------------- */

static void test_many_errors_all_reported(void **state)
{
	struct loaded l;

	(void)state;
	load_bad(&l,
		 "version: 1\n"				 /* 1 */
		 "project: Demo\n"			 /* 2 */
		 "provider:\n"				 /* 3 */
		 "  type: local\n"			 /* 4 */
		 "  engine: /var/run/docker.sock\n"	 /* 5 */
		 "ssh:\n"				 /* 6 */
		 "  port: 0\n"				 /* 7 */
		 "  key: ~/.ssh/id_ed25519.pub\n"	 /* 8 */
		 "nodes:\n"				 /* 9 */
		 "  - name: web\n"			 /* 10 */
		 "    count: 2\n"			 /* 11 */
		 "docker:\n"				 /* 12 */
		 "  install: sometimes\n"		 /* 13 */
		 "  package: Docker.IO\n"		 /* 14 */
		 "  daemon:\n"				 /* 15 */
		 "    hosts: [\"tcp://0.0.0.0:2375\"]\n" /* 16 */
		 "containers:\n"			 /* 17 */
		 "  - name: app\n"			 /* 18 */
		 "    image: Nginx:1.25\n"		 /* 19 */
		 "    command: \"sh -c 'echo hi\"\n"	 /* 20 */
		 "    working_dir: app\n"		 /* 21 */
		 "    replicas: 2\n"			 /* 22 */
		 "    nodes: []\n"			 /* 23 */
		 "    domain: localhost\n"		 /* 24 */
		 "prune: maybe\n",			 /* 25 */
		 NULL);
	expect_error(&l.diags, 2, 10, "project", "'Demo' is not a valid project name");
	expect_error(&l.diags, 5, 11, "provider.engine", "is not an engine URL");
	expect_error(&l.diags, 7, 9, "ssh.port", "0 is out of range (allowed: 1 to 65535)");
	expect_error(&l.diags, 8, 8, "ssh.key", "is a public key");
	expect_error(&l.diags, 13, 12, "docker.install", "'sometimes' is not one of auto, never");
	expect_error(&l.diags, 14, 12, "docker.package", "'Docker.IO' is not a package name");
	expect_error(&l.diags, 16, 5, "docker.daemon.hosts", "'hosts' is managed by bootstrap");
	expect_error(&l.diags, 19, 12, "containers[0].image", "repository names are lowercase");
	expect_error(&l.diags, 20, 14, "containers[0].command", "unterminated quote");
	expect_error(&l.diags, 21, 18, "containers[0].working_dir",
		     "working_dir is an absolute path");
	expect_error(&l.diags, 23, 12, "containers[0].nodes", "empty list of nodes");
	expect_error(&l.diags, 24, 13, "containers[0].domain",
		     "'localhost' is not a fully qualified domain name");
	expect_error(&l.diags, 25, 8, "prune", "expected true or false, found 'maybe'");
	expect_counts(&l.diags, 13, 0);
	assert_int_equal(l.diags.n, 13);
	assert_int_equal(l.diags.n_dropped, 0);
	/* sorted into file order */
	assert_int_equal(l.diags.items[0].line, 2);
	assert_int_equal(l.diags.items[12].line, 25);
	loaded_free(&l);
}

static void test_too_many_errors(void **state)
{
	struct bs_buf text = BS_BUF_INIT;
	struct loaded l;
	int i;

	(void)state;
	bs_buf_puts(&text, RECIPE_HEAD "    ports:\n");
	for (i = 1; i <= 105; i++)
		bs_buf_printf(&text, "      - \"%d:80\"\n", 70000 + i);
	load_bad(&l, bs_buf_str(&text), NULL);
	assert_int_equal(l.diags.n, BS_DIAGS_MAX);
	assert_int_equal(l.diags.n_errors, 105);
	assert_int_equal(l.diags.n_dropped, 5);
	expect_error(&l.diags, 9, 9, "containers[0].ports[0]", "'70001:80' is not a port mapping");
	expect_error(&l.diags, 108, 9, "containers[0].ports[99]",
		     "'70100:80' is not a port mapping");
	loaded_free(&l);
	bs_buf_free(&text);
}

/* Warnings alone do not fail a load. */
static void test_warnings_only(void **state)
{
	struct loaded l;

	(void)state;
	load_text(&l,
		  "version: 1\n"
		  "project: demo\n"
		  "nodes:\n"
		  "  - name: web\n"
		  "containers:\n"
		  "  - name: app\n"
		  "    image: nginx\n", /* 7 */
		  NULL);
	expect_loaded(&l);
	expect_warning(&l.diags, 7, 12, "containers[0].image", "'nginx' has no tag");
	expect_counts(&l.diags, 0, 1);
	loaded_free(&l);
}

/* Diagnostics accumulate across loads into one list; each load's result
 * depends only on its own errors. */
static void test_shared_diags(void **state)
{
	struct bs_recipe_load_opts opts = BS_RECIPE_LOAD_OPTS_INIT;
	static const char bad[] = "version: 2\nproject: demo\nnodes: [{name: web}]\n";
	struct bs_recipe *r = NULL;
	struct bs_diags d;

	(void)state;
	opts.getenv_fn = test_getenv;
	opts.payload = test_env_payload(NULL);
	bs_diags_init(&d, "many");
	assert_int_equal(bs_recipe_load_buffer(&r, bad, strlen(bad), "a.yaml", &opts, &d),
			 BS_ERR_INVALID);
	assert_null(r);
	assert_int_equal(
		bs_recipe_load_buffer(&r, RECIPE_HEAD, strlen(RECIPE_HEAD), "b.yaml", &opts, &d),
		0);
	assert_non_null(r);
	assert_int_equal(d.n_errors, 1);
	bs_recipe_free(r);
	bs_diags_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_recipes),
		cmocka_unit_test(test_root_not_mapping),
		cmocka_unit_test(test_missing_required),
		cmocka_unit_test(test_empty_sections),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_unknown_key_top),
		cmocka_unit_test(test_unknown_key_nested),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_nested_value_types),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_bools),
		cmocka_unit_test(test_bad_choices),
		cmocka_unit_test(test_cluster_network),
		cmocka_unit_test(test_host_keys_cannot_be_off),
		cmocka_unit_test(test_ssh_jump),
		cmocka_unit_test(test_provider_bad_type_no_cascade),
		cmocka_unit_test(test_provider_keys_per_type),
		cmocka_unit_test(test_provider_values),
		cmocka_unit_test(test_static_address_rules),
		cmocka_unit_test(test_address_with_created_nodes),
		cmocka_unit_test(test_invalid_names),
		cmocka_unit_test(test_node_count_limits),
		cmocka_unit_test(test_duplicate_nodes),
		cmocka_unit_test(test_count_collisions),
		cmocka_unit_test(test_duplicate_containers_and_domains),
		cmocka_unit_test(test_duplicate_images),
		cmocka_unit_test(test_duplicate_registries),
		cmocka_unit_test(test_duplicate_yaml_keys),
		cmocka_unit_test(test_kv_lists),
		cmocka_unit_test(test_dangling_name_selectors),
		cmocka_unit_test(test_dangling_label_selectors),
		cmocka_unit_test(test_empty_selector_list),
		cmocka_unit_test(test_unused_images),
		cmocka_unit_test(test_image_near_misses),
		cmocka_unit_test(test_image_not_prepared),
		cmocka_unit_test(test_image_references),
		cmocka_unit_test(test_image_builds),
		cmocka_unit_test(test_image_build_and_pull),
		cmocka_unit_test(test_image_build_context),
		cmocka_unit_test(test_bad_ports),
		cmocka_unit_test(test_port_clashes),
		cmocka_unit_test(test_port_clash_range),
		cmocka_unit_test(test_replicas_fixed_port),
		cmocka_unit_test(test_same_machine_twice),
		cmocka_unit_test(test_bad_volumes),
		cmocka_unit_test(test_bad_restart),
		cmocka_unit_test(test_bad_healthchecks),
		cmocka_unit_test(test_bad_resources),
		cmocka_unit_test(test_bad_durations),
		cmocka_unit_test(test_container_values),
		cmocka_unit_test(test_reserved_labels),
		cmocka_unit_test(test_docker_values),
		cmocka_unit_test(test_ssh_values),
		cmocka_unit_test(test_registry_values),
		cmocka_unit_test(test_interpolation_errors),
		cmocka_unit_test(test_interpolation_no_cascade),
		cmocka_unit_test(test_interpolation_error_column_utf8),
		cmocka_unit_test(test_yaml_errors_no_cascade),
		cmocka_unit_test(test_many_errors_all_reported),
		cmocka_unit_test(test_too_many_errors),
		cmocka_unit_test(test_warnings_only),
		cmocka_unit_test(test_shared_diags),
		cmocka_unit_test(test_service_key_errors),
	};

	return cmocka_run_group_tests_name("deploy/recipe_diags", tests, NULL, NULL);
}
