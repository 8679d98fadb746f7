"""Two revisions of the connector on the same `bulk` input, run by turns: a comparison a noisy machine can make.

Usage: `.venv/bin/python bench/alternate.py REV_A REV_B [--runs 5] [--records 1000000] [--output PATH]`.

On a shared 2-core machine one run's wall time moves by ±20% with its neighbours, so a change is judged by
alternating A, B, A, B... on one emulator and comparing medians (and each pair). Each revision's
`destination_starrocks` package is exported with `git archive` into a temporary directory, compiled to
bytecode (as `make bench` compiles the checkout's) and put first on the connector's PYTHONPATH; everything
else (the console script, the dependencies, the emulator) is this checkout's. Per run it records the
connector's wall time and its own user + system CPU (bench/measure.py), and prints the medians per revision
as JSON. The emulator's database is dropped between runs; one short sync warms it up first (bench/run.py
`warm_up`).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench import datagen  # noqa: E402
from bench.measure import run_measured  # noqa: E402
from bench.run import CONNECTOR, _drop_database, compile_package, connector_config, warm_up  # noqa: E402
from bench.workloads import PRESETS  # noqa: E402
from starrocks_emulator.process import EmulatorProcess  # noqa: E402

DATABASE = "bench_alternate"


def export_package(revision: str, into: Path) -> Path:
    """`destination_starrocks/` as it is at `revision`, under `into` (a directory to put on PYTHONPATH)."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, "destination_starrocks"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    compile_package(into / "destination_starrocks")
    return into


def _package_env(package_dir: Path) -> dict[str, str]:
    """The connector's environment, with `package_dir` first on its path; checked: a comparison of a tree with
    itself would look like a comparison of two."""
    path = os.pathsep.join(filter(None, [str(package_dir), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    imported = subprocess.run(
        [sys.executable, "-c", "import destination_starrocks; print(destination_starrocks.__file__)"],
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(imported).is_relative_to(package_dir):
        raise RuntimeError(f"the connector would import {imported}, not the tree in {package_dir}")
    return env


def run_once(
    emu: EmulatorProcess, argv: list[str], env: dict[str, str], input_path: Path, workdir: Path
) -> dict[str, float]:
    measured = run_measured(
        argv, input_path, workdir / "out", workdir / "err", timeout_s=600, env=env, cwd="/"
    )
    _drop_database(emu, DATABASE)
    if measured.returncode != 0:
        raise RuntimeError(f"the connector failed: {measured.stderr_tail(600)}")
    return {"wall_s": round(measured.wall_s, 3), "cpu_s": round(measured.cpu_s, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revisions", nargs=2, metavar="REV")
    parser.add_argument("--runs", type=int, default=5, help="runs of each revision")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--output", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    if args.revisions[0] == args.revisions[1]:
        parser.error("name two revisions (the same commit may be named twice, e.g. HEAD and its hash)")
    # `make bench`'s own bulk shape (STATE cadence, schema), at the size asked for.
    shape = dataclasses.replace(PRESETS["full"].shapes()["bulk"], records=args.records)
    runs: dict[str, list[dict[str, float]]] = {rev: [] for rev in args.revisions}
    with tempfile.TemporaryDirectory(prefix="alternate-") as tmp, EmulatorProcess() as emu:
        workdir = Path(tmp)
        input_path = workdir / "bulk.jsonl"
        datagen.write_airbyte_input(shape, input_path)
        config_path, catalog_path = workdir / "config.json", workdir / "catalog.json"
        config_path.write_bytes(orjson.dumps(connector_config(emu, DATABASE)))
        catalog_path.write_bytes(orjson.dumps(datagen.configured_catalog(shape)))
        argv = [str(CONNECTOR), "write", "--config", str(config_path), "--catalog", str(catalog_path)]
        envs = {
            rev: _package_env(export_package(rev, workdir / f"tree{i}"))
            for i, rev in enumerate(args.revisions)
        }
        warm_up(emu, shape, workdir, timeout_s=600)  # else the first revision's first run meets a cold server
        for _ in range(args.runs):
            for rev in args.revisions:
                runs[rev].append(run_once(emu, argv, envs[rev], input_path, workdir))
                print(f"{rev}: {runs[rev][-1]}", file=sys.stderr, flush=True)
    result: dict[str, Any] = {
        rev: {
            "runs": each,
            "median_wall_s": statistics.median(r["wall_s"] for r in each),
            "median_cpu_s": statistics.median(r["cpu_s"] for r in each),
        }
        for rev, each in runs.items()
    }
    result["records"] = args.records
    text = orjson.dumps(result, option=orjson.OPT_INDENT_2)
    if args.output:
        args.output.write_bytes(text + b"\n")
    print(text.decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
