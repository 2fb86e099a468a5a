#!/usr/bin/env python3
"""Streams benchmark (issue 19): JetStream -> Delta with `tidewater stream run`.

Usage: python3 benches/stream.py --binary PATH [--messages N] [--runs R]

Needs the machine's NATS JetStream on 127.0.0.1:4222 and `pip install nats-py deltalake
pyarrow`. Each run uses a fresh JetStream stream (deleted at the end) and a fresh project.

Throughput: N messages of ~1 KB JSON are published first; then, timed on the same messages
and batches of 10,000,
  - floor 1, raw consume: an ordered consumer reads all N (nats-py), nothing else;
  - floor 2, plain writer: the same batches, decoded with json and written with the Python
    deltalake package (`write_deltalake(mode="append")`, one commit per batch);
  - tidewater: `tidewater stream run --until-caught-up`, from its "starting" line to its
    last "committed" line (process start and the final idle interval excluded).
Freshness: messages published at 1,000 msg/s for 10 s while the stream runs (trigger every
200ms); a message is visible when the commit that added it is in the log: freshness =
commit timestamp - publish time (carried in the message), p50 and p99.
Nothing here asserts a time: results go to BENCHMARKS.md by hand.
"""

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

NATS_URL = "nats://127.0.0.1:4222"
BATCH = 10_000
COMMITTED = re.compile(r"committed (\d+) message\(s\)")
PAD = "x" * 900


def payload(i, published_ms=0):
    return json.dumps(
        {
            "order_id": f"o{i}",
            "region": ["kr", "jp", "us"][i % 3],
            "amount": i + 0.5,
            "ts": "2026-12-07T10:00:00Z",
            "published_ms": published_ms,
            "note": PAD,
        }
    ).encode()


STREAM_FILE = """name: bench
source:
  nats: {{ url: "{url}", stream: {stream}, subjects: ["{subject}"], consumer: tidewater_bench }}
schema: {{ order_id: string, region: string, amount: double, ts: timestamp, published_ms: long, note: string }}
sql: SELECT order_id, region, amount, published_ms, note, CAST(ts AS DATE) AS dt FROM messages
into: {{ table: stream.orders, partition: [dt] }}
trigger: {{ every: {every}, max_messages: {batch} }}
compact_every: 0
"""


def project(stream, subject, every):
    root = tempfile.mkdtemp(prefix="tw-stream-bench-")
    open(os.path.join(root, "tidewater.toml"), "w").close()
    os.makedirs(os.path.join(root, "streams"))
    with open(os.path.join(root, "streams", "bench.yaml"), "w") as file:
        file.write(
            STREAM_FILE.format(url=NATS_URL, stream=stream, subject=subject, every=every, batch=BATCH)
        )
    return root


async def create_stream(js, name, subject):
    try:
        await js.delete_stream(name)
    except Exception:
        pass
    await js.add_stream(name=name, subjects=[subject])


async def publish_all(js, subject, count):
    window = []
    for i in range(1, count + 1):
        window.append(asyncio.ensure_future(js.publish(subject, payload(i), timeout=30)))
        if len(window) >= 200:
            await asyncio.gather(*window)
            window = []
    await asyncio.gather(*window)


async def raw_consume(js, name, subject, count):
    start = time.perf_counter()
    from nats.js.api import AckPolicy, ConsumerConfig

    # No acknowledgements: the floor is the delivery itself (an explicit-ack consumer would
    # also stall at its default of 1,000 unacknowledged messages).
    subscription = await js.pull_subscribe(
        subject, durable=None, stream=name, config=ConsumerConfig(ack_policy=AckPolicy.NONE)
    )
    seen = 0
    messages = []
    while seen < count:
        batch = await subscription.fetch(min(1000, count - seen), timeout=10)
        seen += len(batch)
        messages.extend(message.data for message in batch)
    elapsed = time.perf_counter() - start
    await subscription.unsubscribe()
    return elapsed, messages


def plain_writer(messages):
    import pyarrow as pa
    from deltalake import write_deltalake

    path = tempfile.mkdtemp(prefix="tw-plain-delta-")
    start = time.perf_counter()
    for offset in range(0, len(messages), BATCH):
        rows = [json.loads(data) for data in messages[offset : offset + BATCH]]
        table = pa.table(
            {
                "order_id": [row["order_id"] for row in rows],
                "region": [row["region"] for row in rows],
                "amount": [row["amount"] for row in rows],
                "published_ms": [row["published_ms"] for row in rows],
                "note": [row["note"] for row in rows],
                "dt": [row["ts"][:10] for row in rows],
            }
        )
        write_deltalake(path, table, mode="append", partition_by=["dt"])
    return time.perf_counter() - start


def run_tidewater(binary, root, stop_after=None):
    """Runs the stream; returns (seconds from start line to last commit line, messages)."""
    command = [binary, "--project", root, "stream", "run", "bench"]
    if stop_after is None:
        command.append("--until-caught-up")
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    started = last = None
    committed = 0
    lines = []

    def read():
        nonlocal started, last, committed
        for line in process.stderr:
            lines.append(line)
            now = time.perf_counter()
            if "starting from" in line or "resuming after" in line:
                started = now
            elif match := COMMITTED.search(line):
                last = now
                committed += int(match.group(1))

    reader = threading.Thread(target=read)
    reader.start()
    if stop_after is not None:
        stop_after()
        process.terminate()
    process.wait()
    reader.join()
    if process.returncode != 0:
        sys.exit("tidewater failed:\n" + "".join(lines))
    return (last - started if last and started else float("nan")), committed


def freshness(binary, nc_loop, js, name, subject):
    root = project(name, subject, "200ms")

    def publish_for_ten_seconds():
        async def publish():
            start = time.time()
            for i in range(10_000):
                target = start + i / 1000
                delay = target - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                await js.publish(subject, payload(i, int(time.time() * 1000)), timeout=30)
            await asyncio.sleep(2)

        time.sleep(1)  # the stream process starts and positions its consumer
        nc_loop.run_until_complete(publish())

    run_tidewater(binary, root, stop_after=publish_for_ten_seconds)
    import pyarrow.parquet as pq

    table = os.path.join(root, "warehouse", "stream", "orders")
    delays = []
    log = os.path.join(table, "_delta_log")
    for name_ in sorted(os.listdir(log)):
        if not name_.endswith(".json"):
            continue
        commit_ms = None
        files = []
        with open(os.path.join(log, name_)) as file:
            for line in file:
                action = json.loads(line)
                if "commitInfo" in action:
                    commit_ms = action["commitInfo"].get("timestamp")
                if "add" in action:
                    files.append(action["add"]["path"])
        for path in files:
            from urllib.parse import unquote

            column = pq.read_table(os.path.join(table, unquote(path)), columns=["published_ms"])
            delays.extend(commit_ms - published for published in column.column(0).to_pylist())
    delays.sort()
    return (
        len(delays),
        delays[len(delays) // 2],
        delays[min(len(delays) - 1, int(len(delays) * 0.99))],
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print("publishing, consuming raw, writing plain, then tidewater...", flush=True)

    import nats

    loop = asyncio.new_event_loop()
    nc = loop.run_until_complete(nats.connect(NATS_URL))
    js = nc.jetstream()
    results = []
    for run in range(args.runs):
        name = f"TW_BENCH_{os.getpid()}_{run}"
        subject = f"twbench.{os.getpid()}.{run}"
        loop.run_until_complete(create_stream(js, name, subject))
        try:
            loop.run_until_complete(publish_all(js, subject, args.messages))
            raw_seconds, messages = loop.run_until_complete(
                raw_consume(js, name, subject, args.messages)
            )
            plain_seconds = plain_writer(messages)
            root = project(name, subject, "1s")
            tidewater_seconds, committed = run_tidewater(args.binary, root)
            assert committed == args.messages, (committed, args.messages)
        finally:
            loop.run_until_complete(js.delete_stream(name))
        results.append((raw_seconds, plain_seconds, tidewater_seconds))
        print(
            f"run {run + 1}: raw consume {args.messages / raw_seconds:,.0f} msg/s, "
            f"plain deltalake writer {args.messages / plain_seconds:,.0f} msg/s, "
            f"tidewater {args.messages / tidewater_seconds:,.0f} msg/s",
            flush=True,
        )
    raw, plain, tide = (statistics.median(column) for column in zip(*results))
    n = args.messages
    print(f"median of {args.runs} runs, {n:,} messages of ~1 KB:")
    print(f"  raw JetStream consume  {n / raw:10,.0f} msg/s")
    print(f"  plain deltalake writer {n / plain:10,.0f} msg/s (decode + write only)")
    print(
        f"  tidewater stream       {n / tide:10,.0f} msg/s "
        f"= {raw / tide:.2f}x of raw consume, {plain / tide:.2f}x of the plain writer"
    )

    name = f"TW_BENCH_FRESH_{os.getpid()}"
    subject = f"twbench.{os.getpid()}.fresh"
    loop.run_until_complete(create_stream(js, name, subject))
    try:
        count, p50, p99 = freshness(args.binary, loop, js, name, subject)
    finally:
        loop.run_until_complete(js.delete_stream(name))
    print(f"freshness at 1,000 msg/s (trigger every 200ms): {count} messages, p50 {p50} ms, p99 {p99} ms")
    loop.run_until_complete(nc.close())


if __name__ == "__main__":
    main()
