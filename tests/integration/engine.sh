#!/usr/bin/env bash
# tests/integration/engine.sh - provider: engine end to end against the
# real dockerd: containers created in parallel, a no-op re-run that only
# lists (request count), exactly one replacement for one changed env,
# in-place settings compared by label (a hand-made docker update is left
# alone until --refresh), a stopped and a removed container put back,
# stop_timeout 0 (forced delete), destroy leaving nothing, an engine
# that does not answer, and start order (depends_on: a healthy database,
# a completed job, a failed job, a cycle, across two node entries) with
# container_name.
#
#   BOOTSTRAP=./bootstrap bash tests/integration/engine.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
BOOTSTRAP=${BOOTSTRAP:-./bootstrap}
read -r -a WRAP <<<"${BS_WRAP:-}"
. tests/lab/lab.sh
EVENTS="python3 tests/integration/pipeline/events.py"

pass=0 fail=0
ok() { pass=$((pass + 1)); printf 'ok   %s\n' "$1"; }
bad() { fail=$((fail + 1)); printf 'FAIL %s\n' "$1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/     /'; }
give_up() { echo "$1"; echo "$pass passed, $((fail + 1)) failed"; exit 1; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what" "exit $rc; $(tail -n 5 "$WORK/err"; tail -n 3 "$WORK/out")"; fi; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bootstrap-engine-test.XXXXXX")
PROJECT=en$$
LAB="$WORK/lab"
mkdir -p "$LAB"
cleanup() {
	local ids
	ids=$(docker ps -aq --filter "label=io.bootstrap.project=$PROJECT" 2>/dev/null)
	[ -n "$ids" ] && docker rm -f -v $ids >/dev/null 2>&1
	docker rm -f "$PROJECT-foreign" >/dev/null 2>&1
	ids=$(docker ps -aq --filter "label=io.bootstrap.project=${PROJECT}h" 2>/dev/null)
	[ -n "$ids" ] && docker rm -f -v $ids >/dev/null 2>&1
	docker network rm "${PROJECT}h-net" >/dev/null 2>&1
	ids=$(docker ps -aq --filter "label=io.bootstrap.project=${PROJECT}k" 2>/dev/null)
	[ -n "$ids" ] && docker rm -f -v $ids >/dev/null 2>&1
	docker network rm "${PROJECT}k-net" >/dev/null 2>&1
	for p in "${PROJECT}d" "${PROJECT}x"; do
		ids=$(docker ps -aq --filter "label=io.bootstrap.project=$p" 2>/dev/null)
		[ -n "$ids" ] && docker rm -f -v $ids >/dev/null 2>&1
		docker network rm "$p-net" >/dev/null 2>&1
	done
	docker network rm "$PROJECT-net" >/dev/null 2>&1
	docker rmi -f "$PROJECT/ctx:1" >/dev/null 2>&1
	lab_down
	rm -rf "$WORK"
}
trap cleanup EXIT
lab_dockerd || give_up "no Docker engine"
lab_busybox_image || give_up "no $LAB_IMAGE image"
export BOOTSTRAP_DIR="$WORK/state"
N=12
R="$WORK/r.yaml"

# recipe [ENGINE_URL]: N containers, c03's env from $C03, c06's restart from $RESTART6
C03=one RESTART6=unless-stopped
recipe() {
	{
		printf 'version: 1\nproject: %s\nprovider: {type: engine}\nnodes:\n' "$PROJECT"
		printf '  - name: here\n'
		[ -n "${1:-}" ] && printf '    engine: %s\n' "$1"
		printf 'images:\n  - {name: %s, pull: never}\ncontainers:\n' "$LAB_IMAGE"
		for i in $(seq -w 1 $N); do
			local k=v$i restart=unless-stopped
			[ "$i" = 03 ] && k=$C03
			[ "$i" = 06 ] && restart=$RESTART6
			cat <<EOF
  - name: c$i
    image: $LAB_IMAGE
    command: [sleep, "1000000"]
    environment: {K: "$k"}
    labels: {suite: engine}
    restart: $restart
    stop_timeout: 0s
    update: {monitor: 0s}
EOF
		done
	} >"$R"
}
bs() {
	timeout 300 "${WRAP[@]}" "$BOOTSTRAP" "$@" >"$WORK/out" 2>"$WORK/err"
	rc=$?
}
summary() { $EVENTS summary "$WORK/out"; }
requests() { $EVENTS get "$WORK/out" requests summary; }
counts_are() {
	local want_rc=$1 kv s
	shift
	[ "$rc" = "$want_rc" ] || return 1
	s=" $(summary) "
	for kv in "$@"; do [[ $s == *" $kv "* ]] || return 1; done
}
ids() { docker ps -a --filter "label=io.bootstrap.project=$PROJECT" --format '{{.Names}} {{.ID}}' | sort; }
running() { docker ps --filter "label=io.bootstrap.project=$PROJECT" -q | wc -l; }

# ---- fresh apply ------------------------------------------------------------
recipe
bs validate "$R"
check "the recipe is valid" test "$rc" = 0
bs apply --json "$R"
check "fresh apply: $N created, nothing failed" counts_are 0 created=$N failed=0
[ "$(running)" = $N ] && ok "$N containers run on the engine" || bad "$N containers run" "$(ids)"
label=$(docker inspect -f '{{index .Config.Labels "io.bootstrap.inplace"}}' "$PROJECT-c01-1" 2>&1)
[ "$label" = "restart=unless-stopped:0;memory=0;cpus=0;pids=512" ] &&
	ok "the in-place settings are recorded in a label ($label)" || bad "inplace label" "$label"
overlap=$($EVENTS serial "$WORK/out" create "$PROJECT-c.*")
[[ $overlap == overlap:* ]] && ok "creates ran in parallel ($overlap)" || bad "creates ran in parallel" "'$overlap'"

# ---- no-op ------------------------------------------------------------------
before=$(ids)
bs apply --json "$R"
check "second apply: nothing to do" counts_are 0 created=0 replaced=0 updated=0 started=0 removed=0 other=0 unchanged=$N
n=$(requests)
[ -n "$n" ] && [ "$n" -le 5 ] && ok "... in $n API requests (ping, image, list, network: no inspect per container)" ||
	bad "no-op request count" "requests=$n"
[ "$($EVENTS count "$WORK/out" action_started)" = 0 ] && [ "$(ids)" = "$before" ] &&
	ok "... no action started, the same containers" || bad "no-op changed something" "$(ids)"
bs plan --detailed-exitcode --json "$R"
check "plan --detailed-exitcode: 0" test "$rc" = 0

# ---- one env changed ----------------------------------------------------------
C03=two
recipe
bs plan --detailed-exitcode --json "$R"
reason=$($EVENTS get "$WORK/out" reason action_planned replace "$PROJECT-c03-1")
[ "$rc" = 2 ] && [[ $reason == *"environment.K: one -> two"* ]] &&
	ok "plan: exit 2, replace c03 ($reason)" || bad "plan after an env change" "rc=$rc reason=$reason"
bs apply --json "$R"
check "apply: exactly one replaced" counts_are 0 replaced=1 created=0 updated=0 removed=0 failed=0
changed=$(diff <(echo "$before") <(ids) | grep -c '^>')
env=$(docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$PROJECT-c03-1" | grep '^K=')
[ "$changed" = 1 ] && [ "$env" = K=two ] && diff <(echo "$before" | grep -v c03) <(ids | grep -v c03) >/dev/null &&
	ok "... only c03 has a new ID, and its env is K=two" || bad "only c03 replaced" "changed=$changed env=$env"

# ---- in place: by label, and --refresh ----------------------------------------
docker update --restart=no "$PROJECT-c05-1" >/dev/null
bs apply --json "$R"
check "docker update by hand: a plain apply compares labels, changes nothing" counts_are 0 updated=0 replaced=0
bs plan --refresh --detailed-exitcode --json "$R"
reason=$($EVENTS get "$WORK/out" reason action_planned update "$PROJECT-c05-1")
[ "$rc" = 2 ] && [[ $reason == *"restart: no -> unless-stopped"* ]] &&
	ok "plan --refresh finds it ($reason)" || bad "plan --refresh" "rc=$rc reason=$reason"
bs apply --refresh --json "$R"
check "apply --refresh puts it back in place" counts_are 0 updated=1 replaced=0 created=0
policy=$(docker inspect -f '{{.HostConfig.RestartPolicy.Name}}' "$PROJECT-c05-1")
[ "$policy" = unless-stopped ] && ok "... restart policy unless-stopped again" || bad "restart policy" "$policy"
RESTART6=always
recipe
bs apply --json "$R"
check "restart changed in the recipe: updated in place (the label differs, inspect decides)" counts_are 0 updated=1 replaced=0
bs apply --json "$R"
n=$(requests)
check "... then nothing to do" counts_are 0 updated=0 replaced=0 created=0 unchanged=$N
[ -n "$n" ] && [ "$n" -le 6 ] && ok "... with one inspect for the container whose label is stale ($n requests)" ||
	bad "stale label request count" "requests=$n"

# ---- stopped, removed -----------------------------------------------------------
docker stop -t 0 "$PROJECT-c07-1" >/dev/null
docker rm -f "$PROJECT-c08-1" >/dev/null
bs apply --json "$R"
check "a stopped container started, a removed one created" counts_are 0 started=1 created=1 replaced=0 failed=0
[ "$(running)" = $N ] && ok "$N running again" || bad "$N running" "$(ids)"

# ---- serial with --parallel 1 ------------------------------------------------------
docker rm -f "$PROJECT-c09-1" "$PROJECT-c10-1" "$PROJECT-c11-1" >/dev/null
bs apply --parallel 1 --json "$R"
overlap=$($EVENTS serial "$WORK/out" create "$PROJECT-c.*")
counts_are 0 created=3 && [ "$overlap" = serial ] && ok "--parallel 1: three creates, one after the other" ||
	bad "--parallel 1" "rc=$rc $(summary) $overlap"

# ---- an engine that does not answer ------------------------------------------------
recipe "unix://$WORK/no-such.sock"
before=$(ids)
bs apply "$R"
msg=$(cat "$WORK/out" "$WORK/err")
[ "$rc" = 1 ] && [[ $msg == *"node here"* ]] && [[ $msg == *no-such.sock* ]] && [ "$(ids)" = "$before" ] &&
	ok "an engine that does not answer: exit 1, the node and the socket named" || bad "unanswered engine" "rc=$rc $msg"

# ---- a replacement that fails its healthcheck says why ---------------------------------
# (its own project: the main recipe's containers stay as they are)
HP=${PROJECT}h HR="$WORK/health.yaml"
health_recipe() { # PROBE_EXIT V
	cat >"$HR" <<EOF
version: 1
project: $HP
provider: {type: engine}
nodes: [{name: here}]
images: [{name: $LAB_IMAGE, pull: never}]
containers:
  - name: hc
    image: $LAB_IMAGE
    command: [sh, -c, 'for i in \$\$(seq 1 25); do echo line-\$\$i; done; exec sleep 1000000']
    environment: {V: "$2"}
    healthcheck: {test: [CMD-SHELL, "echo probe-says-$1; exit $1"], interval: 1s, timeout: 2s, retries: 1}
    update: {timeout: 20s, failure_logs: 5}
    stop_timeout: 0s
EOF
}
health_recipe 0 one
bs apply --json "$HR"
check "a container with a passing healthcheck: created" counts_are 0 created=1 failed=0
health_recipe 1 two
bs apply --json "$HR"
msg=$(cat "$WORK/out" "$WORK/err")
outs=$(python3 -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print(" ".join(e["reason"] for e in ev if e.get("event") == "message" and e.get("state") == "output" and e.get("object") == sys.argv[2]))
print([e["reason"] for e in ev if e.get("event") == "message" and e.get("state") == "healthcheck"])' "$WORK/out" "$HP-hc-1")
[ "$rc" = 1 ] && [ "$(head -n 1 <<<"$outs")" = "line-21 line-22 line-23 line-24 line-25" ] &&
	[[ $(tail -n 1 <<<"$outs") == *"exit code 1: probe-says-1"* ]] &&
	[[ $msg == *"is unhealthy"*"its last output: line-23 | line-24 | line-25; its last health check: exit code 1: probe-says-1"* ]] &&
	ok "a replacement that fails its healthcheck: its last 5 lines (update.failure_logs) and its last check shown, the error quoting them" ||
	bad "failed health wait says why" "rc=$rc outs=$outs $(tail -n 4 "$WORK/out") $(cat "$WORK/err")"
[ "$(docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$HP-hc-1" | grep '^V=')" = V=one ] &&
	ok "... the old container serves on" || bad "old container after a failed replacement" "$(docker ps -a --filter "label=io.bootstrap.project=$HP")"
health_recipe 0 one
bs destroy --json "$HR"
check "... destroy" counts_are 0 removed=1 failed=0

# ---- compose's keys reach the engine ---------------------------------------------------
# (its own project) capabilities, read-only root, tmpfs, ulimits, extra
# hosts, the log driver: as docker inspect shows them; a re-run changes
# nothing; one changed value replaces the container.
KP=${PROJECT}k KR="$WORK/keys.yaml"
keys_recipe() { # NPROC
	cat >"$KR" <<EOF
version: 1
project: $KP
provider: {type: engine}
nodes: [{name: here}]
images: [{name: $LAB_IMAGE, pull: never}]
containers:
  - name: k
    image: $LAB_IMAGE
    command: [sleep, "1000000"]
    stop_timeout: 0s
    update: {monitor: 0s}
    cap_add: [net_admin, CAP_SYS_PTRACE]
    cap_drop: [ALL]
    read_only: true
    tmpfs: ["/run:size=64m,mode=1777", /scratch]
    ulimits:
      nofile: {soft: 1024, hard: 2048}
      nproc: $1
    extra_hosts: ["db.internal:10.0.0.5", "v6=::1"]
    logging: {driver: json-file, options: {max-size: 1m, max-file: "2"}}
EOF
}
kinspect() { docker inspect -f "$1" "$KP-k-1" 2>&1; }
keys_recipe 512
bs apply --json "$KR"
check "a container with compose's keys: created" counts_are 0 created=1 failed=0
got="$(kinspect '{{json .HostConfig.CapAdd}} {{json .HostConfig.CapDrop}} {{.HostConfig.ReadonlyRootfs}}')"
[ "$got" = '["NET_ADMIN","SYS_PTRACE"] ["ALL"] true' ] &&
	ok "... CapAdd, CapDrop, ReadonlyRootfs ($got)" || bad "capabilities and read_only" "$got"
got="$(kinspect '{{json .HostConfig.Tmpfs}}')"
[ "$got" = '{"/run":"size=64m,mode=1777","/scratch":""}' ] && ok "... Tmpfs ($got)" || bad "tmpfs" "$got"
ulimits='{{range .HostConfig.Ulimits}}{{.Name}}={{.Soft}}:{{.Hard}} {{end}}'
got="$(kinspect "$ulimits")"
[ "$got" = 'nofile=1024:2048 nproc=512:512 ' ] &&
	ok "... Ulimits ($got)" || bad "ulimits" "$got"
got="$(kinspect '{{json .HostConfig.ExtraHosts}}')"
[ "$got" = '["db.internal:10.0.0.5","v6:::1"]' ] && ok "... ExtraHosts ($got)" || bad "extra hosts" "$got"
got="$(kinspect '{{json .HostConfig.LogConfig}}')"
[ "$got" = '{"Type":"json-file","Config":{"max-file":"2","max-size":"1m"}}' ] &&
	ok "... LogConfig: the recipe's, not bootstrap's rotation ($got)" || bad "log config" "$got"
got="$(docker exec "$KP-k-1" sh -c 'grep db.internal /etc/hosts; ulimit -n; touch /x 2>&1; touch /run/ok && echo tmpfs-writable' 2>&1)"
[[ $got == *"10.0.0.5"*"db.internal"* ]] && [[ $got == *1024* ]] && [[ $got == *"Read-only file system"* ]] &&
	[[ $got == *tmpfs-writable* ]] && ok "... inside: the hosts line, the ulimit, a read-only root and a writable tmpfs" ||
	bad "inside the container" "$got"
id_before=$(kinspect '{{.Id}}')
bs apply --json "$KR"
check "... a re-run: unchanged" counts_are 0 created=0 replaced=0 updated=0 unchanged=1
keys_recipe 600
bs plan --detailed-exitcode --json "$KR"
reason=$($EVENTS get "$WORK/out" reason action_planned replace "$KP-k-1")
[ "$rc" = 2 ] && [[ $reason == *"ulimits.nproc: 512:512 -> 600:600"* ]] &&
	ok "... nproc changed: plan says replace ($reason)" || bad "plan after a ulimit change" "rc=$rc reason=$reason"
bs apply --json "$KR"
got="$(kinspect "{{.Id}} $ulimits")"
counts_are 0 replaced=1 created=0 failed=0 && [ "${got%% *}" != "$id_before" ] && [[ $got == *' nofile=1024:2048 nproc=600:600 ' ]] &&
	ok "... apply replaced it, with the new limit" || bad "replace after a ulimit change" "rc=$rc $(summary) $got"
bs destroy --json "$KR"
check "... destroy" counts_are 0 removed=1 failed=0

# ---- destroy --------------------------------------------------------------------------
recipe
bs destroy --json "$R"
check "destroy: $N removed" counts_are 0 removed=$N failed=0
left=$(docker ps -aq --filter "label=io.bootstrap.project=$PROJECT" | wc -l)
net=$(docker network ls -q --filter "name=^$PROJECT-net$" | wc -l)
[ "$left" = 0 ] && [ "$net" = 0 ] && ok "... nothing left: no container, no network" || bad "destroy left things" "containers=$left networks=$net"
overlap=$($EVENTS serial "$WORK/out" remove "$PROJECT-c.*")
[[ $overlap == overlap:* ]] && ok "... removed in parallel ($overlap)" || bad "removes in parallel" "'$overlap'"

# ---- network: none ------------------------------------------------------------------------
cat >"$R" <<EOF
version: 1
project: $PROJECT
provider: {type: engine}
nodes: [{name: here}]
images: [{name: $LAB_IMAGE, pull: never}]
containers:
  - {name: solo, image: $LAB_IMAGE, command: [sleep, "1000000"], network: none, stop_timeout: 0s}
EOF
bs apply --json "$R"
mode=$(docker inspect -f '{{.HostConfig.NetworkMode}}' "$PROJECT-solo-1" 2>&1)
net=$(docker network ls -q --filter "name=^$PROJECT-net$" | wc -l)
counts_are 0 created=1 other=0 && [ "$mode" = none ] && [ "$net" = 0 ] &&
	ok "network: none: the container has no network, and no project network is made" || bad "network: none" "rc=$rc mode=$mode networks=$net"
bs destroy --json "$R"
check "... destroy" counts_are 0 removed=1 failed=0

# ---- node entries that share one engine -----------------------------------------------
cat >"$R" <<EOF
version: 1
project: $PROJECT
provider: {type: engine}
nodes: [{name: a}, {name: b}, {name: c}, {name: d}]
images: [{name: $LAB_IMAGE, pull: never}]
containers:
  - {name: w, image: $LAB_IMAGE, command: [sleep, "1000000"], replicas: 8, stop_timeout: 0s}
EOF
bs apply --json "$R"
nets=$(docker network ls -q --filter "name=^$PROJECT-net$" | wc -l)
counts_are 0 created=8 failed=0 && [ "$nets" = 1 ] && [ "$(running)" = 8 ] &&
	ok "four node entries on one engine: 8 replicas, one network (made once, not raced)" || bad "shared engine apply" "rc=$rc $(summary) networks=$nets"
bs apply --json "$R"
check "... a re-run: nothing to do" counts_are 0 created=0 removed=0 unchanged=8
# a container that is not the project's, attached to its network, holds it:
# destroy leaves both and names that container and the fix
docker run -d --name "$PROJECT-foreign" --network "$PROJECT-net" "$LAB_IMAGE" sleep 1000000 >/dev/null
bs destroy --json "$R"
msg=$(cat "$WORK/out" "$WORK/err")
attached=$(docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}' "$PROJECT-foreign" 2>&1)
counts_are 1 removed=8 && [[ $msg == *"container $PROJECT-foreign still uses it"* ]] &&
	[[ $msg == *"docker network disconnect $PROJECT-net $PROJECT-foreign"* ]] && [ "$attached" = "$PROJECT-net" ] &&
	ok "... a foreign container on the project network: destroy leaves it attached and names it with the fix" ||
	bad "foreign container on the network" "rc=$rc attached=$attached $msg"
docker rm -f "$PROJECT-foreign" >/dev/null
bs destroy --json "$R"
left=$(docker ps -aq --filter "label=io.bootstrap.project=$PROJECT" | wc -l)
net=$(docker network ls -q --filter "name=^$PROJECT-net$" | wc -l)
counts_are 0 removed=0 failed=0 && [ "$left" = 0 ] && [ "$net" = 0 ] &&
	ok "... destroy again: the network goes once every container on it is gone" || bad "shared engine destroy" "rc=$rc $(summary) containers=$left networks=$net"

# ---- an image built from a local context ------------------------------------
# plan says build (missing); apply builds it with the context's hash as a
# label; a re-run builds nothing; a changed file is planned as "context
# changed" and its apply replaces the container with the new image
mkdir -p "$WORK/ctx/app"
printf 'FROM %s AS base\nCOPY app.txt /app.txt\nFROM base AS prod\nCMD ["sleep", "1000000"]\n' "$LAB_IMAGE" >"$WORK/ctx/app/Dockerfile"
printf 'notes.txt\n' >"$WORK/ctx/app/.dockerignore"
echo one >"$WORK/ctx/app/app.txt"
R="$WORK/ctx/r.yaml"
printf '%s\n' "version: 1" "project: $PROJECT" "provider: {type: engine}" "nodes: [{name: here}]" "images:" \
	"  - name: $PROJECT/ctx:1" "    build: {context: ./app, target: prod}" "containers:" \
	"  - {name: app, image: $PROJECT/ctx:1, stop_timeout: 0s, update: {monitor: 0s}}" >"$R"
bs plan "$R"
grep -q "build $PROJECT/ctx:1: missing" "$WORK/out" "$WORK/err" && ok "local context: plan says build (missing)" ||
	bad "plan of a missing context image" "$(cat "$WORK/out" "$WORK/err")"
bs apply --json "$R"
hash=$(docker image inspect -f '{{index .Config.Labels "io.bootstrap.context-hash"}}' "$PROJECT/ctx:1" 2>&1)
counts_are 0 created=1 failed=0 && [[ $hash =~ ^[0-9a-f]{64}$ ]] &&
	[ "$(docker exec "$PROJECT-app-1" cat /app.txt 2>&1)" = one ] &&
	ok "... apply builds it on the node (labelled with the context hash) and runs it" || bad "apply of a context image" "rc=$rc $(summary) hash=$hash"
echo ignored >"$WORK/ctx/app/notes.txt"
bs apply --json "$R"
counts_are 0 created=0 replaced=0 other=0 unchanged=1 && [ "$($EVENTS count "$WORK/out" action_started)" = 0 ] &&
	ok "... a re-run (an excluded file changed) builds nothing" || bad "re-run of a context image" "rc=$rc $(summary)"
echo two >"$WORK/ctx/app/app.txt"
bs plan --detailed-exitcode "$R"
[ "$rc" = 2 ] && grep -q "build $PROJECT/ctx:1: context changed" "$WORK/out" "$WORK/err" &&
	ok "... a changed file: plan says build (context changed), exit 2" || bad "plan of a changed context" "rc=$rc $(cat "$WORK/out" "$WORK/err")"
bs apply --json "$R"
counts_are 0 replaced=1 failed=0 && [ "$(docker exec "$PROJECT-app-1" cat /app.txt 2>&1)" = two ] &&
	[ "$(docker image inspect -f '{{index .Config.Labels "io.bootstrap.context-hash"}}' "$PROJECT/ctx:1")" != "$hash" ] &&
	ok "... apply rebuilds it and replaces the container" || bad "apply of a changed context" "rc=$rc $(summary)"
bs destroy --json "$R"
# ---- depends_on: start order; container_name -------------------------------------------
# (its own projects: db turns healthy 3 s after its start; migrate is a job)
DP=${PROJECT}d DR="$WORK/deps.yaml"
deps_recipe() { # MIGRATE_EXIT DB_V
	cat >"$DR" <<EOF
version: 1
project: $DP
provider: {type: engine}
nodes: [{name: here}]
images: [{name: $LAB_IMAGE, pull: never}]
containers:
  - name: app
    image: $LAB_IMAGE
    command: [sleep, "1000000"]
    stop_timeout: 0s
    depends_on:
      db: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
  - name: db
    image: $LAB_IMAGE
    container_name: $DP-the-db
    command: [sh, -c, 'sleep 3; touch /tmp/ready; exec sleep 1000000']
    environment: {V: "$2"}
    healthcheck: {test: [CMD-SHELL, "test -f /tmp/ready"], interval: 500ms, timeout: 2s, retries: 20}
    stop_timeout: 0s
  - name: migrate
    image: $LAB_IMAGE
    command: [sh, -c, 'sleep 1; echo migrating; exit $1']
    restart: "no"
EOF
}
# state NAME: StartedAt FinishedAt (ns since the epoch) and ExitCode
state() {
	docker inspect -f '{{.State.StartedAt}} {{.State.FinishedAt}} {{.State.ExitCode}}' "$1" 2>/dev/null |
		python3 -c '
import sys, datetime
def ns(t):
    d, _, f = t.rstrip("Z").partition(".")
    s = datetime.datetime.strptime(d, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc).timestamp()
    return int(s) * 10**9 + int((f + "000000000")[:9])
a, b, c = sys.stdin.read().split()
print(ns(a), ns(b), c)'
}
# after A B [MIN_MS]: A is at least MIN_MS (default 0) after B (ns)
after() { python3 -c 'import sys; a, b, m = map(int, sys.argv[1:4]); sys.exit(0 if a > 0 and b > 0 and a - b >= m * 10**6 else 1)' "${1:-0}" "${2:-0}" "${3:-0}"; }

deps_recipe 0 one
bs validate "$DR"
check "depends_on and container_name: the recipe is valid" test "$rc" = 0
bs apply --json "$DR"
check "apply with depends_on: 3 created" counts_are 0 created=3 failed=0
read -r app_start _ _ <<<"$(state "$DP-app-1")"
read -r db_start _ _ <<<"$(state "$DP-the-db")"
read -r _ mig_end mig_exit <<<"$(state "$DP-migrate-1")"
health=$(docker inspect -f '{{.State.Health.Status}}' "$DP-the-db" 2>&1)
after "$app_start" "$db_start" 3000 && after "$app_start" "$mig_end" && [ "$health" = healthy ] && [ "$mig_exit" = 0 ] &&
	ok "app started $(((app_start - db_start) / 1000000)) ms after db (healthy after 3 s), $(((app_start - mig_end) / 1000000)) ms after migrate exited 0" ||
	bad "start order" "app=$app_start db=$db_start migrate_end=$mig_end exit=$mig_exit health=$health $(tail -n 5 "$WORK/out")"
overlap=$($EVENTS serial "$WORK/out" create "$DP-(the-db|migrate-1)")
[[ $overlap == overlap:* ]] && ok "... db and migrate (one level) were created in parallel ($overlap)" ||
	bad "one level in parallel" "'$overlap'"
cname=$(docker inspect -f '{{.Name}} {{index .Config.Labels "io.bootstrap.container"}} {{index .Config.Labels "io.bootstrap.replica"}}' "$DP-the-db" 2>&1)
[ "$cname" = "/$DP-the-db db 1" ] && ok "container_name: the engine name is $DP-the-db, labelled db replica 1" ||
	bad "container_name" "$cname"
bs apply --json "$DR"
n=$(requests)
counts_are 0 created=0 replaced=0 started=0 unchanged=3 && [ "$($EVENTS count "$WORK/out" action_started)" = 0 ] &&
	[ -n "$n" ] && [ "$n" -le 5 ] &&
	ok "... a re-run: nothing to do, the exited job left alone, no waits ($n requests)" ||
	bad "depends_on re-run" "rc=$rc requests=$n $(summary)"
old_id=$(docker inspect -f '{{.Id}}' "$DP-the-db")
deps_recipe 0 two
bs apply --json "$DR"
env=$(docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$DP-the-db" | grep '^V=')
counts_are 0 replaced=1 created=0 failed=0 && [ "$(docker inspect -f '{{.Id}}' "$DP-the-db")" != "$old_id" ] &&
	[ "$env" = V=two ] && [ -z "$(docker ps -aq --filter "name=^$DP-the-db.next$")" ] &&
	ok "... a change to it replaces it under the same name" || bad "container_name replacement" "rc=$rc env=$env $(summary)"
bs destroy --json "$DR"
first=$($EVENTS get "$WORK/out" object action_done remove "$DP-.*")
counts_are 0 removed=3 failed=0 && [ "$first" = "$DP-app-1" ] &&
	ok "... destroy removes app, the dependent, first" || bad "destroy order" "rc=$rc first=$first"

deps_recipe 3 one
bs apply --json "$DR"
msg=$(cat "$WORK/out" "$WORK/err")
[ "$rc" = 1 ] && [ -z "$(docker ps -aq --filter "name=^$DP-app-1$")" ] &&
	[[ $msg == *"app waits for $DP-migrate-1 to complete, and it exited with code 3; its last output: migrating"* ]] &&
	[ "$($EVENTS count "$WORK/out" message "" "$DP-app-1")" -ge 1 ] &&
	ok "a job that exits 3: app is not created, skipped with the job's exit code and output" ||
	bad "failed job" "rc=$rc $(tail -n 6 "$WORK/out") $(cat "$WORK/err")"
deps_recipe 0 one
bs destroy --json "$DR"

CR="$WORK/cycle.yaml"
cat >"$CR" <<EOF
version: 1
project: $DP
provider: {type: engine}
nodes: [{name: here}]
containers:
  - {name: a, image: $LAB_IMAGE, depends_on: [b]}
  - name: b
    image: $LAB_IMAGE
    depends_on:
      a: {condition: service_started}
EOF
bs validate "$CR"
msg=$(cat "$WORK/out" "$WORK/err")
[ "$rc" != 0 ] && [[ $msg == *"$CR:10:7: containers[1].depends_on: depends_on makes a cycle: a -> b -> a"* ]] &&
	ok "validate refuses a cycle at its entry's FILE:LINE:COL (a -> b -> a)" || bad "cycle" "rc=$rc $msg"

# across nodes: db on node a, app on node b (two node entries, one engine;
# one at a time, b first: b's job cannot wait inside the pool for a's)
XP=${PROJECT}x XR="$WORK/cross.yaml"
cat >"$XR" <<EOF
version: 1
project: $XP
provider: {type: engine}
nodes: [{name: b}, {name: a}]
images: [{name: $LAB_IMAGE, pull: never}]
containers:
  - name: app
    image: $LAB_IMAGE
    command: [sleep, "1000000"]
    nodes: [b]
    stop_timeout: 0s
    depends_on: {db: {condition: service_healthy}}
  - name: db
    image: $LAB_IMAGE
    nodes: [a]
    command: [sh, -c, 'sleep 3; touch /tmp/ready; exec sleep 1000000']
    healthcheck: {test: [CMD-SHELL, "test -f /tmp/ready"], interval: 500ms, timeout: 2s, retries: 20}
    stop_timeout: 0s
EOF
bs apply --parallel 1 --json "$XR"
read -r app_start _ _ <<<"$(state "$XP-app-1")"
read -r db_start _ _ <<<"$(state "$XP-db-1")"
nodes=$(docker inspect -f '{{index .Config.Labels "io.bootstrap.node"}}' "$XP-app-1" "$XP-db-1" 2>&1 | tr '\n' ' ')
counts_are 0 created=2 failed=0 && [ "$nodes" = "b a " ] && after "$app_start" "$db_start" 3000 &&
	ok "across nodes (--parallel 1): app on b started $(((app_start - db_start) / 1000000)) ms after db on a, once healthy" ||
	bad "across nodes" "rc=$rc nodes=$nodes app=$app_start db=$db_start $(tail -n 5 "$WORK/out")"
bs apply --parallel 1 --json "$XR"
check "... a re-run: nothing to do" counts_are 0 created=0 replaced=0 started=0 unchanged=2
bs destroy --json "$XR"
check "... destroy" counts_are 0 removed=2 failed=0

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
