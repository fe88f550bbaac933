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
# built from Debian's libonig source package, static libcurl, libpq, libzip
# and libxslt in lib/rustrunner/static (see static_libs), and makes
# librr_opcache.a for an install that predates it.
#
# Extensions: FLAGS below, plus the PECL extensions apcu, igbinary and redis
# linked in from Debian's source packages (PECL).
#
# Prints the install prefix (the directory holding bin/php-config) on its last
# line. Environment:
#   RUSTRUNNER_CACHE   cache root (default: ~/.cache/rustrunner)
#   PHP_SRC            tarball or directory of a PHP source tree (8.2 .. 8.5)
#   PHP_EXTRA_CONFIGURE extra ./configure flags (they are part of the cache key)
#   RR_PECL=0          without the PECL extensions (apcu, igbinary, redis)
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
trap 'rc=$?; [ $rc -ne 0 ] && echo "build-php: FAILED at step \"$STEP\" (exit $rc). See the output above; the log of the failing step is in $CACHE/build-php-<version>-<key>.log when it was written." >&2' EXIT
say() { echo "build-php: $*" >&2; }

# The configure flags that define our PHP. Changing them changes the cache key.
FLAGS=(
  --enable-zts --enable-embed=static --disable-zend-signals --enable-zend-max-execution-timers
  --enable-cli --disable-cgi --disable-phpdbg --disable-fpm --without-pear
  --enable-opcache --enable-mbstring --with-openssl --enable-sockets --enable-pcntl
  --with-pdo-sqlite --with-sqlite3 --enable-ctype --enable-tokenizer --enable-filter
  --enable-session --enable-dom --enable-xml --enable-simplexml --enable-xmlreader
  --enable-xmlwriter --with-zlib --enable-fileinfo --enable-posix --enable-bcmath
  # What real applications load (issue 14): databases, HTTP, images, archives,
  # crypto, and the rest of Debian's usual set.
  --enable-mysqlnd --with-mysqli --with-pdo-mysql --with-pgsql --with-pdo-pgsql
  --with-curl --enable-gd --with-jpeg --with-webp --with-freetype --with-zip
  --with-sodium --with-gmp --with-bz2 --enable-exif --enable-calendar --with-gettext
  --with-xsl --enable-soap --enable-sysvsem --enable-sysvshm --enable-sysvmsg
  --enable-shmop --with-libedit
  # PECL extensions built in (their sources are copied into ext/, see PECL).
  --enable-apcu --enable-igbinary --enable-redis --enable-redis-igbinary
  --enable-redis-lzf --enable-redis-zstd --with-libzstd --enable-redis-lz4 --with-liblz4
)
# PECL extensions linked into libphp: Debian source package, extension name.
# The newest <name>-<version>/ directory of each package is copied into
# ext/<name> (the packages also carry old PHP 5 versions). Their versions are
# part of the cache key.
# RR_PECL=0 leaves them out (e.g. for a PHP_SRC these versions do not
# support: Debian bookworm's are apcu 5.1.22, igbinary 3.2.13, redis 5.3.7).
PECL=(php-apcu:apcu php-igbinary:igbinary php-redis:redis)
if [ "${RR_PECL:-1}" = 0 ]; then
  PECL=()
  for i in "${!FLAGS[@]}"; do
    case "${FLAGS[$i]}" in
      --enable-apcu* | --enable-igbinary* | --enable-redis* | --with-libzstd* | --with-liblz4*) unset 'FLAGS[i]' ;;
    esac
  done
  FLAGS=("${FLAGS[@]}")
fi
INTL_FLAG=--enable-intl
# shellcheck disable=SC2206
EXTRA=(${PHP_EXTRA_CONFIGURE:-})

BUILD_DEPS=(build-essential pkg-config autoconf libtool bison re2c dpkg-dev
  libxml2-dev libsqlite3-dev libssl-dev libonig-dev zlib1g-dev libicu-dev
  libcurl4-openssl-dev libpq-dev libpng-dev libjpeg62-turbo-dev libwebp-dev
  libfreetype-dev libbrotli-dev libzip-dev libsodium-dev libgmp-dev libbz2-dev
  libxslt1-dev libedit-dev libncurses-dev libbsd-dev libmd-dev libzstd-dev liblz4-dev
  liblzma-dev)

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

# PECL sources from Debian's source packages, cached in $CACHE/src/pecl.
# Sets PECL_DIRS (name=dir) and PECL_IDS (name-version, for the cache key).
fetch_pecl() {
  PECL_DIRS=() PECL_IDS=()
  local base="$CACHE/src/pecl" item pkg name pdir dir
  for item in "${PECL[@]}"; do
    pkg="${item%%:*}" name="${item#*:}"
    STEP="fetch PECL source $pkg"
    pdir="$(ls -d "$base/$pkg"/"$pkg"-*/ 2>/dev/null | sort -V | tail -n1 || true)"
    if [ -z "$pdir" ]; then
      ensure_deb_src
      rm -rf "${base:?}/$pkg" && mkdir -p "$base/$pkg"
      (cd "$base/$pkg" && apt-get source -qq "$pkg" >&2) ||
        fail "apt-get source $pkg failed (needs a deb-src entry; this script adds one)"
      pdir="$(ls -d "$base/$pkg"/"$pkg"-*/ | sort -V | tail -n1)"
    fi
    # The newest <name>-<version>/ inside (php-apcu also has apcu-4 for PHP 5).
    dir="$(ls -d "$pdir"/"$name"-[0-9]*/ 2>/dev/null | sort -V | tail -n1 || true)"
    [ -n "$dir" ] && [ -f "$dir/config.m4" ] || fail "no $name-<version>/config.m4 in $pdir"
    dir="${dir%/}"
    PECL_DIRS+=("$name=$dir")
    PECL_IDS+=("pecl:$(basename "$dir")")
  done
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

# A Debian source package, unpacked and cached in $CACHE/src/<pkg> (the
# newest version the deb-src lists know that is really downloadable).
# Sets SRCPKG_DIR.
fetch_srcpkg() {
  local pkg="$1" base="$CACHE/src/$1" dir v
  STEP="fetch source package $pkg"
  dir="$(ls -d "$base"/*/ 2>/dev/null | head -n1 || true)"
  if [ -z "$dir" ]; then
    ensure_deb_src
    rm -rf "$base" && mkdir -p "$base"
    for v in $(apt-cache showsrc "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | sort -rV | uniq); do
      if (cd "$base" && apt-get source -qq "$pkg=$v" >&2); then break; fi
      say "$pkg=$v not downloadable, trying an older one"
      rm -rf "${base:?}"/*
    done
    dir="$(ls -d "$base"/*/ 2>/dev/null | head -n1 || true)"
    [ -n "$dir" ] || fail "apt-get source $pkg failed (needs a deb-src entry; this script adds one)"
  fi
  SRCPKG_DIR="${dir%/}"
}

ensure_pkgs() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || fail "need root to apt-get install ${missing[*]} (or install them first)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
      fail "apt-get install ${missing[*]} failed"
  fi
}

# A .pc file for one of our static libraries: build.rs reads these (first on
# its PKG_CONFIG_PATH) instead of Debian's, whose private dependencies are
# those of Debian's shared build (GSSAPI, LDAP, gnutls, ...).
write_pc() { # dir module version libs private
  mkdir -p "$1"
  cat >"$1/$2.pc" <<PC
libdir=\${pcfiledir}/..
Name: $2
Description: static build for rustrunner (scripts/build-php.sh)
Version: $3
Libs: -L\${libdir} $4
Libs.private: $5
Cflags:
PC
}

# Static PIC archives of the libraries whose Debian -dev package has none, or
# whose archive needs libraries that have none: libcurl and libpq (GSSAPI,
# LDAP -> gnutls -> p11-kit), libzip and libxslt (no .a at all). Each is
# built once from its Debian source package (same upstream version as the
# -dev headers PHP compiled against) into $CACHE/static/<source dir>, not
# keyed on the PHP flags, then copied into $PREFIX/lib/rustrunner/static
# with a .pc (build.rs searches there only in static mode; a dynamic build
# keeps linking Debian's shared libraries).
static_libs() {
  static_curl
  static_libpq
  static_libzip
  static_libxslt
}

# $1 = cache dir of one built library: copy its archives and .pc files.
install_static() {
  local out="$PREFIX/lib/rustrunner/static"
  mkdir -p "$out/pkgconfig"
  cp "$1"/lib/*.a "$out/" && cp "$1"/lib/pkgconfig/*.pc "$out/pkgconfig/" ||
    fail "cannot copy $1 into $out"
}

static_curl() {
  fetch_srcpkg curl
  local id out b log
  id="$(basename "$SRCPKG_DIR")" out="$CACHE/static/$id" b="$CACHE/build/$id" log="$CACHE/build-static-$id.log"
  if [ ! -f "$out/lib/libcurl.a" ]; then
    STEP="static libcurl ($id)"
    ensure_pkgs automake libtool libnghttp2-dev libbrotli-dev libzstd-dev libssl-dev zlib1g-dev
    say "building a static libcurl from $id (no GSSAPI, LDAP, RTMP, SSH, PSL, IDN; log: $log)"
    rm -rf "$b" && cp -a "$SRCPKG_DIR" "$b" && : >"$log"
    # Debian's last two patches turn the tree into the GnuTLS and NSS
    # flavours (libcurl-nss.la): take them out again, as debian/rules does.
    (cd "$b" && for p in 99_nss.patch 90_gnutls.patch; do
        [ ! -f "debian/patches/$p" ] || patch -R -p1 -s <"debian/patches/$p" >>"$log" 2>&1 || exit 1
      done && autoreconf -fi >>"$log" 2>&1 &&
      ./configure --disable-shared --enable-static --with-pic --with-openssl --with-nghttp2 --with-zlib \
        --with-brotli --with-zstd --enable-threaded-resolver --without-libpsl --without-librtmp \
        --without-libssh2 --without-libssh --without-gssapi --disable-ldap --disable-ldaps --without-libidn2 \
        --disable-manual --with-ca-bundle=/etc/ssl/certs/ca-certificates.crt --with-ca-path=/etc/ssl/certs \
        >>"$log" 2>&1 &&
      make -j"$JOBS" -C lib >>"$log" 2>&1) || { tail -n 20 "$log" >&2; fail "static libcurl build failed; see $log"; }
    rm -rf "$out" && mkdir -p "$out/lib"
    cp "$b/lib/.libs/libcurl.a" "$out/lib/"
    write_pc "$out/lib/pkgconfig" libcurl "${id#curl-}" "-lcurl" "-lnghttp2 -lssl -lcrypto -lzstd -lbrotlidec -lz -lpthread"
    rm -rf "$b"
  fi
  install_static "$out"
}

static_libpq() {
  fetch_srcpkg postgresql-15
  local id out b log
  id="$(basename "$SRCPKG_DIR")" out="$CACHE/static/$id" b="$CACHE/build/$id" log="$CACHE/build-static-$id.log"
  if [ ! -f "$out/lib/libpq.a" ]; then
    STEP="static libpq ($id)"
    ensure_pkgs bison flex libssl-dev
    say "building a static libpq from $id (no GSSAPI, LDAP; log: $log)"
    rm -rf "$b" && cp -a "$SRCPKG_DIR" "$b" && : >"$log"
    (cd "$b" && ./configure --without-readline --without-icu --without-gssapi --without-ldap --with-openssl \
      --without-zlib --without-llvm --without-systemd --without-libxml --without-lz4 --without-zstd >>"$log" 2>&1 &&
      make -j"$JOBS" -C src/include >>"$log" 2>&1 &&
      make -j"$JOBS" -C src/backend generated-headers >>"$log" 2>&1 &&
      make -j"$JOBS" -C src/common libpgcommon_shlib.a >>"$log" 2>&1 &&
      make -j"$JOBS" -C src/port libpgport_shlib.a >>"$log" 2>&1 &&
      make -j"$JOBS" -C src/interfaces/libpq libpq.a >>"$log" 2>&1) ||
      { tail -n 20 "$log" >&2; fail "static libpq build failed; see $log"; }
    rm -rf "$out" && mkdir -p "$out/lib"
    cp "$b/src/interfaces/libpq/libpq.a" "$b/src/common/libpgcommon_shlib.a" "$b/src/port/libpgport_shlib.a" "$out/lib/"
    write_pc "$out/lib/pkgconfig" libpq "${id##*-}" "-lpq" "-lpgcommon_shlib -lpgport_shlib -lssl -lcrypto -lm -lpthread"
    rm -rf "$b"
  fi
  install_static "$out"
}

static_libzip() {
  fetch_srcpkg libzip
  local id out b log
  id="$(basename "$SRCPKG_DIR")" out="$CACHE/static/$id" b="$CACHE/build/$id" log="$CACHE/build-static-$id.log"
  if [ ! -f "$out/lib/libzip.a" ]; then
    STEP="static libzip ($id)"
    ensure_pkgs cmake libbz2-dev liblzma-dev libssl-dev zlib1g-dev
    say "building a static libzip from $id (log: $log)"
    rm -rf "$b" && mkdir -p "$b" && : >"$log"
    (cd "$b" && cmake "$SRCPKG_DIR" -DBUILD_SHARED_LIBS=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
      -DCMAKE_BUILD_TYPE=Release -DENABLE_OPENSSL=ON -DENABLE_GNUTLS=OFF -DENABLE_MBEDTLS=OFF \
      -DENABLE_COMMONCRYPTO=OFF -DENABLE_WINDOWS_CRYPTO=OFF -DENABLE_BZIP2=ON -DENABLE_LZMA=ON \
      -DBUILD_TOOLS=OFF -DBUILD_REGRESS=OFF -DBUILD_EXAMPLES=OFF -DBUILD_DOC=OFF >>"$log" 2>&1 &&
      make -j"$JOBS" zip >>"$log" 2>&1) || { tail -n 20 "$log" >&2; fail "static libzip build failed; see $log"; }
    rm -rf "$out" && mkdir -p "$out/lib"
    cp "$b/lib/libzip.a" "$out/lib/"
    write_pc "$out/lib/pkgconfig" libzip "${id#libzip-}" "-lzip" "-lbz2 -llzma -lssl -lcrypto -lz"
    rm -rf "$b"
  fi
  install_static "$out"
}

static_libxslt() {
  fetch_srcpkg libxslt
  local id out b log
  id="$(basename "$SRCPKG_DIR")" out="$CACHE/static/$id" b="$CACHE/build/$id" log="$CACHE/build-static-$id.log"
  if [ ! -f "$out/lib/libxslt.a" ]; then
    STEP="static libxslt ($id)"
    ensure_pkgs automake libtool libxml2-dev
    say "building static libxslt/libexslt from $id (no libgcrypt; log: $log)"
    rm -rf "$b" && cp -a "$SRCPKG_DIR" "$b" && : >"$log"
    # autoreconf: the tarball's ltmain.sh is not the libtool its m4 expects.
    (cd "$b" && autoreconf -fi >>"$log" 2>&1 &&
      ./configure --disable-shared --enable-static --with-pic --without-python --without-crypto \
        --without-debugger --without-profiler >>"$log" 2>&1 &&
      make -j"$JOBS" -C libxslt >>"$log" 2>&1 && make -j"$JOBS" -C libexslt >>"$log" 2>&1) ||
      { tail -n 20 "$log" >&2; fail "static libxslt build failed; see $log"; }
    rm -rf "$out" && mkdir -p "$out/lib"
    cp "$b/libxslt/.libs/libxslt.a" "$b/libexslt/.libs/libexslt.a" "$out/lib/"
    local v="${id#libxslt-}"
    write_pc "$out/lib/pkgconfig" libxslt "$v" "-lxslt" "-lxml2 -lm"
    write_pc "$out/lib/pkgconfig" libexslt "$v" "-lexslt" "-lxslt -lxml2 -lm"
    rm -rf "$b"
  fi
  install_static "$out"
}

# Debian's phpize (its patches 0034-0036) copies /usr/bin/shtool (the
# shtool package) and libtool's m4 files from $prefix/share/aclocal, which
# our install does not have: take shtool from the install's own build dir
# and the m4 files from /usr/share/aclocal (libtool, pkgconf). Then
# `$PREFIX/bin/phpize && ./configure --with-php-config=$PREFIX/bin/php-config
# && make` builds a ZTS extension .so for this PHP (needs autoconf, libtool).
fix_phpize() {
  local f="$PREFIX/bin/phpize"
  [ -f "$f" ] || return 0
  sed -i -e 's|^aclocaldir=.*|aclocaldir="/usr/share/aclocal"|' \
    -e 's|^FILES_BUILD="php.m4 /usr/bin/shtool |FILES_BUILD="php.m4 shtool |' "$f"
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
fetch_pecl

STEP="read version"
VERSION="$(sed -nE 's/^#define PHP_VERSION "([^"]+)".*/\1/p' "$SRC_DIR/main/php_version.h")"
[ -n "$VERSION" ] || fail "cannot read PHP_VERSION from $SRC_DIR/main/php_version.h"
KEY="$(printf '%s\n' "${FLAGS[@]}" "$INTL_FLAG" "${EXTRA[@]}" "${PECL_IDS[@]}" | sha256sum | cut -c1-12)"
PREFIX="$CACHE/php-$VERSION-zts-$KEY"

if [ -x "$PREFIX/bin/php-config" ] && [ -f "$PREFIX/lib/libphp.a" ] && [ -x "$PREFIX/bin/php" ]; then
  say "cached ZTS PHP $VERSION at $PREFIX"
  fix_phpize
  # An install from before the glue needed OPcache's headers.
  if [ -f "$PREFIX/lib/rustrunner/librr_opcache.a" ] && [ ! -f "$("$PREFIX/bin/php-config" --include-dir)/ext/opcache/ZendAccelerator.h" ]; then
    opcache_headers "$SRC_DIR"
  fi
  if [ $STATIC = 1 ]; then
    [ -f "$PREFIX/lib/rustrunner/librr_opcache.a" ] || retrofit_opcache
    static_onig
    static_libs
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
for pd in "${PECL_DIRS[@]}"; do
  rm -rf "$BUILD/ext/${pd%%=*}" && cp -a "${pd#*=}" "$BUILD/ext/${pd%%=*}"
done
# redis's bundled liblzf: its config.m4 adds $srcdir/liblzf to the include
# path, which in PHP's tree is the top dir, not ext/redis.
if [ -f "$BUILD/ext/redis/config.m4" ]; then
  sed -i 's|PHP_ADD_INCLUDE(\$srcdir/liblzf)|PHP_ADD_INCLUDE($srcdir/ext/redis/liblzf)|' "$BUILD/ext/redis/config.m4"
fi
cd "$BUILD"
# One log per build (the key names it): parallel builds of other flags in
# the same cache do not write into each other's log.
LOG="$CACHE/build-php-$VERSION-$KEY.log"
: >"$LOG"

# New ext/ directories need a configure that knows their config.m4.
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ ${#PECL_DIRS[@]} -gt 0 ]; then
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
fix_phpize
static_opcache "$BUILD"
if [ $STATIC = 1 ]; then static_onig && static_libs; fi
cd / && rm -rf "$BUILD"
say "done in $(( $(date +%s) - start ))s: $PREFIX"
trap - EXIT
echo "$PREFIX"
