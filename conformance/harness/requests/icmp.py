"""An ICMP echo request (IPv4) to every pod of an app, from an unprivileged ICMP socket."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conformance.harness.requests.base import RequestKind, workload_pod
from conformance.model.probe import Entity, Pod, Probe
from conformance.vocabulary import capabilities as cap

if TYPE_CHECKING:
    from conformance.harness.spec import Request

ICMP_ECHO_REQUEST = 8  # the model's ICMP "port" is the type (conformance/model/icmp.py)


class Icmp(RequestKind):
    name = "icmp"
    tags = (cap.L3L4, cap.ICMP)
    flows_carry_ports = False

    def label(self, r: Request, dest: str) -> str:
        return f"ICMP echo -> {dest}"

    def model_probe(self, r: Request, source: Pod | Entity, probe_id: str) -> Probe:
        return Probe(id=probe_id, source=source, destination=workload_pod(r.to_namespace, r.to),
                     port=ICMP_ECHO_REQUEST, protocol="ICMP")

    def prober_request(self, r: Request, host: str, timeout: float) -> dict[str, Any]:
        return {"kind": "icmp", "host": host, "family": "ipv4", "timeout": timeout}
