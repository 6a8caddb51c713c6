"""`python -m conformance generate`: the truth table of a team's policies, as probes.

The output is `explain --probes` JSONL (one cell per line, plus the rule it comes from, its
kind, step, tags and the model's expectation), or a table for a person. Rules that get no
cell are listed on stderr (and in the table) with the reason. The file is written whole or
not at all.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from conformance.generate import Generation, generate
from conformance.generate.cells import describe_probe
from conformance.model import DEFAULT_VERSION
from conformance.vocabulary.catalogue import load_catalogue


class BadInput(Exception):
    """Input the CLI cannot use; the message is shown as is. (Defined here, the lowest of
    the CLI modules, so that conformance/cli.py imports it instead of the other way round.)"""


def add_parser(sub: Any) -> None:
    """Register `generate` on the CLI's subparsers."""
    gen = sub.add_parser("generate", help="generate probe cells from policies; verdicts "
                                          "computed by the model")
    gen.add_argument("--policies", nargs="+", required=True, metavar="PATH",
                     help="policy YAML files or directories (one policy set)")
    gen.add_argument("--out", default="-", metavar="FILE",
                     help="where to write the cells ('-', the default: stdout)")
    gen.add_argument("--format", choices=("jsonl", "table"), default="jsonl")
    gen.add_argument("--seed", type=int, default=0,
                     help="seed of the strings drawn from regexes and patterns (default 0)")
    gen.add_argument("--cilium-version", default=DEFAULT_VERSION, metavar="X.Y",
                     help=load_catalogue().line_help())
    gen.add_argument("--no-mutual-auth", action="store_true",
                     help="the cluster runs without mutual authentication (SPIRE)")


def run(args: argparse.Namespace, out: TextIO) -> int:
    result = generate(args.policies, seed=args.seed, cilium_version=args.cilium_version,
                      mutual_auth=not args.no_mutual_auth)
    text = render_jsonl(result) if args.format == "jsonl" else render_table(result)
    if args.out == "-":
        out.write(text)
    else:
        write_whole(Path(args.out), text)
    for s in result.skipped:
        sys.stderr.write(f"not generated: {s}\n")
    sys.stderr.write(summary(result) + "\n")
    return 0


def write_whole(path: Path, text: str) -> None:
    """Write through a temporary file in the same directory and rename: a reader never
    sees half a file, and a failure leaves no file behind."""
    if path.is_dir():
        raise BadInput(f"--out {path}: is a directory")
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent or Path("."), prefix=f".{path.name}.")
    except OSError as exc:
        raise BadInput(f"--out {path}: cannot write there: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise BadInput(f"--out {path}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def render_jsonl(result: Generation) -> str:
    return "".join(json.dumps(c.to_json()) + "\n" for c in result.cells)


def summary(result: Generation) -> str:
    verdicts = Counter(c.expect.verdict for c in result.cells if c.expect is not None)
    kinds = Counter(c.kind for c in result.cells)
    return (f"{len(result.cells)} cell(s) from {len(result.policies)} policy spec(s) "
            f"(Cilium {result.version}): "
            + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) + "; verdicts "
            + (", ".join(f"{n} {v}" for v, n in sorted(verdicts.items())) or "none")
            + f"; {len(result.skipped)} rule part(s) not generated")


def render_table(result: Generation) -> str:
    lines: list[str] = []
    current = ""
    for c in result.cells:
        if c.rule.policy.name != current:
            current = c.rule.policy.name
            lines.append(f"== {c.rule.policy} ({c.rule.policy.file}, document "
                         f"{c.rule.policy.document})")
        exp = c.expect
        verdict = "?" if exp is None else exp.verdict + (
            f" {exp.drop_reason} {exp.direction}" if exp.drop_reason else "")
        what = c.kind + (f"/{c.step}" if c.step else "")
        lines.append(f"  {c.probe.id}  {what}  {c.rule.label()}")
        lines.append(f"      {describe_probe(c.probe)}  =>  {verdict}")
        if exp is not None:
            lines.extend(textwrap.wrap(exp.explanation, width=100, initial_indent="      ",
                                       subsequent_indent="      "))
    if result.skipped:
        lines.append("== not generated")
        lines.extend(f"  {s}" for s in result.skipped)
    lines.append(summary(result))
    return "\n".join(lines) + "\n"
