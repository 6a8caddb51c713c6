"""account-service under hostile clients, on real sockets: huge chunked bodies, slowloris
heads and bodies, and more connections than its cap. Memory is the server's RSS."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import psutil
import pytest

from tests.support.account_service import AccountService, account_service
from tests.support.wait import POLL_INTERVAL_S
from workloads.account_service.echo import AccessLog
from workloads.account_service.http_parse import MAX_BODY_BYTES
from workloads.account_service.http_server import HttpFront, Limits

IO_TIMEOUT_S = 5.0
REQUEST_TIMEOUT_S = 1.0  # the server's --request-timeout in these tests
# How late past its deadline the server may answer (a loaded CI machine included).
DEADLINE_SLACK_S = 2.0
TRICKLE_INTERVAL_S = 0.1  # a slowloris sends one byte per interval
MAX_CONNECTIONS = 3
STREAM_BYTES = 64 << 20  # what a client tries to push after its chunk was refused
RSS_GROWTH_LIMIT = 16 << 20
PIPELINED_BYTES = 8 << 20  # ~240,000 requests: ~150 MB of answers if all were queued
STALL_S = 1.0  # a send blocked this long: the server stopped reading
HEAD = b"POST /internal/v1/transfer HTTP/1.1\r\nHost: t\r\n"


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AccountService]:
    args = ["--request-timeout", str(REQUEST_TIMEOUT_S),
            "--max-connections", str(MAX_CONNECTIONS)]
    with account_service(tmp_path_factory.mktemp("limits"), args=args) as svc:
        yield svc


def _connect(svc: AccountService) -> socket.socket:
    return socket.create_connection(("127.0.0.1", svc.http_port), timeout=IO_TIMEOUT_S)


def _read_to_eof(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _rss(svc: AccountService) -> int:
    return int(psutil.Process(svc.pid).memory_info().rss)


def _stream_until_refused(sock: socket.socket, total: int) -> int:
    """Push zeros until the server's close stops us; how many bytes went out."""
    block, sent = b"0" * 65536, 0
    try:
        while sent < total:
            sock.sendall(block)
            sent += len(block)
    except OSError:  # EPIPE / ECONNRESET: the server closed, as it should
        pass
    return sent


def test_a_chunk_past_the_body_cap_is_refused_at_its_size_line(strict: AccountService) -> None:
    before = _rss(strict)
    with _connect(strict) as sock:
        sock.sendall(HEAD + b"Transfer-Encoding: chunked\r\n\r\n7fffffff\r\n")
        answer = sock.recv(65536)  # no chunk data sent: the size line alone decides
        assert answer.startswith(b"HTTP/1.1 413 "), answer[:80]
        assert b"Connection: close" in answer
        sent = _stream_until_refused(sock, STREAM_BYTES)
    assert sent < STREAM_BYTES, "the server kept reading a refused body"
    assert _rss(strict) - before < RSS_GROWTH_LIMIT


def test_chunks_that_add_up_past_the_cap_are_refused(strict: AccountService) -> None:
    half = MAX_BODY_BYTES // 2 + 1
    with _connect(strict) as sock:
        sock.sendall(HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
                     + f"{half:x}\r\n".encode() + b"a" * half + b"\r\n"
                     + f"{half:x}\r\n".encode())
        assert _read_to_eof(sock).startswith(b"HTTP/1.1 413 ")


def test_content_length_past_the_cap_is_413(strict: AccountService) -> None:
    with _connect(strict) as sock:
        sock.sendall(HEAD + f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode())
        assert _read_to_eof(sock).startswith(b"HTTP/1.1 413 ")


def _trickle_until_answered(sock: socket.socket, start: bytes, filler: bytes) -> tuple[bytes,
                                                                                       float]:
    """Send `start`, then one filler byte per interval until the server answers; (answer,
    seconds from the first byte to the answer). The recv timeout is the interval: a poll."""
    began = time.monotonic()
    sock.sendall(start)
    sock.settimeout(TRICKLE_INTERVAL_S)
    deadline = began + REQUEST_TIMEOUT_S + DEADLINE_SLACK_S + IO_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            answer = sock.recv(65536)
        except TimeoutError:
            sock.sendall(filler)
            continue
        elapsed = time.monotonic() - began
        sock.settimeout(IO_TIMEOUT_S)
        return answer + _read_to_eof(sock), elapsed
    raise AssertionError("the server never answered a client that trickles bytes")


@pytest.mark.parametrize(("start", "filler"), [
    (b"GET /healthz HTTP/1.1\r\nX-Pad: ", b"a"),  # the head never ends
    (HEAD + b"Content-Length: 100000\r\n\r\n", b"b"),  # the body never ends
], ids=["head", "body"])
def test_a_slowloris_gets_408_at_the_request_deadline(strict: AccountService, start: bytes,
                                                      filler: bytes) -> None:
    with _connect(strict) as sock:
        answer, elapsed = _trickle_until_answered(sock, start, filler)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:80]
    # Every byte used to restart a 30 s idle timer; the deadline runs from the first byte.
    assert REQUEST_TIMEOUT_S * 0.9 <= elapsed < REQUEST_TIMEOUT_S + DEADLINE_SLACK_S


def _get(sock: socket.socket) -> bytes:
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    return sock.recv(65536)


def _served_on_a_new_connection(svc: AccountService) -> bool:
    with _connect(svc) as sock:
        return _get(sock).startswith(b"HTTP/1.1 200 ")


def test_connections_past_the_cap_get_503_and_a_freed_slot_is_reused(
    strict: AccountService,
) -> None:
    held = [_connect(strict) for _ in range(MAX_CONNECTIONS)]
    try:
        for sock in held:  # an answer proves the server counts the connection
            assert _get(sock).startswith(b"HTTP/1.1 200 ")
        with _connect(strict) as extra:
            refused = _read_to_eof(extra)
        assert refused.startswith(b"HTTP/1.1 503 "), refused[:80]
        assert f"more than {MAX_CONNECTIONS} connections".encode() in refused
        held.pop().close()
        deadline = time.monotonic() + IO_TIMEOUT_S
        while not _served_on_a_new_connection(strict):  # the close is seen asynchronously
            assert time.monotonic() < deadline, "a closed connection never freed its slot"
        for sock in held:  # the held ones were never disturbed
            assert _get(sock).startswith(b"HTTP/1.1 200 ")
    finally:
        for sock in held:
            sock.close()
    assert any(e.get("event") == "rejected" and e["status"] == 503
               for e in strict.log_events())


def test_a_client_that_never_reads_its_answers_cannot_grow_the_servers_memory(
    strict: AccountService,
) -> None:
    """Pipelined requests whose answers are never read: the server stops reading (the
    socket buffers fill) instead of queueing every answer in memory."""
    burst = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n" * 1000
    before = _rss(strict)
    with _connect(strict) as sock:
        sock.settimeout(STALL_S)
        sent = 0
        try:
            while sent < PIPELINED_BYTES:
                sock.sendall(burst)
                sent += len(burst)
        except (TimeoutError, OSError):  # stalled: back-pressure (or closed at the deadline)
            pass
        growth = _rss(strict) - before
    assert sent < PIPELINED_BYTES, "the server read every request of a client that never reads"
    assert growth < RSS_GROWTH_LIMIT


def test_the_buffer_budget_is_shared_by_all_connections() -> None:
    """In process, with a small budget: a second connection that would push the bytes
    held by all connections past it gets 503; the first is still served."""
    body_part = 60_000

    async def scenario() -> tuple[bytes, bytes]:
        front = HttpFront(AccessLog(enabled=False), limits=Limits(max_buffered_bytes=100_000))
        server = await front.start("127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        head = HEAD + f"Content-Length: {body_part + 10}\r\n\r\n".encode()
        try:
            r1, w1 = await asyncio.open_connection("127.0.0.1", port)
            w1.write(head + b"a" * body_part)
            deadline = time.monotonic() + IO_TIMEOUT_S
            while front.buffered < body_part:  # poll: the server has read it
                assert time.monotonic() < deadline, "the first body never arrived"
                await asyncio.sleep(POLL_INTERVAL_S)
            r2, w2 = await asyncio.open_connection("127.0.0.1", port)
            w2.write(head + b"b" * body_part)
            second = await asyncio.wait_for(r2.read(), IO_TIMEOUT_S)
            w1.write(b"a" * 10)
            first = await asyncio.wait_for(r1.read(65536), IO_TIMEOUT_S)
            for writer in (w1, w2):
                writer.close()
            return first, second
        finally:
            server.close()

    first, second = asyncio.run(scenario())
    assert second.startswith(b"HTTP/1.1 503 ") and b"too many bytes buffered" in second
    assert first.startswith(b"HTTP/1.1 200 ")
