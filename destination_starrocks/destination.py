"""The Airbyte `Destination`: spec / check / write wiring, nothing else.

`write` is write_command.py (no CDK: no dataclass per record, no malformed line silently dropped, no second
of imports); `spec` and `check` are the CDK's, with `check` trying the load path of a sync step by step
(connection_check.py) and reporting each step as a LOG line (check_report.py).
"""

from __future__ import annotations

import argparse
import logging
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

from destination_starrocks.connection_check import run_check
from destination_starrocks.errors import ConfigError, ConnectorError
from destination_starrocks.spec import connection_specification
from destination_starrocks.write_command import main as write_main
from destination_starrocks.write_command import parse_config

DOCUMENTATION_URL = "https://docs.airbyte.com/integrations/destinations/starrocks"


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
        """The load path step by step (connection_check.py): one LOG line per step as it ends; FAILED names the
        first failed step and its fix."""
        try:
            report = run_check(parse_config(config), logger.log)
        except ConnectorError as exc:
            return AirbyteConnectionStatus(status=Status.FAILED, message=str(exc))
        except Exception as exc:  # noqa: BLE001 - check must answer FAILED, never crash
            return AirbyteConnectionStatus(status=Status.FAILED, message=f"{type(exc).__name__}: {exc}")
        status = Status.FAILED if report.failure else Status.SUCCEEDED
        return AirbyteConnectionStatus(status=status, message=report.status_message())

    def write(
        self,
        config: Mapping[str, Any],
        configured_catalog: ConfiguredAirbyteCatalog,
        input_messages: Iterable[AirbyteMessage],
    ) -> Iterable[AirbyteMessage]:
        raise NotImplementedError("write runs as write_command.main() on stdin bytes, see run_cmd()")
