"""A BE's HTTP port (StarRocks `be_http_port`, default 8040): performs Stream Loads.

`PUT /api/{db}/{table}/_stream_load` (be/src/http/action/stream_load.cpp): the BE always answers HTTP 200
with `StreamLoadContext::to_json`. Without a parsable `Authorization` it fails "no valid Basic
authorization"; it begins the load's transaction on the leader (`loadTxnBegin`: password, INSERT privilege,
database, table, label format, label not used, see be/transactions.py `load_txn_begin`) and only then
sends `100 Continue` and reads the body (an early answer goes without it, be/src/http/ev_http_server.cpp),
converts and filters the rows, and commits them as ONE version of every tablet, or nothing. A label held by a
running or finished job answers `Label Already Exists` + `ExistingJobStatus`; only a failed label may be
used again. The answer carries every field of
https://docs.starrocks.io/docs/sql-reference/sql-statements/loading_unloading/STREAM_LOAD/ ("Return value"):
TxnId, Label, Status (Success | Publish Timeout | Label Already Exists | Fail), Message, NumberTotalRows,
NumberLoadedRows, NumberFilteredRows, NumberUnselectedRows, LoadBytes, LoadTimeMs, BeginTxnTimeMs,
StreamLoadPlanTimeMs, ReadDataTimeMs, WriteDataTimeMs, CommitAndPublishTimeMs and, when rows were filtered,
ErrorURL (`http://<be>:<be_http_port>/api/_load_error_log?file=...`, be/src/runtime/fragment_mgr.cpp).
A `compression` header is honoured from 3.2.7 (version.py); an older BE reads the compressed bytes as the
body itself, so the load fails as a JSON parse error would (not verified: the exact message).
The transaction interface is served here too (be/transactions_rest.py), as is the error log.
Faults of this BE (faults.py): http_500, cut_mid_body, slow_be, publish_timeout, commit_then_cut,
label_running, too_many_versions.
TLS (`--tls-cert`): this port stays plain HTTP, because the FE's 307 always names `http://` (fe
`RestBaseAction.redirectTo`); the cluster adds an HTTPS listener per BE (its `https_port`) for clients that
send loads to BEs directly over TLS (`load_urls`).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from typing import Any

import duckdb

from starrocks_emulator.be.spool import release_spool, write_spool
from starrocks_emulator.be.stream_load import (
    AppendedLoad,
    LoadFailure,
    LoadOptions,
    appending_insert_sql,
    check_load_target,
    decode_spooled,
    stage_file,
)
from starrocks_emulator.be.transactions import TxnError, load_txn_begin
from starrocks_emulator.be.transactions_rest import handle_be_transaction_op
from starrocks_emulator.rest_base import EmulatorHandler
from starrocks_emulator.storage.catalog import EmulatorError, TableMeta
from starrocks_emulator.storage.engine import Engine
from starrocks_emulator.version import supports

STREAM_LOAD_PATH = re.compile(r"^/api/([^/]+)/([^/]+)/_stream_load$")
TXN_PATH = re.compile(r"^/api/transaction/([^/]+)$")
PUBLISH_TIMEOUT_MESSAGE = "transaction commit successfully, BUT data will be visible later"


class LoadTimes:
    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.marks: dict[str, float] = {}

    def mark(self, name: str) -> None:
        self.marks[name] = time.perf_counter()

    def ms(self, start: str | None, end: str) -> int:
        begin = self.started if start is None else self.marks.get(start, self.started)
        return max(0, int((self.marks.get(end, begin) - begin) * 1000))


def load_answer(
    txn_id: int,
    label: str | None,
    status: str,
    message: str,
    staged: Any = None,
    times: LoadTimes | None = None,
    load_bytes: int = 0,
) -> dict[str, Any]:
    times = times or LoadTimes()
    times.mark("end")
    answer: dict[str, Any] = {
        "TxnId": txn_id,
        "Label": label,
        "Status": status,
        "Message": message,
        "NumberTotalRows": staged.total_rows if staged else 0,
        "NumberLoadedRows": staged.loaded_rows if staged else 0,
        "NumberFilteredRows": staged.filtered_rows if staged else 0,
        "NumberUnselectedRows": staged.unselected_rows if staged else 0,
        "LoadBytes": load_bytes,
        "LoadTimeMs": times.ms(None, "end"),
        "BeginTxnTimeMs": times.ms(None, "begin"),
        "StreamLoadPlanTimeMs": 0,
        "ReadDataTimeMs": times.ms("begin", "read"),
        "WriteDataTimeMs": times.ms("read", "written"),
        "CommitAndPublishTimeMs": times.ms("written", "committed"),
    }
    return answer


class BEHandler(EmulatorHandler):
    def do_PUT(self) -> None:  # noqa: N802 - http.server naming
        path, _ = self.url
        if match := STREAM_LOAD_PATH.match(path):
            self.emulator.count("be_stream_load")
            self.stream_load(match.group(1), match.group(2))
        elif (match := TXN_PATH.match(path)) and supports("transaction_interface"):
            handle_be_transaction_op(self, match.group(1))
        else:
            self.not_found()

    def do_POST(self) -> None:  # noqa: N802
        path, _ = self.url
        if (match := TXN_PATH.match(path)) and supports("transaction_interface"):
            handle_be_transaction_op(self, match.group(1))
        else:
            self.not_found()

    def do_GET(self) -> None:  # noqa: N802
        path, _ = self.url
        if path == "/api/_load_error_log":
            self.emulator.count("error_log")
            self.serve_error_log()
        elif path == "/api/health":
            self.serve_health()
        else:
            self.not_found()

    def error_url(self, name: str) -> str:
        """Where this BE serves a load's rejected rows: always its plain `http` port (fragment_mgr.cpp)."""
        return f"http://{self.node.host}:{self.node.http_port}/api/_load_error_log?file={name}"

    # ------------------------------------------------------------------ the Stream Load
    def fail(self, message: str, label: str | None, txn_id: int = -1, **extra: Any) -> None:
        self.drain_body()
        self.send_json({**load_answer(txn_id, label, "Fail", message), **extra})

    def stream_load(self, db: str, table: str) -> None:
        engine, faults = self.emulator.engine, self.emulator.faults
        backend = self.node.id
        times = LoadTimes()
        label = (self.headers.get("label") or "").strip() or None
        credentials = self.basic_auth()
        if credentials is None:
            self.fail("no valid Basic authorization", label)
            return
        if faults.take("http_500", backend) is not None:
            self.drain_body()
            self.send_text("Internal Server Error", status=500)
            return
        try:
            options = LoadOptions.from_headers(self.headers)
        except LoadFailure as exc:
            self.fail(str(exc), label)
            return
        label = options.label or str(uuid.uuid4())
        try:
            txn_id = load_txn_begin(engine, db, table, label, credentials, self.client_ip)
        except TxnError as exc:
            if exc.code == "LABEL_ALREADY_EXISTS":
                self.drain_body()
                answer = load_answer(-1, label, "Label Already Exists", exc.message, times=times)
                self.send_json({**answer, "ExistingJobStatus": exc.existing_job_status})
            else:
                self.fail(exc.message, label)
            return
        times.mark("begin")
        try:
            check_load_target(engine.table(db, table), options)  # the plan (`_process_put`)
        except (LoadFailure, EmulatorError) as exc:
            message = getattr(exc, "message", str(exc))
            engine.abort(txn_id, message)
            self.fail(message, label, txn_id)
            return
        if faults.take("cut_mid_body", backend) is not None:
            try:
                self.read_body(limit=max(1, int(self.headers.get("Content-Length") or 2) // 2))
            finally:
                engine.abort(txn_id, "connection cut mid-body")
                self.cut_connection("cut_mid_body")
            return
        try:  # straight to the file DuckDB scans
            spool, load_bytes = write_spool(self.emulator.spool_dir, options.format, self.spool_body)
        except (ConnectionError, OSError, ValueError) as exc:
            engine.abort(txn_id, f"failed to read the body: {exc}")
            self.close_connection = True
            return
        times.mark("read")
        if options.compression and not supports("json_compression"):
            options.compression = None  # a BE before 3.2.7 does not know the header (see the docstring)
        if faults.take("too_many_versions", backend) is not None:
            release_spool(spool)
            message = engine.too_many_versions_error(db, table).message
            engine.abort(txn_id, message)
            self.send_json(load_answer(txn_id, label, "Fail", message, times=times, load_bytes=load_bytes))
            return
        if (fault := faults.take("label_running", backend)) is not None:
            self.cut_connection("label_running")
            threading.Thread(
                target=self._commit_later,
                args=(fault.seconds or 1.0, txn_id, label, db, table, options, spool, load_bytes),
                daemon=True,
            ).start()
            return
        if (fault := faults.take("slow_be", backend)) is not None:
            time.sleep(fault.seconds or 1.0)
        answer = run_load(self, txn_id, label, db, table, options, spool, load_bytes, times)
        if answer["Status"] == "Success":
            if faults.take("commit_then_cut", backend) is not None:
                self.cut_connection("commit_then_cut")
                return
            if faults.take("publish_timeout", backend) is not None:
                answer.update(Status="Publish Timeout", Message=PUBLISH_TIMEOUT_MESSAGE)
        try:
            self.send_json(answer)
        except OSError:
            self.close_connection = True  # the client is gone; the load stays committed, as in StarRocks

    def _commit_later(
        self,
        delay: float,
        txn_id: int,
        label: str,
        db: str,
        table: str,
        options: LoadOptions,
        spool: str,
        load_bytes: int,
    ) -> None:
        time.sleep(delay)
        run_load(self, txn_id, label, db, table, options, spool, load_bytes, LoadTimes())


def run_load(
    handler: BEHandler,
    txn_id: int,
    label: str | None,
    db: str,
    table: str,
    options: LoadOptions,
    spool: str,
    load_bytes: int,
    times: LoadTimes,
) -> dict[str, Any]:
    """Decode, stage, filter and commit one Stream Load whose body is in the spool file `spool` (`load_bytes`
    as received), and delete that file; returns the answer. The label is ABORTED on failure."""
    emulator = handler.emulator
    engine = emulator.engine
    staged = None
    error_url = None
    try:
        staging_started = time.perf_counter()
        decode_spooled(spool, options.compression)
        meta = engine.table(db, table)
        with engine.lock:
            appended = _append_rows(engine, txn_id, meta, options, spool, load_bytes)
            if appended is not None:
                times.mark("written")
                times.mark("committed")
                return load_answer(txn_id, label, "Success", "OK", appended, times, load_bytes)
            staged = stage_file(engine.con, meta, options, spool)
            engine.note_ingest(
                0, time.perf_counter() - staging_started
            )  # the rate covers parsing, not only commit
            try:
                if staged.filtered_rows:
                    name = f"error_log_{uuid.uuid4().hex}"
                    emulator.error_logs.put(name, staged.error_lines)
                    error_url = handler.error_url(name)
                times.mark("written")
                try:
                    staged.check_filter_ratio(options.max_filter_ratio)
                except LoadFailure as exc:
                    engine.abort(
                        txn_id,
                        str(exc),
                        scan_rows=staged.total_rows,
                        filtered_rows=staged.filtered_rows,
                        tracking_url=error_url,
                    )
                    answer = load_answer(txn_id, label, "Fail", str(exc), staged, times, load_bytes)
                    answer["ErrorURL"] = error_url
                    return answer
                engine.commit_staged(
                    txn_id,
                    meta,
                    staged.relation,
                    staged.columns,
                    scan_rows=staged.total_rows,
                    filtered_rows=staged.filtered_rows,
                    unselected_rows=staged.unselected_rows,
                    load_bytes=load_bytes,
                    merge_condition=options.merge_condition,
                    partial_update=options.partial_update,
                    tracking_url=error_url,
                )
            finally:
                staged.drop(engine.con)
        times.mark("committed")
    except (LoadFailure, EmulatorError) as exc:
        message = getattr(exc, "message", str(exc))
        engine.abort(txn_id, message)
        return load_answer(txn_id, label, "Fail", message, staged, times, load_bytes)
    finally:
        release_spool(spool)  # when staging never took it over
    answer = load_answer(txn_id, label, "Success", "OK", staged, times, load_bytes)
    if error_url:
        answer["ErrorURL"] = error_url
    return answer


def _append_rows(
    engine: Engine, txn_id: int, meta: TableMeta, options: LoadOptions, spool: str, load_bytes: int
) -> AppendedLoad | None:
    """Commit the load in one INSERT when every row of it is loaded (be/stream_load.py `appending_insert_sql`);
    None when that is not the case, or not known: the load is then staged, which answers it, errors included."""
    try:
        insert_sql = appending_insert_sql(meta, options, spool)
        if insert_sql is None:
            return None
        return AppendedLoad(engine.commit_appended(txn_id, meta, insert_sql, load_bytes=load_bytes))
    except (LoadFailure, EmulatorError, duckdb.Error):
        return None
