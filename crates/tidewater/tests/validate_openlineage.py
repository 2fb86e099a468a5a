"""Validates OpenLineage run events (a JSON list on stdin) against the official JSON schemas
vendored in tests/fixtures/openlineage/, with the Python `jsonschema` package (.ci/run
installs a pinned version). Each event is checked as a `RunEvent` of OpenLineage.json, and
each of its facets against its own facet schema, as OpenLineage's own tests do; a facet whose
schema is not vendored is an error, so no part of an event goes unchecked. Formats are
checked too (`uuid`, `date-time`, `uri`). Prints nothing and exits 0 when every event is
valid; otherwise prints every error and exits 1."""

import json
import pathlib
import sys
import uuid
from datetime import datetime
from urllib.parse import urlsplit

import jsonschema
from referencing import Registry, Resource

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "openlineage"

schemas = {path.stem: json.loads(path.read_text()) for path in FIXTURES.glob("*.json")}
registry = Registry().with_resources(
    (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values()
)
# The facet schemas by the key they take in a `facets` object (`nominalTime`, `sql`, ...).
facet_schemas = {
    key: schema
    for name, schema in schemas.items()
    if name != "OpenLineage"
    for key in schema["properties"]
}

format_checker = jsonschema.FormatChecker()


@format_checker.checks("date-time", raises=ValueError)
def is_date_time(text):
    # RFC 3339: a date, `T`, a time and an offset (`Z` or `+hh:mm`).
    return "T" in text and datetime.fromisoformat(text.replace("Z", "+00:00")).tzinfo is not None


@format_checker.checks("uri", raises=ValueError)
def is_uri(text):
    return bool(urlsplit(text).scheme)


@format_checker.checks("uuid", raises=ValueError)
def is_uuid(text):
    return str(uuid.UUID(text)) == text


def validate(instance, schema, where):
    validator = jsonschema.Draft202012Validator(
        schema, registry=registry, format_checker=format_checker
    )
    return [f"{where}: {error.json_path}: {error.message}" for error in validator.iter_errors(instance)]


def facets_of(event):
    yield "run", event["run"].get("facets", {})
    yield "job", event["job"].get("facets", {})
    for side in ("inputs", "outputs"):
        for index, dataset in enumerate(event.get(side, [])):
            yield f"{side}[{index}]", dataset.get("facets", {})


run_event = {"$ref": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"}
errors = []
for index, event in enumerate(json.load(sys.stdin)):
    errors += validate(event, run_event, f"event {index}")
    for owner, facets in facets_of(event):
        for key, facet in facets.items():
            where = f"event {index} {owner} facet {key}"
            if key not in facet_schemas:
                errors.append(f"{where}: no vendored schema for this facet")
                continue
            errors += validate({key: facet}, facet_schemas[key], where)
            # The facet says which schema it follows: it must be the vendored one.
            schema_id = facet_schemas[key]["$id"]
            if not facet.get("_schemaURL", "").startswith(schema_id + "#"):
                errors.append(f"{where}: _schemaURL {facet.get('_schemaURL')} is not {schema_id}")

for error in errors:
    print(error)
sys.exit(1 if errors else 0)
