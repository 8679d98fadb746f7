"""Instructions per record of the writer's loop and of the parse floor, under callgrind: figures that do not
depend on how busy the machine is.

Usage: `.venv/bin/python bench/instructions.py [--records 100000] [--general]` (needs `valgrind`).

It writes the `bulk` input (bench/datagen.py, the benchmark's seed) for N and 2N records, and runs each under
`valgrind --tool=callgrind` in a child process: `Writer.run` on it with every load answered at once (no server:
the Writer `unit_tests/perf_shape.py` builds), and the parse floor's loop (bench/baselines.py). The 2N run less
the N run, over N, is the cost of one record, without start-up. `--general` turns the typed path
(destination_starrocks/typed_records.py) off, to compare. Kernel time (page faults) is not counted.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench import datagen  # noqa: E402

CHILD = """
import io, os, sys
sys.path[:0] = [{root!r}, {unit_tests!r}]
from pathlib import Path
mode, path = sys.argv[1], sys.argv[2]
if mode == "floor":
    from bench.baselines import parse_floor
    parse_floor(Path(path))
else:
    import perf_shape
    from bench import datagen
    from destination_starrocks.messages import Output
    from destination_starrocks.spec import StarRocksConfig
    from destination_starrocks.writer import Writer
    target = perf_shape._Target(datagen.WorkloadShape("bulk", 1))
    target.catalog_generations = True
    writer = Writer(
        StarRocksConfig(host="localhost"), [target], perf_shape.answer_at_once, perf_shape._NoTables(), Output(io.BytesIO())
    )
    if mode == "general":
        for runtime in writer._streams.values():
            runtime.typed = None
    with open(path, "rb") as lines:
        writer.run(lines)
"""


def _instructions(mode: str, path: Path) -> int:
    code = CHILD.format(root=str(ROOT), unit_tests=str(ROOT / "unit_tests"))
    run = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-c",
            code,
            mode,
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", run.stderr)
    if found is None:
        raise RuntimeError(f"callgrind printed no total: {run.stderr[-500:]}")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--general", action="store_true", help="the writer without its typed path")
    args = parser.parse_args()
    n = args.records
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for count in (n, 2 * n):
            paths[count] = Path(tmp) / f"bulk{count}.jsonl"
            datagen.write_airbyte_input(datagen.WorkloadShape("bulk", count, state_every=1000), paths[count])
        writer_mode = "general" if args.general else "writer"
        for mode in (writer_mode, "floor"):
            per_record = (_instructions(mode, paths[2 * n]) - _instructions(mode, paths[n])) / n
            print(f"{mode}: {per_record:,.0f} instructions per record")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
