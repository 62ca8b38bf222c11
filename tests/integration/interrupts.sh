#!/usr/bin/env bash
# tests/integration/interrupts.sh - Ctrl-C (SIGINT) and SIGTERM in every
# wait end the run within 1 s, exit 130 / 143, locks released and nothing
# left half-done:
#   the local lock wait (--lock-wait), the SSH wait (a port that refuses),
#   SSH connect to a host that takes the connection and never answers
#   (apply, plan, prepare -H ssh://), the node lock wait
#   (a throwaway sshd as a static node, its /var/lib on a tmpfs of its own
#   mount namespace), a health wait (the new NAME.next removed, the old
#   container untouched, the next plan empty), an image pull from a registry
#   that never answers (apply, and the pull command), logs --follow, and,
#   through the Hetzner fake, the cloud action poll (a slow boot) and the
#   SSH wait of a machine just created (its key arrives late). A second
#   signal ends an action in flight that the first lets finish.
# Not here: the engine-ready wait (a node whose dockerd is still starting
# needs a node container with Docker inside).
# Needs root (the lab sshd adds users; the cloud fake publishes port 22 on
# 127.0.0.6x/7x), a Docker engine, and the node image for the cloud cases
# (skipped without it, through tests/lab/skip.sh: a failure in CI unless
# BS_EXPECTED_SKIPS lists interrupts-nodelock or interrupts-cloud).
#
#   BOOTSTRAP=./bootstrap bash tests/integration/interrupts.sh
#
# BS_WRAP (valgrind ...) wraps every bootstrap run; the bound is 5 s then.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BOOTSTRAP=${BOOTSTRAP:-./bootstrap}
read -r -a WRAP <<<"${BS_WRAP:-}"
. tests/lab/lab.sh
. tests/lab/skip.sh

pass=0 fail=0
ok() { pass=$((pass + 1)); printf 'ok   %s\n' "$1"; }
bad() { fail=$((fail + 1)); printf 'FAIL %s\n' "$1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/     /'; }
skip() { bs_skip "$1" "$2" || fail=$((fail + 1)); } # NAME REASON (tests/lab/skip.sh)
give_up() { echo "$1"; echo "$pass passed, $((fail + 1)) failed"; exit 1; }

LIMIT_MS=1000
# slower, not unbounded: valgrind, and ASan's leak check at exit on a busy machine
[ -n "${ASAN_OPTIONS:-}" ] && LIMIT_MS=2500
[ ${#WRAP[@]} -gt 0 ] && LIMIT_MS=5000
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bootstrap-interrupts.XXXXXX") || exit 1
PROJECT=int$$
RUN=bsi-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
LAB="$WORK/lab"
mkdir -p "$LAB"
export BOOTSTRAP_DIR="$WORK/state"
LOCKFILE="$BOOTSTRAP_DIR/locks/$PROJECT.lock"
HELPERS=() # pids of the helpers this suite started
HOLDERS=() # flock -o LOCK sleep: the lock holders (and their sleep)
# unhold PID: a holder goes, with its sleep
unhold() {
	pkill -TERM -P "$1" 2>/dev/null
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}
BS_PID=

cleanup() {
	set +e
	[ -n "$BS_PID" ] && kill_run
	local pid end
	for pid in ${HOLDERS[@]+"${HOLDERS[@]}"}; do unhold "$pid"; done
	for pid in ${HELPERS[@]+"${HELPERS[@]}"}; do kill -TERM "$pid" 2>/dev/null; done
	end=$((SECONDS + 60)) # a cloud fake removes its nodes first
	for pid in ${HELPERS[@]+"${HELPERS[@]}"}; do
		while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.2; done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	local -a ids vols
	mapfile -t ids < <(docker ps -aq --filter "label=io.bootstrap.project=$PROJECT" 2>/dev/null;
		docker ps -aq --filter "label=io.bootstrap.test.run=$RUN" 2>/dev/null)
	[ ${#ids[@]} -eq 0 ] || docker rm -f -v "${ids[@]}" >/dev/null 2>&1
	mapfile -t vols < <(docker volume ls -q --filter "label=io.bootstrap.test.run=$RUN" 2>/dev/null)
	[ ${#vols[@]} -eq 0 ] || docker volume rm -f "${vols[@]}" >/dev/null 2>&1
	docker network rm "$PROJECT-net" >/dev/null 2>&1
	# only what this suite started (lab_down would remove every lab's containers)
	for pid in ${LAB_PIDS[@]+"${LAB_PIDS[@]}"}; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

lab_dockerd || give_up "no Docker engine"
lab_busybox_image || give_up "no $LAB_IMAGE image"
ssh-keygen -q -t ed25519 -N '' -C "interrupts-$RUN" -f "$WORK/id_ed25519" || give_up "ssh-keygen"

# ---- helpers ---------------------------------------------------------------

# hold NAME: a listener on a free loopback port that takes every connection
# and never sends a byte (an sshd or a registry that hangs); sets PORT, and
# appends a line to $WORK/NAME.log per connection
hold() {
	local name=$1
	python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
print(s.getsockname()[1], flush=True)
s.settimeout(0.5)
held, end = [], time.time() + 600
while time.time() < end:
    try:
        held.append(s.accept()[0])
        print("accepted", file=sys.stderr, flush=True)
    except socket.timeout:
        pass
' >"$WORK/$name.port" 2>"$WORK/$name.log" &
	HELPERS+=("$!")
	PORT=
	for _ in $(seq 100); do
		PORT=$(cat "$WORK/$name.port" 2>/dev/null)
		[ -n "$PORT" ] && return 0
		sleep 0.05
	done
	return 1
}
accepted() { grep -c accepted "$WORK/$1.log" 2>/dev/null; }

# A shell reports 128 + N both for a program that exits 128 + N and for one
# that signal N killed: bootstrap runs under this wrapper, which exits 200 +
# N when the signal killed it, so 130 and 143 can only come from bootstrap's
# own handling.
EXIT_OF='import subprocess, sys
r = subprocess.call(sys.argv[1:])
sys.exit(200 - r if r < 0 else r)'
# start ARGS...: bootstrap in the background (under BS_WRAP); BS_PID is the
# wrapper's, BS_CHILD bootstrap's (or its checker's) own
start() {
	: >"$WORK/out"
	: >"$WORK/err"
	python3 -c "$EXIT_OF" "${WRAP[@]}" "$BOOTSTRAP" "$@" >"$WORK/out" 2>"$WORK/err" &
	BS_PID=$!
	BS_CHILD=
}
child() {
	[ -n "$BS_CHILD" ] || BS_CHILD=$(pgrep -P "$BS_PID" | head -n 1)
	[ -n "$BS_CHILD" ]
}
# kill_run: bootstrap and its wrapper, at once (a test that went wrong)
kill_run() {
	child && kill -KILL "$BS_CHILD" 2>/dev/null
	kill -KILL "$BS_PID" 2>/dev/null
}
# within SECONDS COMMAND...: poll in 50 ms steps until it holds, bounded
within() {
	local n=$(($1 * 20))
	shift
	for _ in $(seq "$n"); do
		"$@" && return 0
		kill -0 "$BS_PID" 2>/dev/null || return 1 # it ended already
		sleep 0.05
	done
	return 1
}
in_err() { grep -q -- "$1" "$WORK/err"; }
in_out() { grep -q -- "$1" "$WORK/out"; }
# signal SIG: a moment inside the wait, then SIG; sets rc and ms (signal to exit)
signal() {
	local t0
	sleep 0.3
	child || BS_CHILD=$BS_PID # not started: the wrapper takes it, and fails
	t0=$(date +%s%N)
	kill -"$1" "$BS_CHILD" 2>/dev/null
	wait "$BS_PID"
	rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	BS_PID=
}
said() { printf 'exit %s after %s ms\n' "$rc" "$ms"; tail -n 6 "$WORK/err"; grep -v '"node_stage"' "$WORK/out" | tail -n 4 | cut -c1-400; }
# stopped WHAT SIG: exit 130 for INT, 143 for TERM, within the bound
stopped() {
	local want=130
	[ "$2" = TERM ] && want=143
	if [ "$rc" = "$want" ] && [ "$ms" -le "$LIMIT_MS" ]; then
		ok "$1: SIG$2 ends the run in $ms ms, exit $rc"
	else
		bad "$1: SIG$2 ends the run within $LIMIT_MS ms with exit $want" "$(said)"
	fi
}
# the project lock is free: a second run would get it at once
lock_free() {
	if [ ! -e "$LOCKFILE" ] || flock -n "$LOCKFILE" true; then
		ok "$1: the project lock is released"
	else
		bad "$1: the project lock is released" "$(said)"
	fi
}
# waiting WHAT MARKER-COMMAND...: started bootstrap reached the wait
waiting() {
	local what=$1
	shift
	within 60 "$@" && return 0
	[ -n "$BS_PID" ] && kill_run
	wait "$BS_PID" 2>/dev/null
	rc=$? ms=-
	BS_PID=
	bad "$what: bootstrap reaches the wait" "$(said)"
	return 1
}

engine_recipe() { # FILE IMAGE [EXTRA CONTAINER LINES]
	{
		printf 'version: 1\nproject: %s\nprovider: {type: engine}\nnodes:\n  - name: here\n' "$PROJECT"
		printf 'containers:\n  - name: c1\n    image: %s\n' "$2"
		printf '    command: [sleep, "1000000"]\n    stop_timeout: 0s\n    update: {monitor: 0s}\n'
		[ -n "${3:-}" ] && printf '%s\n' "$3"
	} >"$1"
}
static_recipe() { # FILE PORT [USER KEY]
	cat >"$1" <<EOF
version: 1
project: $PROJECT
provider: {type: static}
ssh: {user: ${3:-root}, key: ${4:-$WORK/id_ed25519}, connect_timeout: 30s}
nodes:
  - {name: n1, address: 127.0.0.1, port: $2}
containers:
  - {name: c1, image: $LAB_IMAGE, command: [sleep, "1000000"]}
EOF
}

# ---- the local lock wait ---------------------------------------------------

engine_recipe "$WORK/base.yaml" "$LAB_IMAGE"
mkdir -p "$BOOTSTRAP_DIR/locks"
flock -o "$LOCKFILE" sleep 600 & # -o: the lock dies with flock
HOLDER=$!
HOLDERS+=("$HOLDER")
within_holder() { ! flock -n "$LOCKFILE" true; }
BS_PID=$$ within 5 within_holder || give_up "the lock holder did not take $LOCKFILE"
for sig in INT TERM; do
	start apply --lock-wait 60 "$WORK/base.yaml"
	waiting "local lock wait" in_err "is locked by another run: waiting" || continue
	signal $sig
	stopped "local lock wait (apply --lock-wait 60)" $sig
done
unhold "$HOLDER"

# the base state for the health wait: c1 running, no healthcheck
start apply "$WORK/base.yaml"
wait "$BS_PID"
rc=$? BS_PID=
[ "$rc" = 0 ] || give_up "apply of the base recipe: exit $rc $(tail -n 5 "$WORK/err")"
OLD_ID=$(docker ps -q --no-trunc --filter "label=io.bootstrap.project=$PROJECT" --filter name=c1)

# ---- the health wait -------------------------------------------------------

engine_recipe "$WORK/unhealthy.yaml" "$LAB_IMAGE" '    environment: {V: "2"}
    healthcheck: {test: [CMD, "false"], interval: 60s, start_period: 60s}'
next_starting() {
	[ "$(docker inspect -f '{{.State.Health.Status}}' "$PROJECT-c1-1.next" 2>/dev/null)" = starting ]
}
for sig in INT TERM; do
	start apply --json "$WORK/unhealthy.yaml"
	waiting "health wait" next_starting || continue
	signal $sig
	stopped "health wait (start-first replacement)" $sig
	names=$(docker ps -a --filter "label=io.bootstrap.project=$PROJECT" --format '{{.Names}}' | sort | tr '\n' ' ')
	now=$(docker ps -q --no-trunc --filter "label=io.bootstrap.project=$PROJECT" --filter name=c1)
	[ "$names" = "$PROJECT-c1-1 " ] && [ "$now" = "$OLD_ID" ] &&
		ok "health wait, SIG$sig: the new container is removed, the old one runs on" ||
		bad "health wait, SIG$sig: the new container is removed, the old one runs on" "containers: $names; running id $now (was $OLD_ID)"
	lock_free "health wait, SIG$sig"
done
start plan --detailed-exitcode "$WORK/base.yaml"
wait "$BS_PID"
rc=$? BS_PID=
[ "$rc" = 0 ] && ok "health wait: the next plan of the running recipe plans nothing" ||
	bad "health wait: the next plan plans nothing" "exit $rc; $(tail -n 8 "$WORK/out")"

# ---- a second signal ends an action in flight --------------------------------

# stop-first, and sleep as PID 1 ignores SIGTERM: the stop takes stop_timeout
engine_recipe "$WORK/slowstop.yaml" "$LAB_IMAGE" '    environment: {V: "3"}'
sed -i 's/stop_timeout: 0s/stop_timeout: 8s/; s/update: {monitor: 0s}/update: {monitor: 0s, order: stop-first}/' "$WORK/slowstop.yaml"
prev_there() { docker inspect "$PROJECT-c1-1.prev" >/dev/null 2>&1; }
start apply "$WORK/slowstop.yaml"
if waiting "second signal" prev_there; then
	sleep 0.3
	child && kill -INT "$BS_CHILD"
	sleep 1.5
	if kill -0 "$BS_PID" 2>/dev/null; then
		ok "first SIGINT: the stop in flight goes on"
		signal INT
		stopped "second SIGINT during a container stop" INT
	else
		wait "$BS_PID"
		rc=$? ms=- BS_PID=
		bad "first SIGINT: the stop in flight goes on" "$(said)"
	fi
	lock_free "second signal"
fi
# what that left (NAME.prev, stopping): the next run puts it right
prev_stopped() { [ "$(docker inspect -f '{{.State.Running}}' "$PROJECT-c1-1.prev" 2>/dev/null)" != true ]; }
BS_PID=$$ within 15 prev_stopped
start apply "$WORK/base.yaml"
wait "$BS_PID"
rc=$? BS_PID=
start plan --detailed-exitcode "$WORK/base.yaml"
wait "$BS_PID"
rc2=$? BS_PID=
[ "$rc" = 0 ] && [ "$rc2" = 0 ] && ok "after an aborted replacement the next apply converges" ||
	bad "after an aborted replacement the next apply converges" "apply exit $rc, plan exit $rc2; $(tail -n 8 "$WORK/out")"

# ---- an image pull from a registry that never answers -------------------------

hold registry || give_up "no loopback listener"
REG=127.0.0.1:$PORT
n=0
for sig in INT TERM; do
	n=$((n + 1)) # a new name each time: the engine joins pulls of one name
	engine_recipe "$WORK/pull.yaml" "$REG/never/x$n:1"
	before=$(accepted registry)
	pulling() { [ "$(accepted registry)" -gt "$before" ]; }
	start apply --json "$WORK/pull.yaml"
	waiting "image pull" pulling || continue
	signal $sig
	stopped "image pull (apply)" $sig
	lock_free "image pull, SIG$sig"
done
for sig in INT TERM; do
	n=$((n + 1))
	before=$(accepted registry)
	start -H unix:///var/run/docker.sock pull "$REG/never/x$n:1"
	waiting "image pull" pulling || continue
	signal $sig
	stopped "image pull (bootstrap pull)" $sig
done

# ---- logs --follow ---------------------------------------------------------

docker run -d --label "io.bootstrap.test.run=$RUN" --name "$RUN-follow" "$LAB_IMAGE" \
	sh -c 'echo started; exec sleep 100000' >/dev/null || give_up "docker run $LAB_IMAGE"
for sig in INT TERM; do
	start -H unix:///var/run/docker.sock "$RUN-follow/logs" --follow
	waiting "logs --follow" in_out started || continue
	signal $sig
	stopped "logs --follow" $sig
done

# ---- the SSH wait: nothing listens yet (a machine still booting) -------------

static_recipe "$WORK/refused.yaml" "$(lab_free_port)"
ssh_stage() { in_out '"stage":"ssh"'; }
for sig in INT TERM; do
	start apply --json "$WORK/refused.yaml"
	waiting "SSH wait" ssh_stage || continue
	sleep 0.5 # a few refused attempts: in the pause between two
	signal $sig
	stopped "SSH wait, connection refused (apply)" $sig
	lock_free "SSH wait, SIG$sig"
done

# ---- SSH connect to a host that never answers -------------------------------

hold sshd || give_up "no loopback listener"
static_recipe "$WORK/hang.yaml" "$PORT"
for verb in plan apply; do
	for sig in INT TERM; do
		before=$(accepted sshd)
		connecting() { [ "$(accepted sshd)" -gt "$before" ]; }
		start "$verb" --json "$WORK/hang.yaml"
		waiting "SSH connect" connecting || continue
		signal $sig
		stopped "SSH connect, no banner ($verb)" $sig
		[ "$verb" = apply ] && lock_free "SSH connect (apply), SIG$sig"
	done
done
for sig in INT TERM; do
	before=$(accepted sshd)
	start -H "ssh://root@127.0.0.1:$PORT" -i "$WORK/id_ed25519" prepare
	waiting "SSH connect" connecting || continue
	signal $sig
	stopped "SSH connect, no banner (prepare -H ssh://)" $sig
done

# ---- the node lock wait ------------------------------------------------------

# The node lock lives in /var/lib/bootstrap: this machine's, here. sshd runs
# in a mount namespace of its own with a tmpfs on /var/lib, so nothing of
# the machine's is touched; the holder joins that namespace.
. tests/lab/sshd.sh
cat >"$WORK/sshd-ns" <<'EOF'
#!/bin/sh
exec unshare --mount --propagation private sh -c 'mount -t tmpfs -o mode=0755 bs-interrupts /var/lib && exec /usr/sbin/sshd "$@"' sshd "$@"
EOF
chmod 0755 "$WORK/sshd-ns"
if ! command -v unshare >/dev/null 2>&1 || ! command -v nsenter >/dev/null 2>&1; then
	skip interrupts-nodelock "node lock wait: no unshare/nsenter"
elif ! SSHD_BIN="$WORK/sshd-ns" sshd_up >"$WORK/sshd-up.log" 2>&1; then
	bad "node lock wait: the lab sshd starts" "$(tail -n 5 "$WORK/sshd-up.log")"
else
	static_recipe "$WORK/nodelock.yaml" "$SSHD_PORT" root "$SSHD_KEY_ED25519"
	nsenter -t "$SSHD_PID" -m sh -c 'mkdir -p /var/lib/bootstrap && exec flock -o /var/lib/bootstrap/lock sleep 600' &
	NODE_HOLDER=$!
	HOLDERS+=("$NODE_HOLDER")
	node_waiter() { pgrep -f '^flock -w 37\.000 9$' >/dev/null; }
	for sig in INT TERM; do
		# destroy: were the lock taken after all, it would only look at
		# this machine's Docker (and remove this project's containers)
		start destroy --lock-wait 37 "$WORK/nodelock.yaml"
		waiting "node lock wait" node_waiter || continue
		signal $sig
		stopped "node lock wait (destroy --lock-wait 37)" $sig
		BS_PID=$$ within 2 eval '! node_waiter' &&
			ok "node lock wait, SIG$sig: the waiter on the node is gone" ||
			bad "node lock wait, SIG$sig: the waiter on the node is gone" "$(pgrep -af 'flock -w')"
		lock_free "node lock wait, SIG$sig"
	done
	unhold "$NODE_HOLDER"
	sshd_down >/dev/null 2>&1
fi

# ---- the cloud: the action poll and the SSH wait (the Hetzner fake) -----------

TOKEN=tok-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
export HCLOUD_TOKEN=$TOKEN
# fake NAME FIRST-IP OPTIONS...: the Hetzner fake; sets BASE
fake() {
	local name=$1 ip=$2
	shift 2
	python3 tests/fakes/hetzner_api.py --port 0 --token "$TOKEN" --run-label "$RUN-$name" \
		--first-ip "$ip" --lifetime 300 "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
	HELPERS+=("$!")
	FAKE_PID=$!
	BASE=
	for _ in $(seq 200); do
		BASE=$(sed -n 's/^listening on \([0-9]*\)$/http:\/\/127.0.0.1:\1/p' "$WORK/$name.out")
		[ -n "$BASE" ] && return 0
		kill -0 "$FAKE_PID" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
cloud_recipe() { # FILE BASE [NODE]
	cat >"$1" <<EOF
version: 1
project: $PROJECT
provider: {type: hetzner, location: fsn1, server_type: cx22, image: debian-12, api_url: "$2/v1"}
ssh: {key: $WORK/id_ed25519, wait_timeout: 120s}
nodes:
  - {name: ${3:-app}}
containers:
  - {name: web, image: $LAB_IMAGE, command: [sleep, "100000"]}
EOF
}
servers() { curl -s "$BASE/__fake/state" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["servers"]))'; }
stop_fake() {
	kill -TERM "$FAKE_PID" 2>/dev/null
	local end=$((SECONDS + 60))
	while kill -0 "$FAKE_PID" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.2; done
	wait "$FAKE_PID" 2>/dev/null
}

if ! docker image inspect bootstrap/node:bookworm >/dev/null 2>&1; then
	skip interrupts-cloud "cloud action poll and SSH wait: no node image (make node-image)"
else
	# a slow boot: the server is created, then not running for 120 s
	if fake slow 127.0.0.61 --boot-delay 120; then
		made=0
		for sig in INT TERM; do
			# a machine of its own each time: the wait is on one just created
			made=$((made + 1))
			cloud_recipe "$WORK/cloud-slow.yaml" "$BASE" "slow-${sig,,}"
			start apply --json "$WORK/cloud-slow.yaml"
			created() { [ "$(servers)" -ge "$made" ]; }
			waiting "cloud action poll" created || continue
			signal $sig
			stopped "cloud action poll (a machine that boots slowly)" $sig
			lock_free "cloud action poll, SIG$sig"
		done
		stop_fake
	else
		bad "the Hetzner fake starts (--boot-delay)" "$(tail -n 5 "$WORK/slow.err")"
	fi
	# a machine just created whose key arrives late: the SSH wait retries
	if fake late 127.0.0.71 --cloud-init-delay 120; then
		for sig in INT TERM; do
			# a machine of its own each time: only one just created waits
			cloud_recipe "$WORK/cloud-late.yaml" "$BASE" "late-${sig,,}"
			start apply --json "$WORK/cloud-late.yaml"
			waiting "SSH wait" ssh_stage || continue
			sleep 0.5 # the first attempts are refused
			signal $sig
			stopped "SSH wait (a new machine refuses the key until cloud-init)" $sig
			lock_free "SSH wait, SIG$sig"
		done
		stop_fake
	else
		bad "the Hetzner fake starts (--cloud-init-delay)" "$(tail -n 5 "$WORK/late.err")"
	fi
fi

# ---- reports -----------------------------------------------------------------

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
