#!/usr/bin/env bash
# tests/integration/ssh.sh - the SSH layer against a throwaway OpenSSH sshd
# on loopback (tests/lab/sshd.sh). Runs tests/integration/ssh.c in phases
# and changes the server between them: new host keys, a session killed
# mid-command, sshd down then up while we wait, sshd down for good.
#
#   SSH_TEST=build/integration/ssh bash tests/integration/ssh.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
SSH_TEST=${SSH_TEST:-build/integration/ssh}
read -r -a WRAP <<<"${BS_WRAP:-}"
. tests/lab/sshd.sh

pass=0 fail=0
ok() { pass=$((pass + 1)); printf 'ok   %s\n' "$1"; }
bad() { fail=$((fail + 1)); printf 'FAIL %s\n' "$1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/     /'; }
phase() { # NAME PHASE: run one phase, record its outcome
	if "${WRAP[@]}" "$SSH_TEST" "$2" >"$SSHD_DIR/phase.log" 2>&1; then
		ok "$1"
	else
		bad "$1" "$(tail -n 30 "$SSHD_DIR/phase.log")"
	fi
}
fingerprint() { ssh-keygen -lf "$SSHD_HOST_PUB_ED25519" | awk '{print $2}'; }

[ -x "$SSH_TEST" ] || { echo "build $SSH_TEST first (make integration)"; echo "0 passed, 1 failed"; exit 1; }
sshd_up || { echo "sshd failed to start"; echo "0 passed, 1 failed"; exit 1; }
export SSHD_FINGERPRINT
SSHD_FINGERPRINT=$(fingerprint)
mkdir -p "$SSHD_DIR/bootstrap"

phase "keys, passwords, pinning, exec, signals, 10 MB flood, timeouts, sudo, quoting" basic

old=$SSHD_FINGERPRINT
sshd_rekey
SSHD_FINGERPRINT=$(fingerprint)
[ "$old" != "$SSHD_FINGERPRINT" ] || bad "sshd_rekey changed the host key"
phase "a changed host key is a hard failure with the new fingerprint and the fix" rekeyed

# the known_hosts of the earlier phases pins the old key: start afresh
rm -f "$SSHD_DIR/bootstrap/known_hosts"
"${WRAP[@]}" "$SSH_TEST" killed >"$SSHD_DIR/killed.log" 2>&1 &
pid=$!
# mid-command: the session's "sleep 60" runs under our sshd
remote_sleep() {
	local p
	for p in $(sshd__tree "$SSHD_PID"); do
		[ "$(ps -o args= -p "$p" 2>/dev/null)" = "sleep 60" ] && return 0
	done
	return 1
}
end=$((SECONDS + 30))
until remote_sleep; do
	if ! kill -0 "$pid" 2>/dev/null || [ $SECONDS -ge $end ]; then
		bad "sshd killed mid-command: the command (sleep 60) runs under sshd within 30 s" "$(cat "$SSHD_DIR/killed.log")"
		break
	fi
	sleep 0.1
done
pkill -KILL -P "$SSHD_PID"   # the session's sshd processes, mid-command
if wait "$pid"; then ok "sshd killed mid-command: a clear error, no hang"; else bad "sshd killed mid-command" "$(cat "$SSHD_DIR/killed.log")"; fi

# sshd comes up only once the client was turned away: a listener on its
# port takes the first connection, resets it and goes (tests/lab/sshd.sh
# cannot say when a refused connection was tried; this can)
file_within() { # SECONDS FILE WHAT: FILE appears within SECONDS, else a failure naming WHAT
	local end=$((SECONDS + $1))
	until [ -e "$2" ]; do
		[ $SECONDS -ge $end ] && { bad "$3 within $1 s"; return 1; }
		sleep 0.1
	done
}
sshd_stop
python3 -c '
import socket, struct, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)
open(sys.argv[2] + ".listening", "w").close()
s.settimeout(60)
try:
    c, _ = s.accept()
except OSError:
    sys.exit("no connection to the listener on port %s within 60 s" % sys.argv[1])
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
s.close()
open(sys.argv[2], "w").close()
' "$SSHD_PORT" "$SSHD_DIR/turned-away" &
turner=$!
file_within 10 "$SSHD_DIR/turned-away.listening" "waiting for SSH: a listener on sshd's port"
"${WRAP[@]}" "$SSH_TEST" wait >"$SSHD_DIR/wait.log" 2>&1 &
pid=$!
file_within 60 "$SSHD_DIR/turned-away" "waiting for SSH: the client's first attempt, turned away,"
wait "$turner"
sshd_start
if wait "$pid"; then ok "waiting for SSH: retried until sshd came up"; else bad "waiting for SSH" "$(cat "$SSHD_DIR/wait.log")"; fi

sshd_stop
phase "waiting for SSH that never comes: bounded, says how long it tried" wait-down
sshd_start

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
