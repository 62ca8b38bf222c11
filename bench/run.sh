#!/usr/bin/env bash
# run.sh - install the peers from Debian's packages (when any is missing),
# then run bench.py with the arguments given (see bench.py --help).
#
#   bench/run.sh                 the full run: N=50, 3 repetitions, every tool
#   bench/run.sh --quick         smoke test (under 2 minutes)
#   bench/run.sh --no-install    use what is installed
#
# Root, or sudo -n. The peers: docker-compose (1.29), python3-libcloud,
# ansible (with community.docker), python3-docker, curl; busybox-static
# for the test image. Nothing else is fetched: the test image is imported
# from the static busybox binary, and no registry is ever asked.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")

install=1
for a in "$@"; do
	[ "$a" = --no-install ] && install=0
done

pkgs=(docker-compose python3-libcloud ansible python3-docker curl busybox-static time)
if [ "$install" = 1 ]; then
	missing=()
	for p in "${pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if [ "${#missing[@]}" -gt 0 ]; then
		SUDO=
		[ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
		echo "run.sh: installing ${missing[*]}" >&2
		timeout 600 $SUDO apt-get update -q >&2
		timeout 1200 $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
	fi
fi

# Debian's python3: python3-libcloud, python3-docker and ansible live there
py=/usr/bin/python3
[ -x "$py" ] || py=python3
cd "$repo"
[ -x ./bootstrap ] || make -C "$repo" >&2 || echo "run.sh: make failed; bootstrap's column will say so (make deps?)" >&2
exec "$py" "$here/bench.py" "$@"
