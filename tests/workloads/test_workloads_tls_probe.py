"""The prober's TLS probe on loopback against real sockets: handshake ok with the SNI the
server logs, reset during the handshake (Envoy's SNI refusal), closed, refused, timeout."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.account_service import account_service
from tests.support.badservers import closing_server, resetting_server, silent_server
from tests.support.ports import closed_port
from tests.support.prober_cli import by_id, run_prober


def test_handshake_with_sni_reaches_the_app_which_logs_sni_and_probe_id(tmp_path: Path) -> None:
    with account_service(tmp_path, args=("--tls-port", "0")) as svc:
        assert svc.tls_port is not None
        results = by_id(run_prober([
            {"id": "named", "kind": "tls", "target": f"127.0.0.1:{svc.tls_port}",
             "sni": "accounts.payments.example"},
            {"id": "bare", "kind": "tls", "target": f"127.0.0.1:{svc.tls_port}"},
        ]))
        events = svc.log_events()
    assert results["named"]["outcome"] == "ok", results["named"]
    assert results["named"]["status"] == 200
    assert results["named"]["sni"] == "accounts.payments.example"
    assert results["bare"]["outcome"] == "ok", results["bare"]
    snis = sorted(e["sni"] for e in events if e.get("event") == "tls-handshake")
    assert snis == ["", "accounts.payments.example"]
    requests = {e["probe_id"]: e for e in events if e.get("event") == "request"}
    assert requests["named"]["protocol"] == "https"
    assert {"named", "bare"} <= set(requests)


def test_reset_after_the_client_hello_is_reset_in_phase_tls() -> None:
    with resetting_server() as port:
        [result] = run_prober([{"id": "r", "kind": "tls", "target": f"127.0.0.1:{port}",
                                "sni": "evil.example"}])
    assert (result["outcome"], result["phase"]) == ("reset", "tls"), result


def test_close_after_the_client_hello_is_closed_not_reset() -> None:
    with closing_server() as port:
        [result] = run_prober([{"id": "c", "kind": "tls", "target": f"127.0.0.1:{port}",
                                "sni": "a.example"}])
    assert (result["outcome"], result["phase"]) == ("closed", "tls"), result


def test_refused_and_silent_servers() -> None:
    with silent_server() as port, closed_port() as closed:
        results = by_id(run_prober([
            {"id": "silent", "kind": "tls", "target": f"127.0.0.1:{port}", "timeout": 0.5},
            {"id": "refused", "kind": "tls", "target": f"127.0.0.1:{closed}"},
        ]))
    # connected but no ServerHello: not the L3/L4-drop signature (a connect timeout)
    assert (results["silent"]["outcome"], results["silent"]["phase"]) == ("error", "tls")
    assert results["refused"]["outcome"] == "refused"


@pytest.mark.parametrize(("probe", "field"), [
    ({"target": "127.0.0.1"}, "target"),
    ({"target": "127.0.0.1:1", "sni": 5}, "sni"),
    ({"target": "127.0.0.1:1", "sni": "a b"}, "sni"),
    ({"target": "127.0.0.1:1", "path": "healthz"}, "path"),
    ({"target": "127.0.0.1:1", "url": "x"}, "url"),
])
def test_bad_tls_probes_name_the_field(probe: dict[str, object], field: str) -> None:
    [result] = run_prober([{"id": "b", "kind": "tls", **probe}])
    assert result["outcome"] == "error"
    assert field in result["error"]
