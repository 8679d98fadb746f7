"""Errors the connector raises on purpose, each mapped to an Airbyte `failure_type`.

Who must act decides the class: `ConfigError` when the user must fix something (credentials, privileges,
unreachable hosts, a catalog the connector cannot honour), `TransientError` when a later retry of the sync may
succeed (StarRocks overloaded, network down past our retries), `SystemError_` for everything else (bad input
from the source, a bug). The write command turns them into TRACE messages (write_command.py); `check` turns
them into a FAILED connection status. No Airbyte CDK import here: the write path starts without the CDK.
"""

from __future__ import annotations

CONFIG_ERROR = "config_error"
TRANSIENT_ERROR = "transient_error"
SYSTEM_ERROR = "system_error"


class ConnectorError(Exception):
    failure_type = SYSTEM_ERROR

    def __init__(self, message: str, internal_message: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.internal_message = internal_message or message

    def __str__(self) -> str:
        return self.message


class ConfigError(ConnectorError):
    """The user must change the configuration, the catalog or StarRocks (grants, network)."""

    failure_type = CONFIG_ERROR


class TransientError(ConnectorError):
    """Worth retrying the whole sync later: StarRocks or the network failed past our retries."""

    failure_type = TRANSIENT_ERROR


class SystemError_(ConnectorError):  # noqa: N801 - the trailing underscore avoids the builtin's name
    """Neither the user's nor a passing fault: bad input from the source, or a bug."""

    failure_type = SYSTEM_ERROR


class InputError(SystemError_):
    """A line on stdin the connector cannot accept (malformed JSON, unknown stream, invalid UTF-8)."""


class RecordError(ConfigError):
    """A record the configured catalog cannot accept, e.g. a null primary key in a dedup stream."""


class LoadFailedError(SystemError_):
    """StarRocks refused a load for good (e.g. rows filtered); no STATE after its records is released."""


class StarRocksSqlError(ConnectorError):
    """A MySQL-protocol error from StarRocks, with its error code. Never contains the password."""

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        super().__init__(f"StarRocks error {code}: {message}")
