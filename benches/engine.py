#!/usr/bin/env python3
"""Engine benchmarks: Tidewater against floors measured in the same run.

Usage: python3 benches/engine.py [--runs N] [--binary PATH] [--baseline PATH]

Builds the release binary unless --binary is given, then for each scenario times the
Tidewater command and its floor alternately, N times each, and prints medians and the ratio.
With --baseline (an earlier build), the process scenarios also time that build, interleaved
with the others, so that a change is measured before and after in the same window.
Nothing here asserts a time: results go to BENCHMARKS.md by hand.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(command, cwd=None, shell=False):
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, shell=shell, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"benchmark command failed ({result.returncode}): {command}\n{result.stderr.decode()}")
    return elapsed


def project(workflows):
    directory = tempfile.mkdtemp(prefix="tidewater-bench-")
    with open(os.path.join(directory, "tidewater.toml"), "w") as file:
        file.write("")
    os.makedirs(os.path.join(directory, "workflows"))
    for name, text in workflows.items():
        with open(os.path.join(directory, "workflows", f"{name}.yaml"), "w") as file:
            file.write(text)
    return directory


def chain(count):
    lines = ["tasks:"]
    for index in range(count):
        lines.append(f"  t{index}:")
        lines.append('    sh: "true"')
        if index:
            lines.append(f"    needs: [t{index - 1}]")
    return "\n".join(lines) + "\n"


def independent(count):
    lines = ["tasks:"]
    for index in range(count):
        lines += [f"  t{index}:", '    sh: "true"']
    return "\n".join(lines) + "\n"


def fan_out_in(count):
    lines = ["tasks:", "  start:", "    empty: {}"]
    for index in range(count):
        lines += [f"  t{index}:", "    needs: [start]", "    empty: {}"]
    lines += ["  join:", "    needs: [" + ", ".join(f"t{index}" for index in range(count)) + "]", "    empty: {}"]
    return "\n".join(lines) + "\n"


def compare(name, ours, floor, runs, baseline=None):
    ours_times, floor_times, baseline_times = [], [], []
    for _ in range(runs):
        floor_times.append(floor())
        ours_times.append(ours())
        if baseline:
            baseline_times.append(baseline())
    ours_median = statistics.median(ours_times)
    floor_median = statistics.median(floor_times)
    print(f"{name}: tidewater {ours_median * 1000:.1f} ms, floor {floor_median * 1000:.1f} ms, "
          f"ratio {ours_median / floor_median:.2f} (median of {runs})")
    if baseline:
        baseline_median = statistics.median(baseline_times)
        print(f"  baseline build {baseline_median * 1000:.1f} ms, ratio {baseline_median / floor_median:.2f}")
    return ours_median, floor_median


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--binary")
    parser.add_argument("--baseline", help="an earlier build to time alongside --binary")
    args = parser.parse_args()
    binary = args.binary
    if not binary:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "tidewater"], cwd=ROOT, check=True)
        binary = os.path.join(ROOT, "target", "release", "tidewater")

    workflows = {"chain1": chain(1), "chain50": chain(50), "fan100": independent(100),
                 "empty10k": fan_out_in(10_000)}
    directory = project(workflows)
    # The baseline build gets a project of its own: an older build refuses a store whose schema
    # a newer one brought up to date.
    baseline_directory = project(workflows) if args.baseline else None

    def run(workflow, *extra, build=None, where=None):
        command = [build or binary, "--project", where or directory, "run", workflow, "--date", "2026-01-01",
                   *extra]
        return lambda: timed(command)

    def baseline(workflow, *extra):
        return run(workflow, *extra, build=args.baseline, where=baseline_directory) if args.baseline else None

    print(f"machine: {os.cpu_count()} cores; binary: {binary}")
    ours, floor = compare("chain of 50 sh tasks vs a bash loop of 50 `sh -c true`",
                          run("chain50"),
                          lambda: timed("for i in $(seq 50); do /bin/sh -c true; done", shell=True), args.runs,
                          baseline("chain50"))
    print(f"  orchestration overhead per task: {(ours - floor) / 50 * 1000:.2f} ms")
    # A chain of one against a loop of one splits the gap into a part per task and a fixed part.
    one_ours, one_floor = compare("chain of 1 sh task vs a bash loop of 1", run("chain1"),
                                  lambda: timed("for i in $(seq 1); do /bin/sh -c true; done", shell=True),
                                  args.runs)
    for who, fifty, one in (("tidewater", ours, one_ours), ("floor", floor, one_floor)):
        per_task = (fifty - one) / 49
        print(f"  {who}: {per_task * 1000:.3f} ms per task, {(one - per_task) * 1000:.2f} ms fixed")
    ours, floor = compare("100 independent sh tasks at --parallelism 2 vs xargs -P2",
                          run("fan100", "--parallelism", "2"),
                          lambda: timed("seq 100 | xargs -P2 -I{} /bin/sh -c true", shell=True), args.runs,
                          baseline("fan100", "--parallelism", "2"))
    print(f"  orchestration overhead per task: {(ours - floor) / 100 * 1000:.2f} ms")

    empty_times = [run("empty10k")() for _ in range(args.runs)]
    empty = statistics.median(empty_times)
    print(f"10,002 empty tasks (fan-out, fan-in), every change committed: {empty * 1000:.0f} ms end to end, "
          f"{10_002 / empty:,.0f} tasks/s (median of {args.runs})")
    validate_times = [timed([binary, "--project", directory, "validate"]) for _ in range(args.runs)]
    print(f"validating the project (10,002 + 150 tasks): {statistics.median(validate_times) * 1000:.0f} ms "
          f"(median of {args.runs}, process start included)")
    startup = statistics.median([timed([binary, "--version"]) for _ in range(args.runs)])
    print(f"process start floor (`tidewater --version`): {startup * 1000:.1f} ms")


if __name__ == "__main__":
    main()
