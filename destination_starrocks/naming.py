"""StarRocks names for Airbyte streams and fields: deterministic, valid, collision-free, always quoted.

Contract:
- `quote_identifier(name)` wraps any name in backticks with ` doubled, so even a hostile name is one
  identifier. Every identifier in SQL this connector writes goes through it.
- `database_name(namespace)`, `table_name(stream_name)`, `column_name(field)` sanitise one name.
- `column_names(fields)` sanitises a whole stream's fields at once and resolves collisions.
- `table_names(stream_names)` / `resolve_names(items, ...)` do the same for the streams of one database.
- `renamed_by_collision(original, name, ...)`: whether a name carries a collision suffix (worth a log line).

StarRocks' rules (fe `sql/analyzer/FeNameFormat.java`): a database name matches `DB_NAME_REGEX`
`^[a-zA-Z]\\w{0,255}$|^_[a-zA-Z0-9]\\w{0,254}$` (ASCII only: `_`, `__x` and `--sales` are refused); table and
column names may hold almost anything, up to 1024 characters, but columns may not be called `__op`, `__row` or
`___count___` nor start with `__starrocks_shadow_` or `__generated_partition_column_`. Column names are not
case-sensitive, table and database names are (from 4.0 `enable_table_name_case_insensitive` may make tables
case-insensitive too), so table and column collisions are detected case-insensitively.

This connector keeps every name to letters, digits and `_` (plain SQL, no quoting needed by the user), the way
Airbyte's own destinations do (bulk CDK `Transformations.toAlphanumericAndUnderscore`): a name that already is
such a name is kept as it is, always, so existing tables never move. Any other name is normalised (NFKD: `é`
composed or decomposed is the same name; `ﬁ` -> `fi`), its combining marks are dropped (`café` -> `cafe`), and
every remaining character outside `[A-Za-z0-9_]` becomes `_` (`spøcial` -> `sp_cial`, `søn` -> `s_n`). A
leading digit gets a `_` prefix. A name left without any letter or digit (`日本`, `данные`) tells nothing
apart, so it gets `_<hash8>` of its original; so does a name cut to its length limit. A database name that
StarRocks' regex would still refuse (`_`, `__x`) gets the prefix `db`. A field named like a column StarRocks or
the connector reserves gets `_<hash8>` (and a reserved prefix loses its first `_`). When two different
originals sanitise to the same name, the one whose original needed no change (then the smaller original) keeps
the plain name and the others get `_<hash8>`: the same answer whatever order they arrive in, so a column or a
table never moves between syncs.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Hashable, Iterable

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
SURROGATE_KEY_COLUMN = "_airbyte_pk"  # a Primary Key table's fixed-size key (key_plan.py)
CURSOR_RANK_PREFIX = "_airbyte_rank_"  # + cursor column: a comparable rank of the cursor (cursor_rank.py)
# Stream Load's pseudo-column for upsert/delete in Primary Key tables; never a real column name.
OP_PSEUDO_COLUMN = "__op"
# FeNameFormat.FORBIDDEN_COLUMN_NAMES and the prefixes StarRocks keeps for itself (shadow columns of a running
# schema change, generated partition columns), plus the connector's own.
RESERVED_COLUMNS = frozenset(
    name.lower()
    for name in (*AIRBYTE_COLUMNS, SURROGATE_KEY_COLUMN, OP_PSEUDO_COLUMN, "__row", "___count___")
)
RESERVED_COLUMN_PREFIXES = ("__starrocks_shadow_", "__generated_partition_column_", CURSOR_RANK_PREFIX)

_INVALID = re.compile(r"[^A-Za-z0-9_]")
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_LETTER_OR_DIGIT = re.compile(r"[A-Za-z0-9]")
# FeNameFormat.DB_NAME_REGEX; Java's \w is ASCII-only here.
DB_NAME_REGEX = re.compile(r"[a-zA-Z][A-Za-z0-9_]{0,255}\Z|_[a-zA-Z0-9][A-Za-z0-9_]{0,254}\Z")
DATABASE_PREFIX = "db"


def quote_identifier(name: str) -> str:
    """`name` as one backtick-quoted StarRocks identifier (` doubled), whatever it contains."""
    return "`" + name.replace("`", "``") + "`"


def quote_literal(value: object) -> str:
    """`value` as one double-quoted SQL string literal (backslash and quote escaped), e.g. for PROPERTIES."""
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def short_hash(original: str) -> str:
    """Eight hex digits identifying `original`; stable across runs and machines."""
    return hashlib.sha256(original.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_LENGTH]


def with_hash(base: str, original: str, limit: int) -> str:
    """`base` cut to fit, then `_<hash8 of original>`: unique per original, at most `limit` characters."""
    suffix = "_" + short_hash(original)
    return base[: limit - len(suffix)] + suffix


def ascii_name(original: str) -> str:
    """Airbyte's rule: NFKD, combining marks dropped, every other character outside [A-Za-z0-9_] -> `_`."""
    decomposed = unicodedata.normalize("NFKD", original)
    kept = "".join(ch for ch in decomposed if not unicodedata.category(ch).startswith("M"))
    return _INVALID.sub("_", kept)


def _sanitize(original: str, limit: int) -> str:
    if _PLAIN.match(original) and len(original) <= limit:
        return original
    name = ascii_name(original)
    if not name or name[0].isdigit():
        name = "_" + name
    if not _LETTER_OR_DIGIT.search(name) or len(name) > limit:
        name = with_hash(name, original, limit)
    return name


def database_name(namespace: str) -> str:
    """A StarRocks database name for an Airbyte namespace (or the configured default database)."""
    if DB_NAME_REGEX.match(namespace):
        return namespace
    name = _sanitize(namespace, DATABASE_NAME_MAX)
    if not DB_NAME_REGEX.match(name):  # "_", "__x": StarRocks wants a letter or digit after a leading "_"
        name = DATABASE_PREFIX + name
        if len(name) > DATABASE_NAME_MAX:
            name = with_hash(name, namespace, DATABASE_NAME_MAX)
    return name


def table_name(stream_name: str) -> str:
    """A StarRocks table name for one stream, leaving room for the staging suffix."""
    return _sanitize(stream_name, FINAL_TABLE_NAME_MAX)


def column_name(field: str) -> str:
    """A StarRocks column name for one field, without collision resolution (see `column_names`)."""
    name = _sanitize(field, COLUMN_NAME_MAX)
    lower = name.lower()
    if lower.startswith(RESERVED_COLUMN_PREFIXES):
        return with_hash(name[1:], field, COLUMN_NAME_MAX)
    return name


def staging_table_name(final_table: str) -> str:
    """Where an overwrite or truncate refresh loads before the final table is swapped for it."""
    return final_table + STAGING_SUFFIX


def resolve_names(
    items: Iterable[tuple[Hashable, str]],
    sanitize: Callable[[str], str],
    limit: int,
    taken: Iterable[str] = (),
) -> dict[Hashable, str]:
    """item id -> name: sanitised, unique case-insensitively, none of `taken`; independent of input order.

    Per sanitised name, an original that needed no change wins it, then the smaller original, then the smaller
    id (two streams of one name in different namespaces that share a database); the others get `_<hash8>` of
    their original (and of their id when the originals are equal).
    """
    entries = sorted({(str(key), key, original) for key, original in items}, key=lambda e: (e[2], e[0]))
    by_base: dict[str, list[tuple[str, Hashable, str]]] = {}
    for entry in entries:
        by_base.setdefault(sanitize(entry[2]).lower(), []).append(entry)
    used = {name.lower() for name in taken}
    result: dict[Hashable, str] = {}
    for base_lower in sorted(by_base):
        group = sorted(by_base[base_lower], key=lambda e: (sanitize(e[2]) != e[2], e[2], e[0]))
        for index, (key_text, key, original) in enumerate(group):
            base = sanitize(original)
            name = base
            if index > 0 or base.lower() in used:
                seed = (
                    original if index == 0 or group[index - 1][2] != original else f"{original}\x00{key_text}"
                )
                name = with_hash(base, seed, limit)
                salt = 0
                while name.lower() in used:  # a hashed name that still collides: extremely rare
                    salt += 1
                    name = with_hash(base, f"{seed}\x00{salt}", limit)
            used.add(name.lower())
            result[key] = name
    return result


def column_names(fields: Iterable[str]) -> dict[str, str]:
    """field -> column for one stream: sanitised, unique case-insensitively, never a reserved name."""
    fields = list(fields)
    resolved = resolve_names(((f, f) for f in fields), column_name, COLUMN_NAME_MAX, taken=RESERVED_COLUMNS)
    return {field: resolved[field] for field in fields}


def table_names(stream_names: Iterable[str]) -> dict[str, str]:
    """stream name -> table for the streams of one database: sanitised and unique case-insensitively."""
    names = list(stream_names)
    resolved = resolve_names(((n, n) for n in names), table_name, FINAL_TABLE_NAME_MAX)
    return {name: resolved[name] for name in names}


def renamed_by_collision(original: str, name: str, sanitize: Callable[[str], str]) -> bool:
    """True when `name` is not what `original` sanitises to alone: it got a suffix to stay apart."""
    return name != sanitize(original)
