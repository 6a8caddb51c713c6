"""The upgrade run against the emulated cluster, in-process on a virtual clock: the plane
(clusters/emulated/controlplane.py) at the old release, a rolling agent upgrade
(clusters/emulated/rollout.py) sampled by the disruption watch, then the new release.

Simpler than the live run, and said here: the cells before and after are decided by the
plane's datapath decider (the one its `run_probes` uses, with the run's fault), not sent
through the API by the pytest suite; the watch decides each sample the same way."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import TextIO

from clusters.emulated.api import (
    WORKER_NODES,
    AgentRollout,
    ControlPlane,
    StaticPolicies,
    UnknownFault,
    check_fault,
    versions,
)
from conformance.model.loader import load_documents
from conformance.upgrade.run import UpgradeReport, chain, run_upgrade
from conformance.upgrade.static import CheckInputError, ProbeGroup, scenario_groups, versions_of
from conformance.upgrade.watch import (
    Budget,
    Sample,
    Stream,
    WatchReport,
    WatchSpec,
    Window,
    watch_spec,
)
from conformance.upgrade.watch import summarize as summarize_watch

LEAD_S = 1.0  # the watch runs this long before `helm upgrade` ...
TAIL_S = 2.0  # ... and this long after the last agent is Ready

CellOutcome = tuple[str, str | None]  # (verdict, drop reason)


class VirtualClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class SimulatedTarget:
    """One emulated cluster carried through every step of a chain."""

    kind = "simulated"

    def __init__(self, version: str, fault: str | None = None, seed: int = 0) -> None:
        self.clock = VirtualClock()
        self.plane = ControlPlane(version, fault, seed, clock=self.clock)

    @property
    def version(self) -> str:
        return str(self.plane.version)

    def cells(self, groups: Sequence[ProbeGroup]) -> dict[tuple[str, str], CellOutcome]:
        """Each cell as the emulated datapath decides it now (its decider: the agents'
        release, with the run's fault)."""
        decider = self.plane.traffic.decider
        out: dict[tuple[str, str], CellOutcome] = {}
        for group in groups:
            docs, _ = load_documents(list(group.paths))
            policies = StaticPolicies({i: d.data for i, d in enumerate(docs)
                                       if isinstance(d.data, dict)})
            for probe in group.probes:
                d = decider.decide(policies, probe)
                out[(group.name, probe.id)] = (d.verdict, d.drop_reason)
        return out

    def upgrade(self, to_version: str, spec: WatchSpec, budget: Budget) -> WatchReport:
        policies = StaticPolicies(dict(enumerate(spec.policies)))
        t0 = self.clock.now
        start = t0 + LEAD_S
        rollout = AgentRollout(self.plane, to_version, start)
        peers = {n: next(m for m in WORKER_NODES if m != n) for n in WORKER_NODES}
        streams = []
        for st in spec.streams:
            for node in WORKER_NODES:
                reset = rollout.reset_at([node, peers[node]])
                streams.append(Stream(st.name, node, None if reset is None else reset - start,
                                      tuple(rollout.restarting(reset)) if reset else ()))
        samples = []
        step = 1.0 / spec.rate_per_s
        tick = 0
        while (t := t0 + tick * step) < rollout.end + TAIL_S:
            self.clock.now = t
            down = tuple(rollout.restarting(t))
            for node in WORKER_NODES:
                for path in spec.paths:
                    dest = peers[node] if path.to_pod else None
                    outcome = rollout.decide(policies, path.probe, node, dest, t)
                    samples.append(Sample(round(t - start, 3), node, path.name, outcome, down))
            tick += 1
        rollout.finish()
        windows = [Window(w.node, w.start - start, w.end - start) for w in rollout.windows]
        return summarize_watch(spec, samples, streams, windows, budget)


def run_simulated(old: str, new: str, fault: str | None, budget: Budget,
                  groups: Sequence[ProbeGroup] | None = None,
                  log: TextIO | None = None) -> UpgradeReport:
    """The whole chain `old` -> `new` on one emulated cluster started at `old`. The
    emulator's log (every change and endpoint) goes to `log` (default: discarded)."""
    check_inputs(old, new, fault)
    with contextlib.redirect_stderr(log or io.StringIO()):
        target = SimulatedTarget(old.lstrip("v"), fault)
        return run_upgrade(target, new.lstrip("v"), versions(),
                           scenario_groups() if groups is None else groups, watch_spec(),
                           budget, fault)


def check_inputs(old: str, new: str, fault: str | None) -> None:
    """CheckInputError for what the simulated run cannot do, before anything is written."""
    try:
        check_fault(fault)
    except UnknownFault as exc:
        raise CheckInputError(f"--fault: {exc}") from None
    versions_of(old, new)
    if old.lstrip("v") not in versions():
        raise CheckInputError(f"--from {old}: the emulated cluster runs only "
                              f"{', '.join(versions())}")
    chain(old.lstrip("v"), new.lstrip("v"), versions())
