#!/usr/bin/env python3
"""Backfill benchmarks: does a backfill's rate depend on its size? (issue 15, item 9)

Usage: python3 benches/backfill.py [--runs N] [--binary PATH] [--baseline PATH]

Builds the release binary unless --binary is given. Backfills of 240, 2,400 and 10,008 hourly
intervals of a workflow with two `empty` tasks, each in a fresh project (a new store), timed
end to end (runs created, executed and summarised, process start included), N times each,
interleaved. The floor is the smallest backfill, measured in the same run: the ratio of each
size's runs per second to it should stay close to 1. Also timed, on a stopped backfill of
10,008 intervals: how long Ctrl-C takes to stop it, and `tidewater queue` on its queued runs.
With --baseline (an earlier build), the two smaller sizes are timed with it too (an earlier
build whose rate falls with the size would take most of an hour at 10,008).
Nothing here asserts a time: results go to BENCHMARKS.md by hand.
"""

import argparse
import datetime
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WORKFLOW = """schedule: "0 * * * *"
timezone: UTC
tasks:
  a:
    empty: {}
  b:
    needs: [a]
    empty: {}
"""

FIRST_DAY = datetime.date(2024, 1, 1)


def project():
    directory = tempfile.mkdtemp(prefix="tidewater-bench-backfill-", dir="/var/tmp")
    with open(os.path.join(directory, "tidewater.toml"), "w") as file:
        file.write("")
    os.makedirs(os.path.join(directory, "workflows"))
    with open(os.path.join(directory, "workflows", "hourly.yaml"), "w") as file:
        file.write(WORKFLOW)
    return directory


def backfill_command(binary, directory, days, *extra):
    last = FIRST_DAY + datetime.timedelta(days=days - 1)
    return [binary, "--project", directory, "backfill", "hourly", "--from", FIRST_DAY.isoformat(),
            "--to", last.isoformat(), "--max-active-runs", "16", *extra]


def timed_backfill(binary, days):
    directory = project()
    start = time.perf_counter()
    result = subprocess.run(backfill_command(binary, directory, days), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"backfill failed ({result.returncode}): {result.stderr.decode()[-2000:]}")
    return elapsed


def stop_latency(binary, days):
    """Starts a backfill, lets a few hundred runs succeed, sends SIGINT; returns the time to exit
    and the time `tidewater queue` then takes, with the lengths of what they printed."""
    directory = project()
    log_path = os.path.join(directory, "backfill.log")
    with open(log_path, "w") as log:
        child = subprocess.Popen(backfill_command(binary, directory, days), stdout=subprocess.DEVNULL,
                                 stderr=log)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            with open(log_path) as reading:
                if reading.read().count(" succeeded (") >= 300:
                    break
            time.sleep(0.05)
        interrupted = time.perf_counter()
        child.send_signal(signal.SIGINT)
        child.wait(timeout=600)
        stopped = time.perf_counter() - interrupted
    with open(log_path) as reading:
        summary = reading.read().split("stopping the backfill", 1)[-1]
    start = time.perf_counter()
    queue = subprocess.run([binary, "--project", directory, "queue"], capture_output=True, check=True)
    queue_time = time.perf_counter() - start
    start = time.perf_counter()
    queue_json = subprocess.run([binary, "--project", directory, "queue", "--json"], capture_output=True,
                                check=True)
    queue_json_time = time.perf_counter() - start
    return stopped, len(summary), queue_time, len(queue.stdout), queue_json_time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--binary")
    parser.add_argument("--baseline", help="an earlier build to time alongside --binary (small sizes)")
    args = parser.parse_args()
    binary = args.binary
    if not binary:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "tidewater"], cwd=ROOT, check=True)
        binary = os.path.join(ROOT, "target", "release", "tidewater")

    sizes = [10, 100, 417]  # days of hourly intervals: 240, 2,400 and 10,008 runs
    times = {days: [] for days in sizes}
    baseline_times = {days: [] for days in sizes[:2]}
    print(f"machine: {os.cpu_count()} cores; binary: {binary}")
    for _ in range(args.runs):
        for days in sizes:
            times[days].append(timed_backfill(binary, days))
            if args.baseline and days in baseline_times:
                baseline_times[days].append(timed_backfill(args.baseline, days))
    floor = None
    for days in sizes:
        runs = days * 24
        median = statistics.median(times[days])
        rate = runs / median
        floor = floor or rate
        line = (f"backfill of {runs:,} intervals (2 empty tasks each): {median:.2f} s, {rate:,.0f} runs/s, "
                f"ratio to the {sizes[0] * 24}-interval floor {rate / floor:.2f} (median of {args.runs})")
        print(line)
        if days in baseline_times and baseline_times[days]:
            base = statistics.median(baseline_times[days])
            print(f"  baseline build: {base:.2f} s, {runs / base:,.0f} runs/s")
    stops = [stop_latency(binary, sizes[-1]) for _ in range(args.runs)]
    stopped = statistics.median([stop[0] for stop in stops])
    print(f"Ctrl-C of a {sizes[-1] * 24:,}-interval backfill after 300 runs: exits in {stopped * 1000:.0f} ms, "
          f"summary {max(stop[1] for stop in stops)} bytes (median of {args.runs})")
    print(f"`tidewater queue` on its ~9,700 queued runs: {statistics.median([s[2] for s in stops]) * 1000:.0f} ms, "
          f"{max(stop[3] for stop in stops)} bytes; `--json` (every run): "
          f"{statistics.median([s[4] for s in stops]) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
