"""A tiny end-to-end run of bench/run.py: the JSON it writes has every key issue 7 lists.

This starts the bundled emulator and the connector (~2,000 records in all), so it takes ~15 s; it never
installs the peer (`--no-install`): without it, the peer's entry must still be there and say why.
No figure is judged here (the machine is noisy); only the report's shape and the counts that cannot vary.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from bench import run
from bench.report import WORKLOAD_KEYS
from bench.workloads import ALL_WORKLOADS, PRESETS


def test_tiny_run_writes_every_workload_key_and_the_ratios(tmp_path: Path) -> None:
    output = tmp_path / "tiny.json"
    assert run.main(["--preset", "tiny", "--no-install", "--output", str(output)]) == 0
    result = orjson.loads(output.read_bytes())
    for name in ALL_WORKLOADS:
        entry = result[name]
        assert set(WORKLOAD_KEYS) <= set(entry), name
        assert entry.get("error") or entry["records_per_s"] is not None, name
    assert "max_loads_per_table_per_interval" in result["chatty_state"]
    for key in ("parse_floor_records_per_s", "ratio_to_floor", "ratio_to_peer", "emulator_ingest_rows_per_s"):
        assert key in result
    assert result["parse_floor_records_per_s"] > 0
    tiny = PRESETS["tiny"]
    assert result["bulk"]["records"] == tiny.bulk
    assert result["single_insert_baseline"]["records"] == tiny.single_insert
    # one INSERT per record: one committed load per record, whatever else happens
    assert result["single_insert_baseline"]["loads"] == tiny.single_insert
    assert len(result["targets"]) == 8
    pressure = result["chatty_slow_compaction"]
    assert "error" not in pressure, pressure.get("error")
    assert (
        pressure["states_emitted"] == tiny.chatty_slow_compaction and pressure["tablet_max_versions"] == 1000
    )
    assert pressure["too_many_versions_answers"] == 0 and pressure["peak_version_count"] >= 2
    # the harness reads the emulator's stats for the right tables: every bulk record is in them
    assert "error" not in result["bulk"], result["bulk"].get("error")
    assert result["bulk"]["rows_in_tables"] == tiny.bulk
    assert result["many_streams"]["tables"] == tiny.many_streams[0]
    assert 0 < result["dedup"]["rows_in_tables"] <= tiny.dedup[1]
    # bulk ran bulk_runs times, each between two floors; the reported run is the median one, and its ratio is
    # the one against its own two floors
    runs = result["bulk_runs"]
    assert len(runs) == tiny.bulk_runs and all(r["error"] is None for r in runs)
    assert len(result["parse_floor"]["runs"]) == 2
    ratios = sorted(r["ratio_to_floor"] for r in runs)
    assert abs(result["ratio_to_floor"] - ratios[(len(ratios) - 1) // 2]) < 0.002
