"""Run one scenario on one worker as one batch, and keep the evidence for its cells.

Order matters and is the point of this module: render and apply the policies and wait
until they are realized; start following Hubble; snapshot metrics; send every probe
(one `prober run` per source pod, the sources concurrently); wait — bounded by the flow
grace — until each attempt's expected flows arrived and the counters grew; snapshot
again; delete the policies. Cells then judge themselves from what was recorded.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conformance.harness import evidence, metrics, planning, policy_wait
from conformance.harness.apply_order import apply_order
from conformance.harness.cluster import (
    ACCOUNT_SERVICE,
    ClusterError,
    FlowFollower,
    MetricsScrape,
    PodInfo,
)
from conformance.harness.hubble import Flow, FlowIndex, match_flows
from conformance.harness.planning import Attempt, Workspace
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
    lines: list[str] = field(default_factory=list)  # raw Hubble lines, as received
    index: FlowIndex = field(default_factory=FlowIndex)
    before: metrics.Snapshot = field(default_factory=lambda: metrics.Snapshot({}))
    after: metrics.Snapshot = field(default_factory=lambda: metrics.Snapshot({}))
    raw_before: list[MetricsScrape] = field(default_factory=list)
    raw_after: list[MetricsScrape] = field(default_factory=list)
    minimum: dict[metrics.Counter, int] = field(default_factory=dict)
    ready_after: dict[str, bool] = field(default_factory=dict)
    # account-service access-log lines written during the batch, per pod, and the probe
    # ids in them: the server-side proof of which requests reached the app.
    app_lines: dict[str, list[str]] = field(default_factory=dict)
    app_seen: dict[str, set[str]] = field(default_factory=dict)
    rendered: list[dict[str, Any]] = field(default_factory=list)
    flow_error: str | None = None  # why the Hubble stream ended before the batch did
    flows_since: datetime | None = None  # when following the flows started
    timings: Timings = field(default_factory=Timings)
    # cell id -> its judged attempts, kept for the JUnit properties (conformance/reports)
    judged: dict[str, list[tuple[Attempt, list[evidence.Check]]]] = field(default_factory=dict)

    @property
    def flows(self) -> list[Flow]:
        return self.index.flows

    @property
    def namespaces(self) -> list[str]:
        return sorted(self.ws.pods)

    def expectation(self, cell: Cell) -> Expectation:
        return self.expected.get(cell.id) or self.scenario.expectation(cell)

    def delta(self) -> metrics.Snapshot:
        return metrics.delta(self.before, self.after)

    # -- running ---------------------------------------------------------------------

    def execute(self) -> None:
        from conformance.harness import report

        report.check_ours(self.artifacts_dir())  # before any cluster work
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
                # is a failure (verify reports it), never a skip of the whole scenario.
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

    def _all(self) -> list[Attempt]:
        return [a for group in self.attempts.values() for a in group]

    def _traffic(self) -> None:
        cluster, opts = self.ws.cluster, self.ws.options
        self.flows_since = datetime.now(UTC)
        follower = cluster.follow_flows(self.namespaces)
        try:
            self.raw_before = cluster.scrape_metrics()
            self.before = metrics.snapshot(self.raw_before)
            log_marks = {pod.name: len(cluster.app_log(pod)) for pod in self._app_pods()}
            start = time.monotonic()
            self._send()
            self.timings.probes_s = time.monotonic() - start
            self._count_minimum()
            deadline = time.monotonic() + opts.flow_grace
            self._await_flows(follower, deadline)
            self._await_metrics(deadline)
            self.timings.evidence_wait_s = time.monotonic() - start - self.timings.probes_s
            self._read_app_logs(log_marks, deadline)
            home = self.ws.namespaces.get(PAYMENTS)  # kubelet cells' namespace, if any
            self.ready_after = cluster.pods_ready(home) if home else {}
        finally:
            self.lines = follower.lines()
            # A relay stream that ended early is named in every failing cell's message.
            self.flow_error = follower.error()
            follower.close()
        self.index.update(self.lines)
        self._write_scenario_artifacts()

    def _send(self) -> None:
        by_source: dict[str, tuple[PodInfo, list[Attempt]]] = {}
        for a in self._all():
            if a.probe is not None and a.source is not None:
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

    def _app_pods(self) -> list[PodInfo]:
        return [p for pods in self.ws.pods.values() for p in pods
                if p.labels.get("app") == ACCOUNT_SERVICE]

    def _read_app_logs(self, marks: dict[str, int], deadline: float) -> None:
        """Access-log lines written since the batch started. The app logs a request
        before answering it, but the container runtime may lag in storing the line: poll
        (bounded by the grace deadline) until every answered allowed request is there."""
        wanted = {a.id for a in self._worth_waiting_for()
                  if self._sends_request(a) and self.expectation(a.cell).verdict == "allowed"}
        # Kubelet cells: a readiness probe must have reached each target while the
        # policy was in force (one period at most; 2 s in the workload manifest).
        kubelet = {(a.target.name, a.cell.request.path) for a in self._all()
                   if a.probe is None and a.target is not None
                   and self.expectation(a.cell).verdict == "allowed"}
        while True:
            for pod in self._app_pods():
                lines = self.ws.cluster.app_log(pod)
                mark = marks.get(pod.name, 0)
                # A shorter log means the container restarted: all of it is new.
                new = lines[mark:] if len(lines) >= mark else lines
                self.app_lines[pod.name] = new
                self.app_seen[pod.name] = evidence.app_probe_ids(new)
            seen: set[str] = set().union(*self.app_seen.values())
            probed = all(evidence.kubelet_requests(self.app_lines.get(pod, []), path) > 0
                         for pod, path in kubelet)
            if (wanted <= seen and probed) or time.monotonic() >= deadline:
                return
            time.sleep(POLL_INTERVAL_S)  # poll

    def _count_minimum(self) -> None:
        for a in self._all():
            if a.probe is None:
                continue
            for counter in evidence.counters(self.expectation(a.cell)):
                self.minimum[counter] = self.minimum.get(counter, 0) + 1

    def _worth_waiting_for(self) -> list[Attempt]:
        """Attempts whose client result is as expected. One whose client already
        contradicts the model fails whatever Hubble says, so it does not hold up the batch
        for the whole grace period."""
        out = []
        for a in self._all():
            if a.probe is None:
                continue
            exp = self.expectation(a.cell)
            if evidence.observed_signal(a.result) == exp.client:
                out.append(a)
        return out

    def _await_flows(self, follower: FlowFollower, deadline: float) -> None:
        pending = self._worth_waiting_for()
        while True:
            self.index.update(follower.lines())
            pending = [a for a in pending if not self._flows_complete(a)]
            if not pending or time.monotonic() >= deadline:
                return
            time.sleep(POLL_INTERVAL_S)  # poll

    def _flows_complete(self, a: Attempt) -> bool:
        matched, _ = match_flows(a.socket(), self.index)
        return evidence.required_satisfied(self.expectation(a.cell), matched,
                                           kind=a.cell.request.kind)

    def _await_metrics(self, deadline: float) -> None:
        spaces = list(self.ws.pods)
        wanted: dict[metrics.Counter, int] = {}
        for a in self._worth_waiting_for():
            for counter in evidence.counters(self.expectation(a.cell)):
                wanted[counter] = wanted.get(counter, 0) + 1
        while True:
            self.raw_after = self.ws.cluster.scrape_metrics()
            self.after = metrics.snapshot(self.raw_after)
            d = self.delta()
            if all(c.value(d, spaces) >= n for c, n in wanted.items()):
                return
            if time.monotonic() >= deadline:
                return
            time.sleep(POLL_INTERVAL_S)  # poll

    # -- judging ---------------------------------------------------------------------

    def verify(self, cell: Cell) -> str | None:
        """Judge one cell from the recorded batch and write its artifacts; the failure
        message, or None when every check passed. Raises ScenarioSkipped for a cell the
        cluster cannot run."""
        from conformance.harness import report

        if cell.id in self.skipped_cells:
            raise ScenarioSkipped(self.skipped_cells[cell.id])
        if cell.id in self.disagreements:
            return self.disagreements[cell.id]
        judged = self.judged[cell.id] = self.judge(cell)
        report.write_cell(self, cell, judged)
        if all(check.ok for _, checks in judged for check in checks):
            return None
        message = report.failure_message(self, cell, judged)
        if self.flow_error:
            message += f"\nThe Hubble flow stream ended early: {self.flow_error}"
        return message

    def judge(self, cell: Cell) -> list[tuple[Attempt, list[evidence.Check]]]:
        exp = self.expectation(cell)
        out = []
        delta = self.delta()
        for a in self.attempts[cell.id]:
            if a.probe is None:
                out.append((a, self._judge_kubelet(a, exp)))
                continue
            matched, how = match_flows(a.socket(), self.index)
            checks = [
                evidence.check_client(exp, a.result, echo=self._echo(a, exp),
                                      answer_ip=self._answer(a, exp)),
                evidence.check_hubble(exp, matched, how, kind=cell.request.kind,
                                      tolerate_auth_drop=cell.expect.tolerate_auth_drop),
                evidence.check_metrics(exp, delta, self.minimum, self.namespaces),
            ]
            if self._reaches_app(a):
                assert a.target is not None
                checks.insert(1, evidence.check_app(exp, a.id, a.target.name, self.app_seen))
            out.append((a, checks))
        return out

    def _sends_request(self, a: Attempt) -> bool:
        """An HTTP or gRPC request to an account-service pod (which logs what reaches it)."""
        return (a.probe is not None and a.cell.request.kind in ("http", "grpc", "tls")
                and a.target is not None and a.target.labels.get("app") == ACCOUNT_SERVICE)

    def _reaches_app(self, a: Attempt) -> bool:
        return self._sends_request(a) and a.target is not None \
            and a.target.name in self.app_seen

    def _echo(self, a: Attempt, exp: Expectation) -> dict[str, str] | None:
        r = a.cell.request
        if r.kind != "http" or exp.verdict != "allowed" or a.target is None:
            return None
        return {"probe_id": a.id, "method": r.method, "path": r.path,
                "served_by": a.target.name}

    def _answer(self, a: Attempt, exp: Expectation) -> str | None:
        if a.cell.request.kind == "dns" and exp.verdict == "allowed":
            return a.answer_ip
        return None

    def _judge_kubelet(self, a: Attempt, exp: Expectation) -> list[evidence.Check]:
        """The kubelet probes on its own schedule: its requests must reach the app while
        the policy is in force (access log), its pods stay Ready, and no flow from the
        host to them may be dropped."""
        assert a.target is not None
        requests = evidence.kubelet_requests(self.app_lines.get(a.target.name, []),
                                             a.cell.request.path)
        checks = evidence.check_kubelet(exp, a.target.name, a.cell.request.path, requests,
                                        self.ready_after.get(a.target.name))
        port = a.cell.request.port
        host_flows = [f for f in self.flows
                      if f.destination.ip == a.target.ip and f.destination.port == port
                      and (f.source.identity == 1 or "reserved:host" in f.source.labels)]
        drops = [f for f in host_flows if f.verdict == "DROPPED"]
        hubble = evidence.Check(
            "hubble", not drops, "no DROPPED flow from the host",
            f"{len(host_flows)} host flow(s), {len(drops)} dropped", host_flows)
        return [*checks, hubble] if exp.verdict == "allowed" else checks

    # -- artifacts -------------------------------------------------------------------

    def artifacts_dir(self) -> Path | None:
        root = self.ws.options.artifacts
        return root / self.scenario.name if root else None

    def _write_scenario_artifacts(self) -> None:
        from conformance.harness import report

        report.write_scenario(self)


def started(run: ScenarioRun) -> ScenarioRun:
    """A fixture's body: execute the batch; skip or fail its cells with one paragraph."""
    from conformance.harness.report import ArtifactsError

    try:
        run.execute()
    except ScenarioSkipped as exc:
        pytest.skip(f"{run.scenario.name}: {exc}")
    except (ClusterError, ArtifactsError) as exc:
        pytest.fail(f"{run.scenario.name}: {exc}", pytrace=False)
    return run


def check_cell(run: ScenarioRun, cell: Cell) -> None:
    """The body of every cell test: pass, fail with the evidence, or skip with a reason."""
    try:
        message = run.verify(cell)
    except ScenarioSkipped as exc:
        pytest.skip(str(exc))
    if message:
        pytest.fail(message, pytrace=False)
