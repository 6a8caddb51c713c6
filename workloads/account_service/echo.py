"""The application: routes, synthetic account data, and the echo every response carries.

Pure functions over plain values, shared by the HTTP/1.1 and TLS servers; the gRPC
servicer builds the same echo from its call context. The access log (one JSON line per
request on stdout) is the server-side record a test or `kubectl logs` reads to prove a
request did or did not reach the application.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import urlsplit

PROBE_ID_HEADER = "X-Probe-Id"
BODY_ECHO_LIMIT = 4096


def served_by() -> str:
    """The pod name (Downward API env POD_NAME) or, off-cluster, the host name."""
    return os.environ.get("POD_NAME") or socket.gethostname()


def account(account_id: str) -> dict[str, Any]:
    """A deterministic synthetic account, so any id answers and tests need no fixtures."""
    digest = sum(ord(c) for c in account_id)
    return {"id": account_id, "owner": f"owner-{account_id}", "balance_cents": 10_000 + digest}


ACCOUNT_IDS = ("acc-1", "acc-2", "acc-3")


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # path with query, as received
    headers: Mapping[str, str]
    body: bytes
    client: str  # "ip:port" of the peer the app saw
    protocol: str  # "http" or "https"


Handler = Callable[[Request, dict[str, str]], dict[str, Any]]


def _list_accounts(_req: Request, _params: dict[str, str]) -> dict[str, Any]:
    return {"accounts": [account(i) for i in ACCOUNT_IDS]}


def _get_account(_req: Request, params: dict[str, str]) -> dict[str, Any]:
    return {"account": account(params["id"])}


def _delete_account(_req: Request, params: dict[str, str]) -> dict[str, Any]:
    return {"deleted": True, "id": params["id"]}


def _amount(body: bytes) -> int:
    try:
        value = json.loads(body or b"{}").get("amount_cents", 0)
    except (ValueError, AttributeError):
        return 0
    return value if isinstance(value, int) else 0


def _withdraw(req: Request, params: dict[str, str]) -> dict[str, Any]:
    return {"withdrawal_id": f"wd-{params['id']}", "account_id": params["id"],
            "amount_cents": _amount(req.body)}


def _transfer(req: Request, _params: dict[str, str]) -> dict[str, Any]:
    return {"transfer_id": "tr-1", "amount_cents": _amount(req.body)}


def _healthz(_req: Request, _params: dict[str, str]) -> dict[str, Any]:
    return {"status": "ok"}


# (method, path pattern, route name, handler); patterns match the path without the query.
ROUTES: tuple[tuple[str, re.Pattern[str], str, Handler], ...] = (
    ("GET", re.compile(r"/api/v1/accounts"), "GET /api/v1/accounts", _list_accounts),
    ("GET", re.compile(r"/api/v1/accounts/(?P<id>[^/]+)"), "GET /api/v1/accounts/{id}",
     _get_account),
    ("DELETE", re.compile(r"/api/v1/accounts/(?P<id>[^/]+)"), "DELETE /api/v1/accounts/{id}",
     _delete_account),
    ("POST", re.compile(r"/api/v1/accounts/(?P<id>[^/]+)/withdraw"),
     "POST /api/v1/accounts/{id}/withdraw", _withdraw),
    ("POST", re.compile(r"/internal/v1/transfer"), "POST /internal/v1/transfer", _transfer),
    ("GET", re.compile(r"/healthz"), "GET /healthz", _healthz),
)


def header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


STANDIN_ROUTE = "standin"  # --role standin: the route name of every request


def handle(req: Request, standin: bool = False) -> tuple[int, dict[str, Any]]:
    """Route one request; every answer, 404 and 405 included, carries the echo. A
    stand-in (own-policies runs) answers every method and path with 200."""
    path = urlsplit(req.target).path or "/"
    status, route, data = 404, None, {"error": f"no route for {path}"}
    if standin:
        status, route, data = 200, STANDIN_ROUTE, {}
    path_matched = False
    for method, pattern, name, fn in () if standin else ROUTES:
        match = pattern.fullmatch(path)
        if match is None:
            continue
        path_matched = True
        if method == req.method:
            status, route, data = 200, name, fn(req, match.groupdict())
            break
    if status == 404 and path_matched:
        status, data = 405, {"error": f"method {req.method} not allowed on {path}"}
    body_text = req.body[:BODY_ECHO_LIMIT].decode("utf-8", "replace")
    return status, {
        "route": route,
        "method": req.method,
        "path": req.target,
        "headers": dict(req.headers),
        "body": body_text,
        "probe_id": header(req.headers, PROBE_ID_HEADER),
        "served_by": served_by(),
        "client": req.client,
        "protocol": req.protocol,
        "data": data,
    }


class AccessLog:
    """One JSON object per line; a lock keeps lines whole across server threads."""

    def __init__(self, stream: TextIO | None = None, enabled: bool = True) -> None:
        self._stream = stream or sys.stdout
        self._enabled = enabled
        self._lock = threading.Lock()

    def write(self, **fields: Any) -> None:
        if not self._enabled:
            return
        line = json.dumps(fields, sort_keys=True)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()
