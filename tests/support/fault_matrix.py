"""The fault matrix's view of a suite run: JUnit outcomes, and every scenario cell's
capability tags and expected outcome (from the scenario modules themselves, so a new
scenario is in the index without being named here)."""

from __future__ import annotations

import importlib
import pkgutil
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from conformance.harness.spec import DEFAULT_MODEL_VERSION, Scenario
from conformance.vocabulary import capabilities as cap
from conformance.vocabulary.capabilities import Select as TagSelect

OWN_POLICIES = "test_own_policies"  # cells from --policies, not a fixed scenario


@dataclass(frozen=True)
class Outcome:
    module: str
    cell: str
    status: str  # passed | failed | skipped
    message: str


def parse_junit(path: Path) -> list[Outcome]:
    out = []
    for case in ET.parse(path).iter("testcase"):
        name = case.get("name", "")
        cell = name[name.find("[") + 1:-1] if "[" in name else name
        mod = case.get("classname", "").rsplit(".", 1)[-1]
        status, message = "passed", ""
        for tag in ("failure", "error"):
            node = case.find(tag)
            if node is not None:
                status = "failed"
                message = (node.get("message") or "") + (node.text or "")
        if case.find("skipped") is not None:
            status = "skipped"
        out.append(Outcome(mod, cell, status, message))
    return out


@dataclass(frozen=True)
class TaggedCell:
    tags: frozenset[str]
    outcome: str  # capabilities.outcome() of the written expectation
    disruptive: bool


def scenarios() -> dict[str, Scenario]:
    """Every scenario module of conformance/scenarios by module name."""
    import conformance.scenarios as package

    out = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("test_") and info.name != OWN_POLICIES:
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            out[info.name] = module.SCENARIO
    return out


def tag_cells(scenario: Scenario) -> dict[str, TaggedCell]:
    scenario.params()  # the collection-time checks, tags included
    common = scenario.scenario_tags()
    return {c.id: TaggedCell(scenario.tags_of(c, DEFAULT_MODEL_VERSION, common),
                             cap.outcome(c.expect.verdict, c.expect.drop_reason),
                             scenario.disruptive) for c in scenario.cells}


@cache
def scenario_cells() -> dict[tuple[str, str], TaggedCell]:
    """(module, cell id) -> the cell's tags and expected outcome, for every scenario."""
    return {(module, cell_id): tagged for module, scenario in scenarios().items()
            for cell_id, tagged in tag_cells(scenario).items()}


def selected(clauses: Iterable[TagSelect], cell: TaggedCell) -> bool:
    return cap.matches_any(clauses, cell.tags, cell.outcome)


@cache
def own_cells_tagged(paths: tuple[str, ...]) -> dict[str, TaggedCell]:
    """Cell id -> tags and expected outcome of the cells `--policies paths` generates (as
    the run does: the same generator, seed and shards)."""
    from conformance.harness import own_cells

    generated = own_cells.load_cells(list(paths), None, DEFAULT_MODEL_VERSION)
    return {cell_id: tagged
            for shard in own_cells.shards(generated, list(paths), own_cells.shard_count())
            for cell_id, tagged in tag_cells(shard).items()}
