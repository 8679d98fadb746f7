"""HTTP side of the Stream Load transaction interface, served on both the FE and the BE port.

Headers as in https://docs.starrocks.io/docs/loading/Stream_Load_transaction_interface/: `label`, `db`,
`table`, `timeout`, `idle_transaction_timeout` (begin), `prepared_timeout` (prepare), and the Stream Load
headers on `load`. Faults that hit a Stream Load hit `load` the same way (http_500, cut_mid_body, slow_be,
too_many_versions); on `commit`, `publish_timeout` commits and answers the documented
`{"Status": "FAILED", "Message": "publish timeout"}`, and `commit_then_cut` commits and closes the socket.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starrocks_emulator.rest_base import EmulatorHandler


def _float_header(handler: EmulatorHandler, name: str) -> float | None:
    value = handler.headers.get(name)
    try:
        return float(value) if value else None
    except ValueError:
        return None


def handle_transaction_op(handler: EmulatorHandler, op: str) -> None:
    emulator = handler.emulator
    emulator.count(f"txn_{op}")
    user = handler.require_auth()
    if user is None:
        return
    label = handler.headers.get("label")
    db = handler.headers.get("db") or ""
    table = handler.headers.get("table")
    txns, faults = emulator.txns, emulator.faults
    if not db:
        handler.drain_body()
        handler.send_json(
            {"TxnId": -1, "Label": label, "Status": "FAILED", "Message": "No database selected"}
        )
        return
    if op == "load":
        if faults.take("http_500") is not None:
            handler.drain_body()
            handler.send_text("Internal Server Error", status=500)
            return
        if faults.take("cut_mid_body") is not None:
            handler.read_body(limit=max(1, int(handler.headers.get("Content-Length") or 2) // 2))
            handler.cut_connection("cut_mid_body")
            return
        body = handler.read_body()
        if (fault := faults.take("slow_be")) is not None:
            time.sleep(fault.seconds or 1.0)
        if faults.take("too_many_versions") is not None:
            target = table or txns.table_of(db, label) or ""
            message = emulator.engine.too_many_versions_error(db, target).message
            handler.send_json(txns.fail(db, label, message))
            return
        handler.send_json(txns.load(db, table, label, user, handler.headers, body))
        return
    handler.drain_body()
    if op == "begin":
        result = txns.begin(
            db,
            table or "",
            label,
            user,
            _float_header(handler, "timeout"),
            _float_header(handler, "idle_transaction_timeout"),
        )
    elif op == "prepare":
        result = txns.prepare(db, label, _float_header(handler, "prepared_timeout"))
    elif op == "rollback":
        result = txns.rollback(db, label)
    else:
        result = txns.commit(db, label)
        if result.get("Status") == "OK" and result.get("Message") == "":
            if faults.take("commit_then_cut") is not None:
                handler.cut_connection("commit_then_cut")
                return
            if faults.take("publish_timeout") is not None:
                result = {**result, "Status": "FAILED", "Message": "publish timeout"}
    handler.send_json(result)
