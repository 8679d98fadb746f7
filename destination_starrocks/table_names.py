"""Which database and table each stream of a configured catalog lands in.

Names are resolved over the whole catalog at once (naming.py's rules): per database, a stream whose name
needed no change keeps it, and streams whose names sanitise to one table name get `_<hash8>` suffixes by the
same order-independent rule as columns, so adding a stream, or a catalog listing its streams in another order,
never moves a stream into another stream's table. A stream not in that catalog (tests, tools) is named when
first asked for, after the others. Every suffixed name is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from destination_starrocks.naming import (
    FINAL_TABLE_NAME_MAX,
    database_name,
    renamed_by_collision,
    resolve_names,
    table_name,
    with_hash,
)

logger = logging.getLogger("airbyte")

StreamKey = tuple[str | None, str]  # (namespace, name) as in the catalog


class TableNames:
    def __init__(self, default_database: str, streams: Iterable[Any] = ()) -> None:
        self._default_database = default_database
        self._claimed: dict[tuple[str, str], StreamKey] = {}  # (db, table lower) -> stream
        self._planned: dict[StreamKey, tuple[str, str]] = {}  # stream -> (db, table)
        by_database: dict[str, list[tuple[StreamKey, str]]] = {}
        for stream in streams:
            key, db, source_name = self._source(stream)
            by_database.setdefault(db, []).append((key, source_name))
        for db, items in by_database.items():
            resolved = resolve_names(items, table_name, FINAL_TABLE_NAME_MAX)
            for key, source_name in items:
                self._assign(key, db, resolved[key], source_name)

    def of(self, stream: Any) -> tuple[StreamKey, str, str]:
        """(stream key, database, table) of one configured stream."""
        key, db, source_name = self._source(stream)
        if key not in self._planned:
            table = table_name(source_name)
            owner = self._claimed.get((db, table.lower()))
            if owner is not None and owner != key:
                table = with_hash(table, source_name, FINAL_TABLE_NAME_MAX)
            self._assign(key, db, table, source_name)
        return key, *self._planned[key]

    def _source(self, stream: Any) -> tuple[StreamKey, str, str]:
        source = stream.stream
        key = (source.namespace or None, source.name)
        db = database_name(source.namespace or self._default_database)
        return key, db, getattr(stream, "destination_object_name", None) or source.name

    def _assign(self, key: StreamKey, db: str, table: str, source_name: str) -> None:
        if renamed_by_collision(source_name, table, table_name):
            where = f"{key[0]}.{key[1]}" if key[0] else key[1]
            logger.info(
                "Stream %s -> table %s.%s: its name collides with another stream's in that database",
                where,
                db,
                table,
            )
        self._planned[key] = (db, table)
        self._claimed[(db, table.lower())] = key
