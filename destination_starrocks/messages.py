"""Airbyte messages in and out, as bytes, without a model object per record.

In: stdin is read in large blocks by a background thread and cut into lines; each line is decoded exactly once
with orjson. The CDK's own reader builds a dataclass per message and silently drops lines it cannot parse;
this connector can do neither (speed, and "nothing is ever lost"), so it reads stdin itself.

Out: STATE messages are the source's own bytes decoded once and re-encoded with `destinationStats` added;
LOG and TRACE messages go through `redact()`, so a registered secret (the password) can never be printed.
"""

from __future__ import annotations

import io
import logging
import queue
import sys
import threading
import time
import traceback
from typing import IO, Any

import orjson

# Below glibc's mmap threshold, which write_command.py fixes at 128 KiB: a read block then comes from the heap,
# whose pages are reused, instead of a fresh mapping whose 256 pages per MiB are each faulted in (bench bulk,
# writer without a server: 261,000 minor faults against 145,000, 0.25 s less system time per million records).
# A pipe, what Airbyte gives a destination, hands over at most 64 KiB per read anyway.
READ_BLOCK_BYTES = 120 * 1024
# Blocks of lines queued ahead of the writer: bounds the memory stdin can take while loads are slow.
MAX_QUEUED_BLOCKS = 16
END_OF_INPUT = None
_SECRETS: list[str] = []
_LEVELS = {"DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARN", "ERROR": "ERROR", "CRITICAL": "FATAL"}


def register_secret(secret: str) -> None:
    """From now on, `redact()` hides this value (and so every LOG and TRACE line does)."""
    if secret and secret not in _SECRETS:
        _SECRETS.append(secret)
        _SECRETS.sort(key=len, reverse=True)  # longest first, so one secret inside another is fully hidden


def redact(text: str) -> str:
    for secret in _SECRETS:
        text = text.replace(secret, "****")
    return text


class LineReader:
    """Reads a byte stream in a thread and hands out lists of complete lines (without their newline).

    Lines come in blocks so that the per-line cost is a list iteration, not a queue operation; the writer can
    wait on `next_block(timeout)` and still run its timers (a quiet source must not hold a STATE forever).
    A block is whatever one read returned (`read1`: what the pipe holds, not a fixed size), cut into lines by
    iterating a BytesIO over it: that finds newlines with memchr, where `bytes.split` compares byte by byte
    (77 ns per 450-byte line with the newline cut off, against 172 ns for `split`, measured on the bench's
    input), and the reader holds the GIL the writer needs while it cuts.
    """

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._blocks: queue.Queue[list[bytes] | BaseException | None] = queue.Queue(MAX_QUEUED_BLOCKS)
        self._thread = threading.Thread(target=self._pump, name="stdin-reader", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            partial: list[bytes] = []  # pieces of a line longer than one read (e.g. a 50 MB record)
            read = getattr(self._stream, "read1", self._stream.read)
            while True:
                chunk = read(READ_BLOCK_BYTES)
                if not chunk:
                    break
                if b"\n" not in chunk:
                    partial.append(chunk)
                    continue
                lines = list(io.BytesIO(chunk))
                rest = b"" if lines[-1].endswith(b"\n") else lines.pop()  # a line that straddles reads
                lines = [line[:-1] for line in lines]
                if partial:
                    # Only the line that straddles the reads is joined: joining the whole chunk would copy
                    # every block once more (a fresh allocation, its pages faulted in: the reader's
                    # system time doubled in the bench).
                    partial.append(lines[0])
                    lines[0] = b"".join(partial)
                    partial = []
                if rest:
                    partial.append(rest)
                self._blocks.put(lines)
            if partial:
                self._blocks.put([b"".join(partial)])
            self._blocks.put(END_OF_INPUT)
        except BaseException as exc:  # noqa: BLE001 - handed to the writer thread, which reports it
            self._blocks.put(exc)

    def wake(self) -> None:
        """Make a waiting `next_block` return `[]` now (a load finished: its states may leave at once)."""
        try:
            self._blocks.put_nowait([])
        except queue.Full:
            pass  # input is queued: the writer is busy and ticks after its next block anyway

    def next_block(self, timeout: float | None) -> list[bytes] | None:
        """The next lines; `[]` if none arrived within `timeout`; None at end of input."""
        try:
            item = self._blocks.get(timeout=timeout)
        except queue.Empty:
            return []
        if isinstance(item, BaseException):
            raise item
        if item is None:
            return None
        return item  # [] when woken


class Output:
    """Writes Airbyte messages to stdout, one JSON object per line, flushed per message."""

    def __init__(self, stream: IO[bytes] | None = None) -> None:
        self._stream = stream if stream is not None else sys.stdout.buffer
        self._lock = threading.Lock()

    def _write(self, payload: bytes) -> None:
        with self._lock:
            self._stream.write(payload + b"\n")
            self._stream.flush()

    def state(self, message: dict[str, Any], record_count: int) -> None:
        """Echo a STATE the source sent, with the number of records it covers as `destinationStats`."""
        state = message.get("state")
        if isinstance(state, dict):
            state["destinationStats"] = {"recordCount": float(record_count)}
        self._write(orjson.dumps(message))

    def log(self, level: str, text: str) -> None:
        self._write(orjson.dumps({"type": "LOG", "log": {"level": level, "message": redact(text)}}))

    def trace_error(
        self,
        message: str,
        failure_type: str,
        internal_message: str | None = None,
        stream: tuple[str | None, str] | None = None,
        exc: BaseException | None = None,
    ) -> None:
        error: dict[str, Any] = {
            "message": redact(message),
            "internal_message": redact(internal_message or message),
            "failure_type": failure_type,
        }
        if exc is not None:
            error["stack_trace"] = redact("".join(traceback.format_exception(exc)))
        if stream is not None:
            namespace, name = stream
            error["stream_descriptor"] = {"name": name, "namespace": namespace}
        trace = {"type": "ERROR", "emitted_at": time.time() * 1000, "error": error}
        self._write(orjson.dumps({"type": "TRACE", "trace": trace}))


class AirbyteLogHandler(logging.Handler):
    """Python logging → Airbyte LOG messages on stdout (redacted, like every other line)."""

    def __init__(self, output: Output) -> None:
        super().__init__()
        self._output = output

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + "".join(traceback.format_exception(*record.exc_info))
            self._output.log(_LEVELS.get(record.levelname, "INFO"), text)
        except Exception:  # noqa: BLE001 - logging must never break the sync
            self.handleError(record)
