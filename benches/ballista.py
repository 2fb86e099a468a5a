#!/usr/bin/env python3
"""`sql` on a Ballista cluster (issue 20): what Tidewater adds over Ballista itself.

Usage: python3 benches/ballista.py [--runs N] [--scale ROWS] [--target-dir DIR] [--release]

Builds `tidewater` with the `ballista` feature and the `ballista_floor` example (Ballista's own
client) unless they are there, starts a scheduler and two executors (`tidewater ballista`) on
loopback, seeds TPC-H-like tables (lineitem, orders, customer; `--scale` lineitem rows) with
the embedded engine, then times three TPC-H-shaped queries N times each, interleaved:

- embedded: `tidewater query` (DataFusion in the process),
- cluster: `tidewater query --engine cluster` (snapshot resolution, the plan shipped to the
  cluster, rows back),
- floor: `ballista_floor`, Ballista's client on the same cluster with each table registered as
  a Parquet listing of its folder, with the table's columns given (as Tidewater gives them from
  the Delta log, so neither infers them from footers): what a Ballista user runs without
  Tidewater.

Each time is a whole process (start included) for all three. Prints medians and the ratio
cluster / floor (the target is at most 1.2).

Then the write path: `SELECT * FROM bench.lineitem` written on the cluster into a table
(`tidewater run`, the executors stage Parquet files that Tidewater commits as they are), and
the pass the earlier commit made on top of that: the same files read back and written by
deltalake's writer (an embedded `read_parquet` write of them, exactly what it ran). Nothing
asserts a time: results go to BENCHMARKS.md by hand.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

QUERIES = {
    # TPC-H Q1-like: a scan and an aggregation.
    "q1_pricing_summary": """SELECT l_returnflag, l_linestatus, sum(l_quantity) AS sum_qty,
        sum(l_extendedprice) AS sum_base_price, count(*) AS count_order
        FROM bench.lineitem WHERE l_shipday <= 2400
        GROUP BY l_returnflag, l_linestatus ORDER BY l_returnflag, l_linestatus""",
    # TPC-H Q3-like: three-way join, aggregation, top 10.
    "q3_shipping_priority": """SELECT l.l_orderkey, sum(l.l_extendedprice) AS revenue, o.o_orderday
        FROM bench.customer c JOIN bench.orders o ON c.c_custkey = o.o_custkey
        JOIN bench.lineitem l ON l.l_orderkey = o.o_orderkey
        WHERE c.c_mktsegment = 'BUILDING' AND o.o_orderday < 1200 AND l.l_shipday > 1200
        GROUP BY l.l_orderkey, o.o_orderday ORDER BY revenue DESC, l.l_orderkey LIMIT 10""",
    # TPC-H Q13-like: outer join and a nested aggregation.
    "q13_customer_distribution": """SELECT c_count, count(*) AS custdist FROM (
        SELECT c.c_custkey, count(o.o_orderkey) AS c_count
        FROM bench.customer c LEFT JOIN bench.orders o ON c.c_custkey = o.o_custkey
        GROUP BY c.c_custkey) counts GROUP BY c_count ORDER BY custdist DESC, c_count DESC""",
}


def seed_workflow(rows):
    orders = max(rows // 4, 1)
    customers = max(orders // 10, 1)
    return f"""name: seed
tasks:
  customer:
    sql: >
      SELECT v AS c_custkey, CASE v % 5 WHEN 0 THEN 'BUILDING' WHEN 1 THEN 'AUTOMOBILE'
      WHEN 2 THEN 'MACHINERY' WHEN 3 THEN 'HOUSEHOLD' ELSE 'FURNITURE' END AS c_mktsegment
      FROM (SELECT unnest(range(0, {customers})) AS v) ids
    into: {{ table: bench.customer, mode: overwrite }}
  orders:
    sql: >
      SELECT v AS o_orderkey, (v * 7) % {customers} AS o_custkey, v % 2400 AS o_orderday
      FROM (SELECT unnest(range(0, {orders})) AS v) ids
    into: {{ table: bench.orders, mode: overwrite }}
  lineitem:
    sql: >
      SELECT v % {orders} AS l_orderkey, (v % 50) + 1 AS l_quantity,
      CAST((v * 37) % 100000 AS DOUBLE) / 4 AS l_extendedprice,
      CASE v % 3 WHEN 0 THEN 'A' WHEN 1 THEN 'N' ELSE 'R' END AS l_returnflag,
      CASE v % 2 WHEN 0 THEN 'F' ELSE 'O' END AS l_linestatus, (v * 13) % 2500 AS l_shipday
      FROM (SELECT unnest(range(0, {rows})) AS v) ids
    into: {{ table: bench.lineitem, mode: overwrite }}
"""


# Each table's columns, for the floor (Arrow type names).
COLUMNS = {
    "customer": "c_custkey:Int64,c_mktsegment:Utf8",
    "orders": "o_orderkey:Int64,o_custkey:Int64,o_orderday:Int64",
    "lineitem": "l_orderkey:Int64,l_quantity:Int64,l_extendedprice:Float64,"
                "l_returnflag:Utf8,l_linestatus:Utf8,l_shipday:Int64",
}

COPY_ON_CLUSTER = """name: copy
tasks:
  files:
    engine: cluster
    sql: SELECT * FROM bench.lineitem
    into: { table: bench.copy_cluster, mode: overwrite }
"""


def rewrite_workflow(folder):
    return f"""name: rewrite
tasks:
  rows:
    sql: SELECT * FROM read_parquet('{folder}/*.parquet')
    into: {{ table: bench.copy_rewrite, mode: overwrite }}
"""


def folder_megabytes(folder):
    total = 0
    for name in os.listdir(folder):
        if name.endswith(".parquet"):
            total += os.path.getsize(os.path.join(folder, name))
    return total / 1e6


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {port}")


def timed(command):
    start = time.perf_counter()
    output = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if output.returncode != 0:
        sys.exit(f"{command[:4]} failed:\n{output.stderr}")
    return elapsed, output.stdout


def same_rows(a, b):
    """Equal CSV results, floating-point values within a relative 1e-9. A sum of doubles
    depends on the order it adds them in, which differs between one process and a cluster's
    partitions: with prices in cents, 5 M rows differed in the last digits, and equal revenues
    then sorted apart. Prices are quarters now (exact in binary, so every sum here is exact
    in any order); the tolerance stays for sums that are not."""
    rows_a, rows_b = a.splitlines(), b.splitlines()
    if len(rows_a) != len(rows_b):
        return False
    for row_a, row_b in zip(rows_a, rows_b):
        cells_a, cells_b = row_a.split(","), row_b.split(",")
        if len(cells_a) != len(cells_b):
            return False
        for x, y in zip(cells_a, cells_b):
            if x == y:
                continue
            try:
                fx, fy = float(x), float(y)
            except ValueError:
                return False
            if abs(fx - fy) > 1e-9 * max(abs(fx), abs(fy)):
                return False
    return True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scale", type=int, default=400_000)
    parser.add_argument("--target-dir", default=os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")))
    parser.add_argument("--release", action="store_true")
    args = parser.parse_args()
    profile = ["--release"] if args.release else []
    # One invocation for both, so that they share the binary's feature set: building the
    # example on its own selects fewer features and compiles DataFusion again (DEPS.md pitfall 5).
    subprocess.run(["cargo", "build", "-p", "tidewater", "-p", "tidewater-ballista",
                    "--features", "tidewater/ballista", "--bin", "tidewater",
                    "--example", "ballista_floor", *profile], check=True, cwd=ROOT)
    folder = os.path.join(args.target_dir, "release" if args.release else "debug")
    binary = os.path.join(folder, "tidewater")
    floor = os.path.join(folder, "examples", "ballista_floor")

    scheduler_port = free_port()
    processes = [subprocess.Popen([binary, "ballista", "scheduler", "--port", str(scheduler_port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        wait_for(scheduler_port)
        for _ in range(2):
            port, grpc = free_port(), free_port()
            processes.append(subprocess.Popen(
                [binary, "ballista", "executor", "--scheduler", f"127.0.0.1:{scheduler_port}",
                 "--port", str(port), "--grpc-port", str(grpc), "--concurrent-tasks", "2"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_for(port)
        project = tempfile.mkdtemp(prefix="tidewater-bench-ballista-", dir="/var/tmp")
        url = f"df://127.0.0.1:{scheduler_port}"
        with open(os.path.join(project, "tidewater.toml"), "w") as file:
            file.write(f'[engines.cluster]\nballista = "{url}"\n')
        os.makedirs(os.path.join(project, "workflows"))
        with open(os.path.join(project, "workflows", "seed.yaml"), "w") as file:
            file.write(seed_workflow(args.scale))
        timed([binary, "--project", project, "run", "seed"])
        tables = [f"bench.{name}={os.path.join(project, 'warehouse', 'bench', name)}/={columns}"
                  for name, columns in COLUMNS.items()]
        print(f"lineitem rows: {args.scale}, runs: {args.runs}, profile: {'release' if args.release else 'debug'}")
        print(f"{'query':28} {'embedded':>9} {'cluster':>9} {'floor':>9} {'cluster/floor':>14}")
        for name, sql in QUERIES.items():
            times = {"embedded": [], "cluster": [], "floor": []}
            results = {}
            for _ in range(args.runs):
                elapsed, out = timed([binary, "--project", project, "query", "--format", "csv", sql])
                times["embedded"].append(elapsed)
                results["embedded"] = out
                elapsed, out = timed([binary, "--project", project, "query", "--format", "csv",
                                      "--engine", "cluster", sql])
                times["cluster"].append(elapsed)
                results["cluster"] = out
                elapsed, _ = timed([floor, url, "1", sql, *tables])
                times["floor"].append(elapsed)
            if not same_rows(results["embedded"], results["cluster"]):
                sys.exit(f"{name}: the cluster's rows differ from the embedded engine's:\n"
                         f"{results['embedded']}\n---\n{results['cluster']}")
            medians = {key: statistics.median(value) for key, value in times.items()}
            print(f"{name:28} {medians['embedded']:9.3f} {medians['cluster']:9.3f} "
                  f"{medians['floor']:9.3f} {medians['cluster'] / medians['floor']:14.2f}")

        workflows = os.path.join(project, "workflows")
        with open(os.path.join(workflows, "copy.yaml"), "w") as file:
            file.write(COPY_ON_CLUSTER)
        copied = os.path.join(project, "warehouse", "bench", "copy_cluster")
        times = {"cluster write": [], "rewrite pass": []}
        for _ in range(args.runs):
            elapsed, _ = timed([binary, "--project", project, "run", "copy"])
            times["cluster write"].append(elapsed)
            # The files of the latest overwrite, somewhere else, so that the rewrite reads
            # exactly them (the table's folder also holds earlier versions' files).
            staged = tempfile.mkdtemp(prefix="staged-", dir=project)
            live = subprocess.run(
                ["python3", "-c", "import sys, deltalake; print('\\n'.join(deltalake.DeltaTable(sys.argv[1]).file_uris()))",
                 copied], capture_output=True, text=True, check=True).stdout.split()
            for uri in live:
                path = urllib.parse.unquote(urllib.parse.urlparse(uri).path)
                os.link(path, os.path.join(staged, os.path.basename(path)))
            with open(os.path.join(workflows, "rewrite.yaml"), "w") as file:
                file.write(rewrite_workflow(staged))
            elapsed, _ = timed([binary, "--project", project, "run", "rewrite"])
            times["rewrite pass"].append(elapsed)
            megabytes = folder_megabytes(staged)
        medians = {key: statistics.median(value) for key, value in times.items()}
        print(f"write of {megabytes:.1f} MB ({args.scale} rows): cluster, files added as they are "
              f"{medians['cluster write']:.3f} s; the rewrite pass the earlier commit added "
              f"{medians['rewrite pass']:.3f} s (before = the sum, "
              f"{medians['cluster write'] + medians['rewrite pass']:.3f} s)")
    finally:
        for process in processes:
            process.kill()
            process.wait()


if __name__ == "__main__":
    main()
