"""The StarRocks release the emulator plays: its version, its run mode, and the features that depend on them.

One emulator process plays one release, chosen at start (`--starrocks-version`, `--run-mode`; `configure()`);
every part reads it from here at call time, so the HTTP ports, the query port and storage agree.

- StarRocks 3.3 identifies itself as MySQL 8.0.33 (fe `Config.mysql_server_version`) with a `version_comment`
  of "StarRocks version <version>" (fe `GlobalVariable.versionComment`); `current_version()` answers
  "<version> <commit>", which the `starrocks` SQLAlchemy dialect parses for its server_version_info.
- Features by version (`supports`): the Stream Load transaction interface from 2.4
  (docs/en/loading/Stream_Load_transaction_interface.md: "From v2.4 onwards"); compressed JSON bodies from
  3.2.7 (docs STREAM_LOAD: "Since v3.2.7, Stream Load supports compressing JSON data during transmission");
  one transaction over several tables of one database from 4.0 (the same transaction interface page).
- Run mode (fe `Config.run_mode`): `shared_nothing` (BEs keep the data, loads past `tablet_max_versions` fail
  with "too many versions") or `shared_data` (compute nodes over object storage, loads fail with "too large
  compaction score"), see storage/ledger.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MYSQL_SERVER_VERSION = "8.0.33"
DEFAULT_VERSION = "3.3.5"
RUN_MODES = ("shared_nothing", "shared_data")
# feature -> first release that has it (see the docstring for the pages)
FEATURES: dict[str, tuple[int, int, int]] = {
    "transaction_interface": (2, 4, 0),
    "json_compression": (3, 2, 7),
    "multi_table_transaction": (4, 0, 0),
}
_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?$")


def parse_version(text: str) -> tuple[int, int, int]:
    """ "3.3.5" -> (3, 3, 5); "2.4" -> (2, 4, 0). Raises ValueError for anything else."""
    match = _VERSION.match(text.strip())
    if not match:
        raise ValueError(f"not a StarRocks version (expected like 3.3.5): {text!r}")
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


@dataclass(frozen=True)
class Release:
    version: str = DEFAULT_VERSION
    run_mode: str = "shared_nothing"

    @property
    def number(self) -> tuple[int, int, int]:
        return parse_version(self.version)

    def supports(self, feature: str) -> bool:
        return self.number >= FEATURES[feature]

    @property
    def shared_data(self) -> bool:
        return self.run_mode == "shared_data"


_current = Release()


def configure(version: str = DEFAULT_VERSION, run_mode: str = "shared_nothing") -> Release:
    """Choose the release this process plays (called once, before the ports open)."""
    global _current
    parse_version(version)
    if run_mode not in RUN_MODES:
        raise ValueError(f"run mode must be one of {', '.join(RUN_MODES)}: {run_mode!r}")
    _current = Release(version, run_mode)
    return _current


def current() -> Release:
    return _current


def supports(feature: str) -> bool:
    return _current.supports(feature)


def current_version() -> str:
    """What `SELECT current_version()` answers: "<version> <commit>" (the emulator's commit is "emulator")."""
    return f"{_current.version} emulator"


def version_comment() -> str:
    """The `version_comment` variable: "StarRocks version <version>" (plus "-emulator")."""
    return f"StarRocks version {_current.version}-emulator"
