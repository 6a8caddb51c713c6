"""A gRPC call to every pod of an app."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conformance.harness.requests.base import GRPC_SERVICE, RequestKind, workload_pod
from conformance.model.probe import Entity, GrpcCall, Pod, Probe
from conformance.vocabulary import capabilities as cap

if TYPE_CHECKING:
    from conformance.harness.spec import Request


class Grpc(RequestKind):
    name = "grpc"
    proxied_tag = cap.L7_GRPC
    reaches_app = True
    l7 = True
    # Envoy turns the proxy's local 403 into a gRPC reply (HTTP 200 carrying grpc-status
    # 7), and the access log records the status it sent.
    denied_response_codes = (403, 200)
    denied_response_note = " (gRPC local reply)"

    def label(self, r: Request, dest: str) -> str:
        return f"gRPC {r.grpc_method} -> {dest}:{r.port}"

    def model_probe(self, r: Request, source: Pod | Entity, probe_id: str) -> Probe:
        return Probe(id=probe_id, source=source, destination=workload_pod(r.to_namespace, r.to),
                     port=r.port, grpc=GrpcCall(GRPC_SERVICE, r.grpc_method))

    def prober_request(self, r: Request, host: str, timeout: float) -> dict[str, Any]:
        # A scenario names a method of api.AccountService; an own-policies cell carries
        # the generated method path (`/<service>/<method>`) as is.
        method = r.grpc_method if r.grpc_method.startswith("/") \
            else f"/{GRPC_SERVICE}/{r.grpc_method}"
        return {"kind": "grpc", "target": f"{host}:{r.port}", "method": method,
                "timeout": timeout}
