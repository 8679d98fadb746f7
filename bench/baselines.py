"""The two yardsticks the connector is measured against in the same run: the parse floor and one INSERT per record.

`parse_floor` is the least work any destination must do per record: decode the input line with orjson and
serialise the record's `data` again. It runs in this process, pinned to one core, over the same `bulk` input
file the connector reads, so `ratio_to_floor` compares two measurements of the same bytes on the same
machine at the same time (these machines are shared and noisy; absolute figures are not comparable).

`single_insert_baseline` is what the seed document calls the catastrophe: one `INSERT` statement per record
over the MySQL protocol. StarRocks turns each committed INSERT into a load and a new version on every tablet
(docs: "Loading data: INSERT" — every INSERT is a transaction; frequent small INSERTs create too many
versions), which is exactly what the connector's batching avoids.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pymysql

from bench.datagen import STARROCKS_COLUMNS


def quote_identifier(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def parse_floor(input_path: Path) -> dict[str, Any]:
    """orjson-decode every line of `input_path` and re-serialise each RECORD's data, on one core."""
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(previous)})
    try:
        records = 0
        loads = orjson.loads
        dumps = orjson.dumps
        started = time.perf_counter()
        cpu_started = time.process_time()
        with open(input_path, "rb", buffering=1 << 20) as lines:
            for line in lines:
                message = loads(line)
                if message["type"] == "RECORD":
                    dumps(message["record"]["data"])
                    records += 1
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    finally:
        os.sched_setaffinity(0, previous)
    return {
        "records": records,
        "wall_s": wall,
        "cpu_s": cpu,
        "records_per_s": records / wall if wall else 0.0,
    }


def combine_floors(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One floor from runs before and after the connector's `bulk`: total records over total time.

    The machine is shared, so load changes during a run; bracketing the connector with the floor makes the
    ratio compare like with like.
    """
    records = sum(r["records"] for r in runs)
    wall = sum(r["wall_s"] for r in runs)
    cpu = sum(r["cpu_s"] for r in runs)
    return {
        "records_per_s": round(records / wall, 1) if wall else 0.0,
        "cpu_us_per_record": round(cpu / records * 1e6, 3) if records else None,
        "runs": [{k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()} for r in runs],
    }


def _records(input_path: Path, limit: int) -> Iterator[dict[str, Any]]:
    count = 0
    with open(input_path, "rb") as lines:
        for line in lines:
            if count >= limit:
                return
            message = orjson.loads(line)
            if message["type"] == "RECORD":
                count += 1
                yield message["record"]["data"]


def _row(data: dict[str, Any]) -> tuple[Any, ...]:
    row = []
    for name, column_type in STARROCKS_COLUMNS:
        value = data.get(name)
        if column_type == "JSON" and value is not None:
            value = orjson.dumps(value).decode()
        elif column_type == "DATETIME" and value is not None:
            value = value.replace("T", " ").rstrip("Z")
        row.append(value)
    return tuple(row)


def create_table_sql(database: str, table: str) -> str:
    columns = ",\n  ".join(
        f"{quote_identifier(name)} {column_type}{' NOT NULL' if name == 'id' else ''}"
        for name, column_type in STARROCKS_COLUMNS
    )
    return (
        f"CREATE TABLE {quote_identifier(database)}.{quote_identifier(table)} (\n  {columns}\n)"
        f" DUPLICATE KEY({quote_identifier('id')}) DISTRIBUTED BY HASH({quote_identifier('id')}) BUCKETS 1"
        ' PROPERTIES ("replication_num" = "1")'
    )


def single_insert_baseline(
    host: str, port: int, user: str, password: str, database: str, input_path: Path, records: int
) -> dict[str, Any]:
    """Insert the first `records` records of `input_path`, one autocommitted INSERT each; time it."""
    table = "single_insert"
    connection = pymysql.connect(host=host, port=port, user=user, password=password, autocommit=True)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database)}")
            cursor.execute(create_table_sql(database, table))
            placeholders = ", ".join(["%s"] * len(STARROCKS_COLUMNS))
            statement = (
                f"INSERT INTO {quote_identifier(database)}.{quote_identifier(table)} VALUES ({placeholders})"
            )
            rows = [_row(data) for data in _records(input_path, records)]
            started = time.perf_counter()
            for row in rows:
                cursor.execute(statement, row)
            wall = time.perf_counter() - started
    finally:
        connection.close()
    return {
        "records": len(rows),
        "wall_s": wall,
        "records_per_s": len(rows) / wall if wall else 0.0,
        "table": f"{database}.{table}",
    }
