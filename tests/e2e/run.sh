#!/usr/bin/env bash
#
# tests/e2e/run.sh - end-to-end tests of the bootstrap binary: the example
# recipes, the bad-recipe corpus, validate --json, secrets, and the command
# line (help, version, usage errors, exit codes, colour).
#
#   BOOTSTRAP=./bootstrap bash tests/e2e/run.sh      (make e2e, make asan)
#
# Every recipe runs in a controlled environment: env -i with only PATH, HOME
# and BS_TEST_SECRET=hunter2 (plus *SAN_OPTIONS for sanitizer builds), so
# the expected diagnostics do not depend on the caller's variables. The
# corpus tests/recipes/bad/NAME.yaml is checked against NAME.expect: the
# exact stderr lines without the final "N errors, M warnings" summary.
# The word hunter2 must never appear in any output.
#
# Each check prints one line, "ok   NAME" or "FAIL NAME" followed by the
# details; the last line is "N passed, M failed"; the exit status is 1
# when anything failed. Needs bash, python3 (JSON and pty checks), diff.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [[ -z ${BOOTSTRAP:-} ]]; then
	BOOTSTRAP=$root/bootstrap
elif [[ $BOOTSTRAP != /* ]]; then
	BOOTSTRAP=$PWD/$BOOTSTRAP
fi
cd "$root"
if [[ ! -x $BOOTSTRAP ]]; then
	echo "run.sh: $BOOTSTRAP is not an executable (run make first)" >&2
	exit 2
fi

# python3 through a version manager's shim costs a quarter second a call:
# find the real interpreter once (PYTHON overrides).
if [[ -z ${PYTHON:-} ]]; then
	PYTHON=$(python3 -c 'import sys; print(sys.executable)')
fi
SECRET=hunter2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bootstrap-e2e.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0

pass() {
	passed=$((passed + 1))
	printf 'ok   %s\n' "$1"
}

# fail NAME [DETAIL...]: details are printed indented under the FAIL line.
fail() {
	local name=$1
	shift
	failed=$((failed + 1))
	printf 'FAIL %s\n' "$name"
	if (($# > 0)); then
		printf '%s\n' "$@" | sed 's/^/     /'
	fi
}

# The controlled environment. Sanitizer options pass through so that
# `make asan` keeps its settings; recipes never read them.
clean_env=(env -i "PATH=$PATH" "HOME=$HOME" "BS_TEST_SECRET=$SECRET")
for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
	if [[ -n ${!v:-} ]]; then
		clean_env+=("$v=${!v}")
	fi
done

# run [<FILE] [VAR=VALUE...] -- ARGS...: run bootstrap in the clean
# environment with extra variables, stdin from FILE (default /dev/null).
# Sets rc, and out/err to the files holding its
# stdout and stderr. Every run keeps its own files (and its command line in
# N.cmd) so that the last check can search all output for the secret.
# Forks are the cost here: the helpers use bash built-ins where they can.
runs=$tmp/runs
mkdir "$runs"
n_runs=0
out=
err=
rc=0
run() {
	local extra=() input=/dev/null
	if [[ $1 == '<'* ]]; then
		input=${1#<}
		shift
	fi
	while [[ $1 != -- ]]; do
		extra+=("$1")
		shift
	done
	shift
	n_runs=$((n_runs + 1))
	out=$runs/$n_runs.out
	err=$runs/$n_runs.err
	printf 'bootstrap %s\n' "$*" >"$runs/$n_runs.cmd"
	rc=0
	"${clean_env[@]}" "${extra[@]}" "$BOOTSTRAP" "$@" <"$input" >"$out" 2>"$err" || rc=$?
}

# check_rc NAME WANT: pass when the last run exited WANT.
check_rc() {
	if [[ $rc == "$2" ]]; then
		pass "$1"
	else
		fail "$1" "exit $rc, want $2" "stderr: $(head -c 400 "$err")"
	fi
}

has_escape() {
	grep -q $'\033' "$@"
}

# ---- good recipes ---------------------------------------------------------

for recipe in recipes/*.yaml; do
	run -- validate "$recipe"
	if [[ $rc == 0 ]] && grep -q "^$recipe: valid (" "$out"; then
		pass "valid: $recipe"
	else
		fail "valid: $recipe" "exit $rc, want 0" "$(cat "$out" "$err")"
	fi
done

# ---- the bad-recipe corpus ------------------------------------------------

shopt -s nullglob
bad=(tests/recipes/bad/*.yaml)
if ((${#bad[@]} == 0)); then
	fail "bad corpus present" "no tests/recipes/bad/*.yaml found"
fi
# The corpus runs a few at a time (a sanitizer build starts slowly), then
# their outputs are checked in order.
max_jobs=$(($(nproc 2>/dev/null || echo 2) * 2))
active=0
for i in "${!bad[@]}"; do
	if ((active >= max_jobs)); then
		wait -n || true
		active=$((active - 1))
	fi
	active=$((active + 1))
	(
		code=0
		"${clean_env[@]}" "$BOOTSTRAP" validate "${bad[i]}" </dev/null \
			>"$runs/bad-$i.out" 2>"$runs/bad-$i.err" || code=$?
		printf 'bootstrap validate %s\n' "${bad[i]}" >"$runs/bad-$i.cmd"
		printf '%s\n' "$code" >"$runs/bad-$i.rc"
	) &
done
wait
summary_re='^(.*): [0-9]+ errors?, [0-9]+ warnings?; nothing was changed on any host$'
for i in "${!bad[@]}"; do
	recipe=${bad[i]}
	name=${recipe##*/}
	name=bad:${name%.yaml}
	expect=${recipe%.yaml}.expect
	if [[ ! -f $expect ]]; then
		fail "$name" "missing $expect"
		continue
	fi
	out=$runs/bad-$i.out
	err=$runs/bad-$i.err
	read -r rc <"$runs/bad-$i.rc"
	problems=()
	if [[ $rc != 65 ]]; then
		problems+=("exit $rc, want 65")
	fi
	if [[ -s $out ]]; then
		problems+=("stdout is not empty")
	fi
	mapfile -t got <"$err"
	n=${#got[@]}
	if ((n > 0)) && [[ ${got[n - 1]} =~ $summary_re ]] && [[ ${BASH_REMATCH[1]} == "$recipe" ]]; then
		got=("${got[@]:0:n-1}")
	else
		problems+=("the last line of stderr is not the summary line")
	fi
	got_text=
	if ((${#got[@]} > 0)); then
		printf -v got_text '%s\n' "${got[@]}"
	fi
	mapfile -t want <"$expect"
	want_text=
	if ((${#want[@]} > 0)); then
		printf -v want_text '%s\n' "${want[@]}"
	fi
	if [[ $got_text != "$want_text" ]]; then
		printf '%s' "$got_text" >"$tmp/got"
		problems+=("stderr differs from the .expect file:")
		mapfile -t diff_lines < <(diff -u --label "$expect" \
			--label "stderr of validate $recipe" "$expect" "$tmp/got" |
			sed "s/$SECRET/<the secret>/g")
		problems+=("${diff_lines[@]}")
	fi
	if ((${#problems[@]} == 0)); then
		pass "$name"
	else
		fail "$name" "${problems[@]}"
	fi
done
for expect in tests/recipes/bad/*.expect; do
	if [[ ! -f ${expect%.expect}.yaml ]]; then
		fail "bad corpus: $expect has no recipe"
	fi
done
shopt -u nullglob

# ---- generated recipes: too large, too many nodes, missing ----------------

huge=$tmp/huge.yaml
{
	printf 'version: 1\nproject: demo\nnodes:\n  - name: web\n'
	head -c $((5 * 1024 * 1024)) /dev/zero | tr '\0' '#'
	printf '\n'
} >"$huge"
huge_size=$(wc -c <"$huge" | tr -d ' ')
run -- validate "$huge"
want_line="$huge:1:1: file is $huge_size bytes; a recipe may be at most 4194304 bytes (is this the right file?)"
if [[ $rc == 65 ]] && [[ $(head -n 1 "$err") == "$want_line" ]]; then
	pass "file larger than 4 MiB is refused with its size"
else
	fail "file larger than 4 MiB is refused with its size" "exit $rc (want 65)" \
		"want: $want_line" "got:  $(head -n 1 "$err")"
fi

# 120001 YAML nodes, under the 200000-node limit: a valid recipe.
many=$tmp/many-nodes.yaml
{
	printf 'version: 1\nproject: demo\nnodes:\n  - name: web\ncontainers:\n  - name: app\n    image: nginx:1.25\nx-list:\n'
	awk 'BEGIN { for (i = 0; i < 60000; i++) print "  - [a]" }'
} >"$many"
run -- validate "$many"
if [[ $rc == 0 ]]; then
	pass "120000 YAML nodes (under the 200000 limit) are accepted"
else
	fail "120000 YAML nodes (under the 200000 limit) are accepted" "exit $rc, want 0" \
		"$(head -c 400 "$err")"
fi

run -- validate "$tmp/no-such-recipe.yaml"
if [[ $rc == 66 ]] && grep -q "no-such-recipe.yaml: cannot open the recipe: No such file or directory" "$err"; then
	pass "missing recipe file exits 66"
else
	fail "missing recipe file exits 66" "exit $rc" "$(cat "$err")"
fi

run -- validate "$tmp"
if [[ $rc == 66 ]] && grep -q "cannot read the recipe" "$err"; then
	pass "a directory as recipe exits 66"
else
	fail "a directory as recipe exits 66" "exit $rc" "$(cat "$err")"
fi

run '<recipes/local.yaml' -- validate -
check_rc "recipe read from stdin (validate -)" 0

run -- validate recipes/local.yaml tests/recipes/bad/version-2.yaml
if [[ $rc == 65 ]] && grep -q '^recipes/local.yaml: valid' "$out" &&
	grep -q '^tests/recipes/bad/version-2.yaml:1:10: ' "$err"; then
	pass "validate of several recipes reports each and exits with the worst"
else
	fail "validate of several recipes reports each and exits with the worst" "exit $rc, want 65"
fi

# ---- validate --json ------------------------------------------------------

# json_check NAME PYTHON-EXPRESSION: evaluate it on the JSON in $out as `d`.
json_check() {
	if "$PYTHON" -c '
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)
' "$out" "$2" 2>"$tmp/pyerr"; then
		pass "$1"
	else
		fail "$1" "not true of the output: $2" "$(head -c 600 "$out")" "$(cat "$tmp/pyerr")"
	fi
}

for recipe in recipes/*.yaml; do
	project=$(sed -n 's/^project: *\([a-z0-9-]*\).*/\1/p' "$recipe")
	run -- validate --json "$recipe"
	json_check "--json $recipe: valid JSON, project $project" \
		"d['valid'] is True and d['recipe']['project'] == '$project' and d['diagnostics'] == []"
done

run -- validate --json tests/recipes/bad/missing-required.yaml
json_check "--json on a bad recipe: valid:false, diagnostics with line and column" \
	"d['valid'] is False and d['errors'] == 3 and 'recipe' not in d and all(isinstance(x['line'], int) and x['line'] > 0 and isinstance(x['column'], int) and x['column'] > 0 and x['severity'] == 'error' for x in d['diagnostics']) and [x['path'] for x in d['diagnostics']] == ['version', 'project', 'nodes']"
if [[ $rc == 65 ]] && [[ $(cat "$err") == '{"level":"error","exit_code":65}' ]]; then
	pass "--json on a bad recipe: exit 65, on stderr only the JSON object with the exit code"
else
	fail "--json on a bad recipe: exit 65, on stderr only the JSON object with the exit code" "exit $rc" "$(cat "$err")"
fi

run -- validate --json tests/recipes/bad/secret-masked.yaml
json_check "--json diagnostics mask secrets as ***" \
	"d['valid'] is False and any('***' in x['message'] for x in d['diagnostics'])"

run -- validate --json tests/e2e/fixtures/secrets.yaml
json_check "--json model shows secret fields as ***" \
	"d['valid'] is True and d['recipe']['registries'][0]['password'] == '***' and d['recipe']['ssh']['password'] == '***' and set(d['recipe']['containers'][0]['secrets'].values()) == {'***'} and d['recipe']['containers'][0]['environment'] == {'API_TOKEN': '***', 'BEARER': '***', 'MODE': 'production'} and d['recipe']['containers'][0]['command'] == ['app', '--token', '***']"

for fixture in tests/e2e/fixtures/secrets.yaml tests/e2e/fixtures/secrets-spread.yaml; do
	run -- validate --json "$fixture"
	if [[ $rc == 0 ]] && ! grep -q "$SECRET" "$out" "$err"; then
		pass "--json $fixture: the secret value never appears"
	else
		fail "--json $fixture: the secret value never appears" "exit $rc" \
			"$(grep -ho ".\{0,40\}$SECRET.\{0,10\}" "$out" "$err" | head -5 |
				sed "s/$SECRET/<the secret>/g")"
	fi
done

# ---- command line ---------------------------------------------------------

verbs=(apply plan destroy status validate build create list images pull remove)
run -- --help
missing=()
for v in "${verbs[@]}"; do
	grep -Eq "^  $v( |$)" "$out" || missing+=("$v")
done
if [[ $rc == 0 ]] && ((${#missing[@]} == 0)); then
	pass "--help lists every verb"
else
	fail "--help lists every verb" "exit $rc; missing: ${missing[*]:-}"
fi

for args in "help validate" "validate --help"; do
	# shellcheck disable=SC2086
	run -- $args
	if [[ $rc == 0 ]] && grep -q '^usage: bootstrap validate' "$out" && [[ ! -s $err ]]; then
		pass "$args: usage of validate, exit 0"
	else
		fail "$args: usage of validate, exit 0" "exit $rc" "$(head -c 300 "$out" "$err")"
	fi
done

run -- help nosuchverb
if [[ $rc == 64 ]] && grep -q "no verb or operation named 'nosuchverb'" "$err"; then
	pass "help of an unknown verb exits 64"
else
	fail "help of an unknown verb exits 64" "exit $rc" "$(cat "$err")"
fi

# docker's habits: help of one operation, by name, NAME/OP or OP --help;
# aliases rm and ps
for args in "help logs" "help web/logs" "web/logs --help" "logs --help"; do
	# shellcheck disable=SC2086
	run -- $args
	if [[ $rc == 0 ]] && grep -q '^usage: bootstrap \[-H URL\] NAME/logs | logs NAME' "$out" &&
		grep -q -- '--follow' "$out" && [[ ! -s $err ]]; then
		pass "$args: the help of logs, exit 0"
	else
		fail "$args: the help of logs, exit 0" "exit $rc" "$(head -c 300 "$out" "$err")"
	fi
done
for args in "help rm:remove|rm" "ps --help:list|ps" "help stop:stop \[-t SECONDS\] NAME"; do
	# shellcheck disable=SC2086
	run -- ${args%%:*}
	if [[ $rc == 0 ]] && grep -q "^usage: .*${args#*:}" "$out"; then
		pass "${args%%:*}: its help, exit 0"
	else
		fail "${args%%:*}: its help, exit 0" "exit $rc" "$(head -c 300 "$out" "$err")"
	fi
done

run -- --version
missing=()
for lib in libssh2 libcurl cJSON libyaml; do
	grep -Eq "^$lib [0-9]" "$out" || missing+=("$lib")
done
if [[ $rc == 0 ]] && grep -Eq '^bootstrap [0-9]' "$out" && ((${#missing[@]} == 0)); then
	pass "--version names bootstrap, libssh2, libcurl, cJSON and libyaml"
else
	fail "--version names bootstrap, libssh2, libcurl, cJSON and libyaml" \
		"exit $rc; missing: ${missing[*]:-}" "$(cat "$out")"
fi

# usage NAME PATTERN ARGS...: exit 64 with PATTERN in one error line.
usage() {
	local name=$1 pattern=$2
	shift 2
	run -- "$@"
	if [[ $rc == 64 ]] && grep -q "^bootstrap: error: .*$pattern" "$err" && [[ ! -s $out ]]; then
		pass "usage error: $name"
	else
		fail "usage error: $name" "exit $rc, want 64 and /$pattern/" "$(cat "$out" "$err")"
	fi
}
usage "unknown option" "unknown option --bogus" --bogus validate recipes/local.yaml
usage "missing option value" "option --timeout needs a value" validate recipes/local.yaml --timeout
usage "--parallel 0" "--parallel wants a number from 1 to 256, not '0'" --parallel 0 validate recipes/local.yaml
usage "--timeout abc" "--timeout wants a duration" --timeout abc validate recipes/local.yaml
usage "--detailed-exitcode with validate" "--detailed-exitcode does not apply to 'validate'" \
	validate --detailed-exitcode recipes/local.yaml
usage "validate without a file" "validate needs a recipe file" validate
usage "plan without a file" "plan needs a recipe" plan
usage "prepare without a recipe or host" "prepare takes one recipe" prepare
usage "prepare with a recipe and -H" "prepare takes a recipe or -H ssh://..., not both" \
	-H ssh://root@192.0.2.1 prepare recipes/static.yaml
usage "prepare over a unix socket" "prepare works over SSH" -H unix:///var/run/docker.sock prepare
usage "ssh:// URL with a path" "nothing after the host" -H ssh://root@192.0.2.1/x list
usage "ssh:// URL with a password" "BOOTSTRAP_SSH_PASSWORD" -H ssh://root:pw@192.0.2.1 list
usage "a mistyped verb" "unknown verb 'lst' (did you mean 'list'?)" lst
# --json: an error is a JSON object on stderr carrying the exit code; a
# recipe's diagnostics are objects with their place
run -- --json lst
if [[ $rc == 64 ]] && [[ ! -s $out ]] && $PYTHON -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
d = json.loads(lines[0])
assert len(lines) == 1 and d["exit_code"] == 64 and d["level"] == "error" and "did you mean" in d["error"], lines' "$err"; then
	pass "--json: a usage error is one JSON object on stderr with exit_code 64"
else
	fail "--json: a usage error is one JSON object on stderr with exit_code 64" "exit $rc" "$(cat "$out" "$err")"
fi
run -- --json plan tests/recipes/bad/missing-required.yaml
if [[ $rc == 65 ]] && $PYTHON -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]).read().splitlines()]
diags, last = lines[:-1], lines[-1]
assert [d["path"] for d in diags] == ["version", "project", "nodes"], lines
assert all(d["level"] == "error" and d["line"] > 0 and d["column"] > 0 and d["file"].endswith("missing-required.yaml") for d in diags), lines
assert last == {"level": "error", "exit_code": 65}, last' "$err"; then
	pass "--json plan of a bad recipe: each diagnostic a JSON object on stderr, then the exit code"
else
	fail "--json plan of a bad recipe: each diagnostic a JSON object on stderr, then the exit code" "exit $rc" "$(cat "$err")"
fi
usage "a word that is no verb" "'frobnicate' is neither a verb nor a recipe file" frobnicate
usage "a mistyped operation" "unknown operation 'lgs' in web/lgs (did you mean web/logs?)" web/lgs
usage "help of a mistyped verb" "no verb or operation named 'destory' (did you mean 'destroy'?)" help destory
usage "rm without a name" "remove takes container NAMEs" rm
usage "logs of two containers" "logs takes one container NAME" logs a b
usage "NAME/OP with more arguments" "web/logs takes no further arguments" web/logs more
usage "-t with logs" "-t/--time is for stop, restart and remove, not 'logs'" logs -t 3 web
usage "-t out of range" "-t/--time wants a number from 0 to 3600" stop -t 9999 web
usage "--tail with stop" "--tail and --timestamps are for logs, not 'stop'" stop --tail 3 web
usage "--follow with top" "--follow is for logs and stats, not 'top'" web/top --follow
# a bad image name is a usage error in every command, before the engine
# (none answers at that socket) is asked
for args in "pull Shop/App:1" "create Shop/App:1 web" "build Shop/App:1 https://git.example.test/a.git"; do
	# shellcheck disable=SC2086
	usage "${args%% *} with a bad image name" "'Shop/App:1' is not a valid image reference: repository names are lowercase" \
		-H unix:///nonexistent.sock $args
done
usage "stats --follow of two" "stats --follow takes one container NAME" stats --follow a b
# build: -t is the tag (docker build's), the context the one argument then
usage "build -t with a bad image name" "'Shop/App:1' is not a valid image reference" \
	-H unix:///nonexistent.sock build -t Shop/App:1 .
usage "build -t without a context" "build takes -t NAME DIR or NAME GIT_URL" \
	-H unix:///nonexistent.sock build -t shop/app:1
usage "--target with create" "--target does not apply to 'create'" create --target prod nginx:1 web
usage "--build-arg with pull" "--build-arg does not apply to 'pull'" pull --build-arg A=1 nginx:1

# Pipeline verbs against a host whose SSH port is closed (loopback, a port
# nothing listens on): a clear error naming the node and the address, exit 1,
# within the recipe's wait_timeout.
closed_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$tmp/closed.yaml" <<EOF
version: 1
project: e2e
provider: {type: static}
ssh: {user: root, key: $tmp/none, connect_timeout: 1s, wait_timeout: 1s}
nodes:
  - {name: far, address: 127.0.0.1, port: $closed_port}
containers:
  - {name: web, image: local/busybox:1}
EOF
for verb in plan apply status destroy; do
	run BOOTSTRAP_DIR="$tmp/state" -- "$verb" "$tmp/closed.yaml"
	if [[ $rc == 1 ]] && grep -q "far" "$out" "$err" && grep -q "127.0.0.1" "$out" "$err"; then
		pass "$verb, SSH port closed: clear error naming the node (exit 1)"
	else
		fail "$verb, SSH port closed: clear error naming the node (exit 1)" "exit $rc" "$(cat "$out" "$err")"
	fi
done

# A run-wide error (a cloud without its token) is one line on stderr and
# exit 1, before any network call. Under make asan a sanitizer's abort
# exits 98, so this check also fails on a memory error on that path.
run BOOTSTRAP_DIR="$tmp/state" -- plan recipes/hetzner.yaml
if [[ $rc == 1 ]] && grep -q "^bootstrap: error: hetzner: no API token: set HCLOUD_TOKEN" "$err"; then
	pass "plan without a cloud token: exit 1, HCLOUD_TOKEN named"
else
	fail "plan without a cloud token: exit 1, HCLOUD_TOKEN named" "exit $rc" "$(cat "$out" "$err")"
fi

# The state directory is trusted only as OpenSSH trusts ~/.ssh: owned by
# the user, not writable by others, its private key open to nobody else.
# Each refusal comes before any host is reached (the node's port is closed:
# reaching it would fail differently) and names the fix.
state_refused() { # NAME FIX-PATTERN VERB...
	local name=$1 fix=$2
	shift 2
	run BOOTSTRAP_DIR="$tmp/bad-state" -- "$@"
	if [[ $rc == 1 ]] && grep -q "^bootstrap: error: $tmp/bad-state.*$fix" "$err" &&
		! grep -q "far\|$closed_port" "$out" "$err"; then
		pass "$name"
	else
		fail "$name" "exit $rc, want 1 naming '$fix'" "$(cat "$out" "$err")"
	fi
}
mkdir -p "$tmp/bad-state" && chmod 0777 "$tmp/bad-state"
for verb in plan apply status destroy prepare; do
	state_refused "$verb: a state directory others may write (0777) is refused" \
		"(mode 0777).*run chmod go-w $tmp/bad-state" "$verb" "$tmp/closed.yaml"
done
state_refused "-H ssh://: a state directory others may write is refused" \
	"chmod go-w" -H "ssh://root@127.0.0.1:$closed_port" list
chmod 0700 "$tmp/bad-state"
mkdir -m 0700 "$tmp/bad-state/ssh"
printf 'not a key\n' >"$tmp/bad-state/ssh/id_ed25519"
chmod 0644 "$tmp/bad-state/ssh/id_ed25519"
state_refused "a state key others may read (0644, as a checkout leaves it) is refused" \
	"id_ed25519 is the private key .*(mode 0644).*chmod 600" apply "$tmp/closed.yaml"
rm -rf "$tmp/bad-state/ssh"
if [[ $(id -u) == 0 ]]; then
	chown nobody "$tmp/bad-state"
	state_refused "a state directory of another owner is refused" \
		"belongs to nobody, not to you (root).*chown root $tmp/bad-state" plan "$tmp/closed.yaml"
	chown root "$tmp/bad-state"
	touch "$tmp/bad-state/known_hosts" && chown nobody "$tmp/bad-state/known_hosts"
	state_refused "pinned host keys of another owner are refused" \
		"known_hosts belongs to nobody" status "$tmp/closed.yaml"
	rm -f "$tmp/bad-state/known_hosts"
fi
ln -s "$tmp/none" "$tmp/bad-state/known_hosts"
state_refused "pinned host keys as a symbolic link are refused" \
	"known_hosts is a symbolic link" plan "$tmp/closed.yaml"
rm -f "$tmp/bad-state/known_hosts"
# a state directory that came with a checkout: git tracks it
if command -v git >/dev/null; then
	git init -q "$tmp/repo" && mkdir -m 0700 "$tmp/repo/.bootstrap" &&
		printf '* ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBm2o4LZHjXDmM6SyWI8xCv0NlLDLq2MUXx2z8Sq5l9K\n' \
			>"$tmp/repo/.bootstrap/known_hosts" &&
		chmod 0600 "$tmp/repo/.bootstrap/known_hosts" &&
		git -C "$tmp/repo" add .bootstrap/known_hosts
	run BOOTSTRAP_DIR="$tmp/repo/.bootstrap" -- plan "$tmp/closed.yaml"
	if [[ $rc == 1 ]] && grep -q "^bootstrap: error: $tmp/repo/.bootstrap is tracked by git.*git rm -r --cached" "$err" &&
		! grep -q "far" "$out" "$err"; then
		pass "a state directory git tracks (it came with a checkout) is refused"
	else
		fail "a state directory git tracks (it came with a checkout) is refused" "exit $rc" "$(cat "$out" "$err")"
	fi
	git -C "$tmp/repo" rm -q --cached .bootstrap/known_hosts
	run BOOTSTRAP_DIR="$tmp/repo/.bootstrap" -- plan "$tmp/closed.yaml"
	if [[ $rc == 1 ]] && grep -q "far" "$out" "$err" && ! grep -q "tracked by git" "$err"; then
		pass "the same directory, untracked, is used"
	else
		fail "the same directory, untracked, is used" "exit $rc" "$(cat "$out" "$err")"
	fi
fi
run BOOTSTRAP_DIR="$tmp/bad-state" -- plan "$tmp/closed.yaml"
if [[ $rc == 1 ]] && grep -q "far" "$out" "$err" && ! grep -q "bad-state" "$err"; then
	pass "a state directory made safe is used again"
else
	fail "a state directory made safe is used again" "exit $rc" "$(cat "$out" "$err")"
fi

run -- plan tests/recipes/bad/version-2.yaml
if [[ $rc == 65 ]] && diff -q <(sed '$d' "$err") tests/recipes/bad/version-2.expect >/dev/null &&
	! grep -q "not available" "$err"; then
	pass "plan checks the recipe first (bad recipe: 65 with its diagnostics)"
else
	fail "plan checks the recipe first (bad recipe: 65 with its diagnostics)" "exit $rc" "$(cat "$err")"
fi

# Container verbs against an engine that is not there: exit 1, and the
# error names the engine, what is wrong with it and what to check.
for args in list web/logs; do
	run DOCKER_HOST=unix:///nonexistent/bootstrap-e2e.sock -- $args
	if [[ $rc == 1 ]] && [[ $(cat "$err") == "bootstrap: error: cannot connect to the Docker engine at unix:///nonexistent/bootstrap-e2e.sock: no such socket (is dockerd running, and may this user use its socket?)" ]] &&
		[[ ! -s $out ]]; then
		pass "$args without an engine: exit 1, the engine and the fix named"
	else
		fail "$args without an engine: clear error" "exit $rc" "$(cat "$out" "$err")"
	fi
done

# ---- colour ---------------------------------------------------------------

run -- validate tests/recipes/bad/many-errors.yaml
if ! has_escape "$out" "$err"; then
	pass "no escape sequences when stderr is not a terminal"
else
	fail "no escape sequences when stderr is not a terminal"
fi
run -- validate --json tests/recipes/bad/many-errors.yaml
if ! has_escape "$out" "$err"; then
	pass "no escape sequences in --json output"
else
	fail "no escape sequences in --json output"
fi

# on_tty ARGS...: run ARGS on a pseudo-terminal; its output in $tty_out.
tty_out=$tmp/tty
on_tty() {
	"$PYTHON" - "$@" >"$tty_out" <<'EOF'
import os, pty, subprocess, sys
master, slave = pty.openpty()
proc = subprocess.Popen(sys.argv[1:], stdin=slave, stdout=slave, stderr=slave)
os.close(slave)
data = b""
while True:
    try:
        chunk = os.read(master, 65536)
    except OSError:
        break
    if not chunk:
        break
    data += chunk
proc.wait()
sys.stdout.buffer.write(data)
EOF
	n_runs=$((n_runs + 1))
	cp "$tty_out" "$runs/$n_runs.out"
	printf '%s\n' "$*" >"$runs/$n_runs.cmd"
}
on_tty "${clean_env[@]}" NO_COLOR=1 "$BOOTSTRAP" validate tests/recipes/bad/many-errors.yaml
if grep -q "many-errors.yaml:3:10:" "$tty_out" && ! has_escape "$tty_out"; then
	pass "NO_COLOR: no escape sequences on a terminal"
else
	fail "NO_COLOR: no escape sequences on a terminal" "$(head -c 300 "$tty_out" | cat -v)"
fi
on_tty "${clean_env[@]}" "$BOOTSTRAP" validate tests/recipes/bad/many-errors.yaml
if has_escape "$tty_out"; then
	pass "colour on a terminal without NO_COLOR (the NO_COLOR check can see colour)"
else
	fail "colour on a terminal without NO_COLOR (the NO_COLOR check can see colour)"
fi

# ---- compose: init, --profile --------------------------------------------

mkdir -p "$tmp/My Shop"
printf 'services:\n  web:\n    image: nginx:1.25\n  tools:\n    image: busybox:1.36\n    profiles: [debug]\n' >"$tmp/My Shop/compose.yaml"
run -- init "$tmp/My Shop/compose.yaml"
if [[ $rc == 0 ]] && grep -q '^project: my-shop$' "$tmp/My Shop/recipe.yaml" &&
	grep -q '^compose: "compose.yaml"$' "$tmp/My Shop/recipe.yaml" &&
	grep -q '^#   web: {nodes: \[node-1\], replicas: 1}$' "$tmp/My Shop/recipe.yaml" &&
	grep -q "next: bootstrap $tmp/My Shop/recipe.yaml" "$out"; then
	pass "init writes a local recipe for a compose file"
else
	fail "init writes a local recipe for a compose file" "exit $rc" "$(cat "$out" "$err")"
fi
run -- validate "$tmp/My Shop/recipe.yaml"
if [[ $rc == 0 ]] && grep -q 'valid (1 node, 1 container, 0 images)' "$out"; then
	pass "init's recipe is valid; a service in a profile is left out"
else
	fail "init's recipe is valid; a service in a profile is left out" "exit $rc" "$(cat "$out" "$err")"
fi
run -- validate --profile debug "$tmp/My Shop/recipe.yaml"
if [[ $rc == 0 ]] && grep -q 'valid (1 node, 2 containers, 0 images)' "$out"; then
	pass "--profile deploys the services of that profile"
else
	fail "--profile deploys the services of that profile" "exit $rc" "$(cat "$out" "$err")"
fi
run COMPOSE_PROFILES=debug -- validate "$tmp/My Shop/recipe.yaml"
if [[ $rc == 0 ]] && grep -q '2 containers' "$out"; then
	pass "COMPOSE_PROFILES activates profiles"
else
	fail "COMPOSE_PROFILES activates profiles" "exit $rc" "$(cat "$out" "$err")"
fi
mkdir -p "$tmp/odd"
cp "$tmp/My Shop/compose.yaml" "$tmp/odd/a: b #1.yaml"
run -- --json init "$tmp/odd/a: b #1.yaml"
if [[ $rc == 0 ]] && grep -q '^compose: "a: b #1.yaml"$' "$tmp/odd/recipe.yaml" &&
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["services"] == 1' "$out"; then
	run -- validate "$tmp/odd/recipe.yaml"
	check_rc "init quotes a compose file name YAML would misread (': ', ' #'); --json is one object" 0
else
	fail "init quotes a compose file name YAML would misread" "exit $rc" "$(cat "$out" "$err")"
fi
cp "$tmp/My Shop/recipe.yaml" "$tmp/before.yaml"
run -- init "$tmp/My Shop/compose.yaml"
if [[ $rc == 73 ]] && grep -q 'already exists: it was left as it is' "$err" &&
	cmp -s "$tmp/before.yaml" "$tmp/My Shop/recipe.yaml"; then
	pass "init never overwrites a recipe (exit 73)"
else
	fail "init never overwrites a recipe (exit 73)" "exit $rc" "$(cat "$err")"
fi
printf 'services:\n  a:\n    imagee: x\n' >"$tmp/bad-compose.yaml"
run -- init "$tmp/bad-compose.yaml" "$tmp/bad-recipe.yaml"
if [[ $rc == 65 ]] && grep -q "bad-compose.yaml:3:5: services.a.imagee: not a compose service key (did you mean 'image'?)" "$err" &&
	[[ ! -e $tmp/bad-recipe.yaml ]]; then
	pass "init of a compose file with errors shows them and writes nothing"
else
	fail "init of a compose file with errors shows them and writes nothing" "exit $rc" "$(cat "$err")"
fi

# ---- secrets, across everything above -------------------------------------

leaks=()
mapfile -t leaking < <(grep -l "$SECRET" "$runs"/*.out "$runs"/*.err || true)
for f in "${leaking[@]}"; do
	f=${f##*/}
	read -r line <"$runs/${f%.*}.cmd"
	leaks+=("$line")
done
if ((${#leaks[@]} == 0)); then
	pass "the secret value appears in no output of any run"
else
	fail "the secret value appears in no output of any run" "printed by:" "${leaks[@]}"
fi

printf '%d passed, %d failed\n' "$passed" "$failed"
((failed == 0))
