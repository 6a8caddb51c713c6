"""account-service as a real process: every route and RPC, the echo, 404/405, TLS role."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.account_service import AccountService, account_service
from workloads.proto import account_pb2 as pb
from workloads.proto import rpc

IO_TIMEOUT_S = 5.0
CLI_TIMEOUT_S = 30.0

RPC_TIMEOUT_S = 5.0


def call_http(port: int, method: str, target: str, headers: dict[str, str] | None = None,
         body: bytes | None = None, tls: bool = False) -> tuple[int, dict[str, Any]]:
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            "127.0.0.1", port, timeout=IO_TIMEOUT_S, context=ctx)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=IO_TIMEOUT_S)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        response = conn.getresponse()
        assert response.getheader("Content-Type") == "application/json"
        return response.status, json.loads(response.read())
    finally:
        conn.close()


ROUTES = [
    ("GET", "/api/v1/accounts", "GET /api/v1/accounts"),
    ("GET", "/api/v1/accounts/acc-7", "GET /api/v1/accounts/{id}"),
    ("DELETE", "/api/v1/accounts/acc-7", "DELETE /api/v1/accounts/{id}"),
    ("POST", "/api/v1/accounts/acc-7/withdraw", "POST /api/v1/accounts/{id}/withdraw"),
    ("POST", "/internal/v1/transfer", "POST /internal/v1/transfer"),
    ("GET", "/healthz", "GET /healthz"),
]


@pytest.mark.parametrize(("method", "path", "route"), ROUTES)
def test_every_route_answers_and_echoes_what_arrived(
    service: AccountService, method: str, path: str, route: str
) -> None:
    probe_id = f"route-{method}-{path}"
    target = path + "?trace=1&x=%2F"
    status, echo = call_http(service.http_port, method, target,
                        headers={"X-Probe-Id": probe_id, "X-Custom": "Value One"},
                        body=b'{"amount_cents": 250}' if method == "POST" else None)
    assert status == 200
    assert echo["route"] == route
    assert echo["method"] == method
    assert echo["path"] == target  # query included, as Envoy's :path
    assert echo["headers"]["X-Custom"] == "Value One"
    assert echo["probe_id"] == probe_id
    assert echo["served_by"] == "account-service-test-0"
    host, _, port = echo["client"].rpartition(":")
    assert host == "127.0.0.1" and port.isdigit()
    assert probe_id in service.probe_ids()


def test_route_data(service: AccountService) -> None:
    _, listing = call_http(service.http_port, "GET", "/api/v1/accounts")
    assert [a["id"] for a in listing["data"]["accounts"]] == ["acc-1", "acc-2", "acc-3"]
    _, one = call_http(service.http_port, "GET", "/api/v1/accounts/acc-2")
    assert one["data"]["account"]["id"] == "acc-2"
    _, withdraw = call_http(service.http_port, "POST", "/api/v1/accounts/acc-2/withdraw",
                       body=b'{"amount_cents": 250}')
    assert withdraw["data"] == {"withdrawal_id": "wd-acc-2", "account_id": "acc-2",
                                "amount_cents": 250}
    assert withdraw["body"] == '{"amount_cents": 250}'
    _, deleted = call_http(service.http_port, "DELETE", "/api/v1/accounts/acc-2")
    assert deleted["data"] == {"deleted": True, "id": "acc-2"}


@pytest.mark.parametrize("path", ["/", "/api/v1", "/api/v1/accounts/a/b", "/api/v2/accounts",
                                  "/healthz/x", "/internal/v1/transfer/now"])
def test_other_paths_are_404_with_echo(service: AccountService, path: str) -> None:
    status, echo = call_http(service.http_port, "GET", path, headers={"X-Probe-Id": f"404{path}"})
    assert status == 404
    assert echo["route"] is None
    assert echo["path"] == path
    assert echo["probe_id"] == f"404{path}"


def test_wrong_method_on_known_path_is_405(service: AccountService) -> None:
    status, echo = call_http(service.http_port, "PUT", "/api/v1/accounts")
    assert status == 405
    assert echo["route"] is None and echo["method"] == "PUT"


def test_keep_alive_serves_several_requests_on_one_connection(service: AccountService) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", service.http_port, timeout=IO_TIMEOUT_S)
    try:
        clients = set()
        for i in range(3):
            conn.request("GET", f"/api/v1/accounts/k{i}")
            response = conn.getresponse()
            clients.add(json.loads(response.read())["client"])
            assert response.status == 200
        assert len(clients) == 1  # same socket each time
    finally:
        conn.close()


def test_chunked_request_body_is_read(service: AccountService) -> None:
    with socket.create_connection(("127.0.0.1", service.http_port), timeout=IO_TIMEOUT_S) as sock:
        sock.sendall(b"POST /internal/v1/transfer HTTP/1.1\r\nHost: x\r\n"
                     b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                     b"7\r\n{\"amoun\r\n"
                     b"d\r\nt_cents\": 12}\r\n0\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert json.loads(body)["data"] == {"transfer_id": "tr-1", "amount_cents": 12}


def test_garbage_gets_400_not_a_crash(service: AccountService) -> None:
    with socket.create_connection(("127.0.0.1", service.http_port), timeout=IO_TIMEOUT_S) as sock:
        sock.sendall(b"NONSENSE\r\n\r\n")
        data = sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 400")
    assert call_http(service.http_port, "GET", "/healthz")[0] == 200


def _stub(service: AccountService) -> tuple[grpc.Channel, Any]:
    channel = grpc.insecure_channel(f"127.0.0.1:{service.grpc_port}")
    return channel, rpc.AccountServiceStub(channel)


RPCS = [
    ("GetAccount", pb.GetAccountRequest(id="acc-9"), lambda r: r.account.id == "acc-9"),
    ("ListAccounts", pb.ListAccountsRequest(page_size=2), lambda r: len(r.accounts) == 3),
    ("DeleteAccount", pb.DeleteAccountRequest(id="acc-9"), lambda r: r.deleted),
    ("CreateWithdrawal", pb.CreateWithdrawalRequest(account_id="acc-9", amount_cents=7),
     lambda r: r.withdrawal_id == "wd-acc-9" and r.amount_cents == 7),
]


@pytest.mark.parametrize(("method", "request_msg", "check"), RPCS)
def test_every_rpc_answers_with_echo(service: AccountService, method: str,
                                     request_msg: Any, check: Any) -> None:
    channel, stub = _stub(service)
    with channel:
        reply = getattr(stub, method)(request_msg, timeout=RPC_TIMEOUT_S,
                                      metadata=[("x-probe-id", f"rpc-{method}")])
    assert check(reply)
    assert reply.echo.path == f"/api.AccountService/{method}"
    assert reply.echo.method == "POST"
    assert reply.echo.metadata["x-probe-id"] == f"rpc-{method}"
    assert reply.echo.served_by == "account-service-test-0"
    assert reply.echo.peer.startswith("127.0.0.1:")
    assert json.loads(reply.echo.request_json) is not None
    assert f"rpc-{method}" in service.probe_ids()


def test_unknown_rpc_is_unimplemented(service: AccountService) -> None:
    channel = grpc.insecure_channel(f"127.0.0.1:{service.grpc_port}")
    with channel:
        call = channel.unary_unary("/api.AccountService/Transfer")
        with pytest.raises(grpc.RpcError) as err:
            call(b"", timeout=RPC_TIMEOUT_S)
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED


@pytest.mark.parametrize("name", ["", "api.AccountService"])
def test_standard_health_service_reports_serving(service: AccountService, name: str) -> None:
    channel = grpc.insecure_channel(f"127.0.0.1:{service.grpc_port}")
    with channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=name), timeout=RPC_TIMEOUT_S)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_external_role_serves_plain_http_and_tls_with_a_fresh_certificate(
    tmp_path: Path,
) -> None:
    with account_service(tmp_path, role="external") as ext:
        assert ext.tls_port is not None
        status, plain = call_http(ext.http_port, "GET", "/api/v1/accounts")
        assert status == 200 and plain["protocol"] == "http"
        status, secure = call_http(ext.tls_port, "GET", "/api/v1/accounts?via=tls", tls=True)
        assert status == 200 and secure["protocol"] == "https"
        assert secure["path"] == "/api/v1/accounts?via=tls"
        pem = ssl.get_server_certificate(("127.0.0.1", ext.tls_port))
        assert "BEGIN CERTIFICATE" in pem
        with pytest.raises(ssl.SSLCertVerificationError):  # self-signed: not trusted
            ctx = ssl.create_default_context()
            address = ("127.0.0.1", ext.tls_port)
            with socket.create_connection(address, timeout=IO_TIMEOUT_S) as raw, \
                    ctx.wrap_socket(raw, server_hostname="localhost"):
                pass
        assert {e["protocol"] for e in ext.requests()} == {"http", "https"}


def test_port_in_use_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "workloads.account_service", "--bind", "127.0.0.1",
             "--http-port", str(port), "--grpc-port", "0"],
            capture_output=True, text=True, timeout=CLI_TIMEOUT_S, check=False)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot start" in lines[0] and "Traceback" not in proc.stderr
