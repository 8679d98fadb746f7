"""Stream Load's transaction interface: many chunks, one commit, one version.

`/api/transaction/begin`, then `/api/transaction/load` once per chunk (same label), then `prepare` and
`commit` (StarRocks docs, "Load data using Stream Load transaction interface", 2.4+). A table's buffer is
sent as chunks while it fills, so memory is bounded by the chunk size while one commit, and so one version,
can hold far more rows than fit in memory.

The trade-off, and why plain Stream Load is the default: a chunk whose `load` call fails cannot be resent
(the transaction may hold part of it) and its earlier chunks are no longer in memory, so the transaction is
rolled back and the sync fails with a transient error; the platform retries it from the last checkpoint,
which nothing after was released past. Nothing is lost or duplicated, but a plain Stream Load would simply
have retried in place.
"""

from __future__ import annotations

import logging
import time

import orjson
import requests

from destination_starrocks.errors import ConfigError, TransientError
from destination_starrocks.http_put import HopError, RedirectError, put_following_redirects
from destination_starrocks.stream_load import (
    COMMITTED_STATES,
    LoadRequest,
    LoadResult,
    StreamLoader,
)

logger = logging.getLogger("airbyte")

OK = "OK"


class TransactionLoader:
    """One open transaction per table at a time; the writer serialises a table's operations."""

    def __init__(self, loader: StreamLoader) -> None:
        self._loader = loader
        self._open: set[str] = set()  # labels begun and not yet committed or rolled back

    def supported(self) -> bool:
        """Does the server offer the transaction interface? (A begin without a label is refused harmlessly.)"""
        try:
            response = self._post("begin", {"db": "_airbyte_probe"})
        except requests.RequestException:
            return False
        if response.status_code in (404, 405, 501):
            return False
        try:
            return "Status" in response.json()
        except ValueError:
            return False

    def send(self, request: LoadRequest, commit: bool) -> LoadResult | None:
        """Send one chunk (if it has rows) into the request's transaction; commit it when asked."""
        started = time.monotonic()
        label = request.label
        try:
            if label not in self._open:
                self._begin(request)
            if request.rows:
                self._load_chunk(request)
            if not commit:
                return None
            status = self._commit(request)
        except BaseException:
            self._rollback(request)
            raise
        self._open.discard(label)
        return LoadResult(label, status, request.rows, 1, time.monotonic() - started, "transaction")

    def rollback(self, request: LoadRequest) -> bool:
        """Roll back the request's transaction if this loader began it and it is still open; True if it was
        (the writer's stop path on SIGTERM: an open transaction must not wait for its timeout)."""
        if request.label not in self._open:
            return False
        self._rollback(request)
        return True

    def _begin(self, request: LoadRequest) -> None:
        headers = {
            "label": request.label,
            "db": request.database,
            "table": request.table,
            "timeout": str(self._loader.config.load_timeout_seconds),
        }
        result = self._call("begin", headers, request)
        self._open.add(request.label)
        if result.get("Status") not in (OK,):
            raise TransientError(f"Could not begin transaction {request.label}: {result.get('Message')}")

    def _load_chunk(self, request: LoadRequest) -> None:
        headers = {
            **self._loader.load_headers(request),
            "db": request.database,
            "table": request.table,
        }
        try:
            answer = put_following_redirects(
                self._loader.fe_endpoint,
                "/api/transaction/load",
                headers,
                self._loader.encode(request.body),
                timeout=self._loader.config.load_timeout_seconds,
            )
        except (HopError, RedirectError) as exc:
            raise TransientError(
                f"A chunk of transaction {request.label} into {request.database}.{request.table} failed ({exc}); "
                "the transaction is rolled back and the sync will resume from the last checkpoint."
            ) from None
        if answer.status in (401, 403):
            raise ConfigError(f"StarRocks refused the transaction load credentials (HTTP {answer.status}).")
        result = _json(answer.body)
        if answer.status != 200 or result.get("Status") != OK:
            raise TransientError(
                f"A chunk of transaction {request.label} into {request.database}.{request.table} failed: "
                f"HTTP {answer.status} {result.get('Status')}: {result.get('Message')}"
            )

    def _commit(self, request: LoadRequest) -> str:
        headers = {"label": request.label, "db": request.database}
        for step in ("prepare", "commit"):
            try:
                result = self._call(step, headers, request)
            except TransientError:
                state = self._loader.settled_state(request.database, request.label)
                if state in COMMITTED_STATES:
                    return state
                raise
            message = str(result.get("Message") or "")
            if result.get("Status") == OK:
                continue
            if step == "commit" and "publish timeout" in message.lower():
                return "Publish Timeout"  # committed, visible later: never reload
            if step == "commit" and "already commit" in message.lower():  # StarRocks spells it "commited"
                return "Already Committed"
            raise TransientError(f"Transaction {request.label} {step} failed: {message}")
        return "Success"

    def _rollback(self, request: LoadRequest) -> None:
        if request.label not in self._open:
            return
        self._open.discard(request.label)
        try:
            self._call("rollback", {"label": request.label, "db": request.database}, request)
        except (TransientError, requests.RequestException) as exc:
            logger.warning("Rollback of transaction %s failed (it will time out): %s", request.label, exc)

    def _call(self, op: str, headers: dict[str, str], request: LoadRequest) -> dict:
        try:
            response = self._post(op, headers)
        except requests.RequestException as exc:
            raise TransientError(
                f"Transaction {op} for {request.database}.{request.table} (label {request.label}) failed: "
                f"{type(exc).__name__}"
            ) from None
        if response.status_code in (401, 403):
            raise ConfigError(
                f"StarRocks refused the transaction {op} credentials (HTTP {response.status_code})."
            )
        return _json(response.content)

    def _post(self, op: str, headers: dict[str, str]) -> requests.Response:
        return self._loader.session.post(
            f"{self._loader.fe_url}/api/transaction/{op}",
            headers=headers,
            timeout=60,
            verify=self._loader.verify,
        )


def _json(body: bytes) -> dict:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {"Status": "FAILED", "Message": body[:300].decode("utf-8", "replace")}
    return value if isinstance(value, dict) else {"Status": "FAILED", "Message": str(value)[:300]}
