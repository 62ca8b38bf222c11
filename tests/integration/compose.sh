#!/usr/bin/env bash
# tests/integration/compose.sh - compose: end to end on local nodes (node
# containers with systemd and Docker, reached over SSH). Three compose
# projects of different shapes (tests/compose/README.md) go through
# docker-compose's own check, validate, plan and apply; then:
#   - every service runs, and does its job (the app reads the database by
#     name, the proxy serves its bind-mounted site, the built api says what
#     it was built with and that its token came);
#   - a bind-mounted file's content is on the node and in the container;
#   - a secret is mode 0600 on the node and in the container;
#   - the start order was kept (depends_on: started, healthy, completed),
#     across nodes too;
#   - a re-run is a no-op (plan --detailed-exitcode 0, apply changes nothing);
#   - an edited bind-mounted file (or secret) replaces exactly the services
#     that mount it;
#   - destroy leaves nothing.
#
#   BOOTSTRAP=./bootstrap bash tests/integration/compose.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
BOOTSTRAP=${BOOTSTRAP:-./bootstrap}
read -r -a WRAP <<<"${BS_WRAP:-}"
. tests/lab/lab.sh
. tests/lab/skip.sh
EVENTS="python3 tests/integration/pipeline/events.py"

pass=0 fail=0
ok() { pass=$((pass + 1)); printf 'ok   %s\n' "$1"; }
bad() { fail=$((fail + 1)); printf 'FAIL %s\n' "$1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/     /'; }
give_up() { echo "$1"; echo "$pass passed, $((fail + 1)) failed"; exit 1; }
check() { # NAME COMMAND...: ok when the command succeeds
	local name=$1
	shift
	if "$@"; then ok "$name"; else bad "$name" "exit $rc: $(grep -hE 'error|failed|skipped' "$WORK/out" "$WORK/err" | tail -n 8)"; fi
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bootstrap-compose-test.XXXXXX")
ID=$$
LAB="$WORK/lab"
mkdir -p "$LAB"
PROJECTS="cw$ID cp$ID cb$ID"
cleanup() {
	local p ids
	for p in $PROJECTS; do
		ids=$(docker ps -aq --filter "label=io.bootstrap.project=$p" 2>/dev/null)
		[ -n "$ids" ] && docker rm -f -v $ids >/dev/null 2>&1
		ids=$(docker volume ls -q --filter "label=io.bootstrap.project=$p" 2>/dev/null)
		[ -n "$ids" ] && docker volume rm -f $ids >/dev/null 2>&1
	done
	lab_down
	rm -rf "$WORK"
}
trap cleanup EXIT
lab_dockerd || give_up "no Docker engine"
bash scripts/node-image.sh >/dev/null || give_up "no node image (make node-image)"
LAB_IMAGE=local/busybox:1 lab_busybox_image || give_up "no local/busybox:1"
export BOOTSTRAP_DIR="$WORK/state" HOME="$WORK/home"
mkdir -p "$HOME"
unset SSH_AUTH_SOCK
ssh-keygen -q -t ed25519 -N '' -f "$WORK/key" || give_up "ssh-keygen"

# the projects, copied: the tests edit their files
cp -r tests/compose "$WORK/compose"
mkdir -p "$WORK/compose/build-secret/api/rootfs/bin"
cp /bin/busybox "$WORK/compose/build-secret/api/rootfs/bin/busybox"
printf 'a log line\n' >"$WORK/compose/build-secret/api/debug.log"

# ---- they are compose files --------------------------------------------
if command -v docker-compose >/dev/null; then
	for d in webapp-db proxy build-secret; do
		if (cd "$WORK/compose/$d" && docker-compose config -q) >"$WORK/dc.err" 2>&1; then
			ok "docker-compose config accepts $d/compose.yaml"
		else
			bad "docker-compose config accepts $d/compose.yaml" "$(cat "$WORK/dc.err")"
		fi
	done
else
	bs_skip compose-docker-compose "docker-compose is not installed (apt-get install docker-compose)" ||
		fail=$((fail + 1))
fi

# ---- running bootstrap -------------------------------------------------
bs() { # ARGS...: one bounded run; $rc, $WORK/out, $WORK/err
	timeout 900 "${WRAP[@]}" "$BOOTSTRAP" "$@" >"$WORK/out" 2>"$WORK/err"
	rc=$?
	cat "$WORK/out" "$WORK/err" >>"$WORK/all-output"
	if grep -qE '^==[0-9]+==|runtime error:' "$WORK/err"; then
		bad "a sanitizer or valgrind report" "$(grep -E -A 12 '^==[0-9]+==|runtime error:' "$WORK/err" | head -n 40)"
	fi
}
summary() { $EVENTS summary "$WORK/out"; }
counts_are() { # EXIT K=V...
	local want=$1 kv s
	shift
	[ "$rc" = "$want" ] || return 1
	s=" $(summary) "
	for kv in "$@"; do [[ $s == *" $kv "* ]] || return 1; done
}
NO_CHANGE="created=0 replaced=0 updated=0 started=0 removed=0 other=0 failed=0"

recipe() { # PROJECT DIR NODES [SERVICES_YAML]
	cat >"$WORK/compose/$2.yaml" <<EOF
version: 1
project: $1
provider: {type: local, image: bootstrap/node:bookworm}
ssh: {key: $WORK/key, wait_timeout: 60s}
nodes:
  - {name: node, count: $3}
images:
  - {name: local/busybox:1, pull: never}
compose: $2/compose.yaml
${4:-}
EOF
	R="$WORK/compose/$2.yaml"
}
inner() { docker exec "$P-$1" docker "${@:2}"; } # NODE DOCKER_ARGS...
running() { # NODE NAME: the container is running on the node
	[ "$(inner "$1" inspect -f '{{.State.Running}}' "$2" 2>/dev/null)" = true ]
}
cid() { inner "$1" inspect -f '{{.Id}}' "$2" 2>/dev/null; }
started() { inner "$1" inspect -f '{{.State.StartedAt}}' "$2"; }
# the first time the container's health check passed (RFC 3339 from its log)
healthy_at() { # NODE NAME
	inner "$1" inspect -f '{{range .State.Health.Log}}{{if eq .ExitCode 0}}{{.End}}{{"\n"}}{{end}}{{end}}' "$2" | head -n 1
}
secs() { date -d "${1% UTC}" +%s.%N; } # RFC 3339, or Go's "... +0000 UTC"
later() { # T1 T2: both known, and T1 is not before T2
	local a b
	a=$(secs "$1") && b=$(secs "$2") && [ -n "$a" ] && [ -n "$b" ] || return 1
	awk -v a="$a" -v b="$b" 'BEGIN { exit !(a >= b) }'
}
# GET / from the node's loopback PORT (the node has bash, not curl)
node_get() { # NODE PORT
	docker exec "$P-$1" timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$2 && printf 'GET / HTTP/1.0\r\n\r\n' >&3 && sed '1,/^\r\?\$/d' <&3" 2>/dev/null
}
mount_source() { # NODE NAME TARGET
	inner "$1" inspect -f "{{range .Mounts}}{{if eq .Destination \"$3\"}}{{.Source}}{{end}}{{end}}" "$2"
}
noop() { # WHAT: plan says no change, apply changes nothing
	bs plan --json --detailed-exitcode "$R"
	check "$1: plan --detailed-exitcode says no change" counts_are 0 $NO_CHANGE
	bs apply --json "$R"
	check "$1: a re-run changes nothing" counts_are 0 $NO_CHANGE
}
destroy() { # WHAT
	bs destroy "$R"
	if [ "$rc" = 0 ] && [ -z "$(docker ps -aq --filter "label=io.bootstrap.project=$P")" ]; then
		ok "$1: destroy leaves nothing"
	else
		bad "$1: destroy leaves nothing" "exit $rc: $(tail -n 5 "$WORK/err")"
	fi
}

# ---- a web app and its database ------------------------------------------
P=cw$ID
recipe "$P" webapp-db 1
bs validate "$R"
check "webapp-db: valid" grep -q 'valid (1 node, 2 containers' "$WORK/out"
bs plan --json --detailed-exitcode "$R"
check "webapp-db: plan creates both services" counts_are 2 created=2
bs apply --json "$R"
check "webapp-db: apply" counts_are 0 created=2 failed=0
for s in app db; do
	running node-1 "$P-$s-1" && ok "webapp-db: $s runs" || bad "webapp-db: $s runs" "$(inner node-1 ps -a)"
done
inner node-1 volume inspect "$P-db-data" >/dev/null 2>&1 && ok "webapp-db: the named volume is $P-db-data" ||
	bad "webapp-db: the named volume is $P-db-data" "$(inner node-1 volume ls)"
page=""
for _ in $(seq 1 30); do
	page=$(node_get node-1 8081)
	[ -n "$page" ] && break
	sleep 1
done
[[ $page == "todos created "* ]] && ok "webapp-db: the app serves what it read from db by name" ||
	bad "webapp-db: the app serves what it read from db by name" "got '$page'"
later "$(started node-1 "$P-app-1")" "$(started node-1 "$P-db-1")" &&
	ok "webapp-db: app started after db (depends_on)" ||
	bad "webapp-db: app started after db" "app $(started node-1 "$P-app-1"), db $(started node-1 "$P-db-1")"
noop webapp-db
destroy webapp-db

# ---- a reverse proxy with a bind-mounted configuration ---------------------
P=cp$ID
recipe "$P" proxy 1
bs validate "$R"
check "proxy: valid" grep -q 'valid (1 node, 2 containers' "$WORK/out"
bs plan --json --detailed-exitcode "$R"
check "proxy: plan creates both services" counts_are 2 created=2
bs apply --json "$R"
check "proxy: apply" counts_are 0 created=2 failed=0
for s in proxy backend; do
	running node-1 "$P-$s-1" && ok "proxy: $s runs" || bad "proxy: $s runs" "$(inner node-1 ps -a)"
done
src=$(mount_source node-1 "$P-proxy-1" /etc/httpd.conf)
case $src in
/var/lib/bootstrap/files/$P/*/httpd.conf) ok "proxy: httpd.conf is mounted from $src" ;;
*) bad "proxy: httpd.conf mounted from the project's files" "source '$src'" ;;
esac
if docker exec "$P-node-1" cat "$src" 2>/dev/null | cmp -s - "$WORK/compose/proxy/httpd.conf" &&
	inner node-1 exec "$P-proxy-1" cat /etc/httpd.conf | cmp -s - "$WORK/compose/proxy/httpd.conf"; then
	ok "proxy: the file's content is on the node and in the container"
else
	bad "proxy: the file's content is on the node and in the container"
fi
page=$(node_get node-1 8082)
[ "$page" = "<h1>served through the proxy</h1>" ] && ok "proxy: serves the bind-mounted site directory" ||
	bad "proxy: serves the bind-mounted site directory" "got '$page'"
noop proxy
proxy_id=$(cid node-1 "$P-proxy-1")
backend_id=$(cid node-1 "$P-backend-1")
printf '# edited\nA:*\n' >"$WORK/compose/proxy/httpd.conf"
bs apply --json "$R"
check "proxy: after editing httpd.conf, one replacement" counts_are 0 replaced=1 created=0 failed=0
[ -n "$proxy_id" ] && [ -n "$(cid node-1 "$P-proxy-1")" ] && [ "$(cid node-1 "$P-proxy-1")" != "$proxy_id" ] &&
	[ -n "$backend_id" ] && [ "$(cid node-1 "$P-backend-1")" = "$backend_id" ] &&
	ok "proxy: ... the proxy was replaced, the backend kept" ||
	bad "proxy: ... the proxy was replaced, the backend kept"
inner node-1 exec "$P-proxy-1" cat /etc/httpd.conf | grep -q '^# edited$' &&
	ok "proxy: ... and reads the edited file" || bad "proxy: ... and reads the edited file"
[ "$(docker exec "$P-node-1" sh -c "ls /var/lib/bootstrap/files/$P | wc -l")" = 2 ] &&
	ok "proxy: ... the old copy is gone (the site and the new file remain)" ||
	bad "proxy: ... the old copy is gone" "$(docker exec "$P-node-1" ls -R /var/lib/bootstrap/files/$P)"
noop "proxy after the edit"
destroy proxy
docker exec "$P-node-1" true 2>/dev/null && bad "proxy: the node is gone" || ok "proxy: the node is gone"

# ---- a built api with a secret, started after its dependencies --------------
P=cb$ID
recipe "$P" build-secret 2 "services:
  cache: {nodes: [node-1]}
  migrate: {nodes: [node-1]}
  api: {nodes: [node-2]}"
bs validate "$R"
check "build-secret: valid" grep -q 'valid (2 nodes, 3 containers, 2 images)' "$WORK/out"
bs plan --json --detailed-exitcode "$R"
check "build-secret: plan creates the three services" counts_are 2 created=3
bs apply --json "$R"
check "build-secret: apply" counts_are 0 failed=0
for s in cache; do
	running node-1 "$P-$s-1" && ok "build-secret: $s runs on node-1" || bad "build-secret: $s runs on node-1" "$(inner node-1 ps -a)"
done
[ "$(inner node-1 inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$P-migrate-1")" = "exited 0" ] &&
	ok "build-secret: migrate ran to its end on node-1" || bad "build-secret: migrate ran to its end" "$(inner node-1 ps -a)"
running node-2 "$P-api-1" && ok "build-secret: api runs on node-2" || bad "build-secret: api runs on node-2" "$(inner node-2 ps -a)"
page=""
for _ in $(seq 1 20); do
	page=$(node_get node-2 8083)
	[ -n "$page" ] && break
	sleep 1
done
[ "$page" = "hello from the api
token: present" ] && ok "build-secret: the api was built with its argument and has its token" ||
	bad "build-secret: the api was built with its argument and has its token" "got '$page'"
ls=$(inner node-2 exec "$P-api-1" ls /src)
[[ $ls == *serve.sh* && $ls != *notes.md* && $ls != *debug.log* ]] &&
	ok "build-secret: the context honoured .dockerignore" || bad "build-secret: the context honoured .dockerignore" "$ls"
src=$(mount_source node-2 "$P-api-1" /run/secrets/api-token)
[ "$(docker exec "$P-node-2" stat -c %a "$src" 2>/dev/null)" = 600 ] &&
	[ "$(inner node-2 exec "$P-api-1" stat -c %a /run/secrets/api-token)" = 600 ] &&
	ok "build-secret: the secret is mode 0600 on the node and in the container" ||
	bad "build-secret: the secret is mode 0600" "$src: $(docker exec "$P-node-2" stat -c %a "$src" 2>&1)"
api_start=$(started node-2 "$P-api-1")
later "$api_start" "$(healthy_at node-1 "$P-cache-1")" &&
	ok "build-secret: api (node-2) started after cache (node-1) was healthy" ||
	bad "build-secret: api started after cache was healthy" "api $api_start, cache healthy $(healthy_at node-1 "$P-cache-1")"
later "$api_start" "$(inner node-1 inspect -f '{{.State.FinishedAt}}' "$P-migrate-1")" &&
	ok "build-secret: api started after migrate completed" ||
	bad "build-secret: api started after migrate completed"
image_id=$(inner node-2 inspect -f '{{.Image}}' "$P-api-1")
noop build-secret
[ -n "$image_id" ] && [ "$(inner node-2 inspect -f '{{.Image}}' "$P-api-1")" = "$image_id" ] &&
	ok "build-secret: an unchanged context is not rebuilt" || bad "build-secret: an unchanged context is not rebuilt"
cache_id=$(cid node-1 "$P-cache-1")
api_id=$(cid node-2 "$P-api-1")
printf 'tok-rotated\n' >"$WORK/compose/build-secret/secrets/api-token.txt"
bs apply --json "$R"
check "build-secret: after rotating the secret file, one replacement" counts_are 0 replaced=1 failed=0
[ -n "$api_id" ] && [ -n "$(cid node-2 "$P-api-1")" ] && [ "$(cid node-2 "$P-api-1")" != "$api_id" ] &&
	[ -n "$cache_id" ] && [ "$(cid node-1 "$P-cache-1")" = "$cache_id" ] &&
	ok "build-secret: ... the api was replaced, the cache kept" ||
	bad "build-secret: ... the api was replaced, the cache kept"
destroy build-secret
if grep -q -e tok-3f9a2c71 -e tok-rotated "$WORK/all-output"; then
	bad "the secret's content is in no output of any run" "$(grep -n -e tok-3f9a2c71 -e tok-rotated "$WORK/all-output" | head -3)"
else
	ok "the secret's content is in no output of any run"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
