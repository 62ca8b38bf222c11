#!/usr/bin/env bash
# tests/fakes/fakes_selftest.sh - the fake clouds (hetzner_api.py and
# digitalocean_api.py) driven with curl and ssh: tokens, SSH keys, servers
# that are real nodes reached over SSH, filters and pagination, faults,
# deletion, cleanup at exit.
#
#   bash tests/fakes/fakes_selftest.sh      (root, a running dockerd)
#
# Builds or finds the node image (scripts/node-image.sh). The fakes run one
# after the other, on free ports, with one run label; every wait is bounded
# (FAKES_WAIT, 60 s, for a node to boot or go away); what the run created is
# removed when it ends, EXIT included. Prints "N passed, M failed"; exits
# nonzero when something failed.
# shellcheck disable=SC2015 # ok never fails: "A && ok || bad" is an if/else here
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

WAIT=${FAKES_WAIT:-60}
pass=0 fail=0
ok() { pass=$((pass + 1)); printf 'ok   %s\n' "$1"; }
bad() {
	fail=$((fail + 1))
	printf 'FAIL %s\n' "$1"
	[ -n "${2:-}" ] && printf '%s\n' "$2" | head -c 1500 | sed 's/^/     /'
	return 0
}
give_up() { echo "$1" >&2; echo "$pass passed, $((fail + 1)) failed"; exit 1; }

for need in docker curl ssh ssh-keygen python3; do
	command -v "$need" >/dev/null 2>&1 || give_up "missing $need: run scripts/deps.sh"
done
docker version >/dev/null 2>&1 || give_up "no Docker engine answers"
# the interpreter itself: a version-manager shim costs up to a second a call
PY=$(python3 -c 'import sys; print(sys.executable)') || give_up "python3 does not run"
bash scripts/node-image.sh || give_up "no node image (scripts/node-image.sh failed)"

DIR=$(mktemp -d "${TMPDIR:-/tmp}/bootstrap-fakes.XXXXXX") || exit 1
RUN=bsf-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
TOKEN=tok-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
RO=ro-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
FAKE_PID=

# stop_fake: SIGTERM, then wait (bounded) for the fake to remove its nodes and exit
stop_fake() {
	[ -n "$FAKE_PID" ] || return 0
	kill -TERM "$FAKE_PID" 2>/dev/null
	local end=$((SECONDS + 150))
	while kill -0 "$FAKE_PID" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.2; done
	if kill -0 "$FAKE_PID" 2>/dev/null; then
		kill -KILL "$FAKE_PID" 2>/dev/null
		FAKE_PID=
		return 1
	fi
	wait "$FAKE_PID" 2>/dev/null
	FAKE_PID=
}

cleanup() {
	set +e
	stop_fake
	# a backstop for a fake that could not clean up: this run's label only
	local -a ids vols
	mapfile -t ids < <(docker ps -aq --filter "label=io.bootstrap.test.run=$RUN" 2>/dev/null)
	[ ${#ids[@]} -eq 0 ] || docker rm -f -v "${ids[@]}" >/dev/null 2>&1
	mapfile -t vols < <(docker volume ls -q --filter "label=io.bootstrap.test.run=$RUN" 2>/dev/null)
	[ ${#vols[@]} -eq 0 ] || docker volume rm -f "${vols[@]}" >/dev/null 2>&1
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ssh-keygen -q -t ed25519 -N '' -C "fakes-selftest-$RUN" -f "$DIR/id_ed25519" || exit 1
ssh-keygen -q -t ed25519 -N '' -C "fakes-selftest-other" -f "$DIR/other" || exit 1
PUB=$(cat "$DIR/id_ed25519.pub")
OTHER_PUB=$(cat "$DIR/other.pub")
FP=$(ssh-keygen -l -E md5 -f "$DIR/id_ed25519.pub" | awk '{print $2}')
FP=${FP#MD5:}

# start_fake NAME SCRIPT ARGS...: runs it on a free port, sets BASE
start_fake() {
	local name=$1
	shift
	"$PY" "$@" --port 0 --token "$TOKEN" --readonly-token "$RO" --run-label "$RUN" \
		>"$DIR/$name.out" 2>"$DIR/$name.err" &
	FAKE_PID=$!
	local end=$((SECONDS + 20))
	until grep -q '^listening on ' "$DIR/$name.out" 2>/dev/null; do
		if ! kill -0 "$FAKE_PID" 2>/dev/null || [ $SECONDS -ge $end ]; then
			cat "$DIR/$name.err" >&2
			return 1
		fi
		sleep 0.1
	done
	BASE=http://127.0.0.1:$(awk '/^listening on /{print $3}' "$DIR/$name.out")
}

# api METHOD PATH [JSON [TOKEN]]: sets code and body ($DIR/body, $DIR/headers)
api() {
	local method=$1 path=$2 data=${3:-} token=${4-$TOKEN}
	local -a args=(-sS -o "$DIR/body" -D "$DIR/headers" -w '%{http_code}' --max-time 20 -X "$method")
	[ -n "$token" ] && args+=(-H "Authorization: Bearer $token")
	[ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data "$data")
	: >"$DIR/body"
	code=$(curl "${args[@]}" "$BASE$path" 2>"$DIR/curl.err") || code=000
	body=$(cat "$DIR/body" "$DIR/curl.err")
}
# j EXPR: a Python expression over the last body (d) printed; JSON for lists/objects
j() {
	"$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print(json.dumps(v) if isinstance(v, (dict, list)) else v)' "$DIR/body" "$1" 2>/dev/null
}
hdr() { tr -d '\r' <"$DIR/headers" | awk -v h="$(tr '[:upper:]' '[:lower:]' <<<"$1")" -F': ' 'tolower($1) == h {print $2}' | tail -1; }
enc() { "$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

# check NAME WANT_CODE [EXPR]: the last answer has that status (and EXPR is True)
check() {
	local name=$1 want=$2 expr=${3:-}
	if [ "$code" = "$want" ] && { [ -z "$expr" ] || [ "$(j "$expr")" = True ]; }; then
		ok "$name"
	else
		bad "$name (HTTP $code, wanted $want${expr:+ and $expr})" "$body"
	fi
}

# wait_for PATH EXPR: polls GET PATH until EXPR holds (WAIT seconds)
wait_for() {
	local end=$((SECONDS + WAIT))
	while :; do
		api GET "$1"
		[ "$code" = 200 ] && [ "$(j "$2")" = True ] && return 0
		[ $SECONDS -ge $end ] && return 1
		sleep 0.5
	done
}

# nodes PROVIDER ID: the containers and volumes of that server, by label
nodes() {
	local -a f=(--filter "label=io.bootstrap.test.run=$RUN" --filter "label=io.bootstrap.fake-cloud.provider=$1")
	[ -n "${2:-}" ] && f+=(--filter "label=io.bootstrap.fake-cloud.id=$2")
	{ docker ps -aq "${f[@]}"; docker volume ls -q "${f[@]}"; } 2>/dev/null
}

# gone_within PROVIDER ID: no container or volume of it left (WAIT seconds)
gone_within() {
	local end=$((SECONDS + WAIT))
	until [ -z "$(nodes "$1" "$2")" ]; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.5
	done
}

ssh_as_root() { # ADDR KNOWN_HOSTS CMD
	ssh -F /dev/null -i "$DIR/id_ed25519" -o IdentitiesOnly=yes -o UserKnownHostsFile="$2" \
		-o StrictHostKeyChecking=accept-new -o BatchMode=yes -o ConnectTimeout=5 -o LogLevel=ERROR \
		"root@$1" "$3" </dev/null
}

fault() { curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -X POST -H 'Content-Type: application/json' --data "$1" "$BASE/__fake/faults"; }
requests_count() { # METHOD PATH STATUS: how many such requests the fake logged
	curl -sS --max-time 10 "$BASE/__fake/state" | "$PY" -c 'import json, sys
s = json.load(sys.stdin)
print(sum(1 for r in s["requests"] if (r["method"], r["path"], str(r["status"])) == tuple(sys.argv[1:4])))' "$@"
}
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

T_ALL=$EPOCHREALTIME

# ======================================================================
echo "== Hetzner Cloud fake"
T0=$EPOCHREALTIME
start_fake hetzner tests/fakes/hetzner_api.py || give_up "the Hetzner fake did not start"
KH=$DIR/known_hosts.hetzner

api GET /v1/servers "" ""
check "no token: 401 unauthorized" 401 'd["error"]["code"] == "unauthorized"'
api GET /v1/servers "" wrong-token
check "wrong token: 401" 401 'd["error"]["code"] == "unauthorized" and set(d["error"]) == {"code", "message", "details"}'
api GET /v1/servers "" "$RO"
check "read-only token may GET" 200 'd["servers"] == [] and d["meta"]["pagination"]["per_page"] == 25'
[ "$(hdr RateLimit-Limit)" = 3600 ] && [ "$(hdr RateLimit-Remaining)" -gt 0 ] && [ "$(hdr RateLimit-Reset)" -ge "$(date +%s)" ] &&
	ok "RateLimit-Limit/-Remaining/-Reset headers" || bad "RateLimit headers" "$(cat "$DIR/headers")"
api POST /v1/ssh_keys '{"name":"x","public_key":"'"$PUB"'"}' "$RO"
check "read-only token may not write: 401 token_readonly (docs.hetzner.cloud, errors)" 401 'd["error"]["code"] == "token_readonly"'

api POST /v1/ssh_keys '{"name":"selftest","public_key":"'"$PUB"'","labels":{"env":"test"}}'
check "ssh key created, MD5 fingerprint as ssh-keygen -E md5" 201 'd["ssh_key"]["fingerprint"] == "'"$FP"'"'
KEY_ID=$(j 'd["ssh_key"]["id"]')
api GET "/v1/ssh_keys?fingerprint=$(enc "$FP")"
check "ssh key found by fingerprint" 200 'len(d["ssh_keys"]) == 1 and d["ssh_keys"][0]["id"] == '"${KEY_ID:-0}"
api GET "/v1/ssh_keys/$KEY_ID"
check "ssh key by id" 200 'd["ssh_key"]["name"] == "selftest"'
api POST /v1/ssh_keys '{"name":"again","public_key":"'"$PUB"'"}'
check "same key again: 409 uniqueness_error" 409 'd["error"]["code"] == "uniqueness_error"'
api POST /v1/ssh_keys '{"name":"selftest","public_key":"'"$OTHER_PUB"'"}'
check "same name again: 409 uniqueness_error" 409 'd["error"]["code"] == "uniqueness_error"'
api POST /v1/ssh_keys '{"name":"junk","public_key":"ssh-ed25519 bm90IGEga2V5"}'
check "not a key: 422 invalid_input" 422 'd["error"]["code"] == "invalid_input"'

server() { # NAME PROJECT KEYREF
	printf '{"name":"%s","server_type":"cx22","image":"debian-12","location":"fsn1","ssh_keys":[%s],"labels":{"bootstrap.project":"%s","bootstrap.node":"%s"},"start_after_create":true}' \
		"$1" "$3" "$2" "$1"
}
api POST /v1/servers "$(server a1 alpha '"selftest"')"
check "server a1 created: 201, initializing, create/start actions" 201 \
	'd["server"]["status"] == "initializing" and d["action"]["command"] == "create_server" and d["next_actions"][0]["command"] == "start_server" and d["root_password"] is None'
A1=$(j 'd["server"]["id"]')
A1_ACTION=$(j 'd["action"]["id"]')
api POST /v1/servers "$(server a2 alpha "$KEY_ID")"
check "server a2 created (ssh key by id)" 201 'd["server"]["labels"]["bootstrap.node"] == "a2"'
A2=$(j 'd["server"]["id"]')
api POST /v1/servers "$(server a1 alpha '"selftest"')"
check "same name again: 409 uniqueness_error" 409 'd["error"]["code"] == "uniqueness_error"'
api POST /v1/servers "$(server bad_name alpha '"selftest"')"
check "invalid name: 422 invalid_input" 422 'd["error"]["code"] == "invalid_input" and d["error"]["details"]["fields"][0]["name"] == "name"'
api POST /v1/servers '{"name":"l1","server_type":"cx22","image":"debian-12","labels":{"bootstrap.project":"-bad-"}}'
check "invalid label value: 422 invalid_input" 422 'd["error"]["code"] == "invalid_input"'
api POST /v1/servers '{"name":"m1","image":"debian-12"}'
check "no server_type: 422 invalid_input" 422 'd["error"]["code"] == "invalid_input"'

[ "$(fault '{"match":"POST /v1/servers","status":429,"times":1,"headers":{"Retry-After":"1"}}')" = 201 ] ||
	bad "fault accepted"
api POST /v1/servers "$(server b1 beta '"selftest"')"
check "injected 429 rate_limit_exceeded" 429 'd["error"]["code"] == "rate_limit_exceeded"'
[ "$(hdr Retry-After)" = 1 ] && [ "$(hdr RateLimit-Remaining)" = 0 ] && ok "429 carries Retry-After and RateLimit-Remaining 0" ||
	bad "429 headers" "$(cat "$DIR/headers")"
api POST /v1/servers "$(server b1 beta '"selftest"')"
check "the same request again succeeds (server of another project)" 201
B1=$(j 'd["server"]["id"]')

api GET "/v1/servers?per_page=1"
check "per_page=1: one server, pagination meta" 200 \
	'len(d["servers"]) == 1 and d["meta"]["pagination"] == {"page": 1, "per_page": 1, "previous_page": None, "next_page": 2, "last_page": 3, "total_entries": 3}'
[ -n "$(hdr Link)" ] && ok "Link header on a paged answer" || bad "Link header" "$(cat "$DIR/headers")"
api GET "/v1/servers?per_page=1&page=3"
check "last page" 200 'd["meta"]["pagination"]["next_page"] is None and d["meta"]["pagination"]["previous_page"] == 2 and d["servers"][0]["name"] == "b1"'
api GET "/v1/servers?label_selector=$(enc bootstrap.project=alpha)"
check "label_selector k=v: this project only" 200 '[s["name"] for s in d["servers"]] == ["a1", "a2"]'
api GET "/v1/servers?label_selector=$(enc bootstrap.project==alpha,bootstrap.node=a2)"
check "label_selector k==v,k=v (AND)" 200 '[s["name"] for s in d["servers"]] == ["a2"]'
api GET "/v1/servers?label_selector=$(enc bootstrap.node)"
check "label_selector k (present)" 200 'len(d["servers"]) == 3'
api GET "/v1/servers?label_selector=$(enc '!bootstrap.node')"
check "label_selector !k (absent)" 200 'd["servers"] == []'
api GET "/v1/servers?label_selector=$(enc 'bootstrap.project in (beta,gamma)')"
check "label_selector k in (...)" 200 '[s["name"] for s in d["servers"]] == ["b1"]'
api GET "/v1/servers?label_selector=$(enc 'bad key=x')"
check "invalid label_selector: 422" 422 'd["error"]["code"] == "invalid_input"'
api GET "/v1/servers?name=b1"
check "?name=" 200 '[s["labels"]["bootstrap.project"] for s in d["servers"]] == ["beta"]'

T_BOOT=$EPOCHREALTIME
if wait_for "/v1/servers/$A1" 'd["server"]["status"] == "running"' &&
	wait_for "/v1/servers/$A2" 'd["server"]["status"] == "running"'; then
	ok "a1 and a2 running within $WAIT s ($(since "$T_BOOT") s)"
else
	bad "a1 and a2 running within $WAIT s" "$body
$(cat "$DIR/hetzner.err")"
fi
api GET "/v1/actions/$A1_ACTION"
check "create action: success, progress 100" 200 'd["action"]["status"] == "success" and d["action"]["progress"] == 100 and d["action"]["error"] is None'
api GET "/v1/servers/$A1"
A1_IP=$(j 'd["server"]["public_net"]["ipv4"]["ip"]')
api GET "/v1/servers/$A2"
A2_IP=$(j 'd["server"]["public_net"]["ipv4"]["ip"]')
[[ $A1_IP =~ ^127\. ]] && [[ $A2_IP =~ ^127\. ]] && [ "$A1_IP" != "$A2_IP" ] &&
	ok "distinct loopback public IPs ($A1_IP, $A2_IP)" || bad "public IPs" "$A1_IP $A2_IP"
out=$(ssh_as_root "$A1_IP" "$KH" 'hostname; id -u' 2>&1)
[ "$out" = "a1
0" ] && ok "ssh -i KEY root@$A1_IP: hostname a1, root" || bad "ssh root@$A1_IP" "$out"
ssh_as_root "$A2_IP" "$KH" true >/dev/null 2>&1 && ok "ssh root@$A2_IP true" || bad "ssh root@$A2_IP true"
api GET "/v1/servers/$A1"
check "server: the current location, and the deprecated datacenter.location" 200 \
	'd["server"]["location"]["name"] == d["server"]["datacenter"]["location"]["name"]'
api POST "/v1/servers/$A2/actions/poweroff"
check "poweroff: 201 stop_server" 201 'd["action"]["command"] == "stop_server"'
if wait_for "/v1/servers/$A2" 'd["server"]["status"] == "off"'; then
	ok "a2 is off, its node stopped: $(docker inspect -f '{{.State.Running}}' "$RUN-hetzner-$A2" 2>&1)"
else
	bad "a2 off after poweroff" "$body"
fi
api POST "/v1/servers/$A2/actions/poweron"
check "poweron: 201 start_server" 201 'd["action"]["command"] == "start_server"'
wait_for "/v1/servers/$A2" 'd["server"]["status"] == "running"' && ssh_as_root "$A2_IP" "$KH" true >/dev/null 2>&1 &&
	ok "a2 running again, ssh works" || bad "a2 running again after poweron" "$body"
api GET "/v1/server_types?name=cx11"
check "server_types: cx11 deprecated (deprecation.unavailable_after)" 200 \
	'd["server_types"][0]["deprecation"]["unavailable_after"].startswith("2024")'
api GET "/v1/images?name=debian-12&type=system"
check "images ?name=debian-12: x86 and arm, not deprecated" 200 \
	'sorted(i["architecture"] for i in d["images"]) == ["arm", "x86"] and d["images"][0]["deprecated"] is None'
api GET /v1/locations
check "locations" 200 '"fsn1" in [l["name"] for l in d["locations"]]'

fault '{"match":"POST /v1/servers","action_error":true}' >/dev/null
api POST /v1/servers "$(server c1 alpha '"selftest"')"
check "create with action_error: 201 at first" 201
C1=$(j 'd["server"]["id"]')
C1_ACTION=$(j 'd["action"]["id"]')
if wait_for "/v1/actions/$C1_ACTION" 'd["action"]["status"] == "error"'; then
	check "action ends in error with error.code" 200 'd["action"]["error"]["code"] == "action_failed"'
else
	bad "action ends in error" "$body"
fi
api GET "/v1/servers/$C1"
check "failed server is off, without an address" 200 'd["server"]["status"] == "off" and d["server"]["public_net"]["ipv4"] is None'
[ -z "$(nodes hetzner "$C1")" ] && ok "no node for the failed server" || bad "no node for the failed server" "$(nodes hetzner "$C1")"
api DELETE "/v1/servers/$C1"
check "failed server deleted" 200 'd["action"]["command"] == "delete_server"'

fault '{"match":"POST /v1/servers","quota":true}' >/dev/null
api POST /v1/servers "$(server q1 alpha '"selftest"')"
check "quota: 403 resource_limit_exceeded" 403 'd["error"]["code"] == "resource_limit_exceeded"'
fault '{"match":"GET /v1/servers/*","status":503,"times":1}' >/dev/null
api GET "/v1/servers/$A1"
check "injected 503 on GET /v1/servers/*" 503 'd["error"]["code"] == "unavailable"'
api GET "/v1/servers/$A1"
check "then 200 again" 200

[ "$(requests_count POST /v1/servers 429)" = 1 ] && [ "$(requests_count POST /v1/servers 201)" = 4 ] &&
	ok "request log: 1 x 429 and 4 x 201 on POST /v1/servers" ||
	bad "request log counts" "$(requests_count POST /v1/servers 429) $(requests_count POST /v1/servers 201)"

T_DEL=$EPOCHREALTIME
api DELETE "/v1/servers/$A2"
check "delete a2: 200 with a delete_server action" 200 'd["action"]["command"] == "delete_server"'
DEL_ACTION=$(j 'd["action"]["id"]')
if wait_for "/v1/actions/$DEL_ACTION" 'd["action"]["status"] == "success"'; then
	ok "delete action success ($(since "$T_DEL") s)"
else
	bad "delete action success" "$body"
fi
api GET "/v1/servers/$A2"
check "a2 is gone: 404 not_found" 404 'd["error"]["code"] == "not_found"'
gone_within hetzner "$A2" && ok "a2's container and volume are gone" || bad "a2's container and volume are gone" "$(nodes hetzner "$A2")"
[ -n "$(nodes hetzner "$A1")" ] && [ -n "$(nodes hetzner "$B1")" ] && ok "a1 and b1 still have their nodes" ||
	bad "a1 and b1 still have their nodes"

T_STOP=$EPOCHREALTIME
if stop_fake; then ok "SIGTERM: the fake exits ($(since "$T_STOP") s)"; else bad "SIGTERM: the fake exits"; fi
[ -z "$(nodes hetzner)" ] && ok "no container or volume left by the Hetzner fake" ||
	bad "no container or volume left by the Hetzner fake" "$(nodes hetzner)"
grep -E 'running on|deleted|removed' "$DIR/hetzner.err" | sed 's/^/     /'
echo "   (Hetzner: $(since "$T0") s)"

# ======================================================================
echo "== DigitalOcean fake"
T0=$EPOCHREALTIME
start_fake digitalocean tests/fakes/digitalocean_api.py --first-ip 127.0.0.20 || give_up "the DigitalOcean fake did not start"
KH=$DIR/known_hosts.digitalocean

api GET /v2/droplets "" ""
check "no token: 401" 401 'd == {"id": "Unauthorized", "message": "Unable to authenticate you"}'
api GET /v2/droplets "" "$RO"
check "read-only token may GET" 200 'd["droplets"] == [] and d["meta"]["total"] == 0'
[ "$(hdr RateLimit-Limit)" = 5000 ] && [ -n "$(hdr RateLimit-Remaining)" ] && [ -n "$(hdr RateLimit-Reset)" ] &&
	ok "RateLimit headers" || bad "RateLimit headers" "$(cat "$DIR/headers")"
api POST /v2/account/keys '{"name":"x","public_key":"'"$PUB"'"}' "$RO"
check "read-only token may not write: 403 forbidden" 403 'd["id"] == "forbidden"'

api POST /v2/account/keys '{"name":"selftest","public_key":"'"$PUB"'"}'
check "ssh key created, MD5 fingerprint" 201 'd["ssh_key"]["fingerprint"] == "'"$FP"'"'
DKEY_ID=$(j 'd["ssh_key"]["id"]')
api GET "/v2/account/keys/$FP"
check "ssh key by fingerprint" 200 'd["ssh_key"]["id"] == '"${DKEY_ID:-0}"
api GET "/v2/account/keys/$DKEY_ID"
check "ssh key by id" 200 'd["ssh_key"]["fingerprint"] == "'"$FP"'"'
api POST /v2/account/keys '{"name":"again","public_key":"'"$PUB"'"}'
check "same key again: 422 already in use" 422 'd["id"] == "unprocessable_entity" and "already in use" in d["message"]'

droplet() { # NAME PROJECT KEYREF
	printf '{"name":"%s","region":"fra1","size":"s-1vcpu-2gb","image":"debian-12-x64","ssh_keys":[%s],"tags":["bootstrap-project:%s","bootstrap-node:%s"]}' \
		"$1" "$3" "$2" "$1"
}
api POST /v2/droplets "$(droplet d1 alpha "\"$FP\"")"
check "droplet d1 created: 202, new, no networks yet, create action link" 202 \
	'd["droplet"]["status"] == "new" and d["droplet"]["networks"]["v4"] == [] and d["links"]["actions"][0]["rel"] == "create"'
D1=$(j 'd["droplet"]["id"]')
D1_ACTION=$(j 'd["links"]["actions"][0]["id"]')
api POST /v2/droplets "$(droplet d2 alpha "$DKEY_ID")"
check "droplet d2 created (ssh key by id)" 202 'd["droplet"]["tags"] == ["bootstrap-project:alpha", "bootstrap-node:d2"]'
D2=$(j 'd["droplet"]["id"]')
api POST /v2/droplets '{"name":"t1","region":"fra1","size":"s-1vcpu-2gb","image":"debian-12-x64","tags":["bad tag!"]}'
check "invalid tag: 422 unprocessable_entity" 422 'd["id"] == "unprocessable_entity"'
api POST /v2/droplets '{"name":"bad_name","region":"fra1","size":"s-1vcpu-2gb","image":"debian-12-x64"}'
check "invalid name: 422" 422 'd["id"] == "unprocessable_entity"'
api POST /v2/droplets '{"name":"k1","region":"fra1","size":"s-1vcpu-2gb","image":"debian-12-x64","ssh_keys":[4242]}'
check "unknown ssh key: 422 invalid key identifiers" 422 '"invalid key identifiers" in d["message"]'

fault '{"match":"POST /v2/droplets","status":429,"headers":{"Retry-After":"1"}}' >/dev/null
api POST /v2/droplets "$(droplet e1 beta "\"$FP\"")"
check "injected 429 too_many_requests" 429 'd["id"] == "too_many_requests"'
api POST /v2/droplets "$(droplet e1 beta "\"$FP\"")"
check "the same request again succeeds (droplet of another project)" 202
E1=$(j 'd["droplet"]["id"]')

api GET "/v2/droplets?per_page=1"
check "per_page=1: one droplet, links.pages next/last, meta.total" 200 \
	'len(d["droplets"]) == 1 and d["meta"]["total"] == 3 and "page=2" in d["links"]["pages"]["next"] and "page=3" in d["links"]["pages"]["last"]'
api GET "/v2/droplets?per_page=1&page=3"
check "last page: no next, a prev" 200 '"next" not in d["links"]["pages"] and "page=2" in d["links"]["pages"]["prev"] and d["droplets"][0]["name"] == "e1"'
api GET "/v2/droplets?tag_name=$(enc bootstrap-project:alpha)"
check "tag_name: this project only" 200 '[x["name"] for x in d["droplets"]] == ["d1", "d2"] and d["meta"]["total"] == 2'
api GET "/v2/droplets?name=D1"
check "name= (case-insensitive exact)" 200 '[x["id"] for x in d["droplets"]] == ['"${D1:-0}"']'
api GET "/v2/droplets?name=d1&tag_name=x"
check "name with tag_name: 422" 422

T_BOOT=$EPOCHREALTIME
if wait_for "/v2/droplets/$D1" 'd["droplet"]["status"] == "active"' &&
	wait_for "/v2/droplets/$D2" 'd["droplet"]["status"] == "active"'; then
	ok "d1 and d2 active within $WAIT s ($(since "$T_BOOT") s)"
else
	bad "d1 and d2 active within $WAIT s" "$body
$(cat "$DIR/digitalocean.err")"
fi
api GET "/v2/droplets/$D1"
check "active droplet has a public v4 address" 200 'd["droplet"]["networks"]["v4"][0]["type"] == "public"'
D1_IP=$(j 'd["droplet"]["networks"]["v4"][0]["ip_address"]')
api GET "/v2/actions/$D1_ACTION"
check "create action completed" 200 'd["action"]["status"] == "completed" and d["action"]["resource_id"] == '"${D1:-0}"
out=$(ssh_as_root "$D1_IP" "$KH" hostname 2>&1)
[ "$out" = d1 ] && ok "ssh -i KEY root@$D1_IP: hostname d1" || bad "ssh root@$D1_IP" "$out"
api POST "/v2/droplets/$D1/actions" '{"type":"power_off"}'
check "power_off: 201 with an action" 201 'd["action"]["type"] == "power_off"'
wait_for "/v2/droplets/$D1" 'd["droplet"]["status"] == "off" and d["droplet"]["networks"]["v4"] != []' &&
	ok "d1 off, its address kept" || bad "d1 off after power_off" "$body"
api POST "/v2/droplets/$D1/actions" '{"type":"power_on"}'
check "power_on: 201" 201 'd["action"]["type"] == "power_on"'
wait_for "/v2/droplets/$D1" 'd["droplet"]["status"] == "active"' && [ "$(ssh_as_root "$D1_IP" "$KH" hostname 2>&1)" = d1 ] &&
	ok "d1 active again, ssh works" || bad "d1 active again after power_on" "$body"
api GET "/v2/droplets?type=gpus"
check "type=gpus: only GPU droplets (none here)" 200 'd["droplets"] == []'
api GET "/v2/droplets?type=gpus&tag_name=x"
check "type with tag_name: 422" 422
api GET /v2/sizes
check "sizes: available flags and regions" 200 \
	'[s["available"] for s in d["sizes"] if s["slug"] == "s-1vcpu-512mb-10gb"] == [False] and "fra1" in [s for s in d["sizes"] if s["slug"] == "s-1vcpu-1gb"][0]["regions"]'
api GET /v2/regions
check "regions: nyc2 closed" 200 '[r["available"] for r in d["regions"] if r["slug"] == "nyc2"] == [False]'
api GET /v2/images/debian-12-x64
check "images/{slug}" 200 'd["image"]["slug"] == "debian-12-x64"'

fault '{"match":"POST /v2/droplets","action_error":true}' >/dev/null
api POST /v2/droplets "$(droplet f1 alpha "\"$FP\"")"
check "create with action_error: 202 at first" 202
F1=$(j 'd["droplet"]["id"]')
F1_ACTION=$(j 'd["links"]["actions"][0]["id"]')
wait_for "/v2/actions/$F1_ACTION" 'd["action"]["status"] == "errored"' && ok "create action errored" || bad "create action errored" "$body"
api GET "/v2/droplets/$F1"
check "failed droplet is off, without networks" 200 'd["droplet"]["status"] == "off" and d["droplet"]["networks"]["v4"] == []'
[ -z "$(nodes digitalocean "$F1")" ] && ok "no node for the failed droplet" || bad "no node for the failed droplet"
api DELETE "/v2/droplets/$F1"
check "failed droplet deleted: 204" 204

fault '{"match":"POST /v2/droplets","quota":true}' >/dev/null
api POST /v2/droplets "$(droplet q1 alpha "\"$FP\"")"
check "quota: 422 droplet limit" 422 'd["id"] == "unprocessable_entity" and "droplet limit" in d["message"]'
fault '{"match":"GET /v2/droplets","status":500}' >/dev/null
api GET /v2/droplets
check "injected 500 server_error" 500 'd["id"] == "server_error"'
[ "$(requests_count POST /v2/droplets 429)" = 1 ] && [ "$(requests_count POST /v2/droplets 202)" = 4 ] &&
	ok "request log: 1 x 429 and 4 x 202 on POST /v2/droplets" || bad "request log counts"

T_DEL=$EPOCHREALTIME
api DELETE "/v2/droplets/$D2"
check "delete d2: 204" 204
api GET "/v2/droplets/$D2"
check "d2 is gone: 404 not_found" 404 'd["id"] == "not_found"'
gone_within digitalocean "$D2" && ok "d2's container and volume are gone ($(since "$T_DEL") s)" ||
	bad "d2's container and volume are gone" "$(nodes digitalocean "$D2")"

T_RESET=$EPOCHREALTIME
r=$(curl -sS --max-time 200 -X POST "$BASE/__fake/reset")
api GET /v2/droplets
if [ "$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["removed"])' "$r" 2>/dev/null)" = 2 ] &&
	[ "$(j 'd["meta"]["total"]')" = 0 ] && [ -z "$(nodes digitalocean)" ]; then
	ok "reset: d1 and e1 and their nodes removed ($(since "$T_RESET") s)"
else
	bad "reset" "$r $(nodes digitalocean)"
fi
[ -z "$(nodes digitalocean "$E1")" ] || bad "e1's node removed by reset"

if stop_fake; then ok "SIGTERM: the fake exits"; else bad "SIGTERM: the fake exits"; fi
[ -z "$(nodes digitalocean)" ] && ok "no container or volume left by the DigitalOcean fake" ||
	bad "no container or volume left by the DigitalOcean fake" "$(nodes digitalocean)"
grep -E 'active on|destroyed|removed' "$DIR/digitalocean.err" | sed 's/^/     /'
echo "   (DigitalOcean: $(since "$T0") s; all: $(since "$T_ALL") s)"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
