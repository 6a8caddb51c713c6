"""Generate the truth table of a team's own policies: cells per rule, verdicts by the model.

Pure: imports the policy model and nothing of the harness or clusters. The same input and
seed give the same cells, in the same order, with the same ids.

```python
from conformance.generate import generate
result = generate(["team/policies"], seed=0, cilium_version="1.20")
result.cells     # GenCell: probe, the rule it comes from, kind/step/tags, model expectation
result.skipped   # rules (or parts) that got no cell, with the reason
```
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from conformance.generate.cells import GenCell, RuleRef, Skipped, describe_probe, probe_json
from conformance.generate.notmodelled import Blocker
from conformance.generate.rules import Context, RuleCells
from conformance.model import DEFAULT_VERSION, PolicySet, evaluate, load_policies
from conformance.model.loader import load_documents
from conformance.model.version import multi_label_wildcard, parse_version

__all__ = ["GenCell", "Generation", "RuleRef", "Skipped", "describe_probe", "generate",
           "probe_json"]
DEFAULT_HOME = "default"  # namespace of peers when no namespaced policy names one


@dataclass(frozen=True)
class Generation:
    cells: tuple[GenCell, ...]
    skipped: tuple[Skipped, ...]
    policies: PolicySet
    version: str


def generate(paths: Sequence[str | Path], *, seed: int = 0,
             cilium_version: str = DEFAULT_VERSION, mutual_auth: bool = True) -> Generation:
    """Cells for every rule of the policies under `paths`; PolicyError on bad input (every
    problem, each naming file, document and field), before anything else happens."""
    version = parse_version(cilium_version)
    policies = load_policies(paths)  # PolicyError: every problem, before anything else
    docs, _ = load_documents(paths)  # the raw documents, for lint's not-modelled findings
    homes = sorted({p.ref.namespace for p in policies if p.ref.namespace})
    ctx = Context(seed=seed, multi_label=multi_label_wildcard(version),
                  home=homes[0] if homes else DEFAULT_HOME,
                  blocked=Blocker(docs, version).reason)
    collect = RuleCells(ctx)
    for policy in policies:
        collect.policy(policy)
    cells = _dedupe(collect.cells)
    evaluated = tuple(replace(c, expect=evaluate(policies, c.probe, cilium_version,
                                                 mutual_auth=mutual_auth)) for c in cells)
    return Generation(evaluated, tuple(collect.skipped), policies, cilium_version)


def _dedupe(cells: list[GenCell]) -> list[GenCell]:
    """First cell of each distinct probe (it names the first rule that made it), with ids
    `<namespace>.<policy>.<rule>.<n>`."""
    seen: set[str] = set()
    counters: dict[str, int] = {}
    out: list[GenCell] = []
    for cell in cells:
        key = cell.key()
        if key in seen:
            continue
        seen.add(key)
        base = _base_id(cell.rule)
        n = counters.get(base, 0)
        counters[base] = n + 1
        out.append(replace(cell, probe=replace(cell.probe, id=f"{base}.{n}")))
    return out


def _base_id(rule: RuleRef) -> str:
    ref = rule.policy
    spec = "" if ref.spec_path == "spec" else "." + ref.spec_path.replace("[", "").rstrip("]")
    field = rule.path.rsplit(".", 1)[-1].replace("[", "").rstrip("]")
    return f"{ref.namespace or 'cluster'}.{ref.name}{spec}.{field}"
