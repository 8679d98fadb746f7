"""Loading table by table: what a stream's flush becomes when no transaction spans tables.

Plain Stream Load: every flush is one load (one label, one transaction, one version), cut at the stream's last
STATE for size, memory and age flushes (`_aligns`, buffer.py `seal_at_state`) so the STATE can leave the moment
the load commits. With the transaction interface (transaction_load.py): size and memory flushes are chunks of
the table's open transaction, and every other flush, or a transaction reaching `batch_size` rows, commits it
(one label per transaction, numbered per stream). Every sealed load goes on the stream's own lane of the load
scheduler, so a stream's loads commit in order. The writer (writer.py) routes a flush here, or to
checkpoint_span.py while one transaction per checkpoint spans the tables.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from destination_starrocks.buffer import Batch
from destination_starrocks.checkpoints import CheckpointLedger
from destination_starrocks.flush_policy import Reason
from destination_starrocks.labels import batch_label
from destination_starrocks.load_scheduler import LoadScheduler
from destination_starrocks.stream_load import LoadRequest

logger = logging.getLogger("airbyte")

TableKey = tuple[str, str]


class TableLoads:
    def __init__(
        self,
        label_prefix: str,
        run_token: str,
        transactions: bool,
        ledger: CheckpointLedger,
        loads: LoadScheduler,
        on_sealed: Callable[[TableKey], None],
    ) -> None:
        self._prefix, self._run_token = label_prefix, run_token
        self._transactions = transactions
        self._ledger = ledger
        self._loads = loads
        self._on_sealed = on_sealed  # a load that commits was sealed: one more version on its way

    def seal(self, runtime: Any, reason: Reason | None) -> None:
        """Seal the stream's buffer (`runtime`: a writer.StreamRuntime) as its next load and send it."""
        buffer = runtime.buffer
        commit = True
        if self._transactions and reason in (Reason.BYTES, Reason.MEMORY):
            # A chunk of the open transaction, unless the transaction has reached batch_size rows.
            commit = runtime.txn_records + buffer.records >= runtime.limits.batch_size
        if buffer.is_empty() and not (commit and runtime.txn_records):
            return
        oldest = buffer.oldest
        received = self._ledger.received[runtime.key]
        if not self._transactions and _aligns(runtime, reason):
            batch = buffer.seal_at_state(received)
        else:
            batch = buffer.seal(received)
        number = runtime.txn_number if self._transactions else batch.seq
        batch = replace(batch, label=self.label(runtime, number), commit=commit)
        if self._transactions:
            if commit:
                runtime.txn_number += 1
                runtime.txn_records, runtime.txn_oldest = 0, None
            else:
                runtime.txn_records += batch.records
                if runtime.txn_oldest is None:
                    runtime.txn_oldest = oldest
            runtime.row_limit = runtime.limits.batch_size - runtime.txn_records
        logger.debug(
            "Sealed %s for %s: %d rows, %d bytes (%s)",
            "a load" if commit else "a transaction chunk",
            ".".join(part for part in runtime.key if part),
            batch.row_count,
            batch.nbytes,
            reason,
        )
        self._loads.add(runtime, batch)
        if commit:
            self._on_sealed(runtime.table_key)
        self._loads.submit(runtime)

    def committed(self, runtime: Any, batch: Batch) -> bool:
        """A load of the stream ended without an error; True if it committed (False: a transaction chunk)."""
        if not batch.commit:
            return False
        self._ledger.batch_committed(runtime.key, batch.received_through)
        return True

    def label(self, runtime: Any, number: int) -> str:
        target = runtime.target
        return batch_label(self._prefix, target.database, target.load_table, self._run_token, number)

    def roll_back(self, runtime: Any, rollback: Callable[[LoadRequest], bool]) -> list[str]:
        """Roll back the stream's transactions that may be open (the stop path); what was rolled back."""
        target = runtime.target
        labels = {runtime.inflight.label} if runtime.inflight is not None else set()
        if runtime.txn_records:
            labels.add(self.label(runtime, runtime.txn_number))
        done = []
        for label in sorted(labels):
            if rollback(LoadRequest(target.database, target.load_table, label, b"", 0, target.headers)):
                done.append(f"{target.database}.{target.load_table} (label {label})")
        return done


def _aligns(runtime: Any, reason: Reason | None) -> bool:
    """Cut at the last STATE for size, memory and age flushes (not at the end or on request); for an age
    flush only if what stays behind will not itself be due at once (one load per table per interval)."""
    if reason in (Reason.ROWS, Reason.BYTES, Reason.MEMORY):
        return True
    mark_time = runtime.buffer.mark_time
    if reason is Reason.AGE and mark_time is not None:
        return time.monotonic() - mark_time < runtime.interval_seconds
    return False
