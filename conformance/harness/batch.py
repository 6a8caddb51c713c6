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
from pathlib import Path
from typing import Any

import pytest

from conformance.harness import evidence, metrics, policy_wait, render
from conformance.harness.cluster import (
    Cluster,
    ClusterError,
    ClusterFacts,
    FlowFollower,
    MetricsScrape,
    PodInfo,
)
from conformance.harness.hubble import Flow, Socket, match_flows, parse_lines, split_hostport
from conformance.harness.spec import (
    GRPC_SERVICE,
    PAYMENTS,
    Cell,
    Request,
    Scenario,
    agrees,
    describe,
    version_at_least,
)
from conformance.model.expectation import Expectation

FLOW_GRACE_S = 15.0  # default: how long after the batch we wait for flows and counters
PROBE_TIMEOUT_S = 4.0  # default per-probe timeout; an L3/L4 drop shows as this timeout
POLL_INTERVAL_S = 0.2


@dataclass(frozen=True)
class RunOptions:
    flow_grace: float = FLOW_GRACE_S
    probe_timeout: float = PROBE_TIMEOUT_S
    policy_timeout: float = policy_wait.POLICY_TIMEOUT_S
    artifacts: Path | None = None


@dataclass
class Workspace:
    """One worker's view: its cluster, namespaces (canonical -> real) and their pods."""

    cluster: Cluster
    facts: ClusterFacts
    worker: str
    options: RunOptions
    namespaces: dict[str, str]
    pods: dict[str, list[PodInfo]] = field(default_factory=dict)

    def ensure(self, canonical: str) -> list[PodInfo]:
        real = self.namespaces[canonical]
        if real not in self.pods:
            self.pods[real] = self.cluster.deploy_workloads(real)
        return self.pods[real]

    def app_pods(self, canonical: str, app: str) -> list[PodInfo]:
        pods = [p for p in self.ensure(canonical) if p.labels.get("app") == app]
        return sorted(pods, key=lambda p: p.name)  # stable attempt ids within a run

    def close(self) -> None:
        for real in list(self.pods):
            self.cluster.delete_namespace(real)
            del self.pods[real]


@dataclass
class Attempt:
    """One concrete request of a cell (a cell to account-service has one per replica)."""

    cell: Cell
    id: str
    source: PodInfo | None
    target: PodInfo | None
    probe: dict[str, Any] | None  # prober JSON; None for kubelet cells (not ours to send)
    via_service: bool = False  # sent to a Service address (DNS): flows show the backend
    answer_ip: str | None = None  # a DNS answer that must name this (hermetic target) IP
    destination_ip: str | None = None  # an off-cluster target's IP
    result: dict[str, Any] | None = None

    def socket(self) -> Socket:
        result = self.result or {}
        ip = self.target.ip if self.target else self.destination_ip
        dest_ips = frozenset([ip]) if ip else frozenset()
        return Socket(
            probe_id=self.id,
            source_ip=self.source.ip if self.source else "",
            local=split_hostport(result.get("local")),
            remote=split_hostport(result.get("remote")),
            destination_ips=dest_ips,
            port=self.cell.request.port,
            via_service=self.via_service,
        )

    def path_kind(self) -> str:
        if self.source is None or self.target is None:
            return ""
        return "same-node" if self.source.node == self.target.node else "cross-node"


class ScenarioSkipped(Exception):
    """The cluster lacks what the scenario needs; the message says what."""


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
    lines: list[str] = field(default_factory=list)
    flows: list[Flow] = field(default_factory=list)
    before: metrics.Snapshot = field(default_factory=lambda: metrics.Snapshot({}))
    after: metrics.Snapshot = field(default_factory=lambda: metrics.Snapshot({}))
    raw_before: list[MetricsScrape] = field(default_factory=list)
    raw_after: list[MetricsScrape] = field(default_factory=list)
    minimum: dict[metrics.Counter, int] = field(default_factory=dict)
    ready_after: dict[str, bool] = field(default_factory=dict)
    rendered: list[dict[str, Any]] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)

    @property
    def namespaces(self) -> list[str]:
        return sorted(self.ws.pods)

    def expectation(self, cell: Cell) -> Expectation:
        return self.expected.get(cell.id) or self.scenario.expectation(cell)

    def delta(self) -> metrics.Snapshot:
        return metrics.delta(self.before, self.after)

    # -- running ---------------------------------------------------------------------

    def execute(self) -> None:
        missing = [f for f in self.scenario.requires if f not in self.ws.facts.features]
        if missing:
            raise ScenarioSkipped(
                f"the cluster does not provide {', '.join(missing)} "
                f"(Cilium {self.ws.facts.cilium_version}; features: "
                f"{', '.join(sorted(self.ws.facts.features)) or 'none'})")
        self.ws.ensure(PAYMENTS)
        if self.scenario.peer_namespace:
            self.ws.ensure("partners")
        self._plan()
        if not self.attempts:
            reasons = sorted(set(self.skipped_cells.values()) | set(self.disagreements.values()))
            raise ScenarioSkipped("; ".join(reasons) or "no cells")
        self.rendered = render.render(
            self.scenario.policy_documents(), self.ws.namespaces, self.ws.worker,
            clusterwide=self.scenario.disruptive)
        cluster, opts = self.ws.cluster, self.ws.options
        try:
            realized = policy_wait.apply_and_wait(
                cluster, self.rendered, l7=render.has_l7_rules(self.rendered),
                timeout=opts.policy_timeout)
        except ClusterError:
            # A rejected document may follow accepted ones: leave nothing behind.
            policy_wait.delete_and_confirm(cluster, self.rendered, timeout=opts.policy_timeout)
            raise
        self.timings.realize_s = realized.seconds
        try:
            self._traffic()
        finally:
            start = time.monotonic()
            # A truly cluster-wide policy must be gone everywhere before the run ends;
            # otherwise the next scenario's apply waits for both changes at once.
            remove = (policy_wait.delete_and_wait if self.scenario.disruptive
                      else policy_wait.delete_and_confirm)
            remove(cluster, self.rendered, timeout=opts.policy_timeout)
            self.timings.cleanup_s = time.monotonic() - start

    def _plan(self) -> None:
        version = self.ws.facts.cilium_version
        for n, cell in enumerate(self.scenario.cells):
            if cell.min_version and not version_at_least(version, cell.min_version):
                self.skipped_cells[cell.id] = (
                    f"needs Cilium >= {cell.min_version}; the cluster runs {version}")
                continue
            exp = self.scenario.expectation_for(cell, version)
            if not agrees(cell.expect, exp):
                self.disagreements[cell.id] = (
                    f"{cell.id}: on Cilium {version} the policy model predicts "
                    f"{describe(exp)}, not the written {cell.expect.label()} — "
                    f"{exp.explanation}")
                continue
            self.expected[cell.id] = exp
            target_fqdn = cell.request.to if cell.request.is_fqdn else None
            if target_fqdn and target_fqdn not in self.ws.facts.external_targets:
                self.skipped_cells[cell.id] = (
                    f"the cluster has no hermetic target for {target_fqdn} "
                    "(external-targets of the zt-conformance ConfigMap)")
                continue
            self.attempts[cell.id] = self._attempts(n, cell)

    def _attempts(self, n: int, cell: Cell) -> list[Attempt]:
        r, facts, timeout = cell.request, self.ws.facts, self.ws.options.probe_timeout
        prefix = f"{self.ws.worker}.{self.scenario.name}.{n}"
        if r.kind == "kubelet":
            targets = self.ws.app_pods(r.to_namespace, r.to)
            return [Attempt(cell, f"{prefix}.{i}", None, t, None) for i, t in enumerate(targets)]
        sources = self.ws.app_pods(cell.source.namespace, cell.source.app)
        if not sources:
            raise ClusterError(f"no {cell.source.app} pod in {cell.source.namespace}")
        source = sources[0]
        if r.kind == "dns":
            # In-cluster names carry a canonical namespace label: use the worker's.
            name = ".".join(self.ws.namespaces.get(part, part)
                            for part in r.dns_name.split("."))
            return [Attempt(cell, f"{prefix}.0", source, None,
                            prober_request(r, name, timeout), via_service=True,
                            answer_ip=facts.external_targets.get(r.dns_name))]
        if r.is_fqdn:
            ip = facts.external_targets[r.to]
            host = ip if r.by_ip else r.to + "."  # absolute: no resolv.conf search list
            return [Attempt(cell, f"{prefix}.0", source, None, prober_request(r, host, timeout),
                            destination_ip=ip)]
        out = [Attempt(cell, f"{prefix}.{i}", source, target,
                       prober_request(r, target.ip, timeout))
               for i, target in enumerate(self.ws.app_pods(r.to_namespace, r.to))]
        if not out:
            raise ClusterError(f"no {r.to} pod in {r.to_namespace} to probe")
        return out

    def _all(self) -> list[Attempt]:
        return [a for group in self.attempts.values() for a in group]

    def _traffic(self) -> None:
        cluster, opts = self.ws.cluster, self.ws.options
        follower = cluster.follow_flows(self.namespaces)
        try:
            self.raw_before = cluster.scrape_metrics()
            self.before = metrics.snapshot(self.raw_before)
            start = time.monotonic()
            self._send()
            self.timings.probes_s = time.monotonic() - start
            self._count_minimum()
            deadline = time.monotonic() + opts.flow_grace
            self._await_flows(follower, deadline)
            self._await_metrics(deadline)
            self.timings.evidence_wait_s = time.monotonic() - start - self.timings.probes_s
            self.ready_after = cluster.pods_ready(self.ws.namespaces[PAYMENTS])
        finally:
            self.lines = follower.lines()
            follower.close()
        self.flows = parse_lines(self.lines)
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

        with ThreadPoolExecutor(max_workers=len(by_source)) as pool:
            futures = [pool.submit(run, pod, batch) for pod, batch in by_source.values()]
            for fut in futures:
                fut.result()

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
            flows = parse_lines(follower.lines())
            pending = [a for a in pending if not self._flows_complete(a, flows)]
            if not pending or time.monotonic() >= deadline:
                return
            time.sleep(POLL_INTERVAL_S)  # poll

    def _flows_complete(self, a: Attempt, flows: list[Flow]) -> bool:
        matched, _ = match_flows(a.socket(), flows)
        return evidence.required_satisfied(self.expectation(a.cell), matched,
                                           dns=a.cell.request.kind == "dns")

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
        judged = self.judge(cell)
        report.write_cell(self, cell, judged)
        if all(check.ok for _, checks in judged for check in checks):
            return None
        return report.failure_message(self, cell, judged)

    def judge(self, cell: Cell) -> list[tuple[Attempt, list[evidence.Check]]]:
        exp = self.expectation(cell)
        out = []
        delta = self.delta()
        for a in self.attempts[cell.id]:
            if a.probe is None:
                out.append((a, self._judge_kubelet(a, exp)))
                continue
            matched, how = match_flows(a.socket(), self.flows)
            checks = [
                evidence.check_client(exp, a.result, echo=self._echo(a, exp),
                                      answer_ip=self._answer(a, exp)),
                evidence.check_hubble(exp, matched, how, dns=cell.request.kind == "dns",
                                      tolerate_auth_drop=cell.expect.tolerate_auth_drop),
                evidence.check_metrics(exp, delta, self.minimum, self.namespaces),
            ]
            out.append((a, checks))
        return out

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
        """The kubelet probes on its own schedule: its pods must stay Ready, and no flow
        from the host to them may be dropped."""
        assert a.target is not None
        ready = self.ready_after.get(a.target.name)
        client = evidence.Check(
            "client", ready is True, f"pod {a.target.name} Ready (kubelet probes pass)",
            f"Ready={ready}")
        port = a.cell.request.port
        host_flows = [f for f in self.flows
                      if f.destination.ip == a.target.ip and f.destination.port == port
                      and (f.source.identity == 1 or "reserved:host" in f.source.labels)]
        drops = [f for f in host_flows if f.verdict == "DROPPED"]
        hubble = evidence.Check(
            "hubble", not drops, "no DROPPED flow from the host",
            f"{len(host_flows)} host flow(s), {len(drops)} dropped", host_flows)
        return [client, hubble] if exp.verdict == "allowed" else [client]

    # -- artifacts -------------------------------------------------------------------

    def artifacts_dir(self) -> Path | None:
        root = self.ws.options.artifacts
        return root / self.scenario.name if root else None

    def _write_scenario_artifacts(self) -> None:
        from conformance.harness import report

        report.write_scenario(self)


def prober_request(r: Request, host: str, timeout: float) -> dict[str, Any]:
    """The `prober run` JSON for one request to `host` (an IP, or a name to resolve);
    the prober adds the id as the X-Probe-Id header / x-probe-id metadata itself."""
    if r.kind == "dns":
        return {"kind": "dns", "name": host, "qtype": "A", "timeout": timeout}
    if r.kind == "tcp":
        return {"kind": "tcp", "host": host, "port": r.port, "timeout": timeout}
    if r.kind == "grpc":
        return {"kind": "grpc", "target": f"{host}:{r.port}",
                "method": f"/{GRPC_SERVICE}/{r.grpc_method}", "timeout": timeout}
    if r.kind == "http":
        return {"kind": "http", "url": f"http://{host}:{r.port}{r.path}", "method": r.method,
                "headers": dict(r.headers), "timeout": timeout}
    raise ValueError(f"no prober request for a {r.kind!r} request")


def check_cell(run: ScenarioRun, cell: Cell) -> None:
    """The body of every cell test: pass, fail with the evidence, or skip with a reason."""
    try:
        message = run.verify(cell)
    except ScenarioSkipped as exc:
        pytest.skip(str(exc))
    if message:
        pytest.fail(message, pytrace=False)


def new_workspace(cluster: Cluster, worker: str, options: RunOptions,
                  namespace_prefix: str = "ztc") -> Workspace:
    facts = cluster.facts()
    base = f"{namespace_prefix}-{worker}"
    return Workspace(cluster=cluster, facts=facts, worker=worker, options=options,
                     namespaces={PAYMENTS: base, "partners": f"{base}-partners"})

