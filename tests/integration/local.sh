#!/usr/bin/env bash
# tests/integration/local.sh - provider: local end to end: node containers
# created through the container driver, found again by label (never
# twice), made Docker hosts over SSH, counted up, adopted after a killed
# run, a foreign container never touched; the key a node was created with
# recorded and named when another is offered; a node stopped by hand
# planned, started and converged; destroy leaving nothing, a stopped node
# and pinned host keys included.
#
#   BOOTSTRAP=./bootstrap bash tests/integration/local.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
BOOTSTRAP=${BOOTSTRAP:-./bootstrap}
read -r -a WRAP <<<"${BS_WRAP:-}"
. tests/lab/lab.sh

pass=0 fail=0
ok() { pass=$((pass + 1)); printf 'ok   %s\n' "$1"; }
bad() { fail=$((fail + 1)); printf 'FAIL %s\n' "$1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/     /'; }
give_up() { echo "$1"; echo "$pass passed, $((fail + 1)) failed"; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bootstrap-local-test.XXXXXX")
PROJECT=lt$$
LAB="$WORK/lab"
mkdir -p "$LAB"
cleanup() {
	local ids
	[ -n "${BG:-}" ] && kill -9 "$BG" 2>/dev/null
	ids=$(docker ps -aq --filter "label=io.bootstrap.project=$PROJECT" 2>/dev/null)
	[ -n "$ids" ] && docker rm -f -v $ids >/dev/null 2>&1
	ids=$(docker ps -aq --filter "label=io.bootstrap.project=$PROJECT-other" 2>/dev/null)
	[ -n "$ids" ] && docker rm -f -v $ids >/dev/null 2>&1
	docker rm -f "$PROJECT-intruder" >/dev/null 2>&1
	ids=$(docker volume ls -q --filter "label=io.bootstrap.project=$PROJECT" 2>/dev/null)
	[ -n "$ids" ] && docker volume rm -f $ids >/dev/null 2>&1
	lab_down
	rm -rf "$WORK"
}
trap cleanup EXIT
lab_dockerd || give_up "no Docker engine"
bash scripts/node-image.sh >/dev/null || give_up "no node image (make node-image)"
export BOOTSTRAP_DIR="$WORK/state" HOME="$WORK/home"
mkdir -p "$HOME"
unset SSH_AUTH_SOCK
ssh-keygen -q -t ed25519 -N '' -f "$WORK/key" || give_up "ssh-keygen"

recipe() { # COUNT
	cat >"$WORK/r.yaml" <<EOF
version: 1
project: $PROJECT
provider: {type: local, image: bootstrap/node:bookworm}
ssh: {key: $WORK/key, wait_timeout: 60s}
nodes:
  - {name: node, count: $1}
EOF
}
bs() {
	timeout 900 "${WRAP[@]}" "$BOOTSTRAP" "$@" >"$WORK/out" 2>"$WORK/err"
	rc=$?
	out=$(cat "$WORK/out")
	errout=$(cat "$WORK/err")
}
nodes() { docker ps -a --filter "label=io.bootstrap.project=$PROJECT" --format '{{.Names}}' | sort | tr '\n' ' '; }
volumes() { docker volume ls -q --filter "label=io.bootstrap.project=$PROJECT" | sort | tr '\n' ' '; }
expect_out() { # NAME PATTERN
	if [ "$rc" -eq 0 ] && grep -qE -- "$2" <<<"$out"; then ok "$1"; else bad "$1 (exit $rc, wanted /$2/)" "$out
$errout"; fi
}

# ---- from nothing ------------------------------------------------------
recipe 2
start=$SECONDS
bs prepare "$WORK/r.yaml"
expect_out "prepare: 2 node containers created and made Docker hosts" \
	"local: 0 machine\(s\) found, 2 created"
echo "     $((SECONDS - start)) s"
[ "$(nodes)" = "$PROJECT-node-1 $PROJECT-node-2 " ] && ok "... named PROJECT-node-N" || bad "... named PROJECT-node-N" "$(nodes)"
[ "$(volumes)" = "$PROJECT-node-1-docker $PROJECT-node-2-docker " ] &&
	ok "... each with its own /var/lib/docker volume" || bad "... own volumes" "$(volumes)"
pub=$(docker port "$PROJECT-node-1" 22/tcp 2>/dev/null)
[[ $pub == 127.0.0.1:* ]] && ! grep -qv '^127.0.0.1:' <<<"$pub" && ok "... sshd published on loopback only ($pub)" ||
	bad "... sshd on loopback only" "$pub"
k1=$(docker exec "$PROJECT-node-1" cat /etc/ssh/ssh_host_ed25519_key.pub 2>/dev/null | cut -d' ' -f2)
k2=$(docker exec "$PROJECT-node-2" cat /etc/ssh/ssh_host_ed25519_key.pub 2>/dev/null | cut -d' ' -f2)
[ -n "$k1" ] && [ "$k1" != "$k2" ] && ok "... each with its own host keys" || bad "... own host keys"

bs prepare --json "$WORK/r.yaml"
if [ "$rc" -eq 0 ] && [ "$(grep -c '"daemon":"none"' <<<"$out")" = 2 ] &&
	[ "$(grep -c '"commands":1,' <<<"$out")" = 2 ] && [ "$(nodes)" = "$PROJECT-node-1 $PROJECT-node-2 " ]; then
	ok "second run: nothing created, one command per node"
else
	bad "second run: nothing created, one command per node" "$out
$errout"
fi

# ---- count up; a run killed right after it created a node ---------------
recipe 3
"${WRAP[@]}" "$BOOTSTRAP" prepare "$WORK/r.yaml" >"$WORK/bg.out" 2>&1 &
BG=$!
for _ in $(seq 1 300); do
	docker inspect "$PROJECT-node-3" >/dev/null 2>&1 && break
	sleep 0.1
done
kill -9 "$BG" 2>/dev/null
wait "$BG" 2>/dev/null
BG=
docker inspect "$PROJECT-node-3" >/dev/null 2>&1 && ok "count 3: node-3 created, then the run was killed (SIGKILL)" ||
	bad "count 3: node-3 created before the kill"
bs prepare "$WORK/r.yaml"
expect_out "the next run adopts node-3 (3 found, 0 created) and finishes it" \
	"local: 3 machine\(s\) found, 0 created"
[ "$(nodes)" = "$PROJECT-node-1 $PROJECT-node-2 $PROJECT-node-3 " ] && ok "... no duplicate" || bad "... no duplicate" "$(nodes)"
grep -q "^node-3: ready" <<<"$out" && ok "... node-3 is ready" || bad "... node-3 is ready" "$out"

# ---- what is not ours ----------------------------------------------------
# touched: a container's identity and every trace of a start, stop or change
touched() { docker inspect -f '{{.Id}} {{.Created}} {{.State.Status}} {{.State.StartedAt}} {{.State.FinishedAt}} {{.RestartCount}} {{json .Config.Labels}}' "$1" 2>&1; }
docker run -d --name "$PROJECT-other-node" --label "io.bootstrap.project=$PROJECT-other" \
	--label io.bootstrap.kind=node --label io.bootstrap.node=node-1 local/busybox:1 sleep 86400 >/dev/null 2>&1 ||
	docker create --name "$PROJECT-other-node" --label "io.bootstrap.project=$PROJECT-other" \
		--label io.bootstrap.kind=node --label io.bootstrap.node=node-1 bootstrap/node:bookworm >/dev/null
other_before=$(touched "$PROJECT-other-node")
recipe 4
docker create --name "$PROJECT-node-4" bootstrap/node:bookworm true >/dev/null
foreign_before=$(touched "$PROJECT-node-4")
bs prepare "$WORK/r.yaml"
foreign_after=$(touched "$PROJECT-node-4")
if [ "$rc" -ne 0 ] && grep -q "$PROJECT-node-4 exists and is not this project's node" <<<"$errout"; then
	ok "a foreign container with a node's name: refused, named"
else
	bad "a foreign container with a node's name: refused" "$out
$errout"
fi
[ "$foreign_after" = "$foreign_before" ] && ok "... untouched (same ID, created time, state, start and labels)" ||
	bad "... untouched" "before: $foreign_before
after:  $foreign_after"
docker rm -f "$PROJECT-node-4" >/dev/null

# ---- count down: apply destroys the machines the recipe no longer names ----
recipe 2
bs plan --detailed-exitcode --json "$WORK/r.yaml"
[ "$rc" -eq 2 ] && grep -q '"action_planned".*"action":"destroy-machine","object":"node-3"' <<<"$out" &&
	[ "$(nodes)" = "$PROJECT-node-1 $PROJECT-node-2 $PROJECT-node-3 " ] &&
	ok "count 2: plan shows node-3 to destroy (exit 2), and destroys nothing" ||
	bad "count 2: plan shows node-3 to destroy" "exit $rc: $out
$errout"
bs --json "$WORK/r.yaml"
[ "$rc" -eq 0 ] && grep -q '"action_done".*"action":"destroy-machine","object":"node-3"' <<<"$out" &&
	[ "$(nodes)" = "$PROJECT-node-1 $PROJECT-node-2 " ] &&
	[ "$(volumes)" = "$PROJECT-node-1-docker $PROJECT-node-2-docker " ] &&
	ok "count 2: apply destroys node-3 and its volume, nothing else" ||
	bad "count 2: apply destroys node-3" "exit $rc: $(nodes) / $(volumes)
$out
$errout"
bs plan --detailed-exitcode "$WORK/r.yaml"
[ "$rc" -eq 0 ] && ok "... then plan: no change (exit 0)" || bad "... then plan: no change" "exit $rc: $out
$errout"

# ---- the key is part of the machine's identity --------------------------
fp() { ssh-keygen -lf "$1" | awk '{print $2}'; }
key_fp=$(fp "$WORK/key.pub")
[ "$(docker inspect -f '{{index .Config.Labels "io.bootstrap.ssh-key"}}' "$PROJECT-node-1")" = "$key_fp" ] &&
	ok "the node records the key it was created with ($key_fp)" ||
	bad "the node records its key" "$(docker inspect -f '{{json .Config.Labels}}' "$PROJECT-node-1")"
# another directory: no known_hosts, no state; the recipe and its key only
BOOTSTRAP_DIR="$WORK/state2" bs plan --detailed-exitcode "$WORK/r.yaml"
[ "$rc" -eq 0 ] && ok "from another directory with the same key: plan finds no change (exit 0)" ||
	bad "from another directory: plan exit 0" "exit $rc: $out
$errout"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/other" || give_up "ssh-keygen"
other_fp=$(fp "$WORK/other.pub")
t0=$(date +%s%N)
BOOTSTRAP_DIR="$WORK/state3" bs plan -i "$WORK/other" "$WORK/r.yaml"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$rc" -eq 1 ] && [[ $out == *"created with the key $key_fp"* ]] && [[ $out == *"$other_fp ($WORK/other)"* ]] &&
	[ "$ms" -lt 10000 ] &&
	ok "another key: fails at once naming both fingerprints and the fix ($ms ms)" ||
	bad "another key: fails at once naming both fingerprints" "exit $rc, $ms ms: $out $errout"

# ---- a machine stopped by hand -------------------------------------------
docker stop "$PROJECT-node-1" >/dev/null
bs status --json "$WORK/r.yaml"
grep -q '"node":"node-1".*the machine is off' <<<"$out$errout" && ok "status: node-1 is off" ||
	bad "status: node-1 is off" "exit $rc: $out
$errout"
bs plan --detailed-exitcode --json "$WORK/r.yaml"
[ "$rc" -eq 2 ] && grep -q '"action_planned".*"action":"start-machine","object":"node-1"' <<<"$out" &&
	[ "$(docker inspect -f '{{.State.Running}}' "$PROJECT-node-1")" = false ] &&
	ok "plan: start-machine node-1 (exit 2), and starts nothing" ||
	bad "plan: start-machine node-1" "exit $rc: $out
$errout"
t0=$SECONDS
bs --json "$WORK/r.yaml"
[ "$rc" -eq 0 ] && [ "$(docker inspect -f '{{.State.Running}}' "$PROJECT-node-1")" = true ] &&
	grep -q '1 powered on' <<<"$out$errout" &&
	ok "apply powers node-1 on and converges ($((SECONDS - t0)) s)" ||
	bad "apply powers node-1 on" "exit $rc: $out
$errout"
bs plan --detailed-exitcode "$WORK/r.yaml"
[ "$rc" -eq 0 ] && ok "... then plan: no change (exit 0)" || bad "... then plan: no change" "exit $rc: $out
$errout"

# ---- destroy -------------------------------------------------------------
grep -q ' bootstrap:local:' "$BOOTSTRAP_DIR/known_hosts" && ok "pins carry their machine (bootstrap:local:ID)" ||
	bad "pins carry their machine" "$(cat "$BOOTSTRAP_DIR/known_hosts")"
# pins that are not this project's machines' must stay
foreign1="[198.51.100.7]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFWw5Rs6nOCTt7tMWQZ+eCFUQvlL94zeso3x9zpTtwF4 bootstrap"
foreign2="[127.0.0.1]:1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFWw5Rs6nOCTt7tMWQZ+eCFUQvlL94zeso3x9zpTtwF4 bootstrap:local:0123456789ab"
printf '%s\n%s\n' "$foreign1" "$foreign2" >>"$BOOTSTRAP_DIR/known_hosts"
docker stop "$PROJECT-node-1" >/dev/null
recipe 1
bs --json destroy "$WORK/r.yaml"
[ "$rc" -eq 0 ] && [ "$(grep -c '"action_done".*"action":"destroy-machine"' <<<"$out")" = 2 ] &&
	ok "destroy: the project's nodes, node-2 too (no longer in the recipe)" ||
	bad "destroy: the project's nodes" "exit $rc: $out
$errout"
[ -z "$(nodes)" ] && [ -z "$(volumes)" ] && ok "... no container, no volume left (node-1 was stopped)" ||
	bad "... nothing left" "$(nodes) / $(volumes)"
[ "$(grep -c 'bootstrap:local:' "$BOOTSTRAP_DIR/known_hosts")" = 1 ] &&
	grep -qxF "$foreign1" "$BOOTSTRAP_DIR/known_hosts" && grep -qxF "$foreign2" "$BOOTSTRAP_DIR/known_hosts" &&
	ok "... and their pinned host keys are forgotten, no other pin" ||
	bad "... pinned host keys forgotten" "$(cat "$BOOTSTRAP_DIR/known_hosts")"
other_after=$(touched "$PROJECT-other-node")
[ "$other_after" = "$other_before" ] && ok "... another project's node untouched (same ID, created time, state, start and labels)" ||
	bad "... another project's node untouched" "before: $other_before
after:  $other_after"
docker rm -f "$PROJECT-other-node" >/dev/null 2>&1

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
