"""StarRocks names for Airbyte streams and fields: deterministic, safe, and always quoted.

Contract:
- `quote_identifier(name)` wraps any name in backticks with ` doubled, so even a hostile name is one
  identifier. Every identifier in SQL this connector writes goes through it.
- `database_name(namespace)`, `table_name(stream_name)`, `column_name(field)` sanitise one name.
- `column_names(fields)` sanitises a whole stream's fields at once and resolves collisions.
- `table_names(stream_names)` does the same for the streams of one database.

StarRocks' rules (https://docs.starrocks.io/docs/sql-reference/System_limit/, "Naming conventions"): names
consist of digits, letters and underscores and start with a letter or an underscore; database names are at
most 256 characters, table and column names at most 1024. Column names are NOT case-sensitive, table and
database names are (and from 4.0 `enable_table_name_case_insensitive` may make tables case-insensitive too),
so collisions are always detected case-insensitively.

Sanitising: Unicode is folded to ASCII where it has an ASCII form (NFKD, so "café" -> "cafe"), every other
character that is not a letter, digit or underscore becomes "_", and a leading digit gets a "_" prefix. Case
is kept. A name that is too long is cut and given a short hash of the original name, so two long names that
share a prefix stay apart. When two different originals sanitise to the same name, the one whose original
needed no change (then the smaller original) keeps the plain name and the others get `_<hash8>` — the same
answer whatever order the fields arrive in, so a column never moves between syncs.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

DATABASE_NAME_MAX = 256
# StarRocks allows 1024; staging tables append STAGING_SUFFIX, so final tables leave room for it.
TABLE_NAME_MAX = 1024
COLUMN_NAME_MAX = 1024
STAGING_SUFFIX = "__airbyte_tmp"
FINAL_TABLE_NAME_MAX = TABLE_NAME_MAX - len(STAGING_SUFFIX)
HASH_LENGTH = 8

# Columns the connector writes itself; a source field with one of these names gets a hashed name instead.
AIRBYTE_COLUMNS = (
    "_airbyte_raw_id",
    "_airbyte_extracted_at",
    "_airbyte_meta",
    "_airbyte_generation_id",
)
# Stream Load's pseudo-column for upsert/delete in Primary Key tables; never a real column name.
OP_PSEUDO_COLUMN = "__op"
RESERVED_COLUMNS = frozenset(name.lower() for name in (*AIRBYTE_COLUMNS, OP_PSEUDO_COLUMN))

_INVALID = re.compile(r"[^A-Za-z0-9_]")
_VALID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def quote_identifier(name: str) -> str:
    """`name` as one backtick-quoted StarRocks identifier (` doubled), whatever it contains."""
    return "`" + name.replace("`", "``") + "`"


def quote_literal(value: object) -> str:
    """`value` as one double-quoted SQL string literal (backslash and quote escaped), e.g. for PROPERTIES."""
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def short_hash(original: str) -> str:
    """Eight hex digits identifying `original`; stable across runs and machines."""
    return hashlib.sha256(original.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_LENGTH]


def _sanitize(original: str, limit: int) -> str:
    if _VALID.match(original) and len(original) <= limit:
        return original
    folded = unicodedata.normalize("NFKD", original).encode("ascii", "ignore").decode("ascii")
    # NFKD may drop characters entirely (e.g. CJK); keep one "_" per dropped character so the length of
    # what was there still shows, and so "日本" and "中文" do not both become "".
    if len(folded) < len(original) and not folded:
        folded = "_" * len(original)
    name = _INVALID.sub("_", folded)
    if not name or name[0].isdigit():
        name = "_" + name
    if len(name) > limit:
        name = f"{name[: limit - HASH_LENGTH - 1]}_{short_hash(original)}"
    return name


def database_name(namespace: str) -> str:
    """A StarRocks database name for an Airbyte namespace (or the configured default database)."""
    return _sanitize(namespace, DATABASE_NAME_MAX)


def table_name(stream_name: str) -> str:
    """A StarRocks table name for one stream, leaving room for the staging suffix."""
    return _sanitize(stream_name, FINAL_TABLE_NAME_MAX)


def column_name(field: str) -> str:
    """A StarRocks column name for one field, without collision resolution (see `column_names`)."""
    return _sanitize(field, COLUMN_NAME_MAX)


def staging_table_name(final_table: str) -> str:
    """Where an overwrite or truncate refresh loads before the final table is swapped for it."""
    return final_table + STAGING_SUFFIX


def _resolve(originals: Iterable[str], sanitize, limit: int, taken: Iterable[str] = ()) -> dict[str, str]:
    """Sanitise all names; colliding (case-insensitive) names get `_<hash8>` of their original."""
    unique = sorted(set(originals))
    by_base: dict[str, list[str]] = {}
    for original in unique:
        by_base.setdefault(sanitize(original).lower(), []).append(original)
    used = {name.lower() for name in taken}
    result: dict[str, str] = {}
    # Winners first: per base, an unchanged original beats a changed one, then the smaller original wins.
    for base_lower in sorted(by_base):
        group = sorted(by_base[base_lower], key=lambda o: (sanitize(o) != o, o))
        for index, original in enumerate(group):
            base = sanitize(original)
            if index == 0 and base.lower() not in used:
                name = base
            else:
                name = _with_hash(base, original, limit)
                salt = 0
                while name.lower() in used:  # a hashed name that still collides: extremely rare
                    salt += 1
                    name = _with_hash(base, f"{original}\x00{salt}", limit)
            used.add(name.lower())
            result[original] = name
    return result


def _with_hash(base: str, original: str, limit: int) -> str:
    suffix = "_" + short_hash(original)
    return base[: limit - len(suffix)] + suffix


def column_names(fields: Iterable[str]) -> dict[str, str]:
    """field -> column for one stream: sanitised, unique case-insensitively, never an `_airbyte_*` name."""
    return _resolve(fields, column_name, COLUMN_NAME_MAX, taken=RESERVED_COLUMNS)


def table_names(stream_names: Iterable[str]) -> dict[str, str]:
    """stream name -> table for the streams of one database: sanitised and unique case-insensitively."""
    return _resolve(stream_names, table_name, FINAL_TABLE_NAME_MAX)
