"""The Airbyte `Destination`: spec / check / write wiring, nothing else.

`write` is write_command.py (no CDK: no dataclass per record, no malformed line silently dropped, no second
of imports); `spec` and `check` are the CDK's, with `check` doing what a first sync would:
connect, create the database, create a table, Stream Load a row through the FE (catching the classic "FE
redirects to a BE address the client cannot reach") and drop the table again.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from airbyte_cdk.destinations import Destination
from airbyte_cdk.logger import init_logger
from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteMessage,
    ConfiguredAirbyteCatalog,
    ConnectorSpecification,
    DestinationSyncMode,
    Status,
    Type,
)
from airbyte_cdk.utils.airbyte_secrets_utils import get_secrets, update_secrets

from destination_starrocks.errors import ConfigError, ConnectorError, StarRocksSqlError
from destination_starrocks.replication import check_replication
from destination_starrocks.server_info import check_server
from destination_starrocks.spec import StarRocksConfig, connection_specification
from destination_starrocks.sql import SqlClient
from destination_starrocks.stream_load import LoadRequest, StreamLoader
from destination_starrocks.write_command import main as write_main
from destination_starrocks.write_command import parse_config

DOCUMENTATION_URL = "https://docs.airbyte.com/integrations/destinations/starrocks"
# MySQL-protocol codes StarRocks answers a missing privilege with: 1044/1142/1227 (older releases, MySQL's) and
# 5203 (ErrorCode.ERR_ACCESS_DENIED in current StarRocks source); the message names the privilege.
ACCESS_DENIED_CODES = (1044, 1142, 1227, 5203)
logger = logging.getLogger("airbyte")


class DestinationStarRocks(Destination):
    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        return ConnectorSpecification(
            documentationUrl=DOCUMENTATION_URL,
            connectionSpecification=connection_specification(),
            supportsIncremental=True,
            supported_destination_sync_modes=[
                DestinationSyncMode.append,
                DestinationSyncMode.overwrite,
                DestinationSyncMode.append_dedup,
            ],
        )

    def run_cmd(self, parsed_args: argparse.Namespace) -> Iterable[AirbyteMessage]:
        if parsed_args.command == "check":
            # Validate with the pydantic spec first: its message names every wrong field (jsonschema's names
            # the first wrong value only), and never quotes a value.
            raw = self.read_config(config_path=parsed_args.config)
            update_secrets(get_secrets(connection_specification(), raw))
            try:
                parse_config(raw)
            except ConfigError as exc:
                status = AirbyteConnectionStatus(status=Status.FAILED, message=str(exc))
                yield AirbyteMessage(type=Type.CONNECTION_STATUS, connectionStatus=status)
                return
        if parsed_args.command != "write":
            yield from super().run_cmd(parsed_args)
            return
        # The sync itself runs without the CDK's message models (see write_command.py).
        code = write_main(["write", "--config", parsed_args.config, "--catalog", parsed_args.catalog])
        if code:
            sys.exit(code)

    def run(self, args: list[str]) -> None:
        init_logger("airbyte")
        super().run(args)

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        try:
            check_connection(parse_config(config))
        except ConnectorError as exc:
            return AirbyteConnectionStatus(status=Status.FAILED, message=str(exc))
        except Exception as exc:  # noqa: BLE001 - check must answer FAILED, never crash
            return AirbyteConnectionStatus(status=Status.FAILED, message=f"{type(exc).__name__}: {exc}")
        return AirbyteConnectionStatus(status=Status.SUCCEEDED)

    def write(
        self,
        config: Mapping[str, Any],
        configured_catalog: ConfiguredAirbyteCatalog,
        input_messages: Iterable[AirbyteMessage],
    ) -> Iterable[AirbyteMessage]:
        raise NotImplementedError("write runs as write_command.main() on stdin bytes, see run_cmd()")


def check_connection(config: StarRocksConfig) -> None:
    """Everything a sync needs, tried for real; raises ConfigError naming what failed."""
    from destination_starrocks.naming import database_name, quote_identifier, quote_literal

    database = database_name(config.database)  # the database the sync writes to, not the raw setting
    table = f"_airbyte_check_{secrets.token_hex(4)}"
    qualified = f"{quote_identifier(database)}.{quote_identifier(table)}"
    with SqlClient.from_config(config) as sql:
        check_server(sql, config)  # the server's version against version-gated options
        try:
            sql.ensure_database(database)
        except StarRocksSqlError as exc:
            raise _privilege_error(exc, f"create the database {database!r}") from None
        check_replication(sql, config, probe_database=database)  # small clusters (replication.py)
        properties = ", ".join(
            f"{quote_literal(k)} = {quote_literal(v)}" for k, v in config.table_properties.items()
        )
        _step(
            sql,
            f"CREATE TABLE {qualified} (`id` BIGINT NOT NULL, `note` VARCHAR(64)) DUPLICATE KEY(`id`) "
            f"DISTRIBUTED BY HASH(`id`) BUCKETS 1" + (f" PROPERTIES ({properties})" if properties else ""),
            f"create a table in database {database!r}",
        )
        try:
            loader = StreamLoader(config.model_copy(update={"max_retries": 1}))
            try:
                loader.load(
                    LoadRequest(
                        database,
                        table,
                        f"{config.label_prefix}-check-{table}",
                        b'[{"id":1,"note":"check"}]',
                        1,
                    )
                )
            except ConnectorError as exc:
                raise ConfigError(_probe_failure(config, exc)) from None
            finally:
                loader.close()
        finally:
            try:
                sql.execute(f"DROP TABLE IF EXISTS {qualified} FORCE")  # not kept in the recycle bin
            except StarRocksSqlError as exc:
                logger.warning("Could not drop the check table %s: %s", qualified, exc)


def _step(sql: SqlClient, statement: str, what: str) -> None:
    try:
        sql.execute(statement)
    except StarRocksSqlError as exc:
        raise _privilege_error(exc, what) from None


def _privilege_error(exc: StarRocksSqlError, what: str) -> ConfigError:
    if exc.code in ACCESS_DENIED_CODES:
        return ConfigError(
            f"The user may not {what}: {str(exc).rstrip('. ')}. Grant the privilege named there."
        )
    return ConfigError(f"Could not {what}: {exc}")


def _probe_failure(config: StarRocksConfig, exc: ConnectorError) -> str:
    text = str(exc)
    fe = f"{config.host}:{config.http_port}"
    if "HopError" in text or "Connection" in text or "timed out" in text:
        return (
            f"A test Stream Load through {', '.join(config.load_urls) or fe} failed: {text}. If the address "
            f"that failed is a BE that the FE redirected to, this connector cannot reach it: set `load_urls` "
            f"to BE (or FE) HTTP addresses that are reachable from here."
        )
    return f"A test Stream Load failed: {text}"
