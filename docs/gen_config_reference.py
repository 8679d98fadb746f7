"""Generate what is derived from the connector's spec: the configuration reference and the expected SPEC.

Contract: the text between `<!-- config-reference:start -->` and `<!-- config-reference:end -->` in each of
DOCUMENTS is exactly `render_reference()`: a Markdown table built from `StarRocksConfig` (defaults, required
fields, secrets) and from the JSON schema Airbyte receives in the SPEC (types, enums, bounds, patterns).
SPEC_JSON (the `spec_path` of acceptance-test-config.yml) is exactly `render_spec_json()`: the `spec` object the
connector prints.

Why: a default stated in two places drifts. The spec model is the single source; this script copies it into
the documents, and unit_tests/test_docs.py fails whenever a document differs from what this script produces.

    python docs/gen_config_reference.py          # rewrite the marked sections
    python docs/gen_config_reference.py --check  # exit 1 and name the files that are out of date
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere: import the package from this checkout
    sys.path.insert(0, str(ROOT))

from airbyte_cdk.models import ConnectorSpecificationSerializer  # noqa: E402

from destination_starrocks.destination import DestinationStarRocks  # noqa: E402
from destination_starrocks.spec import StarRocksConfig, connection_specification  # noqa: E402

START_MARKER = "<!-- config-reference:start -->"
END_MARKER = "<!-- config-reference:end -->"
DOCUMENTS = (ROOT / "README.md", ROOT / "docs" / "starrocks.md")
SPEC_JSON = ROOT / "integration_tests" / "spec.json"
HEADER = (
    "_Generated from `destination_starrocks.spec.StarRocksConfig` by `docs/gen_config_reference.py`; "
    "do not edit by hand._"
)


def _cell(text: str) -> str:
    """One Markdown table cell: no line breaks, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _type_text(prop: dict[str, Any]) -> str:
    """The JSON schema type of one property with its constraints, e.g. `integer` (1–65535)."""
    kind = prop.get("type", "string")
    if kind == "array":
        text = f"array of {prop.get('items', {}).get('type', 'string')}"
    elif kind == "object":
        value_type = prop.get("additionalProperties", {})
        text = f"object of {value_type.get('type', 'any')}" if isinstance(value_type, dict) else "object"
    else:
        text = str(kind)
    text = f"`{text}`"
    if "enum" in prop:
        text += ": one of " + ", ".join(f"`{value}`" for value in prop["enum"])
    low, high = prop.get("minimum"), prop.get("maximum")
    if low is not None and high is not None:
        text += f" ({low}–{high})"
    elif low is not None:
        text += f" (≥ {low})"
    elif high is not None:
        text += f" (≤ {high})"
    if "pattern" in prop:
        text += f" matching `{prop['pattern']}`"
    return text


def _default_text(name: str) -> str:
    field = StarRocksConfig.model_fields[name]
    if field.is_required():
        return "**required**"
    default = field.get_default(call_default_factory=True)
    return f"`{json.dumps(default)}`"


def render_reference() -> str:
    """The configuration reference table, in the order the Airbyte UI shows the fields."""
    properties: dict[str, dict[str, Any]] = connection_specification()["properties"]
    names = sorted(properties, key=lambda name: properties[name].get("order", len(properties)))
    lines = [
        HEADER,
        "",
        "| Field | Name in the UI | Type | Default | Description |",
        "| :--- | :--- | :--- | :--- | :--- |",
    ]
    for name in names:
        prop = properties[name]
        description = prop.get("description", "")
        if prop.get("airbyte_secret"):
            description += " Secret: masked in the UI and in logs."
        lines.append(
            f"| `{name}` | {_cell(prop.get('title', name))} | {_cell(_type_text(prop))} | "
            f"{_cell(_default_text(name))} | {_cell(description)} |"
        )
    return "\n".join(lines)


def render_spec_json() -> str:
    """The SPEC's `spec` object as the acceptance tests' `spec_path` file holds it (sorted keys, 2-space indent)."""
    spec = DestinationStarRocks().spec(logging.getLogger("gen_config_reference"))
    return json.dumps(ConnectorSpecificationSerializer.dump(spec), indent=2, sort_keys=True) + "\n"


def replace_section(text: str, body: str) -> str:
    """`text` with everything between the config-reference markers replaced by `body`."""
    start = text.index(START_MARKER) + len(START_MARKER)
    end = text.index(END_MARKER, start)
    return f"{text[:start]}\n{body}\n{text[end:]}"


def marked_section(text: str) -> str:
    """The text between the config-reference markers, without the surrounding newlines."""
    start = text.index(START_MARKER) + len(START_MARKER)
    end = text.index(END_MARKER, start)
    return text[start:end].strip("\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report documents that are out of date")
    args = parser.parse_args(argv)
    body = render_reference()
    stale = []
    for path in DOCUMENTS:
        text = path.read_text(encoding="utf-8")
        if marked_section(text) == body:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(replace_section(text, body), encoding="utf-8")
            print(f"updated {path.relative_to(ROOT)}")
    spec_json = render_spec_json()
    if not SPEC_JSON.exists() or SPEC_JSON.read_text(encoding="utf-8") != spec_json:
        stale.append(SPEC_JSON)
        if not args.check:
            SPEC_JSON.write_text(spec_json, encoding="utf-8")
            print(f"updated {SPEC_JSON.relative_to(ROOT)}")
    if args.check and stale:
        names = ", ".join(str(path.relative_to(ROOT)) for path in stale)
        print(f"out of date: {names} (run: python docs/gen_config_reference.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
