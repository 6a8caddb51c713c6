"""L7 rules where default deny is off restrict nothing from 1.18 (issue 10, fix 3).

Upstream: `pkg/policy/l4.go` `ensureWildcard` (PR 38841, the fix of issue 38676) adds an
allow-all L7 rule (HTTP `{}`, DNS `matchPattern: "*"`) beside the L7 rules of an allow rule
when the endpoint's policy context has default deny off for that direction; pinned by
`pkg/policy/l4_filter_test.go` TestHTTPWildcardInDefaultAllow, TestDNSWildcardInDefaultAllow,
TestDNSWildcardWithL3FilterInDefaultAllow, TestDefaultAllowL7Rules. The endpoint's default
deny is one value over all policies selecting it, so another policy keeping it on keeps the
restriction. The model runs 1.18-1.20 only; the behaviour before the change (1.17) is the
engine with the wildcard switched off.
"""

from __future__ import annotations

import pytest
from model_support import (
    ALLOWED,
    KUBE_DNS,
    L7_IN,
    REFUSED,
    Outcome,
    pod,
    policies,
    probe,
    run,
)

from conformance.model import PolicySet, Probe
from conformance.model.engine import _Evaluation
from conformance.model.lint import lint_documents
from conformance.model.loader import Document
from conformance.model.version import l7_wildcard_in_default_allow

SERVER = pod(app="server")
CLIENT = pod(app="client")

HTTP_OPEN = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: l7-open, namespace: payments}
spec:
  endpointSelector: {matchLabels: {app: server}}
  enableDefaultDeny: {ingress: false}
  ingress:
  - fromEndpoints: [{matchLabels: {app: client}}]
    toPorts:
    - ports: [{port: '8080', protocol: TCP}]
      rules: {http: [{method: GET, path: /api/v1/accounts}]}
"""
# A second policy selecting the same pod that keeps ingress default deny on.
KEEPS_DENY = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: keeps-deny, namespace: payments}
spec:
  endpointSelector: {matchLabels: {app: server}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: monitor}}]
    toPorts: [{ports: [{port: '9100', protocol: TCP}]}]
"""
DNS_OPEN = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: dns-open, namespace: payments}
spec:
  endpointSelector: {matchLabels: {app: client}}
  enableDefaultDeny: {egress: false}
  egress:
  - toEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system,
                                 k8s:k8s-app: kube-dns}}]
    toPorts:
    - ports: [{port: '53', protocol: ANY}]
      rules: {dns: [{matchName: api.stripe.com}]}
"""
# Egress default deny off must not open the ingress L7 rules of the same policy.
EGRESS_OPEN_ONLY = HTTP_OPEN.replace("{ingress: false}", "{egress: false}")

DELETE = probe(CLIENT, SERVER, http=("DELETE", "/api/v1/accounts/1"))
GET = probe(CLIENT, SERVER, http=("GET", "/api/v1/accounts"))
EVIL = probe(CLIENT, KUBE_DNS, 53, "UDP", dns="evil.example")


def _outcome(ps: PolicySet, pr: Probe, wildcard: bool) -> Outcome:
    e = _Evaluation(ps, True, l7_default_allow=wildcard).run(pr)
    return (e.verdict, e.drop_reason, e.direction)


@pytest.mark.parametrize(("docs", "pr", "before_1_18", "from_1_18"), [
    (HTTP_OPEN, DELETE, L7_IN, ALLOWED),
    (HTTP_OPEN, GET, ALLOWED, ALLOWED),
    (HTTP_OPEN + "---" + KEEPS_DENY, DELETE, L7_IN, L7_IN),  # restriction stays
    (EGRESS_OPEN_ONLY, DELETE, L7_IN, L7_IN),  # other direction only
    (DNS_OPEN, EVIL, REFUSED, ALLOWED),
])
def test_l7_in_default_allow(docs: str, pr: Probe, before_1_18: Outcome,
                             from_1_18: Outcome) -> None:
    ps = policies(docs)
    assert _outcome(ps, pr, wildcard=False) == before_1_18
    assert _outcome(ps, pr, wildcard=True) == from_1_18
    for version in ("1.18", "1.19", "1.20"):
        e = run(ps, pr, version)
        assert (e.verdict, e.drop_reason, e.direction) == from_1_18


def test_version_gate() -> None:
    assert [l7_wildcard_in_default_allow(v) for v in ((1, 17), (1, 18), (1, 20))] == [
        False, True, True]


def test_still_through_the_proxy() -> None:
    """The wildcard is an L7 rule: the request is still proxied (Hubble L7 FORWARDED), and a
    DNS lookup still passes the DNS proxy, so toFQDNs keep learning."""
    e = run(policies(HTTP_OPEN), DELETE)
    assert e.hubble.type == "L7" and "allow-all HTTP rule" in e.explanation
    e = run(policies(DNS_OPEN), EVIL)
    assert e.hubble.type == "L7" and "allow-all DNS pattern" in e.explanation


def _lint(text: str, version: str = "1.20") -> list[str]:
    import yaml
    docs = [Document("t.yaml", i, "", d)
            for i, d in enumerate(yaml.safe_load_all(text), start=1) if d]
    return [f.rule for f in lint_documents(docs, version).findings]


def test_lint_says_the_l7_rules_restrict_nothing() -> None:
    assert "l7-default-allow" in _lint(HTTP_OPEN)
    assert "l7-default-allow" in _lint(DNS_OPEN)
    assert "l7-default-allow" not in _lint(HTTP_OPEN + "---" + KEEPS_DENY)
    assert "l7-default-allow" not in _lint(EGRESS_OPEN_ONLY)
