"""Security through the real entrypoint: no password in any output, no SQL injection by names, TLS verified,
missing privileges named.

- The password sweep runs every path we can provoke (success, HTTP errors, retries exhausted, redirects to a
  dead BE, wrong password, unreachable host, invalid config, bad input, a user without INSERT, the
  transaction interface and get_load_state through a follower FE) with a
  distinctive password holding JSON-escaped characters, and searches stdout, stderr and every decoded message
  string for it, for its JSON-escaped form and for the Basic-auth token that carries it.
- Hostile stream, namespace and field names (backticks, quotes, semicolons, comment markers, unicode, 300
  characters) load into their own tables and leave a canary table alone.
- `ssl: true` against the emulator serving TLS with a `trustme` certificate: check and write succeed with
  the right CA (so Stream Load speaks HTTPS and the query port TLS, as the emulator serves nothing else);
  a wrong CA, a certificate for another host name, and a server without TLS all fail check, clearly.
  StarRocks' FE redirects Stream Loads to plain-http BEs even over TLS: the connector follows, and says so in
  one WARN line per sync; with HTTPS BE `load_urls` nothing goes in clear text and nothing is warned about.
- `check` with a user lacking a privilege names that privilege.
"""

from __future__ import annotations

import base64
import json
import ssl
import uuid
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from destination_starrocks.spec import StarRocksConfig
from destination_starrocks.sql import SqlClient
from integration_tests.connector import (
    ConnectorRun,
    catalog,
    config_for,
    record,
    run_connector,
    state_value,
    stream,
    stream_state,
)
from starrocks_emulator.process import EmulatorProcess

# Quote and backslash: escaped in JSON output, so a leak would hide from a naive search of stdout.
PASSWORD = 'Pw"Canary\\7f3!-' + uuid.uuid4().hex[:6]
OTHER_PASSWORD = "Wrong-Canary-" + uuid.uuid4().hex[:8]
LIMITED_PASSWORD = "Limited-Canary-" + uuid.uuid4().hex[:8]

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def guarded() -> Iterator[EmulatorProcess]:
    """A cluster (a leader and a follower FE, two BEs) whose root has the distinctive password."""
    with EmulatorProcess(root_password=PASSWORD, frontends=2, backends=2) as emulator:
        yield emulator


def sql(emulator: EmulatorProcess, statement: str, user: str = "root", password: str | None = None) -> list:
    with (
        pymysql.connect(
            host=emulator.host,
            port=emulator.query_port,
            user=user,
            password=PASSWORD if password is None else password,
            autocommit=True,
        ) as conn,
        conn.cursor() as cursor,
    ):
        cursor.execute(statement)
        return list(cursor.fetchall())


def check(config: dict[str, Any]) -> tuple[dict[str, Any], ConnectorRun]:
    run = run_connector("check", config)
    statuses = [m["connectionStatus"] for m in run.of_type("CONNECTION_STATUS")]
    assert len(statuses) == 1, run.stdout + run.stderr
    return statuses[0], run


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def leaks(run: ConnectorRun, secret: str, user: str = "root") -> list[str]:
    """Where `secret` shows in a run's output: raw, JSON-escaped, inside decoded messages, as Basic auth."""
    forms = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        base64.b64encode(f"{user}:{secret}".encode()).decode(),
    }
    found = [f"stdout has {form!r}" for form in forms if form in run.stdout]
    found += [f"stderr has {form!r}" for form in forms if form in run.stderr]
    found += [f"a message has {s[:200]!r}" for m in run.messages for s in strings(m) if secret in s]
    return found


# ---- the password never shows ---------------------------------------------------------------------------


def test_the_password_never_appears_in_any_output_on_any_path(guarded, tmp_path):
    database = f"sec_{uuid.uuid4().hex[:8]}"
    good = config_for(guarded, database=database, max_retries=1, load_timeout_seconds=5)
    lines = [record("t", {"id": i, "name": "n"}) for i in range(20)] + [stream_state("t", 1)]
    runs: dict[str, tuple[ConnectorRun, str, str]] = {}  # name -> (run, secret, user)

    def write(
        name: str, config: dict, input_lines: list[bytes] | bytes = lines, secret: str = PASSWORD
    ) -> ConnectorRun:
        run = run_connector("write", config, catalog(stream("t")), input_lines, timeout=120)
        runs[name] = (run, secret, config["username"])
        return run

    def checked(name: str, config: dict, secret: str = PASSWORD) -> dict:
        status, run = check(config)
        runs[name] = (run, secret, config["username"])
        return status

    assert checked("check succeeds", good)["status"] == "SUCCEEDED"
    assert write("write succeeds", good).returncode == 0

    guarded.set_fault("http_500", count=10)
    assert write("HTTP 500 until retries run out", good).returncode != 0
    guarded.clear_faults()

    guarded.set_fault("commit_then_cut", count=1)
    assert write("answer lost after commit", good).returncode == 0
    guarded.clear_faults()

    follower = {**good, "http_port": guarded.follower.http_port, "query_port": guarded.follower.query_port}
    in_transactions = {**follower, "transaction_stream_load": "always"}
    assert write("transactions through a follower", in_transactions).returncode == 0
    guarded.set_fault("commit_then_cut", count=1)
    assert write("transaction commit answer lost, via the follower", in_transactions).returncode == 0
    guarded.set_fault("label_running", count=1, seconds=2)
    assert write("get_load_state through a follower", follower).returncode == 0
    guarded.clear_faults()
    wrong_on_follower = {**in_transactions, "password": OTHER_PASSWORD}
    assert write("wrong password via the follower", wrong_on_follower, secret=OTHER_PASSWORD).returncode != 0

    guarded.set_fault("fe_redirect_dead_be")
    assert write("FE redirects to a dead BE", good).returncode != 0
    assert checked("check: FE redirects to a dead BE", good)["status"] == "FAILED"
    guarded.clear_faults()

    wrong = {**good, "password": OTHER_PASSWORD}
    assert write("wrong password", wrong, secret=OTHER_PASSWORD).returncode != 0
    assert checked("check: wrong password", wrong, secret=OTHER_PASSWORD)["status"] == "FAILED"

    unreachable = {**good, "query_port": 1}
    assert write("unreachable query port", unreachable).returncode != 0
    assert checked("check: unreachable query port", unreachable)["status"] == "FAILED"

    invalid = {**good, "batch_size": -1, "load_urls": "nope"}
    assert write("invalid config", invalid).returncode != 0
    assert checked("check: invalid config", invalid)["status"] == "FAILED"
    mistyped = {**good, "password": 918273645546372}
    assert (
        checked("check: password of the wrong type", mistyped, secret="918273645546372")["status"] == "FAILED"
    )
    assert write("password of the wrong type", mistyped, secret="918273645546372").returncode != 0

    assert write("malformed input", good, [*lines[:5], b"{not json"]).returncode != 0

    user = f"limited_{uuid.uuid4().hex[:6]}"
    sql(guarded, f"CREATE USER '{user}'@'%' IDENTIFIED BY '{LIMITED_PASSWORD}'")
    sql(guarded, f"GRANT CREATE TABLE, ALTER, DROP ON DATABASE `{database}` TO USER '{user}'@'%'")
    sql(guarded, f"GRANT SELECT, ALTER, DROP ON ALL TABLES IN DATABASE `{database}` TO USER '{user}'@'%'")
    limited = {**good, "username": user, "password": LIMITED_PASSWORD}
    assert write("Stream Load without INSERT", limited, secret=LIMITED_PASSWORD).returncode != 0
    assert checked("check: no INSERT", limited, secret=LIMITED_PASSWORD)["status"] == "FAILED"

    found = {name: where for name, (run, secret, who) in runs.items() if (where := leaks(run, secret, who))}
    assert found == {}, found
    # The sweep really went through error paths that print details (stack traces included).
    assert any(e.get("stack_trace") for run, _, _ in runs.values() for e in run.errors)


# ---- hostile names ------------------------------------------------------------------------------------------

HOSTILE_NAMES = [
    "x`; DROP TABLE canary; --",
    "a'b\"c\\d",
    "semi;colon /* comment */ # hash -- dash",
    "名前_ñame_😀",
    "`",
    "n" * 300,
]


def test_hostile_stream_namespace_and_field_names_cannot_inject_or_break_a_load(starrocks, fresh_database):
    from integration_tests.connector import connect

    with connect(starrocks) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{fresh_database}`")
        cursor.execute(
            f"CREATE TABLE `{fresh_database}`.`canary` (`id` BIGINT) DUPLICATE KEY(`id`) "
            "DISTRIBUTED BY HASH(`id`) BUCKETS 1 PROPERTIES ('replication_num' = '1')"
        )
        cursor.execute(f"INSERT INTO `{fresh_database}`.`canary` VALUES (7)")
    fields = {name: {"type": "string"} for name in HOSTILE_NAMES}
    fields["id"] = {"type": "integer"}
    hostile_namespace = f"{fresh_database}`; DROP DATABASE {fresh_database}; --"
    streams = [stream(name, fields) for name in HOSTILE_NAMES]
    streams.append(stream("plain", fields, namespace=hostile_namespace))
    lines = []
    for n, name in enumerate(HOSTILE_NAMES):
        for i in range(3):
            data = {"id": i, **{f: f"{f} ' \" ` ; -- {i}" for f in HOSTILE_NAMES}}
            lines.append(record(name, data))
        lines.append(stream_state(name, n))
    lines.append(record("plain", {"id": 1, HOSTILE_NAMES[0]: "v"}, namespace=hostile_namespace))
    lines.append(stream_state("plain", "ns", namespace=hostile_namespace))
    run = run_connector("write", config_for(starrocks, database=fresh_database), catalog(*streams), lines)
    assert run.returncode == 0, run.stderr[-3000:] + str(run.errors)
    assert [state_value(s) for s in run.states] == [*range(len(HOSTILE_NAMES)), "ns"]
    # Echoed states name the streams exactly as the source did.
    assert [s["stream"]["stream_descriptor"]["name"] for s in run.states] == [*HOSTILE_NAMES, "plain"]
    with connect(starrocks) as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT `id` FROM `{fresh_database}`.`canary`")
        assert cursor.fetchall() == ((7,),)
        cursor.execute(
            "SELECT TABLE_NAME FROM information_schema.tables WHERE TABLE_SCHEMA = %s", (fresh_database,)
        )
        tables = sorted(r[0] for r in cursor.fetchall() if r[0] != "canary")
        assert len(tables) == len(HOSTILE_NAMES)  # one table per stream, none lost, none merged
        for table in tables:
            cursor.execute(f"SELECT COUNT(*) FROM `{fresh_database}`.`{table.replace('`', '``')}`")
            assert cursor.fetchone()[0] == 3, table
        # Every hostile field got a column, and the values arrived byte for byte.
        cursor.execute(f"DESC `{fresh_database}`.`{tables[0].replace('`', '``')}`")
        columns = [r[0] for r in cursor.fetchall() if not r[0].startswith("_airbyte")]
        assert len(columns) == len(HOSTILE_NAMES) + 1
        quoted = ", ".join(f"`{c.replace('`', '``')}`" for c in columns if c != "id")
        cursor.execute(
            f"SELECT {quoted} FROM `{fresh_database}`.`{tables[0].replace('`', '``')}` WHERE `id` = 2"
        )
        assert sorted(cursor.fetchone()) == sorted(f"{f} ' \" ` ; -- 2" for f in HOSTILE_NAMES)
        cursor.execute("SHOW DATABASES")
        databases = [r[0] for r in cursor.fetchall()]
    assert fresh_database in databases
    (namespace_db,) = [d for d in databases if d.startswith(fresh_database) and d != fresh_database]
    assert "`" not in namespace_db and ";" not in namespace_db and " " not in namespace_db


# ---- TLS ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> Iterator[tuple[EmulatorProcess, str]]:
    """An emulator serving TLS on all three ports with a certificate for 127.0.0.1 from a throwaway CA."""
    trustme = pytest.importorskip("trustme")
    directory = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(directory / "server.pem"))
    cert.private_key_pem.write_to_path(str(directory / "server.key"))
    with EmulatorProcess(
        root_password=PASSWORD, tls_cert=str(directory / "server.pem"), tls_key=str(directory / "server.key")
    ) as emulator:
        yield emulator, ca.cert_pem.bytes().decode()


def tls_config(emulator: EmulatorProcess, ca_pem: str, **overrides: Any) -> dict[str, Any]:
    return config_for(emulator, ssl=True, ssl_ca_certificate=ca_pem, **overrides)


def test_ssl_with_the_right_ca_checks_and_loads_over_https_and_tls(tls):
    emulator, ca_pem = tls
    database = f"tls_{uuid.uuid4().hex[:8]}"
    status, run = check(tls_config(emulator, ca_pem, database=database))
    assert status["status"] == "SUCCEEDED", status
    lines = [record("t", {"id": i, "name": "secure"}) for i in range(50)] + [stream_state("t", 50)]
    run = run_connector("write", tls_config(emulator, ca_pem, database=database), catalog(stream("t")), lines)
    assert run.returncode == 0, run.stderr[-3000:] + str(run.errors)
    assert [state_value(s) for s in run.states] == [50]
    assert emulator.stats()["tables"][f"{database}.t"]["rows"] == 50
    assert not leaks(run, PASSWORD)


def plain_http_warnings(run: ConnectorRun) -> list[str]:
    return [
        m["log"]["message"]
        for m in run.of_type("LOG")
        if m["log"]["level"] == "WARN" and "unencrypted" in m["log"]["message"]
    ]


def test_ssl_warns_once_per_sync_when_starrocks_redirects_the_credentials_to_a_plain_http_be(tls):
    # fe `RestBaseAction.redirectTo` always names http://<be>: the load works, and the log says what travelled
    # in clear text and how to avoid it.
    emulator, ca_pem = tls
    database = f"tls_{uuid.uuid4().hex[:8]}"
    lines = []
    for i in range(60):
        lines.append(record("t", {"id": i, "name": "secure"}))
        if i % 20 == 19:
            lines.append(stream_state("t", i))
    config = tls_config(emulator, ca_pem, database=database, batch_size=20)
    run = run_connector("write", config, catalog(stream("t")), lines)
    assert run.returncode == 0, run.stderr[-3000:] + str(run.errors)
    assert emulator.stats()["tables"][f"{database}.t"]["loads"] == 3  # three loads, three plain-http hops
    (warning,) = plain_http_warnings(run)
    be = emulator.backends[0]
    assert f"http://{be.host}:{be.http_port}" in warning, warning
    assert "load_urls" in warning and "https://" in warning, warning
    assert not leaks(run, PASSWORD)


def test_ssl_with_https_be_load_urls_sends_nothing_in_clear_text_and_warns_nothing(tls):
    emulator, ca_pem = tls
    database = f"tls_{uuid.uuid4().hex[:8]}"
    be = emulator.backends[0]
    assert be.https_port, "the TLS emulator serves each BE over HTTPS too"
    config = tls_config(emulator, ca_pem, database=database, load_urls=[f"https://{be.host}:{be.https_port}"])
    for mode in ("never", "always"):
        lines = [record("t", {"id": i, "name": mode}) for i in range(10)] + [stream_state("t", mode)]
        run = run_connector("write", {**config, "transaction_stream_load": mode}, catalog(stream("t")), lines)
        assert run.returncode == 0, run.stderr[-3000:] + str(run.errors)
        assert [state_value(s) for s in run.states] == [mode]
        assert plain_http_warnings(run) == [], mode
    assert emulator.stats()["tables"][f"{database}.t"]["rows"] == 20


def test_ssl_with_a_wrong_ca_fails_check_clearly(tls):
    trustme = pytest.importorskip("trustme")
    emulator, _ = tls
    status, run = check(tls_config(emulator, trustme.CA().cert_pem.bytes().decode()))
    assert status["status"] == "FAILED"
    assert "certificate" in status["message"].lower(), status["message"]
    assert f"{emulator.host}:{emulator.query_port}" in status["message"], status["message"]
    assert not leaks(run, PASSWORD)


def test_ssl_without_a_ca_does_not_trust_a_private_ca(tls):
    emulator, _ = tls
    status, _ = check(tls_config(emulator, ""))
    assert status["status"] == "FAILED"
    assert "certificate" in status["message"].lower(), status["message"]


def test_ssl_verifies_the_host_name(tmp_path):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("db.example.internal")  # valid, but for another host
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    with EmulatorProcess(
        tls_cert=str(tmp_path / "server.pem"), tls_key=str(tmp_path / "server.key")
    ) as emulator:
        status, _ = check(tls_config(emulator, ca.cert_pem.bytes().decode()))
    assert status["status"] == "FAILED"
    assert "127.0.0.1" in status["message"], status["message"]


def test_ssl_off_speaks_plain_text_even_to_a_server_that_offers_tls(tls):
    # PyMySQL's default would negotiate TLS here, with a context that verifies nothing (the emulator's CA is
    # trusted by no one): `ssl: false` must mean what the spec says, not an unverified TLS session.
    emulator, _ = tls
    config = StarRocksConfig(**config_for(emulator, ssl=False))
    client = SqlClient(config)
    try:
        assert client.query("SELECT 1") == [(1,)]
        assert not isinstance(client.connect()._sock, ssl.SSLSocket)
    finally:
        client.close()


def test_ssl_against_a_server_without_tls_fails_instead_of_falling_back_to_plain_text(starrocks):
    trustme = pytest.importorskip("trustme")
    status, _ = check(
        config_for(starrocks, ssl=True, ssl_ca_certificate=trustme.CA().cert_pem.bytes().decode())
    )
    assert status["status"] == "FAILED", status
    assert "TLS" in status["message"] or "SSL" in status["message"], status["message"]


# ---- privileges -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grants", "missing"),
    [
        (["SELECT ON ALL TABLES IN DATABASE {db}"], "CREATE TABLE"),
        (
            [
                "CREATE TABLE, ALTER, DROP ON DATABASE {db}",
                "SELECT, ALTER, DROP ON ALL TABLES IN DATABASE {db}",
            ],
            "INSERT",
        ),
    ],
    ids=["read-only user", "user without INSERT"],
)
def test_check_names_the_missing_privilege(guarded, grants, missing):
    database = f"priv_{uuid.uuid4().hex[:8]}"
    user = f"u_{uuid.uuid4().hex[:8]}"
    sql(guarded, f"CREATE DATABASE `{database}`")
    sql(guarded, f"CREATE USER '{user}'@'%' IDENTIFIED BY '{LIMITED_PASSWORD}'")
    for grant in grants:
        sql(guarded, f"GRANT {grant.format(db=f'`{database}`')} TO USER '{user}'@'%'")
    config = config_for(guarded, username=user, password=LIMITED_PASSWORD, database=database)
    status, run = check(config)
    assert status["status"] == "FAILED"
    assert f"{missing} privilege" in status["message"], status["message"]
    assert database in status["message"], status["message"]
    assert not leaks(run, LIMITED_PASSWORD, user)
    # With every privilege the docs list, the same user passes.
    sql(guarded, f"GRANT CREATE TABLE, ALTER, DROP ON DATABASE `{database}` TO USER '{user}'@'%'")
    sql(
        guarded,
        f"GRANT SELECT, INSERT, ALTER, DROP ON ALL TABLES IN DATABASE `{database}` TO USER '{user}'@'%'",
    )
    status, _ = check(config)
    assert status["status"] == "SUCCEEDED", status


def test_check_without_create_database_names_it_when_the_database_is_missing(guarded):
    user = f"u_{uuid.uuid4().hex[:8]}"
    sql(guarded, f"CREATE USER '{user}'@'%' IDENTIFIED BY '{LIMITED_PASSWORD}'")
    config = config_for(guarded, username=user, password=LIMITED_PASSWORD, database=f"nope_{user}")
    status, _ = check(config)
    assert status["status"] == "FAILED"
    assert "CREATE DATABASE privilege" in status["message"], status["message"]
