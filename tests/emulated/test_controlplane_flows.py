"""The emulated control plane's evidence has the real shapes: `hubble observe -o jsonpb`
entries (what the relay turns into GetFlowsResponses) and Prometheus text whose counters
move as REFERENCE's evidence table says (ported from the retired SimulatedCluster's tests).

Checked against the format rules directly (json + prometheus_client's parser), not with
the suite's own parsers, so a shape mistake cannot hide behind a shared misreading.
"""

from __future__ import annotations

import json
import re
from typing import Any

from google.protobuf import json_format
from prometheus_client.parser import text_string_to_metric_families

from clusters.emulated.metrics import AGENT_PORT, HUBBLE_PORT
from clusters.emulated.world import NODES, WORKER_NODES
from conformance.harness.cluster import AUDIT_LOGGER, PAYMENT_PROCESSOR
from conformance.harness.hubble_api import observer_pb2
from tests.emulated.support import (
    DENY_EGRESS,
    L7_POLICY,
    NS,
    Counters,
    Emulated,
    auth_policy,
    counters,
    fqdn_policy,
    total,
)

STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z")
PROTO_CASE_KEYS = {"IP", "Type", "Summary", "TCP", "UDP", "ID", "SYN", "ACK", "RST"}
SNAKE = re.compile(r"[a-z][a-z0-9_]*")
# Proto field names that are camelCase in flow.proto itself.
CAMEL_PROTO_FIELDS = {"ipVersion"}
EVERYTHING_DUE_S = 60  # every retransmit and reply of a 5 s probe has happened


def observe(em: Emulated, src: str, probe: dict[str, Any]
            ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The probe's result and the relay entries it produced, once all are due."""
    em.mark()
    result = em.plane.run_probes(NS, em.pod(src).name,
                                 [{"id": "probe-1", "timeout": 5.0, **probe}])[0]
    em.clock.advance(EVERYTHING_DUE_S)
    return result, em.plane.flows.read(em.cursor, 0.0)[1]


def flows_of(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["flow"] for e in entries]


def http(em: Emulated, src: str, method: str, path: str
         ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return observe(em, src, {"kind": "http", "method": method,
                             "url": f"http://{em.account.ip}:8080{path}"})


def delta(before: Counters, after: Counters, name: str, **labels: str) -> float:
    return total(after, name, **labels) - total(before, name, **labels)


def check_keys(value: Any, where: str) -> None:
    """Proto names, no zero values (protojson omits them), 64-bit ints as strings."""
    if isinstance(value, dict):
        assert value, f"{where}: empty object printed"
        for key, item in value.items():
            assert key in PROTO_CASE_KEYS or key in CAMEL_PROTO_FIELDS or SNAKE.fullmatch(key), \
                f"{where}.{key}: not a proto field name"
            if key != "is_reply":
                assert item not in (0, "", [], {}, False, None), f"{where}.{key}: zero value"
            if key.endswith("_ns"):
                assert isinstance(item, str), f"{where}.{key}: uint64 must print as a string"
            check_keys(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_keys(item, f"{where}[{i}]")


def test_every_entry_is_a_jsonpb_get_flows_response() -> None:
    w, fq = Emulated(), Emulated()
    w.apply(L7_POLICY)
    fq.apply(fqdn_policy([{"matchPattern": "*.stripe.com"}]))
    url = f"http://{w.account.ip}:8080/api/v1/accounts"
    entries: list[dict[str, Any]] = []
    probes: list[tuple[Emulated, dict[str, Any]]] = [
        (w, {"kind": "http", "url": url}),
        (w, {"kind": "http", "method": "DELETE", "url": f"{url}/1"}),
        (w, {"kind": "tcp", "host": w.account.ip, "port": 9090}),
        (fq, {"kind": "dns", "name": "api.pastebin.com"}),
        (fq, {"kind": "http", "url": "http://api.stripe.com/healthz"}),
        (fq, {"kind": "http", "url": "http://api.github.com/healthz"}),
    ]
    for em, probe in probes:
        entries += observe(em, PAYMENT_PROCESSOR, probe)[1]
    assert len(entries) > 20
    for obj in entries:
        # One line of `hubble observe -o jsonpb`, and a GetFlowsResponse by flow.proto.
        assert "\n" not in json.dumps(obj)
        json_format.ParseDict(obj, observer_pb2.GetFlowsResponse())
        assert set(obj) == {"flow", "node_name", "time"}
        flow = obj["flow"]
        assert obj["node_name"] == flow["node_name"] in WORKER_NODES
        assert obj["time"] == flow["time"] and STAMP.fullmatch(flow["time"])
        assert flow["verdict"] in ("FORWARDED", "DROPPED")
        assert flow["Type"] in ("L3_L4", "L7")
        assert flow["traffic_direction"] in ("INGRESS", "EGRESS")
        assert flow["IP"]["ipVersion"] == "IPv4"
        assert set(flow["l4"]) <= {"TCP", "UDP"} and len(flow["l4"]) == 1
        if flow["verdict"] == "DROPPED" and flow["Type"] == "L3_L4":
            assert "is_reply" not in flow
        else:
            assert isinstance(flow["is_reply"], bool)
        check_keys(flow, "flow")


def test_l3l4_drop_is_dropped_syns_with_the_reason_on_the_deciding_side() -> None:
    w = Emulated()
    w.apply(L7_POLICY)
    result, entries = observe(w, PAYMENT_PROCESSOR, {"kind": "tcp", "host": w.account.ip,
                                                     "port": 9090})
    local_port = int(result["local"].rpartition(":")[2])
    drops = [f for f in flows_of(entries) if f["verdict"] == "DROPPED"]
    assert len(drops) == 3  # SYN at 0, 1 and 3 s within the 5 s timeout
    for f in drops:
        assert f["drop_reason_desc"] == "POLICY_DENIED" and f["drop_reason"] == 133
        assert f["event_type"] == {"type": 1, "sub_type": 133}
        assert f["Type"] == "L3_L4" and f["traffic_direction"] == "INGRESS"
        assert f["node_name"] == w.account.node
        assert f["l4"]["TCP"] == {"source_port": local_port, "destination_port": 9090,
                                  "flags": {"SYN": True}}
        assert f["destination"]["pod_name"] == w.account.name
        assert f["destination"]["namespace"] == NS
        assert "k8s:app=account-service" in f["destination"]["labels"]
    times = [f["time"] for f in drops]
    assert times == sorted(times) and len(set(times)) == 3


def test_l7_deny_is_a_dropped_request_without_reason_and_a_403_response() -> None:
    w = Emulated()
    w.apply(L7_POLICY)
    _, entries = http(w, PAYMENT_PROCESSOR, "DELETE", "/api/v1/accounts/1")
    seen = flows_of(entries)
    l7 = [f for f in seen if f["Type"] == "L7"]
    request = next(f for f in l7 if f["l7"]["type"] == "REQUEST")
    response = next(f for f in l7 if f["l7"]["type"] == "RESPONSE")
    assert request["verdict"] == "DROPPED" and "drop_reason_desc" not in request
    assert "code" not in request["l7"]["http"]
    assert request["l7"]["http"]["method"] == "DELETE"
    assert request["l7"]["http"]["url"] == f"http://{w.account.ip}:8080/api/v1/accounts/1"
    assert {"key": "X-Probe-Id", "value": "probe-1"} in request["l7"]["http"]["headers"]
    assert response["verdict"] == "FORWARDED" and response["l7"]["http"]["code"] == 403
    assert response["is_reply"] is True
    assert response["IP"]["source"] == request["IP"]["destination"]
    assert not [f for f in seen if f["verdict"] == "DROPPED" and f["Type"] == "L3_L4"]


def test_allowed_request_has_only_forwarded_flows() -> None:
    w = Emulated()
    w.apply(L7_POLICY)
    _, entries = http(w, PAYMENT_PROCESSOR, "GET", "/api/v1/accounts")
    seen = flows_of(entries)
    assert seen and all(f["verdict"] == "FORWARDED" for f in seen)
    codes = [f["l7"]["http"]["code"] for f in seen if f.get("l7", {}).get("type") == "RESPONSE"]
    assert codes == [200]
    assert any(f.get("is_reply") and f["l4"]["TCP"]["flags"] == {"SYN": True, "ACK": True}
               for f in seen)


def test_dns_refusal_is_a_dropped_l7_dns_flow() -> None:
    w = Emulated()
    w.apply(fqdn_policy([{"matchName": "api.stripe.com"}]))
    _, entries = observe(w, PAYMENT_PROCESSOR, {"kind": "dns", "name": "api.pastebin.com"})
    dns = [f for f in flows_of(entries) if "dns" in f.get("l7", {})]
    assert len(dns) == 1
    assert dns[0]["verdict"] == "DROPPED" and dns[0]["Type"] == "L7"
    assert dns[0]["l7"]["dns"]["query"] == "api.pastebin.com."
    assert dns[0]["l4"]["UDP"]["destination_port"] == 53
    assert "drop_reason_desc" not in dns[0]


def test_dns_over_tcp_dropped_at_l3_shows_syn_drops() -> None:
    w = Emulated()
    w.apply(DENY_EGRESS)
    result, entries = observe(w, PAYMENT_PROCESSOR, {"kind": "dns", "name": "api.stripe.com",
                                                     "transport": "tcp"})
    assert result["outcome"] == "dns-timeout"
    drops = [f for f in flows_of(entries) if f["verdict"] == "DROPPED"]
    assert drops and all(f["l4"]["TCP"]["destination_port"] == 53 for f in drops)
    assert all(f["l4"]["TCP"]["flags"] == {"SYN": True} for f in drops)
    assert {f["traffic_direction"] for f in drops} == {"EGRESS"}


def test_allowed_lookup_shows_query_and_answer_through_the_proxy() -> None:
    w = Emulated()
    w.apply(fqdn_policy([{"matchPattern": "*"}]))
    _, entries = observe(w, PAYMENT_PROCESSOR, {"kind": "dns", "name": "api.stripe.com"})
    answers = [f for f in flows_of(entries) if f.get("l7", {}).get("type") == "RESPONSE"]
    assert [a["l7"]["dns"]["ips"] for a in answers] == [["203.0.113.10"]]


def test_auth_required_first_syn_dropped_then_forwarded_and_always_fail_dropped() -> None:
    w = Emulated()
    w.apply(auth_policy())
    seen = flows_of(http(w, PAYMENT_PROCESSOR, "GET", "/healthz")[1])
    assert seen[0]["verdict"] == "DROPPED" and seen[0]["drop_reason_desc"] == "AUTH_REQUIRED"
    assert seen[0]["auth_type"] == "SPIRE"
    assert all(f["verdict"] == "FORWARDED" for f in seen[1:])
    again = flows_of(http(w, PAYMENT_PROCESSOR, "GET", "/healthz")[1])
    assert all(f["verdict"] == "FORWARDED" for f in again)
    drops = [f for f in flows_of(http(w, AUDIT_LOGGER, "GET", "/healthz")[1])
             if f["verdict"] == "DROPPED"]
    assert drops and {f["drop_reason_desc"] for f in drops} == {"AUTH_REQUIRED"}
    assert {f["auth_type"] for f in drops} == {"TEST_ALWAYS_FAIL"}


def test_metrics_move_as_the_evidence_table_says() -> None:
    w = Emulated()
    w.apply(L7_POLICY)
    ns = {"source_namespace": NS, "destination_namespace": NS}

    before = counters(w.plane)
    observe(w, PAYMENT_PROCESSOR, {"kind": "tcp", "host": w.account.ip, "port": 9090})
    after = counters(w.plane)
    assert delta(before, after, "hubble_drop_total", reason="POLICY_DENIED", protocol="TCP",
                 **ns) == 3
    assert delta(before, after, "cilium_drop_count_total", reason="Policy denied",
                 direction="INGRESS") == 3

    before = after
    http(w, PAYMENT_PROCESSOR, "DELETE", "/api/v1/accounts/1")
    after = counters(w.plane)
    assert delta(before, after, "hubble_drop_total", reason="DROP_REASON_UNKNOWN",
                 protocol="HTTP", **ns) == 1
    assert delta(before, after, "cilium_policy_l7_total", rule="denied",
                 proxy_type="envoy") == 1
    assert delta(before, after, "cilium_drop_count_total") == 0
    assert delta(before, after, "hubble_http_requests_total", method="DELETE", status="403",
                 reporter="server") == 1

    w.apply(fqdn_policy([{"matchName": "api.stripe.com"}]))
    before = counters(w.plane)
    observe(w, PAYMENT_PROCESSOR, {"kind": "dns", "name": "api.pastebin.com"})
    after = counters(w.plane)
    assert delta(before, after, "cilium_policy_l7_total", rule="denied", proxy_type="fqdn") == 1
    assert delta(before, after, "hubble_drop_total", reason="DROP_REASON_UNKNOWN",
                 protocol="DNS", source_namespace=NS) == 1


def test_auth_failure_counts_authentication_required() -> None:
    w = Emulated()
    w.apply(auth_policy())
    before = counters(w.plane)
    http(w, AUDIT_LOGGER, "GET", "/healthz")
    after = counters(w.plane)
    assert delta(before, after, "cilium_drop_count_total",
                 reason="Authentication required") == 3
    assert delta(before, after, "hubble_drop_total", reason="AUTH_REQUIRED") == 3


def test_every_node_serves_both_metrics_ports_and_nothing_else() -> None:
    plane = Emulated().plane
    for node in NODES:
        for port, prefix in ((AGENT_PORT, "cilium_"), (HUBBLE_PORT, "hubble_")):
            text = plane.metrics(node, port)
            assert text is not None, (node, port)
            names = {f.name for f in text_string_to_metric_families(text)}
            assert names and all(n.startswith(prefix) for n in names)
            assert all(line.endswith(" counter") for line in text.splitlines()
                       if line.startswith("# TYPE"))
        assert plane.metrics(node, 9999) is None
    assert (AGENT_PORT, HUBBLE_PORT) == (9962, 9965)
