"""A TLS handshake with a chosen SNI to every pod of an app, then one GET over it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conformance.harness.requests.base import RequestKind, workload_pod
from conformance.model.probe import Entity, Pod, Probe, TlsHello
from conformance.vocabulary import capabilities as cap

if TYPE_CHECKING:
    from conformance.harness.spec import Request

TLS_PATH = "/healthz"  # what a TLS probe asks once the handshake is done


class Tls(RequestKind):
    name = "tls"
    proxied_tag = cap.L7_TLS
    reaches_app = True  # account-service logs each handshake's SNI and the GET
    # serverNames are enforced by Envoy (cilium/network_filter.cc): a port with them needs
    # the proxy, like an HTTP port with rules.
    l7 = True

    def label(self, r: Request, dest: str) -> str:
        return f"TLS SNI {r.sni or '(none)'} -> {dest}:{r.port}"

    def model_probe(self, r: Request, source: Pod | Entity, probe_id: str) -> Probe:
        return Probe(id=probe_id, source=source, destination=workload_pod(r.to_namespace, r.to),
                     port=r.port, tls=TlsHello(r.sni or None))

    def prober_request(self, r: Request, host: str, timeout: float) -> dict[str, Any]:
        return {"kind": "tls", "target": f"{host}:{r.port}", "sni": r.sni, "path": r.path,
                "timeout": timeout}
