"""`INSERT INTO t [PARTITION (...)] WITH LABEL l [(columns)] {VALUES ... | query}`: an INSERT with its own label.

StarRocks' grammar (fe/fe-core/src/main/java/com/starrocks/sql/parser/StarRocks.g4, `insertStatement`):
`INSERT (INTO | OVERWRITE) qualifiedName partitionNames? (WITH LABEL label=identifier)? columnAliases?
(queryStatement | VALUES ...)`, so the label comes after the table (and its partitions) and before the column
list; it is an identifier, plain or backquoted (a label with '-' needs the backquotes). sqlglot does not know the
clause, so the query port cuts it out here and hands the label to the INSERT's load job.

The label is the job's transaction label (docs sql-reference/sql-statements/loading_unloading/INSERT.md: "The
label of the load job ... unique within the database"; "if the load job fails due to a network error, you can
use the label to find out whether the job succeeded"). A label a live (not ABORTED) job holds is refused before
anything is loaded, with `LabelAlreadyUsedException`'s text "Label [l] has already been used." (fe
`DatabaseTransactionMgr.beginTransaction`; StarRocks' own SQL test test/sql/test_insert_empty/R/test_insert_label
expects exactly that text for a second `insert into t1 with label label0 ...`). StmtExecutor reports it with
`context.getState().setError(e.getMessage())` and no ErrorCode, so the MySQL error is MysqlErrPacket's default,
1064 (HY000). A label whose job failed is free again. The label after the column list, which newer releases also
accept (the same StarRocks test), is refused here as by the older grammar above (the stricter side).
"""

from __future__ import annotations

import re

from starrocks_emulator.storage.catalog import EmulatorError

_NAME = r"(?:`(?:[^`]|``)+`|[A-Za-z0-9_$]+)"
_INSERT_WITH_LABEL = re.compile(
    rf"^(?P<head>\s*INSERT\s+(?:INTO|OVERWRITE)\s+{_NAME}(?:\s*\.\s*{_NAME})*"
    r"(?:\s+(?:TEMPORARY\s+)?PARTITIONS?\s*\([^)]*\))?)"
    rf"\s+WITH\s+LABEL\s+(?P<label>{_NAME})",
    re.IGNORECASE | re.DOTALL,
)


def split_label(sql: str) -> tuple[str, str | None]:
    """(the INSERT without its WITH LABEL clause, the label), or (sql, None) when it has none."""
    match = _INSERT_WITH_LABEL.match(sql)
    if match is None:
        return sql, None
    label = match.group("label")
    if label.startswith("`"):
        label = label[1:-1].replace("``", "`")
    return match.group("head") + sql[match.end() :], label


def label_already_used(label: str) -> EmulatorError:
    return EmulatorError(1064, f"Label [{label}] has already been used.", "HY000")
