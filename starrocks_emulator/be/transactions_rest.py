"""The BE side of the Stream Load transaction interface: what a BE answers on `/api/transaction/{op}`.

be/src/http/action/transaction_stream_load.cpp (`TransactionManagerAction`: begin/prepare/commit/rollback;
`TransactionStreamLoadAction`: load) and be/src/runtime/stream_load/transaction_mgr.cpp. Every answer is
HTTP 200 with `StreamLoadContext::to_resp_json`: `Status` is the TStatusCode name (`OK`, `INTERNAL_ERROR`,
`TXN_NOT_EXISTS`, `LABEL_ALREADY_EXISTS`, `INVALID_ARGUMENT`, `ANALYSIS_ERROR`, `TXN_IN_PROCESSING`, ...),
then `Message`, and on success `Label` plus per operation `TxnId`, `BeginTxnTimeMs` (begin), `LoadBytes`,
`StreamLoadPlanTimeMs`, `ReceivedDataTimeMs` (load), the row counts and timings (prepare, commit); `ErrorURL`
when rows were rejected.
- `begin` is the only operation that reads `Authorization` ("no valid Basic authorization" without it); the
  others use the credentials the transaction began with (`ctx->auth`). A label whose context this BE already
  holds answers `LABEL_ALREADY_EXISTS` with an empty `ExistingJobStatus` and `Message`.
- `load`, `prepare`, `commit`, `rollback` find the transaction in this BE's contexts only: elsewhere
  `TXN_NOT_EXISTS`; `load` checks that `db` and `table` match the transaction's (one transaction is one
  table), unless it carries `transaction_type: multi` (4.0+): then it is the load of one table of a
  multi-table transaction that the FE redirected here (be/multi_table_transactions.py).
Faults of this BE (faults.py): `http_500`, `cut_mid_body`, `slow_be` on `load`; `too_many_versions` at
`prepare`/`commit` (where the fragment's write ends); `commit_then_cut` and `publish_timeout` on `commit`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from starrocks_emulator.be.multi_table_transactions import is_multi_table
from starrocks_emulator.be.transactions import Transaction, TxnError
from starrocks_emulator.version import supports

if TYPE_CHECKING:
    from starrocks_emulator.be.rest import BEHandler

PUBLISH_TIMEOUT_MESSAGE = "Publish timeout. The data will be visible after a while"


def reply(label: str | None, code: str, message: str = "", **fields: Any) -> dict[str, Any]:
    """`to_resp_json(txn_op, st)`: Status, [ExistingJobStatus], Message, and on success Label and `fields`."""
    body: dict[str, Any] = {"Status": code}
    if code == "LABEL_ALREADY_EXISTS":
        body["ExistingJobStatus"] = fields.pop("ExistingJobStatus", "")
    body["Message"] = message
    error_url = fields.pop("ErrorURL", None)
    if code == "OK":
        body["Label"] = label
        body.update(fields)
    if error_url:
        body["ErrorURL"] = error_url
    return body


def handle_be_transaction_op(handler: BEHandler, op: str) -> None:
    emulator, backend = handler.emulator, handler.node.id
    emulator.count(
        f"be_txn_{op}" if op in ("begin", "load", "prepare", "commit", "rollback") else "txn_unknown"
    )
    label = handler.headers.get("label") or ""
    started = time.perf_counter()
    try:
        if op == "load":
            answer = _load(handler, backend, label, started)
            if answer is None:
                return  # a fault cut the connection or the answer was sent already
        else:
            handler.drain_body()
            if not label:
                raise TxnError("INVALID_ARGUMENT", "empty label")
            if op == "begin":
                answer = _begin(handler, backend, label, started)
            elif op in ("prepare", "commit"):
                answer = _finish(handler, backend, label, op == "prepare", started)
                if answer is None:
                    return
            elif op == "rollback":
                txn = _held(handler, backend, label, f"transaction with label {label} not exists")
                with _exclusive(txn):
                    emulator.txns.abort(txn, "transaction is aborted by user.")
                answer = reply(label, "OK")
            else:
                raise TxnError("INVALID_ARGUMENT", f"unsupport transaction operation {op}")
    except TxnError as exc:
        handler.drain_body()
        fields = {"ExistingJobStatus": exc.existing_job_status or "", "ErrorURL": exc.error_url}
        answer = reply(label, exc.code, exc.message, **fields)
    handler.send_json(answer)


def _held(handler: BEHandler, backend: int, label: str, missing: str) -> Transaction:
    db = handler.headers.get("db") or ""
    txn = handler.emulator.txns.held_label(backend, label)
    if txn is None:
        raise TxnError("TXN_NOT_EXISTS", missing)
    if txn.db != db:
        raise TxnError("INVALID_ARGUMENT", f"request db {db} transaction db {txn.db} not match")
    return txn


@contextmanager
def _exclusive(txn: Transaction) -> Iterator[Transaction]:
    """`ctx->try_lock()`: one operation at a time per transaction, else TXN_IN_PROCESSING."""
    if not txn.busy.acquire(blocking=False):
        raise TxnError("TXN_IN_PROCESSING", "Transaction is in processing")
    try:
        yield txn
    finally:
        txn.busy.release()


def _begin(handler: BEHandler, backend: int, label: str, started: float) -> dict[str, Any]:
    headers, txns = handler.headers, handler.emulator.txns
    if txns.held_label(backend, label) is not None:
        raise TxnError("LABEL_ALREADY_EXISTS", "", "")  # transaction_mgr.cpp: LabelAlreadyExists("")
    timeouts = []
    for name in ("timeout", "idle_transaction_timeout"):
        value = headers.get(name)
        if value and not value.strip().isdigit():
            raise TxnError("INVALID_ARGUMENT", "Invalid timeout format")
        timeouts.append(float(value) if value else None)
    credentials = handler.basic_auth()
    if credentials is None:
        raise TxnError("INTERNAL_ERROR", "no valid Basic authorization")
    txn = txns.begin(
        backend,
        headers.get("db") or "",
        headers.get("table") or "",
        label,
        credentials,
        handler.client_ip,
        timeouts[0],
        timeouts[1],
    )
    elapsed = int((time.perf_counter() - started) * 1000)
    return reply(label, "OK", TxnId=txn.txn_id, BeginTxnTimeMs=elapsed)


def _load(handler: BEHandler, backend: int, label: str, started: float) -> dict[str, Any] | None:
    headers, emulator = handler.headers, handler.emulator
    if not label:
        raise TxnError("INVALID_ARGUMENT", f"Invalid label {label}")
    if supports("multi_table_transaction") and is_multi_table(headers):
        return _load_multi_table(handler, backend, label, started)
    txn = emulator.txns.held_label(backend, label)
    if txn is None:
        raise TxnError("TXN_NOT_EXISTS", f"Transaction with label {label} not exists")
    db, table = headers.get("db") or "", headers.get("table") or ""
    if txn.db != db:
        raise TxnError("INVALID_ARGUMENT", f"Request database {db} not equal transaction database {txn.db}")
    if txn.table != table:
        raise TxnError("INVALID_ARGUMENT", f"Request table {table} not equal transaction table {txn.table}")
    _check_format(headers)
    with _exclusive(txn):
        received = _receive(handler, backend, lambda reason: emulator.txns.abort(txn, reason))
        if received is None:
            return None
        body, received_at = received
        emulator.txns.load(txn, headers, body)
    return _loaded(label, txn, body, started, received_at)


def _load_multi_table(handler: BEHandler, backend: int, label: str, started: float) -> dict[str, Any] | None:
    """A load of a multi-table transaction, 307ed here by the FE for its table (be/multi_table_transactions.py)."""
    headers, multi = handler.headers, handler.emulator.txns.multi
    db, table = headers.get("db") or "", headers.get("table") or ""
    txn, part = multi.held_part(backend, db, label, table)
    _check_format(headers)
    with multi.exclusive(txn, "TXN_IN_PROCESSING"):
        received = _receive(handler, backend, lambda reason: multi.abort(txn, reason))
        if received is None:
            return None
        body, received_at = received
        multi.load(txn, part, headers, body)
    return _loaded(label, part, body, started, received_at)


def _check_format(headers: Any) -> None:
    fmt = (headers.get("format") or "csv").strip().lower()
    if fmt not in ("csv", "json", "gzip", "bzip2", "lz4", "deflate", "zstd"):
        raise TxnError("INTERNAL_ERROR", f"unknown data format, format={headers.get('format')}")


def _receive(handler: BEHandler, backend: int, abort: Callable[[str], None]) -> tuple[bytes, float] | None:
    """The body of a load (and when it arrived), through this BE's faults; None when a fault answered."""
    faults = handler.emulator.faults
    if faults.take("http_500", backend) is not None:
        handler.drain_body()
        handler.send_text("Internal Server Error", status=500)
        return None
    if faults.take("cut_mid_body", backend) is not None:
        handler.read_body(limit=max(1, int(handler.headers.get("Content-Length") or 2) // 2))
        abort("connection cut mid-body")
        handler.cut_connection("cut_mid_body")
        return None
    body = handler.read_body()
    received = time.perf_counter()
    if (fault := faults.take("slow_be", backend)) is not None:
        time.sleep(fault.seconds or 1.0)
    return body, received


def _loaded(label: str, txn: Transaction, body: bytes, started: float, received: float) -> dict[str, Any]:
    return reply(
        label,
        "OK",
        TxnId=txn.txn_id,
        LoadBytes=len(body),
        StreamLoadPlanTimeMs=0,
        ReceivedDataTimeMs=int((received - started) * 1000),
    )


def _finish(
    handler: BEHandler, backend: int, label: str, prepare: bool, started: float
) -> dict[str, Any] | None:
    emulator = handler.emulator
    txn = _held(handler, backend, label, f"transaction with label {label} not exists")
    prepared_timeout = None
    if prepare and (value := handler.headers.get("prepared_timeout")):
        if not value.strip().isdigit() or int(value) <= 0:
            raise TxnError("INVALID_ARGUMENT", f"Invalid prepared_timeout: {value}")
        prepared_timeout = float(value)
    faults = emulator.faults
    with _exclusive(txn):
        if faults.take("too_many_versions", backend) is not None:
            message = emulator.engine.too_many_versions_error(txn.db, txn.table).message
            emulator.txns.abort(txn, message)
            raise TxnError("SERVICE_UNAVAILABLE", message)
        try:
            emulator.txns.finish(txn, prepare, prepared_timeout)
        except TxnError as exc:
            if txn.filtered_rows and txn.error_lines:
                exc.error_url = _error_url(handler, txn)
            raise
    if not prepare:
        if faults.take("commit_then_cut", backend) is not None:
            handler.cut_connection("commit_then_cut")
            return None
        if faults.take("publish_timeout", backend) is not None:
            return reply(label, "PUBLISH_TIMEOUT", PUBLISH_TIMEOUT_MESSAGE)
    elapsed = int((time.perf_counter() - started) * 1000)
    fields: dict[str, Any] = {"TxnId": txn.txn_id, **txn.counts(), "LoadTimeMs": elapsed}
    fields.update(StreamLoadPlanTimeMs=0, ReceivedDataTimeMs=0, WriteDataTimeMs=0)
    fields["CommitAndPublishTimeMs"] = 0 if prepare else elapsed
    if txn.filtered_rows and txn.error_lines:
        fields["ErrorURL"] = _error_url(handler, txn)
    return reply(label, "OK", **fields)


def _error_url(handler: BEHandler, txn: Transaction) -> str:
    name = f"error_log_{uuid.uuid4().hex}"
    handler.emulator.error_logs.put(name, txn.error_lines)
    return handler.error_url(name)
