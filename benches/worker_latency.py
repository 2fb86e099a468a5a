#!/usr/bin/env python3
"""The latency from an upstream task's end to a remote downstream task's start (issue 21): p50
and p99, with the worker long-polling its claims (the default) and polling them every 200 ms
(`--claim-wait-ms 0`, the old path), in the same run.

Usage:
  python3 benches/worker_latency.py --binary target/release/tidewater [--pairs 40] [--repeat 1]

One workflow is a chain of `--pairs` pairs: `up_i` runs in the server (no `queue`), then
`down_i` (`queue: bench`) on the one worker, then `up_{i+1}` in the server, and so on; so each
downstream starts while the worker is idle. Each task writes `date +%s%N` to a file of its
own as its first (`down_i`) or last (`up_i`) act; the latency of `down_i` is its start stamp
minus `up_i`'s end stamp (one machine, one clock). The floor, measured in the same run, is the
same chain without `queue`, run entirely in the server: what a downstream waits for without
any worker. Nothing asserts a time: results go to BENCHMARKS.md by hand.
"""

import argparse
import os
import shutil
import subprocess
import tempfile
import time

TOML = '[workers]\nheartbeat = "1s"\nlease = "10s"\n'


def workflow(pairs, stamps, remote):
    queue = "    queue: bench\n" if remote else ""
    lines = ["name: chain", "tasks:"]
    for index in range(pairs):
        needs = f"    needs: [down_{index - 1}]\n" if index else ""
        lines.append(
            f"  up_{index}:\n{needs}    sh: 'date +%s%N > {stamps}/up_end_{index}'"
        )
        lines.append(
            f"  down_{index}:\n    needs: [up_{index}]\n{queue}"
            f"    sh: 'date +%s%N > {stamps}/down_start_{index}'"
        )
    return "\n".join(lines) + "\n"


def wait_for(what, check, seconds=600):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {what}")


def run(binary, project, *args):
    return subprocess.run(
        [binary, "--project", project, *args], check=True, capture_output=True, text=True
    ).stdout


def stamp(path):
    with open(path) as file:
        return int(file.read().strip())


def latencies(binary, pairs, claim_wait_ms):
    """Milliseconds from each up's end to its down's start; `claim_wait_ms` None: no worker,
    the chain runs in the server."""
    root = tempfile.mkdtemp(prefix="tidewater-bench-latency-")
    try:
        stamps = os.path.join(root, "stamps")
        os.makedirs(stamps)
        project = os.path.join(root, "server")
        os.makedirs(os.path.join(project, "workflows"))
        with open(os.path.join(project, "tidewater.toml"), "w") as file:
            file.write(TOML)
        with open(os.path.join(project, "workflows", "chain.yaml"), "w") as file:
            file.write(workflow(pairs, stamps, claim_wait_ms is not None))
        worker_token = run(binary, project, "token", "create", "--name", "w", "--scope", "worker").strip()
        log = open(os.path.join(root, "server.log"), "w")
        server = subprocess.Popen(
            [binary, "--project", project, "server", "--listen", "127.0.0.1:0"],
            stdout=subprocess.DEVNULL, stderr=log,
        )
        children = [server]
        try:
            def port():
                text = open(os.path.join(root, "server.log")).read()
                marker = "HTTP API on http://127.0.0.1:"
                return int(text.split(marker)[1].split("/")[0]) if marker in text else None

            port = wait_for("the server's port", port)
            if claim_wait_ms is not None:
                folder = os.path.join(root, "worker")
                shutil.copytree(project, folder, ignore=shutil.ignore_patterns(".tidewater"))
                children.append(subprocess.Popen(
                    [binary, "--project", folder, "worker", "--server", f"http://127.0.0.1:{port}",
                     "--token", worker_token, "--queues", "bench",
                     "--claim-wait-ms", str(claim_wait_ms)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                ))
                wait_for(
                    "the worker",
                    lambda: "bench" in run(binary, project, "workers"),
                )
            run(binary, project, "trigger", "chain")
            last = os.path.join(stamps, f"down_start_{pairs - 1}")
            wait_for("the chain to end", lambda: os.path.exists(last) and os.path.getsize(last) > 0)
            remote = [
                (stamp(f"{stamps}/down_start_{index}") - stamp(f"{stamps}/up_end_{index}")) / 1e6
                for index in range(pairs)
            ]
            return remote
        finally:
            for child in children:
                child.terminate()
            for child in children:
                child.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    print(f"{args.pairs} upstream → downstream pairs in a chain, {args.repeat} run(s) each; ms")
    local = []
    for _ in range(args.repeat):
        local += latencies(args.binary, args.pairs, None)
    floor = percentile(local, 0.5)
    print(f"{'path':<40} {'p50':>8} {'p99':>8} {'p50 / floor':>12}")
    print(f"{'floor: both tasks in the server':<40} {floor:>8.1f} {percentile(local, 0.99):>8.1f} {1.0:>11.1f}x")
    for name, wait in [("worker, claims polled every 200 ms", 0), ("worker, long-polled claims", 20000)]:
        remote = []
        for _ in range(args.repeat):
            remote += latencies(args.binary, args.pairs, wait)
        p50 = percentile(remote, 0.5)
        print(f"{name:<40} {p50:>8.1f} {percentile(remote, 0.99):>8.1f} {p50 / floor:>11.1f}x")


if __name__ == "__main__":
    main()
