"""Test doubles for the writer: a shaper that serialises data as is, a recording loader, a tables stub."""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass, field

import orjson

from destination_starrocks.errors import LoadFailedError
from destination_starrocks.messages import Output
from destination_starrocks.stream_load import LoadRequest, LoadResult
from integration_tests.connector import global_state, stream_state, stream_status  # noqa: F401 - re-exported
from integration_tests.connector import record as _record


class PassThroughShaper:
    def __init__(self, key_field: str | None = None, cursor_field: str | None = None) -> None:
        self.key_field, self.cursor_field = key_field, cursor_field

    def shape(self, data: dict, emitted_at_ms: int, meta_changes: list | None = None) -> bytes:
        return orjson.dumps(data)

    def dedup_key(self, data: dict):
        return (data[self.key_field],) if self.key_field else None

    def cursor_value(self, data: dict):
        return data.get(self.cursor_field) if self.cursor_field else None


@dataclass
class FakeTarget:
    stream: tuple[str | None, str]
    dedup: bool = False
    shaper: PassThroughShaper = field(default_factory=PassThroughShaper)
    headers: dict[str, str] = field(default_factory=dict)
    # False: a catalog without generation ids, where a clean end of input ends every stream that got no
    # status (stream_completion.py), so tests of batching need not end with stream statuses.
    catalog_generations: bool = False

    @property
    def database(self) -> str:
        return self.stream[0] or "db"

    @property
    def table(self) -> str:
        return self.stream[1]

    @property
    def load_table(self) -> str:
        return self.stream[1]


class RecordingLoader:
    """Commits every load (or fails the ones `fail_when` picks) and remembers the committed record ids."""

    def __init__(self, fail_when=None) -> None:  # noqa: ANN001
        self.fail_when = fail_when
        self.committed: dict[str, list] = {}
        self.labels: list[str] = []
        self.loads: list[tuple[str, list]] = []  # (table, rows) per committed load, in commit order
        self.open_transactions: dict[str, list] = {}  # label -> rows of chunks not yet committed
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, request: LoadRequest, commit: bool = True) -> LoadResult | None:
        """A plain Stream Load (commit=True, no chunks before it) or a transaction chunk / commit."""
        with self._lock:
            self.calls += 1
            rows = orjson.loads(request.body) if request.body else []
            if self.fail_when is not None and self.fail_when(request, rows):
                self.open_transactions.pop(request.label, None)
                raise LoadFailedError(f"injected failure for {request.label}")
            assert request.label not in self.labels, "a label was used for two different loads"
            pending = self.open_transactions.setdefault(request.label, [])
            pending.extend(rows)
            if not commit:
                return None
            rows = self.open_transactions.pop(request.label)
            self.labels.append(request.label)
            self.committed.setdefault(request.table, []).extend(rows)
            self.loads.append((request.table, rows))
        return LoadResult(request.label, "Success", len(rows), 1, 0.0, "fake")

    def committed_ids(self) -> set:
        with self._lock:
            return {(table, row["id"]) for table, rows in self.committed.items() for row in rows}


class FinishRecorder:
    def __init__(self) -> None:
        self.finished: list[tuple[tuple, bool]] = []

    def finish(self, target, complete: bool) -> None:  # noqa: ANN001
        self.finished.append((target.stream, complete))


class SnapshottingOutput(Output):
    """Captures every STATE with the set of committed record ids at the moment it was emitted."""

    def __init__(self, loader: RecordingLoader) -> None:
        super().__init__(io.BytesIO())
        self.loader = loader
        self.states: list[tuple[dict, set]] = []

    def state(self, message: dict, record_count: int) -> None:
        super().state(message, record_count)
        self.states.append((message, self.loader.committed_ids()))


def record(stream: str, record_id: int, namespace: str | None = None, **extra) -> bytes:
    """A RECORD whose data is {"id": record_id, **extra}."""
    return _record(stream, {"id": record_id, **extra}, namespace)
