"""The emulated Hubble Relay's GetFlows, called with a plain gRPC client: filters as the
Hubble observer applies them, request validation, non-follow calls, no replay without
`since`, and streams that end on cancel and on stop."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from clusters.emulated.relay import MAX_STREAMS, RelayServer, passes
from conformance.harness.hubble_api import flow_pb2, jsonpb, observer_pb2, relay_pb2, rpc
from tests.emulated.relay_support import MemoryFlowLog, recorded_lines
from tests.support.wait import wait_for

CALL_S = 5.0  # deadline of each unary-looking (non-follow) call
GATE_S = 0.5  # how long GatedLog holds the relay's start-position read
WAIT_S = 10.0


@pytest.fixture
def log() -> MemoryFlowLog:
    return MemoryFlowLog(recorded_lines())


@pytest.fixture
def relay(log: MemoryFlowLog) -> Iterator[RelayServer]:
    server = RelayServer(log, nodes=("kind-worker", "kind-worker2"), node_name="relay-0")
    yield server
    server.stop()


@pytest.fixture
def channel(relay: RelayServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(relay.address) as chan:
        yield chan


def flow(source: tuple[str, str], destination: tuple[str, str]) -> Any:
    out = flow_pb2.Flow()
    out.source.namespace, out.source.pod_name = source
    out.destination.namespace, out.destination.pod_name = destination
    return out


def request(**filters: list[list[str]]) -> Any:
    """request(whitelist=[["ns/"], []], ...) with source_pod/destination_pod pairs."""
    req = observer_pb2.GetFlowsRequest()
    for kind, pairs in filters.items():
        for src, dst in zip(pairs[::2], pairs[1::2], strict=True):
            getattr(req, kind).add(source_pod=src, destination_pod=dst)
    return req


@pytest.mark.parametrize(("req", "matches"), [
    (request(), True),  # no filter: everything
    (request(whitelist=[["a/"], []]), True),
    (request(whitelist=[["b/"], []]), False),
    (request(whitelist=[["b/"], [], [], ["b/"]]), True),  # OR across filters
    (request(whitelist=[["a/"], ["c/"]]), False),  # AND inside one filter
    (request(whitelist=[["a/web-"], []]), True),  # pod name prefix
    (request(whitelist=[["a/db-"], []]), False),
    (request(whitelist=[["web-"], []]), False),  # bare name: namespace "default"
    (request(whitelist=[["/web-"], []]), True),  # "/name": any namespace
    (request(whitelist=[["a/"], []], blacklist=[[], ["b/db-"]]), False),
    (request(blacklist=[[], ["c/"]]), True),
])
def test_filters_as_the_observer_applies_them(req: Any, matches: bool) -> None:
    assert passes(req, flow(("a", "web-1"), ("b", "db-0"))) is matches


def test_an_endpoint_without_namespace_and_pod_never_matches_a_pod_filter() -> None:
    world = flow(("", ""), ("b", "db-0"))
    assert not passes(request(whitelist=[["/"], []]), world)
    assert passes(request(whitelist=[[], ["b/"]]), world)


def call(channel: grpc.Channel, req: Any) -> list[Any]:
    return list(rpc.get_flows_call(channel)(req, timeout=CALL_S))


def test_non_follow_call_sends_the_notice_then_every_stored_flow(
        channel: grpc.Channel) -> None:
    responses = call(channel, observer_pb2.GetFlowsRequest())
    notice, *flows = responses
    assert notice.WhichOneof("response_types") == "node_status"
    assert notice.node_status.state_change == relay_pb2.NODE_CONNECTED
    assert list(notice.node_status.node_names) == ["kind-worker", "kind-worker2"]
    assert notice.node_name == "relay-0" and notice.HasField("time")
    assert [jsonpb.to_line(r) for r in flows] == recorded_lines()


@pytest.mark.parametrize(("req", "message"), [
    (observer_pb2.GetFlowsRequest(first=True, follow=True),
     "first cannot be specified with follow"),
    (request(whitelist=[[""], []]), "invalid filter, name must not be empty"),
])
def test_invalid_requests(channel: grpc.Channel, req: Any, message: str) -> None:
    with pytest.raises(grpc.RpcError) as info:
        call(channel, req)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == message


class GatedLog(MemoryFlowLog):
    """The relay's "where is the newest" read (cursor 0, no wait) is held until the test
    has appended, or GATE_S passed: a relay that fixes its start after sending the notice
    then sees the test's flow as old."""

    def __init__(self) -> None:
        super().__init__(recorded_lines()[:2])
        self.appended = threading.Event()

    def read(self, cursor: int, timeout: float) -> tuple[int, list[dict[str, Any]]]:
        if cursor == 0 and timeout == 0.0:
            self.appended.wait(GATE_S)
        return super().read(cursor, timeout)


def test_follow_without_since_starts_at_the_newest() -> None:
    log = GatedLog()
    server = RelayServer(log, nodes=("kind-worker",))
    try:
        with grpc.insecure_channel(server.address) as chan:
            # The deadline turns a missed flow into DEADLINE_EXCEEDED, not a hang.
            stream = rpc.get_flows_call(chan)(observer_pb2.GetFlowsRequest(follow=True),
                                              timeout=WAIT_S)
            assert next(stream).WhichOneof("response_types") == "node_status"
            log.append(recorded_lines()[2])
            log.appended.set()
            # Not lines[0] or [1] (no replay), and not lost: logged after the notice.
            assert jsonpb.to_line(next(stream)) == recorded_lines()[2]
            stream.cancel()
    finally:
        server.stop()


def test_cancelled_streams_free_their_workers(channel: grpc.Channel) -> None:
    streams = [rpc.get_flows_call(channel)(observer_pb2.GetFlowsRequest(follow=True),
                                           timeout=WAIT_S) for _ in range(MAX_STREAMS)]
    for stream in streams:
        assert next(stream).WhichOneof("response_types") == "node_status"
    with pytest.raises(grpc.RpcError) as info:  # every worker is taken
        call(channel, observer_pb2.GetFlowsRequest())
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    for stream in streams:
        stream.cancel()
    # Each handler notices its cancel within one log poll and returns its worker.
    wait_for(lambda: _served(channel), WAIT_S, "a worker freed by the cancels")


def _served(channel: grpc.Channel) -> bool:
    try:
        return len(call(channel, observer_pb2.GetFlowsRequest())) == 1 + len(recorded_lines())
    except grpc.RpcError as err:
        if err.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
            raise
        return False


def test_stop_ends_a_following_stream(log: MemoryFlowLog) -> None:
    server = RelayServer(log, nodes=("kind-worker",))
    with grpc.insecure_channel(server.address) as chan:
        stream = rpc.get_flows_call(chan)(observer_pb2.GetFlowsRequest(follow=True),
                                          timeout=WAIT_S)
        next(stream)
        server.stop()
        wait_for(stream.done, WAIT_S, "the stream to end on stop")
