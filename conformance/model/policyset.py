"""A loaded set of policies, indexed by namespace, with per-identity caches."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.model.errors import PolicyError, Problem
from conformance.model.loader import Document, load_documents, parse_document
from conformance.model.policy import PeerRule, Policy, PolicyRef
from conformance.model.selectors import NAMESPACE_LABEL, Identity


@dataclass(frozen=True)
class EndpointView:
    """Everything that applies to one endpoint in one direction."""

    rules: tuple[PeerRule, ...]  # allow and deny rules of every policy selecting it
    default_deny_by: PolicyRef | None  # first policy that switched default deny on
    selected_by: tuple[PolicyRef, ...]


class PolicySet:
    """Policies, sorted by kind/namespace/name so that their order never matters."""

    def __init__(self, policies: Sequence[Policy] = ()) -> None:
        self.policies: tuple[Policy, ...] = tuple(sorted(
            policies, key=lambda p: (p.ref.kind, p.ref.namespace or "", p.ref.name,
                                     p.ref.spec_path, p.ref.file, p.ref.document)))
        self._cluster_wide = _SelectorIndex(p for p in self.policies if p.ref.namespace is None)
        by_namespace: dict[str, list[Policy]] = {}
        for p in self.policies:
            if p.ref.namespace is not None:
                by_namespace.setdefault(p.ref.namespace, []).append(p)
        self._by_namespace = {ns: _SelectorIndex(ps) for ns, ps in by_namespace.items()}
        self._views: dict[tuple[Any, ...], EndpointView] = {}
        # Engine-owned memo of L3/L4 decisions; cleared with the set, never shared.
        self.side_cache: dict[tuple[Any, ...], Any] = {}
        self._without_l7: tuple[PolicySet, tuple[Policy, ...]] | None = None

    @classmethod
    def from_documents(cls, docs: list[dict[str, Any]], source: str = "<memory>") -> PolicySet:
        """Compile already-parsed YAML documents; PolicyError lists every problem."""
        items: list[Document] = []
        for i, data in enumerate(docs, start=1):
            if isinstance(data, dict) and data.get("kind") == "List":
                items.extend(Document(source, i, f"items[{j}].", item)
                             for j, item in enumerate(data.get("items") or []))
            else:
                items.append(Document(source, i, "", data))
        return _compile(items, [])

    def without_l7(self) -> tuple[PolicySet, tuple[Policy, ...]]:
        """The set an agent with the L7 proxy off imports, and the policies it refuses: an
        object with any L7 rule is refused whole (pkg/policy/api/rule_validation.go)."""
        if self._without_l7 is None:
            bad = {(p.ref.file, p.ref.document, p.ref.name) for p in self.policies if _has_l7(p)}
            refused = tuple(p for p in self.policies
                            if (p.ref.file, p.ref.document, p.ref.name) in bad)
            kept = [p for p in self.policies if p not in refused]
            self._without_l7 = (PolicySet(kept) if refused else self, refused)
        return self._without_l7

    def __len__(self) -> int:
        return len(self.policies)

    def __iter__(self) -> Iterator[Policy]:
        return iter(self.policies)

    def selecting(self, ident: Identity) -> tuple[Policy, ...]:
        """Policies whose endpointSelector/podSelector selects this endpoint."""
        if ident.kind != "pod" or ident.namespace is None:
            return ()
        own = self._by_namespace.get(ident.namespace)
        candidates = (*(own.candidates(ident) if own else ()),
                      *self._cluster_wide.candidates(ident))
        return tuple(p for p in candidates if p.selects(ident))

    def view(self, ident: Identity, direction: str) -> EndpointView:
        key = (ident.key, direction)
        if (found := self._views.get(key)) is None:
            selected = self.selecting(ident)
            rules: list[PeerRule] = []
            default_deny_by = None
            for p in selected:
                rules.extend(p.ingress if direction == "ingress" else p.egress)
                on = p.default_deny_ingress if direction == "ingress" else p.default_deny_egress
                if on and default_deny_by is None:
                    default_deny_by = p.ref
            found = EndpointView(tuple(rules), default_deny_by, tuple(p.ref for p in selected))
            self._views[key] = found
        return found


class _SelectorIndex:
    """Policies by one label their endpoint selector requires, so that finding the policies
    selecting an endpoint looks at the few that could, not at all of them (with one policy
    per workload, lint asks this for every policy: quadratic without an index).

    A policy is filed under the (key, value) pairs of one `In` requirement (not the
    namespace, which the caller has already narrowed by); policies without one are always
    candidates. Candidates keep the policies' order, and the caller still checks each.
    """

    def __init__(self, policies: Iterable[Policy]) -> None:
        self._order: dict[int, int] = {}
        self._always: list[Policy] = []
        self._by_label: dict[tuple[str, str], list[Policy]] = {}
        for position, p in enumerate(policies):
            self._order[id(p)] = position
            pairs = _index_pairs(p)
            if not pairs:
                self._always.append(p)
            for pair in pairs:
                self._by_label.setdefault(pair, []).append(p)

    def candidates(self, ident: Identity) -> list[Policy]:
        found = {id(p): p for p in self._always}
        for key, (_source, value) in ident.labels.items():
            for p in self._by_label.get((key, value), ()):
                found[id(p)] = p
        return sorted(found.values(), key=lambda p: self._order[id(p)])


def _has_l7(policy: Policy) -> bool:
    return any(pr.http is not None or pr.dns is not None
               for rule in (*policy.ingress, *policy.egress) for pr in rule.port_rules)


def _index_pairs(policy: Policy) -> list[tuple[str, str]]:
    """The (key, value) pairs of the first usable `In` requirement; [] when there is none."""
    if policy.endpoint_selector is None:
        return []
    for req in policy.endpoint_selector.requirements:
        if req.op == "In" and req.values and req.key != NAMESPACE_LABEL:
            return [(req.key, v) for v in sorted(req.values)]
    return []


def load_policies(paths: Sequence[str | Path]) -> PolicySet:
    """Load files and directories of multi-document YAML; PolicyError on any problem."""
    docs, problems = load_documents(paths)
    return _compile(docs, problems)


def _compile(docs: Sequence[Document], problems: list[Problem]) -> PolicySet:
    policies: list[Policy] = []
    for doc in docs:
        found, bad = parse_document(doc)
        policies.extend(found)
        problems.extend(bad)
    if problems:
        raise PolicyError(problems)
    return PolicySet(policies)
