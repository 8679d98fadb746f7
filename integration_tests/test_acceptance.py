"""Airbyte's connector acceptance tests (spec and connection), performed offline against the emulator.

Contract: for every test listed in acceptance-test-config.yml this file runs the same check the acceptance
test suite runs against the image, but through the connector's console script and against the `starrocks`
fixture (the bundled emulator, or a real StarRocks when STARROCKS_HOST is set):
- spec: `spec` prints exactly one SPEC, equal to the `spec_path` file; its schema is valid draft-07; the
  configs validate against it; secrets are marked `airbyte_secret`.
- connection: `check --config <config_path>` reports the expected status. The config files name 127.0.0.1 with
  StarRocks' default ports; the fixture's host and ports replace them (and, for the `succeed` config, its user
  and password), exactly what pointing the suite at a server on other ports would need.

Why: Airbyte runs these checks before it lists a connector; running them here keeps them green without Docker.
"""

from __future__ import annotations

import copy
import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from airbyte_cdk.models import AirbyteMessage, AirbyteMessageSerializer, Status, Type

ROOT = Path(__file__).resolve().parent.parent
CONFIG = yaml.safe_load((ROOT / "acceptance-test-config.yml").read_text(encoding="utf-8"))
SPEC_TESTS = CONFIG["acceptance_tests"]["spec"]["tests"]
CONNECTION_TESTS = CONFIG["acceptance_tests"]["connection"]["tests"]
CONNECTOR = Path(sys.executable).parent / "destination-starrocks"
# CAT's connection statuses → what `check` must report.
EXPECTED_STATUS = {"succeed": Status.SUCCEEDED, "failed": Status.FAILED}
CHECK_TIMEOUT_S = 120


def _run(*args: str) -> tuple[list[AirbyteMessage], subprocess.CompletedProcess[str]]:
    result = subprocess.run(
        [str(CONNECTOR), *args], capture_output=True, text=True, timeout=CHECK_TIMEOUT_S, cwd=ROOT
    )
    messages = [
        AirbyteMessageSerializer.load(json.loads(line))
        for line in result.stdout.splitlines()
        if line.startswith("{")
    ]
    return messages, result


@functools.cache
def _spec() -> dict[str, Any]:
    """The connector's `spec` output (run once per session: it is the same every time)."""
    messages, result = _run("spec")
    assert result.returncode == 0, result.stderr
    specs = [message.spec for message in messages if message.type == Type.SPEC]
    assert len(specs) == 1, result.stdout
    from airbyte_cdk.models import ConnectorSpecificationSerializer

    return ConnectorSpecificationSerializer.dump(specs[0])


def test_acceptance_config_targets_this_connectors_image() -> None:
    metadata = yaml.safe_load((ROOT / "metadata.yaml").read_text(encoding="utf-8"))["data"]
    assert CONFIG["connector_image"] == f"{metadata['dockerRepository']}:dev"
    assert {test["status"] for test in CONNECTION_TESTS} == {"succeed", "failed"}


@pytest.mark.parametrize("test", SPEC_TESTS, ids=lambda test: test["spec_path"])
def test_spec_equals_the_spec_path_file(test: dict[str, Any]) -> None:
    expected = json.loads((ROOT / test["spec_path"]).read_text(encoding="utf-8"))
    assert _spec() == expected, (
        "run: .venv/bin/python docs/gen_config_reference.py (if the spec change is meant)"
    )


def test_spec_schema_is_valid_draft7_and_accepts_every_acceptance_config() -> None:
    schema = copy.deepcopy(_spec()["connectionSpecification"])
    jsonschema.Draft7Validator.check_schema(schema)
    for test in CONNECTION_TESTS:
        config = json.loads((ROOT / test["config_path"]).read_text(encoding="utf-8"))
        jsonschema.validate(config, schema, cls=jsonschema.Draft7Validator)


def test_spec_marks_the_password_secret_and_nothing_else_holds_a_secret_unmarked() -> None:
    properties = _spec()["connectionSpecification"]["properties"]
    assert properties["password"].get("airbyte_secret") is True
    secret_like = [
        name for name in properties if any(word in name for word in ("password", "secret", "token"))
    ]
    assert all(properties[name].get("airbyte_secret") for name in secret_like), secret_like


def _config_for(test: dict[str, Any], starrocks: Any) -> dict[str, Any]:
    config = json.loads((ROOT / test["config_path"]).read_text(encoding="utf-8"))
    config.update(host=starrocks.host, query_port=starrocks.query_port, http_port=starrocks.http_port)
    if test["status"] == "succeed":
        config.update(username=starrocks.user, password=starrocks.password)
    return config


@pytest.mark.parametrize("test", CONNECTION_TESTS, ids=lambda test: f"{test['status']}:{test['config_path']}")
def test_check_reports_the_expected_status(test: dict[str, Any], starrocks: Any, tmp_path: Path) -> None:
    config = _config_for(test, starrocks)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")

    messages, result = _run("check", "--config", str(path))

    statuses = [message.connectionStatus for message in messages if message.type == Type.CONNECTION_STATUS]
    assert len(statuses) == 1, result.stdout + result.stderr
    assert statuses[0].status == EXPECTED_STATUS[test["status"]], statuses[0].message
    if config["password"]:
        assert config["password"] not in result.stdout + result.stderr
