"""The cluster's shape and its HTTP routing, as StarRocks routes: any FE 307s a Stream Load to a BE; a follower
307s get_load_state and the transaction interface to the leader; every node checks credentials itself.

Source: fe RestBaseAction (`redirectTo`, `redirectToLeader`, authentication in `execute`), LoadAction,
GetStreamLoadState, TransactionLoadAction. Tests that need a follower run against a real StarRocks when
STARROCKS_FOLLOWER_HOST is set; those that count or control nodes are emulator only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pymysql
import pytest
import requests

from integration_tests.emulator_setup import DEFAULT_TABLE, created_database
from starrocks_emulator.cluster import EmulatorServer
from starrocks_emulator.storage.engine import Engine

JSON = {"format": "json"}


@pytest.fixture
def db(starrocks: Any, fresh_database: str) -> Iterator[str]:
    with created_database(starrocks, fresh_database, DEFAULT_TABLE) as name:
        yield name


def label() -> str:
    return f"c_{uuid.uuid4().hex}"


def port_of(url: str) -> int:
    return int(urlsplit(url).port or 0)


def test_a_follower_sends_a_stream_load_straight_to_a_be(starrocks, follower, db):
    first = follower.http.request("PUT", f"/api/{db}/t/_stream_load", b'{"id":1}', JSON, follow=False)
    assert first.status_code == 307
    assert port_of(first.headers["location"]) != urlsplit(starrocks.http.base).port  # a BE, not the leader
    answer = follower.http.stream_load(db, "t", b'{"id":1}', {"label": label(), **JSON})
    assert answer.json()["Status"] == "Success"


def test_a_follower_redirects_get_load_state_to_the_leader_which_checks_credentials_again(
    starrocks, follower, db
):
    lbl = label()
    assert (
        starrocks.http.stream_load(db, "t", b'{"id":1}', {"label": lbl, **JSON}).json()["Status"] == "Success"
    )
    path = f"/api/{db}/get_load_state?label={lbl}"
    redirected = follower.http.request("GET", path, follow=False)
    assert redirected.status_code == 307
    location = redirected.headers["location"]
    assert location.startswith("http://") and urlsplit(location).path == f"/api/{db}/get_load_state"
    assert requests.get(location, timeout=30).status_code == 401  # what a client that drops credentials gets
    assert follower.http.load_state(db, lbl) == "VISIBLE"  # re-sending them works


def test_a_follower_redirects_the_transaction_interface_to_the_leader(starrocks, follower, db):
    headers = {"label": label(), "db": db, "table": "t"}
    redirected = follower.http.request("POST", "/api/transaction/begin", headers=headers, follow=False)
    assert redirected.status_code == 307
    assert port_of(redirected.headers["location"]) == urlsplit(starrocks.http.base).port


def test_a_follower_authenticates_before_it_redirects(follower, db):
    base = follower.http.base
    answer = requests.get(f"{base}/api/{db}/get_load_state?label=x", allow_redirects=False, timeout=30)
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == 'Basic realm=""'
    assert answer.json()["msg"] == "Need auth information."


def test_every_fe_query_port_serves_the_same_data(starrocks, follower, db):
    starrocks.http.stream_load(db, "t", b'{"id":3}', {"label": label(), **JSON})
    with follower.connect(db) as conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM t")
        assert cur.fetchall() == ((3,),)


@pytest.mark.emulator_only
def test_fes_send_stream_loads_to_the_bes_in_turn(starrocks, db):
    backends = {be.http_port for be in starrocks.emulator.backends}
    seen = set()
    for _ in range(4):
        probe = starrocks.http.request("PUT", f"/api/{db}/t/_stream_load", b"{}", JSON, follow=False)
        seen.add(port_of(probe.headers["location"]))
    assert seen == backends and len(backends) == 2


@pytest.mark.emulator_only
def test_the_emulator_process_reports_every_node(starrocks):
    emulator = starrocks.emulator
    assert [fe.leader for fe in emulator.frontends] == [True, False]
    assert (
        emulator.leader.http_port == emulator.http_port and emulator.leader.query_port == emulator.query_port
    )
    assert emulator.follower.http_port != emulator.http_port
    assert emulator.backends[0].http_port == emulator.be_http_port and len(emulator.backends) == 2
    ports = [p for fe in emulator.frontends for p in (fe.http_port, fe.query_port)]
    ports += [be.http_port for be in emulator.backends]
    assert len(set(ports)) == 6
    for fe in emulator.frontends:
        with pymysql.connect(host=fe.host, port=fe.query_port, user="root", password=emulator.root_password):
            pass


@pytest.mark.emulator_only
def test_the_engine_topology_is_set_from_the_bound_ports():
    engine = Engine(None)
    server = EmulatorServer(engine, frontends=3, backends=3)
    server.start()
    try:
        topology = engine.topology
        assert [fe.leader for fe in topology.frontends] == [True, False, False]
        assert len(topology.alive_backends) == 3
        assert all(node.http_port for node in (*topology.frontends, *topology.backends))
        assert all(fe.query_port for fe in topology.frontends)
        assert topology == server.topology
    finally:
        server.stop()
