"""The wire contract of `api.AccountService`: one table of methods, used by the server and
by test clients. Written out instead of generated so the `/api.AccountService/<Method>`
paths that Cilium's L7 rules match are plain to see (only messages come from protoc)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from workloads.proto import account_pb2 as pb

SERVICE = "api.AccountService"

# Method name -> (request message, reply message).
METHODS: dict[str, tuple[Any, Any]] = {
    "GetAccount": (pb.GetAccountRequest, pb.AccountReply),
    "ListAccounts": (pb.ListAccountsRequest, pb.ListAccountsReply),
    "DeleteAccount": (pb.DeleteAccountRequest, pb.DeleteAccountReply),
    "CreateWithdrawal": (pb.CreateWithdrawalRequest, pb.WithdrawalReply),
}


def path(method: str) -> str:
    """The HTTP/2 :path of a call, what an L7 `path` rule sees."""
    return f"/{SERVICE}/{method}"


def generic_handler(servicer: object) -> grpc.GenericRpcHandler:
    """Route every method in METHODS to the servicer's method of the same name."""
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, name),
            request_deserializer=request.FromString,
            response_serializer=reply.SerializeToString,
        )
        for name, (request, reply) in METHODS.items()
    }
    return grpc.method_handlers_generic_handler(SERVICE, handlers)


class AccountServiceStub:
    """Client side: `stub.GetAccount(request, metadata=..., timeout=...)` and so on."""

    def __init__(self, channel: grpc.Channel) -> None:
        self._calls: dict[str, Callable[..., Any]] = {
            name: channel.unary_unary(path(name),
                                      request_serializer=request.SerializeToString,
                                      response_deserializer=reply.FromString)
            for name, (request, reply) in METHODS.items()
        }

    def __getattr__(self, name: str) -> Callable[..., Any]:
        try:
            return self._calls[name]
        except KeyError:
            raise AttributeError(f"{SERVICE} has no method {name}") from None
