"""One transaction per checkpoint across tables (checkpoint_span.py), through the writer, with fake loaders.

A fake multi-table loader keeps each transaction's chunks apart until its commit and then makes all of them
visible at once; the output snapshots what is committed whenever a STATE leaves, so each test can say which
checkpoint every table was at when each STATE was echoed.
"""

from __future__ import annotations

import io
import logging
import time

import orjson
import pytest

from destination_starrocks.checkpoint_span import Cut, checkpoint_label, cut_for
from destination_starrocks.errors import TransientError
from destination_starrocks.flush_policy import Reason
from destination_starrocks.spec import StarRocksConfig
from destination_starrocks.stream_load import LoadRequest, LoadResult
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
)


class FakeMultiTableLoader:
    """Chunks of a label stay invisible until its commit, which adds all of them to `loader.committed` at once."""

    def __init__(self, loader: RecordingLoader, fail_on_call: int | None = None) -> None:
        self.loader = loader
        self.open: dict[str, dict[str, list]] = {}
        self.commits: list[tuple[str, dict[str, int]]] = []  # (label, rows per table)
        self.chunks: list[tuple[str, str, int]] = []  # (label, table, rows)
        self.rolled_back: list[str] = []
        self.fail_on_call = fail_on_call
        self.calls = 0

    def send(self, request: LoadRequest, commit: bool) -> LoadResult | None:
        self.calls += 1
        if self.fail_on_call == self.calls:
            self.open.pop(request.label, None)
            raise TransientError(f"injected failure of {request.label}")
        if not commit:
            rows = orjson.loads(request.body)
            self.open.setdefault(request.label, {}).setdefault(request.table, []).extend(rows)
            self.chunks.append((request.label, request.table, len(rows)))
            return None
        assert request.rows == 0 and not request.body
        tables = self.open.pop(request.label)
        assert set(request.table.split(",")) == set(tables)
        with self.loader._lock:
            assert request.label not in self.loader.labels
            self.loader.labels.append(request.label)
            for table, rows in tables.items():
                self.loader.committed.setdefault(table, []).extend(rows)
        self.commits.append((request.label, {t: len(r) for t, r in tables.items()}))
        return LoadResult(request.label, "Success", sum(len(r) for r in tables.values()), 1, 0.0, "fake")

    def rollback(self, request: LoadRequest) -> bool:
        self.rolled_back.append(request.label)
        return self.open.pop(request.label, None) is not None


def make_writer(targets=None, fail_on_call=None, note="", **config):  # noqa: ANN001, ANN201
    settings = {"host": "h", "flush_interval_seconds": 60, **config}
    plain = RecordingLoader()
    multi = FakeMultiTableLoader(plain, fail_on_call)
    output = SnapshottingOutput(plain)
    targets = targets or [FakeTarget(("db", "a")), FakeTarget(("db", "b"))]
    writer = Writer(
        StarRocksConfig(**settings),
        targets,
        plain,
        FinishRecorder(),
        output,
        checkpoint_loader=multi,
        checkpoint_unavailable=note,
    )
    return writer, plain, multi, output


def run(writer: Writer, lines: list[bytes]):  # noqa: ANN201
    return writer.run(io.BytesIO(b"\n".join(lines) + b"\n"))


def run_in_blocks(writer: Writer, lines: list[bytes], size: int = 40):  # noqa: ANN201
    """As input arriving over time: blocks of `size` lines, finished loads booked between them."""
    for first in range(0, len(lines), size):
        writer._consume(lines[first : first + size])
        writer._drain("all")
        writer._tick()
    return writer.run(io.BytesIO(b""))


def interleaved(count: int, every: int, first: int = 0) -> list[bytes]:
    """Records of streams a and b in turn, a GLOBAL state after every `every` records of each."""
    lines = []
    for i in range(first, first + count):
        lines += [record("a", i, namespace="db"), record("b", i, namespace="db")]
        if (i + 1) % every == 0:
            lines.append(global_state({"a": i + 1, "b": i + 1}))
    return lines


def checkpoints_at_echo(output: SnapshottingOutput) -> list[tuple[dict, dict]]:
    """For each echoed STATE: its positions, and how many records of each table were committed then."""
    out = []
    for message, committed in output.states:
        position = message["state"]["global"]["shared_state"]["v"]
        counts = {t: sum(1 for table, _ in committed if table == t) for t in ("a", "b")}
        out.append((position, counts))
    return out


def test_every_table_is_at_the_same_checkpoint_whenever_a_state_leaves():
    writer, plain, multi, output = make_writer(batch_size=250)
    run(writer, interleaved(1000, every=100))
    assert len(plain.committed["a"]) == len(plain.committed["b"]) == 1000
    assert plain.loads == []  # nothing went table by table
    for _, tables in multi.commits:
        assert tables["a"] == tables["b"]  # one commit holds both tables' rows up to the same STATE
    for position, counts in checkpoints_at_echo(output):
        assert counts["a"] == counts["b"] >= position["a"]  # never one table ahead, never before its STATE
        assert counts["a"] % 100 == 0  # always exactly at a checkpoint
    assert len(output.states) == 10


def test_a_span_larger_than_the_batch_goes_in_chunks_inside_one_transaction():
    writer, plain, multi, output = make_writer(batch_size=60, batch_bytes=1024, flush_interval_seconds=60)
    run(writer, interleaved(300, every=300))  # one STATE at the very end
    assert len(multi.commits) == 1  # 600 records, one checkpoint: one transaction, one version per table
    label, tables = multi.commits[0]
    assert tables == {"a": 300, "b": 300}
    assert len([c for c in multi.chunks if c[0] == label]) >= 10  # 1 KiB chunks of ~10-byte rows
    assert all(rows <= 60 for _, _, rows in multi.chunks)


def test_a_state_after_every_record_is_one_transaction_per_batch_not_per_state():
    writer, plain, multi, output = make_writer(batch_size=200)
    run(writer, interleaved(1000, every=1))
    assert len(output.states) == 1000
    assert len(multi.commits) <= 11  # 2000 records, a commit per 200: the STATEs themselves cause none
    for position, counts in checkpoints_at_echo(output):
        assert counts["a"] == counts["b"] >= position["a"]


def test_labels_are_fixed_per_checkpoint_transaction_and_never_reused():
    writer, plain, multi, _ = make_writer(batch_size=100)
    run_in_blocks(writer, interleaved(500, every=50))
    labels = [label for label, _ in multi.commits]
    assert len(labels) == len(set(labels)) >= 5
    token = labels[0].split("-")[-2]
    assert labels == [checkpoint_label("airbyte", "db", token, n) for n in range(1, len(labels) + 1)]
    assert {label for label, _, _ in multi.chunks} == set(labels)


def test_on_the_timer_a_plain_stream_is_cut_exactly_at_the_last_state():
    writer, plain, multi, output = make_writer(flush_interval_seconds=0.2)
    writer._consume(interleaved(50, every=50) + [record("a", 50, namespace="db")])  # a after the STATE
    time.sleep(0.25)
    writer._tick()
    writer._drain("all")
    writer._release_states()
    assert multi.commits == [(multi.commits[0][0], {"a": 50, "b": 50})]
    assert len(output.states) == 1 and writer._streams[("db", "a")].buffer.records == 1
    writer._stop_pool()


def test_a_dedup_stream_straddling_the_last_state_waits_for_the_next_state():
    targets = [FakeTarget(("db", "a")), FakeTarget(("db", "b"), dedup=True, shaper=PassThroughShaper("id"))]
    writer, plain, multi, output = make_writer(targets, flush_interval_seconds=0.2)
    writer._consume(interleaved(10, every=10) + [record("b", 3, namespace="db")])  # b: both sides of it
    time.sleep(0.25)
    writer._tick()
    assert multi.commits == [] and multi.chunks == []  # no cut possible: wait for the next STATE
    writer._consume([global_state({"a": 10, "b": 11})])
    writer._drain("all")
    writer._release_states()
    assert [tables for _, tables in multi.commits] == [{"a": 10, "b": 10}]  # b's key 3 twice, merged
    assert len(output.states) == 2
    writer._stop_pool()


def test_without_any_state_the_due_transaction_commits_everything_after_one_more_interval(caplog):
    writer, plain, multi, _ = make_writer(flush_interval_seconds=0.2)
    writer._consume([record("a", i, namespace="db") for i in range(5)])
    with caplog.at_level(logging.INFO, logger="airbyte"):
        deadline = time.monotonic() + 3
        while not multi.commits and time.monotonic() < deadline:
            time.sleep(0.05)
            writer._tick()
            writer._drain("all")
        writer._drain("all")
    assert multi.commits and multi.commits[0][1] == {"a": 5}
    assert any("without a STATE to cut at" in m for m in caplog.messages)
    writer._stop_pool()


def test_stream_states_fall_back_to_loading_table_by_table_and_say_so_once(caplog):
    writer, plain, multi, output = make_writer(batch_size=100, batch_bytes=1024)
    lines = []
    for i in range(300):  # ~45-byte rows: a 1 KiB chunk of each stream before the first STATE
        lines += [record("a", i, namespace="db", pad="x" * 30), record("b", i, namespace="db", pad="y" * 30)]
        if i % 50 == 49:
            lines += [stream_state("a", i, namespace="db"), stream_state("b", i, namespace="db")]
    with caplog.at_level(logging.INFO, logger="airbyte"):
        run(writer, lines)
    # The chunks sent before the first STATE commit in their transaction; then table by table.
    assert len(multi.commits) == 1 and sum(multi.commits[0][1].values()) < 100
    assert len(plain.loads) >= 6
    assert sorted(r["id"] for r in plain.committed["a"]) == list(range(300))
    for message, committed in output.states:
        stream = message["state"]["stream"]["stream_descriptor"]["name"]
        value = message["state"]["stream"]["stream_state"]["v"]
        assert {(stream, i) for i in range(value + 1)} <= committed
    assert sum("The source sends STREAM states" in m for m in caplog.messages) == 1


def test_streams_in_two_databases_load_table_by_table_and_the_reason_is_logged_once(caplog):
    targets = [FakeTarget(("db1", "a")), FakeTarget(("db2", "b"))]
    writer, plain, multi, output = make_writer(targets, batch_size=100)
    lines = []
    for i in range(200):
        lines += [record("a", i, namespace="db1"), record("b", i, namespace="db2")]
        if i % 50 == 49:
            lines.append(global_state({"a": i + 1, "b": i + 1}))
    with caplog.at_level(logging.INFO, logger="airbyte"):
        run(writer, lines)
    assert multi.commits == [] and len(plain.committed["a"]) == 200
    said = [m for m in caplog.messages if "not in one transaction per checkpoint" in m]
    assert len(said) == 1 and "2 databases (db1, db2)" in said[0]


def test_a_failed_chunk_releases_no_state_after_it_and_rolls_nothing_half_in():
    writer, plain, multi, output = make_writer(fail_on_call=4, batch_size=50)
    with pytest.raises(TransientError, match="injected failure"):
        run(writer, interleaved(400, every=25))
    assert plain.committed.get("a", []) == plain.committed.get("b", [])  # whole checkpoints, or nothing
    for position, counts in checkpoints_at_echo(output):
        assert counts["a"] == counts["b"] >= position["a"]
    committed = len(plain.committed.get("a", []))
    assert all(position["a"] <= committed for position, _ in checkpoints_at_echo(output))


def test_the_cut_rule():
    assert cut_for(0, 10, dedup=True) is Cut.ALL
    assert cut_for(10, 10, dedup=True) is Cut.NONE
    assert cut_for(3, 10, dedup=False) is Cut.AT_MARK
    assert cut_for(3, 10, dedup=True) is Cut.IMPOSSIBLE


def test_while_a_commit_is_on_its_way_the_next_transaction_grows_instead_of_queuing_another():
    writer, plain, multi, output = make_writer(batch_size=20)
    lane = writer._checkpoints.lane
    writer._consume(interleaved(10, every=10))  # 20 records, a STATE: due by size, committed
    writer._consume(interleaved(30, every=10, first=10))  # three more STATEs, each past the batch size
    queued = [op for op in [lane.inflight, *lane.waiting] if type(op).__name__ == "CheckpointCommit"]
    assert len(queued) + len(multi.commits) == 1  # one commit sealed, whatever the pool did meanwhile
    writer._drain("all")
    writer._consume([record("a", 40, namespace="db"), global_state({"a": 41, "b": 40})])
    writer._drain("all")
    assert [sum(t.values()) for _, t in multi.commits] == [20, 61]  # then one commit of everything since
    writer._stop_pool()


@pytest.mark.parametrize(
    "mode, version, load_urls, used, why",
    [
        ("auto", "4.0.1", [], True, ""),
        ("always", "4.0.0", [], True, ""),
        ("never", "4.0.1", [], False, ""),
        ("auto", "3.5.4", [], False, "StarRocks 3.5.4 has no transactions spanning several tables"),
        ("auto", "4.0.1", ["be1:8040"], False, "`load_urls` is set"),
        ("auto", None, [], False, "the StarRocks version is unknown"),
    ],
)
def test_checkpoint_transactions_need_auto_or_always_4_0_and_no_load_urls(
    mode, version, load_urls, used, why
):
    from destination_starrocks.multi_table_load import checkpoint_loader_for
    from destination_starrocks.server_info import ServerInfo, ServerVersion
    from destination_starrocks.stream_load import StreamLoader

    config = StarRocksConfig(host="h", transaction_stream_load=mode, load_urls=load_urls)
    server = ServerInfo(ServerVersion.parse(version) if version else None, version or "?")
    loader = StreamLoader(config)
    try:
        checkpoints, reason = checkpoint_loader_for(config, loader, server)
    finally:
        loader.close()
    assert (checkpoints is not None, reason.startswith(why) if why else reason == "") == (used, True), reason


def test_a_table_slowed_down_for_version_pressure_sets_the_pace_of_the_transaction():
    from destination_starrocks.flush_policy import StreamLimits

    writer, plain, multi, output = make_writer(flush_interval_seconds=0.2, batch_size=10_000)
    slowed = writer._streams[("db", "b")]
    writer._apply_limits(slowed, StreamLimits(3, 80_000, slowed.limits.batch_bytes, 30.0))
    writer._consume(interleaved(5, every=5))  # rows of a (0.2 s) and b (30 s): the longest interval rules
    time.sleep(0.3)
    writer._tick()
    assert multi.chunks == [] and multi.commits == []
    writer._consume([record("a", 5, namespace="db"), global_state({"a": 6, "b": 5})])
    assert multi.commits == []  # a STATE does not make it due either
    writer._flush_all(Reason.END)
    writer._drain("all")
    assert multi.commits[0][1] == {"a": 6, "b": 5}
    writer._stop_pool()
