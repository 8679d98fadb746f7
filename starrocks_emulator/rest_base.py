"""HTTP plumbing shared by the FE and BE ports: one server per node, bodies (Content-Length, chunked),
`Expect: 100-continue`, JSON answers, 307 redirects, cutting a connection on purpose, one log line per request.

`Expect: 100-continue`: `http.server` would answer `100 Continue` before the handler runs; here it is
deferred. A BE sends it when the handler starts reading the body, i.e. after its header checks and the
transaction's begin, and an early answer goes without it (be/src/http/ev_http_server.cpp: an `on_header`
that replies removes the Expect header). An FE never sends it (fe `StarRocksHttpPostObjectAggregator`:
"StarRocks FE needn't handle 100-continue header"): a Stream Load gets its 307 before any body is sent.
An answer given while a body is still unread closes the connection, as StarRocks' FE does for loads
(`response.setForceCloseConnection(true)`, fe LoadAction).
"""

from __future__ import annotations

import base64
import binascii
import logging
import socket
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, BinaryIO, Protocol
from urllib.parse import parse_qs, urlsplit

import orjson

from starrocks_emulator.topology import Node, Topology

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
    coordinators: Any
    dead_be_port: int | None
    spool_dir: str

    @property
    def topology(self) -> Topology: ...
    def choose_backend(self) -> Node | None: ...
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
        node: Node,
        tls: bool = False,
    ) -> None:
        self.emulator = emulator
        self.node_role, self.node_id = node.role, node.id
        self.tls = tls
        self.role = f"{node.role}{node.id}"
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
    sends_continue = True  # BE: yes, once the body is read; FE: never

    # ------------------------------------------------------------------ plumbing
    @property
    def emulator(self) -> NodeServices:
        return self.server.emulator

    @property
    def node(self) -> Node:
        """This node as the cluster knows it now (its ports are known once every port is bound)."""
        topology = self.emulator.topology
        if self.server.node_role == "FE":
            return topology.frontend(self.server.node_id)
        return topology.backend(self.server.node_id)

    @property
    def url(self) -> tuple[str, dict[str, str]]:
        parts = urlsplit(self.path)
        return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}

    @property
    def client_ip(self) -> str:
        return str(self.client_address[0])

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
        self._expect_pending = False
        return super().parse_request()

    def handle_expect_100(self) -> bool:
        self._expect_pending = True  # answered (or not) by read_body, see the module docstring
        return True

    @property
    def expects_continue(self) -> bool:
        return self._expect_pending

    def send_json(
        self, body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        self._send(orjson.dumps(body, option=orjson.OPT_INDENT_2), "application/json", status, headers)

    def send_text(self, text: str, status: int = 200, content_type: str = "text/plain") -> None:
        self._send(text.encode(), content_type, status, None)

    def _send(self, payload: bytes, content_type: str, status: int, headers: dict[str, str] | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self._close_if_body_unread()
        self.end_headers()
        self.wfile.write(payload)

    def _close_if_body_unread(self) -> None:
        if not self._body_read and self._has_body():
            self.send_header("Connection", "close")
            self.close_connection = True

    def _has_body(self) -> bool:
        return (
            int(self.headers.get("Content-Length") or 0) > 0
            or "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
        )

    def redirect(self, host: str, port: int) -> None:
        """307 to `http://host:port` + the same path and query: fe `RestBaseAction.redirectTo` always builds an
        `http` URI, whatever scheme the request came in on."""
        if not self._expect_pending:
            self.drain_body()  # the client sent the body without waiting: read it so it can read the 307
        self.send_response(307)
        self.send_header("Location", f"http://{host}:{port}{self.path}")
        self.send_header("Content-Length", "0")
        self._close_if_body_unread()
        self.end_headers()

    def _start_body(self) -> None:
        """`100 Continue` now if the client waits for it (see the module docstring): the body comes next."""
        if self._expect_pending:
            self._expect_pending = False
            if self.sends_continue:
                self.send_response_only(100)
                self.end_headers()
        self._body_read = True

    def _chunked(self) -> bool:
        return "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()

    def read_body(self, limit: int | None = None) -> bytes:
        """The whole request body (Content-Length or chunked); `limit` stops early (cut_mid_body)."""
        self._start_body()
        if self._chunked():
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

    def spool_body(self, out: BinaryIO) -> int:
        """Write the whole body to `out` as it arrives, through one reused buffer; returns its size.

        For bodies that go to a file anyway (a Stream Load's, which DuckDB scans): no copy of the body is ever
        held in memory, so a large load costs one copy out of the socket and one into the file.
        """
        self._start_body()
        if self._chunked():
            size = 0
            for chunk in self._chunks():
                out.write(chunk)
                size += len(chunk)
            return size
        length = int(self.headers.get("Content-Length") or 0)
        buffer = memoryview(bytearray(max(1, min(length, READ_CHUNK))))
        remaining = length
        while remaining > 0:
            got = self.rfile.readinto(buffer[: min(remaining, len(buffer))])
            if not got:
                raise ConnectionError("client closed the connection mid-body")
            out.write(buffer[:got])
            remaining -= got
        return length

    def _read_chunked(self, limit: int | None) -> bytes:
        chunks, total = [], 0
        for chunk in self._chunks():
            chunks.append(chunk)
            total += len(chunk)
            if limit is not None and total >= limit:
                return b"".join(chunks)[:limit]
        return b"".join(chunks)

    def _chunks(self) -> Iterator[bytes]:
        """The chunks of a `Transfer-Encoding: chunked` body, trailers skipped."""
        while True:
            line = self.rfile.readline(65537)
            if not line:
                raise ConnectionError("client closed the connection mid-body")
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return
            chunk = self.rfile.read(size)
            self.rfile.readline(3)
            yield chunk

    def drain_body(self) -> None:
        """Read a body the client is sending anyway, so it can read the answer (never one it waits to send)."""
        if self._has_body() and not self._body_read and not self._expect_pending:
            try:
                self.read_body()
            except (ConnectionError, OSError, ValueError):
                self.close_connection = True

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
        """(user, password) from `Authorization: Basic`, or None when there is none that parses."""
        header = self.headers.get("Authorization") or ""
        if not header.lower().startswith("basic "):
            return None
        try:
            user, sep, password = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return (user, password) if sep else None

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

    def not_found(self) -> None:
        self.drain_body()
        self.send_json({"status": "FAILED", "msg": f"Not found: {self.path}"}, status=404)
