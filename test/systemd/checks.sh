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

# Waits for the provider stand-in and the terminal simulator inside the
# container, trusts the stand-in's certificate, points /etc/otcd/otcd.toml at
# both as a technician would edit it, and checks it with OTCD_BIN check-config.
configure_for_test_peers() {
  local otcd_bin=$1 deadline=$((SECONDS + 20))
  until ct test -s /run/otcd-provider/cert.pem && ct grep -q '"ev":"ready"' /run/otcd-terminal.log 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || break; sleep 0.2
  done
  ct install -m 0644 /run/otcd-provider/cert.pem /etc/otcd/provider-ca.pem
  ct sed -i -e 's|^base_url = .*|base_url = "https://127.0.0.1:8443"|' \
            -e 's|^ca_file = .*|ca_file = "/etc/otcd/provider-ca.pem"|' \
            -e 's|^address = .*|address = "tcp://127.0.0.1:4001"|' /etc/otcd/otcd.toml
  check "otcd check-config accepts the edited configuration" bash -c "nsenter -t $CT_PID -a $otcd_bin check-config /etc/otcd/otcd.toml >/dev/null"
}
