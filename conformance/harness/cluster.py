"""The one small interface of the cluster client (kube.py, KubeCluster).

The check layer (scenarios, evidence joining, policy waits) talks only to this
interface; kind, existing clusters and the emulated cluster (`--cluster=simulated`,
clusters/emulated) are all reached through the same client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

# The shared vocabulary (conformance/vocabulary), re-exported: the check layer names
# features and workloads through this interface; clusters/ imports the vocabulary itself.
from conformance.vocabulary.features import FEATURE_FQDN_TARGETS as FEATURE_FQDN_TARGETS
from conformance.vocabulary.features import FEATURE_HUBBLE_METRICS as FEATURE_HUBBLE_METRICS
from conformance.vocabulary.features import FEATURE_HUBBLE_RELAY as FEATURE_HUBBLE_RELAY
from conformance.vocabulary.features import FEATURE_KPR as FEATURE_KPR
from conformance.vocabulary.features import FEATURE_L7_PROXY as FEATURE_L7_PROXY
from conformance.vocabulary.features import FEATURE_MUTUAL_AUTH as FEATURE_MUTUAL_AUTH
from conformance.vocabulary.pods import PodInfo as PodInfo
from conformance.vocabulary.workloads import ACCOUNT_SERVICE as ACCOUNT_SERVICE
from conformance.vocabulary.workloads import AUDIT_LOGGER as AUDIT_LOGGER
from conformance.vocabulary.workloads import GRPC_PORT as GRPC_PORT
from conformance.vocabulary.workloads import HTTP_PORT as HTTP_PORT
from conformance.vocabulary.workloads import PAYMENT_PROCESSOR as PAYMENT_PROCESSOR
from conformance.vocabulary.workloads import TLS_PORT as TLS_PORT
from conformance.vocabulary.workloads import WORKLOAD_APPS as WORKLOAD_APPS


class ClusterError(RuntimeError):
    """A cluster problem worth one clear paragraph (unreachable, feature missing, ...)."""


class PolicyRejected(ClusterError):
    """The API server refused a policy; the message is the server's."""


@dataclass(frozen=True)
class ClusterFacts:
    cilium_version: str  # e.g. "1.20.0"
    features: frozenset[str]
    dns_server: str  # "ip:port" of the kube-dns Service, what pods' resolv.conf names
    # Hermetic off-cluster targets: FQDN -> IP (ports 80 plain HTTP, 443 TLS).
    external_targets: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EndpointRevision:
    node: str
    endpoint_id: int
    has_identity: bool
    policy_revision: int  # status.policy.realized["policy-revision"]
    proxy_policy_revision: int  # status.policy["proxy-policy-revision"] (beside `realized`)
    labels: tuple[str, ...] = ()  # status.identity.labels, e.g. "k8s:app=account-service"


@dataclass(frozen=True)
class AgentPolicy:
    """One agent's answer to `cilium-dbg policy get -o json`: its repository revision and
    the uids of the objects whose rules it holds, read from one answer."""

    node: str
    revision: int
    uids: frozenset[str]


@dataclass(frozen=True)
class NamespaceInfo:
    """A namespace as listed: its labels and creation time (metadata.creationTimestamp as
    epoch seconds), what telling a live run's objects from stale ones needs."""

    name: str
    labels: dict[str, str]
    created: float


@dataclass(frozen=True)
class MetricsScrape:
    node: str
    port: int  # 9965 Hubble metrics, 9962 agent metrics
    text: str  # Prometheus text exposition, as served


class FlowFollower(Protocol):
    """A running GetFlows stream from Hubble Relay (`hubble observe --follow -o jsonpb`
    lines), started before traffic is sent."""

    def lines(self) -> list[str]:
        """Every raw line received so far (a copy), in arrival order."""
        ...

    def error(self) -> str | None:
        """Why the stream ended before close(), once it has; None while it runs."""
        ...

    def close(self) -> None: ...


class Cluster(Protocol):
    def facts(self) -> ClusterFacts: ...

    def deploy_workloads(self, namespace: str, labels: Mapping[str, str] | None = None,
                         docs: list[dict[str, Any]] | None = None,
                         key: str = "app") -> list[PodInfo]:
        """Create the namespace (if needed; with `labels` besides
        app.kubernetes.io/part-of=zt-conformance) with account-service (2 replicas,
        spread over nodes), payment-processor and audit-logger — or the Deployments `docs`
        (own-policies stand-ins), whose pods carry label `key` — and wait until all are
        Ready."""
        ...

    def list_namespaces(self, label_selector: str) -> list[NamespaceInfo]:
        """Namespaces matching a Kubernetes label selector (`key=value,key`)."""
        ...

    def delete_namespace(self, namespace: str) -> None: ...

    def pods_ready(self, namespace: str) -> dict[str, bool]:
        """Pod name -> Ready condition (kubelet probes come from the host entity)."""
        ...

    def apply(self, docs: list[dict[str, Any]]) -> list[str]:
        """Create or replace policy objects (server-side apply); their uids, in order.
        Raise PolicyRejected with the server's words."""
        ...

    def delete(self, docs: list[dict[str, Any]]) -> list[str]:
        """Delete policy objects; the uids of those that existed."""
        ...

    def agent_policies(self) -> list[AgentPolicy]:
        """Every agent's policy repository: revision and object uids, one answer each."""
        ...

    def endpoint_revisions(self) -> list[EndpointRevision]: ...

    def run_probes(self, pod: PodInfo, probes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run one batch with `prober run` inside `pod` (one exec per batch); the prober's
        JSON result array, same order."""
        ...

    def app_log(self, pod: PodInfo) -> list[str]:
        """The pod's application log (account-service's access log: one JSON line per
        request that reached the app), as lines, oldest first."""
        ...

    def follow_flows(self, namespaces: list[str]) -> FlowFollower: ...

    def scrape_metrics(self) -> list[MetricsScrape]:
        """One scrape per agent and port (9965 and 9962)."""
        ...

    def close(self) -> None: ...
