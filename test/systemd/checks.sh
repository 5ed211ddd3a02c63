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

# The site drop-in a technician writes for the test peers (README: where
# site settings go); the shipped /etc/otcd/otcd.toml stays untouched.
SITE_DROP_IN=/etc/otcd/otcd.toml.d/50-site.toml

# Waits for the provider stand-in and the terminal simulator inside the
# container, trusts the stand-in's certificate, points otcd at both in the
# site drop-in as a technician would, and checks it with OTCD_BIN check-config.
configure_for_test_peers() {
  local otcd_bin=$1 deadline=$((SECONDS + 20))
  until ct test -s /run/otcd-provider/cert.pem && ct grep -q '"ev":"ready"' /run/otcd-terminal.log 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || break; sleep 0.2
  done
  ct install -m 0644 /run/otcd-provider/cert.pem /etc/otcd/provider-ca.pem
  printf '[provider]\nbase_url = "https://127.0.0.1:8443"\nca_file = "/etc/otcd/provider-ca.pem"\n[terminal]\naddress = "tcp://127.0.0.1:4001"\n' \
    | ct install -D -m 0640 -o root -g otcd /dev/stdin "$SITE_DROP_IN"
  check "otcd check-config accepts the site drop-in" bash -c "nsenter -t $CT_PID -a $otcd_bin check-config >/dev/null"
}
