"""The one HTTP transport against a fake StarRocks cluster (follower FE, leader FE, BE; unit_tests/fake_cluster.py):
credentials on every redirect hop for every call the connector makes, the body only sent where it is read,
TLS honesty (one WARN when credentials go over plain HTTP after TLS was asked for)."""

from __future__ import annotations

import logging
import ssl

import pytest

from destination_starrocks.http_transport import Endpoint, HttpTransport, RedirectError
from destination_starrocks.spec import StarRocksConfig
from destination_starrocks.stream_load import LoadRequest, StreamLoader
from destination_starrocks.transaction_load import TransactionLoader
from unit_tests.fake_cluster import AUTH, PASSWORD, USER, FakeCluster


@pytest.fixture
def cluster():
    with FakeCluster() as fake:
        yield fake


def loader_for(port: int, **settings) -> StreamLoader:
    config = StarRocksConfig(
        host="127.0.0.1", http_port=port, username=USER, password=PASSWORD, max_retries=0, **settings
    )
    return StreamLoader(config)


def request(label: str = "lbl-1", rows: int = 1) -> LoadRequest:
    return LoadRequest("db", "t", label, b'[{"id":1}]' if rows else b"", rows)


def hops(node) -> list[tuple[str, str, bool]]:  # noqa: ANN001
    return [(s.method, s.path, s.authorized) for s in node.seen]


def test_stream_load_through_a_follower_reaches_the_be_with_credentials_and_sends_the_body_only_there(
    cluster,
):
    result = loader_for(cluster.follower.port).load(request())
    assert result.status == "Success"
    assert hops(cluster.follower) == [("PUT", "/api/db/t/_stream_load", True)]
    assert hops(cluster.be) == [("PUT", "/api/db/t/_stream_load", True)]
    assert cluster.follower.seen[0].body_bytes == 0  # the FE answered the 307 before any body
    assert cluster.be.seen[0].body_bytes == len(b'[{"id":1}]')
    assert cluster.be.seen[0].headers["label"] == "lbl-1"


def test_get_load_state_through_a_follower_is_answered_by_the_leader_with_credentials(cluster):
    cluster.states["done"] = "VISIBLE"
    assert loader_for(cluster.follower.port).load_state("db", "done") == "VISIBLE"
    assert hops(cluster.follower) == [("GET", "/api/db/get_load_state", True)]
    assert hops(cluster.leader) == [("GET", "/api/db/get_load_state", True)]


def test_every_transaction_op_through_a_follower_carries_credentials_to_the_leader_and_the_be(cluster):
    transactions = TransactionLoader(loader_for(cluster.follower.port, transaction_stream_load="always"))
    assert transactions.send(request("txn-1"), commit=False) is None
    result = transactions.send(request("txn-1", rows=0), commit=True)
    assert result is not None and result.status == "Success"
    assert [(m, p) for m, p, _ in hops(cluster.follower)] == [
        ("POST", "/api/transaction/begin"),
        ("PUT", "/api/transaction/load"),
        ("POST", "/api/transaction/prepare"),
        ("POST", "/api/transaction/commit"),
    ]
    assert [p for _, p, _ in hops(cluster.be)] == [
        "/api/transaction/begin",
        "/api/transaction/load",
        "/api/transaction/prepare",
    ]
    assert [p for _, p, _ in hops(cluster.leader)][-1] == "/api/transaction/commit"  # the leader commits
    every_hop = cluster.follower.seen + cluster.leader.seen + cluster.be.seen
    assert all(seen.authorized for seen in every_hop), [(s.path, s.authorized) for s in every_hop]
    assert [s.body_bytes for s in cluster.be.seen if s.path.endswith("/load")] == [len(b'[{"id":1}]')]


def test_a_transaction_keeps_its_data_on_the_be_load_url_and_commits_at_the_fe(cluster):
    # begin/load/prepare on the BE entry it began on; once prepared the transaction is the FE's (the BE drops
    # its context at prepare), so the commit goes to the FE, here a follower that 307s it to the leader.
    loader = loader_for(cluster.follower.port, load_urls=[cluster.be.address])
    result = TransactionLoader(loader).send(request("txn-be"), commit=True)
    assert result is not None and result.status == "Success"
    assert [p for _, p, _ in hops(cluster.be)] == [
        "/api/transaction/begin",
        "/api/transaction/load",
        "/api/transaction/prepare",
    ]
    assert hops(cluster.follower) == [("POST", "/api/transaction/commit", True)]
    assert hops(cluster.leader) == [("POST", "/api/transaction/commit", True)]


def test_non_ascii_header_values_travel_as_utf8(cluster):
    transactions = TransactionLoader(loader_for(cluster.follower.port))
    unicode_table = LoadRequest("db", "名前_ñame", "txn-utf8", b'[{"id":1}]', 1)
    result = transactions.send(unicode_table, commit=True)
    assert result is not None and result.status == "Success"
    begin = next(s for s in cluster.be.seen if s.path.endswith("/begin"))
    assert begin.headers["table"].encode("latin-1").decode("utf-8") == "名前_ñame"


def test_the_error_log_is_read_without_credentials(cluster):
    loader = loader_for(cluster.follower.port)
    text = loader.error_log(f"http://{cluster.be.address}/api/_load_error_log?file=error_log_1")
    assert text == "row 1: value 'x' is not an integer | row 7: column count mismatch"
    assert [(s.path, "Authorization" in s.headers) for s in cluster.be.seen] == [
        ("/api/_load_error_log", False)
    ]


def test_a_redirect_loop_is_refused_with_a_clear_error(cluster):
    cluster.follower.redirect_all_to, cluster.leader.redirect_all_to = cluster.leader, cluster.follower
    transport = HttpTransport(AUTH, ssl.create_default_context(), tls_requested=False)
    with pytest.raises(RedirectError, match="more than 4 redirects"):
        transport.request(
            "GET", Endpoint("http", "127.0.0.1", cluster.follower.port), "/api/db/get_load_state"
        )
    assert len(cluster.follower.seen) + len(cluster.leader.seen) == 5


@pytest.mark.parametrize(
    ("address", "scheme", "host", "port"),
    [
        ("be1:8040", "http", "be1", 8040),
        ("https://be1:8443", "https", "be1", 8443),
        ("HTTP://10.0.0.7:8040/", "http", "10.0.0.7", 8040),
        ("[::1]:8030", "http", "::1", 8030),
        ("https://[fe80::1]:443", "https", "fe80::1", 443),
    ],
)
def test_load_url_entries_say_their_scheme_or_take_it_from_ssl(address, scheme, host, port):
    assert Endpoint.parse(address, "http") == Endpoint(scheme, host, port)


# ---- TLS honesty ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    return ca, cert


def server_context(cert):  # noqa: ANN001
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    return context


def warnings_of(caplog) -> list[str]:  # noqa: ANN001
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and "unencrypted" in r.getMessage()
    ]


def test_ssl_on_and_the_fe_redirecting_to_plain_http_warns_once_per_sync(certificates, caplog):
    ca, cert = certificates
    with FakeCluster(entry_tls=server_context(cert)) as cluster:
        loader = loader_for(cluster.follower.port, ssl=True, ssl_ca_certificate=ca.cert_pem.bytes().decode())
        with caplog.at_level(logging.WARNING, logger="airbyte"):
            loader.load(request("tls-1"))
            loader.load(request("tls-2"))
            loader.load_state("db", "tls-1")
        assert [s.authorized for s in cluster.be.seen] == [True, True]  # followed, as StarRocks requires
    (warning,) = warnings_of(caplog)
    assert (
        f"http://127.0.0.1:{cluster.be.port}" in warning and "load_urls" in warning and "https://" in warning
    )
    assert PASSWORD not in caplog.text


def test_ssl_with_https_be_load_urls_sends_nothing_in_clear_text(certificates, caplog):
    ca, cert = certificates
    with FakeCluster(entry_tls=server_context(cert), be_tls=server_context(cert)) as cluster:
        loader = loader_for(
            cluster.follower.port,
            ssl=True,
            ssl_ca_certificate=ca.cert_pem.bytes().decode(),
            load_urls=[f"https://{cluster.be.address}"],
        )
        with caplog.at_level(logging.WARNING, logger="airbyte"):
            assert loader.load(request("tls-be")).status == "Success"
        assert hops(cluster.be) == [("PUT", "/api/db/t/_stream_load", True)] and cluster.follower.seen == []
    assert warnings_of(caplog) == []


def test_without_ssl_plain_http_is_not_warned_about(cluster, caplog):
    with caplog.at_level(logging.WARNING, logger="airbyte"):
        loader_for(cluster.follower.port).load(request())
    assert warnings_of(caplog) == []


def test_the_tls_context_is_built_at_start_only_when_an_endpoint_is_https(monkeypatch):
    built: list[bool] = []

    def counting_context(config: StarRocksConfig) -> ssl.SSLContext:
        built.append(config.ssl)
        return ssl.create_default_context()

    monkeypatch.setattr("destination_starrocks.stream_load.verifying_context", counting_context)
    plain = loader_for(8030)  # plain HTTP everywhere: the CA store is not read at start
    assert built == []
    loader_for(8030, load_urls=["https://be-host:8040"])  # verified even with `ssl` off, and built now
    assert built == [False]
    # A redirect to https builds it on the first such hop, once for the transport's life.
    first = plain.transport._context()
    assert plain.transport._context() is first and built == [False, False]
