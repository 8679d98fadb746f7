"""`check`'s report and its probes without a cluster: how steps are worded and logged, the GRANT a refusal
needs, where an FE would send a Stream Load (read without following it or sending a body), and the branches
the emulator cannot produce (a version count nothing can read, a load that stays COMMITTED or whose state the
FE cannot tell). The steps against a real cluster shape: integration_tests/test_check_report.py."""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass

import pytest

from destination_starrocks import version_pressure as vp
from destination_starrocks.check_report import (
    FAILED,
    PASSED,
    STEPS,
    WARNING,
    Caveat,
    Report,
    Step,
    StepFailed,
)
from destination_starrocks.connection_check import _CheckRun
from destination_starrocks.errors import StarRocksSqlError
from destination_starrocks.http_transport import Endpoint, HopError, connect_error
from destination_starrocks.load_probe import pressure_step, probe_load_step, redirect_step
from destination_starrocks.privilege_fix import denied, grant_fix, refusal_text
from destination_starrocks.server_info import ServerInfo, ServerVersion
from destination_starrocks.spec import StarRocksConfig
from destination_starrocks.stream_load import LoadResult, StreamLoader
from unit_tests.fake_cluster import PASSWORD, USER, FakeCluster

ADVICE = (
    " Please ask the admin to grant permission(s) or try activating existing roles using <set [default] role>."
    " Current role(s): NULL. Inactivated role(s): NULL."
)
NO_INSERT = StarRocksSqlError(
    5203,
    "Access denied; you need (at least one of) the INSERT privilege(s) on TABLE t for this operation."
    + ADVICE,
)


def server(version: str) -> ServerInfo:
    return ServerInfo(ServerVersion.parse(version), version)


# ---- the report ---------------------------------------------------------------------------------------------


def test_each_step_is_logged_as_it_ends_with_its_level_and_numbered_title():
    logged: list[tuple[int, str]] = []
    report = Report(lambda level, line: logged.append((level, line)))
    report.record("login", PASSED, "127.0.0.1:9030 is reachable; logged in as 'root'@'%'")
    report.record("version", WARNING, "a StarRocks of unknown version", "nothing, if it is 4.0 or later")
    report.record("database", FAILED, "the database 'x' does not exist", "create it")
    assert logged == [
        (logging.INFO, "Check 1/8, FE query port and login: passed. 127.0.0.1:9030 is reachable; logged in as 'root'@'%'."),
        (logging.WARNING, "Check 2/8, StarRocks version and options: warning. A StarRocks of unknown version. "
                          "Fix: Nothing, if it is 4.0 or later."),
        (logging.ERROR, "Check 3/8, database: failed. The database 'x' does not exist. Fix: Create it."),
    ]  # fmt: skip
    assert report.failure is report.steps[2]


def test_a_failure_names_the_step_its_fix_and_the_steps_that_passed_before_it():
    report = Report()
    report.record("login", PASSED, "ok")
    report.record("version", PASSED, "ok")
    report.record("database", PASSED, "ok")
    report.record("replication", FAILED, "tables ask for 3 replicas", "set replication_num to 1.")
    assert report.status_message() == (
        "Check failed at step 4 of 8, live BEs and replication: Tables ask for 3 replicas. Fix: Set "
        "replication_num to 1. (Passed before it: FE query port and login; StarRocks version and options; database.)"
    )
    first = Report()
    first.record("login", FAILED, "cannot reach 127.0.0.1:1", "check `query_port`")
    assert first.status_message() == (
        "Check failed at step 1 of 8, FE query port and login: Cannot reach 127.0.0.1:1. Fix: Check `query_port`."
    )


def test_success_has_no_message_unless_a_step_warned():
    report = Report()
    for key, _ in STEPS:
        report.record(key, PASSED, "fine")
    assert report.failure is None and report.status_message() is None
    report.steps[-1] = Step("version_pressure", WARNING, "not readable", "grant OPERATE")
    assert report.status_message() == (
        "All 8 steps passed, 1 with a warning. version pressure: Not readable. Fix: Grant OPERATE."
    )


# ---- privileges ---------------------------------------------------------------------------------------------


def test_a_refusal_keeps_the_privilege_starrocks_names_and_drops_its_generic_advice():
    assert denied(NO_INSERT) and not denied(StarRocksSqlError(1064, "Getting syntax error"))
    assert denied(StarRocksSqlError(1142, "INSERT command denied to user 'u'@'%' for table 't'"))
    assert refusal_text(NO_INSERT) == (
        "StarRocks error 5203: Access denied; you need (at least one of) the INSERT privilege(s) on TABLE t for "
        "this operation"
    )


def test_the_fix_is_the_grant_of_the_servers_release():
    three = grant_fix(["CREATE TABLE", "INSERT", "DROP"], "air by", "'u'@'%'", server("3.3.5"))
    assert three == (
        "As an admin: GRANT CREATE TABLE ON DATABASE `air by` TO USER 'u'@'%'; GRANT INSERT, DROP ON ALL TABLES "
        "IN DATABASE `air by` TO USER 'u'@'%'. If the user holds them through a role, make it active at login: "
        "SET DEFAULT ROLE ALL TO 'u'@'%'"
    )
    assert grant_fix(["CREATE DATABASE"], "a", "'u'@'%'", server("3.1.0")).startswith(
        "As an admin: GRANT CREATE DATABASE ON CATALOG default_catalog TO USER 'u'@'%'."
    )
    two = grant_fix(["CREATE TABLE", "INSERT", "SELECT"], "airbyte", "'u'@'%'", server("2.5.22"))
    assert two == "As an admin: GRANT CREATE_PRIV, LOAD_PRIV, SELECT_PRIV ON `airbyte`.* TO 'u'@'%'"


# ---- where a Stream Load goes -------------------------------------------------------------------------------


@pytest.fixture
def cluster():
    with FakeCluster() as fake:
        yield fake


def loader_for(port: int, **settings) -> StreamLoader:
    return StreamLoader(
        StarRocksConfig(
            host="127.0.0.1", http_port=port, username=USER, password=PASSWORD, max_retries=0, **settings
        )
    )


def test_the_fes_redirect_is_read_without_following_it_or_sending_a_body(cluster):
    loader = loader_for(cluster.follower.port)
    answer = loader.transport.first_answer(
        "PUT", loader.fe_endpoint, "/api/db/t/_stream_load", {"label": "l"}, 1000, timeout=5
    )
    assert answer is not None and answer.status == 307
    assert answer.headers["location"] == f"http://127.0.0.1:{cluster.be.port}/api/db/t/_stream_load"
    assert [(s.path, s.authorized, s.body_bytes) for s in cluster.follower.seen] == [
        ("/api/db/t/_stream_load", True, 0)
    ]
    assert cluster.be.seen == []  # not followed


def test_a_server_that_takes_the_body_itself_is_told_apart_and_gets_none(cluster):
    loader = loader_for(cluster.be.port)
    answer = loader.transport.first_answer(
        "PUT", loader.fe_endpoint, "/api/db/t/_stream_load", {}, 10, timeout=5
    )
    assert answer is not None and answer.status == 100  # a BE (or a proxy in front of one)


def test_a_server_that_says_nothing_answers_none_and_a_closed_port_is_a_hop_error():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        loader = loader_for(port)
        assert loader.transport.first_answer("PUT", loader.fe_endpoint, "/x", {}, 10, timeout=0.2) is None
        assert connect_error("127.0.0.1", port) is None
    with pytest.raises(HopError):
        loader.transport.first_answer("PUT", Endpoint("http", "127.0.0.1", port), "/x", {}, 10, timeout=0.2)
    assert "ConnectionRefusedError" in (connect_error("127.0.0.1", port) or "")


def test_the_redirect_step_names_the_be_address_and_its_reachability(cluster):
    result = redirect_step(loader_for(cluster.follower.port), "db", "t", live_backends=3)
    assert result == (
        f"the FE at http://127.0.0.1:{cluster.follower.port} redirects Stream Loads to "
        f"http://127.0.0.1:{cluster.be.port}; reachable from here"
    )
    assert len(cluster.follower.seen) == 3 and cluster.be.seen == []  # one look per live BE, none followed


def test_an_fe_that_answers_instead_of_redirecting_fails_the_redirect_step_with_its_words(cluster):
    answer = {"status": "FAILED", "msg": "class com.starrocks.common.DdlException: No backend alive."}
    cluster.follower.scripted[("PUT", "/api/db/t/_stream_load")] = [(200, answer)]
    with pytest.raises(StepFailed) as failed:
        redirect_step(loader_for(cluster.follower.port), "db", "t", live_backends=1)
    assert "No backend alive." in failed.value.result and failed.value.fix.startswith("Start the BEs")


# ---- a probe load's label state -----------------------------------------------------------------------------


PLAIN = ServerInfo(ServerVersion.parse("3.3.5"), "3.3.5")


@dataclass
class StubLoader:
    states: list[str]
    config: StarRocksConfig = StarRocksConfig(host="fe")  # transaction_stream_load: never

    def load(self, request):  # noqa: ANN001, ANN201
        return LoadResult(request.label, "Success", 1, 1, 0.01, "http://fe:8030")

    def load_state(self, database: str, label: str) -> str:
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]


def test_a_probe_load_passes_once_its_label_is_visible():
    result = probe_load_step(StubLoader(["COMMITTED", "VISIBLE"]), "db", "t", "l-1", PLAIN)  # type: ignore[arg-type]
    assert isinstance(result, str) and result.endswith("get_load_state says VISIBLE")


def test_a_probe_load_that_stays_committed_is_a_warning_and_an_unknown_state_a_failure(monkeypatch):
    monkeypatch.setattr("destination_starrocks.load_probe.VISIBLE_WAIT_SECONDS", 0.05)
    committed = probe_load_step(StubLoader(["COMMITTED"]), "db", "t", "l-1", PLAIN)  # type: ignore[arg-type]
    assert isinstance(committed, Caveat) and "says COMMITTED" in committed.result
    with pytest.raises(StepFailed) as silent:
        probe_load_step(StubLoader([""]), "db", "t", "l-1", PLAIN)  # type: ignore[arg-type]
    assert "get_load_state did not answer" in silent.value.result and "get_load_state" in silent.value.fix
    with pytest.raises(StepFailed) as aborted:
        probe_load_step(StubLoader(["ABORTED"]), "db", "t", "l-1", PLAIN)  # type: ignore[arg-type]
    assert aborted.value.result.endswith("get_load_state says ABORTED")


# ---- version pressure ---------------------------------------------------------------------------------------


class FakeSql:
    def __init__(self, answers: dict[str, object]) -> None:
        self.answers = answers

    def query(self, sql: str, args: object = None) -> list[tuple]:
        answer = self.answers.get(sql, [])
        if isinstance(answer, BaseException):
            raise answer
        return answer  # type: ignore[return-value]

    def close(self) -> None:
        pass


OPERATE = StarRocksSqlError(5203, "Access denied; you need (at least one of) the OPERATE privilege(s) on SYSTEM for this operation." + ADVICE)  # fmt: skip


def test_a_version_count_nothing_can_read_is_a_warning_naming_why_and_the_fix():
    sql = FakeSql({vp.TABLE_ID_SQL: OPERATE, vp.PARTITIONS_META_SQL: [(None,)], vp.BE_CONFIGS_SQL: OPERATE})
    result = pressure_step(sql, "db", "t", 0.5, "'u'@'%'")
    assert isinstance(result, Caveat)
    assert "be_tablets: StarRocks error 5203" in result.result and "partitions_meta" in result.result
    assert "Please ask the admin" not in result.result
    assert (
        result.fix.startswith("GRANT OPERATE ON SYSTEM TO USER 'u'@'%'") and "version_ceiling" in result.fix
    )


def test_a_readable_count_and_limit_pass_and_version_ceiling_0_reads_nothing():
    sql = FakeSql(
        {vp.TABLE_ID_SQL: [(7,)], vp.BE_TABLETS_SQL: [(3,)], vp.BE_CONFIGS_SQL: [("800",), ("900",)]}
    )
    assert pressure_step(sql, "db", "t", 0.5, "'u'@'%'") == (
        "readable from information_schema.be_tablets: the probe table's version count is 3 of 800; syncs keep "
        "each table under 400 (version_ceiling 0.5) (tablet_max_versions from information_schema.be_configs)"
    )
    off = pressure_step(FakeSql({vp.TABLE_ID_SQL: AssertionError("read")}), "db", "t", 0, "'u'@'%'")
    assert isinstance(off, str) and off.startswith("version_ceiling is 0")


# ---- replication when the cluster cannot be read ------------------------------------------------------------

NO_OPERATE = StarRocksSqlError(
    5203, "Access denied; you need (at least one of) the OPERATE privilege(s) on SYSTEM for this operation."
)
TOO_MANY_REPLICAS = StarRocksSqlError(
    1064,
    "Table replication num should be less than or equal to the number of available BE nodes. You can change this "
    "default by setting the replication_num table properties. Current alive backend is [10001,10002]. , table=t",
)


class LeastPrivilegedSql:
    """A user who may not read SHOW BACKENDS / ADMIN SHOW FRONTEND CONFIG; CREATE TABLE answers `create`."""

    def __init__(self, create: StarRocksSqlError | None) -> None:
        self.create = create
        self.ran: list[str] = []

    def query_named(self, sql: str, args: object = None) -> list[dict]:
        raise NO_OPERATE

    def execute(self, sql: str, args: object = None) -> int:
        self.ran.append(sql)
        if sql.startswith("CREATE TABLE") and self.create is not None:
            raise self.create
        return 0


def replication_run(sql: LeastPrivilegedSql) -> _CheckRun:
    run = _CheckRun(StarRocksConfig(host="fe", table_properties={}), Report())
    run.sql = sql  # type: ignore[assignment]
    return run


def test_unreadable_bes_are_asked_of_starrocks_by_a_table_and_its_refusal_names_the_fix():
    with pytest.raises(StepFailed) as failed:
        replication_run(LeastPrivilegedSql(TOO_MANY_REPLICAS)).step_replication()
    assert "SHOW BACKENDS is not readable" in failed.value.result and "2 live BE(s)" in failed.value.result
    assert failed.value.fix.startswith('set the destination\'s Table properties to {"replication_num": "2"}')


def test_unreadable_bes_and_a_table_starrocks_creates_pass_and_leave_nothing():
    sql = LeastPrivilegedSql(None)
    result = replication_run(sql).step_replication()
    assert (
        "not readable" in result
        and "StarRocks created a table with the configured table properties" in result
    )
    assert [s.split(" ")[0:2] for s in sql.ran] == [["CREATE", "TABLE"], ["DROP", "TABLE"]]
    assert sql.ran[1].endswith(" FORCE")
