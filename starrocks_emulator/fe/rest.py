"""An FE's HTTP port (StarRocks `http_port`, default 8030), leader or follower.

Every endpoint but the emulator's own authenticates on this FE first (fe `RestBaseAction.execute`): no or a
malformed `Authorization` answers 401 "Need auth information.", a wrong password 401 "Access denied for
u@ip", both with `WWW-Authenticate: Basic realm=""` and `RestBaseResult`'s body
`{"status": "FAILED", "code": "1", "msg": M, "message": M}`.
- `PUT /api/{db}/{table}/_stream_load` (fe `LoadAction`): `Expect: 100-continue` is required on HTTP/1.1
  (else HTTP 200 `{"Status": "FAILED", "Message": "class com.starrocks.common.DdlException: There is no
  100-continue header"}`), then the INSERT privilege (401 with StarRocks' access-denied text), then a 307 to
  the next live BE in turn (`seqChooseBackendIds`; none: "No backend alive."), before the body is read.
- `GET /api/{db}/get_load_state?label=L` (fe `GetStreamLoadState`): a follower 307s it to the leader
  (`redirectToLeader`); the leader answers `{"state": S, ["reason": R,] "status": "OK", "code": "0", "msg":
  "Success", "message": "OK"}`.
- `/api/transaction/{op}` (POST or PUT, fe `TransactionLoadAction`, registered from 2.4): fe/transactions_rest.py.
- A request whose header block is over `http_max_header_size` (32768) is refused before any of this: Netty's
  `HttpServerCodec(..., Config.http_max_header_size, ...)` fails to decode it and `HttpServerHandler.
  validateRequest` answers 400 text/html "Bad Request. <br/> HTTP header is larger than 32768 bytes."
  (Netty's `TooLongHttpHeaderException` text) and closes. A single header line over 64 KiB gets Python's own
  431 instead (still a refusal).
- Emulator control (no auth): `POST /_emulator/faults`, `GET /_emulator/stats`; `GET /api/health`.
TLS (`--tls-cert`): the FE port speaks HTTPS (it plays the FE's `https_port`); redirects still say `http://`.
"""

from __future__ import annotations

import re

import orjson

from starrocks_emulator.faults import FaultError
from starrocks_emulator.fe.transactions_rest import handle_transaction_op
from starrocks_emulator.rest_base import EmulatorHandler
from starrocks_emulator.storage.catalog import EmulatorError
from starrocks_emulator.version import supports

STREAM_LOAD_PATH = re.compile(r"^/api/([^/]+)/([^/]+)/_stream_load$")
LOAD_STATE_PATH = re.compile(r"^/api/([^/]+)/get_load_state$")
TXN_PATH = re.compile(r"^/api/transaction/([^/]+)$")
HTTP_MAX_HEADER_SIZE = 32768  # fe Config.http_max_header_size
DDL_EXCEPTION = "class com.starrocks.common.DdlException"


class FEHandler(EmulatorHandler):
    sends_continue = False

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        size = sum(len(name) + 2 + len(value) for name, value in self.headers.items())
        if size > HTTP_MAX_HEADER_SIZE:
            self.close_connection = True
            self._expect_pending = True  # nothing of the body will be read
            self.send_text(
                f"Bad Request. <br/> HTTP header is larger than {HTTP_MAX_HEADER_SIZE} bytes.",
                status=400,
                content_type="text/html",
            )
            return False
        return True

    # ------------------------------------------------------------------ dispatch
    def do_PUT(self) -> None:  # noqa: N802 - http.server naming
        path, _ = self.url
        if match := STREAM_LOAD_PATH.match(path):
            self.emulator.count("fe_stream_load")
            self.stream_load(match.group(1), match.group(2))
        elif (match := TXN_PATH.match(path)) and supports("transaction_interface"):
            handle_transaction_op(self, match.group(1))
        else:
            self.not_found()

    def do_POST(self) -> None:  # noqa: N802
        path, _ = self.url
        if path == "/_emulator/faults":
            self.control_faults()
        elif (match := TXN_PATH.match(path)) and supports("transaction_interface"):
            handle_transaction_op(self, match.group(1))
        else:
            self.not_found()

    def do_GET(self) -> None:  # noqa: N802
        path, query = self.url
        if path == "/_emulator/stats":
            self.emulator.count("stats")
            self.send_json(self.emulator.stats())
        elif match := LOAD_STATE_PATH.match(path):
            self.emulator.count("get_load_state")
            self.load_state(match.group(1), query.get("label", ""))
        elif path == "/api/health":
            self.serve_health()
        else:
            self.not_found()

    # ------------------------------------------------------------------ RestBaseAction
    def authenticate(self) -> str | None:
        """The authenticated user, or None after answering 401 as `RestBaseAction.handleRequest` does."""
        credentials = self.basic_auth()
        if credentials is None:
            self.unauthorized("Need auth information.")
            return None
        if not self.emulator.engine.authenticate(*credentials):
            self.unauthorized(f"Access denied for {credentials[0]}@{self.client_ip}")
            return None
        return credentials[0]

    def unauthorized(self, message: str) -> None:
        self.drain_body()
        self.send_json(rest_result(message), status=401, headers={"WWW-Authenticate": 'Basic realm=""'})

    def fail(self, message: str) -> None:
        """A DdlException out of an action: HTTP 200 with RestBaseResult's FAILED body."""
        self.drain_body()
        self.send_json(rest_result(message))

    def redirect_to_leader(self) -> bool:
        """`RestBaseAction.redirectToLeader`: on a follower, 307 to the leader's HTTP port."""
        if self.node.leader:
            return False
        leader = self.emulator.topology.leader
        self.redirect(leader.host, leader.http_port)
        return True

    # ------------------------------------------------------------------ actions
    def stream_load(self, db: str, table: str) -> None:
        """fe `LoadAction.executeWithoutPasswordInternal`."""
        user = self.authenticate()
        if user is None:
            return
        if self.request_version >= "HTTP/1.1" and not self.expects_continue:
            self.close_connection = True
            self.drain_body()
            self.send_json(
                {"Status": "FAILED", "Message": f"{DDL_EXCEPTION}: There is no 100-continue header"},
                headers={"Connection": "close"},
            )
            return
        try:
            self.emulator.engine.check_privilege(user, "INSERT", db, table)
        except EmulatorError as exc:
            self.unauthorized(exc.message)
            return
        backend = self.emulator.choose_backend()
        if backend is None:
            self.send_json({"Status": "FAILED", "Message": f"{DDL_EXCEPTION}: No backend alive."})
            return
        host, port = backend.host, backend.http_port
        faults = self.emulator.faults
        if faults.peek("fe_redirect_dead_be") is not None and self.emulator.dead_be_port:
            port = self.emulator.dead_be_port
        if (fault := faults.peek("redirect_host")) is not None:
            host = str(fault.params["host"])
        self.close_connection = True  # LoadAction: setForceCloseConnection(true)
        self.redirect(host, port)

    def load_state(self, db: str, label: str) -> None:
        """fe `GetStreamLoadState`: the label's `TransactionStatus` name and reason."""
        if self.authenticate() is None or self.redirect_to_leader():
            return
        if not label:
            self.fail("No label selected.")
            return
        engine = self.emulator.engine
        if db not in engine.databases():
            self.fail(f"unknown database, database={db}")
            return
        job = engine.job(db, label)
        answer: dict = {"state": "UNKNOWN" if job is None else str(job["state"])}
        if job is not None and job.get("error_msg"):
            answer["reason"] = job["error_msg"]
        self.send_json({**answer, "status": "OK", "code": "0", "msg": "Success", "message": "OK"})

    def control_faults(self) -> None:
        self.emulator.count("faults")
        try:
            request = orjson.loads(self.read_body() or b"{}")
            if request.get("clear"):
                self.emulator.clear_faults()
                self.send_json({"status": "OK", "faults": self.emulator.faults.snapshot()})
                return
            name = str(request.pop("fault"))
            if request.pop("off", False):
                self.emulator.clear_faults(name)
            else:
                count = request.pop("count", None)
                seconds = request.pop("seconds", None)
                self.emulator.set_fault(
                    name,
                    count=int(count) if count is not None else None,
                    seconds=float(seconds) if seconds is not None else None,
                    **request,
                )
        except (FaultError, KeyError, ValueError, TypeError, orjson.JSONDecodeError) as exc:
            self.send_json({"status": "FAILED", "msg": str(exc)}, status=400)
            return
        self.send_json({"status": "OK", "faults": self.emulator.faults.snapshot()})


def rest_result(message: str) -> dict:
    """fe `RestBaseResult(msg)`: the body of a failed REST call."""
    return {"status": "FAILED", "code": "1", "msg": message, "message": message}
