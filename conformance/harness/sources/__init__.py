"""The evidence sources a batch gathers, in the order they are started, polled and asked
for checks. Adding one is a module with a class following `EvidenceSource` plus its line
in SOURCES (README "Extending")."""

from __future__ import annotations

from collections.abc import Callable

from conformance.harness.sources.app_log import AppLog
from conformance.harness.sources.base import EvidenceSource, Judged, Quiet
from conformance.harness.sources.client import Client
from conformance.harness.sources.counters import Counters
from conformance.harness.sources.flows import Flows
from conformance.harness.sources.kubelet import Kubelet

# Fresh instances per batch. Order: a source may read one registered before it.
SOURCES: tuple[Callable[[], EvidenceSource], ...] = (Client, AppLog, Flows, Counters, Kubelet)


def new_sources() -> list[EvidenceSource]:
    return [make() for make in SOURCES]


__all__ = ["SOURCES", "AppLog", "Client", "Counters", "EvidenceSource", "Flows", "Judged",
           "Kubelet", "Quiet", "new_sources"]
