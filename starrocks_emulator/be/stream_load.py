"""Stream Load on the BE: request headers -> options, body -> typed rows staged in DuckDB in bulk, -> result.

Follows https://docs.starrocks.io/docs/sql-reference/sql-statements/loading_unloading/STREAM_LOAD/:
headers `format` (csv default, json), `columns` (names and `name = expr` mappings, `__op`), `jsonpaths`,
`strip_outer_array`, `column_separator` (default `\\t`), `row_delimiter` (default `\\n`), `skip_header`,
`where`, `max_filter_ratio` (default 0), `strict_mode` (default false), `timeout`, `partial_update`,
`merge_condition`, `compression` / `Content-Encoding` (gzip, lz4_frame). Unqualified values follow
https://docs.starrocks.io/docs/loading/load_concept/strict_mode/: with strict mode off a value that does not
convert becomes NULL; with it on the row is filtered; NULL in a NOT NULL column is always filtered; CSV `\\N`
is NULL. `too many filtered rows` when filtered / (total - unselected) > max_filter_ratio.

The body never goes through Python row by row: it goes to a spool file as it arrives (a Stream Load,
`stage_file`) or is written there (a transaction's load, `stage_body`), which DuckDB's `read_json` /
`read_text` scans once, through a view, straight into one table of typed rows (conversion is TRY_CAST over
whole columns); the raw rows are read again only for the error log of rejected ones.
"""

from __future__ import annotations

import gzip
import itertools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import duckdb
import lz4.frame
import orjson

from starrocks_emulator.be.spool import release_spool, write_spool
from starrocks_emulator.storage.catalog import (
    EmulatorError,
    TableMeta,
    duckdb_type,
    parse_type,
    quote_ident,
    quote_literal,
    varchar_length,
)
from starrocks_emulator.storage.table_models import KEYED_MODELS, OP

_counter = itertools.count(1)
_TRUE = ("true", "1", "yes", "on")
ERROR_LOG_MAX_ROWS = 1000
READ_PROBE_BYTES = 1 << 16
# The largest JSON object (row) a load takes: StarRocks' JSON scanner has no limit of its own below the body's
# (4 GB, kJSONMaxBufferSize in be/src/runtime/stream_load/stream_load_context.h). DuckDB's read_json keeps
# buffers of twice its maximum_object_size, fresh for every scan: at 1 GB that cost ~25,000 page faults per
# 55 MB body. So a load is read with DuckDB's default (16 MB) first and again with this only when DuckDB
# says an object was larger; the rows, the errors and their order are the same either way.
LARGE_OBJECT_BYTES = 1 << 30
OBJECT_SIZE_ERROR = '"maximum_object_size"'
# An array body without strip_outer_array: StarRocks' JSON scanner refuses it with this message
# (be/src/exec/json_scanner.cpp).
ARRAY_WITHOUT_STRIP = "JSON data is an array, strip_outer_array must be set true"


class LoadFailure(Exception):
    """The load fails as a whole: `Status: Fail` with this message, nothing committed."""


def _split_top_level(text: str) -> list[str]:
    """Split a `columns` header on commas outside parentheses and quotes."""
    parts, depth, quote, current = [], 0, "", []
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"`":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


def _unescape_separator(value: str) -> str:
    r"""`\t`, `\x01`, `\\x0D0A` style separators as StarRocks accepts them."""
    if value.lower().startswith("\\x") and len(value) > 2:
        return bytes.fromhex(value[2:]).decode()
    return value.replace("\\t", "\t").replace("\\n", "\n")


@dataclass
class LoadOptions:
    label: str | None = None
    format: str = "csv"
    columns: list[tuple[str, str | None]] | None = None  # (name, expression or None)
    jsonpaths: list[str] | None = None
    strip_outer_array: bool = False
    column_separator: str = "\t"
    row_delimiter: str = "\n"
    skip_header: int = 0
    where: str | None = None
    max_filter_ratio: float = 0.0
    strict_mode: bool = False
    timeout: int = 600
    partial_update: bool = False
    merge_condition: str | None = None
    compression: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> LoadOptions:
        def get(name: str) -> str | None:
            value = headers.get(name)
            return value.strip() if isinstance(value, str) else None

        def flag(name: str) -> bool:
            return (get(name) or "false").lower() in _TRUE

        options = cls(label=get("label") or None)
        fmt = (get("format") or "csv").lower()
        if fmt not in ("csv", "json"):
            raise LoadFailure(f"Unknown data format: {fmt}")
        options.format = fmt
        if columns := get("columns"):
            mapped = []
            for item in _split_top_level(columns):
                name, sep, expr = item.partition("=")
                mapped.append((name.strip().strip("`"), expr.strip() if sep else None))
            options.columns = mapped
        if jsonpaths := get("jsonpaths"):
            try:
                options.jsonpaths = [str(p) for p in orjson.loads(jsonpaths)]
            except orjson.JSONDecodeError as exc:
                raise LoadFailure(f"Invalid jsonpaths: {jsonpaths}") from exc
        options.strip_outer_array = flag("strip_outer_array")
        if sep := headers.get("column_separator"):
            options.column_separator = _unescape_separator(sep)
        if delim := headers.get("row_delimiter"):
            options.row_delimiter = _unescape_separator(delim)
        try:
            options.skip_header = int(get("skip_header") or 0)
            options.max_filter_ratio = float(get("max_filter_ratio") or 0)
            options.timeout = int(get("timeout") or 600)
        except ValueError as exc:
            raise LoadFailure(f"Invalid header value: {exc}") from exc
        options.where = get("where") or None
        options.strict_mode = flag("strict_mode")
        options.partial_update = flag("partial_update")
        options.merge_condition = (get("merge_condition") or "").strip("`") or None
        compression = (get("compression") or get("Content-Encoding") or "").lower()
        options.compression = compression or None
        return options


def decode_body(body: bytes, compression: str | None) -> bytes:
    """Undo `compression` (gzip, lz4_frame); StarRocks 3.2+ accepts compressed JSON bodies."""
    if not compression or compression in ("identity", "none"):
        return body
    try:
        if compression in ("gzip", "gz"):
            return gzip.decompress(body)
        if compression in ("lz4_frame", "lz4"):
            return lz4.frame.decompress(body)
    except (OSError, EOFError, RuntimeError) as exc:
        raise LoadFailure(f"Failed to decompress the body ({compression}): {exc}") from exc
    raise LoadFailure(f"Unsupported compression type: {compression}")


@dataclass(frozen=True)
class AppendedLoad:
    """The counts of a load whose every row was appended in one INSERT (`appending_insert_sql`)."""

    total_rows: int
    filtered_rows: int = 0
    unselected_rows: int = 0

    @property
    def loaded_rows(self) -> int:
        return self.total_rows


@dataclass
class StagedLoad:
    """A load's rows staged in DuckDB: `relation` holds the target columns, `__op`, `__seq` of good rows."""

    relation: str
    columns: list[str]
    total_rows: int
    filtered_rows: int
    unselected_rows: int
    load_bytes: int
    error_lines: list[str]
    temp_tables: list[str]
    has_op: bool = False
    # The body's reader is a view over the spool file, scanned once to type the rows and again only for the
    # rejected rows' error log: it and the file live until `drop`.
    temp_views: list[str] = field(default_factory=list)
    spool_path: str | None = None

    @property
    def loaded_rows(self) -> int:
        return self.total_rows - self.filtered_rows - self.unselected_rows

    def check_filter_ratio(self, max_filter_ratio: float) -> None:
        selected = self.total_rows - self.unselected_rows
        if self.filtered_rows and (selected == 0 or self.filtered_rows / selected > max_filter_ratio):
            raise LoadFailure("too many filtered rows")

    def drop(self, con: duckdb.DuckDBPyConnection) -> None:
        for name in self.temp_tables:
            con.execute(f"DROP TABLE IF EXISTS {name}")
        _drop_source(con, self.temp_views, self.spool_path)


def _drop_source(con: duckdb.DuckDBPyConnection, views: list[str], path: str | None) -> None:
    for name in views:
        con.execute(f"DROP VIEW IF EXISTS {name}")
    if path is not None:
        release_spool(path)


def _source_fields(meta: TableMeta, options: LoadOptions) -> tuple[list[str], dict[str, str]]:
    """(source field names in file order, target column -> expression over the fields).

    Load.initColumns: without `columns` the fields are the table's columns; on a Primary Key table `__op` is
    added, read from each JSON object by name ("stream load json will automatically check __op field in json
    object iff: 1. streamload using json 2. __op is not specified"), and a constant 0 (upsert) for CSV.
    """
    if options.columns is None:
        fields, exprs = [c.name for c in meta.columns], {}
    else:
        fields = [name for name, expr in options.columns if expr is None]
        exprs = {name: expr for name, expr in options.columns if expr is not None}
    if meta.model == "PRIMARY" and options.format == "json" and OP not in fields and OP not in exprs:
        fields.append(OP)
    return fields, exprs


def _read_json_sql(
    path: str, options: LoadOptions, fields: list[str], json_fields: set[str], large_objects: bool
) -> str:
    fmt = "array" if options.strip_outer_array else "auto"  # NDJSON, or objects spread over lines
    limit = f", maximum_object_size={LARGE_OBJECT_BYTES}" if large_objects else ""
    if options.jsonpaths is not None:
        if len(options.jsonpaths) != len(fields):
            raise LoadFailure("The number of jsonpaths does not match the number of columns")
        extracts = []
        for name, json_path in zip(fields, options.jsonpaths, strict=True):
            fn = "json_extract" if name in json_fields else "json_extract_string"
            extracts.append(f"{fn}(json, {quote_literal(json_path)}) AS {quote_ident(name)}")
        return (
            f"SELECT row_number() OVER () AS __seq, {', '.join(extracts)} FROM read_json_objects("
            f"{quote_literal(path)}, format='{fmt}'{limit})"
        )
    spec = ", ".join(
        f"{quote_literal(name)}: '{'JSON' if name in json_fields else 'VARCHAR'}'"
        for name in dict.fromkeys(fields)
    )
    return (
        f"SELECT row_number() OVER () AS __seq, * FROM read_json({quote_literal(path)}, format='{fmt}', "
        f"columns={{{spec}}}{limit})"
    )


def _read_csv_sql(path: str, options: LoadOptions, fields: list[str]) -> str:
    """Lines split on the row delimiter, fields on the column separator; `\\N` is NULL, `a,,b` is ''."""
    picks = ", ".join(
        f"CASE WHEN __f[{i + 1}] = '\\N' THEN NULL ELSE __f[{i + 1}] END AS {quote_ident(name)}"
        for i, name in enumerate(fields)
    )
    lines = (
        f"SELECT unnest(string_split(content, {quote_literal(options.row_delimiter)})) AS __line "
        f"FROM read_text({quote_literal(path)})"
    )
    return (
        f"SELECT __seq, len(__f) AS __nfields, {picks} FROM (SELECT row_number() OVER () AS __seq, "
        f"string_split(__line, {quote_literal(options.column_separator)}) AS __f FROM ({lines}) "
        f"WHERE __line <> '') WHERE __seq > {int(options.skip_header)}"
    )


def decode_spooled(path: str, compression: str | None) -> None:
    """`decode_body` for a body already in its spool file: the file then holds the decoded body."""
    if not compression or compression in ("identity", "none"):
        return
    with open(path, "rb") as handle:
        data = decode_body(handle.read(), compression)
    with open(path, "wb") as handle:
        handle.write(data)


def stage_body(
    con: duckdb.DuckDBPyConnection, meta: TableMeta, options: LoadOptions, body: bytes, spool_dir: str
) -> StagedLoad:
    """Stage a decoded body as typed rows; the caller holds the engine lock and drops the staged tables."""
    path, _ = write_spool(spool_dir, options.format, lambda handle: handle.write(body))
    return stage_file(con, meta, options, path)


def _starts_with_array(path: str) -> bool:
    with open(path, "rb") as handle:
        while chunk := handle.read(READ_PROBE_BYTES):
            if stripped := chunk.lstrip():
                return stripped[:1] == b"["
    return False


def stage_file(
    con: duckdb.DuckDBPyConnection, meta: TableMeta, options: LoadOptions, path: str
) -> StagedLoad:
    """`stage_body` for a decoded body in a spool file, which the staged load owns from here on: it is
    released (be/spool.py) when the load is dropped, or now if staging fails."""
    load_id = next(_counter)
    src, typed = f"__src_{load_id}", f"__typed_{load_id}"
    try:
        fields, exprs = _checked_fields(meta, options, path)
        keyed = meta.model in KEYED_MODELS
        for large_objects in (False, True):
            reader = _reader_sql(meta, options, path, fields, large_objects)
            # A view, not a table: the rows are parsed once, straight into their target types (_type_rows).
            try:
                con.execute(f"CREATE OR REPLACE TEMP VIEW {src} AS {reader}")
            except duckdb.Error as exc:  # the reader looks at the file's start when it binds
                raise LoadFailure(f"Failed to parse the {options.format.upper()} body: {exc}") from exc
            try:
                staged = _type_rows(con, meta, options, src, typed, fields, exprs, keyed)
                break
            except LoadFailure as exc:
                if large_objects or OBJECT_SIZE_ERROR not in str(exc):
                    raise
    except BaseException:
        _drop_source(con, [src], path)
        raise
    staged.temp_views, staged.spool_path = [src], path
    staged.load_bytes = os.path.getsize(path)
    return staged


def _checked_fields(meta: TableMeta, options: LoadOptions, path: str) -> tuple[list[str], dict[str, str]]:
    """`_source_fields`, after the checks the BE makes before it reads a row."""
    fields, exprs = _source_fields(meta, options)
    for name in [*fields, *exprs]:
        if name != OP and meta.column(name) is None and options.columns is None:
            raise LoadFailure(f"Unknown column '{name}' in table '{meta.name}'")
    if options.format == "json" and not options.strip_outer_array and _starts_with_array(path):
        raise LoadFailure(ARRAY_WITHOUT_STRIP)
    return fields, exprs


def _reader_sql(
    meta: TableMeta, options: LoadOptions, path: str, fields: list[str], large_objects: bool
) -> str:
    if options.format == "json":
        json_fields = {c.name for c in meta.columns if c.type.upper().startswith("JSON")}
        return _read_json_sql(path, options, fields, json_fields, large_objects)
    return _read_csv_sql(path, options, fields)


def appending_insert_sql(meta: TableMeta, options: LoadOptions, path: str) -> str | None:
    """One INSERT that reads, converts and appends every row of a load straight into its table, or None when
    the load's rows cannot simply be appended (a Primary or Unique Key table, a `where` header).

    The INSERT fails (DuckDB's `error()`) on the first row that would be rejected, so it writes something only
    when every row is loaded: then the load is exactly what staging would have made of it (the same rows,
    converted by the same SELECT, in the same order, nothing filtered) without the staged copy of every row.
    Any failure means the caller stages the load instead, which gives the load's answer, errors included.
    """
    if meta.model in KEYED_MODELS or options.where:
        return None
    fields, exprs = _checked_fields(meta, options, path)
    reader = _reader_sql(meta, options, path, fields, large_objects=False)
    rows = _typed_rows_sql(meta, options, f"({reader})", fields, exprs, keyed=False)
    columns = ", ".join(quote_ident(c) for c in rows.targets)
    return (
        f"INSERT INTO {quote_ident(meta.db)}.{quote_ident(meta.name)} ({columns}) SELECT {columns} FROM "
        f"({rows.select}) WHERE CASE WHEN __err IS NULL AND NOT __unselected THEN TRUE ELSE "
        f"error('a row is not loaded: the load is staged') END"
    )


@dataclass
class _TypedRows:
    """The SELECT that converts a source's fields: `__seq`, the target columns, `__op` when loaded, `__err`
    (why a row is rejected, NULL when it is not) and `__unselected` (the `where` header leaves it out)."""

    select: str
    targets: list[str]
    has_op: bool


def _typed_rows_sql(
    meta: TableMeta,
    options: LoadOptions,
    source: str,
    fields: list[str],
    exprs: dict[str, str],
    keyed: bool,
) -> _TypedRows:
    lowered = {f.lower(): f for f in fields}
    targets: list[str] = []
    selects: list[str] = []
    errors: list[str] = []
    for column in meta.columns:
        if column.name in exprs:
            source_value = f"({exprs[column.name]})"
        elif column.name.lower() in lowered:
            source_value = quote_ident(lowered[column.name.lower()])
        else:
            continue  # not loaded: the column default applies (or the stored value on partial update)
        targets.append(column.name)
        ddb_type = duckdb_type(column.type)
        length = varchar_length(column.type)
        converted = f"TRY_CAST({source_value} AS {ddb_type})"
        unqualified = f"({source_value} IS NOT NULL AND {converted} IS NULL)"
        if length is not None:
            unqualified = (
                f"({source_value} IS NOT NULL AND strlen(CAST({source_value} AS VARCHAR)) > {length})"
            )
            converted = f"CASE WHEN {unqualified} THEN NULL ELSE CAST({source_value} AS VARCHAR) END"
        value = converted
        if column.default is not None:
            default = f"CAST({quote_literal(column.default)} AS {ddb_type})"
            if column.default.upper() in ("CURRENT_TIMESTAMP", "NOW()"):
                default = "current_localtimestamp()"
            value = f"CASE WHEN {source_value} IS NULL THEN {default} ELSE {converted} END"
        name = column.name.replace("'", "")
        if options.strict_mode:
            errors.append(
                f"WHEN {unqualified} THEN 'Value can not be converted to {column.type}: column {name}'"
            )
        if not column.nullable:
            errors.append(f"WHEN ({value}) IS NULL THEN 'NULL value in non-nullable column: {name}'")
        selects.append(f"{value} AS {quote_ident(column.name)}")
    op_expr = None
    if OP in exprs:
        op_expr = exprs[OP]
    elif OP in fields:
        op_expr = quote_ident(OP)
    if op_expr is not None:
        if not keyed:
            raise LoadFailure("'__op' is only supported by Primary Key tables")
        selects.append(
            f"CASE lower(CAST(({op_expr}) AS VARCHAR)) WHEN 'delete' THEN 1 WHEN 'upsert' THEN 0 "
            f"ELSE TRY_CAST(({op_expr}) AS TINYINT) END AS {OP}"
        )
    if options.format == "csv":
        errors.insert(
            0,
            f"WHEN __nfields <> {len(fields)} THEN 'Value count does not match column count. Expect "
            f"{len(fields)}, but got ' || __nfields",
        )
    if not targets:
        raise LoadFailure("No column of the table is loaded")
    error_case = f"CASE {' '.join(errors)} END" if errors else "NULL::VARCHAR"
    unselected = f"NOT coalesce(({options.where}), FALSE)" if options.where else "FALSE"
    select = (
        f"SELECT *, CASE WHEN __err IS NULL THEN {unselected} ELSE FALSE END AS __unselected FROM (SELECT "
        f"__seq, {', '.join(selects)}, {error_case} AS __err FROM {source})"
    )
    return _TypedRows(select, targets, op_expr is not None)


def _type_rows(
    con: duckdb.DuckDBPyConnection,
    meta: TableMeta,
    options: LoadOptions,
    src: str,
    typed: str,
    fields: list[str],
    exprs: dict[str, str],
    keyed: bool,
) -> StagedLoad:
    rows = _typed_rows_sql(meta, options, src, fields, exprs, keyed)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {typed} AS {rows.select}")
    except duckdb.Error as exc:
        raise _typing_failure(con, options, src, exc) from exc
    counts = con.execute(
        f"SELECT count(*), count(__err), count(*) FILTER (WHERE __unselected) FROM {typed}"
    ).fetchone()
    total, filtered, unselected_rows = (int(v) for v in counts) if counts else (0, 0, 0)
    error_lines = []
    if filtered:
        raw = ", ".join(f"{quote_ident(f)} := s.{quote_ident(f)}" for f in dict.fromkeys(fields))
        lines = con.execute(
            f"SELECT t.__err, to_json(struct_pack({raw})) FROM {typed} t JOIN {src} s USING (__seq) "
            f"WHERE t.__err IS NOT NULL ORDER BY t.__seq LIMIT {ERROR_LOG_MAX_ROWS}"
        ).fetchall()
        error_lines = [f"Error: {err}. Row: {row}" for err, row in lines]
    keep = [quote_ident(t) for t in rows.targets] + ([OP] if rows.has_op else [])
    relation = f"(SELECT {', '.join(keep)}, __seq FROM {typed} WHERE __err IS NULL AND NOT __unselected)"
    return StagedLoad(
        relation=relation,
        columns=rows.targets,
        total_rows=total,
        filtered_rows=filtered,
        unselected_rows=unselected_rows,
        load_bytes=0,
        error_lines=error_lines,
        temp_tables=[typed],
        has_op=rows.has_op,
    )


def _typing_failure(
    con: duckdb.DuckDBPyConnection, options: LoadOptions, src: str, exc: duckdb.Error
) -> LoadFailure:
    """Tell a body that does not parse from columns that do not convert, as staging the raw rows would."""
    probe = f"{src}_probe"
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {probe} AS SELECT * FROM {src}")
    except duckdb.Error as parse_exc:
        return LoadFailure(f"Failed to parse the {options.format.upper()} body: {parse_exc}")
    finally:
        con.execute(f"DROP TABLE IF EXISTS {probe}")
    return LoadFailure(f"Failed to convert the loaded columns: {exc}")


# Load.checkMergeCondition: `case CHAR: case VARCHAR: case PERCENTILE: case BITMAP: case FUNCTION: case BINARY:
# case VARBINARY: case JSON: case HLL: ...` -> this message (the emulator has no BITMAP/HLL/PERCENTILE columns).
_MERGE_CONDITION_BAD_TYPES = ("CHAR", "VARCHAR", "STRING", "TEXT", "JSON", "BINARY", "VARBINARY")
MERGE_CONDITION_BAD_TYPE = "Merge condition column has invalid type maybe bitmap/hll/percentile/json/varchar!"


def check_load_target(meta: TableMeta, options: LoadOptions) -> None:
    """Checks the FE makes while planning the load, before any row is read.

    fe/.../load/Load.java `checkMergeCondition` (wording copied): Primary Key tables only, the column must
    exist, must not be a key column, and must not be of a type it cannot compare. `initColumns`: a column
    named twice in `columns` ("Duplicate column: x"), a mapping onto a column the table lacks ("Mapping column
    is not in table. column: x"), and, unless `partial_update`, a NOT NULL column without default that
    `columns` leaves out ("Column has no default value. column: x").
    """
    if options.merge_condition:
        condition = options.merge_condition
        if meta.model != "PRIMARY":
            raise LoadFailure(f"Conditional update only support primary key table {meta.name}")
        column = meta.column(condition)
        if column is None:
            raise LoadFailure(
                f"Merge condition column {condition} does not exist. If you are doing partial update with "
                "condition update, please check condition column is in the given update columns. Otherwise "
                f"please check condition column is in table {meta.name}"
            )
        if column.name in meta.key_columns:
            raise LoadFailure(f"Merge condition column {condition} should not be primary key!")
        if parse_type(column.type)[0] in _MERGE_CONDITION_BAD_TYPES:
            raise LoadFailure(MERGE_CONDITION_BAD_TYPE)
    if options.partial_update and meta.model != "PRIMARY":
        raise LoadFailure("partial_update is only supported by Primary Key tables")
    if options.columns is not None:
        _check_columns_header(meta, options)


def _check_columns_header(meta: TableMeta, options: LoadOptions) -> None:
    assert options.columns is not None
    named, mapped = set(), set()
    for name, expr in options.columns:
        lowered = name.lower()
        if expr is None:
            if lowered in named:
                raise LoadFailure(f"Duplicate column: {name}")
            named.add(lowered)
            continue
        if lowered in mapped:
            raise LoadFailure(f"Duplicate column mapping: {name}")
        if meta.column(name) is None and name != OP:
            raise LoadFailure(f"Mapping column is not in table. column: {name}")
        mapped.add(lowered)
    if options.partial_update:
        return
    for column in meta.columns:
        lowered = column.name.lower()
        if lowered not in named and lowered not in mapped and not column.nullable and column.default is None:
            raise LoadFailure(f"Column has no default value. column: {column.name}")


def error_message(exc: BaseException) -> str:
    if isinstance(exc, EmulatorError):
        return exc.message
    return str(exc)


_LABEL_RE = re.compile(r"^[-_A-Za-z0-9:]{1,128}$")


def check_label(label: str | None) -> None:
    """Labels: up to 128 characters of letters, digits, `-`, `_` and `:` (StarRocks System limits page)."""
    if label is not None and not _LABEL_RE.match(label):
        raise LoadFailure(f"Incorrect label name [{label}], label regex is ^[-_A-Za-z0-9:]{{1,128}}$")
