#!/usr/bin/env bash
# Proves that the static-ish `rr` (make dist) runs on a bare Debian 12 with no
# PHP and no -dev package: build a minimal Debian root with
# `debootstrap --variant=minbase bookworm`, copy rr and episode 0 into it, run
# `rr serve` in a chroot as an unprivileged user, and expect
# "Hello from RoadRunner!" on 127.0.0.1. Also checks, inside the chroot, that
# OPcache is on in a worker and that `rr php-cli` / the `php` hard link work.
#
#   scripts/dist-chroot-test.sh [path/to/rr]      (default: dist/rr)
#
# Needs root (debootstrap, chroot). Environment:
#   RUSTRUNNER_CACHE  the minbase root is cached there as a tarball
#                     (default ~/.cache/rustrunner); delete it to re-bootstrap
#   DEBIAN_MIRROR     default http://deb.debian.org/debian
#   KEEP_ROOT=1       keep the chroot directory (its path is printed)
# Prints one "timing:" line per phase and "PASS" at the end; exits non-zero
# with the reason on failure.
set -euo pipefail

HERE="$(cd "$(dirname "$0")/.." && pwd)"
RR="${1:-$HERE/dist/rr}"
CACHE="${RUSTRUNNER_CACHE:-$HOME/.cache/rustrunner}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
TARBALL="$CACHE/debian-bookworm-minbase.tar.gz"

say() { echo "dist-chroot: $*" >&2; }
fail() {
  echo "dist-chroot: FAIL: $*" >&2
  exit 1
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

[ "$(id -u)" = 0 ] || fail "needs root (debootstrap and chroot)"
command -v debootstrap >/dev/null || fail "debootstrap is not installed (apt-get install debootstrap)"
[ -x "$RR" ] || fail "$RR not found; run 'make dist' first"
RR="$(cd "$(dirname "$RR")" && pwd)/$(basename "$RR")"

# 1. What the binary needs from the system: glibc's own libraries, and
# libgcc_s (which Debian's libc6 itself depends on).
allowed='^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|libgcc_s\.so\.1|/lib64/ld-linux-x86-64\.so\.2|ld-linux-x86-64\.so\.2|ld-linux-aarch64\.so\.1|/lib/ld-linux-aarch64\.so\.1)$'
deps="$(ldd "$RR" | awk '{print $1}')"
say "ldd $RR: $(echo $deps)"
for d in $deps; do
  [[ "$d" =~ $allowed ]] || fail "rr depends on $d, which is not part of glibc"
done
say "size: $(stat -c %s "$RR") bytes"

WORK="$(mktemp -d /tmp/rr-chroot.XXXXXX)"
ROOT="$WORK/root"
RR_PID=""
cleanup() {
  [ -n "$RR_PID" ] && kill -KILL "$RR_PID" 2>/dev/null || true
  umount "$ROOT/proc" 2>/dev/null || true
  if [ "${KEEP_ROOT:-0}" = 1 ]; then
    say "kept $ROOT"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

# 2. The bare Debian root (cached: debootstrap downloads ~30 MB of packages).
t=$(now)
mkdir -p "$ROOT"
if [ -f "$TARBALL" ]; then
  tar -xzf "$TARBALL" -C "$ROOT"
  echo "timing: extract cached minbase root: $(since "$t") s"
else
  say "debootstrap --variant=minbase bookworm (first run; cached afterwards in $TARBALL)"
  debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
    { tail -n 20 "$WORK/debootstrap.log" >&2; fail "debootstrap failed"; }
  echo "timing: debootstrap --variant=minbase bookworm: $(since "$t") s"
  # As slim images do: no package lists, no downloaded .debs.
  rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/archives/*.deb
  mkdir -p "$CACHE"
  tar -czf "$TARBALL.tmp" -C "$ROOT" . && mv "$TARBALL.tmp" "$TARBALL"
fi

# 3. The root really is bare: no PHP, none of the libraries libphp uses.
chroot "$ROOT" /bin/sh -c 'command -v php' >/dev/null 2>&1 && fail "the minbase root has a php"
pkgs="$(chroot "$ROOT" dpkg-query -W -f='${Package}\n')"
for p in libxml2 libonig5 libicu72 libsqlite3-0 libssl3 libstdc++6 php8.2-cli; do
  if grep -qx "$p" <<<"$pkgs"; then
    say "note: the minbase root has $p installed"
  fi
done
if grep -q -- '-dev$' <<<"$pkgs"; then
  fail "the minbase root has -dev packages: $(grep -- '-dev$' <<<"$pkgs" | tr '\n' ' ')"
fi
say "minbase root: $(wc -l <<<"$pkgs") packages, no php, no -dev"

# 4. rr, the php hard link, episode 0 and its offline vendor (Debian's
# nyholm/psr7 and PSR interfaces are plain PHP files: copied, not installed).
install -m 0755 "$RR" "$ROOT/usr/local/bin/rr"
ln -f "$ROOT/usr/local/bin/rr" "$ROOT/usr/local/bin/php"
mkdir -p "$ROOT/app/vendor" "$ROOT/usr/share/php"
cp -a "$HERE/episodes/0-first-contact/app/." "$ROOT/app/"
rm -rf "$ROOT/app/vendor" && mkdir -p "$ROOT/app/vendor"
cp "$HERE/episodes/offline-autoload.php" "$ROOT/app/vendor/autoload.php"
for d in Nyholm Psr Http; do
  [ -d "/usr/share/php/$d" ] || fail "/usr/share/php/$d missing on the host (make deps installs php-nyholm-psr7)"
  cp -a "/usr/share/php/$d" "$ROOT/usr/share/php/"
done
# A probe app: the same vendor, a worker that reports what PHP sees.
mkdir -p "$ROOT/probe"
cp -a "$ROOT/app/vendor" "$ROOT/probe/"
cat >"$ROOT/probe/worker.php" <<'PHP'
<?php
use Nyholm\Psr7\Factory\Psr17Factory;
use Nyholm\Psr7\Response;
use Spiral\RoadRunner\Http\PSR7Worker;
use Spiral\RoadRunner\Worker;
require __DIR__ . '/vendor/autoload.php';
$f = new Psr17Factory();
$psr7 = new PSR7Worker(Worker::create(), $f, $f, $f);
while ($req = $psr7->waitRequest()) {
    $st = opcache_get_status(false);
    $psr7->respond(new Response(200, ['Content-Type' => 'application/json'], json_encode([
        'opcache' => $st['opcache_enabled'] ?? false,
        'jit_available' => isset($st['jit']),
        'sapi' => PHP_SAPI,
        'version' => PHP_VERSION,
        'uid' => posix_getuid(),
        'extensions' => get_loaded_extensions(),
    ])));
}
PHP
cat >"$ROOT/probe/.rr.yaml" <<'YAML'
version: "3"
server:
  command: "php worker.php"
http:
  address: 127.0.0.1:8080
  pool:
    num_workers: 2
logs:
  level: info
YAML
mount -t proc proc "$ROOT/proc" 2>/dev/null || say "note: cannot mount /proc in the chroot; going on without it"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)); }

# Run `rr serve` for an app in the chroot as nobody; GET / into $BODY.
serve_and_get() {
  local app="$1" port
  port="$(free_port)"
  local t0
  t0=$(now)
  chroot --userspec=65534:65534 "$ROOT" /usr/local/bin/rr serve -w "$app" \
    -o "http.address=127.0.0.1:$port" >"$WORK/serve-$(basename "$app").log" 2>&1 &
  RR_PID=$!
  BODY=""
  for _ in $(seq 1 100); do
    if BODY="$(curl -fsS --max-time 2 "http://127.0.0.1:$port/" 2>/dev/null)"; then
      break
    fi
    kill -0 "$RR_PID" 2>/dev/null || { cat "$WORK/serve-$(basename "$app").log" >&2; fail "rr serve $app exited"; }
    sleep 0.1
  done
  echo "timing: rr serve $app in the chroot, first response: $(since "$t0") s"
  kill -TERM "$RR_PID"
  local rc=0
  wait "$RR_PID" || rc=$?
  RR_PID=""
  [ -n "$BODY" ] || { cat "$WORK/serve-$(basename "$app").log" >&2; fail "no response from rr serve $app"; }
  [ "$rc" = 0 ] || { cat "$WORK/serve-$(basename "$app").log" >&2; fail "rr serve $app exited with $rc after SIGTERM"; }
}

# 5. Episode 0, unmodified.
serve_and_get /app
[ "$BODY" = "Hello from RoadRunner!" ] || fail "episode 0 answered '$BODY'"
say "episode 0 in the chroot: $BODY"

# 6. OPcache on in a worker thread, as nobody.
serve_and_get /probe
say "probe: $(cut -c1-160 <<<"$BODY")..."
grep -q '"opcache":true' <<<"$BODY" || fail "OPcache is not on in the chroot's worker: $BODY"
grep -q '"sapi":"cli"' <<<"$BODY" || fail "PHP_SAPI is not cli: $BODY"
grep -q '"uid":65534' <<<"$BODY" || fail "the worker does not run as nobody: $BODY"
for e in intl mbstring openssl pdo_sqlite dom sockets; do
  grep -q "\"$e\"" <<<"$BODY" || fail "extension $e missing in the chroot"
done

# 7. rr php-cli and the php hard link, in the chroot.
t=$(now)
v="$(chroot "$ROOT" /usr/local/bin/rr php-cli -v)"
grep -q '^PHP .* (cli) .*ZTS' <<<"$v" || fail "rr php-cli -v printed: $v"
grep -q 'with Zend OPcache' <<<"$v" || fail "rr php-cli -v shows no OPcache: $v"
out="$(chroot "$ROOT" /usr/local/bin/php -r 'echo PHP_BINARY, " ", mb_strtoupper("ok"), " ", (new NumberFormatter("de_DE", NumberFormatter::DECIMAL))->format(1234.5), "\n"; exit(7);' || echo "exit=$?")"
[ "$out" = "$(printf '/usr/local/bin/php OK 1.234,5\nexit=7')" ] || fail "php -r in the chroot printed: $out"
m="$(chroot "$ROOT" /usr/local/bin/php -m)"
grep -qx 'Zend OPcache' <<<"$m" || fail "php -m lists no Zend OPcache"
# Issue 14's extensions, linked in, working with no -dev package in the root.
for e in mysqlnd pdo_mysql mysqli pdo_pgsql pgsql curl gd zip sodium gmp bz2 exif calendar gettext \
  xsl soap sysvsem sysvshm sysvmsg shmop readline apcu igbinary redis; do
  grep -qx "$e" <<<"$m" || fail "php -m in the chroot lists no $e"
done
out="$(chroot "$ROOT" /usr/local/bin/php -r '$im=imagecreatetruecolor(2,2); ob_start(); imagepng($im); $p=ob_get_clean(); $f=tempnam("/tmp","z"); $z=new ZipArchive; $z->open($f, ZipArchive::OVERWRITE); $z->addFromString("a","b"); $z->close(); $z->open($f); unlink($f); echo substr($p,1,3), " ", $z->getFromName("a"), " ", strlen(sodium_crypto_box_keypair()), " ", gmp_strval(gmp_pow(2,10)), " ", apcu_store("k",1) ? "apcu" : "no-apcu", " ", implode(",", PDO::getAvailableDrivers()), " ", igbinary_unserialize(igbinary_serialize("ig")), " ", class_exists("Redis") ? "redis" : "", "\n";' 2>&1)"
[ "$out" = "PNG b 64 1024 apcu mysql,pgsql,sqlite ig redis" ] || fail "extensions in the chroot: $out"
echo "timing: php-cli checks in the chroot: $(since "$t") s"
say "php-cli in the chroot: $(head -n1 <<<"$v")"
echo PASS
