"""The CI workflows (.github/workflows): actionlint (a PyPI wheel, dev dependency) finds no
problem, and their Cilium versions are exactly the catalogue's
(conformance/vocabulary/cilium.yaml)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.vocabulary.catalogue import load_catalogue
from tests.reports.conftest import REPO
from tests.support.requirements import unavailable

WORKFLOWS = REPO / ".github" / "workflows"
LINT_TIMEOUT_S = 120


def catalogue_versions() -> list[str]:
    return sorted(load_catalogue().releases)


def workflow(name: str) -> dict[Any, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(data, dict)
    return data


def actionlint(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("actionlint")
    if binary is None:
        unavailable("actionlint not on PATH (pip install -e '.[dev]' installs it)")
    return subprocess.run([str(binary), "-no-color", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=LINT_TIMEOUT_S, check=False)


def test_workflows_pass_actionlint() -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert [f.name for f in files] == ["nightly.yml", "pre-upgrade.yml"]
    result = actionlint(*map(str, files))
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_does_catch_a_broken_workflow(tmp_path: Path) -> None:
    broken = workflow("nightly.yml")
    broken["jobs"]["conformance"]["steps"][0]["uses"] = "actions/checkout@v6"
    broken["jobs"]["conformance"]["steps"][0]["with"] = {"no-such-input": True}
    (tmp_path / "broken.yml").write_text(yaml.safe_dump(broken))
    result = actionlint(str(tmp_path / "broken.yml"), cwd=tmp_path)
    assert result.returncode == 1 and "no-such-input" in result.stdout


def test_nightly_matrix_is_the_catalogue() -> None:
    job = workflow("nightly.yml")["jobs"]["conformance"]
    assert sorted(job["strategy"]["matrix"]["cilium"]) == catalogue_versions()
    assert job["strategy"]["fail-fast"] is False
    # PyYAML reads the bare key `on` as True (YAML 1.1).
    triggers = workflow("nightly.yml")[True]
    assert "schedule" in triggers and "workflow_dispatch" in triggers


@pytest.mark.parametrize("field", ["from", "to"])
def test_pre_upgrade_choices_are_the_catalogue(field: str) -> None:
    inputs = workflow("pre-upgrade.yml")[True]["workflow_dispatch"]["inputs"]
    assert sorted(inputs[field]["options"]) == catalogue_versions()
    assert inputs[field]["default"] in inputs[field]["options"]
