"""Stream Load's transaction interface: many chunks, one commit, one version.

`/api/transaction/begin`, then `/api/transaction/load` once per chunk (same label), then `prepare` and
`commit` (StarRocks docs, "Load data using Stream Load transaction interface", 2.4+). A table's buffer is
sent as chunks while it fills, so memory is bounded by the chunk size while one commit, and so one version,
can hold far more rows than fit in memory.

Routing (fe `TransactionLoadAction`, `TransactionWithoutChannelHandler`): a follower FE redirects every op to
the leader; the leader redirects begin, load and prepare to the transaction's coordinator BE (chosen at
begin, remembered by label) and answers commit and rollback itself. The shared transport follows all of it
with the credentials on every hop. A transaction stays on the endpoint it began on: with an FE that is the
cluster's routing; with a BE `load_urls` entry that BE serves begin, load and prepare itself, so the data
never needs a BE the connector cannot reach, and an HTTPS BE entry keeps the data encrypted. Once prepared, a
transaction belongs to the FE (the BE drops its context at prepare: be `transaction_mgr.cpp` answers
"transaction with label L not exists"), so commit, and rollback of a prepared one, go to the FE.

Answers are read as the Flink connector's SDK reads them: `Status` is `OK` or a TStatusCode name (be
`StreamLoadContext::to_resp_json`) or the FE's `FAILED`; a commit that answers anything but OK is checked
against the label's state before anything else happens (COMMITTED/VISIBLE = committed, PREPARED = the
commit may be sent again); rows rejected at prepare ("too many filtered rows", be `stream_load_executor`)
fail the sync as a data error quoting the ErrorURL.

The trade-off, and why plain Stream Load is the default: a chunk whose `load` call fails cannot be resent
(the transaction may hold part of it) and its earlier chunks are no longer in memory, so the transaction is
rolled back and the sync fails with a transient error; the platform retries it from the last checkpoint,
which nothing after was released past. Nothing is lost or duplicated, but a plain Stream Load would simply
have retried in place.
"""

from __future__ import annotations

import logging
import time

from destination_starrocks.errors import ConnectorError, TransientError
from destination_starrocks.http_transport import Endpoint, HopError, HttpAnswer, RedirectError
from destination_starrocks.stream_load import (
    COMMITTED_STATES,
    NO_CREDENTIALS_MARKER,
    VERSIONS_MAX_WAIT_SECONDS,
    LoadRequest,
    LoadResult,
    StreamLoader,
    answer_fields,
    backoff_delay,
    dropped_credentials,
    is_slow_down,
    refused_credentials,
    versions_delay,
)

logger = logging.getLogger("airbyte")


OK = "OK"
OP_TIMEOUT_SECONDS = 60.0
PREPARED = "PREPARED"


class _SlowDown(TransientError):
    """StarRocks aborted the transaction to slow the client down (version pressure)."""


class TransactionLoader:
    """One open transaction per table at a time; the writer serialises a table's operations."""

    # Headers every operation of this kind of transaction carries (multi_table_load.py adds its own).
    op_headers: dict[str, str] = {}

    def __init__(self, loader: StreamLoader) -> None:
        self._loader = loader
        self._open: dict[str, Endpoint] = {}  # label -> the endpoint it began on, until committed/rolled back
        self._prepared: set[str] = set()  # labels whose transaction the FE now holds

    def send(self, request: LoadRequest, commit: bool) -> LoadResult | None:
        """Send one chunk (if it has rows) into the request's transaction; commit it when asked.

        A transaction that StarRocks aborted to slow down (too many versions, too large a compaction score)
        is sent again after a wait, with the same label (an ABORTED label is free again), when this request
        holds the whole of it; with earlier chunks gone from memory it fails the sync as transient."""
        started = time.monotonic()
        whole = request.label not in self._open
        slow_downs, waited = 0, 0.0
        while True:
            try:
                return self._send_once(request, commit, started)
            except _SlowDown as exc:
                delay = versions_delay(slow_downs)
                slow_downs, waited = slow_downs + 1, waited + delay
                if not whole or waited > VERSIONS_MAX_WAIT_SECONDS:
                    raise TransientError(
                        f"{exc}. StarRocks asks to slow down until compaction catches up"
                        + ("" if whole else "; the transaction's earlier chunks cannot be sent again")
                        + ": the sync resumes from the last checkpoint on its next attempt."
                    ) from None
                logger.warning("%s; waiting %.1fs for compaction, then sending it again", exc, delay)
                time.sleep(delay)

    def _send_once(self, request: LoadRequest, commit: bool, started: float) -> LoadResult | None:
        label = request.label
        try:
            if label not in self._open:
                self._begin(request)
            if request.rows:
                self._load_chunk(request)
            if not commit:
                return None
            status, attempts = self._finish(request)
        except BaseException:
            self._rollback(request)
            raise
        self._prepared.discard(label)
        endpoint = self._open.pop(label, self._loader.endpoint)
        return LoadResult(label, status, request.rows, attempts, time.monotonic() - started, str(endpoint))

    def _finish(self, request: LoadRequest) -> tuple[str, int]:
        """Prepare, then commit: (how it committed, attempts)."""
        self._prepare(request)
        return self._commit(request)

    # ---- the ops -------------------------------------------------------------------------------------

    def rollback(self, request: LoadRequest) -> bool:
        """Roll back the request's transaction if this loader began it and it is still open; True if it was
        (the writer's stop path on SIGTERM: an open transaction must not wait for its timeout)."""
        if request.label not in self._open:
            return False
        self._rollback(request)
        return True

    def _begin(self, request: LoadRequest) -> None:
        self._open[request.label] = self._loader.endpoint
        headers = {**self._label_headers(request), "timeout": str(self._loader.config.load_timeout_seconds)}
        status, message, _ = self._call("begin", request, headers)
        if status != OK:
            raise TransientError(f"Could not begin transaction {request.label}: {status} {message}".rstrip())

    def _load_chunk(self, request: LoadRequest) -> None:
        loader = self._loader
        headers = {
            **loader.load_headers(request),
            "db": request.database,
            "table": request.table,
            **self.op_headers,
        }
        answer = self._send(
            "load", request, headers, loader.encode(request.body), loader.config.load_timeout_seconds
        )
        status, message, result = answer_fields(answer)
        if answer.status == 200 and status == OK:
            return
        self._rejected(request, message, result)
        raise (_SlowDown if is_slow_down(message) else TransientError)(
            f"A chunk of transaction {request.label} into {request.database}.{request.table} failed: "
            f"HTTP {answer.status} {status}: {message}; the transaction is rolled back and the sync will "
            "resume from the last checkpoint."
        )

    def _prepare(self, request: LoadRequest) -> None:
        try:
            status, message, result = self._call("prepare", request, self._label_headers(request))
        except TransientError:
            status, message, result = "", "", {}
        if status == OK:
            self._prepared.add(request.label)
            return
        self._rejected(request, message, result)
        # Flink's SDK: a prepare that answers otherwise (or whose answer was lost) may still have prepared.
        state = self._state(request)
        if state == PREPARED:
            self._prepared.add(request.label)
        else:
            failure = (
                _SlowDown if is_slow_down(message) and state in ("ABORTED", "UNKNOWN") else TransientError
            )
            raise failure(
                f"Transaction {request.label} prepare failed: {status or 'no answer'} {message}; label state "
                f"{state or 'unknown'}"
            )

    def _commit(self, request: LoadRequest) -> tuple[str, int]:
        """(how it committed, attempts). A commit answered with an error is checked against the label's state:
        COMMITTED/VISIBLE is committed (F1: the Flink SDK always checks), PREPARED is sent again."""
        attempts, slow_downs = 0, 0
        while True:
            attempts += 1
            try:
                status, message, _ = self._call("commit", request, self._label_headers(request))
            except TransientError as exc:
                status, message = "", str(exc)
            if status == OK:
                return "Success", attempts
            if status == "PUBLISH_TIMEOUT" or "publish timeout" in message.lower():
                # Committed, visible later (fe `commitPreparedTransaction`; a BE's TStatusCode).
                return "Publish Timeout", attempts
            state = self._state(request)
            if state in COMMITTED_STATES:
                logger.info(
                    "Commit of %s answered %r, but its label is %s: committed", request.label, message, state
                )
                return state, attempts
            if state != PREPARED:
                failure = (
                    _SlowDown if is_slow_down(message) and state in ("ABORTED", "UNKNOWN") else TransientError
                )
                raise failure(
                    f"Transaction {request.label} commit failed: {status or 'no answer'} {message}; label "
                    f"state {state or 'unknown'}"
                )
            if is_slow_down(message):
                delay = versions_delay(slow_downs)
                slow_downs += 1
                attempts -= 1  # waiting for compaction does not use up the retries
            elif attempts > self._loader.config.max_retries:
                raise TransientError(
                    f"Transaction {request.label} commit failed after {attempts} attempts (still PREPARED): "
                    f"{status} {message}"
                )
            else:
                delay = backoff_delay(attempts)
            logger.warning(
                "Commit of %s answered %s %r; the transaction is still PREPARED, committing again in %.1fs",
                request.label,
                status or "nothing",
                message,
                delay,
            )
            time.sleep(delay)

    def _rollback(self, request: LoadRequest) -> None:
        if request.label not in self._open:
            return
        try:
            self._call("rollback", request, self._label_headers(request))
        except ConnectorError as exc:
            logger.warning("Rollback of transaction %s failed (it will time out): %s", request.label, exc)
        finally:
            self._open.pop(request.label, None)
            self._prepared.discard(request.label)

    # ---- plumbing --------------------------------------------------------------------------------------

    def _state(self, request: LoadRequest) -> str:
        try:
            return self._loader.load_state(request.database, request.label)
        except (HopError, RedirectError) as exc:
            logger.warning("get_load_state for %s failed: %s", request.label, exc)
            return ""

    def _rejected(self, request: LoadRequest, message: str, result: dict) -> None:
        """Raise the data error if StarRocks rejected rows (at load on old servers, at prepare on current)."""
        if "filtered" in message.lower() or result.get("NumberFilteredRows"):
            filtered = int(result.get("NumberFilteredRows") or 0)
            raise self._loader.rejected_rows(request, message, str(result.get("ErrorURL") or ""), filtered)

    def _label_headers(self, request: LoadRequest) -> dict[str, str]:
        return {"label": request.label, "db": request.database, "table": request.table, **self.op_headers}

    def _call(self, op: str, request: LoadRequest, headers: dict[str, str]) -> tuple[str, str, dict]:
        """POST one body-less op; (status, message, json). Raises TransientError on a transport failure."""
        answer = self._send(op, request, headers, b"", OP_TIMEOUT_SECONDS)
        status, message, result = answer_fields(answer)
        if answer.status != 200:
            return status or f"HTTP {answer.status}", message, result
        return status, message, result

    def _endpoint(self, op: str, request: LoadRequest) -> Endpoint:
        """Where an operation goes: the endpoint its transaction began on, the FE once it is prepared."""
        if op in ("commit", "rollback") and request.label in self._prepared:
            return self._loader.fe_endpoint
        return self._open.get(request.label, self._loader.endpoint)

    def _send(
        self, op: str, request: LoadRequest, headers: dict[str, str], body: bytes, timeout: float
    ) -> HttpAnswer:
        endpoint = self._endpoint(op, request)
        method = "PUT" if op == "load" else "POST"
        try:
            answer = self._loader.transport.request(
                method, endpoint, f"/api/transaction/{op}", headers, body, timeout=timeout
            )
        except (HopError, RedirectError) as exc:
            raise TransientError(
                f"Transaction {op} for {request.database}.{request.table} (label {request.label}) failed: "
                f"{exc}"
            ) from None
        what = f"the transaction {op} into {request.database}.{request.table}"
        if answer.status in (401, 403):
            raise refused_credentials(answer, what)
        if NO_CREDENTIALS_MARKER in answer_fields(answer)[1].lower():
            raise dropped_credentials(answer.origin, what)
        return answer
