#!/usr/bin/env python3
"""proxy.py - a Docker Engine API forwarder that can count requests.

Listens on a unix socket and/or a TCP port on 127.0.0.1 and forwards every
connection, byte for byte, to the engine's unix socket. With --count it
also follows the HTTP requests each client sends (request line, headers,
a body by Content-Length or chunked encoding) and counts them, by method
and path, the engine API version prefix stripped and container names and
IDs folded into {id}. A connection that is hijacked (attach, exec start,
or any request with an Upgrade header) is counted once and then forwarded
without parsing.

    proxy.py --upstream /var/run/docker.sock --unix PATH [--tcp PORT]
             [--count --control PATH]

The control socket answers one line per connection: send "get" for the
counts as JSON ({"total": N, "by": {"GET /containers/json": N, ...}}),
"reset" to get them and start again from zero. The proxy prints "ready"
on stdout once it listens, and stops on SIGTERM or SIGINT.

Python 3 standard library only; loopback and unix sockets only.
"""
import argparse
import json
import os
import re
import signal
import socket
import sys
import threading

BUFSIZE = 65536
_lock = threading.Lock()
_counts = {}
_total = 0

_VERSION = re.compile(r"^/v\d+(\.\d+)?(?=/)")
# /containers/NAME/start -> /containers/{id}/start; /containers/create stays
_KINDS = ("containers", "images", "networks", "volumes", "exec", "plugins")


def normalise(method, target):
    path = target.split("?", 1)[0]
    path = _VERSION.sub("", path)
    parts = path.split("/")
    if len(parts) > 3 and parts[1] == "images":  # names have slashes: local/busybox:1
        op = parts[-1] if parts[-1] in ("json", "history", "push", "tag", "get") else None
        parts = ["", "images", "{id}"] + ([op] if op else [])
        return "%s %s" % (method, "/".join(parts))
    for i in range(1, len(parts) - 1):
        if parts[i] in _KINDS and i + 1 < len(parts):
            nxt = parts[i + 1]
            if nxt and nxt not in ("create", "json", "prune", "load", "search", "get", "build"):
                parts[i + 1] = "{id}"
    return "%s %s" % (method, "/".join(parts))


def count(method, target):
    global _total
    key = normalise(method, target)
    with _lock:
        _total += 1
        _counts[key] = _counts.get(key, 0) + 1


def snapshot(reset):
    global _total, _counts
    with _lock:
        out = {"total": _total, "by": dict(sorted(_counts.items()))}
        if reset:
            _total = 0
            _counts = {}
    return out


class RequestParser:
    """Follows a client's byte stream and calls count() per request."""

    def __init__(self):
        self.buf = b""
        self.state = "head"  # head | body | chunk-size | chunk-data | chunk-trailer | raw
        self.left = 0

    def feed(self, data):
        if self.state == "raw":
            return
        self.buf += data
        while self.buf and self.state != "raw":
            if self.state == "head":
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(self.buf) > 1 << 20:  # not HTTP after all
                        self.state = "raw"
                    return
                head, self.buf = self.buf[:end], self.buf[end + 4:]
                lines = head.decode("latin-1").split("\r\n")
                while lines and lines[0] == "":  # stray CRLF between requests
                    lines.pop(0)
                if not lines:
                    continue
                parts = lines[0].split(" ")
                if len(parts) < 2:
                    self.state = "raw"
                    return
                method, target = parts[0], parts[1]
                count(method, target)
                headers = {}
                for line in lines[1:]:
                    k, _, v = line.partition(":")
                    headers[k.strip().lower()] = v.strip()
                path = target.split("?", 1)[0]
                if ("upgrade" in headers or path.endswith("/attach")
                        or (path.endswith("/start") and "/exec/" in path)):
                    self.state = "raw"
                    self.buf = b""
                    return
                if "chunked" in headers.get("transfer-encoding", "").lower():
                    self.state = "chunk-size"
                else:
                    self.left = int(headers.get("content-length", "0") or 0)
                    self.state = "body" if self.left > 0 else "head"
            elif self.state == "body":
                take = min(self.left, len(self.buf))
                self.buf = self.buf[take:]
                self.left -= take
                if self.left == 0:
                    self.state = "head"
            elif self.state == "chunk-size":
                end = self.buf.find(b"\r\n")
                if end < 0:
                    return
                size = int(self.buf[:end].split(b";")[0].strip() or b"0", 16)
                self.buf = self.buf[end + 2:]
                if size == 0:
                    self.state = "chunk-trailer"
                else:
                    self.left = size + 2  # data and its CRLF
                    self.state = "chunk-data"
            elif self.state == "chunk-data":
                take = min(self.left, len(self.buf))
                self.buf = self.buf[take:]
                self.left -= take
                if self.left == 0:
                    self.state = "chunk-size"
            elif self.state == "chunk-trailer":
                end = self.buf.find(b"\r\n")
                if end < 0:
                    return
                line, self.buf = self.buf[:end], self.buf[end + 2:]
                if line == b"":
                    self.state = "head"


def pump(src, dst, parser):
    try:
        while True:
            data = src.recv(BUFSIZE)
            if not data:
                break
            if parser is not None:
                try:
                    parser.feed(data)
                except (ValueError, UnicodeDecodeError):
                    parser.state = "raw"
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def serve_client(client, upstream_path, counting):
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(upstream_path)
    except OSError:
        client.close()
        upstream.close()
        return
    if client.family == socket.AF_INET:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    back = threading.Thread(target=pump, args=(upstream, client, None), daemon=True)
    back.start()
    pump(client, upstream, RequestParser() if counting else None)
    back.join(timeout=600)
    client.close()
    upstream.close()


def accept_loop(listener, upstream_path, counting):
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=serve_client, args=(client, upstream_path, counting),
                         daemon=True).start()


def control_loop(listener):
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            try:
                line = conn.recv(256).decode().strip()
                out = snapshot(reset=(line == "reset"))
                conn.sendall(json.dumps(out).encode() + b"\n")
            except OSError:
                pass


def unix_listener(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    os.chmod(path, 0o600)
    s.listen(256)
    return s


def control(path, what="get", timeout=10):
    """Client side of the control socket (used by bench.py)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(what.encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(BUFSIZE)
            if not chunk:
                break
            data += chunk
        return json.loads(data)
    finally:
        s.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", required=True, help="the engine's unix socket")
    ap.add_argument("--unix", help="listen on this unix socket")
    ap.add_argument("--tcp", type=int, help="listen on 127.0.0.1:PORT (0: any free port)")
    ap.add_argument("--count", action="store_true", help="count HTTP requests")
    ap.add_argument("--control", help="control socket (with --count)")
    a = ap.parse_args()
    if not a.unix and a.tcp is None:
        ap.error("--unix or --tcp is needed")
    listeners = []
    if a.unix:
        listeners.append(unix_listener(a.unix))
    port = None
    if a.tcp is not None:
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind(("127.0.0.1", a.tcp))
        t.listen(256)
        port = t.getsockname()[1]
        listeners.append(t)
    for s in listeners:
        threading.Thread(target=accept_loop, args=(s, a.upstream, a.count), daemon=True).start()
    if a.control:
        threading.Thread(target=control_loop, args=(unix_listener(a.control),), daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("ready" + (" tcp=%d" % port if port is not None else ""), flush=True)
    while not stop.wait(1):
        pass
    for path in (a.unix, a.control):
        if path:
            try:
                os.unlink(path)
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
