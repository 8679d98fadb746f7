"""Versions, stats, persistence, TLS and the CLI of the emulator (emulator-only: each test starts its own).

StarRocks facts followed: every committed load adds one version to every tablet of the table; a tablet holding
more than `tablet_max_versions` versions refuses loads with "Failed to load data into tablet …, because of too
many versions, current/limit: …/…" (be/src/storage/delta_writer.cpp); compaction merges versions in the background
(https://docs.starrocks.io/docs/administration/management/compaction/); a PREPARED transaction can still be
committed after a restart (https://docs.starrocks.io/docs/loading/Stream_Load_transaction_interface/).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

import pytest
import requests

from integration_tests.emulator_setup import table_client
from starrocks_emulator.http_client import StreamLoadClient
from starrocks_emulator.process import PROJECT_ROOT, EmulatorProcess

pytestmark = pytest.mark.emulator_only

TABLE = "CREATE TABLE `{db}`.`t` (id BIGINT NOT NULL, v VARCHAR(20)) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 4"
JSON = {"format": "json"}


def setup_table(emu: EmulatorProcess) -> StreamLoadClient:
    return table_client(emu, TABLE)


def load(client: StreamLoadClient, body: bytes = b'{"id":1}', label: str | None = None) -> dict:
    response = client.stream_load("d", "t", body, {"label": label or uuid.uuid4().hex, **JSON})
    assert response.status_code == 200, response.text
    return response.json()


def test_stats_count_loads_versions_rows_and_requests_per_table(emulator):
    client = setup_table(emulator)
    for i in range(3):
        assert load(client, f'{{"id":{i}}}\n{{"id":{i + 100}}}'.encode())["Status"] == "Success"
    stats = emulator.stats()
    table = stats["tables"]["d.t"]
    assert table["loads"] == 3 and table["versions_created"] == 3
    assert table["version_count"] == 4 and table["tablets"] == 4 and table["rows"] == 6
    assert table["bytes"] > 0 and len(table["load_commit_times"]) == 3
    assert stats["requests"]["fe_stream_load"] == 3 and stats["requests"]["be_stream_load"] == 3
    assert stats["loads"]["committed"] == 3


def test_loads_fail_with_too_many_versions_past_tablet_max_versions():
    with EmulatorProcess(tablet_max_versions=3) as emu:
        client = setup_table(emu)
        answers = [load(client) for _ in range(4)]
        assert [a["Status"] for a in answers] == ["Success", "Success", "Success", "Fail"]
        assert answers[3]["Message"].startswith("Failed to load data into tablet ")
        assert "because of too many versions, current/limit: 4/3. You can reduce" in answers[3]["Message"]
        assert emu.stats()["tables"]["d.t"]["rows"] == 3


def test_background_compaction_brings_the_version_count_down():
    with EmulatorProcess(compaction_interval_seconds=0.2) as emu:
        client = setup_table(emu)
        for _ in range(3):
            load(client)
        deadline = time.monotonic() + 10
        while emu.stats()["tables"]["d.t"]["version_count"] > 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        table = emu.stats()["tables"]["d.t"]
        assert table["version_count"] == 1 and table["versions_created"] == 3


def test_data_labels_and_versions_survive_a_restart_with_the_same_data_dir(tmp_path):
    with EmulatorProcess(data_dir=str(tmp_path), frontends=2, backends=2) as emu:
        client = setup_table(emu)
        assert load(client, b'{"id":1}\n{"id":2}', label="kept")["Status"] == "Success"
        ports = (emu.query_port, emu.http_port, emu.be_http_port, emu.frontends, emu.backends)
        emu.restart()
        assert (emu.query_port, emu.http_port, emu.be_http_port, emu.frontends, emu.backends) == ports
        assert load(client, label="kept")["Status"] == "Label Already Exists"
        table = emu.stats()["tables"]["d.t"]
        assert table["rows"] == 2 and table["version_count"] == 2
        assert client.load_state("d", "kept") == "VISIBLE"


def test_a_prepared_transaction_can_be_committed_after_a_restart(tmp_path):
    with EmulatorProcess(data_dir=str(tmp_path)) as emu:
        client = setup_table(emu)
        for op, body in (("begin", None), ("load", b'{"id":5}'), ("prepare", None)):
            assert client.transaction(op, "d", "pre", "t", body, JSON).json()["Status"] == "OK"
        emu.restart()
        assert client.load_state("d", "pre") == "PREPARED"
        assert client.transaction("commit", "d", "pre", "t").json()["Status"] == "OK"
        assert emu.stats()["tables"]["d.t"]["rows"] == 1


def test_tls_serves_https_on_fes_and_the_307_still_names_a_plain_http_be(tmp_path):
    """fe RestBaseAction.redirectTo builds an `http` URI whatever the request came in on: the BE hop of a
    Stream Load is plain HTTP; each BE also has an HTTPS port for clients that load into BEs directly."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_path, key_path, ca_path = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    ca.cert_pem.write_to_path(str(ca_path))
    with EmulatorProcess(tls_cert=str(cert_path), tls_key=str(key_path), backends=2) as emu:
        client = setup_table(emu)
        client.verify = str(ca_path)
        answer = client.stream_load("d", "t", b'{"id":1}', {"label": "over_tls", **JSON})
        assert answer.json()["Status"] == "Success"
        assert answer.url.startswith("http://") and client.base.startswith("https://")
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"http://{emu.host}:{emu.http_port}/api/health", timeout=10)  # FEs speak TLS only
        be = emu.backends[1]
        direct = StreamLoadClient(emu.host, be.https_port, "root", "", "https", str(ca_path))
        assert load(direct, label="be_over_tls")["Status"] == "Success"
        assert emu.stats()["requests"]["be_stream_load"] == 2


def test_cli_switches_a_fault_on_and_prints_stats(emulator):
    client = setup_table(emulator)
    command = [sys.executable, "-m", "starrocks_emulator"]
    subprocess.run(
        [*command, "fault", "--http-port", str(emulator.http_port), "http_500", "--count", "1"],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
        timeout=30,
    )
    assert client.stream_load("d", "t", b'{"id":1}', JSON).status_code == 500
    assert load(client)["Status"] == "Success"
    stats = subprocess.run(
        [*command, "stats", "--http-port", str(emulator.http_port)],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert json.loads(stats.stdout)["tables"]["d.t"]["loads"] == 1
