"""TLS SNI probes: the request the batch builds is understood by the real prober, and its
results satisfy (or fail) the client, app and flow checks as an SNI cell needs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conformance.harness import evidence
from conformance.harness.planning import prober_request
from conformance.harness.requests import kind_named
from conformance.harness.spec import tls
from conformance.model.expectation import Expectation, HubbleEvidence
from tests.support.account_service import account_service
from tests.support.badservers import resetting_server

PROBE_TIMEOUT_S = 3.0
ALLOWED = Expectation("p", "allowed", None, None, "ok",
                      HubbleEvidence("FORWARDED", "L3_L4", None, None), "x")
SNI_DENIED = Expectation("p", "l7-denied", None, "ingress", "reset",
                         HubbleEvidence("DROPPED", "L7", None, "INGRESS"), "x")


def _run(requests: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    proc = subprocess.run([sys.executable, "-m", "workloads.prober", "run"],
                          input=json.dumps(requests), capture_output=True, text=True,
                          timeout=60, check=True)
    return {str(r["id"]): r for r in json.loads(proc.stdout)}


def _request(port: int, sni: str) -> dict[str, object]:
    req = prober_request(tls(sni), "127.0.0.1", PROBE_TIMEOUT_S)
    assert req["kind"] == "tls" and req["sni"] == sni
    return {**req, "target": f"127.0.0.1:{port}"}


def test_allowed_sni_reaches_the_app_and_passes_the_client_check(tmp_path: Path) -> None:
    with account_service(tmp_path, args=("--tls-port", "0")) as app:
        assert app.tls_port is not None
        results = _run([{"id": "ztc.tls.ok", **_request(app.tls_port, "a.example")}])
        lines = app.proc.log().splitlines()
    result = results["ztc.tls.ok"]
    assert evidence.check_client(ALLOWED, result).ok, result
    assert not evidence.check_client(SNI_DENIED, result).ok
    assert "ztc.tls.ok" in evidence.app_probe_ids(lines)


def test_reset_during_the_handshake_is_the_sni_denied_signal() -> None:
    with resetting_server() as port:
        result = _run([{"id": "ztc.tls.r", **_request(port, "evil.example")}])["ztc.tls.r"]
    assert evidence.observed_signal(result) == "reset"
    assert evidence.check_client(SNI_DENIED, result).ok
    assert not evidence.check_client(ALLOWED, result).ok


def test_sni_denied_needs_only_the_dropped_request_record() -> None:
    for name in ("tls", "http"):  # plain HTTP to an SNI port is reset the same way
        rules = evidence.required_flows(SNI_DENIED, kind=kind_named(name))
        assert [r.text for r in rules] == ["L7 REQUEST DROPPED (no drop reason) INGRESS"]
    # an HTTP 403 deny also needs the response record
    http_403 = Expectation("p", "l7-denied", None, "ingress", "http-403",
                           HubbleEvidence("DROPPED", "L7", None, "INGRESS"), "x")
    assert len(evidence.required_flows(http_403, kind=kind_named("http"))) == 2
