#!/usr/bin/env bash
#
# tests/fuzz/run.sh - run libFuzzer targets for a fixed time each.
#
#   bash tests/fuzz/run.sh [-j JOBS] SECONDS BINARY...
#                     (make fuzz FUZZ_SECONDS=15 FUZZ_JOBS=2 runs them all)
#
# Each BINARY is a libFuzzer target built from tests/fuzz/NAME_fuzz.c (ASan,
# UBSan, LeakSanitizer). Its seeds are tests/fuzz/corpus/NAME/ (for the
# recipe loader also the example recipes/*.yaml, the bad-recipe corpus
# tests/recipes/bad/ and tests/e2e/fixtures/), its dictionary
# tests/fuzz/NAME.dict when there is one. The seeds are copied into a fresh
# temporary directory, which the fuzzer grows; nothing is written into the
# repository, and the directory is removed at the end. JOBS targets (1 by
# default) run at once.
#
# Fails (exit 1) when any target crashes, leaks, times out, runs out of
# memory or has a sanitizer report; the crashing inputs are then kept in a
# directory outside the repository (its path is printed) and shown as hex:
# fix the bug, then save the input as tests/fuzz/corpus/NAME/regress-WHAT,
# where it stays a seed. One summary line per target (runs, seconds,
# exec/s, coverage, wall time), then the total wall time.
set -euo pipefail

jobs=1
if (($# >= 2)) && [[ $1 == -j ]]; then
	jobs=$2
	shift 2
fi
if (($# < 2)) || [[ ! $1 =~ ^[0-9]+$ ]] || (($1 < 1)) || [[ ! $jobs =~ ^[0-9]+$ ]] || ((jobs < 1)); then
	echo "usage: $0 [-j JOBS] SECONDS BINARY..." >&2
	exit 2
fi
seconds=$1
shift
# A fixed seed by default: libFuzzer's mutations then follow one sequence,
# so a run on another machine of this kind covers what a local run of the
# same length did, and a clean check here stays clean in CI. FUZZ_SEED=0
# lets libFuzzer pick (exploring; do it locally, for longer).
seed=${FUZZ_SEED:-1}
if [[ ! $seed =~ ^[0-9]+$ ]]; then
	echo "run.sh: FUZZ_SEED must be a number (0: random)" >&2
	exit 2
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bins=()
for b in "$@"; do
	[[ $b == /* ]] || b=$PWD/$b
	if [[ ! -x $b ]]; then
		echo "run.sh: $b is not an executable (make fuzz builds it)" >&2
		exit 2
	fi
	bins+=("$b")
done

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:allocator_may_return_null=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-}"

top=$(mktemp -d "${TMPDIR:-/tmp}/bs-fuzz.XXXXXX")
trap 'rm -rf "$top"' EXIT

# run_one BINARY: fuzz it; its report goes to $top/NAME.report, and the
# exit status says whether it passed.
run_one() {
	local bin=$1 name work n_seeds=0 rc=0 start wall f
	name=$(basename "$bin")
	name=${name%_fuzz}
	work=$top/$name
	mkdir -p "$work/corpus" "$work/artifacts"
	add_seeds() {
		local prefix=$1 f
		shift
		for f in "$@"; do
			[[ -f $f ]] || continue
			cp -- "$f" "$work/corpus/$prefix-$(basename "$f")"
			n_seeds=$((n_seeds + 1))
		done
	}
	shopt -s nullglob
	add_seeds seed "$root/tests/fuzz/corpus/$name"/*
	if [[ $name == recipe ]]; then
		add_seeds recipe "$root"/recipes/*.yaml
		add_seeds bad "$root"/tests/recipes/bad/*.yaml
		add_seeds e2e "$root"/tests/e2e/fixtures/*.yaml
	fi
	shopt -u nullglob
	local report=$top/$name.report
	if ((n_seeds == 0)); then
		echo "fuzz $name: FAILED: no seeds in tests/fuzz/corpus/$name/" >"$report"
		return 1
	fi
	local dict=()
	[[ -f $root/tests/fuzz/$name.dict ]] && dict=(-dict="$root/tests/fuzz/$name.dict")

	local log=$work/fuzz.log
	start=$(date +%s)
	# The outer timeout only guards against libFuzzer itself hanging.
	timeout --kill-after=30 $((seconds + 300)) \
		"$bin" \
		-max_total_time="$seconds" \
		-seed="$seed" \
		-max_len=65536 \
		-rss_limit_mb=2048 \
		-timeout=10 \
		-detect_leaks=1 \
		"${dict[@]}" \
		-artifact_prefix="$work/artifacts/" \
		-print_final_stats=1 \
		"$work/corpus" >"$log" 2>&1 || rc=$?
	wall=$(($(date +%s) - start))

	local problems=()
	if ((rc != 0)); then
		problems+=("the fuzzer exited with status $rc")
	fi
	# A report can in principle slip past the exit status (a sanitizer in
	# recover mode, a report from a forked child): look at the log as well.
	if grep -Eq '==[0-9]+==(ERROR|WARNING): [A-Za-z]*Sanitizer|runtime error:|SUMMARY: [A-Za-z]*Sanitizer|libFuzzer: (deadly signal|timeout|out-of-memory|fuzz target exited|run interrupted)|ALARM: working on the last Unit' "$log"; then
		problems+=("sanitizer or libFuzzer error reports in the log")
	fi
	local artifacts=("$work"/artifacts/*)
	if [[ -e ${artifacts[0]} ]]; then
		problems+=("${#artifacts[@]} crashing input(s) written")
	fi

	# Numbers for the summary: "Done N runs in S second(s)", the last
	# status line ("#N DONE cov: C ft: F corp: K/SIZE ... exec/s: E rss: R").
	local runs secs status cov ft corp execs rss units
	runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n1)
	secs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\2/p' "$log" | tail -n1)
	status=$(grep -E '^#[0-9]+[[:space:]]+(DONE|NEW|REDUCE|pulse|INITED)' "$log" | tail -n1 || true)
	field() { awk -v k="$1:" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' <<<"$status"; }
	cov=$(field cov)
	ft=$(field ft)
	corp=$(field corp)
	execs=$(field 'exec/s')
	rss=$(field rss)
	units=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n1)
	runs=${units:-${runs:-$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$status")}}

	if ((${#problems[@]} > 0)); then
		local keep
		keep=$(mktemp -d "${TMPDIR:-/tmp}/bs-fuzz-$name-failure.XXXXXX")
		cp -- "$log" "$keep/"
		for f in "$work"/artifacts/*; do
			[[ -e $f ]] || continue
			cp -- "$f" "$keep/"
		done
		{
			echo "---- fuzz $name: last 60 lines of the fuzzer log"
			tail -n 60 "$log"
			echo "----"
			for f in "$keep"/*; do
				[[ $(basename "$f") == fuzz.log ]] && continue
				echo "crashing input $(basename "$f") ($(wc -c <"$f") bytes):"
				od -An -c -- "$f" | head -n 40
			done
			echo "kept in $keep (fix it, then save the input as tests/fuzz/corpus/$name/regress-WHAT)"
			printf 'fuzz %s: FAILED (%s): %s runs, cov: %s ft: %s corp: %s, wall %ss\n' "$name" \
				"$(printf '%s; ' "${problems[@]}" | sed 's/; $//')" "${runs:-?}" "${cov:-?}" \
				"${ft:-?}" "${corp:-?}" "$wall"
		} >"$report"
		return 1
	fi
	printf 'fuzz %s: ok, %s runs in %ss (%s exec/s) on %s seeds, cov: %s ft: %s corp: %s, rss: %s, wall %ss\n' \
		"$name" "${runs:-?}" "${secs:-$seconds}" "${execs:-?}" "$n_seeds" "${cov:-?}" "${ft:-?}" \
		"${corp:-?}" "${rss:-?}" "$wall" >"$report"
}

echo "fuzz: ${#bins[@]} target(s), ${seconds}s each, $jobs at a time, seed $seed, in $top"
total_start=$(date +%s)
declare -A pid_name=()
failed=0
# reap: wait for one running target, print its report.
reap() {
	local pid rc=0
	wait -n -p pid || rc=$?
	cat "$top/${pid_name[$pid]}.report" 2>/dev/null ||
		echo "fuzz ${pid_name[$pid]}: FAILED: no report (exit $rc)"
	((rc == 0)) || failed=$((failed + 1))
	unset "pid_name[$pid]"
}
for b in "${bins[@]}"; do
	while ((${#pid_name[@]} >= jobs)); do
		reap
	done
	name=$(basename "$b")
	run_one "$b" &
	pid_name[$!]=${name%_fuzz}
done
while ((${#pid_name[@]} > 0)); do
	reap
done
total=$(($(date +%s) - total_start))
if ((failed > 0)); then
	echo "fuzz: FAILED: $failed of ${#bins[@]} target(s), ${total}s wall"
	exit 1
fi
echo "fuzz: all ${#bins[@]} target(s) clean (no crash, leak, timeout or sanitizer report), ${total}s wall"
