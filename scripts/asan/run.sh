#!/bin/sh
# The test suite (unit + integration: the real rr and real PHP) with the C
# glue built under AddressSanitizer/LeakSanitizer: build.rs compiles
# php-sapi/ with -fsanitize=address and links GCC's libasan into the binaries
# when RUSTRUNNER_ASAN=1. PHP's allocator is switched to malloc
# (USE_ZEND_ALLOC=0) so ASan sees the memory the glue hands PHP.
# Reports go to target-asan/asan-logs/; a summary is printed at the end.
#   scripts/asan/run.sh [test-name filter]
set -eu
cd "$(dirname "$0")/../.."
T="$PWD/target-asan"
LIBASAN=$(readlink -f "$(gcc -print-file-name=libasan.so)")
mkdir -p "$T/asan-logs"
rm -f "$T"/asan-logs/*
# PHP dlopen()s opcache.so with RTLD_DEEPBIND, which libasan refuses.
gcc -shared -fPIC -O1 -o "$T/nodeepbind.so" scripts/asan/nodeepbind.c -ldl
export RUSTRUNNER_ASAN=1 CARGO_TARGET_DIR="$T"
cargo test --all-targets --no-run 2>&1 | tee "$T/no-run.log"
PRELOAD="$T/nodeepbind.so $LIBASAN"
OPTS="verify_asan_link_order=0:detect_leaks=1:exitcode=0:fast_unwind_on_malloc=0:log_path=$T/asan-logs/rr"
rc=0
# The binaries' unit tests (they link the glue) under the runtime (rustc
# links it last, so it is preloaded)...
LD_PRELOAD="$PRELOAD" ASAN_OPTIONS="$OPTS" USE_ZEND_ALLOC=0 \
    cargo test --bins "$@" || rc=$?
# ...then the integration tests, run directly (cargo would re-create
# target/debug/rr), with rr replaced by a wrapper that preloads the runtime
# for rr only: tools the tests start (curl) hang with libasan preloaded.
BIN="$T/debug"
cp "$BIN/rr" "$BIN/rr.asan.tmp" && mv -f "$BIN/rr.asan.tmp" "$BIN/rr.asan"
rm -f "$BIN/rr"
cat > "$BIN/rr" <<WRAP
#!/bin/sh
# rr.asan under AddressSanitizer (scripts/asan/run.sh)
export LD_PRELOAD="$PRELOAD" ASAN_OPTIONS="$OPTS" USE_ZEND_ALLOC=0
exec "$BIN/rr.asan" "\$@"
WRAP
chmod +x "$BIN/rr"
for t in $(sed -n 's/^ *Executable tests\/.*(\(.*\))$/\1/p' "$T/no-run.log"); do
    echo "== $t"
    (cd "$PWD" && "$t" "$@") || rc=$?
done
echo "== test exit code: $rc"
echo "== ASan/LSan reports: $(ls "$T"/asan-logs | wc -l) files"
echo "== memory errors (not leaks):"
grep -l "ERROR: AddressSanitizer" "$T"/asan-logs/* 2>/dev/null || echo "   none"
echo "== leak reports with a frame in the glue (php-sapi/rustrunner.c):"
grep -l "rustrunner.c" "$T"/asan-logs/* 2>/dev/null || echo "   none"
exit $rc
