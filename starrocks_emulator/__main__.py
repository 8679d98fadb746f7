"""CLI of the StarRocks emulator.

Serve (issue 4):
    python -m starrocks_emulator --host 127.0.0.1 --query-port P --http-port H
        --be-http-port B [--data-dir DIR] [--root-password PW] [--tablet-max-versions 1000]
        [--compaction-interval-seconds S [--compaction-versions-per-second R] [--compaction-stopped]]
        [--tls-cert CERT --tls-key KEY]
Ports default to 0 (any free port). Once every port listens it prints one line `READY {json}` on stdout
(the actual ports) and then logs one line per request on stderr until SIGTERM / SIGINT.

Control a running emulator:
    python -m starrocks_emulator fault --http-port H NAME [--count N] [--seconds S]
        [--host-param HOST] [--off]
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

ROOT_PASSWORD_ENV = "STARROCKS_EMULATOR_ROOT_PASSWORD"


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m starrocks_emulator",
        description="A StarRocks emulator: MySQL protocol, Stream Load, versions.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--query-port", type=int, default=0)
    parser.add_argument("--http-port", type=int, default=0)
    parser.add_argument("--be-http-port", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="DuckDB file lives here; in memory when absent")
    parser.add_argument("--root-password", default=None, help=f"default: ${ROOT_PASSWORD_ENV} or empty")
    parser.add_argument("--tablet-max-versions", type=int, default=1000)
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


def serve(argv: list[str]) -> int:
    args = _serve_parser().parse_args(argv)
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
        compaction_versions_per_second=args.compaction_versions_per_second,
        compaction_stopped=args.compaction_stopped,
    )
    server = EmulatorServer(
        engine,
        args.host,
        args.query_port,
        args.http_port,
        args.be_http_port,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
    )
    server.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    ready = {
        "host": server.advertised_host,
        "query_port": server.query_port,
        "http_port": server.http_port,
        "be_http_port": server.be_http_port,
        "pid": os.getpid(),
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
        for key, value in (("count", args.count), ("seconds", args.seconds), ("host", args.fault_host)):
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
