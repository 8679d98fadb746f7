"""StarRocks catalog value types and errors shared by every part of the emulator.

`Column` and `TableMeta` describe a table the way StarRocks' `CREATE TABLE` does (model, keys, distribution,
buckets, properties); `EmulatorError` carries a MySQL error code, SQLSTATE and a message copied from StarRocks so
that both the MySQL front end and the HTTP side can answer like StarRocks does. `duckdb_type` maps a StarRocks
column type onto the DuckDB type that stores it.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

# StarRocks type name -> DuckDB type. DATETIME has no zone in StarRocks, so TIMESTAMP (not TIMESTAMPTZ).
# https://docs.starrocks.io/docs/sql-reference/data-types/
_SIMPLE_TYPES = {
    "BOOLEAN": "BOOLEAN",
    "BOOL": "BOOLEAN",
    "TINYINT": "TINYINT",
    "SMALLINT": "SMALLINT",
    "INT": "INTEGER",
    "INTEGER": "INTEGER",
    "BIGINT": "BIGINT",
    "LARGEINT": "HUGEINT",
    "FLOAT": "FLOAT",
    "DOUBLE": "DOUBLE",
    "DATE": "DATE",
    "DATETIME": "TIMESTAMP",
    "STRING": "VARCHAR",
    "VARCHAR": "VARCHAR",
    "CHAR": "VARCHAR",
    "TEXT": "VARCHAR",
    "JSON": "JSON",
    "VARBINARY": "BLOB",
    "BINARY": "BLOB",
}
_TYPE_RE = re.compile(r"^\s*([A-Za-z_]+)\s*(?:\(\s*([0-9]+)\s*(?:,\s*([0-9]+)\s*)?\))?\s*$")
STRING_MAX_LENGTH = 65533  # StarRocks STRING is VARCHAR(65533); VARCHAR(n) allows n <= 1048576


class EmulatorError(Exception):
    """An error StarRocks would answer; `code`/`sqlstate` are what the MySQL protocol sends."""

    def __init__(self, code: int, message: str, sqlstate: str = "HY000") -> None:
        super().__init__(message)
        self.code = code
        self.sqlstate = sqlstate
        self.message = message


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # StarRocks type text, upper-case: "VARCHAR(65533)", "BIGINT", "JSON", "DECIMAL(38,9)"
    nullable: bool = True
    default: str | None = None
    comment: str = ""


@dataclass
class TableMeta:
    db: str
    name: str
    columns: list[Column]
    model: str  # "DUPLICATE" | "PRIMARY" | "UNIQUE" | "AGGREGATE"
    key_columns: list[str]
    distribution: str  # "HASH" | "RANDOM"
    distribution_columns: list[str]
    buckets: int
    properties: dict[str, str] = field(default_factory=dict)
    comment: str = ""
    table_id: int = 0  # StarRocks' table id (information_schema.tables_config TABLE_ID); 0 before it existed

    def column(self, name: str) -> Column | None:
        lowered = name.lower()
        for column in self.columns:
            if column.name.lower() == lowered:
                return column
        return None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableMeta:
        columns = [Column(**c) for c in data["columns"]]
        return cls(**{**data, "columns": columns})


def parse_type(sr_type: str) -> tuple[str, int | None, int | None]:
    """`"DECIMAL(38, 9)"` -> `("DECIMAL", 38, 9)`; raises EmulatorError for a type StarRocks does not know."""
    match = _TYPE_RE.match(sr_type)
    if not match:
        raise EmulatorError(1064, f"Unknown type: {sr_type}", "42000")
    base = match.group(1).upper()
    first = int(match.group(2)) if match.group(2) else None
    second = int(match.group(3)) if match.group(3) else None
    if base not in _SIMPLE_TYPES and base not in (
        "DECIMAL",
        "DECIMALV2",
        "DECIMAL32",
        "DECIMAL64",
        "DECIMAL128",
    ):
        raise EmulatorError(1064, f"Unknown type: {sr_type}", "42000")
    return base, first, second


def duckdb_type(sr_type: str) -> str:
    """The DuckDB type that stores a StarRocks column type."""
    base, first, second = parse_type(sr_type)
    if base.startswith("DECIMAL"):
        precision = first if first is not None else 38
        scale = second if second is not None else (9 if first is None else 0)
        return f"DECIMAL({precision},{scale})"
    return _SIMPLE_TYPES[base]


def varchar_length(sr_type: str) -> int | None:
    """Declared byte length of a VARCHAR/CHAR/STRING column, None for any other type."""
    base, first, _ = parse_type(sr_type)
    if base in ("VARCHAR", "CHAR"):
        return first if first is not None else (1 if base == "CHAR" else STRING_MAX_LENGTH)
    if base in ("STRING", "TEXT"):
        return STRING_MAX_LENGTH
    return None


def quote_ident(name: str) -> str:
    """DuckDB identifier quoting (double quotes, doubled inside)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
