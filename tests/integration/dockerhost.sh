#!/usr/bin/env bash
# tests/integration/dockerhost.sh - bs_dockerhost_ensure against real nodes
# (Debian containers with sshd, tests/lab/node.sh), through
# tests/integration/dockerhost.c, which prints the report as JSON. The
# node is changed between runs (dockerd stopped, files edited, users added)
# and checked from the inside with node_exec.
#
#   INTEG_BIN=build/integration bash tests/integration/dockerhost.sh
#
# BS_WRAP (valgrind ...) wraps the test program. Node n1 boots systemd, as
# real machines do: Docker installed once as docker.service, then
# reconfigured (reload with the PID kept, restart, rollback with the
# journal's lines, the TLS drop-in, a dockerd started by hand beside the
# unit). n3 is the suite's one node without an init (sshd as PID 1):
# bootstrap starts dockerd itself and reads /var/log/dockerd.log. n2 never
# gets Docker (the failure paths before an install). Everything is removed
# on EXIT.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
INTEG_BIN=${INTEG_BIN:-build/integration}
BIN=$INTEG_BIN/dockerhost
read -r -a WRAP <<<"${BS_WRAP:-}"
. tests/lab/lab.sh
. tests/lab/node.sh

pass=0 fail=0
ok() { pass=$((pass + 1)); printf 'ok   %s\n' "$1"; }
bad() { fail=$((fail + 1)); printf 'FAIL %s\n' "$1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/     /'; }
info() { printf 'info %s\n' "$*"; }
give_up() { echo "$1"; echo "$pass passed, $((fail + 1)) failed"; exit 1; }

[ -x "$BIN" ] || give_up "build $BIN first (make integration)"
# a signal ends the run through the EXIT trap, which removes the nodes
trap 'exit 143' TERM INT
# the nodes run on this machine's engine: start one if none answers
if ! lab_ping >/dev/null 2>&1; then
	# shellcheck disable=SC2034 # lab.sh's lab_dockerd and lab_down use it
	LAB=$(mktemp -d "${TMPDIR:-/tmp}/bootstrap-lab.XXXXXX")
	trap lab_down EXIT
	lab_dockerd || give_up "no Docker engine for the nodes"
fi
node_lab_up || give_up "node lab failed to start"
node_up n1 || give_up "node n1 failed to start"
node_up n2 || give_up "node n2 failed to start"
NODE_INIT=none node_up n3 || give_up "node n3 (no init) failed to start"
OUT=$NODE_DIR/dockerhost.json
ERR=$NODE_DIR/dockerhost.err

# dh NODE [--user U] ARGS...: one bs_dockerhost_ensure run; sets rc and
# keeps the JSON report in $OUT (bounded: a run may install Docker)
dh() {
	local node=$1
	shift
	timeout 900 "${WRAP[@]}" "$BIN" --host "$(node_addr "$node")" --port "$(node_port "$node")" \
		--key "$NODE_KEY" --known-hosts "$NODE_DIR/bootstrap_known_hosts" --node "$node" \
		--ready-ms 60000 "$@" >"$OUT" 2>"$ERR"
	rc=$?
}
# j KEY: a member of the last report
j() {
	python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))[sys.argv[2]]
print(json.dumps(v) if isinstance(v, bool) else v)' "$OUT" "$1" 2>/dev/null
}
report() { cat "$OUT" "$ERR" 2>/dev/null; }
# expect NAME KEY=VALUE...: the run succeeded and every member matches
expect() {
	local name=$1 kv why=
	shift
	[ "$rc" -eq 0 ] || why="exit $rc"
	for kv in "$@"; do
		[ "$(j "${kv%%=*}")" = "${kv#*=}" ] || why="$why ${kv%%=*} is $(j "${kv%%=*}"), wanted ${kv#*=};"
	done
	if [ -z "$why" ]; then ok "$name"; else bad "$name ($why)" "$(report)"; fi
}
# expect_fail NAME PATTERN [KEY=VALUE...]: the run failed, the message
# matches PATTERN (extended regex)
expect_fail() {
	local name=$1 pattern=$2 kv why=
	shift 2
	[ "$rc" -eq 1 ] || why="exit $rc, wanted 1;"
	j message | grep -qE -- "$pattern" || why="$why message does not match /$pattern/;"
	for kv in "$@"; do
		[ "$(j "${kv%%=*}")" = "${kv#*=}" ] || why="$why ${kv%%=*} is $(j "${kv%%=*}"), wanted ${kv#*=};"
	done
	if [ -z "$why" ]; then ok "$name"; else bad "$name ($why)" "$(report)"; fi
}
check() { # NAME COMMAND...: a check on the node's side
	local name=$1
	shift
	if "$@"; then ok "$name"; else bad "$name"; fi
}
# the node the helpers below look at (n1, then n3)
N=n1
node_pid() { node_exec "$N" cat /var/run/docker.pid 2>/dev/null; }
node_info() { node_exec "$N" timeout 20 docker info --format "$1" 2>/dev/null; }
node_conf() { node_exec "$N" cat /etc/docker/daemon.json 2>/dev/null; }
same_pid() { [ -n "$1" ] && [ "$1" = "$(node_pid)" ]; }
# systemd's view of docker.service
unit() { node_exec "$N" systemctl show -p "$1" --value docker 2>/dev/null; }
unit_up() { # enabled, active, and its main process is the pidfile's dockerd
	[ "$(node_exec "$N" systemctl is-enabled docker 2>/dev/null)" = enabled ] &&
		[ "$(unit ActiveState)" = active ] && same_pid "$(unit MainPID)"
}
# how many times dockerd logged a SIGHUP in the journal
reload_signals() {
	node_exec "$N" journalctl -u docker -q --no-pager 2>/dev/null | grep -c 'Got signal to reload configuration'
}

D1='{"log-opts":{"max-size":"10m"}}'
D2='{"log-opts":{"max-size":"10m"},"debug":true}'
D3='{"log-opts":{"max-size":"10m"},"debug":true,"log-driver":"local"}'
D4='{"log-opts":{"max-size":"10m"},"debug":true,"log-driver":"local","storage-driver":"nonexistent"}'

# n3's install runs beside n1's: both wait on apt and the network, not on
# each other; its report is read in n3's section
(
	OUT=$NODE_DIR/n3-install.json ERR=$NODE_DIR/n3-install.err
	dh n3 --daemon "$D1"
	echo "$rc" >"$NODE_DIR/n3-install.rc"
) &
n3_install=$!

# --- install under systemd, then converged ------------------------------------
dh n1 --daemon "$D1"
# the package starts docker.service before daemon.json is written: the
# file comes right after, with a restart
expect "fresh systemd node: Docker installed over SSH as docker.service, configured, answers" \
	installed=true action=restart config_written=true uploads=1 commands=3 \
	os_id=debian os_codename=bookworm systemd=true
info "install, configure and start: $(j ms) ms, $(j commands) commands, engine $(j engine_version)"
v=$(node_exec n1 timeout 20 docker version --format '{{.Server.Version}}' 2>/dev/null)
check "the engine answers inside the node, the version reported" [ -n "$v" -a "$v" = "$(j engine_version)" ]
check "the report's pid is dockerd's" same_pid "$(j pid)"
check "docker.service enabled and active, its main process the pidfile's dockerd" unit_up
want=$'{\n  "log-opts": {\n    "max-size": "10m"\n  }\n}'
check "daemon.json is the canonical merge" [ "$(node_conf)" = "$want" ]
pid=$(node_pid)

dh n1 --daemon "$D1"
expect "second run: one command, nothing uploaded, nothing touched" \
	commands=1 uploads=0 action=none installed=false started=false config_written=false
info "converged run: $(j ms) ms, $(j commands) command"
check "second run: same dockerd" same_pid "$pid"

# --- reload, restart, rollback through systemctl ----------------------------------
hups=$(reload_signals)
dh n1 --daemon "$D2"
expect "debug: true only: systemctl reload" action=reload config_written=true uploads=1 commands=2 started=false
info "reload: $(j ms) ms, dockerd pid $pid -> $(node_pid)"
check "reload: same dockerd (pid $pid)" same_pid "$pid"
check "reload: the journal has dockerd's 'Got signal to reload configuration'" \
	[ "$(reload_signals)" -gt "${hups:-0}" ]
check "reload: dockerd runs in debug mode" [ "$(node_info '{{.Debug}}')" = true ]

dh n1 --daemon "$D3"
expect "log-driver local: systemctl restart" action=restart config_written=true uploads=1 commands=2
info "restart: $(j ms) ms"
check "restart: a new dockerd" [ -n "$(node_pid)" -a "$(node_pid)" != "$pid" ]
check "restart: docker.service runs it" unit_up
check "restart: the new log driver is in use" [ "$(node_info '{{.LoggingDriver}}')" = local ]
pid=$(node_pid)
good_conf=$(node_conf)

dh n1 --daemon "$D4"
expect_fail "a broken config: error with the journal's own line, rolled back" \
	'did not restart.*storage-driver.*previous daemon.json is back.*dockerd said: .*dockerd\[[0-9]+\]: .*driver not supported' \
	config_written=false
info "rollback: $(j ms) ms; message: $(j message)"
check "rollback: daemon.json restored" [ "$(node_conf)" = "$good_conf" ]
check "rollback: the file before the change is kept as daemon.json.bootstrap-prev" \
	node_exec n1 test -f /etc/docker/daemon.json.bootstrap-prev
check "rollback: docker.service active again, with the previous config" unit_up
check "rollback: dockerd answers with the previous config" [ "$(node_info '{{.LoggingDriver}}')" = local ]

dh n1 --daemon "$D3"
expect "after the rollback: converged" commands=1 uploads=0 action=none
pid=$(node_pid)

dh n1 --daemon '{"insecure-registries":["registry invalid"]}'
expect_fail "a setting dockerd refuses on reload: its own words, rolled back" \
	'did not reload.*insecure-registries.*refused the new configuration.*previous daemon.json is back.*dockerd said: .*registry invalid is not valid' \
	config_written=false action=none
info "reload refused: $(j ms) ms; message: $(j message)"
check "reload refused: same dockerd" same_pid "$pid"
check "reload refused: daemon.json restored" [ "$(node_conf)" = "$good_conf" ]

# --- edits on the node ------------------------------------------------------------
node_exec n1 sh -c 'printf "%s" "{\"log-driver\":\"local\",\"debug\":true,\"log-opts\":{\"max-size\":\"10m\"}}" >/etc/docker/daemon.json'
dh n1 --daemon "$D3"
expect "same settings, other formatting: rewritten, daemon untouched" \
	action=none config_written=true uploads=1 started=false
check "rewrite: same dockerd" same_pid "$pid"
check "rewrite: canonical again" [ "$(node_conf)" = "$good_conf" ]

# docker.socket too: a connection to it would start the service again
node_exec n1 systemctl stop docker.service docker.socket || bad "docker.service did not stop in the node"
dh n1 --daemon "$D3"
expect "a stopped docker.service is started" started=true action=none uploads=0 commands=2
check "started: docker.service enabled and active" unit_up
check "started: the engine answers" [ "$(node_info '{{.LoggingDriver}}')" = local ]
pid=$(node_pid)

node_exec n1 systemctl disable docker.service >/dev/null 2>&1
dh n1 --daemon "$D3"
expect "a disabled docker.service is enabled again, dockerd left alone" action=none uploads=0 commands=2
check "enabled: same dockerd" same_pid "$pid"
check "enabled: docker.service enabled and active" unit_up

dh n1 --daemon '{"debug":null}'
expect "a key removed (null): restart (a reload keeps an absent key's value)" action=restart
check "removed: debug is off" [ "$(node_info '{{.Debug}}')" = false ]
check "removed: the other keys stay" node_exec n1 grep -q '"log-driver": "local"' /etc/docker/daemon.json
pid=$(node_pid)

node_exec n1 cp /etc/docker/daemon.json /root/daemon.json.good
node_exec n1 sh -c 'printf "{broken" >/etc/docker/daemon.json'
dh n1 --daemon "$D3"
expect_fail "a daemon.json that does not parse is reported, not overwritten" \
	'daemon.json on the node is not valid JSON.*fix or remove' commands=1 uploads=0
check "the broken file is left as it was" [ "$(node_conf)" = "{broken" ]
node_exec n1 cp /root/daemon.json.good /etc/docker/daemon.json

dh n1 --daemon '{"hosts":["tcp://0.0.0.0:2375"]}'
expect_fail "hosts in docker.daemon is refused before any command" 'SSH tunnel' commands=0
dh n1 --daemon '{"log-driverr":"local"}'
expect_fail "a typo in a daemon key is refused with the suggestion" "did you mean 'log-driver'" commands=0

# --- a dockerd started by hand beside docker.service --------------------------------
# shellcheck disable=SC2016 # expanded by the node's shell
node_exec n1 sh -c 'systemctl stop docker.service docker.socket || exit 1
	setsid dockerd >/var/log/dockerd-by-hand.log 2>&1 </dev/null &
	for i in $(seq 100); do [ -S /var/run/docker.sock ] && [ -s /var/run/docker.pid ] && exit 0; sleep 0.1; done; exit 1' ||
	bad "no dockerd started by hand in the node"
hand=$(node_pid)
dh n1 --daemon '{"debug":true}'
expect_fail "a dockerd started by hand beside docker.service: reported, not fought" \
	"dockerd \\(pid $hand\\) runs outside systemd's docker.service.*kill $hand.*systemctl enable --now docker" \
	commands=1 uploads=0
check "by hand: that dockerd still runs, docker.service still stopped" \
	[ "$(node_pid)" = "$hand" -a "$(unit ActiveState)" = inactive ]
check "by hand: daemon.json untouched" node_exec n1 sh -c '! grep -q debug /etc/docker/daemon.json'
# shellcheck disable=SC2016 # expanded by the node's shell
node_exec n1 sh -c 'kill $(cat /var/run/docker.pid); for i in $(seq 100); do [ -e /var/run/docker.pid ] || exit 0; sleep 0.1; done; exit 1' ||
	bad "the dockerd started by hand did not stop"
dh n1 --daemon "$D3"
expect "by hand, then stopped: docker.service started again" started=true
check "docker.service enabled and active" unit_up

# --- the API over TCP with mutual TLS (systemd: the drop-in) -----------------------
TLS=$NODE_DIR/tls
# tls_docker NODE: the engine's version over TCP with the project's client certificate
tls_docker() {
	node_exec "$1" timeout 20 docker --tlsverify --tlscacert /root/client/ca.pem \
		--tlscert /root/client/cert.pem --tlskey /root/client/key.pem \
		-H tcp://127.0.0.1:2376 version --format '{{.Server.Version}}' 2>/dev/null
}
no_cert_docker() {
	node_exec "$1" timeout 20 docker --tls --tlscacert /root/client/ca.pem \
		-H tcp://127.0.0.1:2376 version >/dev/null 2>&1
}
client_certs() {
	for f in ca cert key; do
		node_exec "$1" sh -c "mkdir -p /root/client && cat >/root/client/$f.pem" <"$TLS/$f.pem"
	done
}
no() { ! "$@"; }
# a hosts key left in daemon.json (by hand, or from the time the node had
# no init) would clash with the drop-in's -H flags: dockerd refuses both
node_exec n1 sh -c 'printf "%s\n" "{\"hosts\":[\"unix:///var/run/docker.sock\"],\"log-driver\":\"local\",\"log-opts\":{\"max-size\":\"10m\"}}" >/etc/docker/daemon.json'
dh n1 --daemon "$D3" --tls-dir "$TLS"
expect "docker.endpoint tls: certificates and the drop-in in place, hosts taken out of daemon.json, restart" \
	action=restart uploads=5 commands=2 config_written=true
client_certs n1
check "TLS: the engine answers on TCP 2376 to the project's client" [ -n "$(tls_docker n1)" ]
check "TLS: a client without a certificate is refused" no no_cert_docker n1
check "TLS: the socket still answers" [ "$(node_info '{{.LoggingDriver}}')" = local ]
check "TLS: no hosts or tls keys in daemon.json (the drop-in has them)" \
	node_exec n1 sh -c '! grep -qE "hosts|tls" /etc/docker/daemon.json'
check "TLS: the drop-in's ExecStart replaces the unit's (one command, with the TLS flags)" \
	[ "$(unit ExecStart | grep -c 'argv\[\]=')" = 1 -a -n "$(unit ExecStart | grep -- '-H tcp://0.0.0.0:2376 --tlsverify')" ]
check "TLS: docker.service runs it" unit_up
check "TLS: the server key is 0600, root's" \
	[ "$(node_exec n1 stat -c '%U %a' /etc/docker/tls/key.pem)" = "root 600" ]
dh n1 --daemon "$D3" --tls-dir "$TLS"
expect "TLS: a second run is converged" commands=1 uploads=0 action=none
dh n1 --daemon "$D3"
expect "TLS off again: the drop-in goes, restart" action=restart uploads=0 commands=2
check "TLS off: no drop-in left" node_exec n1 test ! -e /etc/systemd/system/docker.service.d/bootstrap-tls.conf
check "TLS off: nothing answers on TCP 2376" no tls_docker n1 >/dev/null
check "TLS off: docker.service runs the unit's own command again" unit_up
pid=$(node_pid)

# --- a node without an init (the suite's one): dockerd started by bootstrap ----------
N=n3
wait "$n3_install"
cp "$NODE_DIR/n3-install.json" "$OUT"
cp "$NODE_DIR/n3-install.err" "$ERR"
rc=$(cat "$NODE_DIR/n3-install.rc" 2>/dev/null || echo 1)
expect "no init: Docker installed over SSH, dockerd started by bootstrap, answers" \
	installed=true started=true action=none config_written=true uploads=1 commands=3 \
	os_id=debian systemd=false
info "no init: install, configure and start: $(j ms) ms"
check "no init: the report's pid is dockerd's" same_pid "$(j pid)"
check "no init: dockerd logs to /var/log/dockerd.log" node_exec n3 test -s /var/log/dockerd.log
pid3=$(node_pid)
dh n3 --daemon "$D1"
expect "no init: second run: one command, nothing touched" commands=1 uploads=0 action=none
dh n3 --daemon "$D2"
expect "no init: debug: true only: SIGHUP" action=reload commands=2
check "no init: reload: same dockerd" same_pid "$pid3"
dh n3 --daemon "$D3"
expect "no init: log-driver local: dockerd stopped and started again" action=restart commands=2
check "no init: restart: a new dockerd" [ -n "$(node_pid)" -a "$(node_pid)" != "$pid3" ]
good3=$(node_conf)
dh n3 --daemon "$D4"
expect_fail "no init: a broken config: dockerd's own log line, rolled back" \
	'did not restart.*previous daemon.json is back.*driver not supported' config_written=false
check "no init: rollback: daemon.json restored" [ "$(node_conf)" = "$good3" ]
check "no init: rollback: dockerd answers with the previous config" \
	[ "$(node_info '{{.LoggingDriver}}')" = local ]
# shellcheck disable=SC2016 # expanded by the node's shell
node_exec n3 sh -c 'kill $(cat /var/run/docker.pid); for i in $(seq 100); do [ -e /var/run/docker.pid ] || exit 0; sleep 0.1; done; exit 1' ||
	bad "dockerd did not stop in n3"
dh n3 --daemon "$D3"
expect "no init: a stopped dockerd is started" started=true action=none uploads=0 commands=2
dh n3 --daemon "$D3" --tls-dir "$TLS"
expect "no init: docker.endpoint tls: the listener in daemon.json, restart" \
	action=restart uploads=4 commands=2 config_written=true
client_certs n3
check "no init: TLS: the engine answers on TCP 2376 to the project's client" [ -n "$(tls_docker n3)" ]
check "no init: TLS: a client without a certificate is refused" no no_cert_docker n3
dh n3 --daemon "$D3"
expect "no init: TLS off again: the listener goes, restart" action=restart uploads=1 commands=2
check "no init: TLS off: no hosts or tls keys left in daemon.json" \
	node_exec n3 sh -c '! grep -qE "hosts|tls" /etc/docker/daemon.json'
N=n1

# --- users ------------------------------------------------------------------------
node_user n1 alice nopasswd || bad "node_user alice"
node_user n1 bob password || bad "node_user bob"
dh n1 --user alice --sudo --daemon '{"debug":false}'
expect "a NOPASSWD sudo user: upload as the user, reload through sudo" \
	action=reload uploads=1 commands=2
check "sudo user: same dockerd" same_pid "$pid"
check "sudo user: daemon.json owned by root, 0644" \
	[ "$(node_exec n1 stat -c '%U %a' /etc/docker/daemon.json)" = "root 644" ]
check "sudo user: no temporary file left" \
	[ -z "$(node_exec n1 sh -c 'ls -A /tmp | grep bootstrap' 2>/dev/null)" ]
check "sudo user: debug is off" [ "$(node_info '{{.Debug}}')" = false ]
dh n1 --user alice --sudo --daemon '{"debug":false}'
expect "a NOPASSWD sudo user: converged in one command" commands=1 uploads=0 action=none
dh n1 --user bob --sudo --daemon '{"debug":false}'
expect_fail "sudo that wants a password: a clear error naming the user and the fix" \
	'bob is not root.*a password is required.*NOPASSWD.*ssh.user: root' commands=1
dh n1 --user alice --daemon '{"debug":false}'
expect_fail "another user without sudo allowed: a clear error" 'alice is not root' commands=1

# --- nodes without Docker ---------------------------------------------------------
dh n2 --package "x'; touch /tmp/owned; '"
expect_fail "a hostile package name is refused before any command" \
	'is not a Debian package name' commands=0
check "nothing ran on the node" node_exec n2 test ! -e /tmp/owned
dh n2 --version "1.0'; touch /tmp/owned; '"
expect_fail "a hostile version is refused before any command" 'is not a Debian package version' commands=0
dh n2 --install never --daemon "$D1"
expect_fail "install: never and no Docker: a clear error with the fix" \
	'Docker is not installed.*docker.install is never.*docker.install: auto' commands=1 uploads=0
dh n2 --version 1.0-bootstrap-nonexistent
expect_fail "a version apt does not have: apt's own words and the fix" \
	"Version '1.0-bootstrap-nonexistent' for 'docker.io' was not found.*apt-cache policy docker.io" \
	commands=2 installed=false
node_exec n2 sh -c 'rm -f /etc/os-release && printf "%s\n" "ID=alpine" "VERSION_ID=3.19.0" "PRETTY_NAME=\"Alpine Linux v3.19\"" >/etc/os-release'
dh n2
expect_fail "an OS bootstrap cannot install on: names it, the supported ones, the fix" \
	'Debian and Ubuntu.*Alpine Linux v3.19.*docker.install: never' commands=1
check "nothing was installed on n2" node_exec n2 sh -c '! command -v dockerd'

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
