"""Per-stream buffers of already-serialised rows, with row and byte accounting.

A record is serialised once (by the stream's RowShaper) and its bytes sit here until the flush policy seals
the buffer into a `Batch`; a batch's body is the rows joined into one JSON array, built once, right before it
is sent. Dedup (Primary Key) streams keep one row per key: the row with the largest cursor, the later record
on ties, so "within one load, the last record per key wins" and an out-of-order older record in the same
batch cannot replace a newer one (StarRocks' `merge_condition` guards across loads).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

StreamKey = tuple[str | None, str]
# Per-row overhead counted against the memory budget beyond the row's bytes (list slot, bytes header).
ROW_OVERHEAD_BYTES = 40


@dataclass(frozen=True)
class Batch:
    """A sealed buffer: the unit of one Stream Load (one label, one transaction, one version)."""

    stream: StreamKey
    seq: int  # 1, 2, ... per stream and run: part of the label
    rows: list[bytes]
    nbytes: int
    records: int  # records this batch accounts for (>= len(rows) when dedup merged some)
    received_through: int  # the stream's received-record count this batch completes
    label: str = ""  # set by the writer before the batch is sent
    commit: bool = True  # False: a chunk of a transaction that a later batch commits

    def body(self) -> bytes:
        """The Stream Load body: one JSON array (the load uses `strip_outer_array: true`)."""
        return b"[" + b",".join(self.rows) + b"]"

    @property
    def memory_bytes(self) -> int:
        return self.nbytes + ROW_OVERHEAD_BYTES * len(self.rows)


class TableBuffer:
    """Rows waiting for one stream's next load."""

    __slots__ = ("stream", "rows", "nbytes", "records", "oldest", "_keyed", "_seq", "_mark")

    def __init__(self, stream: StreamKey, dedup: bool) -> None:
        self.stream = stream
        self.rows: list[bytes] = []
        self.nbytes = 0
        self.records = 0
        self.oldest: float | None = None  # monotonic time of the oldest buffered record
        self._keyed: dict[Any, tuple[Any, bytes]] | None = {} if dedup else None
        self._seq = 0
        # (rows, bytes, records, monotonic time) when the last STATE covering this stream arrived.
        self._mark: tuple[int, int, int, float] | None = None

    def add(self, row: bytes) -> None:
        if self.oldest is None:
            self.oldest = time.monotonic()
        self.rows.append(row)
        self.nbytes += len(row)
        self.records += 1

    def add_keyed(self, key: Any, cursor: Any, row: bytes) -> None:
        """Dedup streams: keep the row with the largest cursor per key (the later one on ties)."""
        if self.oldest is None:
            self.oldest = time.monotonic()
        keyed = self._keyed
        assert keyed is not None
        self.records += 1
        old = keyed.get(key)
        if old is not None:
            old_cursor, old_row = old
            if cursor is not None and old_cursor is not None and _older(cursor, old_cursor):
                return
            self.nbytes -= len(old_row)
        keyed[key] = (cursor, row)
        self.nbytes += len(row)

    @property
    def row_count(self) -> int:
        return len(self._keyed) if self._keyed is not None else len(self.rows)

    @property
    def memory_bytes(self) -> int:
        return self.nbytes + ROW_OVERHEAD_BYTES * self.row_count

    def is_empty(self) -> bool:
        return self.records == 0

    def mark_state(self) -> None:
        """A STATE covering this stream arrived: remember where it falls in the buffer."""
        if self._keyed is None and self.rows:
            self._mark = (len(self.rows), self.nbytes, self.records, time.monotonic())

    @property
    def mark_time(self) -> float | None:
        return self._mark[3] if self._mark is not None else None

    def seal_at_state(self, received_through: int, min_share: float = 0.5) -> Batch:
        """Seal up to the last STATE mark when it holds at least `min_share` of the rows, else everything.

        A batch that ends exactly at a STATE lets that STATE leave the moment the batch commits, so a connector
        killed afterwards has no committed records beyond its last echoed STATE: the source's replay after a
        restart then duplicates nothing. Rows after the mark stay buffered, in order, for the next batch.
        """
        mark = self._mark
        if mark is None or mark[0] == len(self.rows) or mark[0] < min_share * len(self.rows):
            return self.seal(received_through)
        rows_at, bytes_at, records_at, marked_at = mark
        self._seq += 1
        head, self.rows = self.rows[:rows_at], self.rows[rows_at:]
        batch = Batch(
            self.stream, self._seq, head, bytes_at, records_at, received_through - (self.records - records_at)
        )
        self.nbytes -= bytes_at
        self.records -= records_at
        self._mark = None
        # The rest arrived after that STATE: its age is at most the STATE's, so the age rule stays safe.
        self.oldest = marked_at
        return batch

    def seal(self, received_through: int) -> Batch:
        """Hand the buffered rows over as a batch and start empty."""
        self._mark = None
        self._seq += 1
        if self._keyed is not None:
            rows = [row for _, row in self._keyed.values()]
            self._keyed = {}
        else:
            rows = self.rows
            self.rows = []
        batch = Batch(self.stream, self._seq, rows, self.nbytes, self.records, received_through)
        self.nbytes = 0
        self.records = 0
        self.oldest = None
        return batch


def _older(cursor: Any, other: Any) -> bool:
    """True when `cursor` sorts before `other`; values of different types are not compared (keep the later)."""
    try:
        return bool(cursor < other)
    except TypeError:
        return False
