#!/usr/bin/env bash
# Rerun: /tmp/compat/run.sh [path/to/rr]   (default /work/main/target/debug/rr)
# Runs the probes against app/ (roadrunner-worker/http v3.4.0 tags) and app36/ (3.5+/3.6 overlay).
set -u
RR=${1:-/work/main/target/debug/rr}
cd /tmp/compat
[ -f app/vendor/autoload.php ] || ./setup.sh
rc=0
for pair in "app 18090" "app36 18100"; do
  set -- $pair; APP=$1; B=$2; PIDS=()
  start(){ # logname port script [extra -o]
    (cd $APP && exec "$RR" serve -o "server.command=php $3" -o http.address=127.0.0.1:$2 "${@:4}" > $1.log 2>&1) & PIDS+=($!)
  }
  start hello  $B         worker.php
  start probe  $((B+2))   probe.php
  start stream $((B+3))   stream.php
  start raw    $((B+4))   raw.php
  start probe1 $((B+5))   probe.php -o http.pool.num_workers=1
  for p in 0 2 3 4 5; do for i in $(seq 50); do curl -s -o /dev/null 127.0.0.1:$((B+p)) 2>/dev/null && break; sleep 0.1; done; done
  echo "===== $APP (rr: $RR)"
  python3 check.py $APP $B || rc=1
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null
done
exit $rc
