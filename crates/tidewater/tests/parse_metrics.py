"""Parses Prometheus' text exposition format from stdin with the Prometheus Python client's
own parser (`prometheus_client.parser`), and prints what it read as JSON: one object per
metric family, with its name, type and samples. A text the parser refuses fails the script.

Used by crates/tidewater/tests/it/metrics.rs; needs `prometheus-client` from PyPI (.ci/run
installs a pinned version)."""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families

families = [
    {
        "name": family.name,
        "type": family.type,
        "samples": [
            {"name": sample.name, "labels": sample.labels, "value": sample.value}
            for sample in family.samples
        ],
    }
    for family in text_string_to_metric_families(sys.stdin.read())
]
json.dump(families, sys.stdout)
