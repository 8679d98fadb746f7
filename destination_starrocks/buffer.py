"""Per-stream buffers of already-serialised rows, with row and byte accounting.

A record is serialised once (by the stream's RowShaper) and appended to its stream's buffer, which *is* the
next Stream Load body: one growing JSON array in a bytearray (the load sends `strip_outer_array: true`).
Keeping each row as its own bytes object costs more than parsing the JSON (an allocation per row that stays
alive until the load); appending into one buffer costs a memcpy, and sealing hands the buffer over without
copying it. Rows are appended to a small chunk first, which is copied into the body every CHUNK_BYTES: the
body's memory then comes from body_memory.py, written again after an earlier load instead of freshly
faulted in (the chunk keeps the per-row append a bytearray `+=`).

Dedup (Primary Key) streams keep one row per key instead: the row with the largest cursor, the later record
on ties, so "within one load, the last record per key wins" and an out-of-order older record in the same
batch cannot replace a newer one (StarRocks' `merge_condition` guards across loads).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from destination_starrocks.body_memory import BodyPool

StreamKey = tuple[str | None, str]
# Per-row overhead of a dedup buffer beyond the row's bytes (dict entry, tuple, bytes header).
KEYED_ROW_OVERHEAD_BYTES = 120
COMMA, OPEN, CLOSE = 44, b"[", 93
# Rows gathered before they go into the body in one copy: under glibc's fixed mmap threshold (128 KiB,
# write_command.py), so the chunk's memory is the heap's, freed and reused without new page faults; large
# enough that the copy is rare (about 110 bulk rows).
CHUNK_BYTES = 1 << 16


@dataclass(frozen=True)
class Batch:
    """A sealed buffer: the unit of one Stream Load (one label, one transaction, one version)."""

    stream: StreamKey
    seq: int  # 1, 2, ... per stream and run
    body: bytes | bytearray | memoryview  # a JSON array of rows, ready to send
    row_count: int
    records: int  # records this batch accounts for (>= row_count when dedup merged some)
    received_through: int  # the stream's received-record count this batch completes
    label: str = ""  # set by the writer before the batch is sent
    commit: bool = True  # False: a chunk of a transaction that a later batch commits

    @property
    def nbytes(self) -> int:
        return len(self.body)

    @property
    def memory_bytes(self) -> int:
        return len(self.body)


class TableBuffer:
    """Rows waiting for one stream's next load."""

    __slots__ = (
        "stream", "records", "oldest", "_chunk", "_body", "_size", "_bodies", "_last_body",
        "_keyed", "_keyed_bytes", "_seq", "_mark",
    )  # fmt: skip

    def __init__(self, stream: StreamKey, dedup: bool, bodies: BodyPool | None = None) -> None:
        self.stream = stream
        # The rows are "[row,row,...," (the trailing comma becomes "]" when sealed): the first `_size` bytes
        # of `_body` (past them, stale bytes of the body's earlier load), then `_chunk`.
        self._chunk = bytearray(OPEN)
        self._body: bytearray | None = None
        self._size = 0
        self._bodies = bodies if bodies is not None else BodyPool()
        self._last_body = 0  # bytes of the last sealed body: the size of body to take for the next one
        self.records = 0  # records accounted for; without dedup also the rows buffered (one per record)
        self.oldest: float | None = None  # monotonic time of the oldest buffered record
        self._keyed: dict[Any, tuple[Any, bytes]] | None = {} if dedup else None
        self._keyed_bytes = 0
        self._seq = 0
        # (bytes, rows, monotonic time) when the last STATE covering this stream arrived.
        self._mark: tuple[int, int, float] | None = None

    def add(self, row: bytes) -> int:
        """Append a row; returns the buffer's size in bytes (the per-record flush check needs it)."""
        if self.oldest is None:
            self.oldest = time.monotonic()
        chunk = self._chunk
        chunk += row
        chunk.append(COMMA)
        self.records += 1
        size = len(chunk)
        if size < CHUNK_BYTES:
            return self._size + size
        return self._spill()

    def _spill(self) -> int:
        """Copy the chunk into the body; returns the rows' size in bytes."""
        chunk = self._chunk
        body = self._body
        if body is None:
            body = self._body = self._bodies.take(self._last_body)
        start = self._size
        end = start + len(chunk)
        if end <= len(body):
            body[start:end] = chunk  # over stale bytes: memory already faulted in
        else:
            del body[start:]
            body += chunk
        self._size = end
        self._chunk = bytearray()
        return end

    def _take_body(self) -> bytearray:
        """The rows as one bytearray of exactly their size; the buffer starts without a body."""
        self._spill()
        body = self._body
        assert body is not None
        del body[self._size :]
        self._body = None
        self._size = 0
        self._last_body = len(body)
        return body

    @property
    def data(self) -> bytes:
        """A copy of the rows, "[row,row,...," (tests read it; the writer never does)."""
        body = b"" if self._body is None else bytes(memoryview(self._body)[: self._size])
        return body + self._chunk

    def add_keyed(self, key: Any, cursor: Any, row: bytes) -> int:
        """Dedup streams: keep the row with the largest cursor per key (the later one on ties; no cursor is
        smaller than any cursor). Returns `nbytes` (the per-record flush check needs it)."""
        if self.oldest is None:
            self.oldest = time.monotonic()
        keyed = self._keyed
        assert keyed is not None
        self.records += 1
        old = keyed.get(key)
        if old is not None:
            old_cursor, old_row = old
            # A record without a usable cursor ranks below any record with one; equal cursors: later wins.
            if old_cursor is not None and (cursor is None or _older(cursor, old_cursor)):
                return self._keyed_bytes
            self._keyed_bytes -= len(old_row)
        # orjson returns bytes in an allocation of at least ~4 KiB whatever their length; a row kept until its
        # load must be copied to its own size, or a 500-byte row holds 4 KiB (measured: 865 MB RSS on a 256 MB
        # budget in the dedup benchmark before this copy).
        keyed[key] = (cursor, bytes(memoryview(row)))
        self._keyed_bytes += len(row) + 1
        return self._keyed_bytes

    @property
    def nbytes(self) -> int:
        return self._keyed_bytes if self._keyed is not None else self._size + len(self._chunk)

    @property
    def row_count(self) -> int:
        return len(self._keyed) if self._keyed is not None else self.records

    @property
    def memory_bytes(self) -> int:
        if self._keyed is not None:
            return self._keyed_bytes + KEYED_ROW_OVERHEAD_BYTES * len(self._keyed)
        # A reused body holds all its memory from the start, stale bytes too.
        held = self._size if self._body is None else max(self._size, len(self._body))
        return held + len(self._chunk)

    def is_empty(self) -> bool:
        return self.records == 0

    def mark_state(self) -> None:
        """A STATE covering this stream arrived: remember where it falls in the buffer."""
        if self._keyed is None and self.records:
            self._mark = (self._size + len(self._chunk), self.records, time.monotonic())

    @property
    def mark_time(self) -> float | None:
        return self._mark[2] if self._mark is not None else None

    def seal_at_state(self, received_through: int, min_share: float = 0.5) -> Batch:
        """Seal up to the last STATE mark when it holds at least `min_share` of the rows, else everything.

        A batch that ends exactly at a STATE lets that STATE leave the moment the batch commits, so a connector
        killed afterwards has no committed records beyond its last echoed STATE: the source's replay after a
        restart then duplicates nothing. Rows after the mark stay buffered, in order, for the next batch.
        """
        mark = self._mark
        if mark is None or mark[1] == self.records or mark[1] < min_share * self.records:
            return self.seal(received_through)
        size_at, rows_at, marked_at = mark
        # Copy only what follows the STATE (usually little); the batch keeps the body itself, cut short.
        data = self._take_body()
        rest = bytearray(OPEN)
        rest += memoryview(data)[size_at:]
        data[size_at - 1] = CLOSE
        head = self._bodies.lend(data)[:size_at]
        self._chunk = rest
        self._seq += 1
        left = self.records - rows_at
        batch = Batch(self.stream, self._seq, head, rows_at, rows_at, received_through - left)
        self.records = left
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
            body: bytes | bytearray | memoryview = b"[" + b",".join(rows) + b"]"
            count = len(rows)
            self._keyed = {}
            self._keyed_bytes = 0
        else:
            count = self.records
            if count:
                data = self._take_body()
                data[-1] = CLOSE
                body = self._bodies.lend(data)
            else:
                body = b"[]"
            self._chunk = bytearray(OPEN)
        batch = Batch(self.stream, self._seq, body, count, self.records, received_through)
        self.records = 0
        self.oldest = None
        return batch


def _older(cursor: Any, other: Any) -> bool:
    """True when `cursor` sorts before `other`; values of different types are not compared (keep the later)."""
    try:
        return bool(cursor < other)
    except TypeError:
        return False
