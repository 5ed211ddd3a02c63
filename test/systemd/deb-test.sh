#!/bin/bash
# otcd's Debian package under a real systemd: builds the amd64 .deb twice
# (revision 1, then 2 for the upgrade), boots Debian bookworm under
# systemd-nspawn (scripts/nspawn/lib.sh), and installs, upgrades and purges it
# with dpkg as a kiosk image would. Between them the installed service is
# started and approves payments against the provider stand-in and the
# terminal simulator (run from the repository, as in nspawn-test.sh: they are
# not in the package). Prints PASS/FAIL lines and ends with
# "N passed, N failed"; exit 0 only when nothing failed.
#
#   npm run build && test/systemd/deb-test.sh        (root; about 2 minutes)
#
# The nodejs dependency: the container runs the host's Node, bind-mounted at
# /usr/bin/node by lib.sh, and bookworm's own nodejs package is 18. So the
# test installs a stand-in package, "nodejs" at the host Node's version with
# no files, that tells dpkg what is really there. Dependency resolution stays
# real: dpkg is shown refusing otcd before the stand-in is installed.
set -uo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
# shellcheck source=../../scripts/nspawn/lib.sh
. scripts/nspawn/lib.sh

# shellcheck source=checks.sh
. test/systemd/checks.sh

[ -f dist/daemon/otcd.js ] && [ -f dist/scripts/provider-standin.js ] || { echo "FAIL dist/ is missing: run npm run build"; FAILED=1; finish; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/otcd-deb-test.XXXXXX")
# lib.sh's EXIT trap powers the container off; this one runs after it.
# --one-file-system: never through a mount left behind by the image-build step.
cleanup_work() { umount "$WORK/image/root/proc" "$WORK/image/root/dev" "$WORK/image/root" 2>/dev/null; rm -rf --one-file-system "$WORK"; }

# ---- the packages ---------------------------------------------------------
VERSION=$(node -p 'require("./package.json").version')
if scripts/build-deb.sh --arch amd64 --revision 1 --out "$WORK/debs" >"$WORK/build1.log" 2>&1 \
   && scripts/build-deb.sh --arch amd64 --revision 2 --out "$WORK/debs" >"$WORK/build2.log" 2>&1; then
  pass "scripts/build-deb.sh builds otcd $VERSION-1 and $VERSION-2 (amd64)"
else
  fail "scripts/build-deb.sh"; cat "$WORK"/build*.log; cleanup_work; finish
fi
DEB1=/debs/otcd_${VERSION}-1_amd64.deb
DEB2=/debs/otcd_${VERSION}-2_amd64.deb

# The nodejs stand-in (see the top of this file).
NODE_VERSION=$(node -p 'process.versions.node')
mkdir -p "$WORK/nodejs/DEBIAN"
cat > "$WORK/nodejs/DEBIAN/control" <<EOF
Package: nodejs
Version: $NODE_VERSION~hostbind
Architecture: amd64
Maintainer: otcd test <otcd@users.noreply.github.com>
Description: stands for the host's Node.js, bind-mounted at /usr/bin/node
 Test only: no files. Lets dpkg check otcd's "nodejs (>= 20)" against the
 Node that really runs in the test container.
EOF
dpkg-deb --root-owner-group --build "$WORK/nodejs" "$WORK/debs/nodejs-hostbind.deb" >/dev/null

ROOTFS=$(scripts/nspawn/build-rootfs.sh) || { fail "build the root file system"; cleanup_work; finish; }
# ---- an image build: dpkg -i in a chroot, no systemd running ---------------
# The vendor's case: the package goes into an image before it ever boots. A
# throw-away overlay on the cached root, so the cache stays as built.
IMG=$WORK/image
mkdir -p "$IMG/upper" "$IMG/work" "$IMG/root"
if mount -t overlay overlay -o "lowerdir=$ROOTFS,upperdir=$IMG/upper,workdir=$IMG/work" "$IMG/root" \
   && mount --bind /dev "$IMG/root/dev" && mount -t proc proc "$IMG/root/proc"; then
  mkdir -p "$IMG/root/debs" && cp "$WORK/debs/nodejs-hostbind.deb" "$WORK/debs/otcd_${VERSION}-1_amd64.deb" "$IMG/root/debs/"
  img_out=$(chroot "$IMG/root" sh -c "dpkg -i /debs/nodejs-hostbind.deb /debs/otcd_${VERSION}-1_amd64.deb </dev/null 2>&1 &&
    echo \"state \$(systemctl is-enabled otcd.service) \$(stat -c '%a %U %G' /etc/otcd/otcd.toml) \$(id -nG otcd)\"" 2>&1)
  if grep -q '^state enabled 640 root otcd otcd dialout$' <<<"$img_out"; then
    pass "image build: dpkg -i in a chroot enables otcd, creates the user, sets the configuration's owner"
  else
    fail "image build: dpkg -i in a chroot"; echo "$img_out" | tail -5
  fi
else
  fail "image build: overlay mount of $ROOTFS"
fi
umount "$IMG/root/proc" "$IMG/root/dev" "$IMG/root" 2>/dev/null
nspawn_boot "$ROOTFS" "otcd-deb-$$" --bind-ro="$REPO":/src --bind-ro="$WORK/debs":/debs \
  || { fail "boot systemd under systemd-nspawn"; cleanup_work; finish; }
trap 'nspawn_cleanup; cleanup_work' EXIT
pass "systemd boots under systemd-nspawn (state $(ct systemctl is-system-running))"

dpkg_in() { ct env DEBIAN_FRONTEND=noninteractive dpkg "$@" </dev/null; }
prop() { ct systemctl show -p "$1" --value otcd.service; }
wait_active() {
  local deadline=$((SECONDS + $1))
  until [ "$(prop ActiveState)" = active ]; do
    [ $SECONDS -lt $deadline ] && [ "$(prop ActiveState)" != failed ] || return 1; sleep 0.1
  done
}
otcctl() { ct /usr/bin/otcctl "$@"; }
# A payment through the installed otcctl, as a technician commissions a
# kiosk; the simulator approves amounts ending in 000.
pay() { otcctl pay --amount 12000 --authorization-id "$2" --intent-id "$1" --json; }
journal_tail() { ct journalctl -u otcd --no-pager -n 30 | sed 's/^/  journal: /'; }

# ---- install ----------------------------------------------------------------
# apt's simulation resolves the .deb's dependencies without changing anything
# (dpkg --no-act does not get as far as dependencies).
apt_sim() { ct apt-get -s install "$1" </dev/null 2>&1; }
out=$(apt_sim "$DEB1")
check "otcd is refused while nodejs (>= 20) is missing" grep -q 'otcd : Depends: nodejs (>= 20)' <<<"$out"
if dpkg_in -i /debs/nodejs-hostbind.deb >/dev/null 2>&1; then pass "the nodejs stand-in ($NODE_VERSION~hostbind) installs"; else fail "the nodejs stand-in installs"; fi
out=$(apt_sim "$DEB1")
check "with it, all of otcd's dependencies are met" grep -q '^Inst otcd ' <<<"$out"
if out=$(dpkg_in -i "$DEB1" 2>&1); then pass "dpkg -i otcd $VERSION-1"; else fail "dpkg -i otcd $VERSION-1"; echo "$out"; finish; fi
check "dpkg: otcd $VERSION-1 is installed" test "$(ct dpkg-query -W -f '${Status} ${Version}' otcd)" = "install ok installed $VERSION-1"
check "user otcd exists, in group dialout, no login" bash -c "nsenter -t $CT_PID -a id -nG otcd | grep -qw dialout && nsenter -t $CT_PID -a getent passwd otcd | grep -q ':/var/lib/otcd:/usr/sbin/nologin$'"
check "otcd.service is enabled and not started by the install" \
  test "$(ct systemctl is-enabled otcd.service)/$(ct systemctl is-active otcd.service)" = "enabled/inactive"
check "otcd.socket is not enabled" test "$(ct systemctl is-enabled otcd.socket)" = disabled
check "the configuration is root:otcd 0640 ($(ct stat -c '%a %U %G' /etc/otcd/otcd.toml))" \
  test "$(ct stat -c '%a %U %G' /etc/otcd/otcd.toml)" = "640 root otcd"
check "a stat override keeps it root:otcd 0640 across upgrades" test "$(ct dpkg-statoverride --list /etc/otcd/otcd.toml)" = "root otcd 640 /etc/otcd/otcd.toml"
check "dpkg lists /etc/otcd/otcd.toml as a conffile" bash -c "nsenter -t $CT_PID -a dpkg-query -W -f '\${Conffiles}' otcd | grep -q '/etc/otcd/otcd.toml'"
verify_err=$(ct systemd-analyze verify otcd.service otcd.socket 2>&1 >/dev/null)
check "systemd-analyze verify of the installed units: no warnings${verify_err:+ ($verify_err)}" test -z "$verify_err"
check "otcd --version: $(ct /usr/bin/otcd --version 2>&1)" test "$(ct /usr/bin/otcd --version 2>&1)" = "otcd $VERSION"
for entry in "otcd --help" "otcctl --help" "otcctl status --help" "otcctl pay --help" "otcctl payments --help" "otcctl terminal ping --help"; do
  # shellcheck disable=SC2086
  check "shipped entry runs with production dependencies: $entry" bash -c "nsenter -t $CT_PID -a /usr/bin/$entry >/dev/null 2>&1"
done
check "the serialport binding loads (linux-x64 prebuild only)" bash -c "
  nsenter -t $CT_PID -a sh -c 'cd /opt/otcd && node -e \"require(\\\"node-gyp-build\\\")(\\\"node_modules/@serialport/bindings-cpp\\\").open || process.exit(1)\"' &&
  test \"\$(nsenter -t $CT_PID -a ls /opt/otcd/node_modules/@serialport/bindings-cpp/prebuilds)\" = linux-x64"

# ---- configure, start, pay ---------------------------------------------------
ct systemd-run -q --unit=otcd-test-provider -p StandardOutput=file:/run/otcd-provider.log -p StandardError=inherit \
  /usr/bin/node /src/dist/scripts/provider-standin.js --port 8443 --cert-dir /run/otcd-provider
ct systemd-run -q --unit=otcd-test-terminal -p StandardOutput=file:/run/otcd-terminal.log -p StandardError=inherit \
  /usr/bin/node /src/dist/scripts/terminal-sim.js --listen tcp://127.0.0.1:4001
configure_for_test_peers /usr/bin/otcd
ct systemctl start otcd.service
if wait_active 60; then pass "systemctl start otcd: active"; else fail "systemctl start otcd: $(prop ActiveState)"; journal_tail; finish; fi
MAIN1=$(prop MainPID)
r=$(pay deb-before-upgrade DEB-AUTH-1 2>&1); echo "$r" | tail -1 | sed 's/^/  /'
check "a payment through the installed service is approved (otcctl pay)" grep -q '"state":"approved"' <<<"$r"

# ---- upgrade ------------------------------------------------------------------
if out=$(dpkg_in -i "$DEB2" 2>&1); then pass "dpkg -i otcd $VERSION-2 (upgrade)"; else fail "dpkg -i otcd $VERSION-2 (upgrade)"; echo "$out"; fi
check "dpkg: otcd $VERSION-2 is installed" test "$(ct dpkg-query -W -f '${Status} ${Version}' otcd)" = "install ok installed $VERSION-2"
check "the upgrade asked nothing about the configuration" bash -c "! grep -qi 'conffile\\|otcd.toml' <<<\"\$0\"" "$out"
check "the site drop-in is kept" ct grep -q '^address = "tcp://127.0.0.1:4001"' "$SITE_DROP_IN"
check "the configuration is still root:otcd 0640 ($(ct stat -c '%a %U %G' /etc/otcd/otcd.toml))" \
  test "$(ct stat -c '%a %U %G' /etc/otcd/otcd.toml)" = "640 root otcd"
check "no .dpkg-new/.dpkg-old/.dpkg-dist beside it" bash -c "[ -z \"\$(nsenter -t $CT_PID -a find /etc/otcd -name '*.dpkg-*')\" ]"
if wait_active 60; then pass "otcd is active again after the upgrade"; else fail "otcd after the upgrade: $(prop ActiveState)"; journal_tail; fi
check "the upgrade restarted the running service (main PID $MAIN1 -> $(prop MainPID))" test "$(prop MainPID)" != "$MAIN1" -a "$(prop MainPID)" != 0
check "the service is still enabled" test "$(ct systemctl is-enabled otcd.service)" = enabled
r=$(otcctl payments --json 2>&1)
check "the ledger is kept: the payment from before the upgrade is there, approved" \
  bash -c "grep -qE '\"intentId\":\"deb-before-upgrade\"[^}]*\"state\":\"approved\"|\"state\":\"approved\"[^}]*\"intentId\":\"deb-before-upgrade\"' <<<\"\$0\"" "$r"
ct systemctl is-active -q otcd.service && { r=$(pay deb-after-upgrade DEB-AUTH-2 2>&1); echo "$r" | tail -1 | sed 's/^/  /'; }
check "a payment after the upgrade is approved" grep -q '"state":"approved"' <<<"$r"

# ---- an unattended upgrade to a package whose shipped otcd.toml changed -------
# The site's settings are in its drop-in, so /etc/otcd/otcd.toml is as
# shipped and dpkg replaces it without asking: no conffile prompt can stop
# `DEBIAN_FRONTEND=noninteractive apt-get install` (no --force-conf* option
# is given). Revision 3 is revision 2 with a line added to the shipped file.
UPG=$WORK/rev3
if dpkg-deb -R "$WORK/debs/otcd_${VERSION}-2_amd64.deb" "$UPG" \
   && printf '# shipped with %s-3\n' "$VERSION" >> "$UPG/etc/otcd/otcd.toml" \
   && sed -i "s/^Version: .*/Version: $VERSION-3/" "$UPG/DEBIAN/control" \
   && (cd "$UPG" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) > "$UPG/DEBIAN/md5sums" \
   && dpkg-deb --root-owner-group -Zxz --build "$UPG" "$WORK/debs/otcd_${VERSION}-3_amd64.deb" >/dev/null; then
  pass "otcd $VERSION-3 built: $VERSION-2 with a changed /etc/otcd/otcd.toml"
else
  fail "build otcd $VERSION-3"
fi
site_sum=$(ct md5sum "$SITE_DROP_IN" 2>/dev/null)
MAIN3=$(prop MainPID)
out=$(ct env DEBIAN_FRONTEND=noninteractive apt-get install -y "/debs/otcd_${VERSION}-3_amd64.deb" </dev/null 2>&1); rc=$?
echo "$out" | grep -iE 'conffile|otcd.toml|Setting up|^E:' | sed 's/^/  apt: /'
check "DEBIAN_FRONTEND=noninteractive apt-get install otcd $VERSION-3 completes (rc $rc)" test "$rc" = 0
check "apt/dpkg asked nothing about a configuration file" bash -c "! grep -qiE 'conffile|end of file on stdin' <<<\"\$0\"" "$out"
check "dpkg: otcd $VERSION-3 is installed, not half-configured" test "$(ct dpkg-query -W -f '${Status} ${Version}' otcd)" = "install ok installed $VERSION-3"
check "the new shipped /etc/otcd/otcd.toml is in place" ct grep -q "^# shipped with $VERSION-3" /etc/otcd/otcd.toml
check "it is still root:otcd 0640 ($(ct stat -c '%a %U %G' /etc/otcd/otcd.toml))" test "$(ct stat -c '%a %U %G' /etc/otcd/otcd.toml)" = "640 root otcd"
check "the site drop-in is kept byte for byte" test -n "$site_sum" -a "$(ct md5sum "$SITE_DROP_IN" 2>/dev/null)" = "$site_sum"
check "no .dpkg-new/.dpkg-old/.dpkg-dist in /etc/otcd" bash -c "[ -z \"\$(nsenter -t $CT_PID -a find /etc/otcd -name '*.dpkg-*')\" ]"
if wait_active 60; then pass "otcd is active after the apt upgrade"; else fail "otcd after the apt upgrade: $(prop ActiveState)"; journal_tail; fi
check "the apt upgrade restarted the service (main PID $MAIN3 -> $(prop MainPID))" test "$(prop MainPID)" != "$MAIN3" -a "$(prop MainPID)" != 0
r=$(otcctl payments --json 2>&1)
check "the ledger is kept: both earlier payments are there" bash -c "grep -q '\"intentId\":\"deb-before-upgrade\"' <<<\"\$0\" && grep -q '\"intentId\":\"deb-after-upgrade\"' <<<\"\$0\"" "$r"
ct systemctl is-active -q otcd.service && { r=$(pay deb-after-apt-upgrade DEB-AUTH-3 2>&1); echo "$r" | tail -1 | sed 's/^/  /'; }
check "a payment after the apt upgrade is approved" grep -q '"state":"approved"' <<<"$r"

# ---- purge ----------------------------------------------------------------------
if out=$(dpkg_in --purge otcd 2>&1); then pass "dpkg --purge otcd"; else fail "dpkg --purge otcd"; echo "$out"; fi
check "dpkg: otcd is not installed" bash -c "! nsenter -t $CT_PID -a dpkg-query -W -f '\${Status}' otcd 2>/dev/null | grep -q installed"
check "the service was stopped (ActiveState=$(prop ActiveState))" test "$(prop ActiveState)" = inactive
check "systemd no longer knows otcd.service or otcd.socket" \
  bash -c "[ \"\$(nsenter -t $CT_PID -a systemctl list-unit-files --no-legend otcd.service otcd.socket | wc -l)\" = 0 ]"
check "no enable symlinks are left" bash -c "[ -z \"\$(nsenter -t $CT_PID -a find /etc/systemd/system -name 'otcd.*')\" ]"
for p in /opt/otcd /usr/bin/otcd /usr/bin/otcctl /etc/otcd/otcd.toml /var/lib/otcd /usr/lib/sysusers.d/otcd.conf /usr/lib/udev/rules.d/99-otcd-terminal.rules /usr/share/doc/otcd; do
  check "purged: $p is gone" bash -c "! nsenter -t $CT_PID -a test -e $p"
done
check "purged: no stat override for the configuration is left" bash -c "! nsenter -t $CT_PID -a dpkg-statoverride --list /etc/otcd/otcd.toml >/dev/null"
check "the otcd system user stays (Debian practice; see scripts/deb/postrm)" bash -c "nsenter -t $CT_PID -a id otcd >/dev/null"

# ---- what purge keeps: the site's own files in /etc/otcd (scripts/deb/postrm) --
for p in "$SITE_DROP_IN" /etc/otcd/provider-ca.pem; do
  check "purge keeps the site's $p" ct test -f "$p"
done
check "purge says what it kept" bash -c "grep -q 'purge kept the site' <<<\"\$0\" && grep -q '$SITE_DROP_IN' <<<\"\$0\"" "$out"
echo "$out" | grep -A3 'purge kept' | sed 's/^/  dpkg --purge: /'

finish
