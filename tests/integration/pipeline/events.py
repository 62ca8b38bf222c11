#!/usr/bin/env python3
# tests/integration/pipeline/events.py - questions about one run's --json
# event stream (cli/cli_report.c documents the schema), for pipeline.sh.
# Lines that are not JSON objects (a valgrind remark, say) are skipped.
#
#   events.py summary FILE                      created=N replaced=N ... (the summary's counts)
#   events.py count FILE EVENT [ACTION [OBJECT_RE [NODE]]]   how many events match
#   events.py get FILE KEY EVENT [ACTION [OBJECT_RE [NODE]]] KEY of the first match ("" if none)
#   events.py made FILE                         how many networks, volumes and images the
#                                               run made (action_done), which its counts
#                                               have as "other"
#   events.py serial FILE ACTION OBJECT_RE      "serial" when no two matching actions
#                                               overlap (each started after the previous
#                                               one ended), else where they overlap
#   events.py audit FILE NODE AUDIT_DELTA_FILE  "ok" when the node's audit lines written
#                                               during the run are one per action the run
#                                               did on that node, else what differs
import json
import re
import sys

COUNTS = ("created", "replaced", "updated", "started", "removed", "unchanged", "failed", "other")
# actions that happen before the node lock is taken: not in the audit log
NOT_AUDITED = ("install-docker", "configure-docker", "start-docker", "create-machine",
               "destroy-machine")

MADE = ("create-network", "create-volume", "pull", "build", "transfer")


def events(path):
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if isinstance(o, dict) and "event" in o:
                out.append(o)
    return out


def matches(e, event, action=None, object_re=None, node=None):
    if e.get("event") != event:
        return False
    if action and e.get("action") != action:
        return False
    if object_re and not re.fullmatch(object_re, e.get("object", "")):
        return False
    if node and e.get("node") != node:
        return False
    return True


def main(argv):
    cmd, path = argv[1], argv[2]
    ev = events(path)
    if cmd == "summary":
        s = [e for e in ev if e["event"] == "summary"]
        if not s:
            print("no-summary")
            return 0
        print(" ".join("%s=%s" % (k, s[-1]["counts"].get(k)) for k in COUNTS))
    elif cmd == "count":
        print(sum(1 for e in ev if matches(e, *argv[3:7])))
    elif cmd == "get":
        key = argv[3]
        for e in ev:
            if matches(e, *argv[4:8]):
                v = e.get(key, "")
                print(v if isinstance(v, str) else json.dumps(v))
                return 0
        print("")
    elif cmd == "made":
        print(sum(1 for e in ev if e["event"] == "action_done" and e.get("action") in MADE
                  and e.get("reason") != "unchanged"))
    elif cmd == "serial":
        action, object_re = argv[3], argv[4]
        open_since = {}  # (node, object) -> index of its action_started
        for i, e in enumerate(ev):
            if e.get("action") != action or not re.fullmatch(object_re, e.get("object", "")):
                continue
            key = (e.get("node"), e.get("object"))
            if e["event"] == "action_started":
                if open_since:
                    print("overlap: %s %s started at event %d while %s was in flight"
                          % (key[1], key[0], i, sorted(open_since)))
                    return 0
                open_since[key] = i
            elif e["event"] in ("action_done", "action_failed"):
                open_since.pop(key, None)
        print("serial")
    elif cmd == "audit":
        node, delta_path = argv[3], argv[4]
        with open(delta_path, encoding="utf-8", errors="replace") as f:
            lines = [l.rstrip("\n") for l in f if l.strip()]
        want = []
        for e in ev:
            if e.get("node") != node or e["event"] not in ("action_done", "action_failed"):
                continue
            if e.get("action") in NOT_AUDITED or e.get("reason") == "unchanged":
                continue
            want.append("%s %s" % (e["action"], e.get("object", "")))
        problems = []
        if len(lines) != len(want):
            problems.append("%d audit lines for %d actions" % (len(lines), len(want)))
        for w in want:
            if not any((": " + w) in l for l in lines):
                problems.append("no audit line for '%s'" % w)
        if problems:
            print("; ".join(problems) + " | lines: " + " | ".join(lines))
        else:
            print("ok")
    else:
        print("events.py: unknown command " + cmd, file=sys.stderr)
        return 64
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
