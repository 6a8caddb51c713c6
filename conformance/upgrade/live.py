"""The upgrade run on a kind or an existing cluster: the same steps as the simulated run,
as commands. Per step the static check first (a blocking finding stops before anything is
touched), then the suite at the old release (baseline), `python -m clusters upgrade` (the
pre-flight check, helm upgrade, waits: clusters/upgrade.py), the suite at the new release;
a cell that passed before and fails after is a change the model did not predict (the
suite's expectations at the new release already carry every predicted change).

Not done here (said in the report): the disruption watch during the live rollout.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from conformance.upgrade.report import summary, write
from conformance.upgrade.run import StepReport, UpgradeReport, chain
from conformance.upgrade.static import check, scenario_groups
from conformance.upgrade.watch import Budget

NO_LIVE_WATCH = ("the disruption watch runs only on the simulated cluster so far; this live "
                 "run checked the pre-flight validation, readiness and the cells before and "
                 "after each step")
Run = Callable[[list[str]], int]  # runs one command, returns its exit code


def _cluster_flags(args: argparse.Namespace) -> list[str]:
    out = [f"--kubeconfig={args.kubeconfig}"] if args.kubeconfig else []
    out += [f"--context={args.context}"] if args.context else []
    return out + (["--allow-existing-cluster"] if args.allow_existing_cluster else [])


def suite_argv(args: argparse.Namespace, version: str, report: Path) -> list[str]:
    return [sys.executable, "-m", "pytest", "conformance/scenarios", f"--cluster={args.cluster}",
            f"--cilium-version={version}", "-n", "auto", "--dist", "loadscope",
            f"--junitxml={report / f'junit-{version}.xml'}",
            f"--artifacts={report / f'artifacts-{version}'}", *_cluster_flags(args)]


def plan(args: argparse.Namespace, report: Path) -> list[tuple[str, list[str]]]:
    """(what, argv) in order: what `nox -s upgrade` runs for this version pair."""
    from conformance.vocabulary.catalogue import load_catalogue

    steps = chain(args.from_version, args.to_version, list(load_catalogue().releases))
    out: list[tuple[str, list[str]]] = []
    if args.cluster == "kind":
        out.append((f"provision at {args.from_version}",
                    [sys.executable, "-m", "clusters", "up",
                     f"--cilium-version={args.from_version}"]))
    out.append((f"baseline suite at {args.from_version}",
                suite_argv(args, args.from_version, report)))
    for old, new in steps:
        out.append((f"upgrade {old} -> {new} (pre-flight, helm upgrade, waits)",
                    [sys.executable, "-m", "clusters", "upgrade", f"--to={new}",
                     *_cluster_flags(args)]))
        out.append((f"suite at {new}", suite_argv(args, new, report)))
    return out


def cell_results(junit: Path) -> dict[str, bool]:
    """test id -> passed, from a pytest JUnit report (skipped cells are left out)."""
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        if case.find("skipped") is not None:
            continue
        bad = case.find("failure") is not None or case.find("error") is not None
        out[f"{case.get('classname')}::{case.get('name')}"] = not bad
    return out


def run_live(args: argparse.Namespace, budget: Budget, run: Run | None = None,
             out: Callable[[str], object] = sys.stdout.write) -> int:
    report_dir = Path(args.report)
    commands = plan(args, report_dir)
    if args.plan_only:
        for what, argv in commands:
            out(f"# {what}\n{shlex.join(argv)}\n")
        return 0
    runner = run or (lambda argv: subprocess.run(argv, check=False).returncode)
    report = UpgradeReport(args.cluster, args.from_version, args.to_version, None)
    from conformance.vocabulary.catalogue import load_catalogue

    report.plan = chain(args.from_version, args.to_version, list(load_catalogue().releases))
    groups = scenario_groups()
    steps = [StepReport(o, n, check(groups, o, n)) for o, n in report.plan]
    blocked = [s for s in steps if s.static.blocking]
    if blocked:
        blocked[0].failures.append("the static check blocks this step: nothing was run")
        report.steps = blocked[:1]
        return _finish(report, report_dir, out)
    before: dict[str, bool] = {}
    step_iter = iter(steps)
    current: StepReport | None = None
    for what, argv in commands:
        if what.startswith("upgrade "):
            current = next(step_iter)
            report.steps.append(current)
            current.static.notes.append(NO_LIVE_WATCH)
        code = runner(argv)
        is_suite = "suite at" in what
        junit = Path(next(a.split("=", 1)[1] for a in argv if a.startswith("--junitxml="))) \
            if is_suite else None
        if not is_suite and code != 0:
            _fail(report, current, f"{what}: exit {code}")
            return _finish(report, report_dir, out)
        if junit is None:
            continue
        if not junit.is_file():
            _fail(report, current, f"{what}: no JUnit report (exit {code})")
            return _finish(report, report_dir, out)
        results = cell_results(junit)
        if current is None:  # the baseline: cells that fail before are not the upgrade's
            before = results
            continue
        for cell, passed in sorted(results.items()):
            if before.get(cell) and not passed:
                current.unpredicted.append(cell)
                current.failures.append(f"cell {cell} passed at {current.old} and fails at "
                                        f"{current.new}: a change the model did not predict")
        if current.failures:
            return _finish(report, report_dir, out)
        before = results
    return _finish(report, report_dir, out)


def _fail(report: UpgradeReport, step: StepReport | None, text: str) -> None:
    if step is None:  # before the first upgrade: a baseline problem, no step to blame
        step = StepReport(report.old, report.old, check([], report.old, report.old))
        report.steps.append(step)
    step.failures.append(text)


def _finish(report: UpgradeReport, directory: Path, out: Callable[[str], object]) -> int:
    data, _ = write(report, directory)
    out(summary(report))
    out(f"report: {data}\n")
    return 0 if report.passed else 1

