"""The project installs and runs as an Airbyte connector: entry points, wheel, dependency ranges, make, CI.

Contract (issue 3's "done when"): `destination-starrocks spec` and `python main.py spec` print one valid SPEC
message; the wheel holds the connector package (and nothing of the tests or the emulator) with the console
script; runtime dependencies have upper bounds; `make install|demo|test|bench|lint` exist and `demo`/`test`
install first; `.ci/run` runs `make test`; no package registry host is named in the repository.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from airbyte_cdk.models import AirbyteMessageSerializer, Type
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
RUNTIME = {"airbyte-cdk", "pydantic", "orjson", "pymysql", "lz4"}
# The import name of each runtime distribution whose name differs from it.
IMPORT_NAMES = {"airbyte-cdk": "airbyte_cdk"}
# Hosts of package registries; spelled in parts so this file does not name them itself.
REGISTRY_HOSTS = [
    "pypi" + ".org",
    "files." + "pythonhosted.org",
    "registry." + "npmjs.org",
    "deb." + "debian.org",
]


def _spec_lines(argv: list[str]) -> list[str]:
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def console_spec() -> list[str]:
    return _spec_lines([str(Path(sys.executable).parent / "destination-starrocks"), "spec"])


def test_console_script_prints_exactly_one_valid_spec_message(console_spec: list[str]) -> None:
    assert len(console_spec) == 1
    message = AirbyteMessageSerializer.load(json.loads(console_spec[0]))
    assert message.type == Type.SPEC
    spec = message.spec
    assert spec.connectionSpecification["properties"]["password"]["airbyte_secret"] is True
    assert spec.supportsIncremental is True
    assert {mode.value for mode in spec.supported_destination_sync_modes} == {
        "append",
        "overwrite",
        "append_dedup",
    }


def test_the_connector_imports_exactly_its_declared_runtime_dependencies() -> None:
    """Every third-party module the connector imports is a declared dependency, and every declared one is used."""
    imported: set[str] = set()
    for path in (ROOT / "destination_starrocks").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = {name for name in imported if name not in sys.stdlib_module_names} - {
        "destination_starrocks"
    }
    declared = {Requirement(text).name.lower() for text in PYPROJECT["project"]["dependencies"]}
    assert third_party == {IMPORT_NAMES.get(name, name) for name in declared}


def test_main_py_prints_the_same_spec_as_the_console_script(console_spec: list[str]) -> None:
    assert _spec_lines([sys.executable, "main.py", "spec"]) == console_spec


def test_runtime_dependencies_are_the_connectors_and_bounded_above() -> None:
    requirements = [Requirement(text) for text in PYPROJECT["project"]["dependencies"]]
    names = {requirement.name.lower() for requirement in requirements}
    assert RUNTIME <= names
    for requirement in requirements:
        assert any(spec.operator in ("<", "<=", "~=", "==") for spec in requirement.specifier), (
            f"{requirement} has no upper bound"
        )
    assert Requirement("x" + PYPROJECT["project"]["requires-python"]).specifier.contains("3.11")


def test_dev_extra_has_the_test_tools() -> None:
    dev = {Requirement(text).name.lower() for text in PYPROJECT["project"]["optional-dependencies"]["dev"]}
    assert {"pytest", "ruff"} <= dev


def test_console_script_points_at_the_airbyte_entrypoint() -> None:
    assert PYPROJECT["project"]["scripts"] == {"destination-starrocks": "destination_starrocks.run:run"}


def test_wheel_holds_the_connector_package_and_its_console_script(tmp_path: Path) -> None:
    # Build from a copy so the checkout gets no build/ or egg-info droppings (other people work in it).
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    # The emulator sits beside the connector in the tree; the wheel must leave it out.
    for package in ("destination_starrocks", "starrocks_emulator"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    build = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        str(source),
        "--no-deps",
        "-q",
        "-w",
        str(tmp_path / "dist"),
    ]
    # Offline with the venv's setuptools when it is recent enough (fast); else pip fetches pyproject's backend.
    if subprocess.run([*build, "--no-build-isolation"], capture_output=True, timeout=120).returncode != 0:
        subprocess.run(build, check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("destination_starrocks-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = Parser().parsestr(
            archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        )
        entry_points = archive.read(
            next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        ).decode()
    modules = {name for name in names if name.endswith(".py")}
    expected = {
        f"destination_starrocks/{path.name}" for path in (ROOT / "destination_starrocks").glob("*.py")
    }
    assert modules == expected
    assert not any(
        name.startswith(("starrocks_emulator", "integration_tests", "unit_tests", "demo", "bench"))
        for name in names
    )
    assert metadata["Version"] == PYPROJECT["project"]["version"]
    assert "destination-starrocks = destination_starrocks.run:run" in entry_points
    required = {
        Requirement(text).name.lower() for text in metadata.get_all("Requires-Dist") if "extra ==" not in text
    }
    assert RUNTIME <= required


def test_makefile_has_the_targets_and_demo_and_test_install_first() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = {
        line.split(":", 1)[0]
        for line in makefile.splitlines()
        if line and not line[0].isspace() and ":" in line
    }
    assert {"install", "demo", "test", "bench", "lint"} <= targets
    for target in ("demo", "test"):
        (rule,) = [line for line in makefile.splitlines() if line.startswith(f"{target}:")]
        assert "install" in rule.split(":", 1)[1]
    demo_recipe = makefile.split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    assert "-m demo" in demo_recipe


def test_ci_script_runs_make_test_and_stops_on_failure() -> None:
    script = ROOT / ".ci" / "run"
    text = script.read_text(encoding="utf-8")
    assert text.startswith("#!")
    assert "set -e" in text
    assert any(line.strip() == "make test" for line in text.splitlines())


def test_repository_names_no_package_registry_host() -> None:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, timeout=30)
    if listed.returncode != 0:  # not a git checkout (e.g. an sdist): check the files on disk instead
        paths = [path.relative_to(ROOT).as_posix() for path in ROOT.rglob("*") if ".venv" not in path.parts]
    else:
        paths = [name for name in listed.stdout.decode().split("\0") if name]
    offenders = []
    for name in paths:
        path = ROOT / name
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        text = path.read_text(encoding="utf-8", errors="ignore").lower()
        offenders += [f"{name}: {host}" for host in REGISTRY_HOSTS if host in text]
    assert not offenders
