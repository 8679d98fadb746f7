"""`destination-starrocks write --config C --catalog K`: the sync, without the Airbyte CDK.

Reads the config (validated by the pydantic spec) and the configured catalog, registers the password with the
redaction filter before anything can print it, sends Python logging to stdout as Airbyte LOG messages, and
runs the writer on stdin's bytes. Every failure ends as one TRACE error with the failure_type its class
names (unexpected exceptions: system_error) and exit code 1. The CDK is not imported: it costs over a second
of start-up that a sync does not need (spec and check still go through the CDK's Destination).
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import sys
from collections.abc import Mapping
from typing import IO, Any

from pydantic import ValidationError

from destination_starrocks.catalog import ConfiguredStream, read_catalog, read_json_file
from destination_starrocks.errors import SYSTEM_ERROR, ConfigError, ConnectorError
from destination_starrocks.messages import AirbyteLogHandler, Output, register_secret
from destination_starrocks.spec import StarRocksConfig

logger = logging.getLogger("airbyte")


def parse_config(raw: Mapping[str, Any]) -> StarRocksConfig:
    """Validate the config; the error names fields and rules, never the values (one may be the password)."""
    if not isinstance(raw, Mapping):
        raise ConfigError("The configuration must be a JSON object.")
    password = raw.get("password")
    if isinstance(password, str):
        register_secret(password)
    try:
        return StarRocksConfig.model_validate(dict(raw))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"The configuration is not valid: {problems}") from None


def read_config(path: str) -> StarRocksConfig:
    return parse_config(read_json_file(path, "config file"))


# glibc mallopt() parameters (malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
FIXED_MMAP_THRESHOLD_BYTES = 128 * 1024


def return_freed_buffers_to_the_os() -> None:
    """Make glibc give each freed load body back to the OS at once.

    Every batch is a multi-MB buffer allocated, filled and freed. glibc raises its mmap threshold after such
    frees, so later buffers come from the heap and freed ones stay in the process: with 200 streams the RSS
    reached 707 MB for 384 MB of live buffers (measured, many_streams benchmark input); with a fixed
    threshold it was 468 MB. Elsewhere than glibc this does nothing.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, FIXED_MMAP_THRESHOLD_BYTES)
        libc.mallopt(M_TRIM_THRESHOLD, FIXED_MMAP_THRESHOLD_BYTES)
    except (OSError, AttributeError):
        pass


def main(argv: list[str], stdin: IO[bytes] | None = None, output: Output | None = None) -> int:
    parser = argparse.ArgumentParser(prog="destination-starrocks write")
    parser.add_argument("command", choices=["write"])
    parser.add_argument("--config", required=True)
    parser.add_argument("--catalog", required=True)
    args = parser.parse_args(argv)
    return_freed_buffers_to_the_os()
    output = output or Output()
    handler = AirbyteLogHandler(output)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        config = read_config(args.config)
        streams = read_catalog(args.catalog)
        run_write(config, streams, stdin if stdin is not None else sys.stdin.buffer, output)
    except ConnectorError as exc:
        logger.error("Sync failed: %s", exc.message)
        output.trace_error(exc.message, exc.failure_type, exc.internal_message, exc=exc)
        return 1
    except Exception as exc:  # noqa: BLE001 - every failure must become a TRACE, never a bare traceback
        output.trace_error(
            f"Unexpected error in the connector: {type(exc).__name__}: {exc}", SYSTEM_ERROR, exc=exc
        )
        return 1
    return 0


def run_write(
    config: StarRocksConfig, streams: list[ConfiguredStream], stdin: IO[bytes], output: Output
) -> None:
    from destination_starrocks.sql import SqlClient
    from destination_starrocks.stream_load import StreamLoader
    from destination_starrocks.tables import TableManager
    from destination_starrocks.version_pressure import open_reader
    from destination_starrocks.writer import Writer

    with SqlClient.from_config(config) as sql:
        tables = TableManager(sql, config)
        targets = [tables.prepare(configured) for configured in streams]
        loader = StreamLoader(config)
        pressure = open_reader(config)
        try:
            send, transactions = _choose_send(config, loader)
            Writer(config, targets, send, tables, output, transactions, pressure).run(stdin)
        finally:
            loader.close()
            if pressure is not None:
                pressure.close()


def _choose_send(config: StarRocksConfig, loader: Any) -> tuple[Any, bool]:
    """Plain Stream Load, or the transaction interface when configured and offered by the server."""
    from destination_starrocks.transaction_load import TransactionLoader
    from destination_starrocks.writer import plain_stream_load

    mode = config.transaction_stream_load
    if mode != "never":
        transactions = TransactionLoader(loader)
        if transactions.supported():
            logger.info("Using the Stream Load transaction interface (one commit per batch_size rows).")
            return transactions.send, True
        if mode == "always":
            raise ConfigError(
                "transaction_stream_load is 'always' but the server does not offer the Stream Load "
                "transaction interface (StarRocks 2.4+). Use 'auto' or 'never'."
            )
        logger.info(
            "The server does not offer the Stream Load transaction interface; using plain Stream Load."
        )
    return plain_stream_load(loader.load), False
