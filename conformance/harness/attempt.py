"""One concrete request of a cell: a real source pod to a real destination.

Its own module (re-exported by planning.py) so the request kinds, which build attempts,
need nothing of planning.py or spec.py at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from conformance.harness.cluster import PodInfo
from conformance.harness.hubble import Socket, split_hostport

if TYPE_CHECKING:
    from conformance.harness.spec import Cell


@dataclass
class Attempt:
    """One concrete request of a cell (a cell to account-service has one per replica)."""

    cell: Cell
    id: str
    source: PodInfo | None
    target: PodInfo | None
    probe: dict[str, Any] | None  # prober JSON; None for kubelet cells (not ours to send)
    via_service: bool = False  # sent to a Service address (DNS): flows show the backend
    answer_ip: str | None = None  # a DNS answer that must name this (hermetic target) IP
    destination_ip: str | None = None  # an off-cluster target's IP
    result: dict[str, Any] | None = None

    def socket(self) -> Socket:
        result = self.result or {}
        ip = self.target.ip if self.target else self.destination_ip
        dest_ips = frozenset([ip]) if ip else frozenset()
        by_ports = self.cell.request.type.flows_carry_ports
        return Socket(
            probe_id=self.id,
            source_ip=self.source.ip if self.source else "",
            local=split_hostport(result.get("local")) if by_ports else None,
            remote=split_hostport(result.get("remote")) if by_ports else None,
            destination_ips=dest_ips,
            port=self.cell.request.port,
            via_service=self.via_service,
            icmp=not by_ports,
        )

    def path_kind(self) -> str:
        if self.source is None or self.target is None:
            return ""
        return "same-node" if self.source.node == self.target.node else "cross-node"
