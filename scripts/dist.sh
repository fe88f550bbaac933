#!/usr/bin/env bash
# The static-ish rr (what `make dist` and the Dockerfile run): libphp,
# OPcache and the C libraries linked in, only glibc's libraries (and
# libgcc_s, which glibc's libc6 depends on) left dynamic.
#
#   scripts/dist.sh [outdir]        (default: dist)
#
# Expects the ZTS PHP made by `scripts/build-php.sh --static` (PHP_CONFIG or
# the newest one in the cache, as build.rs finds it). Produces
#   outdir/rr        stripped of debug info (a .gnu_debuglink names rr.debug)
#   outdir/rr.debug  the debug info
#   outdir/php       a hard link to rr: runs as `rr php-cli`, and is PHP_BINARY
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${1:-$HERE/dist}"
CARGO="${CARGO:-cargo}"
cd "$HERE"
RR_STATIC=1 "$CARGO" build --release --locked
mkdir -p "$OUT" "$OUT/extensions"
rm -f "$OUT/rr" "$OUT/php" "$OUT/rr.debug"
cp "${CARGO_TARGET_DIR:-target}/release/rr" "$OUT/rr"
objcopy --only-keep-debug "$OUT/rr" "$OUT/rr.debug"
strip --strip-debug "$OUT/rr"
(cd "$OUT" && objcopy --add-gnu-debuglink=rr.debug rr)
ln "$OUT/rr" "$OUT/php"
echo "$OUT/rr: $(du -h "$OUT/rr" | cut -f1) ($(stat -c %s "$OUT/rr") bytes); dynamic dependencies:"
ldd "$OUT/rr"
grep -v '^static' vendor-headers/link.txt || true
