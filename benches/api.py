#!/usr/bin/env python3
"""The HTTP API of the real `tidewater server` on a long history, under `wrk` (Debian).

Usage:
  python3 benches/api.py --binary target/release/tidewater \
      --generator target/release/examples/generate_history [--runs 100000] [--seconds 10]

Writes a project with two workflows without a schedule (nothing runs during the benchmark):
`history`, a chain of 20 tasks, and `wide`, 50 tasks. `generate_history` (an example of
tidewater-sqlite, built with `cargo build --release -p tidewater-sqlite --example
generate_history`) fills the store with `--runs` ended runs of `history` and 1,000 of `wide`,
through the store contract. Then the server starts on a free loopback port and `wrk` (16
connections, 2 threads) loads each path in turn, after a warm-up; the report gives the median
and p99 latency and the requests per second, and the server's resident memory at the end.

The floor is the same server answering a path it has no route for (a 404 problem): the HTTP
stack and nothing else, measured in the same run. Nothing asserts a time: results go to
BENCHMARKS.md by hand. The targets (issue 17): `/api/v1/runs?limit=50` p99 < 50 ms, the grid
page of 25 runs x 50 tasks p99 < 100 ms, resident memory < 200 MB.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

CHAIN = 20
WIDE = 50
WIDE_RUNS = 1000


def workflow(tasks):
    lines = ["timezone: UTC", "tasks:"]
    for index in range(tasks):
        lines.append(f"  t{index:02}:")
        if index:
            lines.append(f"    needs: [t{index - 1:02}]")
        lines.append('    sh: "true"')
    return "\n".join(lines) + "\n"


def resident_mb(pid):
    with open(f"/proc/{pid}/status") as file:
        for line in file:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def milliseconds(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def load(url, seconds):
    """wrk's median, p99 (ms) and requests per second for `url`."""
    out = subprocess.run(
        ["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", url],
        capture_output=True, text=True, check=True,
    ).stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.MULTILINE))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return milliseconds(percentiles["50"]), milliseconds(percentiles["99"]), rate, errors


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--generator", required=True)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument(
        "--path", action="append", default=[],
        help="more paths to load (e.g. the UI's grid page /workflows/wide)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    binary = os.path.abspath(args.binary)
    directory = tempfile.mkdtemp(prefix="tidewater-api-", dir="/var/tmp")
    try:
        os.makedirs(os.path.join(directory, "workflows"))
        os.makedirs(os.path.join(directory, ".tidewater"))
        open(os.path.join(directory, "tidewater.toml"), "w").close()
        store = os.path.join(directory, ".tidewater", "tidewater.db")
        for name, tasks, runs in [("history", CHAIN, args.runs), ("wide", WIDE, WIDE_RUNS)]:
            path = os.path.join(directory, "workflows", f"{name}.yaml")
            with open(path, "w") as file:
                file.write(workflow(tasks))
            subprocess.run([args.generator, store, path, str(runs)], check=True)
        print(f"store: {os.path.getsize(store) / 2**20:.0f} MB")

        log_path = os.path.join(directory, "server.log")
        log = open(log_path, "w")
        server = subprocess.Popen(
            [binary, "--project", directory, "server", "--listen", "127.0.0.1:0"],
            stdout=log, stderr=log,
        )
        try:
            port, since = None, time.monotonic()
            while port is None:
                found = re.search(r"HTTP API on http://127\.0\.0\.1:(\d+)/", open(log_path).read())
                port = found and int(found.group(1))
                if server.poll() is not None or time.monotonic() - since > 60:
                    sys.exit(f"the server did not come up; see {log_path}")
                time.sleep(0.1)
            base = f"http://127.0.0.1:{port}"
            paths = [
                "/api/v1/no-such-route",
                "/api/v1/runs?limit=50",
                "/api/v1/runs?limit=50&workflow=history&state=failed",
                "/api/v1/workflows",
            ] + args.path
            results = {}
            for path in paths:
                load(base + path, 2)  # warm-up
                results[path] = load(base + path, args.seconds)
            floor = results[paths[0]][1]
            print(f"{args.runs} runs of {CHAIN} tasks + {WIDE_RUNS} of {WIDE}; wrk 16 connections, "
                  f"{args.seconds} s per path")
            for path, (median, p99, rate, errors) in results.items():
                note = "  (floor: no route, 404)" if path == paths[0] else ""
                if errors and path != paths[0]:
                    note += f"  NON-2xx: {errors.group(1)}"
                print(f"  {path}: median {median:.2f} ms, p99 {p99:.2f} ms "
                      f"({p99 / floor:.1f}x floor), {rate:.0f} req/s{note}")
            print(f"server resident memory: {resident_mb(server.pid):.0f} MB")
        finally:
            server.terminate()
            server.wait()
    finally:
        shutil.rmtree(directory)


if __name__ == "__main__":
    main()
