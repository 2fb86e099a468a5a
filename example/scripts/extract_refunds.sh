#!/bin/sh
# Usage: extract_refunds.sh DS — writes data/landing/DS/refunds.csv (order_id,amount).
set -eu
ds="$1"
dir="data/landing/$ds"
mkdir -p "$dir"
tmp="$dir/.refunds.csv.$$"
printf 'order_id,amount\n%s-00007,12.50\n%s-00042,3.99\n' "$ds" "$ds" > "$tmp"
mv "$tmp" "$dir/refunds.csv"
echo "landed 2 refunds for $ds"
