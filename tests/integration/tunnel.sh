#!/usr/bin/env bash
# tests/integration/tunnel.sh - the container commands over SSH
# (-H ssh://USER@HOST:PORT): a throwaway OpenSSH sshd on 127.0.0.1
# (tests/lab/sshd.sh) in front of this machine's real dockerd.
#
# First the whole container suite through the tunnel, then what is
# particular to SSH: trust on first use and pinned keys, one channel for
# many requests, the dial-stdio fallback, refusals with their fixes, and a
# dead sshd in the middle of a stream.
#
#   BOOTSTRAP=./bootstrap bash tests/integration/tunnel.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
BOOTSTRAP=${BOOTSTRAP:-./bootstrap}
read -r -a WRAP <<<"${BS_WRAP:-}"

pass=0 fail=0
ok() { pass=$((pass + 1)); printf 'ok   %s\n' "$1"; }
bad() { fail=$((fail + 1)); printf 'FAIL %s\n' "$1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/     /'; }

# ---- the container suite, through the tunnel -----------------------------
# (not again under valgrind: ASan covers that path, and valgrind runs the
# tunnel's own checks below; TUNNEL_SKIP_SUITE=1 skips it by hand)
if [ -z "${TUNNEL_SKIP_SUITE:-}" ] && [ -z "${BS_WRAP:-}" ]; then
	# (its lines go to our stdout as they come; not through /dev/stderr,
	# which, opened again, truncates a log file that stderr points to)
	suite_log=$(mktemp "${TMPDIR:-/tmp}/bootstrap-tunnel-suite.XXXXXX")
	CONTAINER_TRANSPORT=ssh bash tests/integration/container.sh 2>&1 | tee "$suite_log"
	summary=$(tail -n 1 "$suite_log")
	rm -f "$suite_log"
	if [[ $summary =~ ^([0-9]+)\ passed,\ 0\ failed$ ]] && [ "${BASH_REMATCH[1]}" -gt 0 ]; then
		ok "every container command through -H ssh:// (${BASH_REMATCH[1]} checks)"
	else
		bad "every container command through -H ssh://" "$summary"
	fi
fi

. tests/lab/lab.sh
. tests/lab/sshd.sh
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bootstrap-tunnel-test.XXXXXX")
cleanup() {
	[ -n "${LOGS_PID:-}" ] && kill "$LOGS_PID" 2>/dev/null
	[ -n "${CNAME:-}" ] && docker rm -f "$CNAME" >/dev/null 2>&1
	lab_down # the dockerd, if this run started it
	rm -rf "$WORK"
}
trap cleanup EXIT
LAB="$WORK/lab"
mkdir -p "$LAB"
lab_dockerd && lab_web_image || { echo "no engine"; echo "$pass passed, $((fail + 1)) failed"; exit 1; }
sshd_up || { echo "sshd failed to start"; echo "$pass passed, $((fail + 1)) failed"; exit 1; }
export BOOTSTRAP_DIR="$WORK/state"
URL="ssh://root@127.0.0.1:$SSHD_PORT"
# no agent, no ~/.ssh keys: only what a test names
export HOME="$WORK/home"
mkdir -p "$HOME"
unset SSH_AUTH_SOCK

bs() {
	"${WRAP[@]}" "$BOOTSTRAP" "$@" >"$WORK/out" 2>"$WORK/err"
	rc=$?
	out=$(cat "$WORK/out")
	errout=$(cat "$WORK/err")
}
expect_err() { # NAME WANT_RC PATTERN
	if [ "$rc" -eq "$2" ] && grep -qE -- "$3" <<<"$errout"; then
		ok "$1"
	else
		bad "$1 (exit $rc, wanted $2 and /$3/)" "$out
$errout"
	fi
}

# ---- trust on first use, then pinned ----------------------------------
bs -v -H "$URL" -i "$SSHD_KEY_ED25519" list
if [ "$rc" -eq 0 ] && grep -q "^\[127.0.0.1\]:$SSHD_PORT ssh-ed25519 " "$BOOTSTRAP_DIR/known_hosts" 2>/dev/null; then
	ok "first connection pins the host key in \$BOOTSTRAP_DIR/known_hosts"
else
	bad "first connection pins the host key" "$errout"
fi
grep -q "1 SSH channel(s) over direct-streamlocal" <<<"$errout" &&
	ok "the engine is reached over a direct-streamlocal channel" ||
	bad "the engine is reached over a direct-streamlocal channel" "$errout"

# many requests, one session, one channel: create does several
CNAME=bs-tunnel-$$
bs -v -H "$URL" -i "$SSHD_KEY_ED25519" create "$LAB_WEB_IMAGE" "$CNAME" -e "GREETING=hello"
requests=$(sed -n 's/.*debug: \([0-9]*\) API requests.*/\1/p' <<<"$errout")
if [ "$rc" -eq 0 ] && [ "${requests:-0}" -ge 3 ] && grep -q " 1 SSH channel(s)" <<<"$errout"; then
	ok "create: $requests API requests over one channel of one session"
else
	bad "create: many requests over one channel" "$out
$errout"
fi
[ "$(docker inspect -f '{{.State.Running}}' "$CNAME" 2>/dev/null)" = true ] &&
	ok "the container created through the tunnel runs" ||
	bad "the container created through the tunnel runs"

bs -H "$URL" -i "$SSHD_KEY_ED25519" --strict-host-keys list
[ "$rc" -eq 0 ] && ok "--strict-host-keys accepts the pinned host" ||
	bad "--strict-host-keys accepts the pinned host" "$errout"

mv "$BOOTSTRAP_DIR/known_hosts" "$WORK/kh.saved"
bs -H "$URL" -i "$SSHD_KEY_ED25519" --strict-host-keys list
expect_err "--strict-host-keys refuses an unknown host, with its fingerprint" 1 "unknown host \(key SHA256:"
[ ! -s "$BOOTSTRAP_DIR/known_hosts" ] && ok "... and records nothing" || bad "... and records nothing"
mv "$WORK/kh.saved" "$BOOTSTRAP_DIR/known_hosts"

sshd_rekey
bs -H "$URL" -i "$SSHD_KEY_ED25519" list
expect_err "a changed host key is a hard failure naming the new fingerprint" 1 "SHA256:"
grep -qE "known_hosts" <<<"$errout" && ok "... and the file to fix" || bad "... and the file to fix" "$errout"
sshd_trust
cp "$SSHD_KNOWN_HOSTS" "$BOOTSTRAP_DIR/known_hosts"
bs -H "$URL" -i "$SSHD_KEY_ED25519" list
[ "$rc" -eq 0 ] && ok "once the new key is pinned, it connects" || bad "once the new key is pinned, it connects" "$errout"

# ---- refusals ----------------------------------------------------------
bs -H "$URL" list
expect_err "no key, no agent, no password: a usage error naming the ways" 64 "-i FILE"
bs -H "ssh://root@127.0.0.1:99999" -i "$SSHD_KEY_ED25519" list
expect_err "a bad port in the URL" 64 "port must be a number"
bs -H "ssh://root:hunter2@127.0.0.1:$SSHD_PORT" -i "$SSHD_KEY_ED25519" list
expect_err "a password in the URL is refused, and not repeated" 64 "BOOTSTRAP_SSH_PASSWORD"
grep -q hunter2 <<<"$errout" && bad "... the password does not appear" "$errout" || ok "... the password does not appear"
bs -H "ssh://root@127.0.0.1:$SSHD_PORT/var/run/docker.sock" -i "$SSHD_KEY_ED25519" list
expect_err "a path in the URL" 64 "nothing after the host"
bs -H "$URL" -i "$SSHD_KEY_UNKNOWN" list
# the two refusals told apart by their reason: the key (authentication,
# after a TCP connection) and the TCP connection itself
expect_err "a key the node does not accept: the login refused, the key named" 1 \
	"root was refused \(offered .*$SSHD_KEY_UNKNOWN.*authorized_keys"
grep -q "Connection refused" <<<"$errout" && bad "... not a TCP refusal" "$errout" || ok "... not a TCP refusal"
closed=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start=$SECONDS
bs -H "ssh://root@127.0.0.1:$closed" -i "$SSHD_KEY_ED25519" list
expect_err "nothing listening: the TCP connection refused at once, the port named" 1 \
	"Connection refused \(is sshd running on port $closed\?\)"
grep -q "was refused" <<<"$errout" && bad "... not a login refusal" "$errout" || ok "... not a login refusal"
[ $((SECONDS - start)) -le 5 ] && ok "... within 5 s" || bad "... within 5 s ($((SECONDS - start)) s)"
bs -H "ssh://$SSHD_USER_PW@127.0.0.1:$SSHD_PORT" -i "$SSHD_KEY_ED25519" list
expect_err "a user outside the docker group whose sudo wants a password: the fixes are named" 1 "NOPASSWD.*docker group"
bs -v -H "ssh://$SSHD_USER_NOPW@127.0.0.1:$SSHD_PORT" -i "$SSHD_KEY_ED25519" list
if [ "$rc" -eq 0 ] && grep -q "over dial-stdio" <<<"$errout"; then
	ok "a user with passwordless sudo: docker system dial-stdio through sudo -n"
else
	bad "a user with passwordless sudo: dial-stdio through sudo -n" "$errout"
fi

# ---- a dead sshd in the middle of a stream -----------------------------
"${WRAP[@]}" "$BOOTSTRAP" -H "$URL" -i "$SSHD_KEY_ED25519" "$CNAME/logs" --follow \
	>"$WORK/follow.out" 2>"$WORK/follow.err" &
LOGS_PID=$!
# the stream is up once the container's first lines came through it
end=$((SECONDS + 30))
until grep -q "out-2" "$WORK/follow.out" 2>/dev/null; do
	if ! kill -0 "$LOGS_PID" 2>/dev/null || [ $SECONDS -ge $end ]; then
		bad "logs --follow through the tunnel: out-2 came through the stream within 30 s" "$(cat "$WORK/follow.out" "$WORK/follow.err")"
		break
	fi
	sleep 0.2
done
sshd_stop
start=$SECONDS
while kill -0 "$LOGS_PID" 2>/dev/null && [ $((SECONDS - start)) -lt 30 ]; do sleep 0.2; done
if kill -0 "$LOGS_PID" 2>/dev/null; then
	bad "sshd killed during logs --follow: bootstrap ends (still running after 30 s)"
	kill "$LOGS_PID"
else
	wait "$LOGS_PID"
	frc=$?
	if [ "$frc" -ne 0 ] && grep -qE "SSH connection to the node was lost" "$WORK/follow.err"; then
		ok "sshd killed during logs --follow: exit $frc in $((SECONDS - start)) s, says why"
	else
		bad "sshd killed during logs --follow: a clear failure" "exit $frc: $(cat "$WORK/follow.err")"
	fi
fi
LOGS_PID=
sshd_down

# ---- no unix-socket forwarding: docker system dial-stdio ---------------
SSHD_CONFIG_EXTRA='AllowStreamLocalForwarding no' sshd_up ||
	{ echo "sshd failed to start"; echo "$pass passed, $((fail + 1)) failed"; exit 1; }
URL="ssh://root@127.0.0.1:$SSHD_PORT"
bs -v -H "$URL" -i "$SSHD_KEY_ED25519" "$CNAME/inspect"
if [ "$rc" -eq 0 ] && grep -q "GREETING=hello" <<<"$out" && grep -q "over dial-stdio" <<<"$errout"; then
	ok "forwarding refused by sshd: falls back to docker system dial-stdio"
else
	bad "forwarding refused by sshd: falls back to docker system dial-stdio" "$out
$errout"
fi
bs -H "ssh://$SSHD_USER_PW@127.0.0.1:$SSHD_PORT" -i "$SSHD_KEY_ED25519" list
expect_err "... and without access to the socket, both failures are explained" 1 "dial-stdio.*docker group"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
