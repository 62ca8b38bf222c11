#!/usr/bin/env bash
# tests/integration/hostkeys.sh - host key checks of the real binary
# against a throwaway OpenSSH sshd (tests/lab/sshd.sh), with a real HOME
# whose .ssh/known_hosts is written case by case (security issue 17).
#
# The user trusted the host's key REAL ($WORK/real, pinned in
# ~/.ssh/known_hosts); the sshd presents another key (its own host key,
# the impostor). Whatever else the file holds, the switch must be refused
# (exit 1) naming the file and line of the pin, and the impostor's key must
# not be pinned in $BOOTSTRAP_DIR/known_hosts:
#   control     the pin alone
#   bad line    "somehost ssh-ed25519 AAAA" before the pin
#   long line   a valid 5 KB line of 300 aliases before the pin
#   revoked     the impostor's key marked @revoked for [127.0.0.1]:PORT
#   bare host   "127.0.0.1 <impostor>" (port 22 only) beside the pin for
#               [127.0.0.1]:PORT
# then: a hashed pin, @cert-authority, a pinned key type the host does not
# offer, the genuine key pinned after junk
# (connects, pins nothing), a bare pin alone (port 22 only: the host is
# new on PORT) with accept-new and with --strict-host-keys.
# Security review of the reader (each failed before its fix):
#   other types  the host pinned only with ssh-dss or
#                sk-ssh-ed25519@openssh.com keys: changed, not new
#   NUL          the pin followed by a NUL byte (OpenSSH stops the line
#                there and keeps the pin): changed, not new
#   bad pin      an unparseable line naming the host: refused, not new
#   no newline   a first-use pin appended to a pins file whose last line
#                has no newline: that line and the new pin both kept
#   side by side runs against a new host at once: one pin, not one each
#
#   BOOTSTRAP=./bootstrap bash tests/integration/hostkeys.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BOOTSTRAP=${BOOTSTRAP:-./bootstrap}
read -r -a WRAP <<<"${BS_WRAP:-}"

pass=0 fail=0
ok() { pass=$((pass + 1)); printf 'ok   %s\n' "$1"; }
bad() { fail=$((fail + 1)); printf 'FAIL %s\n' "$1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/     /'; }

. tests/lab/sshd.sh
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bootstrap-hostkeys.XXXXXX")
trap 'rm -rf "$WORK"' EXIT   # sshd_up puts sshd_down in front of it
sshd_up || { echo "sshd failed to start"; echo "0 passed, 1 failed"; exit 1; }
export HOME="$WORK/home" BOOTSTRAP_DIR="$WORK/state"
unset SSH_AUTH_SOCK
mkdir -p "$HOME/.ssh"
KH="$HOME/.ssh/known_hosts"
PINS="$BOOTSTRAP_DIR/known_hosts"
NAME="[127.0.0.1]:$SSHD_PORT"
URL="ssh://root@127.0.0.1:$SSHD_PORT"

ssh-keygen -q -t ed25519 -N '' -C real -f "$WORK/real" || exit 1
ssh-keygen -q -t ed25519 -N '' -C ca -f "$WORK/ca" || exit 1
REAL=$(cut -d' ' -f1,2 "$WORK/real.pub")
IMPOSTOR=$(cut -d' ' -f1,2 "$SSHD_HOST_PUB_ED25519")
IMPOSTOR_B64=$(cut -d' ' -f2 "$SSHD_HOST_PUB_ED25519")
IMPOSTOR_ECDSA_B64=$(cut -d' ' -f2 "$SSHD_HOST_PUB_ECDSA")

# bs [ARGS...]: the binary on the lab sshd, bounded; rc, errout
bs() {
	timeout 60 "${WRAP[@]}" "$BOOTSTRAP" -H "$URL" -i "$SSHD_KEY_ED25519" "$@" list \
		>"$WORK/out" 2>"$WORK/err"
	rc=$?
	errout=$(cat "$WORK/err")
}

# fresh state, ~/.ssh/known_hosts from stdin
known_hosts() {
	rm -rf "$BOOTSTRAP_DIR"
	cat >"$KH"
}

impostor_pinned() {
	grep -qF -e "$IMPOSTOR_B64" -e "$IMPOSTOR_ECDSA_B64" "$PINS" 2>/dev/null
}

# refused NAME LINE PATTERN: exit 1, the message names ~/.ssh/known_hosts:LINE
# and matches PATTERN, and nothing of the impostor was pinned
refused() {
	local name=$1 line=$2 pattern=$3
	bs
	if [ "$rc" -eq 1 ] && grep -qF -- "$KH:$line" <<<"$errout" &&
		grep -qE -- "$pattern" <<<"$errout" && ! impostor_pinned; then
		ok "$name: refused, naming $KH:$line"
	else
		local pinned=no
		impostor_pinned && pinned=yes
		bad "$name: wanted exit 1, /$pattern/ and $KH:$line, nothing pinned (exit $rc, impostor pinned: $pinned)" "$errout"
	fi
}

# ---- the confirmed cases of issue 17, and the control -------------------
known_hosts <<EOF
$NAME $REAL
EOF
refused "control: the pin alone" 1 "HOST KEY CHANGED"

known_hosts <<EOF
somehost ssh-ed25519 AAAA
$NAME $REAL
EOF
refused "a line that cannot be parsed before the pin" 2 "HOST KEY CHANGED"
grep -qF "$KH:1: not a known_hosts line" <<<"$errout" &&
	ok "... the bad line is a warning naming file and line" ||
	bad "... the bad line is a warning naming file and line" "$errout"

{
	for i in $(seq 1 300); do printf 'alias-%03d.example.com,' "$i"; done
	printf 'last.example.com %s\n' "$(cut -d' ' -f1,2 "$WORK/ca.pub")"
	printf '%s %s\n' "$NAME" "$REAL"
} | known_hosts
[ "$(head -n 1 "$KH" | wc -c)" -gt 5000 ] || bad "the long line is over 5000 bytes"
found=$(ssh-keygen -F alias-150.example.com -f "$KH" 2>&1)
grep -q "found: line 1" <<<"$found" &&
	ok "ssh-keygen -F reads the long line" || bad "ssh-keygen -F reads the long line" "$found"
refused "a valid 5 KB line of 300 aliases before the pin" 2 "HOST KEY CHANGED"

known_hosts <<EOF
@revoked $NAME $IMPOSTOR
EOF
refused "@revoked: the revoked key" 1 "revoked"

known_hosts <<EOF
127.0.0.1 $IMPOSTOR
$NAME $REAL
EOF
refused "a bare-host pin (port 22) beside the pin for the port" 2 "HOST KEY CHANGED"

# ---- more of the format --------------------------------------------------
printf '%s %s\n' "$NAME" "$REAL" >"$WORK/hashed"
ssh-keygen -q -H -f "$WORK/hashed" >/dev/null 2>&1
grep -q '^|1|' "$WORK/hashed" || bad "ssh-keygen -H hashed the name"
known_hosts <"$WORK/hashed"
refused "a hashed pin (ssh-keygen -H)" 1 "HOST KEY CHANGED"

known_hosts <<EOF
@cert-authority [127.0.0.1]:* $(cut -d' ' -f1,2 "$WORK/ca.pub")
EOF
refused "@cert-authority for the host: refused, certificates are not verified" 1 \
	"does not verify host certificates.*$BOOTSTRAP_DIR/known_hosts"

ssh-keygen -q -t ecdsa -b 384 -N '' -C p384 -f "$WORK/p384" || exit 1
known_hosts <<EOF
$NAME $(cut -d' ' -f1,2 "$WORK/p384.pub")
EOF
refused "a pin of a key type the host does not offer (no downgrade to another type)" 1 \
	"none of the host key types pinned for it, ecdsa-sha2-nistp384"

known_hosts <<EOF
somehost ssh-ed25519 AAAA
@bogus $NAME $REAL
$NAME $IMPOSTOR
EOF
bs
if [ "$rc" -eq 0 ] && ! impostor_pinned; then
	ok "the host's key pinned after bad lines: connects, pins nothing more"
else
	bad "the host's key pinned after bad lines: connects" "exit $rc: $errout"
fi

known_hosts <<EOF
127.0.0.1 $REAL
EOF
bs --strict-host-keys
if [ "$rc" -eq 1 ] && grep -q "unknown host" <<<"$errout"; then
	ok "a bare pin is for port 22: on port $SSHD_PORT the host is unknown (--strict-host-keys refuses)"
else
	bad "a bare pin is for port 22: unknown on port $SSHD_PORT, strict refuses" "exit $rc: $errout"
fi
bs
if [ "$rc" -eq 0 ] && grep -qF "$NAME ssh-ed25519 $IMPOSTOR_B64" "$PINS"; then
	ok "... and accept-new trusts it on first use, pinned as $NAME"
else
	bad "... accept-new trusts it on first use" "exit $rc: $errout"
fi

# ---- security review of the reader -------------------------------------
# blobs of types bootstrap does not handle: an SSH string naming the type,
# then 4 bytes (the reader checks the type inside the blob, as OpenSSH)
blob() {
	{
		printf '\0\0\0'
		printf "\\$(printf %03o "${#1}")"
		printf '%s\0\0\0\4abcd' "$1"
	} | base64 -w0
}
DSS="ssh-dss $(blob ssh-dss)"
SK="sk-ssh-ed25519@openssh.com $(blob sk-ssh-ed25519@openssh.com)"

known_hosts <<EOF
$NAME $DSS
EOF
refused "a host pinned only with an ssh-dss key: changed, not new" 1 \
	"HOST KEY CHANGED.*pinned it with a ssh-dss key, which bootstrap cannot use"

known_hosts <<EOF
# the host's sk key
$NAME $SK
EOF
refused "a host pinned only with an sk-ssh-ed25519@openssh.com key: changed, not new" 2 \
	"HOST KEY CHANGED.*sk-ssh-ed25519@openssh.com key"

printf '%s %s\0 junk\n' "$NAME" "$REAL" | known_hosts
refused "the pin with a NUL byte after it (OpenSSH ends the line there)" 1 "HOST KEY CHANGED"

known_hosts <<EOF
$NAME ssh-ed25519 AAAA
EOF
refused "an unparseable line naming the host: not trusted on first use" 1 \
	"cannot parse the line that pins this host: fix it"

: | known_hosts
mkdir -p "$BOOTSTRAP_DIR"
printf 'other.example.com %s' "$REAL" >"$PINS"
bs
if [ "$rc" -eq 0 ] && grep -qxF "other.example.com $REAL" "$PINS" &&
	grep -qxF "$NAME ssh-ed25519 $IMPOSTOR_B64 bootstrap" "$PINS"; then
	bs
	if [ "$rc" -eq 0 ] && [ "$(grep -c . "$PINS")" -eq 2 ]; then
		ok "a pin appended to a file without a final newline: both lines kept"
	else
		bad "a pin appended to a file without a final newline: the second run matches" \
			"exit $rc: $errout"$'\n'"$(cat "$PINS")"
	fi
else
	bad "a pin appended to a file without a final newline: both lines kept" \
		"exit $rc: $errout"$'\n'"$(cat "$PINS" 2>/dev/null)"
fi

: | known_hosts
for i in 1 2 3 4 5 6; do
	timeout 60 "${WRAP[@]}" "$BOOTSTRAP" -H "$URL" -i "$SSHD_KEY_ED25519" list \
		>"$WORK/out.$i" 2>"$WORK/err.$i" &
done
side_rc=0
for i in 1 2 3 4 5 6; do wait -n || side_rc=$?; done
lines=$(grep -c . "$PINS" 2>/dev/null)
if [ "$side_rc" -eq 0 ] && [ "$lines" = 1 ]; then
	ok "six runs side by side against a new host: one pin"
else
	bad "six runs side by side against a new host: one pin (exit $side_rc, $lines lines)" \
		"$(cat "$WORK"/err.* "$PINS" 2>/dev/null)"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
