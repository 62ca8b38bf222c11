#!/usr/bin/env bash
# tests/integration/cloud.sh - the Hetzner and DigitalOcean compute drivers
# (provision/compute_hetzner.c, compute_digitalocean.c, cloud_rest.c)
# through tests/integration/cloud.c against the fake APIs of tests/fakes/
# (see tests/fakes/README.md), whose machines are real node containers
# with sshd on 127.0.0.N:22. For each provider, in order:
#   - an empty project lists nothing;
#   - two nodes are created and waited for; each answers SSH with our key;
#   - list shows both, sorted, running, with their addresses and region;
#   - a machine of ANOTHER project made through the API directly is never
#     listed, and creating a node of that name is a conflict with the fix;
#   - creating a node again adopts the machine, never makes a second one;
#   - both pagination styles are followed to the last page;
#   - faults: 429 twice then success (Retry-After waited); 429s beyond the
#     wait budget (fail, saying when the limit resets); SIGINT during a
#     wait (stops at once); 500 then success on a GET; a GET that keeps
#     failing (bounded attempts); 503 on the create POST (looked up by
#     name, made once); a create that times out on our side but lands
#     (adopted, made once); a bad token (the variable named, the token
#     never shown); a read-only token (the permission needed); a create action that ends in error (the provider's
#     message);
#   - destroy removes every machine of the project and their containers.
# The fake runs with a run label; its containers and volumes (ours only)
# are removed on exit, by the fake on SIGTERM and by label as a backstop.
#
#   make build/integration/cloud && INTEG_BIN=build/integration bash tests/integration/cloud.sh
#   CLOUD_PROVIDERS=hetzner ...   one provider only
# shellcheck disable=SC2015 # ok never fails: "A && ok || bad" is an if/else here
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
CLOUD=${INTEG_BIN:-build/integration}/cloud
# BS_WRAP runs the program under a checker (valgrind) when set
read -r -a WRAP <<<"${BS_WRAP:-}"
PROVIDERS=${CLOUD_PROVIDERS:-hetzner digitalocean}

pass=0 fail=0
ok() { pass=$((pass + 1)); printf 'ok   %s\n' "$1"; }
bad() {
	fail=$((fail + 1))
	printf 'FAIL %s\n' "$1"
	[ -n "${2:-}" ] && printf '%s\n' "$2" | head -c 2000 | sed 's/^/     /'
	return 0
}
give_up() { echo "$1" >&2; echo "$pass passed, $((fail + 1)) failed"; exit 1; }

[ -x "$CLOUD" ] || give_up "build $CLOUD first (make build/integration/cloud)"
for need in python3 docker curl ssh ssh-keygen; do
	command -v "$need" >/dev/null 2>&1 || give_up "missing $need: run scripts/deps.sh"
done
# the fakes' machines are containers: use the running engine, or start one
# (tests/lab/lab.sh; it is stopped again on exit when this suite started it)
. tests/lab/lab.sh
if ! lab_ping >/dev/null 2>&1; then
	LAB=$(mktemp -d "${TMPDIR:-/tmp}/bootstrap-lab.XXXXXX") || exit 1
	lab_dockerd || give_up "no Docker engine answers and none could be started (the fakes' machines are containers)"
fi
bash scripts/node-image.sh >/dev/null || give_up "no node image (scripts/node-image.sh failed)"

T=$(mktemp -d "${TMPDIR:-/tmp}/bootstrap-cloud.XXXXXX") || exit 1
RUN=bsc-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
TOKEN=tok-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
FAKE_PID=

stop_fake() {
	[ -n "$FAKE_PID" ] || return 0
	kill -TERM "$FAKE_PID" 2>/dev/null
	local end=$((SECONDS + 150))
	while kill -0 "$FAKE_PID" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.2; done
	kill -0 "$FAKE_PID" 2>/dev/null && kill -KILL "$FAKE_PID" 2>/dev/null
	wait "$FAKE_PID" 2>/dev/null
	FAKE_PID=
}
cleanup() {
	set +e
	stop_fake
	local -a ids vols
	mapfile -t ids < <(docker ps -aq --filter "label=io.bootstrap.test.run=$RUN" 2>/dev/null)
	[ ${#ids[@]} -eq 0 ] || docker rm -f -v "${ids[@]}" >/dev/null 2>&1
	mapfile -t vols < <(docker volume ls -q --filter "label=io.bootstrap.test.run=$RUN" 2>/dev/null)
	[ ${#vols[@]} -eq 0 ] || docker volume rm -f "${vols[@]}" >/dev/null 2>&1
	rm -rf "$T"
	lab_down
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ssh-keygen -q -t ed25519 -N '' -C "cloud-itest-$RUN" -f "$T/id_ed25519" || exit 1
export CLOUD_PUBKEY=$T/id_ed25519.pub CLOUD_PROJECT=itest
: >"$T/times"

# start_fake PROVIDER: on a free port; sets BASE (http://127.0.0.1:PORT)
start_fake() {
	python3 "tests/fakes/$1_api.py" --port 0 --token "$TOKEN" --readonly-token "ro-$TOKEN" --run-label "$RUN" \
		>"$T/$1.out" 2>"$T/$1.err" &
	FAKE_PID=$!
	local end=$((SECONDS + 20))
	until grep -q '^listening on ' "$T/$1.out" 2>/dev/null; do
		if ! kill -0 "$FAKE_PID" 2>/dev/null || [ $SECONDS -ge $end ]; then
			cat "$T/$1.err" >&2
			return 1
		fi
		sleep 0.1
	done
	BASE=http://127.0.0.1:$(awk '/^listening on /{print $3}' "$T/$1.out")
}

# run ARGS...: the program (under BS_WRAP); sets rc, out, err, ms
run() {
	local t0
	t0=$(date +%s%N)
	"${WRAP[@]}" "$CLOUD" "$P" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	out=$(cat "$T/out")
	err=$(cat "$T/err")
	grep '^time: ' "$T/err" | sed "s/^/$P /" >>"$T/times"
}
# run_env VAR=VALUE|-u VAR ARGS...: run with the environment changed so
run_env() {
	local -a change=("$1")
	shift
	if [ "${change[0]}" = -u ]; then
		change+=("$1")
		shift
	fi
	env "${change[@]}" "${WRAP[@]}" "$CLOUD" "$P" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	out=$(cat "$T/out")
	err=$(cat "$T/err")
}
said() { printf 'exit %s\nstdout:\n%s\nstderr:\n%s' "$rc" "$out" "$err"; }

# fault JSON: inject a fault into the fake
fault() { curl -sS -o /dev/null -X POST --data "$1" "$BASE/__fake/faults"; }
# state EXPR: a Python expression over the fake's state (d), printed
state() {
	curl -sS "$BASE/__fake/state" >"$T/state.json" &&
		python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print(json.dumps(v) if isinstance(v, (dict, list)) else v)' "$T/state.json" "$1"
}
# api METHOD PATH [JSON]: the provider API (PATH with its /v1 or /v2) with our token; prints the status
api() {
	local -a args=(-sS -o "$T/api.json" -w '%{http_code}' --max-time 20 -X "$1"
		-H "Authorization: Bearer $TOKEN")
	[ -n "${3:-}" ] && args+=(-H 'Content-Type: application/json' --data "$3")
	curl "${args[@]}" "$BASE$2"
}
# ssh_works HOST: our key opens a shell on the machine
ssh_works() {
	timeout 30 ssh -i "$T/id_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no \
		-o UserKnownHostsFile=/dev/null -o ConnectTimeout=10 -o LogLevel=ERROR \
		"root@$1" 'echo ssh-ok' 2>&1
}
# containers ID...: how many node containers of these machine ids exist
containers() {
	local n=0 id
	for id in "$@"; do
		n=$((n + $(docker ps -aq --filter "label=io.bootstrap.test.run=$RUN" \
			--filter "label=io.bootstrap.fake-cloud.provider=$P" \
			--filter "label=io.bootstrap.fake-cloud.id=$id" | wc -l)))
	done
	echo "$n"
}
wait_until() { # SECONDS COMMAND...
	local end=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.5
	done
}
no_containers() { [ "$(containers "$@")" = 0 ]; }

suite() {
	P=$1
	local list_path other_body key_var region size image items host1 host2 id1 id2 id3 id4 pair name addr ids fault_clear pid t0 fp
	if [ "$P" = hetzner ]; then
		PREFIX=/v1 key_var=HCLOUD_TOKEN region=nbg1 items=servers list_path=/v1/servers
		size=cx22 image=debian-12
		other_body='{"name":"other-1","server_type":"cx22","image":"debian-12","start_after_create":false,"labels":{"bootstrap.project":"other","bootstrap.node":"other-1"}}'
	else
		PREFIX=/v2 key_var=DIGITALOCEAN_TOKEN region=fra1 items=droplets list_path=/v2/droplets
		size=s-1vcpu-1gb image=debian-12-x64
		other_body='{"name":"other-1","region":"fra1","size":"s-1vcpu-1gb","image":"debian-12-x64","tags":["bootstrap-project:other","bootstrap-node:other-1"]}'
	fi
	echo "== $P"
	if ! start_fake "$P"; then
		bad "$P: the fake starts"
		return
	fi
	export CLOUD_URL=$BASE$PREFIX CLOUD_REGION=$region "$key_var=$TOKEN"

	run list
	[ $rc -eq 0 ] && [ "$out" = "count 0" ] && ok "$P: an empty project lists nothing" ||
		bad "$P: an empty project lists nothing" "$(said)"

	if [ "$P" = hetzner ]; then
		# key names are unique on Hetzner: another key holds ours
		ssh-keygen -q -t ed25519 -N '' -C other -f "$T/other_key"
		code=$(api POST /v1/ssh_keys "{\"name\":\"bootstrap-itest\",\"public_key\":\"$(cat "$T/other_key.pub")\"}")
		[ "$code" = 201 ] || bad "$P: another key named bootstrap-itest made through the API" "$code"
	fi
	run up web-1 web-2
	host1=$(awk '$1 == "up" && $2 == "web-1" && $4 == "running" {print $5}' <<<"$out")
	host2=$(awk '$1 == "up" && $2 == "web-2" && $4 == "running" {print $5}' <<<"$out")
	id1=$(awk '$1 == "up" && $2 == "web-1" {print $3}' <<<"$out")
	id2=$(awk '$1 == "up" && $2 == "web-2" {print $3}' <<<"$out")
	if [ $rc -eq 0 ] && [[ $host1 == 127.*:22 ]] && [[ $host2 == 127.*:22 ]] && [ "$host1" != "$host2" ]; then
		ok "$P: create + wait_running of web-1 and web-2 ($ms ms)"
	else
		bad "$P: create + wait_running of web-1 and web-2" "$(said)"
	fi
	fp=$(ssh-keygen -l -E md5 -f "$CLOUD_PUBKEY" | awk '{print $2}' | sed 's/^MD5://')
	[ "$(grep -c "registered SSH key $fp as bootstrap-itest" <<<"$err")" = 1 ] &&
		[ "$(state "[k['name'] for k in d['ssh_keys'] if k['fingerprint'] == '$fp']")" = "[\"bootstrap-itest$([ "$P" = hetzner ] && echo "-$(tr -d : <<<"${fp:0:11}")")\"]" ] &&
		ok "$P: the SSH key is registered once, by its MD5 fingerprint$([ "$P" = hetzner ] && echo ", its name suffixed as another key holds it")" ||
		bad "$P: the SSH key is registered by its MD5 fingerprint" "$(said)"
	for pair in "web-1=${host1%:22}" "web-2=${host2%:22}"; do
		name=${pair%%=*} addr=${pair#*=}
		[ "$(ssh_works "$addr")" = ssh-ok ] && ok "$P: $name's sshd answers on $addr:22 with our key" ||
			bad "$P: $name's sshd answers on $addr:22 with our key" "$(ssh_works "$addr")"
	done

	run list
	if [ $rc -eq 0 ] && [ "$out" = "web-1 $id1 running $host1 $size $image $region
web-2 $id2 running $host2 $size $image $region
count 2" ]; then
		ok "$P: list shows web-1 and web-2, sorted, running, with address, size, image, region"
	else
		bad "$P: list shows web-1 and web-2" "$(said)"
	fi

	code=$(api POST "$list_path" "$other_body")
	[[ $code == 20? ]] && ok "$P: a machine of another project made through the API ($code)" ||
		bad "$P: a machine of another project made through the API" "$code $(cat "$T/api.json")"
	run list
	[ $rc -eq 0 ] && [[ $out != *other-1* ]] && [[ $out == *"count 2" ]] &&
		ok "$P: another project's machine is never listed" ||
		bad "$P: another project's machine is never listed" "$(said)"
	run create other-1
	[ $rc -eq 1 ] && [[ $err == *"error [-9 conflict]: node other-1: $P: a "*"named other-1 already exists"*"project"*"other,"*"rename the node in the recipe"* ]] &&
		ok "$P: a name held by another project's machine is a conflict naming it and the fix" ||
		bad "$P: a name held by another project's machine is a conflict" "$(said)"

	# both pagination styles, one machine a page: 3 machines, 3 pages
	run pages "${list_path#/v?}" "$items" 1
	[ $rc -eq 0 ] && [ "$out" = "items 3 requests 3" ] &&
		ok "$P: pagination: every page is followed (3 machines, 1 a page)" ||
		bad "$P: pagination: every page is followed" "$(said)"
	run pages "${list_path#/v?}?$([ "$P" = hetzner ] && echo label_selector=bootstrap.project%3Dother || echo tag_name=bootstrap-project%3Aother)" "$items" 1
	[ $rc -eq 0 ] && [ "$out" = "items 1 requests 1" ] &&
		ok "$P: pagination after a filter already in the query" ||
		bad "$P: pagination after a filter already in the query" "$(said)"

	run create web-1
	[ $rc -eq 0 ] && [ "$(awk '{print $1, $2, $3}' <<<"$out")" = "created web-1 $id1" ] &&
		[[ $err == *"adopted"* ]] &&
		[ "$(state "len([s for s in d['$items'] if s['name'] == 'web-1'])")" = 1 ] &&
		ok "$P: creating web-1 again adopts $id1, no second machine" ||
		bad "$P: creating web-1 again adopts it" "$(said)"

	fault "{\"match\":\"GET $list_path\",\"status\":429,\"times\":2,\"headers\":{\"Retry-After\":\"1\"}}"
	run list
	[ $rc -eq 0 ] && [[ $out == *"count 2" ]] && [ $ms -ge 2000 ] &&
		[ "$(grep -c 'rate limited; waiting 1000 ms' <<<"$err")" = 2 ] &&
		[ "$(state "[r['status'] for r in d['requests'] if r['path'] == '$list_path'][-3:]")" = "[429, 429, 200]" ] &&
		ok "$P: 429 twice then success: Retry-After waited, then listed ($ms ms)" ||
		bad "$P: 429 twice then success" "$(said)"

	fault "{\"match\":\"GET $list_path\",\"status\":429,\"times\":-1,\"headers\":{\"Retry-After\":\"1\"}}"
	CLOUD_RATE_LIMIT_WAIT_MS=2500 run pages "${list_path#/v?}" "$items" 0
	[ $rc -eq 1 ] && [[ $err == *"error [-10 remote API error]: $P: GET "*"rate limited (429) for 2 s; the limit resets in "*"wait and run again"* ]] &&
		[ $ms -ge 2500 ] && [ $ms -lt 6000 ] &&
		ok "$P: 429s past the wait budget fail with when the limit resets ($ms ms)" ||
		bad "$P: 429s past the wait budget fail" "$(said)"
	# Ctrl-C during a wait: the cancel flag stops it at once
	fault "{\"match\":\"GET $list_path\",\"status\":429,\"times\":-1,\"headers\":{\"Retry-After\":\"30\"}}"
	"${WRAP[@]}" "$CLOUD" "$P" list >"$T/out" 2>"$T/err" &
	pid=$!
	# in the wait (its first "waiting" line): a background job of a script
	# starts with SIGINT ignored until the program sets its handler, so a
	# signal sent sooner (valgrind on a busy machine starts slowly) is lost
	for _ in $(seq 200); do
		grep -q 'rate limited; waiting' "$T/err" 2>/dev/null && break
		sleep 0.1
	done
	sleep 0.3
	t0=$(date +%s%N)
	kill -INT "$pid"
	wait "$pid"
	rc=$? ms=$((($(date +%s%N) - t0) / 1000000)) out=$(cat "$T/out") err=$(cat "$T/err")
	curl -sS -o /dev/null -X DELETE "$BASE/__fake/faults"
	[ $rc -eq 1 ] && [[ $err == *"error [-13 interrupted]: $P: GET "*"interrupted"* ]] && [ $ms -lt 1500 ] &&
		ok "$P: SIGINT stops a rate-limit wait within $ms ms" ||
		bad "$P: SIGINT stops a rate-limit wait" "$(said)"

	fault "{\"match\":\"GET $list_path\",\"status\":500,\"times\":1}"
	run list
	[ $rc -eq 0 ] && [[ $out == *"count 2" ]] && [[ $err == *"answered 500; retrying in 500 ms"* ]] &&
		ok "$P: 500 then success on a GET: retried after 0.5 s ($ms ms)" ||
		bad "$P: 500 then success on a GET" "$(said)"

	fault "{\"match\":\"GET $list_path\",\"status\":503,\"times\":-1}"
	run list
	fault_clear=$(curl -sS -o /dev/null -w '%{http_code}' -X DELETE "$BASE/__fake/faults")
	[ $rc -eq 1 ] && [[ $err == *"error [-10 remote API error]: $P: GET "*" 503 "*"(after 5 attempts)"* ]] &&
		[ "$fault_clear" = 200 ] &&
		ok "$P: a GET that keeps failing 503 gives up after 5 attempts ($ms ms)" ||
		bad "$P: a GET that keeps failing 503 gives up" "$(said)"

	fault "{\"match\":\"POST $list_path\",\"status\":503,\"times\":1}"
	run create web-3
	id3=$(awk '$1 == "created" && $2 == "web-3" {print $3}' <<<"$out")
	[ $rc -eq 0 ] && [ -n "$id3" ] &&
		[ "$(state "len([s for s in d['$items'] if s['name'] == 'web-3'])")" = 1 ] &&
		ok "$P: a create answered 503 is looked up by name, then made once ($ms ms)" ||
		bad "$P: a create answered 503 is made once" "$(said)"

	fault "{\"match\":\"POST $list_path\",\"delay\":3,\"times\":1}"
	CLOUD_REQUEST_TIMEOUT_MS=1500 run create web-4
	id4=$(awk '$1 == "created" && $2 == "web-4" {print $3}' <<<"$out")
	[ $rc -eq 0 ] && [ -n "$id4" ] && [[ $err == *"adopted"* ]] &&
		[ "$(state "len([s for s in d['$items'] if s['name'] == 'web-4'])")" = 1 ] &&
		ok "$P: a create that timed out here but landed there is adopted, made once ($ms ms)" ||
		bad "$P: a create that timed out but landed is adopted" "$(said)"

	run_env "$key_var=wrong-$TOKEN" list
	[ $rc -eq 1 ] && [[ $err == *"error [-7 authentication failed]: $P: the API refused the token in \$$key_var"* ]] &&
		[[ $err != *"wrong-$TOKEN"* ]] &&
		ok "$P: a bad token names \$$key_var and never shows the token" ||
		bad "$P: a bad token names \$$key_var" "$(said)"
	run_env "$key_var=ro-$TOKEN" create web-5
	[ $rc -eq 1 ] && [[ $err == *"error [-7 authentication failed]: node web-5: $P: the token in \$$key_var may not do this (POST "*" 403 "*"give bootstrap a token with"*[Ww]rite* ]] &&
		[[ $err != *"ro-$TOKEN"* ]] &&
		ok "$P: a read-only token: a write is refused, naming the permission it needs" ||
		bad "$P: a read-only token: a write is refused" "$(said)"
	run_env -u "$key_var" list
	[ $rc -eq 1 ] && [[ $err == *"error [-7 authentication failed]: $P: no API token: set $key_var"* ]] &&
		ok "$P: no token: the variable to set is named" ||
		bad "$P: no token: the variable to set is named" "$(said)"

	if [ "$P" = hetzner ]; then
		fault '{"match":"POST /v1/servers","action_error":true,"error_code":"placement_error","message":"no capacity for cx22 in nbg1"}'
	else
		fault '{"match":"POST /v2/droplets","action_error":true}'
	fi
	run up bad-1
	if [ "$P" = hetzner ]; then
		[ $rc -eq 1 ] && [[ $err == *"error [-10 remote API error]: node bad-1: hetzner: server "*": action create_server failed: placement_error: no capacity for cx22 in nbg1"* ]] &&
			ok "$P: a create action that ends in error fails the node with Hetzner's message ($ms ms)" ||
			bad "$P: a create action that ends in error" "$(said)"
	else
		[ $rc -eq 1 ] && [[ $err == *"error [-10 remote API error]: node bad-1: digitalocean: droplet "*"(create) errored"* ]] &&
			ok "$P: a create action that errors fails the node ($ms ms)" ||
			bad "$P: a create action that errors" "$(said)"
	fi

	ids=$(state "' '.join(str(s['id']) for s in d['$items'] if s['name'] != 'other-1')")
	run destroy
	[ $rc -eq 0 ] && [[ $out == *"count 5" ]] && ok "$P: destroy removes the project's 5 machines ($ms ms)" ||
		bad "$P: destroy removes the project's machines" "$(said)"
	run list
	[ $rc -eq 0 ] && [ "$out" = "count 0" ] && ok "$P: then the project lists nothing" ||
		bad "$P: then the project lists nothing" "$(said)"
	[ "$(state "[s['name'] for s in d['$items']]")" = '["other-1"]' ] &&
		ok "$P: the other project's machine is untouched" ||
		bad "$P: the other project's machine is untouched" "$(head -c 1500 "$T/state.json")"
	# shellcheck disable=SC2086 # ids is a list
	wait_until 60 no_containers $ids && ok "$P: the destroyed machines' containers are gone" ||
		bad "$P: the destroyed machines' containers are gone" "$(containers $ids) left"
	run destroy web-1
	[ $rc -eq 0 ] && [ "$out" = "count 0" ] && ok "$P: destroying what is gone is a no-op" ||
		bad "$P: destroying what is gone is a no-op" "$(said)"

	stop_fake
	[ "$(docker ps -aq --filter "label=io.bootstrap.test.run=$RUN" --filter "label=io.bootstrap.fake-cloud.provider=$P" | wc -l)" = 0 ] &&
		ok "$P: the fake removed its containers on SIGTERM" ||
		bad "$P: the fake removed its containers on SIGTERM" "$(tail -5 "$T/$P.err")"
	unset "$key_var"
}

for p in $PROVIDERS; do
	suite "$p"
done

# cli P: the real binary on the example recipe's shape pointed at the fake:
# `prepare` creates the machine, reaches it over SSH at its "public" address
# and makes it a Docker host; `apply` deploys a container on it (its image
# copied from the local engine); a second apply changes nothing; destroy
# leaves nothing.
BOOTSTRAP=${BOOTSTRAP:-./bootstrap}
read -r -a WRAP <<<"${BS_WRAP:-}"
cli() {
	local P=$1 var type ver
	if [ "$P" = hetzner ]; then var=HCLOUD_TOKEN ver=v1 type="type: hetzner, location: fsn1, server_type: cx22, image: debian-12"
	else var=DIGITALOCEAN_TOKEN ver=v2 type="type: digitalocean, region: fra1, size: s-1vcpu-1gb, image: debian-12-x64"; fi
	start_fake "$P" || { bad "$P cli: the fake starts"; return; }
	cat >"$T/$P.yaml" <<EOF
version: 1
project: clitest
provider: {$type, api_url: "$BASE/$ver"}
ssh: {key: $T/id_ed25519, wait_timeout: 60s}
nodes:
  - {name: app}
images:
  - {name: local/busybox:1, pull: never}
containers:
  - {name: web, image: local/busybox:1, command: [sleep, "100000"]}
EOF
	export "$var=$TOKEN"
	local state=$T/state-$P
	BOOTSTRAP_DIR=$state timeout 600 "${WRAP[@]}" "$BOOTSTRAP" prepare "$T/$P.yaml" >"$T/cli.out" 2>"$T/cli.err"
	rc=$?
	if [ $rc -eq 0 ] && grep -q "^$P: 0 machine(s) found, 1 created" "$T/cli.out" &&
		grep -q "^app: ready: debian 12, Docker .* Docker installed" "$T/cli.out"; then
		ok "$P cli: bootstrap prepare creates the machine and makes it a Docker host"
	else
		bad "$P cli: bootstrap prepare creates the machine and makes it a Docker host" "$(cat "$T/cli.out" "$T/cli.err")"
	fi
	BOOTSTRAP_DIR=$state timeout 600 "${WRAP[@]}" "$BOOTSTRAP" prepare --json "$T/$P.yaml" >"$T/cli.out" 2>"$T/cli.err"
	rc=$?
	[ $rc -eq 0 ] && grep -q '"node":"app","ok":true.*"daemon":"none","commands":1,"uploads":0' "$T/cli.out" &&
		ok "$P cli: the second run finds it (nothing created, one command)" ||
		bad "$P cli: the second run finds it" "$(cat "$T/cli.out" "$T/cli.err")"
	BOOTSTRAP_DIR=$state timeout 600 "${WRAP[@]}" "$BOOTSTRAP" --json "$T/$P.yaml" >"$T/cli.out" 2>"$T/cli.err"
	rc=$?
	[ $rc -eq 0 ] && grep -q '"event":"action_done","time":"[^"]*","node":"app","action":"create","object":"clitest-web-1"' "$T/cli.out" &&
		grep -q '"event":"summary".*"counts":{"created":1,"replaced":0,"updated":0,"started":0,"removed":0,"unchanged":0,"failed":0' "$T/cli.out" &&
		ok "$P cli: bootstrap apply deploys the container on the cloud machine" ||
		bad "$P cli: bootstrap apply deploys the container on the cloud machine" "$(cat "$T/cli.out" "$T/cli.err")"
	BOOTSTRAP_DIR=$state timeout 600 "${WRAP[@]}" "$BOOTSTRAP" --json "$T/$P.yaml" >"$T/cli.out" 2>"$T/cli.err"
	rc=$?
	[ $rc -eq 0 ] && ! grep -q '"event":"action_started"' "$T/cli.out" &&
		grep -q '"event":"summary".*"counts":{"created":0,"replaced":0,"updated":0,"started":0,"removed":0,"unchanged":1,"failed":0,"other":0}' "$T/cli.out" &&
		ok "$P cli: a second apply changes nothing" ||
		bad "$P cli: a second apply changes nothing" "$(cat "$T/cli.out" "$T/cli.err")"
	BOOTSTRAP_DIR=$state timeout 600 "${WRAP[@]}" "$BOOTSTRAP" --json destroy "$T/$P.yaml" >"$T/cli.out" 2>"$T/cli.err"
	rc=$?
	[ $rc -eq 0 ] && grep -q '"event":"action_done".*"action":"destroy-machine","object":"app"' "$T/cli.out" &&
		[ "$(state "len(d['$( [ "$P" = hetzner ] && echo servers || echo droplets)'])")" = 0 ] &&
		ok "$P cli: bootstrap destroy leaves nothing" ||
		bad "$P cli: bootstrap destroy leaves nothing" "$(cat "$T/cli.out" "$T/cli.err")"
	unset "$var"
	stop_fake
}
bash scripts/demo-image.sh || bad "the demo image (scripts/demo-image.sh)"
for p in $PROVIDERS; do
	cli "$p"
done
echo "-- timings (ms)"
sed 's/^/   /' "$T/times"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
