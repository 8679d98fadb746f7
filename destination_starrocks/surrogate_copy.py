"""Copying a table's rows into a table keyed on the surrogate `_airbyte_pk`, through the connector.

A rebuild (table_rebuild.py) normally copies with one `INSERT ... SELECT` inside StarRocks. That cannot fill a
table whose PRIMARY KEY is `_airbyte_pk`: the key is BLAKE2b over the canonical key values (key_plan.py), which
StarRocks' SQL cannot compute. So for such a table the copy is split:

1. StarRocks still chooses the rows: the SELECT of `RowCopy.newest_rows_query()` keeps the newest row per new
   key (ROW_NUMBER by the cursor, then `_airbyte_extracted_at`), casts every value to the new table's types
   and gives a key value that is missing, NULL or does not cast its type's default, exactly as the
   `INSERT ... SELECT` would. Its rows come back over the MySQL protocol in bounded memory (`SqlClient.stream`,
   pymysql's SSCursor), oldest first.
2. The connector computes each row's `_airbyte_pk` from the typed values (`key_plan.stored_canonical`, the
   same canonical text the shaper computes from a record's JSON) and the cursor's rank (cursor_rank.py) when
   the table has a rank column, and sends the rows by Stream Load in few large batches (`batch_size` rows,
   `batch_bytes` bytes, a third of the memory budget at most): each load is one version of the new table,
   labelled before its first attempt (the StreamLoader's retries never duplicate a batch). One load is in
   flight while the next batch is read; the next is sent only once it committed, so loads apply in order.

CDC deletes come back too, as `__op = 1`, and rows are loaded oldest first with one row per key in a batch,
so the last row of a key wins whatever SQL thought its key was: two JSON key values SQL partitions apart
(different texts, one canonical value) still end with the newer row, and a key whose newest row is a delete is
deleted. A failure leaves the new table partial and the old one untouched; the next sync drops the leftover and
rebuilds from the start (table_rebuild.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson

from destination_starrocks.cursor_rank import string_rank
from destination_starrocks.errors import StarRocksSqlError, TransientError
from destination_starrocks.key_plan import stored_canonical, surrogate_key
from destination_starrocks.labels import batch_label, new_run_token
from destination_starrocks.stream_load import LoadRequest
from destination_starrocks.table_copy import RowCopy
from destination_starrocks.type_mapping import BIGINT_MAX, BIGINT_MIN, JSON, LARGEINT

MIB = 1024 * 1024
COPY_LABEL_WAIT_SECONDS = 3600.0
OP_COLUMN = "__op"  # 0 upsert, 1 delete; read from each JSON object (fe Load.initColumns)


@dataclass(frozen=True)
class Batching:
    rows: int  # at most this many rows per load
    bytes: int  # and at most this many bytes of JSON
    label_prefix: str


class Loads:
    """How a copy reaches StarRocks besides SQL: a StreamLoader (made when first needed, so a sync that
    copies nothing never builds one), the batch sizes, and labels for INSERT copies (table_copy.run_once)."""

    def __init__(self, make_loader: Callable[[], Any], batching: Batching) -> None:
        self._make_loader = make_loader
        self._loader: Any = None
        self.batching = batching

    def loader(self) -> Any:
        if self._loader is None:
            self._loader = self._make_loader()
        return self._loader

    def label_state(self, db: str, label: str) -> str:
        """The label's state once it is no longer running (get_load_state knows INSERT labels too); a copy
        whose answer was lost may still be running for a while, so this waits up to an hour."""
        return self.loader().settled_state(db, label, wait=COPY_LABEL_WAIT_SECONDS)

    def insert_label(self, db: str, table: str) -> str:
        """A new label for one INSERT copy into `table`, fixed before its first attempt."""
        return batch_label(self.batching.label_prefix, db, table, new_run_token(), 0)


@dataclass
class CopyCounts:
    read: int = 0  # rows the SELECT returned (the newest per key as SQL sees keys, deletes included)
    loaded: int = 0  # rows sent as upserts
    deleted: int = 0  # rows sent as deletes (a key whose newest row is a CDC delete: a no-op on a new table
    # unless SQL saw two keys where the connector sees one)
    loads: int = 0
    seconds: float = 0.0


def batching_for(config: Any) -> Batching:
    """Batches as large as the sync's loads, three of which (one loading, one read, its body) fit the
    connector's memory budget."""
    budget = int(getattr(config, "max_buffer_memory_mb", 384)) * MIB // 3
    return Batching(
        rows=int(getattr(config, "batch_size", 500_000)),
        bytes=max(MIB, min(int(getattr(config, "batch_bytes", 128 * MIB)), budget)),
        label_prefix=str(getattr(config, "label_prefix", "airbyte")),
    )


def copy_with_surrogate(
    sql: Any,
    loads: Loads,
    copy: RowCopy,
    *,
    surrogate: str,
    key_columns: Sequence[str],
    rank_column: str | None,
    cursor: str | None,
    batching: Batching,
) -> CopyCounts:
    """Copy `copy.source` into `copy.target` (keyed on `surrogate`, see the module docstring)."""
    started = time.monotonic()
    query, names = copy.newest_rows_query()
    encode = _row_encoder(copy, names, surrogate, key_columns, rank_column, cursor)
    batch: dict[int, tuple[bool, bytes]] = {}
    size = 0
    counts = CopyCounts()
    token = new_run_token()
    # One load in flight while the next batch is read: loads still commit in order (the later one wins).
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rebuild-load")
    in_flight: Future | None = None

    def send() -> None:
        nonlocal batch, size, in_flight
        body = b"[" + b",".join(encoded for _, encoded in batch.values()) + b"]"
        label = batch_label(batching.label_prefix, copy.db, copy.target, token, counts.loads)
        request = LoadRequest(copy.db, copy.target, label, body, len(batch))
        loader = loads.loader()
        if in_flight is not None:
            in_flight.result()
        in_flight = pool.submit(loader.load, request)
        deletes = sum(deleted for deleted, _ in batch.values())
        counts.deleted += deletes
        counts.loaded += len(batch) - deletes
        counts.loads += 1
        batch, size = {}, 0

    try:
        for row in sql.stream(query):
            key, deleted, encoded = encode(row)
            counts.read += 1
            old = batch.pop(key, None)  # one row per key in a load: the later (newer) one
            size += len(encoded) + 1 - (len(old[1]) + 1 if old is not None else 0)
            batch[key] = (deleted, encoded)
            if len(batch) >= batching.rows or size >= batching.bytes:
                send()
        if batch:
            send()
        if in_flight is not None:
            in_flight.result()
    except StarRocksSqlError as exc:
        raise TransientError(
            f"Lost the rows of {copy.db}.{copy.source} while copying them into {copy.db}.{copy.target} ({exc}); "
            "the table is unchanged and the next sync rebuilds it again."
        ) from None
    finally:
        pool.shutdown(
            wait=True, cancel_futures=True
        )  # a load already sent finishes (it cannot be taken back)
    counts.seconds = time.monotonic() - started
    return counts


def _row_encoder(
    copy: RowCopy,
    names: Sequence[str],
    surrogate: str,
    key_columns: Sequence[str],
    rank_column: str | None,
    cursor: str | None,
) -> Callable[[tuple], tuple[int, bool, bytes]]:
    """row -> (its surrogate key, whether it is a delete, its JSON for the new table).

    Values go to JSON as pymysql returns them where orjson writes what StarRocks reads back into the column
    (str, float, int, None; a datetime as `YYYY-MM-DDTHH:MM:SS[.ffffff]`, whose 'T' StarRocks' date parser
    skips; a date as `YYYY-MM-DD`); only JSON columns (their text, embedded as is), LARGEINT beyond 64 bits
    and DECIMAL (`default`: their text) need work. This runs once per row: a few microseconds."""
    position = {name.lower(): i for i, name in enumerate(names)}
    types = {name.lower(): sr_type for name, sr_type in copy.target_columns.values()}
    keys = [(position[k.lower()], stored_canonical(types[k.lower()].kind)) for k in key_columns]
    special = [(name, fn) for name in names if (fn := _converter(types[name.lower()].kind)) is not None]
    cursor_at = position.get(cursor.lower()) if cursor and rank_column else None
    deleted_at = position.get(copy.deleted_at.lower()) if copy.deleted_at else None
    columns = tuple(names)

    def encode(row: tuple) -> tuple[int, bool, bytes]:
        key = surrogate_key([text(row[at]) for at, text in keys])
        out: dict[str, Any] = dict(zip(columns, row, strict=True))
        for name, convert in special:
            value = out[name]
            if value is not None:
                out[name] = convert(value)
        out[surrogate] = str(key)  # JSON text for LARGEINT: orjson writes no integer beyond 64 bits
        if cursor_at is not None:
            ranked = row[cursor_at]
            out[rank_column] = None if ranked is None else str(string_rank(_text(ranked)))  # type: ignore[index]
        deleted = deleted_at is not None and row[deleted_at] is not None
        out[OP_COLUMN] = 1 if deleted else 0
        return key, deleted, orjson.dumps(out, default=_text)

    return encode


def _converter(kind: str) -> Callable[[Any], Any] | None:
    """What a value read back from a column of `kind` needs before orjson (None: nothing)."""
    if kind == JSON:
        return lambda value: orjson.Fragment(_text(value))
    if kind == LARGEINT:
        return lambda value: (
            value if type(value) is not int or BIGINT_MIN <= value <= BIGINT_MAX else str(value)
        )
    return None


def _text(value: Any) -> str:
    """A value as text: bytes decoded; orjson's `default` for Decimal and anything else it cannot write."""
    return value.decode("utf-8") if isinstance(value, (bytes, bytearray)) else str(value)
