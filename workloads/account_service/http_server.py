"""HTTP/1.1 (and TLS) front of account-service on asyncio.

One event loop serves thousands of short probe connections per second far more cheaply
than a thread per connection would; keep-alive is supported because Envoy pools upstream
connections. The parser accepts what HTTP/1.1 clients and Envoy send (Content-Length or
chunked bodies) and answers 400 to anything else.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any

from workloads.account_service.echo import AccessLog, Request, handle

# A silent client must not hold a connection forever (reset by every request).
CONNECTION_IDLE_TIMEOUT_S = 30.0
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 1 << 20
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


class BadRequest(ValueError):
    """The bytes on the wire are not an HTTP/1.1 request we accept."""


def parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    """Request line and headers -> (method, target, version, headers in received case)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(f"bad request line {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(f"bad header line {line[:80]!r}")
        value = value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return parts[0], parts[1], parts[2], headers


def _get(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def _chunked(buf: bytes | bytearray, start: int) -> tuple[bytes, int] | None:
    """Decode a chunked body starting at start: (body, end offset) or None if incomplete."""
    chunks: list[bytes] = []
    pos = start
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        try:
            size = int(bytes(buf[pos:eol]).split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise BadRequest("bad chunk size") from exc
        pos = eol + 2
        if size == 0:
            end = buf.find(b"\r\n\r\n", pos - 2)  # trailers (not echoed) end in a blank line
            return (b"".join(chunks), end + 4) if end >= 0 else None
        if len(buf) < pos + size + 2:
            return None
        chunks.append(bytes(buf[pos:pos + size]))
        pos += size + 2
        if pos - start > MAX_BODY_BYTES:
            raise BadRequest("body too large")


Parsed = tuple[str, str, str, dict[str, str], bytes, int]


def parse_request(buf: bytes | bytearray) -> Parsed | None:
    """One complete request from the front of buf, with the bytes it used; None if partial."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > MAX_HEADER_BYTES:
            raise BadRequest("request head too large")
        return None
    method, target, version, headers = parse_head(bytes(buf[:end]))
    body_start = end + 4
    if "chunked" in (_get(headers, "transfer-encoding") or "").lower():
        decoded = _chunked(buf, body_start)
        if decoded is None:
            return None
        return method, target, version, headers, decoded[0], decoded[1]
    length = _get(headers, "content-length") or "0"
    if not length.isdigit() or int(length) > MAX_BODY_BYTES:
        raise BadRequest(f"bad Content-Length {length!r}")
    body_end = body_start + int(length)
    if len(buf) < body_end:
        return None
    return method, target, version, headers, bytes(buf[body_start:body_end]), body_end


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
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None
        self._client = "?"
        self._idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername") or ("?", 0)
        self._client = f"{peer[0]}:{peer[1]}"
        self._idle = asyncio.get_running_loop().call_later(CONNECTION_IDLE_TIMEOUT_S,
                                                           transport.close)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._idle is not None:
            self._idle.cancel()

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if self._idle is not None:
            self._idle.cancel()
            self._idle = asyncio.get_running_loop().call_later(CONNECTION_IDLE_TIMEOUT_S,
                                                               transport.close)
        self._buf += data
        while self._buf:
            try:
                parsed = parse_request(self._buf)
            except BadRequest as exc:
                transport.write(_response(400, {"error": str(exc)}, close=True))
                transport.close()
                return
            if parsed is None:
                return
            method, target, version, headers, body, used = parsed
            del self._buf[:used]
            connection = (_get(headers, "connection") or "").lower()
            close = connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive")
            req = Request(method=method, target=target, headers=headers, body=body,
                          client=self._client, protocol=self._front.scheme)
            status, echo = handle(req)
            # Logged before answering: once a client has its reply, the record exists.
            self._front.log.write(event="request", protocol=req.protocol, method=method,
                                  path=target, status=status, probe_id=echo["probe_id"],
                                  client=self._client, served_by=echo["served_by"])
            transport.write(_response(status, echo, close))
            if close:
                transport.close()
                return


class HttpFront:
    """Serves the routes of echo.handle on one port, plain or TLS."""

    def __init__(self, access_log: AccessLog, tls: ssl.SSLContext | None = None) -> None:
        self.log = access_log
        self._tls = tls
        self.scheme = "https" if tls else "http"

    async def start(self, bind: str, port: int) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        return await loop.create_server(lambda: _Connection(self), bind, port, ssl=self._tls,
                                        backlog=1024, reuse_address=True)
