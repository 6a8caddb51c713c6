"""The emulated Cilium agents' policy repositories and endpoint revisions, over time.

One object store feeds every agent, as the CNP/CCNP/NetworkPolicy watches do. Each change
(an apply that changed the object, or a delete of an existing one) is one entry of a
global change log; every agent imports the entries in log order, each after its own lag.
What follows is upstream's bookkeeping, which the suite's policy wait must handle:

- Revision: one counter per agent for its whole repository, bumped by every import from
  any worker (`pkg/policy/repository.go` ReplaceByResource / BumpRevision; answered with
  the rules by `daemon/restapi/policy.go` getPolicyHandler via `Repo.Search()`).
- Every imported rule carries its object's labels, the uid among them
  (`pkg/k8s/apis/cilium.io/utils/utils.go` GetPolicyLabels).
- Endpoints the change selects regenerate and reach the new revision after a
  regeneration lag; the others get a no-op bump at import (`pkg/endpoint/policy.go`
  UpdatePolicy: "Policy update is a no-op, bumping policyRevision"; 1.18/1.19 regenerate
  an endpoint that is behind instead, 1.20 bumps it anyway, commit 0fe3895813).
- The importer takes the changes queued for it as one batch (`pkg/policy/cell/
  policy_importer.go`: a `stream.Buffer` of the update channel, 10 ms window, then
  processUpdates applies them all and calls UpdatePolicy once), and the next batch comes
  after the selected endpoints' regenerations, so on a node a later import never comes
  before an earlier change's regenerations. Emulated: a change that arrives while the
  previous one is still queued joins it (hundreds of policies applied at once are a few
  batches, not hundreds of lags in a row).
- The proxy policy revision moves when Envoy acknowledges the NetworkPolicy of an
  endpoint whose policy was recomputed (`pkg/envoy/xds_server.go` UpdateNetworkPolicy ->
  `pkg/endpoint/endpoint.go` OnProxyPolicyUpdate), to the revision the policy was
  computed at. Emulated for endpoints that the change's HTTP rules select (an Envoy
  redirect; DNS rules go to the agent's DNS proxy); other endpoints keep the proxy
  revision they had. (Upstream may also move it for other recomputed endpoints once
  Envoy has listeners; the suite relies only on the weaker property.) The regeneration
  reports its revision only after the acknowledgement (`pkg/endpoint/bpf.go`
  regenerateBPF -> waitForProxyCompletions, bounded by EndpointGenerationTimeout).
- Not emulated: revision bumps without an import (forced recalculations,
  `pkg/policy/trigger.go`); the suite proves imports by content, so they cannot matter.
- Traffic is decided per endpoint, with the policy version that endpoint has realized.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conformance.model import PolicyError, PolicySet
from conformance.model.policy import Policy
from conformance.model.selectors import Identity

DocKey = tuple[str, str, str]  # kind, namespace ("" when cluster-scoped), name
Delay = Callable[[], float]
# Each agent starts at its own revision, as real agents do (each counts its own imports
# since it started).
BASE_REVISIONS = (17, 23, 31, 40)
LABEL_SOURCE = "k8s"
POLICY_LABELS = ("io.cilium.k8s.policy.derived-from", "io.cilium.k8s.policy.name",
                 "io.cilium.k8s.policy.namespace", "io.cilium.k8s.policy.uid")


@dataclass
class Version:
    """The repository after one change: every stored object by key, with its uid."""

    docs: dict[DocKey, dict[str, Any]]
    uids: dict[DocKey, str]
    _policies: PolicySet | None = field(default=None, repr=False)

    def policies(self) -> PolicySet:
        if self._policies is None:
            self._policies = PolicySet.from_documents(list(self.docs.values()), "<emulated>")
        return self._policies


@dataclass
class Endpoint:
    """One endpoint's realization times per change index (None: not yet known)."""

    endpoint_id: int
    node: str
    identity: Identity | None  # None: reserved (host), selected by no endpointSelector
    created: int  # change index current when it was created
    realized_at: list[float] = field(default_factory=list)  # per change after `created`
    proxy_at: dict[int, float] = field(default_factory=dict)  # change index -> ack time
    proxy_initial: int = 0


@dataclass
class Change:
    index: int
    imported_at: dict[str, float]  # node -> when its agent imported it
    subjects: list[Policy]  # policies of the changed object, before and after
    envoy_subjects: list[Policy]


class Agents:
    """The agents of `nodes`; thread-safe through the owner's lock (`lock`)."""

    def __init__(self, nodes: tuple[str, ...], clock: Callable[[], float], *,
                 import_lag: Delay, regen_lag: Delay, proxy_lag: Delay,
                 lock: threading.RLock) -> None:
        self.nodes = nodes
        self.clock = clock
        self.import_lag = import_lag
        self.regen_lag = regen_lag
        self.proxy_lag = proxy_lag
        self.lock = lock
        self.versions: list[Version] = [Version(docs={}, uids={})]
        self.changes: list[Change] = [Change(0, dict.fromkeys(nodes, 0.0), [], [])]
        self.endpoints: dict[int, Endpoint] = {}
        self._busy_until: dict[str, float] = {}  # node -> its importer is free again

    # ---- the object store's changes ------------------------------------------------

    @property
    def latest(self) -> Version:
        return self.versions[-1]

    def change(self, key: DocKey, doc: dict[str, Any] | None, uid: str,
               extra_lag: float = 0.0) -> None:
        """Record that object `key` became `doc` (None: deleted); every agent imports it
        after its lag (+ `extra_lag`, for faults)."""
        before = self.latest
        docs = dict(before.docs)
        uids = dict(before.uids)
        old = docs.get(key)
        if doc is None:
            docs.pop(key, None)
            uids.pop(key, None)
        else:
            docs[key] = copy.deepcopy(doc)
            uids[key] = uid
        version = Version(docs=docs, uids=uids)
        changed = [d for d in (old, doc) if d is not None]
        subjects = _policies(changed)
        now = self.clock()
        index = len(self.changes)
        imported = {}
        previous = self.changes[-1].imported_at if self.changes else {}
        for node in self.nodes:
            if not extra_lag and previous.get(node, 0.0) > now:
                # Still queued behind the importer with the previous change: both go in
                # one batch (the importer drains what is queued, then regenerates once).
                imported[node] = previous[node]
                continue
            # In order, and after the previous change's regenerations on the node.
            imported[node] = max(self._busy_until.get(node, 0.0),
                                 now + self.import_lag() + extra_lag)
        change = Change(index, imported, subjects,
                        [p for p in subjects if _has_envoy_rules(p)])
        self.versions.append(version)
        self.changes.append(change)
        self._busy_until = dict(imported)
        for ep in self.endpoints.values():
            done = self._schedule(ep, change)
            self._busy_until[ep.node] = max(self._busy_until[ep.node], done)

    def _schedule(self, ep: Endpoint, change: Change) -> float:
        at = change.imported_at[ep.node]
        selected = ep.identity is not None and any(p.selects(ep.identity)
                                                   for p in change.subjects)
        done = at + self.regen_lag() if selected else at
        if ep.identity is not None and any(p.selects(ep.identity) for p in change.envoy_subjects):
            # The regeneration waits for Envoy's acknowledgement before it reports its
            # revision (pkg/endpoint/bpf.go regenerateBPF -> waitForProxyCompletions); the
            # proxy revision is the one the policy was computed at (the change's).
            done += self.proxy_lag()
            ep.proxy_at[change.index] = done
        ep.realized_at.append(done)
        return done

    # ---- endpoints -------------------------------------------------------------------

    def add_endpoint(self, endpoint_id: int, node: str, identity: Identity | None) -> None:
        index = len(self.changes) - 1
        # A new endpoint starts realized at the current revision; its proxy revision is
        # the one before it (a value behind, like the fixture's 57/56), so only a change
        # that selects it with L7 rules moves it.
        self.endpoints[endpoint_id] = Endpoint(
            endpoint_id, node, identity, created=index,
            proxy_initial=self.base(node) + max(index - 1, 0))

    def remove_endpoint(self, endpoint_id: int) -> None:
        self.endpoints.pop(endpoint_id, None)

    # ---- reading --------------------------------------------------------------------------

    def base(self, node: str) -> int:
        return BASE_REVISIONS[self.nodes.index(node) % len(BASE_REVISIONS)]

    def imported_index(self, node: str) -> int:
        now = self.clock()
        return max(c.index for c in self.changes if c.imported_at[node] <= now)

    def revision(self, node: str) -> int:
        return self.base(node) + self.imported_index(node)

    def repository(self, node: str) -> tuple[int, Version]:
        """(revision, repository) in one answer, like getPolicyHandler."""
        index = self.imported_index(node)
        return self.base(node) + index, self.versions[index]

    def realized_index(self, endpoint_id: int) -> int:
        ep = self.endpoints[endpoint_id]
        now = self.clock()
        index = ep.created
        for i, done in enumerate(ep.realized_at, start=ep.created + 1):
            if done > now:
                break
            index = i
        return index

    def realized_revision(self, endpoint_id: int) -> int:
        ep = self.endpoints[endpoint_id]
        return self.base(ep.node) + self.realized_index(endpoint_id)

    def proxy_revision(self, endpoint_id: int) -> int:
        ep = self.endpoints[endpoint_id]
        now = self.clock()
        acked = [i for i, at in ep.proxy_at.items() if at <= now]
        return self.base(ep.node) + max(acked) if acked else ep.proxy_initial

    def version_of(self, endpoint_id: int | None) -> Version:
        """The policy version an endpoint enforces now (the newest when unknown)."""
        if endpoint_id is None or endpoint_id not in self.endpoints:
            return self.latest
        return self.versions[self.realized_index(endpoint_id)]


def _policies(docs: list[dict[str, Any]]) -> list[Policy]:
    try:
        return list(PolicySet.from_documents(docs, "<emulated-change>"))
    except PolicyError:
        return []


def _has_envoy_rules(policy: Policy) -> bool:
    """HTTP rules redirect to Envoy; DNS rules go to the agent's DNS proxy
    (pkg/policy/l4.go redirectTypeEnvoy vs redirectTypeDNS)."""
    return any(pr.http is not None
               for rule in (*policy.ingress, *policy.egress) for pr in rule.port_rules)


def rule_labels(key: DocKey, uid: str) -> list[dict[str, str]]:
    """The labels of every rule imported from object `key` (GetPolicyLabels)."""
    kind, namespace, name = key
    values = (kind, name, namespace, uid)
    return [{"key": k, "value": v, "source": LABEL_SOURCE}
            for k, v in zip(POLICY_LABELS, values, strict=True) if v]
