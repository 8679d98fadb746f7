"""DROP TABLE and the recycle bin: a table dropped without FORCE keeps its data until RECOVER or expiry.

StarRocks (docs sql-statements/table_bucket_part_index/DROP_TABLE.md: "After a table is dropped, you can use the
RECOVER statement to restore the table within a specified period (1 day by default). If DROP Table FORCE is
executed, the table will be deleted directly and cannot be recovered"; backup_restore/RECOVER.md: recoverable
"within the period specified by the FE parameter catalog_trash_expire_second"; "If the metadata is deleted with
identical metadata created, the previous one will not be recovered"): fe/.../catalog/Database.dropTable puts the
table in the CatalogRecycleBin unless FORCE; LocalMetastore.recoverTable refuses with ERR_TABLE_EXISTS_ERROR
when a table of that name exists and ERR_BAD_TABLE_ERROR when the bin has none. `catalog_trash_expire_second` is
86400 in fe Config and 3600 in the allin1 image's fe.conf (docker/dockerfiles/allin1/fe.conf), which is the
emulator's default profile. The kept tables, rows and bytes show in the emulator's stats (`recycle_bin`), so a test can see them.

The data stays in DuckDB under a hidden name in the same schema, with its tablets; `RecycleBin` is a mixin of
`Engine` (it uses the engine's lock, DuckDB connection, catalog and ledger).
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any

from starrocks_emulator.storage.catalog import EmulatorError, TableMeta, quote_ident
from starrocks_emulator.storage.ledger import SCHEMA

if TYPE_CHECKING:
    import duckdb

    from starrocks_emulator.storage.ledger import Ledger

CATALOG_TRASH_EXPIRE_SECOND = 3600  # allin1 fe.conf; fe Config default 86400
_DDL = (
    f"CREATE TABLE IF NOT EXISTS {SCHEMA}.recycle_bin (id BIGINT, db VARCHAR, name VARCHAR, hidden VARCHAR, "
    "meta JSON, create_time TIMESTAMP, loads BIGINT, versions_created BIGINT, bytes BIGINT, dropped DOUBLE)"
)


class RecycleBin:
    lock: threading.RLock
    con: duckdb.DuckDBPyConnection
    ledger: Ledger
    catalog_trash_expire_second: float
    _metas: dict[tuple[str, str], TableMeta]

    def table(self, db: str, name: str) -> TableMeta:  # provided by Engine
        raise NotImplementedError

    def require_database(self, db: str) -> None:  # provided by Engine
        raise NotImplementedError

    def cancel_alter_job(self, db: str, table: str) -> None:  # provided by SchemaChanges
        raise NotImplementedError

    def _init_recycle_bin(self) -> None:
        self.con.execute(_DDL)

    def drop_table(self, db: str, name: str, if_exists: bool = False, force: bool = False) -> None:
        with self.lock:
            self.require_database(db)
            if (db, name) not in self._metas:
                if if_exists:
                    return
                raise EmulatorError(1051, f"Unknown table '{name}'", "42S02")
            self.cancel_alter_job(db, name)
            self.expire_recycle_bin()
            self.con.begin()
            try:
                if force:
                    self.con.execute(f"DROP TABLE IF EXISTS {quote_ident(db)}.{quote_ident(name)}")
                    self.ledger.drop_tablets(db, name)
                else:
                    self._recycle(db, name)
                self.con.execute(f"DELETE FROM {SCHEMA}.tables WHERE db = ? AND name = ?", [db, name])
                self.con.commit()
            except BaseException:
                self.con.rollback()
                raise
            del self._metas[(db, name)]

    def _recycle(self, db: str, name: str) -> None:
        recycle_id = self.ledger.next_id("recycle_id", 1)
        hidden = f"__recycle_bin_{recycle_id}"
        row = self.con.execute(
            f"SELECT meta, create_time, loads, versions_created, bytes FROM {SCHEMA}.tables WHERE db = ? AND name = ?",
            [db, name],
        ).fetchone()
        assert row is not None
        self.con.execute(f"ALTER TABLE {quote_ident(db)}.{quote_ident(name)} RENAME TO {quote_ident(hidden)}")
        self.con.execute(f"UPDATE {SCHEMA}.tablets SET tbl = ? WHERE db = ? AND tbl = ?", [hidden, db, name])
        self.con.execute(
            f"INSERT INTO {SCHEMA}.recycle_bin VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [recycle_id, db, name, hidden, *row, time.time()],
        )

    def recover_table(self, db: str, name: str) -> None:
        """RECOVER TABLE: the latest dropped table of that name comes back, data, tablets and versions."""
        with self.lock:
            self.require_database(db)
            self.expire_recycle_bin()
            if (db, name) in self._metas:
                raise EmulatorError(1050, f"Table '{name}' already exists", "42S01")
            row = self.con.execute(
                f"SELECT id, hidden, meta, create_time, loads, versions_created, bytes FROM {SCHEMA}.recycle_bin "
                "WHERE db = ? AND name = ? ORDER BY id DESC LIMIT 1",
                [db, name],
            ).fetchone()
            if row is None:  # ERR_BAD_TABLE_ERROR (5502 since the 3.3 error-code review)
                raise EmulatorError(5502, f"Unknown table '{name}'", "42602")
            recycle_id, hidden, meta, *stats = row
            self.con.begin()
            try:
                self.con.execute(
                    f"ALTER TABLE {quote_ident(db)}.{quote_ident(hidden)} RENAME TO {quote_ident(name)}"
                )
                self.con.execute(
                    f"UPDATE {SCHEMA}.tablets SET tbl = ? WHERE db = ? AND tbl = ?", [name, db, hidden]
                )
                self.con.execute(
                    f"INSERT INTO {SCHEMA}.tables (db, name, meta, create_time, loads, versions_created, bytes) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [db, name, meta, *stats],
                )
                self.con.execute(f"DELETE FROM {SCHEMA}.recycle_bin WHERE id = ?", [recycle_id])
                self.con.commit()
            except BaseException:
                self.con.rollback()
                raise
            self._metas[(db, name)] = TableMeta.from_dict(json.loads(meta))

    def expire_recycle_bin(self, now: float | None = None) -> int:
        """Erase what has been in the bin longer than `catalog_trash_expire_second`; returns how many."""
        now = time.time() if now is None else now
        with self.lock:
            rows = self.con.execute(
                f"SELECT id, db, hidden FROM {SCHEMA}.recycle_bin WHERE dropped + ? <= ?",
                [self.catalog_trash_expire_second, now],
            ).fetchall()
            for recycle_id, db, hidden in rows:
                self.con.execute(f"DROP TABLE IF EXISTS {quote_ident(db)}.{quote_ident(hidden)}")
                self.ledger.drop_tablets(db, hidden)
                self.con.execute(f"DELETE FROM {SCHEMA}.recycle_bin WHERE id = ?", [recycle_id])
            return len(rows)

    def forget_recycled(self, db: str) -> None:
        """DROP DATABASE erases its schema, recycled tables with it."""
        with self.lock:
            for (hidden,) in self.con.execute(
                f"SELECT hidden FROM {SCHEMA}.recycle_bin WHERE db = ?", [db]
            ).fetchall():
                self.ledger.drop_tablets(db, hidden)
            self.con.execute(f"DELETE FROM {SCHEMA}.recycle_bin WHERE db = ?", [db])

    def recycle_bin_stats(self) -> list[dict[str, Any]]:
        """One entry per table the bin keeps: db, table, bytes (loaded), rows, dropped_at, expires_at."""
        with self.lock:
            self.expire_recycle_bin()
            out = []
            for db, name, hidden, nbytes, dropped in self.con.execute(
                f"SELECT db, name, hidden, bytes, dropped FROM {SCHEMA}.recycle_bin ORDER BY id"
            ).fetchall():
                count = self.con.execute(
                    f"SELECT count(*) FROM {quote_ident(db)}.{quote_ident(hidden)}"
                ).fetchone()
                out.append({
                    "db": db,
                    "table": name,
                    "bytes": int(nbytes or 0),
                    "rows": int(count[0]) if count else 0,
                    "dropped_at": dropped,
                    "expires_at": dropped + self.catalog_trash_expire_second,
                })  # fmt: skip
            return out
