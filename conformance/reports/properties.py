"""The properties of one cell's test case: what JUnit readers (CI platforms) show, and what
the report plugin reads back in the controller (xdist ships `user_properties` with each
report). Setup properties name the cell; the verdict properties say how it was judged."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conformance.reports.model import EVIDENCE_KINDS

if TYPE_CHECKING:
    from conformance.harness.batch import ScenarioRun
    from conformance.harness.spec import Cell, Scenario

Properties = list[tuple[str, str]]


def setup_properties(scenario: Scenario, cell: Cell) -> Properties:
    return [("scenario", scenario.name), ("scenario_title", scenario.title),
            ("cell", cell.id), ("source", cell.source.label()),
            ("request", cell.request.label()), ("expected", cell.expect.label())]


def verdict_properties(run: ScenarioRun, cell: Cell) -> Properties:
    """The model's verdict on this cluster, each evidence kind's outcome (`evidence.hubble`
    = ok|fail), `evidence` = agrees or the kinds that disagreed, and where the evidence is."""
    from conformance.harness import report

    props: Properties = [("verdict", run.expectation(cell).verdict)]
    judged = run.judged.get(cell.id)
    if judged is None:  # skipped, or a model disagreement: nothing was judged
        return props
    outcome: dict[str, str] = {}
    for _, checks in judged:
        for check in checks:
            good = check.ok and outcome.get(check.kind, "ok") == "ok"
            outcome[check.kind] = "ok" if good else "fail"
    props += [(f"evidence.{k}", outcome[k]) for k in EVIDENCE_KINDS if k in outcome]
    failed = [k for k, v in outcome.items() if v == "fail"]
    props.append(("evidence", "disagrees: " + ", ".join(failed) if failed else "agrees"))
    folder = report.cell_dir(run, cell)
    if folder is not None:
        props.append(("artifacts", folder.name))
    props.append(("time_to_enforce_s", f"{run.timings.realize_s:.3f}"))
    return props
