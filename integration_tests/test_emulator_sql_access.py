"""Query port, access: authentication, a read-only user, TLS, and peers (SQLAlchemy `starrocks` dialect).

Runs against the emulator, or against a real StarRocks when STARROCKS_HOST is set (see integration_tests/sql_target.py);
the TLS test needs its own emulator (it starts one in-process with a throwaway CA).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from urllib.parse import quote_plus

import pymysql
import pytest
import sqlalchemy as sa

from integration_tests.sql_target import SqlTarget, target_fixture, unique_name

sr = pytest.fixture(scope="module", name="sr")(target_fixture)


@pytest.fixture
def db(sr: SqlTarget) -> Iterator[str]:
    name = unique_name("sqlacc")
    with sr.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
        cur.execute(
            f"CREATE TABLE `{name}`.items (id BIGINT NOT NULL, name VARCHAR(32), price DECIMAL(10, 2)) "
            "PRIMARY KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 1"
        )
        cur.execute(f"INSERT INTO `{name}`.items VALUES (1, 'pen', 1.50), (2, 'ink', 9.99)")
    yield name
    with sr.connect() as conn:
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}` FORCE")


def test_wrong_password_answers_1045_access_denied(sr: SqlTarget) -> None:
    with pytest.raises(pymysql.err.OperationalError) as err:
        pymysql.connect(host=sr.host, port=sr.query_port, user=sr.user, password=sr.password + "-wrong")
    code, message = err.value.args
    assert code == 1045
    assert message.startswith(f"Access denied for user '{sr.user}'")


def test_unknown_user_answers_1045_too(sr: SqlTarget) -> None:
    with pytest.raises(pymysql.err.OperationalError) as err:
        pymysql.connect(host=sr.host, port=sr.query_port, user=unique_name("nobody"), password="x")
    assert err.value.args[0] == 1045


@pytest.fixture
def reader(sr: SqlTarget, db: str) -> Iterator[SqlTarget]:
    """A user granted SELECT on the database only."""
    name, password = unique_name("reader"), "reader-pw"
    with sr.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'")
        cur.execute(f"GRANT SELECT ON ALL TABLES IN DATABASE `{db}` TO USER '{name}'@'%'")
    yield SqlTarget(sr.host, sr.query_port, name, password)
    if sr.emulator is None:  # a real StarRocks keeps users; the emulator's die with it
        with sr.connect() as conn:
            conn.cursor().execute(f"DROP USER '{name}'@'%'")


def test_read_only_user_can_select(reader: SqlTarget, db: str) -> None:
    with reader.connect(db) as conn, conn.cursor() as cur:
        cur.execute("SELECT name FROM items ORDER BY id")
        assert cur.fetchall() == (("pen",), ("ink",))


def test_read_only_user_cannot_create_table_and_the_error_names_the_privilege(
    reader: SqlTarget, db: str
) -> None:
    with reader.connect(db) as conn, conn.cursor() as cur, pytest.raises(pymysql.err.MySQLError) as err:
        cur.execute("CREATE TABLE nope (id INT) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 1")
    message = err.value.args[1]
    assert message.startswith("Access denied; you need (at least one of) the CREATE TABLE privilege(s)")
    assert f"DATABASE {db}" in message


def test_read_only_user_cannot_insert_and_the_error_names_the_privilege(reader: SqlTarget, db: str) -> None:
    with reader.connect(db) as conn, conn.cursor() as cur, pytest.raises(pymysql.err.MySQLError) as err:
        cur.execute("INSERT INTO items VALUES (3, 'cap', 2.00)")
    assert "the INSERT privilege(s) on TABLE items" in err.value.args[1]
    with reader.connect(db) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM items")
        assert cur.fetchone() == (2,)


def test_show_grants_lists_the_select_grant(sr: SqlTarget, reader: SqlTarget, db: str) -> None:
    with sr.connect() as conn, conn.cursor() as cur:
        cur.execute(f"SHOW GRANTS FOR '{reader.user}'@'%'")
        grants = " ".join(str(row[-1]) for row in cur.fetchall())
    assert "SELECT" in grants and db in grants


def test_sqlalchemy_starrocks_dialect_connects_reflects_and_selects(sr: SqlTarget, db: str) -> None:
    url = f"starrocks://{quote_plus(sr.user)}:{quote_plus(sr.password)}@{sr.host}:{sr.query_port}/{db}"
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            assert "items" in sa.inspect(conn).get_table_names()
            items = sa.Table("items", sa.MetaData(), autoload_with=conn)
            assert [c.name for c in items.columns] == ["id", "name", "price"]
            assert [c.name for c in items.primary_key.columns] == ["id"]
            rows = conn.execute(sa.select(items.c.name).where(items.c.price > 5)).fetchall()
            assert [tuple(r) for r in rows] == [("ink",)]
    finally:
        engine.dispose()


@pytest.mark.skipif(
    bool(os.environ.get("STARROCKS_HOST")), reason="TLS is checked on an emulator started here"
)
def test_tls_query_port_serves_a_client_that_requires_tls(tmp_path: os.PathLike) -> None:
    trustme = pytest.importorskip("trustme")
    from starrocks_emulator.sql.mysql_frontend import QueryPortThread
    from starrocks_emulator.storage.engine import Engine

    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_cert.configure_cert(context)
    ca_path = os.path.join(tmp_path, "ca.pem")
    ca.cert_pem.write_to_path(ca_path)
    engine = Engine(None, root_password="tls-pw")
    port = QueryPortThread(engine, ssl_context=context).start()
    try:
        conn = pymysql.connect(
            host="127.0.0.1",
            port=port.port,
            user="root",
            password="tls-pw",
            ssl_ca=ca_path,
            ssl_verify_cert=True,
        )
        with conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
            assert conn._sock is not None and isinstance(conn._sock, ssl.SSLSocket)
    finally:
        port.stop()
        engine.close()
