"""Parsing `hubble observe -o jsonpb` lines and matching flows to probe attempts.

The lines below are written in the exact shape of the Hubble CLI's jsonpb output
(REFERENCE: proto field names, enum names as strings, zero values omitted, 64-bit
integers as strings, `Type`/`IP`/`TCP`/`UDP`/`ID` in proto case).
"""

from __future__ import annotations

import json

import pytest

from conformance.harness.hubble import (
    FlowIndex,
    FlowParseError,
    Socket,
    match_flows,
    parse_line,
    parse_lines,
    split_hostport,
)

CLIENT = {"ID": 1712, "identity": 48211, "namespace": "ztc-gw0",
          "labels": ["k8s:app=payment-processor", "k8s:io.kubernetes.pod.namespace=ztc-gw0"],
          "pod_name": "payment-processor-6f7c9d-x2k4p"}
SERVER = {"ID": 903, "identity": 51820, "namespace": "ztc-gw0",
          "labels": ["k8s:app=account-service", "k8s:io.kubernetes.pod.namespace=ztc-gw0"],
          "pod_name": "account-service-5d8b7-q9w2c"}


def line(flow: dict[str, object], node: str = "kind-worker") -> str:
    return json.dumps({"flow": flow, "node_name": node, "time": "2026-07-30T10:00:01.5Z"})


L3L4_DROP = line({
    "time": "2026-07-30T10:00:01.5Z", "verdict": "DROPPED", "drop_reason": 133,
    "IP": {"source": "10.244.1.17", "destination": "10.244.2.31", "ipVersion": "IPv4"},
    "l4": {"TCP": {"source_port": 40112, "destination_port": 9090, "flags": {"SYN": True}}},
    "source": CLIENT, "destination": SERVER, "Type": "L3_L4", "node_name": "kind-worker2",
    "event_type": {"type": 1, "sub_type": 133}, "traffic_direction": "INGRESS",
    "drop_reason_desc": "POLICY_DENIED", "Summary": "TCP Flags: SYN",
})
L7_REQUEST_DROPPED = line({
    "verdict": "DROPPED",
    "IP": {"source": "10.244.1.17", "destination": "10.244.2.31", "ipVersion": "IPv4"},
    "l4": {"TCP": {"source_port": 40120, "destination_port": 8080}},
    "source": CLIENT, "destination": SERVER, "Type": "L7",
    "event_type": {"type": 129}, "traffic_direction": "INGRESS",
    "l7": {"type": "REQUEST", "latency_ns": "0", "http": {
        "method": "DELETE", "url": "http://10.244.2.31:8080/api/v1/accounts/abc",
        "protocol": "HTTP/1.1",
        "headers": [{"key": "X-Probe-Id", "value": "gw0.l7-http.2.0"},
                    {"key": "User-Agent", "value": "prober"}]}},
    "is_reply": False, "Summary": "HTTP/1.1 DELETE http://10.244.2.31:8080/api/v1/accounts/abc",
})
L7_RESPONSE_403 = line({
    "verdict": "FORWARDED",
    "IP": {"source": "10.244.2.31", "destination": "10.244.1.17", "ipVersion": "IPv4"},
    "l4": {"TCP": {"source_port": 8080, "destination_port": 40120}},
    "source": SERVER, "destination": CLIENT, "Type": "L7",
    "event_type": {"type": 129}, "traffic_direction": "INGRESS",
    "l7": {"type": "RESPONSE", "latency_ns": "412000",
           "http": {"code": 403, "method": "DELETE", "protocol": "HTTP/1.1"}},
    "is_reply": True,
})
DNS_REFUSED = line({
    "verdict": "DROPPED",
    "IP": {"source": "10.244.1.17", "destination": "10.244.0.5", "ipVersion": "IPv4"},
    "l4": {"UDP": {"source_port": 53211, "destination_port": 53}},
    "source": CLIENT, "destination": {"identity": 102, "namespace": "kube-system",
                                      "labels": ["k8s:k8s-app=kube-dns"]},
    "Type": "L7", "traffic_direction": "EGRESS",
    "l7": {"type": "REQUEST", "dns": {"query": "api.pastebin.com.", "qtypes": ["A"]}},
})
NODE_STATUS = json.dumps({"node_status": {"state_change": "NODE_CONNECTED",
                                          "node_names": ["kind-worker"]}, "time": "x"})
LOST = json.dumps({"lost_events": {"source": "HUBBLE_RING_BUFFER", "num_events_lost": "3"}})


def test_l3l4_drop_fields() -> None:
    flow = parse_line(L3L4_DROP)
    assert flow is not None
    assert (flow.verdict, flow.type, flow.drop_reason_desc, flow.traffic_direction) == (
        "DROPPED", "L3_L4", "POLICY_DENIED", "INGRESS")
    assert (flow.source.ip, flow.source.port) == ("10.244.1.17", 40112)
    assert (flow.destination.ip, flow.destination.port) == ("10.244.2.31", 9090)
    assert flow.protocol == "TCP" and flow.syn and not flow.is_reply
    assert flow.node == "kind-worker" and flow.source.identity == 48211
    assert flow.raw == L3L4_DROP


def test_omitted_fields_mean_none() -> None:
    flow = parse_line(L7_REQUEST_DROPPED)
    assert flow is not None
    assert flow.drop_reason_desc is None  # L7 denies carry no drop reason
    assert flow.http_code is None and flow.l7_type == "REQUEST"
    assert flow.http_method == "DELETE"
    assert flow.probe_id == "gw0.l7-http.2.0"  # header names are case-insensitive
    response = parse_line(L7_RESPONSE_403)
    assert response is not None and response.http_code == 403 and response.is_reply


def test_dns_flow_and_udp_ports() -> None:
    flow = parse_line(DNS_REFUSED)
    assert flow is not None
    assert flow.protocol == "UDP" and flow.dns_query == "api.pastebin.com"
    assert flow.source.port == 53211 and flow.destination.namespace == "kube-system"


def test_non_flow_lines_are_skipped() -> None:
    flows = parse_lines([NODE_STATUS, "", L3L4_DROP, LOST])
    assert [f.verdict for f in flows] == ["DROPPED"]


def test_wrapped_is_reply_of_older_agents() -> None:
    text = line({"verdict": "FORWARDED", "Type": "L3_L4", "is_reply": {"value": True}})
    flow = parse_line(text)
    assert flow is not None and flow.is_reply


def test_broken_line_is_a_clear_error() -> None:
    with pytest.raises(FlowParseError, match="not JSON"):
        parse_line('{"flow": {"verdict": ')
    with pytest.raises(FlowParseError, match="not an object"):
        parse_line("[1, 2]")


def test_split_hostport() -> None:
    assert split_hostport("10.0.0.1:80") == ("10.0.0.1", 80)
    assert split_hostport("[fd00::1]:443") == ("fd00::1", 443)
    assert split_hostport(None) is None and split_hostport("nonsense") is None


def sock(local: str | None, remote: str | None = "10.244.2.31:8080", port: int = 8080,
         **kw: object) -> Socket:
    return Socket(probe_id=str(kw.get("probe_id", "p")), source_ip="10.244.1.17",
                  local=split_hostport(local), remote=split_hostport(remote),
                  destination_ips=frozenset({"10.244.2.31"}), port=port,
                  via_service=bool(kw.get("via_service", False)))


def test_match_by_5tuple_includes_replies() -> None:
    flows = parse_lines([L7_REQUEST_DROPPED, L7_RESPONSE_403, L3L4_DROP])
    matched, how = match_flows(sock("10.244.1.17:40120"), flows)
    assert how == "5-tuple"
    assert [f.l7_type for f in matched] == ["REQUEST", "RESPONSE"]


def test_same_local_port_to_another_destination_does_not_match() -> None:
    flows = parse_lines([L3L4_DROP])  # 40112 -> 10.244.2.31:9090
    matched, _ = match_flows(sock("10.244.1.17:40112", "10.244.2.99:9090", 9090), flows)
    assert matched == []


def test_match_by_probe_id_header_without_socket() -> None:
    flows = parse_lines([L7_REQUEST_DROPPED, L3L4_DROP])
    matched, how = match_flows(sock(None, None, probe_id="gw0.l7-http.2.0"), flows)
    assert how == "probe-id" and len(matched) == 1 and matched[0].type == "L7"


def test_loose_fallback_is_named() -> None:
    flows = parse_lines([L3L4_DROP])
    matched, how = match_flows(sock(None, None, port=9090), flows)
    assert how == "loose" and len(matched) == 1
    other_port, _ = match_flows(sock(None, None, port=8443), flows)
    assert other_port == []


def test_loose_fallback_keeps_to_the_attempts_destination() -> None:
    # Without a socket, the same client and port to *another* pod (the second replica,
    # or an unrelated peer) is not this attempt's evidence: a drop there must not pass
    # for a drop here.
    elsewhere = L3L4_DROP.replace('"destination": "10.244.2.31"', '"destination": "10.244.3.8"')
    flows = parse_lines([elsewhere, L3L4_DROP])
    matched, how = match_flows(sock(None, None, port=9090), flows)
    assert how == "loose" and [f.destination.ip for f in matched] == ["10.244.2.31"]
    only_elsewhere, _ = match_flows(sock(None, None, port=9090), parse_lines([elsewhere]))
    assert only_elsewhere == []


def test_service_address_matches_backend_flow() -> None:
    # A DNS query to the kube-dns Service IP shows up at the CoreDNS pod.
    flows = parse_lines([DNS_REFUSED])
    matched, _ = match_flows(sock("10.244.1.17:53211", "10.96.0.10:53", 53,
                                  via_service=True), flows)
    assert len(matched) == 1
    strict, _ = match_flows(sock("10.244.1.17:53211", "10.96.0.10:53", 53), flows)
    assert strict == []


def test_summary_names_the_evidence() -> None:
    flow = parse_line(L3L4_DROP)
    assert flow is not None
    assert flow.summary() == ("10.244.1.17:40112 -> 10.244.2.31:9090 L3_L4 DROPPED "
                              "POLICY_DENIED INGRESS")


def test_index_parses_each_line_once_and_matches_like_the_list() -> None:
    index = FlowIndex()
    lines = [NODE_STATUS, L3L4_DROP, L7_REQUEST_DROPPED]
    index.update(lines)
    assert index.lines_seen == 3 and len(index.flows) == 2
    lines += [L7_RESPONSE_403, DNS_REFUSED]
    index.update(lines)  # only the two new lines are parsed
    assert len(index.flows) == 4
    for s in (sock("10.244.1.17:40120"), sock("10.244.1.17:40112", "10.244.2.31:9090", 9090),
              sock(None, None, probe_id="gw0.l7-http.2.0"), sock(None, None, port=9090),
              sock("10.244.1.17:53211", "10.96.0.10:53", 53, via_service=True)):
        assert match_flows(s, index) == match_flows(s, index.flows)


def test_index_keeps_arrival_order() -> None:
    index = FlowIndex()
    index.update([L7_RESPONSE_403, L7_REQUEST_DROPPED])
    matched, _ = match_flows(sock("10.244.1.17:40120"), index)
    assert [f.l7_type for f in matched] == ["RESPONSE", "REQUEST"]
