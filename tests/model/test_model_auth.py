"""Mutual authentication modes on allow rules."""

from __future__ import annotations

import pytest
from model_support import ALLOWED, pod, policies, probe, run, verdict

SERVER = pod(app="account-service")
CLIENT = pod(app="payment-processor")


def auth_policy(mode: str, side: str = "ingress") -> str:
    peer = ("fromEndpoints: [{matchLabels: {app: payment-processor}}]" if side == "ingress"
            else "toEndpoints: [{matchLabels: {app: account-service}}]")
    selected = "account-service" if side == "ingress" else "payment-processor"
    return f"""
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {{name: mtls, namespace: payments}}
spec:
  endpointSelector: {{matchLabels: {{app: {selected}}}}}
  {side}:
  - {peer}
    authentication: {{mode: {mode}}}
    toPorts: [{{ports: [{{port: '8080', protocol: TCP}}]}}]
"""


def test_required_is_allowed_and_warns_about_first_packets() -> None:
    e = run(policies(auth_policy("required")), probe(CLIENT, SERVER))
    assert e.verdict == "allowed"
    assert "first packets" in e.explanation and "AUTH_REQUIRED" in e.explanation


@pytest.mark.parametrize("side", ["ingress", "egress"])
def test_always_fail_drops_with_auth_required(side: str) -> None:
    e = run(policies(auth_policy("test-always-fail", side)), probe(CLIENT, SERVER))
    assert (e.verdict, e.drop_reason, e.direction, e.client) == (
        "dropped", "AUTH_REQUIRED", side, "timeout")
    assert (e.hubble.verdict, e.hubble.type, e.hubble.drop_reason_desc) == (
        "DROPPED", "L3_L4", "AUTH_REQUIRED")
    assert "test-always-fail" in e.explanation


def test_disabled_is_plain_allow() -> None:
    e = run(policies(auth_policy("disabled")), probe(CLIENT, SERVER))
    assert e.verdict == "allowed" and "AUTH_REQUIRED" not in e.explanation


def test_auth_only_applies_to_the_matching_peer_and_port() -> None:
    ps = policies(auth_policy("test-always-fail"))
    assert verdict(ps, probe(CLIENT, SERVER, 9090)) == ("dropped", "POLICY_DENIED", "ingress")
    assert verdict(ps, probe(pod(app="x"), SERVER)) == ("dropped", "POLICY_DENIED", "ingress")


def test_auth_failure_comes_before_l7() -> None:
    text = auth_policy("test-always-fail").replace(
        "protocol: TCP}]}]", "protocol: TCP}], rules: {http: [{method: GET}]}}]")
    e = run(policies(text), probe(CLIENT, SERVER, http=("GET", "/")))
    assert (e.verdict, e.drop_reason) == ("dropped", "AUTH_REQUIRED")


def test_required_with_another_plain_rule_is_still_allowed() -> None:
    ps = policies(auth_policy("required") + "---\n" + auth_policy("disabled").replace(
        "name: mtls", "name: plain"))
    assert verdict(ps, probe(CLIENT, SERVER)) == ALLOWED


def test_required_without_mutual_auth_in_the_cluster_drops() -> None:
    from conformance.model import evaluate

    e = evaluate(policies(auth_policy("required")), probe(CLIENT, SERVER), mutual_auth=False)
    assert (e.verdict, e.drop_reason, e.direction) == ("dropped", "AUTH_REQUIRED", "ingress")
    assert "not enabled" in e.explanation
    plain = evaluate(policies(auth_policy("disabled")), probe(CLIENT, SERVER), mutual_auth=False)
    assert plain.verdict == "allowed"
