"""The checkpoint ledger: which STATE messages may leave, and how many records each one covers.

The promise: a STATE is emitted only when every record received before it (for the streams it covers) is
committed in StarRocks. The ledger counts records per stream as they are received and as their loads commit;
a STATE snapshots the received counts of the streams it covers and may leave once the committed counts have
reached that snapshot. States leave in the order they arrived within their scope: per stream for STREAM
states, overall for GLOBAL/LEGACY ones, as Airbyte's own destination CDK does (GlobalAsyncStateManager keeps a
queue per stream descriptor). So one stream's STATE never waits for another stream's load, and a batch that
ends at a STATE lets that STATE leave the moment it commits.

Scopes (Airbyte protocol): a STREAM state covers its own stream; a GLOBAL or LEGACY state covers every stream.
`destinationStats.recordCount` is the number of records of the state's scope received since the previous
state of the same scope (per stream for STREAM states, in total for GLOBAL/LEGACY), as the platform compares
it with the source's `sourceStats.recordCount`.

Loads of one stream commit in order (the writer keeps at most one in flight per stream), so "committed" is a
single counter per stream, advanced by each committed batch to the received count it was sealed at.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson

StreamKey = tuple[str | None, str]  # (namespace, name) as in the catalog
ALL_STREAMS = None
ALL_SCOPE = "*"  # the queue of GLOBAL and LEGACY states


# Memory a waiting STATE costs beyond its bytes (the object, its `needs` dict): counted against the budget.
PENDING_STATE_OVERHEAD_BYTES = 300


@dataclass(slots=True)
class PendingState:
    raw: bytes  # the STATE line as received: kept as bytes, decoded again only when it leaves
    needs: dict[StreamKey, int]  # received count per stream that must be committed first
    record_count: int
    seq: int = 0  # arrival order, to emit what one pass releases in the order it came

    @property
    def message(self) -> dict[str, Any]:
        return orjson.loads(self.raw)

    @property
    def memory_bytes(self) -> int:
        return len(self.raw) + PENDING_STATE_OVERHEAD_BYTES + 60 * len(self.needs)


@dataclass
class CheckpointLedger:
    streams: list[StreamKey]
    received: dict[StreamKey, int] = field(init=False)
    committed: dict[StreamKey, int] = field(init=False)
    # One FIFO per scope: a stream key (STREAM states) or ALL_SCOPE (GLOBAL and LEGACY states).
    _pending: dict[Any, deque[PendingState]] = field(init=False, default_factory=dict)
    _counted_at_last_state: dict[StreamKey | None, int] = field(init=False, default_factory=dict)
    states_received: int = field(init=False, default=0)
    states_released: int = field(init=False, default=0)
    pending_bytes: int = field(init=False, default=0)  # memory of waiting STATEs

    def __post_init__(self) -> None:
        self.received = dict.fromkeys(self.streams, 0)
        self.committed = dict.fromkeys(self.streams, 0)

    def record_received(self, stream: StreamKey, count: int = 1) -> None:
        self.received[stream] += count

    def batch_committed(self, stream: StreamKey, received_through: int) -> None:
        """A load of `stream` holding every record up to `received_through` (a received count) is committed."""
        if received_through > self.committed[stream]:
            self.committed[stream] = received_through

    def state_received(self, message: dict[str, Any], raw: bytes | None = None) -> PendingState:
        """Queue a STATE (`raw`: its line, kept instead of the decoded message: a source that sends a STATE
        per record can have hundreds of thousands waiting); returns it so the caller can ask the flush policy
        to cover its streams."""
        self.states_received += 1
        scope = scope_of(message, self.received)
        if scope is ALL_STREAMS:
            needs = dict(self.received)
            total = sum(self.received.values())
            count = total - self._counted_at_last_state.get(ALL_STREAMS, 0)
            self._counted_at_last_state[ALL_STREAMS] = total
        else:
            needs = {s: self.received[s] for s in scope}
            count = sum(needs.values()) - sum(self._counted_at_last_state.get(s, 0) for s in scope)
            for s in scope:
                self._counted_at_last_state[s] = self.received[s]
        pending = PendingState(
            raw if raw is not None else orjson.dumps(message), needs, count, self.states_received
        )
        self.pending_bytes += pending.memory_bytes
        queue_key = ALL_SCOPE if scope is ALL_STREAMS else tuple(scope)
        self._pending.setdefault(queue_key, deque()).append(pending)
        return pending

    def releasable(self) -> list[PendingState]:
        """Pop every STATE whose records are all committed, each scope's queue in its arrival order (a queue
        stops at its first STATE that is not covered)."""
        out: list[PendingState] = []
        for queue in self._pending.values():
            while queue and self._is_covered(queue[0]):
                out.append(queue.popleft())
        out.sort(key=lambda pending: pending.seq)
        self.states_released += len(out)
        self.pending_bytes -= sum(pending.memory_bytes for pending in out)
        return out

    def _is_covered(self, pending: PendingState) -> bool:
        committed = self.committed
        return all(committed[s] >= n for s, n in pending.needs.items())

    @property
    def pending_count(self) -> int:
        return sum(len(queue) for queue in self._pending.values())


def scope_of(message: dict[str, Any], known: dict[StreamKey, int]) -> list[StreamKey] | None:
    """The streams a STATE covers: [one stream] for STREAM, ALL_STREAMS for GLOBAL and LEGACY.

    A STREAM state for a stream that is not in the catalog covers nothing of ours: it waits only for the
    states before it.
    """
    state = message.get("state") or {}
    if state.get("type") == "STREAM":
        descriptor = (state.get("stream") or {}).get("stream_descriptor") or {}
        key = (descriptor.get("namespace"), descriptor.get("name"))
        return [key] if key in known else []
    return ALL_STREAMS
