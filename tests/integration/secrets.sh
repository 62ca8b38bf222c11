#!/usr/bin/env bash
# tests/integration/secrets.sh - no secret leaves bootstrap readable: a
# static node reached with an SSH password from the environment
# (BOOTSTRAP_SSH_PASSWORD) after a key with a passphrase
# (BOOTSTRAP_SSH_PASSPHRASE, ~/.ssh/id_ecdsa, not authorized there, so it is
# decrypted, offered and refused), an image
# pulled from a registry with htpasswd auth (registries[].password), a
# container with `secrets:` and an environment value built from a secret
# variable; apply, prepare, plan, status, destroy, a changed secret (plan's
# reason and the replacement), a replacement that fails with the secrets
# in its container's output (the error quotes that output, cut at 1 KiB
# across them), and `-H ssh://` list, in plain, --json and -v -v modes.
# Then every secret's value, its URL-encoded (upper- and lower-case hex),
# form-encoded ('+' for a space) and base64 forms, its first 16 and first 8
# characters and its last 16 (a secret cut, or masked only in part) are
# searched for in all stdout and stderr, the node's audit log and journal
# (sshd, and sudo's command lines: the argv of remote commands), the labels
# of the containers on the node, and every file under BOOTSTRAP_DIR. The
# search is checked on canary files, one per secret and form, each written
# by code of its own: every (secret, form) pair must be found, so a broken
# form cannot pass. SECRETS_KEEP=1 keeps the work directory.
#
#   BOOTSTRAP=./bootstrap bash tests/integration/secrets.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
BOOTSTRAP=${BOOTSTRAP:-./bootstrap}
read -r -a WRAP <<<"${BS_WRAP:-}"
. tests/lab/lab.sh
. tests/lab/node.sh

pass=0 fail=0
ok() { pass=$((pass + 1)); printf 'ok   %s\n' "$1"; }
bad() { fail=$((fail + 1)); printf 'FAIL %s\n' "$1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/     /'; }
give_up() { echo "$1"; echo "$pass passed, $((fail + 1)) failed"; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bootstrap-secrets-test.XXXXXX")
LAB="$WORK/lab"
PROJECT=sec$$
OUT="$WORK/outputs" # every stdout and stderr of bootstrap, one file each
mkdir -p "$LAB" "$OUT"
REG_IMAGES=()
cleanup() {
	local pid
	for pid in "${LAB_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	for pid in "${LAB_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	[ ${#REG_IMAGES[@]} -gt 0 ] && docker rmi "${REG_IMAGES[@]}" >/dev/null 2>&1
	[ -n "${SECRETS_KEEP:-}" ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
lab_dockerd || give_up "no Docker engine"
lab_busybox_image || give_up "no $LAB_IMAGE image"

# Secrets: 16 random hex characters first (unique: a cut secret is found by
# them), then characters that URL encoding changes.
# random, and not hex (an 8-character start must not match an image ID or a
# digest in the output by chance)
secret() { printf 'Zq%s%s' "$(node__hex 8 | tr '0-9a-f' 'g-v')" "$1"; }
S_SSH=$(secret '/ssh+pw&=%?x y!')
S_PHRASE=$(secret '/phrase+&=%?x')
S_REG=$(secret '/reg+pw&=%?x')
S_TOKEN=$(secret '/tok+&=%?@x')
S_DB=$(secret '/db+&=%x')
S_DB2=$(secret '/db2+&=%x')
S_DB1=$S_DB
export S_REG S_TOKEN S_DB

# ---- the registry with htpasswd auth, reachable from the node ------------
REG_PORT=$(lab_free_port)
htpasswd -Bbn tester "$S_REG" >"$LAB/htpasswd" 2>/dev/null || give_up "htpasswd"
lab_registry reg-auth "$REG_PORT" "$LAB/htpasswd" || give_up "the auth registry did not start"
export DOCKER_CONFIG="$WORK/docker-config"
mkdir -p "$DOCKER_CONFIG"
REG_IMAGES=("127.0.0.1:$REG_PORT/sec/busybox:1")
docker tag "$LAB_IMAGE" "${REG_IMAGES[0]}" &&
	printf '%s' "$S_REG" | docker login -u tester --password-stdin "127.0.0.1:$REG_PORT" >/dev/null 2>&1 &&
	docker push -q "${REG_IMAGES[0]}" >/dev/null &&
	docker logout "127.0.0.1:$REG_PORT" >/dev/null 2>&1 || give_up "cannot push to the auth registry"
rm -rf "$DOCKER_CONFIG"
IMAGE="127.0.0.1:$REG_PORT/sec/busybox:1"

# ---- one node, a user that logs in with a password ------------------------
node_lab_up || give_up "node lab failed to start"
node_up n1 || give_up "node n1 failed to start"
# the registry at the same loopback address and port on the node, through
# an SSH remote forward (plain HTTP with credentials only to a loopback
# address: the recipe's rule)
ssh -F /dev/null -p "$(node_port n1)" -i "$NODE_KEY" -o IdentitiesOnly=yes \
	-o UserKnownHostsFile="$NODE_KNOWN_HOSTS" -o StrictHostKeyChecking=accept-new \
	-o BatchMode=yes -o ExitOnForwardFailure=yes -o LogLevel=ERROR \
	-N -R "127.0.0.1:$REG_PORT:127.0.0.1:$REG_PORT" "root@$(node_addr n1)" </dev/null 2>"$WORK/forward.err" &
LAB_PIDS+=($!)
for _ in $(seq 50); do
	node_exec n1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$REG_PORT" </dev/null 2>/dev/null && break
	sleep 0.2
done
node_exec n1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$REG_PORT" </dev/null 2>/dev/null ||
	give_up "the registry is not reachable from the node"
NODE_USER_PASSWORD=$S_SSH node_user n1 deployer nopasswd || give_up "cannot add the user"
PORT=$(node_port n1)
export BOOTSTRAP_DIR="$WORK/state" HOME="$WORK/home"
export BOOTSTRAP_SSH_PASSWORD=$S_SSH BOOTSTRAP_SSH_PASSPHRASE=$S_PHRASE
mkdir -p "$HOME/.ssh"
unset SSH_AUTH_SOCK HCLOUD_TOKEN DIGITALOCEAN_TOKEN
# the default key, encrypted with S_PHRASE and not authorized on the node:
# bootstrap decrypts it (a wrong passphrase fails the run), offers it, is
# refused, and logs in with the password
ssh-keygen -q -t ecdsa -m PEM -N "$S_PHRASE" -C secrets-test -f "$HOME/.ssh/id_ecdsa" ||
	give_up "ssh-keygen"

R="$WORK/r.yaml"
recipe() { # COMMAND [RESTART]: app's command, as a YAML flow list; its restart policy
	cat >"$R" <<EOF
version: 1
project: $PROJECT
provider: {type: static}
ssh: {user: deployer, port: $PORT, wait_timeout: 30s}
nodes:
  - {name: n1, address: 127.0.0.1}
docker: {install: auto}
registries:
  - {server: "127.0.0.1:$REG_PORT", username: tester, password: "\${S_REG}"}
images:
  - {name: "$IMAGE", pull: always}
containers:
  - name: app
    image: "$IMAGE"
    command: $1
    environment:
      PLAIN: visible
      DSN: "postgres://app:\${S_TOKEN}@db/app"
    secrets:
      API_TOKEN: "\${S_TOKEN}"
      DB_PASSWORD: "\${S_DB}"
    restart: "${2:-unless-stopped}"
    stop_timeout: 0s
    update: {monitor: 1s}
EOF
}
SLEEP='[sleep, "1000000"]'
# prints 752 bytes of filler then the secrets, and fails: the error quotes the
# container's output, and its cut falls inside the secrets
LEAKY='[sh, -c, "i=0; while [ $$i -lt 47 ]; do printf ffffffffffffffff; i=$$((i+1)); done; echo \" $$API_TOKEN $$DSN $$DB_PASSWORD\"; exit 3"]'

n=0
bs() { # WANT-EXIT ARGS...: run bootstrap, keep its output for the search
	local want=$1
	shift
	n=$((n + 1))
	timeout 300 "${WRAP[@]}" "$BOOTSTRAP" "$@" >"$OUT/$n.out" 2>"$OUT/$n.err"
	rc=$?
	if [ "$rc" -eq "$want" ]; then
		ok "bootstrap $* (exit $rc)"
	else
		bad "bootstrap $* (exit $rc, wanted $want)" "$(tail -n 8 "$OUT/$n.err"; tail -n 4 "$OUT/$n.out")"
	fi
}

start=$SECONDS
recipe "$SLEEP"
# the passphrase is really in play: a wrong one stops the run at the key
BOOTSTRAP_SSH_PASSPHRASE=wrong-$S_PHRASE bs 1 status "$R"
grep -q 'cannot use the key .*passphrase' "$OUT/$n.out" "$OUT/$n.err" &&
	ok "... a wrong passphrase fails at the key (so the right one decrypts it)" ||
	bad "... a wrong passphrase fails at the key" "$(tail -n 3 "$OUT/$n.out" "$OUT/$n.err")"
bs 0 apply -v -v "$R"
echo "     first apply (Docker installed over SSH, image pulled with credentials): $((SECONDS - start)) s"
node_exec n1 docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$PROJECT-app" >"$WORK/env" 2>/dev/null ||
	node_exec n1 sh -c "docker ps -aq | head -n 1 | xargs docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}'" >"$WORK/env" 2>/dev/null
grep -qxF "API_TOKEN=$S_TOKEN" "$WORK/env" && grep -qxF "DB_PASSWORD=$S_DB" "$WORK/env" &&
	ok "the container got its secrets (so they were really in play)" ||
	bad "the container got its secrets" "$(sed 's/=.*/=.../' "$WORK/env")"
bs 0 prepare --json "$R"
bs 0 plan "$R"
bs 0 plan --json "$R"
bs 0 status "$R"
bs 0 status --json "$R"
bs 0 status -v -v "$R"
# a changed secret: planned as a replacement whose reason shows no value
S_DB=$S_DB2
bs 2 plan --detailed-exitcode --json "$R"
grep -q 'DB_PASSWORD' "$OUT/$n.out" && ok "... the plan names the changed secret" ||
	bad "... the plan names the changed secret" "$(cat "$OUT/$n.out")"
bs 0 apply --json "$R"
bs 0 plan -v -v "$R"
bs 0 apply "$R"
# a replacement that fails: its error quotes the container's output
recipe "$LEAKY" "no" # exits and stays exited: the replacement fails every time
bs 1 apply "$R"
grep -q 'its last output' "$OUT/$n.err" "$OUT/$n.out" && ok "... the error quotes the container's output" ||
	bad "... the error quotes the container's output" "$(tail -n 5 "$OUT/$n.err")"
bs 1 apply --json "$R"
bs 1 apply -v -v "$R"
recipe "$SLEEP"
bs 0 -H "ssh://deployer@127.0.0.1:$PORT" -v -v list
# before destroy: what the containers on the node carry
node_exec n1 sh -c 'docker ps -aq | xargs -r docker inspect -f "{{json .Config.Labels}}"' >"$OUT/labels" 2>&1
bs 0 destroy -v -v "$R"
bs 0 destroy --json "$R"
bs 0 destroy "$R"
echo "     all runs: $((SECONDS - start)) s"

# ---- the search ------------------------------------------------------------
node_exec n1 cat /var/lib/bootstrap/audit.log >"$OUT/audit.log" 2>&1
[ -s "$OUT/audit.log" ] && ok "the node's audit log was read" || bad "the node's audit log was read"
node_exec n1 journalctl --no-pager -o cat >"$OUT/journal" 2>&1
grep -q 'COMMAND=' "$OUT/journal" && ok "the node's journal (sudo's command lines) was read" ||
	bad "the node's journal was read" "$(tail -n 3 "$OUT/journal")"

# leaks DIR...: every form of every secret found in the files under DIR
leaks() {
	python3 - "$@" <<'PY'
import base64, os, re, sys, urllib.parse
names = ["S_SSH", "S_PHRASE", "S_REG", "S_TOKEN", "S_DB", "S_DB2"]
forms = []
for n in names:
    v = os.environ[n].encode()
    if len(v) < 16:
        sys.exit("secret %s is not set" % n)
    url = urllib.parse.quote(v, safe="")
    forms += [(n, "value", v), (n, "first 16 characters", v[:16]),
              (n, "first 8 characters", v[:8]), (n, "last 16 characters", v[-16:]),
              (n, "URL-encoded", url.encode()),
              (n, "URL-encoded, lower-case hex", re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), url).encode()),
              (n, "form-encoded", urllib.parse.quote_plus(v, safe="").encode())]
    for kind, b in (("base64", base64.b64encode(v)), ("base64url", base64.urlsafe_b64encode(v))):
        forms += [(n, kind, b), (n, kind + " unpadded", b.rstrip(b"="))]
for top in sys.argv[1:]:
    for root, _, files in os.walk(top):
        for f in files:
            path = os.path.join(root, f)
            try:
                data = open(path, "rb").read()
            except OSError:
                continue
            for n, form, v in forms:
                if v in data:
                    print("%s: %s (%s)" % (path, n, form))
PY
}
export S_SSH S_PHRASE S_DB2
# the search finds what it looks for: one canary file per secret and form,
# written by code of its own (not the search's), and each one must be found
# as that form of that secret
mkdir -p "$WORK/canary"
python3 - "$WORK/canary" >"$WORK/canary.want" <<'PY'
import binascii, os, sys
def pct(v, lower, plus):
    out = ""
    for c in v:
        if chr(c).isalnum() and c < 128 or chr(c) in "-._~":
            out += chr(c)
        elif plus and c == 32:
            out += "+"
        else:
            out += ("%%%02x" if lower else "%%%02X") % c
    return out.encode()
def b64(v, url):
    b = binascii.b2a_base64(v, newline=False)
    return b.translate(bytes.maketrans(b"+/", b"-_")) if url else b
for n in ["S_SSH", "S_PHRASE", "S_REG", "S_TOKEN", "S_DB", "S_DB2"]:
    v = os.environ[n].encode()
    forms = [("value", v), ("first 16 characters", v[:16]), ("first 8 characters", v[:8]),
             ("last 16 characters", v[-16:]), ("URL-encoded", pct(v, False, False)),
             ("URL-encoded, lower-case hex", pct(v, True, False)),
             ("form-encoded", pct(v, False, True))]
    for kind, url in (("base64", False), ("base64url", True)):
        forms += [(kind, b64(v, url)), (kind + " unpadded", b64(v, url).rstrip(b"="))]
    for i, (form, data) in enumerate(forms):
        path = os.path.join(sys.argv[1], "%s.%d" % (n, i))
        with open(path, "wb") as f:
            f.write(b"<<" + data + b">>\n")
        print("%s: %s (%s)" % (path, n, form))
PY
leaks "$WORK/canary" >"$WORK/canary.found"
missing=$(grep -vxFf "$WORK/canary.found" "$WORK/canary.want")
[ -s "$WORK/canary.want" ] && [ -z "$missing" ] &&
	ok "the search finds each of $(wc -l <"$WORK/canary.want") (secret, form) pairs in its own canary file" ||
	bad "the search misses (secret, form) pairs in canaries" "$missing"
S_DB=$S_DB1 # the first value again
found=$(leaks "$OUT" "$BOOTSTRAP_DIR")
if [ -z "$found" ]; then
	ok "no secret, in any form, in stdout, stderr, the audit log, the journal, labels or BOOTSTRAP_DIR ($(ls "$OUT" | wc -l) files, $(find "$BOOTSTRAP_DIR" -type f | wc -l) under BOOTSTRAP_DIR)"
else
	bad "secrets found" "$found"
fi
grep -q '\*\*\*' "$OUT"/*.err "$OUT"/*.out && ok "... and the masked places show ***" ||
	bad "... and the masked places show ***"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
