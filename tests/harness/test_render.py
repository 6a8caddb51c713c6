"""Rendering policies into a worker's namespaces (parallel isolation)."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.harness.render import WORKER_LABEL, RenderError, has_l7_rules, render
from conformance.harness.spec import POLICY_ROOT, load_documents

SPACES = {"payments": "ztc-gw3", "partners": "ztc-gw3-partners"}


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def test_namespaced_policy_moves_into_the_worker_namespace() -> None:
    docs = render(load_documents(POLICY_ROOT / "default-deny"), SPACES, "gw3")
    cnp = by_kind(docs, "CiliumNetworkPolicy")[0]
    assert cnp["metadata"]["namespace"] == "ztc-gw3"
    assert cnp["metadata"]["labels"][WORKER_LABEL] == "gw3"
    peers = cnp["spec"]["ingress"][0]["fromEndpoints"][0]["matchLabels"]
    assert peers == {"k8s:io.kubernetes.pod.namespace": "ztc-gw3"}


def test_clusterwide_policy_gets_worker_name_and_namespace_selector() -> None:
    docs = render(load_documents(POLICY_ROOT / "default-deny"), SPACES, "gw3")
    ccnp = by_kind(docs, "CiliumClusterwideNetworkPolicy")[0]
    assert ccnp["metadata"]["name"] == "ztc-gw3-default-deny-all"
    assert "namespace" not in ccnp["metadata"]
    assert ccnp["spec"]["endpointSelector"] == {"matchExpressions": [
        {"key": "k8s:io.kubernetes.pod.namespace", "operator": "In",
         "values": ["ztc-gw3", "ztc-gw3-partners"]}]}


def test_disruptive_render_keeps_the_truly_clusterwide_selector() -> None:
    source = load_documents(POLICY_ROOT / "clusterwide-default-deny")
    docs = render(source, SPACES, "main", clusterwide=True)
    ccnps = by_kind(docs, "CiliumClusterwideNetworkPolicy")
    assert ccnps[0]["spec"]["endpointSelector"] == {}
    assert ccnps[0]["metadata"]["name"] == source[0]["metadata"]["name"]
    # kube-system and friends are not worker namespaces: left alone.
    system = ccnps[2]["spec"]["endpointSelector"]["matchExpressions"][0]["values"]
    assert system == ["kube-system", "cilium-spire", "local-path-storage"]


def test_source_documents_are_not_modified() -> None:
    source = load_documents(POLICY_ROOT / "default-deny")
    before = repr(source)
    render(source, SPACES, "gw0")
    assert repr(source) == before


def test_kube_dns_selector_is_kept() -> None:
    docs = render(load_documents(POLICY_ROOT / "fqdn"), SPACES, "gw0")
    dns_rule = docs[0]["spec"]["egress"][1]["toEndpoints"][0]["matchLabels"]
    assert dns_rule["k8s:io.kubernetes.pod.namespace"] == "kube-system"


def test_networkpolicy_namespace_selector_is_mapped() -> None:
    doc = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": "x", "namespace": "partners"},
           "spec": {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {
               "matchLabels": {"kubernetes.io/metadata.name": "payments"}}}]}]}}
    out = render([doc], SPACES, "gw3")[0]
    assert out["metadata"]["namespace"] == "ztc-gw3-partners"
    sel = out["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]
    assert sel == {"kubernetes.io/metadata.name": "ztc-gw3"}


def test_document_without_name_is_a_clear_error() -> None:
    with pytest.raises(RenderError, match=r"without kind/metadata\.name"):
        render([{"kind": "CiliumNetworkPolicy", "metadata": {}}], SPACES, "gw0")


def test_l7_detection() -> None:
    assert has_l7_rules(load_documents(POLICY_ROOT / "l7-http"))
    assert has_l7_rules(load_documents(POLICY_ROOT / "fqdn"))  # DNS rules use the proxy
    assert not has_l7_rules(load_documents(POLICY_ROOT / "default-deny"))
    assert not has_l7_rules(load_documents(POLICY_ROOT / "l3l4-gap"))
