"""Errors the connector raises on purpose, each mapped to an Airbyte `failure_type`.

Who must act decides the class: `ConfigError` when the user must fix something (credentials, privileges,
unreachable hosts, a catalog the connector cannot honour), `TransientError` when a later retry of the sync may
succeed (StarRocks overloaded, network down past our retries), `SystemError_` for everything else (bad input
from the source, a bug). They subclass the CDK's `AirbyteTracedException`, so the CDK's uncaught-exception
handler emits them as TRACE messages with secrets filtered out.
"""

from __future__ import annotations

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException


class ConnectorError(AirbyteTracedException):
    failure_type_default = FailureType.system_error

    def __init__(self, message: str, internal_message: str | None = None) -> None:
        super().__init__(
            internal_message=internal_message or message,
            message=message,
            failure_type=self.failure_type_default,
        )


class ConfigError(ConnectorError):
    """The user must change the configuration, the catalog or StarRocks (grants, network)."""

    failure_type_default = FailureType.config_error


class TransientError(ConnectorError):
    """Worth retrying the whole sync later: StarRocks or the network failed past our retries."""

    failure_type_default = FailureType.transient_error


class SystemError_(ConnectorError):  # noqa: N801 - the trailing underscore avoids the builtin's name
    """Neither the user's nor a passing fault: bad input from the source, or a bug."""

    failure_type_default = FailureType.system_error


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
