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
- **version pressure**: each stream has its own effective limits (`StreamLimits`): the configured ones while its
  table's version count is low; as the count (what StarRocks compares with `tablet_max_versions`) passes half
  of the `version_ceiling` share of that limit, the stream is slowed down in steps (`next_slowdown`), each
  step doubling its flush interval and its batch (`stream_limits`), the last step at the ceiling itself; it
  steps back down once compaction has brought the count well below a step's threshold. The interval never
  exceeds max(flush_interval_seconds, MAX_SLOWED_INTERVAL_SECONDS), so that bounds how long a STATE waits.

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
# Version pressure, as shares of the ceiling (version_ceiling x the table's version limit): the first slowdown
# step at SLOWDOWN_START, one more every SLOWDOWN_STEP, the last (MAX_SLOWDOWN) at the ceiling itself.
SLOWDOWN_START = 0.5
SLOWDOWN_STEP = 0.1
MAX_SLOWDOWN = 6
# Step down only once the count is this share of the ceiling below the step's threshold, so a table that
# hovers at a threshold does not switch every few seconds.
SPEEDUP_MARGIN = 0.25
# The interval that doubles per step when the configured one is shorter (0 = flush on every STATE).
SLOWED_BASE_INTERVAL_SECONDS = 1.0
# The longest a slowed-down stream waits between loads (unless the configured interval is longer): a STATE
# waits at most max(flush_interval_seconds, this) plus the load's own time.
MAX_SLOWED_INTERVAL_SECONDS = 300.0


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
    interval_seconds: float | None = None  # the stream's effective flush interval (None: the configured one)


@dataclass(frozen=True)
class PressurePolicy:
    """How far a table's version count may climb: `ceiling` x its version limit (0: never slow down)."""

    ceiling: float

    @classmethod
    def from_config(cls, config: StarRocksConfig) -> PressurePolicy:
        return cls(config.version_ceiling)


@dataclass(frozen=True)
class StreamLimits:
    """One stream's effective limits at a slowdown step (step 0: the configured ones)."""

    step: int
    batch_size: int
    batch_bytes: int
    interval_seconds: float


def size_reason(
    limits: FlushLimits, rows: int, nbytes: int, row_limit: int | None = None, byte_limit: int | None = None
) -> Reason | None:
    """Is this buffer full? `row_limit` / `byte_limit`: the stream's own (default batch_size / batch_bytes);
    in transaction mode `row_limit` is what is left of the open transaction's batch."""
    if rows >= (limits.batch_size if row_limit is None else row_limit):
        return Reason.ROWS
    if nbytes >= (limits.batch_bytes if byte_limit is None else byte_limit):
        return Reason.BYTES
    return None


def _interval(limits: FlushLimits, view: BufferView) -> float:
    return limits.interval_seconds if view.interval_seconds is None else view.interval_seconds


def due_by_age(limits: FlushLimits, buffers: Iterable[BufferView], now: float) -> list[StreamKey]:
    due = []
    for b in buffers:
        interval = _interval(limits, b)
        if interval > 0 and b.oldest is not None and now - b.oldest >= interval:
            due.append(b.stream)
    return due


def due_on_state(covered: Iterable[tuple[StreamKey, float]]) -> list[StreamKey]:
    """Streams to flush right away because a STATE arrived: those whose (effective) interval is zero."""
    return [stream for stream, interval in covered if interval <= 0]


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
    due = [
        b.oldest + _interval(limits, b) for b in buffers if b.oldest is not None and _interval(limits, b) > 0
    ]
    if not due:
        return None
    return max(0.0, min(due) - now)


# ---- version pressure ---------------------------------------------------------------------------------------


def slowdown_for(policy: PressurePolicy, versions: float, limit: float) -> int:
    """The slowdown step a version count calls for: 0 below half the ceiling, MAX_SLOWDOWN at the ceiling."""
    if policy.ceiling <= 0 or limit <= 0:
        return 0
    share = versions / (policy.ceiling * limit)
    if share < SLOWDOWN_START:
        return 0
    # A small epsilon: 0.5 + 3 x 0.1 must count as the fourth step, whatever floating point makes of it.
    return min(MAX_SLOWDOWN, 1 + int((share - SLOWDOWN_START) / SLOWDOWN_STEP + 1e-9))


def next_slowdown(
    policy: PressurePolicy, current: int, versions: float | None, limit: float, fresh: bool
) -> int:
    """The step to be at, given a version count (None: unknown, stay). Up at once whenever the count calls for
    more; down only on a `fresh` reading from StarRocks (a count the connector merely projected from its own
    loads never falls), and only as far as the count is SPEEDUP_MARGIN of the ceiling below the thresholds."""
    if policy.ceiling <= 0:
        return 0
    if versions is None:
        return current
    wanted = slowdown_for(policy, versions, limit)
    if wanted > current:
        return wanted
    if fresh:
        return min(current, slowdown_for(policy, versions + SPEEDUP_MARGIN * policy.ceiling * limit, limit))
    return current


def stream_limits(limits: FlushLimits, step: int) -> StreamLimits:
    """Limits at a slowdown step: the interval and the batch double per step (the batch's bytes stay within
    half the memory budget, the interval within max(configured, MAX_SLOWED_INTERVAL_SECONDS))."""
    if step <= 0:
        return StreamLimits(0, limits.batch_size, limits.batch_bytes, limits.interval_seconds)
    factor = 2**step
    ceiling = max(limits.interval_seconds, MAX_SLOWED_INTERVAL_SECONDS)
    interval = min(ceiling, max(limits.interval_seconds, SLOWED_BASE_INTERVAL_SECONDS) * factor)
    batch_bytes = max(limits.batch_bytes, min(limits.batch_bytes * factor, limits.budget_bytes // 2))
    return StreamLimits(step, limits.batch_size * factor, batch_bytes, interval)
