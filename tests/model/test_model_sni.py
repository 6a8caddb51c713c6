"""serverNames (TLS SNI): the matcher and the engine's decision.

Matcher cases: cilium/proxy's own SNIPatternMatching table (data/upstream/sni-patterns.yaml)
and the examples in the SniPattern comment of `cilium/network_policy.h`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conformance.model import PolicyError, PolicySet, evaluate
from conformance.model.matchers import SniMatch, envoy_accepts_sni_pattern
from conformance.model.probe import Probe

UPSTREAM_TABLE = yaml.safe_load(
    (Path(__file__).parent / "data" / "upstream" / "sni-patterns.yaml").read_text())
TABLE_CASES = [(row["pattern"], name, want) for row in UPSTREAM_TABLE["patterns"]
               for want, key in ((True, "match"), (False, "no_match")) for name in row[key]]


@pytest.mark.parametrize(("pattern", "name", "want"), TABLE_CASES)
def test_sni_pattern_follows_the_proxy_test_table(pattern: str, name: str, want: bool) -> None:
    assert envoy_accepts_sni_pattern(pattern)
    assert SniMatch(pattern).matches(name) is want


@pytest.mark.parametrize("pattern", UPSTREAM_TABLE["invalid"])
def test_patterns_envoy_refuses(pattern: str) -> None:
    assert not envoy_accepts_sni_pattern(pattern)


def test_empty_pattern_matches_nothing() -> None:
    assert not SniMatch("").matches("")
    assert not SniMatch("").matches("example.com")


# The SniPattern comment's examples (cilium/proxy cilium/network_policy.h)
UPSTREAM_SNI_CASES = [
    ("*.cilium.io", "www.cilium.io", True),
    ("*.cilium.io", "blog.cilium.io", True),
    ("*.cilium.io", "cilium.io", False),
    ("*.cilium.io", "foo.bar.cilium.io", False),
    ("*.cilium.io", "kubernetes.io", False),
    ("*cilium.io", "cilium.io", True),
    ("*cilium.io", "sub-cilium.io", True),
    ("*cilium.io", "www.cilium.io", False),
    ("sub*.cilium.io", "sub.cilium.io", True),
    ("sub*.cilium.io", "subdomain.cilium.io", True),
    ("sub*.cilium.io", "blog-sub.cilium.io", False),
    ("sub*.cilium.io", "blog.sub.cilium.io", False),
    ("**.cilium.io", "www.cilium.io", True),
    ("**.cilium.io", "test.app.cilium.io", True),
    ("**.cilium.io", "cilium.io", False),
    ("*", "any.name.at.all", True),
    ("api.Example.com", "API.example.COM", True),  # lower-cased both sides
    ("api.example.com", "api.example.com.evil", False),
]


@pytest.mark.parametrize(("pattern", "name", "want"), UPSTREAM_SNI_CASES)
def test_sni_pattern_matches_like_envoy(pattern: str, name: str, want: bool) -> None:
    assert SniMatch(pattern).matches(name) is want


SRC = {"namespace": "payments", "labels": {"app": "payment-processor"}}
OTHER = {"namespace": "payments", "labels": {"app": "audit-logger"}}
DST = {"namespace": "payments", "labels": {"app": "account-service"}}


def _cnp(*rules: str) -> PolicySet:
    text = ("apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n"
            "metadata: {name: sni, namespace: payments}\nspec:\n"
            "  endpointSelector: {matchLabels: {app: account-service}}\n  ingress:\n"
            + "".join(rules))
    return PolicySet.from_documents([yaml.safe_load(text)])


def _rule(app: str, names: list[str] | None, port: int = 8443) -> str:
    out = (f"  - fromEndpoints: [{{matchLabels: {{app: {app}}}}}]\n    toPorts:\n"
           f"    - ports: [{{port: '{port}', protocol: TCP}}]\n")
    if names is not None:
        out += f"      serverNames: {names}\n"
    return out


def _probe(sni: str | None, src: dict[str, object] = SRC, port: int = 8443) -> Probe:
    data: dict[str, object] = {"id": "p", "source": src, "destination": DST, "port": port}
    if sni is not None:
        data["tls"] = {"sni": sni}
    return Probe.from_dict(data)


def test_allowed_sni_passes_as_l4_flow_without_l7_record() -> None:
    exp = evaluate(_cnp(_rule("payment-processor", ["accounts.payments.example"])),
                   _probe("accounts.payments.example"))
    assert (exp.verdict, exp.client, exp.hubble.type) == ("allowed", "ok", "L3_L4")
    assert "serverNames[0] accounts.payments.example" in exp.explanation


def test_other_sni_is_reset_with_an_l7_drop() -> None:
    exp = evaluate(_cnp(_rule("payment-processor", ["accounts.payments.example"])),
                   _probe("evil.example"))
    assert (exp.verdict, exp.client, exp.direction) == ("l7-denied", "reset", "ingress")
    assert (exp.hubble.verdict, exp.hubble.type, exp.hubble.drop_reason_desc) == (
        "DROPPED", "L7", None)
    assert "SNI evil.example matches no serverNames" in exp.explanation


@pytest.mark.parametrize("probe", [_probe(""), Probe.from_dict(
    {"id": "p", "source": SRC, "destination": DST, "port": 8443, "http": {"path": "/"}})])
def test_no_sni_is_refused(probe: Probe) -> None:
    # PortNetworkPolicyRule::getVerdict: an empty SNI never matches a rule with serverNames
    # (cilium/proxy tests/cilium_network_policy_test.cc, the "TLS SNI update": missing SNI
    # not allowed, "www.example.com" not allowed by "example.com")
    exp = evaluate(_cnp(_rule("payment-processor", ["a.example"])), probe)
    assert (exp.verdict, exp.client) == ("l7-denied", "reset")


def test_a_bare_connect_completes() -> None:
    exp = evaluate(_cnp(_rule("payment-processor", ["a.example"])), _probe(None))
    assert (exp.verdict, exp.client, exp.hubble.type) == ("allowed", "ok", "L3_L4")
    assert "bare connect sends no ClientHello" in exp.explanation


def test_same_selector_merges_names_and_stays_restricted() -> None:
    # l4.go mergePortProto: one selector's serverNames are unioned; a rule without them
    # does not lift the restriction
    ps = _cnp(_rule("payment-processor", ["a.example"]), _rule("payment-processor", None),
              _rule("payment-processor", ["b.example"]))
    assert evaluate(ps, _probe("b.example")).verdict == "allowed"
    assert evaluate(ps, _probe("c.example")).verdict == "l7-denied"


def test_other_selector_without_names_lifts_it() -> None:
    ps = _cnp(_rule("payment-processor", ["a.example"]),
              "  - fromEndpoints: [{}]\n    toPorts:\n"
              "    - ports: [{port: '8443', protocol: TCP}]\n")
    exp = evaluate(ps, _probe("c.example"))
    assert exp.verdict == "allowed"
    assert "accepts any SNI" in exp.explanation


def test_peer_without_a_matching_rule_is_an_l3_l4_drop() -> None:
    exp = evaluate(_cnp(_rule("payment-processor", ["a.example"])), _probe("a.example", OTHER))
    assert (exp.verdict, exp.drop_reason) == ("dropped", "POLICY_DENIED")


def test_server_names_with_http_rules_need_terminating_tls() -> None:
    rule = _rule("payment-processor", ["a.example"]) + "      rules: {http: [{method: GET}]}\n"
    with pytest.raises(PolicyError, match="serverNames"):
        _cnp(rule)


def test_tls_probe_field_is_parsed_and_exclusive() -> None:
    assert _probe("x.example").tls is not None
    with pytest.raises(ValueError, match="at most one of"):
        Probe.from_dict({"id": "p", "source": SRC, "destination": DST, "port": 1,
                         "tls": {"sni": "a"}, "http": {}})

