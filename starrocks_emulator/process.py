"""`EmulatorProcess`: the emulator as a child process on free ports, for tests, benchmarks and the demo.

    with EmulatorProcess(frontends=2, backends=2) as emu:   # start() waits for READY
        emu.host, emu.query_port, emu.http_port, emu.be_http_port   # the leader FE's and the first BE's
        emu.leader, emu.follower, emu.frontends, emu.backends       # topology.Node of every node
        emu.set_fault("http_500", count=2, be=2); emu.clear_faults(); emu.stats()
        emu.restart()                          # same ports, same data_dir (data, labels, versions kept)

The child is `python -m starrocks_emulator ...`; it binds free ports and prints `READY {json}` once every port
listens (a restart asks for the same ports again). Its stderr (one line per request) goes to a log file
(`log_path`) so a chatty child can never block on a full pipe. `stop()` sends SIGTERM, then SIGKILL after a grace period; every process started here is also
stopped at interpreter exit.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import weakref
from pathlib import Path
from typing import Any

from starrocks_emulator.topology import Node

PROJECT_ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 60.0
STOP_GRACE_S = 5.0
_LIVE: weakref.WeakSet[EmulatorProcess] = weakref.WeakSet()


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM it when its parent dies, so a test run or harness that
    is killed (a timeout's SIGKILL) cannot leave emulators running. Linux sends it when the *thread* that
    started the child ends, so start emulators from a thread that outlives them (all callers use the main one).
    Elsewhere than Linux this does nothing."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


PR_SET_PDEATHSIG = 1


def _drain(stream: Any) -> None:
    """Keep reading the child's stdout after READY so it can never block on a full pipe."""
    try:
        while stream.read(65536):
            pass
    except (OSError, ValueError):
        pass


class EmulatorError(RuntimeError):
    """The emulator process could not start or answer."""


class EmulatorProcess:
    def __init__(
        self,
        data_dir: str | None = None,
        root_password: str = "",
        tablet_max_versions: int = 1000,
        compaction_interval_seconds: float | None = None,
        compaction_versions_per_second: float | None = None,
        compaction_stopped: bool = False,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        host: str = "127.0.0.1",
        log_path: str | None = None,
        frontends: int = 1,
        backends: int = 1,
        starrocks_version: str | None = None,
        run_mode: str | None = None,
        default_replication_num: int | None = None,
    ) -> None:
        self.frontend_count, self.backend_count = frontends, backends
        self.starrocks_version, self.run_mode = starrocks_version, run_mode
        self.frontends: list[Node] = []
        self.backends: list[Node] = []
        self.data_dir = data_dir
        self.root_password = root_password
        self.tablet_max_versions = tablet_max_versions
        self.compaction_interval_seconds = compaction_interval_seconds
        self.compaction_versions_per_second = compaction_versions_per_second
        self.compaction_stopped = compaction_stopped
        self.tls_cert, self.tls_key = tls_cert, tls_key
        self.host = host
        self.query_port = self.http_port = self.be_http_port = 0
        self.log_path = log_path
        self.default_replication_num = default_replication_num  # --default-replication-num (fe_config.py)
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None

    @property
    def scheme(self) -> str:
        """Of the FE HTTP ports (BE HTTP ports are always plain, see cluster.py)."""
        return "https" if self.tls_cert else "http"

    @property
    def leader(self) -> Node:
        return next(fe for fe in self.frontends if fe.leader)

    @property
    def follower(self) -> Node:
        """The first follower FE (the cluster needs frontends >= 2)."""
        followers = [fe for fe in self.frontends if not fe.leader]
        if not followers:
            raise EmulatorError("this emulator runs a single FE: start it with frontends=2 or more")
        return followers[0]

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _command(self) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "starrocks_emulator",
            "--host",
            self.host,
            "--tablet-max-versions",
            str(self.tablet_max_versions),
        ]
        if (self.frontend_count, self.backend_count) != (1, 1):
            command += ["--frontends", str(self.frontend_count), "--backends", str(self.backend_count)]
        if self.frontends and (self.frontend_count, self.backend_count) == (1, 1):  # a restart: same ports
            command += ["--http-port", str(self.http_port), "--query-port", str(self.query_port)]
            command += ["--be-http-port", str(self.be_http_port)]
            if self.backends[0].https_port:
                command += ["--be-https-ports", str(self.backends[0].https_port)]
        elif self.frontends:
            command += ["--fe-http-ports", ",".join(str(fe.http_port) for fe in self.frontends)]
            command += ["--fe-query-ports", ",".join(str(fe.query_port) for fe in self.frontends)]
            command += ["--be-http-ports", ",".join(str(be.http_port) for be in self.backends)]
            if any(be.https_port for be in self.backends):
                command += ["--be-https-ports", ",".join(str(be.https_port) for be in self.backends)]
        if self.starrocks_version:
            command += ["--starrocks-version", self.starrocks_version]
        if self.run_mode:
            command += ["--run-mode", self.run_mode]
        if self.data_dir:
            command += ["--data-dir", self.data_dir]
        if self.compaction_interval_seconds:
            command += ["--compaction-interval-seconds", str(self.compaction_interval_seconds)]
        if self.compaction_versions_per_second is not None:
            command += ["--compaction-versions-per-second", str(self.compaction_versions_per_second)]
        if self.compaction_stopped:
            command.append("--compaction-stopped")
        if self.tls_cert and self.tls_key:
            command += ["--tls-cert", self.tls_cert, "--tls-key", self.tls_key]
        if self.default_replication_num is not None:
            command += ["--default-replication-num", str(self.default_replication_num)]
        return command

    def start(self) -> EmulatorProcess:
        if self._proc is not None and self._proc.poll() is None:
            return self
        if self.log_path is None:
            handle, self.log_path = tempfile.mkstemp(prefix="starrocks_emulator_", suffix=".log")
            os.close(handle)
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the child
        env = {**os.environ, "STARROCKS_EMULATOR_ROOT_PASSWORD": self.root_password}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
        self._proc = subprocess.Popen(
            self._command(),
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        _LIVE.add(self)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        stdout = self._proc.stdout
        ready, _, _ = select.select([stdout], [], [], START_TIMEOUT_S)
        line = stdout.readline().decode() if ready else ""
        if not line.startswith("READY "):
            self.stop()
            raise EmulatorError(f"emulator did not start: {line!r}; log: {self.log_tail()}")
        threading.Thread(target=_drain, args=(stdout,), name="emulator-stdout", daemon=True).start()
        info = json.loads(line[6:])
        self.query_port, self.http_port, self.be_http_port = (
            info["query_port"],
            info["http_port"],
            info["be_http_port"],
        )
        host = info["host"]
        single_fe = {"id": 1, "leader": True, "http_port": self.http_port, "query_port": self.query_port}
        self.frontends = [
            Node("FE", fe["id"], host, fe["http_port"], fe["query_port"], leader=fe["leader"])
            for fe in info.get("frontends", [single_fe])  # an emulator from before clusters: one FE, one BE
        ]
        self.backends = [
            Node("BE", be["id"], host, be["http_port"], https_port=be.get("https_port", 0))
            for be in info.get("backends", [{"id": 1, "http_port": self.be_http_port}])
        ]
        ports = [p for fe in self.frontends for p in (fe.http_port, fe.query_port)]
        ports += [p for be in self.backends for p in (be.http_port, be.https_port) if p]
        for port in ports:
            while True:
                try:
                    with socket.create_connection((self.host, port), timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise EmulatorError(f"port {port} does not answer; log: {self.log_tail()}") from None
                    time.sleep(0.05)

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path or not os.path.exists(self.log_path):
            return ""
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_GRACE_S)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        _LIVE.discard(self)

    def kill(self) -> None:
        """SIGKILL, no goodbye: what a crash looks like (data_dir must still reopen)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=STOP_GRACE_S)
        self.stop()

    def restart(self) -> EmulatorProcess:
        self.stop()
        return self.start()

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ control endpoints
    def _request(self, path: str, payload: dict | None = None) -> dict:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            f"{self.scheme}://{self.host}:{self.http_port}{path}",
            data=data,
            method="GET" if data is None else "POST",
            headers={"Content-Type": "application/json"},
        )
        context = None
        if self.scheme == "https":
            import ssl

            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            return json.loads(response.read())

    def stats(self) -> dict:
        return self._request("/_emulator/stats")

    def set_fault(self, name: str, **params: Any) -> dict:
        return self._request("/_emulator/faults", {"fault": name, **params})

    def clear_faults(self) -> dict:
        return self._request("/_emulator/faults", {"clear": True})


@atexit.register
def _stop_all() -> None:
    for emulator in list(_LIVE):
        emulator.stop()
