#!/usr/bin/env bash
# Install the Debian packages that bootstrap's build, tests and test lab
# need. Idempotent: when everything is present it prints nothing and exits 0.
#
#   scripts/deps.sh            build + tests + lab (dockerd, sshd, registry)
#   scripts/deps.sh --build    only what compiling bootstrap needs
#
# Runs apt-get directly as root, through `sudo -n` otherwise.
set -euo pipefail

build_pkgs=(gcc make pkg-config libssh2-1-dev libcurl4-openssl-dev libcjson-dev
            libyaml-dev libssl-dev)
test_pkgs=(libcmocka-dev clang libclang-rt-14-dev valgrind clang-format python3)
# The lab: a real Docker engine, OpenSSH, a registry, node images built
# offline, git for build-from-git tests, htpasswd for registry auth,
# docker-compose to check that the compose files the tests deploy stay
# valid compose files.
lab_pkgs=(docker.io docker-registry openssh-server openssh-client debootstrap
          busybox-static apache2-utils git iproute2 curl ca-certificates socat
          openssl sudo docker-compose)

pkgs=("${build_pkgs[@]}")
if [ "${1:-}" != "--build" ]; then
	pkgs+=("${test_pkgs[@]}" "${lab_pkgs[@]}")
fi

missing=()
for p in "${pkgs[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
	sudo=()
elif command -v sudo >/dev/null 2>&1; then
	sudo=(sudo -n)
else
	echo "deps: missing ${missing[*]}; run as root: apt-get install ${missing[*]}" >&2
	exit 1
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Services must not start at install time: there may be no init system, and
# the tests start their own daemons with their own configuration.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
	"${sudo[@]}" chmod 0755 "$policy"
	created_policy=1
fi
trap '[ $created_policy -eq 1 ] && "${sudo[@]}" rm -f "$policy"' EXIT
"${sudo[@]}" apt-get update -qq
for attempt in 1 2 3; do
	if "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" \
		>/tmp/bootstrap-deps.log 2>&1; then
		exit 0
	fi
	echo "deps: apt-get install failed (attempt $attempt), retrying" >&2
	sleep $((attempt * 5))
done
tail -n 30 /tmp/bootstrap-deps.log >&2
exit 1
