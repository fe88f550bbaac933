#!/usr/bin/env bash
# Build a thread-safe (ZTS) PHP with the embed SAPI (static libphp.a) and the CLI
# of the same build, into a cache outside the checkout keyed by version + flags.
#
#   scripts/build-php.sh            # Debian bookworm's php8.2 source package
#   PHP_SRC=/path/php-8.4.x.tar.xz scripts/build-php.sh
#   PHP_SRC=/path/php-src-dir       scripts/build-php.sh
#   scripts/build-php.sh --static   # also what a static-ish `rr` needs (make dist)
#
# Every build also leaves lib/rustrunner/librr_opcache.a in the install:
# OPcache (a shared-only extension before PHP 8.5) as one relocatable object,
# so build.rs can link it into rr (no opcache.so to ship). --static adds
# lib/rustrunner/libonig.a (Debian's libonig-dev has no static archive),
# built from Debian's libonig source package, and makes librr_opcache.a for
# an install that predates it.
#
# Prints the install prefix (the directory holding bin/php-config) on its last
# line. Environment:
#   RUSTRUNNER_CACHE   cache root (default: ~/.cache/rustrunner)
#   PHP_SRC            tarball or directory of a PHP source tree (8.2 .. 8.5)
#   PHP_EXTRA_CONFIGURE extra ./configure flags (they are part of the cache key)
#   JOBS               parallel make jobs (default: nproc)
set -euo pipefail

STATIC=0
for a in "$@"; do
  case "$a" in
    --static) STATIC=1 ;;
    *) echo "build-php: unknown argument $a (only --static)" >&2; exit 2 ;;
  esac
done

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

ensure_deb_src() {
  # Our own entry from before the security suite was in it: write it again.
  local ours=/etc/apt/sources.list.d/rustrunner-src.sources
  if [ -f "$ours" ] && ! grep -q 'bookworm-security' "$ours"; then rm -f "$ours"; fi
  if ! grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    say "adding a deb-src entry for bookworm (/etc/apt/sources.list.d/rustrunner-src.sources)"
    cat >/etc/apt/sources.list.d/rustrunner-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt-get update -qq >&2 || fail "apt-get update failed after adding deb-src"
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
    # The newest version the deb-src lists know (bookworm-security has the
    # security fixes): a cached older source is replaced when the newer one
    # downloads, and kept when it does not.
    ensure_deb_src
    local newest
    newest="$(apt-cache showsrc php8.2 2>/dev/null | sed -n 's/^Version: //p' | sort -rV | head -n1 || true)"
    if [ -n "$newest" ] && [ -n "$SRC_DIR" ] && [ -f "$SRC_DIR/main/php_version.h" ] &&
      [ "$(basename "$SRC_DIR")" != "php8.2-${newest%%-*}" ] && [ ! -f "$base.tried-$newest" ]; then
      say "cached source $(basename "$SRC_DIR") is older than php8.2 $newest; trying to fetch that"
      rm -rf "$base.new" && mkdir -p "$base.new"
      if (cd "$base.new" && apt-get source -qq "php8.2=$newest" >&2); then
        rm -rf "$base" && mv "$base.new" "$base"
        SRC_DIR="$(ls -d "$base"/php8.2-*/ | head -n1)"
      else
        say "php8.2=$newest is listed but not downloadable here; keeping $(basename "$SRC_DIR")"
        rm -rf "$base.new"
        touch "$base.tried-$newest"
      fi
    fi
    if [ -z "$SRC_DIR" ] || [ ! -f "$SRC_DIR/main/php_version.h" ]; then
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

# OPcache as a static archive: the PIC objects libtool made for opcache.so,
# joined into one relocatable object. Its two dlsym() entry points are
# renamed (php-sapi/rustrunner.c registers rr_opcache_zend_extension_entry
# itself; no zend_extension .so can clash with them), and its own TLS cache
# _tsrm_ls_cache (a shared extension keeps one) becomes local, exactly as it
# is inside opcache.so, so it does not collide with libphp's.
# $1 = a configured tree where ext/opcache/opcache.la was built.
static_opcache() {
  STEP="static OPcache archive"
  local tree="$1" out="$PREFIX/lib/rustrunner"
  mkdir -p "$out"
  mapfile -t objs < <(find "$tree/ext/opcache" -path '*/.libs/*.o' | sort)
  [ ${#objs[@]} -gt 0 ] || fail "no OPcache objects under $tree/ext/opcache"
  ld -r -o "$out/rr_opcache.o" "${objs[@]}" || fail "ld -r of the OPcache objects failed"
  objcopy --redefine-sym zend_extension_entry=rr_opcache_zend_extension_entry \
    --redefine-sym extension_version_info=rr_opcache_extension_version_info \
    --localize-symbol=_tsrm_ls_cache \
    "$out/rr_opcache.o" || fail "objcopy failed"
  local syms
  syms="$(nm "$out/rr_opcache.o")"
  grep -q ' D rr_opcache_zend_extension_entry$' <<<"$syms" ||
    fail "rr_opcache.o has no rr_opcache_zend_extension_entry"
  rm -f "$out/librr_opcache.a"
  ar rcs "$out/librr_opcache.a" "$out/rr_opcache.o" && rm -f "$out/rr_opcache.o"
  opcache_headers "$tree"
  say "OPcache archive: $out/librr_opcache.a"
}

# OPcache's headers, which PHP does not install: the glue reads OPcache's
# shared globals (its pending-restart flag) through them. From the source
# tree of this very build; build.rs refuses a linked-in OPcache without them.
# $1 = a PHP source tree.
opcache_headers() {
  STEP="OPcache headers"
  local inc
  inc="$("$PREFIX/bin/php-config" --include-dir)/ext/opcache"
  mkdir -p "$inc"
  cp "$1"/ext/opcache/*.h "$inc/" || fail "cannot copy OPcache's headers from $1"
}

# Oniguruma (mbstring's regex library) as a static PIC archive, from
# Debian's libonig source package: libonig-dev ships only the .so.
static_onig() {
  STEP="static oniguruma"
  local out="$PREFIX/lib/rustrunner"
  [ -f "$out/libonig.a" ] && return 0
  if ls /usr/lib/*/libonig.a /usr/lib/libonig.a >/dev/null 2>&1; then return 0; fi
  local base="$CACHE/src/libonig"
  local dir
  dir="$(ls -d "$base"/libonig-*/ 2>/dev/null | head -n1 || true)"
  if [ -z "$dir" ]; then
    rm -rf "$base" && mkdir -p "$base"
    ensure_deb_src
    (cd "$base" && apt-get source -qq libonig >&2) ||
      fail "apt-get source libonig failed (needs a deb-src entry; scripts/build-php.sh adds one)"
    dir="$(ls -d "$base"/libonig-*/ | head -n1)"
  fi
  local missing=() p
  for p in automake libtool; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || fail "need root to apt-get install ${missing[*]} (or install them first)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
      fail "apt-get install ${missing[*]} failed"
  fi
  local b="$CACHE/build/libonig"
  rm -rf "$b" && cp -a "$dir" "$b"
  say "building a static libonig from $(basename "$dir")"
  (cd "$b" && { [ -x configure ] || autoreconf -fi >>"$CACHE/build-onig.log" 2>&1; } &&
    ./configure --disable-shared --enable-static --with-pic >>"$CACHE/build-onig.log" 2>&1 &&
    make -j"$JOBS" -C src >>"$CACHE/build-onig.log" 2>&1) ||
    fail "static libonig build failed; see $CACHE/build-onig.log"
  mkdir -p "$out"
  cp "$b/src/.libs/libonig.a" "$out/libonig.a"
  rm -rf "$b"
  say "static oniguruma: $out/libonig.a"
}

# An install made before librr_opcache.a existed: configure the same source
# again and build only OPcache (a few minutes, not a full PHP build).
retrofit_opcache() {
  local b="$CACHE/build/opcache-$VERSION-$KEY"
  say "building the static OPcache archive for $PREFIX (configure + OPcache only)"
  STEP="retrofit OPcache: copy source"
  rm -rf "$b" && mkdir -p "$b" && cp -a "$SRC_DIR/." "$b/"
  cd "$b"
  local log="$CACHE/build-opcache.log"
  : >"$log"
  STEP="retrofit OPcache: configure"
  ./configure --prefix="$PREFIX" "${FLAGS[@]}" "$INTL_FLAG" "${EXTRA[@]}" >>"$log" 2>&1 ||
    ./configure --prefix="$PREFIX" "${FLAGS[@]}" "${EXTRA[@]}" >>"$log" 2>&1 ||
    fail "configure failed; see $log"
  STEP="retrofit OPcache: make"
  make -j"$JOBS" ext/opcache/opcache.la >>"$log" 2>&1 || { tail -n 20 "$log" >&2; fail "make ext/opcache/opcache.la failed; see $log"; }
  static_opcache "$b"
  cd / && rm -rf "$b"
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
  # An install from before the glue needed OPcache's headers.
  if [ -f "$PREFIX/lib/rustrunner/librr_opcache.a" ] && [ ! -f "$("$PREFIX/bin/php-config" --include-dir)/ext/opcache/ZendAccelerator.h" ]; then
    opcache_headers "$SRC_DIR"
  fi
  if [ $STATIC = 1 ]; then
    [ -f "$PREFIX/lib/rustrunner/librr_opcache.a" ] || retrofit_opcache
    static_onig
  fi
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
static_opcache "$BUILD"
[ $STATIC = 1 ] && static_onig
cd / && rm -rf "$BUILD"
say "done in $(( $(date +%s) - start ))s: $PREFIX"
trap - EXIT
echo "$PREFIX"
