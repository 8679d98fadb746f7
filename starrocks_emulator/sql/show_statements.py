"""SHOW / DESC answers of the query port, shaped like StarRocks 3.x prints them.

Contract: each function takes the engine (and names) and returns `(rows, column_names)` for mysql-mimic.
Shapes and sources:
- SHOW TABLET FROM db.tbl: the 24 columns of fe `LocalTabletsProcDir.TITLE_NAMES` (TabletId, ReplicaId, BackendId,
  SchemaHash, Version, VersionHash, LstSuccessVersion, LstSuccessVersionHash, LstFailedVersion,
  LstFailedVersionHash, LstFailedTime, DataSize, RowCount, State, LstConsistencyCheckTime, CheckVersion,
  CheckVersionHash, VersionCount, PathHash, MetaUrl, CompactionStatus, DiskRootPath, IsConsistent, Checksum;
  the last three as read at a newer commit, not verified for 3.3), one row per replica.
- DESC tbl: Field, Type, Null, Key, Default, Extra with Type upper-case and Key true/false
  (docs/zh/sql-reference/sql-statements/table_bucket_part_index/DESCRIBE.md example one).
- SHOW [FULL] COLUMNS: MySQL's columns (Field, Type[, Collation], Null, Key, Default, Extra[, Privileges, Comment]).
- SHOW CREATE TABLE: Table, Create Table (ddl.show_create_table).
- ADMIN SHOW FRONTEND CONFIG: Key, AliasNames, Value, Type, IsMutable, Comment (the `starrocks` SQLAlchemy
  dialect reads Value of `run_mode` from it).
"""

from __future__ import annotations

import fnmatch
from typing import Any

from starrocks_emulator.sql.ddl import show_create_table, show_type
from starrocks_emulator.sql.translate import unknown_database, unknown_table
from starrocks_emulator.storage.fe_config import backend_id, frontend_config
from starrocks_emulator.version import current

TABLET_COLUMNS = [
    "TabletId", "ReplicaId", "BackendId", "SchemaHash", "Version", "VersionHash", "LstSuccessVersion",
    "LstSuccessVersionHash", "LstFailedVersion", "LstFailedVersionHash", "LstFailedTime", "DataSize", "RowCount",
    "State", "LstConsistencyCheckTime", "CheckVersion", "CheckVersionHash", "VersionCount", "PathHash", "MetaUrl",
    "CompactionStatus", "DiskRootPath", "IsConsistent", "Checksum",
]  # fmt: skip


def like_filter(values: list[str], pattern: str | None) -> list[str]:
    """MySQL LIKE (% and _), case-insensitive as StarRocks' SHOW ... LIKE is."""
    if pattern is None:
        return values
    glob = pattern.replace("*", "[*]").replace("?", "[?]").replace("%", "*").replace("_", "?")
    return [v for v in values if fnmatch.fnmatchcase(v.lower(), glob.lower())]


def _require_table(engine: Any, db: str, table: str) -> Any:
    if db not in engine.databases():
        raise unknown_database(db)
    if table not in engine.tables(db):
        raise unknown_table(db, table)
    return engine.table(db, table)


def show_databases(engine: Any, like: str | None) -> tuple[list[tuple], list[str]]:
    names = like_filter(["information_schema", *sorted(engine.databases())], like)
    return [(n,) for n in names], ["Database"]


def show_tables(engine: Any, db: str, full: bool, like: str | None) -> tuple[list[tuple], list[str]]:
    if db not in engine.databases():
        raise unknown_database(db)
    names = like_filter(sorted(engine.tables(db)), like)
    if full:
        return [(n, "BASE TABLE") for n in names], [f"Tables_in_{db}", "Table_type"]
    return [(n,) for n in names], [f"Tables_in_{db}"]


def show_create(engine: Any, db: str, table: str) -> tuple[list[tuple], list[str]]:
    meta = _require_table(engine, db, table)
    return [(meta.name, show_create_table(meta))], ["Table", "Create Table"]


def describe(engine: Any, db: str, table: str) -> tuple[list[tuple], list[str]]:
    meta = _require_table(engine, db, table)
    rows = [
        (
            c.name,
            c.type,
            "YES" if c.nullable else "NO",
            "true" if c.name in meta.key_columns else "false",
            c.default,
            "",
        )
        for c in meta.columns
    ]
    return rows, ["Field", "Type", "Null", "Key", "Default", "Extra"]


def show_columns(
    engine: Any, db: str, table: str, full: bool, like: str | None
) -> tuple[list[tuple], list[str]]:
    meta = _require_table(engine, db, table)
    wanted = set(like_filter([c.name for c in meta.columns], like))
    rows = []
    for c in meta.columns:
        if c.name not in wanted:
            continue
        null, key = ("YES" if c.nullable else "NO"), ("YES" if c.name in meta.key_columns else "NO")
        if full:
            rows.append((c.name, show_type(c.type), None, null, key, c.default, "", "", c.comment))
        else:
            rows.append((c.name, show_type(c.type), null, key, c.default, ""))
    if full:
        return rows, [
            "Field",
            "Type",
            "Collation",
            "Null",
            "Key",
            "Default",
            "Extra",
            "Privileges",
            "Comment",
        ]
    return rows, ["Field", "Type", "Null", "Key", "Default", "Extra"]


def _byte_size(size: int) -> str:
    """fe ByteSizeValue.toString(): `0B`, `1.234KB`, `12.000MB` ..."""
    value, unit = float(size), "B"
    for next_unit in ("KB", "MB", "GB", "TB"):
        if value < 1024:
            break
        value, unit = value / 1024, next_unit
    return f"{int(value)}B" if unit == "B" else f"{value:.3f}{unit}"


def show_tablet(
    engine: Any, db: str, table: str, be_host: str = "127.0.0.1"
) -> tuple[list[tuple], list[str]]:
    _require_table(engine, db, table)
    addresses = {backend_id(be.id): f"{be.host}:{be.http_port}" for be in engine.topology.backends}
    rows = []
    for t in engine.tablets(db, table):
        tablet_id = t["TabletId"]
        be = addresses.get(t.get("BackendId", 0)) or f"{be_host}:8040"
        rows.append((
            tablet_id, t.get("ReplicaId", tablet_id + 1), t.get("BackendId", 10001), t.get("SchemaHash", 0),
            t["Version"], 0, t.get("LstSuccessVersion", t["Version"]), 0, t.get("LstFailedVersion", -1), 0,
            t.get("LstFailedTime") or "NULL", _byte_size(int(t.get("DataSize", 0))), t.get("RowCount", 0),
            t.get("State", "NORMAL"), "NULL", -1, 0, t["VersionCount"], 0,
            f"http://{be}/api/meta/header/{tablet_id}", f"http://{be}/api/compaction/show?tablet_id={tablet_id}",
            "/opt/starrocks/be/storage", "true", -1,
        ))  # fmt: skip
    return rows, TABLET_COLUMNS


def admin_show_frontend_config(like: str | None, engine: Any = None) -> tuple[list[tuple], list[str]]:
    # run_mode from the release played (version.py); the rest from the engine's FE config (fe_config.py).
    config = {
        "run_mode": (current().run_mode, "String", "false"),
        **(frontend_config(engine) if engine is not None else {}),
    }
    names = like_filter(sorted(config), like)
    rows = [(n, "[]", *config[n], "") for n in names]
    return rows, ["Key", "AliasNames", "Value", "Type", "IsMutable", "Comment"]
