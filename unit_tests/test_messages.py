"""Reading stdin in blocks of lines, and what the connector prints."""

from __future__ import annotations

import io
import os
import threading
import time

import orjson

from destination_starrocks.messages import LineReader, Output, redact, register_secret


def read_all(data: bytes, read_size: int | None = None) -> list[bytes]:
    stream = io.BytesIO(data)
    if read_size is not None:  # force short reads, as a pipe gives
        original = stream.read1
        stream.read1 = lambda n=-1: original(min(n, read_size))  # type: ignore[method-assign]
    return drain(LineReader(stream))


def drain(reader: LineReader) -> list[bytes]:
    """Every line the reader hands out until the end of input; then its wake-up pipe is released."""
    lines: list[bytes] = []
    while (block := reader.next_block(timeout=5)) is not None:
        lines.extend(block)
    reader.close()
    return lines


def test_lines_split_across_reads_come_out_whole():
    lines = [b"a" * 10, b"b" * 5000, b"", b"c" * 3]
    assert read_all(b"\n".join(lines) + b"\n", read_size=7) == lines


def test_a_line_longer_than_many_reads_and_no_final_newline():
    big = b"x" * 3_000_000
    assert read_all(b"first\n" + big) == [b"first", big]


def read_descriptor(pieces: list[bytes]) -> list[bytes]:
    """Lines read from a pipe written in `pieces` (each its own write, as a source writes them)."""
    read_end, write_end = os.pipe()

    def source() -> None:
        with os.fdopen(write_end, "wb", buffering=0) as pipe:
            for piece in pieces:
                pipe.write(piece)
                time.sleep(0.001)  # let the reader see each piece on its own

    thread = threading.Thread(target=source)
    thread.start()
    with os.fdopen(read_end, "rb") as stream:
        lines = drain(LineReader(stream))
    thread.join()
    return lines


def test_a_pipe_is_read_through_its_descriptor_with_lines_split_across_writes():
    big = b"y" * 300_000  # longer than two reads
    pieces = [b"first\nsec", b"ond\n", b"\n", big[:100], big[100:], b"\nlast"]
    assert read_descriptor(pieces) == [b"first", b"second", b"", big, b"last"]


def test_a_file_is_read_through_its_descriptor(tmp_path):
    path = tmp_path / "input.jsonl"
    path.write_bytes(b"a\n" * 100_000 + b"end\n")
    with open(path, "rb") as stream:
        reader = LineReader(stream)
        assert reader._fd is not None  # the select() path, not the reader thread
        lines = drain(reader)
    assert lines == [b"a"] * 100_000 + [b"end"]


def test_wake_ends_a_wait_on_a_quiet_pipe_and_does_nothing_after_close():
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb") as stream, os.fdopen(write_end, "wb"):
        reader = LineReader(stream)
        assert reader.next_block(timeout=0.05) == []  # nothing within the timeout
        threading.Timer(0.1, reader.wake).start()
        started = time.monotonic()
        assert reader.next_block(timeout=None) == []  # would wait forever without the wake-up
        assert time.monotonic() - started < 5
        reader.close()
        reader.wake()  # a load thread finishing late: no error, no write to a closed descriptor


def test_a_read_that_would_block_after_select_is_an_empty_block(monkeypatch):
    read_end, write_end = os.pipe()
    os.write(write_end, b"a\n")
    real_read = os.read
    answers = iter([BlockingIOError(), None])

    def flaky_read(fd: int, n: int) -> bytes:
        if fd == read_end and (answer := next(answers, None)) is not None:
            raise answer
        return real_read(fd, n)

    monkeypatch.setattr("destination_starrocks.messages.os.read", flaky_read)
    with os.fdopen(read_end, "rb") as stream, os.fdopen(write_end, "wb"):
        reader = LineReader(stream)
        assert reader.next_block(timeout=1) == []
        assert reader.next_block(timeout=1) == [b"a"]
        reader.close()


def test_state_echo_adds_destination_stats():
    out = io.BytesIO()
    Output(out).state({"type": "STATE", "state": {"type": "GLOBAL", "global": {}}}, 7)
    message = orjson.loads(out.getvalue())
    assert message["state"]["destinationStats"] == {"recordCount": 7.0}


def test_logs_and_traces_never_print_a_registered_secret():
    register_secret("s3cr3t-pw")
    out = io.BytesIO()
    output = Output(out)
    output.log("INFO", "connecting with s3cr3t-pw")
    output.trace_error("failed: s3cr3t-pw", "config_error", internal_message="x s3cr3t-pw")
    assert b"s3cr3t-pw" not in out.getvalue()
    assert redact("a s3cr3t-pw b") == "a **** b"


def test_lines_can_keep_their_newlines():
    # The writer's choice (both its JSON decoders skip the newline): no copy of every line to cut it off.
    big = b"y" * 300_000
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "wb", buffering=0) as pipe:
        pipe.write(b"first\nsec")  # fits the pipe: written and closed before it is read
    with os.fdopen(read_end, "rb") as stream:
        reader = LineReader(stream, keep_newlines=True)
        assert drain(reader) == [b"first\n", b"sec"]  # the last line of the input has none
    in_memory = io.BytesIO(b"a\n" + big + b"\n\nlast")  # read by a thread, a line longer than two reads
    assert drain(LineReader(in_memory, keep_newlines=True)) == [b"a\n", big + b"\n", b"\n", b"last"]
