#!/usr/bin/env bash
# tests/integration/local.sh - provider: local end to end: node containers
# created through the container driver, found again by label (never
# twice), made Docker hosts over SSH, counted up, adopted after a killed
# run, a foreign container never touched; the key a node was created with
# recorded and named when another is offered; a node stopped by hand
# planned, started and converged; local files mounted by containers copied
# to the nodes (a file, a directory, a compose secret), a re-run copying
# nothing, an edit replacing exactly the containers that mount it and its
# old copy removed, destroy removing the copies; destroy leaving nothing, a
# stopped node and pinned host keys included.
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
bash scripts/demo-image.sh 2>/dev/null || give_up "no local/busybox:1 (scripts/demo-image.sh)"
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

# ---- local files: copied to the nodes that run the containers mounting them ----
F="$WORK/files"
mkdir -p "$F/conf" "$F/site/sub"
printf 'app v1\n' >"$F/conf/app.conf"
printf 'index\n' >"$F/site/index.html"
printf 'deep\n' >"$F/site/sub/x.txt"
chmod 0750 "$F/site/sub"
head -c 300000 /dev/urandom >"$F/site/big.bin" # an upload would show in the bytes sent
ln -s index.html "$F/site/link.html"
SECRET="s3cret-$PROJECT-$RANDOM$RANDOM"
printf '%s\n' "$SECRET" >"$F/token.txt"
chmod 0644 "$F/token.txt"
cat >"$F/compose.yaml" <<EOF
services:
  app:
    image: local/busybox:1
    command: ["sleep", "86400"]
    deploy: {replicas: 2}
    volumes:
      - ./conf/app.conf:/etc/app/app.conf:ro
      - ./site:/srv/site:ro
    secrets: [token]
  plain:
    image: local/busybox:1
    command: ["sleep", "86400"]
    volumes: ["./site:/srv/site:ro"]
  other:
    image: local/busybox:1
    command: ["sleep", "86400"]
secrets:
  token: {file: ./token.txt}
EOF
files_recipe() { # LINES...: the provider and the nodes
	cat >"$F/r.yaml" <<EOF
version: 1
project: $PROJECT
ssh: {key: $WORK/key, wait_timeout: 60s}
images:
  - {name: "local/busybox:1", pull: never}
compose: compose.yaml
EOF
	printf '%s\n' "$@" >>"$F/r.yaml"
}
files_recipe "provider: {type: local, image: bootstrap/node:bookworm}" "nodes:" "  - {name: node, count: 2}"
FD=/var/lib/bootstrap/files/$PROJECT
on() { docker exec "$PROJECT-$1" sh -c "$2" 2>&1; }                  # NODE SCRIPT
in_c() { on "$1" "docker exec $2 busybox sh -c '$3'"; }               # NODE CONTAINER SCRIPT
cid() { on "$1" "docker inspect -f '{{.Id}}' $2"; }                    # NODE CONTAINER
copies() { grep -c '"action_done".*"action":"copy"' <<<"$out"; }
bs --json "$F/r.yaml"
# node-1 runs app-1, plain-1 and other-1, node-2 app-2: three copies each
[ "$rc" -eq 0 ] && [ "$(copies)" = 6 ] &&
	[ "$(grep -c '"action_done".*"action":"copy","object":"'"$F"'/site"' <<<"$out")" = 2 ] &&
	ok "local files: apply copies the file, the directory and the secret to the nodes that mount them (6 copies)" ||
	bad "local files: apply copies them" "exit $rc: $out
$errout"
[ "$(in_c node-1 "$PROJECT-app-1" 'cat /etc/app/app.conf')" = "app v1" ] &&
	[ "$(in_c node-2 "$PROJECT-app-2" 'cat /etc/app/app.conf')" = "app v1" ] &&
	[ "$(on node-1 "cat $FD/*/app.conf")" = "app v1" ] &&
	ok "... the file's content in the containers and on the node" ||
	bad "... the file's content" "$(in_c node-1 "$PROJECT-app-1" 'cat /etc/app/app.conf'; on node-1 "ls -lR $FD")"
[ "$(in_c node-1 "$PROJECT-app-1" 'cat /srv/site/sub/x.txt; readlink /srv/site/link.html; stat -c %a /srv/site/sub')" = "deep
index.html
750" ] && [ "$(in_c node-1 "$PROJECT-plain-1" 'cat /srv/site/index.html')" = index ] &&
	on node-1 "cat $FD/*/site/big.bin" | cmp -s - "$F/site/big.bin" &&
	ok "... the directory: files, modes and a symbolic link (kept a link)" ||
	bad "... the directory" "$(on node-1 "ls -lR $FD")"
[ "$(on node-1 "stat -c %a $FD/*/token.txt")" = 600 ] &&
	[ "$(in_c node-1 "$PROJECT-app-1" 'stat -c %a /run/secrets/token; cat /run/secrets/token')" = "600
$SECRET" ] && ok "... the secret: mode 0600 on the node and in the container" ||
	bad "... the secret 0600" "$(on node-1 "ls -lR $FD"; in_c node-1 "$PROJECT-app-1" 'ls -l /run/secrets')"
[ "$(on node-1 "stat -c %a $FD; stat -c %a $FD/*/ | sort -u")" = "700
700" ] && ok "... the project's folder and the hash folders are 0700" ||
	bad "... folders 0700" "$(on node-1 "ls -la $FD")"
! grep -qF "$SECRET" "$WORK/out" "$WORK/err" && ! on node-1 'cat /var/lib/bootstrap/audit.log' | grep -qF "$SECRET" &&
	ok "... the secret's value in no output and no audit line" || bad "... the secret's value is shown"
ids_before="$(cid node-1 "$PROJECT-app-1") $(cid node-1 "$PROJECT-plain-1") $(cid node-2 "$PROJECT-app-2") $(cid node-1 "$PROJECT-other-1")"
inodes() { on "$1" "ls -i $FD/*/app.conf $FD/*/token.txt $FD/*/site/big.bin"; }
inodes_before=$(inodes node-1)
bs -v "$F/r.yaml"
sent=$(sed -n 's/.*node-1: SSH: .* \([0-9]*\) bytes sent.*/\1/p' <<<"$errout")
[ "$rc" -eq 0 ] && ! grep -q copy <<<"$out" && [ -n "$sent" ] && [ "$sent" -lt 100000 ] &&
	[ "$(inodes node-1)" = "$inodes_before" ] &&
	ok "... a re-run copies and uploads nothing ($sent bytes sent to node-1; the directory holds 300 kB)" ||
	bad "... a re-run copies nothing" "exit $rc, sent '$sent': $out
$errout"
printf 'app v2\n' >"$F/conf/app.conf"
bs plan --json "$F/r.yaml"
[ "$rc" -eq 0 ] && [ "$(grep -c '"action_planned".*"action":"copy","object":"'"$F"'/conf/app.conf"' <<<"$out")" = 2 ] &&
	! grep -q '"action":"copy","object":"'"$F"'/site"' <<<"$out" &&
	[ "$(on node-1 "cat $FD/*/app.conf")" = "app v1" ] &&
	ok "app.conf edited: plan shows its copy to both nodes, and copies nothing" ||
	bad "app.conf edited: plan shows its copy" "exit $rc: $out
$errout"
old_hash=$(on node-1 "dirname $FD/*/app.conf")
bs --json "$F/r.yaml"
ids_after="$(cid node-1 "$PROJECT-app-1") $(cid node-1 "$PROJECT-plain-1") $(cid node-2 "$PROJECT-app-2") $(cid node-1 "$PROJECT-other-1")"
read -r a1 p1 a2 o1 <<<"$ids_before"
read -r A1 P1 A2 O1 <<<"$ids_after"
[ "$rc" -eq 0 ] && [ "$(copies)" = 2 ] && [ "$a1" != "$A1" ] && [ "$a2" != "$A2" ] && [ "$p1" = "$P1" ] &&
	[ "$o1" = "$O1" ] && [ "$(grep -c '"action_done".*"action":"replace"' <<<"$out")" = 2 ] &&
	ok "... apply copies it and replaces exactly the app replicas (plain and other unchanged)" ||
	bad "... apply replaces exactly the app replicas" "exit $rc: before $ids_before
after $ids_after
$out
$errout"
[ "$(in_c node-2 "$PROJECT-app-2" 'cat /etc/app/app.conf')" = "app v2" ] &&
	[ "$(on node-1 "ls -d $old_hash 2>/dev/null; ls $FD | wc -l")" = 3 ] &&
	ok "... the new content in the container, the old copy's folder gone (3 folders left)" ||
	bad "... the old copy's folder gone" "$(on node-1 "ls -la $FD")"
# destroy on a node bootstrap did not make: its containers and the project's files go
files_recipe "provider: {type: static}" "nodes:" \
	"  - {name: node-1, address: 127.0.0.1, port: $(docker port "$PROJECT-node-1" 22/tcp | head -n 1 | cut -d: -f2)}"
bs destroy "$F/r.yaml"
[ "$rc" -eq 0 ] && [ "$(on node-1 "test -e $FD; echo \$?; docker ps -aq --filter label=io.bootstrap.project=$PROJECT | wc -l")" = "1
0" ] && ok "destroy removes the project's files from the node (static provider: the node stays)" ||
	bad "destroy removes the project's files" "exit $rc: $out
$errout
$(on node-1 "ls -la $FD")"

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
