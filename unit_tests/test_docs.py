"""The README and the Airbyte docs page: generated sections in step with the spec, required sections present.

The configuration reference is copied from `StarRocksConfig` by docs/gen_config_reference.py; these tests fail
when someone changes the spec without regenerating, or edits the generated table by hand.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path
from types import ModuleType

import pytest

from destination_starrocks.spec import StarRocksConfig

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS_PAGE = ROOT / "docs" / "starrocks.md"

# Sections of an Airbyte destination docs page (docs/integrations/destinations/*.md), in order.
DOCS_SECTIONS = [
    "## Overview",
    "## Prerequisites",
    "## Setup guide",
    "## Supported sync modes",
    "## Output schema",
    "## Data type mapping",
    "## Performance and batching",
    "## Delivery guarantees",
    "## Troubleshooting",
    "## Changelog",
]
# Marker pairs that other parts of the project fill in; each must appear exactly once, start before end.
DOCS_MARKERS = ["config-reference", "output-schema", "type-mapping", "performance", "guarantees"]
STARROCKS_VARIABLES = [
    "STARROCKS_HOST",
    "STARROCKS_QUERY_PORT",
    "STARROCKS_HTTP_PORT",
    "STARROCKS_USER",
    "STARROCKS_PASSWORD",
]


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_config_reference", ROOT / "docs" / "gen_config_reference.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


@pytest.mark.parametrize("document", [README, DOCS_PAGE], ids=["README.md", "docs/starrocks.md"])
def test_config_reference_section_is_what_the_generator_produces(document: Path) -> None:
    section = gen.marked_section(document.read_text(encoding="utf-8"))
    assert section == gen.render_reference(), (
        f"{document.relative_to(ROOT)} is out of date: run .venv/bin/python docs/gen_config_reference.py"
    )


def test_config_reference_has_one_row_per_spec_field_with_its_default() -> None:
    rows = [line for line in gen.render_reference().splitlines() if line.startswith("| `")]
    names = [re.match(r"\| `([^`]+)`", row).group(1) for row in rows]
    assert sorted(names) == sorted(StarRocksConfig.model_fields)
    by_name = dict(zip(names, rows, strict=True))
    assert "**required**" in by_name["host"]
    assert "`9030`" in by_name["query_port"]
    assert f"`{StarRocksConfig.model_fields['batch_size'].default}`" in by_name["batch_size"]
    assert "Secret" in by_name["password"]
    assert "Secret" not in by_name["username"]


def test_generator_check_mode_reports_a_document_edited_by_hand(tmp_path: Path, monkeypatch, capsys) -> None:
    copies = []
    for document in gen.DOCUMENTS:
        copy = tmp_path / document.name
        shutil.copy(document, copy)
        copies.append(copy)
    text = copies[0].read_text(encoding="utf-8")
    copies[0].write_text(text.replace("`9030`", "`9031`", 1), encoding="utf-8")
    spec_copy = tmp_path / "spec.json"
    shutil.copy(gen.SPEC_JSON, spec_copy)
    monkeypatch.setattr(gen, "DOCUMENTS", tuple(copies))
    monkeypatch.setattr(gen, "SPEC_JSON", spec_copy)
    monkeypatch.setattr(gen, "ROOT", tmp_path)

    assert gen.main(["--check"]) == 1
    assert copies[0].name in capsys.readouterr().err
    assert gen.main([]) == 0  # rewrites the copy
    assert gen.main(["--check"]) == 0
    assert "`9030`" in gen.marked_section(copies[0].read_text(encoding="utf-8"))


def test_expected_spec_json_is_what_the_generator_produces() -> None:
    # integration_tests/spec.json is the acceptance tests' spec_path: the SPEC the connector must print.
    assert gen.SPEC_JSON.read_text(encoding="utf-8") == gen.render_spec_json(), (
        "integration_tests/spec.json is out of date: run .venv/bin/python docs/gen_config_reference.py"
    )


def test_replace_section_keeps_the_text_around_the_markers() -> None:
    text = f"before\n{gen.START_MARKER}\nold\n{gen.END_MARKER}\nafter\n"
    replaced = gen.replace_section(text, "new")
    assert replaced == f"before\n{gen.START_MARKER}\nnew\n{gen.END_MARKER}\nafter\n"
    assert gen.replace_section(replaced, "new") == replaced


def test_docs_page_has_the_sections_of_an_airbyte_destination_page_in_order() -> None:
    text = DOCS_PAGE.read_text(encoding="utf-8")
    assert text.startswith("# StarRocks\n")
    positions = [text.find(f"\n{heading}\n") for heading in DOCS_SECTIONS]
    missing = [heading for heading, at in zip(DOCS_SECTIONS, positions, strict=True) if at < 0]
    assert not missing, f"missing sections: {missing}"
    assert positions == sorted(positions)


@pytest.mark.parametrize("marker", DOCS_MARKERS)
def test_docs_page_has_each_marker_pair_once_in_order(marker: str) -> None:
    text = DOCS_PAGE.read_text(encoding="utf-8")
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    assert text.count(start) == 1 and text.count(end) == 1
    assert text.index(start) < text.index(end)


def test_docs_changelog_lists_the_package_version() -> None:
    version = _pyproject_version()
    changelog = DOCS_PAGE.read_text(encoding="utf-8").split("## Changelog", 1)[1]
    assert re.search(rf"^\| {re.escape(version)} \| \d{{4}}-\d{{2}}-\d{{2}} \|", changelog, re.MULTILINE)


def test_readme_quick_start_is_exactly_make_demo_and_make_test() -> None:
    text = README.read_text(encoding="utf-8")
    quick_start = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", quick_start, re.DOTALL)
    assert block, "the Quick start has no sh code block"
    assert block.group(1).split("\n")[:-1] == ["make demo", "make test"]


def test_readme_tells_how_to_run_docker_pyairbyte_and_a_real_starrocks() -> None:
    text = README.read_text(encoding="utf-8")
    assert 'docker run --rm -i -v "$PWD":/data' in text
    assert "write --config /data/config.json --catalog /data/catalog.json < messages.jsonl" in text
    assert "Settings** → **Destinations** → **+ New connector**" in text
    assert "ab.get_destination(" in text and "docker_image=" in text and "local_executable=" in text
    assert "starrocks/allin1-ubuntu" in text
    for port in ("9030", "8030", "8040"):
        assert f"-p {port}:{port}" in text
    for variable in STARROCKS_VARIABLES:
        assert variable in text


def test_readme_relative_links_point_at_files_that_exist() -> None:
    text = README.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text)
    assert links, "expected relative links to docs in the README"
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing


def test_readme_module_map_names_every_connector_module_once() -> None:
    text = README.read_text(encoding="utf-8")
    table = text.split("| job | modules in `destination_starrocks/` |", 1)[1].split("\n\n", 1)[0]
    named = re.findall(r"`([a-z_]+\.py)`", table)
    modules = sorted(path.name for path in (ROOT / "destination_starrocks").glob("*.py"))
    assert sorted(named) == [name for name in modules if name != "__init__.py"]


def _pyproject_version() -> str:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
