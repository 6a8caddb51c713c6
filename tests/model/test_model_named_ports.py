"""Named ports (`port: http`) resolve through the destination's container ports.

Upstream: `pkg/policy/types` NamedPortMap.GetNamedPort (ingress: the endpoint's own ports)
and NamedPortMultiMap.GetNamedPort (egress): an unknown name, a protocol the name is not
declared for, or port 0 give no port, so the rule allows nothing.
"""

from __future__ import annotations

import pytest
from model_support import ALLOWED, DENIED_EG, DENIED_IN, Outcome, policies, probe, verdict

from conformance.model import Probe
from conformance.model.probe import Pod, ProbeError

PORTS = {"http": (8080, "TCP"), "grpc": (9090, "TCP"), "dns": (5353, "UDP")}
SERVER = Pod("payments", {"app": "server"}, ports=PORTS)
BARE = Pod("payments", {"app": "server"})  # declares no port names
CLIENT = Pod("payments", {"app": "client"})

CNP = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: named, namespace: payments}
spec:
  endpointSelector: {matchLabels: {app: server}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: client}}]
    toPorts: [{ports: [{port: PORTNAME, protocol: PROTO}]}]
"""
KNP = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: named, namespace: payments}
spec:
  podSelector: {matchLabels: {app: server}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: http}]
"""
EGRESS = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: out, namespace: payments}
spec:
  endpointSelector: {matchLabels: {app: client}}
  egress:
  - toEndpoints: [{matchLabels: {app: server}}]
    toPorts: [{ports: [{port: http, protocol: TCP}]}]
"""


def cnp(name: str, proto: str = "TCP") -> str:
    return CNP.replace("PORTNAME", name).replace("PROTO", proto)


@pytest.mark.parametrize(("text", "dest", "port", "protocol", "expected"), [
    (cnp("http"), SERVER, 8080, "TCP", ALLOWED),
    (cnp("http"), SERVER, 9090, "TCP", DENIED_IN),
    (cnp("grpc"), SERVER, 9090, "TCP", ALLOWED),
    (cnp("http"), BARE, 8080, "TCP", DENIED_IN),  # the destination has no such name
    (cnp("metrics"), SERVER, 8080, "TCP", DENIED_IN),  # nor this one
    (cnp("dns", "TCP"), SERVER, 5353, "TCP", DENIED_IN),  # declared for UDP only
    (cnp("dns", "ANY"), SERVER, 5353, "UDP", ALLOWED),
    (KNP, SERVER, 8080, "TCP", ALLOWED),
    (KNP, SERVER, 9090, "TCP", DENIED_IN),
    (KNP, BARE, 8080, "TCP", DENIED_IN),
    (EGRESS, SERVER, 8080, "TCP", ALLOWED),
    (EGRESS, SERVER, 9090, "TCP", DENIED_EG),
    (EGRESS, BARE, 8080, "TCP", DENIED_EG),
])
def test_named_port_resolution(text: str, dest: Pod, port: int, protocol: str,
                               expected: Outcome) -> None:
    assert verdict(policies(text), probe(CLIENT, dest, port, protocol)) == expected


def test_probe_lines_carry_ports() -> None:
    p = Probe.from_dict({"id": "a", "port": 8080, "source": {"namespace": "payments"},
                         "destination": {"namespace": "payments", "labels": {"app": "server"},
                                         "ports": {"http": 8080,
                                                   "dns": {"port": 53, "protocol": "UDP"}}}})
    assert isinstance(p.destination, Pod)
    assert p.destination.ports == {"http": (8080, "TCP"), "dns": (53, "UDP")}
    with pytest.raises(ProbeError, match=r"destination\.ports\.http: expected a port"):
        Probe.from_dict({"id": "a", "port": 1, "source": {"namespace": "p"},
                         "destination": {"namespace": "p", "ports": {"http": "8080"}}})
