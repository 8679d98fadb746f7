"""`information_schema.be_tablets` and `be_configs`: what a BE reports of its tablets' versions and its settings.

Columns, in StarRocks' order, copy the FE definitions (fe/fe-core/.../catalog/system/information/
BeTabletsSystemTable.java, BeConfigsSystemTable.java) and the BE scanners that fill them
(be/src/exec/schema_scanner/schema_be_tablets_scanner.cpp, schema_be_configs_scanner.cpp); 2.5 had the first 17
be_tablets columns and the first 3 be_configs columns, 3.x adds the rest. Values:
- be_tablets: one row per tablet replica. NUM_VERSION is `_tablet_meta->version_count()` (storage/tablet.cpp
  `get_basic_info`), the very count the BE compares with `tablet_max_versions` before it takes a load
  (storage/delta_writer.cpp); MAX_VERSION the latest published version; NUM_ROWSET equals NUM_VERSION for the
  emulator's one-rowset-per-version tablets; STATE "RUNNING" and TYPE "DUP"/"PRIMARY"/... as the scanner's
  `tablet_state_to_string` / `keys_type_to_string` spell them; MIN_VERSION 0 (not verified), sizes per tablet.
- be_configs: BE_ID, NAME, VALUE, TYPE (the config macro's type name, "int16"/"int32"), DEFAULT, MUTABLE for the
  settings the emulator models: `tablet_max_versions` (CONF_mInt16, "1000") and `max_compaction_concurrency`
  (CONF_mInt32, "-1"; 0 disables compaction), both mutable (docs BE_configuration.md).
Privileges (fe SystemTable.requireOperatePrivilege): every `be_*`/`fe_*` table needs OPERATE on SYSTEM except
be_tablets, which shows only the tablets of tables the user holds some privilege on (the BE scanner keeps
`get_authorized_table_ids` from tables_config). Older 3.x FEs asked OPERATE for be_tablets too; the emulator
plays the newer rule. The denial is fe `AccessDeniedException.reportAccessDenied(..., "OPERATE", "SYSTEM")`.
`UPDATE information_schema.be_configs SET VALUE = v WHERE NAME = 'k'` sets a mutable BE config at runtime
(docs/en/administration/management/BE_configuration.md, "Configure BE dynamic parameters"); the emulator uses it
to stop and restart compaction and to change `tablet_max_versions`. Its error texts follow be/src/common/
configbase.cpp `set_config` ("'k' is not found", "'k' is immutable"); how the FE wraps them is not verified.
"""

from __future__ import annotations

import re
from typing import Any

from starrocks_emulator.storage.catalog import EmulatorError

_V, _B = "VARCHAR", "BIGINT"
SCHEMAS: dict[str, list[tuple[str, str]]] = {
    "be_tablets": [
        ("BE_ID", _B), ("TABLE_ID", _B), ("PARTITION_ID", _B), ("TABLET_ID", _B), ("NUM_VERSION", _B),
        ("MAX_VERSION", _B), ("MIN_VERSION", _B), ("NUM_ROWSET", _B), ("NUM_ROW", _B), ("DATA_SIZE", _B),
        ("INDEX_MEM", _B), ("CREATE_TIME", _B), ("STATE", _V), ("TYPE", _V), ("DATA_DIR", _V), ("SHARD_ID", _B),
        ("SCHEMA_HASH", _B), ("INDEX_DISK", _B), ("MEDIUM_TYPE", _V), ("NUM_SEGMENT", _B),
    ],
    "be_configs": [
        ("BE_ID", _B), ("NAME", _V), ("VALUE", _V), ("TYPE", _V), ("DEFAULT", _V), ("MUTABLE", "BOOLEAN"),
    ],
}  # fmt: skip
_KEYS_TYPE = {"DUPLICATE": "DUP", "PRIMARY": "PRIMARY", "UNIQUE": "UNIQUE", "AGGREGATE": "AGG"}
# name -> (engine attribute, type name, default); all of them mutable in StarRocks.
_CONFIGS = {
    "max_compaction_concurrency": ("max_compaction_concurrency", "int32", "-1"),
    "tablet_max_versions": ("tablet_max_versions", "int16", "1000"),
}
_TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "ALTER", "DROP", "EXPORT")
DATA_DIR = "/opt/starrocks/be/storage"
UPDATE_BE_CONFIG = re.compile(
    r"^\s*UPDATE\s+`?information_schema`?\s*\.\s*`?be_configs`?\s+SET\s+`?VALUE`?\s*=\s*"
    r"(?P<value>'[^']*'|\"[^\"]*\"|[-+\w.]+)\s+WHERE\s+`?NAME`?\s*=\s*(?P<name>'[^']*'|\"[^\"]*\")\s*$",
    re.IGNORECASE,
)


def operate_denied() -> EmulatorError:
    return EmulatorError(
        5203,
        "Access denied; you need (at least one of) the OPERATE privilege(s) on SYSTEM for this operation. "
        "Please ask the admin to grant permission(s) or try activating existing roles using "
        "<set [default] role>. Current role(s): NULL. Inactivated role(s): NULL.",
        "42000",
    )


def require_operate(engine: Any, user: str | None) -> None:
    if user is not None and not engine.has_privilege(user, "OPERATE", None, None):
        raise operate_denied()


def _backend_ids(engine: Any) -> list[int]:
    return [be.id for be in engine.topology.backends] or [1]


def rows(engine: Any, table: str, user: str | None, only: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Rows of be_tablets / be_configs for `user` (None: no privilege filter); `only` may pin TABLE_ID."""
    if table == "be_configs":
        require_operate(engine, user)
        return [
            (be_id, name, str(getattr(engine, attribute)), type_name, default, True)
            for be_id in _backend_ids(engine)
            for name, (attribute, type_name, default) in sorted(_CONFIGS.items())
        ]
    table_id = only.get("TABLE_ID")
    infos = engine.tablet_infos(int(table_id) if table_id is not None else None)
    backends = _backend_ids(engine)
    out = []
    for i, t in enumerate(infos):
        if user is not None and not any(
            engine.has_privilege(user, p, t["db"], t["table"]) for p in _TABLE_PRIVILEGES
        ):
            continue
        out.append((
            backends[i % len(backends)], t["table_id"], t["partition_id"], t["tablet_id"], t["version_count"],
            t["version"], 0, t["version_count"], t["rows"], t["data_size"], 0, t["create_unix"], "RUNNING",
            _KEYS_TYPE.get(t["model"], "UNKNOWN"), DATA_DIR, 0, 0, 0, "HDD", t["version_count"],
        ))  # fmt: skip
    return out


def _unquote(text: str) -> str:
    return text[1:-1] if text[:1] in ("'", '"') else text


def update_be_config(engine: Any, user: str, match: re.Match[str]) -> None:
    """`UPDATE information_schema.be_configs SET VALUE = v WHERE NAME = 'k'` on every BE."""
    require_operate(engine, user)
    name, value = _unquote(match.group("name")), _unquote(match.group("value"))
    if name not in _CONFIGS:
        raise EmulatorError(1064, f"'{name}' is not found")
    try:
        number = int(value)
    except ValueError:
        raise EmulatorError(1064, f"{name}: Invalid config value: '{value}'") from None
    setattr(engine, _CONFIGS[name][0], number)
