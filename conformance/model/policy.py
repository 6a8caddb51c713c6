"""The model's compiled form of a policy: who it selects, and its rules per direction."""

from __future__ import annotations

from dataclasses import dataclass

from conformance.model.matchers import (
    CidrMatch,
    HttpMatch,
    NamedPorts,
    NameMatch,
    PortMatch,
    SniMatch,
)
from conformance.model.selectors import Identity, Selector

CNP = "CiliumNetworkPolicy"
CCNP = "CiliumClusterwideNetworkPolicy"
KNP = "NetworkPolicy"


@dataclass(frozen=True)
class PolicyRef:
    kind: str
    namespace: str | None
    name: str
    file: str
    document: int  # counts from 1
    spec_path: str = "spec"  # "spec" or "specs[i]"

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


@dataclass(frozen=True)
class PortRule:
    """A `toPorts[]` item (or a NetworkPolicy `ports` list): ports plus optional L7 rules."""

    ports: tuple[PortMatch, ...]  # empty = every port
    http: tuple[HttpMatch, ...] | None
    dns: tuple[NameMatch, ...] | None
    path: str  # e.g. "toPorts[0]"
    # serverNames: the TLS SNI must match one (Envoy, cilium/network_policy.cc); () = any
    server_names: tuple[SniMatch, ...] = ()

    def covers(self, port: int, protocol: str, named: NamedPorts = ()) -> PortMatch | None:
        """The first port item covering (port, protocol); a wildcard when `ports` is empty.
        `named`: the destination's named ports, for items naming a port."""
        if not self.ports:
            return PortMatch(0, 0, "ANY")
        return next((p for p in self.ports if p.covers(port, protocol, named)), None)


@dataclass(frozen=True)
class PeerRule:
    """One ingress/egress (or deny) rule: peers x ports, with optional authentication."""

    policy: PolicyRef
    direction: str  # "ingress" | "egress"
    deny: bool
    path: str  # e.g. "spec.ingress[0]"
    selectors: tuple[Selector, ...]
    entities: frozenset[str]
    cidrs: tuple[CidrMatch, ...]
    fqdns: tuple[NameMatch, ...]
    any_peer: bool  # no L3 peer field: every peer, including world
    port_rules: tuple[PortRule, ...]  # empty = every port, L3 only
    l4_blocked: bool = False  # only `icmps` (its port items are ICMP: no TCP/UDP match)
    auth: str | None = None  # "required" | "test-always-fail"

    def peer_match(self, ident: Identity, learned: bool, multi_label: bool) -> str | None:
        """How this rule's L3 part selects the peer (for explanations), or None.

        `learned`: the DNS proxy saw the lookup of the peer's FQDN, so toFQDNs can match.
        """
        if self.any_peer:
            return "any peer (no L3 selector)"
        for i, sel in enumerate(self.selectors):
            if sel.matches(ident):
                return f"{self._peer_field('Endpoints')}[{i}] {sel.text}"
        hit = sorted(self.entities & ident.entities)
        if hit:
            return f"{self._peer_field('Entities')} {hit[0]}"
        if ident.kind == "world":
            for i, cidr in enumerate(self.cidrs):
                if cidr.covers(ident.ip):
                    return f"{self._peer_field('CIDR')}[{i}] {cidr.text}"
            if ident.fqdn and learned:
                for i, name in enumerate(self.fqdns):
                    if name.matches(ident.fqdn, multi_label):
                        return f"toFQDNs[{i}] {name.describe()}"
        return None

    def _peer_field(self, what: str) -> str:
        return ("from" if self.direction == "ingress" else "to") + what


@dataclass(frozen=True)
class Policy:
    ref: PolicyRef
    cluster_wide: bool
    endpoint_selector: Selector | None  # None: a host policy (nodeSelector), selects no pod
    ingress: tuple[PeerRule, ...]
    egress: tuple[PeerRule, ...]
    default_deny_ingress: bool
    default_deny_egress: bool

    def selects(self, ident: Identity) -> bool:
        if ident.kind != "pod" or self.endpoint_selector is None:
            return False
        return self.endpoint_selector.matches(ident)
