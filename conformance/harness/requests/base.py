"""What every request kind says about itself; the kinds live one per module beside this.

A kind owns the facts that used to be `if kind == ...` branches: its label in a cell id,
the policy model's probe, the `prober run` JSON, the attempts a cell makes, the Hubble
flows an L7 verdict shows, whether the request reaches the application, and what an
allowed answer must carry. Nothing here imports spec.py or planning.py at run time
(both import this package).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from conformance.harness.attempt import Attempt
from conformance.harness.cluster import ClusterError, PodInfo
from conformance.harness.workload_facts import container_ports, namespace_labels
from conformance.model.probe import Entity, Pod, Probe
from conformance.vocabulary import capabilities as cap

if TYPE_CHECKING:
    from conformance.harness.planning import Workspace
    from conformance.harness.spec import Cell, Request

DNS_PORT = 53
GRPC_SERVICE = "api.AccountService"
KUBE_DNS = Pod(namespace="kube-system", labels={"k8s-app": "kube-dns"})


def workload_pod(namespace: str, app: str) -> Pod:
    """The model's view of a suite pod: its app label, named ports and namespace labels."""
    return Pod(namespace=namespace, labels={"app": app}, ports=container_ports(app),
               namespace_labels=namespace_labels(namespace))


class RequestKind(ABC):
    """Defaults for a request sent by the prober from one source pod to every pod of the
    destination app; a kind overrides what differs."""

    name: ClassVar[str]
    # The request reaches account-service, whose access log then names its probe id.
    reaches_app: ClassVar[bool] = False
    # Enforced by the L7 proxy (Envoy, or the DNS proxy): needs the l7-proxy feature.
    l7: ClassVar[bool] = False
    # Hubble's flows of this kind carry ports; ICMP's carry type and code instead
    # (flow.proto ICMPv4), so its attempts are matched by addresses and protocol.
    flows_carry_ports: ClassVar[bool] = True
    # An L7 deny: the codes of the proxy's RESPONSE flow (REFERENCE evidence table).
    denied_response_codes: ClassVar[tuple[int, ...]] = (403,)
    denied_response_note: ClassVar[str] = ""  # why the codes are what they are, if odd
    # An allowed L7 request: the L7 record Hubble shows, "REQUEST" or "DNS".
    forwarded_l7: ClassVar[str] = "REQUEST"

    # Capability tags (capabilities.py): always carried, and added when the L7 proxy
    # decides the cell (an L7 deny, or an allowed request with an L7 record).
    tags: ClassVar[tuple[str, ...]] = (cap.L3L4,)
    proxied_tag: ClassVar[str | None] = None
    # The cell is judged by its own Hubble flow (the kubelet's by the access log and Ready).
    own_flow: ClassVar[bool] = True

    @abstractmethod
    def label(self, r: Request, dest: str) -> str:
        """The request as a cell id shows it, going to `dest`."""

    def capability_tags(self, r: Request, *, proxied: bool) -> tuple[str, ...]:
        extra = (self.proxied_tag,) if proxied and self.proxied_tag else ()
        return (*self.tags, *extra)

    def model_probe(self, r: Request, source: Pod | Entity, probe_id: str) -> Probe:
        dest = workload_pod(r.to_namespace, r.to)
        return Probe(id=probe_id, source=source, destination=dest, port=r.port)

    @abstractmethod
    def prober_request(self, r: Request, host: str, timeout: float) -> dict[str, Any] | None:
        """The `prober run` JSON for one request to `host` (an IP, or a name to resolve);
        the prober adds the id as the X-Probe-Id header / x-probe-id metadata itself."""

    def is_fqdn(self, r: Request) -> bool:
        """The destination is an off-cluster name (needs a hermetic target)."""
        return False

    def attempts(self, cell: Cell, prefix: str, ws: Workspace) -> list[Attempt]:
        r, timeout = cell.request, ws.options.probe_timeout
        source = source_pod(cell, ws)
        out = [Attempt(cell, f"{prefix}.{i}", source, target,
                       self.prober_request(r, target.ip, timeout))
               for i, target in enumerate(ws.app_pods(r.to_namespace, r.to))]
        if not out:
            raise ClusterError(f"no {r.to} pod in {r.to_namespace} to probe")
        return out

    def echo(self, a: Attempt) -> dict[str, str] | None:
        """What an allowed answer's body must echo to prove it reached the app."""
        return None

    def answer_ip(self, a: Attempt) -> str | None:
        """The address an allowed answer must name."""
        return None


def source_pod(cell: Cell, ws: Workspace) -> PodInfo:
    sources = ws.app_pods(cell.source.namespace, cell.source.app)
    if not sources:
        raise ClusterError(f"no {cell.source.app} pod in {cell.source.namespace}")
    return sources[0]
