"""A network namespace joined to the host by a veth pair, for real drop/reject tests.

Addresses come from 198.18.0.0/15 (RFC 2544, benchmarking), one /30 per namespace,
derived from the pid so parallel test workers do not collide. Everything is removed
on exit, also when the test fails.
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

NET_BASE = ipaddress.ip_address("198.18.0.0")
BLOCKS = 2 ** 15 // 4  # /30 blocks in 198.18.0.0/15
CMD_TIMEOUT_S = 20.0
_counter = itertools.count()


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


@contextmanager
def veth_namespace() -> Iterator[NetNs]:
    n = next(_counter)
    block = (os.getpid() * 8 + n) % BLOCKS
    base = NET_BASE + block * 4
    tag = f"{os.getpid() % 100000}x{n}"
    ns = NetNs(name=f"ztc-{tag}", host_if=f"zth{tag}"[:15], ns_if=f"ztn{tag}"[:15],
               host_ip=str(base + 1), ns_ip=str(base + 2))
    try:
        _run(["ip", "netns", "add", ns.name])
        _run(["ip", "link", "add", ns.host_if, "type", "veth", "peer", "name", ns.ns_if])
        _run(["ip", "link", "set", ns.ns_if, "netns", ns.name])
        _run(["ip", "addr", "add", f"{ns.host_ip}/30", "dev", ns.host_if])
        _run(["ip", "link", "set", ns.host_if, "up"])
        _run(["ip", "-n", ns.name, "addr", "add", f"{ns.ns_ip}/30", "dev", ns.ns_if])
        _run(["ip", "-n", ns.name, "link", "set", ns.ns_if, "up"])
        _run(["ip", "-n", ns.name, "link", "set", "lo", "up"])
        yield ns
    finally:
        _run(["ip", "link", "del", ns.host_if], check=False)
        _run(["ip", "netns", "del", ns.name], check=False)
