"""Turning version pressure into each table's flush limits: the writer's side of version-aware loading.

`PressureControl` keeps, per table loaded into, what StarRocks last reported of its version count (readings
from version_pressure.py's reader), the loads this sync sealed and committed since, and the slowdown step the
flush policy chose (flush_policy.py `next_slowdown`, `stream_limits`). The writer tells it when a load is sealed
or committed and asks it, between blocks of input, which tables' limits changed; it logs every change and why,
and at the end gives each table's summary. The count it acts on is the latest reading plus every version the
sync added or is about to add since (compaction since the reading is not subtracted, so it errs on the slow
side); before the first reading, the sync's own loads alone, so a burst at the start is caught. Where nothing
can be read, a load that had to wait on "too many versions" slows the table down all the way and each load
that goes through at once speeds it up a step. No threads, no I/O of its own (the reader has both).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from destination_starrocks import flush_policy
from destination_starrocks.flush_policy import FlushLimits, PressurePolicy, StreamLimits
from destination_starrocks.spec import StarRocksConfig
from destination_starrocks.version_pressure import (
    DEFAULT_TABLET_MAX_VERSIONS,
    READ_EVERY_SECONDS,
    READ_SPACING_SECONDS,
    VERSIONS,
    Limit,
    Reading,
)

logger = logging.getLogger("airbyte")

TableKey = tuple[str, str]  # (database, table loaded into)
# At the end, how long to wait for the last reading of each table (for the summary).
FINAL_READING_SECONDS = 2.0


class Reader(Protocol):
    """What version_pressure.VersionPressureReader offers."""

    limit: Limit

    def request(self, database: str, table: str) -> None: ...
    def queued(self) -> set[TableKey]: ...
    def collect(self) -> list[tuple[TableKey, Reading]]: ...


@dataclass
class TablePressure:
    """One table's pressure as the sync knows it, and the figures of its summary."""

    limit: int = DEFAULT_TABLET_MAX_VERSIONS
    kind: str = VERSIONS
    reading: Reading | None = None  # the latest reading, readable or not
    step: int = 0  # the slowdown step applied (0: the configured limits)
    sealed: int = 0  # loads sealed to be committed
    loads: int = 0  # loads committed
    committed_since_read: int = 0  # loads committed since the latest readable reading was requested
    highest_seen: float | None = None  # the highest count StarRocks reported during the sync
    refusals: int = 0  # loads that got "too many versions" before they committed
    compaction_wait_seconds: float = 0.0  # seconds loads spent waiting for compaction
    slowdowns: int = 0
    last_requested: float | None = None
    loads_at_request: int = 0

    @property
    def unreadable(self) -> bool:
        return self.reading is not None and self.reading.versions is None

    def due(self, now: float, tables_loading: int = 1) -> bool:
        """A reading at most every READ_EVERY_SECONDS, and with many tables at most one every
        READ_SPACING_SECONDS in all (200 tables: each every 50 s), so the FE sees a few small queries a second."""
        every = max(READ_EVERY_SECONDS, READ_SPACING_SECONDS * tables_loading)
        return self.last_requested is None or now - self.last_requested >= every

    def requested(self, now: float) -> None:
        self.last_requested = now
        self.loads_at_request = self.loads

    def on_reading(self, reading: Reading) -> None:
        """Loads committed since the reading was requested may or may not be in it: they are counted. A reading
        that failed only for now (the connection) changes nothing; the next one is asked for as usual."""
        if reading.retry:
            return
        self.reading = reading
        if reading.versions is None:
            return
        self.limit, self.kind = reading.limit, reading.kind
        self.committed_since_read = self.loads - self.loads_at_request
        self.highest_seen = max(self.highest_seen or 0.0, reading.versions)

    def on_commit(self, compaction_wait_seconds: float) -> None:
        self.loads += 1
        self.committed_since_read += 1
        if compaction_wait_seconds > 0:
            self.refusals += 1
            self.compaction_wait_seconds += compaction_wait_seconds

    def projected(self) -> float | None:
        """The count to act on (None: unreadable): reading + committed since + sealed and not yet committed."""
        pending = self.sealed - self.loads
        if self.reading is None:
            return float(self.sealed)  # not read yet: this sync's own loads from zero
        if self.reading.versions is None:
            return None
        return self.reading.versions + self.committed_since_read + pending


@dataclass(frozen=True)
class TableSummary:
    """One table's figures at the end of a sync (one LOG line each)."""

    records: int
    loads: int  # committed loads = new versions on each tablet they touched
    highest_version_count: float | None  # the highest count StarRocks reported; None: not read
    version_limit: int
    source: str  # where the count came from, or why it was not read
    compaction_wait_seconds: float
    refused_loads: int
    slowdowns: int

    def line(self, table: str) -> str:
        seen = (
            f"highest version count seen {self.highest_version_count:.0f} of {self.version_limit} ({self.source})"
            if self.highest_version_count is not None
            else f"version count {self.source}"
        )
        return (
            f"Table {table}: {self.records} records, {self.loads} loads (= {self.loads} new versions per tablet), "
            f"{seen}, {self.compaction_wait_seconds:.1f}s waiting for compaction ({self.refused_loads} loads "
            f"refused with 'too many versions'), slowed down {self.slowdowns} times."
        )


class PressureControl:
    """Per-table slowdown decisions of one sync; `reader` None (or `version_ceiling` 0): never slows down."""

    def __init__(self, config: StarRocksConfig, limits: FlushLimits, reader: Reader | None) -> None:
        self._limits = limits
        self._policy = PressurePolicy.from_config(config)
        self._reader = reader if self._policy.ceiling > 0 else None
        self._tables: dict[TableKey, TablePressure] = {}

    @property
    def active(self) -> bool:
        return self._reader is not None

    def table(self, key: TableKey) -> TablePressure:
        pressure = self._tables.get(key)
        if pressure is None:
            limit = self._reader.limit.value if self._reader is not None else DEFAULT_TABLET_MAX_VERSIONS
            pressure = self._tables[key] = TablePressure(limit=limit)
        return pressure

    def limits(self, key: TableKey) -> StreamLimits:
        return flush_policy.stream_limits(self._limits, self.table(key).step)

    # ---- what the writer reports ---------------------------------------------------------------------------

    def sealed(self, key: TableKey) -> StreamLimits | None:
        """A load was sealed: one more version on its way. New limits if that calls for a slowdown."""
        p = self.table(key)
        p.sealed += 1
        if self._reader is None:
            return None
        if p.last_requested is None:
            self._request(key, time.monotonic())
        return self._adapt(key, fresh=False)

    def committed(self, key: TableKey, compaction_wait_seconds: float) -> StreamLimits | None:
        """A load committed. If it first got "too many versions", the table is at its limit: slowest step. If its
        count is unreadable, a load that went through at once speeds it up a step."""
        p = self.table(key)
        p.on_commit(compaction_wait_seconds)
        if self._reader is None:
            return None
        if compaction_wait_seconds > 0:
            why = (
                f"StarRocks answered a load with 'too many versions' and it waited {compaction_wait_seconds:.1f}s "
                "for compaction"
            )
            return self._set_step(key, flush_policy.MAX_SLOWDOWN, why)
        if p.step > 0 and p.unreadable:
            why = "a load went through without 'too many versions' (its version count is not readable)"
            return self._set_step(key, p.step - 1, why)
        return None

    def watch(self, now: float, active: Iterable[TableKey]) -> list[tuple[TableKey, StreamLimits]]:
        """Between blocks: take the readings that arrived (new limits where they call for them), and ask for
        those of tables being loaded into (`active`: buffering, or with loads on their way) that are due."""
        if self._reader is None:
            return []
        changed = []
        for key, reading in self._reader.collect():
            p = self.table(key)
            first = p.reading is None
            p.on_reading(reading)
            if reading.retry:
                logger.debug("Reading the version count of %s.%s failed for now: %s", *key, reading.source)
            elif first and reading.versions is None:
                logger.info(
                    "The version count of %s.%s is %s; it is slowed down only if StarRocks answers a load with "
                    "'too many versions'.",
                    *key,
                    reading.source,
                )
            if (limits := self._adapt(key, fresh=True)) is not None:
                changed.append((key, limits))
        keys = set(active) | {
            k for k, p in self._tables.items() if p.sealed > p.loads or p.committed_since_read
        }
        loading = [k for k in keys if not self.table(k).unreadable]  # unreadable: said once, not asked again
        for key in loading:
            if self.table(key).due(now, len(loading)):
                self._request(key, now)
        return changed

    def finish(self) -> None:
        """One last reading of every table loaded into (the count peaks after the last loads), for the summary;
        waits at most FINAL_READING_SECONDS."""
        if self._reader is None:
            return
        deadline = time.monotonic() + FINAL_READING_SECONDS
        while self._reader.queued() and time.monotonic() < deadline:  # readings begun before the last loads
            self._take_readings()
            time.sleep(0.01)
        wanted = {k for k, p in self._tables.items() if p.loads and not p.unreadable}
        for key in wanted:
            self._request(key, time.monotonic())
        while wanted and time.monotonic() < deadline:
            wanted -= self._take_readings()
            if wanted:
                time.sleep(0.01)

    def summary(self, key: TableKey, records: int) -> TableSummary:
        p = self.table(key)
        if self._reader is None:
            source = "not read (version_ceiling 0)" if self._policy.ceiling <= 0 else "not read"
        else:
            source = p.reading.source if p.reading is not None else "not read (nothing loaded into it)"
        return TableSummary(
            records,
            p.loads,
            p.highest_seen,
            p.limit,
            source,
            p.compaction_wait_seconds,
            p.refusals,
            p.slowdowns,
        )

    # ---- decisions -----------------------------------------------------------------------------------------

    def _request(self, key: TableKey, now: float) -> None:
        assert self._reader is not None
        self.table(key).requested(now)
        self._reader.request(*key)

    def _take_readings(self) -> set[TableKey]:
        assert self._reader is not None
        taken = set()
        for key, reading in self._reader.collect():
            taken.add(key)
            self.table(key).on_reading(reading)
        return taken

    def _adapt(self, key: TableKey, fresh: bool) -> StreamLimits | None:
        p = self.table(key)
        projected = p.projected()
        step = flush_policy.next_slowdown(self._policy, p.step, projected, p.limit, fresh)
        if step == p.step or projected is None:
            return None
        return self._set_step(key, step, self._why(p, projected, rising=step > p.step))

    def _why(self, p: TablePressure, projected: float, rising: bool) -> str:
        if p.reading is None or p.reading.versions is None:
            seen = f"this sync has sealed {projected:.0f} loads into it (no reading yet)"
        else:
            seen = (
                f"StarRocks reports a {p.kind} of {p.reading.versions:.0f} ({p.reading.source}), and this sync has "
                f"committed or sealed {projected - p.reading.versions:.0f} loads since"
            )
        if not rising:
            seen = f"compaction caught up: {seen}"
        allowed = self._policy.ceiling * p.limit
        return f"{seen}; the ceiling is {allowed:.0f} (version_ceiling {self._policy.ceiling:g} of {p.limit})"

    def _set_step(self, key: TableKey, step: int, why: str) -> StreamLimits | None:
        p = self.table(key)
        if step == p.step:
            return None
        slower = step > p.step
        p.slowdowns += slower
        p.step = step
        limits = flush_policy.stream_limits(self._limits, step)
        logger.info(
            "%s loads into %s.%s (step %d of %d): %s. Now %s.",
            "Slowing down" if slower else "Speeding up",
            *key,
            step,
            flush_policy.MAX_SLOWDOWN,
            why,
            describe(limits),
        )
        return limits


def describe(limits: StreamLimits) -> str:
    interval = (
        "on every STATE" if limits.interval_seconds <= 0 else f"at most every {limits.interval_seconds:g}s"
    )
    mib = limits.batch_bytes / (1024 * 1024)
    return f"one load {interval}, of up to {limits.batch_size:,} rows or {mib:,.0f} MiB"
