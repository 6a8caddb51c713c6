"""Ports for tests, without races between parallel test workers.

A server a test starts binds port 0 and reports the port it got (account-service's
`listening` event, Envoy's admin address file, the in-process servers' sockets). Picking
a free port here and binding it later would race: another worker can take it in between.
A port that must refuse connections is held bound, never listening, for as long as the
test needs it, so no one else can start listening on it meanwhile.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def closed_port(host: str = "127.0.0.1") -> Iterator[int]:
    """A TCP port on host where a connect is refused: bound without SO_REUSEADDR and never
    listening (the kernel answers a SYN with RST), held until the block ends."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        yield int(sock.getsockname()[1])
