"""One HTTP PUT with `Expect: 100-continue` and trusted redirects: the transport of a Stream Load.

Why not requests: StarRocks' FE answers a Stream Load with a 307 to a BE *before* reading the body. A client
that sends the body regardless (requests/urllib3 cannot wait for `100 Continue`) pushes megabytes at a server
that is about to close the socket, and may see a reset instead of the redirect. curl's `--location-trusted`
does what is needed: send the headers, wait briefly for `100 Continue` (or an early final answer such as the
307), only then send the body, and repeat the credentials to the host the redirect names. This module does
exactly that with the standard library's http.client, over plain TCP or TLS.
"""

from __future__ import annotations

import http.client
import select
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

# How long to wait for `100 Continue` before sending the body anyway (curl waits 1 s).
EXPECT_WAIT_SECONDS = 1.0
MAX_REDIRECTS = 3
SEND_BLOCK_BYTES = 1 << 20


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes
    url: str  # where the answer came from (after redirects)


class Endpoint:
    """scheme://host:port, with the TLS context to use for https."""

    def __init__(self, scheme: str, host: str, port: int, tls: ssl.SSLContext | None) -> None:
        self.scheme, self.host, self.port, self.tls = scheme, host, port, tls

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    def connection(self, timeout: float) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self.tls)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)


class RedirectError(ConnectionError):
    """The server redirected to a place that could not be used (loop, no Location)."""


class HopError(ConnectionError):
    """A transport failure on a named hop, so messages can say which address failed (e.g. a BE)."""

    def __init__(self, where: str, cause: BaseException, body_sent: bool) -> None:
        self.where = where
        self.cause = cause
        self.body_sent = body_sent
        super().__init__(f"{where}: {type(cause).__name__}: {cause}")


def put_following_redirects(
    endpoint: Endpoint, path: str, headers: dict[str, str], body: bytes, timeout: float
) -> HttpAnswer:
    """PUT `body`, following 307/308 redirects with the same headers (Authorization included)."""
    target = endpoint
    for _ in range(MAX_REDIRECTS + 1):
        answer = _put_once(target, path, headers, body, timeout)
        if answer.status not in (301, 302, 303, 307, 308):
            return answer
        location = answer.headers.get("location")
        if not location:
            raise RedirectError(f"{target} answered {answer.status} without a Location header")
        parts = urlsplit(location)
        if not parts.hostname:
            raise RedirectError(f"{target} redirected to an unusable location {location!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        tls = target.tls if parts.scheme == "https" else None
        target = Endpoint(parts.scheme or target.scheme, parts.hostname, port, tls)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
    raise RedirectError(f"more than {MAX_REDIRECTS} redirects starting at {endpoint}")


def _put_once(
    target: Endpoint, path: str, headers: dict[str, str], body: bytes, timeout: float
) -> HttpAnswer:
    url = f"{target.scheme}://{target}{path}"
    conn = target.connection(timeout)
    body_sent = False
    try:
        conn.putrequest("PUT", path, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.putheader("Expect", "100-continue")
        conn.endheaders()
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
    sock = conn.sock
    assert sock is not None
    pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
    if not pending:
        readable, _, _ = select.select([sock], [], [], EXPECT_WAIT_SECONDS)
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
            return None
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
