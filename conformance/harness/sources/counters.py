"""Drop and L7 counters from every agent (conformance/harness/metrics.py): scraped
before the first probe and again until each expected counter grew by one per attempt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from conformance.harness import evidence, metrics
from conformance.harness.cluster import MetricsScrape
from conformance.harness.sources.base import Judged, Quiet

if TYPE_CHECKING:
    from conformance.harness.attempt import Attempt
    from conformance.harness.batch import ScenarioRun
    from conformance.harness.spec import Cell
    from conformance.model.expectation import Expectation


class Counters(Quiet):
    name = "metrics"

    def __init__(self) -> None:
        self.raw_before: list[MetricsScrape] = []
        self.raw_after: list[MetricsScrape] = []
        self.before = metrics.Snapshot({})
        self.after = metrics.Snapshot({})
        # Per counter, how many sent attempts expect it to grow: the delta each must reach.
        self.minimum: dict[metrics.Counter, int] = {}
        self.wanted: dict[metrics.Counter, int] | None = None

    def delta(self) -> metrics.Snapshot:
        return metrics.delta(self.before, self.after)

    def start(self, run: ScenarioRun) -> None:
        self.raw_before = run.ws.cluster.scrape_metrics()
        self.before = metrics.snapshot(self.raw_before)
        self.minimum = count(run, run.sent())

    def arrived(self, run: ScenarioRun) -> bool:
        if self.wanted is None:  # what to wait for: the attempts the client confirmed
            self.wanted = count(run, run.worth_waiting_for())
        self.raw_after = run.ws.cluster.scrape_metrics()
        self.after = metrics.snapshot(self.raw_after)
        d, spaces = self.delta(), run.namespaces
        return all(c.value(d, spaces) >= n for c, n in self.wanted.items())

    def judge(self, run: ScenarioRun, a: Attempt, exp: Expectation) -> list[evidence.Check]:
        if a.probe is None:
            return []
        return [evidence.check_metrics(exp, self.delta(), self.minimum, run.namespaces)]

    def write(self, run: ScenarioRun, root: Path) -> None:
        (root / "metrics-before.prom").write_text(_scrapes(self.raw_before))
        (root / "metrics-after.prom").write_text(_scrapes(self.raw_after))

    def write_cell(self, run: ScenarioRun, cell: Cell, judged: Judged, folder: Path) -> None:
        """metrics.json: the cell's counters before, after and the delta they needed."""
        spaces = run.namespaces
        rows = [
            {"counter": c.describe(), "attributed_to": spaces if c.attributed else "cluster",
             "before": c.value(self.before, spaces), "after": c.value(self.after, spaces),
             "required_delta": self.minimum.get(c, 0)}
            for c in evidence.counters(run.expectation(cell))
        ]
        (folder / "metrics.json").write_text(json.dumps(rows, indent=2))


def count(run: ScenarioRun, attempts: list[Attempt]) -> dict[metrics.Counter, int]:
    out: dict[metrics.Counter, int] = {}
    for a in attempts:
        for counter in evidence.counters(run.expectation(a.cell)):
            out[counter] = out.get(counter, 0) + 1
    return out


def _scrapes(scrapes: list[MetricsScrape]) -> str:
    return "".join(f"# zt-conformance scrape node={s.node} port={s.port}\n{s.text}\n"
                   for s in scrapes)
