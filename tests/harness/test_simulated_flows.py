"""The simulated cluster's evidence has the real shapes: `hubble observe -o jsonpb` lines
and Prometheus text whose counters move as REFERENCE's evidence table says.

Checked against the format rules directly (json + prometheus_client's parser), not with
the suite's own parsers, so a shape mistake cannot hide behind a shared misreading.
"""

from __future__ import annotations

import json
import re
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from conformance.harness.cluster import ACCOUNT_SERVICE, AUDIT_LOGGER, PAYMENT_PROCESSOR
from conformance.harness.simulated import SimulatedCluster
from tests.harness.test_simulated import L7_POLICY, NS, auth_policy, cnp, fqdn_policy

STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z")
PROTO_CASE_KEYS = {"IP", "Type", "Summary", "TCP", "UDP", "ID", "SYN", "ACK", "RST"}
SNAKE = re.compile(r"[a-z][a-z0-9_]*")
# Proto field names that are camelCase in flow.proto itself.
CAMEL_PROTO_FIELDS = {"ipVersion"}


class World:
    def __init__(self, fault: str | None = None) -> None:
        self.clock_now = 5000.0
        self.cluster = SimulatedCluster(fault=fault, clock=lambda: self.clock_now)
        self.pods = self.cluster.deploy_workloads(NS)
        self.account = next(p for p in self.pods if p.labels["app"] == ACCOUNT_SERVICE)

    def run(self, src: str, probe: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        follower = self.cluster.follow_flows([NS])
        pod = next(p for p in self.pods if p.labels["app"] == src)
        result = self.cluster.run_probes(pod, [{"id": "probe-1", "timeout": 5.0, **probe}])[0]
        self.clock_now += 60  # every retransmit and reply is due
        lines = follower.lines()
        follower.close()
        return result, lines

    def http(self, src: str, method: str, path: str) -> tuple[dict[str, Any], list[str]]:
        return self.run(src, {"kind": "http", "method": method,
                              "url": f"http://{self.account.ip}:8080{path}"})

    def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for scrape in self.cluster.scrape_metrics():
            for family in text_string_to_metric_families(scrape.text):
                for s in family.samples:
                    key = (s.name, frozenset(s.labels.items()))
                    out[key] = out.get(key, 0.0) + s.value
        return out


def delta(before: dict[tuple[str, frozenset[tuple[str, str]]], float],
          after: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
          **labels: str) -> float:
    def pick(values: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> float:
        return sum(v for (n, items), v in values.items()
                   if n == name and set(labels.items()) <= items)
    return pick(after) - pick(before)


def flows(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line)["flow"] for line in lines]


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


def test_every_line_is_a_jsonpb_get_flows_response() -> None:
    w, fq = World(), World()
    w.cluster.apply([L7_POLICY])
    fq.cluster.apply([fqdn_policy([{"matchPattern": "*.stripe.com"}])])
    url = f"http://{w.account.ip}:8080/api/v1/accounts"
    lines: list[str] = []
    for world, probe in [
        (w, {"kind": "http", "url": url}),
        (w, {"kind": "http", "method": "DELETE", "url": f"{url}/1"}),
        (w, {"kind": "tcp", "host": w.account.ip, "port": 9090}),
        (fq, {"kind": "dns", "name": "api.pastebin.com"}),
        (fq, {"kind": "http", "url": "http://api.stripe.com/healthz"}),
        (fq, {"kind": "http", "url": "http://api.github.com/healthz"}),
    ]:
        lines += world.run(PAYMENT_PROCESSOR, probe)[1]
    assert len(lines) > 20
    for line in lines:
        assert "\n" not in line
        obj = json.loads(line)
        assert set(obj) == {"flow", "node_name", "time"}
        flow = obj["flow"]
        assert obj["node_name"] == flow["node_name"] in ("sim-worker", "sim-worker2")
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
    w = World()
    w.cluster.apply([L7_POLICY])
    result, lines = w.run(PAYMENT_PROCESSOR, {"kind": "tcp", "host": w.account.ip,
                                              "port": 9090})
    local_port = int(result["local"].rpartition(":")[2])
    drops = [f for f in flows(lines) if f["verdict"] == "DROPPED"]
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
    w = World()
    w.cluster.apply([L7_POLICY])
    _, lines = w.http(PAYMENT_PROCESSOR, "DELETE", "/api/v1/accounts/1")
    l7 = [f for f in flows(lines) if f["Type"] == "L7"]
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
    assert not [f for f in flows(lines) if f["verdict"] == "DROPPED" and f["Type"] == "L3_L4"]


def test_allowed_request_has_only_forwarded_flows() -> None:
    w = World()
    w.cluster.apply([L7_POLICY])
    _, lines = w.http(PAYMENT_PROCESSOR, "GET", "/api/v1/accounts")
    seen = flows(lines)
    assert seen and all(f["verdict"] == "FORWARDED" for f in seen)
    codes = [f["l7"]["http"]["code"] for f in seen if f.get("l7", {}).get("type") == "RESPONSE"]
    assert codes == [200]
    assert any(f.get("is_reply") and f["l4"]["TCP"]["flags"] == {"SYN": True, "ACK": True}
               for f in seen)


def test_dns_refusal_is_a_dropped_l7_dns_flow() -> None:
    w = World()
    w.cluster.apply([fqdn_policy([{"matchName": "api.stripe.com"}])])
    _, lines = w.run(PAYMENT_PROCESSOR, {"kind": "dns", "name": "api.pastebin.com"})
    dns = [f for f in flows(lines) if "dns" in f.get("l7", {})]
    assert len(dns) == 1
    assert dns[0]["verdict"] == "DROPPED" and dns[0]["Type"] == "L7"
    assert dns[0]["l7"]["dns"]["query"] == "api.pastebin.com."
    assert dns[0]["l4"]["UDP"]["destination_port"] == 53
    assert "drop_reason_desc" not in dns[0]


def test_dns_over_tcp_dropped_at_l3_shows_syn_drops() -> None:
    w = World()
    w.cluster.apply([cnp("deny-egress", {"endpointSelector": {"matchLabels": {
        "app": PAYMENT_PROCESSOR}}, "egress": [{}]})])
    result, lines = w.run(PAYMENT_PROCESSOR, {"kind": "dns", "name": "api.stripe.com",
                                              "transport": "tcp"})
    assert result["outcome"] == "dns-timeout"
    drops = [f for f in flows(lines) if f["verdict"] == "DROPPED"]
    assert drops and all(f["l4"]["TCP"]["destination_port"] == 53 for f in drops)
    assert all(f["l4"]["TCP"]["flags"] == {"SYN": True} for f in drops)
    assert {f["traffic_direction"] for f in drops} == {"EGRESS"}


def test_allowed_lookup_shows_query_and_answer_through_the_proxy() -> None:
    w = World()
    w.cluster.apply([fqdn_policy([{"matchPattern": "*"}])])
    _, lines = w.run(PAYMENT_PROCESSOR, {"kind": "dns", "name": "api.stripe.com"})
    answers = [f for f in flows(lines) if f.get("l7", {}).get("type") == "RESPONSE"]
    assert [a["l7"]["dns"]["ips"] for a in answers] == [["203.0.113.10"]]


def test_auth_required_first_syn_dropped_then_forwarded_and_always_fail_dropped() -> None:
    w = World()
    w.cluster.apply([auth_policy()])
    _, lines = w.http(PAYMENT_PROCESSOR, "GET", "/healthz")
    seen = flows(lines)
    assert seen[0]["verdict"] == "DROPPED" and seen[0]["drop_reason_desc"] == "AUTH_REQUIRED"
    assert seen[0]["auth_type"] == "SPIRE"
    assert all(f["verdict"] == "FORWARDED" for f in seen[1:])
    _, lines = w.http(PAYMENT_PROCESSOR, "GET", "/healthz")
    assert all(f["verdict"] == "FORWARDED" for f in flows(lines))
    _, lines = w.http(AUDIT_LOGGER, "GET", "/healthz")
    drops = [f for f in flows(lines) if f["verdict"] == "DROPPED"]
    assert drops and {f["drop_reason_desc"] for f in drops} == {"AUTH_REQUIRED"}
    assert {f["auth_type"] for f in drops} == {"TEST_ALWAYS_FAIL"}


def test_metrics_move_as_the_evidence_table_says() -> None:
    w = World()
    w.cluster.apply([L7_POLICY])
    ns = {"source_namespace": NS, "destination_namespace": NS}

    before = w.metrics()
    w.run(PAYMENT_PROCESSOR, {"kind": "tcp", "host": w.account.ip, "port": 9090})
    after = w.metrics()
    assert delta(before, after, "hubble_drop_total", reason="POLICY_DENIED", protocol="TCP",
                 **ns) == 3
    assert delta(before, after, "cilium_drop_count_total", reason="Policy denied",
                 direction="INGRESS") == 3

    before = after
    w.http(PAYMENT_PROCESSOR, "DELETE", "/api/v1/accounts/1")
    after = w.metrics()
    assert delta(before, after, "hubble_drop_total", reason="DROP_REASON_UNKNOWN",
                 protocol="HTTP", **ns) == 1
    assert delta(before, after, "cilium_policy_l7_total", rule="denied",
                 proxy_type="envoy") == 1
    assert delta(before, after, "cilium_drop_count_total") == 0
    assert delta(before, after, "hubble_http_requests_total", method="DELETE", status="403",
                 reporter="server") == 1

    w.cluster.apply([fqdn_policy([{"matchName": "api.stripe.com"}])])
    before = w.metrics()
    w.run(PAYMENT_PROCESSOR, {"kind": "dns", "name": "api.pastebin.com"})
    after = w.metrics()
    assert delta(before, after, "cilium_policy_l7_total", rule="denied", proxy_type="fqdn") == 1
    assert delta(before, after, "hubble_drop_total", reason="DROP_REASON_UNKNOWN",
                 protocol="DNS", source_namespace=NS) == 1


def test_auth_failure_counts_authentication_required() -> None:
    w = World()
    w.cluster.apply([auth_policy()])
    before = w.metrics()
    w.http(AUDIT_LOGGER, "GET", "/healthz")
    after = w.metrics()
    assert delta(before, after, "cilium_drop_count_total",
                 reason="Authentication required") == 3
    assert delta(before, after, "hubble_drop_total", reason="AUTH_REQUIRED") == 3


def test_scrapes_cover_every_node_on_both_ports() -> None:
    scrapes = World().cluster.scrape_metrics()
    assert sorted((s.node, s.port) for s in scrapes) == [
        ("sim-worker", 9962), ("sim-worker", 9965), ("sim-worker2", 9962),
        ("sim-worker2", 9965)]
    for s in scrapes:
        names = {f.name for f in text_string_to_metric_families(s.text)}
        prefix = "hubble_" if s.port == 9965 else "cilium_"
        assert names and all(n.startswith(prefix) for n in names)
        assert all(line.startswith("# TYPE") is False or line.endswith(" counter")
                   for line in s.text.splitlines())
