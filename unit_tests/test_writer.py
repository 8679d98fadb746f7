"""The write loop against a fake loader: batching, checkpoint safety, failure handling."""

from __future__ import annotations

import io

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from destination_starrocks.errors import InputError, LoadFailedError
from destination_starrocks.spec import StarRocksConfig
from destination_starrocks.stream_completion import IncompleteStreamsError
from destination_starrocks.writer import Writer
from unit_tests.writer_fakes import (
    FakeTarget,
    FinishRecorder,
    PassThroughShaper,
    RecordingLoader,
    SnapshottingOutput,
    global_state,
    record,
    stream_state,
    stream_status,
)

STREAMS = ["a", "b", "c"]


def make_writer(loader, targets=None, transactions=False, **config):  # noqa: ANN001
    settings_ = {"host": "h", "flush_interval_seconds": 60, **config}
    targets = targets or [FakeTarget((None, s)) for s in STREAMS]
    output = SnapshottingOutput(loader)
    tables = FinishRecorder()
    writer = Writer(StarRocksConfig(**settings_), targets, loader, tables, output, transactions=transactions)
    return writer, output, tables


def run(writer, lines: list[bytes]):  # noqa: ANN001
    return writer.run(io.BytesIO(b"\n".join(lines) + b"\n"))


def test_all_records_loaded_in_few_loads_and_every_state_echoed_with_counts():
    loader = RecordingLoader()
    writer, output, _ = make_writer(loader, batch_size=1000)
    lines = []
    for i in range(5000):
        lines.append(record("a", i))
        if i % 100 == 99:
            lines.append(stream_state("a", i))
    summary = run(writer, lines)
    assert len(loader.committed["a"]) == 5000
    # batch_size 1000 with a STATE every 100 records: each size flush cuts at the last STATE (900 rows), so
    # 5000 records take 6 loads; the STATEs themselves cause none.
    assert loader.calls == 6
    assert len(output.states) == 50
    assert all(m["state"]["destinationStats"]["recordCount"] == 100 for m, _ in output.states)
    assert summary.records == 5000


def test_state_after_every_record_does_not_mean_a_load_per_record():
    loader = RecordingLoader()
    writer, output, _ = make_writer(loader)
    lines = [line for i in range(2000) for line in (record("a", i), stream_state("a", i))]
    run(writer, lines)
    assert loader.calls == 1  # everything fits one batch and the interval never elapsed
    assert len(output.states) == 2000


def test_zero_interval_flushes_on_every_state():
    loader = RecordingLoader()
    writer, output, _ = make_writer(loader, flush_interval_seconds=0)
    lines = [line for i in range(10) for line in (record("a", i), stream_state("a", i))]
    run(writer, lines)
    assert loader.calls == 10


def test_global_state_waits_for_all_streams_and_counts_all_records():
    loader = RecordingLoader()
    writer, output, _ = make_writer(loader)
    lines = [record("a", 1), record("b", 2), record("c", 3), global_state(1)]
    run(writer, lines)
    ((message, committed),) = output.states
    assert message["state"]["destinationStats"]["recordCount"] == 3
    assert committed == {("a", 1), ("b", 2), ("c", 3)}


def test_failed_load_releases_no_state_after_its_records():
    loader = RecordingLoader(fail_when=lambda request, rows: request.table == "b")
    writer, output, _ = make_writer(loader, flush_interval_seconds=0)
    lines = [
        record("a", 1),
        stream_state("a", 1),
        record("b", 2),
        stream_state("b", 2),
        record("a", 3),
        stream_state("a", 3),
    ]
    with pytest.raises(LoadFailedError):
        run(writer, lines)
    values = [m["state"]["stream"]["stream_state"]["v"] for m, _ in output.states]
    # b's STATE, after its failed records, never leaves; a's states cover none of them (per-stream scopes),
    # so a's first one leaves and its second may too if its load was sent before the failure stopped the loop.
    assert 2 not in values and values[0] == 1


def test_malformed_line_fails_with_its_line_number_after_committing_what_came_before():
    loader = RecordingLoader()
    writer, output, _ = make_writer(loader)
    with pytest.raises(InputError, match="line 3"):
        run(writer, [record("a", 1), stream_state("a", 1), b"{not json"])
    assert loader.committed["a"] == [{"id": 1}]
    assert len(output.states) == 1


def test_record_for_unknown_stream_names_it():
    loader = RecordingLoader()
    writer, _, _ = make_writer(loader)
    with pytest.raises(InputError, match="nope"):
        run(writer, [record("nope", 1)])


def test_dedup_keeps_newest_cursor_per_key_within_a_batch():
    loader = RecordingLoader()
    target = FakeTarget((None, "d"), dedup=True, shaper=PassThroughShaper("id", "ts"))
    writer, _, _ = make_writer(loader, targets=[target])
    run(
        writer,
        [
            record("d", 1, ts=5), record("d", 1, ts=3),
            record("d", 2, ts=1), record("d", 2, ts=1, v="later"),
            record("d", 3, ts=2), record("d", 3, ts=None),
        ],
    )  # fmt: skip
    rows = {row["id"]: row for row in loader.committed["d"]}
    assert rows[1]["ts"] == 5  # the out-of-order older record did not win
    assert rows[2].get("v") == "later"  # ties: the later record wins
    assert rows[3]["ts"] == 2  # a record without a cursor ranks below any with one


def test_stream_complete_finishes_the_table_once_after_its_rows_commit():
    loader = RecordingLoader()
    targets = [FakeTarget((None, s), catalog_generations=True) for s in STREAMS]
    writer, output, tables = make_writer(loader, targets)
    status = stream_status("a", "COMPLETE")
    lines = [record("a", 1), status, record("b", 2), stream_state("b", 1)]
    with pytest.raises(
        IncompleteStreamsError, match=r"b \(no stream status\), c \(no stream status\)"
    ) as failed:
        run(writer, lines)
    assert failed.value.failure_type == "transient_error"  # as the bulk CDK's SyncManager.markInputConsumed
    # a was finished (swapped) when its COMPLETE came; b and c only at the end, as incomplete.
    assert tables.finished == [((None, "a"), True), ((None, "b"), False), ((None, "c"), False)]
    assert len(loader.committed["b"]) == 1 and len(output.states) == 1  # nothing rolled back


def test_input_without_any_status_fails_every_stream_when_the_catalog_has_generations():
    loader = RecordingLoader()
    targets = [FakeTarget((None, s), catalog_generations=True) for s in STREAMS]
    writer, output, tables = make_writer(loader, targets)
    with pytest.raises(IncompleteStreamsError, match="did not end with a COMPLETE"):
        run(writer, [record("a", 1), stream_state("a", 1)])
    assert sorted(tables.finished) == [((None, s), False) for s in STREAMS]
    assert len(loader.committed["a"]) == 1 and len(output.states) == 1


def test_a_caller_from_before_refreshes_ends_every_stream_with_the_input(caplog):  # noqa: ANN001
    loader = RecordingLoader()
    writer, _, tables = make_writer(loader)  # catalog without generation ids, no stream status at all
    run(writer, [record("a", 1), record("b", 2)])
    assert sorted(tables.finished) == [((None, s), True) for s in STREAMS]
    assert "counts as the end of a, b, c" in caplog.text


def test_memory_budget_bounds_buffered_bytes():
    loader = RecordingLoader()
    writer, _, _ = make_writer(loader, max_buffer_memory_mb=8, batch_size=10**9)
    big = "x" * 2000
    lines = [record(STREAMS[i % 3], i, pad=big) for i in range(12_000)]  # ~24 MB over three streams
    run(writer, lines)
    assert sum(len(v) for v in loader.committed.values()) == 12_000
    assert loader.calls >= 3  # the 8 MiB budget forced flushes before the end


events = st.lists(
    st.one_of(
        st.tuples(st.just("record"), st.sampled_from(STREAMS)),
        st.tuples(st.just("stream_state"), st.sampled_from(STREAMS)),
        st.tuples(st.just("global_state"), st.none()),
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=events,
    batch_size=st.integers(1, 7),
    interval=st.sampled_from([0, 60]),
    fail_at=st.one_of(st.none(), st.integers(1, 12)),
    transactions=st.booleans(),
)
def test_no_state_leaves_before_its_records_are_committed(
    events, batch_size, interval, fail_at, transactions
):
    loader = RecordingLoader(fail_when=(lambda r, rows: loader.calls == fail_at) if fail_at else None)
    writer, output, _ = make_writer(
        loader,
        batch_size=batch_size,
        flush_interval_seconds=interval,
        transactions=transactions,
        batch_bytes=1024,
    )
    lines, before = [], {}  # state value -> set of record ids it covers
    seen: list[tuple[str, int]] = []
    for n, (kind, stream) in enumerate(events):
        if kind == "record":
            lines.append(record(stream, n))
            seen.append((stream, n))
        elif kind == "stream_state":
            lines.append(stream_state(stream, n))
            before[n] = {(s, i) for s, i in seen if s == stream}
        else:
            lines.append(global_state(n))
            before[n] = set(seen)
    try:
        run(writer, lines)
        failed = False
    except LoadFailedError:
        failed = True
    emitted, per_scope = [], {}
    for message, committed in output.states:
        state = message["state"]
        is_stream = state["type"] == "STREAM"
        value = (state["stream"]["stream_state"] if is_stream else state["global"]["shared_state"])["v"]
        assert before[value] <= committed, "a STATE left before its records were committed"
        scope = state["stream"]["stream_descriptor"]["name"] if is_stream else "*"
        per_scope.setdefault(scope, []).append(value)
        emitted.append(value)
    for values in per_scope.values():
        assert values == sorted(values), "states of one scope left out of order"
    if not failed:
        assert sorted(emitted) == sorted(before), "a successful sync must echo every state"
        assert loader.committed_ids() == set(seen)


def test_size_flush_cuts_at_the_last_state_so_it_can_leave_on_commit():
    loader = RecordingLoader()
    writer, output, _ = make_writer(loader, batch_size=10)
    lines = (
        [record("a", i) for i in range(8)] + [stream_state("a", 8)] + [record("a", i) for i in range(8, 12)]
    )
    run(writer, lines)
    first, second = ([r["id"] for r in rows] for table, rows in loader.loads)
    assert first == list(range(8))  # the 10th record triggered the flush; the cut fell at the STATE
    assert second == list(range(8, 12))
    ((message, committed),) = output.states
    assert committed == {("a", i) for i in range(8)}  # released right after the first load


def test_cut_is_not_aligned_when_the_state_holds_less_than_half_the_buffer():
    loader = RecordingLoader()
    writer, _, _ = make_writer(loader, batch_size=10)
    lines = [record("a", 0), stream_state("a", 0)] + [record("a", i) for i in range(1, 10)]
    run(writer, lines)
    assert loader.calls == 1


def test_transaction_mode_sends_chunks_and_commits_once_per_batch_size():
    loader = RecordingLoader()
    writer, output, _ = make_writer(
        loader, transactions=True, batch_size=3000, batch_bytes=1024, max_buffer_memory_mb=8
    )
    lines = []
    for i in range(6000):
        lines.append(record("a", i, pad="y" * 50))
        if i % 500 == 499:
            lines.append(stream_state("a", i))
    run(writer, lines)
    assert [len(rows) for _, rows in loader.loads] == [3000, 3000]  # two commits, i.e. two versions
    assert loader.calls > 100  # ~70-byte rows in 1 KiB chunks: many chunks per commit
    assert len(output.states) == 12
    for message, committed in output.states:
        value = message["state"]["stream"]["stream_state"]["v"]
        assert {("a", i) for i in range(value + 1)} <= committed


def test_transaction_mode_failed_chunk_releases_no_later_state():
    loader = RecordingLoader(fail_when=lambda request, rows: loader.calls == 5)
    writer, output, _ = make_writer(loader, transactions=True, batch_size=10**6, batch_bytes=1024)
    lines = [record("a", 0), stream_state("a", 0)] + [record("a", i, pad="z" * 100) for i in range(1, 200)]
    lines.append(stream_state("a", 200))
    with pytest.raises(LoadFailedError):
        run(writer, lines)
    assert output.states == []  # state 0 was in the same open transaction as the failed chunk
    assert loader.committed == {}


def test_streams_the_source_reported_failed_are_not_finished_as_complete():
    loader = RecordingLoader()
    writer, _, tables = make_writer(loader)
    incomplete = stream_status("b", "INCOMPLETE")
    error = orjson.dumps(
        {
            "type": "TRACE",
            "trace": {
                "type": "ERROR",
                "emitted_at": 0,
                "error": {"message": "boom", "stream_descriptor": {"name": "c"}},
            },
        }
    )
    lines = [record("a", 1), stream_status("a"), record("b", 2), incomplete, record("c", 3), error]
    lines.append(stream_status("b"))  # a COMPLETE after INCOMPLETE does not make it complete
    with pytest.raises(IncompleteStreamsError, match=r"b \(INCOMPLETE\), c \(the source reported an error\)"):
        run(writer, lines)
    assert sorted(tables.finished) == [((None, "a"), True), ((None, "b"), False), ((None, "c"), False)]
    assert len(loader.committed["b"]) == 1  # its records still commit; only the swap is withheld


@pytest.mark.parametrize("tick_seconds", [0.0, 3600.0])
def test_a_steady_input_ticks_at_most_every_tick_seconds(monkeypatch, tick_seconds):  # noqa: ANN001
    # A tick (timers, finished loads, the budget) costs tens of microseconds; per 120 KiB block it was ~2% of
    # a bulk sync's CPU. With TICK_SECONDS 0 every block ticks; with an hour only the first one (and wake-ups,
    # which come when a load ends: none here, all rows fit one buffer).
    from destination_starrocks import writer as writer_module

    monkeypatch.setattr(writer_module, "TICK_SECONDS", tick_seconds)
    loader = RecordingLoader()
    writer, output, _ = make_writer(loader)
    blocks, ticks = [], []
    consume, tick = writer._consume, writer._tick
    monkeypatch.setattr(writer, "_consume", lambda lines: (blocks.append(len(lines)), consume(lines)))
    monkeypatch.setattr(writer, "_tick", lambda: (ticks.append(1), tick()))
    lines = [record("a", i, pad="x" * 200) for i in range(20_000)]
    run(writer, lines)
    assert len(loader.committed["a"]) == 20_000
    assert len(blocks) > 20
    if tick_seconds:
        assert len(ticks) <= 3
    else:
        assert len(ticks) >= len(blocks)


@pytest.mark.parametrize("bad", [b"{not json", b'{"type":"RECORD","record":{"data":{}}}'])
def test_a_bad_line_is_quoted_as_it_came_without_its_newline(bad):  # noqa: ANN001
    # The writer reads lines with their newlines (no copy per line to cut them off); an error quotes the line.
    writer, _, _ = make_writer(RecordingLoader())
    with pytest.raises(InputError) as failure:
        run(writer, [record("a", 1), bad, record("a", 2)])
    assert str(failure.value).endswith(repr(bad))
