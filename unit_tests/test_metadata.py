"""metadata.yaml and icon.svg: what Airbyte's registry reads about the connector.

The checks follow Airbyte's metadata schema (ConnectorMetadataDefinitionV0, metadataSpecVersion 1.0, in
airbyte-ci's metadata_service models): `data` forbids unknown keys, ten keys are required, the enums below are
closed, `definitionId` is a UUID, `registryOverrides` has only `oss` and `cloud`, each with `enabled`. And the
facts that tie it to this project: the image tag is the package version, the documentation URL is the SPEC's.
"""

from __future__ import annotations

import logging
import re
import tomllib
import uuid
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

import destination_starrocks
from destination_starrocks.destination import DestinationStarRocks

ROOT = Path(__file__).resolve().parent.parent

REQUIRED: dict[str, type] = {
    "name": str,
    "definitionId": str,
    "connectorType": str,
    "connectorSubtype": str,
    "dockerRepository": str,
    "dockerImageTag": str,
    "license": str,
    "documentationUrl": str,
    "githubIssueLabel": str,
    "releaseStage": str,
}
# What this connector's issue asks for on top of the schema's required keys.
EXPECTED_TOO: dict[str, type] = {
    "supportLevel": str,
    "tags": list,
    "connectorBuildOptions": dict,
    "registryOverrides": dict,
    "icon": str,
}
# Every other key the schema allows in `data` (it forbids the rest).
OPTIONAL = {
    "connectorTestSuitesOptions", "supportsDbt", "supportsNormalization", "externalDocumentationUrls",
    "maxSecondsBetweenMessages", "releaseDate", "protocolVersion", "erdUrl", "allowedHosts", "releases",
    "normalizationConfig", "suggestedStreams", "resourceRequirements", "ab_internal", "remoteRegistries",
    "supportsRefreshes", "generated", "supportsFileTransfer", "supportsDataActivation", "connectorIPCOptions",
}  # fmt: skip
ENUMS = {
    "connectorType": {"destination", "source"},
    "connectorSubtype": {
        "api",
        "database",
        "datalake",
        "file",
        "custom",
        "message_queue",
        "unknown",
        "vectorstore",
    },
    "releaseStage": {"alpha", "beta", "generally_available", "custom"},
    "supportLevel": {"community", "certified", "archived"},
}
REGISTRY_OVERRIDE_KEYS = {
    "enabled", "name", "dockerRepository", "dockerImageTag", "supportsDbt", "supportsNormalization", "license",
    "documentationUrl", "connectorSubtype", "allowedHosts", "normalizationConfig", "suggestedStreams",
    "resourceRequirements",
}  # fmt: skip
BASE_IMAGE = re.compile(r"^docker\.io/airbyte/python-connector-base:\d+\.\d+\.\d+@sha256:[0-9a-f]{64}$")
SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$")


@pytest.fixture(scope="module")
def metadata() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "metadata.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def data(metadata: dict[str, Any]) -> dict[str, Any]:
    return metadata["data"]


def _package_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def test_metadata_has_only_data_and_spec_version(metadata: dict[str, Any]) -> None:
    assert set(metadata) == {"data", "metadataSpecVersion"}
    assert metadata["metadataSpecVersion"] == "1.0"


@pytest.mark.parametrize("key", sorted({**REQUIRED, **EXPECTED_TOO}))
def test_data_has_key_with_its_type(data: dict[str, Any], key: str) -> None:
    expected = {**REQUIRED, **EXPECTED_TOO}[key]
    assert key in data
    assert isinstance(data[key], expected), f"{key}: {type(data[key]).__name__}, expected {expected.__name__}"


def test_data_has_no_key_the_schema_forbids(data: dict[str, Any]) -> None:
    unknown = set(data) - set(REQUIRED) - set(EXPECTED_TOO) - OPTIONAL
    assert not unknown


@pytest.mark.parametrize("key", sorted(ENUMS))
def test_enum_fields_hold_allowed_values(data: dict[str, Any], key: str) -> None:
    assert data[key] in ENUMS[key]


def test_it_is_a_database_destination_named_starrocks(data: dict[str, Any]) -> None:
    assert data["connectorType"] == "destination"
    assert data["connectorSubtype"] == "database"
    assert data["name"] == "StarRocks"
    assert data["dockerRepository"] == "airbyte/destination-starrocks"
    assert data["githubIssueLabel"] == "destination-starrocks"


def test_definition_id_is_a_fixed_uuid(data: dict[str, Any]) -> None:
    # A literal in the file, never generated: the registry identifies the connector by it across versions.
    assert str(uuid.UUID(data["definitionId"])) == data["definitionId"]
    assert data["definitionId"] == "741de235-e6e2-4afb-8dfb-121d310a7d06"


def test_docker_image_tag_is_the_package_version(data: dict[str, Any]) -> None:
    assert SEMVER.match(data["dockerImageTag"])
    assert data["dockerImageTag"] == _package_version()
    installed = destination_starrocks.__version__
    assert installed in (_package_version(), "0.0.0"), "the installed package is stale: run make install"


def test_documentation_url_is_the_one_the_spec_announces(data: dict[str, Any]) -> None:
    url = urlparse(data["documentationUrl"])
    assert url.scheme == "https" and url.netloc
    spec = DestinationStarRocks().spec(logging.getLogger("test"))
    assert spec.documentationUrl == data["documentationUrl"]


def test_base_image_is_a_pinned_python_connector_base(data: dict[str, Any]) -> None:
    assert set(data["connectorBuildOptions"]) == {"baseImage"}
    assert BASE_IMAGE.match(data["connectorBuildOptions"]["baseImage"])


def test_registry_overrides_enable_oss_and_say_so_for_cloud(data: dict[str, Any]) -> None:
    overrides = data["registryOverrides"]
    assert set(overrides) == {"oss", "cloud"}
    for registry in ("oss", "cloud"):
        assert isinstance(overrides[registry]["enabled"], bool)
        assert set(overrides[registry]) <= REGISTRY_OVERRIDE_KEYS
    assert overrides["oss"]["enabled"] is True


def test_tags_are_strings_and_name_the_language(data: dict[str, Any]) -> None:
    assert all(isinstance(tag, str) and ":" in tag for tag in data["tags"])
    assert "language:python" in data["tags"]


def test_test_suites_are_known_suites(data: dict[str, Any]) -> None:
    suites = {entry["suite"] for entry in data.get("connectorTestSuitesOptions", [])}
    assert suites <= {"unitTests", "integrationTests", "acceptanceTests", "liveTests"}


def test_icon_is_an_svg_file_next_to_the_metadata(data: dict[str, Any]) -> None:
    icon = ROOT / data["icon"]
    root = ElementTree.parse(icon).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox")
