"""account-service: the probe target. One process, HTTP/1.1 + gRPC (service role) or plain
HTTP + TLS with a self-signed certificate (external role, the off-cluster "internet").

    account-service [--role service] [--http-port 8080] [--grpc-port 9090]
    account-service --role external [--http-port 80] [--tls-port 443] [--tls-name NAME ...]

Logs one JSON line per request on stdout (disable with --no-access-log); stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import ssl
import sys
from collections.abc import Sequence
from typing import Any

from workloads.account_service.echo import AccessLog, served_by
from workloads.account_service.http_server import HttpFront

DEFAULT_PORTS = {"service": {"http": 8080, "grpc": 9090}, "external": {"http": 80, "tls": 443}}
GRPC_STOP_GRACE_S = 2.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="account-service", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", choices=sorted(DEFAULT_PORTS), default="service")
    parser.add_argument("--bind", default="0.0.0.0", help="address to listen on")
    parser.add_argument("--http-port", type=int, help="plain HTTP port (8080; external 80)")
    parser.add_argument("--grpc-port", type=int,
                        help="gRPC port (service role 9090; external role: off unless given)")
    parser.add_argument("--tls-port", type=int, help="TLS port (external role, default 443)")
    parser.add_argument("--tls-name", action="append", default=[],
                        help="DNS name or IP for the certificate (repeatable)")
    parser.add_argument("--no-access-log", action="store_true",
                        help="do not print a JSON line per request")
    return parser


def _port(value: int | None, default: int | None, flag: str) -> int | None:
    port = default if value is None else value
    if port is not None and not 0 <= port <= 65535:
        raise ValueError(f"{flag}: {port} is not a TCP port (0-65535)")
    return port


async def _serve(args: argparse.Namespace) -> int:
    defaults = DEFAULT_PORTS[args.role]
    log = AccessLog(enabled=not args.no_access_log)
    servers: list[asyncio.Server] = []
    grpc_srv: Any = None
    listening: dict[str, int] = {}
    try:
        http_port = _port(args.http_port, defaults.get("http"), "--http-port")
        grpc_port = _port(args.grpc_port, defaults.get("grpc"), "--grpc-port")
        tls_port = _port(args.tls_port, defaults.get("tls"), "--tls-port")
        fronts: list[tuple[str, int, ssl.SSLContext | None]] = []
        if http_port is not None:
            fronts.append(("http", http_port, None))
        if tls_port is not None:
            from workloads.account_service.tls import server_context

            names = [*args.tls_name, served_by(), "localhost", "127.0.0.1"]
            ctx, _ = server_context(list(dict.fromkeys(names)))
            fronts.append(("tls", tls_port, ctx))
        for name, port, tls in fronts:
            server = await HttpFront(log, tls).start(args.bind, port)
            servers.append(server)
            listening[name] = server.sockets[0].getsockname()[1]
        if grpc_port is not None:
            from workloads.account_service import grpc_server

            grpc_srv, listening["grpc"] = grpc_server.make_server(args.bind, grpc_port, log)
            grpc_srv.start()
    except (OSError, ValueError) as exc:
        print(f"account-service: cannot start ({args.role} role on {args.bind}): {exc}",
              file=sys.stderr)
        await _stop(servers, grpc_srv)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.write(event="listening", role=args.role, served_by=served_by(),
              host=socket.gethostname(), **listening)
    await stop.wait()
    await _stop(servers, grpc_srv)
    return 0


async def _stop(servers: list[asyncio.Server], grpc_srv: Any) -> None:
    for server in servers:
        server.close()
    if grpc_srv is not None:
        await asyncio.to_thread(lambda: grpc_srv.stop(GRPC_STOP_GRACE_S).wait())


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return asyncio.run(_serve(args))


if __name__ == "__main__":
    sys.exit(main())
