"""CLI entry point (stub until the HTTP servers land): `python -m integration_tests.starrocks_emulator`."""

from __future__ import annotations

import sys

if __name__ == "__main__":
    sys.exit("starrocks_emulator: the CLI is not wired yet")
