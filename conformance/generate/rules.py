"""Cells of one rule: positives (peer x port x L7 entry) and one-step-off negatives.

Positives are built so that the rule's own matchers accept them (peer selector, port item,
an `rules.http`/`rules.dns` entry); a negative changes one thing so that they refuse it
(every entry of the toPorts item, since Cilium ORs them). Verdicts are not decided here:
the caller asks the model (`conformance.model.evaluate`) for every cell.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from conformance.generate import regexdraw, synth
from conformance.generate.cells import GenCell, RuleRef, Skipped
from conformance.model.matchers import HttpMatch, NameMatch, PortMatch
from conformance.model.policy import PeerRule, Policy, PortRule
from conformance.model.probe import (
    DnsQuery,
    Entity,
    Fqdn,
    GrpcCall,
    HttpRequest,
    Peer,
    Pod,
    Probe,
)
from conformance.model.selectors import ENTITY_MEMBERSHIP, Selector, identity_of

DEFAULT_PORT = 8080  # the port of a cell whose rule allows every port
MAX_PORT = 65535
# Methods tried first when a method regex is drawn from: a real method reads better.
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
# A gRPC method path (gRPC over HTTP/2 spec: "/" Service-Name "/" method-name).
GRPC_PATH = re.compile(r"/([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)+)/([A-Za-z_]\w*)")
GRPC_HEADERS = {"content-type": "application/grpc"}
PATH_SUFFIX = "/extra"
QUERY = "?probe=1"
OTHER_VALUE = "-other"
ANY_PEER = {"client": "any"}  # labels of the peer of a rule that names none
UNLISTED = {"client": "unlisted"}  # labels of a peer no rule names (default-deny cells)


@dataclass
class Context:
    seed: int
    multi_label: bool  # `**.` spans labels (Cilium >= 1.19)
    home: str  # namespace for peers of a cluster-wide policy that names none
    blocked: Callable[[str, int, str], str | None]  # (file, document, path) -> reason

    def rng(self, *parts: object) -> random.Random:
        return random.Random("|".join(str(p) for p in (self.seed, *parts)))


@dataclass(frozen=True)
class PortItem:
    port_rule: PortRule | None
    port: int
    protocol: str  # TCP | UDP
    item: PortMatch | None


class RuleCells:
    """Collects the cells and the skipped parts of one policy's rules."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.cells: list[GenCell] = []
        self.skipped: list[Skipped] = []

    def skip(self, policy: Policy, path: str, reason: str) -> None:
        self.skipped.append(Skipped(policy.ref.file, policy.ref.document, path, reason))

    # -- a policy ---------------------------------------------------------------------

    def policy(self, policy: Policy) -> None:
        ref = policy.ref
        if (why := self.ctx.blocked(ref.file, ref.document, ref.spec_path)) is not None:
            self.skip(policy, ref.spec_path, why)
            return
        subject = self._subject(policy)
        if subject is None:
            self.skip(policy, f"{ref.spec_path}.endpointSelector",
                      "selects no pod the generator can build (the model sees no pod it "
                      "selects), so none of its rules gets a cell")
            return
        for rule in (*policy.ingress, *policy.egress):
            self.rule(policy, rule, subject)
        for direction in ("ingress", "egress"):
            on = policy.default_deny_ingress if direction == "ingress" else \
                policy.default_deny_egress
            if on:
                self._default_deny(policy, direction, subject)

    def _subject(self, policy: Policy) -> Pod | None:
        if policy.endpoint_selector is None:
            return None
        return synth.pod_for(policy.endpoint_selector, policy.ref.namespace or self.ctx.home)

    def _default_deny(self, policy: Policy, direction: str, subject: Pod) -> None:
        rules = policy.ingress if direction == "ingress" else policy.egress
        peer = Pod(namespace=subject.namespace, labels=dict(UNLISTED))
        ident = identity_of(peer)
        if any(r.peer_match(ident, False, self.ctx.multi_label) for r in rules):
            return  # some rule names every pod: there is no unlisted peer
        port = next((pm.port for r in rules for pr in r.port_rules for pm in pr.ports
                     if pm.port and pm.name is None), DEFAULT_PORT)
        ref = RuleRef(policy.ref, f"{policy.ref.spec_path}.{direction}", direction)
        src, dst = (peer, subject) if direction == "ingress" else (subject, peer)
        probe = Probe(id="", source=src, destination=dst, port=port)
        self.cells.append(GenCell(probe, ref, "default-deny", "",
                                  (direction, "default-deny", "l4", "pod")))

    # -- a rule -----------------------------------------------------------------------

    def rule(self, policy: Policy, rule: PeerRule, subject: Pod) -> None:
        ref = rule.policy
        if (why := self.ctx.blocked(ref.file, ref.document, rule.path)) is not None:
            self.skip(policy, rule.path, why)
            return
        if rule.l4_blocked:
            self.skip(policy, rule.path, "an ICMP-only rule: the generator makes TCP, UDP "
                                         "and L7 cells only")
            return
        peers = list(self._peers(policy, rule))
        if not peers:
            self.skip(policy, rule.path, "no peer the model would match can be built for "
                                         "this rule (it names none, or only what the model "
                                         "cannot see)")
            return
        items = list(self._ports(policy, rule))
        if not items:
            return  # every port item was skipped, with its reason
        # Every peer on every port; the one-step-off requests and ports for the first peer.
        for n, (peer, tag) in enumerate(peers):
            for item in items:
                self._positives(rule, subject, peer, tag, item, negatives=n == 0)
        # The first peer one step off (another label, namespace, name or address), on the
        # first port, with the first positive's request.
        peer, tag = peers[0]
        first = next((c for c in self.cells if c.rule.path == rule.path
                      and c.rule.policy == rule.policy and c.kind == "positive"), None)
        for step, other in self._peers_off(rule, peer):
            if first is None:
                break
            src, dst = (other, first.probe.destination) if rule.direction == "ingress" else \
                (first.probe.source, other)
            if isinstance(src, Fqdn):
                continue
            self.cells.append(replace(first, probe=replace(first.probe, source=src,
                                                           destination=dst),
                                      kind="negative", step=step))

    def _peers(self, policy: Policy, rule: PeerRule) -> Iterator[tuple[Peer, str]]:
        home = policy.ref.namespace or self.ctx.home
        if rule.any_peer:
            yield Pod(namespace=home, labels=dict(ANY_PEER)), "pod"
        for sel in rule.selectors:
            if sel.reserved:
                yield from _reserved_peers(sel)
            elif (pod := synth.pod_for(sel, home)) is not None:
                yield pod, "pod"
            else:
                self.skip(policy, f"{rule.path} {sel.text}",
                          "no pod the model sees matches this selector (e.g. namespace "
                          "labels other than kubernetes.io/metadata.name)")
        for name in sorted(rule.entities):
            if name in ("cluster", "all"):
                yield Pod(namespace=home, labels=dict(ANY_PEER)), "pod"
            if name in ("world", "all"):
                yield Entity("world"), "entity"
            elif name in ENTITY_MEMBERSHIP:
                yield Entity(name), "entity"
        for cidr in rule.cidrs:
            if (ip := synth.address_in(cidr)) is not None:
                yield Entity("world", ip=ip), "cidr"
        for k, fq in enumerate(rule.fqdns):
            drawn = synth.name_for(fq, self.ctx.multi_label, self.ctx.rng(rule.path, "fqdn", k))
            if drawn is None:
                self.skip(policy, f"{rule.path}.toFQDNs[{k}]",
                          f"no name drawn that {fq.describe()} matches")
            else:
                yield Fqdn(drawn), "fqdn"

    def _peers_off(self, rule: PeerRule, peer: Peer) -> Iterator[tuple[str, Peer]]:
        multi = self.ctx.multi_label
        if isinstance(peer, Pod):
            for sel in rule.selectors:
                if sel.reserved or not sel.matches(identity_of(peer)):
                    continue
                for step, other in (("source", synth.off_label(sel, peer)),
                                    ("namespace", synth.off_namespace(sel, peer))):
                    if other is not None and not _matches_any(rule, other, multi):
                        yield step, other
                break
        elif isinstance(peer, Fqdn):
            for fq in rule.fqdns:
                if fq.matches(peer.fqdn, multi):
                    for step, name in synth.names_off(fq, peer.fqdn, multi):
                        if not _matches_any(rule, Fqdn(name), multi):
                            yield step, Fqdn(name)
                    break
        elif isinstance(peer, Entity) and peer.ip is not None:
            for cidr in rule.cidrs:
                if cidr.covers(peer.ip):
                    ip = synth.address_outside(cidr)
                    if ip is not None and not _matches_any(rule, Entity("world", ip), multi):
                        yield "address", Entity("world", ip=ip)
                    break

    def _ports(self, policy: Policy, rule: PeerRule) -> Iterator[PortItem]:
        if not rule.port_rules:
            yield PortItem(None, DEFAULT_PORT, "TCP", None)
            return
        for pr in rule.port_rules:
            path = f"{rule.path}.{pr.path}"
            if (why := self.ctx.blocked(rule.policy.file, rule.policy.document, path)):
                self.skip(policy, path, why)
                continue
            if not pr.ports:
                yield PortItem(pr, DEFAULT_PORT, "TCP", None)
            for k, pm in enumerate(pr.ports):
                if pm.name is not None:
                    self.skip(policy, f"{path}.ports[{k}]",
                              f"named port {pm.name!r}: cells use port numbers (the "
                              "generator does not invent container ports for names)")
                    continue
                if pm.protocol not in ("TCP", "UDP", "ANY"):
                    self.skip(policy, f"{path}.ports[{k}]",
                              f"protocol {pm.protocol}: cells are TCP or UDP")
                    continue
                protocol = "UDP" if pm.protocol == "UDP" or (
                    pm.protocol == "ANY" and pr.dns is not None) else "TCP"
                ends = [pm.port or DEFAULT_PORT]
                if pm.port and pm.end_port > pm.port:
                    ends.append(pm.end_port)
                for port in ends:
                    yield PortItem(pr, port, protocol, pm)

    # -- cells of one peer and port -----------------------------------------------------

    def _probe(self, rule: PeerRule, subject: Pod, peer: Peer, item: PortItem, *,
               http: HttpRequest | None = None, grpc: GrpcCall | None = None,
               dns: DnsQuery | None = None) -> Probe:
        src, dst = (peer, subject) if rule.direction == "ingress" else (subject, peer)
        if isinstance(src, Fqdn):  # an FQDN is never a source (the model refuses it)
            src = Entity("world")
        return Probe(id="", source=src, destination=dst, port=item.port,
                     protocol=item.protocol,  # type: ignore[arg-type]
                     http=http, grpc=grpc, dns=dns)

    def _add(self, rule: PeerRule, item: PortItem, probe: Probe, kind: str, step: str,
             peer_tag: str, l7: str | None = None, what: str = "l4") -> None:
        ref = RuleRef.of(rule, item.port_rule.path if item.port_rule else None, l7)
        tags = (rule.direction, "deny" if rule.deny else "allow", what, peer_tag)
        self.cells.append(GenCell(probe, ref, kind, step, tags))  # type: ignore[arg-type]

    def _positives(self, rule: PeerRule, subject: Pod, peer: Peer, tag: str, item: PortItem,
                   *, negatives: bool) -> None:
        pr = item.port_rule
        if pr is not None and pr.http is not None:
            self._http(rule, subject, peer, tag, item, pr.http, negatives)
            return
        if pr is not None and pr.dns is not None and item.protocol == "UDP":  # DNS over UDP
            self._dns(rule, subject, peer, tag, item, pr.dns, negatives)
            return
        probe = self._probe(rule, subject, peer, item)
        self._add(rule, item, probe, "positive", "", tag)
        if negatives and item.item is not None and item.item.port:
            nxt = _next_port(rule, item)
            if nxt is not None:
                self._add(rule, item, replace(probe, port=nxt), "negative", "next-port", tag)

    def _http(self, rule: PeerRule, subject: Pod, peer: Peer, tag: str, item: PortItem,
              entries: tuple[HttpMatch, ...], negatives: bool) -> None:
        assert item.port_rule is not None
        where = f"{rule.path}.{item.port_rule.path}"
        requests = [self._request(h, where, j) for j, h in enumerate(entries)]
        grpc = all(r is not None and _grpc_call(r) is not None for r in requests) and bool(
            requests)
        for j, (h, req) in enumerate(zip(entries, requests, strict=True)):
            l7 = f"rules.http[{j}]"
            if req is None:
                self.skipped.append(Skipped(rule.policy.file, rule.policy.document,
                                            f"{where}.{l7}",
                                            f"no request drawn that {h.text!r} matches"))
                continue
            call = _grpc_call(req) if grpc else None
            if call is not None:
                probe = self._probe(rule, subject, peer, item, grpc=call)
                self._add(rule, item, probe, "positive", "", tag, l7, "grpc")
                if negatives:
                    self._grpc_off(rule, subject, peer, tag, item, entries, call, l7)
            else:
                probe = self._probe(rule, subject, peer, item, http=req)
                self._add(rule, item, probe, "positive", "", tag, l7, "http")
                if negatives:
                    for step, off in _requests_off(req, h):
                        if not any(e.matches(off, _lower(off.headers)) for e in entries):
                            self._add(rule, item, replace(probe, http=off), "negative", step,
                                      tag, l7, "http")
            if negatives and j == 0 and (nxt := _next_port(rule, item)) is not None:
                self._add(rule, item, replace(probe, port=nxt), "negative", "next-port",
                          tag, l7, "grpc" if call is not None else "http")

    def _grpc_off(self, rule: PeerRule, subject: Pod, peer: Peer, tag: str, item: PortItem,
                  entries: tuple[HttpMatch, ...], call: GrpcCall, l7: str) -> None:
        other = GrpcCall(call.service, call.method + "Unlisted")
        as_http = HttpRequest("POST", other.path, dict(GRPC_HEADERS))
        if not any(e.matches(as_http, GRPC_HEADERS) for e in entries):
            probe = self._probe(rule, subject, peer, item, grpc=other)
            self._add(rule, item, probe, "negative", "method", tag, l7, "grpc")

    def _request(self, h: HttpMatch, where: str, j: int) -> HttpRequest | None:
        rng = self.ctx.rng(where, "http", j)
        method = "GET"
        if h.method is not None:
            method = next((m for m in METHODS if h.method.fullmatch(m) is not None), "") or \
                (regexdraw.draw(h.method.pattern, rng, accept=_token) or "")
            if not method:
                return None
        path = "/"
        if h.path is not None:
            path = regexdraw.draw(h.path.pattern, rng, accept=_path_like) or ""
            if not path:
                return None
        if h.method is None and GRPC_PATH.fullmatch(path):
            method = "POST"  # a gRPC method path: gRPC calls are POSTs
        host = None
        if h.host is not None:
            host = regexdraw.draw(h.host.pattern, rng, accept=_token)
            if host is None:
                return None
        headers = {c.name: c.value if c.value is not None else synth.EXISTS_VALUE
                   for c in h.headers}
        req = HttpRequest(method, path, headers, host)
        return req if h.matches(req, _lower(headers)) else None

    def _dns(self, rule: PeerRule, subject: Pod, peer: Peer, tag: str, item: PortItem,
             entries: tuple[NameMatch, ...], negatives: bool) -> None:
        multi = self.ctx.multi_label
        for j, entry in enumerate(entries):
            l7 = f"rules.dns[{j}]"
            name = synth.name_for(entry, multi, self.ctx.rng(rule.path, item.port, l7))
            if name is None:
                self.skipped.append(Skipped(rule.policy.file, rule.policy.document,
                                            f"{rule.path}.{l7}",
                                            f"no name drawn that {entry.describe()} matches"))
                continue
            probe = self._probe(rule, subject, peer, item, dns=DnsQuery(name))
            self._add(rule, item, probe, "positive", "", tag, l7, "dns")
            if not negatives:
                continue
            for step, off in synth.names_off(entry, name, multi):
                if not any(e.matches(off, multi) for e in entries):
                    self._add(rule, item, replace(probe, dns=DnsQuery(off)), "negative",
                              step, tag, l7, "dns")


def _reserved_peers(sel: Selector) -> Iterator[tuple[Peer, str]]:
    for req in sel.requirements:
        if req.source == "reserved" and req.key in ENTITY_MEMBERSHIP:
            yield Entity(req.key), "entity"
            return


def _matches_any(rule: PeerRule, peer: Peer, multi: bool) -> bool:
    return rule.peer_match(identity_of(peer), True, multi) is not None


def _next_port(rule: PeerRule, item: PortItem) -> int | None:
    """The first port after the item's (range end included) that no toPorts of the rule
    covers."""
    assert item.item is not None or item.port_rule is None
    start = max(item.port, item.item.end_port if item.item else 0) + 1
    for port in range(start, min(start + 64, MAX_PORT + 1)):
        if not any(pr.covers(port, item.protocol) for pr in rule.port_rules):
            return port
    return None


def _requests_off(req: HttpRequest, h: HttpMatch) -> Iterator[tuple[str, HttpRequest]]:
    if h.method is not None:
        other = next((m for m in METHODS if h.method.fullmatch(m) is None), None)
        if other is not None:
            yield "method", replace(req, method=other)
    base, _, _ = req.path.partition("?")
    yield "path-suffix", replace(req, path=base.rstrip("/") + PATH_SUFFIX)
    yield "path-query", replace(req, path=req.path + ("&probe=1" if "?" in req.path else QUERY))
    for name in req.headers:
        yield "header-missing", replace(
            req, headers={k: v for k, v in req.headers.items() if k != name})
        yield "header-value", replace(
            req, headers={**req.headers, name: req.headers[name] + OTHER_VALUE})


def _grpc_call(req: HttpRequest) -> GrpcCall | None:
    if req.method != "POST" or req.host or req.headers:
        return None
    m = GRPC_PATH.fullmatch(req.path)
    return GrpcCall(m.group(1), m.group(2)) if m else None


def _lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _token(text: str) -> bool:
    return bool(text) and all(c.isalnum() or c in "-._" for c in text)


def _path_like(text: str) -> bool:
    return text.startswith("/") and all(c.isprintable() and not c.isspace() for c in text)
