"""Small clusters: will StarRocks create our tables with the replication they ask for?

A shared-nothing table gets `replication_num` replicas of every tablet on distinct live BEs. Without that
table property StarRocks uses the FE's `default_replication_num`, 3 by default (fe `Config.java`; the allin1
image sets 1), and on a cluster with fewer live BEs every CREATE TABLE fails: "Table replication num should be
less than or equal to the number of available BE nodes. You can change this default by setting the
replication_num table properties. Current alive backend is [...]" (fe `LocalMetastore.chosenBackendIdBySeq`).

`check_replication(sql, config)` runs before the first CREATE TABLE of a sync: it compares the replicas a
table will ask for (`table_properties.replication_num`, else `ADMIN SHOW FRONTEND CONFIG LIKE
'default_replication_num'`) with the live, not decommissioned BEs of `SHOW BACKENDS`, and raises a ConfigError
with StarRocks' reason and the fix. Both statements need a system privilege (OPERATE or NODE) that a
least-privileged user may lack; then the check says nothing, and `replication_error` turns StarRocks' own
answer to the first CREATE TABLE into the same ConfigError, before any other table exists. `check` reports the
same reading as a step of its own (connection_check.py: `read_replication`, `probe_replication` when the
cluster cannot be read, `replication_fix`). A shared-data
cluster (run_mode `shared_data`, compute nodes instead of BEs) is left to that answer as well.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any

from destination_starrocks.errors import ConfigError, StarRocksSqlError
from destination_starrocks.naming import quote_identifier, quote_literal

logger = logging.getLogger("airbyte")

REPLICATION_PROPERTY = "replication_num"
STARROCKS_REASON = "Table replication num should be less than or equal to the number of available BE nodes"
_ALIVE_IDS = re.compile(r"Current alive backend is \[([^\]]*)\]")


@dataclass(frozen=True)
class ReplicationReading:
    """What the cluster says about replication: the replicas a table will ask for and the live BEs."""

    wanted: int | None = None  # None: not known (unreadable, or a value StarRocks will judge itself)
    source: str = ""  # where `wanted` comes from: table_properties.replication_num or default_replication_num
    alive: int | None = None  # live, not decommissioned BEs of SHOW BACKENDS
    unreadable: str = ""  # why the cluster could not be read (a missing OPERATE/NODE privilege, an older FE)
    shared_data: bool = False  # compute nodes and no replicas: StarRocks' own answer decides

    @property
    def too_few(self) -> bool:
        return self.wanted is not None and bool(self.alive) and self.wanted > (self.alive or 0)

    def refusal(self) -> str:
        return (
            f"tables ask for {self.wanted} replicas ({self.source}), and StarRocks refuses that with "
            f"'{STARROCKS_REASON}'"
        )


def read_replication(sql: Any, config: Any) -> ReplicationReading:
    """Read (never change) what check_replication compares; `unreadable` says why when the cluster is silent."""
    try:
        if _frontend_config(sql, "run_mode") == "shared_data":
            return ReplicationReading(shared_data=True)
        wanted = _wanted_replicas(sql, config)
        alive = _alive_backends(sql)
    except StarRocksSqlError as exc:  # no OPERATE/NODE privilege, or an older FE: the CREATE TABLE will tell
        return ReplicationReading(unreadable=str(exc))
    source = "table_properties.replication_num" if _configured(config) else "default_replication_num"
    return ReplicationReading(wanted, source, alive)


def check_replication(sql: Any, config: Any, probe_database: str | None = None) -> None:
    """Raise ConfigError when tables would need more replicas than the cluster has live BEs (see above).

    When the cluster's BEs cannot be read and `probe_database` is given (`check`), a one-bucket probe table
    is created there with the configured table properties and dropped again, so the answer is StarRocks' own.
    """
    reading = read_replication(sql, config)
    if reading.unreadable:
        logger.info(
            "Cannot read the cluster's BEs or default replication (%s); CREATE TABLE will tell",
            reading.unreadable,
        )
        refusal = probe_replication(sql, config, probe_database) if probe_database is not None else None
        error = replication_error(refusal, config) if refusal is not None else None
        if error is not None:
            raise error
        return
    if reading.too_few:
        raise _config_error(reading.refusal(), reading.alive or 0, config)


def replication_error(exc: StarRocksSqlError, config: Any) -> ConfigError | None:
    """StarRocks' answer to a CREATE TABLE that asked for more replicas than live BEs, as a ConfigError."""
    count = refused_alive(exc)
    if count is None:
        return None
    return _config_error(f"StarRocks answered: {str(exc).rstrip('. ')}", count, config)


def refused_alive(exc: StarRocksSqlError) -> int | None:
    """The live BEs StarRocks names when it refuses a CREATE TABLE for its replicas; None for other errors."""
    text = str(exc)
    if STARROCKS_REASON.lower() not in text.lower():
        return None
    alive = _ALIVE_IDS.search(text)
    return len([i for i in alive.group(1).split(",") if i.strip()]) if alive else 1


def probe_replication(sql: Any, config: Any, database: str) -> StarRocksSqlError | None:
    """Create a one-bucket table with the configured properties in `database` and drop it again (FORCE).
    Returns StarRocks' refusal of the CREATE TABLE (for its replicas, `refused_alive` tells; or another
    reason, such as a privilege, which the caller's own steps say better), None when it was created."""
    table = f"{quote_identifier(database)}.{quote_identifier('_airbyte_probe_' + secrets.token_hex(4))}"
    properties = ", ".join(f"{quote_literal(k)} = {quote_literal(v)}" for k, v in _properties(config).items())
    try:
        sql.execute(
            f"CREATE TABLE {table} (`id` BIGINT NOT NULL) DUPLICATE KEY(`id`) DISTRIBUTED BY HASH(`id`) BUCKETS 1"
            + (f" PROPERTIES ({properties})" if properties else "")
        )
    except StarRocksSqlError as exc:
        return exc
    sql.execute(f"DROP TABLE IF EXISTS {table} FORCE")
    return None


def _config_error(reason: str, alive: int, config: Any) -> ConfigError:
    if alive == 0:
        return ConfigError(
            f"StarRocks cannot create the connector's tables: {reason}. No BE is alive: start the BEs."
        )
    too_high = " (the configured replication_num is higher than that)" if _configured(config) else ""
    return ConfigError(
        f"StarRocks cannot create the connector's tables: {reason}. The cluster has {alive} live "
        f"BE{'s' if alive != 1 else ''}{too_high}. Fix: {replication_fix(alive)}"
    )


def replication_fix(alive: int) -> str:
    """What to change when tables ask for more replicas than the cluster's `alive` BEs."""
    if alive == 0:
        return "start the BEs."
    value = str(alive)
    setting = json.dumps({REPLICATION_PROPERTY: value})
    return (
        f'set the destination\'s Table properties to {setting} (in the config: "table_properties": '
        f"{setting}), or add BEs, or lower the FE's default_replication_num."
    )


def _configured(config: Any) -> bool:
    return REPLICATION_PROPERTY in _properties(config)


def _properties(config: Any) -> dict:
    return dict(getattr(config, "table_properties", {}) or {})


def _wanted_replicas(sql: Any, config: Any) -> int | None:
    configured = _properties(config).get(REPLICATION_PROPERTY)
    if configured is not None:
        try:
            return int(str(configured).strip())
        except ValueError:
            return None  # StarRocks will name the bad value itself
    value = _frontend_config(sql, "default_replication_num")
    return int(value) if value and value.strip().isdigit() else None


def _frontend_config(sql: Any, key: str) -> str | None:
    rows = sql.query_named(f"ADMIN SHOW FRONTEND CONFIG LIKE '{key}'")
    for row in rows:
        if str(row.get("Key", "")).lower() == key:
            return str(row.get("Value", ""))
    return None


def _alive_backends(sql: Any) -> int:
    rows = sql.query_named("SHOW BACKENDS")
    return sum(1 for row in rows if _true(row.get("Alive")) and not _true(row.get("SystemDecommissioned")))


def _true(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")
