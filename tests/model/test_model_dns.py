"""DNS rules, the DNS proxy, toFQDNs and the version-dependent `**.` wildcard."""

from __future__ import annotations

import pytest
from model_support import (
    ALLOWED,
    DENIED_EG,
    KUBE_DNS,
    REFUSED,
    Outcome,
    entity,
    fqdn,
    pod,
    policies,
    probe,
    run,
    verdict,
)

from conformance.model import Probe
from conformance.model.probe import Peer

CLIENT = pod(app="client")


def egress(dns_rules: str | None, fqdns: str, dns_selector: str = "k8s:k8s-app: kube-dns",
           protocol: str = "UDP") -> str:
    rules = f"\n      rules:\n        dns: {dns_rules}" if dns_rules is not None else ""
    return f"""
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {{name: fq, namespace: payments}}
spec:
  endpointSelector: {{matchLabels: {{app: client}}}}
  egress:
  - toFQDNs: {fqdns}
    toPorts: [{{ports: [{{port: '443', protocol: TCP}}]}}]
  - toEndpoints:
    - matchLabels:
        k8s:io.kubernetes.pod.namespace: kube-system
        {dns_selector}
    toPorts:
    - ports: [{{port: '53', protocol: {protocol}}}]{rules}
"""


STRIPE = egress("[{matchPattern: '*'}]", "[{matchName: api.stripe.com}]")


def lookup(name: str, protocol: str = "UDP") -> Probe:
    return probe(CLIENT, KUBE_DNS, 53, protocol, dns=name)


@pytest.mark.parametrize(("destination", "port", "expected"), [
    (fqdn("api.stripe.com"), 443, ALLOWED),
    (fqdn("API.Stripe.COM"), 443, ALLOWED),  # case-insensitive
    (fqdn("api.stripe.com."), 443, ALLOWED),  # trailing dot implied
    (fqdn("api.stripe.com"), 80, DENIED_EG),  # name allowed, port not
    (fqdn("api.github.com"), 443, DENIED_EG),
    (entity("world", "203.0.113.5"), 443, DENIED_EG),
])
def test_fqdn_with_dns_proxy(destination: Peer, port: int,
                             expected: Outcome) -> None:
    assert verdict(policies(STRIPE), probe(CLIENT, destination, port)) == expected


def test_allowed_fqdn_explains_the_lookup_and_the_rule() -> None:
    e = run(policies(STRIPE), probe(CLIENT, fqdn("api.stripe.com"), 443))
    assert "passes the DNS proxy" in e.explanation
    assert "toFQDNs[0] matchName: api.stripe.com" in e.explanation
    assert e.hubble.traffic_direction == "EGRESS"


def test_without_dns_rule_the_fqdn_is_never_learned() -> None:
    ps = policies(egress(None, "[{matchName: api.stripe.com}]"))
    e = run(ps, probe(CLIENT, fqdn("api.stripe.com"), 443))
    assert (e.verdict, e.drop_reason, e.direction) == DENIED_EG
    assert "bypasses the DNS proxy" in e.explanation
    assert verdict(ps, lookup("api.stripe.com")) == ALLOWED  # DNS itself works


def test_article_kube_dns_selector_matches_no_pod() -> None:
    ps = policies(egress("[{matchPattern: '*'}]", "[{matchName: api.stripe.com}]",
                         dns_selector="k8s:app: kube-dns"))
    e = run(ps, probe(CLIENT, fqdn("api.stripe.com"), 443))
    assert (e.verdict, e.direction) == ("dropped", "egress")
    assert "DNS lookup of api.stripe.com fails" in e.explanation
    assert verdict(ps, lookup("api.stripe.com")) == DENIED_EG


def test_lookup_refused_when_no_dns_rule_allows_the_name() -> None:
    ps = policies(egress("[{matchPattern: '*.stripe.com'}]", "[{matchPattern: '*'}]"))
    e = run(ps, probe(CLIENT, fqdn("api.github.com"), 443))
    assert (e.verdict, e.client, e.direction) == ("dns-refused", "dns-refused", "egress")
    assert verdict(ps, probe(CLIENT, fqdn("api.stripe.com"), 443)) == ALLOWED


@pytest.mark.parametrize(("rules", "name", "expected"), [
    ("[{matchPattern: '*'}]", "anything.example.org", ALLOWED),
    ("[{matchName: api.stripe.com}]", "api.stripe.com", ALLOWED),
    ("[{matchName: api.stripe.com}]", "www.stripe.com", REFUSED),
    ("[{matchPattern: '*.stripe.com'}]", "api.stripe.com", ALLOWED),
    ("[{matchPattern: '*.stripe.com'}]", "stripe.com", REFUSED),
    ("[{matchPattern: '*.stripe.com'}]", "a.b.stripe.com", REFUSED),
    ("[{matchPattern: 'api-*.stripe.com'}]", "api-eu.stripe.com", ALLOWED),
    ("[{matchPattern: 'API.STRIPE.COM'}]", "api.stripe.com", ALLOWED),
    ("[{matchName: a.com}, {matchName: b.com}]", "b.com", ALLOWED),
])
def test_dns_rule_matching(rules: str, name: str, expected: Outcome) -> None:
    ps = policies(egress(rules, "[{matchName: api.stripe.com}]"))
    assert verdict(ps, lookup(name)) == expected


def test_refused_evidence() -> None:
    ps = policies(egress("[{matchName: api.stripe.com}]", "[{matchName: api.stripe.com}]"))
    e = run(ps, lookup("evil.example"))
    assert (e.client, e.hubble.verdict, e.hubble.type, e.hubble.drop_reason_desc) == (
        "dns-refused", "DROPPED", "L7", None)
    assert "REFUSED" in e.explanation


def test_allowed_lookup_is_an_l7_flow() -> None:
    e = run(policies(STRIPE), lookup("api.stripe.com"))
    assert (e.verdict, e.hubble.type, e.hubble.traffic_direction) == ("allowed", "L7",
                                                                     "EGRESS")


def test_dns_over_tcp_needs_its_own_port_entry() -> None:
    ps = policies(STRIPE)
    assert verdict(ps, lookup("api.stripe.com", "TCP")) == DENIED_EG
    ps_any = policies(egress("[{matchPattern: '*'}]", "[{matchName: x.com}]", protocol="ANY"))
    assert verdict(ps_any, lookup("api.stripe.com", "TCP")) == ALLOWED


@pytest.mark.parametrize(("version", "name", "expected"), [
    ("1.20", "api.stripe.com", ALLOWED),
    ("1.20", "a.b.stripe.com", ALLOWED),
    ("1.19", "a.b.c.stripe.com", ALLOWED),
    ("1.19.6", "a.b.stripe.com", ALLOWED),
    ("1.20", "stripe.com", REFUSED),
    ("1.18", "api.stripe.com", ALLOWED),
    ("1.18", "a.b.stripe.com", REFUSED),  # before 1.19 `**` is just `*`
    ("1.18.12", "a.b.stripe.com", REFUSED),
])
def test_double_star_depends_on_version(version: str, name: str,
                                        expected: Outcome) -> None:
    ps = policies(egress("[{matchPattern: '**.stripe.com'}]", "[{matchPattern: '**.stripe.com'}]"))
    assert verdict(ps, lookup(name), version) == expected
    fq = verdict(ps, probe(CLIENT, fqdn(name), 443), version)
    assert fq == (expected if expected == ALLOWED else REFUSED)


def test_tofqdns_pattern_also_depends_on_version() -> None:
    ps = policies(egress("[{matchPattern: '*'}]", "[{matchPattern: '**.stripe.com'}]"))
    assert verdict(ps, probe(CLIENT, fqdn("a.b.stripe.com"), 443), "1.20") == ALLOWED
    assert verdict(ps, probe(CLIENT, fqdn("a.b.stripe.com"), 443), "1.18") == DENIED_EG


def test_world_entity_allows_fqdn_without_the_proxy() -> None:
    ps = policies("""
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata: {name: w, namespace: payments}
        spec:
          endpointSelector: {matchLabels: {app: client}}
          egress:
          - toEntities: [world]
          - toEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system,
                                         k8s:k8s-app: kube-dns}}]
            toPorts: [{ports: [{port: '53', protocol: ANY}]}]
        """)
    assert verdict(ps, probe(CLIENT, fqdn("api.github.com"), 443)) == ALLOWED


def test_unrestricted_source_reaches_fqdns() -> None:
    assert verdict(policies(STRIPE), probe(pod(app="other"), fqdn("x.org"), 443)) == ALLOWED


def test_dns_rules_limit_nothing_when_egress_is_open() -> None:
    """From 1.18 the DNS proxy gets `*` beside the rules (l4.go ensureWildcard)."""
    ps = policies(egress("[{matchName: api.stripe.com}]", "[{matchName: api.stripe.com}]")
                  .replace("  egress:", "  enableDefaultDeny: {egress: false}\n  egress:"))
    assert verdict(ps, lookup("evil.example")) == ALLOWED
    assert verdict(ps, probe(CLIENT, pod(app="db"), 5432)) == ALLOWED
