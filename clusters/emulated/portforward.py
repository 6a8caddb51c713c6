"""pods/portforward over a WebSocket, as the API server relays it from the kubelet.

Upstream: k8s.io/kubelet pkg/cri/streaming/portforward/websocket.go
(handleWebSocketStreams, websocketStreamHandler.portForward) on top of
k8s.io/apimachinery pkg/util/httpstream/wsstream/conn.go. Per requested port i there are
two channels, data 2i (read/write) and error 2i+1 (server to client); each first carries
the port as 2 little-endian bytes; every binary frame is [channel byte] + payload. Each
port is forwarded on its own; when its forward ends (the pod side closed, or could not
be reached, with the error text on the error channel) its streams close, and when every
port is done the WebSocket is closed. The version-4 protocols have no per-channel close
from the client: the client ends a forward by closing the WebSocket.

Only the binary framings are spoken (subprotocol `v4.channel.k8s.io`, or none);
upstream also accepts `v4.base64.channel.k8s.io`, which the kubernetes Python client
never offers (it offers v5 then v4, stream/ws_client.py create_websocket).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Sequence

from clusters.emulated.ws import WebSocket

PROTOCOLS = ("v4.channel.k8s.io", "")  # what to pass to ws.accept for pods/portforward
CHUNK = 32 * 1024  # bytes per data frame from the pod side
JOIN_S = 5.0  # how long the session waits for its pump threads once the WebSocket ended
POLL_S = 0.1  # longest wait for a client frame before looking at the forwards again

Dial = Callable[[int], socket.socket]


def parse_ports(values: Sequence[str]) -> list[int]:
    """The `ports` query parameter(s) ("8080", "80,443"), as
    portforward/websocket.go NewV4Options reads them; ValueError with upstream's words,
    which the kubelet answers with 400 before any upgrade (cri/streaming/server.go,
    servePortForward)."""
    if not values:
        raise ValueError('query parameter "ports" is required')
    ports: list[int] = []
    for value in values:
        if not value:
            raise ValueError('query parameter "ports" cannot be empty')
        for part in value.split(","):
            if not part.isdigit() or int(part) > 0xFFFF:  # strconv.ParseUint(p, 10, 16)
                raise ValueError(f"unable to parse {value!r} as a port")
            port = int(part)
            if port < 1:
                raise ValueError(f"port {value!r} must be > 0")
            ports.append(port)
    return ports


class _Forward:
    """One requested port: its pod-side socket and the thread pumping pod -> client."""

    def __init__(self, ws: WebSocket, index: int, port: int) -> None:
        self.ws = ws
        self.port = port
        self.data = bytes([2 * index])
        self.error = bytes([2 * index + 1])
        self.sock: socket.socket | None = None
        self.done = threading.Event()

    def start(self, dial: Dial) -> None:
        try:
            self.sock = dial(self.port)
        except OSError as err:
            self._report(f"error forwarding port {self.port}: {err}")
            self.done.set()
            return
        threading.Thread(target=self._pump, name=f"portforward-{self.port}",
                         daemon=True).start()

    def _pump(self) -> None:
        assert self.sock is not None
        try:
            while True:
                try:
                    chunk = self.sock.recv(CHUNK)
                except OSError:
                    break
                if not chunk:
                    break
                self.ws.send(self.data + chunk)
        except (ConnectionError, OSError):
            pass  # the WebSocket is gone: the client ended the forward
        finally:
            self.done.set()

    def to_pod(self, payload: bytes) -> None:
        if self.sock is None or self.done.is_set():
            return  # upstream drops writes to a finished stream too
        try:
            self.sock.sendall(payload)
        except OSError as err:
            self._report(f"error forwarding port {self.port}: {err}")
            self.close()

    def _report(self, message: str) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            self.ws.send(self.error + message.encode())

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
            self.sock.close()


def serve_portforward(ws: WebSocket, ports: Sequence[int], dial: Dial) -> None:
    """Run one port-forward session on `ws` until the client closes it or every port's
    forward has ended; `dial(port)` opens the pod-side connection (OSError: refused)."""
    forwards = [_Forward(ws, i, port) for i, port in enumerate(ports)]
    try:
        for fwd in forwards:
            prefix = struct.pack("<H", fwd.port)
            ws.send(fwd.data + prefix)
            ws.send(fwd.error + prefix)
        for fwd in forwards:
            fwd.start(dial)
        by_channel = {fwd.data[0]: fwd for fwd in forwards}
        while not all(fwd.done.is_set() for fwd in forwards):
            try:
                # Bounded, so a forward that ended on the pod side is noticed.
                message = ws.recv(timeout=POLL_S)
            except TimeoutError:
                continue
            if message is None:
                break  # the client closed the WebSocket
            target = by_channel.get(message[0]) if message else None
            if target is not None:  # frames for unknown or error channels are ignored
                target.to_pod(message[1:])
    except (ConnectionError, OSError):
        pass  # the client went away mid-handshake of the channels
    finally:
        for fwd in forwards:
            fwd.close()
        for fwd in forwards:
            fwd.done.wait(JOIN_S)
        ws.close()

