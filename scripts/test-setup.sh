#!/usr/bin/env bash
# `npm test`'s first step (npm runs it as `pretest`): makes sure the machine
# has what the suites use, so that a fresh Debian machine fails here, at once
# and with the command to run, and not half-way through with `spawn socat ENOENT`.
#   socat      linked pseudo-terminal pairs (scripts/testkit/pty.ts)
#   strace     the leak capture: every byte a daemon writes (scripts/leak-hunt/)
#   faketime   libfaketime, the wall-clock step case of the fault matrix
#   python3    the sd_notify listener (test/systemd/notify-listener.py)
#   setpriv    otcctl run as nobody (util-linux)
# As root with apt-get (what CI and a kiosk image builder have), the missing
# packages are installed, as .ci/run does; otherwise it stops naming them.
# The suites also need root (tmpfs mounts, otcctl as nobody) and the shared
# test vectors beside the checkout (../shared/vectors).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v socat >/dev/null || missing+=(socat)
command -v strace >/dev/null || missing+=(strace)
compgen -G '/usr/lib/*/faketime/libfaketimeMT.so.1' >/dev/null || compgen -G '/usr/lib/faketime/libfaketimeMT.so.1' >/dev/null || missing+=(faketime)
command -v python3 >/dev/null || missing+=(python3)
command -v setpriv >/dev/null || missing+=(util-linux)

problems=0
if [ "$(id -u)" -ne 0 ]; then
  echo "npm test: runs as root (the suites mount small tmpfs file systems and run otcctl as nobody): sudo npm test" >&2
  echo "          npm run test:unit runs the suites that need neither root nor these packages" >&2
  problems=1
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "npm test: installing the Debian packages the suites use: ${missing[*]}"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; }; then
      echo "npm test: could not install ${missing[*]}: run apt-get install ${missing[*]} and try again" >&2
      problems=1
    fi
  else
    sudo=$([ "$(id -u)" -eq 0 ] || echo 'sudo ')
    echo "npm test: missing Debian packages: ${missing[*]}: install them with ${sudo}apt-get install ${missing[*]}" >&2
    problems=1
  fi
fi

vectors=$(cd .. && pwd)/shared/vectors
if [ ! -d "$vectors" ]; then
  echo "npm test: the shared test vectors are missing: $vectors (the tests read ../shared/vectors beside the checkout)" >&2
  problems=1
fi

exit $problems
