"""The live upgrade run (kind / existing): its plan per version pair, and how it judges the
suites' JUnit reports, against a recording runner (no cluster; the watch there only runs
the upgrade: tests/upgrade/test_live_watch.py runs the real one), and once end to end on
the emulated cluster through the real client, the watch included."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from clusters.emulated.process import EmulatorProcess
from conformance.harness.kube import KubeCluster
from conformance.upgrade.__main__ import build_parser
from conformance.upgrade.live import plan, run_live
from conformance.upgrade.watch import Budget, WatchReport, summarize, watch_spec
from tests.support.emulated import helm_like_upgrade

PY = sys.executable
CELL = "conformance.scenarios.test_l7_http::test_l7_http[payment-processor GET /a => allowed]"


def args_for(tmp: Path, *argv: str) -> argparse.Namespace:
    return build_parser().parse_args([*argv, "--report", str(tmp)])


def suite(tmp: Path, cluster: str, version: str, *flags: str) -> list[str]:
    return [PY, "-m", "pytest", "conformance/scenarios", f"--cluster={cluster}",
            f"--cilium-version={version}", "-n", "auto", "--dist", "loadscope",
            f"--junitxml={tmp}/junit-{version}.xml", f"--artifacts={tmp}/artifacts-{version}",
            *flags]


@pytest.mark.parametrize(("old", "new"), [("1.18.12", "1.19.6"), ("1.19.6", "1.20.0")])
def test_kind_plan_per_version_pair(tmp_path: Path, old: str, new: str) -> None:
    got = plan(args_for(tmp_path, "--from", old, "--to", new), tmp_path)
    assert [argv for _, argv in got] == [
        [PY, "-m", "clusters", "up", f"--cilium-version={old}"],
        suite(tmp_path, "kind", old),
        [PY, "-m", "clusters", "upgrade", f"--to={new}"],
        suite(tmp_path, "kind", new),
    ]


def upgrade_only(upgrade: Callable[[], int]) -> WatchReport:
    """A watcher for runs without a cluster: runs the upgrade, watches nothing."""
    upgrade()
    return summarize(watch_spec(), [], [], [], Budget())


@pytest.mark.parametrize(("old", "new"), [("1.18.12", "1.19.6"), ("1.19.6", "1.20.0")])
def test_existing_plan_per_version_pair_keeps_the_guard(tmp_path: Path, old: str,
                                                        new: str) -> None:
    flags = ("--kubeconfig=/k", "--context=kind-lab")
    got = plan(args_for(tmp_path, "--cluster", "existing", "--from", old, "--to", new,
                        "--kubeconfig", "/k", "--context", "kind-lab"), tmp_path)
    assert [argv for _, argv in got] == [
        suite(tmp_path, "existing", old, *flags),
        [PY, "-m", "clusters", "upgrade", f"--to={new}", *flags],
        suite(tmp_path, "existing", new, *flags),
    ]


def test_a_chain_validates_each_step(tmp_path: Path) -> None:
    got = plan(args_for(tmp_path, "--from", "1.18.12", "--to", "1.20.0"), tmp_path)
    assert [what for what, _ in got] == [
        "provision at 1.18.12", "baseline suite at 1.18.12",
        "upgrade 1.18.12 -> 1.19.6 (pre-flight, helm upgrade, waits; disruption watch)",
        "suite at 1.19.6",
        "upgrade 1.19.6 -> 1.20.0 (pre-flight, helm upgrade, waits; disruption watch)",
        "suite at 1.20.0"]


def junit(path: Path, failing: bool) -> None:
    classname, name = CELL.split("::")
    body = '<failure message="FAIL client"/>' if failing else ""
    path.write_text(f'<testsuites><testsuite><testcase classname="{classname}" '
                    f'name="{name}">{body}</testcase></testsuite></testsuites>')


class Recorder:
    def __init__(self, fail_after: bool = False, upgrade_exit: int = 0) -> None:
        self.calls: list[list[str]] = []
        self.fail_after, self.upgrade_exit = fail_after, upgrade_exit

    def __call__(self, argv: list[str]) -> int:
        self.calls.append(argv)
        report = next((a.split("=", 1)[1] for a in argv if a.startswith("--junitxml=")), None)
        if report:
            baseline = "--cilium-version=1.19.6" in argv
            junit(Path(report), failing=self.fail_after and not baseline)
            return 0
        return self.upgrade_exit if "upgrade" in argv else 0


def test_a_live_run_passes_when_the_cells_hold(tmp_path: Path) -> None:
    rec, said = Recorder(), []
    code = run_live(args_for(tmp_path, "--from", "1.19.6", "--to", "1.20.0"), Budget(), rec,
                    said.append, upgrade_only)
    assert code == 0 and len(rec.calls) == 4
    data = json.loads((tmp_path / "upgrade-report.json").read_text())
    assert data["steps"][0]["watch"]["failures"] == []


def test_a_cell_that_breaks_after_the_upgrade_fails_the_run_by_name(tmp_path: Path) -> None:
    rec, said = Recorder(fail_after=True), []
    code = run_live(args_for(tmp_path, "--from", "1.19.6", "--to", "1.20.0"), Budget(), rec,
                    said.append, upgrade_only)
    text = "".join(said)
    assert code == 1 and CELL in text and "did not predict" in text
    assert "helm rollback cilium" in text


def test_a_failed_upgrade_stops_and_leaves_the_cluster(tmp_path: Path) -> None:
    rec, said = Recorder(upgrade_exit=6), []
    code = run_live(args_for(tmp_path, "--from", "1.18.12", "--to", "1.20.0"), Budget(), rec,
                    said.append, upgrade_only)
    assert code == 1
    assert [c[3] for c in rec.calls if c[2] == "clusters"] == ["up", "upgrade"]
    assert ("upgrade 1.18.12 -> 1.19.6 (pre-flight, helm upgrade, waits; disruption watch): "
            "exit 6") in "".join(said)
    assert not any("down" in c for c in rec.calls)


def test_plan_only_prints_and_runs_nothing(tmp_path: Path) -> None:
    said: list[str] = []
    rec = Recorder()
    args = args_for(tmp_path, "--from", "1.19.6", "--to", "1.20.0", "--plan-only")
    assert run_live(args, Budget(), rec, said.append, upgrade_only) == 0
    assert rec.calls == [] and "# upgrade 1.19.6 -> 1.20.0" in "".join(said)


@pytest.mark.parametrize(("fault", "passes"), [(None, True), ("upgrade-fail-open", False)])
def test_end_to_end_on_the_emulated_cluster(tmp_path: Path, fault: str | None,
                                            passes: bool) -> None:
    """The whole live run on the emulated cluster through the real client: the suites are
    recorded, the upgrade command is the DaemonSet's new image through the API, the watch
    is the real one. A fail-open during the rollout fails the step, prints the rollback
    and runs no suite after it."""
    em = EmulatorProcess(fault=fault, cilium_version="1.19.6", agent_restart_s=1.5)
    client = KubeCluster.connect(em.kubeconfig, em.context)
    try:
        rec, said = Recorder(), []
        upgrade = helm_like_upgrade(client, "1.20.0")

        def run(argv: list[str]) -> int:
            return upgrade() if "upgrade" in argv else rec(argv)

        args = args_for(tmp_path, "--cluster", "existing", "--from", "1.19.6", "--to",
                        "1.20.0", "--kubeconfig", em.kubeconfig, "--context", em.context,
                        "--allow-existing-cluster")
        code = run_live(args, Budget(), run, said.append)
    finally:
        client.close()
        em.stop()
    data = json.loads((tmp_path / "upgrade-report.json").read_text())
    watch = data["steps"][0]["watch"]
    assert len(watch["windows"]) == 3 and set(watch["counts"]) == {"sim-worker", "sim-worker2"}
    text = "".join(said)
    if passes:
        assert code == 0 and data["passed"] and len(rec.calls) == 2, text
    else:
        assert code == 1 and not data["passed"] and data["rollback"].startswith("helm rollback")
        assert "fail-open: denied path" in text and "helm rollback cilium" in text
        assert len(rec.calls) == 1  # the baseline; nothing after the failed step
