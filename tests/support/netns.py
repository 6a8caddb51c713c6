"""A network namespace joined to the host by a veth pair, for real drop/reject tests.

Addresses come from 198.18.0.0/15 (RFC 2544, benchmarking), one /30 per namespace. A
block is claimed under a host-wide file lock: the first block whose host address is on no
interface and whose namespace name is not taken, claimed by assigning that address before
the lock is released. So parallel test workers (and parallel test runs on one host) never
share a block; a pid-derived block could collide. Everything is removed on exit, also
when the test fails; a block a killed run left behind stays in use, so it is skipped.
"""

from __future__ import annotations

import fcntl
import ipaddress
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

NET = ipaddress.ip_network("198.18.0.0/15")
BLOCKS = NET.num_addresses // 4  # /30 blocks
CMD_TIMEOUT_S = 20.0
LOCK_PATH = Path(tempfile.gettempdir()) / "ztc-netns.lock"


@dataclass(frozen=True)
class NetNs:
    name: str
    host_if: str
    ns_if: str
    host_ip: str
    ns_ip: str

    def exec_cmd(self, cmd: Sequence[str]) -> list[str]:
        """cmd wrapped to run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *cmd]

    def run(self, cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
        return _run(self.exec_cmd(cmd))

    def iptables(self, *args: str) -> None:
        self.run(["iptables", "-w", *args])


def _run(cmd: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(cmd), capture_output=True, text=True, timeout=CMD_TIMEOUT_S,
                            check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}): "
                           f"{result.stderr.strip()}")
    return result


def _addresses_in_use() -> set[str]:
    out = _run(["ip", "-4", "-o", "addr", "show"]).stdout
    # "2: eth0    inet 198.18.0.1/30 brd ... scope global eth0"
    return {fields[3].split("/")[0] for fields in (line.split() for line in out.splitlines())
            if len(fields) > 3 and fields[2] == "inet"}


def _namespaces() -> set[str]:
    return {line.split()[0] for line in _run(["ip", "netns", "list"]).stdout.splitlines()
            if line.strip()}


def _names(block: int) -> NetNs:
    base = NET.network_address + block * 4
    return NetNs(name=f"ztc-b{block}", host_if=f"zth{block}", ns_if=f"ztn{block}",
                 host_ip=str(base + 1), ns_ip=str(base + 2))


def _claim() -> NetNs:
    """Create the namespace and the veth pair on the first free block (call under the lock:
    the block counts as taken once its host address is assigned)."""
    used, names = _addresses_in_use(), _namespaces()
    free = (_names(b) for b in range(BLOCKS))
    ns = next((n for n in free if n.host_ip not in used and n.name not in names), None)
    if ns is None:
        raise RuntimeError(f"no free /30 left in {NET} (stale ztc-* namespaces?)")
    try:
        _run(["ip", "netns", "add", ns.name])
        _run(["ip", "link", "add", ns.host_if, "type", "veth", "peer", "name", ns.ns_if])
        _run(["ip", "addr", "add", f"{ns.host_ip}/30", "dev", ns.host_if])
    except BaseException:
        _remove(ns)
        raise
    return ns


def _remove(ns: NetNs) -> None:
    _run(["ip", "link", "del", ns.host_if], check=False)
    _run(["ip", "netns", "del", ns.name], check=False)


@contextmanager
def veth_namespace() -> Iterator[NetNs]:
    with open(LOCK_PATH, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # blocks while another worker claims a block
        ns = _claim()
    try:
        _run(["ip", "link", "set", ns.ns_if, "netns", ns.name])
        _run(["ip", "link", "set", ns.host_if, "up"])
        _run(["ip", "-n", ns.name, "addr", "add", f"{ns.ns_ip}/30", "dev", ns.ns_if])
        _run(["ip", "-n", ns.name, "link", "set", ns.ns_if, "up"])
        _run(["ip", "-n", ns.name, "link", "set", "lo", "up"])
        yield ns
    finally:
        _remove(ns)
