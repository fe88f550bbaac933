#!/usr/bin/env python3
"""A/B of rr builds, for a change whose effect is smaller than the noise of
a busy machine: every build serves at once (own port, same app), and each
repetition runs one short wrk per build, scenario and transport in a
rotating order, so all builds see the same background load.

    cargo build --release && cp target/release/rr /tmp/rr-before
    ...change, rebuild...
    python3 bench/ab.py before=/tmp/rr-before after=target/release/rr

Scenarios (bench/apps/worker.php): hello, json (16 KB), post100k (100 KB
POST echoed back), big1m (a 1 MiB response). Transports: relay (goridge
frames over the memory relay) and native (the server's native worker API),
both on worker threads.

Reports, per case, the median req/s and the median server CPU time
(utime+stime of rr, all threads) per request, each with the median of the
per-repetition ratios to the first build. CPU per request moves less than
req/s when other work competes for the cores.

Environment: AB_REPS (10), AB_SECONDS (3), AB_SCENARIOS, AB_TRANSPORTS
(comma lists), BENCH_WORKERS (8), BENCH_CONNECTIONS (32). Needs wrk.
"""

import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import wait_port  # noqa: E402  (one port wait for both bench scripts)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "ab"
REPS = int(os.environ.get("AB_REPS", "10"))
SECONDS = int(os.environ.get("AB_SECONDS", "3"))
SCENARIOS = os.environ.get("AB_SCENARIOS", "hello,json,post100k,big1m").split(",")
TRANSPORTS = os.environ.get("AB_TRANSPORTS", "relay,native").split(",")
WORKERS = int(os.environ.get("BENCH_WORKERS", "8"))
CONNS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
PATHS = {"hello": "/", "json": "/json", "post100k": "/echo", "big1m": "/big"}
BASE_PORT = 18500
TICK = os.sysconf("SC_CLK_TCK")


def prepare_app():
    if OUT.exists():
        shutil.rmtree(OUT)
    (OUT / "vendor").mkdir(parents=True)
    for f in ["worker.php", "payloads.php"]:
        shutil.copy(ROOT / "bench" / "apps" / f, OUT / f)
    shutil.copy(ROOT / "episodes" / "offline-autoload.php", OUT / "vendor" / "autoload.php")
    (OUT / "post100k.lua").write_text(
        'wrk.method = "POST"\n'
        'wrk.body = string.rep("x", 100 * 1024)\n'
        'wrk.headers["Content-Type"] = "application/octet-stream"\n'
    )


def config(name, transport, port):
    path = OUT / f".rr-{name}-{transport}.yaml"
    path.write_text(
        'version: "3"\n'
        "server:\n"
        '  command: "php worker.php"\n'
        "  executor: thread\n"
        f"  env:\n    RUSTRUNNER_WORKER_TRANSPORT: {transport}\n"
        "http:\n"
        f"  address: 127.0.0.1:{port}\n"
        "  pool:\n"
        f"    num_workers: {WORKERS}\n"
        "logs:\n"
        "  mode: production\n"
        "  level: error\n"
    )
    return path


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def wrk(port, scenario, seconds, pid):
    cmd = ["wrk", "-t2", f"-c{CONNS}", f"-d{seconds}s", f"http://127.0.0.1:{port}{PATHS[scenario]}"]
    if scenario == "post100k":
        cmd[1:1] = ["-s", str(OUT / "post100k.lua")]
    before = cpu_seconds(pid)
    out = subprocess.run(cmd, check=True, text=True, capture_output=True).stdout
    cpu = cpu_seconds(pid) - before
    if re.search(r"Non-2xx or 3xx responses|Socket errors", out):
        raise RuntimeError(f"errors from wrk:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    n = int(re.search(r"(\d+) requests in", out).group(1))
    return rps, cpu * 1e6 / max(n, 1)


def main():
    builds = [a.split("=", 1) for a in sys.argv[1:]]
    if len(builds) < 2 or any(len(b) != 2 for b in builds):
        sys.exit(__doc__)
    prepare_app()
    env = dict(os.environ)
    env.pop("RR_LOG", None)
    procs, servers = [], {}
    port = BASE_PORT
    try:
        for t in TRANSPORTS:
            for name, binary in builds:
                cfg = config(name, t, port)
                log = open(OUT / f"{name}-{t}.log", "w")
                p = subprocess.Popen([str(Path(binary).resolve()), "serve", "-c", str(cfg)],
                                     cwd=OUT, env=env, stdout=log, stderr=log)
                procs.append(p)
                wait_port(port, p)
                servers[(name, t)] = (port, p.pid)
                port += 1
        for port, pid in servers.values():
            for s in SCENARIOS:
                wrk(port, s, 1, pid)  # warm-up
        rps, cpu = {}, {}
        for r in range(REPS):
            k = r % len(builds)
            order = builds[k:] + builds[:k]
            for s in SCENARIOS:
                for t in TRANSPORTS:
                    for name, _ in order:
                        port, pid = servers[(name, t)]
                        v, us = wrk(port, s, SECONDS, pid)
                        rps.setdefault((name, t, s), []).append(v)
                        cpu.setdefault((name, t, s), []).append(us)
                        print(f"rep {r} {s:9} {t:6} {name:10} {v:10.1f} req/s {us:9.1f} cpu-us/req", flush=True)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
    ref = builds[0][0]
    for title, data in [("req/s", rps), ("server CPU µs per request", cpu)]:
        print(f"\nmedian {title} (median ratio to {ref}), {REPS} x {SECONDS} s, {WORKERS} workers, {CONNS} connections:")
        for t in TRANSPORTS:
            for s in SCENARIOS:
                row = [f"{t:6} {s:9}"]
                for name, _ in builds:
                    v = data[(name, t, s)]
                    ratio = statistics.median(a / b for a, b in zip(v, data[(ref, t, s)]))
                    row.append(f"{name}: {statistics.median(v):9.1f} ({ratio:.3f})")
                print("  ".join(row))


if __name__ == "__main__":
    main()
