"""TLS SNI in the emulated cluster: decided by the model, answered like Envoy's cilium.network
filter (reset after the ClientHello, one DROPPED L7 request record, nothing at the app),
passed through when allowed (no L7 record, the app logs the handshake and the request),
and let through by the `l7-off` fault."""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format

from conformance.harness.cluster import ACCOUNT_SERVICE, AUDIT_LOGGER, PAYMENT_PROCESSOR, TLS_PORT
from conformance.harness.hubble_api import observer_pb2
from tests.emulated.support import NS, Emulated, cnp, counters, total

EVERYTHING_DUE_S = 60
SNI_POLICY = cnp("account-service-sni", {
    "endpointSelector": {"matchLabels": {"app": ACCOUNT_SERVICE}},
    "ingress": [{"fromEndpoints": [{"matchLabels": {"app": PAYMENT_PROCESSOR}}],
                 "toPorts": [{"ports": [{"port": str(TLS_PORT), "protocol": "TCP"}],
                              "serverNames": ["accounts.payments.example"]}]}],
})


def _tls(em: Emulated, src: str, sni: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    em.mark()
    result = em.plane.run_probes(NS, em.pod(src).name, [
        {"id": f"tls-{sni}", "kind": "tls", "target": f"{em.account.ip}:{TLS_PORT}",
         "sni": sni, "timeout": 2.0}])[0]
    em.clock.advance(EVERYTHING_DUE_S)
    return result, em.flows()


def _app_lines(em: Emulated) -> list[dict[str, Any]]:
    return [json.loads(line) for pod in em.accounts
            for line in em.plane.app_log(NS, pod.name).splitlines() if line.startswith("{")]


def test_allowed_sni_reaches_the_app_without_an_l7_record() -> None:
    em = Emulated()
    em.apply(SNI_POLICY)
    result, flows = _tls(em, PAYMENT_PROCESSOR, "accounts.payments.example")
    assert (result["outcome"], result["status"]) == ("ok", 200), result
    assert not [f for f in flows if f["Type"] == "L7" or f["verdict"] == "DROPPED"]
    lines = _app_lines(em)
    assert {"event": "tls-handshake", "sni": "accounts.payments.example"}.items() <= next(
        r for r in lines if r.get("event") == "tls-handshake").items()
    request = next(r for r in lines if r.get("probe_id") == "tls-accounts.payments.example")
    assert request["protocol"] == "https"


def test_refused_sni_is_reset_with_one_dropped_l7_request_and_no_app_log() -> None:
    em = Emulated()
    em.apply(SNI_POLICY)
    before = counters(em.plane)
    result, flows = _tls(em, PAYMENT_PROCESSOR, "evil.example")
    after = counters(em.plane)
    assert (result["outcome"], result["phase"]) == ("reset", "tls"), result
    [l7] = [f for f in flows if f["Type"] == "L7"]
    assert (l7["verdict"], l7["traffic_direction"], l7["l7"]["type"]) == (
        "DROPPED", "INGRESS", "REQUEST")
    # no L7 record: Hubble's bare REQUEST for an access-log entry without an L7 part
    assert "drop_reason_desc" not in l7 and set(l7["l7"]) == {"type"} and l7["Summary"] == ""
    json_format.ParseDict({"flow": l7, "node_name": l7["node_name"], "time": l7["time"]},
                          observer_pb2.GetFlowsResponse())
    assert not [r for r in _app_lines(em) if r.get("event") in ("request", "tls-handshake")
                and r.get("probe_id", "tls-evil.example") == "tls-evil.example"]
    # without a record the flow's protocol label falls back to its L4 (metrics._protocol)
    grew = total(after, "hubble_drop_total", reason="DROP_REASON_UNKNOWN", protocol="TCP") \
        - total(before, "hubble_drop_total", reason="DROP_REASON_UNKNOWN", protocol="TCP")
    assert grew == 1


def test_no_rule_for_the_peer_is_an_l3_l4_drop() -> None:
    em = Emulated()
    em.apply(SNI_POLICY)
    result, flows = _tls(em, AUDIT_LOGGER, "accounts.payments.example")
    assert result["outcome"] == "timeout"
    assert {f.get("drop_reason_desc") for f in flows if f["verdict"] == "DROPPED"} == {
        "POLICY_DENIED"}


def test_l7_off_fault_lets_a_refused_sni_through() -> None:
    em = Emulated(fault="l7-off")
    em.apply(SNI_POLICY)
    result, flows = _tls(em, PAYMENT_PROCESSOR, "evil.example")
    assert result["outcome"] == "ok", result
    assert not [f for f in flows if f["verdict"] == "DROPPED"]


def test_a_plain_http_port_fails_the_handshake() -> None:
    em = Emulated()
    result = em.run(PAYMENT_PROCESSOR, {"kind": "tls", "target": f"{em.account.ip}:8080",
                                        "sni": "a.example"})
    assert (result["outcome"], result["phase"]) == ("error", "tls")


def test_plain_http_to_an_sni_port_is_reset_without_a_403() -> None:
    em = Emulated()
    em.apply(SNI_POLICY)
    em.mark()
    result = em.http(PAYMENT_PROCESSOR, "GET", "/healthz", to=f"{em.account.ip}:{TLS_PORT}")
    em.clock.advance(EVERYTHING_DUE_S)
    assert result["outcome"] == "reset", result
    l7 = [f for f in em.flows() if f["Type"] == "L7"]
    assert [(f["verdict"], f["l7"]["type"]) for f in l7] == [("DROPPED", "REQUEST")]


def test_a_bare_connect_to_an_sni_port_completes() -> None:
    em = Emulated()
    em.apply(SNI_POLICY)
    assert em.tcp(PAYMENT_PROCESSOR, TLS_PORT)["outcome"] == "ok"
