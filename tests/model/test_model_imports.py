"""conformance.model is pure: it must not import cluster, probe-runner or kube code."""

from __future__ import annotations

import ast
from pathlib import Path

import conformance.model

FORBIDDEN = ("conformance.harness", "conformance.scenarios", "conformance.cli", "clusters",
             "workloads", "kubernetes", "testcontainers", "grpc", "requests")
MODEL_DIR = Path(conformance.model.__file__).parent


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against the model package
                names.append("conformance.model." + (node.module or ""))
            elif node.module:
                names.append(node.module)
    return names


def test_model_sources_exist() -> None:
    assert len(list(MODEL_DIR.glob("*.py"))) >= 5


def test_model_imports_nothing_forbidden() -> None:
    offending = [
        f"{path.name}: {name}"
        for path in sorted(MODEL_DIR.rglob("*.py"))
        for name in _imports(path)
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)
    ]
    assert offending == []


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from conformance.harness.cluster import Cluster\nimport kubernetes.client\n")
    assert _imports(bad) == ["conformance.harness.cluster", "kubernetes.client"]
