#!/usr/bin/env python3
"""The real `tidewater server` idling on a project of 1,000 scheduled workflows.

Usage: python3 benches/server_idle.py --binary target/release/tidewater [--windows 3] [--seconds 30]

Writes 1,000 hourly workflow files (3 tasks each, starting in two days: nothing is due),
starts the server, waits until it has published the health of every file, then reads the
server's CPU time (utime + stime from /proc, 10 ms ticks) and resident memory over a few
windows. The floor is a `sleep` process measured over the same windows: it shows what the
machine's accounting reports for a process that does nothing. Nothing asserts a time:
results go to BENCHMARKS.md by hand.
"""

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as file:
        fields = file.read().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def resident_mb(pid):
    with open(f"/proc/{pid}/status") as file:
        for line in file:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--workflows", type=int, default=1000)
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    binary = os.path.abspath(args.binary)
    directory = tempfile.mkdtemp(prefix="tidewater-idle-", dir="/var/tmp")
    start = (datetime.date.today() + datetime.timedelta(days=2)).isoformat()
    os.makedirs(os.path.join(directory, "workflows"))
    open(os.path.join(directory, "tidewater.toml"), "w").close()
    for n in range(args.workflows):
        with open(os.path.join(directory, "workflows", f"w{n:04}.yaml"), "w") as file:
            file.write(
                f'schedule: "{n % 60} * * * *"\ntimezone: UTC\nstart: "{start}"\n'
                "tasks:\n  a:\n    sh: \"true\"\n  b:\n    needs: [a]\n    sh: \"true\"\n"
                "  c:\n    needs: [b]\n    empty: {}\n"
            )
    log = open(os.path.join(directory, "server.log"), "w")
    server = subprocess.Popen([binary, "--project", directory, "server"], stdout=log, stderr=log)
    floor = subprocess.Popen(["sleep", "100000"])
    try:
        ready_since = time.monotonic()
        while True:
            status = subprocess.run(
                [binary, "--project", directory, "status", "--json"], capture_output=True
            )
            health = json.loads(status.stdout or b"{}")
            if health.get("server") == server.pid and len(health.get("workflows", [])) == args.workflows:
                break
            if server.poll() is not None or time.monotonic() - ready_since > 120:
                sys.exit(f"the server did not come up; see {directory}/server.log")
            time.sleep(0.5)
        print(f"server up with {args.workflows} workflows after {time.monotonic() - ready_since:.1f} s")
        shares, floors, rss = [], [], []
        for _ in range(args.windows):
            before, floor_before, wall = cpu_seconds(server.pid), cpu_seconds(floor.pid), time.monotonic()
            time.sleep(args.seconds)
            elapsed = time.monotonic() - wall
            shares.append((cpu_seconds(server.pid) - before) / elapsed * 100)
            floors.append((cpu_seconds(floor.pid) - floor_before) / elapsed * 100)
            rss.append(resident_mb(server.pid))
        print(
            f"idle server, {args.workflows} workflows, {args.windows} windows of {args.seconds:.0f} s: "
            f"median {statistics.median(shares):.2f}% of a core (windows: "
            + ", ".join(f"{share:.2f}" for share in shares)
            + f"; floor `sleep` {statistics.median(floors):.2f}%), "
            f"resident {statistics.median(rss):.1f} MB (targets: < 1%, < 100 MB)"
        )
    finally:
        server.terminate()
        server.wait()
        floor.kill()
        floor.wait()
        shutil.rmtree(directory)


if __name__ == "__main__":
    main()
