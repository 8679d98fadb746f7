"""FE configuration items the emulator honours, the replication check of CREATE TABLE, and the default table
properties StarRocks writes into every new table.

- `default_replication_num`: fe `Config.default_replication_num = 3`, used by `RunMode.SharedNothing
  .getDefaultReplicationNum()`; the allin1 image appends `default_replication_num = 1` to fe.conf
  (docker/dockerfiles/allin1/fe.conf), and that is the emulator's default profile; `--default-replication-num 3`
  plays a self-built cluster. A table whose replication (its `replication_num` property, else the default) is
  larger than the number of alive BEs fails in LocalMetastore.chosenBackendIdBySeq: "Table replication num should
  be less than or equal to the number of available BE nodes. You can change this default by setting the
  replication_num table properties. Current alive backend is [%s]. " (a DdlException, 1064 over MySQL), to which
  the FE appends ", table=<t>, default_replication_num=<n>" (the error quoted in the docs' "Deploy StarRocks with
  Operator" FAQ); a replication of 0 or less: "Replication num should larger than 0" (PropertyAnalyzer).
  Alive BEs are `engine.topology.alive_backends` (topology.py); a BE's id is 10000 + its position, as
  StarRocks numbers its first backends 10001, 10002, ...
- New tables get `compression` LZ4, `fast_schema_evolution` true, `replicated_storage` true and
  `replication_num` in their properties, as SHOW CREATE TABLE of a 3.x table prints them (docs examples).
- `ADMIN SHOW FRONTEND CONFIG [LIKE 'x']` answers Key, AliasNames, Value, Type, IsMutable, Comment;
  `ADMIN SET FRONTEND CONFIG ("k" = "v")` changes the mutable items below (fe Config `@ConfField(mutable = true)`:
  default_replication_num, catalog_trash_expire_second, alter_scheduler_interval_millisecond). An unknown or
  immutable key fails ("Config 'x' does not exist or is not mutable", not verified).
"""

from __future__ import annotations

from typing import Any

from starrocks_emulator.storage.catalog import EmulatorError, TableMeta

DEFAULT_REPLICATION_NUM = 1  # allin1 image; fe Config default is 3
ALTER_SCHEDULER_INTERVAL_MS = 300  # fe Config default 10000; shorter so tests need not wait 30 s per job
FIRST_BACKEND_ID = 10000


def backend_id(node_id: int) -> int:
    return FIRST_BACKEND_ID + node_id


def replication_of(meta: TableMeta, engine: Any) -> int:
    text = meta.properties.get("replication_num", str(engine.default_replication_num))
    try:
        replication = int(text)
    except ValueError as exc:
        raise EmulatorError(1064, f"Invalid replication number: {text}") from exc
    if replication <= 0:
        raise EmulatorError(1064, "Replication num should larger than 0")
    return replication


def table_properties(meta: TableMeta, engine: Any) -> dict[str, str]:
    """The properties StarRocks adds to a new table; raises StarRocks' error when too few BEs are alive."""
    replication = replication_of(meta, engine)
    alive = [backend_id(be.id) for be in engine.topology.alive_backends]
    if replication > len(alive):
        raise EmulatorError(
            1064,
            "Table replication num should be less than or equal to the number of available BE nodes. You can "
            "change this default by setting the replication_num table properties. Current alive backend is "
            f"[{','.join(map(str, alive))}]. , table={meta.name}, default_replication_num="
            f"{engine.default_replication_num}",
        )
    return {"compression": "LZ4", "replicated_storage": "true", "replication_num": str(replication)}


# key -> (engine attribute, type, scale from the config's unit to the attribute's)
_MUTABLE = {
    "default_replication_num": ("default_replication_num", "short", 1),
    "catalog_trash_expire_second": ("catalog_trash_expire_second", "long", 1),
    "alter_scheduler_interval_millisecond": ("alter_step_seconds", "int", 1000),
}
_FIXED = {"enable_fast_schema_evolution": ("true", "boolean")}  # run_mode: sql/show_statements.py


def frontend_config(engine: Any) -> dict[str, tuple[str, str, str]]:
    """name -> (Value, Type, IsMutable)."""
    out = {name: (value, kind, "false") for name, (value, kind) in _FIXED.items()}
    for name, (attribute, kind, scale) in _MUTABLE.items():
        out[name] = (str(int(round(getattr(engine, attribute) * scale))), kind, "true")
    return out


def set_frontend_config(engine: Any, key: str, value: str) -> None:
    item = _MUTABLE.get(key)
    if item is None:
        raise EmulatorError(1064, f"Config '{key}' does not exist or is not mutable")
    attribute, _, scale = item
    try:
        number = float(value)
    except ValueError as exc:
        raise EmulatorError(1064, f"Invalid value '{value}' for config '{key}'") from exc
    setattr(engine, attribute, number / scale if scale != 1 else int(number))
