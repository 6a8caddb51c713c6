"""The content + endpoint-list wait, against the emulated agents' bookkeeping and a fake clock.

The agents (clusters/emulated/agents.py) follow upstream: one repository revision per
agent moved by every import from anyone, rules labelled with their object's uid, no-op
bumps for endpoints a change does not select, proxy revisions only for the endpoints the
change's L7 rules select. The same class backs the emulated cluster, so these tests and
the end-to-end run hold the wait to one description of Cilium, with its citations.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest

from clusters.emulated.agents import Agents
from conformance.harness.cluster import AgentPolicy, EndpointRevision
from conformance.harness.policy_wait import (
    Clock,
    PolicyTimeout,
    apply_and_wait,
    delete_and_confirm,
    delete_and_wait,
    endpoint_identity,
    unrealized,
)

NS = "ztc-gw0"
NODES = ("kind-worker", "kind-worker2")
SERVER = ["k8s:app=account-service", f"k8s:io.kubernetes.pod.namespace={NS}"]
CLIENT = ["k8s:app=payment-processor", f"k8s:io.kubernetes.pod.namespace={NS}"]
OTHER = ["k8s:app=payment-processor", "k8s:io.kubernetes.pod.namespace=ztc-gw1"]
HOST = ["reserved:host"]


def cnp(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
            "metadata": {"name": name, "namespace": NS}, "spec": spec}


SERVER_SEL = {"matchLabels": {"app": "account-service"}}
L4_DOC = cnp("l4", {"endpointSelector": SERVER_SEL, "ingress": [{"fromEndpoints": [{}]}]})
L7_DOC = cnp("l7", {"endpointSelector": SERVER_SEL, "ingress": [{
    "fromEndpoints": [{}], "toPorts": [{"ports": [{"port": "8080", "protocol": "TCP"}],
                                        "rules": {"http": [{"method": "GET"}]}}]}]})


@dataclass
class FakeTime:
    t: float = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class AgentsCluster:
    """The PolicyAPI over emulated agents: apply/delete are changes of the object store."""

    time: FakeTime
    import_lag: float = 0.5
    regen_lag: float = 1.0
    proxy_lag: float = 1.5
    own_import_extra: float = 0.0  # our changes only: lag behind foreign ones
    calls: list[str] = field(default_factory=list)
    uids: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.agents = Agents(NODES, self.time.now, import_lag=lambda: self.import_lag,
                             regen_lag=lambda: self.regen_lag,
                             proxy_lag=lambda: self.proxy_lag, lock=threading.RLock())
        self._ids = itertools.count(100)
        for labels, node in ((SERVER, NODES[0]), (SERVER, NODES[1]), (CLIENT, NODES[0]),
                             (OTHER, NODES[1]), (HOST, NODES[0])):
            self.agents.add_endpoint(next(self._ids), node, endpoint_identity(labels))
        self.labels = {ep: lab for ep, lab in zip(self.agents.endpoints, (
            SERVER, SERVER, CLIENT, OTHER, HOST), strict=True)}

    def foreign_change(self, extra: float = 0.0) -> None:
        """Another worker's object: moves every revision, selects none of ours."""
        doc = {**cnp("foreign", {"endpointSelector": SERVER_SEL}),
               "metadata": {"name": f"foreign-{self.time.t}", "namespace": "ztc-gw9"}}
        self.agents.change(("CiliumNetworkPolicy", "ztc-gw9", doc["metadata"]["name"]), doc,
                           f"uid-foreign-{self.time.t}", extra)

    def apply(self, docs: list[dict[str, Any]]) -> list[str]:
        out = []
        for doc in docs:
            self.calls.append(f"apply {doc['metadata']['name']}")
            uid = self.uids.setdefault(doc["metadata"]["name"], f"uid-{len(self.uids)}")
            self.agents.change(("CiliumNetworkPolicy", NS, doc["metadata"]["name"]), doc, uid,
                               self.own_import_extra)
            out.append(uid)
        return out

    def delete(self, docs: list[dict[str, Any]]) -> list[str]:
        out = []
        for doc in docs:
            self.calls.append(f"delete {doc['metadata']['name']}")
            uid = self.uids.pop(doc["metadata"]["name"], None)
            if uid:
                self.agents.change(("CiliumNetworkPolicy", NS, doc["metadata"]["name"]), None,
                                   uid)
                out.append(uid)
        return out

    def agent_policies(self) -> list[AgentPolicy]:
        out = []
        for node in NODES:
            revision, version = self.agents.repository(node)
            out.append(AgentPolicy(node, revision, frozenset(version.uids.values())))
        return out

    def endpoint_revisions(self) -> list[EndpointRevision]:
        out = [EndpointRevision(ep.node, ep.endpoint_id, True,
                                self.agents.realized_revision(ep.endpoint_id),
                                self.agents.proxy_revision(ep.endpoint_id),
                                tuple(self.labels[ep.endpoint_id]))
               for ep in self.agents.endpoints.values()]
        # An endpoint without identity (still being created) is never waited for.
        return [*out, EndpointRevision(NODES[0], 4000, False, 0, 0)]


def clock(t: FakeTime) -> Clock:
    return Clock(now=t.now, sleep=t.sleep)


def realized_everywhere(cluster: AgentsCluster, revisions: dict[str, int]) -> bool:
    return all(ep.policy_revision >= revisions[ep.node]
               for ep in cluster.endpoint_revisions() if ep.has_identity)


def test_waits_for_import_and_every_endpoint_and_records_time_to_enforce() -> None:
    t = FakeTime()
    cluster = AgentsCluster(t)
    r = apply_and_wait(cluster, [L4_DOC], timeout=30, clock=clock(t))
    assert r.revisions == {"kind-worker": 18, "kind-worker2": 24}  # base 17/23 + 1
    # import 0.5 s + the selected endpoints' regeneration 1.0 s; one poll interval more.
    assert 1.5 <= r.seconds <= 1.8
    assert realized_everywhere(cluster, r.revisions)


def test_l7_waits_for_the_proxy_revision_of_the_selected_endpoints_only() -> None:
    t = FakeTime()
    cluster = AgentsCluster(t)
    # Unselected endpoints keep a proxy revision below every new target, for ever: the
    # old rule (every endpoint with 0 < proxy < target) could never complete.
    late_for_ever = [ep for ep in cluster.endpoint_revisions()
                     if ep.has_identity and ep.proxy_policy_revision > 0]
    assert late_for_ever
    r = apply_and_wait(cluster, [L7_DOC], timeout=30, clock=clock(t))
    # 0.5 import + 1.0 regeneration + 1.5 proxy ack (the regeneration waits for it).
    assert 3.0 <= r.seconds <= 3.3
    eps = cluster.endpoint_revisions()
    server = [ep for ep in eps if ep.labels == tuple(SERVER)]
    others = [ep for ep in eps if ep.has_identity and ep.labels != tuple(SERVER)]
    assert all(ep.proxy_policy_revision >= r.revisions[ep.node] for ep in server)
    assert all(0 < ep.proxy_policy_revision < r.revisions[ep.node] for ep in others)


def test_a_foreign_change_that_moves_revisions_first_does_not_end_the_wait() -> None:
    t = FakeTime()
    cluster = AgentsCluster(t, own_import_extra=5.0)
    cluster.foreign_change()  # imported at 0.5 s, ours at 5.5 s
    r = apply_and_wait(cluster, [L4_DOC], timeout=30, clock=clock(t))
    assert r.seconds >= 6.5  # our import (5.5) + regeneration (1.0)
    assert all(cluster.uids["l4"] in a.uids for a in cluster.agent_policies())
    assert r.revisions == {"kind-worker": 19, "kind-worker2": 25}


def test_a_foreign_change_imported_right_after_ours_does_not_strand_the_proxy_wait() -> None:
    """Our L7 change is imported at revision R, a foreign one at R+1 before our first
    poll: the first answer with our uid says R+1, but the selected endpoints' proxy
    revision stays R (the foreign change only bumps them). Waiting for R+1 on the proxy
    revision would never end; the floor is the revision before the change, plus one."""
    t = FakeTime()
    # Regeneration and ack quicker than a poll: the foreign import (which waits for our
    # regenerations) lands before the first poll that sees our uid.
    cluster = AgentsCluster(t, regen_lag=0.02, proxy_lag=0.03)
    apply = cluster.apply

    def then_foreign(docs: list[dict[str, Any]]) -> list[str]:
        uids = apply(docs)
        cluster.foreign_change()
        return uids

    cluster.apply = then_foreign  # type: ignore[method-assign]
    r = apply_and_wait(cluster, [L7_DOC], timeout=30, clock=clock(t))
    assert r.revisions == {"kind-worker": 19, "kind-worker2": 25}
    server = [ep for ep in cluster.endpoint_revisions() if ep.labels == tuple(SERVER)]
    assert [ep.proxy_policy_revision for ep in server] == [18, 24]
    assert r.seconds < 5


def test_an_agent_that_never_imports_times_out_naming_the_node_and_uid() -> None:
    t = FakeTime()
    cluster = AgentsCluster(t, import_lag=1e9)
    with pytest.raises(PolicyTimeout, match=r"kind-worker \(revision 17\).*uid-0"):
        apply_and_wait(cluster, [L4_DOC], timeout=5, clock=clock(t))
    assert t.t >= 5


def test_an_endpoint_that_never_realizes_times_out_naming_it() -> None:
    t = FakeTime()
    cluster = AgentsCluster(t, regen_lag=1e9)
    with pytest.raises(PolicyTimeout, match=r"endpoint 100 on kind-worker \(app=account-service"
                                            r", io.kubernetes.pod.namespace=ztc-gw0\): "
                                            r"policy-revision 17"):
        apply_and_wait(cluster, [L4_DOC], timeout=5, clock=clock(t))


def test_delete_and_wait_restores_everywhere_including_the_proxy() -> None:
    t = FakeTime()
    cluster = AgentsCluster(t)
    apply_and_wait(cluster, [L7_DOC], timeout=30, clock=clock(t))
    start = t.t
    r = delete_and_wait(cluster, [L7_DOC], timeout=30, clock=clock(t))
    assert cluster.calls[-1] == "delete l7" and t.t - start >= 3.0
    assert not any(a.uids for a in cluster.agent_policies())
    assert realized_everywhere(cluster, r.revisions)


def test_delete_and_confirm_waits_for_the_removal_from_every_repository_only() -> None:
    t = FakeTime()
    cluster = AgentsCluster(t)
    apply_and_wait(cluster, [L4_DOC], timeout=30, clock=clock(t))
    r = delete_and_confirm(cluster, [L4_DOC], timeout=30, clock=clock(t))
    assert 0.5 <= r.seconds < 0.8
    assert not realized_everywhere(cluster, r.revisions)  # regeneration still pending
    # The next apply waits for endpoints at a revision that includes the removal.
    nxt = apply_and_wait(cluster, [L4_DOC], timeout=30, clock=clock(t))
    assert nxt.revisions["kind-worker"] == r.revisions["kind-worker"] + 1
    assert realized_everywhere(cluster, nxt.revisions)


def test_deleting_what_is_absent_waits_for_nothing() -> None:
    t = FakeTime()
    r = delete_and_wait(AgentsCluster(t), [L4_DOC], timeout=30, clock=clock(t))
    assert r.seconds < 0.5


def test_staged_apply_realizes_each_document_before_sending_the_next() -> None:
    t = FakeTime()
    cluster = AgentsCluster(t)
    sent: list[float] = []
    apply = cluster.apply

    def timed(docs: list[dict[str, Any]]) -> list[str]:
        sent.append(t.t)
        assert realized_everywhere(cluster, {n: cluster.agents.revision(n) for n in NODES})
        return apply(docs)

    cluster.apply = timed  # type: ignore[method-assign]
    apply_and_wait(cluster, [L4_DOC, L7_DOC], timeout=30, clock=clock(t), staged=True)
    assert cluster.calls == ["apply l4", "apply l7"] and sent[1] - sent[0] >= 1.5
    delete_and_wait(cluster, [L4_DOC, L7_DOC], timeout=30, clock=clock(t), staged=True)
    assert cluster.calls[2:] == ["delete l7", "delete l4"]  # backwards


def test_unrealized_ignores_reserved_and_identityless_endpoints() -> None:
    eps = [EndpointRevision("n", 1, True, 5, 3, tuple(HOST)),
           EndpointRevision("n", 2, False, 0, 0)]
    assert unrealized(eps, {"n": 5}, {"n": 5}, []) == []
    assert endpoint_identity(HOST) is None
