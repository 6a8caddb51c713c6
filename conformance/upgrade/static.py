"""The static pre-upgrade check (no cluster): what moving Cilium FROM -> TO changes for a set
of policies and probes.

Three parts, all offline: admission of every document under the target release's CRD schema
(the same per-release data the emulated cluster admits with, clusters/emulated/crds/), the
version-aware lint (notes.py), and a model diff: each probe explained under both versions,
listed when its verdict, drop reason or client signal differs.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from conformance.model import PolicySet, Probe, evaluate
from conformance.model.expectation import Expectation
from conformance.model.loader import Document, load_documents, parse_document
from conformance.model.version import parse_version
from conformance.upgrade.notes import SEVERITIES, NoteFinding, findings

EXIT_SAME, EXIT_CHANGES, EXIT_BAD_INPUT = 0, 1, 2
COMPARED = ("verdict", "drop_reason", "client")  # what makes a probe "changed"


class CheckInputError(ValueError):
    """Input the check cannot use (versions, paths); the message names the flag or file."""


@dataclass(frozen=True)
class Invalid:
    file: str
    document: int
    name: str
    causes: tuple[str, ...]  # `field: message`, as the API server's 422 lists them

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "document": self.document, "name": self.name,
                "causes": list(self.causes)}


@dataclass(frozen=True)
class Change:
    scenario: str  # "" for a probe of --probes
    probe: str  # the cell id or probe id
    before: Expectation
    after: Expectation

    @property
    def fields(self) -> list[str]:
        return [f for f in COMPARED if getattr(self.before, f) != getattr(self.after, f)]

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "probe": self.probe, "changed": self.fields,
                "before": self.before.to_json(), "after": self.after.to_json()}


@dataclass
class StaticReport:
    from_version: str
    to_version: str
    schema_release: str  # the release whose CRD schema judged the documents
    documents: int = 0
    probes: int = 0
    invalid: list[Invalid] = field(default_factory=list)
    findings: list[NoteFinding] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    not_modelled: list[str] = field(default_factory=list)  # documents the model cannot read
    notes: list[str] = field(default_factory=list)  # what the check did not do, and why
    schema_sources: dict[str, dict[str, str]] = field(default_factory=dict)  # kind -> source

    @property
    def blocking(self) -> bool:
        return bool(self.invalid) or any(f.severity == "blocking" for f in self.findings)

    @property
    def exit_code(self) -> int:
        """1 when a document blocks, a behaviour changes or a probe's outcome changes;
        deprecations alone change nothing yet (0)."""
        changed = any(f.severity == "changed" for f in self.findings) or self.changes
        return EXIT_CHANGES if self.blocking or changed else EXIT_SAME

    def changed_cells(self) -> set[tuple[str, str]]:
        return {(c.scenario, c.probe) for c in self.changes}

    def to_json(self) -> dict[str, Any]:
        counts = {s: sum(f.severity == s for f in self.findings) for s in SEVERITIES}
        return {"from": self.from_version, "to": self.to_version,
                "schema_release": self.schema_release,
                "schema_sources": self.schema_sources, "documents": self.documents,
                "probes": self.probes, "exit_code": self.exit_code,
                "summary": {"invalid": len(self.invalid), **counts,
                            "changed_probes": len(self.changes)},
                "invalid": [i.to_json() for i in self.invalid],
                "findings": [f.to_json() for f in self.findings],
                "changes": [c.to_json() for c in self.changes],
                "not_modelled": self.not_modelled, "notes": self.notes}


@dataclass(frozen=True)
class ProbeGroup:
    """Probes explained against one set of policy paths (a scenario, or the user's)."""

    name: str
    paths: tuple[Path, ...]
    probes: tuple[Probe, ...]


def versions_of(old: str, new: str) -> tuple[tuple[int, int], tuple[int, int]]:
    try:
        a, b = parse_version(old), parse_version(new)
    except ValueError as exc:
        raise CheckInputError(f"--from/--to: {exc}") from None
    if b < a:
        raise CheckInputError(f"--to {new} is older than --from {old}: upgrade-check predicts "
                              "upgrades (a rollback undoes them)")
    return a, b


def schema_release(version: str) -> str:
    """The release whose CRD data judges `version`: itself when the project has its data,
    else the one release of the same minor it has (the CRD does not change in a patch)."""
    from clusters.emulated.api import versions

    known = versions()
    if version.lstrip("v") in known:
        return version.lstrip("v")
    minor = parse_version(version)
    same = [v for v in known if parse_version(v) == minor]
    if not same:
        raise CheckInputError(f"no CRD schema data for Cilium {version} (have: "
                              f"{', '.join(known)})")
    return same[-1]


def schema_sources(release: str) -> dict[str, dict[str, str]]:
    """Where each kind's CRD data came from (repository, commit, path; crds/extract.py)."""
    from clusters.emulated.api import crds

    return {kind: dict(crd.source) for kind, crd in sorted(crds(release).items())}


def scenario_groups() -> list[ProbeGroup]:
    """Every scenario of conformance/scenarios: its policy directory and its cells as probes
    (the probe id is the cell id, so a change names the cell)."""
    import conformance.scenarios as package

    groups = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if not info.name.startswith("test_"):
            continue
        scenario = getattr(importlib.import_module(f"{package.__name__}.{info.name}"),
                           "SCENARIO", None)
        if scenario is None:  # a test module that is not a scenario of cells
            continue
        groups.append(ProbeGroup(scenario.name, (scenario.policy_dir,),
                                 tuple(c.model_probe(c.id) for c in scenario.cells)))
    return groups


def check(groups: Sequence[ProbeGroup], old: str, new: str) -> StaticReport:
    """The static check of `groups` for Cilium `old` -> `new`. PolicyError-free: documents
    that cannot be read at all raise CheckInputError naming them."""
    a, b = versions_of(old, new)
    release = schema_release(new)
    report = StaticReport(old, new, release, schema_sources=schema_sources(release))
    seen: dict[Path, list[Document]] = {}
    for group in groups:
        docs: list[Document] = []
        for path in group.paths:
            if path not in seen:
                seen[path] = _read(path)
                _judge(seen[path], report, a, b, release)
            docs.extend(seen[path])
        policies = _policies(docs, report)
        report.probes += len(group.probes)
        for probe in group.probes:
            before = evaluate(policies, probe, old)
            after = evaluate(policies, probe, new)
            if any(getattr(before, f) != getattr(after, f) for f in COMPARED):
                report.changes.append(Change(group.name, probe.id, before, after))
    report.findings.sort(key=lambda f: (SEVERITIES.index(f.severity), f.file, f.document,
                                        f.path))
    return report


def _read(path: Path) -> list[Document]:
    docs, problems = load_documents([path])
    if problems:
        p = problems[0]
        where = f"{p.file}" + (f": document {p.document}" if p.document else "")
        raise CheckInputError(f"--policies: {where}: {p.message}"
                              + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    return docs


def _judge(docs: list[Document], report: StaticReport, a: tuple[int, int],
           b: tuple[int, int], release: str) -> None:
    from clusters.emulated.api import UnknownKind, validate

    for doc in docs:
        report.documents += 1
        data = doc.data
        name = str(((data.get("metadata") or {}) if isinstance(data, dict) else {}).get(
            "name", "?"))
        try:
            causes = validate(data, release) if isinstance(data, dict) else []
        except UnknownKind:
            causes = []  # not a network policy the CRD data covers: nothing to admit
        if causes:
            report.invalid.append(Invalid(doc.file, doc.index, name,
                                          tuple(c.error() for c in causes)))
        report.findings.extend(findings(data, doc.file, doc.index, doc.prefix, a, b))


def _policies(docs: list[Document], report: StaticReport) -> PolicySet:
    """The documents the model can compile; the others are named in the report and left out
    of both versions' evaluation alike (e.g. Kafka rules, which the model does not read)."""
    compiled = []
    for doc in docs:
        found, problems = parse_document(doc)
        compiled.extend(found)
        if problems:
            p = problems[0]
            text = f"{p.file}: document {p.document}: {p.path}: {p.message}"
            if text not in report.not_modelled:
                report.not_modelled.append(text)
    return PolicySet(compiled)


def generated_probes(paths: Sequence[Path], old: str, new: str,
                     taken: set[str] | None = None) -> tuple[list[Probe], str]:
    """Probes the generator (conformance/generate) makes from the policies' rules at both
    releases (a `**.` rule draws other names at each), deduplicated by what they send; ids
    prefixed `gen:`. ([], why) when the model cannot read the policies."""
    from conformance.generate import generate
    from conformance.model import PolicyError

    seen = set(taken or ())
    out: list[Probe] = []
    keys: set[str] = set()
    for version in (old, new):
        try:
            cells = generate(list(paths), cilium_version=version).cells
        except PolicyError as exc:
            return [], f"no generated probes: the model cannot read the policies ({exc})"
        for cell in cells:
            if cell.key() in keys:
                continue
            keys.add(cell.key())
            pid = f"gen:{cell.probe.id}"
            pid = pid if pid not in seen else f"{pid}@{version}"
            seen.add(pid)
            out.append(replace(cell.probe, id=pid))
    return out, f"{len(out)} probe(s) generated from the policies' rules (conformance/generate)"
