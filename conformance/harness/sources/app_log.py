"""account-service's access log: the server-side proof of which requests reached the app.

The app logs a request before answering it, but the container runtime may lag in
storing the line, so the batch polls until every answered allowed request is there.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from conformance.harness import evidence
from conformance.harness.cluster import PodInfo
from conformance.harness.sources.base import Quiet

if TYPE_CHECKING:
    from conformance.harness.attempt import Attempt
    from conformance.harness.batch import ScenarioRun
    from conformance.model.expectation import Expectation


class AppLog(Quiet):
    name = "app"

    def __init__(self) -> None:
        self.marks: dict[str, int] = {}  # pod -> log length when the batch started
        self.lines: dict[str, list[str]] = {}  # pod -> lines written during the batch
        self.seen: dict[str, set[str]] = {}  # pod -> probe ids in those lines
        self.wanted: set[str] | None = None  # ids of allowed requests the client confirmed

    def start(self, run: ScenarioRun) -> None:
        self.marks = {pod.name: len(run.ws.cluster.app_log(pod)) for pod in run.app_pods()}

    def arrived(self, run: ScenarioRun) -> bool:
        pods = self.read(run)
        if self.wanted is None:
            names = {p.name for p in pods}
            self.wanted = {a.id for a in run.worth_waiting_for() if reaches_app(a, names)
                           and run.expectation(a.cell).verdict == "allowed"}
        return self.wanted <= set().union(*self.seen.values())

    def read(self, run: ScenarioRun) -> list[PodInfo]:
        """Read every app pod's log lines written since the mark; the pods read."""
        pods = run.app_pods()
        for pod in pods:
            lines = run.ws.cluster.app_log(pod)
            mark = self.marks.get(pod.name, 0)
            # A shorter log means the container restarted: all of it is new.
            new = lines[mark:] if len(lines) >= mark else lines
            self.lines[pod.name] = new
            self.seen[pod.name] = evidence.app_probe_ids(new)
        return pods

    def judge(self, run: ScenarioRun, a: Attempt, exp: Expectation) -> list[evidence.Check]:
        if not reaches_app(a, self.seen.keys()) or a.target is None:
            return []
        return [evidence.check_app(exp, a.id, a.target.name, self.seen)]

    def write(self, run: ScenarioRun, root: Path) -> None:
        (root / "app-log.jsonl").write_text("".join(
            line.rstrip("\n") + "\n" for pod in sorted(self.lines) for line in self.lines[pod]))


def reaches_app(a: Attempt, app_pods: Collection[str]) -> bool:
    """A request of a kind that reaches the app, sent to one of `app_pods`, which log
    what reaches them."""
    return (a.probe is not None and a.cell.request.type.reaches_app and a.target is not None
            and a.target.name in app_pods)
