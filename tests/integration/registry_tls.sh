#!/usr/bin/env bash
# tests/integration/registry_tls.sh - a multi-platform image on an HTTPS
# registry with a private CA (provider engine, the real dockerd): the tag
# points at an index of two single-platform images (linux/amd64 and
# linux/arm64), where the digest of the index, of each platform's
# manifest and the image ID (the platform's config digest) all differ.
# apply deploys the amd64 image and records the index digest; plan and a
# second apply change nothing, with the labels unchanged, even when the
# node also holds the image under its platform manifest's digest (and a
# container made again then records the tag's); a new index under the
# same tag is planned as a replacement with the reason, applied, and then
# planned as nothing again; with the registry gone, plan warns.
#
#   BOOTSTRAP=./bootstrap bash tests/integration/registry_tls.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
BOOTSTRAP=${BOOTSTRAP:-./bootstrap}
read -r -a WRAP <<<"${BS_WRAP:-}"
. tests/lab/lab.sh
EVENTS="python3 tests/integration/pipeline/events.py"

pass=0 fail=0
ok() { pass=$((pass + 1)); printf 'ok   %s\n' "$1"; }
bad() { fail=$((fail + 1)); printf 'FAIL %s\n' "$1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/     /'; }
give_up() { echo "$1"; echo "$pass passed, $((fail + 1)) failed"; exit 1; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what" "exit $rc; $(tail -n 5 "$WORK/err"; tail -n 3 "$WORK/out")"; fi; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bootstrap-registry-tls-test.XXXXXX")
PROJECT=rt$$
LAB="$WORK/lab"
NEW_IMAGE=local/busybox-rt$$:2
mkdir -p "$LAB"
cleanup() {
	local ids
	ids=$(docker ps -aq --filter "label=io.bootstrap.project=$PROJECT" 2>/dev/null)
	[ -n "$ids" ] && docker rm -f -v $ids >/dev/null 2>&1
	docker network rm "$PROJECT-net" >/dev/null 2>&1
	lab_down # the names pulled from the HTTPS registry too
	docker rmi "$NEW_IMAGE" >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT
lab_dockerd || give_up "no Docker engine"
lab_busybox_image || give_up "no $LAB_IMAGE image"
lab_web_image || give_up "no $LAB_WEB_IMAGE image"
: "${LAB_HTTPS_REGISTRY_PORT:=$(lab_free_port)}"
lab_https_registry || give_up "the HTTPS registry did not start"
export BOOTSTRAP_DIR="$WORK/state"
REF="$LAB_HTTPS_REGISTRY/multi:1"
R="$WORK/r.yaml"
NAME="$PROJECT-app-1"

{
	printf 'version: 1\nproject: %s\nprovider: {type: engine}\nnodes:\n  - name: here\n' "$PROJECT"
	printf 'images:\n  - {name: "%s", pull: always}\ncontainers:\n' "$REF"
	printf '  - name: app\n    image: "%s"\n    command: [sleep, "1000000"]\n' "$REF"
	printf '    stop_timeout: 0s\n    update: {monitor: 0s}\n'
} >"$R"
bs() {
	timeout 120 "${WRAP[@]}" "$BOOTSTRAP" "$@" >"$WORK/out" 2>"$WORK/err"
	rc=$?
}
counts_are() {
	local want_rc=$1 kv s
	shift
	[ "$rc" = "$want_rc" ] || return 1
	s=" $($EVENTS summary "$WORK/out") "
	for kv in "$@"; do [[ $s == *" $kv "* ]] || return 1; done
}
label() { docker inspect -f "{{index .Config.Labels \"io.bootstrap.$1\"}}" "$NAME" 2>&1; }
image_id() { docker image inspect -f '{{.Id}}' "$1"; }
# the digest the registry serves for multi:TAG when asked as CLIENT would
head_digest() { # TAG ACCEPT
	curl -sfI --cacert "$LAB_HTTPS_CA" -H "Accept: $2" \
		"https://$LAB_HTTPS_REGISTRY/v2/multi/manifests/$1" |
		tr -d '\r' | sed -n 's/^docker-content-digest: //Ip'
}
LIST=application/vnd.docker.distribution.manifest.list.v2+json
OCI_INDEX=application/vnd.oci.image.index.v1+json
MANIFEST=application/vnd.docker.distribution.manifest.v2+json

# ---- the registry and the index ----------------------------------------------
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$LAB_HTTPS_CA" "https://$LAB_HTTPS_REGISTRY/v2/")
[ "$code" = 200 ] && [ -f "$LAB_CERTS_D/$LAB_HTTPS_REGISTRY/ca.crt" ] &&
	ok "HTTPS registry $LAB_HTTPS_REGISTRY verified with the lab CA, which the engine has in certs.d" ||
	bad "HTTPS registry" "code=$code"
curl -s -o /dev/null "http://$LAB_HTTPS_REGISTRY/v2/" 2>/dev/null
code=$(curl -s -o /dev/null -w '%{http_code}' "https://$LAB_HTTPS_REGISTRY/v2/")
[ "$code" = 000 ] && ok "... and refused by a client without the CA" || bad "a client without the CA" "code=$code"
D1=$(lab_push_index multi 1 linux/amd64="$LAB_IMAGE" linux/arm64="$LAB_WEB_IMAGE") ||
	give_up "could not push the index"
AMD64=$(image_id "$LAB_IMAGE") ARM64=$(image_id "$LAB_WEB_IMAGE")
P1=$(head_digest 1 "$MANIFEST")
[ "$(head_digest 1 "$LIST, $OCI_INDEX, $MANIFEST")" = "$D1" ] && [ -n "$P1" ] && [ "$P1" != "$D1" ] &&
	[ "$P1" != "$AMD64" ] &&
	ok "multi:1 is an index ${D1:7:12}; asked for a manifest only, the registry answers another digest (${P1:7:12})" ||
	bad "the index" "index=$D1 manifest-only=$P1 image=$AMD64"

# ---- deploy, then nothing to do -----------------------------------------------
bs apply --json "$R"
check "apply: the container is created from the index's tag" counts_are 0 created=1 failed=0
img=$(docker inspect -f '{{.Image}}' "$NAME" 2>&1)
[ "$img" = "$AMD64" ] && [ "$img" != "$ARM64" ] &&
	ok "it runs the linux/amd64 image (${img:7:12})" || bad "the amd64 image" "runs $img, amd64 $AMD64, arm64 $ARM64"
digest=$(label image-digest) hash=$(label spec-hash)
[ "$digest" = "$LAB_HTTPS_REGISTRY/multi@$D1" ] &&
	ok "io.bootstrap.image-digest is the index digest, as docker pull prints it" ||
	bad "the recorded digest" "label=$digest index=$D1 platform=$P1"
id=$(docker inspect -f '{{.Id}}' "$NAME")
bs plan --detailed-exitcode --json "$R"
check "plan --detailed-exitcode: 0 (nothing planned)" test "$rc" = 0
bs apply --json "$R"
check "second apply: nothing changed" counts_are 0 created=0 replaced=0 updated=0 removed=0 unchanged=1
[ "$(docker inspect -f '{{.Id}}' "$NAME")" = "$id" ] && [ "$(label image-digest)" = "$digest" ] &&
	[ "$(label spec-hash)" = "$hash" ] &&
	ok "the same container, the same labels" || bad "labels after a re-run" "$(label image-digest) $(label spec-hash)"

# The node also holds the image under the platform manifest's digest: two
# RepoDigests for the repository, only one of them the tag's.
docker pull -q "$LAB_HTTPS_REGISTRY/multi@$P1" >/dev/null 2>&1
n=$(docker image inspect -f '{{range .RepoDigests}}{{println .}}{{end}}' "$REF" | grep -c "^$LAB_HTTPS_REGISTRY/multi@")
bs plan --detailed-exitcode --json "$R"
[ "$n" = 2 ] && [ "$rc" = 0 ] && ok "with two RepoDigests for the repository, plan still plans nothing" ||
	bad "plan with two RepoDigests" "repodigests=$n rc=$rc $(tail -n 3 "$WORK/err")"
bs apply --json "$R"
check "... and apply changes nothing" counts_are 0 created=0 replaced=0 unchanged=1
docker rm -f "$NAME" >/dev/null
bs apply --json "$R"
[ "$rc" = 0 ] && [ "$(label image-digest)" = "$digest" ] && [ "$(label spec-hash)" = "$hash" ] &&
	ok "a container made again then records the tag's digest, not the platform manifest's" ||
	bad "the digest recorded among two" "rc=$rc label=$(label image-digest) index=$D1 platform=$P1"

# ---- a new index under the same tag -------------------------------------------
printf 'FROM %s\nLABEL io.bootstrap.test.registry-tls=2\n' "$LAB_IMAGE" |
	docker build -q -t "$NEW_IMAGE" - >/dev/null 2>&1 || give_up "could not build the changed image"
D2=$(lab_push_index multi 1 --oci linux/amd64="$NEW_IMAGE" linux/arm64="$LAB_WEB_IMAGE") ||
	give_up "could not push the second index"
AMD64_2=$(image_id "$NEW_IMAGE")
bs plan --detailed-exitcode --json "$R"
reason=$($EVENTS get "$WORK/out" reason action_planned replace "$NAME")
[ "$rc" = 2 ] && [[ $reason == *"the registry serves ${D2:0:19}"* ]] && [[ $reason == *"${D1:0:19}"* ]] &&
	ok "new OCI index ${D2:7:12}: plan exits 2, replace ($reason)" ||
	bad "plan after a new index" "rc=$rc reason=$reason $(tail -n 3 "$WORK/err")"
bs apply --json "$R"
check "apply: the container replaced" counts_are 0 replaced=1 created=0 failed=0
img=$(docker inspect -f '{{.Image}}' "$NAME" 2>&1)
[ "$img" = "$AMD64_2" ] && [ "$(label image-digest)" = "$LAB_HTTPS_REGISTRY/multi@$D2" ] &&
	[ "$(label spec-hash)" != "$hash" ] &&
	ok "it runs the new amd64 image, the new index digest recorded" ||
	bad "after the replacement" "image=$img want=$AMD64_2 digest=$(label image-digest)"
bs plan --detailed-exitcode --json "$R"
check "plan --detailed-exitcode: 0 again" test "$rc" = 0

# ---- the registry gone ---------------------------------------------------------
# only the HTTPS registry: the engine (which the lab may have started) stays
pid=$(cat "$LAB/reg-https/pid")
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
bs plan --detailed-exitcode --json "$R"
warning=$(grep -h "$LAB_HTTPS_REGISTRY" "$WORK/out" "$WORK/err" | grep -c "the plan assumes the node's image")
[ "$rc" = 0 ] && [ "$warning" -ge 1 ] &&
	ok "registry down: plan warns that it assumes the node's image, plans nothing" ||
	bad "plan with the registry down" "rc=$rc $(tail -n 3 "$WORK/err"; tail -n 3 "$WORK/out")"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
