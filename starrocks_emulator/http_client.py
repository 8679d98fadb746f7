"""A small Stream Load client for the emulator's own tests (and anyone poking at it by hand).

Not the connector's client (destination_starrocks/ has that): this one speaks to StarRocks, or the emulator,
exactly as `curl --location-trusted` does, because that is the documented client
(https://docs.starrocks.io/docs/loading/StreamLoad/):
- a request with a body sends `Expect: 100-continue` and waits (1 s, as curl) for `100 Continue` or an early
  final answer before sending the body, so a body never goes to an FE that answers with a 307 first;
- it follows 307 (and 301/302/303/308) itself, sending the same headers, the `Authorization` included, to
  every host the redirects name (requests drops credentials there, as it should for untrusted redirects).
Why by hand over http.client: neither requests nor urllib3 can wait for `100 Continue`.
Errors are the standard library's: ConnectionError (refused, reset, closed without an answer), TimeoutError.
"""

from __future__ import annotations

import base64
import http.client
import json
import select
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

DEFAULT_TIMEOUT_S = 60
CONTINUE_WAIT_S = 1.0  # curl's default `--expect100-timeout`
MAX_REDIRECTS = 3
REDIRECTS = (301, 302, 303, 307, 308)


@dataclass
class Answer:
    """The final answer: status, headers (lower-case names), body, and the URL it came from."""

    status_code: int
    headers: dict[str, str]
    content: bytes
    url: str

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


class StreamLoadClient:
    def __init__(
        self,
        host: str,
        http_port: int,
        user: str,
        password: str,
        scheme: str = "http",
        verify: bool | str = False,
    ) -> None:
        self.base = f"{scheme}://{host}:{http_port}"
        self.user, self.password = user, password
        self.verify = verify  # False, True (system CAs) or a CA file, for https hops

    # ------------------------------------------------------------------ the calls
    def stream_load(
        self,
        db: str,
        table: str,
        body: bytes | Iterable[bytes],
        headers: dict[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> Answer:
        """PUT /api/{db}/{table}/_stream_load through the FE, following its 307 to a BE."""
        return self.request("PUT", f"/api/{db}/{table}/_stream_load", body, headers, timeout)

    def transaction(
        self,
        op: str,
        db: str,
        label: str,
        table: str | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> Answer:
        """/api/transaction/{begin,load,prepare,commit,rollback} with the `label`/`db`/`table` headers."""
        all_headers = {"label": label, "db": db, **(headers or {})}
        if table:
            all_headers["table"] = table
        method = "PUT" if op == "load" else "POST"
        return self.request(method, f"/api/transaction/{op}", body, all_headers, timeout)

    def load_state(self, db: str, label: str) -> str:
        """`state` of GET /api/{db}/get_load_state (a follower redirects it to the leader)."""
        answer = self.request("GET", f"/api/{db}/get_load_state?{urlencode({'label': label})}")
        if answer.status_code != 200:
            raise ConnectionError(f"get_load_state answered HTTP {answer.status_code}: {answer.text[:200]}")
        return str(answer.json().get("state"))

    # ------------------------------------------------------------------ transport
    def request(
        self,
        method: str,
        path: str,
        body: bytes | Iterable[bytes] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        follow: bool = True,
    ) -> Answer:
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        sent = {"Authorization": f"Basic {token}", **(headers or {})}
        chunks = None if body is None or isinstance(body, bytes | bytearray) else list(body)
        url = self.base + path
        for _ in range(MAX_REDIRECTS + 1):
            answer = self._once(method, url, sent, body if chunks is None else chunks, timeout)
            location = answer.headers.get("location")
            if not follow or answer.status_code not in REDIRECTS or not location:
                return answer
            url = location
        raise ConnectionError(f"more than {MAX_REDIRECTS} redirects from {self.base + path}")

    def _connection(self, url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        if parts.scheme == "https":
            context = ssl.create_default_context(cafile=self.verify if isinstance(self.verify, str) else None)
            if self.verify is False:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection(
                parts.hostname, parts.port, timeout=timeout, context=context
            ), target
        return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout), target

    def _once(self, method: str, url: str, headers: dict[str, str], body: Any, timeout: float) -> Answer:
        conn, target = self._connection(url, timeout)
        try:
            conn.putrequest(method, target, skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            if body is not None:
                if isinstance(body, list):
                    conn.putheader("Transfer-Encoding", "chunked")
                else:
                    conn.putheader("Content-Length", str(len(body)))
                conn.putheader("Expect", "100-continue")
            conn.endheaders()
            if body is not None:
                early = _early_answer(conn, url)
                if early is not None:
                    return early
                _send_body(conn, body)
            response = conn.getresponse()
            data = response.read()
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data, url)
        except http.client.HTTPException as exc:
            raise ConnectionError(f"{url}: {type(exc).__name__}: {exc}") from exc
        finally:
            conn.close()


def _send_body(conn: http.client.HTTPConnection, body: bytes | list[bytes]) -> None:
    if isinstance(body, list):
        for chunk in body:
            if chunk:
                conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        conn.send(b"0\r\n\r\n")
    else:
        conn.send(body)


def _early_answer(conn: http.client.HTTPConnection, url: str) -> Answer | None:
    """Wait for `100 Continue` (None: send the body) or a final answer given before the body (returned)."""
    sock = conn.sock
    assert sock is not None
    if not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
        readable, _, _ = select.select([sock], [], [], CONTINUE_WAIT_S)
        if not readable:
            return None  # no word within the wait: send the body anyway, as curl does
    reader = sock.makefile("rb", buffering=0)  # unbuffered: nothing past the interim answer is consumed
    try:
        status_line = reader.readline(65537).decode("latin-1")
        if not status_line:
            raise ConnectionResetError(f"{url}: closed before answering")
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise ConnectionError(f"{url}: bad status line {status_line!r}")
        headers: dict[str, str] = {}
        while (line := reader.readline(65537)) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if int(parts[1]) == 100:
            return None
        length = int(headers.get("content-length") or 0)
        data = b""
        while len(data) < length and (chunk := reader.read(length - len(data))):
            data += chunk
        return Answer(int(parts[1]), headers, data, url)
    finally:
        reader.close()
