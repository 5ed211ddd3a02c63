#!/bin/bash
# What a technician meets when otcd cannot start, under a real systemd:
# boots Debian under systemd-nspawn (scripts/nspawn/lib.sh), installs otcd
# with scripts/install.sh, and breaks it the ways a kiosk gets broken in the
# field, one at a time: the provider address never set, a CA file missing,
# unreadable by the otcd user, or not PEM; a client key that is unreadable
# or belongs to another certificate; a socket group that does not exist; a
# state directory the service may not write; a syntax error in a drop-in.
# Each must end in exit 78 with no restart (RestartPreventExitStatus=78,
# NRestarts stays 0 past RestartSec) and a line at priority err naming the
# TOML key, visible in `journalctl -u otcd -p err`. It prints what
# `systemctl status otcd` and `journalctl -u otcd -p err` show for each case
# (the README's "When otcd does not start" quotes them), then shows the
# repaired configuration starting. Prints PASS/FAIL lines and ends with
# "N passed, N failed"; exit 0 only when nothing failed.
#
#   npm run build && test/systemd/startup-failures-test.sh     (root; about 2 minutes)
set -uo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
# shellcheck source=../../scripts/nspawn/lib.sh
. scripts/nspawn/lib.sh
# shellcheck source=checks.sh
. test/systemd/checks.sh

[ -f dist/daemon/otcd.js ] && [ -f dist/scripts/provider-standin/x509.js ] || { echo "FAIL dist/ is missing: run npm run build"; FAILED=1; finish; }

ROOTFS=$(scripts/nspawn/build-rootfs.sh) || { fail "build the root file system"; finish; }
nspawn_boot "$ROOTFS" "otcd-startfail-$$" --bind-ro="$REPO":/src || { fail "boot systemd under systemd-nspawn"; finish; }
pass "systemd boots under systemd-nspawn (state $(ct systemctl is-system-running))"
CTROOT=/proc/$CT_PID/root
LOG=$(mktemp "${TMPDIR:-/tmp}/otcd-startfail.XXXXXX")
if scripts/install.sh --root "$CTROOT" >"$LOG" 2>&1; then pass "scripts/install.sh --root ROOT"; else fail "scripts/install.sh"; cat "$LOG"; rm -f "$LOG"; finish; fi
rm -f "$LOG"
ct systemctl daemon-reload

prop() { ct systemctl show -p "$1" --value otcd.service; }
# Writes stdin to FILE in the container, root:otcd 0640 (as the README tells technicians).
put() { ct install -D -m "${2:-0640}" -o root -g "${3:-otcd}" /dev/stdin "$1"; }
SITE=/etc/otcd/otcd.toml.d/50-site.toml
# The working site settings; site LINE... appends lines, which land in
# [provider] unless they start a section of their own.
GOOD_SITE='[terminal]
address = "tcp://127.0.0.1:4001"
[provider]
base_url = "https://127.0.0.1:8443"
'
site() { { printf '%s' "$GOOD_SITE"; [ $# -eq 0 ] || printf '%s\n' "$@"; } | put "$SITE"; }

# Test certificates, made on the host by the stand-in's own X.509 code: a
# CA, a client certificate with its key, and a key of something else.
node --input-type=module -e "
  import { makeSelfSignedCertificate } from '$REPO/dist/scripts/provider-standin/x509.js';
  import { generateKeyPairSync } from 'node:crypto';
  import { writeFileSync } from 'node:fs';
  const ca = makeSelfSignedCertificate({ commonName: 'provider-ca', dnsNames: [], ipAddresses: [] });
  const client = makeSelfSignedCertificate({ commonName: 'kiosk-0001', dnsNames: [], ipAddresses: [] });
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
  const root = '$CTROOT/etc/otcd';
  writeFileSync(root + '/provider-ca.pem', ca.certPem);
  writeFileSync(root + '/client.crt', client.certPem);
  writeFileSync(root + '/client.key', client.keyPem);
  writeFileSync(root + '/other.key', other);
" || { fail "make test certificates"; finish; }
ct chown root:otcd /etc/otcd/provider-ca.pem /etc/otcd/client.crt /etc/otcd/client.key /etc/otcd/other.key
ct chmod 0640 /etc/otcd/provider-ca.pem /etc/otcd/client.crt /etc/otcd/client.key /etc/otcd/other.key

# refused NAME KEY: starts otcd as the files now are; it must exit 78, stay
# failed without a restart, and say KEY at priority err.
refused() {
  local name=$1 key=$2 t0 deadline n0 errs
  ct systemctl reset-failed otcd.service 2>/dev/null
  n0=$(prop NRestarts)
  t0=$(ct date +%s)
  sleep 1   # journalctl --since has whole seconds: nothing of the case before
  ct systemctl start otcd.service 2>/dev/null
  deadline=$((SECONDS + 30))
  until [ "$(prop ActiveState)" = failed ]; do [ $SECONDS -lt $deadline ] || break; sleep 0.1; done
  # RestartSec=3s: a restart, if systemd were to make one, would have come by now
  sleep 5
  echo "---- $name"
  ct systemctl status otcd.service --no-pager -l -n 8 2>&1 | sed -n '1,3p;/^$/,$p' | sed 's/^/  systemctl status: /'
  errs=$(ct journalctl -u otcd -p err --since "@$t0" --no-pager -o cat)
  echo "$errs" | sed 's/^/  journalctl -p err: /'
  check "$name: exit 78 (ExecMainStatus=$(prop ExecMainStatus), Result=$(prop Result))" \
    test "$(prop ExecMainStatus)/$(prop Result)" = "78/exit-code"
  check "$name: no restart loop (NRestarts $n0 -> $(prop NRestarts), $(prop ActiveState) after 5 s)" \
    test "$(prop NRestarts)/$(prop ActiveState)" = "$n0/failed"
  check "$name: journalctl -u otcd -p err has a line naming $key" grep -q "^otcd: .*$key" <<<"$errs"
  # check-config, run by root as the technician would, says the same, checked as user otcd
  local cc
  cc=$(ct /usr/local/bin/otcd check-config 2>&1); local rc=$?
  check "$name: otcd check-config exits 78 and names $key (rc $rc)" bash -c "[ $rc = 78 ] && grep -q '$key' <<<\"\$0\"" "$cc"
  echo "$cc" | sed 's/^/  otcd check-config: /'
}

# 1. As installed: the shipped file alone.
refused "provider.base_url never set (the shipped placeholder)" "provider.base_url"
# 2-4. The CA file.
site 'ca_file = "/etc/otcd/provider-ca.pm"'
refused "provider.ca_file missing (a typo in the name)" "provider.ca_file"
ct chmod 0600 /etc/otcd/provider-ca.pem; site 'ca_file = "/etc/otcd/provider-ca.pem"'
refused "provider.ca_file not readable by user otcd (root:otcd 0600)" "provider.ca_file"
ct chmod 0640 /etc/otcd/provider-ca.pem
printf 'this is not a certificate\n' | put /etc/otcd/not-pem.crt
site 'ca_file = "/etc/otcd/not-pem.crt"'
refused "provider.ca_file not PEM" "provider.ca_file"
# 5-6. The client certificate and key.
site 'client_cert_file = "/etc/otcd/client.crt"' 'client_key_file = "/etc/otcd/other.key"'
refused "provider.client_key_file of another certificate" "provider.client_key_file"
ct chmod 0600 /etc/otcd/client.key
site 'client_cert_file = "/etc/otcd/client.crt"' 'client_key_file = "/etc/otcd/client.key"'
refused "provider.client_key_file not readable by user otcd" "provider.client_key_file"
ct chmod 0640 /etc/otcd/client.key
# 7. The socket group.
site '[socket]' 'group = "kiosk"'
refused "socket.group names a group that does not exist" "socket.group"
# 8. A state directory outside what the unit lets otcd write (ProtectSystem=strict).
ct install -d -o otcd -g otcd -m 0750 /srv/otcd
site '[daemon]' 'state_dir = "/srv/otcd"'
refused "daemon.state_dir not writable by the service (/srv/otcd, ProtectSystem=strict)" "daemon.state_dir"
# 9. A syntax error in a drop-in: named with its file.
printf '[terminal\naddress = "/dev/ttyUSB0"\n' | put /etc/otcd/otcd.toml.d/60-typo.toml
site
refused "a TOML syntax error in a drop-in" "60-typo.toml: TOML syntax error"
ct rm /etc/otcd/otcd.toml.d/60-typo.toml

# Repaired: the same unit starts and stays up.
site 'ca_file = "/etc/otcd/provider-ca.pem"' 'client_cert_file = "/etc/otcd/client.crt"' 'client_key_file = "/etc/otcd/client.key"'
ct systemctl reset-failed otcd.service
ct systemctl start otcd.service
check "repaired: otcd starts (ActiveState=$(prop ActiveState), STATUS=$(prop StatusText))" test "$(prop ActiveState)" = active
check "repaired: otcd check-config exits 0, checked as user otcd" bash -c "nsenter -t $CT_PID -a /usr/local/bin/otcd check-config | grep -q '^# files, group and state directory checked as user otcd'"
ct /usr/local/bin/otcd check-config 2>&1 | sed -n '1,4p;/^ca_file/p;/^base_url/p;/^address/p' | sed 's/^/  otcd check-config: /'

finish
