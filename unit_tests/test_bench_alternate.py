"""bench/alternate.py: two revisions by turns, each run with its own package (a short run, no figure judged)."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import orjson
import pytest

from bench import alternate

ROOT = Path(__file__).resolve().parents[1]


def _head() -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()


def test_each_revision_runs_its_own_package_by_turns(tmp_path: Path) -> None:
    # HEAD named twice (a shallow clone has no other revision): two exported trees, runs taken by turns.
    output = tmp_path / "alternate.json"
    revisions = ["HEAD", _head()]
    assert alternate.main([*revisions, "--runs", "2", "--records", "300", "--output", str(output)]) == 0
    result = orjson.loads(output.read_bytes())
    assert result["records"] == 300
    for rev in revisions:
        assert len(result[rev]["runs"]) == 2
        assert all(run["wall_s"] > 0 and run["cpu_s"] > 0 for run in result[rev]["runs"])
        assert result[rev]["median_cpu_s"] > 0


def test_a_package_that_would_not_be_imported_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "not-a-tree"
    empty.mkdir()
    with pytest.raises(RuntimeError, match="would import"):
        alternate._package_env(empty)  # the installed package would be imported instead


def test_the_exported_package_is_the_revision_s(tmp_path: Path) -> None:
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    exported = alternate.export_package(head, tmp_path)
    committed = subprocess.run(
        ["git", "show", f"{head}:destination_starrocks/writer.py"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    assert (exported / "destination_starrocks" / "writer.py").read_bytes() == committed


def test_one_revision_named_twice_is_refused() -> None:
    # Its runs would be filed under one key: a comparison that compares nothing.
    with pytest.raises(SystemExit):
        alternate.main(["HEAD", "HEAD", "--runs", "1", "--records", "10"])


def test_an_exported_tree_is_compiled_to_bytecode_as_pip_install_compiles_it(tmp_path: Path) -> None:
    # With bytecode writing off (the Dockerfile's PYTHONDONTWRITEBYTECODE=1) the connector would otherwise
    # compile every module from source at each start, which an installed connector never does.
    tree = alternate.export_package("HEAD", tmp_path)
    modules = sorted((tree / "destination_starrocks").glob("*.py"))
    assert modules
    assert all(Path(importlib.util.cache_from_source(str(module))).is_file() for module in modules)
