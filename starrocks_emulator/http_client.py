"""A minimal Stream Load client for the emulator's own tests (and anyone poking at it by hand).

Not the connector's client (that is destination_starrocks/stream_load.py): this one only does what a test
needs to speak to StarRocks or the emulator the documented way: PUT to the FE, follow the 307 by hand
re-sending Basic auth (`requests` drops credentials on a redirect to another port, as it should; curl needs
`--location-trusted` for the same reason), the transaction interface, and get_load_state.
"""

from __future__ import annotations

from typing import Any

import requests

DEFAULT_TIMEOUT_S = 60


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
        self.auth = (user, password)
        self.session = requests.Session()
        self.verify = (
            verify  # passed on every call: REQUESTS_CA_BUNDLE would otherwise override Session.verify
        )

    def _follow(
        self, method: str, url: str, body: Any, headers: dict[str, str], timeout: float, redirects: int = 3
    ) -> requests.Response:
        response = self.session.request(
            method,
            url,
            data=body,
            headers=headers,
            auth=self.auth,
            verify=self.verify,
            allow_redirects=False,
            timeout=timeout,
        )
        if response.status_code == 307 and redirects > 0:
            return self._follow(method, response.headers["Location"], body, headers, timeout, redirects - 1)
        return response

    def stream_load(
        self,
        db: str,
        table: str,
        body: bytes | Any,
        headers: dict[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> requests.Response:
        """PUT /api/{db}/{table}/_stream_load through the FE, following its 307 to the BE."""
        return self._follow(
            "PUT", f"{self.base}/api/{db}/{table}/_stream_load", body, dict(headers or {}), timeout
        )

    def transaction(
        self,
        op: str,
        db: str,
        label: str,
        table: str | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> requests.Response:
        """/api/transaction/{begin,load,prepare,commit,rollback} with the `label`/`db`/`table` headers."""
        all_headers = {"label": label, "db": db, **(headers or {})}
        if table:
            all_headers["table"] = table
        method = "PUT" if op == "load" else "POST"
        return self._follow(method, f"{self.base}/api/transaction/{op}", body, all_headers, timeout)

    def load_state(self, db: str, label: str) -> str:
        response = self.session.get(
            f"{self.base}/api/{db}/get_load_state",
            params={"label": label},
            auth=self.auth,
            verify=self.verify,
            timeout=DEFAULT_TIMEOUT_S,
        )
        response.raise_for_status()
        answer = response.json()
        return str(answer.get("state") or answer.get("data"))
