"""`python -m clusters.emulated --kubeconfig PATH [--fault F] [--cilium-version V]`: serve
until SIGTERM/SIGINT; prints one READY line with the API server's URL once it answers.

The kubeconfig it writes is client-go's `v1.Config` (`tools/clientcmd/api/v1/types.go`:
clusters, users, contexts, current-context), which the kubernetes Python client reads
(`kubernetes/config/kube_config.py`). Hubble Relay is served on its own gRPC port and
reached through pods/portforward to the relay pod's 4245 (chart `hubble-relay`
listenPort), as on a real cluster.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from clusters.emulated import faults, validation
from clusters.emulated.apiserver import ApiServer
from clusters.emulated.controlplane import ControlPlane
from clusters.emulated.relay import FlowLog, RelayServer
from clusters.emulated.rollout import AGENT_RESTART_S
from clusters.emulated.world import NODES

READY = "READY"
CONTEXT = "zt-emulated"
DIAL_TIMEOUT_S = 5.0
PARENT_POLL_S = 1.0
MAX_AGENT_RESTART_S = 600.0


def kubeconfig_text(url: str) -> str:
    return (f"apiVersion: v1\nkind: Config\nclusters:\n- name: {CONTEXT}\n  cluster:\n"
            f"    server: {url}\nusers:\n- name: {CONTEXT}\n  user: {{}}\ncontexts:\n"
            f"- name: {CONTEXT}\n  context:\n    cluster: {CONTEXT}\n    user: {CONTEXT}\n"
            f"current-context: {CONTEXT}\n")


class DroppingLog:
    """relay-drop: the relay ends every stream when its first flow is due; none arrives."""

    def __init__(self, log: FlowLog, drop: Callable[[], None]) -> None:
        self._log, self._drop = log, drop

    def read(self, cursor: int, timeout: float) -> tuple[int, list[dict[str, Any]]]:
        new_cursor, flows = self._log.read(cursor, timeout)
        if flows:
            self._drop()
            return cursor, []
        return new_cursor, flows


def _watch_parent(pid: int, stop: threading.Event) -> None:
    while not stop.wait(PARENT_POLL_S):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            stop.set()
        except PermissionError:
            pass  # alive, owned by someone else


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clusters.emulated")
    parser.add_argument("--kubeconfig", required=True, help="where to write the kubeconfig")
    parser.add_argument("--fault", default=None, help=f"one of {', '.join(faults.FAULTS)}")
    parser.add_argument("--cilium-version", default=validation.default_version(),
                        help=f"one of {', '.join(validation.versions())} "
                             f"(default {validation.default_version()})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--agent-restart-s", type=float, default=AGENT_RESTART_S,
                        help="seconds each agent restarts for in a rolling upgrade started "
                             f"through the API (default {AGENT_RESTART_S:g})")
    parser.add_argument("--parent-pid", type=int, default=None,
                        help="stop when this process is gone")
    args = parser.parse_args(argv)
    try:
        if not 0 < args.agent_restart_s <= MAX_AGENT_RESTART_S:
            raise ValueError(f"--agent-restart-s must be in (0, {MAX_AGENT_RESTART_S:g}], "
                             f"got {args.agent_restart_s:g}")
        plane = ControlPlane(args.cilium_version, args.fault, args.seed,
                             agent_restart_s=args.agent_restart_s)
    except (ValueError, faults.UnknownFault) as err:
        print(f"emulated cluster: {err}", file=sys.stderr)
        return 2
    relay = RelayServer(DroppingLog(plane.flows, lambda: relay.drop_streams())
                        if plane.hooks.relay_drops_streams else plane.flows, nodes=NODES)

    def dial(port: int) -> socket.socket:
        return socket.create_connection(("127.0.0.1", relay.port), timeout=DIAL_TIMEOUT_S)

    server = ApiServer(plane, dial)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    thread = threading.Thread(target=server.serve_forever, name="apiserver", daemon=True)
    thread.start()
    if args.parent_pid:
        threading.Thread(target=_watch_parent, args=(args.parent_pid, stop), daemon=True,
                         name="parent-watch").start()
    try:
        Path(args.kubeconfig).write_text(kubeconfig_text(server.url))
        print(f"{READY} {server.url}", flush=True)
        stop.wait()
    finally:
        server.stop()
        relay.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
