#!/usr/bin/python3
"""libcloud_tool.py - the Apache Libcloud peer: containers through
libcloud.container's Docker driver (python3-libcloud), run by bench.py.

    libcloud_tool.py --port PORT --spec SPEC.json up      idempotent deploy
    libcloud_tool.py --port PORT --spec SPEC.json down    remove all (forced)
    libcloud_tool.py --port PORT --spec SPEC.json list [--times 20]

The driver speaks HTTP over TCP only (no unix socket), so bench.py exposes
the engine on 127.0.0.1:PORT through its forwarder (proxy.py).

SPEC.json: {"image": IMAGE, "command": "sleep 1000000", "label": VALUE,
"containers": [{"name": NAME, "env": {"K": "v01"}}, ...]}.

up: list the containers (one call); for each of ours, inspect it (the list
does not carry the environment) and compare its env; deploy the missing
ones, replace those whose env differs, leave the rest. The driver's own
calls do the work (list_containers, deploy_container, get_container),
except two it does not offer: the inspect's Config.Env (not kept in the
Container object) and the forced delete (destroy_container sends a plain
DELETE, which the engine refuses for a running container, and
stop_container would wait out the image's ignored SIGTERM); both go
through the driver's own connection.request.
"""
import argparse
import json
import sys

from libcloud.container.base import ContainerImage
from libcloud.container.providers import get_driver
from libcloud.container.types import Provider


def connect(port):
    cls = get_driver(Provider.DOCKER)
    return cls(host="127.0.0.1", port=port, secure=False)


def mine(driver, label_names):
    """Our containers by name, from one list call."""
    return {c.name: c for c in driver.list_containers(all=True) if c.name in label_names}


def env_of(driver, container):
    data = driver.connection.request("/v%s/containers/%s/json" % (driver.version, container.id)).object
    env = {}
    for item in (data.get("Config") or {}).get("Env") or []:
        k, _, v = item.partition("=")
        env[k] = v
    return env


def force_destroy(driver, container):
    driver.connection.request("/v%s/containers/%s" % (driver.version, container.id),
                              params={"force": "1"}, method="DELETE")


def deploy(driver, spec, item):
    image = ContainerImage(id=None, name=spec["image"], path=spec["image"], version=None,
                           driver=driver)
    env = ["%s=%s" % kv for kv in sorted(item["env"].items())]
    driver.deploy_container(item["name"], image, command=spec["command"], environment=env,
                            labels={"bench": spec["label"]}, tty=False, stdin_open=False)


def up(driver, spec):
    names = {c["name"] for c in spec["containers"]}
    have = mine(driver, names)
    created = replaced = unchanged = 0
    for item in spec["containers"]:
        c = have.get(item["name"])
        if c is None:
            deploy(driver, spec, item)
            created += 1
            continue
        env = env_of(driver, c)
        if any(env.get(k) != v for k, v in item["env"].items()) or c.state != "running":
            force_destroy(driver, c)
            deploy(driver, spec, item)
            replaced += 1
        else:
            unchanged += 1
    print(json.dumps({"created": created, "replaced": replaced, "unchanged": unchanged}))


def down(driver, spec):
    names = {c["name"] for c in spec["containers"]}
    removed = 0
    for c in mine(driver, names).values():
        force_destroy(driver, c)
        removed += 1
    print(json.dumps({"removed": removed}))


def list_(driver, spec, times):
    names = {c["name"] for c in spec["containers"]}
    found = 0
    for _ in range(times):
        found = sum(1 for c in driver.list_containers(all=True) if c.name in names)
    print(json.dumps({"listed": found}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--spec", required=True)
    ap.add_argument("--times", type=int, default=20)
    ap.add_argument("action", choices=["up", "down", "list"])
    a = ap.parse_args()
    with open(a.spec) as f:
        spec = json.load(f)
    driver = connect(a.port)
    if a.action == "up":
        up(driver, spec)
    elif a.action == "down":
        down(driver, spec)
    else:
        list_(driver, spec, a.times)
    return 0


if __name__ == "__main__":
    sys.exit(main())
