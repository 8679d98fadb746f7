"""Turn measurements and emulator stats into bench/results/latest.json and the terminal table.

Contract: `workload_entry(...)` gives one workload's JSON object with every key issue 7 lists (`records`,
`wall_s`, `records_per_s`, `connector_cpu_s`, `cpu_us_per_record`, `peak_rss_mb`, `loads`,
`max_versions_per_table`, and for `chatty_state` also `max_loads_per_table_per_interval`), the highest version
count any of its tables' tablets reached (`peak_version_count`, which compaction does not lower; per table in
`peak_version_count_per_table`) next to the emulator's `tablet_max_versions` (issue 14); a workload that
failed keeps every key (as null) and says why in `error`. `finish_report(...)` adds the top-level
`parse_floor_records_per_s`, `ratio_to_floor` (bulk), `dedup_ratio_to_floor`, `ratio_to_peer`, the
emulator's ingest rate and each target with whether it holds, and to every connector workload its own
`ratio_to_floor`, `cpu_ratio_to_floor` (the floor's CPU per record over the connector's),
`emulator_cpu_us_per_record`, `connector_busy` (connector CPU over wall time: below 1, it waited) and
`ratio_to_floor_bound` (the best ratio those two CPU costs allow on the run's cores, see `_ratio_bound`).
Every figure that is judged is a ratio of two things measured in the same run, or a count, never an
absolute time: the machines are shared and noisy.

Why CPU per record beside records/s: on two cores the emulator's ingest runs beside the connector, so the
wall-time ratio says how fast the whole pipeline went, while CPU per record says what the connector itself
costs, and the emulator's CPU per row says what the server cost on the same machine.
"""

from __future__ import annotations

import bisect
from typing import Any

from bench.workloads import CONNECTOR_WORKLOADS

WORKLOAD_KEYS = (
    "records",
    "wall_s",
    "records_per_s",
    "connector_cpu_s",
    "cpu_us_per_record",
    "peak_rss_mb",
    "loads",
    "max_versions_per_table",
    "peak_version_count",
    "tablet_max_versions",
)


def tables_of_database(stats: dict[str, Any], database: str) -> dict[str, dict[str, Any]]:
    """The emulator's per-table stats (`GET /_emulator/stats`) for the tables of one database."""
    prefix = f"{database}."
    return {name: table for name, table in stats.get("tables", {}).items() if name.startswith(prefix)}


def max_loads_in_window(commit_times: list[float], interval_s: float) -> int:
    """Most loads whose commit times fall within any window [t, t + interval_s) — a sliding window."""
    times = sorted(commit_times)
    best = 0
    for i, start in enumerate(times):
        best = max(best, bisect.bisect_left(times, start + interval_s, lo=i) - i)
    return best


def load_stats(tables: dict[str, dict[str, Any]], tablet_max_versions: int | None = None) -> dict[str, Any]:
    """Loads and versions over a workload's tables: total loads, the worst table's versions and peak."""
    peaks = {name: int(t.get("peak_version_count", t.get("version_count", 0))) for name, t in tables.items()}
    versions = {
        "peak_version_count": max(peaks.values(), default=0),
        "peak_version_count_per_table": peaks,
        "tablet_max_versions": tablet_max_versions,
    }
    if not tables:
        return {
            "loads": 0,
            "max_versions_per_table": 0,
            "max_version_count": 0,
            "rows": 0,
            "tables": 0,
            **versions,
        }
    return {
        **versions,
        "loads": sum(int(t.get("loads", 0)) for t in tables.values()),
        "max_versions_per_table": max(int(t.get("versions_created", 0)) for t in tables.values()),
        "max_version_count": max(int(t.get("version_count", 0)) for t in tables.values()),
        "rows": sum(int(t.get("rows", 0)) for t in tables.values()),
        "tables": len(tables),
    }


def workload_entry(
    records: int,
    wall_s: float | None,
    cpu_s: float | None,
    peak_rss_mb: float | None,
    loads: dict[str, Any] | None,
    error: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    ok = error is None and wall_s is not None
    entry: dict[str, Any] = {
        "records": records,
        "wall_s": round(wall_s, 3) if ok and wall_s is not None else None,
        "records_per_s": round(records / wall_s, 1) if ok and wall_s else None,
        "connector_cpu_s": round(cpu_s, 3) if ok and cpu_s is not None else None,
        "cpu_us_per_record": _per_record_us(cpu_s, records) if ok else None,
        "peak_rss_mb": round(peak_rss_mb, 1) if ok and peak_rss_mb is not None else None,
        "loads": loads["loads"] if loads else None,
        "max_versions_per_table": loads["max_versions_per_table"] if loads else None,
        "peak_version_count": loads.get("peak_version_count") if loads else None,
        "tablet_max_versions": loads.get("tablet_max_versions") if loads else None,
    }
    if loads and loads.get("peak_version_count_per_table"):
        entry["peak_version_count_per_table"] = loads["peak_version_count_per_table"]
    if loads:
        entry["max_version_count"] = loads["max_version_count"]
        entry["rows_in_tables"] = loads["rows"]
        entry["tables"] = loads["tables"]
    entry.update(extra)
    if error is not None:
        entry["error"] = error
    return entry


def _per_record_us(seconds: float | None, records: int | None) -> float | None:
    if seconds is None or not records:
        return None
    return round(seconds / records * 1e6, 3)


def _ratio_bound(entry: dict[str, Any], floor_rate: float | None, cpus: int | None) -> float | None:
    """The best ratio_to_floor this run's CPU costs allow: the connector and the emulator share `cpus` cores,
    each record costs the connector its CPU per record and the emulator its CPU per row, and neither can go
    faster than its own cost on one core (perfect overlap, no waiting: a bound, not a forecast)."""
    connector, emulator = entry.get("cpu_us_per_record"), entry.get("emulator_cpu_us_per_record")
    if not connector or emulator is None or not floor_rate or not cpus:
        return None
    best_us = max(connector, emulator, (connector + emulator) / cpus)
    return _ratio(1e6 / best_us, floor_rate)


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 3)


def _per_cpu_second(entry: dict[str, Any]) -> float | None:
    cpu = entry.get("connector_cpu_s")
    return entry["records"] / cpu if cpu else None


def _target(measured: float | None, limit: float | None, at_least: bool) -> dict[str, Any]:
    if measured is None or limit is None:
        holds = None
    else:
        holds = measured >= limit if at_least else measured <= limit
    return {"measured": measured, "limit": limit, "holds": holds}


def finish_report(report: dict[str, Any], max_buffer_memory_mb: int) -> dict[str, Any]:
    """Add the ratios and the targets to `report` (which holds the workloads and the parse floor)."""

    def measured(name: str) -> dict[str, Any]:
        entry = report.get(name) or {}
        return {} if entry.get("error") else entry  # a failed workload measures nothing

    floor_rate = report.get("parse_floor_records_per_s")
    floor_cpu = (report.get("parse_floor") or {}).get("cpu_us_per_record")
    for entry in (report.get(name) for name in CONNECTOR_WORKLOADS):
        if not entry or entry.get("error"):
            continue
        entry["ratio_to_floor"] = _ratio(entry.get("records_per_s"), floor_rate)
        entry["cpu_ratio_to_floor"] = _ratio(floor_cpu, entry.get("cpu_us_per_record"))
        entry["emulator_cpu_us_per_record"] = _per_record_us(
            entry.get("emulator_cpu_s"), entry.get("records")
        )
        entry["connector_busy"] = _ratio(entry.get("connector_cpu_s"), entry.get("wall_s"))
        entry["ratio_to_floor_bound"] = _ratio_bound(
            entry, floor_rate, (report.get("meta") or {}).get("cpus")
        )
    bulk, peer, many, chatty = (measured(n) for n in ("bulk", "peer", "many_streams", "chatty_state"))
    pressure = measured("chatty_slow_compaction")
    ceiling = pressure.get("ceiling_versions")
    report["ratio_to_floor"] = _ratio(bulk.get("records_per_s"), floor_rate)
    report["dedup_ratio_to_floor"] = measured("dedup").get("ratio_to_floor")
    report["ratio_to_peer"] = _ratio(bulk.get("records_per_s"), peer.get("records_per_s"))
    # Not a target; shown because the peer's wall time is mostly the server's (it waits on INSERTs), while
    # CPU per record is what each client itself costs.
    report["cpu_ratio_to_peer"] = _ratio(_per_cpu_second(bulk), _per_cpu_second(peer))
    rss_limit = max_buffer_memory_mb + 150
    report["targets"] = {
        "ratio_to_floor >= 0.5": _target(report["ratio_to_floor"], 0.5, at_least=True),
        "ratio_to_peer >= 10": _target(report["ratio_to_peer"], 10, at_least=True),
        "bulk.max_versions_per_table <= 10": _target(bulk.get("max_versions_per_table"), 10, at_least=False),
        "chatty_state.max_loads_per_table_per_interval <= 1": _target(
            chatty.get("max_loads_per_table_per_interval"), 1, at_least=False
        ),
        f"bulk.peak_rss_mb <= max_buffer_memory_mb + 150 ({rss_limit})": _target(
            bulk.get("peak_rss_mb"), rss_limit, at_least=False
        ),
        f"many_streams.peak_rss_mb <= max_buffer_memory_mb + 150 ({rss_limit})": _target(
            many.get("peak_rss_mb"), rss_limit, at_least=False
        ),
        f"chatty_slow_compaction.peak_version_count <= version_ceiling x tablet_max_versions ({ceiling})": _target(
            pressure.get("peak_version_count"), ceiling, at_least=False
        ),
        "chatty_slow_compaction.too_many_versions_answers == 0": _target(
            pressure.get("too_many_versions_answers"), 0, at_least=False
        ),
    }
    return report


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if value >= 10 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def format_table(report: dict[str, Any], workloads: tuple[str, ...]) -> str:
    """A short plain-text table of the workloads, the ratios and the targets."""
    header = (
        "workload", "records", "wall_s", "records/s", "cpu_s", "cpu_us/rec", "rss_mb", "loads", "max_versions",
        "peak_versions", "of_limit", "ratio", "cpu_ratio", "busy", "emu_us/rec", "bound",
    )  # fmt: skip
    keys = (
        *WORKLOAD_KEYS,
        "ratio_to_floor",
        "cpu_ratio_to_floor",
        "connector_busy",
        "emulator_cpu_us_per_record",
        "ratio_to_floor_bound",
    )
    rows = [header]
    for name in workloads:
        entry = report.get(name)
        if not entry:
            continue
        label = name + (" (FAILED)" if entry.get("error") else "")
        rows.append((label, *(_cell(entry.get(key)) for key in keys)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row))
        for row in rows
    ]
    lines.append("")
    floor = report.get("parse_floor") or {}
    lines.append(
        f"parse floor: {_cell(report.get('parse_floor_records_per_s'))} records/s, "
        f"{_cell(floor.get('cpu_us_per_record'))} us CPU per record (orjson, one core); ratio = records/s "
        "over the floor's, cpu_ratio = the floor's CPU per record over the connector's, busy = connector "
        "CPU over wall time, bound = the best ratio the connector's and the emulator's CPU allow on these cores"
    )
    if runs := report.get("bulk_runs"):
        lines.append(
            "bulk runs (the median one above, each against the floors just before and after it): ratio "
            + ", ".join(_cell(run.get("ratio_to_floor")) for run in runs)
        )
    lines.append(f"emulator ingest: {_cell(report.get('emulator_ingest_rows_per_s'))} rows/s")
    for name, target in report.get("targets", {}).items():
        verdict = {True: "holds", False: "MISSED", None: "not measured"}[target["holds"]]
        lines.append(f"target {name}: {_cell(target['measured'])} -> {verdict}")
    return "\n".join(lines)
