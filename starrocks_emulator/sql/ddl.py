"""StarRocks DDL on the query port: `CREATE TABLE` / `ALTER TABLE` text <-> `TableMeta`.

Contract: `table_meta_from_create(create, current_db)` turns a sqlglot `Create` (parsed with the "starrocks"
dialect) into the engine's `TableMeta`; `column_from_def` does the same for one column (ALTER TABLE ADD/MODIFY
COLUMN); `show_create_table(meta)` renders the table back the way StarRocks' `SHOW CREATE TABLE` prints it, so
that the text can be executed again and yields the same `TableMeta` (the round trip the tests check).

Why here and not in the engine: the engine knows tables as data; only the MySQL front end speaks SQL text.
Type spelling follows StarRocks: STRING is VARCHAR(65533), VARCHAR without a length is VARCHAR(1)
(https://docs.starrocks.io/docs/sql-reference/data-types/string-type/VARCHAR/), LARGEINT is a 128-bit integer.
"""

from __future__ import annotations

import re

from sqlglot import exp

from starrocks_emulator.sql.analyzer import check_create_table
from starrocks_emulator.storage.catalog import Column, EmulatorError, TableMeta

STRING_LENGTH = 65533  # https://docs.starrocks.io/docs/sql-reference/data-types/string-type/STRING/
VARCHAR_DEFAULT_LENGTH = 1
CHAR_DEFAULT_LENGTH = 1
DEFAULT_BUCKETS = (
    1  # StarRocks picks buckets itself when BUCKETS is absent (2.5.7+); one tablet is our choice
)

# StarRocks' MySQL-style display widths in SHOW CREATE TABLE (`tinyint(4)`, `int(11)`, `bigint(20)`,
# `largeint(40)`): docs/.../table_bucket_part_index/SHOW_CREATE_TABLE.md example output.
_DISPLAY_WIDTH = {"TINYINT": 4, "SMALLINT": 6, "INT": 11, "BIGINT": 20, "LARGEINT": 40}

_SIMPLE = {
    exp.DataType.Type.BOOLEAN: "BOOLEAN",
    exp.DataType.Type.TINYINT: "TINYINT",
    exp.DataType.Type.SMALLINT: "SMALLINT",
    exp.DataType.Type.INT: "INT",
    exp.DataType.Type.BIGINT: "BIGINT",
    exp.DataType.Type.INT128: "LARGEINT",
    exp.DataType.Type.FLOAT: "FLOAT",
    exp.DataType.Type.DOUBLE: "DOUBLE",
    exp.DataType.Type.DATE: "DATE",
    exp.DataType.Type.DATETIME: "DATETIME",
    exp.DataType.Type.TIMESTAMP: "DATETIME",
    exp.DataType.Type.JSON: "JSON",
    exp.DataType.Type.VARBINARY: "VARBINARY",
}
_MODEL_PROPERTIES = {
    "DuplicateKeyProperty": "DUPLICATE",
    "UniqueKeyProperty": "UNIQUE",
    "AggregateKeyProperty": "AGGREGATE",
}
_MODEL_KEYWORD = {
    "DUPLICATE": "DUPLICATE KEY",
    "PRIMARY": "PRIMARY KEY",
    "UNIQUE": "UNIQUE KEY",
    "AGGREGATE": "AGGREGATE KEY",
}


def bt(name: str) -> str:
    """Backtick-quote an identifier the way StarRocks prints it (` doubled inside)."""
    return "`" + name.replace("`", "``") + "`"


def _int_param(param: exp.Expression) -> int:
    inner = param.this if isinstance(param, exp.DataTypeParam) else param
    return int(inner.name if isinstance(inner, exp.Expression) else inner)


def sr_type(data_type: exp.DataType) -> str:
    """StarRocks type text, upper-case (`VARCHAR(65533)`, `DECIMAL(38,9)`, `ARRAY<INT>`)."""
    kind = data_type.this
    params = [p for p in data_type.expressions if not isinstance(p, exp.DataType)]
    if kind in _SIMPLE:
        return _SIMPLE[kind]
    if kind in (exp.DataType.Type.TEXT, exp.DataType.Type.MEDIUMTEXT, exp.DataType.Type.LONGTEXT):
        return f"VARCHAR({STRING_LENGTH})"
    if kind == exp.DataType.Type.VARCHAR:
        return f"VARCHAR({_int_param(params[0]) if params else VARCHAR_DEFAULT_LENGTH})"
    if kind == exp.DataType.Type.CHAR:
        return f"CHAR({_int_param(params[0]) if params else CHAR_DEFAULT_LENGTH})"
    if kind in (exp.DataType.Type.DECIMAL, exp.DataType.Type.DECIMAL32, exp.DataType.Type.DECIMAL64):
        # DECIMAL without precision is DECIMAL(10, 0), as in MySQL, which StarRocks follows.
        precision = _int_param(params[0]) if params else 10
        scale = _int_param(params[1]) if len(params) > 1 else 0
        return f"DECIMAL({precision},{scale})"
    if kind == exp.DataType.Type.ARRAY:
        inner = [p for p in data_type.expressions if isinstance(p, exp.DataType)]
        return f"ARRAY<{sr_type(inner[0])}>" if inner else "ARRAY<INT>"
    raise EmulatorError(
        1064,
        f"Getting syntax error. Detail message: Unsupported type '{data_type.sql('starrocks')}'.",
        "42000",
    )


def _literal_text(node: exp.Expression) -> str:
    if isinstance(node, exp.Literal):
        return str(node.this)
    if isinstance(node, exp.Neg):
        return "-" + _literal_text(node.this)
    if isinstance(node, (exp.CurrentTimestamp, exp.CurrentDate)) or node.name.upper() == "CURRENT_TIMESTAMP":
        return "CURRENT_TIMESTAMP"
    if isinstance(node, exp.Null):
        return "NULL"
    return node.sql("starrocks")


def column_from_def(column_def: exp.ColumnDef) -> Column:
    """One StarRocks column definition -> `Column` (NOT NULL, NULL, DEFAULT, COMMENT)."""
    kind = column_def.args.get("kind")
    if not isinstance(kind, exp.DataType):
        raise EmulatorError(
            1064, f"Getting syntax error. Detail message: column '{column_def.name}' has no type.", "42000"
        )
    nullable, default, comment = True, None, ""
    for constraint in column_def.args.get("constraints") or []:
        kind_node = constraint.args.get("kind")
        if isinstance(kind_node, exp.NotNullColumnConstraint):
            nullable = bool(kind_node.args.get("allow_null"))
        elif isinstance(kind_node, exp.DefaultColumnConstraint):
            default = _literal_text(kind_node.this)
        elif isinstance(kind_node, exp.CommentColumnConstraint):
            comment = _literal_text(kind_node.this)
    return Column(
        name=column_def.name, type=sr_type(kind), nullable=nullable, default=default, comment=comment
    )


def _names(nodes: list[exp.Expression]) -> list[str]:
    return [n.name for n in nodes]


def table_meta_from_create(create: exp.Create, current_db: str | None) -> TableMeta:
    """A parsed StarRocks `CREATE TABLE` -> `TableMeta`. Rules from CREATE_TABLE.md (docs.starrocks.io
    sql-statements/table_bucket_part_index/CREATE_TABLE): without a key clause the table is a Duplicate Key
    table keyed on its leading columns; names, keys and key types as the FE analyzer checks them
    (analyzer.py); Primary Key columns are NOT NULL."""
    schema = create.this
    table = schema.this
    db = table.db or current_db
    if not db:
        raise EmulatorError(1046, "No database selected", "3D000")
    columns: list[Column] = []
    model, keys, comment = None, [], ""
    for item in schema.expressions:
        if isinstance(item, exp.ColumnDef):
            columns.append(column_from_def(item))
        elif isinstance(item, exp.PrimaryKey):
            model, keys = "PRIMARY", _names(item.expressions)
            for option in item.args.get("options") or []:
                if option.args.get("comment") is not None:
                    comment = _literal_text(option.args["comment"])
    distribution, dist_columns, buckets, properties = "RANDOM", [], DEFAULT_BUCKETS, {}
    for prop in (create.args.get("properties") or exp.Properties(expressions=[])).expressions:
        name = type(prop).__name__
        if name in _MODEL_PROPERTIES:
            model, keys = _MODEL_PROPERTIES[name], _names(prop.expressions)
        elif isinstance(prop, exp.DistributedByProperty):
            distribution = str(prop.args.get("kind") or "HASH").upper()
            dist_columns = _names(prop.expressions)
            if prop.args.get("buckets") is not None:
                buckets = int(_literal_text(prop.args["buckets"]))
        elif isinstance(prop, exp.SchemaCommentProperty):
            comment = _literal_text(prop.this)
        elif type(prop) is exp.Property:
            properties[_literal_text(prop.this)] = _literal_text(prop.args["value"])
    if not columns:
        raise EmulatorError(1113, "A table must have at least 1 column", "42000")
    if model is None:
        # Default Duplicate Key: the first columns (up to 3) — CREATE_TABLE.md "key_desc".
        model, keys = "DUPLICATE", [columns[0].name]
    known = {c.name.lower() for c in columns}
    for key in dist_columns:
        if key.lower() not in known:
            raise EmulatorError(1054, f"Unknown column '{key}' in '{table.name}'", "42S22")
    meta = TableMeta(
        db=db,
        name=table.name,
        columns=columns,
        model=model,
        key_columns=keys,
        distribution=distribution,
        distribution_columns=dist_columns,
        buckets=buckets,
        properties=properties,
        comment=comment,
    )
    check_create_table(meta, _explicit_null(schema))
    if model == "PRIMARY":
        # ColumnDef.setPrimaryKeyNonNullable: a key column written without NULL / NOT NULL becomes NOT NULL.
        key_set = {k.lower() for k in keys}
        meta.columns = [
            Column(c.name, c.type, False, c.default, c.comment) if c.name.lower() in key_set else c
            for c in columns
        ]
    return meta


def _explicit_null(schema: exp.Schema) -> set[str]:
    """Lower-case names of the columns declared with an explicit `NULL`."""
    names = set()
    for item in schema.expressions:
        if not isinstance(item, exp.ColumnDef):
            continue
        for constraint in item.args.get("constraints") or []:
            kind = constraint.args.get("kind")
            if isinstance(kind, exp.NotNullColumnConstraint) and kind.args.get("allow_null"):
                names.add(item.name.lower())
    return names


_TYPE_PARTS = re.compile(r"^([A-Z]+)(.*)$")


def show_type(sr: str) -> str:
    """StarRocks type text as SHOW CREATE TABLE prints it: lower-case with display widths (`int(11)`)."""
    if sr.startswith("ARRAY<") and sr.endswith(">"):
        return f"array<{show_type(sr[6:-1])}>"
    match = _TYPE_PARTS.match(sr)
    base, rest = (match.group(1), match.group(2)) if match else (sr, "")
    if base in _DISPLAY_WIDTH and not rest:
        return f"{base.lower()}({_DISPLAY_WIDTH[base]})"
    if base == "DECIMAL":
        return "decimal" + rest.replace(",", ", ")
    return base.lower() + rest


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def show_create_table(meta: TableMeta) -> str:
    """The `Create Table` column of SHOW CREATE TABLE, shaped like StarRocks 3.x prints it (see
    docs/zh/sql-reference/sql-statements/table_bucket_part_index/SHOW_CREATE_TABLE.md)."""
    lines = []
    for column in meta.columns:
        text = f"  {bt(column.name)} {show_type(column.type)} {'NULL' if column.nullable else 'NOT NULL'}"
        if column.default is not None:
            text += (
                " DEFAULT CURRENT_TIMESTAMP"
                if column.default == "CURRENT_TIMESTAMP"
                else f" DEFAULT {_quoted(column.default)}"
            )
        text += f" COMMENT {_quoted(column.comment)}"
        lines.append(text)
    out = [f"CREATE TABLE {bt(meta.name)} (", ",\n".join(lines), ") ENGINE=OLAP "]
    out.append(f"{_MODEL_KEYWORD[meta.model]}({', '.join(bt(k) for k in meta.key_columns)})")
    out.append(f"COMMENT {_quoted(meta.comment or 'OLAP')}")
    if meta.distribution == "HASH":
        out.append(
            f"DISTRIBUTED BY HASH({', '.join(bt(c) for c in meta.distribution_columns)}) BUCKETS {meta.buckets}"
        )
    else:
        out.append(f"DISTRIBUTED BY RANDOM BUCKETS {meta.buckets}")
    # StarRocks prints the properties sorted by name
    properties = dict(sorted({"replication_num": "1", **meta.properties}.items()))
    out.append(
        "PROPERTIES (\n" + ",\n".join(f"{_quoted(k)} = {_quoted(v)}" for k, v in properties.items()) + "\n);"
    )
    return "\n".join(out)
