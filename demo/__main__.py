"""`make demo` / `python -m demo`: a real Airbyte source into this destination, and what it cost StarRocks.

Steps, each printed as it happens:
1. the target: the bundled StarRocks emulator on free loopback ports, or a real StarRocks when STARROCKS_HOST
   (and STARROCKS_QUERY_PORT, STARROCKS_HTTP_PORT, STARROCKS_USER, STARROCKS_PASSWORD) are set;
2. the source: `source-faker` (the real Airbyte connector) in its own venv under .demo/, created on first run;
3. the sync: `source-faker read | destination-starrocks write`, a few hundred thousand records over the users,
   purchases and products streams, with progress and the destination's log lines;
4. the report: per table the rows, the loads and the versions StarRocks made, next to the versions one INSERT
   per record would have made. The demo exits non-zero when a table's rows differ from the records sent.

Files of the last run (configs, catalog, the processes' logs) are kept in .demo/last-run/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from demo import report
from demo.faker_source import FAKER_VERSION, FakerSource, source_environment
from demo.pipe import run_sync
from demo.target import Target

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RECORDS = 300_000
DEFAULT_DATABASE = "airbyte_demo"


def say(text: str) -> None:
    print(text, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description="Sync Airbyte's source-faker into StarRocks (the bundled emulator, or a real one when "
        "STARROCKS_HOST is set) and report rows, loads and versions per table.",
    )
    parser.add_argument(
        "--records", type=int, default=DEFAULT_RECORDS, help="about how many records (default %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=42, help="faker's random seed (default %(default)s)")
    parser.add_argument(
        "--parallelism", type=int, default=2, help="faker's worker processes (default %(default)s)"
    )
    parser.add_argument(
        "--mode", choices=("append", "overwrite", "append_dedup"), default="append",
        help="destination sync mode of every stream (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--database", default=DEFAULT_DATABASE, help="the demo's own database, dropped and recreated"
    )
    parser.add_argument(
        "--replication-num", type=int, default=None,
        help="table property replication_num (default: 1 on a real StarRocks, so a one-BE test cluster works)",
    )  # fmt: skip
    parser.add_argument(
        "--work-dir", type=Path, default=ROOT / ".demo", help="where the source's venv lives (default .demo/)"
    )
    parser.add_argument(
        "--run-dir", type=Path, default=None, help="configs and logs of this run (default WORK_DIR/last-run)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.records < 1:
        say("--records must be at least 1")
        return 2
    run_dir = args.run_dir or args.work_dir / "last-run"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    connector = Path(sys.executable).parent / "destination-starrocks"
    if not connector.exists():
        say(f"{connector} is missing: run `make install` first")
        return 2

    target = Target.from_environment()
    say("destination-starrocks demo")
    say(
        f"  1. target: {'STARROCKS_HOST is set, using it' if target.real else 'starting the bundled emulator'}"
    )
    try:
        target.start(log_path=run_dir / "emulator.log")
        say(f"     {target.describe()}")
        say("     (to load into a real StarRocks instead: export STARROCKS_HOST=... [STARROCKS_QUERY_PORT, ")
        say("      STARROCKS_HTTP_PORT, STARROCKS_USER, STARROCKS_PASSWORD] and run `make demo` again)")
        return _run(args, target, connector, run_dir)
    except RuntimeError as exc:
        say(f"demo failed: {exc}")
        return 1
    finally:
        target.stop()


def _run(args: argparse.Namespace, target: Target, connector: Path, run_dir: Path) -> int:
    say(f"  2. source: Airbyte source-faker {FAKER_VERSION}, in its own virtual environment")
    source = FakerSource.ensure(args.work_dir, say=lambda text: say(f"     {text}"))
    source_config = run_dir / "source_config.json"
    source_config.write_text(
        json.dumps(source.config(args.records, args.seed, args.parallelism)), encoding="utf-8"
    )
    catalog = source.configured_catalog(source_config, args.mode)
    streams = [entry["stream"]["name"] for entry in catalog["streams"]]
    catalog_path = run_dir / "catalog.json"
    catalog_path.write_text(json.dumps(catalog), encoding="utf-8")
    say(f"     streams: {', '.join(streams)}; about {args.records:,} records; sync mode {args.mode}")

    label_prefix = f"demo_{int(time.time())}"
    replication_num = (
        args.replication_num if args.replication_num is not None else (1 if target.real else None)
    )
    destination_config = run_dir / "destination_config.json"
    destination_config.write_text(
        json.dumps(target.connector_config(args.database, label_prefix, replication_num)), encoding="utf-8"
    )
    os.chmod(destination_config, 0o600)  # it holds the password
    say(f"     database `{args.database}` (dropped and recreated: it is the demo's own)")
    target.reset_database(args.database)

    say("  3. sync: source-faker read | destination-starrocks write")
    sync = run_sync(
        source.read_command(source_config, catalog_path),
        [str(connector), "write", "--config", str(destination_config), "--catalog", str(catalog_path)],
        source_environment(),
        run_dir,
        say,
    )
    for error in sync.errors:
        say(f"  error: {error}")
    if not sync.ok:
        say(f"  the sync failed; logs are in {run_dir}")
        return 1

    say("  4. what StarRocks holds now")
    tables = _table_names(streams)
    records_by_table = {tables[stream]: count for stream, count in sync.records.items()}
    figures = target.table_figures(args.database, label_prefix)
    say(report.render(figures, records_by_table, sync, target.describe()))
    for note in target.notes:
        say(f"  note: {note}")
    problems = report.check(figures, records_by_table, sync)
    for problem in problems:
        say(f"  MISMATCH: {problem}")
    say(f"\n  Files of this run (configs, catalog, logs): {run_dir}")
    return 1 if problems else 0


def _table_names(streams: list[str]) -> dict[str, str]:
    """The table the destination makes for each stream (its own naming rules)."""
    try:
        from destination_starrocks.naming import table_names
    except ImportError:
        return {stream: stream for stream in streams}
    return dict(table_names(streams))


if __name__ == "__main__":
    sys.exit(main())
