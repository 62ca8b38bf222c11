#!/usr/bin/env bash
# tests/integration/jump.sh - nodes behind a jump host (ssh.jump,
# provision/jump.c). Node b1's sshd listens on 127.0.0.1 inside the
# bastion's network namespace only (tests/lab/node.sh NODE_NETNS), so
# nothing on this machine reaches it; node b2 is on a network the test
# creates, which the bastion joins. bootstrap goes through the bastion's
# direct-tcpip channels with its own libssh2 sessions (no ssh binary, no
# agent forwarding). Checked: Docker installed and containers deployed
# behind it, every hop's host key pinned and enforced, one bastion
# connection for both nodes (b2's sshd sees the bastion's address), a
# no-op re-run, a node's own jump: [] that reaches nothing, a bad jump
# entry refused at validate, destroy.
#
#   BOOTSTRAP=./bootstrap bash tests/integration/jump.sh
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
check() { # NAME CMD...
	local name=$1
	shift
	if "$@"; then ok "$name"; else bad "$name (exit $rc)" "$(cat "$NODE_DIR/out" "$NODE_DIR/err" | grep -v 'SSH: [0-9]* round trips' | tail -n 15)"; fi
}

if ! lab_ping >/dev/null 2>&1; then
	LAB=$(mktemp -d "${TMPDIR:-/tmp}/bootstrap-lab.XXXXXX")
	trap lab_down EXIT
	lab_dockerd || give_up "no Docker engine for the nodes"
fi
# the test's network goes after the nodes (node_lab_up puts node_down in
# front of this trap) and before the lab's engine
NET=bsjump-$$
prev_trap=$(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT$/\1/")
trap "docker network rm $NET >/dev/null 2>&1; ${prev_trap:-:}" EXIT
node_lab_up || give_up "node lab failed to start"
LAB=${LAB:-$NODE_DIR/lab}
mkdir -p "$LAB"
lab_busybox_image || give_up "no $LAB_IMAGE image"
NODE_INIT=none node_up bastion || give_up "the bastion failed to start"
BPORT=$(node_port bastion)
# b1's sshd port: free here, so that a connection to it from this machine
# could only fail
P1=$(lab_free_port)
NODE_NETNS=bastion NODE_NETNS_PORT=$P1 node_up behind || give_up "the node behind the bastion failed to start"
node_up far || give_up "the second node failed to start"
docker network create --label io.bootstrap.test=node --label "io.bootstrap.test.run=$NODE_RUN" "$NET" >/dev/null ||
	give_up "cannot create the network $NET"
for n in bastion far; do
	docker network connect "$NET" "$(node__ctr "$n")" || give_up "cannot connect $n to $NET"
done
ip_on() { docker inspect -f "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" "$(node__ctr "$1")"; }
FAR=$(ip_on far) BASTION_IP=$(ip_on bastion)
[ -n "$FAR" ] && [ -n "$BASTION_IP" ] || give_up "no addresses on $NET"
export BOOTSTRAP_DIR="$NODE_DIR/state"
export HOME="$NODE_DIR/home"
mkdir -p "$HOME"
unset SSH_AUTH_SOCK
PROJECT=bsjump$$
R=$NODE_DIR/recipe.yaml

bs() {
	timeout 900 "${WRAP[@]}" "$BOOTSTRAP" "$@" >"$NODE_DIR/out" 2>"$NODE_DIR/err"
	rc=$?
	if grep -qE '^==[0-9]+==|runtime error:' "$NODE_DIR/err"; then
		bad "a sanitizer or valgrind report" "$(grep -E -A 12 '^==[0-9]+==|runtime error:' "$NODE_DIR/err" | head -n 40)"
	fi
}
recipe() { # [NODE-1 EXTRA]
	cat >"$R" <<EOF
version: 1
project: $PROJECT
provider: {type: static}
ssh: {key: $NODE_KEY, jump: "root@127.0.0.1:$BPORT", wait_timeout: 20s}
nodes:
  - {name: b1, address: 127.0.0.1, port: $P1${1:+, $1}}
  - {name: b2, address: $FAR}
images:
  - {name: "local/busybox:1", pull: never}
containers:
  - {name: app, image: "local/busybox:1", command: [sleep, "1000000"], stop_timeout: 0s, replicas: 2}
EOF
}
# containers of the project on a node's engine
on_node() { node_exec "$1" docker ps -q --filter "label=io.bootstrap.project=$PROJECT" </dev/null 2>/dev/null | wc -l; }
said() { cat "$NODE_DIR/out" "$NODE_DIR/err" | grep -qF "$1"; }
logins() { docker logs "$(node__ctr bastion)" 2>&1 | grep -c 'Accepted publickey'; }

# ---- the node is out of this machine's reach ---------------------------------
if (exec 3<>"/dev/tcp/127.0.0.1/$P1") 2>/dev/null; then
	bad "127.0.0.1:$P1 answers on this machine: the node is not behind the bastion"
else
	ok "the node's sshd (127.0.0.1:$P1 in the bastion's network) is out of this machine's reach"
fi

# ---- validate: a bad jump entry ----------------------------------------------
recipe 'jump: "root@bad host"'
bs validate "$R"
check "a bad jump host: FILE:LINE:COL and the form to write" \
	grep -qE "recipe.yaml:[0-9]+:[0-9]+: nodes\[0\]\.jump: .*USER@HOST\[:PORT\]" "$NODE_DIR/err"
[ "$rc" = 65 ] && ok "... exit 65, the recipe is invalid" || bad "... exit 65 (got $rc)"

# ---- apply through the bastion -----------------------------------------------
recipe
before=$(logins)
bs apply -v "$R"
check "apply through the jump host: exit 0 (Docker installed on the node, the app deployed)" test "$rc" = 0
check "... the project's containers run on both nodes" eval '[ "$(on_node behind)" -ge 1 ] && [ "$(on_node far)" -ge 1 ]'
after=$(logins)
check "... both nodes went through one connection to the bastion ($((after - before)) login)" \
	test $((after - before)) = 1
check "... b2's sshd was reached from the bastion ($BASTION_IP)" \
	eval "node_exec far journalctl -u ssh --no-pager </dev/null 2>/dev/null | grep -q 'Accepted publickey for root from $BASTION_IP'"
KH=$BOOTSTRAP_DIR/known_hosts
check "... every hop's host key is pinned: the bastion and the node" \
	eval "grep -q '^\[127.0.0.1\]:$BPORT ' '$KH' && grep -q '^\[127.0.0.1\]:$P1 ' '$KH'"

# ---- again: nothing to do ----------------------------------------------------
ids=$(node_exec far docker ps -q --filter "label=io.bootstrap.project=$PROJECT" </dev/null | sort)
bs apply --json "$R"
check "second run through the jump host: exit 0, nothing changed" \
	eval "[ \"\$rc\" = 0 ] && grep -q '\"event\":\"summary\"' '$NODE_DIR/out' && ! grep -qE '\"(created|replaced|updated|removed)\":[1-9]' '$NODE_DIR/out'"
check "... the same containers" test "$(node_exec far docker ps -q --filter "label=io.bootstrap.project=$PROJECT" </dev/null | sort)" = "$ids"

# ---- the bastion's pin is enforced -------------------------------------------
cp "$KH" "$KH.good"
ssh-keygen -q -t ed25519 -N '' -f "$NODE_DIR/otherkey" >/dev/null </dev/null
grep -v "^\[127.0.0.1\]:$BPORT " "$KH.good" >"$KH"
printf '[127.0.0.1]:%s %s\n' "$BPORT" "$(cut -d' ' -f1,2 "$NODE_DIR/otherkey.pub")" >>"$KH"
bs plan "$R"
check "a bastion whose host key differs from its pin: refused, the bastion named" \
	eval "[ \"\$rc\" != 0 ] && said '127.0.0.1:$BPORT' && said 'HOST KEY CHANGED'"
cp "$KH.good" "$KH"

# ---- a node's own jump: [] goes direct, and reaches nothing ------------------
recipe 'jump: []'
sed -i 's/wait_timeout: 20s/wait_timeout: 2s/' "$R"
bs plan "$R"
check "a node with jump: [] is connected directly: refused here, its address named" \
	eval "[ \"\$rc\" != 0 ] && said 'ssh root@127.0.0.1:$P1: Connection refused'"

# ---- destroy -----------------------------------------------------------------
recipe
bs destroy "$R"
check "destroy through the jump host: exit 0" test "$rc" = 0
check "... nothing of the project left on either node" eval '[ "$(on_node behind)" = 0 ] && [ "$(on_node far)" = 0 ]'

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
