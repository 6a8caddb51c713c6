"""The upgrade run: FROM -> TO one minor at a time, each step validated.

Per step: the static check (a blocking finding stops the chain before anything changes),
the cells at the old release (baseline), the upgrade under the disruption watch, the cells
at the new release; every cell whose outcome moved must be one the static model diff
predicted. The procedure follows Cilium's upgrade guide (Documentation/operations/
upgrade.rst): the latest patch of the current minor first, then one minor at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from conformance.model import PolicySet, evaluate
from conformance.model.version import parse_version
from conformance.upgrade.static import CheckInputError, ProbeGroup, StaticReport, check
from conformance.upgrade.watch import Budget, WatchReport, WatchSpec

ROLLBACK = "helm rollback cilium --namespace kube-system"  # upgrade.rst, "Rolling Back"
CellOutcome = tuple[str, str | None]


class Target(Protocol):
    kind: str

    @property
    def version(self) -> str: ...

    def cells(self, groups: Sequence[ProbeGroup]) -> dict[tuple[str, str], CellOutcome]: ...

    def upgrade(self, to_version: str, spec: WatchSpec, budget: Budget) -> WatchReport: ...


def version_key(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.lstrip("v").split(".") if p.isdigit())


def chain(old: str, new: str, releases: Sequence[str]) -> list[tuple[str, str]]:
    """The steps from `old` to `new` through the catalogue's `releases` (X.Y.Z): to the
    latest known patch of the current minor first, then each minor's release in turn."""
    a, b = parse_version(old), parse_version(new)
    if version_key(new) < version_key(old):
        raise CheckInputError(f"--to {new} is older than --from {old}: a rollback is "
                              f"`{ROLLBACK} <REVISION>`, not an upgrade")
    latest: dict[tuple[int, int], str] = {}
    for r in sorted(releases, key=version_key):
        latest[parse_version(r)] = r
    steps, current = [], old
    if a < b and a in latest and version_key(current) < version_key(latest[a]):
        steps.append((current, latest[a]))
        current = latest[a]
    for minor in sorted(m for m in latest if a < m <= b):
        target = new if minor == b else latest[minor]
        steps.append((current, target))
        current = target
    if a == b and version_key(new) > version_key(old):
        steps.append((old, new))
    missing = [f"{b[0]}.{m}" for m in range(a[1] + 1, b[1]) if (b[0], m) not in latest]
    if missing:
        raise CheckInputError(f"no release of Cilium {', '.join(missing)} in the catalogue: "
                              "an upgrade goes one minor at a time")
    return steps


@dataclass
class StepReport:
    old: str
    new: str
    static: StaticReport
    changed: list[dict[str, Any]] = field(default_factory=list)
    unpredicted: list[str] = field(default_factory=list)
    watch: WatchReport | None = None
    failures: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"from": self.old, "to": self.new, "static": self.static.to_json(),
                "changed_cells": self.changed, "unpredicted": self.unpredicted,
                "watch": self.watch.to_json() if self.watch else None,
                "failures": self.failures}


@dataclass
class UpgradeReport:
    cluster: str
    old: str
    new: str
    fault: str | None
    steps: list[StepReport] = field(default_factory=list)
    plan: list[tuple[str, str]] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        return [f"{s.old} -> {s.new}: {f}" for s in self.steps for f in s.failures]

    @property
    def passed(self) -> bool:
        return not self.failures and len(self.steps) == len(self.plan)

    def to_json(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "from": self.old, "to": self.new,
                "fault": self.fault, "plan": [list(p) for p in self.plan],
                "passed": self.passed, "failures": self.failures,
                "rollback": None if self.passed else ROLLBACK,
                "steps": [s.to_json() for s in self.steps]}


def check_watch(spec: WatchSpec, old: str, new: str) -> None:
    """Each watched path must be what watch.yaml says at both releases, or a pass through
    it would prove nothing."""
    policies = PolicySet.from_documents(list(spec.policies), "watch.yaml")
    for path in (*spec.paths, *spec.streams):
        for version in (old, new):
            allowed = evaluate(policies, path.probe, version).verdict == "allowed"
            if allowed != (path.expect == "allowed"):
                raise CheckInputError(f"watch.yaml: path {path.name} is not {path.expect} on "
                                      f"Cilium {version}")


def run_step(target: Target, new: str, groups: Sequence[ProbeGroup], spec: WatchSpec,
             budget: Budget) -> StepReport:
    old = target.version
    step = StepReport(old, new, check(groups, old, new))
    if step.static.blocking:
        step.failures.append(f"the static check blocks this step ({len(step.static.invalid)} "
                             "invalid document(s), blocking findings): nothing was upgraded")
        return step
    check_watch(spec, old, new)
    baseline = target.cells(groups)
    step.watch = target.upgrade(new, spec, budget)
    step.failures.extend(step.watch.failures)
    after = target.cells(groups)
    predicted = step.static.changed_cells()
    for key in sorted(baseline):
        if baseline[key] == after.get(key):
            continue
        ok = key in predicted
        step.changed.append({"scenario": key[0], "cell": key[1], "before": list(baseline[key]),
                             "after": list(after.get(key) or ()), "predicted": ok})
        if not ok:
            step.unpredicted.append(f"{key[0]}: {key[1]}")
            step.failures.append(f"cell {key[0]}: '{key[1]}' changed from "
                                 f"{'/'.join(filter(None, baseline[key]))} to "
                                 f"{'/'.join(filter(None, after.get(key) or ()))}, which the "
                                 "model did not predict")
    for key in sorted(predicted & set(baseline)):
        if baseline[key] == after.get(key):
            step.failures.append(f"cell {key[0]}: '{key[1]}': the model predicted a change, "
                                 f"the cluster still shows {'/'.join(filter(None, after[key]))}")
    return step


def run_upgrade(target: Target, new: str, releases: Sequence[str],
                groups: Sequence[ProbeGroup], spec: WatchSpec, budget: Budget,
                fault: str | None = None) -> UpgradeReport:
    """Every step of the chain to `new`, stopping at the first that fails (the cluster is
    left as it is)."""
    report = UpgradeReport(target.kind, target.version, new, fault)
    report.plan = chain(target.version, new, releases)
    for _old, to in report.plan:
        step = run_step(target, to, groups, spec, budget)
        report.steps.append(step)
        if step.failures:
            break
    return report
