"""The request kinds a cell can make, by name: the only place a kind's name decides
anything. Adding a kind is one module with a `RequestKind` subclass plus its line in
KINDS (README "Extending")."""

from __future__ import annotations

from conformance.harness.requests.base import (
    DNS_PORT,
    GRPC_SERVICE,
    KUBE_DNS,
    RequestKind,
    workload_pod,
)
from conformance.harness.requests.dns import Dns
from conformance.harness.requests.grpc import Grpc
from conformance.harness.requests.http import Http
from conformance.harness.requests.icmp import ICMP_ECHO_REQUEST, Icmp
from conformance.harness.requests.kubelet import Kubelet
from conformance.harness.requests.tcp import Tcp

KINDS: dict[str, RequestKind] = {k.name: k for k in (
    Http(), Grpc(), Dns(), Tcp(), Icmp(), Kubelet(),
)}


class UnknownRequestKind(ValueError):
    """A request of a kind no module registers; names it and the known ones."""


def kind_named(name: str) -> RequestKind:
    try:
        return KINDS[name]
    except KeyError:
        raise UnknownRequestKind(
            f"request kind {name!r} is not registered in conformance/harness/requests "
            f"(known: {', '.join(sorted(KINDS))})") from None


__all__ = ["DNS_PORT", "GRPC_SERVICE", "ICMP_ECHO_REQUEST", "KINDS", "KUBE_DNS",
           "RequestKind", "UnknownRequestKind", "kind_named", "workload_pod"]
