"""An A query through the cluster DNS Service, answered (or refused) by the DNS proxy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conformance.harness.attempt import Attempt
from conformance.harness.requests.base import (
    DNS_PORT,
    KUBE_DNS,
    RequestKind,
    source_pod,
)
from conformance.model.probe import DnsQuery, Entity, Pod, Probe
from conformance.vocabulary import capabilities as cap

if TYPE_CHECKING:
    from conformance.harness.planning import Workspace
    from conformance.harness.spec import Cell, Request


class Dns(RequestKind):
    name = "dns"
    tags = (cap.L3L4, cap.DNS)
    l7 = True
    forwarded_l7 = "DNS"

    def label(self, r: Request, dest: str) -> str:
        return f"DNS A {r.dns_name}"

    def model_probe(self, r: Request, source: Pod | Entity, probe_id: str) -> Probe:
        return Probe(id=probe_id, source=source, destination=KUBE_DNS, port=DNS_PORT,
                     protocol="UDP", dns=DnsQuery(r.dns_name))

    def prober_request(self, r: Request, host: str, timeout: float) -> dict[str, Any]:
        return {"kind": "dns", "name": host, "qtype": "A", "timeout": timeout}

    def attempts(self, cell: Cell, prefix: str, ws: Workspace) -> list[Attempt]:
        r = cell.request
        source = source_pod(cell, ws)
        # In-cluster names carry a canonical namespace label: use the worker's.
        name = ".".join(ws.namespaces.get(part, part) for part in r.dns_name.split("."))
        return [Attempt(cell, f"{prefix}.0", source, None,
                        self.prober_request(r, name, ws.options.probe_timeout),
                        via_service=True, answer_ip=ws.facts.external_targets.get(r.dns_name))]

    def answer_ip(self, a: Attempt) -> str | None:
        return a.answer_ip
