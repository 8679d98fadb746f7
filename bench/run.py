"""`make bench`: measure the connector's speed, loads, versions and memory against the parse floor and a peer.

Usage: `.venv/bin/python bench/run.py [--quick] [--only WORKLOAD ...] [--output PATH]`.

One run starts the bundled StarRocks emulator, generates every workload's input with a fixed seed into a
temporary directory (files, not memory), compiles the connector's modules to bytecode (`compile_package`),
warms the emulator up with a short unmeasured sync (`warm_up`), and runs, in this order: the connector on the
`bulk` input (three times in the full preset, each run between two parse floors; the median run is reported,
`run_bulk`), `chatty_state`, `many_streams`, `dedup`, `chatty_slow_compaction` (on an
emulator of its own whose compaction is slow), the one-INSERT-per-record baseline and the peer
(`target-starrocks`). The connector runs as `destination-starrocks write --config C --catalog K < input`, a
subprocess measured by `bench.measure` (wall time, its own user+sys CPU, its peak RSS); loads and versions
come from the emulator's `GET /_emulator/stats`. It writes bench/results/latest.json (`--only` writes
bench/results/partial.json unless `--output` is given) and prints a short table. Issue 7 lists the keys.
"""

from __future__ import annotations

import argparse
import compileall
import dataclasses
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import psutil
import pymysql

ROOT = Path(__file__).resolve().parent.parent
# `python bench/run.py` puts bench/ first on the path, not the repo: import bench's modules as `bench.*`.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench import baselines, datagen, peer, report  # noqa: E402
from bench.measure import run_measured  # noqa: E402
from bench.workloads import (  # noqa: E402
    ALL_WORKLOADS,
    CONNECTOR_WORKLOADS,
    PRESETS,
    PRESSURE_WORKLOADS,
    SLOW_COMPACTION_VERSIONS_PER_S,
    Preset,
)
from destination_starrocks.spec import StarRocksConfig  # noqa: E402
from integration_tests.connector import connect  # noqa: E402
from starrocks_emulator.process import EmulatorProcess  # noqa: E402

# The console script installed next to the interpreter running this (make bench: .venv/bin/python).
CONNECTOR = Path(sys.executable).parent / "destination-starrocks"
RESULTS = ROOT / "bench" / "results"
USER = "root"
# StarRocks merges versions in the background; without it the one-INSERT-per-record baseline stops at
# "Too many versions" after 1000 records. `versions_created` (what is reported) is not reduced by compaction.
COMPACTION_INTERVAL_S = 1.0
PEER_PROBE_RECORDS = 500
# StarRocks' refusal of a load past tablet_max_versions, in older and newer BEs' words.
TOO_MANY_VERSIONS = (b"too many versions. tablet_id", b"because of too many versions")
PASSWORD = ""
# Records of the unmeasured sync that warms the emulator up before the first measured one (`warm_up`).
WARM_UP_RECORDS = 2_000


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _execute(emu: EmulatorProcess, statement: str) -> None:
    with connect(emu) as connection, connection.cursor() as cursor:
        cursor.execute(statement)


def _drop_database(emu: EmulatorProcess, database: str) -> None:
    """Free the emulator's memory between workloads (their stats have been read by then)."""
    try:
        _execute(emu, f"DROP DATABASE IF EXISTS {baselines.quote_identifier(database)}")
    except pymysql.MySQLError as exc:
        _log(f"could not drop {database}: {exc}")


def _emulator_cpu_s(emu: EmulatorProcess) -> float:
    """CPU time the emulator process has used so far: tells how much of a workload's wall time is the server's."""
    times = psutil.Process(emu.pid).cpu_times()
    return times.user + times.system


def _connector_output(stdout_path: Path) -> dict[str, Any]:
    """What the connector said on stdout: STATE messages echoed, and the first error TRACE if any."""
    states = refused = 0
    last_count = None
    error = None
    with open(stdout_path, "rb") as lines:
        for line in lines:
            if not line.startswith(b"{"):
                continue
            if b'"LOG"' in line and any(words in line.lower() for words in TOO_MANY_VERSIONS):
                refused += 1
            try:
                message = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if message.get("type") == "STATE":
                states += 1
                last_count = (message["state"].get("destinationStats") or {}).get("recordCount", last_count)
            elif message.get("type") == "TRACE" and error is None:
                trace_error = message["trace"].get("error")
                if trace_error:
                    error = trace_error.get("internal_message") or trace_error.get("message")
    return {
        "states_emitted": states,
        "last_state_record_count": last_count,
        "too_many_versions_answers": refused,
        "trace_error": error,
    }


def connector_config(emu: EmulatorProcess, database: str, **settings: Any) -> dict[str, Any]:
    """The connector's config.json for a run against `emu` into `database`."""
    return {
        **settings,
        "host": emu.host,
        "query_port": emu.query_port,
        "http_port": emu.http_port,
        "username": USER,
        "password": PASSWORD,
        "database": database,
    }


def run_connector_workload(
    emu: EmulatorProcess,
    shape: datagen.WorkloadShape,
    input_path: Path,
    workdir: Path,
    timeout_s: float,
    **settings: Any,
) -> dict[str, Any]:
    database = f"bench_{shape.name}"
    config = connector_config(emu, database, **settings)
    config_path = workdir / f"{shape.name}.config.json"
    catalog_path = workdir / f"{shape.name}.catalog.json"
    config_path.write_bytes(orjson.dumps(config))
    catalog_path.write_bytes(orjson.dumps(datagen.configured_catalog(shape)))
    argv = [str(CONNECTOR), "write", "--config", str(config_path), "--catalog", str(catalog_path)]
    _log(f"{shape.name}: connector on {shape.records:,} records")
    emulator_cpu = _emulator_cpu_s(emu)
    measured = run_measured(
        argv, input_path, workdir / f"{shape.name}.out", workdir / f"{shape.name}.err", timeout_s=timeout_s
    )
    emulator_cpu = _emulator_cpu_s(emu) - emulator_cpu
    output = _connector_output(measured.stdout_path)
    tables = report.tables_of_database(emu.stats(), database)
    loads = report.load_stats(tables, emu.tablet_max_versions)
    error = None
    if measured.returncode != 0:
        reason = "timed out" if measured.timed_out else f"exit code {measured.returncode}"
        error = f"{reason}: {output['trace_error'] or measured.stderr_tail(600)}"
    extra: dict[str, Any] = {
        "input_bytes": input_path.stat().st_size,
        "emulator_cpu_s": round(emulator_cpu, 3),
        **output,
    }
    if shape.name == "chatty_state":
        interval = StarRocksConfig(host="x").flush_interval_seconds
        extra["interval_s"] = interval
        times = [t.get("load_commit_times") for t in tables.values()]
        extra["max_loads_per_table_per_interval"] = (
            max((report.max_loads_in_window(t, interval) for t in times if t is not None), default=0)
            if all(t is not None for t in times)
            else None
        )
    entry = report.workload_entry(
        shape.records, measured.wall_s, measured.cpu_s, measured.peak_rss_mb, loads, error=error, **extra
    )
    _drop_database(emu, database)
    return entry


def compile_package(package: Path = ROOT / "destination_starrocks") -> None:
    """Bytecode for the connector's modules, as an installed connector has it: `pip install .` compiles what it
    installs (the Dockerfile's image too, PYTHONDONTWRITEBYTECODE=1 and all), while an editable checkout run
    with bytecode writing off compiles every module from source at each start (0.33 against 0.27 s of CPU
    for the write path's imports, /usr/bin/time over 10 runs each)."""
    compileall.compile_dir(str(package), quiet=1)


def warm_up(emu: EmulatorProcess, bulk: datagen.WorkloadShape, workdir: Path, timeout_s: float) -> None:
    """One short sync, not measured, before the first measured one: a sync meets a server that has answered
    before; the emulator's first query (sqlglot, DuckDB) takes about 60 ms more than the next ones."""
    shape = dataclasses.replace(bulk, name="warm_up", records=WARM_UP_RECORDS)
    input_path = workdir / "warm_up.jsonl"
    datagen.write_airbyte_input(shape, input_path)
    _log(f"warm-up sync ({shape.records:,} records, not measured)")
    entry = run_connector_workload(emu, shape, input_path, workdir, timeout_s)
    if entry.get("error"):
        raise RuntimeError(f"the warm-up sync failed: {entry['error']}")
    input_path.unlink()


def run_bulk(
    emu: EmulatorProcess, shape: datagen.WorkloadShape, input_path: Path, workdir: Path, preset: Preset
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """`bulk` `preset.bulk_runs` times, each between two parse floors: (the median run's entry, the two floors
    around it, every run's figures). One run's wall time moves by ±20% with the machine's other work, and the
    floor with it; the median of ratios taken against their own neighbouring floors is a figure a rerun gives
    again, where one run is a draw."""
    floors = [_floor(input_path, "before the first bulk run")]
    runs: list[tuple[float, float, dict[str, Any], list[dict[str, Any]]]] = []  # ratio, floor, entry, floors
    for index in range(preset.bulk_runs):
        entry = _guarded(
            shape.records,
            lambda: run_connector_workload(emu, shape, input_path, workdir, preset.timeout_s),
        )
        entry["emulator_ingest_rows_per_s"] = _ingest_rate(emu)
        floors.append(_floor(input_path, f"after bulk run {index + 1} of {preset.bulk_runs}"))
        around = floors[-2:]
        floor_rate = baselines.combine_floors(around)["records_per_s"]
        ratio = (entry.get("records_per_s") or 0.0) / floor_rate if floor_rate else 0.0
        runs.append((ratio, floor_rate, entry, around))
    figures = [
        {
            "ratio_to_floor": round(ratio, 3),
            "wall_s": entry.get("wall_s"),
            "connector_cpu_s": entry.get("connector_cpu_s"),
            "floor_records_per_s": floor_rate,
            "error": entry.get("error"),
        }
        for ratio, floor_rate, entry, _ in runs
    ]
    # A failed run sorts first (ratio 0), so a median over failures shows as one.
    _, _, entry, around = sorted(runs, key=lambda run: run[0])[(len(runs) - 1) // 2]
    return entry, around, figures


def _floor(input_path: Path, when: str) -> dict[str, Any]:
    _log(f"parse floor ({when})")
    return baselines.parse_floor(input_path)


def run_pressure_workload(shape: datagen.WorkloadShape, workdir: Path, timeout_s: float) -> dict[str, Any]:
    """A STATE after every record with `flush_interval_seconds: 0` against slow compaction (issue 14), on an
    emulator of its own: without the connector's version-pressure control every STATE would be a load and the
    table would reach `tablet_max_versions` ("Too many versions")."""
    input_path = workdir / f"{shape.name}.jsonl"
    _log(f"generating {shape.name} input ({shape.records:,} records)")
    datagen.write_airbyte_input(shape, input_path)
    defaults = StarRocksConfig(host="x")
    with EmulatorProcess(
        compaction_interval_seconds=0.5, compaction_versions_per_second=SLOW_COMPACTION_VERSIONS_PER_S
    ) as emu:
        entry = run_connector_workload(emu, shape, input_path, workdir, timeout_s, flush_interval_seconds=0)
    input_path.unlink()
    entry.update(
        flush_interval_seconds=0,
        compaction_versions_per_second=SLOW_COMPACTION_VERSIONS_PER_S,
        version_ceiling=defaults.version_ceiling,
        ceiling_versions=round(defaults.version_ceiling * emu.tablet_max_versions),
    )
    return entry


def run_single_insert(emu: EmulatorProcess, input_path: Path, records: int) -> dict[str, Any]:
    database = "bench_single_insert"
    _log(f"single_insert_baseline: {records:,} INSERT statements")
    try:
        result = baselines.single_insert_baseline(
            emu.host, emu.query_port, USER, PASSWORD, database, input_path, records
        )
    except pymysql.MySQLError as exc:
        return report.workload_entry(records, None, None, None, None, error=f"{type(exc).__name__}: {exc}")
    loads = report.load_stats(report.tables_of_database(emu.stats(), database), emu.tablet_max_versions)
    entry = report.workload_entry(result["records"], result["wall_s"], None, None, loads)
    entry["connector_cpu_s"] = entry["peak_rss_mb"] = None  # pymysql runs inside the harness: not measured
    _drop_database(emu, database)
    return entry


def _create_database(emu: EmulatorProcess, database: str) -> None:
    _execute(emu, f"CREATE DATABASE IF NOT EXISTS {baselines.quote_identifier(database)}")


def _peer_attempt(
    emu: EmulatorProcess,
    executable: Path,
    bulk_input: Path,
    workdir: Path,
    records: int,
    timeout_s: float,
    nested_as_text: bool,
) -> dict[str, Any]:
    database = "bench_peer_text" if nested_as_text else "bench_peer"
    singer_input = workdir / f"{database}.singer.jsonl"
    written = datagen.write_singer_input(
        bulk_input, singer_input, max_records=records, nested_as_text=nested_as_text
    )
    config_path = workdir / f"{database}.config.json"
    peer.write_peer_config(config_path, emu.host, emu.query_port, USER, PASSWORD, database)
    _create_database(emu, database)
    _log(f"peer: {written:,} records{' (nested fields as JSON text)' if nested_as_text else ''}")
    emulator_cpu = _emulator_cpu_s(emu)
    measured = run_measured(
        [str(executable), "--config", str(config_path)],
        singer_input,
        workdir / f"{database}.out",
        workdir / f"{database}.err",
        timeout_s=timeout_s,
    )
    emulator_cpu = _emulator_cpu_s(emu) - emulator_cpu
    loads = report.load_stats(report.tables_of_database(emu.stats(), database), emu.tablet_max_versions)
    _drop_database(emu, database)
    error = None
    if measured.returncode != 0:
        reason = "timed out" if measured.timed_out else f"exit code {measured.returncode}"
        tail = measured.stderr_tail(4000).strip().splitlines()
        error = f"{reason}: {tail[-1] if tail else ''}"
    return report.workload_entry(
        written, measured.wall_s, measured.cpu_s, measured.peak_rss_mb, loads, error=error
    )


def run_peer(
    emu: EmulatorProcess, bulk_input: Path, workdir: Path, records: int, timeout_s: float, install: bool
) -> dict[str, Any]:
    """The peer on the bulk records; if it cannot load them as they are, again with nested fields as text.

    target-starrocks 0.0.1a3 binds object/array values straight into pymysql, which refuses a dict
    ("dict can not be used as parameter"). Sending those two fields as JSON strings is the least change that
    lets it load the same records, and it makes the peer's work lighter, not heavier: the ratio stays fair.
    """
    _log("peer: target-starrocks from .bench-envs/peer (installed on first run)")
    try:
        executable, version = peer.ensure_peer_env(install=install)
    except peer.PeerUnavailable as exc:
        return report.workload_entry(records, None, None, None, None, error=str(exc))
    _log(f"peer: target-starrocks {version}")
    # A short probe first: if the records as generated fail, they fail in the first batch, so the probe
    # says so without spending the full run on it.
    probe = _peer_attempt(
        emu,
        executable,
        bulk_input,
        workdir,
        min(records, PEER_PROBE_RECORDS),
        timeout_s,
        nested_as_text=False,
    )
    if probe.get("error"):
        entry = _peer_attempt(emu, executable, bulk_input, workdir, records, timeout_s, nested_as_text=True)
        entry["adaptation"] = "address and tags sent as JSON strings: the records as generated failed to load"
        entry["error_with_nested_values"] = probe["error"]
    elif records > PEER_PROBE_RECORDS:
        entry = _peer_attempt(emu, executable, bulk_input, workdir, records, timeout_s, nested_as_text=False)
    else:
        entry = probe
    entry["peer_version"] = version
    return entry


def _guarded(records: int, workload: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one workload; if the harness itself fails (emulator gone, SQL error), record why and go on."""
    try:
        return workload()
    except Exception as exc:  # noqa: BLE001 - one broken workload must not lose the others' figures
        _log(f"workload failed: {type(exc).__name__}: {exc}")
        return report.workload_entry(
            records, None, None, None, None, error=f"harness: {type(exc).__name__}: {exc}"
        )


def _ingest_rate(emu: EmulatorProcess) -> float | None:
    try:
        return emu.stats().get("ingest_rows_per_s")
    except OSError:
        return None


def _git_commit() -> str | None:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return result.stdout.strip() or None


def run(
    preset: Preset, only: tuple[str, ...], output: Path, command: str, install_peer: bool = True
) -> dict[str, Any]:
    defaults = StarRocksConfig(host="x")
    result: dict[str, Any] = {
        "meta": {
            "command": command,
            "preset": preset.name,
            "workloads_run": list(only),
            "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "git_commit": _git_commit(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
            "seed": datagen.SEED,
            "emulator_compaction_interval_s": COMPACTION_INTERVAL_S,
            "max_buffer_memory_mb": defaults.max_buffer_memory_mb,
            "flush_interval_seconds": defaults.flush_interval_seconds,
            "batch_size": defaults.batch_size,
            "batch_bytes": defaults.batch_bytes,
        },
        "parse_floor_records_per_s": None,
    }
    started = time.perf_counter()
    shapes = preset.shapes()
    compile_package()
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as tmp,
        EmulatorProcess(compaction_interval_seconds=COMPACTION_INTERVAL_S) as emu,
    ):
        workdir = Path(tmp)
        bulk_input = workdir / "bulk.jsonl"
        needs_bulk = {"bulk", "single_insert_baseline", "peer", "parse_floor"} & set(only)
        if needs_bulk:
            _log(f"generating bulk input ({preset.bulk:,} records)")
            datagen.write_airbyte_input(shapes["bulk"], bulk_input)
        if set(CONNECTOR_WORKLOADS) & set(only):
            warm_up(emu, shapes["bulk"], workdir, preset.timeout_s)
        floors = []
        if "bulk" in only:
            result["bulk"], floors, result["bulk_runs"] = run_bulk(
                emu, shapes["bulk"], bulk_input, workdir, preset
            )
        elif "parse_floor" in only:
            floors.append(baselines.parse_floor(bulk_input))
        for name in CONNECTOR_WORKLOADS:
            if name not in only or name == "bulk":
                continue
            input_path = workdir / f"{name}.jsonl"
            _log(f"generating {name} input ({shapes[name].records:,} records)")
            datagen.write_airbyte_input(shapes[name], input_path)
            result[name] = _guarded(
                shapes[name].records,
                lambda name=name, input_path=input_path: run_connector_workload(
                    emu, shapes[name], input_path, workdir, preset.timeout_s
                ),
            )
            input_path.unlink()
        for name in PRESSURE_WORKLOADS:
            if name in only:
                result[name] = _guarded(
                    shapes[name].records,
                    lambda name=name: run_pressure_workload(shapes[name], workdir, preset.timeout_s),
                )
        if floors:
            result["parse_floor"] = baselines.combine_floors(floors)
            result["parse_floor_records_per_s"] = result["parse_floor"]["records_per_s"]
        if "single_insert_baseline" in only:
            result["single_insert_baseline"] = _guarded(
                preset.single_insert, lambda: run_single_insert(emu, bulk_input, preset.single_insert)
            )
        if "peer" in only:
            result["peer"] = _guarded(
                preset.peer,
                lambda: run_peer(emu, bulk_input, workdir, preset.peer, preset.timeout_s, install_peer),
            )
        result["emulator_ingest_rows_per_s"] = _ingest_rate(emu)
    result["meta"]["total_wall_s"] = round(time.perf_counter() - started, 1)
    result["meta"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report.finish_report(result, defaults.max_buffer_memory_mb)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="~1/10 of the records (about 2 minutes)")
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), help="sizes (overrides --quick); 'tiny' is for tests"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=[*ALL_WORKLOADS, "parse_floor"],
        help="run only this workload (repeatable)",
    )
    parser.add_argument(
        "--no-install", action="store_true", help="do not install the peer; record why it is missing"
    )
    parser.add_argument("--output", type=Path, help="JSON path (default bench/results/latest.json)")
    args = parser.parse_args(argv)
    preset = PRESETS[args.preset or ("quick" if args.quick else "full")]
    only = tuple(args.only) if args.only else (*ALL_WORKLOADS, "parse_floor")
    output = args.output or RESULTS / ("partial.json" if args.only else "latest.json")
    command = " ".join(["bench/run.py", *(argv if argv is not None else sys.argv[1:])])
    result = run(preset, only, output, command, install_peer=not args.no_install)
    print(report.format_table(result, ALL_WORKLOADS))
    print(f"\nwrote {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
