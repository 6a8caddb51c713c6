"""`pods/exec` in the emulated cluster: the commands the suite runs, over the channel protocol.

The stream protocol is the API server's (`apimachinery/pkg/util/httpstream/wsstream/
conn.go`): binary frames `[channel] + data`; 0 stdin, 1 stdout, 2 stderr, 3 the final
`Status` (kubelet `cri/streaming/remotecommand/websocket.go`). Only v5 has the close
frame `[255, channel]` that ends stdin (KEP-4006); on v4 the command sees no EOF and
waits, like a real `prober run` would, until the client gives up.

Commands: `prober run` (directly or as `sh -c 'head -c N | prober run'`) and `prober
watch` (watch_exec.py) in the probe pods, and `cilium-dbg policy get -o json` /
`cilium-dbg endpoint list -o json` in the agents' `cilium-agent` container; anything
else fails as a missing executable.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import traceback
from typing import Any

from clusters.emulated.controlplane import ControlPlane
from clusters.emulated.objects import ApiStatus
from clusters.emulated.stdin import read_stdin
from clusters.emulated.watch_exec import run_watch
from clusters.emulated.ws import WebSocket

STDOUT, STDERR, STATUS = 1, 2, 3
MAX_STDIN = 64 * 1024 * 1024
AGENT_CONTAINER = "cilium-agent"
POLICY_GET = ["cilium-dbg", "policy", "get", "-o", "json"]
ENDPOINT_LIST = ["cilium-dbg", "endpoint", "list", "-o", "json"]
_COUNTED = re.compile(r"head -c (\d+) \| prober run")
SUCCESS = {"metadata": {}, "status": "Success"}
WATCH_ARGV = ["prober", "watch"]


def exit_status(argv: list[str], code: int) -> dict[str, Any]:
    """The Status of a command that exited non-zero (kubelet remotecommand
    `exec.CodeExitError` -> NonZeroExitCode with an ExitCode cause)."""
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing "
                       f"command [{' '.join(argv)}], exit code {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def _finish(ws: WebSocket, stdout: str, stderr: str, state: dict[str, Any]) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        if stdout:
            ws.send(bytes([STDOUT]) + stdout.encode())
        if stderr:
            ws.send(bytes([STDERR]) + stderr.encode())
        ws.send(bytes([STATUS]) + json.dumps(state).encode())
        ws.close()


def _read_stdin(ws: WebSocket, count: int | None) -> bytes | None:
    """Stdin until `count` bytes, or the v5 close of channel 0; None when the client went
    away first (nothing to answer to)."""
    data = read_stdin(ws, lambda d: count is not None and len(d) >= count, MAX_STDIN)
    return data if data is None or count is None else data[:count]


def run_exec(plane: ControlPlane, ws: WebSocket, namespace: str, pod: str,
             query: dict[str, list[str]]) -> None:
    try:
        _run(plane, ws, namespace, pod, query)
    except Exception as err:  # an emulator bug: the command fails with the reason
        traceback.print_exc(file=sys.stderr)
        _finish(ws, "", "", {"metadata": {}, "status": "Failure", "reason": "InternalError",
                             "message": f"emulator: {err!r}", "code": 500})


def _run(plane: ControlPlane, ws: WebSocket, namespace: str, pod: str,
         query: dict[str, list[str]]) -> None:
    argv = query.get("command") or []
    container = (query.get("container") or [""])[0]
    node = plane.agent_node(pod) if namespace == "kube-system" else None
    if node is not None:
        if container and container != AGENT_CONTAINER:
            _finish(ws, "", "", {"metadata": {}, "status": "Failure", "reason": "BadRequest",
                                 "message": f'container not found ("{container}")',
                                 "code": 400})
        elif plane.hooks.agent_api_down and argv[:1] == ["cilium-dbg"]:
            # The agent's API socket is gone: cilium-dbg's Fatalf (cilium-dbg/cmd/
            # policy_get.go, endpoint_list.go) prints the client error and exits 1.
            _finish(ws, "", "Error: Cannot get policy: Get \"http://localhost/v1/policy\": "
                    "dial unix /var/run/cilium/cilium.sock: connect: connection refused\n",
                    exit_status(argv, 1))
        elif argv == POLICY_GET:
            _finish(ws, plane.policy_get(node) + "\n", "", SUCCESS)
        elif argv == ENDPOINT_LIST:
            _finish(ws, plane.endpoint_list(node) + "\n", "", SUCCESS)
        else:
            _missing(ws, argv)
        return
    if argv == WATCH_ARGV:
        run_watch(plane, ws, namespace, pod, argv,
                  lambda w, err, code: _finish(w, "", err, exit_status(argv, code)))
        return
    counted = _COUNTED.fullmatch(argv[2]) if argv[:2] == ["sh", "-c"] and len(argv) == 3 \
        else None
    if argv != ["prober", "run"] and counted is None:
        _missing(ws, argv)
        return
    stdin = _read_stdin(ws, int(counted.group(1)) if counted else None)
    if stdin is None:
        ws.close()
        return
    _prober(plane, ws, namespace, pod, argv, stdin)


def _prober(plane: ControlPlane, ws: WebSocket, namespace: str, pod: str, argv: list[str],
            stdin: bytes) -> None:
    try:
        probes = json.loads(stdin)
    except ValueError as err:
        _finish(ws, "", f"prober: stdin is not JSON: {err}\n", exit_status(argv, 2))
        return
    if not isinstance(probes, list):
        _finish(ws, "", "prober: stdin is not a JSON array\n", exit_status(argv, 2))
        return
    try:
        results = plane.run_probes(namespace, pod, probes)
    except ApiStatus as err:
        _finish(ws, "", f"{err.body.get('message')}\n", exit_status(argv, 1))
        return
    answer = plane.hooks.prober_answer
    if answer == "garbage":
        # Not the prober's JSON answer (a different program on PATH, a banner): exit 0.
        _finish(ws, "zt-prober 0.0 ready\n", "", SUCCESS)
        return
    if answer == "short":
        results = results[:-1]  # one answer missing (a prober of another version)
    if answer == "dies":
        ws.close(1011)  # the connection drops: no output, no status
        return
    _finish(ws, json.dumps(results) + "\n", "", SUCCESS)


def _missing(ws: WebSocket, argv: list[str]) -> None:
    """What containerd answers for an executable that is not there (shaped like it)."""
    name = argv[0] if argv else ""
    _finish(ws, "", "", {"metadata": {}, "status": "Failure", "reason": "InternalError",
                         "message": f'OCI runtime exec failed: exec failed: unable to start '
                                    f'container process: exec: "{name}": executable file '
                                    "not found in $PATH: unknown", "code": 500})
