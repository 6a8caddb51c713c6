"""Misbehaving TCP servers on loopback: one that resets, one that closes after the first
bytes, one that never answers."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

STOP_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 2.0

ACCEPT_POLL_S = 0.1  # how often accept loops check for shutdown


def _listener() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.settimeout(ACCEPT_POLL_S)
    return sock


@contextmanager
def _serving(handle: object) -> Iterator[int]:
    sock = _listener()
    stop = threading.Event()
    held: list[socket.socket] = []

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            handle(conn, held)  # type: ignore[operator]

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=STOP_TIMEOUT_S)
        sock.close()
        for conn in held:
            conn.close()


def _reset(conn: socket.socket, _held: list[socket.socket]) -> None:
    """Read the request, then close with SO_LINGER 0: the kernel sends RST, not FIN."""
    conn.settimeout(READ_TIMEOUT_S)
    with suppress(OSError):
        conn.recv(65536)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def _hold(conn: socket.socket, held: list[socket.socket]) -> None:
    held.append(conn)  # accepted, never answered, closed at the end


@contextmanager
def resetting_server() -> Iterator[int]:
    with _serving(_reset) as port:
        yield port


@contextmanager
def silent_server() -> Iterator[int]:
    """Completes the TCP handshake (the kernel does) and never sends a byte."""
    with _serving(_hold) as port:
        yield port


def _close(conn: socket.socket, _held: list[socket.socket]) -> None:
    """Read the first bytes (a TLS ClientHello), then close normally: the kernel sends FIN."""
    conn.settimeout(READ_TIMEOUT_S)
    with suppress(OSError):
        conn.recv(65536)
    conn.close()


@contextmanager
def closing_server() -> Iterator[int]:
    with _serving(_close) as port:
        yield port
