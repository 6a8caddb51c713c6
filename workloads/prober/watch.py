"""`prober watch`: probe a fixed set of paths at a fixed rate, and hold long-lived
connections open, until told to stop; one JSON line per event on stdout as it happens.

Input: the first line of stdin is the watch spec (JSON object):
    {"rate_per_s": 10, "max_duration_s": 900, "timeout_s": 1,
     "paths": [{"name": "l7-allowed", "probe": {<one `prober run` probe object>}}, ...],
     "streams": [{"name": "tcp-stream", "kind": "tcp"|"grpc", "host": ..., "port": ...,
                  "method": "/api.AccountService/ListAccounts", "interval_s": 0.5,
                  "timeout_s": 2}, ...]}
Later lines are commands; `stop` ends the watch. Stdin's end is not relied on (an exec
over the v4 channel protocol never closes it), so the watch also ends at max_duration_s.

Output, each line flushed at once:
    {"type": "sample", "t": <epoch s the probe started>, "path": ..., "outcome":
     "ok"|"denied"|"error", "detail": <the prober outcome, e.g. timeout, http-403>}
    {"type": "stream", "stream": ..., "event": "opened"|"reset", "t": ..., "detail": ...}
    {"type": "summary", "reason": "stop"|"max-duration", "samples": {path: {outcome: n}},
     "streams": {name: {"opened": t|null, "reset": t|null}}}
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from workloads.prober.runner import run_one
from workloads.prober.streams import H2Stream, StreamSpec, keep, parse_stream, wait_stop

MAX_RATE_PER_S = 100.0
MAX_DURATION_S = 24 * 3600.0
DEFAULT_TIMEOUT_S = 1.0  # a probe slower than this is counted before the next few start
STOP = "stop"
EOF = "stdin-closed"  # the summary's reason when stdin ended (the runner is gone)
Emit = Callable[[dict[str, Any]], None]


class WatchSpecError(ValueError):
    """The watch spec is unusable; the message is the one stderr line."""


@dataclass(frozen=True)
class WatchPlan:
    rate_per_s: float
    max_duration_s: float
    timeout_s: float
    paths: tuple[tuple[str, dict[str, Any]], ...]
    streams: tuple[StreamSpec, ...]


def parse_plan(line: str) -> WatchPlan:
    try:
        raw = json.loads(line)
    except ValueError as exc:
        raise WatchSpecError(f"stdin's first line is not a JSON watch spec: {exc}") from exc
    if not isinstance(raw, dict):
        raise WatchSpecError("stdin's first line must be a JSON object (the watch spec)")
    try:
        rate = float(raw.get("rate_per_s", 10))
        duration = float(raw.get("max_duration_s", 900))
        timeout = float(raw.get("timeout_s", DEFAULT_TIMEOUT_S))
    except (TypeError, ValueError) as exc:
        raise WatchSpecError(f"rate_per_s, max_duration_s and timeout_s must be numbers: "
                             f"{exc}") from exc
    if not 0 < rate <= MAX_RATE_PER_S:
        raise WatchSpecError(f"rate_per_s must be in (0, {MAX_RATE_PER_S:g}], got {rate:g}")
    if not 0 < duration <= MAX_DURATION_S or timeout <= 0:
        raise WatchSpecError(f"max_duration_s must be in (0, {MAX_DURATION_S:g}] and "
                             "timeout_s positive")
    paths = []
    for i, p in enumerate(raw.get("paths") or []):
        if not isinstance(p, dict) or not isinstance(p.get("probe"), dict) or not p.get("name"):
            raise WatchSpecError(f"paths[{i}] must be an object with a name and a probe")
        paths.append((str(p["name"]), dict(p["probe"])))
    try:
        streams = tuple(parse_stream(s, i) for i, s in enumerate(raw.get("streams") or []))
    except ValueError as exc:
        raise WatchSpecError(str(exc)) from exc
    if not paths and not streams:
        raise WatchSpecError("the watch spec has no paths and no streams")
    return WatchPlan(rate, duration, timeout, tuple(paths), streams)


def classify(result: dict[str, Any]) -> tuple[str, str]:
    """(ok | denied | error, detail) of one `prober run` result. Denied is what Cilium's
    enforcement looks like from the client: an L3/L4 drop is a connect that never
    completes (bpf drop, no reset); Envoy's L7 deny is HTTP 403 (cilium/proxy
    cilium/l7policy.cc, "Access denied") or gRPC PERMISSION_DENIED; the DNS proxy answers
    REFUSED for a denied name (pkg/option/config.go, tofqdns-dns-reject-response-code
    default "refused")."""
    outcome = str(result.get("outcome"))
    status = result.get("status")  # http_probe.py: the HTTP status of an http result
    detail = f"http-{status}" if outcome == "http-error" and status else outcome
    if outcome == "ok":
        return "ok", detail
    if (outcome in ("timeout", "dns-refused") or (outcome == "http-error" and status == 403)
            or (outcome == "grpc-error" and result.get("grpc_code") == "PERMISSION_DENIED")):
        return "denied", detail
    error = result.get("error")
    return "error", f"{detail}: {error}" if error else detail


async def _path(name: str, probe: dict[str, Any], plan: WatchPlan, emit: Emit,
                counts: Counter[tuple[str, str]], stop: asyncio.Event) -> None:
    """A new probe every 1/rate seconds on a fixed grid (a slow probe does not delay the
    next), each timed from when it was scheduled."""
    step = 1.0 / plan.rate_per_s
    loop = asyncio.get_running_loop()
    start = loop.time()
    pending: set[asyncio.Task[None]] = set()
    n = 0

    async def one(k: int, wall: float) -> None:
        result = await run_one({**probe, "id": f"{name}-{k}"}, plan.timeout_s)
        outcome, detail = classify(result)
        counts[(name, outcome)] += 1
        emit({"type": "sample", "t": round(wall, 3), "path": name, "outcome": outcome,
              "detail": detail})

    while not stop.is_set():
        task = asyncio.create_task(one(n, time.time()))
        pending.add(task)
        task.add_done_callback(pending.discard)
        n += 1
        await wait_stop(stop, max(0.0, start + n * step - loop.time()))
    if pending:
        await asyncio.wait(pending)


def _stdin_commands(stream: TextIO, on_stop: Callable[[str], None]) -> None:
    """`stop` ends the watch; so does the end of stdin: the runner never closes it on
    purpose, so EOF means its exec went away (the kubelet closes the process's stdin when
    the stream ends) and nobody reads the samples any more."""
    for line in stream:
        if line.strip() == STOP:
            on_stop(STOP)
            return
    on_stop(EOF)


async def watch(plan: WatchPlan, commands: TextIO, out: TextIO) -> dict[str, Any]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    reason = ["max-duration"]
    counts: Counter[tuple[str, str]] = Counter()
    streams: dict[str, dict[str, float | None]] = {
        s.name: {"opened": None, "reset": None} for s in plan.streams}

    def emit(event: dict[str, Any]) -> None:
        if event["type"] == "stream":
            streams[event["stream"]][event["event"]] = event["t"]
        out.write(json.dumps(event) + "\n")
        out.flush()

    def stopped(why: str) -> None:
        reason[0] = why
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=_stdin_commands, args=(commands, stopped), daemon=True,
                     name="watch-stdin").start()
    loop.call_later(plan.max_duration_s, stop.set)
    jobs = [keep(H2Stream(s), emit, stop) for s in plan.streams]
    jobs += [_path(name, probe, plan, emit, counts, stop) for name, probe in plan.paths]
    await asyncio.gather(*jobs)
    samples: dict[str, dict[str, int]] = {}
    for (name, outcome), n in sorted(counts.items()):
        samples.setdefault(name, {})[outcome] = n
    summary = {"type": "summary", "reason": reason[0], "samples": samples, "streams": streams}
    emit(summary)
    return summary


def main(commands: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    plan = parse_plan(commands.readline())
    asyncio.run(watch(plan, commands, out))
    return 0
