"""The connector's one HTTP transport: every call to StarRocks' HTTP ports goes through `HttpTransport`.

Stream Loads, the transaction interface (begin, load, prepare, commit, rollback), `get_load_state` and the
error log all travel here, so every one of them follows the cluster's redirects the same way and with its
credentials, as curl's `--location-trusted` and the StarRocks Flink connector do. A StarRocks cluster redirects
a lot (fe `RestBaseAction.redirectTo`, always a 307 to an `http://` address): any FE sends a Stream Load to a
BE; a follower FE sends `get_load_state` and `/api/transaction/*` to the leader; the leader sends transaction
begin/load/prepare to a BE. Every hop checks the credentials again, and a hop without them fails (an FE: 401;
a BE: "no valid Basic authorization").

Why hand-written on the standard library's http.client rather than requests: requests (urllib3) cannot wait for
`100 Continue`, and it drops `Authorization` on a redirect to another host or port, which is every redirect
StarRocks makes. A Stream Load must send its headers, wait briefly for `100 Continue` or an early final answer
(the FE answers the 307 before reading the body, and never sends 100: fe `StarRocksHttpPostObjectAggregator`),
and only then send the body, so megabytes never go to a server about to close the socket. One transport for
all calls keeps one redirect rule, one TLS rule and one credential rule instead of two of each. `check` asks
an FE where a Stream Load would go without following it or sending a body (`first_answer`).

TLS: the FE's redirects name `http://` BEs even when the FE was reached over HTTPS. Such a hop is followed
(there is nothing else to talk to), but when the user asked for TLS and credentials go over plain HTTP, the
transport logs one WARN per transport (one per sync) naming the hop and how to encrypt it (HTTPS `load_urls`).
"""

from __future__ import annotations

import http.client
import logging
import select
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

logger = logging.getLogger("airbyte")

# How long to wait for `100 Continue` before sending the body anyway (curl waits 1 s).
EXPECT_WAIT_SECONDS = 1.0
# A follower FE -> the leader -> a BE is two hops; room for a load balancer or proxy in front.
MAX_REDIRECTS = 4
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
SEND_BLOCK_BYTES = 1 << 20
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes
    url: str  # where the answer came from (after redirects)

    @property
    def origin(self) -> str:
        """scheme://host:port of the node that answered (never a path: a query may carry a label)."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    def json(self) -> dict[str, Any] | None:
        """The body as a JSON object, or None when it is not one."""
        try:
            value = orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None

    def snippet(self, limit: int = 300) -> str:
        return self.body[:limit].decode("utf-8", "replace").replace("\n", " ")


@dataclass(frozen=True)
class Endpoint:
    """scheme://host:port of one StarRocks HTTP port (an FE's `http_port`, a BE's `be_http_port`)."""

    scheme: str
    host: str
    port: int

    @classmethod
    def parse(cls, address: str, default_scheme: str) -> Endpoint:
        """`host:port`, `http://host:port` or `https://host:port` (IPv6 hosts in brackets)."""
        scheme, sep, rest = address.strip().partition("://")
        if not sep:
            scheme, rest = default_scheme, address.strip()
        host, _, port = rest.rstrip("/").rpartition(":")
        return cls(scheme.lower(), host.strip("[]"), int(port))

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self}"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


class RedirectError(ConnectionError):
    """The server redirected to a place that could not be used (loop, no Location)."""


class HopError(ConnectionError):
    """A transport failure on a named hop, so messages can say which address failed (e.g. a BE)."""

    def __init__(self, where: str, cause: BaseException, body_sent: bool) -> None:
        self.where = where
        self.cause = cause
        self.body_sent = body_sent
        super().__init__(f"{where}: {type(cause).__name__}: {cause}")


class HttpTransport:
    """Sends one request and follows its redirects, with the credentials on every hop. Thread-safe."""

    def __init__(
        self,
        authorization: str,
        tls: ssl.SSLContext | Callable[[], ssl.SSLContext],
        tls_requested: bool,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self._authorization = authorization
        self._tls = tls
        self._tls_requested = tls_requested
        self._warn = warn or logger.warning
        self._warned = False
        self._lock = threading.Lock()

    def request(
        self,
        method: str,
        endpoint: Endpoint,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        timeout: float = 60.0,
        credentials: bool = True,
    ) -> HttpAnswer:
        """`method` `path` at `endpoint`, following redirects with the same method, headers and body.

        With a body, `Expect: 100-continue` is sent and the body waits for the server's word. `credentials`
        False sends no Authorization (the BE's error log needs none: be `DownloadAction::handle_error_log`).
        Raises HopError (the hop that failed, and whether its body was sent) or RedirectError.
        """
        sent = dict(headers or {})
        if credentials:
            sent["Authorization"] = self._authorization
        target, came_from = endpoint, ""
        for _ in range(MAX_REDIRECTS + 1):
            if credentials and target.scheme == "http":
                self._plain_credentials(target, came_from)
            answer = self._once(method, target, path, sent, body, timeout)
            if answer.status not in REDIRECT_STATUSES:
                return answer
            location = answer.headers.get("location")
            if not location:
                raise RedirectError(f"{target} answered {answer.status} without a Location header")
            parts = urlsplit(location)
            if not parts.hostname:
                raise RedirectError(f"{target} redirected to an unusable location {_no_query(location)!r}")
            scheme = parts.scheme or target.scheme
            came_from = str(target)
            target = Endpoint(scheme, parts.hostname, parts.port or DEFAULT_PORTS.get(scheme, 80))
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        raise RedirectError(f"more than {MAX_REDIRECTS} redirects starting at {endpoint}")

    def get_url(self, url: str, timeout: float = 30.0, credentials: bool = True) -> HttpAnswer:
        """GET an absolute URL the server handed out (an ErrorURL)."""
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise RedirectError(f"not an http(s) URL: {_no_query(url)!r}")
        endpoint = Endpoint(parts.scheme, parts.hostname, parts.port or DEFAULT_PORTS[parts.scheme])
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return self.request("GET", endpoint, path, timeout=timeout, credentials=credentials)

    def first_answer(
        self,
        method: str,
        endpoint: Endpoint,
        path: str,
        headers: dict[str, str] | None = None,
        body_length: int = 0,
        timeout: float = 10.0,
    ) -> HttpAnswer | None:
        """The first hop's answer to a request whose body is announced but never sent; no redirect is followed.

        Sends the headers (with credentials, `Content-Length: body_length` and `Expect: 100-continue`) and returns
        what `endpoint` answers before the body: a StarRocks FE answers a Stream Load with its 307 there (fe
        `LoadAction` redirects before reading the body), so `check` learns where a load would go without loading
        anything. An answer of status 100 means the server asked for the body (it would take the load itself);
        None, that it said nothing within `timeout`. Either way the connection is closed with no body sent.
        Raises HopError when the endpoint cannot be reached.
        """
        sent = {**(headers or {}), "Authorization": self._authorization}
        if endpoint.scheme == "http":
            self._plain_credentials(endpoint, "")
        url = f"{endpoint.url}{path}"
        conn = self._connection(endpoint, timeout)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for name, value in sent.items():
                conn.putheader(name, value if value.isascii() else value.encode("utf-8"))
            conn.putheader("Content-Length", str(body_length))
            conn.putheader("Expect", "100-continue")
            conn.endheaders()
            return _early_answer(conn, url, timeout)
        except (OSError, http.client.HTTPException) as exc:
            raise HopError(str(endpoint), exc, body_sent=False) from exc
        finally:
            conn.close()

    def _plain_credentials(self, target: Endpoint, came_from: str) -> None:
        """One WARN per transport when TLS was asked for and credentials are about to go in clear text."""
        if not self._tls_requested:
            return
        with self._lock:
            if self._warned:
                return
            self._warned = True
        how = f"{came_from} redirected this connector to" if came_from else "this connector is sending to"
        self._warn(
            f"SSL/TLS is on, but {how} http://{target}: the username, password and data of this request, "
            "and of later ones on this hop, travel unencrypted (StarRocks redirects Stream Loads to its BEs "
            "over plain HTTP). To encrypt this hop too, list HTTPS endpoints of the BEs in `load_urls`, "
            "e.g. https://be-host:8040 (see the TLS section of the connector's documentation). "
            "This warning is logged once per sync."
        )

    def _context(self) -> ssl.SSLContext:
        # A factory is called on the first https request: most syncs (BEs on plain HTTP) never need one, and
        # building it (the default CA store) is about 25 ms of start-up.
        with self._lock:
            if not isinstance(self._tls, ssl.SSLContext):
                self._tls = self._tls()
            return self._tls

    def _connection(self, target: Endpoint, timeout: float) -> http.client.HTTPConnection:
        if target.scheme == "https":
            return http.client.HTTPSConnection(
                target.host, target.port, timeout=timeout, context=self._context()
            )
        return http.client.HTTPConnection(target.host, target.port, timeout=timeout)

    def _once(
        self, method: str, target: Endpoint, path: str, headers: dict[str, str], body: bytes, timeout: float
    ) -> HttpAnswer:
        url = f"{target.url}{path}"
        conn = self._connection(target, timeout)
        body_sent = False
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for name, value in headers.items():
                # Non-ASCII values (a table name in the transaction headers) go as UTF-8, as curl sends them;
                # http.client would otherwise try latin-1 and fail.
                conn.putheader(name, value if value.isascii() else value.encode("utf-8"))
            if body or method in ("PUT", "POST"):
                conn.putheader("Content-Length", str(len(body)))
            if body:
                conn.putheader("Expect", "100-continue")
            conn.endheaders()
            if body:
                early = _await_continue(conn, url)
                if early is not None:
                    return early
                view = memoryview(body)
                body_sent = True
                for start in range(0, len(body), SEND_BLOCK_BYTES):
                    conn.send(view[start : start + SEND_BLOCK_BYTES])
            response = conn.getresponse()
            data = response.read()
            return HttpAnswer(response.status, _lower(response.getheaders()), data, url)
        except (OSError, http.client.HTTPException) as exc:
            raise HopError(str(target), exc, body_sent) from exc
        finally:
            conn.close()


def _await_continue(conn: http.client.HTTPConnection, url: str) -> HttpAnswer | None:
    """None when the body should be sent now (100 Continue, or no word within the wait); else the answer
    the server gave before the body (a redirect, an auth failure...)."""
    answer = _early_answer(conn, url, EXPECT_WAIT_SECONDS)
    return None if answer is None or answer.status == 100 else answer


def _early_answer(conn: http.client.HTTPConnection, url: str, wait: float) -> HttpAnswer | None:
    """What the server says within `wait` seconds of the headers: an answer (status 100 for `100 Continue`,
    whose headers are read and nothing more), or None when it says nothing."""
    sock = conn.sock
    assert sock is not None
    pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
    if not pending:
        readable, _, _ = select.select([sock], [], [], wait)
        if not readable:
            return None
    reader = sock.makefile("rb", buffering=0)
    try:
        status_line = reader.readline(65537)
        if not status_line:
            raise ConnectionResetError("server closed the connection before answering")
        parts = status_line.decode("latin-1").split(None, 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise http.client.BadStatusLine(status_line.decode("latin-1", "replace"))
        status = int(parts[1])
        headers = _read_headers(reader)
        if status == 100:
            return HttpAnswer(100, headers, b"", url)
        length = int(headers.get("content-length", "0") or 0)
        data = _read_exact(reader, length)
        return HttpAnswer(status, headers, data, url)
    finally:
        reader.close()


def _read_headers(reader) -> dict[str, str]:  # noqa: ANN001 - a raw socket file
    headers: dict[str, str] = {}
    while True:
        line = reader.readline(65537)
        if line in (b"\r\n", b"\n", b""):
            return headers
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()


def _read_exact(reader, length: int) -> bytes:  # noqa: ANN001
    chunks, left = [], length
    while left > 0:
        chunk = reader.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _lower(pairs: list[tuple[str, str]]) -> dict[str, str]:
    return {name.lower(): value for name, value in pairs}


def _no_query(url: str) -> str:
    return url.split("?", 1)[0]


def connect_error(host: str, port: int, timeout: float = 3.0) -> str | None:
    """None when a TCP connection to host:port opens within `timeout`; else why not (for `check`: is the
    address a StarRocks FE redirects Stream Loads to reachable from here)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
