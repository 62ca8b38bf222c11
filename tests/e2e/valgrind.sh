#!/usr/bin/env bash
#
# tests/e2e/valgrind.sh - the bootstrap binary under valgrind memcheck: every
# memory error and every leak (definite, indirect or possible) fails.
#
#   BOOTSTRAP=./bootstrap bash tests/e2e/valgrind.sh      (make valgrind)
#
# Runs, each under valgrind --leak-check=full --error-exitcode=99:
#   validate RECIPE          for every recipes/*.yaml           (exit 0)
#   validate --json RECIPE   for every recipes/*.yaml           (exit 0)
#   validate RECIPE          for every tests/recipes/bad/*.yaml (exit 65)
#   --version, --help                                           (exit 0)
# Every run gets a controlled environment: env -i with only PATH, HOME and
# BS_TEST_SECRET=hunter2, as tests/e2e/run.sh uses, so results do not depend
# on the caller's variables. The bad-recipe folder may be empty or absent.
#
# Runs go VALGRIND_JOBS (default 2) at a time. Each prints "ok   NAME" or
# "FAIL NAME" with the reason and the valgrind report; the last line is
# "N passed, M failed"; the exit status is 1 when anything failed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [[ -z ${BOOTSTRAP:-} ]]; then
	BOOTSTRAP=$root/bootstrap
elif [[ $BOOTSTRAP != /* ]]; then
	BOOTSTRAP=$PWD/$BOOTSTRAP
fi
cd "$root"
if [[ ! -x $BOOTSTRAP ]]; then
	echo "valgrind.sh: $BOOTSTRAP is not an executable (run make first)" >&2
	exit 2
fi
if ! command -v valgrind >/dev/null; then
	echo "valgrind.sh: valgrind is not installed (apt-get install valgrind)" >&2
	exit 2
fi
VALGRIND=$(command -v valgrind)
JOBS=${VALGRIND_JOBS:-2}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bootstrap-valgrind.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# One test per line: NAME<TAB>EXPECTED-EXIT<TAB>ARGS... (tab-separated).
tests=$tmp/tests
: >"$tests"
add() {
	local name=$1 expect=$2
	shift 2
	(
		IFS=$'\t'
		printf '%s\t%s\t%s\n' "$name" "$expect" "$*"
	) >>"$tests"
}

shopt -s nullglob
add version 0 --version
add help 0 --help
for f in recipes/*.yaml; do
	add "validate $f" 0 validate "$f"
	add "validate --json $f" 0 validate --json "$f"
done
for f in tests/recipes/bad/*.yaml; do
	add "validate $f" 65 validate "$f"
done
shopt -u nullglob

# run_one INDEX: run test number INDEX (1-based line of $tests) and write
# its verdict to $tmp/result.INDEX.
run_one() {
	local i=$1 line name expect args rc=0 out log reasons=()
	line=$(sed -n "${i}p" "$tests")
	IFS=$'\t' read -r -a args <<<"$line"
	name=${args[0]}
	expect=${args[1]}
	args=("${args[@]:2}")
	out=$tmp/out.$i
	log=$tmp/valgrind.$i
	env -i "PATH=$PATH" "HOME=$HOME" "BS_TEST_SECRET=hunter2" \
		"$VALGRIND" --quiet --log-file="$log" \
		--leak-check=full \
		--show-leak-kinds=definite,indirect,possible \
		--errors-for-leak-kinds=definite,indirect,possible \
		--error-exitcode=99 \
		"$BOOTSTRAP" "${args[@]}" >"$out" 2>&1 </dev/null || rc=$?
	if ((rc == 99)); then
		reasons+=("valgrind reported errors (exit 99)")
	elif ((rc != expect)); then
		reasons+=("exit status $rc, expected $expect")
	fi
	# Belt and braces: a report without the exit code (a child process, or
	# a bootstrap exit status that happens to be 99) still fails.
	if grep -Eq 'ERROR SUMMARY: [1-9]|(definitely|indirectly|possibly) lost: [1-9]|Invalid (read|write|free)|uninitialised|Mismatched free|Process terminating' "$log"; then
		reasons+=("valgrind report in the log")
	fi
	if ((${#reasons[@]} == 0)); then
		printf 'ok   %s\n' "$name" >"$tmp/result.$i"
	else
		{
			printf 'FAIL %s\n' "$name"
			printf '%s\n' "${reasons[@]}" | sed 's/^/     /'
			if [[ -s $log ]]; then
				echo "     valgrind:"
				sed 's/^/       /' "$log" | head -n 80
			fi
			echo "     output:"
			sed 's/^/       /' "$out" | head -n 20
		} >"$tmp/result.$i"
	fi
}
export -f run_one
export tmp tests VALGRIND BOOTSTRAP

n=$(wc -l <"$tests")
# shellcheck disable=SC2016 # $1 is expanded by the inner bash
seq 1 "$n" | xargs -P "$JOBS" -I{} bash -c 'run_one "$1"' _ {} || true

passed=0
failed=0
for ((i = 1; i <= n; i++)); do
	if [[ ! -s $tmp/result.$i ]]; then
		printf 'FAIL %s\n     no result (the test runner died)\n' "$(cut -f1 <(sed -n "${i}p" "$tests"))"
		failed=$((failed + 1))
		continue
	fi
	cat "$tmp/result.$i"
	if grep -q '^ok ' "$tmp/result.$i"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
((failed == 0))
