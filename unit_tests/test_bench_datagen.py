"""The benchmark generator: fixed seed, the field kinds issue 7 asks for, STATE cadence, dedup key space."""

from __future__ import annotations

from pathlib import Path

import orjson

from bench import datagen
from bench.datagen import WorkloadShape


def _lines(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_same_seed_writes_identical_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    shape = WorkloadShape("bulk", 500)
    datagen.write_airbyte_input(shape, tmp_path / "a.jsonl")
    datagen.write_airbyte_input(shape, tmp_path / "b.jsonl")
    datagen.write_airbyte_input(shape, tmp_path / "c.jsonl", seed=datagen.SEED + 7)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert (tmp_path / "a.jsonl").read_bytes() != (tmp_path / "c.jsonl").read_bytes()


def test_records_carry_every_field_kind_the_issue_lists(tmp_path: Path) -> None:
    datagen.write_airbyte_input(WorkloadShape("bulk", 200), tmp_path / "in.jsonl")
    records = [m["record"]["data"] for m in _lines(tmp_path / "in.jsonl") if m["type"] == "RECORD"]
    assert len(records) == 200
    first = records[0]
    assert len(first) >= 10
    kinds = {type(v) for r in records for v in r.values()}
    assert {str, int, float, bool, dict, list} <= kinds
    assert first["created_at"].endswith("Z") and "T" in first["created_at"]
    assert isinstance(first["address"]["geo"], dict)
    assert set(first) == set(datagen.JSON_SCHEMA["properties"])
    assert [name for name, _ in datagen.STARROCKS_COLUMNS] == list(datagen.JSON_SCHEMA["properties"])


def test_a_state_follows_every_nth_record_and_the_input_ends_with_complete_statuses(tmp_path: Path) -> None:
    datagen.write_airbyte_input(WorkloadShape("bulk", 2500, state_every=1000), tmp_path / "in.jsonl")
    messages = _lines(tmp_path / "in.jsonl")
    types = [m["type"] for m in messages]
    state_positions = [i for i, t in enumerate(types) if t == "STATE"]
    assert state_positions == [1000, 2001, 2502]
    assert types[-2:] == ["STATE", "TRACE"]  # the platform ends a successful read with COMPLETE statuses
    assert messages[-1]["trace"]["stream_status"] == {
        "stream_descriptor": {"name": "bulk"},
        "status": "COMPLETE",
    }


def test_chatty_input_has_a_state_after_every_record(tmp_path: Path) -> None:
    datagen.write_airbyte_input(WorkloadShape("chatty_state", 50, state_every=1), tmp_path / "in.jsonl")
    types = [m["type"] for m in _lines(tmp_path / "in.jsonl")]
    assert types == ["RECORD", "STATE"] * 50 + ["TRACE"]


def test_many_streams_interleave_and_global_states_name_every_stream(tmp_path: Path) -> None:
    shape = WorkloadShape("many_streams", 1200, streams=4, state_every=500, state_kind="GLOBAL")
    datagen.write_airbyte_input(shape, tmp_path / "in.jsonl")
    messages = _lines(tmp_path / "in.jsonl")
    streams = {m["record"]["stream"] for m in messages if m["type"] == "RECORD"}
    assert (
        streams
        == set(shape.stream_names())
        == {"many_streams_0", "many_streams_1", "many_streams_2", "many_streams_3"}
    )
    states = [m["state"] for m in messages if m["type"] == "STATE"]
    assert all(s["type"] == "GLOBAL" for s in states)
    named = {d["stream_descriptor"]["name"] for d in states[0]["global"]["stream_states"]}
    assert named == streams
    catalog = datagen.configured_catalog(shape)
    assert sorted(s["stream"]["name"] for s in catalog["streams"]) == sorted(streams)


def test_dedup_input_repeats_keys_with_out_of_order_cursors(tmp_path: Path) -> None:
    shape = WorkloadShape("dedup", 3000, sync_mode="append_dedup", dedup_keys=100)
    datagen.write_airbyte_input(shape, tmp_path / "in.jsonl")
    records = [m["record"]["data"] for m in _lines(tmp_path / "in.jsonl") if m["type"] == "RECORD"]
    ids = [r["id"] for r in records]
    assert set(ids) <= set(range(100)) and len(set(ids)) > 90
    cursors = [r["updated_seq"] for r in records]
    assert any(b < a for a, b in zip(cursors, cursors[1:], strict=False))
    stream = datagen.configured_catalog(shape)["streams"][0]
    assert stream["destination_sync_mode"] == "append_dedup"
    assert stream["primary_key"] == [["id"]] and stream["cursor_field"] == ["updated_seq"]


def test_singer_input_has_schema_first_and_the_same_record_data(tmp_path: Path) -> None:
    datagen.write_airbyte_input(WorkloadShape("bulk", 300, state_every=100), tmp_path / "in.jsonl")
    written = datagen.write_singer_input(tmp_path / "in.jsonl", tmp_path / "singer.jsonl", max_records=250)
    singer = _lines(tmp_path / "singer.jsonl")
    assert written == 250
    assert singer[0]["type"] == "SCHEMA" and singer[0]["schema"] == datagen.JSON_SCHEMA
    singer_records = [m["record"] for m in singer if m["type"] == "RECORD"]
    airbyte_records = [m["record"]["data"] for m in _lines(tmp_path / "in.jsonl") if m["type"] == "RECORD"]
    assert singer_records == airbyte_records[:250]
    assert singer[-1]["type"] == "STATE"


def test_singer_input_can_send_nested_fields_as_json_text(tmp_path: Path) -> None:
    datagen.write_airbyte_input(WorkloadShape("bulk", 20), tmp_path / "in.jsonl")
    datagen.write_singer_input(tmp_path / "in.jsonl", tmp_path / "singer.jsonl", nested_as_text=True)
    singer = _lines(tmp_path / "singer.jsonl")
    assert singer[0]["schema"]["properties"]["address"] == {"type": ["null", "string"]}
    first = singer[1]["record"]
    original = next(m for m in _lines(tmp_path / "in.jsonl") if m["type"] == "RECORD")["record"]["data"]
    assert isinstance(first["address"], str) and orjson.loads(first["address"]) == original["address"]
    assert orjson.loads(first["tags"]) == original["tags"]
    assert first["name"] == original["name"]
