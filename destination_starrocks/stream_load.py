"""The Stream Load client: labels, retries that never duplicate, and StarRocks' answers mapped to outcomes.

One call of `StreamLoader.load()` commits one batch as one StarRocks transaction (one new version per tablet)
or raises. Its label is fixed before the first attempt and reused by every retry, so a load that did commit
while its answer was lost is recognised ("Label Already Exists", or `get_load_state` says VISIBLE) instead
of being loaded twice. StarRocks lets a label be reused only after its load failed, which is exactly when a
reload is safe. Every HTTP call (the load, `get_load_state`, the error log) goes through the one transport
(http_transport.py), which keeps the credentials on every redirect hop.

How answers map (StarRocks docs, "Stream Load" and "STREAM LOAD" SQL reference; be `StreamLoadContext::
to_json`, fe `LoadAction`, `RestBaseAction`; the StarRocks Flink connector's stream-load SDK does the same):
- `Success` → committed.
- `Publish Timeout` → committed: the transaction is committed and becomes visible later; never reload.
- `Label Already Exists` → ask `get_load_state` (waiting while it is PREPARE/PREPARED); VISIBLE or
  COMMITTED → committed; ABORTED or UNKNOWN → load again with the same label.
- `Fail` with "too many versions" (either wording) or "too large compaction score" (shared-data) → StarRocks
  asks to slow down until compaction catches up: wait (longer) and retry, without using up the retries.
- `Fail` with filtered rows → the data is wrong: fail the sync, quoting the first lines of `ErrorURL`.
- `Fail` with "no valid Basic authorization" → a hop lost the credentials (a proxy, or a bug): config error.
- HTTP 401/403 (an FE refusing the user or its INSERT privilege) → config error naming the grant.
- HTTP 200 `{"Status"/"status": "FAILED", ...}` → the FE refused before redirecting (fe `LoadAction`'s
  DdlException, e.g. "No backend alive."): retried; "There is no 100-continue header" → config error.
- connection errors, timeouts, HTTP 5xx, other `Fail` → ask `get_load_state` if the body may have arrived,
  then retry the same label with exponential backoff and jitter, moving to the next `load_urls` entry.
"""

from __future__ import annotations

import base64
import functools
import gzip
import logging
import random
import time
from dataclasses import dataclass, field, replace
from urllib.parse import quote, urlencode

from destination_starrocks.errors import ConfigError, LoadFailedError, TransientError
from destination_starrocks.http_transport import (
    Endpoint,
    HopError,
    HttpAnswer,
    HttpTransport,
    RedirectError,
)
from destination_starrocks.messages import register_secret
from destination_starrocks.spec import StarRocksConfig
from destination_starrocks.sql import verifying_context

logger = logging.getLogger("airbyte")

BACKOFF_BASE_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 20.0
# Version pressure clears when compaction catches up, which takes longer than a network blip.
VERSIONS_BACKOFF_BASE_SECONDS = 2.0
VERSIONS_MAX_WAIT_SECONDS = 600.0
# How long to follow a label that is still in progress (PREPARE / PREPARED).
LABEL_WAIT_SECONDS = 120.0
LABEL_POLL_SECONDS = 0.5
STATE_TIMEOUT_SECONDS = 30.0
ERROR_LOG_LINES = 5
COMMITTED_STATES = {"VISIBLE", "COMMITTED"}
# get_load_state answers TransactionStatus names (fe `GetStreamLoadState`): UNKNOWN, PREPARE, PREPARED,
# COMMITTED, VISIBLE, ABORTED.
IN_PROGRESS_STATES = {"PREPARE", "PREPARED"}
# StarRocks' ways of saying "slow down, compaction is behind": shared-nothing `tablet_max_versions` (old
# "Too many versions. tablet_id: ..." and be `delta_writer.cpp`'s "... because of too many versions,
# current/limit: ...") and shared-data's "... because of too large compaction score, current/limit: ...".
SLOW_DOWN_MARKERS = ("too many versions", "too large compaction score")
# be `stream_load.cpp` / `transaction_mgr.cpp`: a request that reached a BE without Basic credentials.
NO_CREDENTIALS_MARKER = "no valid basic authorization"


def is_slow_down(message: str) -> bool:
    """Does StarRocks ask the client to wait for compaction (rather than report a failure)?"""
    lowered = message.lower()
    return any(marker in lowered for marker in SLOW_DOWN_MARKERS)


def versions_delay(waits: int) -> float:
    """The wait before the `waits`-th retry of a load refused for version pressure (2 s doubling to 60 s)."""
    return min(VERSIONS_BACKOFF_BASE_SECONDS * 2 ** min(waits, 6), 60.0)


def answer_fields(answer: HttpAnswer) -> tuple[str, str, dict]:
    """(status, message, json) of a StarRocks HTTP answer, whichever shape it has: a BE's `Status`/`Message`
    (be `StreamLoadContext`), an FE's `TransactionResult` (`Status`/`Message`) or `RestBaseResult`
    (`status`/`msg`/`message`)."""
    result = answer.json() or {}
    status = str(result.get("Status") or result.get("status") or "")
    message = str(result.get("Message") or result.get("msg") or result.get("message") or "")
    if not result:
        message = answer.snippet()
    return status, message, result


def refused_credentials(answer: HttpAnswer, what: str) -> ConfigError:
    """The ConfigError for an FE's 401/403 (fe `RestBaseAction`: a wrong password, or a missing privilege)."""
    _, message, _ = answer_fields(answer)
    detail = f": {message.rstrip('. ')}" if message else ""
    if "privilege" in message.lower():
        return ConfigError(
            f"StarRocks at {answer.origin} refused {what} (HTTP {answer.status}){detail}. Grant the user INSERT "
            "on the table (or its database): GRANT INSERT ON ALL TABLES IN DATABASE <db> TO USER <user>."
        )
    return ConfigError(
        f"StarRocks at {answer.origin} refused the credentials for {what} (HTTP {answer.status}){detail}. "
        "Check the username and password, and that the user has the INSERT privilege on the table."
    )


def dropped_credentials(origin: str, what: str) -> ConfigError:
    return ConfigError(
        f"The StarRocks node at {origin} received {what} without credentials ('no valid Basic "
        "authorization'). The connector sends them on every hop, so something between it and StarRocks "
        "(a proxy or load balancer) dropped the Authorization header on a redirect; let that header through."
    )


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
        token = base64.b64encode(f"{config.username}:{config.password}".encode()).decode()
        register_secret(token)  # the Basic token carries the password: never printable either
        addresses = config.load_urls or [f"{config.host}:{config.http_port}"]
        self._endpoints = [Endpoint.parse(a, scheme) for a in addresses]
        # https `load_urls` entries are verified with the same CA even when `ssl` (the FE's TLS) is off. The
        # context is built now when an endpoint needs it (a bad CA fails the sync before it reads), else only
        # if a redirect leads to https: loading the CA store is about 25 ms of everyone's start-up.
        context = functools.partial(verifying_context, config)
        tls = context() if any(endpoint.scheme == "https" for endpoint in self._endpoints) else context
        self.transport = HttpTransport(f"Basic {token}", tls, tls_requested=config.ssl)
        self._fe = Endpoint(scheme, config.host, config.http_port)
        self._next_endpoint = 0
        self._base_headers = self._static_headers()

    @property
    def fe_endpoint(self) -> Endpoint:
        return self._fe

    @property
    def endpoint(self) -> Endpoint:
        """The `load_urls` entry (or the FE) loads go to now; a transport failure moves to the next one."""
        return self._endpoints[self._next_endpoint % len(self._endpoints)]

    def load_headers(self, request: LoadRequest) -> dict[str, str]:
        """Every header of a Stream Load of `request`: static ones, the table's extras, the label."""
        return {**self._base_headers, **request.headers, "label": request.label}

    def encode(self, body: bytes) -> bytes:
        return _compress(body, self._config.compression)

    def _static_headers(self) -> dict[str, str]:
        config = self._config
        headers = {
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
        slow_downs = 0
        versions_waited = 0.0
        last_error = "no attempt made"
        while True:
            attempts += 1
            endpoint = self.endpoint
            where = f"{request.database}.{request.table} label={request.label}"
            try:
                answer = self.transport.request(
                    "PUT", endpoint, path, headers, body, timeout=self._config.load_timeout_seconds
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
                if kind == "slow_down":
                    delay = versions_delay(slow_downs)
                    slow_downs += 1
                    versions_waited += delay
                    if versions_waited > VERSIONS_MAX_WAIT_SECONDS:
                        raise TransientError(
                            f"StarRocks kept refusing loads into {request.database}.{request.table} for "
                            f"{versions_waited:.0f}s while compaction caught up (too many versions or too "
                            f"large a compaction score). Last answer: {last_error}"
                        )
                    logger.warning(
                        "Stream Load %s: %s; waiting %.1fs for compaction", where, last_error, delay
                    )
                    time.sleep(delay)
                    attempts -= 1  # waiting for compaction does not use up the retries
                    continue
            if attempts > self._config.max_retries:
                raise TransientError(
                    f"Stream Load into {request.database}.{request.table} failed after {attempts} attempts "
                    f"(label {request.label}); last error: {last_error}"
                )
            time.sleep(backoff_delay(attempts))

    def _interpret(
        self, request: LoadRequest, answer: HttpAnswer, attempts: int, started: float, endpoint: Endpoint
    ) -> LoadResult | tuple[str, str]:
        """A LoadResult when committed; else (kind, message) with kind "retry" or "slow_down"; raises for good."""
        table = f"{request.database}.{request.table}"
        if answer.status in (401, 403):
            raise refused_credentials(answer, f"the Stream Load into {table}")
        status, message, result = answer_fields(answer)
        if answer.status != 200:
            return "retry", f"HTTP {answer.status} from {answer.origin}: {answer.snippet()}"
        if not result:
            return "retry", f"unreadable answer from {answer.origin}: {answer.snippet()}"
        lowered = message.lower()
        if status == "Success":
            return self._result(
                request, status, _int(result, "NumberLoadedRows"), attempts, started, endpoint
            )
        if status == "Publish Timeout":
            # Committed; it becomes visible once the BEs publish. Reloading would duplicate it.
            return self._result(
                request, status, _int(result, "NumberLoadedRows"), attempts, started, endpoint
            )
        if status == "Label Already Exists":
            existing = str(result.get("ExistingJobStatus", ""))
            if existing == "FINISHED":
                return self._result(request, status, request.rows, attempts, started, endpoint)
            state = self.settled_state(request.database, request.label)
            if state in COMMITTED_STATES:
                return self._result(request, state, request.rows, attempts, started, endpoint)
            return "retry", f"label {request.label} exists in state {state or existing}; loading again"
        if NO_CREDENTIALS_MARKER in lowered:
            raise dropped_credentials(answer.origin, f"the Stream Load into {table}")
        if is_slow_down(message):
            return "slow_down", message
        if "access denied" in lowered:
            raise ConfigError(
                f"StarRocks refused the Stream Load into {table}: {message.rstrip('. ')}. "
                "Grant the user INSERT on that table (or database)."
            )
        if status.upper() == "FAILED":
            # The FE refused before redirecting (fe `LoadAction`: a DdlException answered as HTTP 200).
            if "100-continue" in lowered:
                raise ConfigError(
                    f"The FE at {answer.origin} says the Stream Load had no 'Expect: 100-continue' header "
                    f"({message}). The connector always sends it: a proxy in between removes it; let it through."
                )
            return "retry", f"the FE at {answer.origin} refused the Stream Load: {message}"
        filtered = _int(result, "NumberFilteredRows")
        if filtered or "filtered" in lowered:
            raise self.rejected_rows(request, message, str(result.get("ErrorURL") or ""), filtered)
        return "retry", f"Status {status or '?'} from {answer.origin}: {message}"

    def rejected_rows(
        self, request: LoadRequest, message: str, error_url: str, filtered: int = 0
    ) -> LoadFailedError:
        """The data error for rows StarRocks filtered out, quoting the first rejected rows from the ErrorURL."""
        count = f"{filtered} row(s)" if filtered else "rows"
        return LoadFailedError(
            f"StarRocks rejected {count} of a load into {request.database}.{request.table} "
            f"(label {request.label}): {message}. First rejected rows: {self.error_log(error_url)}"
        )

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
        """The label's state from the FE (VISIBLE, COMMITTED, PREPARE, PREPARED, ABORTED, UNKNOWN); "" if the
        FE can't say. A follower FE redirects this to the leader (fe `GetStreamLoadState.redirectToLeader`)."""
        path = f"/api/{_path_part(database)}/get_load_state?{urlencode({'label': label})}"
        answer = self.transport.request("GET", self._fe, path, timeout=STATE_TIMEOUT_SECONDS)
        if answer.status in (401, 403):
            raise refused_credentials(answer, f"get_load_state in {database}")
        payload = answer.json() if answer.status == 200 else None
        if not payload:
            return ""
        for key in ("state", "data"):
            value = payload.get(key)
            if isinstance(value, str) and value.upper() not in ("OK", "SUCCESS"):
                return value.upper()
            if isinstance(value, dict) and isinstance(value.get("state"), str):
                return value["state"].upper()
        return ""

    def settled_state(self, database: str, label: str, wait: float = LABEL_WAIT_SECONDS) -> str:
        """Poll the label until it is no longer in progress (or `wait` runs out); "" if the FE can't say."""
        deadline = time.monotonic() + wait
        while True:
            try:
                state = self.load_state(database, label)
            except (HopError, RedirectError) as exc:
                logger.warning("get_load_state for label %s failed: %s", label, exc)
                return ""
            if state not in IN_PROGRESS_STATES or time.monotonic() > deadline:
                return state
            time.sleep(LABEL_POLL_SECONDS)

    def error_log(self, url: str) -> str:
        """The first lines of a load's ErrorURL. Sent without credentials: the BE's error log needs none
        (be `DownloadAction::handle_error_log`), and the ErrorURL is plain http:// (be `fragment_mgr.cpp`)."""
        if not url:
            return "(no ErrorURL)"
        try:
            answer = self.transport.get_url(url, credentials=False)
        except (HopError, RedirectError) as exc:
            return f"(could not read {url}: {exc})"
        if answer.status != 200:
            return f"(could not read {url}: HTTP {answer.status})"
        lines = answer.body.decode("utf-8", "replace").splitlines()[:ERROR_LOG_LINES]
        return " | ".join(lines) or "(empty error log)"

    def close(self) -> None:
        """Nothing to release: every request opens and closes its own connection."""


def _int(result: dict, key: str) -> int:
    try:
        return int(result.get(key) or 0)
    except (TypeError, ValueError):
        return 0


def _path_part(name: str) -> str:
    return quote(name, safe="")


def _compress(body: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip.compress(body, compresslevel=1)
    if compression == "lz4_frame":
        import lz4.frame

        return lz4.frame.compress(body)
    return body


def backoff_delay(attempt: int) -> float:
    """Exponential backoff with full jitter."""
    return random.uniform(0, min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt))
