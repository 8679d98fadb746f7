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
    assert flush_policy.due_on_state([((None, "a"), zero.interval_seconds)]) == [(None, "a")]
    assert flush_policy.due_on_state([((None, "a"), LIMITS.interval_seconds)]) == []


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


# ---- version pressure ----------------------------------------------------------------------------------------

POLICY = flush_policy.PressurePolicy(ceiling=0.5)  # ceiling: 500 of a 1000 limit


def test_no_slowdown_below_half_the_ceiling_and_full_slowdown_at_it():
    assert flush_policy.slowdown_for(POLICY, 249, 1000) == 0
    assert flush_policy.slowdown_for(POLICY, 250, 1000) == 1  # a quarter of tablet_max_versions
    assert flush_policy.slowdown_for(POLICY, 300, 1000) == 2
    assert flush_policy.slowdown_for(POLICY, 449, 1000) == 4
    assert flush_policy.slowdown_for(POLICY, 500, 1000) == flush_policy.MAX_SLOWDOWN
    assert flush_policy.slowdown_for(POLICY, 5000, 1000) == flush_policy.MAX_SLOWDOWN


def test_a_zero_ceiling_never_slows_down():
    off = flush_policy.PressurePolicy(ceiling=0.0)
    assert flush_policy.slowdown_for(off, 999, 1000) == 0
    assert flush_policy.next_slowdown(off, 3, 999, 1000, fresh=True) == 0


def test_slows_down_at_once_but_speeds_up_only_on_a_fresh_reading_well_below_the_threshold():
    # Projected counts (not fresh) only ever push the step up.
    assert flush_policy.next_slowdown(POLICY, 0, 350, 1000, fresh=False) == 3
    assert flush_policy.next_slowdown(POLICY, 3, 100, 1000, fresh=False) == 3
    # A fresh reading just under a threshold keeps the step (hysteresis of a quarter of the ceiling)...
    assert flush_policy.next_slowdown(POLICY, 3, 300, 1000, fresh=True) == 3
    assert flush_policy.next_slowdown(POLICY, 1, 200, 1000, fresh=True) == 1
    # ... and one well below it steps down, as far as the count allows: all the way once compaction caught up.
    assert flush_policy.next_slowdown(POLICY, 3, 200, 1000, fresh=True) == 2
    assert flush_policy.next_slowdown(POLICY, 6, 50, 1000, fresh=True) == 0
    # An unreadable count changes nothing.
    assert flush_policy.next_slowdown(POLICY, 2, None, 1000, fresh=True) == 2


def test_each_step_doubles_interval_and_batch_within_their_bounds():
    limits = FlushLimits(batch_size=1000, batch_bytes=1000, interval_seconds=0.0, budget_bytes=10_000)
    assert flush_policy.stream_limits(limits, 0) == flush_policy.StreamLimits(0, 1000, 1000, 0.0)
    one, three = flush_policy.stream_limits(limits, 1), flush_policy.stream_limits(limits, 3)
    assert (one.interval_seconds, one.batch_size, one.batch_bytes) == (2.0, 2000, 2000)
    assert (three.interval_seconds, three.batch_size, three.batch_bytes) == (
        8.0,
        8000,
        5000,
    )  # half the budget
    minute = FlushLimits(batch_size=1000, batch_bytes=1000, interval_seconds=60.0, budget_bytes=10_000)
    intervals = [flush_policy.stream_limits(minute, step).interval_seconds for step in range(7)]
    assert intervals == [60.0, 120.0, 240.0, 300.0, 300.0, 300.0, 300.0]  # a STATE waits at most 300 s
    slow = FlushLimits(batch_size=1000, batch_bytes=1000, interval_seconds=900.0, budget_bytes=10_000)
    assert flush_policy.stream_limits(slow, 6).interval_seconds == 900.0  # never shorter than configured


def test_per_stream_intervals_drive_the_age_timer_and_the_state_flush():
    views = [view("slowed", oldest=0.0), BufferView((None, "fast"), 1, 10, 0.0, interval_seconds=0.0)]
    zero = FlushLimits(100, 1000, 0.0, 10_000)
    slowed = [BufferView((None, "slowed"), 1, 10, 0.0, interval_seconds=4.0)]
    assert flush_policy.due_by_age(zero, slowed, now=3.9) == []
    assert flush_policy.due_by_age(zero, slowed, now=4.0) == [(None, "slowed")]
    assert flush_policy.seconds_until_next_age_flush(zero, slowed, now=1.0) == 3.0
    assert flush_policy.seconds_until_next_age_flush(zero, views[1:], now=1.0) is None
    assert flush_policy.due_on_state([((None, "fast"), 0.0), ((None, "slowed"), 4.0)]) == [(None, "fast")]


def test_size_reason_uses_the_streams_own_limits():
    assert flush_policy.size_reason(LIMITS, 150, 0, row_limit=200, byte_limit=2000) is None
    assert flush_policy.size_reason(LIMITS, 1, 2000, row_limit=200, byte_limit=2000) is Reason.BYTES
