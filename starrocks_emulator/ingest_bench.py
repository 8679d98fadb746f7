"""How fast the emulator ingests Stream Loads: `python -m starrocks_emulator.ingest_bench`.

Starts an emulator process, creates a Duplicate Key table of typical Airbyte shape, and sends `--loads` JSON
Stream Loads of `--rows` rows (~300 bytes each) through the FE (307 to the BE), timing each end to end from
the client. A body is one JSON array sent with `strip_outer_array: true`, as the connector sends it
(`--format ndjson`: one object per line). Prints rows/s end to end, the emulator's own `ingest_rows_per_s`
(DuckDB staging + commit) and `emulator_cpu_us_per_row`: the emulator process's CPU (user + system, every
thread) over the loads, per row, the figure `make bench` reports as `emulator_cpu_us_per_record`.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid

import orjson
import psutil
import pymysql

from starrocks_emulator.http_client import StreamLoadClient
from starrocks_emulator.process import EmulatorProcess

TABLE = (
    "CREATE TABLE bench.events (_airbyte_raw_id VARCHAR(36) NOT NULL, _airbyte_extracted_at DATETIME, "
    "_airbyte_meta JSON, _airbyte_generation_id BIGINT, id BIGINT, name VARCHAR(256), email VARCHAR(256), "
    "score DOUBLE, active BOOLEAN, created_at DATETIME, payload JSON) DUPLICATE KEY(_airbyte_raw_id) "
    "DISTRIBUTED BY HASH(_airbyte_raw_id) BUCKETS 8"
)


def body(rows: int, start: int, fmt: str = "array") -> bytes:
    lines = []
    for i in range(start, start + rows):
        lines.append(
            orjson.dumps(
                {
                    "_airbyte_raw_id": str(uuid.uuid4()),
                    "_airbyte_extracted_at": "2024-05-01 12:00:00",
                    "_airbyte_meta": {"changes": [], "sync_id": 1},
                    "_airbyte_generation_id": 1,
                    "id": i,
                    "name": f"user number {i}",
                    "email": f"user{i}@example.com",
                    "score": i * 0.5,
                    "active": i % 2 == 0,
                    "created_at": "2024-05-01 11:59:59",
                    "payload": {"k": i, "tags": ["a", "b"]},
                }
            )
        )
    if fmt == "array":
        return b"[" + b",".join(lines) + b"]"
    return b"\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000, help="rows per load")
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--format", choices=("array", "ndjson"), default="array")
    args = parser.parse_args()
    with EmulatorProcess() as emu:
        with pymysql.connect(
            host=emu.host, port=emu.query_port, user="root", password="", autocommit=True
        ) as conn:
            with conn.cursor() as cur:
                cur.execute("CREATE DATABASE bench")
                cur.execute(TABLE)
        client = StreamLoadClient(emu.host, emu.http_port, "root", "")
        process = psutil.Process(emu.pid)
        headers = {"format": "json"}
        if args.format == "array":
            headers["strip_outer_array"] = "true"
        total_rows = total_bytes = 0
        elapsed = cpu = 0.0
        for n in range(args.loads):
            payload = body(args.rows, n * args.rows, args.format)
            started, cpu_started = time.perf_counter(), sum(process.cpu_times()[:2])
            answer = client.stream_load("bench", "events", payload, {**headers, "label": f"bench_{n}"}).json()
            elapsed += time.perf_counter() - started
            cpu += sum(process.cpu_times()[:2]) - cpu_started
            assert answer["Status"] == "Success", answer
            total_rows += answer["NumberLoadedRows"]
            total_bytes += len(payload)
        stats = emu.stats()
    print(
        json.dumps(
            {
                "rows": total_rows,
                "avg_row_bytes": round(total_bytes / total_rows),
                "seconds": round(elapsed, 2),
                "end_to_end_rows_per_s": round(total_rows / elapsed),
                "emulator_ingest_rows_per_s": stats["ingest_rows_per_s"],
                "emulator_cpu_us_per_row": round(cpu / total_rows * 1e6, 2),
                "versions_created": stats["tables"]["bench.events"]["versions_created"],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
