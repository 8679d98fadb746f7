"""One transaction across several tables of one database (StarRocks 4.0): a checkpoint's rows, one commit.

What StarRocks documents and does (docs "Stream Load transaction interface", 4.0: "Multi-table Transaction";
fe `TransactionLoadAction`, `MultiStatementTransactionHandler`, `StreamLoadMultiStmtTask`):
- every operation carries `transaction_type: multi`; `begin` names the database, no table; each `load` names its
  table (several loads per table are chunks of that table's share); then `commit`. There is no `prepare` for
  these transactions (the FE answers "Unsupported operation: TXN_PREPARE"), so the commit goes straight from
  PREPARE; a failed load rolls the whole transaction back;
- the FE owns the transaction: begin, commit and rollback are answered by it, each load is redirected to the BE
  of its table. So every operation goes to the FE (`fe_endpoint`); with `load_urls` set (loads must go to the
  endpoints it names) checkpoint transactions are not used;
- `timeout` bounds the whole transaction (default 20 s, so it is always sent: `load_timeout_seconds`);
- a commit whose commit statement fails is rolled back while the answer stays OK (`commitTxn` sets no error on
  that path), so every commit, answered or not, is checked against the label's state, as the Flink SDK does for
  single-table ones: COMMITTED/VISIBLE is committed; PREPARE means the commit did not take place (or its answer
  was lost before it did): it is sent again, up to `max_retries`; ABORTED, UNKNOWN or an unreadable state fail
  the sync as transient (nothing of the transaction is released: the next attempt resumes from the last STATE
  that left, so a commit that did happen after all means duplicates, never a loss).
- a label of an aborted multi-table transaction stays taken while the FE keeps its task ("Transaction already
  started with label"): nothing is retried under the same label after a rollback, unlike the single-table loader
  (transaction_load.py) whose aborted label is free again.

The writer (writer.py, checkpoint_span.py) sends one operation of a transaction at a time and fixes its label
before the first; this class adds the protocol's differences to TransactionLoader's.
"""

from __future__ import annotations

import logging
import time

from destination_starrocks.errors import TransientError
from destination_starrocks.http_transport import Endpoint
from destination_starrocks.server_info import FEATURES, ServerInfo, uses_transactions
from destination_starrocks.spec import StarRocksConfig
from destination_starrocks.stream_load import (
    COMMITTED_STATES,
    LoadRequest,
    LoadResult,
    StreamLoader,
    backoff_delay,
)
from destination_starrocks.transaction_load import OK, TransactionLoader, _SlowDown

logger = logging.getLogger("airbyte")

MULTI_HEADERS = {"transaction_type": "multi"}
PREPARE = "PREPARE"  # get_load_state of a transaction begun and not committed (no PREPARED for these)


class MultiTableTransactionLoader(TransactionLoader):
    op_headers = MULTI_HEADERS

    def send(self, request: LoadRequest, commit: bool) -> LoadResult | None:
        """One chunk (`request.table`, `request.body`) into the transaction of `request.label`, beginning it on
        its first operation; with `commit`, the commit (a commit request carries no rows)."""
        try:
            return self._send_once(request, commit, time.monotonic())
        except _SlowDown as exc:
            raise TransientError(
                f"{exc}. StarRocks asks to slow down until compaction catches up; the checkpoint transaction "
                "is rolled back and the sync resumes from the last checkpoint on its next attempt."
            ) from None

    def _label_headers(self, request: LoadRequest) -> dict[str, str]:
        return {"label": request.label, "db": request.database, **self.op_headers}

    def _endpoint(self, op: str, request: LoadRequest) -> Endpoint:
        return self._loader.fe_endpoint

    def _finish(self, request: LoadRequest) -> tuple[str, int]:
        """Commit, then read the label's state whatever the answer said: (how it committed, attempts)."""
        attempts = 0
        while True:
            attempts += 1
            try:
                status, message, result = self._call("commit", request, self._label_headers(request))
            except TransientError as exc:
                status, message, result = "", str(exc), {}
            if status != OK:
                self._rejected(request, message, result)
            state = self._state(request)
            if state in COMMITTED_STATES:
                if status != OK:
                    logger.info(
                        "Commit of %s answered %r, but its label is %s: committed",
                        request.label,
                        message,
                        state,
                    )
                return ("Success" if status == OK else state), attempts
            said = f"{status or 'no answer'} {message}".rstrip()
            if state != PREPARE or attempts > self._loader.config.max_retries:
                raise TransientError(
                    f"Checkpoint transaction {request.label} in {request.database} did not commit (answer: "
                    f"{said}; label state {state or 'unknown'}); nothing after the last checkpoint is "
                    "released and the sync resumes from it on its next attempt."
                )
            delay = backoff_delay(attempts)
            logger.warning(
                "Commit of %s answered %s; the transaction is still open, committing again in %.1fs",
                request.label,
                said,
                delay,
            )
            time.sleep(delay)


def checkpoint_loader_for(
    config: StarRocksConfig, loader: StreamLoader, server: ServerInfo
) -> tuple[MultiTableTransactionLoader | None, str]:
    """The loader of checkpoint transactions when this sync may use them (`transaction_stream_load` auto or
    always, StarRocks 4.0+), else None and why not (the writer logs it once, at the first GLOBAL state)."""
    if config.transaction_stream_load == "never":
        return None, ""
    if config.load_urls:
        # Every operation of a multi-table transaction goes to the FE, which redirects each load to the BE of
        # its table: the very hop `load_urls` exists to avoid (a BE the connector cannot reach, or plain HTTP).
        return (
            None,
            "`load_urls` is set, and the loads of a multi-table transaction go where the FE sends them",
        )
    feature = FEATURES["multi_table_transaction"]
    supported = server.supports(feature.name)
    if supported and uses_transactions(config, server):
        return MultiTableTransactionLoader(loader), ""
    if supported is None:
        return (
            None,
            f"the StarRocks version is unknown ({server.answer!r}) and {feature.what} need {feature.since_text}+",
        )
    return None, f"{server.describe()} has no {feature.what} (StarRocks {feature.since_text}+, {feature.doc})"
