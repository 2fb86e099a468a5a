#!/usr/bin/env python3
"""Attempts per second of `sh: "true"` tasks through a real `tidewater server` and 1, 2 and 4
`tidewater worker` processes (issue 21), against `xargs -P` of the same processes.

Usage:
  python3 benches/workers.py --binary target/release/tidewater [--tasks 200] [--slots 2]
      [--workers 1,2,4] [--repeat 3]
      [--postgres-url postgres://postgres@127.0.0.1:5432/test [--stores sqlite,postgres]]

For each number of workers: a fresh project whose one workflow has `--tasks` independent tasks,
each `queue: bench` and `sh: "true"`; the server (parallelism = tasks) and the workers (each in
its own copy of the project, `--slots` each) start; then the run is triggered and timed from
the trigger to the run's end (read from `GET /api/v1/runs/{id}` every 20 ms). The floor is
`xargs -P (workers x slots)` starting the same `sh -c true` processes, measured in the same
run. Nothing asserts a time: results go to BENCHMARKS.md by hand.

With `--postgres-url`, the same measurements run on each store of `--stores` (both by
default) in one invocation: on PostgreSQL, each server's project keeps its store in a schema of
its own (`[store] url`, `schema`), dropped afterwards with `psql`.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request

TOML = '[workers]\nheartbeat = "1s"\nlease = "5s"\n'


def workflow(tasks):
    lines = ["name: fan", "tasks:"]
    for index in range(tasks):
        lines += [f"  t{index:04}:", "    queue: bench", '    sh: "true"']
    return "\n".join(lines) + "\n"


def wait_for(what, check, seconds=60):
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


def store_section(store, postgres_url, schema):
    """The `[store]` table of a project on `store` (`sqlite`: none, the embedded default)."""
    if store == "sqlite":
        return ""
    return f'[store]\nurl = "{postgres_url}"\nschema = "{schema}"\n'


def drop_schema(postgres_url, schema):
    subprocess.run(
        ["psql", "--no-psqlrc", "-q", "-d", postgres_url, "-c",
         f"DROP SCHEMA IF EXISTS {schema} CASCADE"],
        check=True, capture_output=True,
    )


def through_workers(binary, tasks, workers, slots, store="sqlite", postgres_url=None):
    root = tempfile.mkdtemp(prefix="tidewater-bench-workers-")
    schema = f"tw_bench_workers_{os.getpid()}_{time.monotonic_ns()}"
    try:
        project = os.path.join(root, "server")
        os.makedirs(os.path.join(project, "workflows"))
        with open(os.path.join(project, "tidewater.toml"), "w") as file:
            file.write(
                f"parallelism = {tasks}\n" + store_section(store, postgres_url, schema) + TOML
            )
        with open(os.path.join(project, "workflows", "fan.yaml"), "w") as file:
            file.write(workflow(tasks))
        worker_token = run(binary, project, "token", "create", "--name", "w", "--scope", "worker").strip()
        read_token = run(binary, project, "token", "create", "--name", "r", "--scope", "operate").strip()
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
            for number in range(workers):
                folder = os.path.join(root, f"worker{number}")
                shutil.copytree(project, folder, ignore=shutil.ignore_patterns(".tidewater"))
                children.append(subprocess.Popen(
                    [binary, "--project", folder, "worker", "--server", f"http://127.0.0.1:{port}",
                     "--token", worker_token, "--queues", "bench", "--slots", str(slots)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                ))

            def api(method, path):
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}{path}", method=method,
                    headers={"Authorization": f"Bearer {read_token}", "Content-Type": "application/json"},
                    data=b"{}" if method == "POST" else None,
                )
                with urllib.request.urlopen(request) as answer:
                    return json.load(answer)

            # Workers registered (one heartbeat each) before the clock starts.
            wait_for("the workers", lambda: len(api("GET", "/api/v1/workers")) == workers)
            started = time.monotonic()
            run_id = api("POST", "/api/v1/workflows/fan/runs")["id"]
            state = wait_for(
                "the run to end",
                lambda: (lambda s: s if s in ("succeeded", "failed") else None)(
                    api("GET", f"/api/v1/runs/{run_id}")["run"]["state"]),
                seconds=600,
            )
            elapsed = time.monotonic() - started
            if state != "succeeded":
                raise SystemExit(f"the run {state}")
            return elapsed
        finally:
            for child in children:
                child.terminate()
            for child in children:
                child.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if store == "postgres":
            drop_schema(postgres_url, schema)


def floor(tasks, parallel):
    started = time.monotonic()
    subprocess.run(
        f"seq {tasks} | xargs -P {parallel} -I{{}} sh -c true", shell=True, check=True
    )
    return time.monotonic() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres-url", help="also (or only, see --stores) on this PostgreSQL")
    parser.add_argument("--stores", help="sqlite,postgres (default: sqlite, and postgres with --postgres-url)")
    args = parser.parse_args()
    stores = (args.stores or ("sqlite,postgres" if args.postgres_url else "sqlite")).split(",")
    for store in stores:
        if store not in ("sqlite", "postgres"):
            parser.error(f"--stores: unknown store {store!r} (sqlite or postgres)")
        if store == "postgres" and not args.postgres_url:
            parser.error("--stores postgres needs --postgres-url")
    load = os.getloadavg()
    print(f"{args.tasks} tasks of sh \"true\", {args.slots} slots per worker, median of {args.repeat}; "
          f"load average at start {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(f"{'store':>8} {'workers':>7} {'tidewater/s':>12} {'xargs -P/s':>11} {'ratio':>6}")
    for store in stores:
        for workers in [int(count) for count in args.workers.split(",")]:
            times = [
                through_workers(args.binary, args.tasks, workers, args.slots, store, args.postgres_url)
                for _ in range(args.repeat)
            ]
            floors = [floor(args.tasks, workers * args.slots) for _ in range(args.repeat)]
            rate = args.tasks / statistics.median(times)
            floor_rate = args.tasks / statistics.median(floors)
            print(f"{store:>8} {workers:>7} {rate:>12.1f} {floor_rate:>11.1f} {floor_rate / rate:>6.1f}x",
                  flush=True)
    load = os.getloadavg()
    print(f"load average at end {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


if __name__ == "__main__":
    main()
