"""Where a table's tablet replicas live: `replication_num` of them per tablet, spread over the cluster's BEs.

StarRocks places each tablet's replicas on distinct BEs (fe `LocalMetastore.chosenBackendIdBySeq`); SHOW TABLET
lists one row per replica (fe common/proc/LocalTabletsProcDir: a row per `Replica`), and SHOW BACKENDS' TabletNum
counts the replicas a BE holds (`TabletInvertedIndex.getTabletNumByBackendId`). The emulator keeps the data once
and places replica r of tablet i on BE (i + r) mod the number of BEs. `Replicas` is a mixin of `Engine`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from starrocks_emulator.storage.catalog import TableMeta, quote_ident
from starrocks_emulator.storage.fe_config import backend_id, replication_of
from starrocks_emulator.storage.ledger import SCHEMA

if TYPE_CHECKING:
    import duckdb

    from starrocks_emulator.storage.ledger import Ledger
    from starrocks_emulator.topology import Topology


class Replicas:
    lock: threading.RLock
    con: duckdb.DuckDBPyConnection
    ledger: Ledger
    topology: Topology
    _metas: dict[tuple[str, str], TableMeta]

    def table(self, db: str, name: str) -> TableMeta:  # provided by Engine
        raise NotImplementedError

    def _backend_ids(self) -> list[int]:
        return [backend_id(be.id) for be in self.topology.backends] or [backend_id(1)]

    def tablets(self, db: str, table: str) -> list[dict]:
        """One entry per replica of every tablet (SHOW TABLET lists replicas), replicas spread over the BEs."""
        with self.lock:
            meta = self.table(db, table)
            row = self.con.execute(
                f"SELECT count(*) FROM {quote_ident(db)}.{quote_ident(meta.name)}"
            ).fetchone()
            rows = int(row[0]) if row else 0
            stats = self.ledger.table_stats().get(f"{db}.{table}", {})
            tablets = self.ledger.tablets(db, table)
            count = max(1, len(tablets))
            data_size = int(stats.get("bytes", 0)) // count
            backends = self._backend_ids()
            replicas = min(replication_of(meta, self), len(backends))
            return [
                {
                    "TabletId": tablet_id,
                    "ReplicaId": tablet_id + 1 + r,
                    "BackendId": backends[(i + r) % len(backends)],
                    "SchemaHash": 0,
                    "Version": version,
                    "VersionHash": 0,
                    "LstSuccessVersion": version,
                    "LstFailedVersion": -1,
                    "LstFailedTime": None,
                    "DataSize": data_size,
                    "RowCount": rows // count + (1 if i < rows % count else 0),
                    "State": "NORMAL",
                    "VersionCount": version_count,
                }
                for i, (tablet_id, version, version_count) in enumerate(tablets)
                for r in range(replicas)
            ]

    def tablet_count_by_backend(self) -> dict[int, int]:
        """BackendId -> tablet replicas it holds (SHOW BACKENDS' TabletNum), placed as `tablets()` places them."""
        with self.lock:
            backends = self._backend_ids()
            counts = dict.fromkeys(backends, 0)
            per_table = self.con.execute(f"SELECT db, tbl, count(*) FROM {SCHEMA}.tablets GROUP BY db, tbl")
            for db, name, tablets in per_table.fetchall():
                meta = self._metas.get((db, name))
                if meta is None:  # in the recycle bin
                    continue
                replicas = min(replication_of(meta, self), len(backends))
                for i in range(tablets):
                    for r in range(replicas):
                        counts[backends[(i + r) % len(backends)]] += 1
            return counts
