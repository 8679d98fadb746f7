"""`check` reports the load path step by step, through the real entrypoint, against the emulator.

A healthy run logs one LOG line per step (login, version and options, database, live BEs and replication,
privileges, the BE the FE redirects a Stream Load to, a probe load and its label state, version pressure), each
saying what it found. Each failure is injected once: the CONNECTION_STATUS message then names the step it
belongs to and that step's fix, the steps before it passed (their LOG lines say so), none after it ran, and the
check's tables are gone. The password appears in no step's text. Unreadable version pressure does not fail the
check (a sync still loads, reacting to "too many versions" only): it is a warning with its fix.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from destination_starrocks.check_report import NUMBERS, STEPS, TITLES
from integration_tests.connector import ConnectorRun, config_for, run_connector
from integration_tests.test_security import leaks
from starrocks_emulator.process import EmulatorProcess

PASSWORD = 'Ck"Canary\\9' + uuid.uuid4().hex[:6]
USER_PASSWORD = "User-Canary-" + uuid.uuid4().hex[:8]
ALL_ON_DATABASE = ("CREATE TABLE", "ALTER", "DROP")
ALL_ON_TABLES = ("SELECT", "INSERT", "ALTER", "DROP")

pytestmark = [pytest.mark.emulator_only, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    """A leader and a follower FE and two BEs, whose root has a distinctive password."""
    with EmulatorProcess(root_password=PASSWORD, frontends=2, backends=2) as process:
        yield process


@pytest.fixture
def database() -> str:
    return f"ck_{uuid.uuid4().hex[:10]}"


def sql(emulator: EmulatorProcess, statement: str) -> list[tuple]:
    with (
        pymysql.connect(
            host=emulator.host, port=emulator.query_port, user="root", password=PASSWORD, autocommit=True
        ) as conn,
        conn.cursor() as cursor,
    ):
        cursor.execute(statement)
        return list(cursor.fetchall())


def check(config: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, str]], ConnectorRun]:
    """The CONNECTION_STATUS and the step lines of one `check`, after making sure no password leaked."""
    run = run_connector("check", config)
    (status,) = [m["connectionStatus"] for m in run.of_type("CONNECTION_STATUS")]
    lines = [m["log"] for m in run.of_type("LOG") if m["log"]["message"].startswith("Check ")]
    if config["password"]:
        assert not leaks(run, config["password"], config["username"])
    return status, lines, run


def prefix(key: str) -> str:
    return f"Check {NUMBERS[key]}/{len(STEPS)}, {TITLES[key]}: "


def fails_at(config: dict[str, Any], key: str, *in_fix: str) -> tuple[str, str]:
    """Run check; assert it failed at step `key` with a fix saying `in_fix`, after every earlier step passed.
    Returns the failed step's result and fix."""
    status, lines, _ = check(config)
    number = NUMBERS[key]
    assert status["status"] == "FAILED", status
    head = f"Check failed at step {number} of {len(STEPS)}, {TITLES[key]}: "
    assert status["message"].startswith(head), status["message"]
    result, _, rest = status["message"][len(head) :].partition(" Fix: ")
    fix = rest.split(" (Passed before it: ")[0]
    for words in in_fix:
        assert words in fix, fix
    earlier = [title for _, title in STEPS[: number - 1]]
    if earlier:
        assert status["message"].endswith(f"(Passed before it: {'; '.join(earlier)}.)"), status["message"]
    # One line per step run: the earlier ones passed, this one failed, none after it ran.
    assert [line["message"][: len(prefix(k))] for line, (k, _) in zip(lines, STEPS, strict=False)] == [
        prefix(k) for k, _ in STEPS[:number]
    ], lines
    assert len(lines) == number, lines
    for line, (k, _) in zip(lines[:-1], STEPS, strict=False):
        assert line["level"] == "INFO" and line["message"].startswith(prefix(k) + "passed."), line
    assert lines[-1]["level"] == "ERROR", lines[-1]
    assert lines[-1]["message"].startswith(prefix(key) + "failed."), lines[-1]
    assert PASSWORD not in status["message"] and USER_PASSWORD not in status["message"]
    return result, fix


def check_tables(emulator: EmulatorProcess, database: str) -> list[str]:
    if database not in {row[0] for row in sql(emulator, "SHOW DATABASES")}:
        return []
    return [
        row[0] for row in sql(emulator, f"SHOW TABLES FROM `{database}`") if row[0].startswith("_airbyte_")
    ]


def user_with(
    emulator: EmulatorProcess, database: str, on_database: tuple[str, ...], on_tables: tuple[str, ...]
) -> str:
    user = f"u_{uuid.uuid4().hex[:8]}"
    sql(emulator, f"CREATE USER '{user}'@'%' IDENTIFIED BY '{USER_PASSWORD}'")
    if on_database or on_tables:
        sql(emulator, f"CREATE DATABASE IF NOT EXISTS `{database}`")
    if on_database:
        sql(emulator, f"GRANT {', '.join(on_database)} ON DATABASE `{database}` TO USER '{user}'@'%'")
    if on_tables:
        sql(
            emulator,
            f"GRANT {', '.join(on_tables)} ON ALL TABLES IN DATABASE `{database}` TO USER '{user}'@'%'",
        )
    return user


# ---- a healthy cluster ---------------------------------------------------------------------------------------


def test_a_healthy_check_logs_every_step_with_what_it_found(emulator, database):
    status, lines, _ = check(config_for(emulator, database=database))
    assert status == {"status": "SUCCEEDED"}, status
    assert [line["level"] for line in lines] == ["INFO"] * len(STEPS), lines
    by_step = {key: line["message"] for line, (key, _) in zip(lines, STEPS, strict=True)}
    for key, message in by_step.items():
        assert message.startswith(prefix(key) + "passed. "), message
    fe, leader = f"{emulator.host}:{emulator.query_port}", emulator.leader
    assert f"{fe} is reachable; logged in as 'root'@'%'" in by_step["login"]
    assert "StarRocks 3.3.5" in by_step["version"]
    for offered in ("transaction interface (2.4.0+): yes", "compressed JSON Stream Loads (3.2.7+): yes",
                    "several tables (4.0.0+): no", "transaction_stream_load: never"):  # fmt: skip
        assert offered in by_step["version"], by_step["version"]
    assert f"'{database}' did not exist; the user may create it" in by_step["database"]
    assert (
        "2 live BEs (SHOW BACKENDS); tables ask for 1 replica (table_properties.replication_num)"
        in by_step["replication"]
    )
    assert "CREATE TABLE, INSERT, SELECT, ALTER and DROP" in by_step["privileges"]
    assert (
        f"The FE at http://{leader.host}:{leader.http_port} redirects Stream Loads to" in by_step["redirect"]
    )
    for be in emulator.backends:  # the FE picks the BEs in turn: the check looked at each
        assert f"http://{be.host}:{be.http_port}" in by_step["redirect"], by_step["redirect"]
    assert "reachable from here" in by_step["redirect"]
    assert "Success" in by_step["probe_load"] and "get_load_state says VISIBLE" in by_step["probe_load"]
    assert "Readable from information_schema.be_tablets" in by_step["version_pressure"]
    assert "tablet_max_versions from information_schema.be_configs" in by_step["version_pressure"]
    assert check_tables(emulator, database) == []  # nothing left behind


def test_a_healthy_check_through_a_follower_fe_passes_every_step(emulator, database):
    follower = emulator.follower
    config = config_for(
        emulator, database=database, query_port=follower.query_port, http_port=follower.http_port
    )
    status, lines, _ = check(config)
    assert status == {"status": "SUCCEEDED"}, status
    assert len(lines) == len(STEPS) and all(" passed. " in line["message"] for line in lines), lines
    assert (
        f"The FE at http://{follower.host}:{follower.http_port} redirects"
        in lines[NUMBERS["redirect"] - 1]["message"]
    )


def test_a_sync_in_transactions_is_probed_through_the_transaction_interface(emulator, database):
    before = emulator.stats()["requests"].get("txn_begin", 0)
    status, lines, _ = check(config_for(emulator, database=database, transaction_stream_load="always"))
    assert status == {"status": "SUCCEEDED"}, status
    assert "transaction_stream_load: always served" in lines[NUMBERS["version"] - 1]["message"]
    probe = lines[NUMBERS["probe_load"] - 1]["message"]
    assert "through the transaction interface (begin, load, prepare, commit)" in probe, probe
    assert "get_load_state says VISIBLE" in probe
    assert emulator.stats()["requests"]["txn_begin"] > before


# ---- each failure, once ----------------------------------------------------------------------------------------


def test_a_wrong_password_fails_the_login_step(emulator, database):
    result, _ = fails_at(config_for(emulator, database=database, password="Wrong-" + USER_PASSWORD), "login",
                      "Check `username` and `password`")  # fmt: skip
    assert "1045" in result


def test_an_unreachable_query_port_fails_the_login_step(emulator, database):
    result, _ = fails_at(config_for(emulator, database=database, query_port=1), "login", "`query_port`")
    assert f"{emulator.host}:1" in result


def test_an_option_the_server_version_cannot_serve_fails_the_version_step(database):
    with EmulatorProcess(starrocks_version="3.2.6") as old:
        result, _ = fails_at(config_for(old, database=database, compression="gzip"), "version",
                          "Upgrade StarRocks to 3.2.7 or later, or set compression to none")  # fmt: skip
        assert "compression: gzip" in result and "StarRocks 3.2.6" in result
        with pymysql.connect(host=old.host, port=old.query_port, user="root", password="") as conn:
            with conn.cursor() as cursor:
                cursor.execute("SHOW DATABASES")
                assert database not in {row[0] for row in cursor.fetchall()}  # refused before any DDL


@pytest.mark.parametrize(
    ("missing", "key", "on_database", "on_tables", "fix"),
    [
        (
            "CREATE DATABASE",
            "database",
            (),
            (),
            "GRANT CREATE DATABASE ON CATALOG default_catalog TO USER {user}",
        ),
        (
            "CREATE TABLE",
            "privileges",
            (),
            ALL_ON_TABLES,
            "GRANT CREATE TABLE ON DATABASE `{db}` TO USER {user}",
        ),
        (
            "INSERT",
            "privileges",
            ALL_ON_DATABASE,
            ("SELECT", "ALTER", "DROP"),
            "GRANT INSERT ON ALL TABLES IN DATABASE `{db}` TO USER {user}",
        ),
        (
            "SELECT",
            "privileges",
            ALL_ON_DATABASE,
            ("INSERT", "ALTER", "DROP"),
            "GRANT SELECT ON ALL TABLES IN DATABASE `{db}` TO USER {user}",
        ),
        (
            "ALTER",
            "privileges",
            ("CREATE TABLE", "DROP"),
            ("SELECT", "INSERT", "DROP"),
            "GRANT ALTER ON ALL TABLES IN DATABASE `{db}` TO USER {user}",
        ),
        (
            "DROP",
            "privileges",
            ("CREATE TABLE", "ALTER"),
            ("SELECT", "INSERT", "ALTER"),
            "GRANT DROP ON ALL TABLES IN DATABASE `{db}` TO USER {user}",
        ),
    ],  # fmt: skip
    ids=["CREATE DATABASE", "CREATE TABLE", "INSERT", "SELECT", "ALTER", "DROP"],
)
def test_a_user_missing_a_privilege_fails_the_step_that_needs_it_naming_the_grant(
    emulator, database, missing, key, on_database, on_tables, fix
):
    user = user_with(emulator, database, on_database, on_tables)
    config = config_for(emulator, database=database, username=user, password=USER_PASSWORD)
    identity = f"'{user}'@'%'"
    result, said = fails_at(config, key, fix.format(db=database, user=identity))
    assert f"the {missing} privilege" in result, result  # StarRocks' own words, quoted
    if missing == "CREATE DATABASE":
        return
    assert f"lacks {missing} on " in result, result
    left = check_tables(emulator, database)
    if missing == "DROP":  # without DROP the check cannot drop its tables: the fix names them
        assert len(left) == 2, left
        for table in left:
            assert f"`{database}`.`{table}`" in said, said
            sql(emulator, f"DROP TABLE `{database}`.`{table}` FORCE")
    else:
        assert left == []


def test_a_redirect_to_a_dead_be_fails_the_redirect_step_and_load_urls_fix_it(emulator, database):
    emulator.set_fault("fe_redirect_dead_be")
    try:
        result, _ = fails_at(config_for(emulator, database=database), "redirect", "set `load_urls` to BE")
        assert "redirects Stream Loads to http://127.0.0.1:" in result and "not reachable from here" in result
        assert "ConnectionRefusedError" in result, result
        be = emulator.backends[0]
        status, lines, _ = check(
            config_for(emulator, database=database, load_urls=[f"{be.host}:{be.http_port}"])
        )
    finally:
        emulator.clear_faults()
    assert status == {"status": "SUCCEEDED"}, status
    redirect = lines[NUMBERS["redirect"] - 1]["message"]
    assert f"Loads go to `load_urls` (http://{be.host}:{be.http_port} reachable from here)" in redirect, (
        redirect
    )
    assert check_tables(emulator, database) == []


def test_a_redirect_to_an_address_only_the_cluster_knows_names_it(emulator, database):
    # The classic: BEs registered under an internal name or IP. `.invalid` never resolves (RFC 6761).
    emulator.set_fault("redirect_host", host="be-1.cluster.invalid")
    try:
        result, _ = fails_at(
            config_for(emulator, database=database), "redirect", "SHOW BACKENDS", "`load_urls`"
        )
    finally:
        emulator.clear_faults()
    assert "http://be-1.cluster.invalid:" in result and "not reachable from here" in result, result
    assert check_tables(emulator, database) == []


def test_too_few_live_bes_for_the_replication_fails_the_replication_step(database):
    with EmulatorProcess(backends=2, default_replication_num=3) as small:
        result, _ = fails_at(config_for(small, database=database, table_properties={}), "replication",
                          '{"replication_num": "2"}')  # fmt: skip
        assert "Tables ask for 3 replicas (default_replication_num)" in result and "2 live BEs" in result
        with pymysql.connect(host=small.host, port=small.query_port, user="root", password="") as conn:
            with conn.cursor() as cursor:
                cursor.execute(f"SHOW TABLES FROM `{database}`")
                assert cursor.fetchall() == ()  # no table was tried


def test_a_probe_load_that_fails_fails_the_probe_load_step(emulator, database):
    emulator.set_fault("http_500", count=2)  # the probe's attempt and its one retry
    try:
        result, _ = fails_at(
            config_for(emulator, database=database), "probe_load", "information_schema.loads"
        )
    finally:
        emulator.clear_faults()
    assert "HTTP 500" in result and "after 2 attempts" in result, result
    assert check_tables(emulator, database) == []


def test_version_pressure_a_user_may_not_fully_read_is_a_warning_with_its_fix(emulator, database):
    # Every privilege the setup guide lists, and no OPERATE: be_configs (tablet_max_versions) stays unreadable.
    user = user_with(emulator, database, ALL_ON_DATABASE, ALL_ON_TABLES)
    status, lines, _ = check(config_for(emulator, database=database, username=user, password=USER_PASSWORD))
    assert status["status"] == "SUCCEEDED", status
    assert [line["level"] for line in lines] == ["INFO"] * (len(STEPS) - 1) + ["WARN"], lines
    pressure = lines[-1]["message"]
    assert pressure.startswith(prefix("version_pressure") + "warning."), pressure
    assert "OPERATE privilege(s) on SYSTEM" in pressure, pressure
    assert (
        f"Fix: Nothing, if the BEs keep the default tablet_max_versions (1000); else GRANT OPERATE ON SYSTEM TO USER '{user}'@'%'"
        in pressure
    )
    assert status["message"].startswith(
        f"All {len(STEPS)} steps passed, 1 with a warning. version pressure: "
    )
    assert check_tables(emulator, database) == []
