#!/usr/bin/env bash
# tests/timed.sh STAGE NAME COMMAND... - run COMMAND, then append
# "STAGE NAME SECONDS s" to $SUITE_TIMES (when set) and say how long it
# took, whether it passed or not; exits with COMMAND's status. The Makefile
# runs every suite through it, so `make check` ends with a table of times.
set -u
stage=$1 name=$2
shift 2
start=$(date +%s)
"$@"
rc=$?
secs=$(($(date +%s) - start))
if [ -n "${SUITE_TIMES:-}" ]; then
	printf '%-12s %-40s %6d s%s\n' "$stage" "$name" "$secs" "$([ $rc -eq 0 ] || echo " (failed: exit $rc)")" >>"$SUITE_TIMES"
fi
echo "== $stage $name: $secs s$([ $rc -eq 0 ] || echo ", exit $rc")"
exit $rc
