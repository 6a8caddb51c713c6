"""The upgrade run on a kind or an existing cluster: the same steps as the simulated run,
as commands. Per step the static check first (a blocking finding stops before anything is
touched), then the suite at the old release (baseline), `python -m clusters upgrade` (the
pre-flight check, helm upgrade, waits: clusters/upgrade.py) under the disruption watch
(livewatch.py), the suite at the new release; a cell that passed before and fails after is
a change the model did not predict (the suite's expectations at the new release already
carry every predicted change). A failed watch stops the run with the cluster as it is.
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
from conformance.upgrade.watch import Budget, WatchReport

Run = Callable[[list[str]], int]  # runs one command, returns its exit code
# Runs the upgrade (a callable returning its exit code) under the disruption watch.
Watcher = Callable[[Callable[[], int]], WatchReport]
UPGRADE_WHAT = "upgrade {old} -> {new} (pre-flight, helm upgrade, waits; disruption watch)"
TIMEOUT_EXIT = 124  # the upgrade command's exit code when it was killed at the deadline


def run_bounded(argv: list[str], timeout_s: float) -> int:
    """Run one command; killed at `timeout_s` (subprocess.run kills the child on
    TimeoutExpired) rather than left running after the watch gave up on it."""
    try:
        return subprocess.run(argv, check=False, timeout=timeout_s).returncode
    except subprocess.TimeoutExpired:
        return TIMEOUT_EXIT


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
        out.append((UPGRADE_WHAT.format(old=old, new=new),
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


def cluster_watcher(args: argparse.Namespace, budget: Budget,
                    out: Callable[[str], object]) -> Watcher:
    """The live watch on the run's cluster (the same guard as the suite's for existing
    clusters: it creates a namespace and policies there)."""
    def watch(upgrade: Callable[[], int]) -> WatchReport:
        from conformance.harness.kube import KubeCluster
        from conformance.harness.session import guard_existing
        from conformance.upgrade.livewatch import live_watch
        from conformance.upgrade.watch import watch_spec

        if args.cluster == "existing":
            guard_existing(args.kubeconfig, args.context, args.allow_existing_cluster)
        cluster = KubeCluster.connect(args.kubeconfig, args.context)
        try:
            return live_watch(cluster, upgrade, watch_spec(), budget,
                              log=lambda text: out(f"watch: {text}\n"))
        finally:
            cluster.close()
    return watch


def _watched_upgrade(watcher: Watcher, runner: Run, argv: list[str],
                     step: StepReport) -> int | None:
    """Run the upgrade command under the watch; its exit code (None: it never ran, the
    step's failures say why)."""
    from conformance.harness.cluster import ClusterError
    from conformance.harness.session import PreflightError

    codes: list[int] = []

    def upgrade() -> int:
        codes.append(runner(argv))
        return codes[-1]

    try:
        step.watch = watcher(upgrade)
    except (ClusterError, PreflightError) as err:
        step.failures.append(f"the disruption watch failed: {err}")
    else:
        step.failures.extend(step.watch.failures)
    if not codes and not step.failures:
        step.failures.append("the watch ended without running the upgrade")
    return codes[0] if codes else None


def run_live(args: argparse.Namespace, budget: Budget, run: Run | None = None,
             out: Callable[[str], object] = sys.stdout.write,
             watcher: Watcher | None = None) -> int:
    report_dir = Path(args.report)
    commands = plan(args, report_dir)
    if args.plan_only:
        for what, argv in commands:
            out(f"# {what}\n{shlex.join(argv)}\n")
        return 0
    runner = run or (lambda argv: subprocess.run(argv, check=False).returncode)
    from conformance.upgrade.livewatch import Options

    deadline_s = Options.rollout_timeout_s  # the watch's own deadline for the command
    upgrade_runner = run or (lambda argv: run_bounded(argv, deadline_s))
    watch = watcher or cluster_watcher(args, budget, out)
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
            ran = _watched_upgrade(watch, upgrade_runner, argv, current)
            if ran not in (0, None):
                current.failures.insert(0, f"{what}: exit {ran}")
            if current.failures:
                return _finish(report, report_dir, out)
            continue
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

