"""HTTP/1.1 (and TLS) front of account-service on asyncio.

One event loop serves thousands of short probe connections per second far more cheaply
than a thread per connection would; keep-alive is supported because Envoy pools upstream
connections. Parsing is in http_parse. The front is bounded so that a hostile or broken
client cannot take the pod down: a connection cap, a deadline for each complete request
(head and body; bytes that trickle in do not extend it), an idle timeout between
requests, and a budget for the bytes buffered across all connections.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from dataclasses import dataclass
from typing import Any

from workloads.account_service.echo import AccessLog, Request, handle, served_by
from workloads.account_service.http_parse import BadRequest, RequestParser, get_header

DEFAULT_MAX_CONNECTIONS = 512
DEFAULT_REQUEST_TIMEOUT_S = 10.0
# A silent client between requests must not hold a connection forever.
CONNECTION_IDLE_TIMEOUT_S = 30.0
# All connections together: well under the pod's 256 Mi memory limit.
DEFAULT_MAX_BUFFERED_BYTES = 64 << 20
# After an error answer, how long a peer that does not read may keep the socket.
CLOSE_LINGER_S = 2.0
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           408: "Request Timeout", 413: "Content Too Large",
           431: "Request Header Fields Too Large", 503: "Service Unavailable"}


@dataclass(frozen=True)
class Limits:
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT_S
    idle_timeout: float = CONNECTION_IDLE_TIMEOUT_S
    max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES


def _response(status: int, payload: dict[str, Any], close: bool) -> bytes:
    data = json.dumps(payload).encode()
    head = (
        f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\n"
        "Server: account-service\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n"
        f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n"
    )
    return head.encode() + data


class _Connection(asyncio.Protocol):
    """One client connection; a Protocol, not a stream task, because probes open thousands
    of short connections per second and per-connection overhead is what limits the rate."""

    def __init__(self, front: HttpFront) -> None:
        self._front = front
        self._parser = RequestParser()
        self._accounted = 0  # this connection's share of front.buffered
        self._transport: asyncio.Transport | None = None
        self._client = "?"
        self._serial = 0
        self._timer: asyncio.TimerHandle | None = None
        self._counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername") or ("?", 0)
        self._client = f"{peer[0]}:{peer[1]}"
        front = self._front
        if front.open >= front.limits.max_connections:
            self._fail(503, f"more than {front.limits.max_connections} connections open")
            return
        front.open += 1
        front.accepted += 1
        self._serial = front.accepted
        self._counted = True
        self._arm(front.limits.idle_timeout, transport.abort)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._counted:
            self._front.open -= 1
            self._counted = False
        self._account(0)

    # A client that sends but never reads would otherwise grow our write buffer.
    def pause_writing(self) -> None:
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()

    def _arm(self, delay: float, action: Any) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(delay, action)

    def _account(self, size: int) -> None:
        self._front.buffered += size - self._accounted
        self._accounted = size

    def _fail(self, status: int, reason: str) -> None:
        """Answer an error, close, and drop the socket if the peer will not take the answer."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        self._front.log.write(event="rejected", status=status, reason=reason,
                              client=self._client, served_by=served_by())
        transport.write(_response(status, {"error": reason}, close=True))
        transport.close()
        self._arm(CLOSE_LINGER_S, transport.abort)
        self._parser = RequestParser()
        self._account(0)

    def _request_timed_out(self) -> None:
        self._fail(408, f"request not complete within {self._front.limits.request_timeout:g}s")

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        limits = self._front.limits
        if self._front.buffered + len(data) > limits.max_buffered_bytes:
            self._fail(503, "server busy: too many bytes buffered")
            return
        if not self._parser.in_request:  # first byte of a request: its deadline starts now
            self._arm(limits.request_timeout, self._request_timed_out)
        self._parser.feed(data)
        try:
            self._serve_complete_requests(transport)
        except BadRequest as exc:
            self._fail(exc.status, str(exc))
            return
        self._account(self._parser.buffered)

    def _serve_complete_requests(self, transport: asyncio.Transport) -> None:
        limits = self._front.limits
        while (parsed := self._parser.next()) is not None:
            method, target, version, headers, body, _ = parsed
            connection = (get_header(headers, "connection") or "").lower()
            close = connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive")
            req = Request(method=method, target=target, headers=headers, body=body,
                          client=self._client, protocol=self._front.scheme)
            status, echo = handle(req, self._front.standin)
            # Logged before answering: once a client has its reply, the record exists.
            self._front.log.write(event="request", protocol=req.protocol, method=method,
                                  path=target, status=status, probe_id=echo["probe_id"],
                                  client=self._client, served_by=echo["served_by"],
                                  connection=self._serial)
            transport.write(_response(status, echo, close))
            if close:
                transport.close()  # after the answer is flushed; a peer that never reads
                self._arm(limits.idle_timeout, transport.abort)  # gets dropped instead
                return
            # Pipelined bytes start the next request's deadline; none: idle again. Idle
            # ends in abort, not close: close would wait for answers a stalled peer never
            # reads (with nothing unsent, abort closes the socket just the same).
            if self._parser.in_request:
                self._arm(limits.request_timeout, self._request_timed_out)
            else:
                self._arm(limits.idle_timeout, transport.abort)


class HttpFront:
    """Serves the routes of echo.handle on one port, plain or TLS, within limits."""

    def __init__(self, access_log: AccessLog, tls: ssl.SSLContext | None = None,
                 limits: Limits | None = None, standin: bool = False) -> None:
        self.log = access_log
        self.standin = standin  # every method and path answered 200 (echo.handle)
        self._tls = tls
        self.scheme = "https" if tls else "http"
        self.limits = limits or Limits()
        self.open = 0  # connections now
        self.accepted = 0  # connections served since start (also their serial numbers)
        self.buffered = 0  # request bytes held by all connections

    async def start(self, bind: str, port: int) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        # A TLS handshake counts against the request deadline's budget, not for ever.
        handshake = self.limits.request_timeout if self._tls else None
        return await loop.create_server(lambda: _Connection(self), bind, port, ssl=self._tls,
                                        backlog=1024, reuse_address=True,
                                        ssl_handshake_timeout=handshake)
