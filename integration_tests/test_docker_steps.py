"""The Dockerfile's build and entrypoint steps, replayed without a Docker engine.

Contract: this test reads the Dockerfile and performs its steps in a fresh virtual environment standing in for
the image: COPY copies the build context (minus .dockerignore) into a directory standing in for the image's
root, `RUN pip ...` runs with the fresh environment's pip, ENV is applied, and the ENTRYPOINT (and the
AIRBYTE_ENTRYPOINT Airbyte uses) are run with `spec` and `check`. An instruction it does not understand fails
the test, so the Dockerfile and this replay cannot silently drift apart.

Why: there is no Docker engine here, yet the image is how Airbyte runs the connector. A fresh environment
catches what the dev venv hides: a dependency missing from pyproject.toml, a file not COPY'd, a module that
only imports from the source tree. Cost: one `pip install .` into a new venv (~35-40 s on 2 cores, wheels
from the pip cache or the package index).
"""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from airbyte_cdk.models import AirbyteMessage, Status, Type

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
INSTALL_TIMEOUT_S = 600
RUN_TIMEOUT_S = 120
# The image fixture installs from the package index: allow for a slow index on top of pytest's 300 s default.
pytestmark = pytest.mark.timeout(900)


@dataclass
class DockerSteps:
    """What the Dockerfile does, in order of the instructions that matter for a replay."""

    base_image: str = ""
    workdir: str = "/"
    env: dict[str, str] = field(default_factory=dict)
    steps: list[tuple[str, list[str], str]] = field(
        default_factory=list
    )  # ("COPY", sources, dest) / ("RUN", argv, workdir)
    entrypoint: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)


def _logical_lines(text: str) -> list[str]:
    """Dockerfile lines with comments dropped and `\\` continuations joined."""
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    assert not current, "Dockerfile ends inside a line continuation"
    return lines


def _pairs(arguments: str) -> dict[str, str]:
    """`KEY=VALUE ...` (ENV, LABEL) or the legacy `KEY VALUE` form."""
    tokens = shlex.split(arguments)
    if "=" not in tokens[0]:
        return {tokens[0]: " ".join(tokens[1:])}
    return dict(token.split("=", 1) for token in tokens)


def parse_dockerfile(text: str) -> DockerSteps:
    steps = DockerSteps()
    for line in _logical_lines(text):
        instruction, _, arguments = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            steps.base_image = arguments.split()[0]
        elif instruction == "WORKDIR":
            steps.workdir = arguments.strip()
        elif instruction == "ENV":
            steps.env.update(_pairs(arguments))
        elif instruction == "LABEL":
            steps.labels.update(_pairs(arguments))
        elif instruction == "COPY":
            *sources, dest = shlex.split(arguments)
            assert not any(source.startswith("--") for source in sources), f"unsupported COPY flag: {line}"
            steps.steps.append(("COPY", sources, dest))
        elif instruction == "RUN":
            argv = shlex.split(arguments)
            assert argv[0] == "pip", f"the replay only knows `RUN pip ...`: {line}"
            steps.steps.append(("RUN", argv, steps.workdir))
        elif instruction == "ENTRYPOINT":
            steps.entrypoint = json.loads(arguments)
        else:
            raise AssertionError(f"the replay does not know the instruction {instruction}: {line}")
    return steps


def _ignored(relative: str, patterns: list[str]) -> bool:
    parts = relative.split("/")
    for pattern in patterns:
        bare = pattern.removeprefix("**/")
        if fnmatch.fnmatch(relative, pattern) or any(fnmatch.fnmatch(part, bare) for part in parts):
            return True
    return False


def _dockerignore() -> list[str]:
    path = ROOT / ".dockerignore"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@dataclass
class Image:
    root: Path  # stands in for the image's `/`
    python: Path  # the fresh venv's interpreter, standing in for the image's `python`
    steps: DockerSteps

    def host_path(self, image_path: str) -> Path:
        return self.root / image_path.lstrip("/")

    def command(self, argv: list[str]) -> list[str]:
        """An image command line with `python` and absolute image paths mapped onto this stand-in."""
        mapped = [str(self.python) if argv[0] == "python" else argv[0]]
        mapped += [str(self.host_path(arg)) if arg.startswith("/") else arg for arg in argv[1:]]
        return mapped

    def run(self, argv: list[str], *extra: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **self.steps.env}
        env.pop("PYTHONPATH", None)
        return subprocess.run(
            [*self.command(argv), *extra],
            cwd=cwd or self.host_path(self.steps.workdir),
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
        )


@pytest.fixture(scope="module")
def steps() -> DockerSteps:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def image(steps: DockerSteps, tmp_path_factory: pytest.TempPathFactory) -> Image:
    root = tmp_path_factory.mktemp("image")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=INSTALL_TIMEOUT_S)
    built = Image(root=root, python=venv / "bin" / "python", steps=steps)
    ignore = _dockerignore()
    for kind, args, where in steps.steps:
        if kind == "COPY":
            sources, dest = args, where
            into_dir = len(sources) > 1 or dest.endswith("/")
            target = built.host_path(dest if dest.startswith("/") else f"{steps.workdir}/{dest}")
            for source in sources:
                _copy(ROOT / source, target, into_dir, ignore)
        else:
            env = {**os.environ, **steps.env}
            env.pop("PYTHONPATH", None)
            result = subprocess.run(
                [str(built.python), "-m", *args],
                cwd=built.host_path(where),
                env=env,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT_S,
            )
            assert result.returncode == 0, f"RUN {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return built


def _copy(source: Path, target: Path, into_dir: bool, ignore: list[str]) -> None:
    """COPY semantics: a file lands at target (or in it, when target is a directory); a directory's contents
    land in target. Paths matching .dockerignore are left out, as Docker leaves them out of the context."""
    relative = source.relative_to(ROOT).as_posix()
    assert source.exists() and not _ignored(relative, ignore), (
        f"COPY source not in the build context: {relative}"
    )
    if source.is_file():
        destination = target / source.name if into_dir else target
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)
        return
    for path in source.rglob("*"):
        if path.is_dir() or _ignored(path.relative_to(ROOT).as_posix(), ignore):
            continue
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)


def _messages(stdout: str) -> list[AirbyteMessage]:
    from airbyte_cdk.models import AirbyteMessageSerializer

    return [
        AirbyteMessageSerializer.load(json.loads(line))
        for line in stdout.splitlines()
        if line.startswith("{")
    ]


def _package_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def test_dockerfile_builds_on_python_311_slim_with_airbyte_labels(steps: DockerSteps) -> None:
    metadata = yaml.safe_load((ROOT / "metadata.yaml").read_text(encoding="utf-8"))["data"]
    assert steps.base_image.startswith("python:3.11-slim")
    assert steps.labels["io.airbyte.version"] == _package_version() == metadata["dockerImageTag"]
    assert steps.labels["io.airbyte.name"] == metadata["dockerRepository"]
    assert any(
        kind == "RUN" and argv[:2] == ["pip", "install"] and argv[-1] == "." for kind, argv, _ in steps.steps
    )


def test_replay_refuses_what_it_cannot_replay() -> None:
    # A Dockerfile step this file cannot perform must fail the test, not be skipped silently.
    with pytest.raises(AssertionError, match="HEALTHCHECK"):
        parse_dockerfile("FROM python:3.11-slim\nHEALTHCHECK CMD true\n")
    with pytest.raises(AssertionError, match="RUN pip"):
        parse_dockerfile("FROM python:3.11-slim\nRUN apt-get install -y curl\n")
    steps = parse_dockerfile('FROM python:3.11-slim\nENV A=1 \\\n    B="two words"\nLABEL x.y=3\n')
    assert steps.env == {"A": "1", "B": "two words"} and steps.labels == {"x.y": "3"}


def test_airbyte_entrypoint_env_is_the_entrypoint(steps: DockerSteps) -> None:
    # Airbyte's platform reads AIRBYTE_ENTRYPOINT to run the connector; it must be the ENTRYPOINT itself.
    assert shlex.split(steps.env["AIRBYTE_ENTRYPOINT"]) == steps.entrypoint


def test_image_entrypoint_spec_prints_one_valid_spec_message(image: Image) -> None:
    result = image.run(image.steps.entrypoint, "spec")
    assert result.returncode == 0, result.stderr
    specs = [message for message in _messages(result.stdout) if message.type == Type.SPEC]
    assert len(specs) == 1
    spec = specs[0].spec
    properties = spec.connectionSpecification["properties"]
    assert properties["password"]["airbyte_secret"] is True
    assert "host" in spec.connectionSpecification["required"]
    assert spec.supportsIncremental is True
    assert {mode.value for mode in spec.supported_destination_sync_modes} == {
        "append",
        "overwrite",
        "append_dedup",
    }


def test_airbyte_entrypoint_env_runs_the_same_spec(image: Image) -> None:
    by_entrypoint = image.run(image.steps.entrypoint, "spec")
    by_env = image.run(shlex.split(image.steps.env["AIRBYTE_ENTRYPOINT"]), "spec")
    assert by_env.returncode == 0, by_env.stderr
    assert by_env.stdout == by_entrypoint.stdout


def test_installed_package_runs_outside_the_source_tree(image: Image, tmp_path: Path) -> None:
    # From another directory, only the pip-installed package can answer (main.py's folder is not on sys.path).
    console_script = image.python.parent / "destination-starrocks"
    result = image.run([str(console_script)], "spec", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [message.type for message in _messages(result.stdout)] == [Type.SPEC]
    where = image.run(
        ["python", "-c", "import destination_starrocks as d; print(d.__file__, d.__version__)"], cwd=tmp_path
    )
    location, version = where.stdout.split()
    assert Path(location).is_relative_to(image.python.parent.parent), location
    assert version == _package_version()


def test_image_check_against_a_closed_port_fails_without_leaking_the_password(
    image: Image, tmp_path: Path
) -> None:
    config = tmp_path / "config.json"
    password = "docker-replay-secret-7319"
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    config.write_text(
        json.dumps({"host": "127.0.0.1", "query_port": 1, "http_port": 1, "password": password})
    )
    result = image.run(image.steps.entrypoint, "check", "--config", str(config))
    statuses = [
        message.connectionStatus
        for message in _messages(result.stdout)
        if message.type == Type.CONNECTION_STATUS
    ]
    assert len(statuses) == 1, result.stdout + result.stderr
    assert statuses[0].status == Status.FAILED
    assert password not in result.stdout and password not in result.stderr
