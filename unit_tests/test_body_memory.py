"""Reused load bodies (body_memory.py) and the buffer that fills them (buffer.py): a body is written again only
when no batch can read it any more, and every batch holds exactly its own rows."""

from __future__ import annotations

import io
import json
import random

import pytest

from destination_starrocks import buffer as buffer_module
from destination_starrocks.body_memory import SMALL_BODY_BYTES, BodyPool
from destination_starrocks.buffer import TableBuffer
from destination_starrocks.messages import Output
from destination_starrocks.spec import StarRocksConfig
from destination_starrocks.writer import Writer
from unit_tests.writer_fakes import FakeTarget, FinishRecorder, RecordingLoader, record

STREAM = (None, "s")


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(buffer_module, "CHUNK_BYTES", 64)  # rows reach the body after a few records


def _row(i: int, width: int) -> bytes:
    return json.dumps({"i": i, "pad": "x" * width}, separators=(",", ":")).encode()


def test_a_body_a_batch_still_holds_is_not_taken_and_one_released_is() -> None:
    pool = BodyPool()
    body = bytearray(b"[1,2,3]")
    view = pool.lend(body)
    assert pool.take(len(body)) is not body
    assert pool.idle_bytes() == 0
    sliced = view[:3]  # a batch cut at a STATE holds a slice of the view: still an export
    del view
    assert pool.take(len(body)) is not body
    del sliced
    assert pool.idle_bytes() == len(body)
    assert pool.take(len(body)) is body
    assert pool.idle_bytes() == 0  # taken: no longer free


def test_only_the_largest_free_body_is_kept() -> None:
    pool = BodyPool()
    small, large = bytearray(10), bytearray(1000)
    pool.lend(small).release()
    pool.lend(large).release()
    assert pool.idle_bytes() == 1000
    assert pool.take(1000) is large
    assert pool.take(10) is not small  # forgotten: left to the allocator


def test_a_big_free_body_does_not_go_to_a_small_stream() -> None:
    pool = BodyPool()
    big = bytearray(8 * SMALL_BODY_BYTES)
    pool.lend(big).release()
    assert pool.take(1000) is not big  # a stream of kilobyte bodies would hold 8 MiB for a few rows
    assert pool.take(3 * SMALL_BODY_BYTES) is not big  # its last body was under half of it
    assert pool.take(4 * SMALL_BODY_BYTES) is big


def test_a_reused_body_holds_only_the_new_rows() -> None:
    pool = BodyPool()
    buffer = TableBuffer(STREAM, dedup=False, bodies=pool)
    for i in range(40):
        buffer.add(_row(i, 50))
    first = buffer.seal(40)
    first_body = first.body
    assert isinstance(first_body, memoryview)
    storage = first_body.obj
    assert len(json.loads(bytes(first_body))) == 40
    del first, first_body  # the load is over
    for i in range(5):  # fewer, shorter rows: the reused body's stale tail must not reach the batch
        buffer.add(_row(100 + i, 10))
    assert buffer.memory_bytes >= len(storage)  # the reused memory is held from its first row
    second = buffer.seal(45)
    assert isinstance(second.body, memoryview) and second.body.obj is storage
    assert [r["i"] for r in json.loads(bytes(second.body))] == [100, 101, 102, 103, 104]


def test_batches_stay_intact_while_the_buffer_refills_and_reuses_memory() -> None:
    """Random adds, STATE marks, seals and load ends: every batch parses to exactly its rows, also after later
    batches were built (in memory freed by other loads), and memory is reused."""
    rng = random.Random(7)
    pool = BodyPool()
    buffer = TableBuffer(STREAM, dedup=False, bodies=pool)
    pending: list[int] = []  # rows in the buffer, in order
    mark: int | None = None  # rows before the last STATE mark
    live: list[tuple[object, list[int]]] = []  # batches whose loads have not ended, with their rows
    storages: list[bytearray] = []  # the bytearrays behind the batches (no view: reuse stays possible)
    reused = 0
    for i in range(3000):
        buffer.add(_row(i, rng.choice((0, 5, 40, 200))))
        pending.append(i)
        if rng.random() < 0.05:
            buffer.mark_state()
            mark = len(pending)
        if rng.random() < 0.03:
            if rng.random() < 0.5 or mark is None or mark == len(pending):
                batch = buffer.seal(i + 1)
                cut = len(pending)
            else:
                batch = buffer.seal_at_state(i + 1, min_share=0.0)
                cut = mark
            assert batch.row_count == cut
            rows, pending, mark = pending[:cut], pending[cut:], None
            if isinstance(batch.body, memoryview):
                reused += any(batch.body.obj is s for s in storages)
                storages.append(batch.body.obj)  # type: ignore[arg-type]
            live.append((batch, rows))
            for held, expected in live:
                assert [r["i"] for r in json.loads(bytes(held.body))] == expected  # type: ignore[attr-defined]
            rng.shuffle(live)
            del live[rng.randrange(len(live) + 1) :]  # some loads end; their bodies may be reused
            del batch
    assert len(storages) > 50 and reused > 10
    assert pending
    assert [r["i"] for r in json.loads(bytes(buffer.data[:-1]) + b"]")] == pending
    last = buffer.seal(3000)
    assert [r["i"] for r in json.loads(bytes(last.body))] == pending  # what was still buffered, whole


def test_the_writer_counts_a_free_body_in_its_memory_budget() -> None:
    # A body kept for reuse is memory the process holds: backpressure must see it (writer.py `_memory_held`).
    loader = RecordingLoader()
    config = StarRocksConfig(host="localhost", batch_size=50)
    writer = Writer(config, [FakeTarget(STREAM)], loader, FinishRecorder(), Output(io.BytesIO()))
    writer.run(io.BytesIO(b"\n".join(record("s", i, pad="x" * 100) for i in range(200)) + b"\n"))
    assert sum(len(rows) for _, rows in loader.loads) == 200
    idle = writer._bodies.idle_bytes()
    assert idle > 0
    assert idle <= writer._memory_held() <= idle + 1  # nothing else held but an empty buffer's "["


def test_free_bodies_are_let_go_when_the_budget_is_short() -> None:
    pool = BodyPool()
    in_use, free = bytearray(100), bytearray(200)
    view = pool.lend(in_use)
    pool.lend(free).release()
    pool.shed()
    assert pool.idle_bytes() == 0
    del view
    assert pool.take(100) is in_use  # only the free one was let go


def test_the_writer_sheds_a_kept_body_before_flushing_buffers_for_memory() -> None:
    loader = RecordingLoader()
    config = StarRocksConfig(host="localhost", max_buffer_memory_mb=8)
    writer = Writer(config, [FakeTarget(STREAM)], loader, FinishRecorder(), Output(io.BytesIO()))
    writer._bodies.lend(bytearray(9 << 20)).release()  # a free body past the whole budget
    writer._consume([record("s", i) for i in range(10)])
    writer._tick()
    assert writer._bodies.idle_bytes() == 0
    assert writer._streams[STREAM].buffer.records == 10  # the rows stay buffered: no early flush
    writer._stop_pool()
