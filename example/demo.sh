#!/bin/sh
# The example pipeline end to end: three days, then a re-run of the second day, then what
# the warehouse holds. Run from anywhere: ./example/demo.sh
set -eu
cd "$(dirname "$0")"
cargo build -q -p tidewater
tidewater() { cargo run -q -p tidewater -- --project . "$@"; }
for day in 2026-01-01 2026-01-02 2026-01-03; do
  tidewater run daily_orders --date "$day"
done
echo "re-running 2026-01-02: its partitions are replaced, not appended to"
tidewater run daily_orders --date 2026-01-02
echo
echo "raw.orders, rows per day (500 each, whatever the number of runs):"
tidewater query "SELECT dt, count(*) AS orders FROM raw.orders GROUP BY dt ORDER BY dt"
echo "mart.daily_revenue:"
tidewater query "SELECT dt, region, orders, revenue FROM mart.daily_revenue ORDER BY dt, region"
tidewater runs daily_orders
