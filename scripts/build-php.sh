#!/usr/bin/env bash
# Build a thread-safe (ZTS) PHP with the embed SAPI (static libphp.a) and the CLI
# of the same build, into a cache outside the checkout keyed by version + flags.
#
#   scripts/build-php.sh            # Debian bookworm's php8.2 source package
#   PHP_SRC=/path/php-8.4.x.tar.xz scripts/build-php.sh
#   PHP_SRC=/path/php-src-dir       scripts/build-php.sh
#
# Prints the install prefix (the directory holding bin/php-config) on its last
# line. Environment:
#   RUSTRUNNER_CACHE   cache root (default: ~/.cache/rustrunner)
#   PHP_SRC            tarball or directory of a PHP source tree (8.2 .. 8.5)
#   PHP_EXTRA_CONFIGURE extra ./configure flags (they are part of the cache key)
#   JOBS               parallel make jobs (default: nproc)
set -euo pipefail

CACHE="${RUSTRUNNER_CACHE:-$HOME/.cache/rustrunner}"
JOBS="${JOBS:-$(nproc)}"
STEP="start"
fail() {
  echo "build-php: FAILED at step '$STEP': $*" >&2
  exit 1
}
trap 'rc=$?; [ $rc -ne 0 ] && echo "build-php: FAILED at step \"$STEP\" (exit $rc). See the output above; the log of the failing step is in $CACHE/build-php.log when it was written." >&2' EXIT
say() { echo "build-php: $*" >&2; }

# The configure flags that define our PHP. Changing them changes the cache key.
FLAGS=(
  --enable-zts --enable-embed=static --disable-zend-signals --enable-zend-max-execution-timers
  --enable-cli --disable-cgi --disable-phpdbg --disable-fpm --without-pear
  --enable-opcache --enable-mbstring --with-openssl --enable-sockets --enable-pcntl
  --with-pdo-sqlite --with-sqlite3 --enable-ctype --enable-tokenizer --enable-filter
  --enable-session --enable-dom --enable-xml --enable-simplexml --enable-xmlreader
  --enable-xmlwriter --with-zlib --enable-fileinfo --enable-posix --enable-bcmath
)
INTL_FLAG=--enable-intl
# shellcheck disable=SC2206
EXTRA=(${PHP_EXTRA_CONFIGURE:-})

BUILD_DEPS=(build-essential pkg-config autoconf bison re2c dpkg-dev
  libxml2-dev libsqlite3-dev libssl-dev libonig-dev zlib1g-dev libicu-dev)

install_deps() {
  STEP="install build dependencies"
  local missing=()
  for p in "${BUILD_DEPS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing build dependencies: ${missing[*]}"
    command -v apt-get >/dev/null || fail "apt-get not found; install ${missing[*]} by hand"
    [ "$(id -u)" = 0 ] || fail "need root to apt-get install ${missing[*]} (or install them first)"
    apt-get update -qq >&2 || fail "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
      fail "apt-get install ${missing[*]} failed"
  fi
}

fetch_source() {
  # Sets SRC_DIR.
  if [ -n "${PHP_SRC:-}" ]; then
    STEP="unpack PHP_SRC=$PHP_SRC"
    if [ -d "$PHP_SRC" ]; then
      SRC_DIR="$(cd "$PHP_SRC" && pwd)"
    elif [ -f "$PHP_SRC" ]; then
      local dest="$CACHE/src/$(basename "$PHP_SRC" | sed -E 's/\.(tar\.(gz|xz|bz2)|tgz)$//')"
      if [ ! -f "$dest/main/php_version.h" ]; then
        rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
        tar -xf "$PHP_SRC" -C "$dest.tmp" --strip-components=1 || fail "cannot unpack $PHP_SRC"
        rm -rf "$dest" && mv "$dest.tmp" "$dest"
      fi
      SRC_DIR="$dest"
    else
      fail "PHP_SRC=$PHP_SRC is neither a directory nor a file"
    fi
  else
    STEP="fetch Debian's php8.2 source package"
    local base="$CACHE/src/debian"
    SRC_DIR="$(ls -d "$base"/php8.2-*/ 2>/dev/null | head -n1 || true)"
    if [ -z "$SRC_DIR" ] || [ ! -f "$SRC_DIR/main/php_version.h" ]; then
      if ! grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        say "adding a deb-src entry for bookworm (/etc/apt/sources.list.d/rustrunner-src.sources)"
        cat >/etc/apt/sources.list.d/rustrunner-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        apt-get update -qq >&2 || fail "apt-get update failed after adding deb-src"
      fi
      rm -rf "$base" && mkdir -p "$base"
      # Try every version the deb-src lists know, newest first: a mirror may
      # list a version whose files it does not carry.
      local ok=0 v
      for v in $(apt-cache showsrc php8.2 2>/dev/null | sed -n 's/^Version: //p' | sort -rV | uniq); do
        if (cd "$base" && apt-get source -qq "php8.2=$v" >&2); then ok=1; break; fi
        say "php8.2=$v not downloadable, trying an older one"
        rm -rf "${base:?}"/*
      done
      [ $ok = 1 ] ||
        fail "apt-get source php8.2 failed (is a deb-src entry for bookworm reachable?). Or pass PHP_SRC=<tarball|dir>."
      SRC_DIR="$(ls -d "$base"/php8.2-*/ | head -n1)"
    fi
    SRC_DIR="${SRC_DIR%/}"
  fi
  [ -f "$SRC_DIR/main/php_version.h" ] || fail "$SRC_DIR does not look like a PHP source tree (no main/php_version.h)"
}

install_deps
fetch_source

STEP="read version"
VERSION="$(sed -nE 's/^#define PHP_VERSION "([^"]+)".*/\1/p' "$SRC_DIR/main/php_version.h")"
[ -n "$VERSION" ] || fail "cannot read PHP_VERSION from $SRC_DIR/main/php_version.h"
KEY="$(printf '%s\n' "${FLAGS[@]}" "$INTL_FLAG" "${EXTRA[@]}" | sha256sum | cut -c1-12)"
PREFIX="$CACHE/php-$VERSION-zts-$KEY"

if [ -x "$PREFIX/bin/php-config" ] && [ -f "$PREFIX/lib/libphp.a" ] && [ -x "$PREFIX/bin/php" ]; then
  say "cached ZTS PHP $VERSION at $PREFIX"
  trap - EXIT
  echo "$PREFIX"
  exit 0
fi

say "building ZTS PHP $VERSION from $SRC_DIR into $PREFIX ($JOBS jobs; about 8 minutes on 2 cores)"
BUILD="$CACHE/build/php-$VERSION-$KEY"
STEP="copy source tree"
rm -rf "$BUILD" && mkdir -p "$BUILD"
cp -a "$SRC_DIR/." "$BUILD/"
cd "$BUILD"
LOG="$CACHE/build-php.log"
: >"$LOG"

if [ ! -x configure ] || [ configure.ac -nt configure ]; then
  STEP="buildconf"
  say "running buildconf"
  ./buildconf --force >>"$LOG" 2>&1 || fail "buildconf failed; see $LOG"
fi

STEP="configure"
say "configure ${FLAGS[*]} $INTL_FLAG ${EXTRA[*]}"
if ! ./configure --prefix="$PREFIX" "${FLAGS[@]}" "$INTL_FLAG" "${EXTRA[@]}" >>"$LOG" 2>&1; then
  say "configure with intl failed; retrying without intl (tail of the log below)"
  tail -n 5 "$LOG" >&2
  ./configure --prefix="$PREFIX" "${FLAGS[@]}" "${EXTRA[@]}" >>"$LOG" 2>&1 ||
    fail "configure failed; see $LOG (missing -dev package?)"
fi

STEP="make"
say "make -j$JOBS (log: $LOG)"
start=$(date +%s)
( make -j"$JOBS" >>"$LOG" 2>&1 ) &
mpid=$!
while kill -0 $mpid 2>/dev/null; do
  sleep 30
  kill -0 $mpid 2>/dev/null && say "  ... still compiling ($(( $(date +%s) - start ))s, $(grep -c '^/bin/bash' "$LOG" 2>/dev/null || echo 0) steps)"
done
wait $mpid || { tail -n 30 "$LOG" >&2; fail "make failed; see $LOG"; }

STEP="make install"
rm -rf "$PREFIX"
make install >>"$LOG" 2>&1 || { tail -n 20 "$LOG" >&2; fail "make install failed; see $LOG"; }
[ -f "$PREFIX/lib/libphp.a" ] || fail "no libphp.a after install (was --enable-embed=static honoured?)"
# Libraries libphp.a needs, for build.rs (php-config --libs lists them too).
"$PREFIX/bin/php-config" --libs >"$PREFIX/libs.txt"
cd / && rm -rf "$BUILD"
say "done in $(( $(date +%s) - start ))s: $PREFIX"
trap - EXIT
echo "$PREFIX"
