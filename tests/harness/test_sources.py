"""Evidence sources are pluggable: the README's worked example, taken from the README,
registered and run against the emulated cluster; and the one polling loop's deadline."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from conformance.harness import sources
from conformance.harness.batch import ScenarioRun
from conformance.harness.cluster import FlowFollower, PodInfo
from conformance.harness.planning import RunOptions, new_workspace
from conformance.harness.sources import Client, Flows, Quiet
from conformance.harness.verdicts import gather, judge_cell
from conformance.scenarios import test_l7_http
from tests.harness.test_batch import Recorder
from tests.support.emulated import Emulators

README = Path(__file__).resolve().parents[2] / "README.md"
GRACE_S = 1.0  # the flow grace of the deadline test
SLACK_S = 10.0  # start-up and clean-up around the wait, on a loaded machine


def readme_example() -> type:
    """The Readiness source exactly as the README's "Adding an evidence source" shows it."""
    text = README.read_text()
    section = text[text.index("### Adding an evidence source"):]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, "the README's worked example is gone"
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), "README.md", "exec"), namespace)
    example: type = namespace["Readiness"]
    return example


def with_example(monkeypatch: pytest.MonkeyPatch) -> type:
    readiness = readme_example()
    # The registration the README shows: one more entry in SOURCES.
    monkeypatch.setattr(sources, "SOURCES", (*sources.SOURCES, readiness))
    return readiness


def run(cluster: Any, tmp: Path) -> ScenarioRun:
    r = ScenarioRun(test_l7_http.SCENARIO, new_workspace(cluster, "gw7",
                                                         RunOptions(flow_grace=5, artifacts=tmp)))
    gather(r)
    return r


def test_the_readme_example_source_judges_every_probed_cell(
        tmp_path: Path, emulated: Emulators, monkeypatch: pytest.MonkeyPatch) -> None:
    readiness = with_example(monkeypatch)
    r = run(Recorder(emulated.cluster()), tmp_path)
    assert isinstance(r.sources[-1], readiness)
    for cell in test_l7_http.SCENARIO.cells:
        assert judge_cell(r, cell) is None
        ready = [c for _, checks in r.judged[cell.id] for c in checks if c.kind == "ready"]
        assert len(ready) == len(r.attempts[cell.id]) and all(c.ok for c in ready)
    assert "account-service" in (tmp_path / "l7-http" / "ready.json").read_text()


class NotReadyAfterProbes(Recorder):
    """Every pod reports not Ready once the probes went out."""

    def pods_ready(self, namespace: str) -> dict[str, bool]:
        ready = self.inner.pods_ready(namespace)
        return {pod: "run_probes" not in self.calls for pod in ready}


def test_the_readme_example_source_fails_cells_with_its_check(
        tmp_path: Path, emulated: Emulators, monkeypatch: pytest.MonkeyPatch) -> None:
    with_example(monkeypatch)
    r = run(NotReadyAfterProbes(emulated.cluster()), tmp_path)
    message = judge_cell(r, test_l7_http.SCENARIO.cells[0])
    assert message is not None
    assert re.search(r"FAIL ready\s+expected: account-service-\S+ Ready after the probes", message)
    assert "observed: Ready=False" in message and "ok   hubble" in message


class NeverArrives(Quiet):
    name = "never"

    def __init__(self) -> None:
        self.rounds = 0
        self.stopped = 0

    def arrived(self, run: ScenarioRun) -> bool:
        self.rounds += 1
        return False

    def stop(self, run: ScenarioRun) -> None:
        self.stopped += 1


def test_one_polling_loop_with_one_deadline(tmp_path: Path, emulated: Emulators) -> None:
    ws = new_workspace(emulated.cluster(), "gw7", RunOptions(flow_grace=GRACE_S,
                                                             artifacts=tmp_path))
    never = NeverArrives()
    r = ScenarioRun(test_l7_http.SCENARIO, ws, sources=[Client(), Flows(), never])
    start = time.monotonic()
    gather(r)
    assert GRACE_S <= r.timings.evidence_wait_s < GRACE_S + SLACK_S
    assert time.monotonic() - start < r.timings.realize_s + GRACE_S + SLACK_S
    assert never.rounds >= 2 and never.stopped == 1
    assert r.source(Flows).follower is None  # stopped: the relay stream is closed


class StartFails(Quiet):
    name = "start-fails"

    def start(self, run: ScenarioRun) -> None:
        raise RuntimeError("the source could not start")


class Follower(Recorder):
    closed: int = 0

    def follow_flows(self, namespaces: list[str]) -> FlowFollower:
        inner = self.inner.follow_flows(namespaces)
        outer = self

        class Counted:
            def lines(self) -> list[str]:
                return inner.lines()

            def error(self) -> str | None:
                return inner.error()

            def close(self) -> None:
                outer.closed += 1
                inner.close()

        return Counted()

    def run_probes(self, pod: PodInfo, probes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        raise AssertionError("no probe may go out when a source failed to start")


def test_a_source_that_fails_to_start_stops_the_others_and_sends_nothing(
        tmp_path: Path, emulated: Emulators) -> None:
    cluster = Follower(emulated.cluster())
    ws = new_workspace(cluster, "gw7", RunOptions(flow_grace=GRACE_S, artifacts=tmp_path))
    r = ScenarioRun(test_l7_http.SCENARIO, ws, sources=[Flows(), StartFails()])
    with pytest.raises(RuntimeError, match="could not start"):
        r.execute()
    assert cluster.closed == 1 and "delete" in cluster.calls  # the policies are gone too


def runtime_imports(path: Path) -> set[str]:
    """Modules a file imports when it runs (not those under `if TYPE_CHECKING:`)."""
    import ast

    tree = ast.parse(path.read_text())
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
                   for n in ast.walk(node)}
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            out |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return out


def test_the_batch_returns_verdicts_and_writes_nothing() -> None:
    harness = README.parent / "conformance" / "harness"
    batch = runtime_imports(harness / "batch.py")
    assert not {m for m in batch if m.endswith(".report") or m == "pytest"}, batch
    assert "conformance.harness.batch" not in runtime_imports(harness / "report.py")
