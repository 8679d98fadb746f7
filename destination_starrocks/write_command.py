"""`destination-starrocks write --config C --catalog K`: the sync, without the Airbyte CDK.

Reads the config (validated by the pydantic spec) and the configured catalog, registers the password with the
redaction filter before anything can print it, sends Python logging to stdout as Airbyte LOG messages, and
runs the writer on stdin's bytes. Every failure ends as one TRACE error with the failure_type its class
names (unexpected exceptions: system_error) and exit code 1. SIGTERM and SIGINT stop the sync in order
(stop_signals.py): one TRACE (transient_error) and exit code 128 + the signal's number. The CDK is not
imported: it costs over a second of start-up that a sync does not need (spec and check still go through the
CDK's Destination).
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import sys
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

from pydantic import ValidationError

from destination_starrocks.catalog import ConfiguredStream, read_catalog, read_json_file
from destination_starrocks.errors import SYSTEM_ERROR, ConfigError, ConnectorError
from destination_starrocks.messages import AirbyteLogHandler, Output, register_secret
from destination_starrocks.spec import StarRocksConfig
from destination_starrocks.stop_signals import Stopped, StopSignals

if TYPE_CHECKING:
    from destination_starrocks.server_info import ServerInfo

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
# Free memory glibc keeps at the top of its heap: more than one read block (messages.py), which is freed
# as soon as it is cut into lines and would otherwise be handed back and faulted in again on every read
# (bench bulk: 247,000 against 144,000 minor faults per million records).
TRIM_THRESHOLD_BYTES = 4 << 20
GIL_SWITCH_SECONDS = 0.0005


def return_freed_buffers_to_the_os() -> None:
    """Make glibc give each freed load body back to the OS at once.

    Every batch is a multi-MB buffer allocated, filled and freed. glibc raises its mmap threshold after such
    frees, so later buffers come from the heap and freed ones stay in the process: with 200 streams the RSS
    reached 707 MB for 384 MB of live buffers (measured, many_streams benchmark input); with a fixed
    threshold it was 468 MB. The heap's own free top is kept up to TRIM_THRESHOLD_BYTES. Elsewhere than glibc
    this does nothing.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, FIXED_MMAP_THRESHOLD_BYTES)
        libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    except (OSError, AttributeError):
        pass


def hand_the_gil_over_sooner() -> None:
    """Let the load threads take the GIL within 0.5 ms instead of Python's default 5 ms.

    The writer's loop holds the GIL almost all the time; a thread sending a load body needs it back after
    every socket write, and at 5 ms per hand-over a 128 MiB body took 1.77 s to reach the emulator instead
    of 0.65 s (bench `bulk`, the first load, while the loop kept reading; the whole run went from 6.6 to
    5.5 s of wall time). The cost is a few more switches per second for the loop.
    """
    sys.setswitchinterval(GIL_SWITCH_SECONDS)


def main(argv: list[str], stdin: IO[bytes] | None = None, output: Output | None = None) -> int:
    parser = argparse.ArgumentParser(prog="destination-starrocks write")
    parser.add_argument("command", choices=["write"])
    parser.add_argument("--config", required=True)
    parser.add_argument("--catalog", required=True)
    args = parser.parse_args(argv)
    return_freed_buffers_to_the_os()
    hand_the_gil_over_sooner()
    output = output or Output()
    handler = AirbyteLogHandler(output)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    # Before anything that can block (SQL, input): a signal must find its handler even during set-up.
    stop = StopSignals().install()
    code = 0
    try:
        config = read_config(args.config)
        streams = read_catalog(args.catalog)
        run_write(config, streams, stdin if stdin is not None else sys.stdin.buffer, output, stop)
    except Stopped as exc:
        output.trace_error(exc.message, exc.failure_type, exc.internal_message)
        code = stop.exit_code
    except ConnectorError as exc:
        logger.error("Sync failed: %s", exc.message)
        output.trace_error(exc.message, exc.failure_type, exc.internal_message, exc=exc)
        code = 1
    except Exception as exc:  # noqa: BLE001 - every failure must become a TRACE, never a bare traceback
        output.trace_error(
            f"Unexpected error in the connector: {type(exc).__name__}: {exc}", SYSTEM_ERROR, exc=exc
        )
        code = 1
    finally:
        stop.uninstall()
    if stop.signalled:
        # Load threads may still sit in a socket: do not wait for them at exit. (A signal that came after the
        # sync had finished stopped nothing: its code stays 0.)
        stop.exit_now(code)
    return code


def run_write(
    config: StarRocksConfig,
    streams: list[ConfiguredStream],
    stdin: IO[bytes],
    output: Output,
    stop: StopSignals | None = None,
) -> None:
    from destination_starrocks.multi_table_load import checkpoint_loader_for
    from destination_starrocks.server_info import check_server
    from destination_starrocks.sql import SqlClient
    from destination_starrocks.stream_load import StreamLoader
    from destination_starrocks.tables import TableManager
    from destination_starrocks.version_pressure import open_reader
    from destination_starrocks.writer import Writer

    with SqlClient.from_config(config) as sql:
        # Before any table is created: an option the server cannot serve fails the sync here, as in check.
        server = check_server(sql, config)
        tables = TableManager(sql, config, streams)  # names resolved over the whole catalog
        targets = [tables.prepare(configured) for configured in streams]
        if stop is not None and stop.signalled:
            raise Stopped(stop.name)
        loader = StreamLoader(config)
        pressure = open_reader(config)
        try:
            send, rollback = _choose_send(config, loader, server)
            checkpoints, no_checkpoints = checkpoint_loader_for(config, loader, server)
            writer = Writer(
                config, targets, send, tables, output,
                transactions=rollback is not None, rollback=rollback, pressure=pressure,
                checkpoint_loader=checkpoints, checkpoint_unavailable=no_checkpoints,
            )  # fmt: skip
            if stop is not None:
                stop.attach(writer.request_stop)
            try:
                writer.run(stdin)
            finally:
                if stop is not None:
                    stop.detach()
        finally:
            loader.close()
            if pressure is not None:
                pressure.close()


def _choose_send(config: StarRocksConfig, loader: Any, server: ServerInfo) -> tuple[Any, Any]:
    """(send, rollback): plain Stream Load (no rollback), or the transaction interface when configured and
    the server's version offers it; its rollback lets the stop path end open transactions at once instead of
    leaving them to their timeout."""
    from destination_starrocks.server_info import uses_transactions
    from destination_starrocks.transaction_load import TransactionLoader
    from destination_starrocks.writer import plain_stream_load

    if uses_transactions(config, server):
        logger.info("Using the Stream Load transaction interface (one commit per batch_size rows).")
        transactions = TransactionLoader(loader)
        return transactions.send, transactions.rollback
    return plain_stream_load(loader.load), None
