"""Stream Load labels: one per batch, fixed before the first attempt, reused by every retry.

StarRocks keeps a label unique per database for a retention window and lets it be reused only after its
load failed, so a retried load that had in fact committed answers "Label Already Exists" instead of loading
the rows twice. A label is at most 128 characters of letters, digits, '_' and '-' (StarRocks docs, "STREAM
LOAD": label naming rules), so the table part is an ASCII slug plus a hash that keeps distinct tables apart.

The run token is random per connector process: a label must never be reused for *different* rows, and a
re-run of the same sync (same sync_id) replays batches whose boundaries may differ.
"""

from __future__ import annotations

import hashlib
import re
import secrets

MAX_LABEL_LENGTH = 128
_NOT_LABEL_CHAR = re.compile(r"[^A-Za-z0-9_]+")


def new_run_token() -> str:
    return secrets.token_hex(4)


def table_tag(database: str, table: str) -> str:
    slug = _NOT_LABEL_CHAR.sub("_", table).strip("_")[:40] or "t"
    digest = hashlib.blake2b(f"{database}\0{table}".encode(), digest_size=4).hexdigest()
    return f"{slug}_{digest}"


def batch_label(prefix: str, database: str, table: str, run_token: str, seq: int) -> str:
    label = f"{prefix}-{table_tag(database, table)}-{run_token}-{seq}"
    assert len(label) <= MAX_LABEL_LENGTH, label
    return label
