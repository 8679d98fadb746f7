"""The sync: source `read` piped into `destination-starrocks write`, as Airbyte's orchestrator would pipe them.

Contract: `run_sync(source_argv, destination_argv, logs_dir, say)` starts both processes, copies the source's
stdout to the destination's stdin line by line (counting RECORDs per stream and STATEs on the way), reads the
destination's stdout (STATE echoes: the checkpoints it made durable; LOG lines, shown as they come; TRACE
errors) and prints a progress line every PROGRESS_INTERVAL_S. Both processes' stderr go to files in `logs_dir`.
It returns a `SyncResult`; a source or destination that fails (exit code, TRACE error) is reported in it, never
hidden.

Why count here: the demo's report sets the rows that arrived against the records that were sent, and the
loads/versions StarRocks made against the one INSERT per record a naive destination would have sent.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

PROGRESS_INTERVAL_S = 2.0
LOG_LINE_CHARS = 200


@dataclass
class SyncResult:
    records: Counter[str] = field(default_factory=Counter)  # stream → RECORD messages sent
    states_sent: int = 0
    states_returned: int = 0  # STATE messages the destination echoed (durable checkpoints)
    records_in_returned_states: int = 0  # sum of destinationStats.recordCount over them
    destination_logs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    source_exit: int | None = None
    destination_exit: int | None = None
    seconds: float = 0.0

    @property
    def total_records(self) -> int:
        return sum(self.records.values())

    @property
    def ok(self) -> bool:
        return self.source_exit == 0 and self.destination_exit == 0 and not self.errors


def run_sync(
    source_argv: list[str],
    destination_argv: list[str],
    source_env: dict[str, str],
    logs_dir: Path,
    say: Callable[[str], None] = print,
) -> SyncResult:
    result = SyncResult()
    logs_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with (
        open(logs_dir / "source.stderr.log", "wb") as source_err,
        open(logs_dir / "destination.stderr.log", "wb") as destination_err,
        open(logs_dir / "destination.log", "w", encoding="utf-8") as destination_log,
    ):
        destination = subprocess.Popen(
            destination_argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=destination_err
        )
        source = subprocess.Popen(source_argv, stdout=subprocess.PIPE, stderr=source_err, env=source_env)
        lock = threading.Lock()
        reader = threading.Thread(
            target=_read_destination, args=(destination, result, lock, destination_log, say), daemon=True
        )
        reader.start()
        try:
            _pump(source, destination, result, lock, started, say)
            result.source_exit = source.wait()
            result.destination_exit = destination.wait()
            reader.join()
        except BaseException:
            for process in (source, destination):
                if process.poll() is None:
                    process.kill()
                    process.wait()
            raise
    result.seconds = time.monotonic() - started
    if result.source_exit != 0:
        result.errors.append(
            f"source-faker exited with {result.source_exit}: {_tail(logs_dir / 'source.stderr.log')}"
        )
    if result.destination_exit != 0:
        result.errors.append(
            f"destination-starrocks exited with {result.destination_exit}: "
            f"{_tail(logs_dir / 'destination.stderr.log')}"
        )
    return result


def _pump(
    source: subprocess.Popen[bytes],
    destination: subprocess.Popen[bytes],
    result: SyncResult,
    lock: threading.Lock,
    started: float,
    say: Callable[[str], None],
) -> None:
    """Source stdout → destination stdin, counting on the way; progress every PROGRESS_INTERVAL_S."""
    assert source.stdout is not None and destination.stdin is not None
    next_progress = started + PROGRESS_INTERVAL_S
    try:
        for line in source.stdout:
            if line.startswith(b'{"type":"RECORD"') or line.startswith(b'{"type": "RECORD"'):
                result.records[orjson.loads(line)["record"]["stream"]] += 1
            elif b'"type":"STATE"' in line[:40] or b'"type": "STATE"' in line[:40]:
                result.states_sent += 1
            elif b'"TRACE"' in line[:40]:
                _source_trace(line, result)
            destination.stdin.write(line)
            now = time.monotonic()
            if now >= next_progress:
                next_progress = now + PROGRESS_INTERVAL_S
                with lock:
                    say(_progress(result, now - started))
    except BrokenPipeError:
        # The destination exited early: stop the source too, or it blocks forever on its full stdout pipe.
        result.errors.append("destination-starrocks stopped reading its input")
        source.kill()
    finally:
        try:
            destination.stdin.close()
        except BrokenPipeError:
            pass
    say(_progress(result, time.monotonic() - started) + "  (source done)")


def _source_trace(line: bytes, result: SyncResult) -> None:
    trace = orjson.loads(line).get("trace", {})
    if trace.get("type") == "ERROR":
        result.errors.append(f"source-faker: {trace.get('error', {}).get('message', 'error')}")


def _read_destination(
    destination: subprocess.Popen[bytes],
    result: SyncResult,
    lock: threading.Lock,
    log_file,  # noqa: ANN001 - a text file
    say: Callable[[str], None],
) -> None:
    """Destination stdout: STATE echoes are counted, LOG lines shown and kept, TRACE errors collected."""
    assert destination.stdout is not None
    for line in destination.stdout:
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError:
            message = {
                "type": "LOG",
                "log": {"level": "INFO", "message": line.decode(errors="replace").rstrip()},
            }
        kind = message.get("type")
        if kind == "STATE":
            stats = message["state"].get("destinationStats") or {}
            with lock:
                result.states_returned += 1
                result.records_in_returned_states += int(stats.get("recordCount") or 0)
        elif kind == "LOG":
            log = message["log"]
            text = f"{log.get('level', 'INFO')} {log.get('message', '')}"
            log_file.write(text + "\n")
            with lock:
                result.destination_logs.append(text)
                if log.get("level") in ("INFO", "WARN", "ERROR", "FATAL"):
                    say(f"  destination: {text[:LOG_LINE_CHARS]}")
        elif kind == "TRACE" and message["trace"].get("type") == "ERROR":
            error = message["trace"]["error"]
            with lock:
                result.errors.append(
                    f"destination-starrocks ({error.get('failure_type', 'error')}): {error.get('message', '')}"
                )


def _progress(result: SyncResult, elapsed: float) -> str:
    streams = ", ".join(f"{name} {count:,}" for name, count in sorted(result.records.items()))
    rate = result.total_records / elapsed if elapsed > 0 else 0.0
    return (
        f"  {elapsed:5.0f} s  records sent: {result.total_records:,} ({streams or 'none yet'})  "
        f"{rate:,.0f}/s  STATE sent {result.states_sent:,}, confirmed {result.states_returned:,}"
    )


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n" + "\n".join(text.splitlines()[-lines:])
