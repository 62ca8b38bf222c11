#!/usr/bin/env python3
"""A registry guarded by a token service, as Docker Hub does it.

Docker Hub's token flow cannot run here, so this stateful fake follows the
documented protocol (distribution's "Token Authentication Specification"):
  GET/HEAD /v2/...            401 + WWW-Authenticate: Bearer realm=...,
                              service=...,scope=repository:NAME:pull
  GET /token?service=&scope=  with Basic credentials -> {"token": T}
                              (401 for wrong credentials)
  /v2/NAME/manifests/TAG      with "Authorization: Bearer T" -> 200 and
                              Docker-Content-Digest (HEAD), tags/list (GET)
Tokens are random, remembered, and valid for the scope they were issued
for only. Listens on 127.0.0.1; prints "PORT PID" on stdout; serves until
killed, and exits by itself after 120 s so a failed test never leaves it
behind. Usage: token_registry.py USER PASSWORD
"""
import base64
import http.server
import json
import secrets
import os
import sys
import threading

USER, PASSWORD = sys.argv[1], sys.argv[2]
REPOS = {"lab/busybox": {"1": "sha256:" + "ab" * 32, "2": "sha256:" + "cd" * 32}}
TOKENS = {}  # token -> scope


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, body=b"", headers=None):
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def challenge(self, scope):
        realm = "http://127.0.0.1:%d/token" % self.server.server_port
        self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', {
            "WWW-Authenticate": 'Bearer realm="%s",service="fake-hub",scope="%s"' % (realm, scope)})

    def token(self):
        auth = self.headers.get("Authorization", "")
        want = "Basic " + base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
        query = dict(p.split("=", 1) for p in self.path.split("?", 1)[-1].split("&") if "=" in p)
        if auth != want or query.get("service") != "fake-hub":
            return self.reply(401, b'{"details":"incorrect username or password"}')
        tok = secrets.token_hex(16)
        TOKENS[tok] = query.get("scope", "").replace("%3A", ":").replace("%2F", "/")
        self.reply(200, json.dumps({"token": tok}).encode(), {"Content-Type": "application/json"})

    def registry(self):
        parts = self.path.split("?")[0].split("/")
        # /v2/<repo...>/manifests/<ref> or /v2/<repo...>/tags/list
        if len(parts) < 5 or parts[1] != "v2":
            return self.reply(404)
        repo = "/".join(parts[2:-2])
        scope = "repository:%s:pull" % repo
        tok = self.headers.get("Authorization", "")[len("Bearer "):]
        if TOKENS.get(tok) != scope:
            return self.challenge(scope)
        if repo not in REPOS:
            return self.reply(404, b'{"errors":[{"code":"NAME_UNKNOWN"}]}')
        if parts[-2] == "tags" and parts[-1] == "list":
            body = json.dumps({"name": repo, "tags": sorted(REPOS[repo])}).encode()
            return self.reply(200, body, {"Content-Type": "application/json"})
        digest = REPOS[repo].get(parts[-1])
        if parts[-2] != "manifests" or digest is None:
            return self.reply(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
        self.reply(200, b"{}", {"Docker-Content-Digest": digest,
                                "Content-Type": "application/vnd.docker.distribution.manifest.v2+json"})

    def do_GET(self):
        if self.path.startswith("/token"):
            return self.token()
        self.registry()

    do_HEAD = do_GET


# threads: a client keeps its registry connection open while it asks the
# token service on a second one
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
threading.Timer(120, lambda: os._exit(0)).start()
print(server.server_port, os.getpid(), flush=True)
server.serve_forever()
