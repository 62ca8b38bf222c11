#!/usr/bin/env bash
# tests/integration/prepare.sh - `bootstrap prepare` end to end on real
# nodes (Debian containers booting systemd, tests/lab/node.sh): Docker
# installed over SSH with apt as docker.service, configured, reached
# through the SSH tunnel; the second run changes nothing (counted from
# --json); a recipe of two static nodes in parallel; the TLS endpoint
# through the systemd drop-in; hostile recipe values.
#
#   BOOTSTRAP=./bootstrap bash tests/integration/prepare.sh
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

if ! lab_ping >/dev/null 2>&1; then
	LAB=$(mktemp -d "${TMPDIR:-/tmp}/bootstrap-lab.XXXXXX")
	trap lab_down EXIT
	lab_dockerd || give_up "no Docker engine for the nodes"
fi
node_lab_up || give_up "node lab failed to start"
node_up n1 || give_up "node n1 failed to start"
node_up n2 || give_up "node n2 failed to start"
export BOOTSTRAP_DIR="$NODE_DIR/state"
export HOME="$NODE_DIR/home"
mkdir -p "$HOME"
unset SSH_AUTH_SOCK HCLOUD_TOKEN DIGITALOCEAN_TOKEN
URL1="ssh://root@127.0.0.1:$(node_port n1)"

bs() {
	timeout 900 "${WRAP[@]}" "$BOOTSTRAP" "$@" >"$NODE_DIR/out" 2>"$NODE_DIR/err"
	rc=$?
	out=$(cat "$NODE_DIR/out")
	errout=$(cat "$NODE_DIR/err")
}
# field NODE KEY: a member of NODE's --json line in $out
field() {
	python3 -c 'import json, sys
for line in sys.argv[1].splitlines():
    o = json.loads(line)
    if o.get("node") == sys.argv[2]:
        v = o.get(sys.argv[3])
        print(json.dumps(v) if isinstance(v, bool) else v)' "$out" "$1" "$2" 2>/dev/null
}
# expect NAME NODE KEY=VALUE...: every member of NODE's report matches
expect() {
	local name=$1 node=$2 kv why=
	shift 2
	for kv in "$@"; do
		[ "$(field "$node" "${kv%%=*}")" = "${kv#*=}" ] || why+=" ${kv%%=*}=$(field "$node" "${kv%%=*}") (wanted ${kv#*=})"
	done
	if [ "$rc" -eq 0 ] && [ -z "$why" ]; then ok "$name"; else bad "$name (exit $rc)$why" "$out
$errout"; fi
}
dockerd_pid() { node_exec "$1" cat /var/run/docker.pid </dev/null 2>/dev/null; }

# ---- one host by URL: install, then nothing -----------------------------
start=$SECONDS
bs -H "$URL1" -i "$NODE_KEY" prepare --json
# the package starts docker.service itself (started: false, bootstrap did not)
expect "fresh Debian node: Docker installed over SSH as docker.service, reached through the tunnel" \
	127.0.0.1 ok=true installed=true systemd=true os=debian "endpoint=ssh (direct-streamlocal)"
unit_up() { # NODE: docker.service enabled and active, running the pidfile's dockerd
	[ "$(node_exec "$1" systemctl is-enabled docker </dev/null 2>/dev/null)" = enabled ] &&
		[ "$(node_exec "$1" systemctl is-active docker </dev/null 2>/dev/null)" = active ] &&
		[ "$(node_exec "$1" systemctl show -p MainPID --value docker </dev/null 2>/dev/null)" = "$(dockerd_pid "$1")" ]
}
unit_up n1 && ok "... docker.service enabled and active, running the pidfile's dockerd" ||
	bad "... docker.service enabled and active"
echo "     install: $((SECONDS - start)) s, $(field 127.0.0.1 commands) commands"
pid1=$(dockerd_pid n1)
bs -H "$URL1" -i "$NODE_KEY" prepare --json
expect "second run: one command, no upload, daemon untouched" \
	127.0.0.1 ok=true installed=false started=false config_written=false daemon=none \
	commands=1 uploads=0
[ -n "$pid1" ] && [ "$(dockerd_pid n1)" = "$pid1" ] && ok "... same dockerd process ($pid1)" ||
	bad "... same dockerd process" "$pid1 -> $(dockerd_pid n1)"
echo "     converged run: $(field 127.0.0.1 ms_ssh) ms SSH, $(field 127.0.0.1 ms_docker) ms Docker check, $(field 127.0.0.1 ms_endpoint) ms endpoint"

bs -v -H "$URL1" -i "$NODE_KEY" list
if [ "$rc" -eq 0 ] && grep -q "over direct-streamlocal" <<<"$errout"; then
	ok "bootstrap -H ssh://root@127.0.0.1:PORT list on the node Docker was installed on"
else
	bad "bootstrap -H ssh://... list on the prepared node" "$out
$errout"
fi
bs -H "$URL1" -i "$NODE_KEY" images
[ "$rc" -eq 0 ] && ok "... and images" || bad "... and images" "$errout"

# ---- a recipe: two static nodes in parallel, daemon settings ------------
RECIPE=$NODE_DIR/static.yaml
write_recipe() { # DAEMON_YAML [PACKAGE]
	cat >"$RECIPE" <<EOF
version: 1
project: preptest
provider: {type: static}
ssh:
  key: $NODE_KEY
  wait_timeout: 30s
nodes:
  - {name: n1, address: 127.0.0.1, port: $(node_port n1)}
  - {name: n2, address: 127.0.0.1, port: $(node_port n2)}
docker:
  package: ${2:-docker.io}
$1
EOF
}
write_recipe "  daemon:
    debug: true
    labels: [\"owner=x'; touch /tmp/owned; '\", \"cmd=\$\$(touch /tmp/owned2)\"]"
start=$SECONDS
bs prepare --json "$RECIPE"
expect "recipe: n1 (Docker there) gets the daemon settings by reload, no restart" \
	n1 ok=true installed=false config_written=true daemon=reload uploads=1
expect "recipe: n2 (fresh) gets Docker installed and configured, in parallel" \
	n2 ok=true installed=true config_written=true
echo "     two nodes: $((SECONDS - start)) s"
[ "$(dockerd_pid n1)" = "$pid1" ] && ok "... n1's dockerd was reloaded, not restarted" ||
	bad "... n1's dockerd was reloaded, not restarted"
labels=$(node_exec n1 docker info --format '{{json .Labels}}' </dev/null 2>&1)
if grep -qF "owner=x'; touch /tmp/owned; '" <<<"$labels" && grep -qF 'cmd=$(touch /tmp/owned2)' <<<"$labels"; then
	ok "hostile daemon labels reach dockerd verbatim"
else
	bad "hostile daemon labels reach dockerd verbatim" "$labels"
fi
owned=$(node_exec n1 sh -c 'ls /tmp/owned* 2>/dev/null' </dev/null; node_exec n2 sh -c 'ls /tmp/owned* 2>/dev/null' </dev/null)
[ -z "$owned" ] && ok "... and ran nothing on either node" || bad "... and ran nothing on either node" "$owned"
[ "$(node_exec n1 docker info --format '{{.Debug}}' </dev/null 2>&1)" = true ] &&
	ok "debug: true is live after the reload" || bad "debug: true is live after the reload"

bs prepare --json "$RECIPE"
expect "recipe re-run: n1 unchanged" n1 ok=true installed=false config_written=false daemon=none commands=1 uploads=0
expect "recipe re-run: n2 unchanged" n2 ok=true installed=false config_written=false daemon=none commands=1 uploads=0

# a node whose lock another run holds: exit 75, the holder named, daemon.json untouched
conf_before=$(node_exec n2 cat /etc/docker/daemon.json </dev/null 2>&1)
node_exec n2 sh -c 'mkdir -p /var/lib/bootstrap; exec 9>>/var/lib/bootstrap/lock; flock 9; echo "pid 4242 on elsewhere by ci" >/var/lib/bootstrap/lock.owner; echo $$ >/tmp/bs-holder.pid; echo held; exec sleep 120' </dev/null >"$NODE_DIR/holder" 2>&1 &
holder=$!
for _ in $(seq 100); do grep -q held "$NODE_DIR/holder" && break; sleep 0.1; done
sed 's/debug: true/debug: false/' "$RECIPE" >"$NODE_DIR/locked.yaml"
bs prepare --node n2 "$NODE_DIR/locked.yaml"
if [ "$rc" -eq 75 ] && grep -q "node n2 is locked by pid 4242 on elsewhere by ci" <<<"$errout$out" &&
	[ "$(node_exec n2 cat /etc/docker/daemon.json </dev/null 2>&1)" = "$conf_before" ]; then
	ok "a node locked by another run: exit 75, the holder named, daemon.json untouched"
else
	bad "a locked node: exit 75, holder named, nothing changed (exit $rc)" "$out
$errout"
fi
# destroy on static hosts connects, and is refused there in the same way
bs destroy --node n2 "$NODE_DIR/locked.yaml"
[ "$rc" -eq 75 ] && grep -q "node n2 is locked by pid 4242 on elsewhere by ci" <<<"$errout$out" &&
	ok "... and destroy there: exit 75, the holder named" ||
	bad "... destroy on the locked node: exit 75 (exit $rc)" "$out
$errout"
# shellcheck disable=SC2016 # expanded by the node's shell
node_exec n2 sh -c 'kill "$(cat /tmp/bs-holder.pid)"' </dev/null
wait "$holder" 2>/dev/null

bs prepare --node n2 "$RECIPE"
if [ "$rc" -eq 0 ] && grep -q "^n2: ready" <<<"$out" && ! grep -q "^n1" <<<"$out"; then
	ok "--node n2: only n2, in words: $(head -n 1 <<<"$out" | cut -c1-90)"
else
	bad "--node n2 prepares only n2" "$out
$errout"
fi

# ---- a login user other than root, with passwordless sudo --------------
node_user n1 deploy nopasswd >/dev/null || bad "node_user n1 deploy"
URLD="ssh://deploy@127.0.0.1:$(node_port n1)"
bs -H "$URLD" -i "$NODE_KEY" prepare --json
expect "user deploy (sudo -n, not in the docker group): checked through sudo, engine through sudo dial-stdio" \
	127.0.0.1 ok=true daemon=none uploads=0 "endpoint=ssh (dial-stdio)"
bs -v -H "$URLD" -i "$NODE_KEY" list
[ "$rc" -eq 0 ] && grep -q "over dial-stdio" <<<"$errout" && ok "... and the container commands work for deploy too" ||
	bad "... container commands as deploy" "$errout"

# ---- docker.endpoint: tls -----------------------------------------------
# the node's own address on the engine's bridge (a container this test
# made): sshd on 22 and dockerd's TLS port, as on a real host
IP2=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$NODE_RUN-n2")
cat >"$NODE_DIR/tls.yaml" <<EOF
version: 1
project: preptls
provider: {type: static}
ssh: {key: $NODE_KEY, wait_timeout: 30s}
nodes:
  - {name: n2, address: $IP2}
docker:
  endpoint: tls
EOF
bs prepare --json "$NODE_DIR/tls.yaml"
# with systemd the listener is a drop-in: daemon.json stays as it was
expect "docker.endpoint: tls: certificates made, installed, dockerd listens with --tlsverify" \
	n2 ok=true config_written=false daemon=restart uploads=4 "endpoint=tcp://$IP2:2376"
node_exec n2 grep -q -- '--tlsverify' /etc/systemd/system/docker.service.d/bootstrap-tls.conf </dev/null &&
	unit_up n2 && ok "... through the systemd drop-in, docker.service active" ||
	bad "... through the systemd drop-in, docker.service active"
TLSDIR=$BOOTSTRAP_DIR/tls/preptls
bs -H "tcp://$IP2:2376" list
rc_nocert=$rc
DOCKER_CERT_PATH=$TLSDIR bs -H "tcp://$IP2:2376" list
if [ "$rc" -eq 0 ] && [ "$rc_nocert" -ne 0 ]; then
	ok "... the project's client certificate reaches it; without it, refused"
else
	bad "... client certificate reaches it, none refused" "with: $rc, without: $rc_nocert: $errout"
fi
[ "$(stat -c %a "$TLSDIR/key.pem" 2>/dev/null)" = 600 ] && [ "$(stat -c %a "$TLSDIR/ca-key.pem" 2>/dev/null)" = 600 ] &&
	ok "... private keys kept 0600 under \$BOOTSTRAP_DIR/tls" || bad "... private keys 0600"
bs prepare --json "$NODE_DIR/tls.yaml"
expect "... second run: unchanged" n2 ok=true config_written=false daemon=none commands=1 uploads=0

pid1=$(dockerd_pid n1)
write_recipe "  daemon:
    debug: true
    insecure-registries: [registry invalid]"
bs prepare --node n1 "$RECIPE"
if [ "$rc" -eq 1 ] && grep -q "previous daemon.json is back" <<<"$errout" && grep -q "dockerd said: .*registry invalid is not valid" <<<"$errout"; then
	ok "a setting dockerd refuses: rolled back, with dockerd's own words"
else
	bad "a setting dockerd refuses: rolled back, with dockerd's own words" "$out
$errout"
fi
[ "$(node_exec n1 docker info --format '{{.Debug}}' </dev/null 2>&1)" = true ] && [ "$(dockerd_pid n1)" = "$pid1" ] &&
	ok "... dockerd still runs the previous settings, never stopped" ||
	bad "... dockerd still runs the previous settings" "pid $pid1 -> $(dockerd_pid n1)"

write_recipe "" "x'; touch /tmp/owned; '"
bs prepare "$RECIPE"
if [ "$rc" -ne 0 ] && grep -q "package" <<<"$errout"; then
	ok "a hostile package name is refused: $(head -n 1 <<<"$errout" | cut -c1-100)"
else
	bad "a hostile package name is refused" "$out
$errout"
fi
owned=$(node_exec n1 sh -c 'ls /tmp/owned* 2>/dev/null' </dev/null)
[ -z "$owned" ] && ok "... and ran nothing" || bad "... and ran nothing" "$owned"

write_recipe ""
sed -i 's/{type: static}/{type: hetzner, location: fsn1, server_type: cx22, image: debian-12}/; s/, address: 127.0.0.1, port: [0-9]*//' "$RECIPE"
bs prepare "$RECIPE"
[ "$rc" -eq 1 ] && grep -q "HCLOUD_TOKEN" <<<"$errout" && ok "provider hetzner without a token: says which variable, changes nothing" ||
	bad "provider hetzner without a token: names HCLOUD_TOKEN" "exit $rc: $errout"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
