#!/usr/bin/env python3
"""Reads Delta tables written by tidewater-flow with the Python `deltalake` package, an
independent Delta client, and checks them against expectations.

Usage: read_with_deltalake.py EXPECTATIONS.json

EXPECTATIONS.json:
    {"tables": [{"path": "/abs/path/to/table",
                 "columns": {"id": "long", "dt": "string"},
                 "partition_columns": ["dt"],
                 "partitions": [{"values": {"dt": "2026-01-01"}, "rows": 2}],
                 "rows": 2}]}

An optional "version" reads the table as of that version (time travel).

Rows are counted from the data files (through pyarrow when installed, else deltalake's own
query engine), not from the log statistics, so the check covers reading the Parquet files.
Exits 1 and prints every difference when a table does not match; 0 when all match.
"""

import json
import os
import sys

from deltalake import DeltaTable


def count_rows(table, partition_columns):
    """Total rows and rows per partition (a tuple of values in partition column order)."""
    try:
        import pyarrow  # noqa: F401  (only to know whether to_pyarrow_table works)
    except ImportError:
        return count_rows_with_query_builder(table, partition_columns)
    data = table.to_pyarrow_table()
    per_partition = {}
    columns = [data.column(name).to_pylist() for name in partition_columns]
    for row in range(data.num_rows):
        key = tuple(str(column[row]) if column[row] is not None else None for column in columns)
        per_partition[key] = per_partition.get(key, 0) + 1
    return data.num_rows, per_partition


def count_rows_with_query_builder(table, partition_columns):
    from deltalake import QueryBuilder

    keys = ", ".join(f'CAST("{name}" AS VARCHAR)' for name in partition_columns)
    select = f"SELECT {keys + ', ' if keys else ''}COUNT(*) AS n FROM t"
    if keys:
        select += f" GROUP BY {keys}"
    result = QueryBuilder().register("t", table).execute(select).read_all()
    columns = [result.column(index).to_pylist() for index in range(result.num_columns)]
    per_partition = {}
    for row in range(result.num_rows):
        per_partition[tuple(column[row] for column in columns[:-1])] = columns[-1][row]
    total = sum(per_partition.values())
    return total, per_partition


def check_table(expected):
    problems = []
    path = expected["path"]
    table = DeltaTable(path, version=expected.get("version"))

    protocol = table.protocol()
    if (protocol.min_reader_version, protocol.min_writer_version) != (1, 2):
        problems.append(
            f"protocol is reader {protocol.min_reader_version} / writer "
            f"{protocol.min_writer_version}, expected 1 / 2"
        )

    columns = {field.name: field.type.type for field in table.schema().fields}
    if columns != expected["columns"]:
        problems.append(f"columns are {columns}, expected {expected['columns']}")

    partition_columns = list(table.metadata().partition_columns)
    if partition_columns != expected["partition_columns"]:
        problems.append(
            f"partition columns are {partition_columns}, expected {expected['partition_columns']}"
        )

    total, per_partition = count_rows(table, partition_columns)
    if total != expected["rows"]:
        problems.append(f"{total} rows, expected {expected['rows']}")
    wanted = {
        tuple(partition["values"][name] for name in partition_columns): partition["rows"]
        for partition in expected["partitions"]
    }
    if per_partition != wanted:
        problems.append(f"rows per partition are {per_partition}, expected {wanted}")

    return [f"{path}: {problem}" for problem in problems]


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as file:
        expectations = json.load(file)
    problems = []
    for expected in expectations["tables"]:
        problems.extend(check_table(expected))
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"{len(expectations['tables'])} table(s) read with deltalake and match")
    return 1 if problems else 0


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: the deltalake extension's background threads sometimes abort
    # the process while Python shuts down ("terminate called without an active exception"),
    # after every check has already passed or failed.
    os._exit(code)
