#!/usr/bin/env python3
"""scale.py - bootstrap on 1 to 100 simulated SSH nodes (issue 19, item 4).

One local node (provider local, project bench-scale-host) is the machine;
inside it, one extra sshd per simulated node listens on its own port
(2201, 2202, ...), each in its own mount namespace with its own
/var/lib/bootstrap (so each simulated node has its own node lock and
audit log, as separate machines would), all sharing the node's one
dockerd. A recipe of K nodes names them `address: NODE_IP, port: 22NN`
(provider static); each node gets its own containers (`nodes: [nKK]`,
CONTAINERS_PER_NODE of them), since containers are named PROJECT-NAME-R
on the one engine they share.

Per scale K (default 1, 10, 25, 50), per repetition:
  apply     deploy from nothing          no-op     the same again
  change    one container's env changed  destroy   remove all
each timed (wall clock), with bootstrap's peak RSS (GNU time's %M), its
user+sys CPU time (wait4), and, sampled every 10 ms from /proc, its peak
thread count, open sockets and open descriptors; each checked against the node's
engine (the right containers, running, the same IDs after a no-op,
exactly one replaced, none left). The SSH floor: OpenSSH's `ssh true` on
each of the K nodes, --parallel at a time (xargs -P).

    bench/scale.py                       # 1, 10, 25, 50 nodes, 3 repetitions
    bench/scale.py --scales 1,10 --repeat 1
    bench/scale.py --keep                # keep the host node for a next run
    bench/scale.py --w8                  # W8: 1, 5, 20 nodes behind delay.py, with peers

W8 (--w8, issue 19): the same simulated nodes, each behind its own port of
one delay.py (--latency-ms each way, default 50); per scale (default 1, 5,
20): the floor (`ssh true` on each node at once), then bootstrap
(--parallel 8), Ansible (forks 8, pipelining, a control master new for
each run) and the docker CLI over ssh:// (8 commands at a time) each
deploy --w8-n containers per node, re-run (no-op) and remove them, every
run checked against the node's engine. Writes bench/results/w8.md/.json.

Writes bench/results/scale.md and scale.json (--out). Python 3 standard
library only; paths are found from this file's place.
"""
import argparse
import datetime
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
IMAGE = "local/busybox:1"
NODE_IMAGE = "bootstrap/node:bookworm"
HOST_PROJECT = "bench-scale-host"
HOST_NODE = HOST_PROJECT + "-n"
PORT0 = 2200                 # simulated node k listens on PORT0 + k
CONTAINERS_PER_NODE = 2
STEPS = ["apply", "noop", "change", "destroy"]
# bootstrap -v: "n01: SSH: 13 round trips, 1 channel(s) to the engine, 7336 bytes sent, 9369 received"
SSH_LINE = re.compile(r"SSH: (\d+) round trips, (\d+) channel\(s\) to the engine, (\d+) bytes sent, "
                      r"(\d+) received")
TIME_BIN = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
sys.path.insert(0, HERE)
# the process helpers (and the set of children killed at exit) are bench.py's
from bench import _children, kill_group, last_lines, run_plain  # noqa: E402
# W8's Ansible: bench.py's playbooks and its SSH settings (W7's)
from bench import (ANSIBLE_DOWN, ANSIBLE_NODE_PYTHON, ANSIBLE_UP, ansible_result,  # noqa: E402
                   ansible_ssh_env, close_control_masters)
from bench import ansible_env as bench_ansible_env  # noqa: E402

_t0 = time.time()


def log(msg):
    sys.stderr.write("[scale %6.1fs] %s\n" % (time.time() - _t0, msg))
    sys.stderr.flush()


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


# ---------------------------------------------------------------- /proc sampling

def find_child(ppid):
    """The first process whose parent is ppid, or None."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
            if int(st[st.rindex(")") + 2:].split()[1]) == ppid:
                return int(d)
        except (OSError, ValueError):
            continue
    return None


class Sampler(threading.Thread):
    """Peak threads, open sockets and open descriptors of the process GNU time runs (the
    child of pid), every `every` seconds until stopped."""

    def __init__(self, pid, wrapped, every=0.01):
        super().__init__(daemon=True)
        self.pid, self.wrapped, self.every = pid, wrapped, every
        self.threads = 0
        self.sockets = 0
        self.fds = 0
        self.samples = 0
        self.stop = threading.Event()

    def run(self):
        target = None
        while not self.stop.is_set():
            if target is None:
                target = find_child(self.pid) if self.wrapped else self.pid
            if target is not None:
                try:
                    with open("/proc/%d/status" % target) as f:
                        for ln in f:
                            if ln.startswith("Threads:"):
                                self.threads = max(self.threads, int(ln.split()[1]))
                    n = 0
                    fds = os.listdir("/proc/%d/fd" % target)
                    self.fds = max(self.fds, len(fds))
                    for fd in fds:
                        try:
                            if os.readlink("/proc/%d/fd/%s" % (target, fd)).startswith("socket:"):
                                n += 1
                        except OSError:
                            pass
                    self.sockets = max(self.sockets, n)
                    self.samples += 1
                except (OSError, ValueError):
                    pass
            self.stop.wait(self.every)


def run_measured(argv, cwd, timeout, logbase, env=None):
    """Wall time, peak RSS (GNU time's %M, else wait4), user+sys CPU
    (wait4), peak threads and sockets (sampled); stdout/stderr in
    logbase.out/.err."""
    rss_path = logbase + ".rss"
    if TIME_BIN:
        if os.path.exists(rss_path):
            os.unlink(rss_path)
        argv = [TIME_BIN, "-f", "%M", "-o", rss_path, "--"] + list(argv)
    r = {}
    with open(logbase + ".out", "wb") as out, open(logbase + ".err", "wb") as err:
        fired = []
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        _children.add(p.pid)
        sampler = Sampler(p.pid, bool(TIME_BIN))
        sampler.start()
        timer = threading.Timer(timeout, lambda: (fired.append(1), kill_group(p.pid)))
        timer.daemon = True
        timer.start()
        try:
            _, status, ru = os.wait4(p.pid, 0)
        finally:
            t1 = time.perf_counter()
            timer.cancel()
            sampler.stop.set()
            sampler.join(5)
            kill_group(p.pid)
            _children.discard(p.pid)
    r["seconds"] = t1 - t0
    r["rss_mb"] = ru.ru_maxrss / 1024.0
    if TIME_BIN:
        try:
            with open(rss_path) as f:
                r["rss_mb"] = int(f.read().split()[-1]) / 1024.0
        except (OSError, ValueError, IndexError):
            pass
    # GNU time's own CPU is a few ms; wait4 covers the tree (bootstrap only)
    r["cpu_s"] = ru.ru_utime + ru.ru_stime
    r["threads"] = sampler.threads
    r["sockets"] = sampler.sockets
    r["fds"] = sampler.fds
    r["rc"] = os.waitstatus_to_exitcode(status)
    r["timed_out"] = bool(fired)
    with open(logbase + ".out", "rb") as f:
        r["out"] = f.read().decode(errors="replace")
    with open(logbase + ".err", "rb") as f:
        r["err"] = f.read().decode(errors="replace")
    return r


# ---------------------------------------------------------------- the bench

class Scale:
    def __init__(self, a):
        self.a = a
        self.bin = os.path.abspath(a.bootstrap)
        self.work = os.path.join(HERE, "work", "scale")
        self.logs = os.path.join(self.work, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.key = os.path.join(self.work, "id_ed25519")
        self.host_known_hosts = os.path.join(self.work, "host_known_hosts")
        self.known_hosts = os.path.join(self.work, "known_hosts")
        self.ip = None
        self.per_node = CONTAINERS_PER_NODE
        self.state = {}
        self.samples = []
        self.notes = []
        self.load = []

    # -- the host node and its sshd instances
    def docker(self, *args, timeout=120, input_=None):
        return run_plain(["docker", "-H", "unix://" + self.a.engine_sock] + list(args),
                         timeout, input_=input_)

    def node_sh(self, script, timeout=120):
        return self.docker("exec", HOST_NODE, "sh", "-c", script, timeout=timeout)

    def host_recipe(self):
        return write(os.path.join(self.work, "host.yaml"), "\n".join([
            "version: 1", "project: %s" % HOST_PROJECT,
            "provider: {type: local, engine: 'unix://%s'}" % self.a.engine_sock,
            "ssh: {user: root, key: '%s', known_hosts: '%s'}" % (self.key, self.host_known_hosts),
            "nodes:", "  - name: n"]) + "\n")

    def setup(self):
        """None, or why the simulated nodes cannot be had."""
        if not os.access(self.bin, os.X_OK):
            return "no bootstrap binary at %s (make)" % self.bin
        rc, _, _ = self.docker("image", "inspect", NODE_IMAGE)
        if rc != 0:
            return "no %s (make node-image)" % NODE_IMAGE
        if not os.path.exists(self.key):
            rc, _, err = run_plain(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                                    "bootstrap-bench-scale", "-f", self.key], 60)
            if rc != 0:
                return "ssh-keygen: " + last_lines(err)
        rc, out, _ = self.docker("ps", "-q", "--filter", "name=^/%s$" % HOST_NODE)
        if not out.strip():
            for f in (self.host_known_hosts, self.known_hosts):
                if os.path.exists(f):
                    os.unlink(f)  # a new node has new host keys
        log("setup: the host node (bootstrap, provider local; untimed)")
        rc, out, err = run_plain([self.bin, "--json", self.host_recipe()], 1800, cwd=self.work)
        if rc != 0:
            return "host node: " + last_lines(out + err)
        rc, out, err = self.docker("inspect", "-f",
                                   "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                                   HOST_NODE)
        ips = out.split()
        if rc != 0 or not ips:
            return "no IP address for %s: %s" % (HOST_NODE, last_lines(err))
        self.ip = ips[0]
        # the image in the node's engine before any run (bootstrap would copy it)
        rc, _, _ = self.node_sh("docker image inspect %s >/dev/null 2>&1" % IMAGE)
        if rc != 0:
            rc, out, err = run_plain(["sh", "-c", "docker -H unix://%s save %s | docker -H unix://%s "
                                      "exec -i %s docker load" % (self.a.engine_sock, IMAGE,
                                                                  self.a.engine_sock, HOST_NODE)],
                                     300)
            if rc != 0:
                return "loading %s into the node: %s" % (IMAGE, last_lines(out + err))
        self.remove_on_node()  # an interrupted run's
        n = max(self.a.scales)
        log("setup: %d sshd on %s:%d-%d, each with its own /var/lib/bootstrap" % (
            n, self.ip, PORT0 + 1, PORT0 + n))
        # each sshd daemonizes inside its own mount namespace, where a
        # directory of its own is bind-mounted over /var/lib/bootstrap:
        # the node lock and audit log are per simulated node
        script = (
            "set -e\n"
            "for p in $(seq %d %d); do\n"
            "  pf=/run/bs-scale-$p.pid\n"
            "  if [ -f $pf ] && kill -0 $(cat $pf) 2>/dev/null; then continue; fi\n"
            "  mkdir -p /var/lib/bs-scale/$p\n"
            "  unshare -m --propagation private sh -c \"mount --bind /var/lib/bs-scale/$p "
            "/var/lib/bootstrap && exec /usr/sbin/sshd -p $p -o PidFile=$pf "
            "-o MaxStartups=100:30:200\"\n"
            "done\n" % (PORT0 + 1, PORT0 + n))
        rc, out, err = self.node_sh(script, timeout=300)
        if rc != 0:
            return "starting the sshd instances: " + last_lines(out + err)
        deadline = time.time() + 60
        waiting = list(range(PORT0 + 1, PORT0 + n + 1))
        while waiting and time.time() < deadline:
            still = []
            for p in waiting:
                try:
                    with socket.create_connection((self.ip, p), timeout=2) as s:
                        s.settimeout(5)
                        if not s.recv(64).startswith(b"SSH-"):
                            still.append(p)
                except OSError:
                    still.append(p)
            waiting = still
            if waiting:
                time.sleep(0.5)
        if waiting:
            return "sshd not answering on ports %s" % ",".join(map(str, waiting[:5]))
        return None

    def teardown(self):
        self.remove_on_node()
        if self.a.keep:
            log("--keep: the host node %s stays" % HOST_NODE)
            return
        log("teardown: destroying the host node")
        rc, out, err = run_plain([self.bin, "--json", "destroy", self.host_recipe()], 900,
                                 cwd=self.work)
        if rc != 0:
            log("teardown: bootstrap destroy failed: %s" % last_lines(out + err))
        rc, out, _ = self.docker("ps", "-aq", "--filter", "label=io.bootstrap.project=" + HOST_PROJECT)
        for cid in out.split():
            self.docker("rm", "-f", "-v", cid)

    def remove_on_node(self):
        self.node_sh("ids=$(docker ps -aq --filter label=bench=bench-scale); "
                     "[ -z \"$ids\" ] || docker rm -f $ids >/dev/null", timeout=300)

    # -- recipes
    def nodes(self, k):
        return ["n%02d" % i for i in range(1, k + 1)]

    def cnames(self, k):
        """{container name on the engine: (recipe container, node)}"""
        out = {}
        for nd in self.nodes(k):
            for j in range(self.per_node):
                c = "%s-%s" % (nd, chr(ord("a") + j))
                out["%s-%s-1" % (self.project(k), c)] = (c, nd)
        return out

    def target(self, k):
        """The container `change` changes: the first of the middle node."""
        return "%s-a" % self.nodes(k)[(k - 1) // 2]

    def project(self, k):
        return "bench-scale-%d" % k

    def addr(self, i):
        """Where the recipe reaches simulated node i: (host, port)."""
        return self.ip, PORT0 + i

    def recipe_path(self, k):
        return os.path.join(self.work, "scale-%d.yaml" % k)

    def recipe(self, k, changed):
        lines = ["version: 1", "project: %s" % self.project(k), "provider: {type: static}",
                 "ssh: {user: root, key: '%s', known_hosts: '%s', host_keys: accept-new}"
                 % (self.key, self.known_hosts), "nodes:"]
        for i, nd in enumerate(self.nodes(k), 1):
            host, port = self.addr(i)
            lines += ["  - name: %s" % nd, "    address: %s" % host, "    port: %d" % port]
        lines += ["images:", "  - name: %s" % IMAGE, "    pull: never", "containers:"]
        for c, nd in sorted(self.cnames(k).values()):
            lines += ["  - name: %s" % c, "    image: %s" % IMAGE,
                      '    command: [sleep, "1000000"]',
                      '    environment: {K: "%s"}' % ("changed" if changed and c == self.target(k)
                                                       else "v-" + c),
                      '    labels: {bench: "bench-scale"}',
                      "    nodes: [%s]" % nd,
                      "    stop_timeout: 0s", "    update: {monitor: 0s}", "    network: bridge"]
        return "\n".join(lines) + "\n"

    # -- checks against the node's engine
    def engine_view(self, k):
        rc, out, err = self.node_sh(
            "docker ps -a --no-trunc --filter label=io.bootstrap.project=%s --format "
            "'{{.Names}} {{.ID}} {{.State}} {{.Label \"io.bootstrap.node\"}}'" % self.project(k))
        if rc != 0:
            return None, "node: " + last_lines(err)
        view = {}
        for ln in out.splitlines():
            f = ln.split()
            if len(f) >= 3:
                view[f[0]] = (f[1], f[2], f[3] if len(f) > 3 else "")
        return view, None

    def env_of(self, name):
        rc, out, _ = self.node_sh("docker inspect -f '{{json .Config.Env}}' %s" % shlex.quote(name))
        try:
            return json.loads(out) if rc == 0 else []
        except ValueError:
            return []

    def check(self, k, step):
        view, e = self.engine_view(k)
        if e:
            return [e]
        if step == "destroy":
            self.state.pop(k, None)
            return ["%d containers left" % len(view)] if view else []
        want = self.cnames(k)
        errs = []
        if set(view) != set(want):
            errs.append("%d containers (want %d)" % (len(view), len(want)))
        notrun = sorted(n for n, v in view.items() if v[1] != "running")
        if notrun:
            errs.append("%d not running (%s)" % (len(notrun), ",".join(notrun[:3])))
        wrongnode = sorted(n for n, v in view.items() if n in want and v[2] != want[n][1])
        if wrongnode:
            errs.append("%d with another node's label (%s)" % (len(wrongnode), ",".join(wrongnode[:3])))
        before = self.state.get(k)
        if step in ("noop", "change") and before:
            changed = sorted(n for n in want if view.get(n, ("?",))[0] != before.get(n, ("?",))[0])
            expect = [] if step == "noop" else ["%s-%s-1" % (self.project(k), self.target(k))]
            if changed != expect:
                errs.append("replaced %s, want %s" % (",".join(changed[:4]) or "none",
                                                      ",".join(expect) or "none"))
        if step == "change":
            env = self.env_of("%s-%s-1" % (self.project(k), self.target(k)))
            if "K=changed" not in env:
                errs.append("the changed container's env is %s" % env)
        if not errs:
            self.state[k] = view
        return errs

    # -- one timed run
    def run_step(self, k, step, rep, parallel):
        if step in ("apply", "change"):
            write(self.recipe_path(k), self.recipe(k, step == "change"))
        # -v: one line per node on stderr (SSH round trips, channels, bytes)
        argv = [self.bin, "--json", "-v", "--parallel", str(parallel)]
        argv += (["destroy"] if step == "destroy" else []) + [self.recipe_path(k)]
        lb = os.path.join(self.logs, "r%d-k%d-p%d-%s" % (rep, k, parallel, step))
        timeout = 120 + 10 * k
        s = run_measured(argv, self.work, timeout, lb)
        errs, warns = [], []
        if s["timed_out"]:
            errs.append("timeout after %ds" % timeout)
        elif s["rc"] != 0:
            errs.append("exit %s: %s" % (s["rc"], last_lines(s["err"] or s["out"])))
        summary, nodes_done = None, 0
        for ln in s["out"].splitlines():
            try:
                ev = json.loads(ln)
            except ValueError:
                continue
            if ev.get("event") == "summary":
                summary = ev
            elif ev.get("event") == "node_done" and not ev.get("error"):
                nodes_done += 1
        per = [tuple(int(x) for x in mt.groups()) for mt in SSH_LINE.finditer(s["err"])]
        if not errs and len(per) != k:
            warns.append("%d SSH lines from -v (want %d)" % (len(per), k))
        n = k * self.per_node
        if not errs:
            if summary is None:
                warns.append("no summary line")
            else:
                c = summary.get("counts", {})
                want = {"apply": {"created": n, "failed": 0},
                        "noop": {"unchanged": n, "created": 0, "replaced": 0, "removed": 0},
                        "change": {"replaced": 1, "created": 0, "removed": 0},
                        "destroy": {"removed": n}}[step]
                bad = ["%s=%s (want %s)" % (x, c.get(x), v) for x, v in want.items() if c.get(x) != v]
                if bad:
                    errs.append("summary says " + ", ".join(bad))
            if nodes_done != k:
                errs.append("%d nodes done (want %d)" % (nodes_done, k))
        errs += self.check(k, step)
        return {"rep": rep, "nodes": k, "parallel": parallel, "workload": step,
                "containers": n, "seconds": round(s["seconds"], 4), "rss_mb": round(s["rss_mb"], 2),
                "cpu_s": round(s["cpu_s"], 3), "threads": s["threads"], "sockets": s["sockets"], "fds": s["fds"],
                "requests": summary.get("requests") if summary else None,
                "rt_node": round(statistics.mean(p[0] for p in per), 2) if per else None,
                "ch_node": round(statistics.mean(p[1] for p in per), 2) if per else None,
                "kb_node": round(statistics.mean(p[3] for p in per) / 1024.0, 2) if per else None,
                "rc": s["rc"], "ok": not errs, "errors": errs, "warnings": warns,
                "log": os.path.relpath(lb, REPO)}

    def floor(self, k, rep, parallel):
        """OpenSSH's `ssh true` on each of the k nodes, `parallel` at a time."""
        opts = " ".join("-o " + o for o in (
            "BatchMode=yes", "StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null",
            "LogLevel=ERROR", "ControlMaster=no", "ControlPath=none", "ConnectTimeout=10",
            "KexAlgorithms=curve25519-sha256"))
        ports = " ".join(str(PORT0 + i) for i in range(1, k + 1))
        script = write(os.path.join(self.work, "floor-%d-p%d.sh" % (k, parallel)),
                       "printf '%%s\\n' %s | xargs -P%d -I{} ssh -F /dev/null -i %s -p {} %s "
                       "root@%s true\n" % (ports, parallel, shlex.quote(self.key), opts, self.ip))
        lb = os.path.join(self.logs, "r%d-k%d-p%d-floor" % (rep, k, parallel))
        s = run_measured(["sh", script], self.work, 60 + 2 * k, lb)
        errs = []
        if s["timed_out"] or s["rc"] != 0:
            errs.append("exit %s: %s" % (s["rc"], last_lines(s["err"])))
        return {"rep": rep, "nodes": k, "parallel": parallel, "workload": "floor",
                "seconds": round(s["seconds"], 4), "cpu_s": round(s["cpu_s"], 3),
                "rss_mb": round(s["rss_mb"], 2), "ok": not errs, "errors": errs,
                "log": os.path.relpath(lb, REPO)}

    def chain(self, k, rep, parallel, with_floor=True):
        out = []
        if with_floor:
            r = self.floor(k, rep, parallel)
            out.append(r)
            log("rep%d k=%-3d p=%-2d %-8s %7.3fs %s" % (rep, k, parallel, "floor", r["seconds"],
                                                        "ok" if r["ok"] else "FAIL: " + "; ".join(r["errors"])))
        for step in STEPS:
            r = self.run_step(k, step, rep, parallel)
            out.append(r)
            log("rep%d k=%-3d p=%-2d %-8s %7.3fs %6.1fMB cpu %6.3fs thr %3d sock %3d fd %3d %s%s" % (
                rep, k, parallel, step, r["seconds"], r["rss_mb"], r["cpu_s"], r["threads"],
                r["sockets"], r["fds"], "ok" if r["ok"] else "FAIL: " + "; ".join(r["errors"]),
                (" (warn: %s)" % "; ".join(r["warnings"])) if r["warnings"] else ""))
            if not r["ok"]:
                self.remove_on_node()
                self.state.pop(k, None)
                break
        return out

    def run(self):
        self.load = [os.getloadavg()]
        for rep in range(1, self.a.repeat + 1):
            scales = self.a.scales if rep % 2 else self.a.scales[::-1]
            for k in scales:
                self.samples += self.chain(k, rep, self.a.parallel)
        if self.a.wide:
            k = self.a.wide_nodes
            for rep in range(1, self.a.wide_repeat + 1):
                self.samples += self.chain(k, rep, self.a.wide)
        self.load.append(os.getloadavg())


# ---------------------------------------------------------------- the report

FIGS = [("seconds", "wall s", "%.3f"), ("rss_mb", "peak RSS MB", "%.1f"),
        ("cpu_s", "CPU s", "%.3f"), ("threads", "threads", "%d"), ("sockets", "sockets", "%d"),
        ("fds", "fds", "%d"), ("rt_node", "SSH round trips/node", "%.1f"),
        ("ch_node", "channels/node", "%.1f"), ("kb_node", "KB received/node", "%.1f")]
NAMES = {"apply": "apply (deploy from nothing)", "noop": "no-op re-run",
         "change": "change one container's env", "destroy": "destroy (remove all)",
         "floor": "SSH floor: `ssh true` per node"}


def medians(samples, k, p, w):
    ok = [s for s in samples if s["nodes"] == k and s["parallel"] == p and s["workload"] == w
          and s.get("ok")]
    if not ok:
        return None
    m = {"n": len(ok)}
    for f, _, _ in FIGS:
        vals = [s[f] for s in ok if s.get(f) is not None]
        if vals:
            m[f] = statistics.median(vals)
            m[f + "_min"], m[f + "_max"] = min(vals), max(vals)
    return m


def slope(m, ka, kb, f):
    if m.get(ka) is None or m.get(kb) is None or f not in m[ka] or f not in m[kb]:
        return None
    return (m[kb][f] - m[ka][f]) / float(kb - ka)


def report(sc, started):
    a = sc.a
    scales = sorted(a.scales)
    lines = ["# bootstrap at scale: %s simulated SSH nodes (issue 19, item 4)" % ", ".join(map(str, scales)), "",
             "Run %s UTC on %s, %d CPUs; %d repetitions, `--parallel %d`; %d containers per node "
             "(`%s`, `sleep`, `stop_timeout: 0s`, `network: bridge`); medians (min-max). "
             "The nodes: one local node (`%s`), %d sshd on its own ports there, each in its own "
             "mount namespace (its own `/var/lib/bootstrap`: node lock, audit log), sharing the "
             "node's one dockerd; bootstrap reaches them over the docker bridge (no delay)."
             % (started, "this machine", os.cpu_count() or 0, a.repeat,
                a.parallel, CONTAINERS_PER_NODE, IMAGE, HOST_NODE, max(scales)), ""]
    bad = [s for s in sc.samples if not s.get("ok")]
    m = {}
    for w in STEPS + ["floor"]:
        m[w] = {k: medians(sc.samples, k, a.parallel, w) for k in scales}
    for w in STEPS + ["floor"]:
        figs = FIGS if w != "floor" else FIGS[:3]
        if w == "floor":
            figs = [(f, h if f != "rss_mb" else "peak RSS MB (one ssh)", fmt) for f, h, fmt in figs]
        lines += ["## %s" % NAMES[w], ""]
        head = "| nodes | " + " | ".join(h for _, h, _ in figs) + " |"
        lines += [head, "|" + "---|" * (len(figs) + 1)]
        for k in scales:
            r = m[w][k]
            if r is None:
                lines.append("| %d | " % k + " | ".join("FAIL" for _ in figs) + " |")
                continue
            cells = []
            for f, _, fmt in figs:
                if f not in r:
                    cells.append("-")
                elif r[f + "_min"] != r[f + "_max"]:
                    cells.append((fmt + " (" + fmt + "-" + fmt + ")") % (r[f], r[f + "_min"], r[f + "_max"]))
                else:
                    cells.append(fmt % r[f])
            lines.append("| %d | %s |" % (k, " | ".join(cells)))
        # growth per node between successive scales
        for ka, kb in zip(scales, scales[1:]):
            cells = []
            for f, _, fmt in figs:
                s = slope(m[w], ka, kb, f)
                cells.append("-" if s is None else ("%+.4f" % s if f in ("seconds", "cpu_s") else "%+.2f" % s))
            lines.append("| per node %d->%d | %s |" % (ka, kb, " | ".join(cells)))
        lines.append("")
    # linearity: each segment's growth per node over the first segment's
    if len(scales) >= 3:
        segs = list(zip(scales[1:], scales[2:]))
        lines += ["## Linearity", "",
                  "Growth per node of each later segment over that of the first (%d->%d nodes): "
                  "1.0 is linear; above 1, each node costs more than it did (a knee before that "
                  "segment); below 1, less (a fixed cost amortised, or a bound such as "
                  "`--parallel` reached)." % (scales[0], scales[1]), "",
                  "| workload | segment | " + " | ".join(h for _, h, _ in FIGS) + " |",
                  "|" + "---|" * (len(FIGS) + 2)]
        for w in STEPS:
            for ka, kb in segs:
                cells = []
                for f, _, _ in FIGS:
                    s1, s2 = slope(m[w], scales[0], scales[1], f), slope(m[w], ka, kb, f)
                    cells.append("-" if s1 is None or s2 is None or abs(s1) < 1e-9
                                 else "%.2f" % (s2 / s1))
                lines.append("| %s | %d->%d | %s |" % (w, ka, kb, " | ".join(cells)))
        lines.append("")
    # the targets, at 50 nodes (else the largest scale)
    kt = 50 if 50 in scales else scales[-1]
    lines += ["## Targets (issue 19) at %d nodes" % kt, ""]
    nm, fl = m["noop"].get(kt), m["floor"].get(kt)
    if nm and fl:
        x = nm["seconds"] / fl["seconds"]
        lines.append("- no-op at most 1.2x the SSH floor at the same parallelism: %s, %.2fx "
                     "(%.3f s vs %.3f s)" % ("met" if x <= 1.2 else "missed", x,
                                              nm["seconds"], fl["seconds"]))
    for w in STEPS:
        r = m[w].get(kt)
        if r:
            lines.append("- %s: peak RSS at most 40 MB: %s, %.1f MB" % (
                w, "met" if r["rss_mb"] <= 40 else "missed", r["rss_mb"]))
    if 10 in scales and kt != 10:
        for w in STEPS:
            r10, rt = m[w].get(10), m[w].get(kt)
            if r10 and rt:
                a10, at = r10["cpu_s"] / 10, rt["cpu_s"] / kt
                lines.append("- %s: CPU time per node flat from 10 to %d nodes (taken as at most "
                             "1.1x): %s, %.1f ms -> %.1f ms per node (%.2fx)" % (
                                 w, kt, "met" if at <= 1.1 * a10 else "missed",
                                 1000 * a10, 1000 * at, at / a10))
    lines.append("")
    # straight lines from the last segment, to 500 and 5,000 nodes
    if len(scales) >= 2:
        ka, kb = scales[-2], scales[-1]
        lines += ["## Extrapolation (arithmetic, not measured)", "",
                  "The value at %d nodes plus the growth per node of the last segment (%d->%d) "
                  "times the nodes beyond: what the same design would need if nothing else "
                  "changed (see bench/README.md for what this leaves out)." % (kb, ka, kb), "",
                  "| workload | nodes | peak RSS MB | CPU s | threads | sockets | fds |",
                  "|---|---|---|---|---|---|---|"]
        for w in ("apply", "noop"):
            for n in (500, 5000):
                cells = []
                for f, fmt in (("rss_mb", "%.0f"), ("cpu_s", "%.1f"), ("threads", "%.0f"),
                               ("sockets", "%.0f"), ("fds", "%.0f")):
                    sl = slope(m[w], ka, kb, f)
                    cells.append("-" if sl is None else fmt % (m[w][kb][f] + sl * (n - kb)))
                lines.append("| %s | %d | %s |" % (w, n, " | ".join(cells)))
        try:
            import resource
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        except (ImportError, ValueError, OSError):
            soft = None
        sl = slope(m["apply"], ka, kb, "fds")
        if sl:
            lines += ["", "Open descriptors grow by %.0f per node in apply: a soft `RLIMIT_NOFILE` of "
                      "1024 (a common default; this run's is %s) is reached at about %d nodes." % (
                          sl, soft, int((1024 - (m["apply"][kb]["fds"] - sl * kb)) / sl))]
        lines.append("")
    if a.wide:
        kmax = a.wide_nodes
        lines += ["## `--parallel %d` at %d nodes" % (a.wide, kmax), "",
                  "| workload | wall s, --parallel %d | wall s, --parallel %d | RSS MB | CPU s | threads | sockets | fds |"
                  % (a.parallel, a.wide), "|---|---|---|---|---|---|---|---|"]
        for w in ["floor"] + STEPS:
            r8, rw = m[w].get(kmax), medians(sc.samples, kmax, a.wide, w)
            if rw is None:
                lines.append("| %s | - | FAIL | | | | | |" % w)
                continue
            lines.append("| %s | %s | %.3f | %s | %.3f | %s | %s | %s |" % (
                w, "%.3f" % r8["seconds"] if r8 else "-", rw["seconds"],
                "%.1f" % rw["rss_mb"] if "rss_mb" in rw else "-", rw["cpu_s"],
                *["%g" % rw[f] if f in rw else "-" for f in ("threads", "sockets", "fds")]))
        lines.append("")
    if bad:
        lines += ["## Failures", ""]
        for s in bad:
            lines.append("- rep %d, %d nodes, --parallel %d, %s: %s" % (
                s["rep"], s["nodes"], s["parallel"], s["workload"], "; ".join(s["errors"])))
        lines.append("")
    lines += ["Threads, sockets, fds: bootstrap's peak `Threads:`, open socket descriptors and all open descriptors, "
              "sampled every 10 ms from /proc (a short peak can be missed). RSS: GNU time's %%M. "
              "CPU: user+sys from wait4 (bootstrap and GNU time). Checks: against the node's engine "
              "after every run (the K x %d containers, running, each with its node's label; the same "
              "IDs after the no-op; exactly the target replaced and its env new; none left), and "
              "bootstrap's `--json` summary counts and one node_done per node." % CONTAINERS_PER_NODE]
    lines.append("")
    if len(getattr(sc, "load", [])) == 2:
        lines.append("- load average (1, 5, 15 min) at the start %s and at the end %s: the machine "
                     "is shared, and every figure here includes that contention" % tuple(
                         "%.1f/%.1f/%.1f" % l for l in sc.load))
    for n in sc.notes:
        lines.append("- " + n)
    return "\n".join(lines) + "\n", m


# ---------------------------------------------------------------- W8 (latency, many nodes)

W8_STEPS = ["apply", "noop", "destroy"]
W8_TOOLS = ["bootstrap", "ansible", "docker"]
W8_LABEL = {"bootstrap": "bench-scale", "ansible": "bench-w8ansible", "docker": "bench-w8docker"}
W8_PREFIX = {"ansible": "bench-w8a", "docker": "bench-w8d"}
W8_TITLE = {"floor": "floor: `ssh true` on each node at once",
            "bootstrap": "bootstrap (--parallel 8)",
            "ansible": "Ansible (forks 8, pipelining, control master)",
            "docker": "docker CLI over ssh://, 8 commands at a time"}
W8_STEP = {"apply": "deploy", "noop": "no-op", "destroy": "remove all"}


class W8(Scale):
    """W8 (issue 19): the simulated nodes of Scale, each behind its own
    port of one delay.py process (--latency-ms each way); per scale K:
    the floor (`ssh true` on each node at once), then bootstrap, Ansible
    and the docker CLI each deploy --w8-n containers per node, re-run
    (no-op) and remove them, every run checked against the node's engine."""

    def __init__(self, a):
        super().__init__(a)
        self.per_node = a.w8_n
        self.wdir = os.path.join(HERE, "work", "w8")
        self.logs = os.path.join(self.wdir, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.known_hosts = os.path.join(self.wdir, "known_hosts")
        self.fwd = None
        self.fport = {}            # simulated node i -> the forwarder's port for it
        self.tools = [t for t in W8_TOOLS if t in a.tools]
        self.tool_error = {}       # tool -> why it cannot run
        self.peer_state = {}       # (tool, k) -> the engine's view after its last good step
        base = dict(os.environ)
        for v in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
            base.pop(v, None)
        base["LC_ALL"] = "C.UTF-8"
        self.base_env = base

    def addr(self, i):
        return "127.0.0.1", self.fport[i]

    def project(self, k):
        return "bench-w8-%d" % k

    def recipe_path(self, k):
        return os.path.join(self.wdir, "bootstrap-%d.yaml" % k)

    def remove_on_node(self):
        self.node_sh("ids=$(docker ps -aq --filter label=bench=bench-scale; "
                     "docker ps -aq --filter label=bench=bench-w8ansible; "
                     "docker ps -aq --filter label=bench=bench-w8docker); "
                     "[ -z \"$ids\" ] || docker rm -f $ids >/dev/null", timeout=300)

    # -- setup: the host node (Scale), delay.py, the peers' files
    def setup(self):
        if os.path.exists(self.known_hosts):
            os.unlink(self.known_hosts)  # the forwarder's ports are new
        err = super().setup()
        if err:
            return err
        n = max(self.a.scales)
        pf = os.path.join(self.wdir, "forwarder.ports")
        if os.path.exists(pf):
            os.unlink(pf)
        argv = [sys.executable, os.path.join(HERE, "delay.py"), "--delay-ms", str(self.a.latency_ms),
                "--port-file", pf, "--max-conns", "1000000", "--max-seconds", "86400"]
        for i in range(1, n + 1):
            argv += ["--map", "127.0.0.1:0=%s:%d" % (self.ip, PORT0 + i)]
        self.fwd = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                    stderr=open(os.path.join(self.logs, "delay.err"), "wb"),
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        _children.add(self.fwd.pid)
        ports = []
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                with open(pf) as f:
                    ports = [int(x) for x in f.read().split()]
            except (OSError, ValueError):
                ports = []
            if len(ports) == n:
                break
            time.sleep(0.05)
        if len(ports) != n:
            return "delay.py did not start (see %s)" % os.path.join(self.logs, "delay.err")
        self.fport = {i: ports[i - 1] for i in range(1, n + 1)}
        log("W8: delay.py, %d ms each way, 127.0.0.1:%d-... -> %s:%d-%d" % (
            self.a.latency_ms, ports[0], self.ip, PORT0 + 1, PORT0 + n))
        if "docker" in self.tools:
            self.docker_files()
        if "ansible" in self.tools:
            self.setup_ansible()
        for t, e in self.tool_error.items():
            log("W8: %s cannot run: %s" % (t, e))
        return None

    def teardown(self):
        if self.fwd is not None:
            if self.fwd.poll() is None:
                self.fwd.terminate()
                try:
                    self.fwd.wait(5)
                except subprocess.TimeoutExpired:
                    kill_group(self.fwd.pid)
                    self.fwd.wait(5)
            _children.discard(self.fwd.pid)
            self.fwd = None
        super().teardown()

    def docker_files(self):
        """The docker CLI's ssh helper has no option for a key and OpenSSH
        reads ~/.ssh/config from the passwd entry: an ssh first on PATH
        adds -F with the key, no host key check and the floor's key exchange."""
        if not shutil.which("docker"):
            self.tool_error["docker"] = "no docker CLI"
            return
        conf = write(os.path.join(self.wdir, "ssh_config"), "\n".join([
            "Host 127.0.0.1", "  User root", "  IdentityFile %s" % self.key,
            "  IdentitiesOnly yes", "  BatchMode yes", "  StrictHostKeyChecking no",
            "  UserKnownHostsFile /dev/null", "  LogLevel ERROR", "  ControlMaster no",
            "  ControlPath none", "  KexAlgorithms curve25519-sha256"]) + "\n")
        os.chmod(conf, 0o600)
        wrapper = write(os.path.join(self.wdir, "bin", "ssh"), '#!/bin/sh\nexec %s -F %s "$@"\n' % (
            shutil.which("ssh") or "/usr/bin/ssh", shlex.quote(conf)))
        os.chmod(wrapper, 0o755)

    def docker_env(self):
        e = dict(self.base_env)
        e["PATH"] = os.path.join(self.wdir, "bin") + ":" + e.get("PATH", "/usr/bin:/bin")
        e["DOCKER_CONFIG"] = os.path.join(self.wdir, "docker-config")
        e["DOCKER_CLI_HINTS"] = "false"
        return e

    def peer_names(self, tool, k):
        """{name on the engine: (node, env value)} of a peer's containers."""
        out = {}
        for nd in self.nodes(k):
            for j in range(self.per_node):
                name = "%s-%s-%s" % (W8_PREFIX[tool], nd, chr(ord("a") + j))
                out[name] = (nd, "v-%s-%s" % (nd, chr(ord("a") + j)))
        return out

    def setup_ansible(self):
        if not shutil.which("ansible-playbook"):
            self.tool_error["ansible"] = "ansible not installed"
            return
        write(os.path.join(self.wdir, "ansible-up.yml"), ANSIBLE_UP % {"image": IMAGE})
        write(os.path.join(self.wdir, "ansible-down.yml"), ANSIBLE_DOWN)
        for k in self.a.scales:
            hosts = {}
            for i, nd in enumerate(self.nodes(k), 1):
                hosts[nd] = {"ansible_host": "127.0.0.1", "ansible_port": self.fport[i],
                             "bench_containers": [
                                 {"name": name, "env": val}
                                 for name, (node, val) in sorted(self.peer_names("ansible", k).items())
                                 if node == nd]}
            # JSON is YAML: the yaml inventory plugin reads it
            write(self.inventory(k), json.dumps({"all": {"hosts": hosts, "vars": {
                "ansible_user": "root", "ansible_ssh_private_key_file": self.key,
                "bench_docker_host": "unix:///var/run/docker.sock",
                "bench_label": W8_LABEL["ansible"]}}}, indent=1) + "\n")
        # python3 and python3-requests in the node (one machine for every
        # simulated node), on the bridge, without the delay; untimed
        write(os.path.join(self.wdir, "ansible-setup.ini"), "\n".join([
            "[nodes]", "h ansible_host=%s ansible_port=%d" % (self.ip, PORT0 + 1), "",
            "[nodes:vars]", "ansible_user=root", "ansible_ssh_private_key_file=%s" % self.key]) + "\n")
        log("W8 setup: python3 and python3-requests in the node for Ansible (raw + apt-get; untimed)")
        env = self.ansible_env("setup")
        env["ANSIBLE_STDOUT_CALLBACK"] = "default"
        rc, out, err = run_plain(["ansible", "nodes", "-i", os.path.join(self.wdir, "ansible-setup.ini"),
                                  "-m", "raw", "-a", ANSIBLE_NODE_PYTHON], 1500, env=env)
        close_control_masters(env["ANSIBLE_SSH_CONTROL_PATH_DIR"])
        if rc != 0:
            self.tool_error["ansible"] = "installing python3 in the node failed: " + last_lines(out + err)

    def inventory(self, k):
        return os.path.join(self.wdir, "ansible-%d.yml" % k)

    def ansible_env(self, run_id):
        cp = os.path.join(self.wdir, "cp", run_id)  # a new control master for each run
        if os.path.isdir(cp):
            shutil.rmtree(cp, ignore_errors=True)
        os.makedirs(cp)
        e = bench_ansible_env(types.SimpleNamespace(base_env=self.base_env), ansible_ssh_env())
        e.update({"ANSIBLE_SSH_CONTROL_PATH_DIR": cp,
                  "ANSIBLE_LOCAL_TEMP": os.path.join(self.wdir, "ansible-tmp")})
        return e

    # -- checks of the peers, against the node's engine
    def label_view(self, label):
        rc, out, err = self.node_sh(
            "docker ps -a --no-trunc --filter label=bench=%s --format '{{.Names}} {{.ID}} {{.State}}'"
            % label)
        if rc != 0:
            return None, "node: " + last_lines(err)
        return {f[0]: (f[1], f[2]) for f in (ln.split() for ln in out.splitlines()) if len(f) >= 3}, None

    def check_peer(self, tool, k, step):
        view, e = self.label_view(W8_LABEL[tool])
        if e:
            return [e]
        if step == "destroy":
            self.peer_state.pop((tool, k), None)
            return ["%d containers left" % len(view)] if view else []
        want = self.peer_names(tool, k)
        errs = []
        if set(view) != set(want):
            missing, extra = sorted(set(want) - set(view)), sorted(set(view) - set(want))
            errs.append("%d containers (want %d)%s%s" % (
                len(view), len(want), "; missing " + ",".join(missing[:3]) if missing else "",
                "; unexpected " + ",".join(extra[:3]) if extra else ""))
        notrun = sorted(n for n, v in view.items() if v[1] != "running")
        if notrun:
            errs.append("%d not running (%s)" % (len(notrun), ",".join(notrun[:3])))
        before = self.peer_state.get((tool, k))
        if step == "noop" and before:
            changed = sorted(n for n in want if view.get(n, ("?",))[0] != before.get(n, ("?",))[0])
            if changed:
                errs.append("%d IDs changed (%s)" % (len(changed), ",".join(changed[:3])))
        if step == "apply" and not errs:
            name = sorted(want)[-1]  # the last node's last container: its env
            env = self.env_of(name)
            if "K=%s" % want[name][1] not in env:
                errs.append("%s env is %s" % (name, [x for x in env if x.startswith("K=")]))
        if not errs:
            self.peer_state[(tool, k)] = view
        return errs

    # -- the timed runs
    def sample(self, tool, k, step, rep, s, errs, timeout, extra=None):
        if s["timed_out"]:
            errs.insert(0, "timeout after %ds" % timeout)
        r = {"rep": rep, "nodes": k, "parallel": 8, "tool": tool, "workload": step,
             "containers": k * self.per_node, "seconds": round(s["seconds"], 4),
             "rss_mb": round(s["rss_mb"], 2), "cpu_s": round(s["cpu_s"], 3), "rc": s["rc"],
             "ok": not errs, "errors": errs, "warnings": []}
        r.update(extra or {})
        return r

    def floor_step(self, k, rep):
        """OpenSSH's `ssh true` on each of the k nodes, all at once, through delay.py."""
        opts = " ".join("-o " + o for o in (
            "BatchMode=yes", "StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null",
            "LogLevel=ERROR", "ControlMaster=no", "ControlPath=none", "ConnectTimeout=10",
            "KexAlgorithms=curve25519-sha256"))
        ports = " ".join(str(self.fport[i]) for i in range(1, k + 1))
        script = write(os.path.join(self.wdir, "floor-%d.sh" % k),
                       "printf '%%s\\n' %s | xargs -P%d -I{} ssh -F /dev/null -i %s -p {} %s "
                       "root@127.0.0.1 true\n" % (ports, k, shlex.quote(self.key), opts))
        lb = os.path.join(self.logs, "r%d-k%d-floor" % (rep, k))
        timeout = 60 + 2 * k
        s = run_measured(["sh", script], self.wdir, timeout, lb)
        errs = [] if s["rc"] == 0 or s["timed_out"] else ["exit %s: %s" % (s["rc"], last_lines(s["err"]))]
        return self.sample("floor", k, "noop", rep, s, errs, timeout)

    def bootstrap_step(self, k, step, rep):
        r = self.run_step(k, step, rep, 8)
        r["tool"] = "bootstrap"
        return r

    def ansible_step(self, k, step, rep):
        book = "ansible-down.yml" if step == "destroy" else "ansible-up.yml"
        env = self.ansible_env("r%d-k%d-%s" % (rep, k, step))
        argv = ["ansible-playbook", "-i", self.inventory(k), os.path.join(self.wdir, book)]
        lb = os.path.join(self.logs, "r%d-k%d-ansible-%s" % (rep, k, step))
        timeout = 300 + 30 * k
        s = run_measured(argv, self.wdir, timeout, lb, env=env)
        close_control_masters(env["ANSIBLE_SSH_CONTROL_PATH_DIR"])
        errs = []
        if not s["timed_out"]:
            try:
                stats, _ = ansible_result(s["out"])
                if sorted(stats) != self.nodes(k):
                    errs.append("a recap for %d hosts (want %d)" % (len(stats), k))
                bad = {h: v for h, v in stats.items() if v.get("failures") or v.get("unreachable")}
                if bad:
                    errs.append("failed: %s" % last_lines(json.dumps(bad), 1))
                changed = sorted(h for h, v in stats.items() if v.get("changed"))
                if step == "noop" and changed:
                    errs.append("the no-op changed %d hosts (%s)" % (len(changed), ",".join(changed[:3])))
                if step != "noop" and len(changed) != k:
                    errs.append("changed %d hosts (want %d)" % (len(changed), k))
            except ValueError:
                errs.append("exit %s, no JSON from the json callback: %s" % (
                    s["rc"], last_lines(s["err"] or s["out"])))
            if s["rc"] != 0 and not errs:
                errs.append("exit %s: %s" % (s["rc"], last_lines(s["err"] or s["out"])))
        errs += self.check_peer("ansible", k, step)
        return self.sample("ansible", k, step, rep, s, errs, timeout)

    def docker_step(self, k, step, rep):
        names = self.peer_names("docker", k)
        port = {nd: self.fport[i] for i, nd in enumerate(self.nodes(k), 1)}
        if step == "apply":
            rows = ["%d %s %s" % (port[nd], name, val) for name, (nd, val) in sorted(names.items())]
            body = ("printf '%%s\\n' %s | xargs -P8 -L1 sh -c 'DOCKER_HOST=ssh://root@127.0.0.1:$0 "
                    "docker run -d --pull never --name $1 --label bench=%s -e K=$2 %s sleep 1000000 "
                    ">/dev/null'\n" % (" ".join("'%s'" % r for r in rows), W8_LABEL["docker"], IMAGE))
        elif step == "noop":
            body = ("printf '%%s\\n' %s | xargs -P8 -I{} sh -c 'DOCKER_HOST=ssh://root@127.0.0.1:{} "
                    "docker ps -a --filter label=bench=%s >/dev/null'\n"
                    % (" ".join(str(port[nd]) for nd in self.nodes(k)), W8_LABEL["docker"]))
        else:
            rows = ["%d %s" % (port[nd], " ".join(sorted(n for n, (x, _) in names.items() if x == nd)))
                    for nd in self.nodes(k)]
            body = ("printf '%%s\\n' %s | xargs -P8 -L1 sh -c 'p=$0; DOCKER_HOST=ssh://root@127.0.0.1:$p "
                    "docker rm -f \"$@\" >/dev/null'\n" % " ".join("'%s'" % r for r in rows))
        script = write(os.path.join(self.wdir, "docker-%s-%d.sh" % (step, k)),
                       "set -euo pipefail\n" + body)
        lb = os.path.join(self.logs, "r%d-k%d-docker-%s" % (rep, k, step))
        timeout = 120 + 10 * k * self.per_node
        s = run_measured(["bash", script], self.wdir, timeout, lb, env=self.docker_env())
        errs = []
        if s["rc"] != 0 and not s["timed_out"]:
            errs.append("exit %s: %s" % (s["rc"], last_lines(s["err"] or s["out"])))
        errs += self.check_peer("docker", k, step)
        return self.sample("docker", k, step, rep, s, errs, timeout)

    def tool_chain(self, tool, k, rep):
        out = []
        broken = self.tool_error.get(tool)
        if broken:
            broken = "its setup: " + broken
        for step in W8_STEPS:
            if broken:
                out.append({"rep": rep, "nodes": k, "parallel": 8, "tool": tool, "workload": step,
                            "ok": False, "skipped": True, "errors": ["not run: %s" % broken]})
                continue
            r = {"bootstrap": self.bootstrap_step, "ansible": self.ansible_step,
                 "docker": self.docker_step}[tool](k, step, rep)
            out.append(r)
            log("rep%d k=%-3d %-9s %-8s %7.3fs %s%s" % (
                rep, k, tool, step, r["seconds"], "ok" if r["ok"] else "FAIL: " + "; ".join(r["errors"]),
                (" (warn: %s)" % "; ".join(r["warnings"])) if r.get("warnings") else ""))
            if not r["ok"]:
                broken = "%s failed" % step
                self.remove_on_node()
                self.state.pop(k, None)
                self.peer_state.pop((tool, k), None)
        return out

    def run(self):
        self.load = [os.getloadavg()]
        for rep in range(1, self.a.repeat + 1):
            scales = self.a.scales if rep % 2 else self.a.scales[::-1]
            j = (rep - 1) % len(self.tools) if self.tools else 0
            tools = self.tools[j:] + self.tools[:j]
            for k in scales:
                if "floor" in self.a.tools:
                    r = self.floor_step(k, rep)
                    self.samples.append(r)
                    log("rep%d k=%-3d %-9s %-8s %7.3fs %s" % (
                        rep, k, "floor", "ssh true", r["seconds"],
                        "ok" if r["ok"] else "FAIL: " + "; ".join(r["errors"])))
                for tool in tools:
                    self.samples += self.tool_chain(tool, k, rep)
        self.load.append(os.getloadavg())


def w8_medians(samples, tool, k, step):
    secs = [s["seconds"] for s in samples if s.get("tool") == tool and s["nodes"] == k
            and s["workload"] == step and s.get("ok")]
    n = len([s for s in samples if s.get("tool") == tool and s["nodes"] == k and s["workload"] == step])
    if not secs:
        return {"n": n, "ok": 0}
    return {"n": n, "ok": len(secs), "median": statistics.median(secs), "min": min(secs),
            "max": max(secs)}


def report_w8(sc, started):
    a = sc.a
    scales = sorted(a.scales)
    rtt = 2 * a.latency_ms
    rows = [("floor", "noop")] + [(t, st) for t in sc.tools for st in W8_STEPS]
    m = {"%s/%s" % (t, st): {str(k): w8_medians(sc.samples, t, k, st) for k in scales}
         for t, st in rows}
    lines = ["# W8: no-op and deploy on %s SSH nodes at %d ms round trip (issue 19)"
             % (", ".join(map(str, scales)), rtt), "",
             "Run %s UTC on this machine (%d CPUs); %d repetitions; %d containers per node (`%s`, "
             "`sleep`); medians (min-max) of the wall time, seconds. The nodes: one local node "
             "(`%s`) with one sshd per simulated node (own port, own mount namespace and "
             "`/var/lib/bootstrap`), sharing the node's one dockerd; every tool reaches node i "
             "at 127.0.0.1 through its own port of one `delay.py` (%d ms each way, the TCP "
             "handshake modelled). Every run is checked against the node's engine."
             % (started, os.cpu_count() or 0, a.repeat, sc.per_node, IMAGE, HOST_NODE,
                a.latency_ms), ""]
    lines += ["| tool | step | " + " | ".join("%d node%s" % (k, "s" if k > 1 else "") for k in scales) + " |",
              "|---|---|" + "---|" * len(scales)]
    fails = []

    def cell(r):
        if not r.get("ok"):
            return "FAIL" if r.get("n") else "-"
        c = "%.2f (%.2f-%.2f)" % (r["median"], r["min"], r["max"])
        if r["ok"] < r["n"]:
            c += ", %d of %d FAIL" % (r["n"] - r["ok"], r["n"])
        return c

    for t, st in rows:
        lines.append("| %s | %s | %s |" % (W8_TITLE[t], "ssh true" if t == "floor" else W8_STEP[st],
                                           " | ".join(cell(m["%s/%s" % (t, st)][str(k)]) for k in scales)))
    lines.append("")

    def med(t, st, k):
        return m["%s/%s" % (t, st)][str(k)].get("median")

    if len(scales) > 1 and scales[0] == 1:
        lines += ["K nodes over 1 node (ratio of medians):", "",
                  "| tool | step | " + " | ".join("%d / 1" % k for k in scales[1:]) + " |",
                  "|---|---|" + "---|" * (len(scales) - 1)]
        for t, st in rows:
            cells = []
            for k in scales[1:]:
                x, y = med(t, st, k), med(t, st, 1)
                cells.append("%.2fx" % (x / y) if x and y else "-")
            lines.append("| %s | %s | %s |" % (t, "ssh true" if t == "floor" else W8_STEP[st],
                                               " | ".join(cells)))
        lines.append("")
    lines += ["Over the floor (`ssh true` on the same K nodes at once; ratio of medians):", "",
              "| tool | step | " + " | ".join("%d node%s" % (k, "s" if k > 1 else "") for k in scales) + " |",
              "|---|---|" + "---|" * len(scales)]
    for t, st in rows[1:]:
        cells = []
        for k in scales:
            x, f = med(t, st, k), med("floor", "noop", k)
            cells.append("%.2fx" % (x / f) if x and f else "-")
        lines.append("| %s | %s | %s |" % (t, W8_STEP[st], " | ".join(cells)))
    lines.append("")
    rt = {}
    for k in scales:
        for st in W8_STEPS:
            v = [s["rt_node"] for s in sc.samples if s.get("tool") == "bootstrap" and s["nodes"] == k
                 and s["workload"] == st and s.get("ok") and s.get("rt_node") is not None]
            if v:
                rt.setdefault(st, {})[k] = statistics.median(v)
    if rt:
        lines += ["bootstrap's SSH round trips per node (`-v`, median): " + "; ".join(
            "%s %s" % (W8_STEP[st], ", ".join("%.1f at %d" % (v, k) for k, v in sorted(d.items())))
            for st, d in rt.items()), ""]
    for s in sc.samples:
        if not s.get("ok"):
            fails.append("- rep %d, %d nodes, %s %s: %s" % (s["rep"], s["nodes"], s.get("tool"),
                                                           s["workload"], "; ".join(s["errors"])))
    if fails:
        lines += ["## Failures", ""] + fails + [""]
    lines += ["What each does: floor: OpenSSH's `ssh true` on every node at once (`xargs -P K`, "
              "W7's floor options); bootstrap: `bootstrap --json -v --parallel 8` with a static "
              "recipe of the K nodes, `destroy` to remove; Ansible: `ansible-playbook` with a "
              "YAML inventory of the K nodes, one task looping `community.docker.docker_container` "
              "on each node (its modules run on the node, `docker_host` its socket), json callback, "
              "forks 8, pipelining, `ControlMaster=auto`, `ControlPersist=60s`, a new ControlPath "
              "directory for each run; docker: the docker CLI with `DOCKER_HOST=ssh://root@127.0.0.1:PORT`, "
              "`docker run -d` per container, `docker ps -a --filter` per node, `docker rm -f` of a "
              "node's containers per node, 8 commands at a time (`xargs -P8`). Checks, on the node's "
              "engine after every run: exactly each node's containers, running (the last one's env "
              "right after deploy), the same IDs after the no-op, none left after remove; and "
              "bootstrap's `--json` counts and one node_done per node, Ansible's recap (every host, "
              "nothing failed; the no-op changed nothing, deploy and remove changed every host)."]
    lines.append("")
    lines.append("What the simulation does not model: the nodes share one dockerd and this "
                 "machine's CPUs (which also run every tool, every sshd and delay.py), so deploy "
                 "and remove on K nodes wait on one engine doing K nodes' container work that K "
                 "machines would do side by side; the no-op and the floor do no container work.")
    lines.append("")
    if len(sc.load) == 2:
        lines.append("- load average (1, 5, 15 min) at the start %s and at the end %s" % tuple(
            "%.1f/%.1f/%.1f" % l for l in sc.load))
    for n in sc.notes:
        lines.append("- " + n)
    return "\n".join(lines) + "\n", m


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scales", default=None,
                    help="node counts (default 1,10,25,50: 25 places the knee; with --w8 1,5,20)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--parallel", type=int, default=8, help="bootstrap's --parallel (default 8)")
    ap.add_argument("--wide", type=int, default=0,
                    help="also run --wide-nodes nodes with this --parallel (e.g. 50)")
    ap.add_argument("--wide-nodes", type=int, default=0,
                    help="the scale --wide runs at (default 50 when among --scales, else the largest)")
    ap.add_argument("--wide-repeat", type=int, default=2)
    ap.add_argument("--bootstrap", default=os.path.join(REPO, "bootstrap"))
    ap.add_argument("--engine-sock", default="/var/run/docker.sock")
    ap.add_argument("--out", default=None,
                    help="writes OUT.md and OUT.json (default bench/results/scale, with --w8 "
                         "bench/results/w8)")
    ap.add_argument("--keep", action="store_true", help="keep the host node at exit")
    ap.add_argument("--w8", action="store_true",
                    help="W8 (issue 19): the nodes behind delay.py, bootstrap against the SSH floor "
                         "and its peers (Ansible, the docker CLI): deploy, no-op, remove")
    ap.add_argument("--latency-ms", type=int, default=50,
                    help="W8: one-way delay delay.py adds (default 50: a 100 ms round trip)")
    ap.add_argument("--w8-n", type=int, default=4, help="W8: containers per node (default 4)")
    ap.add_argument("--tools", default="floor,bootstrap,ansible,docker",
                    help="W8: of floor,bootstrap,ansible,docker (default all)")
    a = ap.parse_args(argv)
    if a.scales is None:
        a.scales = "1,5,20" if a.w8 else "1,10,25,50"
    if a.out is None:
        a.out = os.path.join(HERE, "results", "w8" if a.w8 else "scale")
    a.tools = [t.strip() for t in a.tools.split(",") if t.strip()]
    if any(t not in ["floor"] + W8_TOOLS for t in a.tools):
        ap.error("--tools: of floor,bootstrap,ansible,docker")
    if not 1 <= a.w8_n <= 26 or not 0 <= a.latency_ms <= 1000:
        ap.error("--w8-n: 1-26; --latency-ms: 0-1000")
    if a.w8 and a.wide:
        ap.error("--wide is not for --w8")
    a.scales = sorted({int(x) for x in a.scales.split(",") if x.strip()})
    if not a.scales or min(a.scales) < 1 or max(a.scales) > 199:
        ap.error("--scales: 1 to 199 nodes (ports %d-%d)" % (PORT0 + 1, PORT0 + 199))
    if a.wide_nodes == 0:
        a.wide_nodes = 50 if 50 in a.scales else max(a.scales)
    if a.wide_nodes not in a.scales:
        ap.error("--wide-nodes: one of --scales")
    if not 1 <= a.parallel <= 256 or not 0 <= a.wide <= 256:
        ap.error("--parallel, --wide: 1-256")
    if not 1 <= a.repeat <= 20:
        ap.error("--repeat: 1-20")
    return a


def main(argv=None):
    a = parse_args(argv if argv is not None else sys.argv[1:])
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    sc = W8(a) if a.w8 else Scale(a)

    def on_signal(signum, _frame):
        for pid in list(_children):
            kill_group(pid)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    rc = 0
    try:
        err = sc.setup()
        if err:
            log("setup failed: " + err)
            return 1
        sc.run()
    finally:
        try:
            sc.teardown()
        except Exception as e:  # noqa: BLE001 - teardown must not hide the run's outcome
            log("teardown: %s" % e)
    if a.w8:
        text, m = report_w8(sc, started)
        sys.stdout.write(text)
        write(a.out + ".md", text)
        write(a.out + ".json", json.dumps({"started": started, "args": {
            "scales": a.scales, "repeat": a.repeat, "latency_ms": a.latency_ms,
            "containers_per_node": a.w8_n, "tools": a.tools, "parallel": 8},
            "cpus": os.cpu_count(), "load": sc.load, "medians": m, "samples": sc.samples},
            indent=1) + "\n")
        return 1 if any(not s.get("ok") for s in sc.samples) else 0
    text, m = report(sc, started)
    sys.stdout.write(text)
    write(a.out + ".md", text)
    write(a.out + ".json", json.dumps({"started": started, "args": {
        "scales": a.scales, "repeat": a.repeat, "parallel": a.parallel, "wide": a.wide,
        "wide_nodes": a.wide_nodes,
        "containers_per_node": CONTAINERS_PER_NODE}, "medians": {
            w: {str(k): v for k, v in ks.items()} for w, ks in m.items()},
        "samples": sc.samples}, indent=1) + "\n")
    if any(not s.get("ok") for s in sc.samples):
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
