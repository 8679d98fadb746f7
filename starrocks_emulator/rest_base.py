"""HTTP plumbing shared by the FE and BE ports: Basic auth, bodies (Content-Length, chunked, 100-continue),
JSON answers, cutting a connection on purpose, one log line per request.

StarRocks requires HTTP Basic auth on every Stream Load hop (FE and BE), which is why clients use curl's
`--location-trusted` (https://docs.starrocks.io/docs/loading/StreamLoad/). `Expect: 100-continue` is answered
by `http.server` itself before the handler reads the body (HTTP/1.1 handlers); the FE overrides that to answer
the redirect first, as StarRocks' FE does, so the body goes only to the BE.
"""

from __future__ import annotations

import base64
import binascii
import logging
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import orjson

log = logging.getLogger("starrocks_emulator.http")
READ_CHUNK = 1 << 20


class NodeServices(Protocol):
    """What a node's HTTP handlers use of the cluster that runs them (cluster.EmulatorServer provides it).

    A protocol rather than an import, so the HTTP layer does not depend on the module that wires it up.
    """

    engine: Any
    faults: Any
    error_logs: Any
    txns: Any
    scheme: str
    advertised_host: str
    be_http_port: int
    dead_be_port: int | None
    spool_dir: str

    def count(self, name: str) -> None: ...
    def stats(self) -> dict: ...
    def set_fault(self, name: str, **params: Any) -> dict: ...
    def clear_faults(self, name: str | None = None) -> None: ...


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        emulator: NodeServices,
        role: str,
    ) -> None:
        self.emulator = emulator
        self.role = role
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:  # client went away: one line, no trace
        log.debug("%s connection from %s ended abruptly", self.role, client_address)


class EmulatorHandler(BaseHTTPRequestHandler):
    # StarRocks answers without a Nagle stall; without this, headers and body go in two segments and the
    # client waits ~40 ms (delayed ACK) for every answer (measured by the reliability work).
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    server: EmulatorHTTPServer
    server_version = "StarRocksEmulator/1.0"

    # ------------------------------------------------------------------ plumbing
    @property
    def emulator(self) -> NodeServices:
        return self.server.emulator

    @property
    def url(self) -> tuple[str, dict[str, str]]:
        parts = urlsplit(self.path)
        return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        started = getattr(self, "_started", None)
        elapsed = f" {1000 * (time.perf_counter() - started):.1f}ms" if started else ""
        label = self.headers.get("label", "") if self.headers else ""
        log.info(
            "%s %s %s %s%s%s",
            self.server.role,
            self.command,
            self.path,
            code,
            elapsed,
            f" label={label}" if label else "",
        )

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s " + format, self.server.role, *args)

    def parse_request(self) -> bool:
        self._started = time.perf_counter()
        self._body_read = False
        return super().parse_request()

    def send_json(
        self, body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        payload = orjson.dumps(body, option=orjson.OPT_INDENT_2)
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if not self._body_read and self._has_body():
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)

    def send_text(self, text: str, status: int = 200) -> None:
        payload = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _has_body(self) -> bool:
        return (
            int(self.headers.get("Content-Length") or 0) > 0
            or "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
        )

    def read_body(self, limit: int | None = None) -> bytes:
        """The whole request body (Content-Length or chunked); `limit` stops early (cut_mid_body)."""
        self._body_read = True
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked(limit)
        length = int(self.headers.get("Content-Length") or 0)
        if limit is not None:
            length = min(length, limit)
        chunks, remaining = [], length
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, READ_CHUNK))
            if not chunk:
                raise ConnectionError("client closed the connection mid-body")
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def _read_chunked(self, limit: int | None) -> bytes:
        chunks, total = [], 0
        while True:
            line = self.rfile.readline(65537)
            if not line:
                raise ConnectionError("client closed the connection mid-body")
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunk = self.rfile.read(size)
            self.rfile.readline(3)
            chunks.append(chunk)
            total += size
            if limit is not None and total >= limit:
                return b"".join(chunks)[:limit]

    def cut_connection(self, reason: str) -> None:
        """Close the socket with no HTTP answer at all (the client cannot know what happened)."""
        log.info("%s %s %s cut (%s)", self.server.role, self.command, self.path, reason)
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.connection.close()

    def basic_auth(self) -> tuple[str, str] | None:
        header = self.headers.get("Authorization") or ""
        if not header.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user, password

    def require_auth(self) -> str | None:
        """The authenticated user, or None after answering 401 (StarRocks: Basic auth on every hop)."""
        credentials = self.basic_auth()
        if credentials is not None and self.emulator.engine.authenticate(*credentials):
            return credentials[0]
        user = credentials[0] if credentials else ""
        self.send_json(
            {
                "Status": "Fail",
                "Message": f"Access denied for user '{user}'@'127.0.0.1' (using password: "
                f"{'YES' if credentials and credentials[1] else 'NO'})",
                "status": "FAILED",
                "msg": "Unauthorized",
            },
            status=401,
            headers={"WWW-Authenticate": 'Basic realm="StarRocks"'},
        )
        return None

    def drain_body(self) -> None:
        if self._has_body() and not self._body_read:
            try:
                self.read_body()
            except (ConnectionError, OSError, ValueError):
                self.close_connection = True

    # ------------------------------------------------------------------ shared endpoints
    def serve_error_log(self) -> None:
        _, query = self.url
        text = self.emulator.error_logs.get(query.get("file", ""))
        if text is None:
            self.send_text("error log not found", status=404)
        else:
            self.send_text(text)

    def serve_health(self) -> None:
        self.send_json({"status": "OK", "msg": "To Be Added"})
