"""Failure messages and artifacts: what a reader needs to see why a cell failed.

A message shows, per attempt, expected vs observed for the client, Hubble and metrics,
then the flows that matched the attempt. Artifacts per scenario: the rendered policies,
every Hubble line as received, the account-service access-log lines of the batch
(app-log.jsonl), raw metric scrapes before/after; per cell: probes.json
(probe, expectation, prober request and result), then what each evidence source writes
(flows.jsonl: the matched raw lines; metrics.json: the cell's counters before/after/delta).
The batch only returns verdicts; the caller (verdicts.py) has them written here.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from conformance.harness.batch import CellVerdict, ScenarioRun
    from conformance.harness.spec import Cell

MAX_FLOWS_SHOWN = 12
# Written into every scenario folder the suite creates; only a folder carrying it is
# ever emptied (`--artifacts ~` must not delete `~/grpc`).
MARKER = ".zt-conformance-artifacts"


class ArtifactsError(RuntimeError):
    """An artifacts folder the suite did not write is in the way; names it."""


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", text).strip("_")[:150]


def failure_message(run: ScenarioRun, verdict: CellVerdict) -> str:
    cell, exp, judged = verdict.cell, run.expectation(verdict.cell), verdict.judged
    lines = [
        f"{run.scenario.name}: {cell.id}",
        f"  model: {exp.verdict}"
        + (f" {exp.drop_reason} {exp.direction}" if exp.drop_reason else "")
        + f" — {exp.explanation}",
    ]
    if cell.why:
        lines.append(f"  spec: {cell.why}")
    for n, (attempt, checks) in enumerate(judged, 1):
        where = []
        if attempt.target is not None:
            where.append(f"to {attempt.target.name} on {attempt.target.node}")
        if attempt.path_kind():
            where.append(attempt.path_kind())
        lines.append(f"  attempt {n}/{len(judged)} id={attempt.id} {' '.join(where)}".rstrip())
        for check in checks:
            mark = "ok  " if check.ok else "FAIL"
            lines.append(f"    {mark} {check.kind:<7} expected: {check.expected}")
            lines.append(f"         {'':<7} observed: {check.observed}")
        flows = next((c.flows for c in checks if c.kind == "hubble"), [])
        if flows:
            lines.append("    matching flows:")
            lines.extend(f"      {f.summary()}" for f in flows[:MAX_FLOWS_SHOWN])
            if len(flows) > MAX_FLOWS_SHOWN:
                lines.append(f"      ... {len(flows) - MAX_FLOWS_SHOWN} more")
    folder = cell_dir(run, cell)
    if folder is not None:
        lines.append(f"  artifacts: {folder}")
    return "\n".join([*lines, *verdict.problems])


def cell_dir(run: ScenarioRun, cell: Cell) -> Path | None:
    root = run.artifacts_dir()
    if root is None:
        return None
    grouped = getattr(cell, "artifact_dir", None)  # own-policies cells: per policy
    if isinstance(grouped, str):
        return root / grouped
    index = run.scenario.cells.index(cell)
    return root / f"{index:02d}-{slug(cell.id)}"


def write_scenario(run: ScenarioRun) -> None:
    """The rendered policies, the run's facts and timings, then each evidence source's
    own files (sources/)."""
    root = run.artifacts_dir()
    if root is None:
        return
    prepare(root)
    (root / "policies.yaml").write_text(yaml.safe_dump_all(run.rendered, sort_keys=False))
    (root / "run.json").write_text(json.dumps({
        "scenario": run.scenario.name,
        "worker": run.ws.worker,
        "run": run.ws.run,
        "namespaces": run.ws.namespaces,
        "cilium_version": run.ws.facts.cilium_version,
        "timings_s": asdict(run.timings),
        "skipped_cells": run.skipped_cells,
    }, indent=2))
    for source in run.sources:
        source.write(run, root)
    run.write_own_artifacts(root)


def check_ours(root: Path | None) -> None:
    """Raise ArtifactsError unless `root` is absent or a folder the suite wrote."""
    if root is None:
        return
    if root.is_symlink() or (root.exists() and not (root / MARKER).is_file()):
        raise ArtifactsError(
            f"refusing to write evidence into {root}: it exists and was not written by "
            f"the suite (no {MARKER} in it); choose another --artifacts directory or "
            "move that folder away")


def prepare(root: Path) -> None:
    """An empty scenario folder carrying the marker. Our own output of an earlier run is
    removed (no stale cells; tolerant, as another run may share the directory, then the
    last writer wins, file by file); a folder without the marker is refused."""
    check_ours(root)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("written by zt-conformance; emptied at each run\n")


def write_cell(run: ScenarioRun, verdict: CellVerdict) -> None:
    """probes.json (the probe, expectation, each attempt's request, result and checks),
    then each evidence source's files for the cell."""
    cell = verdict.cell
    folder = cell_dir(run, cell)
    if folder is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    probes: dict[str, Any] = {
        "cell": cell.id,
        "probe": _probe_json(cell),
        "written": asdict(cell.expect),
        "expectation": run.expectation(cell).to_json(),
        "attempts": [
            {
                "id": a.id,
                "source": a.source.name if a.source else "host",
                "target": a.target.name if a.target else None,
                "path": a.path_kind(),
                "request": a.probe,
                "result": a.result,
                "checks": [{"kind": c.kind, "ok": c.ok, "expected": c.expected,
                            "observed": c.observed} for c in checks],
            }
            for a, checks in verdict.judged
        ],
    }
    (folder / "probes.json").write_text(json.dumps(probes, indent=2, default=str))
    for source in run.sources:
        source.write_cell(run, cell, verdict.judged, folder)


def _probe_json(cell: Cell) -> dict[str, Any]:
    probe = cell.model_probe(cell.id)
    return json.loads(json.dumps(asdict(probe), default=str))  # type: ignore[no-any-return]
