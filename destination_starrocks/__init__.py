"""Airbyte destination for StarRocks: buffered, labelled, exactly-once Stream Loads."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("destination-starrocks")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
