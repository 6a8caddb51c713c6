"""Non-blocking sockets on asyncio, and the mapping from socket errors to named outcomes.

The connect is started by hand so the local address is known as soon as the SYN leaves
(getsockname after EINPROGRESS): a timed-out probe still reports the 5-tuple it used,
which the suite matches against Hubble's DROPPED flow.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import ssl
from dataclasses import dataclass, field
from typing import Any

# Outcome vocabulary (issue 2); the suite's assertions are written in these words.
OK = "ok"
HTTP_ERROR = "http-error"
GRPC_ERROR = "grpc-error"
TIMEOUT = "timeout"  # connect did not complete in time: the L3/L4-drop signature
REFUSED = "refused"
RESET = "reset"
CLOSED = "closed"  # the peer closed the connection (FIN) before the TLS handshake finished
DNS_REFUSED = "dns-refused"
DNS_NXDOMAIN = "dns-nxdomain"
DNS_TIMEOUT = "dns-timeout"
ERROR = "error"
OUTCOMES = (OK, HTTP_ERROR, GRPC_ERROR, TIMEOUT, REFUSED, RESET, CLOSED, DNS_REFUSED,
            DNS_NXDOMAIN, DNS_TIMEOUT, ERROR)

RESET_ERRNOS = (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED)


@dataclass
class Failure(Exception):
    """A probe ended in a named outcome other than ok; `fields` go into the result."""

    outcome: str
    error: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.outcome}: {self.error}"

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {"outcome": self.outcome, **self.fields}
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class Conn:
    """What a probe knows about its socket, filled in as soon as each part is known.

    `phase` names the step in progress, so a deadline is classified by where it struck:
    only a connect that never completed is the `timeout` outcome.
    """

    local: str | None = None
    remote: str | None = None
    phase: str = "start"


def fmt_addr(addr: Any) -> str:
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _literal(host: str, port: int) -> tuple[int, Any] | None:
    """(family, sockaddr) for an IP literal, without a resolver call (the common case)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return family, (host, port) if family == socket.AF_INET else (host, port, 0, 0)
    return None


async def resolve(host: str, port: int, sock_type: int, conn: Conn) -> tuple[int, Any]:
    """(family, sockaddr) via the system resolver, as the application would."""
    conn.phase = "resolve"
    if (literal := _literal(host, port)) is not None:
        return literal
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=sock_type)
    except (socket.gaierror, UnicodeError) as exc:
        raise Failure(ERROR, f"cannot resolve {host!r}: {exc}", {"phase": "resolve"}) from exc
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr


def classify(exc: OSError, phase: str, timeout_s: float) -> Failure:
    """Name an OS error; a timeout counts as `timeout` only while connecting."""
    if isinstance(exc, TimeoutError):
        if phase == "connect":
            return Failure(TIMEOUT, f"connect did not complete within {timeout_s:g}s",
                           {"phase": phase})
        return Failure(ERROR, f"no complete answer within {timeout_s:g}s (phase {phase})",
                       {"phase": phase})
    if isinstance(exc, ConnectionRefusedError) or exc.errno == errno.ECONNREFUSED:
        return Failure(REFUSED, "connection refused", {"phase": phase})
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError) or (
        exc.errno in RESET_ERRNOS
    ):
        return Failure(RESET, f"connection reset by peer during {phase}", {"phase": phase})
    return Failure(ERROR, f"{phase}: {exc}", {"phase": phase})


async def open_tcp(host: str, port: int, conn: Conn) -> socket.socket:
    """Start a connect, note the local address at once, then await completion.

    Runs under the probe's deadline (asyncio.timeout_at in the runner); errors other than
    that deadline are raised as OSError for the caller to classify.
    """
    family, sockaddr = await resolve(host, port, socket.SOCK_STREAM, conn)
    conn.remote = fmt_addr(sockaddr)
    conn.phase = "connect"
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        err = sock.connect_ex(sockaddr)
        if err in (0, errno.EINPROGRESS):
            conn.local = fmt_addr(sock.getsockname())
        if err == errno.EINPROGRESS:
            if not _connected(sock):
                await _writable(sock)
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise OSError(err, os.strerror(err))
        if conn.local is None:
            conn.local = fmt_addr(sock.getsockname())
    except BaseException:
        sock.close()
        raise
    return sock


def _connected(sock: socket.socket) -> bool:
    """True when the handshake already finished (usual on loopback): skips a loop turn."""
    try:
        sock.getpeername()
    except OSError:
        return False
    return True


async def _writable(sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def _done() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_writer(sock.fileno(), _done)
    try:
        await ready
    finally:
        loop.remove_writer(sock.fileno())


class Channel:
    """A connected byte stream: a plain non-blocking socket, or TLS over asyncio streams."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def start_tls(self, ctx: ssl.SSLContext, server_hostname: str) -> None:
        self._reader, self._writer = await asyncio.open_connection(
            sock=self._sock, ssl=ctx, server_hostname=server_hostname)

    async def send(self, data: bytes) -> None:
        if self._writer is not None:
            self._writer.write(data)
            await self._writer.drain()
        else:
            await asyncio.get_running_loop().sock_sendall(self._sock, data)

    async def recv(self, size: int = 65536) -> bytes:
        if self._reader is not None:
            return await self._reader.read(size)
        return await asyncio.get_running_loop().sock_recv(self._sock, size)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        else:
            self._sock.close()
