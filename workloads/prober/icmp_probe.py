"""ICMP echo probe from an unprivileged ICMP ("ping") socket: no raw socket, no capability.

Linux lets a process open `socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)` when its group is in
`net.ipv4.ping_group_range` (one range for both families, per network namespace); the pod
sets that sysctl (manifests/workloads). The kernel fills in the echo identifier (the
socket's "port") and, for IPv4, the checksum. The outcome mirrors a connect: `ok` when the
echo reply comes back, `timeout` when nothing does (the L3/L4-drop signature), `error`
(phase connect) when the socket is not allowed.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
from typing import Any

from workloads.prober.netio import ERROR, OK, TIMEOUT, Conn, Failure
from workloads.prober.spec import IcmpProbe

FAMILY = {"ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}
ECHO_REQUEST = {"ipv4": 8, "ipv6": 128}
ECHO_REPLY = {"ipv4": 0, "ipv6": 129}
PROTO = {"ipv4": socket.IPPROTO_ICMP, "ipv6": socket.IPPROTO_ICMPV6}
SEQUENCE = 1
MAX_REPLY = 65536


def echo_request(family: str, payload: bytes) -> bytes:
    # identifier 0 and checksum 0: the kernel writes both for a ping socket
    return struct.pack("!BBHHH", ECHO_REQUEST[family], 0, 0, 0, SEQUENCE) + payload


def _is_our_reply(family: str, data: bytes, payload: bytes) -> bool:
    if len(data) < 8:
        return False
    kind, _code, _sum, _ident, seq = struct.unpack("!BBHHH", data[:8])
    return kind == ECHO_REPLY[family] and seq == SEQUENCE and data[8:] == payload


async def run(probe: IcmpProbe, conn: Conn) -> dict[str, Any]:
    family = probe.family
    conn.phase = "resolve"
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            probe.host, 0, family=FAMILY[family], type=socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Failure(ERROR, f"cannot resolve {probe.host!r} as {family}: {exc}",
                      {"phase": "resolve"}) from exc
    sockaddr = infos[0][4]
    conn.remote = f"[{sockaddr[0]}]:0" if family == "ipv6" else f"{sockaddr[0]}:0"
    conn.phase = "connect"
    try:
        sock = socket.socket(FAMILY[family], socket.SOCK_DGRAM, PROTO[family])
    except PermissionError as exc:
        raise Failure(ERROR, "ICMP sockets are not allowed for this group: set the sysctl "
                             "net.ipv4.ping_group_range to include it", {"phase": "connect"}
                      ) from exc
    try:
        sock.setblocking(False)
        sock.connect(sockaddr)
        local = sock.getsockname()  # (address, echo identifier)
        conn.local = f"[{local[0]}]:{local[1]}" if family == "ipv6" else f"{local[0]}:{local[1]}"
        payload = str(probe.id).encode()[:64]
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(sock, echo_request(family, payload))
        while True:  # under the runner's deadline: a drop ends in TimeoutError
            data = await loop.sock_recv(sock, MAX_REPLY)
            if _is_our_reply(family, data, payload):
                return {"outcome": OK, "icmp_id": local[1]}
    except OSError as exc:
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            raise Failure(TIMEOUT, f"no route to {probe.host}", {"phase": "connect"}) from exc
        raise
    finally:
        sock.close()
