"""Hubble flows as `hubble observe -o jsonpb` prints them, and matching them to probes.

One line is `{"flow": {...}, "node_name": ..., "time": ...}`; other lines carry
`node_status` or `lost_events` and are not flows. Keys are proto field names, enums are
strings, zero values are omitted (so a missing `drop_reason_desc` means "none") and a
few keys keep their proto case: `Type`, `IP`, `l4.TCP`/`l4.UDP`, endpoint `ID`.

Matching is by the prober's socket: its `local` "ip:port" is the flow's source (or the
destination of a reply), its `remote` the other side. L7 flows also carry the request
headers, so the `X-Probe-Id` header identifies them even without ports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

PROBE_ID_HEADER = "x-probe-id"


class FlowParseError(ValueError):
    """A line that is not JSON; the message quotes its start."""


@dataclass(frozen=True)
class Endpoint:
    ip: str
    port: int | None
    namespace: str
    pod_name: str
    identity: int
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Flow:
    """The fields the suite asserts on, plus the raw line exactly as received."""

    raw: str
    node: str
    time: str
    verdict: str  # FORWARDED | DROPPED | ...
    type: str  # L3_L4 | L7 | ...
    drop_reason_desc: str | None
    traffic_direction: str | None  # INGRESS | EGRESS
    is_reply: bool
    protocol: str | None  # TCP | UDP | ...
    source: Endpoint
    destination: Endpoint
    l7_type: str | None = None  # REQUEST | RESPONSE
    http_method: str | None = None
    http_url: str | None = None
    http_code: int | None = None
    http_headers: dict[str, str] = field(default_factory=dict)
    dns_query: str | None = None
    dns_rcode: int | None = None
    syn: bool = False

    @property
    def probe_id(self) -> str | None:
        return self.http_headers.get(PROBE_ID_HEADER)

    def summary(self) -> str:
        """One line in the spirit of `hubble observe` compact output."""
        src = f"{self.source.ip}:{self.source.port}" if self.source.port else self.source.ip
        dst = (
            f"{self.destination.ip}:{self.destination.port}"
            if self.destination.port
            else self.destination.ip
        )
        parts = [f"{src} -> {dst}", self.type, self.verdict]
        if self.drop_reason_desc:
            parts.append(self.drop_reason_desc)
        if self.traffic_direction:
            parts.append(self.traffic_direction)
        if self.l7_type:
            parts.append(self.l7_type)
        if self.http_method or self.http_url:
            parts.append(f"{self.http_method or ''} {self.http_url or ''}".strip())
        if self.http_code is not None:
            parts.append(f"code={self.http_code}")
        if self.dns_query:
            parts.append(f"dns={self.dns_query}")
        if self.is_reply:
            parts.append("reply")
        return " ".join(parts)


def parse_line(line: str) -> Flow | None:
    """A Flow for a flow line; None for node_status/lost_events/blank lines."""
    text = line.strip()
    if not text:
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FlowParseError(f"hubble output is not JSON ({exc.msg}): {text[:120]!r}") from exc
    if not isinstance(obj, dict):
        raise FlowParseError(f"hubble output line is not an object: {text[:120]!r}")
    flow = obj.get("flow")
    if not isinstance(flow, dict):
        return None
    return _flow(flow, raw=line.rstrip("\n"), node=str(obj.get("node_name", "")),
                 time=str(obj.get("time", flow.get("time", ""))))


def parse_lines(lines: list[str]) -> list[Flow]:
    flows = []
    for line in lines:
        flow = parse_line(line)
        if flow is not None:
            flows.append(flow)
    return flows


def _dict(obj: Any, key: str) -> dict[str, Any]:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    # 64-bit ints come as strings in jsonpb; 32-bit ones as numbers.
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _flow(f: dict[str, Any], raw: str, node: str, time: str) -> Flow:
    ip = _dict(f, "IP")
    l4 = _dict(f, "l4")
    protocol: str | None = None
    l4_body: dict[str, Any] = {}
    for proto in ("TCP", "UDP", "SCTP", "ICMPv4", "ICMPv6"):
        if proto in l4:
            protocol, l4_body = proto, _dict(l4, proto)
            break
    l7 = _dict(f, "l7")
    http = _dict(l7, "http")
    dns = _dict(l7, "dns")
    headers: dict[str, str] = {}
    for item in http.get("headers", []) or []:
        if isinstance(item, dict) and "key" in item:
            headers[str(item["key"]).lower()] = str(item.get("value", ""))
    return Flow(
        raw=raw,
        node=node or str(f.get("node_name", "")),
        time=time,
        verdict=str(f.get("verdict", "VERDICT_UNKNOWN")),
        type=str(f.get("Type", "UNKNOWN_TYPE")),
        drop_reason_desc=(str(f["drop_reason_desc"]) if f.get("drop_reason_desc") else None),
        traffic_direction=(
            str(f["traffic_direction"]) if f.get("traffic_direction") else None
        ),
        is_reply=_is_reply(f),
        protocol=protocol,
        source=_endpoint(_dict(f, "source"), str(ip.get("source", "")),
                         _int(l4_body.get("source_port"))),
        destination=_endpoint(_dict(f, "destination"), str(ip.get("destination", "")),
                              _int(l4_body.get("destination_port"))),
        l7_type=str(l7["type"]) if l7.get("type") else None,
        http_method=str(http["method"]) if http.get("method") else None,
        http_url=str(http["url"]) if http.get("url") else None,
        http_code=_int(http.get("code")),
        http_headers=headers,
        dns_query=str(dns["query"]).rstrip(".") if dns.get("query") else None,
        dns_rcode=_int(dns.get("rcode")),
        syn=bool(_dict(l4_body, "flags").get("SYN")),
    )


def _is_reply(f: dict[str, Any]) -> bool:
    value = f.get("is_reply")
    if isinstance(value, bool):
        return value
    # Older agents wrap it: {"is_reply": {"value": true}}.
    return isinstance(value, dict) and bool(value.get("value"))


def _endpoint(e: dict[str, Any], ip: str, port: int | None) -> Endpoint:
    labels = e.get("labels", []) or []
    return Endpoint(
        ip=ip,
        port=port,
        namespace=str(e.get("namespace", "")),
        pod_name=str(e.get("pod_name", "")),
        identity=_int(e.get("identity")) or 0,
        labels=tuple(str(x) for x in labels),
    )


def split_hostport(value: str | None) -> tuple[str, int] | None:
    """'10.0.0.1:80' or '[fd00::1]:80' -> (ip, port); None when absent or malformed."""
    if not value or ":" not in value:
        return None
    host, _, port = value.rpartition(":")
    host = host.strip("[]")
    try:
        return host, int(port)
    except ValueError:
        return None


@dataclass(frozen=True)
class Socket:
    """What one probe attempt knows about its connection, for flow matching."""

    probe_id: str
    source_ip: str  # the client pod's IP (always known)
    local: tuple[str, int] | None  # prober's `local`
    remote: tuple[str, int] | None  # prober's `remote`
    destination_ips: frozenset[str]  # IPs the request may show up at (pod IPs)
    port: int
    via_service: bool = False  # remote is a Service IP: flows show the backend instead
    icmp: bool = False  # an ICMP echo: its flows have no ports


class FlowIndex:
    """Flows as they arrive, indexed by socket address and probe id, so matching a large
    batch against thousands of flows stays linear; lines are parsed once."""

    def __init__(self) -> None:
        self.flows: list[Flow] = []
        self.lines_seen = 0
        self._by_addr: dict[tuple[str, int], list[Flow]] = {}
        self._by_probe: dict[str, list[Flow]] = {}
        self._seq: dict[int, int] = {}

    def update(self, lines: list[str]) -> None:
        """Parse the lines not seen yet (`lines` is the follower's growing list)."""
        for flow in parse_lines(lines[self.lines_seen:]):
            self._seq[id(flow)] = len(self.flows)
            self.flows.append(flow)
            for end in (flow.source, flow.destination):
                if end.port is not None:
                    self._by_addr.setdefault((end.ip, end.port), []).append(flow)
            if flow.probe_id:
                self._by_probe.setdefault(flow.probe_id, []).append(flow)
        self.lines_seen = len(lines)

    def candidates(self, sock: Socket) -> list[Flow]:
        """Flows touching the socket's local address or carrying its probe id, in arrival
        order."""
        found = {id(f): f for f in self._by_addr.get(sock.local, [])} if sock.local else {}
        found.update((id(f), f) for f in self._by_probe.get(sock.probe_id, []))
        return sorted(found.values(), key=lambda f: self._seq[id(f)])


def match_flows(sock: Socket, flows: list[Flow] | FlowIndex) -> tuple[list[Flow], str]:
    """The flows of one attempt and how they were matched ("5-tuple", "probe-id", "loose").

    Exact matches (socket 5-tuple, or the probe-id header on L7 flows) win; only when
    there are none (the prober could not report a socket) do we fall back to
    "same client IP, same destination, same port", which is named in reports.
    """
    pool = flows.candidates(sock) if isinstance(flows, FlowIndex) else flows
    exact = [f for f in pool if _by_socket(sock, f) or f.probe_id == sock.probe_id]
    if exact:
        how = "5-tuple" if sock.local else "probe-id"
        return exact, how
    if sock.local is not None:
        return [], "5-tuple"
    everything = flows.flows if isinstance(flows, FlowIndex) else flows
    loose = [f for f in everything if _loose(sock, f)]
    return loose, "loose"


def _by_socket(sock: Socket, f: Flow) -> bool:
    if sock.local is None:
        return False
    ip, port = sock.local
    fwd = f.source.ip == ip and f.source.port == port
    rev = f.destination.ip == ip and f.destination.port == port
    if not (fwd or rev):
        return False
    other = f.destination if fwd else f.source
    if sock.remote is None:
        return other.port == sock.port
    rip, rport = sock.remote
    if sock.via_service:
        return other.port in (rport, sock.port)
    return other.ip == rip and other.port == rport


def _loose(sock: Socket, f: Flow) -> bool:
    if f.source.ip == sock.source_ip:
        other = f.destination
    elif f.destination.ip == sock.source_ip:
        other = f.source
    else:
        return False
    if sock.icmp:  # by addresses and protocol: ICMP flows carry no ports
        return f.protocol in ("ICMPv4", "ICMPv6") and other.ip in sock.destination_ips
    if other.port != sock.port:
        return False
    return sock.via_service or not sock.destination_ips or other.ip in sock.destination_ips
