"""The surrogate key `_airbyte_pk` of a row read back from its table equals the one the shaper gave its record.

A rebuild into a surrogate-keyed table computes `_airbyte_pk` from the typed values it reads over the MySQL
protocol (key_plan.stored_canonical, surrogate_copy.py); the shaper computes it from the record's JSON. If the
two ever differ, a later record of a copied key lands beside the copied row instead of replacing it. So, for
every key kind the surrogate covers, records drawn by hypothesis go through the real shaper and a real Stream
Load into a table TableManager created, and each row read back must hash to the `_airbyte_pk` it holds.
Against the emulator, or a real StarRocks with STARROCKS_HOST.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from destination_starrocks.errors import RecordError
from destination_starrocks.key_plan import stored_canonical, surrogate_key
from destination_starrocks.spec import StarRocksConfig
from destination_starrocks.sql import SqlClient
from destination_starrocks.tables import LoadTarget, TableManager
from integration_tests.connector import catalog, connect, stream

pytestmark = pytest.mark.timeout(600)

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
ZONES = st.sampled_from(
    [None, dt.UTC, dt.timezone(dt.timedelta(hours=5, minutes=30)), dt.timezone(-dt.timedelta(hours=8))]
)
DATETIMES = st.builds(
    lambda moment, zone, sep, zulu: _iso(moment.replace(tzinfo=zone), sep, zulu),
    st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1)),
    ZONES, st.sampled_from(["T", " "]), st.booleans(),
)  # fmt: skip
DECIMAL_TEXT = st.decimals(-(10**20), 10**20, allow_nan=False, allow_infinity=False, places=12).map(str)

# key kind -> (the field's JSON schema, the values a source sends for it)
KINDS: dict[str, tuple[dict, st.SearchStrategy]] = {
    "string": ({"type": "string"}, TEXT),
    "number": (
        {"type": "number"},
        st.integers(-(2**80), 2**80) | st.floats(allow_nan=False, allow_infinity=False) | DECIMAL_TEXT,
    ),
    "big_number": (
        {"type": "number", "airbyte_type": "big_number"},
        st.integers(-(10**20), 10**20) | st.floats(-1e20, 1e20, allow_nan=False) | DECIMAL_TEXT,
    ),
    "time": ({"type": "string", "format": "time"}, st.times(timezones=ZONES).map(lambda t: t.isoformat())),
    "object": ({"type": "object"}, st.dictionaries(TEXT, JSON_VALUES, max_size=4)),
    "array": ({"type": "array"}, st.lists(JSON_VALUES, max_size=4)),
    "union": ({"type": ["null", "string", "integer"]}, TEXT | st.integers(-(2**70), 2**70)),
    "integer": ({"type": "integer"}, st.integers(-(2**63), 2**63 - 1)),
    "big_integer": ({"type": "integer", "airbyte_type": "big_integer"}, st.integers(-(2**127), 2**127 - 1)),
    "boolean": ({"type": "boolean"}, st.booleans()),
    "date": ({"type": "string", "format": "date"}, st.dates(dt.date(1, 1, 1)).map(lambda d: d.isoformat())),
    "date_time": ({"type": "string", "format": "date-time"}, DATETIMES),
}
ALONE = ["string", "number", "big_number", "time", "object", "array", "union"]  # keys of one field
COMPOSITE = list(KINDS)  # one key of every kind: natural kinds too get the surrogate in a composite
# Fixed-width kinds whose widths exceed 128 bytes get the surrogate too: nine LARGEINTs are 144 bytes.
WIDE = ["w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8", "w9"]


def _iso(moment: dt.datetime, sep: str, zulu: bool) -> str:
    text = moment.isoformat(sep)
    return text[:-6] + "Z" if zulu and text.endswith("+00:00") else text


@pytest.fixture(scope="module")
def tables(starrocks):  # noqa: ANN001, ANN201
    database = f"surrogate_{uuid.uuid4().hex[:8]}"
    config = StarRocksConfig(
        host=starrocks.host, query_port=starrocks.query_port, http_port=starrocks.http_port,
        username=starrocks.user, password=starrocks.password, database=database,
        table_properties={"replication_num": "1"},
    )  # fmt: skip
    with SqlClient.from_config(config) as sql:
        yield TableManager(sql, config)
        sql.execute(f"DROP DATABASE IF EXISTS `{database}`")


def prepare(tables: TableManager, name: str, fields: dict[str, dict]) -> LoadTarget:
    entry = stream(name, fields, mode="append_dedup", primary_key=[[f] for f in fields])
    target = tables.prepare(ConfiguredAirbyteCatalogSerializer.load(catalog(entry)).streams[0])
    assert target.shaper.surrogate_key == "_airbyte_pk", name
    return target


def round_trip(starrocks, target: LoadTarget, records: list[dict[str, Any]]) -> None:  # noqa: ANN001
    """Load `records` through the shaper; every row read back hashes (stored_canonical) to its `_airbyte_pk`."""
    shaped, expected = [], set()
    for data in records:
        try:
            expected.add(target.shaper.dedup_key(dict(data))[0])
        except RecordError:  # a value the key column cannot hold: the sync would refuse the record
            continue
        shaped.append(target.shaper.shape(dict(data), 1_700_000_000_000))
    table = f"`{target.database}`.`{target.table}`"
    with connect(starrocks) as conn, conn.cursor() as cursor:
        cursor.execute(f"TRUNCATE TABLE {table}")
    if shaped:
        headers = {"label": f"k_{uuid.uuid4().hex}", "format": "json", "strip_outer_array": "true"}
        answer = starrocks.http.stream_load(
            target.database, target.table, b"[" + b",".join(shaped) + b"]", headers
        )
        assert answer.json()["Status"] == "Success", answer.json()
    plans = [p for p in target.shaper.plans if p.key]
    columns = ", ".join(f"`{p.column}`" for p in plans)
    with connect(starrocks) as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT `_airbyte_pk`, {columns} FROM {table}")
        rows = cursor.fetchall()
    assert {int(row[0]) for row in rows} == expected
    for pk, *values in rows:
        texts = [stored_canonical(p.sr_type.kind)(v) for p, v in zip(plans, values, strict=True)]
        assert surrogate_key(texts) == int(pk), (texts, values)


EXAMPLES = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.mark.parametrize("kind", ALONE)
def test_a_key_of_one_field_hashes_the_same_from_the_record_and_from_its_row(starrocks, tables, kind):
    schema, values = KINDS[kind]
    target = prepare(tables, f"one_{kind}", {"k": schema})

    @EXAMPLES
    @given(st.lists(values, min_size=1, max_size=12))
    def check(keys: list[Any]) -> None:
        round_trip(starrocks, target, [{"k": key} for key in keys])

    check()


def test_a_composite_key_of_every_kind_hashes_the_same_from_the_record_and_from_its_row(starrocks, tables):
    target = prepare(tables, "every_kind", {kind: KINDS[kind][0] for kind in COMPOSITE})
    record = st.fixed_dictionaries({kind: KINDS[kind][1] for kind in COMPOSITE})

    @EXAMPLES
    @given(st.lists(record, min_size=1, max_size=6))
    def check(records: list[dict[str, Any]]) -> None:
        round_trip(starrocks, target, records)

    check()


def test_a_fixed_width_key_over_128_bytes_hashes_the_same(starrocks, tables):
    schema = {"type": "integer", "airbyte_type": "big_integer"}
    target = prepare(tables, "wide", dict.fromkeys(WIDE, schema))
    wide = st.integers(-(2**127), 2**127 - 1)

    @EXAMPLES
    @given(st.lists(st.fixed_dictionaries(dict.fromkeys(WIDE, wide)), min_size=1, max_size=6))
    def check(records: list[dict[str, Any]]) -> None:
        round_trip(starrocks, target, records)

    check()
