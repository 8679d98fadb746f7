"""The README's PyAirbyte example, run as written: PyAirbyte drives source-faker into this destination.

Contract: the python block between the README's `pyairbyte-example` markers runs unchanged, but for the
StarRocks ports (replaced with the emulator's), with PyAirbyte's own interpreter, from the checkout's root
and with AIRBYTE_OFFLINE_MODE=1 (as the README says, since this connector is not in Airbyte's registry); it
exits 0, its `check()` succeeds, and source-faker's three streams land as tables holding every record it read,
in few loads. PyAirbyte lives in `.demo/pyairbyte-venv` and source-faker in `.demo/faker-venv`, each created on
first use by demo/cached_venv.py (the demo's mechanism) and reused afterwards. PyAirbyte's project, cache and
temp directories are pointed at the test's tmp_path, so the checkout gets none of its files.

When the venvs cannot be created (no package index) this test FAILS, it does not skip: the README promises
the example works.

Cost: the first run installs PyAirbyte (measured 484 s, on 2 cores with a load average of 8; it pulls in
DuckDB, SQLAlchemy and Google Cloud clients) and source-faker (~40-85 s); later runs ~20-40 s.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from demo.cached_venv import PinnedVenv, environment
from demo.faker_source import FakerSource
from integration_tests.connector import connect

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DEMO_DIR = ROOT / ".demo"
PYAIRBYTE_PACKAGE = "airbyte"
# 0.71.3: the newest PyAirbyte release when this was written; Python 3.10-3.12.
PYAIRBYTE_VERSION = "0.71.3"
RUN_TIMEOUT_S = 300
# source-faker with `count` N: N users, N purchases, and always 100 products (demo/faker_source.py).
FAKER_STREAMS = ("users", "purchases", "products")


def readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    block = re.search(
        r"<!-- pyairbyte-example:start -->\n```python\n(.*?)```\n<!-- pyairbyte-example:end -->",
        text,
        re.DOTALL,
    )
    assert block, "README.md has no pyairbyte-example block"
    return block.group(1)


@pytest.fixture(scope="module")
def pyairbyte() -> PinnedVenv:
    FakerSource.ensure(DEMO_DIR)  # the example's source, shared with `make demo`
    return PinnedVenv(DEMO_DIR / "pyairbyte-venv", PYAIRBYTE_PACKAGE, PYAIRBYTE_VERSION).ensure()


@pytest.mark.timeout(1500)  # the first run installs PyAirbyte from the package index
def test_readme_pyairbyte_example_writes_source_faker_into_starrocks(
    pyairbyte: PinnedVenv, emulator, tmp_path: Path
) -> None:
    example = readme_example()
    assert '"query_port": 9030' in example and '"http_port": 8030' in example
    script = example.replace('"query_port": 9030', f'"query_port": {emulator.query_port}').replace(
        '"http_port": 8030', f'"http_port": {emulator.http_port}'
    )
    # What the README's example leaves in `result`, for the assertions below.
    script += "\nprint('PROCESSED', result.processed_records)\n"
    env = {
        **environment(),
        "AIRBYTE_OFFLINE_MODE": "1",
        "DO_NOT_TRACK": "1",
        "AIRBYTE_PROJECT_DIR": str(tmp_path / "project"),
        "AIRBYTE_CACHE_ROOT": str(tmp_path / "cache"),
        "AIRBYTE_TEMP_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [str(pyairbyte.python), "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    processed = int(re.search(r"^PROCESSED (\d+)$", result.stdout, re.MULTILINE)[1])
    counts = {}
    with connect(emulator) as conn, conn.cursor() as cursor:
        for stream in FAKER_STREAMS:
            cursor.execute(f"SELECT COUNT(*) FROM `airbyte`.`{stream}`")
            counts[stream] = cursor.fetchone()[0]
    assert counts["users"] == 1000 and counts["products"] == 100, counts
    assert counts["purchases"] > 0, counts
    assert sum(counts.values()) == processed, (counts, processed)
    loads = {stream: emulator.stats()["tables"][f"airbyte.{stream}"]["loads"] for stream in FAKER_STREAMS}
    assert all(1 <= n <= 3 for n in loads.values()), loads  # a thousand records are one load, not a thousand
    assert not os.path.exists(ROOT / ".cache"), "PyAirbyte wrote into the checkout"
