"""Which streams ended at the end of input, and the error for those that did not.

Airbyte's bulk CDK counts a stream as done only when its COMPLETE stream status arrived: when the input ends
and a stream has none, the sync fails with a transient error naming those streams ("Input was fully read,
but some streams did not receive a terminal stream status message", `SyncManager.markInputConsumed`,
airbyte-cdk/bulk/core/load/src/main/kotlin/io/airbyte/cdk/load/state/SyncManager.kt in airbytehq/airbyte).
The platform sends COMPLETE for every stream when the source exits successfully and nothing when it fails
(`StreamStatusCompletionTracker.finalize`, airbyte-commons-worker/.../helper/StreamStatusCompletionTracker.kt
in airbytehq/airbyte-platform, for destinations with `supportsRefreshes`), so the end of input alone never
means success. An INCOMPLETE status, or an error the source reported for the stream, ends it incomplete too.

An incomplete stream keeps everything committed (its records and the STATEs already echoed: nothing is
rolled back), but no overwrite or truncate refresh is swapped in for it: the previous table stays, and the
staging rows wait for the retry (truncate_resume.py).

Callers from before refreshes (an old platform, old PyAirbyte, a hand-made pipeline) send no stream status
at all and no generation ids in the catalog. For a stream whose catalog entry has no `generation_id`, in an
input that carried no stream status of any kind, the end of input counts as the stream's end (what those
callers' destinations always did), with a warning; see docs/starrocks.md, "Supported sync modes".
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from destination_starrocks.checkpoints import StreamKey
from destination_starrocks.errors import TransientError

logger = logging.getLogger("airbyte")

COMPLETE, INCOMPLETE, SOURCE_ERROR = "COMPLETE", "INCOMPLETE", "ERROR"
_WHY = {None: "no stream status", INCOMPLETE: "INCOMPLETE", SOURCE_ERROR: "the source reported an error"}


@dataclass(frozen=True)
class StreamEnd:
    key: StreamKey
    status: str | None  # COMPLETE, INCOMPLETE, SOURCE_ERROR, or None: nothing said
    catalog_generations: bool  # the catalog entry had a generation_id


@dataclass
class EndOfInput:
    complete: set[StreamKey] = field(default_factory=set)
    incomplete: dict[StreamKey, str] = field(default_factory=dict)  # key -> why

    def error(self) -> IncompleteStreamsError:
        return IncompleteStreamsError(self.incomplete)


class IncompleteStreamsError(TransientError):
    """The input ended before these streams were complete (the source failed, or the sync was cancelled)."""

    def __init__(self, incomplete: dict[StreamKey, str]) -> None:
        names = ", ".join(f"{_name(key)} ({why})" for key, why in incomplete.items())
        super().__init__(
            f"The input ended, but these streams did not end with a COMPLETE stream status: {names}. "
            "Their committed records and states are kept; no overwrite or refresh was swapped in for them "
            "(the previous table stays, and the rows loaded so far wait in the staging table for the retry). "
            "This usually means the source failed or the sync was cancelled."
        )
        self.incomplete = incomplete


def judge(streams: Iterable[StreamEnd], saw_any_status: bool) -> EndOfInput:
    """Sort the streams into complete and incomplete at the end of input (see the module docstring)."""
    end = EndOfInput()
    assumed = []
    for stream in streams:
        if stream.status == COMPLETE:
            end.complete.add(stream.key)
        elif stream.status is None and not saw_any_status and not stream.catalog_generations:
            end.complete.add(stream.key)
            assumed.append(stream.key)
        else:
            end.incomplete[stream.key] = _WHY.get(stream.status, str(stream.status))
    if assumed:
        logger.warning(
            "The input carried no stream status and the catalog no generation ids (a caller from before "
            "Airbyte's refreshes): the end of input counts as the end of %s",
            ", ".join(_name(k) for k in assumed),
        )
    return end


def _name(key: StreamKey) -> str:
    namespace, name = key
    return f"{namespace}.{name}" if namespace else name
