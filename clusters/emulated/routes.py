"""Where a prober probe goes in the simulated world, and the model Probe for it.

A probe names its destination the way a pod would: a pod IP, a Service name (short,
namespaced or fully qualified), a Service IP, or a hermetic "internet" name. Names are
first looked up through kube-dns (an implicit DNS query that policy can drop or refuse,
as on a real cluster); the connection then goes to the backend pod or the off-cluster IP.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from clusters.emulated.world import (
    CLUSTER_DOMAIN,
    DNS_PORT,
    EXTERNAL_TARGETS,
    KUBE_DNS_IP,
    SimPod,
    World,
    external_name_for_ip,
    is_ipv4,
)
from conformance.model.probe import (
    DnsQuery,
    Entity,
    Fqdn,
    GrpcCall,
    HttpRequest,
    Pod,
    Probe,
    TlsHello,
)
from conformance.vocabulary.dns import KUBE_DNS_NAMESPACE, KUBE_DNS_SERVICE

DEFAULT_TIMEOUT_S = 5.0  # the prober's default
PROBE_KINDS = ("http", "grpc", "tcp", "dns", "icmp", "tls")
ICMP_ECHO_REQUEST = 8  # the model's ICMP "port" is the type (conformance/model/icmp.py)


class RouteError(ValueError):
    """The probe cannot be routed; the prober would answer `error` with this text."""


@dataclass(frozen=True)
class Route:
    kind: str  # http | grpc | tcp | dns | icmp | tls
    host: str  # as the client wrote it
    port: int
    connect_ip: str  # what the client's socket connected to (Service or pod or target IP)
    dest_pod: SimPod | None
    dest_ip: str  # on the wire, after socket load-balancing
    fqdn: str | None  # hermetic target name, when the destination is one
    lookup: str | None  # fully qualified name the client resolves first, if any
    timeout_s: float
    http: HttpRequest | None = None
    grpc: GrpcCall | None = None
    dns: DnsQuery | None = None
    tls: TlsHello | None = None  # kind tls: the ClientHello, then GET `http` over it
    body: str | None = None
    transport: str = "udp"  # DNS probes: udp | tcp


def pod_peer(pod: SimPod) -> Pod:
    return Pod(namespace=pod.info.namespace, labels=dict(pod.info.labels), ip=pod.info.ip,
               ports={n: (p, proto) for n, p, proto in pod.ports},
               namespace_labels=dict(pod.namespace_labels))


def _timeout(probe: dict[str, Any]) -> float:
    value = probe.get("timeout", DEFAULT_TIMEOUT_S)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise RouteError(f"timeout: expected a positive number of seconds, got {value!r}")
    return float(value)


def _str_field(probe: dict[str, Any], key: str) -> str:
    value = probe.get(key)
    if not isinstance(value, str) or not value:
        raise RouteError(f"{key}: expected a non-empty string")
    return value


def route(world: World, client: SimPod, probe: dict[str, Any], rng: random.Random) -> Route:
    """Resolve one prober probe (issue 2 format) to a Route; RouteError for bad fields."""
    kind = probe.get("kind")
    if kind not in PROBE_KINDS:
        raise RouteError(f"kind: unknown probe kind {kind!r} (known: {', '.join(PROBE_KINDS)})")
    timeout = _timeout(probe)
    if kind == "dns":
        return _dns_route(world, probe, timeout, rng)
    if kind == "http":
        url = _str_field(probe, "url")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RouteError(f"url: expected http(s)://host[:port]/path, got {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = probe.get("headers") or {}
        if not isinstance(headers, dict):
            raise RouteError("headers: expected a map of name to value")
        method = str(probe.get("method", "GET")).upper()
        http = HttpRequest(method=method, path=path,
                           headers={str(k): str(v) for k, v in headers.items()},
                           host=parts.netloc)
        body = probe.get("body")
        return _connect_route(world, client, "http", parts.hostname, port, timeout, rng,
                              http=http, body=str(body) if body is not None else None)
    if kind == "tls":
        return _tls_route(world, client, probe, timeout, rng)
    if kind == "grpc":
        target = _str_field(probe, "target")
        method = _str_field(probe, "method")
        host, _, port_text = target.rpartition(":")
        if not host or not port_text.isdigit():
            raise RouteError(f"target: expected host:port, got {target!r}")
        service, _, name = method.strip("/").partition("/")
        if not service or not name:
            raise RouteError(f"method: expected /package.Service/Method, got {method!r}")
        return _connect_route(world, client, "grpc", host, int(port_text), timeout, rng,
                              grpc=GrpcCall(service=service, method=name))
    host = _str_field(probe, "host")
    if kind == "icmp":
        if probe.get("family", "ipv4") != "ipv4":
            raise RouteError("family: the simulated cluster is IPv4 only")
        return _connect_route(world, client, "icmp", host, 0, timeout, rng)
    tcp_port = probe.get("port")
    if not isinstance(tcp_port, int) or isinstance(tcp_port, bool) or not 0 < tcp_port < 65536:
        raise RouteError(f"port: expected an integer 1-65535, got {tcp_port!r}")
    return _connect_route(world, client, "tcp", host, tcp_port, timeout, rng)


def _connect_route(world: World, client: SimPod, kind: str, host: str, port: int,
                   timeout: float, rng: random.Random, **extra: Any) -> Route:
    name = host.rstrip(".").lower()
    lookup: str | None = None
    fqdn: str | None = None
    pod: SimPod | None = None
    if is_ipv4(name):
        connect_ip = name
        service = world.service_by_ip(name)
        if service is not None:
            pod = _pick(world.backends(*service), rng, name)
        elif (pod := world.pod_by_ip(name)) is None:
            fqdn = external_name_for_ip(name)
            if fqdn is None:
                raise RouteError(f"no host at {name} in the simulated cluster")
        dest_ip = pod.info.ip if pod else name
    elif name in EXTERNAL_TARGETS:
        fqdn = lookup = name
        connect_ip = dest_ip = EXTERNAL_TARGETS[name]
    else:
        service = world.resolve_service_name(name, client.info.namespace)
        if service is None:
            raise RouteError(f"cannot resolve {host!r}: no such Service or target "
                             "(NXDOMAIN)")
        lookup = f"{service[1]}.{service[0]}.svc.{CLUSTER_DOMAIN}"
        connect_ip = world.services[service]
        pod = _pick(world.backends(*service), rng, name)
        dest_ip = pod.info.ip
    return Route(kind=kind, host=host, port=port, connect_ip=connect_ip, dest_pod=pod,
                 dest_ip=dest_ip, fqdn=fqdn, lookup=lookup, timeout_s=timeout, **extra)


def _tls_route(world: World, client: SimPod, probe: dict[str, Any], timeout: float,
               rng: random.Random) -> Route:
    """`{"kind": "tls", "target": "host:port", "sni": "name", "path": "/healthz"}`: the
    prober's TLS probe (workloads/prober/tls_probe.py)."""
    target = _str_field(probe, "target")
    host, _, port_text = target.rpartition(":")
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise RouteError(f"target: expected host:port, got {target!r}")
    sni = probe.get("sni", "")
    if not isinstance(sni, str):
        raise RouteError(f"sni: expected a string, got {sni!r}")
    path = str(probe.get("path") or "/healthz")
    http = HttpRequest(method="GET", path=path, host=sni or host)
    return _connect_route(world, client, "tls", host, int(port_text), timeout, rng,
                          tls=TlsHello(sni or None), http=http)


def _pick(backends: list[SimPod], rng: random.Random, name: str) -> SimPod:
    if not backends:
        raise RouteError(f"Service {name} has no ready backends")
    return backends[rng.randrange(len(backends))]


def _dns_route(world: World, probe: dict[str, Any], timeout: float,
               rng: random.Random) -> Route:
    name = _str_field(probe, "name").rstrip(".").lower()
    qtype = str(probe.get("qtype", "A")).upper()
    server = str(probe.get("server") or f"{KUBE_DNS_IP}:{DNS_PORT}")
    ip, _, port_text = server.rpartition(":")
    if not ip or not port_text.isdigit():
        raise RouteError(f"server: expected ip:port, got {server!r}")
    dns_pods = world.backends(KUBE_DNS_NAMESPACE, KUBE_DNS_SERVICE)
    if ip == KUBE_DNS_IP:
        pod = _pick(dns_pods, rng, "kube-dns")
    else:
        found = next((p for p in dns_pods if p.info.ip == ip), None)
        if found is None:
            raise RouteError(f"server: no DNS server at {ip} in the simulated cluster")
        pod = found
    transport = str(probe.get("transport", "udp")).lower()
    if transport not in ("udp", "tcp"):
        raise RouteError(f"transport: expected udp or tcp, got {transport!r}")
    return Route(kind="dns", host=ip, port=int(port_text), connect_ip=ip, dest_pod=pod,
                 dest_ip=pod.info.ip, fqdn=None, lookup=None, timeout_s=timeout,
                 dns=DnsQuery(name=name, qtype=qtype), transport=transport)


def model_probe(probe_id: str, client: SimPod, r: Route) -> Probe:
    """The model's view of the connection (for DNS probes: the query to kube-dns)."""
    if r.dest_pod is not None:
        destination: Pod | Entity | Fqdn = pod_peer(r.dest_pod)
    elif r.fqdn is not None and r.lookup is not None:
        destination = Fqdn(fqdn=r.fqdn)
    else:
        destination = Entity(entity="world", ip=r.dest_ip)
    if r.kind == "icmp":
        return Probe(id=probe_id, source=pod_peer(client), destination=destination,
                     port=ICMP_ECHO_REQUEST, protocol="ICMP")
    return Probe(id=probe_id, source=pod_peer(client), destination=destination, port=r.port,
                 protocol="UDP" if r.kind == "dns" and r.transport == "udp" else "TCP",
                 http=None if r.tls else r.http, grpc=r.grpc, dns=r.dns, tls=r.tls)


def lookup_probe(probe_id: str, client: SimPod, dns_pod: SimPod, name: str) -> Probe:
    """The implicit A query a client sends to kube-dns before connecting to `name`."""
    return Probe(id=f"{probe_id}/lookup", source=pod_peer(client),
                 destination=pod_peer(dns_pod), port=DNS_PORT, protocol="UDP",
                 dns=DnsQuery(name=name, qtype="A"))


def world_probe(probe_id: str, client: SimPod, r: Route) -> Probe:
    """The same connection as if its IP had never been learned from DNS (fqdn-broken)."""
    return Probe(id=probe_id, source=pod_peer(client),
                 destination=Entity(entity="world", ip=r.dest_ip), port=r.port,
                 protocol="TCP", http=None if r.tls else r.http, grpc=r.grpc, tls=r.tls)
