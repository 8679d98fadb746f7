"""Version pressure: how close each target table is to StarRocks refusing loads, read from StarRocks itself.

Every committed load adds a version to each tablet it touches, and a shared-nothing BE refuses loads into a
tablet whose version count passes `tablet_max_versions` ("too many versions"; be/src/storage/delta_writer.cpp);
a shared-data cluster refuses commits into a partition whose compaction score passes the FE's
`lake_compaction_score_upper_bound` ("too large compaction score"; docs administration/management/compaction.md).
What is readable, and with which privilege (StarRocks' own definitions, fe SystemTable.requireOperatePrivilege):
- **version count** (shared-nothing): `information_schema.be_tablets` NUM_VERSION, which is the tablet's
  `version_count()` the BE compares with `tablet_max_versions` (storage/tablet.cpp `get_basic_info`). Filtered
  by TABLE_ID, which `information_schema.tables_config` gives per table since 3.0.4 (release notes, #24061),
  so the FE pushes the table down to the BEs rather than scanning every tablet. Recent versions show a user the
  tablets of the tables it holds any privilege on; older 3.x ask OPERATE on SYSTEM. `SHOW TABLET` (VersionCount)
  always asks OPERATE (ADMIN on 2.x), so it would show nothing be_tablets does not, and is not used.
- **compaction score** (shared-data): `information_schema.partitions_meta` MAX_CS, filled only for cloud-native
  tables (fe InformationSchemaDataSource `genPartitionMetaInfo`); any privilege on the table.
- **the limit**: `information_schema.be_configs` VALUE of `tablet_max_versions` (the smallest over the BEs), which
  asks OPERATE on SYSTEM; else StarRocks' default, 1000. For shared-data, `lake_compaction_score_upper_bound` from
  `ADMIN SHOW FRONTEND CONFIG` (OPERATE too), else its default, 2000.
Where nothing is readable the writer falls back to what loads answer ("too many versions": the seconds a load
waited for compaction, `LoadResult.compaction_wait_seconds`).

`VersionPressureReader` runs these queries on its own SQL connection, in one daemon thread, so the writer's loop
only hands it tables and collects readings: a slow FE never stalls the sync, and a query stuck on a dead FE
cannot hold the process at exit (concurrent.futures would join its worker then; a daemon thread is not joined).
The probe functions (`read_version_limit`, `read_table`) are plain and synchronous, for `check` to report with.
What the writer makes of the readings is pressure_control.py's.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from destination_starrocks.errors import ConfigError, ConnectorError, StarRocksSqlError
from destination_starrocks.spec import StarRocksConfig
from destination_starrocks.sql import SqlClient

logger = logging.getLogger("airbyte")

DEFAULT_TABLET_MAX_VERSIONS = 1000  # BE config default (be/src/common/config.h CONF_mInt16)
DEFAULT_COMPACTION_SCORE_UPPER_BOUND = 2000  # FE config lake_compaction_score_upper_bound default
# At most one reading per table this often, and only while the writer loads into it; with many tables, at most
# one query every READ_SPACING_SECONDS in all (pressure_control.TablePressure.due).
READ_EVERY_SECONDS = 5.0
READ_SPACING_SECONDS = 0.25
VERSIONS = "version count"
COMPACTION_SCORE = "compaction score"

TABLE_ID_SQL = (
    "SELECT TABLE_ID FROM information_schema.tables_config WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s"
)
BE_TABLETS_SQL = "SELECT MAX(NUM_VERSION) FROM information_schema.be_tablets WHERE TABLE_ID = %s"
PARTITIONS_META_SQL = (
    "SELECT MAX(MAX_CS) FROM information_schema.partitions_meta WHERE DB_NAME = %s AND TABLE_NAME = %s"
)
BE_CONFIGS_SQL = "SELECT VALUE FROM information_schema.be_configs WHERE NAME = 'tablet_max_versions'"
SCORE_BOUND_SQL = "ADMIN SHOW FRONTEND CONFIG LIKE 'lake_compaction_score_upper_bound'"


class Sql(Protocol):
    def query(self, sql: str, args: Any = None) -> list[tuple]: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Limit:
    value: int
    source: str  # where it was read, or why the default is used


@dataclass(frozen=True)
class Reading:
    """One table's version pressure as StarRocks reported it (or could not)."""

    versions: float | None  # the highest version count (or compaction score) of its tablets; None: unreadable
    limit: int  # the count at which StarRocks refuses loads
    kind: str  # VERSIONS or COMPACTION_SCORE
    source: str  # where it came from, or why nothing was readable
    started: float  # monotonic time the read began (loads committed after it may be missing from it)
    retry: bool = False  # unreadable for now only (the connection failed): ask again later


@dataclass
class TableProbe:
    """What was learnt about reading one table: its id, and the sources that failed (with why)."""

    table_id: int | None = None
    failed: dict[str, str] = field(default_factory=dict)


# MySQL client errors of a connection that failed (not of a query StarRocks refused).
CONNECTION_ERRORS = {2003, 2005, 2006, 2013}


def _connection_failed(exc: BaseException) -> bool:
    return isinstance(exc, ConfigError) or (
        isinstance(exc, StarRocksSqlError) and exc.code in CONNECTION_ERRORS
    )


def _reason(exc: BaseException) -> str:
    return exc.message if isinstance(exc, ConnectorError) else f"{type(exc).__name__}: {exc}"


def read_version_limit(sql: Sql) -> Limit:
    """`tablet_max_versions` of the strictest BE, or StarRocks' default when it cannot be read."""
    try:
        values = [
            int(row[0]) for row in sql.query(BE_CONFIGS_SQL) if str(row[0]).strip().lstrip("-").isdigit()
        ]
    except ConnectorError as exc:
        return Limit(DEFAULT_TABLET_MAX_VERSIONS, f"default (information_schema.be_configs: {_reason(exc)})")
    if not values:
        return Limit(DEFAULT_TABLET_MAX_VERSIONS, "default (information_schema.be_configs has no value)")
    return Limit(min(values), "information_schema.be_configs")


def read_score_limit(sql: Sql) -> Limit:
    """`lake_compaction_score_upper_bound` of the FE (ADMIN SHOW FRONTEND CONFIG: Key, AliasNames, Value, ...)."""
    try:
        rows = sql.query(SCORE_BOUND_SQL)
        return Limit(int(float(rows[0][2])), "ADMIN SHOW FRONTEND CONFIG")
    except (ConnectorError, IndexError, ValueError, TypeError) as exc:
        return Limit(DEFAULT_COMPACTION_SCORE_UPPER_BOUND, f"default ({_reason(exc)})")


def _scalar(sql: Sql, statement: str, args: tuple) -> Any:
    rows = sql.query(statement, args)
    return rows[0][0] if rows else None


def read_table(
    sql: Sql,
    database: str,
    table: str,
    probe: TableProbe,
    version_limit: Limit,
    score_limit: Callable[[], Limit],
    clock: Callable[[], float] = time.monotonic,
) -> Reading:
    """Read one table's pressure from the first source that answers; `probe` remembers what StarRocks refused.
    A connection that fails raises (the caller may ask again later)."""
    started = clock()
    if "be_tablets" not in probe.failed:
        try:
            if probe.table_id is None:
                table_id = _scalar(sql, TABLE_ID_SQL, (database, table))
                if table_id is None:
                    raise LookupError("tables_config gives no TABLE_ID for it")
                probe.table_id = int(table_id)
            versions = _scalar(sql, BE_TABLETS_SQL, (probe.table_id,))
            if versions is not None:
                return Reading(
                    float(versions), version_limit.value, VERSIONS, "information_schema.be_tablets", started
                )
            # No tablet rows: a shared-data cluster, or a table since dropped and created again (a new id).
            probe.table_id = None
            probe.failed["be_tablets"] = "no tablet rows for the table"
        except (ConnectorError, LookupError, ValueError, TypeError) as exc:
            if _connection_failed(exc):
                raise
            probe.failed["be_tablets"] = _reason(exc)
    if "partitions_meta" not in probe.failed:
        try:
            score = _scalar(sql, PARTITIONS_META_SQL, (database, table))
            if score is not None and float(score) > 0:
                limit = score_limit()
                return Reading(
                    float(score), limit.value, COMPACTION_SCORE, "information_schema.partitions_meta", started
                )
            probe.failed["partitions_meta"] = "no compaction score (not a shared-data table)"
        except (ConnectorError, ValueError, TypeError) as exc:
            if _connection_failed(exc):
                raise
            probe.failed["partitions_meta"] = _reason(exc)
    why = "; ".join(f"{source}: {reason}" for source, reason in probe.failed.items())
    return Reading(None, version_limit.value, VERSIONS, f"not readable ({why})", started)


class VersionPressureReader:
    """Reads tables' version pressure in the background, on its own SQL connection.

    The writer's loop calls `start()` once (reads the limit, synchronously), `request(database, table)` whenever
    a table it loads into is due (cheap; a table already queued is not queued twice), and `collect()` to take
    the readings that arrived; `close()` at the end. Failures never reach the sync: a table whose pressure
    cannot be read gets a Reading with `versions=None` saying why (`retry` when only the connection failed).
    """

    def __init__(self, connect: Callable[[], Sql], clock: Callable[[], float] = time.monotonic) -> None:
        self._connect = connect
        self._clock = clock
        self._sql: Sql | None = None
        self._jobs: queue.SimpleQueue[tuple[str, str] | None] = queue.SimpleQueue()
        self._results: queue.SimpleQueue[tuple[tuple[str, str], Reading]] = queue.SimpleQueue()
        self._queued: set[tuple[str, str]] = set()  # touched by the loop thread only
        self._probes: dict[tuple[str, str], TableProbe] = {}  # touched by the worker only
        self._score_limit: Limit | None = None
        self._thread: threading.Thread | None = None
        self.limit = Limit(DEFAULT_TABLET_MAX_VERSIONS, "default (not read yet)")

    def start(self) -> Limit:
        try:
            self._sql = self._connect()
            self.limit = read_version_limit(self._sql)
        except ConnectorError as exc:
            self.limit = Limit(DEFAULT_TABLET_MAX_VERSIONS, f"default ({_reason(exc)})")
        self._thread = threading.Thread(target=self._work, name="version-pressure", daemon=True)
        self._thread.start()
        return self.limit

    def request(self, database: str, table: str) -> None:
        key = (database, table)
        if key not in self._queued and self._thread is not None:
            self._queued.add(key)
            self._jobs.put(key)

    def queued(self) -> set[tuple[str, str]]:
        """Tables asked for and not answered yet."""
        return set(self._queued)

    def collect(self) -> list[tuple[tuple[str, str], Reading]]:
        out = []
        while True:
            try:
                key, reading = self._results.get_nowait()
            except queue.Empty:
                return out
            self._queued.discard(key)
            out.append((key, reading))

    def close(self) -> None:
        self._jobs.put(None)
        if self._thread is not None:
            self._thread.join(timeout=1.0)  # a query stuck on a dead FE must not hold the sync's end

    def _scores(self) -> Limit:
        if self._score_limit is None:
            assert self._sql is not None
            self._score_limit = read_score_limit(self._sql)
        return self._score_limit

    def _work(self) -> None:
        try:
            while (key := self._jobs.get()) is not None:
                probe = self._probes.setdefault(key, TableProbe())
                try:
                    if self._sql is None:
                        self._sql = self._connect()
                    reading = read_table(self._sql, *key, probe, self.limit, self._scores, self._clock)
                except Exception as exc:  # noqa: BLE001 - reading pressure must never fail the sync
                    why = f"not readable now ({_reason(exc)})"
                    reading = Reading(None, self.limit.value, VERSIONS, why, self._clock(), retry=True)
                    if self._sql is not None:
                        self._sql.close()  # reconnects on the next reading
                self._results.put((key, reading))
        finally:
            if self._sql is not None:
                self._sql.close()


def open_reader(config: StarRocksConfig) -> VersionPressureReader | None:
    """The sync's reader on a connection of its own, started; None when `version_ceiling` is 0 (off)."""
    if config.version_ceiling <= 0:
        return None
    reader = VersionPressureReader(lambda: SqlClient(config))
    limit = reader.start()
    logger.info(
        "Version pressure: tablet_max_versions %d (%s); each table is kept under %.0f versions "
        "(version_ceiling %g).",
        limit.value,
        limit.source,
        config.version_ceiling * limit.value,
        config.version_ceiling,
    )
    return reader
