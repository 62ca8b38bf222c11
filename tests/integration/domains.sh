#!/usr/bin/env bash
# tests/integration/domains.sh - domains: end to end on provider local: one
# node made a Docker host by the pipeline, two containers served by the
# node's domain proxy (Caddy, tls: internal) over HTTPS on its ports 80 and
# 443; a re-run that changes nothing, a route change reloaded in place (the
# proxy keeps its container), a start-first replacement under a stream of
# requests that all succeed, a domain taken away, the proxy removed with the
# last domain and made again with the same CA, validate's errors, destroy
# --volumes taking the proxy and its volume. Every check reads the --json
# events (pipeline/events.py), asks the node's engine, or talks HTTP(S) to
# the node; none measures time.
#
#   BOOTSTRAP=./bootstrap bash tests/integration/domains.sh
#
# BS_WRAP (valgrind ...) wraps every bootstrap run. Needs local/caddy:2
# (scripts/proxy-image.sh, from Debian's caddy package).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BOOTSTRAP=${BOOTSTRAP:-./bootstrap}
read -r -a WRAP <<<"${BS_WRAP:-}"
EVENTS="python3 tests/integration/pipeline/events.py"
. tests/lab/lab.sh

pass=0 fail=0
ok() { pass=$((pass + 1)); printf 'ok   %s\n' "$1"; }
bad() { fail=$((fail + 1)); printf 'FAIL %s\n' "$1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/     /'; }
give_up() { echo "$1"; echo "$pass passed, $((fail + 1)) failed"; exit 1; }
check() { # NAME COMMAND...: ok when COMMAND succeeds; else the last run's output
	local name=$1
	shift
	if "$@"; then ok "$name"; else bad "$name" "exit $rc; $(grep -v node_stage "$WORK/out" | tail -c 3000)
$(tail -c 2000 "$WORK/err")"; fi
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bootstrap-domains-test.XXXXXX")
PROJECT=dm$$
LAB="$WORK/lab"
R="$WORK/recipe.yaml"
LOAD='' rc=0
mkdir -p "$LAB"
cleanup() {
	local ids
	[ -n "$LOAD" ] && kill "$LOAD" 2>/dev/null
	ids=$(docker ps -aq --filter "label=io.bootstrap.project=$PROJECT" 2>/dev/null)
	[ -n "$ids" ] && docker rm -f -v $ids >/dev/null 2>&1
	ids=$(docker volume ls -q --filter "label=io.bootstrap.project=$PROJECT" 2>/dev/null)
	[ -n "$ids" ] && docker volume rm -f $ids >/dev/null 2>&1
	lab_down
	rm -rf "$WORK"
}
trap cleanup EXIT
lab_dockerd || give_up "no Docker engine"
bash scripts/node-image.sh >/dev/null || give_up "no node image (make node-image)"
bash scripts/demo-image.sh 2>/dev/null || give_up "no local/busybox:1 (scripts/demo-image.sh)"
bash scripts/proxy-image.sh >/dev/null || give_up "no local/caddy:2 (scripts/proxy-image.sh)"
export BOOTSTRAP_DIR="$WORK/state" HOME="$WORK/home"
mkdir -p "$HOME"
unset SSH_AUTH_SOCK DOCKER_HOST
ssh-keygen -q -t ed25519 -N '' -f "$WORK/key" || give_up "ssh-keygen"
T0=$SECONDS

# ---- the recipe ----------------------------------------------------------
# DOMAINS=off drops the domains: section and the proxy's image; an empty
# WEB_DOMAIN or API_EXPOSE drops that key (and web's expose with its domain);
# STATIC_PORT set: the same project on the same node, as provider static
DOMAINS=on WEB_DOMAIN=shop.example.test API_EXPOSE=8080 WEB_GREETING="web v1" STATIC_PORT=
TLS=internal # files: the certificate $WORK/tls.crt and key $WORK/tls.key
WEB_REPLICAS=1 WEB_HEALTH=good
recipe() {
	local serve="[\"sh\", \"-c\", \"trap 'exit 0' TERM; echo \\\"\$\$GREETING\\\" >/www/index.html; httpd -f -p 8080 -h /www & wait\"]"
	{
		cat <<EOF
version: 1
project: $PROJECT
EOF
		if [ -n "$STATIC_PORT" ]; then
			cat <<EOF
provider: {type: static}
ssh: {user: root, key: $WORK/key, host_keys: accept-new, wait_timeout: 60s}
nodes:
  - {name: node-1, address: 127.0.0.1, port: $STATIC_PORT}
EOF
		else
			cat <<EOF
provider: {type: local, image: bootstrap/node:bookworm}
ssh: {key: $WORK/key, host_keys: accept-new, wait_timeout: 60s}
nodes:
  - {name: node, count: 1}
EOF
		fi
		if [ "$DOMAINS" = on ]; then
			cat <<EOF
domains:
  base: apps.test
  tls: $TLS
  proxy: "local/caddy:2"
EOF
			[ "$TLS" = files ] && printf '  cert: %s\n  key: %s\n' "$WORK/tls.crt" "$WORK/tls.key"
		fi
		echo "images:"
		[ "$DOMAINS" = on ] && echo '  - {name: "local/caddy:2", pull: never}'
		cat <<EOF
  - {name: "local/busybox:1", pull: never}
containers:
  - name: web
    image: local/busybox:1
    command: $serve
    environment: {GREETING: "$WEB_GREETING"}
    replicas: $WEB_REPLICAS
    healthcheck: {test: $(if [ "$WEB_HEALTH" = good ]; then echo '[CMD, wget, -qO-, "http://127.0.0.1:8080/"]'; else echo '[CMD, "false"]'; fi), interval: 1s, timeout: 2s, retries: 3}
EOF
		[ -n "$WEB_DOMAIN" ] && printf '    expose: 8080\n    domain: %s\n' "$WEB_DOMAIN"
		cat <<EOF
  - name: api
    image: local/busybox:1
    command: $serve
    environment: {GREETING: "api v1"}
EOF
		[ -n "$API_EXPOSE" ] && printf '    expose: %s\n' "$API_EXPOSE"
		echo "prune: true"
	} >"$R"
}

# ---- running bootstrap -----------------------------------------------------
bs() { # ARGS...: one bounded run; $rc, $WORK/out (JSON lines), $WORK/err
	timeout 900 "${WRAP[@]}" "$BOOTSTRAP" "$@" >"$WORK/out" 2>"$WORK/err"
	rc=$?
	if grep -qE '^==[0-9]+==|runtime error:' "$WORK/err"; then
		bad "a sanitizer or valgrind report" "$(grep -E -A 12 '^==[0-9]+==|runtime error:' "$WORK/err" | head -n 40)"
	fi
}
summary() { $EVENTS summary "$WORK/out"; }
count() { $EVENTS count "$WORK/out" "$@"; }
get() { $EVENTS get "$WORK/out" "$@"; }
counts_are() { # EXIT K=V...
	local want_rc=$1 kv s
	shift
	[ "$rc" = "$want_rc" ] || return 1
	s=" $(summary) "
	for kv in "$@"; do [[ $s == *" $kv "* ]] || return 1; done
}
NO_CHANGE="created=0 replaced=0 updated=0 started=0 removed=0 other=0 failed=0"
phase() { echo "-- $1 ($((SECONDS - T0)) s)"; }
# apply: bs apply --json, then the node's audit lines written during the run
# must be one per action it reported (a reload among them)
audit_lines() { docker exec "$PROJECT-node-1" sh -c 'cat /var/lib/bootstrap/audit.log 2>/dev/null | wc -l' 2>/dev/null || echo 0; }
apply() {
	local before verdict
	before=$(audit_lines)
	bs apply --json "$R"
	docker exec "$PROJECT-node-1" cat /var/lib/bootstrap/audit.log 2>/dev/null | tail -n +"$((before + 1))" >"$WORK/audit-delta"
	verdict=$($EVENTS audit "$WORK/out" node-1 "$WORK/audit-delta")
	[ "$verdict" = ok ] || bad "audit log of node-1 after this apply" "$verdict"
}

# ---- looking at the node ---------------------------------------------------
inner() { docker exec "$PROJECT-node-1" docker "$@"; } # DOCKER_ARGS... on the node's engine
node_ip() { docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$PROJECT-node-1" 2>/dev/null; }
id_of() { inner inspect -f '{{.Id}}' "$1" 2>/dev/null; } # CONTAINER
names() { inner ps -a --filter "label=io.bootstrap.project=$PROJECT" --format '{{.Names}}' 2>/dev/null | sort | tr '\n' ' '; }
routes() { inner exec "$PROJECT-proxy" cat /etc/caddy/Caddyfile 2>/dev/null; }
https_get() { # DOMAIN: the body of GET https://DOMAIN/ from the node's proxy, trusting its CA only
	curl -fsS --max-time 5 --cacert "$WORK/root.crt" --resolve "$1:443:$NODE_IP" "https://$1/" 2>/dev/null
}
answers() { # DOMAIN WANT: GET https://DOMAIN/ gives WANT (bounded: a new site's
	local got end=$((SECONDS + 60)) # certificate is issued after the reload)
	until got=$(https_get "$1") && [ "$got" = "$2" ]; do
		[ $SECONDS -ge $end ] && { echo "https://$1/ answers '$got'" >>"$WORK/err"; return 1; }
		sleep 0.5
	done
}
refuses() { # DOMAIN NOT CONTROL WANT: GET https://DOMAIN/ fails or gives something
	local got # other than NOT; first, as a positive control, https://CONTROL/ answers
	# WANT from the same proxy (else a proxy that is down would pass)
	if ! answers "$3" "$4"; then
		echo "the control https://$3/ does not answer '$4': the proxy is not up, nothing is proven" >>"$WORK/err"
		return 1
	fi
	got=$(https_get "$1")
	echo "https://$1/ answers '$got' (the control https://$3/ answered '$4')" >>"$WORK/err"
	[ "$got" != "$2" ]
}
via_shop() { # SCHEME HOST: the body of GET SCHEME://shop.example.test/ sent with
	local port=443 # Host: HOST (no certificate check), then its HTTP code
	[ "$1" = http ] && port=80
	curl -sk --max-time 5 --resolve "shop.example.test:$port:$NODE_IP" -H "Host: $2" \
		-w ' HTTP %{http_code}' "$1://shop.example.test/" 2>&1
}
neither() { # CONTROL_SCHEME CONTROL_WANT SCHEME: the proxy answers shop.example.test
	local control got # over CONTROL_SCHEME as CONTROL_WANT (a glob: the positive
	# control), then an unknown Host over SCHEME gets neither web's nor api's answer
	control=$(via_shop "$1" shop.example.test)
	got=$(via_shop "$3" nobody.example.test)
	echo "control $1 shop.example.test: '$control'; $3 nobody.example.test: '$got'" >>"$WORK/err"
	# shellcheck disable=SC2053 # $2 is a glob on purpose
	[[ $control == $2 ]] && [[ $got != *"web v1"* && $got != *"api v1"* ]]
}
fetch_root() { # the proxy's internal CA root into $WORK/root.crt (bounded: made at start)
	local end=$((SECONDS + 60))
	until inner exec "$PROJECT-proxy" cat /data/caddy/pki/authorities/local/root.crt >"$WORK/root.crt" 2>/dev/null &&
		grep -q 'BEGIN CERTIFICATE' "$WORK/root.crt"; do
		[ $SECONDS -ge $end ] && { echo "no root.crt in $PROJECT-proxy" >>"$WORK/err"; return 1; }
		sleep 0.5
	done
}

# ---- validate: errors, no node needed --------------------------------------
phase "validate"
bad_recipe() { # FILE: a recipe header, then the containers on stdin
	{
		cat <<EOF
version: 1
project: dmbad
provider: {type: local, image: bootstrap/node:bookworm}
nodes:
  - {name: front, count: 1, labels: {role: front}}
  - {name: back, count: 1, labels: {role: back}}
EOF
		cat
	} >"$1"
}
errs_at() { # FILE KEYPATH PATTERN LINE_OF: exit 65, an error FILE:L:C: KEYPATH: ...PATTERN...
	# at the line of the recipe that first matches LINE_OF
	local line
	line=$(grep -n -m1 -- "$4" "$1" | cut -d: -f1)
	[ "$rc" = 65 ] && grep -qE "^$1:$line:[0-9]+: $2: .*$3" "$WORK/err"
}
V="$WORK/v.yaml"
bad_recipe "$V" <<EOF
domains: {tls: internal}
containers:
  - name: web
    image: local/busybox:1
    network: host
    expose: 8080
    domain: shop.example.test
EOF
bs validate "$V"
check "domain: with network: host: exit 65, the error at the domain (file:line:col)" \
	errs_at "$V" 'containers\[0\]\.domain' 'network: host' 'domain: shop'
bad_recipe "$V" <<EOF
containers:
  - name: api
    image: local/busybox:1
    expose: 8080
EOF
bs validate "$V"
check "expose: without a domain and without domains.base: exit 65, at the expose" \
	errs_at "$V" 'containers\[0\]\.expose' 'domain' 'expose: 8080'
bad_recipe "$V" <<EOF
containers:
  - name: web
    image: local/busybox:1
    expose: 8080
    domain: shop.example.test
  - name: edge
    image: local/busybox:1
    ports: ["80:8080"]
EOF
bs validate "$V"
check "a container publishing 80 on a node with a domain: exit 65, at its port" \
	errs_at "$V" 'containers\[1\]\.ports\[0\]' 'port 80' '80:8080'
bad_recipe "$V" <<EOF
containers:
  - name: web
    image: local/busybox:1
    nodes: [role=front]
    expose: 8080
    domain: shop.example.test
  - name: edge
    image: local/busybox:1
    nodes: [role=back]
    ports: ["80:8080", "443:8443"]
EOF
bs validate "$V"
check "... on another node than the domain's: valid (exit 0)" test "$rc" = 0
recipe
bs validate --json "$R"
check "the test's recipe is valid; api gets api.apps.test from domains.base" \
	bash -c '[ "$0" = 0 ] && grep -q "\"domain\":\"api.apps.test\"" "$1" && grep -q "\"domain\":\"shop.example.test\"" "$1"' "$rc" "$WORK/out"

# ---- from nothing ----------------------------------------------------------
phase "fresh apply: a node, web and api behind the proxy"
apply
check "apply from nothing: exit 0, web, api and the proxy created" counts_are 0 created=3 failed=0
check "... the proxy is among them ($PROJECT-proxy)" test "$(count action_done create "$PROJECT-proxy")" = 1
check "... no reload: a new proxy starts with its routes" test "$(count action_done reload)" = 0
NODE_IP=$(node_ip)
check "... the proxy: role label, on $PROJECT-net, $PROJECT-proxy-data at /data" \
	test "$(inner inspect -f '{{index .Config.Labels "io.bootstrap.role"}} {{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}{{range .Mounts}}{{.Name}}:{{.Destination}}{{end}}' "$PROJECT-proxy" 2>&1)" = "proxy $PROJECT-net $PROJECT-proxy-data:/data"
check "... publishing 80 and 443" \
	bash -c 'grep -q "^80/tcp -> 0.0.0.0:80$" <<<"$0" && grep -q "^443/tcp -> 0.0.0.0:443$" <<<"$0"' "$(inner port "$PROJECT-proxy" 2>&1)"
check "... its Caddyfile routes both domains by container name" \
	bash -c 'grep -q "^shop.example.test {" <<<"$0" && grep -q "^api.apps.test {" <<<"$0" && grep -q "reverse_proxy $1-web-1:8080 " <<<"$0" && grep -q "reverse_proxy $1-api-1:8080 " <<<"$0" && grep -q "tls internal" <<<"$0"' \
	"$(routes)" "$PROJECT"
check "... the internal CA's root can be copied out of the proxy" fetch_root
cp "$WORK/root.crt" "$WORK/root-first.crt"
check "https://shop.example.test/ (CA verified) answers web v1" answers shop.example.test "web v1"
check "https://api.apps.test/ answers api v1" answers api.apps.test "api v1"
check "http://shop.example.test/ redirects to https" \
	bash -c '[[ "$0" == 30[178]" https://shop.example.test/" ]]' \
	"$(curl -s -o /dev/null --max-time 5 -w '%{http_code} %{redirect_url}' --resolve "shop.example.test:80:$NODE_IP" http://shop.example.test/)"
check "shop's TLS answers web v1, and an unknown Host over it gets neither web nor api" \
	neither https "web v1"$'\n'" HTTP 200" https
check "an unknown name (TLS) gets no answer from a container (shop answers)" \
	refuses nobody.example.test "web v1" shop.example.test "web v1"
check "plain HTTP: shop redirects, an unknown Host gets neither" neither http "* HTTP 30[178]" http
PROXY_ID=$(id_of "$PROJECT-proxy")

phase "re-run: nothing to do"
apply
check "re-run: exit 0, nothing changed, 3 unchanged (the proxy among them)" counts_are 0 $NO_CHANGE unchanged=3
check "... no reload" bash -c '[ "$0" = 0 ] && [ "$1" = 0 ]' "$rc" "$(count action_started reload)"
check "... the proxy is the same container" test "$(id_of "$PROJECT-proxy")" = "$PROXY_ID"
bs plan --json --detailed-exitcode "$R"
check "plan --detailed-exitcode: exit 0, nothing to do" counts_are 0 $NO_CHANGE

# ---- a route change ----------------------------------------------------------
phase "route change: web's domain shop -> www"
WEB_DOMAIN=www.example.test
recipe
bs plan --json --detailed-exitcode "$R"
check "plan: exit 2, a reload of the proxy, nothing else" counts_are 2 updated=1 created=0 replaced=0 removed=0
check "... planned on $PROJECT-proxy: add www.example.test, remove shop.example.test" \
	bash -c '[ "$($0 count $1 action_planned reload "$2-proxy")" = 1 ] && r=$($0 get $1 reason action_planned reload) && [[ $r == *"add www.example.test"* && $r == *"remove shop.example.test"* ]]' \
	"$EVENTS" "$WORK/out" "$PROJECT"
apply
check "apply: exit 0, the proxy reloaded, no container made or replaced" counts_are 0 updated=1 created=0 replaced=0 removed=0 failed=0
check "... the reload event is on $PROJECT-proxy" test "$(count action_done reload "$PROJECT-proxy" node-1)" = 1
check "... the proxy is the same container" test "$(id_of "$PROJECT-proxy")" = "$PROXY_ID"
check "https://www.example.test/ answers web v1" answers www.example.test "web v1"
check "https://shop.example.test/ no longer answers web v1 (www does)" \
	refuses shop.example.test "web v1" www.example.test "web v1"
check "https://api.apps.test/ still answers api v1" answers api.apps.test "api v1"
apply
check "re-run: nothing changed" counts_are 0 $NO_CHANGE

# ---- a replacement under load ------------------------------------------------
phase "rolling update of web under a stream of requests"
load() { # DOMAIN FILE STOP: GET DOMAIN until STOP exists (at most 3000 times), a line each
	local i body
	for ((i = 0; i < 3000; i++)); do
		[ -e "$3" ] && break
		if body=$(https_get "$1"); then echo "ok $body"; else echo "fail $?"; fi >>"$2"
		sleep 0.05
	done
}
lines_at_least() { [ "$(wc -l <"$1")" -ge "$2" ]; } # FILE N
L="$WORK/load" STOP="$WORK/load.stop"
: >"$L"
load www.example.test "$L" "$STOP" &
LOAD=$!
lab_wait_until 30 lines_at_least "$L" 5
WEB_ID=$(id_of "$PROJECT-web-1")
WEB_GREETING="web v2"
recipe
apply
n=$(wc -l <"$L")
lab_wait_until 30 lines_at_least "$L" $((n + 5))
touch "$STOP"
wait "$LOAD"
LOAD=
check "apply: exit 0, web replaced for its environment" \
	bash -c '[ "$0" = 0 ] && [ "$($1 count $2 action_done replace "$3-web-1")" = 1 ] && $1 get $2 reason action_done replace "$3-web-1" | grep -q "environment.GREETING"' \
	"$rc" "$EVENTS" "$WORK/out" "$PROJECT"
check "... a new container" bash -c '[ -n "$0" ] && [ "$0" != "$1" ]' "$(id_of "$PROJECT-web-1")" "$WEB_ID"
check "... the proxy is the same container" test "$(id_of "$PROJECT-proxy")" = "$PROXY_ID"
echo "     $(wc -l <"$L") requests: $(grep -c '^ok web v1$' "$L") web v1, $(grep -c '^ok web v2$' "$L") web v2, $(grep -vc '^ok ' "$L") failed"
check "... no request failed during the replacement" \
	bash -c '! grep -v "^ok " "$0" >&2' "$L"
check "... the answers went from web v1 to web v2, never back" \
	test "$(sed -n 's/^ok //p' "$L" | uniq | tr '\n' '/')" = "web v1/web v2/"
check "... the last answer is web v2" test "$(tail -n 1 "$L")" = "ok web v2"
check "... the proxy routes web by name again (no address left from the switch)" \
	bash -c 'grep -q "reverse_proxy $1-web-1:8080 " <<<"$0" && ! grep -qE "reverse_proxy [0-9.]+:" <<<"$0"' "$(routes)" "$PROJECT"
check "... no container left over from the switch" \
	test "$(names)" = "$PROJECT-api-1 $PROJECT-proxy $PROJECT-web-1 "
apply
check "re-run after the update: nothing changed" counts_are 0 $NO_CHANGE

# ---- two replicas behind one domain -------------------------------------------
phase "web scaled to two replicas on the node"
WEB_REPLICAS=2
recipe
apply
check "apply: exit 0, web-2 created and the proxy reloaded, nothing else" \
	bash -c '[ "$0" = 0 ] && [ "$($1 count $2 action_done create "$3-web-2")" = 1 ] && [ "$($1 count $2 action_done reload "$3-proxy")" = 1 ] && [ "$($1 count $2 action_done)" = 2 ]' \
	"$rc" "$EVENTS" "$WORK/out" "$PROJECT"
check "... the proxy sends www.example.test to both" \
	bash -c 'grep -q "reverse_proxy $1-web-1:8080 $1-web-2:8080 " <<<"$0"' "$(routes)" "$PROJECT"
check "https://www.example.test/ answers web v2" answers www.example.test "web v2"

under_load() { # the recipe written and applied while www.example.test is asked
	recipe
	: >"$L"
	rm -f "$STOP"
	load www.example.test "$L" "$STOP" &
	LOAD=$!
	lab_wait_until 30 lines_at_least "$L" 5
	apply
	n=$(wc -l <"$L")
	lab_wait_until 30 lines_at_least "$L" $((n + 5))
	touch "$STOP"
	wait "$LOAD"
	LOAD=
	echo "     $(wc -l <"$L") requests, $(grep -vc '^ok ' "$L") failed: $(sed -n 's/^ok //p' "$L" | uniq -c | tr -s ' \n' ' ')"
}
phase "both replicas rolled under requests"
WEB_GREETING="web v3"
under_load
check "apply: exit 0, web-1 and web-2 replaced" \
	bash -c '[ "$0" = 0 ] && [ "$($1 count $2 action_done replace)" = 2 ]' "$rc" "$EVENTS" "$WORK/out"
check "... no request failed" bash -c '! grep -v "^ok " "$0" >&2' "$L"
check "... the last answer is web v3" test "$(tail -n 1 "$L")" = "ok web v3"
check "... both by name again" \
	bash -c 'grep -q "reverse_proxy $1-web-1:8080 $1-web-2:8080 " <<<"$0" && ! grep -qE "reverse_proxy [0-9.]+:| [0-9.]+:8080" <<<"$0"' "$(routes)" "$PROJECT"

phase "an update that fails its healthcheck, under requests"
WEB_GREETING="web v4" WEB_HEALTH=bad
under_load
check "apply: fails (the new container is unhealthy)" test "$rc" != 0
check "... no request failed" bash -c '! grep -v "^ok " "$0" >&2' "$L"
check "... every answer is web v3 (the old containers serve on)" \
	test "$(sed -n 's/^ok //p' "$L" | sort -u)" = "web v3"
check "... the proxy routes both by name (the switch undone)" \
	bash -c 'grep -q "reverse_proxy $1-web-1:8080 $1-web-2:8080 " <<<"$0" && ! grep -qE " [0-9.]+:8080" <<<"$0"' "$(routes)" "$PROJECT"
check "... no container left over" test "$(names)" = "$PROJECT-api-1 $PROJECT-proxy $PROJECT-web-1 $PROJECT-web-2 "
WEB_GREETING="web v3" WEB_HEALTH=good
recipe
apply
check "the recipe back as it was: nothing changed" counts_are 0 $NO_CHANGE

phase "back to one replica of web v2, under requests"
WEB_GREETING="web v2" WEB_REPLICAS=1
under_load
check "apply: exit 0, web-2 removed, web-1 replaced, one reload" \
	bash -c '[ "$0" = 0 ] && [ "$($1 count $2 action_done remove "$3-web-2")" = 1 ] && [ "$($1 count $2 action_done replace "$3-web-1")" = 1 ] && [ "$($1 count $2 action_done reload)" -ge 1 ]' \
	"$rc" "$EVENTS" "$WORK/out" "$PROJECT"
check "... no request failed (web-2 left the routes before it went)" bash -c '! grep -v "^ok " "$0" >&2' "$L"
check "... the last answer is web v2" test "$(tail -n 1 "$L")" = "ok web v2"
check "... no container left over" test "$(names)" = "$PROJECT-api-1 $PROJECT-proxy $PROJECT-web-1 "
apply
check "re-run: nothing changed" counts_are 0 $NO_CHANGE

# ---- a domain taken away -----------------------------------------------------
phase "api loses its domain (expose removed)"
API_ID=$(id_of "$PROJECT-api-1")
API_EXPOSE=
recipe
apply
check "apply: exit 0, the proxy reloaded (remove api.apps.test), api kept as it is" \
	bash -c '[ "$0" = 0 ] && [ "$($1 count $2 action_done reload "$3-proxy")" = 1 ] && $1 get $2 reason action_done reload | grep -q "remove api.apps.test"' \
	"$rc" "$EVENTS" "$WORK/out" "$PROJECT"
check "... nothing else changed" counts_are 0 updated=1 created=0 replaced=0 removed=0 failed=0
check "... api runs, the same container" \
	test "$(inner inspect -f '{{.Id}} {{.State.Running}}' "$PROJECT-api-1" 2>&1)" = "$API_ID true"
check "... the proxy is the same container" test "$(id_of "$PROJECT-proxy")" = "$PROXY_ID"
check "https://api.apps.test/ no longer answers api v1 (www does)" \
	refuses api.apps.test "api v1" www.example.test "web v2"
check "https://www.example.test/ still answers web v2" answers www.example.test "web v2"

# ---- the last domain goes ------------------------------------------------------
phase "no domain left: the proxy goes"
WEB_ID=$(id_of "$PROJECT-web-1")
WEB_DOMAIN='' DOMAINS=off
recipe
apply
check "apply: exit 0, $PROJECT-proxy removed, nothing else" \
	bash -c '[ "$0" = 0 ] && [ "$($1 count $2 action_done remove "$3-proxy")" = 1 ] && [ "$($1 count $2 action_done)" = 1 ]' \
	"$rc" "$EVENTS" "$WORK/out" "$PROJECT"
check "... no proxy container on the node" test "$(names)" = "$PROJECT-api-1 $PROJECT-web-1 "
check "... web still runs, the same container" \
	test "$(inner inspect -f '{{.Id}} {{.State.Running}}' "$PROJECT-web-1" 2>&1)" = "$WEB_ID true"
check "... the proxy's volume (its CA and certificates) is kept" bash -c 'docker exec "$0" docker volume inspect "$1" >/dev/null 2>&1' \
	"$PROJECT-node-1" "$PROJECT-proxy-data"
apply
check "re-run: nothing changed" counts_are 0 $NO_CHANGE

phase "domains back: a new proxy, the same CA"
WEB_DOMAIN=www.example.test DOMAINS=on API_EXPOSE=8080
recipe
apply
check "apply: exit 0, the proxy created again" \
	bash -c '[ "$0" = 0 ] && [ "$($1 count $2 action_done create "$3-proxy")" = 1 ]' "$rc" "$EVENTS" "$WORK/out" "$PROJECT"
fetch_root
check "... the same CA root as the first proxy's (kept in its volume)" cmp -s "$WORK/root-first.crt" "$WORK/root.crt"
check "https://www.example.test/ answers web v2 (the old root trusted)" answers www.example.test "web v2"
check "https://api.apps.test/ answers api v1" answers api.apps.test "api v1"

phase "the proxy stopped by hand while a route changes"
inner stop "$PROJECT-proxy" >/dev/null
PROXY_ID=$(id_of "$PROJECT-proxy")
WEB_DOMAIN=www2.example.test
recipe
apply
check "apply: exit 0, the proxy started with its new routes (no reload into a proxy not yet up)" \
	bash -c '[ "$0" = 0 ] && [ "$($1 count $2 action_done start "$3-proxy")" = 1 ] && [ "$($1 count $2 action_done reload "$3-proxy")" = 1 ]' \
	"$rc" "$EVENTS" "$WORK/out" "$PROJECT"
check "... the same proxy container" test "$(id_of "$PROJECT-proxy")" = "$PROXY_ID"
check "https://www2.example.test/ answers web v2" answers www2.example.test "web v2"
WEB_DOMAIN=www.example.test
recipe
apply
check "the domain back: a reload" \
	bash -c '[ "$0" = 0 ] && [ "$($1 count $2 action_done reload "$3-proxy")" = 1 ]' "$rc" "$EVENTS" "$WORK/out" "$PROJECT"
check "https://www.example.test/ answers web v2" answers www.example.test "web v2"

# ---- tls: files ----------------------------------------------------------------
phase "tls: files: the recipe's own certificate, by reload"
selfsigned() { # a certificate for both names into $WORK/tls.crt, its key into tls.key
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$1" \
		-subj /CN=www.example.test -addext "subjectAltName=DNS:www.example.test,DNS:api.apps.test" \
		-keyout "$WORK/tls.key" -out "$WORK/tls.crt" 2>/dev/null || give_up "openssl req"
}
selfsigned 2
PROXY_ID=$(id_of "$PROJECT-proxy")
TLS=files
recipe
apply
check "apply: exit 0, a reload and nothing else" \
	bash -c '[ "$0" = 0 ] && [ "$($1 count $2 action_done reload "$3-proxy")" = 1 ] && [ "$($1 count $2 action_done)" = 1 ]' \
	"$rc" "$EVENTS" "$WORK/out" "$PROJECT"
check "... the same proxy container" test "$(id_of "$PROJECT-proxy")" = "$PROXY_ID"
check "... the key is in no output" bash -c '! grep -qF "$(sed -n 2p "$0")" "$1" "$2"' "$WORK/tls.key" "$WORK/out" "$WORK/err"
check "... the key file in the proxy is its owner's only" \
	bash -c '[[ "$0" == "-rw------- "* ]]' "$(inner exec "$PROJECT-proxy" ls -ln /data/bootstrap-key.pem 2>&1)"
cp "$WORK/tls.crt" "$WORK/root.crt"
check "https://www.example.test/ answers web v2, verified with the recipe's certificate" answers www.example.test "web v2"
check "https://api.apps.test/ too" answers api.apps.test "api v1"
apply
check "re-run: nothing changed" counts_are 0 $NO_CHANGE
selfsigned 3
apply
check "a new certificate: a reload" \
	bash -c '[ "$0" = 0 ] && [ "$($1 count $2 action_done reload "$3-proxy")" = 1 ]' "$rc" "$EVENTS" "$WORK/out" "$PROJECT"
cp "$WORK/tls.crt" "$WORK/root.crt"
check "... served: verified with the new certificate" answers www.example.test "web v2"
TLS=internal

# ---- destroy -------------------------------------------------------------------
# provider local's destroy removes the node container with all on it; to see
# what destroy removes on a host, the same project as provider static
phase "destroy --volumes on a host that stays (provider static)"
STATIC_PORT=$(docker port "$PROJECT-node-1" 22/tcp | head -n 1 | sed 's/.*://')
recipe
bs destroy --volumes --json "$R"
check "destroy --volumes: exit 0, the proxy and its volume removed" \
	bash -c '[ "$0" = 0 ] && [ "$($1 count $2 action_done remove "$3-proxy")" = 1 ] && [ "$($1 count $2 action_done remove-volume "$3-proxy-data")" = 1 ]' \
	"$rc" "$EVENTS" "$WORK/out" "$PROJECT"
check "... no container of the project on the node" test -z "$(names)"
check "... no $PROJECT-proxy-data volume" bash -c '! docker exec "$0" docker volume inspect "$1" >/dev/null 2>&1' \
	"$PROJECT-node-1" "$PROJECT-proxy-data"
STATIC_PORT=
recipe
bs destroy --json "$R"
check "destroy (provider local): exit 0, the node container is gone" \
	bash -c '[ "$0" = 0 ] && [ -z "$(docker ps -aq --filter "label=io.bootstrap.project=$1")" ]' "$rc" "$PROJECT"

echo "domains: $((SECONDS - T0)) s"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
