"""A bare TCP connect: to every pod of an app, or to an off-cluster name (`to_namespace`
empty), looked up through the pod's resolver or, with `by_ip`, straight to its address."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conformance.harness.attempt import Attempt
from conformance.harness.requests.base import RequestKind, source_pod
from conformance.model.probe import Entity, Fqdn, Pod, Probe
from conformance.vocabulary import capabilities as cap

if TYPE_CHECKING:
    from conformance.harness.planning import Workspace
    from conformance.harness.spec import Cell, Request


class Tcp(RequestKind):
    name = "tcp"

    def label(self, r: Request, dest: str) -> str:
        return f"TCP {'ip-of ' if r.by_ip else ''}{r.to}:{r.port}"

    def is_fqdn(self, r: Request) -> bool:
        return not r.to_namespace

    def capability_tags(self, r: Request, *, proxied: bool) -> tuple[str, ...]:
        if not self.is_fqdn(r):
            return self.tags
        # the prober resolves a name first (not by IP): its lookup can be refused
        return (*self.tags, cap.FQDN, *(() if r.by_ip else (cap.DNS,)))

    def model_probe(self, r: Request, source: Pod | Entity, probe_id: str) -> Probe:
        if self.is_fqdn(r):
            return Probe(id=probe_id, source=source, destination=Fqdn(r.to), port=r.port)
        return super().model_probe(r, source, probe_id)

    def prober_request(self, r: Request, host: str, timeout: float) -> dict[str, Any]:
        return {"kind": "tcp", "host": host, "port": r.port, "timeout": timeout}

    def attempts(self, cell: Cell, prefix: str, ws: Workspace) -> list[Attempt]:
        r = cell.request
        if not self.is_fqdn(r):
            return super().attempts(cell, prefix, ws)
        source = source_pod(cell, ws)
        ip = ws.facts.external_targets[r.to]
        host = ip if r.by_ip else r.to + "."  # absolute: no resolv.conf search list
        return [Attempt(cell, f"{prefix}.0", source, None,
                        self.prober_request(r, host, ws.options.probe_timeout),
                        destination_ip=ip)]
