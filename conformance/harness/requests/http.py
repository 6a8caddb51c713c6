"""An HTTP request to every pod of an app; the app echoes what reached it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conformance.harness.attempt import Attempt
from conformance.harness.requests.base import RequestKind, workload_pod
from conformance.model.probe import Entity, HttpRequest, Pod, Probe
from conformance.vocabulary import capabilities as cap

if TYPE_CHECKING:
    from conformance.harness.spec import Request


class Http(RequestKind):
    name = "http"
    proxied_tag = cap.L7_HTTP
    reaches_app = True
    l7 = True

    def label(self, r: Request, dest: str) -> str:
        hdrs = "".join(f" +{k}: {v}" for k, v in r.headers)
        return f"{r.method} {r.path}{hdrs} -> {dest}:{r.port}"

    def model_probe(self, r: Request, source: Pod | Entity, probe_id: str) -> Probe:
        return Probe(id=probe_id, source=source, destination=workload_pod(r.to_namespace, r.to),
                     port=r.port,
                     http=HttpRequest(method=r.method, path=r.path, headers=dict(r.headers)))

    def prober_request(self, r: Request, host: str, timeout: float) -> dict[str, Any]:
        return {"kind": "http", "url": f"http://{host}:{r.port}{r.path}", "method": r.method,
                "headers": dict(r.headers), "timeout": timeout}

    def echo(self, a: Attempt) -> dict[str, str] | None:
        if a.target is None:
            return None
        r = a.cell.request
        return {"probe_id": a.id, "method": r.method, "path": r.path,
                "served_by": a.target.name}
