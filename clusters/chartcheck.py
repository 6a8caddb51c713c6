"""Check rendered Helm values against a chart's own values.yaml.

The chart silently ignores misspelled keys (no additionalProperties: false), so every key
path we set must exist in the chart's values.yaml of that release. Works on any values.yaml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clusters.versions import CiliumRelease
from clusters.yamldata import load_yaml_mapping

# Images whose chart repository gets a suffix in the templates (the generic operator build).
IMAGE_REPOSITORY_SUFFIX = {"operator.image": "-generic"}


def key_paths(values: dict[str, Any], prefix: str = "") -> list[str]:
    """Every leaf key path (lists are leaves): {"a": {"b": 1}} -> ["a.b"]."""
    paths: list[str] = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            paths.extend(key_paths(value, f"{path}."))
        else:
            paths.append(path)
    return paths


def _lookup(chart: dict[str, Any], path: str) -> tuple[bool, Any]:
    node: Any = chart
    for key in path.split("."):
        if not isinstance(node, dict):
            return False, None
        if key not in node:
            # An empty mapping in the chart is free-form (annotations, labels...).
            return (node == {}), None
        node = node[key]
    return True, node


def missing_paths(values: dict[str, Any], chart_values: dict[str, Any]) -> list[str]:
    return [p for p in key_paths(values) if not _lookup(chart_values, p)[0]]


def image_mismatches(release: CiliumRelease, chart_values: dict[str, Any]) -> list[str]:
    """Pinned image references that differ from the chart's defaults for that release."""
    problems: list[str] = []
    for path, ref in release.images.items():
        found, block = _lookup(chart_values, path)
        if not found or not isinstance(block, dict):
            problems.append(f"{path}: no image block in the chart")
            continue
        repo = str(block.get("repository", "")) + IMAGE_REPOSITORY_SUFFIX.get(path, "")
        expected = f"{repo}:{block.get('tag')}"
        if expected != ref:
            problems.append(f"{path}: pinned {ref}, chart has {expected}")
    return problems


def check_file(values: dict[str, Any], chart_values_yaml: Path) -> list[str]:
    return missing_paths(values, load_yaml_mapping(chart_values_yaml))
