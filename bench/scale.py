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

Writes bench/results/scale.md and scale.json (--out). Python 3 standard
library only; paths are found from this file's place.
"""
import argparse
import datetime
import json
import os
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

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


def run_measured(argv, cwd, timeout, logbase):
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
        p = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                             start_new_session=True)
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
            for j in range(CONTAINERS_PER_NODE):
                c = "%s-%s" % (nd, chr(ord("a") + j))
                out["%s-%s-1" % (self.project(k), c)] = (c, nd)
        return out

    def target(self, k):
        """The container `change` changes: the first of the middle node."""
        return "%s-a" % self.nodes(k)[(k - 1) // 2]

    def project(self, k):
        return "bench-scale-%d" % k

    def recipe_path(self, k):
        return os.path.join(self.work, "scale-%d.yaml" % k)

    def recipe(self, k, changed):
        lines = ["version: 1", "project: %s" % self.project(k), "provider: {type: static}",
                 "ssh: {user: root, key: '%s', known_hosts: '%s', host_keys: accept-new}"
                 % (self.key, self.known_hosts), "nodes:"]
        for i, nd in enumerate(self.nodes(k), 1):
            lines += ["  - name: %s" % nd, "    address: %s" % self.ip, "    port: %d" % (PORT0 + i)]
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
        n = k * CONTAINERS_PER_NODE
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


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scales", default="1,10,25,50",
                    help="node counts (default 1,10,25,50: 25 places the knee)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--parallel", type=int, default=8, help="bootstrap's --parallel (default 8)")
    ap.add_argument("--wide", type=int, default=0,
                    help="also run --wide-nodes nodes with this --parallel (e.g. 50)")
    ap.add_argument("--wide-nodes", type=int, default=0,
                    help="the scale --wide runs at (default 50 when among --scales, else the largest)")
    ap.add_argument("--wide-repeat", type=int, default=2)
    ap.add_argument("--bootstrap", default=os.path.join(REPO, "bootstrap"))
    ap.add_argument("--engine-sock", default="/var/run/docker.sock")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "scale"),
                    help="writes OUT.md and OUT.json")
    ap.add_argument("--keep", action="store_true", help="keep the host node at exit")
    a = ap.parse_args(argv)
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
    sc = Scale(a)

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
