"""Reading stdin in blocks of lines, and what the connector prints."""

from __future__ import annotations

import io

import orjson

from destination_starrocks.messages import LineReader, Output, redact, register_secret


def read_all(data: bytes, read_size: int | None = None) -> list[bytes]:
    stream = io.BytesIO(data)
    if read_size is not None:  # force short reads, as a pipe gives
        original = stream.read1
        stream.read1 = lambda n=-1: original(min(n, read_size))  # type: ignore[method-assign]
    reader = LineReader(stream)
    lines: list[bytes] = []
    while (block := reader.next_block(timeout=5)) is not None:
        lines.extend(block)
    return lines


def test_lines_split_across_reads_come_out_whole():
    lines = [b"a" * 10, b"b" * 5000, b"", b"c" * 3]
    assert read_all(b"\n".join(lines) + b"\n", read_size=7) == lines


def test_a_line_longer_than_many_reads_and_no_final_newline():
    big = b"x" * 3_000_000
    assert read_all(b"first\n" + big) == [b"first", big]


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
