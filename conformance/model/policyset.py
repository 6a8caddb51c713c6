"""A loaded set of policies, indexed by namespace, with per-identity caches."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.model.errors import PolicyError, Problem
from conformance.model.loader import Document, load_documents, parse_document
from conformance.model.policy import PeerRule, Policy, PolicyRef
from conformance.model.selectors import Identity


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
        self._cluster_wide = tuple(p for p in self.policies if p.ref.namespace is None)
        self._by_namespace: dict[str, tuple[Policy, ...]] = {}
        for p in self.policies:
            if p.ref.namespace is not None:
                self._by_namespace[p.ref.namespace] = (
                    *self._by_namespace.get(p.ref.namespace, ()), p)
        self._views: dict[tuple[Any, ...], EndpointView] = {}
        # Engine-owned memo of L3/L4 decisions; cleared with the set, never shared.
        self.side_cache: dict[tuple[Any, ...], Any] = {}

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

    def __len__(self) -> int:
        return len(self.policies)

    def __iter__(self) -> Iterator[Policy]:
        return iter(self.policies)

    def selecting(self, ident: Identity) -> tuple[Policy, ...]:
        """Policies whose endpointSelector/podSelector selects this endpoint."""
        if ident.kind != "pod" or ident.namespace is None:
            return ()
        candidates = (*self._by_namespace.get(ident.namespace, ()), *self._cluster_wide)
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
