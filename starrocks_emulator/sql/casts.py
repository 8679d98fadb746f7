"""StarRocks' CAST on DuckDB: a value that does not convert becomes NULL, never an error.

StarRocks evaluates `CAST(x AS T)` in the BE (be/src/exprs/cast_expr.cpp). Unless the session asks for errors
(`AllowThrowException`, off by default), every failed conversion appends NULL: `cast_int_from_string_fn`
("null_data[i] = (result != StringParser::PARSE_SUCCESS)"), `cast_float_from_string_fn` ("is_null = (result !=
PARSE_SUCCESS || std::isnan(r) || std::isinf(r))"), `cast_from_string_to_bool_fn`, `cast_from_json_fn`, and the
range checks of number-to-number casts (`UNARY_FN_CAST_VALID` with `NumberCheck`). DuckDB's CAST raises a
conversion error instead, and its TRY_CAST is more lenient than StarRocks in other ways (it reads '1.5' as the
integer 2, '1e3' as 1000, 'yes' as true, rounds 1.7 to 2). So the query port rewrites every CAST into what the
BE does, per source type, found at run time with `typeof()`:

- to an integer type: a string converts only if it is whitespace, an optional sign and digits, whitespace
  (be/src/util/string_parser.hpp `string_to_int`: leading whitespace by the retry after
  `skip_leading_whitespace`, trailing whitespace allowed, a lone sign reads 0); overflow is NULL. FLOAT/DOUBLE
  are truncated toward zero (`ImplicitToNumber` is a C++ conversion) and NULL when out of range (`NumberCheck`);
  DECIMAL is truncated too (decimal_cast_expr.h: not verified); DATE reads as yyyymmdd, DATETIME as
  yyyymmddhhmmss (`DateToNumber`, `TimestampToNumber`).
- to FLOAT/DOUBLE: a string in decimal or exponent notation; NaN and infinities are NULL
  (`cast_float_from_string_fn`). StringParser's other accepted spellings are not verified.
- to BOOLEAN: a string that parses as an int32 is `!= 0`, else 'true'/'false' in any case, else NULL
  (`cast_from_string_to_bool_fn`).
- to JSON: a string whose first non-space character is `{`, `[`, `"` or a digit is parsed (invalid: NULL);
  any other string becomes a JSON string (be/src/util/json.cpp `parse_json_or_string`, used by
  `cast_to_json_fn`), so `CAST('abc' AS JSON)` is `"abc"`.
- to VARCHAR/STRING: unchanged (a cast to text does not fail). Every other pair: DuckDB's TRY_CAST.
"""

from __future__ import annotations

import functools

import sqlglot
from sqlglot import exp

_ARG = "__sr_cast_arg"
_WS = r"[ \t\n\x0B\f\r]"  # StringParser::is_whitespace
_WS_CHARS = "' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13)"
_INTEGERS = {
    exp.DataType.Type.TINYINT,
    exp.DataType.Type.SMALLINT,
    exp.DataType.Type.INT,
    exp.DataType.Type.BIGINT,
    exp.DataType.Type.INT128,
}
_FLOATS = {exp.DataType.Type.FLOAT, exp.DataType.Type.DOUBLE}


def _text(arg: str) -> str:
    return f"CAST({arg} AS VARCHAR)"


def _trimmed(arg: str) -> str:
    return f"trim({_text(arg)}, {_WS_CHARS})"


def _integer_from_text(arg: str, target: str) -> str:
    return (
        f"CASE WHEN regexp_full_match({_text(arg)}, '{_WS}*[+-]') THEN CAST(0 AS {target}) "
        f"WHEN regexp_full_match({_text(arg)}, '{_WS}*[+-]?[0-9]+{_WS}*') "
        f"THEN TRY_CAST({_trimmed(arg)} AS {target}) END"
    )


def _template(to: exp.DataType) -> str | None:
    """DuckDB SQL for `CAST(__sr_cast_arg AS to)` with StarRocks' semantics; None: keep DuckDB's CAST."""
    kind = to.this
    target = to.sql("duckdb")
    x = _ARG
    if kind in exp.DataType.TEXT_TYPES:
        return None
    if kind in _INTEGERS:
        return (
            f"CASE WHEN typeof({x}) = 'VARCHAR' THEN {_integer_from_text(x, target)} "
            f"WHEN typeof({x}) IN ('FLOAT', 'DOUBLE') THEN TRY_CAST(trunc(TRY_CAST({x} AS DOUBLE)) AS {target}) "
            f"WHEN typeof({x}) LIKE 'DECIMAL%' "
            f"THEN TRY_CAST(regexp_extract({_text(x)}, '^-?[0-9]+') AS {target}) "
            f"WHEN typeof({x}) = 'DATE' THEN TRY_CAST(strftime(TRY_CAST({x} AS DATE), '%Y%m%d') AS {target}) "
            f"WHEN typeof({x}) LIKE 'TIMESTAMP%' "
            f"THEN TRY_CAST(strftime(TRY_CAST({x} AS TIMESTAMP), '%Y%m%d%H%M%S') AS {target}) "
            f"ELSE TRY_CAST({x} AS {target}) END"
        )
    if kind in _FLOATS:
        number = f"{_WS}*[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?{_WS}*"
        return (
            f"CASE WHEN typeof({x}) = 'VARCHAR' THEN CASE WHEN regexp_full_match({_text(x)}, '{number}') "
            f"AND isfinite(TRY_CAST({_trimmed(x)} AS DOUBLE)) THEN TRY_CAST({_trimmed(x)} AS {target}) END "
            f"ELSE TRY_CAST({x} AS {target}) END"
        )
    if kind == exp.DataType.Type.BOOLEAN:
        as_int = _integer_from_text(x, "INTEGER")
        return (
            f"CASE WHEN typeof({x}) = 'VARCHAR' THEN CASE WHEN ({as_int}) IS NOT NULL THEN ({as_int}) <> 0 "
            f"WHEN lower({_trimmed(x)}) IN ('true', 'false') THEN lower({_trimmed(x)}) = 'true' END "
            f"ELSE TRY_CAST({x} AS BOOLEAN) END"
        )
    if kind == exp.DataType.Type.JSON:
        return (
            f"CASE WHEN typeof({x}) = 'VARCHAR' THEN CASE "
            f"WHEN regexp_matches({_text(x)}, '^{_WS}*[\\[{{\"0-9]') THEN TRY_CAST({_text(x)} AS JSON) "
            f"WHEN {_text(x)} = '' THEN NULL ELSE to_json({_text(x)}) END "
            f"ELSE TRY_CAST({x} AS JSON) END"
        )
    return f"TRY_CAST({x} AS {target})"


@functools.lru_cache(maxsize=64)
def _parsed(target_sql: str) -> exp.Expression | None:
    to = exp.DataType.build(target_sql, dialect="duckdb")
    template = _template(to)
    return None if template is None else sqlglot.parse_one(template, read="duckdb")


def starrocks_casts(expression: exp.Expression) -> exp.Expression:
    """`expression` with every CAST (not TRY_CAST) rewritten to StarRocks' semantics; innermost first."""
    casts = [c for c in expression.find_all(exp.Cast, bfs=False) if not isinstance(c, exp.TryCast)]
    for cast in reversed(casts):  # pre-order reversed: a cast inside another is rewritten first
        template = _parsed(cast.to.sql("duckdb"))
        if template is None:
            continue
        argument = cast.this
        rewritten = template.copy().transform(
            lambda node, argument=argument: (
                argument.copy() if isinstance(node, exp.Column) and node.name == _ARG else node
            )
        )
        if cast is expression:
            return rewritten
        cast.replace(rewritten)
    return expression
