"""HTTP rules StarRocks enforces that the emulator must enforce too: label format, the FE's header size limit,
and the features that depend on the StarRocks version or the run mode.

Source: fe FeNameFormat.LABEL_REGEX (checked by DatabaseTransactionMgr.beginTransaction), fe Config
`http_max_header_size` with Netty's HttpServerCodec and HttpServerHandler.validateRequest, docs STREAM_LOAD
(compression since 3.2.7), docs Stream_Load_transaction_interface (from 2.4), the shared-data commit check
("too large compaction score"). The label and header tests run against a real StarRocks too; the version and
run-mode tests start emulators of their own.
"""

from __future__ import annotations

import gzip
import http.client
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pymysql
import pytest
import requests

from integration_tests.emulator_setup import DEFAULT_TABLE, created_database, table_client
from starrocks_emulator.http_client import StreamLoadClient
from starrocks_emulator.process import EmulatorProcess

JSON = {"format": "json"}
LABEL_REGEX = r"^[-\w]{1,128}$"


@pytest.fixture
def db(starrocks: Any, fresh_database: str) -> Iterator[str]:
    with created_database(starrocks, fresh_database, DEFAULT_TABLE) as name:
        yield name


def load(client: StreamLoadClient, db: str, label: str, body: bytes = b'{"id":1}', **headers: str) -> dict:
    answer = client.stream_load(db, "t", body, {"label": label, **JSON, **headers})
    assert answer.status_code == 200, answer.text
    return answer.json()


# ---- labels ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["with:colon", "l" * 129, "dot.ted", "ünïcode", "sp ace"])
def test_a_label_outside_the_label_regex_fails_the_load_with_starrocks_words(starrocks, db, bad):
    answer = load(starrocks.http, db, bad)
    assert answer["Status"] == "Fail"
    assert answer["Message"] == f"Label format error. regex: {LABEL_REGEX}, label: {bad}"


@pytest.mark.parametrize("good", ["l" * 128, "A-z_0-9", "-leading-dash"])
def test_labels_inside_the_regex_load(starrocks, db, good):
    label = good if len(good) == 128 else f"{good}{uuid.uuid4().hex[:8]}"
    assert load(starrocks.http, db, label)["Status"] == "Success"


def test_a_transaction_label_outside_the_regex_fails_at_begin(starrocks, db):
    answer = starrocks.http.transaction("begin", db, "bad:label", "t").json()
    assert answer["Status"] != "OK"
    assert answer["Message"].endswith(f"Label format error. regex: {LABEL_REGEX}, label: bad:label")


# ---- the FE's header size limit ---------------------------------------------------------------------------


def fe_put_headers(starrocks: Any, db: str, extra: dict[str, str]) -> tuple[int, str]:
    split = urlsplit(starrocks.http.base)
    auth = requests.auth._basic_auth_str(starrocks.user, starrocks.password)
    conn = http.client.HTTPConnection(split.hostname, split.port, timeout=30)
    conn.putrequest("PUT", f"/api/{db}/t/_stream_load")
    headers = {"Authorization": auth, "Expect": "100-continue", "Content-Length": "8", **JSON, **extra}
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.endheaders()
    answer = conn.getresponse()
    text = answer.read().decode("utf-8", "replace")
    conn.close()
    return answer.status, text


def test_a_header_block_over_32_kib_is_refused_by_the_fe(starrocks, db):
    status, text = fe_put_headers(starrocks, db, {"columns": "a" * 40000})
    assert status == 400
    assert "HTTP header is larger than 32768 bytes." in text


def test_a_header_block_under_32_kib_is_accepted(starrocks, db):
    status, _ = fe_put_headers(starrocks, db, {"x-padding": "a" * 30000})
    assert status == 307


# ---- versions and run modes (emulator only) ----------------------------------------------------------------


def sql(emu: EmulatorProcess, statement: str) -> list:
    with pymysql.connect(host=emu.host, port=emu.query_port, user="root", password="") as conn:
        with conn.cursor() as cur:
            cur.execute(statement)
            return list(cur.fetchall())


@pytest.mark.emulator_only
def test_the_configured_version_is_what_the_query_port_reports():
    with EmulatorProcess(starrocks_version="3.1.11") as emu:
        assert sql(emu, "SELECT current_version()") == [("3.1.11 emulator",)]
        assert sql(emu, "SELECT @@version_comment") == [("StarRocks version 3.1.11-emulator",)]


@pytest.mark.emulator_only
def test_the_default_version_is_a_current_3x(starrocks):
    with starrocks.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT current_version()")
        version = cur.fetchone()[0].split()[0]
    assert tuple(int(p) for p in version.split(".")) >= (3, 3, 0)


@pytest.mark.emulator_only
@pytest.mark.parametrize(("version", "status"), [("3.2.6", "Fail"), ("3.2.7", "Success")])
def test_compressed_json_loads_only_from_3_2_7(version, status):
    with EmulatorProcess(starrocks_version=version) as emu:
        client = table_client(emu)
        body = gzip.compress(b'{"id":1}\n{"id":2}')
        answer = load(client, "d", f"z{uuid.uuid4().hex}", body, compression="gzip")
        assert answer["Status"] == status, answer
        if status == "Fail":  # an older BE reads the compressed bytes as JSON
            assert "JSON" in answer["Message"]


@pytest.mark.emulator_only
def test_the_transaction_interface_is_not_there_before_2_4():
    with EmulatorProcess(starrocks_version="2.3.9") as emu:
        client = table_client(emu)
        assert client.transaction("begin", "d", "l1", "t").status_code == 404
        assert load(client, "d", "plain")["Status"] == "Success"  # Stream Load itself is there


@pytest.mark.emulator_only
def test_shared_data_loads_fail_with_too_large_compaction_score():
    with EmulatorProcess(run_mode="shared_data", tablet_max_versions=2) as emu:
        client = table_client(emu)
        answers = [load(client, "d", f"s{i}") for i in range(3)]
        assert [a["Status"] for a in answers] == ["Success", "Success", "Fail"]
        assert answers[2]["Message"].startswith(
            "Failed to load data into partition t, because of too large compaction score, current/limit: 3/2."
        )
        assert sql(emu, "ADMIN SHOW FRONTEND CONFIG LIKE 'run_mode'")[0][2] == "shared_data"
