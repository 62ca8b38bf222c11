#!/usr/bin/env python3
"""A stateful fake of the DigitalOcean API (v2) whose Droplets are real nodes.

Every Droplet it creates is a container of the test lab's node image
(tests/lab/node.sh), with the keys named in the request in
/root/.ssh/authorized_keys and sshd published on its own loopback address
port 22 (127.0.0.2, 127.0.0.3, ...): the Droplet's public IPv4. A Droplet
is "new", with no networks, until that sshd answers with an SSH banner;
then it is "active" with networks.v4 [{ip_address, type: "public"}]. DELETE
answers 204 at once and removes the container and its volume behind it.
State is in memory only.

  digitalocean_api.py --token T [--readonly-token R] [--port 0] [--run-label L]
                      [--node-image bootstrap/node:bookworm] [--first-ip 127.0.0.2]

prints "listening on PORT" (flushed) once it serves on 127.0.0.1:PORT, and
removes every container and volume it made on SIGTERM, SIGINT and exit. See
tests/fakes/README.md for the endpoints, the options and the admin API
(/__fake/...: faults, state, reset).

Written from the public documentation (https://docs.digitalocean.com/
reference/api/, the OpenAPI document github.com/digitalocean/openapi):
error shape {"id", "message"}, tag syntax, pagination (links.pages, meta.total,
per_page 20 by default, 200 at most), RateLimit-* headers, the Droplet,
SSH key and action objects; 202 for a create, 204 for a delete.

The HTTP server, auth, rate limit, faults, request log, admin endpoints and
node containers are shared with the Hetzner fake: they live in
hetzner_api.py, next to this file.
"""
import datetime
import math
import os
import re
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ next to the sources
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hetzner_api import (  # noqa: E402  (the shared machinery, see above)
    Fail, FakeCloud, NodeError, int_param, log, md5_fingerprint, parse_public_key, serve)

TAG_RX = r"[A-Za-z0-9_:-]{1,255}"

# The catalogue GET /v2/sizes, /v2/regions and /v2/images/{id or slug}
# answer from, in the OpenAPI document's shapes (github.com/digitalocean/
# openapi: size "available", "regions"; region "available", "sizes";
# image id, slug, distribution). A small, fixed excerpt: s-1vcpu-512mb-10gb
# stands for a size that is not available, nyc2 for a region closed to new
# droplets; gpu-* sizes make GPU droplets.
REGIONS = [("ams3", "Amsterdam 3", True), ("fra1", "Frankfurt 1", True),
           ("lon1", "London 1", True), ("nyc1", "New York 1", True),
           ("nyc2", "New York 2", False), ("nyc3", "New York 3", True),
           ("sfo3", "San Francisco 3", True), ("sgp1", "Singapore 1", True),
           ("tor1", "Toronto 1", True)]
SIZES = [  # slug, memory MB, vcpus, disk GB, available, regions
    ("s-1vcpu-512mb-10gb", 512, 1, 10, False, ["fra1", "nyc1"]),
    ("s-1vcpu-1gb", 1024, 1, 25, True, None),
    ("s-1vcpu-2gb", 2048, 1, 50, True, None),
    ("s-2vcpu-2gb", 2048, 2, 60, True, None),
    ("s-2vcpu-4gb", 4096, 2, 80, True, None),
    ("s-4vcpu-8gb", 8192, 4, 160, True, None),
    ("c-2", 4096, 2, 25, True, None),
    ("g-2vcpu-8gb", 8192, 2, 25, True, None),
    ("gpu-h100x1-80gb", 245760, 20, 720, True, ["nyc2", "tor1"]),
    ("gpu-4000adax1-20gb", 32768, 8, 500, True, ["tor1"]),
]
IMAGES = [(106569146, "debian-11-x64", "Debian", "11 x64"),
          (155440340, "debian-12-x64", "Debian", "12 x64"),
          (189287621, "debian-13-x64", "Debian", "13 x64"),
          (129211873, "ubuntu-22-04-x64", "Ubuntu", "22.04 (LTS) x64"),
          (163257185, "ubuntu-24-04-x64", "Ubuntu", "24.04 (LTS) x64")]


def size_json(entry):
    slug, memory, vcpus, disk, available, regions = entry
    return {"slug": slug, "memory": memory, "vcpus": vcpus, "disk": disk, "transfer": 1.0,
            "price_monthly": 6.0, "price_hourly": 0.00893, "available": available,
            "regions": regions if regions is not None else [r[0] for r in REGIONS if r[2]],
            "description": "GPU" if slug.startswith("gpu-") else "Basic"}


def region_json(entry):
    slug, name, available = entry
    return {"slug": slug, "name": name, "available": available,
            "features": ["backups", "ipv6", "metadata", "install_agent"],
            "sizes": [s[0] for s in SIZES if s[4] and available
                      and (s[5] is None or slug in s[5])]}


def is_gpu(size):
    return isinstance(size, str) and size.startswith("gpu-")
NAME_RX = r"[A-Za-z0-9.-]{1,255}"
NOT_FOUND = "The resource you were accessing could not be found."


class DigitalOcean(FakeCloud):
    provider = "digitalocean"
    rate_mode = "window"
    default_rate_limit = 5000

    def __init__(self, args):
        super().__init__(args)
        self.droplets = {}   # id -> record
        self.keys = {}       # id -> ssh key JSON
        self.actions = {}    # id -> action JSON
        self.removing = {}   # id -> name: deleted Droplets whose node is being removed
        self.route("GET", r"/v2/account/keys", self.list_keys)
        self.route("POST", r"/v2/account/keys", self.create_key)
        self.route("GET", r"/v2/account/keys/([^/]+)", self.get_key)
        self.route("DELETE", r"/v2/account/keys/([^/]+)", self.delete_key)
        self.route("GET", r"/v2/droplets", self.list_droplets)
        self.route("POST", r"/v2/droplets", self.create_droplets)
        self.route("GET", r"/v2/droplets/([^/]+)", self.get_droplet)
        self.route("DELETE", r"/v2/droplets/([^/]+)", self.delete_droplet)
        self.route("GET", r"/v2/droplets/([^/]+)/actions/([^/]+)", self.get_droplet_action)
        self.route("GET", r"/v2/actions/([^/]+)", self.get_action)
        self.route("POST", r"/v2/droplets/([^/]+)/actions", self.droplet_action)
        self.route("GET", r"/v2/sizes", self.list_sizes)
        self.route("GET", r"/v2/regions", self.list_regions)
        self.route("GET", r"/v2/images/([^/]+)", self.get_image)

    # --- error shapes -----------------------------------------------------
    def error(self, status, code, message, details=None):
        return status, {"id": code, "message": message}, {}

    def fail(self, status, code, message):
        raise Fail(*self.error(status, code, message))

    def unprocessable(self, message):
        self.fail(422, "unprocessable_entity", message)

    def unauthorized(self):
        return self.error(401, "Unauthorized", "Unable to authenticate you")

    def read_only(self):
        return self.error(403, "forbidden", "You do not have access for the attempted action.")

    def rate_limited(self):
        return self.error(429, "too_many_requests", "API Rate limit exceeded.")

    def quota(self):
        return self.error(422, "unprocessable_entity",
                          "creating this/these droplet(s) will exceed your droplet limit")

    def bad_json(self, detail):
        return self.error(400, "bad_request", "unparseable JSON: " + detail)

    def status_error(self, status):
        code, message = {
            400: ("bad_request", "The request was malformed."),
            401: ("Unauthorized", "Unable to authenticate you"),
            403: ("forbidden", "You do not have access for the attempted action."),
            404: ("not_found", NOT_FOUND),
            422: ("unprocessable_entity", "injected fault (422)"),
            429: ("too_many_requests", "API Rate limit exceeded."),
            500: ("server_error", "Unexpected server-side error"),
            503: ("service_unavailable", "Service is temporarily unavailable."),
        }.get(status, ("error", "injected fault (%d)" % status))
        return {"id": code, "message": message}

    # --- helpers ------------------------------------------------------------
    @staticmethod
    def now():
        return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def paginate(self, query, items, root, path, headers):
        page = int_param(query, "page", 1)
        per_page = int_param(query, "per_page", 20)
        if page is None or page < 1 or per_page is None or per_page < 1:
            self.fail(400, "bad_request", "page and per_page must be positive integers")
        per_page = min(per_page, 200)
        total = len(items)
        last = max(1, math.ceil(total / per_page))
        chunk = items[(page - 1) * per_page:page * per_page]

        def url(n):
            q = {k: v for k, v in query.items() if k not in ("page", "per_page")}
            q.update({"page": [str(n)], "per_page": [str(per_page)]})
            return "%s%s?%s" % (self.base_url(headers), path, urllib.parse.urlencode(q, doseq=True))

        pages = {}
        if page > 1:
            pages["first"] = url(1)
            pages["prev"] = url(min(page - 1, last))
        if page < last:
            pages["next"] = url(page + 1)
            pages["last"] = url(last)
        return 200, {root: chunk, "links": {"pages": pages}, "meta": {"total": total}}, {}

    def new_action(self, kind, droplet_id, region):
        aid = self.next_id("action", 36800000)
        action = {"id": aid, "status": "in-progress", "type": kind, "started_at": self.now(),
                  "completed_at": None, "resource_id": droplet_id, "resource_type": "droplet",
                  "region": {"slug": region, "name": region, "available": True}, "region_slug": region}
        self.actions[aid] = action
        return action

    def end_action(self, action, ok=True):
        with self.lock:
            action["status"] = "completed" if ok else "errored"
            action["completed_at"] = self.now()

    # --- SSH keys -------------------------------------------------------------
    def list_keys(self, match, query, body, headers, fault):
        with self.lock:
            keys = [k for _, k in sorted(self.keys.items())]
        return self.paginate(query, keys, "ssh_keys", "/v2/account/keys", headers)

    def create_key(self, match, query, body, headers, fault):
        name, public_key = body.get("name"), body.get("public_key")
        if not isinstance(name, str) or not name.strip():
            self.unprocessable("Name is required")
        parsed = parse_public_key(public_key) if isinstance(public_key, str) else None
        if parsed is None:
            self.unprocessable("Key invalid, key should be of the format `type key [comment]`")
        fingerprint = md5_fingerprint(parsed[1])
        with self.lock:
            if any(k["fingerprint"] == fingerprint for k in self.keys.values()):
                self.unprocessable("SSH Key is already in use on your account")
            key = {"id": self.next_id("ssh_key", 512188), "fingerprint": fingerprint,
                   "public_key": public_key.strip(), "name": name}
            self.keys[key["id"]] = key
        return 201, {"ssh_key": key}, {}

    def find_key(self, ident):
        with self.lock:
            for k in self.keys.values():
                if ident == str(k["id"]) or ident == k["fingerprint"]:
                    return k
        self.fail(404, "not_found", NOT_FOUND)

    def get_key(self, match, query, body, headers, fault):
        return 200, {"ssh_key": self.find_key(match.group(1))}, {}

    def delete_key(self, match, query, body, headers, fault):
        key = self.find_key(match.group(1))
        with self.lock:
            self.keys.pop(key["id"], None)
        return 204, None, {}

    # --- Droplets -------------------------------------------------------------
    def droplet_json(self, rec):
        v4 = []   # assigned once the Droplet is up; kept while it is off
        if rec["status"] in ("active", "off") and rec["ip"] and rec["node"]:
            v4 = [{"ip_address": rec["ip"], "netmask": "255.0.0.0", "gateway": "127.0.0.1",
                   "type": "public"}]
        image = rec["image"]
        return {
            "id": rec["id"], "name": rec["name"], "memory": 2048, "vcpus": 1, "disk": 50,
            "locked": False, "status": rec["status"], "kernel": None, "created_at": rec["created_at"],
            "features": [], "backup_ids": [], "next_backup_window": None, "snapshot_ids": [],
            "image": {"id": image if isinstance(image, int) else 112929454,
                      "slug": None if isinstance(image, int) else image,
                      "name": str(image), "distribution": "Debian", "type": "base", "public": True},
            "volume_ids": [], "size": {"slug": rec["size"], "memory": 2048, "vcpus": 1, "disk": 50},
            "size_slug": rec["size"],
            "networks": {"v4": v4, "v6": []},
            "region": {"slug": rec["region"], "name": rec["region"], "available": True},
            "tags": rec["tags"], "vpc_uuid": "6c9a2bd4-1fe6-4c60-a6a2-fc1c0a0d3f01",
        }

    def list_droplets(self, match, query, body, headers, fault):
        # OpenAPI droplets_list: tag_name "can not be combined with name or
        # type"; type "gpus" lists only GPU Droplets, and "by default, only
        # non-GPU Droplets are returned"
        tag = (query.get("tag_name") or [None])[-1]
        name = (query.get("name") or [None])[-1]
        kind = (query.get("type") or [None])[-1]
        if tag is not None and name is not None:
            self.unprocessable("tag_name can not be combined with name")
        if tag is not None and kind is not None:
            self.unprocessable("tag_name can not be combined with type")
        if kind not in (None, "droplets", "gpus"):
            self.unprocessable("type must be one of droplets, gpus")
        gpus = kind == "gpus"
        with self.lock:
            droplets = [self.droplet_json(r) for _, r in sorted(self.droplets.items())
                        if (tag is None or tag in r["tags"])
                        and (name is None or r["name"].lower() == name.lower())
                        and is_gpu(r["size"]) == gpus]
        return self.paginate(query, droplets, "droplets", "/v2/droplets", headers)

    def create_droplets(self, match, query, body, headers, fault):
        if "names" in body:
            names = body["names"]
            if not isinstance(names, list) or not 1 <= len(names) <= 10:
                self.unprocessable("names must be a list of 1 to 10 names")
        else:
            names = [body.get("name")]
        for name in names:
            if not isinstance(name, str) or not name:
                self.unprocessable("Name is required")
            if not re.fullmatch(NAME_RX, name):
                self.unprocessable("Only valid hostname characters are allowed. (a-z, A-Z, 0-9, . and -)")
        for field in ("region", "size"):
            if not isinstance(body.get(field), str) or not re.fullmatch(r"[a-z0-9-]{1,64}", body[field]):
                self.unprocessable("You specified an invalid %s for Droplet creation." % field)
        image = body.get("image")
        if isinstance(image, bool) or not isinstance(image, (str, int)) or image == "":
            self.unprocessable("You specified an invalid image for Droplet creation.")
        tags = body.get("tags") or []
        if not isinstance(tags, list):
            self.unprocessable("tags must be a list of tag names")
        for tag in tags:
            if not isinstance(tag, str) or not re.fullmatch(TAG_RX, tag):
                self.unprocessable("invalid tag %r: tags may contain letters, numbers, colons, dashes and "
                                   "underscores, 255 characters at most" % (tag,))
        wanted = body.get("ssh_keys") or []
        if not isinstance(wanted, list):
            self.unprocessable("ssh_keys must be a list of SSH key IDs or fingerprints")
        with self.lock:
            keys, unknown = [], []
            for want in wanted:
                key = None
                if not isinstance(want, bool) and isinstance(want, (str, int)):
                    key = next((k for k in self.keys.values()
                                if str(want) == str(k["id"]) or want == k["fingerprint"]), None)
                if key is None:
                    unknown.append(str(want))
                else:
                    keys.append(key["public_key"])
            if unknown:
                self.unprocessable("%s are invalid key identifiers for Droplet creation." % ", ".join(unknown))
            if self.args.server_limit and len(self.droplets) + len(names) > self.args.server_limit:
                raise Fail(*self.quota())
            ips = []
            try:
                for _ in names:
                    ips.append(self.nodes.reserve_ip())
            except NodeError as e:
                for ip in ips:
                    self.nodes.release_ip(ip)
                self.unprocessable(str(e))
            created, links = [], []
            base = self.base_url(headers)
            for name, ip in zip(names, ips):
                did = self.next_id("droplet", 3164400)
                rec = {"id": did, "name": name, "status": "new", "created_at": self.now(),
                       "region": body["region"], "size": body["size"], "image": image,
                       "tags": list(dict.fromkeys(tags)), "ip": ip, "cancel": threading.Event(),
                       "boot": None, "node": False, "t0": time.time()}
                self.droplets[did] = rec
                action = self.new_action("create", did, rec["region"])
                rec["boot"] = threading.Thread(target=self.boot, args=(rec, keys, action, fault),
                                               daemon=True)
                rec["boot"].start()
                created.append(self.droplet_json(rec))
                links.append({"id": action["id"], "rel": "create",
                              "href": "%s/v2/actions/%d" % (base, action["id"])})
        if "names" in body:
            return 202, {"droplets": created, "links": {"actions": links}}, {}
        return 202, {"droplet": created[0], "links": {"actions": links}}, {}

    def boot(self, rec, keys, action, fault):
        """the create action completes, and the Droplet is "active" with its
        public address, once its sshd answers"""
        did = rec["id"]
        if fault.get("action_error"):
            rec["cancel"].wait(0.5)
            with self.lock:
                rec["status"] = "off"
                self.nodes.release_ip(rec["ip"])
                rec["ip"] = None
            self.end_action(action, ok=False)
            log(self.provider, "droplet %d (%s): create action errored (injected)" % (did, rec["name"]))
            return
        try:
            ip = self.nodes.create(did, rec["name"], keys, rec["ip"], rec["cancel"])
        except NodeError as e:
            with self.lock:
                rec["node"] = True   # something may be left: DELETE removes it
                rec["status"] = "off"
            self.end_action(action, ok=False)
            log(self.provider, "droplet %d (%s): %s" % (did, rec["name"], e))
            return
        with self.lock:
            rec["node"] = True
            rec["ip"] = ip
        result = self.nodes.wait_ssh(did, ip, rec["cancel"])
        if result == "ok":
            def mark_running():
                with self.lock:
                    if rec["status"] == "new":
                        rec["status"] = "active"
                self.end_action(action)
                log(self.provider, "droplet %d (%s) active on %s:22 after %.1f s" % (
                    did, rec["name"], ip, time.time() - rec["t0"]))
            self.cloud_init(did, keys, rec["cancel"], mark_running)
        elif result != "cancelled":
            with self.lock:
                if rec["status"] == "new":
                    rec["status"] = "off"
            self.end_action(action, ok=False)
            log(self.provider, "droplet %d (%s): no SSH banner on %s:22 (%s)\n%s" % (
                did, rec["name"], ip, result, self.nodes.logs(did)))

    def find_droplet(self, text):
        with self.lock:
            if re.fullmatch(r"[0-9]{1,15}", text) and int(text) in self.droplets:
                return self.droplets[int(text)]
        self.fail(404, "not_found", NOT_FOUND)

    def get_droplet(self, match, query, body, headers, fault):
        rec = self.find_droplet(match.group(1))
        with self.lock:
            return 200, {"droplet": self.droplet_json(rec)}, {}

    def delete_droplet(self, match, query, body, headers, fault):
        rec = self.find_droplet(match.group(1))
        self.forget(rec)
        return 204, None, {}

    def forget(self, rec):
        """drop the Droplet from the API at once; its node goes behind it"""
        with self.lock:
            if self.droplets.pop(rec["id"], None) is None:
                return None
            rec["cancel"].set()
            self.removing[rec["id"]] = rec["name"]
            action = self.new_action("destroy", rec["id"], rec["region"])
        t = threading.Thread(target=self.teardown, args=(rec, action), daemon=True)
        with self.lock:
            self.teardowns.append(t)
        t.start()
        return t

    def teardown(self, rec, action):
        t0 = time.time()
        if rec["boot"] is not None:
            rec["boot"].join(self.args.boot_timeout + 300)
        ok = self.nodes.remove(rec["id"]) if rec["node"] else True
        self.nodes.release_ip(rec["ip"])
        with self.lock:
            self.removing.pop(rec["id"], None)
        self.end_action(action, ok)
        log(self.provider, "droplet %d (%s) destroyed, %s" % (
            rec["id"], rec["name"], "node removed in %.1f s" % (time.time() - t0) if ok
            else "but its node could not be removed"))

    # --- power ----------------------------------------------------------------
    def droplet_action(self, match, query, body, headers, fault):
        """POST /v2/droplets/{id}/actions {type: power_on|power_off}: 201
        {action} (OpenAPI dropletActions_post); the node is started /
        stopped behind it: the Droplet is "off", then "active" again once
        its sshd answers"""
        rec = self.find_droplet(match.group(1))
        kind = body.get("type")
        if kind not in ("power_on", "power_off"):
            self.unprocessable("the fake knows the action types power_on and power_off")
        on = kind == "power_on"
        with self.lock:
            if not rec["node"] or rec["status"] == "new":
                self.unprocessable("Droplet is currently processing an event")
            action = self.new_action(kind, rec["id"], rec["region"])
            if (rec["status"] == "active") == on:
                action["status"], action["completed_at"] = "completed", self.now()
                return 201, {"action": dict(action)}, {}
            threading.Thread(target=self.power, args=(rec, on, action), daemon=True).start()
            return 201, {"action": dict(action)}, {}

    def power(self, rec, on, action):
        try:
            self.nodes.power(rec["id"], on)
        except NodeError as e:
            self.end_action(action, ok=False)
            log(self.provider, "droplet %d: %s" % (rec["id"], e))
            return
        result = self.nodes.wait_ssh(rec["id"], rec["ip"], rec["cancel"]) if on else "ok"
        with self.lock:
            if rec["id"] in self.droplets:
                rec["status"] = "active" if on and result == "ok" else "off"
        self.end_action(action, result == "ok")
        log(self.provider, "droplet %d (%s) powered %s: %s" % (
            rec["id"], rec["name"], "on" if on else "off", result))

    # --- catalogue -------------------------------------------------------------
    def list_sizes(self, match, query, body, headers, fault):
        return self.paginate(query, [size_json(e) for e in SIZES], "sizes", "/v2/sizes", headers)

    def list_regions(self, match, query, body, headers, fault):
        return self.paginate(query, [region_json(e) for e in REGIONS], "regions", "/v2/regions",
                             headers)

    def get_image(self, match, query, body, headers, fault):
        text = match.group(1)
        for iid, slug, dist, name in IMAGES:
            if text in (str(iid), slug):
                return 200, {"image": {
                    "id": iid, "name": name, "type": "base", "distribution": dist, "slug": slug,
                    "public": True, "regions": [r[0] for r in REGIONS if r[2]],
                    "created_at": "2023-06-12T15:05:48Z", "min_disk_size": 7, "size_gigabytes": 2.4,
                    "description": "", "tags": [], "status": "available", "error_message": ""}}, {}
        self.fail(404, "not_found", NOT_FOUND)

    # --- actions --------------------------------------------------------------
    def action_answer(self, text, droplet=None):
        with self.lock:
            if re.fullmatch(r"[0-9]{1,15}", text) and int(text) in self.actions:
                action = self.actions[int(text)]
                if droplet is None or action["resource_id"] == droplet:
                    return 200, {"action": dict(action)}, {}
        self.fail(404, "not_found", NOT_FOUND)

    def get_action(self, match, query, body, headers, fault):
        return self.action_answer(match.group(1))

    def get_droplet_action(self, match, query, body, headers, fault):
        did = match.group(1)
        return self.action_answer(match.group(2), int(did) if did.isdigit() else -1)

    # --- admin hooks ----------------------------------------------------------
    def resources(self):
        droplets = []
        for _, rec in sorted(self.droplets.items()):
            d = self.droplet_json(rec)
            ctr, vol = self.nodes.names(rec["id"])
            d["fake"] = {"ip": rec["ip"], "container": ctr if rec["node"] else None,
                         "volume": vol if rec["node"] else None}
            droplets.append(d)
        return {"droplets": droplets, "ssh_keys": [k for _, k in sorted(self.keys.items())],
                "actions": [a for _, a in sorted(self.actions.items())],
                "removing": [{"id": i, "name": n} for i, n in sorted(self.removing.items())]}

    def remove_all(self):
        with self.lock:
            recs = list(self.droplets.values())
            self.keys.clear()
        threads = [t for t in (self.forget(r) for r in recs) if t is not None]
        for t in threads:
            t.join(self.args.boot_timeout + 400)
        return len(recs)


if __name__ == "__main__":
    sys.exit(serve(DigitalOcean, sys.argv[1:]))
