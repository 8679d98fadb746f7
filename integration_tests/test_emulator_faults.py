"""Every fault of the emulator switches on, does what starrocks_emulator/README.md's table says, and switches
off; a fault of a BE can name one BE of a cluster.

Faults model StarRocks failure modes the connector must survive: `Publish Timeout` means committed, visible
later (STREAM_LOAD "Return value"); a label whose job runs or finished answers `Label Already Exists` +
`ExistingJobStatus`; past tablet_max_versions a load fails with "too many versions"; a BE that is gone
refuses connections. Each test starts its own emulator (emulator only).
"""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlsplit

import pytest

from integration_tests.emulator_setup import table_client
from starrocks_emulator.http_client import Answer, StreamLoadClient
from starrocks_emulator.process import EmulatorProcess

JSON = {"format": "json"}
pytestmark = pytest.mark.emulator_only


def client_for(emu: EmulatorProcess) -> StreamLoadClient:
    return table_client(emu)


def load(client: StreamLoadClient, label: str, body: bytes = b'{"id":1}', timeout: float = 30) -> Answer:
    return client.stream_load("d", "t", body, {"label": label, **JSON}, timeout=timeout)


def rows(emu: EmulatorProcess) -> int:
    return emu.stats()["tables"]["d.t"]["rows"]


def wait_for_state(client: StreamLoadClient, label: str, state: str, seconds: float = 10) -> str:
    deadline = time.monotonic() + seconds
    current = client.load_state("d", label)
    while current != state and time.monotonic() < deadline:
        time.sleep(0.1)
        current = client.load_state("d", label)
    return current


@pytest.fixture
def client(emulator: EmulatorProcess) -> StreamLoadClient:
    return client_for(emulator)


def test_http_500_answers_the_next_n_loads_with_500_and_commits_nothing(emulator, client):
    emulator.set_fault("http_500", count=2)
    assert [load(client, "a").status_code for _ in range(2)] == [500, 500]
    assert rows(emulator) == 0
    answer = load(client, "a")  # switched itself off after two; the label was never used
    assert answer.json()["Status"] == "Success" and rows(emulator) == 1


def test_cut_mid_body_closes_the_socket_and_commits_nothing(emulator, client):
    emulator.set_fault("cut_mid_body", count=1)
    with pytest.raises(ConnectionError):
        load(client, "cut", b'{"id":1}\n' * 20000)
    assert rows(emulator) == 0
    assert client.load_state("d", "cut") == "ABORTED"
    assert load(client, "cut").json()["Status"] == "Success"


def test_slow_be_answers_late_but_commits_even_when_the_client_gave_up(emulator, client):
    emulator.set_fault("slow_be", count=1, seconds=1.5)
    with pytest.raises(TimeoutError):
        load(client, "slow", timeout=0.5)
    assert load(client, "slow").json()["ExistingJobStatus"] in ("RUNNING", "FINISHED")
    assert wait_for_state(client, "slow", "VISIBLE") == "VISIBLE"
    assert rows(emulator) == 1
    assert load(client, "fast").json()["Status"] == "Success"


def test_publish_timeout_commits_and_answers_publish_timeout(emulator, client):
    emulator.set_fault("publish_timeout", count=1)
    answer = load(client, "pt").json()
    assert answer["Status"] == "Publish Timeout"
    assert client.load_state("d", "pt") in ("COMMITTED", "VISIBLE") and rows(emulator) == 1
    assert load(client, "next").json()["Status"] == "Success"


def test_commit_then_cut_commits_and_closes_the_socket_without_an_answer(emulator, client):
    emulator.set_fault("commit_then_cut", count=1)
    with pytest.raises(ConnectionError):
        load(client, "ctc")
    assert rows(emulator) == 1
    retry = load(client, "ctc").json()
    assert retry["Status"] == "Label Already Exists" and retry["ExistingJobStatus"] == "FINISHED"


def test_label_running_keeps_the_label_running_then_finishes(emulator, client):
    emulator.set_fault("label_running", count=1, seconds=1.0)
    with pytest.raises(ConnectionError):
        load(client, "run")
    running = load(client, "run").json()
    assert running["Status"] == "Label Already Exists" and running["ExistingJobStatus"] == "RUNNING"
    assert wait_for_state(client, "run", "VISIBLE") == "VISIBLE"
    finished = load(client, "run").json()
    assert finished["ExistingJobStatus"] == "FINISHED" and rows(emulator) == 1


def test_too_many_versions_fails_loads_with_starrocks_message(emulator, client):
    emulator.set_fault("too_many_versions", count=1)
    failed = load(client, "v1").json()
    assert failed["Status"] == "Fail"
    assert failed["Message"].startswith("Failed to load data into tablet ")
    assert "because of too many versions, current/limit: 1001/1000. You can reduce" in failed["Message"]
    assert rows(emulator) == 0
    assert load(client, "v1").json()["Status"] == "Success"


def test_too_many_versions_for_seconds_then_off(emulator, client):
    emulator.set_fault("too_many_versions", seconds=0.5)
    assert load(client, "s1").json()["Status"] == "Fail"
    assert load(client, "s2").json()["Status"] == "Fail"
    time.sleep(0.6)
    assert load(client, "s3").json()["Status"] == "Success"


def test_be_down_refuses_connections_then_comes_back(emulator, client):
    emulator.set_fault("be_down", seconds=1.0)
    with pytest.raises(ConnectionError):
        load(client, "down")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            assert load(client, "down").json()["Status"] == "Success"
            break
        except ConnectionError:
            time.sleep(0.2)
    assert rows(emulator) == 1


def test_be_down_ends_when_faults_are_cleared(emulator, client):
    emulator.set_fault("be_down", seconds=60)
    with pytest.raises(ConnectionError):
        load(client, "x")
    emulator.clear_faults()
    assert load(client, "x").json()["Status"] == "Success"


def test_fe_redirect_dead_be_points_the_307_at_a_port_nobody_answers(emulator, client):
    emulator.set_fault("fe_redirect_dead_be")
    with pytest.raises(ConnectionError):
        load(client, "dead")
    with pytest.raises(ConnectionError):
        load(client, "dead")  # stays on until cleared
    emulator.clear_faults()
    assert load(client, "dead").json()["Status"] == "Success"


def test_redirect_host_points_the_307_at_another_host(emulator, client):
    emulator.set_fault("redirect_host", host="127.0.0.2")
    first = client.request("PUT", "/api/d/t/_stream_load", b"{}", follow=False)
    assert urlsplit(first.headers["location"]).hostname == "127.0.0.2"
    emulator.clear_faults()
    second = client.request("PUT", "/api/d/t/_stream_load", b"{}", follow=False)
    assert urlsplit(second.headers["location"]).hostname == emulator.host


def test_faults_hit_transaction_loads_and_commits_too(emulator, client):
    label = f"t{uuid.uuid4().hex}"
    assert client.transaction("begin", "d", label, "t").json()["Status"] == "OK"
    emulator.set_fault("http_500", count=1)
    assert client.transaction("load", "d", label, "t", b'{"id":1}', JSON).status_code == 500
    assert client.transaction("load", "d", label, "t", b'{"id":1}', JSON).json()["Status"] == "OK"
    assert client.transaction("prepare", "d", label, "t").json()["Status"] == "OK"
    emulator.set_fault("publish_timeout", count=1)
    committed = client.transaction("commit", "d", label, "t").json()  # the leader commits the PREPARED txn
    assert committed == {
        "Status": "FAILED",
        "Message": "class com.starrocks.common.StarRocksException: publish timeout: 20000",
    }
    assert client.load_state("d", label) == "VISIBLE" and rows(emulator) == 1


def test_too_many_versions_hits_a_transaction_at_prepare(emulator, client):
    label = f"t{uuid.uuid4().hex}"
    client.transaction("begin", "d", label, "t")
    emulator.set_fault("too_many_versions", count=1)
    assert client.transaction("load", "d", label, "t", b'{"id":1}', JSON).json()["Status"] == "OK"
    failed = client.transaction("prepare", "d", label, "t").json()
    assert failed["Status"] == "SERVICE_UNAVAILABLE" and "too many versions" in failed["Message"]
    assert client.load_state("d", label) == "ABORTED"


def test_a_backend_fault_can_target_one_be_of_a_cluster(cluster):
    client = client_for(cluster)
    cluster.set_fault("http_500", count=1, be=2)
    codes = {}
    for i in range(4):  # FEs send loads to the BEs in turn: two land on BE 2, one of them fails
        answer = load(client, f"c{i}")
        codes.setdefault(urlsplit(answer.url).port, []).append(answer.status_code)
    be1, be2 = (be.http_port for be in cluster.backends)
    assert codes[be1] == [200, 200] and sorted(codes[be2]) == [200, 500]


def test_be_down_can_take_one_be_of_a_cluster_down(cluster):
    client = client_for(cluster)
    cluster.set_fault("be_down", seconds=30, be=1)
    outcomes = []
    for i in range(4):  # the FEs still send half of the loads to the BE that went down
        try:
            outcomes.append(load(client, f"d{i}").json()["Status"])
        except ConnectionError:
            outcomes.append("refused")
    assert sorted(outcomes) == ["Success", "Success", "refused", "refused"]
    cluster.clear_faults()
    assert load(client, "d9").json()["Status"] == "Success"


def test_a_fault_that_does_not_act_on_a_be_takes_no_be(emulator):
    with pytest.raises(Exception, match="400"):
        emulator.set_fault("redirect_host", host="127.0.0.2", be=1)


def test_an_unknown_fault_is_refused_and_stats_list_active_faults(emulator):
    with pytest.raises(Exception, match="400"):
        emulator.set_fault("no_such_fault")
    emulator.set_fault("http_500", count=3)
    assert emulator.stats()["faults"]["http_500"]["count"] == 3
    emulator.clear_faults()
    assert emulator.stats()["faults"] == {}
