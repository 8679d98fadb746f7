"""Cluster and administration statements of the query port that sqlglot does not parse (matched by pattern).

Contract: `admin_statement(runner, text)` answers the statement when it is one of these and returns None
otherwise; answers are `(column_names, rows)` or None for OK.
- `SHOW ALTER TABLE COLUMN [FROM db] [WHERE Col = 'v' [AND ...]] [ORDER BY Col [ASC|DESC]] [LIMIT n]`: the
  schema change jobs of a database (storage/alter_jobs.py), filtered as common/proc/SchemaChangeProcDir
  .filterResult does for string equality.
- `SHOW BACKENDS`, `SHOW FRONTENDS`: from `engine.topology`, with the columns of common/proc/BackendsProcDir
  .TITLE_NAMES (3.3: BackendId ... Location) and FrontendsProcNode.TITLE_NAMES (Name, IP, EditLogPort, HttpPort,
  QueryPort, RpcPort, Role, ClusterId, Join, Alive, ReplayedJournalId, LastHeartbeat, IsHelper, ErrMsg,
  StartTime, Version); Role LEADER / FOLLOWER; Alive "true" / "false". Capacities and ports StarRocks knows but
  the emulator does not have (heartbeat, brpc, edit log) are the defaults (9050, 8060, 9010, 9020, 8060).
- `ADMIN SET FRONTEND CONFIG ("key" = "value")`: storage/fe_config.py.
- `RECOVER TABLE [db.]t`: storage/recycle_bin.py (needs the DROP privilege on the database, not verified).
"""

from __future__ import annotations

import re
import time
from typing import Any

from starrocks_emulator.sql.translate import no_database_selected, unknown_database
from starrocks_emulator.storage.alter_jobs import TITLE_NAMES
from starrocks_emulator.storage.catalog import EmulatorError
from starrocks_emulator.storage.fe_config import backend_id, set_frontend_config

Answer = None | tuple[list[str], list[tuple]]
_NAME = r"`[^`]+`|[\w$-]+"
_SHOW_ALTER = re.compile(
    rf"^\s*SHOW\s+ALTER\s+TABLE\s+COLUMN(?:\s+(?:FROM|IN)\s+(?P<db>{_NAME}))?(?:\s+WHERE\s+(?P<where>.+?))?"
    r"(?:\s+ORDER\s+BY\s+(?P<order>\w+)(?:\s+(?P<dir>ASC|DESC))?)?(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_CONDITION = re.compile(r"^\s*`?(\w+)`?\s*=\s*'([^']*)'\s*$")
_SHOW_NODES = re.compile(r"^\s*SHOW\s+(?P<kind>BACKENDS|FRONTENDS)\s*$", re.IGNORECASE)
_ADMIN_SET = re.compile(
    r"""^\s*ADMIN\s+SET\s+FRONTEND\s+CONFIG\s*\(\s*["'](?P<key>\w+)["']\s*=\s*["'](?P<value>[^"']*)["']\s*\)\s*$""",
    re.IGNORECASE,
)
_RECOVER = re.compile(rf"^\s*RECOVER\s+TABLE\s+(?:(?P<db>{_NAME})\.)?(?P<table>{_NAME})\s*$", re.IGNORECASE)
BACKEND_COLUMNS = [
    "BackendId", "IP", "HeartbeatPort", "BePort", "HttpPort", "BrpcPort", "LastStartTime", "LastHeartbeat",
    "Alive", "SystemDecommissioned", "ClusterDecommissioned", "TabletNum", "DataUsedCapacity", "AvailCapacity",
    "TotalCapacity", "UsedPct", "MaxDiskUsedPct", "ErrMsg", "Version", "Status", "DataTotalCapacity",
    "DataUsedPct", "CpuCores", "MemLimit", "NumRunningQueries", "MemUsedPct", "CpuUsedPct", "DataCacheMetrics",
    "Location",
]  # fmt: skip
FRONTEND_COLUMNS = [
    "Name", "IP", "EditLogPort", "HttpPort", "QueryPort", "RpcPort", "Role", "ClusterId", "Join", "Alive",
    "ReplayedJournalId", "LastHeartbeat", "IsHelper", "ErrMsg", "StartTime", "Version",
]  # fmt: skip
_STARTED = time.strftime("%Y-%m-%d %H:%M:%S")


def _unquote(name: str | None) -> str | None:
    return name[1:-1] if name and name.startswith("`") else name


def admin_statement(runner: Any, text: str) -> Answer | bool:
    """The answer of a statement of this module, or False when `text` is none of them."""
    if match := _SHOW_ALTER.match(text):
        return show_alter_column(runner, match)
    if match := _SHOW_NODES.match(text):
        engine = runner.engine
        if match.group("kind").upper() == "BACKENDS":
            return BACKEND_COLUMNS, backend_rows(engine)
        return FRONTEND_COLUMNS, frontend_rows(engine)
    if match := _ADMIN_SET.match(text):
        if runner.user != "root":  # ADMIN statements need the OPERATE privilege; the emulator has only root
            raise EmulatorError(
                5203,
                "Access denied; you need (at least one of) the OPERATE privilege(s) on SYSTEM for this operation",
            )
        set_frontend_config(runner.engine, match.group("key"), match.group("value"))
        return None
    if match := _RECOVER.match(text):
        db = _unquote(match.group("db")) or runner.database
        if not db:
            raise no_database_selected()
        runner.engine.check_privilege(runner.user, "DROP", db, None)
        runner.engine.recover_table(db, _unquote(match.group("table")))
        return None
    return False


def show_alter_column(runner: Any, match: re.Match[str]) -> Answer:
    db = _unquote(match.group("db")) or runner.database
    if not db:
        raise no_database_selected()
    if db not in runner.engine.databases():
        raise unknown_database(db)
    rows = runner.engine.alter_job_rows(db)
    for condition in re.split(r"\s+AND\s+", match.group("where") or "", flags=re.IGNORECASE):
        if not condition.strip():
            continue
        parsed = _CONDITION.match(condition)
        if parsed is None or parsed.group(1).lower() not in {t.lower() for t in TITLE_NAMES}:
            raise EmulatorError(
                1064, f"Getting analyzing error. Detail message: Unsupported where clause: {condition}."
            )
        index = [t.lower() for t in TITLE_NAMES].index(parsed.group(1).lower())
        rows = [r for r in rows if r[index] == parsed.group(2)]
    if order := match.group("order"):
        index = (
            [t.lower() for t in TITLE_NAMES].index(order.lower())
            if order.lower() in (t.lower() for t in TITLE_NAMES)
            else 0
        )
        numeric = TITLE_NAMES[index] in ("JobId", "IndexId", "OriginIndexId", "TransactionId", "Timeout")
        rows.sort(
            key=lambda r: int(r[index]) if numeric else r[index],
            reverse=(match.group("dir") or "").upper() == "DESC",
        )
    if limit := match.group("limit"):
        rows = rows[: int(limit)]
    return TITLE_NAMES, rows


def backend_rows(engine: Any) -> list[tuple]:
    topology = engine.topology
    tablets = engine.tablet_count_by_backend()
    rows = []
    for be in topology.backends:
        bid = backend_id(be.id)
        alive = "true" if be.alive else "false"
        rows.append((
            str(bid), be.host, "9050", "9060", str(be.http_port), "8060", _STARTED, _STARTED, alive, "false",
            "false", str(tablets.get(bid, 0)), "0.000 B", "1.000 TB", "1.000 TB", "0.00 %", "0.00 %",
            "" if be.alive else "lost heartbeat", engine_version(), '{"lastSuccessReportTabletsTime":"N/A"}',
            "1.000 TB", "0.00 %", "2", "8.000GB", "0", "0.00 %", "0.0 %", "N/A", "",
        ))  # fmt: skip
    return rows


def frontend_rows(engine: Any) -> list[tuple]:
    rows = []
    for fe in engine.topology.frontends:
        rows.append((
            f"{fe.host}_9010_{fe.id}", fe.host, "9010", str(fe.http_port), str(fe.query_port), "9020",
            "LEADER" if fe.leader else "FOLLOWER", "1", "true", "true" if fe.alive else "false", "1", _STARTED,
            "true" if fe.leader else "false", "", _STARTED if fe.alive else "NULL", engine_version(),
        ))  # fmt: skip
    return rows


def engine_version() -> str:
    """The version the emulator plays (version.py, set by --starrocks-version)."""
    from starrocks_emulator.version import current

    return current().version
