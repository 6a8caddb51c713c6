"""The emulated Kubernetes API server: HTTP on 127.0.0.1, only what the suite's client uses.

REST paths follow the API server's layout (`/api/v1/...`, `/apis/<group>/<version>/...`):
GET (one object or a list with `labelSelector`), server-side apply (PATCH with
`application/apply-patch+yaml`; `fieldManager` required, as `apiserver/pkg/endpoints/
handlers/patch.go` demands), DELETE; `pods/exec` and `pods/portforward` over WebSocket,
`pods/log`, and the pod proxy (`pods/<name>:<port>/proxy/...`) for metrics. No
authentication: the kubeconfig points at http://127.0.0.1.

Upstream it follows, by behaviour:
- error answers are `Status` bodies (`apimachinery/pkg/api/errors/errors.go` NewNotFound,
  NewForbidden; `apiserver/pkg/endpoints/handlers/responsewriters/status.go`
  ErrorToAPIStatus); an unknown path is the NotFound of `apiserver/pkg/endpoints/
  discovery` / the mux's 404 ("the server could not find the requested resource");
- `/version` answers `version.Info` (`apimachinery/pkg/version/types.go`);
- RBAC refusals (faults) are worded as `apiserver/pkg/endpoints/handlers/
  responsewriters/errors.go` forbiddenMessage;
- the pod proxy's answer when nothing listens is the 503 of `apiserver/pkg/util/proxy`
  (upgradeaware.go, "error trying to reach service").
"""

from __future__ import annotations

import json
import re
import socket
import sys
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from clusters.emulated import ws as websocket
from clusters.emulated.controlplane import ControlPlane
from clusters.emulated.execs import run_exec
from clusters.emulated.objects import GROUPS, RESOURCES, ApiStatus, Key, status
from clusters.emulated.portforward import PROTOCOLS, parse_ports, serve_portforward

# What /version answers (a kind node image of Kubernetes 1.33).
VERSION = {"major": "1", "minor": "33", "gitVersion": "v1.33.1", "platform": "linux/amd64"}
MAX_BODY = 4 * 1024 * 1024  # the API server's request size limit is 3 MiB (+ slack)
APPLY_PATCH = "application/apply-patch+yaml"
RELAY_PORT = 4245  # hubble-relay's container port

_CORE = re.compile(r"^/api/v1/(?:namespaces/(?P<ns>[^/]+)/)?(?P<res>[a-z]+)"
                   r"(?:/(?P<name>[^/]+)(?:/(?P<sub>.+))?)?$")
_GROUP = re.compile(r"^/apis/(?P<gv>[^/]+/[^/]+)/(?:namespaces/(?P<ns>[^/]+)/)?(?P<res>[a-z]+)"
                    r"(?:/(?P<name>[^/]+))?$")
_PROXY = re.compile(r"^(?P<pod>[^/:]+):(?P<port>\d+)$")

Dial = Callable[[int], socket.socket]
_CRDS_MISSING = [False]  # set once per process by ApiServer for the no-crds fault


class Route:
    def __init__(self, resource: str, namespace: str | None, name: str | None,
                 sub: str | None) -> None:
        self.resource, self.namespace, self.name, self.sub = resource, namespace, name, sub

    def key(self) -> Key:
        assert self.name is not None
        return (self.resource, self.namespace or "", self.name)


def route(path: str) -> Route:
    """The resource a path names; ApiStatus 404 for anything the emulator does not serve."""
    if m := _CORE.match(path):
        res, ns, name, sub = m.group("res"), m.group("ns"), m.group("name"), m.group("sub")
        if res == "namespaces" and name is None and ns is not None:
            res, name, ns = "namespaces", ns, None  # /api/v1/namespaces/<name>
        if res in RESOURCES and RESOURCES[res][0] == "v1":
            return _checked(Route(res, ns, name, sub))
    elif (m := _GROUP.match(path)) and m.group("gv") == "cilium.io/v2" and \
            _CRDS_MISSING[0]:
        pass  # no-crds: the operator has not created the CRDs (a 404 like any unknown path)
    elif (m := _GROUP.match(path)) and m.group("res") in RESOURCES and \
            RESOURCES[m.group("res")][0] == m.group("gv"):
        return _checked(Route(m.group("res"), m.group("ns"), m.group("name"), None))
    raise status(404, "NotFound", "the server could not find the requested resource",
                 {"causes": [{"reason": "UnexpectedServerResponse",
                              "message": "404 page not found"}]})


def _checked(r: Route) -> Route:
    namespaced = RESOURCES[r.resource][2]
    if namespaced != (r.namespace is not None) and (r.name is not None or not namespaced):
        raise status(404, "NotFound", "the server could not find the requested resource")
    return r


def make_handler(plane: ControlPlane, relay_dial: Dial,
                 exec_protocols: tuple[str, ...]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "zt-emulated-apiserver"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the suite's artifacts are the record

        # ---- plumbing -------------------------------------------------------------

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, code: int, obj: Any) -> None:
            self._send(code, json.dumps(obj).encode(), "application/json")

        def _text(self, text: str) -> None:
            self._send(200, text.encode(), "text/plain; charset=utf-8")

        def _read_body(self) -> None:
            """Read the whole body first: an answer given before reading it would leave
            its bytes on the kept-alive connection as the next request's start."""
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self.close_connection = True
                raise status(413, "RequestEntityTooLarge", "request entity too large")
            self._raw = self.rfile.read(length) if length else b""

        def _body(self) -> Any:
            try:
                return json.loads(self._raw or b"null")
            except ValueError as err:
                raise status(400, "BadRequest", f"error decoding the body: {err}") from None

        def _dispatch(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            try:
                self._read_body()
                if parts.path == "/version" and method == "GET":
                    self._json(200, VERSION)
                    return
                self._resource(method, route(parts.path), query)
            except ApiStatus as err:
                if not self._upgraded():
                    self._json(err.code, err.body)
            except Exception as err:  # an emulator bug: a 500 Status, never a dropped line
                traceback.print_exc(file=sys.stderr)
                if not self._upgraded():
                    self._json(500, status(500, "InternalError", f"emulator: {err!r}").body)

        def _upgraded(self) -> bool:
            """Whether this connection was handed to a WebSocket (no HTTP answer then)."""
            return bool(self.close_connection) and \
                "upgrade" in self.headers.get("Connection", "").lower()

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_PATCH(self) -> None:
            self._dispatch("PATCH")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

        def do_POST(self) -> None:
            self._dispatch("POST")

        # ---- resources --------------------------------------------------------------------

        def _resource(self, method: str, r: Route, query: dict[str, list[str]]) -> None:
            if r.sub is not None:
                self._subresource(method, r, query)
            elif method == "GET" and r.name is None:
                selector = (query.get("labelSelector") or [""])[0] or None
                self._json(200, plane.list_objects(r.resource, r.namespace, selector))
            elif method == "GET":
                self._json(200, plane.get(r.key()))
            elif method == "PATCH" and r.name is not None:
                self._apply(r, query)
            elif method == "DELETE" and r.name is not None:
                self._json(200, plane.delete(r.key()))
            else:
                raise status(405, "MethodNotAllowed",
                             f"the server does not allow this method on the requested "
                             f"resource ({method} {r.resource})")

        def _apply(self, r: Route, query: dict[str, list[str]]) -> None:
            body = self._body()
            if self.headers.get("Content-Type", "").split(";")[0] != APPLY_PATCH:
                raise status(415, "UnsupportedMediaType", "the body of the request was in "
                             "an unknown format - accepted media types include: "
                             f"{APPLY_PATCH}")
            if not (query.get("fieldManager") or [""])[0]:
                raise status(422, "Invalid", "PatchOptions.meta.k8s.io \"\" is invalid: "
                             "fieldManager: Required value: is required for apply patch")
            if not isinstance(body, dict):
                raise status(400, "BadRequest", "error decoding patch: the applied "
                             "configuration is not an object")
            validation = (query.get("fieldValidation") or [""])[0] or None
            self._json(200, plane.apply(r.key(), body, validation))

        def _subresource(self, method: str, r: Route, query: dict[str, list[str]]) -> None:
            assert r.name is not None and r.sub is not None
            if r.resource != "pods" or r.namespace is None:
                raise status(404, "NotFound", "the server could not find the requested "
                             "resource")
            if r.sub == "log" and method == "GET":
                self._forbid("log", r.namespace, r.name, "get")
                self._text(plane.app_log(r.namespace, r.name))
            elif r.sub == "exec" and method in ("GET", "POST"):
                self._exec(r.namespace, r.name, query)
            elif r.sub == "portforward" and method in ("GET", "POST"):
                self._portforward(r.namespace, r.name, query)
            elif (m := _PROXY.match(r.name)) and r.sub.startswith("proxy/"):
                self._proxy(r.namespace, m.group("pod"), int(m.group("port")), r.sub[6:])
            else:
                raise status(404, "NotFound", "the server could not find the requested "
                             "resource")

        def _forbid(self, sub: str, namespace: str, pod: str, verb: str) -> None:
            """<sub>-forbidden faults: RBAC denies the subresource, worded as the
            authorizer's Forbidden (apiserver `endpoints/handlers/responsewriters`
            ForbiddenStatusError)."""
            if sub in plane.hooks.forbidden_subresources:
                raise status(403, "Forbidden", f'pods "{pod}" is forbidden: User '
                             f'"zt-conformance" cannot {verb} resource "pods/{sub}" in API '
                             f'group "" in the namespace "{namespace}"',
                             {"name": pod, "kind": f"pods/{sub}"})

        def _exec(self, namespace: str, pod: str, query: dict[str, list[str]]) -> None:
            plane.get(("pods", namespace, pod))  # 404 before any upgrade
            if namespace != "kube-system":
                self._forbid("exec", namespace, pod, "create")
            ws = websocket.accept(self, exec_protocols)
            if ws is None:
                return
            run_exec(plane, ws, namespace, pod, query)

        def _portforward(self, namespace: str, pod: str, query: dict[str, list[str]]) -> None:
            obj = plane.get(("pods", namespace, pod))
            self._forbid("portforward", namespace, pod, "create")
            try:
                ports = parse_ports(query.get("ports") or [])
            except ValueError as err:
                raise status(400, "BadRequest", str(err)) from None
            relay = (obj["metadata"].get("labels") or {}).get("k8s-app") == "hubble-relay"

            def dial(port: int) -> socket.socket:
                if relay and port == RELAY_PORT and not plane.hooks.relay_refuses:
                    return relay_dial(port)
                raise ConnectionRefusedError(f"dial tcp {obj['status']['podIP']}:{port}: "
                                             "connect: connection refused")

            ws = websocket.accept(self, PROTOCOLS)
            if ws is not None:
                serve_portforward(ws, ports, dial)

        def _proxy(self, namespace: str, pod: str, port: int, path: str) -> None:
            node = plane.agent_node(pod) if namespace == "kube-system" else None
            text = plane.metrics(node, port) if node and path == "metrics" and \
                not plane.hooks.metrics_refuse else None
            if text is None:
                # The pod proxy's answer when nothing listens: 503 from the dial.
                raise status(503, "ServiceUnavailable", f"error trying to reach service: "
                             f"dial tcp: connect: connection refused ({pod}:{port}/{path})")
            self._send(200, text.encode(), "text/plain; version=0.0.4; charset=utf-8")

    return Handler


class ApiServer:
    """The HTTP server on 127.0.0.1:`port`, serving until stop()."""

    def __init__(self, plane: ControlPlane, relay_dial: Dial, *, port: int = 0) -> None:
        v4_only = plane.hooks.exec_v4_only
        _CRDS_MISSING[0] = plane.hooks.crds_missing
        protocols = ("v4.channel.k8s.io",) if v4_only else \
            ("v5.channel.k8s.io", "v4.channel.k8s.io")
        self._server = ThreadingHTTPServer(("127.0.0.1", port),
                                           make_handler(plane, relay_dial, protocols))
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


__all__ = ["GROUPS", "ApiServer", "route"]
