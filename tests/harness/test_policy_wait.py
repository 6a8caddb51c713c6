"""The revision + endpoint-list wait, against a small scripted cluster and a fake clock.

The fake agent behaves like Cilium's: every change bumps the node's policy revision
after an import delay; each endpoint realizes the new revision after its own delay, the
proxy revision (L7) after a further one. Other workers' changes bump revisions too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from conformance.harness.cluster import EndpointRevision
from conformance.harness.policy_wait import (
    Clock,
    PolicyTimeout,
    apply_and_wait,
    delete_and_confirm,
    delete_and_wait,
)

DOC = {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
       "metadata": {"name": "p", "namespace": "ztc-gw0"}}


@dataclass
class FakeTime:
    t: float = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class FakeAgentCluster:
    """Implements the policy part of the Cluster interface."""

    time: FakeTime
    import_delay: float = 0.5
    realize_delay: dict[int, float] = field(default_factory=lambda: {1: 1.0, 2: 2.0})
    proxy_extra: float = 1.5
    nodes: dict[str, int] = field(default_factory=lambda: {"kind-worker": 40,
                                                            "kind-worker2": 17})
    endpoint_nodes: dict[int, str] = field(default_factory=lambda: {1: "kind-worker",
                                                                     2: "kind-worker2"})
    changes: list[float] = field(default_factory=list)  # times of changes
    applied: list[str] = field(default_factory=list)

    def _bumps(self, at: float) -> int:
        return sum(1 for c in self.changes if c + self.import_delay <= at)

    def policy_revisions(self) -> dict[str, int]:
        return {n: base + self._bumps(self.time.t) for n, base in self.nodes.items()}

    def endpoint_revisions(self) -> list[EndpointRevision]:
        out = []
        for ep, node in self.endpoint_nodes.items():
            base = self.nodes[node]
            rev = base + self._bumps(self.time.t - self.realize_delay[ep])
            proxy = base + self._bumps(self.time.t - self.realize_delay[ep] - self.proxy_extra)
            out.append(EndpointRevision(node, ep, True, rev, proxy))
        # An endpoint without identity (still being created) is never waited for.
        out.append(EndpointRevision("kind-worker", 99, False, 0, 0))
        return out

    def apply(self, docs: list[dict[str, Any]]) -> None:
        self.applied.append("apply")
        self.changes.append(self.time.t)

    def delete(self, docs: list[dict[str, Any]]) -> None:
        self.applied.append("delete")
        self.changes.append(self.time.t)


def clock(t: FakeTime) -> Clock:
    return Clock(now=t.now, sleep=t.sleep)


def test_waits_for_every_endpoint_and_records_time_to_enforce() -> None:
    t = FakeTime()
    cluster = FakeAgentCluster(t)
    r = apply_and_wait(cluster, [DOC], l7=False, timeout=30, clock=clock(t))
    assert r.revisions == {"kind-worker": 41, "kind-worker2": 18}
    # import 0.5 s + the slowest endpoint 2.0 s; polling adds at most one interval.
    assert 2.5 <= r.seconds <= 2.8
    assert all(ep.policy_revision >= r.revisions[ep.node]
               for ep in cluster.endpoint_revisions() if ep.has_identity)


def test_l7_also_waits_for_the_proxy_revision() -> None:
    t = FakeTime()
    r = apply_and_wait(FakeAgentCluster(t), [DOC], l7=True, timeout=30,
                       clock=clock(t))
    assert 4.0 <= r.seconds <= 4.3  # 0.5 + 2.0 + 1.5


def test_other_changes_only_raise_revisions() -> None:
    t = FakeTime()
    cluster = FakeAgentCluster(t)
    cluster.changes.append(-10.0)  # another worker's change, already imported
    r = apply_and_wait(cluster, [DOC], l7=False, timeout=30, clock=clock(t))
    assert r.revisions == {"kind-worker": 42, "kind-worker2": 19}


def test_agent_that_never_imports_times_out_naming_the_node() -> None:
    t = FakeTime()
    cluster = FakeAgentCluster(t, import_delay=1e9)
    with pytest.raises(PolicyTimeout, match="kind-worker still at 40"):
        apply_and_wait(cluster, [DOC], l7=False, timeout=5, clock=clock(t))
    assert t.t >= 5


def test_endpoint_that_never_realizes_times_out_naming_it() -> None:
    t = FakeTime()
    cluster = FakeAgentCluster(t, realize_delay={1: 1.0, 2: 1e9})
    with pytest.raises(PolicyTimeout, match="endpoint 2 on kind-worker2: policy-revision 17"):
        apply_and_wait(cluster, [DOC], l7=False, timeout=5, clock=clock(t))


def test_delete_and_wait_restores_everywhere() -> None:
    t = FakeTime()
    cluster = FakeAgentCluster(t)
    r = delete_and_wait(cluster, [DOC], timeout=30, clock=clock(t))
    assert cluster.applied == ["delete"] and r.seconds >= 4.0  # proxy revision included


def test_delete_and_confirm_waits_for_the_import_only() -> None:
    t = FakeTime()
    cluster = FakeAgentCluster(t)
    r = delete_and_confirm(cluster, [DOC], timeout=30, clock=clock(t))
    assert 0.5 <= r.seconds < 1.0
    # The next apply then waits until endpoints realized a revision above the delete's.
    nxt = apply_and_wait(cluster, [DOC], l7=False, timeout=30, clock=clock(t))
    assert nxt.revisions["kind-worker"] == r.revisions["kind-worker"] + 1
    assert all(ep.policy_revision >= nxt.revisions[ep.node]
               for ep in cluster.endpoint_revisions() if ep.has_identity)


def test_several_documents_are_changed_one_at_a_time_after_each_import() -> None:
    # An agent may import several objects in one revision, or a CCNP and a CNP (two
    # watches) in either order: a moved revision only proves that *some* change arrived.
    t = FakeTime()
    cluster = FakeAgentCluster(t)
    second = {**DOC, "metadata": {"name": "q", "namespace": "ztc-gw0"}}
    r = apply_and_wait(cluster, [DOC, second], l7=False, timeout=30, clock=clock(t))
    assert cluster.applied == ["apply", "apply"]
    assert cluster.changes[1] >= cluster.changes[0] + cluster.import_delay
    assert r.revisions == {"kind-worker": 42, "kind-worker2": 19}
    assert all(ep.policy_revision >= r.revisions[ep.node]
               for ep in cluster.endpoint_revisions() if ep.has_identity)
    d = delete_and_confirm(cluster, [DOC, second], timeout=30, clock=clock(t))
    assert cluster.applied[2:] == ["delete", "delete"] and d.revisions["kind-worker"] == 44
