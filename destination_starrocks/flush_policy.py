"""When to flush what: the one place that decides when a stream's buffer becomes a Stream Load.

Pure decisions over plain numbers, no threads and no I/O, so every rule is unit-testable. The rules:

- **size**: a buffer reaching `batch_size` rows or `batch_bytes` bytes is flushed (checked per record, cheaply);
- **age**: a buffer whose oldest record is `flush_interval_seconds` old is flushed. Every STATE waits only for
  records older than itself, so a STATE is held at most one interval (plus the load's own time), and a
  source that sends a STATE after every record still causes at most one load per table per interval;
- **state**: with `flush_interval_seconds == 0` every STATE flushes the streams it covers at once (the
  literal "flush on every checkpoint" behaviour, for users who want it);
- **memory**: when buffered plus in-flight bytes exceed the budget, the largest buffers are flushed first
  until the buffered bytes fall under the low-water mark (the writer then waits for loads to finish if
  in-flight bytes alone still exceed the budget);
- **end**: at end of input everything is flushed.

(The shape follows the StarRocks stream-load SDK's flush strategy: commit what is old enough, else flush the
single largest region when over the byte cap.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from destination_starrocks.spec import StarRocksConfig

StreamKey = tuple[str | None, str]
# After a memory flush, buffered bytes should be at most this share of the budget: flushing just enough
# to dip under the budget would flush again on the next record.
LOW_WATER_FRACTION = 0.5


class Reason(StrEnum):
    ROWS = "rows"
    BYTES = "bytes"
    AGE = "age"
    STATE = "state"
    MEMORY = "memory"
    STREAM_COMPLETE = "stream_complete"
    END = "end_of_input"


@dataclass(frozen=True)
class FlushLimits:
    batch_size: int
    batch_bytes: int
    interval_seconds: float
    budget_bytes: int

    @classmethod
    def from_config(cls, config: StarRocksConfig) -> FlushLimits:
        # One batch may not take more than half the budget, or two streams could not both be buffering.
        batch_bytes = min(config.batch_bytes, config.max_buffer_bytes // 2)
        return cls(config.batch_size, batch_bytes, config.flush_interval_seconds, config.max_buffer_bytes)


@dataclass(frozen=True)
class BufferView:
    """What the policy needs to know of one stream's buffer."""

    stream: StreamKey
    rows: int
    memory_bytes: int
    oldest: float | None  # monotonic time of the oldest buffered record, None when empty


def size_reason(limits: FlushLimits, rows: int, nbytes: int, row_limit: int | None = None) -> Reason | None:
    """Is this buffer full? `row_limit`: rows left in an open transaction's batch (default batch_size)."""
    if rows >= (limits.batch_size if row_limit is None else row_limit):
        return Reason.ROWS
    if nbytes >= limits.batch_bytes:
        return Reason.BYTES
    return None


def due_by_age(limits: FlushLimits, buffers: Iterable[BufferView], now: float) -> list[StreamKey]:
    if limits.interval_seconds <= 0:
        return []
    return [b.stream for b in buffers if b.oldest is not None and now - b.oldest >= limits.interval_seconds]


def due_on_state(limits: FlushLimits, covered: Iterable[StreamKey]) -> list[StreamKey]:
    """Streams to flush right away because a STATE arrived (only with a zero interval)."""
    return list(covered) if limits.interval_seconds <= 0 else []


def due_by_memory(limits: FlushLimits, buffers: Iterable[BufferView], inflight_bytes: int) -> list[StreamKey]:
    """Largest buffers first, until buffered bytes are under the low-water mark, when over budget."""
    views = [b for b in buffers if b.rows > 0]
    buffered = sum(b.memory_bytes for b in views)
    if buffered + inflight_bytes <= limits.budget_bytes:
        return []
    target = limits.budget_bytes * LOW_WATER_FRACTION
    out: list[StreamKey] = []
    for view in sorted(views, key=lambda b: b.memory_bytes, reverse=True):
        if buffered <= target:
            break
        out.append(view.stream)
        buffered -= view.memory_bytes
    return out


def seconds_until_next_age_flush(
    limits: FlushLimits, buffers: Iterable[BufferView], now: float
) -> float | None:
    """How long the writer may wait for input before an age flush is due (None: no timer running)."""
    if limits.interval_seconds <= 0:
        return None
    oldest = [b.oldest for b in buffers if b.oldest is not None]
    if not oldest:
        return None
    return max(0.0, min(oldest) + limits.interval_seconds - now)
