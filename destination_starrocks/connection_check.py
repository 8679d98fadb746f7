"""`check`: the load path of a sync tried end to end, one step at a time (the report itself: check_report.py).

Each step needs the ones before it:
1. login: a TCP connection to the FE's query port, then the MySQL-protocol login (`current_user()` names the
   account StarRocks matched, for the GRANT statements of later fixes).
2. version: `current_version()`, the features it offers, and whether the configured options are among them.
3. database: the target database exists, or the user may create it (CREATE DATABASE).
4. replication: live BEs against the replicas tables will ask for (replication.py). Before any table is tried,
   because StarRocks refuses a CREATE TABLE asking for more replicas than there are live BEs.
5. privileges: CREATE TABLE, INSERT, SELECT, ALTER and DROP, each named.
6. redirect: where the FE sends a Stream Load, and whether that address is reachable from here: the classic
   failure is a BE registered under an internal IP or container name. The FE's 307 is read without following
   it and without sending a body (fe `LoadAction` redirects before reading one; http_transport
   `first_answer`), once per live BE (the FE chooses BEs in turn), then a TCP connection is tried to each
   address. With `load_urls`, those endpoints are tried instead.
7. probe load: one row through the same loader a sync uses (and the transaction interface when the sync would
   use it), then `get_load_state` must say VISIBLE (the connector asks it whenever a load's answer was lost).
8. version pressure: can the probe table's version count (and `tablet_max_versions`) be read, and from where
   (version_pressure.py's probes).

Privileges are learnt by trying, on the check's own two tables, because nothing else can prove one missing:
StarRocks 3.x's `information_schema` privilege tables are empty (fe `FrontendServiceImpl.getDBPrivs` /
`getTablePrivs`: "support showing user privilege info in information_schema later"), and `SHOW GRANTS` lists
the roles a user holds without their privileges. The tries do what an overwrite sync does: create two tables
(CREATE TABLE), insert a row into the second (INSERT), read it (SELECT), swap the two (ALTER: `SWAP WITH`),
drop the second (DROP); every statement is checked by StarRocks before it runs, so a refusal names the
privilege. CREATE DATABASE is tried only when the database is missing.

Nothing is left behind: the check's tables are dropped with FORCE (never kept in the recycle bin) when it
ends, whatever failed. A database the check had to create stays, as the setup guide says: the sync writes
there. Against a healthy cluster the steps take a few round trips each, well under a second in all.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

from destination_starrocks.check_report import FAILED, PASSED, STEPS, WARNING, Caveat, Report, StepFailed
from destination_starrocks.errors import ConfigError, ConnectorError, StarRocksSqlError
from destination_starrocks.http_transport import connect_error
from destination_starrocks.load_probe import pressure_step, probe_load_step, redirect_step
from destination_starrocks.naming import database_name, quote_identifier, quote_literal
from destination_starrocks.privilege_fix import denied, grant_fix, refusal_text
from destination_starrocks.replication import (
    probe_replication,
    read_replication,
    refused_alive,
    replication_fix,
)
from destination_starrocks.server_info import FEATURES, ServerInfo, configured_needs, read_server_info
from destination_starrocks.spec import StarRocksConfig
from destination_starrocks.sql import SqlClient
from destination_starrocks.stream_load import StreamLoader

logger = logging.getLogger("airbyte")

CONNECT_TIMEOUT_SECONDS = 5.0
PROBE_LOAD_TIMEOUT_SECONDS = 30
UNEXPECTED_FIX = (
    "Run the check again; if it fails the same way, the connector's log has the details to report."
)


def run_check(config: StarRocksConfig, log: Callable[[int, str], None] | None = None) -> Report:
    """Run every step against the configured cluster; `log(level, line)` gets each step's line as it ends."""
    run = _CheckRun(config, Report(log))
    try:
        run.steps()
    finally:
        run.clean_up()
    return run.report


class _CheckRun:
    def __init__(self, config: StarRocksConfig, report: Report) -> None:
        self.config = config
        self.report = report
        self.sql = SqlClient(config)
        self.database = database_name(config.database)  # the database the sync writes to
        token = secrets.token_hex(4)
        self.table = f"_airbyte_check_{token}"
        self.staging = f"{self.table}_staging"
        self.label = f"{config.label_prefix}-check-{token}"
        self.identity = f"'{config.username}'@'%'"
        self.server = ServerInfo(None)
        self.alive: int | None = None
        self.tables: set[str] = set()  # the check's tables that exist now
        self._loader: StreamLoader | None = None

    def steps(self) -> None:
        for key, _ in STEPS:
            try:
                outcome = getattr(self, f"step_{key}")()
            except StepFailed as failure:
                self.report.record(key, FAILED, failure.result, failure.fix)
                return
            except ConnectorError as exc:  # a refusal no step expected: StarRocks' own words
                self.report.record(key, FAILED, exc.message, UNEXPECTED_FIX)
                return
            if isinstance(outcome, Caveat):
                self.report.record(key, WARNING, outcome.result, outcome.fix)
            else:
                self.report.record(key, PASSED, outcome)

    @property
    def loader(self) -> StreamLoader:
        if self._loader is None:
            # One retry and a short timeout: a probe of one row, not a sync.
            overrides = {"max_retries": 1, "load_timeout_seconds": PROBE_LOAD_TIMEOUT_SECONDS}
            self._loader = StreamLoader(self.config.model_copy(update=overrides))
        return self._loader

    def qualified(self, table: str) -> str:
        return f"{quote_identifier(self.database)}.{quote_identifier(table)}"

    # ------------------------------------------------------------------ 1. FE query port and login
    def step_login(self) -> str:
        config = self.config
        where = f"{config.host}:{config.query_port}"
        reason = connect_error(config.host, config.query_port, CONNECT_TIMEOUT_SECONDS)
        if reason:
            raise StepFailed(
                f"cannot reach the FE query port at {where}: {reason}",
                "Check `host` and `query_port` (StarRocks' query_port, 9030 by default), that the FE is running, "
                "and that this machine may reach it (a firewall; in a container, 127.0.0.1 is the container).",
            )
        try:
            self.sql.connect()
        except ConfigError as exc:
            if "1045" in exc.message:
                fix = (
                    f"Check `username` and `password`: `mysql -h {config.host} -P {config.query_port} -u "
                    f"{config.username} -p` must log in with them."
                )
            elif config.ssl:
                fix = (
                    f"SSL/TLS is on: the FE at {where} must serve TLS on its query port with a certificate for "
                    f"{config.host!r} signed by the CA in `ssl_ca_certificate` (or a public CA)."
                )
            else:
                fix = f"Check that {where} is the query port of a StarRocks FE."
            raise StepFailed(exc.message, fix) from None
        try:
            rows = self.sql.query("SELECT current_user()")
            self.identity = str(rows[0][0]) if rows and rows[0] and rows[0][0] else self.identity
        except StarRocksSqlError:
            pass  # the configured name serves the GRANT statements as well
        return f"{where} is reachable; logged in as {self.identity}" + (" over TLS" if config.ssl else "")

    # ------------------------------------------------------------------ 2. version and options
    def step_version(self) -> str | Caveat:
        server = self.server = read_server_info(self.sql)
        offered = [
            f"{feature.what} ({feature.since_text}+): {_yes_no(server.supports(name))}"
            for name, feature in FEATURES.items()
        ]
        configured = []
        for name, option, fix in configured_needs(self.config):
            feature = FEATURES[name]
            supported = server.supports(name)
            if supported is False:
                raise StepFailed(
                    f"the configured {option} needs {feature.what}, which StarRocks offers from "
                    f"{feature.since_text} on; this server is {server.describe()}",
                    f"Upgrade StarRocks to {feature.since_text} or later, or {fix} ({feature.doc}).",
                )
            configured.append(f"{option} {'served' if supported else 'used as configured'}")
        mode = self.config.transaction_stream_load
        if mode == "auto":
            uses = server.supports("transaction_stream_load")
            configured.append(
                f"transaction_stream_load: auto ({'transactions' if uses else 'plain Stream Load'})"
            )
        elif mode == "never":
            configured.append("transaction_stream_load: never (plain Stream Load)")
        result = f"{server.describe()}. Offers {'; '.join(offered)}. Configured: {', '.join(configured)}"
        if server.version is None:
            newest = max(FEATURES.values(), key=lambda feature: feature.since).since_text
            return Caveat(
                result,
                f"Nothing, if the server is StarRocks {newest} or later; the connector cannot tell which "
                "features it offers and uses the options as configured.",
            )
        return result

    # ------------------------------------------------------------------ 3. database
    def step_database(self) -> str:
        database = self.database
        named = repr(database)
        if database != self.config.database:
            named += f" (the `database` setting {self.config.database!r}, as the sync names it)"
        try:
            created = self.sql.ensure_database(database)
        except StarRocksSqlError as exc:
            if denied(exc):
                raise StepFailed(
                    f"the database {named} does not exist (or the user holds no privilege on it), and the user "
                    f"may not create it: {refusal_text(exc)}",
                    f"Create it as an admin (CREATE DATABASE {quote_identifier(database)}) and grant the user "
                    "the privileges of the setup guide on it, or let the user create databases. "
                    + grant_fix(["CREATE DATABASE"], database, self.identity, self.server),
                ) from None
            raise StepFailed(
                f"could not create the database {named}: {exc}", "Correct the `database` setting."
            ) from None
        if created:
            return f"{named} did not exist; the user may create it, and it is created now (syncs write there)"
        return f"{named} exists"

    # ------------------------------------------------------------------ 4. live BEs and replication
    def step_replication(self) -> str:
        reading = read_replication(self.sql, self.config)
        if reading.shared_data:
            return "a shared-data cluster: tables keep one copy in object storage, no replicas to place"
        if reading.unreadable:
            refusal = probe_replication(self.sql, self.config, self.database)
            alive = refused_alive(refusal) if refusal is not None else None
            if alive is not None:
                raise StepFailed(
                    f"SHOW BACKENDS is not readable for this user, and StarRocks refused a table with the "
                    f"configured table properties: {refusal_text(refusal)}; the cluster has {alive} live BE(s)",
                    replication_fix(alive),
                )
            asked = "StarRocks created a table with the configured table properties"
            if refusal is not None:  # a privilege, most likely: the privileges step names it
                asked = f"a table could not be created to ask StarRocks ({refusal_text(refusal)})"
            unreadable = refusal_text(reading.unreadable)
            return f"SHOW BACKENDS / ADMIN SHOW FRONTEND CONFIG are not readable ({unreadable}); {asked}"
        self.alive = reading.alive
        if not reading.alive:
            raise StepFailed("SHOW BACKENDS lists no live BE", replication_fix(0))
        live = f"{reading.alive} live BE{'s' if reading.alive != 1 else ''} (SHOW BACKENDS)"
        if reading.wanted is None:
            return f"{live}; the replicas tables ask for are StarRocks' to judge (table properties)"
        if reading.too_few:
            raise StepFailed(f"{reading.refusal()}; the cluster has {live}", replication_fix(reading.alive))
        replicas = f"{reading.wanted} replica{'s' if reading.wanted != 1 else ''}"
        return f"{live}; tables ask for {replicas} ({reading.source})"

    # ------------------------------------------------------------------ 5. privileges
    def step_privileges(self) -> str:
        columns = "(`id` BIGINT NOT NULL, `note` VARCHAR(64)) DUPLICATE KEY(`id`) DISTRIBUTED BY HASH(`id`)"
        columns += " BUCKETS 1"
        properties = ", ".join(
            f"{quote_literal(k)} = {quote_literal(v)}" for k, v in self.config.table_properties.items()
        )
        for table in (self.table, self.staging):
            try:
                self.sql.execute(
                    f"CREATE TABLE {self.qualified(table)} {columns}"
                    + (f" PROPERTIES ({properties})" if properties else "")
                )
            except StarRocksSqlError as exc:
                self._refused_create(exc)
            self.tables.add(table)
        tries = (
            ("INSERT", f"INSERT INTO {self.qualified(self.staging)} VALUES (1, 'check')"),
            ("SELECT", f"SELECT count(*) FROM {self.qualified(self.staging)}"),
            ("ALTER", f"ALTER TABLE {self.qualified(self.table)} SWAP WITH {quote_identifier(self.staging)}"),
            ("DROP", f"DROP TABLE {self.qualified(self.staging)} FORCE"),
        )
        missing: dict[str, StarRocksSqlError] = {}
        for privilege, statement in tries:
            try:
                self.sql.execute(statement)
            except StarRocksSqlError as exc:
                if not denied(exc):
                    raise StepFailed(
                        f"trying {privilege} on the check's table failed: {exc}", UNEXPECTED_FIX
                    ) from None
                missing[privilege] = exc
        if "DROP" not in missing:
            self.tables.discard(self.staging)
        if missing:
            left = ""
            if "DROP" in missing:
                tables = ", ".join(self.qualified(table) for table in sorted(self.tables))
                left = (
                    f". Then drop the check's tables {tables} as an admin: without DROP the check could not"
                )
            raise StepFailed(
                f"the user {self.identity} lacks {' and '.join(missing)} on the tables of {self.database!r} "
                f"({'; '.join(refusal_text(exc) for exc in missing.values())})",
                grant_fix(list(missing), self.database, self.identity, self.server) + left,
            )
        return (
            f"CREATE TABLE, INSERT, SELECT, ALTER and DROP on {self.database!r} are granted to {self.identity} "
            "(tried on the check's own tables as an overwrite does: create, insert, select, SWAP WITH, drop)"
        )

    def _refused_create(self, exc: StarRocksSqlError) -> None:
        alive = refused_alive(exc)
        if alive is not None:
            raise StepFailed(
                f"StarRocks refused the check's table: {refusal_text(exc)}", replication_fix(alive)
            )
        if denied(exc):
            raise StepFailed(
                f"the user {self.identity} lacks CREATE TABLE on {self.database!r}: {refusal_text(exc)} "
                "(INSERT, SELECT, ALTER and DROP were not tried: there is no table to try them on)",
                grant_fix(["CREATE TABLE"], self.database, self.identity, self.server),
            )
        raise StepFailed(
            f"StarRocks refused the check's table (one BIGINT and one VARCHAR column, with the configured table "
            f"properties): {exc}",
            "Correct `table_properties`: every table the connector creates gets them.",
        )

    # ------------------------------------------------------------------ 6.-8. (load_probe.py)
    def step_redirect(self) -> str | Caveat:
        return redirect_step(self.loader, self.database, self.table, self.alive)

    def step_probe_load(self) -> str | Caveat:
        return probe_load_step(self.loader, self.database, self.table, self.label, self.server)

    def step_version_pressure(self) -> str | Caveat:
        return pressure_step(self.sql, self.database, self.table, self.config.version_ceiling, self.identity)

    # ------------------------------------------------------------------ leave nothing behind
    def clean_up(self) -> None:
        try:
            left = []
            for table in sorted(self.tables):
                try:
                    self.sql.execute(f"DROP TABLE IF EXISTS {self.qualified(table)} FORCE")
                except ConnectorError as exc:  # refused, or the FE is gone: say what stays
                    left.append(f"{self.qualified(table)} ({refusal_text(exc.message)})")
            if left:
                logger.warning(
                    "Could not drop the check's table(s) %s: drop them as an admin.", ", ".join(left)
                )
        finally:
            self.sql.close()


def _yes_no(supported: bool | None) -> str:
    return {True: "yes", False: "no", None: "unknown"}[supported]
