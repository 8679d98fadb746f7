"""The FE analyzer's rules for names, keys and column definitions, with StarRocks' own error texts.

Contract: `check_db_name`, `check_table_name`, `check_column_name` raise what StarRocks' FeNameFormat raises;
`check_create_table(meta, explicit_null)` applies CreateTableAnalyzer / KeysDesc to a parsed `CREATE TABLE`
(keys an ordered prefix of the schema, Primary Key columns NOT NULL and of a key type, floating point or JSON
keys refused, column names unique ignoring case); `ALTER TABLE ... ADD COLUMN`
applies `check_column_name` (its duplicate check is the engine's). Every error is an `EmulatorError` with the code and text the MySQL protocol carries.

Sources (repository StarRocks/starrocks, fe/fe-core/src/main/java/com/starrocks/):
- sql/analyzer/FeNameFormat.java: `DB_NAME_REGEX = "^[a-zA-Z]\\w{0,255}$|^_[a-zA-Z0-9]\\w{0,254}$"` (the 3.x
  form; a newer release also allows `-~!@#$%^&<>=+` after the first character, this module keeps the stricter
  one), `TABLE_NAME_REGEX = "^[^\\0]{1,1024}$"`, shared-nothing `COLUMN_NAME_REGEX = "^[^\\0=<>!\\*]{1,1024}$"`,
  no column may start with `SchemaChangeHandler.SHADOW_NAME_PREFIX` (`__starrocks_shadow_`), and
  `FORBIDDEN_COLUMN_NAMES` (`__op`, `__row`; a newer FeNameFormat adds `___count___` and the prefix
  `__generated_partition_column_`, both kept here) -> "Column name [x] is a system reserved name. Please
  choose a different one."; Java's `\\w` is ASCII-only, hence `re.ASCII`.
- common/ErrorCode.java: ERR_WRONG_DB_NAME (1102, 42000) "Incorrect database name '%s'", ERR_WRONG_TABLE_NAME
  (1104) "Incorrect table name '%s'", ERR_WRONG_COLUMN_NAME (1166) "Incorrect column name '%s'",
  ERR_DUP_FIELDNAME (1060, 42S21) "Duplicate column name '%s'" (CreateTableAnalyzer keeps the names in a
  `TreeSet(String.CASE_INSENSITIVE_ORDER)`); reportSemanticException carries the code, and the FE prefixes
  "Getting analyzing error. Detail message: " as for ERR_BAD_DB_ERROR (sql/translate.py).
- analysis/KeysDesc.java / CreateTableAnalyzer.analyzeKeysDesc: "Key columns must be the first few columns of
  the schema and the order  of the key columns must be consistent with the order of the schema" (older
  releases: "Key columns should be a ordered prefix of the schema."), "primary key column[x] cannot be
  nullable" (only when NULL is written: `ColumnDef.setPrimaryKeyNonNullable` makes an implicit one NOT NULL),
  "primary key column[x] type not supported: T" unless T is BOOLEAN, an integer type, LARGEINT, VARCHAR
  (STRING), DATE or DATETIME (T spelled as the emulator stores it, `DECIMAL(38,9)`; StarRocks' `toSql()`
  spelling of DECIMAL is not verified).
- sql/ast/ColumnDef.analyze: a key column of a type that cannot be distributed by: "Invalid data type of key
  column 'x': 'T', use decimal instead" for FLOAT/DOUBLE, "Invalid data type of key column 'x': 'T'" otherwise.
A plain SemanticException (no ErrorCode) is sent as 1064 (HY000), as the emulator's other analysis errors;
the code of those is not verified.
"""

from __future__ import annotations

import re

from starrocks_emulator.storage.catalog import Column, EmulatorError, TableMeta, parse_type

DB_NAME_REGEX = re.compile(r"^[a-zA-Z]\w{0,255}$|^_[a-zA-Z0-9]\w{0,254}$", re.ASCII)
TABLE_NAME_REGEX = re.compile(r"^[^\0]{1,1024}$")
COLUMN_NAME_REGEX = re.compile(r"^[^\0=<>!*]{1,1024}$")
SHADOW_NAME_PREFIX = "__starrocks_shadow_"
FORBIDDEN_COLUMN_NAMES = frozenset({"__op", "__row", "___count___"})
GENERATED_PARTITION_COLUMN_PREFIX = "__generated_partition_column_"
ANALYSIS_PREFIX = "Getting analyzing error. Detail message: "

# KeysDesc: `t.isBoolean() || t.isIntegerType() || t.isLargeint() || t.isVarchar() || t.isDate() || t.isDatetime()`;
# `isVarchar()` is false for CHAR, and the BE's PrimaryKeyEncoder::is_supported has no CHAR either.
PRIMARY_KEY_TYPES = frozenset(
    {"BOOLEAN", "BOOL", "TINYINT", "SMALLINT", "INT", "INTEGER", "BIGINT", "LARGEINT", "VARCHAR", "STRING", "TEXT",
     "DATE", "DATETIME"}
)  # fmt: skip
# ColumnDef.analyze: `isKey && !type.canDistributedBy()`; FLOAT/DOUBLE get the "use decimal instead" hint.
_FLOATING = frozenset({"FLOAT", "DOUBLE"})
_NOT_KEY_TYPES = frozenset({"JSON", "VARBINARY", "BINARY"})


def analysis_error(message: str, code: int = 1064, sqlstate: str = "HY000") -> EmulatorError:
    """A SemanticException as the query port answers it: the analyzer prefix, the message, a final period."""
    return EmulatorError(code, f"{ANALYSIS_PREFIX}{message}.", sqlstate)


def check_db_name(name: str) -> None:
    if not name or not DB_NAME_REGEX.fullmatch(name):
        raise analysis_error(f"Incorrect database name '{name}'", 1102, "42000")


def check_table_name(name: str) -> None:
    if not name or not TABLE_NAME_REGEX.fullmatch(name):
        raise analysis_error(f"Incorrect table name '{name}'", 1104, "42000")


def check_column_name(name: str) -> None:
    if not name or not COLUMN_NAME_REGEX.fullmatch(name) or name.startswith(SHADOW_NAME_PREFIX):
        raise analysis_error(f"Incorrect column name '{name}'", 1166, "42000")
    if name.lower() in FORBIDDEN_COLUMN_NAMES:
        raise analysis_error(f"Column name [{name}] is a system reserved name. Please choose a different one")
    if name.startswith(GENERATED_PARTITION_COLUMN_PREFIX):
        raise analysis_error(
            f"Column name [{name}] starts with {GENERATED_PARTITION_COLUMN_PREFIX} is a system reserved name. "
            "Please choose a different one"
        )


def _check_unique(names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name.lower() in seen:
            raise analysis_error(f"Duplicate column name '{name}'", 1060, "42S21")
        seen.add(name.lower())


def check_create_table(meta: TableMeta, explicit_null: set[str]) -> None:
    """CreateTableAnalyzer's checks on names, keys and key types; `explicit_null` holds the lower-case names
    of columns written with `NULL` (a Primary Key column left unmarked is made NOT NULL by the caller)."""
    check_table_name(meta.name)
    for column in meta.columns:
        check_column_name(column.name)
    _check_unique([c.name for c in meta.columns])
    for i, key in enumerate(meta.key_columns):
        if i >= len(meta.columns) or meta.columns[i].name.lower() != key.lower():
            if meta.column(key) is None:
                raise analysis_error(f"Key column({key}) doesn't exist")
            raise analysis_error(
                "Key columns must be the first few columns of the schema and the order  of the key columns "
                "must be consistent with the order of the schema"
            )
        column = meta.columns[i]
        base = parse_type(column.type)[0]
        if meta.model == "PRIMARY":
            if column.name.lower() in explicit_null:
                raise analysis_error(f"primary key column[{column.name}] cannot be nullable")
            if base not in PRIMARY_KEY_TYPES:
                raise analysis_error(f"primary key column[{column.name}] type not supported: {column.type}")
        _check_key_type(column, base)


def _check_key_type(column: Column, base: str) -> None:
    if base in _FLOATING:
        raise analysis_error(
            f"Invalid data type of key column '{column.name}': '{column.type}', use decimal instead"
        )
    if base in _NOT_KEY_TYPES or column.type.startswith("ARRAY<"):
        raise analysis_error(f"Invalid data type of key column '{column.name}': '{column.type}'")
