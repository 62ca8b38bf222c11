#!/usr/bin/env bash
#
# tests/fuzz/run.sh - run the recipe loader fuzzer for a fixed time.
#
#   bash tests/fuzz/run.sh BINARY SECONDS        (make fuzz FUZZ_SECONDS=60)
#
# BINARY is the libFuzzer target built from tests/fuzz/recipe_fuzz.c (ASan,
# UBSan, LeakSanitizer). The seeds - tests/fuzz/corpus/*, the example
# recipes/*.yaml, and when present the bad-recipe corpus tests/recipes/bad/
# and tests/e2e/fixtures/ - are copied into a fresh temporary directory,
# which the fuzzer grows; nothing is written into the repository, and the
# directory is removed at the end.
#
# Fails (exit 1) on any crash, leak, timeout, out-of-memory, or sanitizer
# report; the crashing inputs are then kept in a directory outside the
# repository (its path is printed) and shown as hex, so that they can be
# saved under tests/fuzz/regressions/. The last line is a one-line summary
# with the executions and the coverage libFuzzer reports.
set -euo pipefail

if (($# != 2)) || [[ ! $2 =~ ^[0-9]+$ ]] || (($2 < 1)); then
	echo "usage: $0 BINARY SECONDS" >&2
	exit 2
fi
bin=$1
seconds=$2
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [[ $bin != /* ]]; then
	bin=$PWD/$bin
fi
if [[ ! -x $bin ]]; then
	echo "run.sh: $bin is not an executable (make fuzz builds it)" >&2
	exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/recipe-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus" "$work/artifacts"

# Seeds. Prefixes keep files of the same name from different folders apart.
shopt -s nullglob
n_seeds=0
add_seeds() {
	local prefix=$1 f
	shift
	for f in "$@"; do
		[[ -f $f ]] || continue
		cp -- "$f" "$work/corpus/$prefix-$(basename "$f")"
		n_seeds=$((n_seeds + 1))
	done
}
add_seeds seed "$root"/tests/fuzz/corpus/*
add_seeds recipe "$root"/recipes/*.yaml
add_seeds bad "$root"/tests/recipes/bad/*.yaml
add_seeds e2e "$root"/tests/e2e/fixtures/*.yaml
shopt -u nullglob
if ((n_seeds == 0)); then
	echo "run.sh: no seeds found under $root/tests/fuzz/corpus" >&2
	exit 2
fi

log=$work/fuzz.log
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:allocator_may_return_null=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-}"

echo "fuzz: $(basename "$bin") for ${seconds}s on $n_seeds seeds in $work"
rc=0
# The outer timeout only guards against libFuzzer itself hanging.
timeout --kill-after=30 $((seconds + 300)) \
	"$bin" \
	-max_total_time="$seconds" \
	-max_len=65536 \
	-rss_limit_mb=2048 \
	-timeout=10 \
	-detect_leaks=1 \
	-dict="$root/tests/fuzz/recipe.dict" \
	-artifact_prefix="$work/artifacts/" \
	-print_final_stats=1 \
	"$work/corpus" >"$log" 2>&1 || rc=$?

problems=()
if ((rc != 0)); then
	problems+=("the fuzzer exited with status $rc")
fi
# A report can in principle slip past the exit status (a sanitizer in
# recover mode, a report from a forked child): look at the log as well.
if grep -Eq '==[0-9]+==(ERROR|WARNING): [A-Za-z]*Sanitizer|runtime error:|SUMMARY: [A-Za-z]*Sanitizer|libFuzzer: (deadly signal|timeout|out-of-memory|fuzz target exited|run interrupted)|ALARM: working on the last Unit' "$log"; then
	problems+=("sanitizer or libFuzzer error reports in the log")
fi
artifacts=("$work"/artifacts/*)
if [[ -e ${artifacts[0]} ]]; then
	problems+=("${#artifacts[@]} crashing input(s) written")
fi

# Numbers for the summary: "Done N runs in S second(s)", the last status
# line ("#N DONE cov: C ft: F corp: K/SIZE ... exec/s: E rss: R").
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
	keep=$(mktemp -d "${TMPDIR:-/tmp}/recipe-fuzz-failure.XXXXXX")
	cp -- "$log" "$keep/"
	for a in "$work"/artifacts/*; do
		[[ -e $a ]] || continue
		cp -- "$a" "$keep/"
	done
	echo "---- last 60 lines of the fuzzer log"
	tail -n 60 "$log"
	echo "----"
	for a in "$keep"/*; do
		[[ $(basename "$a") == fuzz.log ]] && continue
		echo "crashing input $(basename "$a") ($(wc -c <"$a") bytes):"
		od -An -c -- "$a" | head -n 40
	done
	echo "kept in $keep (save inputs under tests/fuzz/regressions/)"
	printf 'fuzz: FAILED (%s): %s runs, cov: %s ft: %s corp: %s\n' \
		"$(printf '%s; ' "${problems[@]}" | sed 's/; $//')" "${runs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}"
	exit 1
fi

printf 'fuzz: ok, %s runs in %ss (%s exec/s), cov: %s ft: %s corp: %s, rss: %s, no crash, leak or sanitizer report\n' \
	"${runs:-?}" "${secs:-$seconds}" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${rss:-?}"
