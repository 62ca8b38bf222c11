#!/usr/bin/env bash
# The quickstart, after `make deps bootstrap`: a running Docker engine, the
# node image, the demo image, then `bootstrap recipes/local.yaml`: two local
# "machines" (containers with sshd), Docker installed in each over SSH, and
# the demo web container on both. Run again: it converges (no change).
#
#   make quickstart          (root, or sudo without a password)
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO="sudo -n"

say() { printf 'quickstart: %s\n' "$*" >&2; }

# 1. a Docker engine on this machine (it hosts the nodes)
if ! $SUDO docker version >/dev/null 2>&1; then
	say "starting dockerd (log: /var/log/bootstrap-dockerd.log)"
	$SUDO sh -c 'setsid nohup dockerd >/var/log/bootstrap-dockerd.log 2>&1 </dev/null &'
	for _ in $(seq 1 120); do
		$SUDO docker version >/dev/null 2>&1 && break
		sleep 0.5
	done
	$SUDO docker version >/dev/null 2>&1 || {
		say "dockerd did not answer within 60 s; see /var/log/bootstrap-dockerd.log"
		exit 1
	}
fi
# 2. the images: the nodes' Debian (debootstrap, offline after the first
#    build) and the demo's busybox
$SUDO bash scripts/node-image.sh
$SUDO bash scripts/demo-image.sh
# 3. the fleet
$SUDO ./bootstrap recipes/local.yaml
port=$($SUDO docker port demo-node-1 22/tcp | head -n 1)
key=.bootstrap/ssh/id_ed25519 # bootstrap's own, when you have no ~/.ssh key
for k in "$HOME/.ssh/id_ed25519" "$HOME/.ssh/id_ecdsa"; do
	if [ -f "$k" ]; then key=$k; break; fi
done
say "done. The web container answers on each node's loopback, port 8080:"
say "  docker exec demo-node-1 bash -c 'exec 3<>/dev/tcp/127.0.0.1/8080; printf \"GET / HTTP/1.0\\r\\n\\r\\n\" >&3; cat <&3'"
say "or from here through SSH (the node's sshd is on $port):"
say "  ssh -i $key -o UserKnownHostsFile=.bootstrap/known_hosts -p ${port##*:} -N -L 8080:127.0.0.1:8080 root@127.0.0.1 &  curl http://127.0.0.1:8080/"
say "see what runs: ./bootstrap status recipes/local.yaml; remove it all: ./bootstrap destroy recipes/local.yaml"
reply=$($SUDO docker exec demo-node-1 bash -c 'exec 3<>/dev/tcp/127.0.0.1/8080; printf "GET / HTTP/1.0\r\n\r\n" >&3; cat <&3' | tail -n 1)
say "node-1 answers: $reply"
