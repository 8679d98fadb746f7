"""The FE side of the Stream Load transaction interface: fe `TransactionLoadAction` and
`TransactionWithoutChannelHandler` (POST or PUT `/api/transaction/{begin,load,prepare,commit,rollback}`).

After this FE authenticated the request (fe/rest.py):
1. a follower 307s it to the leader (`redirectToLeader`), credentials must be sent again there;
2. the leader checks the headers: `db` ("No database selected."), `label` ("Empty label."), the operation
   ("Unknown transaction operation: X");
3. `commit` and `rollback` of a transaction the FE owns are answered here: commit of a PREPARED one commits it
   (`commitPreparedTransaction`), of a COMMITTED/VISIBLE one answers OK "Transaction N has already committed,
   label is L", of an ABORTED one fails; rollback of a PREPARED one aborts it, of an ABORTED one answers OK
   "Transaction N has already aborted, label is L", of a committed one fails. A label the FE knows nothing of
   fails "No transaction found with db[D] and label[L]";
4. everything else (begin, load, prepare, and commit/rollback of a transaction still in PREPARE) is 307ed to a
   BE: `begin` to the BE `TransactionLoadCoordinatorMgr.allocate` picks (the one it picked before for this
   label, else the next live BE), the others to the BE remembered for the label (else the transaction's
   coordinator; none: "Can't find the transaction with db [D] and label[L]. ...").
Failures answer HTTP 200 `{"Status": "FAILED", "Message": "class com.starrocks.common.StarRocksException:
..."}` (older releases name the class `UserException`; not verified per release), a used label
`{"Status": "LABEL_ALREADY_EXISTS", "ExistingJobStatus": ..., "Message": ...}`.
Faults on the FE's commit: `publish_timeout` commits and answers "publish timeout: <ms>" (fe
`GlobalTransactionMgr.commitPreparedTransaction`: `UserException("publish timeout: " + timeoutMillis)`),
`commit_then_cut` commits and closes the socket.

From 4.0 an operation with `transaction_type: multi` is one of a multi-table transaction (fe
`TransactionLoadAction.getTxnOperationHandler` -> `MultiStatementTransactionHandler`; what it answers:
be/multi_table_transactions.py): begin, commit and rollback answered here, a load 307ed to the BE of its
table, prepare refused. Older releases do not read the header: the operation is a single-table one.
Faults on a multi-table commit: `too_many_versions` fails the commit statement (rolled back, answered OK),
`commit_then_cut` commits and closes the socket.
"""

from __future__ import annotations

import threading
import uuid
from typing import TYPE_CHECKING

from starrocks_emulator.be.multi_table_transactions import (
    CANCELLED,
    COMMITED,
    MultiTableTransaction,
    is_multi_table,
)
from starrocks_emulator.be.transactions import TxnError
from starrocks_emulator.topology import Node
from starrocks_emulator.version import supports

if TYPE_CHECKING:
    from starrocks_emulator.fe.rest import FEHandler

OPERATIONS = ("begin", "load", "prepare", "commit", "rollback")
SET = "SET"  # TxnError code: the handler set the error on its response (no exception class in the message)
EXCEPTION = "class com.starrocks.common.StarRocksException"
DEFAULT_COMMIT_TIMEOUT_MS = 20000  # TransactionLoadAction.DEFAULT_TXN_TIMEOUT_MILLIS


class CoordinatorCache:
    """The leader's label -> coordinator BE map (fe `TransactionLoadCoordinatorMgr`); memory only, as there."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_label: dict[str, int] = {}

    def allocate(self, label: str, choose: object) -> int | None:
        with self._lock:
            if label in self._by_label:
                return self._by_label[label]
        node = choose()  # type: ignore[operator]
        if node is None:
            return None
        with self._lock:
            return self._by_label.setdefault(label, node.id)

    def get(self, label: str) -> int | None:
        with self._lock:
            return self._by_label.get(label)

    def knows(self, label: str) -> bool:
        return self.get(label) is not None


def handle_transaction_op(handler: FEHandler, op: str) -> None:
    emulator = handler.emulator
    emulator.count(f"txn_{op}" if op in OPERATIONS else "txn_unknown")
    user = handler.authenticate()
    if user is None or handler.redirect_to_leader():
        return
    headers = handler.headers
    db, label = headers.get("db") or "", headers.get("label") or ""
    try:
        if op not in OPERATIONS:
            raise TxnError("FAILED", f"Unknown transaction operation: {op}")
        if not db.strip():
            raise TxnError("FAILED", "No database selected.")
        if not label.strip():
            raise TxnError("FAILED", "Empty label.")
        if supports("multi_table_transaction") and is_multi_table(headers):
            _multi_table_op(handler, op, db, label, user)
            return
        backend = _route(handler, op, db, label)
    except TxnError as exc:
        _refuse(handler, exc)
        return
    if backend is not None:
        handler.redirect(backend.host, backend.http_port)


def _refuse(handler: FEHandler, exc: TxnError) -> None:
    """`TransactionLoadAction`'s catch: LabelAlreadyUsed, else FAILED "<exception class>: <message>"; a
    response the handler filled itself (`setErrorMsg`, code SET) carries the bare message."""
    handler.drain_body()
    if exc.code == "LABEL_ALREADY_EXISTS":
        handler.send_json(
            {"Status": exc.code, "Message": exc.message, "ExistingJobStatus": exc.existing_job_status}
        )
    elif exc.code == SET or exc.message.startswith("class "):
        answer = {"Status": "FAILED", "Message": exc.message}
        if exc.error_url:
            answer["ErrorURL"] = exc.error_url
        handler.send_json(answer)
    else:
        handler.send_json({"Status": "FAILED", "Message": f"{EXCEPTION}: {exc.message}"})


def _multi_table_op(handler: FEHandler, op: str, db: str, label: str, user: str) -> None:
    """`MultiStatementTransactionHandler.handle` (be/multi_table_transactions.py has what each answers)."""
    emulator = handler.emulator
    multi = emulator.txns.multi
    try:
        if op == "begin":
            handler.drain_body()
            multi.begin(db, label, user, _seconds(handler.headers.get("timeout")))
            handler.send_json({"Status": "OK", "Message": ""})
        elif op == "load":
            txn = multi.require(db, label)
            backend = multi.part_for_load(txn, handler.headers.get("table") or "", emulator.choose_backend)
            node = emulator.topology.backend(backend)
            handler.redirect(node.host, node.http_port)
        elif op == "commit":
            handler.drain_body()
            _multi_table_commit(handler, multi.require(db, label))
        elif op == "rollback":
            handler.drain_body()
            txn = multi.require(db, label, rollback=True)
            if txn.state == COMMITED:
                raise TxnError(SET, f"Can not abort VISIBLE transaction {txn.txn_id}, label is {label}")
            if txn.state == CANCELLED:
                message = f"Transaction {txn.txn_id} has already aborted, label is {label}"
                handler.send_json({"Status": "OK", "Message": message, "Label": label, "TxnId": txn.txn_id})
                return
            with multi.exclusive(txn, SET):
                multi.abort(txn, "manual abort")
            handler.send_json({"Status": "OK", "Message": f"stream load {label} abort"})
        else:
            raise TxnError("FAILED", f"Unsupported operation: TXN_{op.upper()}")
    except TxnError as exc:
        _refuse(handler, exc)


def _multi_table_commit(handler: FEHandler, txn: MultiTableTransaction) -> None:
    emulator, label = handler.emulator, txn.label
    if txn.state == COMMITED:
        message = f"Transaction {txn.txn_id} has already committed, label is {label}"
        handler.send_json({"Status": "OK", "Message": message, "Label": label, "TxnId": txn.txn_id})
        return
    if txn.state == CANCELLED:
        raise TxnError(SET, f"Can not commit CANCELLED transaction {txn.txn_id}, label is {label}")
    fail_with = None
    if emulator.faults.take("too_many_versions") is not None and txn.parts:
        fail_with = emulator.engine.too_many_versions_error(txn.db, next(iter(txn.parts))).message
    try:
        emulator.txns.multi.commit(txn, fail_with)
    except TxnError as exc:
        if lines := emulator.txns.multi.rejected_lines(txn):
            name = f"error_log_{uuid.uuid4().hex}"
            emulator.error_logs.put(name, lines)
            backend = emulator.topology.backend(next(iter(txn.parts.values())).backend)
            exc.error_url = f"http://{backend.host}:{backend.http_port}/api/_load_error_log?file={name}"
        exc.code = SET
        raise
    if emulator.faults.take("commit_then_cut") is not None:
        handler.cut_connection("commit_then_cut")
        return
    # Also when the commit statement failed and rolled back: commitTxn leaves the response OK.
    handler.send_json({"Status": "OK", "Message": ""})


def _seconds(value: str | None) -> float | None:
    """A `timeout` header in seconds (fe `Long::parseLong`; not a number: refused)."""
    if not value:
        return None
    if not value.strip().isdigit():
        raise TxnError("FAILED", f'For input string: "{value}"')
    return float(value)


def _route(handler: FEHandler, op: str, db: str, label: str) -> Node | None:
    """None when the FE answered itself; else the BE to redirect to."""
    emulator = handler.emulator
    engine, coordinators, txns = emulator.engine, emulator.coordinators, emulator.txns
    if op not in ("begin", "load") and not coordinators.knows(label) and engine.job(db, label) is None:
        if db not in engine.databases():
            raise TxnError("FAILED", f"Database[{db}] does not exist.")
        raise TxnError("FAILED", f"No transaction found with db[{db}] and label[{label}]")
    if db not in engine.databases():
        raise TxnError("FAILED", f"Database[{db}] does not exist.")
    if op == "commit" and _commit_on_fe(handler, db, label):
        return None
    if op == "rollback" and _rollback_on_fe(handler, db, label):
        return None
    if op == "begin":
        backend_id = coordinators.allocate(label, emulator.choose_backend)
        if backend_id is None:
            raise TxnError("FAILED", "No backend alive.")
    else:
        backend_id = coordinators.get(label) or txns.coordinator(db, label)
        if backend_id is None and engine.job(db, label) is not None:
            backend_id = emulator.topology.backends[0].id  # its coordinator is gone: the BE will not know it
        if backend_id is None:
            raise TxnError(
                "FAILED",
                f"Can't find the transaction with db [{db}] and label[{label}]. The possible reasons: "
                "1. FE leader is started or switched; 2. The transaction timeouts and is cleaned.",
            )
    return emulator.topology.backend(backend_id)


def _commit_on_fe(handler: FEHandler, db: str, label: str) -> bool:
    """`handleCommitTransaction`: True when answered here; False for a transaction still in PREPARE."""
    emulator = handler.emulator
    job = emulator.engine.job(db, label)
    state, txn_id = (job["state"], job["txn_id"]) if job else ("UNKNOWN", -1)
    if state in ("COMMITTED", "VISIBLE"):
        handler.send_json(
            {
                "Status": "OK",
                "Message": f"Transaction {txn_id} has already committed, label is {label}",
                "TxnId": txn_id,
                "Label": label,
            }
        )
        return True
    if state == "ABORTED":
        raise TxnError("FAILED", f"Can not commit ABORTED transaction {txn_id}, label is {label}")
    txn = emulator.txns.prepared(db, label)
    if state != "PREPARED" or txn is None:
        return False
    if not txn.busy.acquire(blocking=False):
        raise TxnError("FAILED", "Transaction is in processing")
    try:
        emulator.txns.commit(txn)
    finally:
        txn.busy.release()
    faults = emulator.faults
    if faults.take("commit_then_cut") is not None:
        handler.cut_connection("commit_then_cut")
        return True
    if faults.take("publish_timeout") is not None:
        timeout_ms = _timeout_ms(handler)
        raise TxnError("FAILED", f"publish timeout: {timeout_ms}")
    handler.send_json({"Status": "OK", "Message": "", "TxnId": txn_id, "Label": label})
    return True


def _rollback_on_fe(handler: FEHandler, db: str, label: str) -> bool:
    """`handleRollbackTransaction`: True when answered here; False for a transaction still in PREPARE."""
    emulator = handler.emulator
    job = emulator.engine.job(db, label)
    state, txn_id = (job["state"], job["txn_id"]) if job else ("UNKNOWN", -1)
    if state == "ABORTED":
        handler.send_json(
            {
                "Status": "OK",
                "Message": f"Transaction {txn_id} has already aborted, label is {label}",
                "TxnId": txn_id,
                "Label": label,
            }
        )
        return True
    if state in ("COMMITTED", "VISIBLE"):
        raise TxnError("FAILED", f"Can not abort {state} transaction {txn_id}, label is {label}")
    txn = emulator.txns.prepared(db, label)
    if state != "PREPARED" or txn is None:
        return False
    emulator.txns.abort(txn, "User Aborted")
    handler.send_json({"Status": "OK", "Message": "", "TxnId": txn_id, "Label": label})
    return True


def _timeout_ms(handler: FEHandler) -> int:
    try:
        return int(handler.headers.get("timeout") or 0) * 1000 or DEFAULT_COMMIT_TIMEOUT_MS
    except ValueError:
        return DEFAULT_COMMIT_TIMEOUT_MS
