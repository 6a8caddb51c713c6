"""Existing clusters: the kind- guard, detection of version and features, runnable groups."""

from __future__ import annotations

from pathlib import Path

import pytest
from clusters_fakes import World, kind_kubeconfig, make_env
from test_clusters_up import preflight

from clusters.blueprint import make_setup
from clusters.detect import (
    describe,
    detect_with,
    features_from,
    runnable_groups,
    scenario_requirements,
)
from clusters.env import Kube
from clusters.errors import ClustersError, CommandFailed, RefusedError
from clusters.existing import up_existing
from clusters.guard import check_context
from clusters.runner import CommandResult
from clusters.upgrade import upgrade_existing
from conformance.harness.cluster import (
    FEATURE_FQDN_TARGETS,
    FEATURE_HUBBLE_METRICS,
    FEATURE_HUBBLE_RELAY,
    FEATURE_KPR,
    FEATURE_L7_PROXY,
    FEATURE_MUTUAL_AUTH,
)

FULL_CONFIG = {
    "enable-l7-proxy": "true",
    "kube-proxy-replacement": "true",
    "hubble-metrics": "dns:labelsContext=source_namespace drop flow",
    "hubble-metrics-server": ":9965",
    "mesh-auth-enabled": "true",
    "mesh-auth-mutual-enabled": "true",
    "external-envoy-proxy": "true",
}


@pytest.mark.parametrize("context", ["kind-zt-conformance", "kind-x"])
def test_kind_contexts_pass_the_guard(context: str) -> None:
    check_context(context, allow_existing_cluster=False)


@pytest.mark.parametrize("context", ["prod-eu", "gke_proj_zone_staging", "kin-d", "Kind-x", ""])
def test_other_contexts_are_refused_unless_allowed(context: str) -> None:
    with pytest.raises(RefusedError, match="--allow-existing-cluster"):
        check_context(context, allow_existing_cluster=False)
    check_context(context, allow_existing_cluster=True)


def test_refused_context_is_never_read() -> None:
    world = World(current_context="staging-admin")
    env, tools, _, _ = make_env(world)
    with pytest.raises(RefusedError, match="'staging-admin'"):
        up_existing(env, "/home/u/.kube/config", None, allow_existing_cluster=False)
    # Only the kubeconfig's current-context was looked up; nothing touched the cluster.
    assert tools.calls == [("kubectl", "--kubeconfig", "/home/u/.kube/config",
                            "config", "current-context")]


def test_explicit_non_kind_context_refused_without_any_command() -> None:
    env, tools, _, _ = make_env(World())
    with pytest.raises(RefusedError):
        up_existing(env, None, "prod", allow_existing_cluster=False)
    assert tools.calls == []


def test_allowed_existing_cluster_is_detected_not_provisioned() -> None:
    world = World(cilium_config=FULL_CONFIG, agent_image="quay.io/cilium/cilium:v1.19.6@sha256:f")
    env, tools, _, said = make_env(world)
    got = up_existing(env, "/k", "staging", allow_existing_cluster=True)
    assert (got.context, got.cilium_version, got.reused) == ("staging", "1.19.6", True)
    assert {c[0] for c in tools.calls} == {"kubectl"}
    assert all("get" in c for c in tools.calls)  # read-only
    assert any("Cilium 1.19.6" in line for line in said)


def test_detect_reads_version_and_every_feature() -> None:
    world = World(cilium_config=FULL_CONFIG,
                  marker={"external-targets": '{"api.stripe.com": "192.0.2.5"}'})
    env, _, _, _ = make_env(world)
    found = detect_with(env, Kube("/k", "kind-zt-conformance"))
    assert found.cilium_version == "1.20.0"
    assert found.features == {FEATURE_L7_PROXY, FEATURE_KPR, FEATURE_HUBBLE_METRICS,
                              FEATURE_MUTUAL_AUTH, FEATURE_HUBBLE_RELAY, FEATURE_FQDN_TARGETS}
    assert found.external_envoy is True
    assert found.external_targets == {"api.stripe.com": "192.0.2.5"}


def test_features_off_are_not_reported() -> None:
    config = {"enable-l7-proxy": "false", "kube-proxy-replacement": "false",
              "mesh-auth-enabled": "true", "mesh-auth-mutual-enabled": "false",
              "hubble-metrics": "drop"}  # no metrics server address: metrics are off
    assert features_from(config, {"status": {"readyReplicas": 0}}, {}) == frozenset()
    assert features_from({"kube-proxy-replacement": "strict"}, None, {}) == {FEATURE_KPR}


def test_groups_report_names_what_is_missing() -> None:
    groups = {"l3": (), "grpc": (FEATURE_L7_PROXY,), "auth": (FEATURE_MUTUAL_AUTH,
                                                              FEATURE_L7_PROXY)}
    got = runnable_groups(frozenset({FEATURE_L7_PROXY}), groups)
    assert got == {"l3": [], "grpc": [], "auth": [FEATURE_MUTUAL_AUTH]}


def test_report_lists_the_suites_own_scenarios() -> None:
    scenarios = scenario_requirements()
    assert scenarios  # read from conformance/scenarios, not a copy
    text = describe(detect_with(make_env(World(cilium_config={}))[0], Kube(None, "kind-a")))
    for name, needs in scenarios.items():
        if "not loadable" in name:
            continue  # the suite's own problem; shown as "unknown"
        line = next(x for x in text.splitlines() if x.strip().startswith(name + " "))
        missing = [f for f in needs if f != FEATURE_HUBBLE_RELAY]  # the fake relay is ready
        assert line.endswith("runs" if not missing else f"skips (needs {', '.join(missing)})")


def test_scenario_requirements_are_parsed_not_imported(tmp_path: Path) -> None:
    from clusters.detect import _declared_scenario

    good = tmp_path / "test_good.py"
    good.write_text("import sys\nSCENARIO = Scenario(name='g', title='t', cells=(),\n"
                    "    requires=(FEATURE_L7_PROXY, 'fqdn-targets'))\nsys.exit(1)\n")
    assert _declared_scenario(good) == ("g", (FEATURE_L7_PROXY, "fqdn-targets"))
    odd = tmp_path / "test_odd.py"
    odd.write_text("SCENARIO = Scenario(name=NAME, requires=())\n")
    with pytest.raises(ValueError, match="not a string literal"):
        _declared_scenario(odd)
    (tmp_path / "test_none.py").write_text("X = 1\n")
    assert _declared_scenario(tmp_path / "test_none.py") is None


def test_garbage_from_the_cluster_is_a_clear_error_not_a_traceback() -> None:
    world = World()
    env, _, _, _ = make_env(world)
    world.agent_image = "quay.io/cilium/cilium@sha256:only-a-digest"
    with pytest.raises(ClustersError, match="cannot read the Cilium version"):
        detect_with(env, Kube(None, "kind-a"))

    def broken(argv: object, **_: object) -> CommandResult:
        return CommandResult((), 0, "{not json", "")

    env.runner = type("R", (), {"run": staticmethod(broken)})()
    with pytest.raises(ClustersError, match="unexpected answer"):
        detect_with(env, Kube(None, "kind-a"))


def test_existing_cluster_reports_the_kubeconfig_kubectl_reads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    lab = kind_kubeconfig(tmp_path / "lab.yaml", "kind-lab")
    monkeypatch.setenv("KUBECONFIG", lab)
    env, _, _, _ = make_env(World())
    assert up_existing(env, None, "kind-lab", False).kubeconfig == lab
    other = kind_kubeconfig(tmp_path / "config", "kind-lab")
    assert up_existing(env, other, "kind-lab", False).kubeconfig == other


@pytest.mark.parametrize(("old", "new"), [("1.19.6", "1.20.0"), ("1.18.12", "1.19.6")])
def test_upgrade_of_an_existing_cluster_keeps_its_values(tmp_path: Path, old: str,
                                                         new: str) -> None:
    world = World(cilium_config=FULL_CONFIG, agent_image=f"quay.io/cilium/cilium:v{old}")
    env, tools, _, _ = make_env(world)
    setup = make_setup("default", new, files_dir=tmp_path)
    got = upgrade_existing(setup, env, "/k", "staging", allow_existing_cluster=True)
    assert got.cilium_version == new
    kube = ("kubectl", "--kubeconfig", "/k", "--context", "staging")
    # the pre-flight check runs before helm upgrade (no k8sServiceHost in these values)
    start = tools.calls.index(preflight(new, kube, tmp_path, api=None)[0])
    assert tools.calls[start:start + 5] == preflight(new, kube, tmp_path, api=None)
    helm_calls = [c for c in tools.calls if c[0] == "helm" and c[1] != "template"]
    [(saved, mode, dir_mode, content)] = world.helm_values
    assert helm_calls == [
        ("helm", "get", "values", "cilium", "--namespace", "kube-system", "-o", "yaml",
         "--kubeconfig", "/k", "--kube-context", "staging"),
        ("helm", "upgrade", "cilium", "cilium", "--repo", "https://helm.cilium.io",
         "--version", new, "--namespace", "kube-system", "--values", saved,
         "--set", f"upgradeCompatibility={old.rsplit('.', 1)[0]}", "--kubeconfig", "/k",
         "--kube-context", "staging"),
    ]
    assert tools.calls.index(helm_calls[1]) > start + 4
    # The installed values (may hold secrets) are private while helm reads them, then gone.
    assert "relay" in content and (mode, dir_mode) == (0o600, 0o700)
    assert not Path(saved).exists() and not Path(saved).parent.exists()
    assert list(tmp_path.iterdir()) == []
    waited = {c[c.index("get") + 2] for c in tools.calls if "get" in c and "-o" in c
              and c[c.index("get") + 1] in ("daemonset", "deployment")}
    assert {"cilium", "cilium-operator", "cilium-envoy", "hubble-relay", "spire-agent"} <= waited
    assert not [c for c in tools.calls if c[0] in ("kind", "docker")]


def test_failed_upgrade_of_an_existing_cluster_leaves_no_values_file(tmp_path: Path) -> None:
    world = World(cilium_config=FULL_CONFIG, agent_image="quay.io/cilium/cilium:v1.19.6",
                  fail_on={"upgrade": "Error: UPGRADE FAILED: timed out"})
    env, _, _, _ = make_env(world)
    with pytest.raises(CommandFailed, match="UPGRADE FAILED"):
        upgrade_existing(make_setup("default", "1.20.0", files_dir=tmp_path), env, "/k",
                         "staging", allow_existing_cluster=True)
    [(saved, _, _, _)] = world.helm_values
    assert not Path(saved).parent.exists()


def test_an_existing_cluster_is_not_upgraded_over_a_minor(tmp_path: Path) -> None:
    world = World(cilium_config=FULL_CONFIG, agent_image="quay.io/cilium/cilium:v1.18.12")
    env, tools, _, _ = make_env(world)
    with pytest.raises(RefusedError, match="skips a minor"):
        upgrade_existing(make_setup("default", "1.20.0", files_dir=tmp_path), env, "/k",
                         "staging", allow_existing_cluster=True)
    assert not [c for c in tools.calls if c[0] == "helm"]


def test_upgrade_of_a_non_kind_context_is_refused_before_anything_runs(tmp_path: Path) -> None:
    env, tools, _, _ = make_env(World())
    setup = make_setup("default", "1.20.0", files_dir=tmp_path)
    with pytest.raises(RefusedError):
        upgrade_existing(setup, env, None, "prod", allow_existing_cluster=False)
    assert tools.calls == []
