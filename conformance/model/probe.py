"""What a probe is, as the policy model sees it (the `explain --probes` JSONL shape).

A probe is one request from a source to a destination: a pod, an entity, or an
off-cluster FQDN. This module is the shared vocabulary of the model, the CLI and the
harness; it imports nothing outside the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from conformance.model.icmp import ECHO_REQUEST, icmp_type_code

Protocol = Literal["TCP", "UDP", "ICMP", "ICMPv6"]


class ProbeError(ValueError):
    """A probe line that cannot be understood; the message names the field."""


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: dict[str, str] = field(default_factory=dict)
    ip: str | None = None
    # container ports by name: name -> (port, protocol); resolves `port: <name>` rules
    ports: dict[str, tuple[int, str]] = field(default_factory=dict)
    # labels of the pod's namespace (besides kubernetes.io/metadata.name, always implied)
    namespace_labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Entity:
    """A Cilium entity (host, world, kube-apiserver, remote-node, ...)."""

    entity: str
    ip: str | None = None


@dataclass(frozen=True)
class Fqdn:
    """An off-cluster name; Cilium sees its IPs as `world`."""

    fqdn: str


Peer = Pod | Entity | Fqdn


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str  # includes the query string, like Envoy's :path
    headers: dict[str, str] = field(default_factory=dict)
    host: str | None = None


@dataclass(frozen=True)
class GrpcCall:
    service: str  # fully qualified, e.g. api.AccountService
    method: str  # e.g. GetAccount

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.method}"


@dataclass(frozen=True)
class DnsQuery:
    name: str
    qtype: str = "A"


@dataclass(frozen=True)
class TlsHello:
    """A TLS ClientHello; `sni` None sends no server_name extension (Envoy then sees "")."""

    sni: str | None


@dataclass(frozen=True)
class Probe:
    id: str
    source: Peer
    destination: Peer
    port: int
    protocol: Protocol = "TCP"
    http: HttpRequest | None = None
    grpc: GrpcCall | None = None
    dns: DnsQuery | None = None
    tls: TlsHello | None = None

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Probe:
        """Parse one probe line; unknown extra keys are ignored."""
        return _probe_from_dict(data)


def _peer(data: Any, where: str, allow_fqdn: bool) -> Peer:
    if not isinstance(data, dict):
        raise ProbeError(f"{where}: expected an object, got {type(data).__name__}")
    if "fqdn" in data:
        if not allow_fqdn:
            raise ProbeError(f"{where}.fqdn: only a destination may be an FQDN")
        return Fqdn(fqdn=_str(data, "fqdn", where).rstrip(".").lower())
    if "entity" in data:
        ip = data.get("ip")
        return Entity(entity=_str(data, "entity", where), ip=str(ip) if ip else None)
    if "namespace" in data:
        labels = data.get("labels", {})
        if not isinstance(labels, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            raise ProbeError(f"{where}.labels: expected a map of strings to strings")
        ip = data.get("ip")
        ns_labels = data.get("namespace_labels", {})
        if not isinstance(ns_labels, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in ns_labels.items()
        ):
            raise ProbeError(f"{where}.namespace_labels: expected a map of strings to strings")
        return Pod(namespace=_str(data, "namespace", where), labels=dict(labels),
                   ip=str(ip) if ip else None, ports=_ports(data.get("ports"), where),
                   namespace_labels=dict(ns_labels))
    raise ProbeError(f"{where}: needs one of 'namespace' (pod), 'entity' or 'fqdn'")


def _ports(data: Any, where: str) -> dict[str, tuple[int, str]]:
    """`{"http": 8080}` or `{"http": {"port": 8080, "protocol": "TCP"}}`."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ProbeError(f"{where}.ports: expected a map of port name to port")
    out: dict[str, tuple[int, str]] = {}
    for name, item in data.items():
        port, protocol = (item.get("port"), item.get("protocol", "TCP")) if isinstance(
            item, dict) else (item, "TCP")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise ProbeError(f"{where}.ports.{name}: expected a port 1-65535")
        if protocol not in ("TCP", "UDP", "SCTP"):
            raise ProbeError(f"{where}.ports.{name}.protocol: expected TCP, UDP or SCTP")
        out[str(name)] = (port, protocol)
    return out


def _str(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ProbeError(f"{where}.{key}: expected a non-empty string")
    return value


def _opt_str(data: dict[str, Any], key: str, where: str, default: str) -> str:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ProbeError(f"{where}.{key}: expected a string, got {type(value).__name__}")
    return value


def _probe_from_dict(data: dict[str, Any]) -> Probe:
    if not isinstance(data, dict):
        raise ProbeError("probe: expected a JSON object")
    pid = data.get("id")
    if not isinstance(pid, str | int) or isinstance(pid, bool) or pid == "":
        raise ProbeError("id: expected a non-empty string")
    where = f"probe {pid}"
    protocol = _opt_str(data, "protocol", where, "TCP").upper().replace("ICMPV6", "ICMPv6")
    if protocol not in ("TCP", "UDP", "ICMP", "ICMPv6"):
        raise ProbeError(f"{where}.protocol: expected TCP, UDP, ICMP or ICMPv6, got "
                         f"{protocol!r}")
    if protocol in ECHO_REQUEST:  # an ICMP probe: its type stands where the port would
        family = "IPv4" if protocol == "ICMP" else "IPv6"
        port = icmp_type_code(data.get("icmp_type", ECHO_REQUEST[protocol]), family)
        if port is None:
            raise ProbeError(f"{where}.icmp_type: expected an {family} ICMP type (0-255 or "
                             "a name such as EchoRequest)")
    else:
        port = data.get("port")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise ProbeError(f"{where}.port: expected an integer 1-65535")
    http = grpc = dns = None
    if (h := data.get("http")) is not None:
        if not isinstance(h, dict):
            raise ProbeError(f"{where}.http: expected an object")
        headers = h.get("headers", {}) or {}
        if not isinstance(headers, dict):
            raise ProbeError(f"{where}.http.headers: expected a map of name to value")
        if not all(isinstance(v, str) for v in headers.values()):
            raise ProbeError(f"{where}.http.headers: expected a map of name to string value")
        http = HttpRequest(
            method=_opt_str(h, "method", f"{where}.http", "GET").upper(),
            path=_opt_str(h, "path", f"{where}.http", "/"),
            headers={str(k): v for k, v in headers.items()},
            host=_opt_str(h, "host", f"{where}.http", "") or None,
        )
    if (g := data.get("grpc")) is not None:
        if not isinstance(g, dict):
            raise ProbeError(f"{where}.grpc: expected an object")
        grpc = GrpcCall(service=_str(g, "service", f"{where}.grpc"),
                        method=_str(g, "method", f"{where}.grpc"))
    if (d := data.get("dns")) is not None:
        if not isinstance(d, dict):
            raise ProbeError(f"{where}.dns: expected an object")
        dns = DnsQuery(name=_str(d, "name", f"{where}.dns").rstrip(".").lower(),
                       qtype=_opt_str(d, "qtype", f"{where}.dns", "A").upper())
    tls = None
    if (t := data.get("tls")) is not None:
        if not isinstance(t, dict):
            raise ProbeError(f"{where}.tls: expected an object")
        tls = TlsHello(sni=_opt_str(t, "sni", f"{where}.tls", "") or None)
    if sum(x is not None for x in (http, grpc, dns, tls)) > 1:
        raise ProbeError(f"{where}: at most one of http, grpc, dns, tls")
    return Probe(
        id=str(pid),
        source=_peer(data.get("source"), f"{where}.source", allow_fqdn=False),
        destination=_peer(data.get("destination"), f"{where}.destination", allow_fqdn=True),
        port=port,
        protocol=protocol,  # type: ignore[arg-type]
        http=http,
        grpc=grpc,
        dns=dns,
        tls=tls,
    )
