"""account-service --role standin (own-policies runs): every path, method and gRPC method
answered on every port it is given, each request in the access log."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from test_workloads_account_service import CLI_TIMEOUT_S, RPC_TIMEOUT_S, call_http

from tests.support.account_service import account_service


def test_standin_answers_every_route_on_every_port(tmp_path: Path) -> None:
    with account_service(tmp_path, role="standin", args=["--http-port", "0,0",
                                                         "--grpc-port", "0,0"]) as svc:
        event = next(e for e in svc.log_events() if e.get("event") == "listening")
        http_ports = [event["http"], event["http_1"]]
        grpc_ports = [event["grpc"], event["grpc_1"]]
        assert len(set(http_ports + grpc_ports)) == 4
        for port in http_ports:
            for method, path in (("DELETE", "/anything/at/all?q=1"), ("PATCH", "/")):
                status, echo = call_http(port, method, path, {"X-Probe-Id": f"{port}{method}"})
                assert status == 200 and echo["route"] == "standin"
                assert echo["method"] == method and echo["path"] == path
                assert echo["probe_id"] == f"{port}{method}"
        for port in grpc_ports:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                call = channel.unary_unary("/shop.v1.Orders/ListOrders")
                assert call(b"", timeout=RPC_TIMEOUT_S,
                            metadata=[("x-probe-id", f"g{port}")]) == b""
        seen = svc.probe_ids()
        assert {f"{p}DELETE" for p in http_ports} | {f"g{p}" for p in grpc_ports} <= seen


@pytest.mark.parametrize("ports", ["8080,8080", "1,x", "70000"])
def test_bad_port_lists_are_one_line_usage_errors(ports: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "workloads.account_service", "--role",
                           "standin", "--http-port", ports], capture_output=True, text=True,
                          timeout=CLI_TIMEOUT_S, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--http-port" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
