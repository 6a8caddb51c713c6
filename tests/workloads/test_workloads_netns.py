"""`timeout` is a connect that never completes: a real iptables DROP inside a network
namespace of our own, next to REJECT (refused) and no rule (ok) on the same target."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import netns
from tests.support.account_service import AccountService, account_service
from tests.support.netns import NetNs, veth_namespace
from tests.support.prober_cli import by_id, run_prober

pytestmark = pytest.mark.netns

HTTP_PORT, GRPC_PORT = 8080, 9090
PROBE_TIMEOUT_S = 1.0
REPO = Path(__file__).resolve().parents[2]
HOLDER_TIMEOUT_S = 30.0
# Another test worker: holds one namespace until its stdin closes.
HOLD = """import sys
from tests.support.netns import veth_namespace
with veth_namespace() as ns:
    print(ns.name, ns.host_ip, flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def target(netns_capable: None, tmp_path: Path) -> Iterator[tuple[NetNs, AccountService]]:
    with veth_namespace() as ns, account_service(
        tmp_path, bind="0.0.0.0", wrap=ns.exec_cmd([]), ports=(HTTP_PORT, GRPC_PORT)
    ) as svc:
        yield ns, svc


def _probes(ns: NetNs, tag: str) -> list[dict[str, object]]:
    return [
        {"id": f"{tag}-tcp", "kind": "tcp", "host": ns.ns_ip, "port": HTTP_PORT,
         "timeout": PROBE_TIMEOUT_S},
        {"id": f"{tag}-http", "kind": "http", "timeout": PROBE_TIMEOUT_S,
         "url": f"http://{ns.ns_ip}:{HTTP_PORT}/api/v1/accounts"},
        {"id": f"{tag}-grpc", "kind": "grpc", "target": f"{ns.ns_ip}:{GRPC_PORT}",
         "method": "/api.AccountService/GetAccount", "timeout": PROBE_TIMEOUT_S},
    ]


def test_drop_is_timeout_reject_is_refused_and_no_rule_is_ok(
    target: tuple[NetNs, AccountService],
) -> None:
    ns, svc = target
    open_results = by_id(run_prober(_probes(ns, "open")))
    assert {r["outcome"] for r in open_results.values()} == {"ok"}
    assert open_results["open-http"]["local"].startswith(f"{ns.host_ip}:")

    ns.iptables("-A", "INPUT", "-p", "tcp", "--dport", str(HTTP_PORT), "-j", "DROP")
    ns.iptables("-A", "INPUT", "-p", "tcp", "--dport", str(GRPC_PORT), "-j", "DROP")
    dropped = run_prober(_probes(ns, "drop"))
    for result in dropped:
        assert result["outcome"] == "timeout", result
        assert result["phase"] == "connect"
        assert PROBE_TIMEOUT_S * 1000 * 0.9 <= result["elapsed_ms"] < PROBE_TIMEOUT_S * 3000
        # The 5-tuple of the SYN that was dropped, for matching a DROPPED flow.
        assert result["local"].startswith(f"{ns.host_ip}:")
        assert result["remote"] in (f"{ns.ns_ip}:{HTTP_PORT}", f"{ns.ns_ip}:{GRPC_PORT}")
    assert len({r["local"] for r in dropped}) == len(dropped)

    ns.iptables("-F", "INPUT")
    ns.iptables("-A", "INPUT", "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset")
    rejected = run_prober(_probes(ns, "reject"))
    assert {r["outcome"] for r in rejected} == {"refused"}

    seen = svc.probe_ids()
    assert {"open-http", "open-grpc"} <= seen
    assert not {p for p in seen if p.startswith(("drop-", "reject-"))}


def test_namespace_is_gone_afterwards(netns_capable: None) -> None:
    with veth_namespace() as ns:
        name = ns.name
        assert name in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                      text=True, check=True).stdout
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                            check=True).stdout
    links = subprocess.run(["ip", "link"], capture_output=True, text=True, check=True).stdout
    assert name not in listed and ns.host_if not in links


def test_two_workers_never_share_a_block(netns_capable: None,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD], cwd=REPO, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdin is not None
        other_name, other_ip = holder.stdout.readline().split()
        # Make this worker look like the holder to a pid-derived scheme (pid * 8 + a fresh
        # per-process counter): that scheme put both on one block, so names and addresses
        # collided whenever two xdist workers' pids were 1024 apart.
        monkeypatch.setattr(os, "getpid", lambda: holder.pid)
        monkeypatch.setattr(netns, "_counter", itertools.count(), raising=False)
        with veth_namespace() as ns:
            assert ns.name != other_name and ns.host_ip != other_ip
            assert ns.run(["ip", "-4", "-o", "addr", "show", "dev", ns.ns_if]).stdout
        holder.stdin.close()
        assert holder.wait(HOLDER_TIMEOUT_S) == 0
    finally:
        holder.kill()
        holder.wait(HOLDER_TIMEOUT_S)
