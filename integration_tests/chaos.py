"""Kill-and-restart harness: plays the Airbyte platform against the real connector and SIGKILLs it.

    python -m integration_tests.chaos --cycles 100 [--seed 7] [--records-per-cycle 3000]   (`make chaos`)
    python -m integration_tests.chaos --cycles 100 --multi-table   (GLOBAL states, one transaction per
        checkpoint across tables on a StarRocks 4.0 emulator: checkpoint_span.py)

What it does, per cycle: start `destination-starrocks write` as a child process, feed it a deterministic
source (an `append` stream and an `append_dedup` stream, STREAM states every few records, paced so loads
happen while input is still arriving), SIGKILL it at a random moment (seeded), and restart it from the last
STATE it echoed — the source replays everything after that state, as an Airbyte source resumes from the
checkpoint the platform saved. After the last cycle one more run goes to the end of the input unharmed.

What it checks at the end (against the emulator, through the MySQL port):
- every record of the append stream is present (no loss);
- every key of the dedup stream holds exactly its newest record (no loss, no stale row, no extra row);
- every STATE the connector echoed was covered by committed rows at the moment it was echoed (the harness
  checks after each killed run that all records up to the last echoed state are in the table);
- duplicates in the append stream: rows beyond the number of distinct records. Those are records the
  connector committed after its last echoed STATE before it was killed; the source replays them. The
  harness counts them per killed run (committed-but-not-checkpointed rows, measured right after the kill)
  and checks that the final table holds exactly that many duplicates;
- with GLOBAL states, whenever the connector has echoed new STATEs and after every kill, that the tables
  hold together exactly the records of one checkpoint the source sent, the last echoed one or a later one
  (a commit whose STATE the kill cut off): never one table ahead of the other (`CheckpointWatch`). With
  `--multi-table` a mismatch is a violation; otherwise it is counted (table-by-table loading allows it).

The same `ConnectorProcess` drives timed scenarios in the fault-matrix tests.
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from integration_tests.connector import (
    ENTRYPOINT,
    catalog,
    config_for,
    connect,
    global_state,
    record,
    stream,
    stream_state,
    stream_status,
)

APPEND_STREAM = "events"
MULTI_TABLE_VERSION = "4.0.1"  # the release --multi-table plays (multi-table transactions from 4.0)
DEDUP_STREAM = "users"
DEDUP_KEYS = 250
STATE_EVERY = 50  # records of a stream between two of its STATEs
FEED_CHUNK = 100  # records written to stdin at once
FEED_PAUSE_SECONDS = 0.01  # between chunks: ~10k records/s, so a run is killed mid-way, not after the end
QUIET_WAIT_SECONDS = 15.0  # after a kill: longest wait for loads the dead process had sent to settle


class ConnectorProcess:
    """`destination-starrocks write` as a child process fed over time; stdout collected line by line."""

    def __init__(
        self,
        config: dict[str, Any],
        catalog_: dict[str, Any],
        workdir: str | None = None,
        prefix: Sequence[str] = (),  # e.g. `unshare --pid --fork`: the connector as PID 1, as in a container
    ) -> None:
        self._tmp = tempfile.TemporaryDirectory(dir=workdir)
        base = Path(self._tmp.name)
        (base / "config.json").write_bytes(orjson.dumps(config))
        (base / "catalog.json").write_bytes(orjson.dumps(catalog_))
        self._stderr = open(base / "stderr.log", "wb+")  # noqa: SIM115 - lives as long as the child
        self.proc = subprocess.Popen(
            [
                *prefix,
                *ENTRYPOINT,
                "write",
                "--config",
                str(base / "config.json"),
                "--catalog",
                str(base / "catalog.json"),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        self._streams = [entry["stream"] for entry in catalog_["streams"]]
        self.messages: list[dict[str, Any]] = []
        self.raw_stdout: list[bytes] = []
        self.received_at: list[float] = []  # wall-clock arrival of each message (for latency diagnostics)
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read_stdout, name="connector-stdout", daemon=True)
        self._reader.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.raw_stdout.append(line)
            try:
                message = orjson.loads(line)
            except orjson.JSONDecodeError:
                message = {"type": "_UNPARSED", "line": line.decode("utf-8", "replace")}
            with self._changed:
                self.received_at.append(time.time())
                self.messages.append(message)
                self._changed.notify_all()

    def send(self, lines: Iterable[bytes]) -> bool:
        """Write lines to stdin; False when the connector is gone (killed or failed)."""
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(b"".join(line + b"\n" for line in lines))
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError, ValueError):
            return False

    def close_stdin(self) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass

    @property
    def states(self) -> list[dict[str, Any]]:
        with self._changed:
            return [m["state"] for m in self.messages if m.get("type") == "STATE"]

    @property
    def errors(self) -> list[dict[str, Any]]:
        with self._changed:
            return [
                m["trace"]["error"]
                for m in self.messages
                if m.get("type") == "TRACE" and m["trace"].get("type") == "ERROR"
            ]

    def wait_for_states(self, count: int, timeout: float = 60.0) -> bool:
        """Block until at least `count` STATEs were echoed (or the process ended, or the timeout passed)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while sum(1 for m in self.messages if m.get("type") == "STATE") < count:
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    return False
                self._changed.wait(min(left, 0.2))
        return True

    def kill(self) -> None:
        """SIGKILL: no goodbye, no flush, exactly what a node failure or an OOM kill looks like."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.wait(end_status=None)

    def wait(self, timeout: float = 300.0, end_status: str | None = "COMPLETE") -> int:
        """End the input and wait for the exit code. The input ends as the platform ends a successful read,
        with an `end_status` stream status per catalog stream (None: none, as when the source failed)."""
        if end_status is not None and self.proc.poll() is None:
            self.send([stream_status(s["name"], end_status, s.get("namespace")) for s in self._streams])
        self.close_stdin()
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code

    @property
    def stderr(self) -> str:
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        self._stderr.close()
        self._tmp.cleanup()

    def __enter__(self) -> ConnectorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- the source ------------------------------------------------------------------------------------------


@dataclass
class Source:
    """A deterministic two-stream source. Record i of a stream is always the same record; a STREAM state
    follows every STATE_EVERY records of its stream and holds the index of the next record to read, so a
    restart from an echoed state replays exactly the records after it. Streams interleave in runs of random
    length (seeded per run), as a real source reading several tables would."""

    records_per_stream: int
    global_states: bool = False  # GLOBAL states (as CDC sources send) instead of one STREAM state per stream

    @staticmethod
    def line(name: str, i: int) -> bytes:
        if name == APPEND_STREAM:
            return record(name, {"id": i, "payload": f"event {i} " + "x" * (i % 40)})
        return record(name, {"id": i % DEDUP_KEYS, "seq": i, "updated_at": i})

    def chunks(self, resume: dict[str, int], rng: random.Random) -> Iterator[list[bytes]]:
        position = dict(resume)
        while True:
            open_streams = [s for s in (APPEND_STREAM, DEDUP_STREAM) if position[s] < self.records_per_stream]
            if not open_streams:
                return
            name = rng.choice(open_streams)
            run = rng.randint(1, FEED_CHUNK)
            lines = []
            for i in range(position[name], min(position[name] + run, self.records_per_stream)):
                lines.append(self.line(name, i))
                position[name] = i + 1
                if (i + 1) % STATE_EVERY == 0 or i + 1 == self.records_per_stream:
                    lines.append(
                        global_state(dict(position)) if self.global_states else stream_state(name, i + 1)
                    )
            yield lines


def catalog_for_chaos() -> dict[str, Any]:
    return catalog(
        stream(APPEND_STREAM, {"id": {"type": "integer"}, "payload": {"type": "string"}}),
        stream(
            DEDUP_STREAM,
            {"id": {"type": "integer"}, "seq": {"type": "integer"}, "updated_at": {"type": "integer"}},
            mode="append_dedup",
            primary_key=[["id"]],
            cursor=["updated_at"],
        ),
    )


# ---- the platform ----------------------------------------------------------------------------------------


@dataclass
class ChaosReport:
    cycles: int
    seed: int
    records_per_stream: int
    state_kind: str = "STREAM"
    load_mode: str = "Stream Load"
    killed_runs: int = 0
    runs_with_rows_past_the_last_state: int = 0
    rows_past_the_last_state: int = 0  # committed by a killed run after its last echoed STATE (append)
    unaligned_runs: int = 0  # of those: rows ending between two STATEs (a batch not cut at a STATE)
    in_flight_runs: int = 0  # of those: a load was running on the BE when the kill came (it committed after)
    commit_window_runs: int = 0  # of those: the tables were at a checkpoint after the last echoed one
    checkpoint_checks: int = 0  # GLOBAL states: times the tables were compared with the checkpoints sent
    checkpoint_mismatches: int = 0  # of those: the tables together were not at one checkpoint
    append_rows: int = 0
    append_duplicates: int = 0
    dedup_keys: int = 0
    states_echoed: int = 0
    seconds: float = 0.0
    violations: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"chaos: {self.cycles} killed cycles (seed {self.seed}), {self.records_per_stream} records per stream, "
            f"{self.state_kind} states, {self.load_mode}, "
            f"{self.states_echoed} states echoed; append stream: {self.append_rows} rows, "
            f"{self.append_duplicates} duplicates; {self.runs_with_rows_past_the_last_state} killed runs had "
            f"committed {self.rows_past_the_last_state} rows past their last echoed STATE "
            f"({self.unaligned_runs} of them ending between STATEs, {self.in_flight_runs} killed while a load "
            f"was running on the BE, the others between a commit and its STATE); dedup stream: {self.dedup_keys} keys; "
            + (
                f"tables compared with the checkpoints {self.checkpoint_checks} times, "
                f"{self.checkpoint_mismatches} times not at one checkpoint "
                f"({self.commit_window_runs} kills between a commit and its STATE); "
                if self.state_kind == "GLOBAL"
                else ""
            )
            + f"{len(self.violations)} violations; {self.seconds:.0f}s"
        )


def _settle(emulator: Any, timeout: float = QUIET_WAIT_SECONDS) -> None:
    """Wait until no load the killed connector sent is still running on the (emulated) BE."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if emulator.stats()["loads"].get("running", 0) == 0:
            return
        time.sleep(0.05)


def _query(emulator: Any, sql: str) -> list[tuple]:
    with connect(emulator) as conn, conn.cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


def _id_counts(emulator: Any, database: str, first: int) -> dict[int, int]:
    import pymysql

    table = f"`{database}`.`{APPEND_STREAM}`"
    try:
        rows = _query(emulator, f"SELECT `id`, COUNT(*) FROM {table} WHERE `id` >= {first} GROUP BY `id`")
    except pymysql.MySQLError:
        return {}  # no table yet: the first runs were killed before creating it
    return {int(i): int(n) for i, n in rows}


class CheckpointWatch:
    """GLOBAL states: are the tables together at exactly one checkpoint the source sent, at or after the last
    STATE the connector echoed? Every checkpoint is a pair of positions (append, dedup); the tables' own pair
    is (highest append id + 1, highest dedup seq + 1), as both streams' records arrive in order. A run may
    start with rows past its resume point (`leftover`: the pair a killed run left, committed after its last
    echoed STATE); the source replays them, so the tables show the greater of each position, leftover or the
    run's. `strict`: a mismatch is a violation (one transaction per checkpoint), else it is only counted."""

    def __init__(
        self,
        emulator: Any,
        database: str,
        resume: dict[str, int],
        leftover: tuple[int, int],
        report: ChaosReport,
        strict: bool,
    ) -> None:
        self._emulator, self._database, self._report, self._strict = emulator, database, report, strict
        self.sent: list[tuple[int, int]] = [(resume[APPEND_STREAM], resume[DEDUP_STREAM])]
        self.leftover = leftover
        self._echoed = 0

    def sending(self, lines: list[bytes]) -> None:
        for line in lines:
            if line.startswith(b'{"type":"STATE"'):
                position = orjson.loads(line)["state"]["global"]["shared_state"]["v"]
                self.sent.append((position[APPEND_STREAM], position[DEDUP_STREAM]))

    def check_echoed(self, connector: ConnectorProcess) -> None:
        """If the connector echoed STATEs since the last look: the tables against the last of them."""
        states = connector.states
        if len(states) > self._echoed:
            self._echoed = len(states)
            position = states[-1]["global"]["shared_state"]["v"]
            self.check((position[APPEND_STREAM], position[DEDUP_STREAM]), "at an echoed STATE")

    def check(self, echoed: tuple[int, int], when: str) -> tuple[int, int]:
        """The tables' pair; notes a mismatch (`when` says where)."""
        have = self.tables()
        self._report.checkpoint_checks += 1
        valid = {self.shown(s) for s in self.sent if s[0] >= echoed[0] and s[1] >= echoed[1]}
        if have not in valid:
            self._report.checkpoint_mismatches += 1
            if self._strict:
                self._report.violations.append(
                    f"{when}: the tables hold {APPEND_STREAM} up to {have[0]} and {DEDUP_STREAM} up to {have[1]}, "
                    f"not one checkpoint sent at or after the echoed {echoed}"
                )
        return have

    def shown(self, checkpoint: tuple[int, int]) -> tuple[int, int]:
        """What the tables show when they hold `checkpoint` over the leftover."""
        return max(checkpoint[0], self.leftover[0]), max(checkpoint[1], self.leftover[1])

    def tables(self) -> tuple[int, int]:
        import pymysql

        db = f"`{self._database}`"
        try:
            rows = _query(
                self._emulator,
                f"SELECT (SELECT max(`id`) FROM {db}.`{APPEND_STREAM}`), "
                f"(SELECT max(`seq`) FROM {db}.`{DEDUP_STREAM}`)",
            )
        except pymysql.MySQLError:
            return (0, 0)  # no tables yet
        events, users = rows[0]
        return (-1 if events is None else int(events)) + 1, (-1 if users is None else int(users)) + 1


def _check_after_kill(
    emulator: Any,
    database: str,
    resume: dict[str, int],
    before: dict[int, int],
    report: ChaosReport,
    in_flight: bool,
) -> int:
    """Every record before an echoed STATE is committed; count (and return) the append rows this run committed
    past it.

    `before` holds the append stream's row counts per id (ids from the run's starting position) before the
    run. Rows this run added at ids at or past its last echoed STATE will be loaded again, since the source
    replays from that STATE: each one is exactly one duplicate in the final table."""
    events, users = f"`{database}`.`{APPEND_STREAM}`", f"`{database}`.`{DEDUP_STREAM}`"
    position = resume[APPEND_STREAM]
    have = _query(emulator, f"SELECT COUNT(DISTINCT `id`) FROM {events} WHERE `id` < {position}")[0][0]
    if have != position:
        report.violations.append(f"append: {position - have} records before an echoed STATE are missing")
    after = _id_counts(emulator, database, position)
    added = {i: n - before.get(i, 0) for i, n in after.items() if n > before.get(i, 0)}
    if added:
        report.runs_with_rows_past_the_last_state += 1
        report.rows_past_the_last_state += sum(added.values())
        if (max(added) + 1) % STATE_EVERY:
            report.unaligned_runs += 1
        report.in_flight_runs += in_flight
    position = resume[DEDUP_STREAM]
    stored = dict(_query(emulator, f"SELECT `id`, `seq` FROM {users}"))
    for i in range(max(0, position - DEDUP_KEYS), position):
        if stored.get(i % DEDUP_KEYS, -1) < i:
            report.violations.append(f"dedup: key {i % DEDUP_KEYS} lacks record {i} before an echoed STATE")
            break
    return sum(added.values())


def _final_check(emulator: Any, database: str, source: Source, report: ChaosReport) -> None:
    events, users = f"`{database}`.`{APPEND_STREAM}`", f"`{database}`.`{DEDUP_STREAM}`"
    n = source.records_per_stream
    rows = _query(emulator, f"SELECT `id`, COUNT(*) FROM {events} GROUP BY `id`")
    counts = {int(i): int(c) for i, c in rows}
    report.append_rows = sum(counts.values())
    report.append_duplicates = report.append_rows - len(counts)
    if set(counts) != set(range(n)):
        missing = sorted(set(range(n)) - set(counts))
        report.violations.append(f"append: {len(missing)} records missing, e.g. {missing[:10]}")
    if report.append_duplicates != report.rows_past_the_last_state:
        report.violations.append(
            f"append: {report.append_duplicates} duplicates, but killed runs committed only "
            f"{report.rows_past_the_last_state} rows past their last echoed STATE: some duplicates have "
            "another cause"
        )
    stored = dict(_query(emulator, f"SELECT `id`, `seq` FROM {users}"))
    report.dedup_keys = len(stored)
    newest = {k: max(i for i in range(k, n, DEDUP_KEYS)) for k in range(min(DEDUP_KEYS, n))}
    if stored != newest:
        wrong = sorted(k for k in newest if stored.get(k) != newest[k])
        report.violations.append(
            f"dedup: {len(wrong)} keys do not hold their newest record, e.g. {wrong[:10]}"
        )


def chaos_config(
    emulator: Any, database: str, transactions: bool = False, multi_table: bool = False
) -> dict[str, Any]:
    """`multi_table`: `auto` on a 4.0 server (one transaction per checkpoint) and a 4 s transaction timeout,
    so that a killed run's open transaction is aborted soon (each kill waits for it: `_settle`)."""
    return config_for(
        emulator,
        database=database,
        batch_size=400,
        flush_interval_seconds=0.5,
        max_retries=3,
        load_timeout_seconds=4 if multi_table else 10,
        transaction_stream_load="auto" if multi_table else "always" if transactions else "never",
    )


def run_chaos(
    cycles: int,
    seed: int = 7,
    records_per_cycle: int = 3000,
    log: Any = None,
    emulator: Any = None,
    global_states: bool = False,
    transactions: bool = False,
    multi_table: bool = False,
) -> ChaosReport:
    """Run `cycles` killed runs and one final run; returns the report (violations listed, never raised).
    `multi_table`: GLOBAL states, one transaction per checkpoint across tables (`emulator`, if given, must play
    StarRocks 4.0 or later)."""
    from starrocks_emulator.process import EmulatorProcess

    started = time.monotonic()
    rng = random.Random(seed)
    global_states = global_states or multi_table
    source = Source(max(records_per_cycle * cycles, 1000), global_states)
    report = ChaosReport(cycles, seed, source.records_per_stream, "GLOBAL" if global_states else "STREAM")
    report.load_mode = (
        "one transaction per checkpoint (multi-table, StarRocks 4.0)"
        if multi_table
        else "transaction Stream Load"
        if transactions
        else "Stream Load"
    )
    database = f"chaos_{seed}_{int(time.time())}"
    own = emulator is None
    emulator = (
        emulator or EmulatorProcess(starrocks_version=MULTI_TABLE_VERSION if multi_table else None).start()
    )
    resume = {APPEND_STREAM: 0, DEDUP_STREAM: 0}
    leftover = (0, 0)  # GLOBAL states: the tables' pair a killed run left (CheckpointWatch)
    try:
        for cycle in range(cycles + 1):
            final = cycle == cycles
            kill_after = None if final else rng.uniform(0.3, 3.5)
            feed_rng = random.Random(rng.random())
            in_flight = False
            before = {} if final else _id_counts(emulator, database, resume[APPEND_STREAM])
            config = chaos_config(emulator, database, transactions, multi_table)
            watch = None
            if global_states:
                watch = CheckpointWatch(emulator, database, resume, leftover, report, multi_table)
            with ConnectorProcess(config, catalog_for_chaos()) as connector:
                began = time.monotonic()
                for lines in source.chunks(resume, feed_rng):
                    if kill_after is not None and time.monotonic() - began >= kill_after:
                        break
                    if watch is not None:
                        watch.sending(lines)
                    if not connector.send(lines):
                        break
                    if watch is not None:
                        watch.check_echoed(connector)
                    time.sleep(FEED_PAUSE_SECONDS)
                if kill_after is None:
                    code = connector.wait()
                    if code != 0:
                        report.violations.append(f"final run failed ({code}): {connector.stderr[-2000:]}")
                else:
                    left = kill_after - (time.monotonic() - began)
                    if left > 0:
                        time.sleep(left)  # the input ran out first: still kill at the chosen moment
                    in_flight = emulator.stats()["loads"].get("running", 0) > 0
                    connector.kill()
                    report.killed_runs += 1
                for state in connector.states:
                    if state["type"] == "GLOBAL":
                        resume.update(state["global"]["shared_state"]["v"])
                    else:
                        descriptor = state["stream"]["stream_descriptor"]
                        resume[descriptor["name"]] = state["stream"]["stream_state"]["v"]
                    report.states_echoed += 1
                errors = connector.errors
            if errors:
                report.violations.append(
                    f"cycle {cycle}: the connector reported {errors[0]['message'][:300]}"
                )
            past = 0
            if not final:
                _settle(emulator)
                past = _check_after_kill(emulator, database, resume, before, report, in_flight)
                if watch is not None:
                    echoed = (resume[APPEND_STREAM], resume[DEDUP_STREAM])
                    leftover = watch.check(echoed, f"after kill {cycle}")
                    report.commit_window_runs += leftover != watch.shown(echoed)
            if log is not None:
                log(
                    f"cycle {cycle}: kill at {kill_after and round(kill_after, 2)}s, resume {resume}"
                    + (f", {past} append rows committed past the last echoed STATE" if past else "")
                )
        _settle(emulator)
        _final_check(emulator, database, source, report)
    finally:
        if own:
            emulator.stop()
    report.seconds = time.monotonic() - started
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--records-per-cycle", type=int, default=3000, help="records per stream per cycle")
    parser.add_argument("--global-states", action="store_true", help="GLOBAL states (CDC) instead of STREAM")
    parser.add_argument("--transactions", action="store_true", help="transaction_stream_load: always")
    parser.add_argument(
        "--multi-table",
        action="store_true",
        help="GLOBAL states, one transaction per checkpoint across tables (a StarRocks 4.0 emulator)",
    )
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    report = run_chaos(
        args.cycles,
        args.seed,
        args.records_per_cycle,
        log=(lambda text: print(text, file=sys.stderr)) if args.verbose else None,
        global_states=args.global_states,
        transactions=args.transactions,
        multi_table=args.multi_table,
    )
    print(report.summary())
    print(orjson.dumps(report.__dict__).decode())
    for violation in report.violations:
        print(f"VIOLATION: {violation}")
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
