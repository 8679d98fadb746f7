"""How fast a table is rebuilt onto the surrogate key `_airbyte_pk` (the copy through the connector).

    python -m integration_tests.rebuild_rate [--rows 200000] [--keys 100000] [--batch-size 500000]

Starts an emulator (1 FE, 1 BE), appends `--rows` records of `--keys` distinct string ids through the real
connector (an `append` stream), then runs one `append_dedup` sync keyed on the id with no records: the first
sync in dedup mode rebuilds the table (table_rebuild.py -> surrogate_copy.py). Prints the connector's rebuild
log line and a JSON summary (rows read, loads, seconds, rows/s as the connector measured them; the sync's wall
time and the connector process's CPU seconds, start-up included). The emulator is DuckDB behind the MySQL and HTTP protocols, so the rate is a lower bound of what the
connector itself costs, not a StarRocks figure.
"""

from __future__ import annotations

import argparse
import re
import resource
import time

import orjson

from integration_tests.connector import catalog, config_for, connect, record, run_connector, stream
from starrocks_emulator.process import EmulatorProcess

SCHEMA = {
    "id": {"type": "string"},
    "updated_at": {"type": "string", "format": "date-time"},
    "name": {"type": "string"},
    "amount": {"type": "number"},
    "tags": {"type": "array"},
}
_RATE = re.compile(r"(\d+) rows read and (\d+) Stream Loads through the connector \((\d+) rows/s\)")
_SECONDS = re.compile(r"\(([\d.]+) s\)\s*$")


def _records(rows: int, keys: int) -> list[bytes]:
    out = []
    for i in range(rows):
        data = {
            "id": f"customer-{i % keys:08d}",
            "updated_at": f"2024-01-{1 + i // keys % 28:02d}T10:{i % 60:02d}:00Z",
            "name": f"name {i}",
            "amount": i * 0.25,
            "tags": ["a", i % 7],
        }
        out.append(record("t", data, emitted_at=1_700_000_000_000 + i))
    return out


def _children_cpu() -> float:
    """CPU seconds of the child processes that ended (the connector's runs; the emulator is still running)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=500_000)
    args = parser.parse_args()
    with EmulatorProcess() as emulator:
        config = config_for(emulator, database="rebuild_rate", batch_size=args.batch_size)
        append = stream("t", SCHEMA, generation_id=1, sync_id=1)
        run = run_connector("write", config, catalog(append), _records(args.rows, args.keys), timeout=3600)
        assert run.returncode == 0, run.stderr[-2000:]
        dedup = stream(
            "t", SCHEMA, mode="append_dedup", primary_key=[["id"]], cursor=["updated_at"], sync_id=2
        )
        started, cpu = time.monotonic(), _children_cpu()
        run = run_connector("write", config, catalog(dedup), [], timeout=3600)
        wall, cpu = time.monotonic() - started, _children_cpu() - cpu
        assert run.returncode == 0, run.stderr[-2000:]
        line = next(line for line in run.logs if "rebuilt" in line)
        with connect(emulator) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM `rebuild_rate`.`t`")
            (after,) = cursor.fetchone()
    print(line)
    read, loads, rate = (int(g) for g in _RATE.search(line).groups())  # type: ignore[union-attr]
    seconds = float(_SECONDS.search(line).group(1))  # type: ignore[union-attr]
    summary = {
        "rows": args.rows, "keys": args.keys, "batch_size": args.batch_size, "rows_read": read,
        "rows_after": after, "loads": loads, "copy_rows_per_s": rate, "rebuild_seconds": seconds,
        "sync_wall_seconds": round(wall, 1), "connector_cpu_seconds": round(cpu, 2),
    }  # fmt: skip
    print(orjson.dumps(summary).decode())


if __name__ == "__main__":
    main()
