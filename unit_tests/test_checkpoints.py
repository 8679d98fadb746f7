"""The checkpoint ledger: a STATE leaves only after its records are committed, in arrival order."""

from __future__ import annotations

from destination_starrocks.checkpoints import CheckpointLedger

A = (None, "a")
B = ("ns", "b")


def stream_state(name: str, namespace: str | None = None, value: int = 0) -> dict:
    descriptor = {"name": name, "namespace": namespace}
    return {
        "type": "STATE",
        "state": {
            "type": "STREAM",
            "stream": {"stream_descriptor": descriptor, "stream_state": {"v": value}},
        },
    }


def global_state(value: int = 0) -> dict:
    return {"type": "STATE", "state": {"type": "GLOBAL", "global": {"shared_state": {"v": value}}}}


def test_state_waits_for_its_stream_records_to_commit():
    ledger = CheckpointLedger([A, B])
    ledger.record_received(A, 3)
    ledger.state_received(stream_state("a"))
    assert ledger.releasable() == []
    ledger.batch_committed(A, 2)
    assert ledger.releasable() == []
    ledger.batch_committed(A, 3)
    released = ledger.releasable()
    assert [p.record_count for p in released] == [3]


def test_stream_state_ignores_other_streams_records():
    ledger = CheckpointLedger([A, B])
    ledger.record_received(B, 5)
    ledger.record_received(A, 1)
    ledger.batch_committed(A, 1)
    ledger.state_received(stream_state("a"))
    assert [p.record_count for p in ledger.releasable()] == [1]


def test_global_state_waits_for_every_stream():
    ledger = CheckpointLedger([A, B])
    ledger.record_received(A, 2)
    ledger.record_received(B, 2)
    ledger.state_received(global_state())
    ledger.batch_committed(A, 2)
    assert ledger.releasable() == []
    ledger.batch_committed(B, 2)
    assert [p.record_count for p in ledger.releasable()] == [4]


def test_stream_states_leave_in_order_per_stream_and_never_wait_for_another_stream():
    ledger = CheckpointLedger([A, B])
    ledger.record_received(A, 1)
    a1 = ledger.state_received(stream_state("a", value=1))
    ledger.record_received(B, 1)
    b1 = ledger.state_received(stream_state("b", "ns", value=2))
    ledger.record_received(A, 1)
    a2 = ledger.state_received(stream_state("a", value=3))
    ledger.batch_committed(B, 1)
    assert ledger.releasable() == [
        b1
    ]  # b's state does not wait for a's load (Airbyte's CDK: a queue per stream)
    ledger.batch_committed(A, 2)
    assert ledger.releasable() == [a1, a2]  # a's states in their own order


def test_global_states_leave_in_arrival_order():
    ledger = CheckpointLedger([A, B])
    ledger.record_received(A, 1)
    first = ledger.state_received(global_state(1))
    ledger.record_received(B, 1)
    second = ledger.state_received(global_state(2))
    ledger.batch_committed(B, 1)
    assert ledger.releasable() == []  # the second needs b (committed) but the first, before it, needs a
    ledger.batch_committed(A, 1)
    assert ledger.releasable() == [first, second]


def test_record_counts_are_per_stream_since_the_previous_state_of_that_scope():
    ledger = CheckpointLedger([A, B])
    ledger.record_received(A, 4)
    ledger.state_received(stream_state("a"))
    ledger.record_received(B, 7)
    ledger.state_received(stream_state("b", "ns"))
    ledger.record_received(A, 2)
    ledger.state_received(stream_state("a"))
    ledger.batch_committed(A, 6)
    ledger.batch_committed(B, 7)
    assert [p.record_count for p in ledger.releasable()] == [4, 7, 2]


def test_state_with_no_records_is_released_at_once():
    ledger = CheckpointLedger([A])
    ledger.state_received(global_state())
    assert [p.record_count for p in ledger.releasable()] == [0]


def test_state_for_a_stream_outside_the_catalog_is_released_at_once():
    ledger = CheckpointLedger([A])
    ledger.record_received(A, 1)
    ledger.state_received(stream_state("a"))
    unknown = ledger.state_received(stream_state("unknown"))
    assert ledger.releasable() == [unknown]  # it covers none of our records
    ledger.batch_committed(A, 1)
    assert len(ledger.releasable()) == 1
