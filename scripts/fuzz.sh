#!/bin/bash
# Run every cargo-fuzz target in turn for T seconds each (default 600),
# keeping the corpus in fuzz/corpus/<target>. Needs nightly and cargo-fuzz.
#   T=600 scripts/fuzz.sh [target...]
set -u
cd "$(dirname "$0")/../fuzz"
T=${T:-600}
targets=${*:-frame_decode frame_encode rpc_decode request_context config_load}
for t in $targets; do
    mkdir -p corpus/$t
    echo "=== $t start $(date +%T) for ${T}s"
    cargo +nightly fuzz run -O $t corpus/$t seeds/$t -- \
        -max_total_time=$T -max_len=16384 -rss_limit_mb=2048 -print_final_stats=1 -timeout=10 \
        < /dev/null > /tmp/fuzz-$t.log 2>&1
    echo "=== $t rc=$? end $(date +%T)"
    grep -E "Done [0-9]+ runs|stat::peak_rss|SUMMARY|panicked|deadly signal" /tmp/fuzz-$t.log | head
done
