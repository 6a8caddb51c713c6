"""`prober watch` in the emulated cluster's probe pods, over the exec channel protocol.

The same contract as the real command (workloads/prober/watch.py, whose spec parser and
outcome classification are used here): the spec is stdin's first line, one JSON line per
event goes out on the stdout channel as it happens, `stop` on stdin ends it (v4 and v5
alike: nothing waits for stdin's close), else the spec's max duration.

Each sample is one probe through the plane's datapath (ControlPlane.run_probes, which
also records its flows), then what the rolling agent upgrade makes of it
(rollout.AgentRollout.overlay: the DNS proxy down with a restarting agent, fault
`upgrade-fail-open`). A stream is opened if the policy lets its first connection through,
and is reset when the rollout resets established connections between its nodes (fault
`upgrade-conn-drop`, AgentRollout.reset_at). Simpler than the real thing, and said here:
until the rollout ends every pair is decided by the old release (the watched paths are
checked to be the same at both releases: conformance/upgrade/run.py check_watch).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from typing import Any, cast

from clusters.emulated.controlplane import ControlPlane
from clusters.emulated.objects import ApiStatus
from clusters.emulated.rollout import Outcome
from clusters.emulated.stdin import read_stdin
from clusters.emulated.ws import WebSocket
from workloads.prober.streams import StreamSpec
from workloads.prober.watch import STOP, WatchPlan, WatchSpecError, classify, parse_plan

STDOUT, STATUS = 1, 3
MAX_SPEC_BYTES = 1 << 20
SUCCESS = {"metadata": {}, "status": "Success"}


def _first_line(ws: WebSocket) -> tuple[bytes, bytes] | None:
    """(the spec line, what followed it); None when the client left first."""
    data = read_stdin(ws, lambda d: b"\n" in d, MAX_SPEC_BYTES)
    if data is None:
        return None
    line, _, rest = data.partition(b"\n")
    return line, rest


def _commands(ws: WebSocket, rest: bytes, stop: threading.Event) -> None:
    """Stdin after the spec: `stop`, the end of stdin (v5 close) or the client going away
    ends the watch, as in workloads/prober/watch.py `_stdin_commands`."""
    def stopped(data: bytes) -> bool:
        return any(line.strip() == STOP.encode() for line in (rest + data).split(b"\n")[:-1])

    try:
        read_stdin(ws, stopped, MAX_SPEC_BYTES)
    except (ConnectionError, OSError):
        pass  # the client went away
    finally:
        stop.set()


def run_watch(plane: ControlPlane, ws: WebSocket, namespace: str, pod: str,
              argv: list[str], fail: Any) -> None:
    """`fail(ws, stderr, status)` ends the exec with an error (execs._finish)."""
    got = _first_line(ws)
    if got is None:
        ws.close()
        return
    try:
        plan = parse_plan(got[0].decode("utf-8", "replace"))
    except WatchSpecError as err:
        fail(ws, f"prober: {err}\n", 2)
        return
    with plane.lock:
        client = next((p for p in plane.world.pods.get(namespace, [])
                       if p.info.name == pod), None)
    if client is None:
        fail(ws, f'pods "{pod}" not found\n', 1)
        return
    stop = threading.Event()
    threading.Thread(target=_commands, args=(ws, got[1], stop), daemon=True,
                     name=f"watch-stdin-{pod}").start()
    Watch(plane, ws, namespace, pod, client.info.node, plan, stop).run()


class Watch:
    def __init__(self, plane: ControlPlane, ws: WebSocket, namespace: str, pod: str,
                 node: str, plan: WatchPlan, stop: threading.Event) -> None:
        self.plane, self.ws, self.namespace, self.pod = plane, ws, namespace, pod
        self.node, self.plan, self.stop = node, plan, stop
        self.counts: Counter[tuple[str, str]] = Counter()
        self.streams: dict[str, dict[str, float | None]] = {
            s.name: {"opened": None, "reset": None} for s in plan.streams}
        self.peers: dict[str, str | None] = {}

    def emit(self, event: dict[str, Any]) -> None:
        try:
            self.ws.send(bytes([STDOUT]) + (json.dumps(event) + "\n").encode())
        except (ConnectionError, OSError):
            self.stop.set()  # the client is gone: nobody reads the rest

    def run(self) -> None:
        for s in self.plan.streams:
            self._open(s)
        step = 1.0 / self.plan.rate_per_s
        start = time.monotonic()
        ends = start + self.plan.max_duration_s
        n = 0
        while not self.stop.is_set() and time.monotonic() < ends:
            for name, probe in self.plan.paths:
                self._sample(name, probe)
            self._check_streams()
            n += 1
            self.stop.wait(max(0.0, min(start + n * step, ends) - time.monotonic()))  # pace
        samples: dict[str, dict[str, int]] = {}
        for (name, outcome), k in sorted(self.counts.items()):
            samples.setdefault(name, {})[outcome] = k
        self.emit({"type": "summary", "reason": STOP if self.stop.is_set() else
                   "max-duration", "samples": samples, "streams": self.streams})
        with contextlib.suppress(ConnectionError, OSError):
            self.ws.send(bytes([STATUS]) + json.dumps(SUCCESS).encode())
            self.ws.close()
        self.stop.set()

    def _decide(self, probe: dict[str, Any]) -> tuple[str, str, list[str]]:
        """(outcome, detail, [client node, destination node]) of one new connection."""
        try:
            result = self.plane.run_probes(self.namespace, self.pod, [probe])[0]
        except ApiStatus as err:
            return "error", str(err.body.get("message")), [self.node]
        outcome, detail = classify(result)
        dns = probe.get("kind") == "dns"
        nodes = [self.node]
        remote = str(result.get("remote") or "").rsplit(":", 1)[0]
        dest = None if dns else self.plane.world.pod_by_ip(remote)
        if dest is not None:
            nodes.append(dest.info.node)
        with self.plane.lock:
            rollout = None if self.plane.rollout_done else self.plane.rollout
            if rollout is not None:
                now = self.plane.clock()
                after = rollout.overlay(cast(Outcome, outcome), dns, nodes, now)
                if after != outcome:
                    detail = (f"{detail}, then {after}: agent restarting on "
                              f"{', '.join(rollout.restarting(now)) or 'none'}")
                    outcome = after
        return outcome, detail, nodes

    def _sample(self, name: str, probe: dict[str, Any]) -> None:
        t = self.plane.wall()
        outcome, detail, _ = self._decide({**probe, "id": f"{name}-{t:.3f}"})
        self.counts[(name, outcome)] += 1
        self.emit({"type": "sample", "t": round(t, 3), "path": name, "outcome": outcome,
                   "detail": detail})

    def _open(self, s: StreamSpec) -> None:
        probe = {"kind": "tcp", "host": s.host, "port": s.port, "id": f"{s.name}-open"}
        outcome, detail, nodes = self._decide(probe)
        t = self.plane.wall()
        if outcome != "ok":
            self.streams[s.name]["reset"] = t
            self.emit({"type": "stream", "stream": s.name, "event": "reset", "t": t,
                       "detail": f"could not open: {detail}"})
            return
        self.peers[s.name] = nodes[1] if len(nodes) > 1 else None
        self.streams[s.name]["opened"] = t
        self.emit({"type": "stream", "stream": s.name, "event": "opened", "t": t})

    def _check_streams(self) -> None:
        for event in self._resets():
            self.emit(event)

    def _resets(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        with self.plane.lock:
            rollout = self.plane.rollout
            now = self.plane.clock()
            for name, state in self.streams.items():
                if state["opened"] is None or state["reset"] is not None or rollout is None:
                    continue
                peer = self.peers.get(name)
                at = rollout.reset_at([self.node] + ([peer] if peer else []))
                wall = None if at is None else self.plane.wall_at(at)
                if at is None or at > now or wall is None or wall < state["opened"]:
                    continue
                state["reset"] = wall
                out.append({"type": "stream", "stream": name, "event": "reset", "t": wall,
                            "detail": "connection reset (established connections were "
                                      "lost while an agent restarted)"})
        return out
