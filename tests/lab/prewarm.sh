#!/usr/bin/env bash
# tests/lab/prewarm.sh - what every suite of `make check` needs, made once
# at its start instead of once per suite and stage:
#   - a Docker engine: started when none answers, and left running (each
#     suite's lab_up then reuses it rather than starting and stopping its
#     own, a few seconds each, 50 times over);
#   - the node images: Debian 12's now (the first suites need it), 11's and
#     13's in the background while the first suites run (the release matrix
#     comes later; scripts/node-image.sh's lock makes it wait for them).
# Needs root, like the integration suites. Logs under build/prewarm/.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lab/lab.sh
LAB=$PWD/build/prewarm
mkdir -p "$LAB"
if ! lab_ping >/dev/null 2>&1; then
	lab_log "starting dockerd for the whole run (left running)"
	setsid dockerd >"$LAB/dockerd.log" 2>&1 </dev/null &
	if ! lab_wait_until 60 lab_ping; then
		tail -n 30 "$LAB/dockerd.log" >&2
		lab_log "dockerd did not answer /_ping within 60 s"
		exit 1
	fi
fi
bash scripts/node-image.sh bookworm
setsid bash -c 'for r in bullseye trixie; do bash scripts/node-image.sh "$r"; done' \
	>"$LAB/node-images.log" 2>&1 </dev/null &
lab_log "building the bullseye and trixie node images in the background ($LAB/node-images.log)"
