# Sourced by the systemd suites: PASS/FAIL bookkeeping and the closing
# "N passed, N failed" line (exit status 0 only when nothing failed).
PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); printf 'PASS %s\n' "$*"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL %s\n' "$*"; }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
measure() { printf 'MEASURE %s %s\n' "$1" "$2"; }
now_ms() { date +%s%3N; }
finish() { printf '%d passed, %d failed\n' "$PASSED" "$FAILED"; [ "$FAILED" -eq 0 ]; exit $?; }
