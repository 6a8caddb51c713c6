"""`kubectl port-forward` without kubectl: a listener on 127.0.0.1 whose every accepted
connection is bridged to a pod port through the API server's pods/portforward WebSocket
(`kubernetes.stream.portforward`, one WebSocket per connection), and the Hubble Relay
follower opened through it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from conformance.harness.cluster import ClusterError
from conformance.harness.kube_relay import RelayFollower

RELAY_NAMESPACE = "kube-system"
# The Cilium chart labels the relay pods `k8s-app: hubble-relay`; their `grpc` container
# port is hubble.relay.listenPort, "4245" by default
# (install/kubernetes/cilium/templates/hubble-relay/deployment.yaml, values.yaml).
RELAY_SELECTOR = "k8s-app=hubble-relay"
RELAY_PORT = 4245
LIST_TIMEOUT_S = 30.0
CHUNK = 64 * 1024
STOP_S = 5.0  # how long close() waits for each bridge thread


class PortForwardApi(Protocol):
    def request(self, method: str, path: str, *, body: Any = None,
                query: dict[str, str] | None = None, content_type: str | None = None,
                timeout: float) -> Any: ...

    def port_forward(self, namespace: str, pod: str, port: int) -> Any:
        """A connected kubernetes.stream PortForward: `.socket(port)`, `.error(port)`,
        `.close()`. Raises ClusterError when the API server refuses."""
        ...


class LocalPortForward:
    """Listens on 127.0.0.1:`port` (chosen by the OS) and forwards every connection to
    `namespace/pod:remote_port`, until close()."""

    def __init__(self, api: PortForwardApi, namespace: str, pod: str,
                 remote_port: int) -> None:
        self.target = f"{namespace}/{pod}:{remote_port}"
        self._api = api
        self._where = (namespace, pod, remote_port)
        self._lock = threading.Lock()
        self._open: set[Any] = set()  # sockets to close on close()
        self._threads: list[threading.Thread] = []
        self._error: str | None = None
        self._closed = False
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._start(self._accept_loop, "port-forward-accept")

    def error(self) -> str | None:
        """The last forward that failed, in words (None while all went well)."""
        with self._lock:
            return self._error

    def _start(self, target: Any, name: str, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed
            self._start(self._bridge, "port-forward-bridge", conn)

    def _bridge(self, conn: socket.socket) -> None:
        namespace, pod, port = self._where
        try:
            forward = self._api.port_forward(namespace, pod, port)
        except ClusterError as err:
            self._fail(f"port-forward to {self.target} failed: {err}")
            conn.close()
            return
        remote = forward.socket(port)
        if not self._track(conn, remote):
            forward.close()
            return
        back = threading.Thread(target=_pump, args=(remote, conn), daemon=True,
                                name="port-forward-from-pod")
        back.start()
        _pump(conn, remote)
        back.join(STOP_S)
        if forward.error(port):
            self._fail(f"port-forward to {self.target}: {forward.error(port)}")
        self._untrack(conn, remote)
        forward.close()

    def _track(self, *socks: Any) -> bool:
        with self._lock:
            if self._closed:
                for sock in socks:
                    sock.close()
                return False
            self._open.update(socks)
            return True

    def _untrack(self, *socks: Any) -> None:
        with self._lock:
            self._open.difference_update(socks)
        for sock in socks:
            sock.close()

    def _fail(self, message: str) -> None:
        with self._lock:
            self._error = message

    def close(self) -> None:
        with self._lock:
            self._closed = True
            socks, self._open = list(self._open), set()
            threads = list(self._threads)
        _shut(self._listener)  # wakes the accept() blocked in the accept thread
        self._listener.close()
        for sock in socks:
            _shut(sock)
        for thread in threads:
            thread.join(STOP_S)


def _pump(src: Any, dst: Any) -> None:
    """Copy until either side ends, then end both (the v4 port-forward protocol has no
    half-close, so one side ending ends the connection)."""
    try:
        while chunk := src.recv(CHUNK):
            dst.sendall(chunk)
    except OSError:
        pass  # reset or closed by close(): the connection is over either way
    finally:
        _shut(src)
        _shut(dst)


def _shut(sock: Any) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def relay_pod(api: PortForwardApi) -> str:
    """The name of a Running hubble-relay pod; ClusterError when there is none."""
    answer = api.request("GET", f"/api/v1/namespaces/{RELAY_NAMESPACE}/pods",
                         query={"labelSelector": RELAY_SELECTOR}, timeout=LIST_TIMEOUT_S)
    running = sorted(str(item["metadata"]["name"]) for item in answer.get("items") or []
                     if (item.get("status") or {}).get("phase") == "Running"
                     and not (item.get("metadata") or {}).get("deletionTimestamp"))
    if not running:
        raise ClusterError(
            f"no Running pod labelled {RELAY_SELECTOR} in {RELAY_NAMESPACE}: is Hubble "
            "Relay enabled (hubble.relay.enabled=true) and ready?")
    return running[0]


def open_relay_follower(api: PortForwardApi, namespaces: Sequence[str],
                        since: datetime) -> RelayFollower:
    """A RelayFollower through a port-forward to the relay pod's port 4245; closing the
    follower ends the forward."""
    forward = LocalPortForward(api, RELAY_NAMESPACE, relay_pod(api), RELAY_PORT)
    try:
        return RelayFollower(f"127.0.0.1:{forward.port}", namespaces, since,
                             on_close=forward.close)
    except ClusterError as err:
        why = forward.error()
        forward.close()
        if why:
            raise ClusterError(f"{err} ({why})") from err
        raise
