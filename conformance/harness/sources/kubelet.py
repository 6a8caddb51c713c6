"""The kubelet's readiness probes of a target: they come on the kubelet's own schedule
(one period at most; 2 s in the workload manifest), so the batch waits until each
allowed target's access log shows one during the batch; its pods must stay Ready, and
no flow from the host to them may be dropped."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conformance.harness import evidence
from conformance.harness.sources.app_log import AppLog
from conformance.harness.sources.base import Quiet
from conformance.harness.sources.flows import Flows
from conformance.harness.spec import PAYMENTS

if TYPE_CHECKING:
    from conformance.harness.attempt import Attempt
    from conformance.harness.batch import ScenarioRun
    from conformance.model.expectation import Expectation


class Kubelet(Quiet):
    """Reads the access log through the AppLog source (registered before it)."""

    name = "kubelet"

    def __init__(self) -> None:
        self.ready: dict[str, bool] = {}  # pod -> Ready, read after the probes

    def arrived(self, run: ScenarioRun) -> bool:
        observed = [a for a in run.all_attempts() if a.probe is None and a.target is not None]
        if not observed:
            return True
        home = run.ws.namespaces.get(PAYMENTS)  # kubelet cells' namespace
        self.ready = run.ws.cluster.pods_ready(home) if home else {}
        app = run.source(AppLog)
        app.read(run)  # again: AppLog is not polled once its own requests arrived
        return all(self._requests(app, a) > 0 for a in observed
                   if run.expectation(a.cell).verdict == "allowed")

    @staticmethod
    def _requests(app: AppLog, a: Attempt) -> int:
        assert a.target is not None
        return evidence.kubelet_requests(app.lines.get(a.target.name, []),
                                         a.cell.request.path)

    def judge(self, run: ScenarioRun, a: Attempt, exp: Expectation) -> list[evidence.Check]:
        if a.probe is not None or a.target is None:
            return []
        checks = evidence.check_kubelet(exp, a.target.name, a.cell.request.path,
                                        self._requests(run.source(AppLog), a),
                                        self.ready.get(a.target.name))
        port = a.cell.request.port
        host_flows = [f for f in run.source(Flows).flows
                      if f.destination.ip == a.target.ip and f.destination.port == port
                      and (f.source.identity == 1 or "reserved:host" in f.source.labels)]
        drops = [f for f in host_flows if f.verdict == "DROPPED"]
        hubble = evidence.Check(
            "hubble", not drops, "no DROPPED flow from the host",
            f"{len(host_flows)} host flow(s), {len(drops)} dropped", host_flows)
        return [*checks, hubble] if exp.verdict == "allowed" else checks
