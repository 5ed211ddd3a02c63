#!/usr/bin/env bash
# CI's short run of every benchmark and diagnostics script (.ci/run): each
# runs end to end with the fewest payments, runs and seconds it accepts, so
# a change that breaks one (an import, a log line it parses, a stack option)
# fails CI instead of surfacing months later when someone needs the figures.
# The figures themselves mean nothing at these sizes on a busy machine; a
# run fails only when the script does. Needs `npm run build` and root (the
# daemon's stack, as in npm test).
set -euo pipefail
cd "$(dirname "$0")/.."

step() {
  local name=$1; shift
  local t0=$SECONDS
  echo "-- $name: $*"
  "$@" > "$log" 2>&1 || { cat "$log"; echo "bench smoke: $name failed" >&2; exit 1; }
  tail -n 3 "$log"
  echo "   ($((SECONDS - t0)) s)"
}

log=$(mktemp /tmp/otcd-bench-smoke.XXXXXX)
snapshots=''
cleanup() { rm -f "$log"; [ -z "$snapshots" ] || rm -rf "$snapshots"; }
trap cleanup EXIT
started=$SECONDS

step bench node dist/scripts/bench.js --payments 3 --idle-seconds 2 --start-runs 2 --ledger-payments 2000
step bench-pay node dist/scripts/bench-pay.js --payments 3
step bench-link node dist/scripts/bench-link.js 5
step bench-rsa node dist/scripts/bench-rsa.js --keygen 2 --decrypt 5 --inquiries 2
step diag/memory node --expose-gc dist/scripts/diag/memory.js both 3 1
step diag/rss-breakdown node dist/scripts/diag/rss-breakdown.js 3 --usage
step diag/startup-profile node dist/scripts/diag/startup-profile.js --runs 1 --import-runs 1
step diag/daemon-memory node dist/scripts/diag/daemon-memory.js 1 1 --heapsnapshot-signal=SIGUSR2
# daemon-memory keeps its snapshots (the line "snapshots in DIR: A B"); heap-count compares them.
read -r snapshots first second < <(sed -n 's/^snapshots in \(.*\): \([^ ]*\) \([^ ]*\).*/\1 \2 \3/p' "$log")
[ -n "$second" ] || { cat "$log"; echo 'bench smoke: daemon-memory wrote fewer than two heap snapshots' >&2; exit 1; }
step diag/heap-count node dist/scripts/diag/heap-count.js "$snapshots/$first" "$snapshots/$second" 5

echo "bench smoke: every benchmark and diagnostics script ran ($((SECONDS - started)) s)"
