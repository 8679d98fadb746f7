"""Small clusters: will StarRocks create our tables with the replication they ask for?

A shared-nothing table gets `replication_num` replicas of every tablet on distinct live BEs. Without that
table property StarRocks uses the FE's `default_replication_num`, 3 by default (fe `Config.java`; the allin1
image sets 1), and on a cluster with fewer live BEs every CREATE TABLE fails: "Table replication num should be
less than or equal to the number of available BE nodes. You can change this default by setting the
replication_num table properties. Current alive backend is [...]" (fe `LocalMetastore.chosenBackendIdBySeq`).

`check_replication(sql, config)` runs before the first CREATE TABLE of a sync and in `check`: it compares
the replicas a table will ask for (`table_properties.replication_num`, else `ADMIN SHOW FRONTEND CONFIG LIKE
'default_replication_num'`) with the live, not decommissioned BEs of `SHOW BACKENDS`, and raises a ConfigError
with StarRocks' reason and the fix. Both statements need a system privilege (OPERATE or NODE) that a
least-privileged user may lack; then the check says nothing, and `replication_error` turns StarRocks' own
answer to the first CREATE TABLE into the same ConfigError, before any other table exists. A shared-data
cluster (run_mode `shared_data`, compute nodes instead of BEs) is left to that answer as well.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from typing import Any

from destination_starrocks.errors import ConfigError, StarRocksSqlError
from destination_starrocks.naming import quote_identifier, quote_literal

logger = logging.getLogger("airbyte")

REPLICATION_PROPERTY = "replication_num"
STARROCKS_REASON = "Table replication num should be less than or equal to the number of available BE nodes"
_ALIVE_IDS = re.compile(r"Current alive backend is \[([^\]]*)\]")


def check_replication(sql: Any, config: Any, probe_database: str | None = None) -> None:
    """Raise ConfigError when tables would need more replicas than the cluster has live BEs (see above).

    When the cluster's BEs cannot be read and `probe_database` is given (`check`), a one-bucket probe table
    is created there with the configured table properties and dropped again, so the answer is StarRocks' own.
    """
    try:
        if _frontend_config(sql, "run_mode") == "shared_data":
            return
        wanted = _wanted_replicas(sql, config)
        alive = _alive_backends(sql)
    except StarRocksSqlError as exc:  # no OPERATE/NODE privilege, or an older FE: the CREATE TABLE will tell
        logger.info("Cannot read the cluster's BEs or default replication (%s); CREATE TABLE will tell", exc)
        if probe_database is not None:
            _probe(sql, config, probe_database)
        return
    if wanted is None or not alive:
        return
    if wanted > alive:
        source = "table_properties.replication_num" if _configured(config) else "default_replication_num"
        raise _config_error(
            f"tables ask for {wanted} replicas ({source}), and StarRocks refuses that with '{STARROCKS_REASON}'",
            alive,
            config,
        )


def replication_error(exc: StarRocksSqlError, config: Any) -> ConfigError | None:
    """StarRocks' answer to a CREATE TABLE that asked for more replicas than live BEs, as a ConfigError."""
    text = str(exc)
    if STARROCKS_REASON.lower() not in text.lower():
        return None
    alive = _ALIVE_IDS.search(text)
    count = len([i for i in alive.group(1).split(",") if i.strip()]) if alive else 1
    return _config_error(f"StarRocks answered: {text.rstrip('. ')}", count, config)


def _probe(sql: Any, config: Any, database: str) -> None:
    table = f"{quote_identifier(database)}.{quote_identifier('_airbyte_probe_' + secrets.token_hex(4))}"
    properties = ", ".join(f"{quote_literal(k)} = {quote_literal(v)}" for k, v in _properties(config).items())
    try:
        sql.execute(
            f"CREATE TABLE {table} (`id` BIGINT NOT NULL) DUPLICATE KEY(`id`) DISTRIBUTED BY HASH(`id`) BUCKETS 1"
            + (f" PROPERTIES ({properties})" if properties else "")
        )
    except StarRocksSqlError as exc:
        error = replication_error(exc, config)
        if error is not None:
            raise error from None
        return  # another reason (a privilege): the caller's own steps say it better
    sql.execute(f"DROP TABLE IF EXISTS {table} FORCE")


def _config_error(reason: str, alive: int, config: Any) -> ConfigError:
    if alive == 0:
        return ConfigError(
            f"StarRocks cannot create the connector's tables: {reason}. No BE is alive: start the BEs."
        )
    value = str(alive)
    too_high = " (the configured replication_num is higher than that)" if _configured(config) else ""
    return ConfigError(
        f"StarRocks cannot create the connector's tables: {reason}. The cluster has {alive} live "
        f"BE{'s' if alive != 1 else ''}{too_high}. Fix: set the destination's Table properties to "
        f'{{"{REPLICATION_PROPERTY}": "{value}"}} (in the config: "table_properties": '
        f"{json.dumps({REPLICATION_PROPERTY: value})}), or add BEs, or lower the FE's default_replication_num."
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
