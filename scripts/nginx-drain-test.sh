#!/usr/bin/env bash
# Scaling out, proved on loopback: three `rr serve` instances behind nginx
# (deploy/nginx/rustrunner.conf, ports rewritten), a bounded load through
# nginx, one instance drained with SIGTERM mid-load and restarted. Expects
# zero failed requests, the drained instance to exit 0, and the restarted
# one to serve again.
#
#   scripts/nginx-drain-test.sh [path/to/rr]     (default: target/debug/rr)
#
# Needs nginx (Debian's `nginx` package; only the binary is used, with its
# own config, logs and pid file in a temporary directory) and curl. Load:
# 4 sequential curl clients for about 8 s, 127.0.0.1 only. Environment:
# LOAD_SECONDS (default 8), CLIENTS (default 4), KEEP_DIR=1.
set -euo pipefail

HERE="$(cd "$(dirname "$0")/.." && pwd)"
RR="${1:-$HERE/target/debug/rr}"
LOAD_SECONDS="${LOAD_SECONDS:-8}"
CLIENTS="${CLIENTS:-4}"
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

say() { echo "nginx-drain: $*" >&2; }
fail() {
  echo "nginx-drain: FAIL: $*" >&2
  exit 1
}
[ -x "$NGINX" ] || fail "nginx not found (apt-get install nginx)"
command -v curl >/dev/null || fail "curl not found"
[ -x "$RR" ] || fail "$RR not found (cargo build)"
[ -f /usr/share/php/Nyholm/Psr7/autoload.php ] || fail "php-nyholm-psr7 missing (make deps)"

DIR="$(mktemp -d /tmp/rr-nginx.XXXXXX)"
PIDS=()
NGINX_PID=""
cleanup() {
  touch "$DIR/stop" 2>/dev/null || true
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    alive=0
    for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  [ -n "$NGINX_PID" ] && kill -QUIT "$NGINX_PID" 2>/dev/null && sleep 0.3
  [ -n "$NGINX_PID" ] && kill -KILL "$NGINX_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ "${KEEP_DIR:-0}" = 1 ]; then say "kept $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The app: episode 0's worker, saying which instance answered, 20 ms per
# request so that a drain always finds requests in flight.
mkdir -p "$DIR/app/vendor"
cp "$HERE/episodes/offline-autoload.php" "$DIR/app/vendor/autoload.php"
cat >"$DIR/app/worker.php" <<'PHP'
<?php
use Nyholm\Psr7\Factory\Psr17Factory;
use Nyholm\Psr7\Response;
use Spiral\RoadRunner\Http\PSR7Worker;
use Spiral\RoadRunner\Worker;
require __DIR__ . '/vendor/autoload.php';
$f = new Psr17Factory();
$psr7 = new PSR7Worker(Worker::create(), $f, $f, $f);
$instance = getenv('INSTANCE');
while ($req = $psr7->waitRequest()) {
    usleep(20000);
    $psr7->respond(new Response(200, [], "Hello from RoadRunner! instance=$instance"));
}
PHP
cat >"$DIR/app/.rr.yaml" <<'YAML'
version: "3"
server:
  command: "php worker.php"
http:
  address: 127.0.0.1:8080
  pool:
    num_workers: 2
    destroy_timeout: 10s
logs:
  level: warn
YAML

declare -A PORT PID
start_instance() {
  local name="$1"
  INSTANCE="$name" "$RR" serve -w "$DIR/app" -o "http.address=127.0.0.1:${PORT[$name]}" \
    >>"$DIR/rr-$name.log" 2>&1 &
  PID[$name]=$!
  PIDS+=($!)
  for _ in $(seq 1 100); do
    curl -fsS --max-time 1 "http://127.0.0.1:${PORT[$name]}/" >/dev/null 2>&1 && return 0
    kill -0 "${PID[$name]}" 2>/dev/null || { cat "$DIR/rr-$name.log" >&2; fail "instance $name exited"; }
    sleep 0.1
  done
  fail "instance $name did not answer within 10 s"
}
for n in a b c; do
  PORT[$n]="$(free_port)"
  start_instance "$n"
done
say "instances a=${PORT[a]} b=${PORT[b]} c=${PORT[c]}"

# nginx with the example upstream config, ports rewritten.
NPORT="$(free_port)"
mkdir -p "$DIR/tmp"
sed -e "s/127.0.0.1:8081/127.0.0.1:${PORT[a]}/" -e "s/127.0.0.1:8082/127.0.0.1:${PORT[b]}/" \
  -e "s/127.0.0.1:8083/127.0.0.1:${PORT[c]}/" -e "s/listen 80;/listen 127.0.0.1:$NPORT;/" \
  "$HERE/deploy/nginx/rustrunner.conf" >"$DIR/rustrunner.conf"
grep -q "127.0.0.1:$NPORT" "$DIR/rustrunner.conf" || fail "could not rewrite the listen port"
cat >"$DIR/nginx.conf" <<EOF
worker_processes 1;
pid $DIR/nginx.pid;
error_log $DIR/error.log warn;
events { worker_connections 512; }
http {
    access_log $DIR/access.log;
    client_body_temp_path $DIR/tmp/body;
    proxy_temp_path $DIR/tmp/proxy;
    fastcgi_temp_path $DIR/tmp/fastcgi;
    uwsgi_temp_path $DIR/tmp/uwsgi;
    scgi_temp_path $DIR/tmp/scgi;
    include $DIR/rustrunner.conf;
}
EOF
"$NGINX" -p "$DIR" -c "$DIR/nginx.conf" -g 'daemon off;' >"$DIR/nginx.out" 2>&1 &
NGINX_PID=$!
for _ in $(seq 1 50); do
  curl -fsS --max-time 1 "http://127.0.0.1:$NPORT/" >/dev/null 2>&1 && break
  kill -0 "$NGINX_PID" 2>/dev/null || { cat "$DIR/nginx.out" "$DIR/error.log" >&2 2>/dev/null; fail "nginx exited"; }
  sleep 0.1
done
say "nginx on 127.0.0.1:$NPORT"

# The load: sequential clients, one line per request: "<status> <body>".
client() {
  local i="$1"
  while [ ! -f "$DIR/stop" ]; do
    out="$(curl -sS --max-time 10 -w ' %{http_code}' "http://127.0.0.1:$NPORT/" 2>&1)" || out="$out curl-error"
    echo "$out" >>"$DIR/client-$i.log"
  done
}
CLIENT_PIDS=()
for i in $(seq 1 "$CLIENTS"); do
  : >"$DIR/client-$i.log"
  client "$i" &
  PIDS+=($!)
  CLIENT_PIDS+=($!)
done

t0=$(date +%s.%N)
sleep 2
say "SIGTERM to instance b (pid ${PID[b]}) under load"
kill -TERM "${PID[b]}"
rc=0
timeout 20 tail --pid="${PID[b]}" -f /dev/null || fail "instance b did not exit within 20 s of SIGTERM"
wait "${PID[b]}" || rc=$?
[ "$rc" = 0 ] || { cat "$DIR/rr-b.log" >&2; fail "instance b exited with $rc after SIGTERM"; }
say "instance b drained and exited 0; restarting it"
sleep 1
start_instance b
declare -A MARK
for i in $(seq 1 "$CLIENTS"); do MARK[$i]="$(wc -l <"$DIR/client-$i.log")"; done
rest=$(awk -v a="$t0" -v b="$(date +%s.%N)" -v l="$LOAD_SECONDS" 'BEGIN { r = l - (b - a); print (r < 2 ? 2 : r) }')
sleep "$rest"
touch "$DIR/stop"
wait "${CLIENT_PIDS[@]}" 2>/dev/null || true

all="$(cat "$DIR"/client-*.log)"
total="$(wc -l <<<"$all")"
ok="$(grep -c ' 200$' <<<"$all" || true)"
failed=$((total - ok))
per() { grep -c "instance=$1 200\$" <<<"$all" || true; }
b_after=0
for i in $(seq 1 "$CLIENTS"); do
  n="$(tail -n +"$((MARK[$i] + 1))" "$DIR/client-$i.log" | grep -c 'instance=b 200$' || true)"
  b_after=$((b_after + n))
done
say "requests: $total, ok: $ok, failed: $failed; a=$(per a) b=$(per b) c=$(per c); b after its restart: $b_after"
echo "result: total=$total ok=$ok failed=$failed a=$(per a) b=$(per b) c=$(per c) b_after_restart=$b_after"
if [ "$failed" != 0 ]; then
  grep -v ' 200$' <<<"$all" | sort | uniq -c | head -n 10 >&2
  tail -n 20 "$DIR/error.log" >&2 || true
  fail "$failed failed requests"
fi
[ "$total" -ge 100 ] || fail "only $total requests in ${LOAD_SECONDS}s: the load did not run"
for n in a b c; do [ "$(per $n)" -gt 0 ] || fail "instance $n served nothing"; done
[ "$b_after" -gt 0 ] || fail "the restarted instance b served nothing"
retries="$(grep -c 'upstream' "$DIR/error.log" 2>/dev/null || true)"
say "nginx error.log lines mentioning an upstream (retried on the next instance): $retries"
echo PASS
