"""One simulated batch: decide each probe, answer like the prober, emit flows and counts.

For each probe: route it (routes.py), run the implicit DNS lookup a named
destination needs, decide the connection (decide.py), then produce
- the prober's result (issue 2 format),
- the Hubble flows of the exchange (flows.py), which are counted per node
  (metrics.py) and handed to `publish` for the followers.
Timestamps are virtual: a dropped SYN is retried at 1, 3, 7 ... s after the first one,
and its flows carry those times, while the batch itself returns at once.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from clusters.emulated.decide import Decider, Decision, Version
from clusters.emulated.flows import (
    Endpoint,
    Packet,
    dns_flow,
    drop_flow,
    http_flow,
    l7_record_less_flow,
    trace_flow,
)
from clusters.emulated.metrics import NodeCounters
from clusters.emulated.routes import (
    Route,
    RouteError,
    lookup_probe,
    model_probe,
    route,
    world_probe,
)
from clusters.emulated.world import (
    DNS_PORT,
    DNS_TTL,
    EXTERNAL_PORTS,
    EXTERNAL_TARGETS,
    IDENTITY_WORLD,
    SimPod,
    World,
)
from conformance.model.expectation import ACCESS_DENIED_BODY
from conformance.vocabulary.dns import KUBE_DNS_NAMESPACE, KUBE_DNS_SERVICE

SYN_RETRIES_AT_S = (0.0, 1.0, 3.0, 7.0, 15.0, 31.0)  # Linux initial RTO 1 s, doubling
AUTH_HANDSHAKE_S = 1.0  # `required`: the first SYN is dropped, the retransmit passes
HOP_S = 0.0002  # between the flows of one exchange
SERVE_MS = 3  # an answered request's client-side latency
PROBER_USER_AGENT = "zt-prober/1"
# account-service routes (issue 2): (method, path regex, route name); query ignored.
APP_ROUTES = (
    ("GET", r"/api/v1/accounts", "GET /api/v1/accounts"),
    ("GET", r"/api/v1/accounts/[^/]+", "GET /api/v1/accounts/{id}"),
    ("DELETE", r"/api/v1/accounts/[^/]+", "DELETE /api/v1/accounts/{id}"),
    ("POST", r"/api/v1/accounts/[^/]+/withdraw", "POST /api/v1/accounts/{id}/withdraw"),
    ("POST", r"/internal/v1/transfer", "POST /internal/v1/transfer"),
    ("GET", r"/healthz", "GET /healthz"),
)
GRPC_METHODS = ("GetAccount", "ListAccounts", "DeleteAccount", "CreateWithdrawal")
STANDIN_ROUTE = "standin"  # account-service --role standin: the route name of every request
WRONG_REASON = {"POLICY_DENIED": "POLICY_DENY", "POLICY_DENY": "POLICY_DENIED",
                "AUTH_REQUIRED": "POLICY_DENIED"}
EPHEMERAL_PORTS = (32768, 60999)

Publish = Callable[[dict[str, Any]], None]


# (client pod, destination pod or None) -> the policy version in force for that pair:
# egress is enforced by the client's endpoint, ingress by the destination's.
VersionFor = Callable[[SimPod, SimPod | None], Version]


@dataclass
class Batch:
    """One probe's context in a batch: the policy versions in force, the source pod, its
    start time and the flows it produced."""

    versions: VersionFor
    client: SimPod
    start: float  # wall-clock epoch seconds
    flows: list[dict[str, Any]] = field(default_factory=list)

    def version(self, dest: SimPod | None) -> Version:
        return self.versions(self.client, dest)


class Traffic:
    def __init__(self, world: World, decider: Decider, rng: random.Random,
                 counters: dict[str, NodeCounters], publish: Publish,
                 probe_delay: Callable[[], float], wrong_reason: bool) -> None:
        self.world = world
        self.decider = decider
        self.rng = rng
        self.counters = counters
        self.publish = publish
        self.probe_delay = probe_delay
        self.wrong_reason = wrong_reason
        self.authenticated: set[tuple[int, int]] = set()
        # Pod name -> access-log lines, as account-service writes them for every request
        # that reaches it (a denied request never does).
        self.app_logs: dict[str, list[str]] = {}

    # ---- batch -------------------------------------------------------------------

    def run(self, versions: VersionFor, client: SimPod, start: float,
            probes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        results = []
        for probe in probes:
            batch = Batch(versions=versions, client=client, start=start + self.probe_delay())
            results.append(self._one(batch, probe))
            for flow in batch.flows:
                self.counters[flow["node_name"]].count_flow(flow)
                self.publish(flow)
        return results

    def _one(self, b: Batch, probe: dict[str, Any]) -> dict[str, Any]:
        pid = probe.get("id") if isinstance(probe, dict) else None
        if not isinstance(probe, dict):
            return {"id": pid, "outcome": "error", "error": "probe: expected a JSON object",
                    "elapsed_ms": 0}
        try:
            r = route(self.world, b.client, probe, self.rng)
        except RouteError as err:
            return {"id": pid, "outcome": "error", "error": str(err), "elapsed_ms": 0}
        if r.kind == "dns":
            return {"id": pid, **self._dns_probe(b, str(pid), r)}
        elapsed = 0.0
        if r.lookup is not None:
            failed, elapsed = self._lookup(b, str(pid), r)
            if failed is not None:
                return {"id": pid, **failed, "elapsed_ms": round(elapsed * 1000)}
        world = world_probe(str(pid), b.client, r) if r.fqdn else None
        decision = self.decider.decide(b.version(r.dest_pod),
                                       model_probe(str(pid), b.client, r), world)
        if r.kind == "icmp":
            return {"id": pid, **self._ping(b, r, decision, b.start + elapsed, elapsed)}
        return {"id": pid, **self._connect(b, str(pid), r, decision, b.start + elapsed, elapsed)}

    # ---- DNS ---------------------------------------------------------------------

    def _lookup(self, b: Batch, pid: str, r: Route) -> tuple[dict[str, Any] | None, float]:
        """The A query before connecting to a name; a failure ends the probe there."""
        dns_pods = self.world.backends(KUBE_DNS_NAMESPACE, KUBE_DNS_SERVICE)
        dns_pod = dns_pods[self.rng.randrange(len(dns_pods))]
        assert r.lookup is not None
        d = self.decider.decide(b.version(dns_pod),
                                lookup_probe(pid, b.client, dns_pod, r.lookup))
        answer = self._dns_exchange(b, dns_pod, r.lookup, "A", d, r.timeout_s, b.start)
        if answer["outcome"] == "ok":
            return None, answer["elapsed_ms"] / 1000
        # The prober resolves with getaddrinfo: any lookup failure is `error`, phase resolve.
        detail = {"dns-timeout": "Temporary failure in name resolution",
                  "dns-refused": "Temporary failure in name resolution",
                  "dns-nxdomain": "Name or service not known"}[answer["outcome"]]
        return ({"outcome": "error", "error": f"cannot resolve {r.host!r}: {detail}",
                 "phase": "resolve"}, answer["elapsed_ms"] / 1000)

    def _dns_probe(self, b: Batch, pid: str, r: Route) -> dict[str, Any]:
        assert r.dns is not None and r.dest_pod is not None
        d = self.decider.decide(b.version(r.dest_pod), model_probe(pid, b.client, r))
        return self._dns_exchange(b, r.dest_pod, r.dns.name, r.dns.qtype, d, r.timeout_s,
                                  b.start, server=r.connect_ip, transport=r.transport)

    def _dns_exchange(self, b: Batch, dns_pod: SimPod, name: str, qtype: str, d: Decision,
                      timeout: float, t: float, server: str | None = None,
                      transport: str = "udp") -> dict[str, Any]:
        sport = self._port()
        client = _endpoint(b.client)
        server_ep = _endpoint(dns_pod)
        proto = transport.upper()
        query = Packet(client, server_ep, proto, sport, DNS_PORT)
        reply = Packet(server_ep, client, proto, DNS_PORT, sport)
        base = {"local": f"{b.client.info.ip}:{sport}",
                "remote": f"{server or dns_pod.info.ip}:{DNS_PORT}"}
        answered = {"transport": transport, "elapsed_ms": 1, **base}
        src_node, dst_node = b.client.info.node, dns_pod.info.node
        if d.verdict == "dropped":
            first = replace(query, flags=("SYN",)) if proto == "TCP" else query
            self._drops(b, first, d, timeout, t, src_node, dst_node)
            return {"outcome": "dns-timeout", "error": f"no answer within {timeout:g}s",
                    "transport": transport, "elapsed_ms": round(timeout * 1000), **base}
        if d.verdict == "dns-refused":
            b.flows.append(dns_flow(query, src_node, t, "DROPPED", "EGRESS", response=False,
                                    query=name, qtype=qtype))
            if self.decider.options.dns_reject == "nameError":  # the agent's reject code
                return {"outcome": "dns-nxdomain", "rcode": "NXDOMAIN", **answered}
            return {"outcome": "dns-refused", "rcode": "REFUSED", **answered}
        answers = self._answers(name, qtype)
        rcode = 0 if answers is not None else 3
        if d.l7:
            b.flows.append(dns_flow(query, src_node, t, "FORWARDED", "EGRESS", response=False,
                                    query=name, qtype=qtype))
        self._forward(b, query, reply, t + HOP_S, src_node, dst_node, to_pod=True)
        if d.l7:
            b.flows.append(dns_flow(reply, src_node, t + 4 * HOP_S, "FORWARDED", "EGRESS",
                                    response=True, query=name, qtype=qtype, rcode=rcode,
                                    ips=tuple(answers or ()), ttl=DNS_TTL if answers else 0))
        if answers is None:
            return {"outcome": "dns-nxdomain", "rcode": "NXDOMAIN", **answered}
        return {"outcome": "ok", "rcode": "NOERROR", "answers": answers,
                "ttl": DNS_TTL if answers else None, **answered}

    def _answers(self, name: str, qtype: str) -> list[str] | None:
        """Addresses for `name`; None for NXDOMAIN (an empty list: no record of qtype)."""
        name = name.rstrip(".").lower()
        address = EXTERNAL_TARGETS.get(name)
        if address is None:
            parts = name.split(".")
            if len(parts) >= 3 and parts[2] == "svc":
                key = (parts[1], parts[0])
                address = self.world.services.get(key)
        if address is None:
            return None
        return [address] if qtype == "A" else []

    # ---- connections ------------------------------------------------------------

    def _connect(self, b: Batch, pid: str, r: Route, d: Decision, t: float, spent: float
                 ) -> dict[str, Any]:
        sport = self._port()
        client = _endpoint(b.client)
        server = _endpoint(r.dest_pod) if r.dest_pod else _world(r.dest_ip)
        syn = Packet(client, server, "TCP", sport, r.port, ("SYN",))
        synack = Packet(server, client, "TCP", r.port, sport, ("SYN", "ACK"))
        src_node = b.client.info.node
        dst_node = r.dest_pod.info.node if r.dest_pod else None
        base = {"local": f"{b.client.info.ip}:{sport}", "remote": f"{r.connect_ip}:{r.port}"}
        if d.verdict == "dropped":
            self._drops(b, syn, d, r.timeout_s, t, src_node, dst_node)
            return {"outcome": "timeout", "phase": "connect",
                    "error": f"connect did not complete within {r.timeout_s:g}s",
                    "elapsed_ms": round((spent + r.timeout_s) * 1000), **base}
        if d.auth == "required":
            pair = (client.identity, server.identity)
            if pair not in self.authenticated:
                self.authenticated.add(pair)
                node = dst_node if d.direction == "INGRESS" and dst_node else src_node
                b.flows.append(self._drop(syn, node, t, "AUTH_REQUIRED", d.direction or "INGRESS",
                                          "SPIRE"))
                spent += AUTH_HANDSHAKE_S
                t += AUTH_HANDSHAKE_S
        if not self._listening(r):
            rst = replace(synack, flags=("RST", "ACK"))
            self._forward(b, syn, rst, t, src_node, dst_node, to_pod=r.dest_pod is not None)
            return {"outcome": "refused", "error": "connection refused", "phase": "connect",
                    "elapsed_ms": round(spent * 1000) + 1, **base}
        self._forward(b, syn, synack, t, src_node, dst_node, to_pod=r.dest_pod is not None)
        elapsed = round(spent * 1000) + SERVE_MS
        if r.kind == "tcp":
            return {"outcome": "ok", "elapsed_ms": elapsed, **base}
        if d.reset:  # serverNames refused the SNI, or its absence (plain HTTP, gRPC)
            return {**self._sni_reset(b, r, d, sport, t, src_node, dst_node),
                    "elapsed_ms": elapsed, **base}
        if r.kind == "tls":
            return {**self._tls(b, r, pid, sport), "elapsed_ms": elapsed, **base}
        return {**self._request(b, r, d, pid, sport, t, src_node, dst_node), "elapsed_ms": elapsed,
                **base}

    def _ping(self, b: Batch, r: Route, d: Decision, t: float, spent: float) -> dict[str, Any]:
        """One echo request from the client's ICMP socket (the prober sends one, never
        retries): the reply, or one drop by the deciding side and a timeout."""
        ident = self._port()  # the socket's echo identifier
        client = _endpoint(b.client)
        server = _endpoint(r.dest_pod) if r.dest_pod else _world(r.dest_ip)
        echo = Packet(client, server, "ICMPv4", ident, 0, ("8",))
        reply = Packet(server, client, "ICMPv4", 0, ident, ("0",))
        src_node = b.client.info.node
        dst_node = r.dest_pod.info.node if r.dest_pod else None
        base = {"local": f"{b.client.info.ip}:{ident}", "remote": f"{r.connect_ip}:0"}
        if d.verdict == "dropped":
            self._drops(b, echo, d, min(r.timeout_s, SYN_RETRIES_AT_S[1]), t, src_node,
                        dst_node)
            return {"outcome": "timeout", "phase": "connect",
                    "error": f"connect did not complete within {r.timeout_s:g}s",
                    "elapsed_ms": round((spent + r.timeout_s) * 1000), **base}
        self._forward(b, echo, reply, t, src_node, dst_node, to_pod=r.dest_pod is not None)
        return {"outcome": "ok", "icmp_id": ident, "elapsed_ms": round(spent * 1000) + 1,
                **base}

    def _request(self, b: Batch, r: Route, d: Decision, pid: str, sport: int, t: float,
                 src_node: str, dst_node: str | None) -> dict[str, Any]:
        denied = d.verdict == "l7-denied"
        if r.grpc is not None:
            method, path, proto = "POST", r.grpc.path, "HTTP/2"
            status = 403 if denied else 200
            if denied:
                # Envoy's local reply is trailers-only: HTTP 200, grpc-status 7.
                outcome: dict[str, Any] = {"outcome": "grpc-error",
                                           "grpc_code": "PERMISSION_DENIED",
                                           "http_status": 200,
                                           "grpc_message": "Access denied"}
            elif r.fqdn is None and (r.dest_pod is None or r.dest_pod.serves(r.port) != "grpc"):
                outcome = {"outcome": "error", "error": "grpc: server does not speak HTTP/2"}
            elif (r.dest_pod is not None and r.dest_pod.standin) or (
                    r.grpc.service == "api.AccountService" and r.grpc.method in GRPC_METHODS):
                outcome = {"outcome": "ok", "grpc_code": "OK", "http_status": 200}
                self._log(r, "grpc", method, path, "OK", pid, f"{b.client.info.ip}:{sport}")
            else:
                outcome = {"outcome": "grpc-error", "grpc_code": "UNIMPLEMENTED",
                           "http_status": 200, "grpc_message": f"Method not found: {path}"}
        else:
            assert r.http is not None
            method, path, proto = r.http.method, r.http.path, "HTTP/1.1"
            if denied:
                status, body = 403, ACCESS_DENIED_BODY
            else:
                status, body = self._app(b, r, pid, f"{b.client.info.ip}:{sport}")
            content_type = "text/plain" if denied else "application/json"
            outcome = {"outcome": "ok" if 200 <= status < 300 else "http-error",
                       "status": status,
                       "headers": {"content-type": content_type,
                                   "content-length": str(len(body.encode()))},
                       "body": body}
        if d.l7 or denied:
            client = _endpoint(b.client)
            server = _endpoint(r.dest_pod) if r.dest_pod else _world(r.dest_ip)
            req = Packet(client, server, "TCP", sport, r.port)
            resp = Packet(server, client, "TCP", r.port, sport)
            direction = d.direction or ("INGRESS" if r.dest_pod else "EGRESS")
            node = dst_node if direction == "INGRESS" and dst_node else src_node
            scheme = _scheme(r)
            url = f"{scheme}://{r.host}:{r.port}{path}"
            headers = _request_headers(r, pid)
            b.flows.append(http_flow(req, node, t + 5 * HOP_S, "DROPPED" if denied else
                                     "FORWARDED", direction, response=False, method=method,
                                     url=url, protocol=proto, headers=headers))
            # Cilium's response record repeats the request's headers (probe id included).
            b.flows.append(http_flow(resp, node, t + 9 * HOP_S, "FORWARDED", direction,
                                     response=True, method=method, url=url, protocol=proto,
                                     headers=headers, code=status,
                                     latency_ns=SERVE_MS * 1_000_000))
        return outcome

    def _sni_reset(self, b: Batch, r: Route, d: Decision, sport: int, t: float,
                   src_node: str, dst_node: str | None) -> dict[str, Any]:
        """Envoy refusing the connection's SNI.

        Envoy's listener reads the ClientHello first (tls_inspector, which the agent always
        puts first: cilium `pkg/envoy/xds_server.go` getListenerConf); the cilium.network
        filter finds no rule for the SNI (none for plain HTTP), logs a Denied access-log
        entry and closes with AbortReset before any upstream connection (cilium/proxy
        `cilium/network_filter.cc` Instance::onNewConnection/enforceNetworkPolicy): the
        client sees a reset and the app nothing. The entry has no L7 part: Hubble shows one
        DROPPED L7 REQUEST without a record (flows.l7_record_less_flow), no response, and
        the endpoint's proxy statistics count it denied (`pkg/endpoint`
        UpdateProxyStatistics: cilium_policy_l7_total rule=denied).
        """
        client = _endpoint(b.client)
        server = _endpoint(r.dest_pod) if r.dest_pod else _world(r.dest_ip)
        direction = d.direction or ("INGRESS" if r.dest_pod else "EGRESS")
        node = dst_node if direction == "INGRESS" and dst_node else src_node
        b.flows.append(l7_record_less_flow(Packet(client, server, "TCP", sport, r.port), node,
                                           t + 5 * HOP_S, "DROPPED", direction))
        phase = "tls" if r.kind == "tls" else "response"
        return {"outcome": "reset", "phase": phase,
                "error": f"connection reset by peer during {phase}"}

    def _tls(self, b: Batch, r: Route, pid: str, sport: int) -> dict[str, Any]:
        """An allowed TLS probe: the ClientHello passes through (tcp_proxy) and Envoy logs
        nothing for it (only L7 LB connections are logged), so there is no L7 flow; the app
        logs the handshake's SNI (account-service's sni_callback), then the GET."""
        sni = r.tls.sni if r.tls is not None else None
        speaks_tls = r.dest_pod.serves(r.port) == "tls" if r.dest_pod else r.port == 443
        if not speaks_tls:
            return {"outcome": "error", "phase": "tls",
                    "error": "TLS handshake failed: [SSL: WRONG_VERSION_NUMBER] wrong version "
                             "number"}
        if r.dest_pod is not None:
            self.app_logs.setdefault(r.dest_pod.info.name, []).append(json.dumps(
                {"event": "tls-handshake", "served_by": r.dest_pod.info.name,
                 "sni": sni or ""}, sort_keys=True))
        status, body = self._app(b, r, pid, f"{b.client.info.ip}:{sport}")
        return {"outcome": "ok" if 200 <= status < 300 else "http-error", "sni": sni or "",
                "status": status, "body": body}

    def _app(self, b: Batch, r: Route, pid: str, local: str) -> tuple[int, str]:
        """What account-service (or the external role) answers: the echo of the request."""
        assert r.http is not None
        path = r.http.path.split("?", 1)[0]
        status, name = 404, None
        matched = [(m, n) for m, pattern, n in APP_ROUTES if re.fullmatch(pattern, path)]
        if r.dest_pod is not None and r.dest_pod.standin:  # every route, every method
            matched = [(r.http.method, STANDIN_ROUTE)]
        if matched:
            status = 405
            for method, route_name in matched:
                if method == r.http.method:
                    status, name = 200, route_name
        headers = {"Host": r.http.host or r.host, "User-Agent": PROBER_USER_AGENT,
                   "X-Probe-Id": pid}
        headers = {k: v for k, v in headers.items()
                   if k.lower() not in {h.lower() for h in r.http.headers}}
        headers.update(r.http.headers)
        headers["Connection"] = "close"
        if r.body or r.http.method in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len((r.body or "").encode()))
        self._log(r, _scheme(r), r.http.method, r.http.path,
                  status, pid, local)
        echo = {
            "route": name, "method": r.http.method, "path": r.http.path, "headers": headers,
            "body": r.body or "", "probe_id": pid,
            "served_by": r.dest_pod.info.name if r.dest_pod else (r.fqdn or r.dest_ip),
            "client": local, "protocol": _scheme(r),
            "data": {} if name else {"error": f"no route for {path}"},
        }
        return status, json.dumps(echo)

    def _log(self, r: Route, protocol: str, method: str, path: str, status: int | str,
             pid: str, client: str) -> None:
        if r.dest_pod is None:
            return  # the off-cluster targets' logs are not read
        line = json.dumps({"event": "request", "protocol": protocol, "method": method,
                           "path": path, "status": status, "probe_id": pid,
                           "client": client, "served_by": r.dest_pod.info.name},
                          sort_keys=True)
        self.app_logs.setdefault(r.dest_pod.info.name, []).append(line)

    def _listening(self, r: Route) -> bool:
        if r.dest_pod is None:
            return r.port in EXTERNAL_PORTS
        if r.dest_pod.app == "coredns":
            return r.port == DNS_PORT
        return r.dest_pod.serves(r.port) is not None

    # ---- flow helpers -------------------------------------------------------------

    def _drops(self, b: Batch, packet: Packet, d: Decision, timeout: float, t: float,
               src_node: str, dst_node: str | None) -> None:
        """Every attempt within the timeout is dropped by the deciding side."""
        direction = d.direction or "EGRESS"
        reason = d.drop_reason or "POLICY_DENIED"
        node = dst_node if direction == "INGRESS" and dst_node else src_node
        auth = "TEST_ALWAYS_FAIL" if reason == "AUTH_REQUIRED" else None
        for offset in (o for o in SYN_RETRIES_AT_S if o < timeout):
            if direction == "INGRESS" and node != src_node:
                b.flows.append(trace_flow(packet, src_node, t + offset, "EGRESS",
                                          is_reply=False, to_endpoint=False))
            b.flows.append(self._drop(packet, node, t + offset + HOP_S, reason, direction, auth))

    def _drop(self, packet: Packet, node: str, t: float, reason: str, direction: str,
              auth: str | None) -> dict[str, Any]:
        if self.wrong_reason:
            reason = WRONG_REASON.get(reason, reason)
        return drop_flow(packet, node, t, reason, direction, auth_type=auth)

    def _forward(self, b: Batch, out: Packet, back: Packet, t: float, src_node: str,
                 dst_node: str | None, to_pod: bool) -> None:
        b.flows.append(trace_flow(out, src_node, t, "EGRESS", is_reply=False,
                                  to_endpoint=False))
        if to_pod and dst_node is not None:
            b.flows.append(trace_flow(out, dst_node, t + HOP_S, "INGRESS", is_reply=False,
                                      to_endpoint=True))
            b.flows.append(trace_flow(back, dst_node, t + 2 * HOP_S, "INGRESS", is_reply=True,
                                      to_endpoint=False))
        b.flows.append(trace_flow(back, src_node, t + 3 * HOP_S, "EGRESS", is_reply=True,
                                  to_endpoint=True))

    def _port(self) -> int:
        return self.rng.randint(*EPHEMERAL_PORTS)


def _scheme(r: Route) -> str:
    """How the app saw the request: over TLS (a TLS probe, or the external role's 443)."""
    return "https" if r.kind == "tls" or r.port == 443 else "http"


def _request_headers(r: Route, pid: str) -> dict[str, str]:
    """The headers the prober sends (issue 2: the probe id on every HTTP/gRPC request)."""
    if r.grpc is not None:
        return {"content-type": "application/grpc", "te": "trailers",
                "user-agent": "grpc-python", "x-probe-id": pid}
    assert r.http is not None
    sent = {"User-Agent": PROBER_USER_AGENT, "X-Probe-Id": pid}
    lower = {k.lower() for k in r.http.headers}
    return {**{k: v for k, v in sent.items() if k.lower() not in lower}, **r.http.headers}


def _endpoint(pod: SimPod) -> Endpoint:
    return Endpoint(ip=pod.info.ip, identity=pod.identity, labels=tuple(pod.identity_labels),
                    namespace=pod.info.namespace, pod_name=pod.info.name,
                    endpoint_id=pod.endpoint_id, workload=pod.app,
                    workload_kind=pod.workload_kind)


def _world(ip: str) -> Endpoint:
    return Endpoint(ip=ip, identity=IDENTITY_WORLD, labels=("reserved:world",))
