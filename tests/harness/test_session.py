"""Preflight: everything that makes a run pointless is one clear error up front."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import clusters.api
from clusters.errors import NotReadyError
from conformance.harness import session
from conformance.harness.cluster import (
    FEATURE_HUBBLE_METRICS,
    FEATURE_HUBBLE_RELAY,
    FEATURE_L7_PROXY,
    ClusterFacts,
)

DEAD = ("apiVersion: v1\nkind: Config\ncurrent-context: dead\n"
        "clusters: [{name: dead, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "contexts: [{name: dead, context: {cluster: dead, user: u}}]\n"
        "users: [{name: u, user: {token: x}}]\n")


def facts(*features: str) -> ClusterFacts:
    return ClusterFacts("1.19.6", frozenset(features), "10.96.0.10:53")


def test_missing_hubble_is_named() -> None:
    with pytest.raises(session.PreflightError, match="lacks hubble-relay, hubble-metrics"):
        session.check_facts(facts(FEATURE_L7_PROXY))
    session.check_facts(facts(FEATURE_HUBBLE_RELAY, FEATURE_HUBBLE_METRICS))


def test_unmodelled_cilium_version_is_named() -> None:
    old = ClusterFacts("1.15.6", frozenset({FEATURE_HUBBLE_RELAY, FEATURE_HUBBLE_METRICS}),
                       "10.96.0.10:53")
    with pytest.raises(session.PreflightError, match=r"runs Cilium 1\.15\.6.*1\.18, 1\.19"):
        session.check_facts(old)


def test_kind_provisioning_failure_is_one_paragraph(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(options: Any, env: Any = None) -> Any:
        raise NotReadyError("cilium DaemonSet not ready after 300s: 1/2 agents ready")

    monkeypatch.setattr(clusters.api, "up", fail)
    with pytest.raises(session.PreflightError,
                       match="provisioning the kind cluster failed: cilium DaemonSet"):
        session.preflight("kind", fault=None, kubeconfig=None, context=None,
                          cilium_version="1.19", keep_cluster=False)


def test_kind_hands_the_provisioned_kubeconfig_on(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(DEAD)
    seen: list[Any] = []

    def up(options: Any, env: Any = None) -> clusters.api.UpResult:
        seen.append(options)
        return clusters.api.UpResult(str(kubeconfig), "dead", "1.19.6", reused=True)

    monkeypatch.setattr(clusters.api, "up", up)
    # The provisioned cluster is then reached like an existing one (here: nothing listens).
    with pytest.raises(session.PreflightError, match="cannot reach the cluster"):
        session.preflight("kind", fault=None, kubeconfig=None, context=None,
                          cilium_version="1.19", keep_cluster=True)
    assert seen[0].cilium_version == "1.19" and seen[0].keep_on_failure is True


def test_fault_is_simulated_only() -> None:
    with pytest.raises(session.PreflightError, match="only applies to --cluster=simulated"):
        session.preflight("kind", fault="l7-off", kubeconfig=None, context=None,
                          cilium_version=None, keep_cluster=False)


def test_simulated_preflight_starts_one_emulator_and_names_its_kubeconfig() -> None:
    try:
        kubeconfig, context = session.preflight(
            "simulated", fault="jitter", kubeconfig=None, context=None,
            cilium_version="1.19", keep_cluster=False)
        assert kubeconfig is not None and context == "zt-emulated"
        assert "server: http://127.0.0.1:" in Path(kubeconfig).read_text()
        kube = session.open_cluster("simulated", kubeconfig=kubeconfig, context=context)
        try:
            assert kube.facts().cilium_version == "1.19.6"  # the line's emulated release
        finally:
            kube.close()
    finally:
        session.stop_emulators()
    assert not session._EMULATORS


def test_an_unknown_fault_starts_nothing() -> None:
    with pytest.raises(session.PreflightError, match=r"unknown fault 'nope'.*jitter"):
        session.preflight("simulated", fault="nope", kubeconfig=None, context=None,
                          cilium_version=None, keep_cluster=False)
    assert not session._EMULATORS


def test_existing_non_kind_context_is_refused_before_connecting(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(DEAD.replace("dead", "prod-eu"))
    with pytest.raises(session.PreflightError, match="refusing to use kube context 'prod-eu'"):
        session.preflight("existing", fault=None, kubeconfig=str(kubeconfig), context=None,
                          cilium_version=None, keep_cluster=False)
    with pytest.raises(session.PreflightError, match="refusing to use kube context 'staging'"):
        session.preflight("existing", fault=None, kubeconfig=str(kubeconfig),
                          context="staging", cilium_version=None, keep_cluster=False)


def test_existing_allowed_or_kind_context_goes_on_to_connect(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(DEAD.replace("dead", "prod-eu"))
    # Past the guard, the unreachable server is the error: the guard let it through.
    with pytest.raises(session.PreflightError, match="cannot reach the cluster"):
        session.preflight("existing", fault=None, kubeconfig=str(kubeconfig), context=None,
                          cilium_version=None, keep_cluster=False, allow_existing_cluster=True)
    kubeconfig.write_text(DEAD.replace("dead", "kind-zt"))
    with pytest.raises(session.PreflightError, match="cannot reach the cluster"):
        session.preflight("existing", fault=None, kubeconfig=str(kubeconfig), context=None,
                          cilium_version=None, keep_cluster=False)


def test_unreadable_kubeconfig_names_the_flag(tmp_path: Path) -> None:
    with pytest.raises(session.PreflightError, match="--kubeconfig"):
        session.preflight("existing", fault=None, kubeconfig=str(tmp_path / "missing"),
                          context=None, cilium_version=None, keep_cluster=False)
