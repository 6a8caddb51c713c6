"""Start the real account-service for a test and read its access log (the server-side
record of which requests reached the application)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.ports import free_ports
from tests.support.process import Process, running

START_TIMEOUT_S = 30.0


@dataclass
class AccountService:
    proc: Process
    http_port: int
    grpc_port: int | None
    tls_port: int | None

    def log_events(self) -> list[dict[str, Any]]:
        events = []
        for line in self.proc.log().splitlines():
            if line.startswith("{"):
                events.append(json.loads(line))
        return events

    def requests(self) -> list[dict[str, Any]]:
        return [e for e in self.log_events() if e.get("event") == "request"]

    def probe_ids(self) -> set[str]:
        return {str(e["probe_id"]) for e in self.requests() if e.get("probe_id") is not None}


def _listening(proc: Process) -> bool:
    return '"event": "listening"' in proc.log()


@contextmanager
def account_service(log_dir: Path, role: str = "service", bind: str = "127.0.0.1",
                    wrap: Sequence[str] = (), env: dict[str, str] | None = None,
                    ports: tuple[int, int] | None = None) -> Iterator[AccountService]:
    """account-service on free ports (HTTP + gRPC, or HTTP + TLS for role external)."""
    http_port, second = ports or tuple(free_ports(2))
    cmd = [*wrap, sys.executable, "-m", "workloads.account_service", "--role", role,
           "--bind", bind, "--http-port", str(http_port)]
    grpc_port = tls_port = None
    if role == "external":
        cmd += ["--tls-port", str(second)]
        tls_port = second
    else:
        cmd += ["--grpc-port", str(second)]
        grpc_port = second
    log_path = log_dir / f"account-service-{role}-{http_port}.log"
    with running(cmd, log_path, _listening, START_TIMEOUT_S, env) as proc:
        yield AccountService(proc, http_port, grpc_port, tls_port)

