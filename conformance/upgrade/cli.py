"""`python -m conformance upgrade-check`: the static pre-upgrade check from the command line.

Exit codes (conformance/cli.py's): 0 nothing changes, 1 something changes or blocks, 2 bad
input (one paragraph naming the flag or file).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, TextIO

from conformance.upgrade.render import render_table
from conformance.upgrade.static import CheckInputError, ProbeGroup, check, scenario_groups

NO_GENERATION = ("no probes are generated: the project has no probe generator yet, so only "
                 "the scenarios' cells and --probes are explained")


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    up = sub.add_parser("upgrade-check", help="what a Cilium upgrade changes for the policies "
                                              "(schema, version-aware lint, model diff)")
    up.add_argument("--from", dest="from_version", required=True, metavar="X.Y.Z")
    up.add_argument("--to", dest="to_version", required=True, metavar="X.Y.Z")
    up.add_argument("--policies", action="append", metavar="DIR",
                    help="policy files or directories (repeatable); default: the suite's "
                         "scenarios with their cells")
    up.add_argument("--probes", metavar="FILE.jsonl",
                    help="probes (one JSON object per line) explained under both versions "
                         "against --policies")
    up.add_argument("--format", choices=("table", "json"), default="table")


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Raises CheckInputError (and the CLI's BadInput from read_probes) on bad input."""
    from conformance.cli import read_probes

    if args.probes and not args.policies:
        raise CheckInputError("--probes needs --policies: the probes are explained against "
                              "the policies given")
    if args.policies:
        probes = tuple(read_probes(args.probes)) if args.probes else ()
        groups = [ProbeGroup("", tuple(Path(p) for p in args.policies), probes)]
    else:
        groups = scenario_groups()
    report = check(groups, args.from_version, args.to_version)
    report.notes.append(NO_GENERATION)
    if args.format == "json":
        out.write(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        out.write(render_table(report))
    return report.exit_code
