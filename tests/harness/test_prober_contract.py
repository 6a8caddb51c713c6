"""The suite's probe requests and checks against the real prober and account-service.

Both run as real processes on loopback: the requests the batch runner builds must be
understood by `prober run`, and its results (outcome vocabulary, `local`/`remote`, the
app's echo) must satisfy the client checks and the flow matcher's socket parsing.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from conformance.harness import evidence
from conformance.harness.hubble import split_hostport
from conformance.harness.planning import prober_request
from conformance.harness.spec import connect, grpc, http
from conformance.model.expectation import Expectation, HubbleEvidence
from tests.support.account_service import AccountService, account_service
from tests.support.ports import closed_port

STARTUP_TIMEOUT_S = 20.0
PROBE_TIMEOUT_S = 3.0
POD_NAME = "account-service-contract"
ALLOWED = Expectation("p", "allowed", None, None, "ok",
                      HubbleEvidence("FORWARDED", "L3_L4", None, None), "x")


@dataclass(frozen=True)
class Service:
    http_port: int
    grpc_port: int
    app: AccountService  # its stdout is the access log, as `kubectl logs` shows it

    def log_lines(self) -> list[str]:
        return self.app.proc.log().splitlines()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    # The server binds port 0 and reports its ports: nothing to race with other workers.
    with account_service(tmp_path_factory.mktemp("app"), env={"POD_NAME": POD_NAME}) as app:
        assert app.grpc_port is not None
        yield Service(app.http_port, int(app.grpc_port), app)


def prober(requests: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    proc = subprocess.run([sys.executable, "-m", "workloads.prober", "run"],
                          input=json.dumps(requests), capture_output=True, text=True,
                          timeout=60, check=True)
    return {str(r["id"]): r for r in json.loads(proc.stdout)}


def test_http_grpc_tcp_requests_are_understood(service: Service) -> None:
    with closed_port() as closed:
        check_requests(service, closed)


def check_requests(service: Service, closed: int) -> None:
    reqs = {
        "h": prober_request(http("DELETE", "/api/v1/accounts/acc-1?x=1"), "127.0.0.1",
                            PROBE_TIMEOUT_S),
        "g": prober_request(grpc("GetAccount"), "127.0.0.1", PROBE_TIMEOUT_S),
        "t": prober_request(connect(service.http_port), "127.0.0.1", PROBE_TIMEOUT_S),
        "r": prober_request(connect(closed), "127.0.0.1", PROBE_TIMEOUT_S),
    }
    reqs["h"]["url"] = str(reqs["h"]["url"]).replace(":8080", f":{service.http_port}")
    reqs["g"]["target"] = f"127.0.0.1:{service.grpc_port}"
    results = prober([{"id": f"ztc.contract.{k}", **v} for k, v in reqs.items()])

    echo = {"probe_id": "ztc.contract.h", "method": "DELETE",
            "path": "/api/v1/accounts/acc-1?x=1", "served_by": POD_NAME}
    http_check = evidence.check_client(ALLOWED, results["ztc.contract.h"], echo=echo)
    assert http_check.ok, http_check.observed
    assert evidence.check_client(ALLOWED, results["ztc.contract.g"]).ok
    assert evidence.check_client(ALLOWED, results["ztc.contract.t"]).ok
    assert evidence.observed_signal(results["ztc.contract.r"]).startswith("refused")
    for key in ("h", "g", "t"):
        result = results[f"ztc.contract.{key}"]
        local = split_hostport(str(result["local"]))
        remote = split_hostport(str(result["remote"]))
        assert local is not None and local[0] == "127.0.0.1" and local[1] > 0
        assert remote is not None and remote[0] == "127.0.0.1"


def test_echo_of_another_request_is_not_accepted(service: Service) -> None:
    req = prober_request(http("GET", "/api/v1/accounts"), "127.0.0.1", PROBE_TIMEOUT_S)
    req["url"] = str(req["url"]).replace(":8080", f":{service.http_port}")
    result = prober([{"id": "ztc.contract.e", **req}])["ztc.contract.e"]
    wrong = {"probe_id": "ztc.contract.other", "method": "GET", "path": "/api/v1/accounts",
             "served_by": POD_NAME}
    assert not evidence.check_client(ALLOWED, result, echo=wrong).ok


def test_access_log_names_what_reached_the_app(service: Service) -> None:
    """The app's access log, read as the batch reads `kubectl logs`: probe ids of the
    requests that arrived, and the kubelet-style GET /healthz (no probe id)."""
    reqs = {
        "ztc.contract.log-h": prober_request(http("GET", "/api/v1/accounts"), "127.0.0.1",
                                             PROBE_TIMEOUT_S),
        "ztc.contract.log-g": prober_request(grpc("ListAccounts"), "127.0.0.1",
                                             PROBE_TIMEOUT_S),
    }
    reqs["ztc.contract.log-h"]["url"] = str(reqs["ztc.contract.log-h"]["url"]).replace(
        ":8080", f":{service.http_port}")
    reqs["ztc.contract.log-g"]["target"] = f"127.0.0.1:{service.grpc_port}"
    before = evidence.kubelet_requests(service.log_lines(), "/healthz")
    with socket.create_connection(("127.0.0.1", service.http_port), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert s.recv(64).startswith(b"HTTP/1.1 200")
    results = prober([{"id": k, **v} for k, v in reqs.items()])
    assert all(r["outcome"] == "ok" for r in results.values()), results
    lines = service.log_lines()  # written before each answer
    assert set(reqs) <= evidence.app_probe_ids(lines)
    assert "ztc.contract.never-sent" not in evidence.app_probe_ids(lines)
    assert evidence.kubelet_requests(lines, "/healthz") == before + 1
