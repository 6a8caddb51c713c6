"""SimulatedCluster: an in-process Cluster with no network, decided by the policy model.

It answers probes like the prober, prints Hubble flows like `hubble observe -o jsonpb`
and serves Prometheus text like the agents, so the suite's real parsing, matching and
assertion code runs unchanged against it. A fault bends one behaviour (see FAULTS) so the
self-tests can prove the suite fails when enforcement or evidence breaks, and still
passes when evidence is merely late or slow.

Time: `clock` (monotonic seconds) is injectable; flow timestamps are wall-clock epoch
seconds derived from it. Nothing here sleeps: delays are times in the future at which a
revision moves, an endpoint realizes a policy, or a flow becomes visible to a follower.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from clusters.emulated.decide import CILIUM_VERSION, Decider
from clusters.emulated.flows import line, parse_timestamp
from clusters.emulated.metrics import AGENT_PORT, HUBBLE_PORT, NodeCounters
from clusters.emulated.routes import pod_peer
from clusters.emulated.traffic import Traffic
from clusters.emulated.world import (
    DNS_PORT,
    EXTERNAL_TARGETS,
    KUBE_DNS_IP,
    NODE_IPS,
    NODES,
    World,
)
from conformance.harness.cluster import (
    FEATURE_FQDN_TARGETS,
    FEATURE_HUBBLE_METRICS,
    FEATURE_HUBBLE_RELAY,
    FEATURE_KPR,
    FEATURE_L7_PROXY,
    FEATURE_MUTUAL_AUTH,
    AgentPolicy,
    ClusterError,
    ClusterFacts,
    EndpointRevision,
    MetricsScrape,
    NamespaceInfo,
    PodInfo,
)
from conformance.harness.simulated_policies import DocKey, PolicyStore, doc_key
from conformance.model import evaluate
from conformance.model.probe import Entity, HttpRequest, Probe

FAULTS = ("l7-off", "l3l4-off", "dns-open", "fqdn-broken", "auth-off", "hubble-missing-drops",
          "wrong-drop-reason", "metrics-frozen", "hubble-late", "slow-realization", "jitter")
HUBBLE_LATE_S = 3.0  # hubble-late: every flow reaches followers this long after it happened
SLOW_REALIZATION_S = 5.0  # slow-realization: endpoints realize a new policy this much later
JITTER_MAX_S = 0.5  # jitter: uniform 0..this on apply, realization, probes and flows
ALL_FEATURES = frozenset({FEATURE_L7_PROXY, FEATURE_HUBBLE_RELAY, FEATURE_HUBBLE_METRICS,
                          FEATURE_MUTUAL_AUTH, FEATURE_KPR, FEATURE_FQDN_TARGETS})
READINESS_PATH = "/healthz"
READINESS_PORT = 8080


@dataclass
class _Follower:
    """A `hubble observe --follow --namespace ...` started at `started` (wall clock)."""

    cluster: SimulatedCluster
    namespaces: frozenset[str]
    started: float
    pending: list[tuple[float, str]] = field(default_factory=list)  # (visible at, line)
    received: list[str] = field(default_factory=list)
    closed: bool = False

    def lines(self) -> list[str]:
        with self.cluster._lock:
            now = self.cluster.wall()
            due = sorted((p for p in self.pending if p[0] <= now), key=lambda p: p[0])
            self.pending = [p for p in self.pending if p[0] > now]
            self.received.extend(line for _, line in due)
            return list(self.received)

    def close(self) -> None:
        with self.cluster._lock:
            self.closed = True
            if self in self.cluster._followers:
                self.cluster._followers.remove(self)


PART_OF_LABEL, PART_OF_VALUE = "app.kubernetes.io/part-of", "zt-conformance"


def _selects(term: str, labels: Mapping[str, str]) -> bool:
    if "!=" in term:
        key, value = term.split("!=", 1)
        return labels.get(key.strip()) != value.strip()
    if "=" in term:
        key, value = term.split("=", 1)
        return labels.get(key.strip().rstrip("=")) == value.strip().lstrip("=")
    if term.startswith("!"):
        return term[1:].strip() not in labels
    return term in labels


class SimulatedCluster:
    def __init__(self, fault: str | None = None, seed: int = 0, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown simulated fault {fault!r}; valid faults: "
                             f"{', '.join(FAULTS)}")
        self.fault = fault
        self._clock = clock
        self._mono0 = clock()
        self._epoch0 = time.time()
        self._rng = random.Random(seed)
        self._jitter_rng = random.Random(seed + 1)
        self._lock = threading.RLock()
        self._followers: list[_Follower] = []
        self._namespaces: dict[str, NamespaceInfo] = {}
        self.world = World.create(seed)
        self.policies = PolicyStore(
            nodes=NODES, clock=clock,
            seen_delay=self._jitter,
            realize_delay=lambda: (SLOW_REALIZATION_S if fault == "slow-realization"
                                   else 0.0) + self._jitter())
        self.counters = {n: NodeCounters(n, frozen=fault == "metrics-frozen") for n in NODES}
        self._traffic = Traffic(self.world, Decider(fault), self._rng, self.counters,
                                self._publish, probe_delay=self._jitter,
                                wrong_reason=fault == "wrong-drop-reason")

    # ---- time ---------------------------------------------------------------------

    def wall(self) -> float:
        """Wall-clock epoch seconds on this cluster's clock."""
        return self._epoch0 + (self._clock() - self._mono0)

    def _jitter(self) -> float:
        return self._jitter_rng.uniform(0.0, JITTER_MAX_S) if self.fault == "jitter" else 0.0

    # ---- Cluster interface -----------------------------------------------------------

    def facts(self) -> ClusterFacts:
        return ClusterFacts(cilium_version=CILIUM_VERSION, features=ALL_FEATURES,
                            dns_server=f"{KUBE_DNS_IP}:{DNS_PORT}",
                            external_targets=dict(EXTERNAL_TARGETS))

    def deploy_workloads(self, namespace: str,
                         labels: Mapping[str, str] | None = None) -> list[PodInfo]:
        if not namespace or namespace == "kube-system":
            raise ClusterError(f"deploy_workloads: refusing namespace {namespace!r}")
        with self._lock:
            # Like kube.py: the namespace is created once, labelled as the suite's.
            self._namespaces.setdefault(namespace, NamespaceInfo(
                namespace, {PART_OF_LABEL: PART_OF_VALUE, **(labels or {})}, self.wall()))
            return self.world.add_workloads(namespace)

    def list_namespaces(self, label_selector: str) -> list[NamespaceInfo]:
        """Equality (`k=v`, `k!=v`) and existence (`k`, `!k`) terms, comma-joined: the
        subset of Kubernetes label selectors the suite uses
        (apimachinery pkg/labels/selector.go Parse)."""
        terms = [t.strip() for t in label_selector.split(",") if t.strip()]
        with self._lock:
            return [ns for ns in sorted(self._namespaces.values(), key=lambda n: n.name)
                    if all(_selects(t, ns.labels) for t in terms)]

    def delete_namespace(self, namespace: str) -> None:
        with self._lock:
            self._namespaces.pop(namespace, None)
            self.world.remove_namespace(namespace)

    def pods_ready(self, namespace: str) -> dict[str, bool]:
        """Ready unless policy stops the kubelet's readiness probe (from the host entity)."""
        with self._lock:
            version = self.policies.effective()
            out = {}
            for pod in self.world.pods.get(namespace, []):
                if pod.app != "account-service":  # no readiness probe: Ready once running
                    out[pod.info.name] = True
                    continue
                probe = Probe(id=f"readiness/{pod.info.name}",
                              source=Entity(entity="host"), destination=pod_peer(pod),
                              port=READINESS_PORT,
                              http=HttpRequest(method="GET", path=READINESS_PATH))
                verdict = evaluate(version.policies(), probe, "1.20").verdict
                out[pod.info.name] = verdict == "allowed" or self.fault == "l3l4-off"
            return out

    def apply(self, docs: list[dict[str, Any]]) -> list[str]:
        with self._lock:
            self.policies.apply(docs)
            return [_uid(doc_key(d)) for d in docs]

    def delete(self, docs: list[dict[str, Any]]) -> list[str]:
        with self._lock:
            present = [doc_key(d) for d in docs if doc_key(d) in self.policies.latest.docs]
            self.policies.delete(docs)
            return [_uid(k) for k in present]

    def agent_policies(self) -> list[AgentPolicy]:
        with self._lock:
            return [AgentPolicy(node=node, revision=self.policies.revision(node),
                                uids=frozenset(_uid(k) for k in self.policies.seen(node).docs))
                    for node in NODES]

    def endpoint_revisions(self) -> list[EndpointRevision]:
        with self._lock:
            out = []
            for pod in self.world.all_pods():
                rev = self.policies.realized_revision(pod.info.node)
                out.append(EndpointRevision(node=pod.info.node, endpoint_id=pod.endpoint_id,
                                            has_identity=True, policy_revision=rev,
                                            proxy_policy_revision=rev))
            for i, node in enumerate(NODES):
                # The host endpoint, and one endpoint still waiting for its identity.
                rev = self.policies.realized_revision(node)
                out.append(EndpointRevision(node=node, endpoint_id=1 + i, has_identity=True,
                                            policy_revision=rev, proxy_policy_revision=rev))
                out.append(EndpointRevision(node=node, endpoint_id=4000 + i,
                                            has_identity=False, policy_revision=0,
                                            proxy_policy_revision=0))
            return out

    def run_probes(self, pod: PodInfo, probes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with self._lock:
            client = self.world.pod_for(pod)
            if client is None:
                raise ClusterError(f"exec into pod {pod.namespace}/{pod.name}: pod not found "
                                   "in the simulated cluster (deploy_workloads first)")
            effective = self.policies.effective()
            return self._traffic.run(lambda _c, _d: effective, client, self.wall(), probes)

    def app_log(self, pod: PodInfo) -> list[str]:
        """The access log; each read stands for a kubelet readiness period, so a pod whose
        readiness probe policy lets through gains one GET /healthz line from its node."""
        with self._lock:
            sim = self.world.pod_for(pod)
            if sim is None:
                raise ClusterError(f"log of pod {pod.namespace}/{pod.name}: pod not found in "
                                   "the simulated cluster")
            log = self._traffic.app_logs.setdefault(pod.name, [])
            if sim.app == "account-service" and self.pods_ready(pod.namespace).get(pod.name):
                log.append(json.dumps({
                    "event": "request", "protocol": "http", "method": "GET",
                    "path": READINESS_PATH, "status": 200, "probe_id": None,
                    "client": f"{NODE_IPS[pod.node]}:{32768 + len(log)}",
                    "served_by": pod.name}, sort_keys=True))
            return list(log)

    def follow_flows(self, namespaces: list[str]) -> _Follower:
        with self._lock:
            follower = _Follower(cluster=self, namespaces=frozenset(namespaces),
                                 started=self.wall())
            self._followers.append(follower)
            return follower

    def scrape_metrics(self) -> list[MetricsScrape]:
        with self._lock:
            return [MetricsScrape(node=node, port=port, text=self.counters[node].render(port))
                    for node in NODES for port in (HUBBLE_PORT, AGENT_PORT)]

    def close(self) -> None:
        with self._lock:
            for follower in list(self._followers):
                follower.close()

    # ---- flow delivery ----------------------------------------------------------------

    def _publish(self, flow: dict[str, Any]) -> None:
        if self.fault == "hubble-missing-drops" and flow["verdict"] == "DROPPED":
            return
        happened = parse_timestamp(flow["time"])
        delay = HUBBLE_LATE_S if self.fault == "hubble-late" else self._jitter()
        text = line(flow)
        names = {flow["source"].get("namespace"), flow["destination"].get("namespace")}
        for follower in self._followers:
            if happened >= follower.started and names & follower.namespaces:
                follower.pending.append((happened + delay, text))




def _uid(key: DocKey) -> str:
    """A stable stand-in for the object's metadata.uid."""
    return "sim-" + "-".join(part or "_" for part in key)
