"""Applied policy objects and their realization per node, over (simulated) time.

Every apply/delete is a new version: each agent's revision goes up by one when the
agent "sees" it, and the node's endpoints realize it some time later. Traffic uses the
newest version realized on every node; until then it sees the version before.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conformance.harness.cluster import PolicyRejected
from conformance.model import PolicyError, PolicySet

NAMESPACED_KINDS = {
    ("cilium.io/v2", "CiliumNetworkPolicy"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
}
CLUSTER_KINDS = {("cilium.io/v2", "CiliumClusterwideNetworkPolicy")}
# Each agent starts at its own revision, as real agents do.
BASE_REVISIONS = (17, 23, 31, 40)

DocKey = tuple[str, str, str]  # kind, namespace ("" when cluster-scoped), name
Delay = Callable[[], float]


@dataclass
class Version:
    docs: dict[DocKey, dict[str, Any]]
    seen_at: dict[str, float]  # node -> when the agent's revision moves
    realized_at: dict[str, float]  # node -> when its endpoints realize this version
    _policies: PolicySet | None = field(default=None, repr=False)

    def policies(self) -> PolicySet:
        if self._policies is None:
            self._policies = PolicySet.from_documents(list(self.docs.values()), "<simulated>")
        return self._policies


def doc_key(doc: Any) -> DocKey:
    """Validate the object as the API server would before storing it."""
    if not isinstance(doc, dict):
        raise PolicyRejected(f"policy document must be an object, got {type(doc).__name__}")
    kind_pair = (str(doc.get("apiVersion", "")), str(doc.get("kind", "")))
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not name:
        raise PolicyRejected(f"{kind_pair[1] or 'object'}: metadata.name: Required value")
    if kind_pair in NAMESPACED_KINDS:
        namespace = meta.get("namespace") if isinstance(meta, dict) else None
        if not isinstance(namespace, str) or not namespace:
            raise PolicyRejected(f"{kind_pair[1]} {name!r}: metadata.namespace: Required value "
                                 "(the harness must set the worker namespace)")
        return (kind_pair[1], namespace, name)
    if kind_pair in CLUSTER_KINDS:
        return (kind_pair[1], "", name)
    known = ", ".join(f"{a}/{k}" for a, k in sorted(NAMESPACED_KINDS | CLUSTER_KINDS))
    raise PolicyRejected(f"no matches for kind {kind_pair[1]!r} in version {kind_pair[0]!r} "
                         f"(the simulated cluster stores {known})")


@dataclass
class PolicyStore:
    nodes: tuple[str, ...]
    clock: Callable[[], float]
    seen_delay: Delay
    realize_delay: Delay
    versions: list[Version] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.versions.append(Version(docs={}, seen_at=dict.fromkeys(self.nodes, 0.0),
                                     realized_at=dict.fromkeys(self.nodes, 0.0)))

    @property
    def latest(self) -> Version:
        return self.versions[-1]

    def apply(self, docs: list[dict[str, Any]]) -> None:
        merged = dict(self.latest.docs)
        for doc in docs:
            merged[doc_key(doc)] = copy.deepcopy(doc)
        self._push(merged)

    def delete(self, docs: list[dict[str, Any]]) -> None:
        merged = dict(self.latest.docs)
        for doc in docs:
            merged.pop(doc_key(doc), None)
        self._push(merged)

    def _push(self, docs: dict[DocKey, dict[str, Any]]) -> None:
        if docs == self.latest.docs:
            # Like the API server: re-applying identical objects or deleting absent ones
            # changes nothing, so no agent sees a new policy revision.
            return
        version = Version(docs=docs, seen_at={}, realized_at={})
        try:
            version.policies()
        except PolicyError as err:
            # The API server's schema check is what rejects a real object; the model's
            # parser stands in for it here.
            raise PolicyRejected(str(err)) from err
        now = self.clock()
        for node in self.nodes:
            seen = now + self.seen_delay()
            version.seen_at[node] = seen
            version.realized_at[node] = seen + self.realize_delay()
        self.versions.append(version)

    def revision(self, node: str) -> int:
        """The agent's revision: base + number of versions it has seen."""
        now = self.clock()
        index = max(i for i, v in enumerate(self.versions) if v.seen_at[node] <= now)
        return self._base(node) + index

    def seen(self, node: str) -> Version:
        """The newest version the agent on `node` has imported."""
        now = self.clock()
        return next(v for v in reversed(self.versions) if v.seen_at[node] <= now)

    def realized_revision(self, node: str) -> int:
        now = self.clock()
        index = max(i for i, v in enumerate(self.versions) if v.realized_at[node] <= now)
        return self._base(node) + index

    def effective(self) -> Version:
        """The newest version every node has realized: what traffic sees now."""
        now = self.clock()
        return next(v for v in reversed(self.versions)
                    if all(t <= now for t in v.realized_at.values()))

    def _base(self, node: str) -> int:
        return BASE_REVISIONS[self.nodes.index(node) % len(BASE_REVISIONS)]
