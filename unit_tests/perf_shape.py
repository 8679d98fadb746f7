"""Micro-benchmark: RowShaper.shape() against orjson.loads + orjson.dumps of the same record.

Run: `.venv/bin/python unit_tests/perf_shape.py` (not collected by pytest: the name does not start with
test_). The budget (issue 6 / T's brief): for a typical ~10-field record, shape(data, emitted_at) costs about
what decoding and re-encoding the line costs. Prints both, per record, and the ratio; best of several rounds
so a noisy machine shows its quiet moments.

Measured on the 2-core dev box (Python 3.11, orjson 3.13): loads+dumps ~0.9 us; shape() ~2.1 us (ratio ~2.3)
with the two date-time values, ~1.25 us (ratio ~1.3-1.4) with them null. Each date-time value costs ~0.3-0.4 us
(validate with datetime.fromisoformat, normalise to UTC "YYYY-MM-DD HH:MM:SS[.ffffff]"); the fixed part (four
_airbyte_* columns, the raw id, serialising the larger row) ~0.5 us; a field of the right type ~30 ns.
"""

from __future__ import annotations

import sys
import timeit
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from destination_starrocks.row_shaper import FieldPlan, RowShaper  # noqa: E402
from destination_starrocks.type_mapping import column_type, parse_type, schema_kind  # noqa: E402

SCHEMA = {
    "id": {"type": "integer"},
    "name": {"type": "string"},
    "email": {"type": ["null", "string"]},
    "age": {"type": ["null", "integer"]},
    "score": {"type": "number"},
    "active": {"type": "boolean"},
    "created_at": {"type": "string", "format": "date-time"},
    "updated_at": {"type": "string", "format": "date-time", "airbyte_type": "timestamp_with_timezone"},
    "tags": {"type": "array", "items": {"type": "string"}},
    "address": {"type": "object"},
}
RECORD = {
    "id": 12345,
    "name": "Alice Example",
    "email": "alice@example.com",
    "age": 42,
    "score": 98.5,
    "active": True,
    "created_at": "2024-01-01T12:34:56Z",
    "updated_at": "2024-03-01T01:02:03.123456+00:00",
    "tags": ["a", "b"],
    "address": {"city": "Springfield", "zip": "12345"},
}


def shaper(dedup: bool) -> RowShaper:
    plans = [
        FieldPlan(
            (f,),
            f,
            parse_type(column_type(s, key=dedup and f == "id")),
            schema_kind(s),
            key=dedup and f == "id",
        )
        for f, s in SCHEMA.items()
    ]
    return RowShaper(
        (None, "users"), plans, generation_id=3, sync_id=42, primary_key=[("id",)] if dedup else ()
    )


def main(rounds: int = 15, number: int = 20_000) -> None:
    """Interleave the measurements round by round and keep each one's best: a busy machine slows all alike."""
    line = orjson.dumps(RECORD)
    # The same record with its two date-time values null: shows what the date-time parsing costs.
    line_no_datetimes = orjson.dumps({**RECORD, "created_at": None, "updated_at": None})
    loads, dumps = orjson.loads, orjson.dumps
    shapes = {"append": shaper(False).shape, "dedup (PK, __op)": shaper(True).shape}
    candidates = {
        "decode": lambda: loads(line),
        "baseline": lambda: dumps(loads(line)),
        **{
            label: (lambda shape=shape: shape(loads(line), 1_700_000_000_123))
            for label, shape in shapes.items()
        },
        "decode (no date-times)": lambda: loads(line_no_datetimes),
        "append, date-times null": lambda: shapes["append"](loads(line_no_datetimes), 1_700_000_000_123),
    }
    best = {label: float("inf") for label in candidates}
    for _ in range(rounds):
        for label, fn in candidates.items():
            best[label] = min(best[label], timeit.timeit(fn, number=number) / number * 1e6)
    baseline = best["baseline"]
    print(f"orjson.loads + orjson.dumps: {baseline:.3f} us/record")
    for label in shapes:
        cost = best[label] - best["decode"]
        print(f"shape() [{label}]: {cost:.3f} us/record, ratio to loads+dumps {cost / baseline:.2f}")
    cost = best["append, date-times null"] - best["decode (no date-times)"]
    print(f"shape() [append, the 2 date-time values null]: {cost:.3f} us/record, ratio {cost / baseline:.2f}")


if __name__ == "__main__":
    main()
