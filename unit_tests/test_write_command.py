"""`write`'s process-wide set-up (write_command.py)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import orjson

from destination_starrocks import write_command
from destination_starrocks.messages import Output


def test_write_hands_the_gil_over_within_half_a_millisecond(tmp_path: Path) -> None:
    # A config that fails validation: main() returns after its set-up, with a TRACE, before any SQL.
    config = tmp_path / "config.json"
    config.write_bytes(orjson.dumps({"host": ""}))
    catalog = tmp_path / "catalog.json"
    catalog.write_bytes(orjson.dumps({"streams": []}))
    out = io.BytesIO()
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        code = write_command.main(
            ["write", "--config", str(config), "--catalog", str(catalog)], io.BytesIO(), Output(out)
        )
        assert sys.getswitchinterval() == write_command.GIL_SWITCH_SECONDS == 0.0005
    finally:
        sys.setswitchinterval(before)
    assert code == 1
    assert b'"failure_type":"config_error"' in out.getvalue()
