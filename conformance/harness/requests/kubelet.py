"""The kubelet's readiness probe: not sent by the suite, observed through the target's
access log and Ready condition (conformance/harness/sources/kubelet.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conformance.harness.attempt import Attempt
from conformance.harness.requests.base import RequestKind
from conformance.harness.requests.http import Http
from conformance.model.probe import Entity, Pod, Probe
from conformance.vocabulary import capabilities as cap

if TYPE_CHECKING:
    from conformance.harness.planning import Workspace
    from conformance.harness.spec import Cell, Request


class Kubelet(RequestKind):
    """Modelled as the HTTP GET it is (from the host entity); never sent by the prober.
    It reaches the app but carries no probe id: the kubelet source judges it."""

    name = "kubelet"
    tags = (cap.L3L4, cap.KUBELET)
    own_flow = False  # judged from the access log and Ready, not its own flow

    def label(self, r: Request, dest: str) -> str:
        return f"readiness GET {r.path} -> {dest}:{r.port}"

    def model_probe(self, r: Request, source: Pod | Entity, probe_id: str) -> Probe:
        return Http().model_probe(r, source, probe_id)

    def prober_request(self, r: Request, host: str, timeout: float) -> dict[str, Any] | None:
        return None

    def attempts(self, cell: Cell, prefix: str, ws: Workspace) -> list[Attempt]:
        r = cell.request
        targets = ws.app_pods(r.to_namespace, r.to)
        return [Attempt(cell, f"{prefix}.{i}", None, t, None) for i, t in enumerate(targets)]
