#!/bin/sh
# Usage: extract.sh DS ROWS — writes data/landing/DS/orders.csv (order_id,region,amount).
# The rows are generated from DS, so every run of a day lands exactly the same data.
set -eu
ds="$1"; rows="$2"
dir="data/landing/$ds"
mkdir -p "$dir"
tmp="$dir/.orders.csv.$$"
seed=$(echo "$ds" | tr -d '-')
awk -v seed="$seed" -v rows="$rows" -v ds="$ds" 'BEGIN {
  srand(seed); split("kr jp us de", regions, " ");
  print "order_id,region,amount";
  for (i = 1; i <= rows; i++) printf "%s-%05d,%s,%.2f\n", ds, i, regions[int(rand() * 4) + 1], 5 + rand() * 95;
}' > "$tmp"
mv "$tmp" "$dir/orders.csv"
echo "landed $rows orders for $ds"
