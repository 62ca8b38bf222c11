#!/usr/bin/env bash
# tests/integration/releases.sh - the release matrix: the real binary on
# systemd nodes of Debian 11 (bullseye), 12 (bookworm) and 13 (trixie), the
# machines real users have. One recipe of provider static names the three
# nodes (tests/lab/node.sh, at their addresses on the engine's bridge, so
# that the TLS port is reached as on a real host); bootstrap works on them
# in parallel. Checked on each release:
#   - Docker installed with apt as docker.service, enabled and active;
#   - a container deployed (copied from this machine's engine);
#   - a re-run only looks (plan --detailed-exitcode exits 0);
#   - a reloadable daemon.json change (labels) applied by systemctl reload:
#     dockerd's PID unchanged, its "Got signal to reload configuration" in
#     the journal, the labels live;
#   - a restart-needing change (log-opts) applied by systemctl restart;
#   - a change dockerd refuses at start (storage-driver) rolled back: the
#     journal's own lines in the error, daemon.json and docker.service back;
#   - docker.endpoint: tls: the drop-in, the engine reached with mutual TLS,
#     refused without the client certificate.
#
#   BOOTSTRAP=./bootstrap bash tests/integration/releases.sh
#
# This suite runs in the plain integration pass only, not under ASan or
# valgrind (make check's integration suites run three times, and the CI
# budget is an hour): what it covers is the nodes' side (three Debian
# releases, systemd, their docker.io), and the same code paths of bootstrap
# run under the checkers in dockerhost.sh, prepare.sh and pipeline.sh. So
# it skips itself when BS_WRAP or ASAN_OPTIONS is set, unless
# RELEASES_UNDER_CHECKERS=1. It builds the three node images when missing
# (scripts/node-image.sh, about 1.5 min each, then cached).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BOOTSTRAP=${BOOTSTRAP:-./bootstrap}
read -r -a WRAP <<<"${BS_WRAP:-}"
if [ -n "${BS_WRAP:-}${ASAN_OPTIONS:-}" ] && [ "${RELEASES_UNDER_CHECKERS:-0}" != 1 ]; then
	echo "skipped: the release matrix runs in the plain pass only (RELEASES_UNDER_CHECKERS=1 runs it here)"
	exit 0
fi
. tests/lab/lab.sh
. tests/lab/node.sh

pass=0 fail=0
ok() { pass=$((pass + 1)); printf 'ok   %s\n' "$1"; }
bad() { fail=$((fail + 1)); printf 'FAIL %s\n' "$1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/     /'; }
info() { printf 'info %s\n' "$*"; }
give_up() { echo "$1"; echo "$pass passed, $((fail + 1)) failed"; exit 1; }

[ -x "$BOOTSTRAP" ] || give_up "build $BOOTSTRAP first (make)"
trap 'exit 143' TERM INT
if ! lab_ping >/dev/null 2>&1; then
	# shellcheck disable=SC2034 # lab.sh's lab_dockerd and lab_down use it
	LAB=$(mktemp -d "${TMPDIR:-/tmp}/bootstrap-lab.XXXXXX")
	trap lab_down EXIT
	lab_dockerd || give_up "no Docker engine for the nodes"
fi
T0=$SECONDS
bash scripts/demo-image.sh 2>/dev/null || give_up "no local/busybox:1 (scripts/demo-image.sh)"
node_lab_up || give_up "node lab failed to start"
RELEASES=(11 12 13)
declare -A NAME=([11]=bullseye [12]=bookworm [13]=trixie) IP=()
for v in "${RELEASES[@]}"; do
	image=$(node_image "$v") || give_up "no node image for Debian $v (scripts/node-image.sh $v)"
	NODE_IMAGE=$image node_up "d$v" || give_up "node d$v (Debian $v) failed to start"
	IP[$v]=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$NODE_RUN-d$v")
	[ -n "${IP[$v]}" ] || give_up "node d$v has no address on the engine's bridge"
done
info "images and nodes: $((SECONDS - T0)) s"
export BOOTSTRAP_DIR="$NODE_DIR/state" HOME="$NODE_DIR/home"
mkdir -p "$HOME"
unset SSH_AUTH_SOCK DOCKER_HOST DOCKER_CERT_PATH
R=$NODE_DIR/releases.yaml
PROJECT=rel$$

# recipe DAEMON_YAML [ENDPOINT]: the three nodes, one web replica on each
recipe() {
	cat >"$R" <<EOF
version: 1
project: $PROJECT
provider: {type: static}
ssh: {key: $NODE_KEY, wait_timeout: 60s}
nodes:
  - {name: d11, address: ${IP[11]}, labels: {role: web}}
  - {name: d12, address: ${IP[12]}, labels: {role: web}}
  - {name: d13, address: ${IP[13]}, labels: {role: web}}
docker:
  endpoint: ${2:-ssh}
  daemon:
$1
images:
  - {name: "local/busybox:1", pull: never}
containers:
  - name: web
    image: local/busybox:1
    command: ["sh", "-c", "trap 'exit 0' TERM; mkdir -p /www; echo hi >/www/index.html; httpd -f -p 8080 -h /www & wait"]
    nodes: [role=web]
    replicas: 3
EOF
}
bs() { # ARGS...: one bounded run; $rc, $out, $errout
	timeout 900 "${WRAP[@]}" "$BOOTSTRAP" "$@" >"$NODE_DIR/out" 2>"$NODE_DIR/err"
	rc=$?
	out=$(cat "$NODE_DIR/out")
	errout=$(cat "$NODE_DIR/err")
}
nx() { node_exec "$@" </dev/null 2>/dev/null; }
dpid() { nx "$1" cat /var/run/docker.pid; }
unit() { nx "$1" systemctl show -p "$2" --value docker; }
unit_up() { # NODE: docker.service enabled, active, running the pidfile's dockerd
	[ "$(nx "$1" systemctl is-enabled docker)" = enabled ] && [ "$(unit "$1" ActiveState)" = active ] &&
		[ -n "$(dpid "$1")" ] && [ "$(unit "$1" MainPID)" = "$(dpid "$1")" ]
}
hups() { nx "$1" journalctl -u docker -q --no-pager | grep -c 'Got signal to reload configuration'; }
web_runs() { # NODE: the project's web container runs there
	[ "$(nx "$1" docker ps -q --filter "label=io.bootstrap.project=$PROJECT" --filter status=running | wc -l)" = 1 ]
}
# each RELEASE-CHECK NAME COMMAND...: COMMAND (given the node as $1) on
# every node, one ok/FAIL line per release
each() {
	local name=$1 v
	shift
	for v in "${RELEASES[@]}"; do
		if "$@" "d$v"; then ok "Debian $v (${NAME[$v]}): $name"; else bad "Debian $v (${NAME[$v]}): $name"; fi
	done
}
run_ok() { # NAME: the last run exited 0
	if [ "$rc" -eq 0 ]; then ok "$1"; else bad "$1 (exit $rc)" "$(tail -c 3000 <<<"$out")
$(tail -c 3000 <<<"$errout")"; fi
}

# ---- install, deploy ---------------------------------------------------------
recipe "    log-opts: {max-size: 10m}"
t=$SECONDS
bs apply "$R"
run_ok "apply on three releases at once: Docker installed, configured, web deployed"
info "apply from nothing: $((SECONDS - t)) s"
each "docker.service enabled and active, its main process the pidfile's dockerd" unit_up
each "the web container runs" web_runs
for v in "${RELEASES[@]}"; do
	# shellcheck disable=SC2016 # expanded by the node's shell
	info "Debian $v: $(nx "d$v" sh -c '. /etc/os-release; printf %s "$PRETTY_NAME"'), engine $(nx "d$v" docker version --format '{{.Server.Version}}'), systemd $(nx "d$v" sh -c 'systemctl --version | head -n 1')"
done

# ---- a re-run only looks -----------------------------------------------------
bs plan --detailed-exitcode "$R"
run_ok "re-run: plan --detailed-exitcode exits 0 (nothing to do)"
declare -A PID=() HUP=() CONF=()
for v in "${RELEASES[@]}"; do
	PID[$v]=$(dpid "d$v")
	HUP[$v]=$(hups "d$v")
done

# ---- a reloadable change: labels ---------------------------------------------
recipe "    log-opts: {max-size: 10m}
    labels: [release-matrix=yes]"
bs apply "$R"
run_ok "daemon labels: applied"
same_pid() { local v=${1#d}; [ -n "${PID[$v]}" ] && [ "$(dpid "$1")" = "${PID[$v]}" ]; }
more_hups() { local v=${1#d}; [ "$(hups "$1")" -gt "${HUP[$v]:-0}" ]; }
labels_live() { nx "$1" docker info --format '{{json .Labels}}' | grep -q 'release-matrix=yes'; }
each "reload: dockerd's PID unchanged" same_pid
each "reload: the journal has 'Got signal to reload configuration'" more_hups
each "reload: the labels are live" labels_live
for v in "${RELEASES[@]}"; do
	info "Debian $v: dockerd PID ${PID[$v]} before the reload, $(dpid "d$v") after; journal: $(nx "d$v" journalctl -u docker -q --no-pager -o cat | grep -E 'Got signal to reload|Reloaded configuration' | tail -n 2 | cut -c1-110 | tr '\n' '|')"
done
bs plan --detailed-exitcode "$R"
run_ok "after the reload: plan exits 0"

# ---- a restart-needing change: log-opts -----------------------------------------
recipe "    log-opts: {max-size: 20m}
    labels: [release-matrix=yes]"
bs apply "$R"
run_ok "log-opts max-size 20m: applied"
new_pid() { local v=${1#d}; [ -n "$(dpid "$1")" ] && [ "$(dpid "$1")" != "${PID[$v]}" ]; }
each "restart: a new dockerd" new_pid
each "restart: docker.service enabled and active, running it" unit_up
conf_20m() { nx "$1" grep -q '"max-size": "20m"' /etc/docker/daemon.json; }
each "restart: the new daemon.json is in place" conf_20m
for v in "${RELEASES[@]}"; do
	PID[$v]=$(dpid "d$v")
	CONF[$v]=$(nx "d$v" cat /etc/docker/daemon.json)
done

# ---- a change dockerd refuses at start: rolled back ------------------------------
recipe "    log-opts: {max-size: 20m}
    labels: [release-matrix=yes]
    storage-driver: bootstrap-nonexistent"
bs apply "$R"
for v in "${RELEASES[@]}"; do
	# the node's own line of the error (nodes fail together, in any order)
	line=$(grep -F "d$v" <<<"$out
$errout" | grep 'dockerd did not restart' | head -n 1)
	if [ "$rc" -ne 0 ] && grep -q 'previous daemon.json is back and dockerd runs with it' <<<"$line" &&
		grep -qE 'dockerd said: .*dockerd\[[0-9]+\]: .*driver not supported' <<<"$line"; then
		ok "Debian $v (${NAME[$v]}): a storage-driver dockerd refuses: rolled back, the journal's lines in the error"
	else
		bad "Debian $v (${NAME[$v]}): refused change rolled back with the journal's lines (exit $rc)" "$(tail -c 3000 <<<"$out
$errout")"
	fi
	info "Debian $v: $(grep -o 'dockerd said: .*' <<<"$line" | cut -c1-300)"
done
conf_back() { local v=${1#d}; [ "$(nx "$1" cat /etc/docker/daemon.json)" = "${CONF[$v]}" ]; }
each "rollback: daemon.json is the previous one" conf_back
each "rollback: docker.service enabled and active again" unit_up
each "rollback: the web container runs again" web_runs
recipe "    log-opts: {max-size: 20m}
    labels: [release-matrix=yes]"
bs plan --detailed-exitcode "$R"
run_ok "after the rollback, the previous recipe: plan exits 0"

# ---- docker.endpoint: tls ---------------------------------------------------------
recipe "    log-opts: {max-size: 20m}
    labels: [release-matrix=yes]" tls
bs apply "$R"
run_ok "docker.endpoint: tls: applied (certificates, the systemd drop-in, restart)"
dropin() { nx "$1" grep -q -- '-H tcp://0.0.0.0:2376 --tlsverify' /etc/systemd/system/docker.service.d/bootstrap-tls.conf; }
each "TLS: the drop-in is in place" dropin
each "TLS: docker.service enabled and active" unit_up
tls_list() { # NODE: the engine answers over TCP with the project's client certificate
	local v=${1#d}
	DOCKER_CERT_PATH=$BOOTSTRAP_DIR/tls/$PROJECT timeout 60 "${WRAP[@]}" "$BOOTSTRAP" \
		-H "tcp://${IP[$v]}:2376" list >/dev/null 2>&1
}
no_cert() { # NODE: without a client certificate, refused
	local v=${1#d}
	! DOCKER_CERT_PATH=$NODE_DIR/no-certs timeout 60 "$BOOTSTRAP" -H "tcp://${IP[$v]}:2376" list >/dev/null 2>&1
}
each "TLS: the engine answers with mutual TLS to the project's client" tls_list
each "TLS: refused without the client certificate" no_cert
bs plan --detailed-exitcode "$R"
run_ok "TLS: plan exits 0"

info "suite: $((SECONDS - T0)) s"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
