"""The server's version, read once, and the options it gates: parsing, the features table, the refusals."""

from __future__ import annotations

import logging

import pytest

from destination_starrocks.errors import ConfigError, StarRocksSqlError
from destination_starrocks.server_info import (
    FEATURES,
    ServerInfo,
    ServerVersion,
    check_server,
    read_server_info,
    require_supported_options,
    uses_transactions,
)
from destination_starrocks.spec import StarRocksConfig


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("3.3.5-ee", (3, 3, 5)),
        ("4.0.1 abcd", (4, 0, 1)),
        ("2.5.22", (2, 5, 22)),
        ("3.2.7 4a5b6c7", (3, 2, 7)),
        ("StarRocks version 2.1.2", (2, 1, 2)),
        ("3.1.0-rc01 0f1e2d3", (3, 1, 0)),
        ("3.4", (3, 4, 0)),
        ("  3.3.10-RELEASE  ", (3, 3, 10)),
    ],
)
def test_versions_parse_whatever_decorates_them(text, number):
    version = ServerVersion.parse(text)
    assert version is not None and version.number == number


@pytest.mark.parametrize("text", ["", "main-1a2b3c4", "unknown", "v3"])
def test_unreadable_versions_are_unknown(text):
    assert ServerVersion.parse(text) is None


def info(text: str) -> ServerInfo:
    return ServerInfo(ServerVersion.parse(text), text)


def config(**settings) -> StarRocksConfig:
    return StarRocksConfig(host="fe", **settings)


def test_features_are_data_with_their_first_version():
    assert {name: f.since for name, f in FEATURES.items()} == {
        "transaction_stream_load": (2, 4, 0),
        "json_compression": (3, 2, 7),
        "multi_table_transaction": (4, 0, 0),
    }
    assert info("3.2.7 abc").features == {
        "transaction_stream_load": True,
        "json_compression": True,
        "multi_table_transaction": False,
    }
    assert info("4.0.0").supports("multi_table_transaction") is True
    assert ServerInfo(None, "?").features == dict.fromkeys(FEATURES)


@pytest.mark.parametrize("version", ["3.2.6", "3.1.11", "2.5.22"])
def test_compression_before_3_2_7_is_a_config_error(version):
    with pytest.raises(
        ConfigError, match=r"compression: gzip.*from 3\.2\.7.*StarRocks " + version.replace(".", r"\.")
    ):
        require_supported_options(config(compression="gzip"), info(version))


def test_compression_from_3_2_7_is_accepted():
    require_supported_options(config(compression="lz4_frame"), info("3.2.7-ee 1a2b"))


def test_transactions_always_before_2_4_is_a_config_error_and_auto_falls_back():
    with pytest.raises(ConfigError, match=r"transaction_stream_load: always.*from 2\.4\.0"):
        require_supported_options(config(transaction_stream_load="always"), info("2.3.18"))
    require_supported_options(config(transaction_stream_load="auto"), info("2.3.18"))
    assert uses_transactions(config(transaction_stream_load="auto"), info("2.3.18")) is False


def test_auto_uses_transactions_when_the_version_offers_them():
    assert uses_transactions(config(transaction_stream_load="auto"), info("2.4.0")) is True
    assert uses_transactions(config(transaction_stream_load="auto"), info("3.3.5 abc")) is True
    assert uses_transactions(config(transaction_stream_load="always"), info("3.3.5")) is True
    assert uses_transactions(config(transaction_stream_load="never"), info("3.3.5")) is False


def test_an_unknown_version_refuses_nothing_but_says_so(caplog):
    unknown = ServerInfo(None, "main-1a2b")
    with caplog.at_level(logging.INFO, logger="airbyte"):
        require_supported_options(config(compression="gzip", transaction_stream_load="always"), unknown)
        assert uses_transactions(config(transaction_stream_load="auto"), unknown) is False
    assert "Could not tell the StarRocks version" in caplog.text and "main-1a2b" in caplog.text


class FakeSql:
    def __init__(self, answers: dict[str, object]) -> None:
        self.answers, self.asked = answers, []

    def query(self, sql: str) -> list[tuple]:
        self.asked.append(sql)
        answer = self.answers.get(sql)
        if isinstance(answer, Exception):
            raise answer
        return [(answer,)] if answer is not None else []


def test_the_version_is_read_from_current_version():
    sql = FakeSql({"SELECT current_version()": "3.3.5-ee 9f8e7d6"})
    server = read_server_info(sql)
    assert server.version is not None and server.version.number == (3, 3, 5)
    assert sql.asked == ["SELECT current_version()"]


def test_older_servers_answer_through_version_comment():
    sql = FakeSql(
        {
            "SELECT current_version()": StarRocksSqlError(1064, "Unknown function 'current_version'"),
            "SELECT @@version_comment": "StarRocks version 2.3.1",
        }
    )
    assert read_server_info(sql).version == ServerVersion.parse("2.3.1")


def test_a_version_comment_that_is_not_starrocks_is_not_believed():
    sql = FakeSql(
        {
            "SELECT current_version()": StarRocksSqlError(1064, "no such function"),
            "SELECT @@version_comment": "MySQL Community Server - GPL 8.0.33",
        }
    )
    server = read_server_info(sql)
    assert server.version is None and "no such function" in server.answer


def test_check_server_refuses_before_anything_else_happens():
    sql = FakeSql({"SELECT current_version()": "3.2.6 abc"})
    with pytest.raises(ConfigError, match="3.2.7"):
        check_server(sql, config(compression="gzip"))
