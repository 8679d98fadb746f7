"""The Stream Load client: labels, retries that never duplicate, and StarRocks' answers mapped to outcomes.

One call of `StreamLoader.load()` commits one batch as one StarRocks transaction (one new version per tablet)
or raises. Its label is fixed before the first attempt and reused by every retry, so a load that did commit
while its answer was lost is recognised ("Label Already Exists", or `get_load_state` says VISIBLE) instead
of being loaded twice. StarRocks lets a label be reused only after its load failed, which is exactly when a
reload is safe.

How answers map (StarRocks docs, "Stream Load" and "STREAM LOAD" SQL reference; the StarRocks Flink
connector's stream-load SDK does the same):
- `Success` → committed.
- `Publish Timeout` → committed: the transaction is committed and becomes visible later; never reload.
- `Label Already Exists` → ask `get_load_state` (waiting while it is PREPARE/PRECOMMITTED/…); VISIBLE or
  COMMITTED → committed; ABORTED or UNKNOWN → load again with the same label.
- `Fail` with "Too many versions" → the table is compacting: back off (longer) and retry.
- `Fail` with filtered rows → the data is wrong: fail the sync, quoting the first lines of `ErrorURL`.
- connection errors, timeouts, HTTP 5xx, other `Fail` → ask `get_load_state` if the body may have arrived,
  then retry the same label with exponential backoff and jitter, moving to the next `load_urls` entry.
"""

from __future__ import annotations

import base64
import gzip
import logging
import random
import time
from dataclasses import dataclass, field, replace

import orjson
import requests

from destination_starrocks.errors import ConfigError, LoadFailedError, TransientError
from destination_starrocks.http_put import (
    Endpoint,
    HopError,
    HttpAnswer,
    RedirectError,
    put_following_redirects,
)
from destination_starrocks.spec import StarRocksConfig
from destination_starrocks.sql import tls_context

logger = logging.getLogger("airbyte")

BACKOFF_BASE_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 20.0
# "Too many versions" clears when compaction catches up, which takes longer than a network blip.
VERSIONS_BACKOFF_BASE_SECONDS = 2.0
VERSIONS_MAX_WAIT_SECONDS = 600.0
# How long to follow a label that is still in progress (RUNNING / PREPARE / COMMITTED but not visible).
LABEL_WAIT_SECONDS = 120.0
LABEL_POLL_SECONDS = 0.5
ERROR_LOG_LINES = 5
COMMITTED_STATES = {"VISIBLE", "COMMITTED"}
IN_PROGRESS_STATES = {"PREPARE", "PREPARED", "PRECOMMITTED", "RUNNING", "LOADING", "BEGIN"}
RELOADABLE_STATES = {"ABORTED", "UNKNOWN", "CANCELLED"}


@dataclass(frozen=True)
class LoadRequest:
    database: str
    table: str
    label: str
    body: bytes
    rows: int
    headers: dict[str, str] = field(default_factory=dict)  # per-table extras: columns, merge_condition


@dataclass(frozen=True)
class LoadResult:
    label: str
    status: str  # how we know it committed: Success, Publish Timeout, Label Already Exists, VISIBLE...
    loaded_rows: int
    attempts: int
    seconds: float
    endpoint: str
    compaction_wait_seconds: float = 0.0  # time spent backing off on "too many versions" before it committed


class StreamLoader:
    """Sends batches by Stream Load. Thread-safe: each load opens its own connections."""

    def __init__(self, config: StarRocksConfig) -> None:
        self._config = config
        self.config = config
        scheme = "https" if config.ssl else "http"
        tls = tls_context(config)
        addresses = config.load_urls or [f"{config.host}:{config.http_port}"]
        self._endpoints = [_endpoint(scheme, a, tls) for a in addresses]
        self._fe = Endpoint(scheme, config.host, config.http_port, tls)
        token = base64.b64encode(f"{config.username}:{config.password}".encode()).decode()
        self._auth = f"Basic {token}"
        self._session = requests.Session()
        self._session.headers["Authorization"] = self._auth
        self._verify: bool | str = True
        if config.ssl and config.ssl_ca_certificate.strip():
            self._verify = _ca_file(config.ssl_ca_certificate)
        self._next_endpoint = 0
        self._base_headers = self._static_headers()

    @property
    def fe_endpoint(self) -> Endpoint:
        return self._fe

    @property
    def fe_url(self) -> str:
        return f"{self._fe.scheme}://{self._fe}"

    @property
    def session(self) -> requests.Session:
        return self._session

    @property
    def verify(self) -> bool | str:
        return self._verify

    def load_headers(self, request: LoadRequest) -> dict[str, str]:
        """Every header of a Stream Load of `request`: static ones, the table's extras, the label."""
        return {**self._base_headers, **request.headers, "label": request.label}

    def encode(self, body: bytes) -> bytes:
        return _compress(body, self._config.compression)

    def _static_headers(self) -> dict[str, str]:
        config = self._config
        headers = {
            "Authorization": self._auth,
            "format": "json",
            "strip_outer_array": "true",
            "ignore_json_size": "true",
            "timeout": str(config.load_timeout_seconds),
            # Coercion happens in the connector (values that do not fit are nulled and recorded in
            # _airbyte_meta), so a filtered row means a bug: fail rather than drop data silently.
            "max_filter_ratio": "0",
        }
        if config.compression != "none":
            headers["compression"] = config.compression
        headers.update(config.load_properties)
        return headers

    def load(self, request: LoadRequest) -> LoadResult:
        started = time.monotonic()
        headers = self.load_headers(request)
        body = self.encode(request.body)
        path = f"/api/{_path_part(request.database)}/{_path_part(request.table)}/_stream_load"
        attempts = 0
        versions_waited = 0.0
        last_error = "no attempt made"
        while True:
            attempts += 1
            # The current entry; a transport failure rotates to the next one (_rotate_endpoint).
            endpoint = self._endpoints[self._next_endpoint % len(self._endpoints)]
            where = f"{request.database}.{request.table} label={request.label}"
            try:
                answer = put_following_redirects(
                    endpoint, path, headers, body, timeout=self._config.load_timeout_seconds
                )
            except (HopError, RedirectError) as exc:
                last_error = f"{exc}"
                logger.warning("Stream Load %s attempt %d: %s", where, attempts, last_error)
                if isinstance(exc, HopError) and exc.body_sent:
                    # The load may have committed before the connection broke: ask before sending again.
                    state = self.settled_state(request.database, request.label)
                    if state in COMMITTED_STATES:
                        result = self._result(request, state, request.rows, attempts, started, endpoint)
                        return replace(result, compaction_wait_seconds=versions_waited)
                self._rotate_endpoint()
            else:
                outcome = self._interpret(request, answer, attempts, started, endpoint)
                if isinstance(outcome, LoadResult):
                    return replace(outcome, compaction_wait_seconds=versions_waited)
                kind, last_error = outcome
                if kind == "versions":
                    delay = min(VERSIONS_BACKOFF_BASE_SECONDS * 2 ** min(attempts, 6), 60.0)
                    versions_waited += delay
                    logger.warning(
                        "Stream Load %s: %s; waiting %.1fs for compaction", where, last_error, delay
                    )
                    if versions_waited > VERSIONS_MAX_WAIT_SECONDS:
                        raise TransientError(
                            f"StarRocks kept refusing loads into {request.database}.{request.table} with "
                            f"'Too many versions' for {versions_waited:.0f}s; compaction is not keeping up. "
                            f"Last answer: {last_error}"
                        )
                    time.sleep(delay)
                    attempts -= 1  # waiting for compaction does not use up the retries
                    continue
            if attempts > self._config.max_retries:
                raise TransientError(
                    f"Stream Load into {request.database}.{request.table} failed after {attempts} attempts "
                    f"(label {request.label}); last error: {last_error}"
                )
            time.sleep(_backoff(attempts))

    def _interpret(
        self, request: LoadRequest, answer: HttpAnswer, attempts: int, started: float, endpoint: Endpoint
    ) -> LoadResult | tuple[str, str]:
        """A LoadResult when committed; else (kind, message) with kind "retry" or "versions"; raises for good."""
        if answer.status in (401, 403):
            raise ConfigError(
                f"StarRocks refused the Stream Load credentials at {answer.url.split('/api/')[0]} "
                f"(HTTP {answer.status}): check username and password, and the INSERT privilege on "
                f"{request.database}.{request.table}."
            )
        if answer.status != 200:
            return (
                "retry",
                f"HTTP {answer.status} from {answer.url.split('/api/')[0]}: {_snippet(answer.body)}",
            )
        try:
            result = orjson.loads(answer.body)
        except orjson.JSONDecodeError:
            return "retry", f"unreadable answer from {answer.url.split('/api/')[0]}: {_snippet(answer.body)}"
        status = str(result.get("Status", ""))
        message = str(result.get("Message") or result.get("msg") or "")
        loaded = int(result.get("NumberLoadedRows") or 0)
        if status == "Success":
            return self._result(request, status, loaded, attempts, started, endpoint)
        if status == "Publish Timeout":
            # Committed; it becomes visible once the BEs publish. Reloading would duplicate it.
            return self._result(request, status, loaded, attempts, started, endpoint)
        if status == "Label Already Exists":
            existing = str(result.get("ExistingJobStatus", ""))
            if existing == "FINISHED":
                return self._result(
                    request, "Label Already Exists", request.rows, attempts, started, endpoint
                )
            state = self.settled_state(request.database, request.label)
            if state in COMMITTED_STATES:
                return self._result(request, state, request.rows, attempts, started, endpoint)
            return "retry", f"label {request.label} exists in state {state or existing}; loading again"
        if "too many versions" in message.lower():
            return "versions", message
        if "access denied" in message.lower():
            raise ConfigError(
                f"StarRocks refused the Stream Load into {request.database}.{request.table}: {message.rstrip('. ')}. "
                "Grant the user INSERT on that table (or database)."
            )
        filtered = int(result.get("NumberFilteredRows") or 0)
        if filtered or "filtered" in message.lower():
            detail = self._error_log(str(result.get("ErrorURL") or ""))
            raise LoadFailedError(
                f"StarRocks rejected {filtered} row(s) of a load into {request.database}.{request.table} "
                f"(label {request.label}): {message}. First rejected rows: {detail}"
            )
        return "retry", f"Status {status or '?'}: {message}"

    def _result(
        self,
        request: LoadRequest,
        status: str,
        loaded: int,
        attempts: int,
        started: float,
        endpoint: Endpoint,
    ) -> LoadResult:
        return LoadResult(request.label, status, loaded, attempts, time.monotonic() - started, str(endpoint))

    def _rotate_endpoint(self) -> None:
        self._next_endpoint = (self._next_endpoint + 1) % len(self._endpoints)

    def load_state(self, database: str, label: str) -> str:
        """The label's state from the FE: VISIBLE, COMMITTED, PREPARE, ABORTED, UNKNOWN...; "" if unknown."""
        url = f"{self._fe.scheme}://{self._fe}/api/{_path_part(database)}/get_load_state"
        response = self._session.get(url, params={"label": label}, timeout=30, verify=self._verify)
        if response.status_code != 200:
            return ""
        payload = response.json()
        for key in ("state", "data"):
            value = payload.get(key)
            if isinstance(value, str) and value.upper() not in ("OK", "SUCCESS"):
                return value.upper()
            if isinstance(value, dict) and isinstance(value.get("state"), str):
                return value["state"].upper()
        return ""

    def settled_state(self, database: str, label: str) -> str:
        """Poll the label until it is no longer in progress (or the wait runs out); "" if the FE can't say."""
        deadline = time.monotonic() + LABEL_WAIT_SECONDS
        while True:
            try:
                state = self.load_state(database, label)
            except (requests.RequestException, ValueError) as exc:
                logger.warning("get_load_state for label %s failed: %s", label, type(exc).__name__)
                return ""
            if state not in IN_PROGRESS_STATES or time.monotonic() > deadline:
                return state
            time.sleep(LABEL_POLL_SECONDS)

    def _error_log(self, url: str) -> str:
        if not url:
            return "(no ErrorURL)"
        try:
            response = self._session.get(url, timeout=30, verify=self._verify)
            lines = response.text.splitlines()[:ERROR_LOG_LINES]
            return " | ".join(lines) or "(empty error log)"
        except requests.RequestException as exc:
            return f"(could not read {url}: {type(exc).__name__})"

    def close(self) -> None:
        self._session.close()


def _endpoint(scheme: str, address: str, tls) -> Endpoint:  # noqa: ANN001
    host, _, port = address.rpartition(":")
    return Endpoint(scheme, host.strip("[]"), int(port), tls)


def _path_part(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


def _compress(body: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip.compress(body, compresslevel=1)
    if compression == "lz4_frame":
        import lz4.frame

        return lz4.frame.compress(body)
    return body


def _backoff(attempt: int) -> float:
    """Exponential backoff with full jitter."""
    return random.uniform(0, min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt))


def _snippet(body: bytes, limit: int = 300) -> str:
    return body[:limit].decode("utf-8", "replace").replace("\n", " ")


def _ca_file(pem: str) -> str:
    import tempfile

    handle = tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False)
    with handle:
        handle.write(pem)
    return handle.name
