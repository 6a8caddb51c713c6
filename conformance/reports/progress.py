"""Progress lines for the long waits of a run, shown by the controller.

xdist workers have no terminal, so a worker appends one JSON line per event to
`<artifacts>/.ztc-progress/<run>-<worker>.jsonl` and the controller follows those files from
a thread, printing each event as it arrives and a "still waiting" line for a scenario that
has been busy for a while. Without workers the events are printed at once.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROGRESS_DIR = ".ztc-progress"
POLL_S = 0.5  # how often the controller looks for new events
HEARTBEAT_S = 20.0  # a busy scenario is named again after this long without news

Event = dict[str, Any]


def describe(event: Event) -> str:
    """One line for a person."""
    who = f"[{event.get('worker', '?')}] {event.get('scenario', '')}".rstrip()
    what = event.get("what")
    if what == "workspace-start":
        return f"{who} deploying the probe workloads, waiting until they are ready"
    if what == "workspace-done":
        return f"{who} probe workloads ready in {event.get('seconds', 0):.1f} s"
    if what == "start":
        return (f"{who}: applied, waiting for enforcement (max "
                f"{event.get('policy_timeout', 0):g} s), then evidence (grace "
                f"{event.get('flow_grace', 0):g} s)")
    if what == "done":
        return (f"{who}: enforced in {event.get('realize_s', 0):.1f} s; probes "
                f"{event.get('probes_s', 0):.1f} s; evidence {event.get('evidence_wait_s', 0):.1f}"
                f" s; cleanup {event.get('cleanup_s', 0):.1f} s")
    if what == "waiting":
        return f"{who}: still busy after {event.get('seconds', 0):.0f} s"
    return f"{who}: {what}: {event.get('detail', '')}".rstrip(": ")


class WorkerSink:
    """A worker's side: append events to its own file (one writer per file)."""

    def __init__(self, folder: Path, run: str, worker: str) -> None:
        self.path = folder / PROGRESS_DIR / f"{run}-{worker}.jsonl"
        self.worker = worker

    def emit(self, event: Event) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"worker": self.worker, "t": time.time(), **event}) + "\n")
        except OSError:
            pass  # progress is a courtesy; evidence and results do not depend on it


class Follower:
    """The controller's side: a thread that prints the workers' events as they come."""

    def __init__(self, folder: Path, run: str, say: Callable[[str], None],
                 clock: Callable[[], float] = time.time) -> None:
        self.folder, self.run, self.say, self.clock = folder / PROGRESS_DIR, run, say, clock
        self.offsets: dict[Path, int] = {}
        self.busy: dict[tuple[str, str], float] = {}  # (worker, scenario) -> last news
        self.started: dict[tuple[str, str], float] = {}
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="ztc-progress", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Stop following, print what is left, and remove this run's event files."""
        self.stop_event.set()
        if self.thread.is_alive():
            self.thread.join()
        self.poll()
        for path in self.offsets:
            path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # only empty when no other run uses it
            self.folder.rmdir()

    def _loop(self) -> None:
        while not self.stop_event.wait(POLL_S):
            self.poll()

    def poll(self) -> None:
        for event in self.read_new():
            self.handle(event)
        now = self.clock()
        for key, last in list(self.busy.items()):
            if now - last >= HEARTBEAT_S:
                self.busy[key] = now
                self.say(describe({"worker": key[0], "scenario": key[1], "what": "waiting",
                                   "seconds": now - self.started.get(key, last)}))

    def handle(self, event: Event) -> None:
        key = (str(event.get("worker", "")), str(event.get("scenario", "")))
        if event.get("what") in ("start", "workspace-start"):
            self.busy[key] = self.started[key] = self.clock()
        else:
            self.busy.pop(key, None)
        self.say(describe(event))

    def read_new(self) -> list[Event]:
        events: list[Event] = []
        if not self.folder.is_dir():
            return events
        for path in sorted(self.folder.glob(f"{self.run}-*.jsonl")):
            offset = self.offsets.get(path, 0)
            try:
                with path.open("rb") as fh:
                    fh.seek(offset)
                    chunk = fh.read()
            except OSError:
                continue
            complete = chunk[:chunk.rfind(b"\n") + 1]  # a line being written waits
            self.offsets[path] = offset + len(complete)
            for line in complete.splitlines():
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict):
                    events.append(event)
        return sorted(events, key=lambda e: float(e.get("t", 0)))
