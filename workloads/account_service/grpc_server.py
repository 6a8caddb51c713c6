"""gRPC front of account-service: api.AccountService plus the standard health service."""

from __future__ import annotations

import json
from concurrent import futures

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from workloads.account_service.echo import ACCOUNT_IDS, AccessLog, account, served_by
from workloads.proto import account_pb2 as pb
from workloads.proto import rpc

SERVICE = rpc.SERVICE
GRPC_WORKERS = 16
PROBE_ID_METADATA = "x-probe-id"


def peer_address(peer: str) -> str:
    """grpc's 'ipv4:1.2.3.4:5' / 'ipv6:[::1]:5' -> '1.2.3.4:5' / '[::1]:5'."""
    for prefix in ("ipv4:", "ipv6:"):
        if peer.startswith(prefix):
            return peer[len(prefix):]
    return peer


class AccountService:
    def __init__(self, access_log: AccessLog) -> None:
        self._log = access_log

    def _echo(self, method: str, request: Message, context: grpc.ServicerContext) -> pb.Echo:
        metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        echo = pb.Echo(
            method="POST", path=f"/{SERVICE}/{method}", metadata=metadata,
            served_by=served_by(), peer=peer_address(context.peer()),
            request_json=json.dumps(json_format.MessageToDict(request), sort_keys=True),
        )
        self._log.write(event="request", protocol="grpc", method="POST", path=echo.path,
                        status="OK", probe_id=metadata.get(PROBE_ID_METADATA),
                        client=echo.peer, served_by=echo.served_by)
        return echo

    def GetAccount(self, request: pb.GetAccountRequest,
                   context: grpc.ServicerContext) -> pb.AccountReply:
        return pb.AccountReply(account=pb.Account(**account(request.id or "acc-1")),
                               echo=self._echo("GetAccount", request, context))

    def ListAccounts(self, request: pb.ListAccountsRequest,
                     context: grpc.ServicerContext) -> pb.ListAccountsReply:
        return pb.ListAccountsReply(accounts=[pb.Account(**account(i)) for i in ACCOUNT_IDS],
                                    echo=self._echo("ListAccounts", request, context))

    def DeleteAccount(self, request: pb.DeleteAccountRequest,
                      context: grpc.ServicerContext) -> pb.DeleteAccountReply:
        return pb.DeleteAccountReply(deleted=True,
                                     echo=self._echo("DeleteAccount", request, context))

    def CreateWithdrawal(self, request: pb.CreateWithdrawalRequest,
                         context: grpc.ServicerContext) -> pb.WithdrawalReply:
        return pb.WithdrawalReply(withdrawal_id=f"wd-{request.account_id}",
                                  amount_cents=request.amount_cents,
                                  echo=self._echo("CreateWithdrawal", request, context))


class StandinHandler:
    """--role standin: every unary method of every service answers OK with an empty
    message (with no serializers grpc passes bytes through), logged like AccountService."""

    def __init__(self, access_log: AccessLog) -> None:
        self._log = access_log

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        """A generic handler as grpc's server checks them: an object with `service`."""
        path = str(details.method)

        def answer(_request: bytes, context: grpc.ServicerContext) -> bytes:
            metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
            self._log.write(event="request", protocol="grpc", method="POST", path=path,
                            status="OK", probe_id=metadata.get(PROBE_ID_METADATA),
                            client=peer_address(context.peer()), served_by=served_by())
            return b""

        return grpc.unary_unary_rpc_method_handler(answer)


def make_server(bind: str, port: int, access_log: AccessLog,
                max_calls: int | None = None, standin: bool = False
                ) -> tuple[grpc.Server, int]:
    """Bind (errors surface now) and return the server, not yet started, with its port.
    Past max_calls RPCs in flight grpc answers RESOURCE_EXHAUSTED instead of queueing
    (grpcio, grpc/__init__.py server(): maximum_concurrent_rpcs)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=GRPC_WORKERS),
                         options=[("grpc.so_reuseport", 0)], maximum_concurrent_rpcs=max_calls)
    handler = StandinHandler(access_log) if standin else rpc.generic_handler(
        AccountService(access_log))
    server.add_generic_rpc_handlers((handler,))
    health_servicer = health.HealthServicer()
    for name in ("", SERVICE):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    return server, add_port(server, bind, port)


def add_port(server: grpc.Server, bind: str, port: int) -> int:
    """Listen on one more port (before start); the bound port; OSError when it cannot."""
    host = f"[{bind}]" if ":" in bind else bind
    bound: int = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot listen on {host}:{port}")
    return bound

