# shellcheck shell=bash
# tests/lab/skip.sh - a skipped check is said out loud, and fails in CI
# unless this machine is known to need it (sourced, not run).
#
#   . tests/lab/skip.sh
#   bs_skip NAME "reason" || fail=$((fail + 1))
#
# A check that does not run proves nothing, yet a suite that skips it still
# ends "N passed, 0 failed". bs_skip NAME REASON:
#   - NAME listed in BS_EXPECTED_SKIPS (names separated by spaces; the
#     Makefile's variable, where each entry says why this machine needs
#     it): prints "skip (expected here) NAME: REASON", returns 0;
#   - else, with CI set: prints "FAILED: unexpected skip NAME: REASON",
#     returns 1: the caller counts it as a failure;
#   - else (a developer's machine): prints a loud skip line, returns 0.
# NAME is one word: the suite's name, a dash, the part skipped
# (tls_certs-dockerd, swarm-esp-refusal). The C suites do the same
# (tests/integration/driver.c, expected_skip).

bs_skip() { # NAME REASON
	local name=$1 reason=$2
	case " ${BS_EXPECTED_SKIPS:-} " in
	*" $name "*)
		printf 'skip (expected here) %s: %s\n' "$name" "$reason"
		return 0
		;;
	esac
	if [ -n "${CI:-}" ]; then
		printf 'FAILED: unexpected skip %s: %s\n' "$name" "$reason"
		printf '     (if this machine cannot run it, add %s to BS_EXPECTED_SKIPS with the reason)\n' "$name"
		return 1
	fi
	printf 'SKIP !!! %s: %s (not run; in CI this fails unless BS_EXPECTED_SKIPS lists %s)\n' \
		"$name" "$reason" "$name"
	return 0
}
