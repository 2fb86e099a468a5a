#!/bin/sh
# Usage: report.sh DS ROWS — revenue per region, net of refunds, into data/reports/DS.csv.
set -eu
ds="$1"; expected="$2"
mkdir -p data/reports
tmp="data/reports/.$ds.csv.$$"
awk -F, -v expected="$expected" '
  FNR == 1 { next }
  FILENAME ~ /refunds/ { refund[$1] = $2; next }
  { seen++; revenue[$2] += $3 - ($1 in refund ? refund[$1] : 0) }
  END {
    if (seen != expected) { print "expected " expected " orders, read " seen > "/dev/stderr"; exit 1 }
    print "region,revenue";
    for (region in revenue) printf "%s,%.2f\n", region, revenue[region] | "sort";
  }' "data/landing/$ds/refunds.csv" "data/landing/$ds/orders.csv" > "$tmp"
mv "$tmp" "data/reports/$ds.csv"
echo "report for $ds:"
cat "data/reports/$ds.csv"
