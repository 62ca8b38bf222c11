#!/usr/bin/env bash
# tests/integration/nodelock.sh - the node lock and audit log
# (provision/nodelock.c) against a throwaway OpenSSH sshd on loopback
# (tests/lab/sshd.sh). That sshd runs on this machine, so "the node" is
# this machine: its lock directory is a local temp dir (NODELOCK_DIR, with
# a space and a quote in its name), checked directly. Runs
# tests/integration/nodelock.c in phases:
#
#   basic       two sessions: refusal naming the holder, waiting, audit
#               lines in order, hostile text, sudo, cancel, a lost lock
#   hold        takes the lock and says "held"; this script SIGKILLs it
#   after-kill  the lock is free again within a few seconds
#
#   INTEG_BIN=build/integration bash tests/integration/nodelock.sh
#
# BS_WRAP (valgrind ...) wraps the test program.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
INTEG_BIN=${INTEG_BIN:-build/integration}
BIN=$INTEG_BIN/nodelock
read -r -a WRAP <<<"${BS_WRAP:-}"
. tests/lab/sshd.sh

pass=0 fail=0
ok() { pass=$((pass + 1)); printf 'ok   %s\n' "$1"; }
bad() { fail=$((fail + 1)); printf 'FAIL %s\n' "$1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/     /'; }
give_up() { echo "$1"; echo "$pass passed, $((fail + 1)) failed"; exit 1; }
phase() { # NAME PHASE: run one phase, record its outcome
	if timeout 300 "${WRAP[@]}" "$BIN" "$2" >"$SSHD_DIR/phase.log" 2>&1; then
		ok "$1"
	else
		bad "$1" "$(tail -n 30 "$SSHD_DIR/phase.log")"
	fi
}
# locked_here: the lock file is flocked by someone, seen from this machine
locked_here() { ! flock -n "$NODELOCK_DIR/lock" true; }

[ -x "$BIN" ] || give_up "build $BIN first (make integration)"
command -v flock >/dev/null 2>&1 || give_up "flock(1) is missing (util-linux)"
sshd_up || give_up "sshd failed to start"
export NODELOCK_DIR="$SSHD_DIR/node lock 'dir'"

phase "two sessions, waiting, audit lines, hostile text, sudo, cancel, a lost lock" basic

# a holder killed by SIGKILL: its connection drops, sshd ends the session,
# the node side's cat reads EOF and the lock goes with it
"${WRAP[@]}" "$BIN" hold >"$SSHD_DIR/hold.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
	grep -q '^held' "$SSHD_DIR/hold.log" && break
	sshd__alive "$pid" || break
	sleep 0.1
done
if grep -q '^held' "$SSHD_DIR/hold.log"; then
	if locked_here; then ok "the node lock is a real flock on the node"; else bad "the node lock is not held on the node"; fi
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	phase "a holder killed by SIGKILL: the lock is free again within seconds" after-kill
	grep -h '^after-kill' "$SSHD_DIR/phase.log" | sed 's/^/     /'
	if grep -q 'by root: holding until killed$' "$NODELOCK_DIR/audit.log"; then
		ok "the killed holder's audit line is on the node"
	else
		bad "the killed holder's audit line is missing" "$(cat "$NODELOCK_DIR/audit.log")"
	fi
else
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	bad "hold: the lock was not taken" "$(tail -n 30 "$SSHD_DIR/hold.log")"
fi
if locked_here; then bad "the lock is still held at the end"; else ok "nothing holds the lock at the end"; fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
