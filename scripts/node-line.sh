#!/bin/bash
# Runs otcd's suites on one Node.js line, with that line's node running jest,
# every process the tests spawn (the daemon, otcctl, the provider stand-in and
# the terminal simulator use process.execPath), and the demo.
#
#   npm run build && scripts/node-line.sh LINE [--suite all|e2e] [--cache DIR]
#
#   LINE      a Node major version: 20, 22, 24, 26
#   --suite   all: the whole jest suite; e2e (default): the suites that start
#             the real daemon (*.e2e.test.ts and test/faults/); either way
#             followed by the demo
#   --cache   where node binaries are kept between runs; default
#             $OTCD_CI_CACHE or /var/cache/otcd-ci (node-LINE/ in it)
#
# The binary comes from the npm registry's `node` package (`npm install
# node@LINE` gives node_modules/node/bin/node), so nothing but the registry is
# needed. A cached binary is reused for a week, then replaced by the line's
# newest release; the cache is filled in a scratch directory and renamed into
# place, so an interrupted run never leaves a half-installed node behind.
#
# Proof that the daemon ran on LINE: the e2e suite checks that its
# "otcd ready" log line carries the runner's process.version, and the demo's
# "otcd ready" line must name the same version. Ends with one line,
#   PASS node LINE (vX.Y.Z): ...       or       FAIL node LINE ...
# and exit 0 only on PASS.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

LINE=""
SUITE=e2e
CACHE=${OTCD_CI_CACHE:-/var/cache/otcd-ci}
while [ $# -gt 0 ]; do
  case "$1" in
    --suite) SUITE=${2:?--suite needs all or e2e}; shift 2 ;;
    --cache) CACHE=${2:?--cache needs a directory}; shift 2 ;;
    [0-9]*) LINE=$1; shift ;;
    *) printf 'node-line.sh: unknown argument %s\n' "$1" >&2; exit 64 ;;
  esac
done
[[ "$LINE" =~ ^[0-9]+$ ]] || { echo "node-line.sh: which Node line? e.g. scripts/node-line.sh 24" >&2; exit 64; }
case "$SUITE" in all|e2e) ;; *) echo "node-line.sh: --suite is all or e2e, not '$SUITE'" >&2; exit 64 ;; esac
[ -f dist/daemon/otcd.js ] && [ -f dist/scripts/demo.js ] || { echo "FAIL node $LINE: dist/ is missing: run npm run build"; exit 1; }

say() { printf 'node-line %s: %s\n' "$LINE" "$*"; }
fail() { printf 'FAIL node %s: %s\n' "$LINE" "$*"; exit 1; }

# ---- the binary ---------------------------------------------------------------
DIR=$CACHE/node-$LINE
BIN=$DIR/node_modules/node/bin
major_of() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || true; }
t0=$SECONDS
if [ -x "$BIN/node" ] && [ "$(major_of "$BIN/node")" = "$LINE" ] && [ -n "$(find "$DIR/.installed" -mtime -7 2>/dev/null)" ]; then
  how="cached in $DIR"
else
  mkdir -p "$CACHE"
  scratch=$(mktemp -d "$CACHE/node-$LINE.XXXXXX")
  trap 'rm -rf "$scratch"' EXIT
  npm install --prefix "$scratch" --no-save --no-audit --no-fund --loglevel=error "node@$LINE" >"$scratch.log" 2>&1 \
    || { cat "$scratch.log"; rm -f "$scratch.log"; fail "npm install node@$LINE"; }
  rm -f "$scratch.log"
  [ "$(major_of "$scratch/node_modules/node/bin/node")" = "$LINE" ] || fail "npm's node@$LINE did not give a Node $LINE binary"
  touch "$scratch/.installed"
  chmod 0755 "$scratch"
  rm -rf "$DIR"
  mv "$scratch" "$DIR"
  trap - EXIT
  how="installed from npm's node@$LINE into $DIR in $((SECONDS - t0)) s"
fi
VERSION=$("$BIN/node" -p process.version)
say "$VERSION ($how)"
# Every `node` the suites or their scripts start by name is this one.
export PATH=$BIN:$PATH
[ "$(node -p process.version)" = "$VERSION" ] || fail "node on PATH is not $BIN/node"

# ---- the suites ---------------------------------------------------------------
t0=$SECONDS
jest_log=$(mktemp "${TMPDIR:-/tmp}/otcd-node-$LINE.XXXXXX.log")
if [ "$SUITE" = all ]; then
  patterns=()
  what="the whole jest suite"
else
  # The suites that start the real daemon (scripts/testkit/stack.ts startDaemon).
  patterns=('\.e2e\.test\.ts$' 'test/faults/')
  what="the end-to-end suites"
fi
set +e
NODE_OPTIONS=--experimental-vm-modules node node_modules/jest/bin/jest.js "${patterns[@]}" 2>&1 | tee "$jest_log"
rc=${PIPESTATUS[0]}
set -e
summary=$(grep -E '^Tests:' "$jest_log" | tail -1 | sed 's/^Tests: *//')
rm -f "$jest_log"
[ "$rc" -eq 0 ] || fail "$what: ${summary:-jest exited $rc}"
jest_s=$((SECONDS - t0))

# ---- the demo -------------------------------------------------------------------
t0=$SECONDS
demo_out=$(node dist/scripts/demo.js 2>&1) || { echo "$demo_out"; fail "the demo (node dist/scripts/demo.js) did not end approved"; }
echo "$demo_out"
grep -q '^approved: ' <<<"$demo_out" || fail "the demo printed no approval"
daemon_node=$(sed -n 's/.*otcd ready .* node=\(v[0-9.]*\).*/\1/p' <<<"$demo_out" | head -1)
[ "$daemon_node" = "$VERSION" ] || fail "the demo's daemon ran on '${daemon_node:-?}', not $VERSION"
demo="; demo approved with the daemon on $daemon_node in $((SECONDS - t0)) s"

printf 'PASS node %s (%s): %s, %s, in %d s%s\n' "$LINE" "$VERSION" "$what" "$summary" "$jest_s" "$demo"
