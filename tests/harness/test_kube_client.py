"""ClientKubeApi with the real kubernetes client against a loopback HTTP server that
answers with the recorded API server responses: kubeconfig loading, bearer auth, query
strings, server-side apply headers and body, Status errors and raw text GETs.

(The exec websocket is not covered here: it needs a real API server; see the report.)
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from conformance.harness.cluster import ClusterError, PolicyRejected
from conformance.harness.kube import KubeCluster

DATA = Path(__file__).parent / "data" / "kube"
TOKEN = "zt-test-token"


class Recorder:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.routes: dict[tuple[str, str], tuple[int, str, str]] = {}

    def route(self, method: str, path: str, status: int, file: str) -> None:
        kind = "text/plain; version=0.0.4" if file.endswith(".txt") else "application/json"
        self.routes[(method, path)] = (status, (DATA / file).read_text(), kind)


def handler(rec: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            rec.requests.append({"method": self.command, "path": parts.path,
                                 "query": parse_qs(parts.query), "body": body,
                                 "headers": {k.lower(): v for k, v in self.headers.items()}})
            status, text, kind = rec.routes.get(
                (self.command, parts.path),
                (404, (DATA / "status-not-found.json").read_text(), "application/json"))
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PATCH = do_DELETE = _serve

    return Handler


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Recorder, str]]:
    rec = Recorder()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler(rec))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: loop\n"
        f"clusters:\n- name: loop\n  cluster:\n    server: http://127.0.0.1:{httpd.server_port}\n"
        "contexts:\n- name: loop\n  context:\n    cluster: loop\n    user: u\n"
        f"users:\n- name: u\n  user:\n    token: {TOKEN}\n")
    yield rec, str(kubeconfig)
    httpd.shutdown()
    httpd.server_close()


def connect(rec: Recorder, kubeconfig: str) -> KubeCluster:
    rec.route("GET", "/version", 200, "version.json")
    return KubeCluster.connect(kubeconfig, "loop")


def test_connect_sends_the_kubeconfig_token(server: tuple[Recorder, str]) -> None:
    rec, kubeconfig = server
    kube = connect(rec, kubeconfig)
    try:
        assert rec.requests[0]["path"] == "/version"
        assert rec.requests[0]["headers"]["authorization"] == f"Bearer {TOKEN}"
    finally:
        kube.close()


def test_server_side_apply_request_and_rejection_message(server: tuple[Recorder, str]) -> None:
    rec, kubeconfig = server
    path = "/apis/cilium.io/v2/namespaces/zt-gw0/ciliumnetworkpolicies/transfer-header"
    rec.route("PATCH", path, 422, "status-cnp-invalid.json")
    doc = {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
           "metadata": {"name": "transfer-header", "namespace": "zt-gw0"},
           "spec": {"endpointSelector": {}}}
    kube = connect(rec, kubeconfig)
    try:
        with pytest.raises(PolicyRejected, match="must be of type string"):
            kube.apply([doc])
    finally:
        kube.close()
    sent = rec.requests[-1]
    assert sent["method"] == "PATCH" and sent["path"] == path
    assert sent["headers"]["content-type"] == "application/apply-patch+yaml"
    assert sent["query"] == {"fieldManager": ["zt-conformance"], "force": ["true"]}
    assert json.loads(sent["body"]) == doc


def test_label_selector_query_and_raw_metrics_text(server: tuple[Recorder, str]) -> None:
    rec, kubeconfig = server
    rec.route("GET", "/api/v1/namespaces/kube-system/pods", 200, "pods-cilium.json")
    for pod in ("cilium-8xk2p", "cilium-q7m4d"):
        for port in (9965, 9962):
            rec.route("GET", f"/api/v1/namespaces/kube-system/pods/{pod}:{port}/proxy/metrics",
                      200, f"metrics-{port}.txt")
    kube = connect(rec, kubeconfig)
    try:
        scrapes = kube.scrape_metrics()
    finally:
        kube.close()
    assert rec.requests[1]["query"] == {"labelSelector": ["k8s-app=cilium"]}
    assert len(scrapes) == 4
    assert {s.text for s in scrapes} == {(DATA / "metrics-9965.txt").read_text(),
                                         (DATA / "metrics-9962.txt").read_text()}


def test_not_found_status_reaches_the_caller_as_404(server: tuple[Recorder, str]) -> None:
    rec, kubeconfig = server
    kube = connect(rec, kubeconfig)
    try:
        assert kube._external_targets() == {}  # the ConfigMap answered 404: no targets
    finally:
        kube.close()
    assert rec.requests[-1]["path"] == "/api/v1/namespaces/kube-system/configmaps/zt-conformance"


def test_server_errors_without_json_are_still_one_message(server: tuple[Recorder, str]
                                                          ) -> None:
    rec, kubeconfig = server
    kube = connect(rec, kubeconfig)
    rec.routes[("GET", "/api/v1/namespaces/kube-system/pods")] = (500, "etcd is down",
                                                                  "text/plain")
    try:
        with pytest.raises(ClusterError, match="listing pods in kube-system: etcd is down"):
            kube.agent_policies()
    finally:
        kube.close()
