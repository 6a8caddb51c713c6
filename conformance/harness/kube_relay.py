"""Following Hubble Relay over gRPC from Python: `observer.Observer/GetFlows` with
follow, since and the namespace filters `hubble observe --namespace` sends, each flow
kept as the line `hubble observe -o jsonpb` would print (hubble_api/jsonpb.py).

Connected is proved before the constructor returns: the relay answers every GetFlows
with a NODE_CONNECTED notice before any flow (cilium pkg/hubble/relay/observer/
server.go, GetFlows), so the first response of any kind means the stream is set up, and
`since` makes the relay replay whatever happened from then on.

Plaintext gRPC: the relay serves TLS only with hubble.relay.tls.server.enabled, which the
chart leaves false and the project's profiles do not set.
"""

from __future__ import annotations

import shlex
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import grpc
from google.protobuf import timestamp_pb2

from conformance.harness.cluster import ClusterError
from conformance.harness.hubble_api import flow_pb2, jsonpb, observer_pb2, relay_pb2, rpc

CONNECT_S = 30.0  # first response of the stream, or the follower is refused
STOP_S = 5.0  # how long close() waits for the reader thread
# Never route loopback gRPC through an HTTP proxy from the environment.
CHANNEL_OPTIONS = (("grpc.enable_http_proxy", 0),)
HUBBLE_DEFAULT_PORT = 4245  # `hubble observe` talks to localhost:4245 by default


def namespace_filters(namespaces: Sequence[str]) -> list[Any]:
    """The whitelist `hubble observe --namespace a --namespace b` builds: one FlowFilter
    with source_pod ["a/", "b/"] OR one with destination_pod ["a/", "b/"]
    (hubble/cmd/observe/flows_filter.go: filterTracker.flowFilters applies `ns` with
    applySrc to the left filter and applyDest to the right; addNamespacesToFilter turns
    the empty pod name into "<ns>/")."""
    if not namespaces:
        return []
    prefixes = [f"{ns}/" for ns in namespaces]
    return [flow_pb2.FlowFilter(source_pod=prefixes),
            flow_pb2.FlowFilter(destination_pod=prefixes)]


def get_flows_request(namespaces: Sequence[str], since: datetime) -> Any:
    """GetFlows(follow, since, whitelist) as hubble/cmd/observe/flows.go getFlowsRequest
    builds it for `--follow --since <t> --namespace ...` (number stays 0 with since)."""
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(since)  # a naive datetime is taken as UTC
    return observer_pb2.GetFlowsRequest(follow=True, since=stamp,
                                        whitelist=namespace_filters(namespaces))


def observe_argv(hubble: str, port: int, namespaces: Sequence[str], since: datetime
                 ) -> list[str]:
    """`hubble observe` with the flags the suite's GetFlows request corresponds to."""
    # 127.0.0.1, not localhost: a port-forward listens there; localhost may be ::1 first.
    argv = [hubble, "observe", "--server", f"127.0.0.1:{port}", "--follow", "-o", "jsonpb",
            "--since", since.strftime("%Y-%m-%dT%H:%M:%SZ")]
    for namespace in namespaces:
        argv += ["--namespace", namespace]
    return argv


def observe_command(namespaces: Sequence[str], since: datetime) -> str:
    """The equivalent `hubble observe` command line, for a person (after `kubectl -n
    kube-system port-forward service/hubble-relay 4245:80`)."""
    return shlex.join(observe_argv("hubble", HUBBLE_DEFAULT_PORT, namespaces, since))


class RelayFollower:
    """A FlowFollower over one GetFlows stream. lines() are the flows' jsonpb lines;
    error() says, once, in one paragraph, why the stream ended if it did before close()."""

    def __init__(self, address: str, namespaces: Sequence[str], since: datetime, *,
                 connect_timeout: float = CONNECT_S,
                 on_close: Callable[[], None] | None = None) -> None:
        self.address = address
        self._on_close = on_close
        self._lock = threading.Lock()
        self._lines: list[str] = []
        self._notices: list[str] = []
        self._responses = 0
        self._error: str | None = None
        self._closing = False
        self._first = threading.Event()
        self._channel = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
        self._call = rpc.get_flows_call(self._channel)(get_flows_request(namespaces, since))
        self._thread = threading.Thread(target=self._read, name="hubble-relay-reader",
                                        daemon=True)
        self._thread.start()
        try:
            self._wait_connected(connect_timeout)
        except BaseException:
            self.close()
            raise

    def _wait_connected(self, timeout: float) -> None:
        if not self._first.wait(timeout):
            raise ClusterError(
                f"Hubble Relay at {self.address} sent nothing on GetFlows within "
                f"{timeout:g}s (a relay answers NODE_CONNECTED at once; is it serving?)")
        with self._lock:
            failed, answered = self._error, self._responses
        if failed and not answered:
            raise ClusterError(failed)

    def _read(self) -> None:
        try:
            for response in self._call:
                self._take(response)
            reason = "the relay ended the GetFlows stream"
        except grpc.RpcError as err:
            code = err.code() if hasattr(err, "code") else None
            details = err.details() if hasattr(err, "details") else str(err)
            reason = f"{code.name if code else 'error'}: {details}"
        except Exception as err:  # a response that cannot be printed: say so, never hang
            reason = f"{type(err).__name__}: {err}"
            self._call.cancel()
        with self._lock:
            if self._closing:
                pass
            elif self._responses:
                self._error = (f"Hubble Relay flow stream from {self.address} failed "
                               f"mid-run ({reason}); flows after this point were not seen")
            else:
                self._error = f"cannot follow Hubble Relay at {self.address}: {reason}"
        self._first.set()

    def _take(self, response: Any) -> None:
        kind = response.WhichOneof("response_types")  # None: a type we do not declare
        line = jsonpb.to_line(response) if kind else ""
        with self._lock:
            self._responses += 1
            if kind == "flow":
                self._lines.append(line)
            # hubble prints only NODE_ERROR/NODE_UNAVAILABLE notices, on stderr
            # (hubble/pkg/printer/printer.go WriteProtoNodeStatusEvent).
            elif kind == "node_status" and response.node_status.state_change in (
                    relay_pb2.NODE_ERROR, relay_pb2.NODE_UNAVAILABLE):
                self._notices.append(line)
        self._first.set()

    def lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)

    def notices(self) -> list[str]:
        """Node status lines hubble would print on stderr (NODE_ERROR/UNAVAILABLE)."""
        with self._lock:
            return list(self._notices)

    def error(self) -> str | None:
        with self._lock:
            return self._error

    def close(self) -> None:
        with self._lock:
            if self._closing:
                return
            self._closing = True
        self._call.cancel()
        self._channel.close()
        self._thread.join(STOP_S)
        if self._on_close is not None:
            self._on_close()

    def __enter__(self) -> RelayFollower:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
