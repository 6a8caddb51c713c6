"""The prober CLI against real servers: every outcome, the 5-tuple, bad input, big batches."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.account_service import AccountService, account_service
from tests.support.badservers import resetting_server, silent_server
from tests.support.ports import closed_port
from tests.support.prober_cli import PROBER_TIMEOUT_S, by_id, run_prober, run_prober_raw
from workloads.prober.netio import OUTCOMES


def test_http_ok_carries_echo_probe_id_and_the_5_tuple(service: AccountService) -> None:
    url = f"http://127.0.0.1:{service.http_port}/api/v1/accounts/acc-1/withdraw?src=test"
    [result] = run_prober([{"id": "h-ok", "kind": "http", "url": url, "method": "POST",
                            "headers": {"X-Internal-Service": "payment-processor"},
                            "body": '{"amount_cents": 5}', "timeout": 5}])
    assert result["outcome"] == "ok" and result["status"] == 200
    assert result["kind"] == "http"
    echo = json.loads(result["body"])
    assert echo["probe_id"] == "h-ok"
    assert echo["path"] == "/api/v1/accounts/acc-1/withdraw?src=test"
    assert echo["headers"]["X-Internal-Service"] == "payment-processor"
    assert echo["data"]["amount_cents"] == 5
    # The socket the prober reports is the one the server saw.
    assert result["local"] == echo["client"]
    assert result["remote"] == f"127.0.0.1:{service.http_port}"
    assert result["elapsed_ms"] > 0
    assert "h-ok" in service.probe_ids()


def test_http_error_has_status_and_body(service: AccountService) -> None:
    [result] = run_prober([{"id": 7, "kind": "http",
                            "url": f"http://127.0.0.1:{service.http_port}/nowhere"}])
    assert result["id"] == 7  # ids come back as given, integers too
    assert result["outcome"] == "http-error" and result["status"] == 404
    assert json.loads(result["body"])["route"] is None


def test_grpc_ok_and_grpc_error(service: AccountService) -> None:
    target = f"127.0.0.1:{service.grpc_port}"
    results = by_id(run_prober([
        {"id": "g-ok", "kind": "grpc", "target": target,
         "method": "/api.AccountService/CreateWithdrawal",
         "request": {"account_id": "acc-3", "amount_cents": 99},
         "metadata": {"x-tenant": "blue"}},
        {"id": "g-list", "kind": "grpc", "target": target,
         "method": "/api.AccountService/ListAccounts"},
        {"id": "g-missing", "kind": "grpc", "target": target,
         "method": "/api.AccountService/Transfer"},
    ]))
    ok = results["g-ok"]
    assert ok["outcome"] == "ok" and ok["grpc_code"] == "OK"
    assert ok["reply"]["withdrawal_id"] == "wd-acc-3"
    echo = ok["reply"]["echo"]
    assert echo["path"] == "/api.AccountService/CreateWithdrawal"
    assert echo["metadata"]["x-probe-id"] == "g-ok"
    assert echo["metadata"]["x-tenant"] == "blue"
    assert echo["peer"] == ok["local"]
    assert len(results["g-list"]["reply"]["accounts"]) == 3
    missing = results["g-missing"]
    assert missing["outcome"] == "grpc-error"
    assert missing["grpc_code"] == "UNIMPLEMENTED"
    assert {"g-ok", "g-list"} <= service.probe_ids()


def test_refused_from_a_closed_port_for_every_tcp_kind() -> None:
    with closed_port() as port:
        results = run_prober([
            {"id": "t", "kind": "tcp", "host": "127.0.0.1", "port": port},
            {"id": "h", "kind": "http", "url": f"http://127.0.0.1:{port}/"},
            {"id": "g", "kind": "grpc", "target": f"127.0.0.1:{port}",
             "method": "/api.AccountService/GetAccount"},
        ])
    for result in results:
        assert result["outcome"] == "refused", result
        assert result["remote"] == f"127.0.0.1:{port}"
        assert result["local"].startswith("127.0.0.1:")


def test_reset_when_the_server_aborts_the_connection() -> None:
    with resetting_server() as port:
        results = run_prober([
            {"id": "h", "kind": "http", "url": f"http://127.0.0.1:{port}/api/v1/accounts"},
            {"id": "g", "kind": "grpc", "target": f"127.0.0.1:{port}",
             "method": "/api.AccountService/GetAccount"},
        ])
    assert [r["outcome"] for r in results] == ["reset", "reset"]


def test_connected_but_silent_is_not_a_connect_timeout() -> None:
    with silent_server() as port:
        [result] = run_prober([{"id": "s", "kind": "http", "timeout": 0.5,
                                "url": f"http://127.0.0.1:{port}/"}])
    # The L3/L4-drop signature is a connect that never completes; this one did.
    assert result["outcome"] == "error"
    assert result["phase"] == "response"
    assert 450 <= result["elapsed_ms"] < 3000


def test_default_timeout_option_applies_to_probes_without_one() -> None:
    with silent_server() as port:
        [slow] = run_prober([{"id": "d", "kind": "http", "url": f"http://127.0.0.1:{port}/"}],
                            "--timeout", "0.3")
    assert slow["outcome"] == "error"
    assert 250 <= slow["elapsed_ms"] < 3000


def test_https_probe_against_the_external_role(tmp_path: Path) -> None:
    with account_service(tmp_path, role="external") as ext:
        results = by_id(run_prober([
            {"id": "tls", "kind": "http",
             "url": f"https://localhost:{ext.tls_port}/api/v1/accounts"},
            {"id": "tls-verified", "kind": "http", "verify_tls": True,
             "url": f"https://localhost:{ext.tls_port}/api/v1/accounts"},
            {"id": "plain", "kind": "http", "url": f"http://localhost:{ext.http_port}/healthz"},
        ]))
    assert results["tls"]["outcome"] == "ok"
    assert json.loads(results["tls"]["body"])["protocol"] == "https"
    assert results["tls-verified"]["outcome"] == "error"  # self-signed
    assert "TLS" in results["tls-verified"]["error"]
    assert results["plain"]["outcome"] == "ok"


@pytest.mark.parametrize("stdin", ["", "[{", "{\"id\": 1}", "null", "[1,2]x"])
def test_malformed_or_non_array_input_exits_nonzero_with_one_line(stdin: str) -> None:
    proc = run_prober_raw(stdin)
    assert proc.returncode != 0
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("prober: stdin") and "Traceback" not in proc.stderr


def test_bad_options_are_one_line_errors(tmp_path: Path) -> None:
    for args in (["--concurrency", "0"], ["--input", str(tmp_path / "missing.json")]):
        proc = run_prober_raw("[]", *args)
        assert proc.returncode != 0 and proc.stdout == ""
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


BAD_PROBES: list[tuple[Any, str]] = [
    ({"id": "k", "kind": "ftp"}, "unknown probe kind 'ftp'"),
    ({"id": "u", "kind": "http", "url": "gopher://x"}, "field 'url'"),
    ({"id": "m", "kind": "http", "url": "http://127.0.0.1:1/", "heders": {}}, "'heders'"),
    ({"id": "t", "kind": "tcp", "host": "127.0.0.1", "port": 70000}, "field 'port'"),
    ({"id": "to", "kind": "tcp", "host": "127.0.0.1", "port": 1, "timeout": -1},
     "field 'timeout'"),
    ({"id": "gm", "kind": "grpc", "target": "127.0.0.1:1", "method": "GetAccount"},
     "field 'method'"),
    ({"id": "gr", "kind": "grpc", "target": "127.0.0.1:1",
      "method": "/api.AccountService/GetAccount", "request": {"nope": 1}}, "field 'request'"),
    ({"id": "q", "kind": "dns", "name": "a.test", "qtype": "BOGUS"}, "field 'qtype'"),
    ({"id": "s", "kind": "dns", "name": "a.test", "server": "dns.example:53"}, "field 'server'"),
    ({"kind": "tcp", "host": "127.0.0.1", "port": 1}, "field 'id'"),
    ("not-an-object", "expected a probe object"),
    # These once crashed the whole batch with a traceback.
    ({"id": "kl", "kind": ["http"]}, "unknown probe kind ['http']"),
    ({"id": "v6", "kind": "http", "url": "http://[::1/"}, "field 'url'"),
    ({"id": "hi", "kind": "http", "url": "http://127.0.0.1:1/",
      "headers": {"a": "b\r\nX-Injected: 1"}}, "field 'headers'"),
]


def test_bad_probes_are_errors_and_the_rest_still_run(service: AccountService) -> None:
    good = {"id": "good", "kind": "http",
            "url": f"http://127.0.0.1:{service.http_port}/healthz"}
    probes = [good, *[p for p, _ in BAD_PROBES], {**good, "id": "good2"}]
    proc = run_prober_raw(json.dumps(probes))
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert len(results) == len(probes)
    assert results[0]["outcome"] == "ok" and results[-1]["outcome"] == "ok"
    for result, (_, reason) in zip(results[1:-1], BAD_PROBES, strict=True):
        assert result["outcome"] == "error"
        assert reason in result["error"], result


def test_thousands_of_probes_in_one_batch(service: AccountService) -> None:
    count = 3000
    probes = [{"id": f"bulk-{i}", "kind": "http",
               "url": f"http://127.0.0.1:{service.http_port}/api/v1/accounts/{i}"}
              for i in range(count)]
    results = run_prober(probes, "--concurrency", "64")
    assert all(r["outcome"] == "ok" for r in results)
    bulk = [e for e in service.requests() if str(e["probe_id"]).startswith("bulk-")]
    assert {e["probe_id"] for e in bulk} == {f"bulk-{i}" for i in range(count)}
    # One connection each, counted by the server's accepts: client ports are reused within
    # a batch (and by parallel tests), so distinct `local` addresses would undercount.
    assert len({e["connection"] for e in bulk}) == count


def test_concurrency_is_bounded() -> None:
    probes = [{"id": i, "kind": "http", "timeout": 0.4} for i in range(12)]
    with silent_server() as port:
        for probe in probes:
            probe["url"] = f"http://127.0.0.1:{port}/"
        start = time.monotonic()
        run_prober(probes, "--concurrency", "4")
        bounded = time.monotonic() - start
        start = time.monotonic()
        run_prober(probes, "--concurrency", "12")
        wide = time.monotonic() - start
    # 12 probes that each wait 0.4 s: three waves of four cannot finish in under 1.2 s.
    assert bounded >= 1.2
    assert wide < bounded


def test_outcome_vocabulary_is_the_issue_list() -> None:
    assert set(OUTCOMES) == {"ok", "http-error", "grpc-error", "timeout", "refused", "reset",
                             "closed", "dns-refused", "dns-nxdomain", "dns-timeout", "error"}


def test_concurrency_beyond_the_open_files_limit_is_lowered_not_turned_into_errors() -> None:
    """Past the fd limit probes would fail with EMFILE, an answer about the prober, not the
    path; the prober lowers its concurrency instead and says so on stderr."""
    limit = ["sh", "-c", 'ulimit -n 128 && exec "$@"', "sh"]  # soft and hard limit 128
    with closed_port() as port:  # nothing listens: every probe must be `refused`
        probes = [{"id": i, "kind": "tcp", "host": "127.0.0.1", "port": port}
                  for i in range(400)]
        proc = run_prober_raw(json.dumps(probes), "--concurrency", "1024", wrap=limit)
    assert proc.returncode == 0, proc.stderr
    assert {r["outcome"] for r in json.loads(proc.stdout)} == {"refused"}
    assert "--concurrency 1024 lowered to 64 (open-files limit)" in proc.stderr


def test_interrupted_batch_is_one_line_and_exit_130() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(PROBER_TIMEOUT_S)
    port = listener.getsockname()[1]
    probe = [{"id": "held", "kind": "http", "url": f"http://127.0.0.1:{port}/", "timeout": 60}]
    proc = subprocess.Popen([sys.executable, "-m", "workloads.prober", "run"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(probe))
        proc.stdin.close()
        conn, _ = listener.accept()  # the batch is in flight now
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=PROBER_TIMEOUT_S)
        assert proc.stdout is not None and proc.stderr is not None
        out, err = proc.stdout.read(), proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()
        listener.close()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    conn.close()
    assert proc.returncode == 130
    assert out == "" and err.strip() == "prober: interrupted; no results"
