#!/usr/bin/env bash
# Build one PHP extension as a thread-safe (ZTS) .so for rr's own PHP, with
# that PHP's phpize, from:
#   scripts/build-ext.sh php-msgpack            a Debian source package (PECL sources)
#   scripts/build-ext.sh ./my-ext               a source directory (with config.m4)
#   scripts/build-ext.sh my-ext-1.2.3.tgz       a source tarball
# Options:
#   --out DIR        where the .so goes (default: the PHP's extension_dir;
#                    for dist/rr: dist/extensions, which dist/rr looks in first)
#   --configure "…"  extra ./configure flags
# Then load it: `extension=NAME` in php.ini, or `-d extension=NAME` in
# server.command (thread workers and process workers alike).
#
# Debian's own php-* extension packages cannot be loaded: they are built
# for Debian's non-thread-safe PHP (rr says so at start-up).
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${RUSTRUNNER_CACHE:-$HOME/.cache/rustrunner}"
JOBS="${JOBS:-$(nproc)}"
fail() {
  echo "build-ext: $*" >&2
  exit 1
}

SRC="" OUT="" EXTRA=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="${2:?--out needs a directory}"; shift 2 ;;
    --configure) EXTRA="${2:-}"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) fail "unknown option $1 (see --help)" ;;
    *) [ -z "$SRC" ] || fail "one source at a time"; SRC="$1"; shift ;;
  esac
done
[ -n "$SRC" ] || fail "usage: scripts/build-ext.sh <debian-source-package|dir|tarball> [--out DIR]"

# rr's PHP (the same one build.rs links).
if [ -n "${PHP_CONFIG:-}" ]; then
  PHPCONFIG="$PHP_CONFIG"
else
  PREFIX="$("$HERE/scripts/build-php.sh" | tail -n1)" || fail "no ZTS PHP (scripts/build-php.sh failed)"
  PHPCONFIG="$PREFIX/bin/php-config"
fi
[ -x "$PHPCONFIG" ] || fail "$PHPCONFIG not found"
PHPIZE="$(dirname "$PHPCONFIG")/phpize"
[ -x "$PHPIZE" ] || fail "$PHPIZE not found"
"$PHPCONFIG" --configure-options | grep -q -- '--enable-zts' || fail "$PHPCONFIG is not a ZTS PHP"
[ -n "$OUT" ] || OUT="$("$PHPCONFIG" --extension-dir)"

WORK="$(mktemp -d /tmp/rr-build-ext.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

# The source tree.
if [ -d "$SRC" ]; then
  mkdir -p "$WORK/src" && cp -a "$SRC/." "$WORK/src/"
elif [ -f "$SRC" ]; then
  mkdir -p "$WORK/src" && tar -xf "$SRC" -C "$WORK/src" || fail "cannot unpack $SRC"
else
  # A Debian source package, cached like PHP's own sources.
  pkgdir="$CACHE/src/ext/$SRC"
  if [ ! -d "$pkgdir" ] || [ -z "$(ls -A "$pkgdir" 2>/dev/null)" ]; then
    mkdir -p "$pkgdir"
    (cd "$pkgdir" && apt-get source -qq "$SRC" >&2) ||
      { rm -rf "$pkgdir"; fail "apt-get source $SRC failed (a deb-src entry is needed: scripts/build-php.sh adds one)"; }
  fi
  mkdir -p "$WORK/src" && cp -a "$pkgdir/." "$WORK/src/"
fi
# The extension's own folder: the newest one holding a config.m4 (Debian's
# PECL packages carry one folder per upstream version).
dir="$(find "$WORK/src" -maxdepth 3 -name config.m4 -printf '%h\n' | sort -V | tail -n1)"
[ -n "$dir" ] || fail "no config.m4 in $SRC: not a PHP extension source"
echo "build-ext: building $(basename "$dir") with $PHPIZE" >&2

LOG="$WORK/build.log"
(cd "$dir" && "$PHPIZE" >"$LOG" 2>&1) || { tail -n 20 "$LOG" >&2; fail "phpize failed"; }
# shellcheck disable=SC2086
(cd "$dir" && ./configure --with-php-config="$PHPCONFIG" $EXTRA >>"$LOG" 2>&1) ||
  { tail -n 20 "$LOG" >&2; fail "configure failed (a missing -dev package?)"; }
(cd "$dir" && make -j"$JOBS" >>"$LOG" 2>&1) || { tail -n 30 "$LOG" >&2; fail "make failed"; }

mkdir -p "$OUT"
n=0
for so in "$dir"/modules/*.so; do
  [ -f "$so" ] || continue
  cp "$so" "$OUT/"
  n=$((n + 1))
  echo "build-ext: $OUT/$(basename "$so") (load it with extension=$(basename "$so" .so))" >&2
done
[ "$n" -gt 0 ] || fail "the build made no .so"
echo "$OUT"
