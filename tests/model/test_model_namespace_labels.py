"""Namespace labels other than the name: `k8s:io.cilium.k8s.namespace.labels.<key>` in
Cilium selectors and `namespaceSelector` in NetworkPolicy, decided from the pod's namespace
labels. Upstream: `pkg/k8s/apis/cilium.io/const.go` PodNamespaceMetaLabels (the prefix every
namespace label gets in the pod's identity labels).
"""

from __future__ import annotations

import pytest
from model_support import ALLOWED, DENIED_IN, Outcome, policies, probe, verdict

from conformance.model import Probe
from conformance.model.probe import Pod, ProbeError

SERVER = Pod("payments", {"app": "server"})
PARTNER = Pod("partners", {"app": "client"}, namespace_labels={"team": "partners"})
STRANGER = Pod("partners2", {"app": "client"}, namespace_labels={"team": "other"})
UNLABELLED = Pod("partners3", {"app": "client"})

CNP = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: by-team, namespace: payments}
spec:
  endpointSelector: {matchLabels: {app: server}}
  ingress:
  - fromEndpoints: [{matchLabels: {k8s:io.cilium.k8s.namespace.labels.team: partners}}]
"""
KNP = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: by-team, namespace: payments}
spec:
  podSelector: {matchLabels: {app: server}}
  policyTypes: [Ingress]
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: partners}}}]
"""


@pytest.mark.parametrize("text", [CNP, KNP])
@pytest.mark.parametrize(("source", "expected"), [
    (PARTNER, ALLOWED), (STRANGER, DENIED_IN), (UNLABELLED, DENIED_IN)])
def test_namespace_label_selectors(text: str, source: Pod, expected: Outcome) -> None:
    assert verdict(policies(text), probe(source, SERVER)) == expected


def test_the_name_label_stays_implied() -> None:
    text = CNP.replace("team: partners", "kubernetes.io/metadata.name: partners")
    assert verdict(policies(text), probe(PARTNER, SERVER)) == ALLOWED


def test_probe_lines_carry_namespace_labels() -> None:
    p = Probe.from_dict({"id": "a", "port": 80, "destination": {"namespace": "x"},
                         "source": {"namespace": "partners",
                                    "namespace_labels": {"team": "partners"}}})
    assert isinstance(p.source, Pod) and p.source.namespace_labels == {"team": "partners"}
    with pytest.raises(ProbeError, match=r"source\.namespace_labels"):
        Probe.from_dict({"id": "a", "port": 80, "destination": {"namespace": "x"},
                         "source": {"namespace": "p", "namespace_labels": ["team"]}})
