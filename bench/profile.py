"""Where the time goes on `bulk`: py-spy samples the connector and the emulator during one run.

Usage: `.venv/bin/python bench/profile.py [--records 200000] [--out DIR]` (needs `py-spy` in .venv:
`.venv/bin/pip install py-spy`; it is a profiling tool, not a dependency of the connector or the benchmark).

It generates the `bulk` input (same seed as bench/run.py), starts the emulator, runs
`py-spy record --format raw -- destination-starrocks write ...` and, at the same time, `py-spy record --pid`
on the emulator, then prints for each process the functions with the most samples, inclusive and self.
Raw (collapsed-stack) files are kept in `--out` for flame graphs. The figures go to the docs'
performance section (docs/starrocks.md).
"""

from __future__ import annotations

import argparse
import collections
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench import datagen  # noqa: E402
from starrocks_emulator.process import EmulatorProcess  # noqa: E402

PY_SPY = Path(sys.executable).parent / "py-spy"
# The console script installed next to the interpreter running this (make bench: .venv/bin/python).
CONNECTOR = Path(sys.executable).parent / "destination-starrocks"


def summarize(raw_path: Path, top: int = 25) -> str:
    """Inclusive and self sample shares per function from a py-spy raw (collapsed stacks) file."""
    inclusive: collections.Counter[str] = collections.Counter()
    self_time: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw_path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [frame.split(":")[0] for frame in stack.split(";")]  # "func (file.py" without the line
        for frame in set(frames):
            inclusive[frame] += count
        self_time[frames[-1]] += count
    if not total:
        return "no samples"
    lines = [f"{total} samples", "inclusive:"]
    lines += [f"  {n / total * 100:5.1f}%  {frame})" for frame, n in inclusive.most_common(top)]
    lines.append("self:")
    lines += [f"  {n / total * 100:5.1f}%  {frame})" for frame, n in self_time.most_common(top)]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "profile")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    args = parser.parse_args()
    if not PY_SPY.exists():
        sys.exit(f"{PY_SPY} is missing: .venv/bin/pip install py-spy")
    args.out.mkdir(parents=True, exist_ok=True)
    shape = datagen.WorkloadShape("bulk", args.records)
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp, EmulatorProcess() as emu:
        workdir = Path(tmp)
        input_path = workdir / "bulk.jsonl"
        datagen.write_airbyte_input(shape, input_path)
        config = {
            "host": emu.host,
            "query_port": emu.query_port,
            "http_port": emu.http_port,
            "username": "root",
            "password": "",
            "database": "bench_profile",
        }
        (workdir / "config.json").write_bytes(orjson.dumps(config))
        (workdir / "catalog.json").write_bytes(orjson.dumps(datagen.configured_catalog(shape)))
        connector_raw = args.out / "connector.raw.txt"
        emulator_raw = args.out / "emulator.raw.txt"
        spy_emulator = subprocess.Popen(
            [str(PY_SPY), "record", "--format", "raw", "--rate", str(args.rate), "--output", str(emulator_raw),
             "--pid", str(emu.pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        with open(input_path, "rb") as stdin:
            subprocess.run(
                [str(PY_SPY), "record", "--format", "raw", "--rate", str(args.rate), "--output", str(connector_raw),
                 "--", str(CONNECTOR), "write", "--config", str(workdir / "config.json"),
                 "--catalog", str(workdir / "catalog.json")],
                stdin=stdin,
                stdout=subprocess.DEVNULL,
                check=False,
            )  # fmt: skip
        spy_emulator.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
        spy_emulator.wait(timeout=30)
        print(f"connector ({args.records:,} records):\n{summarize(connector_raw)}\n")
        print(f"emulator:\n{summarize(emulator_raw)}")
        print(f"\nraw stacks: {connector_raw}, {emulator_raw}; stats: {emu.stats()['tables']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
