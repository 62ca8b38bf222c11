#!/usr/bin/env bash
# Import local/busybox:1, the tiny image recipes/local.yaml deploys, into the
# local Docker engine: a static busybox (Debian's busybox-static) and its
# applets, nothing else. No image hub is needed; bootstrap copies the image
# from this engine to each node (pull: never).
#
#   scripts/demo-image.sh [IMAGE]     (default local/busybox:1)
#
# Fast when the image exists. Runs as root, or through `sudo -n` otherwise.
set -euo pipefail
image=${1:-local/busybox:1}
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO="sudo -n"

$SUDO docker image inspect "$image" >/dev/null 2>&1 && exit 0
busybox=/bin/busybox
# ldd exits 1 on a static binary, saying so: read what it says, not its status
linkage=$(ldd "$busybox" 2>&1 || true)
if [ ! -x "$busybox" ] || [[ $linkage != *"not a dynamic"* ]]; then
	echo "demo-image: a static busybox is needed (apt-get install busybox-static)" >&2
	exit 1
fi
root=$(mktemp -d "${TMPDIR:-/tmp}/bootstrap-demo-image.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/www"
cp "$busybox" "$root/bin/busybox"
for a in sh httpd sleep wget cat echo ls env touch mkdir rm date true false id \
	hostname kill ps printf seq head tail grep sed; do
	ln -sf busybox "$root/bin/$a"
done
echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
chmod 1777 "$root/tmp"
tar -C "$root" -c . | $SUDO docker import -c 'CMD ["sh"]' -c 'ENV PATH=/bin' - "$image" >/dev/null
echo "demo-image: imported $image" >&2
