"""The write loop: stdin lines → per-stream buffers → Stream Loads → STATE messages, in one direction.

One thread (this one) reads decoded lines, shapes rows into buffers, asks the flush policy what to send, and
releases STATE messages from the checkpoint ledger as loads commit. The load scheduler (load_scheduler.py) runs
the loads on a small thread pool, at most one per stream at a time (so a stream's batches commit in order) and
at most `max_concurrent_loads` in all. The loop never blocks on a load except for backpressure (the memory
budget) and at the end.

Version pressure: each stream has its own effective limits (`StreamRuntime.limits`), the configured ones until
its table's version count climbs; then it is slowed down in steps (longer interval, larger batch) and back.
PressureControl (pressure_control.py) decides, from readings of StarRocks (version_pressure.py) and the loads
the writer reports to it; the writer applies what it returns.

Failure rule: if a load fails for good, the loop stops reading, lets the other loads finish, releases only
the states whose records are all committed, and re-raises, so the sync fails with a TRACE and no STATE after
the failed records ever leaves.

Checkpoint transactions (checkpoint_span.py): with a multi-table transaction loader (StarRocks 4.0, one
database) and GLOBAL or LEGACY states, the rows of every table up to a checkpoint are one transaction, sent on
one lane of the scheduler; the first STREAM state falls back, for the rest of the sync, to loading table by
table as without it (after committing what the open checkpoint transaction held).

Stop rule (SIGTERM / SIGINT, see stop_signals.py): `request_stop()` may be called from any thread. The loop
then stops reading and sends nothing new, gives loads already sent `LOAD_GRACE_SECONDS` to finish (their
STATEs leave), rolls back the open transactions (transaction mode), logs what it did and raises `Stopped`.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

import orjson

from destination_starrocks import flush_policy, stream_completion
from destination_starrocks.body_memory import BodyPool
from destination_starrocks.buffer import Batch, TableBuffer
from destination_starrocks.checkpoint_span import CheckpointCommit, CheckpointTransactions
from destination_starrocks.checkpoints import CheckpointLedger, StreamKey
from destination_starrocks.errors import InputError, RecordError
from destination_starrocks.flush_policy import BufferView, FlushLimits, Reason, StreamLimits
from destination_starrocks.labels import new_run_token
from destination_starrocks.load_scheduler import LoadScheduler
from destination_starrocks.messages import LineReader, Output
from destination_starrocks.pressure_control import PressureControl, Reader, TableKey, TableSummary
from destination_starrocks.spec import StarRocksConfig
from destination_starrocks.stop_signals import LOAD_GRACE_SECONDS, Stopped
from destination_starrocks.stream_completion import COMPLETE, INCOMPLETE, SOURCE_ERROR, StreamEnd
from destination_starrocks.stream_load import LoadRequest, LoadResult
from destination_starrocks.table_loads import TableLoads
from destination_starrocks.typed_records import DECODE_ERRORS, RECORD_PREFIX, TypedRecords

logger = logging.getLogger("airbyte")

PROGRESS_EVERY_SECONDS = 10.0
IDLE_WAIT_SECONDS = 5.0
# While loads are in flight, wake up this often to release the states they unblock.
INFLIGHT_WAIT_SECONDS = 0.1
# Ticks while input flows: at most this often (timers fire at most this late; the buffers' size limits are
# checked per record regardless).
TICK_SECONDS = 0.01
# Lines of a stream its typed path may fail to take before the writer stops trying it (a miss costs a second
# decode): a source whose records carry `meta`, or keys the schema does not declare, goes the general way.
TYPED_MISSES_ALLOWED = 1000


class Shaper(Protocol):
    def shape(self, data: dict, emitted_at_ms: int, meta_changes: list | None = None) -> bytes: ...
    def dedup_key(self, data: dict) -> tuple | None: ...
    def cursor_value(self, data: dict) -> object | None: ...


class Target(Protocol):
    """What tables.LoadTarget provides."""

    stream: tuple[str | None, str]
    database: str
    table: str
    load_table: str
    headers: dict[str, str]
    shaper: Shaper
    dedup: bool
    catalog_generations: bool


class Tables(Protocol):
    def finish(self, target: Any, complete: bool) -> None: ...


# Sends one batch: a whole Stream Load (commit=True), or a chunk of the table's open transaction.
SendFn = Callable[[LoadRequest, bool], LoadResult | None]
# Rolls back the transaction of the request's label if it is open; True if it did (transaction mode's stop).
RollbackFn = Callable[[LoadRequest], bool]


class CheckpointLoader(Protocol):
    """What multi_table_load.MultiTableTransactionLoader offers: chunks and commits of checkpoint transactions."""

    def send(self, request: LoadRequest, commit: bool) -> LoadResult | None: ...
    def rollback(self, request: LoadRequest) -> bool: ...


def plain_stream_load(load: Callable[[LoadRequest], LoadResult]) -> SendFn:
    """Plain Stream Load: every batch is its own transaction."""
    return lambda request, commit: load(request)


@dataclass
class StreamRuntime:
    key: StreamKey
    target: Target
    buffer: TableBuffer
    waiting: deque[Batch] = field(default_factory=deque)  # sealed, not yet sent
    inflight: Batch | None = None
    status: str | None = None  # the source's word on this stream: COMPLETE, INCOMPLETE or ERROR
    finished: bool = False  # tables.finish() done
    loads: int = 0
    rows_loaded: int = 0
    limits: StreamLimits = field(default_factory=lambda: StreamLimits(0, 0, 0, 0.0))  # effective, per stream
    row_limit: int = 0  # rows that trigger a size flush (limits.batch_size, less an open transaction's rows)
    byte_limit: int = 0  # bytes that trigger a size flush (limits.batch_bytes)
    txn_number: int = 1  # transaction mode: the open transaction's number (part of its label)
    txn_records: int = 0  # records in chunks of the open transaction
    txn_oldest: float | None = None  # arrival of the open transaction's oldest record
    typed: TypedRecords | None = None  # the shaper's typed path; dropped when too few lines fit it
    typed_misses: int = 0  # lines of this stream the typed path did not take

    def __post_init__(self) -> None:
        self.typed = getattr(self.target.shaper, "typed", None)

    def active(self) -> bool:
        return not self.buffer.is_empty() or self.txn_records > 0

    @property
    def interval_seconds(self) -> float:
        return self.limits.interval_seconds

    @property
    def table_key(self) -> TableKey:
        return (self.target.database, self.target.load_table)

    @property
    def name(self) -> str:
        return self.target.load_table

    @property
    def shaper(self) -> Shaper:
        return self.target.shaper

    @property
    def dedup(self) -> bool:
        return self.target.dedup


@dataclass
class WriteSummary:
    records: int = 0
    states_received: int = 0
    states_emitted: int = 0
    loads: int = 0
    bytes_loaded: int = 0
    seconds: float = 0.0
    loads_per_table: dict[str, int] = field(default_factory=dict)
    tables: dict[str, TableSummary] = field(default_factory=dict)


class Writer:
    def __init__(
        self,
        config: StarRocksConfig,
        targets: Iterable[Target],
        send: SendFn,
        tables: Tables,
        output: Output,
        transactions: bool = False,
        rollback: RollbackFn | None = None,
        pressure: Reader | None = None,
        checkpoint_loader: CheckpointLoader | None = None,
        checkpoint_unavailable: str = "",
    ) -> None:
        """`checkpoint_loader`: one transaction per checkpoint across tables for GLOBAL/LEGACY states (None:
        table by table; `checkpoint_unavailable` says why, logged once at the first GLOBAL state)."""
        self._config = config
        self._limits = FlushLimits.from_config(config)
        self._pressure = PressureControl(config, self._limits, pressure)
        self._send_fn = send
        self._transactions = transactions
        self._rollback = rollback
        self._tables = tables
        self._out = output
        self._streams: dict[StreamKey, StreamRuntime] = {}
        self._bodies = BodyPool()  # one for all streams: a body freed by one stream's load serves another's
        for target in targets:
            key = _key(*target.stream)
            runtime = StreamRuntime(key, target, TableBuffer(key, target.dedup, self._bodies))
            self._apply_limits(runtime, self._pressure.limits(runtime.table_key))
            self._streams[key] = runtime
        self._ledger = CheckpointLedger(list(self._streams))
        self._loads = LoadScheduler(config.max_concurrent_loads, self._send, self._committed, self._wake)
        self._run_token = new_run_token()
        self._per_table = TableLoads(
            config.label_prefix, self._run_token, transactions, self._ledger, self._loads, self._load_sealed
        )
        self._checkpoint_loader = checkpoint_loader
        self._checkpoint_note = checkpoint_unavailable  # why GLOBAL states commit table by table
        self._checkpoint_said = False  # the first GLOBAL state logs how they commit
        self._checkpoints: CheckpointTransactions | None = None
        databases = sorted({runtime.target.database for runtime in self._streams.values()})
        if checkpoint_loader is not None and len(databases) == 1:
            self._checkpoints = CheckpointTransactions(
                databases[0],
                config.label_prefix,
                self._run_token,
                config.load_timeout_seconds,
                self._streams.values(),
                self._ledger,
                self._loads,
                self._load_sealed,
            )
        elif checkpoint_loader is not None and databases:
            self._checkpoint_note = (
                f"the streams load into {len(databases)} databases ({', '.join(databases)}) and a StarRocks "
                "transaction spans the tables of one"
            )
        self._multi = self._checkpoints is not None  # in checkpoint mode now (until a STREAM state comes)
        self._saw_stream_status = False  # any stream status at all (STARTED, RUNNING, COMPLETE...)
        self._reader: LineReader | None = None
        self._line_no = 0
        self.summary = WriteSummary()
        self._started = time.monotonic()
        self._last_progress = self._started

    @property
    def _failure(self) -> BaseException | None:
        """The sync's failure (the first failed load, bad input, a stop): every guard below stops work."""
        return self._loads.failure

    @_failure.setter
    def _failure(self, exc: BaseException | None) -> None:
        self._loads.failure = exc

    @property
    def _stop(self) -> Stopped | None:
        return self._loads.stop

    # ---- the loop -------------------------------------------------------------------------------------

    def run(self, stdin: IO[bytes]) -> WriteSummary:
        reader = LineReader(stdin, keep_newlines=True)  # both JSON decoders skip a newline as whitespace
        self._reader = reader
        wait = 0.0
        next_tick = 0.0
        try:
            while self._failure is None and self._stop is None:
                block = reader.next_block(wait)
                if block is None:
                    break
                if block:
                    try:
                        self._consume(block)
                    except (InputError, RecordError):
                        # Commit what arrived before the bad line, so its states can leave; then fail.
                        self._flush_all(Reason.END)
                        self._drain("all")
                        raise
                # Timers, finished loads and the budget between blocks, but not after every block of a steady
                # stream (a 120 KiB block every ~1.4 ms in the bulk bench; a tick costs ~15-25 us); an empty
                # block is a timeout or a wake-up (a load ended): it ticks at once.
                now = time.monotonic()
                if not block or now >= next_tick:
                    self._tick()
                    wait = self._wait_seconds()
                    next_tick = now + TICK_SECONDS
            self._stop_is_a_failure()
            if self._failure is None:
                self._flush_all(Reason.END)
                self._drain("all")
            if self._failure is None:
                self._finish_tables(end_of_input=True)
            self._release_states()
        except BaseException as exc:
            if self._failure is None:
                self._failure = exc
        finally:
            self._stop_pool()
            reader.close()
        self.summary.seconds = time.monotonic() - self._started
        self.summary.states_received = self._ledger.states_received
        if self._failure is not None:
            raise self._failure
        self._log_summary()
        return self.summary

    def request_stop(self, signal_name: str) -> None:
        """Stop at the next safe point (thread-safe: stop_signals.py calls it from its watchdog thread)."""
        self._loads.request_stop(signal_name)  # wakes a loop blocked on a load
        self._wake()  # wakes a loop waiting for input

    def _wake(self) -> None:
        if self._reader is not None:
            self._reader.wake()

    def _stop_is_a_failure(self) -> None:
        self._loads.stop_is_a_failure()

    def _consume(self, lines: list[bytes]) -> None:
        """The hot path: decode, route, shape, buffer; cheap size checks per record.

        Per record this is one orjson decode, one shape (one orjson encode), one append; everything else is
        kept out of the loop: the stream's runtime, and the shape and append functions bound to it, are looked
        up only when the stream changes (sources send runs of one stream), and blank lines are noticed only
        when they fail to decode. The stream's size limits are locals too, and its received count is added
        to the ledger in one step (`counted`) before anything reads it: before a seal, a STATE, a TRACE, a
        change of stream, and when the block ends or fails.
        """
        loads = orjson.loads
        received = self._ledger.received
        line_no = self._line_no
        records = 0
        counted = 0  # records of `key` shaped and buffered, not yet in received[key] nor in `records`
        last_name = last_namespace = runtime = None
        key = buffer = shaper = shape = add = None
        typed_decode = typed_shape = None  # the stream's typed path (typed_records.py), if it has one
        dedup = False
        byte_limit = row_limit = 0
        try:
            for line in lines:
                line_no += 1
                size = -1
                missed = None
                if typed_decode is not None and line.startswith(RECORD_PREFIX):
                    # The current stream's typed path; a line it does not take goes the general way below.
                    try:
                        decoded = typed_decode(line).record
                    except DECODE_ERRORS:
                        missed = runtime  # a miss if the line is this stream's (not another stream's)
                    else:
                        namespace = decoded.namespace
                        if decoded.stream == last_name and (
                            namespace is last_namespace or namespace == last_namespace
                        ):
                            row = typed_shape(decoded.data, decoded.emitted_at or 0)
                            if row is not None:
                                size = add(row)
                if size < 0:
                    try:
                        message = loads(line)
                        kind = message["type"]
                    except (orjson.JSONDecodeError, TypeError, KeyError) as exc:
                        if not line or line.isspace():
                            continue
                        raise InputError(
                            f"Input line {line_no} is not an Airbyte message ({_reason(exc)}): {_shown(line)!r}"
                        ) from None
                    try:
                        if kind == "RECORD":
                            record = message["record"]
                            name = record["stream"]
                            namespace = record.get("namespace")
                            # `is not` first: no namespace is None, and None != None is a slow generic comparison.
                            if (
                                runtime is None
                                or name != last_name
                                or (namespace is not last_namespace and namespace != last_namespace)
                            ):
                                if counted:
                                    received[key] += counted
                                    records += counted
                                    counted = 0
                                runtime = self._route(name, namespace, line_no)
                                last_name, last_namespace = name, namespace
                                key, buffer, shaper = runtime.key, runtime.buffer, runtime.target.shaper
                                shape, add, dedup = shaper.shape, buffer.add, runtime.target.dedup
                                byte_limit, row_limit = runtime.byte_limit, runtime.row_limit
                                typed_decode = None
                                if runtime.typed is not None:
                                    typed_decode, typed_shape = runtime.typed.decode, runtime.typed.shape
                            if missed is runtime:
                                runtime.typed_misses += 1
                                if runtime.typed_misses > TYPED_MISSES_ALLOWED:
                                    typed_decode = runtime.typed = None  # this source's records rarely fit it
                            meta = record.get("meta")
                            emitted_at = record.get("emitted_at") or 0
                            data = record["data"]
                            if dedup:
                                dedup_key = shaper.dedup_key(data)
                                cursor = shaper.cursor_value(data)
                                size = buffer.add_keyed(
                                    dedup_key, cursor, shape(data, emitted_at, meta and meta.get("changes"))
                                )
                            else:
                                size = add(shape(data, emitted_at, meta and meta.get("changes")))
                        elif kind == "STATE" or kind == "TRACE":
                            if counted:
                                received[key] += counted
                                records += counted
                                counted = 0
                            if kind == "STATE":
                                self._on_state(message, line)  # kept as it came, newline too: decoded again
                            else:
                                self._on_trace(message, line_no)
                            if runtime is not None:  # a seal or a commit may have changed the stream's limits
                                byte_limit, row_limit = runtime.byte_limit, runtime.row_limit
                            continue
                        else:
                            continue  # LOG, CONTROL and other types carry nothing for a destination.
                    except (KeyError, TypeError, AttributeError, ValueError) as exc:
                        # A message of the wrong shape (no stream, data not an object, a bad emitted_at...):
                        # nothing of it was buffered; say which line, after committing what came before.
                        raise InputError(
                            f"Input line {line_no} is a {kind} message of the wrong shape "
                            f"({type(exc).__name__}: {exc}): {_shown(line)!r}"
                        ) from None
                counted += 1
                if size >= byte_limit or buffer.records >= row_limit:
                    received[key] += counted
                    records += counted
                    counted = 0
                    self._seal(
                        runtime,
                        flush_policy.size_reason(self._limits, buffer.records, size, row_limit, byte_limit),
                    )
                    byte_limit, row_limit = runtime.byte_limit, runtime.row_limit
        finally:
            if counted:
                received[key] += counted
                records += counted
            self._line_no = line_no
            self.summary.records += records

    def _route(self, name: Any, namespace: Any, line_no: int) -> StreamRuntime:
        key = (namespace or None, name)
        runtime = self._streams.get(key)
        if runtime is None:
            raise InputError(
                f"Input line {line_no}: RECORD for stream {_name(key)} which is not in the "
                f"configured catalog (streams: {', '.join(_name(k) for k in self._streams)})"
            )
        return runtime

    def _on_state(self, message: dict[str, Any], line: bytes) -> None:
        pending = self._ledger.state_received(message, line)
        for key in pending.needs:
            self._streams[key].buffer.mark_state()
        if self._checkpoint_mode((message.get("state") or {}).get("type")):
            assert self._checkpoints is not None
            self._checkpoints.on_state(pending.needs, self._memory_held() > self._limits.budget_bytes)
        else:
            covered = [(key, self._streams[key].interval_seconds) for key in pending.needs]
            for key in flush_policy.due_on_state(covered):
                runtime = self._streams[key]
                if not runtime.buffer.is_empty():
                    self._seal(runtime, Reason.STATE)
        self._release_states()

    def _checkpoint_mode(self, state_type: str | None) -> bool:
        """Whether a STATE of this type is committed by a checkpoint transaction; says once why not."""
        if state_type != "STREAM":  # GLOBAL, or LEGACY (no type)
            if self._checkpoint_said:
                return self._multi
            self._checkpoint_said = True
            if self._multi:
                logger.info(
                    "GLOBAL states: the rows of every table up to a checkpoint commit in one transaction "
                    "(StarRocks multi-table transactions), the STATE after it.",
                )
            elif self._checkpoint_note:
                logger.info(
                    "GLOBAL states: each table's rows commit in loads of their own, not in one transaction "
                    "per checkpoint, because %s.",
                    self._checkpoint_note,
                )
            return self._multi
        if self._multi:
            assert self._checkpoints is not None
            logger.info(
                "The source sends STREAM states: each table's rows commit in loads of their own, as they come "
                "(one transaction per checkpoint spans tables only for GLOBAL states)."
            )
            self._multi = False
            self._checkpoints.commit_sent()  # the chunks it sent, then table by table, after it
            while self._failure is None and self._loads.busy(self._checkpoints.lane):
                self._drain("one")
        return False

    def _on_trace(self, message: dict[str, Any], line_no: int) -> None:
        trace = message.get("trace") or {}
        if trace.get("type") == "STREAM_STATUS":
            self._saw_stream_status = True
            status = trace.get("stream_status") or {}
            descriptor = status.get("stream_descriptor") or {}
            key = _key(descriptor.get("namespace"), descriptor.get("name", ""))
            runtime = self._streams.get(key)
            said = status.get("status")
            if runtime is None or said not in (COMPLETE, INCOMPLETE):
                return  # STARTED, RUNNING: nothing to do
            if said == INCOMPLETE and runtime.status != COMPLETE:
                runtime.status = INCOMPLETE
            elif said == COMPLETE and runtime.status is None:
                runtime.status = COMPLETE
                self._finish_stream(runtime)
            elif said == COMPLETE and runtime.status != COMPLETE:
                logger.warning(
                    "Line %d: COMPLETE for %s, which the source had reported %s; it stays incomplete",
                    line_no, _name(key), runtime.status,
                )  # fmt: skip
        elif trace.get("type") == "ERROR":
            # A source error means the sync will be marked failed: never swap a partial overwrite in for the
            # streams it names (all of them when it names none). Records and states still commit as usual.
            error = trace.get("error") or {}
            descriptor = error.get("stream_descriptor") or {}
            logger.warning("The source reported an error (line %d): %s", line_no, error.get("message"))
            named = _key(descriptor.get("namespace"), descriptor["name"]) if descriptor.get("name") else None
            for runtime in self._streams.values():
                if (named is None or runtime.key == named) and runtime.status != COMPLETE:
                    runtime.status = SOURCE_ERROR

    def _tick(self) -> None:
        """Between blocks of input: collect finished loads, run the timers and the memory budget."""
        self._drain()
        now = time.monotonic()
        active = [r.table_key for r in self._streams.values() if r.active()]
        for table, limits in self._pressure.watch(now, active):
            self._apply_table_limits(table, limits)
        views = [self._view(r) for r in self._streams.values() if r.active()]
        if not self._multi:  # checkpoint transactions keep their own time (below)
            for key in flush_policy.due_by_age(self._limits, views, now):
                self._seal(self._streams[key], Reason.AGE)
            views = [self._view(r) for r in self._streams.values() if r.active()]
        # Sealed and in-flight loads, and waiting STATEs:
        held = self._loads.pending_bytes + self._ledger.pending_bytes
        if sum(v.memory_bytes for v in views) + held + self._bodies.idle_bytes() > self._limits.budget_bytes:
            self._bodies.shed()  # a body kept for reuse yields before any buffer is flushed early
        for key in flush_policy.due_by_memory(self._limits, views, held):
            self._seal(self._streams[key], Reason.MEMORY)
        if self._multi:
            assert self._checkpoints is not None
            self._checkpoints.tick(now, self._memory_held() > self._limits.budget_bytes)
        # Backpressure: while everything held is over the budget, stop reading and let loads finish (they
        # free their bodies and release the STATEs they cover).
        budget = self._limits.budget_bytes
        while self._failure is None and self._loads.running and self._memory_held() > budget:
            self._drain("one")
        self._release_states()
        if now - self._last_progress >= PROGRESS_EVERY_SECONDS:
            self._log_progress(now)

    def _memory_held(self) -> int:
        buffered = sum(r.buffer.memory_bytes for r in self._streams.values())
        return buffered + self._loads.pending_bytes + self._ledger.pending_bytes + self._bodies.idle_bytes()

    def _wait_seconds(self) -> float:
        views = [self._view(r) for r in self._streams.values() if r.active()]
        timer = flush_policy.seconds_until_next_age_flush(self._limits, views, time.monotonic())
        if self._multi:
            assert self._checkpoints is not None
            timer = self._checkpoints.seconds_until_due(time.monotonic())
        wait = IDLE_WAIT_SECONDS if timer is None else min(timer, IDLE_WAIT_SECONDS)
        if self._loads.running:
            wait = min(wait, INFLIGHT_WAIT_SECONDS)
        return wait

    @staticmethod
    def _view(runtime: StreamRuntime) -> BufferView:
        buffer = runtime.buffer
        oldest = buffer.oldest
        if runtime.txn_oldest is not None:
            oldest = runtime.txn_oldest if oldest is None else min(oldest, runtime.txn_oldest)
        return BufferView(
            runtime.key, buffer.row_count, buffer.memory_bytes, oldest, runtime.interval_seconds
        )

    # ---- loads ----------------------------------------------------------------------------------------

    def _seal(self, runtime: StreamRuntime, reason: Reason | None) -> None:
        if self._multi:
            assert self._checkpoints is not None
            if reason in (Reason.ROWS, Reason.BYTES, Reason.MEMORY):
                self._checkpoints.chunk(runtime)  # a chunk of the open checkpoint transaction
            elif reason in (Reason.END, Reason.STREAM_COMPLETE):
                self._checkpoints.commit(None)
            return  # ages and STATEs: the checkpoint transaction's own timer and STATE rule
        self._per_table.seal(runtime, reason)

    def _send(self, lane: Any, load: Batch | CheckpointCommit) -> LoadResult | None:
        """On a pool thread: one batch as a Stream Load, or as a chunk (and commit) of a transaction."""
        if isinstance(load, CheckpointCommit):
            assert self._checkpoint_loader is not None
            request = LoadRequest(load.database, ",".join(load.tables), load.label, b"", 0)
            return self._checkpoint_loader.send(request, True)
        target = self._streams[load.stream].target
        body = load.body if load.row_count else b""
        request = LoadRequest(
            target.database, target.load_table, load.label, body, load.row_count, target.headers
        )
        if self._checkpoints is not None and lane is self._checkpoints.lane:
            assert self._checkpoint_loader is not None
            return self._checkpoint_loader.send(request, False)
        return self._send_fn(request, load.commit)

    def _drain(self, wait: str = "none") -> None:
        """Book finished loads: "none" only those already done, "one" block for at least one,
        "all" until no load is running (sealed batches waiting for a slot included)."""
        self._loads.drain(wait)

    def _committed(self, runtime: Any, load: Batch | CheckpointCommit, result: LoadResult | None) -> None:
        """On the loop's thread, for each load that ended without an error: a commit moves the ledger on."""
        if result is None:
            return  # a transaction chunk: nothing is committed until its transaction is
        if isinstance(load, CheckpointCommit):
            assert self._checkpoints is not None
            self._checkpoints.committed(load, result)
            self.summary.bytes_loaded += load.nbytes
            for stream in self._streams.values():
                if stream.key in load.rows:
                    self._count_load(stream, load.rows[stream.key], result)
            return
        if not self._per_table.committed(runtime, load):
            return
        self._count_load(runtime, load.row_count, result)
        self.summary.bytes_loaded += load.nbytes
        logger.info(
            "Committed %d rows into %s.%s (label %s, %s, %d attempt(s), %.2fs)",
            load.row_count,
            runtime.target.database,
            runtime.target.load_table,
            result.label,
            result.status,
            result.attempts,
            result.seconds,
        )

    def _count_load(self, runtime: StreamRuntime, rows: int, result: LoadResult) -> None:
        """A commit into the stream's table: one more version of it (pressure, summary)."""
        runtime.loads += 1
        runtime.rows_loaded += rows
        if (
            limits := self._pressure.committed(runtime.table_key, result.compaction_wait_seconds)
        ) is not None:
            self._apply_table_limits(runtime.table_key, limits)
        self.summary.loads += 1
        table = f"{runtime.target.database}.{runtime.target.table}"
        self.summary.loads_per_table[table] = self.summary.loads_per_table.get(table, 0) + 1

    def _load_sealed(self, table: TableKey) -> None:
        """A load that commits was sealed: one more version of `table` on its way (pressure)."""
        if (limits := self._pressure.sealed(table)) is not None:
            self._apply_table_limits(table, limits)

    def _flush_all(self, reason: Reason) -> None:
        for runtime in self._streams.values():
            self._seal(runtime, reason)

    def _finish_stream(self, runtime: StreamRuntime) -> None:
        """The source finished this stream: commit its rows, then let the table manager swap staging in."""
        self._seal(runtime, Reason.STREAM_COMPLETE)
        lane = self._checkpoints.lane if self._multi and self._checkpoints is not None else runtime
        while self._failure is None and self._loads.busy(lane):
            self._drain("one")
            self._release_states()  # the STATEs each commit covers leave now, not after the wait
        if self._failure is None and not runtime.finished:
            self._tables.finish(runtime.target, complete=True)
            runtime.finished = True

    def _finish_tables(self, end_of_input: bool) -> None:
        """Every record is committed: finish the streams; one without COMPLETE fails the sync
        (stream_completion.py), after its records and STATEs are committed and nothing was swapped in."""
        ends = [StreamEnd(r.key, r.status, r.target.catalog_generations) for r in self._streams.values()]
        end = stream_completion.judge(ends, self._saw_stream_status)
        for runtime in self._streams.values():
            if not runtime.finished:
                self._tables.finish(runtime.target, complete=end_of_input and runtime.key in end.complete)
                runtime.finished = True
        if end.incomplete:
            raise end.error()

    def _release_states(self) -> None:
        for pending in self._ledger.releasable():
            self._out.state(pending.message, pending.record_count)  # decoded again only now

    def _stop_pool(self) -> None:
        # Let loads already sent finish (they may commit); never start the ones still waiting. After a stop
        # signal only for LOAD_GRACE_SECONDS: then the process exits without them (stop_signals.py).
        lanes: list[Any] = list(self._streams.values())
        if self._checkpoints is not None:
            lanes.append(self._checkpoints.lane)
        self._loads.shutdown(lanes, LOAD_GRACE_SECONDS, self._release_states)
        self._release_states()
        self.summary.states_emitted = self._ledger.states_released
        if self._stop is not None:
            self._after_stop()

    def _after_stop(self) -> None:
        """Roll back what is open, and say what the stop left behind."""
        rolled_back, abandoned = [], [_name(r.key) for r in self._streams.values() if r.inflight is not None]
        if self._transactions and self._rollback is not None:
            for runtime in self._streams.values():
                rolled_back += self._per_table.roll_back(runtime, self._rollback)
        if self._checkpoints is not None and self._checkpoint_loader is not None:
            rolled_back += self._checkpoints.roll_back(self._checkpoint_loader.rollback)
            if self._checkpoints.lane.inflight is not None:
                abandoned.append(self._checkpoints.lane.name)
        logger.warning(
            "Stopped by %s after %d records: %d loads committed, %d of %d STATEs emitted (every one covers only "
            "committed records); transactions rolled back: %s; loads abandoned in flight: %s.",
            self._stop.signal_name if self._stop is not None else "a signal",
            self.summary.records,
            self.summary.loads,
            self._ledger.states_released,
            self._ledger.states_received,
            ", ".join(rolled_back) or "none",
            ", ".join(abandoned) or "none",
        )

    # ---- version pressure -----------------------------------------------------------------------------

    @staticmethod
    def _apply_limits(runtime: StreamRuntime, limits: StreamLimits) -> None:
        runtime.limits = limits
        runtime.row_limit = limits.batch_size - runtime.txn_records
        runtime.byte_limit = limits.batch_bytes

    def _apply_table_limits(self, table: TableKey, limits: StreamLimits) -> None:
        for runtime in self._streams.values():
            if runtime.table_key == table:
                self._apply_limits(runtime, limits)

    # ---- messages -------------------------------------------------------------------------------------

    def _log_progress(self, now: float) -> None:
        self._last_progress = now
        elapsed = max(now - self._started, 1e-9)
        per_table = ", ".join(f"{t}: {n}" for t, n in sorted(self.summary.loads_per_table.items()))
        logger.info(
            "Progress: %d records (%.0f/s), %.1f MB loaded, %d loads, %d states emitted, %d waiting; loads per table: %s",
            self.summary.records,
            self.summary.records / elapsed,
            self.summary.bytes_loaded / 1e6,
            self.summary.loads,
            self._ledger.states_released,
            self._ledger.pending_count,
            per_table or "none",
        )

    def _log_summary(self) -> None:
        s = self.summary
        self._pressure.finish()
        for runtime in self._streams.values():
            table = f"{runtime.target.database}.{runtime.target.table}"
            s.tables[table] = self._pressure.summary(runtime.table_key, self._ledger.received[runtime.key])
        for table, figures in sorted(s.tables.items()):
            logger.info("%s", figures.line(table))
        per_table = ", ".join(f"{t}: {n}" for t, n in sorted(s.loads_per_table.items()))
        logger.info(
            "Write complete: %d records in %.1fs (%.0f/s), %d loads (= new versions per tablet), %d of %d states "
            "emitted; loads per table: %s",
            s.records,
            s.seconds,
            s.records / max(s.seconds, 1e-9),
            s.loads,
            s.states_emitted,
            s.states_received,
            per_table or "none",
        )


def _shown(line: bytes) -> bytes:
    """The start of a bad input line, for its error message."""
    return line[:201].removesuffix(b"\n")[:200]


def _key(namespace: str | None, name: str) -> StreamKey:
    return (namespace or None, name)


def _name(key: StreamKey) -> str:
    namespace, name = key
    return f"{namespace}.{name}" if namespace else name


def _reason(exc: BaseException) -> str:
    if isinstance(exc, orjson.JSONDecodeError):
        return f"invalid JSON: {exc}"
    if isinstance(exc, KeyError):
        return "no 'type' field"
    return "not a JSON object"
