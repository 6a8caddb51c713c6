"""The artifacts folder of one run, read back: scenarios, their cells and the run's facts.

Layout (written by conformance/harness/report.py and this package's plugin):
  run-facts.json            versions, options, commit, start and duration (plugin)
  results.jsonl             one line per cell: what pytest decided, and why (plugin)
  upgrade-report.json       only for an upgrade run (conformance/upgrade/report.py)
  <scenario>/run.json       worker, Cilium version, timings (realize_s = time-to-enforce)
  <scenario>/NN-<cell>/     probes.json, flows.jsonl, metrics.json of one cell
Without results.jsonl (a run killed before its end) each cell's outcome is derived from its
probes.json checks, and cells without one are `unknown`.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS = "results.jsonl"
FACTS = "run-facts.json"
REPORT = "report.html"
UPGRADE = "upgrade-report.json"  # conformance/upgrade/report.py REPORT_JSON
SCENARIO_MARKER = ".zt-conformance-artifacts"  # conformance/harness/report.py MARKER

EVIDENCE_KINDS = ("client", "app", "hubble", "metrics")
# Worst first: the order rows and scenarios are listed in.
OUTCOMES = ("failed", "error", "unknown", "skipped", "passed")
PASSING = ("passed",)
FAILING = ("failed", "error")

# Evidence files can be large; one JSON document is read up to this size.
MAX_JSON_BYTES = 32 << 20


class ReportError(Exception):
    """An artifacts folder the report cannot use; the message names the file."""


@dataclass
class CellResult:
    scenario: str
    cell: str  # the cell id, also its pytest id
    outcome: str  # one of OUTCOMES
    source: str = ""
    request: str = ""
    expected: str = ""  # the written expectation, e.g. "dropped POLICY_DENIED ingress"
    verdict: str = ""  # the model's verdict on the cluster's Cilium
    message: str = ""  # failure or skip reason as pytest reported it
    folder: str | None = None  # the cell's evidence folder, relative to the run folder
    evidence: dict[str, str] = field(default_factory=dict)  # kind -> ok | fail
    duration_s: float = 0.0
    title: str = ""  # the scenario's title

    @property
    def key(self) -> tuple[str, str]:
        return self.scenario, self.cell

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CellResult:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        cell = cls(**known)
        if cell.outcome not in OUTCOMES:
            raise ValueError(f"outcome {cell.outcome!r} is not one of {', '.join(OUTCOMES)}")
        return cell


@dataclass
class ScenarioResult:
    name: str
    title: str = ""
    cells: list[CellResult] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    worker: str = ""
    cilium_version: str = ""

    @property
    def realize_s(self) -> float | None:
        return self.timings.get("realize_s")

    def counts(self) -> Counter[str]:
        return Counter(c.outcome for c in self.cells)

    def worst(self) -> int:
        return min((OUTCOMES.index(c.outcome) for c in self.cells), default=len(OUTCOMES))


@dataclass
class RunReport:
    root: Path
    facts: dict[str, Any] = field(default_factory=dict)
    scenarios: list[ScenarioResult] = field(default_factory=list)
    upgrade: dict[str, Any] | None = None

    def cells(self) -> list[CellResult]:
        return [c for s in self.scenarios for c in s.cells]

    def counts(self) -> Counter[str]:
        return Counter(c.outcome for c in self.cells())

    def realizations(self) -> list[tuple[str, float]]:
        """(scenario, time-to-enforce) for every scenario that applied a policy, slowest first."""
        found = [(s.name, s.realize_s) for s in self.scenarios if s.realize_s]
        return sorted(((n, t) for n, t in found if t is not None), key=lambda p: -p[1])


def read_json(path: Path) -> Any:
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_JSON_BYTES + 1)
        if len(raw) > MAX_JSON_BYTES:
            raise ReportError(f"{path}: larger than {MAX_JSON_BYTES >> 20} MiB")
        return json.loads(raw)
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}: not valid JSON: {exc.msg} (line {exc.lineno})") from None


def load_run(root: Path | str) -> RunReport:
    """Read an artifacts folder; ReportError naming the file when it cannot be used."""
    root = Path(root)
    if not root.is_dir():
        raise ReportError(f"{root}: not a directory (expected a run's --artifacts folder)")
    run = RunReport(root)
    if (root / FACTS).is_file():
        run.facts = _object(read_json(root / FACTS), root / FACTS)
    if (root / UPGRADE).is_file():
        run.upgrade = _object(read_json(root / UPGRADE), root / UPGRADE)
    scenarios = {d.name: _scenario(d) for d in sorted(root.iterdir())
                 if d.is_dir() and (d / SCENARIO_MARKER).is_file()}
    results = read_results(root / RESULTS) if (root / RESULTS).is_file() else None
    if results is None:
        for scenario in scenarios.values():
            scenario.cells = _cells_from_folders(root, scenario)
    else:
        for cell in results:
            scenario = scenarios.setdefault(cell.scenario, ScenarioResult(cell.scenario))
            _fill_evidence(root, cell)
            scenario.cells.append(cell)
            scenario.title = scenario.title or cell.title
    if not scenarios and run.upgrade is None:
        raise ReportError(f"{root}: no scenario results in it (neither {RESULTS} nor "
                          f"scenario folders carrying {SCENARIO_MARKER}) and no {UPGRADE}")
    # A scenario folder an earlier run left (not run this time) has no cells: not shown.
    run.scenarios = sorted((s for s in scenarios.values() if s.cells),
                           key=lambda s: (s.worst(), s.name))
    return run


def _object(value: Any, path: Path) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ReportError(f"{path}: expected a JSON object, found {type(value).__name__}")
    return value


def _scenario(folder: Path) -> ScenarioResult:
    scenario = ScenarioResult(folder.name)
    if (folder / "run.json").is_file():
        data = _object(read_json(folder / "run.json"), folder / "run.json")
        timings = data.get("timings_s") or {}
        scenario.timings = {k: float(v) for k, v in timings.items()
                            if isinstance(v, int | float)}
        scenario.worker = str(data.get("worker", ""))
        scenario.cilium_version = str(data.get("cilium_version", ""))
        scenario.title = str(data.get("title", ""))
    return scenario


def read_results(path: Path) -> list[CellResult]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: cannot read: {exc}") from None
    cells: list[CellResult] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            cells.append(CellResult.from_json(data))
        except (ValueError, TypeError) as exc:
            raise ReportError(f"{path}: line {number}: not a cell result: {exc}") from None
    return cells


def _fill_evidence(root: Path, cell: CellResult) -> None:
    """Evidence outcomes per kind from the cell's probes.json, when it has one."""
    if not cell.folder or cell.evidence:
        return
    probes = root / cell.scenario / cell.folder / "probes.json"
    if probes.is_file():
        data = _object(read_json(probes), probes)
        cell.evidence = evidence_outcomes(data)
        cell.verdict = cell.verdict or str((data.get("expectation") or {}).get("verdict", ""))


def evidence_outcomes(probes: dict[str, Any]) -> dict[str, str]:
    """kind -> "ok" when every attempt's check of that kind held, "fail" otherwise."""
    out: dict[str, str] = {}
    for attempt in probes.get("attempts") or []:
        for check in attempt.get("checks") or []:
            kind = str(check.get("kind", ""))
            ok = bool(check.get("ok"))
            out[kind] = "ok" if ok and out.get(kind, "ok") == "ok" else "fail"
    return out


def split_cell_id(cell_id: str) -> tuple[str, str, str]:
    """(source, request, expected) from a cell id `SOURCE REQUEST => EXPECTED`
    (conformance/harness/spec.py Cell.id; a source label has no spaces)."""
    left, _, expected = cell_id.partition(" => ")
    source, _, request = left.partition(" ")
    return source, request, expected


def _cells_from_folders(root: Path, scenario: ScenarioResult) -> list[CellResult]:
    cells = []
    for folder in sorted(p for p in (root / scenario.name).iterdir() if p.is_dir()):
        probes = folder / "probes.json"
        if not probes.is_file():
            continue
        data = _object(read_json(probes), probes)
        cell_id = str(data.get("cell", folder.name))
        evidence = evidence_outcomes(data)
        source, request, expected = split_cell_id(cell_id)
        cells.append(CellResult(
            scenario.name, cell_id, "passed" if "fail" not in evidence.values() else "failed",
            source=source, request=request, expected=expected,
            verdict=str((data.get("expectation") or {}).get("verdict", "")),
            folder=folder.name, evidence=evidence))
    return cells
