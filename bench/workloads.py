"""The benchmark's workloads and their sizes: `full` (issue 7's figures), `quick` (~1/10) and `tiny` (tests).

`chatty_slow_compaction` (issue 14) is `chatty_state` with `flush_interval_seconds: 0` (every STATE a load, unless
the table is under version pressure) against an emulator of its own whose compaction merges only
SLOW_COMPACTION_VERSIONS_PER_S versions per second per tablet.

The names are the JSON keys of bench/results/latest.json. A preset only scales the sizes; the shapes (STATE
cadence, stream count ratio, sync mode, key space) stay those the issue describes, so a quick run exercises the
same code paths as a full one.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.datagen import WorkloadShape

CONNECTOR_WORKLOADS = ("bulk", "chatty_state", "many_streams", "dedup")
PRESSURE_WORKLOADS = ("chatty_slow_compaction",)  # each on an emulator of its own (slow compaction)
BASELINE_WORKLOADS = ("single_insert_baseline", "peer")
ALL_WORKLOADS = (*CONNECTOR_WORKLOADS, *PRESSURE_WORKLOADS, *BASELINE_WORKLOADS)
SLOW_COMPACTION_VERSIONS_PER_S = 2.0


@dataclass(frozen=True)
class Preset:
    name: str
    bulk: int
    chatty_state: int
    chatty_slow_compaction: int
    many_streams: tuple[int, int]  # (streams, records per stream)
    dedup: tuple[int, int]  # (records, keys)
    single_insert: int
    peer: int  # records of the bulk input fed to the peer (it is ~100x slower: a subset keeps the run short)
    timeout_s: float  # per connector / peer process
    bulk_runs: int = 1  # runs of `bulk`, each between two parse floors; the median run is reported

    def shapes(self) -> dict[str, WorkloadShape]:
        streams, per_stream = self.many_streams
        dedup_records, dedup_keys = self.dedup
        return {
            "bulk": WorkloadShape("bulk", self.bulk, state_every=1000),
            "chatty_state": WorkloadShape("chatty_state", self.chatty_state, state_every=1),
            "chatty_slow_compaction": WorkloadShape(
                "chatty_slow_compaction", self.chatty_slow_compaction, state_every=1
            ),
            "many_streams": WorkloadShape(
                "many_streams", streams * per_stream, streams=streams, state_every=1000, state_kind="GLOBAL"
            ),
            "dedup": WorkloadShape(
                "dedup", dedup_records, state_every=1000, sync_mode="append_dedup", dedup_keys=dedup_keys
            ),
        }


PRESETS = {
    "full": Preset(
        "full",
        bulk=1_000_000,
        chatty_state=200_000,
        chatty_slow_compaction=20_000,
        many_streams=(200, 5_000),
        dedup=(1_000_000, 100_000),
        single_insert=20_000,
        peer=20_000,
        timeout_s=420,
        bulk_runs=3,
    ),
    "quick": Preset(
        "quick",
        bulk=100_000,
        chatty_state=20_000,
        chatty_slow_compaction=5_000,
        many_streams=(20, 2_000),
        dedup=(100_000, 10_000),
        single_insert=2_000,
        peer=2_000,
        timeout_s=120,
    ),
    "tiny": Preset(
        "tiny",
        bulk=2_000,
        chatty_state=300,
        chatty_slow_compaction=300,
        many_streams=(3, 200),
        dedup=(2_000, 300),
        single_insert=50,
        peer=50,
        timeout_s=60,
        bulk_runs=2,  # the tests see the repetition
    ),
}
