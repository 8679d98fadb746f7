"""Micro-benchmark: RowShaper.shape() and the writer's whole per-record loop against orjson loads + dumps.

Run: `.venv/bin/python unit_tests/perf_shape.py` (not collected by pytest: the name does not start with
test_). Two measurements, best of several interleaved rounds so a noisy machine shows its quiet moments:
- shape() on one typical ~10-field record, against decoding and re-encoding the same line;
- Writer._consume (decode, route, shape, append, the size checks; loads answered at once, no server) on
  the first bulk and dedup records of the benchmark's own input (bench/datagen.py), against the parse floor
  on the same lines (decode each line, re-encode each record's data): the connector's CPU per record
  without the emulator that shares the machine in `make bench`.

Measured on the 2-core dev box (Python 3.11, orjson 3.11), load average ~1.7: loads+dumps ~0.9 us; shape()
~2.1 us with the two date-time values (~0.45 us each: validated by datetime.fromisoformat, normalised to
UTC "YYYY-MM-DD HH:MM:SS[.ffffff]"), ~1.2 us with them null. Writer._consume on the bulk lines takes the
typed path (typed_records.py), not shape(): 3.9 us per record against a floor of 2.16 (0.55; 0.48 before
the typed path), dedup streams 5.8 us (0.38). For repeatable figures use callgrind instruction counts (the
commit messages of row_shaper.py, typed_records.py and writer.py quote them).
"""

from __future__ import annotations

import io
import itertools
import sys
import timeit
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import datagen  # noqa: E402
from destination_starrocks.messages import Output  # noqa: E402
from destination_starrocks.row_shaper import FieldPlan, RowShaper  # noqa: E402
from destination_starrocks.spec import StarRocksConfig  # noqa: E402
from destination_starrocks.stream_load import LoadRequest, LoadResult  # noqa: E402
from destination_starrocks.type_mapping import column_type, parse_type, schema_kind  # noqa: E402
from destination_starrocks.writer import Writer  # noqa: E402

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


class _Target:
    """The LoadTarget a bench stream gets, with a shaper built from the bench schema's column types."""

    def __init__(self, shape: datagen.WorkloadShape) -> None:
        dedup = shape.sync_mode == "append_dedup"
        self.stream, self.database, self.table, self.load_table = (
            (None, shape.name),
            "db",
            shape.name,
            shape.name,
        )
        self.headers: dict[str, str] = {}
        self.dedup = dedup
        plans = []
        for name, field_schema in datagen.JSON_SCHEMA["properties"].items():
            key = dedup and name == "id"
            sr_type = parse_type(column_type(field_schema, key=key))
            plans.append(FieldPlan((name,), name, sr_type, schema_kind(field_schema), key=key))
        self.shaper = RowShaper(
            self.stream,
            plans,
            generation_id=1,
            sync_id=1,
            primary_key=[("id",)] if dedup else (),
            cursor=("updated_seq",),
            cursor_type=parse_type("BIGINT"),
        )


def writer_loop(rounds: int = 7, lines_per_round: int = 20_000) -> None:
    """Writer._consume per record on the bench's bulk and dedup input, against the parse floor's loop."""
    config = StarRocksConfig(host="localhost")
    for shape in (
        datagen.WorkloadShape("bulk", lines_per_round),
        datagen.WorkloadShape("dedup", lines_per_round, sync_mode="append_dedup", dedup_keys=2_000),
    ):
        lines = [orjson.dumps(m) for m in itertools.islice(datagen.airbyte_messages(shape), lines_per_round)]
        records = sum(1 for line in lines if line.startswith(b'{"type":"RECORD"'))

        def floor(lines: list[bytes] = lines) -> None:
            loads, dumps = orjson.loads, orjson.dumps
            for line in lines:
                message = loads(line)
                if message["type"] == "RECORD":
                    dumps(message["record"]["data"])

        def consume(lines: list[bytes] = lines, shape: datagen.WorkloadShape = shape) -> None:
            writer = Writer(config, [_Target(shape)], answer_at_once, _NoTables(), Output(io.BytesIO()))
            writer._consume(lines)
            writer._stop_pool()

        best = {"floor": float("inf"), "writer": float("inf")}
        for _ in range(rounds):
            best["floor"] = min(best["floor"], timeit.timeit(floor, number=1) / records * 1e6)
            best["writer"] = min(best["writer"], timeit.timeit(consume, number=1) / records * 1e6)
        print(
            f"Writer._consume [{shape.name}]: {best['writer']:.3f} us/record; parse floor {best['floor']:.3f} "
            f"us/record; floor / writer {best['floor'] / best['writer']:.2f}"
        )


def answer_at_once(request: LoadRequest, commit: bool) -> LoadResult:
    """Every load commits at once, without reading its body: the writer's cost without a server."""
    return LoadResult(request.label, "Success", request.rows, 1, 0.0, "none")


class _NoTables:
    def finish(self, target: object, complete: bool) -> None:
        pass


if __name__ == "__main__":
    main()
    writer_loop()
