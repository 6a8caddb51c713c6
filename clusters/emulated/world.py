"""The simulated cluster's fabricated topology: nodes, pods, Services, identities, targets.

Every address is fabricated and never used on a network:
- node IPs 198.18.0.0/24, pod IPs 198.18.<node>.0/24 then further /24 blocks (RFC 2544
  benchmarking range; pod_ip),
- Service ClusterIPs 198.19.0.0/16 (same range), kube-dns at 198.19.0.10,
- hermetic "internet" targets 203.0.113.0/24 (RFC 5737 TEST-NET-3).
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, field

from conformance.vocabulary.pods import PodInfo
from conformance.vocabulary.workloads import (
    ACCOUNT_SERVICE,
    AUDIT_LOGGER,
    GRPC_PORT,
    HTTP_PORT,
    PAYMENT_PROCESSOR,
    TLS_PORT,
)

# As `clusters up` makes them: one control plane and two workers; workloads on the workers.
NODES = ("sim-control-plane", "sim-worker", "sim-worker2")
WORKER_NODES = NODES[1:]
NODE_IPS = {"sim-control-plane": "198.18.0.4", "sim-worker": "198.18.0.2",
            "sim-worker2": "198.18.0.3"}
POD_SUBNETS = {"sim-control-plane": "198.18.3.", "sim-worker": "198.18.1.",
               "sim-worker2": "198.18.2."}
SERVICE_SUBNET = "198.19."
PODS_PER_BLOCK = 250  # pod addresses per /24 block of a node
MAX_OCTET = 255
KUBE_DNS_IP = "198.19.0.10"
DNS_PORT = 53
CLUSTER_DOMAIN = "cluster.local"
CLUSTER_NAME = "sim"
EXTERNAL_TARGETS = {
    "api.stripe.com": "203.0.113.10",
    "api.braintreegateway.com": "203.0.113.11",
    "api.github.com": "203.0.113.12",
    "api.pastebin.com": "203.0.113.13",
    "api.internal.stripe.com": "203.0.113.14",
}
EXTERNAL_PORTS = (80, 443)
DNS_TTL = 30

# Reserved Cilium identities (numeric values of the real datapath).
IDENTITY_HOST = 1
IDENTITY_WORLD = 2
FIRST_POD_IDENTITY = 10_000

# Pods each worker namespace gets: (app, replicas). account-service spreads over nodes.
WORKLOAD_REPLICAS = ((ACCOUNT_SERVICE, 2), (PAYMENT_PROCESSOR, 1), (AUDIT_LOGGER, 1))
# Ports a workload listens on; anything else answers with a TCP reset (prober: refused).
LISTEN_PORTS = {ACCOUNT_SERVICE: (HTTP_PORT, GRPC_PORT, TLS_PORT)}
SERVICES = {ACCOUNT_SERVICE: (HTTP_PORT, GRPC_PORT, TLS_PORT)}


@dataclass(frozen=True)
class SimPod:
    info: PodInfo
    app: str
    endpoint_id: int
    identity: int
    workload_kind: str = "Deployment"
    # The ports its Deployment declares: (port, "http" | "grpc" | "tls"); empty: LISTEN_PORTS.
    listen: tuple[tuple[int, str], ...] = ()
    standin: bool = False  # account-service --role standin: answers every route and method
    ports: tuple[tuple[str, int, str], ...] = ()  # named container ports (name, port, proto)
    namespace_labels: tuple[tuple[str, str], ...] = ()  # its namespace's labels at creation

    def serves(self, port: int) -> str | None:
        """"http", "grpc" or "tls" (HTTP over TLS) when the pod listens on `port`, else None."""
        if self.listen:
            return next((kind for p, kind in self.listen if p == port), None)
        ports = LISTEN_PORTS.get(self.app, ())
        if port not in ports:
            return None
        return {GRPC_PORT: "grpc", TLS_PORT: "tls"}.get(port, "http")

    @property
    def identity_labels(self) -> list[str]:
        """The labels Cilium derives the identity from, as Hubble prints them."""
        ns = self.info.namespace
        account = "coredns" if ns == "kube-system" else "default"
        out = [f"k8s:{k}={v}" for k, v in self.info.labels.items() if k != "pod-template-hash"]
        # every namespace label, prefixed (cilium.io const.go PodNamespaceMetaLabels)
        out += [f"k8s:io.cilium.k8s.namespace.labels.{k}={v}"
                for k, v in self.namespace_labels if k != "kubernetes.io/metadata.name"]
        out += [
            f"k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name={ns}",
            f"k8s:io.cilium.k8s.policy.cluster={CLUSTER_NAME}",
            f"k8s:io.cilium.k8s.policy.serviceaccount={account}",
            f"k8s:io.kubernetes.pod.namespace={ns}",
        ]
        return sorted(out)


@dataclass
class World:
    """Pods by namespace, Services and identities; deterministic for a seed."""

    rng: random.Random
    pods: dict[str, list[SimPod]] = field(default_factory=dict)
    services: dict[tuple[str, str], str] = field(default_factory=dict)  # (ns, name) -> IP
    _identities: dict[tuple[str, ...], int] = field(default_factory=dict)
    _next_host: dict[str, int] = field(default_factory=dict)
    _next_service: int = 20
    _endpoint_ids: set[int] = field(default_factory=set)

    @classmethod
    def create(cls, seed: int) -> World:
        world = cls(rng=random.Random(seed))
        world.services[("kube-system", "kube-dns")] = KUBE_DNS_IP
        for node in WORKER_NODES:
            world.add_pod("kube-system", "coredns", {"k8s-app": "kube-dns"}, node)
        world.add_pod("kube-system", "hubble-relay", {"k8s-app": "hubble-relay"},
                      WORKER_NODES[0])
        return world

    def add_pod(self, namespace: str, app: str, labels: dict[str, str], node: str,
                listen: tuple[tuple[int, str], ...] = (), standin: bool = False,
                ports: tuple[tuple[str, int, str], ...] = (),
                namespace_labels: tuple[tuple[str, str], ...] = ()) -> SimPod:
        suffix = "".join(self.rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
        host = self._next_host.get(node, 10)
        self._next_host[node] = host + 1
        info = PodInfo(name=f"{app}-7d9f8c6b5-{suffix}", namespace=namespace,
                       labels=dict(labels), ip=pod_ip(node, host), node=node)
        pod = SimPod(info=info, app=app, endpoint_id=self._endpoint_id(),
                     identity=self._identity(namespace, labels), listen=listen,
                     standin=standin, ports=ports, namespace_labels=namespace_labels)
        self.pods.setdefault(namespace, []).append(pod)
        return pod

    def add_workloads(self, namespace: str) -> list[PodInfo]:
        if namespace in self.pods:
            return [p.info for p in self.pods[namespace]]
        for app, replicas in WORKLOAD_REPLICAS:
            for i in range(replicas):
                self.add_pod(namespace, app, {"app": app, "pod-template-hash": "7d9f8c6b5"},
                             WORKER_NODES[i % len(WORKER_NODES)])
        for app in SERVICES:
            self.add_service(namespace, app)
        return [p.info for p in self.pods[namespace]]

    def add_service(self, namespace: str, name: str) -> str:
        """The Service's ClusterIP (allocated once)."""
        if (namespace, name) not in self.services:
            n = self._next_service
            self.services[(namespace, name)] = f"{SERVICE_SUBNET}{n // 250}.{n % 250 + 1}"
            self._next_service += 1
        return self.services[(namespace, name)]

    def remove_namespace(self, namespace: str) -> None:
        for pod in self.pods.pop(namespace, []):
            self._endpoint_ids.discard(pod.endpoint_id)
        for key in [k for k in self.services if k[0] == namespace]:
            del self.services[key]

    def all_pods(self) -> list[SimPod]:
        return [p for pods in self.pods.values() for p in pods]

    def pod_by_ip(self, ip: str) -> SimPod | None:
        return next((p for p in self.all_pods() if p.info.ip == ip), None)

    def pod_for(self, info: PodInfo) -> SimPod | None:
        return next((p for p in self.pods.get(info.namespace, []) if p.info.name == info.name),
                    None)

    def backends(self, namespace: str, service: str) -> list[SimPod]:
        selector = ("k8s-app", "kube-dns") if service == "kube-dns" else ("app", service)
        return [p for p in self.pods.get(namespace, [])
                if p.info.labels.get(selector[0]) == selector[1]]

    def service_by_ip(self, ip: str) -> tuple[str, str] | None:
        return next((k for k, v in self.services.items() if v == ip), None)

    def resolve_service_name(self, name: str, client_namespace: str) -> tuple[str, str] | None:
        """`svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local` -> (ns, svc)."""
        parts = name.rstrip(".").lower().split(".")
        if parts[2:] in (["svc"], ["svc", *CLUSTER_DOMAIN.split(".")]) or len(parts) == 2:
            key = (parts[1], parts[0])
        elif len(parts) == 1:
            key = (client_namespace, parts[0])
        else:
            return None
        return key if key in self.services else None

    def _identity(self, namespace: str, labels: dict[str, str]) -> int:
        key = (namespace, *sorted(f"{k}={v}" for k, v in labels.items()
                                  if k != "pod-template-hash"))
        return self._identities.setdefault(key, FIRST_POD_IDENTITY + len(self._identities) * 7)

    def _endpoint_id(self) -> int:
        while True:
            candidate = self.rng.randrange(100, 4096)
            if candidate not in self._endpoint_ids:
                self._endpoint_ids.add(candidate)
                return candidate


def pod_ip(node: str, host: int) -> str:
    """The node's pod subnet holds 250 pods; more (own-policies stand-ins) go on in further
    /24 blocks of the same range, one block per node in turn (198.18.4-6., 7-9., ...)."""
    block, rest = divmod(host, PODS_PER_BLOCK)
    if block == 0:
        return f"{POD_SUBNETS[node]}{host}"
    third = int(POD_SUBNETS[node].split(".")[2]) + len(POD_SUBNETS) * block
    if third > MAX_OCTET:
        raise ValueError(f"node {node}: no pod address left for pod number {host}")
    return f"198.18.{third}.{rest + 1}"


def is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def external_name_for_ip(ip: str) -> str | None:
    return next((n for n, a in EXTERNAL_TARGETS.items() if a == ip), None)
