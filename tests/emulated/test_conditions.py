"""The conditions of real clusters that the emulator injects (revision-race, proxy-lag,
exec-v4) against the policy wait and exec as they were before issue 13, and as they are.

The "before" wait is kept here, verbatim in logic, as the thing these conditions must
catch: revision moved on every agent => imported; then every endpoint with an identity at
that revision, and (with L7 rules) every endpoint with 0 < proxy revision < target.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from clusters.emulated.controlplane import ControlPlane
from clusters.emulated.world import NODES
from conformance.harness.cluster import AgentPolicy, EndpointRevision
from conformance.harness.kube_api import ApiError
from conformance.harness.kube_cilium import parse_endpoints, parse_policy
from conformance.harness.policy_wait import Clock, PolicyTimeout, apply_and_wait
from tests.emulated.support import FakeClock, apply, delete, deploy

REPO = Path(__file__).resolve().parents[2]
NS = "ztc-cond-gw0"
TIMEOUT_S = 30.0
POLL_S = 0.2


def plane_with_workloads(fault: str | None, clock: FakeClock) -> ControlPlane:
    plane = ControlPlane(fault=fault, clock=clock)
    deploy(plane, NS)
    return plane


def wait_clock(clock: FakeClock) -> Clock:
    return Clock(now=clock, sleep=clock.advance)


def l7_policy() -> dict[str, Any]:
    doc = yaml.safe_load((REPO / "manifests/policies/l7-http/account-service-ingress.yaml"
                          ).read_text())
    doc["metadata"]["namespace"] = NS
    return dict(doc)


@dataclass
class PlaneClient:
    """The PolicyAPI over a ControlPlane, reading the agents' real answers."""

    plane: ControlPlane

    def apply(self, docs: list[dict[str, Any]]) -> list[str]:
        return [obj["metadata"]["uid"] for obj in apply(self.plane, *docs)]

    def delete(self, docs: list[dict[str, Any]]) -> list[str]:
        return [obj["details"]["uid"] for obj in delete(self.plane, *docs)]

    def agent_policies(self) -> list[AgentPolicy]:
        return [parse_policy(n, self.plane.policy_get(n)) for n in NODES]

    def endpoint_revisions(self) -> list[EndpointRevision]:
        return [ep for n in NODES for ep in parse_endpoints(n, self.plane.endpoint_list(n))]

    def policy_revisions(self) -> dict[str, int]:
        return {a.node: a.revision for a in self.agent_policies()}


def wait_before_issue_13(client: PlaneClient, docs: list[dict[str, Any]], l7: bool,
                         clock: FakeClock) -> None:
    deadline = clock() + TIMEOUT_S
    before = client.policy_revisions()
    client.apply(docs)
    while True:
        now = client.policy_revisions()
        if all(now[n] > rev for n, rev in before.items()):
            break
        if clock() > deadline:
            raise PolicyTimeout("revision did not move")
        clock.advance(POLL_S)
    while True:
        late = [ep for ep in client.endpoint_revisions() if ep.has_identity and (
            ep.policy_revision < now[ep.node]
            or (l7 and 0 < ep.proxy_policy_revision < now[ep.node]))]
        if not late:
            return
        if clock() > deadline:
            raise PolicyTimeout(f"{len(late)} endpoints late")
        clock.advance(POLL_S)


def our_rules_imported(client: PlaneClient, uid: str) -> bool:
    return all(uid in a.uids for a in client.agent_policies())


def test_without_conditions_the_old_wait_never_completes_with_l7_rules() -> None:
    """Defect 1: unselected endpoints keep 0 < proxy revision < target for ever."""
    clock = FakeClock()
    client = PlaneClient(plane_with_workloads(None, clock))
    with pytest.raises(PolicyTimeout):
        wait_before_issue_13(client, [l7_policy()], True, clock)
    clock2 = FakeClock()
    client2 = PlaneClient(plane_with_workloads(None, clock2))
    apply_and_wait(client2, [l7_policy()], timeout=TIMEOUT_S,
                   clock=wait_clock(clock2))


def test_revision_race_lets_the_old_wait_pass_before_our_rules_are_imported() -> None:
    """Defect 2: a foreign import moves every revision first; the old wait (L4 mode, the
    one that could complete) returns while no agent has our rules."""
    clock = FakeClock()
    client = PlaneClient(plane_with_workloads("revision-race", clock))
    policy = l7_policy()
    wait_before_issue_13(client, [policy], False, clock)
    uid = client.plane.get(("ciliumnetworkpolicies", NS, policy["metadata"]["name"])
                           )["metadata"]["uid"]
    assert not our_rules_imported(client, uid)  # traffic now would see the old policy

    clock2 = FakeClock()
    client2 = PlaneClient(plane_with_workloads("revision-race", clock2))
    apply_and_wait(client2, [l7_policy()], timeout=TIMEOUT_S,
                   clock=wait_clock(clock2))
    uid2 = client2.plane.get(("ciliumnetworkpolicies", NS, policy["metadata"]["name"])
                             )["metadata"]["uid"]
    assert our_rules_imported(client2, uid2)


def test_proxy_lag_is_waited_out_on_the_selected_endpoints() -> None:
    clock = FakeClock()
    client = PlaneClient(plane_with_workloads("proxy-lag", clock))
    start = clock()
    apply_and_wait(client, [l7_policy()], timeout=TIMEOUT_S,
                   clock=wait_clock(clock))
    assert clock() - start >= 3.0  # PROXY_LAG_S
    selected = [ep for ep in client.endpoint_revisions() if "k8s:app=account-service" in
                ep.labels and f"k8s:io.kubernetes.pod.namespace={NS}" in ep.labels]
    assert len(selected) == 2 and all(ep.proxy_policy_revision > 0 for ep in selected)


def test_exec_v4_gives_a_plain_prober_run_no_eof() -> None:
    """Defect 3, through the real client and the emulator process: the old argv (plain
    `prober run` where the server is 1.30+) waits for an EOF that v4 never sends; the
    byte-counted argv finishes."""
    from clusters.emulated.process import EmulatorProcess
    from conformance.harness.kube import KubeCluster

    emulator = EmulatorProcess(fault="exec-v4")
    try:
        kube = KubeCluster.connect(emulator.kubeconfig, emulator.context)
        try:
            pods = kube.deploy_workloads(NS)
            client = next(p for p in pods if p.labels.get("app") == "payment-processor")
            probes = [{"id": "a", "kind": "tcp", "host": pods[0].ip, "port": 8080,
                       "timeout": 1}]
            with pytest.raises(ApiError, match="did not finish within 2s"):
                kube.api.exec(NS, client.name, None, ["prober", "run"], json.dumps(probes),
                              timeout=2)
            assert [r["id"] for r in kube.run_probes(client, probes)] == ["a"]
        finally:
            kube.close()
    finally:
        emulator.stop()
