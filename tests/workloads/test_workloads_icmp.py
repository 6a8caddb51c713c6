"""ICMP echo from an unprivileged ICMP socket, inside a network namespace of our own: `ok`
with net.ipv4.ping_group_range covering the group, `timeout` when an iptables rule drops
the echo, and a clear `error` naming the sysctl when the range leaves the group out (the
kernel default "1 0")."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.netns import NetNs, veth_namespace
from tests.support.prober_cli import by_id, run_prober

pytestmark = pytest.mark.netns

PROBE_TIMEOUT_S = 1.0
ALL_GROUPS = "0 2147483647"  # what the pod's sysctl sets
KERNEL_DEFAULT = "1 0"


@pytest.fixture
def ns(netns_capable: None) -> Iterator[NetNs]:
    with veth_namespace() as made:
        yield made


def _ping(ns: NetNs, tag: str) -> dict[str, object]:
    return {"id": tag, "kind": "icmp", "host": ns.host_ip, "timeout": PROBE_TIMEOUT_S}


def _range(ns: NetNs, value: str) -> None:
    ns.run(["sysctl", "-q", "-w", f"net.ipv4.ping_group_range={value}"])


def test_echo_ok_drop_timeout_and_no_permission(ns: NetNs) -> None:
    wrap = ns.exec_cmd([])
    _range(ns, ALL_GROUPS)
    ok = by_id(run_prober([_ping(ns, "ok"), {**_ping(ns, "lo"), "host": "127.0.0.1"}],
                          wrap=wrap))
    assert ok["ok"]["outcome"] == "ok", ok
    assert ok["lo"]["outcome"] == "ok", ok
    assert ok["ok"]["local"].startswith(f"{ns.ns_ip}:")
    assert ok["ok"]["remote"] == f"{ns.host_ip}:0"

    # the reply is dropped on the way in (a local OUTPUT drop would fail the send: EPERM)
    ns.iptables("-A", "INPUT", "-p", "icmp", "-s", ns.host_ip, "-j", "DROP")
    dropped = run_prober([_ping(ns, "drop")], wrap=wrap)[0]
    assert dropped["outcome"] == "timeout", dropped
    assert dropped["phase"] == "connect"
    assert PROBE_TIMEOUT_S * 900 <= dropped["elapsed_ms"] < PROBE_TIMEOUT_S * 3000

    _range(ns, KERNEL_DEFAULT)
    refused = run_prober([_ping(ns, "no-group")], wrap=wrap)[0]
    assert refused["outcome"] == "error"
    assert "net.ipv4.ping_group_range" in refused["error"]


def test_bad_icmp_probe_fields() -> None:
    results = by_id(run_prober([
        {"id": "fam", "kind": "icmp", "host": "127.0.0.1", "family": "ipv5"},
        {"id": "port", "kind": "icmp", "host": "127.0.0.1", "port": 80},
    ]))
    assert "field 'family': expected ipv4 or ipv6" in results["fam"]["error"]
    assert "unknown field(s) 'port'" in results["port"]["error"]
