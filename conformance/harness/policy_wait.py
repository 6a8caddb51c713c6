"""Apply or delete policies and wait until every agent has realized them (never sleep).

The method follows the agent's own bookkeeping (REFERENCE "Waiting for a policy to take
effect"), proved by content rather than by a revision that merely moved:

1. Import, by content. The agent's policy revision is one counter for its whole
   repository (`daemon/restapi/policy.go` getPolicyHandler returns `Repo.Search()`'s
   rules and revision in one answer), so another worker's change can move it while our
   document is not imported yet. Each imported rule carries the label
   `k8s:io.cilium.k8s.policy.uid=<uid>` of its object
   (`pkg/k8s/apis/cilium.io/utils/utils.go` GetPolicyLabels), and the uid is in the
   apply response. Apply: wait until every agent's repository has every uid; delete:
   until none has any. The revision printed *in that same answer* is the target.
2. Realization. Every endpoint with an identity reaches `policy-revision` >= target:
   endpoints the change selects regenerate, the others get a no-op bump
   (`pkg/endpoint/policy.go` UpdatePolicy: "Policy update is a no-op, bumping
   policyRevision").
3. Proxy. `proxy-policy-revision` moves only when Envoy acknowledges a NetworkPolicy
   pushed for an endpoint whose policy was recomputed (`pkg/envoy/xds_server.go`
   UpdateNetworkPolicy registers the `OnProxyPolicyUpdate` callback of
   `pkg/endpoint/endpoint.go`), to the revision the policy was computed at, which may be
   below the target of step 1 (a foreign change imported after ours, before our first
   poll, only bumps it). An endpoint that did not regenerate stays behind for ever, and
   Envoy acknowledges nothing while it has no listeners (DNS rules go to the agent's DNS
   proxy, not Envoy: `pkg/policy/l4.go` redirectTypeDNS). So the proxy revision is
   awaited only on endpoints that the change's HTTP rules select (an Envoy redirect), and
   only up to the first revision that can hold our rules: one above what the agent
   answered before the change. (The proof that Envoy has our rules is step 2: a
   regeneration waits for the proxy's acknowledgements before it reports its revision,
   `pkg/endpoint/bpf.go` regenerateBPF -> waitForProxyCompletions; the proxy revision is
   reported asynchronously and is checked as well.)

`cilium-dbg policy wait` is not used: it hangs under concurrent changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from conformance.harness.cluster import AgentPolicy, ClusterError, EndpointRevision
from conformance.model import PolicyError, PolicySet
from conformance.model.policy import Policy
from conformance.model.selectors import endpoint_identity as endpoint_identity
from conformance.vocabulary.timeouts import POLICY_TIMEOUT_S as POLICY_TIMEOUT_S

POLL_INTERVAL_S = 0.2
NAMESPACE_LABEL = "io.kubernetes.pod.namespace"


class PolicyTimeout(ClusterError):
    """A policy change was not realized before the deadline; names the lagging places."""


class PolicyAPI(Protocol):
    """The part of the Cluster interface a policy change needs."""

    def apply(self, docs: list[dict[str, Any]]) -> list[str]: ...

    def delete(self, docs: list[dict[str, Any]]) -> list[str]: ...

    def agent_policies(self) -> list[AgentPolicy]: ...

    def endpoint_revisions(self) -> list[EndpointRevision]: ...


@dataclass(frozen=True)
class Realization:
    seconds: float  # time-to-enforce: from the API call to realized on every endpoint
    revisions: dict[str, int]  # node -> revision that had to be realized


@dataclass
class Clock:
    """Injected so self-tests can drive time; real runs use the monotonic clock."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def apply_and_wait(cluster: PolicyAPI, docs: list[dict[str, Any]], *,
                   timeout: float = POLICY_TIMEOUT_S, clock: Clock | None = None,
                   staged: bool = False) -> Realization:
    """Apply `docs` and wait until every endpoint enforces them.

    `staged`: apply one document at a time, in the given order, each realized on every
    endpoint before the next is sent, so no intermediate state exists in which a later
    document is enforced without an earlier one (see `apply_order`)."""
    clock = clock or Clock()
    start = clock.now()
    deadline = start + timeout
    targets: dict[str, int] = {}
    for stage in ([[d] for d in docs] if staged else [docs]):
        targets = _realize(cluster, stage, cluster.apply, True, deadline, clock,
                           _names(stage, "apply"), endpoints=True)
    return Realization(seconds=clock.now() - start, revisions=targets)


def delete_and_wait(cluster: PolicyAPI, docs: list[dict[str, Any]], *,
                    timeout: float = POLICY_TIMEOUT_S, clock: Clock | None = None,
                    staged: bool = False) -> Realization:
    """Delete and wait until every endpoint realized the removal (restoring the cluster).

    Staged deletion goes in reverse order: the last applied document goes first."""
    return _delete(cluster, docs, timeout, clock, staged, endpoints=True)


def delete_and_confirm(cluster: PolicyAPI, docs: list[dict[str, Any]], *,
                       timeout: float = POLICY_TIMEOUT_S,
                       clock: Clock | None = None) -> Realization:
    """Delete and wait only until no agent's repository holds the documents any more.

    Between scenarios this is enough: the next apply waits for endpoints at a revision
    of a repository without these rules, so one realization wait covers both changes."""
    return _delete(cluster, docs, timeout, clock, False, endpoints=False)


def _delete(cluster: PolicyAPI, docs: list[dict[str, Any]], timeout: float,
            clock: Clock | None, staged: bool, *, endpoints: bool) -> Realization:
    clock = clock or Clock()
    start = clock.now()
    deadline = start + timeout
    targets: dict[str, int] = {}
    for stage in ([[d] for d in reversed(docs)] if staged else [docs]):
        targets = _realize(cluster, stage, cluster.delete, False, deadline, clock,
                           _names(stage, "delete"), endpoints=endpoints)
    return Realization(seconds=clock.now() - start, revisions=targets)


Change = Callable[[list[dict[str, Any]]], list[str]]


def _realize(cluster: PolicyAPI, docs: list[dict[str, Any]], change: Change, present: bool,
             deadline: float, clock: Clock, what: str, *, endpoints: bool) -> dict[str, int]:
    before = {a.node: a.revision for a in cluster.agent_policies()} if endpoints else {}
    uids = set(change(docs))
    targets = _wait_imported(cluster, uids, present, deadline, clock, what)
    if endpoints:
        floors = {node: before.get(node, rev - 1) + 1 for node, rev in targets.items()}
        _wait_endpoints_realized(cluster, targets, floors, envoy_subjects(docs), deadline,
                                 clock, what)
    return targets


def _names(docs: list[dict[str, Any]], verb: str) -> str:
    names = []
    for doc in docs:
        meta = doc.get("metadata", {}) if isinstance(doc, dict) else {}
        names.append(f"{doc.get('kind', '?')}/{meta.get('name', '?')}")
    return f"{verb} {', '.join(names) or 'nothing'}"


def _wait_imported(cluster: PolicyAPI, uids: set[str], present: bool, deadline: float,
                   clock: Clock, what: str) -> dict[str, int]:
    """node -> the revision of the first answer in which the repository holds every uid
    (present) or none of them (absent)."""
    while True:
        agents = cluster.agent_policies()
        lagging = [a for a in agents
                   if (not uids <= a.uids if present else bool(uids & a.uids))]
        if agents and not lagging:
            return {a.node: a.revision for a in agents}
        if clock.now() >= deadline:
            state = "has not imported" if present else "still holds"
            detail = ", ".join(f"{a.node} (revision {a.revision})" for a in lagging) or \
                "no agent answered"
            raise PolicyTimeout(
                f"{what}: the policy repository of the agent(s) on {detail} {state} the "
                f"object uid(s) {', '.join(sorted(uids))} before the deadline (check the "
                "agent logs and the policy's status).")
        clock.sleep(POLL_INTERVAL_S)  # poll


def envoy_subjects(docs: list[dict[str, Any]]) -> list[Policy]:
    """The policies among `docs` that carry HTTP rules (gRPC is HTTP): the endpoints they
    select get Envoy redirects and regenerate with them."""
    try:
        policies = PolicySet.from_documents(docs, "<applied>")
    except PolicyError:
        # The API server accepted what the model cannot compile. Waiting for the proxy
        # revision of every endpoint would never complete, so wait for none of them.
        return []
    return [p for p in policies if any(
        pr.http is not None for rule in (*p.ingress, *p.egress) for pr in rule.port_rules)]


def _proxy_selected(ep: EndpointRevision, subjects: list[Policy]) -> bool:
    if not subjects:
        return False
    ident = endpoint_identity(ep.labels)
    return ident is not None and any(p.selects(ident) for p in subjects)


def unrealized(endpoints: list[EndpointRevision], targets: dict[str, int],
               floors: dict[str, int], subjects: list[Policy]) -> list[EndpointRevision]:
    """Endpoints below the target revision, and L7-selected ones whose proxy revision is
    below the floor (the first revision that can hold the change)."""
    late = []
    for ep in endpoints:
        if not ep.has_identity or ep.node not in targets:
            continue
        floor = floors.get(ep.node, targets[ep.node])
        proxy_late = ep.proxy_policy_revision < floor and _proxy_selected(ep, subjects)
        if ep.policy_revision < targets[ep.node] or proxy_late:
            late.append(ep)
    return late


def _who(ep: EndpointRevision) -> str:
    """A short name for an endpoint: its namespace and app labels."""
    short = [label.split(":", 1)[-1] for label in ep.labels]
    picked = [x for x in short if x.startswith(("app=", NAMESPACE_LABEL + "=", "host"))]
    return ", ".join(picked or short[:2]) or "no labels"


def _wait_endpoints_realized(cluster: PolicyAPI, targets: dict[str, int],
                             floors: dict[str, int], subjects: list[Policy], deadline: float,
                             clock: Clock, what: str) -> None:
    while True:
        late = unrealized(cluster.endpoint_revisions(), targets, floors, subjects)
        if not late:
            return
        if clock.now() >= deadline:
            detail = "; ".join(
                f"endpoint {ep.endpoint_id} on {ep.node} ({_who(ep)}): policy-revision "
                f"{ep.policy_revision}, proxy-policy-revision {ep.proxy_policy_revision}, "
                f"needed {targets[ep.node]}"
                for ep in late[:5]
            )
            raise PolicyTimeout(
                f"{what}: {len(late)} endpoint(s) did not realize the new policy revision "
                f"before the deadline ({detail}).")
        clock.sleep(POLL_INTERVAL_S)  # poll
