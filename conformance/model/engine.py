"""Evaluate one probe against a PolicySet: the verdict Cilium should give, and why.

A request passes only if the source's egress AND the destination's ingress allow it.
Each side: explicit deny wins (POLICY_DENY); then, if default deny is on, some allow rule
must match peer and port (else POLICY_DENIED); authentication; then L7 (HTTP, DNS).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from conformance.model.expectation import (
    ClientSignal,
    DropReason,
    Expectation,
    HubbleEvidence,
)
from conformance.model.matchers import NamedPorts, PortMatch
from conformance.model.options import DEFAULT_OPTIONS, AgentOptions
from conformance.model.policy import PeerRule, Policy, PolicyRef, PortRule
from conformance.model.policyset import PolicySet
from conformance.model.probe import DnsQuery, Fqdn, HttpRequest, Pod, Probe
from conformance.model.selectors import Identity, identity_of
from conformance.model.version import (
    DEFAULT_VERSION,
    l7_wildcard_in_default_allow,
    multi_label_wildcard,
    parse_version,
)
from conformance.vocabulary.dns import DNS_PORT as DNS_PORT
from conformance.vocabulary.dns import KUBE_DNS_LABELS, KUBE_DNS_NAMESPACE

KUBE_DNS = Pod(namespace=KUBE_DNS_NAMESPACE, labels=dict(KUBE_DNS_LABELS))
DEFAULT_DENY = "no rule matched: default deny"
AUTH_FAIL = "test-always-fail"
SIDE_CACHE_LIMIT = 200_000


@dataclass(frozen=True)
class Hit:
    """An allow or deny rule that matched the peer and port."""

    rule: PeerRule
    port_rule: PortRule | None  # None: the rule has no toPorts (every port)
    port: PortMatch | None
    peer: str  # how the peer matched

    def describe(self) -> str:
        parts = [self.peer]
        if self.port_rule is not None and self.port is not None:
            parts.append(f"{self.port_rule.path} {self.port.describe()}")
        return f"{self.rule.policy} {self.rule.path} ({', '.join(parts)})"


@dataclass(frozen=True)
class SideL4:
    """The L3/L4 decision of one side (egress of the source or ingress of the destination)."""

    enforced: bool
    default_deny_by: PolicyRef | None
    has_rules: bool  # some policy selecting the endpoint has rules in this direction
    deny: Hit | None
    allows: tuple[Hit, ...]
    auth_fail: Hit | None
    auth_required: Hit | None


@dataclass
class Side:
    """The outcome at one side, ready to be turned into an Expectation."""

    name: str  # "egress" | "ingress"
    who: str
    verdict: str = "allowed"  # allowed | dropped | l7-denied | dns-refused
    reason: DropReason | None = None
    l7: bool = False  # the request went through an L7 rule
    proxied_dns: bool = False  # DNS went through the DNS proxy (so toFQDNs can learn IPs)
    text: str = ""
    notes: list[str] = field(default_factory=list)
    enforcing: bool = True  # False when the endpoint is not a pod (no policy applies)
    sni_denied: bool = False  # Envoy refused the TLS SNI: the connection is reset


def evaluate(policies: PolicySet, probe: Probe, cilium_version: str = DEFAULT_VERSION, *,
             mutual_auth: bool = True, options: AgentOptions | None = None) -> Expectation:
    """What Cilium `cilium_version` does with `probe` under `policies`.

    `mutual_auth`: the cluster runs mutual authentication (SPIRE). Without it, rules with
    `authentication.mode: required` drop their traffic with AUTH_REQUIRED.
    `options`: the agent options assumed (conformance/model/options.py); they replace
    `mutual_auth` when given.
    """
    version = parse_version(cilium_version)
    opts = options or AgentOptions(mutual_auth=mutual_auth)
    return _Evaluation(policies, multi_label_wildcard(version), opts.mutual_auth,
                       l7_default_allow=l7_wildcard_in_default_allow(version),
                       options=opts).run(probe)


def dns_proxy_learns(policies: PolicySet, source: Pod, name: str,
                     cilium_version: str = DEFAULT_VERSION,
                     options: AgentOptions = DEFAULT_OPTIONS) -> bool:
    """Does `source`'s lookup of `name` pass the DNS proxy (so toFQDNs can learn its IPs)?"""
    version = parse_version(cilium_version)
    ev = _Evaluation(policies, multi_label_wildcard(version),
                     l7_default_allow=l7_wildcard_in_default_allow(version), options=options)
    probe = Probe(id="dns-lookup", source=source, destination=Fqdn(name), port=DNS_PORT)
    return ev.lookup(probe, name)[1]


class _Evaluation:
    def __init__(self, policies: PolicySet, multi_label: bool, mutual_auth: bool = True, *,
                 l7_default_allow: bool = True, options: AgentOptions = DEFAULT_OPTIONS) -> None:
        self.options = options
        self.refused: tuple[Policy, ...] = ()
        if not options.l7_proxy:  # the agent refuses policies with L7 rules (options.py)
            policies, self.refused = policies.without_l7()
        self.policies = policies
        self.multi = multi_label
        self.mutual_auth = mutual_auth
        # L7 lists of a default-allow direction get an allow-all rule (l4.go ensureWildcard)
        self.l7_default_allow = l7_default_allow

    # -- whole probe ----------------------------------------------------------------------

    def run(self, probe: Probe) -> Expectation:
        src = identity_of(probe.source)
        dst = identity_of(probe.destination)
        prefix: list[str] = []
        refused = [str(p.ref) for p in self.refused if p.selects(src) or p.selects(dst)]
        if refused:
            prefix.append("the agent refuses " + ", ".join(refused) + " (L7 policy is not "
                          "supported since L7 proxy is not enabled), so it never applies")
        learned = False
        if isinstance(probe.destination, Fqdn):
            sides, learned = self.lookup(probe, probe.destination.fqdn)
            failed = next((s for s in sides if s.verdict != "allowed"), None)
            if failed is not None:
                failed.text = f"DNS lookup of {probe.destination.fqdn} fails: {failed.text}"
                return self._expectation(probe, sides, failed)
            prefix.append(
                f"DNS lookup of {probe.destination.fqdn} passes the DNS proxy, so toFQDNs "
                "selectors learn its IPs" if learned else
                f"DNS lookup of {probe.destination.fqdn} bypasses the DNS proxy (no DNS rule "
                "on the source's egress to kube-dns), so toFQDNs selectors never learn its IPs")
        sides = self._path(probe, src, dst, learned)
        failed = next((s for s in sides if s.verdict != "allowed"), None)
        return self._expectation(probe, sides, failed, prefix)

    def lookup(self, probe: Probe, name: str) -> tuple[list[Side], bool]:
        """The source's DNS lookup of `name` via kube-dns; True when the DNS proxy saw it."""
        query = Probe(id=probe.id, source=probe.source, destination=KUBE_DNS, port=DNS_PORT,
                      protocol="UDP", dns=DnsQuery(name))
        sides = self._path(query, identity_of(probe.source), identity_of(KUBE_DNS), False)
        passed = all(s.verdict == "allowed" for s in sides)
        return sides, passed and any(s.proxied_dns for s in sides)

    def _path(self, probe: Probe, src: Identity, dst: Identity, learned: bool) -> list[Side]:
        """Egress of the source, then ingress of the destination; stops at the first denial."""
        out = []
        eg = self._side(probe, "egress", src, dst, learned)
        out.append(eg)
        if eg.verdict != "allowed":
            return out
        out.append(self._side(probe, "ingress", dst, src, learned))
        return out

    # -- one side ---------------------------------------------------------------------------

    def _side(self, probe: Probe, direction: str, endpoint: Identity, peer: Identity,
              learned: bool) -> Side:
        who = endpoint.describe()
        side = Side(direction, who)
        if endpoint.kind != "pod":
            side.text = f"{direction} of {who}: not subject to policy"
            side.enforcing = False
            return side
        where = f"{direction} of {who}"
        mode = self.options.enforcement
        if mode == "never":  # repository.go computePolicyEnforcementAndRules: never enforced
            side.text = f"{where}: not enforced (policy-enforcement-mode=never)"
            return side
        l4 = self._l4(direction, endpoint, peer, probe.port, probe.protocol, learned)
        enforced = l4.enforced or mode == "always"
        if l4.deny is not None:
            side.verdict, side.reason = "dropped", "POLICY_DENY"
            side.text = f"{where}: denied by {l4.deny.describe()}"
            return side
        if direction == "ingress" and peer.kind == "entity" and peer.key[1] == "host":
            # Cilium in Kubernetes mode (allow-localhost=auto -> always): kubelet probes work.
            side.text = (f"{where}: traffic from the local host is always allowed "
                         "(allow-localhost)")
            return side
        if enforced and not l4.allows:
            side.verdict, side.reason = "dropped", "POLICY_DENIED"
            by = (l4.default_deny_by if l4.default_deny_by is not None
                  else "policy-enforcement-mode=always")
            side.text = f"{where}: {DEFAULT_DENY} (default deny switched on by {by})"
            return side
        if l4.auth_fail is not None:
            side.verdict, side.reason = "dropped", "AUTH_REQUIRED"
            side.text = (f"{where}: authentication mode test-always-fail on "
                         f"{l4.auth_fail.describe()}: the auth handshake always fails")
            return side
        if l4.auth_required is not None and not self.mutual_auth:
            side.verdict, side.reason = "dropped", "AUTH_REQUIRED"
            side.text = (f"{where}: authentication mode required on "
                         f"{l4.auth_required.describe()}, but mutual authentication is not "
                         "enabled in the cluster, so no handshake ever completes")
            return side
        if l4.auth_required is not None:
            side.notes.append(
                f"authentication required by {l4.auth_required.describe()}: the first packets "
                "of a new identity pair are dropped with AUTH_REQUIRED until the agents' "
                "mutual-auth handshake completes")
        if not l4.allows:
            reason = ("no rule matched, and every policy selecting it switches default deny "
                      "off (enableDefaultDeny)" if l4.has_rules else
                      f"no policy selecting it has {direction} rules")
            side.text = f"{where}: not enforced ({reason})"
            return side
        # The endpoint's default deny for this direction is one value over every policy
        # selecting it (any policy keeping it on wins), as upstream's policy context.
        wildcard = self.l7_default_allow and not enforced
        self._l7(probe, side, where, l4.allows, wildcard)
        return side

    def _l4(self, direction: str, endpoint: Identity, peer: Identity, port: int,
            protocol: str, learned: bool) -> SideL4:
        key = (direction, endpoint.key, peer.key, port, protocol, learned, self.multi)
        cache = self.policies.side_cache
        if (found := cache.get(key)) is not None:
            assert isinstance(found, SideL4)
            return found
        view = self.policies.view(endpoint, direction)
        deny: Hit | None = None
        allows: list[Hit] = []
        # A port name resolves through the destination's ports: the endpoint's own on
        # ingress; on egress upstream uses every pod's names (a NamedPortMultiMap, nothing
        # when two pods give one name different numbers), the model the destination's.
        named = endpoint.named_ports if direction == "ingress" else peer.named_ports
        for rule in view.rules:
            hits = self._match(rule, peer, port, protocol, learned, named)
            if hits and rule.deny:
                deny = deny or hits[0]
            elif hits:
                allows.extend(hits)
        result = SideL4(
            enforced=view.default_deny_by is not None,
            default_deny_by=view.default_deny_by,
            has_rules=bool(view.rules),
            deny=deny,
            allows=tuple(allows),
            auth_fail=next((h for h in allows if h.rule.auth == AUTH_FAIL), None),
            auth_required=next((h for h in allows if h.rule.auth == "required"), None),
        )
        if len(cache) >= SIDE_CACHE_LIMIT:  # a long-lived set sees endless peers: stay bounded
            cache.clear()
        cache[key] = result
        return result

    def _match(self, rule: PeerRule, peer: Identity, port: int, protocol: str,
               learned: bool, named: NamedPorts = ()) -> list[Hit]:
        """One hit per `toPorts` item covering the port (their L7 rules are ORed too)."""
        how = rule.peer_match(peer, learned, self.multi)
        if how is None:
            return []
        if not rule.port_rules:
            return [Hit(rule, None, None, how)]
        return [Hit(rule, pr, pm, how) for pr in rule.port_rules
                if (pm := pr.covers(port, protocol, named)) is not None]

    def _l7(self, probe: Probe, side: Side, where: str, allows: tuple[Hit, ...],
            wildcard: bool) -> None:
        """`wildcard`: default deny is off here, so an allow-all L7 rule sits beside each list."""
        if self._sni(probe, side, where, allows):
            return
        request = _http_request(probe)
        open_hit = next((h for h in allows if _l7_open(h, probe)), None)
        if request is not None:
            lists = [h for h in allows if h.port_rule is not None and h.port_rule.http is not None]
            if lists:
                side.l7 = True
                headers = {k.lower(): v for k, v in request.headers.items()}
                for h in lists:
                    assert h.port_rule is not None and h.port_rule.http is not None
                    for j, rule in enumerate(h.port_rule.http):
                        if rule.matches(request, headers):
                            side.text = (f"{where}: allowed by {h.describe()}, "
                                         f"rules.http[{j}] {rule.text}")
                            return
                if wildcard and open_hit is None:
                    side.text = (f"{where}: allowed by the allow-all HTTP rule Cilium adds to "
                                 f"{lists[0].describe()} because default deny is off here "
                                 f"(enableDefaultDeny); {request.method} {request.path} "
                                 "matched none of its own entries")
                    return
                if open_hit is None:
                    side.verdict = "l7-denied"
                    names = "; ".join(f"{h.describe()} ({_http_count(h)} rules.http entries)"
                                      for h in lists)
                    side.text = (f"{where}: {request.method} {request.path} matched no "
                                 f"rules.http entry of {names}")
                    return
        if probe.dns is not None:
            lists = [h for h in allows if h.port_rule is not None and h.port_rule.dns is not None]
            if lists:
                side.l7 = side.proxied_dns = True
                for h in lists:
                    assert h.port_rule is not None and h.port_rule.dns is not None
                    for j, name in enumerate(h.port_rule.dns):
                        if name.matches(probe.dns.name, self.multi):
                            side.text = (f"{where}: allowed by {h.describe()}, "
                                         f"rules.dns[{j}] {name.describe()}")
                            return
                if wildcard and open_hit is None:
                    side.text = (f"{where}: allowed by the allow-all DNS pattern Cilium adds to "
                                 f"{lists[0].describe()} because default deny is off here "
                                 f"(enableDefaultDeny); {probe.dns.name} matched none of its "
                                 "own entries")
                    return
                if open_hit is None:
                    side.verdict = "dns-refused"
                    side.text = (f"{where}: DNS query for {probe.dns.name} matched no rules.dns "
                                 f"entry of " + "; ".join(h.describe() for h in lists)
                                 + "; the DNS proxy answers REFUSED")
                    return
        chosen = open_hit or allows[0]
        side.text = f"{where}: allowed by {chosen.describe()}"

    def _sni(self, probe: Probe, side: Side, where: str, allows: tuple[Hit, ...]) -> bool:
        """serverNames: True when they decide the side (Envoy refuses the SNI: side.verdict
        says so; or an SNI matched), False when no serverNames apply to this peer.

        Upstream: `pkg/policy/l4.go` gives a port rule with serverNames the TLS parser (a
        proxy redirect); for one selector, port and protocol the serverNames of every rule
        are merged into one set (`pkg/policy/l4.go` mergePortProto / addL4Filter: "if any
        rule requires SNI, then all traffic to that remote/port requires TLS"), while rules
        of other selectors stay separate Envoy rules, ORed (cilium/proxy
        `cilium/network_policy.cc` PortNetworkPolicyRules::getVerdict; an L3/L4-only
        selector's rule allows every SNI, `pkg/envoy/xds_server.go`
        getPortNetworkPolicyRule, as does the port-0 rule of a rule without toPorts,
        getWildcardNetworkPolicyRule). A rule's SNI check
        (PortNetworkPolicyRule::getVerdict) fails on an empty SNI, so a connection without
        a ClientHello server_name (plain HTTP, or TLS without one) is refused too; a bare
        connect sends nothing for Envoy to judge and completes. The model keys a
        selector by policy namespace and peer selector text.
        """
        named = [h for h in allows if h.port_rule is not None and h.port_rule.server_names]
        if not named:
            return False
        if probe.tls is None and _http_request(probe) is None:
            # nothing sent: the proxy accepts the connection and never reads a ClientHello
            side.notes.append(f"{where}: serverNames apply to this port, but a bare connect "
                              "sends no ClientHello, so the connection completes")
            return False
        keys = {_selector_key(h) for h in named}
        free = next((h for h in allows if _selector_key(h) not in keys and (
            h.port_rule is None or not h.port_rule.server_names)), None)
        if free is not None:
            side.notes.append(f"{where}: {free.describe()} has no serverNames, so Envoy "
                              "accepts any SNI from this peer")
            return False
        sni = probe.tls.sni if probe.tls is not None else None
        for h in named:
            assert h.port_rule is not None
            for j, name in enumerate(h.port_rule.server_names):
                if sni and name.matches(sni):
                    side.text = (f"{where}: allowed by {h.describe()}, serverNames[{j}] "
                                 f"{name.text} (SNI {sni}); Envoy passes the TLS stream "
                                 "through without an L7 access-log record")
                    return True
        side.verdict, side.sni_denied = "l7-denied", True
        said = f"SNI {sni}" if sni else "no SNI (no TLS ClientHello server_name)"
        names = "; ".join(f"{h.describe()} serverNames "
                          f"{[n.text for n in h.port_rule.server_names]}"
                          for h in named if h.port_rule is not None)
        side.text = (f"{where}: {said} matches no serverNames of {names}; Envoy resets the "
                     "connection after the ClientHello (cilium/network_filter.cc)")
        return True

    # -- result -----------------------------------------------------------------------------

    def _expectation(self, probe: Probe, sides: list[Side], failed: Side | None,
                     prefix: list[str] | None = None) -> Expectation:
        lines = [*(prefix or []), *(s.text for s in sides if s.text)]
        lines += [n for s in sides for n in s.notes]
        if failed is None:
            l7_side = next((s for s in reversed(sides) if s.l7), None)
            decider = l7_side or next(
                (s for s in reversed(sides) if s.enforcing), sides[-1])
            return Expectation(
                probe_id=probe.id, verdict="allowed", drop_reason=None, direction=None,
                client="ok",
                hubble=HubbleEvidence("FORWARDED", "L7" if l7_side else "L3_L4", None,
                                      _upper(decider.name)),
                explanation="; ".join(["allowed", *lines]),
            )
        client: ClientSignal = "timeout"
        if failed.sni_denied:  # cilium/network_filter.cc onNewConnection: AbortReset
            client = "reset"
        elif failed.verdict == "l7-denied":
            client = "grpc-permission-denied" if probe.grpc is not None else "http-403"
        elif failed.verdict == "dns-refused":
            # tofqdns-dns-reject-response-code: REFUSED, or NXDOMAIN with nameError
            client = "dns-refused" if self.options.dns_reject == "refused" else "dns-nxdomain"
        is_l7 = failed.verdict in ("l7-denied", "dns-refused")
        hubble = HubbleEvidence("DROPPED", "L7" if is_l7 else "L3_L4",
                                None if is_l7 else failed.reason, _upper(failed.name))
        return Expectation(
            probe_id=probe.id,
            verdict=failed.verdict,  # type: ignore[arg-type]
            drop_reason=failed.reason if failed.verdict == "dropped" else None,
            direction="ingress" if failed.name == "ingress" else "egress",
            client=client,
            hubble=hubble,
            explanation="; ".join([failed.verdict, *lines]),
        )


def _upper(direction: str) -> Literal["INGRESS", "EGRESS"]:
    return "INGRESS" if direction == "ingress" else "EGRESS"


def _http_request(probe: Probe) -> HttpRequest | None:
    if probe.http is not None:
        return probe.http
    if probe.grpc is not None:  # gRPC is HTTP/2 POST /package.Service/Method
        return HttpRequest("POST", probe.grpc.path, {"content-type": "application/grpc"})
    return None


def _selector_key(hit: Hit) -> tuple[str | None, str]:
    """Which cached selector a hit came from, for merging serverNames per selector."""
    return hit.rule.policy.namespace, re.sub(r"\[\d+\]", "", hit.peer)


def _l7_open(hit: Hit, probe: Probe) -> bool:
    """A hit that puts no L7 restriction on this kind of request."""
    pr = hit.port_rule
    if pr is None:
        return True
    if probe.dns is not None:
        return pr.dns is None
    return pr.http is None


def _http_count(hit: Hit) -> int:
    return len(hit.port_rule.http or ()) if hit.port_rule is not None else 0
