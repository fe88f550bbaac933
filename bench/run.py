#!/usr/bin/env python3
"""rustrunner benchmarks: every target side by side in one run, on loopback.

    make bench            # or: python3 bench/run.py

Targets (same machine, same PHP build where PHP runs, same worker count):
  bare-hyper   hyper answering the same bytes with no PHP (the ceiling)
  rr-native    rustrunner, worker threads, the server's native worker API
  rr-relay     rustrunner, worker threads, goridge frames over the memory
               relay (what spiral/roadrunner-worker does)
  rr-process   rustrunner, php-cli processes over pipes (RoadRunner's model)
  nginx-fpm    nginx + Debian's php8.2-fpm (pm = static, OPcache on) running
               the same routes as a classic front controller
  nginx-fpm-persistent
               the same with PDO::ATTR_PERSISTENT (db scenario only)

Scenarios: hello (episode 0's response), json (a 16 KB JSON body), post100k
(a 100 KB POST echoed back), maxjobs1 (hello with a fresh worker per request:
max_jobs 1, pm.max_requests 1 for php-fpm), symfony (episode 1's /test route,
APP_ENV=prod, on rr-native and nginx-fpm only), db (one indexed SELECT per
request: a random primary key of a seeded 100k-row table, plain PDO, on a
temporary local PostgreSQL started by scripts/local-postgres.sh and stopped
after the run; the rr workers keep one connection each, php-fpm connects per
request, or keeps one per child with nginx-fpm-persistent; needs postgresql
and php8.2-pgsql).

Environment: BENCH_WORKERS (8), BENCH_SECONDS (5), BENCH_REPEATS (3),
BENCH_CONNECTIONS (32), BENCH_TARGETS / BENCH_SCENARIOS (comma lists),
BENCH_RESULTS (the file written, bench/RESULTS.md by default: a run of some
scenarios only can go elsewhere and be merged by hand).
Writes the results file and prints the same table. Needs wrk, nginx and
php8.2-fpm from Debian (`make bench-deps`).
"""

import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import socket
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
WORKERS = int(os.environ.get("BENCH_WORKERS", "8"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
CONNS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
TARGETS = os.environ.get(
    "BENCH_TARGETS", "bare-hyper,rr-native,rr-relay,rr-process,nginx-fpm,nginx-fpm-persistent"
).split(",")
SCENARIOS = os.environ.get("BENCH_SCENARIOS", "hello,json,post100k,maxjobs1,symfony,db").split(",")
# Episode 1's Symfony app (offline: Debian's Symfony 5.4) on the server's own
# Symfony runner vs the same app behind nginx + php-fpm's classic front
# controller (public/index.php).
SYMFONY_TARGETS = ("rr-native", "nginx-fpm")
DB_TARGETS = ("rr-native", "rr-relay", "rr-process", "nginx-fpm", "nginx-fpm-persistent")
DB_ROWS = 100000
BASE_PORT = 18400
RESULTS = Path(os.environ.get("BENCH_RESULTS", ROOT / "bench" / "RESULTS.md"))


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), check=True, text=True, capture_output=True, **kw)


def wait_port(port, proc=None, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"target exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def tree_pids(root_pids):
    """The given pids and all their descendants."""
    children = {}
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            stat = (p / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(p.name))
        except (OSError, ValueError, IndexError):
            pass
    out, todo = set(), list(root_pids)
    while todo:
        pid = todo.pop()
        if pid in out:
            continue
        out.add(pid)
        todo.extend(children.get(pid, []))
    return out


def rss_mb(root_pids):
    total = 0
    for pid in tree_pids(root_pids):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


class BenchPostgres:
    """A temporary PostgreSQL from scripts/local-postgres.sh (the way the
    tests and `make serve-db` start one), seeded with the db scenario's
    table; stopped (and its directory removed) by stop()."""

    def __init__(self):
        self.log = open(OUT / "postgres.log", "w+")
        self.proc = subprocess.Popen(
            [str(ROOT / "scripts" / "local-postgres.sh"), "-d", "bench"],
            stdout=self.log,
            stderr=self.log,
            start_new_session=True,
        )
        deadline = time.time() + 90
        self.port = None
        while self.port is None:
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("local-postgres.sh: " + (OUT / "postgres.log").read_text())
            m = re.search(r"DATABASE_URL=pgsql://postgres@127\.0\.0\.1:(\d+)/", (OUT / "postgres.log").read_text())
            if m:
                self.port = int(m.group(1))
            else:
                time.sleep(0.1)
        self.dsn = f"pgsql:host=127.0.0.1;port={self.port};dbname=bench"
        self.psql(
            "CREATE TABLE items (id int PRIMARY KEY, sku text NOT NULL, name text NOT NULL, price int NOT NULL);"
            f"INSERT INTO items SELECT i, 'SKU-' || lpad(i::text, 8, '0'), 'item ' || i, (i * 37) % 10000 "
            f"FROM generate_series(1, {DB_ROWS}) i;"
            "ANALYZE items;"
        )
        self.version = self.psql("SHOW server_version")

    def psql(self, sql):
        return sh(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port),
             "-U", "postgres", "-d", "bench", "-c", sql]
        ).stdout.strip()

    def connections(self):
        return int(self.psql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")) - 1

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def prepare_app():
    app = OUT / "app"
    if app.exists():
        shutil.rmtree(app)
    (app / "vendor").mkdir(parents=True)
    for f in ["worker.php", "index.php", "payloads.php"]:
        shutil.copy(ROOT / "bench" / "apps" / f, app / f)
    shutil.copy(ROOT / "episodes" / "offline-autoload.php", app / "vendor" / "autoload.php")
    (OUT / "post100k.lua").write_text(
        'wrk.method = "POST"\n'
        'wrk.body = string.rep("x", 100 * 1024)\n'
        'wrk.headers["Content-Type"] = "application/octet-stream"\n'
    )
    (OUT / "post100k.bin").write_bytes(b"x" * 100 * 1024)
    (OUT / "db.lua").write_text(
        f'request = function() return wrk.format(nil, "/db?id=" .. math.random(1, {DB_ROWS})) end\n'
    )
    # Episode 1, offline vendor, prod environment, a cache any user can write.
    sf = OUT / "symfony"
    if sf.exists():
        shutil.rmtree(sf)
    shutil.copytree(ROOT / "episodes" / "1-symfony-integration" / "app", sf)
    shutil.copytree(ROOT / "episodes" / "1-symfony-integration" / "offline-vendor", sf / "vendor")
    (sf / "var").mkdir(exist_ok=True)
    # Under php-fpm the bundle's classes (registered in config/bundles.php)
    # come from the same PHP library rustrunner provides, as Composer would
    # provide the real bundle.
    lib = OUT / "rrlib"
    if lib.exists():
        shutil.rmtree(lib)
    shutil.copytree(ROOT / "php-sapi" / "php", lib)
    for d, _, files in os.walk(lib):
        os.chmod(d, 0o755)
    for d, _, files in os.walk(sf):
        os.chmod(d, 0o777)
    return app


def rr_config(app, port, transport, executor, max_jobs, symfony=False):
    env = f"  env:\n    RUSTRUNNER_WORKER_TRANSPORT: {transport}\n" if transport else ""
    command = "php worker.php"
    if symfony:
        command = "php bin/roadrunner-worker"
        env = (
            "  env:\n"
            "    APP_RUNTIME: Baldinof\\RoadRunnerBundle\\Runtime\\Runtime\n"
            "    APP_ENV: prod\n"
            '    APP_DEBUG: "0"\n'
        )
    ex = f"  executor: {executor}\n" if executor else ""
    cfg = (
        'version: "3"\n'
        "server:\n"
        f'  command: "{command}"\n'
        f"{ex}{env}"
        "http:\n"
        f"  address: 127.0.0.1:{port}\n"
        "  pool:\n"
        f"    num_workers: {WORKERS}\n"
        f"    max_jobs: {max_jobs}\n"
        "logs:\n"
        "  mode: production\n"
        "  level: error\n"
    )
    path = app / f".rr-{port}.yaml"
    path.write_text(cfg)
    return path


def start_target(name, scenario, app, port, pg=None):
    """Start a target; returns (list of processes, root pids for RSS)."""
    max_jobs = 1 if scenario == "maxjobs1" else 0
    db_env = {}
    if scenario == "db":
        persistent = name != "nginx-fpm"
        db_env = {"BENCH_PG_DSN": pg.dsn, "BENCH_PG_PERSISTENT": "1" if persistent else "0"}
    log = open(OUT / f"{name}-{scenario}.log", "w")
    if name == "bare-hyper":
        p = subprocess.Popen([str(ROOT / "target/release/bare-hyper"), f"127.0.0.1:{port}"], stdout=log, stderr=log)
        wait_port(port, p)
        return [p], [p.pid]
    if name.startswith("rr-"):
        transport, executor = {
            "rr-native": ("native", "thread"),
            "rr-relay": ("relay", "thread"),
            "rr-process": (None, "process"),
        }[name]
        where = OUT / "symfony" if scenario == "symfony" else app
        cfg = rr_config(where, port, transport, executor, max_jobs, symfony=scenario == "symfony")
        p = subprocess.Popen(
            [str(ROOT / "target/release/rr"), "serve", "-c", str(cfg)],
            cwd=where,
            stdout=log,
            stderr=log,
            env={**os.environ, **db_env},
        )
        wait_port(port, p)
        return [p], [p.pid]
    if name in ("nginx-fpm", "nginx-fpm-persistent"):
        sock = OUT / "fpm.sock"
        fpm_conf = OUT / "php-fpm.conf"
        fpm_conf.write_text(
            "[global]\n"
            f"pid = {OUT}/fpm.pid\n"
            f"error_log = {OUT}/fpm-error.log\n"
            "daemonize = no\n"
            "[bench]\n"
            "user = www-data\ngroup = www-data\n"
            f"listen = {sock}\n"
            "listen.owner = www-data\nlisten.group = www-data\nlisten.mode = 0666\n"
            "pm = static\n"
            f"pm.max_children = {WORKERS}\n"
            f"pm.max_requests = {max_jobs}\n"
            "php_admin_value[opcache.enable] = 1\n"
            "php_admin_value[opcache.validate_timestamps] = 1\n"
            "php_admin_value[include_path] = .:/usr/share/php\n"
            + (f"php_admin_value[auto_prepend_file] = {OUT}/rrlib/bootstrap.php\n" if scenario == "symfony" else "")
            + "".join(f'env[{k}] = "{v}"\n' for k, v in db_env.items())
        )
        docroot = OUT / "symfony" / "public" if scenario == "symfony" else app
        symfony_params = (
            "      fastcgi_param APP_ENV prod;\n      fastcgi_param APP_DEBUG 0;\n"
            if scenario == "symfony"
            else ""
        )
        nginx_conf = OUT / "nginx.conf"
        nginx_conf.write_text(
            "worker_processes 2;\n"
            f"pid {OUT}/nginx.pid;\n"
            f"error_log {OUT}/nginx-error.log;\n"
            "events { worker_connections 1024; }\n"
            "http {\n"
            "  access_log off;\n"
            "  client_max_body_size 10m;\n"
            "  client_body_buffer_size 256k;\n"
            f"  client_body_temp_path {OUT}/nginx-body;\n"
            f"  fastcgi_temp_path {OUT}/nginx-fcgi;\n"
            f"  upstream fpm {{ server unix:{sock}; keepalive 16; }}\n"
            f"  server {{\n    listen 127.0.0.1:{port};\n    root {docroot};\n"
            "    location / {\n"
            "      include /etc/nginx/fastcgi_params;\n"
            "      fastcgi_param SCRIPT_FILENAME $document_root/index.php;\n"
            f"{symfony_params}"
            "      fastcgi_keep_conn on;\n"
            "      fastcgi_pass fpm;\n"
            "    }\n  }\n}\n"
        )
        os.chmod(app, 0o755)
        for d in [OUT, app, app / "vendor"]:
            os.chmod(d, 0o755)
        fpm = subprocess.Popen(["php-fpm8.2", "-F", "-R", "-y", str(fpm_conf)], stdout=log, stderr=log)
        deadline = time.time() + 10
        while not sock.exists() and time.time() < deadline:
            time.sleep(0.05)
        ngx = subprocess.Popen(["nginx", "-c", str(nginx_conf), "-g", "daemon off;"], stdout=log, stderr=log)
        wait_port(port, ngx)
        return [ngx, fpm], [ngx.pid, fpm.pid]
    raise ValueError(name)


def stop(procs):
    for p in procs:
        try:
            p.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def parse_duration_ms(s):
    m = re.match(r"([\d.]+)(us|ms|s)", s)
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v if unit == "ms" else v * 1000


def run_wrk(port, scenario, seconds):
    path = {"hello": "/", "maxjobs1": "/", "json": "/json", "post100k": "/echo", "symfony": "/test", "db": "/db"}[
        scenario
    ]
    cmd = ["wrk", "-t2", f"-c{CONNS}", f"-d{seconds}s", "--latency", f"http://127.0.0.1:{port}{path}"]
    if scenario in ("post100k", "db"):
        cmd[1:1] = ["-s", str(OUT / f"{scenario}.lua")]
    out = subprocess.run(cmd, check=True, text=True, capture_output=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = parse_duration_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = parse_duration_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    return rps, p50, p99, errors


def check_response(port, scenario):
    import urllib.request

    path = {"hello": "/", "maxjobs1": "/", "json": "/json", "post100k": "/echo", "symfony": "/test", "db": "/db?id=42"}[
        scenario
    ]
    data = (OUT / "post100k.bin").read_bytes() if scenario == "post100k" else None
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, headers={"Content-Type": "application/octet-stream"}
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        body = r.read()
    if scenario in ("hello", "maxjobs1"):
        assert body == b"Hello from RoadRunner!", body[:200]
    elif scenario == "symfony":
        assert b"timestamp" in body, body[:300]
    elif scenario == "db":
        assert body == b'{"id":42,"sku":"SKU-00000042","name":"item 42","price":1554}', body[:300]
    elif scenario == "json":
        assert len(body) > 15000 and body.startswith(b'{"items":['), body[:200]
    else:
        assert body == data, len(body)


def versions(pg_version=None):
    def first(cmd):
        try:
            r = subprocess.run(cmd, text=True, capture_output=True)
            return (r.stdout or r.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "n/a"

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    cache = Path(os.environ.get("RUSTRUNNER_CACHE", Path.home() / ".cache" / "rustrunner"))
    php_conf = sorted(cache.glob("php-*-zts-*/bin/php"))
    return {
        "machine": f"{os.cpu_count()} CPUs ({cpu}), {mem} GiB, {platform.platform()}",
        "rustrunner": first([str(ROOT / "target/release/rr"), "--version"]),
        "PHP (rustrunner, ZTS)": first([str(php_conf[-1]), "-v"]) if php_conf else "n/a",
        "PHP (php-fpm, NTS)": first(["php-fpm8.2", "-v"]),
        "nginx": first(["nginx", "-v"]),
        "wrk": first(["wrk", "--version"]),
        "rustc": first(["rustc", "--version"]),
        **({"PostgreSQL (db scenario)": pg_version} if pg_version else {}),
    }


def main():
    print("building release binaries...", file=sys.stderr)
    subprocess.run(["cargo", "build", "--release", "--bins"], cwd=ROOT, check=True)
    OUT.mkdir(parents=True, exist_ok=True)
    app = prepare_app()
    results = {}
    conns = {}
    port = BASE_PORT
    pg = None
    try:
        if "db" in SCENARIOS:
            try:
                pg = BenchPostgres()
            except Exception as e:  # no PostgreSQL: the db rows are skipped, loudly
                print(f"db scenario skipped: {e}", file=sys.stderr)
        for scenario in SCENARIOS:
            for target in TARGETS:
                if target == "bare-hyper" and scenario in ("maxjobs1", "db"):
                    continue
                if scenario == "symfony" and target not in SYMFONY_TARGETS:
                    continue
                if target == "nginx-fpm-persistent" and scenario != "db":
                    continue
                if scenario == "db" and (pg is None or target not in DB_TARGETS):
                    continue
                port += 1
                print(f"{target} / {scenario} ...", file=sys.stderr)
                try:
                    procs, roots = start_target(target, scenario, app, port, pg)
                except Exception as e:  # a missing tool skips a target, loudly
                    print(f"  skipped: {e}", file=sys.stderr)
                    continue
                try:
                    check_response(port, scenario)
                    run_wrk(port, scenario, 1)  # warm-up
                    runs = []
                    for _ in range(REPEATS):
                        rps, p50, p99, errors = run_wrk(port, scenario, SECONDS)
                        runs.append((rps, p50, p99, errors, rss_mb(roots)))
                    results[(target, scenario)] = runs
                    if scenario == "db":
                        conns[target] = pg.connections()
                finally:
                    stop(procs)
                time.sleep(0.5)
    finally:
        if pg is not None:
            pg.stop()
    write_results(results, conns, pg.version if pg else None)


def fmt_runs(runs, i, fmt):
    vals = [r[i] for r in runs]
    med = statistics.median(vals)
    return f"{fmt.format(med)} ({fmt.format(min(vals))}–{fmt.format(max(vals))})"


def write_results(results, conns=None, pg_version=None):
    v = versions(pg_version)
    lines = ["# rustrunner benchmark results", ""]
    lines.append(f"Produced by `python3 bench/run.py` (`make bench`) on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.")
    lines.append("")
    for k, val in v.items():
        lines.append(f"- {k}: {val}")
    lines.append(
        f"- load: wrk -t2 -c{CONNS}, {REPEATS} runs × {SECONDS} s per point after a 1 s warm-up; "
        f"{WORKERS} PHP workers for every PHP target; wrk shares the machine's cores with the target."
    )
    lines.append("")
    lines.append(
        "Each cell: median (min–max over the runs). RSS is the whole target: the server and all its "
        "worker processes (for nginx-fpm: nginx and php-fpm with their children), after the runs. "
        "`×` is requests/s relative to rr-native in the same scenario."
    )
    lines.append("")
    lines.append("| scenario | target | requests/s | × rr-native | p50 ms | p99 ms | RSS MB | errors |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for scenario in SCENARIOS:
        base = results.get(("rr-native", scenario))
        base_rps = statistics.median(r[0] for r in base) if base else None
        for target in TARGETS:
            runs = results.get((target, scenario))
            if not runs:
                continue
            rps = statistics.median(r[0] for r in runs)
            ratio = f"{rps / base_rps:.2f}" if base_rps else "n/a"
            errors = sum(r[3] for r in runs)
            lines.append(
                f"| {scenario} | {target} | {fmt_runs(runs, 0, '{:.0f}')} | {ratio} | "
                f"{fmt_runs(runs, 1, '{:.2f}')} | {fmt_runs(runs, 2, '{:.2f}')} | "
                f"{statistics.median(r[4] for r in runs):.0f} | {errors} |"
            )
    if "db" in SCENARIOS and results.get(("rr-native", "db")):
        native = statistics.median(r[0] for r in results[("rr-native", "db")])
        lines.append("")
        for target, goal in (("nginx-fpm", 3.0), ("nginx-fpm-persistent", 1.5)):
            runs = results.get((target, "db"))
            if runs:
                x = native / statistics.median(r[0] for r in runs)
                verdict = "met" if x >= goal else "NOT met"
                lines.append(f"- db: rr-native = {x:.2f}× {target} (issue 14's goal ≥ {goal}×: {verdict})")
        if conns:
            lines.append(
                "- db: PostgreSQL client connections open after each target's runs (target still up): "
                + ", ".join(f"{t} {n}" for t, n in conns.items())
            )
    text = "\n".join(lines) + "\n"
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
