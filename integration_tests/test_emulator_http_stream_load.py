"""Stream Load over HTTP, as StarRocks documents and implements it; runs against a real StarRocks too
(STARROCKS_HOST).

Docs: https://docs.starrocks.io/docs/sql-reference/sql-statements/loading_unloading/STREAM_LOAD/ (headers,
return value), https://docs.starrocks.io/docs/loading/StreamLoad/ (FE 307 to BE, --location-trusted),
https://docs.starrocks.io/docs/loading/load_concept/strict_mode/ (unqualified rows),
https://docs.starrocks.io/docs/loading/Load_to_Primary_Key_tables/ (__op, merge_condition, partial updates).
Source: fe LoadAction / RestBaseAction (401s, `Expect`, the 307), be stream_load.cpp (BE answers).
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import lz4.frame
import pymysql.cursors
import pytest
import requests

from starrocks_emulator.http_client import StreamLoadClient

JSON = {"format": "json"}
JSON_ARRAY = {"format": "json", "strip_outer_array": "true"}
DUP_TABLE = (
    "CREATE TABLE `{db}`.`{table}` (id BIGINT NOT NULL, name VARCHAR(10), score INT) "
    "DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 3"
)
PK_TABLE = (
    "CREATE TABLE `{db}`.`{table}` (id BIGINT NOT NULL, name VARCHAR(10), score INT, cursor_at BIGINT) "
    "PRIMARY KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 2"
)


def label() -> str:
    return f"lbl_{uuid.uuid4().hex}"


@pytest.fixture
def db(starrocks: Any, fresh_database: str) -> Iterator[str]:
    with starrocks.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{fresh_database}`")
    yield fresh_database
    with starrocks.connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{fresh_database}`")


def create(starrocks: Any, db: str, ddl: str, table: str = "t") -> str:
    with starrocks.connect() as conn, conn.cursor() as cur:
        cur.execute(ddl.format(db=db, table=table))
    return table


def rows(starrocks: Any, db: str, table: str = "t") -> list[tuple]:
    with starrocks.connect(db) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT * FROM `{table}` ORDER BY id")
        return [tuple(r) for r in cur.fetchall()]


def version_count(starrocks: Any, db: str, table: str = "t") -> int:
    """Max VersionCount over the table's tablets (SHOW TABLET FROM db.tbl)."""
    with starrocks.connect(db, cursorclass=pymysql.cursors.DictCursor) as conn, conn.cursor() as cur:
        cur.execute(f"SHOW TABLET FROM `{db}`.`{table}`")
        return max(int(r["VersionCount"]) for r in cur.fetchall())


def load(starrocks: Any, db: str, body: bytes | Any, table: str = "t", **headers: str) -> dict:
    response = starrocks.http.stream_load(db, table, body, headers)
    assert response.status_code == 200, response.text
    return response.json()


def basic(user: str, password: str) -> str:
    return requests.auth._basic_auth_str(user, password)


def fe_answer_before_body(starrocks: Any, db: str, headers: dict[str, str]) -> http.client.HTTPResponse:
    """PUT a Stream Load's headers with `Expect: 100-continue` and read the FE's answer without any body."""
    split = urlsplit(starrocks.http.base)
    fe = http.client.HTTPConnection(split.hostname, split.port, timeout=30)
    fe.putrequest("PUT", f"/api/{db}/t/_stream_load")
    for name, value in {"Expect": "100-continue", "Content-Length": "8", **headers}.items():
        fe.putheader(name, value)
    fe.endheaders()
    answer = fe.getresponse()
    answer.read()
    fe.close()
    return answer


def test_stream_load_through_fe_with_label_loads_rows_and_adds_exactly_one_version(starrocks, db):
    create(starrocks, db, DUP_TABLE)
    before = version_count(starrocks, db)
    lbl = label()
    answer = load(
        starrocks, db, b'{"id":1,"name":"a","score":10}\n{"id":2,"name":"b","score":20}', label=lbl, **JSON
    )
    assert answer["Status"] == "Success" and answer["Label"] == lbl
    assert (
        answer["NumberTotalRows"] == 2
        and answer["NumberLoadedRows"] == 2
        and answer["NumberFilteredRows"] == 0
    )
    for field in (
        "TxnId",
        "Message",
        "NumberUnselectedRows",
        "LoadBytes",
        "LoadTimeMs",
        "BeginTxnTimeMs",
        "StreamLoadPlanTimeMs",
        "ReadDataTimeMs",
        "WriteDataTimeMs",
        "CommitAndPublishTimeMs",
    ):
        assert field in answer
    assert rows(starrocks, db) == [(1, "a", 10), (2, "b", 20)]
    assert version_count(starrocks, db) == before + 1


def test_same_label_again_answers_label_already_exists_finished_and_loads_nothing(starrocks, db):
    create(starrocks, db, DUP_TABLE)
    lbl = label()
    assert load(starrocks, db, b'{"id":1}', label=lbl, **JSON)["Status"] == "Success"
    versions = version_count(starrocks, db)
    again = load(starrocks, db, b'{"id":2}', label=lbl, **JSON)
    assert again["Status"] == "Label Already Exists"
    assert again["ExistingJobStatus"] == "FINISHED"
    assert again["Message"] == f"Label [{lbl}] has already been used."  # fe LabelAlreadyUsedException
    assert rows(starrocks, db) == [(1, None, None)]
    assert version_count(starrocks, db) == versions


def test_a_failed_label_can_be_used_again(starrocks, db):
    create(starrocks, db, DUP_TABLE)
    lbl = label()
    failed = load(starrocks, db, b'{"name":"no id"}', label=lbl, **JSON)
    assert failed["Status"] == "Fail"
    assert load(starrocks, db, b'{"id":7}', label=lbl, **JSON)["Status"] == "Success"
    assert rows(starrocks, db) == [(7, None, None)]


def test_fe_answers_307_to_an_http_be_with_the_same_path_before_the_body(starrocks, db):
    create(starrocks, db, DUP_TABLE)
    answer = fe_answer_before_body(
        starrocks, db, {"Authorization": basic(starrocks.user, starrocks.password), **JSON}
    )
    assert answer.status == 307
    location = urlsplit(answer.getheader("Location"))
    assert location.scheme == "http" and location.path == f"/api/{db}/t/_stream_load"
    if starrocks.emulator is not None:
        assert location.port in [be.http_port for be in starrocks.emulator.backends]


def test_stream_load_without_credentials_is_refused_by_the_fe_with_401(starrocks, db):
    create(starrocks, db, DUP_TABLE)
    answer = fe_answer_before_body(starrocks, db, JSON)
    assert answer.status == 401
    assert answer.getheader("WWW-Authenticate") == 'Basic realm=""'


def test_a_wrong_password_is_refused_by_the_fe_with_401_and_rest_base_result(starrocks, db):
    create(starrocks, db, DUP_TABLE)
    response = requests.put(
        f"{starrocks.http.base}/api/{db}/t/_stream_load",
        data=b'{"id":1}',
        headers={"Expect": "100-continue", **JSON},
        auth=(starrocks.user, starrocks.password + "-wrong"),
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 401
    body = response.json()
    assert body["status"] == "FAILED" and body["code"] == "1"
    assert body["msg"].startswith(f"Access denied for {starrocks.user}@") and body["message"] == body["msg"]


def test_stream_load_without_expect_100_continue_is_refused_by_the_fe(starrocks, db):
    """fe LoadAction: HTTP/1.1 without `Expect: 100-continue` -> DdlException, answered with HTTP 200."""
    create(starrocks, db, DUP_TABLE)
    response = requests.put(
        f"{starrocks.http.base}/api/{db}/t/_stream_load",
        data=b'{"id":1}',
        headers={"label": label(), **JSON},
        auth=(starrocks.user, starrocks.password),
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 200
    assert response.json() == {
        "Status": "FAILED",
        "Message": "class com.starrocks.common.DdlException: There is no 100-continue header",
    }
    assert rows(starrocks, db) == []


def test_be_refuses_a_redirected_load_whose_credentials_were_dropped(starrocks, db):
    """What a client that drops Authorization on the redirect (requests does) gets from the BE."""
    create(starrocks, db, DUP_TABLE)
    answer = fe_answer_before_body(
        starrocks, db, {"Authorization": basic(starrocks.user, starrocks.password), **JSON}
    )
    response = requests.put(
        answer.getheader("Location"), data=b'{"id":1}', headers={"label": label(), **JSON}, timeout=30
    )
    assert response.status_code == 200
    result = response.json()
    assert result["Status"] == "Fail" and result["Message"] == "no valid Basic authorization"
    assert rows(starrocks, db) == []


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed on this machine")
def test_plain_curl_location_trusted_stream_load_succeeds(starrocks, db, tmp_path):
    create(starrocks, db, DUP_TABLE)
    data = tmp_path / "rows.csv"
    data.write_text("1,curl,5\n2,curl,6\n")
    result = subprocess.run(
        [
            "curl",
            "-sS",
            "--location-trusted",
            "-u",
            f"{starrocks.user}:{starrocks.password}",
            "-H",
            f"label:{label()}",
            "-H",
            "column_separator:,",
            "-H",
            "Expect:100-continue",
            "-T",
            str(data),
            "-XPUT",
            f"{starrocks.http.base}/api/{db}/t/_stream_load",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert '"Status": "Success"' in result.stdout or '"Status":"Success"' in result.stdout
    assert rows(starrocks, db) == [(1, "curl", 5), (2, "curl", 6)]


def test_expect_100_continue_gets_307_from_fe_and_100_continue_from_be(starrocks, db):
    create(starrocks, db, DUP_TABLE)
    split = urlsplit(starrocks.http.base)
    auth = requests.auth._basic_auth_str(starrocks.user, starrocks.password)
    headers = {
        "Authorization": auth,
        "Expect": "100-continue",
        "Content-Length": "8",
        "format": "json",
        "label": label(),
    }
    fe = http.client.HTTPConnection(split.hostname, split.port, timeout=30)
    fe.putrequest("PUT", f"/api/{db}/t/_stream_load")
    for name, value in headers.items():
        fe.putheader(name, value)
    fe.endheaders()
    answer = fe.getresponse()  # no body sent: the FE must answer without waiting for it, and never with 100
    assert answer.status == 307
    be = urlsplit(answer.getheader("Location"))
    fe.close()
    sock = http.client.HTTPConnection(be.hostname, be.port, timeout=30)
    sock.putrequest("PUT", be.path)
    for name, value in headers.items():
        sock.putheader(name, value)
    sock.endheaders()
    interim = sock.sock.recv(64)
    assert interim.startswith(b"HTTP/1.1 100")
    sock.send(b'{"id":9}')
    final = sock.getresponse()
    assert final.status == 200
    assert b"Success" in final.read()
    assert rows(starrocks, db) == [(9, None, None)]


def test_chunked_transfer_encoding_body_is_loaded(starrocks, db):
    create(starrocks, db, DUP_TABLE)

    class Chunks:  # re-iterable without a length: sent chunked, after the FE's 307 to the BE
        def __iter__(self):
            return (f'{{"id":{i}}}\n'.encode() for i in range(5))

    answer = load(starrocks, db, Chunks(), label=label(), **JSON)
    assert answer["Status"] == "Success" and answer["NumberLoadedRows"] == 5


def test_csv_uses_column_separator_and_backslash_n_is_null(starrocks, db):
    create(starrocks, db, DUP_TABLE)
    answer = load(starrocks, db, b"1|x|\\N\n2||3\n", label=label(), column_separator="|")
    assert answer["Status"] == "Success"
    assert rows(starrocks, db) == [(1, "x", None), (2, "", 3)]


def test_json_array_needs_strip_outer_array(starrocks, db):
    create(starrocks, db, DUP_TABLE)
    assert load(starrocks, db, b'[{"id":1},{"id":2}]', label=label(), **JSON)["Status"] == "Fail"
    answer = load(starrocks, db, b'[{"id":1},{"id":2}]', label=label(), **JSON_ARRAY)
    assert answer["Status"] == "Success" and answer["NumberLoadedRows"] == 2


def test_jsonpaths_with_columns_map_keys_to_columns(starrocks, db):
    create(starrocks, db, DUP_TABLE)
    answer = load(
        starrocks,
        db,
        b'{"k":3,"n":"mapped"}',
        label=label(),
        jsonpaths='["$.k","$.n"]',
        columns="id,name",
        **JSON,
    )
    assert answer["Status"] == "Success"
    assert rows(starrocks, db) == [(3, "mapped", None)]


def test_unqualified_rows_fail_the_load_with_too_many_filtered_rows_and_an_error_url(starrocks, db):
    create(starrocks, db, DUP_TABLE)
    lbl = label()
    answer = load(starrocks, db, b'{"id":1}\n{"id":null}\n{"id":3}', label=lbl, **JSON)
    assert answer["Status"] == "Fail"
    assert "too many filtered rows" in answer["Message"]
    assert answer["NumberFilteredRows"] == 1 and answer["NumberTotalRows"] == 3
    error_log = requests.get(answer["ErrorURL"], timeout=30)
    assert error_log.status_code == 200 and error_log.text.strip()
    assert rows(starrocks, db) == []
    assert starrocks.http.load_state(db, lbl) in ("ABORTED", "UNKNOWN")


def test_max_filter_ratio_lets_a_load_with_few_bad_rows_succeed(starrocks, db):
    create(starrocks, db, DUP_TABLE)
    answer = load(
        starrocks,
        db,
        b'{"id":1}\n{"id":null}\n{"id":3}\n{"id":4}',
        label=label(),
        max_filter_ratio="0.5",
        **JSON,
    )
    assert answer["Status"] == "Success"
    assert answer["NumberLoadedRows"] == 3 and answer["NumberFilteredRows"] == 1 and "ErrorURL" in answer
    assert [r[0] for r in rows(starrocks, db)] == [1, 3, 4]


def test_strict_mode_filters_unconvertible_values_that_non_strict_mode_loads_as_null(starrocks, db):
    create(starrocks, db, DUP_TABLE)
    body = b'{"id":1,"score":"abc"}\n{"id":2,"score":5}'
    strict = load(starrocks, db, body, label=label(), strict_mode="true", max_filter_ratio="1", **JSON)
    assert strict["Status"] == "Success" and strict["NumberFilteredRows"] == 1
    assert rows(starrocks, db) == [(2, None, 5)]
    lax = load(starrocks, db, body, label=label(), **JSON)
    assert lax["Status"] == "Success" and lax["NumberFilteredRows"] == 0
    assert rows(starrocks, db) == [(1, None, None), (2, None, 5), (2, None, 5)]


def test_primary_key_table_upserts_and_op_1_deletes(starrocks, db):
    create(starrocks, db, PK_TABLE)
    load(starrocks, db, b'{"id":1,"name":"a"}\n{"id":2,"name":"b"}', label=label(), **JSON)
    answer = load(
        starrocks,
        db,
        b'{"id":1,"name":"a2","__op":0}\n{"id":2,"__op":1}',
        label=label(),
        columns="id,name,__op",
        **JSON,
    )
    assert answer["Status"] == "Success"
    assert rows(starrocks, db) == [(1, "a2", None, None)]


def test_merge_condition_keeps_the_stored_row_when_the_new_value_is_smaller(starrocks, db):
    create(starrocks, db, PK_TABLE)
    load(starrocks, db, b'{"id":1,"name":"new","cursor_at":10}', label=label(), **JSON)
    load(
        starrocks,
        db,
        b'{"id":1,"name":"old","cursor_at":5}\n{"id":2,"name":"x","cursor_at":1}',
        label=label(),
        merge_condition="cursor_at",
        **JSON,
    )
    assert rows(starrocks, db) == [(1, "new", None, 10), (2, "x", None, 1)]
    load(
        starrocks,
        db,
        b'{"id":1,"name":"newer","cursor_at":10}',
        label=label(),
        merge_condition="cursor_at",
        **JSON,
    )
    assert rows(starrocks, db)[0] == (1, "newer", None, 10)


def test_partial_update_changes_only_the_loaded_columns(starrocks, db):
    create(starrocks, db, PK_TABLE)
    load(starrocks, db, b'{"id":1,"name":"keep","score":1,"cursor_at":1}', label=label(), **JSON)
    answer = load(
        starrocks,
        db,
        b'{"id":1,"score":99}',
        label=label(),
        partial_update="true",
        columns="id,score",
        **JSON,
    )
    assert answer["Status"] == "Success"
    assert rows(starrocks, db) == [(1, "keep", 99, 1)]


@pytest.mark.parametrize("compression,encode", [("gzip", gzip.compress), ("lz4_frame", lz4.frame.compress)])
def test_compressed_json_body_is_loaded(starrocks, db, compression, encode):
    create(starrocks, db, DUP_TABLE)
    answer = load(
        starrocks, db, encode(b'{"id":1}\n{"id":2}'), label=label(), compression=compression, **JSON
    )
    assert answer["Status"] == "Success" and answer["NumberLoadedRows"] == 2


def test_get_load_state_answers_visible_for_a_loaded_label_and_unknown_for_another(starrocks, db):
    create(starrocks, db, DUP_TABLE)
    lbl = label()
    load(starrocks, db, b'{"id":1}', label=lbl, **JSON)
    assert starrocks.http.load_state(db, lbl) == "VISIBLE"
    assert starrocks.http.load_state(db, label()) == "UNKNOWN"
    answer = starrocks.http.request("GET", f"/api/{db}/get_load_state?label={lbl}").json()
    assert answer == {"state": "VISIBLE", "status": "OK", "code": "0", "msg": "Success", "message": "OK"}


def test_every_load_is_a_row_of_information_schema_loads(starrocks, db):
    create(starrocks, db, DUP_TABLE)
    lbl = label()
    load(starrocks, db, b'{"id":1}\n{"id":2}', label=lbl, **JSON)
    with starrocks.connect(cursorclass=pymysql.cursors.DictCursor) as conn, conn.cursor() as cur:
        cur.execute("SELECT * FROM information_schema.loads WHERE LABEL = %s", (lbl,))
        found = cur.fetchall()
    assert len(found) == 1
    assert found[0]["STATE"] == "FINISHED" and int(found[0]["SINK_ROWS"]) == 2


def test_a_load_into_an_unknown_table_fails(starrocks, db):
    answer = load(starrocks, db, b'{"id":1}', table="missing", label=label(), **JSON)
    assert answer["Status"] == "Fail"


def test_a_user_without_insert_privilege_cannot_load(starrocks, db):
    create(starrocks, db, DUP_TABLE)
    user, password = f"ro_{uuid.uuid4().hex[:8]}", "ro_pw_1"
    with starrocks.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
        cur.execute(f"GRANT SELECT ON TABLE `{db}`.`t` TO USER '{user}'@'%'")
    try:
        reader = StreamLoadClient(
            urlsplit(starrocks.http.base).hostname, urlsplit(starrocks.http.base).port, user, password
        )
        response = reader.stream_load(db, "t", b'{"id":1}', {"label": label(), **JSON})
        # fe LoadAction checks INSERT before the redirect: an AccessDeniedException is a 401
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Basic realm=""'
        message = response.json()["message"]
        assert message.startswith(
            "Access denied; you need (at least one of) the INSERT privilege(s) on TABLE"
        )
        assert rows(starrocks, db) == []
    finally:
        with starrocks.connect() as conn, conn.cursor() as cur, contextlib.suppress(pymysql.err.MySQLError):
            cur.execute(
                f"DROP USER '{user}'@'%'"
            )  # the emulator keeps users (no DROP USER): names are unique
