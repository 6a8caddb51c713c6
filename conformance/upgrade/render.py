"""The static check as a readable table (the JSON form is StaticReport.to_json)."""

from __future__ import annotations

import os
import textwrap

from conformance.upgrade.static import StaticReport

WIDTH = 100


def _short(path: str) -> str:
    rel = os.path.relpath(path) if os.path.isabs(path) else path
    return path if rel.startswith("..") else rel


def render_table(r: StaticReport) -> str:
    out = [f"upgrade-check: Cilium {r.from_version} -> {r.to_version} "
           f"({r.documents} document(s), {r.probes} probe(s); CRD schema of {r.schema_release})"]
    for kind, src in r.schema_sources.items():
        out.append(f"  {kind} schema: {src.get('repo')}@{src.get('commit', '')[:10]} "
                   f"{src.get('path')}")
    out.append("")
    out.append(f"INVALID under {r.schema_release} ({len(r.invalid)})")
    for inv in r.invalid:
        out.append(f"  {_short(inv.file)}: document {inv.document} ({inv.name})")
        out.extend(f"    {cause}" for cause in inv.causes)
    out.append("")
    out.append(f"FINDINGS ({len(r.findings)})")
    for f in r.findings:
        out.append(f"  {f.severity:10} [{f.note}] {_short(f.file)}: document {f.document}: "
                   f"{f.path}")
        out.extend(textwrap.wrap(f.text, WIDTH, initial_indent="      ",
                                 subsequent_indent="      "))
        out.extend(textwrap.wrap(f"upstream: {f.source}", WIDTH, initial_indent="      ",
                                 subsequent_indent="        "))
    out.append("")
    out.append(f"CHANGED PROBES ({len(r.changes)} of {r.probes})")
    for c in r.changes:
        where = f"{c.scenario}: " if c.scenario else ""
        out.append(f"  {where}{c.probe}  [{', '.join(c.fields)}]")
        for label, exp in ((r.from_version, c.before), (r.to_version, c.after)):
            head = f"{exp.verdict} {exp.drop_reason or ''} client={exp.client}".replace("  ", " ")
            out.extend(textwrap.wrap(f"{label}: {head} — {exp.explanation}", WIDTH,
                                     initial_indent="    ", subsequent_indent="      "))
    for text in r.not_modelled:
        out.append(f"not evaluated by the model: {text}")
    for text in r.notes:
        out.append(f"note: {text}")
    verdict = {0: "nothing changes", 1: "changes or blocking findings"}[r.exit_code]
    out.append(f"result: {verdict} (exit {r.exit_code})")
    return "\n".join(out) + "\n"
