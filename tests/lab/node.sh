# tests/lab/node.sh - "nodes" for integration tests: Debian containers that
# boot systemd (or run sshd alone) and can run their own Docker engine
# (docker-in-docker, as kind does), reached over SSH on loopback like a
# fresh cloud host. Needs root, a running dockerd (lab_up starts one),
# debootstrap (for the image), ssh, ssh-keygen, python3.
#
#   . tests/lab/node.sh
#   node_lab_up                      # key, known_hosts, image; node_down on EXIT
#   node_up n1                       # sshd on 127.0.0.1:$NODE_PORT
#   node_up n2 127.0.0.2             # sshd on 127.0.0.2:22
#   node_ssh n1 'apt-get update'     # as root, with NODE_KEY
#   node_down                        # also on EXIT
#   NODE_INIT=none node_up n3        # sshd as PID 1, no init (default: systemd)
#   NODE_IMAGE=$(node_image 11) node_up n4   # a Debian 11 node
#   NODE_NETNS=n1 node_up n5          # sshd on 127.0.0.1:2222 in n1's network only
#
# node_lab_up        private dir NODE_DIR, user key NODE_KEY (ed25519, no
#                    passphrase; NODE_KEY.pub is authorized for root in every
#                    node), NODE_KNOWN_HOSTS (empty: nodes are learned on first
#                    use), run label value NODE_RUN, NODE_USER_PASSWORD; builds
#                    the image if needed (scripts/node-image.sh)
# node_up NAME [ADDR]  creates and starts node NAME (container NODE_RUN-NAME,
#                    hostname NAME), sshd published on 127.0.0.1:<free port>,
#                    or on ADDR:22 (ADDR in 127.0.0.0/8); waits (NODE_WAIT, 20 s)
#                    for its SSH banner and, with systemd, for `systemctl
#                    is-system-running --wait` to say "running" (a failed unit
#                    fails node_up, with the list); sets NODE_ADDR, NODE_PORT,
#                    also kept in $NODE_DIR/NAME.addr and NAME.port. NODE_INIT
#                    (systemd or none) and NODE_IMAGE are read at each call.
#                    With NODE_NETNS=OTHER (a node of this run) the node joins
#                    OTHER's network namespace and its sshd listens on
#                    127.0.0.1:$NODE_NETNS_PORT (2222) there only: nothing on
#                    this machine reaches it, only programs in OTHER (a node
#                    behind a bastion); NODE_ADDR:NODE_PORT say where, as
#                    OTHER sees it
# node_image RELEASE  builds (if needed) and prints the image of a Debian
#                    release (bullseye, bookworm, trixie or 11, 12, 13)
# node_init NAME     prints the node's init: systemd or none
# node_ssh NAME CMD... runs CMD in the node over SSH with the OpenSSH client,
#                    as root (NODE_SSH_USER=USER node_ssh ... as another user).
#                    CMD is joined by ssh into one shell command line. Like ssh,
#                    it reads stdin: give it </dev/null inside `while read` loops
# node_exec NAME CMD...  docker exec -i (no SSH involved); reads stdin too
# node_user NAME USER [nopasswd|password]  adds USER in the node (login
#                    password NODE_USER_PASSWORD, NODE_KEY authorized), with
#                    sudo without a password (nopasswd, the default) or sudo
#                    that asks for the password (password)
# node_addr NAME / node_port NAME   print where the node's sshd listens
# node_down          removes the run's containers and volumes (by the run
#                    label) and NODE_DIR; idempotent. Containers of a node's
#                    own engine are removed first (their cgroups would outlive
#                    the node otherwise); systemd nodes are halted (docker stop:
#                    SIGRTMIN+3) before they are removed
#
# Containers and volumes carry io.bootstrap.test=node and
# io.bootstrap.test.run=$NODE_RUN: node_down of one run never touches another
# run's nodes. Run options as in shared test-lab notes: --privileged fails on
# this kind of machine, so all capabilities but SYS_RESOURCE, no seccomp or
# AppArmor profile, unmasked /proc and /sys, the host's cgroup namespace with
# /sys/fs/cgroup bound read-write, and a volume for /var/lib/docker (overlay2
# cannot stack on the container's own overlay root). A systemd node also gets
# tmpfs on /run, /run/lock and /tmp and stops with SIGRTMIN+3 (systemd's
# "halt"); the host's cgroup namespace is needed (this kind of host has
# cgroup v1, and with a private one the node's runc cannot start
# containers). A node without an init runs sshd as PID 1 (it reaps
# orphans), so a daemon started over SSH must detach itself (setsid), and
# nothing starts dockerd after install.
#
# node_lab_up chains node_down in front of any EXIT trap already set (as
# sshd.sh does). A trap set afterwards replaces it: call lab_up first.

# node__codename RELEASE: bullseye, bookworm or trixie, from a name or a number
node__codename() {
	case $1 in
	bullseye | 11) echo bullseye ;;
	bookworm | 12) echo bookworm ;;
	trixie | 13) echo trixie ;;
	*) return 1 ;;
	esac
}

NODE_INIT=${NODE_INIT:-systemd}   # systemd or none
NODE_RELEASE=${NODE_RELEASE:-bookworm}
NODE_IMAGE=${NODE_IMAGE:-bootstrap/node:$(node__codename "$NODE_RELEASE" || echo "$NODE_RELEASE")}
NODE_WAIT=${NODE_WAIT:-20}   # seconds a node may take to show its SSH banner and boot
# what a node without an init runs (the image's command is /sbin/init)
NODE_NO_INIT_CMD='mkdir -p /run/sshd && ssh-keygen -A && exec /usr/sbin/sshd -D -e'
NODE_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

node_log() { printf 'node: %s\n' "$*" >&2; }

node__hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

node__free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

node__ctr() { printf '%s-%s' "$NODE_RUN" "$1"; }

node__ready() {
	if [ -z "${NODE_DIR:-}" ] || [ -z "${NODE_RUN:-}" ]; then
		node_log "no node lab set up (run node_lab_up)"
		return 1
	fi
}

node_addr() {
	node__ready || return 1
	[ -f "$NODE_DIR/$1.addr" ] || { node_log "no node $1 in this run"; return 1; }
	cat "$NODE_DIR/$1.addr"
}

node_port() {
	node__ready || return 1
	[ -f "$NODE_DIR/$1.port" ] || { node_log "no node $1 in this run"; return 1; }
	cat "$NODE_DIR/$1.port"
}

# node__banner ADDR PORT: something answers there with an SSH banner (the
# engine's proxy accepts connections before sshd listens, then drops them)
node__banner() {
	(
		exec 3<>"/dev/tcp/$1/$2" || exit 1
		read -r -t 2 banner <&3 || exit 1
		case $banner in SSH-2.0-*) exit 0 ;; esac
		exit 1
	) 2>/dev/null
}

node_init() {
	node__ready || return 1
	[ -f "$NODE_DIR/$1.init" ] || { node_log "no node $1 in this run"; return 1; }
	cat "$NODE_DIR/$1.init"
}

node_image() {
	local codename
	codename=$(node__codename "${1:-}") || {
		node_log "node_image: '${1:-}' is not a release (bullseye, bookworm, trixie or 11, 12, 13)"
		return 1
	}
	bash "$NODE_REPO/scripts/node-image.sh" "$codename" >&2 || return 1
	printf 'bootstrap/node:%s\n' "$codename"
}

node__running() {
	[ "$(docker inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" = true ]
}

# put node_down in front of the EXIT trap, keeping what was there
node__trap() {
	local current
	current=$(trap -p EXIT)
	case $current in *node_down*) return 0 ;; esac
	# set +e: the shell is exiting anyway, and cleanup must not stop
	# half-way; the earlier trap still sees the exit status in $?
	if [ -z "$current" ]; then
		trap 'set +e; node_down' EXIT
		return 0
	fi
	local -a prev
	eval "prev=($current)"   # trap -- 'COMMAND' EXIT
	# shellcheck disable=SC2064,SC2154 # the earlier command expands now
	trap "node__status=\$?; set +e; node_down; node__return \$node__status; ${prev[2]}" EXIT
}
node__return() { return "$1"; }

node_lab_up() {
	local need
	[ "$(id -u)" -eq 0 ] || { node_log "node_lab_up needs root"; return 1; }
	for need in docker ssh ssh-keygen python3 tar; do
		command -v "$need" >/dev/null 2>&1 || {
			node_log "missing $need: run scripts/deps.sh"
			return 1
		}
	done
	docker version >/dev/null 2>&1 || {
		node_log "no Docker engine answers (lab_up starts one)"
		return 1
	}
	[ -z "${NODE_DIR:-}" ] || node_down   # one node lab per shell
	node__trap
	NODE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/bootstrap-node.XXXXXX") || return 1
	NODE_RUN=bsn-$(node__hex 5)
	NODE_KEY=$NODE_DIR/id_ed25519
	NODE_KNOWN_HOSTS=$NODE_DIR/known_hosts
	NODE_USER_PASSWORD=$(node__hex 12)
	NODE_ADDR=
	NODE_PORT=
	export NODE_DIR NODE_RUN NODE_KEY NODE_KNOWN_HOSTS NODE_USER_PASSWORD NODE_ADDR NODE_PORT
	ssh-keygen -q -t ed25519 -N '' -C "bootstrap-node-lab-$NODE_RUN" -f "$NODE_KEY" || return 1
	: >"$NODE_KNOWN_HOSTS"
	# what node_up copies into each node's /root before it starts
	mkdir -p "$NODE_DIR/root-home/.ssh" || return 1
	chmod 0700 "$NODE_DIR/root-home/.ssh"
	install -m 0600 "$NODE_KEY.pub" "$NODE_DIR/root-home/.ssh/authorized_keys" || return 1
	bash "$NODE_REPO/scripts/node-image.sh" "$NODE_IMAGE" || return 1
}

# node__create NAME ADDR PORT: the container, authorized key in place, not started
node__create() {
	local name=$1 addr=$2 port=$3 ctr
	local -a init_opts cmd
	ctr=$(node__ctr "$name")
	if [ "$NODE_INIT" = systemd ]; then
		init_opts=(--tmpfs /run --tmpfs /run/lock --tmpfs /tmp --stop-signal SIGRTMIN+3)
		cmd=(/sbin/init)
	else
		init_opts=()
		cmd=(sh -c "$NODE_NO_INIT_CMD")
	fi
	# its own network and a published port, or another node's network
	# (where a hostname cannot be set: it is the other node's)
	local -a net_opts=(--hostname "$name" -p "$addr:$port:22")
	[ -n "${NODE_NETNS:-}" ] && net_opts=(--network "container:$(node__ctr "$NODE_NETNS")")
	docker create --name "$ctr" "${net_opts[@]}" \
		--label io.bootstrap.test=node --label "io.bootstrap.test.run=$NODE_RUN" \
		--label "io.bootstrap.test.init=$NODE_INIT" \
		--cap-add ALL --cap-drop SYS_RESOURCE \
		--security-opt seccomp=unconfined --security-opt apparmor=unconfined \
		--security-opt systempaths=unconfined \
		--cgroupns host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
		${init_opts[@]+"${init_opts[@]}"} \
		-v "$ctr-docker:/var/lib/docker" \
		"$NODE_IMAGE" "${cmd[@]}" >/dev/null || return 1
	if [ -n "${NODE_NETNS:-}" ]; then # sshd there only
		printf 'Port %s\nListenAddress %s\n' "$port" "$addr" >"$NODE_DIR/$name.sshd.conf"
		docker cp "$NODE_DIR/$name.sshd.conf" "$ctr:/etc/ssh/sshd_config.d/bs-netns.conf" || return 1
	fi
	tar -C "$NODE_DIR/root-home" --owner=0 --group=0 --numeric-owner -c .ssh |
		docker cp - "$ctr:/root" || return 1
}

node_up() {
	local name=${1:-} addr=${2:-} port ctr try err t0
	node__ready || return 1
	if ! [[ $name =~ ^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$ ]]; then
		node_log "node_up: NAME must be a short host name (a-z, 0-9, -), not '$name'"
		return 1
	fi
	if [ -f "$NODE_DIR/$name.addr" ]; then
		node_log "node_up: node $name is up already"
		return 1
	fi
	if [ -n "$addr" ] && ! [[ $addr =~ ^127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]]; then
		node_log "node_up: ADDR must be a loopback address 127.x.y.z, not '$addr'"
		return 1
	fi
	case $NODE_INIT in
	systemd | none) ;;
	*)
		node_log "node_up: NODE_INIT must be systemd or none, not '$NODE_INIT'"
		return 1
		;;
	esac
	t0=$EPOCHREALTIME
	ctr=$(node__ctr "$name")
	err=$NODE_DIR/$name.start.err
	docker volume create --label io.bootstrap.test=node \
		--label "io.bootstrap.test.run=$NODE_RUN" "$ctr-docker" >/dev/null || return 1
	# a free port can be taken between the probe and the engine's bind
	for try in 1 2 3; do
		if [ -n "${NODE_NETNS:-}" ]; then
			addr=127.0.0.1 port=${NODE_NETNS_PORT:-2222}
		elif [ -n "$addr" ]; then
			port=22
		else
			port=$(node__free_port) || return 1
		fi
		node__create "$name" "${addr:-127.0.0.1}" "$port" || {
			docker rm -f "$ctr" >/dev/null 2>&1
			docker volume rm -f "$ctr-docker" >/dev/null 2>&1
			return 1
		}
		docker start "$ctr" >/dev/null 2>"$err" && break
		docker rm -f "$ctr" >/dev/null 2>&1
		if [ -n "$addr" ] || [ $try -eq 3 ] ||
			! grep -qiE 'already allocated|address already in use' "$err"; then
			cat "$err" >&2
			docker volume rm -f "$ctr-docker" >/dev/null 2>&1
			node_log "node_up: node $name did not start"
			return 1
		fi
		node_log "port $port was taken, trying another"
	done
	NODE_ADDR=${addr:-127.0.0.1}
	NODE_PORT=$port
	export NODE_ADDR NODE_PORT
	printf '%s\n' "$NODE_ADDR" >"$NODE_DIR/$name.addr"
	printf '%s\n' "$NODE_PORT" >"$NODE_DIR/$name.port"
	printf '%s\n' "$NODE_INIT" >"$NODE_DIR/$name.init"
	# a node of this run that had this address before had other host keys
	ssh-keygen -R "[$NODE_ADDR]:$NODE_PORT" -f "$NODE_KNOWN_HOSTS" >/dev/null 2>&1
	ssh-keygen -R "$NODE_ADDR" -f "$NODE_KNOWN_HOSTS" >/dev/null 2>&1
	rm -f "$NODE_KNOWN_HOSTS.old"
	local end=$((SECONDS + NODE_WAIT))
	until if [ -n "${NODE_NETNS:-}" ]; then
		docker exec "$(node__ctr "$NODE_NETNS")" bash -c "$(declare -f node__banner); node__banner $NODE_ADDR $NODE_PORT"
	else node__banner "$NODE_ADDR" "$NODE_PORT"; fi; do
		if ! node__running "$ctr" || [ $SECONDS -ge $end ]; then
			docker logs --tail 20 "$ctr" >&2 2>&1
			node_log "node $name: no SSH banner on $NODE_ADDR:$NODE_PORT within $NODE_WAIT s"
			return 1
		fi
		sleep 0.1
	done
	if [ "$NODE_INIT" = systemd ]; then
		node__booted "$name" "$ctr" $((end > SECONDS ? end - SECONDS : 1)) || return 1
	fi
	node_log "$name up on $NODE_ADDR:$NODE_PORT in $(node__since "$t0") s"
}

# node__booted NAME CONTAINER SECONDS: systemd in the node finished booting
# with every unit up ("running"); "degraded" names the failed units
node__booted() {
	local name=$1 ctr=$2 end=$((SECONDS + $3)) state=
	# systemctl cannot ask before systemd has its bus ("offline", or
	# nothing): ask again until it answers with a state it settled on
	while [ $SECONDS -lt $end ]; do
		state=$(timeout $((end - SECONDS)) docker exec "$ctr" systemctl is-system-running --wait 2>/dev/null </dev/null)
		case $state in running | degraded | maintenance | stopping) break ;; esac
		sleep 0.2
	done
	[ "$state" = running ] && return 0
	docker exec "$ctr" systemctl --failed --no-legend --no-pager </dev/null >&2 2>&1
	node_log "node $name: systemd says '${state:-nothing}' (wanted running) after $NODE_WAIT s"
	return 1
}

# seconds since EPOCHREALTIME value $1, to the tenth
node__since() {
	awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

node_ssh() {
	local name=${1:-} addr port
	shift || true
	addr=$(node_addr "$name") || return 1
	port=$(node_port "$name") || return 1
	ssh -F /dev/null -p "$port" -i "$NODE_KEY" -o IdentitiesOnly=yes \
		-o UserKnownHostsFile="$NODE_KNOWN_HOSTS" -o StrictHostKeyChecking=accept-new \
		-o BatchMode=yes -o ConnectTimeout=5 -o LogLevel=ERROR \
		-- "${NODE_SSH_USER:-root}@$addr" "$@"
}

node_exec() {
	local name=${1:-}
	shift || true
	node_addr "$name" >/dev/null || return 1
	docker exec -i "$(node__ctr "$name")" "$@"
}

node_user() {
	local name=${1:-} user=${2:-} mode=${3:-nopasswd}
	node_addr "$name" >/dev/null || return 1
	if ! [[ $user =~ ^[a-z_][a-z0-9_-]{0,30}$ ]] || [ "$user" = root ]; then
		node_log "node_user: '$user' is not a name for a new user"
		return 1
	fi
	case $mode in
	nopasswd | password) ;;
	*)
		node_log "node_user: mode is nopasswd or password, not '$mode'"
		return 1
		;;
	esac
	# shellcheck disable=SC2016 # expanded by the node's shell
	node_exec "$name" sh -euc '
		user=$1 mode=$2 password=$3
		if id "$user" >/dev/null 2>&1; then
			echo "user $user exists already" >&2
			exit 1
		fi
		useradd -m -s /bin/bash -c "bootstrap node lab" "$user"
		printf "%s:%s\n" "$user" "$password" | chpasswd
		home=$(getent passwd "$user" | cut -d: -f6)
		install -d -m 0700 -o "$user" -g "$user" "$home/.ssh"
		cat >"$home/.ssh/authorized_keys"
		chown "$user:$user" "$home/.ssh/authorized_keys"
		chmod 0600 "$home/.ssh/authorized_keys"
		if [ "$mode" = nopasswd ]; then
			rule="$user ALL=(ALL:ALL) NOPASSWD: ALL"
		else
			rule="$user ALL=(ALL:ALL) ALL"
		fi
		printf "%s\n" "$rule" >"/etc/sudoers.d/$user"
		chmod 0440 "/etc/sudoers.d/$user"
		visudo -cqf "/etc/sudoers.d/$user"
	' sh "$user" "$mode" "$NODE_USER_PASSWORD" <"$NODE_KEY.pub"
}

# node__inner_down CONTAINER: remove the containers of the node's own engine,
# if it has one, and print their ids. The node shares the machine's cgroup
# hierarchy (--cgroupns host), so cgroups that the inner engine made for its
# containers outlive the node unless that engine removes them itself.
node__inner_down() {
	# shellcheck disable=SC2016 # expanded by the node's shell
	timeout 30 docker exec "$1" sh -c '
		ls /var/lib/docker/containers 2>/dev/null
		command -v docker >/dev/null 2>&1 || exit 0
		ids=$(docker ps -aq --no-trunc 2>/dev/null) || exit 0
		[ -n "$ids" ] || exit 0
		echo "$ids"
		docker rm -f $ids >/dev/null 2>&1' </dev/null 2>/dev/null | sort -u || true
}

# node__cgroups_down ID...: what is left of those inner containers' cgroups
# (when their engine could not remove them, e.g. it was killed): only directories named by the
# full 64-hex ids, deepest first; rmdir leaves a cgroup that is in use
node__cgroups_down() {
	local id dir
	[ -d /sys/fs/cgroup ] || return 0
	for id in "$@"; do
		[[ $id =~ ^[0-9a-f]{64}$ ]] || continue
		while IFS= read -r -d '' dir; do
			find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
		done < <(find /sys/fs/cgroup -mindepth 2 -maxdepth 5 -type d -name "$id" -print0 2>/dev/null)
	done
}

node_down() {
	local id
	local -a ids vols sysd inner=()
	if [ -n "${NODE_RUN:-}" ]; then
		mapfile -t ids < <(docker ps -aq --filter "label=io.bootstrap.test.run=$NODE_RUN" 2>/dev/null)
		if [ ${#ids[@]} -gt 0 ]; then
			for id in "${ids[@]}"; do
				node__running "$id" || continue
				mapfile -t -O "${#inner[@]}" inner < <(node__inner_down "$id")
			done
			# systemd nodes halt (their stop signal, SIGRTMIN+3): units
			# stop in order, as on a machine shut down; all at once
			mapfile -t sysd < <(docker ps -q --filter "label=io.bootstrap.test.run=$NODE_RUN" \
				--filter label=io.bootstrap.test.init=systemd 2>/dev/null)
			if [ ${#sysd[@]} -gt 0 ]; then
				docker stop -t 20 "${sysd[@]}" >/dev/null 2>&1 ||
					node_log "could not stop nodes ${sysd[*]} cleanly"
			fi
			docker rm -f -v "${ids[@]}" >/dev/null 2>&1 ||
				node_log "could not remove containers ${ids[*]}"
			node__cgroups_down ${inner[@]+"${inner[@]}"}
		fi
		mapfile -t vols < <(docker volume ls -q --filter "label=io.bootstrap.test.run=$NODE_RUN" 2>/dev/null)
		if [ ${#vols[@]} -gt 0 ]; then
			docker volume rm -f "${vols[@]}" >/dev/null 2>&1 ||
				node_log "could not remove volumes ${vols[*]}"
		fi
	fi
	if [ -n "${NODE_DIR:-}" ]; then
		rm -rf "$NODE_DIR"
	fi
	NODE_DIR=
	NODE_RUN=
	NODE_ADDR=
	NODE_PORT=
	return 0
}
