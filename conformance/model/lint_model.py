"""Lint checks that ask the model: "does this pod's lookup of that name pass the DNS proxy?"."""

from __future__ import annotations

from collections.abc import Iterator

from conformance.model.engine import KUBE_DNS, dns_proxy_learns, evaluate
from conformance.model.lint_findings import Finding
from conformance.model.options import DEFAULT_OPTIONS, AgentOptions
from conformance.model.policy import PeerRule, Policy
from conformance.model.policyset import PolicySet
from conformance.model.probe import DnsQuery, Entity, HttpRequest, Pod, Probe, TlsHello
from conformance.model.selectors import NAMESPACE_LABEL, Selector, identity_of
from conformance.model.version import (
    L7_WILDCARD_IN_DEFAULT_ALLOW,
    l7_wildcard_in_default_allow,
    multi_label_wildcard,
    parse_version,
)
from conformance.vocabulary.catalogue import load_catalogue

UPSTREAM = "192.0.2.53"  # a documentation address standing for CoreDNS's upstream resolver


def model_findings(policies: PolicySet, cilium_version: str,
                   options: AgentOptions = DEFAULT_OPTIONS) -> Iterator[Finding]:
    """Checks across the whole policy set, answered by evaluating probes with the model."""
    kube_dns = identity_of(KUBE_DNS)
    for policy in policies:
        pod = representative_pod(policy)
        if pod is None:
            continue
        if policy.cluster_wide and policy.selects(kube_dns) and (
                policy.default_deny_ingress or policy.default_deny_egress):
            yield from _ccnp_cuts_kube_dns(policies, policy, cilium_version, options)
        yield from _fqdns_never_learned(policies, policy, pod, cilium_version, options)
        open_dirs = _default_allow_directions(policies, pod, cilium_version, options)
        yield from _l7_default_allow(policy, pod, open_dirs)
        for rule in (*policy.ingress, *policy.egress):
            if rule.direction not in open_dirs:  # there l7-default-allow says it already
                yield from _l7_bypassed(policies, policy, pod, rule, cilium_version, options)
        if policy.default_deny_egress and _uses_names(policy):
            yield from _dns_cut_off(policies, policy, pod, cilium_version, options)


def _ccnp_cuts_kube_dns(policies: PolicySet, policy: Policy,
                        cilium_version: str,
                        options: AgentOptions = DEFAULT_OPTIONS) -> Iterator[Finding]:
    cut = _kube_dns_cut(policies, cilium_version, options)
    if cut:
        ref = policy.ref
        yield Finding("ccnp-selects-kube-system", ref.file, ref.document,
                      f"{ref.spec_path}.endpointSelector",
                      "this cluster-wide policy also selects kube-system (CoreDNS, Hubble "
                      "Relay), and with these policies " + "; ".join(cut) + ". Exclude "
                      "kube-system or allow DNS and kube-system traffic explicitly")


def _fqdns_never_learned(policies: PolicySet, policy: Policy, pod: Pod,
                         cilium_version: str,
                         options: AgentOptions = DEFAULT_OPTIONS) -> Iterator[Finding]:
    multi = multi_label_wildcard(parse_version(cilium_version))
    ref = policy.ref
    for rule in policy.egress:
        for k, name in enumerate(rule.fqdns):
            sample = sample_name(name.text, name.is_pattern, multi)
            if dns_proxy_learns(policies, pod, sample, cilium_version, options):
                continue
            lookup = evaluate(policies, _lookup(pod, sample), cilium_version, options=options)
            why = lookup.explanation if lookup.verdict != "allowed" else (
                "the lookup bypasses the DNS proxy: no DNS rule (rules.dns) on the egress to "
                "kube-dns port 53")
            yield Finding("fqdn-without-dns-proxy", ref.file, ref.document,
                          f"{rule.path}.toFQDNs[{k}]",
                          f"{name.describe()}: a lookup of {sample} from {pod_text(pod)} does "
                          "not pass the DNS proxy, so the name's IPs are never learned and "
                          "connections to it are dropped. Add an egress rule to kube-dns "
                          "(k8s:io.kubernetes.pod.namespace: kube-system, k8s:k8s-app: "
                          "kube-dns) on port 53 with rules: dns: [{matchPattern: \"*\"}]. "
                          f"Model says: {why}")


def _dns_cut_off(policies: PolicySet, policy: Policy, pod: Pod,
                 cilium_version: str,
                 options: AgentOptions = DEFAULT_OPTIONS) -> Iterator[Finding]:
    lookup = evaluate(policies, _lookup(pod, "kubernetes.default.svc.cluster.local"),
                      cilium_version, options=options)
    if lookup.verdict == "dropped":
        ref = policy.ref
        yield Finding("dns-cut-off", ref.file, ref.document, f"{ref.spec_path}.egress",
                      f"egress default deny for {pod_text(pod)} drops its DNS lookups while it "
                      f"talks to FQDNs or services by name. Model says: {lookup.explanation}")


def _kube_dns_cut(policies: PolicySet, cilium_version: str,
                  options: AgentOptions = DEFAULT_OPTIONS) -> list[str]:
    """What the policy set breaks for CoreDNS itself (pods' queries in, upstream out)."""
    cut = []
    query = Probe(id="lint-dns-in", source=Pod("zt-lint", {"app": "lint"}), destination=KUBE_DNS,
                  port=53, protocol="UDP", dns=DnsQuery("kubernetes.default.svc.cluster.local"))
    got = evaluate(policies, query, cilium_version, options=options)
    if got.verdict == "dropped":
        where = "CoreDNS's ingress" if got.direction == "ingress" else "the pods' egress"
        cut.append(f"pods' DNS queries are dropped at {where}")
    upstream = Probe(id="lint-dns-out", source=KUBE_DNS, destination=Entity("world", UPSTREAM),
                     port=53, protocol="UDP")
    got = evaluate(policies, upstream, cilium_version, options=options)
    if got.verdict == "dropped" and got.direction == "egress":
        cut.append("CoreDNS cannot reach its upstream resolvers")
    return cut


def _default_allow_directions(policies: PolicySet, pod: Pod,
                              cilium_version: str,
                              options: AgentOptions = DEFAULT_OPTIONS) -> frozenset[str]:
    """Directions in which `pod`'s L7 rules get upstream's allow-all L7 rule (from 1.18)."""
    if not l7_wildcard_in_default_allow(parse_version(cilium_version)):
        return frozenset()
    if options.enforcement != "default":  # `always` keeps default deny on; `never` no L7
        return frozenset()
    ident = identity_of(pod)
    return frozenset(d for d in ("ingress", "egress")
                     if policies.view(ident, d).default_deny_by is None)


def _l7_default_allow(policy: Policy, pod: Pod, open_dirs: frozenset[str]) -> Iterator[Finding]:
    """L7 rules in a direction that no policy selecting the pod keeps default deny on for:
    `pkg/policy/l4.go` ensureWildcard (PR 38841) puts an allow-all L7 rule beside them."""
    for rules in (policy.ingress, policy.egress):
        first = next(((r, pr) for r in rules if not r.deny and r.direction in open_dirs
                      for pr in r.port_rules if pr.http is not None or pr.dns is not None), None)
        if first is None:
            continue
        rule, pr = first
        ref = policy.ref
        yield Finding("l7-default-allow", ref.file, ref.document, f"{rule.path}.{pr.path}.rules",
                      f"default deny is off for the {rule.direction} of {pod_text(pod)} "
                      f"(enableDefaultDeny.{rule.direction}: false, and no other policy "
                      "selecting it keeps it on), so from Cilium "
                      f"{load_catalogue().since(L7_WILDCARD_IN_DEFAULT_ALLOW)} these L7 rules get "
                      "an allow-all rule beside them (pkg/policy/l4.go ensureWildcard) and "
                      "restrict nothing; the warning in the docs' intro.rst predates that. "
                      "Keep default deny on for the L7 rules to apply")


def _uses_names(policy: Policy) -> bool:
    return any(r.fqdns or r.selectors for r in policy.egress if not r.deny)


def _lookup(pod: Pod, name: str) -> Probe:
    return Probe(id="lint-dns", source=pod, destination=KUBE_DNS, port=53, protocol="UDP",
                 dns=DnsQuery(name))


def pod_text(pod: Pod) -> str:
    return f"{pod.namespace}/{{{','.join(f'{k}={v}' for k, v in sorted(pod.labels.items()))}}}"


def representative_pod(policy: Policy) -> Pod | None:
    """A pod the policy selects, built from its selector (None when none can be built)."""
    if policy.endpoint_selector is None:
        return None
    pod = pod_matching(policy.endpoint_selector, policy.ref.namespace or "default")
    return pod if pod is not None and policy.selects(identity_of(pod)) else None


def pod_matching(selector: Selector, namespace: str) -> Pod | None:
    """A pod that `selector` selects (None when it selects entities or cannot be satisfied)."""
    labels: dict[str, str] = {}
    for req in selector.requirements:
        if req.source == "reserved":
            return None
        if req.key == NAMESPACE_LABEL:
            if req.op == "In" and req.values:
                namespace = sorted(req.values)[0]
            elif req.op == "NotIn" and namespace in req.values:
                namespace = "zt-lint"
            continue
        if req.key.startswith("io.cilium.k8s."):
            continue
        if req.op == "In" and req.values:
            labels[req.key] = sorted(req.values)[0]
        elif req.op == "Exists":
            labels[req.key] = "x"
    pod = Pod(namespace=namespace, labels=labels)
    return pod if selector.matches(identity_of(pod)) else None


def sample_name(text: str, is_pattern: bool, multi_label: bool) -> str:
    """A concrete DNS name that `text` matches (for asking the model about lookups)."""
    name = text.lower().rstrip(".")
    if not is_pattern:
        return name
    if name == "*":
        return "example.com"
    if multi_label and name.startswith("**."):
        name = "a.b." + name[3:]
    return name.replace("*", "x")


# Requests that only a very permissive rule would let through.
_UNLIKELY = (HttpRequest("PATCH", "/zt-lint/never-allowed"), HttpRequest("TRACE", "/zz"))


# An SNI no serverNames list is written for.
_UNLIKELY_SNI = "zt-lint.never-allowed.invalid"


def _l7_bypassed(policies: PolicySet, policy: Policy, pod: Pod, rule: PeerRule,
                 cilium_version: str,
                 options: AgentOptions = DEFAULT_OPTIONS) -> Iterator[Finding]:
    """HTTP rules (or serverNames) that another rule makes moot: Cilium ORs rules, and a
    rule without L7 (without serverNames, of another selector) for the same peer and port
    lets every request (every SNI) through."""
    if rule.deny:
        return
    for pr in rule.port_rules:
        port = next((p.port for p in pr.ports if p.port and p.name is None), None)
        if port is None:
            continue
        request = next((r for r in _UNLIKELY if not any(
            h.matches(r, dict(r.headers)) for h in pr.http)), None) if pr.http else None
        sni = _UNLIKELY_SNI if pr.server_names and not any(
            n.matches(_UNLIKELY_SNI) for n in pr.server_names) else None
        if request is None and sni is None:
            continue
        for sel in rule.selectors:
            peer = pod_matching(sel, policy.ref.namespace or "default")
            if peer is None:
                continue
            src, dst = (peer, pod) if rule.direction == "ingress" else (pod, peer)
            probe = Probe(id="lint-l7", source=src, destination=dst, port=port, http=request,
                          tls=TlsHello(sni) if sni else None)
            got = evaluate(policies, probe, cilium_version, options=options)
            if got.verdict != "allowed":
                continue
            ref = policy.ref
            if request is not None:
                yield Finding("l7-bypassed", ref.file, ref.document, f"{rule.path}.{pr.path}",
                              f"these HTTP rules do not restrict {pod_text(peer)}: another "
                              f"rule allows it on port {port} (or on every port) without L7 "
                              f"rules, and Cilium ORs rules, so even {request.method} "
                              f"{request.path} passes. Model says: {got.explanation}")
            else:
                yield Finding("sni-bypassed", ref.file, ref.document,
                              f"{rule.path}.{pr.path}.serverNames",
                              f"these serverNames do not restrict {pod_text(peer)}: a rule "
                              f"of another selector allows it on port {port} (or on every "
                              f"port) without serverNames, and Envoy ORs the selectors' "
                              f"rules, so even SNI {sni} passes. Model says: "
                              f"{got.explanation}")
            return
