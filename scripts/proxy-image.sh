#!/usr/bin/env bash
# Import local/caddy:2, a Caddy reverse-proxy image, into the local Docker
# engine without any image hub: Debian's caddy package is downloaded (not
# installed: no root install, no service started) and unpacked, and its
# binary goes into a minimal root with the shared libraries it links, a
# static busybox's applets, the CA bundle (ACME) and mime types.
#
#   scripts/proxy-image.sh [IMAGE]     (default local/caddy:2)
#
# The image: /usr/bin/caddy, /bin (busybox: sh, cat, ls, wget, ...), an
# empty /etc/caddy, /data and /config (XDG_DATA_HOME, XDG_CONFIG_HOME:
# certificates and the autosaved configuration; mount volumes there to
# keep them), /tmp, and CMD caddy run --config /etc/caddy/Caddyfile
# --adapter caddyfile. No VOLUME is declared: anonymous volumes would be
# dropped with the container, and certificates with them.
#
# Fast when the image exists. Needs apt-get (Debian's package lists: run
# apt-get update first) and busybox-static. Docker runs as root, or
# through `sudo -n` otherwise.
set -euo pipefail
image=${1:-local/caddy:2}
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO="sudo -n"

$SUDO docker image inspect "$image" >/dev/null 2>&1 && exit 0

fail() {
	echo "proxy-image: $*" >&2
	exit 1
}

busybox=/bin/busybox
# ldd exits 1 on a static binary, saying so: read what it says, not its status
linkage=$(ldd "$busybox" 2>&1 || true)
if [ ! -x "$busybox" ] || [[ $linkage != *"not a dynamic"* ]]; then
	fail "a static busybox is needed (apt-get install busybox-static)"
fi
if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
	fail "apt-get and dpkg-deb are needed (a Debian host)"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/bootstrap-proxy-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/deb" "$work/pkg" "$work/root"

# As root, apt drops to its _apt user to download, which cannot write in
# a private temporary directory: download as root instead (no warning).
apt_opts=()
[ "$(id -u)" -eq 0 ] && apt_opts=(-o APT::Sandbox::User=root)
if ! (cd "$work/deb" && apt-get "${apt_opts[@]}" download caddy >"$work/apt.log" 2>&1); then
	cat "$work/apt.log" >&2
	fail "cannot download Debian's caddy package (are the package lists there? apt-get update)"
fi
deb=$(ls "$work"/deb/caddy_*.deb)
version=$(dpkg-deb -f "$deb" Version)
dpkg-deb -x "$deb" "$work/pkg"
caddy=$work/pkg/usr/bin/caddy
[ -x "$caddy" ] || fail "the caddy package $version has no /usr/bin/caddy"

root=$work/root
mkdir -p "$root/usr/bin" "$root/bin" "$root/etc/caddy" "$root/data" "$root/config" "$root/tmp"
cp "$caddy" "$root/usr/bin/caddy"

# Go binaries are usually static; Debian builds caddy with cgo (libc,
# libzstd): copy each library ldd names, and the loader, to its own path.
linkage=$(ldd "$caddy" 2>&1 || true)
if [[ $linkage != *"not a dynamic"* ]]; then
	if [[ $linkage == *"not found"* ]]; then
		fail "caddy $version needs libraries this host lacks:"$'\n'"$linkage"
	fi
	while read -r first arrow path _; do
		if [ "$arrow" = "=>" ]; then
			lib=$path # libzstd.so.1 => /lib/x86_64-linux-gnu/libzstd.so.1 (0x...)
		elif [[ $first == /* ]]; then
			lib=$first # /lib64/ld-linux-x86-64.so.2 (0x...)
		else
			continue # linux-vdso.so.1: in the kernel
		fi
		[ -f "$lib" ] || fail "caddy $version needs $lib, which is not a file here"
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done <<<"$linkage"
fi

cp "$busybox" "$root/bin/busybox"
for a in sh cat ls wget echo env mkdir rm cp mv touch sleep date id hostname \
	kill ps printf head tail grep sed tr wc true false test nslookup; do
	ln -sf busybox "$root/bin/$a"
done
# outgoing TLS (ACME, HTTPS upstreams) checks against the CA bundle; the
# file server's content types come from mime.types
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
	mkdir -p "$root/etc/ssl/certs"
	cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
else
	echo "proxy-image: no /etc/ssl/certs/ca-certificates.crt here (apt-get install ca-certificates): ACME will not work in $image" >&2
fi
[ -f /etc/mime.types ] && cp /etc/mime.types "$root/etc/mime.types"
echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
chmod 1777 "$root/tmp"

tar -C "$root" --owner=0 --group=0 --numeric-owner -c . |
	$SUDO docker import \
		-c 'ENV PATH=/usr/bin:/bin' \
		-c 'ENV XDG_DATA_HOME=/data' \
		-c 'ENV XDG_CONFIG_HOME=/config' \
		-c 'EXPOSE 80 443' \
		-c "LABEL org.opencontainers.image.version=$version" \
		-c 'CMD ["caddy","run","--config","/etc/caddy/Caddyfile","--adapter","caddyfile"]' \
		- "$image" >/dev/null
# the binary must run in the image, with only what was copied
if ! out=$($SUDO docker run --rm --network none "$image" caddy version 2>&1); then
	$SUDO docker image rm "$image" >/dev/null 2>&1 || true
	fail "caddy $version does not run in $image (removed again): $out"
fi
echo "proxy-image: imported $image (caddy $out, Debian package $version)" >&2
