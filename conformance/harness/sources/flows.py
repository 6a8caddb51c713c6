"""Hubble flows, followed from before the first probe: the datapath's and the proxy's
verdict on each attempt, matched by its socket (conformance/harness/hubble.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from conformance.harness import evidence
from conformance.harness.cluster import FlowFollower
from conformance.harness.hubble import Flow, FlowIndex, match_flows
from conformance.harness.sources.base import Judged, Quiet

if TYPE_CHECKING:
    from conformance.harness.attempt import Attempt
    from conformance.harness.batch import ScenarioRun
    from conformance.harness.spec import Cell
    from conformance.model.expectation import Expectation


class Flows(Quiet):
    name = "hubble"

    def __init__(self) -> None:
        self.follower: FlowFollower | None = None
        self.since: datetime | None = None  # when following the flows started
        self.lines: list[str] = []  # raw Hubble lines, as received
        self.index = FlowIndex()
        self.error: str | None = None  # why the stream ended before the batch did
        self.pending: list[Attempt] | None = None

    @property
    def flows(self) -> list[Flow]:
        return self.index.flows

    def start(self, run: ScenarioRun) -> None:
        self.since = datetime.now(UTC)
        self.follower = run.ws.cluster.follow_flows(run.namespaces)

    def arrived(self, run: ScenarioRun) -> bool:
        assert self.follower is not None
        if self.pending is None:
            self.pending = run.worth_waiting_for()
        self.index.update(self.follower.lines())
        self.pending = [a for a in self.pending if not self._complete(run, a)]
        return not self.pending

    def _complete(self, run: ScenarioRun, a: Attempt) -> bool:
        matched, _ = match_flows(a.socket(), self.index)
        return evidence.required_satisfied(run.expectation(a.cell), matched,
                                           kind=a.cell.request.type)

    def stop(self, run: ScenarioRun) -> None:
        if self.follower is None:
            return
        self.lines = self.follower.lines()
        # A relay stream that ended early is named in every failing cell's message.
        self.error = self.follower.error()
        self.follower.close()
        self.follower = None
        self.index.update(self.lines)

    def problem(self) -> str | None:
        return f"The Hubble flow stream ended early: {self.error}" if self.error else None

    def judge(self, run: ScenarioRun, a: Attempt, exp: Expectation) -> list[evidence.Check]:
        if a.probe is None:
            return []
        matched, how = match_flows(a.socket(), self.index)
        return [evidence.check_hubble(exp, matched, how, kind=a.cell.request.type,
                                      tolerate_auth_drop=a.cell.expect.tolerate_auth_drop)]

    def write(self, run: ScenarioRun, root: Path) -> None:
        (root / "flows.jsonl").write_text("".join(line.rstrip("\n") + "\n"
                                                  for line in self.lines))
        if self.since is not None:
            # For a person: the same flows with the hubble CLI (the suite asks Relay itself).
            from conformance.harness.kube_relay import observe_command

            (root / "hubble-observe.txt").write_text(
                "kubectl -n kube-system port-forward service/hubble-relay 4245:80 &\n"
                + observe_command(run.namespaces, self.since) + "\n")

    def write_cell(self, run: ScenarioRun, cell: Cell, judged: Judged, folder: Path) -> None:
        """flows.jsonl: the raw lines of every flow any check of the cell matched."""
        seen: set[str] = set()
        raw = []
        for _, checks in judged:
            for check in checks:
                for flow in check.flows:
                    if flow.raw not in seen:
                        seen.add(flow.raw)
                        raw.append(flow.raw)
        (folder / "flows.jsonl").write_text("".join(r + "\n" for r in raw))
