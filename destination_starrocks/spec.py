"""The connector's configuration: one pydantic model, every default in one place.

The Airbyte SPEC's `connectionSpecification` is generated from this model, and so is the configuration
reference in the README (a test keeps the two in step), so a default is never stated twice.

Why these batching defaults: StarRocks makes one data version per tablet for every committed load, and
refuses loads past `tablet_max_versions` (1000). A typical Airbyte record becomes a ~300-600-byte JSON row
once the `_airbyte_*` columns are added, so a million records is 300-600 MB: `batch_bytes` of 128 MiB and
`batch_size` of 500,000 rows give 3-5 loads (versions) per million records, under the ~10 we promise, close
to the StarRocks Flink and Kafka connectors' 90 MB / 500,000-row defaults. A STATE is held at most
`flush_interval_seconds` (60 s): that bounds how late a checkpoint leaves and, for a source that sends a STATE
after every record, makes it one load per table per minute instead of one per record. The memory budget (384
MiB) holds one full batch being loaded plus the next one filling, with room for the STATEs waiting on them.
`version_ceiling` (0.5) is a share of `tablet_max_versions` because that limit is what fails, whatever the
compaction speed; half of it leaves the rest to other writers and to queries (docs/starrocks.md, "Version
pressure").
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MIB = 1024 * 1024
# A `load_urls` entry: optional http:// or https://, a host (IPv6 in brackets), a port; no path.
LOAD_URL = re.compile(r"^(?:(?i:https?)://)?(?:\[[0-9A-Fa-f:.]+\]|[^\s/:\[\]@?#]+):(?P<port>\d{1,5})/?$")


def _ui(order: int, **extra: Any) -> dict[str, Any]:
    """Airbyte UI hints: field order in the form, secrets, grouping."""
    return {"order": order, **extra}


class StarRocksConfig(BaseModel):
    """Destination StarRocks configuration."""

    model_config = ConfigDict(title="Destination StarRocks", extra="ignore", frozen=True)

    host: str = Field(
        title="Host",
        description="Hostname or IP address of a StarRocks FE (frontend) node.",
        min_length=1,
        json_schema_extra=_ui(0),
    )
    query_port: int = Field(
        9030,
        title="Query port",
        description="The FE's MySQL-protocol port, used for DDL and metadata (StarRocks' `query_port`).",
        ge=1,
        le=65535,
        json_schema_extra=_ui(1),
    )
    http_port: int = Field(
        8030,
        title="HTTP port",
        description="The FE's HTTP port, used for Stream Load (StarRocks' `http_port`).",
        ge=1,
        le=65535,
        json_schema_extra=_ui(2),
    )
    username: str = Field(
        "root",
        title="Username",
        description="StarRocks user. It needs CREATE TABLE, INSERT, SELECT, ALTER and DROP on the database.",
        min_length=1,
        json_schema_extra=_ui(3),
    )
    password: str = Field(
        "",
        title="Password",
        description="Password of the StarRocks user.",
        json_schema_extra=_ui(4, airbyte_secret=True),
    )
    database: str = Field(
        "airbyte",
        title="Default database",
        description="Database for streams that have no namespace. Created if it does not exist.",
        min_length=1,
        json_schema_extra=_ui(5),
    )
    ssl: bool = Field(
        False,
        title="SSL/TLS",
        description="TLS for the MySQL protocol and HTTPS to the FE's HTTP port, verifying certificates and host "
        "names; off, every connection is plain text (no TLS is negotiated even when StarRocks offers it). "
        "StarRocks' FE redirects each Stream Load to a BE's plain http:// address, so that hop (credentials "
        "and data) stays unencrypted unless `load_urls` lists HTTPS BE endpoints (https://host:port); the "
        "connector logs a warning when it sends credentials over plain HTTP with this on.",
        json_schema_extra=_ui(6),
    )
    ssl_ca_certificate: str = Field(
        "",
        title="CA certificate (PEM)",
        description="PEM text of the CA that signed the server certificates, when it is not a public CA. "
        "Used for the TLS connections of SSL/TLS and for https:// `load_urls` entries.",
        json_schema_extra=_ui(7, multiline=True),
    )
    load_urls: list[str] = Field(
        default_factory=list,
        title="Load URLs",
        description="Optional HTTP endpoints (FE or BE) for Stream Load: loads go to the first, and to the "
        "next whenever a connection fails. Each is `host:port` (https when SSL/TLS is on, else http), "
        "`http://host:port` or `https://host:port`. Set "
        "these when the FE redirects loads to BE addresses this connector cannot reach (e.g. the BEs' "
        "internal IPs), or to BE endpoints served over HTTPS to encrypt the BE hop. Empty: the FE at "
        "host:http_port.",
        json_schema_extra=_ui(8),
    )
    batch_size: int = Field(
        500_000,
        title="Batch size (rows)",
        description="Rows per table buffered before a Stream Load is sent. Each load creates one data version "
        "per tablet in StarRocks, so larger batches mean fewer versions.",
        ge=1,
        json_schema_extra=_ui(9),
    )
    batch_bytes: int = Field(
        128 * MIB,
        title="Batch size (bytes)",
        description="Bytes of JSON per table buffered before a Stream Load is sent.",
        ge=1024,
        json_schema_extra=_ui(10),
    )
    flush_interval_seconds: float = Field(
        60.0,
        title="Flush interval (seconds)",
        description="Longest time a record or a STATE waits in the buffer. A source that sends a STATE after "
        "every record still gets at most one load per table per interval. 0 flushes on every STATE.",
        ge=0,
        json_schema_extra=_ui(11),
    )
    max_buffer_memory_mb: int = Field(
        384,
        title="Buffer memory (MiB)",
        description="One memory budget for all streams' buffers and loads in flight together; the largest "
        "buffers are flushed first when it is reached.",
        ge=8,
        json_schema_extra=_ui(12),
    )
    max_concurrent_loads: int = Field(
        2,
        title="Concurrent loads",
        description="Stream Loads in flight at once (for different tables) while input keeps being read.",
        ge=1,
        le=32,
        json_schema_extra=_ui(13),
    )
    max_retries: int = Field(
        5,
        title="Max retries",
        description="Retries of a failed load (same label, so never duplicated), with exponential backoff.",
        ge=0,
        le=100,
        json_schema_extra=_ui(14),
    )
    load_timeout_seconds: int = Field(
        600,
        title="Load timeout (seconds)",
        description="Stream Load `timeout` header and the client's read timeout for one load.",
        ge=1,
        json_schema_extra=_ui(15),
    )
    transaction_stream_load: Literal["auto", "always", "never"] = Field(
        "never",
        title="Transaction Stream Load",
        description="Send a table's buffer in chunks of `batch_bytes` inside one transaction and commit every "
        "`batch_size` rows (one version), so a commit can be far larger than the memory budget. 'auto' uses it "
        "when the server's version offers it (StarRocks 2.4+), 'always' requires it (a config error on older "
        "servers), 'never' (default) uses plain Stream Load, which retries a failed load in place; in a "
        "transaction a failed chunk aborts it and the sync resumes from the last checkpoint. With GLOBAL states "
        "(CDC), StarRocks 4.0+, every stream in one database and no `load_urls`, one transaction per "
        "checkpoint spans all tables: a reader never sees one table ahead of another.",
        json_schema_extra=_ui(16),
    )
    compression: Literal["none", "gzip", "lz4_frame"] = Field(
        "none",
        title="Compression",
        description="Compress Stream Load bodies. StarRocks reads compressed JSON from 3.2.7 on; on an older "
        "server `check` and the sync fail with a config error. Saves network, costs CPU.",
        json_schema_extra=_ui(17),
    )
    label_prefix: str = Field(
        "airbyte",
        title="Label prefix",
        description="Prefix of every Stream Load label (letters, digits, '_' and '-').",
        pattern=r"^[A-Za-z0-9_-]{1,32}$",
        json_schema_extra=_ui(18),
    )
    load_properties: dict[str, str] = Field(
        default_factory=dict,
        title="Extra Stream Load headers",
        description='Headers passed through to every Stream Load, e.g. {"max_filter_ratio": "0"}.',
        json_schema_extra=_ui(19),
    )
    table_properties: dict[str, str] = Field(
        default_factory=dict,
        title="Table properties",
        description='PROPERTIES for tables the connector creates, e.g. {"replication_num": "1"}.',
        json_schema_extra=_ui(20),
    )

    version_ceiling: float = Field(
        0.5,
        title="Version ceiling (share of tablet_max_versions)",
        description="Share of StarRocks' version limit per tablet (`tablet_max_versions`, 1000 by default) that "
        "this connector keeps each table under. It reads the table's version count every few seconds while it "
        "loads into it; from half the ceiling on it doubles that table's flush interval and batch size per step, "
        "and goes back to the configured values once compaction has merged the versions. A STATE still waits at "
        "most max(flush interval, 300 s). 0 turns this off.",
        ge=0,
        le=1,
        json_schema_extra=_ui(21),
    )

    @field_validator("load_urls")
    @classmethod
    def _load_url(cls, urls: list[str]) -> list[str]:
        for url in urls:
            match = LOAD_URL.match(url.strip())
            if match is None or not 1 <= int(match.group("port")) <= 65535:
                raise ValueError(
                    f"load_urls entries are host:port, http://host:port or https://host:port, got {url!r}"
                )
        return urls

    @property
    def max_buffer_bytes(self) -> int:
        return self.max_buffer_memory_mb * MIB


def connection_specification() -> dict[str, Any]:
    """JSON schema of the config, as Airbyte's SPEC `connectionSpecification` wants it."""
    schema = StarRocksConfig.model_json_schema()
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    schema["additionalProperties"] = True
    return schema
