#!/usr/bin/env bash
# Composer on rr's embedded PHP: `php composer install` where php is a hard
# link to rr, with an offline path repository, then Composer's `@php`
# scripts (which re-run PHP_BINARY with -d options and -r).
#
#   scripts/composer-php-cli-test.sh [path/to/rr]    (default: target/debug/rr)
#
# Composer comes from Debian's `composer` package and its PHP libraries,
# fetched with `apt-get download` and unpacked with dpkg -x into
# $RUSTRUNNER_CACHE/composer-deb (not installed: no system PHP is pulled in).
# Packagist is not needed (the test's only repository is a local path).
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
RR="${1:-$HERE/target/debug/rr}"
CACHE="${RUSTRUNNER_CACHE:-$HOME/.cache/rustrunner}"
C="$CACHE/composer-deb"
fail() {
  echo "composer-php-cli: FAIL: $*" >&2
  exit 1
}
[ -x "$RR" ] || fail "$RR not found"

if [ ! -f "$C/root/usr/bin/composer" ]; then
  command -v apt-get >/dev/null || fail "apt-get not found"
  rm -rf "$C" && mkdir -p "$C/debs" "$C/root"
  pkgs="$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances composer | grep -E '^(composer|php-|jsonlint)' |
    grep -vE '^php-(cli|common)$|^php8' | sort -u)"
  (cd "$C/debs" && apt-get download $pkgs >/dev/null 2>&1) || fail "apt-get download composer failed"
  for d in "$C"/debs/*.deb; do dpkg -x "$d" "$C/root"; done
fi

W="$(mktemp -d /tmp/rr-composer.XXXXXX)"
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/bin" "$W/proj/pkg/src" "$W/home"
ln -f "$RR" "$W/bin/php" 2>/dev/null || cp "$RR" "$W/bin/php"
cat >"$W/proj/pkg/composer.json" <<'JSON'
{"name": "acme/hello", "version": "1.0.0", "autoload": {"psr-4": {"Acme\\": "src/"}}}
JSON
cat >"$W/proj/pkg/src/Hello.php" <<'PHP'
<?php
namespace Acme;
final class Hello { public static function say(): string { return "hello from acme"; } }
PHP
cat >"$W/proj/composer.json" <<'JSON'
{
  "name": "test/app",
  "repositories": [{"packagist.org": false}, {"type": "path", "url": "./pkg", "options": {"symlink": false}}],
  "require": {"acme/hello": "1.0.0"},
  "scripts": {
    "inline": "@php -r \"echo 'inline ', PHP_SAPI, ' ', ini_get('memory_limit'), PHP_EOL;\"",
    "hello": "@php -d memory_limit=64M hello.php"
  }
}
JSON
cat >"$W/proj/hello.php" <<'PHP'
<?php
require __DIR__ . '/vendor/autoload.php';
echo Acme\Hello::say(), " memory_limit=", ini_get('memory_limit'), " binary=", PHP_BINARY, "\n";
PHP
export COMPOSER_HOME="$W/home" COMPOSER_ALLOW_SUPERUSER=1 COMPOSER_NO_INTERACTION=1 COMPOSER_DISABLE_NETWORK=1
composer() { (cd "$W/proj" && "$W/bin/php" -d "include_path=.:$C/root/usr/share/php" "$C/root/usr/bin/composer" "$@"); }

v="$(composer --version 2>&1)" || fail "composer --version: $v"
out="$(composer install 2>&1)" || fail "composer install: $out"
grep -q "Installing acme/hello (1.0.0)" <<<"$out" || fail "composer install did not install acme/hello: $out"
[ -f "$W/proj/vendor/autoload.php" ] || fail "no vendor/autoload.php"
out="$(composer run-script hello 2>&1)" || fail "composer run-script hello: $out"
grep -qx "hello from acme memory_limit=64M binary=$W/bin/php" <<<"$out" ||
  fail "@php with -d did not run the embedded PHP: $out"
out="$(composer run-script inline 2>&1)" || fail "composer run-script inline: $out"
grep -q "^inline cli " <<<"$out" || fail "@php -r: $out"

# The server's own worker API as a Composer package (php-sapi/php, by path):
# outside rr a worker script says how to run it; under `rr serve` it serves.
mkdir -p "$W/app"
cat >"$W/app/composer.json" <<JSON
{
  "name": "test/worker-app",
  "repositories": [{"packagist.org": false}, {"type": "path", "url": "$HERE/php-sapi/php", "options": {"symlink": false}}],
  "require": {"rustrunner/worker": "*"},
  "minimum-stability": "dev"
}
JSON
cat >"$W/app/worker.php" <<'PHP'
<?php
require __DIR__ . '/vendor/autoload.php';
$worker = Spiral\RoadRunner\Worker::create();
while ($payload = $worker->waitPayload()) {
    $worker->respond(new Spiral\RoadRunner\Payload('from the composer package', '{"status":200,"headers":{}}'));
}
PHP
out="$(cd "$W/app" && "$W/bin/php" -d "include_path=.:$C/root/usr/share/php" "$C/root/usr/bin/composer" install 2>&1)" ||
  fail "composer install of rustrunner/worker: $out"
grep -q "Installing rustrunner/worker" <<<"$out" || fail "rustrunner/worker not installed: $out"
out="$(cd "$W/app" && "$W/bin/php" worker.php 2>&1)" && fail "worker.php outside rr must fail: $out"
grep -q "start it with \`rr serve\`" <<<"$out" || fail "no clear message outside rr: $out"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
printf 'version: "3"\nserver:\n  command: "php worker.php"\nhttp:\n  address: 127.0.0.1:%s\n  pool:\n    num_workers: 1\n' "$port" >"$W/app/.rr.yaml"
(cd "$W/app" && exec "$RR" serve >"$W/app/rr.log" 2>&1) &
rr_pid=$!
body=""
for _ in $(seq 1 100); do
  body="$(curl -s "http://127.0.0.1:$port/" 2>/dev/null || true)"
  [ -n "$body" ] && break
  sleep 0.1
done
kill -TERM "$rr_pid" 2>/dev/null || true
wait "$rr_pid" 2>/dev/null || true
[ "$body" = "from the composer package" ] || fail "rr serve with the package: '$body' $(cat "$W/app/rr.log")"

echo "composer-php-cli: $(head -n1 <<<"$v"); install, @php -d, @php -r OK; rustrunner/worker package OK" >&2
echo PASS
