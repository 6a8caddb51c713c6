"""upgrade-report.json and the readable summary of an upgrade run."""

from __future__ import annotations

import json
from pathlib import Path

from conformance.upgrade.run import ROLLBACK, StepReport, UpgradeReport

REPORT_JSON = "upgrade-report.json"
SUMMARY_TXT = "upgrade-summary.txt"


def _timeline(step: StepReport) -> list[str]:
    if step.watch is None:
        return ["  (no upgrade: the step stopped before it)"]
    out = []
    w = step.watch
    for win in w.windows:
        out.append(f"  {win.node}: agent down +{win.start:.1f}s .. +{win.end:.1f}s")
        for path, seen in sorted(w.during.get(win.node, {}).items()):
            counts = ", ".join(f"{n} {o}" for o, n in sorted(seen.items()))
            out.append(f"    during its restart {path}: {counts}")
    for node, gaps in sorted(w.gaps.items()):
        for path, gap in sorted(gaps.items()):
            out.append(f"  {node}: {path} longest gap {gap:.1f}s")
    for st in w.streams:
        fate = "survived" if st.reset_at is None else f"reset at +{st.reset_at:.1f}s"
        out.append(f"  {st.node}: established {st.name} {fate}")
    return out


def summary(r: UpgradeReport) -> str:
    head = "PASSED" if r.passed else "FAILED"
    plan = " -> ".join([r.plan[0][0], *(to for _, to in r.plan)]) if r.plan else r.old
    out = [f"upgrade {head}: Cilium {plan} on the {r.cluster} cluster"
           + (f" (fault {r.fault})" if r.fault else "")]
    for step in r.steps:
        s = step.static
        out.append("")
        out.append(f"step {step.old} -> {step.new}: static check: {len(s.invalid)} invalid, "
                   + ", ".join(f"{sum(f.severity == k for f in s.findings)} {k}"
                               for k in ("blocking", "changed", "deprecated"))
                   + f", {len(s.changes)} predicted cell change(s)")
        for f in s.findings:
            out.append(f"  finding {f.severity} [{f.note}] {f.file}: {f.path}")
        out.append(" timeline per node:")
        out.extend(_timeline(step))
        out.append(f" changed cells ({len(step.changed)}):")
        for c in step.changed:
            tag = "predicted" if c["predicted"] else "NOT PREDICTED"
            out.append(f"  [{tag}] {c['scenario']}: {c['cell']}: "
                       f"{'/'.join(filter(None, c['before']))} -> "
                       f"{'/'.join(filter(None, c['after']))}")
        for failure in step.failures:
            out.append(f" FAIL {failure}")
    if not r.passed:
        out.append("")
        out.append(f"The cluster was left as it is. To roll back: {ROLLBACK} <REVISION> "
                   "(`helm history cilium --namespace kube-system` lists the revisions).")
    return "\n".join(out) + "\n"


def write(r: UpgradeReport, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    data, text = directory / REPORT_JSON, directory / SUMMARY_TXT
    data.write_text(json.dumps(r.to_json(), indent=2) + "\n", encoding="utf-8")
    text.write_text(summary(r), encoding="utf-8")
    return data, text
