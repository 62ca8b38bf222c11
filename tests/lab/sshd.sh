# tests/lab/sshd.sh - a throwaway OpenSSH sshd on loopback for the SSH
# layer's tests: its own config, host keys, user keys and users, on a free
# port. Needs root (it adds two users), sshd, ssh-keygen, sudo, python3.
#
#   . tests/lab/sshd.sh; sshd_up; ...   (sshd_down runs on EXIT too)
#
# sshd_up      start it; exports the variables below
# sshd_stop    kill sshd and every session it started (the machine's sshd dies)
# sshd_start   start it again: same port, same keys
# sshd_rekey   new host keys, restarted on the same port; SSHD_KNOWN_HOSTS
#              keeps the old key, so a client that trusted it sees a change
# sshd_trust   rewrite SSHD_KNOWN_HOSTS with the current ed25519 host key
# sshd_down    kill it, remove its users, sudoers files and SSHD_DIR
#
# Server: SSHD_PORT (127.0.0.1 only), SSHD_DIR, SSHD_PID, SSHD_LOG,
#   SSHD_HOST_PUB_ED25519, SSHD_HOST_PUB_ECDSA (host public key files, both
#   offered), SSHD_KNOWN_HOSTS (OpenSSH format, the ed25519 host key for
#   [127.0.0.1]:PORT, as a client that already trusts the host has it).
# User keys, authorized for root and both users: SSHD_KEY_ED25519,
#   SSHD_KEY_ECDSA (256), SSHD_KEY_RSA (3072; refused to libssh2 1.10),
#   SSHD_KEY_PASS (ed25519, OpenSSH format, passphrase SSHD_KEY_PASS_PHRASE);
#   SSHD_KEY_UNKNOWN is authorized nowhere.
# Users (home under SSHD_DIR, /bin/sh, login password SSHD_USER_PASSWORD):
#   SSHD_USER_NOPW (sudo without a password), SSHD_USER_PW (sudo asks).
#
# Root logs in with keys only (PermitRootLogin prohibit-password); the users
# with keys or their password. UsePAM is off, so keyboard-interactive is
# offered but can never succeed (see SSHD_CONFIG_EXTRA below). The config
# never reads ~/.ssh: the machine's own keys and sshd are left alone. Sessions carry
# BOOTSTRAP_SSHD_RUN=<tag> in their environment (SetEnv), which lets
# sshd_down find commands that outlived a killed session.
#
# sshd_up chains sshd_down in front of any EXIT trap already set. A trap set
# afterwards replaces it (lab_up does `trap lab_down EXIT`): with both,
# call lab_up first, or call sshd_down yourself. sshd_down is idempotent.

SSHD_BIN=${SSHD_BIN:-/usr/sbin/sshd}
SSHD_WAIT=${SSHD_WAIT:-10}      # seconds sshd may take to answer
# Lines put at the top of sshd_config by sshd_up. For most keywords the
# first value wins, so these override the lab's settings, e.g.
# SSHD_CONFIG_EXTRA=$'UsePAM yes\nPasswordAuthentication no' for a server
# that takes passwords through keyboard-interactive only.
SSHD_CONFIG_EXTRA=${SSHD_CONFIG_EXTRA:-}
[ -n "${SSHD_USERS+x}" ] || SSHD_USERS=()

sshd_log() { printf 'sshd: %s\n' "$*" >&2; }

sshd__hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

sshd__free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# sshd__alive PID: running (a zombie does not count)
sshd__alive() {
	local state
	state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	case $state in Z*) return 1 ;; esac
}

# sshd__tree PID: PID and all its descendants, parents first
sshd__tree() {
	ps -e -o pid= -o ppid= | awk -v root="$1" '
		{ kids[$2] = kids[$2] " " $1 }
		END {
			q[1] = root; n = 1
			for (i = 1; i <= n; i++) {
				print q[i]
				m = split(kids[q[i]], c, " ")
				for (j = 1; j <= m; j++) q[++n] = c[j]
			}
		}'
}

# sshd__kill PID...: TERM, up to 3 s for them to go, then KILL
sshd__kill() {
	local p left end=$((SECONDS + 3))
	[ $# -gt 0 ] || return 0
	kill -TERM "$@" 2>/dev/null || true
	while :; do
		left=()
		for p in "$@"; do
			sshd__alive "$p" && left+=("$p")
		done
		[ ${#left[@]} -eq 0 ] && return 0
		[ $SECONDS -ge $end ] && break
		sleep 0.1
	done
	kill -KILL "${left[@]}" 2>/dev/null || true
}

# the processes of our sessions, wherever they were reparented
sshd__session_pids() {
	[ -n "${SSHD_RUN:-}" ] || return 0
	{ grep -lzxF "BOOTSTRAP_SSHD_RUN=$SSHD_RUN" /proc/[0-9]*/environ 2>/dev/null || true; } |
		sed -e 's,^/proc/,,' -e 's,/environ$,,'
}

# sshd answers with an SSH banner, and it is our process
sshd__answers() {
	sshd__alive "$SSHD_PID" || return 1
	(
		exec 3<>"/dev/tcp/127.0.0.1/$SSHD_PORT" || exit 1
		read -r -t 2 banner <&3 || exit 1
		case $banner in SSH-2.0-OpenSSH*) exit 0 ;; esac
		exit 1
	) 2>/dev/null
}

sshd__wait_up() {
	local end=$((SECONDS + SSHD_WAIT))
	until sshd__answers; do
		if ! sshd__alive "$SSHD_PID"; then
			wait "$SSHD_PID" 2>/dev/null
			tail -n 20 "$SSHD_LOG" >&2
			sshd_log "sshd exited at start (log: $SSHD_LOG)"
			return 1
		fi
		if [ $SECONDS -ge $end ]; then
			tail -n 20 "$SSHD_LOG" >&2
			sshd_log "sshd did not answer on 127.0.0.1:$SSHD_PORT within $SSHD_WAIT s"
			return 1
		fi
		sleep 0.1
	done
}

sshd__host_keys() {
	rm -f "$SSHD_DIR"/host_ed25519* "$SSHD_DIR"/host_ecdsa*
	ssh-keygen -q -t ed25519 -N '' -C sshd-lab-host -f "$SSHD_DIR/host_ed25519" || return 1
	ssh-keygen -q -t ecdsa -b 256 -N '' -C sshd-lab-host -f "$SSHD_DIR/host_ecdsa" || return 1
	SSHD_HOST_PUB_ED25519=$SSHD_DIR/host_ed25519.pub
	SSHD_HOST_PUB_ECDSA=$SSHD_DIR/host_ecdsa.pub
	export SSHD_HOST_PUB_ED25519 SSHD_HOST_PUB_ECDSA
}

sshd_trust() {
	local type key rest
	read -r type key rest <"$SSHD_HOST_PUB_ED25519" || return 1
	printf '[127.0.0.1]:%s %s %s\n' "$SSHD_PORT" "$type" "$key" >"$SSHD_DIR/known_hosts"
	SSHD_KNOWN_HOSTS=$SSHD_DIR/known_hosts
	export SSHD_KNOWN_HOSTS
}

sshd__user_keys() {
	local d=$SSHD_DIR/keys k
	mkdir -p "$d" "$SSHD_DIR/authorized_keys" || return 1
	ssh-keygen -q -t ed25519 -N '' -C sshd-lab-ed25519 -f "$d/ed25519" || return 1
	ssh-keygen -q -t ecdsa -b 256 -N '' -C sshd-lab-ecdsa -f "$d/ecdsa" || return 1
	ssh-keygen -q -t rsa -b 3072 -N '' -C sshd-lab-rsa -f "$d/rsa" || return 1
	SSHD_KEY_PASS_PHRASE="lab pass $(sshd__hex 6)"
	ssh-keygen -q -t ed25519 -N "$SSHD_KEY_PASS_PHRASE" -C sshd-lab-pass -f "$d/pass" || return 1
	ssh-keygen -q -t ed25519 -N '' -C sshd-lab-unknown -f "$d/unknown" || return 1
	SSHD_KEY_ED25519=$d/ed25519
	SSHD_KEY_ECDSA=$d/ecdsa
	SSHD_KEY_RSA=$d/rsa
	SSHD_KEY_PASS=$d/pass
	SSHD_KEY_UNKNOWN=$d/unknown
	export SSHD_KEY_ED25519 SSHD_KEY_ECDSA SSHD_KEY_RSA SSHD_KEY_PASS \
		SSHD_KEY_PASS_PHRASE SSHD_KEY_UNKNOWN
	for k in ed25519 ecdsa rsa pass; do
		cat "$d/$k.pub"
	done >"$SSHD_DIR/authorized" || return 1
	chmod 0644 "$SSHD_DIR/authorized"
	chmod 0755 "$SSHD_DIR/authorized_keys"
	install -m 0644 "$SSHD_DIR/authorized" "$SSHD_DIR/authorized_keys/root"
}

sshd__add_user() { # NAME nopw|pw
	local name=$1 sudo_rule
	if id "$name" >/dev/null 2>&1; then
		sshd_log "user $name exists already"
		return 1
	fi
	mkdir -p "$SSHD_DIR/home" || return 1
	useradd -m -d "$SSHD_DIR/home/$name" -s /bin/sh -c 'bootstrap sshd lab' "$name" || return 1
	SSHD_USERS+=("$name")
	printf '%s:%s\n' "$name" "$SSHD_USER_PASSWORD" | chpasswd || return 1
	if [ "$2" = nopw ]; then
		sudo_rule="$name ALL=(ALL:ALL) NOPASSWD: ALL"
	else
		sudo_rule="$name ALL=(ALL:ALL) ALL"
	fi
	mkdir -p /etc/sudoers.d
	printf '%s\n' "$sudo_rule" >"/etc/sudoers.d/$name" || return 1
	chmod 0440 "/etc/sudoers.d/$name"
	if command -v visudo >/dev/null 2>&1 && ! visudo -cqf "/etc/sudoers.d/$name"; then
		sshd_log "visudo rejects /etc/sudoers.d/$name"
		return 1
	fi
	install -m 0644 "$SSHD_DIR/authorized" "$SSHD_DIR/authorized_keys/$name"
}

sshd__config() {
	cat >"$SSHD_DIR/sshd_config" <<CFG
# bootstrap test lab: a throwaway sshd (tests/lab/sshd.sh)
${SSHD_CONFIG_EXTRA:-}
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
AllowTcpForwarding yes
LogLevel VERBOSE
MaxStartups 50
LoginGraceTime 20
PrintMotd no
PrintLastLog no
X11Forwarding no
Subsystem sftp internal-sftp
SetEnv BOOTSTRAP_SSHD_RUN=$SSHD_RUN
CFG
	mkdir -p /run/sshd   # privilege separation directory; sshd -t checks it
	"$SSHD_BIN" -t -f "$SSHD_DIR/sshd_config" || {
		sshd_log "sshd -t rejects $SSHD_DIR/sshd_config"
		return 1
	}
}

# put sshd_down in front of the EXIT trap, keeping what was there
sshd__trap() {
	local current
	current=$(trap -p EXIT)
	case $current in *sshd_down*) return 0 ;; esac
	# set +e: the shell is exiting anyway, and cleanup must not stop
	# half-way; the earlier trap still sees the exit status in $?
	if [ -z "$current" ]; then
		trap 'set +e; sshd_down' EXIT
		return 0
	fi
	local -a prev
	eval "prev=($current)"   # trap -- 'COMMAND' EXIT
	# shellcheck disable=SC2064,SC2154 # the earlier command expands now
	trap "sshd__status=\$?; set +e; sshd_down; sshd__return \$sshd__status; ${prev[2]}" EXIT
}
sshd__return() { return "$1"; }

sshd_start() {
	if [ -z "${SSHD_DIR:-}" ] || [ ! -f "$SSHD_DIR/sshd_config" ]; then
		sshd_log "sshd_start: no sshd set up (run sshd_up)"
		return 1
	fi
	if [ -n "${SSHD_PID:-}" ] && sshd__alive "$SSHD_PID"; then
		return 0
	fi
	mkdir -p /run/sshd   # privilege separation directory
	"$SSHD_BIN" -D -e -f "$SSHD_DIR/sshd_config" </dev/null >>"$SSHD_LOG" 2>&1 &
	SSHD_PID=$!
	export SSHD_PID
	sshd__wait_up
}

sshd_stop() {
	[ -n "${SSHD_PID:-}" ] || return 0
	# the listener, then sessions and their commands: as if the machine's
	# sshd died (sessions that lost their parent are found by sshd_down)
	local -a pids
	mapfile -t pids < <(sshd__tree "$SSHD_PID")
	sshd__kill "${pids[@]}"
	wait "$SSHD_PID" 2>/dev/null || true
	SSHD_PID=
}

sshd_rekey() {
	[ -n "${SSHD_DIR:-}" ] || { sshd_log "sshd_rekey: no sshd set up"; return 1; }
	sshd_stop
	sshd__host_keys || return 1
	sshd_start
}

sshd_up() {
	local suffix need
	[ "$(id -u)" -eq 0 ] || { sshd_log "sshd_up needs root (it adds users)"; return 1; }
	for need in "$SSHD_BIN" ssh-keygen useradd userdel chpasswd sudo python3; do
		command -v "$need" >/dev/null 2>&1 || {
			sshd_log "missing $need: run scripts/deps.sh"
			return 1
		}
	done
	[ -z "${SSHD_DIR:-}" ] || sshd_down   # one lab sshd per shell
	sshd__trap
	SSHD_DIR=$(mktemp -d "${TMPDIR:-/tmp}/bootstrap-sshd.XXXXXX") || return 1
	chmod 0755 "$SSHD_DIR"   # the users reach their homes and keys through it
	SSHD_LOG=$SSHD_DIR/sshd.log
	SSHD_RUN=$(basename "$SSHD_DIR")-$(sshd__hex 4)
	SSHD_PID=
	SSHD_USERS=()
	export SSHD_DIR SSHD_LOG SSHD_PID
	: >"$SSHD_LOG"
	sshd__host_keys || return 1
	sshd__user_keys || return 1
	SSHD_USER_PASSWORD=$(sshd__hex 12)
	suffix=$(sshd__hex 3)
	SSHD_USER_NOPW=bsnopw$suffix
	SSHD_USER_PW=bspw$suffix
	export SSHD_USER_PASSWORD SSHD_USER_NOPW SSHD_USER_PW
	sshd__add_user "$SSHD_USER_NOPW" nopw || return 1
	sshd__add_user "$SSHD_USER_PW" pw || return 1
	# a free port can be taken between the probe and sshd's bind: try again
	for _ in 1 2 3; do
		SSHD_PORT=$(sshd__free_port) || return 1
		export SSHD_PORT
		sshd__config || return 1
		sshd_trust || return 1
		sshd_start && return 0
		grep -q 'Address already in use' "$SSHD_LOG" || return 1
		sshd_log "port $SSHD_PORT was taken, trying another"
		: >"$SSHD_LOG"
	done
	return 1
}

sshd_down() {
	local u
	local -a pids
	sshd_stop
	mapfile -t pids < <(sshd__session_pids)
	sshd__kill ${pids[@]+"${pids[@]}"}
	for u in ${SSHD_USERS[@]+"${SSHD_USERS[@]}"}; do
		# the user's leftover processes (uid of a user this run created)
		pkill -KILL -u "$u" 2>/dev/null || true
		rm -f "/etc/sudoers.d/$u"
		userdel -r "$u" >/dev/null 2>&1 || userdel -f "$u" >/dev/null 2>&1 || true
		if id "$u" >/dev/null 2>&1; then
			sshd_log "could not remove user $u"
		fi
	done
	SSHD_USERS=()
	if [ -n "${SSHD_DIR:-}" ]; then
		rm -rf "$SSHD_DIR"
	fi
	SSHD_DIR=
	SSHD_RUN=
	return 0
}
