"""The demo's report and its pieces, without running anything: figures in, text and verdict out.

Contract: the report's table lists every table with rows, loads, versions and the one-INSERT-per-record
figure; `check` fails a run whose rows differ from the records sent; `faker_count` asks source-faker for
about the requested number of records; the pump's counters see RECORD and STATE lines.
"""

from __future__ import annotations

from collections import Counter

from demo import report
from demo.faker_source import FAKER_PRODUCTS, faker_count
from demo.pipe import SyncResult
from demo.target import TableFigures, quote_identifier


def _sync(**records: int) -> SyncResult:
    return SyncResult(records=Counter(records), states_sent=7, states_returned=7, seconds=2.0)


def test_report_sets_versions_against_one_insert_per_record() -> None:
    figures = [TableFigures("users", 150_000, 2, 2, 3), TableFigures("products", 100, 1, 1, 2)]
    sync = _sync(users=150_000, products=100)
    text = report.render(figures, {"users": 150_000, "products": 100}, sync, "bundled StarRocks emulator")
    users = next(line for line in text.splitlines() if line.strip().startswith("users"))
    assert "150,000 versions" in users and "75,000x" in users
    total = next(line for line in text.splitlines() if line.strip().startswith("total"))
    assert "150,100" in total and "3" in total.split() and "50,033x" in total
    assert "7 STATE messages sent, 7 returned" in text


def test_report_says_n_a_when_a_figure_is_unknown() -> None:
    text = report.render(
        [TableFigures("users", 10, None, None, None)], {"users": 10}, _sync(users=10), "real"
    )
    users = next(line for line in text.splitlines() if line.strip().startswith("users"))
    assert users.split().count("n/a") == 4


def test_check_passes_when_every_table_holds_its_records() -> None:
    figures = [TableFigures("users", 5, 1, 1, 1)]
    assert report.check(figures, {"users": 5}, _sync(users=5)) == []


def test_check_names_a_table_with_missing_rows_and_a_missing_table() -> None:
    figures = [TableFigures("users", 4, 1, 1, 1)]
    problems = report.check(figures, {"users": 5, "purchases": 3}, _sync(users=5, purchases=3))
    assert any("'users'" in problem and "5 records sent, 4 rows" in problem for problem in problems)
    assert any("'purchases'" in problem and "not created" in problem for problem in problems)


def test_check_fails_a_run_that_sent_nothing() -> None:
    assert report.check([], {}, _sync()) == ["the source sent no records"]


def test_faker_count_asks_for_about_the_requested_records() -> None:
    # users = count, purchases ≈ count, products = 100
    assert 2 * faker_count(300_000) + FAKER_PRODUCTS == 300_000
    assert faker_count(1) == 1


def test_quote_identifier_doubles_backticks() -> None:
    assert quote_identifier("we`ird") == "`we``ird`"
