"""pods/portforward end to end: the real kubernetes client (ClientKubeApi.port_forward,
LocalPortForward, open_relay_follower) against a loopback ThreadingHTTPServer that
answers with ws.accept + serve_portforward, bridged to loopback TCP servers and to the
emulated Hubble Relay."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from kubernetes import client

from clusters.emulated.portforward import PROTOCOLS, parse_ports, serve_portforward
from clusters.emulated.relay import RelayServer
from clusters.emulated.ws import accept
from conformance.harness.cluster import ClusterError
from conformance.harness.kube_api import ApiError, ClientKubeApi
from conformance.harness.kube_portforward import (
    RELAY_PORT,
    LocalPortForward,
    open_relay_follower,
)
from tests.emulated.relay_support import MemoryFlowLog, recorded_lines
from tests.emulated.ws_support import IO_TIMEOUT_S, SERVE_POLL_S
from tests.support.wait import wait_for

ECHO_PORT = 7000  # the pod port the echo server stands for
REFUSED_PORT = 7001  # a pod port nothing listens on
WAIT_S = 10.0
FAST_S = 2.0  # what must end at once (close)




class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


class FakeApiServer:
    """GET pods (a list answer) and the pods/portforward WebSocket, dialling `targets`
    (pod port -> loopback port)."""

    def __init__(self, targets: dict[int, int], pods: list[dict[str, Any]]) -> None:
        self.requests: list[str] = []
        owner = self

        def dial(port: int) -> socket.socket:
            if port not in targets:
                raise ConnectionRefusedError(111, "Connection refused")
            return socket.create_connection(("127.0.0.1", targets[port]), IO_TIMEOUT_S)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                owner.requests.append(self.path)
                if parts.path.endswith("/portforward"):
                    ws = accept(self, PROTOCOLS)
                    if ws is not None:
                        serve_portforward(ws, parse_ports(parse_qs(parts.query)["ports"]),
                                          dial)
                    return
                body = json.dumps({"kind": "PodList", "apiVersion": "v1",
                                   "items": pods}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, args=(SERVE_POLL_S,),
                         daemon=True).start()

    def api(self) -> ClientKubeApi:
        config = client.Configuration(host=f"http://127.0.0.1:{self.httpd.server_address[1]}")
        return ClientKubeApi(client.ApiClient(config))

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def relay_pod(name: str, phase: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "kube-system",
                         "labels": {"k8s-app": "hubble-relay"}},
            "status": {"phase": phase}}


@pytest.fixture
def echo() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), EchoHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(SERVE_POLL_S,), daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def apiserver(echo: int) -> Iterator[FakeApiServer]:
    server = FakeApiServer({ECHO_PORT: echo}, [relay_pod("hubble-relay-7d9-abc", "Running")])
    yield server
    server.close()


def recv_exactly(sock: Any, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def test_client_portforward_round_trip(apiserver: FakeApiServer) -> None:
    api = apiserver.api()
    forward = api.port_forward("zt-gw0", "account-service-1", ECHO_PORT)
    sock = forward.socket(ECHO_PORT)
    sock.settimeout(IO_TIMEOUT_S)
    payload = bytes(range(256)) * 400  # over one frame's worth, both ways
    sock.sendall(payload)
    assert recv_exactly(sock, len(payload)) == payload
    forward.close()
    assert apiserver.requests[-1] == (
        f"/api/v1/namespaces/zt-gw0/pods/account-service-1/portforward?ports={ECHO_PORT}")


def test_local_listener_bridges_each_connection(apiserver: FakeApiServer) -> None:
    local = LocalPortForward(apiserver.api(), "zt-gw0", "account-service-1", ECHO_PORT)
    try:
        conns = [socket.create_connection(("127.0.0.1", local.port), IO_TIMEOUT_S)
                 for _ in range(2)]
        for i, conn in enumerate(conns):
            conn.sendall(f"hello {i}".encode())
        assert [recv_exactly(c, 7) for c in conns] == [b"hello 0", b"hello 1"]
        assert local.error() is None
    finally:
        started = time.monotonic()
        local.close()
        assert time.monotonic() - started < FAST_S  # the accept thread is woken, not waited
    for conn in conns:  # close() ended the bridged connections too
        assert conn.recv(1) == b""
        conn.close()


def test_refused_pod_port_is_reported_from_the_error_channel(
        apiserver: FakeApiServer) -> None:
    local = LocalPortForward(apiserver.api(), "zt-gw0", "account-service-1", REFUSED_PORT)
    try:
        with socket.create_connection(("127.0.0.1", local.port), IO_TIMEOUT_S) as conn:
            assert conn.recv(1) == b""  # the forward ends at once
        wait_for(lambda: local.error() is not None, WAIT_S, "the forward's error")
        assert f"error forwarding port {REFUSED_PORT}" in (local.error() or "")
    finally:
        local.close()


def test_unreachable_api_server_is_an_api_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = ClientKubeApi(client.ApiClient(client.Configuration(host=f"http://127.0.0.1:{port}")))
    with pytest.raises(ApiError, match=f"port-forward to kube-system/x:{RELAY_PORT}"):
        api.port_forward("kube-system", "x", RELAY_PORT)


def test_open_relay_follower_through_the_port_forward(echo: int) -> None:
    log = MemoryFlowLog()
    relay = RelayServer(log, nodes=("kind-worker",))
    server = FakeApiServer({RELAY_PORT: relay.port},
                           [relay_pod("hubble-relay-old", "Failed"),
                            relay_pod("hubble-relay-7d9-abc", "Running")])
    try:
        follower = open_relay_follower(server.api(), ["ztc-gw0"],
                                       datetime(2026, 11, 26, 7, 40, tzinfo=UTC))
        try:
            log.append(*recorded_lines())
            wait_for(lambda: len(follower.lines()) == 4, WAIT_S, "the expected flow lines")
            assert follower.lines() == recorded_lines()[:4]
        finally:
            follower.close()
        assert any("pods/hubble-relay-7d9-abc/portforward?ports=4245" in r
                   for r in server.requests)
        assert any("labelSelector=k8s-app%3Dhubble-relay" in r for r in server.requests)
    finally:
        server.close()
        relay.stop()


def test_no_running_relay_pod_is_a_clear_error(echo: int) -> None:
    server = FakeApiServer({}, [relay_pod("hubble-relay-1", "Pending")])
    try:
        with pytest.raises(ClusterError, match=r"hubble\.relay\.enabled=true"):
            open_relay_follower(server.api(), ["ztc-gw0"], datetime.now(UTC))
    finally:
        server.close()


@pytest.mark.parametrize(("values", "ports"), [(["8080"], [8080]), (["80,443", "9090"],
                                                                   [80, 443, 9090])])
def test_ports_query(values: list[str], ports: list[int]) -> None:
    assert parse_ports(values) == ports


@pytest.mark.parametrize(("values", "message"), [
    ([], 'query parameter "ports" is required'),
    ([""], 'query parameter "ports" cannot be empty'),
    (["80,x"], "unable to parse '80,x' as a port"),
    (["70000"], "unable to parse '70000' as a port"),
    (["0"], "port '0' must be > 0"),
])
def test_bad_ports_query(values: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_ports(values)
