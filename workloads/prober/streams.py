"""Long-lived connections for `prober watch`: opened once, exercised at an interval, and
reported the moment they break.

Both speak HTTP/2 to the gRPC port (h2c prior knowledge, as grpc_probe does):
- `tcp`: one connection that sends the HTTP/2 preface and then stays idle, with TCP
  keepalive at the interval: the peer's kernel echoes each keepalive probe (RFC 1122
  4.2.3.6), so liveness is proved with no application request, i.e. plain L3/L4 traffic.
  (HTTP/2 PINGs would not do: a gRPC server answers pings on a connection without calls
  with GOAWAY ENHANCE_YOUR_CALM, grpc-core chttp2 ping_abuse_policy.cc.) A lost
  conntrack entry shows as unanswered probes (ETIMEDOUT), a reset as ECONNRESET;
- `grpc`: one channel (one connection) on which a unary call is made at the interval,
  each on a new HTTP/2 stream, as a long-lived gRPC client does.
A reset, an end of the connection, or no answer within the timeout ends the stream: the
event is `reset` with the wall-clock instant and what was seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions

from workloads.prober.netio import Channel, Conn, Failure, classify, open_tcp
from workloads.prober.spec import GrpcProbe

KINDS = ("tcp", "grpc")


class StreamBroken(Exception):
    """The long-lived connection ended; the message says how."""


@dataclass(frozen=True)
class StreamSpec:
    name: str
    kind: str  # tcp | grpc
    host: str
    port: int
    method: str  # grpc: the unary method called at each beat
    interval_s: float
    timeout_s: float


class H2Stream:
    """One HTTP/2 connection kept open; `beat()` proves it is still alive."""

    def __init__(self, spec: StreamSpec) -> None:
        self.spec = spec
        self.conn = Conn()
        self.h2 = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.ch: Channel | None = None
        self.beats = 0
        self._inbox: list[h2.events.Event] = []

    async def open(self) -> None:
        try:
            sock = await open_tcp(self.spec.host, self.spec.port, self.conn)
            if self.spec.kind == "tcp":
                _keepalive(sock, self.spec.interval_s, self.spec.timeout_s)
            self.ch = Channel(sock)
            self.h2.initiate_connection()
            await self._flush()
        except OSError as exc:
            raise StreamBroken(str(classify(exc, self.conn.phase, self.spec.timeout_s))
                               ) from exc

    async def beat(self) -> None:
        """One heartbeat (tcp) or call (grpc), answered within the timeout."""
        try:
            if self.spec.kind == "tcp":
                await self._idle()
            else:
                async with asyncio.timeout(self.spec.timeout_s):
                    await self._call()
        except TimeoutError as exc:
            raise StreamBroken(f"no answer within {self.spec.timeout_s:g}s") from exc
        except OSError as exc:
            raise StreamBroken(str(classify(exc, "stream", self.spec.timeout_s))) from exc
        except h2.exceptions.ProtocolError as exc:
            raise StreamBroken(f"HTTP/2 protocol error: {exc!r}") from exc
        self.beats += 1

    async def _idle(self) -> None:
        """Read whatever the server sends (its SETTINGS) for one interval; the kernel's
        keepalive turns a dead path into an error of this read."""
        try:
            await asyncio.wait_for(self._until(lambda _e: False), self.spec.interval_s)
        except TimeoutError:
            return  # quiet and still open: alive

    async def _call(self) -> None:
        from workloads.prober import grpc_probe

        probe = GrpcProbe(id=f"{self.spec.name}-{self.beats + 1}", host=self.spec.host,
                          port=self.spec.port, method=self.spec.method,
                          timeout=self.spec.timeout_s)
        stream = self.h2.get_next_available_stream_id()
        self.h2.send_headers(stream, grpc_probe.call_headers(probe))
        self.h2.send_data(stream, grpc_probe.encode_request(probe), end_stream=True)
        await self._flush()
        ended = await self._until(lambda e: isinstance(e, h2.events.StreamEnded | h2.events
                                                       .StreamReset)
                                  and e.stream_id == stream)
        if isinstance(ended, h2.events.StreamReset):
            raise StreamBroken(f"call reset by the server (HTTP/2 error {ended.error_code!s})")

    async def _until(self, match: Any) -> h2.events.Event:
        while True:
            for i, event in enumerate(self._inbox):
                if match(event):
                    del self._inbox[:i + 1]
                    return event
            self._inbox.clear()
            assert self.ch is not None
            chunk = await self.ch.recv()
            if not chunk:
                raise StreamBroken("the peer closed the connection")
            for event in self.h2.receive_data(chunk):
                if isinstance(event, h2.events.ConnectionTerminated):
                    raise StreamBroken(f"GOAWAY ({event.error_code!s})")
                if isinstance(event, h2.events.DataReceived):
                    self.h2.acknowledge_received_data(event.flow_controlled_length,
                                                      event.stream_id)
                self._inbox.append(event)
            await self._flush()

    async def _flush(self) -> None:
        if (pending := self.h2.data_to_send()) and self.ch is not None:
            await self.ch.send(pending)

    def close(self) -> None:
        if self.ch is not None:
            self.ch.close()


def _keepalive(sock: socket.socket, interval_s: float, timeout_s: float) -> None:
    """Kernel keepalive probes every `interval_s` once idle, the connection failing after
    `timeout_s` without an answer (Linux tcp(7): TCP_KEEPIDLE/KEEPINTVL/KEEPCNT, and
    TCP_USER_TIMEOUT for data left unacknowledged)."""
    every = max(1, round(interval_s))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", every), ("TCP_KEEPINTVL", every),
                        ("TCP_KEEPCNT", max(1, round(timeout_s / every))),
                        ("TCP_USER_TIMEOUT", max(1000, round(timeout_s * 1000)))):
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


def parse_stream(raw: Any, index: int) -> StreamSpec:
    """A watch spec's `streams[index]`; ValueError naming the field."""
    where = f"streams[{index}]"
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be an object")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ValueError(f"{where}.kind must be one of {', '.join(KINDS)}, got {kind!r}")
    try:
        port = int(raw["port"])
        interval = float(raw.get("interval_s", 0.5))
        timeout = float(raw.get("timeout_s", 2.0))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: port, interval_s and timeout_s must be numbers ({exc})"
                         ) from exc
    if not 0 < port < 65536 or interval <= 0 or timeout <= 0:
        raise ValueError(f"{where}: port must be 1-65535, interval_s and timeout_s positive")
    method = str(raw.get("method", "/api.AccountService/ListAccounts"))
    return StreamSpec(str(raw.get("name") or f"stream-{index}"), kind, str(raw.get("host")),
                      port, method, interval, timeout)


async def wait_stop(stop: asyncio.Event, seconds: float) -> None:
    """Until `stop` is set or `seconds` have passed, whichever comes first."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def keep(stream: H2Stream, emit: Any, stop: asyncio.Event) -> None:
    """Open the stream, beat until `stop`; emit `opened` and at most one `reset`."""
    spec = stream.spec
    try:
        await stream.open()
        await stream.beat()
    except (StreamBroken, Failure) as exc:
        emit({"type": "stream", "stream": spec.name, "event": "reset", "t": time.time(),
              "detail": f"could not open: {exc}"})
        return
    emit({"type": "stream", "stream": spec.name, "event": "opened", "t": time.time(),
          "local": stream.conn.local, "remote": stream.conn.remote})
    try:
        while not stop.is_set():
            await wait_stop(stop, spec.interval_s)
            if stop.is_set():
                break
            try:
                await stream.beat()
            except StreamBroken as exc:
                emit({"type": "stream", "stream": spec.name, "event": "reset",
                      "t": time.time(), "detail": str(exc), "beats": stream.beats})
                return
    finally:
        stream.close()
