"""The FE HTTP port (StarRocks `http_port`, default 8030).

- `PUT /api/{db}/{table}/_stream_load` and `PUT /api/transaction/load`: Basic auth, then `307 Temporary
  Redirect` to the BE port with the same path and query; with `Expect: 100-continue` the FE answers the
  redirect instead of `100 Continue`, so the body is only ever sent to the BE (curl `--location-trusted`
  re-sends the credentials there). https://docs.starrocks.io/docs/loading/StreamLoad/ ("How it works": the
  FE redirects the request to a BE, which acts as the coordinator).
- `POST /api/transaction/{begin,prepare,commit,rollback}`: the transaction interface (transactions.py).
- `GET /api/{db}/get_load_state?label=L`: the label's transaction state (UNKNOWN, PREPARE, PREPARED,
  COMMITTED, VISIBLE, ABORTED), answered as `{"state": S, "status": "OK", ...}` plus the `data`/`code`/`msg`
  form of the same answer, so clients written for either shape read it.
- `GET /api/_load_error_log?file=` (also on the BE), `GET /api/health`.
- Emulator control (no auth): `POST /_emulator/faults`, `GET /_emulator/stats`.
"""

from __future__ import annotations

import re

import orjson

from starrocks_emulator.faults import FaultError
from starrocks_emulator.fe.transactions_rest import handle_transaction_op
from starrocks_emulator.rest_base import EmulatorHandler

STREAM_LOAD_PATH = re.compile(r"^/api/([^/]+)/([^/]+)/_stream_load$")
LOAD_STATE_PATH = re.compile(r"^/api/([^/]+)/get_load_state$")
TXN_PATH = re.compile(r"^/api/transaction/(begin|load|prepare|commit|rollback)$")


class FEHandler(EmulatorHandler):
    def handle_expect_100(self) -> bool:
        """Defer `100 Continue`: a Stream Load gets its 307 first; other endpoints send 100 on reading."""
        self._expect_pending = True
        return True

    def read_body(self, limit: int | None = None) -> bytes:
        if getattr(self, "_expect_pending", False):
            self._expect_pending = False
            self.send_response_only(100)
            self.end_headers()
        return super().read_body(limit)

    def _has_body(self) -> bool:
        return False if getattr(self, "_expect_pending", False) else super()._has_body()

    def do_PUT(self) -> None:  # noqa: N802 - http.server naming
        path, _ = self.url
        if STREAM_LOAD_PATH.match(path):
            self.emulator.count("fe_stream_load")
            self.redirect_to_be()
        elif path == "/api/transaction/load":
            self.emulator.count("fe_txn_load")
            self.redirect_to_be()
        else:
            self.not_found()

    def do_POST(self) -> None:  # noqa: N802
        path, _ = self.url
        if path == "/_emulator/faults":
            self.control_faults()
        elif match := TXN_PATH.match(path):
            if match.group(1) == "load":
                self.emulator.count("fe_txn_load")
                self.redirect_to_be()
            else:
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
            if self.require_auth() is None:
                return
            state = self.emulator.engine.label_state(match.group(1), query.get("label", ""))
            self.send_json(
                {
                    "state": state,
                    "status": "OK",
                    "message": "",
                    "msg": "success",
                    "code": 0,
                    "data": state,
                    "count": 0,
                }
            )
        elif path == "/api/_load_error_log":
            self.emulator.count("error_log")
            self.serve_error_log()
        elif path == "/api/health":
            self.serve_health()
        else:
            self.not_found()

    def not_found(self) -> None:
        self.drain_body()
        self.send_json({"status": "FAILED", "msg": f"Not found: {self.path}"}, status=404)

    def redirect_to_be(self) -> None:
        """307 to the BE with the same path; faults may point it at a dead or another host."""
        if self.require_auth() is None:
            return
        emulator = self.emulator
        host, port = emulator.advertised_host, emulator.be_http_port
        if emulator.faults.peek("fe_redirect_dead_be") is not None and emulator.dead_be_port:
            port = emulator.dead_be_port
        if (fault := emulator.faults.peek("redirect_host")) is not None:
            host = str(fault.params["host"])
        location = f"{emulator.scheme}://{host}:{port}{self.path}"
        if not getattr(self, "_expect_pending", False):
            self.drain_body()  # the client sent the body without waiting: read it so it can read the 307
        self.send_response(307)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        if getattr(self, "_expect_pending", False):
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()

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
