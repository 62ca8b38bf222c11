#!/usr/bin/env python3
"""bench.py - bootstrap against its peers on one Docker engine (issue 7).

Workloads, N containers (one env var K and one label bench=PREFIX each,
image local/busybox:1, command `sleep 1000000`, never pulled):

  W1  deploy from nothing          W2  no-op re-run
  W3  change one container's env   W5  list 20 times
  W4  remove all (forced: the image's PID 1 ignores SIGTERM)
  W6  no-op re-run over SSH on 5 local nodes, against the same on 1 node
      (bootstrap and Ansible; the floor: OpenSSH's ssh running `true` on
      each node, all at once)
  W7  one SSH node through delay.py (--latency-ms each way) and on loopback:
      deploy --w7-n, no-op, change one, remove all (bootstrap; the docker
      CLI over ssh://, one at a time and 8 at a time; Ansible over SSH with
      pipelining and a control master; the floor: `ssh true` on each
      link). Only when named: --workloads W7

Tools: floor (curl against the engine socket: sequential, and 8-way for W1
and W4 as the column floor8), bootstrap, the docker CLI, docker-compose
1.29, Apache Libcloud's Docker driver, Ansible's community.docker.

For each repetition, each tool in turn (the order rotates) runs the chain
W1 W2 W3 W5 W4 from an engine without its containers; every workload is
timed (wall clock), its process tree's peak RSS taken from wait4(), and
its result checked through the engine itself: N running, the same IDs
after a no-op, exactly the right one replaced, none left. A fast wrong
answer is a failure. One more, untimed, pass runs each chain once through
a counting proxy (proxy.py) for the API requests per workload; it runs
first and so also warms caches for every tool alike.

    bench/run.sh [options]          installs the peers, then runs this
    bench.py --quick                smoke test: n=5, one repetition, no W6

Prints one table (median s (min-max), peak RSS, requests) with the ratios
to the floor and bootstrap's targets, and writes all samples as JSON.
Python 3 standard library only; paths are found from this file's place.
"""
import argparse
import datetime
import http.client
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import proxy as proxymod  # noqa: E402

DEBIAN_PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
IMAGE = "local/busybox:1"
ALL_TOOLS = ["floor", "bootstrap", "docker", "compose", "libcloud", "ansible"]
ALL_WORKLOADS = ["W1", "W2", "W3", "W4", "W5", "W6"]
# W7 runs only when named (--workloads W7): a few minutes more, mostly the
# docker CLI's one-at-a-time deploy through the delay
KNOWN_WORKLOADS = ALL_WORKLOADS + ["W7"]
CHAIN = ["W1", "W2", "W3", "W5", "W4"]
SLOW = {"ansible"}
LIST_TIMES = 20
SSH_NODES = 5
SSH_PROJECT5 = "bench-ssh"
SSH_PROJECT1 = "bench-ssh1"
SSH_PROJECT7 = "bench-ssh7"  # W7's node
W7_N = 20

_children = set()  # process groups of running children, killed on exit
_log_t0 = time.time()


def log(msg):
    sys.stderr.write("[%6.1fs] %s\n" % (time.time() - _log_t0, msg))
    sys.stderr.flush()


# ---------------------------------------------------------------- engine API

class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


class Engine:
    """The harness's own view of the engine, for checks and cleanup."""

    def __init__(self, sock):
        self.sock = sock

    def req(self, method, path, body=None, timeout=60):
        c = UnixHTTPConnection(self.sock, timeout=timeout)
        try:
            headers = {}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            c.request(method, path, body=data, headers=headers)
            r = c.getresponse()
            raw = r.read()
            try:
                out = json.loads(raw) if raw else None
            except ValueError:
                out = raw.decode(errors="replace")
            return r.status, out
        finally:
            c.close()

    def ping(self):
        try:
            st, _ = self.req("GET", "/_ping", timeout=5)
            return st == 200
        except OSError:
            return False

    def containers(self, label=None, all_=True):
        q = {"all": "1" if all_ else "0"}
        if label:
            q["filters"] = json.dumps({"label": [label]})
        st, out = self.req("GET", "/containers/json?" + urllib.parse.urlencode(q))
        if st != 200:
            raise RuntimeError("engine list: HTTP %d %s" % (st, out))
        return out

    def inspect(self, ident):
        st, out = self.req("GET", "/containers/%s/json" % urllib.parse.quote(ident))
        return out if st == 200 else None

    def remove(self, ident):
        st, out = self.req("DELETE", "/containers/%s?force=1&v=1" % urllib.parse.quote(ident))
        return st in (204, 404)

    def remove_network(self, name):
        st, _ = self.req("DELETE", "/networks/%s" % urllib.parse.quote(name))
        return st in (204, 404)

    def remove_volume(self, name):
        st, _ = self.req("DELETE", "/volumes/%s" % urllib.parse.quote(name))
        return st in (204, 404)

    def image_exists(self, name):
        st, _ = self.req("GET", "/images/%s/json" % urllib.parse.quote(name, safe=""))
        return st == 200


def cname(c):
    return (c.get("Names") or ["/?"])[0].lstrip("/")


# ---------------------------------------------------------------- processes

def kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def stop_process(p):
    """SIGTERM a helper started in its own session, its group killed after 5 s."""
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            kill_group(p.pid)
            p.wait(5)
    _children.discard(p.pid)


class Sample:
    def __init__(self):
        self.seconds = None
        self.rss_mb = None
        self.cpu_s = None
        self.rc = None
        self.timed_out = False
        self.out = ""
        self.err = ""


# GNU time (Debian's package "time") reports the peak RSS of the command's
# tree without the harness in it: a process forked from this Python starts
# with the harness's RSS as its high-water mark, which wait4() would report.
TIME_BIN = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def run_measured(argv, env, cwd, timeout, logbase):
    """Run argv in its own session; wall time, peak RSS of the largest
    process of its tree (GNU time's %M, else wait4), CPU time;
    stdout/stderr kept in logbase.out/.err and returned."""
    s = Sample()
    out_path, err_path = logbase + ".out", logbase + ".err"
    rss_path = logbase + ".rss"
    if TIME_BIN:
        if os.path.exists(rss_path):
            os.unlink(rss_path)
        argv = [TIME_BIN, "-f", "%M", "-o", rss_path, "--"] + list(argv)
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        fired = []

        def on_timeout(pid):
            fired.append(True)
            kill_group(pid)

        t0 = time.perf_counter()
        p = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=err,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        _children.add(p.pid)
        timer = threading.Timer(timeout, on_timeout, (p.pid,))
        timer.daemon = True
        timer.start()
        try:
            _, status, ru = os.wait4(p.pid, 0)
        finally:
            timer.cancel()
            t1 = time.perf_counter()
            kill_group(p.pid)  # anything the tool left behind in its session
            _children.discard(p.pid)
        p.returncode = os.waitstatus_to_exitcode(status)
    s.seconds = t1 - t0
    s.rss_mb = ru.ru_maxrss / 1024.0
    if TIME_BIN:
        try:
            with open(rss_path) as f:
                s.rss_mb = int(f.read().split()[-1]) / 1024.0
        except (OSError, ValueError, IndexError):
            pass  # killed before time wrote it: wait4's figure, an upper bound
    s.cpu_s = ru.ru_utime + ru.ru_stime
    s.rc = p.returncode
    s.timed_out = bool(fired)
    with open(out_path, "rb") as f:
        s.out = f.read().decode(errors="replace")
    with open(err_path, "rb") as f:
        s.err = f.read().decode(errors="replace")
    return s


def run_plain(argv, timeout, env=None, cwd=None, input_=None):
    """An untimed helper command; returns (rc, stdout, stderr)."""
    p = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE,
                         stdin=subprocess.PIPE if input_ is not None else subprocess.DEVNULL,
                         start_new_session=True)
    _children.add(p.pid)
    try:
        out, err = p.communicate(input=input_, timeout=timeout)
        return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")
    except subprocess.TimeoutExpired:
        kill_group(p.pid)
        out, err = p.communicate()
        return 124, out.decode(errors="replace"), "timeout after %ds; %s" % (
            timeout, err.decode(errors="replace"))
    finally:
        kill_group(p.pid)
        _children.discard(p.pid)


def last_lines(text, n=3, width=300):
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:])[-width:]


def run_errors(s, timeout=None):
    """What went wrong with a measured run as a whole: a timeout (after
    timeout seconds, when given) or an exit code."""
    if s.timed_out:
        return ["timeout after %ds" % timeout if timeout else "timeout"]
    if s.rc != 0:
        return ["exit %s: %s" % (s.rc, last_lines(s.err or s.out))]
    return []


def bootstrap_summary(s, warns):
    """bootstrap's summary event in a run's --json output, or None (warned)."""
    ev = Bootstrap.summary(s.out)
    if ev is None:
        warns.append("no summary line")
    return ev


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


class ProxyProc:
    """proxy.py as a child process: a counting proxy or a plain forwarder."""

    def __init__(self, upstream, unix=None, tcp=False, count=False, control=None):
        argv = [sys.executable, os.path.join(HERE, "proxy.py"), "--upstream", upstream]
        if unix:
            argv += ["--unix", unix]
        if tcp:
            argv += ["--tcp", "0"]
        if count:
            argv += ["--count", "--control", control]
        self.unix, self.control = unix, control
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                  start_new_session=True)
        _children.add(self.p.pid)
        line = self._readline(15)
        if not line.startswith("ready"):
            self.stop()
            raise RuntimeError("proxy did not start: %r" % line)
        self.port = int(line.split("tcp=")[1]) if "tcp=" in line else None

    def _readline(self, timeout):
        box = []
        t = threading.Thread(target=lambda: box.append(self.p.stdout.readline().decode()))
        t.daemon = True
        t.start()
        t.join(timeout)
        return box[0].strip() if box else ""

    def counts(self, reset):
        return proxymod.control(self.control, "reset" if reset else "get")

    def stop(self):
        stop_process(self.p)


# ---------------------------------------------------------------- the tools

class Ctx:
    """What every tool needs: sizes, names, endpoints, files."""

    def __init__(self, args, engine_sock, api):
        self.n = args.n
        self.width = max(2, len(str(self.n)))
        self.idx = ["%0*d" % (self.width, i) for i in range(1, self.n + 1)]
        self.target = self.idx[(7 if self.n >= 7 else (self.n + 1) // 2) - 1]
        self.newval = "changed"
        self.engine_sock = engine_sock
        self.api = api
        self.work = args.work
        self.logs = os.path.join(self.work, "logs")
        self.bootstrap_bin = os.path.join(REPO, "bootstrap")
        self.bootstrap_dir = os.path.join(self.work, "bootstrap-dir")
        self.base_env = dict(os.environ)
        for k in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
            self.base_env.pop(k, None)
        self.base_env["BOOTSTRAP_DIR"] = self.bootstrap_dir
        self.base_env["LC_ALL"] = "C.UTF-8"

    def env(self, i, w3=False):
        return self.newval if (w3 and i == self.target) else "v" + i


class Endpoint:
    """Where a tool sends its requests: the engine socket or the proxy."""

    def __init__(self, sock, tcp_port=None):
        self.sock = sock
        self.tcp_port = tcp_port


class Tool:
    key = ""          # column and --tools name
    prefix = ""       # container name prefix; also the value of label bench=
    chain = CHAIN
    timeout_per_container = 4

    def __init__(self, ctx):
        self.ctx = ctx
        self.dir = os.path.join(ctx.work, self.key)
        os.makedirs(self.dir, exist_ok=True)
        self.unavailable = None

    @property
    def label(self):
        return "bench=" + self.prefix

    def name(self, i):
        return "%s-c%s" % (self.prefix, i)

    def timeout(self, w):
        return 60 + self.timeout_per_container * self.ctx.n * (2 if w == "W5" else 1)

    def script(self, w, text):
        path = write(os.path.join(self.dir, "%s.sh" % w), "set -euo pipefail\n" + text)
        return ["bash", path]

    def command(self, w, ep):
        raise NotImplementedError

    def prepare(self, w, ep):
        """Untimed work before a workload (files for W3, ...)."""

    def check_output(self, w, s):
        """Tool-specific checks of its own output: (errors, warnings)."""
        return [], []

    def cleanup(self, engine):
        for c in engine.containers(label=self.label):
            engine.remove(c["Id"])


class Floor(Tool):
    key = "floor"
    prefix = "bench-floor"
    parallel = False

    def head(self, ep):
        return ". %s\nSOCK=%s API=%s IMAGE=%s PREFIX=%s LABEL=%s\n" % (
            shlex.quote(os.path.join(HERE, "floor.sh")), shlex.quote(ep.sock),
            self.ctx.api, shlex.quote(IMAGE), self.prefix, self.prefix)

    def command(self, w, ep):
        idx = " ".join(self.ctx.idx)
        h = self.head(ep)
        if w == "W1":
            body = ("fl_parallel fl_up %s\n" % idx if self.parallel
                    else "for i in %s; do fl_up $i; done\n" % idx)
        elif w == "W2":
            body = "fl_list_mine\n"
        elif w == "W3":
            body = "fl_replace %s %s\n" % (self.ctx.target, self.ctx.newval)
        elif w == "W5":
            body = "for k in $(seq %d); do fl_list_all >/dev/null; done\nfl_list_all\n" % (LIST_TIMES - 1)
        elif w == "W4":
            body = ("fl_parallel fl_rm %s\n" % idx if self.parallel
                    else "for i in %s; do fl_rm $i; done\n" % idx)
        return self.script(w, h + body), self.ctx.base_env

    def check_output(self, w, s):
        if w == "W5":
            try:
                got = sum(1 for c in json.loads(s.out) if cname(c).startswith(self.prefix + "-"))
            except ValueError:
                return ["W5 output is not a JSON list"], []
            if got != self.ctx.n:
                return ["W5 listed %d of ours, want %d" % (got, self.ctx.n)], []
        return [], []


class Floor8(Floor):
    key = "floor8"
    prefix = "bench-floor8"
    parallel = True
    chain = ["W1", "W4"]


class DockerCLI(Tool):
    key = "docker"
    prefix = "bench-docker"

    def env(self, ep):
        e = dict(self.ctx.base_env)
        e["DOCKER_HOST"] = "unix://" + ep.sock
        e["DOCKER_CLI_HINTS"] = "false"
        return e

    def run_line(self, i, val):
        return ("docker run -d --pull never --name %s --label %s -e K=%s %s sleep 1000000 >/dev/null"
                % (self.name(i), self.label, val, IMAGE))

    def command(self, w, ep):
        c = self.ctx
        if w == "W1":
            body = "".join(self.run_line(i, c.env(i)) + "\n" for i in c.idx)
        elif w == "W2":
            body = "docker ps -a --filter label=%s\n" % self.label
        elif w == "W3":
            body = "docker rm -f %s >/dev/null\n%s\n" % (self.name(c.target),
                                                         self.run_line(c.target, c.newval))
        elif w == "W5":
            body = ("for k in $(seq %d); do docker ps -a >/dev/null; done\ndocker ps -a\n"
                    % (LIST_TIMES - 1))
        elif w == "W4":
            body = ('ids=$(docker ps -aq --filter label=%s)\n'
                    '[ -z "$ids" ] || docker rm -f $ids >/dev/null\n' % self.label)
        return self.script(w, body), self.env(ep)

    def check_output(self, w, s):
        if w == "W5":
            got = sum(1 for ln in s.out.splitlines()[1:] if ln.split() and
                      ln.split()[-1].startswith(self.prefix + "-"))
            if got != self.ctx.n:
                return ["W5 listed %d of ours, want %d" % (got, self.ctx.n)], []
        return [], []


class Compose(Tool):
    key = "compose"
    prefix = "bench-compose"
    timeout_per_container = 8

    def name(self, i):
        return "%s_c%s_1" % (self.prefix, i)

    def compose_file(self, w3):
        lines = ['version: "2.4"', "services:"]
        for i in self.ctx.idx:
            lines += ["  c%s:" % i,
                      "    image: %s" % IMAGE,
                      '    command: ["sleep", "1000000"]',
                      '    environment: {K: "%s"}' % self.ctx.env(i, w3),
                      '    labels: {bench: "%s"}' % self.prefix,
                      "    stop_grace_period: 0s",
                      # the default bridge, as the other peers use: a project
                      # network adds little, and dockerd 20.10 under load can
                      # leak an endpoint, so that `down` fails on that network
                      # from then on ("has active endpoints")
                      "    network_mode: bridge"]
        return "\n".join(lines) + "\n"

    def prepare(self, w, ep):
        if w in ("W1", "W3"):
            write(os.path.join(self.dir, "docker-compose.yml"), self.compose_file(w == "W3"))

    def command(self, w, ep):
        dc = "docker-compose --ansi never -p %s -f %s" % (
            self.prefix, shlex.quote(os.path.join(self.dir, "docker-compose.yml")))
        if w in ("W1", "W2", "W3"):
            body = dc + " up -d\n"
        elif w == "W5":
            body = ("for k in $(seq %d); do %s ps >/dev/null; done\n%s ps\n"
                    % (LIST_TIMES - 1, dc, dc))
        elif w == "W4":
            body = dc + " down -t 0\n"
        e = dict(self.ctx.base_env)
        e["DOCKER_HOST"] = "unix://" + ep.sock
        return self.script(w, body), e

    def check_output(self, w, s):
        if w == "W5":
            got = sum(1 for ln in s.out.splitlines() if ln.startswith(self.prefix + "_"))
            if got != self.ctx.n:
                return ["W5 listed %d of ours, want %d" % (got, self.ctx.n)], []
        return [], []

    def cleanup(self, engine):
        super().cleanup(engine)
        engine.remove_network(self.prefix + "_default")


class Libcloud(Tool):
    key = "libcloud"
    prefix = "bench-libcloud"

    def spec(self, w3):
        return {"image": IMAGE, "command": "sleep 1000000", "label": self.prefix,
                "containers": [{"name": self.name(i), "env": {"K": self.ctx.env(i, w3)}}
                               for i in self.ctx.idx]}

    def prepare(self, w, ep):
        if w in ("W1", "W3"):
            write(os.path.join(self.dir, "spec.json"), json.dumps(self.spec(w == "W3")))

    def command(self, w, ep):
        action = {"W1": "up", "W2": "up", "W3": "up", "W5": "list", "W4": "down"}[w]
        argv = [DEBIAN_PY, os.path.join(HERE, "libcloud_tool.py"), "--port", str(ep.tcp_port),
                "--spec", os.path.join(self.dir, "spec.json"), "--times", str(LIST_TIMES), action]
        return argv, self.ctx.base_env

    def check_output(self, w, s):
        try:
            out = json.loads(s.out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return ["no result line"], []
        want = {"W1": ("created", self.ctx.n), "W2": ("unchanged", self.ctx.n),
                "W3": ("replaced", 1), "W5": ("listed", self.ctx.n),
                "W4": ("removed", self.ctx.n)}[w]
        if out.get(want[0]) != want[1]:
            return ["its result says %s" % out], []
        return [], []


ANSIBLE_UP = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: bench containers
      community.docker.docker_container:
        docker_host: "{{ bench_docker_host }}"
        name: "{{ item.name }}"
        image: %(image)s
        command: [sleep, "1000000"]
        env: {K: "{{ item.env }}"}
        labels: {bench: "{{ bench_label }}"}
        state: started
        pull: false
        force_kill: true
      loop: "{{ bench_containers }}"
      loop_control: {label: "{{ item.name }}"}
"""

ANSIBLE_DOWN = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: bench containers gone
      community.docker.docker_container:
        docker_host: "{{ bench_docker_host }}"
        name: "{{ item.name }}"
        state: absent
        force_kill: true
      loop: "{{ bench_containers }}"
      loop_control: {label: "{{ item.name }}"}
"""

ANSIBLE_LIST = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: list the engine's containers
      community.docker.docker_host_info:
        docker_host: "{{ bench_docker_host }}"
        containers: true
        containers_all: true
      loop: "{{ range(bench_list_times | int) | list }}"
      register: listed
    - name: count ours in the last list
      set_fact:
        bench_listed: "{{ listed.results[-1].containers | map(attribute='Names') | flatten | select('match', '^/' ~ bench_label ~ '-') | list | length }}"
"""


def ansible_env(ctx, extra=None):
    e = dict(ctx.base_env)
    e.update({
        "ANSIBLE_NOCOWS": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_FORKS": "8",
        "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        "ANSIBLE_STDOUT_CALLBACK": "json",
        "ANSIBLE_PIPELINING": "1",
        "ANSIBLE_GATHERING": "explicit",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
    })
    if extra:
        e.update(extra)
    return e


# run in a node by Ansible's raw module (untimed): what its modules need there
ANSIBLE_NODE_PYTHON = (
    "command -v python3 >/dev/null && python3 -c 'import requests' 2>/dev/null || "
    "(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
    "--no-install-recommends python3 python3-requests) >/dev/null")


def close_control_masters(cp_dir):
    """Ends the ControlPersist masters Ansible left in cp_dir (untimed): a
    master detaches into a session of its own, so the run's process group
    does not include it."""
    try:
        socks = [os.path.join(cp_dir, f) for f in os.listdir(cp_dir)]
    except OSError:
        return
    for sock in socks:
        run_plain(["ssh", "-F", "/dev/null", "-o", "ControlPath=" + sock, "-O", "exit",
                   "bench-master"], 15)


def ansible_ssh_env(extra_args=""):
    """Ansible's SSH connection as W7 and W8 use it: pipelining (from
    ansible_env), a control master kept between tasks (ControlPersist), no
    host key check, the floor's key exchange; no -C (Ansible's default
    compresses: on these links it costs CPU and gains nothing)."""
    return {
        "ANSIBLE_HOST_KEY_CHECKING": "0",
        "ANSIBLE_SSH_ARGS": "-F /dev/null -o ControlMaster=auto -o ControlPersist=60s "
                            "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no "
                            "-o LogLevel=ERROR -o KexAlgorithms=curve25519-sha256" + extra_args,
        "ANSIBLE_TIMEOUT": "30",
    }


def ansible_result(out):
    """The json callback's document: (stats, plays) or raises ValueError."""
    start = out.find("{")
    d = json.loads(out[start:])
    return d.get("stats", {}), d.get("plays", [])


class Ansible(Tool):
    key = "ansible"
    prefix = "bench-ansible"
    timeout_per_container = 10

    def __init__(self, ctx):
        super().__init__(ctx)
        write(os.path.join(self.dir, "up.yml"), ANSIBLE_UP % {"image": IMAGE})
        write(os.path.join(self.dir, "down.yml"), ANSIBLE_DOWN)
        write(os.path.join(self.dir, "list.yml"), ANSIBLE_LIST)

    def vars(self, ep, w3):
        return {"bench_docker_host": "unix://" + ep.sock, "bench_label": self.prefix,
                "bench_list_times": LIST_TIMES,
                "bench_containers": [{"name": self.name(i), "env": self.ctx.env(i, w3)}
                                     for i in self.ctx.idx]}

    def prepare(self, w, ep):
        if w in ("W1", "W3"):
            write(os.path.join(self.dir, "vars.json"), json.dumps(self.vars(ep, w == "W3")))
        elif not os.path.exists(os.path.join(self.dir, "vars.json")):
            write(os.path.join(self.dir, "vars.json"), json.dumps(self.vars(ep, False)))
        # the endpoint may differ between the counting and the timed passes
        path = os.path.join(self.dir, "vars.json")
        with open(path) as f:
            v = json.load(f)
        if v["bench_docker_host"] != "unix://" + ep.sock:
            v["bench_docker_host"] = "unix://" + ep.sock
            write(path, json.dumps(v))

    def command(self, w, ep):
        book = {"W1": "up.yml", "W2": "up.yml", "W3": "up.yml", "W5": "list.yml",
                "W4": "down.yml"}[w]
        argv = ["ansible-playbook", "-i", "localhost,", "-c", "local",
                "-e", "@" + os.path.join(self.dir, "vars.json"), os.path.join(self.dir, book)]
        return argv, ansible_env(self.ctx, {"ANSIBLE_LOCAL_TEMP": os.path.join(self.dir, "tmp")})

    def check_output(self, w, s):
        try:
            stats, plays = ansible_result(s.out)
        except ValueError:
            return ["no JSON from the json callback"], []
        h = stats.get("localhost", {})
        if h.get("failures") or h.get("unreachable"):
            return ["failed: %s" % h], []
        if w == "W2" and h.get("changed"):
            return ["the no-op reported changed=%s" % h.get("changed")], []
        if w == "W5":
            try:
                got = int(plays[0]["tasks"][-1]["hosts"]["localhost"]["ansible_facts"]["bench_listed"])
            except (KeyError, IndexError, ValueError, TypeError):
                return ["W5: no count in its output"], []
            if got != self.ctx.n:
                return ["W5 listed %d of ours, want %d" % (got, self.ctx.n)], []
        return [], []


class Bootstrap(Tool):
    key = "bootstrap"
    prefix = "bench-bootstrap"

    def name(self, i):
        return "%s-c%s-1" % (self.prefix, i)

    def recipe(self, ep, w3):
        lines = ["version: 1", "project: %s" % self.prefix, "provider: {type: engine}",
                 "nodes:", "  - name: engine", "    engine: unix://%s" % ep.sock,
                 "images:", "  - name: %s" % IMAGE, "    pull: never", "containers:"]
        for i in self.ctx.idx:
            lines += ["  - name: c%s" % i,
                      "    image: %s" % IMAGE,
                      '    command: [sleep, "1000000"]',
                      '    environment: {K: "%s"}' % self.ctx.env(i, w3),
                      '    labels: {bench: "%s"}' % self.prefix,
                      "    stop_timeout: 0s",
                      "    update: {monitor: 0s}",
                      # Docker's default bridge, as every tool here uses
                      # it (compose by network_mode): bootstrap's default
                      # project network gives name resolution, whose
                      # embedded DNS makes every start dearer (bench/README.md)
                      "    network: bridge"]
        return "\n".join(lines) + "\n"

    def prepare(self, w, ep):
        if w in ("W1", "W3"):
            self.w3 = w == "W3"
        write(os.path.join(self.dir, "recipe.yaml"), self.recipe(ep, getattr(self, "w3", False)))

    def command(self, w, ep):
        b = shlex.quote(self.ctx.bootstrap_bin)
        recipe = shlex.quote(os.path.join(self.dir, "recipe.yaml"))
        if w in ("W1", "W2", "W3"):
            body = "%s --json %s\n" % (b, recipe)
        elif w == "W4":
            body = "%s --json destroy %s\n" % (b, recipe)
        elif w == "W5":
            lst = "%s -H unix://%s list --json" % (b, shlex.quote(ep.sock))
            body = "for k in $(seq %d); do %s >/dev/null; done\n%s\n" % (LIST_TIMES - 1, lst, lst)
        return self.script(w, body), self.ctx.base_env

    @staticmethod
    def summary(out):
        for ln in reversed(out.strip().splitlines()):
            try:
                ev = json.loads(ln)
            except ValueError:
                continue
            if ev.get("event") == "summary":
                return ev
        return None

    def check_output(self, w, s):
        n = self.ctx.n
        if w == "W5":
            try:
                got = sum(1 for c in json.loads(s.out)
                          if str(c.get("name", "")).startswith(self.prefix + "-"))
            except ValueError:
                return ["W5 output is not a JSON list"], []
            return (["W5 listed %d of ours, want %d" % (got, n)] if got != n else []), []
        ev = self.summary(s.out)
        if ev is None:
            return [], ["no summary line in --json output"]
        c = ev.get("counts", {})
        want = {"W1": {"created": n}, "W2": {"unchanged": n, "created": 0, "replaced": 0},
                "W3": {"replaced": 1, "created": 0}, "W4": {"removed": n}}[w]
        bad = ["%s=%s (want %s)" % (k, c.get(k), v) for k, v in want.items() if c.get(k) != v]
        return [], (["summary says " + ", ".join(bad)] if bad else [])

    def cleanup(self, engine):
        super().cleanup(engine)
        engine.remove_network(self.prefix + "-net")


TOOL_CLASSES = {"floor": [Floor, Floor8], "bootstrap": [Bootstrap], "docker": [DockerCLI],
                "compose": [Compose], "libcloud": [Libcloud], "ansible": [Ansible]}
COLUMNS = ["floor", "floor8", "bootstrap", "docker", "compose", "libcloud", "ansible"]
W7_COLUMNS = ["floor", "bootstrap", "docker", "docker8", "ansible"]  # docker8: xargs -P8, W7 only


def availability(tool):
    """None when the tool can run here, else why not."""
    k = tool.key
    if k in ("floor", "floor8"):
        return None if shutil.which("curl") and shutil.which("xargs") else "curl not installed"
    if k == "docker":
        return None if shutil.which("docker") else "docker CLI not installed"
    if k == "compose":
        return None if shutil.which("docker-compose") else "docker-compose not installed"
    if k == "libcloud":
        rc, _, err = run_plain([DEBIAN_PY, "-c", "import libcloud.container.drivers.docker"], 60)
        return None if rc == 0 else "python3-libcloud not importable: " + last_lines(err, 1)
    if k == "ansible":
        if not shutil.which("ansible-playbook"):
            return "ansible not installed"
        rc, out, _ = run_plain(["ansible-doc", "-t", "module", "community.docker.docker_container",
                                "--json"], 120)
        return None if rc == 0 else "community.docker not found"
    if k == "bootstrap":
        if not os.access(tool.ctx.bootstrap_bin, os.X_OK):
            return "no ./bootstrap (make failed?)"
    return None


# ---------------------------------------------------------------- checks

def check_engine(engine, tool, w, state, ctx):
    """The authoritative check, against the engine: returns error list."""
    errs = []
    cs = engine.containers(label=tool.label)
    now = {cname(c): c for c in cs}
    want = {tool.name(i) for i in ctx.idx}
    if w == "W4":
        if cs:
            errs.append("%d of its containers left" % len(cs))
        state.clear()
        return errs
    if set(now) != want:
        missing, extra = sorted(want - set(now)), sorted(set(now) - want)
        errs.append("%d containers (want %d)%s%s" % (
            len(now), len(want), "; missing " + ",".join(missing[:3]) if missing else "",
            "; unexpected " + ",".join(extra[:3]) if extra else ""))
    notrun = [n for n, c in now.items() if c.get("State") != "running"]
    if notrun:
        errs.append("%d not running (%s)" % (len(notrun), ",".join(sorted(notrun)[:3])))
    ids = {n: c["Id"] for n, c in now.items()}
    if w in ("W2", "W5") and state.get("ids"):
        changed = sorted(n for n in want if ids.get(n) != state["ids"].get(n))
        if changed:
            errs.append("%d container IDs changed (%s)" % (len(changed), ",".join(changed[:3])))
    if w == "W3" and state.get("ids"):
        changed = sorted(n for n in want if ids.get(n) != state["ids"].get(n))
        tname = tool.name(ctx.target)
        if changed != [tname]:
            errs.append("replaced %s, want exactly %s" % (",".join(changed[:4]) or "none", tname))
        info = engine.inspect(tname)
        env = ((info or {}).get("Config") or {}).get("Env") or []
        if "K=%s" % ctx.newval not in env:
            errs.append("%s env is %s" % (tname, [e for e in env if e.startswith("K=")]))
    if w == "W1":
        for n in sorted(want & set(now))[:1]:
            info = engine.inspect(n) or {}
            env = (info.get("Config") or {}).get("Env") or []
            i = n[len(tool.prefix) + 2:len(tool.prefix) + 2 + ctx.width]
            if "K=v%s" % i not in env:
                errs.append("%s env is %s" % (n, env))
    if not errs:
        state["ids"] = ids
    return errs


# ---------------------------------------------------------------- W6 (SSH)

class SSHBench:
    """bootstrap and Ansible on 5 local nodes (and on 1) over SSH; the
    floor: `ssh NODE true` on each node at once."""

    def __init__(self, ctx, engine, args, want_ansible, want_floor=False):
        self.ctx, self.engine, self.args = ctx, engine, args
        self.n = args.ssh_n
        self.idx = ["%0*d" % (max(2, len(str(self.n))), i) for i in range(1, self.n + 1)]
        self.dir = os.path.join(ctx.work, "ssh")
        os.makedirs(self.dir, exist_ok=True)
        self.key = os.path.join(self.dir, "id_ed25519")
        self.known_hosts = os.path.join(self.dir, "known_hosts")
        self.ansible_known_hosts = os.path.join(self.dir, "ansible_known_hosts")
        self.want_ansible = want_ansible
        self.want_floor = want_floor
        self.error = None          # bootstrap's setup failed: W6 cannot run
        self.ansible_error = None  # Ansible's setup failed: its W6 cannot run
        self.floor_error = None    # the SSH floor cannot run
        if want_floor and not shutil.which("ssh"):
            self.floor_error = "no ssh (openssh-client) for the SSH floor"
        self.port1 = None          # the 1-node set's published SSH port
        self.nodes5 = ["n-%d" % k for k in range(1, SSH_NODES + 1)]
        self.snap = {}

    def node_container(self, project, node):
        return "%s-%s" % (project, node)

    def ssh_port(self, project, node):
        """The node's published SSH port (on 127.0.0.1), or None."""
        info = self.engine.inspect(self.node_container(project, node)) or {}
        try:
            return int(info["NetworkSettings"]["Ports"]["22/tcp"][0]["HostPort"])
        except (KeyError, IndexError, TypeError, ValueError):
            return None

    def recipe(self, project, count):
        nodes = ("  - name: n\n    count: %d\n" % count) if count > 1 else "  - name: n\n"
        lines = ["version: 1", "project: %s" % project,
                 "provider: {type: local, engine: 'unix://%s'}" % self.ctx.engine_sock,
                 "ssh: {user: root, key: '%s', known_hosts: '%s'}" % (self.key, self.known_hosts),
                 "nodes:", nodes.rstrip("\n"),
                 "images:", "  - name: %s" % IMAGE, "    pull: never", "containers:"]
        for i in self.idx:
            lines += ["  - name: c%s" % i, "    image: %s" % IMAGE,
                      '    command: [sleep, "1000000"]',
                      '    environment: {K: "v%s"}' % i,
                      '    labels: {bench: "bench-bootstrap"}',
                      "    replicas: %d" % count,
                      "    stop_timeout: 0s", "    update: {monitor: 0s}"]
        lines.append("prune: true  # kept nodes of a run with a larger --ssh-n")
        return "\n".join(lines) + "\n"

    def recipe_path(self, count):
        return os.path.join(self.dir, "nodes%d.yaml" % count)

    def bootstrap_argv(self, count, verb=None):
        argv = [self.ctx.bootstrap_bin, "--json"]
        if verb:
            argv.append(verb)
        return argv + [self.recipe_path(count)]

    def ensure_node_image(self):
        """None, or why the node image cannot be had."""
        if not self.engine.image_exists("bootstrap/node:bookworm"):
            log("SSH setup: building the node image (make node-image; minutes)")
            rc, out, err = run_plain(["make", "-C", REPO, "node-image"], 2400)
            if rc != 0:
                return "make node-image failed: " + last_lines(out + err)
        return None

    def ensure_key(self):
        """None, or why the nodes' key cannot be made."""
        if not os.path.exists(self.key):
            rc, _, err = run_plain(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                                    "bootstrap-bench", "-f", self.key], 60)
            if rc != 0:
                return "ssh-keygen: " + last_lines(err)
        return None

    def setup(self):
        if not os.access(self.ctx.bootstrap_bin, os.X_OK):
            self.error = "no ./bootstrap"
            return
        self.error = self.ensure_node_image() or self.ensure_key()
        if self.error:
            return
        # new nodes have new host keys, maybe on ports that old ones had
        if not any(self.engine.containers(label="io.bootstrap.project=" + p)
                   for p in (SSH_PROJECT5, SSH_PROJECT1)):
            for f in (self.known_hosts, self.ansible_known_hosts):
                if os.path.exists(f):
                    os.unlink(f)
        write(self.recipe_path(5), self.recipe(SSH_PROJECT5, SSH_NODES))
        write(self.recipe_path(1), self.recipe(SSH_PROJECT1, 1))
        log("W6 setup: bootstrap apply on %d+1 local nodes, %d containers per node "
            "(installs Docker with apt over SSH the first time: minutes; untimed)"
            % (SSH_NODES, self.n))
        for attempt in (1, 2):
            procs = []
            for count in (5, 1):
                lp = os.path.join(self.ctx.logs, "w6-setup-%d-%d" % (count, attempt))
                procs.append((count, lp, subprocess.Popen(
                    self.bootstrap_argv(count), env=self.ctx.base_env, cwd=self.dir,
                    stdout=open(lp + ".out", "wb"), stderr=open(lp + ".err", "wb"),
                    stdin=subprocess.DEVNULL, start_new_session=True)))
            failed = []
            for count, lp, p in procs:
                _children.add(p.pid)
                try:
                    p.wait(timeout=2400)
                except subprocess.TimeoutExpired:
                    kill_group(p.pid)
                    p.wait()
                _children.discard(p.pid)
                if p.returncode != 0:
                    with open(lp + ".out") as f1, open(lp + ".err") as f2:
                        failed.append("%d-node apply exit %s: %s" % (
                            count, p.returncode, last_lines(f1.read() + f2.read(), 2)))
            if not failed:
                break
            log("W6 setup: attempt %d failed: %s" % (attempt, "; ".join(failed)))
        if failed:
            self.error = "setup: " + "; ".join(failed)
            return
        # the converged state the timed no-op runs must leave as it is
        for count in (5, 1):
            rc, out, err = run_plain(self.bootstrap_argv(count), 600, env=self.ctx.base_env,
                                     cwd=self.dir)
            if rc != 0:
                self.error = "setup re-run of the %d-node recipe: %s" % (count, last_lines(out + err))
                return
        self.ports = {}
        for node in self.nodes5:
            self.ports[node] = self.ssh_port(SSH_PROJECT5, node)
            if self.ports[node] is None:
                self.error = "no published SSH port on node %s" % node
                return
        self.port1 = self.ssh_port(SSH_PROJECT1, "n")
        if self.port1 is None and not self.floor_error:
            self.floor_error = "no published SSH port on node %s" % self.node_container(SSH_PROJECT1, "n")
        for node in self.nodes5:
            self.snap[("bootstrap", 5, node)] = self.node_ids(SSH_PROJECT5, node, "bench-bootstrap")
        self.snap[("bootstrap", 1, "n")] = self.node_ids(SSH_PROJECT1, "n", "bench-bootstrap")
        if self.want_ansible:
            self.setup_ansible()

    def node_ids(self, project, node, label_value):
        rc, out, err = run_plain(
            ["docker", "-H", "unix://" + self.ctx.engine_sock, "exec",
             self.node_container(project, node), "docker", "ps", "-a", "--no-trunc",
             "--filter", "label=bench=" + label_value, "--format", "{{.Names}} {{.ID}} {{.State}}"],
            120)
        if rc != 0:
            return {"error": last_lines(err)}
        return {ln.split()[0]: (ln.split()[1], ln.split()[2]) for ln in out.splitlines() if ln.strip()}

    def floor_argv(self, count):
        """The SSH floor: OpenSSH's client running `true` on each node (the
        5-node set, or the 1-node set's node), all started at once, with
        bootstrap's key and known_hosts; fails when any ssh does."""
        if count == 5:
            nodes = [(self.node_container(SSH_PROJECT5, nd), self.ports[nd]) for nd in self.nodes5]
        else:
            nodes = [(self.node_container(SSH_PROJECT1, "n"), self.port1)]
        opts = " ".join("-o " + o for o in (
            "BatchMode=yes", "StrictHostKeyChecking=yes",
            "UserKnownHostsFile=" + shlex.quote(self.known_hosts),
            "ControlMaster=no", "ControlPath=none", "ConnectTimeout=10",
            # the key exchange libssh2 (bootstrap's) uses: OpenSSH's default,
            # sntrup761x25519, costs about 0.1 s of CPU more per connection
            "KexAlgorithms=curve25519-sha256"))
        lines = ["rc=0"]
        for k, (_, port) in enumerate(nodes):
            lines.append("ssh -i %s -p %d %s root@127.0.0.1 true & p%d=$!"
                         % (shlex.quote(self.key), port, opts, k))
        for k, (name, _) in enumerate(nodes):
            lines.append('wait $p%d || { echo "%s: ssh exit $?" >&2; rc=1; }' % (k, name))
        lines.append("exit $rc")
        return ["sh", "-c", "\n".join(lines) + "\n"]

    def ansible_files(self):
        inv = ["[nodes]"]
        for node in self.nodes5:
            inv.append("%s ansible_host=127.0.0.1 ansible_port=%d" % (node, self.ports[node]))
        inv += ["", "[nodes:vars]", "ansible_user=root",
                "ansible_ssh_private_key_file=%s" % self.key]
        write(os.path.join(self.dir, "inventory.ini"), "\n".join(inv) + "\n")
        write(os.path.join(self.dir, "up.yml"), ANSIBLE_UP % {"image": IMAGE})
        write(os.path.join(self.dir, "vars.json"), json.dumps({
            "bench_docker_host": "unix:///var/run/docker.sock", "bench_label": "bench-ansible",
            "bench_containers": [{"name": "bench-ansible-c%s" % i, "env": "v" + i}
                                 for i in self.idx]}))

    def ansible_env(self, run_id):
        cp = os.path.join(self.dir, "cp", run_id)  # each run starts without a warm master
        os.makedirs(cp, exist_ok=True)
        return ansible_env(self.ctx, {
            "ANSIBLE_HOST_KEY_CHECKING": "1",
            "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=30s "
                                "-o UserKnownHostsFile=%s -o StrictHostKeyChecking=accept-new"
                                % self.ansible_known_hosts,
            "ANSIBLE_SSH_CONTROL_PATH_DIR": cp,
            "ANSIBLE_LOCAL_TEMP": os.path.join(self.dir, "tmp"),
            "ANSIBLE_TIMEOUT": "30",
        })

    def ansible_argv(self, count):
        argv = ["ansible-playbook", "-i", os.path.join(self.dir, "inventory.ini"),
                "-e", "@" + os.path.join(self.dir, "vars.json"), os.path.join(self.dir, "up.yml")]
        if count == 1:
            argv += ["--limit", self.nodes5[0]]
        return argv

    def setup_ansible(self):
        self.ansible_files()
        log("W6 setup: python3 and python3-requests in the nodes for Ansible (raw + apt-get; untimed)")
        env = self.ansible_env("setup")
        env["ANSIBLE_STDOUT_CALLBACK"] = "default"
        rc, out, err = run_plain(["ansible", "nodes", "-i", os.path.join(self.dir, "inventory.ini"),
                                  "-m", "raw", "-a", ANSIBLE_NODE_PYTHON], 1500, env=env)
        if rc != 0:
            self.ansible_error = "installing python3 in the nodes failed: " + last_lines(out + err)
            return
        want = {"bench-ansible-c%s" % i for i in self.idx}
        for node in self.nodes5:  # kept nodes of a run with a larger --ssh-n
            extra = sorted(set(self.node_ids(SSH_PROJECT5, node, "bench-ansible")) - want - {"error"})
            if extra:
                run_plain(["docker", "-H", "unix://" + self.ctx.engine_sock, "exec",
                           self.node_container(SSH_PROJECT5, node), "docker", "rm", "-f"] + extra, 300)
        log("W6 setup: Ansible deploys its %d containers on each of %d nodes (untimed)"
            % (self.n, SSH_NODES))
        rc, out, err = run_plain(self.ansible_argv(5), 2400, env=self.ansible_env("deploy"))
        if rc != 0:
            self.ansible_error = "Ansible's first deploy failed: " + last_lines(err + out[-2000:])
            return
        for node in self.nodes5:
            self.snap[("ansible", 5, node)] = self.node_ids(SSH_PROJECT5, node, "bench-ansible")

    def run(self, tool, count, rep, counting_label):
        """One timed no-op re-run; returns (Sample, errors, warnings, self_requests)."""
        lb = os.path.join(self.ctx.logs, "r%s-%s-W6-%d" % (rep, tool, count))
        if tool == "floor":
            s = run_measured(self.floor_argv(count), self.ctx.base_env, self.dir, 60, lb)
        elif tool == "bootstrap":
            s = run_measured(self.bootstrap_argv(count), self.ctx.base_env, self.dir,
                             300 + 5 * self.n, lb)
        else:
            s = run_measured(self.ansible_argv(count), self.ansible_env("r%s-%d" % (rep, count)),
                             self.dir, 600 + 20 * self.n, lb)
        errs, warns, selfreq = run_errors(s), [], None
        if tool == "floor":  # `true` leaves the containers alone
            return s, errs, warns, selfreq
        if tool == "bootstrap" and not errs:
            ev = bootstrap_summary(s, warns)
            if ev is not None:
                selfreq = ev.get("requests")
                c = ev.get("counts", {})
                want = count * self.n
                if c.get("unchanged") != want or c.get("created") or c.get("replaced") or c.get("removed"):
                    errs.append("not a no-op: %s" % c)
        if tool == "ansible" and not errs:
            try:
                stats, _ = ansible_result(s.out)
                ch = {h: v.get("changed") for h, v in stats.items() if v.get("changed")}
                bad = {h: v for h, v in stats.items() if v.get("failures") or v.get("unreachable")}
                if bad:
                    errs.append("failed: %s" % bad)
                if ch:
                    errs.append("not a no-op: changed %s" % ch)
                if len(stats) != count:
                    errs.append("ran on %d hosts, want %d" % (len(stats), count))
            except ValueError:
                errs.append("no JSON from the json callback")
        # the authoritative check: the same containers, running, on each node
        label = "bench-bootstrap" if tool == "bootstrap" else "bench-ansible"
        if tool == "bootstrap":
            nodes = [(SSH_PROJECT5, nd) for nd in self.nodes5] if count == 5 else [(SSH_PROJECT1, "n")]
        else:
            nodes = [(SSH_PROJECT5, nd) for nd in (self.nodes5 if count == 5 else self.nodes5[:1])]
        for project, node in nodes:
            now = self.node_ids(project, node, label)
            before = self.snap.get((tool, count if tool == "bootstrap" else 5, node))
            if "error" in now:
                errs.append("node %s: %s" % (node, now["error"]))
            elif now != before:
                errs.append("node %s: containers changed" % node)
            elif len(now) != self.n or any(st != "running" for _, st in now.values()):
                errs.append("node %s: %d containers, not all running" % (node, len(now)))
        return s, errs, warns, selfreq

    def teardown(self):
        for count in (5, 1):
            if os.path.exists(self.recipe_path(count)):
                rc, out, err = run_plain(self.bootstrap_argv(count, "destroy"), 900,
                                         env=self.ctx.base_env, cwd=self.dir)
                if rc != 0:
                    log("W6 teardown: bootstrap destroy (%d nodes) failed: %s" % (
                        count, last_lines(out + err)))
        # whatever bootstrap could not remove
        for project in (SSH_PROJECT5, SSH_PROJECT1):
            for c in self.engine.containers(label="io.bootstrap.project=" + project):
                self.engine.remove(c["Id"])
                self.engine.remove_volume(cname(c) + "-docker")
        for f in (self.known_hosts, self.ansible_known_hosts):
            if os.path.exists(f):
                os.unlink(f)


# ---------------------------------------------------------------- W7 (SSH with latency)

W7_STEPS = ["W1", "W2", "W3", "W4"]
W7_NAMES = {"W1": "deploy %d", "W2": "no-op", "W3": "change one", "W4": "remove all"}
W7_LINKS = ["lat", "lo"]


def w7_key(w, link):
    """The workload key of a W7 sample: W7-W1@lat (through delay.py), W7-W1@lo."""
    return "W7-%s@%s" % (w, link)


class LatencyBench:
    """W7: one SSH node, the same chains through delay.py (--latency-ms
    each way) and on loopback. The node is a local node (provider local,
    Docker installed by bootstrap, untimed); the timed runs reach it as a
    static host, 127.0.0.1 and the forwarder's port (or its published
    port), so the node machine is never destroyed between chains. The
    floor: OpenSSH's `ssh true`; the peers: the docker CLI over ssh://,
    one container at a time (docker) and 8 at a time (docker8), and
    Ansible (community.docker's modules run on the node over SSH, with
    pipelining and a control master, new for each run)."""

    def __init__(self, ctx, engine, args, ssh, want):
        self.ctx, self.engine, self.args, self.ssh = ctx, engine, args, ssh
        self.want = want            # of floor, bootstrap, docker, ansible
        self.n = args.w7_n
        self.delay_ms = args.latency_ms
        self.idx = ["%0*d" % (max(2, len(str(self.n))), i) for i in range(1, self.n + 1)]
        self.target = self.idx[(7 if self.n >= 7 else (self.n + 1) // 2) - 1]
        self.dir = os.path.join(ctx.work, "w7")
        os.makedirs(self.dir, exist_ok=True)
        self.node_known_hosts = os.path.join(self.dir, "node_known_hosts")
        self.port = {}              # link -> the port tools connect to
        self.fwd = None
        self.error = None           # setup failed: W7 cannot run
        self.docker_error = None    # the docker CLI over ssh:// cannot run
        self.ansible_error = None   # Ansible's setup on the node failed
        self.state = {}

    # -- the node
    def node_recipe_path(self):
        return os.path.join(self.dir, "node.yaml")

    def node_argv(self, verb=None):
        return [self.ctx.bootstrap_bin, "--json"] + ([verb] if verb else []) + [self.node_recipe_path()]

    def setup(self):
        if not os.access(self.ctx.bootstrap_bin, os.X_OK):
            self.error = "no ./bootstrap"
            return
        self.error = self.ssh.ensure_node_image() or self.ssh.ensure_key()
        if self.error:
            return
        fresh = not self.engine.containers(label="io.bootstrap.project=" + SSH_PROJECT7)
        for f in [self.node_known_hosts] + [self.known_hosts(k) for k in W7_LINKS]:
            if os.path.exists(f) and (fresh or f != self.node_known_hosts):
                os.unlink(f)  # new node, new host key; the forwarder's port may be another's
        write(self.node_recipe_path(), "\n".join([
            "version: 1", "project: %s" % SSH_PROJECT7,
            "provider: {type: local, engine: 'unix://%s'}" % self.ctx.engine_sock,
            "ssh: {user: root, key: '%s', known_hosts: '%s'}" % (self.ssh.key, self.node_known_hosts),
            "nodes:", "  - name: n"]) + "\n")
        log("W7 setup: one local node with Docker (bootstrap, provider local; untimed)")
        rc, out, err = run_plain(self.node_argv(), 2400, env=self.ctx.base_env, cwd=self.dir)
        if rc != 0:
            self.error = "node setup: " + last_lines(out + err)
            return
        node = self.ssh.node_container(SSH_PROJECT7, "n")
        # the image is on the node before any tool runs (bootstrap's W1 would
        # copy it, the docker CLI's would fail): both start from the same node
        rc, out, err = run_plain(["sh", "-c", "docker -H unix://%s save %s | docker -H unix://%s "
                                  "exec -i %s docker load" % (self.ctx.engine_sock, IMAGE,
                                                              self.ctx.engine_sock, node)], 300)
        if rc != 0:
            self.error = "loading %s into the node: %s" % (IMAGE, last_lines(out + err))
            return
        # `docker rm -f ID...` opens one SSH connection per container, all at
        # once; sshd's default MaxStartups (10:30:100) drops some of them
        # before authentication ("kex_exchange_identification: Connection
        # closed by remote host"). The tools open no more than 20 at once.
        rc, out, err = run_plain(["docker", "-H", "unix://" + self.ctx.engine_sock, "exec", node,
                                  "sh", "-c", "echo 'MaxStartups 100:30:200' >"
                                  "/etc/ssh/sshd_config.d/bench-w7.conf && systemctl reload ssh"], 60)
        if rc != 0:
            self.error = "raising the node's sshd MaxStartups: " + last_lines(out + err)
            return
        for label in ("bench-w7", "bench-w7docker"):
            self.remove_on_node(label)  # an interrupted run's
        real = self.ssh.ssh_port(SSH_PROJECT7, "n")
        if real is None:
            self.error = "no published SSH port on node %s" % node
            return
        self.port["lo"] = real
        pf = os.path.join(self.dir, "forwarder.port")
        if os.path.exists(pf):
            os.unlink(pf)
        argv = [sys.executable, os.path.join(HERE, "delay.py"), "--map",
                "127.0.0.1:0=127.0.0.1:%d" % real, "--delay-ms", str(self.delay_ms),
                "--port-file", pf, "--max-conns", "1000000", "--max-seconds", "86400"]
        self.fwd = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                    stderr=open(os.path.join(self.ctx.logs, "w7-delay.err"), "wb"),
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        _children.add(self.fwd.pid)
        deadline = time.time() + 15
        while time.time() < deadline and not (os.path.exists(pf) and open(pf).read().strip()):
            time.sleep(0.05)
        try:
            self.port["lat"] = int(open(pf).read().split()[0])
        except (OSError, ValueError, IndexError):
            self.error = "delay.py did not start (see logs/w7-delay.err)"
            return
        self.docker_files()
        if "ansible" in self.want:
            self.setup_ansible()
        log("W7: node %s, SSH on 127.0.0.1:%d; delay.py (%d ms each way) on 127.0.0.1:%d"
            % (node, real, self.delay_ms, self.port["lat"]))

    # -- Ansible: community.docker's modules on the node, over SSH
    def setup_ansible(self):
        """Its files, and python3 with python3-requests in the node (raw
        module, apt-get; untimed, on loopback)."""
        for link in W7_LINKS:
            write(os.path.join(self.dir, "ansible-%s.ini" % link), "\n".join([
                "[nodes]", "n ansible_host=127.0.0.1 ansible_port=%d" % self.port[link], "",
                "[nodes:vars]", "ansible_user=root",
                "ansible_ssh_private_key_file=%s" % self.ssh.key]) + "\n")
        write(os.path.join(self.dir, "ansible-up.yml"), ANSIBLE_UP % {"image": IMAGE})
        write(os.path.join(self.dir, "ansible-down.yml"), ANSIBLE_DOWN)
        for w3 in (False, True):
            write(os.path.join(self.dir, "ansible-vars%s.json" % ("-w3" if w3 else "")), json.dumps({
                "bench_docker_host": "unix:///var/run/docker.sock",
                "bench_label": "bench-w7ansible",
                "bench_containers": [{"name": "bench-w7ansible-c%s" % i,
                                      "env": "changed" if (w3 and i == self.target) else "v" + i}
                                     for i in self.idx]}))
        log("W7 setup: python3 and python3-requests in the node for Ansible (raw + apt-get; untimed)")
        env = self.ansible_env("setup")
        env["ANSIBLE_STDOUT_CALLBACK"] = "default"
        rc, out, err = run_plain(["ansible", "nodes", "-i", os.path.join(self.dir, "ansible-lo.ini"),
                                  "-m", "raw", "-a", ANSIBLE_NODE_PYTHON], 1500, env=env)
        close_control_masters(env["ANSIBLE_SSH_CONTROL_PATH_DIR"])
        if rc != 0:
            self.ansible_error = "installing python3 in the node failed: " + last_lines(out + err)
            log("W7: ansible: " + self.ansible_error)

    def ansible_env(self, run_id):
        cp = os.path.join(self.dir, "cp", run_id)  # a new master for each run
        if os.path.isdir(cp):
            shutil.rmtree(cp, ignore_errors=True)
        os.makedirs(cp)
        e = ansible_env(self.ctx, ansible_ssh_env())
        e.update({"ANSIBLE_SSH_CONTROL_PATH_DIR": cp,
                  "ANSIBLE_LOCAL_TEMP": os.path.join(self.dir, "ansible-tmp")})
        return e

    def stop_forwarder(self):
        if self.fwd is not None:
            stop_process(self.fwd)
            self.fwd = None

    def teardown(self):
        self.stop_forwarder()
        if os.path.exists(self.node_recipe_path()):
            rc, out, err = run_plain(self.node_argv("destroy"), 900, env=self.ctx.base_env,
                                     cwd=self.dir)
            if rc != 0:
                log("W7 teardown: bootstrap destroy failed: %s" % last_lines(out + err))
        for c in self.engine.containers(label="io.bootstrap.project=" + SSH_PROJECT7):
            self.engine.remove(c["Id"])
            self.engine.remove_volume(cname(c) + "-docker")

    def remove_on_node(self, label):
        node = self.ssh.node_container(SSH_PROJECT7, "n")
        run_plain(["docker", "-H", "unix://" + self.ctx.engine_sock, "exec", node, "sh", "-c",
                   "ids=$(docker ps -aq --filter label=bench=%s); "
                   "[ -z \"$ids\" ] || docker rm -f $ids >/dev/null" % label], 300)

    # -- bootstrap: the node as a static host at 127.0.0.1:PORT
    def known_hosts(self, link):
        return os.path.join(self.dir, "known_hosts-%s" % link)

    def bs_recipe_path(self, link):
        return os.path.join(self.dir, "recipe-%s.yaml" % link)

    def bs_recipe(self, link, w3):
        lines = ["version: 1", "project: bench-w7", "provider: {type: static}",
                 "ssh: {user: root, key: '%s', known_hosts: '%s', host_keys: accept-new}"
                 % (self.ssh.key, self.known_hosts(link)),
                 "nodes:", "  - name: n", "    address: 127.0.0.1", "    port: %d" % self.port[link],
                 "images:", "  - name: %s" % IMAGE, "    pull: never", "containers:"]
        for i in self.idx:
            lines += ["  - name: c%s" % i, "    image: %s" % IMAGE,
                      '    command: [sleep, "1000000"]',
                      '    environment: {K: "%s"}' % (
                          "changed" if (w3 and i == self.target) else "v" + i),
                      '    labels: {bench: "bench-w7"}',
                      "    stop_timeout: 0s", "    update: {monitor: 0s}",
                      "    network: bridge"]
        return "\n".join(lines) + "\n"

    # -- the docker CLI over ssh://: OpenSSH reads ~/.ssh/config from the
    # passwd entry's home, not $HOME, so an ssh on PATH adds -F
    def docker_files(self):
        conf = os.path.join(self.dir, "ssh_config")
        write(conf, "\n".join([
            "Host 127.0.0.1", "  User root", "  IdentityFile %s" % self.ssh.key,
            "  IdentitiesOnly yes", "  BatchMode yes", "  StrictHostKeyChecking no",
            "  UserKnownHostsFile /dev/null", "  LogLevel ERROR", "  ControlMaster no",
            "  ControlPath none",
            # the key exchange libssh2 (bootstrap's) uses, as W6's floor
            "  KexAlgorithms curve25519-sha256"]) + "\n")
        os.chmod(conf, 0o600)
        wrapper = os.path.join(self.dir, "bin", "ssh")
        write(wrapper, '#!/bin/sh\nexec %s -F %s "$@"\n' % (
            shutil.which("ssh") or "/usr/bin/ssh", shlex.quote(conf)))
        os.chmod(wrapper, 0o755)

    def docker_env(self, link):
        e = dict(self.ctx.base_env)
        e["PATH"] = os.path.join(self.dir, "bin") + ":" + e.get("PATH", "/usr/bin:/bin")
        e["DOCKER_HOST"] = "ssh://root@127.0.0.1:%d" % self.port[link]
        e["DOCKER_CONFIG"] = os.path.join(self.dir, "docker-config")
        e["DOCKER_CLI_HINTS"] = "false"
        return e

    def dname(self, i):
        return "bench-w7docker-c%s" % i

    def docker_run(self, i, val):
        return ("docker run -d --pull never --name %s --label bench=bench-w7docker -e K=%s %s "
                "sleep 1000000 >/dev/null" % (self.dname(i), val, IMAGE))

    # -- one timed run
    def command(self, tool, w, link):
        """(argv, env) of one timed step."""
        if tool == "floor":
            return ["ssh", "-F", "/dev/null", "-i", self.ssh.key, "-p", str(self.port[link]),
                    "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                    "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                    "-o", "ControlMaster=no", "-o", "ControlPath=none",
                    "-o", "KexAlgorithms=curve25519-sha256", "root@127.0.0.1", "true"], self.ctx.base_env
        if tool == "bootstrap":
            if w in ("W1", "W3"):
                write(self.bs_recipe_path(link), self.bs_recipe(link, w == "W3"))
            argv = [self.ctx.bootstrap_bin, "--json"] + (["destroy"] if w == "W4" else [])
            return argv + [self.bs_recipe_path(link)], self.ctx.base_env
        if tool == "ansible":
            book = "ansible-down.yml" if w == "W4" else "ansible-up.yml"
            var = "ansible-vars-w3.json" if w == "W3" else "ansible-vars.json"
            return (["ansible-playbook", "-i", os.path.join(self.dir, "ansible-%s.ini" % link),
                     "-e", "@" + os.path.join(self.dir, var), os.path.join(self.dir, book)],
                    self.ansible_env("%s-%s" % (w, link)))
        if w == "W1" and tool == "docker8":
            body = ("printf '%%s\\n' %s | xargs -P8 -I{} sh -c "
                    "'docker run -d --pull never --name bench-w7docker-c{} --label bench=bench-w7docker "
                    "-e K=v{} %s sleep 1000000 >/dev/null'\n" % (" ".join(self.idx), IMAGE))
        elif w == "W1":
            body = "".join(self.docker_run(i, "v" + i) + "\n" for i in self.idx)
        elif w == "W2":
            body = "docker ps -a --filter label=bench=bench-w7docker\n"
        elif w == "W3":
            body = "docker rm -f %s >/dev/null\n%s\n" % (self.dname(self.target),
                                                         self.docker_run(self.target, "changed"))
        elif w == "W4" and tool == "docker8":
            body = ("printf '%%s\\n' %s | xargs -P8 -n1 docker rm -f >/dev/null\n"
                    % " ".join(self.dname(i) for i in self.idx))
        else:
            body = ('ids=$(docker ps -aq --filter label=bench=bench-w7docker)\n'
                    '[ -z "$ids" ] || docker rm -f $ids >/dev/null\n')
        path = write(os.path.join(self.dir, "%s-%s-%s.sh" % (tool, w, link)),
                     "set -euo pipefail\n" + body)
        return ["bash", path], self.docker_env(link)

    def names(self, tool):
        if tool == "bootstrap":
            return "bench-w7", {"bench-w7-c%s-1" % i: i for i in self.idx}
        if tool == "ansible":
            return "bench-w7ansible", {"bench-w7ansible-c%s" % i: i for i in self.idx}
        return "bench-w7docker", {self.dname(i): i for i in self.idx}

    def check_node(self, tool, w):
        """The authoritative check, against the node's engine."""
        label, want = self.names(tool)
        now = self.ssh.node_ids(SSH_PROJECT7, "n", label)
        if "error" in now:
            return ["node: %s" % now["error"]]
        if w == "W4":
            self.state.pop(tool, None)
            return ["%d of its containers left" % len(now)] if now else []
        errs = []
        if set(now) != set(want):
            errs.append("%d containers (want %d)" % (len(now), len(want)))
        notrun = sorted(n for n, (_, st) in now.items() if st != "running")
        if notrun:
            errs.append("%d not running (%s)" % (len(notrun), ",".join(notrun[:3])))
        before = self.state.get(tool)
        if w in ("W2", "W3") and before:
            changed = sorted(n for n in want if now.get(n, ("?",))[0] != before.get(n, ("?",))[0])
            expect = [] if w == "W2" else [n for n, i in want.items() if i == self.target]
            if changed != expect:
                errs.append("replaced %s, want %s" % (",".join(changed[:4]) or "none",
                                                      ",".join(expect) or "none"))
        if not errs:
            self.state[tool] = now
        return errs

    def run(self, tool, w, link, rep):
        """One timed step; returns the sample record."""
        argv, env = self.command(tool, w, link)
        lb = os.path.join(self.ctx.logs, "r%d-%s-W7-%s-%s" % (rep, tool, w, link))
        timeout = 60 if tool == "floor" else (300 + 20 * self.n if tool == "ansible"
                                               else 120 + 10 * self.n)
        s = run_measured(argv, env, self.dir, timeout, lb)
        if tool == "ansible":
            close_control_masters(env["ANSIBLE_SSH_CONTROL_PATH_DIR"])
        errs, warns, selfreq = run_errors(s, timeout), [], None
        if tool == "ansible" and not errs:
            try:
                stats, _ = ansible_result(s.out)
                h = stats.get("n")
                if h is None:
                    errs.append("no recap for the node: %s" % sorted(stats))
                elif h.get("failures") or h.get("unreachable"):
                    errs.append("failed: %s" % h)
                elif w == "W2" and h.get("changed"):
                    errs.append("the no-op reported changed=%s" % h.get("changed"))
                elif w != "W2" and not h.get("changed"):
                    errs.append("reported nothing changed")
            except ValueError:
                errs.append("no JSON from the json callback")
        if tool == "bootstrap" and not errs:
            ev = bootstrap_summary(s, warns)
            if ev is not None:
                selfreq = ev.get("requests")
                c = ev.get("counts", {})
                want = {"W1": {"created": self.n}, "W2": {"unchanged": self.n, "created": 0,
                                                          "replaced": 0},
                        "W3": {"replaced": 1, "created": 0}, "W4": {"removed": self.n}}[w]
                bad = ["%s=%s (want %s)" % (k, c.get(k), v) for k, v in want.items() if c.get(k) != v]
                if bad:
                    warns.append("summary says " + ", ".join(bad))
        if tool != "floor":
            errs += self.check_node(tool, w)
        return {"pass": "timed", "rep": rep, "tool": tool, "workload": w7_key(w, link),
                "link": "%d ms each way" % self.delay_ms if link == "lat" else "loopback",
                "seconds": round(s.seconds, 4), "rss_mb": round(s.rss_mb, 2),
                "cpu_s": round(s.cpu_s, 3), "rc": s.rc, "ok": not errs, "errors": errs,
                "warnings": warns, "self_requests": selfreq, "log": os.path.relpath(lb, REPO)}

    def chains(self, rep):
        """One repetition: on each link (the order alternates), the floor,
        then each tool's chain W1 W2 W3 W4 from a node without its containers."""
        out = []
        links = W7_LINKS if rep % 2 else W7_LINKS[::-1]
        tools = [t for t in ("bootstrap", "docker", "docker8", "ansible") if t.rstrip("8") in self.want]
        k = (rep - 1) % len(tools) if tools else 0
        tools = tools[k:] + tools[:k]
        for link in links:
            if "floor" in self.want:
                out.append(self.run("floor", "W2", link, rep))
                log("rep%d  %-9s %-12s %7.3fs %s" % (rep, "floor", w7_key("W2", link),
                                                      out[-1]["seconds"], "ok" if out[-1]["ok"]
                                                      else "FAIL: " + "; ".join(out[-1]["errors"])))
            for tool in tools:
                steps = W7_STEPS if tool != "docker8" else ["W1", "W4"]
                broken = None
                if tool == "ansible" and self.ansible_error:
                    broken = "its setup (%s)" % self.ansible_error
                for w in steps:
                    if broken:
                        out.append({"pass": "timed", "rep": rep, "tool": tool,
                                    "workload": w7_key(w, link), "ok": False, "skipped": True,
                                    "errors": ["not run: %s failed" % broken]})
                        continue
                    r = self.run(tool, w, link, rep)
                    out.append(r)
                    log("rep%d  %-9s %-12s %7.3fs %6.1fMB %s%s" % (
                        rep, tool, r["workload"], r["seconds"], r["rss_mb"],
                        "ok" if r["ok"] else "FAIL: " + "; ".join(r["errors"]),
                        (" (warn: %s)" % "; ".join(r["warnings"])) if r["warnings"] else ""))
                    if not r["ok"]:
                        broken = w
                if broken:
                    self.remove_on_node(self.names(tool)[0])
                    self.state.pop(tool, None)
        return out


# ---------------------------------------------------------------- the run

class Bench:
    def __init__(self, args):
        self.args = args
        self.samples = []
        self.counts = {}       # (tool, w) -> {"total":..., "by":...}
        self.notes = []
        self.engine_proc = None
        self.forwarder = None
        self.proxy = None
        self.merged = set()
        self.ssh = None
        self.w7 = None

    # -- environment
    def ensure_engine(self):
        self.engine = Engine(self.args.engine_sock)
        if self.engine.ping():
            return
        if self.args.engine_sock != "/var/run/docker.sock":
            raise SystemExit("no engine answers on %s" % self.args.engine_sock)
        log("no engine answers: starting dockerd (stopped again at exit)")
        if subprocess.call(["ip", "link", "show", "docker0"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL) != 0:
            for cmd in (["ip", "link", "add", "docker0", "type", "bridge"],
                        ["ip", "addr", "add", "172.17.0.1/16", "dev", "docker0"],
                        ["ip", "link", "set", "docker0", "up"]):
                subprocess.call(cmd)
        logf = open(os.path.join(self.args.work, "dockerd.log"), "ab")
        self.engine_proc = subprocess.Popen(["dockerd"], stdout=logf, stderr=logf,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 90
        while time.time() < deadline:
            if self.engine.ping():
                return
            if self.engine_proc.poll() is not None:
                break
            time.sleep(0.5)
        raise SystemExit("dockerd did not answer within 90 s (see %s)" % logf.name)

    def ensure_image(self):
        if self.engine.image_exists(IMAGE):
            return
        log("importing %s (scripts/demo-image.sh)" % IMAGE)
        env = dict(os.environ)
        env["DOCKER_HOST"] = "unix://" + self.args.engine_sock
        rc, out, err = run_plain(["bash", os.path.join(REPO, "scripts", "demo-image.sh"), IMAGE],
                                 300, env=env)
        if rc != 0 or not self.engine.image_exists(IMAGE):
            raise SystemExit("cannot make %s: %s" % (IMAGE, last_lines(out + err)))

    def ensure_bootstrap(self):
        b = os.path.join(REPO, "bootstrap")
        if os.access(b, os.X_OK) and not self.args.build:
            return
        log("building ./bootstrap (make)")
        rc, out, err = run_plain(["make", "-C", REPO], 900)
        if rc != 0:
            self.notes.append("make failed: " + last_lines(out + err))

    def machine(self):
        cpu = "?"
        try:
            with open("/proc/cpuinfo") as f:
                for ln in f:
                    if ln.startswith("model name"):
                        cpu = ln.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        mem = "?"
        try:
            with open("/proc/meminfo") as f:
                mem = "%.1f GiB" % (int(f.readline().split()[1]) / 1048576)
        except (OSError, ValueError, IndexError):
            pass
        _, v = self.engine.req("GET", "/version")
        _, info = self.engine.req("GET", "/info")
        m = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
             "cpu": cpu, "cores": os.cpu_count(), "memory": mem, "kernel": platform.release(),
             "os": self.os_name(), "engine": v.get("Version"), "api": v.get("ApiVersion"),
             "storage_driver": info.get("Driver"), "cgroup": info.get("CgroupVersion"),
             "containers_at_start": info.get("Containers"),
             "loadavg_at_start": os.getloadavg()[0]}
        return m

    @staticmethod
    def os_name():
        try:
            with open("/etc/os-release") as f:
                for ln in f:
                    if ln.startswith("PRETTY_NAME="):
                        return ln.split("=", 1)[1].strip().strip('"')
        except OSError:
            pass
        return platform.system()

    def versions(self):
        def first(argv, env=None):
            try:
                rc, out, err = run_plain(argv, 60, env=env)
            except OSError:
                return None
            return (out or err).strip().splitlines()[0] if rc == 0 and (out or err).strip() else None

        def deb(pkg):
            return first(["dpkg-query", "-W", "-f", "${Version}", pkg])
        env = dict(os.environ)
        env["DOCKER_HOST"] = "unix://" + self.args.engine_sock
        v = {"bootstrap": first([os.path.join(REPO, "bootstrap"), "--version"]),
             "docker CLI": first(["docker", "version", "--format", "{{.Client.Version}}"], env)}
        for pkg in ("docker-compose", "python3-libcloud", "python3-docker", "ansible",
                    "ansible-core", "curl"):
            v[pkg] = deb(pkg)
        v["community.docker"] = self.collection_version() if shutil.which("ansible-galaxy") else None
        v["python"] = first([DEBIAN_PY, "--version"])
        if "W6" in self.args.workloads or "W7" in self.args.workloads:
            v["openssh-client"] = deb("openssh-client")
        return v

    def collection_version(self):
        rc, out, _ = run_plain(["ansible-galaxy", "collection", "list", "community.docker"], 60)
        for ln in out.splitlines():
            if ln.startswith("community.docker"):
                return ln.split()[-1]
        return None

    def cleanup_all(self):
        for t in self.all_tools:
            try:
                t.cleanup(self.engine)
            except (OSError, RuntimeError) as e:
                log("cleanup %s: %s" % (t.key, e))

    # -- one workload of one tool
    def run_one(self, tool, w, ep, rep, counting, state):
        """One workload; counting: through the counting proxy (rep 0: the
        untimed counting pass; rep 1: a timed repetition that also counts)."""
        kind = "count" if rep == 0 else ("timed" if w in self.workloads else "setup")
        tool.prepare(w, ep)
        argv, env = tool.command(w, ep)
        lb = os.path.join(self.ctx.logs, "%s-%s-%s" % ("count" if rep == 0 else "r%d" % rep,
                                                       tool.key, w))
        if counting:
            self.proxy.counts(reset=True)
        s = run_measured(argv, env, tool.dir, tool.timeout(w), lb)
        reqs = self.proxy.counts(reset=False) if counting else None
        errs, warns = run_errors(s, tool.timeout(w)), []
        if not errs:
            e2, w2 = tool.check_output(w, s)
            errs += e2
            warns += w2
        try:
            errs += check_engine(self.engine, tool, w, state, self.ctx)
        except (OSError, RuntimeError) as e:
            errs.append("engine check: %s" % e)
        rec = {"pass": kind, "rep": rep, "tool": tool.key,
               "workload": w, "seconds": round(s.seconds, 4), "rss_mb": round(s.rss_mb, 2),
               "cpu_s": round(s.cpu_s, 3), "rc": s.rc, "ok": not errs,
               "errors": errs, "warnings": warns, "log": os.path.relpath(lb, REPO)}
        if reqs is not None:
            rec["requests"] = reqs["total"]
            rec["requests_by"] = reqs["by"]
        if tool.key == "bootstrap" and w != "W5":
            ev = tool.summary(s.out)
            if ev is not None:
                rec["self_requests"] = ev.get("requests")
        self.samples.append(rec)
        log("%-6s %-9s %-3s %7.3fs %6.1fMB%s %s%s" % (
            kind if kind != "timed" else "rep%d" % rep, tool.key, w, s.seconds, s.rss_mb,
            (" %5d req" % reqs["total"]) if reqs else "", "ok" if not errs else "FAIL: " + "; ".join(errs),
            (" (warn: %s)" % "; ".join(warns)) if warns else ""))
        return not errs

    def chain(self, tool, ep, rep, counting):
        state = {}
        selected = set(self.workloads)
        steps = [w for w in tool.chain if w in selected or w in ("W1", "W4")]
        if not any(w in selected for w in tool.chain):
            return
        broken = None
        for w in steps:
            if broken:
                self.samples.append({"pass": "count" if rep == 0 else "timed", "rep": rep,
                                     "tool": tool.key, "workload": w, "ok": False,
                                     "skipped": True, "errors": ["not run: %s failed" % broken]})
                continue
            ok = self.run_one(tool, w, ep, rep, counting, state)
            if not ok:
                broken = w
        if broken:
            tool.cleanup(self.engine)

    # -- everything
    def main(self):
        a = self.args
        os.makedirs(a.work, exist_ok=True)
        self.ensure_engine()
        self.ensure_image()
        if "bootstrap" in a.tools:
            self.ensure_bootstrap()
        _, v = self.engine.req("GET", "/version")
        self.ctx = Ctx(a, a.engine_sock, "v" + v["ApiVersion"])
        os.makedirs(self.ctx.logs, exist_ok=True)
        os.makedirs(self.ctx.bootstrap_dir, exist_ok=True)
        self.all_tools = [cls(self.ctx) for cls in sum((TOOL_CLASSES[k] for k in ALL_TOOLS), [])]
        self.tools = [t for t in self.all_tools if t.key in a.tools or
                      (t.key == "floor8" and "floor" in a.tools)]
        for t in self.tools:
            t.unavailable = availability(t)
            if t.unavailable:
                log("%s: skipped: %s" % (t.key, t.unavailable))
        self.workloads = [w for w in a.workloads if w not in ("W6", "W7")]
        self.cleanup_all()  # what an interrupted run may have left
        self.meta = self.machine()
        self.meta["versions"] = self.versions()
        self.meta["rss_method"] = "GNU time %M" if TIME_BIN else "wait4 ru_maxrss (includes the harness's fork)"
        if not TIME_BIN:
            self.notes.append("GNU time (package time) is missing: RSS is wait4's, which counts "
                              "the harness's own RSS at fork")
        log("machine: %s, %s cores, kernel %s, engine %s (API %s); %s containers already on it"
            % (self.meta["cpu"], self.meta["cores"], self.meta["kernel"], self.meta["engine"],
               self.meta["api"], self.meta["containers_at_start"]))
        runnable = [t for t in self.tools if not t.unavailable]
        direct = Endpoint(a.engine_sock)
        # tools whose first timed repetition also counts, instead of a pass of
        # their own: every tool with --quick; ansible otherwise (minutes per
        # chain; the proxy adds far under 1% to its times)
        if a.no_count or not self.workloads:
            merged = set()
        elif a.quick:
            merged = {t.key for t in runnable}
        else:
            merged = {t.key for t in runnable if t.key in SLOW} if not a.separate_count_slow else set()
        self.merged = merged
        direct_libcloud = a.repeat > (1 if "libcloud" in merged else 0)
        if any(t.key == "libcloud" for t in runnable) and direct_libcloud and self.workloads:
            self.forwarder = ProxyProc(a.engine_sock, tcp=True)
            direct.tcp_port = self.forwarder.port
            self.notes.append("libcloud's Docker driver speaks TCP only: it reaches the engine "
                              "through proxy.py forwarding 127.0.0.1:%d to the unix socket "
                              "(in its times)" % self.forwarder.port)
        t_start = time.time()
        self.proxy = None
        if self.workloads and not a.no_count:
            sock = os.path.join(a.work, "proxy.sock")
            self.proxy = ProxyProc(a.engine_sock, unix=sock, tcp=True, count=True,
                                   control=os.path.join(a.work, "proxy-ctl.sock"))
            counted_ep = Endpoint(sock, self.proxy.port)
            if any(t.key not in merged for t in runnable):
                log("counting pass (untimed, through the counting proxy)")
            for t in runnable:
                if t.key not in merged:
                    self.chain(t, counted_ep, 0, True)
        # W6 setup (untimed)
        if "W6" in a.workloads:
            want_ansible = any(t.key == "ansible" for t in runnable)
            want_floor = any(t.key == "floor" for t in runnable)
            self.ssh = SSHBench(self.ctx, self.engine, a, want_ansible, want_floor)
            if any(t.key == "bootstrap" for t in runnable):
                t0 = time.time()
                self.ssh.setup()
                self.notes.append("W6 setup (untimed): %.0f s" % (time.time() - t0))
                if self.ssh.error:
                    log("W6: " + self.ssh.error)
            else:
                self.ssh.error = "bootstrap not run"
        # W7 setup (untimed): its node, delay.py in front of it
        if "W7" in a.workloads:
            want = {t.key for t in runnable} & {"floor", "bootstrap", "docker", "ansible"}
            helper = self.ssh or SSHBench(self.ctx, self.engine, a, False)
            self.w7 = LatencyBench(self.ctx, self.engine, a, helper, want)
            if want:
                t0 = time.time()
                self.w7.setup()
                self.notes.append("W7 setup (untimed): %.0f s" % (time.time() - t0))
                if self.w7.error:
                    log("W7: " + self.w7.error)
            else:
                self.w7.error = "none of floor, bootstrap, docker, ansible run"
        for rep in range(1, a.repeat + 1):
            order = runnable[(rep - 1) % len(runnable):] + runnable[:(rep - 1) % len(runnable)] \
                if runnable else []
            for t in order:
                if t.key in SLOW and rep > a.repeat_slow:
                    continue
                if self.workloads and rep == 1 and t.key in merged:
                    self.chain(t, counted_ep, rep, True)
                elif self.workloads:
                    self.chain(t, Endpoint(a.engine_sock, direct.tcp_port), rep, False)
            if self.proxy and rep == 1:
                self.proxy.stop()
                self.proxy = None
            if self.ssh and not self.ssh.error:
                self.w6_rep(rep)
            if self.w7 and not self.w7.error:
                self.samples += self.w7.chains(rep)
        if self.proxy:
            self.proxy.stop()
            self.proxy = None
        self.meta["bench_seconds"] = round(time.time() - t_start, 1)
        self.meta["loadavg_at_end"] = os.getloadavg()[0]

    def w6_rep(self, rep):
        runs = [("bootstrap", 5), ("bootstrap", 1)]
        if self.ssh.want_floor and not self.ssh.floor_error:
            runs = [("floor", 5), ("floor", 1)] + runs
        if self.ssh.want_ansible and rep <= self.args.repeat_slow:
            runs += [("ansible", 5), ("ansible", 1)]
        if rep % 2 == 0:  # alternate the order between repetitions
            runs.reverse()
        for tool, count in runs:
            if tool == "ansible" and self.ssh.ansible_error:
                continue
            s, errs, warns, selfreq = self.ssh.run(tool, count, rep, None)
            w = "W6-%d" % count
            self.samples.append({"pass": "timed", "rep": rep, "tool": tool, "workload": w,
                                 "seconds": round(s.seconds, 4), "rss_mb": round(s.rss_mb, 2),
                                 "cpu_s": round(s.cpu_s, 3), "rc": s.rc, "ok": not errs,
                                 "errors": errs, "warnings": warns, "self_requests": selfreq})
            log("rep%d  %-9s %-4s %7.3fs %6.1fMB %s" % (rep, tool, w, s.seconds, s.rss_mb,
                                                        "ok" if not errs else "FAIL: " + "; ".join(errs)))

    def finish(self):
        """Cleanup; safe to call more than once, and after an interruption."""
        for pid in list(_children):
            kill_group(pid)
        for name in ("forwarder", "proxy"):
            if getattr(self, name, None):
                getattr(self, name).stop()
                setattr(self, name, None)
        if hasattr(self, "engine") and self.engine.ping():
            if hasattr(self, "all_tools"):
                self.cleanup_all()
            if self.ssh and not self.args.keep_nodes:
                log("W6 teardown: removing the local nodes")
                self.ssh.teardown()
            if self.w7:
                self.w7.stop_forwarder()
                if not self.args.keep_nodes:
                    log("W7 teardown: removing its local node")
                    self.w7.teardown()
        if self.engine_proc and self.engine_proc.poll() is None:
            log("stopping the dockerd this run started")
            self.engine_proc.terminate()
            try:
                self.engine_proc.wait(30)
            except subprocess.TimeoutExpired:
                self.engine_proc.kill()
        self.engine_proc = None


# ---------------------------------------------------------------- the report

def summarise(b):
    """Per tool and workload: median/min/max of the timed samples."""
    out = {}
    w7 = [w7_key(w, link) for w in W7_STEPS for link in W7_LINKS]
    for key in COLUMNS + ["docker8"]:
        for w in ["W1", "W2", "W3", "W4", "W5", "W6-5", "W6-1"] + w7:
            timed = [s for s in b.samples if s["tool"] == key and s["workload"] == w and
                     s["pass"] == "timed"]
            counted = [s for s in b.samples if s["tool"] == key and s["workload"] == w and
                       s.get("requests") is not None]
            if not timed and not counted:
                continue
            good = [s for s in timed if s.get("ok")]
            bad = [s for s in timed + [c for c in counted if c["pass"] == "count"] if not s.get("ok")]
            secs = [s["seconds"] for s in good]
            r = {"n": len(timed), "ok": len(good), "failed": len(bad)}
            if secs:
                r.update(median=statistics.median(secs), min=min(secs), max=max(secs),
                         rss_mb=max(s["rss_mb"] for s in good))
            if counted and counted[0].get("requests") is not None:
                r["requests"] = counted[0]["requests"]
            selfreq = [s.get("self_requests") for s in timed + counted if s.get("self_requests") is not None]
            if selfreq:
                r["self_requests"] = selfreq[0]
            if bad:
                r["errors"] = sorted({"; ".join(s.get("errors", [])) for s in bad})
            warns = sorted({"; ".join(s["warnings"]) for s in timed + counted if s.get("warnings")})
            if warns:
                r["warnings"] = warns
            out.setdefault(key, {})[w] = r
    return out


def fmt_cell(r, foot):
    if r is None:
        return "-"
    if r.get("failed"):
        foot.append(r["errors"][0] if r.get("errors") else "failed")
        if "median" not in r:
            return "FAIL [%d]" % len(foot)
        # some repetitions passed: their times, and how many failed
        return "%.3f (%.3f-%.3f) %.1fMB, %d of %d FAIL [%d]" % (
            r["median"], r["min"], r["max"], r["rss_mb"], r["failed"], r["failed"] + r["ok"],
            len(foot))
    if "median" not in r:
        return "-"
    req = r.get("requests")
    if req is None and r.get("self_requests") is not None:
        req = "%s (self)" % r["self_requests"]
    cell = "%.3f (%.3f-%.3f) %.1fMB" % (r["median"], r["min"], r["max"], r["rss_mb"])
    if req is not None:
        cell += " %s req" % req
    if r.get("warnings"):
        foot.append("warning: " + r["warnings"][0])
        cell += " [%d]" % len(foot)
    return cell


def report(b, summary):
    a, m = b.args, b.meta
    cols = [k for k in COLUMNS if any(t.key == k for t in b.tools)]
    lines = []
    lines.append("# bootstrap benchmark (issue 7)")
    lines.append("")
    lines.append("%s; %s; %s x %s cores, %s, kernel %s; Docker Engine %s (API %s, %s); "
                 "%s containers not ours on the engine at start; load %.2f at start, %.2f at end"
                 % (m["date"], m["os"], m["cpu"], m["cores"], m["memory"], m["kernel"],
                    m["engine"], m["api"], m["storage_driver"], m["containers_at_start"],
                    m["loadavg_at_start"], m.get("loadavg_at_end", 0)))
    vv = m.get("versions", {})
    lines.append("versions: " + "; ".join("%s: %s" % (k, v) for k, v in vv.items() if v))
    if b.workloads or "W6" in a.workloads:
        lines.append("N=%d containers, %s, W5 = %d lists%s; cells: median s (min-max), peak RSS "
                     "of the largest process of the tool's tree, API requests (counting pass)"
                     % (a.n, "1 pass" if a.quick else "%d repetition(s) (ansible: %d)" % (
                         a.repeat, min(a.repeat, a.repeat_slow)), LIST_TIMES,
                        (", W6 = %d containers per node" % a.ssh_n) if "W6" in a.workloads else ""))
    else:
        lines.append("%s; cells: median s (min-max), peak RSS of the largest process of the "
                     "tool's tree, requests (bootstrap's own count, self)"
                     % ("1 pass" if a.quick else "%d repetition(s)" % a.repeat))
    if a.quick and b.workloads:
        lines.append("--quick: one pass, through the counting proxy; its times include the proxy")
    elif getattr(b, "merged", None):
        lines.append("%s: requests counted in its first timed repetition, through the counting "
                     "proxy (no pass of its own: minutes per chain; the proxy adds far under 1%%)"
                     % ", ".join(sorted(b.merged)))
    lines.append("")
    names = {"W1": "W1 deploy", "W2": "W2 no-op", "W3": "W3 change one", "W4": "W4 remove all",
             "W5": "W5 list x%d" % LIST_TIMES, "W6-5": "W6 no-op, 5 nodes (SSH)",
             "W6-1": "W6 no-op, 1 node (SSH)"}
    foot = []
    main_rows = [w for w in ["W1", "W2", "W3", "W4", "W5", "W6-5", "W6-1"]
                 if w.split("-")[0] in a.workloads]
    if main_rows:
        lines.append("| workload | " + " | ".join(cols) + " |")
        lines.append("|---|" + "---|" * len(cols))
    for w in main_rows:
        if w.split("-")[0] not in a.workloads:
            continue
        row = []
        for k in cols:
            t = next((t for t in b.tools if t.key == k), None)
            if t is not None and t.unavailable:
                row.append("skipped: " + t.unavailable)
            elif w.startswith("W6") and k not in ("floor", "bootstrap", "ansible"):
                row.append("-")
            elif w.startswith("W6") and b.ssh is not None and b.ssh.error and k in ("floor", "bootstrap", "ansible"):
                foot.append(b.ssh.error)
                row.append("FAIL [%d]" % len(foot) if k == "bootstrap" else "skipped: no nodes [%d]" % len(foot))
            elif w.startswith("W6") and k == "floor" and b.ssh is not None and b.ssh.floor_error:
                foot.append(b.ssh.floor_error)
                row.append("skipped [%d]" % len(foot))
            elif w.startswith("W6") and k == "ansible" and b.ssh is not None and b.ssh.ansible_error:
                foot.append(b.ssh.ansible_error)
                row.append("skipped [%d]" % len(foot))
            else:
                row.append(fmt_cell(summary.get(k, {}).get(w), foot))
        lines.append("| %s | %s |" % (names[w], " | ".join(row)))
    lines.append("")
    # ratios to the floor
    fl = summary.get("floor", {})
    f8 = summary.get("floor8", {})
    ref = {"W1": f8.get("W1"), "W4": f8.get("W4"), "W2": fl.get("W2"), "W3": fl.get("W3"),
           "W5": fl.get("W5")}
    refname = {"W1": "floor8", "W4": "floor8", "W2": "floor", "W3": "floor", "W5": "floor"}
    ratios = {}
    rcols = [k for k in cols if k not in ("floor", "floor8")]
    if any(ref.values()):
        lines.append("Ratio of medians to the engine floor (W1/W4: 8-way curl; W2, W3, W5: "
                     "sequential curl; sequential floor for W1/W4 in brackets):")
        lines.append("")
        lines.append("| workload | " + " | ".join(rcols) + " |")
        lines.append("|---|" + "---|" * len(rcols))
        for w in ["W1", "W2", "W3", "W4", "W5"]:
            if w not in a.workloads or not ref.get(w) or "median" not in ref[w]:
                continue
            row = []
            for k in rcols:
                r = summary.get(k, {}).get(w)
                if not r or "median" not in r:
                    row.append("-")
                    continue
                x = r["median"] / ref[w]["median"]
                ratios.setdefault(k, {})[w] = round(x, 3)
                cell = "%.2fx" % x
                if w in ("W1", "W4") and fl.get(w, {}).get("median"):
                    cell += " (%.2fx)" % (r["median"] / fl[w]["median"])
                if r.get("failed"):
                    cell += " *"
                row.append(cell)
            lines.append("| %s vs %s | %s |" % (w, refname[w], " | ".join(row)))
        lines.append("")
        if any("*" in ln for ln in lines[-8:]):
            lines.append("(* some repetitions failed: the ratio is of those that passed)")
            lines.append("")
    # bootstrap's targets
    targets = []
    bs = summary.get("bootstrap", {})
    co = summary.get("compose", {})

    def med(r):
        return r.get("median") if r else None

    def bfail(*ws):
        for w in ws:
            r = bs.get(w)
            if r and r.get("failed"):
                return "bootstrap's %s failed %d of %d: %s" % (
                    w, r["failed"], r["failed"] + r["ok"], (r.get("errors") or ["?"])[0][:160])
        return None

    def target(name, value, limit, ok_extra=None, detail="", ws=()):
        if bfail(*ws):
            targets.append((name, "missed", bfail(*ws)))
            return
        if value is None:
            targets.append((name, "n/a", detail or "not measured"))
            return
        met = value <= limit and (ok_extra is None or ok_extra)
        targets.append((name, "met" if met else "missed", detail))

    for w, lim in (("W1", 1.05), ("W4", 1.05)):
        if w not in a.workloads:
            continue
        b_, f_, c_ = med(bs.get(w)), med(f8.get(w)), med(co.get(w))
        x = b_ / f_ if b_ and f_ else None
        faster = (b_ < c_) if b_ and c_ else None
        target("%s <= %.2fx 8-way floor and faster than compose" % (w, lim), x, lim,
               faster if faster is not None else True,
               ("%.2fx floor8; %.3f s vs compose %s" % (x, b_, "%.3f s" % c_ if c_ else "n/a"))
               if x else "", ws=(w,))
    for w, lim in (("W2", 1.5), ("W3", 1.15)):
        if w not in a.workloads:
            continue
        b_, f_ = med(bs.get(w)), med(fl.get(w))
        x = b_ / f_ if b_ and f_ else None
        target("%s <= %.2fx floor" % (w, lim), x, lim, None, "%.2fx" % x if x else "", ws=(w,))
    if "W6" in a.workloads:
        b5, b1 = med(bs.get("W6-5")), med(bs.get("W6-1"))
        x = b5 / b1 if b5 and b1 else None
        target("W6 5 nodes <= 2x 1 node", x, 2.0, None,
               "%.2fx (%.3f s vs %.3f s)" % (x, b5, b1) if x else "", ws=("W6-5", "W6-1"))
        # what plain SSH reaches here: not a target, a yardstick for the one above
        f5, f1 = fl.get("W6-5"), fl.get("W6-1")
        if f5 or f1:
            name = "W6 SSH floor (ssh true on each node)"
            if med(f5) and med(f1):
                detail = "5 nodes %.2fx 1 node (%.3f s vs %.3f s)" % (
                    med(f5) / med(f1), med(f5), med(f1))
                if b5:
                    detail += "; bootstrap's 5 nodes %.2fx the floor's" % (b5 / med(f5))
            else:
                detail = "n/a"
            bad = [r for r in (f5, f1) if r and r.get("failed")]
            if bad:
                detail += " (failed %d of %d: %s)" % (
                    sum(r["failed"] for r in bad), sum(r["failed"] + r["ok"] for r in bad),
                    (bad[0].get("errors") or ["?"])[0][:160])
            targets.append((name, None, detail))
    rss = [bs.get(w, {}).get("rss_mb") for w in ("W1", "W2", "W3", "W4")
           if bs.get(w) and not bs[w].get("failed") and bs[w].get("rss_mb")]
    if "W7" in a.workloads:
        report_w7(b, summary, lines, foot, ratios)
    if any(w in a.workloads for w in ("W1", "W2", "W3", "W4")):
            target("peak RSS < 10 MB (one node, %d containers, W1-W4)" % a.n,
               max(rss) if rss else None, 9.9999, None, "%.1f MB" % max(rss) if rss else "")
    if targets:
        lines.append("bootstrap's targets:")
        lines.append("")
    for name, st, detail in targets:
        if st is None:  # a figure beside the targets, not one
            lines.append("- %s: %s" % (name, detail))
            continue
        lines.append("- %s: **%s**%s" % (name, st, (" (%s)" % detail) if detail else ""))
    if targets:
        lines.append("")
    if foot:
        lines.append("Notes:")
        lines.append("")
        for i, f in enumerate(foot, 1):
            lines.append("[%d] %s" % (i, f))
        lines.append("")
    for n in b.notes:
        lines.append("- " + n)
    return "\n".join(lines) + "\n", ratios, targets


def report_w7(b, summary, lines, foot, ratios):
    """W7's table (each workload through the delay and on loopback) and
    its ratios: latency over loopback, and the no-op over `ssh true`."""
    a, w7 = b.args, b.w7
    rtt = 2 * a.latency_ms
    want = w7.want if w7 else set()
    cols = [k for k in W7_COLUMNS if k.rstrip("8") in want]
    if not cols:
        return
    lines.append("W7: one SSH node, %d containers, through delay.py (%d ms each way, %d ms "
                 "round trip) and on loopback; floor: OpenSSH's `ssh true` (no-op rows); "
                 "docker: the docker CLI over ssh://, one container at a time; docker8: "
                 "8 at a time (xargs -P8); ansible: ansible-playbook over SSH, "
                 "community.docker's modules on the node, pipelining, a control master new "
                 "for each run (ControlPersist)" % (a.w7_n, a.latency_ms, rtt))
    lines.append("")
    lines.append("| workload | " + " | ".join(cols) + " |")
    lines.append("|---|" + "---|" * len(cols))

    def title(w, link):
        what = W7_NAMES[w] % a.w7_n if "%" in W7_NAMES[w] else W7_NAMES[w]
        return "W7 %s %s" % (what, "@%dms" % rtt if link == "lat" else "loopback")

    for w in W7_STEPS:
        for link in W7_LINKS:
            row = []
            for k in cols:
                if (k == "floor" and w != "W2") or (k == "docker8" and w in ("W2", "W3")):
                    row.append("-")
                elif w7.error:
                    foot.append(w7.error)
                    row.append("FAIL [%d]" % len(foot) if k == "bootstrap"
                               else "skipped: no node [%d]" % len(foot))
                else:
                    row.append(fmt_cell(summary.get(k, {}).get(w7_key(w, link)), foot))
            lines.append("| %s | %s |" % (title(w, link), " | ".join(row)))
    lines.append("")

    def med(k, w, link):
        r = summary.get(k, {}).get(w7_key(w, link))
        return r.get("median") if r else None

    rcols = [k for k in cols if k != "floor"]
    lines.append("W7 ratios of medians: at %d ms round trip over loopback; the no-op over "
                 "`ssh true` on the same link:" % rtt)
    lines.append("")
    lines.append("| workload | " + " | ".join(rcols) + " |")
    lines.append("|---|" + "---|" * len(rcols))
    for w in W7_STEPS:
        row = []
        for k in rcols:
            x, y = med(k, w, "lat"), med(k, w, "lo")
            if x and y:
                ratios.setdefault(k, {})["W7-%s lat/lo" % w] = round(x / y, 3)
                row.append("%.2fx (+%.3f s)" % (x / y, x - y))
            else:
                row.append("-")
        lines.append("| %s: %d ms / loopback | %s |" % (title(w, "lat").split(" @")[0], rtt,
                                                       " | ".join(row)))
    for link in W7_LINKS:
        f = med("floor", "W2", link)
        row = []
        for k in rcols:
            x = med(k, "W2", link)
            if x and f:
                ratios.setdefault(k, {})["W7-W2@%s/ssh true" % link] = round(x / f, 3)
                row.append("%.2fx" % (x / f))
            else:
                row.append("-")
        lines.append("| %s / ssh true (%s) | %s |" % (
            title("W2", link), "%.3f s" % f if f else "n/a", " | ".join(row)))
    lines.append("")


# ---------------------------------------------------------------- main

def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="bootstrap against docker, compose, libcloud and ansible (issue 7)",
        epilog="Run through bench/run.sh to install the peers first.")
    ap.add_argument("--n", type=int, default=50, help="containers (default 50)")
    ap.add_argument("--repeat", type=int, default=3, help="repetitions (default 3)")
    ap.add_argument("--repeat-slow", type=int, default=None,
                    help="repetitions for ansible, the slow one (default 1: it takes minutes "
                         "per repetition; its times vary less than its gap to the others)")
    ap.add_argument("--tools", default=",".join(ALL_TOOLS),
                    help="comma-separated, from " + ",".join(ALL_TOOLS))
    ap.add_argument("--workloads", default=",".join(ALL_WORKLOADS),
                    help="comma-separated, from " + ",".join(KNOWN_WORKLOADS) +
                         " (default: all but W7)")
    ap.add_argument("--out", default=os.path.join("bench", "results", "latest.json"),
                    help="result file (JSON; a .md with the table beside it); relative paths "
                         "are from the repository")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: n=5, no W6, one repetition that also counts requests "
                         "(through the proxy)")
    ap.add_argument("--no-install", action="store_true",
                    help="(for run.sh: do not install packages; ignored here)")
    ap.add_argument("--no-count", action="store_true", help="count no requests")
    ap.add_argument("--separate-count-slow", action="store_true",
                    help="give ansible a counting pass of its own too (default: its first "
                         "timed repetition counts)")
    ap.add_argument("--ssh-n", type=int, default=None,
                    help="W6 containers per node (default N/5: the N containers over 5 nodes, "
                         "and the same per-node load on the 1-node run)")
    ap.add_argument("--keep-nodes", action="store_true",
                    help="keep W6's local nodes at exit (a next run skips their setup)")
    ap.add_argument("--latency-ms", type=int, default=50,
                    help="W7: one-way delay delay.py adds (default 50: a 100 ms round trip)")
    ap.add_argument("--w7-n", type=int, default=None,
                    help="W7: containers on its one node (default %d; 5 with --quick)" % W7_N)
    ap.add_argument("--build", action="store_true", help="run make before the run")
    ap.add_argument("--engine-sock", default="/var/run/docker.sock")
    ap.add_argument("--work", default=os.path.join(HERE, "work"),
                    help="generated files and logs (default bench/work)")
    a = ap.parse_args(argv)
    if a.quick:
        # one pass, through the counting proxy: its times stand for the run
        a.n, a.repeat, a.no_count = 5, 1, False
        a.w7_n = a.w7_n or 5
        a.workloads = ",".join(w for w in a.workloads.split(",") if w != "W6")
    a.tools = [t.strip() for t in a.tools.split(",") if t.strip()]
    a.workloads = [w.strip().upper() for w in a.workloads.split(",") if w.strip()]
    for t in a.tools:
        if t not in ALL_TOOLS:
            ap.error("unknown tool %s" % t)
    for w in a.workloads:
        if w not in KNOWN_WORKLOADS:
            ap.error("unknown workload %s" % w)
    if a.ssh_n is None:
        a.ssh_n = max(1, a.n // SSH_NODES)
    if a.w7_n is None:
        a.w7_n = W7_N
    if not 1 <= a.w7_n <= 999 or a.latency_ms < 0:
        ap.error("--w7-n must be 1..999 and --latency-ms at least 0")
    if a.repeat_slow is None:
        a.repeat_slow = min(a.repeat, 1)
    if not 1 <= a.n <= 999:
        ap.error("--n must be 1..999")
    if not os.path.isabs(a.out):
        a.out = os.path.join(REPO, a.out)
    a.work = os.path.abspath(a.work)
    return a


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    b = Bench(args)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)  # also when started with SIGINT ignored (in background)
    interrupted = False
    try:
        b.main()
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: cleaning up")
    finally:
        try:
            b.finish()
        except KeyboardInterrupt:
            b.finish()
    if not hasattr(b, "meta"):
        return 130 if interrupted else 1
    summary = summarise(b)
    text, ratios, targets = report(b, summary)
    if interrupted:
        text = "(interrupted: partial results)\n\n" + text
    sys.stdout.write(text)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    doc = {"machine": b.meta, "config": {k: v for k, v in vars(args).items() if k not in ("work", "out")},
           "definitions": {
               "floor": "curl --unix-socket per container: create+start (W1), one filtered list "
                        "(W2), forced delete+create+start (W3), forced delete (W4), 20 lists (W5); "
                        "sequential; W6: OpenSSH's ssh running true on each node, all at once",
               "floor8": "the same W1/W4 with xargs -P8",
               "requests": "HTTP requests counted by proxy.py in one untimed pass",
               "rss_mb": "peak RSS (ru_maxrss from wait4) of the largest process of the tree"},
           "summary": summary, "ratios": ratios,
           "targets": [{"target": n, "status": s, "detail": d} for n, s, d in targets
                       if s is not None],
           "notes": b.notes, "samples": b.samples, "interrupted": interrupted}
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)
    with open(os.path.splitext(args.out)[0] + ".md", "w") as f:
        f.write(text)
    log("wrote %s" % os.path.relpath(args.out, REPO))
    failed = any(not s.get("ok") for s in b.samples)
    return 130 if interrupted else (1 if failed else 0)


if __name__ == "__main__":
    sys.exit(main())
