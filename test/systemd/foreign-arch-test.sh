#!/bin/bash
# otcd's arm64 and armhf packages, run where they would run: each is
# installed with apt-get into a Debian trixie root of its architecture, with
# Debian's own nodejs for that architecture, and started there under
# qemu-user emulation (chroot; no systemd boot). The provider stand-in and
# the terminal simulator run on the host; the simulator talks to otcd over a
# pseudo-terminal (socat), so otcd opens it with serialport's native binding
# for that architecture, decrypts the card data the stand-in sends, and the
# payment must be approved. Prints PASS/FAIL lines, timings as
# "MEASURE name value", and ends with "N passed, N failed"; exit 0 only when
# nothing failed.
#
#   npm run build && test/systemd/foreign-arch-test.sh [arm64] [armhf]   (root)
#
# Needs qemu-user-static, binfmt-support, debootstrap, socat (the script
# mounts binfmt_misc and enables the qemu formats if they are not). Each
# architecture's root (debootstrap of trixie plus `apt-get install nodejs
# systemd` inside it, under emulation) is built once and cached under
# $OTCD_CI_CACHE/roots (default /var/cache/otcd-ci) by
# scripts/nspawn/build-rootfs.sh, the roots of all architectures at once; it
# is never written to: each run mounts a throw-away overlay on it. Building
# both took about an hour on a 2-core machine shared with other work (load
# average ~25); a later run reuses them and takes minutes. The .deb is built
# afresh by scripts/build-deb.sh.
set -uo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
# shellcheck source=checks.sh
. test/systemd/checks.sh

ARCHES=("$@")
[ ${#ARCHES[@]} -gt 0 ] || ARCHES=(arm64 armhf)
CACHE=${OTCD_CI_CACHE:-/var/cache/otcd-ci}
VERSION=$(node -p 'require("./package.json").version')
[ -f dist/daemon/otcd.js ] && [ -f dist/scripts/provider-standin.js ] || { echo "FAIL dist/ is missing: run npm run build"; FAILED=1; finish; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/otcd-foreign.XXXXXX")
PIDS=()
MOUNTS=()
cleanup() {
  local p m i
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTS[i]}" 2>/dev/null; done
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ms_since() { echo $(($(now_ms) - $1)); }
secs() { awk -v ms="$1" 'BEGIN { printf "%.1f s", ms / 1000 }'; }

# ---- qemu-user ----------------------------------------------------------------
qemu_format() { case "$1" in arm64) echo qemu-aarch64 ;; armhf) echo qemu-arm ;; *) return 1 ;; esac; }
[ -f /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
for arch in "${ARCHES[@]}"; do
  fmt=$(qemu_format "$arch") || { fail "no qemu-user format known for '$arch' (arm64 or armhf)"; finish; }
  update-binfmts --enable "$fmt" >/dev/null 2>&1
  check "binfmt_misc runs $arch binaries through qemu-user ($fmt: $(head -1 "/proc/sys/fs/binfmt_misc/$fmt" 2>/dev/null))" \
    grep -qx enabled "/proc/sys/fs/binfmt_misc/$fmt"
done

# ---- the peers on the host: provider stand-in, terminal simulator ---------------
node dist/scripts/provider-standin.js --port 0 --cert-dir "$WORK/provider" >"$WORK/provider.log" 2>&1 &
PIDS+=($!)

# The roots, all at once: a build is mostly one emulated process at a time.
declare -A ROOT_OF ROOT_MS
t0=$(now_ms)
for arch in "${ARCHES[@]}"; do
  scripts/nspawn/build-rootfs.sh --suite trixie --arch "$arch" --packages ca-certificates,procps \
    --install nodejs,systemd "$CACHE/roots" >"$WORK/root-$arch.out" 2>"$WORK/root-$arch.log" &
  ROOT_OF[$arch]=$!
done
for arch in "${ARCHES[@]}"; do
  if wait "${ROOT_OF[$arch]}"; then ROOT_OF[$arch]=$(cat "$WORK/root-$arch.out"); ROOT_MS[$arch]=$(ms_since "$t0")
  else ROOT_OF[$arch]=""; fail "$arch: build the trixie root"; cat "$WORK/root-$arch.log"; fi
done

run_arch() {
  local arch=$1 t0 root=${ROOT_OF[$1]} R deb out pid ready_ms pay_ms
  echo "== $arch"
  [ -n "$root" ] || return
  pass "$arch: trixie root with Debian's nodejs ($root; $(grep -q reusing "$WORK/root-$arch.log" && echo cached || echo built), ready after $(secs "${ROOT_MS[$arch]}"))"
  measure "$arch.root_ms" "${ROOT_MS[$arch]}"

  t0=$(now_ms)
  deb=$(scripts/build-deb.sh --arch "$arch" --out "$WORK/debs" 2>"$WORK/build-$arch.log") \
    || { fail "$arch: scripts/build-deb.sh"; cat "$WORK/build-$arch.log"; return; }
  pass "$arch: built $(basename "$deb") in $(secs "$(ms_since "$t0")")"

  # A throw-away overlay on the cached root, with the host's /dev (ptys) and /proc.
  R=$WORK/$arch/root
  mkdir -p "$WORK/$arch/upper" "$WORK/$arch/work" "$R"
  mount -t overlay overlay -o "lowerdir=$root,upperdir=$WORK/$arch/upper,workdir=$WORK/$arch/work" "$R" \
    || { fail "$arch: overlay mount of $root"; return; }
  MOUNTS+=("$R")
  mount --rbind /dev "$R/dev" && MOUNTS+=("$R/dev") && mount --make-rslave "$R/dev"
  mount -t proc proc "$R/proc" && MOUNTS+=("$R/proc")
  in_root() { chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@"; }

  check "$arch: the root's node is Debian's nodejs for $arch ($(in_root dpkg-query -W -f '${Version} ${Architecture}' nodejs), $(in_root node -p 'process.version + " " + process.arch'))" \
    test "$(in_root dpkg-query -W -f '${Architecture}' nodejs)" = "$arch"

  # The vendor's command, in the image build's chroot.
  cp "$deb" "$R/tmp/"
  t0=$(now_ms)
  if out=$(in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "/tmp/$(basename "$deb")" </dev/null 2>&1); then
    pass "$arch: apt-get install ./$(basename "$deb") in $(secs "$(ms_since "$t0")")"
  else
    fail "$arch: apt-get install ./$(basename "$deb")"; tail -20 <<<"$out"; return
  fi
  measure "$arch.install_ms" "$(ms_since "$t0")"
  check "$arch: dpkg: otcd $VERSION-1 ($arch) is installed" \
    test "$(in_root dpkg-query -W -f '${Status} ${Version} ${Architecture}' otcd)" = "install ok installed $VERSION-1 $arch"

  # Configure as a technician would: the stand-in, its CA, the terminal on a serial device.
  local base_url
  base_url=$(sed -n 's/.*"baseUrl":"\([^"]*\)".*/\1/p' "$WORK/provider.log" | head -1)
  install -m 0644 "$WORK/provider/cert.pem" "$R/etc/otcd/provider-ca.pem"
  sed -i -e "s|^base_url = .*|base_url = \"$base_url\"|" \
         -e 's|^ca_file = .*|ca_file = "/etc/otcd/provider-ca.pem"|' \
         -e 's|^address = .*|address = "/run/otcd-pty/ttyA"|' "$R/etc/otcd/otcd.toml"
  # What systemd's RuntimeDirectory= and StateDirectory= would make.
  in_root install -d -o otcd -g otcd -m 0750 /run/otcd /var/lib/otcd
  mkdir -p "$R/run/otcd-pty"
  # The pty otcd opens is group dialout (gid 20 on every Debian), as a USB adapter's node is.
  socat pty,raw,echo=0,link="$R/run/otcd-pty/ttyA",group=20,mode=660 pty,raw,echo=0,link="$WORK/$arch/ttyB" 2>"$WORK/socat-$arch.log" &
  PIDS+=($!)
  local deadline=$((SECONDS + 10))
  until [ -L "$R/run/otcd-pty/ttyA" ] && [ -L "$WORK/$arch/ttyB" ]; do [ $SECONDS -lt $deadline ] || break; sleep 0.1; done
  node dist/scripts/terminal-sim.js --port "$WORK/$arch/ttyB" --prog-sent-delay 100 --result-delay 100 >"$WORK/sim-$arch.log" 2>&1 &
  PIDS+=($!)
  check "$arch: otcd check-config accepts it (under emulation)" bash -c "chroot '$R' /usr/bin/otcd check-config /etc/otcd/otcd.toml >/dev/null"

  # Start otcd as its unit would: the unit's ExecStart and Environment, as user otcd.
  local exec_start env_lines
  exec_start=$(sed -n 's/^ExecStart=//p' "$R/usr/lib/systemd/system/otcd.service")
  env_lines=$(sed -n 's/^Environment=//p' "$R/usr/lib/systemd/system/otcd.service")
  t0=$(now_ms)
  # shellcheck disable=SC2086 # the unit's command line and variables, word-split as systemd does
  chroot --userspec=otcd:otcd --groups=otcd,dialout "$R" env -i PATH=/usr/bin:/bin HOME=/var/lib/otcd OTCD_LOG_FORMAT=json $env_lines $exec_start \
    >"$WORK/otcd-$arch.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  deadline=$((SECONDS + 180))
  until grep -q '"msg":"otcd ready"' "$WORK/otcd-$arch.log"; do
    kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ] || break; sleep 0.05
  done
  ready_ms=$(ms_since "$t0")
  local ready
  ready=$(grep -m1 '"msg":"otcd ready"' "$WORK/otcd-$arch.log")
  if [ -n "$ready" ]; then pass "$arch: otcd started to READY in $(secs "$ready_ms") under emulation"; else
    fail "$arch: otcd never logged 'otcd ready'"; tail -20 "$WORK/otcd-$arch.log"; return; fi
  measure "$arch.start_to_ready_ms" "$ready_ms"
  check "$arch: it runs on Debian's node for $arch ($(sed -n 's/.*"node":"\([^"]*\)","arch":"\([^"]*\)".*/node \1, \2/p' <<<"$ready"))" \
    grep -q "\"arch\":\"$(case $arch in arm64) echo arm64 ;; armhf) echo arm ;; esac)\"" <<<"$ready"

  # The kiosk side: otcctl on the host, on the daemon's socket in the root.
  local sock=$R/run/otcd/otcd.sock link=""
  deadline=$((SECONDS + 120))
  until [ "$link" = up ]; do
    link=$(node dist/daemon/otcctl.js status --socket "$sock" --json 2>/dev/null | node -e 'let s="";process.stdin.on("data",(d)=>s+=d).on("end",()=>{try{console.log(JSON.parse(s).health.terminal.link)}catch{console.log("")}})')
    [ $SECONDS -lt $deadline ] || break; [ "$link" = up ] || sleep 0.5
  done
  check "$arch: the terminal link over the pty is up (serialport's $arch binding loaded)" test "$link" = up
  check "$arch: the binding otcd mapped is serialport's prebuild for $arch" \
    grep -q "prebuilds/linux-$(case $arch in arm64) echo arm64 ;; armhf) echo arm ;; esac)/.*\.node" "/proc/$(pgrep -P "$pid" -x node || echo "$pid")/maps"

  t0=$(now_ms)
  out=$(node dist/daemon/otcctl.js pay --socket "$sock" --amount 12000 --authorization-id "FOREIGN-$arch" --intent-id "foreign-$arch-$$" --json 2>&1)
  pay_ms=$(ms_since "$t0")
  tail -1 <<<"$out" | sed 's/^/  /'
  if grep -q '"state":"approved"' <<<"$out" && grep -q '941012\*\*\*\*\*\*9012' <<<"$out"; then
    pass "$arch: payment approved in $(secs "$pay_ms") (card data decrypted by otcd under emulation, delivered over the pty)"
  else
    fail "$arch: payment not approved"; tail -20 "$WORK/otcd-$arch.log"
  fi
  measure "$arch.pay_ms" "$pay_ms"

  t0=$(now_ms)
  kill -TERM "$pid" 2>/dev/null
  wait "$pid"
  local rc=$?
  check "$arch: SIGTERM: otcd stopped with exit 0 (rc $rc) in $(secs "$(ms_since "$t0")")" test "$rc" = 0
}

for arch in "${ARCHES[@]}"; do run_arch "$arch"; done
check "nothing otcd logged holds the test card number" bash -c "! grep -h '9410123456789012' \"$WORK\"/otcd-*.log"
finish
