"""Statement dispatch of the query port: one StarRocks statement -> engine calls -> a MySQL answer.

Contract: `StatementRunner(engine, info, session, be_host).execute(sql)` returns None (OK), an int (OK with
affected rows: INSERT/DELETE) or `(column_names, rows)`; it raises `EmulatorError` with StarRocks' code and
message. Semantics follow StarRocks: each INSERT statement is one transaction and one new version
(https://docs.starrocks.io/docs/loading/InsertInto/ — "each INSERT is one load job / transaction"); DELETE is one
version; privileges are checked per statement (privileges.py). Session-level things (variables, @@vars,
database(), current_version()) are answered here too, from the session.
"""

from __future__ import annotations

import re
from typing import Any

import duckdb
from sqlglot import exp

from starrocks_emulator.sql import be_system_tables
from starrocks_emulator.sql.admin_statements import admin_statement
from starrocks_emulator.sql.analyzer import check_column_name, check_db_name, check_table_name
from starrocks_emulator.sql.ddl import column_from_def, table_meta_from_create
from starrocks_emulator.sql.information_schema import InformationSchema
from starrocks_emulator.sql.insert_label import label_already_used, split_label
from starrocks_emulator.sql.privileges import account_statement, run_account_statement
from starrocks_emulator.sql.show_statements import (
    admin_show_frontend_config,
    describe,
    like_filter,
    show_columns,
    show_create,
    show_databases,
    show_tables,
    show_tablet,
)
from starrocks_emulator.sql.translate import (
    analysis_error,
    is_information_schema,
    literal_value,
    no_database_selected,
    parse_statements,
    qualify_tables,
    table_refs,
    to_duckdb,
    unknown_database,
    unknown_table,
)
from starrocks_emulator.storage.catalog import EmulatorError
from starrocks_emulator.storage.ledger import LabelAlreadyExistsError, check_label
from starrocks_emulator.storage.schema_change import ColumnChange
from starrocks_emulator.version import current_version

Answer = None | int | tuple[list[str], list[tuple]]
_SHOW_TABLET = re.compile(r"^\s*SHOW\s+TABLETS?\s+FROM\s+(?P<name>[`\w.]+)\s*$", re.IGNORECASE)
_ADMIN_SHOW_CONFIG = re.compile(
    r"^\s*ADMIN\s+SHOW\s+FRONTEND\s+CONFIG(?:\s+LIKE\s+'(?P<like>[^']*)')?\s*$", re.IGNORECASE
)
_CURRENT_VERSION = re.compile(r"\bcurrent_version\s*\(\s*\)", re.IGNORECASE)
_CURRENT_VERSION_FN = "__sr_current_version"


def _split_name(name: str, current_db: str | None) -> tuple[str, str]:
    parts = [p.strip("`") for p in name.split(".")]
    if len(parts) == 2:
        return parts[0], parts[1]
    if not current_db:
        raise no_database_selected()
    return current_db, parts[0]


class StatementRunner:
    def __init__(self, engine: Any, info: InformationSchema, session: Any, be_host: str) -> None:
        self.engine = engine
        self.info = info
        self.session = session
        self.be_host = be_host

    # ------------------------------------------------------------------ helpers
    @property
    def user(self) -> str:
        return self.session.username or ""

    @property
    def database(self) -> str | None:
        return self.session.database

    def _exists(self, db: str, table: str) -> bool:
        return db in self.engine.databases() and table in self.engine.tables(db)

    def _target(self, table: exp.Table) -> tuple[str, str]:
        db = table.db or self.database
        if not db:
            raise no_database_selected()
        if not self._exists(db, table.name):
            raise unknown_table(db, table.name)
        return db, table.name

    def _check(self, privilege: str, db: str, table: str | None) -> None:
        self.engine.check_privilege(self.user, privilege, db, table)

    def use(self, database: str) -> None:
        if database.lower() != "information_schema" and database not in self.engine.databases():
            raise unknown_database(database)
        self.session.database = database

    # ------------------------------------------------------------------ entry
    def execute(self, sql: str) -> Answer:
        text = sql.strip().rstrip(";").strip()
        if not text:
            raise EmulatorError(1065, "Query was empty", "42000")
        account = account_statement(text)
        if account is not None:
            rows, names = run_account_statement(self.engine, self.user, account)
            return (names, rows) if names else None
        match = _SHOW_TABLET.match(text)
        if match:
            db, table = _split_name(match.group("name"), self.database)
            # SHOW TABLET asks OPERATE on SYSTEM, whatever the user may do with the table: fe
            # PrivilegeCheckerV2.visitShowTabletStatement -> checkStmtOperatePrivilege (3.x). Newer FEs moved
            # the check into ShowExecutor's execution of the statement; that it is still OPERATE is not verified.
            be_system_tables.require_operate(self.engine, self.user)
            rows, names = show_tablet(self.engine, db, table, self.be_host)
            return names, rows
        match = be_system_tables.UPDATE_BE_CONFIG.match(text)
        if match:
            be_system_tables.update_be_config(self.engine, self.user, match)
            return None
        match = _ADMIN_SHOW_CONFIG.match(text)
        if match:
            rows, names = admin_show_frontend_config(match.group("like"), self.engine)
            return names, rows
        admin = admin_statement(self, text)
        if admin is not False:
            return admin
        text = _CURRENT_VERSION.sub(f"{_CURRENT_VERSION_FN}()", text)
        text, label = split_label(text)  # INSERT ... WITH LABEL l (insert_label.py)
        answer: Answer = None
        for statement in parse_statements(text):
            try:
                if label is not None and isinstance(statement, exp.Insert):
                    answer = self.insert(statement, label)
                else:
                    answer = self.statement(statement)
            except duckdb.Error as err:
                raise analysis_error(err) from err
        return answer

    def statement(self, st: exp.Expression) -> Answer:
        if isinstance(st, exp.Query):
            return self.select(st)
        if isinstance(st, exp.Insert):
            return self.insert(st)
        if isinstance(st, exp.Delete):
            return self.delete(st)
        if isinstance(st, exp.Create):
            return self.create(st)
        if isinstance(st, exp.Drop):
            return self.drop(st)
        if isinstance(st, exp.TruncateTable):
            for table in st.expressions:
                db, name = self._target(table)
                self._check("DELETE", db, name)
                self.engine.truncate_table(db, name)
            return None
        if isinstance(st, exp.Alter):
            return self.alter(st)
        if isinstance(st, exp.Use):
            self.use(st.this.name)
            return None
        if isinstance(st, exp.Show):
            return self.show(st)
        if isinstance(st, exp.Describe):
            db, name = self._target(st.this) if isinstance(st.this, exp.Table) else (None, None)
            if db is None or name is None:
                return self.select(st.this)
            self._check("SELECT", db, name)
            rows, names = describe(self.engine, db, name)
            return names, rows
        if isinstance(st, exp.Set):
            return self.set(st)
        if isinstance(st, (exp.Transaction, exp.Commit, exp.Rollback, exp.Kill)):
            return None
        raise EmulatorError(
            1064, f"Getting syntax error. Detail message: Unsupported statement '{st.sql()[:80]}'."
        )

    # ------------------------------------------------------------------ queries
    def _builtin(self, node: exp.Expression) -> exp.Expression | None:
        """Session functions and @@variables as literals (what StarRocks' FE folds before planning)."""
        variables = self.session.variables
        if isinstance(node, exp.SessionParameter):
            value = variables.get(node.name)
            if value is None and node.name.lower() not in variables.schema:
                raise EmulatorError(1193, f"Unknown system variable '{node.name}'")
            return exp.convert(int(value) if isinstance(value, bool) else value)
        if isinstance(node, exp.CurrentSchema):
            return exp.convert(self.database)
        if isinstance(node, exp.CurrentUser):
            return exp.convert(f"'{self.user}'@'%'")
        if isinstance(node, exp.CurrentVersion):
            return exp.convert(variables.get("version"))
        if isinstance(node, exp.Anonymous):
            name = node.name.upper()
            if name == _CURRENT_VERSION_FN.upper():
                return exp.convert(current_version())
            if name in ("USER", "SESSION_USER", "SYSTEM_USER"):
                return exp.convert(f"'{self.user}'@'%'")
            if name == "CONNECTION_ID":
                return exp.convert(self.session.connection.connection_id)
            if name == "LAST_INSERT_ID":
                return exp.convert(0)
        return None

    def _fold_builtins(self, st: exp.Expression) -> exp.Expression:
        st = st.copy()
        if isinstance(st, exp.Select):
            # StarRocks labels an unaliased expression column with its SQL text (`count(*)`, `@@version_comment`);
            # label before translating so DuckDB's spelling (json_extract_string ...) never reaches the client.
            for projection in list(st.expressions):
                if isinstance(projection, (exp.Alias, exp.Column, exp.Star)):
                    continue
                label = projection.sql("starrocks", normalize_functions="lower")
                label = re.sub(rf"(?i){_CURRENT_VERSION_FN}\(\)", "\x00", label)
                label = re.sub(r"(?i)\bcurrent_version\(\)", "version()", label).replace(
                    "\x00", "current_version()"
                )
                projection.replace(exp.alias_(projection.copy(), label, quoted=True))

        def fold(node: exp.Expression) -> exp.Expression:
            return self._builtin(node) or node

        return st.transform(fold)

    def select(self, st: exp.Expression) -> Answer:
        st = self._fold_builtins(st)
        if is_information_schema(st, self.database):
            return self.info.query(st, self.user)
        if not table_refs(st):
            return self.info.run_private(to_duckdb(st))
        for db, table in qualify_tables(st, self.database, self._exists):
            self._check("SELECT", db, table)
        return self.engine.query(to_duckdb(st))

    def _source_rows(self, source: exp.Expression) -> list[tuple]:
        if isinstance(source, exp.Values):
            rows: list[tuple] = []
            for row in source.expressions:
                values = row.expressions if isinstance(row, exp.Tuple) else [row]
                parsed = [literal_value(v) for v in values]
                if all(ok for ok, _ in parsed):
                    rows.append(tuple(v for _, v in parsed))
                else:
                    select = exp.select(*[self._fold_builtins(v) for v in values])
                    rows.append(tuple(self.info.run_private(to_duckdb(select))[1][0]))
            return rows
        names, rows = self.select(source)  # type: ignore[misc]
        return rows

    def insert(self, st: exp.Insert, label: str | None = None) -> Answer:
        target = st.this
        table = target.this if isinstance(target, exp.Schema) else target
        db, name = self._target(table)
        self._check("INSERT", db, name)
        if label is not None:  # checked before the query runs, as fe begins the transaction when planning
            check_label(label)
            if self.engine.label_state(db, label) not in ("UNKNOWN", "ABORTED"):
                raise label_already_used(label)
        meta = self.engine.table(db, name)
        columns = (
            [c.name for c in target.expressions]
            if isinstance(target, exp.Schema)
            else [c.name for c in meta.columns]
        )
        rows = self._source_rows(st.expression)
        for row in rows:
            if len(row) != len(columns):
                # fe ErrorCode.ERR_INSERT_COLUMN_COUNT_MISMATCH (5604, 42601)
                raise EmulatorError(
                    5604,
                    f"Getting analyzing error. Detail message: Inserted target column count: {len(columns)} "
                    f"doesn't match select/value column count: {len(row)}.",
                    "42601",
                )
        if st.args.get("overwrite"):
            self.engine.truncate_table(db, name)
        try:
            return self.engine.insert_rows(db, name, columns, rows, self.user, label=label)
        except LabelAlreadyExistsError as exc:
            raise label_already_used(exc.label) from None

    def delete(self, st: exp.Delete) -> Answer:
        db, name = self._target(st.this)
        self._check("DELETE", db, name)
        where = st.args.get("where")
        if where is None:
            condition = "TRUE"
        else:
            condition_expr = self._fold_builtins(where.this)
            qualify_tables(condition_expr, self.database, self._exists)
            condition = to_duckdb(condition_expr)
        return self.engine.delete_where(db, name, condition, self.user)

    # ------------------------------------------------------------------ DDL
    def create(self, st: exp.Create) -> Answer:
        kind = str(st.args.get("kind") or "").upper()
        if kind in ("DATABASE", "SCHEMA"):
            check_db_name(st.this.name)
            self._check("CREATE DATABASE", st.this.name, None)
            self.engine.create_database(st.this.name, if_not_exists=bool(st.args.get("exists")))
            return None
        if kind != "TABLE" or st.expression is not None:
            raise EmulatorError(
                1064, f"Getting syntax error. Detail message: CREATE {kind} is not supported here."
            )
        meta = table_meta_from_create(st, self.database)
        if meta.db not in self.engine.databases():
            raise unknown_database(meta.db)
        self._check("CREATE TABLE", meta.db, None)
        self.engine.create_table(meta, if_not_exists=bool(st.args.get("exists")))
        return None

    def drop(self, st: exp.Drop) -> Answer:
        kind = str(st.args.get("kind") or "").upper()
        if_exists = bool(st.args.get("exists"))
        for table in st.args.get("tables") or [st.this]:
            if kind in ("DATABASE", "SCHEMA"):
                self._check("DROP", table.name, None)
                self.engine.drop_database(table.name, if_exists=if_exists)
                continue
            db = table.db or self.database
            if not db:
                raise no_database_selected()
            if if_exists and not self._exists(db, table.name):
                continue
            db, name = self._target(table)
            self._check("DROP", db, name)
            self.engine.drop_table(db, name, if_exists=if_exists, force=bool(st.args.get("force")))
        return None

    def alter(self, st: exp.Alter) -> Answer:
        """Column clauses of one ALTER TABLE become one schema change job (storage/schema_change.py)."""
        db, name = self._target(st.this)
        self._check("ALTER", db, name)
        changes: list[ColumnChange] = []
        for action in st.args.get("actions") or []:
            if isinstance(action, exp.ColumnDef):
                position = action.args.get("position")
                after = position.this.name if position is not None and position.this is not None else None
                check_column_name(action.name)
                changes.append(ColumnChange("add", column_from_def(action), after=after))
            elif isinstance(action, exp.Drop):
                changes.extend(ColumnChange("drop", name=c.name) for c in action.args.get("tables") or [])
            elif type(action).__name__ == "ModifyColumn":
                changes.append(ColumnChange("modify", column_from_def(action.this)))
            elif isinstance(action, exp.AlterRename):
                check_table_name(action.this.name)
                self.engine.rename_table(db, name, action.this.name)
            elif type(action).__name__ == "SwapTable":
                self.engine.swap_tables(db, name, action.this.name)
            else:
                raise EmulatorError(
                    1064, f"Getting syntax error. Detail message: Unsupported ALTER '{action.sql()}'."
                )
        if changes:
            self.engine.alter_columns(db, name, changes)
        return None

    # ------------------------------------------------------------------ SHOW / SET
    def show(self, st: exp.Show) -> Answer:
        kind = st.name.upper()
        like_node = st.args.get("like")
        like = like_node.name if like_node is not None else None
        db_node = st.args.get("db")
        db = db_node.name if db_node is not None else self.database
        target = st.args.get("target")
        if kind in ("DATABASES", "SCHEMAS"):
            rows, names = show_databases(self.engine, like)
        elif kind == "TABLES":
            if not db:
                raise no_database_selected()
            rows, names = show_tables(self.engine, db, bool(st.args.get("full")), like)
        elif kind in ("CREATE TABLE", "COLUMNS", "FIELDS"):
            if target is None:
                raise EmulatorError(1064, "Getting syntax error. Detail message: table name expected.")
            table_db = target.args.get("db") if isinstance(target, exp.Table) else None
            db = table_db.name if table_db is not None else db
            if not db:
                raise no_database_selected()
            self._check("SELECT", db, target.name)
            if kind == "CREATE TABLE":
                rows, names = show_create(self.engine, db, target.name)
            else:
                rows, names = show_columns(self.engine, db, target.name, bool(st.args.get("full")), like)
        elif kind == "VARIABLES":
            values = [(k, "" if v is None else str(v)) for k, v in self.session.variables.list()]
            keep = set(like_filter([k for k, _ in values], like))
            rows, names = [r for r in values if r[0] in keep], ["Variable_name", "Value"]
        elif kind in ("COLLATION",):
            rows = [("utf8_general_ci", "utf8", 33, "Yes", "Yes", 1)]
            names = ["Collation", "Charset", "Id", "Default", "Compiled", "Sortlen"]
        elif kind in ("CHARACTER SET", "CHARSET"):
            rows, names = (
                [("utf8", "UTF-8 Unicode", "utf8_general_ci", 3)],
                ["Charset", "Description", "Default collation", "Maxlen"],
            )
        elif kind == "ENGINES":
            rows = [("OLAP", "YES", "Default storage engine of StarRocks", "NO", "NO", "NO")]
            names = ["Engine", "Support", "Comment", "Transactions", "XA", "Savepoints"]
        elif kind in ("WARNINGS", "ERRORS"):
            rows, names = [], ["Level", "Code", "Message"]
        elif kind == "STATUS":
            rows, names = [], ["Variable_name", "Value"]
        elif kind == "PROCESSLIST":
            rows, names = [], ["Id", "User", "Host", "Db", "Command", "Time", "State", "Info"]
        else:
            raise EmulatorError(1064, f"Getting syntax error. Detail message: SHOW {kind} is not supported.")
        return names, rows

    def set(self, st: exp.Set) -> Answer:
        for item in st.expressions:
            kind = str(item.args.get("kind") or "").upper()
            if kind == "NAMES":
                self.session._set_names(item)
            elif kind in ("CHARACTER SET", "CHARSET"):
                self.session._set_charset(item)
            elif kind == "TRANSACTION":
                continue
            else:
                assignment = item.this
                if not isinstance(assignment, exp.EQ):
                    continue
                left, right = assignment.this, assignment.expression
                if isinstance(left, exp.Parameter):
                    continue  # user variables (@x): accepted, not stored
                ok, value = literal_value(right)
                if not ok:
                    value = (
                        right.name
                        if isinstance(right, (exp.Column, exp.Var, exp.Identifier))
                        else right.sql()
                    )
                if isinstance(value, str) and value.upper() in ("ON", "OFF", "TRUE", "FALSE"):
                    value = value.upper() in ("ON", "TRUE")
                self.session.variables.set(left.name, value)
        return None
