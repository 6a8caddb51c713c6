"""gRPC unary probe spoken over our own socket with the h2 state machine.

Owning the socket is the point: the result carries the exact local ip:port (grpcio hides
its sockets), and a connect timeout, refusal and reset are told apart the same way as for
HTTP. The framing is plain gRPC over HTTP/2 cleartext (h2c prior knowledge), as Envoy and
any gRPC server accept.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import h2.config
import h2.connection
import h2.events
import h2.exceptions
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import DecodeError, Message

from workloads.prober.netio import ERROR, GRPC_ERROR, OK, RESET, Channel, Conn, Failure, open_tcp
from workloads.prober.spec import GrpcProbe
from workloads.proto import account_pb2

# Status code names, by number (grpc/status.h); the suite compares the names.
STATUS_NAMES = (
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
)
# What a gRPC client reports when a proxy answers plain HTTP (grpc doc http-grpc-status-mapping).
HTTP_TO_GRPC = {400: 13, 401: 16, 403: 7, 404: 12, 429: 14, 502: 14, 503: 14, 504: 14}
USER_AGENT = "zt-prober/1"
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


def _methods() -> dict[str, MethodDescriptor]:
    out: dict[str, MethodDescriptor] = {}
    for service in account_pb2.DESCRIPTOR.services_by_name.values():
        for method in service.methods:
            out[f"/{service.full_name}/{method.name}"] = method
    return out


KNOWN_METHODS = _methods()


def status_name(code: int) -> str:
    return STATUS_NAMES[code] if 0 <= code < len(STATUS_NAMES) else f"CODE_{code}"


def encode_request(probe: GrpcProbe) -> bytes:
    """Length-prefixed request message; an unknown method gets an empty message."""
    method = KNOWN_METHODS.get(probe.method)
    if method is None:
        if probe.request:
            raise Failure(ERROR, f"field 'request': method {probe.method} is not in "
                          f"api.AccountService, so its request cannot be encoded")
        payload = b""
    else:
        message: Message = message_factory.GetMessageClass(method.input_type)()
        try:
            json_format.ParseDict(probe.request or {}, message)
        except json_format.ParseError as exc:
            raise Failure(ERROR, f"field 'request': {exc}") from exc
        payload = message.SerializeToString()
    return b"\x00" + len(payload).to_bytes(4, "big") + payload


def decode_reply(path: str, data: bytes) -> dict[str, Any] | None:
    method = KNOWN_METHODS.get(path)
    if method is None or len(data) < 5:
        return None
    size = int.from_bytes(data[1:5], "big")
    message: Message = message_factory.GetMessageClass(method.output_type)()
    try:
        message.ParseFromString(data[5:5 + size])
    except DecodeError:
        return None
    reply: dict[str, Any] = json_format.MessageToDict(
        message, preserving_proto_field_name=True)
    return reply


def call_headers(probe: GrpcProbe) -> list[tuple[str, str]]:
    host = f"[{probe.host}]" if ":" in probe.host else probe.host
    authority = f"{host}:{probe.port}"
    headers = [
        (":method", "POST"), (":scheme", "http"), (":path", probe.method),
        (":authority", authority), ("content-type", "application/grpc"), ("te", "trailers"),
        ("grpc-timeout", f"{max(1, int(probe.timeout * 1000))}m"),
        ("user-agent", USER_AGENT), ("x-probe-id", str(probe.id)),
    ]
    headers += [(k.lower(), v) for k, v in probe.metadata.items() if k.lower() != "x-probe-id"]
    return headers


async def _exchange(ch: Channel, probe: GrpcProbe,
                    body: bytes) -> tuple[dict[str, str], dict[str, str], bytes]:
    """Send one call and read until its stream ends: (headers, trailers, data)."""
    h2conn = h2.connection.H2Connection(
        config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    h2conn.initiate_connection()
    stream = h2conn.get_next_available_stream_id()
    h2conn.send_headers(stream, call_headers(probe))
    h2conn.send_data(stream, body, end_stream=True)
    await ch.send(h2conn.data_to_send())
    headers: dict[str, str] = {}
    trailers: dict[str, str] = {}
    data = bytearray()
    while True:
        chunk = await ch.recv()
        if not chunk:
            raise Failure(RESET, "server closed the connection before the call ended",
                          {"phase": "response"})
        for event in h2conn.receive_data(chunk):
            if isinstance(event, h2.events.ResponseReceived):
                headers = {str(k): str(v) for k, v in event.headers}
            elif isinstance(event, h2.events.TrailersReceived):
                trailers = {str(k): str(v) for k, v in event.headers}
            elif isinstance(event, h2.events.DataReceived):
                data += event.data
                if len(data) > MAX_MESSAGE_BYTES:
                    raise Failure(ERROR, "reply larger than 4 MiB", {"phase": "response"})
                h2conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                raise Failure(RESET, f"stream reset by server (HTTP/2 error "
                              f"{event.error_code!s})", {"phase": "response"})
            elif isinstance(event, h2.events.StreamEnded):
                return headers, trailers, bytes(data)
            elif isinstance(event, h2.events.ConnectionTerminated):
                raise Failure(RESET, f"server sent GOAWAY ({event.error_code!s})",
                              {"phase": "response"})
        if pending := h2conn.data_to_send():
            await ch.send(pending)


async def run(probe: GrpcProbe, conn: Conn) -> dict[str, Any]:
    body = encode_request(probe)
    ch = Channel(await open_tcp(probe.host, probe.port, conn))
    conn.phase = "response"
    try:
        headers, trailers, data = await _exchange(ch, probe, body)
    except h2.exceptions.ProtocolError as exc:
        raise Failure(ERROR, f"not an HTTP/2 (gRPC) server: {exc!r}",
                      {"phase": "response"}) from exc
    finally:
        ch.close()
    # Trailers-only responses (Envoy's local replies) carry grpc-status in the headers.
    status_fields = trailers if "grpc-status" in trailers else headers
    http_status = int(headers.get(":status", "0") or 0)
    if "grpc-status" in status_fields:
        code = int(status_fields["grpc-status"])
        message = unquote(status_fields.get("grpc-message", ""))
    else:
        code = HTTP_TO_GRPC.get(http_status, 2)
        message = f"HTTP {http_status} without grpc-status"
    result: dict[str, Any] = {"grpc_code": status_name(code), "http_status": http_status}
    if code != 0:
        return {"outcome": GRPC_ERROR, **result, "grpc_message": message}
    result["outcome"] = OK
    reply = decode_reply(probe.method, data)
    if reply is not None:
        result["reply"] = reply
    return result
