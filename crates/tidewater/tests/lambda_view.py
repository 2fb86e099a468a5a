#!/usr/bin/env python3
"""The lambda view's independent client: the Python `deltalake` package writes a stream table
(as a stream would, plain appends partitioned by dt) and reads a view's two tables, applying
the view's rule itself, so that tests compare it with `tidewater query ... FROM serving.NAME`.

Usage: lambda_view.py write-stream < {"path": "/abs/table", "rows": [{"order_id": "a", "amount": 1.5, "dt": "2026-01-01"}]}
       lambda_view.py union        < {"batch": "/abs/batch", "stream": "/abs/stream", "by": "dt"}
       lambda_view.py partitions   < {"path": "/abs/table", "by": "dt"}

`union` prints the view's rows as JSON, sorted: for each value of `by`, the batch table's rows
when the batch table has that partition (by its log), else the stream table's rows.
"""

import json
import os
import sys

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake


def write_stream(request):
    rows = request["rows"]
    table = pa.table(
        {
            "order_id": pa.array([row["order_id"] for row in rows], pa.string()),
            "amount": pa.array([row["amount"] for row in rows], pa.float64()),
            "dt": pa.array([row["dt"] for row in rows], pa.string()),
        }
    )
    write_deltalake(request["path"], table, mode="append", partition_by=["dt"])
    return {"written": len(rows)}


def table_rows(path):
    if not os.path.isdir(os.path.join(path, "_delta_log")):
        return None, []
    table = DeltaTable(path)
    return table, table.to_pyarrow_table().to_pylist()


def partition_values(table, by):
    """The values of `by` among the table's active files, from its log."""
    values = set()
    for partition in table.partitions():
        values.add(partition.get(by))
    return values


def union(request):
    by = request["by"]
    batch, batch_rows = table_rows(request["batch"])
    _, stream_rows = table_rows(request["stream"])
    covered = partition_values(batch, by) if batch is not None else set()
    rows = list(batch_rows) + [row for row in stream_rows if row[by] not in covered]
    columns = sorted({name for row in rows for name in row})
    result = [{name: row.get(name) for name in columns} for row in rows]
    result.sort(key=lambda row: json.dumps(row, sort_keys=True, default=str))
    return json.loads(json.dumps(result, default=str))


def partitions(request):
    table = DeltaTable(request["path"])
    return sorted(value for value in partition_values(table, request["by"]) if value is not None)


def main(argv):
    if len(argv) != 2 or argv[1] not in ("write-stream", "union", "partitions"):
        print(__doc__, file=sys.stderr)
        return 2
    request = json.load(sys.stdin)
    action = {"write-stream": write_stream, "union": union, "partitions": partitions}[argv[1]]
    print(json.dumps(action(request)))
    return 0


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    # As in read_with_deltalake.py: skip interpreter teardown, where the deltalake
    # extension's background threads sometimes abort the process after the work is done.
    os._exit(code)
