"""DNS probe: one query to one server, with the answer's rcode named as an outcome."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

from workloads.prober.netio import (
    DNS_NXDOMAIN,
    DNS_REFUSED,
    ERROR,
    OK,
    Channel,
    Conn,
    Failure,
    fmt_addr,
    open_tcp,
)
from workloads.prober.spec import DnsProbe

RESOLV_CONF = "/etc/resolv.conf"
DNS_PORT = 53


def system_server(path: str = RESOLV_CONF) -> tuple[str, int]:
    """The first nameserver of resolv.conf: where the application's lookups go."""
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    return parts[1], DNS_PORT
    except OSError as exc:
        raise Failure(ERROR, f"no 'server' given and {path} is unreadable: {exc}") from exc
    raise Failure(ERROR, f"no 'server' given and {path} names no nameserver")


def make_query(probe: DnsProbe) -> dns.message.Message:
    try:
        rdtype = dns.rdatatype.from_text(probe.qtype)
    except (dns.exception.DNSException, ValueError) as exc:  # also TYPE65536: out of range
        raise Failure(ERROR, f"field 'qtype': unknown record type {probe.qtype[:40]!r}") from exc
    try:
        return dns.message.make_query(probe.name, rdtype)
    except (dns.exception.DNSException, ValueError) as exc:
        raise Failure(ERROR, f"field 'name': {exc}") from exc


async def _udp(query: dns.message.Message, server: tuple[str, int],
               conn: Conn) -> dns.message.Message:
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.connect(server)  # picks the local port now; also surfaces ICMP unreachable
        conn.local = fmt_addr(sock.getsockname())
        conn.phase = "query"
        await loop.sock_sendall(sock, query.to_wire())
        while True:
            wire = await loop.sock_recv(sock, 65535)
            try:
                reply = dns.message.from_wire(wire)
            except dns.exception.DNSException:
                continue  # not a DNS message; keep waiting for ours
            if query.is_response(reply):
                return reply


async def _tcp(query: dns.message.Message, server: tuple[str, int],
               conn: Conn) -> dns.message.Message:
    ch = Channel(await open_tcp(server[0], server[1], conn))
    conn.phase = "query"
    try:
        wire = query.to_wire()
        await ch.send(len(wire).to_bytes(2, "big") + wire)
        buf = b""
        while len(buf) < 2 or len(buf) < 2 + int.from_bytes(buf[:2], "big"):
            chunk = await ch.recv()
            if not chunk:
                raise Failure(ERROR, "server closed the TCP connection without an answer")
            buf += chunk
        return dns.message.from_wire(buf[2:2 + int.from_bytes(buf[:2], "big")])
    except dns.exception.DNSException as exc:
        raise Failure(ERROR, f"malformed DNS answer: {exc}") from exc
    finally:
        ch.close()


async def run(probe: DnsProbe, conn: Conn) -> dict[str, Any]:
    query = make_query(probe)
    server = probe.server or system_server()
    conn.remote = fmt_addr(server)
    transport = probe.transport
    reply = await (_udp if transport == "udp" else _tcp)(query, server, conn)
    if reply.flags & dns.flags.TC and transport == "udp":
        transport = "tcp"
        reply = await _tcp(query, server, conn)
    rcode = reply.rcode()
    result: dict[str, Any] = {"rcode": dns.rcode.to_text(rcode), "transport": transport}
    if rcode == dns.rcode.REFUSED:
        return {"outcome": DNS_REFUSED, **result}
    if rcode == dns.rcode.NXDOMAIN:
        return {"outcome": DNS_NXDOMAIN, **result}
    if rcode != dns.rcode.NOERROR:
        return {"outcome": ERROR, **result, "error": f"server answered {result['rcode']}"}
    wanted = query.question[0].rdtype
    rrsets = [rrset for rrset in reply.answer if rrset.rdtype == wanted]
    result["answers"] = [rdata.to_text() for rrset in rrsets for rdata in rrset]
    result["ttl"] = min((rrset.ttl for rrset in rrsets), default=None)
    return {"outcome": OK, **result}
