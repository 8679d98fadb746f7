"""Load scheduling: which sealed load goes to StarRocks next, on which thread, and what happens when it ends.

The writer seals loads (a batch of one stream, a chunk of an open transaction, a transaction's commit) and
hands each to a *lane*; this module sends them, as the StarRocks stream-load SDK's manager does for its
regions, and knows nothing of rows, checkpoints or StarRocks' answers:
- a lane has at most one load in flight, so a lane's loads commit in the order they were sealed (a lane is a
  stream, or, for one transaction across tables, that transaction: writer.py and checkpoint_span.py);
- at most `max_concurrent_loads` loads run at once; a lane with a load waiting for a slot queues for one, first
  come first served;
- a finished load comes back to the loop's thread through a queue (the pool's thread only wakes the loop up),
  and is booked there: a committed one through `on_committed`, the first failure recorded, after which nothing
  new is sent (the loads in flight still finish and are booked);
- a stop (`request_stop`, from any thread) sends nothing new and never makes the loop wait for a load;
- `pending_bytes` is what sealed and in-flight loads hold, which the memory budget counts.

One `concurrent.futures` pool, no threads of its own, no spinning: the loop blocks on the queue only when
asked to (`drain("one")`, `drain("all")`).
"""

from __future__ import annotations

import logging
import queue
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from destination_starrocks.stop_signals import Stopped

logger = logging.getLogger("airbyte")


class Load(Protocol):
    """What a lane carries: a buffer.Batch, or a checkpoint transaction's commit."""

    @property
    def memory_bytes(self) -> int: ...


class Lane(Protocol):
    """Loads that must commit in order (writer.StreamRuntime, checkpoint_span.CheckpointLane)."""

    waiting: deque  # sealed, not yet sent
    inflight: Any  # the load being sent, or None

    @property
    def name(self) -> str: ...  # for log lines: the table (or tables) it loads into


SendFn = Callable[[Any, Any], Any]  # (lane, load) -> result, on a pool thread
CommittedFn = Callable[[Any, Any, Any], None]  # (lane, load, result), on the loop's thread
_Finished = tuple[Any, Any, Future]  # (lane, load, future)


class LoadScheduler:
    def __init__(
        self,
        max_concurrent: int,
        send: SendFn,
        on_committed: CommittedFn,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self._max = max_concurrent
        self._send = send
        self._on_committed = on_committed
        self._wake = wake  # wakes the loop when a load ends (it may be waiting for input)
        self._pool = ThreadPoolExecutor(max_concurrent, thread_name_prefix="stream-load")
        # Finished loads for the loop; None is request_stop()'s wake-up call.
        self._done: queue.SimpleQueue[_Finished | None] = queue.SimpleQueue()
        self._slot_queue: deque[Any] = deque()  # lanes with a load waiting for a slot
        self.running = 0
        self.pending_bytes = 0  # sealed + in flight, counted against the memory budget
        self.failure: BaseException | None = None  # the first failure: nothing new is sent after it
        self.stop: Stopped | None = None  # set by request_stop(), from any thread

    # ---- sending --------------------------------------------------------------------------------------

    def add(self, lane: Lane, load: Load) -> None:
        """Queue a sealed load on its lane (send it with `submit`)."""
        lane.waiting.append(load)
        self.pending_bytes += load.memory_bytes

    def submit(self, lane: Lane) -> None:
        """Send the lane's next load if it has none in flight and a slot is free; else queue for a slot."""
        if lane.inflight is not None or not lane.waiting or self.stop is not None:
            return
        if self.running >= self._max:
            if all(queued is not lane for queued in self._slot_queue):
                self._slot_queue.append(lane)
            return
        load = lane.waiting.popleft()
        lane.inflight = load
        self.running += 1
        future = self._pool.submit(self._send, lane, load)
        future.add_done_callback(lambda f, lane=lane, load=load: self._load_done(lane, load, f))

    def _load_done(self, lane: Lane, load: Load, future: Future) -> None:
        """Runs on the load's thread: hand the result to the loop and wake it, so the STATEs this load
        unblocks leave now rather than on the loop's next timer (a kill in between would duplicate rows)."""
        self._done.put((lane, load, future))
        if self._wake is not None:
            self._wake()

    # ---- the loop's side ------------------------------------------------------------------------------

    def request_stop(self, signal_name: str) -> None:
        """Send nothing new (thread-safe); wakes a loop blocked on a load."""
        if self.stop is None:
            self.stop = Stopped(signal_name)
        self._done.put(None)

    def stop_is_a_failure(self) -> None:
        """On the loop's thread: once a stop is requested, it is the sync's failure (every guard stops work)."""
        if self.stop is not None and self.failure is None:
            self.failure = self.stop

    def drain(self, wait: str = "none") -> None:
        """Book finished loads: "none" only those already done, "one" block for at least one, "all" until
        no load is running (loads waiting for a slot included)."""
        handled = 0
        while True:
            self.stop_is_a_failure()
            block = (
                self.running > 0 and self.stop is None and (wait == "all" or (wait == "one" and handled == 0))
            )
            try:
                item = self._done.get() if block else self._done.get_nowait()
            except queue.Empty:
                return
            if item is None:
                continue  # request_stop() woke us
            handled += 1
            lane = item[0]
            self._book(*item)
            if self.failure is None:
                self.submit(lane)
                while self._slot_queue and self.running < self._max:
                    self.submit(self._slot_queue.popleft())

    def busy(self, lane: Lane) -> bool:
        return lane.inflight is not None or bool(lane.waiting)

    def _book(self, lane: Lane, load: Load, future: Future) -> None:
        """A finished load: a committed one goes to `on_committed`; the first failure stops the sync."""
        self.running -= 1
        lane.inflight = None
        self.pending_bytes -= load.memory_bytes
        if future.cancelled():
            return
        exc = future.exception()
        if exc is None:
            self._on_committed(lane, load, future.result())
        elif self.failure is None:
            self.failure = exc
        elif self.stop is not None:
            logger.warning("A load into %s failed while stopping: %s", lane.name, exc)

    # ---- the end --------------------------------------------------------------------------------------

    def shutdown(self, lanes: Iterable[Lane], grace_seconds: float, after_each: Callable[[], None]) -> None:
        """Never start the loads still waiting; let those already sent finish (they may commit) and book
        them. After a stop only for `grace_seconds`, calling `after_each` after each one booked (its STATEs
        may leave at once); the process then exits without the rest (stop_signals.py)."""
        for lane in lanes:
            lane.waiting.clear()
        self._slot_queue.clear()
        if self.stop is None:
            self._pool.shutdown(wait=True)
        else:
            self._wait_for_loads_in_flight(grace_seconds, after_each)
            self._pool.shutdown(wait=False, cancel_futures=True)
        while not self._done.empty():
            if (item := self._done.get()) is not None:
                self._book(*item)

    def _wait_for_loads_in_flight(self, seconds: float, after_each: Callable[[], None]) -> None:
        deadline = time.monotonic() + seconds
        if self.running:
            logger.info("Waiting up to %.0f s for %d load(s) already sent to finish.", seconds, self.running)
        while self.running > 0 and (remaining := deadline - time.monotonic()) > 0:
            try:
                item = self._done.get(timeout=remaining)
            except queue.Empty:
                break
            if item is not None:
                self._book(*item)
                after_each()
