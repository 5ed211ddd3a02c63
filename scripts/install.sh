#!/bin/bash
# Installs otcd from this repository, the way a kiosk vendor does: onto the
# running system (--root /, the default) or into an image being built
# (--root DIR, e.g. a mounted SD-card root file system).
#
#   npm ci && npm run build          # once, in the repository
#   sudo scripts/install.sh [--root DIR] [--terminal-usb-id VVVV:PPPP] [--socket-activation] [--no-enable]
#   scripts/install.sh --stage DIR [--arch ARCH] [--bindir /usr/bin]   (packagers: scripts/build-deb.sh)
#
# What goes where:
#   /opt/otcd/                        dist/ (daemon, drivers, config) + production node_modules
#                                     (npm ci --omit=dev; only this architecture's serialport
#                                     prebuild; no tests, docs, type declarations, source maps)
#   /usr/local/bin/otcd, otcctl       `otcd check-config`, `otcctl status` for technicians
#   /usr/lib/systemd/system/          otcd.service, otcd.socket
#   /usr/lib/sysusers.d/otcd.conf     the otcd system user (in dialout)
#   /usr/lib/tmpfiles.d/otcd.conf     lets user otcd write its metrics file into
#                                     node_exporter's textfile directory (an ACL entry)
#   /usr/lib/udev/rules.d/99-otcd-terminal.rules   /dev/otcd-terminal (placeholder ids)
#   /etc/udev/rules.d/99-otcd-terminal.rules       with --terminal-usb-id: your terminal's ids
#   /etc/otcd/otcd.toml               the shipped configuration (root:otcd 0640): installed
#                                     where there is none, replaced where it is the previous
#                                     version's unchanged, kept where someone edited it
#   /etc/otcd/otcd.toml.d/            drop-ins: the site's settings (50-site.toml); never touched
# Then `systemctl --root enable otcd.service` (and otcd.socket with
# --socket-activation). Nothing is started: check the configuration first
# (`otcd check-config`), then `systemctl start otcd`.
#
# --stage DIR writes that same tree under DIR and stops there: no user, no
# owners, no enabling (the Debian package's maintainer scripts do those).
# --arch picks the serialport prebuild to keep: amd64, arm64 or armhf
# (default: this machine's). --bindir is where the two commands go
# (default /usr/local/bin; a package owns /usr/bin instead).
#
# Node.js 20 or later must be at /usr/bin/node on the target (Debian's and
# Raspberry Pi OS's nodejs package, or NodeSource's): the unit runs it by that
# path, not through PATH, so what runs is what the unit says.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=/
USB_ID=""
ENABLE=1
SOCKET=0
STAGE_ONLY=""
ARCH=""
BINDIR=/usr/local/bin

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; exit "${1:-0}"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }
say() { printf 'install.sh: %s\n' "$*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT=${2:?--root needs a directory}; shift 2 ;;
    --root=*) ROOT=${1#--root=}; shift ;;
    --terminal-usb-id) USB_ID=${2:?--terminal-usb-id needs VVVV:PPPP}; shift 2 ;;
    --terminal-usb-id=*) USB_ID=${1#--terminal-usb-id=}; shift ;;
    --socket-activation) SOCKET=1; shift ;;
    --no-enable) ENABLE=0; shift ;;
    --stage) STAGE_ONLY=${2:?--stage needs a directory}; shift 2 ;;
    --stage=*) STAGE_ONLY=${1#--stage=}; shift ;;
    --arch) ARCH=${2:?--arch needs amd64, arm64 or armhf}; shift 2 ;;
    --arch=*) ARCH=${1#--arch=}; shift ;;
    --bindir) BINDIR=${2:?--bindir needs a directory}; shift 2 ;;
    --bindir=*) BINDIR=${1#--bindir=}; shift ;;
    -h|--help) usage 0 ;;
    *) printf 'install.sh: unknown option %s\n\n' "$1" >&2; usage 64 ;;
  esac
done

[ -f "$REPO/dist/daemon/otcd.js" ] || die "$REPO/dist is missing: run 'npm ci && npm run build' in $REPO first"
[ -n "$ARCH" ] || ARCH=$(dpkg --print-architecture 2>/dev/null) || die "--arch is needed where dpkg is not"
# Debian architecture -> serialport's prebuilds/<platform-arch> folder.
case "$ARCH" in
  amd64) PREBUILD=linux-x64 ;;
  arm64) PREBUILD=linux-arm64 ;;
  armhf) PREBUILD=linux-arm ;;     # armv6 (Raspberry Pi OS armhf, Pi Zero/1) and armv7
  *) die "--arch $ARCH: serialport has prebuilds for amd64, arm64 and armhf only" ;;
esac
case "$BINDIR" in /*) ;; *) die "--bindir wants an absolute path, got '$BINDIR'" ;; esac

# The whole file tree, under $1, owned by whoever runs this (the caller sets
# owners): the one place that knows where otcd's files go.
stage_tree() {
  local t=$1 app=$1/opt/otcd
  # 1. The application: compiled code and production dependencies only, from
  #    the lock file.
  mkdir -p "$app/dist"
  cp -a "$REPO/package.json" "$REPO/package-lock.json" "$REPO/LICENSE" "$REPO/README.md" "$app/"
  local part
  for part in daemon drivers config; do
    [ -d "$REPO/dist/$part" ] && cp -a "$REPO/dist/$part" "$app/dist/"
  done
  cp -a "$REPO/config/otcd.toml" "$app/otcd.toml.default"
  # --ignore-scripts: serialport loads its prebuilt binding at run time; no
  # install script needs to run on the build machine.
  (cd "$app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error) \
    || die "npm ci --omit=dev failed (needs the npm registry or a warm npm cache)"
  prune_app "$app"
  chmod -R u=rwX,go=rX "$app"
  chmod 0755 "$app/dist/daemon/otcd.js" "$app/dist/daemon/main.js" "$app/dist/daemon/otcctl.js"

  # 2. The commands a technician types; the service runs the same files.
  local cmd main
  for cmd in otcd otcctl; do
    main=$( [ $cmd = otcd ] && echo otcd.js || echo otcctl.js )
    install -D -m 0755 /dev/stdin "$t$BINDIR/$cmd" <<WRAPPER
#!/bin/sh
# $cmd for technicians: see '$cmd --help'.
exec /usr/bin/node /opt/otcd/dist/daemon/$main "\$@"
WRAPPER
  done

  # 3. systemd units, the system user, the udev rule, the default configuration.
  install -D -m 0644 "$REPO/systemd/otcd.service" "$t/usr/lib/systemd/system/otcd.service"
  install -D -m 0644 "$REPO/systemd/otcd.socket" "$t/usr/lib/systemd/system/otcd.socket"
  install -D -m 0644 "$REPO/systemd/otcd.sysusers" "$t/usr/lib/sysusers.d/otcd.conf"
  install -D -m 0644 "$REPO/systemd/otcd.tmpfiles" "$t/usr/lib/tmpfiles.d/otcd.conf"
  install -D -m 0644 "$REPO/systemd/99-otcd-terminal.rules" "$t/usr/lib/udev/rules.d/99-otcd-terminal.rules"
  install -D -m 0640 "$REPO/config/otcd.toml" "$t/etc/otcd/otcd.toml"
  install -d -m 0755 "$t/etc/otcd/otcd.toml.d"
}

# What a kiosk must not carry: other platforms' native bindings (and musl
# builds: Debian and Raspberry Pi OS are glibc), the binding's C++ sources,
# source maps, type declarations, packages' tests, examples, benchmarks and
# docs. Licence files stay.
prune_app() {
  local app=$1 nm=$1/node_modules
  local pb=$nm/@serialport/bindings-cpp/prebuilds
  [ -d "$pb/$PREBUILD" ] || die "serialport has no $pb/$PREBUILD"
  find "$pb" -mindepth 1 -maxdepth 1 ! -name "$PREBUILD" -exec rm -rf {} +
  find "$pb/$PREBUILD" -name '*musl*' -delete
  rm -rf "$nm/@serialport/bindings-cpp/src" "$nm/@serialport/bindings-cpp/binding.gyp"
  find "$app" \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.ts.map' \) -type f -delete
  find "$nm" -mindepth 2 -maxdepth 3 -type d \
    \( -name test -o -name tests -o -name __tests__ -o -name example -o -name examples \
       -o -name benchmark -o -name benchmarks -o -name docs -o -name .github \) -prune -exec rm -rf {} +
  find "$nm" -type f \( -iname '*.md' -o -iname '*.markdown' \) ! -iname 'licen[cs]e*' -delete
  # Packages' own dotfiles (lint, CI, VCS settings) and doc-site pages; not
  # node_modules/.bin or npm's .package-lock.json one level up.
  find "$nm" -mindepth 2 -maxdepth 3 -name '.*' -prune -exec rm -rf {} +
  find "$nm" -mindepth 2 -maxdepth 3 -type f -name '*.html' -delete
  rm -rf "$nm/node-addon-api/tools"
}

if [ -n "$STAGE_ONLY" ]; then
  mkdir -p "$STAGE_ONLY"
  stage_tree "$(cd "$STAGE_ONLY" && pwd)"
  exit 0
fi

[ "$(id -u)" -eq 0 ] || die "run as root (it writes to /opt, /usr/lib and /etc of $ROOT)"
[ -d "$ROOT" ] || die "--root $ROOT is not a directory"
ROOT=$(cd "$ROOT" && pwd)
R=${ROOT%/}   # "" for /, so "$R/opt" is "/opt"
if [ -n "$USB_ID" ] && ! [[ "$USB_ID" =~ ^[0-9a-fA-F]{4}:[0-9a-fA-F]{4}$ ]]; then
  die "--terminal-usb-id wants VVVV:PPPP in hex as lsusb prints it, e.g. 0403:6001; got '$USB_ID'"
fi
[ -x "$R/usr/bin/node" ] || say "warning: $R/usr/bin/node is missing; install Node.js 20+ there before starting otcd"

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/otcd-install.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
T=$STAGE/tree

# 1. The application, staged and then swapped in whole so a failed install
#    leaves the previous version running.
say "staging /opt/otcd ($ARCH)"
stage_tree "$T"
mkdir -p "$R/opt"
rm -rf "$R/opt/otcd.new" "$R/opt/otcd.old"
cp -a "$T/opt/otcd" "$R/opt/otcd.new"
# Whether /etc/otcd/otcd.toml is the version being replaced, unedited (site
# settings belong in the drop-ins): then the new version may replace it.
CONF_UNEDITED=0
if [ -e "$R/etc/otcd/otcd.toml" ] && cmp -s "$R/etc/otcd/otcd.toml" "$R/opt/otcd/otcd.toml.default"; then CONF_UNEDITED=1; fi
chown -R 0:0 "$R/opt/otcd.new"
[ -e "$R/opt/otcd" ] && mv "$R/opt/otcd" "$R/opt/otcd.old"
mv "$R/opt/otcd.new" "$R/opt/otcd"
rm -rf "$R/opt/otcd.old"
for cmd in otcd otcctl; do install -D -m 0755 "$T$BINDIR/$cmd" "$R$BINDIR/$cmd"; done

# 2. systemd units, the system user, the udev rule.
say "installing units, sysusers.d and udev rule"
for f in usr/lib/systemd/system/otcd.service usr/lib/systemd/system/otcd.socket \
         usr/lib/sysusers.d/otcd.conf usr/lib/tmpfiles.d/otcd.conf usr/lib/udev/rules.d/99-otcd-terminal.rules; do
  install -D -m 0644 "$T/$f" "$R/$f"
done
if [ -n "$USB_ID" ]; then
  vid=${USB_ID%%:*}; pid=${USB_ID##*:}
  mkdir -p "$R/etc/udev/rules.d"
  sed -e "s/ATTRS{idVendor}==\"ffff\"/ATTRS{idVendor}==\"${vid,,}\"/" \
      -e "s/ATTRS{idProduct}==\"ffff\"/ATTRS{idProduct}==\"${pid,,}\"/" \
      -e "s/^# The ids below are a placeholder that matches no device./# Installed by scripts\/install.sh --terminal-usb-id $USB_ID./" \
      "$REPO/systemd/99-otcd-terminal.rules" > "$R/etc/udev/rules.d/99-otcd-terminal.rules"
  chmod 0644 "$R/etc/udev/rules.d/99-otcd-terminal.rules"
  say "udev: /dev/otcd-terminal for USB $vid:$pid"
fi

# The user now, not only at next boot: the configuration's group needs it.
if [ "$ROOT" = / ]; then
  systemd-sysusers otcd.conf
  # The metrics ACL now too (into an image root it comes at first boot:
  # ACL user names are resolved by the host, not the image).
  systemd-tmpfiles --create otcd.conf || say "warning: systemd-tmpfiles --create otcd.conf failed; metrics may not be written until the next boot"
else
  systemd-sysusers --root="$ROOT" otcd.conf
fi

# 3. Configuration: the shipped file as dpkg treats a conffile (installed,
#    or replaced when unedited, or kept when edited); the drop-in directory,
#    whose files are the site's and never touched.
mkdir -p "$R/etc/otcd"
install -d -m 0755 "$R/etc/otcd/otcd.toml.d"
if [ -e "$R/etc/otcd/otcd.toml" ] && [ "$CONF_UNEDITED" = 0 ] && ! cmp -s "$R/etc/otcd/otcd.toml" "$T/etc/otcd/otcd.toml"; then
  say "keeping the edited /etc/otcd/otcd.toml (the new version is /opt/otcd/otcd.toml.default);"
  say "  better: move your settings into /etc/otcd/otcd.toml.d/50-site.toml and install the new version"
else
  install -m 0640 "$T/etc/otcd/otcd.toml" "$R/etc/otcd/otcd.toml"
  gid=$(awk -F: '$1 == "otcd" { print $3 }' "$R/etc/group")
  chown "0:${gid:?no otcd group in $R/etc/group}" "$R/etc/otcd/otcd.toml"
  if [ -z "$(ls -A "$R/etc/otcd/otcd.toml.d")" ]; then
    say "installed /etc/otcd/otcd.toml; put the site's settings (at least [provider] base_url and"
    say "  [terminal] address) in /etc/otcd/otcd.toml.d/50-site.toml, root:otcd 0640"
  fi
fi

# The state directory: systemd creates it 0750 (StateDirectoryMode=) at the
# first start. One an older unit left 0700 is opened to group otcd, which may
# read the ledger (no card data in it); any other mode is left as it is.
if [ -d "$R/var/lib/otcd" ] && [ "$(stat -c %a "$R/var/lib/otcd")" = 700 ]; then
  chmod 0750 "$R/var/lib/otcd"
  say "opened $R/var/lib/otcd to group otcd (0750)"
fi

# 4. Enable (not start).
if [ "$ENABLE" = 1 ]; then
  units=(otcd.service)
  [ "$SOCKET" = 1 ] && units+=(otcd.socket)
  if [ "$ROOT" = / ]; then
    systemctl enable "${units[@]}"
  else
    systemctl --root="$ROOT" enable "${units[@]}"
  fi
fi
if [ "$ROOT" = / ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  command -v udevadm >/dev/null && udevadm control --reload || true
fi
say "done. Next: otcd check-config && systemctl start otcd"
