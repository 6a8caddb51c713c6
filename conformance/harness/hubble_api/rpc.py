"""The wire contract of `observer.Observer/GetFlows` (a server-streaming call), used by the
follower and by the emulated relay. Written out rather than generated, as in
workloads/proto/rpc.py, so the method path is plain to see."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc

from conformance.harness.hubble_api import observer_pb2

SERVICE = "observer.Observer"
GET_FLOWS = f"/{SERVICE}/GetFlows"

# (request, context) -> the stream of GetFlowsResponse messages.
GetFlowsHandler = Callable[[Any, grpc.ServicerContext], Iterator[Any]]


def get_flows_call(channel: grpc.Channel) -> grpc.UnaryStreamMultiCallable:
    """Client side: `call(request, timeout=...)` returns an iterator of responses that is
    also the call (`.cancel()`)."""
    return channel.unary_stream(
        GET_FLOWS,
        request_serializer=observer_pb2.GetFlowsRequest.SerializeToString,
        response_deserializer=observer_pb2.GetFlowsResponse.FromString)


def generic_handler(get_flows: GetFlowsHandler) -> grpc.GenericRpcHandler:
    """Server side: route GetFlows to `get_flows`; any other Observer method is
    UNIMPLEMENTED, as grpc answers for an unknown method."""
    handler = grpc.unary_stream_rpc_method_handler(
        get_flows,
        request_deserializer=observer_pb2.GetFlowsRequest.FromString,
        response_serializer=observer_pb2.GetFlowsResponse.SerializeToString)
    return grpc.method_handlers_generic_handler(SERVICE, {"GetFlows": handler})
