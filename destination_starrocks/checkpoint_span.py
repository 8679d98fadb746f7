"""One transaction per checkpoint across tables (StarRocks 4.0 multi-table transactions, multi_table_load.py).

A GLOBAL (or LEGACY) STATE covers every stream. Loading each table in transactions of its own lets a reader see
`orders` at checkpoint N and `order_items` at N-1, and a connector killed between two tables' commits leaves
some tables committed past the last STATE it echoed. Here the rows of every table up to a checkpoint are ONE
transaction: its *span* is every record received after the last committed checkpoint, sent as chunks while
buffers fill (`batch_size`, `batch_bytes` and the memory budget still bound every chunk), then one commit at a
STATE; that STATE, and every earlier one, leaves once the commit is confirmed.

When the span commits (`_due`), so that a waiting STATE's time bound still holds:
- when its oldest record is as old as the longest effective flush interval of the tables it holds rows for.
  One commit is one version on every table in it, so a table slowed down for version pressure
  (pressure_control.py) sets the pace of all: the longest interval and the largest batch apply, and a STATE
  waits at most max(flush_interval_seconds, MAX_SLOWED_INTERVAL_SECONDS) plus the commit;
- when it holds a batch (the largest `batch_size` of those tables), when memory is over the budget, when half
  of the transaction's `timeout` (`load_timeout_seconds`) has passed since its first chunk; at every STATE
  when the interval is zero; at the end of a stream or of the input. Never while the previous transaction's
  commit is still on its way: under load the span grows instead of commits queuing up.
Where it is cut: at a STATE. A source sending a STATE per record thus gets one transaction per interval
covering many STATEs, committed at the last one. When a STATE arrives everything received is before it, so
the span is committed whole. On the timer it is cut at the last STATE received (`_cut`): a plain buffer exactly
at that STATE's mark (`seal_at_state`), a dedup buffer (one row per key, merged across STATEs) only when all
its records are on one side of it. When no cut is possible (a dedup buffer straddles the last STATE, or a chunk
already holds records after it) the commit waits for the next STATE, at most one more interval; then all
that was received is committed (`forced`: nothing lost, but a kill before the next STATE leaves rows past the
last echoed one, as loading table by table does).

Nothing here sends anything: chunks and commits go on one lane of the load scheduler (load_scheduler.py), so a
transaction's operations are sent one at a time and in order (StarRocks documents concurrent writes "from one
client" only), and transactions follow each other.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Protocol

from destination_starrocks.buffer import Batch, TableBuffer
from destination_starrocks.checkpoints import CheckpointLedger, StreamKey
from destination_starrocks.flush_policy import StreamLimits
from destination_starrocks.labels import MAX_LABEL_LENGTH
from destination_starrocks.load_scheduler import LoadScheduler
from destination_starrocks.stream_load import LoadRequest, LoadResult

logger = logging.getLogger("airbyte")

TableKey = tuple[str, str]
# Commit before the transaction's own timeout (StarRocks aborts it then): at this share of it.
TIMEOUT_SHARE = 0.5


def checkpoint_label(prefix: str, database: str, run_token: str, number: int) -> str:
    """`<prefix>-ckpt-<db hash>-<run>-<n>`: never a table's label (labels.py tags tables `<slug>_<hash>`,
    never with a '-'), fixed before the transaction begins and never reused for other rows."""
    digest = hashlib.blake2b(database.encode(), digest_size=4).hexdigest()
    label = f"{prefix}-ckpt-{digest}-{run_token}-{number}"
    assert len(label) <= MAX_LABEL_LENGTH, label
    return label


class Stream(Protocol):
    """What writer.StreamRuntime offers."""

    key: StreamKey
    buffer: TableBuffer
    limits: StreamLimits

    @property
    def dedup(self) -> bool: ...
    @property
    def table_key(self) -> TableKey: ...
    @property
    def interval_seconds(self) -> float: ...


class Cut(Enum):
    ALL = "all"  # every buffered record is before the STATE
    NONE = "none"  # every buffered record is after it
    AT_MARK = "at_mark"  # a plain buffer cut exactly at the STATE's mark
    IMPOSSIBLE = "impossible"  # a dedup buffer with records on both sides


def cut_for(records_after: int, buffered: int, dedup: bool) -> Cut:
    """How a buffer of `buffered` records, `records_after` of which arrived after the STATE, is cut there."""
    if records_after <= 0:
        return Cut.ALL
    if records_after >= buffered:
        return Cut.NONE
    return Cut.IMPOSSIBLE if dedup else Cut.AT_MARK


@dataclass
class CheckpointLane:
    """The scheduler's lane of the checkpoint transactions: one operation at a time, in order."""

    name: str
    waiting: deque = field(default_factory=deque)
    inflight: Any = None


@dataclass(frozen=True)
class CheckpointCommit:
    """The commit of one checkpoint transaction, queued after its chunks."""

    label: str
    database: str
    tables: tuple[str, ...]  # tables loaded into (Stream Load names)
    through: dict[StreamKey, int]  # per stream, the received count this transaction completes
    rows: dict[StreamKey, int]  # records per stream in it
    chunks: int
    nbytes: int  # of its chunks
    forced: bool = False  # not cut at a STATE (see the module's docstring)
    memory_bytes: int = 0


@dataclass
class _Span:
    """The open transaction's chunks so far."""

    rows: dict[StreamKey, int] = field(default_factory=dict)
    sent_through: dict[StreamKey, int] = field(default_factory=dict)
    tables: dict[str, None] = field(default_factory=dict)  # in order of first chunk
    chunks: int = 0
    nbytes: int = 0
    oldest: float | None = None  # arrival of its oldest record
    opened_at: float | None = None  # its first chunk
    due_since: float | None = None  # when it was first due and could not be cut


class CheckpointTransactions:
    """The checkpoint transactions of one sync into one database (see the module's docstring)."""

    def __init__(
        self,
        database: str,
        label_prefix: str,
        run_token: str,
        timeout_seconds: float,
        streams: Iterable[Stream],
        ledger: CheckpointLedger,
        loads: LoadScheduler,
        on_sealed: Callable[[TableKey], None],
    ) -> None:
        self.database = database
        self.lane = CheckpointLane(f"{database} (one transaction per checkpoint)")
        self._prefix, self._run_token = label_prefix, run_token
        self._timeout = timeout_seconds
        self._streams = list(streams)
        self._ledger = ledger
        self._loads = loads
        self._on_sealed = on_sealed  # a commit was sealed: one more version of each table on its way
        self._number = 1
        self._committing = 0  # commits queued or in flight on the lane
        self._span = _Span()
        self._last_state: dict[StreamKey, int] | None = None  # needs of the last GLOBAL state received

    @property
    def label(self) -> str:
        """The open transaction's label (fixed before its first operation)."""
        return checkpoint_label(self._prefix, self.database, self._run_token, self._number)

    # ---- filling the span ----------------------------------------------------------------------------

    def chunk(self, stream: Stream) -> None:
        """A stream's buffer is full: send what it holds up to its last STATE mark (all of it if the mark holds
        less than half) as a chunk of the open transaction."""
        buffer = stream.buffer
        if not buffer.is_empty():
            oldest = buffer.oldest
            self._add(stream, buffer.seal_at_state(self._ledger.received[stream.key]), oldest)

    def _add(self, stream: Stream, batch: Batch, oldest: float | None) -> None:
        span, now = self._span, time.monotonic()
        span.rows[stream.key] = span.rows.get(stream.key, 0) + batch.records
        span.sent_through[stream.key] = batch.received_through
        span.tables[stream.table_key[1]] = None
        span.chunks += 1
        span.nbytes += batch.nbytes
        span.oldest = min(span.oldest or now, oldest or now)
        span.opened_at = span.opened_at or now
        self._loads.add(self.lane, replace(batch, label=self.label, commit=False))
        self._loads.submit(self.lane)

    # ---- committing it -------------------------------------------------------------------------------

    def on_state(self, needs: dict[StreamKey, int], memory_over: bool) -> None:
        """A GLOBAL (or LEGACY) STATE arrived: everything received is before it; commit the span if due."""
        self._last_state = needs
        if self._has_rows() and self._due(time.monotonic(), memory_over, at_state=True):
            self.commit(None)

    def tick(self, now: float, memory_over: bool) -> None:
        """Between blocks of input: commit the span at the last STATE if it is due; if it cannot be cut there,
        wait for the next STATE, at most one more interval, then commit all of it."""
        if not self._has_rows() or not self._due(now, memory_over, at_state=False):
            self._span.due_since = None
            return
        if self._last_state is not None and self.commit(self._last_state):
            return
        span = self._span
        span.due_since = span.due_since or now
        if now - span.due_since >= self._grace():
            logger.info(
                "Committing checkpoint transaction %s without a STATE to cut at (a dedup stream holds records "
                "on both sides of the last one, or no STATE came for %.0fs): the next STATE leaves when it "
                "arrives.",
                self.label,
                now - span.due_since,
            )
            self.commit(None, forced=True)

    def commit(self, needs: dict[StreamKey, int] | None, forced: bool = False) -> bool:
        """Seal the span up to the STATE whose received counts are `needs` (None: everything received) and
        queue its commit; False (nothing sealed) when it cannot be cut there."""
        plan = []
        for stream in self._streams:
            received = self._ledger.received[stream.key]
            target = received if needs is None else min(needs.get(stream.key, received), received)
            if self._span.sent_through.get(stream.key, 0) > target:
                return False
            cut = cut_for(received - target, stream.buffer.records, stream.dedup)
            if cut is Cut.IMPOSSIBLE:
                return False
            plan.append((stream, received, target, cut))
        for stream, received, target, cut in plan:
            buffer, oldest = stream.buffer, stream.buffer.oldest
            if cut is Cut.ALL and not buffer.is_empty():
                self._add(stream, buffer.seal(received), oldest)
            elif cut is Cut.AT_MARK:
                batch = buffer.seal_at_state(received, min_share=0.0)
                assert batch.received_through == target, (stream.key, batch.received_through, target)
                self._add(stream, batch, oldest)
        span = self._span
        if span.chunks:
            through = {stream.key: target for stream, _, target, _ in plan}
            tables = tuple(span.tables)
            self._loads.add(
                self.lane,
                CheckpointCommit(
                    self.label, self.database, tables, through, dict(span.rows), span.chunks, forced
                ),
            )
            for stream in self._streams:
                if stream.key in span.rows:
                    self._on_sealed(stream.table_key)
            self._loads.submit(self.lane)
            self._number += 1
            self._committing += 1
        self._span = _Span()
        return True

    def commit_sent(self) -> None:
        """Commit what the open transaction's chunks hold, leaving the buffers as they are (the sync goes on
        loading table by table: its STATEs are not GLOBAL ones)."""
        if self._span.chunks:
            sent = self._span.sent_through
            needs = {s.key: sent.get(s.key, self._ledger.committed[s.key]) for s in self._streams}
            assert self.commit(needs), "a cut at what was sent leaves every buffer whole"

    def committed(self, commit: CheckpointCommit, result: LoadResult) -> None:
        """On the loop's thread: the transaction is committed; its checkpoint's records are in every table."""
        self._committing -= 1
        for key, through in commit.through.items():
            self._ledger.batch_committed(key, through)
        per_table = ", ".join(
            f"{commit.rows[s.key]} into {s.table_key[1]}" for s in self._streams if s.key in commit.rows
        )
        logger.info(
            "Committed checkpoint transaction %s into %s: %s rows (%s) in %d chunk(s), one version per table%s "
            "(%s, %d attempt(s), %.2fs)",
            commit.label,
            commit.database,
            sum(commit.rows.values()),
            per_table,
            commit.chunks,
            ", not cut at a STATE" if commit.forced else "",
            result.status,
            result.attempts,
            result.seconds,
        )

    def roll_back(self, rollback: Callable[[LoadRequest], bool]) -> list[str]:
        """Roll back the checkpoint transactions that may be open (the stop path); what was rolled back."""
        labels = {self.lane.inflight.label} if self.lane.inflight is not None else set()
        if self._span.chunks:
            labels.add(self.label)
        return [
            f"{self.database} (checkpoint transaction {label})"
            for label in sorted(labels)
            if rollback(LoadRequest(self.database, "", label, b"", 0))
        ]

    # ---- when --------------------------------------------------------------------------------------------

    def seconds_until_due(self, now: float) -> float | None:
        """How long the loop may wait for input before the span may be due or forced (None: no timer; while a
        commit is on its way, its end wakes the loop)."""
        if not self._has_rows() or self._committing:
            return None
        span = self._span
        if span.due_since is not None:
            return max(0.0, span.due_since + self._grace() - now)
        oldest = self._oldest()
        interval = self._interval()
        if oldest is None or interval <= 0:
            return None
        return max(0.0, oldest + interval - now)

    def _due(self, now: float, memory_over: bool, at_state: bool) -> bool:
        span = self._span
        if self._committing:
            # The previous transaction's commit is still on its way: this one grows meanwhile (one lane, one
            # operation at a time, so a second commit would only queue behind it and its chunks).
            return False
        if memory_over:
            return True
        if span.opened_at is not None and now - span.opened_at >= TIMEOUT_SHARE * self._timeout:
            return True
        interval, oldest = self._interval(), self._oldest()
        if interval <= 0:
            return at_state  # flush on every STATE
        if oldest is not None and now - oldest >= interval:
            return True
        holding = self._holding()
        rows = sum(span.rows.values()) + sum(s.buffer.records for s in holding)
        return rows >= max((s.limits.batch_size for s in holding), default=0) > 0

    def _holding(self) -> list[Stream]:
        return [s for s in self._streams if s.key in self._span.rows or not s.buffer.is_empty()]

    def _interval(self) -> float:
        return max((s.interval_seconds for s in self._holding()), default=0.0)

    def _grace(self) -> float:
        """How long a due span waits for a STATE to cut at: one more interval (1 s with a zero interval)."""
        return self._interval() or 1.0

    def _oldest(self) -> float | None:
        times = [t for t in [self._span.oldest, *(s.buffer.oldest for s in self._streams)] if t is not None]
        return min(times, default=None)

    def _has_rows(self) -> bool:
        return bool(self._span.chunks) or any(not s.buffer.is_empty() for s in self._streams)
