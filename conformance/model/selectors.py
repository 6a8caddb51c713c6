"""Cilium identities (label sets) of probe peers, and compiled label selectors.

Cilium labels carry a source: pod labels are `k8s:`, entity identities `reserved:`. A
selector key may name a source (`k8s:app`, `reserved:host`) or not (`app`, same as
`any:app`), and then matches a label of that key from any source.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from conformance.model.probe import Entity, Fqdn, Peer, Pod

NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
NAMESPACE_LABELS_PREFIX = "io.cilium.k8s.namespace.labels."
CLUSTER_LABEL = "io.cilium.k8s.policy.cluster"
SERVICE_ACCOUNT_LABEL = "io.cilium.k8s.policy.serviceaccount"
KNOWN_SOURCES = ("k8s", "any", "reserved", "cidr", "fqdn", "container", "unspec",
                 "cilium-generated")

# Entity name -> the policy entities that select it. Pods are `cluster` (and `all`).
ENTITY_MEMBERSHIP: dict[str, frozenset[str]] = {
    "host": frozenset({"host", "cluster", "all"}),
    "remote-node": frozenset({"remote-node", "cluster", "all"}),
    "kube-apiserver": frozenset({"kube-apiserver", "cluster", "all"}),
    "health": frozenset({"health", "cluster", "all"}),
    "init": frozenset({"init", "cluster", "all"}),
    "ingress": frozenset({"ingress", "cluster", "all"}),
    "unmanaged": frozenset({"unmanaged", "cluster", "all"}),
    "world": frozenset({"world", "all"}),
}
POD_MEMBERSHIP = frozenset({"cluster", "all"})


@dataclass(frozen=True, eq=False)
class Identity:
    """What policy sees of a peer: its labels by key as (source, value), and its kind."""

    kind: str  # "pod" | "entity" | "world"
    labels: Mapping[str, tuple[str, str]]
    entities: frozenset[str]  # policy entities that select it
    namespace: str | None = None
    ip: str | None = None
    fqdn: str | None = None
    key: tuple[Any, ...] = ()  # hashable cache key
    named_ports: tuple[tuple[str, int, str], ...] = ()  # a pod's container ports by name

    def describe(self) -> str:
        if self.kind == "pod":
            own = ",".join(f"{k}={v}" for k, (s, v) in sorted(self.labels.items())
                           if s == "k8s" and not k.startswith(("io.kubernetes.", "io.cilium.")))
            return f"pod {self.namespace}/{{{own}}}"
        if self.fqdn:
            return f"{self.fqdn} (world)"
        return f"{self.kind if self.kind == 'world' else 'entity'} {self.key[1]}" + (
            f" {self.ip}" if self.ip else "")


def identity_of(peer: Peer) -> Identity:
    """The identity Cilium gives a probe peer."""
    if isinstance(peer, Pod):
        labels: dict[str, tuple[str, str]] = {k: ("k8s", v) for k, v in peer.labels.items()}
        labels[NAMESPACE_LABEL] = ("k8s", peer.namespace)
        for k, v in peer.namespace_labels.items():  # Cilium's namespace labels, as pod labels
            labels[f"{NAMESPACE_LABELS_PREFIX}{k}"] = ("k8s", v)
        labels[f"{NAMESPACE_LABELS_PREFIX}kubernetes.io/metadata.name"] = ("k8s", peer.namespace)
        labels.setdefault(CLUSTER_LABEL, ("k8s", "default"))
        labels.setdefault(SERVICE_ACCOUNT_LABEL, ("k8s", "default"))
        named = tuple(sorted((n, p, proto) for n, (p, proto) in peer.ports.items()))
        key = ("pod", peer.namespace, frozenset(peer.labels.items()),
               frozenset(peer.namespace_labels.items()), named)
        return Identity("pod", labels, POD_MEMBERSHIP, peer.namespace, peer.ip, key=key,
                        named_ports=named)
    if isinstance(peer, Fqdn):
        return Identity("world", {"world": ("reserved", "")}, ENTITY_MEMBERSHIP["world"],
                        fqdn=peer.fqdn, key=("fqdn", peer.fqdn))
    assert isinstance(peer, Entity)
    name = peer.entity
    members = ENTITY_MEMBERSHIP.get(name, frozenset({name, "all"}))
    kind = "world" if name == "world" else "entity"
    return Identity(kind, {name: ("reserved", "")}, members, ip=peer.ip,
                    key=("entity", name, peer.ip))


def split_key(key: str) -> tuple[str, str]:
    """'k8s:app' -> ('k8s', 'app'); 'app' -> ('any', 'app')."""
    source, sep, rest = key.partition(":")
    if sep and source in KNOWN_SOURCES:
        return source, rest
    return "any", key


@dataclass(frozen=True)
class Requirement:
    source: str
    key: str
    op: str  # In | NotIn | Exists | DoesNotExist
    values: frozenset[str]

    def matches(self, labels: Mapping[str, tuple[str, str]]) -> bool:
        found = labels.get(self.key)
        present = found is not None and (self.source == "any" or found[0] == self.source)
        if self.op == "In":
            return present and found is not None and found[1] in self.values
        if self.op == "NotIn":
            return not present or (found is not None and found[1] not in self.values)
        if self.op == "Exists":
            return present
        return not present


@dataclass(frozen=True)
class Selector:
    """A compiled label selector. `reserved` selectors may match entities; others pods only."""

    requirements: tuple[Requirement, ...]
    text: str  # how it was written, for explanations

    @property
    def reserved(self) -> bool:
        return any(r.source == "reserved" for r in self.requirements)

    def names_namespace(self) -> bool:
        """Names the pod namespace or a namespace label, so Cilium does not confine it."""
        return any(r.source in ("k8s", "any") and (
            r.key == NAMESPACE_LABEL or r.key.startswith(NAMESPACE_LABELS_PREFIX))
            for r in self.requirements)

    def with_namespace(self, namespace: str) -> Selector:
        """Pin to one namespace, replacing any namespace the selector named itself."""
        return _pinned(self, namespace)

    def matches(self, ident: Identity) -> bool:
        if ident.kind == "pod" or self.reserved:
            return all(r.matches(ident.labels) for r in self.requirements)
        return False


# (matchLabels items, matchExpressions as (key, operator, values)): a hashable selector.
SelectorKey = tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str, tuple[str, ...]], ...]]


def compile_selector(data: Mapping[str, Any] | None, *, key_prefix: str = "") -> Selector:
    """Compile a (schema-checked) `{matchLabels, matchExpressions}`; equal selectors are
    compiled once, since policies repeat the same few app and namespace selectors.

    `key_prefix` rewrites keys (NetworkPolicy namespaceSelector keys become namespace labels).
    """
    data = data or {}
    labels = tuple((str(k), str(v)) for k, v in (data.get("matchLabels") or {}).items())
    exprs = tuple((str(e["key"]), str(e["operator"]), tuple(str(x) for x in e.get("values") or ()))
                  for e in data.get("matchExpressions") or ())
    return _compile((labels, exprs), key_prefix)


@lru_cache(maxsize=4096)
def _compile(key: SelectorKey, key_prefix: str) -> Selector:
    labels, exprs = key
    reqs: list[Requirement] = []
    for k, v in labels:
        source, name = split_key(k)
        reqs.append(Requirement(source, key_prefix + name, "In", frozenset({v})))
    for k, op, values in exprs:
        source, name = split_key(k)
        reqs.append(Requirement(source, key_prefix + name, op, frozenset(values)))
    parts = [f"{k}={v}" for k, v in labels]
    parts += [f"{k} {op}" + (f" ({','.join(values)})" if values else "")
              for k, op, values in exprs]
    return Selector(tuple(reqs), "{" + ", ".join(parts) + "}")


@lru_cache(maxsize=4096)
def _pinned(selector: Selector, namespace: str) -> Selector:
    kept = tuple(r for r in selector.requirements if r.key != NAMESPACE_LABEL)
    req = Requirement("k8s", NAMESPACE_LABEL, "In", frozenset({namespace}))
    return Selector((*kept, req), selector.text)


def clear_compile_caches() -> None:
    """Forget compiled selectors (benchmarks measure a cold start with it)."""
    _compile.cache_clear()
    _pinned.cache_clear()


def endpoint_identity(labels: Iterable[str]) -> Identity | None:
    """A pod identity from a Cilium endpoint's `status.identity.labels` (`k8s:app=x`), or None
    for reserved identities (host, health, ...), which no endpointSelector picks. Shared by
    the policy waits and the emulated agents, which read the same labels."""
    parsed: dict[str, tuple[str, str]] = {}
    for text in labels:
        key, _, value = text.partition("=")
        source, name = split_key(key)
        if source == "reserved":
            return None
        parsed[name] = (source, value)
    namespace = parsed.get(NAMESPACE_LABEL, ("", ""))[1] or None
    return Identity("pod", parsed, POD_MEMBERSHIP, namespace,
                    key=("endpoint", tuple(sorted(labels))))
