"""Rendered Helm values, checked against each release's own chart values.yaml (copies under
data/chart-values/<version>/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from clusters.chartcheck import check_file, image_mismatches, key_paths, missing_paths
from clusters.profiles import load_profile
from clusters.values import preloaded_images, render_values
from clusters.versions import load_catalogue
from clusters.yamldata import load_yaml_mapping

CHARTS = Path(__file__).parent / "data" / "chart-values"
VERSIONS = sorted(load_catalogue().releases)  # each has data/chart-values/<version>/
REQUIRED_METRICS = {"dns", "drop", "tcp", "flow", "policy", "httpV2"}
NS_CONTEXT = "labelsContext=source_namespace,destination_namespace"


def chart(version: str) -> dict[str, Any]:
    return load_yaml_mapping(CHARTS / version / "values.yaml")


def get(tree: dict[str, Any], path: str) -> Any:
    for key in path.split("."):
        tree = tree[key]
    return tree


def test_supported_versions_are_exactly_the_three_lines() -> None:
    cat = load_catalogue()
    assert sorted(cat.releases) == ["1.18.12", "1.19.6", "1.20.0"]
    assert cat.default == "1.20.0"


@pytest.mark.parametrize("profile", ["default", "no-auth"])
@pytest.mark.parametrize("version", VERSIONS)
def test_every_key_path_exists_in_that_release_chart(profile: str, version: str) -> None:
    release = load_catalogue().resolve(version)
    for upgrade_from in (None, "1.18.12"):
        values = render_values(load_profile(profile), release, upgrade_from)
        assert check_file(values, CHARTS / version / "values.yaml") == []


@pytest.mark.parametrize("version", VERSIONS)
def test_pinned_images_are_the_chart_defaults(version: str) -> None:
    assert image_mismatches(load_catalogue().resolve(version), chart(version)) == []


def test_checker_catches_a_misspelled_key_in_any_values_file(tmp_path: Path) -> None:
    values_yaml = tmp_path / "values.yaml"
    values_yaml.write_text("hubble:\n  relay:\n    enabled: false\n  annotations: {}\nipam: {}\n")
    good = {"hubble": {"relay": {"enabled": True}, "annotations": {"a": "b"}}}
    bad = {"hubble": {"relay": {"enabeld": True}}, "ipam": {"mode": "kubernetes"}}
    assert check_file(good, values_yaml) == []
    # `ipam: {}` is an empty (free-form) mapping in this chart, so only the typo is reported.
    assert check_file(bad, values_yaml) == ["hubble.relay.enabeld"]


def test_a_key_that_exists_only_in_a_newer_chart_is_reported() -> None:
    # envoy.xdsMode is new in the 1.20 chart; the checker must flag it against 1.18.
    values = {"envoy": {"xdsMode": "ads"}}
    assert "envoy.xdsMode" in key_paths(chart("1.20.0"))
    assert missing_paths(values, chart("1.20.0")) == []
    assert missing_paths(values, chart("1.18.12")) == ["envoy.xdsMode"]


@pytest.mark.parametrize("version", VERSIONS)
def test_authentication_enabled_is_explicit_because_the_default_changed(version: str) -> None:
    chart_default = get(chart(version), "authentication.enabled")
    assert chart_default is (version == "1.18.12")  # true in 1.18, false since 1.19
    values = render_values(load_profile("default"), load_catalogue().resolve(version))
    assert values["authentication"]["enabled"] is True
    spire = values["authentication"]["mutual"]["spire"]
    assert spire["enabled"] is True and spire["install"]["enabled"] is True
    assert spire["install"]["server"]["dataStorage"]["enabled"] is False
    no_auth = render_values(load_profile("no-auth"), load_catalogue().resolve(version))
    assert no_auth["authentication"]["enabled"] is False
    assert no_auth["authentication"]["mutual"]["spire"]["enabled"] is False


@pytest.mark.parametrize("version", VERSIONS)
def test_lab_values(version: str) -> None:
    v = render_values(load_profile("default"), load_catalogue().resolve(version))
    assert v["ipam"]["mode"] == "kubernetes"
    assert v["operator"]["replicas"] == 1
    assert v["kubeProxyReplacement"] is True
    assert v["k8sServiceHost"] == "zt-conformance-control-plane"
    assert v["k8sServicePort"] == 6443
    assert v["prometheus"]["enabled"] is True
    assert v["bpf"]["monitorAggregation"] == "none"
    assert v["hubble"]["relay"]["enabled"] is True
    assert v["l7Proxy"] is True
    assert v["image"]["pullPolicy"] == "IfNotPresent"
    assert "upgradeCompatibility" not in v


@pytest.mark.parametrize("version", VERSIONS)
def test_hubble_metrics_carry_namespace_context(version: str) -> None:
    metrics = render_values(load_profile("default"), load_catalogue().resolve(version))[
        "hubble"]["metrics"]["enabled"]
    assert all(" " not in m for m in metrics)
    names = [m.split(":")[0] for m in metrics]
    assert set(names) >= REQUIRED_METRICS
    assert not ({"http", "httpV2"} <= set(names))  # exclusive
    for metric in metrics:
        name, _, options = metric.partition(":")
        if name in REQUIRED_METRICS:
            assert NS_CONTEXT in options.split(";"), metric


@pytest.mark.parametrize("profile", ["default", "no-auth"])
@pytest.mark.parametrize("version", VERSIONS)
def test_every_preloaded_image_drops_the_digest(profile: str, version: str) -> None:
    prof, release = load_profile(profile), load_catalogue().resolve(version)
    values = render_values(prof, release)
    images = preloaded_images(prof, release)
    assert ("authentication.mutual.spire.install.server.image" in images) is prof.mutual_auth
    assert {"image", "operator.image", "envoy.image", "hubble.relay.image"} <= set(images)
    for path in images:
        block = get(values, path)
        assert block["useDigest"] is False, path
        assert block["pullPolicy"] == "IfNotPresent", path
        assert get(chart(version), path)["useDigest"] is True  # the chart default we override


def test_upgrade_sets_upgrade_compatibility_to_the_old_minor() -> None:
    release = load_catalogue().resolve("1.20.0")
    values = render_values(load_profile("default"), release, upgrade_from="1.19.6")
    assert values["upgradeCompatibility"] == "1.19"
