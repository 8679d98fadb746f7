"""Fixed-seed input for the benchmarks: Airbyte RECORD/STATE lines and configured catalogs.

Contract: for a given `WorkloadShape` and seed, `write_airbyte_input` writes byte-for-byte the same file on
every machine and every run, so two runs (and the connector, the parse floor and the peer within one run)
measure the same bytes. Inputs go to files, never to memory: a million records is ~330 MB of JSON lines and
the harness must not inflate the machine's memory while it measures the connector's.

Each record has eleven fields covering what sources send: strings (short and longer), integers, numbers, a
date-time, a boolean, a nested object, an array, and for dedup streams an integer cursor. Values are drawn
from small pools chosen once per seed so generation costs ~5 µs per record, not the benchmark's time.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

SEED = 20260101
EMITTED_AT_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z, fixed so the bytes never change
BASE_TIME = datetime(2025, 1, 1, tzinfo=UTC)

JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": ["null", "string"]},
        "email": {"type": ["null", "string"]},
        "amount": {"type": ["null", "number"]},
        "quantity": {"type": ["null", "integer"]},
        "created_at": {
            "type": ["null", "string"],
            "format": "date-time",
            "airbyte_type": "timestamp_with_timezone",
        },
        "active": {"type": ["null", "boolean"]},
        "address": {
            "type": ["null", "object"],
            "properties": {
                "street": {"type": "string"},
                "city": {"type": "string"},
                "zip": {"type": "string"},
                "geo": {
                    "type": "object",
                    "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}},
                },
            },
        },
        "tags": {"type": ["null", "array"], "items": {"type": "string"}},
        "note": {"type": ["null", "string"]},
        "updated_seq": {"type": "integer"},
    },
}

NESTED_FIELDS = ("address", "tags")

# StarRocks column types of the same fields, for the baselines that create their own table.
STARROCKS_COLUMNS: list[tuple[str, str]] = [
    ("id", "BIGINT"),
    ("name", "VARCHAR(65533)"),
    ("email", "VARCHAR(65533)"),
    ("amount", "DOUBLE"),
    ("quantity", "BIGINT"),
    ("created_at", "DATETIME"),
    ("active", "BOOLEAN"),
    ("address", "JSON"),
    ("tags", "JSON"),
    ("note", "VARCHAR(65533)"),
    ("updated_seq", "BIGINT"),
]

_FIRST = ["Ada", "Grace", "Linus", "Barbara", "Ken", "Margaret", "Dennis", "Frances", "Edsger", "Radia",
          "Jürgen", "Zoë", "Søren", "Chloé", "José", "Nguyễn", "Oğuz", "Åsa", "Björk", "Łukasz"]  # fmt: skip
_LAST = ["Lovelace", "Hopper", "Torvalds", "Liskov", "Thompson", "Hamilton", "Ritchie", "Allen", "Dijkstra",
         "Perlman", "O'Brien", "van der Berg", "Müller", "García", "Smith", "Kowalski", "Tanaka", "Ivanova"]  # fmt: skip
_CITIES = [
    "Lisbon",
    "Osaka",
    "Nairobi",
    "Quito",
    "Reykjavík",
    "Hanoi",
    "Tbilisi",
    "Montréal",
    "Perth",
    "Oslo",
]
_STREETS = ["Main St", "Rua Augusta", "Baker Street", "Königsallee", "Calle Mayor", "Nevsky Prospekt"]
_TAGS = ["new", "vip", "churn-risk", "trial", "b2b", "b2c", "eu", "us", "apac", "beta", "legacy", "promo"]
_WORDS = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore "
          "et dolore magna aliqua \"quoted\" tab\there back\\slash ünïcödé 数据 🚀").split(" ")  # fmt: skip


@dataclass(frozen=True)
class WorkloadShape:
    """What one workload's input looks like."""

    name: str
    records: int
    streams: int = 1
    state_every: int = 1000  # a STATE message after this many records (1: after every record)
    state_kind: str = "STREAM"  # "STREAM" (per-stream) or "GLOBAL"
    sync_mode: str = "append"  # Airbyte destination_sync_mode: "append" | "append_dedup"
    dedup_keys: int = 0  # append_dedup: ids are drawn from this many keys, cursors out of order

    def stream_names(self) -> list[str]:
        if self.streams == 1:
            return [self.name]
        width = len(str(self.streams - 1))
        return [f"{self.name}_{i:0{width}d}" for i in range(self.streams)]


class RecordFactory:
    """Deterministic record data: the same `seed` gives the same sequence of dicts."""

    def __init__(self, seed: int = SEED) -> None:
        self._rng = random.Random(seed)
        rng = self._rng
        self._names = [f"{rng.choice(_FIRST)} {rng.choice(_LAST)}" for _ in range(512)]
        self._notes = [" ".join(rng.choices(_WORDS, k=rng.randint(4, 14))) for _ in range(512)]
        self._times = [
            (BASE_TIME + timedelta(seconds=rng.randint(0, 365 * 86400), microseconds=rng.randint(0, 999_999)))
            .isoformat()
            .replace("+00:00", "Z")
            for _ in range(1024)
        ]
        self._addresses = [
            {
                "street": f"{rng.randint(1, 999)} {rng.choice(_STREETS)}",
                "city": rng.choice(_CITIES),
                "zip": f"{rng.randint(0, 99999):05d}",
                "geo": {"lat": round(rng.uniform(-90, 90), 6), "lon": round(rng.uniform(-180, 180), 6)},
            }
            for _ in range(256)
        ]

    def record(self, record_id: int, updated_seq: int) -> dict[str, Any]:
        rng = self._rng
        r = rng.getrandbits(32)
        name = self._names[r & 511]
        return {
            "id": record_id,
            "name": name,
            "email": f"{name.split(' ', 1)[0].lower()}.{record_id}@example.com" if r & 0x1000 else None,
            "amount": round(rng.uniform(-10_000, 1_000_000), 2),
            "quantity": (r >> 13) & 0xFFFF,
            "created_at": self._times[(r >> 9) & 1023],
            "active": bool(r & 0x200000),
            "address": self._addresses[(r >> 22) & 255],
            "tags": _TAGS[(r >> 24) % 12 : (r >> 24) % 12 + (r >> 28) % 4],
            "note": self._notes[(r >> 17) & 511],
            "updated_seq": updated_seq,
        }


def _state(shape: WorkloadShape, streams: list[str], stream: str, position: int) -> dict[str, Any]:
    if shape.state_kind == "GLOBAL":
        return {
            "type": "STATE",
            "state": {
                "type": "GLOBAL",
                "global": {
                    "shared_state": {"lsn": position},
                    "stream_states": [
                        {"stream_descriptor": {"name": s}, "stream_state": {"lsn": position}} for s in streams
                    ],
                },
            },
        }
    return {
        "type": "STATE",
        "state": {
            "type": "STREAM",
            "stream": {"stream_descriptor": {"name": stream}, "stream_state": {"position": position}},
        },
    }


def airbyte_messages(shape: WorkloadShape, seed: int = SEED) -> Iterator[dict[str, Any]]:
    """The workload's messages in order: RECORDs with STATEs between them, a STATE, then COMPLETE statuses.

    Several streams are interleaved in runs of 100 records (sources read one table at a time, in pages).
    For dedup, ids are drawn from `dedup_keys` keys and `updated_seq` is the position plus a random jitter of
    up to ±5000, so cursors arrive out of order both within one load and across loads.
    """
    factory = RecordFactory(seed)
    jitter = random.Random(seed + 1)
    streams = shape.stream_names()
    for i in range(shape.records):
        stream = streams[(i // 100) % len(streams)]
        if shape.dedup_keys:
            record_id = jitter.randrange(shape.dedup_keys)
            updated_seq = i + jitter.randint(-5000, 5000)
        else:
            record_id = i
            updated_seq = i
        yield {
            "type": "RECORD",
            "record": {
                "stream": stream,
                "emitted_at": EMITTED_AT_MS,
                "data": factory.record(record_id, updated_seq),
            },
        }
        if (i + 1) % shape.state_every == 0 or i + 1 == shape.records:
            yield _state(shape, streams, stream, i + 1)
    # The platform ends a successful read with a COMPLETE status per stream; without it a stream is incomplete.
    for stream in streams:
        yield {
            "type": "TRACE",
            "trace": {
                "type": "STREAM_STATUS",
                "emitted_at": EMITTED_AT_MS,
                "stream_status": {"stream_descriptor": {"name": stream}, "status": "COMPLETE"},
            },
        }


def write_airbyte_input(shape: WorkloadShape, path: Path, seed: int = SEED) -> int:
    """Write the workload's messages as JSON lines to `path`; return the number of bytes written."""
    written = 0
    with open(path, "wb", buffering=1 << 20) as out:
        for message in airbyte_messages(shape, seed):
            line = orjson.dumps(message) + b"\n"
            out.write(line)
            written += len(line)
    return written


def configured_catalog(shape: WorkloadShape, generation_id: int = 1) -> dict[str, Any]:
    """The ConfiguredAirbyteCatalog for the workload (append never truncates: minimum_generation_id 0)."""
    dedup = shape.sync_mode == "append_dedup"
    streams = []
    for name in shape.stream_names():
        streams.append(
            {
                "stream": {
                    "name": name,
                    "json_schema": JSON_SCHEMA,
                    "supported_sync_modes": ["full_refresh", "incremental"],
                    "source_defined_cursor": False,
                    "default_cursor_field": ["updated_seq"],
                },
                "sync_mode": "incremental",
                "destination_sync_mode": shape.sync_mode,
                "cursor_field": ["updated_seq"],
                "primary_key": [["id"]] if dedup else [],
                "generation_id": generation_id,
                "minimum_generation_id": 0,
                "sync_id": 1,
            }
        )
    return {"streams": streams}


def _nested_as_text_schema() -> dict[str, Any]:
    properties = dict(JSON_SCHEMA["properties"])
    for name in NESTED_FIELDS:
        properties[name] = {"type": ["null", "string"]}
    return {**JSON_SCHEMA, "properties": properties}


def write_singer_input(
    airbyte_input: Path, path: Path, max_records: int | None = None, nested_as_text: bool = False
) -> int:
    """Turn Airbyte input lines into Singer SCHEMA/RECORD/STATE messages for the peer; return records written.

    One SCHEMA per stream before its first record; Singer STATE carries a bookmark. `nested_as_text` sends the
    object and array fields as JSON text (declared as strings), for a peer that cannot bind nested values.
    """
    schema_of_stream = _nested_as_text_schema() if nested_as_text else JSON_SCHEMA
    seen: set[str] = set()
    records = 0
    with open(airbyte_input, "rb") as src, open(path, "wb", buffering=1 << 20) as out:
        for line in src:
            message = orjson.loads(line)
            if message["type"] == "RECORD":
                if max_records is not None and records >= max_records:
                    break
                record = message["record"]
                stream = record["stream"]
                if stream not in seen:
                    seen.add(stream)
                    schema = {
                        "type": "SCHEMA",
                        "stream": stream,
                        "schema": schema_of_stream,
                        "key_properties": [],
                    }
                    out.write(orjson.dumps(schema) + b"\n")
                data = record["data"]
                if nested_as_text:
                    for name in NESTED_FIELDS:
                        if data.get(name) is not None:
                            data[name] = orjson.dumps(data[name]).decode()
                out.write(orjson.dumps({"type": "RECORD", "stream": stream, "record": data}) + b"\n")
                records += 1
            elif message["type"] == "STATE" and records:
                out.write(
                    orjson.dumps({"type": "STATE", "value": {"bookmarks": {"position": records}}}) + b"\n"
                )
        out.write(orjson.dumps({"type": "STATE", "value": {"bookmarks": {"position": records}}}) + b"\n")
    return records
