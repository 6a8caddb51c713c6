"""Start the real account-service for a test and read its access log (the server-side
record of which requests reached the application)."""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.process import Process, running

START_TIMEOUT_S = 30.0


@dataclass
class AccountService:
    proc: Process
    http_port: int
    grpc_port: int | None
    tls_port: int | None

    @property
    def pid(self) -> int:
        return int(self.proc.popen.pid)

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


def _listening(proc: Process) -> dict[str, Any] | None:
    """The server's `listening` event: the ports it actually bound."""
    for line in proc.log().splitlines():
        if line.startswith("{") and '"event": "listening"' in line:
            event: dict[str, Any] = json.loads(line)
            return event
    return None


@contextmanager
def account_service(log_dir: Path, role: str = "service", bind: str = "127.0.0.1",
                    wrap: Sequence[str] = (), env: dict[str, str] | None = None,
                    ports: tuple[int, int] | None = None,
                    args: Sequence[str] = ()) -> Iterator[AccountService]:
    """account-service (HTTP + gRPC, or HTTP + TLS for role external). Without `ports` the
    server binds port 0 and reports what it got: a port picked here and bound later could
    be taken by a parallel test in between. `args` are extra command-line options."""
    http_port, second = ports or (0, 0)
    second_flag = "--tls-port" if role == "external" else "--grpc-port"
    cmd = [*wrap, sys.executable, "-m", "workloads.account_service", "--role", role,
           "--bind", bind, "--http-port", str(http_port), second_flag, str(second), *args]
    with tempfile.NamedTemporaryFile(dir=log_dir, prefix=f"account-service-{role}-",
                                     suffix=".log", delete=False) as log_file:
        log_path = Path(log_file.name)
    with running(cmd, log_path, lambda p: _listening(p) is not None, START_TIMEOUT_S,
                 env) as proc:
        event = _listening(proc) or {}
        yield AccountService(proc, int(event["http"]), event.get("grpc"), event.get("tls"))

