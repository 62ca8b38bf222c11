#!/usr/bin/env bash
# Build the Docker image of the test lab's "nodes" (tests/lab/node.sh) and of
# provider local: a minimal Debian with OpenSSH and systemd, made with
# debootstrap and `docker import`, so that no image hub is needed.
#
#   scripts/node-image.sh [--force] [RELEASE] [IMAGE]
#
# RELEASE: bullseye, bookworm or trixie (or 11, 12, 13; also $RELEASE;
# default bookworm, or the tag of IMAGE when it names one). IMAGE defaults
# to bootstrap/node:<codename>. Fast when IMAGE exists with this recipe's
# version label (io.bootstrap.node-image); --force rebuilds anyway. Bump
# NODE_IMAGE_VERSION whenever the recipe below changes, so that machines that
# have the old image rebuild it. Runs as root, or through `sudo -n`
# otherwise. Packages come from debootstrap's default mirror (no mirror
# argument on purpose).
#
# The image boots systemd (CMD /sbin/init), as a real VM does; it needs the
# run options of tests/lab/node.sh (tmpfs on /run, /run/lock and /tmp, the
# host's cgroup namespace and hierarchy, stop signal SIGRTMIN+3). It also
# runs without an init when given the command
#   sh -c 'mkdir -p /run/sshd && ssh-keygen -A && exec /usr/sbin/sshd -D -e'
# The image has no host keys (each node makes its own: a oneshot unit before
# ssh.service, or ssh-keygen -A in that command), an empty /root/.ssh for the
# authorized key to be written into before the node starts, and no apt lists
# (like Debian's own images: `apt-get update` first); the apt sources name
# the mirror debootstrap used.
set -euo pipefail

NODE_IMAGE_VERSION=2   # bump when the recipe changes
# systemd-sysv gives /sbin/init; dbus lets systemctl and logind talk (the
# three names are the same in bullseye, bookworm and trixie)
PACKAGES=openssh-server,ca-certificates,iproute2,procps,sudo,systemd,systemd-sysv,dbus
LABEL=io.bootstrap.node-image
LOCK_WAIT=900          # seconds to wait for another build of the image

log() { printf 'node-image: %s\n' "$*" >&2; }

# codename RELEASE: bullseye, bookworm or trixie from a name or a number
codename() {
	case $1 in
	bullseye | 11) echo bullseye ;;
	bookworm | 12) echo bookworm ;;
	trixie | 13) echo trixie ;;
	*) return 1 ;;
	esac
}

force=0
image=
suite=
for arg in "$@"; do
	case $arg in
	--force) force=1 ;;
	-h | --help)
		sed -n '2,28s/^# \{0,1\}//p' "$0"
		exit 0
		;;
	-*)
		log "unknown option $arg"
		exit 2
		;;
	*)
		if [ -z "$suite" ] && [ -z "$image" ] && codename "$arg" >/dev/null; then
			suite=$(codename "$arg")
			continue
		fi
		case $arg in *[!0-9]*) ;; *)
			log "$arg: not a release this script builds (bullseye, bookworm, trixie or 11, 12, 13)"
			exit 2
			;;
		esac
		[ -z "$image" ] || { log "one image name only"; exit 2; }
		image=$arg
		;;
	esac
done
if [ -z "$suite" ] && [ -n "${RELEASE:-}" ]; then
	suite=$(codename "$RELEASE") || {
		log "RELEASE=$RELEASE: not a release this script builds (bullseye, bookworm, trixie or 11, 12, 13)"
		exit 2
	}
fi
# an image named after a release is that release (node.sh passes its NODE_IMAGE)
if [ -z "$suite" ] && [ -n "$image" ]; then
	suite=$(codename "${image##*:}") || suite=bookworm
fi
suite=${suite:-bookworm}
image=${image:-bootstrap/node:$suite}

if [ "$(id -u)" -eq 0 ]; then
	sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	sudo=(sudo -n)
else
	log "needs root, or sudo without a password"
	exit 1
fi
# the Docker CLI as is when it reaches the engine (docker group), else as root
if docker version >/dev/null 2>&1; then
	docker=(docker)
else
	docker=("${sudo[@]}" docker)
fi
for need in debootstrap docker tar flock; do
	command -v "$need" >/dev/null 2>&1 || [ -x "/usr/sbin/$need" ] || {
		log "missing $need: run scripts/deps.sh"
		exit 1
	}
done
"${docker[@]}" version >/dev/null 2>&1 || {
	log "no Docker engine answers (start dockerd first)"
	exit 1
}

current() {
	"${docker[@]}" image inspect -f "{{ index .Config.Labels \"$LABEL\" }}" "$image" 2>/dev/null || true
}

start=$SECONDS
if [ $force -eq 0 ] && [ "$(current)" = "$NODE_IMAGE_VERSION" ]; then
	log "$image is up to date (version $NODE_IMAGE_VERSION)"
	exit 0
fi

tmp=
cleanup() {
	set +e
	[ -n "$tmp" ] || return 0
	# debootstrap mounts proc and sys in the target and normally unmounts
	# them; after an interruption they may still be there, and rm must never
	# walk into them
	local mnt
	awk -v t="$tmp/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
		while read -r mnt; do
			"${sudo[@]}" umount -l "$mnt"
		done
	"${sudo[@]}" rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bootstrap-node-image.XXXXXX")
# one build at a time on this machine (the lock is this script itself, so
# nothing is left behind); a second run waits, then finds the image built
exec 9<"${BASH_SOURCE[0]}"
if ! flock -w "$LOCK_WAIT" 9; then
	log "another build still runs after $LOCK_WAIT s"
	exit 1
fi
if [ $force -eq 0 ] && [ "$(current)" = "$NODE_IMAGE_VERSION" ]; then
	log "$image was built by another run meanwhile"
	exit 0
fi

old_id=$("${docker[@]}" image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
root=$tmp/root
log "building $image (version $NODE_IMAGE_VERSION): debootstrap $suite, about a minute"
if ! "${sudo[@]}" debootstrap --variant=minbase --include="$PACKAGES" \
	"$suite" "$root" >"$tmp/debootstrap.log" 2>&1; then
	tail -n 30 "$tmp/debootstrap.log" >&2
	[ -f "$root/debootstrap/debootstrap.log" ] && "${sudo[@]}" tail -n 30 "$root/debootstrap/debootstrap.log" >&2
	log "debootstrap failed"
	exit 1
fi

# Host keys made once by debootstrap would be shared by every node: each
# node makes its own at start instead. Downloaded packages are not needed,
# nor the Packages lists debootstrap fetched (stale soon: nodes run
# `apt-get update` as a fresh host would).
# shellcheck disable=SC2016 # expanded by the inner sh
"${sudo[@]}" sh -c '
	set -e
	root=$1
	rm -f "$root"/etc/ssh/ssh_host_*
	rm -f "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin
	rm -rf "$root"/var/lib/apt/lists/*
	mkdir -p "$root"/var/lib/apt/lists/partial
	: >"$root"/etc/machine-id
' sh "$root"
# systemd as a container's init. Host keys: a oneshot unit that ssh.service
# pulls in and waits for (ssh.service's own `sshd -t` fails without keys).
# Masked: what needs hardware or a kernel of its own (udev, kernel module
# loading, binfmt, the kernel's debug/tracing/config/fuse file systems, the
# console's getty, remounting the root) and the apt timers (an unattended
# apt run in the middle of a test holds dpkg's lock). Each would fail or
# do nothing in a container; a failed unit makes `systemctl
# is-system-running` say "degraded" instead of "running".
# shellcheck disable=SC2016 # expanded by the inner sh
"${sudo[@]}" sh -c '
	set -e
	root=$1
	units=$root/etc/systemd/system
	mkdir -p "$units/ssh.service.wants"
	cat >"$units/bootstrap-ssh-hostkeys.service" <<UNIT
[Unit]
Description=SSH host keys of this node (the image has none, so nodes never share one)
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A
UNIT
	ln -sf ../bootstrap-ssh-hostkeys.service "$units/ssh.service.wants/bootstrap-ssh-hostkeys.service"
	for unit in systemd-udevd.service systemd-udevd-control.socket \
		systemd-udevd-kernel.socket systemd-udev-trigger.service \
		systemd-udev-settle.service systemd-modules-load.service \
		kmod-static-nodes.service systemd-binfmt.service \
		proc-sys-fs-binfmt_misc.automount proc-sys-fs-binfmt_misc.mount \
		sys-kernel-debug.mount sys-kernel-tracing.mount sys-kernel-config.mount \
		sys-fs-fuse-connections.mount systemd-remount-fs.service \
		getty@tty1.service console-getty.service serial-getty@.service \
		systemd-firstboot.service systemd-hwdb-update.service \
		apt-daily.timer apt-daily-upgrade.timer e2scrub_reap.service \
		e2scrub_all.timer fstrim.timer; do
		ln -sf /dev/null "$units/$unit"
	done
	ln -sf /lib/systemd/system/multi-user.target "$units/default.target"
	install -d -m 0700 "$root/root/.ssh"
' sh "$root"
# apt inside the node needs a source to `apt-get update` from
if ! "${sudo[@]}" grep -qs '^deb ' "$root/etc/apt/sources.list"; then
	log "debootstrap left no apt source in $root/etc/apt/sources.list"
	exit 1
fi
for f in usr/sbin/sshd usr/bin/ssh-keygen usr/bin/sudo usr/bin/apt-get lib/systemd/systemd usr/bin/systemctl; do
	"${sudo[@]}" test -x "$root/$f" || { log "$f missing from the image"; exit 1; }
done

"${sudo[@]}" tar -C "$root" --numeric-owner -c . |
	"${docker[@]}" import \
		-c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		-c 'ENV container=docker' \
		-c 'CMD ["/sbin/init"]' \
		-c "LABEL $LABEL=$NODE_IMAGE_VERSION" \
		- "$image" >/dev/null
# the previous build, if nothing else uses it (rmi refuses otherwise)
new_id=$("${docker[@]}" image inspect -f '{{.Id}}' "$image")
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
	"${docker[@]}" rmi "$old_id" >/dev/null 2>&1 || true
fi
size=$("${docker[@]}" image inspect -f '{{.Size}}' "$image")
log "built $image (version $NODE_IMAGE_VERSION, $((size / 1000000)) MB) in $((SECONDS - start)) s"
