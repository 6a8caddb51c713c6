"""The request kinds a cell can make, by name: the only place a kind's name decides
anything (tests/harness/test_request_kinds.py checks no `kind == "..."` is left
elsewhere).

Adding a kind: one module here with a `RequestKind` subclass (base.py: `name`, `label`,
`prober_request`, and whichever of `model_probe`, `attempts`, `is_fqdn`, `echo`,
`answer_ip`, `reaches_app`, `l7`, `flows_carry_ports`, `denied_response_codes`,
`forwarded_l7` differ from the defaults), its instance in KINDS below, and a constructor
in spec.py (like `http()`) for scenarios to call. The prober must know the JSON `kind`
the class sends (workloads/prober/spec.py PARSERS).
"""

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
from conformance.harness.requests.tls import TLS_PATH, Tls

KINDS: dict[str, RequestKind] = {k.name: k for k in (
    Http(), Grpc(), Dns(), Tcp(), Icmp(), Kubelet(), Tls(),
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
           "TLS_PATH", "RequestKind", "UnknownRequestKind", "kind_named", "workload_pod"]
