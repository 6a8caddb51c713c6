"""The server side of RFC 6455 WebSockets for the emulator's BaseHTTPRequestHandler, as
the API server speaks them for pods/exec and pods/portforward.

The handshake follows what the API server runs: k8s.io/apimachinery
pkg/util/httpstream/wsstream/conn.go (Conn.Open over golang.org/x/net/websocket's
Server). Its `handshake` picks the FIRST protocol of the CLIENT's offer that the server
supports (so the server's list order does not matter), and a client that offers none
matches the empty protocol "" when that is supported; no match is 403 Forbidden
(x/net/websocket server.go, newServerConn). A request that is not a WebSocket upgrade is
405 for a non-GET method and 400 otherwise (x/net/websocket hybi.go,
hybiServerHandshaker.ReadHandshake, which also insists on Sec-WebSocket-Version 13).

Usage inside a handler's do_GET: `ws = accept(self, supported)`; when it is not None,
serve the session on it (send/recv/close) and return; the connection is not reused.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import select
import socket
import struct
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
CLOSE_WAIT_S = 2.0  # how long close() waits for the peer's close frame
MAX_MESSAGE = 16 * 1024 * 1024  # a larger message fails the connection with 1009
RECV_CHUNK = 65536

OP_CONTINUATION, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_DATA = 1007
CLOSE_TOO_BIG = 1009


class _Failed(Exception):
    """The peer broke the protocol; carries the close code to answer with."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


class WebSocket:
    """One accepted connection. send() may be called from several threads; recv() from
    one thread at a time."""

    def __init__(self, sock: socket.socket, protocol: str, pending: bytes = b"") -> None:
        self.protocol = protocol
        self.close_code: int | None = None  # the code the peer closed with, if any
        self.failure: str | None = None  # why we failed the connection, if we did
        self._sock = sock
        self._buf = pending
        self._fragments: list[bytes] = []
        self._fragment_op = 0
        self._send_lock = threading.Lock()
        self._recv_lock = threading.Lock()
        self._close_sent = False
        self._peer_closed = False
        self._shut = False

    # -- sending ---------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        """One binary frame (servers never mask: RFC 6455 section 5.1)."""
        self._send_frame(OP_BINARY, data)

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        length = len(payload)
        if length < 126:
            head = struct.pack("!BB", 0x80 | opcode, length)
        elif length < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 126, length)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 127, length)
        with self._send_lock:
            if self._close_sent:
                raise ConnectionError("WebSocket is closed")
            if opcode == OP_CLOSE:
                self._close_sent = True
            self._sock.sendall(head + payload)

    # -- receiving -------------------------------------------------------------------
    def recv(self, timeout: float | None = None) -> bytes | None:
        """The next whole message (text messages as their UTF-8 bytes); None once the
        peer closed or the connection failed. TimeoutError when no whole message came
        within `timeout` seconds (what arrived so far is kept for the next call)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._recv_lock:
            while not self._peer_closed:
                try:
                    message = self._next_message(deadline)
                except _Failed as failed:
                    if self._close_sent:  # our own close() ended the connection
                        self._peer_closed = True
                    else:
                        self._fail(failed.code, str(failed))
                    return None
                if message is not None:
                    return message
            return None

    def _next_message(self, deadline: float | None) -> bytes | None:
        """Handle one frame; a whole message when it completes one, else None."""
        opcode, payload = self._read_frame(deadline)
        if opcode == OP_CLOSE:
            self._on_close(payload)
            return None
        if opcode == OP_PING:
            self._send_control(OP_PONG, payload)
            return None
        if opcode == OP_PONG:
            return None
        return self._assemble(opcode, payload)

    def _assemble(self, opcode: int, payload: bytes) -> bytes | None:
        fin = opcode & 0x80
        opcode &= 0x0F
        if opcode == OP_CONTINUATION:
            if not self._fragment_op:
                raise _Failed(CLOSE_PROTOCOL_ERROR, "continuation frame without a message")
        elif self._fragment_op:
            raise _Failed(CLOSE_PROTOCOL_ERROR, "new message inside a fragmented one")
        else:
            self._fragment_op = opcode
        self._fragments.append(payload)
        if sum(len(f) for f in self._fragments) > MAX_MESSAGE:
            raise _Failed(CLOSE_TOO_BIG, f"message over {MAX_MESSAGE} bytes")
        if not fin:
            return None
        message, kind = b"".join(self._fragments), self._fragment_op
        self._fragments, self._fragment_op = [], 0
        if kind == OP_TEXT:
            try:
                message.decode("utf-8")
            except UnicodeDecodeError as err:
                raise _Failed(CLOSE_INVALID_DATA, "text message is not UTF-8") from err
        return message

    def _read_frame(self, deadline: float | None) -> tuple[int, bytes]:
        """(opcode | 0x80 when FIN, unmasked payload) of the next frame; control frames
        come back with their plain opcode. Bytes are consumed only once a whole frame is
        here, so a timeout loses nothing."""
        while True:
            frame = _parse_frame(self._buf)
            if frame is not None:
                size, opcode, payload = frame
                self._buf = self._buf[size:]
                return opcode, payload
            self._fill(deadline)

    def _fill(self, deadline: float | None) -> None:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._sock], [], [], left)[0]:
                raise TimeoutError("no whole WebSocket message within the timeout")
        try:
            chunk = self._sock.recv(RECV_CHUNK)
        except OSError:
            chunk = b""
        if not chunk:
            self._peer_closed = True
            raise _Failed(CLOSE_PROTOCOL_ERROR, "connection ended without a close frame")
        self._buf += chunk

    def _on_close(self, payload: bytes) -> None:
        self._peer_closed = True
        if len(payload) >= 2:
            (self.close_code,) = struct.unpack("!H", payload[:2])
        # Echo the code back (RFC 6455 section 5.5.1), unless we closed first; then the
        # server ends the TCP connection (section 7.1.1).
        self._send_control(OP_CLOSE, payload[:2])
        self._shutdown()

    def _send_control(self, opcode: int, payload: bytes) -> None:
        # Closing already, or the peer is gone: nothing left to tell it.
        with contextlib.suppress(ConnectionError, OSError):
            self._send_frame(opcode, payload)

    def _fail(self, code: int, reason: str) -> None:
        self.failure = self.failure or reason
        self._peer_closed = True
        self._send_control(OP_CLOSE, struct.pack("!H", code))
        self._shutdown()

    # -- closing ---------------------------------------------------------------------
    def close(self, code: int = 1000) -> None:
        """Send a close frame, wait (bounded) for the peer's, then end the TCP
        connection; a recv() blocked in another thread then returns None."""
        self._send_control(OP_CLOSE, struct.pack("!H", code))
        if self._recv_lock.acquire(blocking=False):  # nobody else is reading: drain here
            try:
                deadline = time.monotonic() + CLOSE_WAIT_S
                while not self._peer_closed:
                    try:
                        opcode, _ = self._read_frame(deadline)
                    except (TimeoutError, _Failed):
                        break
                    self._peer_closed = opcode == OP_CLOSE
            finally:
                self._recv_lock.release()
        self._shutdown()

    def _shutdown(self) -> None:
        if self._shut:
            return
        self._shut = True
        with contextlib.suppress(OSError):  # already gone
            self._sock.shutdown(socket.SHUT_RDWR)


def _parse_frame(buf: bytes) -> tuple[int, int, bytes] | None:
    """(frame size, opcode as _read_frame returns it, payload) when buf starts with a
    whole client frame; None when more bytes are needed. RFC 6455 section 5.2."""
    if len(buf) < 2:
        return None
    b0, b1 = buf[0], buf[1]
    if b0 & 0x70:
        raise _Failed(CLOSE_PROTOCOL_ERROR, "reserved bits set (no extension agreed)")
    opcode, fin = b0 & 0x0F, b0 & 0x80
    if opcode not in (OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG):
        raise _Failed(CLOSE_PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")
    if not b1 & 0x80:
        raise _Failed(CLOSE_PROTOCOL_ERROR, "client frame is not masked")
    length, offset = b1 & 0x7F, 2
    if opcode >= OP_CLOSE and (length > 125 or not fin):
        raise _Failed(CLOSE_PROTOCOL_ERROR, "control frame fragmented or over 125 bytes")
    if length >= 126:
        wide = 2 if length == 126 else 8
        if len(buf) < offset + wide:
            return None
        length = int.from_bytes(buf[offset:offset + wide], "big")
        offset += wide
    if length > MAX_MESSAGE:
        raise _Failed(CLOSE_TOO_BIG, f"frame over {MAX_MESSAGE} bytes")
    end = offset + 4 + length
    if len(buf) < end:
        return None
    payload = _unmask(buf[offset + 4:end], buf[offset:offset + 4])
    return end, (opcode if opcode >= OP_CLOSE else opcode | fin), payload


def _unmask(data: bytes, mask: bytes) -> bytes:
    # XOR with the 4-byte key repeated (RFC 6455 section 5.3), done as one big integer.
    if not data:
        return data
    key = (mask * (len(data) // 4 + 1))[:len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(len(data), "big")


def accept(handler: BaseHTTPRequestHandler, supported: Sequence[str]) -> WebSocket | None:
    """101 with Sec-WebSocket-Accept and the subprotocol chosen from the client's offer,
    or a 400/403/405 answer and None (see the module docstring for the rules).

    The choice follows the client's order, as upstream's wsstream handshake does; the
    order of `supported` does not matter. "" in `supported` admits a client that offers
    no subprotocol (the session's `protocol` is then "")."""
    handler.close_connection = True  # the socket is the WebSocket's from here on
    headers = handler.headers
    if handler.command != "GET":
        return _refuse(handler, 405, "bad method")
    if (headers.get("Upgrade", "").lower() != "websocket"
            or "upgrade" not in headers.get("Connection", "").lower()):
        return _refuse(handler, 400, "not websocket protocol")
    key = headers.get("Sec-WebSocket-Key", "")
    if not key:
        return _refuse(handler, 400, "mismatch challenge/response")
    if headers.get("Sec-WebSocket-Version", "") != "13":
        return _refuse(handler, 400, "missing or bad WebSocket Version",
                       {"Sec-WebSocket-Version": "13"})
    offered = [p.strip() for value in headers.get_all("Sec-WebSocket-Protocol") or []
               for p in value.split(",") if p.strip()] or [""]
    protocol = next((p for p in offered if p in supported), None)
    if protocol is None:
        return _refuse(handler, 403, "")
    digest = hashlib.sha1((key + WS_GUID).encode("ascii")).digest()
    lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Accept: {base64.b64encode(digest).decode('ascii')}"]
    if protocol:
        lines.append(f"Sec-WebSocket-Protocol: {protocol}")
    handler.log_request(101)
    handler.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("ascii"))
    handler.wfile.flush()
    sock = handler.connection
    return WebSocket(sock, protocol, _buffered(handler, sock))


def _refuse(handler: BaseHTTPRequestHandler, status: int, text: str,
            extra: dict[str, str] | None = None) -> WebSocket | None:
    """Answer a handshake that cannot succeed; always None, for `return _refuse(...)`."""
    body = text.encode()
    handler.send_response(status)
    for name, value in (extra or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Type", "text/plain; charset=utf-8")
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("Connection", "close")
    handler.end_headers()
    handler.wfile.write(body)
    handler.wfile.flush()
    return None


def _buffered(handler: BaseHTTPRequestHandler, sock: socket.socket) -> bytes:
    """Frames the client sent right behind its request may sit in the handler's buffered
    rfile; take them without blocking (peek on a non-blocking socket returns what is
    buffered, or nothing), so the WebSocket can read the raw socket from here on."""
    timeout = sock.gettimeout()
    sock.settimeout(0.0)
    try:
        peek = getattr(handler.rfile, "peek", None)
        ahead = peek() if callable(peek) else b""
        return handler.rfile.read(len(ahead)) if ahead else b""
    except OSError:
        return b""
    finally:
        sock.settimeout(timeout)
