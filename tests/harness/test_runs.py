"""Run ids in names and labels, and sweeping what killed runs left on a shared cluster.

Two runs share one simulated cluster here, as two `pytest conformance/scenarios` runs
share a kind cluster: neither may delete the other's objects while it may be live, and a
killed run's namespaces and cluster-wide policies go once they are stale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from conformance.harness import runs
from conformance.harness.kube import KubeCluster
from conformance.harness.planning import (
    MAX_NAMESPACE_LEN,
    RunOptions,
    clusterwide_policies,
    namespace_names,
    new_workspace,
)
from conformance.harness.render import RUN_LABEL, WORKER_LABEL
from conformance.scenarios import test_clusterwide_default_deny, test_default_deny
from tests.support.emulated import Emulators

STALE = 3600.0


@dataclass
class Deletes:
    """The simulated cluster, recording the names of every policy and namespace deleted."""

    inner: KubeCluster
    policies: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def delete(self, docs: list[dict[str, Any]]) -> Any:
        self.policies += [d["metadata"]["name"] for d in docs]
        return self.inner.delete(docs)

    def delete_namespace(self, namespace: str) -> None:
        self.namespaces.append(namespace)
        self.inner.delete_namespace(namespace)


def started(cluster: Any, run: str, worker: str = "gw0") -> Any:
    """A worker of `run` that deployed its namespaces and applied default-deny (whose
    scoped baseline is a cluster-wide policy)."""
    ws = new_workspace(cluster, worker, RunOptions(), run)
    ws.ensure("payments")
    ws.ensure("partners")
    cluster.apply(ws.render(test_default_deny.SCENARIO.policy_documents()))
    return ws


def test_names_and_labels_carry_the_run_id(emulated: Emulators) -> None:
    cluster = emulated.cluster(fresh=True)
    a, b = started(cluster, "aaaa1111"), started(cluster, "bbbb2222")
    assert a.namespaces["payments"] == "ztc-aaaa1111-gw0"
    assert set(a.namespaces.values()).isdisjoint(b.namespaces.values())
    names_a = {d["metadata"]["name"] for d in clusterwide_policies(a)}
    names_b = {d["metadata"]["name"] for d in clusterwide_policies(b)}
    assert names_a.isdisjoint(names_b)
    assert "ztc-aaaa1111-gw0-default-deny-all" in names_a
    assert "zt-conformance-aaaa1111-default-deny-all" in names_a  # the disruptive one
    for d in clusterwide_policies(a):
        assert d["metadata"]["labels"][RUN_LABEL] == "aaaa1111"
    scoped = next(d for d in clusterwide_policies(a)
                  if d["metadata"]["name"] == "ztc-aaaa1111-gw0-default-deny-all")
    assert scoped["spec"]["endpointSelector"]["matchExpressions"][0]["values"] \
        == sorted(a.namespaces.values())  # never another run's pods
    disruptive = next(d for d in clusterwide_policies(a)
                      if d["metadata"]["name"] == "zt-conformance-aaaa1111-default-deny-all")
    assert disruptive["spec"]["endpointSelector"] == {}  # truly cluster-wide, by design
    listed = {ns.name: ns.labels for ns in cluster.list_namespaces(f"{RUN_LABEL}=aaaa1111")}
    assert set(listed) == set(a.namespaces.values())
    assert all(labels[WORKER_LABEL] == "gw0" for labels in listed.values())


def test_a_live_run_is_never_touched(emulated: Emulators) -> None:
    cluster = Deletes(emulated.cluster(fresh=True))
    a = started(cluster, "aaaa1111")
    # The oldest: creationTimestamp has whole seconds, and a's namespaces span more than one.
    now = min(ns.created for ns in cluster.list_namespaces(runs.PART_OF_SELECTOR))
    # Run b starts on the same cluster while a is still running (young objects).
    assert runs.sweep(cluster, "bbbb2222", STALE, now=now + STALE - 1) == []
    assert cluster.policies == [] and cluster.namespaces == []
    assert {n.name for n in cluster.list_namespaces(runs.PART_OF_SELECTOR)} \
        == set(a.namespaces.values())


def test_stale_runs_are_swept_with_their_cluster_wide_policies(emulated: Emulators) -> None:
    cluster = Deletes(emulated.cluster(fresh=True))
    killed = started(cluster, "aaaa1111", "gw5")
    cluster.apply(killed.render(test_clusterwide_default_deny.SCENARIO.policy_documents(),
                                clusterwide=True))
    # Before run ids: a hard-killed `-n 8` run left `ztc-gw2` behind, labelled part-of only.
    cluster.deploy_workloads("ztc-gw2")
    created = max(ns.created for ns in cluster.list_namespaces(runs.PART_OF_SELECTOR))
    ours = started(cluster, "bbbb2222")  # the sweeping run's own: never swept
    swept = runs.sweep(cluster, "bbbb2222", STALE, now=created + STALE + 1)
    assert {s.namespace for s in swept} == {"ztc-aaaa1111-gw5", "ztc-aaaa1111-gw5-partners",
                                             "ztc-gw2"}
    assert set(cluster.namespaces) == {s.namespace for s in swept}
    assert "ztc-aaaa1111-gw5-default-deny-all" in cluster.policies
    assert "zt-conformance-aaaa1111-default-deny-all" in cluster.policies
    assert "ztc-gw2-default-deny-all" in cluster.policies  # the legacy naming
    assert "zt-conformance-default-deny-all" not in cluster.policies  # global: maybe live
    assert not any("bbbb2222" in name for name in cluster.policies)
    left = {n.name for n in cluster.list_namespaces(runs.PART_OF_SELECTOR)}
    assert left == set(ours.namespaces.values())


def test_namespaces_the_suite_did_not_name_are_left_alone(emulated: Emulators) -> None:
    cluster = Deletes(emulated.cluster(fresh=True))
    cluster.deploy_workloads("payments-prod")  # part-of label, but not a name we give
    cluster.deploy_workloads("ztc-x", {RUN_LABEL: "cccc", WORKER_LABEL: "gw/1"})
    assert runs.sweep(cluster, "bbbb2222", STALE, now=1e12) == []
    assert cluster.namespaces == []


def test_namespace_names_stay_dns_labels() -> None:
    names = namespace_names("gw127", runs.new_run_id())
    assert all(len(n) <= MAX_NAMESPACE_LEN for n in names.values())
    with pytest.raises(ValueError, match="at most 63"):
        namespace_names("gw" + "9" * 60, "aaaa1111")
    with pytest.raises(runs.RunIdError):
        runs.check_run_id("Run_1")
