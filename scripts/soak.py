#!/usr/bin/env python3
"""Fault soak for rustrunner (issue 9).

Starts `rr serve` on 127.0.0.1 with scripts/soak/worker.php, then for
--duration seconds keeps --clients concurrent clients sending requests:
mostly to the healthy route, the rest to routes that hit a fatal error,
exit(), an uncaught exception, an infinite loop (ended by exec_ttl), a
memory leak (recycled by max_worker_memory), $worker->stop(), error() and
echo/STDOUT garbage. Every --reset seconds it runs `rr reset`. At the end it
stops the server and writes a report (Markdown) with requests sent and
answered, per-route statuses, latency, restarts by reason (from the metrics
endpoint) and the server's RSS at start and end.

Loopback only, bounded in time (the duration plus at most a minute of
shutdown), stops by itself. Standard library only.

    scripts/soak.py --rr target/release/rr --duration 600 --out bench/SOAK.md
"""

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# route -> weight (per 1000 requests)
ROUTES = {
    "/ok": 900,
    "/fatal": 10,
    "/exit": 10,
    "/throw": 10,
    "/loop": 2,
    "/leak": 30,
    "/stop": 10,
    "/error": 18,
    "/garbage": 10,
}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def threads_of(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return -1


def metrics(port):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
        c.close()
    except OSError as e:
        return {"error": str(e)}
    out = {}
    for line in text.splitlines():
        if line.startswith("rr_http_worker_restarts_total{"):
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            out[reason] = int(float(line.rsplit(" ", 1)[1]))
    return out


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.sent = 0
        self.answered = 0
        self.failed = Counter()  # route -> transport failures (no answer)
        self.status = defaultdict(Counter)  # route -> status -> n
        self.max_latency = defaultdict(float)
        self.hung = 0
        self.errors = Counter()

    def record(self, route, status, latency, err=None):
        with self.lock:
            self.sent += 1
            if status is not None:
                self.answered += 1
                self.status[route][status] += 1
            else:
                self.failed[route] += 1
                self.errors[err] += 1
                if err == "timeout":
                    self.hung += 1
            self.max_latency[route] = max(self.max_latency[route], latency)


def client(port, stats, deadline, seed, timeout):
    rnd = random.Random(seed)
    routes = list(ROUTES)
    weights = [ROUTES[r] for r in routes]
    conn = None
    while time.time() < deadline:
        route = rnd.choices(routes, weights)[0]
        t0 = time.time()
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            conn.request("GET", route)
            r = conn.getresponse()
            r.read()
            stats.record(route, r.status, time.time() - t0)
            if r.getheader("connection", "").lower() == "close":
                conn.close()
                conn = None
        except socket.timeout:
            stats.record(route, None, time.time() - t0, "timeout")
            conn.close()
            conn = None
        except (OSError, http.client.HTTPException) as e:
            # A keep-alive connection the server closed between requests is
            # retried once on a new connection (what every client does).
            if conn is not None:
                conn.close()
            conn = None
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
                c.request("GET", route)
                r = c.getresponse()
                r.read()
                stats.record(route, r.status, time.time() - t0)
                conn = c
            except socket.timeout:
                stats.record(route, None, time.time() - t0, "timeout")
            except (OSError, http.client.HTTPException) as e2:
                stats.record(route, None, time.time() - t0, f"{type(e).__name__}/{type(e2).__name__}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rr", default=os.path.join(ROOT, "target/debug/rr"))
    ap.add_argument("--duration", type=float, default=600)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--reset", type=float, default=30, help="seconds between `rr reset`")
    ap.add_argument("--transport", default="relay", choices=["relay", "native", "process"])
    ap.add_argument("--timeout", type=float, default=30, help="client timeout: an answer slower than this is a hang")
    ap.add_argument("--out", default=None, help="append the Markdown report to this file")
    ap.add_argument("--seed", type=int, default=9)
    args = ap.parse_args()

    app = tempfile.mkdtemp(prefix="rr-soak-")
    shutil.copy(os.path.join(ROOT, "scripts/soak/worker.php"), app)
    shutil.copy(os.path.join(ROOT, "episodes/offline-autoload.php"), os.path.join(app, "autoload.php"))
    http_port, metrics_port, rpc_port = free_port(), free_port(), free_port()
    env_lines = ""
    if args.transport in ("relay", "native"):
        env_lines = f"  env:\n    RUSTRUNNER_WORKER_TRANSPORT: {args.transport}\n"
    mode = "  mode: process\n" if args.transport == "process" else ""
    with open(os.path.join(app, ".rr.yaml"), "w") as f:
        f.write(
            f"""version: "3"
server:
  command: "php worker.php"
{env_lines}{mode}rpc:
  listen: tcp://127.0.0.1:{rpc_port}
metrics:
  address: 127.0.0.1:{metrics_port}
http:
  address: 127.0.0.1:{http_port}
  pool:
    num_workers: {args.workers}
    allocate_timeout: 60s
    supervisor:
      exec_ttl: 2s
      max_worker_memory: 40
logs:
  mode: production
  level: warn
"""
        )
    log_path = os.path.join(app, "server.log")
    log = open(log_path, "wb")
    srv = subprocess.Popen([args.rr, "serve", "-c", ".rr.yaml"], cwd=app, stdout=log, stderr=log)
    try:
        up = time.time() + 60
        while time.time() < up:
            try:
                c = http.client.HTTPConnection("127.0.0.1", http_port, timeout=5)
                c.request("GET", "/ok")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            sys.exit("rr did not come up; see " + log_path)
        rss_start = rss_kb(srv.pid)
        threads_start = threads_of(srv.pid)
        stats = Stats()
        started = time.time()
        deadline = started + args.duration
        clients = [
            threading.Thread(target=client, args=(http_port, stats, deadline, args.seed + i, args.timeout))
            for i in range(args.clients)
        ]
        for t in clients:
            t.start()
        resets, reset_failures, samples = 0, [], []
        next_reset = started + args.reset
        next_sample = started
        while time.time() < deadline:
            now = time.time()
            if now >= next_sample:
                samples.append((round(now - started), rss_kb(srv.pid), stats.sent))
                next_sample += 60
            if now >= next_reset:
                r = subprocess.run(
                    [args.rr, "reset", "-s", "-c", ".rr.yaml"], cwd=app, capture_output=True, timeout=120
                )
                resets += 1
                if r.returncode != 0:
                    reset_failures.append(r.stderr.decode(errors="replace").strip()[:200])
                next_reset += args.reset
            if srv.poll() is not None:
                break
            time.sleep(0.5)
        for t in clients:
            t.join(args.timeout + 30)
        elapsed = time.time() - started
        alive = srv.poll() is None
        # Healthy requests after the storm, then the end figures.
        after = Counter()
        for _ in range(50):
            try:
                c = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
                c.request("GET", "/ok")
                after[c.getresponse().status] += 1
            except OSError as e:
                after[type(e).__name__] += 1
        rss_end = rss_kb(srv.pid)
        threads_end = threads_of(srv.pid)
        restarts = metrics(metrics_port)
    finally:
        if srv.poll() is None:
            srv.send_signal(signal.SIGTERM)
            try:
                srv.wait(60)
            except subprocess.TimeoutExpired:
                srv.kill()
                srv.wait()
        log.close()
    exit_code = srv.returncode

    ok = stats.status["/ok"]
    ok_total = sum(ok.values()) + stats.failed["/ok"]
    ok_2xx = sum(n for s, n in ok.items() if 200 <= s < 300)
    lines = []
    lines.append(f"## Soak run {time.strftime('%Y-%m-%d %H:%M:%S')}")
    lines.append("")
    lines.append(
        f"`scripts/soak.py --rr {args.rr} --duration {args.duration:g} --clients {args.clients} "
        f"--workers {args.workers} --reset {args.reset:g} --transport {args.transport}`"
    )
    lines.append("")
    lines.append(f"- duration: {elapsed:.0f} s; server alive at the end: {alive}; exit code after SIGTERM: {exit_code}")
    lines.append(f"- requests sent: {stats.sent}; answered: {stats.answered}; unanswered: {stats.sent - stats.answered} "
                 f"(hung past {args.timeout:g} s: {stats.hung}; errors: {dict(stats.errors)})")
    pct = 100.0 * ok_2xx / ok_total if ok_total else 0.0
    lines.append(f"- healthy route /ok: {ok_2xx}/{ok_total} 2xx = {pct:.3f} %")
    lines.append(f"- `rr reset` every {args.reset:g} s: {resets} runs, {len(reset_failures)} failed {reset_failures[:3]}")
    lines.append(f"- after the soak, 50 x /ok: {dict(after)}")
    lines.append(f"- server RSS: {rss_start} kB at start (after warm-up), {rss_end} kB at the end; threads {threads_start} -> {threads_end}")
    lines.append(f"- RSS samples (s, kB, requests sent): {samples}")
    lines.append(f"- worker restarts by reason (rr_http_worker_restarts_total): {json.dumps(restarts, sort_keys=True)}")
    lines.append("")
    lines.append("| route | sent | statuses | unanswered | max latency |")
    lines.append("|---|---|---|---|---|")
    for route in ROUTES:
        st = stats.status[route]
        n = sum(st.values()) + stats.failed[route]
        sts = ", ".join(f"{k}: {v}" for k, v in sorted(st.items()))
        lines.append(f"| {route} | {n} | {sts} | {stats.failed[route]} | {stats.max_latency[route]:.2f} s |")
    lines.append("")
    report = "\n".join(lines)
    print(report)
    if args.out:
        with open(args.out, "a") as f:
            f.write(report + "\n")
    good = alive and stats.sent == stats.answered and ok_total == ok_2xx and after.get(200, 0) == 50
    print("soak:", "PASS" if good else "FAIL", "(server log: " + log_path + ")")
    sys.exit(0 if good else 1)


if __name__ == "__main__":
    main()
