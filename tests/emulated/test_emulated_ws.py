"""clusters.emulated.ws: the handshake answers and RFC 6455 framing, driven by a
hand-written client (masked, fragmented, malformed frames) and by websocket-client."""

from __future__ import annotations

import struct
import threading

import pytest
import websocket

from clusters.emulated.ws import WebSocket
from tests.emulated.ws_support import (
    IO_TIMEOUT_S,
    RawClient,
    masked_frame,
    upgrade_headers,
    ws_server,
)

V4, V5 = "v4.channel.k8s.io", "v5.channel.k8s.io"
TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA
SHORT_WAIT_S = 0.2  # a recv that must time out


def echo_once(ws: WebSocket, _path: str) -> bytes | None:
    message = ws.recv(IO_TIMEOUT_S)
    if message is not None:
        ws.send(message)
    return message


def test_accept_key_is_rfc6455s_example() -> None:
    # RFC 6455 section 1.3: this key must yield this accept value.
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    with ws_server([V4], lambda ws, _: ws.protocol) as server:
        headers = upgrade_headers() | {"Sec-WebSocket-Key": key}
        client = RawClient(server.port, headers)
        status, answer, _ = client.handshake()
        assert status == 101
        assert answer["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        assert answer["upgrade"].lower() == "websocket"
        client.close()


@pytest.mark.parametrize(("offer", "supported", "chosen"), [
    # The client's order decides (wsstream handshake), not the server's list order.
    (f"{V5}, {V4}", [V4, V5], V5),
    (f"{V4},{V5}", [V5, V4], V4),
    (f"base64.channel.k8s.io, {V4}", [V5, V4], V4),
    (None, ["", V4], ""),  # no offer matches the empty protocol
])
def test_subprotocol_is_the_clients_first_supported_one(
        offer: str | None, supported: list[str], chosen: str) -> None:
    with ws_server(supported, lambda ws, _: ws.protocol) as server:
        client = RawClient(server.port, upgrade_headers(offer))
        status, headers, _ = client.handshake()
        assert status == 101
        assert headers.get("sec-websocket-protocol", "") == chosen
        assert server.result() == chosen
        client.close()


@pytest.mark.parametrize(("method", "headers", "status"), [
    ("GET", upgrade_headers("v1.example"), 403),  # nothing acceptable offered
    ("GET", upgrade_headers(None), 403),  # no offer, "" not supported
    ("GET", {"Connection": "keep-alive"}, 400),  # not an upgrade
    ("GET", upgrade_headers() | {"Sec-WebSocket-Key": ""}, 400),
    ("GET", upgrade_headers() | {"Sec-WebSocket-Version": "8"}, 400),
    ("POST", upgrade_headers(), 405),
])
def test_refused_handshakes(method: str, headers: dict[str, str], status: int) -> None:
    with ws_server([V4], lambda ws, _: None) as server:
        client = RawClient(server.port, headers, method=method)
        answer, answer_headers, _ = client.handshake()
        assert answer == status
        if "Sec-WebSocket-Version" in headers and headers["Sec-WebSocket-Version"] != "13":
            assert answer_headers["sec-websocket-version"] == "13"
        assert server.results.empty()  # no session ran
        client.close()


def test_fragmented_masked_message_with_a_ping_in_between() -> None:
    with ws_server([V4], echo_once) as server:
        client = RawClient(server.port, upgrade_headers())
        assert client.handshake()[0] == 101
        client.send(masked_frame(TEXT, b"Hel", fin=False) + masked_frame(PING, b"hi")
                    + masked_frame(0x0, "lo ✓".encode(), fin=False)
                    + masked_frame(0x0, b"!", fin=True))
        assert client.frame() == (PONG, b"hi")
        assert client.frame() == (BINARY, "Hello ✓!".encode())
        assert server.result() == "Hello ✓!".encode()
        client.close()


def test_frames_sent_with_the_request_are_not_lost() -> None:
    with ws_server([V4], echo_once) as server:
        client = RawClient(server.port, upgrade_headers())
        status, _, _ = client.handshake(then=masked_frame(BINARY, b"\x00early"))
        assert status == 101
        assert client.frame() == (BINARY, b"\x00early")
        client.close()


def test_unmasked_client_frame_fails_the_connection_with_1002() -> None:
    def session(ws: WebSocket, _: str) -> tuple[bytes | None, str | None]:
        return ws.recv(IO_TIMEOUT_S), ws.failure

    with ws_server([V4], session) as server:
        client = RawClient(server.port, upgrade_headers())
        client.handshake()
        client.send(masked_frame(BINARY, b"plain", mask=False))
        assert client.frame() == (CLOSE, struct.pack("!H", 1002))
        assert server.result() == (None, "client frame is not masked")
        assert client.at_eof()
        client.close()


def test_invalid_utf8_text_fails_with_1007() -> None:
    with ws_server([V4], echo_once) as server:
        client = RawClient(server.port, upgrade_headers())
        client.handshake()
        client.send(masked_frame(TEXT, b"\xff\xfe"))
        assert client.frame() == (CLOSE, struct.pack("!H", 1007))
        assert server.result() is None
        client.close()


def test_peer_close_is_echoed_and_recv_returns_none_after() -> None:
    def session(ws: WebSocket, _: str) -> tuple[bytes | None, bytes | None, int | None]:
        return ws.recv(IO_TIMEOUT_S), ws.recv(IO_TIMEOUT_S), ws.close_code

    with ws_server([V4], session) as server:
        client = RawClient(server.port, upgrade_headers())
        client.handshake()
        client.send(masked_frame(CLOSE, struct.pack("!H", 1001) + b"bye"))
        assert client.frame() == (CLOSE, struct.pack("!H", 1001))
        assert server.result() == (None, None, 1001)
        assert client.at_eof()
        client.close()


def test_server_close_sends_code_waits_for_the_reply_then_ends_tcp() -> None:
    def session(ws: WebSocket, _: str) -> int | None:
        ws.close(4000)
        return ws.close_code

    with ws_server([V4], session) as server:
        client = RawClient(server.port, upgrade_headers())
        client.handshake()
        assert client.frame() == (CLOSE, struct.pack("!H", 4000))
        client.send(masked_frame(CLOSE, struct.pack("!H", 4000)))
        server.result()
        assert client.at_eof()
        client.close()


def test_recv_timeout_keeps_a_partial_frame_for_the_next_call() -> None:
    frame = masked_frame(BINARY, b"\x02split-in-two")

    def session(ws: WebSocket, _: str) -> bytes | None:
        with pytest.raises(TimeoutError):
            ws.recv(SHORT_WAIT_S)
        ws.send(b"go on")
        return ws.recv(IO_TIMEOUT_S)

    with ws_server([V4], session) as server:
        client = RawClient(server.port, upgrade_headers())
        client.handshake()
        client.send(frame[:5])
        assert client.frame() == (BINARY, b"go on")  # the server timed out meanwhile
        client.send(frame[5:])
        assert server.result() == b"\x02split-in-two"
        client.close()


@pytest.mark.parametrize("size", [125, 126, 65535, 65536, 300_000])
def test_lengths_round_trip_with_websocket_client(size: int) -> None:
    payload = bytes(i % 251 for i in range(size))
    with ws_server([V4], echo_once) as server:
        conn = websocket.create_connection(f"ws://127.0.0.1:{server.port}/ws",
                                           subprotocols=[V5, V4], timeout=IO_TIMEOUT_S)
        assert conn.subprotocol == V4
        conn.send_binary(payload)
        opcode, data = conn.recv_data()
        assert (opcode, data) == (BINARY, payload)
        conn.close()
        assert server.result() == payload


def test_close_from_another_thread_ends_a_blocked_recv_cleanly() -> None:
    def session(ws: WebSocket, _: str) -> tuple[bytes | None, str | None]:
        closer = threading.Timer(SHORT_WAIT_S, ws.close)
        closer.start()
        message = ws.recv(IO_TIMEOUT_S)  # blocked until close() shuts the socket
        closer.join()
        return message, ws.failure

    with ws_server([V4], session) as server:
        client = RawClient(server.port, upgrade_headers())
        client.handshake()
        assert client.frame() == (CLOSE, struct.pack("!H", 1000))
        assert server.result() == (None, None)  # our own close is not a failure
        client.close()
