"""DNS probes against a real DNS server on loopback: answers, REFUSED, NXDOMAIN, silence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.dnsserver import DnsServer
from tests.support.prober_cli import by_id, run_prober
from workloads.prober.dns_probe import system_server


@pytest.fixture(scope="module")
def dns_server() -> Iterator[DnsServer]:
    with DnsServer(records={"api.stripe.test": ["192.0.2.10", "192.0.2.11"],
                            "ledger.internal.test": ["192.0.2.20"]},
                   refused={"evil.example.test"}, ttl=42) as server:
        yield server


def test_answers_refused_and_nxdomain(dns_server: DnsServer) -> None:
    server = dns_server.address
    results = by_id(run_prober([
        {"id": "ok", "kind": "dns", "name": "api.stripe.test", "server": server},
        {"id": "ok-dot", "kind": "dns", "name": "Ledger.Internal.Test.", "server": server},
        {"id": "refused", "kind": "dns", "name": "evil.example.test", "server": server},
        {"id": "nx", "kind": "dns", "name": "nothing.here.test", "server": server},
        {"id": "tcp", "kind": "dns", "name": "api.stripe.test", "server": server,
         "transport": "tcp"},
    ]))
    ok = results["ok"]
    assert ok["outcome"] == "ok"
    assert sorted(ok["answers"]) == ["192.0.2.10", "192.0.2.11"]
    assert ok["ttl"] == 42 and ok["rcode"] == "NOERROR"
    assert ok["remote"] == server and ok["local"].startswith("127.0.0.1:")
    assert results["ok-dot"]["answers"] == ["192.0.2.20"]
    assert results["refused"]["outcome"] == "dns-refused"
    assert results["refused"]["rcode"] == "REFUSED"
    assert results["nx"]["outcome"] == "dns-nxdomain"
    assert results["tcp"]["outcome"] == "ok" and results["tcp"]["transport"] == "tcp"
    asked = {(t, n) for t, n, _ in dns_server.queries}
    assert {("udp", "evil.example.test"), ("tcp", "api.stripe.test")} <= asked


def test_a_server_that_never_answers_is_dns_timeout() -> None:
    with DnsServer(silent=True) as silent:
        [result] = run_prober([{"id": "quiet", "kind": "dns", "name": "api.stripe.test",
                                "server": silent.address, "timeout": 0.5}])
        assert ("udp", "api.stripe.test", "A") in silent.queries  # it was asked
    assert result["outcome"] == "dns-timeout"
    assert 450 <= result["elapsed_ms"] < 3000
    assert result["local"] is not None


def test_no_answer_records_of_the_type_is_ok_with_empty_answers(dns_server: DnsServer) -> None:
    [result] = run_prober([{"id": "aaaa", "kind": "dns", "name": "api.stripe.test",
                            "qtype": "AAAA", "server": dns_server.address}])
    assert result["outcome"] == "ok" and result["answers"] == []


def test_system_resolver_server_is_read_from_resolv_conf(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("search svc.cluster.local\nnameserver 10.96.0.10\nnameserver 1.1.1.1\n")
    assert system_server(str(conf)) == ("10.96.0.10", 53)
