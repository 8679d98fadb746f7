"""The StarRocks version the emulator plays, in the forms StarRocks reports it.

StarRocks 3.3 identifies itself as MySQL 8.0.33 (fe `Config.mysql_server_version`) with a `version_comment` of
"StarRocks version <version>" (fe `GlobalVariable.versionComment`); `current_version()` answers
"<version> <commit>", which the `starrocks` SQLAlchemy dialect parses for its server_version_info.
"""

from __future__ import annotations

MYSQL_SERVER_VERSION = "8.0.33"
STARROCKS_VERSION = "3.3.5"
CURRENT_VERSION = f"{STARROCKS_VERSION} emulator"
