"""Where a stream loads, so that what an interrupted truncate refresh had acknowledged is never lost.

A truncate (an `overwrite` stream, or a refresh with `minimum_generation_id == generation_id`) loads into
`<table>__airbyte_tmp` and swaps it in when the stream completes. If the sync dies first, that staging table
holds rows whose STATEs were already echoed: the source resumes after them and will not send them again.
The next sync decides, as Airbyte's bulk CDK does in its direct-load stream loaders
(airbyte-cdk/bulk/toolkits/load-db/.../direct_load_table/DirectLoadTableStreamLoader.kt, in the repository
airbytehq/airbyte; docs.airbyte.com/operator-guides/refreshes):

- **a truncate again** (a retry, or a new refresh): a staging table that is empty or holds only rows of
  generation >= `minimum_generation_id` is reused (its rows are part of this truncate); one with older rows
  is dropped (a newer refresh supersedes them) and created afresh. With no staging table, when the final
  table already holds only rows of generation >= the minimum (an earlier attempt of this refresh swapped
  it in, and the sync failed later on another stream), the stream loads straight into the final table,
  because a new staging table would swap away what that attempt committed. Generation 0 never takes that
  path: "minimum 0" keeps everything, so an `overwrite` without generations always stages.
- **not a truncate** (an ordinary sync after a cancelled refresh, `minimum_generation_id` 0): the leftover
  staging rows are folded into the final table before this sync loads (appended; upserted by key on
  Primary Key tables, the newest cursor winning), then the staging table is dropped. The CDK's append
  loader copies the temp table into the real one and drops it; its dedup loader upserts it.

Every table dropped here is dropped with FORCE (StarRocks keeps a plain DROP in its recycle bin for a day).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from destination_starrocks.naming import quote_identifier, staging_table_name
from destination_starrocks.surrogate_copy import Loads
from destination_starrocks.table_copy import GENERATION_ID, RowCopy, qualified, run_once
from destination_starrocks.table_rebuild import drop_leftovers, rebuild_table_name
from destination_starrocks.table_swap import drop_owned_table, existing_tables

logger = logging.getLogger("airbyte")


@dataclass(frozen=True)
class Route:
    load_table: str  # where this stream's loads go
    swap: bool  # a truncate through staging: finish() swaps load_table in
    fold: str | None = None  # a leftover staging table to fold into the final table before loading


def route(
    sql: Any,
    describe: Callable[[str], Any],
    db: str,
    final: str,
    *,
    truncate: bool,
    minimum: int,
    stream: str,
) -> Route:
    """Decide where the stream loads (see the module docstring); drops what no longer counts."""
    staging = staging_table_name(final)
    present = existing_tables(
        sql, db, [final, staging, rebuild_table_name(final), rebuild_table_name(staging)]
    )
    drop_leftovers(sql, db, [final, staging], present.__contains__)
    if not truncate:
        return Route(final, False, staging if staging in present else None)
    if staging in present:
        if not _holds_rows_before(sql, describe, db, staging, minimum):
            logger.info(
                "Stream %s: resuming in %s.%s, whose rows are of this refresh (generation >= %d)",
                stream, db, staging, minimum,
            )  # fmt: skip
            return Route(staging, True)
        logger.info(
            "Stream %s: dropping %s.%s, whose rows are older than generation %d (a newer refresh replaces them)",
            stream, db, staging, minimum,
        )  # fmt: skip
        drop_owned_table(sql, db, staging)
    if minimum > 0 and final in present and not _holds_rows_before(sql, describe, db, final, minimum):
        logger.info(
            "Stream %s: %s.%s already holds only rows of this refresh (generation >= %d): loading into it "
            "directly",
            stream, db, final, minimum,
        )  # fmt: skip
        return Route(final, False)
    return Route(staging, True)


def fold(
    sql: Any,
    describe: Callable[[str], Any],
    db: str,
    staging: str,
    final: str,
    *,
    key_columns: Sequence[str],
    cursor: str | None,
    deleted_at: str | None,
    loads: Loads,
    stream: str,
) -> None:
    """Fold the rows an interrupted refresh left in `staging` into `final` (ready: right model, columns).

    One labelled INSERT ... SELECT (table_copy.run_once): resent after a lost answer only when its label says
    it did not apply, because appending the same rows twice to a Duplicate Key table would duplicate them."""
    started = time.monotonic()
    source, target = describe(staging), describe(final)
    if source is None or target is None:
        return
    generations = [row[0] for row in sql.query(f"SELECT DISTINCT {_gen()} FROM {qualified(db, staging)}")]
    rows = 0
    if generations:
        copy = RowCopy(
            db, staging, final, source.columns, target.columns,
            key_columns=key_columns, cursor=cursor, deleted_at=deleted_at,
            keep_newer_target_rows=bool(key_columns),
            skip_generations=None if key_columns else generations, label=loads.insert_label(db, final),
        )  # fmt: skip
        rows = run_once(sql, copy, loads.label_state)
    drop_owned_table(sql, db, staging)
    logger.info(
        "Stream %s: folded %s rows left in %s.%s by an interrupted refresh (generation %s) into %s.%s%s, "
        "then dropped it (%.1f s)",
        stream, "the" if rows is None else rows, db, staging, ", ".join(str(g) for g in generations) or "none", db, final,
        " (upserted by key, the newest cursor winning)" if key_columns else "", time.monotonic() - started,
    )  # fmt: skip


def _holds_rows_before(sql: Any, describe: Callable[[str], Any], db: str, table: str, minimum: int) -> bool:
    """Whether `table` has a row of a generation older than `minimum` (or of none: an old table)."""
    existing = describe(table)
    if existing is None:
        return False
    if GENERATION_ID.lower() not in existing.columns:
        return True
    rows = sql.query(
        f"SELECT 1 FROM {qualified(db, table)} WHERE {_gen()} IS NULL OR {_gen()} < {int(minimum)} LIMIT 1"
    )
    return bool(rows)


def _gen() -> str:
    return quote_identifier(GENERATION_ID)
