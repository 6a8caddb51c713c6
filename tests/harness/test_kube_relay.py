"""RelayFollower against the emulated Hubble Relay over real gRPC on 127.0.0.1: the lines
it keeps are byte for byte the recorded `hubble observe -o jsonpb` lines; the request is
the one `hubble observe --follow --since --namespace` sends; failures are one clear
error, never a hang."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from clusters.emulated.relay import RelayServer
from conformance.harness.cluster import ClusterError
from conformance.harness.hubble import parse_lines
from conformance.harness.kube_relay import (
    RelayFollower,
    get_flows_request,
    namespace_filters,
    observe_command,
)
from tests.emulated.relay_support import MemoryFlowLog, recorded_lines
from tests.support.wait import wait_for

WAIT_S = 10.0  # deadline for anything the follower should see
FAST_S = 2.0  # an error that must be reported at once, not after the connect timeout
NODES = ("kind-worker", "kind-worker2")
BEFORE_ALL = datetime(2026, 11, 26, 7, 40, 0, tzinfo=UTC)




@pytest.fixture
def log() -> MemoryFlowLog:
    return MemoryFlowLog()


@pytest.fixture
def relay(log: MemoryFlowLog) -> Iterator[RelayServer]:
    server = RelayServer(log, nodes=NODES)
    yield server
    server.stop()


def test_request_is_what_hubble_observe_sends() -> None:
    request = get_flows_request(["zt-gw0", "zt-gw0-b"],
                                datetime(2026, 11, 26, 7, 40, 1, 250000, tzinfo=UTC))
    assert request.follow and not request.first and request.number == 0
    assert (request.since.seconds, request.since.nanos) == (1795678801, 250_000_000)
    assert [list(f.source_pod) for f in request.whitelist] == [["zt-gw0/", "zt-gw0-b/"], []]
    assert [list(f.destination_pod) for f in request.whitelist] == [
        [], ["zt-gw0/", "zt-gw0-b/"]]
    assert not request.blacklist
    assert namespace_filters([]) == []


def test_observe_command_for_a_person() -> None:
    assert observe_command(["zt-gw0", "b c"], datetime(2026, 11, 26, 7, 40, 1, tzinfo=UTC)) == (
        "hubble observe --server 127.0.0.1:4245 --follow -o jsonpb "
        "--since 2026-11-26T07:40:01Z --namespace zt-gw0 --namespace 'b c'")


def test_flows_sent_after_connect_arrive_byte_for_byte(
        relay: RelayServer, log: MemoryFlowLog) -> None:
    lines = recorded_lines()
    with RelayFollower(relay.address, ["ztc-gw0", "ztc-gw1"], BEFORE_ALL) as follower:
        assert follower.lines() == []  # connected on the NODE_CONNECTED notice alone
        log.append(*lines)
        wait_for(lambda: len(follower.lines()) == len(lines), WAIT_S, "the expected flow lines")
        assert follower.lines() == lines
        assert len(parse_lines(follower.lines())) == len(lines)
        assert follower.error() is None and follower.notices() == []


def test_namespace_filter_keeps_flows_from_or_to_the_namespaces(
        relay: RelayServer, log: MemoryFlowLog) -> None:
    lines = recorded_lines()
    log.append(*lines)
    with RelayFollower(relay.address, ["ztc-gw1"], BEFORE_ALL) as gw1, \
            RelayFollower(relay.address, ["kube-system"], BEFORE_ALL) as dns:
        wait_for(lambda: len(gw1.lines()) == 2 and len(dns.lines()) == 1, WAIT_S,
                 "the filtered flow lines")
        assert gw1.lines() == lines[4:6]  # from ztc-gw1 to kube-dns, and inside ztc-gw1
        assert dns.lines() == [lines[4]]  # only as a destination


def test_since_replays_from_that_instant_on(relay: RelayServer, log: MemoryFlowLog) -> None:
    lines = recorded_lines()
    log.append(*lines)
    # lines[3] is stamped 07:40:01.250535Z exactly: "before since" excludes, equal keeps.
    since = datetime(2026, 11, 26, 7, 40, 1, 250535, tzinfo=UTC)
    with RelayFollower(relay.address, ["ztc-gw0", "ztc-gw1"], since) as follower:
        wait_for(lambda: len(follower.lines()) == 3, WAIT_S, "the expected flow lines")
        log.append(lines[0])  # stamped before since: never sent, even when new
        log.append(lines[5])
        wait_for(lambda: len(follower.lines()) == 4, WAIT_S, "the expected flow lines")
        assert follower.lines() == [*lines[3:6], lines[5]]


def test_dropped_stream_is_one_clear_error_at_once(relay: RelayServer) -> None:
    with RelayFollower(relay.address, ["ztc-gw0"], BEFORE_ALL) as follower:
        started = time.monotonic()
        relay.drop_streams()
        wait_for(lambda: follower.error() is not None, FAST_S, "the follower's error")
        assert time.monotonic() - started < FAST_S
        error = follower.error()
        assert error is not None
        assert relay.address in error and "UNAVAILABLE" in error and "dropped" in error
        assert "mid-run" in error
        assert "\n" not in error


def test_unreachable_relay_is_refused_at_once() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once closed
    started = time.monotonic()
    with pytest.raises(ClusterError,
                       match=r"cannot follow Hubble Relay at 127\.0\.0\.1:\d+: UNAVAILABLE"):
        RelayFollower(f"127.0.0.1:{port}", ["ztc-gw0"], BEFORE_ALL)
    assert time.monotonic() - started < FAST_S


def test_silent_relay_times_out_instead_of_hanging(log: MemoryFlowLog) -> None:
    silent = RelayServer(log)  # no nodes: no NODE_CONNECTED notice, and no flows
    try:
        with pytest.raises(ClusterError, match=r"sent nothing on GetFlows within 0\.3s"):
            RelayFollower(silent.address, ["ztc-gw0"], BEFORE_ALL, connect_timeout=0.3)
    finally:
        silent.stop()


def test_an_entry_the_proto_cannot_carry_ends_the_stream_with_its_name(
        relay: RelayServer, log: MemoryFlowLog) -> None:
    with RelayFollower(relay.address, [], BEFORE_ALL) as follower:
        log.append_dict({"flow": {"time": "2026-11-26T07:40:05Z", "mystery_field": 1},
                         "time": "2026-11-26T07:40:05Z"})
        wait_for(lambda: follower.error() is not None, FAST_S, "the follower's error")
        assert "INTERNAL" in (follower.error() or "")
        assert "mystery_field" in (follower.error() or "")


def test_close_is_prompt_and_not_an_error(relay: RelayServer) -> None:
    closed: list[bool] = []
    follower = RelayFollower(relay.address, ["ztc-gw0"], BEFORE_ALL,
                             on_close=lambda: closed.append(True))
    started = time.monotonic()
    follower.close()
    follower.close()  # idempotent
    assert time.monotonic() - started < FAST_S
    assert follower.error() is None and closed == [True]


def test_relay_stop_ends_the_follow_with_an_error(log: MemoryFlowLog) -> None:
    server = RelayServer(log, nodes=NODES)
    with RelayFollower(server.address, ["ztc-gw0"], BEFORE_ALL) as follower:
        server.stop()
        wait_for(lambda: follower.error() is not None, FAST_S, "the follower's error")
