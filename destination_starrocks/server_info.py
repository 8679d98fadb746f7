"""What the StarRocks server is and can do: its version, read once, and the features that version offers.

StarRocks answers `SELECT current_version()` with "<version> <commit>" (e.g. "3.3.5 1a2b3c4", "3.3.5-ee
9f8e7d6"; StarRocks docs, "current_version"); `@@version_comment` ("StarRocks version 2.5.22") is the older
form of the same. The features below are the ones the connector can ask for and a server may lack, each
with the first version that has it; `check` and the start of a sync refuse, with a ConfigError, an option
the server cannot serve, before any table is created.

Why a version and not a probe: the only probe the transaction interface allows without side effects, a
begin without a label, is answered by the FE ("Empty label.", fe `TransactionLoadAction`) before anything
that depends on the interface runs, so it says nothing; a wrong compression setting shows only as a failed
load. `ServerInfo.features` is plain data so later users (multi-table transactions, 4.0) read the same.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Protocol

from destination_starrocks.errors import ConfigError, StarRocksSqlError
from destination_starrocks.spec import StarRocksConfig

logger = logging.getLogger("airbyte")

_VERSION = re.compile(r"(?<![\d.])(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class Feature:
    name: str
    since: tuple[int, int, int]
    what: str
    doc: str

    @property
    def since_text(self) -> str:
        return ".".join(str(part) for part in self.since)


FEATURES: dict[str, Feature] = {
    feature.name: feature
    for feature in (
        Feature(
            "transaction_stream_load",
            (2, 4, 0),
            "the Stream Load transaction interface",
            "https://docs.starrocks.io/docs/loading/Stream_Load_transaction_interface/",
        ),
        Feature(
            "json_compression",
            (3, 2, 7),
            "compressed JSON Stream Loads",
            "https://docs.starrocks.io/docs/sql-reference/sql-statements/loading_unloading/STREAM_LOAD/",
        ),
        Feature(
            "multi_table_transaction",
            (4, 0, 0),
            "transactions spanning several tables",
            "https://docs.starrocks.io/docs/loading/Stream_Load_transaction_interface/",
        ),
    )
}


@dataclass(frozen=True, order=True)
class ServerVersion:
    major: int
    minor: int
    patch: int
    text: str = field(compare=False)

    @classmethod
    def parse(cls, text: str) -> ServerVersion | None:
        """The first `major.minor[.patch]` in `text` ("3.3.5-ee", "4.0.1 abcd", "StarRocks version 2.5.22")."""
        match = _VERSION.search(text or "")
        if match is None:
            return None
        major, minor, patch = match.group(1), match.group(2), match.group(3) or "0"
        return cls(int(major), int(minor), int(patch), text.strip())

    @property
    def number(self) -> tuple[int, int, int]:
        return self.major, self.minor, self.patch

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


@dataclass(frozen=True)
class ServerInfo:
    """The server's version (None when its answer could not be read) and what it offers."""

    version: ServerVersion | None
    answer: str = ""  # what the server said, for messages

    def supports(self, feature: str) -> bool | None:
        """True or False from the version; None when the version is unknown."""
        if self.version is None:
            return None
        return self.version.number >= FEATURES[feature].since

    @property
    def features(self) -> dict[str, bool | None]:
        return {name: self.supports(name) for name in FEATURES}

    def describe(self) -> str:
        return (
            f"StarRocks {self.version}"
            if self.version
            else f"a StarRocks of unknown version ({self.answer!r})"
        )


class _Queries(Protocol):
    def query(self, sql: str) -> list[tuple]: ...


def read_server_info(sql: _Queries) -> ServerInfo:
    """Ask the server once: `current_version()`, else `@@version_comment` (only if it names StarRocks)."""
    answers = []
    for statement, must_mention in (
        ("SELECT current_version()", ""),
        ("SELECT @@version_comment", "starrocks"),
    ):
        try:
            rows = sql.query(statement)
        except StarRocksSqlError as exc:
            answers.append(str(exc))
            continue
        text = str(rows[0][0]) if rows and rows[0] else ""
        answers.append(text)
        if must_mention and must_mention not in text.lower():
            continue
        version = ServerVersion.parse(text)
        if version is not None:
            return ServerInfo(version, text)
    return ServerInfo(None, " / ".join(a for a in answers if a)[:200])


def configured_needs(config: StarRocksConfig) -> list[tuple[str, str, str]]:
    """(feature name, the option as configured, the fix that needs no upgrade) for each configured option that
    only some versions serve."""
    wanted = []
    if config.compression != "none":
        wanted.append(("json_compression", f"compression: {config.compression}", "set compression to none"))
    if config.transaction_stream_load == "always":
        wanted.append(("transaction_stream_load", "transaction_stream_load: always", "use 'auto' or 'never'"))
    return wanted


def require_supported_options(config: StarRocksConfig, server: ServerInfo) -> None:
    """Refuse (ConfigError) an option the server's version cannot serve; warn where the version is unknown."""
    for name, option, fix in configured_needs(config):
        feature = FEATURES[name]
        supported = server.supports(name)
        if supported is False:
            raise ConfigError(
                f"{option} needs {feature.what}, which StarRocks offers from {feature.since_text} on "
                f"({feature.doc}); this server is {server.describe()}. Upgrade StarRocks or {fix}."
            )
        if supported is None:
            logger.warning(
                "Could not tell the StarRocks version (%r); %s needs StarRocks %s or later and is used as "
                "configured.",
                server.answer,
                option,
                feature.since_text,
            )


def uses_transactions(config: StarRocksConfig, server: ServerInfo) -> bool:
    """Whether this sync loads through the transaction interface (after require_supported_options)."""
    mode = config.transaction_stream_load
    if mode == "never":
        return False
    if mode == "always":
        return True
    supported = server.supports("transaction_stream_load")
    since = FEATURES["transaction_stream_load"].since_text
    if supported is False:
        logger.info(
            "transaction_stream_load is 'auto' and %s has no transaction interface (StarRocks %s+); using "
            "plain Stream Load.",
            server.describe(),
            since,
        )
    elif supported is None:
        logger.warning(
            "transaction_stream_load is 'auto' but the StarRocks version is unknown (%r); using plain Stream "
            "Load. Set 'always' to use the transaction interface (StarRocks %s+) anyway.",
            server.answer,
            since,
        )
    return bool(supported)


def check_server(sql: _Queries, config: StarRocksConfig) -> ServerInfo:
    """Read the server's version and refuse what it cannot serve: `check` and the start of a sync call this."""
    server = read_server_info(sql)
    logger.info("Connected to %s.", server.describe())
    require_supported_options(config, server)
    return server
