# tests/lab/sshd.sh - a throwaway OpenSSH sshd on loopback for the SSH
# layer's tests: its own config, host keys and users, on a free port.
#
#   . tests/lab/sshd.sh; sshd_up; ...   (sshd_down runs on EXIT)
#
# Exports SSHD_PORT, SSHD_DIR, SSHD_PID, SSHD_LOG, SSHD_HOST_PUB_ED25519,
# SSHD_HOST_PUB_ECDSA, SSHD_KNOWN_HOSTS (the ed25519 host key, as an
# OpenSSH client that already trusts the host has it), user keys
# SSHD_KEY_ED25519, SSHD_KEY_ECDSA, SSHD_KEY_RSA, SSHD_KEY_PASS (+
# SSHD_KEY_PASS_PHRASE), SSHD_KEY_UNKNOWN (not authorized), and two users
# with SSHD_USER_PASSWORD: SSHD_USER_NOPW (passwordless sudo) and
# SSHD_USER_PW (sudo wants a password).

sshd_log() { printf 'sshd: %s\n' "$*" >&2; }

sshd_wait_port() {
	local end=$((SECONDS + 10))
	until kill -0 "$SSHD_PID" 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$SSHD_PORT") 2>/dev/null; do
		[ $SECONDS -ge $end ] && { tail -n 20 "$SSHD_LOG" >&2; return 1; }
		sleep 0.1
	done
}

sshd_host_keys() {
	rm -f "$SSHD_DIR"/host_*
	ssh-keygen -q -t ed25519 -N '' -C host -f "$SSHD_DIR/host_ed25519" || return 1
	ssh-keygen -q -t ecdsa -b 256 -N '' -C host -f "$SSHD_DIR/host_ecdsa" || return 1
	SSHD_HOST_PUB_ED25519=$SSHD_DIR/host_ed25519.pub
	SSHD_HOST_PUB_ECDSA=$SSHD_DIR/host_ecdsa.pub
	printf '[127.0.0.1]:%s %s\n' "$SSHD_PORT" "$(cut -d' ' -f1,2 "$SSHD_HOST_PUB_ED25519")" >"$SSHD_DIR/known_hosts"
	SSHD_KNOWN_HOSTS=$SSHD_DIR/known_hosts
	export SSHD_HOST_PUB_ED25519 SSHD_HOST_PUB_ECDSA SSHD_KNOWN_HOSTS
}

sshd_start() {
	/usr/sbin/sshd -D -e -f "$SSHD_DIR/sshd_config" >>"$SSHD_LOG" 2>&1 &
	SSHD_PID=$!
	export SSHD_PID
	sshd_wait_port
}

sshd_stop() {
	[ -n "${SSHD_PID:-}" ] || return 0
	kill "$SSHD_PID" 2>/dev/null
	wait "$SSHD_PID" 2>/dev/null
	SSHD_PID=
}

sshd_rekey() {
	sshd_stop
	sshd_host_keys || return 1
	sshd_start
}

sshd_add_user() { # NAME SUDO(nopw|pw)
	local name=$1
	useradd -M -d "$SSHD_DIR/home-$name" -s /bin/sh "$name" || return 1
	mkdir -p "$SSHD_DIR/home-$name"
	chown "$name" "$SSHD_DIR/home-$name"
	printf '%s:%s\n' "$name" "$SSHD_USER_PASSWORD" | chpasswd || return 1
	if [ "$2" = nopw ]; then
		printf '%s ALL=(ALL) NOPASSWD: ALL\n' "$name" >"/etc/sudoers.d/$name"
	else
		printf '%s ALL=(ALL) ALL\n' "$name" >"/etc/sudoers.d/$name"
	fi
	chmod 0440 "/etc/sudoers.d/$name"
	cp "$SSHD_DIR/authorized" "$SSHD_DIR/authorized_keys/$name"
	SSHD_USERS+=("$name")
}

sshd_up() {
	local k suffix
	SSHD_DIR=$(mktemp -d "${TMPDIR:-/tmp}/bootstrap-sshd.XXXXXX") || return 1
	chmod 0755 "$SSHD_DIR"
	SSHD_LOG=$SSHD_DIR/sshd.log
	SSHD_USERS=()
	SSHD_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	export SSHD_DIR SSHD_LOG SSHD_PORT
	trap 'sshd_down; '"$(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT$/\\1/")" EXIT
	mkdir -p /run/sshd "$SSHD_DIR/keys" "$SSHD_DIR/authorized_keys"
	sshd_host_keys || return 1
	ssh-keygen -q -t ed25519 -N '' -f "$SSHD_DIR/keys/ed25519" || return 1
	ssh-keygen -q -t ecdsa -b 256 -N '' -f "$SSHD_DIR/keys/ecdsa" || return 1
	ssh-keygen -q -t rsa -b 3072 -N '' -f "$SSHD_DIR/keys/rsa" || return 1
	SSHD_KEY_PASS_PHRASE="pass $(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	ssh-keygen -q -t ed25519 -N "$SSHD_KEY_PASS_PHRASE" -f "$SSHD_DIR/keys/pass" || return 1
	ssh-keygen -q -t ed25519 -N '' -f "$SSHD_DIR/keys/unknown" || return 1
	SSHD_KEY_ED25519=$SSHD_DIR/keys/ed25519
	SSHD_KEY_ECDSA=$SSHD_DIR/keys/ecdsa
	SSHD_KEY_RSA=$SSHD_DIR/keys/rsa
	SSHD_KEY_PASS=$SSHD_DIR/keys/pass
	SSHD_KEY_UNKNOWN=$SSHD_DIR/keys/unknown
	export SSHD_KEY_ED25519 SSHD_KEY_ECDSA SSHD_KEY_RSA SSHD_KEY_PASS SSHD_KEY_PASS_PHRASE SSHD_KEY_UNKNOWN
	for k in ed25519 ecdsa rsa pass; do cat "$SSHD_DIR/keys/$k.pub"; done >"$SSHD_DIR/authorized"
	cp "$SSHD_DIR/authorized" "$SSHD_DIR/authorized_keys/root"
	chmod -R a+rX "$SSHD_DIR/authorized_keys" "$SSHD_DIR/authorized"
	SSHD_USER_PASSWORD=$(head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n')
	suffix=$(head -c 3 /dev/urandom | od -An -tx1 | tr -d ' \n')
	SSHD_USER_NOPW=bsnopw$suffix
	SSHD_USER_PW=bspw$suffix
	export SSHD_USER_PASSWORD SSHD_USER_NOPW SSHD_USER_PW
	sshd_add_user "$SSHD_USER_NOPW" nopw || return 1
	sshd_add_user "$SSHD_USER_PW" pw || return 1
	cat >"$SSHD_DIR/sshd_config" <<CFG
ListenAddress 127.0.0.1
Port $SSHD_PORT
HostKey $SSHD_DIR/host_ed25519
HostKey $SSHD_DIR/host_ecdsa
PidFile $SSHD_DIR/sshd.pid
AuthorizedKeysFile $SSHD_DIR/authorized_keys/%u
PermitRootLogin prohibit-password
PasswordAuthentication yes
KbdInteractiveAuthentication yes
UsePAM no
StrictModes no
AllowStreamLocalForwarding yes
LogLevel VERBOSE
MaxStartups 50
LoginGraceTime 20
PrintMotd no
CFG
	sshd_start || { sshd_log "sshd did not start"; return 1; }
}

sshd_down() {
	local u
	sshd_stop
	for u in "${SSHD_USERS[@]}"; do
		pkill -KILL -u "$u" 2>/dev/null
		userdel "$u" 2>/dev/null
		rm -f "/etc/sudoers.d/$u"
	done
	SSHD_USERS=()
	[ -n "${SSHD_DIR:-}" ] && rm -rf "$SSHD_DIR"
	SSHD_DIR=
}
