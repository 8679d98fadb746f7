"""StarRocks' answers mapped to outcomes, for plain and transaction Stream Loads, with a scripted transport:
slow-down answers wait without using up retries, the FE's refusals and lost credentials say what to fix,
a failed commit is checked against the label's state, rows rejected at prepare are a data error."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from destination_starrocks import stream_load, transaction_load
from destination_starrocks.errors import ConfigError, LoadFailedError, TransientError
from destination_starrocks.http_transport import Endpoint, HopError, HttpAnswer
from destination_starrocks.spec import StarRocksConfig
from destination_starrocks.stream_load import LoadRequest, StreamLoader
from destination_starrocks.transaction_load import TransactionLoader

FE = "http://fe:8030"
BE = "http://be:8040"
ERROR_URL = f"{BE}/api/_load_error_log?file=error_log_1"


def answer(payload: dict | str, status: int = 200, origin: str = BE) -> HttpAnswer:
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return HttpAnswer(status, {}, body.encode(), f"{origin}/api/x")


@dataclass
class ScriptedTransport:
    """Answers (method, path-suffix) from queues; records every call. A get_load_state answers `states`."""

    script: dict[str, list[HttpAnswer | BaseException]] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def request(self, method, endpoint, path, headers=None, body=b"", timeout=60.0, credentials=True):  # noqa: ANN001
        op = path.split("?")[0].rsplit("/", 1)[-1]
        self.calls.append(op)
        if op == "get_load_state":
            label = path.split("label=")[-1]
            return answer({"state": self.states.get(label, "UNKNOWN"), "status": "OK"}, origin=FE)
        queue = self.script.get(op)
        if not queue:
            return answer({"Status": "OK", "Message": ""})
        item = queue.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    def get_url(self, url, timeout=30.0, credentials=True):  # noqa: ANN001
        self.calls.append(f"error_log credentials={credentials}")
        return answer("row 3: 'abc' is not a valid BIGINT\nrow 9: 'x' is not a valid DATE")


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(stream_load.time, "sleep", slept.append)
    monkeypatch.setattr(transaction_load.time, "sleep", slept.append)
    return slept


def loader_with(transport: ScriptedTransport, **settings) -> StreamLoader:
    loader = StreamLoader(StarRocksConfig(host="fe", password="secret-pw", max_retries=2, **settings))
    loader.transport = transport  # type: ignore[assignment]
    return loader


def request(label: str = "lbl") -> LoadRequest:
    return LoadRequest("db", "t", label, b'[{"id":1}]', 1)


def fail(message: str, **extra) -> HttpAnswer:
    return answer({"Status": "Fail", "Message": message, **extra})


SUCCESS = answer({"Status": "Success", "Message": "OK", "NumberLoadedRows": 1})
SLOW_DOWN = [
    "Too many versions. tablet_id: 10012, version_count: 1001, limit: 1000",
    "Failed to load data into tablet 10012, because of too many versions, current/limit: 1001/1000. You can "
    "reduce the loading job concurrency, or increase loading data batch size.",
    "Failed to load data into partition p1, because of too large compaction score, current/limit: 101/100.",
]


# ---- plain Stream Load ---------------------------------------------------------------------------------


@pytest.mark.parametrize("message", SLOW_DOWN, ids=["old wording", "new wording", "shared-data"])
def test_slow_down_answers_wait_for_compaction_without_using_up_the_retries(message, no_sleep):
    # Six slow-downs with max_retries 2: a retry budget would be long gone; the load still commits.
    transport = ScriptedTransport({"_stream_load": [fail(message)] * 6 + [SUCCESS]})
    result = loader_with(transport).load(request())
    assert result.status == "Success" and result.attempts == 1
    assert transport.calls.count("_stream_load") == 7
    assert no_sleep == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0]  # the compaction wait, not the short backoff


def test_slow_down_for_longer_than_the_compaction_wait_fails_as_transient_naming_it():
    transport = ScriptedTransport({"_stream_load": [fail(SLOW_DOWN[2])] * 100})
    with pytest.raises(TransientError, match="compaction"):
        loader_with(transport).load(request())


def test_an_fe_refusal_before_the_redirect_is_understood_and_retried():
    # fe `LoadAction`: a DdlException is answered as HTTP 200 with the result's status FAILED.
    refusal = answer(
        {"status": "FAILED", "msg": "class com.starrocks.common.DdlException: No backend alive."}, origin=FE
    )
    transport = ScriptedTransport({"_stream_load": [refusal, SUCCESS]})
    assert loader_with(transport).load(request()).status == "Success"
    transport = ScriptedTransport({"_stream_load": [refusal] * 3})
    with pytest.raises(
        TransientError, match=r"FE at http://fe:8030 refused the Stream Load: .*No backend alive"
    ):
        loader_with(transport).load(request())


def test_an_fe_missing_the_expect_header_is_a_config_error_about_a_proxy():
    refusal = answer(
        {
            "Status": "FAILED",
            "Message": "class com.starrocks.common.DdlException: There is no 100-continue header",
        },
        origin=FE,
    )
    with pytest.raises(ConfigError, match="proxy"):
        loader_with(ScriptedTransport({"_stream_load": [refusal]})).load(request())


def test_an_fe_401_for_a_missing_insert_privilege_names_the_grant():
    denied = answer(
        {
            "status": "FAILED",
            "code": "1",
            "msg": "Access denied; you need (at least one of) the INSERT privilege(s) on TABLE t for this operation.",
        },
        status=401,
        origin=FE,
    )
    with pytest.raises(
        ConfigError, match=r"INSERT privilege.*GRANT INSERT ON ALL TABLES IN DATABASE"
    ) as raised:
        loader_with(ScriptedTransport({"_stream_load": [denied]})).load(request())
    assert raised.value.failure_type == "config_error"


def test_an_fe_401_for_a_wrong_password_says_check_the_credentials():
    denied = answer(
        {"status": "FAILED", "code": "1", "msg": "Access denied for loader@10.0.0.9"}, status=401, origin=FE
    )
    with pytest.raises(ConfigError, match="Check the username and password") as raised:
        loader_with(ScriptedTransport({"_stream_load": [denied]})).load(request())
    assert "secret-pw" not in str(raised.value)


def test_a_be_without_credentials_means_a_hop_dropped_them():
    dropped = fail("no valid Basic authorization")
    with pytest.raises(ConfigError, match=r"http://be:8040 received .* without credentials.*proxy"):
        loader_with(ScriptedTransport({"_stream_load": [dropped]})).load(request())


def test_filtered_rows_fail_as_a_data_error_quoting_the_error_log():
    rejected = fail("too many filtered rows", NumberFilteredRows=2, ErrorURL=ERROR_URL)
    transport = ScriptedTransport({"_stream_load": [rejected]})
    with pytest.raises(
        LoadFailedError, match=r"rejected 2 row\(s\).*row 3: 'abc' is not a valid BIGINT"
    ) as raised:
        loader_with(transport).load(request())
    assert raised.value.failure_type == "system_error"
    assert "error_log credentials=False" in transport.calls


def test_a_lost_answer_after_the_body_is_settled_by_the_label_state():
    lost = HopError("be:8040", ConnectionResetError("reset"), body_sent=True)
    transport = ScriptedTransport({"_stream_load": [lost]}, states={"lbl": "VISIBLE"})
    result = loader_with(transport).load(request())
    assert result.status == "VISIBLE" and transport.calls == ["_stream_load", "get_load_state"]


# ---- the transaction interface -------------------------------------------------------------------------


def send(transport: ScriptedTransport, label: str = "txn", **settings):  # noqa: ANN201
    transactions = TransactionLoader(loader_with(transport, transaction_stream_load="always", **settings))
    return transactions.send(request(label), commit=True)


def test_a_commit_answered_with_an_error_is_committed_when_the_label_says_visible():
    # Flink SDK: "always check the label state" after a non-OK commit; COMMITTED/VISIBLE means committed.
    transport = ScriptedTransport(
        {
            "commit": [
                answer({"Status": "FAILED", "Message": "class UserException: leader changed"}, origin=FE)
            ]
        },
        states={"txn": "VISIBLE"},
    )
    result = send(transport)
    assert result is not None and result.status == "VISIBLE"
    assert transport.calls == [
        "begin",
        "load",
        "prepare",
        "commit",
        "get_load_state",
    ]  # no rollback, no retry


def test_a_commit_whose_answer_is_lost_while_still_prepared_is_sent_again():
    lost = HopError("fe:8030", ConnectionResetError("reset"), body_sent=False)
    transport = ScriptedTransport({"commit": [lost]}, states={"txn": "PREPARED"})
    result = send(transport)
    assert result is not None and result.status == "Success" and result.attempts == 2
    assert transport.calls == ["begin", "load", "prepare", "commit", "get_load_state", "commit"]


def test_a_commit_refused_for_compaction_waits_without_using_up_the_retries(no_sleep):
    slow = answer({"Status": "FAILED", "Message": SLOW_DOWN[2]}, origin=FE)
    transport = ScriptedTransport({"commit": [slow] * 5}, states={"txn": "PREPARED"})
    result = send(transport)
    assert result is not None and result.status == "Success" and transport.calls.count("commit") == 6
    assert no_sleep == [2.0, 4.0, 8.0, 16.0, 32.0]


def test_a_commit_that_failed_for_good_is_rolled_back_and_transient():
    refused = answer(
        {"Status": "FAILED", "Message": "class DdlException: Can not commit ABORTED transaction"}, origin=FE
    )
    transport = ScriptedTransport({"commit": [refused]}, states={"txn": "ABORTED"})
    with pytest.raises(TransientError, match="label state ABORTED"):
        send(transport)
    assert transport.calls[-1] == "rollback"


def test_a_publish_timeout_at_commit_is_committed():
    timeout = answer(
        {"Status": "FAILED", "Message": "class UserException: publish timeout: 20000"}, origin=FE
    )
    result = send(ScriptedTransport({"commit": [timeout]}))
    assert result is not None and result.status == "Publish Timeout"


def test_rows_rejected_at_prepare_fail_as_a_data_error_naming_the_rows():
    # be `to_resp_json`: a failed op carries Status (the TStatusCode name), Message and ErrorURL, no counts.
    rejected = answer(
        {"Status": "INTERNAL_ERROR", "Message": "too many filtered rows", "ErrorURL": ERROR_URL}
    )
    transport = ScriptedTransport({"prepare": [rejected]})
    with pytest.raises(LoadFailedError, match=r"too many filtered rows.*row 3: 'abc' is not a valid BIGINT"):
        send(transport)
    assert transport.calls[-1] == "rollback" and "commit" not in transport.calls


def test_a_prepare_whose_answer_is_lost_goes_on_when_the_label_is_prepared():
    lost = HopError("be:8040", TimeoutError("timed out"), body_sent=False)
    transport = ScriptedTransport({"prepare": [lost]}, states={"txn": "PREPARED"})
    result = send(transport)
    assert result is not None and result.status == "Success"


def test_a_transaction_hop_without_credentials_is_a_config_error():
    dropped = answer({"Status": "INTERNAL_ERROR", "Message": "no valid Basic authorization"})
    with pytest.raises(ConfigError, match="without credentials"):
        send(ScriptedTransport({"begin": [dropped]}))


def test_endpoint_text_never_carries_a_path():
    assert str(Endpoint.parse("https://be:8443/", "http")) == "be:8443"


def test_a_transaction_aborted_for_version_pressure_at_prepare_is_sent_again_whole(no_sleep):
    # The BE aborts a transaction whose write hits version pressure (SERVICE_UNAVAILABLE at prepare); when
    # this request holds the whole transaction, the same label (ABORTED, so free again) is loaded again.
    slow = answer({"Status": "SERVICE_UNAVAILABLE", "Message": SLOW_DOWN[1]})
    transport = ScriptedTransport({"prepare": [slow, slow]}, states={"txn": "ABORTED"})
    result = send(transport)
    assert result is not None and result.status == "Success"
    assert transport.calls.count("begin") == 3 and transport.calls.count("commit") == 1
    assert no_sleep == [2.0, 4.0]


def test_a_transaction_with_earlier_chunks_aborted_for_version_pressure_fails_as_transient():
    slow = answer({"Status": "SERVICE_UNAVAILABLE", "Message": SLOW_DOWN[1]})
    transport = ScriptedTransport({"prepare": [slow]}, states={"txn": "ABORTED"})
    transactions = TransactionLoader(loader_with(transport, transaction_stream_load="always"))
    assert transactions.send(request("txn"), commit=False) is None  # an earlier chunk, gone from memory
    with pytest.raises(TransientError, match="compaction catches up.*earlier chunks cannot be sent again"):
        transactions.send(request("txn"), commit=True)
    assert transport.calls.count("begin") == 1 and transport.calls[-1] == "rollback"


def test_a_be_commit_answering_publish_timeout_is_committed():
    timeout = answer(
        {"Status": "PUBLISH_TIMEOUT", "Message": "Publish timeout. The data will be visible after a while"}
    )
    result = send(ScriptedTransport({"commit": [timeout]}))
    assert result is not None and result.status == "Publish Timeout"
