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
#   - the key a machine was created with is recorded (Hetzner label,
#     DigitalOcean tag) and listed back;
#   - the answers the published definitions give and the drivers once
#     missed: a read-only token (Hetzner 401 token_readonly: the Read &
#     Write advice; DigitalOcean 403: the custom scopes, image:read and
#     actions:read among them), Hetzner maintenance and conflict answers
#     retried, a GPU droplet found again and never made twice (GPU droplets
#     are listed only with type=gpus), the plan-time check of server types /
#     sizes, images and locations / regions (deprecated, unavailable,
#     unknown: FILE:LINE:COL, the key, valid names; nothing created);
#   - a machine powered off from the console lists as stopped, is powered on
#     by start() and answers SSH again; one powered off is destroyed too;
#   - destroy removes every machine of the project and their containers.
# The fake runs with a run label; its containers and volumes (ours only)
# are removed on exit, by the fake on SIGTERM and by label as a backstop.
#
# Then the real binary on a cloud recipe per provider (cli below), with
# keys that arrive late (the fake's --cloud-init-delay), a machine powered
# off and started by the next apply, destroy with a machine off, and a
# destroy then re-create at the same address (no "host key changed").
#
#   make build/integration/cloud && INTEG_BIN=build/integration bash tests/integration/cloud.sh
#   CLOUD_PROVIDERS=hetzner ...   one provider only
#
# The four sections (suite and cli, per provider) run at once, as most of
# their time is waiting (nodes booting, Docker installed with apt inside
# them): each in a background subshell with its own work directory, fake,
# run label and addresses (section below); their logs are printed in a
# fixed order as they end, their counts summed.
# shellcheck disable=SC2015 # ok never fails: "A && ok || bad" is an if/else here
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
CLOUD=${INTEG_BIN:-build/integration}/cloud
# BS_WRAP runs the program under a checker (valgrind) when set
read -r -a WRAP <<<"${BS_WRAP:-}"
# how soon an interrupted request must end: slower, not unbounded, under a checker
INTERRUPT_MS=1000
[ -n "${ASAN_OPTIONS:-}" ] && INTERRUPT_MS=2500
[ ${#WRAP[@]} -gt 0 ] && INTERRUPT_MS=5000
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

# T: the work directory; each section gets its own under TOP (out, err,
# state.json, the fake's output ... are per section)
TOP=$(mktemp -d "${TMPDIR:-/tmp}/bootstrap-cloud.XXXXXX") || exit 1
T=$TOP
# RUN: a section's run label, RUN_BASE-SECTION: the fakes name node
# containers LABEL-PROVIDER-ID with ids from 1001 in each fake, so two fakes of
# one provider need two labels; the per-label checks (containers, the fake's
# SIGTERM cleanup) then see only their own section's nodes
RUN_BASE=bsc-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
RUN=$RUN_BASE
TOKEN=tok-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
FAKE_PID=
# the first public address of a section's fake (start_fake)
FIRST_IP=127.0.0.2
SECTIONS=() SECTION_PIDS=() COLLECTED=0

stop_fake() {
	[ -n "$FAKE_PID" ] || return 0
	kill -TERM "$FAKE_PID" 2>/dev/null
	local end=$((SECONDS + 150))
	while kill -0 "$FAKE_PID" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.2; done
	kill -0 "$FAKE_PID" 2>/dev/null && kill -KILL "$FAKE_PID" 2>/dev/null
	wait "$FAKE_PID" 2>/dev/null
	FAKE_PID=
}
# stop_sections: the sections still running ended, each with its fake. A
# subshell runs its TERM trap only when its foreground command ends, so
# that command (the program, timeout, curl, sleep) and the fake get TERM
# too: the fake removes its nodes, then the subshell's EXIT trap waits for it
stop_sections() {
	local pid end=$((SECONDS + 150))
	for pid in "${SECTION_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null && pkill -TERM -P "$pid" 2>/dev/null
	done
	for pid in "${SECTION_PIDS[@]}"; do
		while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.2; done
		pkill -KILL -P "$pid" 2>/dev/null
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	SECTION_PIDS=()
}
cleanup() {
	set +e
	stop_sections
	local -a ids vols
	local name
	# what the sections cut short by an interrupt had done
	for name in "${SECTIONS[@]:COLLECTED}"; do
		cat "$TOP/$name/log" 2>/dev/null
	done
	# every section's label, as a backstop (a fake killed leaves its nodes)
	for name in "${SECTIONS[@]}"; do
		mapfile -t ids < <(docker ps -aq --filter "label=io.bootstrap.test.run=$RUN_BASE-$name" 2>/dev/null)
		[ ${#ids[@]} -eq 0 ] || docker rm -f -v "${ids[@]}" >/dev/null 2>&1
		mapfile -t vols < <(docker volume ls -q --filter "label=io.bootstrap.test.run=$RUN_BASE-$name" 2>/dev/null)
		[ ${#vols[@]} -eq 0 ] || docker volume rm -f "${vols[@]}" >/dev/null 2>&1
	done
	rm -rf "$TOP"
	lab_down
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# one key for every section (read only)
KEY=$TOP/id_ed25519
ssh-keygen -q -t ed25519 -N '' -C "cloud-itest-$RUN" -f "$KEY" || exit 1
export CLOUD_PUBKEY=$KEY.pub CLOUD_PROJECT=itest
# the key's SHA256 fingerprint, recorded on every machine created
KEY_FP=$(ssh-keygen -l -f "$KEY.pub" | awk '{print $2}')
export CLOUD_KEY_FP=$KEY_FP

# start_fake PROVIDER [OPTION...]: on a free port, addresses from FIRST_IP;
# sets BASE (http://127.0.0.1:PORT)
start_fake() {
	local p=$1
	shift
	rm -f "$T/$p.out" # a previous fake's line must not be read as this one's
	python3 "tests/fakes/${p}_api.py" --port 0 --token "$TOKEN" --readonly-token "ro-$TOKEN" --run-label "$RUN" \
		--first-ip "$FIRST_IP" "$@" >"$T/$p.out" 2>"$T/$p.err" &
	FAKE_PID=$!
	local end=$((SECONDS + 20))
	until grep -q '^listening on ' "$T/$p.out" 2>/dev/null; do
		if ! kill -0 "$FAKE_PID" 2>/dev/null || [ $SECONDS -ge $end ]; then
			cat "$T/$p.err" >&2
			return 1
		fi
		sleep 0.1
	done
	BASE=http://127.0.0.1:$(awk '/^listening on /{print $3}' "$T/$p.out")
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
# fault_hits: the requests the fake's faults have caught so far
fault_hits() {
	curl -sS "$BASE/__fake/faults" | python3 -c 'import json, sys
print(sum(f["hits"] for f in json.load(sys.stdin)["faults"]))'
}
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
	timeout 30 ssh -i "$KEY" -o BatchMode=yes -o StrictHostKeyChecking=no \
		-o UserKnownHostsFile=/dev/null -o ConnectTimeout=10 -o LogLevel=ERROR \
		"root@$1" 'echo ssh-ok' 2>&1
}
# ssh_ok HOST: ssh_works, quietly (for wait_until: sshd answers before a
# booting machine lets logins in)
ssh_ok() { [ "$(ssh_works "$1")" = ssh-ok ]; }
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
# power P ID on|off: the machine powered on/off through the API, as from the console
power() {
	if [ "$1" = hetzner ]; then
		api POST "/v1/servers/$2/actions/power$3" ''
	else
		api POST "/v2/droplets/$2/actions" "{\"type\":\"power_$3\"}"
	fi
}
# status_is P ID STATUS: the provider shows the machine in that status
status_is() {
	local items=servers
	[ "$1" = digitalocean ] && items=droplets
	[ "$(state "[s['status'] for s in d['$items'] if s['id'] == $2]")" = "[\"$3\"]" ]
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
	local off=off gpu label writes
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
	local t_suite=$SECONDS
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
	if [ $rc -eq 0 ] && [ "$out" = "web-1 $id1 running $host1 $size $image $region $KEY_FP
web-2 $id2 running $host2 $size $image $region $KEY_FP
count 2" ]; then
		ok "$P: list shows web-1 and web-2, sorted, running, with address, size, image, region, the key they were created with"
	else
		bad "$P: list shows web-1 and web-2" "$(said)"
	fi

	label=$(sed 's/^SHA256:/SHA256_/; y|+/|-_|' <<<"$KEY_FP")
	if [ "$P" = hetzner ]; then
		pair=$(state "sorted({s['labels'].get('bootstrap.ssh-key') for s in d['servers']})")
	else
		pair=$(state "sorted({t for s in d['droplets'] for t in s['tags'] if t.startswith('bootstrap-key:')})")
	fi
	[ "$pair" = "[\"$([ "$P" = digitalocean ] && echo bootstrap-key:)$label\"]" ] &&
		ok "$P: each machine carries the key it was created with ($([ "$P" = hetzner ] && echo label bootstrap.ssh-key || echo tag bootstrap-key:...))" ||
		bad "$P: each machine carries the key it was created with" "$pair (want $label)"

	# powered off from the console: listed as stopped, started, reachable again
	code=$(power "$P" "$id2" off)
	if [[ $code == 20? ]] && wait_until 60 status_is "$P" "$id2" "$off"; then
		run list
		[ $rc -eq 0 ] && [[ $out == *"web-2 $id2 stopped "* ]] &&
			ok "$P: a machine powered off from the console lists as stopped" ||
			bad "$P: a machine powered off lists as stopped" "$(said)"
		run start web-2
		[ $rc -eq 0 ] && [[ $out == *"found web-2 $id2 stopped"* ]] && [[ $out == *"up web-2 $id2 running $host2 "* ]] &&
			[[ $err == *"was off; powering it on"* ]] && wait_until 30 ssh_ok "${host2%:22}" &&
			[ "$(state "[r['path'] for r in d['requests'] if r['method'] == 'POST'][-1]")" = "$([ "$P" = hetzner ] && echo "/v1/servers/$id2/actions/poweron" || echo "/v2/droplets/$id2/actions")" ] &&
			ok "$P: start powers it on ($([ "$P" = hetzner ] && echo poweron || echo power_on)), waits until it runs, SSH answers ($ms ms)" ||
			bad "$P: start powers a stopped machine on" "$(said)
ssh: $(ssh_works "${host2%:22}")"
	else
		bad "$P: a machine powered off through the API" "$code $(cat "$T/api.json")"
	fi

	# the plan-time check: the provider's catalogue, before anything is made
	writes=$(state "len([r for r in d['requests'] if r['method'] != 'GET'])")
	run check
	[ $rc -eq 0 ] && [ "$out" = "check ok" ] && ok "$P: check: the recipe's size, image and region exist ($ms ms)" ||
		bad "$P: check: the recipe's size, image and region exist" "$(said)"
	if [ "$P" = hetzner ]; then
		CLOUD_SIZE=cx11 run check
		[ $rc -eq 1 ] && [[ $err == *"error [-2 invalid input]: cloud-test:3:11: provider.server_type: hetzner's server type 'cx11' is deprecated (unavailable after 2024-01-01"*"can no longer be ordered"*"(valid: cax11, cpx11, "*", ...)"* ]] &&
			ok "$P: check: a deprecated server type is an error with FILE:LINE:COL, the key, valid types" ||
			bad "$P: check: a deprecated server type is an error" "$(said)"
		CLOUD_SIZE=cx21 run check
		[ $rc -eq 0 ] && [ "$out" = "check ok" ] &&
			ok "$P: check: a server type whose deprecation is only announced can still be ordered" ||
			bad "$P: check: a server type announced as deprecated can still be ordered" "$(said)"
		CLOUD_IMAGE=ubuntu-20.04 run check
		[ $rc -eq 0 ] && [ "$out" = "check ok" ] &&
			ok "$P: check: an image deprecated from a future date can still be ordered" ||
			bad "$P: check: an image deprecated in the future can still be ordered" "$(said)"
		CLOUD_SIZE=cx23 run check
		[ $rc -eq 1 ] && [[ $err == *"cloud-test:3:11: provider.server_type: hetzner has no server type 'cx23' (valid: "*"cx22, "*"cx32"* ]] &&
			ok "$P: check: an unknown server type lists the closest valid ones" ||
			bad "$P: check: an unknown server type lists the closest valid ones" "$(said)"
		CLOUD_NODE_SIZE=cpx99 run check web-9
		[ $rc -eq 1 ] && [[ $err == *"cloud-test:5:5: nodes (web-9): server_type: hetzner has no server type 'cpx99' (valid: cpx11, "* ]] &&
			ok "$P: check: a node's own server_type is checked, named at its entry" ||
			bad "$P: check: a node's own server_type is checked" "$(said)"
		CLOUD_SIZE=cpx11 CLOUD_REGION=ash CLOUD_NODE_SIZE=cx32 run check web-9
		[ $rc -eq 1 ] && [[ $err == *"nodes (web-9): server_type: hetzner's server type 'cx32' is not offered in location ash"* ]] &&
			ok "$P: check: a server type not offered in the location" ||
			bad "$P: check: a server type not offered in the location" "$(said)"
		CLOUD_IMAGE=debian-10 run check
		[ $rc -eq 1 ] && [[ $err == *"provider.image: hetzner's image 'debian-10' is deprecated"* ]] &&
			ok "$P: check: a deprecated image" || bad "$P: check: a deprecated image" "$(said)"
		CLOUD_IMAGE=debain-12 run check
		[ $rc -eq 1 ] && [[ $err == *"provider.image: hetzner has no image 'debain-12' (valid: debian-12, "* ]] &&
			ok "$P: check: an unknown image, the closest first" || bad "$P: check: an unknown image" "$(said)"
		CLOUD_REGION=fsn2 run check
		[ $rc -eq 1 ] && [[ $err == *"provider.location: hetzner has no location 'fsn2' (valid: fsn1, "* ]] &&
			ok "$P: check: an unknown location" || bad "$P: check: an unknown location" "$(said)"
	else
		CLOUD_SIZE=s-1vcpu-512mb-10gb run check
		[ $rc -eq 1 ] && [[ $err == *"error [-2 invalid input]: cloud-test:3:11: provider.size: digitalocean's size 's-1vcpu-512mb-10gb' cannot be ordered in fra1 now"*"(valid: s-1vcpu-1gb, "* ]] &&
			ok "$P: check: a size not available is an error with FILE:LINE:COL, the key, valid sizes" ||
			bad "$P: check: a size not available is an error" "$(said)"
		CLOUD_NODE_SIZE=s-1vcpu-3gb run check web-9
		[ $rc -eq 1 ] && [[ $err == *"cloud-test:5:5: nodes (web-9): size: digitalocean has no size 's-1vcpu-3gb' (valid: s-1vcpu-1gb, s-1vcpu-2gb, "* ]] &&
			ok "$P: check: a node's unknown size, the closest valid ones first" ||
			bad "$P: check: a node's unknown size" "$(said)"
		CLOUD_REGION=nyc2 run check
		[ $rc -eq 1 ] && [[ $err == *"provider.region: digitalocean has no region 'nyc2' open for new droplets (valid: "* ]] &&
			ok "$P: check: a region closed to new droplets" || bad "$P: check: a region closed to new droplets" "$(said)"
		CLOUD_IMAGE=debian-99-x64 run check
		[ $rc -eq 1 ] && [[ $err == *"provider.image: digitalocean has no image 'debian-99-x64'"* ]] &&
			ok "$P: check: an unknown image" || bad "$P: check: an unknown image" "$(said)"
	fi
	[ "$(state "len([r for r in d['requests'] if r['method'] != 'GET'])")" = "$writes" ] &&
		ok "$P: the checks only read" || bad "$P: the checks only read" "$(head -c 800 "$T/state.json")"

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
		[ "$(state "[r['status'] for r in d['requests'] if r['path'] == '$list_path' and r['method'] == 'GET'][-$([ "$P" = hetzner ] && echo 3 || echo 4):]")" = "$([ "$P" = hetzner ] && echo "[429, 429, 200]" || echo "[429, 429, 200, 200]")" ] &&
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

	# Ctrl-C while a request is in flight (the answer takes 10 s): abandoned at once
	fault "{\"match\":\"GET $list_path\",\"delay\":10,\"times\":1}"
	"${WRAP[@]}" "$CLOUD" "$P" list >"$T/out" 2>"$T/err" &
	pid=$!
	# in flight once the fake has taken the fault (it counts the hit as the
	# request arrives, then waits): a fixed sleep (1.5 s, 5 s under valgrind)
	# could end before a slow start did, with the other sections loading the
	# machine; the signal then found SIGINT still ignored (above)
	for _ in $(seq 200); do
		[ "$(fault_hits)" = 1 ] && break
		sleep 0.1
	done
	sleep 0.3
	t0=$(date +%s%N)
	kill -INT "$pid"
	wait "$pid"
	rc=$? ms=$((($(date +%s%N) - t0) / 1000000)) out=$(cat "$T/out") err=$(cat "$T/err")
	[ $rc -eq 1 ] && [[ $err == *"error [-13 interrupted]: $P: GET "*"interrupted"* ]] && [ $ms -lt "$INTERRUPT_MS" ] &&
		ok "$P: SIGINT abandons a request in flight within $ms ms" ||
		bad "$P: SIGINT abandons a request in flight" "$(said) ($ms ms)"

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
	if [ "$P" = hetzner ]; then
		[ $rc -eq 1 ] && [[ $err == *"error [-7 authentication failed]: node web-5: $P: the token in \$$key_var may not do this (POST "*" 401 token_readonly: "*"it is read-only: give bootstrap a token with Read & Write permission"* ]] &&
			[[ $err != *"ro-$TOKEN"* ]] &&
			ok "$P: a read-only token (401 token_readonly): the Read & Write advice" ||
			bad "$P: a read-only token (401 token_readonly)" "$(said)"
	else
		[ $rc -eq 1 ] && [[ $err == *"error [-7 authentication failed]: node web-5: $P: the token in \$$key_var may not do this (POST "*" 403 "*"give bootstrap a token with read and write scope, or a custom-scoped token with "*"image:read, actions:read"* ]] &&
			[[ $err != *"ro-$TOKEN"* ]] &&
			ok "$P: a read-only token (403): the scopes a custom token needs, image:read and actions:read too" ||
			bad "$P: a read-only token (403): the scopes" "$(said)"
	fi
	if [ "$P" = hetzner ]; then
		fault '{"match":"GET /v1/servers","status":403,"times":2,"body":{"error":{"code":"maintenance","message":"Cannot perform operation due to maintenance","details":{}}}}'
		run list
		[ $rc -eq 0 ] && [[ $out == *"count "* ]] && [ "$(grep -c 'answered 403 maintenance; retrying' <<<"$err")" = 2 ] &&
			ok "$P: 403 maintenance is retried, not a permission problem ($ms ms)" ||
			bad "$P: 403 maintenance is retried" "$(said)"
		fault '{"match":"POST /v1/servers","status":409,"times":1,"body":{"error":{"code":"conflict","message":"The resource has changed during the request, please retry","details":{}}}}'
		run create web-6
		[ $rc -eq 0 ] && [[ $out == "created web-6 "* ]] && [[ $err == *"answered 409 conflict; retrying"* ]] &&
			[ "$(state "len([s for s in d['servers'] if s['name'] == 'web-6'])")" = 1 ] &&
			ok "$P: 409 conflict on a create is retried, made once ($ms ms)" ||
			bad "$P: 409 conflict on a create is retried" "$(said)"
	else
		# GPU droplets are listed only with type=gpus
		CLOUD_SIZE=gpu-h100x1-80gb CLOUD_REGION=tor1 run create gpu-1
		gpu=$(awk '$1 == "created" && $2 == "gpu-1" {print $3}' <<<"$out")
		run list
		[ -n "$gpu" ] && [ $rc -eq 0 ] && [[ $out == *"gpu-1 $gpu "*" gpu-h100x1-80gb "* ]] &&
			ok "$P: a GPU droplet is listed (type=gpus asked too)" || bad "$P: a GPU droplet is listed" "$(said)"
		CLOUD_SIZE=gpu-h100x1-80gb CLOUD_REGION=tor1 run create gpu-1
		[ $rc -eq 0 ] && [[ $out == "created gpu-1 $gpu "* ]] && [[ $err == *adopted* ]] &&
			[ "$(state "len([s for s in d['droplets'] if s['name'] == 'gpu-1'])")" = 1 ] &&
			ok "$P: the GPU droplet is found again, never made twice" ||
			bad "$P: the GPU droplet is found again" "$(said)"
	fi
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
	power "$P" "$id1" off >/dev/null
	wait_until 60 status_is "$P" "$id1" "$off" || bad "$P: web-1 powered off before destroy"
	[ "$P" = hetzner ] &&
		fault '{"match":"DELETE /v1/servers/*","status":409,"times":1,"body":{"error":{"code":"conflict","message":"The resource has changed during the request, please retry","details":{}}}}'
	run destroy
	[ $rc -eq 0 ] && [[ $out == *"count 6" ]] && [[ $out == *"destroyed web-1 $id1"* ]] &&
		{ [ "$P" != hetzner ] || [[ $err == *"answered 409 conflict; retrying"* ]]; } &&
		ok "$P: destroy removes the project's 6 machines, web-1 powered off$([ "$P" = hetzner ] && echo ", a 409 conflict on a DELETE retried") ($ms ms)" ||
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
	echo "   ($P: $((SECONDS - t_suite)) s)"
}

# cli P: the real binary on the example recipe's shape pointed at the fake:
# plan refuses a server type that cannot be ordered before anything is made;
# `prepare` creates the machine (its key arrives 3 s after it runs, and is
# waited for), reaches it over SSH at its "public" address and makes it a
# Docker host; `apply` deploys a container on it (its image copied from the
# local engine); a second apply changes nothing; powered off from the
# console, status says so, plan shows start-machine and apply powers it on
# and converges; destroy removes it while it is off; a new machine at the
# same address is trusted on first use; destroy leaves nothing.
BOOTSTRAP=${BOOTSTRAP:-./bootstrap}
read -r -a WRAP <<<"${BS_WRAP:-}"
cli() {
	local P=$1 var type ver items id ip ip2 fid t0=$SECONDS
	if [ "$P" = hetzner ]; then var=HCLOUD_TOKEN ver=v1 items=servers type="type: hetzner, location: fsn1, server_type: cx22, image: debian-12"
	else var=DIGITALOCEAN_TOKEN ver=v2 items=droplets type="type: digitalocean, region: fra1, size: s-1vcpu-1gb, image: debian-12-x64"; fi
	# the machine's key arrives 3 s after it reports running, as cloud-init writes it
	start_fake "$P" --cloud-init-delay 3 || { bad "$P cli: the fake starts"; return; }
	cat >"$T/$P.yaml" <<EOF
version: 1
project: clitest
provider: {$type, api_url: "$BASE/$ver"}
ssh: {key: $KEY, wait_timeout: 60s}
nodes:
  - {name: app}
images:
  - {name: local/busybox:1, pull: never}
containers:
  - {name: web, image: local/busybox:1, command: [sleep, "100000"]}
EOF
	export "$var=$TOKEN"
	local state=$T/state-$P
	# bs ARGS...: the binary with this provider's state dir; sets rc
	bs() {
		BOOTSTRAP_DIR=$state timeout 600 "${WRAP[@]}" "$BOOTSTRAP" "$@" >"$T/cli.out" 2>"$T/cli.err"
		rc=$?
	}
	said_cli() {
		printf 'exit %s\n' "$rc"
		cat "$T/cli.out" "$T/cli.err"
	}

	# a server type / size that cannot be ordered: plan fails before anything is made
	if [ "$P" = hetzner ]; then
		sed 's/server_type: cx22/server_type: cx11/' "$T/$P.yaml" >"$T/$P-bad.yaml"
	else
		sed 's/size: s-1vcpu-1gb/size: s-1vcpu-512mb-10gb/' "$T/$P.yaml" >"$T/$P-bad.yaml"
	fi
	bs plan "$T/$P-bad.yaml"
	[ $rc -ne 0 ] && grep -q "$P-bad.yaml:3:[0-9]*: provider.$([ "$P" = hetzner ] && echo server_type || echo size): .*(valid: " "$T/cli.err" &&
		[ "$(state "len([r for r in d['requests'] if r['method'] != 'GET'])")" = 0 ] &&
		ok "$P cli: plan with a server type that cannot be ordered fails at its line, valid names listed, nothing made" ||
		bad "$P cli: plan with a server type that cannot be ordered fails" "$(said_cli)"

	# what the cloud offers (locations): from the fake's catalogue, as the
	# provider's API definition shapes it, orderable where it can be ordered
	bs --json locations -r "$T/$P.yaml"
	[ $rc -eq 0 ] && python3 -c '
import json, sys
d = json.load(open(sys.argv[2]))
sizes = {s["name"]: s for s in d["sizes"]}
locs = {l["name"]: l for l in d["locations"]}
if sys.argv[1] == "hetzner":
    eu, every = ["fsn1", "nbg1", "hel1"], ["fsn1", "nbg1", "hel1", "ash", "hil", "sin"]
    assert sorted(locs) == sorted(every) and all(l["available"] for l in locs.values()), locs
    assert sizes["cx11"]["available_in"] == [], sizes["cx11"]        # no longer orderable
    assert sizes["cx21"]["available_in"] == eu, sizes["cx21"]        # deprecated, orderable until then
    assert sizes["cx22"]["available_in"] == eu, sizes["cx22"]
    assert sizes["cpx11"]["available_in"] == every, sizes["cpx11"]
    z = sizes["cx22"]
    assert (z["cores"], z["memory_gb"], z["disk_gb"], z["arch"]) == (2, 4, 40, "x86"), z
    assert (z["price_monthly"], z["price_hourly"], z["currency"]) == (5.37, 0.0095, "EUR"), z
else:
    assert locs["nyc2"]["available"] is False and locs["fra1"]["available"] is True, locs
    assert sizes["s-1vcpu-512mb-10gb"]["available_in"] == [], sizes    # not available
    assert sizes["gpu-h100x1-80gb"]["available_in"] == ["tor1"], sizes  # nyc2 is closed
    z = sizes["s-1vcpu-1gb"]
    assert (z["cores"], z["memory_gb"], z["disk_gb"]) == (1, 1, 25), z
    assert (z["price_monthly"], z["price_hourly"], z["currency"]) == (6.0, 0.00893, "USD"), z
    assert "nyc2" not in z["available_in"] and "fra1" in z["available_in"], z
' "$P" "$T/cli.out" &&
		ok "$P cli: locations --json: every location, each size with its price and where it can be ordered now" ||
		bad "$P cli: locations --json" "$(said_cli)"
	bs locations --provider "$P" --api-url "$BASE/$ver"
	[ $rc -eq 0 ] && grep -qE "^    $([ "$P" = hetzner ] && echo 'cx22 .* 5\.37 .* fsn1 nbg1 hel1$' || echo 's-1vcpu-1gb .* 6\.00 .* ams3 fra1 lon1')" "$T/cli.out" &&
		ok "$P cli: locations --provider $P --api-url: the table, the price and where" || bad "$P cli: locations --provider" "$(said_cli)"
	bs locations -r "$T/$P.yaml"
	[ $rc -eq 0 ] && grep -qE "^  \* $([ "$P" = hetzner ] && echo 'fsn1 ' || echo 'fra1 ')" "$T/cli.out" &&
		grep -qE "^  \* $([ "$P" = hetzner ] && echo 'cx22 ' || echo 's-1vcpu-1gb ')" "$T/cli.out" &&
		ok "$P cli: locations -r RECIPE marks the recipe's location and size" || bad "$P cli: locations -r marks" "$(said_cli)"
	unset "$var"
	bs locations --provider "$P" --api-url "$BASE/$ver"
	[ $rc -eq 1 ] && grep -q "no API token: set $var" "$T/cli.err" &&
		ok "$P cli: locations without a token: exit 1, the variable named" || bad "$P cli: locations without a token" "$(said_cli)"
	export "$var=$TOKEN"

	bs prepare "$T/$P.yaml"
	if [ $rc -eq 0 ] && grep -q "^$P: 0 machine(s) found, 1 created" "$T/cli.out" &&
		grep -q "^app: ready: debian 12\( (systemd)\)\?, Docker .* Docker installed" "$T/cli.out"; then
		ok "$P cli: bootstrap prepare creates the machine and makes it a Docker host"
	else
		bad "$P cli: bootstrap prepare creates the machine and makes it a Docker host" "$(said_cli)"
	fi
	wait_until 20 grep -q "keys written 3.0 s after it runs" "$T/$P.err"
	grep -q "keys written 3.0 s after it runs" "$T/$P.err" && [ $rc -eq 0 ] &&
		ok "$P cli: the new machine's key arrived 3 s after it ran, and was waited for" ||
		bad "$P cli: the new machine's key arrived late and was waited for" "$(tail -5 "$T/$P.err")"
	bs prepare --json "$T/$P.yaml"
	[ $rc -eq 0 ] && grep -q '"node":"app","ok":true.*"daemon":"none","commands":1,"uploads":0' "$T/cli.out" &&
		ok "$P cli: the second run finds it (nothing created, one command)" ||
		bad "$P cli: the second run finds it" "$(said_cli)"
	bs --json "$T/$P.yaml"
	[ $rc -eq 0 ] && grep -q '"event":"action_done","time":"[^"]*","node":"app","action":"create","object":"clitest-web-1"' "$T/cli.out" &&
		grep -q '"event":"summary".*"counts":{"created":1,"replaced":0,"updated":0,"started":0,"removed":0,"unchanged":0,"failed":0' "$T/cli.out" &&
		ok "$P cli: bootstrap apply deploys the container on the cloud machine" ||
		bad "$P cli: bootstrap apply deploys the container on the cloud machine" "$(said_cli)"
	bs --json "$T/$P.yaml"
	[ $rc -eq 0 ] && ! grep -q '"event":"action_started"' "$T/cli.out" &&
		grep -q '"event":"summary".*"counts":{"created":0,"replaced":0,"updated":0,"started":0,"removed":0,"unchanged":1,"failed":0,"other":0}' "$T/cli.out" &&
		ok "$P cli: a second apply changes nothing" ||
		bad "$P cli: a second apply changes nothing" "$(said_cli)"

	# powered off from the console: status says so, plan says start-machine,
	# the next apply powers it on and converges
	id=$(state "d['$items'][0]['id']")
	ip=$(state "d['$items'][0]['fake']['ip']")
	power "$P" "$id" off >/dev/null
	if wait_until 60 status_is "$P" "$id" off; then
		bs status "$T/$P.yaml"
		grep -q "the machine is off" "$T/cli.out" "$T/cli.err" &&
			ok "$P cli: status shows the machine off" || bad "$P cli: status shows the machine off" "$(said_cli)"
		bs plan --json "$T/$P.yaml"
		grep -q '"action":"start-machine","object":"app"' "$T/cli.out" &&
			ok "$P cli: plan shows start-machine" || bad "$P cli: plan shows start-machine" "$(said_cli)"
		bs --json "$T/$P.yaml"
		[ $rc -eq 0 ] && status_is "$P" "$id" "$([ "$P" = hetzner ] && echo running || echo active)" &&
			grep -q '"event":"summary".*"failed":0' "$T/cli.out" &&
			ok "$P cli: the next apply powers it on and converges" ||
			bad "$P cli: the next apply powers it on and converges" "$(said_cli)"
		bs --json "$T/$P.yaml"
		[ $rc -eq 0 ] && ! grep -q '"event":"action_started"' "$T/cli.out" &&
			ok "$P cli: then a run changes nothing" || bad "$P cli: then a run changes nothing" "$(said_cli)"
	else
		bad "$P cli: the machine powered off from the console" "$(cat "$T/api.json")"
	fi

	# destroy with the machine off; then a new machine of that name at the
	# same address (made through the API, as another run would: an apply
	# would install Docker again for nothing), with new host keys: status
	# trusts it on first use, as the destroy forgot the old keys
	power "$P" "$id" off >/dev/null
	wait_until 60 status_is "$P" "$id" off || bad "$P cli: powered off before destroy"
	bs --json destroy "$T/$P.yaml"
	[ $rc -eq 0 ] && grep -q '"event":"action_done".*"action":"destroy-machine","object":"app"' "$T/cli.out" &&
		[ "$(state "len(d['$items'])")" = 0 ] &&
		ok "$P cli: bootstrap destroy removes the machine while it is off" ||
		bad "$P cli: bootstrap destroy removes the machine while it is off" "$(said_cli)"
	# DigitalOcean forgets a droplet at once and frees its address later
	# shellcheck disable=SC2317 # called by wait_until
	removed() { [ "$(state "len(d.get('removing', []))")" = 0 ]; }
	wait_until 60 removed
	if [ "$P" = hetzner ]; then
		api POST /v1/servers '{"name":"app","server_type":"cx22","image":"debian-12","location":"fsn1","ssh_keys":["bootstrap-clitest"],"labels":{"bootstrap.project":"clitest","bootstrap.node":"app"}}' >/dev/null
	else
		api POST /v2/droplets "{\"name\":\"app\",\"region\":\"fra1\",\"size\":\"s-1vcpu-1gb\",\"image\":\"debian-12-x64\",\"ssh_keys\":[\"$(ssh-keygen -l -E md5 -f "$KEY.pub" | awk '{print $2}' | sed 's/^MD5://')\"],\"tags\":[\"bootstrap-project:clitest\",\"bootstrap-node:app\"]}" >/dev/null
	fi
	fid=$(state "d['$items'][0]['id'] if d['$items'] else None")
	ip2=$(state "d['$items'][0]['fake']['ip'] if d['$items'] else None")
	# shellcheck disable=SC2317 # called by wait_until
	keys_twice() { [ "$(grep -c "keys written" "$T/$P.err")" -ge 2 ]; }
	wait_until 60 keys_twice
	bs status "$T/$P.yaml"
	[ $rc -eq 0 ] && [ "$ip2" = "$ip" ] && [ "$fid" != "$id" ] && ! grep -qi "host key" "$T/cli.out" "$T/cli.err" &&
		ok "$P cli: destroy, then a new machine at the same address $ip: trusted on first use again" ||
		bad "$P cli: destroy then a new machine at the same address ($ip -> $ip2)" "$(said_cli)"
	bs --json destroy "$T/$P.yaml"
	[ $rc -eq 0 ] && [ "$(state "len(d['$items'])")" = 0 ] &&
		ok "$P cli: bootstrap destroy leaves nothing" ||
		bad "$P cli: bootstrap destroy leaves nothing" "$(said_cli)"
	unset "$var"
	stop_fake
	echo "   ($P cli: $((SECONDS - t0)) s)"
}

# section NAME FIRST-IP FUNCTION PROVIDER: FUNCTION PROVIDER in a background
# subshell with its own work directory TOP/NAME, run label and addresses
# from FIRST-IP (a fake skips the addresses bound by others, but two fakes
# may test the same free one at once, and the cli's destroy-then-re-create
# must get its address back: so ranges that never meet; a section holds 7
# at most). Its ok/FAIL lines go to NAME/log; NAME/counts ("PASS FAIL") is
# written only when it ends normally.
section() {
	local name=$1 ip=$2
	shift 2
	mkdir -p "$TOP/$name" || return 1
	# shellcheck disable=SC2030 # its own counts: summed by collect, from NAME/counts
	(
		T=$TOP/$name RUN=$RUN_BASE-$name FIRST_IP=$ip FAKE_PID='' pass=0 fail=0
		: >"$T/times"
		trap stop_fake EXIT
		trap 'exit 143' TERM
		"$@"
		echo "$pass $fail" >"$T/counts"
	) >"$TOP/$name/log" 2>&1 &
	SECTION_PIDS[${#SECTIONS[@]}]=$!
	SECTIONS+=("$name")
}
# collect I: wait for section I, print its log, add its counts; a section
# that ended without its counts (killed, a shell error) is a failure
collect() {
	local i=$1 name=${SECTIONS[$1]} st c_pass c_fail
	wait "${SECTION_PIDS[$i]}"
	st=$?
	unset "SECTION_PIDS[$i]" # reaped: its pid may be another process's now
	COLLECTED=$((i + 1))
	cat "$TOP/$name/log"
	if read -r c_pass c_fail 2>/dev/null <"$TOP/$name/counts"; then
		# shellcheck disable=SC2031 # the section's counters are its own
		pass=$((pass + c_pass)) fail=$((fail + c_fail))
	else
		pass=$((pass + $(grep -c '^ok ' "$TOP/$name/log")))
		fail=$((fail + $(grep -c '^FAIL ' "$TOP/$name/log")))
		bad "$name: the section ended early (exit $st)"
	fi
}

bash scripts/demo-image.sh || bad "the demo image (scripts/demo-image.sh)"
ip=100
for p in $PROVIDERS; do
	section "$p" "127.0.0.$ip" suite "$p"
	ip=$((ip + 30))
done
for p in $PROVIDERS; do
	section "$p-cli" "127.0.0.$ip" cli "$p"
	ip=$((ip + 30))
done
for i in "${!SECTIONS[@]}"; do
	collect "$i"
done
echo "-- timings (ms)"
for name in "${SECTIONS[@]}"; do
	sed 's/^/   /' "$TOP/$name/times"
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
