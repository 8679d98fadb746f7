"""Reading version pressure: which source answers, what is remembered when one fails, the limit and its default."""

from __future__ import annotations

import time

import pytest

from destination_starrocks import version_pressure as vp
from destination_starrocks.errors import StarRocksSqlError

DENIED = StarRocksSqlError(
    5203, "Access denied; you need (at least one of) the OPERATE privilege(s) on SYSTEM"
)


class FakeSql:
    """Answers by statement; an exception as an answer is raised. Records every statement it ran."""

    def __init__(self, answers: dict[str, object]) -> None:
        self.answers = answers
        self.ran: list[tuple[str, object]] = []
        self.closed = False

    def query(self, sql: str, args: object = None) -> list[tuple]:
        self.ran.append((sql, args))
        answer = self.answers.get(sql, [])
        if isinstance(answer, BaseException):
            raise answer
        return answer  # type: ignore[return-value]

    def close(self) -> None:
        self.closed = True


LIMIT = vp.Limit(100, "information_schema.be_configs")


def no_score_limit() -> vp.Limit:
    raise AssertionError("the compaction score limit is read only for shared-data tables")


def test_version_count_comes_from_be_tablets_by_table_id_resolved_once() -> None:
    sql = FakeSql({vp.TABLE_ID_SQL: [(42,)], vp.BE_TABLETS_SQL: [(17,)]})
    probe = vp.TableProbe()
    first = vp.read_table(sql, "d", "t", probe, LIMIT, no_score_limit)
    second = vp.read_table(sql, "d", "t", probe, LIMIT, no_score_limit)
    assert (first.versions, first.limit, first.kind) == (17.0, 100, vp.VERSIONS)
    assert first.source == "information_schema.be_tablets" and second.versions == 17.0
    assert sql.ran == [(vp.TABLE_ID_SQL, ("d", "t")), (vp.BE_TABLETS_SQL, (42,)), (vp.BE_TABLETS_SQL, (42,))]


def test_shared_data_tables_are_read_by_compaction_score_against_its_own_limit() -> None:
    sql = FakeSql(
        {
            vp.TABLE_ID_SQL: [(42,)],
            vp.BE_TABLETS_SQL: [(None,)],  # no local tablets: a shared-data table
            vp.PARTITIONS_META_SQL: [(120.0,)],
        }
    )
    probe = vp.TableProbe()
    reading = vp.read_table(sql, "d", "t", probe, LIMIT, lambda: vp.Limit(2000, "ADMIN SHOW FRONTEND CONFIG"))
    assert (reading.versions, reading.limit, reading.kind) == (120.0, 2000, vp.COMPACTION_SCORE)
    assert "be_tablets" in probe.failed
    vp.read_table(sql, "d", "t", probe, LIMIT, lambda: vp.Limit(2000, "x"))
    assert [s for s, _ in sql.ran].count(vp.BE_TABLETS_SQL) == 1  # a source that failed is not asked again


def test_nothing_readable_says_why_per_source_and_asks_no_more() -> None:
    sql = FakeSql({vp.TABLE_ID_SQL: DENIED, vp.PARTITIONS_META_SQL: [(0.0,)]})
    probe = vp.TableProbe()
    reading = vp.read_table(sql, "d", "t", probe, LIMIT, no_score_limit)
    assert reading.versions is None
    assert reading.source.startswith("not readable (be_tablets: StarRocks error 5203: Access denied")
    assert "partitions_meta: no compaction score" in reading.source
    ran = len(sql.ran)
    assert vp.read_table(sql, "d", "t", probe, LIMIT, no_score_limit).versions is None
    assert len(sql.ran) == ran


def test_tablet_max_versions_is_the_strictest_be_or_the_default() -> None:
    assert vp.read_version_limit(FakeSql({vp.BE_CONFIGS_SQL: [("1000",), ("800",)]})) == vp.Limit(
        800, "information_schema.be_configs"
    )
    denied = vp.read_version_limit(FakeSql({vp.BE_CONFIGS_SQL: DENIED}))
    assert denied.value == vp.DEFAULT_TABLET_MAX_VERSIONS == 1000
    assert denied.source.startswith("default (information_schema.be_configs: StarRocks error 5203")
    assert vp.read_score_limit(FakeSql({vp.SCORE_BOUND_SQL: DENIED})).value == 2000


def first_readings(reader: vp.VersionPressureReader) -> list:
    """The first readings the reader hands back (within 5 s), then close it."""
    deadline = time.monotonic() + 5
    readings: list = []
    while not readings and time.monotonic() < deadline:
        readings = reader.collect()
        time.sleep(0.01)
    reader.close()
    return readings


def test_the_reader_works_in_the_background_and_queues_a_table_once() -> None:
    sql = FakeSql({vp.BE_CONFIGS_SQL: [("60",)], vp.TABLE_ID_SQL: [(7,)], vp.BE_TABLETS_SQL: [(5,)]})
    reader = vp.VersionPressureReader(lambda: sql)
    assert reader.start() == vp.Limit(60, "information_schema.be_configs")
    reader.request("d", "t")
    reader.request("d", "t")  # already queued: not asked twice
    readings = first_readings(reader)
    assert [(key, r.versions, r.limit) for key, r in readings] == [(("d", "t"), 5.0, 60)]
    assert [s for s, _ in sql.ran].count(vp.BE_TABLETS_SQL) == 1
    assert sql.closed


def test_a_connection_that_fails_gives_an_unreadable_reading_not_an_error() -> None:
    def connect() -> FakeSql:
        raise StarRocksSqlError(2003, "Can't connect")

    reader = vp.VersionPressureReader(connect)
    assert reader.start().value == 1000
    reader.request("d", "t")
    readings = first_readings(reader)
    assert readings and readings[0][1].versions is None and "Can't connect" in readings[0][1].source
    assert readings[0][1].retry  # only the connection failed: asked again later


def test_a_connection_lost_mid_read_is_not_remembered_as_an_unreadable_source() -> None:
    sql = FakeSql({vp.TABLE_ID_SQL: StarRocksSqlError(2013, "Lost connection to MySQL server during query")})
    probe = vp.TableProbe()
    with pytest.raises(StarRocksSqlError):
        vp.read_table(sql, "d", "t", probe, LIMIT, no_score_limit)
    assert probe.failed == {}
