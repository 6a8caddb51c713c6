"""An emulated Hubble Relay: `observer.Observer/GetFlows` over real gRPC on 127.0.0.1,
serving the emulator's flow log.

What it follows upstream (cilium v1.19.4):
- every stream starts with one NODE_CONNECTED notice naming the nodes, before any flow
  (pkg/hubble/relay/observer/server.go, GetFlows; sent only when there are nodes);
- `first` with `follow` is INVALID_ARGUMENT (pkg/hubble/observer/local_observer.go,
  validateRequest);
- `since`: events whose time is before it are skipped (local_observer.go,
  flowsReader.Next: `ts.Before(since)`); follow without since starts at the newest
  event, without replay (newRingReader);
- filters: a flow passes when it matches at least one whitelist filter (or there are
  none) and no blacklist filter (pkg/hubble/filters/filters.go, Apply); inside one
  FlowFilter every set field must match (BuildFilterList); source_pod/destination_pod
  entries are "ns/prefix", "ns/" or a bare "prefix" meaning namespace "default"
  (pkg/hubble/k8s/utils.go ParseNamespaceName, filters/k8s.go filterByNamespacedName:
  an endpoint with neither namespace nor pod name never matches; an empty entry is an
  error).
Not emulated: `number`/`first` windows (a non-follow call returns every stored flow from
`since`), `until`, lost-events notices, and the relay's cross-node sort buffer.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent import futures
from typing import Any, Protocol

import grpc
from google.protobuf import json_format, timestamp_pb2

from conformance.harness.hubble_api import jsonpb, observer_pb2, relay_pb2, rpc

MAX_STREAMS = 16  # concurrent GetFlows calls; more are refused RESOURCE_EXHAUSTED
POLL_S = 0.1  # longest wait on the log before looking at cancel/stop/drop again
STOP_GRACE_S = 1.0
RELAY_NODE_NAME = "hubble-relay"  # the node_name the relay's own notices carry


class FlowLog(Protocol):
    def read(self, cursor: int, timeout: float) -> tuple[int, list[dict[str, Any]]]:
        """Flow lines (the jsonpb-shaped dicts) after `cursor`, waiting up to `timeout`
        for at least one; returns the new cursor."""
        ...


class _FilterError(ValueError):
    """A FlowFilter the observer would refuse."""


def _parse_namespaced(name: str) -> tuple[str, str]:
    # pkg/hubble/k8s/utils.go ParseNamespaceName: "ns/pod" | "pod" (namespace "default").
    if not name:
        raise _FilterError("invalid filter, name must not be empty")
    ns, sep, rest = name.partition("/")
    if sep:
        return ns, rest.split("/")[0]
    return "default", ns


def _names_match(names: Sequence[str], endpoint: Any) -> bool:
    namespace, pod = endpoint.namespace, endpoint.pod_name
    if not namespace and not pod:
        return False
    for ns, prefix in map(_parse_namespaced, names):
        if (not prefix or pod.startswith(prefix)) and (not ns or ns == namespace):
            return True
    return False


def _filter_matches(flt: Any, flow: Any) -> bool:
    if flt.source_pod and not _names_match(flt.source_pod, flow.source):
        return False
    return not (flt.destination_pod and not _names_match(flt.destination_pod, flow.destination))


def passes(request: Any, flow: Any) -> bool:
    """Whether a flow goes out on this GetFlows request (filters.Apply)."""
    white = not request.whitelist or any(_filter_matches(f, flow) for f in request.whitelist)
    return white and not any(_filter_matches(f, flow) for f in request.blacklist)


def _check_filters(request: Any) -> None:
    for flt in [*request.whitelist, *request.blacklist]:
        for name in [*flt.source_pod, *flt.destination_pod]:
            _parse_namespaced(name)


def _before(response: Any, since: timestamp_pb2.Timestamp) -> bool:
    stamp = response.time if response.HasField("time") else response.flow.time
    return (stamp.seconds, stamp.nanos) < (since.seconds, since.nanos)


class RelayServer:
    """GetFlows over the log on 127.0.0.1:`port` until stop()."""

    def __init__(self, log: FlowLog, *, nodes: Sequence[str] = (),
                 node_name: str = RELAY_NODE_NAME) -> None:
        self._log = log
        self._nodes = list(nodes)
        self._node_name = node_name
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._generation = 0  # bumped by drop_streams(); streams of older ones end
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=MAX_STREAMS),
                                   maximum_concurrent_rpcs=MAX_STREAMS)
        self._server.add_generic_rpc_handlers((rpc.generic_handler(self._get_flows),))
        self.port: int = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def drop_streams(self) -> None:
        """End every open GetFlows stream with UNAVAILABLE (a fault: the relay lost its
        clients mid-run); new calls are served as before."""
        with self._lock:
            self._generation += 1

    def stop(self) -> None:
        self._stopping.set()
        self._server.stop(STOP_GRACE_S).wait(STOP_GRACE_S + POLL_S)

    def _get_flows(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        if request.first and request.follow:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          "first cannot be specified with follow")
        try:
            _check_filters(request)
        except _FilterError as err:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
        with self._lock:
            generation = self._generation
        cursor = 0
        if request.follow and not request.HasField("since"):
            # Start at the newest, fixed before the notice goes out, so nothing logged
            # after the client heard from us is skipped.
            cursor, _ = self._log.read(0, 0.0)
        if self._nodes:
            yield self._connected_notice()
        while context.is_active() and not self._stopping.is_set():
            with self._lock:
                dropped = generation != self._generation
            if dropped:
                context.abort(grpc.StatusCode.UNAVAILABLE,
                              "hubble-relay dropped the stream (emulated fault)")
            cursor, lines = self._log.read(cursor, POLL_S if request.follow else 0.0)
            for obj in lines:
                response = self._response(obj, context)
                if request.HasField("since") and _before(response, request.since):
                    continue
                if passes(request, response.flow):
                    yield response
            if not request.follow and not lines:
                return

    @staticmethod
    def _response(obj: dict[str, Any], context: grpc.ServicerContext) -> Any:
        try:
            return jsonpb.from_dict(obj)
        except json_format.ParseError as err:
            context.abort(grpc.StatusCode.INTERNAL,
                          "a flow log entry is not a Hubble GetFlowsResponse as "
                          f"conformance/harness/hubble_api declares it: {err}")
            raise  # abort() raises; this line only tells type checkers so

    def _connected_notice(self) -> Any:
        now = timestamp_pb2.Timestamp()
        now.GetCurrentTime()
        return observer_pb2.GetFlowsResponse(
            node_status=relay_pb2.NodeStatusEvent(state_change=relay_pb2.NODE_CONNECTED,
                                                  node_names=self._nodes),
            node_name=self._node_name, time=now)
