"""The writer under version pressure: it slows a table down, speeds it up again, says so, and sums it up."""

from __future__ import annotations

import io
import logging

from destination_starrocks import flush_policy
from destination_starrocks.pressure_control import TablePressure
from destination_starrocks.spec import StarRocksConfig
from destination_starrocks.stream_load import LoadRequest, LoadResult
from destination_starrocks.version_pressure import VERSIONS, Limit, Reading
from destination_starrocks.writer import Writer
from unit_tests.writer_fakes import (
    FakeTarget,
    FinishRecorder,
    RecordingLoader,
    SnapshottingOutput,
    record,
    stream_state,
)


class FakeReader:
    """A VersionPressureReader whose readings the test sets: every request is answered at the next collect."""

    def __init__(self, limit: int = 100, versions: float | None = 0.0) -> None:
        self.limit = Limit(limit, "information_schema.be_configs")
        self.versions = versions
        self.requests: list[tuple[str, str]] = []
        self._pending: list[tuple[str, str]] = []

    def request(self, database: str, table: str) -> None:
        self.requests.append((database, table))
        self._pending.append((database, table))

    def queued(self) -> set[tuple[str, str]]:
        return set()

    def collect(self) -> list[tuple[tuple[str, str], Reading]]:
        source = "information_schema.be_tablets" if self.versions is not None else "not readable (denied)"
        out = [
            (key, Reading(self.versions, self.limit.value, VERSIONS, source, 0.0)) for key in self._pending
        ]
        self._pending = []
        return out

    def close(self) -> None:
        pass


def make_writer(loader, reader, **config):  # noqa: ANN001
    settings = {"host": "h", "flush_interval_seconds": 0, **config}
    output = SnapshottingOutput(loader)
    writer = Writer(
        StarRocksConfig(**settings),
        [FakeTarget((None, "a"))],
        loader,
        FinishRecorder(),
        output,
        pressure=reader,
    )
    return writer, output


def chatty(first: int, count: int) -> list[bytes]:
    return [line for i in range(first, first + count) for line in (record("a", i), stream_state("a", i))]


def run(writer: Writer, lines: list[bytes]):  # noqa: ANN201
    return writer.run(io.BytesIO(b"\n".join(lines) + b"\n"))


def test_a_state_after_every_record_with_a_zero_interval_stops_being_a_load_per_state_near_the_ceiling(
    caplog,
):
    loader = RecordingLoader()
    writer, output = make_writer(loader, FakeReader(limit=100))  # ceiling 0.5: 50 versions; slow from 25
    with caplog.at_level(logging.INFO, logger="airbyte"):
        summary = run(writer, chatty(0, 200))
    # 25 loads, one per STATE, then the table is slowed down and the rest waits for the interval or the end.
    assert loader.calls <= 26
    assert len(loader.committed["a"]) == 200 and len(output.states) == 200
    assert any(m.startswith("Slowing down loads into db.a (step 1 of 6)") for m in caplog.messages)
    assert summary.tables["db.a"].slowdowns >= 1 and summary.tables["db.a"].loads == loader.calls


def test_without_a_reader_or_with_the_ceiling_at_zero_every_state_is_still_a_load():
    for reader, ceiling in ((None, 0.5), (FakeReader(limit=100), 0.0)):
        loader = RecordingLoader()
        writer, output = make_writer(loader, reader, version_ceiling=ceiling)
        run(writer, chatty(0, 200))
        assert loader.calls == 200 and len(output.states) == 200


def test_pressure_far_below_the_ceiling_changes_nothing():
    loader = RecordingLoader()
    reader = FakeReader(limit=1000)
    writer, _ = make_writer(loader, reader, flush_interval_seconds=60, batch_size=50)
    run(writer, [record("a", i) for i in range(500)])
    assert loader.calls == 10  # batch_size 50, as without a reader
    assert reader.requests == [("db", "a")] * 2  # once while loading (not per load), once for the summary


def test_a_fresh_low_reading_speeds_the_table_up_again_and_the_log_says_why(caplog):
    loader = RecordingLoader()
    reader = FakeReader(limit=100, versions=45.0)
    writer, _ = make_writer(loader, reader)
    runtime = writer._streams[(None, "a")]
    pressure = writer._pressure.table(runtime.table_key)
    with caplog.at_level(logging.INFO, logger="airbyte"):
        writer._consume(chatty(0, 1))  # one load sealed; its first reading is requested
        writer._tick()  # 45 versions (+ its own load) of 50 allowed: near the ceiling
        assert pressure.step == flush_policy.slowdown_for(flush_policy.PressurePolicy(0.5), 46, 100) == 5
        assert runtime.interval_seconds == 32.0 and runtime.row_limit == 500_000 * 32
        writer._drain("all")
        reader.versions = 5.0  # compaction caught up
        pressure.last_requested = -1e9  # the next reading is due
        writer._consume(chatty(1, 1))  # a STATE no longer flushes: the interval is 32 s now
        assert loader.calls == 1
        writer._tick()
        writer._tick()
    assert pressure.step == 0 and runtime.interval_seconds == 0.0 and runtime.row_limit == 500_000
    slowed = [m for m in caplog.messages if m.startswith("Slowing down loads into db.a")]
    sped = [m for m in caplog.messages if m.startswith("Speeding up loads into db.a (step 0 of 6)")]
    assert slowed and "StarRocks reports a version count of 45 (information_schema.be_tablets)" in slowed[-1]
    assert sped and "compaction caught up" in sped[0] and "one load on every STATE" in sped[0]
    writer._stop_pool()


class RefusedOnceLoader(RecordingLoader):
    """Every load commits, the third after waiting 8 s for compaction ("too many versions")."""

    def __call__(self, request: LoadRequest, commit: bool = True) -> LoadResult | None:
        result = super().__call__(request, commit)
        if result is not None and self.calls == 3:
            return LoadResult(result.label, result.status, result.loaded_rows, 1, 8.0, "fake", 8.0)
        return result


def test_too_many_versions_answers_slow_an_unreadable_table_down_and_loads_that_pass_speed_it_up(caplog):
    loader = RefusedOnceLoader()
    writer, output = make_writer(loader, FakeReader(limit=100, versions=None))
    with caplog.at_level(logging.INFO, logger="airbyte"):
        summary = run(writer, chatty(0, 3))
    assert len(output.states) == 3
    assert any(
        "StarRocks answered a load with 'too many versions' and it waited 8.0s" in m for m in caplog.messages
    )
    table = summary.tables["db.a"]
    assert (table.refused_loads, table.compaction_wait_seconds, table.highest_version_count) == (1, 8.0, None)
    assert table.source.startswith("not readable")
    line = next(m for m in caplog.messages if m.startswith("Table db.a:"))
    assert "8.0s waiting for compaction (1 loads refused with 'too many versions')" in line
    assert "version count not readable" in line


def test_the_summary_line_names_records_loads_and_the_highest_count_seen(caplog):
    loader = RecordingLoader()
    writer, _ = make_writer(loader, FakeReader(limit=100, versions=30.0), flush_interval_seconds=60)
    with caplog.at_level(logging.INFO, logger="airbyte"):
        run(writer, [record("a", i) for i in range(10)])
    line = next(m for m in caplog.messages if m.startswith("Table db.a:"))
    assert line.startswith("Table db.a: 10 records, 1 loads (= 1 new versions per tablet), ")
    assert "highest version count seen 30 of 100 (information_schema.be_tablets)" in line


def test_table_pressure_projects_the_reading_plus_this_syncs_own_loads() -> None:
    pressure = TablePressure(limit=100)
    pressure.sealed = 2
    assert pressure.projected() == 2  # not read yet: this sync's own loads from zero
    pressure.requested(now=0.0)
    pressure.on_commit(0.0)  # committed after the request: perhaps not in the reading, so counted
    pressure.on_reading(Reading(10.0, 100, VERSIONS, "information_schema.be_tablets", 0.0))
    pressure.sealed += 3
    assert pressure.projected() == 10 + 1 + 4  # reading + committed since + sealed and not yet committed
    pressure.on_commit(2.5)  # it had to wait for compaction first
    assert pressure.projected() == 15
    assert (pressure.refusals, pressure.compaction_wait_seconds, pressure.highest_seen) == (1, 2.5, 10.0)
    assert not pressure.due(now=1.0) and pressure.due(now=5.0)
    assert not pressure.due(now=5.0, tables_loading=40)  # 40 tables: each read every 10 s at most
    pressure.on_reading(Reading(None, 100, VERSIONS, "not readable now (lost connection)", 6.0, retry=True))
    assert pressure.projected() == 15  # a failed connection changes nothing
    pressure.on_reading(Reading(None, 100, VERSIONS, "not readable (x)", 6.0))
    assert pressure.projected() is None and pressure.highest_seen == 10.0
