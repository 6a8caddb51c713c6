"""An exec's stdin in the emulated cluster: the client's channel-0 frames, and the close
frame `[255, 0]` that only the v5 channel protocol has (KEP-4006)."""

from __future__ import annotations

from collections.abc import Callable

from clusters.emulated.ws import WebSocket

STDIN, CLOSE = 0, 255
V5 = "v5.channel.k8s.io"
STDIN_IDLE_S = 600.0  # a command waiting for input gives up after this (no client left)


def read_stdin(ws: WebSocket, enough: Callable[[bytes], bool], limit: int) -> bytes | None:
    """Stdin until `enough(data)` or the v5 close of channel 0; None when the client went
    away first, or sent more than `limit` bytes."""
    data = b""
    while not enough(data):
        try:
            message = ws.recv(timeout=STDIN_IDLE_S)
        except TimeoutError:
            return None
        if message is None:
            return None
        if message[:1] == bytes([STDIN]):
            data += message[1:]
            if len(data) > limit:
                return None
        elif message == bytes([CLOSE, STDIN]) and ws.protocol == V5:
            break
    return data
