#!/bin/bash
# Builds otcd's Debian packages from this repository, one per architecture,
# on any machine (the packages hold no compiled code of their own; each
# carries serialport's prebuilt binding for its architecture).
#
#   npm ci && npm run build                      # once, in the repository
#   scripts/build-deb.sh [--arch amd64|arm64|armhf|all] [--revision N] [--version V] [--out DIR]
#
#   --arch      default all: amd64, arm64 and armhf
#   --version   the upstream version; default package.json's
#   --revision  the Debian revision; default 1 (so 0.1.0 becomes 0.1.0-1)
#   --out       where the .deb files go; default dist/deb
# Maintainer: $DEB_MAINTAINER, else "otcd maintainers <otcd@users.noreply.github.com>".
#
# The file layout is scripts/install.sh's (--stage), so a package and a
# scripted install put every file in the same place; the commands go to
# /usr/bin instead of /usr/local/bin. The maintainer scripts, control file
# and conffiles list are in scripts/deb/. Packages are built with files
# owned by root (dpkg-deb --root-owner-group: no fakeroot), timestamps
# clamped to the last commit (SOURCE_DATE_EPOCH), and checked with
# `dpkg-deb --info/--contents`. Prints the path of each package, and on
# stderr each package's size and installed size.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ARCHES=(amd64 arm64 armhf)
VERSION=""
REVISION=1
OUT=$REPO/dist/deb
MAINTAINER=${DEB_MAINTAINER:-otcd maintainers <otcd@users.noreply.github.com>}

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; exit "${1:-0}"; }
die() { printf 'build-deb.sh: %s\n' "$*" >&2; exit 1; }
say() { printf 'build-deb.sh: %s\n' "$*" >&2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --arch) [ "${2:?--arch needs amd64, arm64, armhf or all}" = all ] || ARCHES=("$2"); shift 2 ;;
    --version) VERSION=${2:?--version needs a version}; shift 2 ;;
    --revision) REVISION=${2:?--revision needs a number}; shift 2 ;;
    --out) OUT=${2:?--out needs a directory}; shift 2 ;;
    -h|--help) usage 0 ;;
    *) printf 'build-deb.sh: unknown option %s\n\n' "$1" >&2; usage 64 ;;
  esac
done

[ -n "$VERSION" ] || VERSION=$(node -p 'require(process.argv[1]).version' "$REPO/package.json")
[[ "$VERSION" =~ ^[0-9][A-Za-z0-9.+~]*$ ]] || die "'$VERSION' is not a Debian upstream version"
[[ "$REVISION" =~ ^[A-Za-z0-9.+~]+$ ]] || die "'$REVISION' is not a Debian revision"
DEBVERSION=$VERSION-$REVISION
command -v dpkg-deb >/dev/null || die "dpkg-deb is missing (apt-get install dpkg)"
# Reproducible timestamps: the last commit's, or now outside a git checkout.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$REPO" log -1 --format=%ct 2>/dev/null || date +%s)}
COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/otcd-deb.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

build_one() {
  local arch=$1 t=$WORK/$1
  say "staging $arch"
  "$REPO/scripts/install.sh" --stage "$t" --arch "$arch" --bindir /usr/bin >"$WORK/stage-$arch.log" 2>&1 \
    || { cat "$WORK/stage-$arch.log" >&2; die "staging $arch failed"; }

  # Debian's documentation files: copyright (the MIT licence) and a changelog.
  local doc=$t/usr/share/doc/otcd
  mkdir -p "$doc" "$t/usr/share/lintian/overrides"
  {
    printf 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n'
    printf 'Upstream-Name: otcd\nSource: https://github.com/otcd/otcd\n\n'
    printf 'Files: *\nCopyright: %s\nLicense: MIT\n' "$(sed -n 's/^Copyright (c) //p' "$REPO/LICENSE" | head -1)"
    # The licence text, as a DEP-5 paragraph: blank lines become " .".
    sed -n '/^Permission is hereby granted/,$p' "$REPO/LICENSE" | sed -e 's/^$/./' -e 's/^/ /'
    printf '\nFiles: opt/otcd/node_modules/*\nCopyright: their authors, see each package'"'"'s LICENSE file\n'
    printf 'License: various (MIT, ISC, BSD-2-Clause, Apache-2.0), as stated in each package.json\n'
  } > "$doc/copyright"
  {
    printf 'otcd (%s) stable; urgency=medium\n\n' "$DEBVERSION"
    printf '  * Built from commit %s. Changes: see the repository history.\n\n' "$COMMIT"
    printf ' -- %s  %s\n' "$MAINTAINER" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
  } | gzip -9n > "$doc/changelog.Debian.gz"
  install -m 0644 "$REPO/scripts/deb/lintian-overrides" "$t/usr/share/lintian/overrides/otcd"

  # Control area. The serialport binding is the one compiled file: the C
  # library it needs is the newest GLIBC_2.x symbol version it references
  # (read from the file, as dpkg-shlibdeps would, without a cross toolchain).
  mkdir -p "$t/DEBIAN"
  local kib glibc
  kib=$(du -sk --exclude=DEBIAN "$t" | cut -f1)
  glibc=$(find "$t/opt/otcd/node_modules" -name '*.node' -exec grep -aoh 'GLIBC_2\.[0-9]*' {} + | sed 's/^GLIBC_//' | sort -uV | tail -1)
  [ -n "$glibc" ] || die "no GLIBC symbol version in the $arch binding"
  sed -e "s/@VERSION@/$DEBVERSION/" -e "s/@ARCH@/$arch/" -e "s/@INSTALLED_SIZE@/$kib/" -e "s/@LIBC@/$glibc/" \
      -e "s|@MAINTAINER@|$MAINTAINER|" "$REPO/scripts/deb/control" > "$t/DEBIAN/control"
  install -m 0644 "$REPO/scripts/deb/conffiles" "$t/DEBIAN/conffiles"
  local s
  for s in postinst prerm postrm; do install -m 0755 "$REPO/scripts/deb/$s" "$t/DEBIAN/$s"; done
  (cd "$t" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) > "$t/DEBIAN/md5sums"
  chmod 0644 "$t/DEBIAN/md5sums"

  # Modes a package must have whoever built it (umask), then timestamps.
  find "$t" -type d -exec chmod 0755 {} +
  chmod 0640 "$t/etc/otcd/otcd.toml"
  find "$t" -newermt "@$SOURCE_DATE_EPOCH" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

  local deb=$OUT/otcd_${DEBVERSION}_$arch.deb
  dpkg-deb --root-owner-group -Zxz --build "$t" "$deb" >/dev/null
  # A package dpkg-deb cannot read back, or one without its binding, is not shipped.
  dpkg-deb --info "$deb" >/dev/null
  local want contents
  case "$arch" in amd64) want=linux-x64 ;; arm64) want=linux-arm64 ;; armhf) want=linux-arm ;; esac
  contents=$(dpkg-deb --contents "$deb")
  grep -q "prebuilds/$want/.*glibc\.node$" <<<"$contents" || die "$deb has no $want binding"
  [ "$(grep -c '\.node$' <<<"$contents")" -eq "$(grep -c "prebuilds/$want/.*\.node$" <<<"$contents")" ] \
    || die "$deb carries another architecture's binding"
  local bytes
  bytes=$(stat -c %s "$deb")
  SIZES+=("$(printf '%-28s %9s bytes (%d KiB), installed %d KiB' "$(basename "$deb")" "$bytes" $(((bytes + 1023) / 1024)) "$kib")")
  echo "$deb"
}

# The sizes the README quotes come from here.
SIZES=()
for arch in "${ARCHES[@]}"; do build_one "$arch"; done
say "package sizes:"
for line in "${SIZES[@]}"; do say "  $line"; done
