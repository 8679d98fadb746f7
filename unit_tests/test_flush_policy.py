"""The flush policy's rules, one test per rule."""

from __future__ import annotations

from destination_starrocks import flush_policy
from destination_starrocks.flush_policy import BufferView, FlushLimits, Reason
from destination_starrocks.spec import MIB, StarRocksConfig

LIMITS = FlushLimits(batch_size=100, batch_bytes=1000, interval_seconds=10.0, budget_bytes=10_000)


def view(name: str, rows: int = 1, memory: int = 10, oldest: float | None = 0.0) -> BufferView:
    return BufferView((None, name), rows, memory, oldest)


def test_size_reason_by_rows_then_bytes():
    assert flush_policy.size_reason(LIMITS, 100, 0) is Reason.ROWS
    assert flush_policy.size_reason(LIMITS, 1, 1000) is Reason.BYTES
    assert flush_policy.size_reason(LIMITS, 99, 999) is None


def test_age_flushes_only_buffers_older_than_the_interval():
    due = flush_policy.due_by_age(LIMITS, [view("old", oldest=0.0), view("young", oldest=5.0)], now=10.0)
    assert due == [(None, "old")]


def test_zero_interval_flushes_on_state_and_never_by_age():
    zero = FlushLimits(100, 1000, 0.0, 10_000)
    assert flush_policy.due_by_age(zero, [view("a", oldest=0.0)], now=1e9) == []
    assert flush_policy.due_on_state(zero, [(None, "a")]) == [(None, "a")]
    assert flush_policy.due_on_state(LIMITS, [(None, "a")]) == []


def test_memory_flushes_largest_first_down_to_the_low_water_mark():
    views = [view("small", memory=2000), view("big", memory=6000), view("mid", memory=3000)]
    due = flush_policy.due_by_memory(LIMITS, views, inflight_bytes=0)
    # 11000 > 10000 budget; flushing "big" leaves 5000 buffered, which is the low-water mark (half the budget).
    assert due == [(None, "big")]


def test_memory_counts_bytes_in_flight():
    views = [view("a", memory=6000)]
    assert flush_policy.due_by_memory(LIMITS, views, inflight_bytes=0) == []
    assert flush_policy.due_by_memory(LIMITS, views, inflight_bytes=5000) == [(None, "a")]


def test_memory_does_not_flush_small_buffers_when_loads_in_flight_fill_the_budget():
    # Sealing frees nothing while loads hold the memory: the writer waits for them instead.
    views = [view("a", memory=4000)]
    assert flush_policy.due_by_memory(LIMITS, views, inflight_bytes=7000) == []


def test_timer_reports_time_to_the_earliest_age_flush():
    views = [view("a", oldest=3.0), view("b", oldest=1.0), view("empty", rows=0, oldest=None)]
    assert flush_policy.seconds_until_next_age_flush(LIMITS, views, now=4.0) == 7.0
    assert flush_policy.seconds_until_next_age_flush(LIMITS, [], now=4.0) is None


def test_one_batch_may_take_at_most_half_the_budget():
    config = StarRocksConfig(host="h", batch_bytes=500 * MIB, max_buffer_memory_mb=100)
    assert FlushLimits.from_config(config).batch_bytes == 50 * MIB


def test_defaults_give_at_most_ten_loads_per_million_typical_records():
    config = StarRocksConfig(host="h")
    limits = FlushLimits.from_config(config)
    typical_row_bytes = 300
    loads_by_rows = 1_000_000 / limits.batch_size
    loads_by_bytes = 1_000_000 * typical_row_bytes / limits.batch_bytes
    assert max(loads_by_rows, loads_by_bytes) <= 10
