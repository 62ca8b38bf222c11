#!/usr/bin/env python3
"""A stateful fake of the Hetzner Cloud API (v1) whose servers are real nodes.

Every server it creates is a container of the test lab's node image
(tests/lab/node.sh: Debian, systemd as PID 1 when the image has /sbin/init,
enough privilege to run its own Docker engine), with sshd published on its
own loopback address port 22 (127.0.0.2, 127.0.0.3, ...): the server's
public IPv4, handed to the next server when it is deleted. A server is
"initializing", then "starting", and "running" only once that sshd answers
with an SSH banner, as a real machine boots; the keys named in the request
reach /root/.ssh/authorized_keys then, or --cloud-init-delay seconds later,
as cloud-init writes them. Power off/on stop and start the node. DELETE
removes the container and its volume. State is in memory only.

  hetzner_api.py --token T [--readonly-token R] [--port 0] [--run-label L]
                 [--node-image bootstrap/node:bookworm] [--first-ip 127.0.0.2]

prints "listening on PORT" (flushed) once it serves on 127.0.0.1:PORT, and
removes every container and volume it made on SIGTERM, SIGINT and exit. See
tests/fakes/README.md for the endpoints, the options and the admin API
(/__fake/...: faults, state, reset).

Written from the public documentation (https://docs.hetzner.cloud/, the
OpenAPI document behind it): error shape {"error": {code, message,
details}}, label and label-selector syntax, pagination (meta.pagination,
per_page 25 by default, 50 at most), RateLimit-* headers, the server,
SSH key and action objects.

The first half of this file is the machinery both fakes share (HTTP server,
auth, rate limit, faults, request log, admin endpoints, node containers);
digitalocean_api.py imports it.
"""
import argparse
import atexit
import base64
import binascii
import collections
import datetime
import errno
import fnmatch
import hashlib
import hmac
import http.server
import io
import ipaddress
import json
import math
import os
import re
import secrets
import signal
import socket
import struct
import subprocess
import sys
import tarfile
import threading
import time
import traceback
import urllib.parse

# ---------------------------------------------------------------------------
# shared machinery
# ---------------------------------------------------------------------------

LABEL_LAB = "io.bootstrap.test"
LABEL_RUN = "io.bootstrap.test.run"
LABEL_PROVIDER = "io.bootstrap.fake-cloud.provider"
LABEL_INSTANCE = "io.bootstrap.fake-cloud.instance"
LABEL_ID = "io.bootstrap.fake-cloud.id"

KEY_TYPES = {
    "ssh-ed25519", "ssh-rsa", "ssh-dss", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
}


def log(provider, msg):
    sys.stderr.write("%s-fake: %s\n" % (provider, msg))
    sys.stderr.flush()


def parse_public_key(text):
    """An OpenSSH one-line public key "TYPE BASE64 [COMMENT]": (type, blob),
    or None when it is not one (the blob must name the same type)."""
    if not isinstance(text, str) or "\n" in text.strip():
        return None
    parts = text.split()
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        return None
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(blob) < 4:
        return None
    (n,) = struct.unpack(">I", blob[:4])
    if blob[4:4 + n] != parts[0].encode():
        return None
    return parts[0], blob


def md5_fingerprint(blob):
    """The key's MD5 fingerprint as colon-separated hex (ssh-keygen -E md5)."""
    digest = hashlib.md5(blob).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def is_hostname(name):
    """RFC 1123 host name: dot-separated labels of letters, digits and dashes."""
    if not isinstance(name, str) or not 0 < len(name) <= 253:
        return False
    return all(re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?", part)
               for part in name.split("."))


def int_param(query, name, default):
    """An integer query parameter: its value, default when absent, None when bad."""
    values = query.get(name)
    if not values or values[-1] == "":
        return default
    try:
        return int(values[-1])
    except ValueError:
        return None


class Fail(Exception):
    """An API error answer, raised by a route: (status, body, headers)."""

    def __init__(self, status, body, headers=None):
        super().__init__(status)
        self.answer = (status, body, headers or {})


class RateLimit:
    """RateLimit-Limit/-Remaining/-Reset. "refill": remaining grows back
    gradually (limit per hour), reset is when it is full again (Hetzner);
    "window": each request counts for one hour, reset is when the oldest
    expires (DigitalOcean)."""

    def __init__(self, limit, mode):
        self.limit = max(1, limit)
        self.mode = mode
        self.lock = threading.Lock()
        self.tokens = float(self.limit)
        self.stamp = time.time()
        self.window = collections.deque()

    def take(self):
        """(allowed, remaining, reset) for one more request"""
        with self.lock:
            now = time.time()
            if self.mode == "refill":
                rate = self.limit / 3600.0
                self.tokens = min(self.limit, self.tokens + (now - self.stamp) * rate)
                self.stamp = now
                allowed = self.tokens >= 1
                if allowed:
                    self.tokens -= 1
                remaining = int(self.tokens)
                reset = int(now + math.ceil((self.limit - self.tokens) / rate))
                return allowed, remaining, reset
            while self.window and self.window[0] <= now - 3600:
                self.window.popleft()
            allowed = len(self.window) < self.limit
            if allowed:
                self.window.append(now)
            remaining = self.limit - len(self.window)
            reset = int(self.window[0] + 3600) if self.window else int(now)
            return allowed, remaining, reset


class NodeError(Exception):
    pass


class Nodes:
    """The containers that stand in for servers: created, started, checked
    for an SSH banner, removed. Every container and volume carries the lab
    labels (io.bootstrap.test=fake-cloud, io.bootstrap.test.run=RUN) and the
    instance label of this process, by which shutdown finds them."""

    def __init__(self, provider, args):
        self.provider = provider
        self.docker = ["docker", "-H", args.docker_host]
        self.image = args.node_image
        self.run = args.run_label
        self.instance = "%s-%d-%s" % (provider, os.getpid(), secrets.token_hex(3))
        self.first_ip = ipaddress.IPv4Address(args.first_ip)
        self.boot_timeout = args.boot_timeout
        self.boot_delay = args.boot_delay
        self.cloud_init_delay = args.cloud_init_delay
        self.systemd = False    # set by detect_init(): the image boots /sbin/init
        self.lock = threading.Lock()
        self.reserved = set()   # addresses this fake hands out or holds
        self.refused = set()    # addresses the engine could not publish on
        self.released = []      # addresses given back, the latest last
        self.busy = 0           # docker create/start in flight
        self.idle = threading.Condition(self.lock)
        self.closing = False

    def cmd(self, *args, data=None, timeout=120):
        try:
            return subprocess.run(self.docker + list(args), input=data, capture_output=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(args, 124, b"", b"docker timed out")

    def labels(self, ident):
        out = []
        for label in ("%s=fake-cloud" % LABEL_LAB, "%s=%s" % (LABEL_RUN, self.run),
                      "%s=%s" % (LABEL_PROVIDER, self.provider),
                      "%s=%s" % (LABEL_INSTANCE, self.instance), "%s=%s" % (LABEL_ID, ident)):
            out += ["--label", label]
        return out

    def names(self, ident):
        ctr = "%s-%s-%s" % (self.run, self.provider, ident)
        return ctr, ctr + "-docker"

    @staticmethod
    def port22_taken(ip):
        """Something listens on IP:22 already (a bind test; as non-root, where
        binding port 22 is refused, a connect test)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # connections of a node just removed linger in TIME_WAIT on IP:22;
        # they do not keep the engine from publishing there (its proxy sets
        # SO_REUSEADDR too), only a listener does
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((ip, 22))
            return False
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return True
        finally:
            sock.close()
        try:
            with socket.create_connection((ip, 22), timeout=0.5):
                return True
        except OSError:
            return False

    def reserve_ip(self):
        """The next free public address: the one deleted last, else
        127.0.0.N upwards from --first-ip, skipping the ones this fake holds
        and those where port 22 is taken."""
        with self.lock:
            # the address of the machine deleted last goes to the next one,
            # as on Hetzner and DigitalOcean (a re-created machine often gets
            # the address it had, with new host keys)
            while self.released:
                ip = self.released.pop()
                if ip not in self.reserved and ip not in self.refused and not self.port22_taken(ip):
                    self.reserved.add(ip)
                    return ip
            addr = self.first_ip
            for _ in range(1024):
                ip = str(addr)
                addr += 1
                last = int(ip.rsplit(".", 1)[1])
                if last in (0, 255) or ip in self.reserved or ip in self.refused:
                    continue
                if not ipaddress.IPv4Address(ip) in ipaddress.IPv4Network("127.0.0.0/8"):
                    break
                if self.port22_taken(ip):
                    continue
                self.reserved.add(ip)
                return ip
        raise NodeError("no free loopback address with port 22 from %s on (a server listening on "
                        "0.0.0.0:22 takes port 22 on every address)" % self.first_ip)

    def release_ip(self, ip):
        with self.lock:
            if ip in self.reserved:
                self.reserved.discard(ip)
                self.released.append(ip)

    @staticmethod
    def ssh_dir_tar(public_keys):
        """A tar of .ssh/authorized_keys (root, 0700/0600) for `docker cp - CTR:/root`."""
        data = "".join(k.strip() + "\n" for k in public_keys).encode()
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(".ssh")
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o700, int(time.time())
            tar.addfile(info)
            info = tarfile.TarInfo(".ssh/authorized_keys")
            info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    # how a node runs: the run options of the shared test-lab notes, plus,
    # for systemd as PID 1, what systemd needs in a container (its own /run,
    # /run/lock and /tmp, the host's cgroup hierarchy, SIGRTMIN+3 to halt)
    NOINIT_CMD = ["sh", "-c", "mkdir -p /run/sshd && ssh-keygen -A && exec /usr/sbin/sshd -D -e"]
    SYSTEMD_OPTS = ["--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
                    "--stop-signal", "SIGRTMIN+3"]

    def detect_init(self, mode):
        """systemd when the image has /sbin/init (mode auto), or as told"""
        if mode == "auto":
            r = self.cmd("run", "--rm", "--network", "none", "--entrypoint", "test", self.image,
                         "-e", "/sbin/init", timeout=60)
            self.systemd = r.returncode == 0
        else:
            self.systemd = mode == "systemd"
        return "systemd" if self.systemd else "none"

    def create(self, ident, hostname, public_keys, ip, cancel):
        """Volume, container, started, with sshd published on IP:22. Returns
        the address it got: another one when the engine could not publish on
        IP (taken meanwhile). The keys are written later (write_keys), as
        cloud-init does on a real machine."""
        with self.lock:
            if self.closing:
                raise NodeError("the fake is shutting down")
            self.busy += 1
        try:
            return self._create(ident, hostname, public_keys, ip, cancel)
        finally:
            with self.lock:
                self.busy -= 1
                self.idle.notify_all()

    def _create(self, ident, hostname, public_keys, ip, cancel):
        ctr, vol = self.names(ident)
        host = hostname.split(".")[0][:63] or "node"
        r = self.cmd("volume", "create", *self.labels(ident), vol)
        if r.returncode != 0:
            raise NodeError("docker volume create: " + r.stderr.decode(errors="replace").strip())
        for attempt in range(3):
            if cancel.is_set() or self.closing:
                raise NodeError("cancelled")
            r = self.cmd(
                "create", "--name", ctr, "--hostname", host, *self.labels(ident),
                "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
                "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
                "--security-opt", "systempaths=unconfined",
                "--cgroupns", "host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
                *(self.SYSTEMD_OPTS if self.systemd else []),
                "-v", "%s:/var/lib/docker" % vol, "-p", "%s:22:22" % ip, self.image,
                *(["/sbin/init"] if self.systemd else self.NOINIT_CMD))
            if r.returncode != 0:
                raise NodeError("docker create: " + r.stderr.decode(errors="replace").strip())
            r = self.cmd("start", ctr)
            if r.returncode == 0:
                return ip
            err = r.stderr.decode(errors="replace").strip()
            self.cmd("rm", "-f", ctr)
            if attempt == 2 or not re.search(r"already allocated|address already in use", err, re.I):
                raise NodeError("docker start: " + err)
            # taken between our check and the engine's bind: another address
            with self.lock:
                self.refused.add(ip)
                self.reserved.discard(ip)
            ip = self.reserve_ip()
        raise NodeError("unreachable")

    def write_keys(self, ident, public_keys):
        """/root/.ssh/authorized_keys into the running node, as cloud-init
        writes it on a real machine: after it boots"""
        ctr, _ = self.names(ident)
        r = self.cmd("cp", "-", ctr + ":/root", data=self.ssh_dir_tar(public_keys))
        if r.returncode != 0:
            raise NodeError("docker cp: " + r.stderr.decode(errors="replace").strip())

    def power(self, ident, on):
        """docker start / stop of the node (the machine powered on / off)"""
        ctr, _ = self.names(ident)
        r = self.cmd(*(["start", ctr] if on else ["stop", "-t", "10", ctr]))
        if r.returncode != 0:
            raise NodeError("docker %s: %s" % ("start" if on else "stop",
                                                r.stderr.decode(errors="replace").strip()))

    @staticmethod
    def banner(ip):
        """sshd answers on IP:22 with an SSH banner (the engine's proxy accepts
        connections before sshd listens, then drops them)."""
        try:
            with socket.create_connection((ip, 22), timeout=2) as sock:
                sock.settimeout(2)
                line = b""
                while b"\n" not in line and len(line) < 256:
                    chunk = sock.recv(256)
                    if not chunk:
                        break
                    line += chunk
                return line.startswith(b"SSH-2.0-") or line.startswith(b"SSH-1.99-")
        except OSError:
            return False

    def running(self, ctr):
        r = self.cmd("inspect", "-f", "{{.State.Running}}", ctr, timeout=30)
        return r.returncode == 0 and r.stdout.strip() == b"true"

    def wait_ssh(self, ident, ip, cancel):
        """'ok' once sshd answers, 'cancelled', 'exited' or 'timeout'"""
        if cancel.wait(self.boot_delay):
            return "cancelled"
        ctr, _ = self.names(ident)
        deadline = time.time() + self.boot_timeout
        checks = 0
        while True:
            if cancel.is_set() or self.closing:
                return "cancelled"
            if self.banner(ip):
                return "ok"
            checks += 1
            if checks % 20 == 0 and not self.running(ctr):
                return "exited"
            if time.time() >= deadline:
                return "timeout"
            cancel.wait(0.2)

    def logs(self, ident):
        ctr, _ = self.names(ident)
        r = self.cmd("logs", "--tail", "20", ctr, timeout=30)
        return (r.stdout + r.stderr).decode(errors="replace").strip()

    def _inner_down(self, ctr):
        """Remove the containers of the node's own engine, if it runs one, and
        return their ids: the node shares the machine's cgroup hierarchy, so
        cgroups its engine made would outlive it otherwise."""
        script = ("ls /var/lib/docker/containers 2>/dev/null; "
                  "command -v docker >/dev/null 2>&1 || exit 0; "
                  "ids=$(docker ps -aq --no-trunc 2>/dev/null) || exit 0; "
                  "[ -n \"$ids\" ] || exit 0; echo \"$ids\"; docker rm -f $ids >/dev/null 2>&1")
        r = self.cmd("exec", ctr, "sh", "-c", script, timeout=30)
        return {i for i in r.stdout.decode(errors="replace").split() if re.fullmatch(r"[0-9a-f]{64}", i)}

    @staticmethod
    def _cgroups_down(ids):
        """rmdir what is left of those inner containers' cgroups, deepest first
        (rmdir leaves a cgroup that is still in use)."""
        if not ids or not os.path.isdir("/sys/fs/cgroup"):
            return
        for top, dirs, _ in os.walk("/sys/fs/cgroup"):
            depth = top.count("/") - "/sys/fs/cgroup".count("/")
            if depth >= 5:
                dirs[:] = []
                continue
            for d in list(dirs):
                if d in ids:
                    dirs.remove(d)
                    for sub, _, _ in sorted(os.walk(os.path.join(top, d)), key=lambda w: -len(w[0])):
                        try:
                            os.rmdir(sub)
                        except OSError:
                            pass

    def remove(self, ident):
        """The node's container (its inner engine's containers first) and volume."""
        ctr, vol = self.names(ident)
        inner = set()
        if self.running(ctr):
            inner = self._inner_down(ctr)
        self.cmd("rm", "-f", "-v", ctr)
        self._cgroups_down(inner)
        r = self.cmd("volume", "rm", "-f", vol)
        gone = self.cmd("ps", "-aq", "--filter", "name=^/%s$" % ctr).stdout.strip() == b""
        return gone and r.returncode == 0

    def sweep(self):
        """Remove every container and volume of this process (at exit)."""
        with self.lock:
            self.closing = True
            end = time.time() + 90
            while self.busy and time.time() < end:
                self.idle.wait(1)
        mine = "label=%s=%s" % (LABEL_INSTANCE, self.instance)
        r = self.cmd("ps", "-a", "--filter", mine, "--format", '{{.Label "%s"}}' % LABEL_ID)
        idents = sorted(set(r.stdout.decode().split()))
        threads = [threading.Thread(target=self.remove, args=(i,)) for i in idents]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        # whatever is still there (a removal that failed or timed out)
        left = self.cmd("ps", "-aq", "--filter", mine).stdout.decode().split()
        if left:
            self.cmd("rm", "-f", "-v", *left)
        vols = self.cmd("volume", "ls", "-q", "--filter", mine).stdout.decode().split()
        if vols:
            self.cmd("volume", "rm", "-f", *vols)
        return len(idents)


class FakeCloud:
    """The provider-independent part of a fake: auth, rate limit, faults,
    request log, admin endpoints. A provider subclass fills in routes and
    its error shapes."""

    provider = "cloud"
    rate_mode = "refill"
    default_rate_limit = 3600

    def __init__(self, args):
        self.args = args
        self.lock = threading.RLock()
        self.nodes = Nodes(self.provider, args)
        self.rate = RateLimit(args.rate_limit or self.default_rate_limit, self.rate_mode)
        self.faults = []
        self.requests = collections.deque(maxlen=10000)
        self.counters = {}
        self.port = 0
        self.stopped = False
        self.routes = []  # (method, compiled path regex, function)
        self.teardowns = []  # threads removing deleted machines' nodes

    # --- hooks a provider fills in ------------------------------------
    def error(self, status, code, message, details=None):
        raise NotImplementedError

    def unauthorized(self):
        raise NotImplementedError

    def read_only(self):
        raise NotImplementedError

    def rate_limited(self):
        raise NotImplementedError

    def quota(self):
        raise NotImplementedError

    def status_error(self, status):
        """the body of an injected fault answer with this status"""
        raise NotImplementedError

    def resources(self):
        """the provider's state for GET /__fake/state"""
        raise NotImplementedError

    def remove_all(self):
        """delete every server (and its node) now; returns how many"""
        raise NotImplementedError

    # --- helpers ----------------------------------------------------------
    def next_id(self, kind, start):
        with self.lock:
            self.counters[kind] = self.counters.get(kind, start) + 1
            return self.counters[kind]

    def route(self, method, pattern, func):
        self.routes.append((method, re.compile("^" + pattern + "$"), func))

    @staticmethod
    def json_body(raw):
        if not raw.strip():
            return {}
        return json.loads(raw)

    # --- the API ----------------------------------------------------------
    def api(self, method, path, query, raw, headers):
        allowed, remaining, reset = self.rate.take()
        rl = {"RateLimit-Limit": str(self.rate.limit), "RateLimit-Remaining": str(remaining),
              "RateLimit-Reset": str(reset)}
        if not allowed:
            status, body, extra = self.rate_limited()
        else:
            status, body, extra = self.authorized_api(method, path, query, raw, headers)
        if status == 429:
            rl["RateLimit-Remaining"] = "0"
            if "Retry-After" in extra:
                try:
                    rl["RateLimit-Reset"] = str(int(time.time() + float(extra["Retry-After"])))
                except ValueError:
                    pass
        rl.update(extra)
        with self.lock:
            self.requests.append({"method": method, "path": path, "query": urllib.parse.urlencode(
                query, doseq=True), "status": status, "at": round(time.time(), 3)})
        return status, body, rl

    def authorized_api(self, method, path, query, raw, headers):
        auth = headers.get("Authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        full = token is not None and hmac.compare_digest(token.encode(), self.args.token.encode())
        readonly = (token is not None and self.args.readonly_token is not None and
                    hmac.compare_digest(token.encode(), self.args.readonly_token.encode()))
        if not full and not readonly:
            return self.unauthorized()
        if readonly and method not in ("GET", "HEAD"):
            return self.read_only()
        fault = self.take_fault(method, path)
        if fault is not None:
            if fault.get("delay"):
                time.sleep(float(fault["delay"]))
            if fault.get("status"):
                status = int(fault["status"])
                body = fault.get("body") or self.status_error(status)
                return status, body, dict(fault.get("headers") or {})
            if fault.get("quota"):
                status, body, extra = self.quota()
                extra.update(fault.get("headers") or {})
                return status, body, extra
        for m, rx, func in self.routes:
            match = rx.match(path)
            if match and m == method:
                try:
                    try:
                        body = self.json_body(raw) if method in ("POST", "PUT", "PATCH") else {}
                    except ValueError as e:
                        return self.bad_json(str(e))
                    if not isinstance(body, dict):
                        return self.bad_json("the body must be a JSON object")
                    return func(match, query, body, headers, fault or {})
                except Fail as f:
                    return f.answer
        return self.error(404, "not_found", "no such endpoint: %s %s" % (method, path))

    def bad_json(self, detail):
        return self.error(400, "json_error", "invalid JSON in the request body: " + detail)

    def base_url(self, headers):
        return "http://%s" % (headers.get("Host") or "127.0.0.1:%d" % self.port)

    # --- nodes ------------------------------------------------------------
    def cloud_init(self, ident, keys, cancel, mark_running):
        """The machine's authorized keys, as cloud-init writes them on a real
        one: some time after the provider reports it running
        (--cloud-init-delay; with 0, just before)."""
        delay = self.args.cloud_init_delay
        try:
            if delay <= 0:
                self.nodes.write_keys(ident, keys)
                mark_running()
                return
            mark_running()
            if not cancel.wait(delay):
                self.nodes.write_keys(ident, keys)
                log(self.provider, "%s: keys written %.1f s after it runs (cloud-init)" % (ident, delay))
        except NodeError as e:
            log(self.provider, "%s: keys not written: %s" % (ident, e))

    # --- faults -----------------------------------------------------------
    def take_fault(self, method, path):
        with self.lock:
            for f in self.faults:
                want_method, _, want_path = f["match"].partition(" ")
                if want_method not in ("*", method) or not fnmatch.fnmatchcase(path, want_path):
                    continue
                if f["times"] == 0:
                    continue
                if f["times"] > 0:
                    f["times"] -= 1
                f["hits"] += 1
                return dict(f)
        return None

    @staticmethod
    def check_fault(f):
        if not isinstance(f, dict):
            raise ValueError("a fault is a JSON object")
        match = f.get("match")
        if not isinstance(match, str) or not re.fullmatch(r"(\*|[A-Z]+) /\S*", match):
            raise ValueError('"match" is "METHOD /path" (METHOD may be *, the path a glob)')
        kinds = [k for k in ("status", "action_error", "quota") if f.get(k)]
        if len(kinds) > 1:
            raise ValueError("one of status, action_error, quota per fault")
        if not kinds and not f.get("delay"):
            raise ValueError("a fault needs status, action_error, quota or delay")
        if f.get("status") is not None and not (isinstance(f["status"], int) and 400 <= f["status"] <= 599):
            raise ValueError('"status" is an HTTP error status (400-599)')
        times = f.get("times", 1)
        if not isinstance(times, int) or times < -1:
            raise ValueError('"times" is a count (-1: every time)')
        headers = f.get("headers", {})
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise ValueError('"headers" maps names to strings')
        out = dict(f)
        out["times"] = times
        out["hits"] = 0
        return out

    # --- admin endpoints (no auth, not logged, not rate limited) ----------
    def admin(self, method, path, query, raw):
        try:
            body = self.json_body(raw) if method == "POST" else None
        except ValueError as e:
            return 400, {"error": "invalid JSON: %s" % e}, {}
        if path == "/__fake/faults":
            if method == "GET":
                with self.lock:
                    return 200, {"faults": self.faults}, {}
            if method == "DELETE":
                with self.lock:
                    self.faults = []
                return 200, {"faults": []}, {}
            if method == "POST":
                try:
                    new = [self.check_fault(f) for f in (body if isinstance(body, list) else [body])]
                except ValueError as e:
                    return 400, {"error": str(e)}, {}
                with self.lock:
                    self.faults.extend(new)
                    return 201, {"faults": self.faults}, {}
        elif path == "/__fake/state" and method == "GET":
            with self.lock:
                state = {"provider": self.provider, "run_label": self.args.run_label,
                         "instance": self.nodes.instance, "faults": self.faults,
                         "requests": list(self.requests)}
                state.update(self.resources())
            return 200, state, {}
        elif path == "/__fake/reset" and method == "POST":
            removed = self.remove_all()
            with self.lock:
                self.faults = []
                self.requests.clear()
            return 200, {"reset": True, "removed": removed}, {}
        return 404, {"error": "no admin endpoint %s %s (faults, state, reset)" % (method, path)}, {}

    def shutdown(self):
        """remove every node of this process; idempotent"""
        with self.lock:
            if self.stopped:
                return
            self.stopped = True
            pending = list(self.teardowns)
        # deletes still removing their nodes (DigitalOcean answers a DELETE
        # at once): let them finish, or the process exits in the middle of one
        for t in pending:
            t.join(120)
        n = self.nodes.sweep()
        if n:
            log(self.provider, "removed %d node%s" % (n, "" if n == 1 else "s"))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-cloud/1"

    def log_message(self, *args):
        pass

    def read_body(self):
        """the request body: Content-Length, or chunked (libcurl streams
        a POST that way when it is not told the size)"""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raw = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass   # trailers
                    return raw
                raw += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def dispatch(self):
        cloud = self.server.cloud
        url = urllib.parse.urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        raw = self.read_body()
        try:
            if path == "/__fake" or path.startswith("/__fake/"):
                status, body, headers = cloud.admin(self.command, path, query, raw)
            else:
                status, body, headers = cloud.api(self.command, path, query, raw, self.headers)
        except Exception:  # a bug in the fake: say so, keep serving
            traceback.print_exc()
            status, body, headers = cloud.error(500, "server_error", "the fake failed; see its stderr")
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if status == 204 or body is None:
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = (json.dumps(body, indent=1) + "\n").encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = dispatch


def parse_args(provider, argv):
    p = argparse.ArgumentParser(
        prog="%s_api.py" % provider,
        description="Stateful fake of the %s API; servers are node containers." % provider)
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: pick one)")
    p.add_argument("--token", required=True, help="the API token (read and write)")
    p.add_argument("--readonly-token", help="a token that may only GET (writes: 403)")
    p.add_argument("--node-image", default="bootstrap/node:bookworm",
                   help="image of the nodes (scripts/node-image.sh)")
    p.add_argument("--run-label", default="fc-" + secrets.token_hex(4),
                   help="value of io.bootstrap.test.run on nodes and volumes; also prefixes their names")
    p.add_argument("--first-ip", default="127.0.0.2", help="first public address handed out")
    p.add_argument("--docker-host", default="unix:///var/run/docker.sock", help="the engine (docker -H)")
    p.add_argument("--boot-timeout", type=float, default=60,
                   help="seconds a node may take to show its SSH banner")
    p.add_argument("--boot-delay", type=float, default=0,
                   help="extra seconds before a started node counts as booting (a slow cloud)")
    p.add_argument("--cloud-init-delay", type=float, default=0,
                   help="seconds after a machine reports running before its SSH keys are in "
                        "place (cloud-init); 0: written as it turns running")
    p.add_argument("--init", choices=("auto", "systemd", "none"), default="auto",
                   help="nodes boot /sbin/init (systemd) or run sshd alone; auto: systemd "
                        "when the image has /sbin/init")
    p.add_argument("--rate-limit", type=int, default=0,
                   help="requests per hour before real 429s (default: the provider's)")
    p.add_argument("--server-limit", type=int, default=0,
                   help="servers the account may have (0: no limit); beyond: the quota error")
    p.add_argument("--lifetime", type=float, default=3600,
                   help="seconds after which the fake cleans up and exits (0: never)")
    args = p.parse_args(argv)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}", args.run_label):
        p.error("--run-label: letters, digits, _ . - (40 at most)")
    try:
        ip = ipaddress.IPv4Address(args.first_ip)
    except ValueError:
        p.error("--first-ip: not an IPv4 address")
    if ip not in ipaddress.IPv4Network("127.0.0.0/8") or str(ip) == "127.0.0.1":
        p.error("--first-ip: a loopback address other than 127.0.0.1 (127.0.0.2 and up)")
    if args.readonly_token == args.token:
        p.error("--readonly-token must differ from --token")
    return args


def serve(cloud_class, argv):
    args = parse_args(cloud_class.provider, argv)
    cloud = cloud_class(args)
    r = cloud.nodes.cmd("image", "inspect", "-f", "{{.Id}}", args.node_image, timeout=30)
    if r.returncode != 0:
        log(cloud.provider, "no image %s on %s (bash scripts/node-image.sh builds it): %s" % (
            args.node_image, args.docker_host, r.stderr.decode(errors="replace").strip()))
        return 2
    init = cloud.nodes.detect_init(args.init)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.cloud = cloud
    cloud.port = server.server_address[1]

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    atexit.register(cloud.shutdown)
    if args.lifetime > 0:
        timer = threading.Timer(args.lifetime, stop)
        timer.daemon = True
        timer.start()
    print("listening on %d" % cloud.port, flush=True)
    log(cloud.provider, "serving on 127.0.0.1:%d, run label %s, nodes from %s (init: %s)" % (
        cloud.port, args.run_label, args.node_image, init))
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        server.server_close()
        cloud.shutdown()
    return 0


# ---------------------------------------------------------------------------
# Hetzner Cloud
# ---------------------------------------------------------------------------

LABEL_NAME_RX = r"[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?"
LABEL_VALUE_RX = r"(%s)?" % LABEL_NAME_RX
DATACENTERS = {"fsn1": "fsn1-dc14", "nbg1": "nbg1-dc3", "hel1": "hel1-dc2", "ash": "ash-dc1",
               "hil": "hil-dc1", "sin": "sin-dc1"}


# The catalogue GET /server_types, /images and /locations answer from, in the
# shapes of docs.hetzner.cloud (Server Types: "deprecation" {announced,
# unavailable_after} or null, per type and per location in "locations";
# Images: "deprecated" a time or null; Locations). A small, fixed excerpt:
# cx11 stands for a type no longer orderable, debian-10 for a deprecated
# image.
LOCATIONS = [(1, "fsn1", "Falkenstein DC Park 1", "DE", "Falkenstein", "eu-central"),
             (2, "nbg1", "Nuremberg DC Park 1", "DE", "Nuremberg", "eu-central"),
             (3, "hel1", "Helsinki DC Park 1", "FI", "Helsinki", "eu-central"),
             (4, "ash", "Ashburn, VA", "US", "Ashburn, VA", "us-east"),
             (5, "hil", "Hillsboro, OR", "US", "Hillsboro, OR", "us-west"),
             (6, "sin", "Singapore", "SG", "Singapore", "ap-southeast")]
EU = ("fsn1", "nbg1", "hel1")
ALL = tuple(loc[1] for loc in LOCATIONS)
GONE = {"announced": "2023-09-01T00:00:00+00:00", "unavailable_after": "2024-01-01T00:00:00+00:00"}


def _iso_in(days):
    """an ISO-8601 time `days` from now, as the API writes times"""
    t = time.gmtime(time.time() + days * 86400)
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", t)


# announced, still orderable until unavailable_after (the reference: a
# deprecated server type "can still be used until" that date)
PHASING_OUT = {"announced": _iso_in(-30), "unavailable_after": _iso_in(90)}
SERVER_TYPES = [  # id, name, cores, memory GB, disk GB, cpu_type, architecture, where, deprecation
    (1, "cx11", 1, 2.0, 20, "shared", "x86", EU, GONE),
    (21, "cx21", 2, 4.0, 40, "shared", "x86", EU, PHASING_OUT),
    (22, "cx22", 2, 4.0, 40, "shared", "x86", EU, None),
    (23, "cx32", 4, 8.0, 80, "shared", "x86", EU, None),
    (24, "cx42", 8, 16.0, 160, "shared", "x86", EU, None),
    (25, "cx52", 16, 32.0, 320, "shared", "x86", EU, None),
    (45, "cax11", 2, 4.0, 40, "shared", "arm", EU, None),
    (93, "cax21", 4, 8.0, 80, "shared", "arm", EU, None),
    (98, "cpx11", 2, 2.0, 40, "shared", "x86", ALL, None),
    (99, "cpx21", 3, 4.0, 80, "shared", "x86", ALL, None),
    (100, "cpx31", 4, 8.0, 160, "shared", "x86", ALL, None),
    (96, "ccx13", 2, 8.0, 80, "dedicated", "x86", ALL, None),
]
IMAGES = [  # id, name, os_flavor, os_version, deprecated
    (5924233, "debian-10", "debian", "10", "2024-07-01T00:00:00+00:00"),
    (45557056, "debian-11", "debian", "11", None),
    (114690387, "debian-12", "debian", "12", None),
    (231450501, "debian-13", "debian", "13", None),
    (15512617, "ubuntu-20.04", "ubuntu", "20.04", _iso_in(30)),  # deprecated from then on
    (67794396, "ubuntu-22.04", "ubuntu", "22.04", None),
    (161547269, "ubuntu-24.04", "ubuntu", "24.04", None),
]


def location_json(name):
    for lid, lname, desc, country, city, zone in LOCATIONS:
        if lname == name:
            return {"id": lid, "name": lname, "description": desc, "country": country, "city": city,
                    "latitude": 50.0, "longitude": 12.0, "network_zone": zone}
    return {"id": 99, "name": name, "description": name, "country": "DE", "city": name,
            "latitude": 50.0, "longitude": 12.0, "network_zone": "eu-central"}


def server_type_json(name):
    for tid, tname, cores, mem, disk, cpu, arch, where, dep in SERVER_TYPES:
        if tname == name:
            break
    else:
        tid, tname, cores, mem, disk, cpu, arch, where, dep = (
            9, name, 2, 4.0, 40, "shared", "x86", ALL, None)
    return {"id": tid, "name": tname, "description": tname.upper(), "cores": cores, "memory": mem,
            "disk": disk, "storage_type": "local", "cpu_type": cpu, "architecture": arch,
            "deprecated": dep is not None, "deprecation": dep,
            "prices": [{"location": loc, "price_hourly": {"net": "0.0080", "gross": "0.0095"},
                        "price_monthly": {"net": "4.5100", "gross": "5.3700"}} for loc in where],
            "locations": [{"id": location_json(loc)["id"], "name": loc, "deprecation": dep}
                          for loc in where]}


def image_json(entry, arch):
    iid, name, flavor, version, deprecated = entry
    return {"id": iid + (1 if arch == "arm" else 0), "type": "system", "status": "available",
            "name": name, "description": "%s %s" % (flavor.capitalize(), version),
            "image_size": None, "disk_size": 5, "created": "2023-06-13T06:00:02+00:00",
            "created_from": None, "bound_to": None, "os_flavor": flavor, "os_version": version,
            "rapid_deploy": True, "protection": {"delete": False}, "deprecated": deprecated,
            "deleted": None, "labels": {}, "architecture": arch}


def label_key_ok(key):
    """[prefix/]name: name up to 63 of [A-Za-z0-9._-], alphanumeric at both
    ends; prefix a DNS subdomain (253 at most), not hetzner.cloud"""
    if not isinstance(key, str):
        return False
    prefix, slash, name = key.rpartition("/")
    if slash:
        if not prefix or len(prefix) > 253 or prefix == "hetzner.cloud" or "/" in prefix:
            return False
        if not all(re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?", p)
                   for p in prefix.split(".")):
            return False
    return re.fullmatch(LABEL_NAME_RX, name) is not None


def label_value_ok(value):
    return isinstance(value, str) and re.fullmatch(LABEL_VALUE_RX, value) is not None


def split_top(text):
    """split at commas outside parentheses"""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return out


def parse_selector(text):
    """The label selector language: k=v, k==v, k!=v, k, !k, k in (a,b),
    k notin (a,b), joined by commas (all must hold). ValueError if bad."""
    reqs = []
    for term in split_top(text):
        term = term.strip()
        if not term:
            raise ValueError("empty expression")
        m = re.fullmatch(r"(\S+)\s+(in|notin)\s*\(([^()]*)\)", term)
        if m:
            values = [v.strip() for v in m.group(3).split(",")]
            key, op = m.group(1), m.group(2)
        elif term.startswith("!"):
            key, op, values = term[1:].strip(), "absent", []
        elif "!=" in term:
            key, _, v = term.partition("!=")
            op, values = "ne", [v.strip()]
        elif "==" in term:
            key, _, v = term.partition("==")
            op, values = "eq", [v.strip()]
        elif "=" in term:
            key, _, v = term.partition("=")
            op, values = "eq", [v.strip()]
        else:
            key, op, values = term, "present", []
        key = key.strip()
        if not label_key_ok(key) or not all(label_value_ok(v) for v in values):
            raise ValueError("invalid expression %r" % term)
        reqs.append((key, op, values))
    return reqs


def selector_matches(reqs, labels):
    for key, op, values in reqs:
        have = key in labels
        if op == "present" and not have:
            return False
        if op == "absent" and have:
            return False
        if op in ("eq", "in") and (not have or labels[key] not in values):
            return False
        if op in ("ne", "notin") and have and labels[key] in values:
            return False
    return True


class Hetzner(FakeCloud):
    provider = "hetzner"
    rate_mode = "refill"
    default_rate_limit = 3600

    def __init__(self, args):
        super().__init__(args)
        self.servers = {}   # id -> record
        self.keys = {}      # id -> ssh key JSON
        self.actions = {}   # id -> action JSON
        self.route("GET", r"/v1/ssh_keys", self.list_keys)
        self.route("POST", r"/v1/ssh_keys", self.create_key)
        self.route("GET", r"/v1/ssh_keys/([^/]+)", self.get_key)
        self.route("DELETE", r"/v1/ssh_keys/([^/]+)", self.delete_key)
        self.route("GET", r"/v1/servers", self.list_servers)
        self.route("POST", r"/v1/servers", self.create_server)
        self.route("GET", r"/v1/servers/([^/]+)", self.get_server)
        self.route("DELETE", r"/v1/servers/([^/]+)", self.delete_server)
        self.route("GET", r"/v1/servers/([^/]+)/actions", self.server_actions)
        self.route("POST", r"/v1/servers/([^/]+)/actions/(poweron|poweroff)", self.power_action)
        self.route("GET", r"/v1/server_types", self.list_server_types)
        self.route("GET", r"/v1/images", self.list_images)
        self.route("GET", r"/v1/images/([^/]+)", self.get_image)
        self.route("GET", r"/v1/locations", self.list_locations)
        self.route("GET", r"/v1/actions", self.list_actions)
        self.route("GET", r"/v1/actions/([^/]+)", self.get_action)

    # --- error shapes -----------------------------------------------------
    def error(self, status, code, message, details=None):
        return status, {"error": {"code": code, "message": message, "details": details or {}}}, {}

    def fail(self, status, code, message, details=None):
        raise Fail(*self.error(status, code, message, details))

    def invalid(self, field, message):
        self.fail(422, "invalid_input", "invalid input in field '%s': %s" % (field, message),
                  {"fields": [{"name": field, "messages": [message]}]})

    def unauthorized(self):
        return self.error(401, "unauthorized", "unable to authenticate")

    def read_only(self):
        # 401, not 403: the status the reference gives token_readonly
        # (https://docs.hetzner.cloud/#errors, "Error codes" table;
        # hcloud-go hcloud/error.go ErrorCodeTokenReadonly)
        return self.error(401, "token_readonly", "The token is only allowed to perform GET requests")

    def rate_limited(self):
        return self.error(429, "rate_limit_exceeded",
                          "Limit of '%d' requests per hour reached" % self.rate.limit)

    def quota(self):
        return self.error(403, "resource_limit_exceeded", "server limit exceeded",
                          {"limits": [{"name": "server_limit"}]})

    def status_error(self, status):
        code = {400: "invalid_input", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                409: "conflict", 412: "resource_unavailable", 422: "invalid_input", 423: "locked",
                429: "rate_limit_exceeded", 500: "server_error", 502: "bad_gateway",
                503: "unavailable", 504: "timeout"}.get(status, "service_error")
        message = {429: "Limit of '%d' requests per hour reached" % self.rate.limit,
                   500: "an internal error occurred", 503: "service is currently unavailable",
                   }.get(status, "injected fault (%d)" % status)
        return {"error": {"code": code, "message": message, "details": {}}}

    # --- helpers ------------------------------------------------------------
    @staticmethod
    def now():
        return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")

    def paginate(self, query, items, root, path, headers):
        page = int_param(query, "page", 1)
        per_page = int_param(query, "per_page", 25)
        if page is None or page < 1:
            self.invalid("page", "must be a positive integer")
        if per_page is None or per_page < 1:
            self.invalid("per_page", "must be a positive integer")
        per_page = min(per_page, 50)
        total = len(items)
        last = max(1, math.ceil(total / per_page))
        chunk = items[(page - 1) * per_page:page * per_page]
        pagination = {"page": page, "per_page": per_page,
                      "previous_page": page - 1 if page > 1 else None,
                      "next_page": page + 1 if page < last else None,
                      "last_page": last, "total_entries": total}
        links = []
        base = self.base_url(headers) + path
        for rel, n in (("prev", pagination["previous_page"]), ("next", pagination["next_page"]),
                       ("last", last)):
            if n is not None:
                q = {k: v for k, v in query.items() if k not in ("page", "per_page")}
                q.update({"page": [str(n)], "per_page": [str(per_page)]})
                links.append('<%s?%s>; rel="%s"' % (base, urllib.parse.urlencode(q, doseq=True), rel))
        return 200, {root: chunk, "meta": {"pagination": pagination}}, (
            {"Link": ", ".join(links)} if links else {})

    def selector(self, query):
        text = (query.get("label_selector") or [""])[-1]
        if not text:
            return None
        try:
            return parse_selector(text)
        except ValueError as e:
            self.invalid("label_selector", str(e))

    @staticmethod
    def object_id(text):
        return int(text) if re.fullmatch(r"[0-9]{1,15}", text) else None

    def new_action(self, command, server_id):
        aid = self.next_id("action", 7000)
        action = {"id": aid, "command": command, "status": "running", "progress": 0,
                  "started": self.now(), "finished": None,
                  "resources": [{"id": server_id, "type": "server"}], "error": None}
        self.actions[aid] = action
        return action

    def end_action(self, action, error=None):
        with self.lock:
            action["finished"] = self.now()
            if error:
                action["status"] = "error"
                action["error"] = {"code": error[0], "message": error[1]}
            else:
                action["status"] = "success"
                action["progress"] = 100

    # --- SSH keys -------------------------------------------------------------
    def list_keys(self, match, query, body, headers, fault):
        reqs = self.selector(query)
        name = (query.get("name") or [None])[-1]
        fingerprint = (query.get("fingerprint") or [None])[-1]
        with self.lock:
            keys = [k for _, k in sorted(self.keys.items())
                    if (name is None or k["name"] == name)
                    and (fingerprint is None or k["fingerprint"] == fingerprint)
                    and (reqs is None or selector_matches(reqs, k["labels"]))]
        return self.paginate(query, keys, "ssh_keys", "/v1/ssh_keys", headers)

    def create_key(self, match, query, body, headers, fault):
        name, public_key, labels = body.get("name"), body.get("public_key"), body.get("labels", {})
        if not isinstance(name, str) or not name.strip():
            self.invalid("name", "is required")
        if not isinstance(public_key, str) or not public_key.strip():
            self.invalid("public_key", "is required")
        parsed = parse_public_key(public_key)
        if parsed is None:
            self.invalid("public_key", "invalid public key")
        self.check_labels(labels)
        fingerprint = md5_fingerprint(parsed[1])
        with self.lock:
            for k in self.keys.values():
                if k["name"] == name:
                    self.fail(409, "uniqueness_error", "SSH key with the same name already exists",
                              {"fields": [{"name": "name"}]})
                if k["fingerprint"] == fingerprint:
                    self.fail(409, "uniqueness_error", "SSH key with the same fingerprint already exists",
                              {"fields": [{"name": "public_key"}]})
            key = {"id": self.next_id("ssh_key", 100), "name": name, "fingerprint": fingerprint,
                   "public_key": public_key.strip(), "labels": labels, "created": self.now()}
            self.keys[key["id"]] = key
        return 201, {"ssh_key": key}, {}

    def find_key(self, text):
        kid = self.object_id(text)
        with self.lock:
            if kid is None or kid not in self.keys:
                self.fail(404, "not_found", "SSH key with ID '%s' not found" % text)
            return self.keys[kid]

    def get_key(self, match, query, body, headers, fault):
        return 200, {"ssh_key": self.find_key(match.group(1))}, {}

    def delete_key(self, match, query, body, headers, fault):
        key = self.find_key(match.group(1))
        with self.lock:
            self.keys.pop(key["id"], None)
        return 204, None, {}

    # --- servers --------------------------------------------------------------
    def check_labels(self, labels):
        if not isinstance(labels, dict):
            self.invalid("labels", "must be an object of string keys and values")
        for k, v in labels.items():
            if not label_key_ok(k):
                self.invalid("labels", "invalid label key %r" % k)
            if not label_value_ok(v):
                self.invalid("labels", "invalid label value %r for key %r" % (v, k))

    def server_json(self, rec):
        ipv4 = None
        if rec["ip"]:
            ipv4 = {"id": rec["id"] + 500000, "ip": rec["ip"], "blocked": False,
                    "dns_ptr": "static.%s.clients.your-server.de" % ".".join(reversed(rec["ip"].split(".")))}
        location = rec["location"]
        return {
            "id": rec["id"], "name": rec["name"], "status": rec["status"], "created": rec["created"],
            "labels": rec["labels"],
            "public_net": {"ipv4": ipv4, "ipv6": None, "floating_ips": [], "firewalls": []},
            "private_net": [],
            "server_type": server_type_json(rec["server_type"]),
            # "location" is the current field; "datacenter" is deprecated
            # but still sent (docs.hetzner.cloud, Servers: the Server object)
            "location": location_json(location),
            "datacenter": {"id": 4, "name": DATACENTERS.get(location, location + "-dc1"),
                           "description": location, "location": {"id": 1, "name": location,
                                                                 "network_zone": "eu-central"}},
            "image": {"id": 114690387, "type": "system", "status": "available", "name": rec["image"],
                      "description": rec["image"], "os_flavor": "debian", "architecture": "x86"},
            "iso": None, "rescue_enabled": False, "locked": False, "backup_window": None,
            "outgoing_traffic": None, "ingoing_traffic": None, "included_traffic": 21990232555520,
            "protection": {"delete": False, "rebuild": False}, "volumes": [], "load_balancers": [],
            "primary_disk_size": 40, "placement_group": None,
        }

    def list_servers(self, match, query, body, headers, fault):
        reqs = self.selector(query)
        name = (query.get("name") or [None])[-1]
        statuses = {s for v in query.get("status", []) for s in v.split(",") if s}
        with self.lock:
            servers = [self.server_json(r) for _, r in sorted(self.servers.items())
                       if (name is None or r["name"] == name)
                       and (not statuses or r["status"] in statuses)
                       and (reqs is None or selector_matches(reqs, r["labels"]))]
        return self.paginate(query, servers, "servers", "/v1/servers", headers)

    def create_server(self, match, query, body, headers, fault):
        name = body.get("name")
        if not isinstance(name, str) or not name:
            self.invalid("name", "is required")
        if not is_hostname(name):
            self.invalid("name", "must be a valid hostname (RFC 1123: letters, digits, periods, dashes)")
        for field in ("server_type", "image"):
            v = body.get(field)
            if isinstance(v, bool) or not isinstance(v, (str, int)) or v == "":
                self.invalid(field, "is required")
        location = body.get("location") or "fsn1"
        if body.get("location") is None and isinstance(body.get("datacenter"), str):
            location = body["datacenter"].split("-")[0]
        if not isinstance(location, str) or not re.fullmatch(r"[a-z0-9-]{1,32}", location):
            self.invalid("location", "unknown location")
        labels = body.get("labels") or {}
        self.check_labels(labels)
        wanted = body.get("ssh_keys") or []
        if not isinstance(wanted, list):
            self.invalid("ssh_keys", "must be a list of SSH key IDs or names")
        start = body.get("start_after_create", True)
        if not isinstance(start, bool):
            self.invalid("start_after_create", "must be a boolean")
        with self.lock:
            keys = []
            for want in wanted:
                key = None
                for k in self.keys.values():
                    if (isinstance(want, str) and k["name"] == want) or \
                            (not isinstance(want, bool) and str(want) == str(k["id"])):
                        key = k
                        break
                if key is None:
                    self.invalid("ssh_keys", "SSH key %r not found" % (want,))
                keys.append(key["public_key"])
            if any(r["name"] == name for r in self.servers.values()):
                self.fail(409, "uniqueness_error", "server name is already used",
                          {"fields": [{"name": "name"}]})
            if self.args.server_limit and len(self.servers) >= self.args.server_limit:
                raise Fail(*self.quota())
            try:
                ip = self.nodes.reserve_ip()
            except NodeError as e:
                self.fail(412, "resource_unavailable", str(e))
            sid = self.next_id("server", 1000)
            rec = {"id": sid, "name": name, "status": "initializing", "created": self.now(),
                   "labels": labels, "server_type": str(body["server_type"]), "image": str(body["image"]),
                   "location": location, "ip": ip, "cancel": threading.Event(), "boot": None,
                   "node": False, "t0": time.time()}
            self.servers[sid] = rec
            create = self.new_action("create_server", sid)
            nxt = [self.new_action("start_server", sid)] if start else []
            rec["boot"] = threading.Thread(target=self.boot, args=(rec, keys, create, nxt, fault),
                                           daemon=True)
            rec["boot"].start()
            answer = {"server": self.server_json(rec), "action": dict(create),
                      "next_actions": [dict(a) for a in nxt], "root_password": None}
        return 201, answer, {}

    def boot(self, rec, keys, create, nxt, fault):
        """create_server ends when the node is created (and started), start_server
        when its sshd answers; the server is "running" then"""
        sid = rec["id"]
        if fault.get("action_error"):
            rec["cancel"].wait(0.5)
            err = (fault.get("error_code") or "action_failed", fault.get("message") or "Action failed")
            with self.lock:
                rec["status"] = "off"
                self.nodes.release_ip(rec["ip"])
                rec["ip"] = None
            self.end_action(create, err)
            for a in nxt:
                self.end_action(a, err)
            log(self.provider, "server %d (%s): create action failed (injected)" % (sid, rec["name"]))
            return
        try:
            ip = self.nodes.create(sid, rec["name"], keys, rec["ip"], rec["cancel"])
        except NodeError as e:
            with self.lock:
                rec["node"] = True   # something may be left: DELETE removes it
                if rec["status"] != "deleting":
                    rec["status"] = "off"
            self.end_action(create, ("server_create_failed", str(e)))
            for a in nxt:
                self.end_action(a, ("server_create_failed", str(e)))
            log(self.provider, "server %d (%s): %s" % (sid, rec["name"], e))
            return
        with self.lock:
            rec["node"] = True
            if ip != rec["ip"]:
                rec["ip"] = ip
            if rec["status"] == "initializing":
                rec["status"] = "starting" if nxt else "off"
        self.end_action(create)
        if not nxt:
            try:   # cloud-init ran on the first boot
                self.nodes.write_keys(sid, keys)
            except NodeError as e:
                log(self.provider, "server %d: keys not written: %s" % (sid, e))
            self.nodes.cmd("stop", "-t", "1", self.nodes.names(sid)[0])
            return
        result = self.nodes.wait_ssh(sid, ip, rec["cancel"])
        if result == "ok":
            def mark_running():
                with self.lock:
                    if rec["status"] == "starting":
                        rec["status"] = "running"
                self.end_action(nxt[0])
                log(self.provider, "server %d (%s) running on %s:22 after %.1f s" % (
                    sid, rec["name"], ip, time.time() - rec["t0"]))
            self.cloud_init(sid, keys, rec["cancel"], mark_running)
        elif result != "cancelled":
            with self.lock:
                if rec["status"] == "starting":
                    rec["status"] = "unknown"
            self.end_action(nxt[0], ("timeout", "server did not boot: sshd %s" % result))
            log(self.provider, "server %d (%s): no SSH banner on %s:22 (%s)\n%s" % (
                sid, rec["name"], ip, result, self.nodes.logs(sid)))

    def find_server(self, text):
        sid = self.object_id(text)
        with self.lock:
            if sid is None or sid not in self.servers:
                self.fail(404, "not_found", "server with ID '%s' not found" % text)
            return self.servers[sid]

    def get_server(self, match, query, body, headers, fault):
        rec = self.find_server(match.group(1))
        with self.lock:
            return 200, {"server": self.server_json(rec)}, {}

    def server_actions(self, match, query, body, headers, fault):
        rec = self.find_server(match.group(1))
        with self.lock:
            actions = [a for _, a in sorted(self.actions.items())
                       if a["resources"][0]["id"] == rec["id"]]
        return self.paginate(query, actions, "actions", match.group(0), headers)

    def delete_server(self, match, query, body, headers, fault):
        rec = self.find_server(match.group(1))
        with self.lock:
            action = self.new_action("delete_server", rec["id"])
            rec["status"] = "deleting"
            rec["cancel"].set()
            t = threading.Thread(target=self.teardown, args=(rec, action), daemon=True)
            self.teardowns.append(t)
            t.start()
            return 200, {"action": dict(action)}, {}

    def teardown(self, rec, action):
        """wait for the boot thread, remove the node, forget the server"""
        t0 = time.time()
        if rec["boot"] is not None:
            rec["boot"].join(self.args.boot_timeout + 300)
        ok = True
        if rec["node"]:
            ok = self.nodes.remove(rec["id"])
        with self.lock:
            self.servers.pop(rec["id"], None)
        self.nodes.release_ip(rec["ip"])
        if ok:
            self.end_action(action)
            log(self.provider, "server %d (%s) deleted, node removed in %.1f s" % (
                rec["id"], rec["name"], time.time() - t0))
        else:
            self.end_action(action, ("server_error", "could not remove the node"))
            log(self.provider, "server %d (%s): could not remove its node" % (rec["id"], rec["name"]))

    # --- power ----------------------------------------------------------------
    def power_action(self, match, query, body, headers, fault):
        """POST /servers/{id}/actions/poweron|poweroff: 201 {action} with the
        commands start_server / stop_server (docs.hetzner.cloud, Server
        Actions: "Power on a Server", "Power off a Server"); the node is
        started / stopped behind it, the status goes starting -> running
        (once sshd answers) / off"""
        rec = self.find_server(match.group(1))
        on = match.group(2) == "poweron"
        with self.lock:
            if rec["status"] == "deleting" or not rec["node"]:
                self.fail(423, "locked", "server %d is locked (an action is running)" % rec["id"])
            action = self.new_action("start_server" if on else "stop_server", rec["id"])
            if (rec["status"] == "running") == on:
                self.end_action(action)   # already so
                return 201, {"action": dict(action)}, {}
            rec["status"] = "starting" if on else "stopping"
            threading.Thread(target=self.power, args=(rec, on, action), daemon=True).start()
            return 201, {"action": dict(action)}, {}

    def power(self, rec, on, action):
        try:
            self.nodes.power(rec["id"], on)
        except NodeError as e:
            with self.lock:
                rec["status"] = "unknown"
            self.end_action(action, ("action_failed", str(e)))
            return
        if not on:
            with self.lock:
                if rec["status"] == "stopping":
                    rec["status"] = "off"
            self.end_action(action)
            log(self.provider, "server %d (%s) powered off" % (rec["id"], rec["name"]))
            return
        result = self.nodes.wait_ssh(rec["id"], rec["ip"], rec["cancel"])
        with self.lock:
            if rec["status"] == "starting":
                rec["status"] = "running" if result == "ok" else "unknown"
        self.end_action(action, None if result == "ok" else ("timeout", "sshd %s" % result))
        log(self.provider, "server %d (%s) powered on: %s" % (rec["id"], rec["name"], result))

    # --- catalogue -------------------------------------------------------------
    def list_server_types(self, match, query, body, headers, fault):
        name = (query.get("name") or [None])[-1]
        types = [server_type_json(t[1]) for t in SERVER_TYPES if name is None or t[1] == name]
        return self.paginate(query, types, "server_types", "/v1/server_types", headers)

    def images(self):
        return [image_json(e, arch) for e in IMAGES for arch in ("x86", "arm")]

    def list_images(self, match, query, body, headers, fault):
        name = (query.get("name") or [None])[-1]
        types = {t for v in query.get("type", []) for t in v.split(",") if t}
        arch = (query.get("architecture") or [None])[-1]
        images = [i for i in self.images() if (name is None or i["name"] == name)
                  and (not types or i["type"] in types) and (arch is None or i["architecture"] == arch)]
        return self.paginate(query, images, "images", "/v1/images", headers)

    def get_image(self, match, query, body, headers, fault):
        iid = self.object_id(match.group(1))
        for i in self.images():
            if i["id"] == iid:
                return 200, {"image": i}, {}
        self.fail(404, "not_found", "image with ID '%s' not found" % match.group(1))

    def list_locations(self, match, query, body, headers, fault):
        name = (query.get("name") or [None])[-1]
        locs = [location_json(loc[1]) for loc in LOCATIONS if name is None or loc[1] == name]
        return self.paginate(query, locs, "locations", "/v1/locations", headers)

    # --- actions --------------------------------------------------------------
    def get_action(self, match, query, body, headers, fault):
        aid = self.object_id(match.group(1))
        with self.lock:
            if aid is None or aid not in self.actions:
                self.fail(404, "not_found", "action with ID '%s' not found" % match.group(1))
            return 200, {"action": dict(self.actions[aid])}, {}

    def list_actions(self, match, query, body, headers, fault):
        ids = {self.object_id(v) for v in query.get("id", [])}
        statuses = set(query.get("status", []))
        with self.lock:
            actions = [dict(a) for i, a in sorted(self.actions.items())
                       if (not ids or i in ids) and (not statuses or a["status"] in statuses)]
        return self.paginate(query, actions, "actions", "/v1/actions", headers)

    # --- admin hooks ----------------------------------------------------------
    def resources(self):
        servers = []
        for _, rec in sorted(self.servers.items()):
            s = self.server_json(rec)
            ctr, vol = self.nodes.names(rec["id"])
            s["fake"] = {"ip": rec["ip"], "container": ctr if rec["node"] else None,
                         "volume": vol if rec["node"] else None}
            servers.append(s)
        return {"servers": servers, "ssh_keys": [k for _, k in sorted(self.keys.items())],
                "actions": [a for _, a in sorted(self.actions.items())]}

    def remove_all(self):
        with self.lock:
            recs = list(self.servers.values())
            self.keys.clear()
            threads = []
            for rec in recs:
                rec["status"] = "deleting"
                rec["cancel"].set()
                action = self.new_action("delete_server", rec["id"])
                t = threading.Thread(target=self.teardown, args=(rec, action), daemon=True)
                t.start()
                threads.append(t)
        for t in threads:
            t.join(self.args.boot_timeout + 400)
        return len(recs)


if __name__ == "__main__":
    sys.exit(serve(Hetzner, sys.argv[1:]))
