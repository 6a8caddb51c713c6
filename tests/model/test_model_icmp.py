"""ICMP: `icmps` rules (type by number or name, IPv4/IPv6) and ICMP probes.

Upstream: pkg/policy/api/icmp.go (a field becomes a port item: the type is the port, the
protocol ICMP or ICMPv6); ANY in toPorts is TCP/UDP/SCTP and never ICMP; a rule with no
port and no icmps (L3 only) allows every protocol.
"""

from __future__ import annotations

import pytest
from model_support import (
    ALLOWED,
    DENIED_EG,
    DENIED_IN,
    DENY_IN,
    Outcome,
    pod,
    policies,
    verdict,
)

from conformance.model import PolicyError, Probe
from conformance.model.probe import ProbeError

SERVER = pod(app="server")
CLIENT = pod(app="client")


def ping(family: str = "ICMP", icmp_type: object = None, source: object = CLIENT,
         dest: object = SERVER) -> Probe:
    data: dict[str, object] = {"id": "ping", "protocol": family,
                               "source": {"namespace": "payments", "labels": {"app": "client"}},
                               "destination": {"namespace": "payments",
                                               "labels": {"app": "server"}}}
    if icmp_type is not None:
        data["icmp_type"] = icmp_type
    return Probe.from_dict(data)


def ingress(rule: str, deny: str = "") -> str:
    return f"""
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {{name: icmp, namespace: payments}}
spec:
  endpointSelector: {{matchLabels: {{app: server}}}}
  ingress:
  - fromEndpoints: [{{matchLabels: {{app: client}}}}]
    {rule}
{deny}"""


ECHO_V4 = ingress("icmps: [{fields: [{type: 8, family: IPv4}]}]")
ECHO_NAME = ingress("icmps: [{fields: [{type: EchoRequest}]}]")
ECHO_V6 = ingress("icmps: [{fields: [{type: EchoRequest, family: IPv6}]}]")
TCP_ANY = ingress("toPorts: [{ports: [{port: '0', protocol: ANY}]}]")
L3_ONLY = ingress("{}").replace("    {}\n", "\n")
DENY_ICMP = ingress("icmps: [{fields: [{type: 8}]}]",
                    "  ingressDeny:\n  - fromEndpoints: [{matchLabels: {app: client}}]\n"
                    "    icmps: [{fields: [{type: Echo}]}]\n")


@pytest.mark.parametrize(("text", "probe", "expected"), [
    (ECHO_V4, ping(), ALLOWED),
    (ECHO_NAME, ping(), ALLOWED),
    (ECHO_NAME, ping(icmp_type="Timestamp"), DENIED_IN),  # another type
    (ECHO_V4, ping("ICMPv6"), DENIED_IN),  # another family
    (ECHO_V6, ping("ICMPv6"), ALLOWED),
    (ECHO_V6, ping("ICMPv6", 128), ALLOWED),
    (ECHO_V6, ping(), DENIED_IN),
    (TCP_ANY, ping(), DENIED_IN),  # ANY is not ICMP
    (L3_ONLY, ping(), ALLOWED),  # no port: every protocol
    (DENY_ICMP, ping(), DENY_IN),
])
def test_icmp_rules(text: str, probe: Probe, expected: Outcome) -> None:
    assert verdict(policies(text), probe) == expected


def test_icmps_allow_no_tcp() -> None:
    from model_support import probe as tcp_probe
    assert verdict(policies(ECHO_V4), tcp_probe(CLIENT, SERVER, 8080)) == DENIED_IN


def test_egress_icmp() -> None:
    text = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: out, namespace: payments}
spec:
  endpointSelector: {matchLabels: {app: client}}
  egress:
  - toEndpoints: [{matchLabels: {app: server}}]
    icmps: [{fields: [{type: 8}]}]
"""
    assert verdict(policies(text), ping()) == ALLOWED
    assert verdict(policies(text), ping(icmp_type=13)) == DENIED_EG


@pytest.mark.parametrize(("field", "message"), [
    ("{type: Echo, family: IPv6}", "not an IPv6 ICMP type"),  # Echo is an IPv4 name only
    ("{type: 256}", "not an IPv4 ICMP type"),
    ("{type: 8, family: IPv5}", "is not IPv4 or IPv6"),
])
def test_bad_icmp_fields_are_refused(field: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        policies(ingress(f"icmps: [{{fields: [{field}]}}]"))


def test_bad_icmp_probe() -> None:
    with pytest.raises(ProbeError, match="icmp_type: expected an IPv4 ICMP type"):
        ping(icmp_type="Ping")
