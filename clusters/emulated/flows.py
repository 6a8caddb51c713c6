"""Hubble flow records in the shape `hubble observe -o jsonpb` prints them.

One printed line is `{"flow": {...}, "node_name": ..., "time": ...}`. Keys are the proto
field names (snake_case) except `IP`, `Type`, `Summary`, `TCP`/`UDP` and endpoint `ID`;
enums are names; zero values are left out; 64-bit integers are strings.
This module only builds dicts; which flows a transaction produces is decided by the
caller (traffic.py).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# drop_reason_desc -> (numeric code, the agent metric's `reason` text).
DROP_REASONS: dict[str, tuple[int, str]] = {
    "POLICY_DENIED": (133, "Policy denied"),
    "POLICY_DENY": (181, "Policy denied by denylist"),
    "AUTH_REQUIRED": (189, "Authentication required"),
}
EVENT_DROP = 1
EVENT_TRACE = 4
EVENT_POLICY_VERDICT = 5
EVENT_L7 = 129
TRACE_TO_ENDPOINT = 0
TRACE_TO_STACK = 3


@dataclass(frozen=True)
class Endpoint:
    """One side of a flow as Hubble describes it."""

    ip: str
    identity: int
    labels: tuple[str, ...]
    namespace: str = ""
    pod_name: str = ""
    endpoint_id: int = 0
    workload: str = ""
    workload_kind: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.endpoint_id:
            out["ID"] = self.endpoint_id
        out["identity"] = self.identity
        if self.namespace:
            out["namespace"] = self.namespace
        out["labels"] = list(self.labels)
        if self.pod_name:
            out["pod_name"] = self.pod_name
        if self.workload:
            out["workloads"] = [{"name": self.workload, "kind": self.workload_kind}]
        return out


def timestamp(epoch: float) -> str:
    """RFC 3339 with nanoseconds, as protojson prints google.protobuf.Timestamp."""
    whole = int(epoch)
    nanos = round((epoch - whole) * 1e9)
    if nanos >= 1_000_000_000:
        whole, nanos = whole + 1, nanos - 1_000_000_000
    base = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{nanos:09d}Z"


def parse_timestamp(stamp: str) -> float:
    """Epoch seconds of a `timestamp()` string."""
    whole, _, frac = stamp.rstrip("Z").partition(".")
    base = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    return base + (int(frac) / 10 ** len(frac) if frac else 0.0)


def _l4(protocol: str, sport: int, dport: int, flags: tuple[str, ...]) -> dict[str, Any]:
    if protocol == "ICMPv4":  # flow.proto ICMPv4 {type, code}: no ports; `flags` = (type,)
        return {"ICMPv4": {"type": int(flags[0]) if flags else 0}}
    if protocol == "UDP":
        return {"UDP": {"source_port": sport, "destination_port": dport}}
    tcp: dict[str, Any] = {"source_port": sport, "destination_port": dport}
    if flags:
        tcp["flags"] = dict.fromkeys(flags, True)
    return {"TCP": tcp}


def _summary(protocol: str, flags: tuple[str, ...]) -> str:
    if protocol == "ICMPv4":
        return "ICMPv4 " + ("EchoReply" if flags == ("0",) else "EchoRequest")
    if protocol == "UDP":
        return "UDP"
    return "TCP Flags: " + ", ".join(flags) if flags else "TCP"


@dataclass(frozen=True)
class Packet:
    """The 5-tuple of one packet, in the direction it travels."""

    src: Endpoint
    dst: Endpoint
    protocol: str  # TCP | UDP
    sport: int
    dport: int
    flags: tuple[str, ...] = ()


def _base(packet: Packet, node: str, epoch: float, verdict: str, direction: str,
          event: dict[str, int], flow_type: str) -> dict[str, Any]:
    flow: dict[str, Any] = {
        "time": timestamp(epoch),
        "uuid": str(uuid.uuid4()),
        "verdict": verdict,
        "IP": {"source": packet.src.ip, "destination": packet.dst.ip, "ipVersion": "IPv4"},
        "l4": _l4(packet.protocol, packet.sport, packet.dport, packet.flags),
        "source": packet.src.to_json(),
        "destination": packet.dst.to_json(),
        "Type": flow_type,
        "node_name": node,
        "event_type": event,
        "traffic_direction": direction,
    }
    return flow


def drop_flow(packet: Packet, node: str, epoch: float, reason: str, direction: str,
              auth_type: str | None = None) -> dict[str, Any]:
    code, _ = DROP_REASONS[reason]
    flow = _base(packet, node, epoch, "DROPPED", direction,
                 {"type": EVENT_DROP, "sub_type": code}, "L3_L4")
    flow["drop_reason"] = code
    flow["drop_reason_desc"] = reason
    flow["Summary"] = _summary(packet.protocol, packet.flags)
    if auth_type:
        flow["auth_type"] = auth_type
    return _ordered(flow)


def trace_flow(packet: Packet, node: str, epoch: float, direction: str, is_reply: bool,
               to_endpoint: bool) -> dict[str, Any]:
    sub = TRACE_TO_ENDPOINT if to_endpoint else TRACE_TO_STACK
    event = {"type": EVENT_TRACE, "sub_type": sub} if sub else {"type": EVENT_TRACE}
    flow = _base(packet, node, epoch, "FORWARDED", direction, event, "L3_L4")
    flow["trace_observation_point"] = "TO_ENDPOINT" if to_endpoint else "TO_STACK"
    flow["is_reply"] = is_reply
    flow["Summary"] = _summary(packet.protocol, packet.flags)
    return _ordered(flow)


def policy_verdict_flow(packet: Packet, node: str, epoch: float, direction: str,
                        auth_type: str | None = None) -> dict[str, Any]:
    flow = _base(packet, node, epoch, "FORWARDED", direction,
                 {"type": EVENT_POLICY_VERDICT}, "L3_L4")
    flow["is_reply"] = False
    flow["Summary"] = _summary(packet.protocol, packet.flags)
    if auth_type:
        flow["auth_type"] = auth_type
    return _ordered(flow)


def http_flow(packet: Packet, node: str, epoch: float, verdict: str, direction: str, *,
              response: bool, method: str, url: str, protocol: str,
              headers: dict[str, str], code: int = 0, latency_ns: int = 0) -> dict[str, Any]:
    flow = _base(packet, node, epoch, verdict, direction, {"type": EVENT_L7}, "L7")
    flow["l4"] = _l4(packet.protocol, packet.sport, packet.dport, ())
    http: dict[str, Any] = {}
    if code:
        http["code"] = code
    http["method"] = method
    http["url"] = url
    http["protocol"] = protocol
    if headers:
        http["headers"] = [{"key": k, "value": v} for k, v in headers.items()]
    l7: dict[str, Any] = {"type": "RESPONSE" if response else "REQUEST"}
    if latency_ns:
        l7["latency_ns"] = str(latency_ns)
    l7["http"] = http
    flow["l7"] = l7
    flow["is_reply"] = response
    flow["Summary"] = (f"{protocol} {code} {latency_ns // 1_000_000}ms ({method} {url})"
                       if response else f"{protocol} {method} {url}")
    return _ordered(flow)


def l7_record_less_flow(packet: Packet, node: str, epoch: float, verdict: str,
                        direction: str) -> dict[str, Any]:
    """An L7 REQUEST flow from an access-log entry without an L7 part (an SNI refusal):
    the agent tags no L7 record (cilium `pkg/envoy/accesslog_server.go` logRecord has no
    fallback since the deprecated top-level HTTP fields left `accesslog.proto`, cilium/proxy
    commit cecb4de5), so Hubble's decodeLayer7 takes its default case: `l7.type` REQUEST,
    no record, an empty summary (`pkg/hubble/parser/seven/parser.go`)."""
    flow = _base(packet, node, epoch, verdict, direction, {"type": EVENT_L7}, "L7")
    flow["l4"] = _l4(packet.protocol, packet.sport, packet.dport, ())
    flow["l7"] = {"type": "REQUEST"}
    flow["is_reply"] = False
    flow["Summary"] = ""
    return _ordered(flow)


def dns_flow(packet: Packet, node: str, epoch: float, verdict: str, direction: str, *,
             response: bool, query: str, qtype: str, rcode: int = 0,
             ips: tuple[str, ...] = (), ttl: int = 0) -> dict[str, Any]:
    flow = _base(packet, node, epoch, verdict, direction, {"type": EVENT_L7}, "L7")
    dns: dict[str, Any] = {"query": query.rstrip(".") + "."}
    if ips:
        dns["ips"] = list(ips)
    if ttl:
        dns["ttl"] = ttl
    if rcode:
        dns["rcode"] = rcode
    dns["qtypes"] = [qtype]
    if ips:
        dns["rrtypes"] = [qtype]
    dns["observation_source"] = "proxy"
    flow["l7"] = {"type": "RESPONSE" if response else "REQUEST", "dns": dns}
    flow["is_reply"] = response
    kind = "response" if response else "query"
    flow["Summary"] = f"DNS {'Answer' if response else 'Query'} {dns['query']} {qtype}" \
        if not rcode else f"DNS {kind} {dns['query']} {qtype} rcode {rcode}"
    return _ordered(flow)


# protojson prints fields in proto field-number order; keep that order for realism.
_FIELD_ORDER = (
    "time", "uuid", "verdict", "drop_reason", "auth_type", "IP", "l4", "source",
    "destination", "Type", "node_name", "l7", "event_type", "traffic_direction",
    "trace_observation_point", "drop_reason_desc", "is_reply", "Summary",
)


def _ordered(flow: dict[str, Any]) -> dict[str, Any]:
    return {k: flow[k] for k in _FIELD_ORDER if k in flow}


def line(flow: dict[str, Any]) -> str:
    """One printed line of `hubble observe -o jsonpb`."""
    return json.dumps({"flow": flow, "node_name": flow["node_name"], "time": flow["time"]},
                      separators=(",", ":"))
