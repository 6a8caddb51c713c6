"""ClientKubeApi.exec with the real kubernetes client against a loopback WebSocket server
that speaks the API server's exec protocol (channel-prefixed frames: 0 stdin, 1 stdout,
2 stderr, 3 status; v5 adds [255, channel] to close a channel).

The server plays `prober run`: it collects stdin until the client closes it, then answers
one result per probe. This checks the exec URL (argv, container, stdin flags), the
subprotocol, that the whole batch arrives on stdin followed by EOF, and how stdout,
stderr and the exit status come back.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from conformance.harness.cluster import ClusterError, PodInfo
from conformance.harness.kube import KubeCluster
from conformance.harness.kube_api import ApiError, ClientKubeApi

DATA = Path(__file__).parent / "data" / "kube"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
V5 = "v5.channel.k8s.io"
CLOSE_WAIT_S = 5.0  # how long the server waits for the client to end the connection
CLIENT = PodInfo(name="payment-processor-7b8c9d5f6-p9t2w", namespace="zt-gw0",
                 labels={"app": "payment-processor"}, ip="10.244.1.30", node="zt-worker")


@dataclass
class ExecServer:
    """One loopback API server; `mode` picks how the pretend process ends."""

    mode: str = "prober"
    v4_only: bool = False  # answer v4 even to a v5 offer, as older servers and proxies do
    port: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    stdin: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen()
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._sock.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(4096)
            lines = head.decode().split("\r\n")
            target = lines[0].split(" ")[1]
            headers = {k.lower(): v.strip() for k, _, v in
                       (line.partition(":") for line in lines[1:] if line)}
            parts = urlsplit(target)
            self.requests.append({"path": parts.path, "query": parse_qs(parts.query),
                                  "headers": headers})
            offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",")]
            protocol = V5 if V5 in offered and not self.v4_only else "v4.channel.k8s.io"
            accept = base64.b64encode(hashlib.sha1(
                (headers["sec-websocket-key"] + WS_GUID).encode()).digest()).decode()
            conn.sendall((f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
                          f"Sec-WebSocket-Protocol: {protocol}\r\n\r\n").encode())
            command = parse_qs(parts.query).get("command", [])
            counted = re.fullmatch(r"head -c (\d+) \| prober run", command[-1]) \
                if command[:2] == ["sh", "-c"] else None
            self._session(conn, protocol, int(counted.group(1)) if counted else None)

    def _session(self, conn: socket.socket, protocol: str, count: int | None) -> None:
        """Stdin ends at the v5 close frame, or after `count` bytes for `head -c`; on v4
        with plain `prober run` it never ends, like a real prober waiting for EOF."""
        stdin = b""
        reader = _Frames(conn)
        while count is None or len(stdin) < count:
            frame = reader.next()
            if frame is None:
                return
            if frame[:1] == b"\x00":
                stdin += frame[1:]
            elif frame == b"\xff\x00" and protocol == V5:  # the client closed stdin
                break
        self.stdin.append(stdin)
        if self.mode == "prober":
            probes = json.loads(stdin)
            out = json.dumps([{"id": p["id"], "outcome": "ok", "elapsed_ms": 1}
                              for p in probes])
            _send(conn, b"\x01" + out.encode())
            _send(conn, b"\x03" + (DATA / "exec-status-success.json").read_bytes())
        else:
            _send(conn, b"\x02" + b"prober: stdin is not a JSON array\n")
            _send(conn, b"\x03" + (DATA / "exec-status-exit2.json").read_bytes())
        _close(conn)


class _Frames:
    """Masked client frames -> payloads (text or binary; close -> None)."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.buf = b""

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.conn.recv(65536)
            if not chunk:
                raise ConnectionError("client went away")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def next(self) -> bytes | None:
        try:
            b0, b1 = self._take(2)
        except ConnectionError:
            return None
        length = b1 & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._take(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._take(8))[0]
        mask = self._take(4) if b1 & 0x80 else b"\0\0\0\0"
        data = bytes(c ^ mask[i % 4] for i, c in enumerate(self._take(length)))
        if b0 & 0x0F == 0x8:
            return None
        return data


def _close(conn: socket.socket) -> None:
    """Send a close frame and end the connection the way a server must (RFC 6455 7.1.1):
    write side first, then read until the client's FIN. Closing with the client's own close
    frame unread makes the kernel answer RST, and the client may then lose frames it had
    not read yet ("Connection to remote host was lost" under load)."""
    conn.sendall(b"\x88\x00")
    conn.shutdown(socket.SHUT_WR)
    conn.settimeout(CLOSE_WAIT_S)
    with contextlib.suppress(OSError):
        while conn.recv(4096):
            pass


def _send(conn: socket.socket, payload: bytes) -> None:
    n = len(payload)
    head = bytes([0x82, n]) if n < 126 else (
        bytes([0x82, 126]) + struct.pack("!H", n) if n < 65536
        else bytes([0x82, 127]) + struct.pack("!Q", n))
    conn.sendall(head + payload)


@pytest.fixture
def exec_server() -> Iterator[ExecServer]:
    server = ExecServer()
    yield server
    server.close()


def client_api(server: ExecServer) -> ClientKubeApi:
    from kubernetes import client

    config = client.Configuration()
    config.host = f"http://127.0.0.1:{server.port}"
    return ClientKubeApi(client.ApiClient(config))


def test_exec_sends_argv_container_and_stdin_then_eof(exec_server: ExecServer) -> None:
    api = client_api(exec_server)
    probes = [{"id": f"p{i}", "kind": "tcp", "host": "10.0.0.1", "port": 80}
              for i in range(2000)]  # > 64 KiB of stdin: the 64-bit frame length path
    result = api.exec("zt-gw0", CLIENT.name, "prober", ["prober", "run"],
                      json.dumps(probes), timeout=10)
    assert result.exit_code == 0 and result.stderr == ""
    assert [r["id"] for r in json.loads(result.stdout)] == [p["id"] for p in probes]
    request = exec_server.requests[0]
    assert request["path"] == f"/api/v1/namespaces/zt-gw0/pods/{CLIENT.name}/exec"
    assert request["query"]["command"] == ["prober", "run"]
    assert request["query"]["container"] == ["prober"]
    assert [request["query"][k][0].lower() for k in ("stdin", "stdout", "stderr", "tty")] == [
        "true", "true", "true", "false"]
    assert len(exec_server.stdin[0]) > 65536
    assert V5 in request["headers"]["sec-websocket-protocol"]
    assert json.loads(exec_server.stdin[0]) == probes


def test_exec_failure_returns_exit_code_and_stderr(exec_server: ExecServer) -> None:
    exec_server.mode = "fail"
    result = client_api(exec_server).exec("zt-gw0", CLIENT.name, None, ["prober", "run"],
                                           "[]", timeout=10)
    assert result.exit_code == 2
    assert result.stderr == "prober: stdin is not a JSON array\n"
    assert "exit code 2" in result.message


def test_run_probes_end_to_end_through_the_websocket(exec_server: ExecServer) -> None:
    api = client_api(exec_server)
    kube = KubeCluster(api)
    probes = [{"id": "a", "kind": "tcp", "host": "10.244.1.23", "port": 8080, "timeout": 1}]
    assert kube.run_probes(CLIENT, probes) == [{"id": "a", "outcome": "ok", "elapsed_ms": 1}]
    assert len(exec_server.requests) == 1
    exec_server.mode = "fail"
    with pytest.raises(ClusterError, match="exit code 2: prober: stdin is not a JSON array"):
        kube.run_probes(CLIENT, probes)


def test_exec_to_nothing_listening_is_an_api_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from kubernetes import client

    config = client.Configuration()
    config.host = f"http://127.0.0.1:{port}"
    with pytest.raises(ApiError):
        ClientKubeApi(client.ApiClient(config)).exec("ns", "pod", None, ["true"], None,
                                                     timeout=5)


def test_a_server_that_answers_v4_to_a_v5_offer_still_gets_the_whole_batch(
        exec_server: ExecServer) -> None:
    """The protocol is known only after the handshake: with v4 there is no stdin close,
    so the batch is byte-counted and the prober never waits for an EOF (a plain
    `prober run` here would hang until the exec timeout)."""
    exec_server.v4_only = True
    kube = KubeCluster(client_api(exec_server))
    probes = [{"id": "a", "kind": "tcp", "host": "10.244.1.23", "port": 8080, "timeout": 1}]
    assert kube.run_probes(CLIENT, probes) == [{"id": "a", "outcome": "ok", "elapsed_ms": 1}]
    assert exec_server.requests[0]["query"]["command"][:2] == ["sh", "-c"]


def test_a_plain_command_on_v4_gets_no_eof_and_ends_at_the_exec_timeout(
        exec_server: ExecServer) -> None:
    exec_server.v4_only = True
    with pytest.raises(ApiError, match="did not finish within 1s"):
        client_api(exec_server).exec("zt-gw0", CLIENT.name, None, ["prober", "run"], "[]",
                                     timeout=1)
