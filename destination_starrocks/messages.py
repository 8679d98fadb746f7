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
import os
import queue
import select
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
# Blocks queued ahead of the writer when a thread reads: bounds the memory stdin can take while loads are slow.
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


class _WholeLines:
    """Cuts reads into whole lines (without their newline unless `keep_newlines`): what ends a read without one
    waits for the next."""

    def __init__(self, keep_newlines: bool = False) -> None:
        self._partial: list[bytes] = []  # pieces of a line longer than one read (e.g. a 50 MB record)
        self._keep_newlines = keep_newlines

    def feed(self, chunk: bytes) -> list[bytes]:
        """The lines `chunk` completes ([] if none)."""
        partial = self._partial
        if b"\n" not in chunk:
            partial.append(chunk)
            return []
        # A BytesIO over the read shares its bytes and finds newlines with memchr; cutting the read at its last
        # newline first (rfind, a slice, a join with the straddling piece) copied each block twice more: 144
        # against 225 ns per line on the bench's input (timeit, 120 KiB reads).
        lines = list(io.BytesIO(chunk))
        rest = b"" if lines[-1].endswith(b"\n") else lines.pop()  # a line that straddles reads
        if not self._keep_newlines:
            # A copy of every line: 65-180 ns each (timeit, the bench's input); the writer keeps the newlines.
            lines = [line[:-1] for line in lines]
        if partial:
            # Only the line that straddles the reads is joined: joining the whole chunk would copy every
            # block once more (a fresh allocation, its pages faulted in).
            partial.append(lines[0])
            lines[0] = b"".join(partial)
            partial.clear()
        if rest:
            partial.append(rest)
        return lines

    def finish(self) -> list[bytes]:
        """At end of input: a last line without its newline, if any."""
        lines = [b"".join(self._partial)] if self._partial else []
        self._partial.clear()
        return lines


def _selectable_fd(stream: IO[bytes]) -> int | None:
    """The descriptor to read `stream` through with select(), or None (an in-memory stream, or not POSIX)."""
    if os.name != "posix":
        return None
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError and a ValueError
        return None


class LineReader:
    """Reads a byte stream and hands out lists of complete lines (without their newline, unless asked).

    Lines come in blocks so that the per-line cost is a list iteration, not a call; the writer waits on
    `next_block(timeout)` and still runs its timers (a quiet source must not hold a STATE forever).

    A real descriptor (a pipe, a file: what stdin is) is read by the writer's own thread, after select()
    with the writer's timeout on it and on a wake-up pipe. A reader thread cost more than it saved: each of
    its reads took the GIL back from the writer's loop, two thread switches per block, and in the bench's
    `bulk` run the process's CPU fell from a median 6.43 to 5.92 s when reading moved into the writer's
    thread (six runs of each, alternated; 1,000,000 records). A stream without a descriptor (tests' BytesIO)
    is read by a thread, as it cannot be waited on.

    A block is whatever one read returned (what the pipe holds, not a fixed size), cut into lines by
    iterating a BytesIO over it: that finds newlines with memchr, where `bytes.split` compares byte by byte
    (77 ns per 450-byte line with the newline cut off, against 172 ns for `split`, measured on the bench's
    input).
    """

    def __init__(self, stream: IO[bytes], keep_newlines: bool = False) -> None:
        """`keep_newlines`: hand lines out with their newline (the last line of the input may have none), for
        a reader whose JSON decoders skip it as whitespace anyway."""
        self._stream = stream
        self._lines = _WholeLines(keep_newlines)
        self._fd = _selectable_fd(stream)
        self._at_end = False
        self._wake_lock = threading.Lock()
        if self._fd is not None:
            self._wake_r, self._wake_w = os.pipe()
            os.set_blocking(self._wake_w, False)  # a wake-up that finds the pipe full is not needed
            self._open = True
        else:
            self._blocks: queue.Queue[list[bytes] | BaseException | None] = queue.Queue(MAX_QUEUED_BLOCKS)
            self._thread = threading.Thread(target=self._pump, name="stdin-reader", daemon=True)
            self._thread.start()

    def _pump(self) -> None:
        try:
            read = getattr(self._stream, "read1", self._stream.read)
            while chunk := read(READ_BLOCK_BYTES):
                if lines := self._lines.feed(chunk):
                    self._blocks.put(lines)
            if lines := self._lines.finish():
                self._blocks.put(lines)
            self._blocks.put(END_OF_INPUT)
        except BaseException as exc:  # noqa: BLE001 - handed to the writer thread, which reports it
            self._blocks.put(exc)

    def wake(self) -> None:
        """Make a waiting `next_block` return `[]` now (a load finished: its states may leave at once).

        Thread-safe; after `close()` it does nothing."""
        if self._fd is None:
            try:
                self._blocks.put_nowait([])
            except queue.Full:
                pass  # input is queued: the writer is busy and ticks after its next block anyway
            return
        with self._wake_lock:
            if self._open:
                try:
                    os.write(self._wake_w, b"w")
                except BlockingIOError:
                    pass  # wake-ups already pending

    def close(self) -> None:
        """Release the wake-up pipe (the stream itself is the caller's)."""
        if self._fd is not None:
            with self._wake_lock:
                if self._open:
                    self._open = False
                    os.close(self._wake_r)
                    os.close(self._wake_w)

    def next_block(self, timeout: float | None) -> list[bytes] | None:
        """The next lines; `[]` if none arrived within `timeout` (or on a wake-up); None at end of input."""
        return self._read_descriptor(timeout) if self._fd is not None else self._take_queued(timeout)

    def _read_descriptor(self, timeout: float | None) -> list[bytes] | None:
        if self._at_end:
            return None
        ready, _, _ = select.select([self._fd, self._wake_r], [], [], timeout)
        if self._wake_r in ready:
            os.read(self._wake_r, 4096)
        if self._fd not in ready:
            return []
        try:
            chunk = os.read(self._fd, READ_BLOCK_BYTES)  # select said readable: returns without waiting
        except BlockingIOError:
            return []  # a descriptor someone made non-blocking, whose data another reader took first
        if chunk:
            return self._lines.feed(chunk)
        self._at_end = True
        return self._lines.finish() or None

    def _take_queued(self, timeout: float | None) -> list[bytes] | None:
        try:
            item = self._blocks.get(timeout=timeout)
        except queue.Empty:
            return []
        if isinstance(item, BaseException):
            raise item
        return item


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
