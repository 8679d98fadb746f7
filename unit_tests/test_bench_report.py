"""The benchmark report: its keys, the loads-per-interval figure, the targets, and the child measurement."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

from bench import baselines, datagen, report
from bench.datagen import WorkloadShape
from bench.measure import run_measured


def test_max_loads_in_window_counts_the_busiest_sliding_window() -> None:
    assert report.max_loads_in_window([], 60) == 0
    assert report.max_loads_in_window([5.0], 60) == 1
    assert report.max_loads_in_window([0.0, 61.0, 122.0], 60) == 1
    assert report.max_loads_in_window([0.0, 59.9, 61.0], 60) == 2
    assert report.max_loads_in_window([100.0, 1.0, 2.0, 3.0], 60) == 3


def test_load_stats_takes_the_worst_table_and_sums_loads() -> None:
    stats = {
        "tables": {
            "bench_x.a": {
                "loads": 3,
                "versions_created": 3,
                "version_count": 4,
                "peak_version_count": 9,
                "rows": 10,
            },
            "bench_x.b": {
                "loads": 7,
                "versions_created": 7,
                "version_count": 8,
                "peak_version_count": 8,
                "rows": 5,
            },
            "other.c": {"loads": 99, "versions_created": 99, "version_count": 99, "rows": 1},
        }
    }
    tables = report.tables_of_database(stats, "bench_x")
    assert sorted(tables) == ["bench_x.a", "bench_x.b"]
    assert report.load_stats(tables, tablet_max_versions=1000) == {
        "loads": 10,
        "max_versions_per_table": 7,
        "max_version_count": 8,
        "rows": 15,
        "tables": 2,
        "peak_version_count": 9,  # compaction lowered a's count to 4; its peak stays
        "peak_version_count_per_table": {"bench_x.a": 9, "bench_x.b": 8},
        "tablet_max_versions": 1000,
    }
    entry = report.workload_entry(10, 1.0, 1.0, 1.0, report.load_stats(tables, 1000))
    assert (entry["peak_version_count"], entry["tablet_max_versions"]) == (9, 1000)
    assert entry["peak_version_count_per_table"] == {"bench_x.a": 9, "bench_x.b": 8}


def test_a_failed_workload_keeps_every_key_and_says_why() -> None:
    entry = report.workload_entry(1000, 2.0, 1.5, 80.0, None, error="exit code 1: boom")
    assert set(report.WORKLOAD_KEYS) <= set(entry)
    assert entry["records_per_s"] is None and entry["loads"] is None
    assert entry["error"] == "exit code 1: boom"
    ok = report.workload_entry(1000, 2.0, 1.5, 80.0, {"loads": 2, "max_versions_per_table": 2,
                                                       "max_version_count": 2, "rows": 1000, "tables": 1})  # fmt: skip
    assert ok["records_per_s"] == 500.0 and ok["max_versions_per_table"] == 2 and "error" not in ok


def test_ratios_and_targets_are_computed_from_the_same_run() -> None:
    result = {
        "parse_floor_records_per_s": 400_000.0,
        "bulk": {"records_per_s": 100_000.0, "max_versions_per_table": 6, "peak_rss_mb": 300.0},
        "peer": {"records_per_s": 2_000.0},
        "many_streams": {"peak_rss_mb": 500.0},
        "chatty_state": {"max_loads_per_table_per_interval": 1},
        "chatty_slow_compaction": {
            "peak_version_count": 260,
            "ceiling_versions": 500,
            "too_many_versions_answers": 0,
        },
    }
    report.finish_report(result, max_buffer_memory_mb=256)
    assert result["ratio_to_floor"] == 0.25
    assert result["ratio_to_peer"] == 50.0
    verdicts = {name: t["holds"] for name, t in result["targets"].items()}
    assert verdicts["ratio_to_floor >= 0.5"] is False
    assert verdicts["ratio_to_peer >= 10"] is True
    assert verdicts["bulk.max_versions_per_table <= 10"] is True
    assert verdicts["chatty_state.max_loads_per_table_per_interval <= 1"] is True
    assert verdicts["bulk.peak_rss_mb <= max_buffer_memory_mb + 150 (406)"] is True
    assert verdicts["many_streams.peak_rss_mb <= max_buffer_memory_mb + 150 (406)"] is False
    assert verdicts[
        "chatty_slow_compaction.peak_version_count <= version_ceiling x tablet_max_versions (500)"
    ]
    assert verdicts["chatty_slow_compaction.too_many_versions_answers == 0"] is True
    table = report.format_table(result, ("bulk", "peer", "chatty_slow_compaction"))
    assert "MISSED" in table and "bulk" in table
    assert "peak_versions" in table.splitlines()[0] and "of_limit" in table.splitlines()[0]


def test_cpu_per_record_and_ratios_are_reported_for_every_connector_workload_and_the_floor() -> None:
    loads = {"loads": 1, "max_versions_per_table": 1, "max_version_count": 1, "rows": 1, "tables": 1}
    result = {
        "parse_floor": baselines.combine_floors(
            [
                {"records": 1000, "wall_s": 0.002, "cpu_s": 0.002},
                {"records": 1000, "wall_s": 0.002, "cpu_s": 0.002},
            ]
        ),
        "bulk": report.workload_entry(1000, 0.01, 0.004, 80.0, loads, emulator_cpu_s=0.005),
        "dedup": report.workload_entry(2000, 0.04, 0.01, 80.0, loads, emulator_cpu_s=0.002),
        "chatty_state": report.workload_entry(10, None, None, None, None, error="exit code 1: boom"),
    }
    result["parse_floor_records_per_s"] = result["parse_floor"]["records_per_s"]
    assert result["parse_floor"]["cpu_us_per_record"] == 2.0
    assert result["bulk"]["cpu_us_per_record"] == 4.0
    report.finish_report(result, max_buffer_memory_mb=256)
    bulk, dedup = result["bulk"], result["dedup"]
    assert result["parse_floor_records_per_s"] == 500_000.0
    assert bulk["ratio_to_floor"] == result["ratio_to_floor"] == 0.2  # 100,000 records/s
    assert bulk["cpu_ratio_to_floor"] == 0.5  # 2 us over 4 us
    assert bulk["emulator_cpu_us_per_record"] == 5.0
    assert bulk["connector_busy"] == 0.4
    assert bulk["ratio_to_floor_bound"] is None  # no meta.cpus: the bound needs the number of cores
    result["meta"] = {"cpus": 2}
    report.finish_report(result, max_buffer_memory_mb=256)
    # 4 us connector + 5 us emulator per record on 2 cores: the emulator's 5 us bounds it, 200,000/s.
    assert result["bulk"]["ratio_to_floor_bound"] == 0.4
    assert dedup["cpu_us_per_record"] == 5.0 and dedup["cpu_ratio_to_floor"] == 0.4
    assert result["dedup_ratio_to_floor"] == dedup["ratio_to_floor"] == 0.1  # 50,000 records/s
    assert "ratio_to_floor" not in result["chatty_state"]  # a failed workload measures nothing
    table = report.format_table(result, ("bulk", "dedup", "chatty_state"))
    assert "cpu_us/rec" in table and "2.00 us CPU per record" in table


def test_missing_peer_leaves_ratio_to_peer_null_not_zero() -> None:
    result = {
        "parse_floor_records_per_s": 1.0,
        "bulk": {"records_per_s": 1.0},
        "peer": {"records_per_s": None},
    }
    report.finish_report(result, max_buffer_memory_mb=256)
    assert result["ratio_to_peer"] is None
    assert result["targets"]["ratio_to_peer >= 10"]["holds"] is None


def test_run_measured_reports_the_childs_cpu_and_peak_memory(tmp_path: Path) -> None:
    stdin = tmp_path / "in"
    stdin.write_bytes(b"hello\n")
    script = (
        "import sys; blob = bytearray(120 * 1024 * 1024); sum(range(200000)); print(sys.stdin.read().upper())"
    )
    measured = run_measured(
        [sys.executable, "-c", script], stdin, tmp_path / "out", tmp_path / "err", timeout_s=60
    )
    assert measured.returncode == 0
    assert (tmp_path / "out").read_text() == "HELLO\n\n"
    assert measured.peak_rss_mb >= 120
    assert measured.cpu_s > 0
    assert measured.wall_s > 0


def test_parse_floor_counts_only_records(tmp_path: Path) -> None:
    datagen.write_airbyte_input(WorkloadShape("bulk", 1500, state_every=100), tmp_path / "in.jsonl")
    floor = baselines.parse_floor(tmp_path / "in.jsonl")
    assert floor["records"] == 1500
    assert floor["records_per_s"] > 0


def test_single_insert_table_ddl_quotes_identifiers_and_has_every_column() -> None:
    sql = baselines.create_table_sql("bench`db", "t")
    assert sql.startswith("CREATE TABLE `bench``db`.`t` (")
    for name, column_type in datagen.STARROCKS_COLUMNS:
        assert f"`{name}` {column_type}" in sql
    assert "DUPLICATE KEY(`id`)" in sql


def test_floors_before_and_after_combine_as_total_records_over_total_time() -> None:
    combined = baselines.combine_floors(
        [{"records": 1000, "wall_s": 1.0, "cpu_s": 1.0}, {"records": 1000, "wall_s": 3.0, "cpu_s": 2.9}]
    )
    assert combined["records_per_s"] == 500.0
    assert len(combined["runs"]) == 2


def test_single_insert_rows_follow_the_table_columns() -> None:
    factory = datagen.RecordFactory()
    data = factory.record(7, 7)
    row = baselines._row(data)
    names = [name for name, _ in datagen.STARROCKS_COLUMNS]
    assert len(row) == len(names)
    assert row[names.index("id")] == 7
    created = row[names.index("created_at")]
    assert " " in created and "T" not in created and not created.endswith("Z")
    assert orjson.loads(row[names.index("address")]) == data["address"]
