"""StarRocks SQL -> DuckDB SQL for the query port (sqlglot: read "starrocks", write "duckdb").

Contract:
- `parse_statements(sql)` parses with the StarRocks dialect and turns a sqlglot parse failure into StarRocks'
  syntax error: code 1064, "Getting syntax error at line L, column C. Detail message: Unexpected input 'x', ..."
  (docs/*/sql-reference/sql-statements/keywords.md shows `ERROR 1064 (HY000): Getting syntax error at line 1,
  column 16. Detail message: Unexpected input 'like', the most similar input is {a legal identifier}.`).
- `qualify_tables(expression, current_db, exists)` gives every table reference its database and raises StarRocks'
  unknown-table error for tables that do not exist: code 5502, SQLSTATE 42602, "Getting analyzing error. Detail
  message: Unknown table 'db.tbl'." (fe ErrorCode.ERR_BAD_TABLE_ERROR; docs/ja/.../SHOW_WARNINGS.md example 3).
- `to_duckdb(expression)` rewrites StarRocks functions DuckDB lacks (get_json_string, get_json_int, json_query,
  ...) and CASTs into StarRocks' semantics (casts.py: a failed conversion is NULL), and renders DuckDB SQL. StarRocks databases are DuckDB schemas of the same name (engine.py).
"""

from __future__ import annotations

from collections.abc import Callable

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from starrocks_emulator.sql.casts import starrocks_casts
from starrocks_emulator.storage.catalog import EmulatorError

INFORMATION_SCHEMA = "information_schema"
_SYNTAX_HINT = "the most similar input is {a legal identifier}."


def syntax_error(line: int, column: int, token: str) -> EmulatorError:
    return EmulatorError(
        1064,
        f"Getting syntax error at line {line}, column {column}. Detail message: Unexpected input '{token}', "
        + _SYNTAX_HINT,
        "HY000",
    )


def unknown_table(db: str, table: str) -> EmulatorError:
    return EmulatorError(
        5502, f"Getting analyzing error. Detail message: Unknown table '{db}.{table}'.", "42602"
    )


def unknown_database(db: str) -> EmulatorError:
    # fe ErrorCode.ERR_BAD_DB_ERROR (5501, SQLSTATE 3F000): "Unknown database '%s'".
    return EmulatorError(5501, f"Getting analyzing error. Detail message: Unknown database '{db}'.", "3F000")


def analysis_error(err: Exception) -> EmulatorError:
    """A DuckDB error while running a translated query, as StarRocks' analyzer error (1064, HY000)."""
    first = str(err).splitlines()[0] if str(err) else type(err).__name__
    return EmulatorError(1064, f"Getting analyzing error. Detail message: {first}.", "HY000")


def no_database_selected() -> EmulatorError:
    return EmulatorError(1046, "No database selected", "3D000")


def parse_statements(sql: str) -> list[exp.Expression]:
    """All statements in `sql`, parsed with the StarRocks dialect; StarRocks-shaped 1064 on bad SQL."""
    try:
        statements = sqlglot.parse(sql, read="starrocks")
    except ParseError as err:
        first = err.errors[0] if err.errors else {}
        token = str(first.get("highlight") or "").strip() or "<EOF>"
        raise syntax_error(int(first.get("line") or 1), int(first.get("col") or 0), token) from err
    except TokenError as err:
        raise syntax_error(1, 0, str(err)[:40]) from err
    return [s for s in statements if s is not None]


def table_refs(expression: exp.Expression) -> list[exp.Table]:
    """Real table references (not CTE names) in a statement."""
    ctes = {cte.alias_or_name.lower() for cte in expression.find_all(exp.CTE)}
    refs = []
    for table in expression.find_all(exp.Table):
        if not table.name or isinstance(table.this, exp.Func):
            continue
        if not table.db and table.name.lower() in ctes:
            continue
        refs.append(table)
    return refs


def is_information_schema(expression: exp.Expression, current_db: str | None) -> bool:
    refs = table_refs(expression)
    if not refs:
        return False
    return all((t.db or current_db or "").lower() == INFORMATION_SCHEMA for t in refs)


def qualify_tables(
    expression: exp.Expression, current_db: str | None, exists: Callable[[str, str], bool]
) -> list[tuple[str, str]]:
    """Give each table its database (the session's when absent); return the (db, table) pairs read."""
    found = []
    for table in table_refs(expression):
        db = table.db or current_db
        if not db:
            raise no_database_selected()
        if not exists(db, table.name):
            raise unknown_table(db, table.name)
        table.set("db", exp.to_identifier(db, quoted=True))
        table.set("this", exp.to_identifier(table.name, quoted=True))
        table.set("catalog", None)
        found.append((db, table.name))
    return found


def _json_path_call(name: str, args: list[exp.Expression]) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=args)


def _rewrite_function(node: exp.Expression) -> exp.Expression:
    """StarRocks JSON functions -> DuckDB (https://docs.starrocks.io/docs/sql-reference/sql-functions/json-functions/)."""
    if not isinstance(node, exp.Anonymous):
        return node
    name = node.name.upper()
    args = list(node.expressions)
    if name == "GET_JSON_STRING" and len(args) == 2:
        return _json_path_call("json_extract_string", args)
    if name in ("GET_JSON_INT", "GET_JSON_BIGINT") and len(args) == 2:
        return exp.TryCast(this=_json_path_call("json_extract_string", args), to=exp.DataType.build("BIGINT"))
    if name == "GET_JSON_DOUBLE" and len(args) == 2:
        return exp.TryCast(this=_json_path_call("json_extract_string", args), to=exp.DataType.build("DOUBLE"))
    if name == "GET_JSON_BOOL" and len(args) == 2:
        return exp.TryCast(
            this=_json_path_call("json_extract_string", args), to=exp.DataType.build("BOOLEAN")
        )
    if name == "JSON_QUERY" and len(args) == 2:
        return _json_path_call("json_extract", args)
    if name == "JSON_LENGTH" and args:
        return _json_path_call("json_array_length", args)
    return node


def to_duckdb(expression: exp.Expression) -> str:
    """DuckDB SQL for a (qualified) StarRocks statement; CASTs follow StarRocks (casts.py)."""
    rewritten = starrocks_casts(expression.copy()).transform(_rewrite_function)
    return rewritten.sql(dialect="duckdb")


def literal_value(node: exp.Expression) -> tuple[bool, object]:
    """(True, python value) when `node` is a plain literal INSERT can use without evaluating SQL."""
    if isinstance(node, exp.Literal):
        if node.is_string:
            return True, node.this
        text = str(node.this)
        try:
            return True, int(text)
        except ValueError:
            try:
                return True, float(text) if "e" in text.lower() else _decimal(text)
            except ValueError:
                return False, None
    if isinstance(node, exp.Null):
        return True, None
    if isinstance(node, exp.Boolean):
        return True, bool(node.this)
    if isinstance(node, exp.Neg):
        ok, value = literal_value(node.this)
        if ok and isinstance(value, (int, float)) or type(value).__name__ == "Decimal":
            return ok, -value  # type: ignore[operator]
    return False, None


def _decimal(text: str) -> object:
    from decimal import Decimal

    return Decimal(text)
