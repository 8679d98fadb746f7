"""A tiny StarRocks-shaped HTTP cluster in threads, for the transport's tests: a follower FE, a leader FE, a BE.

Routing as StarRocks does it (fe `RestBaseAction.redirectTo` / `redirectToLeader`, `LoadAction`,
`TransactionLoadAction`, `GetStreamLoadState`): every node checks Basic credentials; an FE answers a Stream
Load with a 307 to the BE before reading the body and never sends `100 Continue`; the follower sends
`get_load_state` and `/api/transaction/*` to the leader; the leader sends transaction begin/load/prepare to
the BE and answers commit/rollback itself. The `Location` is always `http://`. A BE without credentials
answers 200 with "no valid Basic authorization", an FE answers 401. Each node records what reached it.

Answers a test wants to script (a commit that fails, a prepare that filters rows) go in `Node.scripted`:
`{(method, path): [answer, ...]}`, consumed in order, each `(status, json_dict)`.
"""

from __future__ import annotations

import base64
import json
import ssl
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

USER, PASSWORD = "loader", 'p"w\\x'
AUTH = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


class _FakeServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # The client under test hangs up mid-answer on purpose (timeouts, cut connections): not the fake's error,
        # and its traceback would land in the middle of pytest's progress line.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class Seen:
    method: str
    path: str
    authorized: bool
    body_bytes: int
    headers: dict[str, str]


@dataclass
class Node:
    role: str  # "follower", "leader", "be"
    cluster: FakeCluster
    tls: ssl.SSLContext | None = None
    seen: list[Seen] = field(default_factory=list)
    scripted: dict[tuple[str, str], list[tuple[int, dict]]] = field(default_factory=dict)
    redirect_all_to: Node | None = None  # misroute every request there (a loop, a proxy)
    server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.server_address[1]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


class FakeCluster:
    def __init__(self, entry_tls: ssl.SSLContext | None = None, be_tls: ssl.SSLContext | None = None) -> None:
        """`entry_tls`: the follower (the FE the connector is pointed at) serves HTTPS, as behind a TLS
        front; the cluster's own redirects still name plain http:// addresses."""
        self.be = self._start(Node("be", self, be_tls))
        self.leader = self._start(Node("leader", self))
        self.follower = self._start(Node("follower", self, entry_tls))
        self.states: dict[str, str] = {}  # label -> get_load_state answer
        self.error_log = "row 1: value 'x' is not an integer\nrow 7: column count mismatch\n"

    def _start(self, node: Node) -> Node:
        handler = type("Handler", (_Handler,), {"node": node})
        server = _FakeServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        if node.tls is not None:
            server.socket = node.tls.wrap_socket(server.socket, server_side=True)
        node.server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return node

    def close(self) -> None:
        for node in (self.follower, self.leader, self.be):
            assert node.server is not None
            node.server.shutdown()
            node.server.server_close()

    def __enter__(self) -> FakeCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Handler(BaseHTTPRequestHandler):
    node: Node
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def handle_expect_100(self) -> bool:
        # An FE never sends 100 Continue (fe `StarRocksHttpPostObjectAggregator`); the BE does.
        if self.node.role == "be":
            return super().handle_expect_100()
        return True

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._serve()

    def do_PUT(self) -> None:  # noqa: N802
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def _serve(self) -> None:
        node, path = self.node, urlsplit(self.path).path
        authorized = self.headers.get("Authorization") == AUTH
        reads_body = node.role == "be" or not path.startswith("/api/") or path.endswith("/get_load_state")
        body = self._body() if reads_body else b""
        node.seen.append(Seen(self.command, path, authorized, len(body), dict(self.headers)))
        if path == "/api/_load_error_log":  # no credentials needed (be `DownloadAction::handle_error_log`)
            return self._send(200, node.cluster.error_log, content_type="text/plain")
        if not authorized:
            if node.role == "be":
                key = "Status"
                return self._send(200, {key: "INTERNAL_ERROR", "Message": "no valid Basic authorization"})
            return self._send(
                401, {"status": "FAILED", "code": "1", "msg": f"Access denied for {USER}@127.0.0.1"}
            )
        if node.redirect_all_to is not None:
            return self._redirect(node.redirect_all_to)
        if queue := node.scripted.get((self.command, path)):
            status, answer = queue.pop(0)
            return self._send(status, answer)
        if node.role == "follower" and not path.endswith("/_stream_load"):
            return self._redirect(node.cluster.leader)
        if node.role in ("follower", "leader") and (
            path.endswith("/_stream_load") or path.split("/")[-1] in ("begin", "load", "prepare")
        ):
            return self._redirect(node.cluster.be)
        if path.endswith("/get_load_state"):
            label = parse_qs(urlsplit(self.path).query).get("label", [""])[0]
            state = node.cluster.states.get(label, "UNKNOWN")
            return self._send(200, {"state": state, "status": "OK", "msg": "Success", "code": "0"})
        if path.endswith("/_stream_load"):
            return self._send(200, {"Status": "Success", "Message": "OK", "NumberLoadedRows": 1})
        if path.startswith("/api/transaction/"):
            label = self.headers.get("label", "")
            if path.endswith("/commit"):
                node.cluster.states[label] = "VISIBLE"
            elif path.endswith("/prepare"):
                node.cluster.states[label] = "PREPARED"
            return self._send(200, {"Status": "OK", "Message": "", "Label": label})
        return self._send(404, {"status": "FAILED", "msg": "not found"})

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _redirect(self, to: Node) -> None:
        self.send_response(307)
        self.send_header("Location", f"http://127.0.0.1:{to.port}{self.path}")  # always http (redirectTo)
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.close_connection = True
        self.end_headers()

    def _send(self, status: int, answer: dict | str, content_type: str = "application/json") -> None:
        payload = (answer if isinstance(answer, str) else json.dumps(answer)).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm=""')
        if self.headers.get("Expect") and self.node.role != "be":
            self.send_header("Connection", "close")  # the body was never read
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)
