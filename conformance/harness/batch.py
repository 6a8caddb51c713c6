"""Run one scenario on one worker as one batch, and keep the evidence for its cells.

Order matters and is the point of this module: render and apply the policies and wait
until they are realized; start every evidence source (follow Hubble, snapshot metrics,
mark the access logs); send every probe (one `prober run` per source pod, the sources
concurrently); poll the sources in one loop — bounded by the flow grace — until each
says what it waits for arrived; stop them; delete the policies. Cells are then judged
from what the sources recorded, as a verdict record; the caller writes the artifacts
(conformance/harness/verdicts.py).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from conformance.harness import evidence, planning, policy_wait
from conformance.harness.apply_order import apply_order
from conformance.harness.cluster import ACCOUNT_SERVICE, ClusterError, PodInfo
from conformance.harness.planning import Attempt, Workspace
from conformance.harness.sources import EvidenceSource, new_sources
from conformance.harness.spec import PAYMENTS, Cell, Scenario
from conformance.model.expectation import Expectation

POLL_INTERVAL_S = 0.2
MAX_PARALLEL_EXECS = 16  # `prober run` execs in flight at once (one per source pod)


class ScenarioSkipped(Exception):
    """The cluster lacks what the scenario needs; the message says what."""


class MissingFeature(ClusterError):
    """A feature the suite provisioned itself is not detected: an error, not a skip."""


@dataclass
class Timings:
    realize_s: float = 0.0  # time-to-enforce of the apply
    probes_s: float = 0.0
    evidence_wait_s: float = 0.0
    cleanup_s: float = 0.0


S = TypeVar("S")


@dataclass(frozen=True)
class CellVerdict:
    """How one cell came out: skipped (why), a model disagreement (the message), or the
    model's expectation and the checks of each attempt; `problems` are what the sources
    say may be missing."""

    cell: Cell
    expectation: Expectation | None
    skipped: str | None = None
    disagreement: str | None = None
    judged: list[tuple[Attempt, list[evidence.Check]]] = field(default_factory=list)
    problems: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.skipped is None and self.disagreement is None and all(
            check.ok for _, checks in self.judged for check in checks)


@dataclass
class ScenarioRun:
    scenario: Scenario
    ws: Workspace
    attempts: dict[str, list[Attempt]] = field(default_factory=dict)  # cell id -> attempts
    skipped_cells: dict[str, str] = field(default_factory=dict)  # cell id -> reason
    # Expectations on the cluster's Cilium version, and cells whose written expectation
    # the model says does not hold there (they fail with that message).
    expected: dict[str, Expectation] = field(default_factory=dict)
    disagreements: dict[str, str] = field(default_factory=dict)
    rendered: list[dict[str, Any]] = field(default_factory=list)
    sources: list[EvidenceSource] = field(default_factory=new_sources)
    timings: Timings = field(default_factory=Timings)
    gathered: bool = False  # the sources were started, polled and stopped
    # cell id -> its judged attempts, kept for the JUnit properties (conformance/reports)
    judged: dict[str, list[tuple[Attempt, list[evidence.Check]]]] = field(default_factory=dict)

    @property
    def namespaces(self) -> list[str]:
        return sorted(self.ws.pods)

    def source(self, kind: type[S]) -> S:
        """The registered source of class `kind` (sources read each other's records)."""
        found = next((s for s in self.sources if isinstance(s, kind)), None)
        if found is None:
            raise LookupError(f"no {kind.__name__} among this batch's evidence sources")
        return found

    def expectation(self, cell: Cell) -> Expectation:
        return self.expected.get(cell.id) or self.scenario.expectation(cell)

    # -- running ---------------------------------------------------------------------

    def execute(self) -> None:
        """Plan, apply, send and gather; the caller checks the artifacts folder first."""
        missing = [f for f in self.scenario.requires if f not in self.ws.facts.features]
        if missing:
            what = (f"the cluster does not provide {', '.join(missing)} "
                    f"(Cilium {self.ws.facts.cilium_version}; features: "
                    f"{', '.join(sorted(self.ws.facts.features)) or 'none'})")
            if self.ws.options.provisioned:
                raise MissingFeature(
                    f"{what}, yet this cluster was provisioned with every feature: "
                    "feature detection or provisioning regressed")
            raise ScenarioSkipped(what)
        plan = self._plan()
        self.attempts, self.expected = plan.attempts, plan.expected
        self.skipped_cells, self.disagreements = plan.skipped, plan.disagreements
        if not self.attempts:
            if self.disagreements:
                # Nothing to send, but a cell the model says cannot hold on this cluster
                # is a failure (its verdict says so), never a skip of the whole scenario.
                return
            raise ScenarioSkipped("; ".join(sorted(set(self.skipped_cells.values())))
                                  or "no cells")
        rendered = self.ws.render(self.scenario.policy_documents(),
                                  clusterwide=self.scenario.disruptive)
        staged = self.scenario.disruptive  # truly cluster-wide: every prefix is enforced
        self.rendered = (apply_order(rendered, self.ws.facts.cilium_version) if staged
                         else rendered)
        cluster, opts = self.ws.cluster, self.ws.options
        try:
            realized = policy_wait.apply_and_wait(
                cluster, self.rendered, timeout=opts.policy_timeout, staged=staged)
        except ClusterError:
            # A rejected document may follow accepted ones: leave nothing behind. No wait:
            # when nothing was accepted no revision moves, and the next apply waits for a
            # revision above this removal anyway.
            cluster.delete(self.rendered)
            raise
        self.timings.realize_s = realized.seconds
        try:
            self._traffic()
        finally:
            start = time.monotonic()
            # A truly cluster-wide policy must be gone everywhere before the run ends;
            # otherwise the next scenario's apply waits for both changes at once.
            if staged:
                policy_wait.delete_and_wait(cluster, self.rendered,
                                            timeout=opts.policy_timeout, staged=True)
            else:
                policy_wait.delete_and_confirm(cluster, self.rendered,
                                               timeout=opts.policy_timeout)
            self.timings.cleanup_s = time.monotonic() - start

    def _plan(self) -> planning.Plan:
        """Deploy the workloads the cells need and decide which cells run (an own-policies
        run deploys stand-ins instead: conformance/harness/own.py)."""
        self.ws.ensure(PAYMENTS)
        if self.scenario.peer_namespace:
            self.ws.ensure("partners")
        return planning.plan(self.scenario, self.ws)

    def all_attempts(self) -> list[Attempt]:
        return [a for group in self.attempts.values() for a in group]

    def sent(self) -> list[Attempt]:
        """The attempts the prober sends (a kubelet cell's are observed, not sent)."""
        return [a for a in self.all_attempts() if a.probe is not None]

    def worth_waiting_for(self) -> list[Attempt]:
        """Sent attempts whose client result is as expected. One whose client already
        contradicts the model fails whatever the other evidence says, so it does not
        hold up the batch for the whole grace period."""
        return [a for a in self.sent()
                if evidence.observed_signal(a.result) == self.expectation(a.cell).client]

    def app_pods(self) -> list[PodInfo]:
        """The pods whose access log proves what reached the app."""
        return [p for pods in self.ws.pods.values() for p in pods
                if p.labels.get("app") == ACCOUNT_SERVICE]

    def _traffic(self) -> None:
        try:
            for source in self.sources:
                source.start(self)
            start = time.monotonic()
            self._send()
            self.timings.probes_s = time.monotonic() - start
            self._await(time.monotonic() + self.ws.options.flow_grace)
            self.timings.evidence_wait_s = time.monotonic() - start - self.timings.probes_s
        finally:
            for source in self.sources:
                source.stop(self)
        self.gathered = True

    def _send(self) -> None:
        by_source: dict[str, tuple[PodInfo, list[Attempt]]] = {}
        for a in self.sent():
            if a.source is not None:
                by_source.setdefault(a.source.name, (a.source, []))[1].append(a)
        if not by_source:
            return

        def run(pod: PodInfo, batch: list[Attempt]) -> None:
            results = self.ws.cluster.run_probes(
                pod, [{"id": a.id, **(a.probe or {})} for a in batch])
            by_id = {str(r.get("id")): r for r in results}
            for a in batch:
                a.result = by_id.get(a.id)

        # Sources run concurrently, a bounded number at a time: an own-policies batch has
        # hundreds of source pods, and as many exec streams at once swamp the API server.
        with ThreadPoolExecutor(max_workers=min(len(by_source), MAX_PARALLEL_EXECS)) as pool:
            futures = [pool.submit(run, pod, batch) for pod, batch in by_source.values()]
            for fut in futures:
                fut.result()

    def _await(self, deadline: float) -> None:
        """Poll the sources, in registration order, until all have what they wait for or
        the deadline passes (one deadline for all). A source that has arrived is not
        polled again: its last reading stands (a metrics scrape, an access-log read)."""
        waiting = list(self.sources)
        while True:
            waiting = [s for s in waiting if not s.arrived(self)]
            if not waiting or time.monotonic() >= deadline:
                return
            time.sleep(POLL_INTERVAL_S)  # poll

    # -- judging ---------------------------------------------------------------------

    def verdict(self, cell: Cell) -> CellVerdict:
        """Judge one cell from the recorded batch (writes nothing)."""
        if cell.id in self.skipped_cells:
            return CellVerdict(cell, None, skipped=self.skipped_cells[cell.id])
        if cell.id in self.disagreements:
            return CellVerdict(cell, None, disagreement=self.disagreements[cell.id])
        exp = self.expectation(cell)
        judged = self.judged[cell.id] = self.judge(cell)
        problems = tuple(p for p in (s.problem() for s in self.sources) if p)
        return CellVerdict(cell, exp, judged=judged, problems=problems)

    def judge(self, cell: Cell) -> list[tuple[Attempt, list[evidence.Check]]]:
        exp = self.expectation(cell)
        return [(a, [c for s in self.sources for c in s.judge(self, a, exp)])
                for a in self.attempts[cell.id]]

    # -- artifacts (written by the caller, conformance/harness/report.py) -------------

    def artifacts_dir(self) -> Path | None:
        root = self.ws.options.artifacts
        return root / self.scenario.name if root else None

    def write_own_artifacts(self, root: Path) -> None:
        """Artifacts of a kind of run beyond the sources' (own policies: the rewrite)."""
