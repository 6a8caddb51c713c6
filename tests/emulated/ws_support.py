"""A loopback ThreadingHTTPServer whose GET handler runs `clusters.emulated.ws.accept` and
then a test's session function, plus a raw client that writes masked frames by hand."""

from __future__ import annotations

import base64
import os
import queue
import socket
import struct
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from clusters.emulated.ws import WebSocket, accept

IO_TIMEOUT_S = 5.0  # any single socket wait in these tests
SERVE_POLL_S = 0.05  # how often serve_forever looks for shutdown()

Session = Callable[[WebSocket, str], Any]  # (ws, request path) -> a result for the test


class WsServer:
    """Serves `session` on each accepted WebSocket; results (or exceptions) go to
    `results` in completion order."""

    def __init__(self, supported: Sequence[str], session: Session) -> None:
        self.results: queue.Queue[Any] = queue.Queue()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                ws = accept(self, supported)
                if ws is None:
                    return
                try:
                    owner.results.put(session(ws, self.path))
                except Exception as err:  # handed to the test thread
                    owner.results.put(err)
                finally:
                    ws.close()

            do_POST = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever,
                                        args=(SERVE_POLL_S,), daemon=True)
        self._thread.start()

    def result(self) -> Any:
        value = self.results.get(timeout=IO_TIMEOUT_S)
        if isinstance(value, Exception):
            raise value
        return value

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(IO_TIMEOUT_S)


@contextmanager
def ws_server(supported: Sequence[str], session: Session) -> Iterator[WsServer]:
    server = WsServer(supported, session)
    try:
        yield server
    finally:
        server.close()


def masked_frame(opcode: int, payload: bytes, fin: bool = True, mask: bool = True) -> bytes:
    """A client frame as RFC 6455 section 5.2 lays it out."""
    b0 = (0x80 if fin else 0) | opcode
    key = os.urandom(4) if mask else b""
    flag = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, flag | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", b0, flag | 126, n)
    else:
        head = struct.pack("!BBQ", b0, flag | 127, n)
    body = bytes(c ^ key[i % 4] for i, c in enumerate(payload)) if mask else payload
    return head + key + body


class RawClient:
    """A hand-written WebSocket client: the handshake text and frames are the test's."""

    def __init__(self, port: int, headers: dict[str, str], method: str = "GET",
                 path: str = "/ws") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S)
        self.key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
        lines += [f"{k}: {v.replace('{key}', self.key)}" for k, v in headers.items()]
        self.request = ("\r\n".join(lines) + "\r\n\r\n").encode()
        self.buf = b""

    def handshake(self, then: bytes = b"") -> tuple[int, dict[str, str], bytes]:
        """Send the request (and `then` in the same write); (status, headers, body so far)."""
        self.sock.sendall(self.request + then)
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        status_line, *rest = head.decode().split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(":") for line in rest)}
        return int(status_line.split(" ")[1]), headers, self.buf

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server went away")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def frame(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next server frame (asserting it is unmasked)."""
        b0, b1 = self._take(2)
        assert not b1 & 0x80, "server frames are never masked"
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self._take(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", self._take(8))
        return b0 & 0x0F, self._take(n)

    def at_eof(self) -> bool:
        """Whether the server ended the TCP connection (after anything buffered)."""
        if self.buf:
            return False
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()


def upgrade_headers(protocols: str | None = "v4.channel.k8s.io") -> dict[str, str]:
    headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": "{key}",
               "Sec-WebSocket-Version": "13"}
    if protocols is not None:
        headers["Sec-WebSocket-Protocol"] = protocols
    return headers
