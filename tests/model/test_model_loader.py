"""Bad policy input: every problem names file, document and field path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conformance.model import PolicyError, PolicySet, load_policies

HEAD = """apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: p, namespace: payments}
spec:
  endpointSelector: {}
"""


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def problem(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as info:
        load_policies([path])
    return str(info.value)


@pytest.mark.parametrize(("body", "path", "message"), [
    ("  ingress:\n  - toPorts:\n    - ports: [{port: 8080, protocol: TCP}]",
     "spec.ingress[0].toPorts[0].ports[0].port", 'write "8080"'),
    ("  ingress:\n  - toPorts:\n    - ports: [{port: '8080', protocol: tcp}]",
     "spec.ingress[0].toPorts[0].ports[0].protocol", "not one of"),
    ("  ingress:\n  - fromEntitys: [world]", "spec.ingress[0].fromEntitys", "unknown field"),
    ("  ingress:\n  - fromEntities: [internet]", "spec.ingress[0].fromEntities[0]",
     "not an entity"),
    ("  ingress:\n  - fromCIDR: [10.0.0.0]", "spec.ingress[0].fromCIDR[0]", "CIDR"),
    ("  ingress:\n  - fromCIDRSet: [{cidr: 10.0.0.0/16, except: [10.1.0.0/24]}]",
     "spec.ingress[0].fromCIDRSet[0].except", "10.1.0.0/24 is not inside 10.0.0.0/16"),
    ("  ingress:\n  - fromEndpoints: [{matchLabels: {app: true}}]",
     "spec.ingress[0].fromEndpoints[0].matchLabels.app", "quote it"),
    ("  ingress:\n  - fromEndpoints: [{matchExpressions: [{key: a, operator: Has}]}]",
     "spec.ingress[0].fromEndpoints[0].matchExpressions[0].operator", "not one of"),
    ("  ingress:\n  - toPorts:\n    - ports: [{port: '80', protocol: TCP}]\n"
     "      rules: {http: [{headers: [{X-A: b}]}]}",
     "spec.ingress[0].toPorts[0].rules.http[0].headers[0]", '"X-A: b"'),
    ("  ingress:\n  - toPorts:\n    - ports: [{port: '80'}]\n      rules: {http: [{}]}",
     "spec.ingress[0].toPorts[0].ports[0].protocol", "HTTP rules need protocol TCP"),
    ("  ingress:\n  - toPorts:\n    - ports: [{port: '0', protocol: TCP}]\n"
     "      rules: {http: [{}]}", "spec.ingress[0].toPorts[0].ports", "port 0"),
    ("  ingress:\n  - toPorts:\n    - ports: [{protocol: TCP}]",
     "spec.ingress[0].toPorts[0].ports[0].port", "port must be specified"),
    ("  ingress:\n  - toPorts:\n    - ports: [{port: '53', protocol: UDP}]\n"
     "      rules: {dns: [{matchPattern: '*'}]}", "spec.ingress[0].toPorts[0].rules.dns",
     "only allowed on egress"),
    ("  egress:\n  - toPorts:\n    - rules: {dns: [{matchPattern: '*'}]}",
     "spec.egress[0].toPorts[0].rules.dns", "explicit port"),
    ("  egress:\n  - toPorts:\n    - ports: [{port: '53', protocol: UDP}]\n"
     "      rules: {dns: [{matchPattern: '*'}], http: [{}]}", "spec.egress[0].toPorts[0].rules",
     "exactly one of http, dns"),
    ("  egress:\n  - toFQDNs: [{matchName: a.com}]\n    toEntities: [world]",
     "spec.egress[0]", "cannot be combined"),
    ("  ingress:\n  - fromEndpoints: [{}]\n    fromEntities: [host]", "spec.ingress[0]",
     "cannot be combined"),
    ("  ingressDeny:\n  - fromEntities: [world]\n    authentication: {mode: required}",
     "spec.ingressDeny[0].authentication", "deny rules carry no authentication"),
    ("  egressDeny:\n  - toEntities: [world]\n    toPorts:\n"
     "    - ports: [{port: '80', protocol: TCP}]\n      rules: {http: [{}]}",
     "spec.egressDeny[0].toPorts[0].rules", "ports only"),
    ("  egressDeny:\n  - toFQDNs: [{matchName: a.com}]", "spec.egressDeny[0].toFQDNs",
     "cannot name FQDNs"),
    ("  ingress:\n  - toPorts:\n    - ports: [{port: '80', protocol: TCP}]\n"
     "      rules: {http: [{path: '/a(?=b)'}]}", "spec.ingress[0].toPorts[0].rules.http[0].path",
     "RE2"),
    ("  ingress:\n  - toPorts:\n    - ports: [{port: '80', protocol: TCP}]\n"
     "      rules: {http: [{path: '/a[' }]}", "spec.ingress[0].toPorts[0].rules.http[0].path",
     "not an RE2 regular expression (missing ]: [)"),
    ("  ingress:\n  - fromEntities: [world]\n    authentication: {mode: sometimes}",
     "spec.ingress[0].authentication.mode", "not one of"),
    ("  egress:\n  - toFQDNs: [{matchName: 'bad name'}]", "spec.egress[0].toFQDNs[0].matchName",
     "not a valid DNS name"),
    ("  ingress:\n  - fromEndpoints: [{matchExpressions: [{key: a, operator: In}]}]",
     "spec.ingress[0].fromEndpoints[0].matchExpressions[0]", "needs at least one value"),
    ("  ingress:\n  - fromEndpoints: [{matchExpressions: [{key: a, operator: Exists, "
     "values: [b]}]}]", "spec.ingress[0].fromEndpoints[0].matchExpressions[0]",
     "takes no values"),
    ("  ingress:\n  - fromRequires: [{matchLabels: {a: b}}]", "spec.ingress[0].fromRequires",
     "at most 0"),
    ("  enableDefaultDeny: {ingress: 'no'}\n  ingress: [{}]", "spec.enableDefaultDeny.ingress",
     "true or false"),
    ("  ingress:\n  - toPorts:\n    - ports: [{port: '9092', protocol: TCP}]\n"
     "      rules: {kafka: [{topic: t}]}", "spec.ingress[0].toPorts[0].rules.kafka",
     "removed in Cilium 1.20"),
])
def test_rejected_fields_name_their_path(tmp_path: Path, body: str, path: str,
                                         message: str) -> None:
    text = problem(tmp_path, HEAD + body + "\n")
    assert f"p.yaml: document 1: {path}" in text
    assert message in text


def test_spec_needs_a_rule_section(tmp_path: Path) -> None:
    assert "needs at least one of ingress, ingressDeny, egress, egressDeny" in problem(
        tmp_path, HEAD)


def test_all_rule_sections_empty_is_rejected_by_the_agent(tmp_path: Path) -> None:
    text = problem(tmp_path, HEAD + "  ingress: []\n  egress: []\n")
    assert "p.yaml: document 1: spec: every one of ingress, ingressDeny, egress" in text


def test_endpoint_and_node_selector_are_exclusive(tmp_path: Path) -> None:
    text = problem(tmp_path, HEAD + "  nodeSelector: {}\n  ingress: [{}]\n")
    assert "exactly one of endpointSelector, nodeSelector" in text


def test_invalid_yaml_names_document_and_line(tmp_path: Path) -> None:
    text = problem(tmp_path, HEAD + "  ingress: [{}]\n---\nkind: [unclosed\n")
    assert "p.yaml: document 2: invalid YAML at line" in text


def test_unknown_kind(tmp_path: Path) -> None:
    text = problem(tmp_path, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n")
    assert "p.yaml: document 1: kind: unknown kind 'Deployment'" in text


def test_wrong_api_version(tmp_path: Path) -> None:
    text = problem(tmp_path, HEAD.replace("cilium.io/v2", "cilium.io/v1") + "  ingress: [{}]\n")
    assert "apiVersion: CiliumNetworkPolicy needs apiVersion cilium.io/v2" in text


def test_document_index_counts_documents(tmp_path: Path) -> None:
    good = HEAD + "  ingress: [{}]\n"
    text = problem(tmp_path, good + "---\n" + good + "---\n" + HEAD + "  ingress: [{x: 1}]\n")
    assert "document 3: spec.ingress[0].x" in text
    assert "document 1" not in text


def test_every_problem_is_reported(tmp_path: Path) -> None:
    text = problem(tmp_path, HEAD + "  ingress:\n  - fromEntities: [wrld]\n"
                                    "  egress:\n  - toEntities: [wrld]\n")
    assert "spec.ingress[0].fromEntities[0]" in text
    assert "spec.egress[0].toEntities[0]" in text


def test_not_a_map(tmp_path: Path) -> None:
    assert "expected a Kubernetes object" in problem(tmp_path, "- just\n- a list\n")


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        load_policies([tmp_path / "absent.yaml"])
    assert "absent.yaml: no such file or directory" in str(info.value)


def test_directories_are_read_recursively_in_order(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    write(tmp_path, HEAD + "  ingress: [{}]\n", "sub/b.yml")
    write(tmp_path, HEAD.replace("name: p", "name: q") + "  ingress: [{}]\n", "a.yaml")
    write(tmp_path, "not policy", "README.md")
    ps = load_policies([tmp_path])
    assert sorted(p.ref.name for p in ps) == ["p", "q"]


def test_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        load_policies([tmp_path])
    assert "no .yaml/.yml files" in str(info.value)


def test_from_documents_names_its_source() -> None:
    with pytest.raises(PolicyError) as info:
        PolicySet.from_documents([{"kind": "Nope"}], source="scenario-x")
    assert str(info.value).startswith("scenario-x: document 1: kind:")
    assert info.value.problems[0].path == "kind"


def test_namespace_defaults_to_default(tmp_path: Path) -> None:
    ps = load_policies([write(tmp_path, HEAD.replace(", namespace: payments", "")
                              + "  ingress: [{}]\n")])
    assert next(iter(ps)).ref.namespace == "default"


def test_clusterwide_policy_has_no_namespace(tmp_path: Path) -> None:
    text = HEAD.replace("CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy")
    ps = load_policies([write(tmp_path, text + "  ingress: [{}]\n")])
    assert next(iter(ps)).ref.namespace is None
    assert str(next(iter(ps)).ref) == "CiliumClusterwideNetworkPolicy p"
