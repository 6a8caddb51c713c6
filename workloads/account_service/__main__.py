"""account-service: the probe target. One process, HTTP/1.1 + gRPC (service role) or plain
HTTP + TLS with a self-signed certificate (external role, the off-cluster "internet"). Any
role also serves HTTP over TLS on --tls-port (the manifests give the service role 8443, the
target of TLS SNI probes) and logs each TLS handshake with the SNI the client sent.

    account-service [--role service] [--http-port 8080] [--grpc-port 9090] [--tls-port P]
    account-service --role external [--http-port 80] [--tls-port 443] [--tls-name NAME ...]
    account-service --role standin [--http-port P[,P...]] [--grpc-port P[,P...]]

The stand-in (own-policies runs) answers every method and path with 200 and its echo, and
every gRPC method with OK and an empty message.

Logs one JSON line per request on stdout (disable with --no-access-log); stops on SIGTERM.
Exit status: 0 stopped by SIGTERM/SIGINT, 1 (EXIT_CANNOT_START) cannot start, e.g. port in
use, 2 (EXIT_USAGE) bad option, 130 interrupted while starting; each error is one line on
stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import re
import signal
import socket
import ssl
import sys
from collections.abc import Sequence
from typing import Any

from workloads.account_service.echo import AccessLog, served_by
from workloads.account_service.http_server import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_REQUEST_TIMEOUT_S,
    HttpFront,
    Limits,
)
from workloads.cli import OneLineParser, int_in, seconds_in

DEFAULT_PORTS: dict[str, dict[str, int]] = {
    "service": {"http": 8080, "grpc": 9090}, "external": {"http": 80, "tls": 443},
    # own-policies stand-in: answers every path and gRPC method on the ports it is given
    "standin": {}}
GRPC_STOP_GRACE_S = 2.0
EXIT_CANNOT_START = 1
EXIT_INTERRUPTED = 130
MAX_CONNECTIONS_LIMIT = 65536
MAX_REQUEST_TIMEOUT_S = 300.0
PORT = int_in(0, 65535, "a TCP port")
MAX_PORTS = 64  # ports one process listens on (--http-port/--grpc-port lists)


def _ports(text: str) -> list[int]:
    """An argparse type: a port or a comma-separated list of distinct ports (0, any free
    port, may repeat)."""
    ports = [PORT(p) for p in text.split(",")]
    chosen = [p for p in ports if p]
    if len(set(chosen)) != len(chosen) or len(ports) > MAX_PORTS:
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r}: give at most {MAX_PORTS} distinct ports, comma-separated")
    return ports
CONNECTIONS = int_in(1, MAX_CONNECTIONS_LIMIT, "a connection count")
# A certificate name: an IP literal or an ASCII DNS name (what x509 DNSName accepts).
DNS_NAME = re.compile(r"(?=.{1,253}$)(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+")


def _tls_name(text: str) -> str:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        if not DNS_NAME.fullmatch(text):
            raise argparse.ArgumentTypeError(
                f"{text[:40]!r} is not an IP address or ASCII DNS name") from None
    return text


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="account-service", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", choices=sorted(DEFAULT_PORTS), default="service")
    parser.add_argument("--bind", default="0.0.0.0", help="address to listen on")
    parser.add_argument("--http-port", type=_ports,
                        help="plain HTTP port(s), comma-separated (8080; external 80; 0: any "
                             "free port; standin: none unless given)")
    parser.add_argument("--grpc-port", type=_ports,
                        help="gRPC port(s), comma-separated (service role 9090; external and "
                             "standin roles: off unless given)")
    parser.add_argument("--tls-port", type=PORT,
                        help="HTTP-over-TLS port (external role default 443; other roles: off "
                             "unless given)")
    parser.add_argument("--tls-name", action="append", default=[], type=_tls_name,
                        help="DNS name or IP for the certificate (repeatable)")
    parser.add_argument("--max-connections", type=CONNECTIONS,
                        default=DEFAULT_MAX_CONNECTIONS,
                        help=f"HTTP connections open at once per port; past it a new one gets "
                             f"503 and is closed; also the cap on gRPC calls in flight "
                             f"(1-{MAX_CONNECTIONS_LIMIT}, default {DEFAULT_MAX_CONNECTIONS})")
    parser.add_argument("--request-timeout", type=seconds_in(MAX_REQUEST_TIMEOUT_S),
                        default=DEFAULT_REQUEST_TIMEOUT_S,
                        help=f"seconds from a request's first byte to its last (head and "
                             f"body); later: 408 and close (default "
                             f"{DEFAULT_REQUEST_TIMEOUT_S:g}, at most "
                             f"{MAX_REQUEST_TIMEOUT_S:g})")
    parser.add_argument("--no-access-log", action="store_true",
                        help="do not print a JSON line per request")
    return parser


def _log_handshake(log: AccessLog) -> Any:
    """An SSLContext sni_callback: one `tls-handshake` line per ClientHello that reaches
    the application, with the SNI it carried ("" for none)."""

    def callback(sslobj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        log.write(event="tls-handshake", sni=name or "", served_by=served_by())

    return callback


def _pick(value: list[int] | int | None, default: int | None) -> list[int]:
    if value is None:
        return [] if default is None else [default]
    return value if isinstance(value, list) else [value]


async def _serve(args: argparse.Namespace) -> int:
    defaults = DEFAULT_PORTS[args.role]
    log = AccessLog(enabled=not args.no_access_log)
    servers: list[asyncio.Server] = []
    grpc_srv: Any = None
    listening: dict[str, int] = {}
    limits = Limits(max_connections=args.max_connections, request_timeout=args.request_timeout)
    try:
        http_ports = _pick(args.http_port, defaults.get("http"))
        grpc_ports = _pick(args.grpc_port, defaults.get("grpc"))
        tls_ports = _pick(args.tls_port, defaults.get("tls"))
        standin = args.role == "standin"
        fronts: list[tuple[str, int, ssl.SSLContext | None]] = [
            ("http" if n == 0 else f"http_{n}", port, None)
            for n, port in enumerate(http_ports)]
        for tls_port in tls_ports:
            from workloads.account_service.tls import server_context

            names = [*args.tls_name, served_by(), "localhost", "127.0.0.1"]
            ctx, _ = server_context(list(dict.fromkeys(names)))
            ctx.sni_callback = _log_handshake(log)
            fronts.append(("tls", tls_port, ctx))
        for name, port, tls in fronts:
            server = await HttpFront(log, tls, limits, standin).start(args.bind, port)
            servers.append(server)
            listening[name] = server.sockets[0].getsockname()[1]
        if grpc_ports:
            from workloads.account_service import grpc_server

            grpc_srv, listening["grpc"] = grpc_server.make_server(
                args.bind, grpc_ports[0], log, args.max_connections, standin)
            for n, port in enumerate(grpc_ports[1:], start=1):  # one server, more ports
                listening[f"grpc_{n}"] = grpc_server.add_port(grpc_srv, args.bind, port)
            grpc_srv.start()
    except (OSError, ValueError) as exc:
        print(f"account-service: cannot start ({args.role} role on {args.bind}): {exc}",
              file=sys.stderr)
        await _stop(servers, grpc_srv)
        return EXIT_CANNOT_START
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
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:  # Ctrl-C before the signal handlers are in place
        print("account-service: interrupted while starting", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
