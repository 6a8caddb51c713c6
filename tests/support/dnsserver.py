"""A real DNS server for tests (dnspython messages over UDP and TCP on loopback).

Answers A records for the names it knows, REFUSED for names on its refuse list,
NXDOMAIN for the rest; `silent=True` makes a server that reads queries and never
answers (the dns-timeout case). Every query is recorded.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

STOP_TIMEOUT_S = 5.0
TCP_READ_TIMEOUT_S = 5.0

DEFAULT_TTL = 30
ACCEPT_POLL_S = 0.1  # how often the serving loops check for shutdown
BIND_ATTEMPTS = 20


@dataclass
class DnsServer:
    records: dict[str, list[str]] = field(default_factory=dict)
    refused: set[str] = field(default_factory=set)
    silent: bool = False
    ttl: int = DEFAULT_TTL
    host: str = "127.0.0.1"
    queries: list[tuple[str, str, str]] = field(default_factory=list)  # (transport, name, type)

    def __post_init__(self) -> None:
        # One port number for UDP and TCP: the UDP port the kernel picks may be taken for
        # TCP by a parallel test, so pick again (bounded) until both bind.
        for attempt in range(BIND_ATTEMPTS):
            self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._udp.bind((self.host, 0))
            self.port: int = self._udp.getsockname()[1]
            self._tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self._tcp.bind((self.host, self.port))
                break
            except OSError:
                self._udp.close()
                self._tcp.close()
                if attempt == BIND_ATTEMPTS - 1:
                    raise
        self._udp.settimeout(ACCEPT_POLL_S)
        self._tcp.listen(16)
        self._tcp.settimeout(ACCEPT_POLL_S)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._serve_udp, daemon=True),
                         threading.Thread(target=self._serve_tcp, daemon=True)]

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def __enter__(self) -> DnsServer:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=STOP_TIMEOUT_S)
        self._udp.close()
        self._tcp.close()

    def answer(self, wire: bytes, transport: str) -> bytes | None:
        """The reply to one query, or None to stay silent."""
        try:
            query = dns.message.from_wire(wire)
        except Exception:
            return None
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        with self._lock:
            self.queries.append((transport, name, dns.rdatatype.to_text(question.rdtype)))
        if self.silent:
            return None
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.AA
        if name in self.refused:
            reply.set_rcode(dns.rcode.REFUSED)
        elif name not in self.records:
            reply.set_rcode(dns.rcode.NXDOMAIN)
        elif question.rdtype == dns.rdatatype.A:
            reply.answer.append(dns.rrset.from_text_list(
                question.name, self.ttl, dns.rdataclass.IN, dns.rdatatype.A,
                self.records[name]))
        return reply.to_wire()

    def _serve_udp(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self._udp.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            if (reply := self.answer(wire, "udp")) is not None:
                self._udp.sendto(reply, peer)

    def _serve_tcp(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._tcp.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(TCP_READ_TIMEOUT_S)
                try:
                    size = int.from_bytes(conn.recv(2), "big")
                    wire = b""
                    while len(wire) < size:
                        chunk = conn.recv(size - len(wire))
                        if not chunk:
                            break
                        wire += chunk
                    reply = self.answer(wire, "tcp")
                    if reply is not None:
                        conn.sendall(len(reply).to_bytes(2, "big") + reply)
                except OSError:
                    continue
