#!/bin/sh
# Usage: check.sh DS — fails if the day has no orders; writes {"rows": N} to $TIDEWATER_OUTPUT.
set -eu
file="data/landing/$1/orders.csv"
rows=$(($(wc -l < "$file") - 1))
if [ "$rows" -le 0 ]; then
  echo "no orders in $file" >&2
  exit 1
fi
echo "{\"rows\": $rows}" > "$TIDEWATER_OUTPUT"
echo "$file has $rows orders"
