"""L3/L4 semantics: selectors, namespaces, entities, CIDRs, ports, default deny, deny rules."""

from __future__ import annotations

import pytest
from model_support import (
    ALLOWED,
    DENIED_EG,
    DENIED_IN,
    DENY_EG,
    DENY_IN,
    KUBE_DNS,
    Outcome,
    entity,
    pod,
    policies,
    probe,
    run,
    verdict,
)

from conformance.model.probe import Peer

INGRESS_FROM = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {{name: p, namespace: payments}}
spec:
  endpointSelector: {{matchLabels: {{app: server}}}}
  ingress:
  - {rule}
"""


def ingress(rule: str) -> str:
    return INGRESS_FROM.format(rule=rule)


SERVER = pod("payments", app="server")


@pytest.mark.parametrize(("rule", "source", "expected"), [
    # matchLabels, with and without source prefixes
    ("fromEndpoints: [{matchLabels: {app: client}}]", pod(app="client"), ALLOWED),
    ("fromEndpoints: [{matchLabels: {app: client}}]", pod(app="other"), DENIED_IN),
    ("fromEndpoints: [{matchLabels: {'k8s:app': client}}]", pod(app="client"), ALLOWED),
    ("fromEndpoints: [{matchLabels: {'any:app': client}}]", pod(app="client"), ALLOWED),
    ("fromEndpoints: [{matchLabels: {'reserved:app': client}}]", pod(app="client"), DENIED_IN),
    # matchExpressions
    ("fromEndpoints: [{matchExpressions: [{key: app, operator: In, values: [a, b]}]}]",
     pod(app="b"), ALLOWED),
    ("fromEndpoints: [{matchExpressions: [{key: app, operator: In, values: [a, b]}]}]",
     pod(app="c"), DENIED_IN),
    ("fromEndpoints: [{matchExpressions: [{key: app, operator: NotIn, values: [a]}]}]",
     pod(tier="x"), ALLOWED),
    ("fromEndpoints: [{matchExpressions: [{key: app, operator: NotIn, values: [a]}]}]",
     pod(app="a"), DENIED_IN),
    ("fromEndpoints: [{matchExpressions: [{key: team, operator: Exists}]}]",
     pod(team="x"), ALLOWED),
    ("fromEndpoints: [{matchExpressions: [{key: team, operator: Exists}]}]",
     pod(app="x"), DENIED_IN),
    ("fromEndpoints: [{matchExpressions: [{key: team, operator: DoesNotExist}]}]",
     pod(app="x"), ALLOWED),
    ("fromEndpoints: [{matchExpressions: [{key: team, operator: DoesNotExist}]}]",
     pod(team="x"), DENIED_IN),
    # namespace confinement of a namespaced policy's peers
    ("fromEndpoints: [{matchLabels: {app: client}}]", pod("other", app="client"), DENIED_IN),
    ("fromEndpoints: [{}]", pod("payments", app="anything"), ALLOWED),
    ("fromEndpoints: [{}]", pod("other", app="anything"), DENIED_IN),
    ("fromEndpoints: [{matchLabels: {'k8s:io.kubernetes.pod.namespace': other, app: c}}]",
     pod("other", app="c"), ALLOWED),
    ("fromEndpoints: [{matchExpressions: [{key: 'k8s:io.kubernetes.pod.namespace', "
     "operator: Exists}]}]", pod("elsewhere"), ALLOWED),
    # endpoint selectors select pods only, never entities, unless they name reserved labels
    ("fromEndpoints: [{}]", entity("world"), DENIED_IN),
    ("fromEndpoints: [{}]", entity("remote-node"), DENIED_IN),
    ("fromEndpoints: [{matchLabels: {'reserved:remote-node': ''}}]", entity("remote-node"),
     ALLOWED),
    ("fromEndpoints: [{matchLabels: {'reserved:remote-node': ''}}]", pod(app="x"), DENIED_IN),
    ("fromEndpoints: [{matchExpressions: [{key: 'k8s:app', operator: In, values: [client]}]}]",
     pod(app="client"), ALLOWED),
    ("fromEndpoints: [{matchLabels: {'any:io.kubernetes.pod.namespace': other}}]",
     pod("other", app="c"), ALLOWED),
    # naming a namespace label lifts the confinement too
    ("fromEndpoints: [{matchLabels: {'k8s:io.cilium.k8s.namespace.labels."
     "kubernetes.io/metadata.name': other}}]", pod("other", app="c"), ALLOWED),
    ("fromEndpoints: [{matchLabels: {'io.cilium.k8s.namespace.labels."
     "kubernetes.io/metadata.name': other}}]", pod("payments", app="c"), DENIED_IN),
    # entities
    ("fromEntities: [world]", entity("world", "203.0.113.9"), ALLOWED),
    ("fromEntities: [world]", pod(app="client"), DENIED_IN),
    ("fromEntities: [cluster]", pod("other", app="client"), ALLOWED),
    ("fromEntities: [cluster]", entity("remote-node"), ALLOWED),
    ("fromEntities: [cluster]", entity("world"), DENIED_IN),
    ("fromEntities: [all]", entity("world"), ALLOWED),
    ("fromEntities: [remote-node]", entity("remote-node"), ALLOWED),
    ("fromEntities: [remote-node]", entity("kube-apiserver"), DENIED_IN),
    ("fromEntities: [kube-apiserver]", entity("kube-apiserver"), ALLOWED),
    ("fromEntities: [none]", pod(app="client"), DENIED_IN),
    # CIDRs match world peers by address, with `except`
    ("fromCIDR: [203.0.113.0/24]", entity("world", "203.0.113.9"), ALLOWED),
    ("fromCIDR: [203.0.113.0/24]", entity("world", "198.51.100.1"), DENIED_IN),
    ("fromCIDRSet: [{cidr: 203.0.113.0/24, except: [203.0.113.8/29]}]",
     entity("world", "203.0.113.9"), DENIED_IN),
    ("fromCIDRSet: [{cidr: 203.0.113.0/24, except: [203.0.113.8/29]}]",
     entity("world", "203.0.113.200"), ALLOWED),
    ("fromCIDR: [0.0.0.0/0]", entity("world"), ALLOWED),
    ("fromCIDR: [0.0.0.0/0]", pod(app="client"), DENIED_IN),
    # an L4-only rule (no peer) allows every peer on its ports
    ("toPorts: [{ports: [{port: '8080', protocol: TCP}]}]", entity("world"), ALLOWED),
    # an empty rule matches nothing but still switches default deny on
    ("{}", pod(app="client"), DENIED_IN),
])
def test_ingress_peer_selection(rule: str, source: Peer, expected: Outcome) -> None:
    assert verdict(policies(ingress(rule)), probe(source, SERVER)) == expected


PORTS = ingress("""toPorts:
    - ports:
      - {port: '8080', protocol: TCP}
      - {port: '9000', endPort: 9010, protocol: UDP}
      - {port: '7000'}
      - {port: '6000', protocol: ANY}""")


@pytest.mark.parametrize(("port", "protocol", "expected"), [
    (8080, "TCP", ALLOWED),
    (8080, "UDP", DENIED_IN),
    (8081, "TCP", DENIED_IN),
    (9000, "UDP", ALLOWED),
    (9005, "UDP", ALLOWED),
    (9010, "UDP", ALLOWED),
    (9011, "UDP", DENIED_IN),
    (9005, "TCP", DENIED_IN),
    (7000, "TCP", ALLOWED),  # protocol omitted = ANY
    (7000, "UDP", ALLOWED),
    (6000, "UDP", ALLOWED),
])
def test_ports_ranges_and_protocols(port: int, protocol: str, expected: Outcome) -> None:
    assert verdict(policies(PORTS), probe(pod(), SERVER, port, protocol)) == expected


def test_port_zero_means_every_port() -> None:
    ps = policies(ingress("toPorts: [{ports: [{port: '0', protocol: TCP}]}]"))
    assert verdict(ps, probe(pod(), SERVER, 31337)) == ALLOWED
    assert verdict(ps, probe(pod(), SERVER, 31337, "UDP")) == DENIED_IN


def test_unselected_endpoint_is_not_enforced() -> None:
    ps = policies(ingress("fromEndpoints: [{matchLabels: {app: client}}]"))
    other = pod(app="not-the-server")
    e = run(ps, probe(pod(app="anyone"), other))
    assert (e.verdict, e.hubble.verdict, e.hubble.type) == ("allowed", "FORWARDED", "L3_L4")
    assert "not enforced" in e.explanation


def test_policy_in_another_namespace_does_not_select() -> None:
    ps = policies(ingress("fromEndpoints: [{matchLabels: {app: client}}]"))
    assert verdict(ps, probe(pod(app="x"), pod("other", app="server"))) == ALLOWED


def test_default_deny_explanation_names_the_policy() -> None:
    ps = policies(ingress("fromEndpoints: [{matchLabels: {app: client}}]"))
    e = run(ps, probe(pod(app="intruder"), SERVER))
    assert "no rule matched: default deny" in e.explanation
    assert "CiliumNetworkPolicy payments/p" in e.explanation
    assert e.client == "timeout"
    assert (e.hubble.verdict, e.hubble.type, e.hubble.drop_reason_desc,
            e.hubble.traffic_direction) == ("DROPPED", "L3_L4", "POLICY_DENIED", "INGRESS")


def test_allow_explanation_names_policy_rule_and_peer() -> None:
    ps = policies(ingress("fromEndpoints: [{matchLabels: {app: client}}]"))
    e = run(ps, probe(pod(app="client"), SERVER))
    assert "CiliumNetworkPolicy payments/p spec.ingress[0]" in e.explanation
    assert "fromEndpoints[0] {app=client}" in e.explanation


EGRESS = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: e, namespace: payments}
spec:
  endpointSelector: {matchLabels: {app: client}}
  egress:
  - toEndpoints: [{matchLabels: {app: server}}]
    toPorts: [{ports: [{port: '8080', protocol: TCP}]}]
  - toEntities: [kube-apiserver]
"""


@pytest.mark.parametrize(("destination", "port", "expected"), [
    (SERVER, 8080, ALLOWED),
    (SERVER, 9090, DENIED_EG),
    (pod(app="db"), 8080, DENIED_EG),
    (entity("kube-apiserver"), 6443, ALLOWED),
    (entity("world", "198.51.100.7"), 443, DENIED_EG),
    (entity("host"), 10250, DENIED_EG),
])
def test_egress_default_deny(destination: Peer, port: int, expected: Outcome) -> None:
    assert verdict(policies(EGRESS), probe(pod(app="client"), destination, port)) == expected


def test_both_sides_must_allow() -> None:
    both = EGRESS + "---\n" + ingress("fromEndpoints: [{matchLabels: {app: other}}]")
    e = run(policies(both), probe(pod(app="client"), SERVER))
    assert (e.verdict, e.direction) == ("dropped", "ingress")
    assert "egress of pod payments/{app=client}: allowed by" in e.explanation


def test_host_reaches_local_pods_despite_default_deny() -> None:
    ps = policies(ingress("fromEndpoints: [{matchLabels: {app: client}}]"))
    e = run(ps, probe(entity("host"), SERVER))
    assert e.verdict == "allowed"
    assert "local host" in e.explanation
    assert verdict(ps, probe(entity("remote-node"), SERVER)) == DENIED_IN


def test_explicit_deny_still_applies_to_the_local_host() -> None:
    ps = policies(ingress("fromEntities: [all]") + "  ingressDeny: [{fromEntities: [host]}]\n")
    assert verdict(ps, probe(entity("host"), SERVER)) == DENY_IN


CCNP = """
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: cw}
spec:
  endpointSelector: {matchLabels: {app: server}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: client}}]
"""


def test_clusterwide_policy_selects_and_allows_across_namespaces() -> None:
    ps = policies(CCNP)
    assert verdict(ps, probe(pod("a", app="client"), pod("b", app="server"))) == ALLOWED
    assert verdict(ps, probe(pod("a", app="x"), pod("b", app="server"))) == DENIED_IN
    assert verdict(ps, probe(pod("a", app="x"), pod("b", app="not-server"))) == ALLOWED


def test_clusterwide_empty_selector_also_selects_kube_dns() -> None:
    ps = policies("""
        apiVersion: cilium.io/v2
        kind: CiliumClusterwideNetworkPolicy
        metadata: {name: deny-all}
        spec:
          endpointSelector: {}
          ingress: [{fromEntities: [host]}]
        """)
    e = run(ps, probe(pod(app="c"), KUBE_DNS, 53, "UDP", dns="example.com"))
    assert (e.verdict, e.direction) == ("dropped", "ingress")


DENY = ingress("fromEntities: [all]") + """  ingressDeny:
  - fromEndpoints: [{matchLabels: {app: bad}}]
    toPorts: [{ports: [{port: '8080', protocol: TCP}]}]
"""


@pytest.mark.parametrize(("source", "port", "expected"), [
    (pod(app="bad"), 8080, DENY_IN),
    (pod(app="bad"), 9090, ALLOWED),
    (pod(app="good"), 8080, ALLOWED),
])
def test_deny_wins_over_allow(source: Peer, port: int, expected: Outcome) -> None:
    assert verdict(policies(DENY), probe(source, SERVER, port)) == expected


def test_deny_evidence_and_explanation() -> None:
    e = run(policies(DENY), probe(pod(app="bad"), SERVER))
    assert e.hubble.drop_reason_desc == "POLICY_DENY"
    assert "denied by CiliumNetworkPolicy payments/p spec.ingressDeny[0]" in e.explanation


def test_deny_only_policy_switches_default_deny_on() -> None:
    ps = policies("""
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata: {name: d, namespace: payments}
        spec:
          endpointSelector: {matchLabels: {app: client}}
          egressDeny: [{toEntities: [world]}]
        """)
    assert verdict(ps, probe(pod(app="client"), entity("world"), 443)) == DENY_EG
    assert verdict(ps, probe(pod(app="client"), SERVER)) == DENIED_EG


def test_deny_in_a_non_default_deny_policy_still_denies() -> None:
    ps = policies("""
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata: {name: d, namespace: payments}
        spec:
          endpointSelector: {matchLabels: {app: client}}
          enableDefaultDeny: {egress: false}
          egressDeny: [{toEntities: [world]}]
        """)
    assert verdict(ps, probe(pod(app="client"), entity("world"), 443)) == DENY_EG
    assert verdict(ps, probe(pod(app="client"), SERVER)) == ALLOWED


@pytest.mark.parametrize(("flag", "expected"), [("false", ALLOWED), ("true", DENIED_IN)])
def test_enable_default_deny(flag: str, expected: Outcome) -> None:
    ps = policies(ingress("fromEndpoints: [{matchLabels: {app: client}}]")
                  + f"  enableDefaultDeny: {{ingress: {flag}}}\n")
    assert verdict(ps, probe(pod(app="other"), SERVER)) == expected
    assert verdict(ps, probe(pod(app="client"), SERVER)) == ALLOWED
    if flag == "false":
        assert "enableDefaultDeny" in run(ps, probe(pod(app="other"), SERVER)).explanation


def test_default_deny_from_any_policy_wins_over_one_that_disables_it() -> None:
    ps = policies(ingress("fromEndpoints: [{matchLabels: {app: client}}]")
                  + "  enableDefaultDeny: {ingress: false}\n---\n"
                  + CCNP.replace("app: client", "app: nobody"))
    assert verdict(ps, probe(pod(app="other"), SERVER)) == DENIED_IN
    assert verdict(ps, probe(pod(app="client"), SERVER)) == ALLOWED


def test_empty_ingress_list_does_not_switch_default_deny_on() -> None:
    ps = policies("""
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata: {name: n, namespace: payments}
        spec:
          endpointSelector: {}
          ingress: []
          egress: [{toEntities: [all]}]
        """)
    assert verdict(ps, probe(pod(app="x"), SERVER)) == ALLOWED


def test_empty_peer_list_selects_nothing_while_an_absent_one_selects_all() -> None:
    empty = policies(ingress("{fromEndpoints: [], toPorts: [{ports: [{port: '8080', "
                             "protocol: TCP}]}]}"))
    assert verdict(empty, probe(pod(app="x"), SERVER)) == DENIED_IN
    absent = policies(ingress("{toPorts: [{ports: [{port: '8080', protocol: TCP}]}]}"))
    assert verdict(absent, probe(pod(app="x"), SERVER)) == ALLOWED


def test_icmp_only_rule_does_not_allow_tcp() -> None:
    ps = policies(ingress("{fromEntities: [all], icmps: [{fields: [{type: 8}]}]}"))
    assert verdict(ps, probe(pod(app="x"), SERVER)) == DENIED_IN


def test_specs_list_holds_several_rules() -> None:
    ps = policies("""
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata: {name: multi, namespace: payments}
        specs:
        - endpointSelector: {matchLabels: {app: server}}
          ingress: [{fromEndpoints: [{matchLabels: {app: a}}]}]
        - endpointSelector: {matchLabels: {app: server}}
          ingress: [{fromEndpoints: [{matchLabels: {app: b}}]}]
        """)
    assert verdict(ps, probe(pod(app="b"), SERVER)) == ALLOWED
    assert "specs[1].ingress[0]" in run(ps, probe(pod(app="b"), SERVER)).explanation
    assert verdict(ps, probe(pod(app="c"), SERVER)) == DENIED_IN


KNP = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: np, namespace: payments}}
spec:
{spec}
"""


@pytest.mark.parametrize(("spec", "source", "port", "expected"), [
    ("  podSelector: {matchLabels: {app: server}}\n  ingress:\n"
     "  - from: [{podSelector: {matchLabels: {app: client}}}]\n"
     "    ports: [{port: 8080}]", pod(app="client"), 8080, ALLOWED),
    ("  podSelector: {matchLabels: {app: server}}\n  ingress:\n"
     "  - from: [{podSelector: {matchLabels: {app: client}}}]\n"
     "    ports: [{port: 8080}]", pod(app="client"), 9090, DENIED_IN),
    ("  podSelector: {matchLabels: {app: server}}\n  ingress:\n"
     "  - from: [{podSelector: {matchLabels: {app: client}}}]",
     pod("other", app="client"), 8080, DENIED_IN),
    # namespaceSelector matches the automatic kubernetes.io/metadata.name label
    ("  podSelector: {}\n  ingress:\n  - from: [{namespaceSelector: {matchLabels: "
     "{kubernetes.io/metadata.name: other}}}]", pod("other", app="x"), 8080, ALLOWED),
    ("  podSelector: {}\n  ingress:\n  - from: [{namespaceSelector: {}}]",
     pod("anywhere", app="x"), 8080, ALLOWED),
    ("  podSelector: {}\n  ingress:\n  - from: [{namespaceSelector: {}}]",
     entity("world"), 8080, DENIED_IN),
    # an empty NetworkPolicy rule allows everything (unlike a Cilium `{}` rule)
    ("  podSelector: {}\n  ingress:\n  - {}", entity("world"), 8080, ALLOWED),
    ("  podSelector: {}\n  policyTypes: [Ingress]", pod(app="x"), 8080, DENIED_IN),
    ("  podSelector: {}\n  ingress:\n  - from: [{ipBlock: {cidr: 198.51.100.0/24}}]",
     entity("world", "198.51.100.4"), 8080, ALLOWED),
    ("  podSelector: {}\n  ingress:\n  - ports: [{port: 8080, protocol: UDP}]",
     pod(app="x"), 8080, DENIED_IN),
])
def test_network_policy_v1(spec: str, source: Peer, port: int,
                           expected: Outcome) -> None:
    assert verdict(policies(KNP.format(spec=spec)), probe(source, SERVER, port)) == expected


def test_network_policy_egress_only_leaves_ingress_open() -> None:
    ps = policies(KNP.format(spec="  podSelector: {}\n  policyTypes: [Egress]"))
    assert verdict(ps, probe(pod(app="x"), SERVER)) == DENIED_EG
    assert verdict(ps, probe(entity("world"), SERVER)) == ALLOWED


def test_network_policy_combines_with_cilium_policy() -> None:
    ps = policies(KNP.format(spec="  podSelector: {}\n  ingress:\n  - from: [{podSelector: "
                                  "{matchLabels: {app: a}}}]")
                  + "---\n" + ingress("fromEndpoints: [{matchLabels: {app: b}}]"))
    assert verdict(ps, probe(pod(app="a"), SERVER)) == ALLOWED
    assert verdict(ps, probe(pod(app="b"), SERVER)) == ALLOWED
    assert verdict(ps, probe(pod(app="c"), SERVER)) == DENIED_IN


def test_list_kind_is_expanded() -> None:
    ps = policies("""
        apiVersion: v1
        kind: List
        items:
        - apiVersion: cilium.io/v2
          kind: CiliumNetworkPolicy
          metadata: {name: l, namespace: payments}
          spec:
            endpointSelector: {}
            ingress: [{fromEndpoints: [{matchLabels: {app: a}}]}]
        """)
    assert len(ps) == 1
    assert verdict(ps, probe(pod(app="b"), SERVER)) == DENIED_IN


def test_clusterwide_empty_peer_selector_means_every_pod_but_no_entity() -> None:
    ps = policies(CCNP.replace("fromEndpoints: [{matchLabels: {app: client}}]",
                               "fromEndpoints: [{}]"))
    assert verdict(ps, probe(pod("anywhere", app="x"), pod("b", app="server"))) == ALLOWED
    assert verdict(ps, probe(entity("world"), pod("b", app="server"))) == DENIED_IN


def test_endpoint_selector_always_applies_in_the_policy_namespace() -> None:
    ps = policies("""
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata: {name: illegal, namespace: payments}
        spec:
          endpointSelector: {matchLabels: {'k8s:io.kubernetes.pod.namespace': other,
                                           app: server}}
          ingress: [{fromEndpoints: [{matchLabels: {app: client}}]}]
        """)
    assert verdict(ps, probe(pod(app="x"), SERVER)) == DENIED_IN
    assert verdict(ps, probe(pod("other", app="x"), pod("other", app="server"))) == ALLOWED
