"""`check`'s last three steps: where a Stream Load goes, whether one lands, whether its versions can be read.

- `redirect_step`: a StarRocks FE answers a Stream Load with a 307 to a BE before it reads the body (fe
  `LoadAction`, then `RestBaseAction.redirectTo`: `Location: http://<BE host>:<be_http_port>/...`, the host as
  the BE registered itself, often an internal IP or a container name). The 307 is read without following it
  and without sending a body (`HttpTransport.first_answer`), once per live BE since the FE picks BEs in turn
  (`seqChooseBackendIds`), and a TCP connection is tried to every address it names. With `load_urls` the FE's
  redirect is not used: those endpoints are tried instead.
- `probe_load_step`: one row through the loader a sync uses (labels, headers, compression, answers; the
  transaction interface when the sync would use it: `server_info.uses_transactions`), then `get_load_state` must
  say VISIBLE: the connector asks it whenever a load's answer was lost.
- `pressure_step`: version_pressure.py's probes on the probe table (its version count, `tablet_max_versions`).
  A cluster whose pressure cannot be read still loads (a sync then reacts to "too many versions" only), so that
  is a warning with its fix, not a failure.
Each returns the step's result (a Caveat for a warning) or raises StepFailed with the fix.
"""

from __future__ import annotations

import time
from urllib.parse import quote, urlsplit

from destination_starrocks.check_report import Caveat, StepFailed
from destination_starrocks.errors import ConfigError, ConnectorError
from destination_starrocks.http_transport import (
    DEFAULT_PORTS,
    REDIRECT_STATUSES,
    Endpoint,
    HopError,
    RedirectError,
    connect_error,
)
from destination_starrocks.privilege_fix import refusal_text
from destination_starrocks.server_info import ServerInfo, uses_transactions
from destination_starrocks.stream_load import LoadRequest, StreamLoader, answer_fields, refused_credentials
from destination_starrocks.transaction_load import TransactionLoader
from destination_starrocks.version_pressure import (
    COMPACTION_SCORE,
    Sql,
    TableProbe,
    read_score_limit,
    read_table,
    read_version_limit,
)

CONNECT_TIMEOUT_SECONDS = 3.0
REDIRECT_WAIT_SECONDS = 5.0
VISIBLE_WAIT_SECONDS = 5.0
STATE_POLL_SECONDS = 0.1
MAX_REDIRECT_PEEKS = 8
PROBE_ROW = b'[{"id":1,"note":"check"}]'
LOAD_URLS_FIX = (
    "set `load_urls` to BE (or FE) HTTP addresses that are reachable from here, e.g. the BEs' public addresses "
    "(be_http_port, 8040 by default), a proxy in front of them, or host.docker.internal:8040 from a container"
)


def redirect_step(loader: StreamLoader, database: str, table: str, live_backends: int | None) -> str | Caveat:
    config = loader.config
    if config.load_urls:
        return _load_urls(loader)
    fe = loader.fe_endpoint
    path = f"/api/{quote(database, safe='')}/{quote(table, safe='')}/_stream_load"
    headers = loader.load_headers(
        LoadRequest(database, table, f"{config.label_prefix}-check-redirect", b"", 1)
    )
    length = len(loader.encode(PROBE_ROW))
    targets: dict[str, Endpoint] = {}  # the BE addresses the FE named, in the order it named them
    for _ in range(min(max(live_backends or 1, 1), MAX_REDIRECT_PEEKS)):
        try:
            answer = loader.transport.first_answer("PUT", fe, path, headers, length, REDIRECT_WAIT_SECONDS)
        except HopError as exc:
            raise StepFailed(
                f"cannot reach the FE's HTTP port at {fe.url}: {type(exc.cause).__name__}: {exc.cause}",
                "Check `http_port` (StarRocks' http_port, 8030 by default) and that this machine may reach it; "
                "with SSL/TLS on, the FE must serve HTTPS there.",
            ) from None
        if answer is None:
            raise StepFailed(
                f"{fe.url} did not answer a Stream Load's headers within {REDIRECT_WAIT_SECONDS:.0f} s",
                "Check that `http_port` is the HTTP port of a StarRocks FE (8030 by default).",
            )
        if answer.status == 100:
            return (
                f"{fe.url} took the Stream Load itself (100 Continue) instead of redirecting it: it is a BE or a "
                "proxy in front of the BEs, and loads go there"
            )
        if answer.status in (401, 403):
            raise StepFailed(
                refused_credentials(answer, f"a Stream Load into {database}.{table}").message,
                "Check the username and password, and that the user holds INSERT on the database's tables.",
            )
        if answer.status not in REDIRECT_STATUSES:
            _, message, _ = answer_fields(answer)
            fix = "Check that `http_port` is the HTTP port of a StarRocks FE (8030 by default)."
            if "backend" in message.lower():  # fe `LoadAction`: "No backend alive."
                fix = "Start the BEs: SHOW BACKENDS must list live ones."
            raise StepFailed(
                f"{fe.url} answered a Stream Load with HTTP {answer.status} instead of a redirect to a BE: {message}",
                fix,
            )
        target = _location(answer.headers.get("location", ""))
        targets.setdefault(str(target), target)
    reasons = {t.url: connect_error(t.host, t.port, CONNECT_TIMEOUT_SECONDS) for t in targets.values()}
    unreachable = {url: reason for url, reason in reasons.items() if reason}
    addresses = ", ".join(reasons)
    if unreachable:
        raise StepFailed(
            f"the FE at {fe.url} redirects Stream Loads to {addresses}; not reachable from here: "
            + "; ".join(f"{url} ({reason})" for url, reason in unreachable.items()),
            "That is the address each BE registered in the cluster (SHOW BACKENDS: Host, HttpPort), often an "
            f"internal IP or a container name. Make it reachable from where the connector runs, or {LOAD_URLS_FIX}.",
        )
    return f"the FE at {fe.url} redirects Stream Loads to {addresses}; reachable from here"


def _load_urls(loader: StreamLoader) -> str | Caveat:
    endpoints = [
        Endpoint.parse(url, "https" if loader.config.ssl else "http") for url in loader.config.load_urls
    ]
    reasons = {
        endpoint.url: connect_error(endpoint.host, endpoint.port, CONNECT_TIMEOUT_SECONDS)
        for endpoint in endpoints
    }
    reachable = [url for url, reason in reasons.items() if reason is None]
    failed = "; ".join(f"{url} ({reason})" for url, reason in reasons.items() if reason)
    if not reachable:
        raise StepFailed(
            f"no `load_urls` entry is reachable from here: {failed}", f"Correct `load_urls`: {LOAD_URLS_FIX}."
        )
    result = f"loads go to `load_urls` ({', '.join(reachable)} reachable from here), not to the FE's redirect"
    if failed:
        return Caveat(
            f"{result}; not reachable: {failed}",
            "Remove or correct the unreachable entries: a load tries the next entry only after one fails.",
        )
    return result


def _location(location: str) -> Endpoint:
    parts = urlsplit(location)
    if not parts.hostname:
        raise StepFailed(
            f"the FE redirected a Stream Load to an unusable location {location.split('?', 1)[0]!r}",
            "Check the BEs' registered addresses (SHOW BACKENDS), or set `load_urls`.",
        )
    scheme = parts.scheme or "http"
    return Endpoint(scheme, parts.hostname, parts.port or DEFAULT_PORTS.get(scheme, 80))


def probe_load_step(
    loader: StreamLoader, database: str, table: str, label: str, server: ServerInfo
) -> str | Caveat:
    request = LoadRequest(database, table, label, PROBE_ROW, 1)
    transactions = uses_transactions(loader.config, server)  # the interface a sync would load through
    how = (
        "through the transaction interface (begin, load, prepare, commit)" if transactions else "Stream Load"
    )
    try:
        if transactions:
            result = TransactionLoader(loader).send(request, commit=True)
            assert result is not None  # a commit always answers
        else:
            result = loader.load(request)
    except ConfigError as exc:
        raise StepFailed(
            f"StarRocks refused the one-row probe load: {exc.message}",
            "Change what StarRocks' answer names, then run the check again.",
        ) from None
    except ConnectorError as exc:
        text = exc.message
        if "HopError" in text or "Connection" in text or "timed out" in text:
            fix = f"If the address that failed is a BE the FE redirected to, {LOAD_URLS_FIX}."
        else:
            fix = (
                "Look for the label in the BE's log (be.INFO) and in information_schema.loads, check "
                "SHOW BACKENDS (Alive, disk space), and run the check again."
            )
        raise StepFailed(f"the one-row probe load failed: {text}", fix) from None
    deadline = time.monotonic() + VISIBLE_WAIT_SECONDS
    while (state := _state(loader, database, label)) == "COMMITTED" and time.monotonic() < deadline:
        time.sleep(STATE_POLL_SECONDS)
    done = (
        f"a one-row load by {how} into {database}.{table} (label {label}): {result.status} in "
        f"{result.seconds:.2f} s; get_load_state says {state or 'nothing'}"
    )
    if state == "VISIBLE":
        return done
    if state == "COMMITTED":
        return Caveat(
            f"{done} after {VISIBLE_WAIT_SECONDS:.0f} s (committed; the BEs have not published it yet)",
            "Nothing is lost: committed loads become visible once published. If loads stay COMMITTED, check "
            "the BEs' publish (SHOW PROC '/transactions') and their clocks.",
        )
    if not state:
        raise StepFailed(
            f"{done}: the FE's get_load_state did not answer",
            "Let GET /api/<db>/get_load_state through to the FE's HTTP port (a proxy may block it): the "
            "connector asks it whether a load whose answer was lost committed.",
        )
    raise StepFailed(
        done, "Look for the label in information_schema.loads and the BE's log, and run the check again."
    )


def _state(loader: StreamLoader, database: str, label: str) -> str:
    try:
        return loader.load_state(database, label)
    except (HopError, RedirectError):
        return ""


def pressure_step(sql: Sql, database: str, table: str, ceiling: float, identity: str) -> str | Caveat:
    if ceiling <= 0:
        return (
            "version_ceiling is 0: syncs do not read it, and slow down only when StarRocks answers "
            "'too many versions'"
        )
    limit = read_version_limit(sql)
    reading = read_table(sql, database, table, TableProbe(), limit, lambda: read_score_limit(sql))
    grant = f"GRANT OPERATE ON SYSTEM TO USER {identity}"
    if reading.versions is None:
        return Caveat(
            f"the probe table's version count is {refusal_text(reading.source)}; syncs slow a table down only "
            "once StarRocks answers a load with 'too many versions'",
            f"{grant} (StarRocks 3.x releases that ask OPERATE for information_schema.be_tablets), or upgrade to "
            "3.0.4 or later (information_schema.tables_config.TABLE_ID); or set `version_ceiling` to 0.",
        )
    result = (
        f"readable from {reading.source}: the probe table's {reading.kind} is {reading.versions:g} of "
        f"{reading.limit}; syncs keep each table under {ceiling * reading.limit:.0f} (version_ceiling {ceiling:g})"
    )
    if reading.kind != COMPACTION_SCORE and limit.source.startswith("default"):
        return Caveat(
            f"{result}; tablet_max_versions is StarRocks' {refusal_text(limit.source)}",
            f"Nothing, if the BEs keep the default tablet_max_versions (1000); else {grant}, so the connector "
            "reads the limit they enforce.",
        )
    return f"{result} (tablet_max_versions from {limit.source})"
