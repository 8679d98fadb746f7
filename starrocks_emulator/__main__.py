"""CLI of the StarRocks emulator.

Serve:
    python -m starrocks_emulator --host 127.0.0.1 [--frontends 1] [--backends 1]
        [--query-port P --http-port H --be-http-port B]          # the first (leader) FE, the first BE
        [--fe-http-ports H1,H2 --fe-query-ports P1,P2 --be-http-ports B1,B2 --be-https-ports S1,S2]
        [--starrocks-version 3.3.5] [--run-mode shared_nothing|shared_data] [--default-replication-num 1]
        [--data-dir DIR] [--root-password PW] [--tablet-max-versions 1000]
        [--compaction-interval-seconds S [--compaction-versions-per-second R] [--compaction-stopped]]
        [--tls-cert CERT --tls-key KEY]
`--frontends N` runs a leader FE and N-1 followers, `--backends M` M BEs (cluster.py). Ports default to 0
(any free port). Once every port listens it prints one line `READY {json}` on stdout (host, the first FE's
and BE's ports under the old keys, every node under `frontends` / `backends`, the version and run mode) and
then logs one line per request on stderr until SIGTERM / SIGINT.

Control a running emulator:
    python -m starrocks_emulator fault --http-port H NAME [--count N] [--seconds S]
        [--host-param HOST] [--be ID] [--off]
    python -m starrocks_emulator fault --http-port H --clear
    python -m starrocks_emulator stats --http-port H
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import urllib.request

from starrocks_emulator.faults import FAULTS
from starrocks_emulator.version import DEFAULT_VERSION, RUN_MODES

ROOT_PASSWORD_ENV = "STARROCKS_EMULATOR_ROOT_PASSWORD"


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m starrocks_emulator",
        description="A StarRocks emulator: MySQL protocol, Stream Load, versions.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--frontends", type=int, default=1, help="FEs: one leader, the rest followers")
    parser.add_argument("--backends", type=int, default=1, help="BEs")
    parser.add_argument("--query-port", type=int, default=0, help="the first (leader) FE's query port")
    parser.add_argument("--http-port", type=int, default=0, help="the first (leader) FE's HTTP port")
    parser.add_argument("--be-http-port", type=int, default=0, help="the first BE's HTTP port")
    for name in ("fe-http-ports", "fe-query-ports", "be-http-ports", "be-https-ports"):
        parser.add_argument(f"--{name}", type=_port_list, default=None, help="comma-separated, one per node")
    parser.add_argument("--starrocks-version", default=DEFAULT_VERSION, help="the release to play")
    parser.add_argument("--run-mode", default="shared_nothing", choices=RUN_MODES)
    parser.add_argument("--data-dir", default=None, help="DuckDB file lives here; in memory when absent")
    parser.add_argument("--root-password", default=None, help=f"default: ${ROOT_PASSWORD_ENV} or empty")
    parser.add_argument("--tablet-max-versions", type=int, default=1000)
    parser.add_argument("--default-replication-num", type=int, default=1, help="1 as allin1, 3 as self-built")
    parser.add_argument(
        "--compaction-interval-seconds", type=float, default=None, help="compact every S s; none: never"
    )
    parser.add_argument(
        "--compaction-versions-per-second",
        type=float,
        default=None,
        help="slow compaction: a tablet's version count falls by at most R per second (default: all at once)",
    )
    parser.add_argument(
        "--compaction-stopped",
        action="store_true",
        help="start with compaction off (BE config max_compaction_concurrency = 0; UPDATE information_schema."
        "be_configs turns it back on)",
    )
    parser.add_argument("--tls-cert", default=None)
    parser.add_argument("--tls-key", default=None)
    parser.add_argument("--log-level", default="INFO")
    return parser


def _port_list(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def _first(ports: list[int] | None, first: int) -> list[int]:
    """A port list whose first entry the single-node flag sets (when the list does not)."""
    ports = list(ports or [])
    if first and not ports:
        ports = [first]
    return ports


def serve(argv: list[str]) -> int:
    parser = _serve_parser()
    args = parser.parse_args(argv)
    from starrocks_emulator.version import configure

    try:
        release = configure(args.starrocks_version, args.run_mode)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    from starrocks_emulator.cluster import EmulatorServer
    from starrocks_emulator.storage.engine import Engine

    password = args.root_password if args.root_password is not None else os.environ.get(ROOT_PASSWORD_ENV, "")
    engine = Engine(
        args.data_dir,
        root_password=password,
        tablet_max_versions=args.tablet_max_versions,
        compaction_interval_seconds=args.compaction_interval_seconds,
        default_replication_num=args.default_replication_num,
        compaction_versions_per_second=args.compaction_versions_per_second,
        compaction_stopped=args.compaction_stopped,
    )
    server = EmulatorServer(
        engine,
        args.host,
        frontends=args.frontends,
        backends=args.backends,
        fe_http_ports=_first(args.fe_http_ports, args.http_port),
        fe_query_ports=_first(args.fe_query_ports, args.query_port),
        be_http_ports=_first(args.be_http_ports, args.be_http_port),
        be_https_ports=args.be_https_ports,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
    )
    server.start()
    topology = server.topology
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    ready = {
        "host": server.advertised_host,
        "query_port": topology.leader.query_port,
        "http_port": topology.leader.http_port,
        "be_http_port": topology.backends[0].http_port,
        "pid": os.getpid(),
        **server.describe(),
        "starrocks_version": release.version,
        "run_mode": release.run_mode,
    }
    print("READY " + json.dumps(ready), flush=True)
    stop.wait()
    logging.getLogger("starrocks_emulator").info("stopping")
    server.stop()
    return 0


def _control(host: str, port: int, path: str, payload: dict | None = None) -> dict:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        f"http://{host}:{port}{path}",
        data=data,
        method="POST" if data else "GET",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def control(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m starrocks_emulator")
    commands = parser.add_subparsers(dest="command", required=True)
    fault = commands.add_parser("fault", help="switch a fault on (or --off / --clear)")
    fault.add_argument("name", nargs="?", choices=sorted(FAULTS))
    fault.add_argument("--count", type=int)
    fault.add_argument("--seconds", type=float)
    fault.add_argument("--host-param", dest="fault_host", help="redirect_host: the host the FE redirects to")
    fault.add_argument("--be", type=int, help="a fault of a BE: only this BE (1, 2, ...); default every BE")
    fault.add_argument("--off", action="store_true", help="switch this fault off")
    fault.add_argument("--clear", action="store_true", help="switch every fault off")
    stats = commands.add_parser("stats", help="print GET /_emulator/stats")
    for sub in (fault, stats):
        sub.add_argument("--host", default="127.0.0.1")
        sub.add_argument("--http-port", type=int, required=True)
    args = parser.parse_args(argv)
    if args.command == "stats":
        result = _control(args.host, args.http_port, "/_emulator/stats")
    elif args.clear:
        result = _control(args.host, args.http_port, "/_emulator/faults", {"clear": True})
    else:
        if not args.name:
            parser.error("fault needs a NAME or --clear")
        payload: dict = {"fault": args.name}
        options = (
            ("count", args.count),
            ("seconds", args.seconds),
            ("host", args.fault_host),
            ("be", args.be),
        )
        for key, value in options:
            if value is not None:
                payload[key] = value
        if args.off:
            payload["off"] = True
        result = _control(args.host, args.http_port, "/_emulator/faults", payload)
    print(json.dumps(result, indent=2, default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("fault", "stats"):
        return control(argv)
    return serve(argv)


if __name__ == "__main__":
    sys.exit(main())
