"""The configured catalog, read without the Airbyte CDK: plain dataclasses with the protocol's field names.

The write path starts without importing the CDK (its import alone takes over a second), so the catalog is read
here with orjson. Field names follow the Airbyte protocol's ConfiguredAirbyteStream, so code written against
the CDK's models (tables.py) reads these unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from destination_starrocks.errors import ConfigError

SYNC_MODES = ("append", "overwrite", "append_dedup")


@dataclass(frozen=True)
class StreamDescription:
    name: str
    namespace: str | None = None
    json_schema: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ConfiguredStream:
    stream: StreamDescription
    destination_sync_mode: str
    sync_mode: str = "full_refresh"
    cursor_field: list[str] | None = None
    primary_key: list[list[str]] | None = None
    generation_id: int | None = None
    minimum_generation_id: int | None = None
    sync_id: int | None = None
    destination_object_name: str | None = None

    @property
    def key(self) -> tuple[str | None, str]:
        return (self.stream.namespace or None, self.stream.name)


def parse_catalog(raw: Any) -> list[ConfiguredStream]:
    """Validate and convert a configured catalog; a ConfigError names what is wrong."""
    if not isinstance(raw, dict) or not isinstance(raw.get("streams"), list):
        raise ConfigError("The configured catalog must be a JSON object with a 'streams' list.")
    streams: list[ConfiguredStream] = []
    seen: set[tuple[str | None, str]] = set()
    for index, entry in enumerate(raw["streams"]):
        stream = _stream(index, entry)
        if stream.key in seen:
            raise ConfigError(
                f"The configured catalog lists the stream {stream.stream.name!r} "
                f"(namespace {stream.stream.namespace!r}) twice; each stream may appear once."
            )
        seen.add(stream.key)
        streams.append(stream)
    return streams


def read_json_file(path: str, what: str) -> Any:
    """A JSON input file (config, catalog); a ConfigError says which file and why it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return orjson.loads(handle.read())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ConfigError(f"Cannot read the {what} {path}: {exc}") from None


def read_catalog(path: str) -> list[ConfiguredStream]:
    return parse_catalog(read_json_file(path, "configured catalog"))


def _stream(index: int, entry: Any) -> ConfiguredStream:
    where = f"streams[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("stream"), dict):
        raise ConfigError(f"The configured catalog's {where} has no 'stream' object.")
    described = entry["stream"]
    name = described.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"The configured catalog's {where}.stream has no name.")
    mode = entry.get("destination_sync_mode", "append")
    if mode not in SYNC_MODES:
        raise ConfigError(
            f"Stream {name!r}: destination_sync_mode {mode!r} is not one of {', '.join(SYNC_MODES)}."
        )
    schema = described.get("json_schema") or {}
    return ConfiguredStream(
        stream=StreamDescription(
            name, described.get("namespace") or None, schema if isinstance(schema, dict) else {}
        ),
        destination_sync_mode=mode,
        sync_mode=entry.get("sync_mode", "full_refresh"),
        cursor_field=entry.get("cursor_field") or None,
        primary_key=entry.get("primary_key") or None,
        generation_id=entry.get("generation_id"),
        minimum_generation_id=entry.get("minimum_generation_id"),
        sync_id=entry.get("sync_id"),
        destination_object_name=entry.get("destination_object_name"),
    )
