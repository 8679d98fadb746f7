"""The demo's closing report: per table rows, loads and versions, next to one INSERT per record.

Contract: `render(figures, records_by_table, sync, target_description)` returns the text to print, and
`check(figures, records_by_table, sync)` the problems that make the demo fail: a table whose row count differs from the records
sent for its stream (the demo loads into a database of its own, so they must be equal).

Why "one INSERT per record": StarRocks makes one data version per tablet for every committed load; a destination
that sends each record as its own INSERT makes as many versions as records, and StarRocks refuses loads once a
tablet holds `tablet_max_versions` (1000 by default) that compaction has not merged yet.
"""

from __future__ import annotations

from collections.abc import Sequence

from demo.pipe import SyncResult
from demo.target import TableFigures

TABLET_MAX_VERSIONS = 1000  # StarRocks' default BE setting `tablet_max_versions`


def _number(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"


def render(
    figures: Sequence[TableFigures], records_by_table: dict[str, int], sync: SyncResult, target: str
) -> str:
    header = ("table", "rows", "loads", "versions created", "versions now", "one INSERT per record", "fewer")
    rows = []
    for table in figures:
        naive = records_by_table.get(table.table, table.rows)
        fewer = f"{naive / table.versions_created:,.0f}x" if table.versions_created else "n/a"
        rows.append(
            (
                table.table,
                _number(table.rows),
                _number(table.loads),
                _number(table.versions_created),
                _number(table.version_count),
                f"{naive:,} versions",
                fewer,
            )
        )
    total_versions = sum(table.versions_created or 0 for table in figures)
    total_rows = sum(table.rows for table in figures)
    rows.append(
        (
            "total",
            f"{total_rows:,}",
            _number(sum(table.loads or 0 for table in figures)),
            f"{total_versions:,}",
            "",
            f"{sync.total_records:,} versions",
            f"{sync.total_records / total_versions:,.0f}x" if total_versions else "n/a",
        )
    )
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]
    lines = [
        "",
        f"Loaded into the {target}:",
        "",
        "  "
        + "  ".join(
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(header)
        ),
        "  " + "  ".join("-" * width for width in widths),
    ]
    for row in rows:
        lines.append(
            "  " + "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row))
        )
    rate = sync.total_records / sync.seconds if sync.seconds else 0.0
    lines += [
        "",
        f"  {sync.total_records:,} records in {sync.seconds:.1f} s ({rate:,.0f} records/s end to end, source included);",
        f"  {sync.states_sent:,} STATE messages sent, {sync.states_returned:,} returned by the destination once "
        "their records were committed.",
        f"  One INSERT per record would have made {sync.total_records:,} versions; StarRocks refuses loads once a "
        f"tablet holds {TABLET_MAX_VERSIONS:,} versions",
        "  that compaction has not merged yet ('Too many versions').",
    ]
    return "\n".join(lines)


def check(figures: Sequence[TableFigures], records_by_table: dict[str, int], sync: SyncResult) -> list[str]:
    problems = []
    by_table = {table.table: table for table in figures}
    for name, records in sorted(records_by_table.items()):
        table = by_table.get(name)
        if table is None:
            problems.append(f"table {name!r}: {records:,} records sent, but the table was not created")
        elif table.rows != records:
            problems.append(f"table {name!r}: {records:,} records sent, {table.rows:,} rows in the table")
    if sync.total_records == 0:
        problems.append("the source sent no records")
    return problems
