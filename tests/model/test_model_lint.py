"""Each lint rule: fires on the mistake, stays quiet on the corrected policy."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conformance.model.lint import RULES, LintResult, lint_paths

CNP = """apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {{name: p, namespace: payments}}
spec:
  endpointSelector: {{matchLabels: {{app: client}}}}
{body}
"""
DNS_OK = """  - toEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system,
                                 k8s:k8s-app: kube-dns}}]
    toPorts:
    - ports: [{port: '53', protocol: ANY}]
      rules: {dns: [{matchPattern: '*'}]}
"""
FQDN_443 = """  - toFQDNs: [{matchName: api.stripe.com}]
    toPorts: [{ports: [{port: '443', protocol: TCP}]}]
"""


def http(entry: str) -> str:
    return ("  ingress:\n  - toPorts:\n    - ports: [{port: '8080', protocol: TCP}]\n"
            f"      rules:\n        http:\n        - {entry}")


def lint_text(tmp_path: Path, text: str, version: str = "1.20") -> LintResult:
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent(text))
    return lint_paths([path], version)


def rules_of(result: LintResult) -> set[str]:
    return {f.rule for f in result.findings}


# (rule, body that triggers it, corrected body, cilium version)
CASES = [
    ("header-as-map", http("{headers: [{X-Team: blue}]}"), http("{headers: ['X-Team: blue']}"),
     "1.20"),
    ("header-no-space", http("{headers: ['X-Team:blue']}"), http("{headers: ['X-Team: blue']}"),
     "1.20"),
    ("path-never-matches", http("{path: 'api/v1/.*'}"), http("{path: '/api/v1/.*'}"), "1.20"),
    ("path-never-matches", http("{path: 'https://x/y'}"), http("{path: '/y'}"), "1.20"),
    ("method-never-matches", http("{method: get}"), http("{method: GET}"), "1.20"),
    ("method-never-matches", http("{method: FETCH}"), http("{method: 'GET|HEAD'}"), "1.20"),
    ("fqdn-without-dns-proxy",
     "  egress:\n" + FQDN_443 + DNS_OK.replace("      rules: {dns: [{matchPattern: '*'}]}\n", ""),
     "  egress:\n" + FQDN_443 + DNS_OK, "1.20"),
    ("fqdn-without-dns-proxy",
     "  egress:\n" + FQDN_443 + DNS_OK.replace("'*'", "'*.github.com'"),
     "  egress:\n" + FQDN_443 + DNS_OK.replace("'*'", "'*.stripe.com'"), "1.20"),
    ("kube-dns-selector", "  egress:\n" + DNS_OK.replace("k8s:k8s-app", "k8s:app"),
     "  egress:\n" + DNS_OK, "1.20"),
    ("dns-cut-off", "  egress:\n  - toEndpoints: [{matchLabels: {app: server}}]\n",
     "  egress:\n  - toEndpoints: [{matchLabels: {app: server}}]\n" + DNS_OK, "1.20"),
    ("multi-label-wildcard",
     "  egress:\n" + FQDN_443.replace("matchName: api.stripe.com", "matchPattern: '**.x.com'")
     + DNS_OK, "  egress:\n" + FQDN_443 + DNS_OK, "1.18"),
    ("fqdn-mixed-l3", "  egress:\n  - toFQDNs: [{matchName: a.com}]\n    toEntities: [world]\n",
     "  egress:\n  - toFQDNs: [{matchName: a.com}]\n  - toEntities: [world]\n" + DNS_OK, "1.20"),
    ("l7-on-deny", "  egressDeny:\n  - toEntities: [world]\n    toPorts:\n    - ports: "
     "[{port: '80', protocol: TCP}]\n      rules: {http: [{method: GET}]}\n",
     "  egressDeny:\n  - toEntities: [world]\n    toPorts:\n    - ports: "
     "[{port: '80', protocol: TCP}]\n", "1.20"),
    ("l7-on-deny", "  ingressDeny:\n  - fromEntities: [world]\n"
     "    authentication: {mode: required}\n", "  ingressDeny:\n  - fromEntities: [world]\n",
     "1.20"),
    ("use-double-star",
     "  egress:\n  - toFQDNs: [{matchPattern: '*.s.com'}, {matchPattern: '*.*.s.com'}]\n"
     + DNS_OK, "  egress:\n  - toFQDNs: [{matchPattern: '**.s.com'}]\n" + DNS_OK, "1.20"),
    ("empty-rule", "  ingress:\n  - {}\n", "  ingress:\n  - fromEntities: [all]\n", "1.20"),
    ("auth-deprecated", "  ingress:\n  - fromEntities: [cluster]\n"
     "    authentication: {mode: required}\n", "  ingress:\n  - fromEntities: [cluster]\n",
     "1.20"),
    ("not-modelled", "  egress:\n  - toServices: [{k8sService: {serviceName: s, namespace: n}}]"
     "\n" + DNS_OK, "  egress:\n  - toEndpoints: [{matchLabels: {app: s}}]\n" + DNS_OK, "1.20"),
    ("not-modelled", "  egress:\n  - toEntities: [world]\n    toPorts:\n"
     "    - ports: [{port: '443', protocol: TCP}]\n      originatingTLS: {secret: {name: s}}\n",
     "  egress:\n  - toEntities: [world]\n    toPorts:\n"
     "    - ports: [{port: '443', protocol: TCP}]\n", "1.20"),
    ("l7-bypassed", http("{method: GET}").replace(
        "  - toPorts:", "  - fromEndpoints: [{matchLabels: {app: c}}]\n    toPorts:")
     + "\n  - fromEndpoints: [{matchLabels: {app: c}}]\n",
     http("{method: GET}").replace(
        "  - toPorts:", "  - fromEndpoints: [{matchLabels: {app: c}}]\n    toPorts:")
     + "\n  - fromEndpoints: [{matchLabels: {app: d}}]\n", "1.20"),
    # the serverNames CRD pattern: `*` only as a leading `*.`/`**.` before 1.20
    ("rejected", "  egress:\n  - toPorts:\n    - ports: [{port: '443', protocol: TCP}]\n"
     "      serverNames: ['sub*.a.io']\n" + DNS_OK,
     "  egress:\n  - toPorts:\n    - ports: [{port: '443', protocol: TCP}]\n"
     "      serverNames: ['*.a.io']\n" + DNS_OK, "1.18"),
    ("rejected", "  egress:\n  - toPorts:\n    - ports: [{port: '443', protocol: TCP}]\n"
     "      serverNames: [a.io, a.io]\n" + DNS_OK,
     "  egress:\n  - toPorts:\n    - ports: [{port: '443', protocol: TCP}]\n"
     "      serverNames: ['sub*.a.io']\n" + DNS_OK, "1.20"),
    # the 1.20 CRD takes a trailing dot or `***`; Envoy's SniPattern does not
    ("sni-pattern-invalid", "  egress:\n  - toPorts:\n    - ports: [{port: '443', protocol: TCP}]\n"
     "      serverNames: [a.io.]\n" + DNS_OK,
     "  egress:\n  - toPorts:\n    - ports: [{port: '443', protocol: TCP}]\n"
     "      serverNames: [a.io]\n" + DNS_OK, "1.20"),
    # serverNames of one selector, any SNI through another selector's plain rule (Envoy
    # ORs per-selector rules); the same selector's plain rule merges in and lifts nothing
    ("sni-bypassed", "  ingress:\n  - fromEndpoints: [{matchLabels: {app: c}}]\n    toPorts:\n"
     "    - ports: [{port: '8443', protocol: TCP}]\n      serverNames: [a.example]\n"
     "  - fromEndpoints: [{}]\n    toPorts: [{ports: [{port: '8443', protocol: TCP}]}]\n",
     "  ingress:\n  - fromEndpoints: [{matchLabels: {app: c}}]\n    toPorts:\n"
     "    - ports: [{port: '8443', protocol: TCP}]\n      serverNames: [a.example]\n"
     "  - fromEndpoints: [{matchLabels: {app: c}}]\n"
     "    toPorts: [{ports: [{port: '8443', protocol: TCP}]}]\n", "1.20"),
    # pkg/policy/l4.go ensureWildcard (from 1.18): L7 rules where default deny is off
    ("l7-default-allow", "  enableDefaultDeny: {ingress: false}\n" + http("{method: GET}"),
     "  enableDefaultDeny: {egress: false}\n" + http("{method: GET}"), "1.20"),
    ("path-unescaped-query", http("{path: '/api/v1/accounts?limit=5'}"),
     http("{path: '/api/v1/accounts\\?limit=5'}"), "1.20"),
    ("cidr-selects-no-pods", "  egress:\n  - toCIDR: [10.96.0.0/12]\n",
     "  egress:\n  - toCIDR: [203.0.113.0/24]\n", "1.20"),
    ("cidr-selects-no-pods", "  ingress:\n  - fromCIDRSet: [{cidr: 192.168.0.0/16}]\n",
     "  ingress:\n  - fromEntities: [world]\n", "1.20"),
    # RE2 (Go regexp in the agent, Envoy safe_regex in the proxy) refuses these.
    ("regex-not-re2", http("{path: '/a/(x)\\1'}"), http("{path: '/a/(x)x'}"), "1.20"),
    ("regex-not-re2", http("{path: '/a{1001}'}"), http("{path: '/a{10}'}"), "1.20"),
    ("regex-not-re2", http("{path: '/a(?=b)'}"), http("{path: '/ab'}"), "1.20"),
    ("regex-not-re2", http("{method: 'GET|(?(1)P|D)OST'}"), http("{method: 'GET|POST'}"),
     "1.20"),
    ("regex-not-re2", http("{host: '(?<!x)api[.]example[.]com'}"),
     http("{host: 'api[.]example[.]com'}"), "1.20"),
    ("regex-not-re2", http("{path: '/a*+'}"), http("{path: '/a*'}"), "1.20"),
    ("regex-too-large", http("{path: '/api/v1/(get-account|list-accounts|create-account|"
                             "delete-account|update-account|transfer-funds|close-account)'}"),
     http("{path: '/api/v1/[a-z-]+'}"), "1.20"),
    ("regex-too-large", http("{path: '/" + "x" * 120 + "'}"), http("{path: '/x+'}"), "1.20"),
    ("rejected", "  ingress:\n  - toPorts: [{ports: [{port: 80, protocol: TCP}]}]\n",
     "  ingress:\n  - toPorts: [{ports: [{port: '80', protocol: TCP}]}]\n", "1.20"),
]


@pytest.mark.parametrize(("rule", "bad", "good", "version"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule_fires_and_clears(tmp_path: Path, rule: str, bad: str, good: str,
                               version: str) -> None:
    found = lint_text(tmp_path, CNP.format(body=bad), version)
    assert rule in rules_of(found), [str(f) for f in found.findings]
    fixed = lint_text(tmp_path, CNP.format(body=good), version)
    assert rule not in rules_of(fixed), [str(f) for f in fixed.findings]


def test_every_rule_has_a_case() -> None:
    # not-enforced needs an agent option: test_model_agent_options.py test_lint_with_options
    covered = {c[0] for c in CASES} | {"ccnp-selects-kube-system", "not-enforced"}
    assert covered == set(RULES)


def test_ccnp_selecting_kube_system(tmp_path: Path) -> None:
    ccnp = """apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {{name: d}}
spec:
  endpointSelector: {selector}
  ingress: [{{fromEntities: [host]}}]
"""
    assert "ccnp-selects-kube-system" in rules_of(lint_text(tmp_path, ccnp.format(selector="{}")))
    scoped = ("{matchExpressions: [{key: 'k8s:io.kubernetes.pod.namespace', operator: NotIn, "
              "values: [kube-system]}]}")
    assert "ccnp-selects-kube-system" not in rules_of(
        lint_text(tmp_path, ccnp.format(selector=scoped)))
    system = """---
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: system}
spec:
  endpointSelector: {matchLabels: {'k8s:io.kubernetes.pod.namespace': kube-system}}
  ingress: [{fromEntities: [all]}]
  egress: [{toEntities: [all]}]
---
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: dns}
spec:
  endpointSelector: {}
  egress:
  - toEndpoints: [{matchLabels: {'k8s:io.kubernetes.pod.namespace': kube-system,
                                 'k8s:k8s-app': kube-dns}}]
    toPorts: [{ports: [{port: '53', protocol: ANY}], rules: {dns: [{matchPattern: '*'}]}}]
"""
    allowed_back = lint_text(tmp_path, ccnp.format(selector="{}") + system)
    assert "ccnp-selects-kube-system" not in rules_of(allowed_back), allowed_back.findings


def test_findings_carry_file_document_and_path(tmp_path: Path) -> None:
    text = CNP.format(body="  ingress:\n  - {}\n") + "---\n" + CNP.format(
        body=http("{headers: [{X-Team: blue}]}"))
    result = lint_text(tmp_path, text)
    header = next(f for f in result.findings if f.rule == "header-as-map")
    assert header.document == 2
    assert header.path == "spec.ingress[0].toPorts[0].rules.http[0].headers[0]"
    assert str(header).startswith(f"{tmp_path / 'p.yaml'}: document 2: spec.ingress[0]")
    assert '"X-Team: blue"' in header.message
    assert header.severity == "error"


def test_header_map_is_not_reported_twice(tmp_path: Path) -> None:
    result = lint_text(tmp_path, CNP.format(body=http("{headers: [{X-Team: blue}]}")))
    paths = [f.path for f in result.findings if f.severity == "error"]
    assert paths == ["spec.ingress[0].toPorts[0].rules.http[0].headers[0]"]


def test_unknown_kind_is_fatal_not_a_finding(tmp_path: Path) -> None:
    result = lint_text(tmp_path, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    assert result.fatal and not result.findings
    assert "unknown kind 'ConfigMap'" in str(result.fatal[0])


def test_invalid_yaml_is_fatal(tmp_path: Path) -> None:
    result = lint_text(tmp_path, "kind: [\n")
    assert "invalid YAML" in str(result.fatal[0])


def test_clean_policy_has_no_findings(tmp_path: Path) -> None:
    result = lint_text(tmp_path, CNP.format(body="  egress:\n" + FQDN_443 + DNS_OK))
    assert result.findings == ()


def test_network_policy_ip_block_over_pod_range(tmp_path: Path) -> None:
    np = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: n, namespace: payments}}
spec:
  podSelector: {{}}
  ingress: [{{from: [{{ipBlock: {{cidr: {cidr}}}}}]}}]
"""
    found = lint_text(tmp_path, np.format(cidr="10.244.0.0/16"))
    assert [f.path for f in found.findings] == ["spec.ingress[0].from[0].ipBlock.cidr"]
    assert "cidr-selects-no-pods" not in rules_of(lint_text(tmp_path, np.format(
        cidr="198.51.100.0/24")))
