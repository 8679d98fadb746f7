"""The Dockerfile's build and entrypoint steps, replayed without a Docker engine.

Contract: this test reads the Dockerfile and performs its steps in a fresh virtual environment standing in for
the image's Python: ARG defaults are substituted into FROM, COPY copies the build context (minus
.dockerignore) into a directory standing in for the image's root, `RUN pip ...` runs with the fresh
environment's pip, ENV is applied, USER switches who runs what follows, and the ENTRYPOINT (and the
AIRBYTE_ENTRYPOINT Airbyte uses) are run with `spec` and `check`. An instruction it cannot replay (another
RUN, a second stage, a COPY flag, a user the base image does not define) fails the test, so the Dockerfile
and this replay cannot silently drift apart.

USER is replayed for real where it can be: when the test runs as root (as CI does), every step after
`USER airbyte` runs as uid/gid 1000 with the image user's HOME (`/nonexistent`: the base image creates a
system user without a home), in an image root every user can traverse, as in the image. In any case every
file the image needs is checked to be readable by that user, who owns none of them (COPY and pip run as
root; a file readable by its owner only would break the image and pass a replay run as root).

The base image: FROM must be `${BASE_IMAGE}` whose ARG default is metadata.yaml's
connectorBuildOptions.baseImage, digest included (Airbyte's builds pass exactly that value as BASE_IMAGE),
and the replay's Python must be the one that base image carries.

Why: there is no Docker engine here, yet the image is how Airbyte runs the connector. A fresh environment
catches what the dev venv hides: a dependency missing from pyproject.toml, a file not COPY'd, a module that
only imports from the source tree, a file the non-root user cannot read. Cost: one `pip install .` into a
new venv, from pip's cache where `make install` filled it (pip's `--no-cache-dir` is the one flag the replay
drops: it only keeps the cache out of the image layer).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from airbyte_cdk.models import AirbyteMessage, Status, Type

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
README = ROOT / "README.md"
INSTALL_TIMEOUT_S = 600
RUN_TIMEOUT_S = 120
# Users the base image defines: (uid, gid, HOME). Airbyte's python-connector-base creates `airbyte` with
# `adduser --uid 1000 --system --group --no-create-home airbyte` (airbytehq/airbyte,
# docker-images/Dockerfile.python-connector-base), so uid = gid = 1000 and its home does not exist.
BASE_IMAGE_USERS = {"root": (0, 0, "/root"), "airbyte": (1000, 1000, "/nonexistent")}
# The Python of python-connector-base 4.0.x: python:3.11 slim-bookworm (the same Dockerfile's FROM).
BASE_IMAGE_PYTHON = {"4.0": (3, 11)}
# The image fixture installs from the package index: allow for a slow index on top of pytest's 300 s default.
pytestmark = pytest.mark.timeout(900)


@dataclass
class Step:
    kind: str  # COPY or RUN
    args: list[str]  # COPY: sources + [dest]; RUN: argv
    workdir: str
    user: str


@dataclass
class DockerSteps:
    """What the Dockerfile does, in order of the instructions that matter for a replay."""

    base_image: str = ""
    build_args: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    user: str = "root"  # who runs the ENTRYPOINT (the last USER)
    env: dict[str, str] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
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


def _substitute(text: str, variables: dict[str, str], line: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in variables, f"the replay does not know ${name} (no ARG with a default): {line}"
        return variables[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, text)


def parse_dockerfile(text: str) -> DockerSteps:
    steps = DockerSteps()
    for line in _logical_lines(text):
        instruction, _, arguments = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "ARG":
            assert not steps.base_image, f"the replay knows only ARGs before FROM: {line}"
            name, equals, default = arguments.strip().partition("=")
            assert equals and default, f"the replay needs a default for every ARG: {line}"
            steps.build_args[name] = default
        elif instruction == "FROM":
            assert not steps.base_image, f"the replay knows one stage only: {line}"
            image, *rest = arguments.split()
            assert not rest, f"the replay knows no FROM flags or stage names: {line}"
            steps.base_image = _substitute(image, steps.build_args, line)
        elif instruction == "WORKDIR":
            steps.workdir = arguments.strip()
        elif instruction == "ENV":
            steps.env.update(_pairs(arguments))
        elif instruction == "LABEL":
            steps.labels.update(_pairs(arguments))
        elif instruction == "USER":
            user = arguments.strip()
            assert user in BASE_IMAGE_USERS, f"the base image defines no user {user!r}: {line}"
            steps.user = user
        elif instruction == "COPY":
            *sources, dest = shlex.split(arguments)
            assert not any(source.startswith("--") for source in sources), f"unsupported COPY flag: {line}"
            steps.steps.append(Step("COPY", [*sources, dest], steps.workdir, steps.user))
        elif instruction == "RUN":
            argv = shlex.split(arguments)
            assert argv[0] == "pip", f"the replay only knows `RUN pip ...`: {line}"
            steps.steps.append(Step("RUN", argv, steps.workdir, steps.user))
        elif instruction == "ENTRYPOINT":
            steps.entrypoint = json.loads(arguments)
        else:
            raise AssertionError(f"the replay does not know the instruction {instruction}: {line}")
    assert steps.base_image, "the Dockerfile has no FROM"
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


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _as_user(user: str) -> dict[str, Any]:
    """subprocess.run arguments that run a step as `user`, as Docker does after USER (possible as root)."""
    uid, gid, _ = BASE_IMAGE_USERS[user]
    if not _running_as_root() or uid == 0:
        return {}
    return {"user": uid, "group": gid, "extra_groups": []}


def _environment(steps: DockerSteps, user: str) -> dict[str, str]:
    env = {**os.environ, **steps.env, "HOME": BASE_IMAGE_USERS[user][2]}
    env.pop("PYTHONPATH", None)
    return env


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

    def run(
        self, argv: list[str], *extra: str, cwd: Path | None = None, stdin: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in the image as its final USER, the way `docker run` runs the entrypoint."""
        with open(stdin or os.devnull, "rb") as source:  # `docker run -i ... < file`, else no input
            return subprocess.run(
                [*self.command(argv), *extra],
                cwd=cwd or self.host_path(self.steps.workdir),
                env=_environment(self.steps, self.steps.user),
                stdin=source,
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT_S,
                **_as_user(self.steps.user),
            )


@pytest.fixture(scope="module")
def steps() -> DockerSteps:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def image(steps: DockerSteps) -> Iterator[Image]:
    # Not under pytest's tmp_path: that lives in a 0700 directory of the user running the tests, and the image
    # user must be able to reach the image's files, as in the image (`/` is 0755).
    root = Path(tempfile.mkdtemp(prefix="docker-replay-"))
    root.chmod(0o755)
    try:
        yield _build(steps, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _base_python(user: str) -> str:
    """A Python 3.11 standing in for the base image's: one whose installation the image user can run, as the
    image's /usr/local Python is (the test runner's own may live in a home directory only root can enter)."""
    candidates = dict.fromkeys(
        path for path in (sys.executable, shutil.which("python3.11"), "/usr/bin/python3.11") if path
    )
    if not _as_user(user):
        return sys.executable  # no user to switch to: the permission check stands in (see the docstring)
    for python in candidates:
        probe = [python, "-c", "import sys, venv; print(sys.version_info[:2] == (3, 11))"]
        try:
            result = subprocess.run(probe, capture_output=True, text=True, timeout=60, **_as_user(user))
        except PermissionError:
            continue  # e.g. an interpreter under /root
        if result.returncode == 0 and result.stdout.strip() == "True":
            return python
    raise AssertionError(
        f"no Python 3.11 with venv that uid {BASE_IMAGE_USERS[user][0]} can run: {candidates}"
    )


def _build(steps: DockerSteps, root: Path) -> Image:
    venv = root / "venv"
    python = _base_python(steps.user)
    subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=INSTALL_TIMEOUT_S)
    built = Image(root=root, python=venv / "bin" / "python", steps=steps)
    ignore = _dockerignore()
    for step in steps.steps:
        if step.kind == "COPY":
            *sources, dest = step.args
            into_dir = len(sources) > 1 or dest.endswith("/")
            target = built.host_path(dest if dest.startswith("/") else f"{step.workdir}/{dest}")
            for source in sources:
                _copy(ROOT / source, target, into_dir, ignore)
        else:
            # `--no-cache-dir` keeps pip's download cache out of the image layer; here it would only make the
            # replay download again what `make install` just cached. What gets installed is the same.
            argv = [arg for arg in step.args if arg != "--no-cache-dir"]
            result = subprocess.run(
                [str(built.python), "-m", *argv],
                cwd=built.host_path(step.workdir),
                env=_environment(steps, step.user),
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT_S,
                **_as_user(step.user),
            )
            assert result.returncode == 0, (
                f"RUN {' '.join(step.args)} failed:\n{result.stdout}\n{result.stderr}"
            )
    return built


def _copy(source: Path, target: Path, into_dir: bool, ignore: list[str]) -> None:
    """COPY semantics: a file lands at target (or in it, when target is a directory); a directory's contents
    land in target. Paths matching .dockerignore are left out, as Docker leaves them out of the context.
    Directories COPY creates are 0755; files keep their mode, as Docker keeps them."""
    relative = source.relative_to(ROOT).as_posix()
    assert source.exists() and not _ignored(relative, ignore), (
        f"COPY source not in the build context: {relative}"
    )
    if source.is_file():
        destination = target / source.name if into_dir else target
        _mkdirs(destination.parent)
        shutil.copy2(source, destination)
        return
    for path in source.rglob("*"):
        if path.is_dir() or _ignored(path.relative_to(ROOT).as_posix(), ignore):
            continue
        destination = target / path.relative_to(source)
        _mkdirs(destination.parent)
        shutil.copy2(path, destination)


def _mkdirs(path: Path) -> None:
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for created in missing:
        created.chmod(0o755)


def _messages(stdout: str) -> list[AirbyteMessage]:
    from airbyte_cdk.models import AirbyteMessageSerializer

    return [
        AirbyteMessageSerializer.load(json.loads(line))
        for line in stdout.splitlines()
        if line.startswith("{")
    ]


def _package_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def _metadata() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "metadata.yaml").read_text(encoding="utf-8"))["data"]


def test_dockerfile_builds_on_the_base_image_metadata_declares(steps: DockerSteps) -> None:
    declared = _metadata()["connectorBuildOptions"]["baseImage"]
    assert steps.base_image == declared  # digest included: what Airbyte's build would use
    assert steps.build_args == {"BASE_IMAGE": declared}  # and the name Airbyte's builds pass it under
    version = re.match(r"docker\.io/airbyte/python-connector-base:(\d+\.\d+)\.\d+@sha256:", declared)
    assert version and version.group(1) in BASE_IMAGE_PYTHON, declared
    # The replay's interpreter stands in for the base image's: it must be the same Python.
    python = _base_python(steps.user)
    probe = subprocess.run(
        [python, "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True, text=True
    )
    assert tuple(int(n) for n in probe.stdout.split()) == BASE_IMAGE_PYTHON[version.group(1)]


def test_airbyte_cdk_reads_metadata_as_a_python_connector_on_that_base(steps: DockerSteps) -> None:
    # `airbyte-cdk image build` (Airbyte's current build tool) picks its Dockerfile template by the language
    # tag and passes connectorBuildOptions.baseImage as BASE_IMAGE.
    from airbyte_cdk.models.connector_metadata import ConnectorLanguage, MetadataFile

    metadata = MetadataFile.from_file(ROOT / "metadata.yaml").data
    assert metadata.language == ConnectorLanguage.PYTHON
    assert metadata.connectorBuildOptions is not None
    assert metadata.connectorBuildOptions.baseImage == steps.base_image


def test_dockerfile_installs_the_package_and_labels_it(steps: DockerSteps) -> None:
    metadata = _metadata()
    assert steps.labels["io.airbyte.version"] == _package_version() == metadata["dockerImageTag"]
    assert steps.labels["io.airbyte.name"] == metadata["dockerRepository"]
    (install,) = [step for step in steps.steps if step.kind == "RUN"]
    assert install.args[:2] == ["pip", "install"] and install.args[-1] == "."
    assert install.user == "root"  # into the image's Python, which the non-root user cannot write
    assert steps.workdir == "/airbyte/integration_code"  # where Airbyte's images keep the connector


def test_the_image_runs_as_the_non_root_airbyte_user(steps: DockerSteps) -> None:
    assert steps.user == "airbyte"
    assert BASE_IMAGE_USERS[steps.user][:2] == (1000, 1000)


@pytest.mark.parametrize(
    ("dockerfile", "refusal"),
    [
        ("FROM python:3.11-slim\nHEALTHCHECK CMD true\n", "HEALTHCHECK"),
        ("FROM python:3.11-slim\nRUN apt-get install -y curl\n", "RUN pip"),
        ("FROM python:3.11-slim\nUSER nobody\n", "no user 'nobody'"),
        ("FROM python:3.11-slim AS builder\nFROM python:3.11-slim\n", "stage names"),
        ("FROM python:3.11-slim\nFROM python:3.11-slim\n", "one stage"),
        ("FROM python:3.11-slim\nCOPY --chown=airbyte . .\n", "COPY flag"),
        ("ARG BASE\nFROM ${BASE}\n", "default"),
    ],
    ids=["HEALTHCHECK", "RUN apt-get", "unknown USER", "named stage", "two stages", "COPY flag", "bare ARG"],
)
def test_replay_refuses_what_it_cannot_replay(dockerfile: str, refusal: str) -> None:
    # A Dockerfile step this file cannot perform must fail the test, not be skipped silently.
    with pytest.raises(AssertionError, match=refusal):
        parse_dockerfile(dockerfile)


def test_replay_reads_arg_env_label_and_user() -> None:
    steps = parse_dockerfile(
        'ARG B=python:3.11-slim\nFROM ${B}\nENV A=1 \\\n    B="two words"\nLABEL x.y=3\nUSER airbyte\n'
    )
    assert steps.base_image == "python:3.11-slim" and steps.user == "airbyte"
    assert steps.env == {"A": "1", "B": "two words"} and steps.labels == {"x.y": "3"}


def test_airbyte_entrypoint_env_is_the_entrypoint(steps: DockerSteps) -> None:
    # Airbyte's platform reads AIRBYTE_ENTRYPOINT to run the connector; it must be the ENTRYPOINT itself.
    assert shlex.split(steps.env["AIRBYTE_ENTRYPOINT"]) == steps.entrypoint
    # Exec form straight to Python: no shell as PID 1 that would swallow `docker stop`'s SIGTERM.
    assert steps.entrypoint[0] == "python"


def test_every_file_the_image_needs_is_readable_by_the_image_user(image: Image) -> None:
    # COPY and pip run as root, so the image user reads everything through the "other" permission bits.
    unreadable = []
    for top in (image.python.parent.parent, image.host_path(image.steps.workdir)):
        for path in [top, *top.rglob("*")]:
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                continue
            need = stat.S_IROTH | stat.S_IXOTH if stat.S_ISDIR(mode) else stat.S_IROTH
            if mode & need != need:
                unreadable.append(f"{path.relative_to(image.root)} ({stat.filemode(mode)})")
    assert not unreadable, unreadable[:20]


def test_the_entrypoint_runs_as_uid_1000_when_the_replay_can_switch_users(image: Image) -> None:
    result = image.run(["python", "-c", "import os; print(os.getuid(), os.getgid(), os.environ['HOME'])"])
    assert result.returncode == 0, result.stderr
    expected = "1000 1000" if _running_as_root() else f"{os.getuid()} {os.getgid()}"
    assert result.stdout.split() == [*expected.split(), "/nonexistent"]


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


def test_installed_package_runs_outside_the_source_tree(image: Image) -> None:
    # From another directory, only the pip-installed package can answer (main.py's folder is not on sys.path).
    elsewhere = image.root  # a directory the image user can enter, holding no package
    console_script = image.python.parent / "destination-starrocks"
    result = image.run([str(console_script)], "spec", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert [message.type for message in _messages(result.stdout)] == [Type.SPEC]
    where = image.run(
        ["python", "-c", "import destination_starrocks as d; print(d.__file__, d.__version__)"], cwd=elsewhere
    )
    location, version = where.stdout.split()
    assert Path(location).is_relative_to(image.python.parent.parent), location
    assert version == _package_version()


def test_image_check_against_a_closed_port_fails_without_leaking_the_password(image: Image) -> None:
    # The config file lives where a mounted volume would: readable by the image user.
    config = image.root / "config.json"
    password = "docker-replay-secret-7319"
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    config.write_text(
        json.dumps({"host": "127.0.0.1", "query_port": 1, "http_port": 1, "password": password})
    )
    config.chmod(0o644)
    result = image.run(image.steps.entrypoint, "check", "--config", str(config))
    statuses = [
        message.connectionStatus
        for message in _messages(result.stdout)
        if message.type == Type.CONNECTION_STATUS
    ]
    assert len(statuses) == 1, result.stdout + result.stderr
    assert statuses[0].status == Status.FAILED
    assert password not in result.stdout and password not in result.stderr


# ---- the README's docker commands, as written ------------------------------------------------------------


@dataclass
class DockerRun:
    """One `docker run` line of the README, split into what the replay needs."""

    image: str
    args: list[str]
    mounts: dict[str, str] = field(default_factory=dict)  # container path -> host path as written
    network: str | None = None
    add_hosts: list[str] = field(default_factory=list)
    stdin: str | None = None  # `< file`
    interactive: bool = False


def _readme_docker_lines() -> list[list[str]]:
    section = README.read_text(encoding="utf-8").split("\n### Docker\n", 1)[1].split("\n### ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    return [shlex.split(line) for line in lines if line.startswith("docker ")]


def _docker_run(argv: list[str]) -> DockerRun:
    assert argv[:2] == ["docker", "run"], argv
    rest = argv[2:]
    run = DockerRun(image="", args=[])
    while rest and rest[0].startswith("-"):
        flag = rest.pop(0)
        name, _, value = flag.partition("=")
        if name in ("--rm",):
            continue
        if name in ("-i", "--interactive"):
            run.interactive = True
        elif name in ("-v", "--volume"):
            host, container = (value or rest.pop(0)).split(":", 1)
            run.mounts[container] = host
        elif name == "--network":
            run.network = value or rest.pop(0)
        elif name == "--add-host":
            run.add_hosts.append(value or rest.pop(0))
        else:
            raise AssertionError(f"the replay does not know the docker run flag {flag}: {argv}")
    run.image, *run.args = rest
    if "<" in run.args:
        at = run.args.index("<")
        run.stdin, run.args = run.args[at + 1], run.args[:at]
    return run


def _readme_runs() -> list[DockerRun]:
    return [_docker_run(argv) for argv in _readme_docker_lines() if argv[:2] == ["docker", "run"]]


def test_readme_docker_commands_use_the_image_the_readme_builds() -> None:
    (build,) = [argv for argv in _readme_docker_lines() if argv[:2] == ["docker", "build"]]
    tag = build[build.index("-t") + 1]
    runs = _readme_runs()
    assert runs and all(run.image == tag for run in runs)
    writes = [run for run in runs if run.args[:1] == ["write"]]
    # Both networking variants: the host's network (Linux), or host.docker.internal via the host gateway.
    assert [run.network for run in writes] == ["host", None]
    assert writes[1].add_hosts == ["host.docker.internal:host-gateway"]
    for run in writes:
        assert run.interactive and run.stdin == "messages.jsonl"  # input on stdin needs -i
    section = README.read_text(encoding="utf-8").split("\n### Docker\n", 1)[1].split("\n### ", 1)[0]
    (config_text,) = re.findall(r"```json\n(.*?)```", section, re.DOTALL)
    config = json.loads(config_text)
    # The FE's 307 names the BE's registered address (127.0.0.1 in the all-in-one image): from a bridge
    # network the loads must go to a BE the container can reach.
    assert config["host"] == "host.docker.internal"
    assert config["load_urls"] == ["host.docker.internal:8040"]


def test_readme_docker_run_on_the_host_network_works_as_written(
    image: Image, starrocks, fresh_database
) -> None:
    # `--network host`: the container's 127.0.0.1 is the host's, where the test's StarRocks listens.
    from integration_tests.connector import (
        catalog,
        config_for,
        connect,
        record,
        stream,
        stream_state,
        stream_status,
    )

    (run,) = [run for run in _readme_runs() if run.network == "host" and run.args[:1] == ["write"]]
    ((mount, host_dir),) = run.mounts.items()
    assert host_dir == "$PWD"
    data = image.host_path(mount)  # the mounted $PWD: config.json, catalog.json, messages.jsonl
    _mkdirs(data)
    readme_config = json.loads(
        re.search(
            r"A minimal `config.json`.*?```json\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL
        )[1]
    )
    assert readme_config["host"] == "127.0.0.1"
    config = {**readme_config, **config_for(starrocks, database=fresh_database)}
    files = {
        "config.json": json.dumps(config).encode(),
        "catalog.json": json.dumps(catalog(stream("users"))).encode(),
        "messages.jsonl": b"".join(
            line + b"\n"
            # A source ends each stream with COMPLETE (else the sync fails as incomplete, stream_completion.py).
            for line in [
                *(record("users", {"id": i}) for i in range(50)),
                stream_state("users", 1),
                stream_status("users", "COMPLETE"),
            ]
        ),
    }
    for name, content in files.items():
        (data / name).write_bytes(content)
        (data / name).chmod(0o644)  # as the README says: readable by uid 1000
    mapped = [str(image.host_path(arg)) if arg.startswith(mount) else arg for arg in run.args]
    result = image.run(image.steps.entrypoint, *mapped, stdin=data / run.stdin)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    states = [json.loads(line) for line in result.stdout.splitlines() if '"type":"STATE"' in line]
    assert len(states) == 1 and states[0]["state"]["destinationStats"]["recordCount"] == 50
    with connect(starrocks) as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM `{fresh_database}`.`users`")
        assert cursor.fetchone()[0] == 50
